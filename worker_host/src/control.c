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

#include "control.h"
#include "render.h"
#include "conf.h"
#include "log.h"
#include "manager.h"
#include "socket.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONTROL_BUF_MIN      4096
#define CONTROL_BUF_MAX      (DROVER_CONTROL_LINE_MAX + 2)  /* + '\n' and
                                                             a spare byte */
#define CONTROL_SWEEP_MS     1000
#define CONTROL_ERR_MAX      512
#define CONTROL_JSON_FLAGS   (JSON_C_TO_STRING_PLAIN                         \
                              | JSON_C_TO_STRING_NOSLASHESCAPE)

typedef struct control_client_s  control_client_t;

struct control_client_s {
    uv_pipe_t            pipe;          /* pipe.data is the client */
    uv_shutdown_t        shutdown;
    drover_control_t    *ctl;
    control_client_t    *prev;
    control_client_t    *next;
    char                *buf;           /* input: a partial line */
    size_t               len;
    size_t               cap;
    uint64_t             last_active;   /* uv_now() of the last progress */
    long                 peer_pid;      /* SO_PEERCRED, for the log */
    long                 peer_uid;
    unsigned             closing:1;
    unsigned             finishing:1;   /* shutdown, then close */
};

struct drover_control_s {
    uv_loop_t              *loop;
    uv_pipe_t               server;
    uv_timer_t              sweep;      /* idle clients, retried accepts */
    drover_socket_t         sock;
    drover_control_ops_t    ops;
    json_tokener           *tok;
    control_client_t       *clients;
    unsigned                nclients;   /* not closing */
    unsigned                handles;    /* open, clients included */
    uint64_t                idle_ms;
    unsigned                closing:1;
    unsigned                accept_pending:1;  /* out of memory: retry */
    unsigned                readonly:1;  /* status and version only */
};

typedef struct {
    uv_write_t           req;
    char                 data[];        /* the answer and its '\n' */
} control_write_t;

typedef enum {
    CONTROL_POOL_NONE,
    CONTROL_POOL_OPTIONAL,
    CONTROL_POOL_REQUIRED
} control_pool_arg_t;

typedef json_object *(*control_cmd_pt)(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);

typedef struct {
    const char          *name;
    control_pool_arg_t   pool;
    control_cmd_pt       handler;
} control_cmd_t;


static void control_connection_cb(uv_stream_t *server, int status);
static void control_accept(drover_control_t *c);
static void control_alloc_cb(uv_handle_t *h, size_t suggested,
    uv_buf_t *buf);
static void control_read_cb(uv_stream_t *s, ssize_t nread,
    const uv_buf_t *buf);
static void control_process(control_client_t *cl);
static void control_line(control_client_t *cl, char *line, size_t len);
static json_object *control_dispatch(control_client_t *cl,
    json_object *req, char *err, size_t errlen);
static int control_pool_name_valid(json_object *v);
static void control_log_request(control_client_t *cl, int level,
    const char *fmt, ...) DROVER_PRINTF(3, 4);
static json_object *control_cmd_status(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);
static json_object *control_cmd_reload(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);
static json_object *control_cmd_restart(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);
static json_object *control_cmd_scale(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);
static json_object *control_cmd_stop(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);
static json_object *control_cmd_version(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);
static json_object *control_done(int rc, const char *what, char *err,
    size_t errlen);
static void control_answer(control_client_t *cl, json_object *id,
    json_object *result, const char *error);
static void control_fail(control_client_t *cl, json_object *id,
    const char *fmt, ...) DROVER_PRINTF(3, 4);
static void control_send(control_client_t *cl, json_object *resp);
static void control_send_raw(control_client_t *cl, const char *head,
    const char *body, size_t len);
static void control_write_cb(uv_write_t *req, int status);
static void control_client_finish(control_client_t *cl);
static void control_shutdown_cb(uv_shutdown_t *req, int status);
static void control_client_close(control_client_t *cl);
static void control_client_close_cb(uv_handle_t *h);
static void control_handle_close_cb(uv_handle_t *h);
static void control_handle_closed(drover_control_t *c);
static void control_sweep_cb(uv_timer_t *t);
static void control_sweep_start(drover_control_t *c);


static const control_cmd_t  control_cmds[] = {
    { "status",  CONTROL_POOL_OPTIONAL, control_cmd_status },
    { "reload",  CONTROL_POOL_NONE,     control_cmd_reload },
    { "restart", CONTROL_POOL_REQUIRED, control_cmd_restart },
    { "scale",   CONTROL_POOL_REQUIRED, control_cmd_scale },
    { "stop",    CONTROL_POOL_NONE,     control_cmd_stop },
    { "version", CONTROL_POOL_NONE,     control_cmd_version },
};

#define CONTROL_NCMDS  (sizeof(control_cmds) / sizeof(control_cmds[0]))


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
        goto failed;
    }

    /* strict: no trailing garbage after the object; UTF-8 checked */
    json_tokener_set_flags(c->tok, JSON_TOKENER_STRICT
                                   | JSON_TOKENER_VALIDATE_UTF8);

    rc = drover_socket_listen(&c->sock, path, mode, (uid_t) -1, gid, err,
                              errlen);
    if (rc != 0) {
        goto failed;
    }

    rc = uv_pipe_init(loop, &c->server, 0);
    if (rc != 0) {
        snprintf(err, errlen, "uv_pipe_init() failed: %s", uv_strerror(rc));
        goto failed;
    }

    c->server.data = c;
    c->handles++;

    rc = uv_timer_init(loop, &c->sweep);
    if (rc != 0) {
        snprintf(err, errlen, "uv_timer_init() failed: %s", uv_strerror(rc));
        goto failed;
    }

    c->sweep.data = c;
    c->handles++;

    rc = uv_pipe_open(&c->server, c->sock.fd);
    if (rc != 0) {
        snprintf(err, errlen, "uv_pipe_open() on %s failed: %s", path,
                 uv_strerror(rc));
        goto failed;
    }

    c->sock.fd = -1;        /* the pipe owns it now; sock keeps the path */

    rc = uv_listen((uv_stream_t *) &c->server, DROVER_SOCKET_BACKLOG,
                   control_connection_cb);
    if (rc != 0) {
        snprintf(err, errlen, "listen() on %s failed: %s", path,
                 uv_strerror(rc));
        goto failed;
    }

    group[0] = '\0';
    if (gid != (gid_t) -1) {
        snprintf(group, sizeof(group), ", group %ld", (long) gid);
    }

    drover_log_error(DROVER_LOG_NOTICE, 0, "control socket %s (mode %04o%s)",
                     path, (unsigned) (mode & 07777), group);

    *out = c;
    return 0;

failed:

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
    char              *p;
    size_t             cap;
    control_client_t  *cl = h->data;

    (void) suggested;

    /*
     * One byte always stays spare, for the '\0' that ends a last request
     * at EOF; control_process() keeps len <= LINE_MAX, so there is room.
     */
    if (cl->cap - cl->len < CONTROL_BUF_MIN && cl->cap < CONTROL_BUF_MAX) {
        cap = cl->cap == 0 ? CONTROL_BUF_MIN : cl->cap * 2;
        if (cap > CONTROL_BUF_MAX) {
            cap = CONTROL_BUF_MAX;
        }

        p = realloc(cl->buf, cap);
        if (p == NULL) {
            *buf = uv_buf_init(NULL, 0);        /* read_cb: UV_ENOBUFS */
            return;
        }

        cl->buf = p;
        cl->cap = cap;
    }

    *buf = uv_buf_init(cl->buf + cl->len,
                       (unsigned) (cl->cap - cl->len - 1));
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
        if (cl->len > 0) {
            n = cl->len;
            cl->buf[n] = '\0';          /* the spare byte */
            cl->len = 0;
            control_line(cl, cl->buf, n);
        }

        control_client_finish(cl);
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

    cl->len += (size_t) nread;
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
        nl = memchr(cl->buf + start, '\n', cl->len - start);
        if (nl == NULL) {
            break;
        }

        n = (size_t) (nl - (cl->buf + start));
        if (n > DROVER_CONTROL_LINE_MAX) {
            break;
        }

        *nl = '\0';
        control_line(cl, cl->buf + start, n);
        start += n + 1;
    }

    if (cl->closing || cl->finishing || c->closing) {
        return;
    }

    if (start > 0) {
        memmove(cl->buf, cl->buf + start, cl->len - start);
        cl->len -= start;
    }

    if (cl->len > DROVER_CONTROL_LINE_MAX) {
        drover_log_error(DROVER_LOG_INFO, 0, "control socket: a request "
                         "from pid %ld is longer than %u bytes, closing",
                         cl->peer_pid, DROVER_CONTROL_LINE_MAX);
        control_fail(cl, NULL, "request longer than %u bytes; closing the "
                     "connection", DROVER_CONTROL_LINE_MAX);
        control_client_finish(cl);
        return;
    }

    if (cl->len == 0 && cl->cap > CONTROL_BUF_MIN) {
        /* an idle client keeps no big buffer */
        free(cl->buf);
        cl->buf = NULL;
        cl->cap = 0;
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
    result = control_dispatch(cl, req, err, sizeof(err));

    if (result != NULL) {
        control_answer(cl, id, result, NULL);

    } else if (!cl->closing && !c->closing && !cl->finishing) {
        control_answer(cl, id, NULL, err[0] != '\0' ? err : "failed");
    }

    json_object_put(id);
    json_object_put(req);
}


/* the result of REQ, or NULL with a message in err */
static json_object *
control_dispatch(control_client_t *cl, json_object *req, char *err,
    size_t errlen)
{
    size_t                 i;
    json_object           *v;
    const char            *name, *pool;
    const control_cmd_t   *cmd;

    if (!json_object_object_get_ex(req, "cmd", &v)
        || !json_object_is_type(v, json_type_string))
    {
        snprintf(err, errlen, "\"cmd\" is %s; it must be a string: status, "
                 "reload, restart, scale, stop or version",
                 json_object_object_get_ex(req, "cmd", NULL)
                 ? "not a string" : "missing");
        return NULL;
    }

    name = json_object_get_string(v);
    cmd = NULL;

    /* "status\u0000x" is no "status" */
    for (i = 0; i < CONTROL_NCMDS; i++) {
        if ((size_t) json_object_get_string_len(v) == strlen(name)
            && strcmp(name, control_cmds[i].name) == 0)
        {
            cmd = &control_cmds[i];
            break;
        }
    }

    if (cmd == NULL) {
        snprintf(err, errlen, "unknown command \"%.64s\"%s; the commands "
                 "are status, reload, restart, scale, stop and version",
                 name, strlen(name) > 64 ? "..." : "");
        return NULL;
    }

    if (cl->ctl->readonly && strcmp(cmd->name, "status") != 0
        && strcmp(cmd->name, "version") != 0)
    {
        snprintf(err, errlen, "\"%s\": this is droverd's read-only status "
                 "socket (status and version only); use the control socket",
                 cmd->name);
        return NULL;
    }

    pool = NULL;
    v = json_object_object_get(req, "pool");     /* "pool":null: none */

    if (v != NULL && cmd->pool == CONTROL_POOL_NONE) {
        snprintf(err, errlen, "\"%s\" takes no \"pool\"%s", cmd->name,
                 strcmp(cmd->name, "reload") == 0
                 ? ": it reloads the whole configuration" : "");
        return NULL;
    }

    if (v == NULL && cmd->pool == CONTROL_POOL_REQUIRED) {
        snprintf(err, errlen, "\"%s\" needs a \"pool\"", cmd->name);
        return NULL;
    }

    if (v != NULL) {
        if (!control_pool_name_valid(v)) {
            snprintf(err, errlen, "\"pool\" must be a pool name: a string "
                     "of 1 to %u characters from A-Z a-z 0-9 _ . -",
                     DROVER_CONF_NAME_MAX);
            return NULL;
        }

        pool = json_object_get_string(v);
    }

    return cmd->handler(cl, req, pool, err, errlen);
}


/* the syntax of conf.c's pool names: [A-Za-z0-9_.-]{1,64} */
static int
control_pool_name_valid(json_object *v)
{
    size_t       len;
    const char  *name;

    if (!json_object_is_type(v, json_type_string)) {
        return 0;
    }

    name = json_object_get_string(v);
    len = (size_t) json_object_get_string_len(v);

    /* an escaped NUL ("k\u0000t") would make it look shorter */
    if (len == 0 || len > DROVER_CONF_NAME_MAX || strlen(name) != len) {
        return 0;
    }

    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789_.-") == len;
}


/* ---- the commands ---- */

/* who asked for what: actions at notice, for the record */
static void
control_log_request(control_client_t *cl, int level, const char *fmt, ...)
{
    char     what[128];
    va_list  ap;

    if (!drover_log_enabled(level)) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);

    drover_log_error(level, 0, "control: \"%s\" from pid %ld, uid %ld", what,
                     cl->peer_pid, cl->peer_uid);
}


/*
 * {"cmd":"status","format":"prometheus"|"html"|"json","raw":true}: the
 * answer is not a JSON line but "CODE CONTENT-TYPE\n" and the document,
 * then the connection closes.  The nginx status page relays it as it is,
 * so nginx never parses JSON.
 */
static json_object *
control_status_raw(control_client_t *cl, json_object *result,
    const char *format, const char *err)
{
    int          rc;
    char        *text;
    size_t       len;
    const char  *s;

    text = NULL;
    len = 0;
    rc = 0;

    if (result == NULL) {
        control_send_raw(cl, strncmp(err, "no pool", 7) == 0
                             ? "404 text/plain; charset=utf-8\n"
                             : "500 text/plain; charset=utf-8\n",
                         err, strlen(err));
        control_client_finish(cl);
        return NULL;
    }

    if (strcmp(format, "prometheus") == 0) {
        rc = drover_render_prometheus(result, &text, &len);
        if (rc == 0) {
            control_send_raw(cl, "200 text/plain; version=0.0.4; "
                             "charset=utf-8\n", text, len);
        }

    } else if (strcmp(format, "html") == 0) {
        rc = drover_render_html(result, &text, &len);
        if (rc == 0) {
            control_send_raw(cl, "200 text/html; charset=utf-8\n", text,
                             len);
        }

    } else {
        s = json_object_to_json_string_length(result,
                                              JSON_C_TO_STRING_PRETTY, &len);
        control_send_raw(cl, "200 application/json\n", s, len);
    }

    if (rc != 0) {
        control_send_raw(cl, "500 text/plain; charset=utf-8\n",
                         "cannot render the status", 24);
    }

    free(text);
    json_object_put(result);
    control_client_finish(cl);

    return NULL;
}


/*
 * The nginx status page sends its dispatch numbers along:
 * "queues":[{"listen":PATH,"queued":N,"waited":N,"wait_ms":N,...}].
 * Each goes into the pool that listens on PATH: queue_depth, queue_wait_ms
 * (the average) and the whole object as "dispatch".  Anything malformed is
 * left out: the page must render whatever nginx sent.
 */
static void
control_merge_queues(json_object *result, json_object *req)
{
    size_t        i, j, n, np;
    json_object  *queues, *pools, *q, *p, *v, *listen, *d;
    int64_t       waited, wait_ms;

    static const char  *fields[] = {
        "queued", "requests", "waited", "wait_ms", "wait_max_ms",
        "overflows", "timeouts", "replays", "failures", "pipelined",
        "moved"
    };

    if (!json_object_object_get_ex(req, "queues", &queues)
        || !json_object_is_type(queues, json_type_array)
        || !json_object_object_get_ex(result, "pools", &pools)
        || !json_object_is_type(pools, json_type_array))
    {
        return;
    }

    n = json_object_array_length(queues);
    np = json_object_array_length(pools);

    for (i = 0; i < n && i < 1024; i++) {
        q = json_object_array_get_idx(queues, i);

        if (!json_object_is_type(q, json_type_object)
            || !json_object_object_get_ex(q, "listen", &listen)
            || !json_object_is_type(listen, json_type_string))
        {
            continue;
        }

        d = json_object_new_object();

        for (j = 0; j < sizeof(fields) / sizeof(fields[0]); j++) {
            if (json_object_object_get_ex(q, fields[j], &v)
                && json_object_is_type(v, json_type_int)
                && json_object_get_int64(v) >= 0)
            {
                json_object_object_add(d, fields[j], json_object_new_int64(
                                       json_object_get_int64(v)));
            }
        }

        for (j = 0; j < np; j++) {
            p = json_object_array_get_idx(pools, j);

            if (!json_object_object_get_ex(p, "listen", &v)
                || strcmp(json_object_get_string(v),
                          json_object_get_string(listen)) != 0)
            {
                continue;
            }

            if (json_object_object_get_ex(d, "queued", &v)) {
                json_object_object_add(p, "queue_depth",
                                       json_object_get(v));
            }

            waited = json_object_object_get_ex(d, "waited", &v)
                     ? json_object_get_int64(v) : 0;
            wait_ms = json_object_object_get_ex(d, "wait_ms", &v)
                      ? json_object_get_int64(v) : 0;

            json_object_object_add(p, "queue_wait_ms",
                                   json_object_new_double(waited > 0
                                       ? (double) wait_ms / (double) waited
                                       : 0));
            json_object_object_add(p, "dispatch", json_object_get(d));
            break;
        }

        json_object_put(d);
    }
}


static json_object *
control_cmd_status(control_client_t *cl, json_object *req, const char *pool,
    char *err, size_t errlen)
{
    json_object           *result, *v;
    const char            *format;
    drover_control_ops_t  *ops = &cl->ctl->ops;

    control_log_request(cl, DROVER_LOG_DEBUG, "status%s%s", pool ? " " : "",
                        pool ? pool : "");

    format = "json";

    if (json_object_object_get_ex(req, "format", &v)) {
        format = json_object_is_type(v, json_type_string)
                 ? json_object_get_string(v) : "";

        if (strcmp(format, "json") != 0 && strcmp(format, "prometheus") != 0
            && strcmp(format, "html") != 0)
        {
            snprintf(err, errlen, "\"format\" is one of json, prometheus, "
                     "html");
            return NULL;
        }
    }

    if (ops->status == NULL) {
        snprintf(err, errlen, "\"status\" is not supported");
        return NULL;
    }

    result = ops->status(ops->data, pool, err, errlen);
    if (result == NULL && err[0] == '\0') {
        snprintf(err, errlen, "status failed");
    }

    if (result != NULL) {
        control_merge_queues(result, req);
    }

    if (json_object_object_get_ex(req, "raw", &v)
        && json_object_get_boolean(v))
    {
        return control_status_raw(cl, result, format, err);
    }

    if (result != NULL && strcmp(format, "json") != 0) {
        char    *text = NULL;
        size_t   len;
        int      rc;

        rc = strcmp(format, "prometheus") == 0
             ? drover_render_prometheus(result, &text, &len)
             : drover_render_html(result, &text, &len);

        json_object_put(result);

        if (rc != 0) {
            snprintf(err, errlen, "cannot render the status");
            return NULL;
        }

        result = json_object_new_string_len(text, (int) len);
        free(text);
    }

    return result;
}


static json_object *
control_cmd_reload(control_client_t *cl, json_object *req, const char *pool,
    char *err, size_t errlen)
{
    drover_control_ops_t  *ops = &cl->ctl->ops;

    (void) req;
    (void) pool;

    control_log_request(cl, DROVER_LOG_NOTICE, "reload");

    if (ops->reload == NULL) {
        snprintf(err, errlen, "\"reload\" is not supported");
        return NULL;
    }

    return control_done(ops->reload(ops->data, err, errlen), "reload", err,
                        errlen);
}


static json_object *
control_cmd_restart(control_client_t *cl, json_object *req, const char *pool,
    char *err, size_t errlen)
{
    drover_control_ops_t  *ops = &cl->ctl->ops;

    (void) req;

    control_log_request(cl, DROVER_LOG_NOTICE, "restart %s", pool);

    if (ops->restart == NULL) {
        snprintf(err, errlen, "\"restart\" is not supported");
        return NULL;
    }

    return control_done(ops->restart(ops->data, pool, err, errlen),
                        "restart", err, errlen);
}


static json_object *
control_cmd_scale(control_client_t *cl, json_object *req, const char *pool,
    char *err, size_t errlen)
{
    int64_t                n;
    json_object           *v;
    drover_control_ops_t  *ops = &cl->ctl->ops;

    v = json_object_object_get(req, "workers");

    if (v == NULL || !json_object_is_type(v, json_type_int)) {
        snprintf(err, errlen, "\"scale\" needs \"workers\": a whole number "
                 "from 1 to %u%s", DROVER_CONF_MAX_WORKERS,
                 v == NULL ? "" : json_object_is_type(v, json_type_string)
                 ? ", not a string" : json_object_is_type(v, json_type_double)
                 ? ", not a fraction" : "");
        return NULL;
    }

    /* beyond int64, json-c clamps: still out of range */
    n = json_object_get_int64(v);
    if (n < 1 || n > DROVER_CONF_MAX_WORKERS) {
        snprintf(err, errlen, "\"workers\" must be from 1 to %u, got %lld",
                 DROVER_CONF_MAX_WORKERS, (long long) n);
        return NULL;
    }

    control_log_request(cl, DROVER_LOG_NOTICE, "scale %s %u", pool,
                        (unsigned) n);

    if (ops->scale == NULL) {
        snprintf(err, errlen, "\"scale\" is not supported");
        return NULL;
    }

    return control_done(ops->scale(ops->data, pool, (unsigned) n, err,
                                   errlen), "scale", err, errlen);
}


static json_object *
control_cmd_stop(control_client_t *cl, json_object *req, const char *pool,
    char *err, size_t errlen)
{
    drover_control_ops_t  *ops = &cl->ctl->ops;

    (void) req;
    (void) pool;

    control_log_request(cl, DROVER_LOG_NOTICE, "stop");

    if (ops->stop == NULL) {
        snprintf(err, errlen, "\"stop\" is not supported");
        return NULL;
    }

    return control_done(ops->stop(ops->data, err, errlen), "stop", err,
                        errlen);
}


static json_object *
control_cmd_version(control_client_t *cl, json_object *req, const char *pool,
    char *err, size_t errlen)
{
    json_object  *result;

    (void) req;
    (void) pool;

    control_log_request(cl, DROVER_LOG_DEBUG, "version");

    result = json_object_new_object();
    if (result == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    json_object_object_add(result, "version",
                           json_object_new_string(DROVER_VERSION));
    json_object_object_add(result, "protocol",
                           json_object_new_int(DROVER_CONTROL_PROTOCOL));
    json_object_object_add(result, "pid",
                           json_object_new_int64((int64_t) getpid()));

    return result;
}


/* an action's outcome: an empty result object, or NULL and err */
static json_object *
control_done(int rc, const char *what, char *err, size_t errlen)
{
    json_object  *result;

    if (rc < 0) {
        if (err[0] == '\0') {
            snprintf(err, errlen, "%s failed: %s", what, uv_strerror(rc));
        }

        return NULL;
    }

    result = json_object_new_object();
    if (result == NULL) {
        snprintf(err, errlen, "%s done, but out of memory for the answer",
                 what);
    }

    return result;
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


static void
control_send_raw(control_client_t *cl, const char *head, const char *body,
    size_t len)
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
static void
control_client_finish(control_client_t *cl)
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

    free(cl->buf);
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
