/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_prestart.c -- prestart commands driven the way the manager drives
 * them: a libuv loop whose SIGCHLD handler reaps every child with
 * waitpid(-1) and offers each pid to drover_prestart_reaped().
 *
 * The process is a child subreaper like the manager, so whatever a command
 * leaves behind comes back to it and is reaped here.  stderr (the log) goes
 * to DIR/log, read back by the checks; TAP goes to stdout.  As root the
 * pool runs as nobody, so the temp dir is world-writable.
 */

#include "conf.h"
#include "log.h"
#include "prestart.h"
#include "proc.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

/*
 * tap.h's ASSERT_TRUE evaluates its condition twice (for the verdict and
 * for the diagnostic); ours have side effects (receive a datagram, reap):
 * evaluate once.
 */
#define CHECK(cond, name)                                                    \
    do {                                                                     \
        int  c_ = (cond);                                                    \
        ASSERT_TRUE(c_, name);                                               \
    } while (0)

#define MAX_CMDS  4

static char   dir[PATH_MAX];
static int    stderr_fd = -1;        /* the real stderr, for the end */
static uid_t  pool_uid = (uid_t) -1;
static gid_t  pool_gid = (gid_t) -1;


/* ---- fixtures: a pool built by hand ---- */

typedef struct {
    drover_conf_t            conf;
    drover_pool_conf_t       pool;
    drover_prestart_conf_t   cmds[MAX_CMDS];
    char                    *argv[MAX_CMDS][4];
    char                     script[MAX_CMDS][1024];
    char                     name[64];
    char                     app[PATH_MAX + 32];
    char                     run_dir[PATH_MAX + 32];
} fixture_t;


/* DIR/REL, in one of a few rotating buffers */
static const char *
at(const char *rel)
{
    static char  bufs[8][PATH_MAX + 64];
    static int   i;

    i = (i + 1) % 8;
    snprintf(bufs[i], sizeof(bufs[i]), "%s/%s", dir, rel);

    return bufs[i];
}


static void
fixture_init(fixture_t *f, const char *name, unsigned timeout_ms)
{
    memset(f, 0, sizeof(*f));

    snprintf(f->name, sizeof(f->name), "%s", name);
    snprintf(f->app, sizeof(f->app), "%s/apps/app.so", dir);
    snprintf(f->run_dir, sizeof(f->run_dir), "%s/run", dir);

    f->conf.run_dir = f->run_dir;
    f->conf.log_level = DROVER_LOG_INFO;
    f->conf.pools = &f->pool;
    f->conf.npools = 1;

    f->pool.name = f->name;
    f->pool.app = f->app;
    f->pool.uid = pool_uid;
    f->pool.gid = pool_gid;
    f->pool.user = pool_uid != (uid_t) -1 ? "nobody" : NULL;
    f->pool.prestart = f->cmds;
    f->pool.prestart_timeout_ms = timeout_ms;
    f->pool.file = "test.conf";
    f->pool.line = 1;
}


/* a command: /bin/sh -c SCRIPT (printf-style, "%1$s" or plain %s is DIR) */
static void DROVER_PRINTF(2, 3)
fixture_sh(fixture_t *f, const char *fmt, ...)
{
    size_t   i = f->pool.nprestart++;
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(f->script[i], sizeof(f->script[i]), fmt, ap);
    va_end(ap);

    f->argv[i][0] = "/bin/sh";
    f->argv[i][1] = "-c";
    f->argv[i][2] = f->script[i];
    f->argv[i][3] = NULL;

    f->cmds[i].argv = f->argv[i];
    f->cmds[i].argc = 3;
    f->cmds[i].file = "test.conf";
    f->cmds[i].line = (unsigned) (10 + i);
}


/* a command run directly: PATH [ARG] */
static void
fixture_exec(fixture_t *f, const char *path, const char *arg)
{
    size_t  i = f->pool.nprestart++;

    snprintf(f->script[i], sizeof(f->script[i]), "%s", path);

    f->argv[i][0] = f->script[i];
    f->argv[i][1] = (char *) arg;
    f->argv[i][2] = NULL;

    f->cmds[i].argv = f->argv[i];
    f->cmds[i].argc = arg != NULL ? 2 : 1;
    f->cmds[i].file = "test.conf";
    f->cmds[i].line = (unsigned) (10 + i);
}


/* ---- running it on a loop, like the manager ---- */

typedef struct run_s  run_t;

struct run_s {
    uv_loop_t                 loop;
    uv_signal_t               sigchld;
    uv_timer_t                guard;
    uv_timer_t                aux;
    void                    (*aux_cb)(run_t *r);
    unsigned                  aux_ms;

    drover_prestart_t        *ps;
    int                       in_start;
    int                       called;
    int                       called_in_start;
    int                       status;
    drover_prestart_result_t  result;
    unsigned long long        t_start;
    unsigned long long        t_done;
    int                       strangers;
    int                       lock_fd;
    pid_t                     cancelled_pid;
    int                       group_seen;     /* its own process group */
};


static void
run_close(run_t *r)
{
    if (!uv_is_closing((uv_handle_t *) &r->sigchld)) {
        uv_close((uv_handle_t *) &r->sigchld, NULL);
    }

    if (!uv_is_closing((uv_handle_t *) &r->guard)) {
        uv_close((uv_handle_t *) &r->guard, NULL);
    }

    if (!uv_is_closing((uv_handle_t *) &r->aux)) {
        uv_close((uv_handle_t *) &r->aux, NULL);
    }
}


static void
run_sigchld_cb(uv_signal_t *h, int signum)
{
    int     status;
    pid_t   pid;
    run_t  *r = h->data;

    (void) signum;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (r->ps == NULL || !drover_prestart_reaped(r->ps, pid, status)) {
            r->strangers++;
        }
    }
}


static void
run_done_cb(drover_prestart_t *ps, int status, const char *message,
    void *data)
{
    run_t  *r = data;

    r->called++;
    r->called_in_start |= r->in_start;
    r->status = status;
    r->result = *drover_prestart_result(ps);
    r->t_done = drover_proc_now_ms();

    if (strcmp(message, r->result.message) != 0) {
        printf("# message and result differ\n");
        r->called += 100;
    }

    r->ps = NULL;
    run_close(r);
}


static void
run_guard_cb(uv_timer_t *t)
{
    run_t  *r = t->data;

    printf("# guard: no result after 15 s\n");

    if (r->ps != NULL) {
        drover_prestart_cancel(r->ps);
        r->ps = NULL;
    }

    run_close(r);
}


static void
run_aux_cb(uv_timer_t *t)
{
    run_t  *r = t->data;

    r->aux_cb(r);
}


/* runs F's prestart to its end; returns drover_prestart_start()'s code */
static int
run(run_t *r, fixture_t *f)
{
    int  rc;

    r->loop.data = NULL;
    uv_loop_init(&r->loop);

    uv_signal_init(&r->loop, &r->sigchld);
    r->sigchld.data = r;
    uv_signal_start(&r->sigchld, run_sigchld_cb, SIGCHLD);

    uv_timer_init(&r->loop, &r->guard);
    r->guard.data = r;
    uv_timer_start(&r->guard, run_guard_cb, 15000, 0);

    uv_timer_init(&r->loop, &r->aux);
    r->aux.data = r;
    if (r->aux_cb != NULL) {
        uv_timer_start(&r->aux, run_aux_cb, r->aux_ms, 0);
    }

    r->t_start = drover_proc_now_ms();
    r->in_start = 1;
    rc = drover_prestart_start(&r->loop, &f->conf, &f->pool, run_done_cb, r,
                               &r->ps);
    r->in_start = 0;

    if (rc != 0) {
        run_close(r);
    }

    uv_run(&r->loop, UV_RUN_DEFAULT);

    if (uv_loop_close(&r->loop) != 0) {
        printf("# the loop still has handles: something was not closed\n");
        r->called += 1000;
    }

    return rc;
}


/* reap what is left (killed commands, leftovers), for up to ms */
static void
reap_for(unsigned ms)
{
    unsigned long long  end = drover_proc_now_ms() + ms;

    while (drover_proc_now_ms() < end) {
        if (waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD) {
            return;
        }

        usleep(10000);
    }
}


/* 1 when process group pgid is gone within ms (zombies reaped meanwhile) */
static int
group_gone(pid_t pgid, unsigned ms)
{
    unsigned long long  end = drover_proc_now_ms() + ms;

    for ( ;; ) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
            /* reap */
        }

        if (kill(-pgid, 0) == -1 && errno == ESRCH) {
            return 1;
        }

        if (drover_proc_now_ms() >= end) {
            return 0;
        }

        usleep(10000);
    }
}


/* 1 when process pid is gone (and reaped, when ours) within ms */
static int
process_gone(pid_t pid, unsigned ms)
{
    unsigned long long  end = drover_proc_now_ms() + ms;

    for ( ;; ) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
            /* reap */
        }

        if (kill(pid, 0) == -1 && errno == ESRCH) {
            return 1;
        }

        if (drover_proc_now_ms() >= end) {
            return 0;
        }

        usleep(10000);
    }
}


/* ---- files and the log ---- */

static char *
slurp(const char *path, off_t from)
{
    int      fd;
    char    *buf;
    size_t   len;
    ssize_t  n;

    fd = open(path, O_RDONLY);
    if (fd == -1) {
        return NULL;
    }

    len = 0;
    buf = NULL;

    if (lseek(fd, from, SEEK_SET) == (off_t) -1) {
        close(fd);
        return NULL;
    }

    for ( ;; ) {
        char  *nb = realloc(buf, len + 65536 + 1);

        if (nb == NULL) {
            break;
        }

        buf = nb;
        n = read(fd, buf + len, 65536);
        if (n <= 0) {
            break;
        }

        len += (size_t) n;
    }

    close(fd);

    if (buf != NULL) {
        buf[len] = '\0';
    }

    return buf;
}


static off_t
log_mark(void)
{
    return lseek(STDERR_FILENO, 0, SEEK_END);
}


/* 1 when the log written since mark has needle */
static int
log_has(off_t mark, const char *needle)
{
    int    found;
    char  *text = slurp(at("log"), mark);

    found = (text != NULL && strstr(text, needle) != NULL);

    if (!found) {
        printf("#   the log has no \"%s\"; it has:\n", needle);

        if (text != NULL) {
            char  *s, *save = NULL;

            for (s = strtok_r(text, "\n", &save); s != NULL;
                 s = strtok_r(NULL, "\n", &save))
            {
                printf("#     %.300s\n", s);
            }
        }
    }

    free(text);
    return found;
}


static int
has(const char *haystack, const char *needle)
{
    int  found = (haystack != NULL && strstr(haystack, needle) != NULL);

    if (!found) {
        printf("#   \"%s\" not in \"%s\"\n", needle,
               haystack ? haystack : "(null)");
    }

    return found;
}


static int
file_equals(const char *path, const char *expected)
{
    int    eq;
    char  *text = slurp(path, 0);

    eq = (text != NULL && strcmp(text, expected) == 0);

    if (!eq) {
        printf("#   %s has \"%s\", expected \"%s\"\n", path,
               text ? text : "(missing)", expected);
    }

    free(text);
    return eq;
}


/* ---- the tests ---- */

static void
test_order_and_environment(void)
{
    int        leaked;
    char       expected[PATH_MAX * 2];
    run_t      r;
    fixture_t  f;
    off_t      mark = log_mark();
    struct stat  st;

    fixture_init(&f, "order", 5000);
    fixture_sh(&f, "echo one >> %s; "
               "echo \"$DROVER_POOL $(pwd) $(id -u)\" > %s; "
               "if read x; then echo stdin; else echo no-stdin; fi >> %s",
               at("order.out"), at("order.env"), at("order.env"));
    fixture_sh(&f, "echo two >> %s; ls /proc/self/fd > %s", at("order.out"),
               at("order.fds"));

    /* an fd someone forgot to make O_CLOEXEC must not reach the commands */
    leaked = open("/dev/null", O_RDONLY);

    memset(&r, 0, sizeof(r));
    ASSERT_EQ(run(&r, &f), 0, "order: started");
    close(leaked);
    ASSERT_EQ(r.called, 1, "order: the callback ran once");
    ASSERT_EQ(r.status, 0, "order: status 0");
    CHECK(has(r.result.message, "pool order: prestart done: "
              "2 commands"), "order: message says done");
    CHECK(file_equals(at("order.out"), "one\ntwo\n"),
          "order: both commands ran, in order");

    snprintf(expected, sizeof(expected), "order %s/apps %ld\nno-stdin\n",
             dir, pool_uid != (uid_t) -1 ? (long) pool_uid : (long) getuid());
    CHECK(file_equals(at("order.env"), expected),
          "order: DROVER_POOL, cwd = the app's directory, the pool's "
          "user, stdin /dev/null");

    /* ls's own directory fd is the 3 */
    CHECK(file_equals(at("order.fds"), "0\n1\n2\n3\n"),
          "order: the command gets fds 0-2 only");

    ASSERT_EQ(r.result.ncommands, 2, "order: result counts 2 commands");
    CHECK(r.result.started_unix_ms > 1600000000000LL
          && r.result.duration_ms < 5000, "order: result times");
    ASSERT_EQ(r.called_in_start, 0, "order: not called from within start");

    CHECK(stat(f.run_dir, &st) == 0 && S_ISDIR(st.st_mode)
          && (st.st_mode & 07777) == 0755,
          "order: the run directory was created 0755");
    CHECK(stat(at("run/prestart-order.lock"), &st) == 0
          && (st.st_mode & 0777) == 0600,
          "order: the lock file is RUN_DIR/prestart-POOL.lock, 0600");
    CHECK(log_has(mark, "pool order: prestart 1/2: /bin/sh -c echo "
                  "one"), "order: the start is logged");
    CHECK(log_has(mark, "(test.conf:11) exited with code 0 after"),
          "order: the result is logged with FILE:LINE");
}


static void
test_output_logged(void)
{
    run_t      r;
    fixture_t  f;
    off_t      mark = log_mark();

    fixture_init(&f, "out", 5000);
    /* 3000 x's: longer than a log line may be; a last line with no '\n' */
    fixture_sh(&f, "echo 'hello from stdout'; echo 'hello from stderr' >&2; "
               "printf 'ctl\\001char\\n'; "
               "head -c 3000 /dev/zero | tr '\\0' x; echo; "
               "printf 'no newline at the end'");

    memset(&r, 0, sizeof(r));
    run(&r, &f);
    ASSERT_EQ(r.status, 0, "output: status 0");
    CHECK(log_has(mark, "] "), "output: something was logged");
    CHECK(log_has(mark, "[notice]") && log_has(mark,
          "pool out: prestart /bin/sh: hello from stdout\n"),
          "output: a stdout line at notice as "
          "`pool NAME: prestart CMD: LINE`");
    CHECK(log_has(mark, "pool out: prestart /bin/sh: hello from "
                  "stderr\n"), "output: a stderr line");
    CHECK(log_has(mark, "prestart /bin/sh: ctl?char\n"),
          "output: control characters become '?'");
    CHECK(log_has(mark, "prestart /bin/sh: no newline at the end\n"),
          "output: the last line without a newline");

    {
        char  *text = slurp(at("log"), mark), *s;
        int    ok = 0;

        s = text != NULL ? strstr(text, "prestart /bin/sh: xxx") : NULL;
        if (s != NULL) {
            size_t  n = strspn(s + 18, "x");

            ok = (n == DROVER_PRESTART_LINE_MAX
                  && strncmp(s + 18 + n, "...\n", 4) == 0);
            if (!ok) {
                printf("#   %zu x's, then \"%.4s\"\n", n, s + 18 + n);
            }
        }

        CHECK(ok, "output: a long line is cut at 1 KiB, marked ...");
        free(text);
    }
}


static void
test_big_output(void)
{
    run_t      r;
    fixture_t  f;

    /* 20 MB in a single line, then many lines: memory stays bounded */
    fixture_init(&f, "big", 10000);
    fixture_sh(&f, "head -c 20000000 /dev/zero | tr '\\0' y; echo; "
               "seq 1 2000; exit 1");

    memset(&r, 0, sizeof(r));
    run(&r, &f);
    ASSERT_EQ(r.status, -ECHILD, "big output: exit 1 fails");
    CHECK(has(r.result.message, "last output: 1996 | 1997 | 1998 | "
              "1999 | 2000")
          && strlen(r.result.message) < DROVER_PRESTART_MESSAGE_MAX,
          "big output: the last 5 lines, message bounded");
}


static void
test_failure_stops(void)
{
    run_t        r;
    fixture_t    f;
    off_t        mark = log_mark();
    struct stat  st;

    fixture_init(&f, "fail", 5000);
    fixture_sh(&f, "for i in 1 2 3 4 5 6 7; do echo line$i; done; exit 3");
    fixture_sh(&f, "touch %s", at("fail.second"));

    memset(&r, 0, sizeof(r));
    run(&r, &f);
    ASSERT_EQ(r.called, 1, "exit 3: the callback ran once");
    ASSERT_EQ(r.status, -ECHILD, "exit 3: status -ECHILD");
    CHECK(has(r.result.message, "pool fail: prestart /bin/sh "
              "(test.conf:10) exited with code 3; last output: "
              "line3 | line4 | line5 | line6 | line7"),
          "exit 3: the message names the command, code 3 and the last "
          "5 lines");
    CHECK(strstr(r.result.message, "line2") == NULL,
          "exit 3: only the last 5 lines");
    CHECK(stat(at("fail.second"), &st) == -1 && errno == ENOENT,
          "exit 3: the second command did not run");
    ASSERT_EQ(r.result.ncommands, 1, "exit 3: one command started");
    CHECK(log_has(mark, "[error]")
          && log_has(mark, "exited with code 3; last output"),
          "exit 3: logged as an error");
}


static void
test_signal(void)
{
    run_t      r;
    fixture_t  f;

    fixture_init(&f, "sig", 5000);
    fixture_sh(&f, "echo about to die; kill -USR1 $$");

    memset(&r, 0, sizeof(r));
    run(&r, &f);
    ASSERT_EQ(r.status, -ECHILD, "signal: status -ECHILD");
    CHECK(has(r.result.message, "killed by signal 10 (User defined "
              "signal 1); last output: about to die"),
          "signal: the message names the signal");
}


/* while it runs: the command leads a process group of its own */
static void
group_check_cb(run_t *r)
{
    pid_t  pid;

    if (r->ps != NULL) {
        pid = drover_prestart_result(r->ps)->last_pid;
        r->group_seen = (pid > 0 && getpgid(pid) == pid
                         && kill(-pid, 0) == 0);
    }
}


static void
test_timeout(void)
{
    pid_t      pgid;
    run_t      r;
    fixture_t  f;
    off_t      mark = log_mark();

    fixture_init(&f, "slow", 300);
    fixture_exec(&f, "/bin/sleep", "10");

    memset(&r, 0, sizeof(r));
    r.aux_cb = group_check_cb;
    r.aux_ms = 150;
    run(&r, &f);
    pgid = r.result.last_pid;

    ASSERT_EQ(r.status, -ETIMEDOUT, "timeout: status -ETIMEDOUT");
    CHECK(has(r.result.message, "pool slow: prestart /bin/sleep "
              "(test.conf:10) timed out after 300 ms; no output"),
          "timeout: the message says timed out after 300 ms");
    CHECK(r.t_done - r.t_start >= 300 && r.t_done - r.t_start < 2500,
          "timeout: failed within 2.5 s");
    ASSERT_EQ(r.group_seen, 1, "timeout: the command ran in its own "
              "process group");
    CHECK(pgid > 0 && group_gone(pgid, 1000),
          "timeout: the command's process group is gone");
    CHECK(log_has(mark, "timed out after 300 ms: SIGTERM to its "
                  "process group"), "timeout: logged");
}


static void
test_timeout_kill(void)
{
    pid_t      pgid;
    run_t      r;
    fixture_t  f;
    off_t      mark = log_mark();

    /* ignores SIGTERM, and so does the sleep it starts (in its group) */
    fixture_init(&f, "stubborn", 300);
    fixture_sh(&f, "trap '' TERM; echo ignoring TERM; sleep 10; sleep 10");

    memset(&r, 0, sizeof(r));
    r.aux_cb = group_check_cb;
    r.aux_ms = 150;
    run(&r, &f);
    pgid = r.result.last_pid;

    ASSERT_EQ(r.status, -ETIMEDOUT, "SIGTERM ignored: status -ETIMEDOUT");
    CHECK(r.t_done - r.t_start >= 2000
          && r.t_done - r.t_start < 4000,
          "SIGTERM ignored: SIGKILL 2 s later");
    CHECK(has(r.result.message, "timed out after 300 ms; last output: "
              "ignoring TERM"), "SIGTERM ignored: message");
    ASSERT_EQ(r.group_seen, 1, "SIGTERM ignored: its own process group");
    CHECK(pgid > 0 && group_gone(pgid, 1000),
          "SIGTERM ignored: the whole group is gone");
    CHECK(log_has(mark, "SIGKILL to its process group"),
          "SIGTERM ignored: the SIGKILL is logged");
}


static void
test_cannot_exec(void)
{
    int        fd;
    run_t      r;
    fixture_t  f;

    fixture_init(&f, "noexec", 5000);
    fixture_exec(&f, "/nonexistent/migrate", "--now");

    memset(&r, 0, sizeof(r));
    run(&r, &f);
    ASSERT_EQ(r.status, -ECHILD, "nonexistent: fails");
    CHECK(has(r.result.message, "pool noexec: prestart "
              "/nonexistent/migrate (test.conf:10) exited with code "
              "127; last output: cannot execute /nonexistent/migrate: "
              "No such file or directory"),
          "nonexistent: exit code 127 and the reason");

    /* a file that is not executable */
    fd = open(at("not-exec.sh"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        (void) !write(fd, "#!/bin/sh\necho hi\n", 18);
        close(fd);
    }

    fixture_init(&f, "noexec2", 5000);
    fixture_exec(&f, at("not-exec.sh"), NULL);

    memset(&r, 0, sizeof(r));
    run(&r, &f);
    CHECK(r.status == -ECHILD && has(r.result.message, "exited with "
          "code 127; last output: cannot execute ")
          && has(r.result.message, ": Permission denied"),
          "not executable: exit code 127, Permission denied");
}


static void
test_no_commands(void)
{
    run_t      r;
    fixture_t  f;

    fixture_init(&f, "none", 5000);

    memset(&r, 0, sizeof(r));
    ASSERT_EQ(run(&r, &f), 0, "no commands: started");
    ASSERT_EQ(r.called, 1, "no commands: the callback ran once");
    ASSERT_EQ(r.called_in_start, 0, "no commands: asynchronously");
    ASSERT_EQ(r.status, 0, "no commands: status 0");
    ASSERT_EQ(r.result.ncommands, 0, "no commands: none started");
}


static void
test_run_dir_missing(void)
{
    run_t      r;
    fixture_t  f;

    fixture_init(&f, "norun", 5000);
    snprintf(f.run_dir, sizeof(f.run_dir), "%s/no/such/run", dir);
    fixture_exec(&f, "/bin/true", NULL);

    memset(&r, 0, sizeof(r));
    run(&r, &f);
    ASSERT_EQ(r.status, -ENOENT, "run dir without parent: fails");
    CHECK(has(r.result.message, "the run directory ")
          && has(r.result.message, "/no/such/run does not exist, nor "
                 "does its parent"),
          "run dir without parent: a clear message");
}


static int
lock_hold(fixture_t *f)
{
    int  fd;

    mkdir(f->run_dir, 0755);
    fd = open(at("run/prestart-locked.lock"), O_RDWR | O_CREAT | O_CLOEXEC,
              0600);
    if (fd == -1 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        printf("Bail out! cannot take the lock: %s\n", strerror(errno));
        exit(1);
    }

    return fd;
}


static unsigned long long  lock_released_unix_ms;

static void
lock_release_cb(run_t *r)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    lock_released_unix_ms = (unsigned long long) ts.tv_sec * 1000
                            + (unsigned long long) ts.tv_nsec / 1000000;

    close(r->lock_fd);
    r->lock_fd = -1;
}


static void
test_lock_wait(void)
{
    char                *text;
    run_t                r;
    fixture_t            f;
    off_t                mark = log_mark();
    unsigned long long   ran_ms;

    fixture_init(&f, "locked", 5000);
    fixture_sh(&f, "date +%%s%%3N > %s", at("locked.when"));

    memset(&r, 0, sizeof(r));
    r.lock_fd = lock_hold(&f);
    r.aux_cb = lock_release_cb;
    r.aux_ms = 400;

    run(&r, &f);
    ASSERT_EQ(r.status, 0, "lock held: runs once released");

    text = slurp(at("locked.when"), 0);
    ran_ms = text != NULL ? strtoull(text, NULL, 10) : 0;
    free(text);

    CHECK(ran_ms >= lock_released_unix_ms && lock_released_unix_ms > 0,
          "lock held: the command ran only after the release");
    CHECK(r.t_done - r.t_start >= 400, "lock held: it waited");
    CHECK(log_has(mark, "pool locked: prestart: waiting for the lock "
                  "on ") && log_has(mark, "/run/prestart-locked.lock"),
          "lock held: the wait is logged, with the lock file");
}


static void
test_lock_timeout(void)
{
    run_t      r;
    fixture_t  f;

    fixture_init(&f, "locked", 300);
    fixture_sh(&f, "touch %s", at("locked.never"));

    memset(&r, 0, sizeof(r));
    r.lock_fd = lock_hold(&f);

    run(&r, &f);
    close(r.lock_fd);

    ASSERT_EQ(r.status, -ETIMEDOUT, "lock never released: times out");
    CHECK(has(r.result.message, "pool locked: prestart timed out after "
              "300 ms waiting for the lock on "),
          "lock never released: the message says so");
    CHECK(access(at("locked.never"), F_OK) != 0,
          "lock never released: the command did not run");
}


/*
 * Two processes run the same pool's prestart at once: the commands'
 * begin/end markers never interleave.
 */
static void
test_lock_two_processes(void)
{
    int        i, status, ok, n;
    char      *text, *s, *save;
    char       what[4][8];
    long       pid[4];
    double     t[4];
    pid_t      child[2];
    fixture_t  f;

    fixture_init(&f, "twice", 10000);
    fixture_sh(&f, "echo begin $$ $(date +%%s.%%N) >> %s; sleep 0.3; "
               "echo end $$ $(date +%%s.%%N) >> %s",
               at("twice.log"), at("twice.log"));

    fflush(stdout);

    for (i = 0; i < 2; i++) {
        child[i] = fork();

        if (child[i] == 0) {
            run_t  r;

            memset(&r, 0, sizeof(r));
            run(&r, &f);
            _exit(r.status == 0 && r.called == 1 ? 0 : 1);
        }
    }

    ok = 1;
    for (i = 0; i < 2; i++) {
        if (child[i] == -1 || waitpid(child[i], &status, 0) != child[i]
            || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        {
            ok = 0;
        }
    }

    CHECK(ok, "two processes: both prestarts succeeded");

    text = slurp(at("twice.log"), 0);
    n = 0;
    save = NULL;

    for (s = text ? strtok_r(text, "\n", &save) : NULL; s != NULL && n < 4;
         s = strtok_r(NULL, "\n", &save))
    {
        if (sscanf(s, "%7s %ld %lf", what[n], &pid[n], &t[n]) == 3) {
            n++;
        }
    }

    CHECK(n == 4
          && strcmp(what[0], "begin") == 0
          && strcmp(what[1], "end") == 0
          && strcmp(what[2], "begin") == 0
          && strcmp(what[3], "end") == 0
          && pid[0] == pid[1] && pid[2] == pid[3] && pid[0] != pid[2]
          && t[1] <= t[2],
          "two processes: the runs did not overlap");

    if (n != 4 && text != NULL) {
        printf("#   %s\n", text);
    }

    free(text);
}


static void
cancel_cb(run_t *r)
{
    group_check_cb(r);
    r->cancelled_pid = drover_prestart_result(r->ps)->last_pid;
    drover_prestart_cancel(r->ps);
    r->ps = NULL;
    run_close(r);
}


static void
test_cancel(void)
{
    int        fd, locked;
    run_t      r;
    fixture_t  f;

    fixture_init(&f, "cancel", 10000);
    fixture_sh(&f, "sleep 10 & sleep 10");

    memset(&r, 0, sizeof(r));
    r.aux_cb = cancel_cb;
    r.aux_ms = 300;

    run(&r, &f);
    ASSERT_EQ(r.called, 0, "cancel: the callback never ran");
    ASSERT_EQ(r.group_seen, 1, "cancel: the command had its process group");
    CHECK(r.cancelled_pid > 0 && group_gone(r.cancelled_pid, 1000),
          "cancel: the command's process group is killed");

    fd = open(at("run/prestart-cancel.lock"), O_RDWR | O_CLOEXEC);
    locked = (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
    if (fd >= 0) {
        close(fd);
    }

    CHECK(locked, "cancel: the lock was released");
}


static void
test_leftover_holds_output(void)
{
    char      *text;
    pid_t      pid;
    run_t      r;
    fixture_t  f;
    off_t      mark = log_mark();

    /* a background process keeps the output open after the command exits */
    fixture_init(&f, "leftover", 10000);
    fixture_sh(&f, "sleep 5 & echo $! > %s; echo started it",
               at("leftover.pid"));
    fixture_sh(&f, "echo second >> %s", at("leftover.out"));

    memset(&r, 0, sizeof(r));
    run(&r, &f);
    ASSERT_EQ(r.status, 0, "leftover: succeeds");
    CHECK(r.t_done - r.t_start >= DROVER_PRESTART_DRAIN_MS
          && r.t_done - r.t_start < DROVER_PRESTART_DRAIN_MS + 2000,
          "leftover: not waited for longer than the drain time");
    CHECK(file_equals(at("leftover.out"), "second\n"),
          "leftover: the next command ran");
    CHECK(log_has(mark, "output is still open"),
          "leftover: a warning is logged");

    /* the sleep it left is still running: not prestart's to kill */
    text = slurp(at("leftover.pid"), 0);
    pid = text != NULL ? (pid_t) atol(text) : 0;
    free(text);

    CHECK(pid > 0 && kill(pid, 0) == 0,
          "leftover: what it left behind is left running");

    if (pid > 0) {
        kill(pid, SIGKILL);
        CHECK(process_gone(pid, 1000), "leftover: ended by the test");
    }
}


/* ---- main ---- */

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;

    return remove(path);
}


int
main(void)
{
    int             fd;
    struct passwd  *pw;

    setvbuf(stdout, NULL, _IOLBF, 0);

    /* like the manager: everything our commands leave comes back to us */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        printf("Bail out! PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
        return 1;
    }

    if (geteuid() == 0) {
        pw = getpwnam("nobody");
        if (pw == NULL) {
            printf("Bail out! running as root needs a user \"nobody\"\n");
            return 1;
        }

        pool_uid = pw->pw_uid;
        pool_gid = pw->pw_gid;
    }

    snprintf(dir, sizeof(dir), "%s/drover-prestart-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL || chmod(dir, 0777) != 0
        || mkdir(at("apps"), 0777) != 0 || chmod(at("apps"), 0777) != 0)
    {
        printf("Bail out! temp dir: %s\n", strerror(errno));
        return 1;
    }

    /* the log: stderr into DIR/log */
    stderr_fd = dup(STDERR_FILENO);
    fd = open(at("log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd == -1 || stderr_fd == -1 || dup2(fd, STDERR_FILENO) == -1) {
        printf("Bail out! log: %s\n", strerror(errno));
        return 1;
    }

    close(fd);
    drover_log_set_level(DROVER_LOG_INFO);

    test_order_and_environment();
    test_output_logged();
    test_big_output();
    test_failure_stops();
    test_signal();
    test_timeout();
    test_timeout_kill();
    test_cannot_exec();
    test_no_commands();
    test_run_dir_missing();
    test_lock_wait();
    test_lock_timeout();
    test_lock_two_processes();
    test_cancel();
    test_leftover_holds_output();

    reap_for(200);

    /* the sanitizers report on the real stderr */
    dup2(stderr_fd, STDERR_FILENO);
    close(stderr_fd);

    if (getenv("DROVER_TEST_KEEP") == NULL) {
        nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    } else {
        printf("# kept %s\n", dir);
    }

    return tap_done();
}
