/*
 * app.c -- loading an app's shared object, and the SDK functions that give
 * an app its configuration and the log (drover.h, "the app's context").
 */

#include "app.h"
#include "log.h"
#include "proc.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


int
drover_app_load(const drover_pool_conf_t *pool, const drover_app_t **app,
    char *err, size_t errlen)
{
    void                *handle;
    const char          *msg;
    const drover_app_t  *a;

    /* RTLD_NOW: an unresolved symbol fails here, not in the middle of a request */
    handle = dlopen(pool->app, RTLD_NOW | RTLD_LOCAL);
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
                 pool->name, pool->app, DROVER_APP_SYMBOL);
        goto fail;
    }

    if (a->abi_version != DROVER_ABI_VERSION) {
        snprintf(err, errlen, "pool \"%s\": app %s was built for Drover ABI "
                 "%u, this droverd speaks ABI %u: rebuild the app against "
                 "this droverd's drover.h",
                 pool->name, pool->app, (unsigned) a->abi_version,
                 (unsigned) DROVER_ABI_VERSION);
        goto fail;
    }

    if (a->struct_size < sizeof(drover_app_t)) {
        snprintf(err, errlen, "pool \"%s\": app %s has a truncated "
                 "drover_app (%u bytes, expected %zu): rebuild it",
                 pool->name, pool->app, (unsigned) a->struct_size,
                 sizeof(drover_app_t));
        goto fail;
    }

    if (a->handle == NULL) {
        snprintf(err, errlen, "pool \"%s\": app %s sets no handle() hook",
                 pool->name, pool->app);
        goto fail;
    }

    /* the handle stays open for the life of the process */
    *app = a;
    return 0;

fail:

    dlclose(handle);
    return -ENOEXEC;
}


int
drover_app_check(const drover_pool_conf_t *pool, char *err, size_t errlen)
{
    int                  pfd[2], status, rc;
    char                 msg[1024];
    pid_t                pid;
    ssize_t              n;
    const drover_app_t  *app;

    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe() failed: %s", strerror(errno));
        return -errno;
    }

    /* also from a reload, while the manager's loop runs */
    pid = drover_proc_fork();
    if (pid == -1) {
        rc = -errno;
        snprintf(err, errlen, "fork() failed: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return rc;
    }

    if (pid == 0) {
        /* a throwaway child: the app's constructors never run in the manager */
        close(pfd[0]);

        rc = drover_proc_drop_privileges(pool, msg, sizeof(msg));
        if (rc == 0) {
            rc = drover_app_load(pool, &app, msg, sizeof(msg));
        }

        if (rc != 0) {
            n = write(pfd[1], msg, strlen(msg));
            (void) n;
            _exit(1);
        }

        _exit(0);
    }

    close(pfd[1]);

    n = 0;
    for ( ;; ) {
        ssize_t  r = read(pfd[0], msg + n, sizeof(msg) - 1 - (size_t) n);

        if (r > 0) {
            n += r;
            if ((size_t) n < sizeof(msg) - 1) {
                continue;
            }
        } else if (r == -1 && errno == EINTR) {
            continue;
        }

        break;
    }

    msg[n] = '\0';
    close(pfd[0]);

    while (waitpid(pid, &status, 0) == -1) {
        if (errno != EINTR) {
            snprintf(err, errlen, "waitpid() failed: %s", strerror(errno));
            return -ECHILD;
        }
    }

    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return 0;
    }

    if (n > 0) {
        snprintf(err, errlen, "%s", msg);

    } else if (WIFSIGNALED(status)) {
        snprintf(err, errlen, "pool \"%s\": loading app %s crashed the "
                 "check process (signal %d)", pool->name, pool->app,
                 WTERMSIG(status));
    } else {
        snprintf(err, errlen, "pool \"%s\": checking app %s failed",
                 pool->name, pool->app);
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
