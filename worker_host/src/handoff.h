/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * handoff.h -- private to worker*.c: while the app runs a request, a kept-
 * alive connection of the shared socket on which the front end sends the
 * next request goes, unread, to a free worker of the pool (docs/fastcgi.md,
 * "No request waits behind a slow one").
 *
 * The pool's handoff channel is a SOCK_SEQPACKET socketpair the manager
 * creates before any worker: a busy worker sends a connection's descriptor
 * (SCM_RIGHTS) on one end, every worker that is free polls the other end
 * like the shared listening socket and the first to read it adopts the
 * connection as a fresh one.  The sending is done by a watcher thread that
 * only polls and sends: it never touches the app, the loop or a connection
 * structure; the main thread drops what was given when the request ends.
 */

#ifndef DROVER_HANDOFF_H
#define DROVER_HANDOFF_H

#include "request.h"

/*
 * A request shorter than this hands nothing off: the watcher wakes only
 * for the longer ones, so fast requests pay no thread wakeup.
 */
#define DROVER_HANDOFF_DELAY_MS  2

/*
 * Start the watcher thread and poll the channel's receiving end, when the
 * worker was given one (args->handoff_fds).  0, or a negative code.
 */
int drover__handoff_init(drover__worker_t *w);

/* join the watcher thread, free its state; idempotent */
void drover__handoff_fini(drover__worker_t *w);

/* adopt handed connections while the worker is free (the listeners' rule) */
void drover__handoff_listen_start(drover__worker_t *w);
void drover__handoff_listen_stop(drover__worker_t *w);

/* stopping: no more adoptions, the poll handle closed */
void drover__handoff_listen_close(drover__worker_t *w);

/* before the app runs the request on busy: watch the other connections */
void drover__handoff_arm(drover__worker_t *w, drover__conn_t *busy);

/*
 * After it: the watcher gives no more, and every connection it gave is
 * closed here (this process's copy only: the adopter serves it on).
 */
void drover__handoff_disarm(drover__worker_t *w);

/* 1 when c may be handed off: shared socket, not a byte of it read */
int drover__handoff_candidate(const drover__conn_t *c);

/*
 * Read one handed connection from the channel's receiving end rx: its
 * descriptor (a Unix stream socket, O_CLOEXEC), -EAGAIN when there is
 * none, or another negative code (a message that is not one connection
 * is dropped, its descriptors closed: -EBADMSG).
 */
int drover__handoff_recv(int rx);

/* send connection fd on the channel's sending end tx: 0 or -errno */
int drover__handoff_send(int tx, int fd);

#endif /* DROVER_HANDOFF_H */
