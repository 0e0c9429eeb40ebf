/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * fuzz_ngx_slots.c -- the nginx module's reader of droverd's PATH.slots
 * (ngx_module/ngx_http_drover_slots.c: ngx_http_drover_dispatch_parse,
 * a static function; the format is docs/protocols.md, "The .slots file").
 *
 * The parser is static, so the harness includes the module's file whole
 * and calls it directly; the file's other functions, and the nginx
 * functions only they call, are dropped by the linker (clang
 * -ffunction-sections, lld --gc-sections).  Nothing in the file was
 * changed or exported for the fuzzer.  Debian's nginx-dev has nginx's
 * headers only, no sources to link, which is why the parser is reached
 * this way (see also fuzz_ngx_fcgi.c).
 *
 * The module reads the file into a stack buffer of
 * NGX_HTTP_DROVER_DISPATCH_FILE_MAX bytes and parses what read() gave;
 * the harness gives the parser an exact-size heap copy instead, so ASan
 * sees any read past the bytes read.
 *
 * The oracle: an accepted file has a slot count within
 * NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS and slots up or down with a pid
 * that is not negative (state past the count, left by an earlier
 * "slots" line, is never copied to the zone); the line number is within
 * the file; a rejected file says why in a non-empty message.
 */

#include "../ngx_module/ngx_http_drover_slots.c"


static void
fuzz_check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_ngx_slots: contract broken: %s\n", what);
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                             *err;
    u_char                           *buf;
    size_t                            i, lines;
    ngx_uint_t                        k, line;
    ngx_http_drover_dispatch_file_t   f;

    /* what the module would read: one read() into its buffer */
    if (size >= NGX_HTTP_DROVER_DISPATCH_FILE_MAX) {
        return 0;
    }

    buf = malloc(size != 0 ? size : 1);
    fuzz_check(buf != NULL, "out of memory");
    ngx_memcpy(buf, data, size);

    err = ngx_http_drover_dispatch_parse(buf, buf + size, &f, &line);

    for (lines = 1, i = 0; i < size; i++) {
        lines += (data[i] == '\n');
    }

    fuzz_check(line >= 1 && line <= lines, "line number past the file");

    if (err != NULL) {
        fuzz_check(err[0] != '\0', "an empty error message");

    } else {
        fuzz_check(f.nslots <= NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS,
                   "more slots than the zone holds");

        for (k = 0; k < f.nslots; k++) {
            fuzz_check(f.up[k] <= 1 && f.pid[k] >= 0,
                       "a slot neither up nor down, or a negative pid");
        }
    }

    free(buf);

    return 0;
}
