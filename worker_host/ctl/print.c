/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

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
    json_object *dv = drover_json_get(status, DROVER_SK_DROVERD);

    fputs("droverd", f);

    if ((s = drover_json_string(dv, DROVER_SK_VERSION)) != NULL) {
        up = ctl_clean(s);
        fprintf(f, " %s", up);
        free(up);
    }

    if (drover_json_number(dv, DROVER_SK_PID, &d)) {
        fprintf(f, ", pid %.0f", d);
    }

    if (drover_json_number(dv, DROVER_SK_UPTIME_MS, &d)) {
        up = ctl_human_ms(d);
        fprintf(f, ", up %s", up);
        free(up);
    }

    if ((s = drover_json_string(dv, DROVER_SK_CONFIG)) != NULL) {
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

    detail = drover_json_get(pool, DROVER_SK_WORKERS_DETAIL);

    t = drover_json_number(pool, DROVER_SK_WORKERS, &total)
        ? ctl_fmt("%.0f", total) : ctl_fmt("-");

    if (detail == NULL || !json_object_is_type(detail, json_type_array)) {
        out = ctl_fmt("-/%s", t);
        free(t);
        return out;
    }

    n = json_object_array_length(detail);
    busy = 0;

    for (i = 0; i < n; i++) {
        w = json_object_array_get_idx(detail, i);
        s = drover_json_string(w, DROVER_SK_STATE);
        busy += s != NULL && strcmp(s, DROVER_SV_BUSY) == 0;
    }

    out = ctl_fmt("%zu/%s", busy, t);
    free(t);
    return out;
}


static char *
ctl_cell_target(json_object *pool)
{
    double  lo, hi;

    if (drover_json_number(pool, DROVER_SK_BUSY_TARGET_LOW, &lo)
        && drover_json_number(pool, DROVER_SK_BUSY_TARGET_HIGH, &hi))
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
    have = drover_json_number(pool, DROVER_SK_MEMORY_SHARED_BYTES, &shared);
    have |= drover_json_number(pool, DROVER_SK_MEMORY_PRIVATE_BYTES, &private);

    used = have ? ctl_human_bytes(shared + private) : ctl_fmt("-");
    cap = drover_json_number(pool, DROVER_SK_MEMORY_BUDGET_BYTES, &budget)
          && budget > 0 ? ctl_human_bytes(budget) : ctl_fmt("-");

    out = ctl_fmt("%s/%s", used, cap);
    free(used);
    free(cap);
    return out;
}


static char *
ctl_cell_rate(json_object *pool)
{
    double  d;

    return drover_json_number(pool, DROVER_SK_REQUESTS_PER_S, &d)
           ? ctl_fmt("%.1f", d) : ctl_fmt("-");
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

        cells[0] = ctl_cell_str(p, DROVER_SK_NAME);
        cells[1] = ctl_cell_int(p, DROVER_SK_GENERATION);
        cells[2] = ctl_cell_str(p, DROVER_SK_STATE);
        cells[3] = ctl_cell_busy(p);
        cells[4] = ctl_cell_rate(p);
        cells[5] = ctl_cell_percent(p, DROVER_SK_BUSY_FRACTION_1M, 100);
        cells[6] = ctl_cell_target(p);
        cells[7] = ctl_cell_memory(p);
        cells[8] = drover_json_string(p, DROVER_SK_ADVICE) != NULL
                   ? ctl_cell_str(p, DROVER_SK_ADVICE) : NULL;
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
    json_object  *ps = drover_json_get(pool, DROVER_SK_PRESTART);

    if (ps == NULL || !json_object_is_type(ps, json_type_object)) {
        return NULL;
    }

    took = drover_json_number(ps, DROVER_SK_DURATION_MS, &ms)
           ? ctl_human_ms(ms) : ctl_fmt("?");
    s = drover_json_string(ps, DROVER_SK_MESSAGE);
    msg = s != NULL && s[0] != '\0' ? ctl_clean(s) : NULL;

    if (drover_json_number(ps, DROVER_SK_STATUS, &status) && status == 0) {
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

    a = ctl_cell_percent(w, DROVER_SK_CPU_PERCENT_1S, 1);
    b = ctl_cell_percent(w, DROVER_SK_CPU_PERCENT_1M, 1);
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
    const char  *s = drover_json_string(w, DROVER_SK_CURRENT_URI);

    if (s == NULL) {
        return ctl_fmt("-");
    }

    uri = ctl_clean(s);

    if (!drover_json_number(w, DROVER_SK_CURRENT_MS, &ms)) {
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

    name = ctl_cell_str(pool, DROVER_SK_NAME);
    pre = ctl_prestart_text(pool);

    fprintf(f, "\npool %s%s%s\n", name, pre ? ": " : "", pre ? pre : "");
    free(name);
    free(pre);

    detail = drover_json_get(pool, DROVER_SK_WORKERS_DETAIL);
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

        cells[0] = ctl_cell_int(w, DROVER_SK_SLOT);
        cells[1] = ctl_cell_int(w, DROVER_SK_PID);
        cells[2] = ctl_cell_int(w, DROVER_SK_GENERATION);
        cells[3] = ctl_cell_str(w, DROVER_SK_STATE);
        cells[4] = ctl_cell_int(w, DROVER_SK_REQUESTS);
        cells[5] = ctl_cell_cpu(w);
        cells[6] = ctl_cell_bytes(w, DROVER_SK_RSS_BYTES);
        cells[7] = ctl_cell_bytes(w, DROVER_SK_PSS_BYTES);
        cells[8] = ctl_cell_bytes(w, DROVER_SK_USS_BYTES);
        cells[9] = ctl_cell_ms(w, DROVER_SK_UPTIME_MS);
        cells[10] = ctl_cell_int(w, DROVER_SK_RESTARTS);
        cells[11] = ctl_cell_str(w, DROVER_SK_LAST_EXIT);
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

    pools = drover_json_get(status, DROVER_SK_POOLS);
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
