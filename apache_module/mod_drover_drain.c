/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */

/* mod_drover's given-up requests: after a read timeout or a client that
 * left, the worker got FCGI_ABORT_REQUEST but may still run the request
 * (it serves one at a time). Its slot stays taken until the worker ends
 * the request (FCGI_END_REQUEST, or it closes the connection) or one more
 * DroverReadTimeout passed, as in the nginx module, so that no request is
 * sent to a slot whose worker is still busy. One thread per child watches
 * those connections, so the request's own thread answers the client at
 * once (504) and moves on. */

#include "mod_drover.h"

#include "apr_thread_mutex.h"
#include "apr_thread_proc.h"
#include "http_log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

APLOG_USE_MODULE(drover);

#define DRAIN_MAX   128                 /* watched at once, per child */
#define DRAIN_BUF   (16 * 1024)
#define DRAIN_READS 4                   /* per connection and turn */

typedef struct drain_s  drain_t;

struct drain_s {
    drain_t                  *next;
    drover_dir_conf_t         dc;           /* the request's is in r->pool */
    drover_claim_t            claim;
    int                       failed;
    int                       fd;
    apr_time_t                deadline;
    drover_fcgi_reader_t      reader;
};

static apr_thread_mutex_t  *drain_mutex;
static apr_thread_t        *drain_thread;
static drain_t             *handed;         /* given, not yet watched */
static int                  ndrains;        /* handed and watched */
static int                  wake_fd[2] = { -1, -1 };
static int                  stopping;       /* under drain_mutex */

/* the thread's own */
static drain_t             *watched[DRAIN_MAX];
static int                  nwatched;


static void
wake(void)
{
    ssize_t  n;

    n = write(wake_fd[1], "x", 1);     /* a full pipe wakes it too */
    (void) n;
}


static apr_status_t
discard(void *ctx, int type, const char *data, apr_size_t len)
{
    (void) ctx;
    (void) type;
    (void) data;
    (void) len;

    return APR_SUCCESS;
}


/* the worker is done with it, or we stop waiting: the slot is free */
static void
finish(drain_t *d)
{
    close(d->fd);
    drover_slots_release(&d->dc, &d->claim, d->failed);
    free(d);
}


/*
 * 1 when the request ended (END_REQUEST, EOF, an error), else 0. At most
 * DRAIN_READS reads a turn: an app that keeps writing after the abort must
 * not keep the thread from the other connections and the deadlines.
 */
static int
read_some(drain_t *d, char *buf)
{
    const char  *why = NULL;
    ssize_t      n;
    int          reads;

    for (reads = 0; reads < DRAIN_READS; reads++) {
        n = read(d->fd, buf, DRAIN_BUF);

        if (n > 0) {
            if (drover_fcgi_read(&d->reader, buf, (apr_size_t) n, discard,
                                 NULL, &why)
                != APR_SUCCESS || d->reader.ended)
            {
                return 1;
            }
            continue;
        }

        if (n == -1 && errno == EINTR) {
            continue;
        }

        return !(n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK));
    }

    return 0;
}


static void * APR_THREAD_FUNC
drain_main(apr_thread_t *thd, void *data)
{
    struct pollfd  pfd[DRAIN_MAX + 1];
    apr_time_t     now, next;
    drain_t       *d;
    char          *buf, c[64];
    int            i, n, timeout, done;

    (void) data;

    (void) thd;

    buf = malloc(DRAIN_BUF);
    if (buf == NULL) {
        apr_thread_mutex_lock(drain_mutex);
        stopping = 1;
        apr_thread_mutex_unlock(drain_mutex);
        return NULL;
    }

    for (;;) {
        apr_thread_mutex_lock(drain_mutex);

        if (stopping) {
            apr_thread_mutex_unlock(drain_mutex);
            break;
        }

        while (handed != NULL) {
            d = handed;
            handed = d->next;
            watched[nwatched++] = d;
        }

        apr_thread_mutex_unlock(drain_mutex);

        now = drover_slots_now();
        next = now + apr_time_from_sec(60);

        pfd[0].fd = wake_fd[0];
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;

        for (i = 0; i < nwatched; i++) {
            pfd[i + 1].fd = watched[i]->fd;
            pfd[i + 1].events = POLLIN;
            pfd[i + 1].revents = 0;
            if (watched[i]->deadline < next) {
                next = watched[i]->deadline;
            }
        }

        timeout = next > now ? (int) ((next - now + 999) / 1000) : 0;

        n = poll(pfd, (nfds_t) nwatched + 1, timeout);
        if (n == -1 && errno != EINTR) {
            apr_thread_mutex_lock(drain_mutex);
            stopping = 1;               /* no more: the child's exit frees */
            apr_thread_mutex_unlock(drain_mutex);
            break;
        }

        if (pfd[0].revents & POLLIN) {
            while (read(wake_fd[0], c, sizeof(c)) > 0) {
                /* void */
            }
        }

        now = drover_slots_now();
        done = 0;

        for (i = nwatched - 1; i >= 0; i--) {
            d = watched[i];

            if (((pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))
                 && read_some(d, buf))
                || now >= d->deadline)
            {
                finish(d);
                watched[i] = watched[--nwatched];
                pfd[i + 1] = pfd[nwatched + 1];
                done++;
            }
        }

        if (done > 0) {
            apr_thread_mutex_lock(drain_mutex);
            ndrains -= done;
            apr_thread_mutex_unlock(drain_mutex);
        }
    }

    /* a return, not apr_thread_exit(): its pthread_exit() leaves the
     * frames above poisoned for ASan, and p's end frees the thread's pool */
    free(buf);
    return NULL;
}


/* the child goes: the thread stops, every slot still held is freed */
static apr_status_t
drain_child_exit(void *data)
{
    apr_status_t  rv;
    drain_t      *d;
    int           i;

    (void) data;

    apr_thread_mutex_lock(drain_mutex);
    stopping = 1;
    apr_thread_mutex_unlock(drain_mutex);

    wake();
    (void) apr_thread_join(&rv, drain_thread);

    for (i = 0; i < nwatched; i++) {
        finish(watched[i]);
    }
    nwatched = 0;

    while (handed != NULL) {
        d = handed;
        handed = d->next;
        finish(d);
    }

    close(wake_fd[0]);
    close(wake_fd[1]);

    return APR_SUCCESS;
}


void
drover_drain_child_init(apr_pool_t *p, server_rec *s)
{
    sigset_t      all, old;
    apr_status_t  rv;
    int           i;

    if (pipe2(wake_fd, O_CLOEXEC | O_NONBLOCK) == -1) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, "drover: pipe() "
                     "failed: a given-up request's slot is freed at once");
        wake_fd[0] = wake_fd[1] = -1;
        return;
    }

    rv = apr_thread_mutex_create(&drain_mutex, APR_THREAD_MUTEX_DEFAULT, p);

    if (rv == APR_SUCCESS) {
        /* the child's signals are for its own threads (prefork's handlers
         * exit the process): the new thread starts with all blocked */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        rv = apr_thread_create(&drain_thread, NULL, drain_main, NULL, p);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }

    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "drover: no drain "
                     "thread: a given-up request's slot is freed at once");
        for (i = 0; i < 2; i++) {
            close(wake_fd[i]);
            wake_fd[i] = -1;
        }
        drain_mutex = NULL;
        return;
    }

    /* before p's subpools go: the thread's own is one of them */
    apr_pool_pre_cleanup_register(p, NULL, drain_child_exit);
}


/*
 * Hand fd, whose request on claim was given up after FCGI_ABORT_REQUEST,
 * to the drain thread, which frees the slot when the worker is done with
 * it. 0 when taken; -1 when not (no thread, too many): the caller closes
 * fd and frees the slot itself.
 */
int
drover_drain_add(const drover_dir_conf_t *dc, const drover_claim_t *claim,
                 int failed, int fd, const drover_fcgi_reader_t *reader)
{
    drain_t  *d;
    int       taken = 0;

    if (drain_mutex == NULL) {
        return -1;
    }

    d = malloc(sizeof(drain_t));
    if (d == NULL) {
        return -1;
    }

    d->dc = *dc;
    d->claim = *claim;
    d->failed = failed;
    d->fd = fd;
    d->deadline = drover_slots_now() + dc->read_timeout;
    d->reader = *reader;

    apr_thread_mutex_lock(drain_mutex);

    if (!stopping && ndrains < DRAIN_MAX) {
        d->next = handed;
        handed = d;
        ndrains++;
        taken = 1;
    }

    apr_thread_mutex_unlock(drain_mutex);

    if (!taken) {
        free(d);
        return -1;
    }

    wake();

    return 0;
}
