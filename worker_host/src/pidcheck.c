/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * pidcheck.c -- see pidcheck.h.
 */

#include "pidcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>


int
drover_pidcheck_parse_ppid(const char *stat, pid_t *ppid)
{
    char         state;
    long         v;
    const char  *p;

    p = strrchr(stat, ')');

    /* "pid (comm) S ppid ...": the state, then the parent's pid */
    if (p == NULL || sscanf(p + 1, " %c %ld", &state, &v) != 2 || v < 0) {
        return -EINVAL;
    }

    *ppid = (pid_t) v;
    return 0;
}


int
drover_pidcheck_parse_ids(const char *status, const char *key,
    unsigned long ids[4])
{
    size_t       klen = strlen(key);
    const char  *line;

    for (line = status; line != NULL && *line != '\0'; ) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            return sscanf(line + klen + 1, " %lu %lu %lu %lu", &ids[0],
                          &ids[1], &ids[2], &ids[3]) == 4 ? 0 : -EINVAL;
        }

        line = strchr(line, '\n');
        if (line != NULL) {
            line++;
        }
    }

    return -EINVAL;
}


static int
proc_read(pid_t pid, const char *name, char *buf, size_t size)
{
    int      fd, rc;
    char     path[64];
    ssize_t  n;
    size_t   len = 0;

    snprintf(path, sizeof(path), "/proc/%ld/%s", (long) pid, name);

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return errno == ENOENT ? -ESRCH : -errno;
    }

    rc = 0;

    while (len < size - 1) {
        n = read(fd, buf + len, size - 1 - len);
        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            /* reading a reaped process's files gives ESRCH */
            rc = -errno;
            break;
        }
        if (n == 0) {
            break;
        }
        len += (size_t) n;
    }

    close(fd);
    buf[len] = '\0';

    return rc;
}


static int
ids_match(const unsigned long ids[4], unsigned long want)
{
    int  i;

    for (i = 0; i < 4; i++) {
        if (ids[i] != want) {
            return 0;
        }
    }

    return 1;
}


static int
check_proc(pid_t pid, const drover_pidcheck_want_t *want, char *why,
    size_t whylen)
{
    int            rc;
    char           buf[4096];
    pid_t          ppid;
    unsigned long  uids[4], gids[4];

    rc = proc_read(pid, "stat", buf, sizeof(buf));
    if (rc != 0) {
        snprintf(why, whylen, "cannot read /proc/%ld/stat: %s", (long) pid,
                 strerror(-rc));
        return rc;
    }

    if (drover_pidcheck_parse_ppid(buf, &ppid) != 0) {
        snprintf(why, whylen, "/proc/%ld/stat does not parse", (long) pid);
        return -EINVAL;
    }

    if (ppid != want->parent) {
        snprintf(why, whylen, "pid %ld is not droverd's child (its parent "
                 "is pid %ld)", (long) pid, (long) ppid);
        return -EPERM;
    }

    rc = proc_read(pid, "status", buf, sizeof(buf));
    if (rc != 0) {
        snprintf(why, whylen, "cannot read /proc/%ld/status: %s", (long) pid,
                 strerror(-rc));
        return rc;
    }

    if (drover_pidcheck_parse_ids(buf, "Uid", uids) != 0
        || drover_pidcheck_parse_ids(buf, "Gid", gids) != 0)
    {
        snprintf(why, whylen, "/proc/%ld/status has no Uid/Gid lines",
                 (long) pid);
        return -EINVAL;
    }

    if (!ids_match(uids, (unsigned long) want->uid)) {
        snprintf(why, whylen, "pid %ld runs as uid %lu/%lu/%lu/%lu, not the "
                 "pool's %lu", (long) pid, uids[0], uids[1], uids[2],
                 uids[3], (unsigned long) want->uid);
        return -EPERM;
    }

    if (want->gid != (gid_t) -1 && !ids_match(gids, (unsigned long) want->gid))
    {
        snprintf(why, whylen, "pid %ld runs as gid %lu/%lu/%lu/%lu, not the "
                 "pool's %lu", (long) pid, gids[0], gids[1], gids[2],
                 gids[3], (unsigned long) want->gid);
        return -EPERM;
    }

    return 0;
}


int
drover_pidcheck_child(pid_t pid, const drover_pidcheck_want_t *want,
    int *pidfd, char *why, size_t whylen)
{
    int  fd, rc;

    *pidfd = -1;
    why[0] = '\0';

    if (pid <= 1) {
        snprintf(why, whylen, "pid %ld can never be a worker", (long) pid);
        return -EINVAL;
    }

    fd = pidfd_open(pid, 0);
    if (fd == -1) {
        rc = -errno;
        if (rc != -ENOSYS) {
            snprintf(why, whylen, "pidfd_open(%ld) failed: %s", (long) pid,
                     strerror(errno));
            return rc;
        }
    }

    rc = check_proc(pid, want, why, whylen);
    if (rc != 0) {
        goto fail;
    }

    /* still the process the pidfd was opened on: nothing was reused */
    if (fd >= 0 && pidfd_send_signal(fd, 0, NULL, 0) != 0) {
        rc = -errno;
        snprintf(why, whylen, "pid %ld went away during the check: %s",
                 (long) pid, strerror(errno));
        goto fail;
    }

    *pidfd = fd;
    return 0;

fail:

    if (fd >= 0) {
        close(fd);
    }

    return rc;
}


int
drover_pidcheck_zombie_ids(pid_t pid, uid_t *uid, gid_t *gid)
{
    int            i, rc;
    char           buf[4096];
    unsigned long  uids[4], gids[4];

    if (pid <= 1) {
        return -EINVAL;
    }

    rc = proc_read(pid, "status", buf, sizeof(buf));
    if (rc != 0) {
        return rc;
    }

    if (drover_pidcheck_parse_ids(buf, "Uid", uids) != 0
        || drover_pidcheck_parse_ids(buf, "Gid", gids) != 0)
    {
        return -EINVAL;
    }

    for (i = 1; i < 4; i++) {
        if (uids[i] != uids[0] || gids[i] != gids[0]) {
            return -EPERM;
        }
    }

    *uid = (uid_t) uids[0];
    *gid = (gid_t) gids[0];

    return 0;
}


int
drover_pidcheck_signal(int pidfd, pid_t pid, int sig)
{
    int  rc;

    if (pidfd >= 0) {
        rc = pidfd_send_signal(pidfd, sig, NULL, 0);
    } else if (pid > 1) {
        rc = kill(pid, sig);
    } else {
        return -EINVAL;
    }

    return rc == 0 ? 0 : -errno;
}
