/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * log.h -- droverd's log: one line per event on stderr, nginx's format:
 *     2026/11/26 13:21:26 [error] 1234#0: pool shop: worker 1 exited ...
 * Each line is written with a single write(2) so lines from the manager,
 * the preloaders and the workers sharing stderr never interleave.
 */

#ifndef DROVER_LOG_H
#define DROVER_LOG_H

#include "drover.h"

/* besides drover.h's ERROR..DEBUG: a bug or a fatal start failure */
#define DROVER_LOG_EMERG  (-1)
#define DROVER_LOG_ALERT  0

#define DROVER_LOG_LINE_MAX  2048

void drover_log_set_level(int level);
int drover_log_get_level(void);

/* a level name ("warn") to its number, or -2 (-1 is DROVER_LOG_EMERG) */
int drover_log_level_parse(const char *name);
const char *drover_log_level_name(int level);

/*
 * err: 0, or an errno value (positive) or a libuv error (negative) to
 * append as ": strerror (N)".
 */
void drover_log_error(int level, int err, const char *fmt, ...)
    DROVER_PRINTF(3, 4);

/*
 * A line already composed (msg, len bytes, no newline, nothing in it to
 * format), with the usual prefix, whatever the level setting: the
 * manager's copy of a line a child already filtered by its own level.
 */
void drover_log_line(int level, const char *msg, size_t len);

#define drover_log_enabled(level)  ((level) <= drover_log_get_level())

/*
 * Control bytes (below 0x20, and 0x7f) in s become '?', in place: for a
 * message that quotes what someone else wrote (a config token, an app's
 * error text), so that it stays one line of the log and cannot start a
 * forged one.
 */
void drover_log_printable(char *s);

#endif /* DROVER_LOG_H */
