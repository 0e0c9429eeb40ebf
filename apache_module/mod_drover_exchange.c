/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */

/* mod_drover's one request on one backend connection: connect to the Unix
 * socket, send the records and the body while reading the answer (so an
 * app that answers as it reads never deadlocks), and classify how it ended
 * for the replay rules of docs/dispatch.md. */

#include "mod_drover.h"

#include "apr_poll.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/sockios.h>              /* SIOCOUTQ */

APLOG_USE_MODULE(drover);

#define DROVER_IO_BUF  (64 * 1024)

typedef struct {
    drover_exchange_t     *ex;
    apr_socket_t          *sock;
    drover_fcgi_reader_t   reader;
    drover_response_t      resp;
    int                    got_any;       /* a response byte came back */
    int                    send_done;
    int                    stage;         /* 0 head and prefix, 2 stream, 3 end */
    const char            *out;           /* bytes waiting to be sent */
    apr_size_t             out_len;
    char                  *stdin_buf;     /* a STDIN record being built */
    apr_size_t             stderr_len;
    const char            *bad;           /* why the answer is malformed */
    apr_socket_t          *client;        /* watched for a close, or NULL */
    int                    abort;         /* given up early: ABORT_REQUEST */
    int                    fd;
    int                    shut;          /* SHUT_WR: carries nothing more */
    int                    send_refused;  /* EPIPE or reset on a send */
    apr_time_t             sent_at;       /* the whole request went out */
    apr_time_t             last_io;       /* for the read timeout */
} exchange_t;


/*
 * A new connection: a plain socket, not APR's, so that it outlives the
 * request when it is kept (APR's would be closed with r->pool). A Unix
 * socket's connect waits only for room in the backlog: SO_SNDTIMEO bounds
 * that wait by DroverConnectTimeout.
 */
static apr_status_t
connect_unix(exchange_t *x)
{
    drover_exchange_t   *ex = x->ex;
    struct sockaddr_un   sun;
    struct timeval       tv;
    apr_status_t         rv;
    int                  fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(ex->sockpath) >= sizeof(sun.sun_path)) {
        return APR_ENAMETOOLONG;
    }
    strcpy(sun.sun_path, ex->sockpath);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return APR_FROM_OS_ERROR(errno);
    }

    tv.tv_sec = (time_t) apr_time_sec(ex->dc->connect_timeout);
    tv.tv_usec = (suseconds_t) apr_time_usec(ex->dc->connect_timeout);
    (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

    while (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) == -1) {
        if (errno == EINTR) {
            continue;
        }
        rv = APR_FROM_OS_ERROR(errno == EAGAIN || errno == EINPROGRESS
                               ? ETIMEDOUT : errno);
        close(fd);
        return rv;
    }

    /* non-blocking from here on, kept so: apr_poll() does the waiting */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1) {
        rv = APR_FROM_OS_ERROR(errno);
        close(fd);
        return rv;
    }

    x->fd = fd;
    return APR_SUCCESS;
}


/*
 * The connection as an apr_socket_t of the request: the descriptor stays
 * ours (apr_os_sock_put registers no cleanup). It is non-blocking already,
 * while APR takes it for a blocking one with no timeout: its send and recv
 * then give EAGAIN at once rather than wait, which is what is wanted, and
 * no fcntl pair is spent on each request of a kept connection.
 */
static apr_status_t
wrap_socket(exchange_t *x)
{
    apr_os_sock_t  os = x->fd;

    x->sock = NULL;
    return apr_os_sock_put(&x->sock, &os, x->ex->r->pool);
}


/* STDERR goes to the error log, at most DROVER_STDERR_MAX per request */
static void
log_stderr(exchange_t *x, const char *data, apr_size_t len)
{
    apr_size_t  room = DROVER_STDERR_MAX - x->stderr_len;
    int         n;

    if (room == 0) {
        return;
    }

    n = (int) (len < room ? len : room);
    x->stderr_len += (apr_size_t) n;

    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r')) {
        n--;
    }

    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, x->ex->r,
                  "drover: FastCGI sent in stderr: \"%.*s\"", n, data);
}


static apr_status_t
record_data(void *ctx, int type, const char *data, apr_size_t len)
{
    exchange_t    *x = ctx;
    apr_status_t   rv;
    const char    *why;

    if (type == DROVER_FCGI_STDERR) {
        log_stderr(x, data, len);
        return APR_SUCCESS;
    }

    rv = drover_response_stdout(&x->resp, data, len, &why);
    if (why != NULL) {
        x->bad = why;
    }

    return rv;
}


/*
 * The next piece of the request to send, once the one before went out:
 * the head, the held body prefix as STDIN records, then the rest of the
 * body read from the client, and the empty STDIN that ends it.
 */
static apr_status_t
next_out(exchange_t *x)
{
    drover_exchange_t  *ex = x->ex;
    drover_body_t      *body = ex->body;
    apr_size_t          chunk, room;
    long                n;
    char               *w;

    switch (x->stage) {

    case 0:
        /* the head, the prefix in records of at most 32 KiB, and the end
         * if it is whole: one write */
        room = ex->head_len + body->prefix_len
               + (body->prefix_len / 32768 + 2) * DROVER_FCGI_HEADER_LEN;
        w = apr_palloc(ex->r->pool, room);
        x->out = w;
        memcpy(w, ex->head, ex->head_len);
        w += ex->head_len;
        for (chunk = 0; chunk < body->prefix_len; chunk += 32768) {
            apr_size_t  len = body->prefix_len - chunk;

            len = len > 32768 ? 32768 : len;
            drover_fcgi_header((unsigned char *) w, DROVER_FCGI_STDIN, len);
            memcpy(w + DROVER_FCGI_HEADER_LEN, body->prefix + chunk, len);
            w += DROVER_FCGI_HEADER_LEN + len;
        }
        if (body->complete) {
            drover_fcgi_header((unsigned char *) w, DROVER_FCGI_STDIN, 0);
            w += DROVER_FCGI_HEADER_LEN;
            x->stage = 3;
        } else {
            x->stage = 2;
        }
        x->out_len = (apr_size_t) (w - x->out);
        return APR_SUCCESS;

    case 2:
        /* the body past the prefix: one read from the client at a time */
        if (x->stdin_buf == NULL) {
            x->stdin_buf = apr_palloc(ex->r->pool,
                                      DROVER_FCGI_HEADER_LEN + 32768);
        }
        n = ap_get_client_block(ex->r, x->stdin_buf + DROVER_FCGI_HEADER_LEN,
                                32768);
        body->streamed = 1;
        if (n < 0) {
            body->failed = 1;
            return APR_EGENERAL;
        }
        drover_fcgi_header((unsigned char *) x->stdin_buf, DROVER_FCGI_STDIN,
                           (apr_size_t) n);
        x->out = x->stdin_buf;
        x->out_len = DROVER_FCGI_HEADER_LEN + (apr_size_t) n;
        if (n == 0) {
            x->stage = 3;                /* the empty STDIN: the end */
        }
        return APR_SUCCESS;

    default:
        x->send_done = 1;
        x->out_len = 0;
        return APR_SUCCESS;
    }
}


/* send what can go now without blocking */
static apr_status_t
send_some(exchange_t *x)
{
    apr_size_t    n;
    apr_status_t  rv;

    for (;;) {
        if (x->out_len == 0) {
            rv = next_out(x);
            if (rv != APR_SUCCESS || x->send_done) {
                return rv;
            }
            continue;
        }

        n = x->out_len;
        rv = apr_socket_send(x->sock, x->out, &n);
        if (n > 0) {
            x->ex->sent_any = 1;
        }
        x->out += n;
        x->out_len -= n;

        if (APR_STATUS_IS_EAGAIN(rv)) {
            return APR_SUCCESS;
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
}


/* read what is there; APR_EOF when the app closed */
static apr_status_t
recv_some(exchange_t *x, char *buf)
{
    apr_size_t    n = DROVER_IO_BUF;
    apr_status_t  rv;
    const char   *why = NULL;

    rv = apr_socket_recv(x->sock, buf, &n);
    if (n > 0) {
        x->got_any = 1;
        rv = drover_fcgi_read(&x->reader, buf, n, record_data, x, &why);
        if (rv != APR_SUCCESS) {
            if (why != NULL) {
                x->bad = why;
            }
            return rv;
        }

        /* what this read gave goes out now, but for the last read, whose
         * bytes leave with the end (ended()) */
        if (!x->reader.ended && x->bad == NULL) {
            (void) drover_response_flush(&x->resp);
        }
        return APR_SUCCESS;
    }

    if (APR_STATUS_IS_EAGAIN(rv)) {
        return APR_SUCCESS;
    }

    return rv == APR_SUCCESS ? APR_EOF : rv;
}


/* how a connection that ended before END_REQUEST is classified */
static drover_ex_e
lost(exchange_t *x, apr_status_t rv, const char *why)
{
    x->ex->err = rv;
    x->ex->why = why;

    if (!x->got_any) {
        /*
         * A withdrawable request is read whole before it runs. A worker
         * that went while bytes of it lay unread in its socket makes the
         * kernel reset the connection (or refuse our sends), where one
         * that read it all gives EOF: then the app never saw it. Nothing
         * else is sent on the connection while the request is out. So
         * also after rescue()'s shutdown: a worker that closes on seeing
         * it before reading a byte drops the bytes from its socket, and a
         * look at SIOCOUTQ just then finds none unread.
         */
        if (x->ex->withdrawable && !x->abort
            && (APR_STATUS_IS_ECONNRESET(rv) || x->send_refused))
        {
            x->ex->unread = 1;
        }
        return DROVER_EX_LOST;
    }

    if (x->resp.sent) {
        drover_response_broken(&x->resp);
        return DROVER_EX_BROKEN;
    }

    x->ex->why = "the connection closed before the end of the header";
    return DROVER_EX_MALFORMED;
}


static drover_ex_e
ended(exchange_t *x)
{
    drover_exchange_t  *ex = x->ex;

    if (x->reader.protocol_status == DROVER_FCGI_OVERLOADED && !x->resp.sent) {
        ex->why = "the worker refused it (FCGI_OVERLOADED)";
        return DROVER_EX_OVERLOADED;
    }

    if (x->reader.protocol_status != 0) {
        ex->why = "END_REQUEST with a protocolStatus other than "
                  "REQUEST_COMPLETE";
        goto fail;
    }

    if (!x->resp.head_done) {
        ex->why = "END_REQUEST before the end of the header";
        goto fail;
    }

    if (drover_response_finish(&x->resp, &ex->why) != APR_SUCCESS) {
        if (ex->why != NULL) {
            goto fail;
        }
        return DROVER_EX_CLIENT_GONE;
    }

    return DROVER_EX_DONE;

fail:

    if (x->resp.sent) {
        drover_response_broken(&x->resp);
        return DROVER_EX_BROKEN;
    }
    return DROVER_EX_MALFORMED;
}


/* spec 5.4: the request is given up (the client left, a timeout); sent
 * only at a record boundary and without blocking, then the connection is
 * closed anyway */
static void
send_abort(exchange_t *x)
{
    unsigned char  rec[DROVER_FCGI_HEADER_LEN];
    apr_size_t     n = sizeof(rec);

    if (x->reader.ended || (!x->send_done && x->out_len != 0)) {
        return;
    }

    drover_fcgi_header(rec, DROVER_FCGI_ABORT_REQUEST, 0);
    (void) apr_socket_send(x->sock, (char *) rec, &n);
}


/* bytes sent on the connection that no worker has read yet */
static int
unread(exchange_t *x)
{
    int  n = 0;

    if (ioctl(x->fd, SIOCOUTQ, &n) == -1) {
        return 0;
    }

    return n;
}


/*
 * DroverPipeline: a request sent behind a running one that no worker has
 * read a window after it went out (its slot's worker runs a slow request)
 * is taken back when another slot can take it (free, or whose request is
 * younger than the window): the sending side is shut, and droverd, which
 * reads such a request (DROVER_WITHDRAWABLE) whole before it looks at that
 * side, runs it only if it read it all before. So bytes still unread after
 * the shutdown mean it will not run there: DROVER_EX_MOVED, with *claim the
 * new slot. None unread: the worker has it, and the answer is awaited here
 * (FCGI_OVERLOADED if the worker looked after the shutdown: a replay).
 * Tried once a window while it waits, until the shutdown.
 */
static int
rescue(exchange_t *x)
{
    drover_exchange_t  *ex = x->ex;
    drover_claim_t      to;

    /* not before the instant the request told droverd: a worker that read
     * it whole before then runs it without looking at the connection */
    if (drover_slots_now() < ex->withdraw_after || unread(x) == 0
        || drover_slots_move_begin(ex->dc, ex->limit, ex->claim, &to) != 0)
    {
        return 0;
    }

    x->shut = 1;

    if (shutdown(x->fd, SHUT_WR) == -1 || unread(x) == 0) {
        drover_slots_move_end(ex->dc, ex->claim, &to, 0);
        ex->claim->behind = 0;          /* no more looks */
        return 0;
    }

    drover_slots_move_end(ex->dc, ex->claim, &to, 1);

    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, ex->r, "drover: request taken "
                  "back from slot %d of \"%s\", whose worker did not read it "
                  "within %" APR_TIME_T_FMT " ms, for slot %d",
                  ex->claim->slot, ex->dc->path,
                  apr_time_as_msec(ex->dc->pipeline_timeout), to.slot);

    *ex->claim = to;
    return 1;
}


/* the client's socket became readable while we wait for the app: gone
 * (EOF), or it sent more (a pipelined request): then stop watching */
static int
client_left(exchange_t *x)
{
    int  at_eof = 0;

    if (apr_socket_atreadeof(x->client, &at_eof) != APR_SUCCESS || at_eof) {
        return 1;
    }

    x->client = NULL;
    return 0;
}


/* may the connection carry the next request? */
static int
keepable(exchange_t *x, drover_ex_e rc)
{
    return x->ex->keep_conn && !x->shut && !x->abort && x->reader.ended
           && x->reader.protocol_status == 0 && x->send_done
           && x->out_len == 0 && x->ex->err == APR_SUCCESS
           && (rc == DROVER_EX_DONE || rc == DROVER_EX_CLIENT_GONE);
}


/*
 * One attempt. Nothing reaches the client until the app's header block is
 * whole and valid, so any outcome but DONE and BROKEN leaves the response
 * to the caller (a replay, 502, 504). ex->fd: a kept connection to use, or
 * -1 to connect; on return, the connection to keep, or -1 (closed).
 */
drover_ex_e
drover_exchange_run(drover_exchange_t *ex)
{
    exchange_t           x;
    apr_pollfd_t         pfd[2];
    conn_rec            *c = ex->r->connection;
    apr_int32_t          nready;
    apr_interval_time_t  timeout, wait;
    apr_time_t           now;
    apr_status_t         rv;
    char                *buf;
    drover_ex_e          rc;

    memset(&x, 0, sizeof(x));
    x.ex = ex;
    x.fd = ex->fd;
    ex->fd = -1;
    ex->drain_fd = -1;
    drover_response_init(&x.resp, ex->r);

    if (x.fd < 0) {
        rv = connect_unix(&x);
        if (rv != APR_SUCCESS) {
            ex->err = rv;
            ex->why = "connect failed";
            return DROVER_EX_CONNECT;
        }
    }

    rv = wrap_socket(&x);
    if (rv != APR_SUCCESS) {
        close(x.fd);
        ex->err = rv;
        ex->why = "connect failed";
        return DROVER_EX_CONNECT;
    }

    buf = apr_palloc(ex->r->pool, DROVER_IO_BUF);

    memset(pfd, 0, sizeof(pfd));
    pfd[0].p = ex->r->pool;
    pfd[0].desc_type = APR_POLL_SOCKET;
    pfd[0].desc.s = x.sock;

    /* an HTTP/1 client that closes while the app works: FCGI_ABORT_REQUEST
     * (an HTTP/2 stream's connection is not its own socket) */
    x.client = c->master == NULL ? ap_get_conn_socket(c) : NULL;
    pfd[1].p = ex->r->pool;
    pfd[1].desc_type = APR_POLL_SOCKET;
    pfd[1].desc.s = x.client;
    pfd[1].reqevents = APR_POLLIN;

    x.last_io = apr_time_now();

    for (;;) {
        if (!x.send_done) {
            rv = send_some(&x);
            if (rv != APR_SUCCESS) {
                if (ex->body->failed) {
                    ex->why = "reading the client's body failed";
                    rc = DROVER_EX_CLIENT_GONE;
                    goto cleanup;
                }
                /* the app may have answered before reading it all: read */
                x.send_done = 1;
                x.out_len = 0;
                x.send_refused = APR_STATUS_IS_EPIPE(rv)
                                 || APR_STATUS_IS_ECONNRESET(rv);
                ex->err = rv;
            }
            if (x.send_done) {
                x.sent_at = apr_time_now();
            }
        }

        pfd[0].reqevents = APR_POLLIN | (x.send_done ? 0 : APR_POLLOUT);
        pfd[0].rtnevents = 0;
        pfd[1].rtnevents = 0;
        timeout = x.send_done || x.out_len == 0 ? ex->dc->read_timeout
                                                : ex->dc->send_timeout;

        /* a pipelined request not answered yet: looked at once a window */
        now = apr_time_now();
        wait = x.last_io + timeout - now;
        if (ex->claim != NULL && ex->claim->behind && x.send_done
            && !x.got_any && !x.shut)
        {
            if (now - x.sent_at >= ex->dc->pipeline_timeout) {
                if (rescue(&x)) {
                    rc = DROVER_EX_MOVED;
                    goto cleanup;
                }
                x.sent_at = now;
            }
            if (x.sent_at + ex->dc->pipeline_timeout - now < wait) {
                wait = x.sent_at + ex->dc->pipeline_timeout - now;
            }
        }
        if (wait < 0) {
            wait = 0;
        }

        /* the client is watched only once its body is all read */
        rv = apr_poll(pfd, x.send_done && x.client != NULL ? 2 : 1, &nready,
                      wait);
        if (APR_STATUS_IS_EINTR(rv)) {
            continue;
        }
        if (APR_STATUS_IS_TIMEUP(rv)) {
            if (apr_time_now() - x.last_io < timeout) {
                continue;               /* a pipeline look, not a timeout */
            }
            ex->why = "timed out";
            x.abort = 1;
            if (x.resp.sent) {
                drover_response_broken(&x.resp);
                rc = DROVER_EX_BROKEN;
            } else {
                rc = DROVER_EX_TIMEOUT;
            }
            goto cleanup;
        }
        if (rv != APR_SUCCESS) {
            rc = lost(&x, rv, "poll failed");
            goto cleanup;
        }

        x.last_io = apr_time_now();

        if ((pfd[1].rtnevents & (APR_POLLIN | APR_POLLHUP | APR_POLLERR))
            && client_left(&x))
        {
            ex->why = "the client went away";
            x.abort = 1;
            c->aborted = 1;
            rc = DROVER_EX_CLIENT_GONE;
            goto cleanup;
        }

        if (pfd[0].rtnevents & (APR_POLLIN | APR_POLLHUP | APR_POLLERR)) {
            rv = recv_some(&x, buf);

            if (x.resp.client_gone) {
                ex->why = "the client went away";
                x.abort = 1;
                rc = DROVER_EX_CLIENT_GONE;
                goto cleanup;
            }
            if (x.bad != NULL) {
                ex->why = x.bad;
                if (x.resp.sent) {
                    drover_response_broken(&x.resp);
                    rc = DROVER_EX_BROKEN;
                } else {
                    rc = DROVER_EX_MALFORMED;
                }
                goto cleanup;
            }
            if (rv != APR_SUCCESS) {
                rc = lost(&x, rv, rv == APR_EOF ? "the worker closed the connection"
                                                : "the connection was reset");
                goto cleanup;
            }
            if (x.reader.ended) {
                rc = ended(&x);
                goto cleanup;
            }
        }
    }

cleanup:

    if (x.abort && !x.reader.ended) {
        send_abort(&x);

        /*
         * The worker may still run it: its slot stays taken until the
         * worker is done with it (mod_drover_drain.c), so that the next
         * request does not queue behind it in the slot's socket
         */
        if (ex->claim != NULL) {
            ex->drain_fd = x.fd;
            ex->drain_reader = x.reader;
            return rc;
        }
    }

    if (keepable(&x, rc)) {
        ex->fd = x.fd;
    } else {
        close(x.fd);
    }

    return rc;
}
