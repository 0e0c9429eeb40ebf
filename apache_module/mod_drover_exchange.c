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

APLOG_USE_MODULE(drover);

#define DROVER_IO_BUF  (64 * 1024)

typedef struct {
    drover_exchange_t     *ex;
    apr_socket_t          *sock;
    drover_fcgi_reader_t   reader;
    drover_response_t      resp;
    int                    got_any;       /* a response byte came back */
    int                    send_done;
    int                    stage;         /* 0 head, 1 prefix, 2 stream */
    const char            *out;           /* bytes waiting to be sent */
    apr_size_t             out_len;
    char                  *stdin_buf;     /* a STDIN record being built */
    apr_size_t             stderr_len;
    const char            *bad;           /* why the answer is malformed */
    apr_socket_t          *client;        /* watched for a close, or NULL */
    int                    abort;         /* given up early: ABORT_REQUEST */
} exchange_t;


static apr_status_t
connect_unix(exchange_t *x)
{
    drover_exchange_t  *ex = x->ex;
    request_rec        *r = ex->r;
    apr_sockaddr_t     *sa;
    apr_status_t        rv;

    rv = apr_sockaddr_info_get(&sa, ex->sockpath, APR_UNIX, 0, 0, r->pool);
    if (rv != APR_SUCCESS) {
        return rv;
    }

    rv = apr_socket_create(&x->sock, APR_UNIX, SOCK_STREAM, 0, r->pool);
    if (rv != APR_SUCCESS) {
        return rv;
    }

    apr_socket_timeout_set(x->sock, ex->dc->connect_timeout);

    rv = apr_socket_connect(x->sock, sa);
    if (rv != APR_SUCCESS) {
        apr_socket_close(x->sock);
        x->sock = NULL;
        return rv;
    }

    /* non-blocking from here: apr_poll() does the waiting */
    apr_socket_timeout_set(x->sock, 0);
    return APR_SUCCESS;
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
        x->out = ex->head;
        x->out_len = ex->head_len;
        x->stage = 1;
        return APR_SUCCESS;

    case 1:
        /* the prefix, in records of at most 32 KiB, and the end if whole */
        room = body->prefix_len + (body->prefix_len / 32768 + 2)
                                  * DROVER_FCGI_HEADER_LEN;
        w = apr_palloc(ex->r->pool, room);
        x->out = w;
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


/*
 * After an abort the worker may still be running the request: keep its
 * slot ours until the worker ends it (it closes the connection, no
 * FCGI_KEEP_CONN was asked) or one more read timeout passed, so the next
 * request does not queue behind it in the slot's socket.
 */
static void
drain(exchange_t *x, char *buf)
{
    apr_time_t           deadline = apr_time_now() + x->ex->dc->read_timeout;
    apr_interval_time_t  left;
    apr_pollfd_t         pfd;
    apr_int32_t          nready;
    apr_size_t           n;
    apr_status_t         rv;

    memset(&pfd, 0, sizeof(pfd));
    pfd.p = x->ex->r->pool;
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.desc.s = x->sock;
    pfd.reqevents = APR_POLLIN;

    for (;;) {
        left = deadline - apr_time_now();
        if (left <= 0) {
            return;
        }

        rv = apr_poll(&pfd, 1, &nready, left);
        if (APR_STATUS_IS_EINTR(rv)) {
            continue;
        }
        if (rv != APR_SUCCESS) {
            return;
        }

        n = DROVER_IO_BUF;
        rv = apr_socket_recv(x->sock, buf, &n);
        if (rv != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(rv)) {
            return;                     /* EOF or reset: the worker is done */
        }
    }
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


/*
 * One attempt. Nothing reaches the client until the app's header block is
 * whole and valid, so any outcome but DONE and BROKEN leaves the response
 * to the caller (a replay, 502, 504).
 */
drover_ex_e
drover_exchange_run(drover_exchange_t *ex)
{
    exchange_t           x;
    apr_pollfd_t         pfd[2];
    conn_rec            *c = ex->r->connection;
    apr_int32_t          nready;
    apr_interval_time_t  timeout;
    apr_status_t         rv;
    char                *buf;
    drover_ex_e          rc;

    memset(&x, 0, sizeof(x));
    x.ex = ex;
    drover_response_init(&x.resp, ex->r);

    rv = connect_unix(&x);
    if (rv != APR_SUCCESS) {
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
                ex->err = rv;
            }
        }

        pfd[0].reqevents = APR_POLLIN | (x.send_done ? 0 : APR_POLLOUT);
        pfd[0].rtnevents = 0;
        pfd[1].rtnevents = 0;
        timeout = x.send_done || x.out_len == 0 ? ex->dc->read_timeout
                                                : ex->dc->send_timeout;

        /* the client is watched only once its body is all read */
        rv = apr_poll(pfd, x.send_done && x.client != NULL ? 2 : 1, &nready,
                      timeout);
        if (APR_STATUS_IS_EINTR(rv)) {
            continue;
        }
        if (APR_STATUS_IS_TIMEUP(rv)) {
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

        /* nobody waits for this answer; a 504 must not wait for it */
        if (rc == DROVER_EX_CLIENT_GONE) {
            drain(&x, buf);
        }
    }

    /* no kept-alive connections in this cut */
    apr_socket_close(x.sock);
    return rc;
}
