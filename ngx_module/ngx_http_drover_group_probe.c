
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: a group's hosts asked for their slots (ngx_http_drover_group.c):
 * the lease, the connection to droverd's status_listen or the read of
 * PATH.slots, the answer parsed ("drover-netslots 1", docs/fastcgi.md)
 * and written into the zones.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_module.h"
#include "ngx_http_drover_slots.h"
#include "ngx_http_drover_queue.h"
#include "ngx_http_drover_group.h"


static void ngx_http_drover_group_probe(ngx_http_drover_group_host_t *host,
    ngx_log_t *log);
static void ngx_http_drover_group_probe_file(
    ngx_http_drover_group_host_t *host, ngx_log_t *log);
static void ngx_http_drover_group_write_handler(ngx_event_t *wev);
static void ngx_http_drover_group_read_handler(ngx_event_t *rev);
static void ngx_http_drover_group_timeout(ngx_event_t *ev);
static void ngx_http_drover_group_done(ngx_http_drover_group_host_t *host,
    char *err);
static char *ngx_http_drover_group_parse(u_char *p, u_char *last,
    ngx_http_drover_group_answer_t *a);
static void ngx_http_drover_group_apply(ngx_http_drover_group_host_t *host,
    ngx_http_drover_group_answer_t *a, char *err, ngx_log_t *log);


/* each nginx worker: the hosts' buffers and deadlines, then the first tick */

ngx_int_t
ngx_http_drover_group_probe_init(ngx_http_drover_group_t *g,
    ngx_cycle_t *cycle)
{
    ngx_uint_t                     j;
    ngx_http_drover_group_host_t  *host;

    host = g->hosts.elts;

    for (j = 0; j < g->hosts.nelts; j++) {
        host[j].buf = ngx_palloc(cycle->pool,
                                 NGX_HTTP_DROVER_GROUP_ANSWER_MAX);
        if (host[j].buf == NULL) {
            return NGX_ERROR;
        }

        host[j].deadline.handler = ngx_http_drover_group_timeout;
        host[j].deadline.data = &host[j];
        host[j].deadline.log = cycle->log;
        host[j].deadline.cancelable = 1;
    }

    g->tick.handler = ngx_http_drover_group_tick;
    g->tick.data = g;
    g->tick.log = cycle->log;
    g->tick.cancelable = 1;

    ngx_http_drover_group_tick(&g->tick);

    return NGX_OK;
}


/* every few ms: probe each host whose turn it is and whose lease is free */

void
ngx_http_drover_group_tick(ngx_event_t *ev)
{
    ngx_uint_t                        i, take;
    ngx_http_drover_group_t          *g;
    ngx_http_drover_group_host_t     *host;
    ngx_http_drover_group_host_sh_t  *hs;

    g = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    host = g->hosts.elts;

    for (i = 0; i < g->hosts.nelts; i++) {
        if (host[i].busy) {
            continue;
        }

        hs = &g->sh->host[i];

        ngx_shmtx_lock(&g->shpool->mutex);

        /* a lease twice the timeout old is of a worker that went away */

        take = (hs->lease == 0
                || ngx_current_msec - hs->lease
                   > 2 * NGX_HTTP_DROVER_GROUP_TIMEOUT)
               && (ngx_msec_int_t) (ngx_current_msec - hs->next) >= 0;

        if (take) {
            hs->lease = ngx_current_msec ? ngx_current_msec : 1;
        }

        ngx_shmtx_unlock(&g->shpool->mutex);

        if (take) {
            ngx_http_drover_group_probe(&host[i], ev->log);
        }
    }

    ngx_add_timer(ev, NGX_HTTP_DROVER_GROUP_TICK);
}


static void
ngx_http_drover_group_probe(ngx_http_drover_group_host_t *host,
    ngx_log_t *log)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    host->busy = 1;
    host->len = 0;
    host->sent = 0;

    if (host->unix_host) {
        ngx_http_drover_group_probe_file(host, log);
        return;
    }

    ngx_memzero(&host->peer, sizeof(ngx_peer_connection_t));

    host->peer.sockaddr = host->addr.sockaddr;
    host->peer.socklen = host->addr.socklen;
    host->peer.name = &host->addr.name;
    host->peer.get = ngx_event_get_peer;
    host->peer.log = log;
    host->peer.log_error = NGX_ERROR_INFO;

    rc = ngx_event_connect_peer(&host->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        host->peer.connection = NULL;
        ngx_http_drover_group_done(host, "cannot connect");
        return;
    }

    c = host->peer.connection;

    c->data = host;
    c->read->handler = ngx_http_drover_group_read_handler;
    c->write->handler = ngx_http_drover_group_write_handler;
    c->log = log;
    c->read->log = log;
    c->write->log = log;

    ngx_add_timer(&host->deadline, NGX_HTTP_DROVER_GROUP_TIMEOUT);

    if (rc == NGX_OK) {
        ngx_http_drover_group_write_handler(c->write);
    }
}


/* a droverd on this host: PATH.slots, read as the pool's own would be */

static void
ngx_http_drover_group_probe_file(ngx_http_drover_group_host_t *host,
    ngx_log_t *log)
{
    ssize_t   n;
    ngx_fd_t  fd;

    fd = ngx_open_file(host->slots_path.data,
                       NGX_FILE_RDONLY|NGX_FILE_NONBLOCK, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_http_drover_group_done(host, "no .slots file");
        return;
    }

    n = ngx_read_fd(fd, host->buf, NGX_HTTP_DROVER_GROUP_ANSWER_MAX);

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &host->slots_path);
    }

    if (n <= 0 || n == NGX_HTTP_DROVER_GROUP_ANSWER_MAX) {
        ngx_http_drover_group_done(host, "cannot read the .slots file");
        return;
    }

    host->len = n;

    ngx_http_drover_group_done(host, NULL);
}


static void
ngx_http_drover_group_write_handler(ngx_event_t *wev)
{
    int                            err;
    u_char                         line[NGX_HTTP_DROVER_GROUP_NAME_MAX + 16];
    u_char                        *last;
    ssize_t                        n;
    socklen_t                      len;
    ngx_connection_t              *c;
    ngx_http_drover_group_host_t  *host;

    c = wev->data;
    host = c->data;

    if (host->sent) {
        return;
    }

    /* the connect's outcome (a refused one ends here) */

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_http_drover_group_done(host, err == NGX_ECONNREFUSED
                                         ? "connection refused"
                                         : "cannot connect");
        return;
    }

    last = ngx_sprintf(line, "slots %V\n", &host->pool);

    n = c->send(c, line, last - line);

    if (n == NGX_AGAIN) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_drover_group_done(host, "cannot send");
        }

        return;
    }

    if (n != last - line) {
        ngx_http_drover_group_done(host, "cannot send");
        return;
    }

    host->sent = 1;

    if (c->read->ready) {
        ngx_http_drover_group_read_handler(c->read);
        return;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_drover_group_done(host, "cannot read");
    }
}


static void
ngx_http_drover_group_read_handler(ngx_event_t *rev)
{
    ssize_t                        n;
    ngx_connection_t              *c;
    ngx_http_drover_group_host_t  *host;

    c = rev->data;
    host = c->data;

    if (!host->sent) {
        return;
    }

    for ( ;; ) {
        n = c->recv(c, host->buf + host->len,
                    NGX_HTTP_DROVER_GROUP_ANSWER_MAX - host->len);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_drover_group_done(host, "cannot read");
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_drover_group_done(host, "connection reset");
            return;
        }

        if (n == 0) {
            ngx_http_drover_group_done(host, NULL);
            return;
        }

        host->len += n;

        if (host->len == NGX_HTTP_DROVER_GROUP_ANSWER_MAX) {
            ngx_http_drover_group_done(host, "answer too long");
            return;
        }
    }
}


static void
ngx_http_drover_group_timeout(ngx_event_t *ev)
{
    ngx_http_drover_group_done(ev->data, "no answer within 500 ms");
}


/* the probe ends: close, parse, apply, give the lease back */

static void
ngx_http_drover_group_done(ngx_http_drover_group_host_t *host, char *err)
{
    ngx_log_t                       *log;
    ngx_http_drover_group_answer_t   a;

    log = host->deadline.log;

    if (host->deadline.timer_set) {
        ngx_del_timer(&host->deadline);
    }

    if (host->peer.connection) {
        ngx_close_connection(host->peer.connection);
        host->peer.connection = NULL;
    }

    if (err == NULL) {
        err = ngx_http_drover_group_parse(host->buf, host->buf + host->len,
                                          &a);

        /* a pool droverd serves on its unix socket only */

        if (err == NULL && !host->unix_host && a.port == 0) {
            err = "the pool has no listen tcp:";
        }
    }

    ngx_http_drover_group_apply(host, &a, err, log);

    host->busy = 0;
}


/*
 * "drover-netslots 1" (or, from PATH.slots, "drover-slots 1") first; then
 * as PATH.slots (docs/protocols.md), with "port N" and each slot's port
 * after its pid.  Unknown lines are skipped; "error ..." is droverd's no.
 */

static char *
ngx_http_drover_group_parse(u_char *p, u_char *last,
    ngx_http_drover_group_answer_t *a)
{
    u_char      *eol;
    ngx_uint_t   k, n, line, have_slots;

    ngx_memzero(a, sizeof(ngx_http_drover_group_answer_t));

    have_slots = 0;

    for (line = 1; p < last; line++, p = eol + 1) {

        eol = ngx_strlchr(p, last, LF);
        if (eol == NULL) {
            return "no newline at the end of the answer";
        }

        if (line == 1) {
            if (!((size_t) (eol - p) == sizeof("drover-netslots 1") - 1
                  && ngx_strncmp(p, "drover-netslots 1", eol - p) == 0)
                && !((size_t) (eol - p) == sizeof("drover-slots 1") - 1
                     && ngx_strncmp(p, "drover-slots 1", eol - p) == 0))
            {
                return "not 'drover-netslots 1'";
            }

            continue;
        }

        if (eol - p > 6 && ngx_strncmp(p, "error ", 6) == 0) {
            return "droverd has no such pool";
        }

        if (eol - p > 11 && ngx_strncmp(p, "generation ", 11) == 0) {
            p += 11;

            if (ngx_http_drover_dispatch_number(&p, eol, &a->generation)
                != NGX_OK || p != eol)
            {
                return "bad generation";
            }

            continue;
        }

        if ((size_t) (eol - p) == sizeof("state failing") - 1
            && ngx_strncmp(p, "state failing", eol - p) == 0)
        {
            a->state = 1;
            continue;
        }

        if ((size_t) (eol - p) == sizeof("state stopped") - 1
            && ngx_strncmp(p, "state stopped", eol - p) == 0)
        {
            a->state = 2;
            continue;
        }

        if (eol - p > 5 && ngx_strncmp(p, "port ", 5) == 0) {
            p += 5;

            if (ngx_http_drover_dispatch_number(&p, eol, &a->port) != NGX_OK
                || p != eol || a->port > 65535)
            {
                return "bad port";
            }

            continue;
        }

        if (eol - p > 6 && ngx_strncmp(p, "slots ", 6) == 0) {
            p += 6;

            if (ngx_http_drover_dispatch_number(&p, eol, &a->nslots) != NGX_OK
                || p != eol || a->nslots > NGX_HTTP_DROVER_GROUP_SLOTS)
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
            return "slot before 'slots'";
        }

        if (ngx_http_drover_dispatch_number(&p, eol, &k) != NGX_OK
            || k >= a->nslots || p == eol || *p++ != ' ')
        {
            return "bad slot number";
        }

        if (eol - p > 3 && ngx_strncmp(p, "up ", 3) == 0) {
            a->up[k] = 1;
            p += 3;

        } else if (eol - p > 5 && ngx_strncmp(p, "down ", 5) == 0) {
            p += 5;

        } else {
            return "slot neither 'up' nor 'down'";
        }

        if (ngx_http_drover_dispatch_number(&p, eol, &n) != NGX_OK) {
            return "bad pid";
        }

        a->pid[k] = (ngx_pid_t) n;

        /* the slot's TCP port: in the network answer only */

        if (p < eol) {
            if (*p++ != ' '
                || ngx_http_drover_dispatch_number(&p, eol, &n) != NGX_OK
                || p != eol || n > 65535)
            {
                return "bad slot port";
            }

            a->slot_port[k] = n;
        }
    }

    if (!have_slots) {
        return "no 'slots' line";
    }

    return NULL;
}



/*
 * What a probe learned goes into both zones: the host's own record, and
 * its share of the pool's slots.  A host that did not answer has every
 * slot down.  The change of a host's state is logged by the worker that
 * saw it.
 */

static void
ngx_http_drover_group_apply(ngx_http_drover_group_host_t *host,
    ngx_http_drover_group_answer_t *a, char *err, ngx_log_t *log)
{
    size_t                            len;
    ngx_uint_t                        i, j, k, up, was, failing, stopped;
    ngx_uint_t                        nup, old;
    ngx_http_drover_group_t          *g;
    ngx_http_drover_dispatch_sh_t    *dsh;
    ngx_http_drover_group_host_sh_t  *hs;

    g = host->group;
    hs = &g->sh->host[host->index];

    ngx_shmtx_lock(&g->shpool->mutex);

    was = hs->alive;
    old = hs->state;
    hs->alive = (err == NULL);
    hs->probes++;
    hs->lease = 0;
    hs->next = ngx_current_msec + NGX_HTTP_DROVER_GROUP_INTERVAL;

    if (err == NULL) {
        hs->answered = ngx_current_msec ? ngx_current_msec : 1;
        hs->generation = a->generation;
        hs->state = a->state;
        hs->nslots = a->nslots;
        hs->port = (in_port_t) a->port;
        hs->err_len = 0;

        for (j = 0; j < NGX_HTTP_DROVER_GROUP_SLOTS; j++) {
            hs->slot_port[j] = (in_port_t) a->slot_port[j];
        }

    } else {
        hs->failures++;
        len = ngx_min(ngx_strlen(err), NGX_HTTP_DROVER_GROUP_ERR_LEN);
        ngx_memcpy(hs->err, err, len);
        hs->err_len = len;
    }

    /* since when the host is up, down, failing or stopped */

    if (hs->since == 0 || was != hs->alive
        || (hs->alive && old != hs->state))
    {
        hs->since = ngx_current_msec ? ngx_current_msec : 1;
        hs->since_time = ngx_time();
    }

    /* the group cannot start only when every host says so */

    failing = 1;
    stopped = 1;

    for (i = 0; i < g->sh->nhosts; i++) {
        if (!g->sh->host[i].alive || g->sh->host[i].state == 0) {
            failing = 0;
        }

        if (!g->sh->host[i].alive || g->sh->host[i].state != 2) {
            stopped = 0;
        }
    }

    ngx_shmtx_unlock(&g->shpool->mutex);

    dsh = g->pool->sh;
    nup = 0;

    ngx_shmtx_lock(&g->pool->shpool->mutex);

    for (j = 0; j < g->per; j++) {
        k = host->index * g->per + j;

        up = (err == NULL && j < a->nslots && a->up[j]
              && (host->unix_host || a->slot_port[j] != 0));

        dsh->slot[k].up = up;
        dsh->slot[k].pid = (err == NULL && j < a->nslots) ? a->pid[j] : 0;
        nup += up;
    }

    dsh->failing = stopped ? 2 : failing;

    if (err == NULL && a->generation > dsh->generation) {
        dsh->generation = a->generation;
    }

    ngx_shmtx_unlock(&g->pool->shpool->mutex);

    ngx_shmtx_lock(&g->shpool->mutex);
    hs->up = nup;
    ngx_shmtx_unlock(&g->shpool->mutex);

    if (was && err) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "drover: group \"%V\": server %V is down (%s), its "
                      "slots are not used", &g->name, &host->server, err);

    } else if (!was && err == NULL) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "drover: group \"%V\": server %V is up, %ui of %ui "
                      "slots", &g->name, &host->server, nup, a->nslots);

        if (a->nslots > g->per) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "drover: group \"%V\": server %V has %ui slots, "
                          "only %ui are used (256 per group)", &g->name,
                          &host->server, a->nslots, g->per);
        }
    }

    if (nup) {
        ngx_http_drover_dispatch_post_wake(g->pool);
    }
}
