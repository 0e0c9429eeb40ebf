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

/*
 * The directory of PATH and every one above it must be one no tenant can
 * write: owned by root or droverd's own user, and writable by no group but
 * root's and by no others (a sticky parent, as /tmp, is fine; a sticky
 * socket directory is not: anyone could bind a name there first).  Whoever can write the
 * directory can swap the socket names (php-fpm CVE-2014-0185's sibling;
 * Passenger CVE-2014-1832).  Symlinked directories are checked along both
 * the path as given and the path they lead to.  0, or a negative code
 * with a message in err.
 */
int drover_socket_dir_check(const char *path, char *err, size_t errlen);

/*
 * The POSIX ACL of the node listen bound: the entries of MODE plus
 * user:UID:rw- for each of uids, set through the /proc/self/fd link of an
 * O_PATH descriptor of the node (same st_dev/st_ino as bound), never the
 * name.  With n == 0 a node that carries named entries gets its plain
 * MODE back (a reload that drops acl=); a node without any is left alone.
 * 0, or a negative code with a message in err.
 */
int drover_socket_set_acl(drover_socket_t *s, mode_t mode, const uid_t *uids,
    size_t n, char *err, size_t errlen);

/*
 * The same ACL on an open regular file (PATH.slots, which the front end
 * reads): user:UID:r-- for each of uids.  Nothing to do when n == 0.
 */
int drover_socket_acl_file(int fd, mode_t mode, const uid_t *uids, size_t n);

/* close, and remove the file if it is still the one we created */
void drover_socket_close(drover_socket_t *s);

#endif /* DROVER_SOCKET_H */
