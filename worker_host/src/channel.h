/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * channel.h -- messages between the manager and a pool's preloader over a
 * SOCK_SEQPACKET socketpair.  Both ends are the same droverd binary
 * (/proc/self/exe), so the message is a plain struct; fds travel as
 * SCM_RIGHTS.
 *
 *   preloader -> manager   READY            the app's init succeeded
 *   manager -> preloader   FORK slot        + [slot fd, shared fd]
 *   preloader -> manager   FORKED slot pid  the worker is running
 *   preloader -> manager   FORK_FAILED slot err
 *
 * The preloader sends FORKED only after the intermediate forker has exited
 * and been reaped, so the worker is already the manager's child.
 *
 * The preloader runs the tenant's code (the app's init), so everything the
 * manager reads here is hostile input: a message of another size, with
 * fds, out of turn (a second READY, a slot that did not ask) or naming a pid
 * that pidcheck.h does not confirm makes the manager kill that preloader and
 * restart it with backoff; it never signals a pid it read here.
 *
 * drover_chan_msg_t is the wire format.  apps/hostile.c (t/hostile_app.t)
 * carries a copy of it to forge messages: change both together.
 */

#ifndef DROVER_CHANNEL_H
#define DROVER_CHANNEL_H

#include <stdint.h>

enum {
    DROVER_CHAN_READY = 1,
    DROVER_CHAN_FORK,
    DROVER_CHAN_FORKED,
    DROVER_CHAN_FORK_FAILED
};

#define DROVER_CHAN_MAX_FDS  6

typedef struct {
    uint32_t  type;
    uint32_t  slot;
    int32_t   pid;
    int32_t   err;
} drover_chan_msg_t;

/* 0 or a negative code; fds may be NULL when nfds is 0 */
int drover_chan_send(int fd, const drover_chan_msg_t *msg, const int *fds,
    int nfds);

/*
 * 0 and the message with its fds (*nfds set, received fds are O_CLOEXEC),
 * -EAGAIN when nothing is there (non-blocking fd), -EPIPE at end of file,
 * another negative code on a malformed message (its fds closed).
 */
int drover_chan_recv(int fd, drover_chan_msg_t *msg, int *fds, int *nfds);

#endif /* DROVER_CHANNEL_H */
