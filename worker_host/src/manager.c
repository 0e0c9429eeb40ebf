/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * manager.c -- see manager.h.
 *
 * Process tree: the manager is a child subreaper.  With `preload on` each
 * pool generation has a preloader (droverd --preloader) that forks a
 * short-lived forker per worker, which forks the worker and exits, so every
 * worker is reparented to the manager: the manager reaps all of them and
 * sees every exit.  With `preload off` the manager execs each worker itself.
 *
 * A pool's generation is one loaded configuration of it: its conf, its
 * config memfd and its preloader.  A reload (SIGHUP) makes a new generation
 * next to the serving one: prestart runs, the new preloader loads the new
 * app, then the workers are replaced one slot at a time (the first one is a
 * canary that must live DROVER_CANARY_MS); if anything in the new generation
 * fails, the old one keeps serving.  Sockets belong to the pool, not to a
 * generation, and never close while the pool exists.
 *
 * This file holds the loop: setup, the control socket's commands, reaping,
 * signals, readiness and stop.  The rest, behind manager_int.h: pool.c
 * (sockets, create, resize, free), generation.c (and its preloader),
 * rollout.c (prestart, canary, rollout, reload), slot.c (a worker's start,
 * stop and exit), memory.c (sampling, limits, memory_budget), slotsfile.c
 * (the .slots file for nginx), status.c (the status object) and
 * lifecycle.c (the named states and their transitions).
 */

#include "manager_int.h"
#include "netslots.h"
#include "app.h"
#include "log.h"
#include "ondemand.h"
#include "proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>


const char  *const drover_exit_reason_names[EXIT_NREASONS] = {
    "exit", "signal", "core dumped", "request timeout", "memory limit",
    "memory hard limit", "max requests", "reload", "stop", "idle"
};


static void manager_stop(drover_manager_t *m, int quick);


/* ---- small helpers ---- */

unsigned
drover_backoff_ms(unsigned n)
{
    unsigned long long  ms;

    if (n == 0) {
        return 0;
    }

    ms = (unsigned long long) DROVER_RESTART_BACKOFF_MS
         << (n - 1 < 16 ? n - 1 : 16);

    return ms > DROVER_RESTART_BACKOFF_MAX ? DROVER_RESTART_BACKOFF_MAX
                                           : (unsigned) ms;
}


void
drover_confref_put(drover_confref_t *ref)
{
    if (ref != NULL && --ref->refs == 0) {
        drover_conf_free(ref->conf);
        free(ref);
    }
}


drover_pool_conf_t *
drover_pool_conf(drover_pool_t *p)
{
    return p->cur != NULL ? p->cur->conf : p->pending->conf;
}


static unsigned
pool_stop_timeout(drover_pool_t *p)
{
    return p->cur != NULL ? p->cur->conf->stop_timeout_ms
         : p->pending != NULL ? p->pending->conf->stop_timeout_ms
         : 10000;
}


/* ---- the control socket's commands ---- */

static json_object *
control_status_cb(void *data, const char *pool, char *err, size_t errlen)
{
    return drover_status_build(data, pool, err, errlen);
}


static int
control_reload_cb(void *data, char *err, size_t errlen)
{
    drover_manager_t  *m = data;

    (void) err;
    (void) errlen;

    drover_manager_reload(m);
    return 0;
}


static int
control_restart_cb(void *data, const char *pool, char *err, size_t errlen)
{
    drover_gen_t      *g;
    drover_pool_t     *p;
    drover_manager_t  *m = data;

    p = drover_manager_pool(m, pool);
    if (p == NULL) {
        snprintf(err, errlen, "no pool \"%s\"", pool);
        return -ENOENT;
    }

    if (p->state != POOL_SERVING) {
        snprintf(err, errlen, "pool \"%s\" is %s: %s", pool,
                 drover_pool_public_state(p), p->state == POOL_STOPPED
                 ? "droverctl start it first" : "try again when it serves");
        return -EBUSY;
    }

    /* a new generation of the same configuration: a rolling restart */
    g = drover_gen_create(p, p->cur->ref, p->cur->conf);
    if (g == NULL) {
        snprintf(err, errlen, "cannot make a new generation");
        return -ENOMEM;
    }

    g->keep_slots = 1;

    drover_pool_begin_gen(p, g);
    return 0;
}


static int
control_scale_cb(void *data, const char *pool, unsigned workers, char *err,
    size_t errlen)
{
    unsigned           k;
    drover_pool_t     *p;
    drover_manager_t  *m = data;

    p = drover_manager_pool(m, pool);
    if (p == NULL) {
        snprintf(err, errlen, "no pool \"%s\"", pool);
        return -ENOENT;
    }

    if (workers < 1 || workers > DROVER_CONF_MAX_WORKERS) {
        snprintf(err, errlen, "workers must be from 1 to %d",
                 DROVER_CONF_MAX_WORKERS);
        return -EINVAL;
    }

    if (p->state != POOL_SERVING) {
        snprintf(err, errlen, "pool \"%s\" is %s: %s", pool,
                 drover_pool_public_state(p), p->state == POOL_STOPPED
                 ? "droverctl start it first" : "try again when it serves");
        return -EBUSY;
    }

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: scaling from %u to %u "
                     "workers (until the next reload)", p->name, p->nslots,
                     workers);

    p->budget_wait = 0;

    if (drover_pool_resize(p, p->cur->conf, workers) != 0) {
        snprintf(err, errlen, "cannot create the sockets of the new slots");
        return -EADDRINUSE;
    }

    for (k = 0; k < p->nslots; k++) {
        drover_slot_start(p->slots[k]);
    }

    return 0;
}


void
drover_defer_stop_cb(uv_timer_t *t)
{
    drover_manager_t  *m = t->data;

    manager_stop(m, m->stop_quick);
}


static int
control_stop_cb(void *data, char *err, size_t errlen)
{
    drover_manager_t  *m = data;

    (void) err;
    (void) errlen;

    /* after this turn of the loop: the answer must leave first */
    uv_timer_start(&m->defer_timer, drover_defer_stop_cb, 0, 0);
    return 0;
}


static void
manager_control_start(drover_manager_t *m)
{
    int                          rc;
    char                         path[256], err[1024];
    const char                  *dir;
    drover_conf_t               *conf = m->ref->conf;
    static const drover_control_ops_t  ops_template = {
        NULL, control_status_cb, control_reload_cb, control_restart_cb,
        control_scale_cb, control_stop_cb, drover_pool_op_reload,
        drover_pool_op_stop, drover_pool_op_start
    };
    drover_control_ops_t         ops = ops_template;

    ops.data = m;

    if (conf->control != NULL) {
        snprintf(path, sizeof(path), "%s", conf->control);
    } else {
        dir = drover_conf_run_dir(conf);
        snprintf(path, sizeof(path), "%s/droverd.ctl", dir);
    }

    rc = drover_control_start(&m->loop, path, conf->control_mode,
                              conf->control_group, &ops, &m->control,
                              err, sizeof(err));
    if (rc != 0) {
        m->control = NULL;
        drover_log_error(conf->control != NULL ? DROVER_LOG_ERROR
                                               : DROVER_LOG_WARN, 0,
                         "no control socket (droverctl will not reach this "
                         "droverd): %s", err);
    }

    rc = drover_netslots_start(m, &m->netslots, err, sizeof(err));
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, 0, "no status_listen (front ends "
                         "on other hosts will not learn the slots): %s", err);
    }

    if (conf->status_socket == NULL) {
        return;
    }

    rc = drover_control_start(&m->loop, conf->status_socket,
                              conf->status_mode, conf->status_group, &ops,
                              &m->status, err, sizeof(err));
    if (rc != 0) {
        m->status = NULL;
        drover_log_error(DROVER_LOG_ERROR, 0, "no status socket (the nginx "
                         "status page will not reach this droverd): %s", err);
        return;
    }

    drover_control_set_readonly(m->status);
}


/* ---- reaping, signals, readiness ---- */

void
drover_manager_maybe_ready(drover_manager_t *m)
{
    unsigned        n, npools;
    drover_pool_t  *p;

    if (m->state != MANAGER_STARTING) {
        return;
    }

    n = 0;
    npools = 0;

    for (p = m->pools; p != NULL; p = p->next) {
        npools++;

        if (p->workers_started > 0 || p->start_failures > 0
            || (p->cur != NULL && p->cur->conf->ondemand))
        {
            n++;
        }
    }

    if (n < npools) {
        return;
    }

    drover_manager_set_state(m, MANAGER_SERVING, "every pool started");
    drover_notify_send(&m->notify, "READY=1\nSTATUS=serving %u pool%s",
                       npools, npools == 1 ? "" : "s");
}


static int
manager_children_left(drover_manager_t *m)
{
    unsigned        k;
    drover_gen_t   *g;
    drover_pool_t  *p;

    for (p = m->pools; p != NULL; p = p->next) {
        if (p->prestart != NULL) {
            return 1;
        }

        for (g = p->gens; g != NULL; g = g->next) {
            if (g->pid > 0) {
                return 1;
            }
        }

        for (k = 0; k < p->nslots; k++) {
            if (p->slots[k]->state != SLOT_EMPTY) {
                return 1;
            }
        }
    }

    return 0;
}


static void
manager_close_walk_cb(uv_handle_t *h, void *arg)
{
    (void) arg;

    if (!uv_is_closing(h)) {
        if (h->type == UV_POLL) {
            drover_chan_t  *c = h->data;

            c->gen->chan = NULL;
            uv_close(h, drover_chan_close_cb);

        } else {
            uv_close(h, NULL);
        }
    }
}


/* what the pools' processes wrote, up to now; pid: it was just reaped */
static void
manager_drain_output(drover_manager_t *m, pid_t pid)
{
    drover_pool_t  *p;

    for (p = m->pools; p != NULL; p = p->next) {
        drover_output_drain(p->output, pid);
    }
}


/* before the walk that closes every handle: ours have their own callback */
static void
manager_close_output(drover_manager_t *m)
{
    drover_pool_t  *p;

    for (p = m->pools; p != NULL; p = p->next) {
        drover_output_drain(p->output, 0);
        drover_output_close(p->output);
        p->output = NULL;
    }
}


void
drover_manager_maybe_done(drover_manager_t *m)
{
    if (!drover_manager_stopping(m) || manager_children_left(m)
        || uv_is_closing((uv_handle_t *) &m->sigchld))
    {
        return;
    }

    drover_log_error(DROVER_LOG_NOTICE, 0, "all workers stopped, exiting");

    if (m->control != NULL) {
        drover_control_close(m->control);
        m->control = NULL;
    }

    if (m->status != NULL) {
        drover_control_close(m->status);
        m->status = NULL;
    }

    drover_netslots_close(m->netslots);
    m->netslots = NULL;

    drover_notify_close(&m->notify);
    manager_close_output(m);
    drover_ondemand_close(m);
    uv_walk(&m->loop, manager_close_walk_cb, NULL);
}


static int
manager_reaped_gen(drover_manager_t *m, pid_t pid, int status)
{
    drover_gen_t   *g;
    drover_pool_t  *p;

    for (p = m->pools; p != NULL; p = p->next) {
        if (p->prestart != NULL
            && drover_prestart_reaped(p->prestart, pid, status))
        {
            return 1;
        }

        for (g = p->gens; g != NULL; g = g->next) {
            if (g->pid == pid) {
                drover_gen_preloader_exited(g, status);
                return 1;
            }
        }
    }

    return 0;
}


/*
 * The next exited child, not yet reaped: waitid(WNOWAIT) leaves it a zombie,
 * so its pid cannot be reused and /proc/PID still describes it.  0: none.
 */
static pid_t
manager_next_exited(void)
{
    siginfo_t  si;

    for ( ;; ) {
        memset(&si, 0, sizeof(si));

        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
            return si.si_pid;
        }

        if (errno != EINTR) {
            return 0;       /* ECHILD: no children left */
        }
    }
}


static void
sigchld_cb(uv_signal_t *h, int signum)
{
    int                status;
    uid_t              uid;
    gid_t              gid;
    pid_t              pid, reaped;
    drover_slot_t     *s;
    drover_manager_t  *m = h->data;

    (void) signum;

    for ( ;; ) {
        pid = manager_next_exited();

        if (pid <= 0) {
            break;
        }

        /* a stranger may be a worker FORKED has not named yet: its ids */
        if (drover_manager_pid_role(m, pid) != NULL
            || drover_pidcheck_zombie_ids(pid, &uid, &gid) != 0)
        {
            uid = (uid_t) -1;
            gid = (gid_t) -1;
        }

        do {
            reaped = waitpid(pid, &status, WNOHANG);
        } while (reaped == -1 && errno == EINTR);

        if (reaped != pid) {
            break;      /* waitid said it waits to be reaped: cannot be */
        }

        /* its last words before the line about its end */
        manager_drain_output(m, pid);

        if (manager_reaped_gen(m, pid, status)) {
            continue;
        }

        s = drover_slot_by_pid(m, pid);
        if (s != NULL) {
            drover_slot_exited(s, status);
            continue;
        }

        /*
         * A worker whose FORKED message is still on its way, or an orphan
         * reparented to us (we are subreaper): remember the first kind.
         */
        drover_manager_add_early(m, pid, status, uid, gid);
    }

    drover_manager_maybe_done(m);
}


static void
stop_timer_cb(uv_timer_t *t)
{
    drover_manager_t  *m = t->data;

    drover_log_error(DROVER_LOG_WARN, 0, "workers still running after "
                     "stop_timeout: killing them");
    manager_stop(m, 1);
}


static void
manager_signal_all(drover_manager_t *m, int sig)
{
    unsigned        k;
    drover_gen_t   *g;
    drover_pool_t  *p;

    for (p = m->pools; p != NULL; p = p->next) {
        uv_timer_stop(&p->roll_timer);
        if (drover_pool_rolling(p)) {
            drover_pool_set_state(p, POOL_SERVING, "droverd stops");
        }

        if (p->prestart != NULL) {
            drover_prestart_cancel(p->prestart);
            p->prestart = NULL;
        }

        for (g = p->gens; g != NULL; g = g->next) {
            uv_timer_stop(&g->timer);

            if (g->pid > 0) {
                (void) drover_pidcheck_signal(g->pidfd, g->pid, sig);
            }
        }

        for (k = 0; k < p->nslots; k++) {
            drover_slot_stop(p->slots[k], EXIT_STOP, sig);
        }
    }
}


static void
manager_stop(drover_manager_t *m, int quick)
{
    unsigned        timeout;
    drover_pool_t  *p;

    if (!drover_manager_stopping(m)) {
        drover_log_error(DROVER_LOG_NOTICE, 0, "stopping%s",
                         quick ? " at once" : ": letting requests finish");
        drover_notify_send(&m->notify, "STOPPING=1\nSTATUS=stopping");
        drover_manager_set_state(m, MANAGER_STOPPING,
                                 quick ? "stop at once" : "stop");

        timeout = 0;
        for (p = m->pools; p != NULL; p = p->next) {
            if (pool_stop_timeout(p) > timeout) {
                timeout = pool_stop_timeout(p);
            }
        }

        uv_timer_start(&m->stop_timer, stop_timer_cb, timeout, 0);
    }

    manager_signal_all(m, quick ? SIGKILL : SIGTERM);

    if (quick) {
        uv_timer_stop(&m->stop_timer);
    }

    drover_manager_maybe_done(m);
}


static void
signal_cb(uv_signal_t *h, int signum)
{
    drover_manager_t  *m = h->data;

    switch (signum) {

    case SIGTERM:
    case SIGINT:
        drover_log_error(DROVER_LOG_NOTICE, 0, "%s received",
                         strsignal(signum));
        manager_stop(m, 0);
        break;

    case SIGQUIT:
        drover_log_error(DROVER_LOG_NOTICE, 0, "SIGQUIT received");
        manager_stop(m, 1);
        break;

    case SIGHUP:
        drover_manager_reload(m);
        break;
    }
}


/* ---- setup ---- */

int
drover_manager_load(const char *path, drover_conf_t **out, char *err,
    size_t errlen)
{
    int                  rc;
    drover_conf_t       *conf;
    drover_pool_conf_t  *p;

    rc = drover_conf_load(path, &conf, err, errlen);
    if (rc != 0) {
        return rc;
    }

    for (p = conf->pools; p != NULL; p = p->next) {
        rc = drover_manager_check_pool(p, err, errlen);
        if (rc != 0) {
            drover_conf_free(conf);
            return rc;
        }
    }

    *out = conf;
    return 0;
}


int
drover_manager_check_pool(const drover_pool_conf_t *pool, char *err,
    size_t errlen)
{
    int   rc;
    char  msg[1024];

    rc = drover_app_check(pool, msg, sizeof(msg));
    if (rc != 0) {
        snprintf(err, errlen, "%s:%u: %s", pool->file, pool->line, msg);
        return rc;
    }

    rc = drover_socket_dir_check(pool->listen.path, msg, sizeof(msg));
    if (rc != 0) {
        snprintf(err, errlen, "%s:%u: pool \"%s\": %s", pool->listen.file,
                 pool->listen.line, pool->name, msg);
    }

    return rc;
}


static int
manager_signal(drover_manager_t *m, uv_signal_t *h, int signum,
    uv_signal_cb cb)
{
    int  rc;

    rc = uv_signal_init(&m->loop, h);
    if (rc != 0) {
        return rc;
    }

    h->data = m;

    return uv_signal_start(h, cb, signum);
}


int
drover_manager_run(drover_conf_t *conf, const char *path)
{
    int                  rc;
    char                 msg[512];
    drover_pool_t       *p, *next, **tail;
    drover_manager_t     mgr, *m = &mgr;
    drover_pool_conf_t  *pc;

    memset(m, 0, sizeof(*m));
    m->pid = getpid();
    m->path = path;
    m->exit_code = 1;

    signal(SIGPIPE, SIG_IGN);

    m->ref = calloc(1, sizeof(drover_confref_t));
    if (m->ref == NULL) {
        drover_conf_free(conf);
        return 1;
    }

    m->ref->conf = conf;
    m->ref->refs = 1;

    /* every worker is reparented to us, wherever it was forked */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        drover_log_error(DROVER_LOG_EMERG, errno,
                         "prctl(PR_SET_CHILD_SUBREAPER) failed");
        drover_confref_put(m->ref);
        return 1;
    }

    rc = uv_loop_init(&m->loop);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_EMERG, rc, "uv_loop_init() failed");
        drover_confref_put(m->ref);
        return 1;
    }

    uv_timer_init(&m->loop, &m->stop_timer);
    m->stop_timer.data = m;
    uv_timer_init(&m->loop, &m->defer_timer);
    m->defer_timer.data = m;
    uv_timer_init(&m->loop, &m->sample_timer);
    m->sample_timer.data = m;

    if (drover_ondemand_init(m) != 0) {
        goto fail;
    }

    drover_ondemand_set_conf(m, conf);

    if (!drover_ondemand_fds_enough(conf, 1, msg, sizeof(msg))) {
        drover_log_error(DROVER_LOG_ERROR, 0, "%s", msg);
    }

    /* every socket exists before any process starts */
    tail = &m->pools;

    for (pc = conf->pools; pc != NULL; pc = pc->next) {
        p = drover_pool_create(m, m->ref, pc);
        if (p == NULL) {
            goto fail;
        }

        *tail = p;
        tail = &p->next;
    }

    if (manager_signal(m, &m->sigchld, SIGCHLD, sigchld_cb) != 0
        || manager_signal(m, &m->sigterm, SIGTERM, signal_cb) != 0
        || manager_signal(m, &m->sigint, SIGINT, signal_cb) != 0
        || manager_signal(m, &m->sigquit, SIGQUIT, signal_cb) != 0
        || manager_signal(m, &m->sighup, SIGHUP, signal_cb) != 0)
    {
        drover_log_error(DROVER_LOG_EMERG, 0, "cannot install signal "
                         "handlers");
        goto fail;
    }

    if (drover_notify_init(&m->notify, &m->loop) != 0) {
        drover_log_error(DROVER_LOG_WARN, 0, "cannot talk to systemd "
                         "(NOTIFY_SOCKET): going on without it");
    }

    drover_log_error(DROVER_LOG_NOTICE, 0, "droverd %s started, pid %ld",
                     DROVER_VERSION, (long) m->pid);

    m->started_ms = drover_proc_now_ms();
    manager_control_start(m);

    uv_prepare_init(&m->loop, &m->slots_prepare);
    m->slots_prepare.data = m;
    uv_prepare_start(&m->slots_prepare, drover_slots_prepare_cb);

    m->exit_code = 0;

    for (p = m->pools; p != NULL; p = p->next) {
        drover_pool_announce(p);
        drover_pool_begin_gen(p, p->pending);
    }

    uv_timer_start(&m->sample_timer, drover_sample_timer_cb, DROVER_SAMPLE_MS,
                   DROVER_SAMPLE_MS);

    uv_run(&m->loop, UV_RUN_DEFAULT);

    goto cleanup;

fail:

    /* startup failed before any child started: cleanup: frees the pools */
    manager_close_output(m);
    drover_ondemand_close(m);
    uv_walk(&m->loop, manager_close_walk_cb, NULL);

cleanup:

    uv_run(&m->loop, UV_RUN_DEFAULT);    /* the close callbacks */

    /* every handle is closed; sockets go last: until now they queued */
    for (p = m->pools; p != NULL; p = next) {
        unsigned  k;

        next = p->next;

        drover_pool_unlink_slots(p);

        for (k = 0; k < p->nslots; k++) {
            drover_socket_close(&p->slots[k]->sock);
            free(p->slots[k]);
        }

        drover_socket_close(&p->shared);

        while (p->gens != NULL) {
            drover_gen_t  *g = p->gens;

            p->gens = g->next;
            drover_gen_destroy(g);
        }

        if (p->sb_fd >= 0) {
            close(p->sb_fd);
            drover_sb_unmap(p->sb);
        }

        free(p->slots);
        free(p->name);
        free(p);
    }

    rc = uv_loop_close(&m->loop);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ALERT, rc, "uv_loop_close()");
    }

    drover_confref_put(m->ref);

    return m->exit_code;
}
