/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * request_timeout.c -- request_timeout: SIGALRM while the app runs, and the
 * async-signal-safe handler that logs and exits.
 */

#include <errno.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fcgi.h"
#include "preloader.h"
#include "request.h"


static void req_timeout_alarm(int signo);
static long req_gmtoff(void);


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


void
drover__request_timeout_arm(drover__worker_t *w, drover_req_t *req)
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


void
drover__request_timeout_disarm(drover__worker_t *w)
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
