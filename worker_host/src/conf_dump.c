/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * conf_dump.c -- a pool written back as config text (drover_conf_dump_pool),
 * for the preloader and workers the manager execs.
 */

#include "conf.h"
#include "conf_int.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <string.h>


static int conf_dump_value(FILE *f, const char *s);


int
drover_conf_dump_pool(const drover_conf_t *conf,
    const drover_pool_conf_t *pool, FILE *f)
{
    size_t  i;
    char    listen[PATH_MAX + sizeof("unix:")];
    int     n;

    fprintf(f, "log_level %s;\n", drover_log_level_name(conf->log_level));

    if (conf->run_dir != NULL) {
        fputs("run_dir ", f);
        conf_dump_value(f, conf->run_dir);
        fputs(";\n", f);
    }

    if (conf->memory_budget != 0) {
        fprintf(f, "memory_budget %llu;\n", conf->memory_budget);
    }

    if (conf->process_max != 0) {
        fprintf(f, "process_max %u;\n", conf->process_max);
    }

    fprintf(f, "min_uid %lu;\n", (unsigned long) conf->min_uid);

    fputs("pool ", f);
    conf_dump_value(f, pool->name);
    fputs(" {\n", f);

    if (pool->exec_argv != NULL) {
        fputs("    exec", f);

        for (i = 0; i < pool->exec_argc; i++) {
            fputc(' ', f);
            conf_dump_value(f, pool->exec_argv[i]);
        }

    } else if (pool->python.app == NULL) {
        fputs("    app ", f);
        conf_dump_value(f, pool->app);
    }

    if (pool->python.app != NULL) {
        drover__conf_dump_python(pool, f);
    } else {
        fputs(";\n", f);
    }

    for (i = 0; i < pool->nparams; i++) {
        fputs("    app_param ", f);
        conf_dump_value(f, pool->params[i].name);
        fputc(' ', f);
        conf_dump_value(f, pool->params[i].value);
        fputs(";\n", f);
    }

    n = snprintf(listen, sizeof(listen), "unix:%s", pool->listen.path);
    if (n < 0 || (size_t) n >= sizeof(listen)) {
        return -ENAMETOOLONG;
    }

    fputs("    listen ", f);
    conf_dump_value(f, listen);
    fprintf(f, " mode=0%03o", (unsigned) pool->listen.mode);

    if (pool->listen.owner != (uid_t) -1) {
        fprintf(f, " owner=%lu", (unsigned long) pool->listen.owner);
    }

    if (pool->listen.group != (gid_t) -1) {
        fprintf(f, " group=%lu", (unsigned long) pool->listen.group);
    }

    for (i = 0; i < pool->listen.nacl; i++) {
        fprintf(f, " acl=%lu", (unsigned long) pool->listen.acl[i]);
    }

    fputs(";\n", f);
    drover__conf_tcp_dump(pool, f);

    if (pool->ondemand) {
        fprintf(f, "    workers ondemand %u idle=%ums;\n", pool->workers,
                pool->idle_ms);
    } else {
        fprintf(f, "    workers %u;\n", pool->workers);
    }

    fprintf(f, "    preload %s;\n", pool->preload ? "on" : "off");

    if (pool->uid != (uid_t) -1) {
        fprintf(f, "    user %lu;\n", (unsigned long) pool->uid);
    }

    if (pool->gid != (gid_t) -1) {
        fprintf(f, "    group %lu;\n", (unsigned long) pool->gid);
    }

    fprintf(f, "    io_timeout %ums;\n", pool->io_timeout_ms);

    for (i = 0; i < pool->nprestart; i++) {
        size_t  k;

        fputs("    prestart", f);

        for (k = 0; k < pool->prestart[i].argc; k++) {
            fputc(' ', f);
            conf_dump_value(f, pool->prestart[i].argv[k]);
        }

        fputs(";\n", f);
    }

    fprintf(f, "    prestart_timeout %ums;\n", pool->prestart_timeout_ms);

    if (pool->request_timeout_ms != 0) {
        fprintf(f, "    request_timeout %ums;\n", pool->request_timeout_ms);
    }

    if (pool->memory_limit != 0) {
        fprintf(f, "    memory_limit %llu;\n", pool->memory_limit);
    }

    if (pool->memory_limit_hard != 0) {
        fprintf(f, "    memory_limit_hard %llu;\n", pool->memory_limit_hard);
    }

    if (pool->memory_budget != 0) {
        fprintf(f, "    memory_budget %llu;\n", pool->memory_budget);
    }

    if (pool->max_requests != 0) {
        fprintf(f, "    max_requests %u %u;\n", pool->max_requests,
                pool->max_requests_jitter);
    }

    fprintf(f, "    restart_limit %u per %ums;\n", pool->restart_limit,
            pool->restart_period_ms);
    fprintf(f, "    stop_timeout %ums;\n", pool->stop_timeout_ms);
    fprintf(f, "    busy_target %u%% %u%%;\n", pool->busy_low, pool->busy_high);

    if (pool->nallow_peers != 0) {
        fputs("    allow_peers", f);
        for (i = 0; i < pool->nallow_peers; i++) {
            fprintf(f, " %lu", (unsigned long) pool->allow_peers[i]);
        }
        fputs(";\n", f);
    }

    if (pool->log_level != -2) {
        fprintf(f, "    log_level %s;\n",
                drover_log_level_name(pool->log_level));
    }

    if (drover__conf_dump_proc(pool, f) != 0) {
        return -EIO;
    }

    fputs("}\n", f);

    if (fflush(f) != 0 || ferror(f)) {
        return -EIO;
    }

    return 0;
}


/* bare when the lexer reads it back as one word, else "..." with escapes */
static int
conf_dump_value(FILE *f, const char *s)
{
    const char  *c;

    if (*s != '\0' && strpbrk(s, " \t\n\r\f\v\"'\\;{}#") == NULL) {
        return fputs(s, f) == EOF ? -EIO : 0;
    }

    fputc('"', f);

    for (c = s; *c != '\0'; c++) {
        if (*c == '"' || *c == '\\') {
            fputc('\\', f);
        }
        fputc(*c, f);
    }

    return fputc('"', f) == EOF ? -EIO : 0;
}


/* for conf_proc.c */
int
drover__conf_dump_value(FILE *f, const char *s)
{
    return conf_dump_value(f, s);
}
