/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * generation.c -- a pool's generations (one loaded configuration each)
 * and their preloaders: the channel, FORKED messages, restarts.
 */

#include "manager_int.h"
#include "channel.h"
#include "env.h"
#include "log.h"
#include "ondemand.h"
#include "preloader.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>


/* ---- generations and their preloaders ---- */

void
drover_chan_close_cb(uv_handle_t *h)
{
    drover_chan_t  *c = h->data;

    close(c->fd);
    free(c);
}


static void
gen_chan_close(drover_gen_t *g)
{
    if (g->chan == NULL) {
        return;
    }

    uv_close((uv_handle_t *) &g->chan->poll, drover_chan_close_cb);
    g->chan = NULL;
}


static void
gen_unlink(drover_gen_t *g)
{
    drover_gen_t  **gp;

    for (gp = &g->pool->gens; *gp != NULL; gp = &(*gp)->next) {
        if (*gp == g) {
            *gp = g->next;
            break;
        }
    }
}


void
drover_gen_destroy(drover_gen_t *g)
{
    if (g->conf_fd >= 0) {
        close(g->conf_fd);
    }

    if (g->pidfd >= 0) {
        close(g->pidfd);
    }

    drover_confref_put(g->ref);
    free(g);
}


void
drover_gen_free_cb(uv_handle_t *h)
{
    drover_gen_t   *g = h->data;
    drover_pool_t  *p = g->pool;

    gen_unlink(g);
    drover_gen_destroy(g);
    drover_pool_maybe_free(p);
}


drover_gen_t *
drover_gen_create(drover_pool_t *p, drover_confref_t *ref,
    drover_pool_conf_t *pc)
{
    drover_gen_t  *g;

    g = calloc(1, sizeof(drover_gen_t));
    if (g == NULL) {
        return NULL;
    }

    g->conf_fd = drover_proc_conf_memfd(ref->conf, pc);
    if (g->conf_fd < 0) {
        drover_log_error(DROVER_LOG_ERROR, -g->conf_fd, "pool %s: cannot "
                         "hand over the configuration", pc->name);
        free(g);
        return NULL;
    }

    g->pool = p;
    g->ref = ref;
    ref->refs++;
    g->conf = pc;
    g->id = ++p->next_gen;
    g->slots = pc->workers;
    g->pidfd = -1;

    uv_timer_init(&p->mgr->loop, &g->timer);
    g->timer.data = g;

    g->next = p->gens;
    p->gens = g;

    return g;
}


/* no worker, no preloader, not current: let it go */
void
drover_gen_maybe_free(drover_gen_t *g)
{
    unsigned        k;
    drover_pool_t  *p = g->pool;

    if (g == p->cur || g == p->pending || g->pid > 0
        || uv_is_closing((uv_handle_t *) &g->timer))
    {
        return;
    }

    if (g == p->prev && drover_pool_rolling(p)) {
        return;
    }

    for (k = 0; k < p->nslots; k++) {
        if (p->slots[k]->gen == g) {
            return;
        }
    }

    if (g == p->prev) {
        p->prev = NULL;
    }

    gen_chan_close(g);
    uv_timer_stop(&g->timer);
    uv_close((uv_handle_t *) &g->timer, drover_gen_free_cb);
}


void
drover_gen_retire(drover_gen_t *g)
{
    g->retired = 1;
    uv_timer_stop(&g->timer);

    if (g->pid > 0) {
        (void) drover_pidcheck_signal(g->pidfd, g->pid, SIGTERM);
    }

    drover_gen_maybe_free(g);
}


/*
 * The preloader runs the tenant's code: it is killed (it is our unreaped
 * child, so its pid is safe to signal) and restarted with backoff, and
 * nothing it named is touched.  One line says who and why.
 */
static void
gen_misbehaved(drover_gen_t *g, const char *fmt, ...)
{
    char     why[320];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);

    drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: preloader (pid %ld, "
                     "generation %u) %s; killing it, it restarts with "
                     "backoff (the app's init runs in it: check the app)",
                     g->pool->name, (long) g->pid, g->id, why);

    g->misbehaved = 1;
    gen_chan_close(g);

    /* never by pid once reaped: the pid may belong to someone else now */
    if (g->pid > 0 && !g->reaped) {
        (void) drover_pidcheck_signal(g->pidfd, g->pid, SIGKILL);
    }
}


/* a process droverd already knows: never a new worker */
const char *
drover_manager_pid_role(drover_manager_t *m, pid_t pid)
{
    drover_gen_t   *g;
    drover_pool_t  *p;

    if (pid <= 1) {
        return NULL;            /* drover_pidcheck_child() refuses those */
    }

    if (pid == m->pid) {
        return "droverd itself";
    }

    if (drover_slot_by_pid(m, pid) != NULL) {
        return "a worker droverd already runs";
    }

    for (p = m->pools; p != NULL; p = p->next) {
        if (p->prestart != NULL
            && drover_prestart_result(p->prestart)->last_pid == pid)
        {
            return "a prestart command";
        }

        for (g = p->gens; g != NULL; g = g->next) {
            if (g->pid == pid) {
                return "a preloader";
            }
        }
    }

    return NULL;
}


/* the credentials every process of the generation has (proc.c) */
static void
gen_want(drover_gen_t *g, drover_pidcheck_want_t *want)
{
    want->parent = g->pool->mgr->pid;

    if (geteuid() == 0 && g->conf->uid != (uid_t) -1) {
        want->uid = g->conf->uid;
        want->gid = g->conf->gid;
    } else {
        want->uid = geteuid();
        want->gid = getegid();
    }
}


/*
 * A worker that was reaped before its FORKED message was read: the newest
 * exit of that pid (an older one is a process the pid belonged to before)
 * by a process that ran with the pool's uid and gid (pidcheck.h says why,
 * and what that cannot tell apart).
 */
int
drover_manager_take_early(drover_manager_t *m, pid_t pid,
    const drover_pidcheck_want_t *want, int *status)
{
    unsigned  i;

    for (i = m->nearly; i-- > 0; ) {
        if (m->early[i].pid != pid) {
            continue;
        }

        if (m->early[i].uid != want->uid
            || (want->gid != (gid_t) -1 && m->early[i].gid != want->gid))
        {
            return 0;
        }

        *status = m->early[i].status;
        m->nearly--;
        memmove(&m->early[i], &m->early[i + 1],
                sizeof(m->early[0]) * (m->nearly - i));
        return 1;
    }

    return 0;
}


/* a child reaped that no slot, preloader or prestart knew, oldest dropped */
void
drover_manager_add_early(drover_manager_t *m, pid_t pid, int status, uid_t uid,
    gid_t gid)
{
    if (m->nearly == DROVER_EARLY_EXITS) {
        memmove(&m->early[0], &m->early[1],
                sizeof(m->early[0]) * (DROVER_EARLY_EXITS - 1));
        m->nearly--;
    }

    m->early[m->nearly].pid = pid;
    m->early[m->nearly].status = status;
    m->early[m->nearly].uid = uid;
    m->early[m->nearly].gid = gid;
    m->nearly++;
}


static void
gen_forked(drover_gen_t *g, const drover_chan_msg_t *msg)
{
    int                     rc, status, pidfd;
    char                    why[256];
    const char             *role;
    drover_slot_t          *s;
    drover_pool_t          *p = g->pool;
    drover_manager_t       *m = p->mgr;
    drover_pidcheck_want_t  want;

    if (msg->slot >= p->nslots || p->slots[msg->slot]->gen != g
        || p->slots[msg->slot]->state != SLOT_FORKING)
    {
        gen_misbehaved(g, "reported %s for slot %u, which did not ask "
                       "(pid %ld)", msg->type == DROVER_CHAN_FORKED
                       ? "a worker" : "a failed fork", msg->slot,
                       (long) msg->pid);
        return;
    }

    s = p->slots[msg->slot];

    if (msg->type == DROVER_CHAN_FORK_FAILED) {
        drover_log_error(DROVER_LOG_ERROR, msg->err, "pool %s: worker %u: "
                         "fork failed", p->name, s->index);
        drover_slot_exited(s, -1);
        return;
    }

    role = drover_manager_pid_role(m, msg->pid);
    if (role != NULL) {
        gen_misbehaved(g, "reported pid %ld, %s, as the worker of slot %u",
                       (long) msg->pid, role, s->index);
        return;
    }

    gen_want(g, &want);

    rc = drover_pidcheck_child(msg->pid, &want, &pidfd, why, sizeof(why));

    if (rc == 0) {
        drover_slot_forked(s, msg->pid, pidfd);
        return;
    }

    /*
     * It may already have died and been reaped as a stranger: the pid is
     * gone (ESRCH) or, rarely, someone else's already (EPERM).  Checked
     * after a live child, so an older exit of a reused pid is not taken.
     */
    if (msg->pid > 1
        && drover_manager_take_early(m, msg->pid, &want, &status))
    {
        drover_slot_forked_exited(s, msg->pid, status);
        return;
    }

    if (rc == -ESRCH) {
        /* gone and reaped: nothing to adopt, nothing to signal */
        drover_log_error(DROVER_LOG_WARN, 0, "pool %s: worker %u: the "
                         "preloader reported pid %ld, which no longer "
                         "exists", p->name, s->index, (long) msg->pid);
        drover_slot_exited(s, -1);
        return;
    }

    gen_misbehaved(g, "reported pid %ld as the worker of slot %u, which "
                   "fails the check: %s", (long) msg->pid, s->index, why);
}


static void
gen_chan_read(drover_gen_t *g)
{
    int                rc, nfds, fds[DROVER_CHAN_MAX_FDS];
    drover_chan_msg_t  msg;

    while (g->chan != NULL) {
        rc = drover_chan_recv(g->chan->fd, &msg, fds, &nfds);

        if (rc == -EAGAIN) {
            return;
        }

        if (rc == -EPIPE) {
            /* everyone holding the other end is gone; SIGCHLD tells why */
            gen_chan_close(g);
            return;
        }

        if (rc != 0) {
            gen_misbehaved(g, "sent a malformed message (%s)",
                           rc == -EPROTO ? "wrong size" : strerror(-rc));
            return;
        }

        if (nfds != 0) {
            while (nfds > 0) {
                close(fds[--nfds]);
            }

            gen_misbehaved(g, "sent file descriptors with message %u",
                           msg.type);
            return;
        }

        switch (msg.type) {

        case DROVER_CHAN_READY:
            if (g->state == GEN_READY) {
                gen_misbehaved(g, "sent READY twice");
                return;
            }

            drover_gen_set_state(g, GEN_READY, "it said READY");
            g->failed = 0;
            drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: preloader %ld "
                             "ready (generation %u)", g->pool->name,
                             (long) g->pid, g->id);
            drover_pool_gen_ready(g->pool, g);
            break;

        case DROVER_CHAN_FORKED:
        case DROVER_CHAN_FORK_FAILED:
            gen_forked(g, &msg);
            break;

        default:
            gen_misbehaved(g, "sent unknown message type %u", msg.type);
            return;
        }
    }
}


static void
chan_poll_cb(uv_poll_t *h, int status, int events)
{
    drover_chan_t  *c = h->data;

    (void) events;

    if (status < 0) {
        drover_log_error(DROVER_LOG_ERROR, status, "pool %s: preloader "
                         "channel", c->gen->pool->name);
        gen_chan_close(c->gen);
        return;
    }

    gen_chan_read(c->gen);
}


static void
gen_timer_cb(uv_timer_t *t)
{
    drover_gen_preloader_start(t->data);
}


void
drover_gen_preloader_start(drover_gen_t *g)
{
    int             rc, sv[2], fds[3];
    char            mpid[32];
    char           *argv[5], **envp;
    pid_t           pid;
    drover_chan_t  *c;
    drover_pool_t  *p = g->pool;

    if (drover_manager_stopping(p->mgr) || g->retired || g->pid > 0) {
        return;
    }

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        drover_log_error(DROVER_LOG_ERROR, errno, "pool %s: socketpair() "
                         "failed", p->name);
        goto fail;
    }

    /* only our end is non-blocking: the preloader waits for requests */
    if (fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0) {
        close(sv[0]);
        close(sv[1]);
        goto fail;
    }

    snprintf(mpid, sizeof(mpid), "%ld", (long) p->mgr->pid);
    argv[0] = "droverd";
    argv[1] = "--preloader";
    argv[2] = p->name;
    argv[3] = mpid;
    argv[4] = NULL;

    fds[0] = g->conf_fd;
    fds[1] = sv[1];
    fds[2] = p->sb_fd;

    rc = drover_env_build(g->conf, NULL, &envp);
    if (rc == 0) {
        rc = drover_proc_spawn(argv, fds, 3, drover_output_fd(p->output),
                               envp, &pid);
        drover_env_free(envp);
    }
    close(sv[1]);

    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, -rc, "pool %s: cannot start the "
                         "preloader", p->name);
        close(sv[0]);
        goto fail;
    }

    g->pid = pid;
    g->pidfd = drover_child_pidfd(pid);
    drover_gen_set_state(g, GEN_LOADING, "started");
    g->misbehaved = 0;
    g->reaped = 0;
    g->started_ms = drover_proc_now_ms();

    c = malloc(sizeof(*c));
    if (c == NULL) {
        drover_log_error(DROVER_LOG_ALERT, ENOMEM, "pool %s", p->name);
        close(sv[0]);
        (void) drover_pidcheck_signal(g->pidfd, pid, SIGKILL);
        return;                     /* reaped and retried by SIGCHLD */
    }

    c->fd = sv[0];
    c->gen = g;
    c->poll.data = c;

    rc = uv_poll_init(&p->mgr->loop, &c->poll, c->fd);
    if (rc == 0) {
        rc = uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT,
                           chan_poll_cb);
    }

    if (rc != 0) {
        drover_log_error(DROVER_LOG_ALERT, rc, "pool %s: uv_poll", p->name);
        close(c->fd);
        free(c);
        (void) drover_pidcheck_signal(g->pidfd, pid, SIGKILL);
        return;
    }

    g->chan = c;

    drover_log_error(DROVER_LOG_INFO, 0, "pool %s: preloader started, pid %ld "
                     "(generation %u)", p->name, (long) pid, g->id);
    return;

fail:

    /* tried again after a backoff, like a preloader that died */
    g->quick_deaths++;
    uv_timer_start(&g->timer, gen_timer_cb,
                   drover_backoff_ms(g->quick_deaths), 0);
}


void
drover_gen_preloader_exited(drover_gen_t *g, int status)
{
    char                desc[128], why[256];
    unsigned            k, delay;
    drover_pool_t      *p = g->pool;
    unsigned long long  lived;

    drover_proc_describe_exit(status, desc, sizeof(desc));

    g->reaped = 1;

    /* FORKED messages it sent before dying are still worth reading */
    if (g->chan != NULL) {
        gen_chan_read(g);
        gen_chan_close(g);
    }

    g->pid = 0;
    drover_gen_set_state(g, GEN_NONE, "it exited");

    if (g->pidfd >= 0) {
        close(g->pidfd);
        g->pidfd = -1;
    }

    for (k = 0; k < p->nslots; k++) {
        if (p->slots[k]->gen == g && p->slots[k]->state == SLOT_FORKING) {
            drover_slot_set_state(p->slots[k], SLOT_EMPTY,
                                  "the preloader exited");
            p->slots[k]->gen = NULL;
        }
    }

    if (drover_manager_stopping(p->mgr) || drover_pool_removing(p)
        || g->retired)
    {
        drover_log_error(DROVER_LOG_INFO, 0, "pool %s: preloader "
                         "(generation %u) %s", p->name, g->id, desc);
        drover_gen_maybe_free(g);
        drover_pool_maybe_free(p);
        drover_manager_maybe_done(p->mgr);
        return;
    }

    if (drover_ondemand_preloader_exited(g, status)) {
        return;
    }

    if (g == p->pending) {
        /* a reload's new generation, or the first start: it never served */
        snprintf(why, sizeof(why), "the preloader %s%s", desc,
                 WIFEXITED(status) && WEXITSTATUS(status) == DROVER_EXIT_INIT
                 ? " (the app's init failed)" : "");

        if (p->cur != NULL) {
            drover_pool_gen_failed(p, g, why);
            return;
        }

        g->failed = 1;
        p->start_failures++;
        drover_pool_set_state(p, POOL_START_FAILED, "its preloader died");
        drover_manager_maybe_ready(p->mgr);
    }

    lived = drover_proc_now_ms() - g->started_ms;

    /* one killed for what it sent is not stable, however long it ran */
    if (lived >= DROVER_RESTART_STABLE_MS && g->failed == 0
        && !g->misbehaved)
    {
        g->quick_deaths = 0;
    } else {
        g->quick_deaths++;
    }

    delay = drover_backoff_ms(g->quick_deaths);

    drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: preloader (generation %u)"
                     " %s%s; restarting it in %u ms%s", p->name, g->id, desc,
                     WIFEXITED(status)
                     && WEXITSTATUS(status) == DROVER_EXIT_INIT
                     ? " (the app's init failed)" : "", delay,
                     g == p->cur ? " (running workers keep serving)" : "");

    uv_timer_start(&g->timer, gen_timer_cb, delay, 0);
}
