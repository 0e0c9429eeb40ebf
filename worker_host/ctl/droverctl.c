/*
 * droverctl.c -- droverctl: talks to a running droverd through its control
 * socket (control.h has the protocol).
 *
 *   droverctl [-s SOCKET] [--json] COMMAND [ARGS]
 *
 * A plain blocking client: one connection, one JSON line out, one JSON
 * line back, every wait bounded by CTL_TIMEOUT_MS.  What droverd sends is
 * not trusted: any field may be missing, null or of another type, and
 * strings are shown with their control characters replaced, so a request
 * URI cannot drive the terminal.
 *
 * Exit codes: 0 done; 1 droverd answered with an error; 2 usage error;
 * 3 cannot connect; 4 protocol error (a bad answer, or none in time).
 */

#include "drover.h"          /* DROVER_PRINTF */
#include "control.h"         /* the protocol's constants */
#include "conf.h"            /* DROVER_CONF_MAX_WORKERS */
#include "version.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define CTL_OK             0
#define CTL_EANSWER        1        /* droverd said no */
#define CTL_EUSAGE         2
#define CTL_ECONNECT       3
#define CTL_EPROTOCOL      4

#define CTL_TIMEOUT_MS     10000
#define CTL_REPLY_MAX      (256u << 20)     /* a status of 256 big pools fits */
#define CTL_TOP_PERIOD_MS  1000
#define CTL_COLS           16
#define CTL_ENV_SOCKET     "DROVER_CONTROL"


typedef struct {
    const char   *path;
    int           fd;
    char         *buf;                      /* the answer being read */
    size_t        len;
    size_t        cap;
    char          err[1024];                /* why the last call failed */
} ctl_conn_t;

typedef struct {
    size_t        ncols;
    size_t        nrows;
    size_t        cap;
    char       *(*rows)[CTL_COLS];          /* malloc'd cells */
} ctl_table_t;


static volatile sig_atomic_t  ctl_quit;
static volatile sig_atomic_t  ctl_resized;
static struct termios         ctl_saved_tty;
static int                    ctl_tty_saved;
static int                    ctl_keys;     /* stdin is a terminal to read */
static int                    ctl_screen;   /* the alternate screen is on */


/* ---- small things ---- */

static void
ctl_oom(void)
{
    fputs("droverctl: out of memory\n", stderr);
    exit(CTL_EPROTOCOL);
}


static char *
ctl_fmt(const char *fmt, ...) DROVER_PRINTF(1, 2);

static char *
ctl_fmt(const char *fmt, ...)
{
    char     *s;
    va_list   ap;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        ctl_oom();
    }
    va_end(ap);

    return s;
}


static uint64_t
ctl_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


/* a copy of S fit for a terminal: control characters become '?' */
static char *
ctl_clean(const char *s)
{
    char    *out, *p;

    out = strdup(s);
    if (out == NULL) {
        ctl_oom();
    }

    for (p = out; *p != '\0'; p++) {
        if ((unsigned char) *p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }

    return out;
}


/* ---- reading droverd's JSON, which may lack anything ---- */

/* obj[key] when it is there and not null */
static json_object *
ctl_get(json_object *obj, const char *key)
{
    json_object  *v;

    if (obj == NULL || !json_object_is_type(obj, json_type_object)
        || !json_object_object_get_ex(obj, key, &v)
        || v == NULL || json_object_is_type(v, json_type_null))
    {
        return NULL;
    }

    return v;
}


static int
ctl_num(json_object *obj, const char *key, double *out)
{
    json_object  *v = ctl_get(obj, key);

    if (v == NULL || !(json_object_is_type(v, json_type_int)
                       || json_object_is_type(v, json_type_double)))
    {
        return 0;
    }

    *out = json_object_get_double(v);
    return 1;
}


static const char *
ctl_str(json_object *obj, const char *key)
{
    json_object  *v = ctl_get(obj, key);

    return v != NULL && json_object_is_type(v, json_type_string)
           ? json_object_get_string(v) : NULL;
}


/* the cell for obj[key]: "%.0f" of the number, or "-" */
static char *
ctl_cell_int(json_object *obj, const char *key)
{
    double  d;

    return ctl_num(obj, key, &d) ? ctl_fmt("%.0f", d) : ctl_fmt("-");
}


static char *
ctl_cell_str(json_object *obj, const char *key)
{
    const char  *s = ctl_str(obj, key);

    return s != NULL && s[0] != '\0' ? ctl_clean(s) : ctl_fmt("-");
}


/* 1536 -> "1.5K": binary units, as free(1) -h */
static char *
ctl_human_bytes(double b)
{
    int                 i;
    static const char   units[] = "BKMGTP";

    for (i = 0; b >= 1024 && i < 5; i++) {
        b /= 1024;
    }

    if (i == 0) {
        return ctl_fmt("%.0fB", b);
    }

    return ctl_fmt(b < 10 ? "%.1f%c" : "%.0f%c", b, units[i]);
}


static char *
ctl_cell_bytes(json_object *obj, const char *key)
{
    double  d;

    return ctl_num(obj, key, &d) && d >= 0 ? ctl_human_bytes(d)
                                           : ctl_fmt("-");
}


/* 45s, 12m05s, 3h02m, 2d04h; under a minute with ms precision < 10 s */
static char *
ctl_human_ms(double ms)
{
    unsigned long long  s;

    if (ms < 0) {
        return ctl_fmt("-");
    }

    if (ms < 1000) {
        return ctl_fmt("%.0fms", ms);
    }

    if (ms < 10000) {
        return ctl_fmt("%.1fs", ms / 1000);
    }

    s = (unsigned long long) (ms / 1000);

    if (s < 60) {
        return ctl_fmt("%llus", s);
    }

    if (s < 3600) {
        return ctl_fmt("%llum%02llus", s / 60, s % 60);
    }

    if (s < 86400) {
        return ctl_fmt("%lluh%02llum", s / 3600, s % 3600 / 60);
    }

    return ctl_fmt("%llud%02lluh", s / 86400, s % 86400 / 3600);
}


static char *
ctl_cell_ms(json_object *obj, const char *key)
{
    double  d;

    return ctl_num(obj, key, &d) ? ctl_human_ms(d) : ctl_fmt("-");
}


static char *
ctl_cell_percent(json_object *obj, const char *key, double scale)
{
    double  d;

    if (!ctl_num(obj, key, &d)) {
        return ctl_fmt("-");
    }

    d *= scale;
    return ctl_fmt(d < 10 && d != 0 ? "%.1f%%" : "%.0f%%", d);
}


/* ---- tables: columns as wide as their widest cell ---- */

static void
ctl_table_row(ctl_table_t *t, size_t ncols, char **cells)
{
    size_t   i;
    void    *p;

    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        p = realloc(t->rows, t->cap * sizeof(*t->rows));
        if (p == NULL) {
            ctl_oom();
        }
        t->rows = p;
    }

    for (i = 0; i < CTL_COLS; i++) {
        t->rows[t->nrows][i] = i < ncols ? cells[i] : NULL;
    }

    if (ncols > t->ncols) {
        t->ncols = ncols;
    }

    t->nrows++;
}


/* columns on a terminal: UTF-8 continuation bytes take none */
static size_t
ctl_width(const char *s)
{
    size_t  w = 0;

    for (; *s != '\0'; s++) {
        w += ((unsigned char) *s & 0xc0) != 0x80;
    }

    return w;
}


static void
ctl_table_print(ctl_table_t *t, FILE *f, const char *indent)
{
    size_t       r, i, w[CTL_COLS], last, pad;
    const char  *cell;

    memset(w, 0, sizeof(w));

    for (r = 0; r < t->nrows; r++) {
        for (i = 0; i < t->ncols; i++) {
            cell = t->rows[r][i];
            if (cell != NULL && ctl_width(cell) > w[i]) {
                w[i] = ctl_width(cell);
            }
        }
    }

    for (r = 0; r < t->nrows; r++) {
        last = 0;
        for (i = 0; i < t->ncols; i++) {
            if (t->rows[r][i] != NULL) {
                last = i;
            }
        }

        fputs(indent, f);

        for (i = 0; i <= last; i++) {
            cell = t->rows[r][i] != NULL ? t->rows[r][i] : "";
            fputs(cell, f);

            if (i < last) {
                for (pad = ctl_width(cell); pad < w[i] + 2; pad++) {
                    fputc(' ', f);
                }
            }
        }

        fputc('\n', f);
    }
}


static void
ctl_table_free(ctl_table_t *t)
{
    size_t  r, i;

    for (r = 0; r < t->nrows; r++) {
        for (i = 0; i < CTL_COLS; i++) {
            free(t->rows[r][i]);
        }
    }

    free(t->rows);
    memset(t, 0, sizeof(*t));
}


/* ---- the status frame ---- */

static void
ctl_print_droverd(json_object *status, FILE *f)
{
    double       d;
    char        *up;
    const char  *s;
    json_object *dv = ctl_get(status, "droverd");

    fputs("droverd", f);

    if ((s = ctl_str(dv, "version")) != NULL) {
        up = ctl_clean(s);
        fprintf(f, " %s", up);
        free(up);
    }

    if (ctl_num(dv, "pid", &d)) {
        fprintf(f, ", pid %.0f", d);
    }

    if (ctl_num(dv, "uptime_ms", &d)) {
        up = ctl_human_ms(d);
        fprintf(f, ", up %s", up);
        free(up);
    }

    if ((s = ctl_str(dv, "config")) != NULL) {
        up = ctl_clean(s);
        fprintf(f, ", config %s", up);
        free(up);
    }

    fputc('\n', f);
}


/* busy workers: those said "busy" in workers_detail, or "-" */
static char *
ctl_cell_busy(json_object *pool)
{
    size_t        i, n, busy;
    double        total;
    const char   *s;
    json_object  *detail, *w;
    char         *out, *t;

    detail = ctl_get(pool, "workers_detail");

    t = ctl_num(pool, "workers", &total) ? ctl_fmt("%.0f", total)
                                         : ctl_fmt("-");

    if (detail == NULL || !json_object_is_type(detail, json_type_array)) {
        out = ctl_fmt("-/%s", t);
        free(t);
        return out;
    }

    n = json_object_array_length(detail);
    busy = 0;

    for (i = 0; i < n; i++) {
        w = json_object_array_get_idx(detail, i);
        s = ctl_str(w, "state");
        busy += s != NULL && strcmp(s, "busy") == 0;
    }

    out = ctl_fmt("%zu/%s", busy, t);
    free(t);
    return out;
}


static char *
ctl_cell_target(json_object *pool)
{
    double  lo, hi;

    if (ctl_num(pool, "busy_target_low", &lo)
        && ctl_num(pool, "busy_target_high", &hi))
    {
        return ctl_fmt("%.0f-%.0f%%", lo * 100, hi * 100);
    }

    return ctl_fmt("-");
}


/* shared + private / budget ("-" when none) */
static char *
ctl_cell_memory(json_object *pool)
{
    int     have;
    double  shared, private, budget;
    char   *used, *cap, *out;

    shared = private = 0;
    have = ctl_num(pool, "memory_shared_bytes", &shared);
    have |= ctl_num(pool, "memory_private_bytes", &private);

    used = have ? ctl_human_bytes(shared + private) : ctl_fmt("-");
    cap = ctl_num(pool, "memory_budget_bytes", &budget) && budget > 0
          ? ctl_human_bytes(budget) : ctl_fmt("-");

    out = ctl_fmt("%s/%s", used, cap);
    free(used);
    free(cap);
    return out;
}


static char *
ctl_cell_rate(json_object *pool)
{
    double  d;

    return ctl_num(pool, "requests_per_s", &d) ? ctl_fmt("%.1f", d)
                                               : ctl_fmt("-");
}


static void
ctl_print_pools(json_object *pools, FILE *f)
{
    size_t        i, n;
    json_object  *p;
    ctl_table_t   t;
    char         *cells[CTL_COLS];

    static const char *const  head[] = {
        "POOL", "GEN", "STATE", "BUSY/WORKERS", "REQ/S", "BUSY 1m",
        "TARGET", "MEMORY/BUDGET", "ADVICE"
    };

    memset(&t, 0, sizeof(t));

    for (i = 0; i < sizeof(head) / sizeof(head[0]); i++) {
        cells[i] = ctl_fmt("%s", head[i]);
    }
    ctl_table_row(&t, i, cells);

    n = json_object_array_length(pools);

    for (i = 0; i < n; i++) {
        p = json_object_array_get_idx(pools, i);

        cells[0] = ctl_cell_str(p, "name");
        cells[1] = ctl_cell_int(p, "generation");
        cells[2] = ctl_cell_str(p, "state");
        cells[3] = ctl_cell_busy(p);
        cells[4] = ctl_cell_rate(p);
        cells[5] = ctl_cell_percent(p, "busy_fraction_1m", 100);
        cells[6] = ctl_cell_target(p);
        cells[7] = ctl_cell_memory(p);
        cells[8] = ctl_str(p, "advice") != NULL ? ctl_cell_str(p, "advice")
                                                : NULL;
        ctl_table_row(&t, 9, cells);
    }

    ctl_table_print(&t, f, "");
    ctl_table_free(&t);
}


/* "exit 0 in 120ms: message", or NULL */
static char *
ctl_prestart_text(json_object *pool)
{
    double        status, ms;
    char         *took, *msg, *out;
    const char   *s;
    json_object  *ps = ctl_get(pool, "prestart");

    if (ps == NULL || !json_object_is_type(ps, json_type_object)) {
        return NULL;
    }

    took = ctl_num(ps, "duration_ms", &ms) ? ctl_human_ms(ms) : ctl_fmt("?");
    s = ctl_str(ps, "message");
    msg = s != NULL && s[0] != '\0' ? ctl_clean(s) : NULL;

    if (ctl_num(ps, "status", &status) && status == 0) {
        out = ctl_fmt("prestart ok in %s%s%s", took, msg ? ": " : "",
                      msg ? msg : "");
    } else {
        out = ctl_fmt("prestart FAILED after %s%s%s", took, msg ? ": " : "",
                      msg ? msg : "");
    }

    free(took);
    free(msg);
    return out;
}


static char *
ctl_cell_cpu(json_object *w)
{
    char  *a, *b, *out;

    a = ctl_cell_percent(w, "cpu_percent_1s", 1);
    b = ctl_cell_percent(w, "cpu_percent_1m", 1);
    out = ctl_fmt("%s/%s", a, b);
    free(a);
    free(b);
    return out;
}


/* "/sleep?ms=500 (120ms)", or "-" */
static char *
ctl_cell_request(json_object *w)
{
    double       ms;
    char        *uri, *took, *out;
    const char  *s = ctl_str(w, "current_uri");

    if (s == NULL) {
        return ctl_fmt("-");
    }

    uri = ctl_clean(s);

    if (!ctl_num(w, "current_ms", &ms)) {
        return uri;
    }

    took = ctl_human_ms(ms);
    out = ctl_fmt("%s (%s)", uri, took);
    free(uri);
    free(took);
    return out;
}


static void
ctl_print_workers(json_object *pool, FILE *f)
{
    size_t        i, n;
    char         *name, *pre;
    json_object  *detail, *w;
    ctl_table_t   t;
    char         *cells[CTL_COLS];

    static const char *const  head[] = {
        "SLOT", "PID", "GEN", "STATE", "REQS", "CPU 1s/1m", "RSS", "PSS",
        "USS", "UPTIME", "RESTARTS", "LAST EXIT", "REQUEST"
    };

    name = ctl_cell_str(pool, "name");
    pre = ctl_prestart_text(pool);

    fprintf(f, "\npool %s%s%s\n", name, pre ? ": " : "", pre ? pre : "");
    free(name);
    free(pre);

    detail = ctl_get(pool, "workers_detail");
    if (detail == NULL || !json_object_is_type(detail, json_type_array)) {
        fputs("  (no worker details)\n", f);
        return;
    }

    memset(&t, 0, sizeof(t));

    for (i = 0; i < sizeof(head) / sizeof(head[0]); i++) {
        cells[i] = ctl_fmt("%s", head[i]);
    }
    ctl_table_row(&t, i, cells);

    n = json_object_array_length(detail);

    for (i = 0; i < n; i++) {
        w = json_object_array_get_idx(detail, i);

        cells[0] = ctl_cell_int(w, "slot");
        cells[1] = ctl_cell_int(w, "pid");
        cells[2] = ctl_cell_int(w, "generation");
        cells[3] = ctl_cell_str(w, "state");
        cells[4] = ctl_cell_int(w, "requests");
        cells[5] = ctl_cell_cpu(w);
        cells[6] = ctl_cell_bytes(w, "rss_bytes");
        cells[7] = ctl_cell_bytes(w, "pss_bytes");
        cells[8] = ctl_cell_bytes(w, "uss_bytes");
        cells[9] = ctl_cell_ms(w, "uptime_ms");
        cells[10] = ctl_cell_int(w, "restarts");
        cells[11] = ctl_cell_str(w, "last_exit");
        cells[12] = ctl_cell_request(w);
        ctl_table_row(&t, 13, cells);
    }

    ctl_table_print(&t, f, "  ");
    ctl_table_free(&t);
}


static void
ctl_print_status(json_object *status, FILE *f)
{
    size_t        i, n;
    json_object  *pools;

    ctl_print_droverd(status, f);

    pools = ctl_get(status, "pools");
    if (pools == NULL || !json_object_is_type(pools, json_type_array)
        || json_object_array_length(pools) == 0)
    {
        fputs("\nno pools\n", f);
        return;
    }

    fputc('\n', f);
    ctl_print_pools(pools, f);

    n = json_object_array_length(pools);
    for (i = 0; i < n; i++) {
        ctl_print_workers(json_object_array_get_idx(pools, i), f);
    }
}


/* ---- the connection ---- */

static int
ctl_connect(ctl_conn_t *c, uint64_t deadline)
{
    int                 fd, rc, e;
    size_t              len;
    uint64_t            now;
    socklen_t           elen;
    struct pollfd       pfd;
    struct sockaddr_un  sa;

    len = strlen(c->path);
    if (len >= sizeof(sa.sun_path)) {
        snprintf(c->err, sizeof(c->err), "control socket path %s is too "
                 "long (at most %zu bytes)", c->path, sizeof(sa.sun_path) - 1);
        return CTL_ECONNECT;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, c->path, len + 1);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd == -1) {
        snprintf(c->err, sizeof(c->err), "socket() failed: %s",
                 strerror(errno));
        return CTL_ECONNECT;
    }

    for ( ;; ) {
        rc = connect(fd, (struct sockaddr *) &sa, sizeof(sa));
        e = rc == 0 ? 0 : errno;

        if (e == EINPROGRESS) {
            now = ctl_now_ms();
            pfd.fd = fd;
            pfd.events = POLLOUT;
            rc = poll(&pfd, 1, now < deadline ? (int) (deadline - now) : 0);
            elen = sizeof(e);
            if (rc == 1
                && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0)
            {
                e = errno;
            } else if (rc == 0) {
                e = ETIMEDOUT;
            } else if (rc < 0) {
                e = errno;
            }
        }

        /* a Unix socket says EAGAIN when its backlog is full: wait */
        if ((e == EAGAIN || e == EINTR) && ctl_now_ms() < deadline) {
            usleep(10000);
            continue;
        }

        break;
    }

    if (e == 0) {
        c->fd = fd;
        return CTL_OK;
    }

    close(fd);

    switch (e) {

    case ENOENT:
        snprintf(c->err, sizeof(c->err), "droverd is not running (no "
                 "control socket at %s)", c->path);
        return CTL_ECONNECT;

    case ECONNREFUSED:
        snprintf(c->err, sizeof(c->err), "droverd is not running (nothing "
                 "listens on the control socket %s)", c->path);
        return CTL_ECONNECT;

    case EACCES:
    case EPERM:
        snprintf(c->err, sizeof(c->err), "cannot open %s: permission denied "
                 "(run as root or as a member of the control socket's "
                 "group)", c->path);
        return CTL_ECONNECT;

    case EAGAIN:
    case ETIMEDOUT:
        snprintf(c->err, sizeof(c->err), "droverd did not accept the "
                 "connection on %s within %d s", c->path,
                 CTL_TIMEOUT_MS / 1000);
        return CTL_EPROTOCOL;

    default:
        snprintf(c->err, sizeof(c->err), "cannot connect to %s: %s",
                 c->path, strerror(e));
        return CTL_ECONNECT;
    }
}


static void
ctl_disconnect(ctl_conn_t *c)
{
    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
    }

    c->len = 0;
}


static int
ctl_wait(ctl_conn_t *c, short events, uint64_t deadline)
{
    int            rc;
    uint64_t       now;
    struct pollfd  pfd;

    for ( ;; ) {
        now = ctl_now_ms();
        if (now >= deadline) {
            snprintf(c->err, sizeof(c->err), "no answer from droverd on %s "
                     "within %d s", c->path, CTL_TIMEOUT_MS / 1000);
            return CTL_EPROTOCOL;
        }

        pfd.fd = c->fd;
        pfd.events = events;

        rc = poll(&pfd, 1, (int) (deadline - now));
        if (rc > 0) {
            return CTL_OK;
        }

        if (rc < 0 && errno != EINTR) {
            snprintf(c->err, sizeof(c->err), "poll() failed: %s",
                     strerror(errno));
            return CTL_EPROTOCOL;
        }

        if (rc < 0 && ctl_quit) {
            snprintf(c->err, sizeof(c->err), "interrupted");
            return CTL_EPROTOCOL;
        }
    }
}


static int
ctl_send(ctl_conn_t *c, const char *line, size_t len, uint64_t deadline)
{
    int      rc;
    ssize_t  n;

    while (len > 0) {
        n = send(c->fd, line, len, MSG_NOSIGNAL);

        if (n >= 0) {
            line += n;
            len -= (size_t) n;
            continue;
        }

        if (errno == EAGAIN || errno == EINTR) {
            rc = ctl_wait(c, POLLOUT, deadline);
            if (rc != CTL_OK) {
                return rc;
            }
            continue;
        }

        snprintf(c->err, sizeof(c->err), "droverd closed the connection "
                 "(%s)", strerror(errno));
        return CTL_EPROTOCOL;
    }

    return CTL_OK;
}


/* one line into c->buf, NUL-terminated instead of its '\n'; *len */
static int
ctl_read_line(ctl_conn_t *c, size_t *line_len, uint64_t deadline)
{
    int       rc;
    char     *nl, *p;
    size_t    scanned;
    ssize_t   n;

    scanned = 0;

    for ( ;; ) {
        nl = c->len > scanned ? memchr(c->buf + scanned, '\n',
                                       c->len - scanned) : NULL;
        if (nl != NULL) {
            *nl = '\0';
            *line_len = (size_t) (nl - c->buf);
            return CTL_OK;
        }

        scanned = c->len;

        if (c->len == CTL_REPLY_MAX) {
            snprintf(c->err, sizeof(c->err), "droverd's answer is longer "
                     "than %u MiB", CTL_REPLY_MAX >> 20);
            return CTL_EPROTOCOL;
        }

        if (c->cap - c->len < 65536 && c->cap < CTL_REPLY_MAX) {
            c->cap = c->cap ? c->cap * 2 : 65536;
            if (c->cap > CTL_REPLY_MAX) {
                c->cap = CTL_REPLY_MAX;
            }

            p = realloc(c->buf, c->cap);
            if (p == NULL) {
                ctl_oom();
            }
            c->buf = p;
        }

        n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);

        if (n > 0) {
            c->len += (size_t) n;
            continue;
        }

        if (n == 0) {
            snprintf(c->err, sizeof(c->err), "droverd closed the connection "
                     "without answering%s", c->len ? " in full" : "");
            return CTL_EPROTOCOL;
        }

        if (errno == EAGAIN || errno == EINTR) {
            rc = ctl_wait(c, POLLIN, deadline);
            if (rc != CTL_OK) {
                return rc;
            }
            continue;
        }

        snprintf(c->err, sizeof(c->err), "reading from %s failed: %s",
                 c->path, strerror(errno));
        return CTL_EPROTOCOL;
    }
}


/*
 * Send REQ, read its answer.  CTL_OK and *result (may be NULL: a JSON
 * null), CTL_EANSWER with droverd's message in err, or another code.
 */
static int
ctl_request(ctl_conn_t *c, json_object *req, json_object **result)
{
    int            rc;
    size_t         len, line_len;
    uint64_t       deadline;
    const char    *s, *msg;
    json_object   *resp, *ok;
    json_tokener  *tok;
    char          *line;

    *result = NULL;
    deadline = ctl_now_ms() + CTL_TIMEOUT_MS;

    if (c->fd == -1) {
        rc = ctl_connect(c, deadline);
        if (rc != CTL_OK) {
            return rc;
        }
    }

    s = json_object_to_json_string_length(req, JSON_C_TO_STRING_PLAIN, &len);
    line = s != NULL ? ctl_fmt("%s\n", s) : NULL;
    if (line == NULL) {
        ctl_oom();
    }

    rc = ctl_send(c, line, len + 1, deadline);
    free(line);

    if (rc == CTL_OK) {
        rc = ctl_read_line(c, &line_len, deadline);
    }

    if (rc != CTL_OK) {
        ctl_disconnect(c);
        return rc;
    }

    tok = json_tokener_new();
    if (tok == NULL) {
        ctl_oom();
    }

    resp = json_tokener_parse_ex(tok, c->buf, (int) line_len + 1);
    if (resp == NULL) {
        snprintf(c->err, sizeof(c->err), "droverd's answer is not JSON: %s",
                 json_tokener_error_desc(json_tokener_get_error(tok)));
        rc = CTL_EPROTOCOL;
        goto done;
    }

    if (!json_object_object_get_ex(resp, "ok", &ok)
        || !json_object_is_type(ok, json_type_boolean))
    {
        snprintf(c->err, sizeof(c->err), "droverd's answer has no \"ok\"");
        rc = CTL_EPROTOCOL;
        goto done;
    }

    if (!json_object_get_boolean(ok)) {
        msg = ctl_str(resp, "error");
        line = ctl_clean(msg != NULL ? msg : "failed, without a message");
        snprintf(c->err, sizeof(c->err), "%s", line);
        free(line);
        rc = CTL_EANSWER;
        goto done;
    }

    *result = json_object_get(ctl_get(resp, "result"));
    rc = CTL_OK;

done:

    /* the next answer starts after this line */
    memmove(c->buf, c->buf + line_len + 1, c->len - line_len - 1);
    c->len -= line_len + 1;

    json_object_put(resp);
    json_tokener_free(tok);

    if (rc == CTL_EPROTOCOL) {
        ctl_disconnect(c);
    }

    return rc;
}


static json_object *
ctl_make_request(const char *cmd, const char *pool, long workers)
{
    json_object  *req;

    req = json_object_new_object();
    if (req == NULL) {
        ctl_oom();
    }

    json_object_object_add(req, "cmd", json_object_new_string(cmd));

    if (pool != NULL) {
        json_object_object_add(req, "pool", json_object_new_string(pool));
    }

    if (workers > 0) {
        json_object_object_add(req, "workers", json_object_new_int64(workers));
    }

    return req;
}


/* ---- top ---- */

static void
ctl_signal_cb(int sig)
{
    if (sig == SIGWINCH) {
        ctl_resized = 1;
    } else {
        ctl_quit = 1;
    }
}


static void
ctl_tty_restore(void)
{
    static const char  leave[] = "\033[?25h\033[?1049l";

    if (ctl_tty_saved) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &ctl_saved_tty);
        ctl_tty_saved = 0;
    }

    if (ctl_screen) {
        fflush(stdout);
        (void) !write(STDOUT_FILENO, leave, sizeof(leave) - 1);
        ctl_screen = 0;
    }
}


static void
ctl_tty_setup(void)
{
    struct termios    raw;
    struct sigaction  sa;

    static const char  enter[] = "\033[?1049h\033[?25l";

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = ctl_signal_cb;      /* no SA_RESTART: poll() returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);

    /* keys one at a time, unechoed; Ctrl-C still raises SIGINT.  With
       VMIN = VTIME = 0 a read() never blocks */
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &ctl_saved_tty) == 0)
    {
        raw = ctl_saved_tty;
        raw.c_lflag &= ~(tcflag_t) (ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;

        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0) {
            ctl_tty_saved = 1;
            ctl_keys = 1;
        }
    }

    atexit(ctl_tty_restore);
    (void) !write(STDOUT_FILENO, enter, sizeof(enter) - 1);
    ctl_screen = 1;
}


/* the frame, each line cut to COLS columns, at the top of the screen */
static void
ctl_top_draw(const char *frame, size_t cols, size_t rows)
{
    size_t       w, row;
    const char  *p;

    fputs("\033[H", stdout);

    for (p = frame, row = 0; *p != '\0' && row + 1 < rows; row++) {
        for (w = 0; *p != '\0' && *p != '\n'; p++) {
            w += ((unsigned char) *p & 0xc0) != 0x80;
            if (w <= cols) {
                fputc(*p, stdout);
            }
        }

        fputs("\033[K\n", stdout);
        if (*p == '\n') {
            p++;
        }
    }

    fputs("\033[J", stdout);
    fflush(stdout);
}


/* 1 when the user asked to quit: q, Q, or a signal */
static int
ctl_top_wait(uint64_t until)
{
    int            rc;
    char           key;
    ssize_t        n;
    uint64_t       now;
    struct pollfd  pfd;

    while (!ctl_quit && !ctl_resized) {
        now = ctl_now_ms();
        if (now >= until) {
            return 0;
        }

        pfd.fd = STDIN_FILENO;
        pfd.events = POLLIN;

        rc = poll(&pfd, ctl_keys ? 1 : 0, (int) (until - now));

        if (rc > 0) {
            n = read(STDIN_FILENO, &key, 1);

            if (n == 1 && (key == 'q' || key == 'Q')) {
                return 1;
            }

            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                ctl_keys = 0;           /* the terminal went away */
            }
        }
    }

    ctl_resized = 0;
    return ctl_quit;
}


static int
ctl_top(ctl_conn_t *c, const char *pool)
{
    int              rc, tty;
    char            *frame;
    size_t           size, cols, rows;
    time_t           now;
    uint64_t         next;
    struct tm        tm;
    struct winsize   ws;
    json_object     *req, *status;
    FILE            *f;
    char             clock[16];

    tty = isatty(STDOUT_FILENO);
    req = ctl_make_request("status", pool, 0);

    if (tty) {
        ctl_tty_setup();
    }

    for ( ;; ) {
        next = ctl_now_ms() + CTL_TOP_PERIOD_MS;
        rc = ctl_request(c, req, &status);

        if (!tty) {
            if (rc == CTL_OK) {
                ctl_print_status(status, stdout);
            }
            json_object_put(status);
            break;
        }

        f = open_memstream(&frame, &size);
        if (f == NULL) {
            ctl_oom();
        }

        now = time(NULL);
        localtime_r(&now, &tm);
        strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
        fprintf(f, "droverctl top  %s  %s  (q quits)\n\n", c->path, clock);

        if (rc == CTL_OK) {
            ctl_print_status(status, f);
        } else {
            fprintf(f, "%s\n", c->err);
        }

        json_object_put(status);
        fclose(f);

        cols = 80;
        rows = 24;
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
            cols = ws.ws_col;
            rows = ws.ws_row;
        }

        ctl_top_draw(frame, cols, rows);
        free(frame);

        if (ctl_top_wait(next)) {
            rc = CTL_OK;
            break;
        }
    }

    json_object_put(req);

    if (tty) {
        ctl_tty_restore();
    }

    return rc;
}


/* ---- the command line ---- */

static void
ctl_usage(FILE *f)
{
    fprintf(f,
        "usage: droverctl [-s SOCKET] [--json] COMMAND [ARGS]\n"
        "\n"
        "commands:\n"
        "  status [POOL]    pools and their workers\n"
        "  top [POOL]       status, redrawn every second (q quits)\n"
        "  reload           reload the configuration (like SIGHUP)\n"
        "  restart POOL     replace every worker of POOL, one at a time\n"
        "  scale POOL N     run N workers (1 to %d) in POOL\n"
        "  stop             stop droverd gracefully (like SIGTERM)\n"
        "  version          droverd's and droverctl's versions\n"
        "\n"
        "options:\n"
        "  -s, --socket SOCKET  the control socket (default: $"
        CTL_ENV_SOCKET ", else " DROVER_CONTROL_PATH ")\n"
        "  -j, --json           print droverd's answer as JSON\n"
        "  -h, --help           this help\n"
        "\n"
        "exit codes: 0 done, 1 droverd answered with an error, 2 usage "
        "error,\n"
        "3 cannot connect (droverd not running, no permission), 4 bad or "
        "no answer\n", DROVER_CONF_MAX_WORKERS);
}


static int
ctl_bad_usage(const char *fmt, ...) DROVER_PRINTF(1, 2);

static int
ctl_bad_usage(const char *fmt, ...)
{
    va_list  ap;

    fputs("droverctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);

    ctl_usage(stderr);
    return CTL_EUSAGE;
}


/* what an action prints when it was accepted */
static void
ctl_print_done(const char *cmd, const char *pool, long workers)
{
    if (strcmp(cmd, "reload") == 0) {
        printf("droverd: reloading the configuration\n");

    } else if (strcmp(cmd, "restart") == 0) {
        printf("pool %s: restarting its workers\n", pool);

    } else if (strcmp(cmd, "scale") == 0) {
        printf("pool %s: scaling to %ld worker%s\n", pool, workers,
               workers == 1 ? "" : "s");

    } else if (strcmp(cmd, "stop") == 0) {
        printf("droverd: stopping\n");
    }
}


static void
ctl_print_version(json_object *result)
{
    double       pid, proto;
    char        *v;
    const char  *s;

    s = ctl_str(result, "version");
    v = ctl_clean(s != NULL ? s : "(unknown)");

    printf("droverd %s", v);
    if (ctl_num(result, "pid", &pid)) {
        printf(", pid %.0f", pid);
    }
    if (ctl_num(result, "protocol", &proto)) {
        printf(", control protocol %.0f", proto);
    }
    printf("\ndroverctl %s\n", DROVER_VERSION);

    free(v);
}


/* N of `scale POOL N`, or -1 */
static long
ctl_parse_workers(const char *s)
{
    long   n;
    char  *end;

    errno = 0;
    n = strtol(s, &end, 10);

    if (errno != 0 || end == s || *end != '\0' || n < 1
        || n > DROVER_CONF_MAX_WORKERS)
    {
        return -1;
    }

    return n;
}


int
main(int argc, char **argv)
{
    int            opt, json, rc, nargs;
    long           workers;
    const char    *cmd, *pool;
    json_object   *req, *result;
    ctl_conn_t     conn;

    static const struct option  long_opts[] = {
        { "socket", required_argument, NULL, 's' },
        { "json",   no_argument,       NULL, 'j' },
        { "help",   no_argument,       NULL, 'h' },
        { NULL,     0,                 NULL, 0 }
    };

    memset(&conn, 0, sizeof(conn));
    conn.fd = -1;
    conn.path = getenv(CTL_ENV_SOCKET);
    if (conn.path == NULL || conn.path[0] == '\0') {
        conn.path = DROVER_CONTROL_PATH;
    }

    json = 0;

    while ((opt = getopt_long(argc, argv, "s:jh", long_opts, NULL)) != -1) {
        switch (opt) {

        case 's':
            if (optarg[0] == '\0') {
                return ctl_bad_usage("-s needs a socket path");
            }
            conn.path = optarg;
            break;

        case 'j':
            json = 1;
            break;

        case 'h':
            ctl_usage(stdout);
            return CTL_OK;

        default:
            fputc('\n', stderr);
            ctl_usage(stderr);
            return CTL_EUSAGE;
        }
    }

    if (optind >= argc) {
        return ctl_bad_usage("no command given");
    }

    cmd = argv[optind];
    nargs = argc - optind - 1;
    pool = nargs > 0 ? argv[optind + 1] : NULL;
    workers = 0;

    if (strcmp(cmd, "status") == 0 || strcmp(cmd, "top") == 0) {
        if (nargs > 1) {
            return ctl_bad_usage("%s takes at most one pool name", cmd);
        }

    } else if (strcmp(cmd, "restart") == 0) {
        if (nargs != 1) {
            return ctl_bad_usage("restart takes a pool name: restart POOL");
        }

    } else if (strcmp(cmd, "scale") == 0) {
        if (nargs != 2) {
            return ctl_bad_usage("scale takes a pool name and a number: "
                                 "scale POOL N");
        }

        workers = ctl_parse_workers(argv[optind + 2]);
        if (workers < 0) {
            return ctl_bad_usage("scale: N must be a number from 1 to %d, "
                                 "got \"%s\"", DROVER_CONF_MAX_WORKERS,
                                 argv[optind + 2]);
        }

    } else if (strcmp(cmd, "reload") == 0 || strcmp(cmd, "stop") == 0
               || strcmp(cmd, "version") == 0)
    {
        if (nargs != 0) {
            return ctl_bad_usage("%s takes no arguments", cmd);
        }

    } else {
        return ctl_bad_usage("unknown command \"%s\"", cmd);
    }

    signal(SIGPIPE, SIG_IGN);

    if (strcmp(cmd, "top") == 0) {
        if (json) {
            return ctl_bad_usage("top does not print JSON; use "
                                 "status --json");
        }

        rc = ctl_top(&conn, pool);
        goto done;
    }

    req = ctl_make_request(cmd, pool, workers);
    rc = ctl_request(&conn, req, &result);
    json_object_put(req);

    if (rc != CTL_OK) {
        goto done;
    }

    if (json) {
        printf("%s\n", json_object_to_json_string_ext(result,
               JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));

    } else if (strcmp(cmd, "status") == 0) {
        ctl_print_status(result, stdout);

    } else if (strcmp(cmd, "version") == 0) {
        ctl_print_version(result);

    } else {
        ctl_print_done(cmd, pool, workers);
    }

    json_object_put(result);

done:

    if (rc != CTL_OK) {
        fprintf(stderr, "droverctl: %s\n", conn.err);
    }

    ctl_disconnect(&conn);
    free(conn.buf);

    if (fflush(stdout) != 0 && rc == CTL_OK) {
        fprintf(stderr, "droverctl: cannot write the output: %s\n",
                strerror(errno));
        rc = CTL_EPROTOCOL;
    }

    return rc;
}
