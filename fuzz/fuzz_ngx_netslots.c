/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * fuzz_ngx_netslots.c -- the nginx module's reader of droverd's network
 * slots answer (ngx_module/ngx_http_drover_group_probe.c:
 * ngx_http_drover_group_parse, a static function; the format is
 * docs/fastcgi.md, "The network slots endpoint": what a host on the
 * network, or anyone who took its address, sends back).
 *
 * As fuzz_ngx_slots.c does, the harness includes the module's file whole
 * and calls the parser directly; the linker drops the rest (clang
 * -ffunction-sections, lld --gc-sections).  The module reads the answer
 * into a buffer of NGX_HTTP_DROVER_GROUP_ANSWER_MAX bytes; the harness
 * gives the parser an exact-size heap copy, so ASan sees a read past it.
 *
 * The oracle: an accepted answer has a slot count within the zone's 256,
 * ports within 0..65535, slots up or down with a pid that is not
 * negative; a rejected one says why in a non-empty message without a
 * double quote or a backslash (it goes into the status JSON as it is).
 */

#include "../ngx_module/ngx_http_drover_group_probe.c"


static void
fuzz_check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_ngx_netslots: contract broken: %s\n", what);
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                            *err;
    u_char                          *buf;
    ngx_uint_t                       k;
    ngx_http_drover_group_answer_t   a;

    if (size >= NGX_HTTP_DROVER_GROUP_ANSWER_MAX) {
        return 0;
    }

    buf = malloc(size != 0 ? size : 1);
    fuzz_check(buf != NULL, "out of memory");
    ngx_memcpy(buf, data, size);

    err = ngx_http_drover_group_parse(buf, buf + size, &a);

    if (err != NULL) {
        fuzz_check(err[0] != '\0', "an empty error message");
        fuzz_check(strchr(err, '"') == NULL && strchr(err, '\\') == NULL,
                   "an error message the status JSON cannot carry");

    } else {
        fuzz_check(a.nslots <= NGX_HTTP_DROVER_GROUP_SLOTS,
                   "more slots than the zone holds");
        fuzz_check(a.port <= 65535, "a shared port past 65535");

        for (k = 0; k < NGX_HTTP_DROVER_GROUP_SLOTS; k++) {
            fuzz_check(a.up[k] <= 1 && a.pid[k] >= 0
                       && a.slot_port[k] <= 65535,
                       "a slot neither up nor down, a negative pid or a "
                       "port past 65535");
        }
    }

    free(buf);

    return 0;
}
