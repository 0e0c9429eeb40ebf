/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * lifecycle.c -- the named states of the manager, its pools, their
 * generations' preloaders and their slots: the transitions each allows (the
 * tables here are the reference), and the one function per object that
 * changes its state.
 */

#include "manager_int.h"
#include "log.h"
#include "ondemand.h"

#include <errno.h>


#define BIT(s)  (1u << (s))


static const char  *slot_names[SLOT_NSTATES] = {
    "empty", "backoff", "forking", "running", "stopping"
};

static const unsigned  slot_next[SLOT_NSTATES] = {
    /* a worker spawned or asked for; a spawn failed: restart later */
    [SLOT_EMPTY]    = BIT(SLOT_FORKING) | BIT(SLOT_RUNNING)
                      | BIT(SLOT_BACKOFF),
    /* the restart timer fired, or the slot was stopped meanwhile */
    [SLOT_BACKOFF]  = BIT(SLOT_EMPTY),
    /* FORKED came, or the preloader died first */
    [SLOT_FORKING]  = BIT(SLOT_RUNNING) | BIT(SLOT_EMPTY),
    /* signalled, or exited by itself */
    [SLOT_RUNNING]  = BIT(SLOT_STOPPING) | BIT(SLOT_EMPTY),
    [SLOT_STOPPING] = BIT(SLOT_EMPTY),
};


static const char  *scale_names[SLOT_NSCALES] = {
    "kept", "leaving", "left"
};

static const unsigned  scale_next[SLOT_NSCALES] = {
    /* scaled away: its worker stops first, or it has none */
    [SLOT_KEPT]    = BIT(SLOT_LEAVING) | BIT(SLOT_LEFT),
    /* its worker exited; or scaled back up before it did */
    [SLOT_LEAVING] = BIT(SLOT_LEFT) | BIT(SLOT_KEPT),
    [SLOT_LEFT]    = BIT(SLOT_KEPT),
};


static const char  *gen_names[GEN_NSTATES] = {
    "none", "loading", "ready"
};

static const unsigned  gen_next[GEN_NSTATES] = {
    [GEN_NONE]    = BIT(GEN_LOADING),
    /* READY came, or it died first */
    [GEN_LOADING] = BIT(GEN_READY) | BIT(GEN_NONE),
    [GEN_READY]   = BIT(GEN_NONE),
};


static const char  *pool_names[POOL_NSTATES] = {
    "starting", "start_failed", "serving", "loading", "canary", "rolling",
    "stopped", "removing", "gone"
};

/* any live pool can be removed by a reload */
#define TO_REMOVING  BIT(POOL_REMOVING)

static const unsigned  pool_next[POOL_NSTATES] = {
    [POOL_STARTING]     = BIT(POOL_SERVING) | BIT(POOL_START_FAILED)
                          | BIT(POOL_STOPPED) | TO_REMOVING,
    /* a reload replaces a first generation that keeps failing */
    [POOL_START_FAILED] = BIT(POOL_SERVING) | BIT(POOL_STOPPED)
                          | BIT(POOL_STARTING) | TO_REMOVING,
    [POOL_SERVING]      = BIT(POOL_LOADING) | BIT(POOL_STOPPED)
                          | TO_REMOVING,
    /* the new generation failed, or is ready: the canary starts */
    [POOL_LOADING]      = BIT(POOL_SERVING) | BIT(POOL_CANARY)
                          | TO_REMOVING,
    /* the canary lived; it died (rollback) or droverd stops */
    [POOL_CANARY]       = BIT(POOL_ROLLING) | BIT(POOL_SERVING)
                          | TO_REMOVING,
    /* every slot moved, or droverd stops */
    [POOL_ROLLING]      = BIT(POOL_SERVING) | TO_REMOVING,
    /* droverctl start: a new first generation (pool_ops.c) */
    [POOL_STOPPED]      = BIT(POOL_STARTING) | TO_REMOVING,
    [POOL_REMOVING]     = BIT(POOL_GONE),
    [POOL_GONE]         = 0,
};


static const char  *health_names[POOL_NHEALTH] = {
    "healthy", "failing"
};


static const char  *manager_names[MANAGER_NSTATES] = {
    "starting", "serving", "stopping"
};

static const unsigned  manager_next[MANAGER_NSTATES] = {
    [MANAGER_STARTING] = BIT(MANAGER_SERVING) | BIT(MANAGER_STOPPING),
    [MANAGER_SERVING]  = BIT(MANAGER_STOPPING),
    [MANAGER_STOPPING] = 0,
};


static const char *
state_name(const char *const *names, unsigned n, unsigned state)
{
    return state < n ? names[state] : "?";
}


static int
next_ok(const unsigned *table, unsigned n, unsigned from, unsigned to)
{
    return from < n && to < n && (table[from] & BIT(to)) != 0;
}


const char *
drover_slot_state_name(drover_slot_state_t state)
{
    return state_name(slot_names, SLOT_NSTATES, state);
}


const char *
drover_slot_scale_name(drover_slot_scale_t scale)
{
    return state_name(scale_names, SLOT_NSCALES, scale);
}


const char *
drover_gen_state_name(drover_gen_state_t state)
{
    return state_name(gen_names, GEN_NSTATES, state);
}


const char *
drover_pool_state_name(drover_pool_state_t state)
{
    return state_name(pool_names, POOL_NSTATES, state);
}


const char *
drover_pool_health_name(drover_pool_health_t health)
{
    return state_name(health_names, POOL_NHEALTH, health);
}


const char *
drover_manager_state_name(drover_manager_state_t state)
{
    return state_name(manager_names, MANAGER_NSTATES, state);
}


int
drover_slot_state_next_ok(drover_slot_state_t from, drover_slot_state_t to)
{
    return next_ok(slot_next, SLOT_NSTATES, from, to);
}


int
drover_slot_scale_next_ok(drover_slot_scale_t from, drover_slot_scale_t to)
{
    return next_ok(scale_next, SLOT_NSCALES, from, to);
}


int
drover_gen_state_next_ok(drover_gen_state_t from, drover_gen_state_t to)
{
    return next_ok(gen_next, GEN_NSTATES, from, to);
}


int
drover_pool_state_next_ok(drover_pool_state_t from, drover_pool_state_t to)
{
    return next_ok(pool_next, POOL_NSTATES, from, to);
}


int
drover_manager_state_next_ok(drover_manager_state_t from,
    drover_manager_state_t to)
{
    return next_ok(manager_next, MANAGER_NSTATES, from, to);
}


/*
 * A slot's transitions are logged at debug: its worker's start and exit
 * already have their info lines.  Staying in a state is no transition.
 */
int
drover_slot_set_state(drover_slot_t *s, drover_slot_state_t to,
    const char *why)
{
    drover_slot_state_t  from;

    if (s->state == to) {
        return 0;
    }

    if (!drover_slot_state_next_ok(s->state, to)) {
        drover_log_error(DROVER_LOG_ALERT, 0, "pool %s: worker %u: %s -> %s "
                         "(%s) is not a transition: refused (a bug)",
                         s->pool->name, s->index,
                         drover_slot_state_name(s->state),
                         drover_slot_state_name(to), why);
        return -EINVAL;
    }

    drover_log_error(DROVER_LOG_DEBUG, 0, "pool %s: worker %u: %s -> %s (%s)",
                     s->pool->name, s->index,
                     drover_slot_state_name(s->state),
                     drover_slot_state_name(to), why);
    from = s->state;
    s->state = to;
    drover_ondemand_slot_changed(s, from);
    return 0;
}


int
drover_slot_set_scale(drover_slot_t *s, drover_slot_scale_t to,
    const char *why)
{
    if (s->scale == to) {
        return 0;
    }

    if (!drover_slot_scale_next_ok(s->scale, to)) {
        drover_log_error(DROVER_LOG_ALERT, 0, "pool %s: slot %u: %s -> %s "
                         "(%s) is not a transition: refused (a bug)",
                         s->pool->name, s->index,
                         drover_slot_scale_name(s->scale),
                         drover_slot_scale_name(to), why);
        return -EINVAL;
    }

    drover_log_error(DROVER_LOG_DEBUG, 0, "pool %s: slot %u: %s -> %s (%s)",
                     s->pool->name, s->index,
                     drover_slot_scale_name(s->scale),
                     drover_slot_scale_name(to), why);
    s->scale = to;
    return 0;
}


/* a preloader's transitions are logged at debug, as a slot's */
int
drover_gen_set_state(drover_gen_t *g, drover_gen_state_t to, const char *why)
{
    if (g->state == to) {
        return 0;
    }

    if (!drover_gen_state_next_ok(g->state, to)) {
        drover_log_error(DROVER_LOG_ALERT, 0, "pool %s: preloader "
                         "(generation %u): %s -> %s (%s) is not a "
                         "transition: refused (a bug)", g->pool->name, g->id,
                         drover_gen_state_name(g->state),
                         drover_gen_state_name(to), why);
        return -EINVAL;
    }

    drover_log_error(DROVER_LOG_DEBUG, 0, "pool %s: preloader (generation "
                     "%u): %s -> %s (%s)", g->pool->name, g->id,
                     drover_gen_state_name(g->state),
                     drover_gen_state_name(to), why);
    g->state = to;
    return 0;
}


int
drover_pool_set_state(drover_pool_t *p, drover_pool_state_t to,
    const char *why)
{
    if (p->state == to) {
        return 0;
    }

    if (!drover_pool_state_next_ok(p->state, to)) {
        drover_log_error(DROVER_LOG_ALERT, 0, "pool %s: %s -> %s (%s) is not "
                         "a transition: refused (a bug)", p->name,
                         drover_pool_state_name(p->state),
                         drover_pool_state_name(to), why);
        return -EINVAL;
    }

    drover_log_error(DROVER_LOG_INFO, 0, "pool %s: %s -> %s (%s)", p->name,
                     drover_pool_state_name(p->state),
                     drover_pool_state_name(to), why);
    p->state = to;
    return 0;
}


/* healthy <-> failing: both ways, any time */
int
drover_pool_set_health(drover_pool_t *p, drover_pool_health_t to,
    const char *why)
{
    if (p->health == to) {
        return 0;
    }

    if (to >= POOL_NHEALTH) {
        drover_log_error(DROVER_LOG_ALERT, 0, "pool %s: health %d (%s) is "
                         "not a state: refused (a bug)", p->name, (int) to,
                         why);
        return -EINVAL;
    }

    drover_log_error(DROVER_LOG_INFO, 0, "pool %s: %s -> %s (%s)", p->name,
                     drover_pool_health_name(p->health),
                     drover_pool_health_name(to), why);
    p->health = to;
    return 0;
}


int
drover_manager_set_state(drover_manager_t *m, drover_manager_state_t to,
    const char *why)
{
    if (m->state == to) {
        return 0;
    }

    if (!drover_manager_state_next_ok(m->state, to)) {
        drover_log_error(DROVER_LOG_ALERT, 0, "manager: %s -> %s (%s) is not "
                         "a transition: refused (a bug)",
                         drover_manager_state_name(m->state),
                         drover_manager_state_name(to), why);
        return -EINVAL;
    }

    drover_log_error(DROVER_LOG_INFO, 0, "manager: %s -> %s (%s)",
                     drover_manager_state_name(m->state),
                     drover_manager_state_name(to), why);
    m->state = to;
    return 0;
}
