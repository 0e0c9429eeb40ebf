/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * table.c -- droverctl's text: small things, droverd's JSON read with
 * care, cells (a value formatted, or "-") and tables whose columns are as
 * wide as their widest cell.
 */

#include "ctl.h"

#include <stdarg.h>
#include <time.h>


/* ---- small things ---- */

void
ctl_oom(void)
{
    fputs("droverctl: out of memory\n", stderr);
    exit(CTL_EPROTOCOL);
}


char *
ctl_fmt(const char *fmt, ...)
{
    char     *s;
    va_list   ap;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        ctl_oom();
    }
    va_end(ap);

    return s;
}


uint64_t
ctl_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


/* a copy of S fit for a terminal: control characters become '?' */
char *
ctl_clean(const char *s)
{
    char    *out, *p;

    out = strdup(s);
    if (out == NULL) {
        ctl_oom();
    }

    for (p = out; *p != '\0'; p++) {
        if ((unsigned char) *p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }

    return out;
}


/* ---- cells: droverd's JSON read with status_json.h, which may lack
   anything ---- */

/* the cell for obj[key]: "%.0f" of the number, or "-" */
char *
ctl_cell_int(json_object *obj, const char *key)
{
    double  d;

    return drover_json_number(obj, key, &d) ? ctl_fmt("%.0f", d)
                                            : ctl_fmt("-");
}


char *
ctl_cell_str(json_object *obj, const char *key)
{
    const char  *s = drover_json_string(obj, key);

    return s != NULL && s[0] != '\0' ? ctl_clean(s) : ctl_fmt("-");
}


/* 1536 -> "1.5K": binary units, as free(1) -h */
char *
ctl_human_bytes(double b)
{
    char  text[DROVER_BYTES_LEN];

    drover_bytes_format(text, sizeof(text), b, DROVER_BYTES_SHORT);
    return ctl_fmt("%s", text);
}


char *
ctl_cell_bytes(json_object *obj, const char *key)
{
    double  d;

    return drover_json_number(obj, key, &d) && d >= 0 ? ctl_human_bytes(d)
                                           : ctl_fmt("-");
}


/* 45s, 12m05s, 3h02m, 2d04h; under a minute with ms precision < 10 s */
char *
ctl_human_ms(double ms)
{
    unsigned long long  s;

    if (ms < 0) {
        return ctl_fmt("-");
    }

    if (ms < 1000) {
        return ctl_fmt("%.0fms", ms);
    }

    if (ms < 10000) {
        return ctl_fmt("%.1fs", ms / 1000);
    }

    s = (unsigned long long) (ms / 1000);

    if (s < 60) {
        return ctl_fmt("%llus", s);
    }

    if (s < 3600) {
        return ctl_fmt("%llum%02llus", s / 60, s % 60);
    }

    if (s < 86400) {
        return ctl_fmt("%lluh%02llum", s / 3600, s % 3600 / 60);
    }

    return ctl_fmt("%llud%02lluh", s / 86400, s % 86400 / 3600);
}


char *
ctl_cell_ms(json_object *obj, const char *key)
{
    double  d;

    return drover_json_number(obj, key, &d) ? ctl_human_ms(d) : ctl_fmt("-");
}


char *
ctl_cell_percent(json_object *obj, const char *key, double scale)
{
    double  d;

    if (!drover_json_number(obj, key, &d)) {
        return ctl_fmt("-");
    }

    d *= scale;
    return ctl_fmt(d < 10 && d != 0 ? "%.1f%%" : "%.0f%%", d);
}


/* ---- tables: columns as wide as their widest cell ---- */

void
ctl_table_row(ctl_table_t *t, size_t ncols, char **cells)
{
    size_t   i;
    void    *p;

    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        p = realloc(t->rows, t->cap * sizeof(*t->rows));
        if (p == NULL) {
            ctl_oom();
        }
        t->rows = p;
    }

    for (i = 0; i < CTL_COLS; i++) {
        t->rows[t->nrows][i] = i < ncols ? cells[i] : NULL;
    }

    if (ncols > t->ncols) {
        t->ncols = ncols;
    }

    t->nrows++;
}


/* columns on a terminal: UTF-8 continuation bytes take none */
static size_t
ctl_width(const char *s)
{
    size_t  w = 0;

    for (; *s != '\0'; s++) {
        w += ((unsigned char) *s & 0xc0) != 0x80;
    }

    return w;
}


void
ctl_table_print(ctl_table_t *t, FILE *f, const char *indent)
{
    size_t       r, i, w[CTL_COLS], last, pad;
    const char  *cell;

    memset(w, 0, sizeof(w));

    for (r = 0; r < t->nrows; r++) {
        for (i = 0; i < t->ncols; i++) {
            cell = t->rows[r][i];
            if (cell != NULL && ctl_width(cell) > w[i]) {
                w[i] = ctl_width(cell);
            }
        }
    }

    for (r = 0; r < t->nrows; r++) {
        last = 0;
        for (i = 0; i < t->ncols; i++) {
            if (t->rows[r][i] != NULL) {
                last = i;
            }
        }

        fputs(indent, f);

        for (i = 0; i <= last; i++) {
            cell = t->rows[r][i] != NULL ? t->rows[r][i] : "";
            fputs(cell, f);

            if (i < last) {
                for (pad = ctl_width(cell); pad < w[i] + 2; pad++) {
                    fputc(' ', f);
                }
            }
        }

        fputc('\n', f);
    }
}


void
ctl_table_free(ctl_table_t *t)
{
    size_t  r, i;

    for (r = 0; r < t->nrows; r++) {
        for (i = 0; i < CTL_COLS; i++) {
            free(t->rows[r][i]);
        }
    }

    free(t->rows);
    memset(t, 0, sizeof(*t));
}
