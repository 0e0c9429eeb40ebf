/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * conn.c -- droverctl's connection to droverd: one blocking Unix socket,
 * one JSON line out and one back per request, every wait bounded.
 */

#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>


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


void
ctl_disconnect(ctl_conn_t *c)
{
    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
    }

    c->in.len = 0;
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


/* one line into c->in, NUL-terminated instead of its '\n'; *len */
static int
ctl_read_line(ctl_conn_t *c, size_t *line_len, uint64_t deadline)
{
    int       rc;
    char     *nl;
    size_t    scanned;
    ssize_t   n;

    scanned = 0;

    for ( ;; ) {
        nl = c->in.len > scanned ? memchr(c->in.data + scanned, '\n',
                                          c->in.len - scanned) : NULL;
        if (nl != NULL) {
            *nl = '\0';
            *line_len = (size_t) (nl - c->in.data);
            return CTL_OK;
        }

        scanned = c->in.len;

        if (c->in.len == CTL_REPLY_MAX) {
            snprintf(c->err, sizeof(c->err), "droverd's answer is longer "
                     "than %u MiB", CTL_REPLY_MAX >> 20);
            return CTL_EPROTOCOL;
        }

        if (drover_buf_reserve(&c->in, CTL_READ_MIN, CTL_REPLY_MAX) != 0) {
            ctl_oom();
        }

        n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);

        if (n > 0) {
            c->in.len += (size_t) n;
            continue;
        }

        if (n == 0) {
            snprintf(c->err, sizeof(c->err), "droverd closed the connection "
                     "without answering%s", c->in.len ? " in full" : "");
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
int
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

    resp = json_tokener_parse_ex(tok, c->in.data, (int) line_len + 1);
    if (resp == NULL) {
        snprintf(c->err, sizeof(c->err), "droverd's answer is not JSON: %s",
                 json_tokener_error_desc(json_tokener_get_error(tok)));
        rc = CTL_EPROTOCOL;
        goto cleanup;
    }

    if (!json_object_object_get_ex(resp, "ok", &ok)
        || !json_object_is_type(ok, json_type_boolean))
    {
        snprintf(c->err, sizeof(c->err), "droverd's answer has no \"ok\"");
        rc = CTL_EPROTOCOL;
        goto cleanup;
    }

    if (!json_object_get_boolean(ok)) {
        msg = drover_json_string(resp, "error");
        line = ctl_clean(msg != NULL ? msg : "failed, without a message");
        snprintf(c->err, sizeof(c->err), "%s", line);
        free(line);
        rc = CTL_EANSWER;
        goto cleanup;
    }

    *result = json_object_get(drover_json_get(resp, "result"));
    rc = CTL_OK;

cleanup:

    /* the next answer starts after this line */
    drover_buf_consume(&c->in, line_len + 1);

    json_object_put(resp);
    json_tokener_free(tok);

    if (rc == CTL_EPROTOCOL) {
        ctl_disconnect(c);
    }

    return rc;
}


json_object *
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
