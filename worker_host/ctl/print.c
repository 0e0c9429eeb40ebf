/*
 * print.c -- droverctl's status view: the droverd line, a table of the
 * pools, a table of each pool's workers.
 */

#include "ctl.h"


/* ---- the status frame ---- */

static void
ctl_print_droverd(json_object *status, FILE *f)
{
    double       d;
    char        *up;
    const char  *s;
    json_object *dv = ctl_get(status, "droverd");

    fputs("droverd", f);

    if ((s = ctl_str(dv, "version")) != NULL) {
        up = ctl_clean(s);
        fprintf(f, " %s", up);
        free(up);
    }

    if (ctl_num(dv, "pid", &d)) {
        fprintf(f, ", pid %.0f", d);
    }

    if (ctl_num(dv, "uptime_ms", &d)) {
        up = ctl_human_ms(d);
        fprintf(f, ", up %s", up);
        free(up);
    }

    if ((s = ctl_str(dv, "config")) != NULL) {
        up = ctl_clean(s);
        fprintf(f, ", config %s", up);
        free(up);
    }

    fputc('\n', f);
}


/* busy workers: those said "busy" in workers_detail, or "-" */
static char *
ctl_cell_busy(json_object *pool)
{
    size_t        i, n, busy;
    double        total;
    const char   *s;
    json_object  *detail, *w;
    char         *out, *t;

    detail = ctl_get(pool, "workers_detail");

    t = ctl_num(pool, "workers", &total) ? ctl_fmt("%.0f", total)
                                         : ctl_fmt("-");

    if (detail == NULL || !json_object_is_type(detail, json_type_array)) {
        out = ctl_fmt("-/%s", t);
        free(t);
        return out;
    }

    n = json_object_array_length(detail);
    busy = 0;

    for (i = 0; i < n; i++) {
        w = json_object_array_get_idx(detail, i);
        s = ctl_str(w, "state");
        busy += s != NULL && strcmp(s, "busy") == 0;
    }

    out = ctl_fmt("%zu/%s", busy, t);
    free(t);
    return out;
}


static char *
ctl_cell_target(json_object *pool)
{
    double  lo, hi;

    if (ctl_num(pool, "busy_target_low", &lo)
        && ctl_num(pool, "busy_target_high", &hi))
    {
        return ctl_fmt("%.0f-%.0f%%", lo * 100, hi * 100);
    }

    return ctl_fmt("-");
}


/* shared + private / budget ("-" when none) */
static char *
ctl_cell_memory(json_object *pool)
{
    int     have;
    double  shared, private, budget;
    char   *used, *cap, *out;

    shared = private = 0;
    have = ctl_num(pool, "memory_shared_bytes", &shared);
    have |= ctl_num(pool, "memory_private_bytes", &private);

    used = have ? ctl_human_bytes(shared + private) : ctl_fmt("-");
    cap = ctl_num(pool, "memory_budget_bytes", &budget) && budget > 0
          ? ctl_human_bytes(budget) : ctl_fmt("-");

    out = ctl_fmt("%s/%s", used, cap);
    free(used);
    free(cap);
    return out;
}


static char *
ctl_cell_rate(json_object *pool)
{
    double  d;

    return ctl_num(pool, "requests_per_s", &d) ? ctl_fmt("%.1f", d)
                                               : ctl_fmt("-");
}


static void
ctl_print_pools(json_object *pools, FILE *f)
{
    size_t        i, n;
    json_object  *p;
    ctl_table_t   t;
    char         *cells[CTL_COLS];

    static const char *const  head[] = {
        "POOL", "GEN", "STATE", "BUSY/WORKERS", "REQ/S", "BUSY 1m",
        "TARGET", "MEMORY/BUDGET", "ADVICE"
    };

    memset(&t, 0, sizeof(t));

    for (i = 0; i < sizeof(head) / sizeof(head[0]); i++) {
        cells[i] = ctl_fmt("%s", head[i]);
    }
    ctl_table_row(&t, i, cells);

    n = json_object_array_length(pools);

    for (i = 0; i < n; i++) {
        p = json_object_array_get_idx(pools, i);

        cells[0] = ctl_cell_str(p, "name");
        cells[1] = ctl_cell_int(p, "generation");
        cells[2] = ctl_cell_str(p, "state");
        cells[3] = ctl_cell_busy(p);
        cells[4] = ctl_cell_rate(p);
        cells[5] = ctl_cell_percent(p, "busy_fraction_1m", 100);
        cells[6] = ctl_cell_target(p);
        cells[7] = ctl_cell_memory(p);
        cells[8] = ctl_str(p, "advice") != NULL ? ctl_cell_str(p, "advice")
                                                : NULL;
        ctl_table_row(&t, 9, cells);
    }

    ctl_table_print(&t, f, "");
    ctl_table_free(&t);
}


/* "exit 0 in 120ms: message", or NULL */
static char *
ctl_prestart_text(json_object *pool)
{
    double        status, ms;
    char         *took, *msg, *out;
    const char   *s;
    json_object  *ps = ctl_get(pool, "prestart");

    if (ps == NULL || !json_object_is_type(ps, json_type_object)) {
        return NULL;
    }

    took = ctl_num(ps, "duration_ms", &ms) ? ctl_human_ms(ms) : ctl_fmt("?");
    s = ctl_str(ps, "message");
    msg = s != NULL && s[0] != '\0' ? ctl_clean(s) : NULL;

    if (ctl_num(ps, "status", &status) && status == 0) {
        out = ctl_fmt("prestart ok in %s%s%s", took, msg ? ": " : "",
                      msg ? msg : "");
    } else {
        out = ctl_fmt("prestart FAILED after %s%s%s", took, msg ? ": " : "",
                      msg ? msg : "");
    }

    free(took);
    free(msg);
    return out;
}


static char *
ctl_cell_cpu(json_object *w)
{
    char  *a, *b, *out;

    a = ctl_cell_percent(w, "cpu_percent_1s", 1);
    b = ctl_cell_percent(w, "cpu_percent_1m", 1);
    out = ctl_fmt("%s/%s", a, b);
    free(a);
    free(b);
    return out;
}


/* "/sleep?ms=500 (120ms)", or "-" */
static char *
ctl_cell_request(json_object *w)
{
    double       ms;
    char        *uri, *took, *out;
    const char  *s = ctl_str(w, "current_uri");

    if (s == NULL) {
        return ctl_fmt("-");
    }

    uri = ctl_clean(s);

    if (!ctl_num(w, "current_ms", &ms)) {
        return uri;
    }

    took = ctl_human_ms(ms);
    out = ctl_fmt("%s (%s)", uri, took);
    free(uri);
    free(took);
    return out;
}


static void
ctl_print_workers(json_object *pool, FILE *f)
{
    size_t        i, n;
    char         *name, *pre;
    json_object  *detail, *w;
    ctl_table_t   t;
    char         *cells[CTL_COLS];

    static const char *const  head[] = {
        "SLOT", "PID", "GEN", "STATE", "REQS", "CPU 1s/1m", "RSS", "PSS",
        "USS", "UPTIME", "RESTARTS", "LAST EXIT", "REQUEST"
    };

    name = ctl_cell_str(pool, "name");
    pre = ctl_prestart_text(pool);

    fprintf(f, "\npool %s%s%s\n", name, pre ? ": " : "", pre ? pre : "");
    free(name);
    free(pre);

    detail = ctl_get(pool, "workers_detail");
    if (detail == NULL || !json_object_is_type(detail, json_type_array)) {
        fputs("  (no worker details)\n", f);
        return;
    }

    memset(&t, 0, sizeof(t));

    for (i = 0; i < sizeof(head) / sizeof(head[0]); i++) {
        cells[i] = ctl_fmt("%s", head[i]);
    }
    ctl_table_row(&t, i, cells);

    n = json_object_array_length(detail);

    for (i = 0; i < n; i++) {
        w = json_object_array_get_idx(detail, i);

        cells[0] = ctl_cell_int(w, "slot");
        cells[1] = ctl_cell_int(w, "pid");
        cells[2] = ctl_cell_int(w, "generation");
        cells[3] = ctl_cell_str(w, "state");
        cells[4] = ctl_cell_int(w, "requests");
        cells[5] = ctl_cell_cpu(w);
        cells[6] = ctl_cell_bytes(w, "rss_bytes");
        cells[7] = ctl_cell_bytes(w, "pss_bytes");
        cells[8] = ctl_cell_bytes(w, "uss_bytes");
        cells[9] = ctl_cell_ms(w, "uptime_ms");
        cells[10] = ctl_cell_int(w, "restarts");
        cells[11] = ctl_cell_str(w, "last_exit");
        cells[12] = ctl_cell_request(w);
        ctl_table_row(&t, 13, cells);
    }

    ctl_table_print(&t, f, "  ");
    ctl_table_free(&t);
}


void
ctl_print_status(json_object *status, FILE *f)
{
    size_t        i, n;
    json_object  *pools;

    ctl_print_droverd(status, f);

    pools = ctl_get(status, "pools");
    if (pools == NULL || !json_object_is_type(pools, json_type_array)
        || json_object_array_length(pools) == 0)
    {
        fputs("\nno pools\n", f);
        return;
    }

    fputc('\n', f);
    ctl_print_pools(pools, f);

    n = json_object_array_length(pools);
    for (i = 0; i < n; i++) {
        ctl_print_workers(json_object_array_get_idx(pools, i), f);
    }
}
