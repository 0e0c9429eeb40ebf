
/*
 * Drover: dispatch of requests to droverd's worker slots.
 *
 * For "drover_pass unix:PATH", droverd listens on PATH.k for the worker in
 * slot k alone, and describes the slots in PATH.slots (rewritten by a
 * rename whenever they change):
 *
 *     drover-slots 1
 *     pool kit
 *     generation 3
 *     slots 2
 *     0 up 1234
 *     1 down 0
 *
 * Each nginx worker looks at that file at most once a second (an open and
 * a fstat, a read when it changed) and writes what it says into the zone,
 * where every nginx worker sees it along with each slot's requests in
 * flight.  A request takes an "up" slot with nothing in flight, the one
 * freed most recently (its worker's caches are warm; others stay idle),
 * the lowest index among slots never freed; it goes to that slot's own
 * socket, over a kept-alive connection when there is one.  A worker
 * serves one request at a time.
 *
 * Pipelining ("drover_pipeline N timeout=T"): when no slot is free, an
 * idempotent request with its body read may be sent to a slot whose
 * running request began less than T ago, to wait in the worker's socket
 * behind at most N others; the worker then finds its next request ready
 * instead of waiting a round trip through nginx.  Such a request that no
 * worker has read T after it was sent (SIOCOUTQ: its bytes are still in
 * the socket) is taken back, its connection closed (droverd does not run
 * a request closed before it read a byte of it), and sent to a slot that
 * is free or began its request less than T ago.
 *
 * When every slot is busy the request waits, in its own worker's FIFO,
 * counted in the zone against "drover_queue size=N" for all nginx workers
 * together.  A release wakes the oldest waiter of the worker that released
 * at once; the waiters of other workers look every few milliseconds.  A
 * new request never takes a free slot while any request of the pool waits
 * in any worker, so none is overtaken by later arrivals; between workers
 * the order is that of who looks first.
 *
 * Without a PATH.slots file (droverd stopped, or any other FastCGI
 * server), requests go to PATH itself as before: round robin and the
 * keepalive cache, no queue.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_module.h"

#if (NGX_LINUX)
#include <sys/ioctl.h>
#include <linux/sockios.h>          /* SIOCOUTQ */
#endif


#define NGX_HTTP_DROVER_DISPATCH_NONE     ((ngx_uint_t) -1)

/* how often a worker looks at PATH.slots, and waiters at the zone (ms) */
#define NGX_HTTP_DROVER_DISPATCH_CHECK    1000
#define NGX_HTTP_DROVER_DISPATCH_POLL     2

/* the largest request body that may wait behind another request */
#define NGX_HTTP_DROVER_DISPATCH_PIPELINE_BODY  65536

/* PATH.slots for 256 slots is about 5 KiB */
#define NGX_HTTP_DROVER_DISPATCH_FILE_MAX 16384

#define NGX_HTTP_DROVER_DISPATCH_IDEMPOTENT                                   \
    (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_PUT|NGX_HTTP_DELETE                  \
     |NGX_HTTP_OPTIONS)


typedef struct {
    /* the nginx worker of each request in flight; 0: a free place */
    ngx_pid_t                         owner[NGX_HTTP_DROVER_DISPATCH_DEPTH];
    ngx_pid_t                         pid;     /* droverd's worker */

    /* the release that freed it last: larger is more recent, 0 never */
    ngx_uint_t                        freed;

    /* when the request the worker runs began, as nginx saw it */
    ngx_msec_t                        head;

    u_char                            up;
    u_char                            busy;    /* requests in flight */
} ngx_http_drover_dispatch_slot_t;


struct ngx_http_drover_dispatch_sh_s {
    ngx_queue_t                       queue;   /* in the zone's pools */

    /* the PATH.slots file last read: inode, mtime and size */
    ino_t                             ino;
    time_t                            mtime;
    long                              mtime_nsec;
    off_t                             size;

    ngx_uint_t                        active;
    ngx_uint_t                        generation;
    ngx_uint_t                        nslots;
    ngx_uint_t                        queued;
    ngx_uint_t                        freed_seq;

    uint64_t                          requests;
    uint64_t                          waited;
    uint64_t                          wait_ms;
    uint64_t                          wait_max_ms;
    uint64_t                          overflows;
    uint64_t                          timeouts;
    uint64_t                          replays;
    uint64_t                          failures;
    uint64_t                          pipelined;
    uint64_t                          moved;

    ngx_http_drover_dispatch_slot_t   slot[NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS];

    size_t                            path_len;
    u_char                            path[1];
};


typedef struct {
    ngx_queue_t                       pools;
} ngx_http_drover_dispatch_root_t;


struct ngx_http_drover_dispatch_addr_s {
    ngx_sockaddr_t                    sockaddr;
    socklen_t                         socklen;
    ngx_str_t                         name;
};


/* a connection whose request was given up while the worker still runs it */

typedef struct {
    ngx_http_drover_dispatch_pool_t  *pool;
    ngx_uint_t                        slot;
    ngx_uint_t                        ticket;
    ngx_http_drover_fcgi_parser_t     parser;
} ngx_http_drover_dispatch_drain_t;


/* PATH.slots as parsed, before it goes into the zone */

typedef struct {
    ngx_uint_t                        generation;
    ngx_uint_t                        nslots;
    ngx_pid_t                         pid[NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS];
    u_char                            up[NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS];
} ngx_http_drover_dispatch_file_t;


static ngx_int_t ngx_http_drover_dispatch_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_http_drover_dispatch_sh_t *ngx_http_drover_dispatch_sh(
    ngx_slab_pool_t *shpool, ngx_http_drover_dispatch_root_t *root,
    ngx_str_t *path);

static void ngx_http_drover_dispatch_refresh(
    ngx_http_drover_dispatch_pool_t *pool, ngx_log_t *log);
static char *ngx_http_drover_dispatch_parse(u_char *p, u_char *last,
    ngx_http_drover_dispatch_file_t *f, ngx_uint_t *line);
static ngx_int_t ngx_http_drover_dispatch_number(u_char **pp, u_char *last,
    ngx_uint_t *n);
static void ngx_http_drover_dispatch_reclaim(
    ngx_http_drover_dispatch_pool_t *pool, ngx_log_t *log);

static ngx_int_t ngx_http_drover_dispatch_acquire(
    ngx_http_drover_dispatch_pool_t *pool, ngx_http_drover_dispatch_req_t *d,
    ngx_uint_t queue_size);
static ngx_uint_t ngx_http_drover_dispatch_choose(
    ngx_http_drover_dispatch_sh_t *sh, ngx_uint_t except, ngx_uint_t limit,
    ngx_msec_t window);
static void ngx_http_drover_dispatch_take(ngx_http_drover_dispatch_sh_t *sh,
    ngx_http_drover_dispatch_req_t *d, ngx_uint_t k);
static void ngx_http_drover_dispatch_leave(ngx_http_drover_dispatch_sh_t *sh,
    ngx_uint_t k, ngx_uint_t ticket, ngx_uint_t failed);
static void ngx_http_drover_dispatch_release(
    ngx_http_drover_dispatch_pool_t *pool, ngx_http_drover_dispatch_req_t *d,
    ngx_uint_t failed);
static void ngx_http_drover_dispatch_free_slot(
    ngx_http_drover_dispatch_pool_t *pool, ngx_uint_t k, ngx_uint_t ticket,
    ngx_uint_t failed);
static void ngx_http_drover_dispatch_switch(
    ngx_http_drover_dispatch_pool_t *pool, ngx_http_drover_dispatch_req_t *d);
static void ngx_http_drover_dispatch_rescue(ngx_event_t *ev);
#if (NGX_LINUX && defined SIOCOUTQ)
static ngx_int_t ngx_http_drover_dispatch_unread(ngx_connection_t *c,
    ngx_log_t *log, int *unread);
static ssize_t ngx_http_drover_dispatch_withdrawn(ngx_connection_t *c,
    u_char *buf, size_t size);
#endif

static void ngx_http_drover_dispatch_enqueue(ngx_http_request_t *r,
    ngx_http_drover_dispatch_req_t *d, ngx_msec_t timeout);
static ngx_msec_t ngx_http_drover_dispatch_dequeue(
    ngx_http_drover_dispatch_pool_t *pool, ngx_http_drover_dispatch_req_t *d,
    ngx_uint_t timedout);
static void ngx_http_drover_dispatch_post_wake(
    ngx_http_drover_dispatch_pool_t *pool);
static void ngx_http_drover_dispatch_wake(ngx_event_t *ev);
static void ngx_http_drover_dispatch_timeout(ngx_event_t *ev);
static void ngx_http_drover_dispatch_reject(ngx_http_request_t *r);
static void ngx_http_drover_dispatch_cleanup(void *data);

static ngx_int_t ngx_http_drover_dispatch_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_drover_dispatch_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static char *ngx_http_drover_dispatch_unreplayable(ngx_http_request_t *r,
    ngx_http_drover_dispatch_req_t *d, ngx_peer_connection_t *pc);
static ngx_http_drover_dispatch_addr_t *ngx_http_drover_dispatch_addr(
    ngx_http_drover_dispatch_pool_t *pool, ngx_uint_t k);
static ngx_int_t ngx_http_drover_dispatch_drain(ngx_http_request_t *r,
    ngx_http_drover_dispatch_req_t *d, ngx_peer_connection_t *pc);
static void ngx_http_drover_dispatch_drain_handler(ngx_event_t *ev);
static void ngx_http_drover_dispatch_drain_dummy(ngx_event_t *ev);


/* ---- configuration ---- */


ngx_http_drover_dispatch_pool_t *
ngx_http_drover_dispatch_add(ngx_conf_t *cf, ngx_array_t *pools,
    ngx_str_t *path)
{
    u_char                            *p;
    ngx_uint_t                         i;
    struct sockaddr_un                 sun;
    ngx_http_drover_dispatch_pool_t   *pool, **poolp;

    poolp = pools->elts;

    for (i = 0; i < pools->nelts; i++) {
        if (poolp[i]->path.len == path->len
            && ngx_strncmp(poolp[i]->path.data, path->data, path->len) == 0)
        {
            return poolp[i];
        }
    }

    pool = ngx_pcalloc(cf->pool, sizeof(ngx_http_drover_dispatch_pool_t));
    if (pool == NULL) {
        return NULL;
    }

    poolp = ngx_array_push(pools);
    if (poolp == NULL) {
        return NULL;
    }

    *poolp = pool;

    pool->path = *path;

    pool->slots_path.len = path->len + sizeof(".slots") - 1;
    pool->slots_path.data = ngx_pnalloc(cf->pool, pool->slots_path.len + 1);
    if (pool->slots_path.data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(pool->slots_path.data, path->data, path->len);
    ngx_memcpy(p, ".slots", sizeof(".slots"));

    pool->addrs = ngx_pcalloc(cf->pool, NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS
                                  * sizeof(ngx_http_drover_dispatch_addr_t *));
    if (pool->addrs == NULL) {
        return NULL;
    }

    /* PATH.255 must fit where PATH did */

    if (path->len + sizeof(".255") > sizeof(sun.sun_path)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "socket path \"%V\" is too long for its slot "
                           "sockets, requests go to it without dispatch",
                           path);
        pool->no_dispatch = 1;
    }

    ngx_queue_init(&pool->waiting);

    pool->wake.handler = ngx_http_drover_dispatch_wake;
    pool->wake.data = pool;

    pool->poll.handler = ngx_http_drover_dispatch_wake;
    pool->poll.data = pool;
    pool->poll.cancelable = 1;

    return pool;
}


/* one zone for every pool; its size is "drover_zone" */

ngx_int_t
ngx_http_drover_dispatch_init(ngx_conf_t *cf, ngx_array_t *pools, size_t size)
{
    ngx_str_t        name;
    ngx_shm_zone_t  *zone;

    if (pools->nelts == 0) {
        return NGX_OK;
    }

    ngx_str_set(&name, "drover");

    zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_drover_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_drover_dispatch_init_zone;
    zone->data = pools;

    return NGX_OK;
}


/*
 * A zone kept over a reload (same size) keeps each pool's state: the old
 * workers' requests in flight still hold their slots until they end.
 */

static ngx_int_t
ngx_http_drover_dispatch_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_uint_t                         i;
    ngx_array_t                       *pools;
    ngx_slab_pool_t                   *shpool;
    ngx_http_drover_dispatch_pool_t  **poolp;
    ngx_http_drover_dispatch_root_t   *root;

    pools = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (data || zone->shm.exists) {
        root = shpool->data;

    } else {
        root = ngx_slab_alloc(shpool, sizeof(ngx_http_drover_dispatch_root_t));
        if (root == NULL) {
            return NGX_ERROR;
        }

        ngx_queue_init(&root->pools);
        shpool->data = root;
    }

    poolp = pools->elts;

    for (i = 0; i < pools->nelts; i++) {
        poolp[i]->shpool = shpool;
        poolp[i]->sh = ngx_http_drover_dispatch_sh(shpool, root,
                                                   &poolp[i]->path);
        if (poolp[i]->sh == NULL) {
            ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                          "\"drover_zone\" of %uz bytes is too small for "
                          "%ui pools, about 9k each",
                          zone->shm.size, pools->nelts);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_http_drover_dispatch_sh_t *
ngx_http_drover_dispatch_sh(ngx_slab_pool_t *shpool,
    ngx_http_drover_dispatch_root_t *root, ngx_str_t *path)
{
    ngx_queue_t                    *q;
    ngx_http_drover_dispatch_sh_t  *sh;

    ngx_shmtx_lock(&shpool->mutex);

    for (q = ngx_queue_head(&root->pools);
         q != ngx_queue_sentinel(&root->pools);
         q = ngx_queue_next(q))
    {
        sh = ngx_queue_data(q, ngx_http_drover_dispatch_sh_t, queue);

        if (sh->path_len == path->len
            && ngx_strncmp(sh->path, path->data, path->len) == 0)
        {
            goto done;
        }
    }

    sh = ngx_slab_calloc_locked(shpool, sizeof(ngx_http_drover_dispatch_sh_t)
                                        + path->len);
    if (sh == NULL) {
        goto done;
    }

    sh->path_len = path->len;
    ngx_memcpy(sh->path, path->data, path->len);

    ngx_queue_insert_tail(&root->pools, &sh->queue);

done:

    ngx_shmtx_unlock(&shpool->mutex);

    return sh;
}


/* ---- PATH.slots ---- */


/*
 * At most once a second per nginx worker: open, fstat and, when the
 * inode, mtime or size differ from what the zone holds, a read of a few
 * KiB (droverd keeps it on tmpfs, /run).  No file: plain mode.
 */

static void
ngx_http_drover_dispatch_refresh(ngx_http_drover_dispatch_pool_t *pool,
    ngx_log_t *log)
{
    char                             *err;
    u_char                            buf[NGX_HTTP_DROVER_DISPATCH_FILE_MAX];
    ssize_t                           n;
    ngx_fd_t                          fd;
    ngx_err_t                         e;
    ngx_uint_t                        k, line, same, was, level;
    ngx_file_info_t                   fi;
    ngx_http_drover_dispatch_sh_t    *sh;
    ngx_http_drover_dispatch_file_t   f;

    if (pool->no_dispatch || pool->sh == NULL) {
        return;
    }

    if (pool->ever_checked
        && ngx_current_msec - pool->checked < NGX_HTTP_DROVER_DISPATCH_CHECK)
    {
        return;
    }

    pool->ever_checked = 1;
    pool->checked = ngx_current_msec;

    sh = pool->sh;

    ngx_http_drover_dispatch_reclaim(pool, log);

    fd = ngx_open_file(pool->slots_path.data, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        e = ngx_errno;

        ngx_shmtx_lock(&pool->shpool->mutex);
        was = sh->active;
        sh->active = 0;
        sh->ino = 0;
        sh->size = -1;
        ngx_shmtx_unlock(&pool->shpool->mutex);

        if (was) {
            level = (e == NGX_ENOENT) ? NGX_LOG_NOTICE : NGX_LOG_ERR;

            ngx_log_error(level, log, e, "drover: cannot open \"%V\", "
                          "requests go to \"%V\" without dispatch",
                          &pool->slots_path, &pool->path);
        }

        return;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_fd_info_n " \"%V\" failed", &pool->slots_path);
        goto close;
    }

    ngx_shmtx_lock(&pool->shpool->mutex);

    same = (sh->ino == fi.st_ino
            && sh->mtime == fi.st_mtim.tv_sec
            && sh->mtime_nsec == fi.st_mtim.tv_nsec
            && sh->size == fi.st_size);

    ngx_shmtx_unlock(&pool->shpool->mutex);

    if (same) {
        goto close;
    }

    n = ngx_read_fd(fd, buf, sizeof(buf));

    if (n == -1 || n == (ssize_t) sizeof(buf)) {
        ngx_log_error(NGX_LOG_ERR, log, n == -1 ? ngx_errno : 0,
                      "drover: cannot read \"%V\"%s", &pool->slots_path,
                      n == -1 ? "" : ": too big");
        goto close;
    }

    err = ngx_http_drover_dispatch_parse(buf, buf + n, &f, &line);

    ngx_shmtx_lock(&pool->shpool->mutex);

    /* a bad file is logged once: the next look finds it the same */

    sh->ino = fi.st_ino;
    sh->mtime = fi.st_mtim.tv_sec;
    sh->mtime_nsec = fi.st_mtim.tv_nsec;
    sh->size = fi.st_size;

    if (err == NULL) {
        sh->active = 1;
        sh->generation = f.generation;
        sh->nslots = f.nslots;

        for (k = 0; k < NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS; k++) {
            sh->slot[k].up = (k < f.nslots) ? f.up[k] : 0;
            sh->slot[k].pid = (k < f.nslots) ? f.pid[k] : 0;
        }
    }

    ngx_shmtx_unlock(&pool->shpool->mutex);

    if (err) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "drover: \"%V\" line %ui: %s",
                      &pool->slots_path, line, err);
    }

close:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &pool->slots_path);
    }
}


/*
 * "drover-slots 1" first; then "generation N", "slots N" and a line
 * "K up|down PID" per slot.  Lines of other kinds are skipped: a later
 * droverd may add some (extend, don't rename).
 */

static char *
ngx_http_drover_dispatch_parse(u_char *p, u_char *last,
    ngx_http_drover_dispatch_file_t *f, ngx_uint_t *line)
{
    u_char      *eol;
    ngx_uint_t   k, n, have_slots;

    ngx_memzero(f, sizeof(ngx_http_drover_dispatch_file_t));

    have_slots = 0;

    for (*line = 1; p < last; (*line)++, p = eol + 1) {

        eol = ngx_strlchr(p, last, LF);
        if (eol == NULL) {
            return "no newline at the end";
        }

        if (*line == 1) {
            if ((size_t) (eol - p) != sizeof("drover-slots 1") - 1
                || ngx_strncmp(p, "drover-slots 1", eol - p) != 0)
            {
                return "not \"drover-slots 1\"";
            }

            continue;
        }

        if (eol - p > 11 && ngx_strncmp(p, "generation ", 11) == 0) {
            p += 11;

            if (ngx_http_drover_dispatch_number(&p, eol, &f->generation)
                != NGX_OK || p != eol)
            {
                return "bad generation";
            }

            continue;
        }

        if (eol - p > 6 && ngx_strncmp(p, "slots ", 6) == 0) {
            p += 6;

            if (ngx_http_drover_dispatch_number(&p, eol, &f->nslots) != NGX_OK
                || p != eol
                || f->nslots > NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS)
            {
                return "bad slot count";
            }

            have_slots = 1;
            continue;
        }

        if (*p < '0' || *p > '9') {
            continue;
        }

        if (!have_slots) {
            return "slot before \"slots\"";
        }

        if (ngx_http_drover_dispatch_number(&p, eol, &k) != NGX_OK
            || k >= f->nslots
            || p == eol || *p++ != ' ')
        {
            return "bad slot number";
        }

        if (eol - p > 3 && ngx_strncmp(p, "up ", 3) == 0) {
            f->up[k] = 1;
            p += 3;

        } else if (eol - p > 5 && ngx_strncmp(p, "down ", 5) == 0) {
            f->up[k] = 0;
            p += 5;

        } else {
            return "slot neither \"up\" nor \"down\"";
        }

        if (ngx_http_drover_dispatch_number(&p, eol, &n) != NGX_OK
            || p != eol)
        {
            return "bad pid";
        }

        f->pid[k] = (ngx_pid_t) n;
    }

    if (*line == 1) {
        return "empty";
    }

    if (!have_slots) {
        return "no \"slots\" line";
    }

    return NULL;
}


static ngx_int_t
ngx_http_drover_dispatch_number(u_char **pp, u_char *last, ngx_uint_t *n)
{
    u_char  *p;

    *n = 0;

    for (p = *pp; p < last && *p >= '0' && *p <= '9'; p++) {
        if (*n > 99999999) {
            return NGX_ERROR;
        }

        *n = *n * 10 + (*p - '0');
    }

    if (p == *pp) {
        return NGX_ERROR;
    }

    *pp = p;

    return NGX_OK;
}


/*
 * An nginx worker that died (a crash: graceful exits release first)
 * would hold its slots for ever: they are freed when its pid is gone.
 */

static void
ngx_http_drover_dispatch_reclaim(ngx_http_drover_dispatch_pool_t *pool,
    ngx_log_t *log)
{
    ngx_uint_t                        k, t;
    ngx_pid_t                         owner;
    ngx_http_drover_dispatch_sh_t    *sh;
    ngx_http_drover_dispatch_slot_t  *s;

    sh = pool->sh;

    for (k = 0; k < NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS; k++) {
        s = &sh->slot[k];

        for (t = 0; t < NGX_HTTP_DROVER_DISPATCH_DEPTH; t++) {

            /* a racy first look; the decision is taken under the lock */

            owner = s->owner[t];

            if (!s->busy || owner == 0 || owner == ngx_pid
                || kill(owner, 0) == 0 || ngx_errno != NGX_ESRCH)
            {
                continue;
            }

            ngx_shmtx_lock(&pool->shpool->mutex);

            if (s->busy && s->owner[t] == owner) {
                ngx_http_drover_dispatch_leave(sh, k, t, 1);

                ngx_log_error(NGX_LOG_WARN, log, 0,
                              "drover: a place on slot %ui of \"%V\" freed: "
                              "nginx worker %P that held it is gone",
                              k, &pool->path, owner);
            }

            ngx_shmtx_unlock(&pool->shpool->mutex);
        }
    }
}


/* ---- slots ---- */


/*
 * NGX_OK: the request holds a slot; NGX_AGAIN: it is counted in the
 * queue (the caller queues it); NGX_DECLINED: the queue is full.
 */

static ngx_int_t
ngx_http_drover_dispatch_acquire(ngx_http_drover_dispatch_pool_t *pool,
    ngx_http_drover_dispatch_req_t *d, ngx_uint_t queue_size)
{
    ngx_uint_t                      k;
    ngx_http_drover_dispatch_sh_t  *sh;

    sh = pool->sh;

    ngx_shmtx_lock(&pool->shpool->mutex);

    /* no overtaking: while any request waits, a free slot is for it */

    if (sh->queued == 0) {
        k = ngx_http_drover_dispatch_choose(sh, NGX_HTTP_DROVER_DISPATCH_NONE,
                                            d->limit, d->window);

        if (k != NGX_HTTP_DROVER_DISPATCH_NONE) {
            ngx_http_drover_dispatch_take(sh, d, k);
            ngx_shmtx_unlock(&pool->shpool->mutex);
            return NGX_OK;
        }
    }

    if (sh->queued >= queue_size) {
        sh->overflows++;
        ngx_shmtx_unlock(&pool->shpool->mutex);
        return NGX_DECLINED;
    }

    sh->queued++;

    ngx_shmtx_unlock(&pool->shpool->mutex);

    return NGX_AGAIN;
}


/*
 * Under the lock: an up slot with nothing in flight, the latest freed.
 * With a limit above 1, else one with fewer than "limit" requests whose
 * running request began less than "window" ago: the fewest waiting, then
 * the youngest.
 */

static ngx_uint_t
ngx_http_drover_dispatch_choose(ngx_http_drover_dispatch_sh_t *sh,
    ngx_uint_t except, ngx_uint_t limit, ngx_msec_t window)
{
    ngx_uint_t                        k, n, best;
    ngx_http_drover_dispatch_slot_t  *s, *b;

    best = NGX_HTTP_DROVER_DISPATCH_NONE;
    n = ngx_min(sh->nslots, NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS);

    for (k = 0; k < n; k++) {
        s = &sh->slot[k];

        if (!s->up || s->busy >= limit || k == except) {
            continue;
        }

        if (s->busy
            && (ngx_msec_int_t) (ngx_current_msec - s->head)
               >= (ngx_msec_int_t) window)
        {
            continue;
        }

        if (best == NGX_HTTP_DROVER_DISPATCH_NONE) {
            best = k;
            continue;
        }

        b = &sh->slot[best];

        if (s->busy < b->busy
            || (s->busy == b->busy && s->busy == 0 && s->freed > b->freed)
            || (s->busy == b->busy && s->busy != 0
                && (ngx_msec_int_t) (s->head - b->head) > 0))
        {
            best = k;
        }
    }

    return best;
}


/* under the lock */

static void
ngx_http_drover_dispatch_take(ngx_http_drover_dispatch_sh_t *sh,
    ngx_http_drover_dispatch_req_t *d, ngx_uint_t k)
{
    ngx_uint_t                        t;
    ngx_http_drover_dispatch_slot_t  *s;

    s = &sh->slot[k];

    /* choose() left a free place: busy < limit <= DEPTH */

    for (t = 0; t < NGX_HTTP_DROVER_DISPATCH_DEPTH - 1; t++) {
        if (s->owner[t] == 0) {
            break;
        }
    }

    if (s->busy == 0) {
        s->head = ngx_current_msec;
        d->behind = 0;

    } else {
        sh->pipelined++;
        d->behind = 1;
    }

    s->busy++;
    s->owner[t] = ngx_pid;
    sh->requests++;

    d->slot = k;
    d->ticket = t;
    d->held = 1;
}


/*
 * Under the lock.  The worker moves on to a request waiting behind, if
 * there is one: as far as nginx knows, it begins now.
 */

static void
ngx_http_drover_dispatch_leave(ngx_http_drover_dispatch_sh_t *sh,
    ngx_uint_t k, ngx_uint_t ticket, ngx_uint_t failed)
{
    ngx_http_drover_dispatch_slot_t  *s;

    s = &sh->slot[k];

    if (s->owner[ticket] == 0 || s->busy == 0) {
        return;
    }

    s->owner[ticket] = 0;
    s->busy--;
    s->head = ngx_current_msec;
    s->freed = failed ? 0 : ++sh->freed_seq;
}


/*
 * A slot that failed is freed as "never freed": the next requests prefer
 * the others.  Waiters of this worker are woken after the current event,
 * so that a replay in progress (free, then get) is not outrun.
 */

static void
ngx_http_drover_dispatch_release(ngx_http_drover_dispatch_pool_t *pool,
    ngx_http_drover_dispatch_req_t *d, ngx_uint_t failed)
{
    if (!d->held) {
        return;
    }

    d->held = 0;

    if (d->rescue.timer_set) {
        ngx_del_timer(&d->rescue);
    }

    ngx_http_drover_dispatch_free_slot(pool, d->slot, d->ticket, failed);
}


static void
ngx_http_drover_dispatch_free_slot(ngx_http_drover_dispatch_pool_t *pool,
    ngx_uint_t k, ngx_uint_t ticket, ngx_uint_t failed)
{
    ngx_shmtx_lock(&pool->shpool->mutex);

    ngx_http_drover_dispatch_leave(pool->sh, k, ticket, failed);

    ngx_shmtx_unlock(&pool->shpool->mutex);

    ngx_http_drover_dispatch_post_wake(pool);
}


/*
 * A replay goes to another free slot; when there is none it stays on the
 * slot it holds: droverd's new worker there accepts it from the socket's
 * backlog within milliseconds, and no other request was let in.
 */

static void
ngx_http_drover_dispatch_switch(ngx_http_drover_dispatch_pool_t *pool,
    ngx_http_drover_dispatch_req_t *d)
{
    ngx_uint_t                      k, old, ticket;
    ngx_http_drover_dispatch_sh_t  *sh;

    sh = pool->sh;
    old = d->slot;
    ticket = d->ticket;

    ngx_shmtx_lock(&pool->shpool->mutex);

    k = ngx_http_drover_dispatch_choose(sh, old, 1, 0);

    if (k != NGX_HTTP_DROVER_DISPATCH_NONE) {
        ngx_http_drover_dispatch_take(sh, d, k);
        ngx_http_drover_dispatch_leave(sh, old, ticket, 1);
    }

    ngx_shmtx_unlock(&pool->shpool->mutex);

    if (k != NGX_HTTP_DROVER_DISPATCH_NONE) {
        ngx_http_drover_dispatch_post_wake(pool);
    }
}


/* ---- the queue ---- */


/* the body post handler of a dispatched location */

void
ngx_http_drover_dispatch_start(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_pool_cleanup_t               *cln;
    ngx_http_drover_ctx_t            *ctx;
    ngx_http_drover_loc_conf_t       *dlcf;
    ngx_http_drover_dispatch_req_t   *d;
    ngx_http_drover_dispatch_pool_t  *pool;

    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);
    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_drover_module);

    pool = dlcf->dispatch;
    d = &ctx->dispatch;

    ngx_http_drover_dispatch_refresh(pool, r->connection->log);

    if (pool->no_dispatch || pool->sh == NULL || !pool->sh->active) {
        ngx_http_upstream_init(r);
        return;
    }

    if (!d->cleanup) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        cln->handler = ngx_http_drover_dispatch_cleanup;
        cln->data = d;
        d->cleanup = 1;
    }

    d->pool = pool;
    d->request = r;
    d->dispatched = 1;

    /*
     * A request that can be taken back may wait behind another: its body
     * is in nginx's buffers, and small enough for droverd to read whole
     * before it looks whether nginx took it back
     */

    d->limit = 1;
    d->window = dlcf->pipeline_timeout;

#if (NGX_LINUX && defined SIOCOUTQ)
    if (dlcf->pipeline
        && !r->request_body_no_buffering
        && (r->headers_in.content_length_n <= 0
            ? r->headers_in.chunked == 0
            : r->headers_in.content_length_n
              <= NGX_HTTP_DROVER_DISPATCH_PIPELINE_BODY))
    {
        d->limit = 1 + dlcf->pipeline;
    }
#endif

    rc = ngx_http_drover_dispatch_acquire(pool, d, dlcf->queue_size);

    if (rc == NGX_OK) {
        ngx_http_upstream_init(r);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "drover: every worker of \"%V\" is busy and the queue "
                      "is full (%ui), 503", &pool->path, dlcf->queue_size);

        ngx_http_drover_dispatch_reject(r);
        return;
    }

    ngx_http_drover_dispatch_enqueue(r, d, dlcf->queue_timeout);
}


static void
ngx_http_drover_dispatch_enqueue(ngx_http_request_t *r,
    ngx_http_drover_dispatch_req_t *d, ngx_msec_t timeout)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "drover dispatch: queued for \"%V\"", &d->pool->path);

    d->queued = 1;
    d->queued_at = ngx_current_msec;

    ngx_queue_insert_tail(&d->pool->waiting, &d->queue);

    d->deadline.handler = ngx_http_drover_dispatch_timeout;
    d->deadline.data = d;
    d->deadline.log = r->connection->log;

    ngx_add_timer(&d->deadline, timeout);

    /* a client that goes away while waiting frees its place */

    if (r->read_event_handler == ngx_http_block_reading) {
        r->read_event_handler = ngx_http_test_reading;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_drover_dispatch_post_wake(d->pool);
}


/* the time waited, in ms; counted with the pool's statistics */

static ngx_msec_t
ngx_http_drover_dispatch_dequeue(ngx_http_drover_dispatch_pool_t *pool,
    ngx_http_drover_dispatch_req_t *d, ngx_uint_t timedout)
{
    ngx_msec_t                      wait;
    ngx_http_drover_dispatch_sh_t  *sh;

    sh = pool->sh;
    wait = ngx_current_msec - d->queued_at;

    ngx_shmtx_lock(&pool->shpool->mutex);

    if (sh->queued) {
        sh->queued--;
    }

    sh->waited++;
    sh->wait_ms += wait;

    if (sh->wait_max_ms < wait) {
        sh->wait_max_ms = wait;
    }

    if (timedout) {
        sh->timeouts++;
    }

    ngx_shmtx_unlock(&pool->shpool->mutex);

    ngx_queue_remove(&d->queue);
    d->queued = 0;

    if (d->deadline.timer_set) {
        ngx_del_timer(&d->deadline);
    }

    return wait;
}


static void
ngx_http_drover_dispatch_post_wake(ngx_http_drover_dispatch_pool_t *pool)
{
    if (ngx_queue_empty(&pool->waiting) || pool->wake.posted) {
        return;
    }

    pool->wake.log = ngx_cycle->log;

    ngx_post_event(&pool->wake, &ngx_posted_events);
}


/*
 * Posted after a release or a new waiter, and every few milliseconds
 * while this worker has waiters: the oldest get the free slots.  If
 * PATH.slots went away meanwhile, they go to PATH without dispatch.
 */

static void
ngx_http_drover_dispatch_wake(ngx_event_t *ev)
{
    ngx_uint_t                        k, plain;
    ngx_queue_t                      *q;
    ngx_connection_t                 *c;
    ngx_http_request_t               *r;
    ngx_http_drover_dispatch_sh_t    *sh;
    ngx_http_drover_dispatch_req_t   *d;
    ngx_http_drover_dispatch_pool_t  *pool;

    pool = ev->data;
    sh = pool->sh;

    ngx_http_drover_dispatch_refresh(pool, ev->log);

    while (!ngx_queue_empty(&pool->waiting)) {

        q = ngx_queue_head(&pool->waiting);
        d = ngx_queue_data(q, ngx_http_drover_dispatch_req_t, queue);

        ngx_shmtx_lock(&pool->shpool->mutex);

        plain = !sh->active;
        k = NGX_HTTP_DROVER_DISPATCH_NONE;

        if (!plain) {
            k = ngx_http_drover_dispatch_choose(sh,
                                                NGX_HTTP_DROVER_DISPATCH_NONE,
                                                d->limit, d->window);
            if (k != NGX_HTTP_DROVER_DISPATCH_NONE) {
                ngx_http_drover_dispatch_take(sh, d, k);
            }
        }

        ngx_shmtx_unlock(&pool->shpool->mutex);

        if (!plain && k == NGX_HTTP_DROVER_DISPATCH_NONE) {
            break;
        }

        (void) ngx_http_drover_dispatch_dequeue(pool, d, 0);

        d->dispatched = !plain;

        r = d->request;
        c = r->connection;

        r->read_event_handler = ngx_http_block_reading;

        ngx_http_upstream_init(r);
        ngx_http_run_posted_requests(c);
    }

    if (!ngx_queue_empty(&pool->waiting) && !pool->poll.timer_set) {
        pool->poll.log = ngx_cycle->log;
        ngx_add_timer(&pool->poll, NGX_HTTP_DROVER_DISPATCH_POLL);
    }
}


static void
ngx_http_drover_dispatch_timeout(ngx_event_t *ev)
{
    ngx_msec_t                       wait;
    ngx_connection_t                *c;
    ngx_http_request_t              *r;
    ngx_http_drover_dispatch_req_t  *d;

    d = ev->data;
    r = d->request;
    c = r->connection;

    wait = ngx_http_drover_dispatch_dequeue(d->pool, d, 1);

    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                  "drover: no worker of \"%V\" was free within %M ms "
                  "(drover_queue timeout), 503", &d->pool->path, wait);

    ngx_http_drover_dispatch_reject(r);
    ngx_http_run_posted_requests(c);
}


/* 503 with "Retry-After: 1": every worker is busy right now */

static void
ngx_http_drover_dispatch_reject(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);

    if (h != NULL) {
        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        ngx_str_set(&h->value, "1");
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
    }

    ngx_http_finalize_request(r, NGX_HTTP_SERVICE_UNAVAILABLE);
}


/* the request is freed: whatever it still has in the zone goes */

static void
ngx_http_drover_dispatch_cleanup(void *data)
{
    ngx_http_drover_dispatch_req_t  *d = data;

    if (d->queued) {
        (void) ngx_http_drover_dispatch_dequeue(d->pool, d, 0);
    }

    if (d->deadline.timer_set) {
        ngx_del_timer(&d->deadline);
    }

    ngx_http_drover_dispatch_release(d->pool, d, d->retrying);
}


/* ---- pipelining ---- */


/*
 * "drover_pipeline timeout" after a request went to its slot, and again
 * as long as it waits: while its bytes are all still in the socket (no
 * worker read it: the one there runs a long request) and a slot that is
 * free or began its request less than the timeout ago can take it, it
 * is taken back.  Its connection fails without a log line, the upstream
 * closes it (droverd drops a request closed before it read a byte of it)
 * and connects again, to the new slot.  No try is used up.
 */

static void
ngx_http_drover_dispatch_rescue(ngx_event_t *ev)
{
#if (NGX_LINUX && defined SIOCOUTQ)
    int                               unread;
    ngx_msec_t                        head;
    ngx_uint_t                        k, old, ticket, freed;
    ngx_connection_t                 *c;
    ngx_http_request_t               *r;
    ngx_http_upstream_t              *u;
    ngx_http_drover_dispatch_sh_t    *sh;
    ngx_http_drover_dispatch_req_t   *d;
    ngx_http_drover_dispatch_pool_t  *pool;

    d = ev->data;
    r = d->request;
    u = r->upstream;
    pool = d->pool;
    sh = pool->sh;

    if (!d->held || d->responded || d->moving || d->shut || u == NULL
        || !u->request_sent || !u->request_body_sent)
    {
        return;
    }

    c = u->peer.connection;

    if (c == NULL || c->read->eof || c->read->error) {
        return;
    }

    if (ngx_http_drover_dispatch_unread(c, ev->log, &unread) != NGX_OK
        || unread == 0)
    {
        /* the worker has it */
        return;
    }

    old = d->slot;
    ticket = d->ticket;

    /* a place elsewhere first: without one the request stays */

    ngx_shmtx_lock(&pool->shpool->mutex);

    k = ngx_http_drover_dispatch_choose(sh, old, d->limit, d->window);

    if (k != NGX_HTTP_DROVER_DISPATCH_NONE) {
        ngx_http_drover_dispatch_take(sh, d, k);
    }

    ngx_shmtx_unlock(&pool->shpool->mutex);

    if (k == NGX_HTTP_DROVER_DISPATCH_NONE) {
        ngx_add_timer(ev, d->window);
        return;
    }

    /*
     * Then the withdrawal: once the sending side is shut, droverd, which
     * reads such a request whole before it looks at that side, runs it
     * only if it read the last byte before the shutdown.  So bytes still
     * unread after it mean the request will not run there; none unread
     * means the worker may run it, and the request stays.
     */

    d->shut = 1;

    if (shutdown(c->fd, SHUT_WR) == -1) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, ngx_socket_errno,
                      "shutdown(SHUT_WR) failed");
        unread = 0;

    } else if (ngx_http_drover_dispatch_unread(c, ev->log, &unread)
               != NGX_OK)
    {
        unread = 0;
    }

    ngx_shmtx_lock(&pool->shpool->mutex);

    if (unread == 0) {
        ngx_http_drover_dispatch_leave(sh, k, d->ticket, 0);
        sh->requests--;

        d->slot = old;
        d->ticket = ticket;
        d->behind = 1;

    } else {

        /* the old slot's worker still runs the request it began */

        head = sh->slot[old].head;
        freed = sh->slot[old].freed;

        ngx_http_drover_dispatch_leave(sh, old, ticket, 0);

        sh->slot[old].head = head;
        sh->slot[old].freed = freed;

        sh->requests--;
        sh->moved++;
    }

    ngx_shmtx_unlock(&pool->shpool->mutex);

    ngx_http_drover_dispatch_post_wake(pool);

    if (unread == 0) {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "drover: request taken back from slot %ui of \"%V\", "
                  "whose worker did not read it within %M ms, "
                  "for slot %ui", old, &pool->path, d->window, k);

    d->moving = 1;

    c->recv = ngx_http_drover_dispatch_withdrawn;
    c->read->ready = 1;

    ngx_post_event(c->read, &ngx_posted_events);
#endif
}


#if (NGX_LINUX && defined SIOCOUTQ)

/* what the worker has not read yet of what was sent on c, in kernel units */

static ngx_int_t
ngx_http_drover_dispatch_unread(ngx_connection_t *c, ngx_log_t *log,
    int *unread)
{
    if (ioctl(c->fd, SIOCOUTQ, unread) == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_socket_errno,
                      "ioctl(SIOCOUTQ) failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the recv of a connection taken back: an error, without a log line */

static ssize_t
ngx_http_drover_dispatch_withdrawn(ngx_connection_t *c, u_char *buf,
    size_t size)
{
    c->read->ready = 0;
    c->read->error = 1;

    return NGX_ERROR;
}

#endif


/* ---- the peer ---- */


/* NGX_DECLINED: the request holds no slot, plain round robin serves it */

ngx_int_t
ngx_http_drover_dispatch_init_peer(ngx_http_request_t *r,
    ngx_http_drover_keepalive_t *ka, ngx_msec_t keepalive_timeout)
{
    ngx_http_upstream_t             *u;
    ngx_http_drover_ctx_t           *ctx;
    ngx_http_drover_loc_conf_t      *dlcf;
    ngx_http_drover_dispatch_req_t  *d;

    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    if (ctx == NULL || !ctx->dispatch.dispatched) {
        return NGX_DECLINED;
    }

    u = r->upstream;
    d = &ctx->dispatch;
    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_drover_module);

    d->keepalive = ka;
    d->keepalive_timeout = keepalive_timeout;

    u->peer.data = d;
    u->peer.get = ngx_http_drover_dispatch_get_peer;
    u->peer.free = ngx_http_drover_dispatch_free_peer;
    u->peer.tries = dlcf->retries + 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_drover_dispatch_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_drover_dispatch_req_t  *d = data;

    ngx_http_drover_dispatch_addr_t  *addr;

    if (d->retrying) {
        d->retrying = 0;
        d->attempts++;
        ngx_http_drover_dispatch_switch(d->pool, d);
    }

    if (!d->held) {
        return NGX_BUSY;
    }

    addr = ngx_http_drover_dispatch_addr(d->pool, d->slot);
    if (addr == NULL) {
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "drover dispatch: slot %ui, attempt %ui",
                   d->slot, d->attempts + 1);

    d->responded = 0;
    d->overloaded = 0;
    d->shut = 0;

    /*
     * Only a request sent behind another one is watched: one sent to a
     * free worker waits for nothing but the scheduler, and taking it back
     * on a loaded machine would cost a connection for no gain
     */

    if (d->behind) {
        d->rescue.handler = ngx_http_drover_dispatch_rescue;
        d->rescue.data = d;
        d->rescue.log = pc->log;

        ngx_add_timer(&d->rescue, d->window);
    }

    pc->sockaddr = &addr->sockaddr.sockaddr;
    pc->socklen = addr->socklen;
    pc->name = &addr->name;

    if (d->keepalive) {
        return ngx_http_drover_keepalive_get(d->keepalive, pc, 0);
    }

    return NGX_OK;
}


/*
 * A failure before any response byte (a crash, a reset, a close, a
 * refused connect, a cached connection found dead, FCGI_OVERLOADED) is
 * replayed while tries last, when the application cannot have acted on
 * it twice: the method is idempotent, nothing was sent, or the worker
 * refused it unread (OVERLOADED).  Upstream then calls get again.
 */

static void
ngx_http_drover_dispatch_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_drover_dispatch_req_t  *d = data;

    char                             *reason;
    ngx_http_request_t               *r;
    ngx_http_drover_dispatch_pool_t  *pool;

    r = d->request;
    pool = d->pool;

    if (d->rescue.timer_set) {
        ngx_del_timer(&d->rescue);
    }

    if (d->keepalive) {

        /* a connection shut for writing carries no further request */

        ngx_http_drover_keepalive_free(d->keepalive, r->upstream, pc,
                                       d->shut ? state | NGX_PEER_FAILED
                                               : state,
                                       d->keepalive_timeout);
    }

    if (d->moving) {

        /* taken back by the rescue timer: it holds its new slot already */

        d->moving = 0;
        return;
    }

    if (!(state & NGX_PEER_FAILED)) {
        if (ngx_http_drover_dispatch_drain(r, d, pc) != NGX_OK) {
            ngx_http_drover_dispatch_release(pool, d, 0);
        }

        return;
    }

    if (pc->tries) {
        pc->tries--;
    }

    reason = ngx_http_drover_dispatch_unreplayable(r, d, pc);

    if (reason == NULL && pc->tries == 0) {
        reason = "drover_retries reached";
    }

    ngx_shmtx_lock(&pool->shpool->mutex);

    if (reason) {
        pool->sh->failures++;

    } else {
        pool->sh->replays++;
    }

    ngx_shmtx_unlock(&pool->shpool->mutex);

    if (reason) {
        ngx_log_error(NGX_LOG_ERR, pc->log, 0,
                      "drover: request to slot %ui of \"%V\" failed, "
                      "not replayed: %s", d->slot, &pool->path, reason);

        pc->tries = 0;

        if (ngx_http_drover_dispatch_drain(r, d, pc) != NGX_OK) {
            ngx_http_drover_dispatch_release(pool, d, 1);
        }

        return;
    }

    ngx_log_error(NGX_LOG_WARN, pc->log, 0,
                  "drover: request to slot %ui of \"%V\" failed before "
                  "any response byte, replaying", d->slot, &pool->path);

    d->retrying = 1;
}


static char *
ngx_http_drover_dispatch_unreplayable(ngx_http_request_t *r,
    ngx_http_drover_dispatch_req_t *d, ngx_peer_connection_t *pc)
{
    ngx_connection_t     *c;
    ngx_http_upstream_t  *u;

    u = r->upstream;
    c = pc->connection;

    if (c && (c->read->timedout || c->write->timedout)) {
        return "timed out";
    }

    if (d->responded && !d->overloaded) {
        return "the response had begun";
    }

    /* not a byte reached the worker: a connection found dead on writing */

    if (!u->request_sent || (c && c->sent == 0)) {
        return NULL;
    }

    /* the body reader has moved on: what was sent cannot be sent again */

    if (r->request_body_no_buffering) {
        return "the request body is not buffered "
               "(drover_request_buffering off) and was sent in part";
    }

    if (d->overloaded) {
        return NULL;
    }

    if (!(r->method & NGX_HTTP_DROVER_DISPATCH_IDEMPOTENT)) {
        return "the method is not idempotent";
    }

    return NULL;
}


/* PATH.k: made on first use, kept for the life of the worker */

static ngx_http_drover_dispatch_addr_t *
ngx_http_drover_dispatch_addr(ngx_http_drover_dispatch_pool_t *pool,
    ngx_uint_t k)
{
    u_char                           *p;
    size_t                            len;
    struct sockaddr_un               *sun;
    ngx_http_drover_dispatch_addr_t  *addr;

    if (pool->addrs[k]) {
        return pool->addrs[k];
    }

    len = sizeof("unix:") - 1 + pool->path.len + sizeof(".255") - 1;

    addr = ngx_pcalloc(ngx_cycle->pool,
                       sizeof(ngx_http_drover_dispatch_addr_t) + len);
    if (addr == NULL) {
        return NULL;
    }

    sun = &addr->sockaddr.sockaddr_un;
    sun->sun_family = AF_UNIX;

    p = ngx_cpymem(sun->sun_path, pool->path.data, pool->path.len);
    (void) ngx_sprintf(p, ".%ui", k);

    addr->socklen = sizeof(struct sockaddr_un);

    addr->name.data = (u_char *) (addr + 1);
    addr->name.len = ngx_sprintf(addr->name.data, "unix:%V.%ui",
                                 &pool->path, k)
                     - addr->name.data;

    pool->addrs[k] = addr;

    return addr;
}


/*
 * A request given up before FCGI_END_REQUEST (a timeout, the client went
 * away) may still run in the worker, which serves one at a time: the slot
 * stays busy until the worker answers FCGI_ABORT_REQUEST (5.4) or ends
 * the request, closes, or the read timeout passes once more.  Only at a
 * record boundary of the request; else the connection is just closed.
 */

static ngx_int_t
ngx_http_drover_dispatch_drain(ngx_http_request_t *r,
    ngx_http_drover_dispatch_req_t *d, ngx_peer_connection_t *pc)
{
    u_char                             abort[NGX_HTTP_DROVER_FCGI_HEADER_LEN];
    ngx_connection_t                  *c;
    ngx_http_upstream_t               *u;
    ngx_http_drover_ctx_t             *ctx;
    ngx_http_drover_dispatch_drain_t  *dr;

    c = pc->connection;
    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    if (c == NULL
        || c->pool == NULL
        || !d->held
        || !u->request_sent
        || ctx->parser.end_request
        || ctx->failed
        || u->writer.out
        || u->output.in
        || c->read->eof
        || c->read->error
        || c->write->error)
    {
        return NGX_DECLINED;
    }

    dr = ngx_palloc(c->pool, sizeof(ngx_http_drover_dispatch_drain_t));
    if (dr == NULL) {
        return NGX_DECLINED;
    }

    if (!ctx->abort_sent) {
        ngx_http_drover_fcgi_write_header(abort,
                                          NGX_HTTP_DROVER_FCGI_ABORT_REQUEST,
                                          0, 0);

        if (send(c->fd, abort, sizeof(abort), 0) != (ssize_t) sizeof(abort)) {
            return NGX_DECLINED;
        }

        ctx->abort_sent = 1;
    }

    dr->pool = d->pool;
    dr->slot = d->slot;
    dr->ticket = d->ticket;
    dr->parser = ctx->parser;

    d->held = 0;

    if (d->rescue.timer_set) {
        ngx_del_timer(&d->rescue);
    }
    pc->connection = NULL;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "drover dispatch: draining slot %ui, connection %p",
                   dr->slot, c);

    c->data = dr;
    c->idle = 1;
    c->log = ngx_cycle->log;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;
    c->pool->log = ngx_cycle->log;

    c->read->timedout = 0;
    c->read->handler = ngx_http_drover_dispatch_drain_handler;
    c->write->handler = ngx_http_drover_dispatch_drain_dummy;

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    ngx_add_timer(c->read, u->conf->read_timeout);

    if (c->read->ready) {
        ngx_post_event(c->read, &ngx_posted_events);

    } else if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        c->close = 1;
        ngx_post_event(c->read, &ngx_posted_events);
    }

    return NGX_OK;
}


static void
ngx_http_drover_dispatch_drain_handler(ngx_event_t *ev)
{
    u_char                             buf[4096], *p;
    ssize_t                            n;
    ngx_int_t                          rc;
    ngx_str_t                          data;
    ngx_uint_t                         done;
    ngx_connection_t                  *c;
    ngx_http_drover_dispatch_drain_t  *dr;

    c = ev->data;
    dr = c->data;

    done = (c->close || ev->timedout);

    while (!done) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c->read, 0) == NGX_OK) {
                return;
            }

            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            break;
        }

        p = buf;

        do {
            rc = ngx_http_drover_fcgi_parse(&dr->parser, &p, buf + n, &data,
                                            c->log);
        } while (rc == NGX_OK);

        done = (rc != NGX_AGAIN);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "drover dispatch: slot %ui drained, connection %p",
                   dr->slot, c);

    ngx_http_drover_dispatch_free_slot(dr->pool, dr->slot, dr->ticket, 0);

    ngx_destroy_pool(c->pool);
    ngx_close_connection(c);
}


static void
ngx_http_drover_dispatch_drain_dummy(ngx_event_t *ev)
{
}


/* ---- statistics ---- */


ngx_http_drover_dispatch_pool_t *
ngx_http_drover_dispatch_find(ngx_cycle_t *cycle, ngx_str_t *path)
{
    ngx_uint_t                          i;
    ngx_http_drover_main_conf_t        *dmcf;
    ngx_http_drover_dispatch_pool_t   **poolp;

    dmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_drover_module);
    if (dmcf == NULL) {
        return NULL;
    }

    poolp = dmcf->pools.elts;

    for (i = 0; i < dmcf->pools.nelts; i++) {
        if (poolp[i]->path.len == path->len
            && ngx_strncmp(poolp[i]->path.data, path->data, path->len) == 0)
        {
            return poolp[i];
        }
    }

    return NULL;
}


ngx_array_t *
ngx_http_drover_dispatch_pools(ngx_cycle_t *cycle)
{
    ngx_http_drover_main_conf_t  *dmcf;

    dmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_drover_module);

    return dmcf != NULL ? &dmcf->pools : NULL;
}


void
ngx_http_drover_dispatch_stats(ngx_http_drover_dispatch_pool_t *pool,
    ngx_http_drover_dispatch_stats_t *st)
{
    ngx_uint_t                      k, n;
    ngx_http_drover_dispatch_sh_t  *sh;

    ngx_memzero(st, sizeof(ngx_http_drover_dispatch_stats_t));

    sh = pool->sh;

    if (sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&pool->shpool->mutex);

    st->active = sh->active;
    st->generation = sh->generation;
    st->slots = sh->nslots;
    st->queued = sh->queued;

    n = ngx_min(sh->nslots, NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS);

    for (k = 0; k < n; k++) {
        st->up += sh->slot[k].up;
        st->busy += (sh->slot[k].busy != 0);
        st->inflight += sh->slot[k].busy;
    }

    st->requests = sh->requests;
    st->waited = sh->waited;
    st->wait_ms = sh->wait_ms;
    st->wait_max_ms = sh->wait_max_ms;
    st->overflows = sh->overflows;
    st->timeouts = sh->timeouts;
    st->replays = sh->replays;
    st->failures = sh->failures;
    st->pipelined = sh->pipelined;
    st->moved = sh->moved;

    ngx_shmtx_unlock(&pool->shpool->mutex);
}
