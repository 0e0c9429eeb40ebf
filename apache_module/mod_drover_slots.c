/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */

/* mod_drover's dispatch state: droverd's PATH.slots files read into one
 * table in shared memory, which slot is busy, and the bounded queue. */

/*
 * Why apr_shm and one lock in it rather than mod_slotmem_shm: a pick reads
 * every slot of the pool and then marks one busy, and the queue's count and
 * the slots' flags change together; slotmem gives slots of one fixed size
 * with no lock over several of them (and needs its provider module loaded
 * and persists files we do not want). One anonymous block, made before the
 * children fork, and one mutex around each decision is all the dispatch
 * needs; the mutex is held for a few microseconds, never across I/O but the
 * rare read of a changed .slots file (16 KiB at most).
 *
 * The lock is a robust process-shared pthread mutex at the head of the
 * block, not an apr_global_mutex: httpd's `Mutex file:DIR default` (in
 * Debian's apache2.conf, and so in most setups) makes every global mutex a
 * file lock, two fcntl() a lock taken behind a thread mutex that a child's
 * threads queue on while the holder is in the kernel (6 fcntl and 15 futex
 * calls a request on hello against 0 and 7). Uncontended, this one costs no
 * system call; a child that dies holding it leaves it to the next taker
 * (EOWNERDEAD), and reclaim_orphans() frees that child's places.
 */

#include "mod_drover.h"

#include "apr_atomic.h"
#include "apr_file_io.h"
#include "apr_strings.h"
#include "apr_thread_cond.h"
#include "apr_thread_mutex.h"
#include "http_log.h"
#include "http_protocol.h"
#include "util_mutex.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

APLOG_USE_MODULE(drover);

/* the head of the shared block: the lock, on a cache line of its own */
typedef union {
    pthread_mutex_t  mutex;
    char             pad[128];
} shm_lock_t;

/* per process: the pool paths (from the config, so the same in every
 * child), the shared block and its lock */
static apr_array_header_t  *pool_paths;
static drover_pool_shm_t   *pools;
static pthread_mutex_t     *mutex;

/*
 * Per child, per pool: the requests waiting for a place, in order of
 * arrival. Only the first of them looks at the table (strict FIFO among a
 * child's waiters); a place freed in this child wakes it at once, one that
 * it takes wakes the next (there may be more places), and every waiter
 * also looks at its deadline every DROVER_POLL_STEP, when the first looks
 * at the table too: places freed by the other children are noticed so.
 * "woken" is set under wake_mutex, so a release between the first's look
 * and its sleep is not lost.
 */
typedef struct waiter_s  waiter_t;

struct waiter_s {
    apr_thread_cond_t  *cond;
    waiter_t           *next;
    int                 woken;
};

typedef struct {
    waiter_t  *head;
    waiter_t  *tail;
} waitq_t;

static apr_thread_mutex_t  *wake_mutex;
static waitq_t             *waitq;           /* [pool] */
static apr_int32_t          my_pid;


apr_status_t
drover_slots_pre_config(apr_pool_t *pconf)
{
    pool_paths = apr_array_make(pconf, 4, sizeof(const char *));
    pools = NULL;
    mutex = NULL;

    /* the slot table's lock was once httpd's global mutex "drover-shm": a
     * `Mutex ... drover-shm` line is still accepted (and has no effect)
     * rather than stop Apache from starting */
    return ap_mutex_register(pconf, "drover-shm", NULL, APR_LOCK_DEFAULT, 0);
}


/* the index of path in the pool table, added when new */
int
drover_slots_register(apr_pool_t *p, const char *path)
{
    const char  **paths = (const char **) pool_paths->elts;
    int           i;

    for (i = 0; i < pool_paths->nelts; i++) {
        if (strcmp(paths[i], path) == 0) {
            return i;
        }
    }

    *(const char **) apr_array_push(pool_paths) = apr_pstrdup(p, path);
    return pool_paths->nelts - 1;
}


const char *
drover_slots_path(int pool)
{
    return ((const char **) pool_paths->elts)[pool];
}


/* the block is anonymous: children inherit it across fork */
apr_status_t
drover_slots_post_config(apr_pool_t *pconf, server_rec *s)
{
    apr_shm_t            *shm;
    apr_status_t          rv;
    apr_size_t            size;
    pthread_mutexattr_t   attr;
    shm_lock_t           *head;
    int                   err;

    if (pool_paths->nelts == 0) {
        return APR_SUCCESS;
    }

    size = sizeof(shm_lock_t)
           + sizeof(drover_pool_shm_t) * (apr_size_t) pool_paths->nelts;

    rv = apr_shm_create(&shm, size, NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "drover: cannot create %" APR_SIZE_T_FMT
                     " bytes of shared memory", size);
        return rv;
    }

    head = apr_shm_baseaddr_get(shm);
    memset(head, 0, size);
    pools = (drover_pool_shm_t *) (head + 1);

    err = pthread_mutexattr_init(&attr);
    if (err == 0) {
        err = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
        if (err == 0) {
            err = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
        }
        if (err == 0) {
            err = pthread_mutex_init(&head->mutex, &attr);
        }
        (void) pthread_mutexattr_destroy(&attr);
    }

    if (err != 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, APR_FROM_OS_ERROR(err), s,
                     "drover: cannot make the slot table's mutex");
        return APR_FROM_OS_ERROR(err);
    }

    mutex = &head->mutex;

    return APR_SUCCESS;
}


void
drover_slots_child_init(apr_pool_t *p, server_rec *s)
{
    (void) s;

    my_pid = (apr_int32_t) getpid();

    if (mutex == NULL) {
        return;
    }

    if (apr_thread_mutex_create(&wake_mutex, APR_THREAD_MUTEX_DEFAULT, p)
        != APR_SUCCESS)
    {
        wake_mutex = NULL;              /* waiters just poll, in any order */
        return;
    }

    waitq = apr_pcalloc(p, sizeof(waitq_t) * (apr_size_t) pool_paths->nelts);
}


/* a holder that died mid-change left at worst a counter off by one and
 * its places taken, which reclaim_orphans() gives back */
static void
lock(void)
{
    if (pthread_mutex_lock(mutex) == EOWNERDEAD) {
        (void) pthread_mutex_consistent(mutex);
    }
}


static void
unlock(void)
{
    (void) pthread_mutex_unlock(mutex);
}


/* w joins the end of the pool's line; 0, or -1 when there is no line */
static int
waiter_join(request_rec *r, int pool, waiter_t *w)
{
    waitq_t  *q;

    conn_rec  *c = r->connection;

    memset(w, 0, sizeof(*w));

    if (wake_mutex == NULL) {
        return -1;
    }

    /* one condition variable per connection, made when it first waits
     * (a kept-alive client's requests wait one at a time) */
    w->cond = ap_get_module_config(c->conn_config, &drover_module);
    if (w->cond == NULL) {
        if (apr_thread_cond_create(&w->cond, c->pool) != APR_SUCCESS) {
            return -1;
        }
        ap_set_module_config(c->conn_config, &drover_module, w->cond);
    }

    q = &waitq[pool];

    apr_thread_mutex_lock(wake_mutex);
    if (q->tail != NULL) {
        q->tail->next = w;
    } else {
        q->head = w;
    }
    q->tail = w;
    apr_thread_mutex_unlock(wake_mutex);

    return 0;
}


/* w leaves the line; whoever is first now is woken: to look at once when
 * w took a place and another may be free (more), else to wait as the
 * first does (a step at a time) */
static void
waiter_leave(int pool, waiter_t *w, int more)
{
    waitq_t   *q = &waitq[pool];
    waiter_t  *prev = NULL, *it;

    apr_thread_mutex_lock(wake_mutex);

    for (it = q->head; it != NULL && it != w; it = it->next) {
        prev = it;
    }

    if (it != NULL) {
        if (prev != NULL) {
            prev->next = w->next;
        } else {
            q->head = w->next;
        }
        if (q->tail == w) {
            q->tail = prev;
        }
    }

    if (prev == NULL && q->head != NULL) {
        q->head->woken = more;
        apr_thread_cond_signal(q->head->cond);
    }

    apr_thread_mutex_unlock(wake_mutex);
}


/* is w first in its line (may it look at the table)? */
static int
waiter_first(int pool, waiter_t *w)
{
    int  first;

    apr_thread_mutex_lock(wake_mutex);
    first = waitq[pool].head == w;
    w->woken = 0;
    apr_thread_mutex_unlock(wake_mutex);

    return first;
}


/* until woken; the first of the line also every step (places freed by
 * other children), the others at most until their deadline (they are
 * woken when they become first) */
static void
waiter_wait(int pool, waiter_t *w, apr_time_t deadline)
{
    apr_interval_time_t  t = DROVER_POLL_STEP;

    apr_thread_mutex_lock(wake_mutex);
    if (!w->woken) {
        if (waitq[pool].head != w) {
            t = deadline - apr_time_now();
            t = t > 0 ? t : 0;
        }
        apr_thread_cond_timedwait(w->cond, wake_mutex, t);
    }
    w->woken = 0;
    apr_thread_mutex_unlock(wake_mutex);
}


/* a place of the pool freed in this child: the first waiter looks */
static void
wake_first(int pool)
{
    waiter_t  *w;

    if (wake_mutex == NULL) {
        return;
    }

    apr_thread_mutex_lock(wake_mutex);
    w = waitq[pool].head;
    if (w != NULL) {
        w->woken = 1;
        apr_thread_cond_signal(w->cond);
    }
    apr_thread_mutex_unlock(wake_mutex);
}


/* ---- the .slots file (docs/protocols.md) ---- */

typedef struct {
    apr_uint64_t  generation;
    int           state;
    int           exec;
    int           nslots;
    int           ondemand;
    unsigned char up[DROVER_MAX_SLOTS];
} slots_file_t;


static int
parse_u64(const char *s, const char *end, apr_uint64_t *out)
{
    apr_uint64_t  v = 0;

    if (s == end) {
        return -1;
    }

    for (; s < end; s++) {
        if (*s < '0' || *s > '9' || v > (APR_UINT64_MAX - 9) / 10) {
            return -1;
        }
        v = v * 10 + (apr_uint64_t) (*s - '0');
    }

    *out = v;
    return 0;
}


static int
parse_state(const char *s, apr_size_t n)
{
    static const struct { const char *name; int state; } states[] = {
        { "starting",  DROVER_STATE_STARTING },
        { "serving",   DROVER_STATE_SERVING },
        { "reloading", DROVER_STATE_RELOADING },
        { "failing",   DROVER_STATE_FAILING },
        { "stopped",   DROVER_STATE_STOPPED },
    };
    apr_size_t  i;

    for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        if (strlen(states[i].name) == n && memcmp(states[i].name, s, n) == 0) {
            return states[i].state;
        }
    }

    return DROVER_STATE_UNKNOWN;
}


#define PREFIX_IS(line, end, lit)                                            \
    ((apr_size_t) ((end) - (line)) >= sizeof(lit) - 1                        \
     && memcmp((line), (lit), sizeof(lit) - 1) == 0)

/* one slot line, "INDEX up|down PID" */
static const char *
parse_slot_line(slots_file_t *f, const char *line, const char *end)
{
    const char    *sp1, *sp2;
    apr_uint64_t   k, pid;
    int            up;

    if (f->nslots < 0) {
        return "slot before \"slots\"";
    }

    sp1 = memchr(line, ' ', (apr_size_t) (end - line));
    if (sp1 == NULL || parse_u64(line, sp1, &k) != 0
        || k >= (apr_uint64_t) f->nslots)
    {
        return "bad slot number";
    }

    sp2 = memchr(sp1 + 1, ' ', (apr_size_t) (end - sp1 - 1));
    if (sp2 == NULL) {
        return "slot neither \"up\" nor \"down\"";
    }

    if (sp2 - sp1 - 1 == 2 && memcmp(sp1 + 1, "up", 2) == 0) {
        up = 1;
    } else if (sp2 - sp1 - 1 == 4 && memcmp(sp1 + 1, "down", 4) == 0) {
        up = 0;
    } else {
        return "slot neither \"up\" nor \"down\"";
    }

    if (parse_u64(sp2 + 1, end, &pid) != 0) {
        return "bad pid";
    }

    f->up[k] = (unsigned char) up;
    return NULL;
}


/* the rules of protocols.md; NULL or the reason, *lineno where */
static const char *
parse_slots(const char *buf, apr_size_t len, slots_file_t *f, int *lineno)
{
    const char    *line = buf, *end, *last = buf + len;
    const char    *why;
    apr_uint64_t   v;

    memset(f, 0, sizeof(*f));
    f->nslots = -1;
    *lineno = 1;

    if (len == 0) {
        return "empty";
    }

    if (buf[len - 1] != '\n') {
        return "no newline at the end";
    }

    for (; line < last; line = end + 1, (*lineno)++) {
        end = memchr(line, '\n', (apr_size_t) (last - line));

        if (*lineno == 1) {
            if (end - line != 14 || memcmp(line, "drover-slots 1", 14) != 0) {
                return "not \"drover-slots 1\"";
            }
            continue;
        }

        if (PREFIX_IS(line, end, "generation ")) {
            if (parse_u64(line + 11, end, &f->generation) != 0) {
                return "bad generation";
            }

        } else if (PREFIX_IS(line, end, "slots ")) {
            if (parse_u64(line + 6, end, &v) != 0 || v > DROVER_MAX_SLOTS) {
                return "bad slot count";
            }
            f->nslots = (int) v;

        } else if (PREFIX_IS(line, end, "ondemand ")) {
            if (parse_u64(line + 9, end, &v) != 0 || v > DROVER_MAX_SLOTS) {
                return "bad ondemand";
            }
            f->ondemand = (int) v;

        } else if (PREFIX_IS(line, end, "state ")) {
            f->state = parse_state(line + 6, (apr_size_t) (end - line - 6));

        } else if (PREFIX_IS(line, end, "kind ")) {
            f->exec = end - line == 9 && memcmp(line + 5, "exec", 4) == 0;

        } else if (line < end && *line >= '0' && *line <= '9') {
            why = parse_slot_line(f, line, end);
            if (why != NULL) {
                return why;
            }
        }
        /* any other line: skipped, a later droverd may add kinds */
    }

    if (f->nslots < 0) {
        return "no \"slots\" line";
    }

    return NULL;
}


/* the file into the shared table; called with the lock held */
static void
apply_slots(drover_pool_shm_t *ps, const slots_file_t *f)
{
    int  k;

    ps->active = 1;
    ps->generation = f->generation;
    ps->state = (apr_uint32_t) f->state;
    ps->exec = (apr_uint32_t) f->exec;
    ps->nslots = (apr_uint32_t) f->nslots;
    ps->ondemand = (apr_uint32_t) (f->ondemand < f->nslots ? f->ondemand
                                                           : f->nslots);

    for (k = 0; k < DROVER_MAX_SLOTS; k++) {
        ps->slot[k].up = k < f->nslots ? f->up[k] : 0;
    }
}


/*
 * At most once a second per pool (all children together): stat PATH.slots,
 * read it when its inode, mtime or size changed. Gone: plain mode. Bad: one
 * log line, the previous slots stay.
 */
static void
refresh(request_rec *r, int pool)
{
    drover_pool_shm_t  *ps = &pools[pool];
    const char         *path, *why;
    apr_time_t          now = apr_time_now(), checked;
    apr_finfo_t         fi;
    apr_file_t         *fd;
    apr_status_t        rv;
    apr_size_t          n;
    char               *buf;
    slots_file_t        f;
    int                 lineno;
    apr_uint32_t        logged;

    /* a look without the lock first: most requests stop here */
    checked = apr_atomic_read64((volatile apr_uint64_t *) &ps->checked);
    if (checked != 0 && now - checked < DROVER_SLOTS_CHECK && now >= checked) {
        return;
    }

    lock();
    if (ps->checked != 0 && now - ps->checked < DROVER_SLOTS_CHECK
        && now >= ps->checked)
    {
        unlock();
        return;
    }
    ps->checked = now;
    unlock();

    path = apr_pstrcat(r->pool, drover_slots_path(pool), ".slots", NULL);

    rv = apr_file_open(&fd, path, APR_FOPEN_READ, 0, r->pool);
    if (rv != APR_SUCCESS) {
        lock();
        ps->active = 0;
        logged = ps->open_failed;
        ps->open_failed = !APR_STATUS_IS_ENOENT(rv);
        unlock();

        /* gone is plain mode; unreadable (say, Apache's User cannot read
         * it) is worth a line, once */
        if (!APR_STATUS_IS_ENOENT(rv) && !logged) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, "drover: cannot open "
                          "\"%s\", plain mode (no dispatch) until it can",
                          path);
        }
        return;
    }

    lock();
    ps->open_failed = 0;
    unlock();

    rv = apr_file_info_get(&fi, APR_FINFO_MTIME | APR_FINFO_SIZE
                                | APR_FINFO_INODE, fd);
    if (rv != APR_SUCCESS) {
        apr_file_close(fd);
        return;
    }

    lock();
    if (ps->active && ps->mtime == fi.mtime && ps->size == fi.size
        && ps->inode == (apr_uint64_t) fi.inode)
    {
        unlock();
        apr_file_close(fd);
        return;
    }
    unlock();

    buf = apr_palloc(r->pool, DROVER_SLOTS_MAX_SIZE);
    rv = apr_file_read_full(fd, buf, DROVER_SLOTS_MAX_SIZE, &n);
    apr_file_close(fd);

    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return;
    }

    why = parse_slots(buf, n, &f, &lineno);

    lock();
    ps->mtime = fi.mtime;
    ps->size = fi.size;
    ps->inode = (apr_uint64_t) fi.inode;
    if (why == NULL) {
        apply_slots(ps, &f);
    }
    unlock();

    if (why != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "drover: \"%s\" line %d: %s", path, lineno, why);
    }
}


/* ---- picking a slot ---- */

/* a monotonic clock in microseconds: slots' head times, all children */
apr_time_t
drover_slots_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (apr_time_t) ts.tv_sec * APR_USEC_PER_SEC
           + (apr_time_t) (ts.tv_nsec / 1000);
}


/* a request whose holder process is gone (a crashed child) frees its
 * place on the slot; looked at most every DROVER_RECLAIM_STEP per pool
 * (a kill(pid, 0) per place, under the lock: waiters would otherwise do
 * it at each look) */
static void
reclaim_orphans(drover_pool_shm_t *ps)
{
    drover_slot_t  *s;
    apr_uint32_t    k;
    apr_time_t      now = drover_slots_now();
    int             t;

    if (now - ps->reclaimed < DROVER_RECLAIM_STEP && now >= ps->reclaimed) {
        return;
    }
    ps->reclaimed = now;

    for (k = 0; k < ps->nslots; k++) {
        s = &ps->slot[k];

        for (t = 0; s->busy > 0 && t < DROVER_DEPTH; t++) {
            if (s->owner[t] > 0 && s->owner[t] != my_pid
                && kill((pid_t) s->owner[t], 0) == -1
                && errno == ESRCH)
            {
                s->owner[t] = 0;
                s->busy--;
            }
        }
    }
}


/*
 * Under the lock: the slot to use, or -1. An up slot with nothing in
 * flight, the one freed most recently first (warm caches; the others stay
 * idle), a slot that just failed last; avoid only on the second pass
 * (allow_avoid: a replay goes back there when nothing else is free). Then,
 * for an on-demand pool, the lowest free down slot below N. With a limit
 * above 1 (DroverPipeline), else a slot with fewer than limit requests
 * whose running one began less than window ago: the fewest waiting, then
 * the youngest.
 */
static int
choose(drover_pool_shm_t *ps, int avoid, int allow_avoid, int limit,
       apr_interval_time_t window)
{
    drover_slot_t  *s, *b;
    apr_time_t      now = 0;
    int             k, best = -1, pass;

    if (ps->exec) {
        limit = 1;          /* never behind another request: "kind exec" */
    }

    for (pass = 0; pass < 1 + (allow_avoid != 0) && best < 0; pass++) {
        for (k = 0; k < (int) ps->nslots; k++) {
            s = &ps->slot[k];

            if ((!s->up && (k >= (int) ps->ondemand || s->busy))
                || s->busy >= (apr_uint32_t) limit
                || (pass == 0 && k == avoid))
            {
                continue;
            }

            if (s->busy) {
                if (now == 0) {
                    now = drover_slots_now();
                }
                if (now - s->head >= window) {
                    continue;
                }
            }

            if (best < 0) {
                best = k;
                continue;
            }

            b = &ps->slot[best];

            /* a running worker before one that has to start */
            if (s->up != b->up) {
                if (s->up) {
                    best = k;
                }
                continue;
            }

            if (s->busy < b->busy
                || (s->busy == 0 && b->busy == 0
                    && ((b->failed && !s->failed)
                        || (b->failed == s->failed && s->freed > b->freed)))
                || (s->busy != 0 && s->busy == b->busy && s->head > b->head))
            {
                best = k;
            }
        }
    }

    return best;
}


static int
pool_failing(drover_pool_shm_t *ps)
{
    apr_uint32_t  k;

    if (ps->state != DROVER_STATE_FAILING && ps->state != DROVER_STATE_STOPPED) {
        return 0;
    }

    for (k = 0; k < ps->nslots; k++) {
        if (ps->slot[k].up) {
            return 0;
        }
    }

    return 1;
}


/* under the lock: a place on slot k (choose() left one free) */
static void
take(drover_pool_shm_t *ps, int k, drover_claim_t *cl)
{
    drover_slot_t  *s = &ps->slot[k];
    int             t;

    for (t = 0; t < DROVER_DEPTH - 1; t++) {
        if (s->owner[t] == 0) {
            break;
        }
    }

    if (s->busy == 0) {
        s->head = drover_slots_now();
        cl->behind = 0;
    } else {
        ps->pipelined++;
        cl->behind = 1;
    }

    s->busy++;
    s->owner[t] = my_pid;
    ps->requests++;

    cl->slot = k;
    cl->ticket = t;
    cl->exec = (int) ps->exec;
}


/* under the lock: the worker moves on to a request waiting behind, if
 * there is one; as far as we know it begins now */
static void
leave(drover_pool_shm_t *ps, const drover_claim_t *cl, int failed)
{
    drover_slot_t  *s = &ps->slot[cl->slot];

    if (s->owner[cl->ticket] == 0 || s->busy == 0) {
        return;                         /* reclaimed meanwhile */
    }

    s->owner[cl->ticket] = 0;
    s->busy--;
    s->head = drover_slots_now();
    s->failed = (apr_uint32_t) (failed ? 1 : 0);
    s->freed = ++ps->freed_seq;
}


/*
 * A place for r: at once when one is free and nobody waits (a new request
 * never overtakes the queue; a replay, avoid >= 0, may), else wait in the
 * queue, woken by a release in this child or every 2 ms, up to the queue's
 * timeout. limit > 1: the request may wait behind limit - 1 others on a
 * slot whose running request is younger than DroverPipeline's timeout.
 */
drover_pick_e
drover_slots_acquire(request_rec *r, const drover_dir_conf_t *dc, int avoid,
                     int limit, drover_claim_t *cl)
{
    drover_pool_shm_t  *ps = &pools[dc->pool];
    apr_time_t          deadline = apr_time_now() + dc->queue_timeout;
    int                 k, queued = 0, inline_ = -1, look, more = 0;
    apr_uint32_t        waiting = 0;
    waiter_t            w;
    drover_pick_e       rc;

    for (;;) {
        refresh(r, dc->pool);

        if (queued && inline_ == 0) {
            look = waiter_first(dc->pool, &w);

            /* not first: nothing to look at but the deadline, and not
             * under the lock (a dozen waiters polling would contend) */
            if (!look) {
                if (apr_time_now() >= deadline) {
                    lock();
                    ps->timeouts++;
                    rc = DROVER_PICK_TIMEOUT;
                    goto cleanup;
                }
                waiter_wait(dc->pool, &w, deadline);
                continue;
            }
        }

        lock();

        if (!ps->active) {
            rc = DROVER_PICK_PLAIN;
            goto cleanup;
        }

        if (pool_failing(ps)) {
            rc = DROVER_PICK_FAILING;
            goto cleanup;
        }

        k = -1;
        if (queued || avoid >= 0 || ps->queued == 0) {
            k = choose(ps, avoid, 1, avoid >= 0 ? 1 : limit,
                       dc->pipeline_timeout);
            if (k < 0) {
                reclaim_orphans(ps);
                k = choose(ps, avoid, 1, avoid >= 0 ? 1 : limit,
                           dc->pipeline_timeout);
            }
        }

        if (k >= 0) {
            take(ps, k, cl);
            rc = DROVER_PICK_SLOT;
            /* is there a place for the next waiter too? */
            more = queued && ps->queued > 1
                   && choose(ps, -1, 0, limit, dc->pipeline_timeout) >= 0;
            goto cleanup;
        }

        if (!queued) {
            if (ps->queued >= (apr_uint32_t) dc->queue_size) {
                ps->overflows++;
                rc = DROVER_PICK_FULL;
                goto cleanup;
            }
            ps->queued++;
            queued = 1;
            waiting = ps->queued;
        }

        if (apr_time_now() >= deadline) {
            ps->timeouts++;
            rc = DROVER_PICK_TIMEOUT;
            goto cleanup;
        }

        unlock();

        if (waiting > 0) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "drover: every "
                          "worker of \"%s\" is busy, waiting in the queue "
                          "(%u waiting)", drover_slots_path(dc->pool), waiting);
            waiting = 0;
        }

        if (inline_ < 0) {
            inline_ = waiter_join(r, dc->pool, &w);
        }

        /* a timer, not a spin: only while requests wait */
        if (inline_ == 0) {
            waiter_wait(dc->pool, &w, deadline);
        } else {
            apr_sleep(DROVER_POLL_STEP);
        }
    }

cleanup:

    if (queued) {
        ps->queued--;
    }

    unlock();

    if (inline_ == 0) {
        /* a waiter that gives up (a deadline, a failing pool) passes the
         * turn on: the next one looks for itself */
        waiter_leave(dc->pool, &w, more || rc != DROVER_PICK_SLOT);
    }

    return rc;
}


void
drover_slots_release(const drover_dir_conf_t *dc, const drover_claim_t *cl,
                     int failed)
{
    drover_pool_shm_t  *ps = &pools[dc->pool];

    lock();
    leave(ps, cl, failed);
    unlock();

    /* one waiter per place freed: waking them all would have all but one
     * take the lock for nothing */
    if (ps->queued > 0) {
        wake_first(dc->pool);
    }
}


/*
 * Taking back a pipelined request its slot's worker has not read: first a
 * place elsewhere (a free slot, or one whose request is younger than the
 * window), 0 and *cl when there is one, -1 when not (the request stays).
 */
int
drover_slots_move_begin(const drover_dir_conf_t *dc, int limit,
                        const drover_claim_t *old, drover_claim_t *cl)
{
    drover_pool_shm_t  *ps = &pools[dc->pool];
    int                 k;

    lock();
    k = ps->active ? choose(ps, old->slot, 0, limit, dc->pipeline_timeout)
                   : -1;
    if (k >= 0) {
        take(ps, k, cl);
        ps->requests--;                 /* the same request */
    }
    unlock();

    return k >= 0 ? 0 : -1;
}


/*
 * Then, once the connection's sending side is shut: moved, the place on
 * from is given up (its worker still runs the request it began, so the
 * slot's head and freed stay); else the place on to.
 */
void
drover_slots_move_end(const drover_dir_conf_t *dc, const drover_claim_t *from,
                      const drover_claim_t *to, int moved)
{
    drover_pool_shm_t  *ps = &pools[dc->pool];
    drover_slot_t      *s = &ps->slot[moved ? from->slot : to->slot];
    apr_time_t          head;
    apr_uint64_t        freed;
    apr_uint32_t        failed;

    lock();
    head = s->head;
    freed = s->freed;
    failed = s->failed;
    leave(ps, moved ? from : to, 0);
    if (s->busy > 0) {
        s->head = head;
    }
    s->freed = freed;
    s->failed = failed;
    ps->moved += (apr_uint64_t) (moved ? 1 : 0);
    if (to->behind) {
        ps->pipelined--;                /* counted once, when it was sent */
    }
    unlock();

    if (ps->queued > 0) {
        wake_first(dc->pool);
    }
}


void
drover_slots_count(const drover_dir_conf_t *dc, int replay, int failure)
{
    drover_pool_shm_t  *ps = &pools[dc->pool];

    lock();
    ps->replays += (apr_uint64_t) (replay ? 1 : 0);
    ps->failures += (apr_uint64_t) (failure ? 1 : 0);
    unlock();
}


/* how many pools the table holds (0 before post_config or without any) */
int
drover_slots_pools(void)
{
    return pools != NULL ? pool_paths->nelts : 0;
}


/* a copy of a pool's entry, taken under the lock */
void
drover_slots_snapshot(int pool, drover_pool_shm_t *out)
{
    lock();
    memcpy(out, &pools[pool], sizeof(*out));
    unlock();
}
