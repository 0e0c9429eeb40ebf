/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */

/* mod_drover's "drover-status" handler: what this Apache's dispatch
 * counted for each DroverPass pool, as an HTML page, JSON or Prometheus
 * text. */

#include "mod_drover.h"

#include "apr_strings.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

APLOG_USE_MODULE(drover);

#define DROVER_STATUS_HANDLER  "drover-status"

typedef enum {
    FORMAT_HTML = 0,
    FORMAT_JSON,
    FORMAT_PROMETHEUS,
    FORMAT_BAD
} format_t;

typedef struct {
    const char  *name;
    format_t     format;
} format_name_t;

/* ?format=NAME */
static const format_name_t  format_names[] = {
    { "html", FORMAT_HTML },
    { "json", FORMAT_JSON },
    { "prometheus", FORMAT_PROMETHEUS },
};

/* the media types of Accept that choose a format, as the nginx module's */
static const format_name_t  format_types[] = {
    { "application/json", FORMAT_JSON },
    { "text/plain", FORMAT_PROMETHEUS },
    { "application/openmetrics-text", FORMAT_PROMETHEUS },
    { "text/html", FORMAT_HTML },
    { "application/xhtml+xml", FORMAT_HTML },
};

#define NELTS(a) (sizeof(a) / sizeof((a)[0]))

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
    { "drover_pool_pipelined_requests_total", "counter",
      "Requests sent behind a running one (DroverPipeline)." },
    { "drover_pool_pipeline_moves_total", "counter",
      "Pipelined requests taken back unread and sent to another slot." },
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
        v[2] += ps->slot[k].busy > 0;
    }
    v[3] = ps->queued;
    v[4] = ps->requests;
    v[5] = ps->overflows;
    v[6] = ps->timeouts;
    v[7] = ps->replays;
    v[8] = ps->failures;
    v[9] = ps->pipelined;
    v[10] = ps->moved;
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
                   APR_UINT64_T_FMT ",\"pipelined\":%" APR_UINT64_T_FMT
                   ",\"moved\":%" APR_UINT64_T_FMT "}",
                   i > 0 ? "," : "",
                   json_escape(r->pool, drover_slots_path(i)),
                   ps->active ? "true" : "false",
                   ps->active ? state_name(ps->state) : "plain",
                   ps->generation, v[0], v[1], v[2], v[3], v[4], v[5], v[6],
                   v[7], v[8], v[9], v[10]);
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


/* the page's style: no external files, fits a phone */
static const char  page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<meta http-equiv=\"refresh\" content=\"2\">\n"
    "<title>Drover status</title>\n"
    "<style>\n"
    "body{font:15px/1.4 system-ui,sans-serif;margin:0;padding:12px;"
    "background:#f4f5f7;color:#222}\n"
    "h1{font-size:20px;margin:0 0 4px}\n"
    "p.sub{margin:0 0 12px;color:#666}\n"
    ".pool{background:#fff;border-radius:8px;padding:10px 14px;"
    "margin:0 0 12px;box-shadow:0 1px 3px rgba(0,0,0,.12);overflow-x:auto}\n"
    "h2{font-size:16px;margin:0 0 8px;word-break:break-all}\n"
    "h2 span{font-size:13px;font-weight:normal;padding:1px 8px;"
    "border-radius:10px;margin-left:6px;background:#ddd}\n"
    "span.serving{background:#cdeccd}span.starting,span.reloading"
    "{background:#fbe9b7}span.failing,span.stopped{background:#f5c2c2}\n"
    "table{border-collapse:collapse}\n"
    "th{text-align:left;font-weight:normal;color:#555;padding:2px 16px 2px 0}\n"
    "td{text-align:right;font-variant-numeric:tabular-nums;padding:2px 0}\n"
    "</style>\n</head>\n<body>\n"
    "<h1>Drover status</h1>\n"
    "<p class=\"sub\">mod_drover in Apache: all children together, since "
    "Apache started or was last restarted.</p>\n";


static void
html_row(request_rec *r, const char *name, apr_uint64_t v)
{
    ap_rprintf(r, "<tr><th>%s</th><td>%" APR_UINT64_T_FMT "</td></tr>\n",
               name, v);
}


static void
send_html(request_rec *r, int npools)
{
    drover_pool_shm_t  *ps = apr_palloc(r->pool, sizeof(*ps));
    apr_uint64_t        v[NMETRICS];
    const char         *state;
    int                 i;

    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rputs(page_head, r);

    if (npools == 0) {
        ap_rputs("<p>No DroverPass pool in this server's configuration.</p>\n",
                 r);
    }

    for (i = 0; i < npools; i++) {
        drover_slots_snapshot(i, ps);
        pool_values(ps, v);
        state = ps->active ? state_name(ps->state) : "plain";

        ap_rprintf(r, "<div class=\"pool\">\n<h2>%s <span class=\"%s\">%s"
                   "</span></h2>\n<table>\n",
                   ap_escape_html(r->pool, drover_slots_path(i)), state,
                   state);

        if (ps->active) {
            html_row(r, "generation", ps->generation);
            html_row(r, "slots", v[0]);
            html_row(r, "slots up", v[1]);
            html_row(r, "slots busy", v[2]);
        } else {
            ap_rputs("<tr><th>dispatch</th><td>none (no .slots file: plain "
                     "FastCGI)</td></tr>\n", r);
        }

        html_row(r, "queue length", v[3]);
        html_row(r, "requests", v[4]);
        html_row(r, "replays", v[7]);
        html_row(r, "503s", v[5] + v[6]);
        html_row(r, "503s, queue full", v[5]);
        html_row(r, "503s, queue timeout", v[6]);
        html_row(r, "502s and 504s from a slot", v[8]);
        html_row(r, "pipelined", v[9]);
        html_row(r, "pipelined, taken back", v[10]);
        ap_rputs("</table>\n</div>\n", r);
    }

    ap_rputs("</body>\n</html>\n", r);
}


/* ?format=NAME when there is one (FORMAT_BAD for an unknown NAME), else
 * -1 */
static int
format_arg(const char *args)
{
    const char  *a, *end;
    apr_size_t   n, k;

    for (a = args; a != NULL && *a; a = end[0] ? end + 1 : NULL) {
        end = a + strcspn(a, "&");

        if (strncmp(a, "format=", 7) != 0) {
            continue;
        }

        n = (apr_size_t) (end - a) - 7;
        for (k = 0; k < NELTS(format_names); k++) {
            if (strlen(format_names[k].name) == n
                && strncmp(a + 7, format_names[k].name, n) == 0)
            {
                return format_names[k].format;
            }
        }

        return FORMAT_BAD;
    }

    return -1;
}


/* Accept's choice: the known media type of the highest q, the first one
 * listed on a tie; HTML when none is known or there is no Accept */
static format_t
format_accept(request_rec *r)
{
    const char  *accept = apr_table_get(r->headers_in, "Accept");
    const char  *p, *end, *semi, *q;
    format_t     best = FORMAT_HTML;
    double       best_q = -1, qv;
    apr_size_t   n, k;

    for (p = accept; p != NULL && *p; p = end[0] ? end + 1 : NULL) {
        end = p + strcspn(p, ",");
        p += strspn(p, " \t");
        semi = p + strcspn(p, ";,");
        if (semi > end) {
            semi = end;
        }

        n = (apr_size_t) (semi - p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
            n--;
        }

        qv = 1;
        for (q = semi; q < end; q++) {
            if (*q == ';') {
                q += strspn(q + 1, " \t") + 1;
                if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
                    qv = atof(q + 2);
                }
            }
        }

        for (k = 0; k < NELTS(format_types); k++) {
            if (strlen(format_types[k].name) == n
                && strncasecmp(p, format_types[k].name, n) == 0
                && qv > 0 && qv > best_q)
            {
                best = format_types[k].format;
                best_q = qv;
            }
        }
    }

    return best;
}


/* ---- droverd's own status (DroverStatus unix:PATH) ---- */

#define DROVER_STATUS_TIMEOUT   10              /* s, connect to the close */
#define DROVER_STATUS_MAX       (16 * 1024 * 1024)

static const char *const  format_cmd[] = { "html", "json", "prometheus" };


/* {"cmd":"status",...,"queues":[this Apache's counters],"raw":true} */
static const char *
status_command(request_rec *r, format_t fmt)
{
    drover_pool_shm_t  *ps = apr_palloc(r->pool, sizeof(*ps));
    apr_uint64_t        v[NMETRICS];
    const char         *cmd, *sep = "";
    int                 i;

    cmd = apr_pstrcat(r->pool, "{\"cmd\":\"status\",\"format\":\"",
                      format_cmd[fmt], "\",\"queues\":[", NULL);

    for (i = 0; i < drover_slots_pools(); i++) {
        drover_slots_snapshot(i, ps);
        if (!ps->active) {
            continue;                   /* plain mode: not droverd's slots */
        }
        pool_values(ps, v);

        cmd = apr_psprintf(r->pool, "%s%s{\"listen\":\"%s\",\"queued\":%"
                           APR_UINT64_T_FMT ",\"requests\":%" APR_UINT64_T_FMT
                           ",\"overflows\":%" APR_UINT64_T_FMT ",\"timeouts\":%"
                           APR_UINT64_T_FMT ",\"replays\":%" APR_UINT64_T_FMT
                           ",\"failures\":%" APR_UINT64_T_FMT ",\"pipelined\":%"
                           APR_UINT64_T_FMT ",\"moved\":%" APR_UINT64_T_FMT "}",
                           cmd, sep, json_escape(r->pool, drover_slots_path(i)),
                           v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]);
        sep = ",";
    }

    return apr_pstrcat(r->pool, cmd, "],\"raw\":true}\n", NULL);
}


/*
 * droverd renders every format itself, with this Apache's counters merged
 * into its pools ("dispatch", docs/status.md): the answer is
 * "CODE CONTENT-TYPE\n" and the document, up to the close.
 */
static int
send_droverd(request_rec *r, const char *sockpath, format_t fmt)
{
    struct sockaddr_un   sun;
    struct timeval       tv;
    const char          *cmd = status_command(r, fmt), *type;
    char                *buf, *nl, *sp;
    apr_size_t           len = 0, room = 64 * 1024, n;
    ssize_t              got;
    int                  fd, code;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(sockpath) >= sizeof(sun.sun_path)) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    strcpy(sun.sun_path, sockpath);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    tv.tv_sec = DROVER_STATUS_TIMEOUT;
    tv.tv_usec = 0;
    (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

    if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) == -1) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(errno), r,
                      "drover-status: droverd is not running at %s: no "
                      "answer on its status socket (start droverd, or check "
                      "\"status_socket\" in its config and DroverStatus), 502",
                      sockpath);
        close(fd);
        return HTTP_BAD_GATEWAY;
    }

    for (n = 0; n < strlen(cmd); n += (apr_size_t) got) {
        got = send(fd, cmd + n, strlen(cmd) - n, MSG_NOSIGNAL);
        if (got <= 0) {
            goto fail;
        }
    }

    buf = apr_palloc(r->pool, room + 1);
    for (;;) {
        if (len == room) {
            char  *more;

            if (room >= DROVER_STATUS_MAX) {
                goto fail;
            }
            more = apr_palloc(r->pool, room * 2 + 1);
            memcpy(more, buf, len);
            buf = more;
            room *= 2;
        }
        got = recv(fd, buf + len, room - len, 0);
        if (got == 0) {
            break;
        }
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            goto fail;
        }
        len += (apr_size_t) got;
    }
    close(fd);
    fd = -1;
    buf[len] = '\0';

    /* "CODE CONTENT-TYPE\n" */
    nl = memchr(buf, '\n', len);
    sp = nl != NULL ? memchr(buf, ' ', (apr_size_t) (nl - buf)) : NULL;
    code = sp != NULL ? atoi(buf) : 0;
    if (sp == NULL || code < 200 || code > 599) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "drover-status: \"%s\" "
                      "did not answer as droverd's status socket does, 502",
                      sockpath);
        return HTTP_BAD_GATEWAY;
    }

    *nl = '\0';
    type = apr_pstrdup(r->pool, sp + 1);
    r->status = code;
    ap_set_content_type(r, type);
    ap_rwrite(nl + 1, (int) (len - (apr_size_t) (nl + 1 - buf)), r);
    return OK;

fail:

    ap_log_rerror(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(errno), r,
                  "drover-status: the status exchange with droverd at %s "
                  "failed, 502", sockpath);
    if (fd >= 0) {
        close(fd);
    }
    return HTTP_BAD_GATEWAY;
}


/* SetHandler drover-status: ?format=html, json or prometheus; without it
 * the Accept header chooses, HTML by default */
int
drover_status_handler(request_rec *r)
{
    const drover_dir_conf_t  *dc;
    int                       fmt;

    if (r->handler == NULL || strcmp(r->handler, DROVER_STATUS_HANDLER) != 0) {
        return DECLINED;
    }

    if (r->method_number != M_GET) {
        r->allowed = AP_METHOD_BIT << M_GET;
        return HTTP_METHOD_NOT_ALLOWED;
    }

    fmt = format_arg(r->args);
    if (fmt == FORMAT_BAD) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "drover-status: unknown ?format, want html, json or "
                      "prometheus");
        return HTTP_BAD_REQUEST;
    }

    if (fmt < 0) {
        fmt = format_accept(r);
    }

    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_mergen(r->headers_out, "Vary", "Accept");

    dc = ap_get_module_config(r->per_dir_config, &drover_module);
    if (dc->status_path != NULL) {
        return send_droverd(r, dc->status_path, (format_t) fmt);
    }

    switch (fmt) {
    case FORMAT_JSON:
        send_json(r, drover_slots_pools());
        break;
    case FORMAT_PROMETHEUS:
        send_prometheus(r, drover_slots_pools());
        break;
    default:
        send_html(r, drover_slots_pools());
        break;
    }

    return OK;
}
