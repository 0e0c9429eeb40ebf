/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * status_json.c -- see status_json.h.
 */

#include "status_json.h"

#include <math.h>
#include <stdio.h>


json_object *
drover_json_get(json_object *obj, const char *key)
{
    json_object  *v;

    /* json-c holds a JSON null as a NULL value */
    if (obj == NULL || !json_object_is_type(obj, json_type_object)
        || !json_object_object_get_ex(obj, key, &v))
    {
        return NULL;
    }

    return v;
}


int
drover_json_number(json_object *obj, const char *key, double *out)
{
    double        d;
    json_object  *v = drover_json_get(obj, key);

    if (v == NULL || !(json_object_is_type(v, json_type_int)
                       || json_object_is_type(v, json_type_double)))
    {
        return 0;
    }

    if (out != NULL) {
        d = json_object_get_double(v);
        *out = isfinite(d) ? d : 0;
    }

    return 1;
}


double
drover_json_double(json_object *obj, const char *key)
{
    double  d;

    return drover_json_number(obj, key, &d) ? d : 0;
}


const char *
drover_json_string(json_object *obj, const char *key)
{
    json_object  *v = drover_json_get(obj, key);

    return v != NULL && json_object_is_type(v, json_type_string)
           ? json_object_get_string(v) : NULL;
}


size_t
drover_json_length(json_object *arr)
{
    return arr != NULL && json_object_is_type(arr, json_type_array)
           ? json_object_array_length(arr) : 0;
}


void
drover_bytes_format(char *buf, size_t size, double b, int style)
{
    int                 i;
    static const char   units[] = "BKMGTP";

    if (style == DROVER_BYTES_LONG) {
        if (b >= 1024.0 * 1024 * 1024) {
            snprintf(buf, size, "%.1f GiB", b / (1024.0 * 1024 * 1024));
        } else if (b >= 1024.0 * 1024) {
            snprintf(buf, size, "%.1f MiB", b / (1024.0 * 1024));
        } else {
            snprintf(buf, size, "%.0f KiB", b / 1024.0);
        }

        return;
    }

    for (i = 0; b >= 1024 && i < 5; i++) {
        b /= 1024;
    }

    if (i == 0) {
        snprintf(buf, size, "%.0fB", b);
        return;
    }

    snprintf(buf, size, b < 10 ? "%.1f%c" : "%.0f%c", b, units[i]);
}
