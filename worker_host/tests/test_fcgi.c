/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_fcgi.c -- the FastCGI codec (fcgi.c): encoders, the resumable
 * record parser fed every split of its input, the bounded pair decoder.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"
#include "tap.h"


typedef struct {
    uint8_t  *data;
    size_t    len;
    size_t    cap;
} buf_t;


static void
buf_add(buf_t *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2 + 64;
        b->data = realloc(b->data, b->cap);
        if (b->data == NULL) {
            abort();
        }
    }

    if (len != 0) {
        memcpy(b->data + b->len, data, len);
        b->len += len;
    }
}


static void
buf_record(buf_t *b, unsigned type, unsigned id, const void *content,
    size_t len, unsigned pad)
{
    uint8_t  h[DROVER_FCGI_HEADER_LEN];
    uint8_t  zeros[256];

    memset(zeros, 0xaa, sizeof(zeros));   /* padding content is ignored */
    drover_fcgi_header_encode(h, type, id, len, pad);
    buf_add(b, h, sizeof(h));
    buf_add(b, content, len);
    buf_add(b, zeros, pad);
}


/*
 * Feed `in` in pieces: [0, split) then [split, len), each piece in steps of
 * at most `step` bytes; log every event canonically.  Returns the last
 * parser result (< 0 on error).
 */
static int
parse_log(const uint8_t *in, size_t len, size_t split, size_t step,
    buf_t *log)
{
    int                   rc;
    char                  line[64];
    size_t                off, n;
    const uint8_t        *pos, *end;
    drover_fcgi_parser_t  p;
    drover_fcgi_event_t   ev;

    drover_fcgi_parser_init(&p);
    off = 0;
    rc = 0;

    while (off < len) {
        n = len - off;
        if (off < split && n > split - off) {
            n = split - off;
        }
        if (n > step) {
            n = step;
        }

        pos = in + off;
        end = pos + n;

        for ( ;; ) {
            rc = drover_fcgi_parse(&p, &pos, end, &ev);
            if (rc < 0) {
                snprintf(line, sizeof(line), "error %d;", rc);
                buf_add(log, line, strlen(line));
                return rc;
            }

            if (rc == DROVER_FCGI_EV_AGAIN) {
                break;
            }

            if (rc == DROVER_FCGI_EV_HEADER) {
                snprintf(line, sizeof(line), "H%u,%u,%zu,%u;", p.type,
                         p.request_id, p.content_length, p.padding_length);
                buf_add(log, line, strlen(line));

            } else if (rc == DROVER_FCGI_EV_CONTENT) {
                buf_add(log, ev.data, ev.len);

            } else {
                buf_add(log, "E;", 2);
            }
        }

        if (pos != end) {
            return -1000;
        }

        off += n;
    }

    /* a record with nothing after its header ends with no more input */
    pos = end = in + len;
    while ((rc = drover_fcgi_parse(&p, &pos, end, &ev)) > 0) {
        if (rc == DROVER_FCGI_EV_END) {
            buf_add(log, "E;", 2);
        }
    }

    buf_add(log, drover_fcgi_parser_idle(&p) ? "idle" : "busy", 4);

    return rc;
}


static void
test_encoders(void)
{
    uint8_t  b[8], l[4];
    uint8_t  out[64];

    drover_fcgi_header_encode(b, DROVER_FCGI_STDOUT, 0x1234, 65535, 255);
    ASSERT_TRUE(memcmp(b, "\x01\x06\x12\x34\xff\xff\xff\x00", 8) == 0,
                "header: version, type, id and length big-endian");

    drover_fcgi_begin_request_encode(b, DROVER_FCGI_RESPONDER,
                                     DROVER_FCGI_KEEP_CONN);
    ASSERT_TRUE(memcmp(b, "\x00\x01\x01\x00\x00\x00\x00\x00", 8) == 0,
                "begin_request body");

    drover_fcgi_end_request_encode(b, 0x01020304, DROVER_FCGI_OVERLOADED);
    ASSERT_TRUE(memcmp(b, "\x01\x02\x03\x04\x02\x00\x00\x00", 8) == 0,
                "end_request body");

    drover_fcgi_unknown_type_encode(b, 42);
    ASSERT_TRUE(memcmp(b, "\x2a\x00\x00\x00\x00\x00\x00\x00", 8) == 0,
                "unknown_type body");

    ASSERT_EQ(drover_fcgi_padding(0), 0, "padding of 0");
    ASSERT_EQ(drover_fcgi_padding(1), 7, "padding of 1");
    ASSERT_EQ(drover_fcgi_padding(65528), 0, "padding of 65528");
    ASSERT_EQ(drover_fcgi_padding(65535), 1, "padding of 65535");

    ASSERT_EQ(drover_fcgi_pair_len_encode(l, 0), 1, "length 0: 1 byte");
    ASSERT_EQ(drover_fcgi_pair_len_encode(l, 127), 1, "length 127: 1 byte");
    ASSERT_EQ(l[0], 127, "length 127 encoded");
    ASSERT_EQ(drover_fcgi_pair_len_encode(l, 128), 4, "length 128: 4 bytes");
    ASSERT_TRUE(memcmp(l, "\x80\x00\x00\x80", 4) == 0, "length 128 encoded");
    ASSERT_EQ(drover_fcgi_pair_len_encode(l, 65535), 4, "length 65535");
    ASSERT_TRUE(memcmp(l, "\x80\x00\xff\xff", 4) == 0,
                "length 65535 encoded");
    ASSERT_EQ(drover_fcgi_pair_len_encode(l, 65536), 4, "length 65536");
    ASSERT_TRUE(memcmp(l, "\x80\x01\x00\x00", 4) == 0,
                "length 65536 encoded");
    ASSERT_EQ(drover_fcgi_pair_len_encode(l, 0x7fffffff), 4,
              "length 0x7fffffff: 4 bytes");
    ASSERT_TRUE(memcmp(l, "\xff\xff\xff\xff", 4) == 0,
                "length 0x7fffffff encoded");
    ASSERT_EQ(drover_fcgi_pair_len_encode(l, 0x80000000u), 0,
              "length 0x80000000 refused");

    ASSERT_EQ(drover_fcgi_pair_encode(out, sizeof(out), "A", 1, "bc", 2), 5,
              "pair encoded");
    ASSERT_TRUE(memcmp(out, "\x01\x02" "Abc", 5) == 0, "pair bytes");
    ASSERT_EQ(drover_fcgi_pair_encode(out, 4, "A", 1, "bc", 2), 0,
              "pair that does not fit refused");
}


static void
test_pair_decode(void)
{
    int       rc;
    size_t    off, nl, vl, n;
    uint8_t   b[600];
    char      name[200];

    /* name 127 (1 byte), value 128 (4 bytes) */
    memset(b, 'x', sizeof(b));
    b[0] = 127;
    memcpy(b + 1, "\x80\x00\x00\x80", 4);
    off = 0;
    rc = drover_fcgi_pair_decode(b, 5 + 127 + 128, &off, &nl, &vl);
    ASSERT_EQ(rc, 1, "127/128 pair decoded");
    ASSERT_EQ(nl, 127, "name length 127");
    ASSERT_EQ(vl, 128, "value length 128");
    ASSERT_EQ(off, 5, "name right after the lengths");

    off = 0;
    rc = drover_fcgi_pair_decode(b, 5 + 127 + 127, &off, &nl, &vl);
    ASSERT_EQ(rc, -EBADMSG, "value one byte short rejected");

    /* 4-byte lengths cut at each byte */
    for (n = 1; n < 5; n++) {
        off = 0;
        rc = drover_fcgi_pair_decode(b, n, &off, &nl, &vl);
        ASSERT_EQ(rc, -EBADMSG, "lengths cut short rejected");
    }

    /* 0x7fffffff and friends: only what the buffer holds is accepted */
    memcpy(b, "\xff\xff\xff\xff\x00", 5);
    off = 0;
    ASSERT_EQ(drover_fcgi_pair_decode(b, sizeof(b), &off, &nl, &vl),
              -EBADMSG, "name length 0x7fffffff past the buffer rejected");

    memcpy(b, "\x00\xff\xff\xff\xff", 5);
    off = 0;
    ASSERT_EQ(drover_fcgi_pair_decode(b, sizeof(b), &off, &nl, &vl),
              -EBADMSG, "value length 0x7fffffff past the buffer rejected");

    memcpy(b, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
    off = 0;
    ASSERT_EQ(drover_fcgi_pair_decode(b, sizeof(b), &off, &nl, &vl),
              -EBADMSG, "both 0x7fffffff: no wrap-around");

    off = sizeof(b);
    ASSERT_EQ(drover_fcgi_pair_decode(b, sizeof(b), &off, &nl, &vl), 0,
              "end of buffer");

    /* a 65536-byte value: 4-byte length, exactly fits */
    memset(name, 'N', sizeof(name));
    {
        uint8_t  *v = malloc(65536 + 16);
        char     *val = malloc(65536);
        size_t    len;

        memset(val, 'v', 65536);
        len = drover_fcgi_pair_encode(v, 65536 + 16, name, 3, val,
                                      65536 - 16);
        free(val);
        ASSERT_EQ(len, 1 + 4 + 3 + 65536 - 16, "65520-byte value encoded");
        off = 0;
        rc = drover_fcgi_pair_decode(v, len, &off, &nl, &vl);
        ASSERT_TRUE(rc == 1 && nl == 3 && vl == 65536 - 16,
                    "65520-byte value decoded");
        free(v);
    }
}


static void
test_params_decode(void)
{
    int                   rc;
    size_t                n, i, len;
    uint8_t               b[1024];
    uint8_t              *big;
    char                  name[16], value[200];
    drover_fcgi_param_t   params[DROVER_FCGI_PARAMS_COUNT_MAX];

    len = 0;
    len += drover_fcgi_pair_encode(b + len, sizeof(b) - len,
                                   "REQUEST_METHOD", 14, "GET", 3);
    memset(value, 'q', sizeof(value));
    len += drover_fcgi_pair_encode(b + len, sizeof(b) - len, "QUERY_STRING",
                                   12, value, 150);
    len += drover_fcgi_pair_encode(b + len, sizeof(b) - len, "EMPTY", 5,
                                   "", 0);

    rc = drover_fcgi_params_decode(b, len, params, 16, &n);
    ASSERT_EQ(rc, 0, "params decoded");
    ASSERT_EQ(n, 3, "three params");
    ASSERT_STR_EQ(params[0].name, "REQUEST_METHOD", "first name");
    ASSERT_STR_EQ(params[0].value, "GET", "first value");
    ASSERT_EQ(params[1].value_len, 150, "150-byte value (4-byte length)");
    ASSERT_TRUE(strlen(params[1].value) == 150
                && params[1].value[0] == 'q', "long value NUL-terminated");
    ASSERT_STR_EQ(params[2].name, "EMPTY", "empty value's name");
    ASSERT_STR_EQ(params[2].value, "", "empty value");

    rc = drover_fcgi_params_decode(b, 0, params, 16, &n);
    ASSERT_TRUE(rc == 0 && n == 0, "empty stream: no params");

    /* NUL in a name or value */
    len = drover_fcgi_pair_encode(b, sizeof(b), "A\0B", 3, "v", 1);
    ASSERT_EQ(drover_fcgi_params_decode(b, len, params, 16, &n), -EBADMSG,
              "NUL in a name rejected");
    len = drover_fcgi_pair_encode(b, sizeof(b), "A", 1, "v\0", 2);
    ASSERT_EQ(drover_fcgi_params_decode(b, len, params, 16, &n), -EBADMSG,
              "NUL in a value rejected");

    /* truncated pair */
    len = drover_fcgi_pair_encode(b, sizeof(b), "NAME", 4, "value", 5);
    ASSERT_EQ(drover_fcgi_params_decode(b, len - 1, params, 16, &n),
              -EBADMSG, "truncated pair rejected");

    /* too many pairs */
    big = malloc(DROVER_FCGI_PARAMS_MAX);
    len = 0;
    for (i = 0; i < DROVER_FCGI_PARAMS_COUNT_MAX + 1; i++) {
        snprintf(name, sizeof(name), "P%zu", i);
        len += drover_fcgi_pair_encode(big + len, DROVER_FCGI_PARAMS_MAX - len,
                                       name, strlen(name), "1", 1);
    }

    ASSERT_EQ(drover_fcgi_params_decode(big, len, params,
                                        DROVER_FCGI_PARAMS_COUNT_MAX, &n),
              -E2BIG, "1025 pairs rejected");

    /* exactly the maximum count is fine (re-encode: decoding is in place) */
    len = 0;
    for (i = 0; i < DROVER_FCGI_PARAMS_COUNT_MAX; i++) {
        snprintf(name, sizeof(name), "P%zu", i);
        len += drover_fcgi_pair_encode(big + len, DROVER_FCGI_PARAMS_MAX - len,
                                       name, strlen(name), "1", 1);
    }

    rc = drover_fcgi_params_decode(big, len, params,
                                   DROVER_FCGI_PARAMS_COUNT_MAX, &n);
    ASSERT_TRUE(rc == 0 && n == DROVER_FCGI_PARAMS_COUNT_MAX
                && strcmp(params[1023].name, "P1023") == 0,
                "1024 pairs accepted");

    ASSERT_EQ(drover_fcgi_params_decode(big, DROVER_FCGI_PARAMS_MAX + 1,
                                        params, 16, &n),
              -E2BIG, "stream past DROVER_FCGI_PARAMS_MAX rejected");

    free(big);
}


static void
test_get_values(void)
{
    int      n;
    uint8_t  q[128], out[128];
    size_t   len;

    drover_fcgi_value_t  values[] = {
        { "FCGI_MAX_CONNS", "1024" },
        { "FCGI_MAX_REQS", "1024" },
        { "FCGI_MPXS_CONNS", "0" },
    };

    len = 0;
    len += drover_fcgi_pair_encode(q + len, sizeof(q) - len,
                                   "FCGI_MPXS_CONNS", 15, "", 0);
    len += drover_fcgi_pair_encode(q + len, sizeof(q) - len, "NOPE", 4, "",
                                   0);
    len += drover_fcgi_pair_encode(q + len, sizeof(q) - len,
                                   "FCGI_MAX_CONNS", 14, "", 0);

    n = drover_fcgi_get_values_result(q, len, values, 3, out, sizeof(out));
    ASSERT_EQ(n, 2 + 15 + 1 + 2 + 14 + 4, "get_values_result length");
    ASSERT_TRUE(n > 0 && memcmp(out, "\x0f\x01" "FCGI_MPXS_CONNS0"
                                "\x0e\x04" "FCGI_MAX_CONNS1024", (size_t) n)
                == 0, "only the names asked, in order");

    ASSERT_EQ(drover_fcgi_get_values_result(q, len - 1, values, 3, out,
                                            sizeof(out)),
              -EBADMSG, "malformed query rejected");
    ASSERT_EQ(drover_fcgi_get_values_result(q, len, values, 3, out, 10),
              -ENOBUFS, "small output refused");
    ASSERT_EQ(drover_fcgi_get_values_result(q, 0, values, 3, out,
                                            sizeof(out)),
              0, "empty query, empty result");
}


static void
test_parser_splits(void)
{
    int       rc, same;
    size_t    split;
    buf_t     in = { 0 }, whole = { 0 }, log = { 0 };
    uint8_t   body[8], params[300];
    char      value[130];
    size_t    plen;

    drover_fcgi_begin_request_encode(body, DROVER_FCGI_RESPONDER,
                                     DROVER_FCGI_KEEP_CONN);
    buf_record(&in, DROVER_FCGI_BEGIN_REQUEST, 1, body, 8, 0);

    memset(value, 'p', sizeof(value));
    plen = drover_fcgi_pair_encode(params, sizeof(params), "NAME", 4,
                                   value, 130);
    buf_record(&in, DROVER_FCGI_PARAMS, 1, params, 20, 5);
    buf_record(&in, DROVER_FCGI_PARAMS, 1, params + 20, plen - 20, 255);
    buf_record(&in, DROVER_FCGI_PARAMS, 1, NULL, 0, 0);
    buf_record(&in, DROVER_FCGI_STDIN, 1, "hello", 5, 3);
    buf_record(&in, DROVER_FCGI_GET_VALUES, 0, NULL, 0, 7);
    buf_record(&in, DROVER_FCGI_STDIN, 0xfffe, "x", 1, 0);
    buf_record(&in, DROVER_FCGI_ABORT_REQUEST, 1, NULL, 0, 0);
    buf_record(&in, DROVER_FCGI_STDIN, 1, NULL, 0, 0);

    rc = parse_log(in.data, in.len, in.len, in.len, &whole);
    ASSERT_EQ(rc, 0, "stream parsed whole");

    same = 1;
    for (split = 0; split <= in.len; split++) {
        log.len = 0;
        rc = parse_log(in.data, in.len, split, in.len, &log);
        if (rc != 0 || log.len != whole.len
            || memcmp(log.data, whole.data, log.len) != 0)
        {
            same = 0;
            printf("# differs when split at %zu\n", split);
            break;
        }
    }

    ASSERT_TRUE(same, "split at every byte position: same events");

    log.len = 0;
    rc = parse_log(in.data, in.len, in.len, 1, &log);
    ASSERT_TRUE(rc == 0 && log.len == whole.len
                && memcmp(log.data, whole.data, log.len) == 0,
                "fed one byte at a time: same events");

    ASSERT_TRUE(whole.len > 4
                && memcmp(whole.data + whole.len - 4, "idle", 4) == 0,
                "parser idle after the last record");

    free(in.data);
    free(whole.data);
    free(log.data);
}


static void
test_parser_big_records(void)
{
    int       rc;
    buf_t     in = { 0 }, whole = { 0 }, log = { 0 };
    uint8_t  *content;
    size_t    i;

    content = malloc(65535);
    for (i = 0; i < 65535; i++) {
        content[i] = (uint8_t) (i * 7 + 3);
    }

    buf_record(&in, DROVER_FCGI_STDIN, 3, content, 65535, 1);
    buf_record(&in, DROVER_FCGI_STDOUT, 3, content, 65528, 0);
    buf_record(&in, DROVER_FCGI_STDERR, 3, content, 127, 255);

    rc = parse_log(in.data, in.len, in.len, in.len, &whole);
    ASSERT_EQ(rc, 0, "65535-byte records parsed");
    ASSERT_TRUE(whole.len > 20 && memcmp(whole.data, "H5,3,65535,1;", 13)
                == 0 && memcmp(whole.data + 13, content, 65535) == 0,
                "65535-byte content intact, length read big-endian");

    log.len = 0;
    rc = parse_log(in.data, in.len, in.len, 1, &log);
    ASSERT_TRUE(rc == 0 && log.len == whole.len
                && memcmp(log.data, whole.data, log.len) == 0,
                "65535-byte records fed one byte at a time");

    for (i = 1; i < in.len; i += 4099) {
        log.len = 0;
        rc = parse_log(in.data, in.len, i, 997, &log);
        if (rc != 0 || log.len != whole.len
            || memcmp(log.data, whole.data, log.len) != 0)
        {
            break;
        }
    }

    ASSERT_TRUE(i >= in.len, "65535-byte records at odd splits");

    free(content);
    free(in.data);
    free(whole.data);
    free(log.data);
}


static void
test_parser_hostile(void)
{
    int                   rc;
    uint8_t               r[32];
    const uint8_t        *pos;
    drover_fcgi_parser_t  p;
    drover_fcgi_event_t   ev;

    /* version 2 */
    memcpy(r, "\x02\x01\x00\x01\x00\x08\x00\x00", 8);
    drover_fcgi_parser_init(&p);
    pos = r;
    rc = drover_fcgi_parse(&p, &pos, r + 8, &ev);
    ASSERT_EQ(rc, -EPROTO, "version 2 rejected");
    ASSERT_EQ(pos - r, 1, "at the first byte");
    rc = drover_fcgi_parse(&p, &pos, r + 8, &ev);
    ASSERT_EQ(rc, -EPROTO, "error is sticky");

    /* version 0 */
    memcpy(r, "\x00\x01\x00\x01\x00\x08\x00\x00", 8);
    drover_fcgi_parser_init(&p);
    pos = r;
    ASSERT_EQ(drover_fcgi_parse(&p, &pos, r + 8, &ev), -EPROTO,
              "version 0 rejected");

    /* BEGIN_REQUEST with 9 bytes, 0 bytes, 0xffff bytes */
    drover_fcgi_header_encode(r, DROVER_FCGI_BEGIN_REQUEST, 1, 9, 0);
    drover_fcgi_parser_init(&p);
    pos = r;
    ASSERT_EQ(drover_fcgi_parse(&p, &pos, r + 8, &ev), -EBADMSG,
              "begin_request of 9 bytes rejected");

    drover_fcgi_header_encode(r, DROVER_FCGI_BEGIN_REQUEST, 1, 65535, 255);
    drover_fcgi_parser_init(&p);
    pos = r;
    ASSERT_EQ(drover_fcgi_parse(&p, &pos, r + 8, &ev), -EBADMSG,
              "begin_request of 65535 bytes rejected");

    drover_fcgi_header_encode(r, DROVER_FCGI_ABORT_REQUEST, 1, 1, 0);
    drover_fcgi_parser_init(&p);
    pos = r;
    ASSERT_EQ(drover_fcgi_parse(&p, &pos, r + 8, &ev), -EBADMSG,
              "abort_request with content rejected");

    drover_fcgi_header_encode(r, DROVER_FCGI_END_REQUEST, 1, 4, 0);
    drover_fcgi_parser_init(&p);
    pos = r;
    ASSERT_EQ(drover_fcgi_parse(&p, &pos, r + 8, &ev), -EBADMSG,
              "end_request of 4 bytes rejected");

    /* unknown type 200 with full lengths: just a record */
    drover_fcgi_header_encode(r, 200, 0xffff, 65535, 255);
    drover_fcgi_parser_init(&p);
    pos = r;
    rc = drover_fcgi_parse(&p, &pos, r + 8, &ev);
    ASSERT_TRUE(rc == DROVER_FCGI_EV_HEADER && p.type == 200
                && p.request_id == 0xffff && p.content_length == 65535
                && p.padding_length == 255,
                "type 200, id 0xffff, 65535 + 255 bytes: parsed");
    ASSERT_EQ(drover_fcgi_parse(&p, &pos, r + 8, &ev), DROVER_FCGI_EV_AGAIN,
              "then wants content");
    ASSERT_TRUE(!drover_fcgi_parser_idle(&p), "parser busy mid-record");

    /* the reserved byte is ignored */
    memcpy(r, "\x01\x05\x00\x01\x00\x00\x00\xff", 8);
    drover_fcgi_parser_init(&p);
    pos = r;
    ASSERT_EQ(drover_fcgi_parse(&p, &pos, r + 8, &ev),
              DROVER_FCGI_EV_HEADER, "reserved byte ignored");
    ASSERT_EQ(drover_fcgi_parse(&p, &pos, r + 8, &ev), DROVER_FCGI_EV_END,
              "empty record ends without more input");
}


int
main(void)
{
    test_encoders();
    test_pair_decode();
    test_params_decode();
    test_get_values();
    test_parser_splits();
    test_parser_big_records();
    test_parser_hostile();

    return tap_done();
}
