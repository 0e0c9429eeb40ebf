/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * conf.h -- droverd's configuration, in the nginx-like grammar of DESIGN.md.
 */

#ifndef DROVER_CONF_H
#define DROVER_CONF_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define DROVER_CONF_MAX_WORKERS       256
#define DROVER_CONF_MAX_INCLUDE_DEPTH 8
#define DROVER_CONF_NAME_MAX          64
#define DROVER_CONF_MAX_ACL           16     /* listen acl= users */
#define DROVER_CONF_MAX_PEERS         32     /* allow_peers users */
#define DROVER_CONF_MAX_NETS          32     /* allow_peers networks */


typedef struct {
    char     *name;
    char     *value;
} drover_app_param_t;


typedef struct {
    char     *path;            /* the shared socket path, without "unix:" */
    mode_t    mode;            /* default 0660 */
    uid_t     owner;           /* (uid_t) -1: leave as created */
    gid_t     group;           /* (gid_t) -1: leave as created */
    uid_t     acl[DROVER_CONF_MAX_ACL];   /* acl=USER: user:USER:rw- */
    size_t    nacl;
    char     *file;            /* where it was declared, for messages */
    unsigned  line;
} drover_listen_conf_t;


/* `listen tcp:ADDR:PORT`: the shared port, slot k on PORT + 1 + k */
typedef struct {
    char     *addr;            /* as given: "0.0.0.0", "10.1.2.3", "::" */
    unsigned  port;            /* 0: no TCP listener */
    char     *file;
    unsigned  line;
} drover_tcp_listen_conf_t;


/* one `allow_peers` network: ADDR[/BITS], IPv4 or IPv6 (peers.c) */
typedef struct {
    int            family;     /* AF_INET or AF_INET6 */
    unsigned char  addr[16];   /* network byte order, host bits cleared */
    unsigned       bits;
} drover_net_t;


/* one `prestart CMD ARG...;` */
typedef struct {
    char     **argv;           /* NULL-terminated */
    size_t     argc;
    char      *file;
    unsigned   line;
} drover_prestart_conf_t;


/* one `env NAME [VALUE];`, see env.h */
typedef struct {
    char     *name;
    char     *value;           /* NULL: droverd's own value, if it has one */
} drover_env_conf_t;


/* `python MODULE:ATTR;` and its directives (python_conf.c, docs/python.md) */
enum {
    DROVER_PY_AUTO = 0,        /* interface, lifespan: the default */
    DROVER_PY_ASGI,            /* interface */
    DROVER_PY_WSGI,
    DROVER_PY_ON,              /* lifespan */
    DROVER_PY_OFF
};

typedef struct {
    char      *app;            /* "MODULE:ATTR"; NULL: not a python pool */
    char     **path;           /* `python_path`, in order */
    size_t     npath;
    char      *venv;           /* NULL: none */
    int        interface;      /* DROVER_PY_AUTO, _ASGI, _WSGI */
    int        lifespan;       /* DROVER_PY_AUTO, _ON, _OFF */
    char      *root_path;      /* NULL: "" */
    char      *preload;        /* `python_preload MODULE:FUNC`, or NULL */
    unsigned   line;           /* of `python`, for messages */
} drover_python_conf_t;


/* `rlimit_* unlimited` */
#define DROVER_CONF_RLIM_INFINITY  (~0ULL)


typedef struct drover_pool_conf_s  drover_pool_conf_t;

struct drover_pool_conf_s {
    char                  *name;
    char                  *app;            /* absolute path of the .so */
    char                 **exec_argv;      /* `exec PROGRAM [ARG...]`, NULL-
                                              terminated; NULL: an `app` */
    size_t                 exec_argc;
    drover_python_conf_t   python;         /* python.app NULL: not python */
    drover_app_param_t    *params;
    size_t                 nparams;
    drover_listen_conf_t   listen;
    drover_tcp_listen_conf_t  tcp;         /* `listen tcp:` (socket.h) */
    unsigned               workers;        /* resolved: "auto" = cores */
    unsigned               workers_auto;   /* 1 when given as "auto" */
    unsigned               ondemand;       /* `workers ondemand MAX`: up to
                                              `workers`, none while idle */
    unsigned               idle_ms;        /* ... stopped after this long
                                              without a request (10s) */
    int                    preload;        /* 1 (default) or 0 */
    char                  *user;           /* NULL: droverd's own user */
    char                  *group;          /* NULL: the user's group */
    uid_t                  uid;            /* resolved, (uid_t) -1 if none */
    gid_t                  gid;            /* resolved, (gid_t) -1 if none */
    int                    log_level;      /* DROVER_LOG_*, -2: global */
    unsigned               io_timeout_ms;  /* `io_timeout`, default 60s:
                                              a front end stalled mid-record
                                              or not reading the response */

    /* supervision */
    drover_prestart_conf_t *prestart;      /* in order */
    size_t                 nprestart;
    unsigned               prestart_timeout_ms;   /* default 5m */
    unsigned               request_timeout_ms;    /* 0: off (default) */
    unsigned long long     memory_limit;          /* bytes of USS, 0: off */
    unsigned long long     memory_limit_hard;     /* bytes of USS, 0: off */
    unsigned long long     memory_budget;         /* bytes, 0: none */
    unsigned               max_requests;          /* 0: off */
    unsigned               max_requests_jitter;
    unsigned               restart_limit;         /* default 10 ... */
    unsigned               restart_period_ms;     /* ... per 60s */
    unsigned               stop_timeout_ms;       /* default 10s */
    unsigned               busy_low;              /* % busy: advice band, */
    unsigned               busy_high;             /* default 50 .. 90 */

    /* peers.c: who may connect (SO_PEERCRED), checked per connection */
    uid_t                  allow_peers[DROVER_CONF_MAX_PEERS];  /* given */
    size_t                 nallow_peers;          /* 0: the default */
    uid_t                  peer_uids[DROVER_CONF_MAX_PEERS
                                     + DROVER_CONF_MAX_ACL + 3];
    size_t                 npeer_uids;            /* resolved at "}" */
    gid_t                  peer_gid;              /* or a member of it;
                                                     (gid_t) -1: none */
    drover_net_t           allow_nets[DROVER_CONF_MAX_NETS];  /* TCP */
    size_t                 nallow_nets;           /* 0: loopback only */

    /* the pool's processes (proc.c, env.c) */
    drover_env_conf_t     *env;            /* `env`, in order */
    size_t                 nenv;
    char                  *working_dir;    /* NULL: "/" */
    mode_t                 umask;          /* default 0027 */
    unsigned long long     rlimit_files;   /* 0: droverd's own */
    unsigned long long     rlimit_core;    /* default 0: no core files */
    unsigned long long     rlimit_nproc;   /* 0: droverd's own */
    int                    no_new_privs;   /* default 1 */
    int                    cpu_scheduling; /* SCHED_BATCH (default),
                                              SCHED_OTHER or SCHED_IDLE */
    char                  *file;           /* where `pool` was declared */
    unsigned               line;
    drover_pool_conf_t    *next;
};


typedef struct {
    char                  *path;           /* the main file, as given */
    int                    log_level;      /* DROVER_LOG_*, default NOTICE */
    char                  *run_dir;        /* `run_dir`, default /run/drover:
                                              lock files */
    unsigned long long     memory_budget;  /* all pools, bytes, 0: none */
    char                  *control;        /* `control unix:PATH`, NULL:
                                              RUN_DIR/droverd.ctl */
    mode_t                 control_mode;   /* default 0600 */
    gid_t                  control_group;  /* (gid_t) -1: droverd's */
    char                  *status_socket;  /* `status_socket unix:PATH`:
                                              read-only, NULL: none */
    mode_t                 status_mode;    /* default 0660 */
    gid_t                  status_group;
    char                  *status_tcp_addr;  /* `status_listen tcp:`: the
                                              network slots endpoint
                                              (netslots.c), NULL: none */
    unsigned               status_tcp_port;
    drover_net_t           status_nets[DROVER_CONF_MAX_NETS];  /* allow= */
    size_t                 nstatus_nets;     /* 0: loopback only */
    unsigned               process_max;    /* workers of all pools, 0: no
                                              cap (ondemand.c) */
    uid_t                  min_uid;        /* `min_uid`, default 1000 */
    drover_pool_conf_t    *pools;          /* in declaration order */
    size_t                 npools;
} drover_conf_t;


/*
 * Parse and check FILE.  On success returns 0 and *out; on failure returns a
 * negative errno-style code and writes one "FILE:LINE: message" line (no
 * trailing newline) into err.  Checks everything that can be checked without
 * running app code; the app's ABI symbol is checked by drover_app_check().
 */
int drover_conf_load(const char *path, drover_conf_t **out, char *err,
    size_t errlen);

/*
 * As drover_conf_load(), but of the files PATH includes only POOL_FILE is
 * read (`droverd -t POOL_FILE`, `droverctl reload POOL`): the main
 * settings come from PATH itself; POOL_FILE must be one of its includes.
 */
int drover_conf_load_pool_file(const char *path, const char *pool_file,
    drover_conf_t **out, char *err, size_t errlen);

void drover_conf_free(drover_conf_t *conf);

/*
 * Write POOL as config text ("pool NAME { ... }", plus a log_level line)
 * that drover_conf_load() reads back into an equal pool.  The manager hands
 * this to the preloader and workers it execs, so they run exactly the
 * configuration the manager checked, whatever happened on disk since.
 */
int drover_conf_dump_pool(const drover_conf_t *conf,
    const drover_pool_conf_t *pool, FILE *f);

/*
 * Where lock files and the default control socket live: `run_dir`, else
 * systemd's $RUNTIME_DIRECTORY (a tenant's /run/drover/NAME), else
 * /run/drover.
 */
const char *drover_conf_run_dir(const drover_conf_t *conf);

/* `cpu_scheduling`'s name of a policy (SCHED_BATCH -> "batch") */
const char *drover_conf_cpu_scheduling_name(int policy);

/* the pool named NAME, or NULL */
drover_pool_conf_t *drover_conf_find_pool(const drover_conf_t *conf,
    const char *name);

/* the socket path of worker slot k: "<listen path>.<k>" */
int drover_conf_slot_path(const drover_pool_conf_t *pool, unsigned slot,
    char *buf, size_t size);

#endif /* DROVER_CONF_H */
