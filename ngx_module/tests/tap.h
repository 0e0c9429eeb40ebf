/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * tap.h -- TAP output for the module's unit tests: ok() per check, then
 * tap_done() prints the plan and gives main()'s exit status.
 */

#ifndef _DROVER_NGX_TESTS_TAP_H_INCLUDED_
#define _DROVER_NGX_TESTS_TAP_H_INCLUDED_


#include <stdio.h>


static int  tap_n;
static int  tap_failed;


static void
ok(int cond, const char *name)
{
    tap_n++;
    printf("%s %d - %s\n", cond ? "ok" : "not ok", tap_n, name);

    if (!cond) {
        tap_failed = 1;
    }
}


static int
tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}


#endif /* _DROVER_NGX_TESTS_TAP_H_INCLUDED_ */
