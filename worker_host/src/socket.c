/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * socket.c -- see socket.h.
 */

#include "socket.h"

#include <acl/libacl.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/acl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>


static int
socket_addr(const char *path, struct sockaddr_un *sa)
{
    size_t  len;

    len = strlen(path);
    if (len >= sizeof(sa->sun_path)) {
        return -ENAMETOOLONG;
    }

    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, len + 1);

    return 0;
}


/*
 * Something exists at path.  Only a socket nobody listens on may go.
 */
static int
socket_clear_stale(const char *path, const struct stat *st, char *err,
    size_t errlen)
{
    int                 fd, rc;
    struct sockaddr_un  sa;

    if (!S_ISSOCK(st->st_mode)) {
        snprintf(err, errlen, "%s exists and is not a socket (%s): "
                 "refusing to replace it; remove it or choose another path",
                 path, S_ISLNK(st->st_mode) ? "a symlink"
                       : S_ISREG(st->st_mode) ? "a regular file"
                       : S_ISDIR(st->st_mode) ? "a directory" : "not a socket");
        return -EEXIST;
    }

    /* non-blocking: a live listener with a full backlog must not hang us */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd == -1) {
        snprintf(err, errlen, "socket() failed: %s", strerror(errno));
        return -errno;
    }

    (void) socket_addr(path, &sa);

    rc = connect(fd, (struct sockaddr *) &sa, sizeof(sa));
    if (rc == -1 && (errno == EAGAIN || errno == EINPROGRESS)) {
        rc = 0;         /* someone listens; it just does not accept now */
    }
    close(fd);

    if (rc == 0) {
        snprintf(err, errlen, "%s is in use: another process listens on "
                 "it (is another droverd running?)", path);
        return -EADDRINUSE;
    }

    if (errno != ECONNREFUSED) {
        snprintf(err, errlen, "cannot tell whether %s is in use: "
                 "connect() failed: %s", path, strerror(errno));
        return -EADDRINUSE;
    }

    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove stale socket %s: %s",
                 path, strerror(errno));
        return -errno;
    }

    return 0;
}


/*
 * The node at path, opened without following it: O_PATH | O_NOFOLLOW gives
 * a descriptor of the name itself, so a symlink put there is never
 * followed; a socket file cannot be opened any other way (ENXIO).
 */
static int
socket_node_open(const char *path, struct stat *st, char *err, size_t errlen)
{
    int  fd, rc;

    fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s without following it: %s",
                 path, strerror(errno));
        return rc;
    }

    if (fstat(fd, st) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }

    return fd;
}


/*
 * Owner, then mode, of the node behind fd (an O_PATH descriptor): both go
 * through the descriptor, never through the name.  fchmod() does not take
 * an O_PATH descriptor; chmod() of its /proc/self/fd link acts on the very
 * inode it holds (glibc's fchmodat(AT_SYMLINK_NOFOLLOW) does the same).
 */
static int
socket_node_set(int fd, const char *path, mode_t mode, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
    int   rc;
    char  link[64];

    if ((uid != (uid_t) -1 || gid != (gid_t) -1)
        && fchownat(fd, "", uid, gid, AT_EMPTY_PATH) != 0)
    {
        rc = -errno;
        snprintf(err, errlen, "cannot set the owner of %s to %ld:%ld: %s",
                 path, (long) uid, (long) gid, strerror(errno));
        return rc;
    }

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);

    if (chmod(link, mode) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot set the mode of %s to %04o through "
                 "its descriptor: %s%s", path, (unsigned) mode,
                 strerror(errno), errno == ENOENT
                 ? " (is /proc mounted?)" : "");
        return rc;
    }

    return 0;
}


int
drover_socket_listen(drover_socket_t *s, const char *path, mode_t mode,
    uid_t uid, gid_t gid, char *err, size_t errlen)
{
    int                 fd, node, rc;
    mode_t              old_mask;
    struct stat         st;
    struct sockaddr_un  sa;

    s->fd = -1;
    s->path = NULL;

    if (socket_addr(path, &sa) != 0) {
        snprintf(err, errlen, "socket path %s is too long (at most %zu "
                 "bytes)", path, sizeof(sa.sun_path) - 1);
        return -ENAMETOOLONG;
    }

    if (lstat(path, &st) == 0) {
        rc = socket_clear_stale(path, &st, err, errlen);
        if (rc != 0) {
            return rc;
        }

    } else if (errno != ENOENT) {
        snprintf(err, errlen, "cannot check %s: %s", path, strerror(errno));
        return -errno;
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(err, errlen, "socket() failed: %s", strerror(errno));
        return -errno;
    }

    /*
     * Linux's bind() creates the node with the socket inode's mode & ~umask
     * (unix_bind_bsd()): fchmod() of the unbound socket sets the first, the
     * umask the second, so the name never exists with a wider mode and no
     * chmod by name is needed.  The manager is single-threaded when it
     * binds.
     */
    if (fchmod(fd, mode) != 0) {
        rc = -errno;
        snprintf(err, errlen, "fchmod() of the socket for %s failed: %s",
                 path, strerror(errno));
        close(fd);
        return rc;
    }

    old_mask = umask(~mode & 0777);
    rc = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
    umask(old_mask);

    if (rc != 0) {
        rc = -errno;
        snprintf(err, errlen, "bind() to %s failed: %s%s", path,
                 strerror(errno), errno == ENOENT
                 ? " (does its directory exist?)" : "");
        close(fd);
        return rc;
    }

    /*
     * Where the pool's user can write the directory, the name may already
     * be something else: only a socket we (this euid) own is ours.
     */
    node = socket_node_open(path, &st, err, errlen);
    if (node < 0) {
        rc = node;
        goto fail;
    }

    if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
        snprintf(err, errlen, "%s was replaced right after bind() (now %s "
                 "owned by uid %ld): refusing to touch it; make its "
                 "directory writable by root only", path,
                 S_ISSOCK(st.st_mode) ? "a socket" : "not a socket",
                 (long) st.st_uid);
        close(node);
        close(fd);
        return -EEXIST;
    }

    rc = socket_node_set(node, path, mode, uid, gid, err, errlen);
    close(node);

    if (rc != 0) {
        goto fail;
    }

    if (listen(fd, DROVER_SOCKET_BACKLOG) != 0) {
        rc = -errno;
        snprintf(err, errlen, "listen() on %s failed: %s", path,
                 strerror(errno));
        goto fail;
    }

    s->path = strdup(path);
    if (s->path == NULL) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }

    s->fd = fd;
    s->dev = st.st_dev;
    s->ino = st.st_ino;

    return 0;

fail:

    unlink(path);
    close(fd);
    return rc;
}


/*
 * An O_PATH descriptor of the node listen bound, if the name still leads
 * to it (same st_dev/st_ino): a name the pool's user replaced (a symlink to
 * a root file) is refused, never followed.
 */
static int
socket_node_ours(drover_socket_t *s, char *err, size_t errlen)
{
    int          node;
    struct stat  st;

    node = socket_node_open(s->path, &st, err, errlen);
    if (node < 0) {
        return node;
    }

    if (!S_ISSOCK(st.st_mode) || st.st_dev != s->dev
        || st.st_ino != s->ino)
    {
        snprintf(err, errlen, "%s is no longer the socket droverd bound "
                 "(now %s, owned by uid %ld): its mode and owner are left "
                 "alone; make its directory writable by root only and "
                 "restart droverd", s->path,
                 S_ISLNK(st.st_mode) ? "a symlink"
                 : S_ISSOCK(st.st_mode) ? "another socket"
                 : S_ISREG(st.st_mode) ? "a regular file" : "not a socket",
                 (long) st.st_uid);
        close(node);
        return -ESTALE;
    }

    return node;
}


int
drover_socket_set_mode(drover_socket_t *s, mode_t mode, uid_t uid,
    gid_t gid, char *err, size_t errlen)
{
    int  node, rc;

    node = socket_node_ours(s, err, errlen);
    if (node < 0) {
        return node;
    }

    rc = socket_node_set(node, s->path, mode, uid, gid, err, errlen);
    close(node);

    return rc;
}


/* ---- socket directories ---- */

/*
 * One directory on the way: 0, or -EPERM with the reason in err.  The
 * sticky bit excuses a parent (/tmp) but not the socket's own directory:
 * there anyone could bind a name first (a slot not made yet, or the shared
 * socket while droverd is down) and take the front end's connections.
 */
static int
socket_dir_safe(const char *dir, const struct stat *st, int last, char *err,
    size_t errlen)
{
    mode_t  m = st->st_mode;

    if (!S_ISDIR(m)) {
        snprintf(err, errlen, "%s is not a directory", dir);
        return -ENOTDIR;
    }

    if (st->st_uid != 0 && st->st_uid != geteuid()) {
        snprintf(err, errlen, "socket directory %s is owned by uid %ld, "
                 "who could replace the sockets in it: make it root's "
                 "(or droverd's own user's)", dir, (long) st->st_uid);
        return -EPERM;
    }

    if ((last || (m & S_ISVTX) == 0)
        && ((m & S_IWOTH) || ((m & S_IWGRP) && st->st_gid != 0)))
    {
        snprintf(err, errlen, "socket directory %s is writable by %s "
                 "(mode %04o), who could %s the sockets in it: "
                 "chmod go-w %s", dir, (m & S_IWOTH) ? "anyone" : "its group",
                 (unsigned) (m & 07777),
                 (m & S_ISVTX) ? "take the names of" : "replace", dir);
        return -EPERM;
    }

    return 0;
}


/* stat (follow) or lstat one directory on the way and judge it */
static int
socket_dir_one(const char *dir, int follow, int last, char *err,
    size_t errlen)
{
    int          rc;
    struct stat  st;

    rc = follow ? stat(dir, &st) : lstat(dir, &st);
    if (rc != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot check socket directory %s: %s", dir,
                 strerror(errno));
        return rc;
    }

    /* a symlink's own directory was checked; where it leads, by realpath */
    if (S_ISLNK(st.st_mode)) {
        return 0;
    }

    return socket_dir_safe(dir, &st, last, err, errlen);
}


/*
 * "/" and each prefix of dir below it.  follow == 0: a symlink on the way is
 * not followed (the realpath pass walks its target).
 */
static int
socket_dir_walk(const char *dir, int follow, char *err, size_t errlen)
{
    int     rc;
    char    buf[PATH_MAX], c;
    size_t  i, len;

    len = strlen(dir);
    if (len == 0 || len >= sizeof(buf) || dir[0] != '/') {
        snprintf(err, errlen, "socket directory \"%s\" is not an absolute "
                 "path", dir);
        return -EINVAL;
    }

    memcpy(buf, dir, len + 1);

    rc = socket_dir_one("/", follow, len == 1, err, errlen);

    for (i = 2; rc == 0 && i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') {
            continue;
        }

        c = buf[i];
        buf[i] = '\0';
        rc = socket_dir_one(buf, follow, c == '\0', err, errlen);
        buf[i] = c;
    }

    return rc;
}


int
drover_socket_dir_check(const char *path, char *err, size_t errlen)
{
    int    rc;
    char   dir[PATH_MAX], *slash, *real;

    if (strlen(path) >= sizeof(dir)) {
        snprintf(err, errlen, "socket path %s is too long", path);
        return -ENAMETOOLONG;
    }

    strcpy(dir, path);

    slash = strrchr(dir, '/');
    if (slash == NULL) {
        snprintf(err, errlen, "socket path %s is not absolute", path);
        return -EINVAL;
    }

    if (slash == dir) {
        slash[1] = '\0';       /* "/x.sock": the root directory */
    } else {
        *slash = '\0';
    }

    rc = socket_dir_walk(dir, 0, err, errlen);
    if (rc != 0) {
        return rc;
    }

    real = realpath(dir, NULL);
    if (real == NULL) {
        rc = -errno;
        snprintf(err, errlen, "cannot resolve socket directory %s: %s%s",
                 dir, strerror(errno), errno == ENOENT
                 ? " (create it, root's, mode 0755)" : "");
        return rc;
    }

    rc = strcmp(real, dir) == 0 ? 0 : socket_dir_walk(real, 1, err, errlen);
    free(real);

    return rc;
}


/* ---- POSIX ACLs: listen acl=USER ---- */

/* MODE as an ACL, plus user:UID:PERMS for each of uids, and the mask */
static acl_t
socket_acl_build(mode_t mode, const uid_t *uids, size_t n, int write)
{
    size_t        i;
    acl_t         acl;
    acl_entry_t   e;
    acl_permset_t ps;

    acl = acl_from_mode(mode & 0777);
    if (acl == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        if (acl_create_entry(&acl, &e) != 0
            || acl_set_tag_type(e, ACL_USER) != 0
            || acl_set_qualifier(e, &uids[i]) != 0
            || acl_get_permset(e, &ps) != 0
            || acl_clear_perms(ps) != 0
            || acl_add_perm(ps, ACL_READ) != 0
            || (write && acl_add_perm(ps, ACL_WRITE) != 0))
        {
            goto fail;
        }
    }

    if (n > 0 && acl_calc_mask(&acl) != 0) {
        goto fail;
    }

    if (acl_valid(acl) != 0) {
        errno = EINVAL;
        goto fail;
    }

    return acl;

fail:

    i = (size_t) errno;
    acl_free(acl);
    errno = (int) i;
    return NULL;
}


int
drover_socket_set_acl(drover_socket_t *s, mode_t mode, const uid_t *uids,
    size_t n, char *err, size_t errlen)
{
    int    node, rc;
    char   link[64];
    acl_t  acl, old;

    node = socket_node_ours(s, err, errlen);
    if (node < 0) {
        return node;
    }

    /*
     * A socket node cannot be opened for acl_set_fd() (ENXIO), and the
     * socket's own fd names the sockfs inode, not this one: setxattr(2)
     * through the /proc/self/fd link reaches the very inode the O_PATH
     * descriptor holds, as chmod() does in socket_node_set().
     */
    snprintf(link, sizeof(link), "/proc/self/fd/%d", node);

    if (n == 0) {
        old = acl_get_file(link, ACL_TYPE_ACCESS);
        rc = (old != NULL && acl_equiv_mode(old, NULL) == 1);
        if (old != NULL) {
            acl_free(old);
        }

        if (!rc) {
            close(node);
            return 0;     /* nothing named on it: nothing to take back */
        }
    }

    acl = socket_acl_build(mode, uids, n, 1);
    if (acl == NULL) {
        rc = -errno;
        snprintf(err, errlen, "cannot build the ACL of %s: %s", s->path,
                 strerror(errno));
        close(node);
        return rc;
    }

    rc = acl_set_file(link, ACL_TYPE_ACCESS, acl);
    if (rc != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot set the ACL of %s through its "
                 "descriptor: %s%s", s->path, strerror(errno),
                 errno == EOPNOTSUPP ? " (the file system has no POSIX "
                 "ACLs: mount it with acl, or use group= instead of acl=)"
                 : "");
    }

    acl_free(acl);
    close(node);

    return rc;
}


int
drover_socket_acl_file(int fd, mode_t mode, const uid_t *uids, size_t n)
{
    int    rc;
    acl_t  acl;

    if (n == 0) {
        return 0;
    }

    acl = socket_acl_build(mode, uids, n, 0);
    if (acl == NULL) {
        return -errno;
    }

    rc = acl_set_fd(fd, acl) == 0 ? 0 : -errno;
    acl_free(acl);

    return rc;
}


/* ---- TCP: listen tcp:ADDR:PORT ---- */

int
drover_socket_tcp_parse(const char *s, char **addr, unsigned *port)
{
    char           *end;
    size_t          len;
    const char     *colon, *a;
    unsigned long   n;

    if (*s == '[') {
        a = s + 1;
        colon = strstr(s, "]:");
        if (colon == NULL) {
            return -EINVAL;
        }
        len = (size_t) (colon - a);
        colon++;

    } else {
        a = s;
        colon = strrchr(s, ':');
        if (colon == NULL || memchr(s, ':', (size_t) (colon - s)) != NULL) {
            return -EINVAL;     /* IPv6 needs its brackets */
        }
        len = (size_t) (colon - a);
    }

    if (len == 0 || len >= INET6_ADDRSTRLEN || colon[1] < '0'
        || colon[1] > '9')
    {
        return -EINVAL;
    }

    errno = 0;
    n = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || n == 0 || n > 65535) {
        return -EINVAL;
    }

    *addr = strndup(a, len);
    if (*addr == NULL) {
        return -ENOMEM;
    }

    if (drover_socket_tcp_addr(*addr, (unsigned) n, NULL, NULL) != 0) {
        free(*addr);
        *addr = NULL;
        return -EINVAL;
    }

    *port = (unsigned) n;

    return 0;
}


int
drover_socket_tcp_addr(const char *addr, unsigned port,
    struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in   sin;
    struct sockaddr_in6  sin6;

    memset(&sin, 0, sizeof(sin));
    memset(&sin6, 0, sizeof(sin6));

    if (port == 0 || port > 65535) {
        return -EINVAL;
    }

    if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t) port);
        if (ss != NULL) {
            memset(ss, 0, sizeof(*ss));
            memcpy(ss, &sin, sizeof(sin));
            *len = sizeof(sin);
        }
        return 0;
    }

    if (inet_pton(AF_INET6, addr, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons((uint16_t) port);
        if (ss != NULL) {
            memset(ss, 0, sizeof(*ss));
            memcpy(ss, &sin6, sizeof(sin6));
            *len = sizeof(sin6);
        }
        return 0;
    }

    return -EINVAL;
}


int
drover_socket_tcp_bind(const char *addr, unsigned port, int *fd, char *err,
    size_t errlen)
{
    int                      s, rc, on;
    socklen_t                len;
    struct sockaddr_storage  ss;

    if (drover_socket_tcp_addr(addr, port, &ss, &len) != 0) {
        snprintf(err, errlen, "bad TCP address %s port %u", addr, port);
        return -EINVAL;
    }

    s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s == -1) {
        rc = -errno;
        snprintf(err, errlen, "socket() for %s:%u failed: %s", addr, port,
                 strerror(errno));
        return rc;
    }

    on = 1;

    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0
        || bind(s, (struct sockaddr *) &ss, len) != 0
        || listen(s, DROVER_SOCKET_BACKLOG) != 0)
    {
        rc = -errno;
        snprintf(err, errlen, "cannot listen on TCP %s%s%s:%u: %s%s",
                 ss.ss_family == AF_INET6 ? "[" : "", addr,
                 ss.ss_family == AF_INET6 ? "]" : "", port, strerror(errno),
                 errno == EADDRINUSE ? " (another process has the port: "
                 "choose another in \"listen tcp:\")"
                 : errno == EADDRNOTAVAIL ? " (no interface of this host "
                 "has that address)" : "");
        close(s);
        return rc;
    }

    *fd = s;

    return 0;
}


int
drover_socket_listen_tcp(drover_socket_t *s, const char *addr, unsigned port,
    char *err, size_t errlen)
{
    int  rc, fd;

    rc = drover_socket_tcp_bind(addr, port, &fd, err, errlen);
    if (rc != 0) {
        return rc;
    }

    s->tcp_fd = fd;
    s->tcp_port = port;

    return 0;
}


void
drover_socket_close_tcp(drover_socket_t *s)
{
    if (s->tcp_port != 0) {
        close(s->tcp_fd);
        s->tcp_fd = -1;
        s->tcp_port = 0;
    }
}


void
drover_socket_close(drover_socket_t *s)
{
    struct stat  st;

    if (s->fd != -1) {
        close(s->fd);
        s->fd = -1;
    }

    drover_socket_close_tcp(s);

    if (s->path != NULL) {
        if (lstat(s->path, &st) == 0 && st.st_dev == s->dev
            && st.st_ino == s->ino)
        {
            unlink(s->path);
        }

        free(s->path);
        s->path = NULL;
    }
}
