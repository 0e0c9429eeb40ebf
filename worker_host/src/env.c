/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * env.c -- the environment of a pool's processes, see env.h.
 */

#include "env.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* a pool's whole environment, as drover_env_adopt() takes it */
#define DROVER_ENV_MAX  (1024 * 1024)

extern char **environ;

/* the sanitizers' runtime reads these at start, in every exec'd child */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define ENV_SANITIZED  1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ENV_SANITIZED  1
#endif
#endif

#ifdef ENV_SANITIZED
static const char  *env_sanitizer_names[] = {
    "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", NULL
};
#endif


typedef struct {
    char    **v;
    size_t    n;
    size_t    cap;
} env_list_t;


int
drover_env_valid_name(const char *name)
{
    const char  *c;

    if (!((*name >= 'A' && *name <= 'Z') || (*name >= 'a' && *name <= 'z')
          || *name == '_'))
    {
        return 0;
    }

    for (c = name + 1; *c != '\0'; c++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')
              || (*c >= '0' && *c <= '9') || *c == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* the index of NAME in the list, or -1 */
static long
env_find(const env_list_t *l, const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < l->n; i++) {
        if (strncmp(l->v[i], name, len) == 0 && l->v[i][len] == '=') {
            return (long) i;
        }
    }

    return -1;
}


static void
env_remove(env_list_t *l, const char *name, size_t len)
{
    long  i;

    i = env_find(l, name, len);
    if (i < 0) {
        return;
    }

    free(l->v[i]);
    memmove(&l->v[i], &l->v[i + 1], (l->n - (size_t) i) * sizeof(char *));
    l->n--;
}


/* NAME=VALUE, replacing an earlier NAME */
static int
env_set(env_list_t *l, const char *name, size_t len, const char *value)
{
    char   *s, **v;
    size_t  vlen;

    vlen = strlen(value);
    s = malloc(len + 1 + vlen + 1);
    if (s == NULL) {
        return -ENOMEM;
    }

    memcpy(s, name, len);
    s[len] = '=';
    memcpy(s + len + 1, value, vlen + 1);

    env_remove(l, name, len);

    if (l->n + 1 >= l->cap) {
        v = realloc(l->v, (l->cap * 2 + 8) * sizeof(char *));
        if (v == NULL) {
            free(s);
            return -ENOMEM;
        }
        l->v = v;
        l->cap = l->cap * 2 + 8;
    }

    l->v[l->n++] = s;
    l->v[l->n] = NULL;

    return 0;
}


int
drover_env_build(const drover_pool_conf_t *pool, char *const extra[],
    char ***envp)
{
    int          rc;
    size_t       i;
    const char  *value, *eq;
    env_list_t   l;

    memset(&l, 0, sizeof(l));

    rc = env_set(&l, "PATH", 4, DROVER_ENV_PATH);

    for (i = 0; rc == 0 && i < pool->nenv; i++) {
        value = pool->env[i].value;
        if (value == NULL) {
            value = getenv(pool->env[i].name);
        }

        if (value != NULL) {
            rc = env_set(&l, pool->env[i].name, strlen(pool->env[i].name),
                         value);

        } else {
            /* `env PATH;` under a droverd without one: no PATH at all */
            env_remove(&l, pool->env[i].name, strlen(pool->env[i].name));
        }
    }

#ifdef ENV_SANITIZED
    for (i = 0; rc == 0 && env_sanitizer_names[i] != NULL; i++) {
        value = getenv(env_sanitizer_names[i]);
        if (value != NULL) {
            rc = env_set(&l, env_sanitizer_names[i],
                         strlen(env_sanitizer_names[i]), value);
        }
    }
#endif

    for (i = 0; rc == 0 && extra != NULL && extra[i] != NULL; i++) {
        eq = strchr(extra[i], '=');

        if (eq == NULL) {
            env_remove(&l, extra[i], strlen(extra[i]));

        } else if (eq == extra[i]) {
            rc = -EINVAL;

        } else {
            rc = env_set(&l, extra[i], (size_t) (eq - extra[i]), eq + 1);
        }
    }

    if (rc == 0 && l.v == NULL) {
        /* everything removed before anything was added: still an array */
        l.v = calloc(1, sizeof(char *));
        rc = (l.v == NULL) ? -ENOMEM : 0;
    }

    if (rc != 0) {
        drover_env_free(l.v);
        return rc;
    }

    *envp = l.v;
    return 0;
}


int
drover_env_adopt(void)
{
    int           fd, rc;
    char         *text, **v, *end;
    size_t        i, n, size;
    ssize_t       got;
    const char   *name;
    struct stat   st;

    name = getenv("DROVER_ENV_FD");
    if (name == NULL) {
        return -ENOENT;
    }

    fd = atoi(name);
    if (fd < 3 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)
        || st.st_size > DROVER_ENV_MAX)
    {
        return (fd >= 3 && close(fd) == 0) ? -EINVAL : -EBADF;
    }

    size = (size_t) st.st_size;
    rc = -ENOMEM;
    v = NULL;

    text = malloc(size + 1);
    if (text == NULL) {
        goto fail;
    }

    got = pread(fd, text, size, 0);
    if (got != (ssize_t) size) {
        rc = -EIO;
        goto fail;
    }

    text[size] = '\0';

    for (i = 0, n = 0; i < size; i++) {
        n += (text[i] == '\0');
    }

    v = calloc(n + 1, sizeof(char *));
    if (v == NULL) {
        goto fail;
    }

    /* "NAME=VALUE\0" each; anything without a "=" is dropped */
    for (i = 0, n = 0; i < size; i += strlen(text + i) + 1) {
        end = strchr(text + i, '=');
        if (end != NULL && end != text + i) {
            v[n++] = text + i;
        }
    }

    v[n] = NULL;
    close(fd);

    /* the strings stay for the life of the process, as environ's do */
    environ = v;

    return 0;

fail:

    free(v);
    free(text);
    close(fd);

    return rc;
}


void
drover_env_free(char **envp)
{
    size_t  i;

    if (envp == NULL) {
        return;
    }

    for (i = 0; envp[i] != NULL; i++) {
        free(envp[i]);
    }

    free(envp);
}
