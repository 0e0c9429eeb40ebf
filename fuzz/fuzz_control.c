/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * fuzz_control.c -- droverd's control-socket request parser and command
 * dispatch (worker_host/src/control.c and control_cmd.c: line framing,
 * JSON parsing, command checks; status_dispatch.c: the status merge of
 * nginx's "queues"; render_prom.c and render_html.c behind "format").
 *
 * control.c's parser is reached only through its socket, so the harness
 * runs the real thing: two controls listen in a private temporary
 * directory (one read-only, like `status_socket`), on one libuv loop that
 * the harness turns (UV_RUN_NOWAIT) while a client socket of its own
 * writes the input, shuts its sending side, and reads the answers until
 * droverd closes the connection.  The ops are a fake manager: status
 * answers a fixed two-pool document, the actions succeed for pool "kit"
 * and fail for others.
 *
 * Input: the bytes a client sends, as is.  An input that starts with a
 * space goes to the read-only socket.
 *
 * The oracle: every connection is closed by droverd after the client's
 * end (no hang: 10 s), and every answer line that starts with '{' is a
 * JSON object with a boolean "ok" (a "raw" status answer ends the JSON
 * lines: what follows is the document).
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <uv.h>

#include "control.h"
#include "log.h"

#define FUZZ_WAIT_MS    10000
#define FUZZ_ANSWER_MAX (16u << 20)


static uv_loop_t          fuzz_loop;
static drover_control_t  *fuzz_ctl;
static drover_control_t  *fuzz_ro;
static char               fuzz_dir[64];
static char               fuzz_ctl_path[128];
static char               fuzz_ro_path[128];

static const char  fuzz_status_json[] =
    "{\"droverd\":{\"version\":\"0.2.0\",\"pid\":123,\"uptime_ms\":1000,"
    "\"config\":\"/etc/drover/droverd.conf\"},"
    "\"pools\":["
    "{\"name\":\"kit\",\"listen\":\"/run/drover/kit.sock\","
    "\"generation\":3,\"workers\":2,\"state\":\"serving\","
    "\"requests_total\":10,\"requests_per_s\":1.5,\"busy_ratio\":0.5,"
    "\"busy_target_low\":0.5,\"busy_target_high\":0.9,"
    "\"memory_shared_bytes\":4096,\"memory_private_bytes\":8192,"
    "\"memory_budget_bytes\":0,"
    "\"workers_detail\":[{\"slot\":0,\"pid\":456,\"state\":\"busy\","
    "\"current_uri\":\"/sleep?ms=500&<b>\",\"requests\":3,"
    "\"cpu_ratio\":0.25,\"cpu_seconds_total\":1.5,\"rss_bytes\":1000,"
    "\"pss_bytes\":900,\"uss_bytes\":800,\"uptime_ms\":5000,"
    "\"restarts\":1},"
    "{\"slot\":1,\"pid\":0,\"state\":\"empty\"}]},"
    "{\"name\":\"web\",\"listen\":\"/run/drover/web.sock\","
    "\"generation\":1,\"workers\":0,\"state\":\"failing\","
    "\"workers_detail\":[]}]}";


static void
fuzz_check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_control: contract broken: %s\n", what);
        abort();
    }
}


/* ---- the fake manager ---- */

static int
fuzz_pool_result(const char *what, const char *pool, char *err,
    size_t errlen)
{
    if (pool == NULL || strcmp(pool, "kit") == 0) {
        return 0;
    }

    if (strcmp(pool, "silent") == 0) {
        return -EIO;            /* no message: control.c says one */
    }

    snprintf(err, errlen, "%s: no pool named \"%s\"", what, pool);
    return -ENOENT;
}


static json_object *
fuzz_status(void *data, const char *pool, char *err, size_t errlen)
{
    (void) data;

    if (pool != NULL && strcmp(pool, "kit") != 0
        && strcmp(pool, "web") != 0)
    {
        (void) fuzz_pool_result("status", pool, err, errlen);
        return NULL;
    }

    return json_tokener_parse(fuzz_status_json);
}


static int
fuzz_reload(void *data, char *err, size_t errlen)
{
    (void) data;
    return fuzz_pool_result("reload", NULL, err, errlen);
}


static int
fuzz_restart(void *data, const char *pool, char *err, size_t errlen)
{
    (void) data;
    return fuzz_pool_result("restart", pool, err, errlen);
}


static int
fuzz_scale(void *data, const char *pool, unsigned workers, char *err,
    size_t errlen)
{
    (void) data;
    fuzz_check(workers >= 1 && workers <= 256, "scale: workers 1..256");
    return fuzz_pool_result("scale", pool, err, errlen);
}


static int
fuzz_stop(void *data, char *err, size_t errlen)
{
    (void) data;
    return fuzz_pool_result("stop", NULL, err, errlen);
}


static const drover_control_ops_t  fuzz_ops = {
    .data = NULL,
    .status = fuzz_status,
    .reload = fuzz_reload,
    .restart = fuzz_restart,
    .scale = fuzz_scale,
    .stop = fuzz_stop,
};


/* ---- the client ---- */

static uint64_t
fuzz_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


static int
fuzz_connect(const char *path)
{
    int                 fd;
    struct sockaddr_un  sa;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    fuzz_check(fd != -1, "socket failed");
    fuzz_check(connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0,
               "connect to the control socket failed");

    return fd;
}


/* each line starting with '{' is an answer object with a boolean "ok" */
static void
fuzz_check_answers(char *text, size_t len, int reset)
{
    char          *line, *nl;
    json_object   *o, *ok;

    for (line = text; line < text + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t) (text + len - line));
        if (nl == NULL) {
            /* a reset (the client's unread bytes) may cut the last one */
            fuzz_check(reset, "an answer without its newline");
            return;
        }

        if (*line != '{') {
            return;             /* a raw status document follows */
        }

        *nl = '\0';
        o = json_tokener_parse(line);
        fuzz_check(o != NULL && json_object_is_type(o, json_type_object),
                   "an answer that is not a JSON object");
        fuzz_check(json_object_object_get_ex(o, "ok", &ok)
                   && json_object_is_type(ok, json_type_boolean),
                   "an answer without a boolean \"ok\"");
        json_object_put(o);
    }
}


/* at exit: the socket files and their directory go */
static void
fuzz_cleanup(void)
{
    (void) unlink(fuzz_ctl_path);
    (void) unlink(fuzz_ro_path);
    (void) rmdir(fuzz_dir);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int          level;
    char         err[256];
    const char  *tmp, *env;

    (void) argc;
    (void) argv;

    signal(SIGPIPE, SIG_IGN);

    level = -2;
    env = getenv("DROVER_FUZZ_LOG");
    if (env != NULL) {
        level = drover_log_level_parse(env);
    }
    drover_log_set_level(level);

    tmp = getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/drover-fuzz-ctl.XXXXXX",
             tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp");
    fuzz_check(mkdtemp(fuzz_dir) != NULL, "mkdtemp failed");
    snprintf(fuzz_ctl_path, sizeof(fuzz_ctl_path), "%s/ctl", fuzz_dir);
    snprintf(fuzz_ro_path, sizeof(fuzz_ro_path), "%s/status", fuzz_dir);
    atexit(fuzz_cleanup);

    fuzz_check(uv_loop_init(&fuzz_loop) == 0, "uv_loop_init failed");

    err[0] = '\0';
    if (drover_control_start(&fuzz_loop, fuzz_ctl_path, 0600, (gid_t) -1,
                             &fuzz_ops, &fuzz_ctl, err, sizeof(err)) != 0
        || drover_control_start(&fuzz_loop, fuzz_ro_path, 0600, (gid_t) -1,
                                &fuzz_ops, &fuzz_ro, err, sizeof(err)) != 0)
    {
        fprintf(stderr, "fuzz_control: %s\n", err);
        abort();
    }

    drover_control_set_readonly(fuzz_ro);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            fd, eof, reset, idle;
    char          *answers, *p;
    size_t         off, len, cap;
    ssize_t        n;
    uint64_t       deadline;
    struct pollfd  pfd[2];

    fd = fuzz_connect(size > 0 && data[0] == ' ' ? fuzz_ro_path
                                                 : fuzz_ctl_path);

    if (size == 0) {
        shutdown(fd, SHUT_WR);
    }

    answers = NULL;
    len = 0;
    cap = 0;
    off = 0;
    eof = 0;
    reset = 0;
    idle = 0;
    deadline = fuzz_now_ms() + FUZZ_WAIT_MS;

    while (!eof) {
        fuzz_check(fuzz_now_ms() < deadline,
                   "droverd did not close the connection within 10 s");

        uv_run(&fuzz_loop, UV_RUN_NOWAIT);

        if (off < size) {
            n = send(fd, data + off, size - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += (size_t) n;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                off = size;     /* droverd closed early: a long line */
            }

            if (off == size) {
                shutdown(fd, SHUT_WR);
            }
        }

        for ( ;; ) {
            if (cap - len < 65536) {
                cap = cap == 0 ? 131072 : cap * 2;
                fuzz_check(cap <= FUZZ_ANSWER_MAX,
                           "more than 16 MiB of answers");
                p = realloc(answers, cap);
                fuzz_check(p != NULL, "out of memory");
                answers = p;
            }

            n = recv(fd, answers + len, cap - len, MSG_DONTWAIT);
            if (n > 0) {
                len += (size_t) n;
                idle = 0;
                continue;
            }

            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                eof = 1;        /* closed, or reset after a long line */
                reset = (n != 0);
            }

            break;
        }

        if (!eof) {
            pfd[0].fd = fd;
            pfd[0].events = POLLIN | (off < size ? POLLOUT : 0);
            pfd[0].revents = 0;
            pfd[1].fd = uv_backend_fd(&fuzz_loop);
            pfd[1].events = POLLIN;
            pfd[1].revents = 0;
            /*
             * libuv finishes some work (a shutdown's callback) on its next
             * turn with no fd event: turn again at once a few times first
             */
            (void) poll(pfd, 2, idle++ < 4 ? 0 : 1);
        }
    }

    close(fd);

    /* let droverd's side see the close and free the client */
    uv_run(&fuzz_loop, UV_RUN_NOWAIT);

    fuzz_check_answers(answers, len, reset);
    free(answers);

    return 0;
}
