/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * ondemand.h -- `workers ondemand MAX [idle=10s]` and `process_max`: the
 * manager's side of pools that run no process until a connection comes.
 *
 * The manager holds every socket of the pool from the start.  While a
 * socket has no worker to accept on it, the manager polls it for
 * readability; the first pending connection starts the pool (its
 * preloader, then a worker for that slot, or for the shared socket any
 * stopped slot), and the connection waits in the backlog meanwhile.  A
 * worker that serves nothing for `idle` stops; when the last one has
 * stopped, the preloader goes too after another `idle`.  `process_max`
 * caps the workers of all pools together, and cold pool starts are
 * throttled (DROVER_OD_STARTS_PER_S).
 *
 * "Serves nothing" is read from the scoreboard (display data written by
 * the pool's own code, scoreboard.h) and from the worker's CPU time
 * (/proc, the kernel's).  A pool that lies there can only keep its own
 * workers alive (up to its MAX and process_max, as a busy pool would) or
 * get them stopped; it never touches another pool's processes.
 */

#ifndef DROVER_ONDEMAND_H
#define DROVER_ONDEMAND_H

#include "manager_int.h"

#define DROVER_OD_TICK_MS       250     /* idle checks */
#define DROVER_OD_STARTS_PER_S  20      /* cold pool starts, burst as many */

/* the manager's state; 0 or -errno (manager.c, before the pools) */
int drover_ondemand_init(drover_manager_t *m);

/* close every watch and timer: before the walk that closes all handles */
void drover_ondemand_close(drover_manager_t *m);

/* process_max of a configuration just loaded (start, reload) */
void drover_ondemand_set_conf(drover_manager_t *m, const drover_conf_t *conf);

/*
 * The file descriptors droverd needs for CONF against RLIMIT_NOFILE.
 * 1: enough (raise: after raising the soft limit up to the hard one);
 * -1 (-t): the soft limit is short but droverd will raise it at start;
 * 0: short.  msg says the need and the fix unless 1.
 */
int drover_ondemand_fds_enough(const drover_conf_t *conf, int raise,
    char *msg, size_t size);

/* hooks: lifecycle.c (a slot's state changed from `from`) */
void drover_ondemand_slot_changed(drover_slot_t *s, drover_slot_state_t from);

/* slot.c: 1 when the slot may start a worker now, else 0 (it waits) */
int drover_ondemand_may_start(drover_slot_t *s);

/* slot.c: a preload pool's worker waits for a preloader that is not up */
void drover_ondemand_need_preloader(drover_gen_t *g);

/* slot.c, pool.c: a slot or a pool goes: its watches close */
void drover_ondemand_slot_gone(drover_slot_t *s);
void drover_ondemand_pool_gone(drover_pool_t *p);

/*
 * rollout.c: generation g passed prestart.  1 when an on-demand pool
 * took it as it is (no worker runs: it serves from the next connection,
 * no preloader starts now); 0: the usual preloader and rollout follow.
 */
int drover_ondemand_gen_begin(drover_pool_t *p, drover_gen_t *g);

/*
 * generation.c: the preloader of g exited with status.  1 when it was
 * stopped for idling (nothing more to do); an on-demand pool whose app's
 * init failed is marked failing (the module answers 503 at once).
 */
int drover_ondemand_preloader_exited(drover_gen_t *g, int status);

/* arm or disarm the pool's watches after anything changed */
void drover_ondemand_sync(drover_pool_t *p);

#endif /* DROVER_ONDEMAND_H */
