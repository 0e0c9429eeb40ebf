/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * tap.h -- the smallest TAP producer: each C test is its own process and
 * prints "ok N - name" lines, then the plan.  libuv test/ style asserts.
 */

#ifndef DROVER_TAP_H
#define DROVER_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int tap_n;
static int tap_failed;

#define TAP_CHECK(cond, ...)                                                 \
    do {                                                                     \
        int  tap_ok_ = (cond) ? 1 : 0;                                       \
        tap_n++;                                                             \
        if (tap_ok_) {                                                       \
            printf("ok %d - ", tap_n);                                       \
        } else {                                                             \
            tap_failed++;                                                    \
            printf("not ok %d - ", tap_n);                                   \
        }                                                                    \
        printf(__VA_ARGS__);                                                 \
        printf("\n");                                                        \
        if (!tap_ok_) {                                                      \
            printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
        }                                                                    \
        fflush(stdout);                                                      \
    } while (0)

#define ASSERT_EQ(a, b, name)                                                \
    do {                                                                     \
        intmax_t a_ = (intmax_t) (a), b_ = (intmax_t) (b);                   \
        TAP_CHECK(a_ == b_, "%s", name);                                     \
        if (a_ != b_) {                                                      \
            printf("#   got %jd, expected %jd\n", a_, b_);                   \
        }                                                                    \
    } while (0)

#define ASSERT_STR_EQ(a, b, name)                                            \
    do {                                                                     \
        const char *a_ = (a), *b_ = (b);                                     \
        int eq_ = (a_ != NULL && b_ != NULL && strcmp(a_, b_) == 0);         \
        TAP_CHECK(eq_, "%s", name);                                          \
        if (!eq_) {                                                          \
            printf("#   got \"%s\"\n#   expected \"%s\"\n",                  \
                   a_ ? a_ : "(null)", b_ ? b_ : "(null)");                  \
        }                                                                    \
    } while (0)

#define ASSERT_TRUE(cond, name)  TAP_CHECK((cond), "%s", name)

static inline int
tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif /* DROVER_TAP_H */
