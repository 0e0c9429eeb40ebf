/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * conf_proc.c -- the directives of a pool's processes (conf_int.h): `env`,
 * `working_dir`, `umask`, the `rlimit_*`, `no_new_privs`, `cpu_scheduling`
 * and `min_uid`.
 */

#include "conf.h"
#include "conf_int.h"
#include "env.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


int
drover__conf_set_env(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    size_t              i;
    drover_env_conf_t  *env;
    drover_pool_conf_t *pool = b->pool;
    const char         *name = d->args[0];

    if (!drover_env_valid_name(name)) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "bad env name \"%s\": use A-Z a-z 0-9 _, "
                                  "not starting with a digit", name);
    }

    for (i = 0; i < pool->nenv; i++) {
        if (strcmp(pool->env[i].name, name) == 0) {
            return drover__conf_error(p, f->name, d->line,
                                      "duplicate env \"%s\" in pool \"%s\": "
                                      "keep only one", name, pool->name);
        }
    }

    if (d->nargs == 2 && strcmp(name, "TMPDIR") == 0
        && d->args[1][0] != '/')
    {
        return drover__conf_error(p, f->name, d->arg_lines[1],
                                  "\"env TMPDIR\" needs an absolute path, "
                                  "got \"%s\"", d->args[1]);
    }

    env = realloc(pool->env, (pool->nenv + 1) * sizeof(env[0]));
    if (env == NULL) {
        return -ENOMEM;
    }

    pool->env = env;

    /* the directive's strings change owner */
    env[pool->nenv].name = d->args[0];
    env[pool->nenv].value = (d->nargs == 2) ? d->args[1] : NULL;
    pool->nenv++;
    d->args[0] = NULL;
    if (d->nargs == 2) {
        d->args[1] = NULL;
    }

    return 0;
}


int
drover__conf_set_working_dir(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    const char  *arg = d->args[0];

    (void) p;

    /* a relative path is from the file's directory, as `app` is */
    b->pool->working_dir = (arg[0] == '/') ? strdup(arg)
                                           : drover__conf_join(f->dir, arg);

    return (b->pool->working_dir == NULL) ? -ENOMEM : 0;
}


int
drover__conf_set_umask(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    unsigned long  v;

    if (drover__conf_parse_uint(d->args[0], 8, 0777, &v) != 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"umask\" needs an octal mode from 0 to "
                                  "0777, such as 0027, got \"%s\"",
                                  d->args[0]);
    }

    b->pool->umask = (mode_t) v;
    return 0;
}


static const struct {
    const char  *name;
    int          policy;
} conf_policies[] = {
    { "batch",  SCHED_BATCH },
    { "normal", SCHED_OTHER },
    { "idle",   SCHED_IDLE },
};


/*
 * The Linux scheduling policy of the pool's processes (proc.c sets it).
 * batch, the default: a worker woken by a request does not preempt the
 * process that woke it (nginx, Apache) but runs on an idle CPU or at that
 * process's next sleep (docs/droverd.conf.md#cpu_scheduling).
 */
int
drover__conf_set_cpu_scheduling(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d)
{
    size_t  i;

    for (i = 0; i < sizeof(conf_policies) / sizeof(conf_policies[0]); i++) {
        if (strcmp(d->args[0], conf_policies[i].name) == 0) {
            b->pool->cpu_scheduling = conf_policies[i].policy;
            return 0;
        }
    }

    return drover__conf_error(p, f->name, d->arg_lines[0],
                              "\"cpu_scheduling\" needs \"batch\", "
                              "\"normal\" or \"idle\", got \"%s\"",
                              d->args[0]);
}


const char *
drover_conf_cpu_scheduling_name(int policy)
{
    size_t  i;

    for (i = 0; i < sizeof(conf_policies) / sizeof(conf_policies[0]); i++) {
        if (conf_policies[i].policy == policy) {
            return conf_policies[i].name;
        }
    }

    return "normal";
}


/* rlimit_files and rlimit_nproc: a count; rlimit_core: a size */
int
drover__conf_set_rlimit(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    int                             rc;
    unsigned long                   n;
    unsigned long long              v;
    const drover__conf_command_t   *cmd = &drover__conf_commands[d->cmd];

    if (strcmp(d->args[0], "unlimited") == 0) {
        v = DROVER_CONF_RLIM_INFINITY;

    } else if (d->cmd == CONF_CMD_RLIMIT_CORE) {
        rc = drover__conf_parse_size(d->args[0], &v);
        if (rc != 0) {
            return drover__conf_error(p, f->name, d->arg_lines[0],
                                      "\"rlimit_core\" needs a size such as "
                                      "0, 64M or \"unlimited\", got \"%s\"",
                                      d->args[0]);
        }

    } else {
        rc = drover__conf_parse_uint(d->args[0], 10, 1UL << 30, &n);
        if (rc != 0 || n == 0) {
            return drover__conf_error(p, f->name, d->arg_lines[0],
                                      "\"%s\" needs a number from 1 to %lu "
                                      "or \"unlimited\", got \"%s\"",
                                      cmd->name, 1UL << 30, d->args[0]);
        }

        v = n;
    }

    *(unsigned long long *) ((char *) b->pool + cmd->offset) = v;
    return 0;
}


int
drover__conf_set_no_new_privs(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d)
{
    if (strcmp(d->args[0], "on") == 0) {
        b->pool->no_new_privs = 1;
    } else if (strcmp(d->args[0], "off") == 0) {
        b->pool->no_new_privs = 0;
    } else {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"no_new_privs\" needs \"on\" or \"off\", "
                                  "got \"%s\"", d->args[0]);
    }

    return 0;
}


/* before the pools: each pool is checked against it as its block closes */
int
drover__conf_set_min_uid(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    unsigned long  v;

    (void) b;

    if (drover__conf_parse_uint(d->args[0], 10, (uid_t) -2, &v) != 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"min_uid\" needs a user id such as "
                                  "1000, got \"%s\"", d->args[0]);
    }

    if (p->conf->npools != 0) {
        return drover__conf_error(p, f->name, d->line,
                                  "\"min_uid\" must come before the first "
                                  "pool (pool \"%s\" at %s:%u)",
                                  p->conf->pools->name, p->conf->pools->file,
                                  p->conf->pools->line);
    }

    p->conf->min_uid = (uid_t) v;
    return 0;
}


/*
 * At the pool's "}", after conf_check.c checked the user: as root, no
 * pool's user below `min_uid` (system users run daemons, not tenants'
 * code); the working directory exists.
 */
int
drover__conf_pool_check_proc(drover__conf_parser_t *p,
    drover__conf_block_t *b)
{
    struct stat            st;
    drover_pool_conf_t    *pool = b->pool;
    drover__conf_where_t  *user = &b->seen[CONF_CMD_USER];
    drover__conf_where_t  *wd = &b->seen[CONF_CMD_WORKING_DIR];

    if (p->euid == 0 && pool->uid != (uid_t) -1
        && pool->uid < p->conf->min_uid)
    {
        return drover__conf_error(p, user->file, user->line,
                                  "pool \"%s\" would run as user \"%s\" "
                                  "(uid %lu), below min_uid %lu: use a "
                                  "tenant's own user, or lower \"min_uid\" "
                                  "at the main level if this system user "
                                  "is meant to run it", pool->name,
                                  pool->user, (unsigned long) pool->uid,
                                  (unsigned long) p->conf->min_uid);
    }

    if (pool->working_dir != NULL) {
        if (stat(pool->working_dir, &st) != 0) {
            return drover__conf_error(p, wd->file, wd->line,
                                      "working_dir \"%s\" of pool \"%s\": "
                                      "%s", pool->working_dir, pool->name,
                                      strerror(errno));
        }

        if (!S_ISDIR(st.st_mode)) {
            return drover__conf_error(p, wd->file, wd->line,
                                      "working_dir \"%s\" of pool \"%s\" is "
                                      "not a directory", pool->working_dir,
                                      pool->name);
        }
    }

    return 0;
}


void
drover__conf_pool_free_proc(drover_pool_conf_t *pool)
{
    size_t  i;

    for (i = 0; i < pool->nenv; i++) {
        free(pool->env[i].name);
        free(pool->env[i].value);
    }

    free(pool->env);
    free(pool->working_dir);
}


static void
conf_dump_rlimit(FILE *f, const char *name, unsigned long long v)
{
    if (v == DROVER_CONF_RLIM_INFINITY) {
        fprintf(f, "    %s unlimited;\n", name);
    } else {
        fprintf(f, "    %s %llu;\n", name, v);
    }
}


int
drover__conf_dump_proc(const drover_pool_conf_t *pool, FILE *f)
{
    size_t  i;

    for (i = 0; i < pool->nenv; i++) {
        fputs("    env ", f);
        drover__conf_dump_value(f, pool->env[i].name);

        if (pool->env[i].value != NULL) {
            fputc(' ', f);
            drover__conf_dump_value(f, pool->env[i].value);
        }

        fputs(";\n", f);
    }

    if (pool->working_dir != NULL) {
        fputs("    working_dir ", f);
        drover__conf_dump_value(f, pool->working_dir);
        fputs(";\n", f);
    }

    fprintf(f, "    umask 0%03o;\n", (unsigned) pool->umask);

    if (pool->rlimit_files != 0) {
        conf_dump_rlimit(f, "rlimit_files", pool->rlimit_files);
    }

    conf_dump_rlimit(f, "rlimit_core", pool->rlimit_core);

    if (pool->rlimit_nproc != 0) {
        conf_dump_rlimit(f, "rlimit_nproc", pool->rlimit_nproc);
    }

    fprintf(f, "    no_new_privs %s;\n", pool->no_new_privs ? "on" : "off");
    fprintf(f, "    cpu_scheduling %s;\n",
            drover_conf_cpu_scheduling_name(pool->cpu_scheduling));

    return ferror(f) ? -EIO : 0;
}
