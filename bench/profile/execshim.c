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

/* where an exec of path goes: $DROVER_BENCH_EXEC for droverd's own */
static const char *
target(const char *path)
{
    const char  *to = getenv("DROVER_BENCH_EXEC");

    return (to != NULL && strcmp(path, "/proc/self/exe") == 0) ? to : path;
}


int
execv(const char *path, char *const argv[])
{
    static int (*real)(const char *, char *const[]);

    if (real == NULL) {
        real = (int (*)(const char *, char *const[])) dlsym(RTLD_NEXT, "execv");
    }

    return real(target(path), argv);
}


int
execve(const char *path, char *const argv[], char *const envp[])
{
    static int (*real)(const char *, char *const[], char *const[]);

    if (real == NULL) {
        real = (int (*)(const char *, char *const[], char *const[]))
                   dlsym(RTLD_NEXT, "execve");
    }

    return real(target(path), argv, envp);
}
