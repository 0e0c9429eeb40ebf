/*
 * render_html.c -- the status object (status.c builds it) as a
 * self-contained HTML page: auto-refresh, readable on a phone.  Strings
 * from the status (pool names, request URIs: the URI is the client's) are
 * escaped.
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


static void
rb_html(render_buf_t *b, const char *s)
{
    for ( ; s != NULL && *s != '\0'; s++) {
        switch (*s) {
        case '&':
            rb_add(b, "&amp;", 5);
            break;
        case '<':
            rb_add(b, "&lt;", 4);
            break;
        case '>':
            rb_add(b, "&gt;", 4);
            break;
        case '"':
            rb_add(b, "&quot;", 6);
            break;
        case '\'':
            rb_add(b, "&#39;", 5);
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


/* ---- HTML ---- */

static void
html_bytes(render_buf_t *b, double v)
{
    if (v >= 1024.0 * 1024 * 1024) {
        rb_printf(b, "%.1f GiB", v / (1024.0 * 1024 * 1024));
    } else if (v >= 1024.0 * 1024) {
        rb_printf(b, "%.1f MiB", v / (1024.0 * 1024));
    } else {
        rb_printf(b, "%.0f KiB", v / 1024.0);
    }
}


static void
html_duration(render_buf_t *b, double ms)
{
    if (ms >= 86400000) {
        rb_printf(b, "%.1f d", ms / 86400000);
    } else if (ms >= 3600000) {
        rb_printf(b, "%.1f h", ms / 3600000);
    } else if (ms >= 60000) {
        rb_printf(b, "%.1f min", ms / 60000);
    } else {
        rb_printf(b, "%.1f s", ms / 1000);
    }
}


static void
html_worker(render_buf_t *b, json_object *w)
{
    const char  *st = str(w, "state");
    const char  *uri = str(w, "current_uri");
    const char  *last = str(w, "last_exit");

    rb_printf(b, "<tr class=\"%s\"><td>%d</td><td>",
              st ? st : "empty", (int) num(w, "slot"));

    if (has_number(w, "pid")) {
        rb_printf(b, "%d", (int) num(w, "pid"));
    }

    rb_printf(b, "</td><td>");
    rb_html(b, st ? st : "?");
    rb_printf(b, "</td><td>%lld</td><td>", (long long) num(w, "requests"));

    if (has_number(w, "cpu_percent_1s")) {
        rb_printf(b, "%.0f%% / %.0f%%", num(w, "cpu_percent_1s"),
                  num(w, "cpu_percent_1m"));
    }

    rb_printf(b, "</td><td>");
    html_bytes(b, num(w, "rss_bytes"));
    rb_printf(b, "</td><td>");
    html_bytes(b, num(w, "pss_bytes"));
    rb_printf(b, "</td><td>");
    html_bytes(b, num(w, "uss_bytes"));
    rb_printf(b, "</td><td>");

    if (has_number(w, "uptime_ms")) {
        html_duration(b, num(w, "uptime_ms"));
    }

    rb_printf(b, "</td><td>%lld</td><td class=\"wrap\">",
              (long long) num(w, "restarts"));
    rb_html(b, last ? last : "");
    rb_printf(b, "</td><td class=\"wrap\">");

    if (uri != NULL) {
        rb_html(b, uri);
        rb_printf(b, " (%lld ms)", (long long) num(w, "current_ms"));
    }

    rb_printf(b, "</td></tr>\n");
}


static void
html_pool(render_buf_t *b, json_object *p)
{
    size_t        j, nw;
    double        busy;
    json_object  *ws, *ps;
    const char   *st = str(p, "state");

    busy = num(p, "busy_fraction_1m");

    rb_printf(b, "<section class=\"pool\"><h2>");
    rb_html(b, str(p, "name"));
    rb_printf(b, " <span class=\"state %s\">", st ? st : "");
    rb_html(b, st ? st : "");
    rb_printf(b, "</span></h2>\n<p class=\"advice\">");
    rb_html(b, str(p, "advice"));
    rb_printf(b, "</p>\n<div class=\"bar\"><div class=\"band\" "
              "style=\"left:%.0f%%;width:%.0f%%\"></div><div class=\"fill\" "
              "style=\"width:%.0f%%\"></div></div>\n",
              num(p, "busy_target_low") * 100,
              (num(p, "busy_target_high") - num(p, "busy_target_low")) * 100,
              (busy < 1.0 ? busy : 1.0) * 100);

    rb_printf(b, "<dl><dt>generation</dt><dd>%d</dd><dt>workers</dt>"
              "<dd>%d</dd><dt>requests</dt><dd>%lld (%.1f/s)</dd>"
              "<dt>busy (1 min)</dt><dd>%.0f%%</dd><dt>memory</dt><dd>",
              (int) num(p, "generation"), (int) num(p, "workers"),
              (long long) num(p, "requests_total"),
              num(p, "requests_per_s"), busy * 100);
    html_bytes(b, num(p, "memory_shared_bytes"));
    rb_printf(b, " shared + ");
    html_bytes(b, num(p, "memory_private_bytes"));
    rb_printf(b, " private");

    if (num(p, "memory_budget_bytes") > 0) {
        rb_printf(b, " of ");
        html_bytes(b, num(p, "memory_budget_bytes"));
    }

    rb_printf(b, "</dd>");

    if (has_number(p, "queue_depth")) {
        json_object  *d = get(p, "dispatch");

        rb_printf(b, "<dt>queue (nginx)</dt><dd>%d waiting, %.1f ms average "
                  "wait, %lld replays, %lld refused, %lld pipelined "
                  "(%lld taken back)</dd>",
                  (int) num(p, "queue_depth"), num(p, "queue_wait_ms"),
                  (long long) num(d, "replays"),
                  (long long) (num(d, "overflows") + num(d, "timeouts")),
                  (long long) num(d, "pipelined"),
                  (long long) num(d, "moved"));
    }

    ps = get(p, "prestart");
    if (ps != NULL && json_object_is_type(ps, json_type_object)) {
        rb_printf(b, "<dt>prestart</dt><dd>%s in %lld ms: ",
                  num(ps, "status") == 0 ? "ok" : "failed",
                  (long long) num(ps, "duration_ms"));
        rb_html(b, str(ps, "message"));
        rb_printf(b, "</dd>");
    }

    rb_printf(b, "</dl>\n<div class=\"scroll\"><table><thead><tr><th>slot"
              "</th><th>pid</th><th>state</th><th>requests</th><th>CPU 1s/1m"
              "</th><th>RSS</th><th>PSS</th><th>USS</th><th>uptime</th>"
              "<th>restarts</th><th>last exit</th><th>current request</th>"
              "</tr></thead><tbody>\n");

    ws = get(p, "workers_detail");
    nw = ws ? json_object_array_length(ws) : 0;

    for (j = 0; j < nw; j++) {
        html_worker(b, json_object_array_get_idx(ws, j));
    }

    rb_printf(b, "</tbody></table></div></section>\n");
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
    "\n</style></head><body>\n";


int
drover_render_html(json_object *status, char **out, size_t *len)
{
    size_t         i, n;
    json_object   *pools, *d;
    render_buf_t   b = { NULL, 0, 0, 0 };

    pools = get(status, "pools");
    if (pools == NULL || !json_object_is_type(pools, json_type_array)) {
        return -EINVAL;
    }

    d = get(status, "droverd");

    rb_add(&b, html_head, sizeof(html_head) - 1);
    rb_printf(&b, "<h1>Drover</h1>\n<p class=\"meta\">droverd ");
    rb_html(&b, str(d, "version"));
    rb_printf(&b, ", pid %d, up ", (int) num(d, "pid"));
    html_duration(&b, num(d, "uptime_ms"));
    rb_printf(&b, ", config ");
    rb_html(&b, str(d, "config"));
    rb_printf(&b, "; refreshes every 2 s</p>\n");

    n = json_object_array_length(pools);
    for (i = 0; i < n; i++) {
        html_pool(&b, json_object_array_get_idx(pools, i));
    }

    if (n == 0) {
        rb_printf(&b, "<p>No pools.</p>\n");
    }

    rb_printf(&b, "</body></html>\n");

    if (b.failed) {
        free(b.buf);
        return -ENOMEM;
    }

    *out = b.buf;
    *len = b.len;
    return 0;
}
