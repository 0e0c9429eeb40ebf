/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * fuzz_fcgi_parse.c -- droverd's resumable FastCGI record parser
 * (worker_host/src/fcgi.c: drover_fcgi_parse).
 *
 * Input: one control byte, then the byte stream a front end sends.  The
 * stream is parsed twice: whole, then in pieces of a size taken from the
 * control byte (0 means one byte at a time).  Besides the sanitizers, the
 * oracle is fcgi.h's own contract: any split of the input gives the same
 * events, content pieces point into the input just fed, a record's pieces
 * add up to its content length, and the parser is idle after EV_END.
 * A broken contract aborts, which libFuzzer reports as a crash.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"


typedef struct {
    uint8_t  *data;
    size_t    len;
    size_t    cap;
} fuzz_log_t;


static void
fuzz_log_add(fuzz_log_t *l, const void *data, size_t len)
{
    uint8_t  *p;

    if (l->len + len > l->cap) {
        l->cap = (l->len + len) * 2 + 256;
        p = realloc(l->data, l->cap);
        if (p == NULL) {
            abort();
        }
        l->data = p;
    }

    if (len != 0) {
        memcpy(l->data + l->len, data, len);
        l->len += len;
    }
}


static void
fuzz_check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_fcgi_parse: contract broken: %s\n", what);
        abort();
    }
}


/*
 * Parse in[0..len) in pieces of `step` bytes; write the events to l in a
 * canonical form (content is logged as bytes, whatever the split).
 */
static void
fuzz_parse(const uint8_t *in, size_t len, size_t step, fuzz_log_t *l)
{
    int                   rc;
    char                  line[96];
    size_t                off, n, got;
    const uint8_t        *pos, *end;
    drover_fcgi_parser_t  p;
    drover_fcgi_event_t   ev;

    drover_fcgi_parser_init(&p);
    got = 0;
    rc = 0;

    for (off = 0; off < len || off == 0; off += n) {
        n = len - off < step ? len - off : step;
        pos = in + off;
        end = pos + n;

        for ( ;; ) {
            rc = drover_fcgi_parse(&p, &pos, end, &ev);
            fuzz_check(pos >= in + off && pos <= end, "*pos left the input");

            if (rc < 0) {
                snprintf(line, sizeof(line), "error %d;", rc);
                fuzz_log_add(l, line, strlen(line));
                fuzz_check(rc == -EPROTO || rc == -EBADMSG, "error code");

                /* errors are sticky */
                fuzz_check(drover_fcgi_parse(&p, &pos, end, &ev) == rc,
                           "an error was not sticky");
                return;
            }

            if (rc == DROVER_FCGI_EV_AGAIN) {
                fuzz_check(pos == end, "EV_AGAIN with input left");
                break;
            }

            if (rc == DROVER_FCGI_EV_HEADER) {
                fuzz_check(p.content_length <= DROVER_FCGI_MAX_CONTENT
                           && p.padding_length <= DROVER_FCGI_MAX_PADDING,
                           "header lengths out of range");
                snprintf(line, sizeof(line), "H%u,%u,%zu,%u;", p.type,
                         p.request_id, p.content_length, p.padding_length);
                fuzz_log_add(l, line, strlen(line));
                got = 0;

            } else if (rc == DROVER_FCGI_EV_CONTENT) {
                fuzz_check(ev.len > 0 && ev.data >= in + off
                           && ev.data + ev.len <= end
                           && ev.data + ev.len == pos,
                           "content piece outside the input fed");
                got += ev.len;
                fuzz_check(got <= p.content_length,
                           "more content than the header said");
                fuzz_log_add(l, ev.data, ev.len);

            } else {
                fuzz_check(rc == DROVER_FCGI_EV_END, "unknown event");
                fuzz_check(got == p.content_length,
                           "a record ended short of its content length");
                fuzz_check(drover_fcgi_parser_idle(&p),
                           "not idle after EV_END");
                fuzz_log_add(l, "E;", 2);
            }
        }

        if (len == 0) {
            break;
        }
    }

    fuzz_log_add(l, drover_fcgi_parser_idle(&p) ? "idle" : "busy", 4);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t       step, len;
    uint8_t     *in;
    fuzz_log_t   whole, split;

    if (size < 1) {
        return 0;
    }

    step = (size_t) data[0] * 37;
    if (step == 0) {
        step = 1;
    }

    /* an exact-size copy: ASan sees any read past the end */
    len = size - 1;
    in = malloc(len != 0 ? len : 1);
    if (in == NULL) {
        abort();
    }
    memcpy(in, data + 1, len);

    memset(&whole, 0, sizeof(whole));
    memset(&split, 0, sizeof(split));

    fuzz_parse(in, len, len != 0 ? len : 1, &whole);
    fuzz_parse(in, len, step, &split);

    fuzz_check(whole.len == split.len
               && (whole.len == 0
                   || memcmp(whole.data, split.data, whole.len) == 0),
               "a split input gave other events than the whole");

    free(whole.data);
    free(split.data);
    free(in);

    return 0;
}
