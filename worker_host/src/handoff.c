/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * handoff.c -- a busy worker's kept-alive connections go, unread, to a free
 * worker of the pool: the watcher thread, the channel, adoption.  See
 * handoff.h for the rule and docs/fastcgi.md for what a front end sees.
 */

#include "handoff.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "log.h"

/* adoptions per wakeup of the loop, like ACCEPT_BATCH */
#define ADOPT_BATCH  64

/*
 * How long the watcher keeps waking every DROVER_HANDOFF_DELAY_MS after the
 * last request began, before it sleeps until one is armed: while requests
 * come faster than that, drover__handoff_arm() has no thread to wake (one
 * wakeup per DELAY instead of a futex round trip per request).
 */
#define WATCH_LINGER_MS  (2 * DROVER_HANDOFF_DELAY_MS)

/* connections watched per request (the rest stay with the busy worker) */
#define WATCH_MAX    DROVER_WORKER_MAX_CONNS

enum {
    WATCH_OPEN = 0,              /* polled */
    WATCH_GIVEN,                 /* sent to the pool: the main thread drops
                                    it when the request ends */
    WATCH_LEFT                   /* hung up, or could not be sent: stays */
};

/*
 * Shared by the main thread and the watcher, under mu.  The main thread
 * fills fds[] and conns[] only while running is 0; the watcher reads fds[]
 * and writes state[] only while running is 1 and epoch is the one it
 * copied, and conns[] is the main thread's alone.
 */
struct drover__handoff_s {
    pthread_t            thread;
    pthread_mutex_t      mu;
    pthread_cond_t       cv;         /* CLOCK_MONOTONIC */
    int                  wake_fd;    /* eventfd: out of poll() */
    int                  tx;

    unsigned             epoch;      /* one per armed request */
    unsigned             running:1;
    unsigned             idle:1;     /* watcher waiting for a request */
    unsigned             in_poll:1;
    unsigned             quit:1;
    uint64_t             start_ms;   /* of the request, CLOCK_MONOTONIC */

    int                  n;
    int                  fds[WATCH_MAX];
    unsigned char        state[WATCH_MAX];
    drover__conn_t      *conns[WATCH_MAX];

    unsigned             given;      /* this request */
    unsigned             send_failed;
    int                  send_err;
};


static void *watcher_main(void *arg);
static int watcher_poll(drover__handoff_t *h, unsigned epoch);
static void adopt_readable_cb(uv_poll_t *handle, int status, int events);
static uint64_t mono_ms(void);


static uint64_t
mono_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


int
drover__handoff_init(drover__worker_t *w)
{
    int                  rc, tx, rx;
    sigset_t             all, old;
    pthread_condattr_t   ca;
    drover__handoff_t   *h;

    /* 0 is /dev/null in a worker: no channel (tests, fuzzing) */
    tx = w->args->handoff_fds[0];
    rx = w->args->handoff_fds[1];

    if (tx <= 0 || rx <= 0) {
        return 0;
    }

    /* exec'd workers get them without: an app's child has no use for them */
    (void) fcntl(tx, F_SETFD, FD_CLOEXEC);
    (void) fcntl(rx, F_SETFD, FD_CLOEXEC);

    rc = uv_poll_init(&w->loop, &w->adopt_poll, rx);
    if (rc != 0) {
        return rc;
    }

    w->adopt_init = 1;

    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return -ENOMEM;
    }

    h->tx = tx;
    h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (h->wake_fd < 0) {
        rc = -errno;
        free(h);
        return rc;
    }

    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);

    /* every signal stays with the main thread (SIGALRM, SIGTERM, libuv's) */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&h->thread, NULL, watcher_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (rc != 0) {
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        close(h->wake_fd);
        free(h);
        return -rc;
    }

    w->handoff = h;

    return 0;
}


void
drover__handoff_fini(drover__worker_t *w)
{
    uint64_t            one = 1;
    ssize_t             n;
    drover__handoff_t  *h = w->handoff;

    if (h == NULL) {
        return;
    }

    pthread_mutex_lock(&h->mu);
    h->quit = 1;
    h->running = 0;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);

    n = write(h->wake_fd, &one, sizeof(one));
    (void) n;

    pthread_join(h->thread, NULL);

    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    close(h->wake_fd);
    free(h);

    w->handoff = NULL;
}


int
drover__handoff_candidate(const drover__conn_t *c)
{
    /*
     * Not a byte of its next request read (the buffer empty, the parser
     * between records), nothing owed on it (no request, no STDIN left to
     * drain, no answer to a GET_VALUES): the adopter starts it afresh and
     * reads the request whole.  Slot sockets belong to Drover's module,
     * which dispatches to free workers itself; a connection shut for a
     * stop has its own rule (drover__conn_stop_idle).
     */
    return !c->slot && !c->closing && !c->broken && !c->shut
           && !c->close_after_drain && c->mgmt == NULL
           && !drover__conn_busy(c);
}


void
drover__handoff_arm(drover__worker_t *w, drover__conn_t *busy)
{
    int                 n;
    drover__conn_t     *c;
    drover__handoff_t  *h = w->handoff;

    if (h == NULL) {
        return;
    }

    pthread_mutex_lock(&h->mu);

    n = 0;
    for (c = w->conns; c != NULL && n < WATCH_MAX; c = c->next) {
        if (c != busy && drover__handoff_candidate(c)) {
            h->fds[n] = c->fd;
            h->state[n] = WATCH_OPEN;
            h->conns[n] = c;
            n++;
        }
    }

    h->n = n;
    h->given = 0;

    /* no connection can come meanwhile: the loop does not run */
    if (n > 0) {
        h->epoch++;
        h->running = 1;
        h->start_ms = mono_ms();

        if (h->idle) {
            pthread_cond_signal(&h->cv);
        }
    }

    pthread_mutex_unlock(&h->mu);
}


void
drover__handoff_disarm(drover__worker_t *w)
{
    int                 i, n, err;
    unsigned            given, failed;
    uint64_t            one = 1;
    ssize_t             rc;
    drover__handoff_t  *h = w->handoff;

    if (h == NULL) {
        return;
    }

    pthread_mutex_lock(&h->mu);

    if (!h->running) {
        pthread_mutex_unlock(&h->mu);
        return;
    }

    h->running = 0;

    /* the watcher polls our connections: out, before the loop reads them */
    if (h->in_poll) {
        rc = write(h->wake_fd, &one, sizeof(one));
        (void) rc;
    }

    n = h->n;
    given = h->given;
    failed = h->send_failed;
    err = h->send_err;
    h->send_failed = 0;

    pthread_mutex_unlock(&h->mu);

    /* state[] and conns[] are ours again: the watcher checks running */
    for (i = 0; given != 0 && i < n; i++) {
        if (h->state[i] == WATCH_GIVEN) {
            h->conns[i]->given = 1;
            drover__conn_close(h->conns[i]);
        }
    }

    if (given != 0) {
        drover__worker_log(w, DROVER_LOG_DEBUG, 0, "%u connection%s handed "
                           "to the pool while a request ran", given,
                           given == 1 ? "" : "s");
    }

    if (failed != 0) {
        drover__worker_log(w, DROVER_LOG_WARN, err, "%u connection%s could "
                           "not be handed to the pool, served here after "
                           "the request", failed, failed == 1 ? "" : "s");
    }
}


/*
 * The watcher: waits for a request that has run DROVER_HANDOFF_DELAY_MS,
 * then polls its connections and sends each that becomes readable.  Every
 * send is decided under mu with the request still running, so a connection
 * is never both given and read by the main thread.  Its next wakeup is never
 * later than DELAY after the start of a request armed meanwhile: it sleeps
 * until the running request's start + DELAY, or for DELAY while requests
 * came within WATCH_LINGER_MS (arm then wakes nobody), or until arm signals.
 */
static void *
watcher_main(void *arg)
{
    unsigned            epoch;
    uint64_t            now, at;
    struct timespec     ts;
    drover__handoff_t  *h = arg;

    pthread_mutex_lock(&h->mu);

    for ( ;; ) {
        if (h->quit) {
            break;
        }

        now = mono_ms();

        if (!h->running) {
            if (now >= h->start_ms + WATCH_LINGER_MS) {
                h->idle = 1;
                pthread_cond_wait(&h->cv, &h->mu);
                h->idle = 0;
                continue;
            }

            at = now + DROVER_HANDOFF_DELAY_MS;

        } else {
            at = h->start_ms + DROVER_HANDOFF_DELAY_MS;
        }

        if (now < at) {
            /* a request that ends first leaves nothing to do */
            ts.tv_sec = (time_t) (at / 1000);
            ts.tv_nsec = (long) (at % 1000) * 1000000;
            pthread_cond_timedwait(&h->cv, &h->mu, &ts);
            continue;
        }

        epoch = h->epoch;

        if (watcher_poll(h, epoch) == 0) {
            /* nothing left to watch: wait for the request to end */
            while (h->running && h->epoch == epoch && !h->quit) {
                h->idle = 1;
                pthread_cond_wait(&h->cv, &h->mu);
                h->idle = 0;
            }
        }
    }

    pthread_mutex_unlock(&h->mu);

    return NULL;
}


/*
 * One poll() over the open connections of this epoch, mu released during
 * it.  Returns 1 while some are left open, 0 when none is.
 */
static int
watcher_poll(drover__handoff_t *h, unsigned epoch)
{
    int            i, n, open, rc;
    uint64_t       v;
    ssize_t        r;
    struct pollfd  pfd[1 + WATCH_MAX];

    n = h->n;
    open = 0;

    pfd[0].fd = h->wake_fd;
    pfd[0].events = POLLIN;
    pfd[0].revents = 0;

    for (i = 0; i < n; i++) {
        pfd[1 + i].fd = (h->state[i] == WATCH_OPEN) ? h->fds[i] : -1;
        pfd[1 + i].events = POLLIN | POLLRDHUP;
        pfd[1 + i].revents = 0;
        open += (h->state[i] == WATCH_OPEN);
    }

    if (open == 0) {
        return 0;
    }

    h->in_poll = 1;
    pthread_mutex_unlock(&h->mu);

    rc = poll(pfd, (nfds_t) (1 + n), -1);

    pthread_mutex_lock(&h->mu);
    h->in_poll = 0;

    if (pfd[0].revents & POLLIN) {
        r = read(h->wake_fd, &v, sizeof(v));
        (void) r;
    }

    if (rc <= 0 || !h->running || h->epoch != epoch || h->quit) {
        return 1;
    }

    for (i = 0; i < n; i++) {
        short  ev = pfd[1 + i].revents;

        if (ev == 0 || h->state[i] != WATCH_OPEN) {
            continue;
        }

        /* a front end that closed: nothing to serve, the owner closes it */
        if (ev & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) {
            h->state[i] = WATCH_LEFT;
            continue;
        }

        rc = drover__handoff_send(h->tx, h->fds[i]);
        if (rc == 0) {
            h->state[i] = WATCH_GIVEN;
            h->given++;
        } else {
            h->state[i] = WATCH_LEFT;
            h->send_failed++;
            h->send_err = -rc;
        }
    }

    return 1;
}


int
drover__handoff_send(int tx, int fd)
{
    char            one = 'c';
    struct iovec    iov;
    struct msghdr   mh;
    struct cmsghdr *cm;
    union {
        struct cmsghdr  align;
        char            buf[CMSG_SPACE(sizeof(int))];
    } ctl;

    memset(&mh, 0, sizeof(mh));
    memset(&ctl, 0, sizeof(ctl));
    iov.iov_base = &one;
    iov.iov_len = 1;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof(ctl.buf);

    cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));

    for ( ;; ) {
        if (sendmsg(tx, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
            return 0;
        }

        if (errno != EINTR) {
            return -errno;
        }
    }
}


int
drover__handoff_recv(int rx)
{
    int             fd, n, i, type, domain, rc;
    int             fds[4];
    char            one;
    ssize_t         got;
    socklen_t       len;
    struct iovec    iov;
    struct msghdr   mh;
    struct cmsghdr *cm;
    union {
        struct cmsghdr  align;
        char            buf[CMSG_SPACE(sizeof(fds))];
    } ctl;

    memset(&mh, 0, sizeof(mh));
    iov.iov_base = &one;
    iov.iov_len = 1;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof(ctl.buf);

    do {
        got = recvmsg(rx, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (got < 0 && errno == EINTR);

    if (got < 0) {
        return (errno == EWOULDBLOCK) ? -EAGAIN : -errno;
    }

    n = 0;
    for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            continue;
        }

        for (i = 0; (size_t) (i + 1) * sizeof(int)
                    <= cm->cmsg_len - CMSG_LEN(0) && n < 4; i++)
        {
            memcpy(&fds[n++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
        }
    }

    /* MSG_CTRUNC: the descriptor did not fit (EMFILE), the kernel dropped
       it and the connection with it */
    if (got != 1 || n != 1 || (mh.msg_flags & MSG_CTRUNC)) {
        for (i = 0; i < n; i++) {
            close(fds[i]);
        }

        return (mh.msg_flags & MSG_CTRUNC) ? -EMFILE : -EBADMSG;
    }

    fd = fds[0];

    /* only a connection of a Unix stream socket is served */
    len = sizeof(type);
    rc = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
    len = sizeof(domain);
    if (rc == 0) {
        rc = getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
    }

    if (rc != 0 || type != SOCK_STREAM || domain != AF_UNIX) {
        close(fd);
        return -EBADMSG;
    }

    /* the file status flags travel with the file; set them all the same */
    (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    return fd;
}


void
drover__handoff_listen_start(drover__worker_t *w)
{
    int  rc;

    if (!w->adopt_init || w->adopting) {
        return;
    }

    rc = uv_poll_start(&w->adopt_poll, UV_READABLE, adopt_readable_cb);
    if (rc != 0) {
        drover__worker_log(w, DROVER_LOG_ALERT, rc,
                           "cannot poll the handoff channel");
        return;
    }

    w->adopting = 1;
}


void
drover__handoff_listen_stop(drover__worker_t *w)
{
    if (w->adopting) {
        uv_poll_stop(&w->adopt_poll);
        w->adopting = 0;
    }
}


void
drover__handoff_listen_close(drover__worker_t *w)
{
    drover__handoff_listen_stop(w);

    if (w->adopt_init) {
        w->adopt_init = 0;
        uv_close((uv_handle_t *) &w->adopt_poll, NULL);
    }
}


/* a free worker: take the connections busy ones handed to the pool */
static void
adopt_readable_cb(uv_poll_t *handle, int status, int events)
{
    int                fd, n, rx;
    drover__conn_t    *c;
    drover__worker_t  *w;

    (void) events;

    w = handle->loop->data;

    if (status < 0) {
        drover__worker_log(w, DROVER_LOG_ALERT, status,
                           "handoff channel failed");
        return;
    }

    rx = w->args->handoff_fds[1];

    for (n = 0; n < ADOPT_BATCH && w->adopting; n++) {
        fd = drover__handoff_recv(rx);

        if (fd == -EAGAIN) {
            return;
        }

        if (fd < 0) {
            drover__worker_log(w, DROVER_LOG_ERROR, -fd, "a handed "
                               "connection could not be adopted");
            continue;
        }

        c = drover__conn_accept(w, fd, 0);
        if (c != NULL) {
            c->adopted = 1;
        }
    }
}
