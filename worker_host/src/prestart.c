/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * prestart.c -- see prestart.h.
 *
 * One drover_prestart_t walks through: INIT (a 0 ms timer, so the callback
 * never runs from within drover_prestart_start) -> LOCKING (flock retried
 * every 50 ms) -> RUNNING command 0, 1, ... -> DONE.  A command is finished
 * when both its exit status (from the manager's reaper) and the end of its
 * output have arrived, in either order; a process it left behind that keeps
 * the output open is not waited for longer than DROVER_PRESTART_DRAIN_MS.
 *
 * Handles: three timers in the struct and one uv_pipe_t per command,
 * allocated on its own so that the next command never has to wait for the
 * previous pipe's close callback.  ps is freed when the last of them has
 * been closed.
 */

#include "prestart.h"
#include "env.h"
#include "log.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#define PRESTART_MSG_LINE_MAX  160     /* an output line in the message */
#define PRESTART_CMDLINE_MAX   512     /* the command line in the log */

enum {
    PRESTART_INIT = 0,
    PRESTART_LOCKING,
    PRESTART_RUNNING,
    PRESTART_DONE
};

/* the read end of one command's output; freed in its close callback */
typedef struct {
    uv_pipe_t                  pipe;
    drover_prestart_t         *ps;
} prestart_out_t;

struct drover_prestart_s {
    uv_loop_t                 *loop;
    const drover_conf_t       *conf;
    const drover_pool_conf_t  *pool;
    drover_prestart_cb         cb;
    void                      *data;

    int                        state;
    int                        closing;       /* finished or cancelled */
    unsigned                   nhandles;      /* not yet closed */

    uv_timer_t                 tick;          /* first step, lock, drain */
    uv_timer_t                 deadline;      /* prestart_timeout */
    uv_timer_t                 kill_timer;    /* SIGKILL after SIGTERM */
    int                        deadline_hit;

    char                       lock_path[PATH_MAX];
    int                        lock_fd;
    int                        lock_waited;   /* "waiting" was logged */

    /* the current command */
    size_t                     cmd;
    pid_t                      pid;           /* 0 once reaped */
    pid_t                      pgid;
    int                        exited;
    int                        wstatus;
    int                        eof;
    int                        timed_out;
    unsigned long long         cmd_started_ms;
    unsigned long long         cmd_exited_ms;
    prestart_out_t            *out;

    /* its output: the line being read, and the last lines */
    char                       line[DROVER_PRESTART_LINE_MAX + 1];
    size_t                     line_len;
    int                        line_cut;
    char                       last[DROVER_PRESTART_KEEP_LINES]
                                   [DROVER_PRESTART_LINE_MAX + 4];
    unsigned long long         nlines;
    char                       rbuf[4096];

    unsigned long long         started_ms;
    drover_prestart_result_t   result;
};


static void prestart_command_start(drover_prestart_t *ps);
static void prestart_finish(drover_prestart_t *ps, int status);
static void prestart_tick_cb(uv_timer_t *t);


/* ---- small helpers ---- */

/* "300 ms", "5 s", "5 min": how prestart_timeout reads in messages */
static void
prestart_fmt_ms(unsigned ms, char *buf, size_t size)
{
    if (ms >= 60000 && ms % 60000 == 0) {
        snprintf(buf, size, "%u min", ms / 60000);
    } else if (ms >= 1000 && ms % 1000 == 0) {
        snprintf(buf, size, "%u s", ms / 1000);
    } else {
        snprintf(buf, size, "%u ms", ms);
    }
}


/* appends to ps->result.message, cutting at its end */
static void DROVER_PRINTF(2, 3)
prestart_msg_add(drover_prestart_t *ps, const char *fmt, ...)
{
    char     *msg = ps->result.message;
    size_t    len;
    va_list   ap;

    len = strlen(msg);
    if (len >= sizeof(ps->result.message) - 1) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(msg + len, sizeof(ps->result.message) - len, fmt, ap);
    va_end(ap);
}


static const drover_prestart_conf_t *
prestart_current(const drover_prestart_t *ps)
{
    return &ps->pool->prestart[ps->cmd];
}


/* "pool shop: prestart /usr/bin/migrate (shop.conf:7) " */
static void
prestart_msg_command(drover_prestart_t *ps)
{
    const drover_prestart_conf_t  *c = prestart_current(ps);

    ps->result.message[0] = '\0';
    prestart_msg_add(ps, "pool %s: prestart %.256s (%.256s:%u) ",
                     ps->pool->name, c->argv[0], c->file, c->line);
}


/* "; last output: a | b | c" or "; no output" */
static void
prestart_msg_output(drover_prestart_t *ps)
{
    size_t              n, len;
    const char         *s;
    unsigned long long  i, first;

    if (ps->nlines == 0) {
        prestart_msg_add(ps, "; no output");
        return;
    }

    n = ps->nlines < DROVER_PRESTART_KEEP_LINES
        ? (size_t) ps->nlines : DROVER_PRESTART_KEEP_LINES;
    first = ps->nlines - n;

    prestart_msg_add(ps, "; last output: ");

    for (i = first; i < ps->nlines; i++) {
        s = ps->last[i % DROVER_PRESTART_KEEP_LINES];
        len = strlen(s);

        prestart_msg_add(ps, "%s%.*s%s", i == first ? "" : " | ",
                         (int) (len > PRESTART_MSG_LINE_MAX
                                ? PRESTART_MSG_LINE_MAX : len),
                         s, len > PRESTART_MSG_LINE_MAX ? "..." : "");
    }
}


/* the command line, for the log: "/usr/bin/migrate --db x.db" */
static void
prestart_cmdline(const drover_prestart_conf_t *c, char *buf, size_t size)
{
    size_t  i, len;

    buf[0] = '\0';
    len = 0;

    for (i = 0; i < c->argc && len < size - 1; i++) {
        snprintf(buf + len, size - len, "%s%s", i ? " " : "", c->argv[i]);
        len = strlen(buf);
    }
}


/* ---- handles ---- */

static void
prestart_maybe_free(drover_prestart_t *ps)
{
    if (ps->closing && ps->nhandles == 0) {
        free(ps);
    }
}


static void
prestart_timer_close_cb(uv_handle_t *h)
{
    drover_prestart_t  *ps = h->data;

    ps->nhandles--;
    prestart_maybe_free(ps);
}


static void
prestart_out_close_cb(uv_handle_t *h)
{
    prestart_out_t     *out = h->data;
    drover_prestart_t  *ps = out->ps;

    free(out);

    ps->nhandles--;
    prestart_maybe_free(ps);
}


/* closes the current command's output (and with it the pipe's fd) */
static void
prestart_out_close(drover_prestart_t *ps)
{
    if (ps->out == NULL) {
        return;
    }

    uv_close((uv_handle_t *) &ps->out->pipe, prestart_out_close_cb);
    ps->out = NULL;
}


static void
prestart_close_all(drover_prestart_t *ps)
{
    if (ps->lock_fd >= 0) {
        close(ps->lock_fd);     /* releases the flock */
        ps->lock_fd = -1;
    }

    prestart_out_close(ps);

    uv_close((uv_handle_t *) &ps->tick, prestart_timer_close_cb);
    uv_close((uv_handle_t *) &ps->deadline, prestart_timer_close_cb);
    uv_close((uv_handle_t *) &ps->kill_timer, prestart_timer_close_cb);
}


/* ---- output ---- */

static void
prestart_line_end(drover_prestart_t *ps)
{
    size_t  len = ps->line_len;

    /* trailing blanks and CR of "line\r\n" */
    while (len > 0 && (ps->line[len - 1] == ' ' || ps->line[len - 1] == '\t'
                       || ps->line[len - 1] == '\r'))
    {
        len--;
    }

    ps->line[len] = '\0';

    if (len > 0) {
        drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: prestart %s: %s%s",
                         ps->pool->name, prestart_current(ps)->argv[0],
                         ps->line, ps->line_cut ? "..." : "");

        snprintf(ps->last[ps->nlines % DROVER_PRESTART_KEEP_LINES],
                 sizeof(ps->last[0]), "%s%s", ps->line,
                 ps->line_cut ? "..." : "");
        ps->nlines++;
    }

    ps->line_len = 0;
    ps->line_cut = 0;
}


/*
 * Output is split into lines of at most DROVER_PRESTART_LINE_MAX bytes; the
 * rest of a longer line is dropped.  Control characters would garble the
 * log (or forge a line of it): they become '?'.
 */
static void
prestart_output(drover_prestart_t *ps, const char *p, size_t n)
{
    unsigned char  c;

    for ( ; n > 0; n--, p++) {
        c = (unsigned char) *p;

        if (c == '\n') {
            prestart_line_end(ps);
            continue;
        }

        if (ps->line_len == DROVER_PRESTART_LINE_MAX) {
            ps->line_cut = 1;
            continue;
        }

        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
            c = '?';
        }

        ps->line[ps->line_len++] = (char) c;
    }
}


/* ---- one command ---- */

static void
prestart_fail(drover_prestart_t *ps, int status, const char *how)
{
    prestart_msg_command(ps);
    prestart_msg_add(ps, "%s", how);
    prestart_msg_output(ps);

    drover_log_error(DROVER_LOG_ERROR, 0, "%s", ps->result.message);

    prestart_finish(ps, status);
}


/* both the exit status and the end of the output are in */
static void
prestart_command_done(drover_prestart_t *ps)
{
    char                       how[160], t[32];
    unsigned long long         ms;
    const drover_prestart_conf_t  *c = prestart_current(ps);

    uv_timer_stop(&ps->tick);
    uv_timer_stop(&ps->kill_timer);

    ms = ps->cmd_exited_ms - ps->cmd_started_ms;

    if (ps->timed_out) {
        /* what it left behind in its group goes too */
        kill(-ps->pgid, SIGKILL);

        prestart_fmt_ms(ps->pool->prestart_timeout_ms, t, sizeof(t));
        snprintf(how, sizeof(how), "timed out after %s", t);
        prestart_fail(ps, -ETIMEDOUT, how);
        return;
    }

    drover_proc_describe_exit(ps->wstatus, how, sizeof(how));

    if (!WIFEXITED(ps->wstatus) || WEXITSTATUS(ps->wstatus) != 0) {
        prestart_fail(ps, -ECHILD, how);
        return;
    }

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: prestart %s (%s:%u) %s "
                     "after %llu ms", ps->pool->name, c->argv[0], c->file,
                     c->line, how, ms);

    ps->cmd++;

    if (ps->cmd < ps->pool->nprestart) {
        prestart_command_start(ps);
        return;
    }

    ms = drover_proc_now_ms() - ps->started_ms;
    ps->cmd--;                          /* stays a valid index */

    ps->result.message[0] = '\0';
    prestart_msg_add(ps, "pool %s: prestart done: %zu command%s in %llu ms",
                     ps->pool->name, ps->pool->nprestart,
                     ps->pool->nprestart == 1 ? "" : "s", ms);

    drover_log_error(DROVER_LOG_NOTICE, 0, "%s", ps->result.message);

    prestart_finish(ps, 0);
}


static void
prestart_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    prestart_out_t  *out = h->data;

    (void) suggested;

    *buf = uv_buf_init(out->ps->rbuf, sizeof(out->ps->rbuf));
}


static void
prestart_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    prestart_out_t     *out = s->data;
    drover_prestart_t  *ps = out->ps;

    if (nread > 0) {
        prestart_output(ps, buf->base, (size_t) nread);
        return;
    }

    if (nread == 0) {
        return;                         /* EAGAIN */
    }

    if (nread != UV_EOF) {
        drover_log_error(DROVER_LOG_WARN, (int) nread, "pool %s: prestart "
                         "%s: reading its output failed", ps->pool->name,
                         prestart_current(ps)->argv[0]);
    }

    if (ps->line_len > 0) {
        prestart_line_end(ps);          /* the last line had no '\n' */
    }

    prestart_out_close(ps);
    ps->eof = 1;

    if (ps->exited) {
        prestart_command_done(ps);
    }
}


/* in the child: one line on the output, which the manager logs */
static void DROVER_PRINTF(1, 2)
prestart_child_say(const char *fmt, ...)
{
    int      n;
    char     buf[1024];
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);

    if (n < 0) {
        return;
    }

    if ((size_t) n > sizeof(buf) - 2) {
        n = (int) sizeof(buf) - 2;
    }

    buf[n++] = '\n';

    while (write(STDERR_FILENO, buf, (size_t) n) == -1 && errno == EINTR) {
        /* retry */
    }
}


/*
 * The child, between drover_proc_fork() and exec: it runs nothing of the
 * manager's loop, and its signals are already back to the defaults.
 */
_Noreturn static void
prestart_child(const drover_prestart_t *ps, int wfd, pid_t manager,
    char *const envp[], const char *cwd)
{
    int                            out, null;
    char                           err[512];
    const drover_prestart_conf_t  *c = prestart_current(ps);

    if (drover_proc_die_with(manager) != 0) {
        _exit(127);
    }

    /* its own group, so that a timeout reaches all it started */
    setpgid(0, 0);

    /* out of 0-2 first: the manager may run with a standard fd closed */
    out = fcntl(wfd, F_DUPFD_CLOEXEC, 3);
    null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0 && null < 3) {
        null = fcntl(null, F_DUPFD_CLOEXEC, 3);
    }

    if (out == -1 || null == -1
        || dup2(null, STDIN_FILENO) == -1
        || dup2(out, STDOUT_FILENO) == -1
        || dup2(out, STDERR_FILENO) == -1)
    {
        _exit(127);
    }

    /*
     * The manager's fds are all O_CLOEXEC; this also keeps one that a
     * library opened without it (a listening socket, a lock) from the
     * command.  ENOSYS before Linux 5.9: then O_CLOEXEC alone does it.
     */
    close_range(3, ~0U, 0);

    if (drover_proc_drop_privileges(ps->pool, err, sizeof(err)) != 0) {
        prestart_child_say("cannot switch to the pool's user: %s", err);
        _exit(127);
    }

    if (chdir(cwd) != 0) {
        prestart_child_say("cannot change directory to %s: %s", cwd,
                           strerror(errno));
        _exit(127);
    }

    execve(c->argv[0], c->argv, envp);

    prestart_child_say("cannot execute %s: %s", c->argv[0], strerror(errno));
    _exit(127);
}


/*
 * The pool's environment (env.h: `env` and PATH, nothing else of the
 * manager's), plus DROVER_POOL=name, which no `env` can override.
 */
static char **
prestart_env(const drover_prestart_t *ps)
{
    char  *extra[2], **envp;

    extra[0] = malloc(strlen(ps->pool->name) + sizeof("DROVER_POOL="));
    if (extra[0] == NULL) {
        return NULL;
    }

    sprintf(extra[0], "DROVER_POOL=%s", ps->pool->name);
    extra[1] = NULL;

    if (drover_env_build(ps->pool, extra, &envp) != 0) {
        envp = NULL;
    }

    free(extra[0]);
    return envp;
}


/*
 * The command's working directory: the pool's `working_dir`, else the
 * directory of its app file.
 */
static void
prestart_cwd(const drover_prestart_t *ps, char *buf, size_t size)
{
    const char  *app = ps->pool->app, *slash;

    if (ps->pool->working_dir != NULL) {
        snprintf(buf, size, "%s", ps->pool->working_dir);
        return;
    }

    slash = (app != NULL) ? strrchr(app, '/') : NULL;

    if (slash == NULL || slash == app
        || (size_t) (slash - app) >= size)
    {
        snprintf(buf, size, "/");
        return;
    }

    snprintf(buf, size, "%.*s", (int) (slash - app), app);
}


static void
prestart_command_start(drover_prestart_t *ps)
{
    int                            rc, fds[2];
    char                           how[320], cwd[PATH_MAX], t[32];
    char                           cmdline[PRESTART_CMDLINE_MAX];
    char                         **envp;
    pid_t                          pid, manager;
    prestart_out_t                *out;
    const drover_prestart_conf_t  *c = prestart_current(ps);

    ps->pid = 0;
    ps->pgid = 0;
    ps->exited = 0;
    ps->eof = 0;
    ps->timed_out = 0;
    ps->line_len = 0;
    ps->line_cut = 0;
    ps->nlines = 0;
    ps->state = PRESTART_RUNNING;

    if (ps->deadline_hit) {
        prestart_fmt_ms(ps->pool->prestart_timeout_ms, t, sizeof(t));
        snprintf(how, sizeof(how), "not started: the prestart timed out "
                 "after %s", t);
        prestart_fail(ps, -ETIMEDOUT, how);
        return;
    }

    envp = NULL;
    out = NULL;
    fds[0] = -1;
    fds[1] = -1;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        rc = -errno;
        snprintf(how, sizeof(how), "could not start: pipe() failed: %s",
                 strerror(-rc));
        goto fail;
    }

    envp = prestart_env(ps);
    out = malloc(sizeof(*out));

    if (envp == NULL || out == NULL) {
        rc = -ENOMEM;
        snprintf(how, sizeof(how), "could not start: out of memory");
        goto fail;
    }

    out->ps = ps;
    out->pipe.data = out;

    rc = uv_pipe_init(ps->loop, &out->pipe, 0);
    if (rc != 0) {
        snprintf(how, sizeof(how), "could not start: uv_pipe_init: %s",
                 uv_strerror(rc));
        goto fail;
    }

    ps->nhandles++;
    ps->out = out;
    out = NULL;                         /* now freed by its close callback */

    rc = uv_pipe_open(&ps->out->pipe, fds[0]);
    if (rc != 0) {
        snprintf(how, sizeof(how), "could not start: uv_pipe_open: %s",
                 uv_strerror(rc));
        goto fail;
    }

    fds[0] = -1;                        /* the handle closes it */

    rc = uv_read_start((uv_stream_t *) &ps->out->pipe, prestart_alloc_cb,
                       prestart_read_cb);
    if (rc != 0) {
        snprintf(how, sizeof(how), "could not start: uv_read_start: %s",
                 uv_strerror(rc));
        goto fail;
    }

    prestart_cwd(ps, cwd, sizeof(cwd));
    prestart_cmdline(c, cmdline, sizeof(cmdline));

    manager = getpid();

    pid = drover_proc_fork();

    if (pid == 0) {
        prestart_child(ps, fds[1], manager, envp, cwd);
    }

    rc = (pid == -1) ? -errno : 0;

    if (rc != 0) {
        snprintf(how, sizeof(how), "could not start: fork() failed: %s",
                 strerror(-rc));
        goto fail;
    }

    /* the child does it too; whichever comes first, a kill finds the group */
    setpgid(pid, pid);

    close(fds[1]);
    drover_env_free(envp);

    ps->pid = pid;
    ps->pgid = pid;
    ps->cmd_started_ms = drover_proc_now_ms();
    ps->result.ncommands = ps->cmd + 1;
    ps->result.last_pid = pid;

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: prestart %zu/%zu: %s "
                     "(%s:%u), pid %ld, as %s, in %s", ps->pool->name,
                     ps->cmd + 1, ps->pool->nprestart, cmdline, c->file,
                     c->line, (long) pid,
                     ps->pool->user != NULL && geteuid() == 0
                         ? ps->pool->user : "droverd's user",
                     cwd);
    return;

fail:

    if (fds[0] >= 0) {
        close(fds[0]);
    }

    if (fds[1] >= 0) {
        close(fds[1]);
    }

    free(out);
    drover_env_free(envp);

    prestart_fail(ps, rc, how);
}


/* ---- the lock ---- */

/*
 * RUN_DIR/prestart-POOL.lock, created 0600: anyone who could open it could
 * also flock it and hold every start of the pool.  The run directory is
 * created when its parent exists (systemd's RuntimeDirectory= usually made
 * it already).
 */
static int
prestart_lock_open(drover_prestart_t *ps)
{
    int          n, err;
    const char  *dir;

    dir = drover_conf_run_dir(ps->conf);

    n = snprintf(ps->lock_path, sizeof(ps->lock_path), "%s/prestart-%s.lock",
                 dir, ps->pool->name);
    if (n < 0 || (size_t) n >= sizeof(ps->lock_path)) {
        snprintf(ps->result.message, sizeof(ps->result.message),
                 "pool %s: prestart: the lock file path in \"%.256s\" is too "
                 "long", ps->pool->name, dir);
        return -ENAMETOOLONG;
    }

    if (mkdir(dir, 0755) == 0) {
        drover_log_error(DROVER_LOG_NOTICE, 0, "created the run directory %s",
                         dir);

    } else if (errno == ENOENT) {
        snprintf(ps->result.message, sizeof(ps->result.message),
                 "pool %s: prestart: the run directory %.256s does not "
                 "exist, nor does its parent: create it (systemd: "
                 "RuntimeDirectory=) or set \"run_dir\"", ps->pool->name,
                 dir);
        return -ENOENT;

    } else if (errno != EEXIST) {
        err = errno;
        snprintf(ps->result.message, sizeof(ps->result.message),
                 "pool %s: prestart: cannot create the run directory %.256s: "
                 "%s", ps->pool->name, dir, strerror(err));
        return -err;
    }

    ps->lock_fd = open(ps->lock_path,
                       O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (ps->lock_fd == -1) {
        err = errno;
        snprintf(ps->result.message, sizeof(ps->result.message),
                 "pool %s: prestart: cannot open the lock file %.256s: %s",
                 ps->pool->name, ps->lock_path, strerror(err));
        return -err;
    }

    return 0;
}


static void
prestart_lock_try(drover_prestart_t *ps)
{
    int  rc, err;

    ps->state = PRESTART_LOCKING;

    if (ps->lock_fd < 0) {
        rc = prestart_lock_open(ps);
        if (rc != 0) {
            drover_log_error(DROVER_LOG_ERROR, 0, "%s", ps->result.message);
            prestart_finish(ps, rc);
            return;
        }
    }

    /* never a blocking flock: the manager's loop must keep running */
    if (flock(ps->lock_fd, LOCK_EX | LOCK_NB) == 0) {
        if (ps->lock_waited) {
            drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: prestart: got "
                             "the lock after %llu ms", ps->pool->name,
                             drover_proc_now_ms() - ps->started_ms);
        }

        ps->cmd = 0;
        prestart_command_start(ps);
        return;
    }

    err = errno;

    if (err == EWOULDBLOCK || err == EINTR) {
        if (!ps->lock_waited) {
            ps->lock_waited = 1;
            drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: prestart: "
                             "waiting for the lock on %s (another droverd is "
                             "running this pool's prestart)", ps->pool->name,
                             ps->lock_path);
        }

        uv_timer_start(&ps->tick, prestart_tick_cb,
                       DROVER_PRESTART_LOCK_RETRY_MS, 0);
        return;
    }

    snprintf(ps->result.message, sizeof(ps->result.message),
             "pool %s: prestart: cannot lock %.256s: %s", ps->pool->name,
             ps->lock_path, strerror(err));
    drover_log_error(DROVER_LOG_ERROR, 0, "%s", ps->result.message);
    prestart_finish(ps, -err);
}


/* ---- timers ---- */

static void
prestart_tick_cb(uv_timer_t *t)
{
    drover_prestart_t  *ps = t->data;

    switch (ps->state) {

    case PRESTART_INIT:
        if (ps->pool->nprestart == 0) {
            snprintf(ps->result.message, sizeof(ps->result.message),
                     "pool %s: no prestart commands", ps->pool->name);
            prestart_finish(ps, 0);
            return;
        }

        prestart_lock_try(ps);
        return;

    case PRESTART_LOCKING:
        prestart_lock_try(ps);
        return;

    case PRESTART_RUNNING:
        /* exited, but something it started still holds its output */
        drover_log_error(DROVER_LOG_WARN, 0, "pool %s: prestart %s: its "
                         "output is still open %d ms after it exited (by a "
                         "process it left running?): not waiting for it",
                         ps->pool->name, prestart_current(ps)->argv[0],
                         DROVER_PRESTART_DRAIN_MS);

        if (ps->line_len > 0) {
            prestart_line_end(ps);
        }

        prestart_out_close(ps);
        ps->eof = 1;
        prestart_command_done(ps);
        return;
    }
}


static void
prestart_kill_cb(uv_timer_t *t)
{
    drover_prestart_t  *ps = t->data;

    drover_log_error(DROVER_LOG_WARN, 0, "pool %s: prestart %s still running "
                     "%d ms after SIGTERM: SIGKILL to its process group",
                     ps->pool->name, prestart_current(ps)->argv[0],
                     DROVER_PRESTART_KILL_AFTER_MS);

    kill(-ps->pgid, SIGKILL);
}


static void
prestart_deadline_cb(uv_timer_t *t)
{
    char                t1[32];
    drover_prestart_t  *ps = t->data;

    ps->deadline_hit = 1;
    prestart_fmt_ms(ps->pool->prestart_timeout_ms, t1, sizeof(t1));

    if (ps->state == PRESTART_LOCKING) {
        uv_timer_stop(&ps->tick);

        snprintf(ps->result.message, sizeof(ps->result.message),
                 "pool %s: prestart timed out after %s waiting for the lock "
                 "on %.256s (another droverd is running this pool's "
                 "prestart)", ps->pool->name, t1, ps->lock_path);
        drover_log_error(DROVER_LOG_ERROR, 0, "%s", ps->result.message);
        prestart_finish(ps, -ETIMEDOUT);
        return;
    }

    /* an exited command is only waiting for its output: that ends soon */
    if (ps->state != PRESTART_RUNNING || ps->exited) {
        return;
    }

    ps->timed_out = 1;

    drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: prestart %s timed out "
                     "after %s: SIGTERM to its process group, SIGKILL in "
                     "%d ms", ps->pool->name, prestart_current(ps)->argv[0],
                     t1, DROVER_PRESTART_KILL_AFTER_MS);

    kill(-ps->pgid, SIGTERM);
    uv_timer_start(&ps->kill_timer, prestart_kill_cb,
                   DROVER_PRESTART_KILL_AFTER_MS, 0);
}


/* ---- the end ---- */

static void
prestart_finish(drover_prestart_t *ps, int status)
{
    if (ps->closing) {
        return;
    }

    ps->closing = 1;
    ps->state = PRESTART_DONE;

    /* the lock goes before the callback: the next droverd may go on */
    if (ps->lock_fd >= 0) {
        close(ps->lock_fd);
        ps->lock_fd = -1;
    }

    uv_timer_stop(&ps->tick);
    uv_timer_stop(&ps->deadline);
    uv_timer_stop(&ps->kill_timer);

    ps->result.status = status;
    ps->result.duration_ms = drover_proc_now_ms() - ps->started_ms;

    ps->cb(ps, status, ps->result.message, ps->data);

    prestart_close_all(ps);
}


/* ---- the API ---- */

int
drover_prestart_start(uv_loop_t *loop, const drover_conf_t *conf,
    const drover_pool_conf_t *pool, drover_prestart_cb cb, void *data,
    drover_prestart_t **out)
{
    int                 rc;
    struct timespec     now;
    drover_prestart_t  *ps;

    if (loop == NULL || conf == NULL || pool == NULL || cb == NULL
        || out == NULL || (pool->nprestart > 0 && pool->prestart == NULL))
    {
        return -EINVAL;
    }

    ps = calloc(1, sizeof(*ps));
    if (ps == NULL) {
        return -ENOMEM;
    }

    ps->loop = loop;
    ps->conf = conf;
    ps->pool = pool;
    ps->cb = cb;
    ps->data = data;
    ps->lock_fd = -1;
    ps->state = PRESTART_INIT;
    ps->started_ms = drover_proc_now_ms();

    clock_gettime(CLOCK_REALTIME, &now);
    ps->result.started_unix_ms = (long long) now.tv_sec * 1000
                                 + now.tv_nsec / 1000000;

    /* uv_timer_init() cannot fail on Unix; the three go together */
    uv_timer_init(loop, &ps->tick);
    uv_timer_init(loop, &ps->deadline);
    uv_timer_init(loop, &ps->kill_timer);
    ps->tick.data = ps;
    ps->deadline.data = ps;
    ps->kill_timer.data = ps;
    ps->nhandles = 3;

    /* the first step runs from the loop, never from within this call */
    rc = uv_timer_start(&ps->tick, prestart_tick_cb, 0, 0);
    if (rc != 0) {
        goto fail;
    }

    if (pool->nprestart > 0 && pool->prestart_timeout_ms > 0) {
        rc = uv_timer_start(&ps->deadline, prestart_deadline_cb,
                            pool->prestart_timeout_ms, 0);
        if (rc != 0) {
            goto fail;
        }
    }

    *out = ps;
    return 0;

fail:

    ps->closing = 1;
    prestart_close_all(ps);
    return rc;
}


int
drover_prestart_reaped(drover_prestart_t *ps, pid_t pid, int status)
{
    if (ps == NULL || ps->closing || ps->state != PRESTART_RUNNING
        || ps->pid <= 0 || ps->pid != pid)
    {
        return 0;
    }

    ps->pid = 0;
    ps->exited = 1;
    ps->wstatus = status;
    ps->cmd_exited_ms = drover_proc_now_ms();

    if (ps->eof) {
        prestart_command_done(ps);
    } else {
        uv_timer_start(&ps->tick, prestart_tick_cb, DROVER_PRESTART_DRAIN_MS,
                       0);
    }

    return 1;
}


void
drover_prestart_cancel(drover_prestart_t *ps)
{
    if (ps == NULL || ps->closing) {
        return;
    }

    ps->closing = 1;

    if (ps->state == PRESTART_RUNNING && ps->pgid > 0) {
        kill(-ps->pgid, SIGKILL);

        if (ps->pid > 0) {
            kill(ps->pid, SIGKILL);     /* not yet in its group? */
        }

        drover_log_error(DROVER_LOG_INFO, 0, "pool %s: prestart %s (pid %ld) "
                         "cancelled", ps->pool->name,
                         prestart_current(ps)->argv[0], (long) ps->pgid);
    }

    ps->state = PRESTART_DONE;
    prestart_close_all(ps);
}


const drover_prestart_result_t *
drover_prestart_result(const drover_prestart_t *ps)
{
    return &ps->result;
}
