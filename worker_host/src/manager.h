/*
 * manager.h -- droverd's manager: holds every listening socket, starts the
 * preloaders and workers, reaps and replaces them, stops them on signals.
 * A libuv loop that never runs application code.
 */

#ifndef DROVER_MANAGER_H
#define DROVER_MANAGER_H

#include "conf.h"

#define DROVER_STOP_TIMEOUT_MS      10000
#define DROVER_RESTART_STABLE_MS    1000   /* a worker that lived this long
                                              is replaced at once */
#define DROVER_RESTART_BACKOFF_MS   100    /* then 200, 400, ... */
#define DROVER_RESTART_BACKOFF_MAX  30000

/* runs until stopped; takes ownership of conf; returns the exit code */
int drover_manager_run(drover_conf_t *conf);

#endif /* DROVER_MANAGER_H */
