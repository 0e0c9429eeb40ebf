
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: the upstream peer of a dispatched request: its slot's socket,
 * the replay of a request a worker lost, the drain of one given up.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_module.h"
#include "ngx_http_drover_slots.h"
#include "ngx_http_drover_pipeline.h"
#include "ngx_http_drover_peer.h"
#include "ngx_http_drover_group.h"


/* replays of a request lost unread that use up no try, at most */
#define NGX_HTTP_DROVER_DISPATCH_UNREAD_REPLAYS  8


#define NGX_HTTP_DROVER_DISPATCH_IDEMPOTENT                                   \
    (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_PUT|NGX_HTTP_DELETE                  \
     |NGX_HTTP_OPTIONS)


/* a connection whose request was given up while the worker still runs it */

typedef struct {
    ngx_http_drover_dispatch_pool_t  *pool;
    ngx_uint_t                        slot;
    ngx_uint_t                        ticket;
    ngx_http_drover_fcgi_parser_t     parser;
} ngx_http_drover_dispatch_drain_t;


static ngx_int_t ngx_http_drover_dispatch_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_drover_dispatch_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static char *ngx_http_drover_dispatch_unreplayable(ngx_http_request_t *r,
    ngx_http_drover_dispatch_req_t *d, ngx_peer_connection_t *pc);
static ngx_uint_t ngx_http_drover_dispatch_lost_unread(
    ngx_http_drover_dispatch_req_t *d, ngx_peer_connection_t *pc);
static ngx_http_drover_dispatch_addr_t *ngx_http_drover_dispatch_addr(
    ngx_http_drover_dispatch_pool_t *pool, ngx_uint_t k);
static ngx_int_t ngx_http_drover_dispatch_drain(ngx_http_request_t *r,
    ngx_http_drover_dispatch_req_t *d, ngx_peer_connection_t *pc);
static void ngx_http_drover_dispatch_drain_handler(ngx_event_t *ev);
static void ngx_http_drover_dispatch_drain_dummy(ngx_event_t *ev);


/* NGX_DECLINED: the request holds no slot, plain round robin serves it */

ngx_int_t
ngx_http_drover_dispatch_init_peer(ngx_http_request_t *r,
    ngx_http_drover_keepalive_t *ka, ngx_msec_t keepalive_timeout)
{
    ngx_http_upstream_t             *u;
    ngx_http_drover_ctx_t           *ctx;
    ngx_http_drover_loc_conf_t      *dlcf;
    ngx_http_drover_dispatch_req_t  *d;

    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    if (ctx == NULL || !ctx->dispatch.dispatched) {
        return NGX_DECLINED;
    }

    u = r->upstream;
    d = &ctx->dispatch;
    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_drover_module);

    d->keepalive = ka;
    d->keepalive_timeout = keepalive_timeout;

    u->peer.data = d;
    u->peer.get = ngx_http_drover_dispatch_get_peer;
    u->peer.free = ngx_http_drover_dispatch_free_peer;
    u->peer.tries = dlcf->retries + 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_drover_dispatch_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_drover_dispatch_req_t  *d = data;

    ngx_int_t                         rc;
    ngx_http_drover_dispatch_addr_t  *addr;

    if (d->retrying) {
        d->retrying = 0;
        d->attempts++;
        ngx_http_drover_dispatch_switch(d->pool, d);
    }

    if (!d->held) {
        return NGX_BUSY;
    }

    addr = ngx_http_drover_dispatch_addr(d->pool, d->slot);
    if (addr == NULL) {
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "drover dispatch: slot %ui, attempt %ui",
                   d->slot, d->attempts + 1);

    d->responded = 0;
    d->overloaded = 0;
    d->shut = 0;

    /*
     * Only a request sent behind another one is watched: one sent to a
     * free worker waits for nothing but the scheduler, and taking it back
     * on a loaded machine would cost a connection for no gain
     */

    if (d->behind) {
        d->rescue.handler = ngx_http_drover_dispatch_rescue;
        d->rescue.data = d;
        d->rescue.log = pc->log;

        ngx_add_timer(&d->rescue, d->window);
    }

    pc->sockaddr = &addr->sockaddr.sockaddr;
    pc->socklen = addr->socklen;
    pc->name = &addr->name;

    d->reused = 0;

    if (d->keepalive) {
        rc = ngx_http_drover_keepalive_get(d->keepalive, pc, 0);
        d->reused = (rc == NGX_DONE);
        return rc;
    }

    return NGX_OK;
}


/*
 * A failure before any response byte (a crash, a reset, a close, a
 * refused connect, a cached connection found dead, FCGI_OVERLOADED) is
 * replayed while tries last, when the application cannot have acted on
 * it twice: the method is idempotent, nothing was sent, or the worker
 * refused it unread (OVERLOADED).  Upstream then calls get again.
 */

static void
ngx_http_drover_dispatch_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_drover_dispatch_req_t  *d = data;

    char                             *reason;
    ngx_uint_t                        unread;
    ngx_http_request_t               *r;
    ngx_http_drover_dispatch_pool_t  *pool;

    r = d->request;
    pool = d->pool;

    ngx_http_drover_dispatch_rescue_stop(d);

    unread = (state & NGX_PEER_FAILED)
             && ngx_http_drover_dispatch_lost_unread(d, pc);

    if (d->keepalive) {

        /* a connection shut for writing carries no further request */

        ngx_http_drover_keepalive_free(d->keepalive, r->upstream, pc,
                                       d->shut ? state | NGX_PEER_FAILED
                                               : state,
                                       d->keepalive_timeout);
    }

    if (d->moving) {

        /* taken back by the rescue timer: it holds its new slot already */

        d->moving = 0;
        return;
    }

    if (!(state & NGX_PEER_FAILED)) {
        if (ngx_http_drover_dispatch_drain(r, d, pc) != NGX_OK) {
            ngx_http_drover_dispatch_release(pool, d, 0);
        }

        return;
    }

    /*
     * A kept connection that took not a byte: its worker closed it while
     * it was idle in the cache (a reload, a recycle, a crash).  The others
     * kept to that socket date from the same worker: they go, and the
     * request is sent again on a new connection without using up a try,
     * or a deep pipeline's cache could spend every try on dead ones.
     */

    if (d->reused && !d->responded && pc->connection != NULL
        && pc->connection->sent == 0)
    {
        ngx_http_drover_keepalive_purge(d->keepalive, pc->sockaddr,
                                        pc->socklen);

        ngx_log_error(NGX_LOG_INFO, pc->log, 0,
                      "drover: a kept connection to slot %ui of \"%V\" "
                      "was closed by droverd, sending on a new one",
                      d->slot, &pool->path);

        d->retrying = 1;
        return;
    }

    /*
     * A request droverd reads whole before it runs (DROVER_WITHDRAWABLE)
     * whose worker went with bytes of it unread: the app never saw it.
     * It may have waited behind a request that crashed the worker, or the
     * worker was killed; either way it does not use up a try, or a crash
     * would cost every request pipelined behind it one.  Bounded, so a
     * worker killed again and again cannot keep a request forever.
     */

    if (unread) {
        d->unread_replays++;

        ngx_shmtx_lock(&pool->shpool->mutex);
        pool->sh->replays++;
        ngx_shmtx_unlock(&pool->shpool->mutex);

        ngx_log_error(NGX_LOG_WARN, pc->log, 0,
                      "drover: the worker of slot %ui of \"%V\" went before "
                      "it read the request, replaying (no try used)",
                      d->slot, &pool->path);

        d->retrying = 1;
        return;
    }

    if (pc->tries) {
        pc->tries--;
    }

    reason = ngx_http_drover_dispatch_unreplayable(r, d, pc);

    if (reason == NULL && pc->tries == 0) {
        reason = "drover_retries reached";
    }

    ngx_shmtx_lock(&pool->shpool->mutex);

    if (reason) {
        pool->sh->failures++;

    } else {
        pool->sh->replays++;
    }

    ngx_shmtx_unlock(&pool->shpool->mutex);

    if (reason) {
        ngx_log_error(NGX_LOG_ERR, pc->log, 0,
                      "drover: request to slot %ui of \"%V\" failed, "
                      "not replayed: %s", d->slot, &pool->path, reason);

        pc->tries = 0;

        if (ngx_http_drover_dispatch_drain(r, d, pc) != NGX_OK) {
            ngx_http_drover_dispatch_release(pool, d, 1);
        }

        return;
    }

    ngx_log_error(NGX_LOG_WARN, pc->log, 0,
                  "drover: request to slot %ui of \"%V\" failed before "
                  "any response byte, replaying", d->slot, &pool->path);

    /* in a group, on another host while this one is asked again */

    ngx_http_drover_group_suspect(pool, d->slot);

    d->retrying = 1;
}


/*
 * 1 when the worker of a withdrawable request went while bytes of the
 * request lay unread in its socket: the kernel then resets a Unix stream
 * connection (the read fails with ECONNRESET) or refuses further sends
 * (EPIPE), where a worker that read it all and ended gives EOF.  Nothing
 * else is ever sent on the connection while the request runs (an abort
 * ends it without a replay), so unread bytes are this request's.
 *
 * That holds for a request the rescue shut and left there too (none of
 * it was unread just after the shutdown): droverd, seeing the shutdown
 * before it read a byte, closes the connection, and the bytes it drops
 * from its socket no longer count as unread.  If nginx looked in between,
 * it waits for an answer that never comes; the reset tells it the worker
 * never read the request.
 */

static ngx_uint_t
ngx_http_drover_dispatch_lost_unread(ngx_http_drover_dispatch_req_t *d,
    ngx_peer_connection_t *pc)
{
    ngx_connection_t  *c;

    c = pc->connection;

    if (d->limit < 2 || d->responded || c == NULL
        || pc->sockaddr == NULL || pc->sockaddr->sa_family != AF_UNIX
        || d->unread_replays >= NGX_HTTP_DROVER_DISPATCH_UNREAD_REPLAYS)
    {
        return 0;
    }

    if (c->read->timedout || c->write->timedout) {
        return 0;
    }

    return c->read->error || c->write->error;
}


static char *
ngx_http_drover_dispatch_unreplayable(ngx_http_request_t *r,
    ngx_http_drover_dispatch_req_t *d, ngx_peer_connection_t *pc)
{
    ngx_connection_t     *c;
    ngx_http_upstream_t  *u;

    u = r->upstream;
    c = pc->connection;

    if (c && (c->read->timedout || c->write->timedout)) {
        return "timed out";
    }

    if (d->responded && !d->overloaded) {
        return "the response had begun";
    }

    /* not a byte reached the worker: a connection found dead on writing */

    if (!u->request_sent || (c && c->sent == 0)) {
        return NULL;
    }

    /* the body reader has moved on: what was sent cannot be sent again */

    if (r->request_body_no_buffering) {
        return "the request body is not buffered "
               "(drover_request_buffering off) and was sent in part";
    }

    if (d->overloaded) {
        return NULL;
    }

    if (!(r->method & NGX_HTTP_DROVER_DISPATCH_IDEMPOTENT)) {
        return "the method is not idempotent";
    }

    return NULL;
}


/* PATH.k: made on first use, kept for the life of the worker */

static ngx_http_drover_dispatch_addr_t *
ngx_http_drover_dispatch_addr(ngx_http_drover_dispatch_pool_t *pool,
    ngx_uint_t k)
{
    u_char                           *p;
    size_t                            len;
    struct sockaddr_un               *sun;
    ngx_http_drover_dispatch_addr_t  *addr;

    if (pool->group) {
        return ngx_http_drover_group_addr(pool, k);
    }

    if (pool->addrs[k]) {
        return pool->addrs[k];
    }

    len = sizeof("unix:") - 1 + pool->path.len + sizeof(".255") - 1;

    addr = ngx_pcalloc(ngx_cycle->pool,
                       sizeof(ngx_http_drover_dispatch_addr_t) + len);
    if (addr == NULL) {
        return NULL;
    }

    sun = &addr->sockaddr.sockaddr_un;
    sun->sun_family = AF_UNIX;

    p = ngx_cpymem(sun->sun_path, pool->path.data, pool->path.len);
    (void) ngx_sprintf(p, ".%ui", k);

    addr->socklen = sizeof(struct sockaddr_un);

    addr->name.data = (u_char *) (addr + 1);
    addr->name.len = ngx_sprintf(addr->name.data, "unix:%V.%ui",
                                 &pool->path, k)
                     - addr->name.data;

    pool->addrs[k] = addr;

    return addr;
}


/*
 * A request given up before FCGI_END_REQUEST (a timeout, the client went
 * away) may still run in the worker, which serves one at a time: the slot
 * stays busy until the worker answers FCGI_ABORT_REQUEST (5.4) or ends
 * the request, closes, or the read timeout passes once more.  Only at a
 * record boundary of the request; else the connection is just closed.
 */

static ngx_int_t
ngx_http_drover_dispatch_drain(ngx_http_request_t *r,
    ngx_http_drover_dispatch_req_t *d, ngx_peer_connection_t *pc)
{
    u_char                             abort[NGX_HTTP_DROVER_FCGI_HEADER_LEN];
    u_char                            *p;
    ngx_int_t                          rc;
    ngx_str_t                          data;
    ngx_connection_t                  *c;
    ngx_http_upstream_t               *u;
    ngx_http_drover_ctx_t             *ctx;
    ngx_http_drover_dispatch_drain_t  *dr;

    c = pc->connection;
    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    /*
     * A header-only response (HEAD, 204, 304): upstream stops after the
     * header, and what came behind it in the same read (the rest of the
     * answer, FCGI_END_REQUEST) sits unparsed in its buffer, never to be
     * read from the socket again: parse it here, or the drain would wait
     * on the socket until the read timeout with the slot held
     */

    if (r->header_only && c != NULL && !ctx->parser.end_request
        && !ctx->failed && u->buffer.pos < u->buffer.last)
    {
        p = u->buffer.pos;

        do {
            rc = ngx_http_drover_fcgi_parse(&ctx->parser, &p, u->buffer.last,
                                            &data, pc->log);
        } while (rc == NGX_OK);

        u->buffer.pos = p;

        if (rc != NGX_AGAIN) {
            /* the answer is whole (or broken): nothing to drain */
            return NGX_DECLINED;
        }
    }

    if (c == NULL
        || c->pool == NULL
        || !d->held
        || !u->request_sent
        || ctx->parser.end_request
        || ctx->failed
        || u->writer.out
        || u->output.in
        || c->read->eof
        || c->read->error
        || c->write->error)
    {
        return NGX_DECLINED;
    }

    dr = ngx_palloc(c->pool, sizeof(ngx_http_drover_dispatch_drain_t));
    if (dr == NULL) {
        return NGX_DECLINED;
    }

    if (!ctx->abort_sent) {
        ngx_http_drover_fcgi_write_header(abort,
                                          NGX_HTTP_DROVER_FCGI_ABORT_REQUEST,
                                          0, 0);

        if (send(c->fd, abort, sizeof(abort), 0) != (ssize_t) sizeof(abort)) {
            return NGX_DECLINED;
        }

        ctx->abort_sent = 1;
    }

    dr->pool = d->pool;
    dr->slot = d->slot;
    dr->ticket = d->ticket;
    dr->parser = ctx->parser;

    d->held = 0;

    ngx_http_drover_dispatch_rescue_stop(d);
    pc->connection = NULL;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "drover dispatch: draining slot %ui, connection %p",
                   dr->slot, c);

    c->data = dr;
    c->idle = 1;
    c->log = ngx_cycle->log;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;
    c->pool->log = ngx_cycle->log;

    c->read->timedout = 0;
    c->read->handler = ngx_http_drover_dispatch_drain_handler;
    c->write->handler = ngx_http_drover_dispatch_drain_dummy;

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    ngx_add_timer(c->read, u->conf->read_timeout);

    if (c->read->ready) {
        ngx_post_event(c->read, &ngx_posted_events);

    } else if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        c->close = 1;
        ngx_post_event(c->read, &ngx_posted_events);
    }

    return NGX_OK;
}


static void
ngx_http_drover_dispatch_drain_handler(ngx_event_t *ev)
{
    u_char                             buf[4096], *p;
    ssize_t                            n;
    ngx_int_t                          rc;
    ngx_str_t                          data;
    ngx_uint_t                         done;
    ngx_connection_t                  *c;
    ngx_http_drover_dispatch_drain_t  *dr;

    c = ev->data;
    dr = c->data;

    done = (c->close || ev->timedout);

    while (!done) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c->read, 0) == NGX_OK) {
                return;
            }

            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            break;
        }

        p = buf;

        do {
            rc = ngx_http_drover_fcgi_parse(&dr->parser, &p, buf + n, &data,
                                            c->log);
        } while (rc == NGX_OK);

        done = (rc != NGX_AGAIN);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "drover dispatch: slot %ui drained, connection %p",
                   dr->slot, c);

    ngx_http_drover_dispatch_free_slot(dr->pool, dr->slot, dr->ticket, 0);

    ngx_destroy_pool(c->pool);
    ngx_close_connection(c);
}


static void
ngx_http_drover_dispatch_drain_dummy(ngx_event_t *ev)
{
}
