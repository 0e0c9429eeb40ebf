/*
 * request.c -- the SDK's request and response functions (drover.h) for the
 * one request a worker runs in the app at a time.
 *
 * The response is laid out in the worker's output buffer as the FCGI_STDOUT
 * record it will be sent as: an 8-byte header slot, then up to
 * DROVER__OUT_RECORD_MAX bytes of content (a multiple of 8, so full records
 * need no padding).  A full record is sent at once; at the end the last
 * record, the empty FCGI_STDOUT that ends the stream and FCGI_END_REQUEST
 * leave in one write, so a small response costs one system call.
 * Invariant: out_len is 0 while the app runs; records are closed and sent
 * together.
 */

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "fcgi.h"
#include "log.h"
#include "preloader.h"
#include "request.h"

#define REQ_HEADER_NAME_MAX  256
#define REQ_STDERR_LOG_MAX   512
#define REQ_DIRECT_RECORDS   16

/* from this size on, a write completes the open record without a copy */
#define REQ_DIRECT_MIN       8192


static int req_finish(drover_req_t *req, int ret);
static int req_commit_headers(drover_req_t *req);
static int req_stdout(drover_req_t *req, const uint8_t *data, size_t len);
static int req_stdout_complete(drover_req_t *req, const uint8_t *data,
    size_t n);
static int req_stdout_direct(drover_req_t *req, const uint8_t *data,
    size_t nrecords);
static void req_close_record(drover_req_t *req);
static int req_send(drover_req_t *req);
static int req_alive(drover_req_t *req);
static int req_write(drover_req_t *req, struct iovec *iov, int iovcnt);
static void req_preread(drover_req_t *req);
static void req_timeout_arm(drover__worker_t *w, drover_req_t *req);
static void req_timeout_disarm(drover__worker_t *w);
static void req_timeout_alarm(int signo);
static long req_gmtoff(void);
static const char *req_scratch(drover_req_t *req, const char *a, size_t alen,
    const char *b, size_t blen);
static const char *req_reason(int status);
static ssize_t req_pct_decode(const char *s, size_t len, char *dst,
    size_t size, int form);
static int req_param_dropped(const char *name, size_t len);
static char *req_scratch_reserve(drover_req_t *req, size_t need);
static const char *req_path_normalize(drover_req_t *req, const char *uri,
    size_t len);


int
drover__request_run(drover__worker_t *w, drover__conn_t *c)
{
    int            rc, ret;
    size_t         n;
    drover_req_t  *req;

    req = &w->req;
    memset(req, 0, sizeof(*req));
    req->worker = w;
    req->conn = c;
    req->id = c->req_id;
    req->status = 200;

    w->out_len = 0;
    w->rec_len = 0;
    w->hdrs_len = 0;

    rc = drover_fcgi_params_decode(c->params, c->params_len, w->params,
                                   DROVER_FCGI_PARAMS_COUNT_MAX, &n);
    if (rc != 0) {
        drover__worker_log(w, DROVER_LOG_ERROR, 0,
                           "%s params of request %u from the front end, "
                           "closing connection",
                           rc == -E2BIG ? "too many" : "malformed", req->id);
        c->broken = 1;
        return -1;
    }

    req->params = w->params;
    req->nparams = n;
    c->req_phase = DROVER__REQ_RUNNING;

    /*
     * DROVER_WITHDRAWABLE: Drover's module, on a slot socket, may take
     * this request back while it waits in the socket (drover_pipeline), by
     * shutting the connection's sending side, if it sees bytes of it still
     * unread.  So the request is read whole first (its body is at most
     * 64 KiB), then run only if that side is still open: a request whose
     * last byte was read after the shutdown went to another worker.
     */
    if (c->slot && drover_req_param(req, "DROVER_WITHDRAWABLE") != NULL) {
        req->pre_checked = 1;

        if (!c->stdin_eof) {
            req_preread(req);
        }

        if (c->broken) {
            rc = -1;
            goto done;
        }

        if (c->stdin_eof && drover__conn_peer_shut(c)) {
            rc = DROVER__REQ_WITHDRAWN;
            goto done;
        }
    }

    req_timeout_arm(w, req);
    drover_sb_begin(w->args->sb, drover_req_param(req, "REQUEST_URI"));

    ret = w->args->app->handle(req, w->args->app_state);

    drover_sb_end(w->args->sb);
    req_timeout_disarm(w);

    req->finishing = 1;
    rc = req_finish(req, ret);

done:

    free(req->body);
    req->body = NULL;
    free(req->pre);
    req->pre = NULL;

    return rc;
}


static int
req_finish(drover_req_t *req, int ret)
{
    size_t             len;
    uint8_t           *p;
    drover__conn_t    *c;
    drover__worker_t  *w;

    static const char  body500[] = "500 Internal Server Error\n";

    c = req->conn;
    w = req->worker;

    if (c->broken) {
        return -1;
    }

    if (c->aborted) {
        /* 5.4: an aborted request still ends with END_REQUEST */
        w->out_len = 0;
        w->rec_len = 0;

    } else {
        if (ret < 0 && !req->headers_sent) {
            drover__worker_log(w, DROVER_LOG_ERROR, 0,
                               "app failed request %s (%d), sending 500",
                               drover_req_uri(req), ret);

            w->hdrs_len = 0;
            req->content_type_set = 0;
            req->status = 500;

            if (req_commit_headers(req) != 0
                || req_stdout(req, (const uint8_t *) body500,
                              sizeof(body500) - 1) != 0)
            {
                return -1;
            }
        }

        if (req_commit_headers(req) != 0) {
            return -1;
        }

        req_close_record(req);

        /* 5.3: an empty record ends the FCGI_STDOUT stream */
        drover_fcgi_header_encode(w->out + w->out_len, DROVER_FCGI_STDOUT,
                                  req->id, 0, 0);
        w->out_len += DROVER_FCGI_HEADER_LEN;
    }

    p = w->out + w->out_len;
    drover_fcgi_header_encode(p, DROVER_FCGI_END_REQUEST, req->id,
                              DROVER_FCGI_BODY_LEN, 0);
    drover_fcgi_end_request_encode(p + DROVER_FCGI_HEADER_LEN,
                                   ret < 0 ? 1 : 0,
                                   DROVER_FCGI_REQUEST_COMPLETE);
    len = DROVER_FCGI_HEADER_LEN + DROVER_FCGI_BODY_LEN;
    w->out_len += len;

    return req_send(req);
}


/* 0 while the response can go out; aborted requests swallow it */
static int
req_alive(drover_req_t *req)
{
    if (req->conn->broken) {
        return -1;
    }

    return req->conn->aborted ? 1 : 0;
}


/* ---- request_timeout ---- */

/*
 * The request a SIGALRM interrupts.  A signal handler has no other way to
 * reach it; one request is in the app at a time, so one pointer suffices.
 */
static drover_req_t *volatile  req_timeout_current;

/*
 * The local time's offset from UTC in seconds, for the handler's log line:
 * localtime_r() and even gmtime_r() take glibc's tz lock, which the app
 * may hold when the alarm fires (it was inside localtime_r()), so the
 * handler adds this to CLOCK_REALTIME itself.  Refreshed once a minute
 * when a request is armed, so a DST change shows within a minute.
 */
static volatile long           req_timeout_gmtoff;
static uint64_t                req_timeout_gmtoff_next;


int
drover__request_timeout_init(drover__worker_t *w)
{
    struct sigaction  sa;

    if (w->pool->request_timeout_ms == 0) {
        return 0;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = req_timeout_alarm;
    sigfillset(&sa.sa_mask);

    return sigaction(SIGALRM, &sa, NULL) == 0 ? 0 : -errno;
}


static void
req_timeout_arm(drover__worker_t *w, drover_req_t *req)
{
    struct itimerval  it;
    unsigned          ms = w->pool->request_timeout_ms;

    if (ms == 0) {
        return;
    }

    req_timeout_current = req;

    if (uv_now(&w->loop) >= req_timeout_gmtoff_next) {
        req_timeout_gmtoff_next = uv_now(&w->loop) + 60000;
        req_timeout_gmtoff = req_gmtoff();
    }

    memset(&it, 0, sizeof(it));
    it.it_value.tv_sec = ms / 1000;
    it.it_value.tv_usec = (ms % 1000) * 1000;
    setitimer(ITIMER_REAL, &it, NULL);
}


static void
req_timeout_disarm(drover__worker_t *w)
{
    struct itimerval  it;

    if (w->pool->request_timeout_ms == 0) {
        return;
    }

    memset(&it, 0, sizeof(it));
    setitimer(ITIMER_REAL, &it, NULL);
    req_timeout_current = NULL;
}


static long
req_gmtoff(void)
{
    time_t     now;
    struct tm  tm;

    now = time(NULL);

    return localtime_r(&now, &tm) != NULL ? tm.tm_gmtoff : 0;
}


/*
 * Seconds since the epoch to the civil date and time, with integer
 * arithmetic only (async-signal-safe): days are counted in 400-year eras
 * of 146097 days, each year starting on March 1 so the leap day is last.
 */
void
drover__request_civil_time(int64_t t, drover__civil_t *c)
{
    int64_t  days, secs, era, doe, yoe, doy, mp;

    days = t / 86400;
    secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }

    c->hour = (unsigned) (secs / 3600);
    c->min = (unsigned) (secs / 60 % 60);
    c->sec = (unsigned) (secs % 60);

    days += 719468;                     /* from 1970-01-01 to 0000-03-01 */
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = days - era * 146097;                              /* [0, 146096] */
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);          /* [0, 365] */
    mp = (5 * doy + 2) / 153;                               /* March = 0 */

    c->mday = (unsigned) (doy - (153 * mp + 2) / 5 + 1);
    c->mon = (unsigned) (mp < 10 ? mp + 3 : mp - 9);
    c->year = yoe + era * 400 + (c->mon <= 2);
}


/* async-signal-safe appends for the handler below */
static size_t
req_sig_str(char *buf, size_t len, size_t size, const char *s)
{
    while (s != NULL && *s != '\0' && len < size) {
        buf[len++] = *s++;
    }

    return len;
}


static size_t
req_sig_num(char *buf, size_t len, size_t size, unsigned long v,
    unsigned width)
{
    char      digits[24];
    unsigned  n = 0;

    do {
        digits[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0 && n < sizeof(digits));

    while (n < width && n < sizeof(digits)) {
        digits[n++] = '0';
    }

    while (n > 0 && len < size) {
        buf[len++] = digits[--n];
    }

    return len;
}


/*
 * The app is still in handle() past request_timeout.  The worker cannot
 * safely go on (the app may hold locks, half-built state): answer 504 if no
 * response byte left yet, log the URI and the time, and exit so the manager
 * starts a fresh worker.  Only async-signal-safe calls from here on: no
 * libc time conversion (glibc's gmtime_r and localtime_r both take the tz
 * lock, and an app looping in localtime_r would hang the worker for good).
 */
static void
req_timeout_alarm(int signo)
{
    int                len_int;
    size_t             len, n;
    uint8_t            out[256];
    drover__civil_t    tm;
    struct timespec    now;
    char               line[1024];
    drover_req_t      *req;
    drover__worker_t  *w;

    static const char  body[] = "Status: 504 Gateway Timeout\r\n"
                                "Content-Type: text/plain\r\n\r\n"
                                "504 Gateway Timeout: the app did not answer "
                                "within request_timeout\n";

    (void) signo;

    req = req_timeout_current;
    if (req == NULL) {
        return;
    }

    w = req->worker;

    /* clock_gettime is async-signal-safe (POSIX.1-2008 2.4.3) */
    clock_gettime(CLOCK_REALTIME, &now);
    drover__request_civil_time((int64_t) now.tv_sec + req_timeout_gmtoff,
                               &tm);

    len = 0;
    len = req_sig_num(line, len, sizeof(line), (unsigned long) tm.year, 4);
    len = req_sig_str(line, len, sizeof(line), "/");
    len = req_sig_num(line, len, sizeof(line), tm.mon, 2);
    len = req_sig_str(line, len, sizeof(line), "/");
    len = req_sig_num(line, len, sizeof(line), tm.mday, 2);
    len = req_sig_str(line, len, sizeof(line), " ");
    len = req_sig_num(line, len, sizeof(line), tm.hour, 2);
    len = req_sig_str(line, len, sizeof(line), ":");
    len = req_sig_num(line, len, sizeof(line), tm.min, 2);
    len = req_sig_str(line, len, sizeof(line), ":");
    len = req_sig_num(line, len, sizeof(line), tm.sec, 2);
    len = req_sig_str(line, len, sizeof(line), " [error] ");
    len = req_sig_num(line, len, sizeof(line), (unsigned long) getpid(), 1);
    len = req_sig_str(line, len, sizeof(line), "#0: pool ");
    len = req_sig_str(line, len, sizeof(line), w->pool->name);
    len = req_sig_str(line, len, sizeof(line), ": worker ");
    len = req_sig_num(line, len, sizeof(line), (unsigned long) w->slot, 1);
    len = req_sig_str(line, len, sizeof(line), ": request ");
    len = req_sig_str(line, len, sizeof(line), drover_req_param(req,
                                                         "REQUEST_URI"));
    len = req_sig_str(line, len, sizeof(line), " still in the app after ");
    len = req_sig_num(line, len, sizeof(line), w->pool->request_timeout_ms,
                      1);
    len = req_sig_str(line, len, sizeof(line), " ms (request_timeout): ");
    len = req_sig_str(line, len, sizeof(line), req->sent_any
                      ? "response already started, closing it"
                      : "answering 504");
    len = req_sig_str(line, len, sizeof(line), "; the worker exits and is "
                      "replaced");
    if (len >= sizeof(line)) {
        len = sizeof(line) - 1;
    }
    line[len++] = '\n';

    len_int = (int) write(STDERR_FILENO, line, len);
    (void) len_int;

    if (!req->sent_any && !req->conn->broken && !req->conn->aborted) {
        n = sizeof(body) - 1;
        drover_fcgi_header_encode(out, DROVER_FCGI_STDOUT, req->id,
                                  (unsigned) n,
                                  drover_fcgi_padding((unsigned) n));
        memcpy(out + DROVER_FCGI_HEADER_LEN, body, n);
        len = DROVER_FCGI_HEADER_LEN + n;
        memset(out + len, 0, drover_fcgi_padding((unsigned) n));
        len += drover_fcgi_padding((unsigned) n);

        drover_fcgi_header_encode(out + len, DROVER_FCGI_STDOUT, req->id, 0,
                                  0);
        len += DROVER_FCGI_HEADER_LEN;

        drover_fcgi_header_encode(out + len, DROVER_FCGI_END_REQUEST,
                                  req->id, DROVER_FCGI_BODY_LEN, 0);
        drover_fcgi_end_request_encode(out + len + DROVER_FCGI_HEADER_LEN, 1,
                                       DROVER_FCGI_REQUEST_COMPLETE);
        len += DROVER_FCGI_HEADER_LEN + DROVER_FCGI_BODY_LEN;

        len_int = (int) send(req->conn->fd, out, len,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
        (void) len_int;
    }

    _exit(DROVER_EXIT_TIMEOUT);
}


/* ---- the response in FCGI_STDOUT records ---- */

/*
 * Every response byte leaves through here.  The first time, while the app
 * is still in handle() and the body has not all arrived, take the rest of
 * the body in first: nginx stops sending the request body as soon as it
 * has the response header (ngx_http_upstream_send_response), so an app
 * that echoes or answers early would otherwise wait for the body forever.
 */
static int
req_write(drover_req_t *req, struct iovec *iov, int iovcnt)
{
    if (!req->pre_checked) {
        req->pre_checked = 1;

        if (!req->finishing && !req->conn->stdin_eof) {
            req_preread(req);
        }
    }

    if (drover__conn_writev(req->conn, iov, iovcnt) != 0) {
        return -1;
    }

    req->sent_any = 1;
    return 0;
}


static void
req_preread(drover_req_t *req)
{
    size_t    cap;
    ssize_t   n;
    uint8_t  *p;
    uint8_t   first[2048];

    req->pre_reading = 1;

    /* most requests have no body left (a GET's empty STDIN): no buffer */

    n = drover_req_read(req, first, sizeof(first));

    if (n <= 0) {
        req->pre_reading = 0;
        return;
    }

    cap = 65536;

    req->pre = malloc(cap);
    if (req->pre == NULL) {
        drover__worker_log(req->worker, DROVER_LOG_ERROR, ENOMEM,
                           "request %s: no memory for its body, closing "
                           "connection", drover_req_uri(req));
        req->conn->broken = 1;
        req->pre_reading = 0;
        return;
    }

    memcpy(req->pre, first, (size_t) n);
    req->pre_len = (size_t) n;

    while (req->pre_len < DROVER__PREREAD_MAX) {
        if (req->pre_len == cap) {
            cap = cap == 0 ? 65536 : cap * 2;
            if (cap > DROVER__PREREAD_MAX) {
                cap = DROVER__PREREAD_MAX;
            }

            p = realloc(req->pre, cap);
            if (p == NULL) {
                break;
            }

            req->pre = p;
        }

        n = drover_req_read(req, req->pre + req->pre_len, cap - req->pre_len);
        if (n <= 0) {
            break;
        }

        req->pre_len += (size_t) n;
    }

    req->pre_reading = 0;

    if (!req->conn->stdin_eof && !req->conn->broken && !req->conn->aborted) {
        drover__worker_log(req->worker, DROVER_LOG_INFO, 0,
                           "request %s answers before reading a body over "
                           "%d bytes: a front end that stops sending the "
                           "body once it has the response (nginx) may "
                           "stall", drover_req_uri(req),
                           DROVER__PREREAD_MAX);
    }
}

/* header slot of the open record at out + out_len, content after it */
static void
req_close_record(drover_req_t *req)
{
    unsigned           pad;
    uint8_t           *p;
    drover__worker_t  *w;

    w = req->worker;

    if (w->rec_len == 0) {
        return;
    }

    p = w->out + w->out_len;
    pad = drover_fcgi_padding(w->rec_len);
    memset(p + DROVER_FCGI_HEADER_LEN + w->rec_len, 0, pad);
    drover_fcgi_header_encode(p, DROVER_FCGI_STDOUT, req->id, w->rec_len,
                              pad);

    w->out_len += DROVER_FCGI_HEADER_LEN + w->rec_len + pad;
    w->rec_len = 0;
}


static int
req_send(drover_req_t *req)
{
    int                rc;
    struct iovec       iov;
    drover__worker_t  *w;

    w = req->worker;

    req_close_record(req);

    if (w->out_len == 0) {
        return 0;
    }

    iov.iov_base = w->out;
    iov.iov_len = w->out_len;
    w->out_len = 0;

    rc = req_write(req, &iov, 1);

    return rc;
}


static int
req_stdout(drover_req_t *req, const uint8_t *data, size_t len)
{
    size_t             n;
    drover__worker_t  *w;

    w = req->worker;

    while (len > 0) {
        /* whole records straight from the app's memory: no copy */
        if (w->rec_len == 0 && len >= DROVER__OUT_RECORD_MAX) {
            n = len / DROVER__OUT_RECORD_MAX;
            if (n > REQ_DIRECT_RECORDS) {
                n = REQ_DIRECT_RECORDS;
            }

            if (req_stdout_direct(req, data, n) != 0) {
                return -1;
            }

            data += n * DROVER__OUT_RECORD_MAX;
            len -= n * DROVER__OUT_RECORD_MAX;
            continue;
        }

        /* a large write behind an open record (the headers): no copy */
        if (w->rec_len > 0 && len >= REQ_DIRECT_MIN) {
            n = DROVER__OUT_RECORD_MAX - w->rec_len;
            if (n > len) {
                n = len;
            }

            if (req_stdout_complete(req, data, n) != 0) {
                return -1;
            }

            data += n;
            len -= n;
            continue;
        }

        n = DROVER__OUT_RECORD_MAX - w->rec_len;
        if (n > len) {
            n = len;
        }

        memcpy(w->out + DROVER_FCGI_HEADER_LEN + w->rec_len, data, n);
        w->rec_len += n;
        data += n;
        len -= n;

        if (w->rec_len == DROVER__OUT_RECORD_MAX && req_send(req) != 0) {
            return -1;
        }
    }

    return 0;
}


/*
 * The open record, completed with n bytes of the app's memory, goes out
 * with whatever records precede it in w->out: one sendmsg(), no copy.
 */
static int
req_stdout_complete(drover_req_t *req, const uint8_t *data, size_t n)
{
    size_t             len;
    unsigned           pad;
    struct iovec       iov[3];
    drover__worker_t  *w;

    static const uint8_t  zeros[8];

    w = req->worker;
    len = w->rec_len + n;
    pad = drover_fcgi_padding(len);

    drover_fcgi_header_encode(w->out + w->out_len, DROVER_FCGI_STDOUT,
                              req->id, len, pad);

    iov[0].iov_base = w->out;
    iov[0].iov_len = w->out_len + DROVER_FCGI_HEADER_LEN + w->rec_len;
    iov[1].iov_base = (void *) data;
    iov[1].iov_len = n;
    iov[2].iov_base = (void *) zeros;
    iov[2].iov_len = pad;

    w->out_len = 0;
    w->rec_len = 0;

    return req_write(req, iov, 3);
}


static int
req_stdout_direct(drover_req_t *req, const uint8_t *data, size_t nrecords)
{
    size_t        i;
    uint8_t       headers[REQ_DIRECT_RECORDS][DROVER_FCGI_HEADER_LEN];
    struct iovec  iov[2 * REQ_DIRECT_RECORDS];

    for (i = 0; i < nrecords; i++) {
        drover_fcgi_header_encode(headers[i], DROVER_FCGI_STDOUT, req->id,
                                  DROVER__OUT_RECORD_MAX, 0);
        iov[2 * i].iov_base = headers[i];
        iov[2 * i].iov_len = DROVER_FCGI_HEADER_LEN;
        iov[2 * i + 1].iov_base = (void *) (data
                                            + i * DROVER__OUT_RECORD_MAX);
        iov[2 * i + 1].iov_len = DROVER__OUT_RECORD_MAX;
    }

    return req_write(req, iov, (int) (2 * nrecords));
}


/* "Status: 200 OK\r\n", the default Content-Type, the app's, "\r\n" */
static int
req_commit_headers(drover_req_t *req)
{
    char              *p;
    char               status[64];
    size_t             n;
    const char        *reason;
    drover__worker_t  *w;

    static const char  ct[] = "Content-Type: text/plain\r\n";

    if (req->headers_sent) {
        return 0;
    }

    req->headers_sent = 1;
    w = req->worker;

    /* "Status: NNN Reason\r\n" by hand: once per request, no printf */
    reason = req_reason(req->status);
    n = strlen(reason);

    p = memcpy(status, "Status: ", 8);
    p += 8;
    *p++ = (char) ('0' + req->status / 100);            /* 200..599 */
    *p++ = (char) ('0' + req->status / 10 % 10);
    *p++ = (char) ('0' + req->status % 10);

    if (n > 0) {
        *p++ = ' ';
        memcpy(p, reason, n);                      /* reasons are short */
        p += n;
    }

    *p++ = '\r';
    *p++ = '\n';

    if (req_stdout(req, (const uint8_t *) status, (size_t) (p - status)) != 0)
    {
        return -1;
    }

    if (!req->content_type_set
        && req_stdout(req, (const uint8_t *) ct, sizeof(ct) - 1) != 0)
    {
        return -1;
    }

    if (req_stdout(req, (const uint8_t *) w->hdrs, w->hdrs_len) != 0) {
        return -1;
    }

    return req_stdout(req, (const uint8_t *) "\r\n", 2);
}


static const char *
req_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default:  return "";
    }
}


DROVER_API int
drover_resp_status(drover_req_t *req, int status)
{
    /* 1xx are not final responses: a handler cannot send them */
    if (req->headers_sent || status < 200 || status > 599) {
        return -1;
    }

    req->status = status;

    return 0;
}


/* RFC 9110 5.6.2: token = 1*tchar */
static int
req_is_token(const char *s)
{
    if (*s == '\0') {
        return 0;
    }

    for ( ; *s; s++) {
        if (!isalnum((unsigned char) *s)
            && strchr("!#$%&'*+-.^_`|~", *s) == NULL)
        {
            return 0;
        }
    }

    return 1;
}


DROVER_API int
drover_resp_header(drover_req_t *req, const char *name, const char *value)
{
    size_t             nlen, vlen, need, cap;
    char              *p;
    drover__worker_t  *w;

    w = req->worker;

    if (req->headers_sent || !req_is_token(name)
        || strcasecmp(name, "Status") == 0 || strpbrk(value, "\r\n") != NULL)
    {
        return -1;
    }

    nlen = strlen(name);
    vlen = strlen(value);

    if (nlen + vlen > DROVER__RESP_HEADERS_MAX) {
        return -1;
    }

    need = w->hdrs_len + nlen + vlen + 4;
    if (need > DROVER__RESP_HEADERS_MAX) {
        return -1;
    }

    if (need > w->hdrs_cap) {
        cap = w->hdrs_cap ? w->hdrs_cap : 1024;
        while (cap < need) {
            cap *= 2;
        }

        p = realloc(w->hdrs, cap);
        if (p == NULL) {
            return -1;
        }

        w->hdrs = p;
        w->hdrs_cap = cap;
    }

    p = w->hdrs + w->hdrs_len;
    memcpy(p, name, nlen);
    p += nlen;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, vlen);
    p += vlen;
    *p++ = '\r';
    *p++ = '\n';
    w->hdrs_len = need;

    if (strcasecmp(name, "Content-Type") == 0) {
        req->content_type_set = 1;
    }

    return 0;
}


DROVER_API ssize_t
drover_resp_write(drover_req_t *req, const void *data, size_t len)
{
    int  rc;

    rc = req_alive(req);
    if (rc != 0) {
        return rc < 0 ? -1 : (ssize_t) len;
    }

    if (len == 0) {
        return 0;
    }

    if (req_commit_headers(req) != 0
        || req_stdout(req, data, len) != 0)
    {
        return -1;
    }

    return (ssize_t) len;
}


DROVER_API ssize_t
drover_resp_printf(drover_req_t *req, const char *fmt, ...)
{
    int                n, rc;
    char              *tmp;
    size_t             room;
    ssize_t            ret;
    va_list            ap, aq;
    drover__worker_t  *w;

    w = req->worker;

    rc = req_alive(req);
    if (rc < 0 || (rc == 0 && req_commit_headers(req) != 0)) {
        return -1;
    }

    va_start(ap, fmt);

    if (rc > 0) {
        /* aborted: measure only, the bytes go nowhere */
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        return n;
    }

    /* straight into the open record when it fits; the NUL lands in the
     * reserve after the record */
    room = DROVER__OUT_RECORD_MAX - w->rec_len;
    va_copy(aq, ap);
    n = vsnprintf((char *) w->out + DROVER_FCGI_HEADER_LEN + w->rec_len,
                  room + 1, fmt, aq);
    va_end(aq);

    if (n < 0) {
        va_end(ap);
        return -1;
    }

    if ((size_t) n <= room) {
        va_end(ap);
        w->rec_len += (size_t) n;

        if (w->rec_len == DROVER__OUT_RECORD_MAX && req_send(req) != 0) {
            return -1;
        }

        return n;
    }

    tmp = malloc((size_t) n + 1);
    if (tmp == NULL) {
        va_end(ap);
        return -1;
    }

    vsnprintf(tmp, (size_t) n + 1, fmt, ap);
    va_end(ap);

    ret = drover_resp_write(req, tmp, (size_t) n);
    free(tmp);

    return ret;
}


DROVER_API int
drover_resp_flush(drover_req_t *req)
{
    int  rc;

    rc = req_alive(req);
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    if (req_commit_headers(req) != 0 || req_send(req) != 0) {
        return -1;
    }

    return 0;
}


DROVER_API int
drover_req_stderr(drover_req_t *req, const char *data, size_t len)
{
    int                rc;
    size_t             n, shown;
    char               line[REQ_STDERR_LOG_MAX];
    uint8_t            header[DROVER_FCGI_HEADER_LEN];
    uint8_t            padding[8];
    unsigned           pad;
    struct iovec       iov[3];
    drover__worker_t  *w;

    w = req->worker;

    shown = len;
    while (shown > 0 && (data[shown - 1] == '\n' || data[shown - 1] == '\r')) {
        shown--;
    }

    if (shown > REQ_STDERR_LOG_MAX) {
        shown = REQ_STDERR_LOG_MAX;
    }

    /* one log line: inner line breaks and NULs become spaces */
    for (n = 0; n < shown; n++) {
        line[n] = (data[n] == '\n' || data[n] == '\r' || data[n] == '\0')
                  ? ' ' : data[n];
    }

    drover__worker_log(w, DROVER_LOG_WARN, 0, "app stderr: %.*s",
                       (int) shown, line);

    rc = req_alive(req);
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    /* an empty record would end the stream (5.3): send none */
    if (len == 0) {
        return 0;
    }

    /* what STDOUT holds goes first, so the two streams keep their order */
    if (req_send(req) != 0) {
        return -1;
    }

    memset(padding, 0, sizeof(padding));

    while (len > 0) {
        n = len > DROVER__OUT_RECORD_MAX ? DROVER__OUT_RECORD_MAX : len;
        pad = drover_fcgi_padding(n);
        drover_fcgi_header_encode(header, DROVER_FCGI_STDERR, req->id, n,
                                  pad);

        iov[0].iov_base = header;
        iov[0].iov_len = sizeof(header);
        iov[1].iov_base = (void *) data;
        iov[1].iov_len = n;
        iov[2].iov_base = padding;
        iov[2].iov_len = pad;

        if (req_write(req, iov, 3) != 0) {
            return -1;
        }

        data += n;
        len -= n;
    }

    return 0;
}


/* ---- the request body ---- */

DROVER_API ssize_t
drover_req_read(drover_req_t *req, void *buf, size_t len)
{
    size_t           n;
    drover__conn_t  *c;

    c = req->conn;

    /* what req_preread() took in comes first */
    if (req->pre_pos < req->pre_len && !req->pre_reading) {
        n = req->pre_len - req->pre_pos;
        if (n > len) {
            n = len;
        }

        memcpy(buf, req->pre + req->pre_pos, n);
        req->pre_pos += n;

        return (ssize_t) n;
    }

    for ( ;; ) {
        if (c->broken || c->aborted) {
            return -1;
        }

        if (c->stdin_eof || len == 0) {
            return 0;
        }

        if (c->in_pos == c->in_len && drover__conn_fill(c) != 0) {
            return -1;
        }

        if (drover__conn_pump(c, buf, len, &n) != 0) {
            return -1;
        }

        if (n > 0) {
            return (ssize_t) n;
        }
    }
}


DROVER_API ssize_t
drover_req_read_all(drover_req_t *req, size_t max, const char **body)
{
    char     *buf, *p;
    size_t    len, cap, limit;
    int64_t   cl;
    ssize_t   n;

    if (req->body != NULL) {
        *body = req->body;
        return (ssize_t) req->body_len;
    }

    *body = NULL;

    if (max > (size_t) SSIZE_MAX - 2) {
        max = (size_t) SSIZE_MAX - 2;
    }

    /* room for one byte past max (to see it is too long) and the NUL */
    limit = max + 2;
    cl = drover_req_content_length(req);

    if (cl >= 0 && (uint64_t) cl <= max) {
        cap = (size_t) cl + 2;
    } else {
        cap = limit < 16384 ? limit : 16384;
    }

    buf = malloc(cap);
    if (buf == NULL) {
        return -1;
    }

    len = 0;

    for ( ;; ) {
        if (len + 1 == cap) {
            if (cap == limit) {
                goto failed;
            }

            cap = (cap > limit / 2) ? limit : cap * 2;
            p = realloc(buf, cap);
            if (p == NULL) {
                goto failed;
            }

            buf = p;
        }

        n = drover_req_read(req, buf + len, cap - 1 - len);
        if (n < 0) {
            goto failed;
        }

        if (n == 0) {
            break;
        }

        len += (size_t) n;

        if (len > max) {
            goto failed;
        }
    }

    buf[len] = '\0';
    req->body = buf;
    req->body_len = len;
    *body = buf;

    return (ssize_t) len;

failed:

    free(buf);
    return -1;
}


DROVER_API int64_t
drover_req_content_length(drover_req_t *req)
{
    int64_t      v;
    const char  *s;

    s = drover_req_param(req, "CONTENT_LENGTH");
    if (s == NULL || *s == '\0') {
        return -1;
    }

    for (v = 0; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10) {
            return -1;
        }

        v = v * 10 + (*s - '0');
    }

    return v;
}


/* ---- parameters ---- */

/*
 * httpoxy (CVE-2016-5385): a client's "Proxy:" header arrives as
 * HTTP_PROXY, the name HTTP clients read their proxy from (RFC 3875
 * 4.1.18 maps every header to HTTP_*), so a client could send the app's
 * outgoing requests through its own host.  Stock nginx passes it; PHP
 * drops it, and so do we, whatever its value (empty too).  An app reaches
 * parameters only through drover_req_param (drover_req_header and the
 * accessors call it) and drover_req_param_next, and both skip it: no pass
 * over the parameters per request, one length compare per lookup.
 */
static int
req_param_dropped(const char *name, size_t len)
{
    return len == sizeof("HTTP_PROXY") - 1
           && memcmp(name, "HTTP_PROXY", sizeof("HTTP_PROXY") - 1) == 0;
}


DROVER_API drover_ctx_t *
drover_req_ctx(drover_req_t *req)
{
    return req->worker->args->ctx;
}


DROVER_API const char *
drover_req_param(drover_req_t *req, const char *name)
{
    size_t  i, len;

    len = strlen(name);

    if (req_param_dropped(name, len)) {
        return NULL;
    }

    for (i = 0; i < req->nparams; i++) {
        if (req->params[i].name_len == len
            && memcmp(req->params[i].name, name, len) == 0)
        {
            return req->params[i].value;
        }
    }

    return NULL;
}


DROVER_API int
drover_req_param_next(drover_req_t *req, size_t *iter, const char **name,
    const char **value)
{
    while (*iter < req->nparams
           && req_param_dropped(req->params[*iter].name,
                                req->params[*iter].name_len))
    {
        (*iter)++;
    }

    if (*iter >= req->nparams) {
        return 0;
    }

    *name = req->params[*iter].name;
    *value = req->params[*iter].value;
    (*iter)++;

    return 1;
}


DROVER_API const char *
drover_req_header(drover_req_t *req, const char *name)
{
    char    key[5 + REQ_HEADER_NAME_MAX + 1];
    char   *p;
    size_t  len, i;

    len = strlen(name);
    if (len == 0 || len > REQ_HEADER_NAME_MAX) {
        return NULL;
    }

    /* RFC 3875 4.1.18: HTTP_ + upper case, "-" as "_" */
    memcpy(key, "HTTP_", 5);
    p = key + 5;

    for (i = 0; i < len; i++) {
        p[i] = (name[i] == '-') ? '_' : (char) toupper((unsigned char) name[i]);
    }

    p[len] = '\0';

    /* these two come as their own CGI variables (4.1.2, 4.1.3) */
    if (strcmp(p, "CONTENT_TYPE") == 0 || strcmp(p, "CONTENT_LENGTH") == 0) {
        return drover_req_param(req, p);
    }

    return drover_req_param(req, key);
}


DROVER_API const char *
drover_req_method(drover_req_t *req)
{
    const char  *m;

    m = drover_req_param(req, "REQUEST_METHOD");

    return m != NULL ? m : "GET";
}


DROVER_API const char *
drover_req_uri(drover_req_t *req)
{
    const char  *uri;

    uri = drover_req_param(req, "REQUEST_URI");

    return uri != NULL ? uri : drover_req_path(req);
}


/*
 * The path the front end routed on (drover.h says why to route on it):
 * DOCUMENT_URI (nginx: $document_uri, its decoded and normalised $uri),
 * else SCRIPT_NAME + PATH_INFO (RFC 3875 4.1.13, 4.1.5: both decoded), as
 * the front end sent them.  Only a client that sends neither (a bare
 * FastCGI client) gets its REQUEST_URI path decoded and normalised here
 * the way nginx makes $uri.  Never the raw REQUEST_URI: "/x/../admin" and
 * "/%61dmin" would reach a prefix-routing app as paths the front end's
 * access rules never saw.
 */
DROVER_API const char *
drover_req_path(drover_req_t *req)
{
    size_t       slen, ilen;
    const char  *script, *info, *uri;

    if (req->path != NULL) {
        return req->path;
    }

    req->path = drover_req_param(req, "DOCUMENT_URI");

    if (req->path == NULL || *req->path == '\0') {
        script = drover_req_param(req, "SCRIPT_NAME");
        info = drover_req_param(req, "PATH_INFO");
        slen = (script != NULL) ? strlen(script) : 0;
        ilen = (info != NULL) ? strlen(info) : 0;

        if (slen != 0 && ilen == 0) {
            req->path = script;

        } else if (slen + ilen != 0) {
            req->path = req_scratch(req, script, slen, info, ilen);

        } else if ((uri = drover_req_param(req, "REQUEST_URI")) != NULL) {
            req->path = req_path_normalize(req, uri, strcspn(uri, "?#"));
        }
    }

    if (req->path == NULL || *req->path == '\0') {
        req->path = "/";
    }

    return req->path;
}


DROVER_API const char *
drover_req_query(drover_req_t *req)
{
    const char  *q, *uri;

    if (req->query != NULL) {
        return req->query;
    }

    q = drover_req_param(req, "QUERY_STRING");

    if (q == NULL) {
        uri = drover_req_param(req, "REQUEST_URI");
        q = (uri != NULL) ? strchr(uri, '?') : NULL;
        q = (q != NULL) ? q + 1 : "";
    }

    req->query = q;

    return q;
}


DROVER_API ssize_t
drover_req_arg(drover_req_t *req, const char *name, char *buf, size_t size)
{
    char         key[256];
    size_t       klen;
    ssize_t      n;
    const char  *p, *amp, *eq, *end;

    p = drover_req_query(req);

    for ( ; *p; p = (*amp == '&') ? amp + 1 : amp) {
        amp = strchr(p, '&');
        if (amp == NULL) {
            amp = p + strlen(p);
        }

        eq = memchr(p, '=', (size_t) (amp - p));
        end = (eq != NULL) ? eq : amp;
        klen = (size_t) (end - p);

        n = req_pct_decode(p, klen, key, sizeof(key), 1);
        if (n < 0 || strlen(name) != (size_t) n
            || memcmp(key, name, (size_t) n) != 0)
        {
            continue;
        }

        if (eq == NULL) {
            if (size == 0) {
                return -1;
            }

            buf[0] = '\0';
            return 0;
        }

        return req_pct_decode(eq + 1, (size_t) (amp - eq - 1), buf, size,
                              1);
    }

    return -1;
}


static int
req_hex(int ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }

    ch |= 0x20;

    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }

    return -1;
}


/*
 * "%XY" a byte, a malformed "%" stays itself.  In a form (query) "+" is a
 * space; in a path "+" is itself and "%00" stays as written (decoding it
 * would cut the C string short).
 */
static ssize_t
req_pct_decode(const char *s, size_t len, char *dst, size_t size, int form)
{
    int     hi, lo;
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (n + 1 >= size) {
            return -1;
        }

        if (form && s[i] == '+') {
            dst[n++] = ' ';
            continue;
        }

        if (s[i] == '%' && len - i > 2
            && (hi = req_hex((unsigned char) s[i + 1])) >= 0
            && (lo = req_hex((unsigned char) s[i + 2])) >= 0
            && (form || (hi | lo) != 0))
        {
            dst[n++] = (char) ((hi << 4) | lo);
            i += 2;
            continue;
        }

        dst[n++] = s[i];
    }

    if (size == 0) {
        return -1;
    }

    dst[n] = '\0';

    return (ssize_t) n;
}


/* room for need bytes in the worker's scratch buffer (one user: path) */
static char *
req_scratch_reserve(drover_req_t *req, size_t need)
{
    char              *p;
    drover__worker_t  *w;

    w = req->worker;

    if (need > w->scratch_cap) {
        p = realloc(w->scratch, need);
        if (p == NULL) {
            return NULL;
        }

        w->scratch = p;
        w->scratch_cap = need;
    }

    return w->scratch;
}


/* a + b NUL-terminated in the worker's scratch buffer */
static const char *
req_scratch(drover_req_t *req, const char *a, size_t alen, const char *b,
    size_t blen)
{
    char  *p;

    p = req_scratch_reserve(req, alen + blen + 1);
    if (p == NULL) {
        return NULL;
    }

    if (alen != 0) {
        memcpy(p, a, alen);
    }
    if (blen != 0) {
        memcpy(p + alen, b, blen);
    }
    p[alen + blen] = '\0';

    return p;
}


/*
 * The path of a raw request target, as nginx makes $uri of it
 * (ngx_http_parse_complex_uri): "%XX" decoded first, so "%2e%2e" is ".."
 * and "%2f" is "/"; then "//" merged, "." segments dropped and ".."
 * segments resolved (RFC 3986 5.2.4), never above "/".  A "%00" and a "%"
 * without two hex digits stay as written (nginx refuses both with 400;
 * decoding "%00" would cut the C string short).  Unlike a query, "+" is
 * not a space in a path.  The result never outgrows the input plus a
 * leading "/".
 */
static const char *
req_path_normalize(drover_req_t *req, const char *uri, size_t len)
{
    char     *d, *out;
    size_t    i, n, o, seg;
    ssize_t   dn;

    d = req_scratch_reserve(req, 2 * len + 2);
    if (d == NULL) {
        return NULL;
    }

    /* decoded into the upper half, normalised into the lower */
    out = d;
    d += len + 1;

    dn = req_pct_decode(uri, len, d, len + 1, 0);
    if (dn < 0) {
        return NULL;
    }

    n = (size_t) dn;

    /* invariant: out[0 .. o) ends with "/" before each segment */
    o = 0;
    out[o++] = '/';

    for (i = 0; i < n; ) {
        while (i < n && d[i] == '/') {
            i++;
        }

        seg = i;
        while (i < n && d[i] != '/') {
            i++;
        }

        seg = i - seg;

        if (seg == 0 || (seg == 1 && d[i - 1] == '.')) {
            continue;
        }

        if (seg == 2 && d[i - 2] == '.' && d[i - 1] == '.') {
            if (o > 1) {
                o--;
                while (out[o - 1] != '/') {
                    o--;
                }
            }

            continue;
        }

        memcpy(out + o, d + i - seg, seg);
        o += seg;

        if (i < n) {
            out[o++] = '/';
        }
    }

    out[o] = '\0';

    return out;
}
