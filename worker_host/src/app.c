/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * app.c -- loading an app's shared object, and the SDK functions that give
 * an app its configuration and the log (drover.h, "the app's context").
 */

#include "app.h"
#include "env.h"
#include "log.h"
#include "proc.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>


int
drover_app_load(const drover_pool_conf_t *pool, const drover_app_t **app,
    char *err, size_t errlen)
{
    void                *handle;
    const char          *msg, *path;
    const drover_app_t  *a;

    /* RTLD_NOW: an unresolved symbol fails here, not in the middle of a request */
    path = drover_app_path(pool);
    if (path == NULL) {
        snprintf(err, errlen, "pool \"%s\": \"python\" needs droverd's "
                 "Python runtime, " DROVER_PYTHON_RUNTIME ", found neither "
                 "next to droverd nor in ../lib/drover/ from it: install it "
                 "(make install, or the droverd package)", pool->name);
        return -ENOENT;
    }

    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        msg = dlerror();
        snprintf(err, errlen, "pool \"%s\": cannot load app: %s",
                 pool->name, msg ? msg : "unknown dlopen error");
        return -ENOEXEC;
    }

    a = dlsym(handle, DROVER_APP_SYMBOL);
    if (a == NULL) {
        snprintf(err, errlen, "pool \"%s\": app %s has no \"%s\" symbol: "
                 "is it a Drover app built with DROVER_APP() from drover.h?",
                 pool->name, path, DROVER_APP_SYMBOL);
        goto fail;
    }

    if (a->abi_version != DROVER_ABI_VERSION) {
        snprintf(err, errlen, "pool \"%s\": app %s was built for Drover ABI "
                 "%u, this droverd speaks ABI %u: rebuild the app against "
                 "this droverd's drover.h",
                 pool->name, path, (unsigned) a->abi_version,
                 (unsigned) DROVER_ABI_VERSION);
        goto fail;
    }

    /* an app built before the fork hooks has the shorter struct: fine */
    if (a->struct_size < DROVER_APP_SIZE_V1) {
        snprintf(err, errlen, "pool \"%s\": app %s has a truncated "
                 "drover_app (%u bytes, expected at least %zu): rebuild it",
                 pool->name, path, (unsigned) a->struct_size,
                 (size_t) DROVER_APP_SIZE_V1);
        goto fail;
    }

    if (a->handle == NULL) {
        snprintf(err, errlen, "pool \"%s\": app %s sets no handle() hook",
                 pool->name, path);
        goto fail;
    }

    /* the handle stays open for the life of the process */
    *app = a;
    return 0;

fail:

    dlclose(handle);
    return -ENOEXEC;
}




/*
 * A python pool's .so is droverd's Python runtime (apps/python/): next to
 * the droverd binary (build/ in the tree), else in ../lib/drover/ from it
 * (PREFIX/sbin/droverd -> PREFIX/lib/drover/).  Resolved once per process,
 * before it drops privileges (child_setup), from /proc/self/exe.
 */
static const char *
app_python_runtime(void)
{
    char         exe[PATH_MAX], *slash;
    ssize_t      n;
    static int   resolved;
    static char  path[PATH_MAX + sizeof("/../lib/drover/")
                      + sizeof(DROVER_PYTHON_RUNTIME)];

    if (resolved) {
        return path[0] != '\0' ? path : NULL;
    }

    resolved = 1;

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        return NULL;
    }

    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash == NULL) {
        return NULL;
    }

    *slash = '\0';

    snprintf(path, sizeof(path), "%s/" DROVER_PYTHON_RUNTIME, exe);
    if (access(path, R_OK) == 0) {
        return path;
    }

    snprintf(path, sizeof(path), "%s/../lib/drover/" DROVER_PYTHON_RUNTIME,
             exe);
    if (access(path, R_OK) == 0) {
        return path;
    }

    path[0] = '\0';
    return NULL;
}


const char *
drover_app_path(const drover_pool_conf_t *pool)
{
    return pool->python.app != NULL ? app_python_runtime() : pool->app;
}


const char *
drover_app_name(const drover_pool_conf_t *pool)
{
    const char  *path = drover_app_path(pool);

    return path != NULL ? path : DROVER_PYTHON_RUNTIME;
}


/*
 * In the check child, before it drops privileges and loads the app (whose
 * constructors run then): it is a fork of the manager without exec, so
 * close-on-exec protects nothing, and it would hold every pool's listening
 * sockets, the control socket, the preloader channels, the scoreboards and
 * droverd's own log as fd 2.  It keeps /dev/null as 0, 1 and 2 and its
 * result pipe as fd 3 (APP_CHECK_FD), nothing else.
 *
 * Not the pool's output socket on 1 and 2: the manager waits for the check
 * without running its loop, which alone reads that socket, so a constructor
 * writing a socket buffer's worth would block, and the manager with it.
 */
#define APP_CHECK_FD  3

#define DROVER_APP_CHECK_TIMEOUT_MS  10000

static int
app_check_fds(int result_fd)
{
    int  fd, null_fd;

    /* both above 3 first: no dup2() below may land on a source */
    result_fd = fcntl(result_fd, F_DUPFD_CLOEXEC, APP_CHECK_FD + 1);
    if (result_fd == -1) {
        return -errno;
    }

    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd == -1) {
        return -errno;
    }

    null_fd = fcntl(fd, F_DUPFD_CLOEXEC, APP_CHECK_FD + 1);
    if (null_fd == -1) {
        return -errno;
    }

    close(fd);

    if (dup2(null_fd, STDIN_FILENO) == -1
        || dup2(null_fd, STDOUT_FILENO) == -1
        || dup2(null_fd, STDERR_FILENO) == -1
        || dup2(result_fd, APP_CHECK_FD) == -1)
    {
        return -errno;
    }

    return drover_proc_close_from(APP_CHECK_FD + 1);
}


/*
 * What the check process wrote, appended to msg (size bytes with its NUL,
 * *n used): the read end is non-blocking, so this returns when the pipe is
 * empty.  1 once every writer closed it or msg is full (the rest is never
 * read: nothing a writer does keeps the manager here), else 0.
 */
static int
app_check_drain(int fd, char *msg, size_t size, size_t *n)
{
    ssize_t  got;

    for ( ;; ) {
        if (*n >= size - 1) {
            got = 0;
            break;
        }

        got = read(fd, msg + *n, size - 1 - *n);
        if (got > 0) {
            *n += (size_t) got;
            continue;
        }

        if (got == -1 && errno == EINTR) {
            continue;
        }

        break;
    }

    msg[*n] = '\0';
    return got == 0;
}


/*
 * Wait for the check process to exit, collecting its message, for at most
 * DROVER_APP_CHECK_TIMEOUT_MS: the manager waits here with its loop
 * stopped, and a constructor that blocks (also after closing the pipe, or
 * with a process it started holding the pipe open) must not stop
 * supervision for good.  Its exit is seen through a pidfd: pipe EOF alone
 * says nothing about the process.  0, or -ETIMEDOUT with the process
 * killed.  Either way it is left to be reaped, which then cannot block.
 */
static int
app_check_wait(pid_t pid, int fd, char *msg, size_t size, size_t *n)
{
    int                 r, pidfd, eof;
    struct pollfd       pfd[2];
    unsigned long long  now, deadline;

    deadline = drover_proc_now_ms() + DROVER_APP_CHECK_TIMEOUT_MS;

    /* our child, not reaped yet: its pid is still its own */
    pidfd = pidfd_open(pid, 0);
    eof = 0;
    r = 0;

    for ( ;; ) {
        now = drover_proc_now_ms();
        if (now >= deadline) {
            r = -ETIMEDOUT;
            break;
        }

        if (eof && pidfd == -1) {
            break;      /* no pidfd_open: EOF is all there is to wait for */
        }

        pfd[0].fd = eof ? -1 : fd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        pfd[1].fd = pidfd;              /* -1: ignored by poll() */
        pfd[1].events = POLLIN;
        pfd[1].revents = 0;

        if (poll(pfd, 2, (int) (deadline - now)) == -1) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }

        if (pfd[0].revents != 0) {
            eof = app_check_drain(fd, msg, size, n);
        }

        if (pfd[1].revents != 0) {
            break;      /* it exited */
        }
    }

    if (r == -ETIMEDOUT) {
        if (pidfd == -1 || pidfd_send_signal(pidfd, SIGKILL, NULL, 0) != 0) {
            (void) kill(pid, SIGKILL);
        }
    }

    /* what it wrote before it exited */
    if (!eof) {
        (void) app_check_drain(fd, msg, size, n);
    }

    if (pidfd != -1) {
        close(pidfd);
    }

    return r;
}


int
drover_app_check(const drover_pool_conf_t *pool, char *err, size_t errlen)
{
    int                  pfd[2], status, rc, waited;
    char                 msg[1024], **envp;
    pid_t                pid;
    size_t               n;
    ssize_t              wrote;
    const drover_app_t  *app;

    if (pool->app == NULL && pool->python.app == NULL) {
        return 0;       /* an exec pool: no .so, its program was checked */
    }

    /* found as root, inherited by the check process (see child_setup) */
    (void) drover_app_path(pool);

    /* the app's constructors see the pool's environment, as in a worker */
    rc = drover_env_build(pool, NULL, &envp);
    if (rc != 0) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }

    /* non-blocking: app_check_wait() polls it next to the child's pidfd */
    if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) != 0) {
        rc = -errno;
        snprintf(err, errlen, "pipe() failed: %s", strerror(errno));
        drover_env_free(envp);
        return rc;
    }

    /* also from a reload, while the manager's loop runs */
    pid = drover_proc_fork();
    if (pid == -1) {
        rc = -errno;
        snprintf(err, errlen, "fork() failed: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        drover_env_free(envp);
        return rc;
    }

    if (pid == 0) {
        /* a throwaway child: the app's constructors never run in the manager */
        rc = app_check_fds(pfd[1]);
        if (rc != 0) {
            snprintf(msg, sizeof(msg), "pool \"%s\": checking app %s: "
                     "cannot close the manager's fds in the check process: "
                     "%s", pool->name, drover_app_name(pool), strerror(-rc));
            wrote = write(pfd[1], msg, strlen(msg));
            (void) wrote;
            _exit(1);
        }

        environ = envp;

        rc = drover_proc_drop_privileges(pool, msg, sizeof(msg));
        if (rc == 0) {
            rc = drover_app_load(pool, &app, msg, sizeof(msg));
        }

        if (rc != 0) {
            wrote = write(APP_CHECK_FD, msg, strlen(msg));
            (void) wrote;
            _exit(1);
        }

        _exit(0);
    }

    close(pfd[1]);
    drover_env_free(envp);

    n = 0;
    msg[0] = '\0';
    waited = app_check_wait(pid, pfd[0], msg, sizeof(msg), &n);
    close(pfd[0]);
    drover_log_printable(msg);

    while (waitpid(pid, &status, 0) == -1) {
        if (errno != EINTR) {
            snprintf(err, errlen, "waitpid() failed: %s", strerror(errno));
            return -ECHILD;
        }
    }

    if (waited == -ETIMEDOUT) {
        snprintf(err, errlen, "pool \"%s\": loading app %s took over %d s "
                 "in the check process, which was killed (a constructor "
                 "that blocks?): fix the app", pool->name, drover_app_name(pool),
                 DROVER_APP_CHECK_TIMEOUT_MS / 1000);
        return -ETIMEDOUT;
    }

    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return 0;
    }

    if (n > 0) {
        snprintf(err, errlen, "%s", msg);

    } else if (WIFSIGNALED(status)) {
        snprintf(err, errlen, "pool \"%s\": loading app %s crashed the "
                 "check process (signal %d)", pool->name, drover_app_name(pool),
                 WTERMSIG(status));
    } else {
        snprintf(err, errlen, "pool \"%s\": checking app %s failed",
                 pool->name, drover_app_name(pool));
    }

    return -ENOEXEC;
}


/* ---- the SDK's context functions ---- */

DROVER_API const char *
drover_app_param(drover_ctx_t *ctx, const char *name)
{
    size_t  i;

    if (ctx == NULL || name == NULL) {
        return NULL;
    }

    for (i = 0; i < ctx->pool->nparams; i++) {
        if (strcmp(ctx->pool->params[i].name, name) == 0) {
            return ctx->pool->params[i].value;
        }
    }

    return NULL;
}


DROVER_API const char *
drover_pool_name(drover_ctx_t *ctx)
{
    return ctx ? ctx->pool->name : NULL;
}


DROVER_API int
drover_worker_slot(drover_ctx_t *ctx)
{
    return ctx ? ctx->slot : -1;
}


DROVER_API void
drover_log(drover_ctx_t *ctx, int level, const char *fmt, ...)
{
    char     msg[DROVER_LOG_LINE_MAX];
    va_list  ap;

    /* an app cannot log at alert/emerg: those mean a bug in droverd */
    if (level < DROVER_LOG_ERROR) {
        level = DROVER_LOG_ERROR;
    }

    if (!drover_log_enabled(level)) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    if (ctx == NULL) {
        drover_log_error(level, 0, "app: %s", msg);
        return;
    }

    if (ctx->slot >= 0) {
        drover_log_error(level, 0, "pool %s: worker %d: app: %s",
                         ctx->pool->name, ctx->slot, msg);
    } else {
        drover_log_error(level, 0, "pool %s: preloader: app: %s",
                         ctx->pool->name, msg);
    }
}
