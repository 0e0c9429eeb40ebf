/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * status_keys.h -- every key of the status object, in one place: the
 * builder (status.c), the merge of nginx's numbers (control.c), the
 * renderers (render_prom.c, render_html.c) and droverctl use these names.
 * docs/status.md says what each one means; extend, never rename.
 */

#ifndef DROVER_STATUS_KEYS_H
#define DROVER_STATUS_KEYS_H

/* the top level: {"droverd": {...}, "pools": [...]} */
#define DROVER_SK_DROVERD               "droverd"
#define DROVER_SK_POOLS                 "pools"

/* "droverd" (and the "version" command's answer: version, pid) */
#define DROVER_SK_VERSION               "version"
#define DROVER_SK_PID                   "pid"
#define DROVER_SK_UPTIME_MS             "uptime_ms"
#define DROVER_SK_CONFIG                "config"
#define DROVER_SK_PROTOCOL              "protocol"      /* "version" only */

/* a pool */
#define DROVER_SK_NAME                  "name"
#define DROVER_SK_GENERATION            "generation"    /* worker too */
#define DROVER_SK_LISTEN                "listen"
#define DROVER_SK_WORKERS               "workers"
#define DROVER_SK_STATE                 "state"         /* worker too */
#define DROVER_SK_REQUESTS_TOTAL        "requests_total"
#define DROVER_SK_REQUESTS_PER_S        "requests_per_s"
#define DROVER_SK_BUSY_FRACTION_1M      "busy_fraction_1m"
#define DROVER_SK_BUSY_TARGET_LOW       "busy_target_low"
#define DROVER_SK_BUSY_TARGET_HIGH      "busy_target_high"
#define DROVER_SK_ADVICE                "advice"
#define DROVER_SK_MEMORY_SHARED_BYTES   "memory_shared_bytes"
#define DROVER_SK_MEMORY_PRIVATE_BYTES  "memory_private_bytes"
#define DROVER_SK_MEMORY_BUDGET_BYTES   "memory_budget_bytes"
#define DROVER_SK_QUEUE_DEPTH           "queue_depth"   /* from nginx */
#define DROVER_SK_QUEUE_WAIT_MS         "queue_wait_ms" /* from nginx */
#define DROVER_SK_DISPATCH              "dispatch"      /* from nginx */
#define DROVER_SK_PRESTART              "prestart"
#define DROVER_SK_WORKERS_DETAIL        "workers_detail"

/* a pool's "state" */
#define DROVER_SV_SERVING               "serving"
#define DROVER_SV_STARTING              "starting"      /* worker too */
#define DROVER_SV_RELOADING             "reloading"
#define DROVER_SV_FAILING               "failing"

/* "prestart": the last run of the pool's prestart steps */
#define DROVER_SK_STARTED_UNIX_MS       "started_unix_ms"
#define DROVER_SK_DURATION_MS           "duration_ms"
#define DROVER_SK_STATUS                "status"
#define DROVER_SK_MESSAGE               "message"

/* a worker slot, in "workers_detail" (and pid, generation, state,
   uptime_ms above) */
#define DROVER_SK_SLOT                  "slot"
#define DROVER_SK_REQUESTS              "requests"      /* dispatch too */
#define DROVER_SK_CURRENT_URI           "current_uri"
#define DROVER_SK_CURRENT_MS            "current_ms"
#define DROVER_SK_CPU_PERCENT_1S        "cpu_percent_1s"
#define DROVER_SK_CPU_PERCENT_1M        "cpu_percent_1m"
#define DROVER_SK_CPU_SECONDS_TOTAL     "cpu_seconds_total"
#define DROVER_SK_RSS_BYTES             "rss_bytes"
#define DROVER_SK_PSS_BYTES             "pss_bytes"
#define DROVER_SK_USS_BYTES             "uss_bytes"
#define DROVER_SK_RESTARTS              "restarts"
#define DROVER_SK_EXITS                 "exits"         /* by reason: the
                                                           manager's exit
                                                           reason names */
#define DROVER_SK_LAST_EXIT             "last_exit"
#define DROVER_SK_SCOREBOARD_CLAMPED    "scoreboard_clamped"

/* a worker's "state" */
#define DROVER_SV_IDLE                  "idle"
#define DROVER_SV_BUSY                  "busy"
#define DROVER_SV_STOPPING              "stopping"
#define DROVER_SV_EMPTY                 "empty"

/*
 * "dispatch": what nginx's dispatch counted for the pool, sent along with
 * a status request as "queues":[{"listen":PATH, ...}] and merged into the
 * pool that listens on PATH (control.c).
 */
#define DROVER_SK_QUEUES                "queues"        /* the request's */
#define DROVER_SK_QUEUED                "queued"
#define DROVER_SK_WAITED                "waited"
#define DROVER_SK_WAIT_MS               "wait_ms"
#define DROVER_SK_WAIT_MAX_MS           "wait_max_ms"
#define DROVER_SK_OVERFLOWS             "overflows"
#define DROVER_SK_TIMEOUTS              "timeouts"
#define DROVER_SK_REPLAYS               "replays"
#define DROVER_SK_FAILURES              "failures"
#define DROVER_SK_PIPELINED             "pipelined"
#define DROVER_SK_MOVED                 "moved"

#endif /* DROVER_STATUS_KEYS_H */
