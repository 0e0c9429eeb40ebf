
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: pipelining, a request sent behind another on a busy slot, and
 * taken back when that slot's worker has not read it in time.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_module.h"
#include "ngx_http_drover_slots.h"
#include "ngx_http_drover_queue.h"
#include "ngx_http_drover_pipeline.h"

#if (NGX_LINUX)
#include <sys/ioctl.h>
#include <linux/sockios.h>          /* SIOCOUTQ */
#endif


/* the largest request body that may wait behind another request */
#define NGX_HTTP_DROVER_DISPATCH_PIPELINE_BODY  65536


#if (NGX_LINUX && defined SIOCOUTQ)
static ngx_int_t ngx_http_drover_dispatch_unread(ngx_connection_t *c,
    ngx_log_t *log, int *unread);
static ssize_t ngx_http_drover_dispatch_withdrawn(ngx_connection_t *c,
    u_char *buf, size_t size);
#endif


/*
 * How many requests a slot may have in flight when this one takes it:
 * 1 + drover_pipeline for a request that can be taken back, whose body
 * is in nginx's buffers and small enough for droverd to read whole
 * before it looks whether nginx took it back; else 1.
 */

ngx_uint_t
ngx_http_drover_dispatch_limit(ngx_http_request_t *r, ngx_uint_t pipeline)
{
#if (NGX_LINUX && defined SIOCOUTQ)
    if (pipeline
        && !r->request_body_no_buffering
        && (r->headers_in.content_length_n <= 0
            ? r->headers_in.chunked == 0
            : r->headers_in.content_length_n
              <= NGX_HTTP_DROVER_DISPATCH_PIPELINE_BODY))
    {
        return 1 + pipeline;
    }
#endif

    return 1;
}


/*
 * DROVER_WITHDRAW_AFTER: the earliest time, in microseconds of the host's
 * CLOCK_MONOTONIC, at which the rescue below may shut the connection.
 * droverd runs a request it read whole before that time without looking
 * whether the connection was shut (no poll() per request), so the rescue
 * never shuts before it.  A bit under the timeout, so that the rescue
 * timer, armed a little later from nginx's cached time, rarely finds it
 * still ahead.  Only for a pool of this host's Unix sockets: a group's
 * hosts have clocks of their own (NGX_DECLINED, and droverd looks).
 */

ngx_int_t
ngx_http_drover_dispatch_withdraw_after(ngx_http_request_t *r,
    ngx_http_drover_dispatch_req_t *d, ngx_str_t *value)
{
#if (NGX_LINUX && defined SIOCOUTQ)
    uint64_t  now, margin;

    if (d->pool == NULL || d->pool->group || d->window == 0) {
        return NGX_DECLINED;
    }

    now = ngx_http_drover_dispatch_usec();
    if (now == 0) {
        return NGX_DECLINED;
    }

    margin = (d->window >= 2) ? 1000 : 500;

    d->withdraw_after = now + (uint64_t) d->window * 1000 - margin;

    value->data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    value->len = ngx_sprintf(value->data, "%uL", d->withdraw_after)
                 - value->data;

    return NGX_OK;
#else
    return NGX_DECLINED;
#endif
}


/*
 * "drover_pipeline timeout" after a request went to its slot, and again
 * as long as it waits: while its bytes are all still in the socket (no
 * worker read it: the one there runs a long request) and a slot that is
 * free or began its request less than the timeout ago can take it, it
 * is taken back.  Its connection fails without a log line, the upstream
 * closes it (droverd drops a request closed before it read a byte of it)
 * and connects again, to the new slot.  No try is used up.
 *
 * A request that found no place is listed in pool->rescues, and the
 * next release in this nginx worker tries it before the queue
 * (ngx_http_drover_dispatch_wake()): it was dispatched before any
 * waiter, and a waiter given that place would leave it behind the long
 * request until that one ends.
 */

void
ngx_http_drover_dispatch_rescue(ngx_event_t *ev)
{
#if (NGX_LINUX && defined SIOCOUTQ)
    int                               unread;
    uint64_t                          now;
    ngx_err_t                         err;
    ngx_uint_t                        level;
    ngx_uint_t                        k, old, ticket;
    ngx_connection_t                 *c;
    ngx_http_request_t               *r;
    ngx_http_upstream_t              *u;
    ngx_http_drover_dispatch_sh_t    *sh;
    ngx_http_drover_dispatch_req_t   *d;
    ngx_http_drover_dispatch_pool_t  *pool;

    d = ev->data;
    r = d->request;
    u = r->upstream;
    pool = d->pool;
    sh = pool->sh;

    if (d->rescue_listed) {
        ngx_queue_remove(&d->rescue_link);
        d->rescue_listed = 0;
    }

    if (!d->held || d->responded || d->moving || d->shut || u == NULL
        || !u->request_sent || !u->request_body_sent)
    {
        return;
    }

    c = u->peer.connection;

    if (c == NULL || c->read->eof || c->read->error) {
        return;
    }

    if (d->withdraw_after) {
        now = ngx_http_drover_dispatch_usec();

        if (now < d->withdraw_after) {
            /* droverd may still run it unlooked: not yet */
            ngx_add_timer(ev, (ngx_msec_t)
                              ((d->withdraw_after - now + 999) / 1000));
            return;
        }
    }

    if (ngx_http_drover_dispatch_unread(c, ev->log, &unread) != NGX_OK
        || unread == 0)
    {
        /* the worker has it */
        return;
    }

    old = d->slot;
    ticket = d->ticket;

    /* a place elsewhere first: without one the request stays */

    ngx_shmtx_lock(&pool->shpool->mutex);

    k = ngx_http_drover_dispatch_choose(sh, old, d->limit, d->window);

    if (k != NGX_HTTP_DROVER_DISPATCH_NONE) {
        ngx_http_drover_dispatch_take(sh, d, k);
    }

    ngx_shmtx_unlock(&pool->shpool->mutex);

    if (k == NGX_HTTP_DROVER_DISPATCH_NONE) {
        ngx_add_timer(ev, d->window);

        ngx_queue_insert_tail(&pool->rescues, &d->rescue_link);
        d->rescue_listed = 1;

        return;
    }

    /*
     * Then the withdrawal: once the sending side is shut, droverd, which
     * reads such a request whole before it looks at that side, runs it
     * only if it read the last byte before the shutdown.  So bytes still
     * unread after it mean the request will not run there; none unread
     * means the worker may run it, and the request stays.
     */

    d->shut = 1;

    if (shutdown(c->fd, SHUT_WR) == -1) {
        err = ngx_socket_errno;

        /*
         * ENOTCONN: a TCP peer reset the connection (its host died); the
         * read side sees the error next and replays the request under the
         * usual rules, so the request stays where it is until then
         */

        level = (err == NGX_ENOTCONN) ? NGX_LOG_INFO : NGX_LOG_ALERT;

        ngx_log_error(level, ev->log, err, "shutdown(SHUT_WR) failed");
        unread = 0;

    } else if (ngx_http_drover_dispatch_unread(c, ev->log, &unread)
               != NGX_OK)
    {
        unread = 0;
    }

    ngx_shmtx_lock(&pool->shpool->mutex);

    if (unread == 0) {

        /* the worker may run it: the new place goes back unused */

        ngx_http_drover_dispatch_unhold(sh, k, d->ticket);

        d->slot = old;
        d->ticket = ticket;
        d->behind = 1;

    } else {

        /* the old slot's worker still runs the request it began */

        ngx_http_drover_dispatch_unhold(sh, old, ticket);
        sh->moved++;
    }

    ngx_shmtx_unlock(&pool->shpool->mutex);

    if (unread == 0) {
        ngx_http_drover_dispatch_post_wake(pool);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "drover: request taken back from slot %ui of \"%V\", "
                  "whose worker did not read it within %M ms, "
                  "for slot %ui", old, &pool->path, d->window, k);

    d->moving = 1;

    c->recv = ngx_http_drover_dispatch_withdrawn;
    c->read->ready = 1;

    ngx_post_event(c->read, &ngx_posted_events);

    /*
     * The waiters after it: it connects to the new slot when its read
     * event runs, and its bytes should reach that worker before theirs.
     * A wake posted already (by a release in this same cycle, when the
     * poll timer ran this) moves behind the read event.
     */

    if (pool->wake.posted) {
        ngx_delete_posted_event(&pool->wake);
    }

    ngx_http_drover_dispatch_post_wake(pool);
#endif
}


/* no more take-back for d: its timer stopped, off the pool's list */

void
ngx_http_drover_dispatch_rescue_stop(ngx_http_drover_dispatch_req_t *d)
{
    if (d->rescue.timer_set) {
        ngx_del_timer(&d->rescue);
    }

    if (d->rescue_listed) {
        ngx_queue_remove(&d->rescue_link);
        d->rescue_listed = 0;
    }
}


#if (NGX_LINUX && defined SIOCOUTQ)

/* what the worker has not read yet of what was sent on c, in kernel units */

static ngx_int_t
ngx_http_drover_dispatch_unread(ngx_connection_t *c, ngx_log_t *log,
    int *unread)
{
    if (ioctl(c->fd, SIOCOUTQ, unread) == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_socket_errno,
                      "ioctl(SIOCOUTQ) failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the recv of a connection taken back: an error, without a log line */

static ssize_t
ngx_http_drover_dispatch_withdrawn(ngx_connection_t *c, u_char *buf,
    size_t size)
{
    c->read->ready = 0;
    c->read->error = 1;

    return NGX_ERROR;
}

#endif


/* drover_pipeline off | N [timeout=TIME]; */

char *
ngx_http_drover_pipeline(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_drover_loc_conf_t *dlcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_msec_t   ms;

    if (dlcf->pipeline != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        n = 0;

    } else {
        n = ngx_atoi(value[1].data, value[1].len);

        if (n == NGX_ERROR || n < 1 || n >= NGX_HTTP_DROVER_DISPATCH_DEPTH) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\", expected \"off\" or "
                               "a number from 1 to %d", &value[1],
                               NGX_HTTP_DROVER_DISPATCH_DEPTH - 1);
            return NGX_CONF_ERROR;
        }
    }

    dlcf->pipeline = n;

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[2].data, "timeout=", 8) != 0) {
        goto invalid;
    }

    s.data = value[2].data + 8;
    s.len = value[2].len - 8;

    ms = ngx_parse_time(&s, 0);
    if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
        goto invalid;
    }

    dlcf->pipeline_timeout = ms;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\", expected \"timeout=TIME\"",
                       &value[2]);

    return NGX_CONF_ERROR;
}
