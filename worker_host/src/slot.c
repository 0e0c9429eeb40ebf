/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * slot.c -- a pool's slots: one socket and at most one worker each;
 * starting, stopping and replacing that worker, classifying its exit.
 */

#include "manager_int.h"
#include "channel.h"
#include "env.h"
#include "log.h"
#include "exec.h"
#include "ondemand.h"
#include "preloader.h"
#include "proc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/pidfd.h>
#include <sys/wait.h>


/*
 * A pidfd for a child the manager just spawned: it is ours and not reaped,
 * so its pid cannot have been reused.  -1 where pidfd_open is missing
 * (signals then go by pid, still safe for an unreaped child).
 */
int
drover_child_pidfd(pid_t pid)
{
    return pidfd_open(pid, 0);
}


/* ---- slots ---- */

static void
slot_timer_cb(uv_timer_t *t)
{
    drover_slot_t  *s = t->data;

    drover_slot_set_state(s, SLOT_EMPTY, "its restart delay is over");
    drover_slot_start(s);
}


static void
slot_free_cb(uv_handle_t *h)
{
    drover_slot_t  *s = h->data;

    free(s);
}


drover_slot_t *
drover_slot_create(drover_pool_t *p, unsigned index)
{
    drover_slot_t  *s;

    s = calloc(1, sizeof(drover_slot_t));
    if (s == NULL) {
        return NULL;
    }

    s->pool = p;
    s->index = index;
    s->sock.fd = -1;
    s->pidfd = -1;
    s->exec_answer_fd = -1;
    s->stop_reason = -1;
    uv_timer_init(&p->mgr->loop, &s->restart_timer);
    s->restart_timer.data = s;

    return s;
}


/* close its socket and free it; its worker is gone */
void
drover_slot_destroy(drover_slot_t *s)
{
    drover_ondemand_slot_gone(s);
    drover_socket_close(&s->sock);
    uv_close((uv_handle_t *) &s->restart_timer, slot_free_cb);
}


drover_slot_t *
drover_slot_by_pid(drover_manager_t *m, pid_t pid)
{
    unsigned        k;
    drover_pool_t  *p;

    for (p = m->pools; p != NULL; p = p->next) {
        for (k = 0; k < p->nslots; k++) {
            if (p->slots[k]->pid == pid) {
                return p->slots[k];
            }
        }
    }

    return NULL;
}


/*
 * Why the slot cannot start a worker now, or NULL: droverd stops, the pool
 * or the slot goes away, the slot has a worker or waits for its restart
 * delay, nothing serves yet, or memory_budget measures slot 0 alone first.
 */
const char *
drover_slot_start_blocker(const drover_slot_t *s)
{
    const drover_pool_t  *p = s->pool;

    if (drover_manager_stopping(p->mgr)) {
        return "droverd stops";
    }

    if (drover_pool_removing(p)) {
        return "the pool is being removed";
    }

    if (p->state == POOL_STOPPED) {
        return "the pool is stopped";
    }

    if (s->scale != SLOT_KEPT) {
        return "the slot is scaled away";
    }

    if (s->state != SLOT_EMPTY) {
        return s->state == SLOT_BACKOFF ? "its restart delay runs"
                                        : "it has a worker";
    }

    if (p->cur == NULL) {
        return "no generation serves yet";
    }

    if (p->budget_wait && s->index > 0) {
        return "memory_budget measures slot 0 first";
    }

    return NULL;
}


/*
 * The delay before a worker that exited early is replaced: the first early
 * death is replaced at once too (it may be a kill), then the backoff grows;
 * a failing pool (restart_limit) waits at least DROVER_FAILING_RETRY_MS.
 */
unsigned
drover_slot_restart_delay(unsigned quick_deaths, int failing)
{
    unsigned  delay;

    delay = drover_backoff_ms(quick_deaths > 0 ? quick_deaths - 1 : 0);

    if (failing && delay < DROVER_FAILING_RETRY_MS) {
        delay = DROVER_FAILING_RETRY_MS;
    }

    return delay;
}


void
drover_slot_start(drover_slot_t *s)
{
    int                rc, fds[8];
    char               mpid[32], slot[16];
    char              *argv[6], **envp;
    pid_t              pid;
    drover_gen_t      *g;
    drover_pool_t     *p = s->pool;
    drover_chan_msg_t  msg;

    g = p->cur;

    if (drover_slot_start_blocker(s) != NULL
        || !drover_ondemand_may_start(s))
    {
        return;
    }

    s->started_ms = drover_proc_now_ms();
    s->stop_reason = -1;
    s->ring_n = 0;
    s->ring_pos = 0;

    if (p->sb != NULL) {
        drover_sb_reset(&p->sb->slots[s->index]);
    }

    if (g->conf->preload) {
        if (g->state != GEN_READY || g->chan == NULL) {
            drover_ondemand_need_preloader(g);
            return;     /* started when the preloader says READY */
        }

        memset(&msg, 0, sizeof(msg));
        msg.type = DROVER_CHAN_FORK;
        msg.slot = s->index;
        fds[0] = s->sock.fd;
        fds[1] = p->shared.fd;
        fds[2] = p->handoff[0];
        fds[3] = p->handoff[1];

        /* `listen tcp:` added by a reload: bound now (logged if not) */
        if (drover_pool_tcp_listen(p, s, g->conf) != 0) {
            return;
        }

        fds[4] = s->sock.tcp_fd;
        fds[5] = p->shared.tcp_fd;

        rc = drover_chan_send(g->chan->fd, &msg, fds,
                              s->sock.tcp_port != 0 ? 6 : 4);
        if (rc != 0) {
            /* the preloader is going away; its exit restarts everything */
            drover_log_error(DROVER_LOG_WARN, -rc, "pool %s: worker %u: "
                             "cannot reach the preloader", p->name,
                             s->index);
            return;
        }

        s->gen = g;
        drover_slot_set_state(s, SLOT_FORKING, "asked the preloader");
        return;
    }

    snprintf(mpid, sizeof(mpid), "%ld", (long) p->mgr->pid);
    snprintf(slot, sizeof(slot), "%u", s->index);
    argv[0] = "droverd";
    argv[1] = "--worker";
    argv[2] = p->name;
    argv[3] = slot;
    argv[4] = mpid;
    argv[5] = NULL;

    fds[0] = g->conf_fd;
    fds[1] = s->sock.fd;
    fds[2] = p->shared.fd;
    fds[3] = p->sb_fd;
    fds[4] = p->handoff[0];
    fds[5] = p->handoff[1];

    s->gen = g;

    if (g->conf->exec_argv != NULL) {
        rc = drover_exec_start(s, &pid);     /* exec mode: exec.h */

    } else {
        rc = drover_pool_tcp_listen(p, s, g->conf);
        if (rc == 0) {
            rc = drover_env_build(g->conf, NULL, &envp);
        }

        if (rc == 0) {
            fds[6] = s->sock.tcp_fd;
            fds[7] = p->shared.tcp_fd;
            rc = drover_proc_spawn(argv, fds, s->sock.tcp_port != 0 ? 8 : 6,
                                   drover_output_fd(p->output), envp, &pid);
            drover_env_free(envp);
        }
    }
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, -rc, "pool %s: worker %u: cannot "
                         "start", p->name, s->index);
        s->gen = g;
        drover_slot_exited(s, -1);
        return;
    }

    s->gen = g;
    s->pid = pid;
    s->pidfd = drover_child_pidfd(pid);
    drover_slot_set_state(s, SLOT_RUNNING, "spawned");
    p->workers_started++;

    drover_log_error(DROVER_LOG_INFO, 0, "pool %s: worker %u started, pid %ld "
                     "(generation %u)", p->name, s->index, (long) pid, g->id);

    drover_manager_maybe_ready(p->mgr);

    if (drover_pool_rolling(p)) {
        drover_pool_roll(p);
    }
}


/*
 * A worker the preloader forked for the slot ran: one "started" line,
 * whether FORKED or its exit reached the manager first.
 */
static void
slot_running(drover_slot_t *s, pid_t pid, int pidfd)
{
    drover_pool_t  *p = s->pool;

    s->pid = pid;
    s->pidfd = pidfd;
    drover_slot_set_state(s, SLOT_RUNNING, "forked");
    p->workers_started++;

    drover_log_error(DROVER_LOG_INFO, 0, "pool %s: worker %u started, pid %ld "
                     "(generation %u)", p->name, s->index, (long) pid,
                     s->gen ? s->gen->id : 0);
}


/* a worker of the slot was named by the preloader and verified */
void
drover_slot_forked(drover_slot_t *s, pid_t pid, int pidfd)
{
    drover_pool_t     *p = s->pool;
    drover_manager_t  *m = p->mgr;

    slot_running(s, pid, pidfd);

    if (drover_manager_stopping(m) || drover_pool_removing(p)
        || s->scale != SLOT_KEPT)
    {
        drover_slot_stop(s, EXIT_STOP, SIGTERM);
    }

    drover_manager_maybe_ready(m);

    if (drover_pool_rolling(p)) {
        drover_pool_roll(p);
    }
}


/*
 * The worker the preloader named had already died and been reaped by the
 * manager as its own child (drover_manager_take_early): it ran, so it is
 * logged as started, then its exit is classified like any other.  Its pid
 * is free now: nothing is signalled and no pidfd is kept.
 */
void
drover_slot_forked_exited(drover_slot_t *s, pid_t pid, int status)
{
    slot_running(s, pid, -1);
    drover_manager_maybe_ready(s->pool->mgr);
    drover_slot_exited(s, status);
}


void
drover_slot_stop(drover_slot_t *s, int reason, int sig)
{
    uv_timer_stop(&s->restart_timer);

    if (s->state == SLOT_BACKOFF) {
        drover_slot_set_state(s, SLOT_EMPTY, "stopped");
    }

    if (s->stop_reason == -1 || reason == EXIT_MEMORY_HARD) {
        s->stop_reason = reason;
    }

    if (s->pid > 0) {
        (void) drover_pidcheck_signal(s->pidfd, s->pid, sig);
        drover_slot_set_state(s, SLOT_STOPPING,
                              drover_exit_reason_names[reason]);
    }
}


static int
exit_reason(drover_slot_t *s, int status)
{
    int  reason;

    if (s->stop_reason != -1) {
        return s->stop_reason;
    }

    reason = drover_exec_exit_reason(s, status);
    if (reason != -1) {
        return reason;
    }

    if (WIFEXITED(status)) {
        switch (WEXITSTATUS(status)) {
        case DROVER_EXIT_TIMEOUT:
            return EXIT_TIMEOUT;
        case DROVER_EXIT_RECYCLED:
            return EXIT_MAX_REQUESTS;
        default:
            return EXIT_CODE;
        }
    }

    if (WIFSIGNALED(status)) {
        return WCOREDUMP(status) ? EXIT_CORE : EXIT_SIGNAL;
    }

    return EXIT_CODE;
}


/*
 * restart_limit: more than N crashes in the window marks the pool failing;
 * its workers are then retried every DROVER_FAILING_RETRY_MS, with one log
 * line per retry round instead of a flood (CVE-2015-9253 was a restart loop
 * burning CPU and disk).
 */
static int
pool_count_crash(drover_pool_t *p)
{
    unsigned long long  now = drover_proc_now_ms();
    drover_pool_conf_t *pc = p->cur ? p->cur->conf : NULL;

    if (pc == NULL) {
        return 0;
    }

    if (now - p->window_start_ms > pc->restart_period_ms) {
        p->window_start_ms = now;
        p->window_crashes = 0;
    }

    p->window_crashes++;

    if (p->health == POOL_HEALTHY && p->window_crashes > pc->restart_limit) {
        drover_pool_set_health(p, POOL_FAILING, "past restart_limit");
        drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: %u worker crashes in "
                         "%u s (restart_limit %u per %u s): the pool is "
                         "failing; its workers are retried every %d s",
                         p->name, p->window_crashes,
                         pc->restart_period_ms / 1000, pc->restart_limit,
                         pc->restart_period_ms / 1000,
                         DROVER_FAILING_RETRY_MS / 1000);
    }

    return p->health == POOL_FAILING;
}


/*
 * The worker of slot s is gone (status -1: it never started).  Replace it:
 * at once when it had run a while or we stopped it, else after a growing
 * delay, so an app that crashes on start does not turn into a fork storm.
 */
void
drover_slot_exited(drover_slot_t *s, int status)
{
    int                 level, reason, crash, failing;
    char                desc[128];
    unsigned            delay;
    drover_gen_t       *g = s->gen;
    drover_pool_t      *p = s->pool;
    unsigned long long  lived;

    lived = drover_proc_now_ms() - s->started_ms;

    drover_exec_exited(s);

    if (status == -1) {
        reason = EXIT_CODE;
        snprintf(desc, sizeof(desc), "could not start");
    } else {
        reason = exit_reason(s, status);
        drover_proc_describe_exit(status, desc, sizeof(desc));
    }

    crash = (reason == EXIT_CODE || reason == EXIT_SIGNAL
             || reason == EXIT_CORE);

    s->exits[reason]++;
    snprintf(s->last_exit, sizeof(s->last_exit), "%s: %s",
             drover_exit_reason_names[reason], desc);

    if (!crash || drover_manager_stopping(p->mgr)) {
        level = DROVER_LOG_INFO;
    } else if (reason == EXIT_CODE) {
        level = DROVER_LOG_WARN;
    } else {
        level = DROVER_LOG_ERROR;
    }

    if (status != -1) {
        drover_log_error(level, 0, "pool %s: worker %u (pid %ld) %s after "
                         "%llu ms (%s)", p->name, s->index, (long) s->pid,
                         desc, lived, drover_exit_reason_names[reason]);
    }

    s->requests_done += s->sb.requests;
    memset(&s->sb, 0, sizeof(s->sb));
    s->pid = 0;

    if (s->pidfd >= 0) {
        close(s->pidfd);
        s->pidfd = -1;
    }
    drover_slot_set_state(s, SLOT_EMPTY, "its worker exited");
    s->gen = NULL;
    s->rss = s->pss = s->uss = 0;

    if (g != NULL) {
        drover_gen_maybe_free(g);
    }

    if (s->scale != SLOT_KEPT || drover_pool_removing(p)
        || drover_manager_stopping(p->mgr))
    {
        if (s->scale == SLOT_LEAVING) {
            /* freed by drover_pool_maybe_free */
            drover_slot_set_scale(s, SLOT_LEFT, "its worker exited");
        }

        if (drover_pool_rolling(p)) {
            drover_pool_roll(p);
        }

        drover_pool_maybe_free(p);
        drover_manager_maybe_done(p->mgr);
        return;
    }

    /* a reload's first new worker died: keep the old generation */
    if (drover_pool_canary_died(p, s, g, lived)) {
        uv_timer_stop(&p->roll_timer);
        drover_pool_gen_failed(p, p->cur, s->last_exit);
        drover_slot_start(s);
        return;
    }

    if (!crash) {
        s->quick_deaths = 0;
        s->restarts++;
        drover_slot_start(s);

        if (drover_pool_rolling(p)) {
            drover_pool_roll(p);
        }

        return;
    }

    if (lived >= DROVER_RESTART_STABLE_MS) {
        s->quick_deaths = 0;
    } else {
        s->quick_deaths++;
    }

    s->restarts++;

    failing = pool_count_crash(p);
    delay = drover_slot_restart_delay(s->quick_deaths, failing);

    if (delay == 0) {
        drover_slot_start(s);

    } else {
        if (s->quick_deaths == 3 || s->quick_deaths % 10 == 0) {
            drover_log_error(DROVER_LOG_WARN, 0, "pool %s: worker %u keeps "
                             "exiting early (%u times in a row); next start "
                             "in %u ms", p->name, s->index, s->quick_deaths,
                             delay);
        }

        drover_slot_set_state(s, SLOT_BACKOFF, "an early exit");
        uv_timer_start(&s->restart_timer, slot_timer_cb, delay, 0);
    }

    if (drover_pool_rolling(p)) {
        drover_pool_roll(p);
    }
}
