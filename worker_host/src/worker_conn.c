/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * worker_conn.c -- a worker's FastCGI connections: accept, read, parse the
 * records and act on them (begin, abort, params, stdin, management).
 *
 * Section numbers refer to the FastCGI Specification 1.0.
 */

#include "worker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "fcgi.h"
#include "handoff.h"
#include "log.h"
#include "peers.h"
#include "preloader.h"
#include "request.h"

/* the content of the record being read is for ... */
enum {
    KIND_IGNORE = 0,             /* nobody: inactive request id (3.3) */
    KIND_BEGIN,
    KIND_ABORT,
    KIND_PARAMS,
    KIND_STDIN,
    KIND_DRAIN,                  /* STDIN of a finished request */
    KIND_REFUSED,                /* STDIN of a refused request */
    KIND_GET_VALUES,
    KIND_UNKNOWN_MGMT
};

/* what a record handler asks of the pump, besides 0 and errors */
#define CONN_CLOSE  1            /* close the connection, no error */
#define CONN_PAUSE  2            /* inside handle(): return to the app */

/* past max conns a connection only gets FCGI_OVERLOADED; past this, none */
#define CONNS_HARD_MAX        (DROVER_WORKER_MAX_CONNS + 64)


static void conn_closed_cb(uv_handle_t *handle);
static void conn_readable_cb(uv_poll_t *handle, int status, int events);
static int conn_on_header(drover__conn_t *c);
static int conn_on_content(drover__conn_t *c, const drover_fcgi_event_t *ev);
static int conn_on_end(drover__conn_t *c);
static int conn_begin_request(drover__conn_t *c);
static int conn_abort_request(drover__conn_t *c);
static int conn_dispatch(drover__conn_t *c);
static int conn_request_ended(drover__conn_t *c, unsigned id);
static int conn_refuse(drover__conn_t *c);
static int conn_refuse_send(drover__conn_t *c, const char *status);
static void conn_refuse_log(drover__conn_t *c, const char *status);
static int conn_peer_refused(drover__worker_t *w, int fd);
static int params_uri_too_long(const uint8_t *params, size_t len);
static int conn_get_values(drover__conn_t *c);
static int conn_send_record(drover__conn_t *c, unsigned type, unsigned id,
    const uint8_t *content, size_t len);
static int conn_end_request(drover__conn_t *c, unsigned id,
    unsigned protocol_status);
static int conn_protocol_error(drover__conn_t *c, const char *fmt, ...)
    DROVER_PRINTF(2, 3);


/*
 * allow_peers: one getsockopt() per connection, before any byte is read.
 * A refused peer costs one log line a second at most, with a count of the
 * rest (a tenant can connect in a loop).
 */
static int
conn_peer_refused(drover__worker_t *w, int fd)
{
    int       rc;
    pid_t     pid;
    uid_t     uid;
    gid_t     gid;
    char      more[96], name[80];
    uint64_t  now;
    socklen_t len;
    struct sockaddr_storage  ss;

    rc = drover_peers_check(w->pool, fd, &uid, &gid, &pid);
    if (rc == 0) {
        return 0;
    }

    uv_update_time(&w->loop);
    now = uv_now(&w->loop);

    if (w->peer_logged_ms != 0 && now - w->peer_logged_ms < 1000) {
        w->peer_unlogged++;
        return 1;
    }

    more[0] = '\0';
    if (w->peer_unlogged != 0) {
        snprintf(more, sizeof(more), " (and %llu more since the last such "
                 "line)", w->peer_unlogged);
    }

    if (rc == -EACCES && uid == (uid_t) -1) {
        len = sizeof(ss);
        if (getpeername(fd, (struct sockaddr *) &ss, &len) != 0) {
            ss.ss_family = AF_UNSPEC;
        }

        drover_net_name(&ss, name, sizeof(name));
        drover__worker_log(w, DROVER_LOG_ERROR, 0, "connection closed: TCP "
                           "peer %s is not allowed to connect (allow_peers: "
                           "%s)%s", name, w->pool->nallow_nets != 0
                           ? "not in its networks" : "none given, loopback "
                           "only", more);

    } else if (rc == -EACCES) {
        drover__worker_log(w, DROVER_LOG_ERROR, 0, "connection closed: peer "
                           "uid %ld gid %ld pid %ld is not allowed to connect "
                           "(allow_peers)%s", (long) uid, (long) gid,
                           (long) pid, more);
    } else {
        drover__worker_log(w, DROVER_LOG_ERROR, -rc, "connection closed: "
                           "its peer's credentials cannot be read%s", more);
    }

    w->peer_logged_ms = now;
    w->peer_unlogged = 0;

    return 1;
}


drover__conn_t *
drover__conn_accept(drover__worker_t *w, int fd, int slot)
{
    int              rc;
    drover__conn_t  *c;

    /* every way in (either socket, the handoff) comes through here */
    if (conn_peer_refused(w, fd)) {
        close(fd);
        return NULL;
    }

    if (w->nconns >= CONNS_HARD_MAX) {
        drover__worker_log(w, DROVER_LOG_WARN, 0,
                           "%u connections, refusing another", w->nconns);
        close(fd);
        return NULL;
    }

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        goto fail;
    }

    c->in = malloc(DROVER__IN_SIZE);
    if (c->in == NULL) {
        goto fail;
    }

    rc = uv_poll_init(&w->loop, &c->poll, fd);
    if (rc != 0) {
        drover__worker_log(w, DROVER_LOG_ALERT, rc, "uv_poll_init() failed");
        free(c->in);
        free(c);
        close(fd);
        return NULL;
    }

    c->worker = w;
    c->fd = fd;
    c->fresh = 1;
    c->slot = slot;
    drover_fcgi_parser_init(&c->parser);

    c->next = w->conns;
    if (w->conns != NULL) {
        w->conns->prev = c;
    }
    w->conns = c;
    w->nconns++;

    /* 4.1: past FCGI_MAX_CONNS the first request is refused, overloaded */
    c->over_limit = (w->nconns > DROVER_WORKER_MAX_CONNS);

    rc = uv_poll_start(&c->poll, slot ? UV_READABLE | UV_DISCONNECT
                                      : UV_READABLE,
                       conn_readable_cb);
    if (rc != 0) {
        drover__worker_log(w, DROVER_LOG_ALERT, rc, "uv_poll_start() failed");
        drover__conn_close(c);
        return NULL;
    }

    return c;

fail:

    drover__worker_log(w, DROVER_LOG_ERROR, ENOMEM,
                       "no memory for a connection");
    if (c != NULL) {
        free(c->in);
        free(c);
    }
    close(fd);

    return NULL;
}


void
drover__conn_close(drover__conn_t *c)
{
    drover__worker_t  *w;

    if (c->closing) {
        return;
    }

    w = c->worker;
    c->closing = 1;

    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        w->conns = c->next;
    }

    if (c->next != NULL) {
        c->next->prev = c->prev;
    }

    w->nconns--;

    uv_close((uv_handle_t *) &c->poll, conn_closed_cb);

    drover__worker_maybe_done(w);
}


static void
conn_closed_cb(uv_handle_t *handle)
{
    drover__conn_t  *c;

    c = (drover__conn_t *) handle;

    /*
     * The busy worker that handed c to us may hold its copy until its own
     * request ends: the front end learns of the close now, not then.  Our
     * copy of a connection we gave away is only ours to drop.
     */
    if (c->adopted && !c->given) {
        (void) shutdown(c->fd, SHUT_RDWR);
    }

    close(c->fd);
    free(c->in);
    free(c->params);
    free(c->mgmt);
    free(c);
}


/* in the middle of a record or a request: a stall here is timed */
int
drover__conn_busy(const drover__conn_t *c)
{
    return !drover_fcgi_parser_idle(&c->parser) || c->req_id != 0
           || c->drain_id != 0 || c->in_pos != c->in_len;
}


static void
conn_readable_cb(uv_poll_t *handle, int status, int events)
{
    int                rc;
    ssize_t            n;
    drover__conn_t    *c;
    drover__worker_t  *w;

    c = (drover__conn_t *) handle;
    w = c->worker;

    if (c->closing) {
        return;
    }

    if (status < 0) {
        drover__worker_log(w, DROVER_LOG_INFO, status,
                           "front end connection failed");
        drover__conn_close(c);
        return;
    }

    /*
     * Only Drover's nginx module connects to a slot socket.  A request it
     * closed the connection on before this worker read a byte of it was
     * withdrawn: it waited here behind a long one (drover_pipeline) and
     * went to another worker.  It is not run.
     */
    if ((events & UV_DISCONNECT) && !c->shut && !drover__conn_busy(c)
        && c->in_len == 0)
    {
        drover__conn_close(c);
        return;
    }

    /* the pump leaves the buffer empty unless the connection broke */
    if (c->in_pos == c->in_len) {
        c->in_pos = 0;
        c->in_len = 0;
    }

    n = read(c->fd, c->in + c->in_len, DROVER__IN_SIZE - c->in_len);

    if (n == 0) {
        if (drover__conn_busy(c)) {
            drover__worker_log(w, DROVER_LOG_INFO, 0,
                               "front end closed the connection "
                               "mid-request");
        }

        drover__conn_close(c);
        return;
    }

    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return;
        }

        drover__worker_log(w, DROVER_LOG_INFO, errno,
                           "reading from the front end failed");
        drover__conn_close(c);
        return;
    }

    c->in_len += (size_t) n;

    rc = drover__conn_pump(c, NULL, 0, NULL);

    if (c->closing) {
        return;
    }

    if (rc != 0 || c->broken) {
        drover__conn_close(c);
        return;
    }

    if (w->stopping && !drover__conn_busy(c) && !c->fresh) {
        drover__conn_stop_idle(c);
        return;
    }

    /* handle() may have run for long: the loop's clock is stale */
    uv_update_time(&w->loop);
    if (drover__conn_busy(c)) {
        c->deadline = uv_now(&w->loop) + w->pool->io_timeout_ms;
    } else if (!(w->stopping && c->fresh)) {
        c->deadline = 0;
    }
}


int
drover__conn_pump(drover__conn_t *c, uint8_t *dst, size_t len,
    size_t *copied)
{
    int                   rc;
    const uint8_t        *pos, *end;
    drover_fcgi_event_t   ev;

    if (copied != NULL) {
        *copied = 0;
    }

    for ( ;; ) {
        if (c->broken) {
            return -1;
        }

        pos = c->in + c->in_pos;
        end = c->in + c->in_len;

        /* inside handle() hand over no more STDIN than the app asked for */
        if (dst != NULL && (size_t) (end - pos) > len) {
            end = pos + len;
        }

        rc = drover_fcgi_parse(&c->parser, &pos, end, &ev);
        c->in_pos = (size_t) (pos - c->in);

        switch (rc) {

        case DROVER_FCGI_EV_AGAIN:
            if (c->in_pos < c->in_len) {
                continue;
            }

            c->in_pos = 0;
            c->in_len = 0;
            return 0;

        case DROVER_FCGI_EV_HEADER:
            rc = conn_on_header(c);
            break;

        case DROVER_FCGI_EV_CONTENT:
            /*
             * Only a read of the app owns a destination.  conn_dispatch()
             * turns a STDIN record still open when handle() returns into
             * KIND_DRAIN; should one reach here without a reader anyway,
             * conn_on_content() drops it like any other unowned content.
             */
            if (c->kind == KIND_STDIN && dst != NULL) {
                memcpy(dst, ev.data, ev.len);
                *copied = ev.len;
                return 0;
            }

            rc = conn_on_content(c, &ev);
            break;

        case DROVER_FCGI_EV_END:
            rc = conn_on_end(c);
            break;

        case -EPROTO:
            return conn_protocol_error(c, "bad fastcgi version %u",
                                       c->parser.version);

        default:
            return conn_protocol_error(c, "bad content length %zu for "
                                       "record type %u",
                                       c->parser.content_length,
                                       c->parser.type);
        }

        if (rc == CONN_PAUSE) {
            if (dst != NULL) {
                return 0;
            }

            continue;
        }

        if (rc != 0) {
            if (dst != NULL || rc < 0) {
                c->broken = 1;
                return rc < 0 ? rc : -1;
            }

            return rc;
        }
    }
}


/*
 * 3.3: a request id is active from its FCGI_BEGIN_REQUEST until our
 * FCGI_END_REQUEST; records for inactive ids are ignored.  Request id 0 is
 * for management records (4).
 */
static int
conn_on_header(drover__conn_t *c)
{
    unsigned  type, id;

    type = c->parser.type;
    id = c->parser.request_id;
    c->kind = KIND_IGNORE;

    if (id == 0) {
        if (type != DROVER_FCGI_GET_VALUES) {
            c->kind = KIND_UNKNOWN_MGMT;
            return 0;
        }

        c->mgmt = malloc(c->parser.content_length + 1);
        if (c->mgmt == NULL) {
            return conn_protocol_error(c, "no memory for get_values");
        }

        c->mgmt_len = 0;
        c->kind = KIND_GET_VALUES;
        return 0;
    }

    switch (type) {

    case DROVER_FCGI_BEGIN_REQUEST:
        c->body_len = 0;
        c->kind = KIND_BEGIN;
        return 0;

    case DROVER_FCGI_ABORT_REQUEST:
        if (id == c->req_id) {
            c->kind = KIND_ABORT;
        }
        return 0;

    case DROVER_FCGI_PARAMS:
        if (id != c->req_id) {
            return 0;
        }

        if (c->req_phase != DROVER__REQ_PARAMS) {
            return conn_protocol_error(c, "params for request %u after "
                                       "their end", id);
        }

        /*
         * Too long: the rest of the stream is read and dropped, and the
         * request answered 431 or 414 when its STDIN has ended (see
         * conn_refuse()): a closed connection would be replayed elsewhere,
         * where the same limit holds.
         */
        if (c->refuse == DROVER__REFUSE_NONE
            && c->parser.content_length
               > DROVER_FCGI_PARAMS_MAX - c->params_len)
        {
            c->refuse = params_uri_too_long(c->params, c->params_len)
                        ? DROVER__REFUSE_URI_SIZE
                        : DROVER__REFUSE_PARAMS_SIZE;
        }

        c->kind = KIND_PARAMS;
        return 0;

    case DROVER_FCGI_STDIN:
        if (id == c->drain_id && c->req_id == 0) {
            c->kind = KIND_DRAIN;
            return 0;
        }

        if (id != c->req_id) {
            return 0;
        }

        if (c->req_phase == DROVER__REQ_PARAMS) {
            return conn_protocol_error(c, "stdin for request %u before "
                                       "its params ended", id);
        }

        if (c->stdin_eof) {
            return conn_protocol_error(c, "stdin for request %u after "
                                       "its end", id);
        }

        c->kind = (c->req_phase == DROVER__REQ_REFUSING) ? KIND_REFUSED
                                                         : KIND_STDIN;
        return 0;

    case DROVER_FCGI_DATA:
        /* 6.2: a responder has no FCGI_DATA stream */
        return 0;

    default:
        if (id == c->req_id) {
            return conn_protocol_error(c, "unexpected record type %u for "
                                       "request %u", type, id);
        }

        return 0;
    }
}


static int
conn_on_content(drover__conn_t *c, const drover_fcgi_event_t *ev)
{
    size_t    n, cap;
    uint8_t  *p;

    switch (c->kind) {

    case KIND_BEGIN:
        /* the parser let through exactly 8 bytes of body (5.1) */
        n = ev->len;
        if (n > sizeof(c->body) - c->body_len) {
            n = sizeof(c->body) - c->body_len;
        }
        memcpy(c->body + c->body_len, ev->data, n);
        c->body_len += n;
        return 0;

    case KIND_PARAMS:
        c->params_total += ev->len;

        if (c->refuse != DROVER__REFUSE_NONE) {
            return 0;
        }

        /* bounded by DROVER_FCGI_PARAMS_MAX in conn_on_header() */
        if (c->params_len + ev->len > c->params_cap) {
            cap = c->params_cap ? c->params_cap : 4096;
            while (cap < c->params_len + ev->len) {
                cap *= 2;
            }

            p = realloc(c->params, cap);
            if (p == NULL) {
                return conn_protocol_error(c, "no memory for params");
            }

            c->params = p;
            c->params_cap = cap;
        }

        memcpy(c->params + c->params_len, ev->data, ev->len);
        c->params_len += ev->len;
        return 0;

    case KIND_GET_VALUES:
        memcpy(c->mgmt + c->mgmt_len, ev->data, ev->len);
        c->mgmt_len += ev->len;
        return 0;

    case KIND_REFUSED:
        c->refuse_stdin += ev->len;
        return 0;

    default:
        return 0;
    }
}


static int
conn_on_end(drover__conn_t *c)
{
    uint8_t  body[DROVER_FCGI_BODY_LEN];

    switch (c->kind) {

    case KIND_BEGIN:
        return conn_begin_request(c);

    case KIND_ABORT:
        return conn_abort_request(c);

    case KIND_PARAMS:
        /* 3.3: a stream ends with an empty record */
        if (c->parser.content_length == 0) {
            return conn_dispatch(c);
        }
        return 0;

    case KIND_STDIN:
        if (c->parser.content_length == 0) {
            c->stdin_eof = 1;
        }
        return CONN_PAUSE;

    case KIND_DRAIN:
        if (c->parser.content_length == 0) {
            c->drain_id = 0;
            if (c->close_after_drain) {
                return CONN_CLOSE;
            }
        }
        return 0;

    case KIND_REFUSED:
        if (c->parser.content_length == 0) {
            c->stdin_eof = 1;
            return conn_refuse(c);
        }

        /* a big body: answer now, the rest is drained (see request.h) */
        if (c->refuse_stdin > DROVER__PREREAD_MAX) {
            return conn_refuse(c);
        }
        return 0;

    case KIND_GET_VALUES:
        return conn_get_values(c);

    case KIND_UNKNOWN_MGMT:
        /* 4.2: a management record type we do not know */
        drover_fcgi_unknown_type_encode(body, c->parser.type);
        return conn_send_record(c, DROVER_FCGI_UNKNOWN_TYPE, 0, body,
                                sizeof(body));

    default:
        return 0;
    }
}


static int
conn_begin_request(drover__conn_t *c)
{
    int                rc;
    unsigned           id, role, flags;
    drover__worker_t  *w;

    w = c->worker;
    id = c->parser.request_id;
    role = ((unsigned) c->body[0] << 8) | c->body[1];
    flags = c->body[2];

    if (c->close_after_drain) {
        /* a new request on a connection the front end let us close */
        return CONN_CLOSE;
    }

    /* the front end moved on: what is left of the old STDIN never comes */
    c->drain_id = 0;

    if (c->req_id != 0) {
        if (id == c->req_id) {
            return conn_protocol_error(c, "begin_request for the active "
                                       "request %u", id);
        }

        /* 3.3, 5.5: one request at a time on a connection */
        return conn_end_request(c, id, DROVER_FCGI_CANT_MPX_CONN);
    }

    /*
     * Stopping: a connection accepted before the stop still gets its first
     * request served; any other new request is refused unread, which a
     * front end may replay elsewhere (FCGI_OVERLOADED, spec 5.5).
     */
    if (c->over_limit || (w->stopping && !c->fresh)) {
        if (c->over_limit) {
            drover__worker_log(w, DROVER_LOG_WARN, 0,
                               "more than %d connections, request "
                               "refused as overloaded",
                               DROVER_WORKER_MAX_CONNS);
        }

        rc = conn_end_request(c, id, DROVER_FCGI_OVERLOADED);
        return rc < 0 ? rc : CONN_CLOSE;
    }

    if (role != DROVER_FCGI_RESPONDER) {
        rc = conn_end_request(c, id, DROVER_FCGI_UNKNOWN_ROLE);
        if (rc < 0) {
            return rc;
        }

        /* 5.1: without FCGI_KEEP_CONN we close after the request */
        return (flags & DROVER_FCGI_KEEP_CONN) ? 0 : CONN_CLOSE;
    }

    c->req_id = id;
    c->req_phase = DROVER__REQ_PARAMS;
    c->keep_conn = (flags & DROVER_FCGI_KEEP_CONN) ? 1 : 0;
    c->stdin_eof = 0;
    c->aborted = 0;
    c->params_len = 0;
    c->params_total = 0;
    c->refuse = DROVER__REFUSE_NONE;
    c->refuse_stdin = 0;

    return 0;
}


/* 5.4: FCGI_ABORT_REQUEST for the active request */
static int
conn_abort_request(drover__conn_t *c)
{
    int  rc;

    if (c->req_phase == DROVER__REQ_RUNNING) {
        /* the app's reads fail, its writes go nowhere; END_REQUEST after */
        c->aborted = 1;
        return CONN_PAUSE;
    }

    rc = conn_end_request(c, c->req_id, DROVER_FCGI_REQUEST_COMPLETE);

    c->req_id = 0;
    c->req_phase = DROVER__REQ_NONE;
    c->refuse = DROVER__REFUSE_NONE;

    if (rc < 0) {
        return rc;
    }

    return (c->keep_conn && !c->worker->stopping) ? 0 : CONN_CLOSE;
}


static int
conn_dispatch(drover__conn_t *c)
{
    int                rc;
    unsigned           id;
    drover__worker_t  *w;

    id = c->req_id;

    if (c->refuse == DROVER__REFUSE_NONE) {
        /* while the app runs, the other connections go to free workers */
        drover__handoff_arm(c->worker, c);
        rc = drover__request_run(c->worker, c);
        drover__handoff_disarm(c->worker);

    } else {
        rc = DROVER__REQ_REFUSED;
    }

    if (rc == DROVER__REQ_REFUSED) {
        /* answered once its STDIN has ended: KIND_REFUSED */
        c->req_phase = DROVER__REQ_REFUSING;
        return 0;
    }

    /*
     * The app may have stopped reading in the middle of a STDIN record (it
     * read 100 bytes of a 64 KiB one): the rest of that record is drained
     * by the state that owns no destination, whatever happens next.
     */
    if (c->kind == KIND_STDIN) {
        c->kind = KIND_DRAIN;
    }

    c->fresh = 0;
    c->req_id = 0;
    c->req_phase = DROVER__REQ_NONE;

    w = c->worker;

    if (rc == DROVER__REQ_WITHDRAWN) {
        /* refused unread (5.5), to a front end that has moved on */
        drover__worker_log(w, DROVER_LOG_DEBUG, 0,
                           "request %u withdrawn by the front end", id);
        (void) conn_end_request(c, id, DROVER_FCGI_OVERLOADED);
        return CONN_CLOSE;
    }

    w->requests++;

    if (w->max_requests != 0 && w->requests >= w->max_requests
        && !w->stopping)
    {
        /* recycled: a clean stop the manager tells from a crash */
        drover__worker_log(w, DROVER_LOG_INFO, 0, "served %llu requests "
                           "(max_requests), recycling", w->requests);
        w->stop_code = DROVER_EXIT_RECYCLED;
        drover__worker_stop(w);
    }

    if (rc != 0) {
        return -1;
    }

    return conn_request_ended(c, id);
}


/* request id was answered: what its connection does next */
static int
conn_request_ended(drover__conn_t *c, unsigned id)
{
    /* 3.3: the rest of this id's STDIN is ignored; drop it as it comes */
    if (!c->stdin_eof && !c->aborted) {
        c->drain_id = id;
    }

    if (c->keep_conn && !c->worker->stopping) {
        return 0;
    }

    if (c->drain_id != 0) {
        /* closing on unread input would reset the front end's reads */
        c->close_after_drain = 1;
        return 0;
    }

    return CONN_CLOSE;
}


/*
 * A request refused for what it is (c->refuse) gets an HTTP answer, as any
 * response (5.3, 5.5), and the connection stays for the next one.  Its
 * PARAMS and STDIN were read and dropped first -- up to DROVER__PREREAD_MAX
 * bytes of a body, the rest drained after -- so that the front end, which
 * stops sending once the response has begun, finishes the request cleanly
 * and keeps the connection.  The app never sees it, nor does max_requests.
 */
static int
conn_refuse(drover__conn_t *c)
{
    int          rc;
    unsigned     id;
    const char  *status;

    id = c->req_id;

    switch (c->refuse) {

    case DROVER__REFUSE_URI_SIZE:
        status = "414 URI Too Long";
        break;

    case DROVER__REFUSE_MALFORMED:
        status = "400 Bad Request";
        break;

    default:
        status = "431 Request Header Fields Too Large";
        break;
    }

    conn_refuse_log(c, status);
    rc = conn_refuse_send(c, status);

    c->fresh = 0;
    c->req_id = 0;
    c->req_phase = DROVER__REQ_NONE;
    c->refuse = DROVER__REFUSE_NONE;

    if (rc != 0) {
        return -1;
    }

    return conn_request_ended(c, id);
}


/* the whole answer in one write: STDOUT, its end, END_REQUEST */
static int
conn_refuse_send(drover__conn_t *c, const char *status)
{
    int           n;
    unsigned      pad;
    uint8_t      *p;
    char          text[192];
    uint8_t       out[3 * DROVER_FCGI_HEADER_LEN + sizeof(text) + 7
                      + DROVER_FCGI_BODY_LEN];
    struct iovec  iov;

    /* a short body that says what, and nothing of the request */
    n = snprintf(text, sizeof(text), "Status: %s\r\n"
                 "Content-Type: text/plain\r\n\r\n%s\n", status, status);
    if (n < 0 || (size_t) n >= sizeof(text)) {
        return -1;
    }

    p = out;
    pad = drover_fcgi_padding((size_t) n);

    drover_fcgi_header_encode(p, DROVER_FCGI_STDOUT, c->req_id, (size_t) n,
                              pad);
    p += DROVER_FCGI_HEADER_LEN;
    memcpy(p, text, (size_t) n);
    p += n;
    memset(p, 0, pad);
    p += pad;

    /* 5.3: an empty record ends the stream */
    drover_fcgi_header_encode(p, DROVER_FCGI_STDOUT, c->req_id, 0, 0);
    p += DROVER_FCGI_HEADER_LEN;

    drover_fcgi_header_encode(p, DROVER_FCGI_END_REQUEST, c->req_id,
                              DROVER_FCGI_BODY_LEN, 0);
    p += DROVER_FCGI_HEADER_LEN;
    drover_fcgi_end_request_encode(p, 0, DROVER_FCGI_REQUEST_COMPLETE);
    p += DROVER_FCGI_BODY_LEN;

    iov.iov_base = out;
    iov.iov_len = (size_t) (p - out);

    return drover__conn_writev(c, &iov, 1);
}


/* a client can cause refusals at will: one line a second at most */
static void
conn_refuse_log(drover__conn_t *c, const char *status)
{
    char               why[128], more[96];
    uint64_t           now;
    drover__worker_t  *w;

    w = c->worker;

    uv_update_time(&w->loop);
    now = uv_now(&w->loop);

    if (w->refuse_logged_ms != 0 && now - w->refuse_logged_ms < 1000) {
        w->refuse_unlogged++;
        return;
    }

    switch (c->refuse) {

    case DROVER__REFUSE_PARAMS_COUNT:
        snprintf(why, sizeof(why), "it has more than %d params",
                 DROVER_FCGI_PARAMS_COUNT_MAX);
        break;

    case DROVER__REFUSE_MALFORMED:
        snprintf(why, sizeof(why), "its params are malformed (not "
                 "name-value pairs, or a NUL byte)");
        break;

    default:
        snprintf(why, sizeof(why), "its params are %zu bytes, over the "
                 "limit of %d%s", c->params_total, DROVER_FCGI_PARAMS_MAX,
                 c->refuse == DROVER__REFUSE_URI_SIZE
                 ? ", REQUEST_URI over half of it" : "");
        break;
    }

    more[0] = '\0';
    if (w->refuse_unlogged != 0) {
        snprintf(more, sizeof(more), " (and %llu more since the last such "
                 "line)", w->refuse_unlogged);
    }

    drover__worker_log(w, DROVER_LOG_WARN, 0, "request %u refused with %s: "
                       "%s%s", c->req_id, status, why, more);

    w->refuse_logged_ms = now;
    w->refuse_unlogged = 0;
}


/*
 * 414 rather than 431: the value of REQUEST_URI is at least half the
 * limit, and front ends send the URI twice at least (REQUEST_URI, and
 * QUERY_STRING or DOCUMENT_URI), so the URI alone is too long.  Only the
 * params read so far are looked at (3.4), a pair cut short included once
 * its name is in.
 */
static int
params_uri_too_long(const uint8_t *params, size_t len)
{
    size_t  off, name_len, value_len;

    static const char  uri[] = "REQUEST_URI";

    off = 0;

    while (drover_fcgi_pair_len_decode(params, len, &off, &name_len)
           && drover_fcgi_pair_len_decode(params, len, &off, &value_len)
           && name_len <= len - off)
    {
        if (name_len == sizeof(uri) - 1
            && memcmp(params + off, uri, name_len) == 0)
        {
            return value_len >= DROVER_FCGI_PARAMS_MAX / 2;
        }

        off += name_len;

        if (value_len > len - off) {
            break;
        }

        off += value_len;
    }

    return 0;
}


static int
conn_get_values(drover__conn_t *c)
{
    int       n;
    uint8_t   out[512];
    char      conns[16];

    drover_fcgi_value_t  values[3];

    snprintf(conns, sizeof(conns), "%d", DROVER_WORKER_MAX_CONNS);

    /* 4.1: one request per connection, hence MAX_REQS = MAX_CONNS */
    values[0].name = "FCGI_MAX_CONNS";
    values[0].value = conns;
    values[1].name = "FCGI_MAX_REQS";
    values[1].value = conns;
    values[2].name = "FCGI_MPXS_CONNS";
    values[2].value = "0";

    n = drover_fcgi_get_values_result(c->mgmt, c->mgmt_len, values, 3, out,
                                      sizeof(out));

    free(c->mgmt);
    c->mgmt = NULL;

    if (n < 0) {
        return conn_protocol_error(c, "bad get_values query");
    }

    return conn_send_record(c, DROVER_FCGI_GET_VALUES_RESULT, 0, out,
                            (size_t) n);
}


static int
conn_end_request(drover__conn_t *c, unsigned id, unsigned protocol_status)
{
    uint8_t  body[DROVER_FCGI_BODY_LEN];

    drover_fcgi_end_request_encode(body, 0, protocol_status);

    return conn_send_record(c, DROVER_FCGI_END_REQUEST, id, body,
                            sizeof(body));
}


static int
conn_send_record(drover__conn_t *c, unsigned type, unsigned id,
    const uint8_t *content, size_t len)
{
    uint8_t       header[DROVER_FCGI_HEADER_LEN];
    uint8_t       padding[8];
    unsigned      pad;
    struct iovec  iov[3];

    pad = drover_fcgi_padding(len);
    memset(padding, 0, sizeof(padding));
    drover_fcgi_header_encode(header, type, id, len, pad);

    iov[0].iov_base = header;
    iov[0].iov_len = sizeof(header);
    iov[1].iov_base = (void *) content;
    iov[1].iov_len = len;
    iov[2].iov_base = padding;
    iov[2].iov_len = pad;

    return drover__conn_writev(c, iov, 3);
}


static int
conn_protocol_error(drover__conn_t *c, const char *fmt, ...)
{
    char     msg[256];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    drover__worker_log(c->worker, DROVER_LOG_ERROR, 0,
                       "%s from the front end, closing connection", msg);

    c->broken = 1;

    return -EPROTO;
}
