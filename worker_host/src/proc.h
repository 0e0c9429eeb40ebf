/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * proc.h -- process plumbing shared by the manager, the preloader and the
 * workers: spawning droverd itself in another role, dropping privileges,
 * dying with the manager, describing how a process ended.
 */

#ifndef DROVER_PROC_H
#define DROVER_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include "conf.h"

/* the fds an exec'd child finds, see drover_proc_spawn() */
#define DROVER_FD_CONF     3     /* memfd: the pool's config text */
#define DROVER_FD_CHANNEL  4     /* preloader: seqpacket to the manager */
#define DROVER_FD_SLOT     4     /* worker (preload off): slot socket */
#define DROVER_FD_SHARED   5     /* worker (preload off): shared socket */
#define DROVER_FD_SB_PRELOADER  5   /* preloader: the pool's scoreboard */
#define DROVER_FD_SB_WORKER     6   /* worker (preload off): scoreboard */
#define DROVER_FD_HANDOFF_TX    7   /* worker (preload off): the pool's */
#define DROVER_FD_HANDOFF_RX    8   /*   handoff channel, handoff.h */
#define DROVER_FD_TCP_SLOT      9   /* worker (preload off), with `listen */
#define DROVER_FD_TCP_SHARED   10   /*   tcp:`: the slot's, the pool's */

/*
 * fork() from the libuv manager.  Signals are blocked across the fork, so
 * none of libuv's handlers can run in the child and write into the
 * manager's signal pipe; in the child every disposition is back to the
 * default (an ignored SIGPIPE would survive exec) and the mask is clear.
 * Returns as fork() does.
 */
pid_t drover_proc_fork(void);

/*
 * fork() and exec droverd itself (/proc/self/exe) with argv, the child
 * finding fds[i] at fd 3 + i and nothing else but 0-2, 0 being /dev/null:
 * every other fd is closed before exec, also one without O_CLOEXEC that
 * droverd inherited.  The child dies with the calling process
 * (PR_SET_PDEATHSIG).  out_fd becomes its fds 1 and 2 (the pool's output,
 * output.h); -1: /dev/null, never droverd's own.  envp is its whole
 * environment (drover_env_build(), env.h): nothing of droverd's own is
 * inherited.  The child does not exec with it: it runs as root until it
 * drops privileges, and an environment reaches the dynamic loader of a
 * root process (LD_PRELOAD, LD_LIBRARY_PATH, GCONV_PATH ...).  envp waits
 * in a sealed memfd at fd 3 + nfds, named by DROVER_ENV_FD, the only
 * variable of the exec (with the sanitizer settings in a sanitizer
 * build); the child takes it on after the switch (drover_env_adopt()).
 * 0 and *pid, or a negative code.
 */
int drover_proc_spawn(char *const argv[], const int *fds, int nfds,
    int out_fd, char *const envp[], pid_t *pid);

/*
 * In the child, in this order (docs/security.md): the pool's rlimits,
 * umask, chdir to working_dir ("/" by default); then, when root and the
 * pool has a user: setgid, initgroups (setgroups(0) for a uid without a
 * passwd entry), setuid, and the proof: real, effective, saved and fs ids
 * all the pool's, no capability, exactly the user's supplementary groups,
 * setuid(0), setgid(0) and setgroups() failing, and the working directory
 * reachable as the user; last PR_SET_NO_NEW_PRIVS (unless `no_new_privs
 * off`) and PR_SET_DUMPABLE 0.  0, or a negative code with a message in
 * err.
 */
int drover_proc_drop_privileges(const drover_pool_conf_t *pool, char *err,
    size_t errlen);

/*
 * In a child of the manager: die with it (SIGKILL), and verify that it is
 * still our parent.  Returns 0, or -ESRCH when it is already gone.
 */
int drover_proc_die_with(pid_t manager);

/* "exited with code 3", "killed by signal 11 (Segmentation fault), core dumped" */
void drover_proc_describe_exit(int status, char *buf, size_t size);

/* a memfd holding the pool's config text; -errno on failure */
int drover_proc_conf_memfd(const drover_conf_t *conf,
    const drover_pool_conf_t *pool);

/* now, in milliseconds of a monotonic clock */
unsigned long long drover_proc_now_ms(void);

/*
 * Close every fd from first up (close_range(), or one by one before Linux
 * 5.9): what droverd itself inherited without O_CLOEXEC must not reach app
 * code.  0 or a negative code.
 */
int drover_proc_close_from(int first);

#endif /* DROVER_PROC_H */
