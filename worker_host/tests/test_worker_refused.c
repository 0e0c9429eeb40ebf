/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_worker_refused.c -- requests a worker refuses for what they are (params
 * over 128 KiB, over 1024 pairs, malformed): a FastCGI answer, the connection
 * kept, the app never called; and requests the front end took back
 * (DROVER_WITHDRAWABLE).  The worker and the client: worker_fixture.h.
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
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "conf.h"
#include "fcgi.h"
#include "log.h"
#include "tap.h"
#include "worker.h"
#include "worker_fixture.h"


static pid_t  worker_pid;


/* ---- requests refused for what they are (too big, too many, malformed) */

#define ANSWER_431                                                           \
    "Status: 431 Request Header Fields Too Large\r\n"                        \
    "Content-Type: text/plain\r\n\r\n"                                       \
    "431 Request Header Fields Too Large\n"


/* the app's handle() calls so far, asked on a connection of its own */
static long
app_calls_now(void)
{
    int      fd;
    long     n;
    reply_t  r;

    fd = client_connect(shared_path);
    n = (do_request(fd, 1, 0, "/calls", &r) == 0)
        ? strtol(reply_body(&r), NULL, 10) : -1;
    reply_free(&r);
    close(fd);

    return n;
}


/*
 * A request whose params are `big` bytes of X_BIG (and the usual ones), in
 * PARAMS records of `chunk` bytes, then a body of blen bytes from body.
 */
static void
add_big_request(buf_t *b, unsigned id, int keep, const char *uri,
    size_t big, size_t chunk, const uint8_t *body, size_t blen)
{
    char        *x, *u;
    size_t       n;
    const char  *params[5];

    x = malloc(big + 7);
    memcpy(x, "X_BIG=", 6);
    memset(x + 6, 'b', big);
    x[6 + big] = '\0';
    n = strlen(uri) + sizeof("REQUEST_URI=");
    u = malloc(n);
    snprintf(u, n, "REQUEST_URI=%s", uri);

    params[0] = "REQUEST_METHOD=POST";
    params[1] = u;
    params[2] = x;
    params[3] = "HTTP_USER_AGENT=test/1.0";
    params[4] = NULL;

    add_begin(b, id, DROVER_FCGI_RESPONDER, keep);
    add_params(b, id, params, chunk);
    add_record(b, DROVER_FCGI_PARAMS, id, NULL, 0, 0);
    add_stream(b, DROVER_FCGI_STDIN, id, body, blen, 65535, 1);

    free(x);
    free(u);
}


static long  refused_nexts;        /* good requests after a refusal */


/* the refusal of request id, sent in b; then a good request on fd */
static void
expect_refused(int fd, buf_t *b, unsigned id, const char *answer,
    const size_t *pattern, size_t npattern, const char *what)
{
    char     name[192];
    reply_t  r;

    reply_init(&r, DROVER_FCGI_END_REQUEST, id);
    snprintf(name, sizeof(name), "%s: answered", what);
    ASSERT_EQ(exchange(fd, b->data, b->len, pattern, npattern, &r,
                       WAIT_MS * 4), 0, name);
    snprintf(name, sizeof(name), "%s: %.3s, the short body", what, answer);
    ASSERT_STR_EQ(r.out.len ? (char *) r.out.data : "", answer, name);
    snprintf(name, sizeof(name), "%s: STDOUT ended, END_REQUEST(0, "
             "REQUEST_COMPLETE)", what);
    ASSERT_TRUE(r.stdout_ended && r.got_end == 1 && r.end_id == id
                && r.app_status == 0
                && r.protocol_status == DROVER_FCGI_REQUEST_COMPLETE
                && r.misaligned == 0 && r.err.len == 0, name);
    snprintf(name, sizeof(name), "%s: the rest of the request is taken in",
             what);
    ASSERT_EQ(send_rest(fd, b->data, b->len, &r), 0, name);
    reply_free(&r);

    snprintf(name, sizeof(name), "%s: the connection serves the next "
             "request", what);
    ASSERT_EQ(do_request(fd, id + 1, 1, "/", &r), 0, name);
    ASSERT_STR_EQ(reply_body(&r), "hello\n", name);
    reply_free(&r);
    refused_nexts++;
}


static void
test_refused(void)
{
    int           fd;
    long          calls;
    char          what[128];
    size_t        i, k, blen;
    uint8_t      *body;
    buf_t         b = { 0 };
    reply_t       r;
    const size_t  bytewise[] = { 1, 7, 4096, 3 };

    static const struct {
        size_t  big;                     /* X_BIG's value */
        size_t  chunk;                   /* PARAMS record content */
        size_t  body;
    } cases[] = {
        { 200000, 65535, 0 },            /* over in full records */
        { 200000, 65535, 100000 },       /* and a body */
        { 131072, 1000, 0 },             /* in many small records */
        { 131072, 1000, 70000 },
        { 131050, 65535, 5 },            /* the limit crossed by a few */
        { 1 << 20, 65535, 0 },           /* 1 MiB of params */
        { 200000, 65535, 9 * 1024 * 1024 }, /* answered after 8 MiB */
    };

    blen = 9 * 1024 * 1024;
    body = malloc(blen);
    for (i = 0; i < blen; i++) {
        body[i] = (uint8_t) (i * 13);
    }

    calls = app_calls_now();

    fd = client_connect(slot_path);

    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        snprintf(what, sizeof(what), "params of %zu in records of %zu, "
                 "body %zu", cases[k].big, cases[k].chunk, cases[k].body);
        b.len = 0;
        add_big_request(&b, 1, 1, "/", cases[k].big, cases[k].chunk, body,
                        cases[k].body);
        expect_refused(fd, &b, 1, ANSWER_431, NULL, 0, what);
    }

    close(fd);

    /* every byte its own write at first, on the shared socket */
    fd = client_connect(shared_path);
    b.len = 0;
    add_big_request(&b, 5, 1, "/", 140000, 65535, body, 3000);
    expect_refused(fd, &b, 5, ANSWER_431, bytewise, 4, "split writes");
    close(fd);

    /* the URI alone too long: 414 */
    {
        char  *u;

        u = malloc(70001);
        memset(u, 'u', 70000);
        u[0] = '/';
        u[70000] = '\0';

        fd = client_connect(slot_path);
        b.len = 0;
        add_big_request(&b, 3, 1, u, 70000, 65535, NULL, 0);
        expect_refused(fd, &b, 3,
                       "Status: 414 URI Too Long\r\n"
                       "Content-Type: text/plain\r\n\r\n414 URI Too Long\n",
                       NULL, 0, "a 70000-byte REQUEST_URI");
        close(fd);
        free(u);
    }

    /* 1025 params: 431 */
    {
        char     p[32];
        buf_t    pb = { 0 };
        uint8_t  tmp[64];

        for (i = 0; i < 1025; i++) {
            snprintf(p, sizeof(p), "P%zu", i);
            buf_add(&pb, tmp, drover_fcgi_pair_encode(tmp, sizeof(tmp), p,
                                                      strlen(p), "", 0));
        }

        b.len = 0;
        add_begin(&b, 1, DROVER_FCGI_RESPONDER, 1);
        add_stream(&b, DROVER_FCGI_PARAMS, 1, pb.data, pb.len, 65535, 1);
        add_stream(&b, DROVER_FCGI_STDIN, 1, body, 1000, 300, 1);
        fd = client_connect(slot_path);
        expect_refused(fd, &b, 1, ANSWER_431, NULL, 0, "1025 params");
        close(fd);
        free(pb.data);
    }

    /* malformed: a pair cut short, a NUL in a value: 400 */
    {
        static const struct {
            const char  *content;
            size_t       len;
            const char  *what;
        } bad[] = {
            { "\x03\x05" "ABC12", 7, "a pair cut short" },
            { "\x01\x03" "Aa\0b", 6, "a NUL in a value" },
        };

        for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
            b.len = 0;
            add_begin(&b, 1, DROVER_FCGI_RESPONDER, 1);
            add_stream(&b, DROVER_FCGI_PARAMS, 1,
                       (const uint8_t *) bad[k].content, bad[k].len, 65535,
                       1);
            add_stream(&b, DROVER_FCGI_STDIN, 1, body, 10, 65535, 1);
            fd = client_connect(slot_path);
            expect_refused(fd, &b, 1, "Status: 400 Bad Request\r\n"
                           "Content-Type: text/plain\r\n\r\n"
                           "400 Bad Request\n", NULL, 0, bad[k].what);
            close(fd);
        }
    }

    /* without KEEP_CONN: answered, then closed */
    fd = client_connect(slot_path);
    b.len = 0;
    add_big_request(&b, 1, 0, "/", 200000, 65535, body, 10);
    reply_init(&r, DROVER_FCGI_END_REQUEST, 1);
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "without KEEP_CONN: answered");
    ASSERT_STR_EQ(r.out.len ? (char *) r.out.data : "", ANSWER_431,
                  "without KEEP_CONN: 431");
    ASSERT_TRUE(wait_eof(fd, WAIT_MS) >= 0, "without KEEP_CONN: closed");
    reply_free(&r);
    close(fd);

    /* aborted while its params are dropped: END_REQUEST, no answer */
    fd = client_connect(slot_path);
    b.len = 0;
    {
        const char *params[] = { "REQUEST_URI=/", NULL };
        uint8_t    *junk;

        junk = calloc(1, 65535);
        add_begin(&b, 1, DROVER_FCGI_RESPONDER, 1);
        add_params(&b, 1, params, 65535);
        add_record(&b, DROVER_FCGI_PARAMS, 1, junk, 65535, 1);
        add_record(&b, DROVER_FCGI_PARAMS, 1, junk, 65535, 1);
        add_record(&b, DROVER_FCGI_PARAMS, 1, junk, 65535, 1);
        add_record(&b, DROVER_FCGI_ABORT_REQUEST, 1, NULL, 0, 0);
        free(junk);
    }
    reply_init(&r, DROVER_FCGI_END_REQUEST, 1);
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "refused and aborted: END_REQUEST");
    ASSERT_TRUE(r.out.len == 0
                && r.protocol_status == DROVER_FCGI_REQUEST_COMPLETE,
                "refused and aborted: no STDOUT");
    reply_free(&r);
    ASSERT_EQ(do_request(fd, 2, 1, "/", &r), 0,
              "refused and aborted: the connection serves the next one");
    reply_free(&r);
    refused_nexts++;
    close(fd);

    ASSERT_EQ(app_calls_now(), calls + 1 + refused_nexts,
              "the app ran for none of them (only /calls and the next "
              "requests)");

    /* one log line a second at most, the rest counted in the next one */
    {
        uint64_t  deadline;

        ASSERT_TRUE(log_count("refused with") >= 1
                    && log_count("refused with") < refused_nexts,
                    "refusals logged once a second at most");
        ASSERT_TRUE(log_count("pool test: worker 0: request 1 refused "
                              "with 431 Request Header Fields Too Large: "
                              "its params are 2000") == 1
                    && log_count(" bytes, over the limit of 131072") >= 1,
                    "the line says the pool, the status, the size and the "
                    "limit");

        fd = client_connect(slot_path);
        deadline = now_ms() + WAIT_MS;
        for (i = 0; log_count("more since the last such line") == 0
                    && now_ms() < deadline; i++)
        {
            b.len = 0;
            add_big_request(&b, 1, 1, "/", 140000, 65535, NULL, 0);
            reply_init(&r, DROVER_FCGI_END_REQUEST, 1);
            exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS);
            reply_free(&r);
        }
        close(fd);
        ASSERT_TRUE(log_count("more since the last such line") >= 1,
                    "a later line counts the refusals not logged");
    }

    free(b.data);
    free(body);
}


/* ---- a request the front end may take back (DROVER_WITHDRAWABLE) ---- */

static uint64_t
mono_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


/* 1 when the worker's main thread sits in poll(): waiting for more input */
static int
worker_in_poll(void)
{
    long  nr;
    char  path[64];
    FILE  *f;

    snprintf(path, sizeof(path), "/proc/%ld/syscall", (long) worker_pid);

    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }

    if (fscanf(f, "%ld", &nr) != 1) {
        nr = -1;
    }

    fclose(f);

#ifdef SYS_poll
    if (nr == SYS_poll) {
        return 1;
    }
#endif

    return nr == SYS_ppoll;
}


/*
 * A withdrawable request (`after`: a DROVER_WITHDRAW_AFTER pair, or NULL)
 * whose body the worker waits for, its head read; then, the worker
 * stopped, the rest of its body and the shutdown of its sending side, so
 * that the worker reads it whole and then looks: the case of a request
 * nginx shut after the worker read its last byte.  Its answer in r.
 */
static void
withdraw_case(const char *after, reply_t *r)
{
    int           fd, ok;
    buf_t         b = { 0 };
    uint64_t      deadline;
    const char   *params[] = { "REQUEST_URI=/", "CONTENT_LENGTH=4",
                               "DROVER_WITHDRAWABLE=1", after, NULL };

    fd = client_connect(slot_path);

    add_begin(&b, 1, DROVER_FCGI_RESPONDER, 0);
    add_params(&b, 1, params, 65535);
    add_record(&b, DROVER_FCGI_PARAMS, 1, NULL, 0, 0);
    add_record(&b, DROVER_FCGI_STDIN, 1, "ab", 2, 6);
    ASSERT_EQ(write(fd, b.data, b.len), (ssize_t) b.len,
              "withdraw: the head and half the body sent");

    deadline = now_ms() + WAIT_MS;
    while (!(ok = worker_in_poll()) && now_ms() < deadline) {
        poll(NULL, 0, 1);
    }

    ASSERT_TRUE(ok, "withdraw: the worker waits for the rest of the body");

    kill(worker_pid, SIGSTOP);

    b.len = 0;
    add_record(&b, DROVER_FCGI_STDIN, 1, "cd", 2, 6);
    add_record(&b, DROVER_FCGI_STDIN, 1, NULL, 0, 0);
    ASSERT_EQ(write(fd, b.data, b.len), (ssize_t) b.len,
              "withdraw: the rest sent");
    ASSERT_EQ(shutdown(fd, SHUT_WR), 0, "withdraw: the sending side shut");

    kill(worker_pid, SIGCONT);

    reply_init(r, DROVER_FCGI_END_REQUEST, 1);
    (void) exchange(fd, NULL, 0, NULL, 0, r, WAIT_MS);

    close(fd);
    free(b.data);
}


static void
test_withdraw(void)
{
    char     after[64];
    reply_t  r;

    /* today's rule: read whole, then the look finds the side shut */
    withdraw_case(NULL, &r);
    ASSERT_TRUE(r.got_end
                && r.protocol_status == DROVER_FCGI_OVERLOADED
                && r.out.len == 0,
                "shut once read: refused unrun, FCGI_OVERLOADED");
    reply_free(&r);

    /* read whole before DROVER_WITHDRAW_AFTER: run, no look */
    snprintf(after, sizeof(after), "DROVER_WITHDRAW_AFTER=%llu",
             (unsigned long long) (mono_us() + 60000000));
    withdraw_case(after, &r);
    ASSERT_TRUE(r.got_end && r.protocol_status == 0,
                "read before DROVER_WITHDRAW_AFTER: run");
    ASSERT_STR_EQ(reply_body(&r), "hello\n", "its answer");
    reply_free(&r);

    /* that time passed: the look decides */
    snprintf(after, sizeof(after), "DROVER_WITHDRAW_AFTER=%llu",
             (unsigned long long) (mono_us() - 1000000));
    withdraw_case(after, &r);
    ASSERT_TRUE(r.got_end
                && r.protocol_status == DROVER_FCGI_OVERLOADED,
                "DROVER_WITHDRAW_AFTER passed: refused unrun");
    reply_free(&r);

    /* a value that is not a number promises nothing */
    withdraw_case("DROVER_WITHDRAW_AFTER=9x99999999999", &r);
    ASSERT_TRUE(r.got_end
                && r.protocol_status == DROVER_FCGI_OVERLOADED,
                "a malformed DROVER_WITHDRAW_AFTER: refused unrun");
    reply_free(&r);
}


int
main(void)
{
    int    slot_fd, shared_fd;
    pid_t  pid;
    char   path[128];

    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);

    if (worker_fixture_init() != 0) {
        return 2;
    }

    slot_fd = make_listener(slot_path);
    shared_fd = make_listener(shared_path);

    pid = start_worker(slot_fd, shared_fd, getpid(), 1);

    worker_pid = pid;

    test_refused();
    test_withdraw();

    ASSERT_EQ(wait_exit(pid, 0), -1, "worker survived all of it");
    kill(pid, SIGTERM);
    ASSERT_EQ(wait_exit(pid, WAIT_MS), 0, "worker stops with 0");
    snprintf(path, sizeof(path), "%s/fini.%ld", tmpdir, (long) pid);
    ASSERT_EQ(unlink(path), 0, "app fini ran");

    close(slot_fd);
    close(shared_fd);

    ASSERT_EQ(log_count("[alert]"), 0, "no alert in the log");
    ASSERT_EQ(log_count("AddressSanitizer"), 0, "no ASan report");
    ASSERT_EQ(log_count("runtime error"), 0, "no UBSan report");
    ASSERT_EQ(log_count("LeakSanitizer"), 0, "no leak report");

    if (tap_failed) {
        log_dump();
    }

    worker_fixture_cleanup();

    return tap_done();
}
