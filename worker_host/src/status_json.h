/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * status_json.h -- reading the status object (docs/status.md) in its
 * views: droverd's Prometheus and HTML renderers and droverctl's tables.
 *
 * One rule for what is there: a key that is missing, null or of another
 * type than asked for reads as absent; a number that is not finite reads
 * as 0, so no view prints an infinity or a NaN.  Worker figures come from
 * the scoreboard, display data a tenant can write (clamped by the manager
 * before they get here); droverctl trusts nothing droverd sends.
 */

#ifndef DROVER_STATUS_JSON_H
#define DROVER_STATUS_JSON_H

#include <stddef.h>

#include <json-c/json.h>

/* obj[key] when obj is an object and the value is there and not null */
json_object *drover_json_get(json_object *obj, const char *key);

/* 1 and *out (unless out is NULL) when obj[key] is a number (int or
   double), else 0 */
int drover_json_number(json_object *obj, const char *key, double *out);

/* obj[key] as a number, or 0 */
double drover_json_double(json_object *obj, const char *key);

/* obj[key] when it is a string, or NULL */
const char *drover_json_string(json_object *obj, const char *key);

/* a JSON array's length, 0 when arr is not an array */
size_t drover_json_length(json_object *arr);


/*
 * A byte count for people, in binary units, into buf (NUL-terminated):
 *   DROVER_BYTES_SHORT  "512B" "1.5K" "12M" (droverctl; as free -h)
 *   DROVER_BYTES_LONG   "0 KiB" "1.5 MiB" "2.0 GiB" (the HTML page)
 */
#define DROVER_BYTES_SHORT  0
#define DROVER_BYTES_LONG   1
#define DROVER_BYTES_LEN    320     /* "%.0f" of any double fits */

void drover_bytes_format(char *buf, size_t size, double bytes, int style);

#endif /* DROVER_STATUS_JSON_H */
