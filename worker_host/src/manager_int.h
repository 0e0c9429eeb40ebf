/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * manager_int.h -- droverd's manager, private to its files: the manager,
 * pool, generation and slot structs and the functions the files share.
 */

#ifndef DROVER_MANAGER_INT_H
#define DROVER_MANAGER_INT_H

#include "manager.h"
#include "control.h"
#include "notify.h"
#include "output.h"
#include "pidcheck.h"
#include "prestart.h"
#include "scoreboard.h"
#include "socket.h"

#include <sys/types.h>

#include <uv.h>
#include <json-c/json.h>


#define DROVER_EARLY_EXITS     64
#define DROVER_SAMPLES         61      /* a minute of one-second samples */


typedef struct drover_manager_s  drover_manager_t;
typedef struct drover_pool_s     drover_pool_t;
typedef struct drover_gen_s      drover_gen_t;
typedef struct drover_slot_s     drover_slot_t;
typedef struct drover_netslots_s drover_netslots_t;  /* netslots.h */
typedef struct drover_od_s       drover_od_t;         /* ondemand.h */
typedef struct drover_od_watch_s drover_od_watch_t;


/* why a worker ended: the first three are its own doing, the rest ours */
enum {
    EXIT_CODE = 0,       /* exited by itself */
    EXIT_SIGNAL,         /* killed by a signal we did not send */
    EXIT_CORE,           /* ... and dumped core */
    EXIT_TIMEOUT,        /* request_timeout */
    EXIT_MEMORY,         /* memory_limit: recycled after its request */
    EXIT_MEMORY_HARD,    /* memory_limit_hard: killed */
    EXIT_MAX_REQUESTS,   /* max_requests: recycled */
    EXIT_RELOAD,         /* replaced by a new generation */
    EXIT_STOP,           /* droverd stops, or the slot went away */
    EXIT_IDLE,           /* workers ondemand: no request for `idle` */
    EXIT_NREASONS
};

extern const char  *const drover_exit_reason_names[EXIT_NREASONS];

/*
 * The lifecycles (lifecycle.c).  Each changes only through its
 * drover_*_set_state() (_set_scale, _set_health), which checks the
 * transition against a table (an illegal one is logged at [alert] and
 * refused) and logs it.
 */

/* a slot's worker */
typedef enum {
    SLOT_EMPTY = 0,      /* no worker */
    SLOT_BACKOFF,        /* no worker; its restart waits on restart_timer */
    SLOT_FORKING,        /* asked the preloader, no pid yet */
    SLOT_RUNNING,
    SLOT_STOPPING,       /* sent SIGTERM or SIGKILL */
    SLOT_NSTATES
} drover_slot_state_t;

/* a slot beside its worker: droverctl scale or a reload took it away */
typedef enum {
    SLOT_KEPT = 0,       /* within the pool's worker count */
    SLOT_LEAVING,        /* scaled away: its worker stops, then it goes */
    SLOT_LEFT,           /* scaled away, no worker: drover_pool_maybe_free
                            frees it */
    SLOT_NSCALES
} drover_slot_scale_t;

/* a generation's preloader (preload on) */
typedef enum {
    GEN_NONE = 0,        /* no preloader runs (yet, or any more) */
    GEN_LOADING,         /* started: the app's init runs in it */
    GEN_READY,           /* said READY: it forks workers */
    GEN_NSTATES
} drover_gen_state_t;

/* a pool: which generation serves and whether another one is coming */
typedef enum {
    POOL_STARTING = 0,   /* its first generation: prestart, preloader */
    POOL_START_FAILED,   /* ... whose preloader died: retried with backoff */
    POOL_SERVING,        /* p->cur serves, nothing pending */
    POOL_LOADING,        /* a new generation (p->pending): prestart,
                            preloader */
    POOL_CANARY,         /* slot 0 runs it and must live DROVER_CANARY_MS */
    POOL_ROLLING,        /* the other slots follow, one at a time */
    POOL_STOPPED,        /* droverctl stop: no worker, no preloader, its
                            sockets kept; p->cur holds its configuration
                            for droverctl start (pool_ops.c) */
    POOL_REMOVING,       /* gone from the configuration: workers stop */
    POOL_GONE,           /* out of the manager's list, handles closing */
    POOL_NSTATES
} drover_pool_state_t;

/* restart_limit, beside the above: a failing pool still reloads */
typedef enum {
    POOL_HEALTHY = 0,
    POOL_FAILING,        /* workers retried every DROVER_FAILING_RETRY_MS */
    POOL_NHEALTH
} drover_pool_health_t;

typedef enum {
    MANAGER_STARTING = 0,  /* READY=1 not sent yet */
    MANAGER_SERVING,
    MANAGER_STOPPING,
    MANAGER_NSTATES
} drover_manager_state_t;


/* the manager's end of a preloader's channel; freed in its close callback */
typedef struct {
    uv_poll_t              poll;
    int                    fd;
    drover_gen_t          *gen;
} drover_chan_t;


/* a loaded configuration, shared by the generations made from it */
typedef struct {
    drover_conf_t         *conf;
    unsigned               refs;
} drover_confref_t;


struct drover_gen_s {
    drover_pool_t         *pool;
    drover_gen_t          *next;          /* in pool->gens */
    drover_confref_t      *ref;
    drover_pool_conf_t    *conf;
    unsigned               id;
    unsigned               slots;         /* workers of this generation */
    int                    conf_fd;       /* memfd handed to children */

    pid_t                  pid;           /* its preloader */
    int                    pidfd;         /* of the preloader, or -1 */
    drover_chan_t         *chan;
    drover_gen_state_t     state;         /* of its preloader */
    int                    misbehaved;    /* killed for what it sent */
    int                    reaped;        /* its exit is being handled */
    int                    failed;        /* its preloader could not start */
    int                    retired;       /* no new workers from it */
    int                    keep_slots;    /* a restart: the slot count
                                             stays (droverctl scale) */
    unsigned long long     started_ms;
    unsigned               quick_deaths;
    uv_timer_t             timer;         /* preloader restart */
    int                    od_idle_stop;  /* ondemand.c stopped it: idle */
};


struct drover_slot_s {
    drover_pool_t         *pool;
    unsigned               index;
    drover_socket_t        sock;
    drover_gen_t          *gen;           /* of its worker, or NULL */
    pid_t                  pid;
    int                    pidfd;         /* of the worker: every signal
                                             goes through it; or -1 */
    drover_slot_state_t    state;
    int                    stop_reason;   /* EXIT_*, -1: none */
    drover_slot_scale_t    scale;
    unsigned long long     started_ms;
    unsigned               quick_deaths;
    unsigned long long     restarts;
    unsigned long long     exits[EXIT_NREASONS];
    char                   last_exit[160];
    unsigned long long     rss, pss, uss; /* bytes, last sample */

    /* one-second samples of the worker: CPU ticks, busy time, requests */
    struct {
        unsigned long long  t_ms;
        unsigned long long  cpu_ticks;
        unsigned long long  busy_us;
        unsigned long long  requests;
    }                      ring[DROVER_SAMPLES];
    unsigned               ring_n;
    unsigned               ring_pos;
    drover_sb_slot_t       sb;            /* its last scoreboard copy */
    unsigned long long     sb_clamped;    /* fields drover_sb_sanitize
                                             corrected, all its workers */
    unsigned long long     requests_done; /* by its earlier workers */
    unsigned long          exec_conn;     /* exec pools: the inode of the
                                             connection its program serves
                                             (exec.c), 0: idle */
    unsigned long long     exec_wchar;    /* ... the bytes it had written
                                             when last seen idle, ~0ULL:
                                             not seen idle since */
    int                    exec_answer_fd; /* ... a copy of the connection
                                              of a request it was killed in,
                                              for its 504; or -1 */
    uv_timer_t             restart_timer;

    /* workers ondemand (ondemand.c) */
    drover_od_watch_t     *od_watch;      /* polls its socket, or NULL */
    int                    od_wanted;     /* a connection waits: start */
    int                    od_throttled;  /* its start waits for the
                                             throttle (logged once) */
    unsigned long long     od_active_ms;  /* its worker's last request */
    unsigned long long     od_seen;       /* its requests + CPU ticks then */
};


struct drover_pool_s {
    drover_manager_t      *mgr;
    char                  *name;
    drover_pool_t         *next;
    drover_pool_state_t    state;
    drover_pool_health_t   health;

    drover_socket_t        shared;
    int                    handoff[2];    /* a socketpair: the workers send
                                             connections on 0, a free one
                                             takes them on 1 (handoff.h) */
    drover_slot_t        **slots;         /* DROVER_CONF_MAX_WORKERS */
    unsigned               nslots;

    drover_gen_t          *cur;           /* new workers start from it */
    drover_gen_t          *prev;          /* being replaced (rollout) */
    drover_gen_t          *pending;       /* prestart or preloader */
    drover_gen_t          *gens;          /* every one not yet freed */
    unsigned               next_gen;

    drover_prestart_t     *prestart;

    unsigned long long     roll_started_ms;
    uv_timer_t             roll_timer;

    /* restart_limit: crashes in the current window */
    unsigned long long     window_start_ms;
    unsigned               window_crashes;
    unsigned long long     workers_started; /* READY counts the pool */
    int                    budget_wait;   /* workers auto under a memory
                                             budget: slot 0 runs alone
                                             until it has been measured */
    unsigned               start_failures;  /* ... or once this one:
                                               the first generation's
                                               preloader died */

    unsigned long long     slots_sig;     /* of what the .slots file says */
    int                    sb_fd;         /* the scoreboard's memfd */
    drover_sb_t           *sb;
    drover_output_t       *output;        /* its processes' fds 1 and 2 */
    drover_prestart_result_t  prestart_last;
    int                    prestart_ran;
    drover_od_watch_t     *od_watch;      /* the shared socket's (ondemand) */
    unsigned long long     od_empty_ms;   /* its last worker stopped */
};


struct drover_manager_s {
    uv_loop_t              loop;
    drover_confref_t      *ref;           /* the newest configuration */
    const char            *path;
    drover_pool_t         *pools;
    pid_t                  pid;
    drover_manager_state_t state;
    int                    exit_code;
    int                    reload_pending;
    uv_signal_t            sigchld;
    uv_signal_t            sigterm;
    uv_signal_t            sigint;
    uv_signal_t            sigquit;
    uv_signal_t            sighup;
    uv_timer_t             stop_timer;
    uv_timer_t             defer_timer;
    int                    stop_quick;
    uv_timer_t             sample_timer;
    drover_notify_t        notify;
    drover_control_t      *control;
    drover_control_t      *status;        /* read-only, for nginx */
    drover_netslots_t     *netslots;      /* status_listen tcp: */
    uv_prepare_t           slots_prepare;
    unsigned long long     started_ms;
    drover_od_t           *od;            /* process_max, start throttle,
                                             idle timer (ondemand.c) */

    /*
     * Workers reaped before their FORKED message named them, oldest first,
     * with the ids they ran as ((uid_t) -1: unknown, never matched).
     */
    struct {
        pid_t              pid;
        int                status;
        uid_t              uid;
        gid_t              gid;
    }                      early[DROVER_EARLY_EXITS];
    unsigned               nearly;
};


/* manager.c */
drover_pool_conf_t *drover_pool_conf(drover_pool_t *p);
drover_pool_t *drover_manager_pool(drover_manager_t *m, const char *name);

/* memory.c */
unsigned drover_budget_workers(unsigned long long budget,
    unsigned long long shared, unsigned long long each, unsigned cores);
int drover_memory_read(pid_t pid, unsigned long long *rss,
    unsigned long long *pss, unsigned long long *uss);
void drover_slot_read_sb(drover_slot_t *s);

/* manager.c */
unsigned drover_backoff_ms(unsigned n);
void drover_confref_put(drover_confref_t *ref);
void drover_defer_stop_cb(uv_timer_t *t);
void drover_manager_maybe_ready(drover_manager_t *m);
void drover_manager_maybe_done(drover_manager_t *m);

/* pool.c */
void drover_listen_owner(const drover_pool_conf_t *pc, uid_t *uid, gid_t *gid);
int drover_slot_listen(drover_slot_t *s, const drover_pool_conf_t *pc);
int drover_pool_tcp_listen(drover_pool_t *p, drover_slot_t *s,
    const drover_pool_conf_t *pc);
void drover_pool_listen_update(drover_pool_t *p, const drover_pool_conf_t *pc);
void drover_pool_maybe_free(drover_pool_t *p);
drover_pool_t *drover_pool_create(drover_manager_t *m, drover_confref_t *ref,
    drover_pool_conf_t *pc);
void drover_pool_announce(drover_pool_t *p);
int drover_pool_resize(drover_pool_t *p, drover_pool_conf_t *pc, unsigned n);

/* slot.c */
const char *drover_slot_start_blocker(const drover_slot_t *s);
unsigned drover_slot_restart_delay(unsigned quick_deaths, int failing);
int drover_child_pidfd(pid_t pid);
drover_slot_t *drover_slot_create(drover_pool_t *p, unsigned index);
void drover_slot_destroy(drover_slot_t *s);
drover_slot_t *drover_slot_by_pid(drover_manager_t *m, pid_t pid);
void drover_slot_start(drover_slot_t *s);
void drover_slot_forked(drover_slot_t *s, pid_t pid, int pidfd);
void drover_slot_forked_exited(drover_slot_t *s, pid_t pid, int status);
void drover_slot_stop(drover_slot_t *s, int reason, int sig);
void drover_slot_exited(drover_slot_t *s, int status);

/* generation.c */
void drover_chan_close_cb(uv_handle_t *h);
void drover_gen_destroy(drover_gen_t *g);
void drover_gen_free_cb(uv_handle_t *h);
drover_gen_t *drover_gen_create(drover_pool_t *p, drover_confref_t *ref,
    drover_pool_conf_t *pc);
void drover_gen_maybe_free(drover_gen_t *g);
void drover_gen_retire(drover_gen_t *g);
const char *drover_manager_pid_role(drover_manager_t *m, pid_t pid);
int drover_manager_take_early(drover_manager_t *m, pid_t pid,
    const drover_pidcheck_want_t *want, int *status);
void drover_manager_add_early(drover_manager_t *m, pid_t pid, int status,
    uid_t uid, gid_t gid);
void drover_gen_preloader_start(drover_gen_t *g);
void drover_gen_preloader_exited(drover_gen_t *g, int status);

/* rollout.c */
typedef enum {
    ROLL_WAIT = 0,       /* a replacement forks or an old worker stops */
    ROLL_CANARY_RUNS,    /* slot 0 runs the new generation: time it */
    ROLL_STOP,           /* stop slot *k's old worker */
    ROLL_START,          /* start a worker in the empty slot *k */
    ROLL_DONE            /* every slot runs the new generation */
} drover_roll_step_t;

drover_roll_step_t drover_roll_next(const drover_pool_t *p, unsigned from,
    unsigned *k);
int drover_pool_canary_died(const drover_pool_t *p, const drover_slot_t *s,
    const drover_gen_t *g, unsigned long long lived);
void drover_pool_begin_gen(drover_pool_t *p, drover_gen_t *g);
void drover_pool_gen_failed(drover_pool_t *p, drover_gen_t *g,
    const char *why);
void drover_pool_roll(drover_pool_t *p);
void drover_pool_gen_ready(drover_pool_t *p, drover_gen_t *g);
void drover_manager_reload(drover_manager_t *m);

/* pool_ops.c: droverctl reload|stop|start POOL (drover_control_ops_t) */
int drover_pool_op_reload(void *data, const char *name, char *err,
    size_t errlen);
int drover_pool_op_stop(void *data, const char *name, char *err,
    size_t errlen);
int drover_pool_op_start(void *data, const char *name, char *err,
    size_t errlen);
void drover_pool_stopped_update(drover_pool_t *p, drover_confref_t *ref,
    drover_pool_conf_t *pc);
void drover_pool_start_prestart_failed(drover_pool_t *p, drover_gen_t *g,
    const char *why);

/* slotsfile.c */
void drover_pool_unlink_slots(drover_pool_t *p);

/*
 * The .slots text of p into buf (docs/fastcgi.md); net 1: the network
 * slots answer (netslots.c), "drover-netslots 1", the shared TCP port and
 * each slot's.  Its length (less than size).
 */
size_t drover_slots_render(drover_pool_t *p, char *buf, size_t size,
    int net);
void drover_slots_prepare_cb(uv_prepare_t *h);

/* memory.c */
unsigned drover_budget_workers(unsigned long long budget,
    unsigned long long shared, unsigned long long each, unsigned cores);
void drover_sample_timer_cb(uv_timer_t *t);

/* lifecycle.c */
const char *drover_slot_state_name(drover_slot_state_t state);
const char *drover_pool_state_name(drover_pool_state_t state);
const char *drover_pool_health_name(drover_pool_health_t health);
const char *drover_manager_state_name(drover_manager_state_t state);
int drover_slot_state_next_ok(drover_slot_state_t from,
    drover_slot_state_t to);
int drover_pool_state_next_ok(drover_pool_state_t from,
    drover_pool_state_t to);
int drover_manager_state_next_ok(drover_manager_state_t from,
    drover_manager_state_t to);
int drover_slot_set_state(drover_slot_t *s, drover_slot_state_t to,
    const char *why);
const char *drover_slot_scale_name(drover_slot_scale_t scale);
const char *drover_gen_state_name(drover_gen_state_t state);
int drover_gen_state_next_ok(drover_gen_state_t from, drover_gen_state_t to);
int drover_gen_set_state(drover_gen_t *g, drover_gen_state_t to,
    const char *why);
int drover_slot_scale_next_ok(drover_slot_scale_t from,
    drover_slot_scale_t to);
int drover_slot_set_scale(drover_slot_t *s, drover_slot_scale_t to,
    const char *why);
int drover_pool_set_state(drover_pool_t *p, drover_pool_state_t to,
    const char *why);
int drover_pool_set_health(drover_pool_t *p, drover_pool_health_t to,
    const char *why);
int drover_manager_set_state(drover_manager_t *m, drover_manager_state_t to,
    const char *why);

/* the slot has a worker process, or is about to (asked the preloader) */
static inline int
drover_slot_has_worker(const drover_slot_t *s)
{
    return s->state == SLOT_FORKING || s->state == SLOT_RUNNING
           || s->state == SLOT_STOPPING;
}

/* a new generation replaces the serving one, slot by slot */
static inline int
drover_pool_rolling(const drover_pool_t *p)
{
    return p->state == POOL_CANARY || p->state == POOL_ROLLING;
}

/* gone from the configuration: no new worker, freed when all have exited */
static inline int
drover_pool_removing(const drover_pool_t *p)
{
    return p->state == POOL_REMOVING || p->state == POOL_GONE;
}

/*
 * What a pool is, as the status object and the .slots file say it:
 * "stopped" (droverctl stop), "failing" (past restart_limit, or its
 * first generation's preloader died), "starting" (no generation served yet), "reloading", "serving".
 */
static inline const char *
drover_pool_public_state(const drover_pool_t *p)
{
    return p->state == POOL_STOPPED ? "stopped"
           : (p->health == POOL_FAILING || p->state == POOL_START_FAILED)
           ? "failing"
           : p->cur == NULL ? "starting"
           : (drover_pool_rolling(p) || p->pending != NULL) ? "reloading"
           : "serving";
}

static inline int
drover_manager_stopping(const drover_manager_t *m)
{
    return m->state == MANAGER_STOPPING;
}

/* status.c */
json_object *drover_status_build(void *data, const char *pool, char *err,
    size_t errlen);

#endif /* DROVER_MANAGER_INT_H */
