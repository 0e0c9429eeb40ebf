/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * fuzz_worker_conn.c -- a worker's connection code (worker_host/src/
 * worker_conn.c: drover__conn_pump and the record handlers behind it, and
 * request*.c, which run the request in the app and read its body from
 * inside handle()).
 *
 * No event loop runs.  The harness does what conn_readable_cb() does for
 * one connection: read what arrived into c->in (in pieces of a size the
 * input chooses), pump, stop when the pump says close or the connection
 * broke.  The connection is one end of a socketpair; a thread plays the
 * front end on the other end: it writes the input and then shuts its
 * sending side, and reads whatever the worker answers, which must be
 * well-formed FastCGI (checked with fcgi.c's parser).
 *
 * The app is a small script interpreter, so the fuzzer also chooses how
 * the app reads and answers: the query argument "do" is a list of
 * commands, each a letter and an optional number:
 *
 *     rN  drover_req_read of up to N bytes     R   read to the end
 *     aN  drover_req_read_all, max N           wN  write N body bytes
 *                                                  (1 MiB in all, stderr too)
 *     f   drover_resp_flush                    sN  drover_resp_status N
 *     h   a header, its value the query arg "hv" eN  N bytes to stderr
 *     p   every request accessor: params, headers, path, query, args
 *     x   return -1 (a failed request)
 *
 * Without "do" the app runs "pRw6": the common shape of an app.
 *
 * Input: one control byte, then the byte stream the front end sends.
 *     bits 0-3  the read size (1, 2, 3, 7, 8, 9, 16, 100, 1000, 4096,
 *               8191, 16384, 32768, 65535, 65536, 65536 bytes)
 *     bit 4     the connection came in on the slot socket
 *     bit 5     the worker is stopping
 *     bit 6     the connection is past FCGI_MAX_CONNS
 *
 * Set DROVER_FUZZ_LOG=debug (or info, ...) to see the worker's log.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "conf.h"
#include "fcgi.h"
#include "log.h"
#include "request.h"

/* what one input may send: within the kernel's socket buffers anyway */
#define FUZZ_INPUT_MAX   (256 * 1024)

/* the largest write a script may ask for, and all it may write */
#define FUZZ_WRITE_MAX   (256 * 1024)
#define FUZZ_BUDGET      (1024 * 1024)


typedef struct {
    int             fd;
    const uint8_t  *data;
    size_t          len;
} fuzz_peer_t;


static drover_pool_conf_t    fuzz_pool;
static drover_ctx_t          fuzz_ctx;
static drover_app_t          fuzz_app;
static drover_worker_args_t  fuzz_args;
static uint8_t               fuzz_buf[FUZZ_WRITE_MAX];


static void
fuzz_check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_worker_conn: contract broken: %s\n", what);
        abort();
    }
}


/* ---- the app ---- */

static long
fuzz_number(const char **s, long dflt, long max)
{
    long  n;

    if (**s < '0' || **s > '9') {
        return dflt;
    }

    for (n = 0; **s >= '0' && **s <= '9'; (*s)++) {
        if (n <= max) {
            n = n * 10 + (**s - '0');
        }
    }

    return n > max ? max : n;
}


static void
fuzz_accessors(drover_req_t *req)
{
    char         arg[256];
    size_t       iter;
    const char  *name, *value;

    iter = 0;
    while (drover_req_param_next(req, &iter, &name, &value)) {
        fuzz_check(name != NULL && value != NULL, "param_next gave NULL");
    }

    (void) drover_req_method(req);
    (void) drover_req_uri(req);
    (void) drover_req_path(req);
    (void) drover_req_query(req);
    (void) drover_req_content_length(req);
    (void) drover_req_header(req, "Host");
    (void) drover_req_header(req, "content-type");
    (void) drover_req_param(req, "HTTP_PROXY");
    (void) drover_req_arg(req, "a", arg, sizeof(arg));
    (void) drover_req_arg(req, "", arg, 1);
}


static int
fuzz_handle(drover_req_t *req, void *state)
{
    long          n, budget;
    ssize_t       rc;
    const char   *s, *body;
    char          script[256], hv[256];

    (void) state;

    /* a script of 80 large writes would take seconds: 1 MiB in all */
    budget = FUZZ_BUDGET;

    if (drover_req_arg(req, "do", script, sizeof(script)) < 0) {
        strcpy(script, "pRw6");
    }

    for (s = script; *s != '\0'; ) {
        switch (*s++) {

        case 'r':
            n = fuzz_number(&s, 100, FUZZ_WRITE_MAX);
            rc = drover_req_read(req, fuzz_buf, (size_t) n);
            fuzz_check(rc <= n, "read more than asked");
            break;

        case 'R':
            while (drover_req_read(req, fuzz_buf, sizeof(fuzz_buf)) > 0) {
                /* to the end */
            }
            break;

        case 'a':
            n = fuzz_number(&s, 1024, 16 * 1024 * 1024);
            rc = drover_req_read_all(req, (size_t) n, &body);
            fuzz_check(rc < 0 || (rc <= n && body != NULL
                                  && body[rc] == '\0'),
                       "read_all: body longer than max or not terminated");
            break;

        case 'w':
            n = fuzz_number(&s, 6, FUZZ_WRITE_MAX);
            n = n < budget ? n : budget;
            budget -= n;
            memset(fuzz_buf, 'b', (size_t) n);
            (void) drover_resp_write(req, fuzz_buf, (size_t) n);
            break;

        case 'f':
            (void) drover_resp_flush(req);
            break;

        case 's':
            (void) drover_resp_status(req, (int) fuzz_number(&s, 404, 999));
            break;

        case 'h':
            if (drover_req_arg(req, "hv", hv, sizeof(hv)) < 0) {
                strcpy(hv, "v");
            }
            (void) drover_resp_header(req, "X-Fuzz", hv);
            break;

        case 'e':
            n = fuzz_number(&s, 10, FUZZ_WRITE_MAX);
            n = n < budget ? n : budget;
            budget -= n;
            memset(fuzz_buf, 'e', (size_t) n);
            (void) drover_req_stderr(req, (const char *) fuzz_buf,
                                     (size_t) n);
            break;

        case 'p':
            fuzz_accessors(req);
            break;

        case 'x':
            return -1;

        default:
            break;
        }
    }

    return 0;
}


/* ---- the front end ---- */

static void *
fuzz_peer(void *arg)
{
    int                   rc;
    ssize_t               n;
    size_t                off;
    uint8_t               in[16384];
    struct pollfd         pfd;
    const uint8_t        *pos;
    fuzz_peer_t          *peer = arg;
    drover_fcgi_event_t   ev;
    drover_fcgi_parser_t  p;

    drover_fcgi_parser_init(&p);
    off = 0;

    if (peer->len == 0) {
        shutdown(peer->fd, SHUT_WR);
    }

    for ( ;; ) {
        pfd.fd = peer->fd;
        pfd.events = POLLIN | (off < peer->len ? POLLOUT : 0);
        pfd.revents = 0;

        /* the worker's io_timeout ends any stall before this does */
        rc = poll(&pfd, 1, 30000);
        fuzz_check(rc >= 0 || errno == EINTR, "peer: poll failed");
        fuzz_check(rc != 0, "peer: the worker stalled for 30 s");

        if (off < peer->len && (pfd.revents & (POLLOUT | POLLERR))) {
            n = send(peer->fd, peer->data + off, peer->len - off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                off += (size_t) n;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                off = peer->len;        /* the worker closed */
            }

            if (off == peer->len) {
                shutdown(peer->fd, SHUT_WR);
            }
        }

        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            n = recv(peer->fd, in, sizeof(in), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                break;
            }

            /* what the worker sends must be well-formed FastCGI */
            for (pos = in; n > 0 && pos < in + n; ) {
                rc = drover_fcgi_parse(&p, &pos, in + n, &ev);
                fuzz_check(rc >= 0, "the worker sent a malformed record");
                if (rc == DROVER_FCGI_EV_HEADER) {
                    fuzz_check(p.type == DROVER_FCGI_STDOUT
                               || p.type == DROVER_FCGI_STDERR
                               || p.type == DROVER_FCGI_END_REQUEST
                               || p.type == DROVER_FCGI_GET_VALUES_RESULT
                               || p.type == DROVER_FCGI_UNKNOWN_TYPE,
                               "the worker sent a record of a type a "
                               "responder does not send");
                }
            }
        }
    }

    return NULL;
}


/* ---- the connection, as conn_readable_cb() drives it ---- */

static void
fuzz_conn(drover__conn_t *c, size_t step)
{
    int            rc;
    ssize_t        n;
    size_t         room;
    struct pollfd  pfd;

    for ( ;; ) {
        if (c->in_pos == c->in_len) {
            c->in_pos = 0;
            c->in_len = 0;
        }

        room = DROVER__IN_SIZE - c->in_len;
        n = read(c->fd, c->in + c->in_len, step < room ? step : room);

        if (n == 0) {
            return;
        }

        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                return;
            }

            pfd.fd = c->fd;
            pfd.events = POLLIN;
            pfd.revents = 0;
            fuzz_check(poll(&pfd, 1, 30000) != 0,
                       "no input and no end of it for 30 s");
            continue;
        }

        c->in_len += (size_t) n;

        rc = drover__conn_pump(c, NULL, 0, NULL);

        if (rc != 0 || c->broken) {
            return;
        }
    }
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int          level;
    const char  *env;

    (void) argc;
    (void) argv;

    signal(SIGPIPE, SIG_IGN);

    /* quiet unless asked: a log line per input costs a write */
    level = -2;
    env = getenv("DROVER_FUZZ_LOG");
    if (env != NULL) {
        level = drover_log_level_parse(env);
    }
    drover_log_set_level(level);

    fuzz_pool.name = "fuzz";
    fuzz_pool.io_timeout_ms = 2000;
    fuzz_pool.log_level = -2;

    fuzz_ctx.pool = &fuzz_pool;
    fuzz_ctx.slot = 0;

    fuzz_app.abi_version = DROVER_ABI_VERSION;
    fuzz_app.struct_size = sizeof(drover_app_t);
    fuzz_app.name = "fuzz";
    fuzz_app.handle = fuzz_handle;

    fuzz_args.pool = &fuzz_pool;
    fuzz_args.app = &fuzz_app;
    fuzz_args.ctx = &fuzz_ctx;
    fuzz_args.slot_fd = -1;
    fuzz_args.shared_fd = -1;
    fuzz_args.manager_pid = getppid();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                sv[2];
    size_t             step;
    pthread_t          tid;
    fuzz_peer_t        peer;
    drover__conn_t    *c;
    drover__worker_t  *w;

    static const size_t  steps[16] = {
        1, 2, 3, 7, 8, 9, 16, 100, 1000, 4096, 8191, 16384, 32768,
        65535, 65536, 65536
    };

    if (size < 1 || size > FUZZ_INPUT_MAX) {
        return 0;
    }

    step = steps[data[0] & 15];

    w = calloc(1, sizeof(*w));
    c = calloc(1, sizeof(*c));
    fuzz_check(w != NULL && c != NULL, "out of memory");

    w->args = &fuzz_args;
    w->pool = &fuzz_pool;
    w->slot = 0;
    w->stopping = (data[0] >> 5) & 1;
    w->out = malloc(DROVER__OUT_SIZE);
    c->in = malloc(DROVER__IN_SIZE);
    fuzz_check(w->out != NULL && c->in != NULL, "out of memory");

    fuzz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0,
               "socketpair failed");

    /* as accept4(SOCK_NONBLOCK) gives it to the worker */
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);

    c->worker = w;
    c->fd = sv[0];
    c->fresh = 1;
    c->slot = (data[0] >> 4) & 1;
    c->over_limit = (data[0] >> 6) & 1;
    drover_fcgi_parser_init(&c->parser);
    w->conns = c;
    w->nconns = 1;

    peer.fd = sv[1];
    peer.data = data + 1;
    peer.len = size - 1;

    fuzz_check(pthread_create(&tid, NULL, fuzz_peer, &peer) == 0,
               "pthread_create failed");

    fuzz_conn(c, step);

    /* as drover__conn_close() and conn_closed_cb() do */
    close(c->fd);
    pthread_join(tid, NULL);
    close(sv[1]);

    free(c->in);
    free(c->params);
    free(c->mgmt);
    free(c);

    free(w->out);
    free(w->hdrs);
    free(w->scratch);
    free(w);

    return 0;
}
