/*
 * manager.c -- see manager.h.
 *
 * Process tree: the manager is a child subreaper.  With `preload on` each
 * pool has a preloader (droverd --preloader) that forks a short-lived forker
 * per worker, which forks the worker and exits, so every worker is
 * reparented to the manager: the manager reaps all of them and sees every
 * exit.  With `preload off` the manager execs each worker itself.
 */

#include "manager.h"
#include "channel.h"
#include "log.h"
#include "preloader.h"
#include "proc.h"
#include "socket.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>


#define DROVER_VERSION_STRING  "0.1.0"
#define DROVER_EARLY_EXITS     64


typedef struct drover_manager_s  drover_manager_t;
typedef struct drover_pool_s     drover_pool_t;

enum {
    SLOT_EMPTY = 0,      /* no worker, none asked for */
    SLOT_FORKING,        /* asked the preloader, no pid yet */
    SLOT_RUNNING,
    SLOT_STOPPING        /* sent SIGTERM */
};

typedef struct {
    drover_pool_t         *pool;
    unsigned               index;
    drover_socket_t        sock;
    pid_t                  pid;
    int                    state;
    unsigned long long     started_ms;
    unsigned               quick_deaths;
    unsigned long long     restarts;
    uv_timer_t             restart_timer;
    int                    restart_pending;
} drover_slot_t;

/* the manager's end of a preloader's channel; freed in its close callback */
typedef struct {
    uv_poll_t              poll;
    int                    fd;
    drover_pool_t         *pool;
} drover_chan_t;

struct drover_pool_s {
    drover_manager_t      *mgr;
    drover_pool_conf_t    *conf;
    drover_socket_t        shared;
    drover_slot_t         *slots;
    int                    conf_fd;

    pid_t                  preloader_pid;
    drover_chan_t         *chan;
    int                    preloader_ready;
    unsigned long long     preloader_started_ms;
    unsigned               preloader_quick_deaths;
    uv_timer_t             preloader_timer;
    int                    preloader_pending;
};

struct drover_manager_s {
    uv_loop_t              loop;
    drover_conf_t         *conf;
    drover_pool_t         *pools;
    size_t                 npools;
    pid_t                  pid;
    int                    stopping;
    int                    exit_code;
    uv_signal_t            sigchld;
    uv_signal_t            sigterm;
    uv_signal_t            sigint;
    uv_signal_t            sigquit;
    uv_signal_t            sighup;
    uv_timer_t             stop_timer;

    /* workers reaped before their FORKED message named them */
    struct {
        pid_t              pid;
        int                status;
    }                      early[DROVER_EARLY_EXITS];
    unsigned               nearly;
};


static void manager_stop(drover_manager_t *m, int quick);
static void slot_start(drover_slot_t *s);
static void pool_preloader_start(drover_pool_t *p);


static unsigned
backoff_ms(unsigned quick_deaths)
{
    unsigned long long  ms;

    if (quick_deaths == 0) {
        return 0;
    }

    ms = (unsigned long long) DROVER_RESTART_BACKOFF_MS
         << (quick_deaths - 1 < 16 ? quick_deaths - 1 : 16);

    return ms > DROVER_RESTART_BACKOFF_MAX ? DROVER_RESTART_BACKOFF_MAX
                                           : (unsigned) ms;
}


/* ---- sockets ---- */

static int
pool_listen(drover_pool_t *p)
{
    int                    rc;
    char                   path[256], err[1024];
    uid_t                  uid;
    gid_t                  gid;
    unsigned               k;
    drover_listen_conf_t  *l;

    l = &p->conf->listen;

    /* owned by the pool's user unless told otherwise (php-fpm does so too) */
    uid = l->owner != (uid_t) -1 ? l->owner : p->conf->uid;
    gid = l->group != (gid_t) -1 ? l->group : p->conf->gid;

    if (geteuid() != 0) {
        uid = l->owner;
        gid = l->group;
    }

    rc = drover_socket_listen(&p->shared, l->path, l->mode, uid, gid,
                              err, sizeof(err));
    if (rc != 0) {
        drover_log_error(DROVER_LOG_EMERG, 0, "%s:%u: pool \"%s\": %s",
                         l->file, l->line, p->conf->name, err);
        return rc;
    }

    for (k = 0; k < p->conf->workers; k++) {
        rc = drover_conf_slot_path(p->conf, k, path, sizeof(path));
        if (rc == 0) {
            rc = drover_socket_listen(&p->slots[k].sock, path, l->mode,
                                      uid, gid, err, sizeof(err));
        } else {
            snprintf(err, sizeof(err), "slot %u: socket path too long", k);
        }

        if (rc != 0) {
            drover_log_error(DROVER_LOG_EMERG, 0, "%s:%u: pool \"%s\": %s",
                             l->file, l->line, p->conf->name, err);
            return rc;
        }
    }

    return 0;
}


static void
pool_unlisten(drover_pool_t *p)
{
    unsigned  k;

    drover_socket_close(&p->shared);

    for (k = 0; p->slots != NULL && k < p->conf->workers; k++) {
        drover_socket_close(&p->slots[k].sock);
    }
}


/* ---- the preloader ---- */

static void
chan_close_cb(uv_handle_t *h)
{
    drover_chan_t  *c = h->data;

    close(c->fd);
    free(c);
}


static void
chan_close(drover_pool_t *p)
{
    if (p->chan == NULL) {
        return;
    }

    uv_close((uv_handle_t *) &p->chan->poll, chan_close_cb);
    p->chan = NULL;
}


static drover_slot_t *
slot_by_pid(drover_manager_t *m, pid_t pid)
{
    size_t    i;
    unsigned  k;

    for (i = 0; i < m->npools; i++) {
        for (k = 0; k < m->pools[i].conf->workers; k++) {
            if (m->pools[i].slots[k].pid == pid) {
                return &m->pools[i].slots[k];
            }
        }
    }

    return NULL;
}


static void slot_exited(drover_slot_t *s, int status);


static void
pool_forked(drover_pool_t *p, const drover_chan_msg_t *msg)
{
    unsigned          i;
    drover_slot_t    *s;
    drover_manager_t *m = p->mgr;

    if (msg->slot >= p->conf->workers) {
        drover_log_error(DROVER_LOG_ALERT, 0, "pool %s: preloader reported "
                         "slot %u, out of range", p->conf->name, msg->slot);
        return;
    }

    s = &p->slots[msg->slot];

    if (msg->type == DROVER_CHAN_FORK_FAILED) {
        drover_log_error(DROVER_LOG_ERROR, msg->err, "pool %s: worker %u: "
                         "fork failed", p->conf->name, s->index);
        s->state = SLOT_EMPTY;
        s->started_ms = drover_proc_now_ms();
        slot_exited(s, -1);
        return;
    }

    s->pid = msg->pid;
    s->state = m->stopping ? SLOT_STOPPING : SLOT_RUNNING;

    drover_log_error(DROVER_LOG_INFO, 0, "pool %s: worker %u started, pid %ld",
                     p->conf->name, s->index, (long) s->pid);

    if (m->stopping) {
        kill(s->pid, SIGTERM);
    }

    /* it may already have died and been reaped as a stranger */
    for (i = 0; i < m->nearly; i++) {
        if (m->early[i].pid == msg->pid) {
            int  status = m->early[i].status;

            m->early[i] = m->early[--m->nearly];
            slot_exited(s, status);
            return;
        }
    }
}


static void
chan_read_all(drover_pool_t *p)
{
    int                rc, nfds, fds[DROVER_CHAN_MAX_FDS];
    unsigned           k;
    drover_chan_msg_t  msg;

    while (p->chan != NULL) {
        rc = drover_chan_recv(p->chan->fd, &msg, fds, &nfds);

        if (rc == -EAGAIN) {
            return;
        }

        if (rc == -EPIPE) {
            /* everyone holding the other end is gone; SIGCHLD tells why */
            chan_close(p);
            return;
        }

        if (rc != 0 || nfds != 0) {
            while (rc == 0 && nfds > 0) {
                close(fds[--nfds]);
            }

            drover_log_error(DROVER_LOG_ALERT, rc < 0 ? -rc : 0,
                             "pool %s: bad message from the preloader",
                             p->conf->name);
            continue;
        }

        switch (msg.type) {

        case DROVER_CHAN_READY:
            p->preloader_ready = 1;

            drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: preloader %ld "
                             "ready", p->conf->name, (long) p->preloader_pid);

            for (k = 0; k < p->conf->workers; k++) {
                if (p->slots[k].state == SLOT_EMPTY
                    && !p->slots[k].restart_pending)
                {
                    slot_start(&p->slots[k]);
                }
            }

            break;

        case DROVER_CHAN_FORKED:
        case DROVER_CHAN_FORK_FAILED:
            pool_forked(p, &msg);
            break;

        default:
            drover_log_error(DROVER_LOG_ALERT, 0, "pool %s: unknown message "
                             "%u from the preloader", p->conf->name, msg.type);
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
                         "channel", c->pool->conf->name);
        chan_close(c->pool);
        return;
    }

    chan_read_all(c->pool);
}


static void
preloader_timer_cb(uv_timer_t *t)
{
    drover_pool_t  *p = t->data;

    p->preloader_pending = 0;
    pool_preloader_start(p);
}


static void
pool_preloader_start(drover_pool_t *p)
{
    int             rc, sv[2], fds[2];
    char            mpid[32];
    char           *argv[5];
    pid_t           pid;
    drover_chan_t  *c;

    if (p->mgr->stopping || p->preloader_pid > 0) {
        return;
    }

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        drover_log_error(DROVER_LOG_ERROR, errno, "pool %s: socketpair() "
                         "failed", p->conf->name);
        rc = -errno;
        goto retry;
    }

    /* only our end is non-blocking: the preloader waits for requests */
    if (fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0) {
        rc = -errno;
        close(sv[0]);
        close(sv[1]);
        goto retry;
    }

    snprintf(mpid, sizeof(mpid), "%ld", (long) p->mgr->pid);
    argv[0] = "droverd";
    argv[1] = "--preloader";
    argv[2] = p->conf->name;
    argv[3] = mpid;
    argv[4] = NULL;

    fds[0] = p->conf_fd;
    fds[1] = sv[1];

    rc = drover_proc_spawn(argv, fds, 2, &pid);
    close(sv[1]);

    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, -rc, "pool %s: cannot start the "
                         "preloader", p->conf->name);
        close(sv[0]);
        goto retry;
    }

    c = malloc(sizeof(*c));
    if (c == NULL) {
        drover_log_error(DROVER_LOG_ALERT, ENOMEM, "pool %s", p->conf->name);
        close(sv[0]);
        kill(pid, SIGKILL);
        p->preloader_pid = pid;     /* reaped and retried by SIGCHLD */
        return;
    }

    c->fd = sv[0];
    c->pool = p;
    c->poll.data = c;

    rc = uv_poll_init(&p->mgr->loop, &c->poll, c->fd);
    if (rc == 0) {
        rc = uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT,
                           chan_poll_cb);
    }

    if (rc != 0) {
        drover_log_error(DROVER_LOG_ALERT, rc, "pool %s: uv_poll",
                         p->conf->name);
        close(c->fd);
        free(c);
        kill(pid, SIGKILL);
        p->preloader_pid = pid;
        return;
    }

    p->chan = c;
    p->preloader_pid = pid;
    p->preloader_ready = 0;
    p->preloader_started_ms = drover_proc_now_ms();

    drover_log_error(DROVER_LOG_INFO, 0, "pool %s: preloader started, pid %ld",
                     p->conf->name, (long) pid);
    return;

retry:

    p->preloader_quick_deaths++;
    p->preloader_pending = 1;
    uv_timer_start(&p->preloader_timer, preloader_timer_cb,
                   backoff_ms(p->preloader_quick_deaths), 0);
}


static void
preloader_exited(drover_pool_t *p, int status)
{
    char                desc[128];
    unsigned            k, delay;
    unsigned long long  lived;

    drover_proc_describe_exit(status, desc, sizeof(desc));

    /* FORKED messages it sent before dying are still worth reading */
    if (p->chan != NULL) {
        chan_read_all(p);
        chan_close(p);
    }

    p->preloader_pid = 0;
    p->preloader_ready = 0;

    for (k = 0; k < p->conf->workers; k++) {
        if (p->slots[k].state == SLOT_FORKING) {
            p->slots[k].state = SLOT_EMPTY;
        }
    }

    if (p->mgr->stopping) {
        drover_log_error(DROVER_LOG_INFO, 0, "pool %s: preloader %s",
                         p->conf->name, desc);
        return;
    }

    lived = drover_proc_now_ms() - p->preloader_started_ms;

    if (WIFEXITED(status) && WEXITSTATUS(status) == DROVER_EXIT_INIT) {
        p->preloader_quick_deaths++;
        delay = backoff_ms(p->preloader_quick_deaths);
        drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: the app's init "
                         "failed; the preloader is retried in %u ms",
                         p->conf->name, delay);

    } else {
        if (lived >= DROVER_RESTART_STABLE_MS) {
            p->preloader_quick_deaths = 0;
        } else {
            p->preloader_quick_deaths++;
        }

        delay = backoff_ms(p->preloader_quick_deaths);
        drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: preloader %s; "
                         "restarting it in %u ms (running workers keep "
                         "serving)", p->conf->name, desc, delay);
    }

    p->preloader_pending = 1;
    uv_timer_start(&p->preloader_timer, preloader_timer_cb, delay, 0);
}


/* ---- worker slots ---- */

static void
slot_timer_cb(uv_timer_t *t)
{
    drover_slot_t  *s = t->data;

    s->restart_pending = 0;
    slot_start(s);
}


static void
slot_start(drover_slot_t *s)
{
    int                rc, fds[3];
    char               mpid[32], slot[16];
    char              *argv[6];
    pid_t              pid;
    drover_pool_t     *p = s->pool;
    drover_chan_msg_t  msg;

    if (p->mgr->stopping || s->state != SLOT_EMPTY) {
        return;
    }

    s->started_ms = drover_proc_now_ms();

    if (p->conf->preload) {
        if (!p->preloader_ready || p->chan == NULL) {
            return;     /* started when the preloader says READY */
        }

        memset(&msg, 0, sizeof(msg));
        msg.type = DROVER_CHAN_FORK;
        msg.slot = s->index;
        fds[0] = s->sock.fd;
        fds[1] = p->shared.fd;

        rc = drover_chan_send(p->chan->fd, &msg, fds, 2);
        if (rc != 0) {
            /* the preloader is going away; its exit restarts everything */
            drover_log_error(DROVER_LOG_WARN, -rc, "pool %s: worker %u: "
                             "cannot reach the preloader", p->conf->name,
                             s->index);
            return;
        }

        s->state = SLOT_FORKING;
        return;
    }

    snprintf(mpid, sizeof(mpid), "%ld", (long) p->mgr->pid);
    snprintf(slot, sizeof(slot), "%u", s->index);
    argv[0] = "droverd";
    argv[1] = "--worker";
    argv[2] = p->conf->name;
    argv[3] = slot;
    argv[4] = mpid;
    argv[5] = NULL;

    fds[0] = p->conf_fd;
    fds[1] = s->sock.fd;
    fds[2] = p->shared.fd;

    rc = drover_proc_spawn(argv, fds, 3, &pid);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, -rc, "pool %s: worker %u: cannot "
                         "start", p->conf->name, s->index);
        slot_exited(s, -1);
        return;
    }

    s->pid = pid;
    s->state = SLOT_RUNNING;

    drover_log_error(DROVER_LOG_INFO, 0, "pool %s: worker %u started, pid %ld",
                     p->conf->name, s->index, (long) pid);
}


/*
 * The worker of slot s is gone (status -1: it never started).  Replace it:
 * at once when it had run a while, else after a growing delay, so an app
 * that crashes on start does not turn into a fork storm.
 */
static void
slot_exited(drover_slot_t *s, int status)
{
    int                 level;
    char                desc[128];
    unsigned            delay;
    unsigned long long  lived;
    drover_pool_t      *p = s->pool;

    lived = drover_proc_now_ms() - s->started_ms;

    if (status != -1) {
        drover_proc_describe_exit(status, desc, sizeof(desc));

        if (s->state == SLOT_STOPPING || p->mgr->stopping) {
            level = DROVER_LOG_INFO;
        } else if (WIFSIGNALED(status)) {
            level = DROVER_LOG_ERROR;
        } else {
            level = DROVER_LOG_WARN;
        }

        drover_log_error(level, 0, "pool %s: worker %u (pid %ld) %s after "
                         "%llu ms", p->conf->name, s->index, (long) s->pid,
                         desc, lived);
    }

    s->pid = 0;
    s->state = SLOT_EMPTY;

    if (p->mgr->stopping) {
        return;
    }

    if (lived >= DROVER_RESTART_STABLE_MS) {
        s->quick_deaths = 0;
    } else {
        s->quick_deaths++;
    }

    /* the first early death is replaced at once too: it may be a kill */
    s->restarts++;
    delay = backoff_ms(s->quick_deaths > 0 ? s->quick_deaths - 1 : 0);

    if (delay == 0) {
        slot_start(s);
        return;
    }

    if (s->quick_deaths == 3 || s->quick_deaths % 10 == 0) {
        drover_log_error(DROVER_LOG_WARN, 0, "pool %s: worker %u keeps "
                         "exiting early (%u times in a row); next start in "
                         "%u ms", p->conf->name, s->index, s->quick_deaths,
                         delay);
    }

    s->restart_pending = 1;
    uv_timer_start(&s->restart_timer, slot_timer_cb, delay, 0);
}


/* ---- reaping and signals ---- */

static int
manager_children_left(drover_manager_t *m)
{
    size_t    i;
    unsigned  k;

    for (i = 0; i < m->npools; i++) {
        if (m->pools[i].preloader_pid > 0) {
            return 1;
        }

        for (k = 0; k < m->pools[i].conf->workers; k++) {
            if (m->pools[i].slots[k].state != SLOT_EMPTY) {
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

            c->pool->chan = NULL;
            uv_close(h, chan_close_cb);

        } else {
            uv_close(h, NULL);
        }
    }
}


static void
manager_finish(drover_manager_t *m)
{
    drover_log_error(DROVER_LOG_NOTICE, 0, "all workers stopped, exiting");
    uv_walk(&m->loop, manager_close_walk_cb, NULL);
}


static void
sigchld_cb(uv_signal_t *h, int signum)
{
    int                status;
    size_t             i;
    pid_t              pid;
    drover_slot_t     *s;
    drover_manager_t  *m = h->data;

    (void) signum;

    for ( ;; ) {
        pid = waitpid(-1, &status, WNOHANG);

        if (pid == 0) {
            break;
        }

        if (pid == -1) {
            if (errno == EINTR) {
                continue;
            }

            if (errno == ECHILD && m->stopping) {
                /* nothing left at all, whatever our bookkeeping says */
                for (i = 0; i < m->npools; i++) {
                    m->pools[i].preloader_pid = 0;
                }
            }

            break;
        }

        for (i = 0; i < m->npools; i++) {
            if (m->pools[i].preloader_pid == pid) {
                preloader_exited(&m->pools[i], status);
                break;
            }
        }

        if (i < m->npools) {
            continue;
        }

        s = slot_by_pid(m, pid);
        if (s != NULL) {
            slot_exited(s, status);
            continue;
        }

        /* a worker whose FORKED message is still on its way */
        if (m->nearly == DROVER_EARLY_EXITS) {
            memmove(&m->early[0], &m->early[1],
                    sizeof(m->early[0]) * (DROVER_EARLY_EXITS - 1));
            m->nearly--;
        }

        m->early[m->nearly].pid = pid;
        m->early[m->nearly].status = status;
        m->nearly++;
    }

    if (m->stopping && !manager_children_left(m)) {
        manager_finish(m);
    }
}


static void
stop_timer_cb(uv_timer_t *t)
{
    drover_manager_t  *m = t->data;

    drover_log_error(DROVER_LOG_WARN, 0, "workers still running %d s after "
                     "the stop signal: killing them",
                     DROVER_STOP_TIMEOUT_MS / 1000);
    manager_stop(m, 1);
}


static void
manager_signal_all(drover_manager_t *m, int sig)
{
    size_t    i;
    unsigned  k;

    for (i = 0; i < m->npools; i++) {
        drover_pool_t  *p = &m->pools[i];

        uv_timer_stop(&p->preloader_timer);
        p->preloader_pending = 0;

        if (p->preloader_pid > 0) {
            kill(p->preloader_pid, sig);
        }

        for (k = 0; k < p->conf->workers; k++) {
            drover_slot_t  *s = &p->slots[k];

            uv_timer_stop(&s->restart_timer);
            s->restart_pending = 0;

            if (s->pid > 0) {
                kill(s->pid, sig);
                s->state = SLOT_STOPPING;
            }
        }
    }
}


static void
manager_stop(drover_manager_t *m, int quick)
{
    if (!m->stopping) {
        drover_log_error(DROVER_LOG_NOTICE, 0, "stopping%s",
                         quick ? " at once" : ": letting requests finish");
        m->stopping = 1;
        uv_timer_start(&m->stop_timer, stop_timer_cb, DROVER_STOP_TIMEOUT_MS,
                       0);
    }

    manager_signal_all(m, quick ? SIGKILL : SIGTERM);

    if (quick) {
        uv_timer_stop(&m->stop_timer);
    }

    if (!manager_children_left(m)) {
        manager_finish(m);
    }
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
        drover_log_error(DROVER_LOG_WARN, 0, "SIGHUP received: graceful "
                         "reload is not supported yet by this droverd; "
                         "the running configuration stays");
        break;
    }
}


/* ---- setup ---- */

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


static int
pool_init(drover_manager_t *m, drover_pool_t *p, drover_pool_conf_t *conf)
{
    unsigned  k;

    p->mgr = m;
    p->conf = conf;
    p->conf_fd = -1;
    p->shared.fd = -1;
    p->shared.path = NULL;

    p->slots = calloc(conf->workers, sizeof(drover_slot_t));
    if (p->slots == NULL) {
        return -ENOMEM;
    }

    for (k = 0; k < conf->workers; k++) {
        p->slots[k].pool = p;
        p->slots[k].index = k;
        p->slots[k].sock.fd = -1;
        uv_timer_init(&m->loop, &p->slots[k].restart_timer);
        p->slots[k].restart_timer.data = &p->slots[k];
    }

    uv_timer_init(&m->loop, &p->preloader_timer);
    p->preloader_timer.data = p;

    return 0;
}


static void
pool_start(drover_pool_t *p)
{
    unsigned  k;

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: %u workers on %s "
                     "(slots %s.0 .. %s.%u), preload %s", p->conf->name,
                     p->conf->workers, p->conf->listen.path,
                     p->conf->listen.path, p->conf->listen.path,
                     p->conf->workers - 1, p->conf->preload ? "on" : "off");

    if (p->conf->preload) {
        pool_preloader_start(p);
        return;
    }

    for (k = 0; k < p->conf->workers; k++) {
        slot_start(&p->slots[k]);
    }
}


int
drover_manager_run(drover_conf_t *conf)
{
    int                rc;
    size_t             i;
    drover_pool_t     *p;
    drover_manager_t   mgr, *m = &mgr;
    drover_pool_conf_t *pc;

    memset(m, 0, sizeof(*m));
    m->conf = conf;
    m->pid = getpid();
    m->exit_code = 1;

    signal(SIGPIPE, SIG_IGN);

    /* every worker is reparented to us, wherever it was forked */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        drover_log_error(DROVER_LOG_EMERG, errno,
                         "prctl(PR_SET_CHILD_SUBREAPER) failed");
        drover_conf_free(conf);
        return 1;
    }

    rc = uv_loop_init(&m->loop);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_EMERG, rc, "uv_loop_init() failed");
        drover_conf_free(conf);
        return 1;
    }

    m->pools = calloc(conf->npools, sizeof(drover_pool_t));
    if (m->pools == NULL) {
        drover_log_error(DROVER_LOG_EMERG, ENOMEM, "startup");
        goto done;
    }

    for (pc = conf->pools; pc != NULL; pc = pc->next) {
        rc = pool_init(m, &m->pools[m->npools], pc);
        m->npools++;

        if (rc != 0) {
            drover_log_error(DROVER_LOG_EMERG, -rc, "startup");
            goto done;
        }
    }

    /* every socket exists before any process starts */
    for (i = 0; i < m->npools; i++) {
        if (pool_listen(&m->pools[i]) != 0) {
            goto done;
        }
    }

    for (i = 0; i < m->npools; i++) {
        p = &m->pools[i];
        p->conf_fd = drover_proc_conf_memfd(conf, p->conf);

        if (p->conf_fd < 0) {
            drover_log_error(DROVER_LOG_EMERG, -p->conf_fd, "pool %s: cannot "
                             "hand over the configuration", p->conf->name);
            goto done;
        }
    }

    uv_timer_init(&m->loop, &m->stop_timer);
    m->stop_timer.data = m;

    if (manager_signal(m, &m->sigchld, SIGCHLD, sigchld_cb) != 0
        || manager_signal(m, &m->sigterm, SIGTERM, signal_cb) != 0
        || manager_signal(m, &m->sigint, SIGINT, signal_cb) != 0
        || manager_signal(m, &m->sigquit, SIGQUIT, signal_cb) != 0
        || manager_signal(m, &m->sighup, SIGHUP, signal_cb) != 0)
    {
        drover_log_error(DROVER_LOG_EMERG, 0, "cannot install signal "
                         "handlers");
        goto done;
    }

    drover_log_error(DROVER_LOG_NOTICE, 0, "droverd %s started, %zu pool%s",
                     DROVER_VERSION_STRING, m->npools,
                     m->npools == 1 ? "" : "s");

    for (i = 0; i < m->npools; i++) {
        pool_start(&m->pools[i]);
    }

    uv_run(&m->loop, UV_RUN_DEFAULT);
    m->exit_code = 0;

done:

    if (m->exit_code != 0) {
        /* startup failed before any child was started */
        uv_walk(&m->loop, manager_close_walk_cb, NULL);
    }

    uv_run(&m->loop, UV_RUN_DEFAULT);    /* run the close callbacks */

    for (i = 0; i < m->npools; i++) {
        p = &m->pools[i];

        pool_unlisten(p);

        if (p->conf_fd >= 0) {
            close(p->conf_fd);
        }

        free(p->slots);
    }

    free(m->pools);

    rc = uv_loop_close(&m->loop);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ALERT, rc, "uv_loop_close()");
    }

    drover_conf_free(conf);

    return m->exit_code;
}
