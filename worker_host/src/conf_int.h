/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * conf_int.h -- private to conf*.c: the parser's types, the directive table
 * and the functions the conf files share.
 */

#ifndef DROVER_CONF_INT_H
#define DROVER_CONF_INT_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "conf.h"
#include "log.h"

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
#define CONF_IDLE_MS         10000u      /* workers ondemand N idle=10s */
#define CONF_UMASK           0027
#define CONF_MIN_UID         1000

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
    CONF_CMD_EXEC,
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
    CONF_CMD_PROCESS_MAX,
    CONF_CMD_ENV,
    CONF_CMD_WORKING_DIR,
    CONF_CMD_UMASK,
    CONF_CMD_RLIMIT_FILES,
    CONF_CMD_RLIMIT_CORE,
    CONF_CMD_RLIMIT_NPROC,
    CONF_CMD_NO_NEW_PRIVS,
    CONF_CMD_CPU_SCHEDULING,
    CONF_CMD_MIN_UID,
    CONF_CMD_ALLOW_PEERS,
    CONF_CMD_PYTHON,
    CONF_CMD_PYTHON_PATH,
    CONF_CMD_VENV,
    CONF_CMD_INTERFACE,
    CONF_CMD_LIFESPAN,
    CONF_CMD_ROOT_PATH,
    CONF_CMD_PYTHON_PRELOAD,
    CONF_CMD_STATUS_LISTEN,
    CONF_NCMDS
};


typedef enum {
    CONF_TOK_WORD,
    CONF_TOK_SEMICOLON,
    CONF_TOK_OPEN,
    CONF_TOK_CLOSE,
    CONF_TOK_EOF
} drover__conf_tok_type_t;


typedef struct drover__conf_name_s  drover__conf_name_t;

/* file names, kept until the load ends so messages can point at them */
struct drover__conf_name_s {
    drover__conf_name_t  *next;
    char                  name[];
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
} drover__conf_file_t;


typedef struct {
    drover__conf_tok_type_t  type;
    unsigned                 line;
    int                      quoted;
    size_t                   len;
    char                     text[CONF_TOKEN_MAX + 1];
} drover__conf_token_t;


typedef struct {
    const char   *file;
    unsigned      line;        /* 0: not seen yet */
} drover__conf_where_t;


typedef struct {
    drover_pool_conf_t    *pool;       /* NULL: main level */
    const char            *file;       /* where the block was opened */
    unsigned               line;
    gid_t                  user_gid;   /* the primary group of `user` */
    drover__conf_where_t   seen[CONF_NCMDS];
} drover__conf_block_t;


typedef struct {
    int          cmd;
    unsigned     line;                     /* of the name */
    int          nargs;                    /* may exceed CONF_MAX_ARGS */
    int          block;                    /* ended by "{" */
    char        *args[CONF_MAX_ARGS];
    unsigned     arg_lines[CONF_MAX_ARGS];
} drover__conf_directive_t;


typedef struct {
    drover_conf_t         *conf;
    char                  *err;
    size_t                 errlen;
    drover__conf_name_t   *names;
    drover__conf_token_t   tok;
    uid_t                  euid;
    gid_t                  egid;
    drover__conf_block_t   main;
    char                  *only;       /* realpath of the one included
                                          file read (droverd -t FILE) */
    int                    only_seen;
} drover__conf_parser_t;


typedef int (*drover__conf_set_pt)(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d);


typedef struct {
    const char           *name;
    unsigned              ctx;
    unsigned              flags;
    int                   min_args;
    int                   max_args;
    const char           *usage;
    drover__conf_set_pt   set;
    size_t                offset;      /* of the field, for the stock setters */
} drover__conf_command_t;



int drover__conf_error(drover__conf_parser_t *p, const char *file,
    unsigned line, const char *fmt, ...) DROVER_PRINTF(4, 5);
int drover__conf_parse_block(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, int braced);
int drover__conf_find_command(const char *name);
int drover__conf_set_include(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
int drover__conf_pool_finish(drover__conf_parser_t *p, drover__conf_block_t *b);
char *drover__conf_join(const char *dir, const char *path);
int drover__conf_parse_uint(const char *s, int base, unsigned long max,
    unsigned long *out);
int drover__conf_parse_size(const char *s, unsigned long long *bytes);
int drover__conf_dump_value(FILE *f, const char *s);

/* exec.c: `exec PROGRAM [ARG...];` */
int drover__conf_set_exec(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
int drover__conf_exec_finish(drover__conf_parser_t *p,
    drover__conf_block_t *b);

/* conf_proc.c: the directives of a pool's processes (privileges, env) */
int drover__conf_set_env(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
int drover__conf_set_working_dir(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d);
int drover__conf_set_umask(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
int drover__conf_set_cpu_scheduling(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d);
int drover__conf_set_rlimit(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
int drover__conf_set_no_new_privs(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d);
int drover__conf_set_min_uid(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
int drover__conf_pool_check_proc(drover__conf_parser_t *p,
    drover__conf_block_t *b);
void drover__conf_pool_free_proc(drover_pool_conf_t *pool);
int drover__conf_dump_proc(const drover_pool_conf_t *pool, FILE *f);


/* peers.c: allow_peers, listen acl=, who may connect */
int drover__conf_set_allow_peers(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d);
int drover__conf_listen_acl(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover_pool_conf_t *pool, const char *users, unsigned line);
int drover__conf_parse_nets(drover__conf_parser_t *p, const char *file,
    unsigned line, const char *list, const char *what, drover_net_t *nets,
    size_t *n);

/* conf_tcp.c: listen tcp:, status_listen */
int drover__conf_listen_tcp(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
int drover__conf_set_status_listen(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d);
int drover__conf_tcp_check(drover__conf_parser_t *p,
    drover_pool_conf_t *pool);
void drover__conf_tcp_dump(const drover_pool_conf_t *pool, FILE *f);
int drover__conf_peers_finish(drover__conf_parser_t *p,
    drover__conf_block_t *b);

/* python_conf.c: a python pool's directives (`python MODULE:ATTR;` ...) */
int drover__conf_set_python(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
int drover__conf_python_finish(drover__conf_parser_t *p,
    drover__conf_block_t *b);
void drover__conf_pool_free_python(drover_pool_conf_t *pool);
int drover__conf_dump_python(const drover_pool_conf_t *pool, FILE *f);

extern const drover__conf_command_t  drover__conf_commands[CONF_NCMDS];

#endif /* DROVER_CONF_INT_H */
