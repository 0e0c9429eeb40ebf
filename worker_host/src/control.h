/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * control.h -- the manager's control socket: droverctl and the status views
 * ask droverd for its state and tell it to reload, restart, scale or stop.
 *
 * A Unix stream socket (mode 0600 by default: droverd's own user; a group
 * may be given access), JSON both ways, one object per line:
 *
 *     -> {"cmd":"status"}                    {"cmd":"status","pool":"kit"}
 *     -> {"cmd":"reload"}                    {"cmd":"restart","pool":"kit"}
 *     -> {"cmd":"reload","pool":"kit"}  {"cmd":"stop","pool":"kit"}
 *     -> {"cmd":"start","pool":"kit"}
 *     -> {"cmd":"scale","pool":"kit","workers":4}
 *     -> {"cmd":"stop"}                      {"cmd":"version"}
 *     <- {"ok":true,"result":...}            {"ok":false,"error":"message"}
 *
 * A connection carries any number of requests, answered in order.  A
 * request's "id" (any JSON value), when present, is copied into its
 * response.  Bad input gets an error response and the connection goes on;
 * a line over DROVER_CONTROL_LINE_MAX gets one and is closed.  The whole
 * protocol is written down in docs/protocols.md, the status object's keys
 * in docs/status.md: change them there first.
 *
 * The commands are carried out by the manager through drover_control_ops_t;
 * this file only parses, checks and answers.  Everything runs on the
 * manager's loop: the ops are called from a read callback and must not
 * block.
 *
 *     rc = drover_control_start(loop, path, 0600, (gid_t) -1, &ops, &c,
 *                               err, sizeof(err));
 *     ...
 *     drover_control_close(c);    before closing the loop's other handles
 */

#ifndef DROVER_CONTROL_H
#define DROVER_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <uv.h>

#define DROVER_CONTROL_PATH        "/run/drover/droverd.ctl"
#define DROVER_CONTROL_MODE        0600
#define DROVER_CONTROL_LINE_MAX    65536          /* a request, without its
                                                     newline */
#define DROVER_CONTROL_MAX_CLIENTS 64
#define DROVER_CONTROL_IDLE_MS     60000          /* then a client is closed */
#define DROVER_CONTROL_OUTPUT_MAX  (4u << 20)     /* unread answers: then a
                                                     client is closed */
#define DROVER_CONTROL_PROTOCOL    1              /* "version" reports it */

typedef struct drover_control_s  drover_control_t;

/*
 * What the manager does for each command.  Each op either succeeds or
 * writes one line (no trailing newline) into err, which becomes the error
 * response; when it leaves err empty, the message is said from the code.
 * A NULL op answers "not supported".  pool is a syntactically valid pool
 * name ([A-Za-z0-9_.-], 1..64 bytes), not necessarily an existing one.
 */
typedef struct {
    void          *data;

    /* a new json_object (its reference passes to control.c), or NULL */
    json_object  *(*status)(void *data, const char *pool /* NULL: all */,
                            char *err, size_t errlen);

    /* 0, or a negative code */
    int           (*reload)(void *data, char *err, size_t errlen);
    int           (*restart)(void *data, const char *pool, char *err,
                             size_t errlen);
    int           (*scale)(void *data, const char *pool, unsigned workers,
                           char *err, size_t errlen);     /* 1..256 */
    int           (*stop)(void *data, char *err, size_t errlen);

    /* one pool: reload (re-read the configuration, apply its section),
       stop (its sockets stay), start */
    int           (*pool_reload)(void *data, const char *pool, char *err,
                                 size_t errlen);
    int           (*pool_stop)(void *data, const char *pool, char *err,
                               size_t errlen);
    int           (*pool_start)(void *data, const char *pool, char *err,
                                size_t errlen);
} drover_control_ops_t;

/*
 * Listen on PATH, created with MODE from the start and given to group GID
 * unless it is (gid_t) -1.  A stale socket file is replaced; a live socket
 * or anything else at PATH is refused.  ops is copied.  0 and *out, or a
 * negative code with a message in err.
 */
int drover_control_start(uv_loop_t *loop, const char *path, mode_t mode,
    gid_t gid, const drover_control_ops_t *ops, drover_control_t **out,
    char *err, size_t errlen);

/*
 * Stop listening, remove the socket file, close every client (answers not
 * yet written are dropped).  The memory goes in the close callbacks, so run
 * the loop afterwards.  NULL is fine.  Safe to call from inside an op; the
 * request being answered then gets no answer.
 */
void drover_control_close(drover_control_t *c);

/*
 * Answer only status and version: droverd's status socket, which nginx's
 * workers may reach (`status_socket ... group=www-data`) without being able
 * to reload, scale or stop droverd.
 */
void drover_control_set_readonly(drover_control_t *c);

/* for tests: the idle timeout (ms), and the number of open clients */
void drover__control_set_idle_ms(drover_control_t *c, uint64_t ms);
unsigned drover__control_clients(const drover_control_t *c);

#endif /* DROVER_CONTROL_H */
