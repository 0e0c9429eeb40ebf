/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * app.h -- loading an app's shared object and the context it sees.
 */

#ifndef DROVER_APP_H
#define DROVER_APP_H

#include "drover.h"
#include "conf.h"

struct drover_ctx_s {
    const drover_pool_conf_t  *pool;
    int                        slot;       /* -1 in the preloader */
};


/*
 * dlopen() the pool's app and check its drover_app symbol and ABI version.
 * Runs the app's constructors: call it only in a preloader, a worker or a
 * throwaway child, never in the manager.  On failure returns a negative
 * code and a message in err.
 */
int drover_app_load(const drover_pool_conf_t *pool, const drover_app_t **app,
    char *err, size_t errlen);

/* a python pool's .so: droverd's Python runtime (app.c says where) */
#define DROVER_PYTHON_RUNTIME  "drover_python.so"

/* the .so POOL loads: its `app`, the Python runtime, or NULL (not found) */
const char *drover_app_path(const drover_pool_conf_t *pool);

/* the same for messages: never NULL */
const char *drover_app_name(const drover_pool_conf_t *pool);

/*
 * The same check from the manager: done in a forked child so no app code
 * runs in the manager.  0 or a negative code with the message in err.
 */
int drover_app_check(const drover_pool_conf_t *pool, char *err,
    size_t errlen);

#endif /* DROVER_APP_H */
