/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * proc.c -- see proc.h.
 */

#include "proc.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


pid_t
drover_proc_fork(void)
{
    int       sig, err;
    pid_t     pid;
    sigset_t  all, old;

    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);

    pid = fork();

    if (pid == 0) {
        for (sig = 1; sig < NSIG; sig++) {
            if (sig != SIGKILL && sig != SIGSTOP) {
                signal(sig, SIG_DFL);   /* EINVAL for glibc's own: fine */
            }
        }

        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        return 0;
    }

    err = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = err;

    return pid;
}


/*
 * Every fd from first up is closed.  O_CLOEXEC covers the manager's own,
 * not those droverd was started with (a root-only file its parent left
 * open as fd 9 would reach the app, issue 11) nor one a library opened
 * without it.  close_range() from Linux 5.9; before it, one by one.
 */
int
drover_proc_close_from(int first)
{
    long  fd, max;

    if (close_range((unsigned) first, ~0U, 0) == 0) {
        return 0;
    }

    if (errno != ENOSYS) {
        return -errno;
    }

    max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 1L << 20) {
        max = 1L << 20;
    }

    for (fd = first; fd < max; fd++) {
        (void) close((int) fd);
    }

    return 0;
}


/* stdin is /dev/null: droverd's own may be a terminal or a file of root's */
static int
proc_stdin_null(void)
{
    int  fd, rc;

    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return -errno;
    }

    if (fd == STDIN_FILENO) {
        /* droverd ran with fd 0 closed: keep this one across exec */
        return fcntl(fd, F_SETFD, 0) == 0 ? 0 : -errno;
    }

    rc = dup2(fd, STDIN_FILENO) == -1 ? -errno : 0;
    close(fd);

    return rc;
}


int
drover_proc_spawn(char *const argv[], const int *fds, int nfds, int out_fd,
    pid_t *pid)
{
    int       i, fd, tmp[8];
    pid_t     child, parent;

    if (nfds > 8) {
        return -EINVAL;
    }

    parent = getpid();

    child = drover_proc_fork();
    if (child == -1) {
        return -errno;
    }

    if (child > 0) {
        *pid = child;
        return 0;
    }

    /*
     * It runs nothing of the manager's loop and execs at once.  Every fd
     * of the manager is O_CLOEXEC except those moved to 3 .. 3 + nfds - 1.
     */
    if (drover_proc_die_with(parent) != 0) {
        _exit(1);
    }

    /* first out of the way of the targets, then onto them */
    for (i = 0; i < nfds; i++) {
        tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + nfds);
        if (tmp[i] == -1) {
            goto fail;
        }
    }

    /*
     * The pool's output, or nothing: never droverd's own stdout and stderr.
     * Above the targets first: dup2() onto itself would keep O_CLOEXEC.
     */
    fd = (out_fd >= 0) ? out_fd : open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd != -1) {
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3 + nfds);
    }

    if (fd == -1 || dup2(fd, STDOUT_FILENO) == -1
        || dup2(fd, STDERR_FILENO) == -1)
    {
        goto fail;
    }

    for (i = 0; i < nfds; i++) {
        fd = 3 + i;
        if (dup2(tmp[i], fd) == -1) {       /* dup2 clears FD_CLOEXEC */
            goto fail;
        }
    }

    if (drover_proc_close_from(3 + nfds) != 0 || proc_stdin_null() != 0) {
        goto fail;
    }

    execv("/proc/self/exe", argv);

fail:

    drover_log_error(DROVER_LOG_EMERG, errno, "cannot start %s %s",
                     argv[0], argv[1]);
    _exit(127);
}


/*
 * Nor group root (the config refuses it, this is the proof in the process
 * itself): gid 0 is neither held, as real, effective or supplementary
 * group, nor to be had back.
 */
static int
proc_check_no_root_group(const drover_pool_conf_t *pool, char *err,
    size_t errlen)
{
    int     i, n;
    gid_t   zero, *groups;

    if (getgid() == 0 || getegid() == 0) {
        snprintf(err, errlen, "pool \"%s\": still group root (gid %ld, "
                 "egid %ld) after setgid(%ld)", pool->name, (long) getgid(),
                 (long) getegid(), (long) pool->gid);
        return -EPERM;
    }

    n = getgroups(0, NULL);
    groups = malloc((size_t) (n > 0 ? n : 1) * sizeof(gid_t));
    if (n == -1 || groups == NULL
        || (n = getgroups(n, groups)) == -1)
    {
        snprintf(err, errlen, "pool \"%s\": cannot list the groups of the "
                 "process: %s", pool->name, strerror(errno));
        free(groups);
        return -EPERM;
    }

    for (i = 0; i < n && groups[i] != 0; i++) {
        /* void */
    }

    free(groups);

    if (i < n) {
        snprintf(err, errlen, "pool \"%s\": group root (gid 0) is among "
                 "the supplementary groups of user %ld: remove the user from "
                 "group root", pool->name, (long) pool->uid);
        return -EPERM;
    }

    zero = 0;

    if (setgid(0) == 0 || setegid(0) == 0 || setgroups(1, &zero) == 0) {
        snprintf(err, errlen, "pool \"%s\": could regain group root after "
                 "setuid(%ld)", pool->name, (long) pool->uid);
        return -EPERM;
    }

    return 0;
}


int
drover_proc_drop_privileges(const drover_pool_conf_t *pool, char *err,
    size_t errlen)
{
    struct passwd  *pw;

    if (geteuid() != 0 || pool->uid == (uid_t) -1) {
        return 0;
    }

    pw = getpwuid(pool->uid);

    if (pw != NULL) {
        if (initgroups(pw->pw_name, pool->gid) != 0) {
            snprintf(err, errlen, "pool \"%s\": initgroups(%s) failed: %s",
                     pool->name, pw->pw_name, strerror(errno));
            return -errno;
        }

    } else if (setgroups(0, NULL) != 0) {
        snprintf(err, errlen, "pool \"%s\": setgroups() failed: %s",
                 pool->name, strerror(errno));
        return -errno;
    }

    if (setgid(pool->gid) != 0) {
        snprintf(err, errlen, "pool \"%s\": setgid(%ld) failed: %s",
                 pool->name, (long) pool->gid, strerror(errno));
        return -errno;
    }

    if (setuid(pool->uid) != 0) {
        snprintf(err, errlen, "pool \"%s\": setuid(%ld) failed: %s",
                 pool->name, (long) pool->uid, strerror(errno));
        return -errno;
    }

    /* a pool never runs as root: make sure there is no way back */
    if (pool->uid != 0 && setuid(0) == 0) {
        snprintf(err, errlen, "pool \"%s\": could regain root after "
                 "setuid(%ld)", pool->name, (long) pool->uid);
        return -EPERM;
    }

    return proc_check_no_root_group(pool, err, errlen);
}


int
drover_proc_die_with(pid_t manager)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        return -errno;
    }

    /* it may have died before the prctl: then our parent is someone else */
    if (getppid() != manager) {
        return -ESRCH;
    }

    return 0;
}


void
drover_proc_describe_exit(int status, char *buf, size_t size)
{
    if (WIFEXITED(status)) {
        snprintf(buf, size, "exited with code %d", WEXITSTATUS(status));

    } else if (WIFSIGNALED(status)) {
        snprintf(buf, size, "killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)),
                 WCOREDUMP(status) ? ", core dumped" : "");
    } else {
        snprintf(buf, size, "ended with status 0x%x", (unsigned) status);
    }
}


int
drover_proc_conf_memfd(const drover_conf_t *conf,
    const drover_pool_conf_t *pool)
{
    int      fd, rc;
    FILE    *f;
    char    *text;
    size_t   len, off;
    ssize_t  n;

    text = NULL;
    len = 0;

    f = open_memstream(&text, &len);
    if (f == NULL) {
        return -errno;
    }

    rc = drover_conf_dump_pool(conf, pool, f);

    if (fclose(f) != 0 && rc == 0) {
        rc = -errno;
    }

    if (rc != 0) {
        free(text);
        return rc;
    }

    fd = memfd_create("droverd-pool", MFD_CLOEXEC);
    if (fd == -1) {
        rc = -errno;
        free(text);
        return rc;
    }

    for (off = 0; off < len; off += (size_t) n) {
        n = write(fd, text + off, len - off);
        if (n == -1) {
            if (errno == EINTR) {
                n = 0;
                continue;
            }

            rc = -errno;
            free(text);
            close(fd);
            return rc;
        }
    }

    free(text);
    return fd;
}


unsigned long long
drover_proc_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (unsigned long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
