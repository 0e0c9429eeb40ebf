/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * pool_ops.c -- one pool at a time: droverctl reload|stop|start POOL.  No
 * other pool's processes are touched (docs/operations.md).
 */

#include "manager_int.h"
#include "app.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char *
pool_busy_why(const drover_pool_t *p)
{
    switch (p->state) {
    case POOL_STARTING:
        return "is starting";
    case POOL_START_FAILED:
        return "failed to start (droverctl stop it, fix it, then "
               "droverctl reload and start it)";
    case POOL_LOADING:
    case POOL_CANARY:
    case POOL_ROLLING:
        return "is reloading";
    default:
        return "is busy";
    }
}


/*
 * The main file with only the file that declared the running pool NAME
 * among its includes (a broken file of another pool does not block this
 * one), or the whole configuration for a pool droverd does not run yet.
 */
static int
pool_conf_load(drover_manager_t *m, drover_pool_t *p, drover_conf_t **out,
    char *err, size_t errlen)
{
    int                  rc;
    drover_pool_conf_t  *pc;

    if (p == NULL) {
        return drover_manager_load(m->path, out, err, errlen);
    }

    rc = drover_conf_load_pool_file(m->path, drover_pool_conf(p)->file, out,
                                    err, errlen);
    if (rc != 0) {
        return rc;
    }

    for (pc = (*out)->pools; pc != NULL; pc = pc->next) {
        rc = drover_manager_check_pool(pc, err, errlen);
        if (rc != 0) {
            drover_conf_free(*out);
            *out = NULL;
            return rc;
        }
    }

    return 0;
}


static int
pool_add(drover_manager_t *m, drover_confref_t *ref, drover_pool_conf_t *pc,
    char *err, size_t errlen)
{
    drover_pool_t   *p, **tail;

    p = drover_pool_create(m, ref, pc);
    if (p == NULL) {
        snprintf(err, errlen, "pool \"%s\": cannot add it (droverd's log "
                 "says why)", pc->name);
        return -EADDRINUSE;
    }

    for (tail = &m->pools; *tail != NULL; tail = &(*tail)->next) {
        /* void */
    }
    *tail = p;

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: added by droverctl "
                     "reload %s", p->name, p->name);

    drover_pool_announce(p);
    drover_pool_begin_gen(p, p->pending);
    return 0;
}


/*
 * Re-read the configuration and apply POOL's section only: a new
 * generation of that pool, rolled in as a reload does.  Other pools and
 * the main settings stay as they run (a full reload applies those).
 */
int
drover_pool_op_reload(void *data, const char *name, char *err, size_t errlen)
{
    int                  rc;
    drover_manager_t    *m = data;
    drover_conf_t       *conf;
    drover_gen_t        *g;
    drover_pool_t       *p;
    drover_confref_t    *ref;
    drover_pool_conf_t  *pc;

    if (drover_manager_stopping(m)) {
        snprintf(err, errlen, "droverd is stopping");
        return -ESHUTDOWN;
    }

    p = drover_manager_pool(m, name);

    if (p != NULL && p->state != POOL_SERVING && p->state != POOL_STOPPED) {
        snprintf(err, errlen, "pool \"%s\" %s: try again when it serves",
                 name, pool_busy_why(p));
        return -EBUSY;
    }

    rc = pool_conf_load(m, p, &conf, err, errlen);

    if (rc != 0 && p == NULL) {
        char  why[1024];

        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "no pool \"%s\" in droverd, and its "
                 "configuration does not load: %s", name, why);
        return rc;
    }

    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, 0, "reload of pool %s refused, "
                         "it keeps running as it is: %s", name, err);
        return rc;
    }

    pc = drover_conf_find_pool(conf, name);

    if (pc == NULL) {
        if (p != NULL) {
            snprintf(err, errlen, "pool \"%s\" is no longer in %s: a full "
                     "\"droverctl reload\" removes it", name,
                     drover_pool_conf(p)->file);
        } else {
            snprintf(err, errlen, "no pool \"%s\" in droverd nor in %s",
                     name, m->path);
        }
        drover_conf_free(conf);
        return -ENOENT;
    }

    if (p != NULL
        && strcmp(drover_pool_conf(p)->listen.path, pc->listen.path) != 0)
    {
        snprintf(err, errlen, "pool \"%s\": its listen moved from %s to %s: "
                 "a full \"droverctl reload\" moves it", name,
                 drover_pool_conf(p)->listen.path, pc->listen.path);
        drover_conf_free(conf);
        return -EXDEV;
    }

    ref = calloc(1, sizeof(drover_confref_t));
    if (ref == NULL) {
        drover_conf_free(conf);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }

    ref->conf = conf;
    ref->refs = 1;

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: reloading it alone "
                     "from %s", name, pc->file);

    rc = 0;

    if (p == NULL) {
        rc = pool_add(m, ref, pc, err, errlen);

    } else if (p->state == POOL_STOPPED) {
        drover_pool_listen_update(p, pc);
        drover_pool_stopped_update(p, ref, pc);

    } else {
        drover_pool_listen_update(p, pc);

        g = drover_gen_create(p, ref, pc);
        if (g == NULL) {
            snprintf(err, errlen, "cannot make a new generation");
            rc = -ENOMEM;
        } else {
            drover_pool_begin_gen(p, g);
        }
    }

    /* the generations made from it hold their own references */
    drover_confref_put(ref);
    return rc;
}


/* a stopped pool keeps its configuration: the one a reload read */
void
drover_pool_stopped_update(drover_pool_t *p, drover_confref_t *ref,
    drover_pool_conf_t *pc)
{
    drover_gen_t  *g, *old = p->cur;

    g = drover_gen_create(p, ref, pc);
    if (g == NULL) {
        drover_log_error(DROVER_LOG_ERROR, ENOMEM, "pool %s: stopped, keeps "
                         "its previous configuration", p->name);
        return;
    }

    g->retired = 1;
    p->cur = g;

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: stopped; its new "
                     "configuration applies at droverctl start", p->name);

    if (old != NULL) {
        drover_gen_maybe_free(old);
    }
}


/* stop_timeout ran out: what still runs is killed */
static void
pool_stop_timer_cb(uv_timer_t *t)
{
    unsigned        k;
    drover_pool_t  *p = t->data;

    if (p->state != POOL_STOPPED) {
        return;
    }

    for (k = 0; k < p->nslots; k++) {
        if (drover_slot_has_worker(p->slots[k])) {
            drover_log_error(DROVER_LOG_WARN, 0, "pool %s: worker %u still "
                             "runs after stop_timeout: killing it", p->name,
                             k);
            drover_slot_stop(p->slots[k], EXIT_STOP, SIGKILL);
        }
    }
}


/*
 * Workers finish their request and exit, the preloader exits; the sockets
 * stay bound (connections wait in the backlog until start, or the front
 * end answers 503 at once: PATH.slots says "state stopped").
 */
int
drover_pool_op_stop(void *data, const char *name, char *err, size_t errlen)
{
    unsigned           k;
    drover_gen_t      *g;
    drover_pool_t     *p;
    drover_manager_t  *m = data;

    p = drover_manager_pool(m, name);
    if (p == NULL) {
        snprintf(err, errlen, "no pool \"%s\"", name);
        return -ENOENT;
    }

    if (p->state == POOL_STOPPED) {
        return 0;
    }

    if (p->state != POOL_SERVING && p->state != POOL_START_FAILED) {
        snprintf(err, errlen, "pool \"%s\" %s: try again when it serves",
                 name, pool_busy_why(p));
        return -EBUSY;
    }

    /* a pool that failed to start keeps the generation it tried */
    g = p->cur != NULL ? p->cur : p->pending;
    if (g == NULL) {
        snprintf(err, errlen, "pool \"%s\" has no generation to stop", name);
        return -EBUSY;
    }

    p->cur = g;
    p->pending = NULL;

    drover_pool_set_state(p, POOL_STOPPED, "droverctl stop");
    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: stopping its workers "
                     "and preloader; its sockets stay (droverctl start %s)",
                     p->name, p->name);

    for (k = 0; k < p->nslots; k++) {
        drover_slot_stop(p->slots[k], EXIT_STOP, SIGTERM);
    }

    drover_gen_retire(g);

    uv_timer_start(&p->roll_timer, pool_stop_timer_cb,
                   g->conf->stop_timeout_ms, 0);
    return 0;
}


/* a first generation again, from the configuration it kept */
int
drover_pool_op_start(void *data, const char *name, char *err, size_t errlen)
{
    unsigned           k;
    drover_gen_t      *g, *old;
    drover_pool_t     *p;
    drover_manager_t  *m = data;

    if (drover_manager_stopping(m)) {
        snprintf(err, errlen, "droverd is stopping");
        return -ESHUTDOWN;
    }

    p = drover_manager_pool(m, name);
    if (p == NULL) {
        snprintf(err, errlen, "no pool \"%s\"", name);
        return -ENOENT;
    }

    if (p->state != POOL_STOPPED) {
        snprintf(err, errlen, "pool \"%s\" is not stopped (it is %s)", name,
                 drover_pool_public_state(p));
        return -EALREADY;
    }

    old = p->cur;

    g = drover_gen_create(p, old->ref, old->conf);
    if (g == NULL) {
        snprintf(err, errlen, "cannot make a new generation");
        return -ENOMEM;
    }

    if (p->nslots != g->conf->workers
        && drover_pool_resize(p, g->conf, g->conf->workers) != 0)
    {
        snprintf(err, errlen, "pool \"%s\": cannot create the sockets of "
                 "its slots", name);
        drover_gen_retire(g);
        return -EADDRINUSE;
    }

    uv_timer_stop(&p->roll_timer);

    p->cur = NULL;
    p->start_failures = 0;
    p->window_crashes = 0;
    p->budget_wait = 0;
    drover_pool_set_health(p, POOL_HEALTHY, "droverctl start");

    for (k = 0; k < p->nslots; k++) {
        p->slots[k]->quick_deaths = 0;
    }

    drover_pool_set_state(p, POOL_STARTING, "droverctl start");
    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: starting", p->name);

    drover_gen_maybe_free(old);
    drover_pool_begin_gen(p, g);
    return 0;
}


/*
 * The prestart of a pool's first generation failed after droverd had
 * started (droverctl start, a pool a reload added): that pool stops, the
 * others go on.  droverctl start retries it.
 */
void
drover_pool_start_prestart_failed(drover_pool_t *p, drover_gen_t *g,
    const char *why)
{
    drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: prestart failed: %s; "
                     "the pool is stopped (droverctl start %s retries it)",
                     p->name, why, p->name);

    p->pending = NULL;
    p->cur = g;
    g->retired = 1;
    drover_pool_set_state(p, POOL_STOPPED, "prestart failed");
}
