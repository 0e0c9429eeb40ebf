/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * env.h -- the environment a pool's processes get: nothing of droverd's
 * own but what the pool lists with `env NAME [VALUE];`, and a fixed PATH.
 */

#ifndef DROVER_ENV_H
#define DROVER_ENV_H

#include "conf.h"

/* PATH when the pool has no `env PATH ...;` */
#define DROVER_ENV_PATH  "/usr/local/bin:/usr/bin:/bin"

/*
 * Build the environment of a process of POOL (preloader, worker, the app
 * check, a prestart command, an exec-mode program) into *envp, a
 * NULL-terminated array of "NAME=VALUE" strings for execve(), in this order:
 *
 *   PATH=DROVER_ENV_PATH, unless the pool lists PATH;
 *   each `env NAME VALUE;` as given, each `env NAME;` with droverd's own
 *   value (left out when droverd has none), in the order of the config;
 *   under a sanitizer build only: droverd's ASAN_OPTIONS, UBSAN_OPTIONS
 *   and LSAN_OPTIONS, so that a test's settings reach the children;
 *   then EXTRA (may be NULL; NULL-terminated): "NAME=VALUE" sets NAME,
 *   replacing any value above; a bare "NAME" removes NAME.
 *
 * Nothing else of droverd's environment (NOTIFY_SOCKET, a secret the
 * service manager passed, LD_PRELOAD, ...) is copied.  0, or -ENOMEM /
 * -EINVAL (a malformed EXTRA entry).  Free with drover_env_free().
 * It allocates: call it before fork(), not in the child.
 */
int drover_env_build(const drover_pool_conf_t *pool, char *const extra[],
    char ***envp);

/*
 * In a preloader or a worker (preload off), once it runs as the pool's
 * user: take on the environment the manager left in the memfd named by
 * DROVER_ENV_FD (drover_proc_spawn(), proc.h) and close it.  0, or a
 * negative code (no such variable, a bad fd, more than 1 MiB).
 */
int drover_env_adopt(void);

/* frees what drover_env_build() returned; NULL is fine */
void drover_env_free(char **envp);

/* 1 when NAME is a valid `env` name: [A-Za-z_][A-Za-z0-9_]* */
int drover_env_valid_name(const char *name);

#endif /* DROVER_ENV_H */
