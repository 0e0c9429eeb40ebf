
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: droverd's worker slots as the zone holds them for every nginx
 * worker, and the functions that read, take and leave them.
 */


#ifndef _NGX_HTTP_DROVER_SLOTS_H_INCLUDED_
#define _NGX_HTTP_DROVER_SLOTS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_dispatch.h"


#define NGX_HTTP_DROVER_DISPATCH_NONE     ((ngx_uint_t) -1)

/*
 * A pool is fast while its requests take less than this on a slot, on a
 * mean of at least FAST_SAMPLES: a request there goes to an awake busy
 * worker before a sleeping free one (ngx_http_drover_dispatch_choose())
 */
#define NGX_HTTP_DROVER_DISPATCH_FAST_US       100
#define NGX_HTTP_DROVER_DISPATCH_FAST_SAMPLES  16


typedef struct {
    /* the nginx worker of each request in flight; 0: a free place */
    ngx_pid_t                         owner[NGX_HTTP_DROVER_DISPATCH_DEPTH];
    ngx_pid_t                         pid;     /* droverd's worker */

    /* the release that freed it last: larger is more recent, 0 never */
    ngx_uint_t                        freed;

    /* when the request the worker runs began, as nginx saw it */
    ngx_msec_t                        head;

    /*
     * when the worker last began a request from idle or finished one, in
     * microseconds of CLOCK_MONOTONIC: it is awake if that is recent
     */
    uint64_t                          last_us;

    u_char                            up;
    u_char                            busy;    /* requests in flight */
} ngx_http_drover_dispatch_slot_t;


struct ngx_http_drover_dispatch_sh_s {
    ngx_queue_t                       queue;   /* in the zone's pools */

    /* the PATH.slots file last read: inode, mtime and size */
    ino_t                             ino;
    time_t                            mtime;
    long                              mtime_nsec;
    off_t                             size;

    ngx_uint_t                        active;
    ngx_uint_t                        failing;    /* "state failing": 1,
                                                     "state stopped": 2 */
    ngx_uint_t                        ondemand;   /* "ondemand N": a down
                                                     slot below N starts a
                                                     worker on connect */
    ngx_uint_t                        exec;       /* "kind exec": one
                                                     request per connection
                                                     and slot */
    ngx_uint_t                        generation;
    ngx_uint_t                        nslots;
    ngx_uint_t                        queued;
    ngx_uint_t                        freed_seq;

    /* a moving mean of a request's time on a slot, microseconds */
    uint64_t                          service_us;
    ngx_uint_t                        service_n;

    uint64_t                          requests;
    uint64_t                          waited;
    uint64_t                          wait_ms;
    uint64_t                          wait_max_ms;
    uint64_t                          overflows;
    uint64_t                          timeouts;
    uint64_t                          replays;
    uint64_t                          failures;
    uint64_t                          pipelined;
    uint64_t                          moved;

    ngx_http_drover_dispatch_slot_t   slot[NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS];

    size_t                            path_len;
    u_char                            path[1];
};


/* the caller holds the zone's lock for choose, take, leave and unhold */

uint64_t ngx_http_drover_dispatch_usec(void);
void ngx_http_drover_dispatch_refresh(ngx_http_drover_dispatch_pool_t *pool,
    ngx_log_t *log);
ngx_int_t ngx_http_drover_dispatch_acquire(
    ngx_http_drover_dispatch_pool_t *pool, ngx_http_drover_dispatch_req_t *d,
    ngx_uint_t queue_size);
ngx_uint_t ngx_http_drover_dispatch_cannot_start(
    ngx_http_drover_dispatch_sh_t *sh);
ngx_uint_t ngx_http_drover_dispatch_choose(ngx_http_drover_dispatch_sh_t *sh,
    ngx_uint_t except, ngx_uint_t limit, ngx_msec_t window);
void ngx_http_drover_dispatch_take(ngx_http_drover_dispatch_sh_t *sh,
    ngx_http_drover_dispatch_req_t *d, ngx_uint_t k);
void ngx_http_drover_dispatch_leave(ngx_http_drover_dispatch_sh_t *sh,
    ngx_uint_t k, ngx_uint_t ticket, ngx_uint_t failed);
void ngx_http_drover_dispatch_unhold(ngx_http_drover_dispatch_sh_t *sh,
    ngx_uint_t k, ngx_uint_t ticket);
void ngx_http_drover_dispatch_release(ngx_http_drover_dispatch_pool_t *pool,
    ngx_http_drover_dispatch_req_t *d, ngx_uint_t failed);
void ngx_http_drover_dispatch_free_slot(ngx_http_drover_dispatch_pool_t *pool,
    ngx_uint_t k, ngx_uint_t ticket, ngx_uint_t failed);
void ngx_http_drover_dispatch_switch(ngx_http_drover_dispatch_pool_t *pool,
    ngx_http_drover_dispatch_req_t *d);


/*
 * Under the lock: the slot's worker runs a request and finished or began
 * one less than NGX_HTTP_DROVER_DISPATCH_FAST_US ago, at "now"
 */

static ngx_inline ngx_uint_t
ngx_http_drover_dispatch_awake(ngx_http_drover_dispatch_slot_t *s,
    uint64_t now)
{
    return s->busy && s->last_us && now >= s->last_us
           && now - s->last_us < NGX_HTTP_DROVER_DISPATCH_FAST_US;
}


/*
 * A decimal number of at most 9 digits at *pp, before last: the .slots
 * file's and the network slots answer's (ngx_http_drover_group_probe.c)
 */

static ngx_inline ngx_int_t
ngx_http_drover_dispatch_number(u_char **pp, u_char *last, ngx_uint_t *n)
{
    u_char  *p;

    *n = 0;

    for (p = *pp; p < last && *p >= '0' && *p <= '9'; p++) {
        if (*n > 99999999) {
            return NGX_ERROR;
        }

        *n = *n * 10 + (*p - '0');
    }

    if (p == *pp) {
        return NGX_ERROR;
    }

    *pp = p;

    return NGX_OK;
}


#endif /* _NGX_HTTP_DROVER_SLOTS_H_INCLUDED_ */
