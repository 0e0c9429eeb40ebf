/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * worker.c -- a worker process: the app's worker_init, then FastCGI on the
 * slot socket and the pool's shared socket until stopped or orphaned.
 *
 * One libuv loop; uv_poll_t on the listening sockets and on each
 * connection.  Input is read into a per-connection buffer and fed to the
 * resumable record parser (fcgi.c).  When a request's PARAMS stream ends the
 * app's handle() runs synchronously (request.c); while it runs, the request
 * reads and writes its own connection with poll() and the pool's
 * io_timeout, and every other connection waits: one request in the app at
 * a time is the worker's contract.
 *
 * This file runs the process, the loop, the listening sockets, the signals
 * and the stop; worker_conn.c the connections and their records,
 * worker_io.c the blocking I/O.
 *
 * Section numbers refer to the FastCGI Specification 1.0.
 */

#include "worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "app.h"
#include "fcgi.h"
#include "handoff.h"
#include "log.h"
#include "request.h"

/* a second of pause after EMFILE/ENFILE, like OpenBSD slowcgi */
#define ACCEPT_PAUSE_MS       1000
#define ACCEPT_BATCH          64
#define ORPHAN_CHECK_MS       1000

/* on a graceful stop, how long a connection that sent nothing yet may */
#define STOP_GRACE_MS         2000


static int worker_init(drover__worker_t *w, drover_worker_args_t *args);
static void worker_shutdown(drover__worker_t *w);
static void worker_listen_start(drover__worker_t *w);
static void worker_listen_stop(drover__worker_t *w);
static void listen_readable_cb(uv_poll_t *handle, int status, int events);
static void accept_timer_cb(uv_timer_t *timer);
static void tick_timer_cb(uv_timer_t *timer);
static void signal_cb(uv_signal_t *handle, int signum);
static void handle_closed_cb(uv_handle_t *handle);
static int conn_pending(drover__conn_t *c);
static uint64_t conn_stop_grace(drover__worker_t *w);


int
drover_worker_run(drover_worker_args_t *args)
{
    int                rc;
    drover__worker_t  *w;
    const drover_app_t *app;

    app = args->app;

    if (app->worker_init != NULL) {
        rc = app->worker_init(args->ctx, args->app_state);
        if (rc != 0) {
            drover_log_error(DROVER_LOG_ERROR, 0,
                             "pool %s: worker %d: app worker_init failed (%d)",
                             args->pool->name, args->ctx->slot, rc);
            return 1;
        }
    }

    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        drover_log_error(DROVER_LOG_ERROR, ENOMEM,
                         "pool %s: worker %d: out of memory",
                         args->pool->name, args->ctx->slot);
        return 1;
    }

    w->args = args;
    w->pool = args->pool;
    w->slot = args->ctx->slot;

    rc = uv_loop_init(&w->loop);
    if (rc != 0) {
        drover__worker_log(w, DROVER_LOG_ERROR, rc, "uv_loop_init() failed");
        free(w);
        return 1;
    }

    w->loop.data = w;

    rc = worker_init(w, args);
    if (rc != 0) {
        drover__worker_log(w, DROVER_LOG_ERROR, rc, "cannot start serving");
        worker_shutdown(w);
    }

    uv_run(&w->loop, UV_RUN_DEFAULT);

    drover__handoff_fini(w);

    if (uv_loop_close(&w->loop) != 0) {
        drover__worker_log(w, DROVER_LOG_ALERT, 0, "handles left open");
    }

    if (w->exit_code == 0 && app->fini != NULL) {
        app->fini(args->ctx, args->app_state);
    }

    rc = w->exit_code != 0 ? w->exit_code : w->stop_code;

    free(w->out);
    free(w->hdrs);
    free(w->scratch);
    free(w);

    return rc;
}


static int
worker_init(drover__worker_t *w, drover_worker_args_t *args)
{
    int               rc, i, fds[4];
    unsigned          tick;
    struct sigaction  sa;

    /* the manager's reload signal means nothing to a worker */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);

    uv_timer_init(&w->loop, &w->accept_timer);
    uv_timer_init(&w->loop, &w->tick_timer);
    uv_signal_init(&w->loop, &w->sigterm);
    uv_signal_init(&w->loop, &w->sigint);

    w->out = malloc(DROVER__OUT_SIZE);
    if (w->out == NULL) {
        w->exit_code = 1;
        return -ENOMEM;
    }

    w->nlisteners = (args->shared_fd == args->slot_fd) ? 1 : 2;
    fds[0] = args->slot_fd;
    fds[1] = args->shared_fd;

    if (w->nlisteners == 2 && args->tcp_slot_fd > 0
        && args->tcp_shared_fd > 0)
    {
        w->nlisteners = 4;
        fds[2] = args->tcp_slot_fd;
        fds[3] = args->tcp_shared_fd;
    }

    for (i = 0; i < w->nlisteners; i++) {
        rc = uv_poll_init(&w->loop, &w->listeners[i], fds[i]);
        if (rc != 0) {
            w->nlisteners = i;
            w->exit_code = 1;
            return rc;
        }
    }

    rc = uv_signal_start(&w->sigterm, signal_cb, SIGTERM);
    if (rc == 0) {
        rc = uv_signal_start(&w->sigint, signal_cb, SIGINT);
    }

    if (rc != 0) {
        w->exit_code = 1;
        return rc;
    }

    rc = drover__request_timeout_init(w);
    if (rc != 0) {
        w->exit_code = 1;
        return rc;
    }

    rc = drover__handoff_init(w);
    if (rc != 0) {
        w->exit_code = 1;
        return rc;
    }

    /* a jitter spreads the recycling of workers started together */
    if (w->pool->max_requests != 0) {
        unsigned  seed = (unsigned) getpid() ^ (unsigned) uv_hrtime();

        w->max_requests = w->pool->max_requests;

        if (w->pool->max_requests_jitter != 0) {
            w->max_requests += (unsigned) rand_r(&seed)
                               % (w->pool->max_requests_jitter + 1);
        }
    }

    /* the stall sweep runs a few times per io_timeout */
    tick = w->pool->io_timeout_ms / 4;
    tick = tick < 20 ? 20 : (tick > 1000 ? 1000 : tick);
    uv_timer_start(&w->tick_timer, tick_timer_cb, tick, tick);
    w->last_orphan_check = uv_now(&w->loop);

    worker_listen_start(w);
    drover_sb_set_state(args->sb, DROVER_SB_IDLE);

    return 0;
}


void
drover__worker_log(drover__worker_t *w, int level, int err,
    const char *fmt, ...)
{
    char     msg[DROVER_LOG_LINE_MAX];
    va_list  ap;

    if (!drover_log_enabled(level)) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    drover_log_error(level, err, "pool %s: worker %d: %s", w->pool->name,
                     w->slot, msg);
}


static void
worker_listen_start(drover__worker_t *w)
{
    int  i, rc;

    if (w->stopping || w->accepting) {
        return;
    }

    for (i = 0; i < w->nlisteners; i++) {
        rc = uv_poll_start(&w->listeners[i], UV_READABLE, listen_readable_cb);
        if (rc != 0) {
            drover__worker_log(w, DROVER_LOG_ALERT, rc,
                               "cannot poll a listening socket");
        }
    }

    drover__handoff_listen_start(w);
    w->accepting = 1;
}


static void
worker_listen_stop(drover__worker_t *w)
{
    int  i;

    for (i = 0; i < w->nlisteners; i++) {
        uv_poll_stop(&w->listeners[i]);
    }

    drover__handoff_listen_stop(w);
    w->accepting = 0;
}


static void
listen_readable_cb(uv_poll_t *handle, int status, int events)
{
    int                fd, n, err, tcp, one;
    drover__conn_t    *c;
    drover__worker_t  *w;

    (void) events;

    one = 1;

    w = handle->loop->data;

    if (status < 0) {
        drover__worker_log(w, DROVER_LOG_ALERT, status,
                           "listening socket failed");
        return;
    }

    uv_fileno((uv_handle_t *) handle, &fd);

    for (n = 0; n < ACCEPT_BATCH && w->accepting; n++) {
        int  cfd;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            tcp = (w->nlisteners == 4 && handle >= &w->listeners[2]);

            /* records go out whole: Nagle would hold the last one back */
            if (tcp) {
                (void) setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one,
                                  sizeof(one));
            }

            c = drover__conn_accept(w, cfd, w->nlisteners >= 2
                                            && (handle == &w->listeners[0]
                                                || handle == &w->listeners[2]));
            if (c != NULL) {
                c->tcp = tcp;
            }

            continue;
        }

        err = errno;

        if (err == EAGAIN || err == EWOULDBLOCK) {
            return;
        }

        if (err == EINTR || err == ECONNABORTED || err == EPROTO) {
            continue;
        }

        if (err == EMFILE || err == ENFILE || err == ENOBUFS
            || err == ENOMEM)
        {
            /* accepting again at once would spin: pause instead */
            drover__worker_log(w, DROVER_LOG_ERROR, err,
                               "accept() failed, pausing for %d ms",
                               ACCEPT_PAUSE_MS);
            worker_listen_stop(w);
            uv_timer_start(&w->accept_timer, accept_timer_cb,
                           ACCEPT_PAUSE_MS, 0);
            return;
        }

        drover__worker_log(w, DROVER_LOG_ALERT, err, "accept() failed");
        return;
    }
}


static void
accept_timer_cb(uv_timer_t *timer)
{
    worker_listen_start(timer->loop->data);
}


static void
tick_timer_cb(uv_timer_t *timer)
{
    uint64_t           now;
    drover__worker_t  *w;
    drover__conn_t    *c, *next;

    w = timer->loop->data;
    now = uv_now(&w->loop);

    if (now - w->last_orphan_check >= ORPHAN_CHECK_MS) {
        w->last_orphan_check = now;

        if (getppid() != w->args->manager_pid) {
            drover__worker_log(w, DROVER_LOG_ERROR, 0,
                               "manager %ld is gone, exiting",
                               (long) w->args->manager_pid);
            w->exit_code = 1;
            worker_shutdown(w);
            return;
        }
    }

    for (c = w->conns; c != NULL; c = next) {
        next = c->next;

        if (c->deadline != 0 && now >= c->deadline && w->stopping
            && !drover__conn_busy(c))
        {
            /* the stop grace is over: closed, if nothing came meanwhile */
            c->fresh = 0;
            drover__conn_stop_idle(c);
            continue;
        }

        if (c->deadline != 0 && now >= c->deadline) {
            drover__worker_log(w, DROVER_LOG_ERROR, 0,
                               "front end stalled mid-%s for %u ms, "
                               "closing connection",
                               drover_fcgi_parser_idle(&c->parser)
                               ? "request" : "record",
                               w->pool->io_timeout_ms);
            drover__conn_close(c);
        }
    }
}


static void
signal_cb(uv_signal_t *handle, int signum)
{
    drover__worker_t  *w;

    w = handle->loop->data;

    if (!w->stopping) {
        drover__worker_log(w, DROVER_LOG_NOTICE, 0,
                           "signal %d received, stopping", signum);
        drover__worker_stop(w);
    }
}


/*
 * Graceful stop: no new connections, idle ones closed now, a request in
 * progress finishes first (its connection closes after END_REQUEST).
 * handle() never runs while the loop does, so no request is in the app.
 */
void
drover__worker_stop(drover__worker_t *w)
{
    int              i;
    drover__conn_t  *c, *next;

    w->stopping = 1;
    drover_sb_set_state(w->args->sb, DROVER_SB_STOPPING);

    worker_listen_stop(w);
    uv_timer_stop(&w->accept_timer);

    for (i = 0; i < w->nlisteners; i++) {
        uv_close((uv_handle_t *) &w->listeners[i], NULL);
    }

    w->nlisteners = 0;
    drover__handoff_listen_close(w);

    for (c = w->conns; c != NULL; c = next) {
        next = c->next;

        if (drover__conn_busy(c)) {
            continue;
        }

        /*
         * A connection accepted but not yet read from carries a request on
         * its way (nginx writes right after connecting): closing it would
         * fail that request.  It gets a short grace to arrive.
         */
        if (c->fresh) {
            c->deadline = uv_now(&w->loop) + conn_stop_grace(w);
            continue;
        }

        drover__conn_stop_idle(c);
    }

    drover__worker_maybe_done(w);
}


/* close everything at once: orphaned, or could not start */
static void
worker_shutdown(drover__worker_t *w)
{
    drover__conn_t  *c, *next;

    if (!w->stopping) {
        drover__worker_stop(w);
    }

    for (c = w->conns; c != NULL; c = next) {
        next = c->next;
        drover__conn_close(c);
    }

    drover__worker_maybe_done(w);
}


int
drover__conn_peer_shut(drover__conn_t *c)
{
    struct pollfd  pfd;

    pfd.fd = c->fd;
    pfd.events = POLLRDHUP;
    pfd.revents = 0;

    return poll(&pfd, 1, 0) == 1
           && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}


/* bytes sent by the front end that the worker has not read yet */
static int
conn_pending(drover__conn_t *c)
{
    int  n;

    return ioctl(c->fd, FIONREAD, &n) == 0 && n > 0;
}


static uint64_t
conn_stop_grace(drover__worker_t *w)
{
    return w->pool->io_timeout_ms < STOP_GRACE_MS ? w->pool->io_timeout_ms
                                                  : STOP_GRACE_MS;
}


/*
 * Stopping, nothing in progress on c: it is closed, unless the front end
 * already sent a request on it (a kept-alive connection reused before
 * the front end could know): closing over unread bytes resets the
 * connection and loses the request, which for a POST nothing retries.
 * shutdown(SHUT_RD) first, so that nothing can arrive between the look
 * and the close: a later write of the front end fails at once (EPIPE),
 * with not a byte taken, which Drover's module replays.  A request that
 * did arrive is read: on a slot socket it is refused unread
 * (FCGI_OVERLOADED), which the module replays on another worker whatever
 * the method; on the shared socket, whose front end may not replay, it is
 * served, once per connection.
 */
void
drover__conn_stop_idle(drover__conn_t *c)
{
    drover__worker_t  *w = c->worker;

    if (!c->shut) {
        c->shut = 1;
        (void) shutdown(c->fd, SHUT_RD);
    }

    if (conn_pending(c) && (c->slot || !c->late)) {
        if (!c->slot) {
            c->late = 1;
            c->fresh = 1;
        }

        c->deadline = uv_now(&w->loop) + conn_stop_grace(w);
        return;
    }

    drover__conn_close(c);
}


void
drover__worker_maybe_done(drover__worker_t *w)
{
    if (!w->stopping || w->nconns != 0
        || uv_is_closing((uv_handle_t *) &w->tick_timer))
    {
        return;
    }

    uv_close((uv_handle_t *) &w->accept_timer, handle_closed_cb);
    uv_close((uv_handle_t *) &w->tick_timer, handle_closed_cb);
    uv_close((uv_handle_t *) &w->sigterm, handle_closed_cb);
    uv_close((uv_handle_t *) &w->sigint, handle_closed_cb);
}


static void
handle_closed_cb(uv_handle_t *handle)
{
    /* the worker's own handles live in drover__worker_t, freed at the end */
    (void) handle;
}
