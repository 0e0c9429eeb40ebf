/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * memory.c -- sampling workers (memory, CPU, scoreboard), memory_limit
 * and memory_budget.
 */

#include "manager_int.h"
#include "exec.h"
#include "log.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>


/* ---- memory ---- */

/* /proc/PID/NAME into buf, NUL-terminated: procfs reads never block */
static int
proc_file_read(pid_t pid, const char *name, char *buf, size_t size)
{
    int      fd;
    char     path[64];
    ssize_t  n;

    snprintf(path, sizeof(path), "/proc/%ld/%s", (long) pid, name);

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return -errno;
    }

    n = read(fd, buf, size - 1);
    close(fd);

    if (n <= 0) {
        return -EIO;
    }

    buf[n] = '\0';
    return 0;
}


/* Rss, Pss and USS (Private_Clean + Private_Dirty + Swap) in bytes */
int
drover_memory_read(pid_t pid, unsigned long long *rss, unsigned long long *pss,
    unsigned long long *uss)
{
    char                buf[4096], *line, *end;
    unsigned long long  kb;

    if (proc_file_read(pid, "smaps_rollup", buf, sizeof(buf)) != 0) {
        return -EIO;
    }

    *rss = *pss = *uss = 0;

    for (line = buf; line != NULL && *line != '\0'; line = end) {
        end = strchr(line, '\n');
        if (end != NULL) {
            *end++ = '\0';
        }

        if (sscanf(line, "%*[^:]: %llu kB", &kb) != 1) {
            continue;
        }

        if (strncmp(line, "Rss:", 4) == 0) {
            *rss = kb * 1024;
        } else if (strncmp(line, "Pss:", 4) == 0) {
            *pss = kb * 1024;
        } else if (strncmp(line, "Private_Clean:", 14) == 0
                   || strncmp(line, "Private_Dirty:", 14) == 0
                   || strncmp(line, "Swap:", 5) == 0)
        {
            *uss += kb * 1024;
        }
    }

    return 0;
}


/* utime + stime of pid, in clock ticks */
static int
cpu_read(pid_t pid, unsigned long long *ticks)
{
    char                buf[1024], *p;
    unsigned long long  ut, st;

    if (proc_file_read(pid, "stat", buf, sizeof(buf)) != 0) {
        return -EIO;
    }

    /* the name in parentheses may hold anything: start after the last ')' */
    p = strrchr(buf, ')');
    if (p == NULL
        || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                  "%llu %llu", &ut, &st) != 2)
    {
        return -EIO;
    }

    *ticks = ut + st;
    return 0;
}


/*
 * The worker's scoreboard entry as it is now: a seqlock read, no syscall.
 * Display data written by the tenant's code (scoreboard.h): an entry that
 * does not name this slot's verified pid is ignored (the last good copy
 * stays), the rest is clamped against that copy.
 */
void
drover_slot_read_sb(drover_slot_t *s)
{
    drover_pool_t     *p = s->pool;
    drover_sb_slot_t   copy;

    if (p->sb == NULL || s->pid <= 0
        || drover_sb_read(&p->sb->slots[s->index], &copy) != 0
        || copy.pid != s->pid)
    {
        return;
    }

    s->sb_clamped += drover_sb_sanitize(&copy, &s->sb,
                                        s->started_ms * 1000,
                                        drover_sb_now_us());
    s->sb = copy;
}


static void
slot_sample_stats(drover_slot_t *s)
{
    unsigned            i;
    unsigned long long  ticks, busy;

    drover_slot_read_sb(s);

    if (cpu_read(s->pid, &ticks) != 0) {
        return;
    }

    busy = s->sb.busy_us;
    if (s->sb.state == DROVER_SB_BUSY && s->sb.request_start_us != 0) {
        unsigned long long  now = drover_sb_now_us();

        if (now > s->sb.request_start_us) {
            busy += now - s->sb.request_start_us;
        }
    }

    i = s->ring_pos;
    s->ring[i].t_ms = drover_proc_now_ms();
    s->ring[i].cpu_ticks = ticks;
    s->ring[i].busy_us = busy;
    s->ring[i].requests = s->sb.requests;
    s->ring_pos = (i + 1) % DROVER_SAMPLES;

    if (s->ring_n < DROVER_SAMPLES) {
        s->ring_n++;
    }
}


static void
slot_sample(drover_slot_t *s)
{
    drover_pool_conf_t  *pc;

    if (s->state != SLOT_RUNNING || s->gen == NULL
        || drover_memory_read(s->pid, &s->rss, &s->pss, &s->uss) != 0)
    {
        return;
    }

    drover_exec_sample(s);
    slot_sample_stats(s);

    pc = s->gen->conf;

    if (pc->memory_limit_hard != 0 && s->uss > pc->memory_limit_hard) {
        drover_log_error(DROVER_LOG_WARN, 0, "pool %s: worker %u (pid %ld) "
                         "uses %llu MiB of private memory, over "
                         "memory_limit_hard %llu MiB: killing it",
                         s->pool->name, s->index, (long) s->pid,
                         s->uss >> 20, pc->memory_limit_hard >> 20);
        drover_slot_stop(s, EXIT_MEMORY_HARD, SIGKILL);
        return;
    }

    if (pc->memory_limit != 0 && s->uss > pc->memory_limit
        && s->stop_reason == -1)
    {
        drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: worker %u (pid %ld) "
                         "uses %llu MiB of private memory, over memory_limit "
                         "%llu MiB: recycling it after its current request",
                         s->pool->name, s->index, (long) s->pid,
                         s->uss >> 20, pc->memory_limit >> 20);
        drover_slot_stop(s, EXIT_MEMORY, SIGTERM);
    }
}


/* memory the other pools use now: preloaders (shared) and workers (USS) */
static unsigned long long
manager_memory_used(drover_manager_t *m, drover_pool_t *except)
{
    unsigned            k;
    drover_gen_t       *g;
    drover_pool_t      *p;
    unsigned long long  sum, rss, pss, uss;

    sum = 0;

    for (p = m->pools; p != NULL; p = p->next) {
        if (p == except) {
            continue;
        }

        for (g = p->gens; g != NULL; g = g->next) {
            if (g->pid > 0
                && drover_memory_read(g->pid, &rss, &pss, &uss) == 0)
            {
                sum += rss;
            }
        }

        for (k = 0; k < p->nslots; k++) {
            sum += p->slots[k]->uss;
        }
    }

    return sum;
}


/*
 * How many workers fit in budget bytes: the preloaded state (shared) is
 * counted once, then each worker's private bytes; at least one (the pool
 * must serve), at most one per core.
 */
unsigned
drover_budget_workers(unsigned long long budget, unsigned long long shared,
    unsigned long long each, unsigned cores)
{
    unsigned long long  n;

    n = budget > shared && each > 0 ? (budget - shared) / each : 0;

    return n < 1 ? 1 : (n > cores ? cores : (unsigned) n);
}


/*
 * workers auto under memory_budget: once slot 0 has run a second, count
 * the preloaded state once (the preloader's resident memory, shared by
 * every worker copy-on-write) and each worker's private memory (measured,
 * or memory_limit when larger), and start only the workers that fit.
 */
static void
pool_budget(drover_pool_t *p)
{
    unsigned            n, cores;
    drover_slot_t      *s0 = p->slots[0];
    drover_pool_conf_t *pc = p->cur->conf;
    unsigned long long  budget, shared, each, rss, pss, uss, other;
    const char         *scope;

    if (s0->state != SLOT_RUNNING || s0->uss == 0
        || drover_proc_now_ms() - s0->started_ms < DROVER_RESTART_STABLE_MS)
    {
        return;
    }

    shared = 0;
    if (pc->preload && p->cur->pid > 0
        && drover_memory_read(p->cur->pid, &rss, &pss, &uss) == 0)
    {
        shared = rss;
    }

    each = s0->uss;
    if (pc->memory_limit > each) {
        each = pc->memory_limit;
    }

    if (pc->memory_budget != 0) {
        budget = pc->memory_budget;
        scope = "the pool's memory_budget";
    } else {
        other = manager_memory_used(p->mgr, p);
        budget = p->mgr->ref->conf->memory_budget;
        budget = budget > other ? budget - other : 0;
        scope = "what is left of the global memory_budget";
    }

    cores = pc->workers;
    n = drover_budget_workers(budget, shared, each, cores);

    p->budget_wait = 0;

    if (n < cores) {
        drover_log_error(DROVER_LOG_WARN, 0, "pool %s: \"workers auto\" "
                         "would start %u workers (one per core), but %s "
                         "(%llu MiB) fits only %u: the preloaded state "
                         "(%llu MiB) is counted once, shared by all "
                         "workers, plus %llu MiB private memory for each "
                         "worker; starting %u", p->name, cores, scope,
                         budget >> 20, n, shared >> 20, each >> 20, n);
        (void) drover_pool_resize(p, pc, n);
    } else {
        drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: %u workers fit in "
                         "%s (%llu MiB: %llu MiB preloaded once + %llu MiB "
                         "each)", p->name, cores, scope, budget >> 20,
                         shared >> 20, each >> 20);
    }

    drover_pool_roll(p);

    for (n = 0; n < p->nslots; n++) {
        drover_slot_start(p->slots[n]);
    }
}


void
drover_sample_timer_cb(uv_timer_t *t)
{
    unsigned            k, stable;
    drover_pool_t      *p;
    drover_manager_t   *m = t->data;
    unsigned long long  now = drover_proc_now_ms();

    for (p = m->pools; p != NULL; p = p->next) {
        stable = 0;

        for (k = 0; k < p->nslots; k++) {
            drover_slot_t  *s = p->slots[k];

            slot_sample(s);

            if (s->state == SLOT_RUNNING
                && now - s->started_ms >= DROVER_RESTART_STABLE_MS)
            {
                stable++;
            }
        }

        if (p->budget_wait && p->cur != NULL && p->nslots > 0) {
            pool_budget(p);
        }

        if (p->health == POOL_FAILING && stable == p->nslots
            && p->nslots > 0)
        {
            drover_pool_set_health(p, POOL_HEALTHY, "every worker runs");
            drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: every worker "
                             "runs again: no longer failing", p->name);
        }
    }
}
