/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * kit.c -- the test app: one route per behaviour the t/ tests need.
 *
 *   /                 "hello\n"
 *   /pid              the worker's pid, decimal, "\n"
 *   /params           every FastCGI parameter as one JSON object
 *   /echo             the request body back, streamed, same Content-Type
 *   /sleep?ms=N       sleeps N ms (wall clock), then "slept N ms\n"
 *   /crash            dies of a real SIGSEGV (a store through NULL);
 *                     ?ms=N sleeps N ms first
 *   /exit?code=N      _exit(N) in the middle of the request
 *   /leak?kb=N        allocates N KiB, writes every page, never frees it
 *   /big?kb=N         N KiB of the pattern described at kit_big()
 *   /status?code=N    answers with status N and a short body
 *   /stderr?lines=N   N lines "kit stderr line K\n" (K = 1..N) to FastCGI
 *                     stderr, then "ok\n"
 *   /cpu?ms=N         spins until this worker used N ms of CPU
 *   /peek?n=N         reads the first N bytes of the body (or all of a
 *                     shorter one) and no more, then "peeked M\n"
 *   /localtime?ms=N   calls localtime_r() in a loop for N ms (wall clock),
 *                     then "localtime N ms\n": request_timeout's alarm
 *                     lands inside glibc's tz lock
 *   /tzlock           holds glibc's tz lock for good: TZ names the read
 *                     end of an empty pipe and tzset() blocks reading it,
 *                     inside the lock (for request_timeout's handler)
 *   /nonblock-stderr  sets O_NONBLOCK on fd 2 (and so on the open file
 *                     description it shares), writes 64 lines (3968 B) to
 *                     it, then "wrote N bytes to stderr, M lost\n"
 *   /fds              the worker's open fds, "N TARGET\n" each
 *   /sched?to=P       tries to move this worker to scheduling policy P
 *                     (normal, batch, idle, fifo), as a hostile app would:
 *                     "to P: ok|ERROR, now Q\n"
 *   /fd1, /fd2        raw bytes to fd 1 / fd 2 (not FastCGI stderr):
 *                     ?text=T as given, ?bytes=N one line of N bytes,
 *                     ?lines=N N lines "kit fdF line K\n"
 *   anything else     404
 *
 * A missing or out-of-range N answers 400 and says the allowed range.
 *
 * App params, for supervision tests:
 *   app_param crash_on_start yes;   each worker dies of SIGSEGV in worker_init
 *   app_param fail_init yes;        init logs an error and fails
 *   app_param init_sleep_ms N;      init sleeps N ms first
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <drover.h>


#define KIT_MAX_MS      600000              /* 10 minutes */
#define KIT_MAX_KB      (1024 * 1024)       /* 1 GiB */
#define KIT_MAX_LINES   100000
#define KIT_ECHO_PIECE  16384
#define KIT_BIG_LINE    16                  /* bytes per pattern line */
#define KIT_BIG_CHUNK   65536               /* a multiple of KIT_BIG_LINE */


typedef int (*kit_route_pt)(drover_req_t *req);

typedef struct {
    const char    *path;
    kit_route_pt   handler;
} kit_route_t;


static int kit_root(drover_req_t *req);
static int kit_pid(drover_req_t *req);
static int kit_params(drover_req_t *req);
static int kit_whoami(drover_req_t *req);
static int kit_echo(drover_req_t *req);
static int kit_sleep(drover_req_t *req);
static int kit_crash(drover_req_t *req);
static int kit_exit(drover_req_t *req);
static int kit_leak(drover_req_t *req);
static int kit_big(drover_req_t *req);
static int kit_status(drover_req_t *req);
static int kit_stderr(drover_req_t *req);
static int kit_cpu(drover_req_t *req);
static int kit_peek(drover_req_t *req);
static int kit_localtime(drover_req_t *req);
static int kit_tzlock(drover_req_t *req);
static int kit_nonblock_stderr(drover_req_t *req);
static int kit_fds(drover_req_t *req);
static int kit_sched(drover_req_t *req);
static int kit_fd1(drover_req_t *req);
static int kit_fd2(drover_req_t *req);


static const kit_route_t  kit_routes[] = {
    { "/",        kit_root },
    { "/pid",     kit_pid },
    { "/params",  kit_params },
    { "/whoami",  kit_whoami },
    { "/echo",    kit_echo },
    { "/sleep",   kit_sleep },
    { "/crash",   kit_crash },
    { "/exit",    kit_exit },
    { "/leak",    kit_leak },
    { "/big",     kit_big },
    { "/status",  kit_status },
    { "/stderr",  kit_stderr },
    { "/cpu",     kit_cpu },
    { "/peek",    kit_peek },
    { "/localtime", kit_localtime },
    { "/tzlock",  kit_tzlock },
    { "/nonblock-stderr", kit_nonblock_stderr },
    { "/fds",     kit_fds },
    { "/sched",   kit_sched },
    { "/fd1",     kit_fd1 },
    { "/fd2",     kit_fd2 },
};


/*
 * Every /leak block starts with a pointer to the previous one, so the
 * blocks stay reachable: LeakSanitizer does not report them at exit, yet
 * nothing ever frees them.
 */
static void  *kit_leaked;


/* ---- helpers ---- */

static int
kit_reply(drover_req_t *req, int status, const char *fmt, ...)
    DROVER_PRINTF(3, 4);

static int
kit_reply(drover_req_t *req, int status, const char *fmt, ...)
{
    char     buf[512];
    int      n;
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);

    if (n < 0) {
        return -1;
    }

    if ((size_t) n >= sizeof(buf)) {
        n = sizeof(buf) - 1;
    }

    if (drover_resp_status(req, status) != 0) {
        return -1;
    }

    return drover_resp_write(req, buf, n) == n ? 0 : -1;
}


/*
 * The query argument NAME as a decimal integer in [min, max].  Returns 0,
 * or answers 400 naming the range and returns 1: the request is done.
 */
static int
kit_arg_int(drover_req_t *req, const char *name, long long min,
    long long max, long long *out)
{
    char        buf[32], *end;
    long long   v;

    if (drover_req_arg(req, name, buf, sizeof(buf)) <= 0) {
        goto bad;
    }

    errno = 0;
    v = strtoll(buf, &end, 10);

    if (errno != 0 || *end != '\0' || v < min || v > max) {
        goto bad;
    }

    *out = v;
    return 0;

bad:

    (void) kit_reply(req, 400, "kit: %s needs \"?%s=N\" with N in %lld..%lld\n",
                     drover_req_path(req), name, min, max);
    return 1;
}


static uint64_t
kit_ms_between(const struct timespec *a, const struct timespec *b)
{
    return (uint64_t) (b->tv_sec - a->tv_sec) * 1000
           + (b->tv_nsec - a->tv_nsec) / 1000000;
}


/* sleeps the full MS, resuming after signal handlers (a graceful stop
   lets the request finish) */
static void
kit_sleep_ms(long long ms)
{
    struct timespec  ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000;

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        /* ts holds the remaining time */
    }
}


/* "yes" -> 1, "no" or unset -> 0, anything else -> -1 */
static int
kit_param_flag(drover_ctx_t *ctx, const char *name)
{
    const char  *v = drover_app_param(ctx, name);

    if (v == NULL || strcmp(v, "no") == 0) {
        return 0;
    }

    if (strcmp(v, "yes") == 0) {
        return 1;
    }

    drover_log(ctx, DROVER_LOG_ERROR,
               "kit: app_param %s must be \"yes\" or \"no\", got \"%s\"",
               name, v);
    return -1;
}


/*
 * A genuine segmentation fault, not raise(): the supervisor must see a
 * process killed by SIGSEGV, with a core where core dumps are enabled.
 * The handler goes back to SIG_DFL first because AddressSanitizer installs
 * its own SIGSEGV handler, which would exit(1) instead; the sanitizers'
 * checks are off here for the same reason.  The pointer itself is
 * volatile, so the compiler cannot prove it null and turn the store into a
 * trap, and the target is volatile, so the store is not dropped as dead.
 */
__attribute__((no_sanitize("address", "undefined"), noreturn))
static void
kit_segfault(void)
{
    volatile int *volatile  p = NULL;

    signal(SIGSEGV, SIG_DFL);
    *p = 1;

    abort();    /* not reached */
}


/* ---- routes ---- */

static int
kit_root(drover_req_t *req)
{
    /* the same work as bench/'s libfcgi peer: a constant, no formatting */
    return drover_resp_write(req, "hello\n", 6) == 6 ? 0 : -1;
}


static int
kit_pid(drover_req_t *req)
{
    return kit_reply(req, 200, "%ld\n", (long) getpid());
}


static const char *
kit_policy_name(int policy)
{
    switch (policy & ~SCHED_RESET_ON_FORK) {
    case SCHED_OTHER:
        return "normal";
    case SCHED_BATCH:
        return "batch";
    case SCHED_IDLE:
        return "idle";
    case SCHED_FIFO:
        return "fifo";
    case SCHED_RR:
        return "rr";
    default:
        return "other";
    }
}


static int
kit_sched(drover_req_t *req)
{
    int                 policy, rc;
    char                to[16];
    struct sched_param  sp;

    if (drover_req_arg(req, "to", to, sizeof(to)) < 0) {
        return kit_reply(req, 400, "kit: /sched needs ?to=normal|batch|idle|"
                         "fifo\n");
    }

    memset(&sp, 0, sizeof(sp));

    if (strcmp(to, "normal") == 0) {
        policy = SCHED_OTHER;
    } else if (strcmp(to, "batch") == 0) {
        policy = SCHED_BATCH;
    } else if (strcmp(to, "idle") == 0) {
        policy = SCHED_IDLE;
    } else if (strcmp(to, "fifo") == 0) {
        policy = SCHED_FIFO;
        sp.sched_priority = 1;
    } else {
        return kit_reply(req, 400, "kit: /sched needs ?to=normal|batch|idle|"
                         "fifo\n");
    }

    rc = sched_setscheduler(0, policy, &sp);

    return kit_reply(req, 200, "to %s: %s, now %s\n", to,
                     rc == 0 ? "ok" : strerror(errno),
                     kit_policy_name(sched_getscheduler(0)));
}


/*
 * /whoami and anything under /whoami/: the path the SDK routes on, the raw
 * target, and the front end's path parameters, as JSON (null when absent).
 */
static int
kit_whoami(drover_req_t *req)
{
    int           rc = -1;
    size_t        i;
    const char   *text, *value;
    json_object  *obj, *str;

    static const char  *const names[] = {
        "DOCUMENT_URI", "SCRIPT_NAME", "PATH_INFO"
    };

    obj = json_object_new_object();
    if (obj == NULL) {
        return -1;
    }

    if (json_object_object_add(obj, "path",
                json_object_new_string(drover_req_path(req))) != 0
        || json_object_object_add(obj, "uri",
                json_object_new_string(drover_req_uri(req))) != 0)
    {
        goto done;
    }

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        value = drover_req_param(req, names[i]);
        str = (value != NULL) ? json_object_new_string(value) : NULL;

        if (json_object_object_add(obj, names[i], str) != 0) {
            json_object_put(str);
            goto done;
        }
    }

    text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN
                                          | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (text == NULL
        || drover_resp_header(req, "Content-Type", "application/json") != 0
        || drover_resp_printf(req, "%s\n", text) < 0)
    {
        goto done;
    }

    rc = 0;

done:

    json_object_put(obj);
    return rc;
}


static int
kit_params(drover_req_t *req)
{
    int                 rc = -1;
    size_t              i = 0;
    const char         *name, *value, *text;
    json_object        *obj, *str;

    obj = json_object_new_object();
    if (obj == NULL) {
        return -1;
    }

    while (drover_req_param_next(req, &i, &name, &value)) {
        str = json_object_new_string(value);
        if (str == NULL || json_object_object_add(obj, name, str) != 0) {
            json_object_put(str);
            goto done;
        }
    }

    text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN
                                          | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (text == NULL
        || drover_resp_header(req, "Content-Type", "application/json") != 0)
    {
        goto done;
    }

    if (drover_resp_write(req, text, strlen(text)) < 0
        || drover_resp_write(req, "\n", 1) < 0)
    {
        goto done;
    }

    rc = 0;

done:

    json_object_put(obj);
    return rc;
}


/* streams: each piece read is written back before the next read */
static int
kit_echo(drover_req_t *req)
{
    char         buf[KIT_ECHO_PIECE];
    ssize_t      n;
    const char  *type = drover_req_param(req, "CONTENT_TYPE");

    if (type != NULL && type[0] != '\0'
        && drover_resp_header(req, "Content-Type", type) != 0)
    {
        return -1;
    }

    while ((n = drover_req_read(req, buf, sizeof(buf))) > 0) {
        if (drover_resp_write(req, buf, n) != n) {
            return -1;
        }
    }

    return n == 0 ? 0 : -1;
}


static int
kit_sleep(drover_req_t *req)
{
    long long  ms;

    if (kit_arg_int(req, "ms", 0, KIT_MAX_MS, &ms) != 0) {
        return 0;
    }

    kit_sleep_ms(ms);

    return kit_reply(req, 200, "slept %lld ms\n", ms);
}


static int
kit_peek(drover_req_t *req)
{
    char       buf[KIT_ECHO_PIECE];
    size_t     want;
    ssize_t    n;
    long long  total, max;

    if (kit_arg_int(req, "n", 0, (long long) KIT_MAX_KB * 1024, &max) != 0) {
        return 0;
    }

    for (total = 0; total < max; total += n) {
        want = (size_t) (max - total);
        if (want > sizeof(buf)) {
            want = sizeof(buf);
        }

        n = drover_req_read(req, buf, want);
        if (n <= 0) {
            break;
        }
    }

    return kit_reply(req, 200, "peeked %lld\n", total);
}


static int
kit_localtime(drover_req_t *req)
{
    time_t           now;
    struct tm        tm;
    long long        ms, calls;
    struct timespec  start, ts;

    if (kit_arg_int(req, "ms", 0, KIT_MAX_MS, &ms) != 0) {
        return 0;
    }

    clock_gettime(CLOCK_MONOTONIC, &start);
    calls = 0;

    do {
        now = time(NULL);
        localtime_r(&now, &tm);
        calls++;
        clock_gettime(CLOCK_MONOTONIC, &ts);
    } while ((ts.tv_sec - start.tv_sec) * 1000
             + (ts.tv_nsec - start.tv_nsec) / 1000000 < ms);

    return kit_reply(req, 200, "localtime %lld ms, %lld calls\n", ms, calls);
}


static int
kit_tzlock(drover_req_t *req)
{
    int   fds[2];
    char  tz[64];

    if (pipe(fds) != 0) {
        return kit_reply(req, 500, "pipe: %s\n", strerror(errno));
    }

    /* the write end stays open: the read in tzset() never ends */
    snprintf(tz, sizeof(tz), ":/proc/self/fd/%d", fds[0]);

    if (setenv("TZ", tz, 1) != 0) {
        return kit_reply(req, 500, "setenv: %s\n", strerror(errno));
    }

    tzset();

    return kit_reply(req, 500, "tzset() returned\n");
}


static int
kit_crash(drover_req_t *req)
{
    char       buf[32];
    long long  ms;

    if (drover_req_arg(req, "ms", buf, sizeof(buf)) >= 0) {
        if (kit_arg_int(req, "ms", 0, KIT_MAX_MS, &ms) != 0) {
            return 0;
        }

        kit_sleep_ms(ms);
    }

    kit_segfault();
}


static int
kit_exit(drover_req_t *req)
{
    long long  code;

    if (kit_arg_int(req, "code", 0, 255, &code) != 0) {
        return 0;
    }

    _exit((int) code);
}


static int
kit_leak(drover_req_t *req)
{
    long long  kb;
    size_t     size, off;
    long       page = sysconf(_SC_PAGESIZE);
    char      *block;

    if (kit_arg_int(req, "kb", 1, KIT_MAX_KB, &kb) != 0) {
        return 0;
    }

    size = (size_t) kb * 1024;

    block = malloc(size);
    if (block == NULL) {
        return kit_reply(req, 507, "kit: cannot allocate %lld KiB\n", kb);
    }

    /* write every page so the memory is resident, not just reserved */
    for (off = 0; off < size; off += (size_t) page) {
        block[off] = (char) 0xa5;
    }

    memcpy(block, &kit_leaked, sizeof(void *));
    kit_leaked = block;

    return kit_reply(req, 200, "leaked %lld KiB\n", kb);
}


/*
 * The body is kb * 64 lines of 16 bytes: line L (from 0) is L as 15
 * lower-case hex digits, zero-padded, then "\n".  In Perl:
 *
 *     join '', map { sprintf "%015x\n", $_ } 0 .. $kb * 64 - 1
 *
 * Every line differs, so a lost, repeated or reordered piece shows.
 */
static void
kit_big_line(char *dst, uint64_t line)
{
    int  i;

    for (i = KIT_BIG_LINE - 2; i >= 0; i--) {
        dst[i] = "0123456789abcdef"[line & 0xf];
        line >>= 4;
    }

    dst[KIT_BIG_LINE - 1] = '\n';
}


static int
kit_big(drover_req_t *req)
{
    char       chunk[KIT_BIG_CHUNK];
    long long  kb;
    uint64_t   line, lines;
    size_t     len;

    if (kit_arg_int(req, "kb", 0, KIT_MAX_KB, &kb) != 0) {
        return 0;
    }

    lines = (uint64_t) kb * (1024 / KIT_BIG_LINE);
    line = 0;

    while (line < lines) {
        for (len = 0; len < KIT_BIG_CHUNK && line < lines; line++) {
            kit_big_line(chunk + len, line);
            len += KIT_BIG_LINE;
        }

        if (drover_resp_write(req, chunk, len) != (ssize_t) len) {
            return -1;
        }
    }

    return 0;
}


static int
kit_status(drover_req_t *req)
{
    long long  code;

    if (kit_arg_int(req, "code", 200, 599, &code) != 0) {
        return 0;
    }

    /* RFC 9110 15.3.5, 15.4.5: 204 and 304 never carry a body */
    if (code == 204 || code == 304) {
        return drover_resp_status(req, (int) code);
    }

    return kit_reply(req, (int) code, "status %lld\n", code);
}


static int
kit_stderr(drover_req_t *req)
{
    char       line[64];
    long long  lines, k;
    int        n;

    if (kit_arg_int(req, "lines", 0, KIT_MAX_LINES, &lines) != 0) {
        return 0;
    }

    for (k = 1; k <= lines; k++) {
        n = snprintf(line, sizeof(line), "kit stderr line %lld\n", k);

        if (drover_req_stderr(req, line, n) != 0) {
            return -1;
        }
    }

    return kit_reply(req, 200, "ok\n");
}


static int
kit_cpu(drover_req_t *req)
{
    long long                  ms;
    struct timespec            start, now;
    volatile unsigned long     spins = 0;

    if (kit_arg_int(req, "ms", 0, KIT_MAX_MS, &ms) != 0) {
        return 0;
    }

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);

    do {
        spins++;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    } while (kit_ms_between(&start, &now) < (uint64_t) ms);

    return kit_reply(req, 200, "spun %lld ms of cpu\n", ms);
}


/*
 * What some runtimes do to their stderr (peers test it: a worker whose
 * stderr became non-blocking must not be restarted in a loop).  The flag
 * is left set on purpose; writes that would block are counted as lost.
 */
static int
kit_nonblock_stderr(drover_req_t *req)
{
    char       line[64];
    int        flags, k, n;
    ssize_t    w;
    long long  wrote = 0, lost = 0;

    flags = fcntl(STDERR_FILENO, F_GETFL);
    if (flags == -1
        || fcntl(STDERR_FILENO, F_SETFL, flags | O_NONBLOCK) == -1)
    {
        return kit_reply(req, 500, "kit: fcntl(2, O_NONBLOCK): %s\n",
                         strerror(errno));
    }

    for (k = 1; k <= 64; k++) {
        n = snprintf(line, sizeof(line),
                     "kit nonblocking stderr line %02d %030d\n", k, 0);

        w = write(STDERR_FILENO, line, n);

        if (w > 0) {
            wrote += w;
        }

        lost += (w < 0) ? n : n - w;
    }

    return kit_reply(req, 200, "wrote %lld bytes to stderr, %lld lost\n",
                     wrote, lost);
}


/* the worker's open fds, "N TARGET" a line, from /proc/self/fd */
static int
kit_fds(drover_req_t *req)
{
    int             dfd;
    DIR            *d;
    char            out[8192], link[300], target[512];
    size_t          len;
    ssize_t         n;
    struct dirent  *e;

    d = opendir("/proc/self/fd");
    if (d == NULL) {
        return kit_reply(req, 500, "kit: opendir(/proc/self/fd): %s\n",
                         strerror(errno));
    }

    dfd = dirfd(d);
    len = 0;

    while ((e = readdir(d)) != NULL && len < sizeof(out) - 600) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dfd) {
            continue;
        }

        snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
        n = readlink(link, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';

        len += (size_t) snprintf(out + len, sizeof(out) - len, "%s %s\n",
                                 e->d_name, target);
    }

    closedir(d);

    if (drover_resp_status(req, 200) != 0) {
        return -1;
    }

    return drover_resp_write(req, out, len) == (ssize_t) len ? 0 : -1;
}


/*
 * Raw bytes to fd 1 or 2, as an app's printf() or a crash message would
 * go (not FastCGI stderr): ?text=T writes T as given (percent-decoded, so
 * newlines, ESC, a fake "[alert]"), ?bytes=N one line of N bytes, ?lines=N
 * N short lines.  Answers how many bytes went and how many were refused.
 */
static int
kit_fd_write(drover_req_t *req, int fd)
{
    char       text[4096], line[64];
    ssize_t    len, w;
    long long  n, k, wrote = 0, lost = 0;

    len = drover_req_arg(req, "text", text, sizeof(text));

    if (len >= 0) {
        w = write(fd, text, (size_t) len);
        wrote = w > 0 ? w : 0;
        lost = len - wrote;

    } else if (drover_req_arg(req, "bytes", line, sizeof(line)) > 0) {
        if (kit_arg_int(req, "bytes", 1, KIT_MAX_KB * 1024LL, &n) != 0) {
            return 0;
        }

        memset(text, 'x', sizeof(text));

        for (k = 0; k < n; k += w > 0 ? w : 0) {
            len = (ssize_t) (n - k < (long long) sizeof(text)
                             ? n - k : (long long) sizeof(text));
            w = write(fd, text, (size_t) len);
            if (w <= 0) {
                lost = n - k;
                break;
            }
            wrote += w;
        }

        if (write(fd, "\n", 1) == 1) {
            wrote++;
        }

    } else {
        if (kit_arg_int(req, "lines", 1, KIT_MAX_LINES, &n) != 0) {
            return 0;
        }

        for (k = 1; k <= n; k++) {
            len = snprintf(line, sizeof(line), "kit fd%d line %lld\n", fd, k);
            w = write(fd, line, (size_t) len);
            wrote += w > 0 ? w : 0;
            lost += w > 0 ? len - w : len;
        }
    }

    return kit_reply(req, 200, "wrote %lld bytes to fd %d, %lld lost\n",
                     wrote, fd, lost);
}


static int
kit_fd1(drover_req_t *req)
{
    return kit_fd_write(req, STDOUT_FILENO);
}


static int
kit_fd2(drover_req_t *req)
{
    return kit_fd_write(req, STDERR_FILENO);
}


/* ---- app hooks ---- */

static int
kit_init(drover_ctx_t *ctx, void **state)
{
    const char  *v;
    char        *end;
    long long    ms;

    *state = NULL;

    v = drover_app_param(ctx, "init_sleep_ms");
    if (v != NULL) {
        errno = 0;
        ms = strtoll(v, &end, 10);

        if (errno != 0 || end == v || *end != '\0' || ms < 0
            || ms > KIT_MAX_MS)
        {
            drover_log(ctx, DROVER_LOG_ERROR,
                       "kit: app_param init_sleep_ms needs 0..%d, got \"%s\"",
                       KIT_MAX_MS, v);
            return -1;
        }

        kit_sleep_ms(ms);
    }

    switch (kit_param_flag(ctx, "fail_init")) {
    case 0:
        break;
    case 1:
        drover_log(ctx, DROVER_LOG_ERROR,
                   "kit: init fails on purpose (app_param fail_init yes)");
        return -1;
    default:
        return -1;
    }

    return kit_param_flag(ctx, "crash_on_start") < 0 ? -1 : 0;
}


static int
kit_worker_init(drover_ctx_t *ctx, void *state)
{
    (void) state;

    if (kit_param_flag(ctx, "crash_on_start") == 1) {
        drover_log(ctx, DROVER_LOG_NOTICE,
                   "kit: worker %d crashes on start on purpose",
                   drover_worker_slot(ctx));
        kit_segfault();
    }

    return 0;
}


static int
kit_handle(drover_req_t *req, void *state)
{
    size_t       i;
    const char  *path = drover_req_path(req);

    (void) state;

    for (i = 0; i < sizeof(kit_routes) / sizeof(kit_routes[0]); i++) {
        if (strcmp(path, kit_routes[i].path) == 0) {
            return kit_routes[i].handler(req);
        }
    }

    if (strncmp(path, "/whoami/", 8) == 0) {
        return kit_whoami(req);
    }

    return kit_reply(req, 404, "kit: no route %s\n", path);
}


DROVER_APP(
    .name        = "kit",
    .init        = kit_init,
    .worker_init = kit_worker_init,
    .handle      = kit_handle,
);
