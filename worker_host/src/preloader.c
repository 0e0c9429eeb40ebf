/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * preloader.c -- a pool's preloader loads the app and runs its init once,
 * then forks workers on the manager's request, so every worker shares the
 * preloaded state copy-on-write.  Also the exec'd worker of `preload off`.
 *
 * The preloader never touches libuv: workers it forks start their own loop
 * in a clean process (libuv's fork handlers would otherwise act on fds that
 * belong to someone else).
 */

#include "preloader.h"
#include "app.h"
#include "channel.h"
#include "conf.h"
#include "env.h"
#include "log.h"
#include "proc.h"
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


typedef struct {
    drover_conf_t             *conf;
    drover_pool_conf_t        *pool;
    const drover_app_t        *app;
    void                      *state;
    drover_ctx_t               ctx;
    pid_t                      manager;
    drover_sb_t               *sb;
} drover_child_t;


/*
 * What every exec'd child does first: read the config the manager handed
 * over, become the pool's user, load the app and run its init.
 */
static int
child_setup(drover_child_t *c, const char *name, pid_t manager,
    const char *role, int sb_fd)
{
    int   rc, level;
    char  path[64], err[1024];

    memset(c, 0, sizeof(*c));
    c->manager = manager;

    signal(SIGPIPE, SIG_IGN);

    if (getppid() != manager) {
        return DROVER_EXIT_ORPHAN;
    }

    /* the scoreboard is best effort: a worker serves without it */
    if (drover_sb_map(sb_fd, &c->sb) != 0) {
        c->sb = NULL;
    }
    close(sb_fd);

    snprintf(path, sizeof(path), "/proc/self/fd/%d", DROVER_FD_CONF);

    rc = drover_conf_load(path, &c->conf, err, sizeof(err));
    close(DROVER_FD_CONF);

    if (rc != 0) {
        drover_log_error(DROVER_LOG_ALERT, 0, "%s: the config from the "
                         "manager does not load: %s", role, err);
        return DROVER_EXIT_SETUP;
    }

    c->pool = drover_conf_find_pool(c->conf, name);
    if (c->pool == NULL) {
        drover_log_error(DROVER_LOG_ALERT, 0, "%s: no pool \"%s\" in the "
                         "config from the manager", role, name);
        return DROVER_EXIT_SETUP;
    }

    level = c->pool->log_level != -2 ? c->pool->log_level
                                     : c->conf->log_level;
    drover_log_set_level(level);

    /* a python pool's runtime is found from /proc/self/exe: as root */
    (void) drover_app_path(c->pool);

    rc = drover_proc_drop_privileges(c->pool, err, sizeof(err));
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, 0, "%s: %s", role, err);
        return DROVER_EXIT_SETUP;
    }

    /* a change of credentials clears PR_SET_PDEATHSIG (prctl(2)): again */
    if (drover_proc_die_with(manager) != 0) {
        return DROVER_EXIT_ORPHAN;
    }

    /* the pool's environment, only now: as root it would reach ld.so */
    rc = drover_env_adopt();
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ALERT, -rc, "%s: cannot take on the "
                         "pool's environment from the manager", role);
        return DROVER_EXIT_SETUP;
    }

    rc = drover_app_load(c->pool, &c->app, err, sizeof(err));
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, 0, "%s: %s", role, err);
        return DROVER_EXIT_SETUP;
    }

    c->ctx.pool = c->pool;
    c->ctx.slot = -1;

    if (c->app->init != NULL) {
        rc = c->app->init(&c->ctx, &c->state);
        if (rc != 0) {
            drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: %s: app init "
                             "failed (returned %d)", name, role, rc);
            return DROVER_EXIT_INIT;
        }
    }

    return 0;
}


/*
 * fds: the slot socket, the shared socket, the handoff channel's ends,
 * the TCP slot and shared listeners of `listen tcp:` (or -1, -1)
 */
static int
child_serve(drover_child_t *c, unsigned slot, const int *fds)
{
    drover_worker_args_t  args;

    c->ctx.slot = (int) slot;

    memset(&args, 0, sizeof(args));
    args.pool = c->pool;
    args.app = c->app;
    args.app_state = c->state;
    args.ctx = &c->ctx;
    args.slot_fd = fds[0];
    args.shared_fd = fds[1];
    args.handoff_fds[0] = fds[2];
    args.handoff_fds[1] = fds[3];
    args.tcp_slot_fd = fds[4];
    args.tcp_shared_fd = fds[5];
    args.manager_pid = c->manager;
    args.sb = c->sb != NULL ? &c->sb->slots[slot] : NULL;

    return drover_worker_run(&args);
}


/* the config outlives the app (it holds what drover_app_param returns) */
static int
child_exit(drover_child_t *c, int code)
{
    if (c->conf != NULL) {
        drover_conf_free(c->conf);
        c->conf = NULL;
    }

    return code;
}


/*
 * In the grandchild: wait until the forker has exited and we belong to the
 * manager (the child subreaper), then die with it.
 */
static int
worker_adopt(pid_t manager)
{
    int              i;
    struct timespec  ts = { 0, 200 * 1000 };

    for (i = 0; i < 10000; i++) {           /* at most about 2 s */
        if (getppid() == manager) {
            return drover_proc_die_with(manager);
        }

        nanosleep(&ts, NULL);
    }

    return -ESRCH;
}


/*
 * The forker: fork the worker and exit at once, so the worker is reparented
 * to the manager, which reaps it and sees its exit.  The worker's pid (or
 * -errno) goes back to the preloader through wfd.
 */
static _Noreturn void
forker_run(drover_child_t *c, int chan, unsigned slot, const int *fds,
    int wfd)
{
    int32_t  v;
    pid_t    worker;

    worker = fork();

    if (worker == 0) {
        /* the worker is the child the before_fork hook forked for */
        c->ctx.slot = (int) slot;

        if (DROVER_APP_HAS(c->app, after_fork_child)) {
            c->app->after_fork_child(&c->ctx, c->state);
        }

        close(chan);
        close(wfd);

        if (worker_adopt(c->manager) != 0) {
            _exit(DROVER_EXIT_ORPHAN);
        }

        exit(child_exit(c, child_serve(c, slot, fds)));
    }

    v = worker == -1 ? -errno : (int32_t) worker;

    while (write(wfd, &v, sizeof(v)) == -1 && errno == EINTR) {
        /* retry */
    }

    _exit(0);
}


/*
 * FORKED goes to the manager only once the forker has exited and been
 * reaped: by then the worker has been reparented to the manager, which
 * checks exactly that (pidcheck.h) before it adopts the pid.
 */
static void
preloader_fork_worker(drover_child_t *c, int chan, unsigned slot,
    const int *fds)
{
    int                status, pfd[2];
    int32_t            v;
    pid_t              forker;
    ssize_t            n;
    drover_chan_msg_t  msg;

    memset(&msg, 0, sizeof(msg));
    msg.type = DROVER_CHAN_FORK_FAILED;
    msg.slot = slot;

    if (pipe2(pfd, O_CLOEXEC) != 0) {
        msg.err = errno;
        (void) drover_chan_send(chan, &msg, NULL, 0);
        return;
    }

    /*
     * The app's fork hooks bracket this fork, in the preloader; the child
     * hook runs in the worker, which the forker forks at once and without
     * running anything of the app's (forker_run).
     */
    if (DROVER_APP_HAS(c->app, before_fork)) {
        c->app->before_fork(&c->ctx, c->state);
    }

    forker = fork();
    msg.err = forker == -1 ? errno : 0;

    if (forker == 0) {
        close(pfd[0]);
        forker_run(c, chan, slot, fds, pfd[1]);
    }

    if (DROVER_APP_HAS(c->app, after_fork_parent)) {
        c->app->after_fork_parent(&c->ctx, c->state);
    }

    close(pfd[1]);

    if (forker == -1) {
        close(pfd[0]);
        (void) drover_chan_send(chan, &msg, NULL, 0);
        return;
    }

    do {
        n = read(pfd[0], &v, sizeof(v));
    } while (n == -1 && errno == EINTR);

    close(pfd[0]);

    while (waitpid(forker, &status, 0) == -1 && errno == EINTR) {
        /* retry */
    }

    if (n != (ssize_t) sizeof(v)) {
        msg.err = EIO;              /* the forker died before it wrote */
    } else if (v < 0) {
        msg.err = -v;
    } else {
        msg.type = DROVER_CHAN_FORKED;
        msg.pid = v;
    }

    (void) drover_chan_send(chan, &msg, NULL, 0);
}


int
drover_preloader_main(const char *name, pid_t manager)
{
    int                rc, nfds, fds[DROVER_CHAN_MAX_FDS];
    drover_child_t     c;
    drover_chan_msg_t  msg;

    rc = child_setup(&c, name, manager, "preloader", DROVER_FD_SB_PRELOADER);
    if (rc != 0) {
        return child_exit(&c, rc);
    }

    memset(&msg, 0, sizeof(msg));
    msg.type = DROVER_CHAN_READY;

    if (drover_chan_send(DROVER_FD_CHANNEL, &msg, NULL, 0) != 0) {
        return child_exit(&c, DROVER_EXIT_ORPHAN);
    }

    drover_log_error(DROVER_LOG_INFO, 0, "pool %s: preloader: app %s loaded",
                     name, c.pool->python.app != NULL ? c.pool->python.app
                                                      : c.pool->app);

    for ( ;; ) {
        rc = drover_chan_recv(DROVER_FD_CHANNEL, &msg, fds, &nfds);

        if (rc == -EPIPE) {
            /* the manager closed its end: it stops or is gone */
            return child_exit(&c, 0);
        }

        if (rc != 0) {
            drover_log_error(DROVER_LOG_ALERT, -rc, "pool %s: preloader: "
                             "bad message from the manager", name);
            return child_exit(&c, DROVER_EXIT_SETUP);
        }

        /* the manager may scale past the configured count (droverctl) */
        if (msg.type != DROVER_CHAN_FORK || (nfds != 4 && nfds != 6)
            || msg.slot >= DROVER_CONF_MAX_WORKERS)
        {
            drover_log_error(DROVER_LOG_ALERT, 0, "pool %s: preloader: "
                             "unexpected message %u (slot %u, %d fds)",
                             name, msg.type, msg.slot, nfds);
            while (nfds > 0) {
                close(fds[--nfds]);
            }

            continue;
        }

        /* without `listen tcp:` the worker's TCP listeners are -1 */
        if (nfds == 4) {
            fds[4] = -1;
            fds[5] = -1;
        }

        preloader_fork_worker(&c, DROVER_FD_CHANNEL, msg.slot, fds);

        while (nfds > 0) {
            close(fds[--nfds]);
        }
    }
}


int
drover_worker_main(const char *name, unsigned slot, pid_t manager)
{
    int             rc;
    drover_child_t  c;

    int               fds[6] = { DROVER_FD_SLOT, DROVER_FD_SHARED,
                                 DROVER_FD_HANDOFF_TX, DROVER_FD_HANDOFF_RX,
                                 DROVER_FD_TCP_SLOT, DROVER_FD_TCP_SHARED };
    static const int  notcp[6] = { DROVER_FD_SLOT, DROVER_FD_SHARED,
                                   DROVER_FD_HANDOFF_TX, DROVER_FD_HANDOFF_RX,
                                   -1, -1 };

    rc = child_setup(&c, name, manager, "worker", DROVER_FD_SB_WORKER);
    if (rc != 0) {
        return child_exit(&c, rc);
    }

    if (slot >= DROVER_CONF_MAX_WORKERS) {
        drover_log_error(DROVER_LOG_ALERT, 0, "pool %s: worker slot %u out "
                         "of range", name, slot);
        return child_exit(&c, DROVER_EXIT_SETUP);
    }

    if (c.pool->tcp.port == 0) {
        memcpy(fds, notcp, sizeof(fds));
    }

    return child_exit(&c, child_serve(&c, slot, fds));
}
