/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_frame_body.c -- the module's framing of a buffered request body into
 * FCGI_STDIN records (ngx_http_drover_frame_body), outside nginx, printing
 * TAP.
 *
 * Debian's nginx-dev has nginx's headers but no core objects, so, as the
 * fuzz harnesses do (fuzz/fuzz_ngx_slots.c), the module's file
 * ngx_http_drover_request.c is included whole and the linker drops what
 * frame_body does not reach (-ffunction-sections, --gc-sections).  The
 * few pool and chain functions it calls are defined here on malloc(), one
 * block per call, so that AddressSanitizer sees a write past any
 * allocation.
 *
 * Each case builds a body chain (memory buffers, file buffers of a temp
 * file, empty ones, special ones), frames it behind a 16-byte room as
 * ngx_http_drover_create_request leaves, then reads the chain back as the
 * bytes nginx would send and parses them as records: every STDIN record
 * but the last is non-empty (an empty one ends the stream, 5.3), padded to
 * 8, and together they carry the body exactly.
 */

#include "../ngx_http_drover_request.c"
#include "../ngx_http_drover_fcgi.c"

#include <stdio.h>
#include <stdlib.h>
#include "tap.h"


static void   *allocs[1 << 16];
static size_t  nallocs;


static void *
keep(void *p)
{
    if (p == NULL || nallocs == sizeof(allocs) / sizeof(allocs[0])) {
        fprintf(stderr, "test_frame_body: out of memory\n");
        exit(2);
    }

    allocs[nallocs++] = p;
    return p;
}


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    (void) pool;
    return keep(malloc(size ? size : 1));
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    (void) pool;
    return keep(malloc(size ? size : 1));
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    (void) pool;
    return keep(calloc(1, size ? size : 1));
}


ngx_chain_t *
ngx_alloc_chain_link(ngx_pool_t *pool)
{
    (void) pool;
    return keep(calloc(1, sizeof(ngx_chain_t)));
}


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    (void) level;
    (void) log;
    (void) err;
    (void) fmt;
}


static void
free_all(void)
{
    while (nallocs > 0) {
        free(allocs[--nallocs]);
    }
}


/* a piece of the body: 'm' memory, 'f' file, 's' special (last_buf) */
typedef struct {
    char    kind;
    size_t  len;
} piece_t;


static u_char  content[300000];
static int     content_fd = -1;


static ngx_chain_t *
make_body(const piece_t *pieces, size_t n, size_t *total)
{
    size_t        i, off;
    ngx_buf_t    *b;
    ngx_file_t   *file;
    ngx_chain_t  *head, **ll, *cl;

    head = NULL;
    ll = &head;
    off = 0;

    file = ngx_pcalloc(NULL, sizeof(ngx_file_t));
    file->fd = content_fd;

    for (i = 0; i < n; i++) {
        b = ngx_pcalloc(NULL, sizeof(ngx_buf_t));

        if (pieces[i].kind == 'm') {
            /* exactly its bytes: a read past them is caught */
            b->start = ngx_pnalloc(NULL, pieces[i].len);
            ngx_memcpy(b->start, content + off, pieces[i].len);
            b->pos = b->start;
            b->last = b->start + pieces[i].len;
            b->end = b->last;
            b->temporary = 1;

        } else if (pieces[i].kind == 'f') {
            b->in_file = 1;
            b->file = file;
            b->file_pos = (off_t) off;
            b->file_last = (off_t) (off + pieces[i].len);

        } else {
            b->last_buf = 1;
        }

        off += (pieces[i].kind == 's') ? 0 : pieces[i].len;

        cl = ngx_alloc_chain_link(NULL);
        cl->buf = b;
        *ll = cl;
        ll = &cl->next;
    }

    *total = off;
    return head;
}


/* the bytes the chain sends, file buffers read from content */
static u_char *
flatten(ngx_chain_t *cl, size_t *len)
{
    size_t   n, cap;
    u_char  *out;

    cap = 1024 * 1024;
    out = malloc(cap);
    *len = 0;

    for ( /* void */ ; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            n = (size_t) (cl->buf->file_last - cl->buf->file_pos);
            if (*len + n > cap) {
                break;
            }
            ngx_memcpy(out + *len, content + cl->buf->file_pos, n);

        } else {
            n = (size_t) (cl->buf->last - cl->buf->pos);
            if (*len + n > cap) {
                break;
            }
            ngx_memcpy(out + *len, cl->buf->pos, n);
        }

        *len += n;
    }

    return out;
}


/*
 * The records in p: STDIN only, each padded to 8, non-empty but the last,
 * their content equal to content[0 .. total).  NULL or what is wrong.
 */
static const char *
check_records(const u_char *p, size_t len, size_t total)
{
    size_t  pos, got, clen, plen;

    got = 0;

    for (pos = 0; pos + 8 <= len; pos += 8 + clen + plen) {
        if (p[pos] != 1 || p[pos + 1] != NGX_HTTP_DROVER_FCGI_STDIN) {
            return "a record that is not FCGI_STDIN";
        }

        clen = ((size_t) p[pos + 4] << 8) | p[pos + 5];
        plen = p[pos + 6];

        if (pos + 8 + clen + plen > len) {
            return "a record longer than what was sent";
        }

        if ((clen + plen) % 8 != 0) {
            return "a record not padded to 8";
        }

        if (clen == 0) {
            if (pos + 8 + plen != len) {
                return "an empty STDIN record before the end";
            }

            return got == total ? NULL : "the body's bytes differ in number";
        }

        if (got + clen > total
            || memcmp(p + pos + 8, content + got, clen) != 0)
        {
            return "the body's bytes differ";
        }

        got += clen;
    }

    return "no empty STDIN record at the end";
}


static void
run_case(const char *name, const piece_t *pieces, size_t n)
{
    char                 what[160];
    u_char              *bytes;
    size_t               total, len;
    ngx_int_t            rc;
    ngx_buf_t           *first;
    ngx_chain_t         *cl, *body;
    const char          *err;
    ngx_pool_t           pool;
    ngx_http_request_t   r;

    ngx_memzero(&r, sizeof(r));
    ngx_memzero(&pool, sizeof(pool));
    r.pool = &pool;

    body = make_body(pieces, n, &total);

    /* the head buffer: full but for the 16 bytes left for framing */
    first = ngx_pcalloc(NULL, sizeof(ngx_buf_t));
    first->start = ngx_pnalloc(NULL, 2 * NGX_HTTP_DROVER_FCGI_HEADER_LEN);
    first->pos = first->start;
    first->last = first->start;
    first->end = first->start + 2 * NGX_HTTP_DROVER_FCGI_HEADER_LEN;
    first->temporary = 1;

    cl = ngx_alloc_chain_link(NULL);
    cl->buf = first;
    cl->next = NULL;

    rc = ngx_http_drover_frame_body(&r, cl, body);

    snprintf(what, sizeof(what), "%s: framed", name);
    ok(rc == NGX_OK, what);

    bytes = flatten(cl, &len);
    err = check_records(bytes, len, total);

    snprintf(what, sizeof(what), "%s: %s", name,
             err ? err : "records carry the body exactly");
    ok(err == NULL, what);

    free(bytes);
    free_all();
}


int
main(void)
{
    size_t  i;
    FILE   *f;

    static const piece_t  empty[] = { { 'm', 0 } };
    static const piece_t  empty_then[] = { { 'm', 0 }, { 'm', 100 } };
    static const piece_t  middle[] = { { 'm', 100 }, { 'm', 0 },
                                       { 'm', 70000 } };
    static const piece_t  many[] = { { 'm', 0 }, { 'm', 0 }, { 'm', 0 },
                                     { 'm', 0 }, { 'm', 1 } };
    static const piece_t  files[] = { { 'f', 0 }, { 'f', 65528 },
                                      { 'f', 0 }, { 'f', 131057 } };
    static const piece_t  mixed[] = { { 'm', 7 }, { 'f', 0 }, { 's', 0 },
                                      { 'm', 0 }, { 'f', 65529 } };
    static const piece_t  plain[] = { { 'm', 65528 }, { 'm', 65529 },
                                      { 'f', 3 } };
    static const piece_t  special[] = { { 's', 0 } };

    setvbuf(stdout, NULL, _IOLBF, 0);

    for (i = 0; i < sizeof(content); i++) {
        content[i] = (u_char) (i * 131 + (i >> 9));
    }

    /* file buffers are read back from content; the fd only fills a field */
    f = tmpfile();
    if (f == NULL) {
        perror("tmpfile");
        return 2;
    }
    content_fd = fileno(f);

    run_case("one empty buffer", empty, 1);
    run_case("an empty buffer, then 100 bytes", empty_then, 2);
    run_case("an empty buffer between two", middle, 3);
    run_case("four empty buffers, then 1 byte", many, 5);
    run_case("empty file buffers", files, 4);
    run_case("memory, empty file, special, empty memory, file", mixed, 5);
    run_case("no empty buffer, records at the limit", plain, 3);
    run_case("only a special buffer", special, 1);

    fclose(f);

    return tap_done();
}
