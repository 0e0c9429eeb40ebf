
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: dispatch of requests to droverd's worker slots.
 *
 * For "drover_pass unix:PATH", droverd listens on PATH.k for the worker in
 * slot k alone, and describes the slots in PATH.slots (rewritten by a
 * rename whenever they change; its format: docs/protocols.md, "The .slots
 * file").
 *
 * Each nginx worker looks at that file at most once a second (an open and
 * a fstat, a read when it changed) and writes what it says into the zone,
 * where every nginx worker sees it along with each slot's requests in
 * flight.  A request takes an "up" slot with nothing in flight, the one
 * freed most recently (its worker's caches are warm; others stay idle),
 * the lowest index among slots never freed; it goes to that slot's own
 * socket, over a kept-alive connection when there is one.  A worker
 * serves one request at a time.
 *
 * Pipelining ("drover_pipeline N timeout=T"): when no slot is free, a
 * request whose body nginx buffered whole (at most 64 KiB, so droverd
 * reads it before it looks whether nginx took it back; GET or POST alike,
 * since a request taken back was never run) may be sent to a slot whose
 * running request began less than T ago, to wait in the worker's socket
 * behind at most N others; the worker then finds its next request ready
 * instead of waiting a round trip through nginx.  Such a request that no
 * worker has read T after it was sent (SIOCOUTQ: its bytes are still in
 * the socket) is taken back, its connection closed (droverd does not run
 * a request closed before it read a byte of it), and sent to a slot that
 * is free or began its request less than T ago.
 *
 * When every slot is busy the request waits, in its own worker's FIFO,
 * counted in the zone against "drover_queue size=N" for all nginx workers
 * together.  A release wakes the oldest waiter of the worker that released
 * at once; the waiters of other workers look every few milliseconds.  A
 * new request never takes a free slot while any request of the pool waits
 * in any worker, so none is overtaken by later arrivals; between workers
 * the order is that of who looks first.
 *
 * Without a PATH.slots file (droverd stopped, or any other FastCGI
 * server), requests go to PATH itself as before: round robin and the
 * keepalive cache, no queue.
 *
 * This file makes the pools and the zone and reads the statistics; the
 * rest is in ngx_http_drover_slots.c (PATH.slots, a slot taken and left),
 * ngx_http_drover_queue.c (the wait), ngx_http_drover_pipeline.c (a
 * request sent behind another, taken back) and ngx_http_drover_peer.c
 * (the slot's socket, replays, the drain of a request given up).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_module.h"
#include "ngx_http_drover_slots.h"
#include "ngx_http_drover_queue.h"


typedef struct {
    ngx_queue_t                       pools;
} ngx_http_drover_dispatch_root_t;


static ngx_int_t ngx_http_drover_dispatch_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_http_drover_dispatch_sh_t *ngx_http_drover_dispatch_sh(
    ngx_slab_pool_t *shpool, ngx_http_drover_dispatch_root_t *root,
    ngx_str_t *path);


ngx_http_drover_dispatch_pool_t *
ngx_http_drover_dispatch_add(ngx_conf_t *cf, ngx_array_t *pools,
    ngx_str_t *path)
{
    u_char                            *p;
    ngx_uint_t                         i;
    struct sockaddr_un                 sun;
    ngx_http_drover_dispatch_pool_t   *pool, **poolp;

    poolp = pools->elts;

    for (i = 0; i < pools->nelts; i++) {
        if (poolp[i]->path.len == path->len
            && ngx_strncmp(poolp[i]->path.data, path->data, path->len) == 0)
        {
            return poolp[i];
        }
    }

    pool = ngx_pcalloc(cf->pool, sizeof(ngx_http_drover_dispatch_pool_t));
    if (pool == NULL) {
        return NULL;
    }

    poolp = ngx_array_push(pools);
    if (poolp == NULL) {
        return NULL;
    }

    *poolp = pool;

    pool->path = *path;

    pool->slots_path.len = path->len + sizeof(".slots") - 1;
    pool->slots_path.data = ngx_pnalloc(cf->pool, pool->slots_path.len + 1);
    if (pool->slots_path.data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(pool->slots_path.data, path->data, path->len);
    ngx_memcpy(p, ".slots", sizeof(".slots"));

    pool->addrs = ngx_pcalloc(cf->pool, NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS
                                  * sizeof(ngx_http_drover_dispatch_addr_t *));
    if (pool->addrs == NULL) {
        return NULL;
    }

    /* PATH.255 must fit where PATH did */

    if (path->len + sizeof(".255") > sizeof(sun.sun_path)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "socket path \"%V\" is too long for its slot "
                           "sockets, requests go to it without dispatch",
                           path);
        pool->no_dispatch = 1;
    }

    ngx_queue_init(&pool->waiting);
    ngx_queue_init(&pool->rescues);

    pool->wake.handler = ngx_http_drover_dispatch_wake;
    pool->wake.data = pool;

    pool->poll.handler = ngx_http_drover_dispatch_wake;
    pool->poll.data = pool;
    pool->poll.cancelable = 1;

    return pool;
}


/* one zone for every pool; its size is "drover_zone" */

ngx_int_t
ngx_http_drover_dispatch_init(ngx_conf_t *cf, ngx_array_t *pools, size_t size)
{
    ngx_str_t        name;
    ngx_shm_zone_t  *zone;

    if (pools->nelts == 0) {
        return NGX_OK;
    }

    ngx_str_set(&name, "drover");

    zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_drover_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_drover_dispatch_init_zone;
    zone->data = pools;

    return NGX_OK;
}


/*
 * A zone kept over a reload (same size) keeps each pool's state: the old
 * workers' requests in flight still hold their slots until they end.
 */

static ngx_int_t
ngx_http_drover_dispatch_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_uint_t                         i;
    ngx_array_t                       *pools;
    ngx_slab_pool_t                   *shpool;
    ngx_http_drover_dispatch_pool_t  **poolp;
    ngx_http_drover_dispatch_root_t   *root;

    pools = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (data || zone->shm.exists) {
        root = shpool->data;

    } else {
        root = ngx_slab_alloc(shpool, sizeof(ngx_http_drover_dispatch_root_t));
        if (root == NULL) {
            return NGX_ERROR;
        }

        ngx_queue_init(&root->pools);
        shpool->data = root;
    }

    poolp = pools->elts;

    for (i = 0; i < pools->nelts; i++) {
        poolp[i]->shpool = shpool;
        poolp[i]->sh = ngx_http_drover_dispatch_sh(shpool, root,
                                                   &poolp[i]->path);
        if (poolp[i]->sh == NULL) {
            ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                          "\"drover_zone\" of %uz bytes is too small for "
                          "%ui pools, about 9k each",
                          zone->shm.size, pools->nelts);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_http_drover_dispatch_sh_t *
ngx_http_drover_dispatch_sh(ngx_slab_pool_t *shpool,
    ngx_http_drover_dispatch_root_t *root, ngx_str_t *path)
{
    ngx_queue_t                    *q;
    ngx_http_drover_dispatch_sh_t  *sh;

    ngx_shmtx_lock(&shpool->mutex);

    for (q = ngx_queue_head(&root->pools);
         q != ngx_queue_sentinel(&root->pools);
         q = ngx_queue_next(q))
    {
        sh = ngx_queue_data(q, ngx_http_drover_dispatch_sh_t, queue);

        if (sh->path_len == path->len
            && ngx_strncmp(sh->path, path->data, path->len) == 0)
        {
            goto done;
        }
    }

    sh = ngx_slab_calloc_locked(shpool, sizeof(ngx_http_drover_dispatch_sh_t)
                                        + path->len);
    if (sh == NULL) {
        goto done;
    }

    sh->path_len = path->len;
    ngx_memcpy(sh->path, path->data, path->len);

    ngx_queue_insert_tail(&root->pools, &sh->queue);

done:

    ngx_shmtx_unlock(&shpool->mutex);

    return sh;
}


ngx_http_drover_dispatch_pool_t *
ngx_http_drover_dispatch_find(ngx_cycle_t *cycle, ngx_str_t *path)
{
    ngx_uint_t                          i;
    ngx_http_drover_main_conf_t        *dmcf;
    ngx_http_drover_dispatch_pool_t   **poolp;

    dmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_drover_module);
    if (dmcf == NULL) {
        return NULL;
    }

    poolp = dmcf->pools.elts;

    for (i = 0; i < dmcf->pools.nelts; i++) {
        if (poolp[i]->path.len == path->len
            && ngx_strncmp(poolp[i]->path.data, path->data, path->len) == 0)
        {
            return poolp[i];
        }
    }

    return NULL;
}


ngx_array_t *
ngx_http_drover_dispatch_pools(ngx_cycle_t *cycle)
{
    ngx_http_drover_main_conf_t  *dmcf;

    dmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_drover_module);

    return dmcf != NULL ? &dmcf->pools : NULL;
}


void
ngx_http_drover_dispatch_stats(ngx_http_drover_dispatch_pool_t *pool,
    ngx_http_drover_dispatch_stats_t *st)
{
    ngx_uint_t                      k, n;
    ngx_http_drover_dispatch_sh_t  *sh;

    ngx_memzero(st, sizeof(ngx_http_drover_dispatch_stats_t));

    sh = pool->sh;

    if (sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&pool->shpool->mutex);

    st->active = sh->active;
    st->generation = sh->generation;
    st->slots = sh->nslots;
    st->queued = sh->queued;

    n = ngx_min(sh->nslots, NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS);

    for (k = 0; k < n; k++) {
        st->up += sh->slot[k].up;
        st->busy += (sh->slot[k].busy != 0);
        st->inflight += sh->slot[k].busy;
    }

    st->requests = sh->requests;
    st->waited = sh->waited;
    st->wait_ms = sh->wait_ms;
    st->wait_max_ms = sh->wait_max_ms;
    st->overflows = sh->overflows;
    st->timeouts = sh->timeouts;
    st->replays = sh->replays;
    st->failures = sh->failures;
    st->pipelined = sh->pipelined;
    st->moved = sh->moved;

    ngx_shmtx_unlock(&pool->shpool->mutex);
}
