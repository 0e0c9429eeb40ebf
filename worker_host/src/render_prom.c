/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * render_prom.c -- the status object (status.c builds it) as Prometheus
 * text exposition, format 0.0.4.  Pool names and exit reasons land in
 * label values, escaped there.
 */

#include "render.h"
#include "buf.h"
#include "status_json.h"
#include "status_keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>


/* a Prometheus label value: backslash, double quote and newline escaped */
static void
prom_label(drover_buf_t *b, const char *s)
{
    for ( ; s != NULL && *s != '\0'; s++) {
        switch (*s) {
        case '\\':
            drover_buf_add(b, "\\\\", 2);
            break;
        case '"':
            drover_buf_add(b, "\\\"", 2);
            break;
        case '\n':
            drover_buf_add(b, "\\n", 2);
            break;
        default:
            drover_buf_add(b, s, 1);
        }
    }
}


typedef struct {
    const char  *name;
    const char  *type;
    const char  *help;
    const char  *key;       /* in the pool or worker object */
    double       scale;
} render_metric_t;


static const render_metric_t  pool_metrics[] = {
    { "drover_pool_workers", "gauge", "Worker slots of the pool.",
      DROVER_SK_WORKERS, 1 },
    { "drover_pool_generation", "gauge",
      "Generation of the configuration the pool runs (reloads add one).",
      DROVER_SK_GENERATION, 1 },
    { "drover_pool_requests_total", "counter",
      "Requests served by the pool's workers.", DROVER_SK_REQUESTS_TOTAL, 1 },
    { "drover_pool_requests_per_second", "gauge",
      "Requests per second over the last minute.",
      DROVER_SK_REQUESTS_PER_S, 1 },
    { "drover_pool_busy_ratio", "gauge",
      "Fraction of the last minute the workers spent in requests.",
      DROVER_SK_BUSY_FRACTION_1M, 1 },
    { "drover_pool_busy_target_low_ratio", "gauge",
      "Lower end of the pool's busy target band.",
      DROVER_SK_BUSY_TARGET_LOW, 1 },
    { "drover_pool_busy_target_high_ratio", "gauge",
      "Upper end of the pool's busy target band.",
      DROVER_SK_BUSY_TARGET_HIGH, 1 },
    { "drover_pool_memory_shared_bytes", "gauge",
      "Preloaded memory shared by the workers (the preloader's RSS).",
      DROVER_SK_MEMORY_SHARED_BYTES, 1 },
    { "drover_pool_memory_private_bytes", "gauge",
      "Private memory (USS) of all workers.",
      DROVER_SK_MEMORY_PRIVATE_BYTES, 1 },
    { "drover_pool_memory_budget_bytes", "gauge",
      "The pool's memory budget (0: none).",
      DROVER_SK_MEMORY_BUDGET_BYTES, 1 },
    { "drover_pool_queue_depth", "gauge",
      "Requests waiting for a free worker in nginx.",
      DROVER_SK_QUEUE_DEPTH, 1 },
    { "drover_pool_queue_wait_seconds", "gauge",
      "Average time requests waited in nginx's queue.",
      DROVER_SK_QUEUE_WAIT_MS,
      0.001 },
};

static const render_metric_t  worker_metrics[] = {
    { "drover_worker_requests_total", "counter",
      "Requests served by the worker process now in the slot.",
      DROVER_SK_REQUESTS, 1 },
    { "drover_worker_cpu_ratio", "gauge",
      "CPU used by the worker over the last minute (1 = one core).",
      DROVER_SK_CPU_PERCENT_1M, 0.01 },
    { "drover_worker_cpu_seconds_total", "counter",
      "CPU time used by the worker process now in the slot.",
      DROVER_SK_CPU_SECONDS_TOTAL, 1 },
    { "drover_worker_resident_memory_bytes", "gauge",
      "Resident memory (RSS) of the worker.", DROVER_SK_RSS_BYTES, 1 },
    { "drover_worker_pss_bytes", "gauge",
      "Proportional set size: shared pages divided among their users.",
      DROVER_SK_PSS_BYTES, 1 },
    { "drover_worker_uss_bytes", "gauge",
      "Private memory (Private_Clean + Private_Dirty + Swap).",
      DROVER_SK_USS_BYTES, 1 },
    { "drover_worker_uptime_seconds", "gauge",
      "Time since the worker process started.", DROVER_SK_UPTIME_MS, 0.001 },
    { "drover_worker_restarts_total", "counter",
      "Times the slot's worker was replaced.", DROVER_SK_RESTARTS, 1 },
};


static void
prom_sample(drover_buf_t *b, const char *name, const char *pool,
    json_object *worker, double value)
{
    drover_buf_printf(b, "%s{pool=\"", name);
    prom_label(b, pool);

    if (worker != NULL) {
        drover_buf_printf(b, "\",worker=\"%d",
                          (int) drover_json_double(worker, DROVER_SK_SLOT));
    }

    drover_buf_printf(b, "\"} %.17g\n", value);
}


static void
prom_help(drover_buf_t *b, const char *name, const char *type,
    const char *help)
{
    drover_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                      type);
}


static void
prom_pool_metric(drover_buf_t *b, json_object *pools,
    const render_metric_t *mt)
{
    size_t        i, n;
    json_object  *p;

    prom_help(b, mt->name, mt->type, mt->help);

    n = json_object_array_length(pools);

    for (i = 0; i < n; i++) {
        p = json_object_array_get_idx(pools, i);

        if (drover_json_number(p, mt->key, NULL)) {
            prom_sample(b, mt->name, drover_json_string(p, DROVER_SK_NAME),
                        NULL, drover_json_double(p, mt->key) * mt->scale);
        }
    }
}


static void
prom_worker_metric(drover_buf_t *b, json_object *pools,
    const render_metric_t *mt)
{
    size_t        i, j, n, nw;
    json_object  *p, *ws, *w;

    prom_help(b, mt->name, mt->type, mt->help);

    n = json_object_array_length(pools);

    for (i = 0; i < n; i++) {
        p = json_object_array_get_idx(pools, i);
        ws = drover_json_get(p, DROVER_SK_WORKERS_DETAIL);
        nw = drover_json_length(ws);

        for (j = 0; j < nw; j++) {
            w = json_object_array_get_idx(ws, j);

            if (drover_json_number(w, DROVER_SK_PID, NULL)
                && drover_json_number(w, mt->key, NULL))
            {
                prom_sample(b, mt->name,
                            drover_json_string(p, DROVER_SK_NAME), w,
                            drover_json_double(w, mt->key) * mt->scale);
            }
        }
    }
}


/* what nginx's dispatch counted, when the page came through nginx */
static void
prom_dispatch(drover_buf_t *b, json_object *pools)
{
    size_t        i, j, n;
    json_object  *p, *d;

    static const struct {
        const char  *key, *name, *help;
    } dm[] = {
        { DROVER_SK_REQUESTS, "drover_pool_dispatched_requests_total",
          "Requests nginx sent to a free worker of the pool." },
        { DROVER_SK_WAITED, "drover_pool_queued_requests_total",
          "Requests that waited in nginx's queue for a free worker." },
        { DROVER_SK_WAIT_MS, "drover_pool_queue_wait_seconds_total",
          "Time requests spent waiting in nginx's queue." },
        { DROVER_SK_OVERFLOWS, "drover_pool_queue_overflows_total",
          "Requests refused with 503: the queue was full." },
        { DROVER_SK_TIMEOUTS, "drover_pool_queue_timeouts_total",
          "Requests refused with 503: no worker was free in time." },
        { DROVER_SK_REPLAYS, "drover_pool_replays_total",
          "Requests replayed on another worker after a failure." },
        { DROVER_SK_FAILURES, "drover_pool_dispatch_failures_total",
          "Requests lost with 502: they could not be replayed." },
        { DROVER_SK_PIPELINED, "drover_pool_pipelined_requests_total",
          "Requests sent to wait behind a young request on a busy "
          "worker (drover_pipeline)." },
        { DROVER_SK_MOVED, "drover_pool_pipeline_moves_total",
          "Waiting requests taken back from a worker that had not read "
          "them in time, and sent to another." },
    };

    n = json_object_array_length(pools);

    for (i = 0; i < sizeof(dm) / sizeof(dm[0]); i++) {
        prom_help(b, dm[i].name, "counter", dm[i].help);

        for (j = 0; j < n; j++) {
            p = json_object_array_get_idx(pools, j);
            d = drover_json_get(p, DROVER_SK_DISPATCH);

            if (drover_json_number(d, dm[i].key, NULL)) {
                prom_sample(b, dm[i].name,
                            drover_json_string(p, DROVER_SK_NAME), NULL,
                            drover_json_double(d, dm[i].key)
                            * (strcmp(dm[i].key, DROVER_SK_WAIT_MS) == 0
                               ? 0.001 : 1));
            }
        }
    }
}


/*
 * nginx's drover_group, when the page came through nginx: each group's
 * slots over every host, and each host's state
 */
static void
prom_groups(drover_buf_t *b, json_object *groups)
{
    size_t        i, j, k, n, nh;
    const char   *st;
    json_object  *g, *hosts, *h;

    static const struct {
        const char  *key, *name, *type, *help;
    } gm[] = {
        { "up", "drover_group_slots_up", "gauge",
          "Slots up over every host of the group." },
        { "busy", "drover_group_busy", "gauge", "Slots with a request." },
        { DROVER_SK_QUEUED, "drover_group_queued", "gauge",
          "Requests waiting for a slot of the group." },
        { DROVER_SK_REQUESTS, "drover_group_requests_total", "counter",
          "Requests given a slot of the group." },
        { DROVER_SK_REPLAYS, "drover_group_replays_total", "counter",
          "Requests replayed after a failure before any response byte." },
        { DROVER_SK_FAILURES, "drover_group_failures_total", "counter",
          "Requests that failed and were not replayed." },
    }, hm[] = {
        { "up", "drover_group_host_slots_up", "gauge",
          "The host's slots up." },
        { "busy", "drover_group_host_busy", "gauge",
          "The host's slots with a request." },
        { "state_ms", "drover_group_host_state_seconds", "gauge",
          "Time since the host's state (up, down, ...) last changed." },
        { "probe_failures", "drover_group_host_probe_failures_total",
          "counter", "Probes of the host that failed." },
    };

    n = json_object_array_length(groups);

    for (i = 0; i < sizeof(gm) / sizeof(gm[0]); i++) {
        prom_help(b, gm[i].name, gm[i].type, gm[i].help);

        for (j = 0; j < n; j++) {
            g = json_object_array_get_idx(groups, j);
            drover_buf_printf(b, "%s{group=\"", gm[i].name);
            prom_label(b, drover_json_string(g, DROVER_SK_NAME));
            drover_buf_printf(b, "\"} %.17g\n",
                              drover_json_double(g, gm[i].key));
        }
    }

    prom_help(b, "drover_group_host_up", "gauge",
              "1 when the host answered its last probe.");

    for (j = 0; j < n; j++) {
        g = json_object_array_get_idx(groups, j);
        hosts = drover_json_get(g, "hosts");
        nh = drover_json_length(hosts);

        for (k = 0; k < nh; k++) {
            h = json_object_array_get_idx(hosts, k);
            st = drover_json_string(h, DROVER_SK_STATE);

            drover_buf_printf(b, "drover_group_host_up{group=\"");
            prom_label(b, drover_json_string(g, DROVER_SK_NAME));
            drover_buf_printf(b, "\",server=\"");
            prom_label(b, drover_json_string(h, "server"));
            drover_buf_printf(b, "\"} %d\n",
                              st != NULL && strcmp(st, "down") != 0
                              && strcmp(st, "unknown") != 0);
        }
    }

    for (i = 0; i < sizeof(hm) / sizeof(hm[0]); i++) {
        prom_help(b, hm[i].name, hm[i].type, hm[i].help);

        for (j = 0; j < n; j++) {
            g = json_object_array_get_idx(groups, j);
            hosts = drover_json_get(g, "hosts");
            nh = drover_json_length(hosts);

            for (k = 0; k < nh; k++) {
                h = json_object_array_get_idx(hosts, k);

                if (!drover_json_number(h, hm[i].key, NULL)) {
                    continue;
                }

                drover_buf_printf(b, "%s{group=\"", hm[i].name);
                prom_label(b, drover_json_string(g, DROVER_SK_NAME));
                drover_buf_printf(b, "\",server=\"");
                prom_label(b, drover_json_string(h, "server"));
                drover_buf_printf(b, "\"} %.17g\n",
                                  drover_json_double(h, hm[i].key)
                                  * (strcmp(hm[i].key, "state_ms") == 0
                                     ? 0.001 : 1));
            }
        }
    }
}


/* each slot's state as a set of 0/1 samples, one per state */
static void
prom_worker_states(drover_buf_t *b, json_object *pools)
{
    size_t        i, j, k, n, nw;
    const char   *st;
    json_object  *p, *ws, *w;

    static const char  *states[] = {
        DROVER_SV_IDLE, DROVER_SV_BUSY, DROVER_SV_STARTING,
        DROVER_SV_STOPPING, DROVER_SV_EMPTY
    };

    drover_buf_printf(b, "# HELP drover_worker_state The slot's state (1 for "
                      "the current one).\n# TYPE drover_worker_state "
                      "gauge\n");

    n = json_object_array_length(pools);

    for (i = 0; i < n; i++) {
        p = json_object_array_get_idx(pools, i);
        ws = drover_json_get(p, DROVER_SK_WORKERS_DETAIL);
        nw = drover_json_length(ws);

        for (j = 0; j < nw; j++) {
            w = json_object_array_get_idx(ws, j);
            st = drover_json_string(w, DROVER_SK_STATE);

            for (k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
                drover_buf_printf(b, "drover_worker_state{pool=\"");
                prom_label(b, drover_json_string(p, DROVER_SK_NAME));
                drover_buf_printf(b, "\",worker=\"%d\",state=\"%s\"} %d\n",
                                  (int) drover_json_double(w, DROVER_SK_SLOT),
                                  states[k],
                                  st != NULL && strcmp(st, states[k]) == 0);
            }
        }
    }
}


static void
prom_worker_exits(drover_buf_t *b, json_object *pools)
{
    size_t        i, j, n, nw;
    json_object  *p, *ws, *w, *exits;

    drover_buf_printf(b, "# HELP drover_worker_exits_total Worker exits of "
                      "the slot, by reason.\n# TYPE drover_worker_exits_total "
                      "counter\n");

    n = json_object_array_length(pools);

    for (i = 0; i < n; i++) {
        p = json_object_array_get_idx(pools, i);
        ws = drover_json_get(p, DROVER_SK_WORKERS_DETAIL);
        nw = drover_json_length(ws);

        for (j = 0; j < nw; j++) {
            w = json_object_array_get_idx(ws, j);
            exits = drover_json_get(w, DROVER_SK_EXITS);

            if (exits == NULL || !json_object_is_type(exits, json_type_object))
            {
                continue;
            }

            json_object_object_foreach(exits, reason, count) {
                drover_buf_printf(b, "drover_worker_exits_total{pool=\"");
                prom_label(b, drover_json_string(p, DROVER_SK_NAME));
                drover_buf_printf(b, "\",worker=\"%d\",reason=\"",
                                  (int) drover_json_double(w, DROVER_SK_SLOT));
                prom_label(b, reason);
                drover_buf_printf(b, "\"} %lld\n",
                                  (long long) json_object_get_int64(count));
            }
        }
    }
}


int
drover_render_prometheus(json_object *status, char **out, size_t *len)
{
    size_t         i, n;
    const char    *st;
    json_object   *pools, *p;
    drover_buf_t   b = DROVER_BUF_INIT;

    pools = drover_json_get(status, DROVER_SK_POOLS);
    if (pools == NULL || !json_object_is_type(pools, json_type_array)) {
        return -EINVAL;
    }

    drover_buf_printf(&b, "# HELP drover_up Whether droverd answered.\n"
                      "# TYPE drover_up gauge\ndrover_up 1\n");
    drover_buf_printf(&b, "# HELP drover_uptime_seconds Time since droverd "
                      "started.\n# TYPE drover_uptime_seconds gauge\n"
                      "drover_uptime_seconds %.3f\n",
                      drover_json_double(drover_json_get(status,
                                                         DROVER_SK_DROVERD),
                                         DROVER_SK_UPTIME_MS) / 1000.0);

    drover_buf_printf(&b, "# HELP drover_pool_failing Whether the pool is "
                      "past its restart_limit.\n# TYPE drover_pool_failing "
                      "gauge\n");

    n = json_object_array_length(pools);
    for (i = 0; i < n; i++) {
        p = json_object_array_get_idx(pools, i);
        st = drover_json_string(p, DROVER_SK_STATE);
        prom_sample(&b, "drover_pool_failing",
                    drover_json_string(p, DROVER_SK_NAME), NULL,
                    st != NULL && strcmp(st, DROVER_SV_FAILING) == 0);
    }

    for (i = 0; i < sizeof(pool_metrics) / sizeof(pool_metrics[0]); i++) {
        prom_pool_metric(&b, pools, &pool_metrics[i]);
    }

    for (i = 0; i < sizeof(worker_metrics) / sizeof(worker_metrics[0]); i++)
    {
        prom_worker_metric(&b, pools, &worker_metrics[i]);
    }

    prom_dispatch(&b, pools);
    prom_worker_states(&b, pools);
    prom_worker_exits(&b, pools);

    if (drover_json_get(status, "groups") != NULL) {
        prom_groups(&b, drover_json_get(status, "groups"));
    }

    if (b.failed) {
        drover_buf_free(&b);
        return -ENOMEM;
    }

    *out = b.data;
    *len = b.len;
    return 0;
}
