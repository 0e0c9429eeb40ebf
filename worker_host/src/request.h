/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * request.h -- private to worker*.c and request*.c: a worker's connections
 * and the one request it runs in the app at a time.
 *
 * worker*.c own the event loop and the FastCGI conversation on each
 * connection; request*.c implement the SDK's drover_req_* and drover_resp_*
 * on top of it.  While app->handle() runs, the loop is not running: the
 * request reads and writes its connection directly, with poll() and
 * pool->io_timeout_ms.
 */

#ifndef DROVER_REQUEST_H
#define DROVER_REQUEST_H

#include <stdint.h>
#include <sys/uio.h>

#include <uv.h>

#include "drover.h"
#include "fcgi.h"
#include "worker.h"

/* 4.1: reported as FCGI_MAX_CONNS and FCGI_MAX_REQS (one per connection) */
#define DROVER_WORKER_MAX_CONNS  1024

/* per-connection input buffer; larger records stream through it */
#define DROVER__IN_SIZE          (64 * 1024)

/*
 * STDOUT records carry at most this much: the largest multiple of 8 that
 * fits in 65535, so full records need no padding (3.3).
 */
#define DROVER__OUT_RECORD_MAX   65528

/* room after the open record: its padding, the empty STDOUT, END_REQUEST */
#define DROVER__OUT_RESERVE      64

#define DROVER__OUT_SIZE                                                     \
    (DROVER_FCGI_HEADER_LEN + DROVER__OUT_RECORD_MAX + DROVER__OUT_RESERVE)

/*
 * How much of a body not yet read is taken in before the first response
 * byte goes out: nginx stops sending the request body once it has the
 * response header, so an app that answers while the body is still coming
 * would wait for it forever.
 */
#define DROVER__PREREAD_MAX      (8 * 1024 * 1024)

/* the CGI header block an app may build */
#define DROVER__RESP_HEADERS_MAX (64 * 1024)


typedef struct drover__worker_s  drover__worker_t;
typedef struct drover__conn_s    drover__conn_t;
typedef struct drover__handoff_s drover__handoff_t;


enum {
    DROVER__REQ_NONE = 0,
    DROVER__REQ_PARAMS,          /* BEGIN_REQUEST seen, params arriving */
    DROVER__REQ_RUNNING,         /* in app->handle() */
    DROVER__REQ_REFUSING         /* params ended, refused: its STDIN is
                                    dropped until the answer goes out */
};


/*
 * Why a request is refused without the app: the same on every worker, so
 * the answer is an HTTP status (docs/fastcgi.md), never a closed
 * connection that a front end would replay elsewhere.
 */
enum {
    DROVER__REFUSE_NONE = 0,
    DROVER__REFUSE_PARAMS_SIZE,  /* over DROVER_FCGI_PARAMS_MAX: 431 */
    DROVER__REFUSE_URI_SIZE,     /* the same, REQUEST_URI the cause: 414 */
    DROVER__REFUSE_PARAMS_COUNT, /* over DROVER_FCGI_PARAMS_COUNT_MAX: 431 */
    DROVER__REFUSE_MALFORMED     /* not name-value pairs, or a NUL: 400 */
};


struct drover__conn_s {
    uv_poll_t              poll;         /* data: unused */
    drover__worker_t      *worker;
    drover__conn_t        *prev;
    drover__conn_t        *next;
    int                    fd;

    unsigned               closing:1;    /* uv_close() called */
    unsigned               broken:1;     /* I/O or protocol failure: close
                                            after the request, logged */
    unsigned               over_limit:1; /* accepted past max conns */
    unsigned               fresh:1;      /* no request finished on it yet:
                                            its first one is on the way */
    unsigned               slot:1;       /* accepted on the slot socket */
    unsigned               tcp:1;        /* accepted on a TCP listener */
    unsigned               late:1;       /* stopping: a request sent after
                                            the stop was served on it */
    unsigned               shut:1;       /* stopping: shutdown(SHUT_RD) */
    unsigned               adopted:1;    /* handed to us by a busy worker,
                                            which may still hold a copy */
    unsigned               given:1;      /* handed to the pool: our copy is
                                            closed, never shut down */

    drover_fcgi_parser_t   parser;
    unsigned               kind;         /* what the record content is for */
    uint8_t                body[DROVER_FCGI_BODY_LEN];
    size_t                 body_len;
    uint8_t               *mgmt;         /* FCGI_GET_VALUES content */
    size_t                 mgmt_len;

    uint8_t               *in;           /* DROVER__IN_SIZE */
    size_t                 in_pos;
    size_t                 in_len;

    uint8_t               *params;       /* the PARAMS stream, reused */
    size_t                 params_len;
    size_t                 params_cap;

    unsigned               req_id;       /* 0: no active request */
    unsigned               req_phase;
    unsigned               keep_conn:1;
    unsigned               stdin_eof:1;
    unsigned               aborted:1;    /* ABORT_REQUEST for req_id */

    unsigned               refuse;       /* DROVER__REFUSE_*: req_id is
                                            answered without the app */
    size_t                 params_total; /* PARAMS bytes, kept or not */
    size_t                 refuse_stdin; /* STDIN bytes dropped before the
                                            refusal went out */

    unsigned               drain_id;     /* discard this id's STDIN */
    unsigned               close_after_drain:1;

    uint64_t               deadline;     /* uv_now() ms, 0: idle */
};


struct drover_req_s {
    drover__worker_t      *worker;
    drover__conn_t        *conn;
    unsigned               id;

    drover_fcgi_param_t   *params;
    size_t                 nparams;

    const char            *path;         /* computed on first use */
    const char            *query;

    int                    status;
    unsigned               content_type_set:1;
    unsigned               headers_sent:1;   /* header block committed */
    unsigned               wrote:1;          /* a body byte was sent */

    char                  *body;             /* drover_req_read_all() */
    size_t                 body_len;

    /*
     * The rest of the body, read before the first response byte goes out
     * (see req_write in request_response.c); drover_req_read serves it first.
     */
    uint8_t               *pre;
    size_t                 pre_len;
    size_t                 pre_pos;
    unsigned               pre_checked:1;
    unsigned               pre_reading:1;    /* in drover__request_preread() */
    unsigned               sent_any:1;       /* a byte went to the socket */
    unsigned               finishing:1;      /* handle() has returned */
};


struct drover__worker_s {
    uv_loop_t              loop;
    drover_worker_args_t  *args;
    const drover_pool_conf_t *pool;
    int                    slot;

    uv_poll_t              listeners[4];     /* slot, shared; then
                                                the TCP ones, if any */
    int                    nlisteners;
    unsigned               accepting:1;
    uv_timer_t             accept_timer;     /* pause after EMFILE */
    uv_timer_t             tick_timer;       /* orphan check, stalls */
    uv_signal_t            sigterm;
    uv_signal_t            sigint;
    uint64_t               last_orphan_check;

    /* handoff.c: the pool's channel, and the watcher of a busy worker */
    uv_poll_t              adopt_poll;       /* the receiving end */
    unsigned               adopt_init:1;
    unsigned               adopting:1;
    drover__handoff_t     *handoff;

    drover__conn_t        *conns;
    unsigned               nconns;

    unsigned               stopping:1;
    int                    exit_code;
    int                    stop_code;        /* exit code of a clean stop:
                                                0, or DROVER_EXIT_RECYCLED */

    /* max_requests: served so far, and this worker's own limit */
    unsigned long long     requests;
    unsigned long long     max_requests;     /* 0: none */

    /* refusals are logged once a second at most (a client can cause them) */
    uint64_t               refuse_logged_ms; /* uv_now() of the last line */
    unsigned long long     refuse_unlogged;  /* refusals since that line */

    /* peers refused by allow_peers: logged the same way (peers.h) */
    uint64_t               peer_logged_ms;
    unsigned long long     peer_unlogged;

    /* the request in the app: one at a time, buffers reused */
    drover_req_t           req;
    drover_fcgi_param_t    params[DROVER_FCGI_PARAMS_COUNT_MAX];

    uint8_t               *out;              /* DROVER__OUT_SIZE */
    size_t                 out_len;          /* complete records */
    size_t                 rec_len;          /* content of the open STDOUT
                                                record at out + out_len */
    char                  *hdrs;             /* "Name: value\r\n"... */
    size_t                 hdrs_len;
    size_t                 hdrs_cap;
    char                  *scratch;          /* path, uri */
    size_t                 scratch_cap;
};


/* worker.c, worker_conn.c (pump), worker_io.c (fill, writev) */

/*
 * Handle buffered input.  Inside handle() (dst non-NULL) stop as soon as a
 * piece of the active request's STDIN was copied to dst (*copied > 0).
 * Returns 0, or a negative code with c->broken set (logged).
 */
int drover__conn_pump(drover__conn_t *c, uint8_t *dst, size_t len,
    size_t *copied);

/* block up to io_timeout_ms for more input; 0 or -1 (logged, broken) */
int drover__conn_fill(drover__conn_t *c);

/* 1 when the front end has shut its sending side of c (or closed it) */
int drover__conn_peer_shut(drover__conn_t *c);

/* write all of iov, blocking up to io_timeout_ms per stall; 0 or -1 */
int drover__conn_writev(drover__conn_t *c, struct iovec *iov, int iovcnt);

void drover__worker_log(drover__worker_t *w, int level, int err,
    const char *fmt, ...) DROVER_PRINTF(4, 5);

/* graceful stop: no new connections, idle ones closed, a request finishes */
void drover__worker_stop(drover__worker_t *w);

/* stopping and no connection left: close the handles, the loop ends */
void drover__worker_maybe_done(drover__worker_t *w);


/* worker_conn.c */

/*
 * Take fd (accepted, on the slot socket when slot is 1; or adopted from the
 * handoff channel) as a fresh connection.  NULL when it was refused (fd
 * closed, logged).
 */
drover__conn_t *drover__conn_accept(drover__worker_t *w, int fd, int slot);

void drover__conn_close(drover__conn_t *c);

/* stopping, nothing in progress on c: close it, unless a request came */
void drover__conn_stop_idle(drover__conn_t *c);

/* in the middle of a record or a request: a stall here is timed */
int drover__conn_busy(const drover__conn_t *c);


/* request.c, request_timeout.c (civil time, timeout init) */

/* a civil date and time, from drover__request_civil_time() */
typedef struct {
    int64_t   year;
    unsigned  mon;                       /* 1..12 */
    unsigned  mday;                      /* 1..31 */
    unsigned  hour;
    unsigned  min;
    unsigned  sec;
} drover__civil_t;

/*
 * Seconds since the epoch (already shifted to local time) to the civil
 * date, async-signal-safe: request_timeout's SIGALRM handler uses it.
 */
void drover__request_civil_time(int64_t t, drover__civil_t *c);

/* arm SIGALRM for request_timeout (once per worker, before serving) */
int drover__request_timeout_init(drover__worker_t *w);

/*
 * Run the request whose PARAMS just ended on c in the app and send its
 * response and END_REQUEST.  Returns 0, -1 when the connection must
 * close (broken, already logged), or DROVER__REQ_WITHDRAWN: the front end
 * took the request back, it was not run and nothing was sent.
 */
#define DROVER__REQ_WITHDRAWN  1

/*
 * Or DROVER__REQ_REFUSED: its params are malformed or too many, c->refuse
 * says which; it was not run and nothing was sent.
 */
#define DROVER__REQ_REFUSED    2

int drover__request_run(drover__worker_t *w, drover__conn_t *c);


/* request_response.c */

/* "Status: 200 OK\r\n", the default Content-Type, the app's, "\r\n" */
int drover__request_commit_headers(drover_req_t *req);

/* append to the response, sending each full FCGI_STDOUT record */
int drover__request_stdout(drover_req_t *req, const uint8_t *data,
    size_t len);

/* close the open record: its header before it, its padding after it */
void drover__request_close_record(drover_req_t *req);

/* close the open record and send everything buffered */
int drover__request_send(drover_req_t *req);

/* take in the body not yet read before the first response byte goes out */
void drover__request_preread(drover_req_t *req);

/* request.c: 0 while the response can go out; aborted requests swallow it */
int drover__request_alive(drover_req_t *req);

/* request_timeout.c: SIGALRM for this request, and off again after it */
void drover__request_timeout_arm(drover__worker_t *w, drover_req_t *req);
void drover__request_timeout_disarm(drover__worker_t *w);

#endif /* DROVER_REQUEST_H */
