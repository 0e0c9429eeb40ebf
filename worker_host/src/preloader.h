/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * preloader.h -- the two roles droverd execs itself into.
 *
 *   droverd --preloader POOL MANAGER_PID     fd 3 config, fd 4 channel
 *   droverd --worker POOL SLOT MANAGER_PID   fd 3 config, fd 4 slot socket,
 *                                            fd 5 shared socket
 */

#ifndef DROVER_PRELOADER_H
#define DROVER_PRELOADER_H

#include <sys/types.h>

/* both return the process exit code */
int drover_preloader_main(const char *pool, pid_t manager);
int drover_worker_main(const char *pool, unsigned slot, pid_t manager);

/* exit codes the manager reads */
#define DROVER_EXIT_SETUP   2     /* config, privileges, dlopen */
#define DROVER_EXIT_INIT    3     /* the app's init failed */
#define DROVER_EXIT_ORPHAN  4     /* the manager is gone */
#define DROVER_EXIT_RECYCLED 5    /* clean stop after max_requests */
#define DROVER_EXIT_TIMEOUT 6     /* killed itself at request_timeout */

#endif /* DROVER_PRELOADER_H */
