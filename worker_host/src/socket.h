/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * socket.h -- the manager's listening sockets: Unix ones, and the TCP
 * ones of `listen tcp:` beside them.  They are bound before
 * any fork and held by the manager for its whole life, so a worker that
 * restarts inherits its socket and connections made meanwhile wait in the
 * backlog instead of failing.
 */

#ifndef DROVER_SOCKET_H
#define DROVER_SOCKET_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define DROVER_SOCKET_BACKLOG  1024

typedef struct {
    int       fd;
    char     *path;
    dev_t     dev;      /* of the file we created: unlink only that one */
    ino_t     ino;
    int       tcp_fd;   /* `listen tcp:`'s listener beside it, valid ... */
    unsigned  tcp_port; /* ... when this is not 0 */
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

/*
 * TCP (`listen tcp:ADDR:PORT`, `status_listen tcp:ADDR:PORT`): "ADDR:PORT"
 * or "[IPV6]:PORT" into *addr (malloc'd, brackets off) and *port.  An
 * address, never a name: droverd resolves nothing.  0 or -EINVAL.
 */
int drover_socket_tcp_parse(const char *s, char **addr, unsigned *port);

/* ADDR:PORT as a sockaddr; 0 or -EINVAL */
int drover_socket_tcp_addr(const char *addr, unsigned port,
    struct sockaddr_storage *ss, socklen_t *len);

/*
 * Bind and listen on ADDR:PORT (SO_REUSEADDR, so that a restarted droverd
 * binds while old connections sit in TIME_WAIT), O_NONBLOCK | O_CLOEXEC,
 * into s->tcp_fd and s->tcp_port.  Who may connect is checked on accept
 * (peers.c).  0, or a negative code with a message in err.
 */
int drover_socket_listen_tcp(drover_socket_t *s, const char *addr,
    unsigned port, char *err, size_t errlen);

/*
 * A bound TCP listener's own fd (netslots.c), as listen_tcp makes it:
 * 0 and *fd, or a negative code with a message in err.
 */
int drover_socket_tcp_bind(const char *addr, unsigned port, int *fd,
    char *err, size_t errlen);

/* close the TCP listener alone, if there is one */
void drover_socket_close_tcp(drover_socket_t *s);

/* close (the TCP listener too), and remove the file if it is still the
   one we created */
void drover_socket_close(drover_socket_t *s);

#endif /* DROVER_SOCKET_H */
