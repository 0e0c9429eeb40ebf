/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * scoreboard.h -- what each worker is doing, in shared memory.
 *
 * One memfd per pool, made by the manager, mapped by the preloader (and so
 * by every worker it forks) and by exec'd workers.  Each worker writes its
 * own slot's entry, under a sequence counter (odd while it writes); the
 * manager copies entries out and retries while the counter moves.
 *
 * DISPLAY DATA ONLY.  The whole mapping is shared and writable by every
 * process of the pool (the preloader and all its workers run the tenant's
 * code), so a worker can write its siblings' entries too, pid included.
 * Other pools have their own memfd and never see this one.  The manager
 * therefore bases no decision on these values (no signal, no restart, no
 * scaling, no memory accounting), but one that only touches this pool's
 * own workers: `workers ondemand` stops a worker that served nothing for
 * `idle` (ondemand.h; lying keeps them up or gets them stopped).  They are
 * shown in status views, and
 * drover_sb_sanitize() clamps them where they are read -- an entry is taken
 * only for the slot whose verified pid it names, counters never go back and
 * never grow faster than one per microsecond of the worker's life, busy time
 * never exceeds that life, the URI is printable ASCII.  Garbage written
 * here changes nothing but the numbers shown for this pool and when its
 * own on-demand workers idle out.
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

/*
 * manager side: make a fresh copy (drover_sb_read) of the entry of a worker
 * started at started_us (drover_sb_now_us clock) fit to show, given prev,
 * the last copy taken of the same worker (zeroed for a new one).  Returns
 * the number of fields it had to correct (0 for an honest worker).
 */
unsigned drover_sb_sanitize(drover_sb_slot_t *copy,
    const drover_sb_slot_t *prev, uint64_t started_us, uint64_t now_us);

/* a fresh entry for a starting worker (manager, before it exists) */
void drover_sb_reset(drover_sb_slot_t *e);

uint64_t drover_sb_now_us(void);

#endif /* DROVER_SCOREBOARD_H */
