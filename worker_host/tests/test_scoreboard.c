/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_scoreboard.c -- drover_sb_sanitize(): what the manager makes of an
 * entry a worker (the tenant's code) may have scribbled over.
 */

#include "scoreboard.h"
#include "tap.h"

#include <string.h>

#define START   1000000000ULL         /* the worker started here (us) */
#define NOW     (START + 5000000)     /* five seconds later */


static void
entry(drover_sb_slot_t *e, uint32_t state, uint64_t requests,
    uint64_t busy_us, uint64_t start_us, const char *uri)
{
    memset(e, 0, sizeof(*e));
    e->state = state;
    e->pid = 42;
    e->requests = requests;
    e->busy_us = busy_us;
    e->request_start_us = start_us;
    strncpy(e->uri, uri, sizeof(e->uri) - 1);
}


int
main(void)
{
    drover_sb_slot_t  prev, e;

    memset(&prev, 0, sizeof(prev));

    entry(&e, DROVER_SB_BUSY, 100, 2000000, NOW - 1000, "/a?b=1");
    ASSERT_EQ(drover_sb_sanitize(&e, &prev, START, NOW), 0,
              "an honest entry needs no correction");
    ASSERT_EQ(e.requests, 100, "... its requests stay");
    ASSERT_EQ(e.busy_us, 2000000, "... its busy time stays");
    ASSERT_STR_EQ(e.uri, "/a?b=1", "... its URI stays");
    ASSERT_EQ(e.state, DROVER_SB_BUSY, "... busy stays busy");

    entry(&e, 77, UINT64_MAX, UINT64_MAX / 3, 12345, "/x");
    ASSERT_EQ(drover_sb_sanitize(&e, &prev, START, NOW), 4,
              "garbage: state, requests, busy and request start corrected");
    ASSERT_EQ(e.state, DROVER_SB_EMPTY, "an unknown state reads as empty");
    ASSERT_EQ(e.requests, NOW - START,
              "requests: at most one per microsecond of the worker's life");
    ASSERT_EQ(e.busy_us, NOW - START, "busy time: at most its life");
    ASSERT_EQ(e.request_start_us, 0, "a request started before the worker: "
              "none");

    entry(&prev, DROVER_SB_IDLE, 500, 3000, 0, "");
    entry(&e, DROVER_SB_IDLE, 7, 10, 0, "");
    ASSERT_EQ(drover_sb_sanitize(&e, &prev, START, NOW), 2,
              "counters that went back are corrected");
    ASSERT_EQ(e.requests, 500, "requests never go back");
    ASSERT_EQ(e.busy_us, 3000, "busy time never goes back");

    memset(&prev, 0, sizeof(prev));
    entry(&e, DROVER_SB_BUSY, 1, 1, NOW + 1000000, "/\x01\x1b[31m\xff\xfe");
    ASSERT_EQ(drover_sb_sanitize(&e, &prev, START, NOW), 2,
              "a request starting in the future and a dirty URI");
    ASSERT_EQ(e.state, DROVER_SB_IDLE, "busy without a start reads as idle");
    ASSERT_STR_EQ(e.uri, "/??[31m??", "the URI is printable ASCII");

    memset(e.uri, 'a', sizeof(e.uri));
    e.request_start_us = 0;
    drover_sb_sanitize(&e, &prev, START, NOW);
    ASSERT_EQ(strlen(e.uri), DROVER_SB_URI_MAX - 1,
              "an unterminated URI is cut to the field");

    entry(&e, DROVER_SB_IDLE, 10, 10, 0, "/");
    ASSERT_EQ(drover_sb_sanitize(&e, &prev, NOW, START), 2,
              "a clock that went back: no life, counters held at prev");
    ASSERT_EQ(e.requests, 0, "... requests 0");

    return tap_done();
}
