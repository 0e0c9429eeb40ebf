
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: what the groups (ngx_http_drover_group.c) show: the
 * drover_group_status page (JSON, Prometheus text), and the groups as
 * JSON for drover_status's request to droverd.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_module.h"
#include "ngx_http_drover_slots.h"
#include "ngx_http_drover_group.h"


static ngx_int_t ngx_http_drover_group_status_handler(ngx_http_request_t *r);
static size_t ngx_http_drover_group_len(
    ngx_http_drover_group_main_conf_t *gmcf);
static u_char *ngx_http_drover_group_json(u_char *p,
    ngx_http_drover_group_main_conf_t *gmcf);
static u_char *ngx_http_drover_group_prometheus(u_char *p,
    ngx_http_drover_group_main_conf_t *gmcf);
static const char *ngx_http_drover_group_state(
    ngx_http_drover_group_host_sh_t *hs);


/* ---- drover_group_status: every group and each of its hosts ---- */

char *
ngx_http_drover_group_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_drover_group_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_drover_group_status_handler(ngx_http_request_t *r)
{
    size_t                              len;
    ngx_int_t                           rc;
    ngx_str_t                           format;
    ngx_buf_t                          *b;
    ngx_uint_t                          prometheus;
    ngx_chain_t                         out;
    ngx_http_drover_group_main_conf_t  *gmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    prometheus = 0;

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {
        if (format.len == 10
            && ngx_strncmp(format.data, "prometheus", 10) == 0)
        {
            prometheus = 1;

        } else if (format.len != 4
                   || ngx_strncmp(format.data, "json", 4) != 0)
        {
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_drover_group_module);

    len = ngx_http_drover_group_len(gmcf);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (prometheus) {
        b->last = ngx_http_drover_group_prometheus(b->last, gmcf);

    } else {
        b->last = ngx_cpymem(b->last, "{\"groups\":",
                             sizeof("{\"groups\":") - 1);
        b->last = ngx_http_drover_group_json(b->last, gmcf);
        b->last = ngx_cpymem(b->last, "}\n", 2);
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    if (prometheus) {
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");
    } else {
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


size_t
ngx_http_drover_group_status_len(ngx_cycle_t *cycle)
{
    ngx_http_drover_group_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_drover_group_module);
    if (gmcf == NULL) {
        return sizeof("[]") - 1;
    }

    return ngx_http_drover_group_len(gmcf);
}


u_char *
ngx_http_drover_group_status_json(u_char *p, ngx_cycle_t *cycle)
{
    ngx_http_drover_group_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_drover_group_module);
    if (gmcf == NULL) {
        return ngx_cpymem(p, "[]", 2);
    }

    return ngx_http_drover_group_json(p, gmcf);
}


/* room for either form: Prometheus repeats the labels on every line */

static size_t
ngx_http_drover_group_len(ngx_http_drover_group_main_conf_t *gmcf)
{
    size_t                          len;
    ngx_uint_t                      i, j;
    ngx_http_drover_group_t       **gp;
    ngx_http_drover_group_host_t   *host;

    gp = gmcf->groups.elts;
    len = 4096;

    for (i = 0; i < gmcf->groups.nelts; i++) {
        len += 1024 + 16 * gp[i]->name.len
               + gp[i]->hosts.nelts * (1024 + NGX_HTTP_DROVER_GROUP_ERR_LEN);

        host = gp[i]->hosts.elts;

        for (j = 0; j < gp[i]->hosts.nelts; j++) {
            len += 8 * (host[j].server.len + host[j].pool.len
                        + gp[i]->name.len);
        }
    }

    return len;
}


/* every group as a JSON array; each host with its slots up and busy */

static u_char *
ngx_http_drover_group_json(u_char *p,
    ngx_http_drover_group_main_conf_t *gmcf)
{
    ngx_uint_t                         i, j, k, n, busy;
    ngx_http_drover_group_t           *g, **gp;
    ngx_http_drover_group_host_t      *host;
    ngx_http_drover_group_host_sh_t    hs;
    ngx_http_drover_dispatch_stats_t   st;

    gp = gmcf->groups.elts;

    *p++ = '[';

    for (n = 0, i = 0; i < gmcf->groups.nelts; i++) {
        g = gp[i];

        if (g->pool == NULL || g->sh == NULL) {
            continue;
        }

        ngx_http_drover_dispatch_stats(g->pool, &st);

        p = ngx_sprintf(p, "%s{\"name\":\"%V\",\"slots\":%ui,"
                        "\"up\":%ui,\"busy\":%ui,\"inflight\":%ui,"
                        "\"queued\":%ui,\"requests\":%uL,"
                        "\"waited\":%uL,\"overflows\":%uL,"
                        "\"timeouts\":%uL,\"replays\":%uL,"
                        "\"failures\":%uL,\"hosts\":[",
                        n++ ? "," : "", &g->name, st.slots, st.up, st.busy,
                        st.inflight, st.queued, st.requests, st.waited,
                        st.overflows, st.timeouts, st.replays, st.failures);

        host = g->hosts.elts;

        for (j = 0; j < g->hosts.nelts; j++) {

            ngx_shmtx_lock(&g->shpool->mutex);
            hs = g->sh->host[j];
            ngx_shmtx_unlock(&g->shpool->mutex);

            busy = 0;

            ngx_shmtx_lock(&g->pool->shpool->mutex);

            for (k = j * g->per; k < (j + 1) * g->per; k++) {
                busy += (g->pool->sh->slot[k].busy != 0);
            }

            ngx_shmtx_unlock(&g->pool->shpool->mutex);

            p = ngx_sprintf(p, "%s{\"server\":\"%V\",\"pool\":\"%V\","
                            "\"state\":\"%s\",\"generation\":%ui,"
                            "\"slots\":%ui,\"up\":%ui,\"busy\":%ui,"
                            "\"port\":%ui,",
                            j ? "," : "", &host[j].server, &host[j].pool,
                            ngx_http_drover_group_state(&hs), hs.generation,
                            hs.nslots, hs.up, busy, (ngx_uint_t) hs.port);

            if (hs.answered) {
                p = ngx_sprintf(p, "\"answered_ms_ago\":%M,",
                                ngx_current_msec - hs.answered);
            } else {
                p = ngx_cpymem(p, "\"answered_ms_ago\":null,",
                               sizeof("\"answered_ms_ago\":null,") - 1);
            }

            if (hs.since) {
                p = ngx_sprintf(p, "\"since\":%T,\"state_ms\":%M,",
                                hs.since_time, ngx_current_msec - hs.since);
            } else {
                p = ngx_cpymem(p, "\"since\":null,\"state_ms\":null,",
                               sizeof("\"since\":null,\"state_ms\":null,")
                               - 1);
            }

            p = ngx_sprintf(p, "\"probes\":%uL,\"probe_failures\":%uL,"
                            "\"error\":\"%*s\"}", hs.probes, hs.failures,
                            hs.alive ? (size_t) 0 : hs.err_len, hs.err);
        }

        p = ngx_cpymem(p, "]}", 2);
    }

    *p++ = ']';

    return p;
}


/* the same figures as Prometheus text: every family once, its samples */

static u_char *
ngx_http_drover_group_prometheus(u_char *p,
    ngx_http_drover_group_main_conf_t *gmcf)
{
    ngx_uint_t                         i, j, m;
    ngx_http_drover_group_t           *g, **gp;
    ngx_http_drover_group_host_t      *host;
    ngx_http_drover_group_host_sh_t    hs;
    ngx_http_drover_dispatch_stats_t   st;

    static const char  *family[][3] = {
        { "drover_group_slots_up", "gauge", "Slots up over every host." },
        { "drover_group_busy", "gauge", "Slots with a request." },
        { "drover_group_queued", "gauge", "Requests waiting for a slot." },
        { "drover_group_requests_total", "counter",
          "Requests given a slot." },
        { "drover_group_replays_total", "counter",
          "Requests replayed after a failure before any response byte." },
        { "drover_group_failures_total", "counter",
          "Requests that failed and were not replayed." },
        { "drover_group_timeouts_total", "counter",
          "503s: the queue's deadline passed." },
        { "drover_group_overflows_total", "counter",
          "503s: the queue was full." },
        { "drover_group_host_up", "gauge",
          "1 when the host answered its last probe." },
        { "drover_group_host_slots_up", "gauge", "The host's slots up." },
        { "drover_group_host_probe_failures_total", "counter",
          "Probes of the host that failed." }
    };

    gp = gmcf->groups.elts;

    for (m = 0; m < sizeof(family) / sizeof(family[0]); m++) {
        p = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n", family[m][0],
                        family[m][2], family[m][0], family[m][1]);

        for (i = 0; i < gmcf->groups.nelts; i++) {
            g = gp[i];

            if (g->pool == NULL || g->sh == NULL) {
                continue;
            }

            if (m < 8) {
                ngx_http_drover_dispatch_stats(g->pool, &st);

                p = ngx_sprintf(p, "%s{group=\"%V\"} %uL\n", family[m][0],
                                &g->name,
                                m == 0 ? (uint64_t) st.up
                                : m == 1 ? (uint64_t) st.busy
                                : m == 2 ? (uint64_t) st.queued
                                : m == 3 ? st.requests
                                : m == 4 ? st.replays
                                : m == 5 ? st.failures
                                : m == 6 ? st.timeouts : st.overflows);
                continue;
            }

            host = g->hosts.elts;

            for (j = 0; j < g->hosts.nelts; j++) {
                ngx_shmtx_lock(&g->shpool->mutex);
                hs = g->sh->host[j];
                ngx_shmtx_unlock(&g->shpool->mutex);

                p = ngx_sprintf(p, "%s{group=\"%V\",server=\"%V\"} %uL\n",
                                family[m][0], &g->name, &host[j].server,
                                m == 8 ? (uint64_t) hs.alive
                                : m == 9 ? (uint64_t) hs.up : hs.failures);
            }
        }
    }

    return p;
}


static const char *
ngx_http_drover_group_state(ngx_http_drover_group_host_sh_t *hs)
{
    return hs->answered == 0 ? "unknown"
           : !hs->alive ? "down"
           : hs->state == 1 ? "failing"
           : hs->state == 2 ? "stopped" : "up";
}
