/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * socket.h -- the manager's listening Unix sockets.  They are bound before
 * any fork and held by the manager for its whole life, so a worker that
 * restarts inherits its socket and connections made meanwhile wait in the
 * backlog instead of failing.
 */

#ifndef DROVER_SOCKET_H
#define DROVER_SOCKET_H

#include <stddef.h>
#include <sys/types.h>

#define DROVER_SOCKET_BACKLOG  1024

typedef struct {
    int     fd;
    char   *path;
    dev_t   dev;      /* of the file we created: unlink only that one */
    ino_t   ino;
} drover_socket_t;

/*
 * Bind and listen on PATH, created with MODE from the start (never wider:
 * fchmod of the socket before bind), then owned by uid/gid when not -1,
 * set through an O_PATH descriptor of the node, never by name.  A stale
 * socket file (nothing listens) is replaced; a live one, or anything that is not a socket (a regular file,
 * a symlink, a directory), is refused.  The fd is O_NONBLOCK | O_CLOEXEC.
 * 0, or a negative code with a message in err.
 */
int drover_socket_listen(drover_socket_t *s, const char *path, mode_t mode,
    uid_t uid, gid_t gid, char *err, size_t errlen);

/*
 * A reload's new mode and owner for the socket bound by listen.  Only ever
 * through a descriptor of the name opened with O_NOFOLLOW, and only when
 * it is still the socket node listen created (same st_dev/st_ino): a name
 * the pool's user replaced (a symlink to a root file) is refused, never
 * followed.  0, or a negative code with a message in err.
 */
int drover_socket_set_mode(drover_socket_t *s, mode_t mode, uid_t uid,
    gid_t gid, char *err, size_t errlen);

/* close, and remove the file if it is still the one we created */
void drover_socket_close(drover_socket_t *s);

#endif /* DROVER_SOCKET_H */
