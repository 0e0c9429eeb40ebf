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
 */

#include "manager.h"
#include "app.h"
#include "channel.h"
#include "log.h"
#include "notify.h"
#include "output.h"
#include "pidcheck.h"
#include "preloader.h"
#include "prestart.h"
#include "proc.h"
#include "scoreboard.h"
#include "socket.h"
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>
#include <json-c/json.h>


#include "manager_int.h"


const char  *const drover_exit_reason_names[EXIT_NREASONS] = {
    "exit", "signal", "core dumped", "request timeout", "memory limit",
    "memory hard limit", "max requests", "reload", "stop"
};


static void manager_stop(drover_manager_t *m, int quick);
static void defer_stop_cb(uv_timer_t *t);
static void manager_maybe_ready(drover_manager_t *m);
static void manager_maybe_done(drover_manager_t *m);
static void manager_reload(drover_manager_t *m);
static void pool_begin_gen(drover_pool_t *p, drover_gen_t *g);
static void pool_gen_ready(drover_pool_t *p, drover_gen_t *g);
static void pool_gen_failed(drover_pool_t *p, drover_gen_t *g,
    const char *why);
static void pool_roll(drover_pool_t *p);
static int pool_resize(drover_pool_t *p, drover_pool_conf_t *pc,
    unsigned n);
static void pool_maybe_free(drover_pool_t *p);
static void pool_unlink_slots(drover_pool_t *p);
static void gen_preloader_start(drover_gen_t *g);
static void gen_maybe_free(drover_gen_t *g);
static void slot_start(drover_slot_t *s);
static void slot_exited(drover_slot_t *s, int status);
static void slot_stop(drover_slot_t *s, int reason, int sig);


/* ---- small helpers ---- */

static unsigned
backoff_ms(unsigned n)
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


static void
confref_put(drover_confref_t *ref)
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


/* ---- sockets ---- */

static void
listen_owner(const drover_pool_conf_t *pc, uid_t *uid, gid_t *gid)
{
    const drover_listen_conf_t  *l = &pc->listen;

    /* owned by the pool's user unless told otherwise (php-fpm does so too) */
    *uid = l->owner != (uid_t) -1 ? l->owner : pc->uid;
    *gid = l->group != (gid_t) -1 ? l->group : pc->gid;

    if (geteuid() != 0) {
        *uid = l->owner;
        *gid = l->group;
    }
}


/*
 * At startup a socket still held by the workers of a droverd that was just
 * killed is released within milliseconds (they die with their manager):
 * wait up to 2 s for it before giving up.  Never later: the loop runs then.
 */
static int
manager_socket_listen(drover_manager_t *m, drover_socket_t *sock,
    const char *path, const drover_pool_conf_t *pc, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
    int              rc, tries;
    unsigned         waited_ms, ms;
    struct timespec  ts;

    waited_ms = 0;

    /* a few probes, further apart each time: each one sits in the backlog */
    for (tries = 0; ; tries++) {
        rc = drover_socket_listen(sock, path, pc->listen.mode, uid, gid, err,
                                  errlen);

        if (rc != -EADDRINUSE || m->started_ms != 0 || waited_ms >= 2000) {
            return rc;
        }

        ms = 50u << (tries < 4 ? tries : 4);
        waited_ms += ms;
        ts.tv_sec = 0;
        ts.tv_nsec = (long) ms * 1000 * 1000;

        if (tries == 0) {
            drover_log_error(DROVER_LOG_NOTICE, 0, "%s: waiting up to 2 s "
                             "for the processes of a previous droverd to "
                             "let go of it", path);
        }

        nanosleep(&ts, NULL);
    }
}


static int
slot_listen(drover_slot_t *s, const drover_pool_conf_t *pc)
{
    int    rc;
    char   path[256], err[1024];
    uid_t  uid;
    gid_t  gid;

    listen_owner(pc, &uid, &gid);

    rc = drover_conf_slot_path(pc, s->index, path, sizeof(path));
    if (rc == 0) {
        rc = manager_socket_listen(s->pool->mgr, &s->sock, path, pc, uid,
                                   gid, err, sizeof(err));
    } else {
        snprintf(err, sizeof(err), "slot %u: socket path too long",
                 s->index);
    }

    if (rc != 0) {
        drover_log_error(DROVER_LOG_EMERG, 0, "%s:%u: pool \"%s\": %s",
                         pc->listen.file, pc->listen.line, pc->name, err);
    }

    return rc;
}


/*
 * The file mode and owner of existing sockets follow a reload, set through
 * a descriptor of the node droverd bound and never by following the name
 * (the pool's user may be able to replace it with a symlink).
 */
static void
pool_listen_update(drover_pool_t *p, const drover_pool_conf_t *pc)
{
    unsigned  k;
    uid_t     uid;
    gid_t     gid;
    char      err[1024];

    listen_owner(pc, &uid, &gid);

    for (k = 0; k <= p->nslots; k++) {
        drover_socket_t  *sock = (k == p->nslots) ? &p->shared
                                                  : &p->slots[k]->sock;

        if (sock->path == NULL) {
            continue;
        }

        if (drover_socket_set_mode(sock, pc->listen.mode, uid, gid, err,
                                   sizeof(err)) != 0)
        {
            drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: %s", pc->name,
                             err);
        }
    }
}


/*
 * A pidfd for a child the manager just spawned: it is ours and not reaped,
 * so its pid cannot have been reused.  -1 where pidfd_open is missing
 * (signals then go by pid, still safe for an unreaped child).
 */
static int
child_pidfd(pid_t pid)
{
    return pidfd_open(pid, 0);
}


/* ---- slots ---- */

static void
slot_timer_cb(uv_timer_t *t)
{
    drover_slot_t  *s = t->data;

    s->restart_pending = 0;
    slot_start(s);
}


static void
slot_free_cb(uv_handle_t *h)
{
    drover_slot_t  *s = h->data;

    free(s);
}


static drover_slot_t *
slot_create(drover_pool_t *p, unsigned index)
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
    s->stop_reason = -1;
    uv_timer_init(&p->mgr->loop, &s->restart_timer);
    s->restart_timer.data = s;

    return s;
}


/* close its socket and free it; its worker is gone */
static void
slot_destroy(drover_slot_t *s)
{
    drover_socket_close(&s->sock);
    uv_close((uv_handle_t *) &s->restart_timer, slot_free_cb);
}


static drover_slot_t *
slot_by_pid(drover_manager_t *m, pid_t pid)
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


static void
slot_start(drover_slot_t *s)
{
    int                rc, fds[4];
    char               mpid[32], slot[16];
    char              *argv[6];
    pid_t              pid;
    drover_gen_t      *g;
    drover_pool_t     *p = s->pool;
    drover_chan_msg_t  msg;

    g = p->cur;

    if (p->mgr->stopping || p->removing || s->removing
        || s->state != SLOT_EMPTY || s->restart_pending || g == NULL
        || (p->budget_wait && s->index > 0))
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
        if (!g->ready || g->chan == NULL) {
            return;     /* started when the preloader says READY */
        }

        memset(&msg, 0, sizeof(msg));
        msg.type = DROVER_CHAN_FORK;
        msg.slot = s->index;
        fds[0] = s->sock.fd;
        fds[1] = p->shared.fd;

        rc = drover_chan_send(g->chan->fd, &msg, fds, 2);
        if (rc != 0) {
            /* the preloader is going away; its exit restarts everything */
            drover_log_error(DROVER_LOG_WARN, -rc, "pool %s: worker %u: "
                             "cannot reach the preloader", p->name,
                             s->index);
            return;
        }

        s->gen = g;
        s->state = SLOT_FORKING;
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

    rc = drover_proc_spawn(argv, fds, 4, drover_output_fd(p->output), &pid);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, -rc, "pool %s: worker %u: cannot "
                         "start", p->name, s->index);
        s->gen = g;
        slot_exited(s, -1);
        return;
    }

    s->gen = g;
    s->pid = pid;
    s->pidfd = child_pidfd(pid);
    s->state = SLOT_RUNNING;
    p->served = 1;

    drover_log_error(DROVER_LOG_INFO, 0, "pool %s: worker %u started, pid %ld "
                     "(generation %u)", p->name, s->index, (long) pid, g->id);

    manager_maybe_ready(p->mgr);

    if (p->rolling) {
        pool_roll(p);
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
    s->state = SLOT_RUNNING;
    p->served = 1;

    drover_log_error(DROVER_LOG_INFO, 0, "pool %s: worker %u started, pid %ld "
                     "(generation %u)", p->name, s->index, (long) pid,
                     s->gen ? s->gen->id : 0);
}


/* a worker of the slot was named by the preloader and verified */
static void
slot_forked(drover_slot_t *s, pid_t pid, int pidfd)
{
    drover_pool_t     *p = s->pool;
    drover_manager_t  *m = p->mgr;

    slot_running(s, pid, pidfd);

    if (m->stopping || p->removing || s->removing) {
        slot_stop(s, EXIT_STOP, SIGTERM);
    }

    manager_maybe_ready(m);

    if (p->rolling) {
        pool_roll(p);
    }
}


/*
 * The worker the preloader named had already died and been reaped by the
 * manager as its own child (manager_take_early): it ran, so it is logged as
 * started, then its exit is classified like any other.  Its pid is free
 * now: nothing is signalled and no pidfd is kept.
 */
static void
slot_forked_exited(drover_slot_t *s, pid_t pid, int status)
{
    slot_running(s, pid, -1);
    manager_maybe_ready(s->pool->mgr);
    slot_exited(s, status);
}


static void
slot_stop(drover_slot_t *s, int reason, int sig)
{
    uv_timer_stop(&s->restart_timer);
    s->restart_pending = 0;

    if (s->stop_reason == -1 || reason == EXIT_MEMORY_HARD) {
        s->stop_reason = reason;
    }

    if (s->pid > 0) {
        (void) drover_pidcheck_signal(s->pidfd, s->pid, sig);
        s->state = SLOT_STOPPING;
    }
}


static int
exit_reason(drover_slot_t *s, int status)
{
    if (s->stop_reason != -1) {
        return s->stop_reason;
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

    if (!p->failing && p->window_crashes > pc->restart_limit) {
        p->failing = 1;
        drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: %u worker crashes in "
                         "%u s (restart_limit %u per %u s): the pool is "
                         "failing; its workers are retried every %d s",
                         p->name, p->window_crashes,
                         pc->restart_period_ms / 1000, pc->restart_limit,
                         pc->restart_period_ms / 1000,
                         DROVER_FAILING_RETRY_MS / 1000);
    }

    return p->failing;
}


/*
 * The worker of slot s is gone (status -1: it never started).  Replace it:
 * at once when it had run a while or we stopped it, else after a growing
 * delay, so an app that crashes on start does not turn into a fork storm.
 */
static void
slot_exited(drover_slot_t *s, int status)
{
    int                 level, reason, crash;
    char                desc[128];
    unsigned            delay;
    drover_gen_t       *g = s->gen;
    drover_pool_t      *p = s->pool;
    unsigned long long  lived;

    lived = drover_proc_now_ms() - s->started_ms;

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

    if (!crash || p->mgr->stopping) {
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
    s->state = SLOT_EMPTY;
    s->gen = NULL;
    s->rss = s->pss = s->uss = 0;

    if (g != NULL) {
        gen_maybe_free(g);
    }

    if (s->removing || p->removing || p->mgr->stopping) {
        if (s->removing) {
            s->removing = 2;    /* freed by pool_roll / pool_maybe_free */
        }

        if (p->rolling) {
            pool_roll(p);
        }

        pool_maybe_free(p);
        manager_maybe_done(p->mgr);
        return;
    }

    /* a reload's first new worker died: keep the old generation */
    if (p->rolling && !p->canary_ok && g == p->cur && s->index == 0
        && lived < DROVER_CANARY_MS + DROVER_RESTART_STABLE_MS)
    {
        uv_timer_stop(&p->roll_timer);
        pool_gen_failed(p, p->cur, s->last_exit);
        slot_start(s);
        return;
    }

    if (!crash) {
        s->quick_deaths = 0;
        s->restarts++;
        slot_start(s);

        if (p->rolling) {
            pool_roll(p);
        }

        return;
    }

    if (lived >= DROVER_RESTART_STABLE_MS) {
        s->quick_deaths = 0;
    } else {
        s->quick_deaths++;
    }

    s->restarts++;

    /* the first early death is replaced at once too: it may be a kill */
    delay = backoff_ms(s->quick_deaths > 0 ? s->quick_deaths - 1 : 0);

    if (pool_count_crash(p) && delay < DROVER_FAILING_RETRY_MS) {
        delay = DROVER_FAILING_RETRY_MS;
    }

    if (delay == 0) {
        slot_start(s);

    } else {
        if (s->quick_deaths == 3 || s->quick_deaths % 10 == 0) {
            drover_log_error(DROVER_LOG_WARN, 0, "pool %s: worker %u keeps "
                             "exiting early (%u times in a row); next start "
                             "in %u ms", p->name, s->index, s->quick_deaths,
                             delay);
        }

        s->restart_pending = 1;
        uv_timer_start(&s->restart_timer, slot_timer_cb, delay, 0);
    }

    if (p->rolling) {
        pool_roll(p);
    }
}


/* ---- generations and their preloaders ---- */

static void
chan_close_cb(uv_handle_t *h)
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

    uv_close((uv_handle_t *) &g->chan->poll, chan_close_cb);
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


static void
gen_destroy(drover_gen_t *g)
{
    if (g->conf_fd >= 0) {
        close(g->conf_fd);
    }

    if (g->pidfd >= 0) {
        close(g->pidfd);
    }

    confref_put(g->ref);
    free(g);
}


static void
gen_free_cb(uv_handle_t *h)
{
    drover_gen_t   *g = h->data;
    drover_pool_t  *p = g->pool;

    gen_unlink(g);
    gen_destroy(g);
    pool_maybe_free(p);
}


static drover_gen_t *
gen_create(drover_pool_t *p, drover_confref_t *ref, drover_pool_conf_t *pc)
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
static void
gen_maybe_free(drover_gen_t *g)
{
    unsigned        k;
    drover_pool_t  *p = g->pool;

    if (g == p->cur || g == p->pending || g->pid > 0
        || uv_is_closing((uv_handle_t *) &g->timer))
    {
        return;
    }

    if (g == p->prev && p->rolling) {
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
    uv_close((uv_handle_t *) &g->timer, gen_free_cb);
}


static void
gen_retire(drover_gen_t *g)
{
    g->retired = 1;
    uv_timer_stop(&g->timer);

    if (g->pid > 0) {
        (void) drover_pidcheck_signal(g->pidfd, g->pid, SIGTERM);
    }

    gen_maybe_free(g);
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
static const char *
manager_pid_role(drover_manager_t *m, pid_t pid)
{
    drover_gen_t   *g;
    drover_pool_t  *p;

    if (pid <= 1) {
        return NULL;            /* drover_pidcheck_child() refuses those */
    }

    if (pid == m->pid) {
        return "droverd itself";
    }

    if (slot_by_pid(m, pid) != NULL) {
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
static int
manager_take_early(drover_manager_t *m, pid_t pid,
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
static void
manager_add_early(drover_manager_t *m, pid_t pid, int status, uid_t uid,
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
        slot_exited(s, -1);
        return;
    }

    role = manager_pid_role(m, msg->pid);
    if (role != NULL) {
        gen_misbehaved(g, "reported pid %ld, %s, as the worker of slot %u",
                       (long) msg->pid, role, s->index);
        return;
    }

    gen_want(g, &want);

    rc = drover_pidcheck_child(msg->pid, &want, &pidfd, why, sizeof(why));

    if (rc == 0) {
        slot_forked(s, msg->pid, pidfd);
        return;
    }

    /*
     * It may already have died and been reaped as a stranger: the pid is
     * gone (ESRCH) or, rarely, someone else's already (EPERM).  Checked
     * after a live child, so an older exit of a reused pid is not taken.
     */
    if (msg->pid > 1 && manager_take_early(m, msg->pid, &want, &status)) {
        slot_forked_exited(s, msg->pid, status);
        return;
    }

    if (rc == -ESRCH) {
        /* gone and reaped: nothing to adopt, nothing to signal */
        drover_log_error(DROVER_LOG_WARN, 0, "pool %s: worker %u: the "
                         "preloader reported pid %ld, which no longer "
                         "exists", p->name, s->index, (long) msg->pid);
        slot_exited(s, -1);
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
            if (g->ready) {
                gen_misbehaved(g, "sent READY twice");
                return;
            }

            g->ready = 1;
            g->failed = 0;
            drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: preloader %ld "
                             "ready (generation %u)", g->pool->name,
                             (long) g->pid, g->id);
            pool_gen_ready(g->pool, g);
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
    gen_preloader_start(t->data);
}


static void
gen_preloader_start(drover_gen_t *g)
{
    int             rc, sv[2], fds[3];
    char            mpid[32];
    char           *argv[5];
    pid_t           pid;
    drover_chan_t  *c;
    drover_pool_t  *p = g->pool;

    if (p->mgr->stopping || g->retired || g->pid > 0) {
        return;
    }

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        drover_log_error(DROVER_LOG_ERROR, errno, "pool %s: socketpair() "
                         "failed", p->name);
        goto retry;
    }

    /* only our end is non-blocking: the preloader waits for requests */
    if (fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0) {
        close(sv[0]);
        close(sv[1]);
        goto retry;
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

    rc = drover_proc_spawn(argv, fds, 3, drover_output_fd(p->output), &pid);
    close(sv[1]);

    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, -rc, "pool %s: cannot start the "
                         "preloader", p->name);
        close(sv[0]);
        goto retry;
    }

    g->pid = pid;
    g->pidfd = child_pidfd(pid);
    g->ready = 0;
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

retry:

    g->quick_deaths++;
    uv_timer_start(&g->timer, gen_timer_cb, backoff_ms(g->quick_deaths), 0);
}


static void
gen_preloader_exited(drover_gen_t *g, int status)
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
    g->ready = 0;

    if (g->pidfd >= 0) {
        close(g->pidfd);
        g->pidfd = -1;
    }

    for (k = 0; k < p->nslots; k++) {
        if (p->slots[k]->gen == g && p->slots[k]->state == SLOT_FORKING) {
            p->slots[k]->state = SLOT_EMPTY;
            p->slots[k]->gen = NULL;
        }
    }

    if (p->mgr->stopping || p->removing || g->retired) {
        drover_log_error(DROVER_LOG_INFO, 0, "pool %s: preloader "
                         "(generation %u) %s", p->name, g->id, desc);
        gen_maybe_free(g);
        pool_maybe_free(p);
        manager_maybe_done(p->mgr);
        return;
    }

    if (g == p->pending) {
        /* a reload's new generation, or the first start: it never served */
        snprintf(why, sizeof(why), "the preloader %s%s", desc,
                 WIFEXITED(status) && WEXITSTATUS(status) == DROVER_EXIT_INIT
                 ? " (the app's init failed)" : "");

        if (p->cur != NULL) {
            pool_gen_failed(p, g, why);
            return;
        }

        g->failed = 1;
        p->gave_up = 1;
        manager_maybe_ready(p->mgr);
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

    delay = backoff_ms(g->quick_deaths);

    drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: preloader (generation %u)"
                     " %s%s; restarting it in %u ms%s", p->name, g->id, desc,
                     WIFEXITED(status)
                     && WEXITSTATUS(status) == DROVER_EXIT_INIT
                     ? " (the app's init failed)" : "", delay,
                     g == p->cur ? " (running workers keep serving)" : "");

    uv_timer_start(&g->timer, gen_timer_cb, delay, 0);
}


/* ---- pools: generations, prestart, rollout ---- */

static void
prestart_done(drover_prestart_t *ps, int status, const char *message,
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
        if (p->cur == NULL) {
            /* the first start: prestart must succeed before any worker */
            drover_log_error(DROVER_LOG_EMERG, 0, "pool %s: prestart failed: "
                             "%s; no worker starts, droverd exits", p->name,
                             message);
            p->mgr->exit_code = 1;
            p->mgr->stop_quick = 1;

            /* after prestart has closed its own handles */
            uv_timer_start(&p->mgr->defer_timer, defer_stop_cb, 0, 0);
            return;
        }

        pool_gen_failed(p, g, message);
        return;
    }

    if (g->conf->preload) {
        gen_preloader_start(g);
    } else {
        pool_gen_ready(p, g);
    }
}


static void
pool_begin_gen(drover_pool_t *p, drover_gen_t *g)
{
    int  rc;

    p->pending = g;

    /* systemd's start timeout must not run out while migrations do */
    if (g->conf->nprestart > 0 && !p->mgr->ready_sent) {
        drover_notify_send(&p->mgr->notify, "EXTEND_TIMEOUT_USEC=%llu\n"
                           "STATUS=pool %s: prestart",
                           (unsigned long long) g->conf->prestart_timeout_ms
                           * 1000 + 10000000, p->name);
    }

    rc = drover_prestart_start(&p->mgr->loop, g->ref->conf, g->conf,
                               prestart_done, p, &p->prestart);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, -rc, "pool %s: cannot run "
                         "prestart", p->name);
        p->prestart = NULL;
        prestart_done(NULL, rc, "prestart could not start", p);
    }
}


static void
pool_gen_failed(drover_pool_t *p, drover_gen_t *g, const char *why)
{
    unsigned  k;

    drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: reload failed: %s; "
                     "generation %u keeps serving", p->name, why,
                     p->rolling ? p->prev->id : (p->cur ? p->cur->id : 0));

    if (p->rolling && g == p->cur) {
        /* back to the previous generation for every slot */
        p->cur = p->prev;
        p->prev = g;
        p->rolling = 0;

        for (k = 0; k < p->nslots; k++) {
            drover_slot_t  *s = p->slots[k];

            if (s->gen == g) {
                slot_stop(s, EXIT_RELOAD, SIGTERM);
            }
        }

        p->prev = NULL;

        if (p->nslots != p->cur->conf->workers) {
            (void) pool_resize(p, p->cur->conf, p->cur->conf->workers);
        }

        for (k = 0; k < p->nslots; k++) {
            slot_start(p->slots[k]);
        }
    }

    if (p->pending == g) {
        p->pending = NULL;
    }

    gen_retire(g);
    manager_maybe_done(p->mgr);

    if (p->mgr->reload_pending && !p->rolling) {
        manager_reload(p->mgr);
    }
}


static void
roll_timer_cb(uv_timer_t *t)
{
    drover_pool_t  *p = t->data;

    p->canary_ok = 1;
    pool_roll(p);
}


/*
 * One slot at a time: stop an old worker (it finishes its request first),
 * its replacement comes from the new generation, then the next.  The first
 * replacement is a canary that must live DROVER_CANARY_MS.
 */
static void
pool_roll(drover_pool_t *p)
{
    unsigned        k;
    drover_slot_t  *s;

    if (!p->rolling || p->mgr->stopping) {
        return;
    }

    for (k = 0; k < p->nslots; k++) {
        s = p->slots[k];

        if (s->gen == p->cur && s->state == SLOT_FORKING) {
            return;     /* wait for the replacement to run */
        }

        if (s->state == SLOT_STOPPING) {
            return;     /* one slot at a time */
        }
    }

    if (!p->canary_ok) {
        s = p->slots[0];

        if (s->gen == p->cur && s->state == SLOT_RUNNING) {
            if (!uv_is_active((uv_handle_t *) &p->roll_timer)) {
                uv_timer_start(&p->roll_timer, roll_timer_cb,
                               DROVER_CANARY_MS, 0);
            }
            return;
        }

        if (s->gen == p->prev && s->state == SLOT_RUNNING) {
            slot_stop(s, EXIT_RELOAD, SIGTERM);
            return;
        }

        if (s->state == SLOT_EMPTY && !s->restart_pending) {
            slot_start(s);
            return;
        }

        return;
    }

    for (k = 0; k < p->nslots; k++) {
        s = p->slots[k];

        if (s->gen == p->prev && s->state == SLOT_RUNNING) {
            slot_stop(s, EXIT_RELOAD, SIGTERM);
            return;
        }

        if (s->state == SLOT_EMPTY && !s->restart_pending) {
            slot_start(s);
            if (s->state != SLOT_EMPTY) {
                return;
            }
        }
    }

    /* every slot runs the new generation */
    p->rolling = 0;

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: generation %u serves "
                     "(rolled over in %llu ms)", p->name, p->cur->id,
                     drover_proc_now_ms() - p->roll_started_ms);

    if (p->prev != NULL) {
        drover_gen_t  *old = p->prev;

        gen_retire(old);
        if (p->prev == old && !uv_is_closing((uv_handle_t *) &old->timer)) {
            p->prev = NULL;
            gen_maybe_free(old);
        }
    }

    if (p->mgr->reload_pending) {
        manager_reload(p->mgr);
    }
}


/*
 * The pending generation can serve.  On the first start its workers start;
 * on a reload the rollout begins.
 */
static void
pool_gen_ready(drover_pool_t *p, drover_gen_t *g)
{
    unsigned  k;

    if (g != p->pending) {
        if (g == p->cur) {
            /* a restarted preloader: start what waits for it */
            for (k = 0; k < p->nslots; k++) {
                slot_start(p->slots[k]);
            }
        }
        return;
    }

    p->pending = NULL;

    if (p->cur == NULL) {
        p->cur = g;

        for (k = 0; k < p->nslots; k++) {
            slot_start(p->slots[k]);
        }

        return;
    }

    if (!g->keep_slots && g->conf->workers != p->nslots
        && pool_resize(p, g->conf, g->conf->workers) != 0)
    {
        pool_resize(p, p->cur->conf, p->cur->conf->workers);
        p->pending = g;
        pool_gen_failed(p, g, "cannot change the number of workers");
        return;
    }

    p->prev = p->cur;
    p->cur = g;
    p->rolling = 1;
    p->canary_ok = 0;
    p->roll_started_ms = drover_proc_now_ms();

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: generation %u ready, "
                     "replacing generation %u one worker at a time",
                     p->name, g->id, p->prev->id);

    pool_roll(p);
}


static void
pool_free_cb(uv_handle_t *h)
{
    drover_pool_t  *p = h->data;

    drover_output_close(p->output);

    if (p->sb_fd >= 0) {
        close(p->sb_fd);
        drover_sb_unmap(p->sb);
    }

    free(p->slots);
    free(p->name);
    free(p);
}


/* a removed pool goes once its workers and preloaders are gone */
static void
pool_maybe_free(drover_pool_t *p)
{
    unsigned         k;
    drover_gen_t    *g;
    drover_pool_t  **pp;

    /* scaled-away slots are always the last ones: index == position */
    while (p->nslots > 0 && p->slots[p->nslots - 1]->removing == 2
           && p->slots[p->nslots - 1]->state == SLOT_EMPTY)
    {
        slot_destroy(p->slots[--p->nslots]);
    }

    if (!p->removing || p->mgr->stopping) {
        return;
    }

    for (k = 0; k < p->nslots; k++) {
        if (p->slots[k]->state != SLOT_EMPTY) {
            return;
        }
    }

    for (g = p->gens; g != NULL; g = g->next) {
        if (g->pid > 0) {
            return;
        }
    }

    if (p->removing == 1) {
        p->removing = 2;

        for (pp = &p->mgr->pools; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == p) {
                *pp = p->next;
                break;
            }
        }

        drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: removed", p->name);
        pool_unlink_slots(p);

        /* none of its processes is left; out of m->pools, it closes now */
        drover_output_drain(p->output, 0);
        drover_output_close(p->output);
        p->output = NULL;

        for (k = 0; k < p->nslots; k++) {
            slot_destroy(p->slots[k]);
        }

        p->nslots = 0;
        drover_socket_close(&p->shared);

        if (p->prestart != NULL) {
            drover_prestart_cancel(p->prestart);
            p->prestart = NULL;
        }

        p->cur = NULL;
        p->prev = NULL;
        p->pending = NULL;

        /* each gen_free_cb comes back here; the last one frees the pool */
        for (g = p->gens; g != NULL; g = g->next) {
            gen_retire(g);
        }
    }

    if (p->gens == NULL && !uv_is_closing((uv_handle_t *) &p->roll_timer)) {
        uv_close((uv_handle_t *) &p->roll_timer, pool_free_cb);
    }
}


static drover_pool_t *
pool_create(drover_manager_t *m, drover_confref_t *ref,
    drover_pool_conf_t *pc)
{
    int             rc;
    char            err[1024];
    uid_t           uid;
    gid_t           gid;
    unsigned        k;
    drover_gen_t   *g;
    drover_pool_t  *p;

    p = calloc(1, sizeof(drover_pool_t));
    if (p == NULL) {
        return NULL;
    }

    p->mgr = m;
    p->shared.fd = -1;
    p->sb_fd = -1;
    p->name = strdup(pc->name);
    p->slots = calloc(DROVER_CONF_MAX_WORKERS, sizeof(drover_slot_t *));

    if (p->name == NULL || p->slots == NULL) {
        goto failed;
    }

    rc = drover_sb_create(&p->sb_fd, &p->sb);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_EMERG, -rc, "pool %s: cannot create its "
                         "scoreboard", pc->name);
        goto failed;
    }

    rc = drover_output_open(&m->loop, pc->name, &p->output);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_EMERG, rc, "pool %s: cannot create the "
                         "socket for its processes' output", pc->name);
        goto failed;
    }

    listen_owner(pc, &uid, &gid);

    rc = manager_socket_listen(m, &p->shared, pc->listen.path, pc, uid, gid,
                               err, sizeof(err));
    if (rc != 0) {
        drover_log_error(DROVER_LOG_EMERG, 0, "%s:%u: pool \"%s\": %s",
                         pc->listen.file, pc->listen.line, pc->name, err);
        goto failed;
    }

    for (k = 0; k < pc->workers; k++) {
        p->slots[k] = slot_create(p, k);
        if (p->slots[k] == NULL) {
            goto failed;
        }

        p->nslots++;

        if (slot_listen(p->slots[k], pc) != 0) {
            goto failed;
        }
    }

    g = gen_create(p, ref, pc);
    if (g == NULL) {
        goto failed;
    }

    p->budget_wait = pc->workers_auto && pc->workers > 1
                     && (pc->memory_budget != 0
                         || ref->conf->memory_budget != 0);

    /* nothing fails past here: the pool's handles need a close callback */
    uv_timer_init(&m->loop, &p->roll_timer);
    p->roll_timer.data = p;

    p->pending = g;

    return p;

failed:

    for (k = 0; k < p->nslots; k++) {
        slot_destroy(p->slots[k]);
    }

    drover_socket_close(&p->shared);
    drover_output_close(p->output);

    if (p->sb_fd >= 0) {
        close(p->sb_fd);
        drover_sb_unmap(p->sb);
    }

    free(p->slots);
    free(p->name);
    free(p);

    return NULL;
}


static void
pool_announce(drover_pool_t *p)
{
    drover_pool_conf_t  *pc = drover_pool_conf(p);

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: %u workers on %s "
                     "(slots %s.0 .. %s.%u), preload %s", p->name,
                     pc->workers, pc->listen.path, pc->listen.path,
                     pc->listen.path, pc->workers - 1,
                     pc->preload ? "on" : "off");
}


/* ---- reload ---- */

static int
pool_listen_same(const drover_pool_conf_t *a, const drover_pool_conf_t *b)
{
    return strcmp(a->listen.path, b->listen.path) == 0;
}


/* workers N -> M: new slots get sockets now, extra ones stop */
static int
pool_resize(drover_pool_t *p, drover_pool_conf_t *pc, unsigned n)
{
    unsigned        k;
    drover_slot_t  *s;

    /* slots still on their way out that the new count keeps */
    for (k = 0; k < p->nslots && k < n; k++) {
        p->slots[k]->removing = 0;
    }

    for (k = p->nslots; k < n; k++) {
        s = slot_create(p, k);
        if (s == NULL) {
            return -ENOMEM;
        }

        if (slot_listen(s, pc) != 0) {
            slot_destroy(s);
            return -EADDRINUSE;
        }

        p->slots[p->nslots++] = s;
    }

    for (k = n; k < p->nslots; k++) {
        s = p->slots[k];
        s->removing = 1;

        if (s->state == SLOT_EMPTY) {
            s->removing = 2;
        } else {
            slot_stop(s, EXIT_STOP, SIGTERM);
        }
    }

    pool_maybe_free(p);
    return 0;
}


static void
pool_remove(drover_pool_t *p)
{
    unsigned  k;

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: no longer in the "
                     "configuration: stopping it", p->name);

    p->removing = 1;
    p->rolling = 0;
    uv_timer_stop(&p->roll_timer);

    if (p->prestart != NULL) {
        drover_prestart_cancel(p->prestart);
        p->prestart = NULL;
    }

    for (k = 0; k < p->nslots; k++) {
        slot_stop(p->slots[k], EXIT_STOP, SIGTERM);
    }

    if (p->pending != NULL) {
        gen_retire(p->pending);
    }

    if (p->prev != NULL) {
        gen_retire(p->prev);
    }

    if (p->cur != NULL) {
        gen_retire(p->cur);
    }

    pool_maybe_free(p);
}


static int
manager_busy(drover_manager_t *m)
{
    drover_pool_t  *p;

    for (p = m->pools; p != NULL; p = p->next) {
        if (!p->removing && (p->rolling || p->pending != NULL)) {
            return 1;
        }
    }

    return 0;
}


static void
manager_reload(drover_manager_t *m)
{
    int                  rc;
    char                 err[2048];
    drover_conf_t       *conf;
    drover_gen_t        *g;
    drover_pool_t       *p, *next, **tail;
    drover_confref_t    *ref;
    drover_pool_conf_t  *pc;

    if (m->stopping) {
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

    /* pools gone, or whose socket moved: stop them */
    for (p = m->pools; p != NULL; p = next) {
        next = p->next;

        if (p->removing) {
            continue;
        }

        pc = drover_conf_find_pool(conf, p->name);

        if (pc == NULL || !pool_listen_same(drover_pool_conf(p), pc)) {
            pool_remove(p);
        }
    }

    for (pc = conf->pools; pc != NULL; pc = pc->next) {
        for (p = m->pools; p != NULL; p = p->next) {
            if (!p->removing && strcmp(p->name, pc->name) == 0) {
                break;
            }
        }

        if (p == NULL) {
            /* a new pool */
            p = pool_create(m, ref, pc);
            if (p == NULL) {
                drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: cannot add "
                                 "it", pc->name);
                continue;
            }

            for (tail = &m->pools; *tail != NULL; tail = &(*tail)->next) {
                /* void */
            }
            *tail = p;

            pool_announce(p);
            pool_begin_gen(p, p->pending);
            continue;
        }

        pool_listen_update(p, pc);

        g = gen_create(p, ref, pc);
        if (g == NULL) {
            continue;
        }

        pool_begin_gen(p, g);
    }

    confref_put(m->ref);
    m->ref = ref;

    drover_notify_send(&m->notify, "READY=1\nSTATUS=reloaded");
}


/* ---- the .slots file: which slot sockets have a worker, for nginx ---- */

static const char *
slot_up_name(drover_slot_t *s)
{
    return (s->state == SLOT_RUNNING && !s->removing) ? "up" : "down";
}


static unsigned long long
pool_slots_sig(drover_pool_t *p)
{
    unsigned            k;
    unsigned long long  h = 1469598103934665603ULL;

    h = (h ^ p->nslots) * 1099511628211ULL;
    h = (h ^ (p->cur ? p->cur->id : 0)) * 1099511628211ULL;

    for (k = 0; k < p->nslots; k++) {
        h = (h ^ (unsigned long long) p->slots[k]->pid) * 1099511628211ULL;
        h = (h ^ (slot_up_name(p->slots[k])[0] == 'u')) * 1099511628211ULL;
    }

    return h | 1;   /* never 0: 0 means "not written yet" */
}


/*
 * LISTEN.slots, replaced atomically: the nginx module reads it to learn
 * which slot sockets have a worker behind them.
 *
 *     drover-slots 1
 *     pool kit
 *     generation 3
 *     slots 2
 *     0 up 1234
 *     1 down 0
 */
static void
pool_write_slots(drover_pool_t *p)
{
    int                  fd, n;
    char                 path[PATH_MAX], tmp[PATH_MAX], buf[16384];
    size_t               len;
    unsigned             k;
    uid_t                uid;
    gid_t                gid;
    drover_pool_conf_t  *pc = drover_pool_conf(p);

    (void) uid;

    n = snprintf(path, sizeof(path), "%s.slots", pc->listen.path);
    if (n < 0 || (size_t) n >= sizeof(path)
        || snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp))
    {
        return;
    }

    len = (size_t) snprintf(buf, sizeof(buf), "drover-slots 1\npool %s\n"
                            "generation %u\nslots %u\n", p->name,
                            p->cur ? p->cur->id : 0, p->nslots);

    for (k = 0; k < p->nslots && len < sizeof(buf) - 64; k++) {
        len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%u %s %ld\n",
                                 k, slot_up_name(p->slots[k]),
                                 (long) p->slots[k]->pid);
    }

    unlink(tmp);

    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
              pc->listen.mode & 0644);
    if (fd == -1) {
        drover_log_error(DROVER_LOG_ERROR, errno, "pool %s: cannot write %s",
                         p->name, tmp);
        return;
    }

    /* readable by whoever may connect, written only by droverd itself */
    listen_owner(pc, &uid, &gid);

    if (write(fd, buf, len) != (ssize_t) len
        || fchmod(fd, pc->listen.mode & 0644) != 0
        || (gid != (gid_t) -1 && fchown(fd, (uid_t) -1, gid) != 0)
        || close(fd) != 0
        || rename(tmp, path) != 0)
    {
        drover_log_error(DROVER_LOG_ERROR, errno, "pool %s: cannot write %s",
                         p->name, path);
        unlink(tmp);
        return;
    }
}


static void
pool_unlink_slots(drover_pool_t *p)
{
    char  path[PATH_MAX];

    if (p->slots_sig == 0
        || snprintf(path, sizeof(path), "%s.slots", drover_pool_conf(p)->listen.path)
           >= (int) sizeof(path))
    {
        return;
    }

    unlink(path);
    p->slots_sig = 0;
}


/* before the loop waits: rewrite the .slots files that changed */
static void
slots_prepare_cb(uv_prepare_t *h)
{
    drover_pool_t       *p;
    drover_manager_t    *m = h->data;
    unsigned long long   sig;

    for (p = m->pools; p != NULL; p = p->next) {
        if (p->removing || (p->cur == NULL && p->pending == NULL)) {
            continue;
        }

        sig = pool_slots_sig(p);
        if (sig != p->slots_sig) {
            p->slots_sig = sig;
            pool_write_slots(p);
        }
    }
}


/* ---- memory ---- */

/* /proc/PID/NAME into buf, NUL-terminated: procfs reads never block */
static int
proc_file_read(pid_t pid, const char *name, char *buf, size_t size)
{
    int      fd;
    char     path[64];
    ssize_t  n;

    snprintf(path, sizeof(path), "/proc/%ld/%s", (long) pid, name);

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return -errno;
    }

    n = read(fd, buf, size - 1);
    close(fd);

    if (n <= 0) {
        return -EIO;
    }

    buf[n] = '\0';
    return 0;
}


/* Rss, Pss and USS (Private_Clean + Private_Dirty + Swap) in bytes */
int
drover_memory_read(pid_t pid, unsigned long long *rss, unsigned long long *pss,
    unsigned long long *uss)
{
    char                buf[4096], *line, *end;
    unsigned long long  kb;

    if (proc_file_read(pid, "smaps_rollup", buf, sizeof(buf)) != 0) {
        return -EIO;
    }

    *rss = *pss = *uss = 0;

    for (line = buf; line != NULL && *line != '\0'; line = end) {
        end = strchr(line, '\n');
        if (end != NULL) {
            *end++ = '\0';
        }

        if (sscanf(line, "%*[^:]: %llu kB", &kb) != 1) {
            continue;
        }

        if (strncmp(line, "Rss:", 4) == 0) {
            *rss = kb * 1024;
        } else if (strncmp(line, "Pss:", 4) == 0) {
            *pss = kb * 1024;
        } else if (strncmp(line, "Private_Clean:", 14) == 0
                   || strncmp(line, "Private_Dirty:", 14) == 0
                   || strncmp(line, "Swap:", 5) == 0)
        {
            *uss += kb * 1024;
        }
    }

    return 0;
}


/* utime + stime of pid, in clock ticks */
static int
cpu_read(pid_t pid, unsigned long long *ticks)
{
    char                buf[1024], *p;
    unsigned long long  ut, st;

    if (proc_file_read(pid, "stat", buf, sizeof(buf)) != 0) {
        return -EIO;
    }

    /* the name in parentheses may hold anything: start after the last ')' */
    p = strrchr(buf, ')');
    if (p == NULL
        || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                  "%llu %llu", &ut, &st) != 2)
    {
        return -EIO;
    }

    *ticks = ut + st;
    return 0;
}


/*
 * The worker's scoreboard entry as it is now: a seqlock read, no syscall.
 * Display data written by the tenant's code (scoreboard.h): an entry that
 * does not name this slot's verified pid is ignored (the last good copy
 * stays), the rest is clamped against that copy.
 */
void
drover_slot_read_sb(drover_slot_t *s)
{
    drover_pool_t     *p = s->pool;
    drover_sb_slot_t   copy;

    if (p->sb == NULL || s->pid <= 0
        || drover_sb_read(&p->sb->slots[s->index], &copy) != 0
        || copy.pid != s->pid)
    {
        return;
    }

    s->sb_clamped += drover_sb_sanitize(&copy, &s->sb,
                                        s->started_ms * 1000,
                                        drover_sb_now_us());
    s->sb = copy;
}


static void
slot_sample_stats(drover_slot_t *s)
{
    unsigned            i;
    unsigned long long  ticks, busy;

    drover_slot_read_sb(s);

    if (cpu_read(s->pid, &ticks) != 0) {
        return;
    }

    busy = s->sb.busy_us;
    if (s->sb.state == DROVER_SB_BUSY && s->sb.request_start_us != 0) {
        unsigned long long  now = drover_sb_now_us();

        if (now > s->sb.request_start_us) {
            busy += now - s->sb.request_start_us;
        }
    }

    i = s->ring_pos;
    s->ring[i].t_ms = drover_proc_now_ms();
    s->ring[i].cpu_ticks = ticks;
    s->ring[i].busy_us = busy;
    s->ring[i].requests = s->sb.requests;
    s->ring_pos = (i + 1) % DROVER_SAMPLES;

    if (s->ring_n < DROVER_SAMPLES) {
        s->ring_n++;
    }
}


static void
slot_sample(drover_slot_t *s)
{
    drover_pool_conf_t  *pc;

    if (s->state != SLOT_RUNNING || s->gen == NULL
        || drover_memory_read(s->pid, &s->rss, &s->pss, &s->uss) != 0)
    {
        return;
    }

    slot_sample_stats(s);

    pc = s->gen->conf;

    if (pc->memory_limit_hard != 0 && s->uss > pc->memory_limit_hard) {
        drover_log_error(DROVER_LOG_WARN, 0, "pool %s: worker %u (pid %ld) "
                         "uses %llu MiB of private memory, over "
                         "memory_limit_hard %llu MiB: killing it",
                         s->pool->name, s->index, (long) s->pid,
                         s->uss >> 20, pc->memory_limit_hard >> 20);
        slot_stop(s, EXIT_MEMORY_HARD, SIGKILL);
        return;
    }

    if (pc->memory_limit != 0 && s->uss > pc->memory_limit
        && s->stop_reason == -1)
    {
        drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: worker %u (pid %ld) "
                         "uses %llu MiB of private memory, over memory_limit "
                         "%llu MiB: recycling it after its current request",
                         s->pool->name, s->index, (long) s->pid,
                         s->uss >> 20, pc->memory_limit >> 20);
        slot_stop(s, EXIT_MEMORY, SIGTERM);
    }
}


/* memory the other pools use now: preloaders (shared) and workers (USS) */
static unsigned long long
manager_memory_used(drover_manager_t *m, drover_pool_t *except)
{
    unsigned            k;
    drover_gen_t       *g;
    drover_pool_t      *p;
    unsigned long long  sum, rss, pss, uss;

    sum = 0;

    for (p = m->pools; p != NULL; p = p->next) {
        if (p == except) {
            continue;
        }

        for (g = p->gens; g != NULL; g = g->next) {
            if (g->pid > 0 && drover_memory_read(g->pid, &rss, &pss, &uss) == 0) {
                sum += rss;
            }
        }

        for (k = 0; k < p->nslots; k++) {
            sum += p->slots[k]->uss;
        }
    }

    return sum;
}


/*
 * workers auto under memory_budget: once slot 0 has run a second, count
 * the preloaded state once (the preloader's resident memory, shared by
 * every worker copy-on-write) and each worker's private memory (measured,
 * or memory_limit when larger), and start only the workers that fit.
 */
static void
pool_budget(drover_pool_t *p)
{
    unsigned            n, cores;
    drover_slot_t      *s0 = p->slots[0];
    drover_pool_conf_t *pc = p->cur->conf;
    unsigned long long  budget, shared, each, rss, pss, uss, other;
    const char         *scope;

    if (s0->state != SLOT_RUNNING || s0->uss == 0
        || drover_proc_now_ms() - s0->started_ms < DROVER_RESTART_STABLE_MS)
    {
        return;
    }

    shared = 0;
    if (pc->preload && p->cur->pid > 0
        && drover_memory_read(p->cur->pid, &rss, &pss, &uss) == 0)
    {
        shared = rss;
    }

    each = s0->uss;
    if (pc->memory_limit > each) {
        each = pc->memory_limit;
    }

    if (pc->memory_budget != 0) {
        budget = pc->memory_budget;
        scope = "the pool's memory_budget";
    } else {
        other = manager_memory_used(p->mgr, p);
        budget = p->mgr->ref->conf->memory_budget;
        budget = budget > other ? budget - other : 0;
        scope = "what is left of the global memory_budget";
    }

    cores = pc->workers;
    n = budget > shared ? (unsigned) ((budget - shared) / each) : 0;
    n = n < 1 ? 1 : (n > cores ? cores : n);

    p->budget_wait = 0;

    if (n < cores) {
        drover_log_error(DROVER_LOG_WARN, 0, "pool %s: \"workers auto\" "
                         "would start %u workers (one per core), but %s "
                         "(%llu MiB) fits only %u: the preloaded state "
                         "(%llu MiB) is counted once, shared by all "
                         "workers, plus %llu MiB private memory for each "
                         "worker; starting %u", p->name, cores, scope,
                         budget >> 20, n, shared >> 20, each >> 20, n);
        (void) pool_resize(p, pc, n);
    } else {
        drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: %u workers fit in "
                         "%s (%llu MiB: %llu MiB preloaded once + %llu MiB "
                         "each)", p->name, cores, scope, budget >> 20,
                         shared >> 20, each >> 20);
    }

    pool_roll(p);

    for (n = 0; n < p->nslots; n++) {
        slot_start(p->slots[n]);
    }
}


static void
sample_timer_cb(uv_timer_t *t)
{
    unsigned            k, stable;
    drover_pool_t      *p;
    drover_manager_t   *m = t->data;
    unsigned long long  now = drover_proc_now_ms();

    for (p = m->pools; p != NULL; p = p->next) {
        stable = 0;

        for (k = 0; k < p->nslots; k++) {
            drover_slot_t  *s = p->slots[k];

            slot_sample(s);

            if (s->state == SLOT_RUNNING
                && now - s->started_ms >= DROVER_RESTART_STABLE_MS)
            {
                stable++;
            }
        }

        if (p->budget_wait && p->cur != NULL && p->nslots > 0) {
            pool_budget(p);
        }

        if (p->failing && stable == p->nslots && p->nslots > 0) {
            p->failing = 0;
            drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: every worker "
                             "runs again: no longer failing", p->name);
        }
    }
}


/* ---- status and the control socket ---- */



static int
control_reload(void *data, char *err, size_t errlen)
{
    drover_manager_t  *m = data;

    (void) err;
    (void) errlen;

    manager_reload(m);
    return 0;
}


static int
control_restart(void *data, const char *pool, char *err, size_t errlen)
{
    drover_gen_t      *g;
    drover_pool_t     *p;
    drover_manager_t  *m = data;

    p = drover_manager_pool(m, pool);
    if (p == NULL) {
        snprintf(err, errlen, "no pool \"%s\"", pool);
        return -ENOENT;
    }

    if (p->cur == NULL || p->rolling || p->pending != NULL) {
        snprintf(err, errlen, "pool \"%s\" is starting or reloading: try "
                 "again when it serves", pool);
        return -EBUSY;
    }

    /* a new generation of the same configuration: a rolling restart */
    g = gen_create(p, p->cur->ref, p->cur->conf);
    if (g == NULL) {
        snprintf(err, errlen, "cannot make a new generation");
        return -ENOMEM;
    }

    g->keep_slots = 1;

    pool_begin_gen(p, g);
    return 0;
}


static int
control_scale(void *data, const char *pool, unsigned workers, char *err,
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

    if (p->cur == NULL || p->rolling || p->pending != NULL) {
        snprintf(err, errlen, "pool \"%s\" is starting or reloading: try "
                 "again when it serves", pool);
        return -EBUSY;
    }

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: scaling from %u to %u "
                     "workers (until the next reload)", p->name, p->nslots,
                     workers);

    p->budget_wait = 0;

    if (pool_resize(p, p->cur->conf, workers) != 0) {
        snprintf(err, errlen, "cannot create the sockets of the new slots");
        return -EADDRINUSE;
    }

    for (k = 0; k < p->nslots; k++) {
        slot_start(p->slots[k]);
    }

    return 0;
}


static void
defer_stop_cb(uv_timer_t *t)
{
    drover_manager_t  *m = t->data;

    manager_stop(m, m->stop_quick);
}


static int
control_stop(void *data, char *err, size_t errlen)
{
    drover_manager_t  *m = data;

    (void) err;
    (void) errlen;

    /* after this turn of the loop: the answer must leave first */
    uv_timer_start(&m->defer_timer, defer_stop_cb, 0, 0);
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
        NULL, drover_status_build, control_reload, control_restart,
        control_scale, control_stop
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

static void
manager_maybe_ready(drover_manager_t *m)
{
    unsigned        n, npools;
    drover_pool_t  *p;

    if (m->ready_sent || m->stopping) {
        return;
    }

    n = 0;
    npools = 0;

    for (p = m->pools; p != NULL; p = p->next) {
        npools++;

        if (p->served || p->gave_up) {
            n++;
        }
    }

    if (n < npools) {
        return;
    }

    m->ready_sent = 1;
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
            uv_close(h, chan_close_cb);

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


static void
manager_maybe_done(drover_manager_t *m)
{
    if (!m->stopping || manager_children_left(m)
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

    drover_notify_close(&m->notify);
    manager_close_output(m);
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
                gen_preloader_exited(g, status);
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
        if (manager_pid_role(m, pid) != NULL
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

        s = slot_by_pid(m, pid);
        if (s != NULL) {
            slot_exited(s, status);
            continue;
        }

        /*
         * A worker whose FORKED message is still on its way, or an orphan
         * reparented to us (we are subreaper): remember the first kind.
         */
        manager_add_early(m, pid, status, uid, gid);
    }

    manager_maybe_done(m);
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
        p->rolling = 0;

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
            slot_stop(p->slots[k], EXIT_STOP, sig);
        }
    }
}


static void
manager_stop(drover_manager_t *m, int quick)
{
    unsigned        timeout;
    drover_pool_t  *p;

    if (!m->stopping) {
        drover_log_error(DROVER_LOG_NOTICE, 0, "stopping%s",
                         quick ? " at once" : ": letting requests finish");
        drover_notify_send(&m->notify, "STOPPING=1\nSTATUS=stopping");
        m->stopping = 1;

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

    manager_maybe_done(m);
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
        manager_reload(m);
        break;
    }
}


/* ---- setup ---- */

int
drover_manager_load(const char *path, drover_conf_t **out, char *err,
    size_t errlen)
{
    int                  rc;
    char                 msg[1024];
    drover_conf_t       *conf;
    drover_pool_conf_t  *p;

    rc = drover_conf_load(path, &conf, err, errlen);
    if (rc != 0) {
        return rc;
    }

    for (p = conf->pools; p != NULL; p = p->next) {
        rc = drover_app_check(p, msg, sizeof(msg));
        if (rc != 0) {
            snprintf(err, errlen, "%s:%u: %s", p->file, p->line, msg);
            drover_conf_free(conf);
            return rc;
        }
    }

    *out = conf;
    return 0;
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
        confref_put(m->ref);
        return 1;
    }

    rc = uv_loop_init(&m->loop);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_EMERG, rc, "uv_loop_init() failed");
        confref_put(m->ref);
        return 1;
    }

    uv_timer_init(&m->loop, &m->stop_timer);
    m->stop_timer.data = m;
    uv_timer_init(&m->loop, &m->defer_timer);
    m->defer_timer.data = m;
    uv_timer_init(&m->loop, &m->sample_timer);
    m->sample_timer.data = m;

    /* every socket exists before any process starts */
    tail = &m->pools;

    for (pc = conf->pools; pc != NULL; pc = pc->next) {
        p = pool_create(m, m->ref, pc);
        if (p == NULL) {
            goto failed;
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
        goto failed;
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
    uv_prepare_start(&m->slots_prepare, slots_prepare_cb);

    m->exit_code = 0;

    for (p = m->pools; p != NULL; p = p->next) {
        pool_announce(p);
        pool_begin_gen(p, p->pending);
    }

    uv_timer_start(&m->sample_timer, sample_timer_cb, DROVER_SAMPLE_MS,
                   DROVER_SAMPLE_MS);

    uv_run(&m->loop, UV_RUN_DEFAULT);

    goto done;

failed:

    /* startup failed before any child started: done: frees the pools */
    manager_close_output(m);
    uv_walk(&m->loop, manager_close_walk_cb, NULL);

done:

    uv_run(&m->loop, UV_RUN_DEFAULT);    /* the close callbacks */

    /* every handle is closed; sockets go last: until now they queued */
    for (p = m->pools; p != NULL; p = next) {
        unsigned  k;

        next = p->next;

        pool_unlink_slots(p);

        for (k = 0; k < p->nslots; k++) {
            drover_socket_close(&p->slots[k]->sock);
            free(p->slots[k]);
        }

        drover_socket_close(&p->shared);

        while (p->gens != NULL) {
            drover_gen_t  *g = p->gens;

            p->gens = g->next;
            gen_destroy(g);
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

    confref_put(m->ref);

    return m->exit_code;
}
