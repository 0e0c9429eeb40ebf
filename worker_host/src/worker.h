/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * worker.h -- a worker process: the app's per-worker init, then FastCGI
 * (responder role) on the slot's socket and the pool's shared socket, one
 * request in the app at a time, until told to stop or orphaned.
 */

#ifndef DROVER_WORKER_H
#define DROVER_WORKER_H

#include <sys/types.h>

#include "drover.h"
#include "conf.h"
#include "scoreboard.h"

typedef struct {
    const drover_pool_conf_t  *pool;
    const drover_app_t        *app;
    void                      *app_state;   /* what app->init produced */
    drover_ctx_t              *ctx;         /* ctx->slot is this slot */
    int                        slot_fd;     /* listening, non-blocking */
    int                        shared_fd;   /* listening, non-blocking */
    int                        tcp_slot_fd;   /* `listen tcp:`: the slot's */
    int                        tcp_shared_fd; /* port and the pool's; <= 0:
                                                 none (0: zeroed args) */
    int                        handoff_fds[2]; /* the pool's handoff
                                               channel: send, receive
                                               (handoff.h); 0: none */
    pid_t                      manager_pid; /* exit when orphaned */
    drover_sb_slot_t          *sb;          /* this slot's scoreboard
                                               entry, or NULL */
} drover_worker_args_t;

/*
 * Runs in the forked worker process; never returns to the caller's loop.
 * Returns the process exit code: 0 after a graceful stop (SIGTERM, SIGINT:
 * finish the request in the app, close, fini), non-zero when worker_init
 * fails or the manager is gone.
 */
int drover_worker_run(drover_worker_args_t *args);

#endif /* DROVER_WORKER_H */
