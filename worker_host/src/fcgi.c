/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * fcgi.c -- see fcgi.h.
 *
 * The parser reads the header one byte at a time into _hi/_lo fields and
 * never casts the wire to a struct, so any split of the input gives the same
 * events.
 */

#include "fcgi.h"

#include <errno.h>
#include <string.h>


enum {
    ST_VERSION = 0,
    ST_TYPE,
    ST_ID_HI,
    ST_ID_LO,
    ST_LEN_HI,
    ST_LEN_LO,
    ST_PADDING,
    ST_RESERVED,
    ST_CONTENT,
    ST_PADDING_SKIP,
    ST_ERROR
};


void
drover_fcgi_header_encode(uint8_t out[DROVER_FCGI_HEADER_LEN], unsigned type,
    unsigned request_id, size_t content_len, unsigned padding_len)
{
    out[0] = DROVER_FCGI_VERSION_1;
    out[1] = (uint8_t) type;
    out[2] = (uint8_t) (request_id >> 8);
    out[3] = (uint8_t) request_id;
    out[4] = (uint8_t) (content_len >> 8);
    out[5] = (uint8_t) content_len;
    out[6] = (uint8_t) padding_len;
    out[7] = 0;
}


unsigned
drover_fcgi_padding(size_t content_len)
{
    return (unsigned) ((8 - (content_len & 7)) & 7);
}


size_t
drover_fcgi_pair_len_encode(uint8_t out[4], size_t len)
{
    if (len < 128) {
        out[0] = (uint8_t) len;
        return 1;
    }

    if (len > DROVER_FCGI_PAIR_LEN_MAX) {
        return 0;
    }

    out[0] = (uint8_t) ((len >> 24) | 0x80);
    out[1] = (uint8_t) (len >> 16);
    out[2] = (uint8_t) (len >> 8);
    out[3] = (uint8_t) len;

    return 4;
}


size_t
drover_fcgi_pair_encode(uint8_t *out, size_t size, const char *name,
    size_t name_len, const char *value, size_t value_len)
{
    size_t   n, m;
    uint8_t  nbuf[4], vbuf[4];

    n = drover_fcgi_pair_len_encode(nbuf, name_len);
    m = drover_fcgi_pair_len_encode(vbuf, value_len);

    if (n == 0 || m == 0) {
        return 0;
    }

    /* each term is at most 2^31, no overflow in size_t */
    if (n + m + name_len + value_len > size) {
        return 0;
    }

    memcpy(out, nbuf, n);
    memcpy(out + n, vbuf, m);

    /* memcpy() wants valid pointers even for 0 bytes */
    if (name_len != 0) {
        memcpy(out + n + m, name, name_len);
    }

    if (value_len != 0) {
        memcpy(out + n + m + name_len, value, value_len);
    }

    return n + m + name_len + value_len;
}


void
drover_fcgi_begin_request_encode(uint8_t out[DROVER_FCGI_BODY_LEN],
    unsigned role, unsigned flags)
{
    memset(out, 0, DROVER_FCGI_BODY_LEN);
    out[0] = (uint8_t) (role >> 8);
    out[1] = (uint8_t) role;
    out[2] = (uint8_t) flags;
}


void
drover_fcgi_end_request_encode(uint8_t out[DROVER_FCGI_BODY_LEN],
    uint32_t app_status, unsigned protocol_status)
{
    memset(out, 0, DROVER_FCGI_BODY_LEN);
    out[0] = (uint8_t) (app_status >> 24);
    out[1] = (uint8_t) (app_status >> 16);
    out[2] = (uint8_t) (app_status >> 8);
    out[3] = (uint8_t) app_status;
    out[4] = (uint8_t) protocol_status;
}


void
drover_fcgi_unknown_type_encode(uint8_t out[DROVER_FCGI_BODY_LEN],
    unsigned type)
{
    memset(out, 0, DROVER_FCGI_BODY_LEN);
    out[0] = (uint8_t) type;
}


int
drover_fcgi_get_values_result(const uint8_t *query, size_t query_len,
    const drover_fcgi_value_t *values, size_t nvalues, uint8_t *out,
    size_t size)
{
    int          rc;
    size_t       off, name_off, name_len, value_len, i, n, len;
    const char  *name;

    off = 0;
    len = 0;

    for ( ;; ) {
        name_off = off;
        rc = drover_fcgi_pair_decode(query, query_len, &name_off, &name_len,
                                     &value_len);
        if (rc <= 0) {
            break;
        }

        name = (const char *) query + name_off;
        off = name_off + name_len + value_len;

        /* 4.1: names the application does not know are left out */
        for (i = 0; i < nvalues; i++) {
            if (strlen(values[i].name) == name_len
                && memcmp(values[i].name, name, name_len) == 0)
            {
                break;
            }
        }

        if (i == nvalues) {
            continue;
        }

        n = drover_fcgi_pair_encode(out + len, size - len, name, name_len,
                                    values[i].value,
                                    strlen(values[i].value));
        if (n == 0) {
            return -ENOBUFS;
        }

        len += n;
    }

    if (rc < 0) {
        return rc;
    }

    if (len > DROVER_FCGI_MAX_CONTENT) {
        return -ENOBUFS;
    }

    return (int) len;
}


void
drover_fcgi_parser_init(drover_fcgi_parser_t *p)
{
    memset(p, 0, sizeof(*p));
    p->state = ST_VERSION;
}


int
drover_fcgi_parser_idle(const drover_fcgi_parser_t *p)
{
    return p->state == ST_VERSION;
}


/*
 * The content lengths the spec fixes: FCGI_BEGIN_REQUEST (5.1),
 * FCGI_END_REQUEST (5.5) and FCGI_UNKNOWN_TYPE (4.2) carry an 8-byte body;
 * FCGI_ABORT_REQUEST (5.4) carries none.  Others take any length.
 */
static int
fcgi_content_length_valid(unsigned type, size_t len)
{
    switch (type) {
    case DROVER_FCGI_BEGIN_REQUEST:
    case DROVER_FCGI_END_REQUEST:
    case DROVER_FCGI_UNKNOWN_TYPE:
        return len == DROVER_FCGI_BODY_LEN;

    case DROVER_FCGI_ABORT_REQUEST:
        return len == 0;

    default:
        return 1;
    }
}


int
drover_fcgi_parse(drover_fcgi_parser_t *p, const uint8_t **pos,
    const uint8_t *end, drover_fcgi_event_t *ev)
{
    size_t          n;
    unsigned        ch;
    const uint8_t  *q;

    q = *pos;
    ev->data = NULL;
    ev->len = 0;

    for ( ;; ) {
        switch (p->state) {

        case ST_CONTENT:
            if (p->content_left == 0) {
                p->state = ST_PADDING_SKIP;
                break;
            }

            if (q == end) {
                *pos = q;
                return DROVER_FCGI_EV_AGAIN;
            }

            n = (size_t) (end - q);
            if (n > p->content_left) {
                n = p->content_left;
            }

            p->content_left -= n;
            ev->data = q;
            ev->len = n;
            *pos = q + n;
            return DROVER_FCGI_EV_CONTENT;

        case ST_PADDING_SKIP:
            n = (size_t) (end - q);
            if (n > p->padding_left) {
                n = p->padding_left;
            }

            q += n;
            p->padding_left -= (unsigned) n;

            if (p->padding_left != 0) {
                *pos = q;
                return DROVER_FCGI_EV_AGAIN;
            }

            p->state = ST_VERSION;
            *pos = q;
            return DROVER_FCGI_EV_END;

        case ST_ERROR:
            *pos = q;
            return p->version != DROVER_FCGI_VERSION_1 ? -EPROTO : -EBADMSG;

        default:
            /* the eight header bytes */
            if (q == end) {
                *pos = q;
                return DROVER_FCGI_EV_AGAIN;
            }

            ch = *q++;

            switch (p->state) {
            case ST_VERSION:
                p->version = ch;
                if (ch != DROVER_FCGI_VERSION_1) {
                    p->state = ST_ERROR;
                    *pos = q;
                    return -EPROTO;
                }
                p->state = ST_TYPE;
                break;

            case ST_TYPE:
                p->type = ch;
                p->state = ST_ID_HI;
                break;

            case ST_ID_HI:
                p->id_hi = ch;
                p->state = ST_ID_LO;
                break;

            case ST_ID_LO:
                p->request_id = (p->id_hi << 8) | ch;
                p->state = ST_LEN_HI;
                break;

            case ST_LEN_HI:
                p->len_hi = ch;
                p->state = ST_LEN_LO;
                break;

            case ST_LEN_LO:
                p->content_length = ((size_t) p->len_hi << 8) | ch;
                p->state = ST_PADDING;
                break;

            case ST_PADDING:
                p->padding_length = ch;
                p->state = ST_RESERVED;
                break;

            default: /* ST_RESERVED */
                if (!fcgi_content_length_valid(p->type, p->content_length)) {
                    p->state = ST_ERROR;
                    *pos = q;
                    return -EBADMSG;
                }

                p->content_left = p->content_length;
                p->padding_left = p->padding_length;
                p->state = ST_CONTENT;
                *pos = q;
                return DROVER_FCGI_EV_HEADER;
            }
        }
    }
}


int
drover_fcgi_pair_len_decode(const uint8_t *buf, size_t len, size_t *off,
    size_t *value)
{
    size_t  p;

    p = *off;

    if (p >= len) {
        return 0;
    }

    if ((buf[p] & 0x80) == 0) {
        *value = buf[p];
        *off = p + 1;
        return 1;
    }

    if (len - p < 4) {
        return 0;
    }

    *value = ((size_t) (buf[p] & 0x7f) << 24)
             | ((size_t) buf[p + 1] << 16)
             | ((size_t) buf[p + 2] << 8)
             | (size_t) buf[p + 3];
    *off = p + 4;

    return 1;
}


int
drover_fcgi_pair_decode(const uint8_t *buf, size_t len, size_t *off,
    size_t *name_len, size_t *value_len)
{
    size_t  p, l[2];

    p = *off;

    if (p >= len) {
        return 0;
    }

    if (!drover_fcgi_pair_len_decode(buf, len, &p, &l[0])
        || !drover_fcgi_pair_len_decode(buf, len, &p, &l[1]))
    {
        return -EBADMSG;
    }

    /* subtractions only: no sum of untrusted lengths can wrap */
    if (l[0] > len - p || l[1] > len - p - l[0]) {
        return -EBADMSG;
    }

    *name_len = l[0];
    *value_len = l[1];
    *off = p;

    return 1;
}


int
drover_fcgi_params_decode(uint8_t *buf, size_t len,
    drover_fcgi_param_t *params, size_t max, size_t *count)
{
    int     rc;
    size_t  in, out, n, name_len, value_len;

    *count = 0;

    if (len > DROVER_FCGI_PARAMS_MAX) {
        return -E2BIG;
    }

    in = 0;
    out = 0;
    n = 0;

    /*
     * Invariant: out <= in at the start of each pair.  A pair takes at
     * least 2 length bytes + name + value on the wire and exactly
     * name + 1 + value + 1 decoded, so the output never overtakes the input.
     */
    for ( ;; ) {
        rc = drover_fcgi_pair_decode(buf, len, &in, &name_len, &value_len);
        if (rc == 0) {
            break;
        }

        if (rc < 0) {
            return rc;
        }

        if (n == max) {
            return -E2BIG;
        }

        if (memchr(buf + in, '\0', name_len + value_len) != NULL) {
            return -EBADMSG;
        }

        memmove(buf + out, buf + in, name_len);
        params[n].name = (const char *) buf + out;
        params[n].name_len = (uint32_t) name_len;
        out += name_len;
        buf[out++] = '\0';

        memmove(buf + out, buf + in + name_len, value_len);
        params[n].value = (const char *) buf + out;
        params[n].value_len = (uint32_t) value_len;
        out += value_len;
        buf[out++] = '\0';

        in += name_len + value_len;
        n++;
    }

    *count = n;

    return 0;
}
