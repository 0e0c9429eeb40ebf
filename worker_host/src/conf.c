/*
 * conf.c -- see conf.h; the grammar is described in README ("Configuration").
 *
 * A file is read whole (at most CONF_FILE_MAX bytes) and cut into tokens:
 * bare words, quoted strings, ";", "{" and "}".  A directive is a name, its
 * arguments, and ";" or a "{ ... }" block.  Only `pool` takes a block and
 * pools do not nest, so the parser recurses only through `pool` (once) and
 * `include` (at most DROVER_CONF_MAX_INCLUDE_DEPTH deep).
 *
 * Every error is one "FILE:LINE: message" line in the caller's buffer; the
 * first error stops the load.
 */

#include "conf.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONF_FILE_MAX        (1024 * 1024)
#define CONF_TOKEN_MAX       4096
#define CONF_MAX_ARGS        64
#define CONF_IO_TIMEOUT_MS   60000u
#define CONF_PRESTART_TIMEOUT_MS  300000u
#define CONF_STOP_TIMEOUT_MS      10000u
#define CONF_RESTART_LIMIT        10u
#define CONF_RESTART_PERIOD_MS    60000u
#define CONF_RUN_DIR              "/run/drover"
#define CONF_PRESTART_MAX         32
#define CONF_SIZE_MAX             (1ULL << 46)     /* 64 TiB */
#define CONF_DURATION_MAX_MS (24u * 3600u * 1000u)
#define CONF_LISTEN_MODE     0660

#define CONF_MAIN            0x01
#define CONF_POOL            0x02

#define CONF_BLOCK           0x01     /* takes "{ ... }" instead of ";" */
#define CONF_MULTI           0x02     /* may appear more than once */


enum {
    CONF_CMD_INCLUDE,
    CONF_CMD_LOG_LEVEL,
    CONF_CMD_POOL,
    CONF_CMD_APP,
    CONF_CMD_APP_PARAM,
    CONF_CMD_LISTEN,
    CONF_CMD_WORKERS,
    CONF_CMD_PRELOAD,
    CONF_CMD_USER,
    CONF_CMD_GROUP,
    CONF_CMD_IO_TIMEOUT,
    CONF_CMD_RUN_DIR,
    CONF_CMD_MEMORY_BUDGET,
    CONF_CMD_PRESTART,
    CONF_CMD_PRESTART_TIMEOUT,
    CONF_CMD_REQUEST_TIMEOUT,
    CONF_CMD_MEMORY_LIMIT,
    CONF_CMD_MEMORY_LIMIT_HARD,
    CONF_CMD_MAX_REQUESTS,
    CONF_CMD_RESTART_LIMIT,
    CONF_CMD_STOP_TIMEOUT,
    CONF_CMD_CONTROL,
    CONF_CMD_STATUS_SOCKET,
    CONF_CMD_BUSY_TARGET,
    CONF_NCMDS
};


typedef enum {
    CONF_TOK_WORD,
    CONF_TOK_SEMICOLON,
    CONF_TOK_OPEN,
    CONF_TOK_CLOSE,
    CONF_TOK_EOF
} conf_tok_type_t;


typedef struct conf_name_s  conf_name_t;

/* file names, kept until the load ends so messages can point at them */
struct conf_name_s {
    conf_name_t  *next;
    char          name[];
};


typedef struct {
    const char   *name;        /* for messages: as given, or from glob */
    char         *dir;         /* absolute directory of the file */
    char         *buf;
    size_t        len;
    size_t        pos;
    unsigned      line;
    unsigned      last_line;   /* of the last token read */
    unsigned      depth;       /* 0: the main file */
} conf_file_t;


typedef struct {
    conf_tok_type_t  type;
    unsigned         line;
    int              quoted;
    size_t           len;
    char             text[CONF_TOKEN_MAX + 1];
} conf_token_t;


typedef struct {
    const char   *file;
    unsigned      line;        /* 0: not seen yet */
} conf_where_t;


typedef struct {
    drover_pool_conf_t  *pool;       /* NULL: main level */
    const char          *file;       /* where the block was opened */
    unsigned             line;
    gid_t                user_gid;   /* the primary group of `user` */
    conf_where_t         seen[CONF_NCMDS];
} conf_block_t;


typedef struct {
    int          cmd;
    unsigned     line;                     /* of the name */
    int          nargs;                    /* may exceed CONF_MAX_ARGS */
    int          block;                    /* ended by "{" */
    char        *args[CONF_MAX_ARGS];
    unsigned     arg_lines[CONF_MAX_ARGS];
} conf_directive_t;


typedef struct {
    drover_conf_t  *conf;
    char           *err;
    size_t          errlen;
    conf_name_t    *names;
    conf_token_t    tok;
    uid_t           euid;
    gid_t           egid;
    conf_block_t    main;
} conf_parser_t;


typedef int (*conf_set_pt)(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d);


typedef struct {
    const char   *name;
    unsigned      ctx;
    unsigned      flags;
    int           min_args;
    int           max_args;
    const char   *usage;
    conf_set_pt   set;
    size_t        offset;      /* of the field, for the stock setters */
} conf_command_t;


static int conf_error(conf_parser_t *p, const char *file, unsigned line,
    const char *fmt, ...) DROVER_PRINTF(4, 5);
static int conf_file_open(conf_parser_t *p, conf_file_t *f, const char *path,
    const char *from, unsigned from_line, unsigned depth);
static void conf_file_close(conf_file_t *f);
static int conf_next_token(conf_parser_t *p, conf_file_t *f);
static int conf_parse_block(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, int braced);
static int conf_read_directive(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static void conf_directive_free(conf_directive_t *d);
static int conf_find_command(const char *name);
static int conf_set_include(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_set_log_level(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_set_pool(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d);
static int conf_set_app(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d);
static int conf_set_app_param(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_set_listen(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d);
static int conf_set_workers(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_set_preload(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_set_user(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d);
static int conf_set_group(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d);
static int conf_set_ms(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_pool_finish(conf_parser_t *p, conf_block_t *b);
static int conf_socket_of(const drover_pool_conf_t *pool, const char *path);
static int conf_pool_check_sockets(conf_parser_t *p,
    drover_pool_conf_t *pool);
static int conf_pool_check_user(conf_parser_t *p, conf_block_t *b);
static int conf_parse_uint(const char *s, int base, unsigned long max,
    unsigned long *out);
static int conf_parse_duration(const char *s, unsigned *ms);
static int conf_parse_size(const char *s, unsigned long long *bytes);
static int conf_set_run_dir(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_set_memory_budget(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_set_prestart(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_set_request_timeout(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_set_memory_limit(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_set_max_requests(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_set_restart_limit(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_set_control(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_set_busy_target(conf_parser_t *p, conf_file_t *f,
    conf_block_t *b, conf_directive_t *d);
static int conf_resolve_uid(const char *s, uid_t *uid, gid_t *gid);
static int conf_resolve_gid(const char *s, gid_t *gid);
static char *conf_join(const char *dir, const char *path);
static const char *conf_remember(conf_parser_t *p, const char *name);
static int conf_valid_name(const char *s, size_t max);
static void conf_pool_free(drover_pool_conf_t *pool);
static int conf_dump_value(FILE *f, const char *s);


static const conf_command_t  conf_commands[CONF_NCMDS] = {

    [CONF_CMD_INCLUDE] = { "include", CONF_MAIN | CONF_POOL, CONF_MULTI,
      1, 1, "include FILE_OR_GLOB;", conf_set_include },

    [CONF_CMD_LOG_LEVEL] = { "log_level", CONF_MAIN | CONF_POOL, 0,
      1, 1, "log_level emerg|alert|error|warn|notice|info|debug;",
      conf_set_log_level },

    [CONF_CMD_POOL] = { "pool", CONF_MAIN, CONF_BLOCK | CONF_MULTI,
      1, 1, "pool NAME { ... }", conf_set_pool },

    [CONF_CMD_APP] = { "app", CONF_POOL, 0,
      1, 1, "app /path/to/app.so;", conf_set_app },

    [CONF_CMD_APP_PARAM] = { "app_param", CONF_POOL, CONF_MULTI,
      2, 2, "app_param NAME VALUE;", conf_set_app_param },

    [CONF_CMD_LISTEN] = { "listen", CONF_POOL, 0,
      1, 4, "listen unix:PATH [mode=0660] [owner=USER] [group=GROUP];",
      conf_set_listen },

    [CONF_CMD_WORKERS] = { "workers", CONF_POOL, 0,
      1, 1, "workers N|auto;", conf_set_workers },

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

    [CONF_CMD_BUSY_TARGET] = { "busy_target", CONF_POOL, 0,
      2, 2, "busy_target 50% 90%;", conf_set_busy_target },
};


int
drover_conf_load(const char *path, drover_conf_t **out, char *err,
    size_t errlen)
{
    int             rc;
    conf_file_t     f;
    conf_name_t    *name, *next;
    conf_parser_t  *p;

    *out = NULL;
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }

    memset(&f, 0, sizeof(f));

    /* the parser holds a token buffer: keep it off the stack */
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }

    p->err = err;
    p->errlen = errlen;
    p->euid = geteuid();
    p->egid = getegid();

    p->conf = calloc(1, sizeof(*p->conf));
    if (p->conf == NULL) {
        rc = -ENOMEM;
        goto cleanup;
    }

    p->conf->log_level = DROVER_LOG_NOTICE;
    p->conf->control_mode = 0600;
    p->conf->control_group = (gid_t) -1;
    p->conf->status_mode = 0660;
    p->conf->status_group = (gid_t) -1;
    p->conf->path = strdup(path);
    if (p->conf->path == NULL) {
        rc = -ENOMEM;
        goto cleanup;
    }

    rc = conf_file_open(p, &f, path, NULL, 0, 0);
    if (rc != 0) {
        goto cleanup;
    }

    p->main.file = f.name;
    p->main.line = 1;

    rc = conf_parse_block(p, &f, &p->main, 0);
    if (rc != 0) {
        goto cleanup;
    }

    if (p->conf->npools == 0) {
        rc = conf_error(p, f.name, 1, "no pool defined: add a "
                        "\"pool NAME { app ...; listen unix:...; }\" block "
                        "or include a file that has one");
        goto cleanup;
    }

    *out = p->conf;
    p->conf = NULL;

cleanup:

    conf_file_close(&f);
    drover_conf_free(p->conf);

    for (name = p->names; name != NULL; name = next) {
        next = name->next;
        free(name);
    }

    free(p);
    return rc;
}


void
drover_conf_free(drover_conf_t *conf)
{
    drover_pool_conf_t  *pool, *next;

    if (conf == NULL) {
        return;
    }

    for (pool = conf->pools; pool != NULL; pool = next) {
        next = pool->next;
        conf_pool_free(pool);
    }

    free(conf->path);
    free(conf->run_dir);
    free(conf->control);
    free(conf->status_socket);
    free(conf);
}


const char *
drover_conf_run_dir(const drover_conf_t *conf)
{
    const char  *dir;

    if (conf->run_dir != NULL) {
        return conf->run_dir;
    }

    /* RuntimeDirectory= with several entries gives "a:b": not one path */
    dir = getenv("RUNTIME_DIRECTORY");
    if (dir != NULL && dir[0] == '/' && strchr(dir, ':') == NULL) {
        return dir;
    }

    return CONF_RUN_DIR;
}


drover_pool_conf_t *
drover_conf_find_pool(const drover_conf_t *conf, const char *name)
{
    drover_pool_conf_t  *pool;

    for (pool = conf->pools; pool != NULL; pool = pool->next) {
        if (strcmp(pool->name, name) == 0) {
            return pool;
        }
    }

    return NULL;
}


int
drover_conf_slot_path(const drover_pool_conf_t *pool, unsigned slot,
    char *buf, size_t size)
{
    int  n;

    n = snprintf(buf, size, "%s.%u", pool->listen.path, slot);
    if (n < 0) {
        return -EINVAL;
    }

    if ((size_t) n >= size) {
        return -ENAMETOOLONG;
    }

    return 0;
}


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

    fputs("pool ", f);
    conf_dump_value(f, pool->name);
    fputs(" {\n    app ", f);
    conf_dump_value(f, pool->app);
    fputs(";\n", f);

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

    fprintf(f, ";\n    workers %u;\n    preload %s;\n", pool->workers,
            pool->preload ? "on" : "off");

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

    if (pool->log_level != -2) {
        fprintf(f, "    log_level %s;\n",
                drover_log_level_name(pool->log_level));
    }

    fputs("}\n", f);

    if (fflush(f) != 0 || ferror(f)) {
        return -EIO;
    }

    return 0;
}


static int
conf_error(conf_parser_t *p, const char *file, unsigned line,
    const char *fmt, ...)
{
    int      n;
    va_list  ap;

    if (p->err == NULL || p->errlen == 0) {
        return -EINVAL;
    }

    if (line > 0) {
        n = snprintf(p->err, p->errlen, "%s:%u: ", file, line);
    } else {
        n = snprintf(p->err, p->errlen, "%s: ", file);
    }

    if (n < 0 || (size_t) n >= p->errlen) {
        return -EINVAL;
    }

    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - n, fmt, ap);
    va_end(ap);

    /* tokens are quoted as written: a quoted one may hold a newline */
    drover_log_printable(p->err + n);

    return -EINVAL;
}


/*
 * Errors about the file itself point at the `include` that named it, or
 * carry no line for the main file.
 */
static int
conf_file_open(conf_parser_t *p, conf_file_t *f, const char *path,
    const char *from, unsigned from_line, unsigned depth)
{
    int          fd, rc;
    char        *copy, *slash, *nul;
    size_t       size;
    ssize_t      n;
    struct stat  st;

    memset(f, 0, sizeof(f[0]));
    f->line = 1;
    f->last_line = 1;
    f->depth = depth;
    fd = -1;
    copy = NULL;

    f->name = conf_remember(p, path);
    if (f->name == NULL) {
        rc = -ENOMEM;
        goto cleanup;
    }

    if (from == NULL) {
        from = path;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        rc = -errno;
        conf_error(p, from, from_line, "cannot open config file \"%s\": %s",
                   path, strerror(errno));
        goto cleanup;
    }

    if (fstat(fd, &st) == -1) {
        rc = -errno;
        conf_error(p, from, from_line, "cannot stat config file \"%s\": %s",
                   path, strerror(errno));
        goto cleanup;
    }

    if (S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
        conf_error(p, from, from_line, "config file \"%s\" is a directory: "
                   "name a file, or a glob such as \"%s/*.conf\"",
                   path, path);
        goto cleanup;
    }

    /* read one byte past the limit to tell "exactly 1 MiB" from "more" */
    f->buf = malloc(CONF_FILE_MAX + 1);
    if (f->buf == NULL) {
        rc = -ENOMEM;
        goto cleanup;
    }

    size = 0;
    while (size < CONF_FILE_MAX + 1) {
        n = read(fd, f->buf + size, CONF_FILE_MAX + 1 - size);
        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            rc = -errno;
            conf_error(p, from, from_line, "cannot read config file \"%s\": "
                       "%s", path, strerror(errno));
            goto cleanup;
        }
        if (n == 0) {
            break;
        }
        size += (size_t) n;
    }

    if (size > CONF_FILE_MAX) {
        rc = -EFBIG;
        conf_error(p, from, from_line, "config file \"%s\" is larger than "
                   "1 MiB: split it with \"include\"", path);
        goto cleanup;
    }

    f->len = size;

    nul = memchr(f->buf, '\0', size);
    if (nul != NULL) {
        unsigned  line = 1;
        char     *c;

        for (c = f->buf; c < nul; c++) {
            line += (*c == '\n');
        }

        rc = conf_error(p, f->name, line, "NUL byte in config file: "
                        "is this a text file?");
        goto cleanup;
    }

    /* relative paths inside the file resolve against its own directory */
    copy = strdup(path);
    if (copy == NULL) {
        rc = -ENOMEM;
        goto cleanup;
    }

    slash = strrchr(copy, '/');
    if (slash == NULL) {
        strcpy(copy, ".");
    } else if (slash == copy) {
        copy[1] = '\0';
    } else {
        *slash = '\0';
    }

    f->dir = realpath(copy, NULL);
    if (f->dir == NULL) {
        rc = -errno;
        conf_error(p, from, from_line, "cannot resolve the directory of "
                   "config file \"%s\": %s", path, strerror(errno));
        goto cleanup;
    }

    rc = 0;

cleanup:

    free(copy);

    if (fd != -1) {
        close(fd);
    }

    return rc;
}


static void
conf_file_close(conf_file_t *f)
{
    free(f->buf);
    free(f->dir);
    f->buf = NULL;
    f->dir = NULL;
}


static int
conf_is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
           || c == '\v';
}


/* ends a bare word, and must follow a closing quote */
static int
conf_is_separator(int c)
{
    return conf_is_space(c) || c == ';' || c == '{' || c == '}' || c == '#';
}


static int
conf_token_append(conf_parser_t *p, conf_file_t *f, char c)
{
    conf_token_t  *t = &p->tok;

    if (t->len == CONF_TOKEN_MAX) {
        return conf_error(p, f->name, t->line, "token longer than %d bytes: "
                          "shorten it", CONF_TOKEN_MAX);
    }

    t->text[t->len++] = c;
    return 0;
}


static int
conf_read_quoted(conf_parser_t *p, conf_file_t *f)
{
    int   rc;
    char  quote, c;

    quote = f->buf[f->pos++];
    p->tok.quoted = 1;

    for ( ;; ) {
        if (f->pos == f->len) {
            return conf_error(p, f->name, p->tok.line, "unterminated string:"
                              " add the closing %c", quote);
        }

        c = f->buf[f->pos++];

        if (c == quote) {
            break;
        }

        if (c == '\n') {
            f->line++;
        }

        /* only \", \' and \\ are escapes; any other \x stays as is */
        if (c == '\\' && f->pos < f->len
            && (f->buf[f->pos] == quote || f->buf[f->pos] == '\\'))
        {
            c = f->buf[f->pos++];
        }

        rc = conf_token_append(p, f, c);
        if (rc != 0) {
            return rc;
        }
    }

    if (f->pos < f->len && !conf_is_separator(f->buf[f->pos])) {
        return conf_error(p, f->name, f->line, "unexpected '%c' right after "
                          "a quoted string: add a space", f->buf[f->pos]);
    }

    return 0;
}


static int
conf_read_bare(conf_parser_t *p, conf_file_t *f)
{
    int   rc;
    char  c;

    while (f->pos < f->len) {
        c = f->buf[f->pos];

        if (conf_is_separator(c)) {
            break;
        }

        if (c == '"' || c == '\'') {
            p->tok.text[p->tok.len] = '\0';
            return conf_error(p, f->name, f->line, "unexpected quote inside "
                              "\"%s\": quote the whole value", p->tok.text);
        }

        rc = conf_token_append(p, f, c);
        if (rc != 0) {
            return rc;
        }

        f->pos++;
    }

    return 0;
}


static int
conf_next_token(conf_parser_t *p, conf_file_t *f)
{
    int            rc;
    char           c;
    conf_token_t  *t = &p->tok;

    t->len = 0;
    t->quoted = 0;
    t->text[0] = '\0';

    for ( ;; ) {
        if (f->pos == f->len) {
            t->type = CONF_TOK_EOF;
            t->line = f->line;
            return 0;
        }

        c = f->buf[f->pos];

        if (c == '\n') {
            f->line++;
            f->pos++;

        } else if (conf_is_space(c)) {
            f->pos++;

        } else if (c == '#') {
            while (f->pos < f->len && f->buf[f->pos] != '\n') {
                f->pos++;
            }

        } else {
            break;
        }
    }

    t->line = f->line;
    f->last_line = f->line;

    switch (c) {

    case ';':
        t->type = CONF_TOK_SEMICOLON;
        f->pos++;
        return 0;

    case '{':
        t->type = CONF_TOK_OPEN;
        f->pos++;
        return 0;

    case '}':
        t->type = CONF_TOK_CLOSE;
        f->pos++;
        return 0;

    case '"':
    case '\'':
        t->type = CONF_TOK_WORD;
        rc = conf_read_quoted(p, f);
        break;

    default:
        t->type = CONF_TOK_WORD;
        rc = conf_read_bare(p, f);
        break;
    }

    t->text[t->len] = '\0';
    return rc;
}


/*
 * The directives of one block: the whole main file, a pool's "{ ... }"
 * (braced), or an included file (not braced, ends at its end of file).
 */
static int
conf_parse_block(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    int braced)
{
    int               rc, cmd;
    conf_directive_t  d;

    for ( ;; ) {
        rc = conf_next_token(p, f);
        if (rc != 0) {
            return rc;
        }

        switch (p->tok.type) {

        case CONF_TOK_EOF:
            if (braced) {
                return conf_error(p, f->name, f->last_line, "unexpected end "
                                  "of file: pool \"%s\" opened at line %u has "
                                  "no closing \"}\"", b->pool->name, b->line);
            }
            return 0;

        case CONF_TOK_CLOSE:
            if (braced) {
                return 0;
            }
            return conf_error(p, f->name, p->tok.line, "unexpected \"}\": "
                              "no block is open here");

        case CONF_TOK_SEMICOLON:
            return conf_error(p, f->name, p->tok.line, "unexpected \";\": "
                              "a directive name is missing before it");

        case CONF_TOK_OPEN:
            return conf_error(p, f->name, p->tok.line, "unexpected \"{\": "
                              "a block needs a name, as in \"pool NAME {\"");

        case CONF_TOK_WORD:
            break;
        }

        cmd = conf_find_command(p->tok.text);
        if (cmd < 0) {
            return conf_error(p, f->name, p->tok.line, "unknown directive "
                              "\"%s\"", p->tok.text);
        }

        if (b->pool == NULL && !(conf_commands[cmd].ctx & CONF_MAIN)) {
            return conf_error(p, f->name, p->tok.line, "\"%s\" is not "
                              "allowed here: it belongs inside a "
                              "\"pool NAME { ... }\" block",
                              conf_commands[cmd].name);
        }

        if (b->pool != NULL && !(conf_commands[cmd].ctx & CONF_POOL)) {
            return conf_error(p, f->name, p->tok.line, "\"%s\" is not "
                              "allowed inside pool \"%s\": pools do not "
                              "nest, close it with \"}\" first",
                              conf_commands[cmd].name, b->pool->name);
        }

        memset(&d, 0, sizeof(d));
        d.cmd = cmd;
        d.line = p->tok.line;

        rc = conf_read_directive(p, f, b, &d);
        if (rc == 0) {
            rc = conf_commands[cmd].set(p, f, b, &d);
        }

        conf_directive_free(&d);

        if (rc != 0) {
            return rc;
        }
    }
}


/*
 * Reads the arguments up to ";" or "{" and checks their number.  A word on
 * a new line that names a directive of this block is taken as the start of
 * the next directive: the ";" before it is missing.
 */
static int
conf_read_directive(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    int                    rc, next;
    unsigned               last_line;
    const conf_command_t  *cmd = &conf_commands[d->cmd];

    last_line = d->line;

    for ( ;; ) {
        rc = conf_next_token(p, f);
        if (rc != 0) {
            return rc;
        }

        if (p->tok.type == CONF_TOK_SEMICOLON) {
            break;
        }

        if (p->tok.type == CONF_TOK_OPEN) {
            d->block = 1;
            break;
        }

        if (p->tok.type == CONF_TOK_CLOSE) {
            return conf_error(p, f->name, last_line, "missing \";\" after "
                              "\"%s\" (before the \"}\")", cmd->name);
        }

        if (p->tok.type == CONF_TOK_EOF) {
            return conf_error(p, f->name, last_line, "unexpected end of "
                              "file: missing \";\" after \"%s\"", cmd->name);
        }

        if (p->tok.line > last_line && !p->tok.quoted) {
            next = conf_find_command(p->tok.text);
            if (next >= 0 && (conf_commands[next].ctx
                              & (b->pool ? CONF_POOL : CONF_MAIN)))
            {
                return conf_error(p, f->name, last_line, "missing \";\" "
                                  "after \"%s\" (line %u starts with "
                                  "\"%s\")", cmd->name, p->tok.line,
                                  p->tok.text);
            }
        }

        if (d->nargs < CONF_MAX_ARGS) {
            d->args[d->nargs] = strdup(p->tok.text);
            if (d->args[d->nargs] == NULL) {
                return -ENOMEM;
            }
            d->arg_lines[d->nargs] = p->tok.line;
        }

        d->nargs++;
        last_line = f->line;        /* a quoted word may span lines */
    }

    if ((cmd->flags & CONF_BLOCK) && !d->block) {
        return conf_error(p, f->name, d->line, "\"%s\" needs a block: %s",
                          cmd->name, cmd->usage);
    }

    if (!(cmd->flags & CONF_BLOCK) && d->block) {
        return conf_error(p, f->name, d->line, "\"%s\" does not take a "
                          "block: end it with \";\" (%s)", cmd->name,
                          cmd->usage);
    }

    if (d->nargs < cmd->min_args || d->nargs > cmd->max_args) {
        return conf_error(p, f->name, d->line, "wrong number of arguments "
                          "for \"%s\": got %d, usage: %s", cmd->name,
                          d->nargs, cmd->usage);
    }

    if (!(cmd->flags & CONF_MULTI)) {
        conf_where_t  *seen = &b->seen[d->cmd];

        if (seen->line != 0) {
            return conf_error(p, f->name, d->line, "duplicate \"%s\", first "
                              "set at %s:%u: keep only one", cmd->name,
                              seen->file, seen->line);
        }

        seen->file = f->name;
        seen->line = d->line;
    }

    return 0;
}


static void
conf_directive_free(conf_directive_t *d)
{
    int  i;

    for (i = 0; i < d->nargs && i < CONF_MAX_ARGS; i++) {
        free(d->args[i]);
    }
}


static int
conf_find_command(const char *name)
{
    int  i;

    for (i = 0; i < CONF_NCMDS; i++) {
        if (strcmp(conf_commands[i].name, name) == 0) {
            return i;
        }
    }

    return -1;
}


/* a directory from the config may hold glob characters: match it literally */
static char *
conf_glob_escape(const char *s)
{
    char    *out, *o;

    out = malloc(strlen(s) * 2 + 1);
    if (out == NULL) {
        return NULL;
    }

    for (o = out; *s != '\0'; s++) {
        if (strchr("*?[]\\", *s) != NULL) {
            *o++ = '\\';
        }
        *o++ = *s;
    }

    *o = '\0';
    return out;
}


static int
conf_set_include(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    int          rc, grc, wild;
    char        *dir, *pattern;
    size_t       i;
    glob_t       g;
    conf_file_t  inc;
    const char  *arg = d->args[0];

    memset(&g, 0, sizeof(g));
    memset(&inc, 0, sizeof(inc));
    dir = NULL;
    pattern = NULL;
    grc = -1;

    if (arg[0] == '\0') {
        return conf_error(p, f->name, d->line, "\"include\" needs a file "
                          "name or glob, got \"\"");
    }

    if (f->depth >= DROVER_CONF_MAX_INCLUDE_DEPTH) {
        return conf_error(p, f->name, d->line, "includes nested more than "
                          "%d deep at \"%s\": is there an include loop?",
                          DROVER_CONF_MAX_INCLUDE_DEPTH, arg);
    }

    if (arg[0] == '/') {
        pattern = strdup(arg);
    } else {
        dir = conf_glob_escape(f->dir);
        pattern = (dir != NULL) ? conf_join(dir, arg) : NULL;
    }

    if (pattern == NULL) {
        rc = -ENOMEM;
        goto cleanup;
    }

    wild = (strpbrk(arg, "*?[") != NULL);

    grc = glob(pattern, 0, NULL, &g);

    if (grc == GLOB_NOMATCH) {
        if (wild) {
            rc = 0;      /* an empty conf.d is fine */
        } else {
            rc = conf_error(p, f->name, d->line, "included file \"%s\" does "
                            "not exist: fix the path or remove the include",
                            arg);
        }
        goto cleanup;
    }

    if (grc != 0) {
        rc = conf_error(p, f->name, d->line, "cannot expand include \"%s\": "
                        "%s", arg, grc == GLOB_NOSPACE ? "out of memory"
                                                      : "read error");
        goto cleanup;
    }

    /* glob() returns the names sorted */
    for (i = 0; i < g.gl_pathc; i++) {
        rc = conf_file_open(p, &inc, g.gl_pathv[i], f->name, d->line,
                            f->depth + 1);
        if (rc == 0) {
            rc = conf_parse_block(p, &inc, b, 0);
        }

        conf_file_close(&inc);

        if (rc != 0) {
            goto cleanup;
        }
    }

    rc = 0;

cleanup:

    if (grc == 0) {
        globfree(&g);
    }

    free(pattern);
    free(dir);
    return rc;
}


static int
conf_set_log_level(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    int  level;

    level = drover_log_level_parse(d->args[0]);
    if (level < DROVER_LOG_EMERG) {
        return conf_error(p, f->name, d->arg_lines[0], "\"log_level\" needs "
                          "one of emerg, alert, error, warn, notice, info, "
                          "debug, got \"%s\"", d->args[0]);
    }

    if (b->pool != NULL) {
        b->pool->log_level = level;
    } else {
        p->conf->log_level = level;
    }

    return 0;
}


static int
conf_set_pool(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    int                  rc;
    conf_block_t        *pb;
    drover_pool_conf_t  *pool, *other, **tail;
    const char          *name = d->args[0];

    (void) b;

    if (!conf_valid_name(name, DROVER_CONF_NAME_MAX)) {
        return conf_error(p, f->name, d->arg_lines[0], "bad pool name "
                          "\"%s\": use 1 to %d of A-Z a-z 0-9 _ . -",
                          name, DROVER_CONF_NAME_MAX);
    }

    other = drover_conf_find_pool(p->conf, name);
    if (other != NULL) {
        return conf_error(p, f->name, d->line, "duplicate pool \"%s\", first "
                          "defined at %s:%u: rename one of them", name,
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

    rc = conf_parse_block(p, f, pb, 1);
    if (rc == 0) {
        rc = conf_pool_finish(p, pb);
    }

cleanup:

    free(pb);
    return rc;
}


static int
conf_set_app(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    int          rc;
    char        *path, *real;
    struct stat  st;
    const char  *arg = d->args[0];
    unsigned     line = d->arg_lines[0];

    if (arg[0] == '\0') {
        return conf_error(p, f->name, line, "\"app\" needs the path of the "
                          "app's .so, got \"\"");
    }

    path = (arg[0] == '/') ? strdup(arg) : conf_join(f->dir, arg);
    if (path == NULL) {
        return -ENOMEM;
    }

    real = realpath(path, NULL);
    if (real == NULL) {
        rc = conf_error(p, f->name, line, "app \"%s\" (%s): %s: build the "
                        "app or fix the path", arg, path, strerror(errno));
        goto cleanup;
    }

    if (stat(real, &st) == -1) {
        rc = conf_error(p, f->name, line, "app \"%s\" (%s): %s", arg, real,
                        strerror(errno));
        goto cleanup;
    }

    if (!S_ISREG(st.st_mode)) {
        rc = conf_error(p, f->name, line, "app \"%s\" (%s) is not a regular "
                        "file: name the app's .so", arg, real);
        goto cleanup;
    }

    if (access(real, R_OK) == -1) {
        rc = conf_error(p, f->name, line, "app \"%s\" (%s) is not readable "
                        "by droverd: %s: fix its permissions", arg, real,
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
conf_set_app_param(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    size_t               i;
    drover_app_param_t  *params;
    drover_pool_conf_t  *pool = b->pool;

    if (!conf_valid_name(d->args[0], CONF_TOKEN_MAX)) {
        return conf_error(p, f->name, d->arg_lines[0], "bad app_param name "
                          "\"%s\": use A-Z a-z 0-9 _ . -", d->args[0]);
    }

    for (i = 0; i < pool->nparams; i++) {
        if (strcmp(pool->params[i].name, d->args[0]) == 0) {
            return conf_error(p, f->name, d->line, "duplicate app_param "
                              "\"%s\" in pool \"%s\": keep only one",
                              d->args[0], pool->name);
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
conf_listen_option(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    const char *opt, unsigned line, unsigned *seen)
{
    int                    rc;
    unsigned long          mode;
    drover_listen_conf_t  *ls = &b->pool->listen;
    const char            *v = strchr(opt, '=');
    size_t                 klen = v ? (size_t) (v - opt) : strlen(opt);
    unsigned               bit;

    if (v != NULL && klen == 4 && strncmp(opt, "mode", 4) == 0) {
        bit = 1;
    } else if (v != NULL && klen == 5 && strncmp(opt, "owner", 5) == 0) {
        bit = 2;
    } else if (v != NULL && klen == 5 && strncmp(opt, "group", 5) == 0) {
        bit = 4;
    } else {
        return conf_error(p, f->name, line, "unknown listen option \"%s\": "
                          "use mode=0660, owner=USER or group=GROUP", opt);
    }

    if (*seen & bit) {
        return conf_error(p, f->name, line, "duplicate listen option "
                          "\"%.*s\": keep only one", (int) klen, opt);
    }

    *seen |= bit;
    v++;

    if (bit == 1) {
        rc = conf_parse_uint(v, 8, 0777, &mode);
        if (rc != 0) {
            return conf_error(p, f->name, line, "listen \"mode\" needs an "
                              "octal mode from 0 to 0777, got \"%s\"", v);
        }
        ls->mode = (mode_t) mode;
        return 0;
    }

    if (bit == 2) {
        if (conf_resolve_uid(v, &ls->owner, NULL) != 0) {
            return conf_error(p, f->name, line, "listen \"owner\": unknown "
                              "user \"%s\": create it or use another",
                              v);
        }
        return 0;
    }

    if (conf_resolve_gid(v, &ls->group) != 0) {
        return conf_error(p, f->name, line, "listen \"group\": unknown group"
                          " \"%s\": create it or use another", v);
    }

    return 0;
}


static int
conf_set_listen(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    int                    i, rc;
    char                  *path;
    unsigned               seen;
    drover_pool_conf_t    *other;
    drover_listen_conf_t  *ls = &b->pool->listen;
    const char            *arg = d->args[0];

    if (strncmp(arg, "unix:", 5) != 0) {
        return conf_error(p, f->name, d->arg_lines[0], "\"listen %s\": only "
                          "unix: sockets are supported: use "
                          "\"listen unix:/run/drover/NAME.sock;\"", arg);
    }

    if (arg[5] == '\0') {
        return conf_error(p, f->name, d->arg_lines[0], "\"listen unix:\" "
                          "needs a socket path, as in "
                          "unix:/run/drover/NAME.sock");
    }

    /* not realpath(): the socket does not exist yet */
    path = (arg[5] == '/') ? strdup(arg + 5) : conf_join(f->dir, arg + 5);
    if (path == NULL) {
        return -ENOMEM;
    }

    for (other = p->conf->pools; other != NULL; other = other->next) {
        if (other != b->pool && other->listen.path != NULL
            && strcmp(other->listen.path, path) == 0)
        {
            rc = conf_error(p, f->name, d->arg_lines[0], "socket \"%s\" is "
                            "already used by pool \"%s\" at %s:%u: give each"
                            " pool its own socket", path, other->name,
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
conf_set_workers(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    unsigned long  n;

    if (strcmp(d->args[0], "auto") == 0) {
        b->pool->workers_auto = 1;
        return 0;
    }

    if (conf_parse_uint(d->args[0], 10, DROVER_CONF_MAX_WORKERS, &n) != 0
        || n == 0)
    {
        return conf_error(p, f->name, d->arg_lines[0], "\"workers\" needs a "
                          "number from 1 to %d or \"auto\", got \"%s\"",
                          DROVER_CONF_MAX_WORKERS, d->args[0]);
    }

    b->pool->workers = (unsigned) n;
    b->pool->workers_auto = 0;
    return 0;
}


static int
conf_set_preload(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    if (strcmp(d->args[0], "on") == 0) {
        b->pool->preload = 1;
    } else if (strcmp(d->args[0], "off") == 0) {
        b->pool->preload = 0;
    } else {
        return conf_error(p, f->name, d->arg_lines[0], "\"preload\" needs "
                          "\"on\" or \"off\", got \"%s\"", d->args[0]);
    }

    return 0;
}


static int
conf_set_user(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    drover_pool_conf_t  *pool = b->pool;

    if (conf_resolve_uid(d->args[0], &pool->uid, &b->user_gid) != 0) {
        return conf_error(p, f->name, d->arg_lines[0], "unknown user \"%s\":"
                          " create it or use another", d->args[0]);
    }

    pool->user = strdup(d->args[0]);
    if (pool->user == NULL) {
        return -ENOMEM;
    }

    return 0;
}


static int
conf_set_group(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    drover_pool_conf_t  *pool = b->pool;

    if (conf_resolve_gid(d->args[0], &pool->gid) != 0) {
        return conf_error(p, f->name, d->arg_lines[0], "unknown group "
                          "\"%s\": create it or use another", d->args[0]);
    }

    pool->group = strdup(d->args[0]);
    if (pool->group == NULL) {
        return -ENOMEM;
    }

    return 0;
}


/* a pool duration in ms at the command's offset: io_timeout and the like */
static int
conf_set_ms(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    unsigned               ms;
    const conf_command_t  *cmd = &conf_commands[d->cmd];

    if (conf_parse_duration(d->args[0], &ms) != 0) {
        return conf_error(p, f->name, d->arg_lines[0], "\"%s\" needs"
                          " a duration from 1ms to 24h such as 30s, 500ms, "
                          "2m or 1h, got \"%s\"", cmd->name, d->args[0]);
    }

    *(unsigned *) ((char *) b->pool + cmd->offset) = ms;
    return 0;
}


static int
conf_set_run_dir(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    char  *path;

    (void) b;

    path = (d->args[0][0] == '/') ? strdup(d->args[0])
                                  : conf_join(f->dir, d->args[0]);
    if (path == NULL) {
        return -ENOMEM;
    }

    if (strlen(path) > 200) {
        free(path);
        return conf_error(p, f->name, d->arg_lines[0], "\"run_dir\" is too "
                          "long: use a path of at most 200 bytes");
    }

    free(p->conf->run_dir);
    p->conf->run_dir = path;
    return 0;
}


static int
conf_set_memory_budget(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    unsigned long long  bytes;

    if (conf_parse_size(d->args[0], &bytes) != 0 || bytes == 0) {
        return conf_error(p, f->name, d->arg_lines[0], "\"memory_budget\" "
                          "needs a size such as 512M or 4G, got \"%s\"",
                          d->args[0]);
    }

    if (b != NULL && b->pool != NULL) {
        b->pool->memory_budget = bytes;
    } else {
        p->conf->memory_budget = bytes;
    }

    return 0;
}


static int
conf_set_prestart(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    size_t                   i;
    drover_pool_conf_t      *pool = b->pool;
    drover_prestart_conf_t  *ps, *cmd;

    if (pool->nprestart == CONF_PRESTART_MAX) {
        return conf_error(p, f->name, d->line, "too many \"prestart\" "
                          "commands in pool \"%s\" (at most %d): put them in "
                          "one script", pool->name, CONF_PRESTART_MAX);
    }

    if (d->args[0][0] != '/') {
        return conf_error(p, f->name, d->arg_lines[0], "\"prestart\" needs "
                          "an absolute command path, got \"%s\": prestart "
                          "runs without a shell and without PATH",
                          d->args[0]);
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
conf_set_request_timeout(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    unsigned  ms;

    if (strcmp(d->args[0], "off") == 0) {
        b->pool->request_timeout_ms = 0;
        return 0;
    }

    if (conf_parse_duration(d->args[0], &ms) != 0) {
        return conf_error(p, f->name, d->arg_lines[0], "\"request_timeout\" "
                          "needs \"off\" or a duration from 1ms to 24h such "
                          "as 30s, got \"%s\"", d->args[0]);
    }

    b->pool->request_timeout_ms = ms;
    return 0;
}


static int
conf_set_memory_limit(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    int                  hard;
    unsigned long long   bytes;

    hard = (d->cmd == CONF_CMD_MEMORY_LIMIT_HARD);

    if (strcmp(d->args[0], "off") == 0) {
        bytes = 0;

    } else if (conf_parse_size(d->args[0], &bytes) != 0 || bytes == 0) {
        return conf_error(p, f->name, d->arg_lines[0], "\"%s\" needs \"off\""
                          " or a size such as 512M or 2G, got \"%s\"",
                          conf_commands[d->cmd].name, d->args[0]);
    }

    if (hard) {
        b->pool->memory_limit_hard = bytes;
    } else {
        b->pool->memory_limit = bytes;
    }

    return 0;
}


static int
conf_set_max_requests(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    unsigned long  n, jitter;

    if (conf_parse_uint(d->args[0], 10, 1000000000UL, &n) != 0) {
        return conf_error(p, f->name, d->arg_lines[0], "\"max_requests\" "
                          "needs a number from 0 (off) to 1000000000, got "
                          "\"%s\"", d->args[0]);
    }

    jitter = 0;

    if (d->nargs == 2
        && (conf_parse_uint(d->args[1], 10, 1000000000UL, &jitter) != 0
            || (n != 0 && jitter >= n)))
    {
        return conf_error(p, f->name, d->arg_lines[1], "\"max_requests\" "
                          "jitter must be a number below max_requests (%lu),"
                          " got \"%s\"", n, d->args[1]);
    }

    b->pool->max_requests = (unsigned) n;
    b->pool->max_requests_jitter = (unsigned) jitter;
    return 0;
}


static int
conf_set_restart_limit(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    unsigned       ms;
    unsigned long  n;

    if (conf_parse_uint(d->args[0], 10, 100000UL, &n) != 0 || n == 0) {
        return conf_error(p, f->name, d->arg_lines[0], "\"restart_limit\" "
                          "needs a number of restarts from 1 to 100000, got "
                          "\"%s\"", d->args[0]);
    }

    if (strcmp(d->args[1], "per") != 0) {
        return conf_error(p, f->name, d->arg_lines[1], "\"restart_limit\" "
                          "reads \"restart_limit N per TIME;\", got \"%s\" "
                          "instead of \"per\"", d->args[1]);
    }

    if (conf_parse_duration(d->args[2], &ms) != 0) {
        return conf_error(p, f->name, d->arg_lines[2], "\"restart_limit\" "
                          "needs a period such as 60s or 5m, got \"%s\"",
                          d->args[2]);
    }

    b->pool->restart_limit = (unsigned) n;
    b->pool->restart_period_ms = ms;
    return 0;
}


static int
conf_set_control(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
{
    int             i;
    char           *path, **target;
    gid_t           gid, *target_gid;
    mode_t         *target_mode;
    unsigned long   mode;
    const char     *arg = d->args[0];
    const char     *name = conf_commands[d->cmd].name;

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
        return conf_error(p, f->name, d->arg_lines[0], "\"%s\" needs "
                          "unix:PATH, as in \"%s unix:/run/drover/"
                          "droverd.ctl;\", got \"%s\"", name, name, arg);
    }

    for (i = 1; i < d->nargs; i++) {
        const char  *opt = d->args[i];

        if (strncmp(opt, "mode=", 5) == 0) {
            if (conf_parse_uint(opt + 5, 8, 0777, &mode) != 0) {
                return conf_error(p, f->name, d->arg_lines[i], "\"%s\" "
                                  "mode needs an octal mode such as 0660, "
                                  "got \"%s\"", name, opt + 5);
            }
            *target_mode = (mode_t) mode;

        } else if (strncmp(opt, "group=", 6) == 0) {
            if (conf_resolve_gid(opt + 6, &gid) != 0) {
                return conf_error(p, f->name, d->arg_lines[i], "\"%s\" "
                                  "group: no group \"%s\"", name, opt + 6);
            }
            *target_gid = gid;

        } else {
            return conf_error(p, f->name, d->arg_lines[i], "unknown "
                              "\"%s\" option \"%s\": use mode= or "
                              "group=", name, opt);
        }
    }

    path = (arg[5] == '/') ? strdup(arg + 5) : conf_join(f->dir, arg + 5);
    if (path == NULL) {
        return -ENOMEM;
    }

    if (strlen(path) >= sizeof(((struct sockaddr_un *) 0)->sun_path)) {
        free(path);
        return conf_error(p, f->name, d->arg_lines[0], "\"%s\" socket "
                          "path is too long (at most %zu bytes)", name,
                          sizeof(((struct sockaddr_un *) 0)->sun_path) - 1);
    }

    free(*target);
    *target = path;
    return 0;
}


static int
conf_set_busy_target(conf_parser_t *p, conf_file_t *f, conf_block_t *b,
    conf_directive_t *d)
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
            goto bad;
        }

        memcpy(num, d->args[i], n);
        num[n] = '\0';

        if (conf_parse_uint(num, 10, 100, &v[i]) != 0) {
            goto bad;
        }
    }

    if (v[0] >= v[1]) {
        goto bad;
    }

    b->pool->busy_low = (unsigned) v[0];
    b->pool->busy_high = (unsigned) v[1];
    return 0;

bad:

    return conf_error(p, f->name, d->line, "\"busy_target\" needs two "
                      "percentages, low then high, such as \"busy_target "
                      "50%% 90%%;\"");
}


/*
 * At the pool's "}": the required directives, the defaults that depend on
 * other directives, and the checks that span several of them.
 */
static int
conf_pool_finish(conf_parser_t *p, conf_block_t *b)
{
    int                  rc;
    long                 ncpu;
    char                 slot[sizeof(((struct sockaddr_un *) 0)->sun_path)];
    drover_pool_conf_t  *pool = b->pool;

    if (pool->app == NULL) {
        return conf_error(p, pool->file, pool->line, "pool \"%s\" has no "
                          "\"app\": add \"app /path/to/app.so;\"",
                          pool->name);
    }

    if (pool->listen.path == NULL) {
        return conf_error(p, pool->file, pool->line, "pool \"%s\" has no "
                          "\"listen\": add \"listen unix:/run/drover/%s.sock;"
                          "\"", pool->name, pool->name);
    }

    if (pool->workers_auto) {
        ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        if (ncpu < 1) {
            ncpu = 1;
        }
        if (ncpu > DROVER_CONF_MAX_WORKERS) {
            ncpu = DROVER_CONF_MAX_WORKERS;
        }
        pool->workers = (unsigned) ncpu;
    }

    /* the longest slot socket name is the last slot's */
    rc = drover_conf_slot_path(pool, pool->workers - 1, slot, sizeof(slot));
    if (rc != 0) {
        return conf_error(p, pool->listen.file, pool->listen.line, "socket "
                          "path \"%s\" is too long: with %u workers, slot "
                          "socket \"%s.%u\" must fit in %zu bytes (including"
                          " the final NUL): use a shorter path",
                          pool->listen.path, pool->workers, pool->listen.path,
                          pool->workers - 1, sizeof(slot));
    }

    rc = conf_pool_check_sockets(p, pool);
    if (rc != 0) {
        return rc;
    }

    return conf_pool_check_user(p, b);
}


/* 1 when path is pool's shared socket or one of its slot sockets */
static int
conf_socket_of(const drover_pool_conf_t *pool, const char *path)
{
    char           *end;
    size_t          len;
    unsigned long   k;

    len = strlen(pool->listen.path);

    if (strncmp(path, pool->listen.path, len) != 0) {
        return 0;
    }

    if (path[len] == '\0') {
        return 1;
    }

    if (path[len] != '.' || path[len + 1] < '0' || path[len + 1] > '9') {
        return 0;
    }

    errno = 0;
    k = strtoul(path + len + 1, &end, 10);

    return errno == 0 && *end == '\0' && k < pool->workers
           && (k == 0 || path[len + 1] != '0');
}


/*
 * Slot sockets are "<listen>.<k>": one pool's socket must not be another
 * pool's slot socket (x.sock with 2 workers owns x.sock.0 and x.sock.1).
 */
static int
conf_pool_check_sockets(conf_parser_t *p, drover_pool_conf_t *pool)
{
    drover_pool_conf_t  *other;

    for (other = p->conf->pools; other != NULL; other = other->next) {
        if (other == pool || other->listen.path == NULL) {
            continue;
        }

        if (conf_socket_of(other, pool->listen.path)
            || conf_socket_of(pool, other->listen.path))
        {
            return conf_error(p, pool->listen.file, pool->listen.line,
                              "socket \"%s\" of pool \"%s\" clashes with "
                              "the sockets of pool \"%s\" (%s and its slot "
                              "sockets %s.0 .. %s.%u, declared at %s:%u): "
                              "give each pool its own socket path",
                              pool->listen.path, pool->name, other->name,
                              other->listen.path, other->listen.path,
                              other->listen.path, other->workers - 1,
                              other->listen.file, other->listen.line);
        }
    }

    return 0;
}


/*
 * Group root is root too: gid 0 opens every file that is root's by group
 * (/etc/shadow on some systems, root's 0660 sockets).  php-fpm refuses it
 * as well.  The primary group, then the supplementary groups that
 * drover_proc_drop_privileges() gives the user (initgroups()).
 */
static int
conf_pool_check_group(conf_parser_t *p, conf_block_t *b)
{
    int                  i, n;
    gid_t                groups[256], *list;
    conf_where_t        *user = &b->seen[CONF_CMD_USER];
    conf_where_t        *group = &b->seen[CONF_CMD_GROUP];
    struct passwd       *pw;
    drover_pool_conf_t  *pool = b->pool;

    if (pool->gid == 0) {
        if (pool->group != NULL) {
            return conf_error(p, group->file, group->line, "pool \"%s\" "
                              "would run with group root (\"group %s\"): "
                              "use an unprivileged group", pool->name,
                              pool->group);
        }

        return conf_error(p, user->file, user->line, "pool \"%s\" would run"
                          " with group root (the primary group of user "
                          "\"%s\"): set \"group\" to an unprivileged group",
                          pool->name, pool->user);
    }

    /* a uid without a passwd entry gets no supplementary groups at all */
    pw = getpwuid(pool->uid);
    if (pw == NULL) {
        return 0;
    }

    n = (int) (sizeof(groups) / sizeof(groups[0]));
    list = groups;

    if (getgrouplist(pw->pw_name, pool->gid, list, &n) == -1) {
        list = malloc((size_t) n * sizeof(gid_t));
        if (list == NULL) {
            return -ENOMEM;
        }

        if (getgrouplist(pw->pw_name, pool->gid, list, &n) == -1) {
            free(list);
            return conf_error(p, user->file, user->line, "pool \"%s\": "
                              "cannot list the groups of user \"%s\": "
                              "check /etc/group", pool->name, pw->pw_name);
        }
    }

    for (i = 0; i < n && list[i] != 0; i++) {
        /* void */
    }

    if (list != groups) {
        free(list);
    }

    if (i < n) {
        return conf_error(p, user->file, user->line, "pool \"%s\" would run"
                          " with group root: user \"%s\" is a member of "
                          "group root (gid 0) in the group database; remove "
                          "it from that group or use another user",
                          pool->name, pw->pw_name);
    }

    return 0;
}


/*
 * "No pool as root" (DESIGN.md, shared hosting): as root every pool names
 * an unprivileged user, and no group root; not as root, droverd cannot
 * switch to another one.
 */
static int
conf_pool_check_user(conf_parser_t *p, conf_block_t *b)
{
    conf_where_t        *user = &b->seen[CONF_CMD_USER];
    conf_where_t        *group = &b->seen[CONF_CMD_GROUP];
    drover_pool_conf_t  *pool = b->pool;

    if (p->euid == 0) {
        if (pool->user == NULL) {
            return conf_error(p, pool->file, pool->line, "pool \"%s\" would "
                              "run as root: set \"user\" to an unprivileged "
                              "user", pool->name);
        }

        if (pool->uid == 0) {
            return conf_error(p, user->file, user->line, "pool \"%s\" would "
                              "run as root (\"user %s\"): use an unprivileged"
                              " user", pool->name, pool->user);
        }

        if (pool->group == NULL) {
            if (b->user_gid == (gid_t) -1) {
                return conf_error(p, user->file, user->line, "user \"%s\" "
                                  "has no passwd entry, so no primary group:"
                                  " set \"group\"", pool->user);
            }
            pool->gid = b->user_gid;
        }

        return conf_pool_check_group(p, b);
    }

    if (pool->user != NULL && pool->uid != p->euid) {
        return conf_error(p, user->file, user->line, "pool \"%s\": droverd "
                          "is not running as root, so it cannot switch to "
                          "user \"%s\": remove \"user\" or start droverd as "
                          "root", pool->name, pool->user);
    }

    if (pool->group != NULL && pool->gid != p->egid) {
        return conf_error(p, group->file, group->line, "pool \"%s\": droverd"
                          " is not running as root, so it cannot switch to "
                          "group \"%s\": remove \"group\" or start droverd "
                          "as root", pool->name, pool->group);
    }

    /* our own user, named without a group: there is no group to switch to */
    if (pool->user != NULL && pool->group == NULL) {
        pool->gid = p->egid;
    }

    return 0;
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


static char *
conf_join(const char *dir, const char *path)
{
    char    *out;
    size_t   dlen, plen;

    dlen = strlen(dir);
    plen = strlen(path);

    out = malloc(dlen + plen + 2);
    if (out == NULL) {
        return NULL;
    }

    memcpy(out, dir, dlen);
    if (dlen == 0 || dir[dlen - 1] != '/') {
        out[dlen++] = '/';
    }
    memcpy(out + dlen, path, plen + 1);

    return out;
}


static const char *
conf_remember(conf_parser_t *p, const char *name)
{
    size_t        len;
    conf_name_t  *n;

    len = strlen(name);
    n = malloc(sizeof(*n) + len + 1);
    if (n == NULL) {
        return NULL;
    }

    memcpy(n->name, name, len + 1);
    n->next = p->names;
    p->names = n;

    return n->name;
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


static void
conf_pool_free(drover_pool_conf_t *pool)
{
    size_t  i;

    for (i = 0; i < pool->nparams; i++) {
        free(pool->params[i].name);
        free(pool->params[i].value);
    }

    free(pool->params);

    for (i = 0; i < pool->nprestart; i++) {
        size_t  k;

        for (k = 0; k < pool->prestart[i].argc; k++) {
            free(pool->prestart[i].argv[k]);
        }

        free(pool->prestart[i].argv);
        free(pool->prestart[i].file);
    }

    free(pool->prestart);
    free(pool->name);
    free(pool->app);
    free(pool->listen.path);
    free(pool->listen.file);
    free(pool->user);
    free(pool->group);
    free(pool->file);
    free(pool);
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
