/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * slotsfile.c -- the .slots file beside a pool's socket: which slot
 * sockets have a worker, for nginx's dispatch.
 */

#include "manager_int.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>


/* ---- the .slots file: which slot sockets have a worker, for nginx ---- */

static const char *
slot_up_name(drover_slot_t *s)
{
    return (s->state == SLOT_RUNNING && s->scale == SLOT_KEPT) ? "up" : "down";
}


/* the slots a connection may start a worker in: the first ones, kept */
static unsigned
pool_slots_kept(drover_pool_t *p)
{
    unsigned  k;

    for (k = 0; k < p->nslots && p->slots[k]->scale == SLOT_KEPT; k++) {
        /* void */
    }

    return k;
}


static unsigned long long
pool_slots_sig(drover_pool_t *p)
{
    unsigned            k;
    unsigned long long  h = 1469598103934665603ULL;

    h = (h ^ p->nslots) * 1099511628211ULL;
    h = (h ^ (drover_pool_conf(p)->ondemand ? pool_slots_kept(p) + 1 : 0))
        * 1099511628211ULL;
    h = (h ^ drover_pool_public_state(p)[0]) * 1099511628211ULL;
    h = (h ^ (p->cur ? p->cur->id : 0)) * 1099511628211ULL;

    for (k = 0; k < p->nslots; k++) {
        h = (h ^ (unsigned long long) p->slots[k]->pid) * 1099511628211ULL;
        h = (h ^ (slot_up_name(p->slots[k])[0] == 'u')) * 1099511628211ULL;
    }

    return h | 1;   /* never 0: 0 means "not written yet" */
}


size_t
drover_slots_render(drover_pool_t *p, char *buf, size_t size, int net)
{
    size_t               len;
    unsigned             k, port;
    drover_pool_conf_t  *pc = drover_pool_conf(p);

    len = (size_t) snprintf(buf, size, "drover-%sslots 1\npool %s\n"
                            "generation %u\nstate %s\n%sslots %u\n",
                            net ? "net" : "", p->name,
                            p->cur ? p->cur->id : 0,
                            drover_pool_public_state(p),
                            pc->exec_argv != NULL ? "kind exec\n" : "",
                            p->nslots);

    /* over the network, where each slot listens: "K up PID PORT" */
    if (net) {
        len += (size_t) snprintf(buf + len, size - len, "port %u\n",
                                 p->shared.tcp_port);
    }

    for (k = 0; k < p->nslots && len < size - 64; k++) {
        len += (size_t) snprintf(buf + len, size - len, "%u %s %ld", k,
                                 slot_up_name(p->slots[k]),
                                 (long) p->slots[k]->pid);

        port = p->slots[k]->sock.tcp_port;
        len += (size_t) (net ? snprintf(buf + len, size - len, " %u\n", port)
                             : snprintf(buf + len, size - len, "\n"));
    }

    /* workers ondemand: a connection to a down slot below N starts it */
    if (pc->ondemand && len < size - 64) {
        len += (size_t) snprintf(buf + len, size - len, "ondemand %u\n",
                                 pool_slots_kept(p));
    }

    return len;
}


/*
 * LISTEN.slots, replaced atomically: the nginx module reads it to learn
 * which slot sockets have a worker behind them.
 *
 *     drover-slots 1
 *     pool kit
 *     generation 3
 *     state serving
 *     slots 2
 *     0 up 1234
 *     1 down 0
 *
 *     ondemand 2           (workers ondemand: down slots 0 and 1 start a
 *                           worker when a connection comes)
 *
 * (docs/protocols.md; "state" is the pool's as in the status object: with
 * "failing" and no slot up, the module answers 503 at once; "kind exec"
 * after it for an exec pool: one connection at a time per slot, no
 * pipelining, no keepalive)
 */
static void
pool_write_slots(drover_pool_t *p)
{
    int                  fd, n;
    char                 path[PATH_MAX], tmp[PATH_MAX], buf[16384];
    size_t               len;
    uid_t                uid;
    gid_t                gid;
    drover_pool_conf_t  *pc = drover_pool_conf(p);

    (void) uid;

    n = snprintf(path, sizeof(path), "%s.slots", pc->listen.path);
    if (n < 0 || (size_t) n >= sizeof(path)
        || snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp))
    {
        return;
    }

    len = drover_slots_render(p, buf, sizeof(buf), 0);

    unlink(tmp);

    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
              pc->listen.mode & 0644);
    if (fd == -1) {
        drover_log_error(DROVER_LOG_ERROR, errno, "pool %s: cannot write %s",
                         p->name, tmp);
        return;
    }

    /* readable by whoever may connect, written only by droverd itself */
    drover_listen_owner(pc, &uid, &gid);

    if (write(fd, buf, len) != (ssize_t) len
        || fchmod(fd, pc->listen.mode & 0644) != 0
        || (gid != (gid_t) -1 && fchown(fd, (uid_t) -1, gid) != 0)
        || drover_socket_acl_file(fd, pc->listen.mode & 0644,
                                  pc->listen.acl, pc->listen.nacl) != 0
        || close(fd) != 0
        || rename(tmp, path) != 0)
    {
        drover_log_error(DROVER_LOG_ERROR, errno, "pool %s: cannot write %s",
                         p->name, path);
        unlink(tmp);
        return;
    }
}


void
drover_pool_unlink_slots(drover_pool_t *p)
{
    char  path[PATH_MAX];

    if (p->slots_sig == 0
        || snprintf(path, sizeof(path), "%s.slots",
                    drover_pool_conf(p)->listen.path)
           >= (int) sizeof(path))
    {
        return;
    }

    unlink(path);
    p->slots_sig = 0;
}


/* before the loop waits: rewrite the .slots files that changed */
void
drover_slots_prepare_cb(uv_prepare_t *h)
{
    drover_pool_t       *p;
    drover_manager_t    *m = h->data;
    unsigned long long   sig;

    for (p = m->pools; p != NULL; p = p->next) {
        if (drover_pool_removing(p)
            || (p->cur == NULL && p->pending == NULL))
        {
            continue;
        }

        sig = pool_slots_sig(p);
        if (sig != p->slots_sig) {
            p->slots_sig = sig;
            pool_write_slots(p);
        }
    }
}
