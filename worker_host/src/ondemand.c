/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * ondemand.c -- pools started by their first connection and stopped when
 * idle, process_max and the start throttle (ondemand.h says how).
 */

#include "ondemand.h"
#include "log.h"
#include "preloader.h"
#include "proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>


struct drover_od_watch_s {
    uv_poll_t              poll;
    drover_pool_t         *pool;
    int                    slot;          /* its index, -1: the shared one */
    int                    active;
};


struct drover_od_s {
    drover_manager_t      *mgr;
    uv_timer_t             tick;          /* idle checks */
    uv_timer_t             kick;          /* starts that waited, again */
    unsigned               handles;       /* open timers: freed at 0 */
    unsigned               nworkers;      /* slots with a worker, all pools */
    unsigned               process_max;   /* 0: no cap */
    int                    capped;        /* the cap was logged */
    int                    waiting;       /* a start waits (cap, throttle) */
    unsigned long long     tokens;        /* cold starts, in 1/1000 */
    unsigned long long     tokens_ms;     /* when last refilled */
};


static void od_tick_cb(uv_timer_t *t);
static void od_kick_cb(uv_timer_t *t);


static drover_pool_conf_t *
od_conf(drover_pool_t *p)
{
    return p->cur != NULL ? p->cur->conf
         : p->pending != NULL ? p->pending->conf : NULL;
}


static int
od_pool(drover_pool_t *p)
{
    drover_pool_conf_t  *pc = od_conf(p);

    return pc != NULL && pc->ondemand;
}


static int
od_state_has_worker(drover_slot_state_t state)
{
    return state == SLOT_FORKING || state == SLOT_RUNNING
           || state == SLOT_STOPPING;
}


static unsigned
od_pool_workers(const drover_pool_t *p)
{
    unsigned  k, n;

    for (k = 0, n = 0; k < p->nslots; k++) {
        n += drover_slot_has_worker(p->slots[k]);
    }

    return n;
}


/* ---- the manager's state ---- */

int
drover_ondemand_init(drover_manager_t *m)
{
    drover_od_t  *od;

    od = calloc(1, sizeof(drover_od_t));
    if (od == NULL) {
        return -ENOMEM;
    }

    od->mgr = m;
    od->tokens = DROVER_OD_STARTS_PER_S * 1000ULL;
    od->tokens_ms = drover_proc_now_ms();

    uv_timer_init(&m->loop, &od->tick);
    uv_timer_init(&m->loop, &od->kick);
    od->tick.data = od;
    od->kick.data = od;
    od->handles = 2;

    uv_timer_start(&od->tick, od_tick_cb, DROVER_OD_TICK_MS,
                   DROVER_OD_TICK_MS);

    m->od = od;
    return 0;
}


static void
od_timer_close_cb(uv_handle_t *h)
{
    drover_od_t  *od = h->data;

    if (--od->handles == 0) {
        free(od);
    }
}


static void
od_watch_close_cb(uv_handle_t *h)
{
    free(h->data);
}


static void
od_watch_close(drover_od_watch_t **wp)
{
    drover_od_watch_t  *w = *wp;

    if (w == NULL) {
        return;
    }

    *wp = NULL;
    uv_close((uv_handle_t *) &w->poll, od_watch_close_cb);
}


void
drover_ondemand_slot_gone(drover_slot_t *s)
{
    od_watch_close(&s->od_watch);
}


void
drover_ondemand_pool_gone(drover_pool_t *p)
{
    unsigned  k;

    for (k = 0; k < p->nslots; k++) {
        od_watch_close(&p->slots[k]->od_watch);
    }

    od_watch_close(&p->od_watch);
}


void
drover_ondemand_close(drover_manager_t *m)
{
    drover_od_t    *od = m->od;
    drover_pool_t  *p;

    for (p = m->pools; p != NULL; p = p->next) {
        drover_ondemand_pool_gone(p);
    }

    if (od == NULL) {
        return;
    }

    m->od = NULL;
    uv_close((uv_handle_t *) &od->tick, od_timer_close_cb);
    uv_close((uv_handle_t *) &od->kick, od_timer_close_cb);
}


void
drover_ondemand_set_conf(drover_manager_t *m, const drover_conf_t *conf)
{
    if (m->od != NULL) {
        m->od->process_max = conf->process_max;
        m->od->capped = 0;
    }
}


/*
 * Every pool holds its shared socket, one socket per slot, the two ends
 * of its handoff channel, its scoreboard memfd and its output socket; a
 * generation its config memfd and its preloader's channel and pidfd; a
 * worker its pidfd.  Polling a socket takes no descriptor (epoll).
 */
int
drover_ondemand_fds_enough(const drover_conf_t *conf, int raise, char *msg,
    size_t size)
{
    int                        hard_ok;
    struct rlimit              rl;
    unsigned long long         need;
    const drover_pool_conf_t  *pc;

    need = 64;          /* stdio, the log, the loop, control sockets */

    for (pc = conf->pools; pc != NULL; pc = pc->next) {
        need += 1 + pc->workers + 2 + 1 + 2 + 3 + pc->workers;
    }

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY
        || need <= rl.rlim_cur)
    {
        return 1;
    }

    hard_ok = (rl.rlim_max == RLIM_INFINITY || need <= rl.rlim_max);

    /* at start: as far as the hard limit allows */
    if (raise && hard_ok) {
        rl.rlim_cur = need;

        if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
            return 1;
        }

        hard_ok = 0;
    }

    if (hard_ok) {
        snprintf(msg, size, "%zu pools need about %llu file descriptors and "
                 "the soft RLIMIT_NOFILE is %llu: droverd raises it to %llu "
                 "at start (hard limit %llu)", conf->npools, need,
                 (unsigned long long) rl.rlim_cur, need,
                 (unsigned long long) rl.rlim_max);
    } else {
        snprintf(msg, size, "%zu pools need about %llu file descriptors and "
                 "RLIMIT_NOFILE is %llu (hard limit %llu): set "
                 "LimitNOFILE=%llu in droverd.service (or ulimit -n %llu)",
                 conf->npools, need, (unsigned long long) rl.rlim_cur,
                 (unsigned long long) rl.rlim_max, need, need);
    }

    return (hard_ok && !raise) ? -1 : 0;
}


/* ---- watching the sockets of pools with no worker ---- */

static drover_slot_t *
od_pick_slot(drover_pool_t *p)
{
    unsigned  k;

    for (k = 0; k < p->nslots; k++) {
        if (p->slots[k]->scale == SLOT_KEPT
            && p->slots[k]->state == SLOT_EMPTY)
        {
            return p->slots[k];
        }
    }

    for (k = 0; k < p->nslots; k++) {
        if (p->slots[k]->scale == SLOT_KEPT
            && p->slots[k]->state == SLOT_BACKOFF)
        {
            return p->slots[k];
        }
    }

    return NULL;
}


static void
od_watch_readable_cb(uv_poll_t *h, int status, int events)
{
    drover_od_watch_t  *w = h->data;
    drover_pool_t      *p = w->pool;
    drover_slot_t      *s;

    (void) events;

    uv_poll_stop(h);
    w->active = 0;

    if (status < 0) {
        drover_log_error(DROVER_LOG_ERROR, status, "pool %s: cannot watch "
                         "its socket for connections", p->name);
        return;
    }

    s = (w->slot >= 0) ? p->slots[w->slot] : od_pick_slot(p);
    if (s == NULL) {
        return;
    }

    drover_log_error(DROVER_LOG_INFO, 0, "pool %s: a connection waits on %s "
                     "socket: starting worker %u", p->name,
                     w->slot >= 0 ? "its slot" : "the shared", s->index);

    s->od_wanted = 1;
    drover_slot_start(s);
    drover_ondemand_sync(p);
}


static void
od_watch_set(drover_pool_t *p, drover_od_watch_t **wp, int slot, int fd,
    int on)
{
    int                 rc;
    drover_od_watch_t  *w = *wp;

    if (!on || fd < 0) {
        if (w != NULL && w->active) {
            uv_poll_stop(&w->poll);
            w->active = 0;
        }
        return;
    }

    if (w == NULL) {
        w = calloc(1, sizeof(drover_od_watch_t));
        if (w == NULL) {
            return;
        }

        rc = uv_poll_init(&p->mgr->loop, &w->poll, fd);
        if (rc != 0) {
            drover_log_error(DROVER_LOG_ERROR, rc, "pool %s: cannot watch "
                             "its socket for connections", p->name);
            free(w);
            return;
        }

        w->poll.data = w;
        w->pool = p;
        w->slot = slot;
        *wp = w;
    }

    if (!w->active
        && uv_poll_start(&w->poll, UV_READABLE, od_watch_readable_cb) == 0)
    {
        w->active = 1;
    }
}


/*
 * A slot's socket is watched while it has no worker and none is wanted;
 * the shared socket while the pool has no worker at all (a running one
 * accepts there itself; more workers come through the slot sockets, which
 * the nginx module spreads requests over).
 */
void
drover_ondemand_sync(drover_pool_t *p)
{
    int             live, on, busy;
    unsigned        k;
    drover_slot_t  *s;

    /* a stopped pool (droverctl stop) starts nothing: its connections
       wait in the backlog; droverctl start's generation syncs again */
    live = od_pool(p) && p->cur != NULL && !drover_pool_removing(p)
           && p->state != POOL_STOPPED
           && !drover_manager_stopping(p->mgr) && p->mgr->od != NULL;
    busy = 0;

    for (k = 0; k < p->nslots; k++) {
        s = p->slots[k];
        on = live && s->scale == SLOT_KEPT && !drover_slot_has_worker(s)
             && !s->od_wanted;
        busy |= drover_slot_has_worker(s) || s->od_wanted;

        if (on || s->od_watch != NULL) {
            od_watch_set(p, &s->od_watch, (int) k, s->sock.fd, on);
        }
    }

    on = live && !busy;

    if (on || p->od_watch != NULL) {
        od_watch_set(p, &p->od_watch, -1, p->shared.fd, on);
    }
}


/* ---- starting ---- */

static void
od_kick_soon(drover_od_t *od, unsigned long long ms)
{
    od->waiting = 1;

    if (!uv_is_active((uv_handle_t *) &od->kick)
        || uv_timer_get_due_in(&od->kick) > ms)
    {
        uv_timer_start(&od->kick, od_kick_cb, ms, 0);
    }
}


/* a token for a cold pool start, or 0 and the wait for the next one */
static int
od_take_token(drover_od_t *od, unsigned long long *wait_ms)
{
    unsigned long long  now, full;

    now = drover_proc_now_ms();
    full = DROVER_OD_STARTS_PER_S * 1000ULL;

    od->tokens += (now - od->tokens_ms) * DROVER_OD_STARTS_PER_S;
    od->tokens_ms = now;

    if (od->tokens > full) {
        od->tokens = full;
    }

    if (od->tokens >= 1000) {
        od->tokens -= 1000;
        return 1;
    }

    *wait_ms = (1000 - od->tokens + DROVER_OD_STARTS_PER_S - 1)
               / DROVER_OD_STARTS_PER_S;
    return 0;
}


int
drover_ondemand_may_start(drover_slot_t *s)
{
    drover_pool_t       *p = s->pool;
    drover_od_t         *od = p->mgr->od;
    drover_pool_conf_t  *pc = p->cur->conf;
    unsigned long long   wait;

    if (od == NULL) {
        return 1;
    }

    if (pc->ondemand && (!s->od_wanted || p->cur->od_idle_stop)) {
        return 0;       /* watched; or its preloader is on its way out */
    }

    if (od->process_max != 0 && od->nworkers >= od->process_max) {
        if (!od->capped) {
            od->capped = 1;
            drover_log_error(DROVER_LOG_WARN, 0, "process_max %u reached: "
                             "pool %s: worker %u waits until a worker of "
                             "any pool stops", od->process_max, p->name,
                             s->index);
        }

        od->waiting = 1;
        return 0;
    }

    if (pc->ondemand && od_pool_workers(p) == 0
        && (!pc->preload || p->cur->pid == 0)
        && !od_take_token(od, &wait))
    {
        if (!s->od_throttled) {
            s->od_throttled = 1;
            drover_log_error(DROVER_LOG_INFO, 0, "pool %s: over %d pool "
                             "starts a second: starting in %llu ms", p->name,
                             DROVER_OD_STARTS_PER_S, wait);
        }

        od_kick_soon(od, wait);
        return 0;
    }

    s->od_throttled = 0;
    return 1;
}


void
drover_ondemand_need_preloader(drover_gen_t *g)
{
    drover_pool_t  *p = g->pool;

    if (!g->conf->ondemand || g != p->cur || g->pid > 0 || g->retired
        || g->od_idle_stop || uv_is_active((uv_handle_t *) &g->timer))
    {
        return;     /* running, stopping, or waiting for its backoff */
    }

    drover_gen_preloader_start(g);
}


/* starts that waited for process_max or the throttle, in pool order */
static void
od_kick_cb(uv_timer_t *t)
{
    unsigned        k;
    drover_od_t    *od = t->data;
    drover_pool_t  *p;
    drover_slot_t  *s;

    od->waiting = 0;

    for (p = od->mgr->pools; p != NULL; p = p->next) {
        if (drover_pool_removing(p) || p->cur == NULL) {
            continue;
        }

        for (k = 0; k < p->nslots; k++) {
            s = p->slots[k];

            if (s->state == SLOT_EMPTY && s->scale == SLOT_KEPT
                && (!p->cur->conf->ondemand || s->od_wanted))
            {
                drover_slot_start(s);
            }
        }

        if (drover_pool_rolling(p)) {
            drover_pool_roll(p);
        }
    }
}


void
drover_ondemand_slot_changed(drover_slot_t *s, drover_slot_state_t from)
{
    int             was, now;
    drover_pool_t  *p = s->pool;
    drover_od_t    *od = p->mgr->od;

    if (od == NULL) {
        return;
    }

    was = od_state_has_worker(from);
    now = drover_slot_has_worker(s);

    if (now && !was) {
        od->nworkers++;
        s->od_wanted = 0;
        s->od_active_ms = drover_proc_now_ms();
        s->od_seen = 0;

    } else if (was && !now) {
        od->nworkers--;

        /* it served: replaced as in any pool (crash backoff included)
           unless it idled out or the slot stops for good */
        s->od_wanted = (s->stop_reason != EXIT_IDLE
                        && s->stop_reason != EXIT_STOP);

        if (od_pool_workers(p) == 0) {
            p->od_empty_ms = drover_proc_now_ms();
        }

        if (od->process_max != 0 && od->nworkers < od->process_max) {
            od->capped = 0;
        }

        if (od->waiting) {
            od_kick_soon(od, 0);
        }
    }

    drover_ondemand_sync(p);
}


/* ---- generations ---- */

int
drover_ondemand_gen_begin(drover_pool_t *p, drover_gen_t *g)
{
    drover_gen_t  *old;

    if (!g->conf->ondemand || g != p->pending) {
        return 0;
    }

    if (p->cur != NULL && od_pool_workers(p) > 0) {
        /* the rollout's canary needs a worker in slot 0 */
        p->slots[0]->od_wanted = 1;
        return 0;
    }

    if (p->cur == NULL) {
        drover_pool_gen_ready(p, g);       /* cur = g, serving */
        drover_manager_maybe_ready(p->mgr);
        drover_ondemand_sync(p);
        return 1;
    }

    /* nothing runs: the new generation serves from the next connection */
    if (g->conf->workers != p->nslots
        && drover_pool_resize(p, g->conf, g->conf->workers) != 0)
    {
        drover_pool_gen_failed(p, g, "cannot change the number of workers");
        return 1;
    }

    old = p->cur;
    p->pending = NULL;
    p->cur = g;
    drover_pool_set_state(p, POOL_SERVING, "on demand: nothing to roll");
    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: generation %u serves "
                     "(on demand: it starts with the next connection)",
                     p->name, g->id);

    drover_gen_retire(old);
    drover_gen_maybe_free(old);
    drover_ondemand_sync(p);

    if (p->mgr->reload_pending) {
        drover_manager_reload(p->mgr);
    }

    return 1;
}


int
drover_ondemand_preloader_exited(drover_gen_t *g, int status)
{
    unsigned        k;
    drover_pool_t  *p = g->pool;

    if (!g->od_idle_stop) {
        if (g->conf->ondemand && g == p->cur && p->health == POOL_HEALTHY
            && WIFEXITED(status) && WEXITSTATUS(status) == DROVER_EXIT_INIT)
        {
            drover_pool_set_health(p, POOL_FAILING, "the app's init failed");
        }

        return 0;
    }

    g->od_idle_stop = 0;
    g->quick_deaths = 0;

    drover_log_error(DROVER_LOG_INFO, 0, "pool %s: idle preloader "
                     "(generation %u) stopped", p->name, g->id);

    /* a connection came while it went: a new one starts for it */
    for (k = 0; k < p->nslots; k++) {
        if (p->slots[k]->od_wanted) {
            drover_slot_start(p->slots[k]);
        }
    }

    drover_ondemand_sync(p);
    return 1;
}


/* ---- idle ---- */

/* 1 when the worker showed a sign of life since the last look */
static int
od_worker_active(drover_slot_t *s)
{
    unsigned            i;
    unsigned long long  seen;

    drover_slot_read_sb(s);

    seen = s->sb.requests;

    if (s->ring_n > 0) {
        i = (s->ring_pos + DROVER_SAMPLES - 1) % DROVER_SAMPLES;
        seen += s->ring[i].cpu_ticks;
    }

    if (seen != s->od_seen || s->sb.state == DROVER_SB_BUSY) {
        s->od_seen = seen;
        return 1;
    }

    return 0;
}


/*
 * A connection waits in the shared socket's backlog.  Stock front ends
 * reach the pool only there: while every worker that runs is busy, the
 * tick starts one more (up to MAX), as PHP-FPM's ondemand forks on a
 * connection no idle child took.
 */
static int
od_shared_pending(drover_pool_t *p)
{
    struct pollfd  pfd;

    if (p->shared.fd < 0) {
        return 0;
    }

    pfd.fd = p->shared.fd;
    pfd.events = POLLIN;
    pfd.revents = 0;

    return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}


static void
od_pool_idle(drover_pool_t *p, unsigned long long now)
{
    unsigned             k, running, stable, wanted, busy;
    drover_gen_t        *g = p->cur;
    drover_slot_t       *s;
    drover_pool_conf_t  *pc = g->conf;
    unsigned long long   since;

    running = 0;
    stable = 0;
    wanted = 0;
    busy = 0;

    for (k = 0; k < p->nslots; k++) {
        s = p->slots[k];
        wanted |= s->od_wanted;

        if (drover_slot_has_worker(s)) {
            running++;
        }

        if (s->state != SLOT_RUNNING || s->gen != g) {
            continue;
        }

        if (now - s->started_ms >= DROVER_RESTART_STABLE_MS) {
            stable++;
        }

        if (od_worker_active(s)) {
            s->od_active_ms = now;
            busy += (s->sb.state == DROVER_SB_BUSY);

        } else if (now - s->od_active_ms >= pc->idle_ms) {
            drover_log_error(DROVER_LOG_INFO, 0, "pool %s: worker %u (pid "
                             "%ld) served nothing for %llu ms: stopping it",
                             p->name, s->index, (long) s->pid,
                             now - s->od_active_ms);
            drover_slot_stop(s, EXIT_IDLE, SIGTERM);
        }
    }

    if (running > 0 && busy == running && running < p->nslots
        && !wanted && od_shared_pending(p))
    {
        s = od_pick_slot(p);

        if (s != NULL) {
            drover_log_error(DROVER_LOG_INFO, 0, "pool %s: every worker is "
                             "busy and a connection waits on the shared "
                             "socket: starting worker %u", p->name, s->index);
            s->od_wanted = 1;
            drover_slot_start(s);
            drover_ondemand_sync(p);
        }
    }

    /* the workers that run live: not failing any more (memory.c's rule
       wants every slot up, which an on-demand pool need not have) */
    if (p->health == POOL_FAILING && stable > 0 && stable == running) {
        drover_pool_set_health(p, POOL_HEALTHY, "its workers run");
        drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: its workers run "
                         "again: no longer failing", p->name);
    }

    since = p->od_empty_ms > g->started_ms ? p->od_empty_ms : g->started_ms;

    if (pc->preload && g->pid > 0 && g->state == GEN_READY
        && !g->od_idle_stop && running == 0 && !wanted
        && now - since >= pc->idle_ms)
    {
        drover_log_error(DROVER_LOG_INFO, 0, "pool %s: no worker for %llu ms: "
                         "stopping its preloader (pid %ld); the next "
                         "connection starts it again", p->name, now - since,
                         (long) g->pid);
        g->od_idle_stop = 1;
        (void) drover_pidcheck_signal(g->pidfd, g->pid, SIGTERM);
    }
}


static void
od_tick_cb(uv_timer_t *t)
{
    drover_od_t         *od = t->data;
    drover_pool_t       *p;
    unsigned long long   now = drover_proc_now_ms();

    if (drover_manager_stopping(od->mgr)) {
        return;
    }

    for (p = od->mgr->pools; p != NULL; p = p->next) {
        if (p->cur != NULL && p->cur->conf->ondemand
            && p->state == POOL_SERVING && p->pending == NULL)
        {
            od_pool_idle(p, now);
        }
    }
}
