
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: a per-worker cache of idle FastCGI connections.
 *
 * drover_pass with a literal address makes an implicit upstream; its round
 * robin peer chooses the address, and this file keeps the connections to
 * it open between requests (FCGI_KEEP_CONN, FastCGI 5.1).  The choice of
 * address stays behind get and free: when droverd's slots are known, the
 * dispatcher (ngx_http_drover_peer.c) replaces the round robin and
 * uses ngx_http_drover_keepalive_get() and _free() for a connection to
 * the slot socket it chose.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_module.h"
#include "ngx_http_drover_peer.h"


typedef struct {
    ngx_http_drover_keepalive_t   *keepalive;
    ngx_queue_t                    queue;
    ngx_connection_t              *connection;

    socklen_t                      socklen;
    ngx_sockaddr_t                 sockaddr;
} ngx_http_drover_keepalive_item_t;


typedef struct {
    ngx_http_drover_keepalive_t   *keepalive;
    ngx_http_upstream_t           *upstream;
    ngx_msec_t                     timeout;

    /* the round robin peer's data */
    void                          *data;
} ngx_http_drover_keepalive_peer_t;


static ngx_int_t ngx_http_drover_keepalive_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_drover_keepalive_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_drover_keepalive_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static ngx_uint_t ngx_http_drover_keepalive_reusable(
    ngx_http_drover_keepalive_t *ka, ngx_http_upstream_t *u,
    ngx_peer_connection_t *pc, ngx_uint_t state);
static ngx_int_t ngx_http_drover_keepalive_peek(ngx_connection_t *c);
static void ngx_http_drover_keepalive_save(ngx_http_drover_keepalive_t *ka,
    ngx_peer_connection_t *pc, ngx_msec_t timeout);

static void ngx_http_drover_keepalive_dummy_handler(ngx_event_t *ev);
static void ngx_http_drover_keepalive_close_handler(ngx_event_t *ev);
static void ngx_http_drover_keepalive_close(ngx_connection_t *c);


ngx_http_drover_keepalive_t *
ngx_http_drover_keepalive_add(ngx_conf_t *cf, ngx_array_t *caches,
    ngx_http_upstream_srv_conf_t *us, ngx_uint_t max_cached)
{
    ngx_uint_t                     i;
    ngx_http_drover_keepalive_t   *ka, **kap;

    kap = caches->elts;

    for (i = 0; i < caches->nelts; i++) {
        if (kap[i]->upstream == us) {
            ka = kap[i];
            goto found;
        }
    }

    ka = ngx_pcalloc(cf->pool, sizeof(ngx_http_drover_keepalive_t));
    if (ka == NULL) {
        return NULL;
    }

    kap = ngx_array_push(caches);
    if (kap == NULL) {
        return NULL;
    }

    *kap = ka;
    ka->upstream = us;

found:

    if (ka->max_cached < max_cached) {
        ka->max_cached = max_cached;
    }

    return ka;
}


/*
 * At postconfiguration, when every upstream's init_upstream has set its
 * peer.init.  Only the plain round robin balancer is wrapped: an upstream
 * block with its own balancer or "keepalive" keeps them.
 */

ngx_int_t
ngx_http_drover_keepalive_init(ngx_conf_t *cf, ngx_array_t *caches)
{
    ngx_uint_t                          i, j;
    ngx_http_drover_keepalive_t        *ka, **kap;
    ngx_http_drover_keepalive_item_t   *items;

    kap = caches->elts;

    for (i = 0; i < caches->nelts; i++) {
        ka = kap[i];

        if (ka->upstream->peer.init != ngx_http_upstream_init_round_robin_peer)
        {
            continue;
        }

        ngx_queue_init(&ka->cache);
        ngx_queue_init(&ka->free);

        ka->upstream->peer.init = ngx_http_drover_keepalive_init_peer;
        ka->enabled = 1;

        /* a dispatched pass with "drover_keepalive 0" caches nothing */

        if (ka->max_cached == 0) {
            continue;
        }

        items = ngx_pcalloc(cf->pool, ka->max_cached
                                 * sizeof(ngx_http_drover_keepalive_item_t));
        if (items == NULL) {
            return NGX_ERROR;
        }

        for (j = 0; j < ka->max_cached; j++) {
            items[j].keepalive = ka;
            ngx_queue_insert_head(&ka->free, &items[j].queue);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_drover_keepalive_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_int_t                          rc;
    ngx_uint_t                         ours;
    ngx_http_upstream_t               *u;
    ngx_http_drover_loc_conf_t        *dlcf;
    ngx_http_drover_keepalive_peer_t  *kp;

    u = r->upstream;
    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_drover_module);

    /* the upstream may also serve proxy_pass and others: not ours then */

    ours = (u->conf == &dlcf->upstream
            && dlcf->keepalive_cache != NULL
            && dlcf->keepalive_cache->upstream == us);

    /*
     * A request that holds a slot goes to that slot's socket: the
     * dispatcher's get and free replace the round robin's, which is
     * not set up for it at all
     */

    if (ours) {
        rc = ngx_http_drover_dispatch_init_peer(r,
                         dlcf->keepalive ? dlcf->keepalive_cache : NULL,
                         dlcf->keepalive_timeout);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (ngx_http_upstream_init_round_robin_peer(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!ours || dlcf->keepalive == 0) {
        return NGX_OK;
    }

    kp = ngx_palloc(r->pool, sizeof(ngx_http_drover_keepalive_peer_t));
    if (kp == NULL) {
        return NGX_ERROR;
    }

    kp->keepalive = dlcf->keepalive_cache;
    kp->upstream = u;
    kp->timeout = dlcf->keepalive_timeout;
    kp->data = u->peer.data;

    u->peer.data = kp;
    u->peer.get = ngx_http_drover_keepalive_get_peer;
    u->peer.free = ngx_http_drover_keepalive_free_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_http_drover_keepalive_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_drover_keepalive_peer_t  *kp = data;

    ngx_int_t  rc;

    /* the balancer chooses the address, the cache only a connection to it */

    rc = ngx_http_upstream_get_round_robin_peer(pc, kp->data);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_drover_keepalive_get(kp->keepalive, pc, 1);
}


/*
 * A cached connection to pc->sockaddr.  A close (or bytes) the event loop
 * already reported has removed it from the cache; with "check", one more
 * recv() looks for a close not reported yet, and such a connection is
 * dropped here and the next one tried.  Without a request in flight
 * nothing else tells that the application closed it: plain round robin
 * checks.  The dispatcher does not, since it replays a request on a
 * connection that took none of its bytes (the write fails with EPIPE),
 * and saves a system call per request.  NGX_DONE with pc->connection
 * set, or NGX_OK: connect anew.  pc->cached stays 0: upstream then never
 * sends the request a second time on its own after a failure; only the
 * dispatcher replays, by its own rules.
 */

ngx_int_t
ngx_http_drover_keepalive_get(ngx_http_drover_keepalive_t *ka,
    ngx_peer_connection_t *pc, ngx_uint_t check)
{
    ngx_queue_t                       *q, *cache;
    ngx_connection_t                  *c;
    ngx_http_drover_keepalive_item_t  *item;

    cache = &ka->cache;

    q = ngx_queue_head(cache);

    while (q != ngx_queue_sentinel(cache)) {

        item = ngx_queue_data(q, ngx_http_drover_keepalive_item_t, queue);

        if (ngx_memn2cmp((u_char *) &item->sockaddr, (u_char *) pc->sockaddr,
                         item->socklen, pc->socklen)
            != 0)
        {
            q = ngx_queue_next(q);
            continue;
        }

        c = item->connection;
        item->connection = NULL;

        ngx_queue_remove(q);
        ngx_queue_insert_head(&ka->free, q);

        if (!check || ngx_http_drover_keepalive_peek(c) == NGX_AGAIN) {
            goto found;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                       "drover keepalive: dropping closed connection %p", c);

        ngx_http_drover_keepalive_close(c);

        q = ngx_queue_head(cache);
    }

    return NGX_OK;

found:

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "drover keepalive: reusing connection %p", c);

    c->idle = 0;
    c->sent = 0;
    c->data = NULL;
    c->log = pc->log;
    c->read->log = pc->log;
    c->write->log = pc->log;
    c->pool->log = pc->log;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    pc->connection = c;

    return NGX_DONE;
}


/* every cached connection to that address is closed */

void
ngx_http_drover_keepalive_purge(ngx_http_drover_keepalive_t *ka,
    struct sockaddr *sockaddr, socklen_t socklen)
{
    ngx_queue_t                       *q, *next, *cache;
    ngx_http_drover_keepalive_item_t  *item;

    cache = &ka->cache;

    for (q = ngx_queue_head(cache);
         q != ngx_queue_sentinel(cache);
         q = next)
    {
        next = ngx_queue_next(q);

        item = ngx_queue_data(q, ngx_http_drover_keepalive_item_t, queue);

        if (ngx_memn2cmp((u_char *) &item->sockaddr, (u_char *) sockaddr,
                         item->socklen, socklen)
            != 0)
        {
            continue;
        }

        ngx_queue_remove(q);
        ngx_queue_insert_head(&ka->free, q);

        ngx_http_drover_keepalive_close(item->connection);
        item->connection = NULL;
    }
}


/*
 * An idle peer sends nothing: NGX_AGAIN, it is alive; NGX_OK, it sent a
 * byte it should not have; NGX_DONE, it closed, or the connection failed
 */

static ngx_int_t
ngx_http_drover_keepalive_peek(ngx_connection_t *c)
{
    int   n;
    char  buf[1];

    n = recv(c->fd, buf, 1, MSG_PEEK);

    if (n == -1 && ngx_socket_errno == NGX_EAGAIN) {
        return NGX_AGAIN;
    }

    return (n > 0) ? NGX_OK : NGX_DONE;
}


static void
ngx_http_drover_keepalive_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_drover_keepalive_peer_t  *kp = data;

    ngx_http_drover_keepalive_free(kp->keepalive, kp->upstream, pc, state,
                                   kp->timeout);

    ngx_http_upstream_free_round_robin_peer(pc, kp->data, state);
}


/* keeps pc->connection, when it may carry another request */

void
ngx_http_drover_keepalive_free(ngx_http_drover_keepalive_t *ka,
    ngx_http_upstream_t *u, ngx_peer_connection_t *pc, ngx_uint_t state,
    ngx_msec_t timeout)
{
    if (ngx_http_drover_keepalive_reusable(ka, u, pc, state)) {
        ngx_http_drover_keepalive_save(ka, pc, timeout);
    }
}


/*
 * A connection is kept only after a clean end: u->keepalive is set by the
 * response parser when FCGI_KEEP_CONN was sent and FCGI_END_REQUEST was
 * read with no byte after it; the whole request body must have been sent,
 * or the application would read the rest as the next request.
 */

static ngx_uint_t
ngx_http_drover_keepalive_reusable(ngx_http_drover_keepalive_t *ka,
    ngx_http_upstream_t *u, ngx_peer_connection_t *pc, ngx_uint_t state)
{
    ngx_connection_t  *c;

    c = pc->connection;

    if ((state & NGX_PEER_FAILED)
        || ka->max_cached == 0
        || c == NULL
        || c->read->eof
        || c->read->error
        || c->read->timedout
        || c->write->error
        || c->write->timedout)
    {
        return 0;
    }

    if (!u->keepalive || !u->request_body_sent) {
        return 0;
    }

    if (ngx_terminate || ngx_exiting) {
        return 0;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        return 0;
    }

    return 1;
}


static void
ngx_http_drover_keepalive_save(ngx_http_drover_keepalive_t *ka,
    ngx_peer_connection_t *pc, ngx_msec_t timeout)
{
    ngx_queue_t                       *q;
    ngx_connection_t                  *c;
    ngx_http_drover_keepalive_item_t  *item;

    c = pc->connection;

    if (ngx_queue_empty(&ka->free)) {

        /* the least recently used connection makes room */

        q = ngx_queue_last(&ka->cache);
        ngx_queue_remove(q);

        item = ngx_queue_data(q, ngx_http_drover_keepalive_item_t, queue);

        ngx_http_drover_keepalive_close(item->connection);

    } else {
        q = ngx_queue_head(&ka->free);
        ngx_queue_remove(q);

        item = ngx_queue_data(q, ngx_http_drover_keepalive_item_t, queue);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "drover keepalive: saving connection %p", c);

    ngx_queue_insert_head(&ka->cache, q);

    item->connection = c;
    item->socklen = pc->socklen;
    ngx_memcpy(&item->sockaddr, pc->sockaddr, pc->socklen);

    pc->connection = NULL;

    c->read->delayed = 0;
    ngx_add_timer(c->read, timeout);

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->write->handler = ngx_http_drover_keepalive_dummy_handler;
    c->read->handler = ngx_http_drover_keepalive_close_handler;

    c->data = item;
    c->idle = 1;
    c->log = ngx_cycle->log;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;
    c->pool->log = ngx_cycle->log;

    /* bytes or a close may already be waiting: an idle peer sends none */

    if (c->read->ready) {
        ngx_http_drover_keepalive_close_handler(c->read);
    }
}


static void
ngx_http_drover_keepalive_dummy_handler(ngx_event_t *ev)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "drover keepalive: dummy handler");
}


/*
 * An idle connection that becomes readable was closed by the application
 * (or sent bytes it should not have): either way it is closed; so is one
 * whose idle timer fired, or that the worker closes on exit (c->close).
 */

static void
ngx_http_drover_keepalive_close_handler(ngx_event_t *ev)
{
    ngx_int_t                          rc;
    ngx_connection_t                  *c;
    ngx_http_drover_keepalive_t       *ka;
    ngx_http_drover_keepalive_item_t  *item;

    c = ev->data;

    if (c->close || c->read->timedout) {
        goto close;
    }

    rc = ngx_http_drover_keepalive_peek(c);

    if (rc == NGX_AGAIN) {
        ev->ready = 0;

        if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
            goto close;
        }

        return;
    }

    if (rc == NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "drover: the application sent data on an idle "
                      "kept-alive connection, closing it");
    }

close:

    item = c->data;
    ka = item->keepalive;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "drover keepalive: closing idle connection %p", c);

    ngx_http_drover_keepalive_close(c);

    item->connection = NULL;

    ngx_queue_remove(&item->queue);
    ngx_queue_insert_head(&ka->free, &item->queue);
}


static void
ngx_http_drover_keepalive_close(ngx_connection_t *c)
{
    ngx_destroy_pool(c->pool);
    ngx_close_connection(c);
}
