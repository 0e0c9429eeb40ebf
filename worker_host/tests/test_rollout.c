/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_rollout.c -- the manager's decisions without processes: which slot
 * a rollout moves next, when the canary has died, whether a slot may start
 * a worker, the restart backoff and how many workers a memory_budget fits.
 * Pools, generations and slots are built by hand; nothing is forked.
 */

#include "manager_int.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>


#define NSLOTS  4

typedef struct {
    drover_manager_t   *m;
    drover_pool_t       p;
    drover_gen_t        old, cur;
    drover_slot_t      *slots[NSLOTS];
} fixture_t;


static void
fixture_init(fixture_t *f, unsigned nslots)
{
    unsigned  k;

    memset(f, 0, sizeof(*f));
    f->m = calloc(1, sizeof(*f->m));
    f->p.mgr = f->m;
    f->p.name = "shop";
    f->p.slots = f->slots;
    f->p.nslots = nslots;
    f->p.prev = &f->old;
    f->p.cur = &f->cur;
    f->old.id = 1;
    f->cur.id = 2;

    for (k = 0; k < nslots; k++) {
        f->slots[k] = calloc(1, sizeof(drover_slot_t));
        f->slots[k]->pool = &f->p;
        f->slots[k]->index = k;
        f->slots[k]->gen = &f->old;
        f->slots[k]->state = SLOT_RUNNING;
    }
}


static void
fixture_free(fixture_t *f)
{
    unsigned  k;

    for (k = 0; k < f->p.nslots; k++) {
        free(f->slots[k]);
    }

    free(f->m);
}


static void
slot_is(fixture_t *f, unsigned k, drover_gen_t *g, drover_slot_state_t st)
{
    f->slots[k]->gen = g;
    f->slots[k]->state = st;
}


static void
test_canary(void)
{
    unsigned   k;
    fixture_t  f;

    fixture_init(&f, 3);
    f.p.state = POOL_CANARY;

    k = 99;
    ASSERT_EQ(drover_roll_next(&f.p, 0, &k), ROLL_STOP,
              "canary: slot 0's old worker stops first");
    ASSERT_EQ(k, 0, "... slot 0");

    slot_is(&f, 0, &f.old, SLOT_STOPPING);
    ASSERT_EQ(drover_roll_next(&f.p, 0, &k), ROLL_WAIT,
              "canary: wait while it stops");

    slot_is(&f, 0, NULL, SLOT_EMPTY);
    ASSERT_EQ(drover_roll_next(&f.p, 0, &k), ROLL_START,
              "canary: then slot 0 starts");
    ASSERT_EQ(k, 0, "... slot 0");

    slot_is(&f, 0, &f.cur, SLOT_FORKING);
    ASSERT_EQ(drover_roll_next(&f.p, 0, &k), ROLL_WAIT,
              "canary: wait while the new worker forks");

    slot_is(&f, 0, &f.cur, SLOT_RUNNING);
    ASSERT_EQ(drover_roll_next(&f.p, 0, &k), ROLL_CANARY_RUNS,
              "canary: the new worker runs: time it, nothing else moves");

    slot_is(&f, 0, NULL, SLOT_BACKOFF);
    ASSERT_EQ(drover_roll_next(&f.p, 0, &k), ROLL_WAIT,
              "canary: a slot 0 waiting out its backoff is waited for");

    /* the canary's death */
    slot_is(&f, 0, &f.cur, SLOT_RUNNING);
    ASSERT_TRUE(drover_pool_canary_died(&f.p, f.slots[0], &f.cur, 10),
                "the canary died young: roll back");
    ASSERT_TRUE(drover_pool_canary_died(&f.p, f.slots[0], &f.cur,
                    DROVER_CANARY_MS + DROVER_RESTART_STABLE_MS - 1),
                "... up to DROVER_CANARY_MS + DROVER_RESTART_STABLE_MS");
    ASSERT_TRUE(!drover_pool_canary_died(&f.p, f.slots[0], &f.cur,
                    DROVER_CANARY_MS + DROVER_RESTART_STABLE_MS),
                "a worker that lived longer is no failed canary");
    ASSERT_TRUE(!drover_pool_canary_died(&f.p, f.slots[0], &f.old, 10),
                "an old worker's death is no failed canary");
    ASSERT_TRUE(!drover_pool_canary_died(&f.p, f.slots[1], &f.cur, 10),
                "only slot 0 is the canary");

    f.p.state = POOL_ROLLING;
    ASSERT_TRUE(!drover_pool_canary_died(&f.p, f.slots[0], &f.cur, 10),
                "past the canary, a death is no rollback");

    fixture_free(&f);
}


static void
test_rolling(void)
{
    unsigned   k;
    fixture_t  f;

    fixture_init(&f, 4);
    f.p.state = POOL_ROLLING;
    slot_is(&f, 0, &f.cur, SLOT_RUNNING);

    ASSERT_EQ(drover_roll_next(&f.p, 0, &k), ROLL_STOP,
              "rolling: the next old worker stops");
    ASSERT_EQ(k, 1, "... the first one, slot 1");

    slot_is(&f, 1, &f.old, SLOT_STOPPING);
    ASSERT_EQ(drover_roll_next(&f.p, 0, &k), ROLL_WAIT,
              "rolling: one slot at a time");

    slot_is(&f, 1, NULL, SLOT_EMPTY);
    ASSERT_EQ(drover_roll_next(&f.p, 0, &k), ROLL_START,
              "rolling: the emptied slot starts");
    ASSERT_EQ(k, 1, "... slot 1");

    /* slot 1 did not start (a spawn that failed): the scan goes on */
    slot_is(&f, 1, NULL, SLOT_BACKOFF);
    slot_is(&f, 3, &f.old, SLOT_STOPPING);
    ASSERT_EQ(drover_roll_next(&f.p, 2, &k), ROLL_STOP,
              "a resumed scan skips the waits");
    ASSERT_EQ(k, 2, "... and moves slot 2");
    ASSERT_EQ(drover_roll_next(&f.p, 0, &k), ROLL_WAIT,
              "a fresh scan waits for the stopping slot 3");

    slot_is(&f, 2, &f.cur, SLOT_RUNNING);
    slot_is(&f, 3, &f.cur, SLOT_RUNNING);
    ASSERT_EQ(drover_roll_next(&f.p, 0, &k), ROLL_DONE,
              "done: a slot in its backoff restarts from the new generation");

    slot_is(&f, 1, &f.cur, SLOT_FORKING);
    ASSERT_EQ(drover_roll_next(&f.p, 0, &k), ROLL_WAIT,
              "not done while a new worker forks");

    slot_is(&f, 1, &f.cur, SLOT_RUNNING);
    ASSERT_EQ(drover_roll_next(&f.p, 0, &k), ROLL_DONE,
              "done when every slot runs the new generation");

    fixture_free(&f);
}


static void
test_start_blocker(void)
{
    fixture_t       f;
    drover_slot_t  *s;

    fixture_init(&f, 2);
    f.p.state = POOL_SERVING;
    s = f.slots[1];
    slot_is(&f, 1, NULL, SLOT_EMPTY);

    ASSERT_TRUE(drover_slot_start_blocker(s) == NULL,
                "an empty slot of a serving pool starts");

    f.p.budget_wait = 1;
    ASSERT_STR_EQ(drover_slot_start_blocker(s),
                  "memory_budget measures slot 0 first",
                  "memory_budget: slot 1 waits for slot 0's measure");
    ASSERT_TRUE(drover_slot_start_blocker(f.slots[0]) != NULL
                && strcmp(drover_slot_start_blocker(f.slots[0]),
                          "it has a worker") == 0,
                "slot 0 is not started twice");
    f.p.budget_wait = 0;

    f.p.cur = NULL;
    ASSERT_STR_EQ(drover_slot_start_blocker(s), "no generation serves yet",
                  "nothing starts before a generation serves");
    f.p.cur = &f.cur;

    s->state = SLOT_BACKOFF;
    ASSERT_STR_EQ(drover_slot_start_blocker(s), "its restart delay runs",
                  "a slot in its backoff waits for its timer");
    s->state = SLOT_EMPTY;

    s->scale = SLOT_LEAVING;
    ASSERT_STR_EQ(drover_slot_start_blocker(s), "the slot is scaled away",
                  "a slot scaled away does not start");
    s->scale = SLOT_KEPT;

    f.p.state = POOL_REMOVING;
    ASSERT_STR_EQ(drover_slot_start_blocker(s), "the pool is being removed",
                  "a removed pool starts nothing");
    f.p.state = POOL_LOADING;
    ASSERT_TRUE(drover_slot_start_blocker(s) == NULL,
                "a pool loading a new generation still replaces workers");

    f.m->state = MANAGER_STOPPING;
    ASSERT_STR_EQ(drover_slot_start_blocker(s), "droverd stops",
                  "nothing starts while droverd stops");

    fixture_free(&f);
}


static void
test_backoff(void)
{
    ASSERT_EQ(drover_backoff_ms(0), 0, "backoff 0: at once");
    ASSERT_EQ(drover_backoff_ms(1), DROVER_RESTART_BACKOFF_MS,
              "backoff 1: the base");
    ASSERT_EQ(drover_backoff_ms(3), 4 * DROVER_RESTART_BACKOFF_MS,
              "backoff doubles");
    ASSERT_EQ(drover_backoff_ms(40), DROVER_RESTART_BACKOFF_MAX,
              "backoff is capped (and the shift cannot overflow)");

    ASSERT_EQ(drover_slot_restart_delay(0, 0), 0,
              "a worker that lived is replaced at once");
    ASSERT_EQ(drover_slot_restart_delay(1, 0), 0,
              "the first early death too: it may have been a kill");
    ASSERT_EQ(drover_slot_restart_delay(2, 0), DROVER_RESTART_BACKOFF_MS,
              "the second early death waits the base backoff");
    ASSERT_EQ(drover_slot_restart_delay(4, 0), 4 * DROVER_RESTART_BACKOFF_MS,
              "then it doubles");
    ASSERT_EQ(drover_slot_restart_delay(0, 1), DROVER_FAILING_RETRY_MS,
              "a failing pool retries every DROVER_FAILING_RETRY_MS");
    ASSERT_EQ(drover_slot_restart_delay(40, 1), DROVER_FAILING_RETRY_MS,
              "... and never less");
}


static void
test_budget(void)
{
    const unsigned long long  MiB = 1024 * 1024;

    ASSERT_EQ(drover_budget_workers(150 * MiB, 128 * MiB, 16 * MiB, 8), 1,
              "150 MiB, 128 MiB preloaded, 16 MiB each: one worker");
    ASSERT_EQ(drover_budget_workers(1024 * MiB, 128 * MiB, 16 * MiB, 8), 8,
              "room for 56: one per core");
    ASSERT_EQ(drover_budget_workers(192 * MiB, 128 * MiB, 16 * MiB, 8), 4,
              "an exact fit");
    ASSERT_EQ(drover_budget_workers(191 * MiB, 128 * MiB, 16 * MiB, 8), 3,
              "a byte short of four: three");
    ASSERT_EQ(drover_budget_workers(64 * MiB, 128 * MiB, 16 * MiB, 8), 1,
              "a budget below the preloaded state still runs one worker");
    ASSERT_EQ(drover_budget_workers(1ULL << 62, 0, 1, 4), 4,
              "a huge count is capped at the cores, not truncated");
}


int
main(void)
{
    test_canary();
    test_rolling();
    test_start_blocker();
    test_backoff();
    test_budget();

    return tap_done();
}
