/*
 * socket.c -- see socket.h.
 */

#include "socket.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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


int
drover_socket_listen(drover_socket_t *s, const char *path, mode_t mode,
    uid_t uid, gid_t gid, char *err, size_t errlen)
{
    int                 fd, rc;
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
     * bind() creates the file with 0777 & ~umask: set the umask so that is
     * exactly MODE.  The manager is single-threaded when it binds.
     */
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

    if (lstat(path, &st) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot stat %s after bind: %s", path,
                 strerror(errno));
        goto fail;
    }

    if ((uid != (uid_t) -1 || gid != (gid_t) -1)
        && lchown(path, uid, gid) != 0)
    {
        rc = -errno;
        snprintf(err, errlen, "cannot set the owner of %s to %ld:%ld: %s",
                 path, (long) uid, (long) gid, strerror(errno));
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


void
drover_socket_close(drover_socket_t *s)
{
    struct stat  st;

    if (s->fd != -1) {
        close(s->fd);
        s->fd = -1;
    }

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
