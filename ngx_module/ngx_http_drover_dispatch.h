
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: dispatch of requests to droverd's worker slots, through a zone
 * of shared memory seen by every nginx worker: a free slot, else a
 * bounded queue with a deadline; a request a worker lost before it
 * answered is replayed on another slot.
 */


#ifndef _NGX_HTTP_DROVER_DISPATCH_H_INCLUDED_
#define _NGX_HTTP_DROVER_DISPATCH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_keepalive.h"


/* droverd's DROVER_CONF_MAX_WORKERS */
#define NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS  256

/* requests in flight on one slot: the one run and those waiting behind */
#define NGX_HTTP_DROVER_DISPATCH_DEPTH      8


typedef struct ngx_http_drover_dispatch_sh_s  ngx_http_drover_dispatch_sh_t;
typedef struct ngx_http_drover_dispatch_addr_s
    ngx_http_drover_dispatch_addr_t;


/* a slot's socket address (ngx_http_drover_peer.c, _group.c) */

struct ngx_http_drover_dispatch_addr_s {
    ngx_sockaddr_t                    sockaddr;
    socklen_t                         socklen;
    ngx_str_t                         name;
};


/*
 * One per socket path (a pool) in each nginx worker's copy of the
 * configuration: what this worker knows and who waits here.  The state
 * that counts (slots, in flight, queue length, statistics) is in sh.
 */

typedef struct {
    ngx_str_t                         path;        /* PATH, of unix:PATH */
    ngx_str_t                         slots_path;  /* "PATH.slots\0" */

    ngx_http_drover_dispatch_sh_t    *sh;
    ngx_slab_pool_t                  *shpool;

    ngx_msec_t                        checked;
    ngx_http_drover_dispatch_addr_t **addrs;       /* by slot, on demand */

    ngx_queue_t                       waiting;     /* oldest first */
    ngx_queue_t                       rescues;     /* to take back, found
                                                      no place (pipeline.c) */
    ngx_event_t                       wake;        /* posted on a release */
    ngx_event_t                       poll;        /* for other workers' */

    void                             *group;       /* drover_pass group:NAME
                                                      (_group.c), or NULL */

    unsigned                          ever_checked:1;
    unsigned                          no_dispatch:1;  /* path too long */
} ngx_http_drover_dispatch_pool_t;


/* a request's part: in ngx_http_drover_ctx_t */

typedef struct {
    ngx_http_drover_dispatch_pool_t  *pool;
    ngx_http_request_t               *request;

    ngx_queue_t                       queue;
    ngx_event_t                       deadline;
    ngx_msec_t                        queued_at;

    ngx_uint_t                        slot;
    ngx_uint_t                        ticket;      /* its place there */
    ngx_uint_t                        attempts;
    ngx_uint_t                        unread_replays; /* tries not spent */

    /* 1, or 1 + drover_pipeline when the request may wait behind one */
    ngx_uint_t                        limit;
    ngx_msec_t                        window;
    ngx_event_t                       rescue;
    ngx_queue_t                       rescue_link; /* in pool->rescues */

    /* DROVER_WITHDRAW_AFTER sent: us of CLOCK_MONOTONIC, or 0 */
    uint64_t                          withdraw_after;

    ngx_http_drover_keepalive_t      *keepalive;
    ngx_msec_t                        keepalive_timeout;

    unsigned                          dispatched:1;  /* slots, not plain */
    unsigned                          held:1;        /* slot is ours */
    unsigned                          behind:1;      /* slot was busy */
    unsigned                          queued:1;
    unsigned                          retrying:1;
    unsigned                          responded:1;   /* a byte came */
    unsigned                          overloaded:1;
    unsigned                          stopped:1;     /* 503: not failing,
                                                        droverctl stop */
    unsigned                          cleanup:1;
    unsigned                          moving:1;      /* rescue under way */
    unsigned                          rescue_listed:1;
    unsigned                          shut:1;        /* SHUT_WR sent */
    unsigned                          reused:1;      /* a kept connection */
} ngx_http_drover_dispatch_req_t;


/*
 * For the status page: a snapshot of one pool, taken under the zone's
 * lock.  Counters count since the zone was created (they survive an
 * nginx reload that keeps drover_zone's size).  wait_ms and wait_max_ms
 * are over every request that waited in the queue, dispatched or not.
 */

typedef struct {
    ngx_uint_t                        active;      /* a .slots file is read */
    ngx_uint_t                        generation;
    ngx_uint_t                        slots;
    ngx_uint_t                        up;
    ngx_uint_t                        busy;        /* slots in use */
    ngx_uint_t                        inflight;    /* requests on slots */
    ngx_uint_t                        queued;      /* waiting right now */

    uint64_t                          requests;    /* given a slot */
    uint64_t                          waited;      /* left the queue */
    uint64_t                          wait_ms;
    uint64_t                          wait_max_ms;
    uint64_t                          overflows;   /* 503: queue full */
    uint64_t                          timeouts;    /* 503: deadline */
    uint64_t                          replays;
    uint64_t                          failures;    /* 502: not replayed */
    uint64_t                          pipelined;   /* sent to a busy slot */
    uint64_t                          moved;       /* and taken back */
} ngx_http_drover_dispatch_stats_t;


ngx_http_drover_dispatch_pool_t *ngx_http_drover_dispatch_add(ngx_conf_t *cf,
    ngx_array_t *pools, ngx_str_t *path);
ngx_int_t ngx_http_drover_dispatch_init(ngx_conf_t *cf, ngx_array_t *pools,
    size_t size);

ngx_http_drover_dispatch_pool_t *ngx_http_drover_dispatch_find(
    ngx_cycle_t *cycle, ngx_str_t *path);
void ngx_http_drover_dispatch_stats(ngx_http_drover_dispatch_pool_t *pool,
    ngx_http_drover_dispatch_stats_t *st);

/* every pool of the cycle (elements: ngx_http_drover_dispatch_pool_t *) */
ngx_array_t *ngx_http_drover_dispatch_pools(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_DROVER_DISPATCH_H_INCLUDED_ */
