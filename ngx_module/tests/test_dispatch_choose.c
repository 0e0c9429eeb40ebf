/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_dispatch_choose.c -- which slot a request gets
 * (ngx_http_drover_dispatch_choose) and the pool's measured service time
 * that decides it (ngx_http_drover_dispatch_leave), outside nginx,
 * printing TAP.
 *
 * As test_frame_body.c, the module's file is included whole and the
 * linker drops what these functions do not reach; the two globals of
 * nginx's core they read (the cached time, the worker's pid) are defined
 * here.
 *
 * The rule under test: a free worker first, except in a pool measured
 * fast (a mean under NGX_HTTP_DROVER_DISPATCH_FAST_US over at least
 * NGX_HTTP_DROVER_DISPATCH_FAST_SAMPLES requests), where a busy worker
 * that finished or began a request less than that ago comes first, while
 * it has room under the limit and pipelining is on.
 */

#include "../ngx_http_drover_slots.c"

#include <stdio.h>
#include <stdlib.h>
#include "tap.h"


volatile ngx_msec_t  ngx_current_msec;
ngx_pid_t            ngx_pid = 4242;


/* a pool of n up slots, nothing in flight, never measured */

static ngx_http_drover_dispatch_sh_t *
pool_new(ngx_uint_t n)
{
    ngx_uint_t                      k;
    ngx_http_drover_dispatch_sh_t  *sh;

    sh = calloc(1, sizeof(ngx_http_drover_dispatch_sh_t));
    if (sh == NULL) {
        fprintf(stderr, "test_dispatch_choose: out of memory\n");
        exit(2);
    }

    sh->active = 1;
    sh->nslots = n;

    for (k = 0; k < n; k++) {
        sh->slot[k].up = 1;
        sh->slot[k].pid = 100 + (ngx_pid_t) k;
    }

    return sh;
}


/* the pool measured fast: requests that take microseconds */

static void
pool_fast(ngx_http_drover_dispatch_sh_t *sh)
{
    ngx_uint_t                      i;
    ngx_http_drover_dispatch_req_t  d;

    for (i = 0; i < 2 * NGX_HTTP_DROVER_DISPATCH_FAST_SAMPLES; i++) {
        ngx_memzero(&d, sizeof(d));
        ngx_http_drover_dispatch_take(sh, &d, 1);
        ngx_http_drover_dispatch_leave(sh, 1, d.ticket, 0);
    }
}


static ngx_uint_t
pool_is_fast(ngx_http_drover_dispatch_sh_t *sh)
{
    return sh->service_n >= NGX_HTTP_DROVER_DISPATCH_FAST_SAMPLES
           && sh->service_us < NGX_HTTP_DROVER_DISPATCH_FAST_US;
}


int
main(void)
{
    uint64_t                         now, mean, last, requests;
    ngx_uint_t                       k, i, n, freed;
    ngx_msec_t                       head;
    ngx_http_drover_dispatch_sh_t   *sh;
    ngx_http_drover_dispatch_req_t   a, b;

    ngx_current_msec = 1000000;

    ok(ngx_http_drover_dispatch_usec() != 0, "CLOCK_MONOTONIC reads");

    /* not measured: a free worker before a busy one */

    sh = pool_new(2);
    ngx_memzero(&a, sizeof(a));
    ngx_http_drover_dispatch_take(sh, &a, 0);

    k = ngx_http_drover_dispatch_choose(sh, NGX_HTTP_DROVER_DISPATCH_NONE,
                                        8, 2);
    ok(!pool_is_fast(sh) && k == 1,
       "unmeasured pool: the free slot, not the busy one");
    free(sh);

    /* measured fast: the awake busy worker before the sleeping free one */

    sh = pool_new(2);
    pool_fast(sh);
    ok(pool_is_fast(sh), "requests of microseconds: the pool is fast");
    ok(sh->slot[1].busy == 0 && sh->slot[0].busy == 0,
       "every place given back");

    ngx_memzero(&a, sizeof(a));
    ngx_http_drover_dispatch_take(sh, &a, 0);

    k = ngx_http_drover_dispatch_choose(sh, NGX_HTTP_DROVER_DISPATCH_NONE,
                                        8, 2);
    ok(k == 0, "fast pool: behind the worker that began a request just now");

    k = ngx_http_drover_dispatch_choose(sh, NGX_HTTP_DROVER_DISPATCH_NONE,
                                        1, 2);
    ok(k == 1, "fast pool, a request that cannot wait behind: the free slot");

    k = ngx_http_drover_dispatch_choose(sh, NGX_HTTP_DROVER_DISPATCH_NONE,
                                        8, 0);
    ok(k == 1, "fast pool, no pipeline window: the free slot");

    k = ngx_http_drover_dispatch_choose(sh, 0, 8, 2);
    ok(k == 1, "fast pool, the awake slot excluded (a move): the free slot");

    /* the running request has run longer than the fast bound */

    now = ngx_http_drover_dispatch_usec();
    sh->slot[0].last_us = now - 10 * NGX_HTTP_DROVER_DISPATCH_FAST_US;

    k = ngx_http_drover_dispatch_choose(sh, NGX_HTTP_DROVER_DISPATCH_NONE,
                                        8, 2);
    ok(k == 1, "fast pool, a request running for long: the free slot");

    /* awake but full */

    sh->slot[0].last_us = ngx_http_drover_dispatch_usec();

    for (i = 1; i < 8; i++) {
        ngx_memzero(&b, sizeof(b));
        ngx_http_drover_dispatch_take(sh, &b, 0);
    }

    ok(sh->slot[0].busy == 8, "eight in flight on slot 0");

    k = ngx_http_drover_dispatch_choose(sh, NGX_HTTP_DROVER_DISPATCH_NONE,
                                        8, 2);
    ok(k == 1, "fast pool, the awake slot at the limit: the free slot");

    k = ngx_http_drover_dispatch_choose(sh, NGX_HTTP_DROVER_DISPATCH_NONE,
                                        3, 2);
    ok(k == 1, "fast pool, the awake slot over a lower limit: the free one");

    /* an exec pool never pipelines */

    sh->exec = 1;
    sh->slot[0].busy = 1;
    sh->slot[0].last_us = ngx_http_drover_dispatch_usec();

    k = ngx_http_drover_dispatch_choose(sh, NGX_HTTP_DROVER_DISPATCH_NONE,
                                        8, 2);
    ok(k == 1, "fast exec pool: the free slot");
    free(sh);

    /* one slow request makes the pool slow at once; fast ones bring it back */

    sh = pool_new(2);
    pool_fast(sh);

    ngx_memzero(&a, sizeof(a));
    ngx_http_drover_dispatch_take(sh, &a, 1);
    sh->slot[1].last_us = ngx_http_drover_dispatch_usec() - 300000;
    ngx_http_drover_dispatch_leave(sh, 1, a.ticket, 0);

    ok(!pool_is_fast(sh), "a request of 300 ms: the pool is not fast");

    ngx_memzero(&a, sizeof(a));
    ngx_http_drover_dispatch_take(sh, &a, 0);

    k = ngx_http_drover_dispatch_choose(sh, NGX_HTTP_DROVER_DISPATCH_NONE,
                                        8, 2);
    ok(k == 1, "then a free worker first again");
    ngx_http_drover_dispatch_leave(sh, 0, a.ticket, 0);

    for (i = 0; i < 200 && !pool_is_fast(sh); i++) {
        pool_fast(sh);
    }

    ok(pool_is_fast(sh), "fast requests after it: fast again");

    /* a failure counts as slow */

    ngx_memzero(&a, sizeof(a));
    ngx_http_drover_dispatch_take(sh, &a, 1);
    ngx_http_drover_dispatch_leave(sh, 1, a.ticket, 1);

    ok(!pool_is_fast(sh), "a failed request: the pool is not fast");
    ok(sh->slot[1].freed == 0, "the failed slot counts as never freed");
    free(sh);

    /* a stale ticket changes nothing */

    sh = pool_new(1);
    ngx_memzero(&a, sizeof(a));
    ngx_http_drover_dispatch_take(sh, &a, 0);
    ngx_http_drover_dispatch_leave(sh, 0, a.ticket, 0);
    now = sh->service_us;
    ngx_http_drover_dispatch_leave(sh, 0, a.ticket, 0);

    ok(sh->slot[0].busy == 0 && sh->service_us == now
       && sh->service_n == 1,
       "a place given back twice: counted once");
    free(sh);

    /*
     * a take-back gives a place back unused (unhold): no request ended,
     * so neither the measured time nor the slot's head, order or last
     * wake moves, only the place
     */

    sh = pool_new(2);
    pool_fast(sh);
    ngx_memzero(&a, sizeof(a));
    ngx_memzero(&b, sizeof(b));
    ngx_http_drover_dispatch_take(sh, &a, 0);
    ngx_http_drover_dispatch_take(sh, &b, 0);

    mean = sh->service_us;
    n = sh->service_n;
    last = sh->slot[0].last_us;
    head = sh->slot[0].head;
    freed = sh->slot[0].freed;
    requests = sh->requests;

    ngx_current_msec += 5;
    ngx_http_drover_dispatch_unhold(sh, 0, b.ticket);

    ok(sh->slot[0].busy == 1 && sh->slot[0].owner[b.ticket] == 0
       && sh->slot[0].owner[a.ticket] == ngx_pid,
       "unhold: the place behind goes, the running request stays");
    ok(sh->service_us == mean && sh->service_n == n,
       "unhold: the measured service time does not move");
    ok(sh->slot[0].last_us == last && sh->slot[0].head == head
       && sh->slot[0].freed == freed,
       "unhold: nor the slot's last wake, head and freed order");
    ok(sh->requests == requests - 1, "unhold: one request less");

    ngx_http_drover_dispatch_unhold(sh, 0, b.ticket);
    ok(sh->slot[0].busy == 1 && sh->requests == requests - 1,
       "unhold twice: once");
    free(sh);

    return tap_done();
}
