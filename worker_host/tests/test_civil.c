/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_civil.c -- request_timeout's SIGALRM handler formats its log line
 * with drover__request_civil_time(), integer arithmetic only: it must agree
 * with gmtime_r() wherever a log line could be dated.
 */

#include "tap.h"
#include "request.h"

#include <stdio.h>
#include <string.h>
#include <time.h>


static int
civil_agrees(int64_t t)
{
    time_t           tt = (time_t) t;
    struct tm        tm;
    drover__civil_t  c;

    if (gmtime_r(&tt, &tm) == NULL) {
        return 0;
    }

    drover__request_civil_time(t, &c);

    return c.year == (int64_t) tm.tm_year + 1900
           && c.mon == (unsigned) tm.tm_mon + 1
           && c.mday == (unsigned) tm.tm_mday
           && c.hour == (unsigned) tm.tm_hour
           && c.min == (unsigned) tm.tm_min
           && c.sec == (unsigned) tm.tm_sec;
}


int
main(void)
{
    int64_t          t, bad;
    drover__civil_t  c;

    static const int64_t  edges[] = {
        0, -1, 59, 86399, 86400, 951782400, 951868799, 951868800,
        /* 2000-02-29, a leap day of a year divisible by 400 */
        4107542400LL, /* 2100-03-01, after a 28-day February */
        1796083199, 1796083200, 2147483647, 2147483648LL, -2208988800LL,
    };

    drover__request_civil_time(1796256000 + 3 * 3600 + 35 * 60 + 59, &c);
    ASSERT_TRUE(c.year == 2026 && c.mon == 12 && c.mday == 3 && c.hour == 3
                && c.min == 35 && c.sec == 59, "2026/12/03 03:35:59");

    bad = 0;
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        if (!civil_agrees(edges[i])) {
            printf("# differs at %lld\n", (long long) edges[i]);
            bad++;
        }
    }
    ASSERT_EQ(bad, 0, "edges: epoch, before it, leap days, 2038, 1900");

    /* every day from 1900 to 2200, at a time that moves through the day */
    bad = 0;
    for (t = -2208988800LL; t < 7258118400LL; t += 86400 + 3607) {
        if (!civil_agrees(t) && bad++ < 5) {
            printf("# differs at %lld\n", (long long) t);
        }
    }
    ASSERT_EQ(bad, 0, "1900 to 2200, step of a day and an hour");

    return tap_done();
}
