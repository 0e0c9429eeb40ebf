/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * privprobe.c -- reports what a pool's process was left with, for
 * t/tenant_privileges.t and t/pool_env.t.  Never deploy it.
 *
 * GET / answers, one "KEY VALUE" per line: pid, uid and gid (real,
 * effective, saved), groups (sorted), no_new_privs and dumpable (prctl),
 * nofile, core and nproc (soft and hard rlimits), umask, cwd, then what the
 * attempts to get root back returned (setuid0, seteuid0, setgid0,
 * setgroups0: "ok" or the errno name), then "env NAME=VALUE" per variable.
 * GET /write?path=P creates P (0666 less the umask) and answers "ok".
 *
 * Its constructor, when PRIVPROBE_DIR is set, writes DIR/env.PID: the
 * process's cmdline on the first line, then its environment, one variable
 * per line.  It runs wherever the app is loaded: the manager's app check,
 * the preloader, a `preload off` worker.
 */

#include <drover.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;


__attribute__((constructor))
static void
privprobe_record(void)
{
    int          fd;
    char         path[4096], tmp[4104], cmdline[4096];
    FILE        *f;
    size_t       i;
    ssize_t      n;
    const char  *dir;

    dir = getenv("PRIVPROBE_DIR");
    if (dir == NULL) {
        return;
    }

    fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    n = (fd >= 0) ? read(fd, cmdline, sizeof(cmdline) - 1) : -1;
    if (fd >= 0) {
        close(fd);
    }

    for (i = 0; n > 0 && i < (size_t) n; i++) {
        if (cmdline[i] == '\0') {
            cmdline[i] = ' ';
        }
    }
    cmdline[n > 0 ? n : 0] = '\0';

    snprintf(path, sizeof(path), "%s/env.%ld", dir, (long) getpid());
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);

    f = fopen(tmp, "w");
    if (f == NULL) {
        return;
    }

    fprintf(f, "cmdline %s\n", cmdline);

    for (i = 0; environ[i] != NULL; i++) {
        fprintf(f, "%s\n", environ[i]);
    }

    if (fclose(f) == 0) {
        (void) rename(tmp, path);
    }
}


static int
privprobe_gid_cmp(const void *a, const void *b)
{
    gid_t  x = *(const gid_t *) a, y = *(const gid_t *) b;

    return (x > y) - (x < y);
}


static const char *
privprobe_result(int rc)
{
    if (rc == 0) {
        return "ok";
    }

    switch (errno) {
    case EPERM:
        return "EPERM";
    case EINVAL:
        return "EINVAL";
    default:
        return "other";
    }
}


static void
privprobe_limit(drover_req_t *req, const char *name, int resource)
{
    struct rlimit  rl;

    if (getrlimit(resource, &rl) != 0) {
        drover_resp_printf(req, "%s error\n", name);
        return;
    }

    drover_resp_printf(req, "%s ", name);

    if (rl.rlim_cur == RLIM_INFINITY) {
        drover_resp_printf(req, "unlimited ");
    } else {
        drover_resp_printf(req, "%llu ", (unsigned long long) rl.rlim_cur);
    }

    if (rl.rlim_max == RLIM_INFINITY) {
        drover_resp_printf(req, "unlimited\n");
    } else {
        drover_resp_printf(req, "%llu\n", (unsigned long long) rl.rlim_max);
    }
}


static int
privprobe_report(drover_req_t *req)
{
    int     i, n;
    char    cwd[4096];
    uid_t   r, e, s;
    gid_t   rg, eg, sg, groups[256], zero;
    mode_t  mask;

    getresuid(&r, &e, &s);
    getresgid(&rg, &eg, &sg);

    drover_resp_printf(req, "pid %ld\nuid %lu %lu %lu\ngid %lu %lu %lu\n",
                       (long) getpid(), (unsigned long) r, (unsigned long) e,
                       (unsigned long) s, (unsigned long) rg,
                       (unsigned long) eg, (unsigned long) sg);

    n = getgroups(256, groups);
    if (n < 0) {
        n = 0;
    }
    qsort(groups, (size_t) n, sizeof(gid_t), privprobe_gid_cmp);

    drover_resp_printf(req, "groups");
    for (i = 0; i < n; i++) {
        drover_resp_printf(req, " %lu", (unsigned long) groups[i]);
    }

    drover_resp_printf(req, "\nno_new_privs %d\ndumpable %d\n",
                       prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
                       prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));

    privprobe_limit(req, "nofile", RLIMIT_NOFILE);
    privprobe_limit(req, "core", RLIMIT_CORE);
    privprobe_limit(req, "nproc", RLIMIT_NPROC);

    mask = umask(0);
    umask(mask);

    drover_resp_printf(req, "umask 0%03o\ncwd %s\n", (unsigned) mask,
                       getcwd(cwd, sizeof(cwd)) != NULL ? cwd : "?");

    /* a tenant's code trying to get root back */
    zero = 0;
    drover_resp_printf(req, "setuid0 %s\n", privprobe_result(setuid(0)));
    drover_resp_printf(req, "seteuid0 %s\n", privprobe_result(seteuid(0)));
    drover_resp_printf(req, "setgid0 %s\n", privprobe_result(setgid(0)));
    drover_resp_printf(req, "setgroups0 %s\n",
                       privprobe_result(setgroups(1, &zero)));

    for (i = 0; environ[i] != NULL; i++) {
        drover_resp_printf(req, "env %s\n", environ[i]);
    }

    return 0;
}


static int
privprobe_write(drover_req_t *req)
{
    int   fd;
    char  path[4096];

    if (drover_req_arg(req, "path", path, sizeof(path)) <= 0) {
        drover_resp_status(req, 400);
        drover_resp_printf(req, "no path\n");
        return 0;
    }

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd == -1) {
        drover_resp_status(req, 500);
        drover_resp_printf(req, "open %s: %s\n", path, strerror(errno));
        return 0;
    }

    if (write(fd, "privprobe\n", 10) != 10) {
        close(fd);
        drover_resp_status(req, 500);
        drover_resp_printf(req, "write %s: %s\n", path, strerror(errno));
        return 0;
    }

    close(fd);
    drover_resp_printf(req, "ok\n");
    return 0;
}


static int
privprobe_handle(drover_req_t *req, void *state)
{
    const char  *path = drover_req_path(req);

    (void) state;

    if (strcmp(path, "/write") == 0) {
        return privprobe_write(req);
    }

    return privprobe_report(req);
}


DROVER_APP(
    .name   = "privprobe",
    .handle = privprobe_handle,
);
