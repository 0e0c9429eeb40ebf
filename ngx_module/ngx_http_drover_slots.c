
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: droverd's worker slots in the zone: PATH.slots read into it, and
 * a slot chosen, taken and left under the zone's lock.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_module.h"
#include "ngx_http_drover_slots.h"
#include "ngx_http_drover_queue.h"
#include "ngx_http_drover_pipeline.h"


/* how often a worker looks at PATH.slots (ms) */
#define NGX_HTTP_DROVER_DISPATCH_CHECK    1000

/* PATH.slots for 256 slots is about 5 KiB */
#define NGX_HTTP_DROVER_DISPATCH_FILE_MAX 16384


/* PATH.slots as parsed, before it goes into the zone */

typedef struct {
    ngx_uint_t                        generation;
    ngx_uint_t                        nslots;
    ngx_uint_t                        failing;
    ngx_uint_t                        ondemand;
    ngx_uint_t                        exec;
    ngx_pid_t                         pid[NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS];
    u_char                            up[NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS];
} ngx_http_drover_dispatch_file_t;


static char *ngx_http_drover_dispatch_parse(u_char *p, u_char *last,
    ngx_http_drover_dispatch_file_t *f, ngx_uint_t *line);
static void ngx_http_drover_dispatch_reclaim(
    ngx_http_drover_dispatch_pool_t *pool, ngx_log_t *log);
static ngx_uint_t ngx_http_drover_dispatch_drop(
    ngx_http_drover_dispatch_slot_t *s, ngx_uint_t ticket);


/*
 * At most once a second per nginx worker: open, fstat and, when the
 * inode, mtime or size differ from what the zone holds, a read of a few
 * KiB (droverd keeps it on tmpfs, /run).  No file: plain mode.
 */

void
ngx_http_drover_dispatch_refresh(ngx_http_drover_dispatch_pool_t *pool,
    ngx_log_t *log)
{
    char                             *err;
    u_char                            buf[NGX_HTTP_DROVER_DISPATCH_FILE_MAX];
    ssize_t                           n;
    ngx_fd_t                          fd;
    ngx_err_t                         e;
    ngx_uint_t                        k, line, same, was, level;
    ngx_file_info_t                   fi;
    ngx_http_drover_dispatch_sh_t    *sh;
    ngx_http_drover_dispatch_file_t   f;

    if (pool->no_dispatch || pool->sh == NULL) {
        return;
    }

    if (pool->ever_checked
        && ngx_current_msec - pool->checked < NGX_HTTP_DROVER_DISPATCH_CHECK)
    {
        return;
    }

    pool->ever_checked = 1;
    pool->checked = ngx_current_msec;

    sh = pool->sh;

    ngx_http_drover_dispatch_reclaim(pool, log);

    /* a group's slots come from its hosts' answers (_group.c) */

    if (pool->group) {
        return;
    }

    fd = ngx_open_file(pool->slots_path.data, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        e = ngx_errno;

        ngx_shmtx_lock(&pool->shpool->mutex);
        was = sh->active;
        sh->active = 0;
        sh->failing = 0;
        sh->ino = 0;
        sh->size = -1;
        ngx_shmtx_unlock(&pool->shpool->mutex);

        if (was) {
            level = (e == NGX_ENOENT) ? NGX_LOG_NOTICE : NGX_LOG_ERR;

            ngx_log_error(level, log, e, "drover: cannot open \"%V\", "
                          "requests go to \"%V\" without dispatch",
                          &pool->slots_path, &pool->path);
        }

        return;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_fd_info_n " \"%V\" failed", &pool->slots_path);
        goto close;
    }

    ngx_shmtx_lock(&pool->shpool->mutex);

    same = (sh->ino == fi.st_ino
            && sh->mtime == fi.st_mtim.tv_sec
            && sh->mtime_nsec == fi.st_mtim.tv_nsec
            && sh->size == fi.st_size);

    ngx_shmtx_unlock(&pool->shpool->mutex);

    if (same) {
        goto close;
    }

    n = ngx_read_fd(fd, buf, sizeof(buf));

    if (n == -1 || n == (ssize_t) sizeof(buf)) {
        ngx_log_error(NGX_LOG_ERR, log, n == -1 ? ngx_errno : 0,
                      "drover: cannot read \"%V\"%s", &pool->slots_path,
                      n == -1 ? "" : ": too big");
        goto close;
    }

    err = ngx_http_drover_dispatch_parse(buf, buf + n, &f, &line);

    ngx_shmtx_lock(&pool->shpool->mutex);

    /* a bad file is logged once: the next look finds it the same */

    sh->ino = fi.st_ino;
    sh->mtime = fi.st_mtim.tv_sec;
    sh->mtime_nsec = fi.st_mtim.tv_nsec;
    sh->size = fi.st_size;

    if (err == NULL) {
        sh->active = 1;
        sh->generation = f.generation;
        sh->nslots = f.nslots;
        sh->failing = f.failing;
        sh->ondemand = ngx_min(f.ondemand, f.nslots);
        sh->exec = f.exec;

        for (k = 0; k < NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS; k++) {
            sh->slot[k].up = (k < f.nslots) ? f.up[k] : 0;
            sh->slot[k].pid = (k < f.nslots) ? f.pid[k] : 0;
        }
    }

    ngx_shmtx_unlock(&pool->shpool->mutex);

    if (err) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "drover: \"%V\" line %ui: %s",
                      &pool->slots_path, line, err);
    }

close:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &pool->slots_path);
    }
}


/*
 * "drover-slots 1" first; then "generation N", "state S", "slots N" and
 * a line "K up|down PID" per slot (docs/protocols.md).  Lines of other
 * kinds, and states other than "failing" and "stopped", are skipped: a
 * later droverd may add some (extend, don't rename).
 */

static char *
ngx_http_drover_dispatch_parse(u_char *p, u_char *last,
    ngx_http_drover_dispatch_file_t *f, ngx_uint_t *line)
{
    u_char      *eol;
    ngx_uint_t   k, n, have_slots;

    ngx_memzero(f, sizeof(ngx_http_drover_dispatch_file_t));

    have_slots = 0;

    for (*line = 1; p < last; (*line)++, p = eol + 1) {

        eol = ngx_strlchr(p, last, LF);
        if (eol == NULL) {
            return "no newline at the end";
        }

        if (*line == 1) {
            if ((size_t) (eol - p) != sizeof("drover-slots 1") - 1
                || ngx_strncmp(p, "drover-slots 1", eol - p) != 0)
            {
                return "not \"drover-slots 1\"";
            }

            continue;
        }

        if (eol - p > 11 && ngx_strncmp(p, "generation ", 11) == 0) {
            p += 11;

            if (ngx_http_drover_dispatch_number(&p, eol, &f->generation)
                != NGX_OK || p != eol)
            {
                return "bad generation";
            }

            continue;
        }

        if ((size_t) (eol - p) == sizeof("state failing") - 1
            && ngx_strncmp(p, "state failing", eol - p) == 0)
        {
            f->failing = 1;
            continue;
        }

        /* a stopped pool (droverctl stop) cannot start either */

        if ((size_t) (eol - p) == sizeof("state stopped") - 1
            && ngx_strncmp(p, "state stopped", eol - p) == 0)
        {
            f->failing = 2;
            continue;
        }

        /*
         * "workers ondemand": droverd holds the down slots' sockets and
         * starts a worker when a connection waits there
         */

        if (eol - p > 9 && ngx_strncmp(p, "ondemand ", 9) == 0) {
            p += 9;

            if (ngx_http_drover_dispatch_number(&p, eol, &f->ondemand)
                != NGX_OK || p != eol)
            {
                return "bad ondemand";
            }

            continue;
        }

        /*
         * an exec pool's program (php-cgi) knows nothing of pipelining
         * nor of a request taken back: "kind exec" turns both off
         */

        if ((size_t) (eol - p) == sizeof("kind exec") - 1
            && ngx_strncmp(p, "kind exec", eol - p) == 0)
        {
            f->exec = 1;
            continue;
        }

        if (eol - p > 6 && ngx_strncmp(p, "slots ", 6) == 0) {
            p += 6;

            if (ngx_http_drover_dispatch_number(&p, eol, &f->nslots) != NGX_OK
                || p != eol
                || f->nslots > NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS)
            {
                return "bad slot count";
            }

            have_slots = 1;
            continue;
        }

        if (*p < '0' || *p > '9') {
            continue;
        }

        if (!have_slots) {
            return "slot before \"slots\"";
        }

        if (ngx_http_drover_dispatch_number(&p, eol, &k) != NGX_OK
            || k >= f->nslots
            || p == eol || *p++ != ' ')
        {
            return "bad slot number";
        }

        if (eol - p > 3 && ngx_strncmp(p, "up ", 3) == 0) {
            f->up[k] = 1;
            p += 3;

        } else if (eol - p > 5 && ngx_strncmp(p, "down ", 5) == 0) {
            f->up[k] = 0;
            p += 5;

        } else {
            return "slot neither \"up\" nor \"down\"";
        }

        if (ngx_http_drover_dispatch_number(&p, eol, &n) != NGX_OK
            || p != eol)
        {
            return "bad pid";
        }

        f->pid[k] = (ngx_pid_t) n;
    }

    if (*line == 1) {
        return "empty";
    }

    if (!have_slots) {
        return "no \"slots\" line";
    }

    return NULL;
}



/*
 * An nginx worker that died (a crash: graceful exits release first)
 * would hold its slots for ever: they are freed when its pid is gone.
 */

static void
ngx_http_drover_dispatch_reclaim(ngx_http_drover_dispatch_pool_t *pool,
    ngx_log_t *log)
{
    ngx_uint_t                        k, t;
    ngx_pid_t                         owner;
    ngx_http_drover_dispatch_sh_t    *sh;
    ngx_http_drover_dispatch_slot_t  *s;

    sh = pool->sh;

    for (k = 0; k < NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS; k++) {
        s = &sh->slot[k];

        for (t = 0; t < NGX_HTTP_DROVER_DISPATCH_DEPTH; t++) {

            /* a racy first look; the decision is taken under the lock */

            owner = s->owner[t];

            if (!s->busy || owner == 0 || owner == ngx_pid
                || kill(owner, 0) == 0 || ngx_errno != NGX_ESRCH)
            {
                continue;
            }

            ngx_shmtx_lock(&pool->shpool->mutex);

            if (s->busy && s->owner[t] == owner) {
                ngx_http_drover_dispatch_leave(sh, k, t, 1);

                ngx_log_error(NGX_LOG_WARN, log, 0,
                              "drover: a place on slot %ui of \"%V\" freed: "
                              "nginx worker %P that held it is gone",
                              k, &pool->path, owner);
            }

            ngx_shmtx_unlock(&pool->shpool->mutex);
        }
    }
}


/*
 * NGX_OK: the request holds a slot; NGX_AGAIN: it is counted in the
 * queue (the caller queues it); NGX_DECLINED: the queue is full;
 * NGX_ABORT: droverd says the pool cannot start and no slot is up.
 */

ngx_int_t
ngx_http_drover_dispatch_acquire(ngx_http_drover_dispatch_pool_t *pool,
    ngx_http_drover_dispatch_req_t *d, ngx_uint_t queue_size)
{
    ngx_uint_t                      k, why;
    ngx_http_drover_dispatch_sh_t  *sh;

    sh = pool->sh;

    ngx_shmtx_lock(&pool->shpool->mutex);

    why = ngx_http_drover_dispatch_cannot_start(sh);

    if (why) {
        d->stopped = (why == 2);
        ngx_shmtx_unlock(&pool->shpool->mutex);
        return NGX_ABORT;
    }

    /* no overtaking: while any request waits, a free slot is for it */

    if (sh->queued == 0) {
        k = ngx_http_drover_dispatch_choose(sh, NGX_HTTP_DROVER_DISPATCH_NONE,
                                            d->limit, d->window);

        if (k != NGX_HTTP_DROVER_DISPATCH_NONE) {
            ngx_http_drover_dispatch_take(sh, d, k);
            ngx_shmtx_unlock(&pool->shpool->mutex);
            return NGX_OK;
        }
    }

    if (sh->queued >= queue_size) {
        sh->overflows++;
        ngx_shmtx_unlock(&pool->shpool->mutex);
        return NGX_DECLINED;
    }

    sh->queued++;

    ngx_shmtx_unlock(&pool->shpool->mutex);

    return NGX_AGAIN;
}


/*
 * Under the lock: droverd says the pool is failing (its app crashed past
 * restart_limit or its init failed: 1) or stopped (droverctl stop: 2) and
 * not one slot is up: waiting would only end in the queue's timeout.
 */

ngx_uint_t
ngx_http_drover_dispatch_cannot_start(ngx_http_drover_dispatch_sh_t *sh)
{
    ngx_uint_t  k, n;

    if (!sh->active || !sh->failing) {
        return 0;
    }

    n = ngx_min(sh->nslots, NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS);

    for (k = 0; k < n; k++) {
        if (sh->slot[k].up) {
            return 0;
        }
    }

    return sh->failing;
}


/*
 * Under the lock: an up slot with nothing in flight, the latest freed;
 * else, in an on-demand pool, the first down slot with nothing in flight.
 * With a limit above 1, else one with fewer than "limit" requests whose
 * running request began less than "window" ago: the fewest waiting, then
 * the youngest.
 *
 * One exception, for a pool whose requests are measured to take less
 * than NGX_HTTP_DROVER_DISPATCH_FAST_US: there a busy slot whose worker
 * finished or began a request less than that ago goes before a free one.
 * That worker is awake and reads the request within microseconds, while
 * a free worker sleeps in epoll_wait() and writing to it costs nginx a
 * wake-up (bench/README.md, "Why hello still trails: wake-ups").
 */

ngx_uint_t
ngx_http_drover_dispatch_choose(ngx_http_drover_dispatch_sh_t *sh,
    ngx_uint_t except, ngx_uint_t limit, ngx_msec_t window)
{
    uint64_t                          now;
    ngx_uint_t                        k, n, best, fast, sa, ba;
    ngx_http_drover_dispatch_slot_t  *s, *b;

    best = NGX_HTTP_DROVER_DISPATCH_NONE;
    n = ngx_min(sh->nslots, NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS);

    if (sh->exec) {
        limit = 1;      /* never behind another request: "kind exec" */
    }

    now = 0;
    fast = (limit > 1 && window > 0
            && sh->service_n >= NGX_HTTP_DROVER_DISPATCH_FAST_SAMPLES
            && sh->service_us < NGX_HTTP_DROVER_DISPATCH_FAST_US);

    if (fast) {
        now = ngx_http_drover_dispatch_usec();
        fast = (now != 0);
    }

    for (k = 0; k < n; k++) {
        s = &sh->slot[k];

        /* a down slot of an on-demand pool: one request starts it */

        if ((!s->up && (k >= sh->ondemand || s->busy))
            || s->busy >= limit || k == except)
        {
            continue;
        }

        if (s->busy
            && (ngx_msec_int_t) (ngx_current_msec - s->head)
               >= (ngx_msec_int_t) window)
        {
            continue;
        }

        if (best == NGX_HTTP_DROVER_DISPATCH_NONE) {
            best = k;
            continue;
        }

        b = &sh->slot[best];

        /* a running worker before one that has to start */

        if (s->up != b->up) {
            if (s->up) {
                best = k;
            }

            continue;
        }

        /* in a fast pool, an awake worker before a sleeping one */

        if (fast) {
            sa = ngx_http_drover_dispatch_awake(s, now);
            ba = ngx_http_drover_dispatch_awake(b, now);

            if (sa != ba) {
                if (sa) {
                    best = k;
                }

                continue;
            }
        }

        if (s->busy < b->busy
            || (s->busy == b->busy && s->busy == 0 && s->freed > b->freed)
            || (s->busy == b->busy && s->busy != 0
                && (ngx_msec_int_t) (s->head - b->head) > 0))
        {
            best = k;
        }
    }

    return best;
}


/* under the lock */

void
ngx_http_drover_dispatch_take(ngx_http_drover_dispatch_sh_t *sh,
    ngx_http_drover_dispatch_req_t *d, ngx_uint_t k)
{
    ngx_uint_t                        t;
    ngx_http_drover_dispatch_slot_t  *s;

    s = &sh->slot[k];

    /* choose() left a free place: busy < limit <= DEPTH */

    for (t = 0; t < NGX_HTTP_DROVER_DISPATCH_DEPTH - 1; t++) {
        if (s->owner[t] == 0) {
            break;
        }
    }

    if (s->busy == 0) {
        s->head = ngx_current_msec;
        s->last_us = ngx_http_drover_dispatch_usec();
        d->behind = 0;

    } else {
        sh->pipelined++;
        d->behind = 1;
    }

    s->busy++;
    s->owner[t] = ngx_pid;
    sh->requests++;

    d->slot = k;
    d->ticket = t;
    d->held = 1;
}


/*
 * Under the lock.  The worker moves on to a request waiting behind, if
 * there is one: as far as nginx knows, it begins now.
 */

void
ngx_http_drover_dispatch_leave(ngx_http_drover_dispatch_sh_t *sh,
    ngx_uint_t k, ngx_uint_t ticket, ngx_uint_t failed)
{
    uint64_t                          now, took;
    ngx_http_drover_dispatch_slot_t  *s;

    s = &sh->slot[k];

    if (!ngx_http_drover_dispatch_drop(s, ticket)) {
        return;
    }

    s->head = ngx_current_msec;
    s->freed = failed ? 0 : ++sh->freed_seq;

    /*
     * The request's time on the slot: since the one before it ended, or
     * since it began on an idle worker.  A mean over about 8 requests;
     * a failure or a time over a second counts as a second, so a pool
     * that fails or turns slow stops being fast at once.
     */

    now = ngx_http_drover_dispatch_usec();

    if (now == 0) {
        s->last_us = 0;
        return;
    }

    took = (s->last_us == 0 || failed || now - s->last_us > 1000000)
           ? 1000000 : now - s->last_us;

    s->last_us = now;

    if (sh->service_n < NGX_HTTP_DROVER_DISPATCH_FAST_SAMPLES) {
        sh->service_n++;
        sh->service_us = (sh->service_n == 1) ? took
                         : (sh->service_us + took) / 2;
        return;
    }

    sh->service_us = sh->service_us - sh->service_us / 8 + took / 8;
}


/*
 * Under the lock: a place given back unused, by a take-back
 * (ngx_http_drover_dispatch_rescue()).  No request ended there: the
 * worker still runs the one it began, or never saw this one.  So only
 * the place goes, as if take() had not been; the slot's head, its
 * "freed" order and the pool's measured service time stay.
 */

void
ngx_http_drover_dispatch_unhold(ngx_http_drover_dispatch_sh_t *sh,
    ngx_uint_t k, ngx_uint_t ticket)
{
    if (!ngx_http_drover_dispatch_drop(&sh->slot[k], ticket)) {
        return;
    }

    if (sh->requests) {
        sh->requests--;
    }
}


/* the place "ticket" goes; 0 if it was not held (a second release) */

static ngx_uint_t
ngx_http_drover_dispatch_drop(ngx_http_drover_dispatch_slot_t *s,
    ngx_uint_t ticket)
{
    if (s->owner[ticket] == 0 || s->busy == 0) {
        return 0;
    }

    s->owner[ticket] = 0;
    s->busy--;

    return 1;
}


/* CLOCK_MONOTONIC in microseconds, read now (not nginx's cached time) */

uint64_t
ngx_http_drover_dispatch_usec(void)
{
    struct timespec  ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1) {
        return 0;
    }

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


/*
 * A slot that failed is freed as "never freed": the next requests prefer
 * the others.  Waiters of this worker are woken after the current event,
 * so that a replay in progress (free, then get) is not outrun.
 */

void
ngx_http_drover_dispatch_release(ngx_http_drover_dispatch_pool_t *pool,
    ngx_http_drover_dispatch_req_t *d, ngx_uint_t failed)
{
    if (!d->held) {
        return;
    }

    d->held = 0;

    ngx_http_drover_dispatch_rescue_stop(d);

    ngx_http_drover_dispatch_free_slot(pool, d->slot, d->ticket, failed);
}


void
ngx_http_drover_dispatch_free_slot(ngx_http_drover_dispatch_pool_t *pool,
    ngx_uint_t k, ngx_uint_t ticket, ngx_uint_t failed)
{
    ngx_shmtx_lock(&pool->shpool->mutex);

    ngx_http_drover_dispatch_leave(pool->sh, k, ticket, failed);

    ngx_shmtx_unlock(&pool->shpool->mutex);

    ngx_http_drover_dispatch_post_wake(pool);
}


/*
 * A replay goes to another free slot; when there is none it stays on the
 * slot it holds: droverd's new worker there accepts it from the socket's
 * backlog within milliseconds, and no other request was let in (in a
 * group, it goes behind a busy slot of another host first).
 */

void
ngx_http_drover_dispatch_switch(ngx_http_drover_dispatch_pool_t *pool,
    ngx_http_drover_dispatch_req_t *d)
{
    ngx_uint_t                      k, old, ticket;
    ngx_http_drover_dispatch_sh_t  *sh;

    sh = pool->sh;
    old = d->slot;
    ticket = d->ticket;

    ngx_shmtx_lock(&pool->shpool->mutex);

    k = ngx_http_drover_dispatch_choose(sh, old, 1, 0);

    /*
     * In a group the slot held may be on a host that is gone: rather
     * behind a busy worker of another host (the rescue timer may move it
     * on) than on a socket nobody listens on
     */

    if (k == NGX_HTTP_DROVER_DISPATCH_NONE && pool->group) {
        k = ngx_http_drover_dispatch_choose(sh, old,
                                            NGX_HTTP_DROVER_DISPATCH_DEPTH,
                                            NGX_MAX_INT32_VALUE);
    }

    if (k != NGX_HTTP_DROVER_DISPATCH_NONE) {
        ngx_http_drover_dispatch_take(sh, d, k);
        ngx_http_drover_dispatch_leave(sh, old, ticket, 1);
    }

    ngx_shmtx_unlock(&pool->shpool->mutex);

    if (k != NGX_HTTP_DROVER_DISPATCH_NONE) {
        ngx_http_drover_dispatch_post_wake(pool);
    }
}
