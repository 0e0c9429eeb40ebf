/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * control_int.h -- what control.c (the socket, its clients, their lines
 * and answers) and control_cmd.c (the commands) share.
 */

#ifndef DROVER_CONTROL_INT_H
#define DROVER_CONTROL_INT_H

#include "control.h"
#include "buf.h"
#include "socket.h"

#define CONTROL_BUF_MIN      4096
#define CONTROL_BUF_MAX      (DROVER_CONTROL_LINE_MAX + 2)  /* + '\n' and
                                                             a spare byte */
#define CONTROL_SWEEP_MS     1000
#define CONTROL_ERR_MAX      512
#define CONTROL_JSON_FLAGS   (JSON_C_TO_STRING_PLAIN                         \
                              | JSON_C_TO_STRING_NOSLASHESCAPE)

typedef struct control_client_s  control_client_t;

struct control_client_s {
    uv_pipe_t            pipe;          /* pipe.data is the client */
    uv_shutdown_t        shutdown;
    drover_control_t    *ctl;
    control_client_t    *prev;
    control_client_t    *next;
    drover_buf_t         in;            /* a partial line */
    uint64_t             last_active;   /* uv_now() of the last progress */
    long                 peer_pid;      /* SO_PEERCRED, for the log */
    long                 peer_uid;
    unsigned             closing:1;
    unsigned             finishing:1;   /* shutdown, then close */
};

struct drover_control_s {
    uv_loop_t              *loop;
    uv_pipe_t               server;
    uv_timer_t              sweep;      /* idle clients, retried accepts */
    drover_socket_t         sock;
    drover_control_ops_t    ops;
    json_tokener           *tok;
    control_client_t       *clients;
    unsigned                nclients;   /* not closing */
    unsigned                handles;    /* open, clients included */
    uint64_t                idle_ms;
    unsigned                closing:1;
    unsigned                accept_pending:1;  /* out of memory: retry */
    unsigned                readonly:1;  /* status and version only */
};

typedef struct {
    uv_write_t           req;
    char                 data[];        /* the answer and its '\n' */
} control_write_t;

typedef enum {
    CONTROL_POOL_NONE,
    CONTROL_POOL_OPTIONAL,
    CONTROL_POOL_REQUIRED
} control_pool_arg_t;

typedef json_object *(*control_cmd_pt)(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);

typedef struct {
    const char          *name;
    control_pool_arg_t   pool;
    control_cmd_pt       handler;
} control_cmd_t;


/* control_cmd.c: the result of REQ, or NULL with a message in err */
json_object *drover__control_dispatch(control_client_t *cl,
    json_object *req, char *err, size_t errlen);

/* control.c: HEAD and BODY as they are (a raw status answer), and no more
   requests: close once the answers are written */
void drover__control_send_raw(control_client_t *cl, const char *head,
    const char *body, size_t len);
void drover__control_client_finish(control_client_t *cl);

#endif /* DROVER_CONTROL_INT_H */
