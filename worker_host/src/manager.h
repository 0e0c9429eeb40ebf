/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * manager.h -- droverd's manager: holds every listening socket, runs the
 * prestart steps, starts the preloaders and workers, reaps and replaces
 * them, samples their memory, reloads and stops them on signals.  A libuv
 * loop that never runs application code.
 */

#ifndef DROVER_MANAGER_H
#define DROVER_MANAGER_H

#include "conf.h"
#include "version.h"

#define DROVER_RESTART_STABLE_MS    1000   /* a worker that lived this long
                                              is replaced at once */
#define DROVER_RESTART_BACKOFF_MS   100    /* then 200, 400, ... */
#define DROVER_RESTART_BACKOFF_MAX  30000
#define DROVER_FAILING_RETRY_MS     30000  /* past restart_limit */
#define DROVER_CANARY_MS            500    /* a reload's first new worker
                                              must live this long */
#define DROVER_SAMPLE_MS            1000   /* memory sampling period */

/*
 * Load path, check it and every app (in throwaway children), print errors
 * as "FILE:LINE: message" into err.  0 and *out, or a negative code.
 */
int drover_manager_load(const char *path, drover_conf_t **out, char *err,
    size_t errlen);

/*
 * What every load (start, reload, a pool's reload, droverd -t) checks of a
 * pool beyond its text: its app (in a throwaway child) and its socket
 * directory (socket.h).  0, or a negative code with "FILE:LINE: message".
 */
int drover_manager_check_pool(const drover_pool_conf_t *pool, char *err,
    size_t errlen);

/* runs until stopped; takes ownership of conf; returns the exit code */
int drover_manager_run(drover_conf_t *conf, const char *path);

#endif /* DROVER_MANAGER_H */
