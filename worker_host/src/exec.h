/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * exec.h -- exec mode (`exec /usr/bin/php-cgi;`): any FastCGI program as a
 * pool's worker, started by the manager with its slot's socket on fd 0.
 * Not the app SDK's workers: those are droverd itself (worker.h).
 */

#ifndef DROVER_EXEC_H
#define DROVER_EXEC_H

#include "manager_int.h"

/*
 * Start the pool's program for slot s: fork, in the child the slot's
 * listening socket on fd 0 (blocking: the FastCGI convention, FastCGI 2.2),
 * the pool's output on 1 and 2, nothing else open, the pool's user, the
 * pool's environment (env.h) with PHP_FCGI_CHILDREN removed and
 * PHP_FCGI_MAX_REQUESTS from max_requests, then execve().  The child dies
 * with the manager.  0 and *pid, or a negative code.
 */
int drover_exec_start(drover_slot_t *s, pid_t *pid);

/*
 * droverd -t: one note per exec pool on f, saying that its shared socket
 * is not bound and what front ends use instead.
 */
void drover_exec_notes(const drover_conf_t *conf, FILE *f);

/*
 * Why an exec slot's program ended, when exec mode says more than the
 * generic rules (slot.c): php-cgi exits with 0 after PHP_FCGI_MAX_REQUESTS
 * requests, a recycle and not a crash.  An EXIT_* or -1.
 */
int drover_exec_exit_reason(const drover_slot_t *s, int status);

/*
 * Once a second, for a running exec slot: look whether its program serves
 * a request (it is not blocked in accept() on fd 0 nor reading its
 * FastCGI connection), keep that in s->sb for the status (the program has
 * no scoreboard), and kill it past request_timeout.
 */
void drover_exec_sample(drover_slot_t *s);

/*
 * The program of slot s has exited and been reaped: the 504 of a request
 * it was killed in, when there is one to send (exec.c, request_timeout).
 */
void drover_exec_exited(drover_slot_t *s);

#endif /* DROVER_EXEC_H */
