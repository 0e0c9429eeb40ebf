/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_lifecycle.c -- the manager's, pools' and slots' state tables
 * (lifecycle.c): every transition allowed or refused as HACKING.md draws
 * it, and the set_state functions log a change and refuse an illegal one.
 *
 * The log (stderr) goes to a temp file, read back by the checks.
 */

#include "manager_int.h"
#include "log.h"
#include "tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static char  log_path[] = "/tmp/test_lifecycle.XXXXXX";
static int   log_fd = -1;


/* what the log got since the last call, NUL-terminated */
static const char *
log_take(void)
{
    static char  buf[8192];
    ssize_t      n;

    n = pread(log_fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';

    if (ftruncate(log_fd, 0) != 0) {
        buf[0] = '\0';
    }

    (void) lseek(log_fd, 0, SEEK_SET);
    return buf;
}


#define B(s)  (1u << (s))

/* the tables as HACKING.md draws them: from -> the states it may go to */
static const unsigned  pool_expect[POOL_NSTATES] = {
    [POOL_STARTING]     = B(POOL_SERVING) | B(POOL_START_FAILED)
                          | B(POOL_STOPPED) | B(POOL_REMOVING),
    [POOL_START_FAILED] = B(POOL_SERVING) | B(POOL_STOPPED) | B(POOL_STARTING)
                          | B(POOL_REMOVING),
    [POOL_SERVING]      = B(POOL_LOADING) | B(POOL_STOPPED)
                          | B(POOL_REMOVING),
    [POOL_LOADING]      = B(POOL_SERVING) | B(POOL_CANARY) | B(POOL_REMOVING),
    [POOL_CANARY]       = B(POOL_ROLLING) | B(POOL_SERVING) | B(POOL_REMOVING),
    [POOL_ROLLING]      = B(POOL_SERVING) | B(POOL_REMOVING),
    [POOL_STOPPED]      = B(POOL_STARTING) | B(POOL_REMOVING),
    [POOL_REMOVING]     = B(POOL_GONE),
    [POOL_GONE]         = 0,
};

static const unsigned  slot_expect[SLOT_NSTATES] = {
    [SLOT_EMPTY]    = B(SLOT_FORKING) | B(SLOT_RUNNING) | B(SLOT_BACKOFF),
    [SLOT_BACKOFF]  = B(SLOT_EMPTY),
    [SLOT_FORKING]  = B(SLOT_RUNNING) | B(SLOT_EMPTY),
    [SLOT_RUNNING]  = B(SLOT_STOPPING) | B(SLOT_EMPTY),
    [SLOT_STOPPING] = B(SLOT_EMPTY),
};

static const unsigned  scale_expect[SLOT_NSCALES] = {
    [SLOT_KEPT]    = B(SLOT_LEAVING) | B(SLOT_LEFT),
    [SLOT_LEAVING] = B(SLOT_LEFT) | B(SLOT_KEPT),
    [SLOT_LEFT]    = B(SLOT_KEPT),
};

static const unsigned  gen_expect[GEN_NSTATES] = {
    [GEN_NONE]    = B(GEN_LOADING),
    [GEN_LOADING] = B(GEN_READY) | B(GEN_NONE),
    [GEN_READY]   = B(GEN_NONE),
};

static const unsigned  manager_expect[MANAGER_NSTATES] = {
    [MANAGER_STARTING] = B(MANAGER_SERVING) | B(MANAGER_STOPPING),
    [MANAGER_SERVING]  = B(MANAGER_STOPPING),
    [MANAGER_STOPPING] = 0,
};


static void
test_tables(void)
{
    unsigned  from, to, bad;

    bad = 0;
    for (from = 0; from < POOL_NSTATES; from++) {
        for (to = 0; to < POOL_NSTATES; to++) {
            if (drover_pool_state_next_ok(from, to)
                != ((pool_expect[from] & B(to)) != 0))
            {
                printf("# pool %s -> %s\n", drover_pool_state_name(from),
                       drover_pool_state_name(to));
                bad++;
            }
        }
    }
    ASSERT_EQ(bad, 0, "the pool's transition table");

    bad = 0;
    for (from = 0; from < SLOT_NSTATES; from++) {
        for (to = 0; to < SLOT_NSTATES; to++) {
            if (drover_slot_state_next_ok(from, to)
                != ((slot_expect[from] & B(to)) != 0))
            {
                printf("# slot %s -> %s\n", drover_slot_state_name(from),
                       drover_slot_state_name(to));
                bad++;
            }
        }
    }
    ASSERT_EQ(bad, 0, "the slot's transition table");

    bad = 0;
    for (from = 0; from < SLOT_NSCALES; from++) {
        for (to = 0; to < SLOT_NSCALES; to++) {
            if (drover_slot_scale_next_ok(from, to)
                != ((scale_expect[from] & B(to)) != 0))
            {
                bad++;
            }
        }
    }
    ASSERT_EQ(bad, 0, "the slot's scale table");

    bad = 0;
    for (from = 0; from < GEN_NSTATES; from++) {
        for (to = 0; to < GEN_NSTATES; to++) {
            if (drover_gen_state_next_ok(from, to)
                != ((gen_expect[from] & B(to)) != 0))
            {
                bad++;
            }
        }
    }
    ASSERT_EQ(bad, 0, "the preloader's table");

    bad = 0;
    for (from = 0; from < MANAGER_NSTATES; from++) {
        for (to = 0; to < MANAGER_NSTATES; to++) {
            if (drover_manager_state_next_ok(from, to)
                != ((manager_expect[from] & B(to)) != 0))
            {
                bad++;
            }
        }
    }
    ASSERT_EQ(bad, 0, "the manager's transition table");

    ASSERT_TRUE(!drover_pool_state_next_ok(POOL_NSTATES, POOL_SERVING)
                && !drover_pool_state_next_ok(POOL_SERVING, POOL_NSTATES),
                "a state out of range is no transition");
    ASSERT_STR_EQ(drover_pool_state_name(POOL_START_FAILED), "start_failed",
                  "pool state names");
    ASSERT_STR_EQ(drover_pool_state_name(POOL_NSTATES), "?",
                  "a name out of range");
    ASSERT_STR_EQ(drover_slot_state_name(SLOT_BACKOFF), "backoff",
                  "slot state names");
    ASSERT_STR_EQ(drover_manager_state_name(MANAGER_STOPPING), "stopping",
                  "manager state names");
    ASSERT_STR_EQ(drover_pool_health_name(POOL_FAILING), "failing",
                  "health names");
}


/* a whole reload's path, then what must be refused */
static void
test_pool_set_state(void)
{
    const char        *log;
    drover_pool_t      p;
    drover_manager_t  *m;

    m = calloc(1, sizeof(*m));
    memset(&p, 0, sizeof(p));
    p.mgr = m;
    p.name = "shop";

    ASSERT_EQ(p.state, POOL_STARTING, "a zeroed pool is starting");

    ASSERT_EQ(drover_pool_set_state(&p, POOL_SERVING, "first generation"), 0,
              "starting -> serving");
    log = log_take();
    ASSERT_TRUE(strstr(log, "[info] ") != NULL
                && strstr(log, "pool shop: starting -> serving (first "
                          "generation)\n") != NULL,
                "a transition is one info line with the reason");

    ASSERT_EQ(drover_pool_set_state(&p, POOL_LOADING, "reload"), 0,
              "serving -> loading");
    ASSERT_EQ(drover_pool_set_state(&p, POOL_CANARY, "ready"), 0,
              "loading -> canary");
    ASSERT_EQ(drover_pool_set_state(&p, POOL_ROLLING, "canary lived"), 0,
              "canary -> rolling");
    ASSERT_EQ(drover_pool_set_state(&p, POOL_SERVING, "rolled over"), 0,
              "rolling -> serving");
    (void) log_take();

    ASSERT_EQ(drover_pool_set_state(&p, POOL_SERVING, "again"), 0,
              "staying is no transition");
    ASSERT_STR_EQ(log_take(), "", "... and logs nothing");

    ASSERT_EQ(drover_pool_set_state(&p, POOL_ROLLING, "skip the canary"),
              -EINVAL, "serving -> rolling is refused");
    ASSERT_EQ(p.state, POOL_SERVING, "... and the state stays");
    log = log_take();
    ASSERT_TRUE(strstr(log, "[alert] ") != NULL
                && strstr(log, "pool shop: serving -> rolling (skip the "
                          "canary) is not a transition: refused") != NULL,
                "... logged at alert, naming both states");

    ASSERT_EQ(drover_pool_set_state(&p, POOL_REMOVING, "gone"), 0,
              "serving -> removing");
    ASSERT_EQ(drover_pool_set_state(&p, POOL_SERVING, "back"), -EINVAL,
              "a removed pool does not serve again");
    ASSERT_EQ(drover_pool_set_state(&p, POOL_GONE, "freed"), 0,
              "removing -> gone");
    ASSERT_EQ(drover_pool_set_state(&p, POOL_REMOVING, "again"), -EINVAL,
              "gone is the end");
    (void) log_take();

    ASSERT_EQ(drover_pool_set_health(&p, POOL_FAILING, "restart_limit"), 0,
              "healthy -> failing");
    ASSERT_TRUE(strstr(log_take(), "pool shop: healthy -> failing "
                       "(restart_limit)") != NULL, "... logged");
    ASSERT_EQ(drover_pool_set_health(&p, POOL_HEALTHY, "runs"), 0,
              "failing -> healthy");
    ASSERT_EQ(drover_pool_set_health(&p, POOL_NHEALTH, "?"), -EINVAL,
              "no health out of range");
    ASSERT_EQ(p.health, POOL_HEALTHY, "... and the health stays");
    (void) log_take();

    free(m);
}


static void
test_slot_gen_manager(void)
{
    const char        *log;
    drover_gen_t       g;
    drover_pool_t      p;
    drover_slot_t     *s;
    drover_manager_t  *m;

    m = calloc(1, sizeof(*m));
    s = calloc(1, sizeof(*s));
    memset(&p, 0, sizeof(p));
    memset(&g, 0, sizeof(g));
    p.mgr = m;
    p.name = "shop";
    s->pool = &p;
    s->index = 3;

    ASSERT_EQ(drover_slot_set_state(s, SLOT_FORKING, "asked"), 0,
              "empty -> forking");
    ASSERT_EQ(drover_slot_set_state(s, SLOT_RUNNING, "forked"), 0,
              "forking -> running");
    log = log_take();
    ASSERT_TRUE(strstr(log, "[debug] ") != NULL
                && strstr(log, "pool shop: worker 3: forking -> running "
                          "(forked)") != NULL,
                "a slot's transition is logged at debug");
    ASSERT_EQ(drover_slot_set_state(s, SLOT_BACKOFF, "early exit"), -EINVAL,
              "running -> backoff is refused: it empties first");
    ASSERT_TRUE(strstr(log_take(), "[alert] ") != NULL, "... at alert");
    ASSERT_EQ(drover_slot_set_state(s, SLOT_EMPTY, "exited"), 0,
              "running -> empty");
    ASSERT_EQ(drover_slot_set_state(s, SLOT_BACKOFF, "early exit"), 0,
              "empty -> backoff");
    ASSERT_EQ(drover_slot_set_state(s, SLOT_RUNNING, "spawn"), -EINVAL,
              "no worker starts during the backoff");
    ASSERT_EQ(s->state, SLOT_BACKOFF, "... and the slot waits on");
    (void) log_take();

    ASSERT_EQ(drover_slot_set_scale(s, SLOT_LEAVING, "scaled away"), 0,
              "kept -> leaving");
    ASSERT_TRUE(strstr(log_take(), "pool shop: slot 3: kept -> leaving "
                       "(scaled away)") != NULL, "... logged at debug");
    ASSERT_EQ(drover_slot_set_scale(s, SLOT_LEFT, "exited"), 0,
              "leaving -> left");
    ASSERT_EQ(drover_slot_set_scale(s, SLOT_LEAVING, "?"), -EINVAL,
              "left -> leaving is refused");
    ASSERT_EQ(s->scale, SLOT_LEFT, "... and the slot stays left");
    (void) log_take();

    g.pool = &p;
    g.id = 7;
    ASSERT_EQ(drover_gen_set_state(&g, GEN_READY, "READY"), -EINVAL,
              "a preloader that was not started cannot be ready");
    ASSERT_TRUE(strstr(log_take(), "pool shop: preloader (generation 7): "
                       "none -> ready (READY) is not a transition") != NULL,
                "... at alert");
    ASSERT_EQ(drover_gen_set_state(&g, GEN_LOADING, "started"), 0,
              "none -> loading");
    ASSERT_EQ(drover_gen_set_state(&g, GEN_READY, "READY"), 0,
              "loading -> ready");
    ASSERT_EQ(drover_gen_set_state(&g, GEN_NONE, "exited"), 0,
              "ready -> none");
    (void) log_take();

    ASSERT_EQ(drover_manager_set_state(m, MANAGER_SERVING, "READY"), 0,
              "manager starting -> serving");
    ASSERT_TRUE(strstr(log_take(), "manager: starting -> serving (READY)")
                != NULL, "... logged");
    ASSERT_EQ(drover_manager_set_state(m, MANAGER_STOPPING, "SIGTERM"), 0,
              "serving -> stopping");
    ASSERT_EQ(drover_manager_set_state(m, MANAGER_SERVING, "?"), -EINVAL,
              "a stopping manager does not serve again");
    ASSERT_EQ(m->state, MANAGER_STOPPING, "... and stays stopping");
    (void) log_take();

    free(s);
    free(m);
}


int
main(void)
{
    int  saved;

    log_fd = mkstemp(log_path);
    if (log_fd < 0) {
        printf("Bail out! mkstemp\n");
        return 1;
    }

    unlink(log_path);
    saved = dup(STDERR_FILENO);
    dup2(log_fd, STDERR_FILENO);
    drover_log_set_level(DROVER_LOG_DEBUG);

    test_tables();
    test_pool_set_state();
    test_slot_gen_manager();

    dup2(saved, STDERR_FILENO);
    close(saved);
    close(log_fd);

    return tap_done();
}
