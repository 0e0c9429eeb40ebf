/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */

/* mod_drover's FastCGI 1.0 records: the request's encoders and a resumable
 * byte-wise reader of the response stream (FastCGI spec sections cited). */

#include "mod_drover.h"

#include "apr_strings.h"


/* spec 3.3: version, type, requestId (B1 B0), contentLength (B1 B0),
 * paddingLength, reserved */
void
drover_fcgi_header(unsigned char *dst, int type, apr_size_t len)
{
    dst[0] = 1;
    dst[1] = (unsigned char) type;
    dst[2] = 0;
    dst[3] = DROVER_FCGI_REQUEST_ID;
    dst[4] = (unsigned char) ((len >> 8) & 0xff);
    dst[5] = (unsigned char) (len & 0xff);
    dst[6] = 0;
    dst[7] = 0;
}


/* spec 5.1: FCGI_BEGIN_REQUEST, role FCGI_RESPONDER, flags */
char *
drover_fcgi_begin(apr_pool_t *p, int keep_conn, apr_size_t *len)
{
    unsigned char  *b = apr_pcalloc(p, 16);

    drover_fcgi_header(b, DROVER_FCGI_BEGIN_REQUEST, 8);
    b[9] = 1;                            /* FCGI_RESPONDER */
    b[10] = keep_conn ? 1 : 0;           /* FCGI_KEEP_CONN */
    *len = 16;

    return (char *) b;
}


/* spec 3.4: a length below 128 in one byte, else four with the top bit */
static apr_size_t
pair_len_size(apr_size_t n)
{
    return n < 128 ? 1 : 4;
}


static unsigned char *
pair_len_put(unsigned char *dst, apr_size_t n)
{
    if (n < 128) {
        *dst++ = (unsigned char) n;
        return dst;
    }

    *dst++ = (unsigned char) (((n >> 24) & 0x7f) | 0x80);
    *dst++ = (unsigned char) ((n >> 16) & 0xff);
    *dst++ = (unsigned char) ((n >> 8) & 0xff);
    *dst++ = (unsigned char) (n & 0xff);
    return dst;
}


/*
 * The name-value pairs of params, split into FCGI_PARAMS records of at
 * most 65535 bytes (a pair may span records, spec 3.4), and the empty
 * FCGI_PARAMS that ends the stream. Two passes: the length, then the bytes.
 */
char *
drover_fcgi_params(apr_pool_t *p, const apr_table_t *params, apr_size_t *len)
{
    const apr_array_header_t  *arr = apr_table_elts(params);
    const apr_table_entry_t   *e = (const apr_table_entry_t *) arr->elts;
    unsigned char             *flat, *w, *out, *o;
    apr_size_t                 total = 0, nl, vl, chunk, left;
    int                        i;

    for (i = 0; i < arr->nelts; i++) {
        nl = strlen(e[i].key);
        vl = strlen(e[i].val);
        total += pair_len_size(nl) + pair_len_size(vl) + nl + vl;
    }

    flat = apr_palloc(p, total + 1);
    w = flat;

    for (i = 0; i < arr->nelts; i++) {
        nl = strlen(e[i].key);
        vl = strlen(e[i].val);
        w = pair_len_put(w, nl);
        w = pair_len_put(w, vl);
        memcpy(w, e[i].key, nl);
        w += nl;
        memcpy(w, e[i].val, vl);
        w += vl;
    }

    /* one header per 65535 bytes, and the empty record at the end */
    out = apr_palloc(p, total + (total / 65535 + 2) * DROVER_FCGI_HEADER_LEN);
    o = out;

    for (left = total, w = flat; left > 0; left -= chunk, w += chunk) {
        chunk = left > 65535 ? 65535 : left;
        drover_fcgi_header(o, DROVER_FCGI_PARAMS, chunk);
        memcpy(o + DROVER_FCGI_HEADER_LEN, w, chunk);
        o += DROVER_FCGI_HEADER_LEN + chunk;
    }

    drover_fcgi_header(o, DROVER_FCGI_PARAMS, 0);
    o += DROVER_FCGI_HEADER_LEN;

    *len = (apr_size_t) (o - out);
    return (char *) out;
}


/* a record header just read whole: check it, set up its content */
static apr_status_t
record_start(drover_fcgi_reader_t *rd, const char **why)
{
    const unsigned char  *h = rd->hdr;

    if (h[0] != 1) {
        *why = "a record of a FastCGI version other than 1";
        return APR_EGENERAL;
    }

    if (((h[2] << 8) | h[3]) != DROVER_FCGI_REQUEST_ID) {
        *why = "a record of another request id";
        return APR_EGENERAL;
    }

    rd->type = h[1];
    rd->content_left = (apr_size_t) ((h[4] << 8) | h[5]);
    rd->padding_left = h[6];

    switch (rd->type) {

    case DROVER_FCGI_STDOUT:
        if (rd->stdout_closed) {
            *why = "STDOUT after the end of STDOUT";
            return APR_EGENERAL;
        }
        if (rd->content_left == 0) {
            rd->stdout_closed = 1;       /* spec 3.3: the empty record ends it */
        }
        return APR_SUCCESS;

    case DROVER_FCGI_STDERR:
        return APR_SUCCESS;

    case DROVER_FCGI_END_REQUEST:
        if (rd->content_left != 8) {      /* spec 5.5 */
            *why = "an END_REQUEST body that is not 8 bytes";
            return APR_EGENERAL;
        }
        rd->end_len = 0;
        return APR_SUCCESS;

    default:
        *why = "a record type other than STDOUT, STDERR or END_REQUEST";
        return APR_EGENERAL;
    }
}


/*
 * Feed len bytes of the response stream. STDOUT and STDERR content goes to
 * data() as it comes; the reader keeps its place between calls, so records
 * may be split anywhere. Any byte after END_REQUEST is malformed.
 */
apr_status_t
drover_fcgi_read(drover_fcgi_reader_t *rd, const char *buf, apr_size_t len,
                 drover_fcgi_data_pt data, void *ctx, const char **why)
{
    apr_size_t    n;
    apr_status_t  rv;

    while (len > 0) {

        if (rd->ended) {
            *why = "bytes after END_REQUEST";
            return APR_EGENERAL;
        }

        if (rd->hdr_len < DROVER_FCGI_HEADER_LEN) {
            n = DROVER_FCGI_HEADER_LEN - rd->hdr_len;
            n = n < len ? n : len;
            memcpy(rd->hdr + rd->hdr_len, buf, n);
            rd->hdr_len += n;
            buf += n;
            len -= n;

            if (rd->hdr_len == DROVER_FCGI_HEADER_LEN) {
                rv = record_start(rd, why);
                if (rv != APR_SUCCESS) {
                    return rv;
                }
            }

        } else if (rd->content_left > 0) {
            n = rd->content_left < len ? rd->content_left : len;

            if (rd->type == DROVER_FCGI_END_REQUEST) {
                memcpy(rd->end + rd->end_len, buf, n);
                rd->end_len += n;
            } else {
                rv = data(ctx, rd->type, buf, n);
                if (rv != APR_SUCCESS) {
                    *why = NULL;
                    return rv;
                }
            }

            rd->content_left -= n;
            buf += n;
            len -= n;

        } else if (rd->padding_left > 0) {
            n = rd->padding_left < len ? rd->padding_left : len;
            rd->padding_left -= n;
            buf += n;
            len -= n;
        }

        /* a record read whole, padding included */
        if (rd->hdr_len == DROVER_FCGI_HEADER_LEN && rd->content_left == 0
            && rd->padding_left == 0)
        {
            rd->hdr_len = 0;

            if (rd->type == DROVER_FCGI_END_REQUEST) {
                rd->ended = 1;
                rd->protocol_status = rd->end[4];
            }
        }
    }

    return APR_SUCCESS;
}
