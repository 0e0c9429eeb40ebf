/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * rollout.c -- a new generation replacing the serving one: prestart, the
 * canary, one slot at a time, rollback; and the reload (SIGHUP) that
 * starts it.
 */

#include "manager_int.h"
#include "log.h"
#include "ondemand.h"
#include "proc.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>


/* ---- pools: generations, prestart, rollout ---- */

static void
prestart_done_cb(drover_prestart_t *ps, int status, const char *message,
    void *data)
{
    drover_pool_t  *p = data;
    drover_gen_t   *g = p->pending;

    if (ps != NULL) {
        p->prestart_last = *drover_prestart_result(ps);
        p->prestart_ran = 1;
    }

    p->prestart = NULL;

    if (g == NULL) {
        return;
    }

    if (status != 0) {
        if (p->cur == NULL && p->mgr->state != MANAGER_STARTING) {
            /* droverctl start, or a pool a reload added: the others go on */
            drover_pool_start_prestart_failed(p, g, message);
            return;
        }

        if (p->cur == NULL) {
            /* the first start: prestart must succeed before any worker */
            drover_log_error(DROVER_LOG_EMERG, 0, "pool %s: prestart failed: "
                             "%s; no worker starts, droverd exits", p->name,
                             message);
            p->mgr->exit_code = 1;
            p->mgr->stop_quick = 1;

            /* after prestart has closed its own handles */
            uv_timer_start(&p->mgr->defer_timer, drover_defer_stop_cb, 0, 0);
            return;
        }

        drover_pool_gen_failed(p, g, message);
        return;
    }

    if (drover_ondemand_gen_begin(p, g)) {
        return;
    }

    if (g->conf->preload) {
        drover_gen_preloader_start(g);
    } else {
        drover_pool_gen_ready(p, g);
    }
}


void
drover_pool_begin_gen(drover_pool_t *p, drover_gen_t *g)
{
    int  rc;

    p->pending = g;

    if (p->cur != NULL) {
        drover_pool_set_state(p, POOL_LOADING, g->keep_slots
                              ? "droverctl restart" : "reload");
    }

    /* systemd's start timeout must not run out while migrations do */
    if (g->conf->nprestart > 0 && p->mgr->state == MANAGER_STARTING) {
        drover_notify_send(&p->mgr->notify, "EXTEND_TIMEOUT_USEC=%llu\n"
                           "STATUS=pool %s: prestart",
                           (unsigned long long) g->conf->prestart_timeout_ms
                           * 1000 + 10000000, p->name);
    }

    rc = drover_prestart_start(&p->mgr->loop, g->ref->conf, g->conf,
                               prestart_done_cb, p, &p->prestart);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, -rc, "pool %s: cannot run "
                         "prestart", p->name);
        p->prestart = NULL;
        prestart_done_cb(NULL, rc, "prestart could not start", p);
    }
}


void
drover_pool_gen_failed(drover_pool_t *p, drover_gen_t *g, const char *why)
{
    unsigned  k;

    drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: reload failed: %s; "
                     "generation %u keeps serving", p->name, why,
                     drover_pool_rolling(p) ? p->prev->id
                     : (p->cur ? p->cur->id : 0));

    if (drover_pool_rolling(p) && g == p->cur) {
        /* back to the previous generation for every slot */
        p->cur = p->prev;
        p->prev = g;
        drover_pool_set_state(p, POOL_SERVING, "rolled back");

        for (k = 0; k < p->nslots; k++) {
            drover_slot_t  *s = p->slots[k];

            if (s->gen == g) {
                drover_slot_stop(s, EXIT_RELOAD, SIGTERM);
            }
        }

        p->prev = NULL;

        if (p->nslots != p->cur->conf->workers) {
            (void) drover_pool_resize(p, p->cur->conf, p->cur->conf->workers);
        }

        for (k = 0; k < p->nslots; k++) {
            drover_slot_start(p->slots[k]);
        }
    }

    if (p->pending == g) {
        p->pending = NULL;

        if (p->state == POOL_LOADING) {
            drover_pool_set_state(p, POOL_SERVING, "the new generation "
                                  "failed");
        }
    }

    drover_gen_retire(g);
    drover_manager_maybe_done(p->mgr);

    if (p->mgr->reload_pending && !drover_pool_rolling(p)) {
        drover_manager_reload(p->mgr);
    }
}


static void
roll_timer_cb(uv_timer_t *t)
{
    drover_pool_t  *p = t->data;

    drover_pool_set_state(p, POOL_ROLLING, "the canary lived");
    drover_pool_roll(p);
}


/*
 * The rollout's next step, from the slots alone (no process is touched):
 * wait while a replacement forks or an old worker stops (one slot at a
 * time); during the canary, only slot 0 moves and must then live
 * DROVER_CANARY_MS; after it, the first slot (from *k on) whose worker is
 * of the old generation stops, or whose slot is empty starts.  A scan
 * resumed past a slot that did not start (from > 0) skips the waits.
 */
drover_roll_step_t
drover_roll_next(const drover_pool_t *p, unsigned from, unsigned *k)
{
    unsigned              i;
    const drover_slot_t  *s;

    if (from == 0) {
        for (i = 0; i < p->nslots; i++) {
            s = p->slots[i];

            if (s->gen == p->cur && s->state == SLOT_FORKING) {
                return ROLL_WAIT;     /* wait for the replacement to run */
            }

            if (s->state == SLOT_STOPPING) {
                return ROLL_WAIT;     /* one slot at a time */
            }
        }
    }

    if (p->state == POOL_CANARY) {
        s = p->slots[0];
        *k = 0;

        if (s->gen == p->cur && s->state == SLOT_RUNNING) {
            return ROLL_CANARY_RUNS;
        }

        if (s->gen == p->prev && s->state == SLOT_RUNNING) {
            return ROLL_STOP;
        }

        if (s->state == SLOT_EMPTY) {
            return ROLL_START;
        }

        return ROLL_WAIT;
    }

    for (i = from; i < p->nslots; i++) {
        s = p->slots[i];
        *k = i;

        if (s->gen == p->prev && s->state == SLOT_RUNNING) {
            return ROLL_STOP;
        }

        if (s->state == SLOT_EMPTY) {
            return ROLL_START;
        }
    }

    return ROLL_DONE;
}


/* every slot runs the new generation */
static void
pool_rolled(drover_pool_t *p)
{
    drover_gen_t  *old;

    drover_pool_set_state(p, POOL_SERVING, "every slot runs the new "
                          "generation");

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: generation %u serves "
                     "(rolled over in %llu ms)", p->name, p->cur->id,
                     drover_proc_now_ms() - p->roll_started_ms);

    if (p->prev != NULL) {
        old = p->prev;

        drover_gen_retire(old);
        if (p->prev == old && !uv_is_closing((uv_handle_t *) &old->timer)) {
            p->prev = NULL;
            drover_gen_maybe_free(old);
        }
    }

    if (p->mgr->reload_pending) {
        drover_manager_reload(p->mgr);
    }
}


/*
 * One slot at a time: stop an old worker (it finishes its request first),
 * its replacement comes from the new generation, then the next.  The first
 * replacement is a canary that must live DROVER_CANARY_MS.
 */
void
drover_pool_roll(drover_pool_t *p)
{
    int             canary;
    unsigned        k, from;
    drover_slot_t  *s;

    if (!drover_pool_rolling(p) || drover_manager_stopping(p->mgr)) {
        return;
    }

    for (from = 0; /* void */; from = k + 1) {
        k = 0;

        switch (drover_roll_next(p, from, &k)) {

        case ROLL_WAIT:
            return;

        case ROLL_CANARY_RUNS:
            if (!uv_is_active((uv_handle_t *) &p->roll_timer)) {
                uv_timer_start(&p->roll_timer, roll_timer_cb,
                               DROVER_CANARY_MS, 0);
            }
            return;

        case ROLL_STOP:
            drover_slot_stop(p->slots[k], EXIT_RELOAD, SIGTERM);
            return;

        case ROLL_START:
            s = p->slots[k];
            canary = (p->state == POOL_CANARY);

            /* may end the canary or the rollout: a spawn that failed */
            drover_slot_start(s);

            if (canary || drover_slot_has_worker(s)) {
                return;
            }

            break;      /* it did not start: the next slot */

        case ROLL_DONE:
            pool_rolled(p);
            return;
        }
    }
}


/*
 * The worker of slot s (of generation g, lived ms) exited: was it a
 * reload's canary that died before it proved itself?  Then the old
 * generation keeps serving.
 */
int
drover_pool_canary_died(const drover_pool_t *p, const drover_slot_t *s,
    const drover_gen_t *g, unsigned long long lived)
{
    return p->state == POOL_CANARY && g == p->cur && s->index == 0
           && lived < DROVER_CANARY_MS + DROVER_RESTART_STABLE_MS;
}


/*
 * The pending generation can serve.  On the first start its workers start;
 * on a reload the rollout begins.
 */
void
drover_pool_gen_ready(drover_pool_t *p, drover_gen_t *g)
{
    unsigned  k;

    if (g != p->pending) {
        if (g == p->cur) {
            /* a restarted preloader: start what waits for it */
            for (k = 0; k < p->nslots; k++) {
                drover_slot_start(p->slots[k]);
            }
        }
        return;
    }

    p->pending = NULL;

    if (p->cur == NULL) {
        p->cur = g;
        drover_pool_set_state(p, POOL_SERVING, "its first generation is "
                              "ready");

        for (k = 0; k < p->nslots; k++) {
            drover_slot_start(p->slots[k]);
        }

        return;
    }

    if (!g->keep_slots && g->conf->workers != p->nslots
        && drover_pool_resize(p, g->conf, g->conf->workers) != 0)
    {
        drover_pool_resize(p, p->cur->conf, p->cur->conf->workers);
        p->pending = g;
        drover_pool_gen_failed(p, g, "cannot change the number of workers");
        return;
    }

    p->prev = p->cur;
    p->cur = g;
    drover_pool_set_state(p, POOL_CANARY, "the new generation is ready");
    p->roll_started_ms = drover_proc_now_ms();

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: generation %u ready, "
                     "replacing generation %u one worker at a time",
                     p->name, g->id, p->prev->id);

    drover_pool_roll(p);
}


/* ---- reload ---- */

static int
pool_listen_same(const drover_pool_conf_t *a, const drover_pool_conf_t *b)
{
    return strcmp(a->listen.path, b->listen.path) == 0;
}


static void
pool_remove(drover_pool_t *p)
{
    unsigned  k;

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: no longer in the "
                     "configuration: stopping it", p->name);

    drover_pool_set_state(p, POOL_REMOVING, "gone from the configuration");
    uv_timer_stop(&p->roll_timer);

    if (p->prestart != NULL) {
        drover_prestart_cancel(p->prestart);
        p->prestart = NULL;
    }

    for (k = 0; k < p->nslots; k++) {
        drover_slot_stop(p->slots[k], EXIT_STOP, SIGTERM);
    }

    if (p->pending != NULL) {
        drover_gen_retire(p->pending);
    }

    if (p->prev != NULL) {
        drover_gen_retire(p->prev);
    }

    if (p->cur != NULL) {
        drover_gen_retire(p->cur);
    }

    drover_pool_maybe_free(p);
}


static int
manager_busy(drover_manager_t *m)
{
    drover_pool_t  *p;

    /*
     * A pool whose first start keeps failing (its preloader dies and is
     * retried with backoff) has a pending generation that will never
     * serve: it must not hold back a reload, which is how its fix comes
     */
    for (p = m->pools; p != NULL; p = p->next) {
        if (!drover_pool_removing(p) && p->state != POOL_START_FAILED
            && (drover_pool_rolling(p) || p->pending != NULL))
        {
            return 1;
        }
    }

    return 0;
}


void
drover_manager_reload(drover_manager_t *m)
{
    int                  rc;
    char                 err[2048];
    drover_conf_t       *conf;
    drover_gen_t        *g;
    drover_pool_t       *p, *next, **tail;
    drover_confref_t    *ref;
    drover_pool_conf_t  *pc;

    if (drover_manager_stopping(m)) {
        return;
    }

    if (manager_busy(m)) {
        /* a reload is under way: one more when it is done (SIGHUP storms) */
        m->reload_pending = 1;
        return;
    }

    m->reload_pending = 0;

    drover_log_error(DROVER_LOG_NOTICE, 0, "reloading %s", m->path);
    drover_notify_send(&m->notify, "RELOADING=1\nSTATUS=reloading");

    rc = drover_manager_load(m->path, &conf, err, sizeof(err));
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, 0, "reload refused, the running "
                         "configuration stays: %s", err);
        drover_notify_send(&m->notify, "READY=1\nSTATUS=reload refused: "
                           "configuration invalid");
        return;
    }

    ref = calloc(1, sizeof(drover_confref_t));
    if (ref == NULL) {
        drover_conf_free(conf);
        drover_log_error(DROVER_LOG_ERROR, ENOMEM, "reload");
        return;
    }

    ref->conf = conf;
    ref->refs = 1;

    drover_log_set_level(conf->log_level);
    drover_ondemand_set_conf(m, conf);

    /* pools gone, or whose socket moved: stop them */
    for (p = m->pools; p != NULL; p = next) {
        next = p->next;

        if (drover_pool_removing(p)) {
            continue;
        }

        pc = drover_conf_find_pool(conf, p->name);

        if (pc == NULL || !pool_listen_same(drover_pool_conf(p), pc)) {
            pool_remove(p);
        }
    }

    for (pc = conf->pools; pc != NULL; pc = pc->next) {
        for (p = m->pools; p != NULL; p = p->next) {
            if (!drover_pool_removing(p) && strcmp(p->name, pc->name) == 0) {
                break;
            }
        }

        if (p == NULL) {
            /* a new pool */
            p = drover_pool_create(m, ref, pc);
            if (p == NULL) {
                drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: cannot add "
                                 "it", pc->name);
                continue;
            }

            for (tail = &m->pools; *tail != NULL; tail = &(*tail)->next) {
                /* void */
            }
            *tail = p;

            drover_pool_announce(p);
            drover_pool_begin_gen(p, p->pending);
            continue;
        }

        drover_pool_listen_update(p, pc);

        if (p->state == POOL_STOPPED) {
            /* it stays stopped: droverctl start runs the new one */
            drover_pool_stopped_update(p, ref, pc);
            continue;
        }

        g = drover_gen_create(p, ref, pc);
        if (g == NULL) {
            continue;
        }

        if (p->state == POOL_START_FAILED && p->pending != NULL) {
            /* its first start kept failing: the new generation replaces it */
            drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: generation %u "
                             "never started; generation %u replaces it",
                             p->name, p->pending->id, g->id);

            drover_gen_retire(p->pending);
            p->pending = NULL;
            drover_pool_set_state(p, POOL_STARTING, "reload");
        }

        drover_pool_begin_gen(p, g);
    }

    drover_confref_put(m->ref);
    m->ref = ref;

    drover_notify_send(&m->notify, "READY=1\nSTATUS=reloaded");
}
