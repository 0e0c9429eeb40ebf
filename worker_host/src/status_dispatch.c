/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * status_dispatch.c -- see status_dispatch.h.
 */

#include "status_dispatch.h"
#include "status_keys.h"

#include <stdint.h>
#include <string.h>

#define STATUS_QUEUES_MAX  1024         /* entries looked at */
#define STATUS_GROUPS_MAX  64           /* groups, and hosts of each */
#define STATUS_STRING_MAX  256          /* bytes of a string field */


/* the whole non-negative integers of Q, copied: the "dispatch" object */
static json_object *
dispatch_object(json_object *q)
{
    size_t        j;
    json_object  *d, *v;

    static const char  *fields[] = {
        DROVER_SK_QUEUED, DROVER_SK_REQUESTS, DROVER_SK_WAITED,
        DROVER_SK_WAIT_MS, DROVER_SK_WAIT_MAX_MS, DROVER_SK_OVERFLOWS,
        DROVER_SK_TIMEOUTS, DROVER_SK_REPLAYS, DROVER_SK_FAILURES,
        DROVER_SK_PIPELINED, DROVER_SK_MOVED
    };

    d = json_object_new_object();

    for (j = 0; j < sizeof(fields) / sizeof(fields[0]); j++) {
        if (json_object_object_get_ex(q, fields[j], &v)
            && json_object_is_type(v, json_type_int)
            && json_object_get_int64(v) >= 0)
        {
            json_object_object_add(d, fields[j], json_object_new_int64(
                                   json_object_get_int64(v)));
        }
    }

    return d;
}


/* queue_depth, queue_wait_ms (the average) and "dispatch" into pool P */
static void
dispatch_add(json_object *p, json_object *d)
{
    int64_t       waited, wait_ms;
    json_object  *v;

    if (json_object_object_get_ex(d, DROVER_SK_QUEUED, &v)) {
        json_object_object_add(p, DROVER_SK_QUEUE_DEPTH, json_object_get(v));
    }

    waited = json_object_object_get_ex(d, DROVER_SK_WAITED, &v)
             ? json_object_get_int64(v) : 0;
    wait_ms = json_object_object_get_ex(d, DROVER_SK_WAIT_MS, &v)
              ? json_object_get_int64(v) : 0;

    json_object_object_add(p, DROVER_SK_QUEUE_WAIT_MS,
                           json_object_new_double(waited > 0
                               ? (double) wait_ms / (double) waited : 0));
    json_object_object_add(p, DROVER_SK_DISPATCH, json_object_get(d));
}


void
drover_status_merge_dispatch(json_object *status, json_object *queues)
{
    size_t        i, j, n, np;
    json_object  *pools, *q, *p, *v, *listen, *d;

    if (queues == NULL || !json_object_is_type(queues, json_type_array)
        || !json_object_object_get_ex(status, DROVER_SK_POOLS, &pools)
        || !json_object_is_type(pools, json_type_array))
    {
        return;
    }

    n = json_object_array_length(queues);
    np = json_object_array_length(pools);

    for (i = 0; i < n && i < STATUS_QUEUES_MAX; i++) {
        q = json_object_array_get_idx(queues, i);

        if (!json_object_is_type(q, json_type_object)
            || !json_object_object_get_ex(q, DROVER_SK_LISTEN, &listen)
            || !json_object_is_type(listen, json_type_string))
        {
            continue;
        }

        d = dispatch_object(q);

        for (j = 0; j < np; j++) {
            p = json_object_array_get_idx(pools, j);

            if (json_object_object_get_ex(p, DROVER_SK_LISTEN, &v)
                && json_object_is_type(v, json_type_string)
                && strcmp(json_object_get_string(v),
                          json_object_get_string(listen)) == 0)
            {
                dispatch_add(p, d);
                break;
            }
        }

        json_object_put(d);
    }
}


/* the fields of TO's KEYS that FROM has as a whole number >= 0 or a string */
static void
copy_fields(json_object *to, json_object *from, const char *const *keys,
            size_t nkeys)
{
    size_t        j;
    json_object  *v;

    for (j = 0; j < nkeys; j++) {
        if (!json_object_object_get_ex(from, keys[j], &v)) {
            continue;
        }

        if (json_object_is_type(v, json_type_int)
            && json_object_get_int64(v) >= 0)
        {
            json_object_object_add(to, keys[j],
                                   json_object_new_int64(
                                       json_object_get_int64(v)));

        } else if (json_object_is_type(v, json_type_string)
                   && json_object_get_string_len(v) <= STATUS_STRING_MAX)
        {
            json_object_object_add(to, keys[j], json_object_new_string(
                                   json_object_get_string(v)));
        }
    }
}


void
drover_status_merge_groups(json_object *status, json_object *groups)
{
    size_t        i, j, n, nh;
    json_object  *out, *g, *c, *hosts, *chosts, *h, *ch, *v;

    static const char *const  gkeys[] = {
        DROVER_SK_NAME, "slots", "up", "busy", "inflight", DROVER_SK_QUEUED,
        DROVER_SK_REQUESTS, DROVER_SK_WAITED, DROVER_SK_OVERFLOWS,
        DROVER_SK_TIMEOUTS, DROVER_SK_REPLAYS, DROVER_SK_FAILURES
    };

    static const char *const  hkeys[] = {
        "server", "pool", DROVER_SK_STATE, DROVER_SK_GENERATION, "slots",
        "up", "busy", "port", "answered_ms_ago", "since", "state_ms",
        "probes", "probe_failures", "error"
    };

    if (status == NULL || groups == NULL
        || !json_object_is_type(groups, json_type_array))
    {
        return;
    }

    out = json_object_new_array();
    n = json_object_array_length(groups);

    for (i = 0; i < n && i < STATUS_GROUPS_MAX; i++) {
        g = json_object_array_get_idx(groups, i);

        if (!json_object_is_type(g, json_type_object)
            || !json_object_object_get_ex(g, DROVER_SK_NAME, &v)
            || !json_object_is_type(v, json_type_string))
        {
            continue;
        }

        c = json_object_new_object();
        copy_fields(c, g, gkeys, sizeof(gkeys) / sizeof(gkeys[0]));

        chosts = json_object_new_array();
        hosts = NULL;

        if (json_object_object_get_ex(g, "hosts", &hosts)
            && json_object_is_type(hosts, json_type_array))
        {
            nh = json_object_array_length(hosts);

            for (j = 0; j < nh && j < STATUS_GROUPS_MAX; j++) {
                h = json_object_array_get_idx(hosts, j);

                if (!json_object_is_type(h, json_type_object)) {
                    continue;
                }

                ch = json_object_new_object();
                copy_fields(ch, h, hkeys, sizeof(hkeys) / sizeof(hkeys[0]));
                json_object_array_add(chosts, ch);
            }
        }

        json_object_object_add(c, "hosts", chosts);
        json_object_array_add(out, c);
    }

    /* an nginx without drover_group adds nothing */

    if (json_object_array_length(out) == 0) {
        json_object_put(out);
        return;
    }

    json_object_object_add(status, "groups", out);
}
