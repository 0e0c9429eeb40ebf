/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * fdprobe.c -- an app whose constructor records the fds of every process
 * that loads it, for t/inherited_fds.t.  Never deploy it.
 *
 * A constructor runs at dlopen(), before droverd calls any hook: in the
 * manager's app check (a fork of root droverd that drops to the pool's
 * user, without exec), in the preloader and in `preload off` workers.  So
 * it sees exactly what app code would get there.
 *
 * When DROVER_FDPROBE_DIR is set (the pool passes droverd's own with
 * `env DROVER_FDPROBE_DIR;`, so it reaches all of them), it writes
 * DIR/fds.PID, atomically (a rename), as:
 *
 *     cmdline droverd -c /tmp/x/droverd.conf
 *     uid 65534
 *     fd 0 /dev/null
 *     fd 3 pipe:[123456]
 *
 * one "fd" line per open fd but the one that lists them.  The directory
 * must be writable by the pool's user.  Requests get "fdprobe\n".
 *
 * Then, in the app check only (not a preloader or worker), what the first
 * word of DIR/check_mode says, as a hostile constructor would:
 *   hang    close the result pipe (fd 3) and sleep (at most a minute)
 *   forge   write a message with a forged log line to fd 3 and fail
 *   daemon  leave a child that holds fd 3 (DIR/daemon.pid; at most 30 s)
 *           and return: the check itself succeeds
 */

#include <drover.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* "cmdline A B C": the NULs between arguments as spaces */
static size_t
fdprobe_cmdline(char *buf, size_t size)
{
    int      fd;
    size_t   i, len;
    ssize_t  n;

    len = (size_t) snprintf(buf, size, "cmdline ");

    n = -1;
    fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd != -1) {
        n = read(fd, buf + len, size - len - 2);
        close(fd);
    }

    if (n < 0) {
        n = 0;
    }

    for (i = len; i < len + (size_t) n; i++) {
        if (buf[i] == '\0') {
            buf[i] = ' ';
        }
    }

    len += (size_t) n;
    buf[len++] = '\n';
    buf[len] = '\0';

    return len;
}


static void
fdprobe_hostile(const char *dir)
{
    int      fd, i;
    char     path[2048], mode[16];
    FILE    *f;
    ssize_t  n;
    pid_t    pid;

    static const char  forged[] = "check failed\n2026/01/01 00:00:00 "
        "[alert] 1#0: forged by the app check\n";

    snprintf(path, sizeof(path), "%s/check_mode", dir);

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return;
    }

    n = read(fd, mode, sizeof(mode) - 1);
    close(fd);
    mode[n > 0 ? n : 0] = '\0';

    if (strncmp(mode, "hang", 4) == 0) {
        close(3);
        for (i = 0; i < 60; i++) {
            sleep(1);
        }

    } else if (strncmp(mode, "forge", 5) == 0) {
        n = write(3, forged, sizeof(forged) - 1);
        _exit(n == -1 ? 2 : 1);

    } else if (strncmp(mode, "daemon", 6) == 0) {
        pid = fork();
        if (pid == 0) {
            snprintf(path, sizeof(path), "%s/daemon.pid", dir);
            f = fopen(path, "we");
            if (f != NULL) {
                fprintf(f, "%ld\n", (long) getpid());
                fclose(f);
            }
            for (i = 0; i < 30; i++) {
                sleep(1);
            }
            _exit(0);
        }
    }
}


__attribute__((constructor))
static void
fdprobe_record(void)
{
    int             fd, self;
    char            path[4096], tmp[4096], target[4096], text[65536];
    DIR            *d;
    FILE           *f;
    size_t          len;
    ssize_t         n;
    const char     *dir;
    struct dirent  *e;

    dir = getenv("DROVER_FDPROBE_DIR");
    if (dir == NULL) {
        return;
    }

    /* the fds first: every file opened below would be one of them */
    d = opendir("/proc/self/fd");
    if (d == NULL) {
        return;
    }

    self = dirfd(d);
    len = 0;
    text[0] = '\0';

    while ((e = readdir(d)) != NULL && len < sizeof(text) - 8192) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') {
            continue;
        }

        fd = atoi(e->d_name);
        if (fd == self) {
            continue;
        }

        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';

        len += (size_t) snprintf(text + len, sizeof(text) - len, "fd %d %s\n",
                                 fd, target);
    }

    closedir(d);

    if (strlen(dir) > 1024) {
        return;
    }

    snprintf(path, sizeof(path), "%s/fds.%ld", dir, (long) getpid());
    snprintf(tmp, sizeof(tmp), "%s/fds.%ld.tmp", dir, (long) getpid());

    f = fopen(tmp, "we");
    if (f == NULL) {
        return;
    }

    fdprobe_cmdline(target, sizeof(target));
    fprintf(f, "%suid %ld\n%s", target, (long) getuid(), text);

    if (fclose(f) == 0) {
        (void) rename(tmp, path);
    }

    if (strstr(target, " --preloader ") == NULL
        && strstr(target, " --worker ") == NULL)
    {
        fdprobe_hostile(dir);
    }
}


static int
fdprobe_handle(drover_req_t *req, void *state)
{
    (void) state;

    return drover_resp_write(req, "fdprobe\n", 8) == 8 ? 0 : -1;
}


DROVER_APP(
    .name   = "fdprobe",
    .handle = fdprobe_handle,
);
