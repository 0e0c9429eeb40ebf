/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * output.c -- see output.h.
 */

#include "output.h"
#include "log.h"
#include "proc.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


/* reads per poll callback: others in the loop get their turn */
#define OUTPUT_READS_MAX  64
#define OUTPUT_READ_SIZE  16384

/* the escaped text of a full line, with the prefix and a marker */
#define OUTPUT_TEXT_MAX   (DROVER_OUTPUT_LINE_MAX * 4 + 256)


/* a writer with an unfinished line */
typedef struct {
    pid_t               pid;          /* 0: a free entry */
    int                 cut;          /* logged up to the limit, rest dropped */
    size_t              len;
    unsigned long long  used;         /* for the least recently used */
    char                buf[DROVER_OUTPUT_LINE_MAX];
} output_partial_t;


struct drover_output_s {
    char                   *name;
    int                     fd;       /* ours: read */
    int                     child_fd; /* theirs: fds 1 and 2 */
    uv_loop_t              *loop;
    uv_poll_t              *poll;     /* on fd; replaced with the socket */
    uv_timer_t              timer;    /* the suppressed count, once due */
    int                     closing;  /* handles still to close */

    unsigned long long      window_ms;      /* start of this second */
    unsigned                window_lines;
    unsigned long long      suppressed;
    unsigned long long      tick;

    output_partial_t        partial[DROVER_OUTPUT_PARTIAL];
};


static void output_poll_cb(uv_poll_t *h, int status, int events);


static void
output_free_cb(uv_handle_t *h)
{
    drover_output_t  *o = h->data;

    if (h->type == UV_POLL) {
        free(h);
    }

    if (--o->closing == 0) {
        free(o->name);
        free(o);
    }
}


static void
output_poll_free_cb(uv_handle_t *h)
{
    free(h);
}


/* a socket pair, our end polled: 0, or a negative code and nothing open */
static int
output_socket(drover_output_t *o)
{
    int         rc, on, sv[2];
    uv_poll_t  *poll;

    poll = malloc(sizeof(uv_poll_t));
    if (poll == NULL) {
        return -ENOMEM;
    }

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        rc = -errno;
        free(poll);
        return rc;
    }

    /* the kernel tells each read's sender; the children read nothing */
    on = 1;
    if (setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0
        || shutdown(sv[0], SHUT_WR) != 0)
    {
        rc = -errno;
        goto fail;
    }

    rc = uv_poll_init(o->loop, poll, sv[0]);
    if (rc != 0) {
        goto fail;
    }

    poll->data = o;

    rc = uv_poll_start(poll, UV_READABLE, output_poll_cb);
    if (rc != 0) {
        uv_close((uv_handle_t *) poll, output_poll_free_cb);
        close(sv[0]);
        close(sv[1]);
        return rc;
    }

    o->fd = sv[0];
    o->child_fd = sv[1];
    o->poll = poll;

    return 0;

fail:

    free(poll);
    close(sv[0]);
    close(sv[1]);
    return rc;
}


static void
output_socket_close(drover_output_t *o, uv_close_cb cb)
{
    if (o->poll != NULL) {
        uv_close((uv_handle_t *) o->poll, cb);
        o->poll = NULL;
    }

    if (o->fd != -1) {
        close(o->fd);
        close(o->child_fd);
        o->fd = -1;
        o->child_fd = -1;
    }
}


int
drover_output_open(uv_loop_t *loop, const char *name, drover_output_t **out)
{
    int               rc;
    drover_output_t  *o;

    o = calloc(1, sizeof(drover_output_t));
    if (o == NULL) {
        return -ENOMEM;
    }

    o->name = strdup(name);
    if (o->name == NULL) {
        free(o);
        return -ENOMEM;
    }

    o->loop = loop;
    o->fd = -1;
    o->child_fd = -1;

    rc = output_socket(o);
    if (rc != 0) {
        free(o->name);
        free(o);
        return rc;
    }

    /* from here the handles own o: it goes in their close callbacks */
    uv_timer_init(loop, &o->timer);
    o->timer.data = o;

    *out = o;
    return 0;
}


int
drover_output_fd(const drover_output_t *o)
{
    return o != NULL ? o->child_fd : -1;
}


void
drover_output_close(drover_output_t *o)
{
    if (o == NULL || o->closing) {
        return;
    }

    o->closing = (o->poll != NULL) ? 2 : 1;
    output_socket_close(o, output_free_cb);
    uv_close((uv_handle_t *) &o->timer, output_free_cb);
}


/*
 * One of the pool's processes shut the socket down for writing: that is
 * the socket every process of the pool holds, the manager's copy for the
 * next ones included, and our end reads EOF from now on (readable for
 * ever: a busy loop if it stayed polled).  The processes droverd starts
 * next get a new pair; those running keep the dead one, as they chose, and
 * so do the workers a running preloader forks (they inherit its fds 1 and
 * 2) until a reload starts a new preloader.
 */
static void
output_renew(drover_output_t *o)
{
    int  rc;

    output_socket_close(o, output_poll_free_cb);

    rc = output_socket(o);

    drover_log_error(DROVER_LOG_WARN, rc < 0 ? rc : 0, "pool %s: one of its "
                     "processes shut down the socket of their stdout and "
                     "stderr; %s", o->name, rc == 0
                     ? "the processes droverd starts from now on get a new "
                       "one (the workers of a running preloader only after "
                       "a reload)"
                     : "the processes droverd starts from now on write to "
                       "/dev/null");
}


/* ---- logging a line ---- */

/*
 * "2026/11/26 13:21:26 [error] 1234#0: ", droverd's own prefix, written by
 * the process pid itself (drover_log_error in a worker): its level, and
 * *skip the prefix's length.  -2 when the line is something else.
 */
static int
output_own_level(const char *s, size_t len, pid_t pid, size_t *skip)
{
    int     level;
    char    name[8], tail[32];
    size_t  i, n, t;

    /* "YYYY/MM/DD HH:MM:SS " */
    static const char  shape[] = "dddd/dd/dd dd:dd:dd [";

    if (len < sizeof(shape) - 1) {
        return -2;
    }

    for (i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i]) {
            return -2;
        }
    }

    for (n = 0; i < len && s[i] != ']' && n < sizeof(name) - 1; i++) {
        name[n++] = s[i];
    }
    name[n] = '\0';

    level = drover_log_level_parse(name);
    if (level == -2 || i >= len || s[i] != ']') {
        return -2;
    }

    t = (size_t) snprintf(tail, sizeof(tail), "] %ld#0: ", (long) pid);
    if (t >= sizeof(tail) || len - i < t || memcmp(s + i, tail, t) != 0) {
        return -2;
    }

    *skip = i + t;
    return level;
}


/* bytes as text that cannot end or start a log line */
static size_t
output_escape(char *out, size_t size, const char *s, size_t len)
{
    size_t         i, n;
    unsigned char  c;

    static const char  hex[] = "0123456789abcdef";

    for (i = 0, n = 0; i < len && n + 4 < size; i++) {
        c = (unsigned char) s[i];

        if (c < 0x20 || c == 0x7f) {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 0xf];

        } else if (c == '\\') {
            out[n++] = '\\';
            out[n++] = '\\';

        } else {
            out[n++] = (char) c;
        }
    }

    return n;
}


static void
output_suppressed_flush(drover_output_t *o)
{
    if (o->suppressed == 0) {
        return;
    }

    drover_log_error(DROVER_LOG_WARN, 0, "pool %s: %llu lines of output "
                     "suppressed (more than %u a second)", o->name,
                     o->suppressed, DROVER_OUTPUT_RATE);
    o->suppressed = 0;
}


static void
output_timer_cb(uv_timer_t *t)
{
    drover_output_t  *o = t->data;

    output_suppressed_flush(o);
}


/* at most DROVER_OUTPUT_RATE lines in each second; 1 when this one may go */
static int
output_rate_ok(drover_output_t *o)
{
    unsigned long long  now;

    now = drover_proc_now_ms();

    if (now - o->window_ms >= 1000) {
        output_suppressed_flush(o);
        o->window_ms = now;
        o->window_lines = 0;
    }

    if (o->window_lines < DROVER_OUTPUT_RATE) {
        o->window_lines++;
        return 1;
    }

    if (o->suppressed++ == 0) {
        /* say so when the second is over, even if nothing more comes */
        uv_timer_start(&o->timer, output_timer_cb,
                       1000 - (now - o->window_ms), 0);
    }

    return 0;
}


static void
output_log(drover_output_t *o, pid_t pid, const char *s, size_t len,
    const char *marker)
{
    int     level;
    char    text[OUTPUT_TEXT_MAX];
    size_t  n, skip;

    if (!output_rate_ok(o)) {
        return;
    }

    level = output_own_level(s, len, pid, &skip);

    n = (size_t) snprintf(text, sizeof(text), "pool %s pid %ld: ", o->name,
                          (long) pid);
    if (n >= sizeof(text)) {
        n = 0;
    }

    if (level == -2) {
        /* what the app printed */
        level = DROVER_LOG_NOTICE;

    } else {
        s += skip;
        len -= skip;

        /* a child says what it likes: never an [alert] of droverd's own */
        if (level < DROVER_LOG_ERROR) {
            n += (size_t) snprintf(text + n, sizeof(text) - n, "[%s] ",
                                   drover_log_level_name(level));
            level = DROVER_LOG_ERROR;
        }
    }

    n += output_escape(text + n, sizeof(text) - n, s, len);

    if (marker != NULL) {
        n += (size_t) snprintf(text + n, sizeof(text) - n, "%s", marker);
        if (n >= sizeof(text)) {
            n = sizeof(text) - 1;
        }
    }

    drover_log_line(level, text, n);
}


/* ---- reading ---- */

static output_partial_t *
output_partial(drover_output_t *o, pid_t pid, int create)
{
    unsigned           i;
    output_partial_t  *p, *use;

    use = NULL;

    for (i = 0; i < DROVER_OUTPUT_PARTIAL; i++) {
        p = &o->partial[i];

        if (p->pid == pid) {
            return p;
        }

        /* a free entry, else the least recently used */
        if (use == NULL || (use->pid != 0
                            && (p->pid == 0 || p->used < use->used)))
        {
            use = p;
        }
    }

    if (!create) {
        return NULL;
    }

    /* more writers mid-line than entries: the oldest line goes as it is */
    if (use->pid != 0 && !use->cut && use->len > 0) {
        output_log(o, use->pid, use->buf, use->len, " [unfinished]");
    }

    memset(use, 0, offsetof(output_partial_t, buf));
    use->pid = pid;

    return use;
}


static void
output_take(drover_output_t *o, pid_t pid, const char *s, size_t len)
{
    char              *nl, marker[64];
    size_t             chunk, room;
    output_partial_t  *p;

    p = output_partial(o, pid, 1);
    p->used = ++o->tick;

    while (len > 0) {
        nl = memchr(s, '\n', len);
        chunk = (nl != NULL) ? (size_t) (nl - s) : len;

        if (!p->cut) {
            room = DROVER_OUTPUT_LINE_MAX - p->len;

            if (chunk <= room) {
                memcpy(p->buf + p->len, s, chunk);
                p->len += chunk;

            } else {
                memcpy(p->buf + p->len, s, room);
                p->len += room;
                snprintf(marker, sizeof(marker), " [cut: the line is "
                         "longer than %u bytes]", DROVER_OUTPUT_LINE_MAX);
                output_log(o, pid, p->buf, p->len, marker);
                p->cut = 1;
            }
        }

        if (nl == NULL) {
            break;
        }

        if (!p->cut) {
            output_log(o, pid, p->buf, p->len, NULL);
        }

        p->len = 0;
        p->cut = 0;
        s += chunk + 1;
        len -= chunk + 1;
    }

    if (p->len == 0 && !p->cut) {
        p->pid = 0;         /* nothing unfinished: the entry is free */
    }
}


static void
output_close_fds(struct cmsghdr *cm)
{
    int     fd;
    size_t  i, n;

    n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

    for (i = 0; i < n; i++) {
        memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
        close(fd);
    }
}


/*
 * One read: 1 when something came, 0 when nothing is there, 2 at EOF, -1
 * on error.
 * The control buffer has room for the credentials only, which the kernel
 * puts first, so fds sent with SCM_RIGHTS are not even installed.
 */
static int
output_read_one(drover_output_t *o)
{
    char             data[OUTPUT_READ_SIZE];
    char             cbuf[CMSG_SPACE(sizeof(struct ucred))];
    pid_t            pid;
    ssize_t          n;
    struct iovec     iov;
    struct msghdr    msg;
    struct cmsghdr  *cm;
    struct ucred     cred;

    iov.iov_base = data;
    iov.iov_len = sizeof(data);

    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);

    n = recvmsg(o->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

    if (n == -1) {
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
               ? 0 : -1;
    }

    if (n == 0) {
        return 2;           /* EOF: see output_renew() */
    }

    pid = 0;

    for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET) {
            continue;
        }

        if (cm->cmsg_type == SCM_CREDENTIALS
            && cm->cmsg_len >= CMSG_LEN(sizeof(cred)))
        {
            /* the kernel's: a sender can claim no pid but its own */
            memcpy(&cred, CMSG_DATA(cm), sizeof(cred));
            pid = cred.pid;

        } else if (cm->cmsg_type == SCM_RIGHTS) {
            /* fds an app sent down its stdout: never kept */
            output_close_fds(cm);
        }
    }

    output_take(o, pid, data, (size_t) n);
    return 1;
}


static void
output_read(drover_output_t *o, unsigned max)
{
    int       rc;
    unsigned  i;

    for (i = 0; i < max && o->fd != -1; i++) {
        rc = output_read_one(o);

        if (rc == 2) {
            output_renew(o);
            break;
        }

        if (rc <= 0) {
            break;
        }
    }
}


static void
output_poll_cb(uv_poll_t *h, int status, int events)
{
    drover_output_t  *o = h->data;

    (void) events;

    if (status < 0) {
        drover_log_error(DROVER_LOG_ERROR, status, "pool %s: reading the "
                         "output of its processes failed", o->name);
        uv_poll_stop(h);
        return;
    }

    output_read(o, OUTPUT_READS_MAX);
}


void
drover_output_drain(drover_output_t *o, pid_t pid)
{
    output_partial_t  *p;

    if (o == NULL || o->closing) {
        return;
    }

    /* bounded: the others may still be writing */
    output_read(o, OUTPUT_READS_MAX * 4);

    if (pid <= 0) {
        return;
    }

    p = output_partial(o, pid, 0);

    if (p != NULL) {
        if (!p->cut && p->len > 0) {
            output_log(o, pid, p->buf, p->len, NULL);
        }
        p->pid = 0;
    }
}
