/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * worker_fixture.c -- what the worker's end-to-end tests share: a built-in
 * app, a forked worker on Unix sockets, a FastCGI client (worker_fixture.h).
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "conf.h"
#include "fcgi.h"
#include "log.h"
#include "worker.h"
#include "worker_fixture.h"


/* ---- the app under test ---- */

static int      app_worker_inited;
static ssize_t  app_last_rc;
static size_t   app_last_total;
static long     app_calls;        /* handle() calls, for test_refused */
char            app_dir[64];


static int
app_worker_init(drover_ctx_t *ctx, void *state)
{
    (void) ctx;
    (void) state;

    app_worker_inited = 1;

    return 0;
}


static void
app_fini(drover_ctx_t *ctx, void *state)
{
    int   fd;
    char  path[128];

    (void) ctx;
    (void) state;

    snprintf(path, sizeof(path), "%s/fini.%ld", app_dir, (long) getpid());
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    if (fd >= 0) {
        close(fd);
    }
}


static long
app_arg_long(drover_req_t *req, const char *name, long dflt)
{
    char  buf[32];

    if (drover_req_arg(req, name, buf, sizeof(buf)) <= 0) {
        return dflt;
    }

    return strtol(buf, NULL, 10);
}


/*
 * For test_path_and_proxy, whatever the path: what the SDK makes of the
 * path parameters, and every parameter an app can see.
 */
static int
app_whoami(drover_req_t *req)
{
    size_t       i;
    const char  *n, *v, *proxy, *header;

    proxy = drover_req_param(req, "HTTP_PROXY");
    header = drover_req_header(req, "Proxy");

    drover_resp_printf(req, "path=%s uri=%s proxy=%s header=%s names=",
                       drover_req_path(req), drover_req_uri(req),
                       proxy ? proxy : "(null)", header ? header : "(null)");

    i = 0;
    while (drover_req_param_next(req, &i, &n, &v)) {
        drover_resp_printf(req, "%s%s", i > 1 ? "," : "", n);
    }

    return 0;
}


static int
app_handle(drover_req_t *req, void *state)
{
    char         buf[4096], name[64];
    long         i, n;
    ssize_t      rc;
    size_t       total;
    const char  *path, *v, *body;

    (void) state;

    app_calls++;

    if (drover_req_param(req, "TEST_WHOAMI") != NULL) {
        return app_whoami(req);
    }

    path = drover_req_path(req);

    if (strcmp(path, "/calls") == 0) {
        drover_resp_printf(req, "%ld", app_calls);
        return 0;
    }

    if (strcmp(path, "/") == 0) {
        return drover_resp_write(req, "hello\n", 6) == 6 ? 0 : -1;
    }

    if (strcmp(path, "/init") == 0) {
        drover_resp_printf(req, "%d", app_worker_inited);
        return 0;
    }

    if (strcmp(path, "/param") == 0 || strcmp(path, "/header") == 0) {
        if (drover_req_arg(req, "name", name, sizeof(name)) < 0) {
            return -1;
        }

        v = (path[1] == 'p') ? drover_req_param(req, name)
                             : drover_req_header(req, name);
        drover_resp_printf(req, "%s", v ? v : "(null)");
        return 0;
    }

    if (strcmp(path, "/info") == 0) {
        if (drover_req_arg(req, "a", name, sizeof(name)) < 0) {
            strcpy(name, "(none)");
        }

        drover_resp_printf(req, "method=%s uri=%s path=%s query=%s a=[%s] "
                           "cl=%lld", drover_req_method(req),
                           drover_req_uri(req), path, drover_req_query(req),
                           name,
                           (long long) drover_req_content_length(req));
        return 0;
    }

    if (strcmp(path, "/echo") == 0) {
        /* odd read sizes: the body crosses records and reads anyhow */
        n = 777;
        while ((rc = drover_req_read(req, buf, (size_t) n)) > 0) {
            if (drover_resp_write(req, buf, (size_t) rc) != rc) {
                return -1;
            }
            n = (n == 777) ? 4096 : (n == 4096 ? 1 : 777);
        }

        return rc == 0 ? 0 : -1;
    }

    if (strcmp(path, "/readall") == 0) {
        rc = drover_req_read_all(req, (size_t) app_arg_long(req, "max", 10),
                                 &body);
        drover_resp_printf(req, "%zd:%s", rc, rc >= 0 ? body : "");
        return 0;
    }

    if (strcmp(path, "/big") == 0) {
        n = app_arg_long(req, "kb", 1) * 1024;
        for (i = 0; i < n; i++) {
            buf[i % sizeof(buf)] = (char) ('a' + i % 26);
            if (i % sizeof(buf) == sizeof(buf) - 1 || i == n - 1) {
                drover_resp_write(req, buf, (size_t) (i % sizeof(buf)) + 1);
            }
        }
        return 0;
    }

    if (strcmp(path, "/bigone") == 0) {
        /* one write larger than a record: sent without a copy */
        char  *p;

        n = app_arg_long(req, "kb", 1) * 1024;
        p = malloc((size_t) n);
        for (i = 0; i < n; i++) {
            p[i] = (char) ('a' + i % 26);
        }
        drover_resp_write(req, "x", 1);
        drover_resp_write(req, p, (size_t) n - 1);
        free(p);
        return 0;
    }

    if (strcmp(path, "/abort") == 0) {
        total = 0;
        while ((rc = drover_req_read(req, buf, sizeof(buf))) > 0) {
            total += (size_t) rc;
        }
        app_last_rc = rc;
        app_last_total = total;
        /* aborted: a no-op that still reports success */
        return drover_resp_write(req, "x", 1) == 1 ? 0 : -1;
    }

    if (strcmp(path, "/peek") == 0) {
        /*
         * The common pattern that once crashed the worker: read the first
         * n bytes of the body and answer.  kb=K writes K KiB first, so the
         * body is preread before the first response byte leaves.
         */
        n = app_arg_long(req, "kb", 0) * 1024;
        memset(buf, 'e', sizeof(buf));
        for (i = 0; i < n; i += (long) sizeof(buf)) {
            drover_resp_write(req, buf, (size_t) (n - i < (long) sizeof(buf)
                                                  ? n - i : (long) sizeof(buf)));
        }

        n = app_arg_long(req, "n", 100);
        total = 0;
        while ((long) total < n) {
            rc = drover_req_read(req, buf,
                                 (size_t) (n - (long) total
                                           < (long) sizeof(buf)
                                           ? n - (long) total
                                           : (long) sizeof(buf)));
            if (rc <= 0) {
                break;
            }
            total += (size_t) rc;
        }

        drover_resp_printf(req, "peeked %zu", total);
        return 0;
    }

    if (strcmp(path, "/last") == 0) {
        drover_resp_printf(req, "%zd %zu", app_last_rc, app_last_total);
        return 0;
    }

    if (strcmp(path, "/slow") == 0) {
        /*
         * Buffered, not flushed: a flush would first read the rest of the
         * body (see req_write), and the test holds the body back.  The
         * marker file tells the test the request is in the app.
         */
        drover_resp_write(req, "started\n", 8);
        snprintf(buf, sizeof(buf), "%s/slow.%ld", app_dir, (long) getpid());
        rc = open(buf, O_CREAT | O_WRONLY, 0600);
        if (rc >= 0) {
            close((int) rc);
        }
        while ((rc = drover_req_read(req, buf, sizeof(buf))) > 0) {
            /* wait for the end of the body */
        }
        drover_resp_write(req, "done\n", 5);
        return 0;
    }

    if (strcmp(path, "/fail") == 0) {
        drover_resp_header(req, "X-Lost", "yes");
        return -1;
    }

    if (strcmp(path, "/stderr") == 0) {
        drover_resp_write(req, "one", 3);
        drover_req_stderr(req, "oops\n", 5);
        drover_req_stderr(req, "a\nb", 3);
        drover_resp_write(req, "two", 3);
        return 0;
    }

    if (strcmp(path, "/headers") == 0) {
        int  r[9];

        r[0] = drover_resp_status(req, 199);
        r[1] = drover_resp_status(req, 600);
        r[2] = drover_resp_status(req, 404);
        r[3] = drover_resp_header(req, "Bad Name", "v");
        r[4] = drover_resp_header(req, "X-A", "a\r\nInjected: 1");
        r[5] = drover_resp_header(req, "status", "200");
        r[6] = drover_resp_header(req, "Content-Type", "text/html");
        r[7] = drover_resp_header(req, "X-Ok", "fine");
        drover_resp_write(req, "body", 4);
        r[8] = drover_resp_header(req, "X-Late", "1");
        drover_resp_printf(req, " %d %d %d %d %d %d %d %d %d", r[0], r[1],
                           r[2], r[3], r[4], r[5], r[6], r[7], r[8]);
        return drover_resp_status(req, 200) == -1 ? 0 : -1;
    }

    drover_resp_status(req, 404);
    drover_resp_write(req, "not found\n", 10);

    return 0;
}


const drover_app_t  test_app = {
    .abi_version = DROVER_ABI_VERSION,
    .struct_size = sizeof(drover_app_t),
    .name = "test",
    .worker_init = app_worker_init,
    .handle = app_handle,
    .fini = app_fini,
};


/* ---- fixtures ---- */

char                 tmpdir[64];
drover_pool_conf_t   pool;
drover_ctx_t         ctx;
char                 slot_path[128], shared_path[128];


void
buf_add(buf_t *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        b->cap = (b->len + len + 1) * 2;
        b->data = realloc(b->data, b->cap);
        if (b->data == NULL) {
            abort();
        }
    }

    if (len != 0) {
        memcpy(b->data + b->len, data, len);
    }

    b->len += len;
    b->data[b->len] = '\0';
}


uint64_t
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


int
make_listener(const char *path)
{
    int                 fd;
    struct sockaddr_un  sa;

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);

    if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
        || listen(fd, 64) != 0)
    {
        perror("listener");
        exit(2);
    }

    return fd;
}


int
client_connect(const char *path)
{
    int                 fd;
    struct sockaddr_un  sa;

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);

    if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        perror("connect");
        exit(2);
    }

    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    return fd;
}


pid_t
start_worker(int slot_fd, int shared_fd, pid_t manager, int pdeathsig)
{
    int                   rc, logfd;
    pid_t                 pid;
    char                  path[128];
    drover_worker_args_t  args;

    fflush(stdout);
    fflush(stderr);

    pid = fork();
    if (pid != 0) {
        return pid;
    }

    /* what the manager/preloader does before drover_worker_run() */
    if (pdeathsig) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
    }
    signal(SIGPIPE, SIG_IGN);

    snprintf(path, sizeof(path), "%s/worker.log", tmpdir);
    logfd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (logfd >= 0) {
        dup2(logfd, STDERR_FILENO);
        close(logfd);
    }

    memset(&args, 0, sizeof(args));
    args.pool = &pool;
    args.app = &test_app;
    args.ctx = &ctx;
    args.slot_fd = slot_fd;
    args.shared_fd = shared_fd;
    args.manager_pid = manager;

    rc = drover_worker_run(&args);

    exit(rc);
}


/* the exit status, or -1 if still running at the deadline */
int
wait_exit(pid_t pid, int timeout_ms)
{
    int              status;
    uint64_t         deadline;
    struct timespec  ts = { 0, 10 * 1000 * 1000 };

    deadline = now_ms() + (uint64_t) timeout_ms;

    do {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + WTERMSIG(status);
        }

        nanosleep(&ts, NULL);
    } while (now_ms() < deadline);

    return -1;
}


/* ---- the FastCGI client ---- */

void
reply_init(reply_t *r, unsigned want_type, unsigned want_id)
{
    memset(r, 0, sizeof(*r));
    drover_fcgi_parser_init(&r->parser);
    r->want_type = want_type;
    r->want_id = want_id;
    r->protocol_status = 99;
}


void
reply_free(reply_t *r)
{
    free(r->out.data);
    free(r->err.data);
    free(r->body.data);
    free(r->pending.data);
}


void
reply_feed(reply_t *r, const uint8_t *data, size_t len)
{
    int                   rc;
    const uint8_t        *pos, *end;
    drover_fcgi_parser_t *p;
    drover_fcgi_event_t   ev;

    p = &r->parser;
    pos = data;
    end = data + len;

    for ( ;; ) {
        rc = drover_fcgi_parse(p, &pos, end, &ev);

        if (rc < 0) {
            r->parse_error = 1;
            r->done = 1;
            return;
        }

        if (rc == DROVER_FCGI_EV_AGAIN) {
            return;
        }

        if (rc == DROVER_FCGI_EV_HEADER) {
            if ((p->content_length + p->padding_length) % 8 != 0) {
                r->misaligned++;
            }

            if (p->type == DROVER_FCGI_STDOUT) {
                if (p->content_length == 0) {
                    r->stdout_ended = 1;
                } else {
                    r->nstdout++;
                }
            }

            if (p->type != DROVER_FCGI_STDOUT
                && p->type != DROVER_FCGI_STDERR)
            {
                r->body.len = 0;
            }

            continue;
        }

        if (rc == DROVER_FCGI_EV_CONTENT) {
            if (p->type == DROVER_FCGI_STDOUT) {
                buf_add(&r->out, ev.data, ev.len);
            } else if (p->type == DROVER_FCGI_STDERR) {
                buf_add(&r->err, ev.data, ev.len);
            } else {
                buf_add(&r->body, ev.data, ev.len);
            }
            continue;
        }

        /* DROVER_FCGI_EV_END */
        if (p->type == DROVER_FCGI_END_REQUEST) {
            const uint8_t  *b = r->body.data;

            r->got_end++;
            r->end_id = p->request_id;
            r->app_status = ((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16)
                            | ((uint32_t) b[2] << 8) | b[3];
            r->protocol_status = b[4];

            if (r->want_type == DROVER_FCGI_END_REQUEST
                && p->request_id == r->want_id)
            {
                r->done = 1;
            }

        } else if (p->request_id == 0) {
            r->mgmt_type = p->type;
            if (p->type == r->want_type) {
                r->done = 1;
            }
        }

        if (r->want_text != NULL && r->out.len != 0
            && strstr((char *) r->out.data, r->want_text) != NULL)
        {
            r->done = 1;
        }

        if (r->done) {
            /* keep what follows for the next exchange on this reply */
            buf_add(&r->pending, pos, (size_t) (end - pos));
            return;
        }
    }
}


/*
 * Send snd (in writes of the sizes in `pattern`, cycled) while reading the
 * reply, until r says done, EOF, or the timeout.  0 when done.
 */
int
exchange(int fd, const uint8_t *snd, size_t len, const size_t *pattern,
    size_t npattern, reply_t *r, int timeout_ms)
{
    ssize_t        n;
    size_t         off, k, chunk;
    uint64_t       deadline, now;
    uint8_t        in[65536];
    struct pollfd  pfd;

    deadline = now_ms() + (uint64_t) timeout_ms;
    off = 0;
    k = 0;

    if (r->pending.len != 0) {
        buf_t  p = r->pending;

        memset(&r->pending, 0, sizeof(r->pending));
        reply_feed(r, p.data, p.len);
        free(p.data);
    }

    while (!r->done && !r->eof) {
        now = now_ms();
        if (now >= deadline) {
            return -1;
        }

        pfd.fd = fd;
        pfd.events = POLLIN | (off < len ? POLLOUT : 0);
        pfd.revents = 0;

        if (poll(&pfd, 1, (int) (deadline - now)) <= 0) {
            continue;
        }

        if (pfd.revents & POLLOUT) {
            chunk = (pattern != NULL) ? pattern[k++ % npattern] : len - off;
            if (chunk > len - off) {
                chunk = len - off;
            }

            n = send(fd, snd + off, chunk, MSG_NOSIGNAL);
            if (n > 0) {
                off += (size_t) n;
            } else if (n < 0 && errno != EAGAIN) {
                off = len;     /* the worker closed: read what is left */
            }
        }

        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            n = recv(fd, in, sizeof(in), 0);
            if (n > 0) {
                reply_feed(r, in, (size_t) n);
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                r->eof = 1;
            }
        }
    }

    r->sent = off;

    return r->done ? 0 : -1;
}


/* send what exchange() left unsent once the reply was done; 0 or -1 */
int
send_rest(int fd, const uint8_t *snd, size_t len, const reply_t *r)
{
    ssize_t        n;
    size_t         off;
    uint64_t       deadline, now;
    struct pollfd  pfd;

    deadline = now_ms() + WAIT_MS;

    for (off = r->sent; off < len; off += (size_t) n) {
        now = now_ms();
        if (now >= deadline) {
            return -1;
        }

        pfd.fd = fd;
        pfd.events = POLLOUT;
        if (poll(&pfd, 1, (int) (deadline - now)) <= 0) {
            n = 0;
            continue;
        }

        n = send(fd, snd + off, len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                return -1;
            }
            n = 0;
        }
    }

    return 0;
}


/* ms until the worker closed fd (reading and dropping input), or -1 */
long
wait_eof(int fd, int timeout_ms)
{
    ssize_t        n;
    uint64_t       start, deadline, now;
    uint8_t        in[4096];
    struct pollfd  pfd;

    start = now_ms();
    deadline = start + (uint64_t) timeout_ms;

    for ( ;; ) {
        now = now_ms();
        if (now >= deadline) {
            return -1;
        }

        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;

        if (poll(&pfd, 1, (int) (deadline - now)) <= 0) {
            continue;
        }

        n = recv(fd, in, sizeof(in), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            return (long) (now_ms() - start);
        }
    }
}


void
add_record(buf_t *b, unsigned type, unsigned id, const void *content,
    size_t len, unsigned pad)
{
    uint8_t  h[DROVER_FCGI_HEADER_LEN];
    uint8_t  zeros[256];

    memset(zeros, 0, sizeof(zeros));
    drover_fcgi_header_encode(h, type, id, len, pad);
    buf_add(b, h, sizeof(h));
    buf_add(b, content, len);
    buf_add(b, zeros, pad);
}


void
add_begin(buf_t *b, unsigned id, unsigned role, int keep)
{
    uint8_t  body[DROVER_FCGI_BODY_LEN];

    drover_fcgi_begin_request_encode(body, role,
                                     keep ? DROVER_FCGI_KEEP_CONN : 0);
    add_record(b, DROVER_FCGI_BEGIN_REQUEST, id, body, sizeof(body), 0);
}


/* a stream split in records of `chunk` content bytes, padded to 8 */
void
add_stream(buf_t *b, unsigned type, unsigned id, const uint8_t *data,
    size_t len, size_t chunk, int end)
{
    size_t  n;

    while (len > 0) {
        n = len < chunk ? len : chunk;
        add_record(b, type, id, data, n, drover_fcgi_padding(n));
        data += n;
        len -= n;
    }

    if (end) {
        add_record(b, type, id, NULL, 0, 0);
    }
}


/* params from "NAME=value" strings, NULL-terminated; not ended */
void
add_params(buf_t *b, unsigned id, const char *const *params, size_t chunk)
{
    size_t       n;
    buf_t        pb = { 0 };
    uint8_t      tmp[16];
    const char  *eq;

    for ( ; *params != NULL; params++) {
        eq = strchr(*params, '=');
        n = drover_fcgi_pair_len_encode(tmp, (size_t) (eq - *params));
        buf_add(&pb, tmp, n);
        n = drover_fcgi_pair_len_encode(tmp, strlen(eq + 1));
        buf_add(&pb, tmp, n);
        buf_add(&pb, *params, (size_t) (eq - *params));
        buf_add(&pb, eq + 1, strlen(eq + 1));
    }

    add_stream(b, DROVER_FCGI_PARAMS, id, pb.data, pb.len, chunk, 0);
    free(pb.data);
}


/* a whole GET-like request: BEGIN, params, empty PARAMS, STDIN */
void
add_request(buf_t *b, unsigned id, int keep, const char *uri,
    const uint8_t *body, size_t blen)
{
    add_request_in(b, id, keep, uri, body, blen, 65535);
}


/* the same with STDIN records of `chunk` bytes */
void
add_request_in(buf_t *b, unsigned id, int keep, const char *uri,
    const uint8_t *body, size_t blen, size_t chunk)
{
    char         u[256], q[256], cl[32];
    const char  *qs;
    const char  *params[6];

    qs = strchr(uri, '?');
    snprintf(u, sizeof(u), "REQUEST_URI=%s", uri);
    snprintf(q, sizeof(q), "QUERY_STRING=%s", qs ? qs + 1 : "");
    snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", blen);

    params[0] = "REQUEST_METHOD=GET";
    params[1] = u;
    params[2] = q;
    params[3] = cl;
    params[4] = "HTTP_USER_AGENT=test/1.0";
    params[5] = NULL;

    add_begin(b, id, DROVER_FCGI_RESPONDER, keep);
    add_params(b, id, params, 65535);
    add_record(b, DROVER_FCGI_PARAMS, id, NULL, 0, 0);
    add_stream(b, DROVER_FCGI_STDIN, id, body, blen, chunk, 1);
}


/* one request on fd; the reply in r */
int
do_request(int fd, unsigned id, int keep, const char *uri, reply_t *r)
{
    int    rc;
    buf_t  b = { 0 };

    add_request(&b, id, keep, uri, NULL, 0);
    reply_init(r, DROVER_FCGI_END_REQUEST, id);
    rc = exchange(fd, b.data, b.len, NULL, 0, r, WAIT_MS);
    free(b.data);

    return rc;
}


/* the body after the CGI header block */
const char *
reply_body(reply_t *r)
{
    char  *p;

    if (r->out.len == 0) {
        return "";
    }

    p = strstr((char *) r->out.data, "\r\n\r\n");

    return p ? p + 4 : "";
}


/* ---- the worker's log ---- */


int
log_count(const char *needle)
{
    int    n;
    char   path[128], line[4096];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/worker.log", tmpdir);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    n = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, needle) != NULL) {
            n++;
        }
    }

    fclose(f);

    return n;
}


void
log_dump(void)
{
    char   path[128], line[4096];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/worker.log", tmpdir);
    f = fopen(path, "r");
    if (f == NULL) {
        return;
    }

    while (fgets(line, sizeof(line), f) != NULL) {
        printf("# log: %s", line);
    }

    fclose(f);
}


/* ---- setting up and cleaning up ---- */

/* tmpdir (and app_dir), the pool and ctx, the socket paths: 0, or -1 */
int
worker_fixture_init(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/drover-test-worker.XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return -1;
    }

    snprintf(app_dir, sizeof(app_dir), "%s", tmpdir);

    pool.name = "test";
    pool.io_timeout_ms = IO_TIMEOUT_MS;
    pool.log_level = -2;
    ctx.pool = &pool;
    ctx.slot = 0;
    drover_log_set_level(DROVER_LOG_INFO);

    snprintf(slot_path, sizeof(slot_path), "%s/test.sock.0", tmpdir);
    snprintf(shared_path, sizeof(shared_path), "%s/test.sock", tmpdir);

    return 0;
}


/* the log, the sockets and tmpdir removed; a TAP comment if it stays */
void
worker_fixture_cleanup(void)
{
    char  path[128];

    snprintf(path, sizeof(path), "%s/worker.log", tmpdir);
    unlink(path);
    unlink(slot_path);
    unlink(shared_path);
    if (rmdir(tmpdir) != 0) {
        printf("# %s left behind\n", tmpdir);
    }
}
