/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * worker_fixture.h -- a live worker for end-to-end tests: a built-in app, a
 * forked drover_worker_run() on Unix sockets, a FastCGI client.
 *
 * Used by test_worker.c and test_worker_refused.c; any test of a worker over
 * its sockets can link $(BUILD)/tests/obj/worker_fixture.o (see the Makefile).
 * The fixture asserts nothing (tap.h's counter is per file): it returns what
 * it saw, and the test checks it.
 *
 * The app (test_app) answers by path: "/" hello, "/init", "/calls" (its
 * handle() calls so far), "/info", "/param", "/header", "/echo", "/readall",
 * "/big", "/bigone", "/abort", "/peek", "/last", "/slow", "/fail",
 * "/stderr", "/headers"; a request with TEST_WHOAMI shows its params; see
 * app_handle() in worker_fixture.c.  Its fini and "/slow" leave marker files
 * (fini.<pid>, slow.<pid>) in app_dir.
 *
 * A test: worker_fixture_init(), make_listener() on slot_path and
 * shared_path, start_worker(); then client_connect() and do_request(), or
 * add_*() records to a buf_t and exchange() them; the worker's stderr is
 * tmpdir/worker.log (log_count(), log_dump()); worker_fixture_cleanup().
 */

#ifndef DROVER_WORKER_FIXTURE_H
#define DROVER_WORKER_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "app.h"
#include "conf.h"
#include "fcgi.h"

#define IO_TIMEOUT_MS  300              /* the pool's io_timeout */
#define WAIT_MS        10000            /* a deadline no answer should reach */


typedef struct {
    uint8_t  *data;
    size_t    len;
    size_t    cap;
} buf_t;


typedef struct {
    /* stop when this arrives: END_REQUEST for want_id, a management
     * record of want_type, or want_text in STDOUT */
    unsigned              want_type;
    unsigned              want_id;
    const char           *want_text;

    drover_fcgi_parser_t  parser;
    buf_t                 out;
    buf_t                 err;
    buf_t                 body;          /* END_REQUEST, management */
    buf_t                 pending;       /* received past done */
    unsigned              nstdout;
    unsigned              misaligned;
    unsigned              stdout_ended;
    unsigned              got_end;
    unsigned              end_id;
    uint32_t              app_status;
    unsigned              protocol_status;
    unsigned              mgmt_type;
    int                   eof;
    int                   done;
    int                   parse_error;
    size_t                sent;          /* of snd, by exchange() */
} reply_t;


/* the app under test, and the directory its marker files go to */
extern const drover_app_t  test_app;
extern char                app_dir[64];

/* the worker's pool, ctx, temporary directory and socket paths */
extern char                tmpdir[64];
extern drover_pool_conf_t  pool;
extern drover_ctx_t        ctx;
extern char                slot_path[128], shared_path[128];

void buf_add(buf_t *b, const void *data, size_t len);
uint64_t now_ms(void);

/* sockets and the worker process (exit(2) on a socket error) */
int make_listener(const char *path);
int client_connect(const char *path);
pid_t start_worker(int slot_fd, int shared_fd, pid_t manager, int pdeathsig);
int wait_exit(pid_t pid, int timeout_ms);

/* the client: a reply, the exchange of a request for it */
void reply_init(reply_t *r, unsigned want_type, unsigned want_id);
void reply_free(reply_t *r);
void reply_feed(reply_t *r, const uint8_t *data, size_t len);
int exchange(int fd, const uint8_t *snd, size_t len, const size_t *pattern,
    size_t npattern, reply_t *r, int timeout_ms);
int send_rest(int fd, const uint8_t *snd, size_t len, const reply_t *r);
long wait_eof(int fd, int timeout_ms);
int do_request(int fd, unsigned id, int keep, const char *uri, reply_t *r);
const char *reply_body(reply_t *r);

/* records and requests, appended to b */
void add_record(buf_t *b, unsigned type, unsigned id, const void *content,
    size_t len, unsigned pad);
void add_begin(buf_t *b, unsigned id, unsigned role, int keep);
void add_stream(buf_t *b, unsigned type, unsigned id, const uint8_t *data,
    size_t len, size_t chunk, int end);
void add_params(buf_t *b, unsigned id, const char *const *params,
    size_t chunk);
void add_request(buf_t *b, unsigned id, int keep, const char *uri,
    const uint8_t *body, size_t blen);
void add_request_in(buf_t *b, unsigned id, int keep, const char *uri,
    const uint8_t *body, size_t blen, size_t chunk);

/* lines of tmpdir/worker.log holding needle (-1: no log); the log as TAP
 * comments */
int log_count(const char *needle);
void log_dump(void);

/* tmpdir, app_dir, pool, ctx, the socket paths set: 0, or -1; then the log,
 * the sockets and tmpdir removed */
int worker_fixture_init(void);
void worker_fixture_cleanup(void);

#endif /* DROVER_WORKER_FIXTURE_H */
