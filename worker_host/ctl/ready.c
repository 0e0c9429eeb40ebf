/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * ready.c -- `droverctl ready [POOL]`: exit 0 when droverd answers and
 * every pool (or POOL) serves, 1 when one does not, 3 when droverd is not
 * there: a container's readiness probe (docs/multi-host.md).
 */

#include "ctl.h"


/* NULL when the pool can take requests, else why not */
static const char *
ready_pool(json_object *pool, char *why, size_t size)
{
    size_t        i, n, up;
    json_object  *workers, *w;
    const char   *state, *ws, *name;

    name = drover_json_string(pool, DROVER_SK_NAME);
    state = drover_json_string(pool, DROVER_SK_STATE);

    if (state == NULL
        || (strcmp(state, "serving") != 0 && strcmp(state, "reloading") != 0))
    {
        snprintf(why, size, "pool %s is %s", name ? name : "?",
                 state ? state : "in no state");
        return why;
    }

    /* a worker that runs: idle or busy (none yet with workers ondemand) */
    workers = drover_json_get(pool, DROVER_SK_WORKERS_DETAIL);
    n = drover_json_length(workers);

    for (up = 0, i = 0; i < n; i++) {
        w = json_object_array_get_idx(workers, i);
        ws = drover_json_string(w, DROVER_SK_STATE);
        up += ws != NULL && (strcmp(ws, "idle") == 0
                             || strcmp(ws, "busy") == 0);
    }

    if (n != 0 && up == 0) {
        snprintf(why, size, "pool %s has none of its %zu workers up",
                 name ? name : "?", n);
        return why;
    }

    return NULL;
}


int
ctl_ready(ctl_conn_t *c, const char *pool)
{
    int           rc;
    char          why[256];
    size_t        i, n;
    json_object  *req, *result, *pools;
    const char   *reason;

    req = ctl_make_request("status", pool, 0);
    rc = ctl_request(c, req, &result);
    json_object_put(req);

    if (rc != CTL_OK) {
        return rc;
    }

    pools = drover_json_get(result, DROVER_SK_POOLS);
    n = drover_json_length(pools);
    reason = NULL;

    for (i = 0; i < n && reason == NULL; i++) {
        reason = ready_pool(json_object_array_get_idx(pools, i), why,
                            sizeof(why));
    }

    if (reason == NULL && n == 0) {
        reason = "droverd has no pool";
    }

    if (reason == NULL) {
        printf("ready\n");
    } else {
        printf("not ready: %s\n", reason);
    }

    json_object_put(result);

    return reason == NULL ? CTL_OK : CTL_EANSWER;
}
