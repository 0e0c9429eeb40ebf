/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * notify.h -- telling systemd how droverd is doing (Type=notify): READY=1
 * once every pool serves, RELOADING=1 / STOPPING=1, STATUS= lines, and
 * WATCHDOG=1 pings while the manager's loop runs.
 *
 * The protocol is sd_notify(3)'s, written here in a few lines rather than
 * linked from libsystemd: one datagram of "NAME=value" lines to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for an
 * abstract socket).  Without $NOTIFY_SOCKET every call is a no-op, so the
 * manager calls them unconditionally.
 */

#ifndef DROVER_NOTIFY_H
#define DROVER_NOTIFY_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <uv.h>

#include "drover.h"

#define DROVER_NOTIFY_MESSAGE_MAX  4096

/*
 * Owned by the caller (e.g. inside the manager's struct), which must keep
 * it alive until the loop has run the watchdog timer's close callback after
 * drover_notify_close().  The fields are for reading only.
 */
typedef struct {
    int                  fd;              /* -1: notifications off */
    struct sockaddr_un   addr;
    socklen_t            addrlen;
    uint64_t             watchdog_usec;   /* 0: no watchdog */
    uv_timer_t           watchdog;        /* pings every watchdog_usec / 2 */
    int                  watchdog_init;   /* the timer was initialised */
    int                  warned;          /* a send failure was logged */
} drover_notify_t;

/*
 * Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (the watchdog is ours
 * only when WATCHDOG_PID is unset or equals getpid()), then removes them
 * from the environment so that no child (preloader, worker, prestart
 * command) inherits them and talks to systemd in droverd's name.  Starts
 * the watchdog timer on LOOP (unreferenced: it never keeps the loop alive).
 *
 * Returns 0, also when NOTIFY_SOCKET is unset (then everything is a no-op).
 * A negative code (-EINVAL for a malformed NOTIFY_SOCKET, a socket() or
 * libuv error) is logged here and is not fatal: n is then a valid no-op
 * notifier, and send/close are safe to call.
 */
int drover_notify_init(drover_notify_t *n, uv_loop_t *loop);

/*
 * Sends one datagram, "READY=1\nSTATUS=serving 2 pools", "RELOADING=1",
 * "STOPPING=1", "EXTEND_TIMEOUT_USEC=...".  Never blocks (the socket is
 * non-blocking).  Returns 0 when sent or when notifications are off, else
 * a negative errno code; the first failure is logged as a warning, the
 * later ones at debug only.  Never fatal.
 */
int drover_notify_send(drover_notify_t *n, const char *fmt, ...)
    DROVER_PRINTF(2, 3);

/*
 * Stops the watchdog, closes the socket.  The timer's close callback does
 * not touch n, but libuv still needs the handle's memory until the loop has
 * run it.  Idempotent; safe after a uv_walk() that closed the timer.
 */
void drover_notify_close(drover_notify_t *n);

#endif /* DROVER_NOTIFY_H */
