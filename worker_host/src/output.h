/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * output.h -- what a pool's processes write to their stdout and stderr.
 *
 * Their fds 1 and 2 are the children's end of one Unix stream socket pair
 * per pool; the manager reads the other end in its loop and logs each line
 * as "pool NAME pid PID: TEXT", never handing the bytes to its own stderr:
 *   - the pid is the kernel's (SO_PASSCRED: each read returns the bytes of
 *     one sender with its credentials), not something the app wrote;
 *   - control characters are escaped (\x1b, \x0a), so an app can neither
 *     start a line of droverd's log nor end one; bytes from 0x80 up are
 *     left alone (UTF-8);
 *   - a line is cut at DROVER_OUTPUT_LINE_MAX bytes, with a marker;
 *   - at most DROVER_OUTPUT_RATE lines a second per pool, then one line
 *     saying how many were suppressed.
 * The manager keeps reading while it suppresses, so a writer blocks only as
 * long as the manager is busy.  A line in droverd's own format from the
 * same pid (a worker's drover_log_error) keeps its level, never above
 * "error": "[alert]" stays visible as text in the message; anything else
 * is a notice.  Either is logged whatever droverd's log_level: the child
 * already applied the pool's, and an app's output is not to be lost
 * silently.
 *
 * Not for: prestart commands (prestart.c reads their output itself).
 */

#ifndef DROVER_OUTPUT_H
#define DROVER_OUTPUT_H

#include <sys/types.h>
#include <uv.h>

#define DROVER_OUTPUT_LINE_MAX  1024    /* bytes of a line logged */
#define DROVER_OUTPUT_RATE      1000    /* lines a second per pool */
#define DROVER_OUTPUT_PARTIAL   16      /* writers with an unfinished line */

typedef struct drover_output_s  drover_output_t;

/*
 * The socket pair and the reader for pool NAME, on loop.  0 and *out, or a
 * negative code.
 */
int drover_output_open(uv_loop_t *loop, const char *name,
    drover_output_t **out);

/* the children's end, for their fds 1 and 2 (O_CLOEXEC here); -1 for NULL */
int drover_output_fd(const drover_output_t *o);

/*
 * Read what is there now; then, when pid > 0 (it exited), log its
 * unfinished last line.  Called before an exit is logged, so a process's
 * last words come before the line about its end.
 */
void drover_output_drain(drover_output_t *o, pid_t pid);

/*
 * Close both ends and the handles; the memory goes in their close
 * callbacks.  NULL is fine.
 */
void drover_output_close(drover_output_t *o);

#endif /* DROVER_OUTPUT_H */
