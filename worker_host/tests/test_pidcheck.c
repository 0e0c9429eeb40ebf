/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_pidcheck.c -- the manager's check of a pid a preloader reported:
 * the /proc parsers on hostile process names, then real processes: our own
 * child (passes), our parent, pid 1, a grandchild reparented away from us,
 * a child with other credentials (as root), a reaped child.
 */

#include "pidcheck.h"
#include "tap.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond, name)                                                    \
    do {                                                                     \
        int  c_ = (cond);                                                    \
        ASSERT_TRUE(c_, name);                                               \
    } while (0)


static void
test_parsers(void)
{
    pid_t          ppid = 0;
    unsigned long  ids[4] = { 0, 0, 0, 0 };

    ASSERT_EQ(drover_pidcheck_parse_ppid("42 (sh) S 7 42 42 0 -1", &ppid), 0,
              "stat: parses");
    ASSERT_EQ(ppid, 7, "stat: ppid 7");

    /* a process can name itself anything, ") R 1 " included */
    ASSERT_EQ(drover_pidcheck_parse_ppid("42 (x) R 1 (y) S 99 1 1", &ppid), 0,
              "stat: a name holding ') R 1 (' parses");
    ASSERT_EQ(ppid, 99, "stat: ppid is read after the last ')'");

    CHECK(drover_pidcheck_parse_ppid("42 (sh S 7", &ppid) == -EINVAL,
          "stat: no ')' is refused");
    CHECK(drover_pidcheck_parse_ppid("42 (sh) S", &ppid) == -EINVAL,
          "stat: no ppid is refused");
    CHECK(drover_pidcheck_parse_ppid("42 (sh) S -5 1", &ppid) == -EINVAL,
          "stat: a negative ppid is refused");

    ASSERT_EQ(drover_pidcheck_parse_ids("Name:\tx\nUid:\t1\t2\t3\t4\n"
                                        "Gid:\t5\t6\t7\t8\n", "Gid", ids), 0,
              "status: the Gid line parses");
    CHECK(ids[0] == 5 && ids[1] == 6 && ids[2] == 7 && ids[3] == 8,
          "status: the four gids");
    CHECK(drover_pidcheck_parse_ids("Name:\tUid: 0 0 0 0\nUid:\t1\t1\n",
                                    "Uid", ids) == -EINVAL,
          "status: 'Uid:' inside another line does not count; three ids "
          "short is refused");
    CHECK(drover_pidcheck_parse_ids("Name:\tx\n", "Uid", ids) == -EINVAL,
          "status: no Uid line is refused");
}


static pid_t
child_pause(uid_t uid)
{
    pid_t  pid = fork();

    if (pid == 0) {
        if (uid != (uid_t) -1 && (setgid(uid) != 0 || setuid(uid) != 0)) {
            _exit(1);
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        pause();
        _exit(0);
    }

    return pid;
}


static void
reap(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) == -1 && errno == EINTR) {
        /* retry */
    }
}


static void
test_processes(void)
{
    int                     fd, rc, p[2];
    char                    why[256];
    pid_t                   child, grand;
    drover_pidcheck_want_t  want;

    want.parent = getpid();
    want.uid = geteuid();
    want.gid = getegid();

    child = child_pause((uid_t) -1);
    rc = drover_pidcheck_child(child, &want, &fd, why, sizeof(why));
    ASSERT_EQ(rc, 0, "our own child with our credentials passes");
    CHECK(fd >= 0, "... with a pidfd");
    ASSERT_EQ(drover_pidcheck_signal(fd, child, 0), 0,
              "signal 0 through the pidfd");

    want.parent = getppid();
    rc = drover_pidcheck_child(child, &want, &fd, why, sizeof(why));
    ASSERT_EQ(rc, -EPERM, "a child is refused when another parent is wanted");
    CHECK(strstr(why, "is not droverd's child") != NULL, "... and why says so");
    want.parent = getpid();

    reap(child);
    ASSERT_EQ(drover_pidcheck_signal(fd, child, 0), -ESRCH,
              "the pidfd of a reaped child signals nothing");
    close(fd);

    rc = drover_pidcheck_child(child, &want, &fd, why, sizeof(why));
    ASSERT_EQ(rc, -ESRCH, "a reaped child: ESRCH");
    CHECK(fd == -1, "... and no pidfd");

    ASSERT_EQ(drover_pidcheck_child(getppid(), &want, &fd, why, sizeof(why)),
              -EPERM, "our parent is refused");
    ASSERT_EQ(drover_pidcheck_child(getpid(), &want, &fd, why, sizeof(why)),
              -EPERM, "ourselves: refused");
    ASSERT_EQ(drover_pidcheck_child(1, &want, &fd, why, sizeof(why)), -EINVAL,
              "pid 1 is refused");
    ASSERT_EQ(drover_pidcheck_child(0, &want, &fd, why, sizeof(why)), -EINVAL,
              "pid 0 is refused");
    ASSERT_EQ(drover_pidcheck_child(-1, &want, &fd, why, sizeof(why)),
              -EINVAL, "pid -1 is refused");
    ASSERT_EQ(drover_pidcheck_signal(-1, -1, SIGKILL), -EINVAL,
              "no signal to pid -1, ever");

    /* a grandchild whose parent exits goes to init (we are no subreaper) */
    if (pipe(p) != 0) {
        ASSERT_TRUE(0, "pipe");
        return;
    }

    child = fork();
    if (child == 0) {
        grand = child_pause((uid_t) -1);
        (void) !write(p[1], &grand, sizeof(grand));
        _exit(0);
    }

    close(p[1]);
    grand = 0;
    (void) !read(p[0], &grand, sizeof(grand));
    close(p[0]);
    while (waitpid(child, NULL, 0) == -1 && errno == EINTR) {
        /* retry */
    }

    rc = drover_pidcheck_child(grand, &want, &fd, why, sizeof(why));
    ASSERT_EQ(rc, -EPERM, "a process reparented elsewhere is refused");
    kill(grand, SIGKILL);

    if (geteuid() != 0) {
        printf("ok %d # skip a child with other credentials: needs root\n",
               ++tap_n);
        return;
    }

    child = child_pause(65534);
    want.uid = 65534;
    want.gid = 65534;

    /* wait until it has switched: then it passes as nobody */
    for (p[0] = 0, rc = -1; p[0] < 2000 && rc != 0 && rc != -ESRCH; p[0]++) {
        rc = drover_pidcheck_child(child, &want, &fd, why, sizeof(why));
        if (rc != 0) {
            usleep(1000);
        }
    }
    ASSERT_EQ(rc, 0, "a child running as nobody passes when nobody is wanted");
    if (fd >= 0) {
        close(fd);
    }

    want.uid = 0;
    want.gid = 0;
    rc = drover_pidcheck_child(child, &want, &fd, why, sizeof(why));
    ASSERT_EQ(rc, -EPERM, "... and is refused when root is wanted");
    CHECK(strstr(why, "runs as uid 65534") != NULL, "... and why names its uid");

    reap(child);
}


int
main(void)
{
    test_parsers();
    test_processes();

    return tap_done();
}
