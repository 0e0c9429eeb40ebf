/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */

/* mod_drover: Apache httpd's front end for droverd. The types and the
 * functions the module's files share; each file holds one concern. */

#ifndef MOD_DROVER_H
#define MOD_DROVER_H

#include "httpd.h"
#include "http_config.h"
#include "ap_expr.h"
#include "apr_network_io.h"
#include "apr_shm.h"
#include "apr_tables.h"

#define DROVER_MAX_SLOTS      256
#define DROVER_SLOTS_MAX_SIZE (16 * 1024)     /* protocols.md: at most 16 KiB */
#define DROVER_BODY_PREFIX    (64 * 1024)     /* a body up to this is replayable */
#define DROVER_HEADER_MAX     (64 * 1024)     /* the app's CGI header block */
#define DROVER_STDERR_MAX     (64 * 1024)     /* logged per request */
#define DROVER_POLL_STEP      apr_time_from_msec(2)
#define DROVER_SLOTS_CHECK    apr_time_from_sec(1)
#define DROVER_DEPTH          8               /* requests on a slot, at most */
#define DROVER_UNREAD_REPLAYS 8               /* replays using no try, at most */
#define DROVER_KEEP_IDLE      8               /* idle connections per slot */
#define DROVER_RECLAIM_STEP   apr_time_from_msec(100)

/* the pool's state, as the PATH.slots "state" line says it */
typedef enum {
    DROVER_STATE_UNKNOWN = 0,
    DROVER_STATE_STARTING,
    DROVER_STATE_SERVING,
    DROVER_STATE_RELOADING,
    DROVER_STATE_FAILING,
    DROVER_STATE_STOPPED
} drover_state_e;

/* ---- configuration (mod_drover.c) ---- */

typedef struct {
    const char      *name;
    const char      *value;
    ap_expr_info_t  *expr;      /* VALUE with %{...}, NULL: a literal */
} drover_param_t;

typedef struct {
    const char          *path;           /* PATH of "unix:PATH", NULL unset */
    int                  pool;           /* index in the pool table */
    apr_array_header_t  *params;         /* drover_param_t, NULL unset */
    int                  queue_size;     /* -1 unset */
    apr_interval_time_t  queue_timeout;  /* -1 unset */
    apr_interval_time_t  connect_timeout;
    apr_interval_time_t  send_timeout;
    apr_interval_time_t  read_timeout;
    int                  retries;
    int                  pipeline;         /* 0 off, N behind; -1 unset */
    apr_interval_time_t  pipeline_timeout; /* -1 unset */
    const char          *status_path;      /* DroverStatus: droverd's socket */
} drover_dir_conf_t;

extern module AP_MODULE_DECLARE_DATA drover_module;

/* ---- the shared slot table (mod_drover_slots.c) ---- */

/* A slot as every Apache child and thread sees it, in shared memory. */
typedef struct {
    apr_uint32_t  up;         /* the .slots file says "up" */
    apr_uint32_t  busy;       /* requests of ours on it (> 1: pipelined) */
    apr_uint32_t  failed;     /* its last request failed: used last */
    apr_int32_t   owner[DROVER_DEPTH];  /* pid of each request's child */
    apr_time_t    head;       /* when its running request began (monotonic) */
    apr_uint64_t  freed;      /* the pool's counter when it was freed */
} drover_slot_t;

typedef struct {
    apr_uint32_t   active;        /* a .slots file is in use (else plain) */
    apr_uint32_t   state;         /* drover_state_e */
    apr_uint32_t   exec;          /* "kind exec" */
    apr_uint32_t   nslots;
    apr_uint32_t   ondemand;
    apr_uint32_t   queued;        /* requests waiting now, all children */
    apr_uint32_t   open_failed;   /* the file could not be opened: logged */
    apr_uint64_t   generation;
    apr_time_t     checked;       /* last look at the file */
    apr_time_t     mtime;         /* of the file last read */
    apr_off_t      size;
    apr_uint64_t   inode;
    apr_uint64_t   freed_seq;     /* counts frees: the most recent wins */
    apr_time_t     reclaimed;     /* last look for dead holders (monotonic) */
    apr_uint64_t   requests, overflows, timeouts, replays, failures;
    apr_uint64_t   pipelined, moved;
    drover_slot_t  slot[DROVER_MAX_SLOTS];
} drover_pool_shm_t;

/* what a dispatch decision says */
typedef enum {
    DROVER_PICK_SLOT,      /* *slot is ours */
    DROVER_PICK_PLAIN,     /* no .slots file: the shared socket PATH */
    DROVER_PICK_FULL,      /* 503: the queue is full */
    DROVER_PICK_TIMEOUT,   /* 503: nothing free within the deadline */
    DROVER_PICK_FAILING    /* 503 at once: failing or stopped, none up */
} drover_pick_e;

/* a request's place on a slot */
typedef struct {
    int  slot;
    int  ticket;      /* its index in the slot's owner[] */
    int  behind;      /* sent behind a running request (pipelined) */
    int  exec;        /* "kind exec": one request per connection */
} drover_claim_t;

apr_status_t drover_slots_pre_config(apr_pool_t *pconf);
int drover_slots_register(apr_pool_t *p, const char *path);
apr_status_t drover_slots_post_config(apr_pool_t *pconf, server_rec *s);
void drover_slots_child_init(apr_pool_t *p, server_rec *s);
drover_pick_e drover_slots_acquire(request_rec *r, const drover_dir_conf_t *dc,
                                   int avoid, int limit, drover_claim_t *cl);
void drover_slots_release(const drover_dir_conf_t *dc,
                          const drover_claim_t *cl, int failed);
int drover_slots_move_begin(const drover_dir_conf_t *dc, int limit,
                            const drover_claim_t *old, drover_claim_t *cl);
void drover_slots_move_end(const drover_dir_conf_t *dc,
                           const drover_claim_t *from,
                           const drover_claim_t *to, int moved);
apr_time_t drover_slots_now(void);
void drover_slots_count(const drover_dir_conf_t *dc, int replay, int failure);
const char *drover_slots_path(int pool);
int drover_slots_pools(void);
void drover_slots_snapshot(int pool, drover_pool_shm_t *out);

/* ---- kept-alive connections to slots, per child (mod_drover_conns.c) ---- */

void drover_conns_child_init(apr_pool_t *p);
int drover_conns_get(int pool, int slot);
void drover_conns_put(int pool, int slot, int fd);

/* ---- given-up requests' connections (mod_drover_drain.c) ---- */

void drover_drain_child_init(apr_pool_t *p, server_rec *s);

/* ---- the drover-status handler (mod_drover_status.c) ---- */

int drover_status_handler(request_rec *r);

/* ---- FastCGI records (mod_drover_fcgi.c) ---- */

#define DROVER_FCGI_BEGIN_REQUEST  1
#define DROVER_FCGI_ABORT_REQUEST  2
#define DROVER_FCGI_END_REQUEST    3
#define DROVER_FCGI_PARAMS         4
#define DROVER_FCGI_STDIN          5
#define DROVER_FCGI_STDOUT         6
#define DROVER_FCGI_STDERR         7
#define DROVER_FCGI_HEADER_LEN     8
#define DROVER_FCGI_REQUEST_ID     1
#define DROVER_FCGI_OVERLOADED     2

/* the response stream's records, parsed byte by byte across reads */
typedef struct {
    unsigned char  hdr[DROVER_FCGI_HEADER_LEN];
    apr_size_t     hdr_len;
    int            type;
    apr_size_t     content_left;
    apr_size_t     padding_left;
    unsigned char  end[8];
    apr_size_t     end_len;
    int            stdout_closed;
    int            ended;          /* END_REQUEST read whole */
    int            protocol_status;
} drover_fcgi_reader_t;

/* what the reader hands out: STDOUT or STDERR bytes */
typedef apr_status_t (*drover_fcgi_data_pt)(void *ctx, int type,
                                            const char *data, apr_size_t len);

void drover_fcgi_header(unsigned char *dst, int type, apr_size_t len);
char *drover_fcgi_begin(apr_pool_t *p, int keep_conn, apr_size_t *len);
char *drover_fcgi_params(apr_pool_t *p, const apr_table_t *params,
                         apr_size_t *len);
apr_status_t drover_fcgi_read(drover_fcgi_reader_t *rd, const char *buf,
                              apr_size_t len, drover_fcgi_data_pt data,
                              void *ctx, const char **why);

/* a given-up request's connection, watched until its worker is done with
 * it; 0 when taken, -1: the caller closes fd and frees the slot */
int drover_drain_add(const drover_dir_conf_t *dc, const drover_claim_t *claim,
                     int failed, int fd, const drover_fcgi_reader_t *reader);

/* ---- the FastCGI parameters (mod_drover_params.c) ---- */

apr_table_t *drover_params_build(request_rec *r, const drover_dir_conf_t *dc,
                                 apr_off_t body_len);

/* ---- the app's response (mod_drover_response.c) ---- */

typedef struct {
    request_rec         *r;
    apr_bucket_brigade  *bb;
    char                *head;        /* the CGI header block so far */
    apr_size_t           head_len;
    int                  head_done;   /* parsed, and set on r */
    int                  sent;        /* something went to the client */
    int                  client_gone;
    apr_off_t            body_bytes;
    apr_off_t            declared;    /* the app's Content-Length, or -1 */
} drover_response_t;

void drover_response_init(drover_response_t *resp, request_rec *r);
apr_status_t drover_response_stdout(drover_response_t *resp, const char *data,
                                    apr_size_t len, const char **why);
apr_status_t drover_response_flush(drover_response_t *resp);
apr_status_t drover_response_finish(drover_response_t *resp,
                                    const char **why);
void drover_response_broken(drover_response_t *resp);

/* ---- one request on one backend connection (mod_drover_exchange.c) ---- */

typedef enum {
    DROVER_EX_DONE,          /* answered (the response is out) */
    DROVER_EX_CONNECT,       /* the connection failed: nothing was sent */
    DROVER_EX_LOST,          /* EOF or reset before any response byte */
    DROVER_EX_OVERLOADED,    /* the worker refused it unread */
    DROVER_EX_TIMEOUT,       /* before any response byte: 504 */
    DROVER_EX_MALFORMED,     /* a bad answer before the header went out: 502 */
    DROVER_EX_BROKEN,        /* the response had begun and broke off */
    DROVER_EX_CLIENT_GONE,
    DROVER_EX_MOVED          /* taken back unread: *claim is a new slot */
} drover_ex_e;

/* the request body: the first DROVER_BODY_PREFIX bytes held, the rest
 * read from the client as it is sent */
typedef struct {
    char        *prefix;
    apr_size_t   prefix_len;
    int          complete;    /* the whole body is in prefix */
    int          streamed;    /* bytes past prefix were read and sent */
    int          failed;      /* reading the client's body failed */
} drover_body_t;

typedef struct {
    request_rec               *r;
    const drover_dir_conf_t   *dc;
    const char                *sockpath;
    int                        fd;         /* in: a kept connection or -1;
                                              out: one to keep or -1 */
    int                        keep_conn;
    drover_claim_t            *claim;      /* NULL in plain mode */
    int                        limit;      /* 1 + DroverPipeline, or 1 */
    apr_time_t                 withdraw_after; /* DROVER_WITHDRAW_AFTER sent
                                              (drover_slots_now()), or 0 */
    const char                *head;       /* BEGIN_REQUEST and PARAMS */
    apr_size_t                 head_len;
    drover_body_t             *body;
    int                        sent_any;   /* a byte of the request went out */
    int                        drain_fd;   /* out: given up after an abort,
                                              the worker may still run it */
    drover_fcgi_reader_t       drain_reader; /* where its answer stands */
    int                        withdrawable; /* DROVER_WITHDRAWABLE sent */
    int                        unread;     /* lost with bytes of it unread:
                                              the app never saw it */
    const char                *why;        /* for the log line */
    apr_status_t               err;
} drover_exchange_t;

drover_ex_e drover_exchange_run(drover_exchange_t *ex);

#endif /* MOD_DROVER_H */
