/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * fuzz_ngx_fcgi.c -- the nginx module's FastCGI response parser
 * (ngx_module/ngx_http_drover_fcgi.c: ngx_http_drover_fcgi_parse and
 * ngx_http_drover_fcgi_unread), built outside nginx.
 *
 * Why a harness and not nginx's own objects: Debian's nginx-dev ships
 * nginx's headers, not its sources, so there are no core objects to link.
 * The parser needs one nginx function, ngx_log_error_core(); the harness
 * defines it as a log sink that takes every argument the format names
 * (nginx's own conversions: %d %i %ui %uz %s %V ...) and reads the
 * strings, so that a format that does not match its arguments is caught
 * by ASan rather than passing silently.
 *
 * Input: two control bytes, then the bytes droverd sends back.
 *     byte 0  the read size (as nginx's reads would split the response):
 *             0 is one byte at a time, else byte * 31
 *     byte 1  after each piece of FCGI_STDOUT, give back that many bytes
 *             of it (mod the piece's length) with fcgi_unread(), as the
 *             module does at the end of the CGI header; 0: never
 *
 * The oracle: parsed whole, in one buffer, and parsed in pieces with
 * give-backs, the response yields the same STDOUT and STDERR bytes and
 * the same outcome (more needed, END_REQUEST, or an error); every piece
 * points into the bytes fed.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_drover_fcgi.h"


typedef struct {
    u_char      *data;
    size_t       len;
    size_t       cap;
} fuzz_log_t;


static ngx_log_t  fuzz_ngx_log;


static void
fuzz_check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_ngx_fcgi: contract broken: %s\n", what);
        abort();
    }
}


/* the log sink: consumes the arguments as ngx_vslprintf() would */

void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    size_t        n;
    va_list       args;
    ngx_str_t    *v;
    const char   *f;
    u_char       *s;
    volatile u_char  sink;

    (void) level;
    (void) log;
    (void) err;

    sink = 0;
    va_start(args, fmt);

    for (f = fmt; *f != '\0'; f++) {
        if (*f != '%') {
            continue;
        }

        f++;

        while (*f == '0' || *f == 'u' || *f == 'x' || *f == 'X'
               || *f == 'm' || *f == 'l' || *f == '*' || *f == '.'
               || (*f >= '1' && *f <= '9'))
        {
            if (*f == '*') {
                (void) va_arg(args, size_t);
            }
            f++;
        }

        switch (*f) {
        case 'V':
            v = va_arg(args, ngx_str_t *);
            for (n = 0; n < v->len; n++) {
                sink ^= v->data[n];
            }
            break;

        case 's':
            for (s = va_arg(args, u_char *); *s != '\0'; s++) {
                sink ^= *s;
            }
            break;

        case 'd':
        case 'c':
            (void) va_arg(args, int);
            break;

        case 'i':
        case 'z':
        case 'O':
        case 'T':
        case 'M':
        case 'P':
        case 'p':
        case 'A':
        case 'D':
            (void) va_arg(args, ngx_int_t);
            break;

        case 'f':
            (void) va_arg(args, double);
            break;

        case '%':
        case '\0':
            break;

        default:
            fprintf(stderr, "fuzz_ngx_fcgi: log format \"%s\": unknown "
                    "conversion '%c': teach the harness\n", fmt, *f);
            abort();
        }

        if (*f == '\0') {
            break;
        }
    }

    va_end(args);
    (void) sink;
}


static void
fuzz_log_add(fuzz_log_t *l, const void *data, size_t len)
{
    u_char  *p;

    if (l->len + len > l->cap) {
        l->cap = (l->len + len) * 2 + 256;
        p = realloc(l->data, l->cap);
        fuzz_check(p != NULL, "out of memory");
        l->data = p;
    }

    if (len != 0) {
        memcpy(l->data + l->len, data, len);
        l->len += len;
    }
}


/*
 * Parse in[0..len) in reads of `step` bytes; STDOUT goes to out, STDERR
 * to err, the outcome (NGX_AGAIN, NGX_DONE, NGX_ERROR) is returned.
 * A read's unparsed bytes stay in front of the next read, as they stay in
 * nginx's upstream buffer.
 */
static ngx_int_t
fuzz_parse(u_char *in, size_t len, size_t step, size_t give_back,
    fuzz_log_t *out, fuzz_log_t *err)
{
    size_t                          k;
    u_char                         *pos, *last;
    ngx_int_t                       rc;
    ngx_str_t                       piece;
    ngx_http_drover_fcgi_parser_t   p;

    ngx_memzero(&p, sizeof(p));
    pos = in;

    for (last = in; last < in + len; ) {
        last = (size_t) (in + len - last) > step ? last + step : in + len;

        for ( ;; ) {
            rc = ngx_http_drover_fcgi_parse(&p, &pos, last, &piece,
                                            &fuzz_ngx_log);

            fuzz_check(pos >= in && pos <= last, "*pos left the input");

            if (rc == NGX_AGAIN) {
                fuzz_check(pos == last, "NGX_AGAIN with input left");
                break;
            }

            if (rc == NGX_DONE) {
                fuzz_check(p.end_request, "NGX_DONE without end_request");
                return NGX_DONE;
            }

            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            fuzz_check(rc == NGX_OK, "unknown return code");
            fuzz_check(piece.data >= in && piece.data + piece.len <= last
                       && piece.data + piece.len == pos,
                       "a piece outside the bytes fed");

            if (p.type == NGX_HTTP_DROVER_FCGI_STDERR) {
                fuzz_log_add(err, piece.data, piece.len);
                continue;
            }

            fuzz_check(p.type == NGX_HTTP_DROVER_FCGI_STDOUT,
                       "a piece of neither STDOUT nor STDERR");

            if (give_back == 0 || piece.len == 0) {
                fuzz_log_add(out, piece.data, piece.len);
                continue;
            }

            /* keep the head, give the tail back: it comes again */
            k = give_back % piece.len;      /* < len: progress */
            fuzz_log_add(out, piece.data, piece.len - k);
            ngx_http_drover_fcgi_unread(&p, k);
            pos -= k;
        }
    }

    return NGX_AGAIN;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t       step, len;
    u_char      *in;
    ngx_int_t    rc1, rc2;
    fuzz_log_t   out1, err1, out2, err2;

    if (size < 2) {
        return 0;
    }

    step = data[0] == 0 ? 1 : (size_t) data[0] * 31;

    len = size - 2;
    in = malloc(len != 0 ? len : 1);
    fuzz_check(in != NULL, "out of memory");
    memcpy(in, data + 2, len);

    ngx_memzero(&out1, sizeof(fuzz_log_t));
    ngx_memzero(&err1, sizeof(fuzz_log_t));
    ngx_memzero(&out2, sizeof(fuzz_log_t));
    ngx_memzero(&err2, sizeof(fuzz_log_t));

    fuzz_ngx_log.log_level = NGX_LOG_DEBUG;

    rc1 = fuzz_parse(in, len, len != 0 ? len : 1, 0, &out1, &err1);
    rc2 = fuzz_parse(in, len, step, data[1], &out2, &err2);

    fuzz_check(rc1 == rc2, "a split response had another outcome");

    /* errors are found at record headers: the content before is whole */
    fuzz_check(out1.len == out2.len
               && (out1.len == 0
                   || memcmp(out1.data, out2.data, out1.len) == 0),
               "a split response gave other STDOUT bytes");
    fuzz_check(err1.len == err2.len
               && (err1.len == 0
                   || memcmp(err1.data, err2.data, err1.len) == 0),
               "a split response gave other STDERR bytes");

    free(out1.data);
    free(err1.data);
    free(out2.data);
    free(err2.data);
    free(in);

    return 0;
}


/* the module's parser itself, compiled with the harness's flags */
#include "../ngx_module/ngx_http_drover_fcgi.c"
