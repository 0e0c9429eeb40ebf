/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * prestart.h -- a pool's `prestart` commands, run by the manager before any
 * worker of the pool starts.
 *
 * The commands run one after the other, each in its own process group, as
 * the pool's user, without a shell, with stdin from /dev/null and stdout and
 * stderr logged line by line.  The whole sequence runs under an exclusive
 * flock() on RUN_DIR/prestart-POOL.lock, so two droverd started at once
 * never run a pool's prestart at the same time.  prestart_timeout bounds the
 * whole sequence, the wait for the lock included.
 *
 * Nothing here blocks the loop: the lock is retried on a timer, output is
 * read through a uv_pipe_t, and the exit status comes from the manager's own
 * reaper (drover_prestart_reaped()), never from a waitpid() of ours.
 *
 *     ps = NULL;
 *     rc = drover_prestart_start(loop, conf, pool, done_cb, pool_state, &ps);
 *     ...
 *     sigchld: for each waitpid(-1) pid:
 *                  if (ps != NULL && drover_prestart_reaped(ps, pid, st)) ...
 *     done_cb(ps, status, message, data): status 0: start the workers;
 *                  else log message and give up.  ps is freed after done_cb
 *                  returns: forget the pointer in done_cb.
 */

#ifndef DROVER_PRESTART_H
#define DROVER_PRESTART_H

#include <sys/types.h>

#include <uv.h>

#include "conf.h"

#define DROVER_PRESTART_KEEP_LINES   5      /* output lines in the message */
#define DROVER_PRESTART_LINE_MAX     1024   /* longer output lines are cut */
#define DROVER_PRESTART_MESSAGE_MAX  1536   /* the message, '\0' included */
#define DROVER_PRESTART_LOCK_RETRY_MS  50
#define DROVER_PRESTART_KILL_AFTER_MS  2000 /* SIGTERM, then SIGKILL */
#define DROVER_PRESTART_DRAIN_MS     1000   /* output still open after exit */

typedef struct drover_prestart_s  drover_prestart_t;

/*
 * The outcome of one run, for status views: plain data that a caller copies
 * by value (in the callback, with drover_prestart_result()).
 */
typedef struct {
    long long      started_unix_ms;  /* wall clock at drover_prestart_start */
    unsigned long long  duration_ms; /* until the callback */
    int            status;           /* as passed to the callback */
    size_t         ncommands;        /* commands that were started */
    pid_t          last_pid;         /* of the last command started, or 0 */
    char           message[DROVER_PRESTART_MESSAGE_MAX];
} drover_prestart_result_t;

/*
 * status 0: every command exited with code 0 (or there were none).
 * status < 0: a command failed or could not run, or the lock could not be
 * had: -ETIMEDOUT (timed out, waiting for the lock or in a command),
 * -ECHILD (a command exited non-zero or was killed by a signal), or the
 * errno-style code of what could not be done (lock file, fork, pipe).
 *
 * message: one line starting with "pool NAME: prestart", for the log and
 * for droverd's exit message.  On failure it names the command with its
 * FILE:LINE, how it failed ("exited with code 3", "killed by signal 9
 * (Killed)", "timed out after 300 ms", "could not start: ..."), and its last
 * output lines (at most 5, joined with " | ", each cut at 160 bytes).
 *
 * The lock is already released when the callback runs.  ps stays valid
 * during the callback and is freed after it returns (in close callbacks).
 */
typedef void (*drover_prestart_cb)(drover_prestart_t *ps, int status,
    const char *message, void *data);

/*
 * Starts POOL's prestart on LOOP.  conf and pool must outlive ps.  Returns
 * 0 and *out, after which cb is called exactly once, never from within this
 * call (also when the pool has no prestart commands), unless ps is
 * cancelled first.  Returns a negative code (-ENOMEM, a libuv error) when
 * nothing was started; cb is then never called.
 *
 * The manager must not fork or run other children through a path that
 * reaps them (uv_spawn): exit statuses only come via
 * drover_prestart_reaped().  The caller's process must be single-threaded
 * (the commands' children drop privileges with getpwuid()/initgroups()
 * between fork and exec).
 */
int drover_prestart_start(uv_loop_t *loop, const drover_conf_t *conf,
    const drover_pool_conf_t *pool, drover_prestart_cb cb, void *data,
    drover_prestart_t **out);

/*
 * The manager offers every pid it reaps.  Returns 1 when pid was ps's
 * current command (ps then goes on with the next one, or finishes, possibly
 * calling cb from within this call), 0 otherwise.
 */
int drover_prestart_reaped(drover_prestart_t *ps, pid_t pid, int status);

/*
 * Stops at once: SIGKILL to the running command's process group (the
 * manager still reaps it: drover_prestart_reaped() must no longer be called
 * with ps, the pid then reaches the manager as a stranger), the lock is
 * released, ps is freed in its close callbacks, cb is not called.  A no-op
 * from within cb.  Must be called before the loop's handles are closed by a
 * uv_walk() (the walk would close ps's handles without freeing it).
 */
void drover_prestart_cancel(drover_prestart_t *ps);

/* the outcome so far; complete when read in the callback */
const drover_prestart_result_t *drover_prestart_result(
    const drover_prestart_t *ps);

#endif /* DROVER_PRESTART_H */
