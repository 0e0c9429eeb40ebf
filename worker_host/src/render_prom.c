/*
 * render_prom.c -- the status object (status.c builds it) as Prometheus
 * text exposition, format 0.0.4.  Pool names are the client's strings only
 * in labels, escaped there.
 */

#include "render.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    char    *buf;
    size_t   len;
    size_t   cap;
    int      failed;
} render_buf_t;


static void
rb_add(render_buf_t *b, const char *s, size_t n)
{
    char    *p;
    size_t   cap;

    if (b->failed) {
        return;
    }

    if (b->len + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }

        p = realloc(b->buf, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }

        b->buf = p;
        b->cap = cap;
    }

    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}


static void
rb_printf(render_buf_t *b, const char *fmt, ...)
{
    int      n;
    char     small[512], *big;
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);

    if (n < 0) {
        b->failed = 1;
        return;
    }

    if ((size_t) n < sizeof(small)) {
        rb_add(b, small, (size_t) n);
        return;
    }

    big = malloc((size_t) n + 1);
    if (big == NULL) {
        b->failed = 1;
        return;
    }

    va_start(ap, fmt);
    vsnprintf(big, (size_t) n + 1, fmt, ap);
    va_end(ap);

    rb_add(b, big, (size_t) n);
    free(big);
}


/* a Prometheus label value: backslash, double quote and newline escaped */
static void
rb_label(render_buf_t *b, const char *s)
{
    for ( ; *s != '\0'; s++) {
        switch (*s) {
        case '\\':
            rb_add(b, "\\\\", 2);
            break;
        case '"':
            rb_add(b, "\\\"", 2);
            break;
        case '\n':
            rb_add(b, "\\n", 2);
            break;
        default:
            rb_add(b, s, 1);
        }
    }
}


static json_object *
get(json_object *o, const char *key)
{
    json_object  *v;

    if (o == NULL || !json_object_object_get_ex(o, key, &v)) {
        return NULL;
    }

    return v;
}


static int
has_number(json_object *o, const char *key)
{
    json_object  *v = get(o, key);

    return v != NULL && (json_object_is_type(v, json_type_int)
                         || json_object_is_type(v, json_type_double));
}


/*
 * Worker figures in the status come from the scoreboard (display data the
 * tenant can write, clamped by the manager); a view still never prints an
 * infinity or a NaN.
 */
static double
num(json_object *o, const char *key)
{
    double  d;

    if (!has_number(o, key)) {
        return 0;
    }

    d = json_object_get_double(get(o, key));

    return isfinite(d) ? d : 0;
}


static const char *
str(json_object *o, const char *key)
{
    json_object  *v = get(o, key);

    return (v != NULL && json_object_is_type(v, json_type_string))
           ? json_object_get_string(v) : NULL;
}


/* ---- Prometheus ---- */

typedef struct {
    const char  *name;
    const char  *type;
    const char  *help;
    const char  *key;       /* in the pool or worker object */
    double       scale;
} render_metric_t;


static const render_metric_t  pool_metrics[] = {
    { "drover_pool_workers", "gauge", "Worker slots of the pool.",
      "workers", 1 },
    { "drover_pool_generation", "gauge",
      "Generation of the configuration the pool runs (reloads add one).",
      "generation", 1 },
    { "drover_pool_requests_total", "counter",
      "Requests served by the pool's workers.", "requests_total", 1 },
    { "drover_pool_requests_per_second", "gauge",
      "Requests per second over the last minute.", "requests_per_s", 1 },
    { "drover_pool_busy_ratio", "gauge",
      "Fraction of the last minute the workers spent in requests.",
      "busy_fraction_1m", 1 },
    { "drover_pool_busy_target_low_ratio", "gauge",
      "Lower end of the pool's busy target band.", "busy_target_low", 1 },
    { "drover_pool_busy_target_high_ratio", "gauge",
      "Upper end of the pool's busy target band.", "busy_target_high", 1 },
    { "drover_pool_memory_shared_bytes", "gauge",
      "Preloaded memory shared by the workers (the preloader's RSS).",
      "memory_shared_bytes", 1 },
    { "drover_pool_memory_private_bytes", "gauge",
      "Private memory (USS) of all workers.", "memory_private_bytes", 1 },
    { "drover_pool_memory_budget_bytes", "gauge",
      "The pool's memory budget (0: none).", "memory_budget_bytes", 1 },
    { "drover_pool_queue_depth", "gauge",
      "Requests waiting for a free worker in nginx.", "queue_depth", 1 },
    { "drover_pool_queue_wait_seconds", "gauge",
      "Average time requests waited in nginx's queue.", "queue_wait_ms",
      0.001 },
};

static const render_metric_t  worker_metrics[] = {
    { "drover_worker_requests_total", "counter",
      "Requests served by the worker process now in the slot.",
      "requests", 1 },
    { "drover_worker_cpu_ratio", "gauge",
      "CPU used by the worker over the last minute (1 = one core).",
      "cpu_percent_1m", 0.01 },
    { "drover_worker_cpu_seconds_total", "counter",
      "CPU time used by the worker process now in the slot.",
      "cpu_seconds_total", 1 },
    { "drover_worker_resident_memory_bytes", "gauge",
      "Resident memory (RSS) of the worker.", "rss_bytes", 1 },
    { "drover_worker_pss_bytes", "gauge",
      "Proportional set size: shared pages divided among their users.",
      "pss_bytes", 1 },
    { "drover_worker_uss_bytes", "gauge",
      "Private memory (Private_Clean + Private_Dirty + Swap).",
      "uss_bytes", 1 },
    { "drover_worker_uptime_seconds", "gauge",
      "Time since the worker process started.", "uptime_ms", 0.001 },
    { "drover_worker_restarts_total", "counter",
      "Times the slot's worker was replaced.", "restarts", 1 },
};


static void
prom_sample(render_buf_t *b, const char *name, const char *pool,
    json_object *worker, double value)
{
    rb_printf(b, "%s{pool=\"", name);
    rb_label(b, pool);

    if (worker != NULL) {
        rb_printf(b, "\",worker=\"%d", (int) num(worker, "slot"));
    }

    rb_printf(b, "\"} %.17g\n", value);
}


static void
prom_pool_metric(render_buf_t *b, json_object *pools,
    const render_metric_t *mt)
{
    size_t        i, n;
    json_object  *p;

    rb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", mt->name, mt->help,
              mt->name, mt->type);

    n = json_object_array_length(pools);

    for (i = 0; i < n; i++) {
        p = json_object_array_get_idx(pools, i);

        if (has_number(p, mt->key)) {
            prom_sample(b, mt->name, str(p, "name"), NULL,
                        num(p, mt->key) * mt->scale);
        }
    }
}


static void
prom_worker_metric(render_buf_t *b, json_object *pools,
    const render_metric_t *mt)
{
    size_t        i, j, n, nw;
    json_object  *p, *ws, *w;

    rb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", mt->name, mt->help,
              mt->name, mt->type);

    n = json_object_array_length(pools);

    for (i = 0; i < n; i++) {
        p = json_object_array_get_idx(pools, i);
        ws = get(p, "workers_detail");
        nw = ws ? json_object_array_length(ws) : 0;

        for (j = 0; j < nw; j++) {
            w = json_object_array_get_idx(ws, j);

            if (has_number(w, "pid") && has_number(w, mt->key)) {
                prom_sample(b, mt->name, str(p, "name"), w,
                            num(w, mt->key) * mt->scale);
            }
        }
    }
}


int
drover_render_prometheus(json_object *status, char **out, size_t *len)
{
    size_t         i, j, n, nw;
    json_object   *pools, *p, *ws, *w, *exits;
    render_buf_t   b = { NULL, 0, 0, 0 };
    static const char  *states[] = { "idle", "busy", "starting",
                                     "stopping", "empty" };

    pools = get(status, "pools");
    if (pools == NULL || !json_object_is_type(pools, json_type_array)) {
        return -EINVAL;
    }

    rb_printf(&b, "# HELP drover_up Whether droverd answered.\n"
              "# TYPE drover_up gauge\ndrover_up 1\n");
    rb_printf(&b, "# HELP drover_uptime_seconds Time since droverd "
              "started.\n# TYPE drover_uptime_seconds gauge\n"
              "drover_uptime_seconds %.3f\n",
              num(get(status, "droverd"), "uptime_ms") / 1000.0);

    rb_printf(&b, "# HELP drover_pool_failing Whether the pool is past its "
              "restart_limit.\n# TYPE drover_pool_failing gauge\n");
    n = json_object_array_length(pools);
    for (i = 0; i < n; i++) {
        const char  *st;

        p = json_object_array_get_idx(pools, i);
        st = str(p, "state");
        prom_sample(&b, "drover_pool_failing", str(p, "name"), NULL,
                    st != NULL && strcmp(st, "failing") == 0);
    }

    for (i = 0; i < sizeof(pool_metrics) / sizeof(pool_metrics[0]); i++) {
        prom_pool_metric(&b, pools, &pool_metrics[i]);
    }

    for (i = 0; i < sizeof(worker_metrics) / sizeof(worker_metrics[0]); i++)
    {
        prom_worker_metric(&b, pools, &worker_metrics[i]);
    }

    /* what nginx's dispatch counted, when the page came through nginx */
    {
        static const struct {
            const char  *key, *name, *help;
        } dm[] = {
            { "requests", "drover_pool_dispatched_requests_total",
              "Requests nginx sent to a free worker of the pool." },
            { "waited", "drover_pool_queued_requests_total",
              "Requests that waited in nginx's queue for a free worker." },
            { "wait_ms", "drover_pool_queue_wait_seconds_total",
              "Time requests spent waiting in nginx's queue." },
            { "overflows", "drover_pool_queue_overflows_total",
              "Requests refused with 503: the queue was full." },
            { "timeouts", "drover_pool_queue_timeouts_total",
              "Requests refused with 503: no worker was free in time." },
            { "replays", "drover_pool_replays_total",
              "Requests replayed on another worker after a failure." },
            { "failures", "drover_pool_dispatch_failures_total",
              "Requests lost with 502: they could not be replayed." },
            { "pipelined", "drover_pool_pipelined_requests_total",
              "Requests sent to wait behind a young request on a busy "
              "worker (drover_pipeline)." },
            { "moved", "drover_pool_pipeline_moves_total",
              "Waiting requests taken back from a worker that had not read "
              "them in time, and sent to another." },
        };

        for (i = 0; i < sizeof(dm) / sizeof(dm[0]); i++) {
            rb_printf(&b, "# HELP %s %s\n# TYPE %s counter\n", dm[i].name,
                      dm[i].help, dm[i].name);

            for (j = 0; j < n; j++) {
                json_object  *d;

                p = json_object_array_get_idx(pools, j);
                d = get(p, "dispatch");

                if (has_number(d, dm[i].key)) {
                    prom_sample(&b, dm[i].name, str(p, "name"), NULL,
                                num(d, dm[i].key)
                                * (strcmp(dm[i].key, "wait_ms") == 0
                                   ? 0.001 : 1));
                }
            }
        }
    }

    rb_printf(&b, "# HELP drover_worker_state The slot's state (1 for the "
              "current one).\n# TYPE drover_worker_state gauge\n");
    for (i = 0; i < n; i++) {
        p = json_object_array_get_idx(pools, i);
        ws = get(p, "workers_detail");
        nw = ws ? json_object_array_length(ws) : 0;

        for (j = 0; j < nw; j++) {
            size_t       k;
            const char  *st;

            w = json_object_array_get_idx(ws, j);
            st = str(w, "state");

            for (k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
                rb_printf(&b, "drover_worker_state{pool=\"");
                rb_label(&b, str(p, "name"));
                rb_printf(&b, "\",worker=\"%d\",state=\"%s\"} %d\n",
                          (int) num(w, "slot"), states[k],
                          st != NULL && strcmp(st, states[k]) == 0);
            }
        }
    }

    rb_printf(&b, "# HELP drover_worker_exits_total Worker exits of the "
              "slot, by reason.\n# TYPE drover_worker_exits_total counter\n");
    for (i = 0; i < n; i++) {
        p = json_object_array_get_idx(pools, i);
        ws = get(p, "workers_detail");
        nw = ws ? json_object_array_length(ws) : 0;

        for (j = 0; j < nw; j++) {
            w = json_object_array_get_idx(ws, j);
            exits = get(w, "exits");

            if (exits == NULL) {
                continue;
            }

            json_object_object_foreach(exits, reason, count) {
                rb_printf(&b, "drover_worker_exits_total{pool=\"");
                rb_label(&b, str(p, "name"));
                rb_printf(&b, "\",worker=\"%d\",reason=\"",
                          (int) num(w, "slot"));
                rb_label(&b, reason);
                rb_printf(&b, "\"} %lld\n",
                          (long long) json_object_get_int64(count));
            }
        }
    }

    if (b.failed) {
        free(b.buf);
        return -ENOMEM;
    }

    *out = b.buf;
    *len = b.len;
    return 0;
}
