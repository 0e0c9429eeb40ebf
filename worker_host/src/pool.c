/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * pool.c -- a pool: its listening sockets, creating, resizing, removing
 * and freeing it.
 */

#include "manager_int.h"
#include "log.h"
#include "ondemand.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


/* ---- sockets ---- */

void
drover_listen_owner(const drover_pool_conf_t *pc, uid_t *uid, gid_t *gid)
{
    const drover_listen_conf_t  *l = &pc->listen;

    /* owned by the pool's user unless told otherwise (php-fpm does so too) */
    *uid = l->owner != (uid_t) -1 ? l->owner : pc->uid;
    *gid = l->group != (gid_t) -1 ? l->group : pc->gid;

    if (geteuid() != 0) {
        *uid = l->owner;
        *gid = l->group;
    }
}


/*
 * At startup a socket still held by the workers of a droverd that was just
 * killed is released within milliseconds (they die with their manager):
 * wait up to 2 s for it before giving up.  Never later: the loop runs then.
 */
static int
manager_socket_listen(drover_manager_t *m, drover_socket_t *sock,
    const char *path, const drover_pool_conf_t *pc, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
    int              rc, tries;
    unsigned         waited_ms, ms;
    struct timespec  ts;

    /* checked at every load already; again right before the name exists */
    rc = drover_socket_dir_check(path, err, errlen);
    if (rc != 0) {
        return rc;
    }

    waited_ms = 0;

    /* a few probes, further apart each time: each one sits in the backlog */
    for (tries = 0; ; tries++) {
        rc = drover_socket_listen(sock, path, pc->listen.mode, uid, gid, err,
                                  errlen);

        if (rc != -EADDRINUSE || m->started_ms != 0 || waited_ms >= 2000) {
            break;
        }

        ms = 50u << (tries < 4 ? tries : 4);
        waited_ms += ms;
        ts.tv_sec = 0;
        ts.tv_nsec = (long) ms * 1000 * 1000;

        if (tries == 0) {
            drover_log_error(DROVER_LOG_NOTICE, 0, "%s: waiting up to 2 s "
                             "for the processes of a previous droverd to "
                             "let go of it", path);
        }

        nanosleep(&ts, NULL);
    }

    /* listen acl=USER: through the node bound, before any worker runs */
    if (rc == 0 && pc->listen.nacl != 0) {
        rc = drover_socket_set_acl(sock, pc->listen.mode, pc->listen.acl,
                                   pc->listen.nacl, err, errlen);
        if (rc != 0) {
            drover_socket_close(sock);
        }
    }

    return rc;
}


int
drover_slot_listen(drover_slot_t *s, const drover_pool_conf_t *pc)
{
    int    rc;
    char   path[256], err[1024];
    uid_t  uid;
    gid_t  gid;

    drover_listen_owner(pc, &uid, &gid);

    rc = drover_conf_slot_path(pc, s->index, path, sizeof(path));
    if (rc == 0) {
        rc = manager_socket_listen(s->pool->mgr, &s->sock, path, pc, uid,
                                   gid, err, sizeof(err));
    } else {
        snprintf(err, sizeof(err), "slot %u: socket path too long",
                 s->index);
    }

    if (rc == 0 && pc->tcp.port != 0) {
        rc = drover_socket_listen_tcp(&s->sock, pc->tcp.addr,
                                      pc->tcp.port + 1 + s->index, err,
                                      sizeof(err));
    }

    if (rc != 0) {
        drover_log_error(DROVER_LOG_EMERG, 0, "%s:%u: pool \"%s\": %s",
                         pc->listen.file, pc->listen.line, pc->name, err);
    }

    return rc;
}


/*
 * `listen tcp:ADDR:PORT`: the pool's shared port PORT and slot k's port
 * PORT + 1 + k, as the config the worker starts with says (a reload may
 * add, move or drop them; the old workers keep the copies they have).
 * 0, or a negative code, logged.
 */
int
drover_pool_tcp_listen(drover_pool_t *p, drover_slot_t *s,
    const drover_pool_conf_t *pc)
{
    int               i, rc;
    char              err[1024];
    unsigned          port;
    drover_socket_t  *sock;

    for (i = 0; i < 2; i++) {
        sock = (i == 0) ? &p->shared : &s->sock;
        port = pc->tcp.port == 0 ? 0
               : pc->tcp.port + (i == 0 ? 0 : 1 + s->index);

        if (sock->tcp_port == port) {
            continue;
        }

        drover_socket_close_tcp(sock);

        if (port == 0) {
            continue;
        }

        rc = drover_socket_listen_tcp(sock, pc->tcp.addr, port, err,
                                      sizeof(err));
        if (rc != 0) {
            drover_log_error(DROVER_LOG_ERROR, 0, "%s:%u: pool \"%s\": %s",
                             pc->tcp.file, pc->tcp.line, pc->name, err);
            return rc;
        }
    }

    return 0;
}


/*
 * The file mode and owner of existing sockets follow a reload, set through
 * a descriptor of the node droverd bound and never by following the name
 * (the pool's user may be able to replace it with a symlink).
 */
void
drover_pool_listen_update(drover_pool_t *p, const drover_pool_conf_t *pc)
{
    unsigned  k;
    uid_t     uid;
    gid_t     gid;
    char      err[1024];

    drover_listen_owner(pc, &uid, &gid);

    /*
     * An exec pool has no shared socket (exec.h): a reload that turns an
     * exec pool into an app pool binds it before the new workers start,
     * the other way round closes it (the old workers keep their copies)
     */
    if (pc->exec_argv == NULL && p->shared.fd == -1) {
        if (manager_socket_listen(p->mgr, &p->shared, pc->listen.path, pc,
                                  uid, gid, err, sizeof(err)) != 0)
        {
            drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: %s", pc->name,
                             err);
        }

    } else if (pc->exec_argv != NULL && p->shared.fd != -1) {
        drover_socket_close(&p->shared);
    }

    for (k = 0; k <= p->nslots; k++) {
        drover_socket_t  *sock = (k == p->nslots) ? &p->shared
                                                  : &p->slots[k]->sock;

        if (sock->path == NULL) {
            continue;
        }

        /* the mode first: a chmod() rewrites an ACL's mask */
        if (drover_socket_set_mode(sock, pc->listen.mode, uid, gid, err,
                                   sizeof(err)) != 0
            || drover_socket_set_acl(sock, pc->listen.mode, pc->listen.acl,
                                     pc->listen.nacl, err, sizeof(err)) != 0)
        {
            drover_log_error(DROVER_LOG_ERROR, 0, "pool %s: %s", pc->name,
                             err);
        }
    }
}


static void
pool_handoff_close(drover_pool_t *p)
{
    int  i;

    for (i = 0; i < 2; i++) {
        if (p->handoff[i] >= 0) {
            close(p->handoff[i]);
            p->handoff[i] = -1;
        }
    }
}


static void
pool_free_cb(uv_handle_t *h)
{
    drover_pool_t  *p = h->data;

    drover_output_close(p->output);

    if (p->sb_fd >= 0) {
        close(p->sb_fd);
        drover_sb_unmap(p->sb);
    }

    free(p->slots);
    free(p->name);
    free(p);
}


/* a removed pool goes once its workers and preloaders are gone */
void
drover_pool_maybe_free(drover_pool_t *p)
{
    unsigned         k;
    drover_gen_t    *g;
    drover_pool_t  **pp;

    /* scaled-away slots are always the last ones: index == position */
    while (p->nslots > 0 && p->slots[p->nslots - 1]->scale == SLOT_LEFT
           && !drover_slot_has_worker(p->slots[p->nslots - 1]))
    {
        drover_slot_destroy(p->slots[--p->nslots]);
    }

    if (!drover_pool_removing(p) || drover_manager_stopping(p->mgr)) {
        return;
    }

    for (k = 0; k < p->nslots; k++) {
        if (drover_slot_has_worker(p->slots[k])) {
            return;
        }
    }

    for (g = p->gens; g != NULL; g = g->next) {
        if (g->pid > 0) {
            return;
        }
    }

    if (p->state == POOL_REMOVING) {
        drover_pool_set_state(p, POOL_GONE, "its processes are gone");

        for (pp = &p->mgr->pools; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == p) {
                *pp = p->next;
                break;
            }
        }

        drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: removed", p->name);
        drover_pool_unlink_slots(p);
        drover_ondemand_pool_gone(p);

        /* none of its processes is left; out of m->pools, it closes now */
        drover_output_drain(p->output, 0);
        drover_output_close(p->output);
        p->output = NULL;

        for (k = 0; k < p->nslots; k++) {
            drover_slot_destroy(p->slots[k]);
        }

        p->nslots = 0;
        drover_socket_close(&p->shared);
        pool_handoff_close(p);

        if (p->prestart != NULL) {
            drover_prestart_cancel(p->prestart);
            p->prestart = NULL;
        }

        p->cur = NULL;
        p->prev = NULL;
        p->pending = NULL;

        /* each drover_gen_free_cb comes back here; the last one frees the
           pool */
        for (g = p->gens; g != NULL; g = g->next) {
            drover_gen_retire(g);
        }
    }

    if (p->gens == NULL && !uv_is_closing((uv_handle_t *) &p->roll_timer)) {
        uv_close((uv_handle_t *) &p->roll_timer, pool_free_cb);
    }
}


drover_pool_t *
drover_pool_create(drover_manager_t *m, drover_confref_t *ref,
    drover_pool_conf_t *pc)
{
    int             rc;
    char            err[1024];
    uid_t           uid;
    gid_t           gid;
    unsigned        k;
    drover_gen_t   *g;
    drover_pool_t  *p;

    p = calloc(1, sizeof(drover_pool_t));
    if (p == NULL) {
        return NULL;
    }

    p->mgr = m;
    p->shared.fd = -1;
    p->handoff[0] = -1;
    p->handoff[1] = -1;
    p->sb_fd = -1;
    p->name = strdup(pc->name);
    p->slots = calloc(DROVER_CONF_MAX_WORKERS, sizeof(drover_slot_t *));

    if (p->name == NULL || p->slots == NULL) {
        goto fail;
    }

    rc = drover_sb_create(&p->sb_fd, &p->sb);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_EMERG, -rc, "pool %s: cannot create its "
                         "scoreboard", pc->name);
        goto fail;
    }

    rc = drover_output_open(&m->loop, pc->name, &p->output);
    if (rc != 0) {
        drover_log_error(DROVER_LOG_EMERG, rc, "pool %s: cannot create the "
                         "socket for its processes' output", pc->name);
        goto fail;
    }

    drover_listen_owner(pc, &uid, &gid);

    /*
     * An exec pool's program accepts on its slot socket alone (fd 0): the
     * shared socket would have no one behind it, so it is not bound and a
     * connection to it fails at once instead of hanging (exec.h).
     */
    rc = (pc->exec_argv != NULL) ? 0
         : manager_socket_listen(m, &p->shared, pc->listen.path, pc, uid,
                                 gid, err, sizeof(err));

    if (rc == 0 && pc->tcp.port != 0) {
        rc = drover_socket_listen_tcp(&p->shared, pc->tcp.addr, pc->tcp.port,
                                      err, sizeof(err));
    }

    if (rc != 0) {
        drover_log_error(DROVER_LOG_EMERG, 0, "%s:%u: pool \"%s\": %s",
                         pc->listen.file, pc->listen.line, pc->name, err);
        goto fail;
    }

    /*
     * Before any worker, like the shared socket: the manager holds both
     * ends for the pool's life, so a connection in flight outlives the
     * worker that sent it and waits for a free one, as in the backlog.
     */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
                   p->handoff) != 0)
    {
        drover_log_error(DROVER_LOG_EMERG, errno, "pool %s: cannot create "
                         "its handoff channel", pc->name);
        p->handoff[0] = -1;
        p->handoff[1] = -1;
        goto fail;
    }

    for (k = 0; k < pc->workers; k++) {
        p->slots[k] = drover_slot_create(p, k);
        if (p->slots[k] == NULL) {
            goto fail;
        }

        p->nslots++;

        if (drover_slot_listen(p->slots[k], pc) != 0) {
            goto fail;
        }
    }

    g = drover_gen_create(p, ref, pc);
    if (g == NULL) {
        goto fail;
    }

    p->budget_wait = pc->workers_auto && pc->workers > 1
                     && (pc->memory_budget != 0
                         || ref->conf->memory_budget != 0);

    /* nothing fails past here: the pool's handles need a close callback */
    uv_timer_init(&m->loop, &p->roll_timer);
    p->roll_timer.data = p;

    p->pending = g;

    return p;

fail:

    for (k = 0; k < p->nslots; k++) {
        drover_slot_destroy(p->slots[k]);
    }

    drover_socket_close(&p->shared);
    pool_handoff_close(p);
    drover_output_close(p->output);

    if (p->sb_fd >= 0) {
        close(p->sb_fd);
        drover_sb_unmap(p->sb);
    }

    free(p->slots);
    free(p->name);
    free(p);

    return NULL;
}


void
drover_pool_announce(drover_pool_t *p)
{
    drover_pool_conf_t  *pc = drover_pool_conf(p);

    if (pc->ondemand) {
        drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: on demand, up to %u "
                         "workers on %s (slots %s.0 .. %s.%u), preload %s, "
                         "idle %u ms", p->name, pc->workers, pc->listen.path,
                         pc->listen.path, pc->listen.path, pc->workers - 1,
                         pc->preload ? "on" : "off", pc->idle_ms);
        return;
    }

    if (pc->exec_argv != NULL) {
        drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: %u slots run %s "
                         "on %s.0 .. %s.%u; %s itself is not bound: its "
                         "program takes one connection at a time on its "
                         "slot socket, so front ends use drover_pass or a "
                         "slot socket", p->name, pc->workers,
                         pc->exec_argv[0], pc->listen.path, pc->listen.path,
                         pc->workers - 1, pc->listen.path);
        return;
    }

    drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: %u workers on %s "
                     "(slots %s.0 .. %s.%u), preload %s", p->name,
                     pc->workers, pc->listen.path, pc->listen.path,
                     pc->listen.path, pc->workers - 1,
                     pc->preload ? "on" : "off");
}


/* workers N -> M: new slots get sockets now, extra ones stop */
int
drover_pool_resize(drover_pool_t *p, drover_pool_conf_t *pc, unsigned n)
{
    unsigned        k;
    drover_slot_t  *s;

    /* slots still on their way out that the new count keeps */
    for (k = 0; k < p->nslots && k < n; k++) {
        drover_slot_set_scale(p->slots[k], SLOT_KEPT, "scaled back");
    }

    for (k = p->nslots; k < n; k++) {
        s = drover_slot_create(p, k);
        if (s == NULL) {
            return -ENOMEM;
        }

        if (drover_slot_listen(s, pc) != 0) {
            drover_slot_destroy(s);
            return -EADDRINUSE;
        }

        p->slots[p->nslots++] = s;
    }

    for (k = n; k < p->nslots; k++) {
        s = p->slots[k];

        if (!drover_slot_has_worker(s)) {
            drover_slot_set_scale(s, SLOT_LEFT, "scaled away");
        } else {
            drover_slot_set_scale(s, SLOT_LEAVING, "scaled away");
            drover_slot_stop(s, EXIT_STOP, SIGTERM);
        }
    }

    drover_pool_maybe_free(p);
    return 0;
}
