/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */

/* mod_drover's "drover-status" handler: what this Apache's dispatch
 * counted for each DroverPass pool, as JSON or Prometheus text. */

#include "mod_drover.h"

#include "apr_strings.h"
#include "http_protocol.h"
#include "http_request.h"

#define DROVER_STATUS_HANDLER  "drover-status"

typedef struct {
    const char  *name;
    const char  *type;       /* counter or gauge */
    const char  *help;
} metric_t;

/* the same names as droverd's own metrics (docs/status.md), labelled with
 * the socket they are about */
static const metric_t  metrics[] = {
    { "drover_pool_slots", "gauge", "Slots in the pool's .slots file." },
    { "drover_pool_slots_up", "gauge", "Slots with a worker up." },
    { "drover_pool_slots_busy", "gauge", "Slots with a request of ours." },
    { "drover_pool_queue_depth", "gauge", "Requests waiting for a slot now." },
    { "drover_pool_dispatched_requests_total", "counter",
      "Requests given a slot." },
    { "drover_pool_queue_overflows_total", "counter",
      "503s because the queue was full." },
    { "drover_pool_queue_timeouts_total", "counter",
      "503s because no slot freed within the queue's timeout." },
    { "drover_pool_replays_total", "counter",
      "Requests replayed after a loss before any response byte." },
    { "drover_pool_dispatch_failures_total", "counter",
      "Requests that got 502 or 504 from a slot." },
};

#define NMETRICS (sizeof(metrics) / sizeof(metrics[0]))


static const char *
state_name(apr_uint32_t state)
{
    static const char *const  names[] = {
        "unknown", "starting", "serving", "reloading", "failing", "stopped"
    };

    return state < sizeof(names) / sizeof(names[0]) ? names[state] : "unknown";
}


/* the values of a pool, in the order of metrics[] */
static void
pool_values(const drover_pool_shm_t *ps, apr_uint64_t *v)
{
    apr_uint32_t  k;

    memset(v, 0, NMETRICS * sizeof(*v));

    v[0] = ps->active ? ps->nslots : 0;
    for (k = 0; ps->active && k < ps->nslots; k++) {
        v[1] += ps->slot[k].up;
        v[2] += ps->slot[k].inflight;
    }
    v[3] = ps->queued;
    v[4] = ps->requests;
    v[5] = ps->overflows;
    v[6] = ps->timeouts;
    v[7] = ps->replays;
    v[8] = ps->failures;
}


/* JSON string contents: ", \ and control bytes escaped */
static const char *
json_escape(apr_pool_t *p, const char *s)
{
    apr_size_t   n = strlen(s), i;
    char        *out = apr_palloc(p, n * 6 + 1), *w = out;

    for (i = 0; i < n; i++) {
        unsigned char  c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            *w++ = '\\';
            *w++ = (char) c;
        } else if (c < 0x20) {
            w += apr_snprintf(w, 7, "\\u%04x", c);
        } else {
            *w++ = (char) c;
        }
    }

    *w = '\0';
    return out;
}


/* a Prometheus label value: \, " and newline escaped */
static const char *
label_escape(apr_pool_t *p, const char *s)
{
    apr_size_t   n = strlen(s), i;
    char        *out = apr_palloc(p, n * 2 + 1), *w = out;

    for (i = 0; i < n; i++) {
        if (s[i] == '\\' || s[i] == '"') {
            *w++ = '\\';
            *w++ = s[i];
        } else if (s[i] == '\n') {
            *w++ = '\\';
            *w++ = 'n';
        } else {
            *w++ = s[i];
        }
    }

    *w = '\0';
    return out;
}


static void
send_json(request_rec *r, int npools)
{
    drover_pool_shm_t  *ps = apr_palloc(r->pool, sizeof(*ps));
    apr_uint64_t        v[NMETRICS];
    int                 i;

    ap_set_content_type(r, "application/json");
    ap_rputs("{\"pools\":[", r);

    for (i = 0; i < npools; i++) {
        drover_slots_snapshot(i, ps);
        pool_values(ps, v);

        ap_rprintf(r, "%s{\"socket\":\"%s\",\"dispatch\":%s,\"state\":\"%s\","
                   "\"generation\":%" APR_UINT64_T_FMT ",\"slots\":%"
                   APR_UINT64_T_FMT ",\"up\":%" APR_UINT64_T_FMT ",\"busy\":%"
                   APR_UINT64_T_FMT ",\"queued\":%" APR_UINT64_T_FMT
                   ",\"requests\":%" APR_UINT64_T_FMT ",\"overflows\":%"
                   APR_UINT64_T_FMT ",\"timeouts\":%" APR_UINT64_T_FMT
                   ",\"replays\":%" APR_UINT64_T_FMT ",\"failures\":%"
                   APR_UINT64_T_FMT "}",
                   i > 0 ? "," : "",
                   json_escape(r->pool, drover_slots_path(i)),
                   ps->active ? "true" : "false",
                   ps->active ? state_name(ps->state) : "plain",
                   ps->generation, v[0], v[1], v[2], v[3], v[4], v[5], v[6],
                   v[7], v[8]);
    }

    ap_rputs("]}\n", r);
}


static void
send_prometheus(request_rec *r, int npools)
{
    drover_pool_shm_t  *ps = apr_palloc(r->pool, sizeof(*ps));
    apr_uint64_t       *v = apr_palloc(r->pool,
                                       sizeof(*v) * NMETRICS * (npools + 1));
    const char        **labels = apr_palloc(r->pool,
                                            sizeof(*labels) * (npools + 1));
    apr_size_t          m;
    int                 i;

    /* one snapshot per pool, then one family after the other */
    for (i = 0; i < npools; i++) {
        drover_slots_snapshot(i, ps);
        pool_values(ps, v + (apr_size_t) i * NMETRICS);
        labels[i] = label_escape(r->pool, drover_slots_path(i));
    }

    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");

    for (m = 0; m < NMETRICS; m++) {
        ap_rprintf(r, "# HELP %s %s\n# TYPE %s %s\n", metrics[m].name,
                   metrics[m].help, metrics[m].name, metrics[m].type);

        for (i = 0; i < npools; i++) {
            ap_rprintf(r, "%s{socket=\"%s\"} %" APR_UINT64_T_FMT "\n",
                       metrics[m].name, labels[i],
                       v[(apr_size_t) i * NMETRICS + m]);
        }
    }
}


/* SetHandler drover-status: ?format=json (the default) or prometheus */
int
drover_status_handler(request_rec *r)
{
    const char  *fmt = "json";
    const char  *a;

    if (r->handler == NULL || strcmp(r->handler, DROVER_STATUS_HANDLER) != 0) {
        return DECLINED;
    }

    if (r->method_number != M_GET) {
        r->allowed = AP_METHOD_BIT << M_GET;
        return HTTP_METHOD_NOT_ALLOWED;
    }

    for (a = r->args; a != NULL && *a; a = strchr(a, '&') ? strchr(a, '&') + 1
                                                          : NULL)
    {
        if (strncmp(a, "format=prometheus", 17) == 0
            && (a[17] == '\0' || a[17] == '&'))
        {
            fmt = "prometheus";
        }
    }

    apr_table_setn(r->headers_out, "Cache-Control", "no-store");

    if (strcmp(fmt, "prometheus") == 0) {
        send_prometheus(r, drover_slots_pools());
    } else {
        send_json(r, drover_slots_pools());
    }

    return OK;
}
