/*
 * scoreboard.h -- what each worker is doing, in shared memory.
 *
 * One memfd per pool, made by the manager, mapped by the preloader (and so
 * by every worker it forks) and by exec'd workers.  Each worker writes only
 * its own slot's entry, under a sequence counter (odd while it writes); the
 * manager copies entries out and retries while the counter moves.  A worker
 * runs the tenant's code, so the manager trusts nothing it reads here: the
 * copy is bounded and NUL-terminated, states are range-checked.
 */

#ifndef DROVER_SCOREBOARD_H
#define DROVER_SCOREBOARD_H

#include <stdint.h>

#include "conf.h"

#define DROVER_SB_URI_MAX  224

enum {
    DROVER_SB_EMPTY = 0,
    DROVER_SB_STARTING,
    DROVER_SB_IDLE,
    DROVER_SB_BUSY,
    DROVER_SB_STOPPING
};

typedef struct {
    uint32_t   seq;                /* odd while the worker writes */
    uint32_t   state;
    int32_t    pid;
    uint32_t   reserved;
    uint64_t   requests;           /* served since the worker started */
    uint64_t   busy_us;            /* total time spent in handle() */
    uint64_t   request_start_us;   /* monotonic, of the request in the app */
    char       uri[DROVER_SB_URI_MAX];
} drover_sb_slot_t;

typedef struct {
    drover_sb_slot_t  slots[DROVER_CONF_MAX_WORKERS];
} drover_sb_t;


/* manager: a zeroed scoreboard in a memfd; 0 and *fd, *sb, or -errno */
int drover_sb_create(int *fd, drover_sb_t **sb);

/* child: map the scoreboard passed as fd */
int drover_sb_map(int fd, drover_sb_t **sb);

void drover_sb_unmap(drover_sb_t *sb);

/* worker side */
void drover_sb_set_state(drover_sb_slot_t *e, uint32_t state);
void drover_sb_begin(drover_sb_slot_t *e, const char *uri);
void drover_sb_end(drover_sb_slot_t *e);

/* manager side: a consistent copy (0), or -EAGAIN if it kept changing */
int drover_sb_read(const drover_sb_slot_t *e, drover_sb_slot_t *copy);

/* a fresh entry for a starting worker (manager, before it exists) */
void drover_sb_reset(drover_sb_slot_t *e);

uint64_t drover_sb_now_us(void);

#endif /* DROVER_SCOREBOARD_H */
