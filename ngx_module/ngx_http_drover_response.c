
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: the FastCGI response: the CGI header read out of FCGI_STDOUT,
 * the body filters (buffered or not) up to FCGI_END_REQUEST (5.5), and
 * FCGI_STDERR logged.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_module.h"
#include "ngx_http_drover_response.h"


/* at most this much of an application's FCGI_STDERR is logged per request */
#define NGX_HTTP_DROVER_STDERR_MAX  65536


static ngx_int_t ngx_http_drover_parse_header_lines(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx);
static ngx_int_t ngx_http_drover_add_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_drover_header_done(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx);
static ngx_int_t ngx_http_drover_check_preread(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx);

static void ngx_http_drover_pipe_add(ngx_event_pipe_t *p, ngx_chain_t *cl);
static ngx_int_t ngx_http_drover_end_request(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx, ngx_uint_t trailing);
static ngx_int_t ngx_http_drover_body_limit(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx, ngx_str_t *data);
static void ngx_http_drover_last_byte(ngx_http_drover_ctx_t *ctx,
    ngx_buf_t *b);
static off_t ngx_http_drover_wanted(ngx_http_drover_ctx_t *ctx);
static void ngx_http_drover_log_stderr(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx, ngx_str_t *data);


/*
 * The response header arrives in FCGI_STDOUT records, interleaved with
 * FCGI_STDERR ones, split anywhere.  The content of FCGI_STDOUT is moved
 * down over the framing so that the header text is contiguous in
 * u->buffer (see ngx_http_drover_ctx_t); FCGI_STDERR is logged and
 * dropped.  So the header may use all of drover_buffer_size but what
 * precedes its first text (that record's 8-byte header, and any
 * FCGI_STDERR before it), and no more: past it, upstream answers "too big
 * header".
 */

ngx_int_t
ngx_http_drover_process_header(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_str_t               data;
    ngx_buf_t              *b;
    ngx_http_upstream_t    *u;
    ngx_http_drover_ctx_t  *ctx;

    u = r->upstream;
    b = &u->buffer;
    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    /* a response byte came: the request is not replayed any more */

    ctx->dispatch.responded = 1;

    if (ctx->text_last == NULL) {
        ctx->text_pos = b->pos;
        ctx->text_last = b->pos;
    }

    for ( ;; ) {

        rc = ngx_http_drover_fcgi_parse(&ctx->parser, &b->pos, b->last,
                                        &data, r->connection->log);

        if (rc == NGX_AGAIN) {

            /* all framing is consumed: only header text is kept */

            b->pos = ctx->text_last;
            b->last = ctx->text_last;

            return NGX_AGAIN;
        }

        if (rc == NGX_ERROR) {

            /* 5.5: refused unread, so another worker may take it */

            if (ctx->parser.end_request
                && ctx->parser.protocol_status
                   == NGX_HTTP_DROVER_FCGI_OVERLOADED)
            {
                ctx->dispatch.overloaded = 1;
            }

            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        if (rc == NGX_DONE) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream ended FastCGI request "
                          "without a response header");
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        if (ctx->parser.type == NGX_HTTP_DROVER_FCGI_STDERR) {
            ngx_http_drover_log_stderr(r, ctx, &data);
            continue;
        }

        if (data.len == 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream closed FastCGI stdout "
                          "before the end of the response header");
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        if (ctx->text_last == b->start) {

            /*
             * The first text: it stays where it is, after its record's
             * header.  Moved down, it would leave as many bytes free at
             * the end of the buffer, and the pipe would read the body
             * into them first: one more readv() per response, and a
             * memmove() of up to drover_buffer_size
             */

            ctx->text_pos = data.data;
            ctx->text_last = data.data + data.len;

        } else {
            ctx->text_last = ngx_movemem(ctx->text_last, data.data,
                                         data.len);
        }

        rc = ngx_http_drover_parse_header_lines(r, ctx);

        if (rc == NGX_AGAIN) {
            continue;
        }

        if (rc != NGX_OK) {
            return rc;
        }

        /*
         * The header is complete.  What follows it in the text is body:
         * it is given back to the parser and put right before the bytes
         * not parsed yet, so u->buffer.pos starts the body phase.
         */

        ngx_http_drover_fcgi_unread(&ctx->parser,
                                    ctx->text_last - ctx->text_pos);

        b->last = ngx_movemem(ctx->text_last, b->pos, b->last - b->pos);
        b->pos = ctx->text_pos;

        rc = ngx_http_drover_header_done(r, ctx);

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_drover_check_preread(r, ctx);
    }
}


static ngx_int_t
ngx_http_drover_parse_header_lines(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_buf_t  text;

    ngx_memzero(&text, sizeof(ngx_buf_t));

    text.pos = ctx->text_pos;
    text.last = ctx->text_last;

    for ( ;; ) {

        rc = ngx_http_parse_header_line(r, &text, 1);

        ctx->text_pos = text.pos;

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (rc == NGX_HTTP_PARSE_HEADER_DONE) {
            return NGX_OK;
        }

        if (rc == NGX_OK) {

            /*
             * ngx_http_parse_header_line() takes a line without ":" as a
             * name with an empty value, and a name with bytes outside the
             * token set as "invalid_header": neither is passed on
             */

            if (*r->header_name_end != ':' || r->invalid_header) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "upstream sent invalid header line: \"%*s\"",
                              ngx_min(r->header_name_end
                                      - r->header_name_start, 64),
                              r->header_name_start);
                return NGX_HTTP_UPSTREAM_INVALID_HEADER;
            }

            rc = ngx_http_drover_add_header(r);

            if (rc != NGX_OK) {
                return rc;
            }

            continue;
        }

        /* rc == NGX_HTTP_PARSE_INVALID_HEADER */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream sent invalid header: \"%*s\\x%02xd...\"",
                      ngx_min(r->header_end - r->header_name_start, 64),
                      r->header_name_start, *r->header_end);

        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }
}


/* the header text is overwritten later: a header gets its own copy */

static ngx_int_t
ngx_http_drover_add_header(ngx_http_request_t *r)
{
    ngx_table_elt_t                *h;
    ngx_http_upstream_t            *u;
    ngx_http_upstream_header_t     *hh;
    ngx_http_upstream_main_conf_t  *umcf;

    u = r->upstream;
    umcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_module);

    h = ngx_list_push(&u->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key.len = r->header_name_end - r->header_name_start;
    h->value.len = r->header_end - r->header_start;

    h->key.data = ngx_pnalloc(r->pool,
                              h->key.len + 1 + h->value.len + 1 + h->key.len);
    if (h->key.data == NULL) {
        h->hash = 0;
        return NGX_ERROR;
    }

    h->value.data = h->key.data + h->key.len + 1;
    h->lowcase_key = h->value.data + h->value.len + 1;

    ngx_memcpy(h->key.data, r->header_name_start, h->key.len);
    h->key.data[h->key.len] = '\0';
    ngx_memcpy(h->value.data, r->header_start, h->value.len);
    h->value.data[h->value.len] = '\0';

    h->hash = r->header_hash;

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    if (h->key.len == r->lowcase_index) {
        ngx_memcpy(h->lowcase_key, r->lowcase_header, h->key.len);

    } else {
        ngx_strlow(h->lowcase_key, h->key.data, h->key.len);
    }

    hh = ngx_hash_find(&umcf->headers_in_hash, h->hash,
                       h->lowcase_key, h->key.len);

    if (hh && hh->handler(r, h, hh->offset) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "drover header: \"%V: %V\"", &h->key, &h->value);

    return NGX_OK;
}


/* CGI (RFC 3875 6.3.3): "Status: NNN reason"; "Location" alone is a 302 */

static ngx_int_t
ngx_http_drover_header_done(ngx_http_request_t *r, ngx_http_drover_ctx_t *ctx)
{
    ngx_int_t             status;
    ngx_str_t            *line;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    if (u->headers_in.status) {
        line = &u->headers_in.status->value;

        status = (line->len >= 3) ? ngx_atoi(line->data, 3) : NGX_ERROR;

        if (status < NGX_HTTP_OK || status > 599
            || (line->len > 3 && line->data[3] != ' '))
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream sent invalid status \"%*s\"",
                          ngx_min(line->len, 64), line->data);
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        u->headers_in.status_n = status;

        if (line->len > 4) {
            u->headers_in.status_line = *line;
        }

    } else if (u->headers_in.location) {
        u->headers_in.status_n = NGX_HTTP_MOVED_TEMPORARILY;
        ngx_str_set(&u->headers_in.status_line, "302 Moved Temporarily");

    } else {
        u->headers_in.status_n = NGX_HTTP_OK;
        ngx_str_set(&u->headers_in.status_line, "200 OK");
    }

    if (u->headers_in.content_length
        && u->headers_in.content_length_n < 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream sent invalid \"Content-Length\" header: "
                      "\"%*s\"",
                      ngx_min(u->headers_in.content_length->value.len, 64),
                      u->headers_in.content_length->value.data);
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    if (u->state && u->state->status == 0) {
        u->state->status = u->headers_in.status_n;
    }

    ctx->rest = u->headers_in.content_length_n;

    return NGX_OK;
}


/*
 * Once the header is read, the bytes already received after it are
 * checked before anything is sent to the client: a malformed record there,
 * bytes after FCGI_END_REQUEST, or a complete body whose length is not
 * the Content-Length, make a 502 instead of a response cut short later.
 * The parser works on a copy; the body phase parses the same bytes again.
 */

static ngx_int_t
ngx_http_drover_check_preread(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx)
{
    off_t                          body;
    u_char                        *pos, *last;
    ngx_int_t                      rc;
    ngx_str_t                      data;
    ngx_http_upstream_t           *u;
    ngx_http_drover_fcgi_parser_t  parser;

    u = r->upstream;
    parser = ctx->parser;
    pos = u->buffer.pos;
    last = u->buffer.last;
    body = 0;

    for ( ;; ) {

        rc = ngx_http_drover_fcgi_parse(&parser, &pos, last, &data,
                                        r->connection->log);

        if (rc == NGX_AGAIN) {
            return NGX_OK;
        }

        if (rc == NGX_ERROR) {
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        if (rc == NGX_OK) {
            if (parser.type == NGX_HTTP_DROVER_FCGI_STDOUT) {
                body += data.len;
            }

            continue;
        }

        /* rc == NGX_DONE */

        if (pos != last) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream sent data after FastCGI end request");
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        if (ctx->rest >= 0
            && body != ctx->rest
            && r->method != NGX_HTTP_HEAD
            && u->headers_in.status_n != NGX_HTTP_NO_CONTENT
            && u->headers_in.status_n != NGX_HTTP_NOT_MODIFIED)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream sent %O body bytes with "
                          "\"Content-Length: %O\"", body, ctx->rest);
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        return NGX_OK;
    }
}


/*
 * The response ends at FCGI_END_REQUEST and nowhere else: neither
 * p->length nor u->length is ever -1, which tells upstream that a close
 * before it is "upstream prematurely closed connection", never a
 * complete response.
 */

ngx_int_t
ngx_http_drover_input_filter_init(void *data)
{
    ngx_http_request_t  *r = data;

    ngx_http_upstream_t    *u;
    ngx_http_drover_ctx_t  *ctx;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    u->length = 1;
    u->pipe->length = ngx_http_drover_wanted(ctx);

    return NGX_OK;
}


ngx_int_t
ngx_http_drover_input_filter(ngx_event_pipe_t *p, ngx_buf_t *buf)
{
    u_char                 *pos;
    ngx_int_t               rc;
    ngx_str_t               data;
    ngx_buf_t              *b, **prev;
    ngx_chain_t            *cl;
    ngx_http_request_t     *r;
    ngx_http_drover_ctx_t  *ctx;

    if (buf->pos == buf->last) {
        return NGX_OK;
    }

    r = p->input_ctx;
    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    if (ctx->parser.end_request || ctx->failed) {

        /*
         * bytes after the end, read in the same pipe cycle: the response
         * is not done after all (p->length stays non-zero, or the pipe
         * would set upstream_done again)
         */

        if (ngx_http_drover_end_request(r, ctx, 1) != NGX_OK) {
            p->upstream_done = 0;
            p->upstream_error = 1;
            p->length = 1;
        }

        return NGX_OK;
    }

    b = NULL;
    prev = &buf->shadow;
    pos = buf->pos;

    for ( ;; ) {

        rc = ngx_http_drover_fcgi_parse(&ctx->parser, &pos, buf->last, &data,
                                        p->log);

        if (rc == NGX_AGAIN) {
            break;
        }

        if (rc == NGX_ERROR) {
            ctx->failed = 1;
            p->upstream_error = 1;
            break;
        }

        if (rc == NGX_DONE) {
            if (ngx_http_drover_end_request(r, ctx, pos != buf->last)
                != NGX_OK)
            {
                p->upstream_error = 1;
                break;
            }

            p->upstream_done = 1;

            if (!ctx->last_byte_held) {
                break;
            }

            cl = ngx_chain_get_free_buf(p->pool, &p->free);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            ngx_memzero(cl->buf, sizeof(ngx_buf_t));

            cl->buf->tag = p->tag;
            ngx_http_drover_last_byte(ctx, cl->buf);

            ngx_http_drover_pipe_add(p, cl);

            break;
        }

        if (ctx->parser.type == NGX_HTTP_DROVER_FCGI_STDERR) {
            ngx_http_drover_log_stderr(r, ctx, &data);
            continue;
        }

        rc = ngx_http_drover_body_limit(r, ctx, &data);

        if (data.len) {
            cl = ngx_chain_get_free_buf(p->pool, &p->free);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            b = cl->buf;

            ngx_memzero(b, sizeof(ngx_buf_t));

            b->pos = data.data;
            b->last = data.data + data.len;
            b->start = buf->start;
            b->end = buf->end;
            b->tag = p->tag;
            b->temporary = 1;
            b->recycled = 1;

            *prev = b;
            prev = &b->shadow;

            ngx_http_drover_pipe_add(p, cl);

            /* STUB */ b->num = buf->num;
        }

        if (rc == NGX_ERROR) {
            p->upstream_error = 1;
            break;
        }
    }

    p->length = p->upstream_done ? 0 : ngx_http_drover_wanted(ctx);

    if (b) {
        b->shadow = buf;
        b->last_shadow = 1;

        return NGX_OK;
    }

    /* no body in this buffer: it can be read into again */

    return ngx_event_pipe_add_free_buf(p, buf);
}


static void
ngx_http_drover_pipe_add(ngx_event_pipe_t *p, ngx_chain_t *cl)
{
    if (p->in) {
        *p->last_in = cl;

    } else {
        p->in = cl;
    }

    p->last_in = &cl->next;
}


ngx_int_t
ngx_http_drover_non_buffered_filter(void *data, ssize_t bytes)
{
    ngx_http_request_t  *r = data;

    u_char                 *pos;
    ngx_int_t               rc;
    ngx_str_t               chunk;
    ngx_buf_t              *b, *buf;
    ngx_chain_t            *cl, **ll;
    ngx_http_upstream_t    *u;
    ngx_http_drover_ctx_t  *ctx;

    u = r->upstream;
    buf = &u->buffer;
    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    buf->pos = buf->last;
    buf->last += bytes;

    if (bytes == 0) {
        return NGX_OK;
    }

    if (ctx->parser.end_request || ctx->failed) {

        if (ngx_http_drover_end_request(r, ctx, 1) != NGX_OK) {
            u->length = 1;
            u->error = 1;
        }

        return NGX_OK;
    }

    for (cl = u->out_bufs, ll = &u->out_bufs; cl; cl = cl->next) {
        ll = &cl->next;
    }

    pos = buf->pos;

    for ( ;; ) {

        rc = ngx_http_drover_fcgi_parse(&ctx->parser, &pos, buf->last, &chunk,
                                        r->connection->log);

        if (rc == NGX_AGAIN) {
            break;
        }

        if (rc == NGX_ERROR) {
            ctx->failed = 1;
            u->error = 1;
            break;
        }

        if (rc == NGX_DONE) {
            if (ngx_http_drover_end_request(r, ctx, pos != buf->last)
                != NGX_OK)
            {
                u->error = 1;
                break;
            }

            u->length = 0;

            if (!ctx->last_byte_held) {
                break;
            }

            cl = ngx_chain_get_free_buf(r->pool, &u->free_bufs);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            *ll = cl;
            ll = &cl->next;

            cl->buf->flush = 1;
            cl->buf->tag = u->output.tag;
            ngx_http_drover_last_byte(ctx, cl->buf);

            break;
        }

        if (ctx->parser.type == NGX_HTTP_DROVER_FCGI_STDERR) {
            ngx_http_drover_log_stderr(r, ctx, &chunk);
            continue;
        }

        rc = ngx_http_drover_body_limit(r, ctx, &chunk);

        if (chunk.len) {
            cl = ngx_chain_get_free_buf(r->pool, &u->free_bufs);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            *ll = cl;
            ll = &cl->next;

            b = cl->buf;

            b->flush = 1;
            b->memory = 1;

            b->pos = chunk.data;
            b->last = chunk.data + chunk.len;
            b->tag = u->output.tag;
        }

        if (rc == NGX_ERROR) {
            u->error = 1;
            break;
        }
    }

    return NGX_OK;
}


/*
 * At FCGI_END_REQUEST, or with bytes after it (trailing).  Bytes after
 * the record in the buffer make the response an error: the application
 * wrote more than one response.  Bytes that come later find the
 * connection idle in the keepalive cache, which logs and closes it.  The
 * connection is kept only when FCGI_KEEP_CONN was sent and nothing
 * followed the record.
 */

static ngx_int_t
ngx_http_drover_end_request(ngx_http_request_t *r, ngx_http_drover_ctx_t *ctx,
    ngx_uint_t trailing)
{
    ngx_http_upstream_t  *u;

    u = r->upstream;
    u->keepalive = 0;

    if (ctx->failed) {
        return NGX_OK;
    }

    if (trailing) {
        ctx->failed = 1;

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream sent data after FastCGI end request");
        return NGX_ERROR;
    }

    if (ctx->rest > 0) {
        ctx->failed = 1;

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream ended FastCGI request %O bytes short "
                      "of \"Content-Length\"", ctx->rest);
        return NGX_ERROR;
    }

    u->keepalive = ctx->keep_conn;

    return NGX_OK;
}


/*
 * With a Content-Length, the last byte of the body is held back until
 * FCGI_END_REQUEST: a response the application does not end cleanly
 * (more data, a bad record, a close) never reaches the client complete,
 * however its bytes are split.  NGX_ERROR: more data than the length;
 * data is cut.
 */

static ngx_int_t
ngx_http_drover_body_limit(ngx_http_request_t *r, ngx_http_drover_ctx_t *ctx,
    ngx_str_t *data)
{
    ngx_uint_t  excess;

    if (ctx->rest < 0 || data->len == 0) {
        return NGX_OK;
    }

    if ((off_t) data->len < ctx->rest) {
        ctx->rest -= data->len;
        return NGX_OK;
    }

    excess = ((off_t) data->len > ctx->rest);

    if (ctx->rest > 0) {
        data->len = (size_t) ctx->rest - 1;

        ctx->last_byte = data->data[data->len];
        ctx->last_byte_held = 1;
        ctx->rest = 0;

    } else {
        data->len = 0;
    }

    if (!excess) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "upstream sent more data than specified in "
                  "\"Content-Length\" header");

    ctx->failed = 1;
    r->upstream->keepalive = 0;

    return NGX_ERROR;
}


static void
ngx_http_drover_last_byte(ngx_http_drover_ctx_t *ctx, ngx_buf_t *b)
{
    b->pos = &ctx->last_byte;
    b->last = b->pos + 1;
    b->memory = 1;

    ctx->last_byte_held = 0;
}


/* the bytes the parser needs before it can go on: the pipe's p->length */

static off_t
ngx_http_drover_wanted(ngx_http_drover_ctx_t *ctx)
{
    ngx_http_drover_fcgi_parser_t  *p;

    p = &ctx->parser;

    switch (p->state) {

    case ngx_http_drover_fcgi_st_data:
        if (p->type == NGX_HTTP_DROVER_FCGI_END_REQUEST) {
            return NGX_HTTP_DROVER_FCGI_END_BODY_LEN - p->end_body_read;
        }

        return p->length ? (off_t) p->length : 1;

    case ngx_http_drover_fcgi_st_padding:
        return p->padding ? (off_t) p->padding : 1;

    default:
        return NGX_HTTP_DROVER_FCGI_HEADER_LEN - p->state;
    }
}


static void
ngx_http_drover_log_stderr(ngx_http_request_t *r, ngx_http_drover_ctx_t *ctx,
    ngx_str_t *data)
{
    u_char  *p, *last;
    size_t   n;

    if (ctx->stderr_logged >= NGX_HTTP_DROVER_STDERR_MAX) {
        return;
    }

    p = data->data;
    last = p + data->len;

    while (last > p && (last[-1] == LF || last[-1] == CR)) {
        last--;
    }

    if (last == p) {
        return;
    }

    n = ngx_min((size_t) (last - p),
                NGX_HTTP_DROVER_STDERR_MAX - ctx->stderr_logged);

    ctx->stderr_logged += n;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "FastCGI sent in stderr: \"%*s\"", n, p);

    if (ctx->stderr_logged == NGX_HTTP_DROVER_STDERR_MAX) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "FastCGI stderr over %uz bytes, the rest not logged",
                      (size_t) NGX_HTTP_DROVER_STDERR_MAX);
    }
}
