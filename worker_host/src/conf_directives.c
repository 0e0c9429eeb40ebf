/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * conf_directives.c -- the droverd.conf directive table and the setter of
 * each directive (conf_int.h): one argument list in, one field set or one
 * "FILE:LINE: message" out.
 */

#include "conf.h"
#include "conf_int.h"
#include "log.h"

#include <errno.h>
#include <stddef.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>


static int conf_set_log_level(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
static int conf_set_pool(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
static int conf_set_app(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
static int conf_set_app_param(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
static int conf_set_listen(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
static int conf_set_workers(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
static int conf_set_workers_ondemand(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d);
static int conf_set_process_max(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d);
static int conf_set_preload(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
static int conf_set_user(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
static int conf_set_group(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
static int conf_set_ms(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
static int conf_parse_uint(const char *s, int base, unsigned long max,
    unsigned long *out);
static int conf_parse_duration(const char *s, unsigned *ms);
static int conf_parse_size(const char *s, unsigned long long *bytes);
static int conf_set_run_dir(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
static int conf_set_memory_budget(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d);
static int conf_set_prestart(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
static int conf_set_request_timeout(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d);
static int conf_set_memory_limit(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d);
static int conf_set_max_requests(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d);
static int conf_set_restart_limit(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d);
static int conf_set_control(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
static int conf_set_busy_target(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d);
static int conf_resolve_uid(const char *s, uid_t *uid, gid_t *gid);
static int conf_resolve_gid(const char *s, gid_t *gid);
static int conf_valid_name(const char *s, size_t max);


const drover__conf_command_t  drover__conf_commands[CONF_NCMDS] = {

    [CONF_CMD_INCLUDE] = { "include", CONF_MAIN | CONF_POOL, CONF_MULTI,
      1, 1, "include FILE_OR_GLOB;", drover__conf_set_include },

    [CONF_CMD_LOG_LEVEL] = { "log_level", CONF_MAIN | CONF_POOL, 0,
      1, 1, "log_level emerg|alert|error|warn|notice|info|debug;",
      conf_set_log_level },

    [CONF_CMD_POOL] = { "pool", CONF_MAIN, CONF_BLOCK | CONF_MULTI,
      1, 1, "pool NAME { ... }", conf_set_pool },

    [CONF_CMD_APP] = { "app", CONF_POOL, 0,
      1, 1, "app /path/to/app.so;", conf_set_app },

    [CONF_CMD_APP_PARAM] = { "app_param", CONF_POOL, CONF_MULTI,
      2, 2, "app_param NAME VALUE;", conf_set_app_param },

    [CONF_CMD_EXEC] = { "exec", CONF_POOL, 0,
      1, CONF_MAX_ARGS, "exec /path/to/program [ARG ...];",
      drover__conf_set_exec },

    [CONF_CMD_LISTEN] = { "listen", CONF_POOL, CONF_MULTI,
      1, 8, "listen unix:PATH [mode=0660] [owner=USER] [group=GROUP] "
      "[acl=USER,...]; listen tcp:ADDR:PORT;", conf_set_listen },

    [CONF_CMD_WORKERS] = { "workers", CONF_POOL, 0,
      1, 3, "workers N|auto|ondemand MAX [idle=10s];", conf_set_workers },

    [CONF_CMD_PRELOAD] = { "preload", CONF_POOL, 0,
      1, 1, "preload on|off;", conf_set_preload },

    [CONF_CMD_USER] = { "user", CONF_POOL, 0,
      1, 1, "user NAME;", conf_set_user },

    [CONF_CMD_GROUP] = { "group", CONF_POOL, 0,
      1, 1, "group NAME;", conf_set_group },

    [CONF_CMD_IO_TIMEOUT] = { "io_timeout", CONF_POOL, 0,
      1, 1, "io_timeout 60s;", conf_set_ms,
      offsetof(drover_pool_conf_t, io_timeout_ms) },

    [CONF_CMD_RUN_DIR] = { "run_dir", CONF_MAIN, 0,
      1, 1, "run_dir /run/drover;", conf_set_run_dir },

    [CONF_CMD_MEMORY_BUDGET] = { "memory_budget", CONF_MAIN | CONF_POOL, 0,
      1, 1, "memory_budget 2G;", conf_set_memory_budget },

    [CONF_CMD_PRESTART] = { "prestart", CONF_POOL, CONF_MULTI,
      1, CONF_MAX_ARGS, "prestart /path/to/command [ARG ...];", conf_set_prestart },

    [CONF_CMD_PRESTART_TIMEOUT] = { "prestart_timeout", CONF_POOL, 0,
      1, 1, "prestart_timeout 5m;", conf_set_ms,
      offsetof(drover_pool_conf_t, prestart_timeout_ms) },

    [CONF_CMD_REQUEST_TIMEOUT] = { "request_timeout", CONF_POOL, 0,
      1, 1, "request_timeout 30s|off;", conf_set_request_timeout },

    [CONF_CMD_MEMORY_LIMIT] = { "memory_limit", CONF_POOL, 0,
      1, 1, "memory_limit 512M|off;", conf_set_memory_limit },

    [CONF_CMD_MEMORY_LIMIT_HARD] = { "memory_limit_hard", CONF_POOL, 0,
      1, 1, "memory_limit_hard 1G|off;", conf_set_memory_limit },

    [CONF_CMD_MAX_REQUESTS] = { "max_requests", CONF_POOL, 0,
      1, 2, "max_requests N [JITTER];", conf_set_max_requests },

    [CONF_CMD_RESTART_LIMIT] = { "restart_limit", CONF_POOL, 0,
      3, 3, "restart_limit N per 60s;", conf_set_restart_limit },

    [CONF_CMD_STOP_TIMEOUT] = { "stop_timeout", CONF_POOL, 0,
      1, 1, "stop_timeout 10s;", conf_set_ms,
      offsetof(drover_pool_conf_t, stop_timeout_ms) },

    [CONF_CMD_CONTROL] = { "control", CONF_MAIN, 0,
      1, 3, "control unix:PATH [mode=0600] [group=GROUP];",
      conf_set_control },

    [CONF_CMD_STATUS_SOCKET] = { "status_socket", CONF_MAIN, 0,
      1, 3, "status_socket unix:PATH [mode=0660] [group=GROUP];",
      conf_set_control },

    [CONF_CMD_STATUS_LISTEN] = { "status_listen", CONF_MAIN, 0,
      1, 2, "status_listen tcp:ADDR:PORT [allow=NET,...];",
      drover__conf_set_status_listen },

    [CONF_CMD_BUSY_TARGET] = { "busy_target", CONF_POOL, 0,
      2, 2, "busy_target 50% 90%;", conf_set_busy_target },

    [CONF_CMD_PROCESS_MAX] = { "process_max", CONF_MAIN, 0,
      1, 1, "process_max N|off;", conf_set_process_max },

    [CONF_CMD_ALLOW_PEERS] = { "allow_peers", CONF_POOL, CONF_MULTI,
      1, CONF_MAX_ARGS, "allow_peers USER [USER ...];",
      drover__conf_set_allow_peers },

    [CONF_CMD_ENV] = { "env", CONF_POOL, CONF_MULTI,
      1, 2, "env NAME [VALUE];", drover__conf_set_env },

    [CONF_CMD_WORKING_DIR] = { "working_dir", CONF_POOL, 0,
      1, 1, "working_dir /path;", drover__conf_set_working_dir },

    [CONF_CMD_UMASK] = { "umask", CONF_POOL, 0,
      1, 1, "umask 0027;", drover__conf_set_umask },

    [CONF_CMD_RLIMIT_FILES] = { "rlimit_files", CONF_POOL, 0,
      1, 1, "rlimit_files N|unlimited;", drover__conf_set_rlimit,
      offsetof(drover_pool_conf_t, rlimit_files) },

    [CONF_CMD_RLIMIT_CORE] = { "rlimit_core", CONF_POOL, 0,
      1, 1, "rlimit_core SIZE|unlimited;", drover__conf_set_rlimit,
      offsetof(drover_pool_conf_t, rlimit_core) },

    [CONF_CMD_RLIMIT_NPROC] = { "rlimit_nproc", CONF_POOL, 0,
      1, 1, "rlimit_nproc N|unlimited;", drover__conf_set_rlimit,
      offsetof(drover_pool_conf_t, rlimit_nproc) },

    [CONF_CMD_NO_NEW_PRIVS] = { "no_new_privs", CONF_POOL, 0,
      1, 1, "no_new_privs on|off;", drover__conf_set_no_new_privs },

    [CONF_CMD_CPU_SCHEDULING] = { "cpu_scheduling", CONF_POOL, 0,
      1, 1, "cpu_scheduling batch|normal|idle;",
      drover__conf_set_cpu_scheduling },

    [CONF_CMD_MIN_UID] = { "min_uid", CONF_MAIN, 0,
      1, 1, "min_uid 1000;", drover__conf_set_min_uid },

    /* a python pool (python_conf.c): one setter for all seven */
    [CONF_CMD_PYTHON] = { "python", CONF_POOL, 0,
      1, 1, "python MODULE:ATTR;", drover__conf_set_python },

    [CONF_CMD_PYTHON_PATH] = { "python_path", CONF_POOL, CONF_MULTI,
      1, 1, "python_path /path/to/dir;", drover__conf_set_python },

    [CONF_CMD_VENV] = { "venv", CONF_POOL, 0,
      1, 1, "venv /path/to/venv;", drover__conf_set_python },

    [CONF_CMD_INTERFACE] = { "interface", CONF_POOL, 0,
      1, 1, "interface asgi|wsgi|auto;", drover__conf_set_python },

    [CONF_CMD_LIFESPAN] = { "lifespan", CONF_POOL, 0,
      1, 1, "lifespan auto|on|off;", drover__conf_set_python },

    [CONF_CMD_ROOT_PATH] = { "root_path", CONF_POOL, 0,
      1, 1, "root_path /prefix;", drover__conf_set_python },

    [CONF_CMD_PYTHON_PRELOAD] = { "python_preload", CONF_POOL, 0,
      1, 1, "python_preload MODULE:FUNC;", drover__conf_set_python },
};


int
drover__conf_find_command(const char *name)
{
    int  i;

    for (i = 0; i < CONF_NCMDS; i++) {
        if (strcmp(drover__conf_commands[i].name, name) == 0) {
            return i;
        }
    }

    return -1;
}


static int
conf_set_log_level(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    int  level;

    level = drover_log_level_parse(d->args[0]);
    if (level < DROVER_LOG_EMERG) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"log_level\" needs one of emerg, alert, "
                                  "error, warn, notice, info, debug, got "
                                  "\"%s\"", d->args[0]);
    }

    if (b->pool != NULL) {
        b->pool->log_level = level;
    } else {
        p->conf->log_level = level;
    }

    return 0;
}


static int
conf_set_pool(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    int                    rc;
    drover__conf_block_t  *pb;
    drover_pool_conf_t    *pool, *other, **tail;
    const char            *name = d->args[0];

    (void) b;

    if (!conf_valid_name(name, DROVER_CONF_NAME_MAX)) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "bad pool name \"%s\": use 1 to %d of A-Z "
                                  "a-z 0-9 _ . -", name, DROVER_CONF_NAME_MAX);
    }

    other = drover_conf_find_pool(p->conf, name);
    if (other != NULL) {
        return drover__conf_error(p, f->name, d->line,
                                  "duplicate pool \"%s\", first defined at "
                                  "%s:%u: rename one of them", name,
                                  other->file, other->line);
    }

    pool = calloc(1, sizeof(*pool));
    pb = calloc(1, sizeof(*pb));
    if (pool == NULL || pb == NULL) {
        free(pool);
        free(pb);
        return -ENOMEM;
    }

    /* linked at once so drover_conf_free() owns it from here on */
    for (tail = &p->conf->pools; *tail != NULL; tail = &(*tail)->next) {
        /* void */
    }
    *tail = pool;
    p->conf->npools++;

    pool->listen.mode = CONF_LISTEN_MODE;
    pool->listen.owner = (uid_t) -1;
    pool->listen.group = (gid_t) -1;
    pool->preload = 1;
    pool->uid = (uid_t) -1;
    pool->gid = (gid_t) -1;
    pool->log_level = -2;
    pool->io_timeout_ms = CONF_IO_TIMEOUT_MS;
    pool->prestart_timeout_ms = CONF_PRESTART_TIMEOUT_MS;
    pool->restart_limit = CONF_RESTART_LIMIT;
    pool->restart_period_ms = CONF_RESTART_PERIOD_MS;
    pool->stop_timeout_ms = CONF_STOP_TIMEOUT_MS;
    pool->busy_low = 50;
    pool->busy_high = 90;
    pool->umask = CONF_UMASK;
    pool->no_new_privs = 1;
    pool->cpu_scheduling = SCHED_BATCH;
    pool->workers_auto = 1;
    pool->line = d->line;
    pool->name = strdup(name);
    pool->file = strdup(f->name);

    if (pool->name == NULL || pool->file == NULL) {
        rc = -ENOMEM;
        goto cleanup;
    }

    pb->pool = pool;
    pb->file = f->name;
    pb->line = d->line;

    rc = drover__conf_parse_block(p, f, pb, 1);
    if (rc == 0) {
        rc = drover__conf_pool_finish(p, pb);
    }

cleanup:

    free(pb);
    return rc;
}


static int
conf_set_app(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    int          rc;
    char        *path, *real;
    struct stat  st;
    const char  *arg = d->args[0];
    unsigned     line = d->arg_lines[0];

    if (arg[0] == '\0') {
        return drover__conf_error(p, f->name, line,
                                  "\"app\" needs the path of the app's .so, "
                                  "got \"\"");
    }

    path = (arg[0] == '/') ? strdup(arg) : drover__conf_join(f->dir, arg);
    if (path == NULL) {
        return -ENOMEM;
    }

    real = realpath(path, NULL);
    if (real == NULL) {
        rc = drover__conf_error(p, f->name, line,
                                "app \"%s\" (%s): %s: build the app or fix "
                                "the path", arg, path, strerror(errno));
        goto cleanup;
    }

    if (stat(real, &st) == -1) {
        rc = drover__conf_error(p, f->name, line, "app \"%s\" (%s): %s", arg,
                                real, strerror(errno));
        goto cleanup;
    }

    if (!S_ISREG(st.st_mode)) {
        rc = drover__conf_error(p, f->name, line,
                                "app \"%s\" (%s) is not a regular file: name "
                                "the app's .so", arg, real);
        goto cleanup;
    }

    if (access(real, R_OK) == -1) {
        rc = drover__conf_error(p, f->name, line,
                                "app \"%s\" (%s) is not readable by droverd: "
                                "%s: fix its permissions", arg, real,
                                strerror(errno));
        goto cleanup;
    }

    b->pool->app = real;
    real = NULL;
    rc = 0;

cleanup:

    free(real);
    free(path);
    return rc;
}


static int
conf_set_app_param(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    size_t               i;
    drover_app_param_t  *params;
    drover_pool_conf_t  *pool = b->pool;

    if (!conf_valid_name(d->args[0], CONF_TOKEN_MAX)) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "bad app_param name \"%s\": use A-Z a-z "
                                  "0-9 _ . -", d->args[0]);
    }

    for (i = 0; i < pool->nparams; i++) {
        if (strcmp(pool->params[i].name, d->args[0]) == 0) {
            return drover__conf_error(p, f->name, d->line,
                                      "duplicate app_param \"%s\" in pool "
                                      "\"%s\": keep only one", d->args[0],
                                      pool->name);
        }
    }

    params = realloc(pool->params, (pool->nparams + 1) * sizeof(params[0]));
    if (params == NULL) {
        return -ENOMEM;
    }

    pool->params = params;

    /* the directive's strings change owner */
    params[pool->nparams].name = d->args[0];
    params[pool->nparams].value = d->args[1];
    pool->nparams++;
    d->args[0] = NULL;
    d->args[1] = NULL;

    return 0;
}


static int
conf_listen_option(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, const char *opt, unsigned line, unsigned *seen)
{
    int                    rc;
    unsigned long          mode;
    drover_listen_conf_t  *ls = &b->pool->listen;
    const char            *v = strchr(opt, '=');
    size_t                 klen = v ? (size_t) (v - opt) : strlen(opt);
    unsigned               bit;

    /* repeatable: acl=a acl=b is acl=a,b */
    if (v != NULL && klen == 3 && strncmp(opt, "acl", 3) == 0) {
        return drover__conf_listen_acl(p, f, b->pool, v + 1, line);
    }

    if (v != NULL && klen == 4 && strncmp(opt, "mode", 4) == 0) {
        bit = 1;
    } else if (v != NULL && klen == 5 && strncmp(opt, "owner", 5) == 0) {
        bit = 2;
    } else if (v != NULL && klen == 5 && strncmp(opt, "group", 5) == 0) {
        bit = 4;
    } else {
        return drover__conf_error(p, f->name, line,
                                  "unknown listen option \"%s\": use "
                                  "mode=0660, owner=USER, group=GROUP or "
                                  "acl=USER", opt);
    }

    if (*seen & bit) {
        return drover__conf_error(p, f->name, line,
                                  "duplicate listen option \"%.*s\": keep "
                                  "only one", (int) klen, opt);
    }

    *seen |= bit;
    v++;

    if (bit == 1) {
        rc = conf_parse_uint(v, 8, 0777, &mode);
        if (rc != 0) {
            return drover__conf_error(p, f->name, line,
                                      "listen \"mode\" needs an octal mode "
                                      "from 0 to 0777, got \"%s\"", v);
        }
        ls->mode = (mode_t) mode;
        return 0;
    }

    if (bit == 2) {
        if (conf_resolve_uid(v, &ls->owner, NULL) != 0) {
            return drover__conf_error(p, f->name, line,
                                      "listen \"owner\": unknown user "
                                      "\"%s\": create it or use another", v);
        }
        return 0;
    }

    if (conf_resolve_gid(v, &ls->group) != 0) {
        return drover__conf_error(p, f->name, line,
                                  "listen \"group\": unknown group \"%s\": "
                                  "create it or use another", v);
    }

    return 0;
}


static int
conf_set_listen(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    int                    i, rc;
    char                  *path;
    unsigned               seen;
    drover_pool_conf_t    *other;
    drover_listen_conf_t  *ls = &b->pool->listen;
    const char            *arg = d->args[0];

    if (strncmp(arg, "tcp:", 4) == 0) {
        return drover__conf_listen_tcp(p, f, b, d);
    }

    if (strncmp(arg, "unix:", 5) != 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"listen %s\": use \"listen "
                                  "unix:/run/drover/NAME.sock;\" (and, for "
                                  "other hosts, \"listen "
                                  "tcp:ADDR:PORT;\" beside it)", arg);
    }

    if (ls->path != NULL) {
        return drover__conf_error(p, f->name, d->line,
                                  "\"listen unix:\" is duplicate, first "
                                  "at %s:%u: keep one", ls->file, ls->line);
    }

    if (arg[5] == '\0') {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"listen unix:\" needs a socket path, as "
                                  "in unix:/run/drover/NAME.sock");
    }

    /* not realpath(): the socket does not exist yet */
    path = (arg[5] == '/') ? strdup(arg + 5) : drover__conf_join(f->dir,
                                                                 arg + 5);
    if (path == NULL) {
        return -ENOMEM;
    }

    for (other = p->conf->pools; other != NULL; other = other->next) {
        if (other != b->pool && other->listen.path != NULL
            && strcmp(other->listen.path, path) == 0)
        {
            rc = drover__conf_error(p, f->name, d->arg_lines[0],
                                    "socket \"%s\" is already used by pool "
                                    "\"%s\" at %s:%u: give each pool its own "
                                    "socket", path, other->name,
                                    other->listen.file, other->listen.line);
            free(path);
            return rc;
        }
    }

    ls->path = path;
    ls->line = d->line;
    ls->file = strdup(f->name);
    if (ls->file == NULL) {
        return -ENOMEM;
    }

    seen = 0;

    for (i = 1; i < d->nargs; i++) {
        rc = conf_listen_option(p, f, b, d->args[i], d->arg_lines[i], &seen);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


static int
conf_set_workers(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    unsigned long  n;

    if (strcmp(d->args[0], "ondemand") == 0) {
        return conf_set_workers_ondemand(p, f, b, d);
    }

    if (d->nargs > 1) {
        return drover__conf_error(p, f->name, d->arg_lines[1],
                                  "\"workers\" takes one number, \"auto\" or "
                                  "\"ondemand MAX [idle=10s]\", got \"%s\" "
                                  "after \"%s\"", d->args[1], d->args[0]);
    }

    if (strcmp(d->args[0], "auto") == 0) {
        b->pool->workers_auto = 1;
        return 0;
    }

    if (conf_parse_uint(d->args[0], 10, DROVER_CONF_MAX_WORKERS, &n) != 0
        || n == 0)
    {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"workers\" needs a number from 1 to %d "
                                  "or \"auto\", got \"%s\"",
                                  DROVER_CONF_MAX_WORKERS, d->args[0]);
    }

    b->pool->workers = (unsigned) n;
    b->pool->workers_auto = 0;
    return 0;
}


/* `workers ondemand MAX [idle=10s];`: none until a connection (ondemand.c) */
static int
conf_set_workers_ondemand(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    unsigned       ms;
    unsigned long  n;

    if (d->nargs < 2
        || conf_parse_uint(d->args[1], 10, DROVER_CONF_MAX_WORKERS, &n) != 0
        || n == 0)
    {
        return drover__conf_error(p, f->name, d->arg_lines[d->nargs > 1],
                                  "\"workers ondemand\" needs a maximum "
                                  "number of workers from 1 to %d, got "
                                  "\"%s\"", DROVER_CONF_MAX_WORKERS,
                                  d->nargs > 1 ? d->args[1] : "");
    }

    ms = CONF_IDLE_MS;

    if (d->nargs == 3
        && (strncmp(d->args[2], "idle=", 5) != 0
            || conf_parse_duration(d->args[2] + 5, &ms) != 0
            || ms < 1000))
    {
        return drover__conf_error(p, f->name, d->arg_lines[2],
                                  "\"workers ondemand\" takes \"idle=TIME\" "
                                  "from 1s to 24h such as idle=10s, got "
                                  "\"%s\"", d->args[2]);
    }

    b->pool->workers = (unsigned) n;
    b->pool->workers_auto = 0;
    b->pool->ondemand = 1;
    b->pool->idle_ms = ms;
    return 0;
}


/* `process_max N|off;`: workers of every pool together (ondemand.c) */
static int
conf_set_process_max(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    unsigned long  n;

    (void) b;

    if (strcmp(d->args[0], "off") == 0) {
        p->conf->process_max = 0;
        return 0;
    }

    if (conf_parse_uint(d->args[0], 10, 1000000, &n) != 0 || n == 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"process_max\" needs a number of workers "
                                  "from 1 to 1000000 or \"off\", got \"%s\"",
                                  d->args[0]);
    }

    p->conf->process_max = (unsigned) n;
    return 0;
}


static int
conf_set_preload(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    if (strcmp(d->args[0], "on") == 0) {
        b->pool->preload = 1;
    } else if (strcmp(d->args[0], "off") == 0) {
        b->pool->preload = 0;
    } else {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"preload\" needs \"on\" or \"off\", got "
                                  "\"%s\"", d->args[0]);
    }

    return 0;
}


static int
conf_set_user(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    drover_pool_conf_t  *pool = b->pool;

    if (conf_resolve_uid(d->args[0], &pool->uid, &b->user_gid) != 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "unknown user \"%s\": create it or use "
                                  "another", d->args[0]);
    }

    pool->user = strdup(d->args[0]);
    if (pool->user == NULL) {
        return -ENOMEM;
    }

    return 0;
}


static int
conf_set_group(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    drover_pool_conf_t  *pool = b->pool;

    if (conf_resolve_gid(d->args[0], &pool->gid) != 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "unknown group \"%s\": create it or use "
                                  "another", d->args[0]);
    }

    pool->group = strdup(d->args[0]);
    if (pool->group == NULL) {
        return -ENOMEM;
    }

    return 0;
}


/* a pool duration in ms at the command's offset: io_timeout and the like */
static int
conf_set_ms(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    unsigned                       ms;
    const drover__conf_command_t  *cmd = &drover__conf_commands[d->cmd];

    if (conf_parse_duration(d->args[0], &ms) != 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"%s\" needs a duration from 1ms to 24h "
                                  "such as 30s, 500ms, 2m or 1h, got \"%s\"",
                                  cmd->name, d->args[0]);
    }

    *(unsigned *) ((char *) b->pool + cmd->offset) = ms;
    return 0;
}


static int
conf_set_run_dir(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    char  *path;

    (void) b;

    path = (d->args[0][0] == '/') ? strdup(d->args[0])
                                  : drover__conf_join(f->dir, d->args[0]);
    if (path == NULL) {
        return -ENOMEM;
    }

    if (strlen(path) > 200) {
        free(path);
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"run_dir\" is too long: use a path of at "
                                  "most 200 bytes");
    }

    free(p->conf->run_dir);
    p->conf->run_dir = path;
    return 0;
}


static int
conf_set_memory_budget(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    unsigned long long  bytes;

    if (conf_parse_size(d->args[0], &bytes) != 0 || bytes == 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"memory_budget\" needs a size such as "
                                  "512M or 4G, got \"%s\"", d->args[0]);
    }

    if (b != NULL && b->pool != NULL) {
        b->pool->memory_budget = bytes;
    } else {
        p->conf->memory_budget = bytes;
    }

    return 0;
}


static int
conf_set_prestart(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    size_t                   i;
    drover_pool_conf_t      *pool = b->pool;
    drover_prestart_conf_t  *ps, *cmd;

    if (pool->nprestart == CONF_PRESTART_MAX) {
        return drover__conf_error(p, f->name, d->line,
                                  "too many \"prestart\" commands in pool "
                                  "\"%s\" (at most %d): put them in one "
                                  "script", pool->name, CONF_PRESTART_MAX);
    }

    if (d->args[0][0] != '/') {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"prestart\" needs an absolute command "
                                  "path, got \"%s\": prestart runs without a "
                                  "shell and without PATH", d->args[0]);
    }

    ps = realloc(pool->prestart, (pool->nprestart + 1) * sizeof(ps[0]));
    if (ps == NULL) {
        return -ENOMEM;
    }

    pool->prestart = ps;
    cmd = &ps[pool->nprestart];
    memset(cmd, 0, sizeof(*cmd));

    cmd->argv = calloc((size_t) d->nargs + 1, sizeof(char *));
    cmd->file = strdup(f->name);
    if (cmd->argv == NULL || cmd->file == NULL) {
        free(cmd->argv);
        free(cmd->file);
        return -ENOMEM;
    }

    /* the directive's strings change owner */
    for (i = 0; i < (size_t) d->nargs; i++) {
        cmd->argv[i] = d->args[i];
        d->args[i] = NULL;
    }

    cmd->argc = (size_t) d->nargs;
    cmd->line = d->line;
    pool->nprestart++;

    return 0;
}


static int
conf_set_request_timeout(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    unsigned  ms;

    if (strcmp(d->args[0], "off") == 0) {
        b->pool->request_timeout_ms = 0;
        return 0;
    }

    if (conf_parse_duration(d->args[0], &ms) != 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"request_timeout\" needs \"off\" or a "
                                  "duration from 1ms to 24h such as 30s, got "
                                  "\"%s\"", d->args[0]);
    }

    b->pool->request_timeout_ms = ms;
    return 0;
}


static int
conf_set_memory_limit(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    int                  hard;
    unsigned long long   bytes;

    hard = (d->cmd == CONF_CMD_MEMORY_LIMIT_HARD);

    if (strcmp(d->args[0], "off") == 0) {
        bytes = 0;

    } else if (conf_parse_size(d->args[0], &bytes) != 0 || bytes == 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"%s\" needs \"off\" or a size such as "
                                  "512M or 2G, got \"%s\"",
                                  drover__conf_commands[d->cmd].name,
                                  d->args[0]);
    }

    if (hard) {
        b->pool->memory_limit_hard = bytes;
    } else {
        b->pool->memory_limit = bytes;
    }

    return 0;
}


static int
conf_set_max_requests(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    unsigned long  n, jitter;

    if (conf_parse_uint(d->args[0], 10, 1000000000UL, &n) != 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"max_requests\" needs a number from 0 "
                                  "(off) to 1000000000, got \"%s\"",
                                  d->args[0]);
    }

    jitter = 0;

    if (d->nargs == 2
        && (conf_parse_uint(d->args[1], 10, 1000000000UL, &jitter) != 0
            || (n != 0 && jitter >= n)))
    {
        return drover__conf_error(p, f->name, d->arg_lines[1],
                                  "\"max_requests\" jitter must be a number "
                                  "below max_requests (%lu), got \"%s\"", n,
                                  d->args[1]);
    }

    b->pool->max_requests = (unsigned) n;
    b->pool->max_requests_jitter = (unsigned) jitter;
    return 0;
}


static int
conf_set_restart_limit(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    unsigned       ms;
    unsigned long  n;

    if (conf_parse_uint(d->args[0], 10, 100000UL, &n) != 0 || n == 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"restart_limit\" needs a number of "
                                  "restarts from 1 to 100000, got \"%s\"",
                                  d->args[0]);
    }

    if (strcmp(d->args[1], "per") != 0) {
        return drover__conf_error(p, f->name, d->arg_lines[1],
                                  "\"restart_limit\" reads \"restart_limit N "
                                  "per TIME;\", got \"%s\" instead of \"per\"",
                                  d->args[1]);
    }

    if (conf_parse_duration(d->args[2], &ms) != 0) {
        return drover__conf_error(p, f->name, d->arg_lines[2],
                                  "\"restart_limit\" needs a period such as "
                                  "60s or 5m, got \"%s\"", d->args[2]);
    }

    b->pool->restart_limit = (unsigned) n;
    b->pool->restart_period_ms = ms;
    return 0;
}


static int
conf_set_control(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    int             i;
    char           *path, **target;
    gid_t           gid, *target_gid;
    mode_t         *target_mode;
    unsigned long   mode;
    const char     *arg = d->args[0];
    const char     *name = drover__conf_commands[d->cmd].name;

    (void) b;

    if (d->cmd == CONF_CMD_STATUS_SOCKET) {
        target = &p->conf->status_socket;
        target_mode = &p->conf->status_mode;
        target_gid = &p->conf->status_group;
    } else {
        target = &p->conf->control;
        target_mode = &p->conf->control_mode;
        target_gid = &p->conf->control_group;
    }

    if (strncmp(arg, "unix:", 5) != 0 || arg[5] == '\0') {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"%s\" needs unix:PATH, as in \"%s "
                                  "unix:/run/drover/droverd.ctl;\", got "
                                  "\"%s\"", name, name, arg);
    }

    for (i = 1; i < d->nargs; i++) {
        const char  *opt = d->args[i];

        if (strncmp(opt, "mode=", 5) == 0) {
            if (conf_parse_uint(opt + 5, 8, 0777, &mode) != 0) {
                return drover__conf_error(p, f->name, d->arg_lines[i],
                                          "\"%s\" mode needs an octal mode "
                                          "such as 0660, got \"%s\"", name,
                                          opt + 5);
            }
            *target_mode = (mode_t) mode;

        } else if (strncmp(opt, "group=", 6) == 0) {
            if (conf_resolve_gid(opt + 6, &gid) != 0) {
                return drover__conf_error(p, f->name, d->arg_lines[i],
                                          "\"%s\" group: no group \"%s\"", name,
                                          opt + 6);
            }
            *target_gid = gid;

        } else {
            return drover__conf_error(p, f->name, d->arg_lines[i],
                                      "unknown \"%s\" option \"%s\": use "
                                      "mode= or group=", name, opt);
        }
    }

    path = (arg[5] == '/') ? strdup(arg + 5) : drover__conf_join(f->dir,
                                                                 arg + 5);
    if (path == NULL) {
        return -ENOMEM;
    }

    if (strlen(path) >= sizeof(((struct sockaddr_un *) 0)->sun_path)) {
        free(path);
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"%s\" socket path is too long (at most "
                                  "%zu bytes)", name,
                                  sizeof(((struct sockaddr_un *) 0)->sun_path)
                                  - 1);
    }

    free(*target);
    *target = path;
    return 0;
}


static int
conf_set_busy_target(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    int             i;
    char            num[16];
    size_t          n;
    unsigned long   v[2];

    for (i = 0; i < 2; i++) {
        n = strlen(d->args[i]);
        if (n > 0 && d->args[i][n - 1] == '%') {
            n--;
        }

        if (n == 0 || n >= sizeof(num)) {
            goto fail;
        }

        memcpy(num, d->args[i], n);
        num[n] = '\0';

        if (conf_parse_uint(num, 10, 100, &v[i]) != 0) {
            goto fail;
        }
    }

    if (v[0] >= v[1]) {
        goto fail;
    }

    b->pool->busy_low = (unsigned) v[0];
    b->pool->busy_high = (unsigned) v[1];
    return 0;

fail:

    return drover__conf_error(p, f->name, d->line,
                              "\"busy_target\" needs two percentages, low "
                              "then high, such as \"busy_target 50%% 90%%;\"");
}


/* digits only, no sign, no overflow, at most MAX */
static int
conf_parse_uint(const char *s, int base, unsigned long max,
    unsigned long *out)
{
    unsigned long  v, digit;

    if (*s == '\0') {
        return -EINVAL;
    }

    for (v = 0; *s != '\0'; s++) {
        if (*s < '0' || *s > '0' + base - 1) {
            return -EINVAL;
        }

        digit = (unsigned long) (*s - '0');
        if (v > (max - digit) / (unsigned long) base) {
            return -ERANGE;
        }

        v = v * base + digit;
    }

    *out = v;
    return 0;
}


/* N (seconds), Nms, Ns, Nm, Nh; 1ms to 24h */
static int
conf_parse_duration(const char *s, unsigned *ms)
{
    char           num[32];
    size_t         n;
    unsigned long  v, unit;
    const char    *suffix;

    n = strspn(s, "0123456789");
    if (n == 0 || n >= sizeof(num)) {
        return -EINVAL;
    }

    memcpy(num, s, n);
    num[n] = '\0';
    suffix = s + n;

    if (*suffix == '\0' || strcmp(suffix, "s") == 0) {
        unit = 1000;
    } else if (strcmp(suffix, "ms") == 0) {
        unit = 1;
    } else if (strcmp(suffix, "m") == 0) {
        unit = 60 * 1000;
    } else if (strcmp(suffix, "h") == 0) {
        unit = 3600 * 1000;
    } else {
        return -EINVAL;
    }

    if (conf_parse_uint(num, 10, CONF_DURATION_MAX_MS / unit, &v) != 0
        || v == 0)
    {
        return -EINVAL;
    }

    *ms = (unsigned) (v * unit);
    return 0;
}


/* "4096", "64K", "512M", "2G", "1T" (binary units) into bytes */
static int
conf_parse_size(const char *s, unsigned long long *bytes)
{
    char                num[32];
    size_t              n;
    unsigned long       v;
    unsigned long long  unit;
    const char         *suffix;

    n = strspn(s, "0123456789");
    if (n == 0 || n >= sizeof(num)) {
        return -EINVAL;
    }

    memcpy(num, s, n);
    num[n] = '\0';
    suffix = s + n;

    if (*suffix == '\0') {
        unit = 1;
    } else if (suffix[1] != '\0') {
        return -EINVAL;
    } else if (*suffix == 'k' || *suffix == 'K') {
        unit = 1ULL << 10;
    } else if (*suffix == 'm' || *suffix == 'M') {
        unit = 1ULL << 20;
    } else if (*suffix == 'g' || *suffix == 'G') {
        unit = 1ULL << 30;
    } else if (*suffix == 't' || *suffix == 'T') {
        unit = 1ULL << 40;
    } else {
        return -EINVAL;
    }

    if (conf_parse_uint(num, 10, (unsigned long) (CONF_SIZE_MAX / unit), &v)
        != 0)
    {
        return -EINVAL;
    }

    *bytes = (unsigned long long) v * unit;
    return 0;
}


/* a user name or number; GID, when asked, gets its primary group */
static int
conf_resolve_uid(const char *s, uid_t *uid, gid_t *gid)
{
    unsigned long   n;
    struct passwd  *pw;

    if (conf_parse_uint(s, 10, (uid_t) -2, &n) == 0) {
        pw = getpwuid((uid_t) n);
        *uid = (uid_t) n;
        if (gid != NULL) {
            /* an id without a passwd entry gets its group from "group" */
            *gid = (pw != NULL) ? pw->pw_gid : (gid_t) -1;
        }
        return 0;
    }

    pw = getpwnam(s);
    if (pw == NULL) {
        return -ENOENT;
    }

    *uid = pw->pw_uid;
    if (gid != NULL) {
        *gid = pw->pw_gid;
    }

    return 0;
}


static int
conf_resolve_gid(const char *s, gid_t *gid)
{
    unsigned long   n;
    struct group   *gr;

    if (conf_parse_uint(s, 10, (gid_t) -2, &n) == 0) {
        *gid = (gid_t) n;
        return 0;
    }

    gr = getgrnam(s);
    if (gr == NULL) {
        return -ENOENT;
    }

    *gid = gr->gr_gid;
    return 0;
}


/* [A-Za-z0-9_.-]{1,max} */
static int
conf_valid_name(const char *s, size_t max)
{
    size_t  len;

    len = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                    "0123456789_.-");

    return len > 0 && len <= max && s[len] == '\0';
}


/* for conf_proc.c */
int
drover__conf_parse_uint(const char *s, int base, unsigned long max,
    unsigned long *out)
{
    return conf_parse_uint(s, base, max, out);
}


int
drover__conf_parse_size(const char *s, unsigned long long *bytes)
{
    return conf_parse_size(s, bytes);
}
