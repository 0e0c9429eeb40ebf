/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * worker_io.c -- blocking I/O on a connection while the app's handle() runs,
 * and for small replies: poll() bounded by the pool's io_timeout.
 */

#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#include "log.h"
#include "request.h"


static int conn_wait(drover__conn_t *c, short events);
static uint64_t now_ms(void);


static uint64_t
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


/* 1 when ready, 0 on timeout, -errno */
static int
conn_wait(drover__conn_t *c, short events)
{
    int            rc;
    uint64_t       deadline, now;
    struct pollfd  pfd;

    deadline = now_ms() + c->worker->pool->io_timeout_ms;

    for ( ;; ) {
        now = now_ms();
        if (now >= deadline) {
            return 0;
        }

        pfd.fd = c->fd;
        pfd.events = events;
        pfd.revents = 0;

        rc = poll(&pfd, 1, (int) (deadline - now));
        if (rc > 0) {
            return 1;
        }

        if (rc < 0 && errno != EINTR) {
            return -errno;
        }
    }
}


int
drover__conn_fill(drover__conn_t *c)
{
    int                rc;
    ssize_t            n;
    drover__worker_t  *w;

    w = c->worker;

    if (c->broken) {
        return -1;
    }

    if (c->in_pos == c->in_len) {
        c->in_pos = 0;
        c->in_len = 0;
    }

    for ( ;; ) {
        n = read(c->fd, c->in + c->in_len, DROVER__IN_SIZE - c->in_len);

        if (n > 0) {
            c->in_len += (size_t) n;
            return 0;
        }

        if (n == 0) {
            drover__worker_log(w, DROVER_LOG_INFO, 0,
                               "front end closed the connection "
                               "mid-request");
            break;
        }

        if (errno == EINTR) {
            continue;
        }

        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            drover__worker_log(w, DROVER_LOG_INFO, errno,
                               "reading from the front end failed");
            break;
        }

        rc = conn_wait(c, POLLIN);
        if (rc == 0) {
            drover__worker_log(w, DROVER_LOG_ERROR, 0,
                               "front end stalled mid-request for %u ms, "
                               "closing connection",
                               w->pool->io_timeout_ms);
            break;
        }

        if (rc < 0) {
            drover__worker_log(w, DROVER_LOG_ALERT, -rc, "poll() failed");
            break;
        }
    }

    c->broken = 1;
    return -1;
}


int
drover__conn_writev(drover__conn_t *c, struct iovec *iov, int iovcnt)
{
    int                rc;
    ssize_t            n;
    size_t             done;
    struct msghdr      msg;
    drover__worker_t  *w;

    w = c->worker;

    if (c->broken) {
        return -1;
    }

    while (iovcnt > 0) {
        if (iov->iov_len == 0) {
            iov++;
            iovcnt--;
            continue;
        }

        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t) iovcnt;

        /* MSG_NOSIGNAL: a gone front end is an error, not a SIGPIPE */
        n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);

        if (n >= 0) {
            done = (size_t) n;

            while (iovcnt > 0 && done >= iov->iov_len) {
                done -= iov->iov_len;
                iov++;
                iovcnt--;
            }

            if (iovcnt > 0) {
                iov->iov_base = (char *) iov->iov_base + done;
                iov->iov_len -= done;
            }

            continue;
        }

        if (errno == EINTR) {
            continue;
        }

        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            drover__worker_log(w, DROVER_LOG_INFO, errno,
                               "writing to the front end failed");
            goto fail;
        }

        rc = conn_wait(c, POLLOUT);
        if (rc == 0) {
            drover__worker_log(w, DROVER_LOG_ERROR, 0,
                               "front end not reading the response for "
                               "%u ms, closing connection",
                               w->pool->io_timeout_ms);
            goto fail;
        }

        if (rc < 0) {
            drover__worker_log(w, DROVER_LOG_ALERT, -rc, "poll() failed");
            goto fail;
        }
    }

    return 0;

fail:

    c->broken = 1;
    return -1;
}
