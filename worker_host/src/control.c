/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * control.c -- see control.h.
 *
 * Each client is a uv_pipe_t (never a uv_poll_t: the manager's shutdown
 * walk takes every UV_POLL handle for one of its channels).  Its input is
 * one buffer of at most DROVER_CONTROL_LINE_MAX + 2 bytes, grown as lines
 * need it and dropped when empty; each complete line is answered at once,
 * so answers go out in the order of the requests.  What bounds a client:
 * the line length, its unread output (DROVER_CONTROL_OUTPUT_MAX), the
 * idle timeout and the number of clients.
 *
 * Memory: the control and its clients are freed only in close callbacks;
 * the control itself when its last handle has closed.
 */

#include "control_int.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


static void control_connection_cb(uv_stream_t *server, int status);
static void control_accept(drover_control_t *c);
static void control_alloc_cb(uv_handle_t *h, size_t suggested,
    uv_buf_t *buf);
static void control_read_cb(uv_stream_t *s, ssize_t nread,
    const uv_buf_t *buf);
static void control_process(control_client_t *cl);
static void control_line(control_client_t *cl, char *line, size_t len);
static void control_answer(control_client_t *cl, json_object *id,
    json_object *result, const char *error);
static void control_fail(control_client_t *cl, json_object *id,
    const char *fmt, ...) DROVER_PRINTF(3, 4);
static void control_send(control_client_t *cl, json_object *resp);
static void control_write_cb(uv_write_t *req, int status);
static void control_shutdown_cb(uv_shutdown_t *req, int status);
static void control_client_close(control_client_t *cl);
static void control_client_close_cb(uv_handle_t *h);
static void control_handle_close_cb(uv_handle_t *h);
static void control_handle_closed(drover_control_t *c);
static void control_sweep_cb(uv_timer_t *t);
static void control_sweep_start(drover_control_t *c);


int
drover_control_start(uv_loop_t *loop, const char *path, mode_t mode,
    gid_t gid, const drover_control_ops_t *ops, drover_control_t **out,
    char *err, size_t errlen)
{
    int                rc;
    char               group[32];
    drover_control_t  *c;

    *out = NULL;

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }

    c->loop = loop;
    c->ops = *ops;
    c->idle_ms = DROVER_CONTROL_IDLE_MS;
    c->sock.fd = -1;

    c->tok = json_tokener_new();
    if (c->tok == NULL) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }

    /* strict: no trailing garbage after the object; UTF-8 checked */
    json_tokener_set_flags(c->tok, JSON_TOKENER_STRICT
                                   | JSON_TOKENER_VALIDATE_UTF8);

    rc = drover_socket_listen(&c->sock, path, mode, (uid_t) -1, gid, err,
                              errlen);
    if (rc != 0) {
        goto fail;
    }

    rc = uv_pipe_init(loop, &c->server, 0);
    if (rc != 0) {
        snprintf(err, errlen, "uv_pipe_init() failed: %s", uv_strerror(rc));
        goto fail;
    }

    c->server.data = c;
    c->handles++;

    rc = uv_timer_init(loop, &c->sweep);
    if (rc != 0) {
        snprintf(err, errlen, "uv_timer_init() failed: %s", uv_strerror(rc));
        goto fail;
    }

    c->sweep.data = c;
    c->handles++;

    rc = uv_pipe_open(&c->server, c->sock.fd);
    if (rc != 0) {
        snprintf(err, errlen, "uv_pipe_open() on %s failed: %s", path,
                 uv_strerror(rc));
        goto fail;
    }

    c->sock.fd = -1;        /* the pipe owns it now; sock keeps the path */

    rc = uv_listen((uv_stream_t *) &c->server, DROVER_SOCKET_BACKLOG,
                   control_connection_cb);
    if (rc != 0) {
        snprintf(err, errlen, "listen() on %s failed: %s", path,
                 uv_strerror(rc));
        goto fail;
    }

    group[0] = '\0';
    if (gid != (gid_t) -1) {
        snprintf(group, sizeof(group), ", group %ld", (long) gid);
    }

    drover_log_error(DROVER_LOG_NOTICE, 0, "control socket %s (mode %04o%s)",
                     path, (unsigned) (mode & 07777), group);

    *out = c;
    return 0;

fail:

    if (c->handles == 0) {
        drover_socket_close(&c->sock);
        if (c->tok != NULL) {
            json_tokener_free(c->tok);
        }
        free(c);

    } else {
        drover_control_close(c);    /* frees c in the close callbacks */
    }

    return rc;
}


void
drover_control_set_readonly(drover_control_t *c)
{
    c->readonly = 1;
}


void
drover_control_close(drover_control_t *c)
{
    control_client_t  *cl;

    if (c == NULL || c->closing) {
        return;
    }

    c->closing = 1;

    /* the file goes now: a droverctl started from here on sees no droverd */
    drover_socket_close(&c->sock);

    for (cl = c->clients; cl != NULL; cl = cl->next) {
        control_client_close(cl);
    }

    if (c->server.type == UV_NAMED_PIPE
        && !uv_is_closing((uv_handle_t *) &c->server))
    {
        uv_close((uv_handle_t *) &c->server, control_handle_close_cb);
    }

    if (c->sweep.type == UV_TIMER
        && !uv_is_closing((uv_handle_t *) &c->sweep))
    {
        uv_close((uv_handle_t *) &c->sweep, control_handle_close_cb);
    }
}


void
drover__control_set_idle_ms(drover_control_t *c, uint64_t ms)
{
    c->idle_ms = ms > 0 ? ms : 1;

    if (uv_is_active((uv_handle_t *) &c->sweep)) {
        uv_timer_stop(&c->sweep);
        control_sweep_start(c);
    }
}


unsigned
drover__control_clients(const drover_control_t *c)
{
    return c->nclients;
}


/* ---- accepting ---- */

static void
control_connection_cb(uv_stream_t *server, int status)
{
    drover_control_t  *c = server->data;

    if (status < 0) {
        /* libuv itself sheds connections on EMFILE (its reserve fd) */
        drover_log_error(DROVER_LOG_WARN, status, "control socket: accept "
                         "failed");
        return;
    }

    control_accept(c);
}


static void
control_accept(drover_control_t *c)
{
    int                rc, fd;
    uv_buf_t           buf;
    socklen_t          len;
    struct ucred       cred;
    control_client_t  *cl;

    static const char  refuse[] = "{\"ok\":false,\"error\":\"too many "
                                  "control connections; try again "
                                  "later\"}\n";

    cl = calloc(1, sizeof(*cl));
    if (cl == NULL) {
        /*
         * The connection stays in the server until uv_accept(); libuv stops
         * watching the server meanwhile.  Try again on the sweep timer.
         */
        if (!c->accept_pending) {
            drover_log_error(DROVER_LOG_ALERT, ENOMEM, "control socket: "
                             "cannot accept a client");
        }

        c->accept_pending = 1;
        control_sweep_start(c);
        return;
    }

    c->accept_pending = 0;

    rc = uv_pipe_init(c->loop, &cl->pipe, 0);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ALERT, rc, "control socket: "
                         "uv_pipe_init()");
        free(cl);
        return;
    }

    cl->pipe.data = cl;
    cl->ctl = c;
    cl->peer_pid = -1;
    cl->peer_uid = -1;
    cl->last_active = uv_now(c->loop);

    cl->next = c->clients;
    if (c->clients != NULL) {
        c->clients->prev = cl;
    }
    c->clients = cl;
    c->nclients++;
    c->handles++;

    rc = uv_accept((uv_stream_t *) &c->server, (uv_stream_t *) &cl->pipe);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_WARN, rc, "control socket: accept "
                         "failed");
        control_client_close(cl);
        return;
    }

    if (c->nclients > DROVER_CONTROL_MAX_CLIENTS) {
        drover_log_error(DROVER_LOG_WARN, 0, "control socket: %u clients "
                         "connected already, closing a new one",
                         DROVER_CONTROL_MAX_CLIENTS);
        buf = uv_buf_init((char *) refuse, sizeof(refuse) - 1);
        (void) uv_try_write((uv_stream_t *) &cl->pipe, &buf, 1);
        control_client_close(cl);
        return;
    }

    len = sizeof(cred);
    if (uv_fileno((uv_handle_t *) &cl->pipe, &fd) == 0
        && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
    {
        cl->peer_pid = (long) cred.pid;
        cl->peer_uid = (long) cred.uid;
    }

    rc = uv_read_start((uv_stream_t *) &cl->pipe, control_alloc_cb,
                       control_read_cb);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_WARN, rc, "control socket: cannot read "
                         "from a client");
        control_client_close(cl);
        return;
    }

    control_sweep_start(c);
}


/* ---- reading ---- */

static void
control_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    control_client_t  *cl = h->data;

    (void) suggested;

    /*
     * One byte always stays spare, for the '\0' that ends a last request
     * at EOF; control_process() keeps len <= LINE_MAX, so there is room.
     */
    if (drover_buf_reserve(&cl->in, CONTROL_BUF_MIN, CONTROL_BUF_MAX) != 0) {
        *buf = uv_buf_init(NULL, 0);            /* read_cb: UV_ENOBUFS */
        return;
    }

    *buf = uv_buf_init(cl->in.data + cl->in.len,
                       (unsigned) (cl->in.cap - cl->in.len - 1));
}


static void
control_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    size_t             n;
    control_client_t  *cl = s->data;

    (void) buf;

    if (nread == 0) {
        return;
    }

    if (nread == UV_EOF) {
        /*
         * The client is done sending (`nc -N`, or shutdown(SHUT_WR)): a
         * last request without its newline still counts; then the answers
         * go out and the connection closes.
         */
        if (cl->in.len > 0) {
            n = cl->in.len;
            cl->in.data[n] = '\0';      /* the spare byte */
            cl->in.len = 0;
            control_line(cl, cl->in.data, n);
        }

        drover__control_client_finish(cl);
        return;
    }

    if (nread < 0) {
        if (nread != UV_ECONNRESET) {
            drover_log_error(DROVER_LOG_INFO, (int) nread, "control socket: "
                             "read from a client failed");
        }

        control_client_close(cl);
        return;
    }

    cl->in.len += (size_t) nread;
    cl->last_active = uv_now(cl->ctl->loop);

    control_process(cl);
}


/* answer every complete line in the buffer, keep the partial one */
static void
control_process(control_client_t *cl)
{
    char              *nl;
    size_t             start, n;
    drover_control_t  *c = cl->ctl;

    start = 0;

    while (!cl->closing && !cl->finishing && !c->closing) {
        nl = memchr(cl->in.data + start, '\n', cl->in.len - start);
        if (nl == NULL) {
            break;
        }

        n = (size_t) (nl - (cl->in.data + start));
        if (n > DROVER_CONTROL_LINE_MAX) {
            break;
        }

        *nl = '\0';
        control_line(cl, cl->in.data + start, n);
        start += n + 1;
    }

    if (cl->closing || cl->finishing || c->closing) {
        return;
    }

    drover_buf_consume(&cl->in, start);

    if (cl->in.len > DROVER_CONTROL_LINE_MAX) {
        drover_log_error(DROVER_LOG_INFO, 0, "control socket: a request "
                         "from pid %ld is longer than %u bytes, closing",
                         cl->peer_pid, DROVER_CONTROL_LINE_MAX);
        control_fail(cl, NULL, "request longer than %u bytes; closing the "
                     "connection", DROVER_CONTROL_LINE_MAX);
        drover__control_client_finish(cl);
        return;
    }

    if (cl->in.len == 0 && cl->in.cap > CONTROL_BUF_MIN) {
        drover_buf_free(&cl->in);       /* an idle client keeps no big
                                           buffer */
    }
}


/* one request: LINE is LEN bytes, NUL-terminated */
static void
control_line(control_client_t *cl, char *line, size_t len)
{
    size_t                 i;
    json_object           *req, *id, *result;
    drover_control_t      *c = cl->ctl;
    enum json_tokener_error  jerr;
    char                   err[CONTROL_ERR_MAX];

    if (len > 0 && line[len - 1] == '\r') {
        line[--len] = '\0';
    }

    for (i = 0; i < len; i++) {
        if (line[i] != ' ' && line[i] != '\t') {
            break;
        }
    }

    if (i == len) {
        return;                         /* an empty line is no request */
    }

    if (memchr(line, '\0', len) != NULL) {
        control_fail(cl, NULL, "invalid request: it contains a NUL byte");
        return;
    }

    json_tokener_reset(c->tok);

    /* the '\0' included: the end of the input, so "12" is complete */
    req = json_tokener_parse_ex(c->tok, line, (int) len + 1);
    jerr = json_tokener_get_error(c->tok);

    if (jerr != json_tokener_success) {
        control_fail(cl, NULL, "invalid JSON: %s",
                     json_tokener_error_desc(jerr));
        json_object_put(req);
        return;
    }

    if (json_tokener_get_parse_end(c->tok) < len) {
        control_fail(cl, NULL, "invalid JSON: more after the object");
        json_object_put(req);
        return;
    }

    /* req is NULL for a JSON null */
    if (req == NULL || !json_object_is_type(req, json_type_object)) {
        control_fail(cl, NULL, "a request is a JSON object, like "
                     "{\"cmd\":\"status\"}");
        json_object_put(req);
        return;
    }

    /* "id" comes back with the answer: ours to hold until then */
    id = json_object_get(json_object_object_get(req, "id"));

    err[0] = '\0';
    result = drover__control_dispatch(cl, req, err, sizeof(err));

    if (result != NULL) {
        control_answer(cl, id, result, NULL);

    } else if (!cl->closing && !c->closing && !cl->finishing) {
        control_answer(cl, id, NULL, err[0] != '\0' ? err : "failed");
    }

    json_object_put(id);
    json_object_put(req);
}


/* ---- answering ---- */

/* {"ok":true,"id":ID,"result":RESULT} or {"ok":false,"id":ID,"error":..};
   takes result's reference */
static void
control_answer(control_client_t *cl, json_object *id, json_object *result,
    const char *error)
{
    json_object  *resp;

    if (cl->closing || cl->ctl->closing) {
        json_object_put(result);
        return;
    }

    resp = json_object_new_object();
    if (resp == NULL) {
        json_object_put(result);
        control_client_close(cl);
        return;
    }

    json_object_object_add(resp, "ok", json_object_new_boolean(error == NULL));

    if (id != NULL) {
        json_object_object_add(resp, "id", json_object_get(id));
    }

    if (error == NULL) {
        json_object_object_add(resp, "result", result);
    } else {
        json_object_object_add(resp, "error", json_object_new_string(error));
    }

    control_send(cl, resp);
    json_object_put(resp);
}


static void
control_fail(control_client_t *cl, json_object *id, const char *fmt, ...)
{
    char     msg[CONTROL_ERR_MAX];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    control_answer(cl, id, NULL, msg);
}


static void
control_send(control_client_t *cl, json_object *resp)
{
    int               rc;
    size_t            len;
    uv_buf_t          buf;
    const char       *s;
    control_write_t  *w;

    /* PLAIN: no newline inside; json-c escapes the ones in strings */
    s = json_object_to_json_string_length(resp, CONTROL_JSON_FLAGS, &len);
    w = s != NULL ? malloc(sizeof(*w) + len + 1) : NULL;
    if (w == NULL) {
        drover_log_error(DROVER_LOG_ALERT, ENOMEM, "control socket: cannot "
                         "answer a client");
        control_client_close(cl);
        return;
    }

    memcpy(w->data, s, len);
    w->data[len] = '\n';
    w->req.data = cl;

    buf = uv_buf_init(w->data, (unsigned) (len + 1));

    rc = uv_write(&w->req, (uv_stream_t *) &cl->pipe, &buf, 1,
                  control_write_cb);
    if (rc != 0) {
        free(w);
        control_client_close(cl);
        return;
    }

    /* what the kernel would not take yet: the client is not reading */
    if (cl->pipe.write_queue_size > DROVER_CONTROL_OUTPUT_MAX) {
        drover_log_error(DROVER_LOG_INFO, 0, "control socket: pid %ld does "
                         "not read its answers (%zu bytes waiting), closing",
                         cl->peer_pid, cl->pipe.write_queue_size);
        control_client_close(cl);
    }
}


void
drover__control_send_raw(control_client_t *cl, const char *head,
    const char *body, size_t len)
{
    int               rc;
    size_t            hlen;
    uv_buf_t          buf;
    control_write_t  *w;

    hlen = strlen(head);

    w = malloc(sizeof(*w) + hlen + len);
    if (w == NULL) {
        control_client_close(cl);
        return;
    }

    memcpy(w->data, head, hlen);
    memcpy(w->data + hlen, body, len);
    w->req.data = cl;

    buf = uv_buf_init(w->data, (unsigned) (hlen + len));

    rc = uv_write(&w->req, (uv_stream_t *) &cl->pipe, &buf, 1,
                  control_write_cb);
    if (rc != 0) {
        free(w);
        control_client_close(cl);
    }
}


static void
control_write_cb(uv_write_t *req, int status)
{
    control_write_t   *w = (control_write_t *) req;
    control_client_t  *cl = req->data;

    free(w);

    if (cl->closing) {
        return;                 /* UV_ECANCELED from the close */
    }

    if (status < 0) {
        if (status != UV_EPIPE && status != UV_ECONNRESET) {
            drover_log_error(DROVER_LOG_INFO, status, "control socket: "
                             "write to pid %ld failed", cl->peer_pid);
        }

        control_client_close(cl);
        return;
    }

    cl->last_active = uv_now(cl->ctl->loop);
}


/* no more requests: close once the answers are written */
void
drover__control_client_finish(control_client_t *cl)
{
    int  rc;

    if (cl->closing || cl->finishing) {
        return;
    }

    cl->finishing = 1;
    uv_read_stop((uv_stream_t *) &cl->pipe);

    rc = uv_shutdown(&cl->shutdown, (uv_stream_t *) &cl->pipe,
                     control_shutdown_cb);
    if (rc != 0) {
        control_client_close(cl);
    }
}


static void
control_shutdown_cb(uv_shutdown_t *req, int status)
{
    control_client_t  *cl = req->handle->data;

    (void) status;

    control_client_close(cl);
}


/* ---- closing ---- */

static void
control_client_close(control_client_t *cl)
{
    if (cl->closing) {
        return;
    }

    cl->closing = 1;
    cl->ctl->nclients--;

    uv_close((uv_handle_t *) &cl->pipe, control_client_close_cb);
}


static void
control_client_close_cb(uv_handle_t *h)
{
    control_client_t  *cl = h->data;
    drover_control_t  *c = cl->ctl;

    if (cl->prev != NULL) {
        cl->prev->next = cl->next;
    } else {
        c->clients = cl->next;
    }

    if (cl->next != NULL) {
        cl->next->prev = cl->prev;
    }

    drover_buf_free(&cl->in);
    free(cl);

    control_handle_closed(c);
}


static void
control_handle_close_cb(uv_handle_t *h)
{
    control_handle_closed(h->data);
}


static void
control_handle_closed(drover_control_t *c)
{
    c->handles--;

    if (c->handles == 0 && c->closing) {
        json_tokener_free(c->tok);
        free(c);
    }
}


/* ---- the sweep: idle clients, accepts retried ---- */

static void
control_sweep_start(drover_control_t *c)
{
    uint64_t  period;

    if (c->closing || uv_is_active((uv_handle_t *) &c->sweep)) {
        return;
    }

    period = c->idle_ms < CONTROL_SWEEP_MS ? c->idle_ms : CONTROL_SWEEP_MS;
    uv_timer_start(&c->sweep, control_sweep_cb, period, period);
}


static void
control_sweep_cb(uv_timer_t *t)
{
    uint64_t           now;
    drover_control_t  *c = t->data;
    control_client_t  *cl;

    now = uv_now(c->loop);

    /* closing unlinks nothing until the close callback: safe to go on */
    for (cl = c->clients; cl != NULL; cl = cl->next) {
        if (!cl->closing && now - cl->last_active >= c->idle_ms) {
            drover_log_error(DROVER_LOG_INFO, 0, "control socket: closing "
                             "the connection of pid %ld, idle for %llu ms",
                             cl->peer_pid, (unsigned long long) c->idle_ms);
            control_client_close(cl);
        }
    }

    if (c->accept_pending) {
        control_accept(c);
    }

    if (c->nclients == 0 && !c->accept_pending) {
        uv_timer_stop(&c->sweep);
    }
}
