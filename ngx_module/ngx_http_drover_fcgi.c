
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: FastCGI 1.0 record encoding and the resumable response parser.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_http_drover_fcgi.h"


static ngx_int_t ngx_http_drover_fcgi_header(
    ngx_http_drover_fcgi_parser_t *p, u_char *h, ngx_log_t *log);
static ngx_int_t ngx_http_drover_fcgi_header_byte(
    ngx_http_drover_fcgi_parser_t *p, u_char ch, ngx_log_t *log);
static ngx_int_t ngx_http_drover_fcgi_version(u_char ch, ngx_log_t *log);
static ngx_int_t ngx_http_drover_fcgi_type(u_char ch, ngx_log_t *log);
static ngx_int_t ngx_http_drover_fcgi_header_done(
    ngx_http_drover_fcgi_parser_t *p, ngx_log_t *log);
static void ngx_http_drover_fcgi_end_body(ngx_http_drover_fcgi_parser_t *p,
    u_char *body);
static void ngx_http_drover_fcgi_end_body_byte(
    ngx_http_drover_fcgi_parser_t *p, u_char ch);
static ngx_int_t ngx_http_drover_fcgi_end_request(
    ngx_http_drover_fcgi_parser_t *p, ngx_log_t *log);
static u_char *ngx_http_drover_fcgi_write_pair(u_char *p,
    ngx_keyval_t *pair);
static u_char *ngx_http_drover_fcgi_write_length(u_char *p, size_t len);


/*
 * Returns
 *     NGX_OK     with data: a piece of FCGI_STDOUT or FCGI_STDERR content
 *                (p->type says which); an empty piece of FCGI_STDOUT is
 *                the end of that stream (5.3);
 *     NGX_DONE   a whole FCGI_END_REQUEST record with its padding was read,
 *                *pos is just past it;
 *     NGX_AGAIN  every byte up to last was consumed;
 *     NGX_ERROR  the response is malformed; one line was logged.
 *
 * A piece is returned as soon as it is known, before the padding that
 * follows it is read, so that ngx_http_drover_fcgi_unread() can give it
 * back.
 *
 * A record header, or the body of FCGI_END_REQUEST, that is whole in the
 * buffer is read at once; one split across reads is read byte by byte,
 * with the same checks.
 */

ngx_int_t
ngx_http_drover_fcgi_parse(ngx_http_drover_fcgi_parser_t *p, u_char **pos,
    u_char *last, ngx_str_t *data, ngx_log_t *log)
{
    u_char     *b;
    size_t      n;
    ngx_int_t   rc;

    b = *pos;
    data->len = 0;
    data->data = b;

    for ( ;; ) {

        switch (p->state) {

        case ngx_http_drover_fcgi_st_data:

            if (p->type == NGX_HTTP_DROVER_FCGI_END_REQUEST) {

                if (p->end_body_read == NGX_HTTP_DROVER_FCGI_END_BODY_LEN) {
                    p->state = ngx_http_drover_fcgi_st_padding;
                    break;
                }

                if (p->end_body_read == 0
                    && last - b >= NGX_HTTP_DROVER_FCGI_END_BODY_LEN)
                {
                    ngx_http_drover_fcgi_end_body(p, b);
                    b += NGX_HTTP_DROVER_FCGI_END_BODY_LEN;
                    break;
                }

                if (b == last) {
                    goto again;
                }

                ngx_http_drover_fcgi_end_body_byte(p, *b++);
                break;
            }

            if (p->length == 0) {

                /* 5.3: an empty record ends its stream */

                p->state = ngx_http_drover_fcgi_st_padding;

                if (p->type == NGX_HTTP_DROVER_FCGI_STDOUT) {
                    p->stdout_closed = 1;
                    *pos = b;
                    data->data = b;
                    return NGX_OK;
                }

                break;
            }

            if (b == last) {
                goto again;
            }

            n = ngx_min(p->length, (size_t) (last - b));

            data->data = b;
            data->len = n;

            b += n;
            p->length -= n;

            if (p->length == 0) {
                p->state = ngx_http_drover_fcgi_st_padding;
            }

            *pos = b;
            return NGX_OK;

        case ngx_http_drover_fcgi_st_padding:

            n = ngx_min(p->padding, (size_t) (last - b));

            b += n;
            p->padding -= n;

            if (p->padding) {
                goto again;
            }

            p->state = ngx_http_drover_fcgi_st_version;

            if (p->type == NGX_HTTP_DROVER_FCGI_END_REQUEST) {
                *pos = b;
                return ngx_http_drover_fcgi_end_request(p, log);
            }

            break;

        default: /* the record header */

            if (p->state == ngx_http_drover_fcgi_st_version
                && last - b >= NGX_HTTP_DROVER_FCGI_HEADER_LEN)
            {
                rc = ngx_http_drover_fcgi_header(p, b, log);

                b += NGX_HTTP_DROVER_FCGI_HEADER_LEN;

                if (rc != NGX_OK) {
                    *pos = b;
                    return NGX_ERROR;
                }

                break;
            }

            if (b == last) {
                goto again;
            }

            if (ngx_http_drover_fcgi_header_byte(p, *b++, log) != NGX_OK) {
                *pos = b;
                return NGX_ERROR;
            }

            break;
        }
    }

again:

    *pos = b;
    return NGX_AGAIN;
}


/*
 * Gives back the last n bytes of the piece just returned: they are
 * returned again by the next call.  n is at most the length of that piece.
 */

void
ngx_http_drover_fcgi_unread(ngx_http_drover_fcgi_parser_t *p, size_t n)
{
    if (n == 0) {
        return;
    }

    if (p->state != ngx_http_drover_fcgi_st_data) {
        p->state = ngx_http_drover_fcgi_st_data;
        p->length = 0;
    }

    p->length += n;
}


/* 3.3: the 8 bytes of a record header, h[0] to h[7] */

static ngx_int_t
ngx_http_drover_fcgi_header(ngx_http_drover_fcgi_parser_t *p, u_char *h,
    ngx_log_t *log)
{
    if (ngx_http_drover_fcgi_version(h[0], log) != NGX_OK
        || ngx_http_drover_fcgi_type(h[1], log) != NGX_OK)
    {
        return NGX_ERROR;
    }

    p->type = h[1];
    p->request_id_hi = h[2];
    p->request_id_lo = h[3];
    p->content_length_hi = h[4];
    p->content_length_lo = h[5];
    p->padding_length = h[6];

    return ngx_http_drover_fcgi_header_done(p, log);
}


static ngx_int_t
ngx_http_drover_fcgi_header_byte(ngx_http_drover_fcgi_parser_t *p, u_char ch,
    ngx_log_t *log)
{
    switch (p->state) {

    case ngx_http_drover_fcgi_st_version:
        if (ngx_http_drover_fcgi_version(ch, log) != NGX_OK) {
            return NGX_ERROR;
        }

        p->state = ngx_http_drover_fcgi_st_type;
        break;

    case ngx_http_drover_fcgi_st_type:
        if (ngx_http_drover_fcgi_type(ch, log) != NGX_OK) {
            return NGX_ERROR;
        }

        p->type = ch;
        p->state = ngx_http_drover_fcgi_st_request_id_hi;
        break;

    case ngx_http_drover_fcgi_st_request_id_hi:
        p->request_id_hi = ch;
        p->state = ngx_http_drover_fcgi_st_request_id_lo;
        break;

    case ngx_http_drover_fcgi_st_request_id_lo:
        p->request_id_lo = ch;
        p->state = ngx_http_drover_fcgi_st_content_length_hi;
        break;

    case ngx_http_drover_fcgi_st_content_length_hi:
        p->content_length_hi = ch;
        p->state = ngx_http_drover_fcgi_st_content_length_lo;
        break;

    case ngx_http_drover_fcgi_st_content_length_lo:
        p->content_length_lo = ch;
        p->state = ngx_http_drover_fcgi_st_padding_length;
        break;

    case ngx_http_drover_fcgi_st_padding_length:
        p->padding_length = ch;
        p->state = ngx_http_drover_fcgi_st_reserved;
        break;

    case ngx_http_drover_fcgi_st_reserved:
        return ngx_http_drover_fcgi_header_done(p, log);

    /* not header states */
    case ngx_http_drover_fcgi_st_data:
    case ngx_http_drover_fcgi_st_padding:
        break;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_drover_fcgi_version(u_char ch, ngx_log_t *log)
{
    if (ch != NGX_HTTP_DROVER_FCGI_VERSION) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "upstream sent unsupported FastCGI "
                      "protocol version: %d", ch);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_drover_fcgi_type(u_char ch, ngx_log_t *log)
{
    /*
     * 4, 6: a responder is sent only these; management records
     * (request id 0) answer management records, and we send none
     */

    switch (ch) {
    case NGX_HTTP_DROVER_FCGI_STDOUT:
    case NGX_HTTP_DROVER_FCGI_STDERR:
    case NGX_HTTP_DROVER_FCGI_END_REQUEST:
        return NGX_OK;

    default:
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "upstream sent unexpected FastCGI record type: %d",
                      ch);
        return NGX_ERROR;
    }
}


static ngx_int_t
ngx_http_drover_fcgi_header_done(ngx_http_drover_fcgi_parser_t *p,
    ngx_log_t *log)
{
    ngx_uint_t  id;

    id = (p->request_id_hi << 8) | p->request_id_lo;

    if (id != NGX_HTTP_DROVER_FCGI_REQUEST_ID) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "upstream sent FastCGI record for request id %ui",
                      id);
        return NGX_ERROR;
    }

    p->length = (p->content_length_hi << 8) | p->content_length_lo;
    p->padding = p->padding_length;

    if (p->type == NGX_HTTP_DROVER_FCGI_END_REQUEST
        && p->length != NGX_HTTP_DROVER_FCGI_END_BODY_LEN)
    {
        /* 5.5: FCGI_EndRequestBody is 8 bytes */

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "upstream sent FastCGI end request record "
                      "of %uz bytes", p->length);
        return NGX_ERROR;
    }

    if (p->type == NGX_HTTP_DROVER_FCGI_STDOUT && p->stdout_closed) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "upstream sent FastCGI stdout after its end");
        return NGX_ERROR;
    }

    p->end_body_read = 0;
    p->state = ngx_http_drover_fcgi_st_data;

    return NGX_OK;
}


/* 5.5: appStatusB3..B0, protocolStatus, reserved[3], all 8 at once */

static void
ngx_http_drover_fcgi_end_body(ngx_http_drover_fcgi_parser_t *p, u_char *body)
{
    ngx_memcpy(p->app_status, body, 4);
    p->protocol_status = body[4];
    p->end_body_read = NGX_HTTP_DROVER_FCGI_END_BODY_LEN;
}


static void
ngx_http_drover_fcgi_end_body_byte(ngx_http_drover_fcgi_parser_t *p,
    u_char ch)
{
    /* 5.5: appStatusB3..B0, protocolStatus, reserved[3] */

    if (p->end_body_read < 4) {
        p->app_status[p->end_body_read] = ch;

    } else if (p->end_body_read == 4) {
        p->protocol_status = ch;
    }

    p->end_body_read++;
}


static ngx_int_t
ngx_http_drover_fcgi_end_request(ngx_http_drover_fcgi_parser_t *p,
    ngx_log_t *log)
{
    char        *reason;
    ngx_uint_t   level;

    p->end_request = 1;

    switch (p->protocol_status) {

    case NGX_HTTP_DROVER_FCGI_REQUEST_COMPLETE:
        return NGX_DONE;

    case NGX_HTTP_DROVER_FCGI_CANT_MPX_CONN:
        reason = "cannot multiplex";
        break;

    case NGX_HTTP_DROVER_FCGI_OVERLOADED:
        reason = "overloaded";
        break;

    case NGX_HTTP_DROVER_FCGI_UNKNOWN_ROLE:
        reason = "unknown role";
        break;

    default:
        reason = "unknown protocol status";
        break;
    }

    /*
     * droverd refuses unread, with FCGI_OVERLOADED, a pipelined request
     * that nginx took back as the worker read it: the request goes on
     * elsewhere (ngx_http_drover_peer.c logs the replay), no error
     */

    level = (p->protocol_status == NGX_HTTP_DROVER_FCGI_OVERLOADED)
            ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_log_error(level, log, 0,
                  "upstream rejected FastCGI request: %s (%d)",
                  reason, p->protocol_status);

    return NGX_ERROR;
}


/* 3.3: content is padded to a multiple of 8 bytes, as recommended */

size_t
ngx_http_drover_fcgi_padding(size_t len)
{
    return (8 - len % 8) % 8;
}


u_char *
ngx_http_drover_fcgi_write_header(u_char *p, ngx_uint_t type, size_t len,
    size_t padding)
{
    *p++ = NGX_HTTP_DROVER_FCGI_VERSION;
    *p++ = (u_char) type;
    *p++ = (u_char) ((NGX_HTTP_DROVER_FCGI_REQUEST_ID >> 8) & 0xff);
    *p++ = (u_char) (NGX_HTTP_DROVER_FCGI_REQUEST_ID & 0xff);
    *p++ = (u_char) ((len >> 8) & 0xff);
    *p++ = (u_char) (len & 0xff);
    *p++ = (u_char) padding;
    *p++ = 0;

    return p;
}


u_char *
ngx_http_drover_fcgi_write_begin(u_char *p, ngx_uint_t keep_conn)
{
    /* 5.1: FCGI_BeginRequestBody */

    p = ngx_http_drover_fcgi_write_header(p,
                                          NGX_HTTP_DROVER_FCGI_BEGIN_REQUEST,
                                          8, 0);

    *p++ = (u_char) ((NGX_HTTP_DROVER_FCGI_RESPONDER >> 8) & 0xff);
    *p++ = (u_char) (NGX_HTTP_DROVER_FCGI_RESPONDER & 0xff);
    *p++ = (u_char) (keep_conn ? NGX_HTTP_DROVER_FCGI_KEEP_CONN : 0);

    /* reserved[5] */
    ngx_memzero(p, 5);

    return p + 5;
}


size_t
ngx_http_drover_fcgi_pair_lengths(u_char *p, size_t key_len,
    size_t value_len)
{
    u_char  *start;

    start = p;

    p = ngx_http_drover_fcgi_write_length(p, key_len);
    p = ngx_http_drover_fcgi_write_length(p, value_len);

    return p - start;
}


/*
 * The FCGI_PARAMS stream (5.2) of pairs, len content bytes, without its
 * empty record.  It almost always fits in one record: the header is
 * written once and the pairs are copied straight after it.
 */

u_char *
ngx_http_drover_fcgi_write_params(u_char *p, ngx_array_t *pairs, size_t len)
{
    u_char                         lengths[8];
    size_t                         n, padding;
    ngx_uint_t                     i;
    ngx_keyval_t                  *pair;
    ngx_http_drover_fcgi_stream_t  s;

    pair = pairs->elts;

    if (len == 0) {
        return p;
    }

    if (len <= NGX_HTTP_DROVER_FCGI_RECORD_MAX) {
        padding = ngx_http_drover_fcgi_padding(len);

        p = ngx_http_drover_fcgi_write_header(p, NGX_HTTP_DROVER_FCGI_PARAMS,
                                              len, padding);

        for (i = 0; i < pairs->nelts; i++) {
            p = ngx_http_drover_fcgi_write_pair(p, &pair[i]);
        }

        ngx_memzero(p, padding);

        return p + padding;
    }

    ngx_http_drover_fcgi_stream_init(&s, p, NGX_HTTP_DROVER_FCGI_PARAMS, len);

    for (i = 0; i < pairs->nelts; i++) {
        n = ngx_http_drover_fcgi_pair_lengths(lengths, pair[i].key.len,
                                              pair[i].value.len);

        ngx_http_drover_fcgi_stream_write(&s, lengths, n);
        ngx_http_drover_fcgi_stream_write(&s, pair[i].key.data,
                                          pair[i].key.len);
        ngx_http_drover_fcgi_stream_write(&s, pair[i].value.data,
                                          pair[i].value.len);
    }

    return s.pos;
}


static u_char *
ngx_http_drover_fcgi_write_pair(u_char *p, ngx_keyval_t *pair)
{
    p = ngx_http_drover_fcgi_write_length(p, pair->key.len);
    p = ngx_http_drover_fcgi_write_length(p, pair->value.len);
    p = ngx_cpymem(p, pair->key.data, pair->key.len);

    /* an empty value may be ngx_str_null(): no memcpy() from NULL */

    if (pair->value.len) {
        p = ngx_cpymem(p, pair->value.data, pair->value.len);
    }

    return p;
}


static u_char *
ngx_http_drover_fcgi_write_length(u_char *p, size_t len)
{
    if (len <= 127) {
        *p++ = (u_char) len;
        return p;
    }

    *p++ = (u_char) (((len >> 24) & 0x7f) | 0x80);
    *p++ = (u_char) ((len >> 16) & 0xff);
    *p++ = (u_char) ((len >> 8) & 0xff);
    *p++ = (u_char) (len & 0xff);

    return p;
}


/* the bytes of a stream of len content bytes, without its empty record */

size_t
ngx_http_drover_fcgi_stream_size(size_t len)
{
    size_t  full, rest;

    full = len / NGX_HTTP_DROVER_FCGI_RECORD_MAX;
    rest = len % NGX_HTTP_DROVER_FCGI_RECORD_MAX;

    return full * (NGX_HTTP_DROVER_FCGI_HEADER_LEN
                   + NGX_HTTP_DROVER_FCGI_RECORD_MAX)
           + (rest ? NGX_HTTP_DROVER_FCGI_HEADER_LEN + rest
                     + ngx_http_drover_fcgi_padding(rest)
                   : 0);
}


void
ngx_http_drover_fcgi_stream_init(ngx_http_drover_fcgi_stream_t *s, u_char *p,
    ngx_uint_t type, size_t len)
{
    s->pos = p;
    s->record_left = 0;
    s->stream_left = len;
    s->padding = 0;
    s->type = (u_char) type;
}


/*
 * Copies content in; the sum of all len must be the len given to
 * ngx_http_drover_fcgi_stream_init(), and the buffer must hold
 * ngx_http_drover_fcgi_stream_size() of it.
 */

void
ngx_http_drover_fcgi_stream_write(ngx_http_drover_fcgi_stream_t *s,
    u_char *data, size_t len)
{
    size_t  n;

    while (len) {

        if (s->record_left == 0) {
            n = ngx_min(s->stream_left, NGX_HTTP_DROVER_FCGI_RECORD_MAX);

            s->padding = ngx_http_drover_fcgi_padding(n);
            s->pos = ngx_http_drover_fcgi_write_header(s->pos, s->type, n,
                                                       s->padding);
            s->record_left = n;
        }

        n = ngx_min(len, s->record_left);

        s->pos = ngx_cpymem(s->pos, data, n);

        data += n;
        len -= n;
        s->record_left -= n;
        s->stream_left -= n;

        if (s->record_left == 0 && s->padding) {
            ngx_memzero(s->pos, s->padding);
            s->pos += s->padding;
        }
    }
}
