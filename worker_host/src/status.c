/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * status.c -- the status object: droverd, its pools and their workers as
 * JSON, for droverctl, the control socket and the nginx status page.
 */

#include "manager_int.h"
#include "status_keys.h"
#include "proc.h"
#include "scoreboard.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>


/* deltas between the newest sample and the one `back` samples older */
static int
slot_window(drover_slot_t *s, unsigned back, unsigned long long *dt_ms,
    unsigned long long *dcpu, unsigned long long *dbusy_us,
    unsigned long long *dreq)
{
    unsigned  newest, older;

    if (s->state != SLOT_RUNNING || s->ring_n < 2) {
        return -1;
    }

    if (back > s->ring_n - 1) {
        back = s->ring_n - 1;
    }

    newest = (s->ring_pos + DROVER_SAMPLES - 1) % DROVER_SAMPLES;
    older = (newest + DROVER_SAMPLES - back) % DROVER_SAMPLES;

    *dt_ms = s->ring[newest].t_ms - s->ring[older].t_ms;
    *dcpu = s->ring[newest].cpu_ticks - s->ring[older].cpu_ticks;
    *dbusy_us = s->ring[newest].busy_us >= s->ring[older].busy_us
                ? s->ring[newest].busy_us - s->ring[older].busy_us : 0;
    *dreq = s->ring[newest].requests >= s->ring[older].requests
            ? s->ring[newest].requests - s->ring[older].requests : 0;

    /*
     * Busy time and requests come from the scoreboard (display data): one
     * request at a time, so never busier than the window is long, and at
     * most one request per microsecond.
     */
    if (*dbusy_us > *dt_ms * 1000) {
        *dbusy_us = *dt_ms * 1000;
    }

    if (*dreq > *dt_ms * 1000) {
        *dreq = *dt_ms * 1000;
    }

    return *dt_ms > 0 ? 0 : -1;
}


static double
cpu_percent(unsigned long long dcpu, unsigned long long dt_ms)
{
    long    hz = sysconf(_SC_CLK_TCK);
    long    cores = sysconf(_SC_NPROCESSORS_ONLN);
    double  pct;

    if (hz <= 0 || dt_ms == 0) {
        return 0;
    }

    /* the kernel's ticks, but sampled at two moments: at most every core */
    pct = (double) dcpu * 100.0 * 1000.0 / ((double) hz * (double) dt_ms);
    cores = cores > 0 ? cores : 1;

    return pct > 100.0 * cores ? 100.0 * cores : pct;
}


static const char *
slot_state_name(drover_slot_t *s)
{
    switch (s->state) {

    case SLOT_EMPTY:
    case SLOT_BACKOFF:
        return "empty";

    case SLOT_FORKING:
        return "starting";

    case SLOT_STOPPING:
        return "stopping";

    default:
        break;
    }

    switch (s->sb.state) {

    case DROVER_SB_IDLE:
        return "idle";

    case DROVER_SB_BUSY:
        return "busy";

    case DROVER_SB_STOPPING:
        return "stopping";

    default:
        return "starting";
    }
}


static json_object *
slot_json(drover_slot_t *s)
{
    int                 i;
    json_object        *o, *exits;
    unsigned long long  now, dt, dcpu, dbusy, dreq;

    now = drover_proc_now_ms();
    o = json_object_new_object();

    json_object_object_add(o, DROVER_SK_SLOT,
                           json_object_new_int((int) s->index));
    json_object_object_add(o, DROVER_SK_PID, s->pid > 0
                           ? json_object_new_int(s->pid) : NULL);
    json_object_object_add(o, DROVER_SK_GENERATION, s->gen
                           ? json_object_new_int((int) s->gen->id) : NULL);
    json_object_object_add(o, DROVER_SK_STATE,
                           json_object_new_string(slot_state_name(s)));
    json_object_object_add(o, DROVER_SK_REQUESTS,
                           json_object_new_int64((int64_t) s->sb.requests));

    if (s->state == SLOT_RUNNING && s->sb.state == DROVER_SB_BUSY) {
        unsigned long long  us = drover_sb_now_us();

        json_object_object_add(o, DROVER_SK_CURRENT_URI,
                               json_object_new_string(s->sb.uri));
        json_object_object_add(o, DROVER_SK_CURRENT_MS, json_object_new_int64(
            us > s->sb.request_start_us
            ? (int64_t) ((us - s->sb.request_start_us) / 1000) : 0));
    } else {
        json_object_object_add(o, DROVER_SK_CURRENT_URI, NULL);
        json_object_object_add(o, DROVER_SK_CURRENT_MS, NULL);
    }

    if (slot_window(s, 1, &dt, &dcpu, &dbusy, &dreq) == 0) {
        json_object_object_add(o, DROVER_SK_CPU_PERCENT_1S,
                               json_object_new_double(cpu_percent(dcpu, dt)));
    } else {
        json_object_object_add(o, DROVER_SK_CPU_PERCENT_1S, NULL);
    }

    if (slot_window(s, DROVER_SAMPLES - 1, &dt, &dcpu, &dbusy, &dreq) == 0) {
        json_object_object_add(o, DROVER_SK_CPU_PERCENT_1M,
                               json_object_new_double(cpu_percent(dcpu, dt)));
    } else {
        json_object_object_add(o, DROVER_SK_CPU_PERCENT_1M, NULL);
    }

    if (s->ring_n > 0) {
        long  hz = sysconf(_SC_CLK_TCK);
        unsigned  newest = (s->ring_pos + DROVER_SAMPLES - 1)
                           % DROVER_SAMPLES;

        json_object_object_add(o, DROVER_SK_CPU_SECONDS_TOTAL,
            json_object_new_double(hz > 0 ? (double) s->ring[newest].cpu_ticks
                                            / (double) hz : 0));
    } else {
        json_object_object_add(o, DROVER_SK_CPU_SECONDS_TOTAL, NULL);
    }

    json_object_object_add(o, DROVER_SK_RSS_BYTES, json_object_new_int64(
                           (int64_t) s->rss));
    json_object_object_add(o, DROVER_SK_PSS_BYTES, json_object_new_int64(
                           (int64_t) s->pss));
    json_object_object_add(o, DROVER_SK_USS_BYTES, json_object_new_int64(
                           (int64_t) s->uss));
    json_object_object_add(o, DROVER_SK_UPTIME_MS, s->pid > 0
                           ? json_object_new_int64(
                                 (int64_t) (now - s->started_ms))
                           : NULL);
    json_object_object_add(o, DROVER_SK_RESTARTS, json_object_new_int64(
                           (int64_t) s->restarts));

    exits = json_object_new_object();
    for (i = 0; i < EXIT_NREASONS; i++) {
        json_object_object_add(exits, drover_exit_reason_names[i],
                               json_object_new_int64((int64_t) s->exits[i]));
    }
    json_object_object_add(o, DROVER_SK_EXITS, exits);

    json_object_object_add(o, DROVER_SK_LAST_EXIT, s->last_exit[0]
                           ? json_object_new_string(s->last_exit) : NULL);

    /* scoreboard fields droverd had to correct: a worker wrote garbage */
    json_object_object_add(o, DROVER_SK_SCOREBOARD_CLAMPED,
                           json_object_new_int64((int64_t) s->sb_clamped));

    return o;
}


static void
pool_advice(drover_pool_t *p, double busy, int have, char *buf, size_t size)
{
    unsigned             pct, want, mid;
    drover_pool_conf_t  *pc = drover_pool_conf(p);

    if (!have) {
        snprintf(buf, size, "not enough data yet");
        return;
    }

    pct = (unsigned) (busy * 100.0 + 0.5);

    if (pct > pc->busy_high) {
        snprintf(buf, size, "busy %u%%: add workers or a server", pct);
        return;
    }

    if (pct < pc->busy_low) {
        /* the workers that would put the pool in the middle of its band */
        mid = (pc->busy_low + pc->busy_high) / 2;
        want = (unsigned) (busy * 100.0 * p->nslots / mid + 0.999);
        want = want < 1 ? 1 : want;

        if (want < p->nslots) {
            snprintf(buf, size, "busy %u%%: %u worker%s would do", pct, want,
                     want == 1 ? "" : "s");
        } else {
            snprintf(buf, size, "busy %u%%: below the %u-%u%% band", pct,
                     pc->busy_low, pc->busy_high);
        }
        return;
    }

    snprintf(buf, size, "busy %u%%: within the %u-%u%% band", pct,
             pc->busy_low, pc->busy_high);
}


static json_object *
pool_json(drover_pool_t *p)
{
    int                  have;
    char                 advice[128];
    unsigned             k;
    json_object         *o, *workers, *ps;
    drover_pool_conf_t  *pc = drover_pool_conf(p);
    unsigned long long   dt, dcpu, dbusy, dreq, sum_dt, sum_busy, total;
    unsigned long long   rss, pss, uss, shared, private_bytes, budget;
    double               rps;

    o = json_object_new_object();
    workers = json_object_new_array();

    sum_dt = 0;
    sum_busy = 0;
    rps = 0;
    total = 0;
    private_bytes = 0;
    have = 0;

    for (k = 0; k < p->nslots; k++) {
        drover_slot_t  *s = p->slots[k];

        /* what runs now, not at the last sample */
        if (s->state == SLOT_RUNNING) {
            drover_slot_read_sb(s);
        }

        json_object_array_add(workers, slot_json(s));

        total += s->requests_done + s->sb.requests;
        private_bytes += s->uss;

        if (slot_window(s, DROVER_SAMPLES - 1, &dt, &dcpu, &dbusy, &dreq)
            == 0)
        {
            sum_dt += dt;
            sum_busy += dbusy / 1000;
            rps += (double) dreq * 1000.0 / (double) dt;
            have = 1;
        }
    }

    shared = 0;
    if (p->cur != NULL && p->cur->pid > 0
        && drover_memory_read(p->cur->pid, &rss, &pss, &uss) == 0)
    {
        shared = rss;
    }

    budget = pc->memory_budget ? pc->memory_budget
                               : p->mgr->ref->conf->memory_budget;

    json_object_object_add(o, DROVER_SK_NAME, json_object_new_string(p->name));
    json_object_object_add(o, DROVER_SK_GENERATION, p->cur
                           ? json_object_new_int((int) p->cur->id) : NULL);
    json_object_object_add(o, DROVER_SK_LISTEN,
                           json_object_new_string(pc->listen.path));
    json_object_object_add(o, DROVER_SK_WORKERS,
                           json_object_new_int((int) p->nslots));
    json_object_object_add(o, DROVER_SK_STATE,
                           json_object_new_string(
                               drover_pool_public_state(p)));
    json_object_object_add(o, DROVER_SK_REQUESTS_TOTAL,
                           json_object_new_int64((int64_t) total));
    json_object_object_add(o, DROVER_SK_REQUESTS_PER_S, have
                           ? json_object_new_double(rps) : NULL);
    json_object_object_add(o, DROVER_SK_BUSY_FRACTION_1M, have && sum_dt
                           ? json_object_new_double((double) sum_busy
                                                    / (double) sum_dt)
                           : NULL);
    json_object_object_add(o, DROVER_SK_BUSY_TARGET_LOW,
                           json_object_new_double(pc->busy_low / 100.0));
    json_object_object_add(o, DROVER_SK_BUSY_TARGET_HIGH,
                           json_object_new_double(pc->busy_high / 100.0));

    pool_advice(p, sum_dt ? (double) sum_busy / (double) sum_dt : 0,
                have && sum_dt, advice, sizeof(advice));
    json_object_object_add(o, DROVER_SK_ADVICE,
                           json_object_new_string(advice));

    json_object_object_add(o, DROVER_SK_MEMORY_SHARED_BYTES,
                           json_object_new_int64((int64_t) shared));
    json_object_object_add(o, DROVER_SK_MEMORY_PRIVATE_BYTES,
                           json_object_new_int64((int64_t) private_bytes));
    json_object_object_add(o, DROVER_SK_MEMORY_BUDGET_BYTES,
                           json_object_new_int64((int64_t) budget));

    /* filled in by the nginx module's dispatch (a later issue) */
    json_object_object_add(o, DROVER_SK_QUEUE_DEPTH, NULL);
    json_object_object_add(o, DROVER_SK_QUEUE_WAIT_MS, NULL);

    if (p->prestart_ran && p->prestart_last.ncommands > 0) {
        ps = json_object_new_object();
        json_object_object_add(ps, DROVER_SK_STARTED_UNIX_MS,
            json_object_new_int64(p->prestart_last.started_unix_ms));
        json_object_object_add(ps, DROVER_SK_DURATION_MS,
            json_object_new_int64((int64_t) p->prestart_last.duration_ms));
        json_object_object_add(ps, DROVER_SK_STATUS,
                               json_object_new_int(p->prestart_last.status));
        json_object_object_add(ps, DROVER_SK_MESSAGE,
                               json_object_new_string(
                                   p->prestart_last.message));
        json_object_object_add(o, DROVER_SK_PRESTART, ps);
    } else {
        json_object_object_add(o, DROVER_SK_PRESTART, NULL);
    }

    json_object_object_add(o, DROVER_SK_WORKERS_DETAIL, workers);

    return o;
}


drover_pool_t *
drover_manager_pool(drover_manager_t *m, const char *name)
{
    drover_pool_t  *p;

    for (p = m->pools; p != NULL; p = p->next) {
        if (!drover_pool_removing(p) && strcmp(p->name, name) == 0) {
            return p;
        }
    }

    return NULL;
}


json_object *
drover_status_build(void *data, const char *pool, char *err, size_t errlen)
{
    json_object       *o, *d, *pools;
    drover_pool_t     *p;
    drover_manager_t  *m = data;

    if (pool != NULL && drover_manager_pool(m, pool) == NULL) {
        snprintf(err, errlen, "no pool \"%s\"", pool);
        return NULL;
    }

    o = json_object_new_object();
    d = json_object_new_object();
    pools = json_object_new_array();

    json_object_object_add(d, DROVER_SK_VERSION,
                           json_object_new_string(DROVER_VERSION));
    json_object_object_add(d, DROVER_SK_PID, json_object_new_int(m->pid));
    json_object_object_add(d, DROVER_SK_UPTIME_MS, json_object_new_int64(
        (int64_t) (drover_proc_now_ms() - m->started_ms)));
    json_object_object_add(d, DROVER_SK_CONFIG,
                           json_object_new_string(m->path));
    json_object_object_add(o, DROVER_SK_DROVERD, d);

    for (p = m->pools; p != NULL; p = p->next) {
        if (!drover_pool_removing(p)
            && (pool == NULL || strcmp(p->name, pool) == 0))
        {
            json_object_array_add(pools, pool_json(p));
        }
    }

    json_object_object_add(o, DROVER_SK_POOLS, pools);

    return o;
}
