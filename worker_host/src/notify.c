/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * notify.c -- see notify.h.
 *
 * sd_notify(3) and sd_watchdog_enabled(3) describe the protocol: the
 * datagram's text is the message, the kernel attaches our credentials (the
 * receiving socket has SO_PASSCRED), and NotifyAccess=main makes systemd
 * accept it only from droverd's own pid.
 */

#include "notify.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static void
notify_watchdog_cb(uv_timer_t *t)
{
    drover_notify_t  *n = t->data;

    drover_notify_send(n, "WATCHDOG=1");
}


/* "/run/systemd/notify" or "@abstract" into n->addr; 0 or -EINVAL */
static int
notify_address(drover_notify_t *n, const char *path)
{
    size_t  len = strlen(path);

    memset(&n->addr, 0, sizeof(n->addr));
    n->addr.sun_family = AF_UNIX;

    if (path[0] == '@' && len > 1 && len <= sizeof(n->addr.sun_path)) {
        /* abstract: a leading NUL, no trailing one, the length says it */
        memcpy(n->addr.sun_path + 1, path + 1, len - 1);
        n->addrlen = (socklen_t) (offsetof(struct sockaddr_un, sun_path)
                                  + len);
        return 0;
    }

    if (path[0] == '/' && len < sizeof(n->addr.sun_path)) {
        memcpy(n->addr.sun_path, path, len + 1);
        n->addrlen = (socklen_t) (offsetof(struct sockaddr_un, sun_path)
                                  + len + 1);
        return 0;
    }

    return -EINVAL;
}


/* WATCHDOG_USEC when the watchdog is ours, else 0 */
static uint64_t
notify_watchdog_usec(const char *usec, const char *pid)
{
    char                *end;
    unsigned long long   v;

    if (usec == NULL || usec[0] < '0' || usec[0] > '9') {
        return 0;
    }

    if (pid != NULL) {
        errno = 0;
        v = strtoull(pid, &end, 10);
        if (errno != 0 || *end != '\0' || v != (unsigned long long) getpid()) {
            return 0;               /* meant for another process */
        }
    }

    errno = 0;
    v = strtoull(usec, &end, 10);
    if (errno != 0 || *end != '\0') {
        return 0;
    }

    return (uint64_t) v;
}


int
drover_notify_init(drover_notify_t *n, uv_loop_t *loop)
{
    int          rc;
    char        *sock, *usec, *wpid;
    uint64_t     interval_ms;

    memset(n, 0, sizeof(*n));
    n->fd = -1;

    sock = getenv("NOTIFY_SOCKET");
    usec = getenv("WATCHDOG_USEC");
    wpid = getenv("WATCHDOG_PID");

    /* copies: unsetenv() below must not pull them away */
    sock = (sock != NULL && sock[0] != '\0') ? strdup(sock) : NULL;
    usec = (usec != NULL) ? strdup(usec) : NULL;
    wpid = (wpid != NULL) ? strdup(wpid) : NULL;

    /* no child of ours speaks to systemd in droverd's name */
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");

    rc = 0;

    if (sock == NULL) {
        goto cleanup;                  /* not under systemd: all no-ops */
    }

    if (notify_address(n, sock) != 0) {
        drover_log_error(DROVER_LOG_ERROR, 0, "NOTIFY_SOCKET \"%.200s\" is "
                         "neither an absolute path nor an @abstract name "
                         "that fits a socket address: not notifying "
                         "systemd", sock);
        rc = -EINVAL;
        goto cleanup;
    }

    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (n->fd == -1) {
        rc = -errno;
        drover_log_error(DROVER_LOG_ERROR, errno, "socket(AF_UNIX, "
                         "SOCK_DGRAM) for NOTIFY_SOCKET failed: not "
                         "notifying systemd");
        goto cleanup;
    }

    n->watchdog_usec = notify_watchdog_usec(usec, wpid);

    if (n->watchdog_usec == 0) {
        drover_log_error(DROVER_LOG_INFO, 0, "notifying systemd at %s",
                         sock);
        goto cleanup;
    }

    rc = uv_timer_init(loop, &n->watchdog);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, rc, "watchdog timer");
        n->watchdog_usec = 0;
        goto cleanup;
    }

    n->watchdog_init = 1;
    n->watchdog.data = n;

    /* twice per period, as sd_watchdog_enabled(3) recommends */
    interval_ms = n->watchdog_usec / 2000;
    if (interval_ms == 0) {
        interval_ms = 1;
    }

    rc = uv_timer_start(&n->watchdog, notify_watchdog_cb, interval_ms,
                        interval_ms);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_ERROR, rc, "watchdog timer");
        n->watchdog_usec = 0;
        goto cleanup;
    }

    /* the pings must not keep a finished loop running */
    uv_unref((uv_handle_t *) &n->watchdog);

    drover_log_error(DROVER_LOG_INFO, 0, "notifying systemd at %s, watchdog "
                     "ping every %llu ms", sock,
                     (unsigned long long) interval_ms);

cleanup:

    free(sock);
    free(usec);
    free(wpid);

    return rc;
}


int
drover_notify_send(drover_notify_t *n, const char *fmt, ...)
{
    int      len, err;
    char     msg[DROVER_NOTIFY_MESSAGE_MAX];
    size_t   shown;
    ssize_t  sent;
    va_list  ap;

    if (n->fd < 0) {
        return 0;
    }

    va_start(ap, fmt);
    len = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    if (len < 0 || (size_t) len >= sizeof(msg)) {
        msg[len < 0 ? 0 : sizeof(msg) - 1] = '\0';
        err = EMSGSIZE;
        goto fail;
    }

    do {
        sent = sendto(n->fd, msg, (size_t) len, MSG_NOSIGNAL,
                      (struct sockaddr *) &n->addr, n->addrlen);
    } while (sent == -1 && errno == EINTR);

    if (sent == len) {
        return 0;
    }

    err = (sent == -1) ? errno : EMSGSIZE;

fail:

    /*
     * systemd gone or its queue full: worth one line, not a flood; of the
     * message its first line only, as a '\n' must not start a log line
     */
    shown = strcspn(msg, "\n");
    if (shown > 40) {
        shown = 40;
    }

    drover_log_error(n->warned ? DROVER_LOG_DEBUG : DROVER_LOG_WARN, err,
                     "cannot notify systemd (\"%.*s\")%s", (int) shown, msg,
                     n->warned ? "" : "; further failures are logged at "
                     "debug level");
    n->warned = 1;

    return -err;
}


void
drover_notify_close(drover_notify_t *n)
{
    if (n->fd >= 0) {
        close(n->fd);
        n->fd = -1;
    }

    if (n->watchdog_init) {
        n->watchdog_init = 0;

        if (!uv_is_closing((uv_handle_t *) &n->watchdog)) {
            uv_close((uv_handle_t *) &n->watchdog, NULL);
        }
    }
}
