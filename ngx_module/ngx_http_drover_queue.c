
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: the queue of requests that wait for a free slot, in each nginx
 * worker's FIFO, counted in the zone for all nginx workers together.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_module.h"
#include "ngx_http_drover_slots.h"
#include "ngx_http_drover_queue.h"
#include "ngx_http_drover_pipeline.h"


/* how often waiters look at the zone for other workers' releases (ms) */
#define NGX_HTTP_DROVER_DISPATCH_POLL     2


static void ngx_http_drover_dispatch_enqueue(ngx_http_request_t *r,
    ngx_http_drover_dispatch_req_t *d, ngx_msec_t timeout);
static ngx_msec_t ngx_http_drover_dispatch_dequeue(
    ngx_http_drover_dispatch_pool_t *pool, ngx_http_drover_dispatch_req_t *d,
    ngx_uint_t timedout);
static ngx_msec_t ngx_http_drover_dispatch_count_wait(
    ngx_http_drover_dispatch_sh_t *sh, ngx_http_drover_dispatch_req_t *d,
    ngx_uint_t timedout);
static void ngx_http_drover_dispatch_unqueue(
    ngx_http_drover_dispatch_req_t *d);
static void ngx_http_drover_dispatch_timeout(ngx_event_t *ev);
static void ngx_http_drover_dispatch_reject(ngx_http_request_t *r);
static void ngx_http_drover_dispatch_unavailable(ngx_http_request_t *r,
    char *retry);
static void ngx_http_drover_dispatch_fail(ngx_http_request_t *r,
    ngx_http_drover_dispatch_pool_t *pool, ngx_uint_t stopped);
static void ngx_http_drover_dispatch_fail_waiter(
    ngx_http_drover_dispatch_req_t *d);
static void ngx_http_drover_dispatch_cleanup(void *data);


/* the body post handler of a dispatched location */

void
ngx_http_drover_dispatch_start(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_pool_cleanup_t               *cln;
    ngx_http_drover_ctx_t            *ctx;
    ngx_http_drover_loc_conf_t       *dlcf;
    ngx_http_drover_dispatch_req_t   *d;
    ngx_http_drover_dispatch_pool_t  *pool;

    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);
    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_drover_module);

    pool = dlcf->dispatch;
    d = &ctx->dispatch;

    ngx_http_drover_dispatch_refresh(pool, r->connection->log);

    if (pool->no_dispatch || pool->sh == NULL || !pool->sh->active) {
        ngx_http_upstream_init(r);
        return;
    }

    if (!d->cleanup) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        cln->handler = ngx_http_drover_dispatch_cleanup;
        cln->data = d;
        d->cleanup = 1;
    }

    d->pool = pool;
    d->request = r;
    d->dispatched = 1;

    d->limit = ngx_http_drover_dispatch_limit(r, dlcf->pipeline);
    d->window = dlcf->pipeline_timeout;

    /*
     * An exec pool ("kind exec" in PATH.slots): one request per connection,
     * so that droverd tells requests apart by their connection
     * (request_timeout) and php-cgi never waits on a kept one
     */

    if (pool->sh->exec) {
        d->limit = 1;
        ctx->keep_conn = 0;
    }

    rc = ngx_http_drover_dispatch_acquire(pool, d, dlcf->queue_size);

    if (rc == NGX_OK) {
        ngx_http_upstream_init(r);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "drover: every worker of \"%V\" is busy and the queue "
                      "is full (%ui), 503", &pool->path, dlcf->queue_size);

        ngx_http_drover_dispatch_reject(r);
        return;
    }

    if (rc == NGX_ABORT) {
        ngx_http_drover_dispatch_fail(r, pool, d->stopped);
        return;
    }

    ngx_http_drover_dispatch_enqueue(r, d, dlcf->queue_timeout);
}


static void
ngx_http_drover_dispatch_enqueue(ngx_http_request_t *r,
    ngx_http_drover_dispatch_req_t *d, ngx_msec_t timeout)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "drover dispatch: queued for \"%V\"", &d->pool->path);

    d->queued = 1;
    d->queued_at = ngx_current_msec;

    ngx_queue_insert_tail(&d->pool->waiting, &d->queue);

    d->deadline.handler = ngx_http_drover_dispatch_timeout;
    d->deadline.data = d;
    d->deadline.log = r->connection->log;

    ngx_add_timer(&d->deadline, timeout);

    /* a client that goes away while waiting frees its place */

    if (r->read_event_handler == ngx_http_block_reading) {
        r->read_event_handler = ngx_http_test_reading;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_drover_dispatch_post_wake(d->pool);
}


/* the time waited, in ms; counted with the pool's statistics */

static ngx_msec_t
ngx_http_drover_dispatch_dequeue(ngx_http_drover_dispatch_pool_t *pool,
    ngx_http_drover_dispatch_req_t *d, ngx_uint_t timedout)
{
    ngx_msec_t  wait;

    ngx_shmtx_lock(&pool->shpool->mutex);

    wait = ngx_http_drover_dispatch_count_wait(pool->sh, d, timedout);

    ngx_shmtx_unlock(&pool->shpool->mutex);

    ngx_http_drover_dispatch_unqueue(d);

    return wait;
}


/* under the lock: the request leaves the zone's queue */

static ngx_msec_t
ngx_http_drover_dispatch_count_wait(ngx_http_drover_dispatch_sh_t *sh,
    ngx_http_drover_dispatch_req_t *d, ngx_uint_t timedout)
{
    ngx_msec_t  wait;

    wait = ngx_current_msec - d->queued_at;

    if (sh->queued) {
        sh->queued--;
    }

    sh->waited++;
    sh->wait_ms += wait;

    if (sh->wait_max_ms < wait) {
        sh->wait_max_ms = wait;
    }

    if (timedout) {
        sh->timeouts++;
    }

    return wait;
}


/* and this worker's FIFO */

static void
ngx_http_drover_dispatch_unqueue(ngx_http_drover_dispatch_req_t *d)
{
    ngx_queue_remove(&d->queue);
    d->queued = 0;

    if (d->deadline.timer_set) {
        ngx_del_timer(&d->deadline);
    }
}


void
ngx_http_drover_dispatch_post_wake(ngx_http_drover_dispatch_pool_t *pool)
{
    if ((ngx_queue_empty(&pool->waiting) && ngx_queue_empty(&pool->rescues))
        || pool->wake.posted)
    {
        return;
    }

    pool->wake.log = ngx_cycle->log;

    ngx_post_event(&pool->wake, &ngx_posted_events);
}


/*
 * Posted after a release or a new waiter, and every few milliseconds
 * while this worker has waiters: the oldest get the free slots.  If
 * PATH.slots went away meanwhile, they go to PATH without dispatch.
 */

void
ngx_http_drover_dispatch_wake(ngx_event_t *ev)
{
    ngx_uint_t                        k, plain, failing;
    ngx_queue_t                      *q;
    ngx_connection_t                 *c;
    ngx_http_request_t               *r;
    ngx_http_drover_dispatch_sh_t    *sh;
    ngx_http_drover_dispatch_req_t   *d;
    ngx_http_drover_dispatch_pool_t  *pool;

    pool = ev->data;
    sh = pool->sh;

    ngx_http_drover_dispatch_refresh(pool, ev->log);

    /*
     * Requests to take back from behind a long one first: they were
     * dispatched before anyone here waited (ngx_http_drover_dispatch_rescue()
     * lists those that found no place)
     */

    while (!ngx_queue_empty(&pool->rescues)) {
        q = ngx_queue_head(&pool->rescues);
        d = ngx_queue_data(q, ngx_http_drover_dispatch_req_t, rescue_link);

        ngx_http_drover_dispatch_rescue_stop(d);
        ngx_http_drover_dispatch_rescue(&d->rescue);

        if (d->rescue_listed) {
            break;              /* still no place */
        }

        if (d->moving) {

            /*
             * Taken back: it connects to its new slot when its posted
             * read event runs, and the rescue posted this handler again
             * after that event, for the waiters
             */

            return;
        }
    }

    while (!ngx_queue_empty(&pool->waiting)) {

        q = ngx_queue_head(&pool->waiting);
        d = ngx_queue_data(q, ngx_http_drover_dispatch_req_t, queue);

        /* the slot taken and the wait counted under one lock */

        ngx_shmtx_lock(&pool->shpool->mutex);

        plain = !sh->active;
        failing = ngx_http_drover_dispatch_cannot_start(sh);
        k = NGX_HTTP_DROVER_DISPATCH_NONE;

        if (!plain && !failing) {
            k = ngx_http_drover_dispatch_choose(sh,
                                                NGX_HTTP_DROVER_DISPATCH_NONE,
                                                d->limit, d->window);
            if (k != NGX_HTTP_DROVER_DISPATCH_NONE) {
                ngx_http_drover_dispatch_take(sh, d, k);
            }
        }

        if (plain || failing || k != NGX_HTTP_DROVER_DISPATCH_NONE) {
            (void) ngx_http_drover_dispatch_count_wait(sh, d, 0);
        }

        ngx_shmtx_unlock(&pool->shpool->mutex);

        if (!plain && !failing && k == NGX_HTTP_DROVER_DISPATCH_NONE) {
            break;
        }

        ngx_http_drover_dispatch_unqueue(d);

        if (failing) {
            d->stopped = (failing == 2);
            ngx_http_drover_dispatch_fail_waiter(d);
            continue;
        }

        d->dispatched = !plain;

        r = d->request;
        c = r->connection;

        r->read_event_handler = ngx_http_block_reading;

        ngx_http_upstream_init(r);
        ngx_http_run_posted_requests(c);
    }

    if (!ngx_queue_empty(&pool->waiting) && !pool->poll.timer_set) {
        pool->poll.log = ngx_cycle->log;
        ngx_add_timer(&pool->poll, NGX_HTTP_DROVER_DISPATCH_POLL);
    }
}


static void
ngx_http_drover_dispatch_timeout(ngx_event_t *ev)
{
    ngx_msec_t                       wait;
    ngx_connection_t                *c;
    ngx_http_request_t              *r;
    ngx_http_drover_dispatch_req_t  *d;

    d = ev->data;
    r = d->request;
    c = r->connection;

    wait = ngx_http_drover_dispatch_dequeue(d->pool, d, 1);

    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                  "drover: no worker of \"%V\" was free within %M ms "
                  "(drover_queue timeout), 503", &d->pool->path, wait);

    ngx_http_drover_dispatch_reject(r);
    ngx_http_run_posted_requests(c);
}


/* 503 with "Retry-After: 1": every worker is busy right now */

static void
ngx_http_drover_dispatch_reject(ngx_http_request_t *r)
{
    ngx_http_drover_dispatch_unavailable(r, "1");
}


/*
 * 503 at once: droverd says the pool's app cannot start (its workers
 * crashed past restart_limit, or its init failed) and no slot is up.
 * The client gets nginx's plain 503 page; why is in droverd's log.
 * droverd retries a failing pool's workers every 30 s.
 */

static void
ngx_http_drover_dispatch_fail(ngx_http_request_t *r,
    ngx_http_drover_dispatch_pool_t *pool, ngx_uint_t stopped)
{
    if (stopped) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "drover: the pool of \"%V\" is stopped (droverctl "
                      "stop; droverctl start serves it again), 503",
                      &pool->path);

    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "drover: the app of \"%V\" failed to start (droverd "
                      "reports the pool failing, no worker is up; droverd's "
                      "log says why), 503", &pool->path);
    }

    ngx_http_drover_dispatch_unavailable(r, "30");
}


static void
ngx_http_drover_dispatch_unavailable(ngx_http_request_t *r, char *retry)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);

    if (h != NULL) {
        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        h->value.data = (u_char *) retry;
        h->value.len = ngx_strlen(retry);
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
    }

    ngx_http_finalize_request(r, NGX_HTTP_SERVICE_UNAVAILABLE);
}


/* a waiter, out of the queue already, from the wake event */

static void
ngx_http_drover_dispatch_fail_waiter(ngx_http_drover_dispatch_req_t *d)
{
    ngx_connection_t  *c;

    c = d->request->connection;

    ngx_http_drover_dispatch_fail(d->request, d->pool, d->stopped);
    ngx_http_run_posted_requests(c);
}


/* the request is freed: whatever it still has in the zone goes */

static void
ngx_http_drover_dispatch_cleanup(void *data)
{
    ngx_http_drover_dispatch_req_t  *d = data;

    if (d->queued) {
        (void) ngx_http_drover_dispatch_dequeue(d->pool, d, 0);
    }

    if (d->deadline.timer_set) {
        ngx_del_timer(&d->deadline);
    }

    ngx_http_drover_dispatch_rescue_stop(d);
    ngx_http_drover_dispatch_release(d->pool, d, d->retrying);
}


/* drover_queue size=N timeout=TIME; */

char *
ngx_http_drover_queue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_drover_loc_conf_t *dlcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_msec_t   ms;
    ngx_uint_t   i;

    if (dlcf->queue_size != NGX_CONF_UNSET_UINT
        || dlcf->queue_timeout != NGX_CONF_UNSET_MSEC)
    {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {
            n = ngx_atoi(value[i].data + 5, value[i].len - 5);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            dlcf->queue_size = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            dlcf->queue_timeout = ms;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\", expected \"size=N\" or "
                       "\"timeout=TIME\"", &value[i]);

    return NGX_CONF_ERROR;
}
