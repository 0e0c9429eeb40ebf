/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * render_html.c -- the status object (status.c builds it) as a
 * self-contained HTML page: auto-refresh, readable on a phone.  Strings
 * from the status (pool names, request URIs: the URI is the client's) are
 * escaped.
 */

#include "render.h"
#include "buf.h"
#include "status_json.h"
#include "status_keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static void
html_escape(drover_buf_t *b, const char *s)
{
    for ( ; s != NULL && *s != '\0'; s++) {
        switch (*s) {
        case '&':
            drover_buf_add(b, "&amp;", 5);
            break;
        case '<':
            drover_buf_add(b, "&lt;", 4);
            break;
        case '>':
            drover_buf_add(b, "&gt;", 4);
            break;
        case '"':
            drover_buf_add(b, "&quot;", 6);
            break;
        case '\'':
            drover_buf_add(b, "&#39;", 5);
            break;
        default:
            drover_buf_add(b, s, 1);
        }
    }
}


/* 0 KiB, 1.5 MiB, 2.0 GiB */
static void
html_bytes(drover_buf_t *b, double v)
{
    char  text[DROVER_BYTES_LEN];

    drover_bytes_format(text, sizeof(text), v, DROVER_BYTES_LONG);
    drover_buf_adds(b, text);
}


static void
html_duration(drover_buf_t *b, double ms)
{
    if (ms >= 86400000) {
        drover_buf_printf(b, "%.1f d", ms / 86400000);
    } else if (ms >= 3600000) {
        drover_buf_printf(b, "%.1f h", ms / 3600000);
    } else if (ms >= 60000) {
        drover_buf_printf(b, "%.1f min", ms / 60000);
    } else {
        drover_buf_printf(b, "%.1f s", ms / 1000);
    }
}


static void
html_worker(drover_buf_t *b, json_object *w)
{
    const char  *st = drover_json_string(w, DROVER_SK_STATE);
    const char  *uri = drover_json_string(w, DROVER_SK_CURRENT_URI);
    const char  *last = drover_json_string(w, DROVER_SK_LAST_EXIT);

    drover_buf_printf(b, "<tr class=\"%s\"><td>%d</td><td>",
                      st ? st : DROVER_SV_EMPTY,
                      (int) drover_json_double(w, DROVER_SK_SLOT));

    if (drover_json_number(w, DROVER_SK_PID, NULL)) {
        drover_buf_printf(b, "%d",
                          (int) drover_json_double(w, DROVER_SK_PID));
    }

    drover_buf_adds(b, "</td><td>");
    html_escape(b, st ? st : "?");
    drover_buf_printf(b, "</td><td>%lld</td><td>",
                      (long long) drover_json_double(w, DROVER_SK_REQUESTS));

    if (drover_json_number(w, DROVER_SK_CPU_PERCENT_1S, NULL)) {
        drover_buf_printf(b, "%.0f%% / %.0f%%",
                          drover_json_double(w, DROVER_SK_CPU_PERCENT_1S),
                          drover_json_double(w, DROVER_SK_CPU_PERCENT_1M));
    }

    drover_buf_adds(b, "</td><td>");
    html_bytes(b, drover_json_double(w, DROVER_SK_RSS_BYTES));
    drover_buf_adds(b, "</td><td>");
    html_bytes(b, drover_json_double(w, DROVER_SK_PSS_BYTES));
    drover_buf_adds(b, "</td><td>");
    html_bytes(b, drover_json_double(w, DROVER_SK_USS_BYTES));
    drover_buf_adds(b, "</td><td>");

    if (drover_json_number(w, DROVER_SK_UPTIME_MS, NULL)) {
        html_duration(b, drover_json_double(w, DROVER_SK_UPTIME_MS));
    }

    drover_buf_printf(b, "</td><td>%lld</td><td class=\"wrap\">",
                      (long long) drover_json_double(w, DROVER_SK_RESTARTS));
    html_escape(b, last ? last : "");
    drover_buf_adds(b, "</td><td class=\"wrap\">");

    if (uri != NULL) {
        html_escape(b, uri);
        drover_buf_printf(b, " (%lld ms)", (long long)
                          drover_json_double(w, DROVER_SK_CURRENT_MS));
    }

    drover_buf_adds(b, "</td></tr>\n");
}


/* the "queue (nginx)" line: what nginx's dispatch counted */
static void
html_queue(drover_buf_t *b, json_object *p)
{
    json_object  *d = drover_json_get(p, DROVER_SK_DISPATCH);

    drover_buf_printf(b, "<dt>queue (nginx)</dt><dd>%d waiting, %.1f ms "
                      "average wait, %lld replays, %lld refused, %lld "
                      "pipelined (%lld taken back)</dd>",
                      (int) drover_json_double(p, DROVER_SK_QUEUE_DEPTH),
                      drover_json_double(p, DROVER_SK_QUEUE_WAIT_MS),
                      (long long) drover_json_double(d, DROVER_SK_REPLAYS),
                      (long long) (drover_json_double(d, DROVER_SK_OVERFLOWS)
                                   + drover_json_double(d,
                                                        DROVER_SK_TIMEOUTS)),
                      (long long) drover_json_double(d, DROVER_SK_PIPELINED),
                      (long long) drover_json_double(d, DROVER_SK_MOVED));
}


static void
html_pool(drover_buf_t *b, json_object *p)
{
    size_t        j, nw;
    double        busy, low, high, budget;
    json_object  *ws, *ps;
    const char   *st = drover_json_string(p, DROVER_SK_STATE);

    busy = drover_json_double(p, DROVER_SK_BUSY_FRACTION_1M);
    low = drover_json_double(p, DROVER_SK_BUSY_TARGET_LOW);
    high = drover_json_double(p, DROVER_SK_BUSY_TARGET_HIGH);
    budget = drover_json_double(p, DROVER_SK_MEMORY_BUDGET_BYTES);

    drover_buf_adds(b, "<section class=\"pool\"><h2>");
    html_escape(b, drover_json_string(p, DROVER_SK_NAME));
    drover_buf_printf(b, " <span class=\"state %s\">", st ? st : "");
    html_escape(b, st ? st : "");
    drover_buf_adds(b, "</span></h2>\n<p class=\"advice\">");
    html_escape(b, drover_json_string(p, DROVER_SK_ADVICE));
    drover_buf_printf(b, "</p>\n<div class=\"bar\"><div class=\"band\" "
                      "style=\"left:%.0f%%;width:%.0f%%\"></div><div "
                      "class=\"fill\" style=\"width:%.0f%%\"></div></div>\n",
                      low * 100, (high - low) * 100,
                      (busy < 1.0 ? busy : 1.0) * 100);

    drover_buf_printf(b, "<dl><dt>generation</dt><dd>%d</dd><dt>workers</dt>"
                      "<dd>%d</dd><dt>requests</dt><dd>%lld (%.1f/s)</dd>"
                      "<dt>busy (1 min)</dt><dd>%.0f%%</dd><dt>memory</dt>"
                      "<dd>",
                      (int) drover_json_double(p, DROVER_SK_GENERATION),
                      (int) drover_json_double(p, DROVER_SK_WORKERS),
                      (long long) drover_json_double(p,
                                                    DROVER_SK_REQUESTS_TOTAL),
                      drover_json_double(p, DROVER_SK_REQUESTS_PER_S),
                      busy * 100);
    html_bytes(b, drover_json_double(p, DROVER_SK_MEMORY_SHARED_BYTES));
    drover_buf_adds(b, " shared + ");
    html_bytes(b, drover_json_double(p, DROVER_SK_MEMORY_PRIVATE_BYTES));
    drover_buf_adds(b, " private");

    if (budget > 0) {
        drover_buf_adds(b, " of ");
        html_bytes(b, budget);
    }

    drover_buf_adds(b, "</dd>");

    if (drover_json_number(p, DROVER_SK_QUEUE_DEPTH, NULL)) {
        html_queue(b, p);
    }

    ps = drover_json_get(p, DROVER_SK_PRESTART);
    if (ps != NULL && json_object_is_type(ps, json_type_object)) {
        drover_buf_printf(b, "<dt>prestart</dt><dd>%s in %lld ms: ",
                          drover_json_double(ps, DROVER_SK_STATUS) == 0
                          ? "ok" : "failed",
                          (long long) drover_json_double(ps,
                                                      DROVER_SK_DURATION_MS));
        html_escape(b, drover_json_string(ps, DROVER_SK_MESSAGE));
        drover_buf_adds(b, "</dd>");
    }

    drover_buf_adds(b, "</dl>\n<div class=\"scroll\"><table><thead><tr><th>"
                    "slot</th><th>pid</th><th>state</th><th>requests</th>"
                    "<th>CPU 1s/1m</th><th>RSS</th><th>PSS</th><th>USS</th>"
                    "<th>uptime</th><th>restarts</th><th>last exit</th>"
                    "<th>current request</th></tr></thead><tbody>\n");

    ws = drover_json_get(p, DROVER_SK_WORKERS_DETAIL);
    nw = drover_json_length(ws);

    for (j = 0; j < nw; j++) {
        html_worker(b, json_object_array_get_idx(ws, j));
    }

    drover_buf_adds(b, "</tbody></table></div></section>\n");
}


/* a host's "since": the wall clock time of its last change, and how long */
static void
html_since(drover_buf_t *b, json_object *h)
{
    time_t     t;
    struct tm  tm;
    char       text[32];

    if (!drover_json_number(h, "since", NULL)) {
        return;
    }

    t = (time_t) drover_json_double(h, "since");

    if (gmtime_r(&t, &tm) != NULL
        && strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm) > 0)
    {
        drover_buf_adds(b, text);
    }

    drover_buf_adds(b, " (");
    html_duration(b, drover_json_double(h, "state_ms"));
    drover_buf_adds(b, ")");
}


/* nginx's drover_group: the group's slots, then a row per host */
static void
html_group(drover_buf_t *b, json_object *g)
{
    size_t        j, nh;
    double        slots;
    const char   *st;
    json_object  *hosts, *h;

    /* the slots the hosts said they have, not the group's room for them */

    hosts = drover_json_get(g, "hosts");
    nh = drover_json_length(hosts);
    slots = 0;

    for (j = 0; j < nh; j++) {
        slots += drover_json_double(json_object_array_get_idx(hosts, j),
                                    "slots");
    }

    drover_buf_adds(b, "<section class=\"pool group\"><h2>group ");
    html_escape(b, drover_json_string(g, DROVER_SK_NAME));
    drover_buf_printf(b, " <span class=\"state\">%d of %.0f slots up</span>"
                      "</h2>\n", (int) drover_json_double(g, "up"), slots);

    drover_buf_printf(b, "<dl><dt>busy</dt><dd>%d</dd><dt>queue (nginx)</dt>"
                      "<dd>%d waiting, %lld requests, %lld replays, %lld "
                      "refused, %lld failed</dd></dl>\n",
                      (int) drover_json_double(g, "busy"),
                      (int) drover_json_double(g, DROVER_SK_QUEUED),
                      (long long) drover_json_double(g, DROVER_SK_REQUESTS),
                      (long long) drover_json_double(g, DROVER_SK_REPLAYS),
                      (long long) (drover_json_double(g, DROVER_SK_OVERFLOWS)
                                   + drover_json_double(g,
                                                        DROVER_SK_TIMEOUTS)),
                      (long long) drover_json_double(g, DROVER_SK_FAILURES));

    drover_buf_adds(b, "<div class=\"scroll\"><table><thead><tr><th>host"
                    "</th><th>pool</th><th>state</th><th>since</th><th>"
                    "slots up</th><th>busy</th><th>last error</th></tr>"
                    "</thead><tbody>\n");

    for (j = 0; j < nh; j++) {
        h = json_object_array_get_idx(hosts, j);
        st = drover_json_string(h, DROVER_SK_STATE);

        drover_buf_adds(b, "<tr class=\"host ");
        html_escape(b, st ? st : "unknown");
        drover_buf_adds(b, "\"><td>");
        html_escape(b, drover_json_string(h, "server"));
        drover_buf_adds(b, "</td><td>");
        html_escape(b, drover_json_string(h, "pool"));
        drover_buf_adds(b, "</td><td>");
        html_escape(b, st ? st : "unknown");
        drover_buf_adds(b, "</td><td>");
        html_since(b, h);
        drover_buf_printf(b, "</td><td>%d of %d</td><td>%d</td>"
                          "<td class=\"wrap\">",
                          (int) drover_json_double(h, "up"),
                          (int) drover_json_double(h, "slots"),
                          (int) drover_json_double(h, "busy"));
        html_escape(b, drover_json_string(h, "error"));
        drover_buf_adds(b, "</td></tr>\n");
    }

    drover_buf_adds(b, "</tbody></table></div></section>\n");
}


static const char  html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, "
    "initial-scale=1\">\n<meta http-equiv=\"refresh\" content=\"2\">\n"
    "<title>Drover status</title>\n<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;padding:12px;"
    "background:#f6f7f9;color:#1d2330}\n"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:0 0 6px}\n"
    ".meta{color:#5b6475;margin:0 0 12px}\n"
    ".pool{background:#fff;border:1px solid #dde1e8;border-radius:8px;"
    "padding:12px;margin:0 0 12px}\n"
    ".state{font-size:12px;padding:2px 8px;border-radius:10px;"
    "background:#e3f4e8;color:#1c6b35}\n"
    ".state.failing{background:#fde2e1;color:#a1261d}\n"
    ".state.reloading,.state.starting{background:#fff3d6;color:#8a5a00}\n"
    ".advice{margin:0 0 6px;font-weight:600}\n"
    ".bar{position:relative;height:10px;background:#eef0f4;"
    "border-radius:5px;overflow:hidden;margin:0 0 8px}\n"
    ".bar .band{position:absolute;top:0;bottom:0;background:#d8ecdc}\n"
    ".bar .fill{position:absolute;top:3px;height:4px;left:0;"
    "background:#3f6fd8}\n"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;"
    "margin:0 0 8px}dt{color:#5b6475}dd{margin:0}\n"
    ".scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;"
    "font-size:13px}\n"
    "th,td{text-align:left;padding:4px 8px;border-top:1px solid #eef0f4;"
    "white-space:nowrap}td.wrap{white-space:normal;word-break:break-all}\n"
    "tr.busy td{background:#eef3ff}tr.empty td,tr.stopping td{color:#8a93a6}"
    "\ntr.host.down td,tr.host.failing td{background:#fde2e1}"
    "tr.host.unknown td,tr.host.stopped td{color:#8a93a6}"
    "\n</style></head><body>\n";


int
drover_render_html(json_object *status, char **out, size_t *len)
{
    size_t         i, n, ng;
    json_object   *pools, *d, *gs;
    drover_buf_t   b = DROVER_BUF_INIT;

    pools = drover_json_get(status, DROVER_SK_POOLS);
    if (pools == NULL || !json_object_is_type(pools, json_type_array)) {
        return -EINVAL;
    }

    d = drover_json_get(status, DROVER_SK_DROVERD);

    drover_buf_add(&b, html_head, sizeof(html_head) - 1);
    drover_buf_adds(&b, "<h1>Drover</h1>\n<p class=\"meta\">droverd ");
    html_escape(&b, drover_json_string(d, DROVER_SK_VERSION));
    drover_buf_printf(&b, ", pid %d, up ",
                      (int) drover_json_double(d, DROVER_SK_PID));
    html_duration(&b, drover_json_double(d, DROVER_SK_UPTIME_MS));
    drover_buf_adds(&b, ", config ");
    html_escape(&b, drover_json_string(d, DROVER_SK_CONFIG));
    drover_buf_adds(&b, "; refreshes every 2 s</p>\n");

    n = json_object_array_length(pools);
    for (i = 0; i < n; i++) {
        html_pool(&b, json_object_array_get_idx(pools, i));
    }

    if (n == 0) {
        drover_buf_adds(&b, "<p>No pools.</p>\n");
    }

    gs = drover_json_get(status, "groups");
    ng = drover_json_length(gs);

    for (i = 0; i < ng; i++) {
        html_group(&b, json_object_array_get_idx(gs, i));
    }

    drover_buf_adds(&b, "</body></html>\n");

    if (b.failed) {
        drover_buf_free(&b);
        return -ENOMEM;
    }

    *out = b.data;
    *len = b.len;
    return 0;
}
