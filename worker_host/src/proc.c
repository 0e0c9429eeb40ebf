/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * proc.c -- see proc.h.
 */

#include "proc.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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


/*
 * The pool's environment, for the child to take on once it runs as the
 * pool's user (drover_env_adopt()): a sealed memfd of "NAME=VALUE\0"
 * strings.  droverd's children start as root; an environment given to
 * execve() would reach the dynamic loader of a root process, and
 * `env LD_PRELOAD /home/alice/x.so;` would run a tenant's code as root.
 */
static int
proc_env_memfd(char *const envp[])
{
    int      fd, err;
    size_t   i, len;
    ssize_t  n;

    fd = memfd_create("drover-env", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd == -1) {
        return -errno;
    }

    for (i = 0; envp != NULL && envp[i] != NULL; i++) {
        len = strlen(envp[i]) + 1;
        n = write(fd, envp[i], len);
        if (n != (ssize_t) len) {
            err = (n == -1) ? errno : EIO;
            close(fd);
            return -err;
        }
    }

    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW
                               | F_SEAL_WRITE) != 0
        || lseek(fd, 0, SEEK_SET) != 0)
    {
        err = errno;
        close(fd);
        return -err;
    }

    return fd;
}


int
drover_proc_spawn(char *const argv[], const int *fds, int nfds, int out_fd,
    char *const envp[], pid_t *pid)
{
    int       i, n, fd, env_fd, tmp[9];
    char      env_var[32], *boot[8];
    pid_t     child, parent;

    if (nfds > 8) {
        return -EINVAL;
    }

    /*
     * What the exec'd droverd gets as root: where its environment waits,
     * and under a sanitizer build the sanitizer's settings (env.c passes
     * them only then), which must be there from the start.
     */
    n = 0;
    snprintf(env_var, sizeof(env_var), "DROVER_ENV_FD=%d", 3 + nfds);
    boot[n++] = env_var;

    for (i = 0; envp != NULL && envp[i] != NULL && n < 7; i++) {
        if (strncmp(envp[i], "ASAN_OPTIONS=", 13) == 0
            || strncmp(envp[i], "UBSAN_OPTIONS=", 14) == 0
            || strncmp(envp[i], "LSAN_OPTIONS=", 13) == 0)
        {
            boot[n++] = envp[i];
        }
    }

    boot[n] = NULL;

    env_fd = proc_env_memfd(envp);
    if (env_fd < 0) {
        return env_fd;
    }

    parent = getpid();

    child = drover_proc_fork();
    if (child == -1) {
        i = errno;
        close(env_fd);
        return -i;
    }

    if (child > 0) {
        close(env_fd);
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
    for (i = 0; i <= nfds; i++) {
        tmp[i] = fcntl(i < nfds ? fds[i] : env_fd, F_DUPFD_CLOEXEC,
                       3 + nfds + 1);
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
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3 + nfds + 1);
    }

    if (fd == -1 || dup2(fd, STDOUT_FILENO) == -1
        || dup2(fd, STDERR_FILENO) == -1)
    {
        goto fail;
    }

    for (i = 0; i <= nfds; i++) {
        fd = 3 + i;
        if (dup2(tmp[i], fd) == -1) {       /* dup2 clears FD_CLOEXEC */
            goto fail;
        }
    }

    if (drover_proc_close_from(3 + nfds + 1) != 0 || proc_stdin_null() != 0)
    {
        goto fail;
    }

    execve("/proc/self/exe", argv, boot);

fail:

    drover_log_error(DROVER_LOG_EMERG, errno, "cannot start %s %s",
                     argv[0], argv[1]);
    _exit(127);
}


/* soft and hard: the tenant cannot raise what droverd set */
static int
proc_set_rlimit(int resource, const char *name, unsigned long long v,
    const drover_pool_conf_t *pool, char *err, size_t errlen)
{
    struct rlimit  rl;

    rl.rlim_cur = (v == DROVER_CONF_RLIM_INFINITY) ? RLIM_INFINITY
                                                   : (rlim_t) v;
    rl.rlim_max = rl.rlim_cur;

    if (setrlimit(resource, &rl) != 0) {
        snprintf(err, errlen, "pool \"%s\": cannot set %s to %llu: %s",
                 pool->name, name, v, strerror(errno));
        return -errno;
    }

    return 0;
}


static int
proc_set_limits(const drover_pool_conf_t *pool, char *err, size_t errlen)
{
    int  rc;

    rc = proc_set_rlimit(RLIMIT_CORE, "rlimit_core", pool->rlimit_core,
                         pool, err, errlen);

    if (rc == 0 && pool->rlimit_files != 0) {
        rc = proc_set_rlimit(RLIMIT_NOFILE, "rlimit_files",
                             pool->rlimit_files, pool, err, errlen);
    }

    if (rc == 0 && pool->rlimit_nproc != 0) {
        rc = proc_set_rlimit(RLIMIT_NPROC, "rlimit_nproc",
                             pool->rlimit_nproc, pool, err, errlen);
    }

    return rc;
}


/*
 * `cpu_scheduling` (docs/droverd.conf.md): batch by default, so that a
 * worker a request wakes does not preempt the front end that wrote it.
 * The app may move between batch and normal (no privilege needed, nothing
 * gained); out of idle only with an RLIMIT_NICE above 0 (sched(7)), so an
 * idle pool gets 0, soft and hard, set here while still root.
 */
static int
proc_set_scheduling(const drover_pool_conf_t *pool, char *err,
    size_t errlen)
{
    int                 rc;
    struct sched_param  sp;

    if (pool->cpu_scheduling == SCHED_IDLE) {
        rc = proc_set_rlimit(RLIMIT_NICE, "RLIMIT_NICE", 0, pool, err,
                             errlen);
        if (rc != 0) {
            return rc;
        }
    }

    if (sched_getscheduler(0) == pool->cpu_scheduling) {
        return 0;
    }

    memset(&sp, 0, sizeof(sp));

    if (sched_setscheduler(0, pool->cpu_scheduling, &sp) != 0) {
        snprintf(err, errlen, "pool \"%s\": cannot set cpu_scheduling %s: "
                 "%s", pool->name,
                 drover_conf_cpu_scheduling_name(pool->cpu_scheduling),
                 strerror(errno));
        return -errno;
    }

    return 0;
}


static int
proc_gid_cmp(const void *a, const void *b)
{
    gid_t  x = *(const gid_t *) a, y = *(const gid_t *) b;

    return (x > y) - (x < y);
}


/* the supplementary groups of the process; *n of them, sorted, or NULL */
static gid_t *
proc_groups(int *n)
{
    int     k;
    gid_t  *groups;

    k = getgroups(0, NULL);
    if (k < 0) {
        return NULL;
    }

    groups = malloc((size_t) (k + 1) * sizeof(gid_t));
    if (groups == NULL) {
        return NULL;
    }

    k = getgroups(k, groups);
    if (k < 0) {
        free(groups);
        return NULL;
    }

    qsort(groups, (size_t) k, sizeof(gid_t), proc_gid_cmp);
    *n = k;

    return groups;
}


/*
 * The supplementary groups are exactly the user's from the group database
 * (the primary group may or may not be among them), none of droverd's.
 * A uid without a passwd entry has none at all.
 */
static int
proc_check_groups(const drover_pool_conf_t *pool, const char *user,
    char *err, size_t errlen)
{
    int     i, n, want_n, rc;
    gid_t  *have, *want;

    have = proc_groups(&n);
    if (have == NULL) {
        snprintf(err, errlen, "pool \"%s\": cannot list the groups of the "
                 "process: %s", pool->name, strerror(errno));
        return -EPERM;
    }

    want = NULL;
    want_n = 0;
    rc = 0;

    if (user != NULL) {
        want_n = 16;

        for ( ;; ) {
            free(want);
            want = malloc((size_t) want_n * sizeof(gid_t));
            if (want == NULL) {
                rc = -ENOMEM;
                break;
            }

            i = want_n;
            if (getgrouplist(user, pool->gid, want, &i) != -1) {
                want_n = i;
                break;
            }

            want_n = (i > want_n) ? i : want_n * 2;
        }

        if (want != NULL) {
            qsort(want, (size_t) want_n, sizeof(gid_t), proc_gid_cmp);
        }
    }

    /* initgroups() also adds the primary group: compare without it */
    for (i = 0; rc == 0 && i < n; i++) {
        if (have[i] == 0) {
            snprintf(err, errlen, "pool \"%s\": group root (gid 0) is among "
                     "the supplementary groups of user %ld: remove the user "
                     "from group root", pool->name, (long) pool->uid);
            rc = -EPERM;

        } else if (have[i] != pool->gid
                   && (want == NULL
                       || bsearch(&have[i], want, (size_t) want_n,
                                  sizeof(gid_t), proc_gid_cmp) == NULL))
        {
            snprintf(err, errlen, "pool \"%s\": holds group %ld, which is "
                     "not one of user %ld's", pool->name, (long) have[i],
                     (long) pool->uid);
            rc = -EPERM;
        }
    }

    for (i = 0; rc == 0 && want != NULL && i < want_n; i++) {
        if (want[i] != pool->gid
            && bsearch(&want[i], have, (size_t) n, sizeof(gid_t),
                       proc_gid_cmp) == NULL)
        {
            snprintf(err, errlen, "pool \"%s\": lacks group %ld of user "
                     "%ld", pool->name, (long) want[i], (long) pool->uid);
            rc = -EPERM;
        }
    }

    if (rc == -ENOMEM) {
        snprintf(err, errlen, "pool \"%s\": out of memory", pool->name);
    }

    free(want);
    free(have);

    return rc;
}


/*
 * After setuid(): real, effective and saved ids are the pool's, no
 * capability is left, and neither root nor group root can be had back.
 * The config refuses both; this is the proof in the process itself.
 */
static int
proc_check_dropped(const drover_pool_conf_t *pool, const char *user,
    char *err, size_t errlen)
{
    uid_t                              r, e, s;
    gid_t                              rg, eg, sg, zero;
    struct __user_cap_header_struct    hdr;
    struct __user_cap_data_struct      caps[2];

    if (getresuid(&r, &e, &s) != 0 || r != pool->uid || e != pool->uid
        || s != pool->uid || setfsuid((uid_t) -1) != (int) pool->uid)
    {
        snprintf(err, errlen, "pool \"%s\": uids are not all %ld after "
                 "setuid()", pool->name, (long) pool->uid);
        return -EPERM;
    }

    if (getresgid(&rg, &eg, &sg) != 0 || rg != pool->gid || eg != pool->gid
        || sg != pool->gid || setfsgid((gid_t) -1) != (int) pool->gid)
    {
        snprintf(err, errlen, "pool \"%s\": gids are not all %ld after "
                 "setgid()", pool->name, (long) pool->gid);
        return -EPERM;
    }

    memset(&hdr, 0, sizeof(hdr));
    memset(caps, 0, sizeof(caps));
    hdr.version = _LINUX_CAPABILITY_VERSION_3;

    if (syscall(SYS_capget, &hdr, caps) != 0
        || caps[0].effective != 0 || caps[1].effective != 0
        || caps[0].permitted != 0 || caps[1].permitted != 0)
    {
        snprintf(err, errlen, "pool \"%s\": capabilities left after "
                 "setuid(%ld)", pool->name, (long) pool->uid);
        return -EPERM;
    }

    zero = 0;

    if (setuid(0) == 0 || seteuid(0) == 0) {
        snprintf(err, errlen, "pool \"%s\": could regain root after "
                 "setuid(%ld)", pool->name, (long) pool->uid);
        return -EPERM;
    }

    if (setgid(0) == 0 || setegid(0) == 0 || setgroups(1, &zero) == 0) {
        snprintf(err, errlen, "pool \"%s\": could regain group root after "
                 "setuid(%ld)", pool->name, (long) pool->uid);
        return -EPERM;
    }

    if (pool->gid != 0 && (getgid() == 0 || getegid() == 0)) {
        snprintf(err, errlen, "pool \"%s\": still group root", pool->name);
        return -EPERM;
    }

    return proc_check_groups(pool, user, err, errlen);
}


static int
proc_switch_user(const drover_pool_conf_t *pool, char *err, size_t errlen)
{
    int             rc;
    char           *user;
    struct passwd  *pw;

    pw = getpwuid(pool->uid);
    user = (pw != NULL) ? strdup(pw->pw_name) : NULL;

    if (pw != NULL && user == NULL) {
        snprintf(err, errlen, "pool \"%s\": out of memory", pool->name);
        return -ENOMEM;
    }

    if (setgid(pool->gid) != 0) {
        rc = -errno;
        snprintf(err, errlen, "pool \"%s\": setgid(%ld) failed: %s",
                 pool->name, (long) pool->gid, strerror(errno));
        goto cleanup;
    }

    if (user != NULL ? initgroups(user, pool->gid) != 0
                     : setgroups(0, NULL) != 0)
    {
        rc = -errno;
        snprintf(err, errlen, "pool \"%s\": %s(%s) failed: %s", pool->name,
                 user != NULL ? "initgroups" : "setgroups",
                 user != NULL ? user : "none", strerror(errno));
        goto cleanup;
    }

    if (setuid(pool->uid) != 0) {
        rc = -errno;
        snprintf(err, errlen, "pool \"%s\": setuid(%ld) failed: %s",
                 pool->name, (long) pool->uid, strerror(errno));
        goto cleanup;
    }

    rc = proc_check_dropped(pool, user, err, errlen);

cleanup:

    free(user);
    return rc;
}


int
drover_proc_drop_privileges(const drover_pool_conf_t *pool, char *err,
    size_t errlen)
{
    int          rc, root, deathsig;
    pid_t        parent;
    const char  *dir;

    root = (geteuid() == 0 && pool->uid != (uid_t) -1);
    parent = getppid();

    if (prctl(PR_GET_PDEATHSIG, &deathsig) != 0) {
        deathsig = 0;
    }
    dir = (pool->working_dir != NULL) ? pool->working_dir : "/";

    /* limits first: as root, a hard limit can still be raised */
    rc = proc_set_limits(pool, err, errlen);
    if (rc != 0) {
        return rc;
    }

    /* inherited by the workers the preloader forks and across exec */
    rc = proc_set_scheduling(pool, err, errlen);
    if (rc != 0) {
        return rc;
    }

    umask(pool->umask);

    if (chdir(dir) != 0) {
        snprintf(err, errlen, "pool \"%s\": cannot change directory to "
                 "working_dir %s: %s", pool->name, dir, strerror(errno));
        return -errno;
    }

    if (root) {
        rc = proc_switch_user(pool, err, errlen);
        if (rc != 0) {
            return rc;
        }

        /*
         * A change of credentials clears the parent-death signal: set it
         * again, so that every caller's process still dies with droverd
         * (and droverd did not die before it was set).
         */
        if (deathsig != 0
            && (prctl(PR_SET_PDEATHSIG, deathsig) != 0
                || getppid() != parent))
        {
            snprintf(err, errlen, "pool \"%s\": droverd went away while "
                     "the process switched users", pool->name);
            return -ESRCH;
        }

        /*
         * Again as the user: a directory root reached through one the
         * user cannot search would be a way around that directory's mode.
         */
        if (chdir(dir) != 0) {
            snprintf(err, errlen, "pool \"%s\": user %ld cannot reach "
                     "working_dir %s: %s", pool->name, (long) pool->uid, dir,
                     strerror(errno));
            return -errno;
        }
    }

    /* no setuid/setgid program (nor file capability) gives any back */
    if (pool->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(err, errlen, "pool \"%s\": prctl(PR_SET_NO_NEW_PRIVS) "
                 "failed: %s", pool->name, strerror(errno));
        return -errno;
    }

    /*
     * Not dumpable: no core file of a tenant's memory, no ptrace attach,
     * /proc/PID owned by root (droverd reads it as root all the same).
     * An execve() resets it: a prestart command is dumpable again.
     */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        snprintf(err, errlen, "pool \"%s\": prctl(PR_SET_DUMPABLE) failed: "
                 "%s", pool->name, strerror(errno));
        return -errno;
    }

    return 0;
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
