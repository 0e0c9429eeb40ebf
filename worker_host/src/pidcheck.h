/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * pidcheck.h -- the manager trusts a pid only when the kernel vouches for it.
 *
 * A pool's preloader runs the tenant's code and names the workers it forks
 * over its channel (channel.h).  Before the manager adopts such a pid (and
 * so may signal it later), it checks, through a pidfd it opens itself, that
 * the process is its own child, alive, and runs with exactly the pool's
 * credentials.  This is what keeps a forged "worker forked" message from
 * steering root droverd's signals at another process (issue 11).
 *
 * Why this is free of pid-reuse races: a child's pid cannot be reused until
 * its parent reaps it, and the manager reaps only in its own loop, never
 * while a check runs.  The pidfd is opened first and probed last; if it
 * still refers to a live (or unreaped) process at the end, the /proc reads
 * in between described that same process.
 *
 * What it is not: a proof that the process is the worker the preloader
 * meant.  Any process of the pool's user that was reparented to the manager
 * passes; signalling it stays inside the pool, which is the rule.
 */

#ifndef DROVER_PIDCHECK_H
#define DROVER_PIDCHECK_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
    pid_t   parent;     /* the only parent it may have: the manager */
    uid_t   uid;        /* real, effective, saved and fs uid, all of them */
    gid_t   gid;        /* ... and gid; (gid_t) -1: not checked */
} drover_pidcheck_want_t;

/*
 * 0 and *pidfd (close-on-exec) for a verified pid.  Otherwise *pidfd is -1
 * and the code says why, with a sentence in why:
 *   -EINVAL  pid is 0, 1 or negative
 *   -ESRCH   no such process: it may already have exited and been reaped
 *   -EPERM   the process is not what want says (parent, uid or gid)
 *   another  /proc could not be read or parsed
 * Where the kernel has no pidfd_open (ENOSYS) the parent check alone is
 * race-free (see above): 0 with *pidfd -1.
 */
int drover_pidcheck_child(pid_t pid, const drover_pidcheck_want_t *want,
    int *pidfd, char *why, size_t whylen);

/*
 * The uid and gid of pid, the manager's exited but unreaped child (peeked
 * with waitid(WNOWAIT): a zombie keeps its /proc/PID/status).  0 when its
 * four uids agree and its four gids agree; -EPERM when they do not (never a
 * pool's worker then); -ESRCH or another -errno when /proc cannot tell.
 *
 * This is what an early exit is matched on (manager.c): a worker can die and
 * be reaped before the preloader's FORKED names it, and then only a process
 * droverd reaped as its own child, with the pool's uid and gid, is taken as
 * that worker.  Nothing is ever signalled for such a pid (it is free).
 * The limit: pools that run as the same uid and gid cannot be told apart
 * there, so one such pool's preloader can claim a pid another one forked;
 * the other slot is then restarted as "no longer exists".  Those pools share
 * a user, which can signal both anyway: no boundary is crossed.
 */
int drover_pidcheck_zombie_ids(pid_t pid, uid_t *uid, gid_t *gid);

/* signal through the pidfd when there is one, else by pid; 0 or -errno */
int drover_pidcheck_signal(int pidfd, pid_t pid, int sig);

/* parsers, exposed for the unit test */

/* the ppid field of /proc/PID/stat text: after the last ')' (comm may hold
 * anything, ')' and spaces included); 0 or -EINVAL */
int drover_pidcheck_parse_ppid(const char *stat, pid_t *ppid);

/* the four ids of the "Uid:" or "Gid:" line (key) of /proc/PID/status;
 * 0 or -EINVAL */
int drover_pidcheck_parse_ids(const char *status, const char *key,
    unsigned long ids[4]);

#endif /* DROVER_PIDCHECK_H */
