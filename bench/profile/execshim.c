/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * execshim.c -- for bench/profiler.py only: droverd starts its preloaders
 * with execve("/proc/self/exe", argv, env) and an environment of its own
 * making (older builds: execv), which under valgrind would be valgrind
 * itself.  Preloaded into a native droverd, this sends those execs to
 * $DROVER_BENCH_EXEC, read from droverd's own environment before the exec
 * (a wrapper that starts the preloader under callgrind); every other exec
 * is untouched.  droverd is not changed.
 *   cc -shared -fPIC -o execshim.so execshim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
execv(const char *path, char *const argv[])
{
    static int (*real)(const char *, char *const[]);
    const char  *to = getenv("DROVER_BENCH_EXEC");

    if (real == NULL) {
        real = (int (*)(const char *, char *const[])) dlsym(RTLD_NEXT, "execv");
    }

    if (to != NULL && strcmp(path, "/proc/self/exe") == 0) {
        path = to;
    }

    return real(path, argv);
}


int
execve(const char *path, char *const argv[], char *const envp[])
{
    static int (*real)(const char *, char *const[], char *const[]);
    const char  *to = getenv("DROVER_BENCH_EXEC");

    if (real == NULL) {
        real = (int (*)(const char *, char *const[], char *const[]))
                   dlsym(RTLD_NEXT, "execve");
    }

    if (to != NULL && strcmp(path, "/proc/self/exe") == 0) {
        path = to;
    }

    return real(path, argv, envp);
}
