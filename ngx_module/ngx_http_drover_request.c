
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: the FastCGI request (5.1-5.3): FCGI_BEGIN_REQUEST, the params
 * and the request body framed into FCGI_STDIN records, buffered or not.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_module.h"
#include "ngx_http_drover_request.h"
#include "ngx_http_drover_pipeline.h"


static ngx_int_t ngx_http_drover_frame_body(ngx_http_request_t *r,
    ngx_chain_t *cl, ngx_chain_t *body);
static off_t ngx_http_drover_body_buf_size(ngx_buf_t *b);
static ngx_uint_t ngx_http_drover_body_records(ngx_chain_t *body);
static ngx_int_t ngx_http_drover_body_output_filter(void *data,
    ngx_chain_t *in);
static ngx_chain_t *ngx_http_drover_get_frame(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx);


/*
 * The request head is one buffer: FCGI_BEGIN_REQUEST, the FCGI_PARAMS
 * stream and its empty record (5.2), then the header of the first
 * FCGI_STDIN record.  A buffered body follows as its own buffers, framed
 * by small buffers that hold a record's padding and the next header.
 * The first pass computes every value and length, the second only copies.
 */

ngx_int_t
ngx_http_drover_create_request(ngx_http_request_t *r)
{
    size_t                       len, size;
    ngx_int_t                    rc;
    ngx_str_t                    value;
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl, *body;
    ngx_array_t                 *pairs;
    ngx_keyval_t                *pair;
#if (NGX_DEBUG)
    ngx_uint_t                   i;
#endif
    ngx_http_upstream_t         *u;
    ngx_http_drover_ctx_t       *ctx;
    ngx_http_drover_loc_conf_t  *dlcf;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);
    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_drover_module);

    if (ngx_http_drover_params_eval(r, &dlcf->params, &pairs, &len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * A request the dispatcher may take back (drover_pipeline): droverd
     * reads it whole and runs it only if nginx has not shut the
     * connection's sending side meanwhile (ngx_http_drover_pipeline.c)
     */

    if (ctx->dispatch.limit > 1) {
        pair = ngx_array_push(pairs);
        if (pair == NULL) {
            return NGX_ERROR;
        }

        ngx_str_set(&pair->key, "DROVER_WITHDRAWABLE");
        ngx_str_set(&pair->value, "1");

        len += ngx_http_drover_fcgi_pair_size(pair->key.len,
                                              pair->value.len);

        /*
         * The earliest time nginx may take it back: droverd runs a request
         * it read whole before then without looking at the connection
         */

        rc = ngx_http_drover_dispatch_withdraw_after(r, &ctx->dispatch,
                                                     &value);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            pair = ngx_array_push(pairs);
            if (pair == NULL) {
                return NGX_ERROR;
            }

            ngx_str_set(&pair->key, "DROVER_WITHDRAW_AFTER");
            pair->value = value;

            len += ngx_http_drover_fcgi_pair_size(pair->key.len,
                                                  pair->value.len);
        }
    }

    size = NGX_HTTP_DROVER_FCGI_BEGIN_LEN
           + ngx_http_drover_fcgi_stream_size(len)
           + 2 * NGX_HTTP_DROVER_FCGI_HEADER_LEN;

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_ERROR;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

#if (NGX_DEBUG)
    pair = pairs->elts;

    for (i = 0; i < pairs->nelts; i++) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "drover param: \"%V: %V\"",
                       &pair[i].key, &pair[i].value);
    }
#endif

    b->last = ngx_http_drover_fcgi_write_begin(b->last, ctx->keep_conn);
    b->last = ngx_http_drover_fcgi_write_params(b->last, pairs, len);
    b->last = ngx_http_drover_fcgi_write_header(b->last,
                                                NGX_HTTP_DROVER_FCGI_PARAMS,
                                                0, 0);

    body = u->request_bufs;
    u->request_bufs = cl;

    if (r->request_body_no_buffering) {

        /* the body is framed as it arrives */

        u->output.output_filter = ngx_http_drover_body_output_filter;
        u->output.filter_ctx = r;

        return NGX_OK;
    }

    return ngx_http_drover_frame_body(r, cl, body);
}


/*
 * A buffered body: each record's content is a slice of a body buffer,
 * in memory or in the temporary file, never copied.  "start" of every
 * buffer is its first byte, so that ngx_http_upstream_reinit() can send
 * the request again.
 */

static ngx_int_t
ngx_http_drover_frame_body(ngx_http_request_t *r, ngx_chain_t *cl,
    ngx_chain_t *body)
{
    off_t         file_pos;
    u_char       *frames, *pos;
    size_t        n, padding;
    ngx_buf_t    *b, *frame;
    ngx_uint_t    records, next;

    records = ngx_http_drover_body_records(body);

    frames = NULL;

    if (records) {
        frames = ngx_pnalloc(r->pool,
                             records * 2 * NGX_HTTP_DROVER_FCGI_HEADER_LEN);
        if (frames == NULL) {
            return NGX_ERROR;
        }
    }

    frame = cl->buf;
    padding = 0;

    for ( /* void */ ; body; body = body->next) {

        /*
         * an empty buffer gets no record: it has no frame room counted in
         * ngx_http_drover_body_records(), and an empty FCGI_STDIN record
         * would end the stream early (5.3)
         */

        if (ngx_buf_special(body->buf)
            || ngx_http_drover_body_buf_size(body->buf) == 0)
        {
            continue;
        }

        file_pos = body->buf->file_pos;
        pos = body->buf->pos;

        do {
            b = ngx_alloc_buf(r->pool);
            if (b == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(b, body->buf, sizeof(ngx_buf_t));

            b->last_buf = 0;
            b->last_in_chain = 0;

            if (body->buf->in_file) {
                n = (size_t) ngx_min(body->buf->file_last - file_pos,
                                     NGX_HTTP_DROVER_FCGI_RECORD_MAX);
                b->file_pos = file_pos;
                b->file_last = file_pos + n;
                b->temporary = 0;
                b->memory = 0;
                b->mmap = 0;
                b->start = NULL;
                b->pos = NULL;
                b->last = NULL;
                file_pos += n;
                next = (file_pos == body->buf->file_last);

            } else {
                n = ngx_min((size_t) (body->buf->last - pos),
                            NGX_HTTP_DROVER_FCGI_RECORD_MAX);
                b->start = pos;
                b->pos = pos;
                b->last = pos + n;
                pos += n;
                next = (pos == body->buf->last);
            }

            /* the previous record's padding, this record's header */

            ngx_memzero(frame->last, padding);
            frame->last += padding;

            padding = ngx_http_drover_fcgi_padding(n);
            frame->last = ngx_http_drover_fcgi_write_header(frame->last,
                                                 NGX_HTTP_DROVER_FCGI_STDIN,
                                                 n, padding);

            cl->next = ngx_alloc_chain_link(r->pool);
            if (cl->next == NULL) {
                return NGX_ERROR;
            }

            cl = cl->next;
            cl->buf = b;

            frame = ngx_calloc_buf(r->pool);
            if (frame == NULL) {
                return NGX_ERROR;
            }

            frame->temporary = 1;
            frame->start = frames;
            frame->pos = frames;
            frame->last = frames;
            frame->end = frames + 2 * NGX_HTTP_DROVER_FCGI_HEADER_LEN;

            frames = frame->end;

            cl->next = ngx_alloc_chain_link(r->pool);
            if (cl->next == NULL) {
                return NGX_ERROR;
            }

            cl = cl->next;
            cl->buf = frame;

        } while (!next);
    }

    /* 5.3: the empty record that ends FCGI_STDIN */

    ngx_memzero(frame->last, padding);
    frame->last += padding;

    frame->last = ngx_http_drover_fcgi_write_header(frame->last,
                                                    NGX_HTTP_DROVER_FCGI_STDIN,
                                                    0, 0);
    cl->next = NULL;

    return NGX_OK;
}


/*
 * The bytes of a body buffer as frame_body sends them: from the file when
 * it is in one.  Both passes use this, so the frames counted are the
 * frames written.
 */

static off_t
ngx_http_drover_body_buf_size(ngx_buf_t *b)
{
    return b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
}


static ngx_uint_t
ngx_http_drover_body_records(ngx_chain_t *body)
{
    off_t       size;
    ngx_uint_t  records;

    records = 0;

    for ( /* void */ ; body; body = body->next) {

        if (ngx_buf_special(body->buf)) {
            continue;
        }

        size = ngx_http_drover_body_buf_size(body->buf);

        records += (size + NGX_HTTP_DROVER_FCGI_RECORD_MAX - 1)
                   / NGX_HTTP_DROVER_FCGI_RECORD_MAX;
    }

    return records;
}


ngx_int_t
ngx_http_drover_reinit_request(ngx_http_request_t *r)
{
    ngx_http_drover_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    if (ctx == NULL) {
        return NGX_OK;
    }

    ngx_memzero(&ctx->parser, sizeof(ngx_http_drover_fcgi_parser_t));

    ctx->text_pos = NULL;
    ctx->text_last = NULL;
    ctx->rest = -1;
    ctx->stderr_logged = 0;
    ctx->last_byte_held = 0;
    ctx->free = NULL;
    ctx->busy = NULL;
    ctx->head_sent = 0;
    ctx->failed = 0;
    ctx->abort_sent = 0;

    r->state = 0;

    return NGX_OK;
}


/*
 * An unbuffered body: the first buffer ever passed is the request head;
 * every other one is sent as FCGI_STDIN records whose content points into
 * it (b->shadow), and is marked consumed once sent, which lets the body
 * reader reuse it.  last_buf adds the empty record that ends the stream.
 */

static ngx_int_t
ngx_http_drover_body_output_filter(void *data, ngx_chain_t *in)
{
    ngx_http_request_t  *r = data;

    u_char                 *pos, *start, *end;
    size_t                  n, size, padding;
    ngx_int_t               rc;
    ngx_buf_t              *b;
    ngx_uint_t              last;
    ngx_chain_t            *out, *cl, **ll;
    ngx_http_drover_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    out = NULL;
    ll = &out;

    if (in && !ctx->head_sent) {
        ctx->head_sent = 1;

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = in->buf;
        *ll = cl;
        ll = &cl->next;

        in = in->next;
    }

    last = 0;

    for ( /* void */ ; in; in = in->next) {

        if (in->buf->last_buf) {
            last = 1;
        }

        if (ngx_buf_special(in->buf)) {
            continue;
        }

        if (!ngx_buf_in_memory(in->buf)) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "drover: unbuffered request body not in memory");
            return NGX_ERROR;
        }

        pos = in->buf->pos;
        size = in->buf->last - pos;

        while (size) {
            n = ngx_min(size, NGX_HTTP_DROVER_FCGI_RECORD_MAX);
            padding = ngx_http_drover_fcgi_padding(n);

            cl = ngx_http_drover_get_frame(r, ctx);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            cl->buf->last = ngx_http_drover_fcgi_write_header(cl->buf->last,
                                                 NGX_HTTP_DROVER_FCGI_STDIN,
                                                 n, padding);
            *ll = cl;
            ll = &cl->next;

            cl = ngx_chain_get_free_buf(r->pool, &ctx->free);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            /* keep the frame space the buffer may carry for a later use */

            b = cl->buf;
            start = b->start;
            end = b->end;

            ngx_memzero(b, sizeof(ngx_buf_t));

            b->start = start;
            b->end = end;
            b->pos = pos;
            b->last = pos + n;
            b->memory = 1;
            b->tag = (ngx_buf_tag_t) &ngx_http_drover_body_output_filter;
            b->shadow = in->buf;
            b->last_shadow = (n == size);

            *ll = cl;
            ll = &cl->next;

            if (padding) {
                cl = ngx_http_drover_get_frame(r, ctx);
                if (cl == NULL) {
                    return NGX_ERROR;
                }

                ngx_memzero(cl->buf->last, padding);
                cl->buf->last += padding;

                *ll = cl;
                ll = &cl->next;
            }

            pos += n;
            size -= n;
        }
    }

    if (last) {

        /* 5.3: the empty record that ends FCGI_STDIN */

        cl = ngx_http_drover_get_frame(r, ctx);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf->last = ngx_http_drover_fcgi_write_header(cl->buf->last,
                                                    NGX_HTTP_DROVER_FCGI_STDIN,
                                                    0, 0);
        *ll = cl;
        ll = &cl->next;
    }

    *ll = NULL;

    rc = ngx_chain_writer(&r->upstream->writer, out);

    ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &out,
                          (ngx_buf_tag_t) &ngx_http_drover_body_output_filter);

    for (cl = ctx->free; cl; cl = cl->next) {
        b = cl->buf;

        if (b->shadow) {
            if (b->last_shadow) {
                b->shadow->pos = b->shadow->last;
            }

            b->shadow = NULL;
        }
    }

    return rc;
}


static ngx_chain_t *
ngx_http_drover_get_frame(ngx_http_request_t *r, ngx_http_drover_ctx_t *ctx)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    cl = ngx_chain_get_free_buf(r->pool, &ctx->free);
    if (cl == NULL) {
        return NULL;
    }

    b = cl->buf;

    if (b->start == NULL) {
        b->start = ngx_palloc(r->pool, NGX_HTTP_DROVER_FCGI_HEADER_LEN);
        if (b->start == NULL) {
            return NULL;
        }

        b->end = b->start + NGX_HTTP_DROVER_FCGI_HEADER_LEN;
    }

    b->pos = b->start;
    b->last = b->start;
    b->temporary = 1;
    b->memory = 0;
    b->shadow = NULL;
    b->last_shadow = 0;
    b->tag = (ngx_buf_tag_t) &ngx_http_drover_body_output_filter;

    return cl;
}
