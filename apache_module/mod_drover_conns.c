/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */

/* mod_drover's kept-alive connections to droverd's slot sockets: a few idle
 * ones per slot in each Apache child, shared by its threads. */

#include "mod_drover.h"

#include "apr_thread_mutex.h"

#include <poll.h>
#include <unistd.h>

/*
 * A connection is put back only after a whole exchange (FCGI_END_REQUEST
 * read, the whole request sent, FCGI_KEEP_CONN asked): it carries nothing
 * of a request then. One taken out is looked at first (a poll of no
 * time): a worker that exited (a reload, kill -9, a graceful stop) closed
 * it, and it is dropped rather than used. Plain mode and "kind exec"
 * slots never get here: one request per connection.
 */

typedef struct {
    int  fd[DROVER_KEEP_IDLE];
    int  n;
} idle_t;

static apr_thread_mutex_t  *conns_mutex;
static idle_t              *idle;        /* [pool * DROVER_MAX_SLOTS + k] */
static int                  npools;


void
drover_conns_child_init(apr_pool_t *p)
{
    npools = drover_slots_pools();
    idle = NULL;

    if (npools == 0
        || apr_thread_mutex_create(&conns_mutex, APR_THREAD_MUTEX_DEFAULT, p)
           != APR_SUCCESS)
    {
        npools = 0;                     /* nothing is kept */
        return;
    }

    idle = apr_pcalloc(p, sizeof(idle_t) * DROVER_MAX_SLOTS
                          * (apr_size_t) npools);
}


/* gone (EOF, reset) or holding bytes nobody asked for: not usable */
static int
usable(int fd)
{
    struct pollfd  pfd;

    pfd.fd = fd;
    pfd.events = POLLIN | POLLRDHUP;
    pfd.revents = 0;

    return poll(&pfd, 1, 0) == 0;
}


/* an idle connection to slot k of the pool, or -1 */
int
drover_conns_get(int pool, int slot)
{
    idle_t  *il;
    int      fd;

    if (pool >= npools || slot < 0 || slot >= DROVER_MAX_SLOTS) {
        return -1;
    }

    il = &idle[pool * DROVER_MAX_SLOTS + slot];

    for (;;) {
        apr_thread_mutex_lock(conns_mutex);
        fd = il->n > 0 ? il->fd[--il->n] : -1;
        apr_thread_mutex_unlock(conns_mutex);

        if (fd < 0 || usable(fd)) {
            return fd;
        }

        close(fd);
    }
}


/* fd after a whole exchange: kept, or closed when enough are */
void
drover_conns_put(int pool, int slot, int fd)
{
    idle_t  *il;

    if (pool >= npools || slot < 0 || slot >= DROVER_MAX_SLOTS) {
        close(fd);
        return;
    }

    il = &idle[pool * DROVER_MAX_SLOTS + slot];

    apr_thread_mutex_lock(conns_mutex);
    if (il->n < DROVER_KEEP_IDLE) {
        il->fd[il->n++] = fd;
        fd = -1;
    }
    apr_thread_mutex_unlock(conns_mutex);

    if (fd >= 0) {
        close(fd);
    }
}
