/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * netslots.c -- the network slots endpoint (netslots.h): a front end on
 * another host asks "slots POOL" and reads what PATH.slots says, with the
 * TCP port of the pool and of each slot; "ready" answers whether every
 * pool can serve.  The manager answers from its own state, never through
 * a worker, so a busy or crashed app cannot hold the answer up.
 */

#include "netslots.h"
#include "manager_int.h"
#include "log.h"
#include "peers.h"
#include "socket.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NETSLOTS_LINE_MAX     128      /* "slots " + a pool name, and room */
#define NETSLOTS_ANSWER_MAX   16384    /* as PATH.slots: 256 slots fit */
#define NETSLOTS_TIMEOUT_MS   2000     /* to send the line */
#define NETSLOTS_CONNS_MAX    256


typedef struct netslots_conn_s  netslots_conn_t;

struct drover_netslots_s {
    drover_manager_t   *mgr;
    uv_tcp_t            server;
    netslots_conn_t    *conns;
    unsigned            nconns;
    unsigned            closing:1;
    uint64_t            refused_logged_ms;
    unsigned long long  refused_unlogged;
};

struct netslots_conn_s {
    drover_netslots_t  *ns;
    netslots_conn_t    *next, *prev;
    uv_tcp_t            tcp;
    uv_timer_t          timer;
    uv_write_t          wr;
    size_t              len;
    char                line[NETSLOTS_LINE_MAX];
    char                answer[NETSLOTS_ANSWER_MAX];
    unsigned            handles;        /* open: freed at 0 */
    unsigned            answered:1;
};


static void netslots_connection_cb(uv_stream_t *server, int status);
static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void conn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void conn_timer_cb(uv_timer_t *t);
static void conn_write_cb(uv_write_t *req, int status);
static void conn_close(netslots_conn_t *c);
static void conn_closed_cb(uv_handle_t *h);
static void netslots_server_closed_cb(uv_handle_t *h);
static size_t netslots_answer(drover_netslots_t *ns, const char *line,
    char *buf, size_t size);


int
drover_netslots_start(drover_manager_t *m, drover_netslots_t **out,
    char *err, size_t errlen)
{
    int                 rc, fd;
    drover_netslots_t  *ns;
    drover_conf_t      *conf = m->ref->conf;

    *out = NULL;

    if (conf->status_tcp_addr == NULL) {
        return 0;
    }

    rc = drover_socket_tcp_bind(conf->status_tcp_addr, conf->status_tcp_port,
                                &fd, err, errlen);
    if (rc != 0) {
        return rc;
    }

    ns = calloc(1, sizeof(*ns));
    if (ns == NULL) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }

    ns->mgr = m;
    uv_tcp_init(&m->loop, &ns->server);
    ns->server.data = ns;

    rc = uv_tcp_open(&ns->server, fd);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *) &ns->server, DROVER_SOCKET_BACKLOG,
                       netslots_connection_cb);
    }

    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on status_listen %s:%u: %s",
                 conf->status_tcp_addr, conf->status_tcp_port,
                 uv_strerror(rc));
        close(fd);
        uv_close((uv_handle_t *) &ns->server, netslots_server_closed_cb);
        return rc;
    }

    *out = ns;

    return 0;
}


void
drover_netslots_close(drover_netslots_t *ns)
{
    if (ns == NULL || ns->closing) {
        return;
    }

    ns->closing = 1;

    while (ns->conns != NULL) {
        conn_close(ns->conns);
    }

    uv_close((uv_handle_t *) &ns->server, netslots_server_closed_cb);
}


static void
netslots_server_closed_cb(uv_handle_t *h)
{
    free(h->data);
}


/* a refused peer costs one log line a second at most, as allow_peers' */
static int
netslots_peer_refused(drover_netslots_t *ns, uv_tcp_t *tcp)
{
    int                      len;
    char                     name[80], more[96];
    uint64_t                 now;
    drover_conf_t           *conf = ns->mgr->ref->conf;
    struct sockaddr_storage  ss;

    len = sizeof(ss);
    ss.ss_family = AF_UNSPEC;

    if (uv_tcp_getpeername(tcp, (struct sockaddr *) &ss, &len) == 0
        && drover_net_allowed(conf->status_nets, conf->nstatus_nets, &ss))
    {
        return 0;
    }

    now = uv_now(tcp->loop);

    if (ns->refused_logged_ms != 0 && now - ns->refused_logged_ms < 1000) {
        ns->refused_unlogged++;
        return 1;
    }

    more[0] = '\0';
    if (ns->refused_unlogged != 0) {
        snprintf(more, sizeof(more), " (and %llu more since the last such "
                 "line)", ns->refused_unlogged);
    }

    drover_net_name(&ss, name, sizeof(name));
    drover_log_error(DROVER_LOG_ERROR, 0, "status_listen: connection from "
                     "%s closed: not allowed (%s)%s", name,
                     conf->nstatus_nets != 0 ? "not in its allow= networks"
                     : "no allow= given, loopback only", more);

    ns->refused_logged_ms = now;
    ns->refused_unlogged = 0;

    return 1;
}


static void
netslots_connection_cb(uv_stream_t *server, int status)
{
    int                 rc;
    netslots_conn_t    *c;
    drover_netslots_t  *ns = server->data;

    if (status < 0 || ns->closing) {
        return;
    }

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        drover_log_error(DROVER_LOG_ERROR, ENOMEM, "status_listen: no memory "
                         "for a connection");
        return;
    }

    c->ns = ns;
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles = 2;

    c->next = ns->conns;
    if (ns->conns != NULL) {
        ns->conns->prev = c;
    }
    ns->conns = c;
    ns->nconns++;

    rc = uv_accept(server, (uv_stream_t *) &c->tcp);

    if (rc != 0 || ns->nconns > NETSLOTS_CONNS_MAX
        || netslots_peer_refused(ns, &c->tcp))
    {
        conn_close(c);
        return;
    }

    (void) uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_start(&c->timer, conn_timer_cb, NETSLOTS_TIMEOUT_MS, 0);

    rc = uv_read_start((uv_stream_t *) &c->tcp, conn_alloc_cb, conn_read_cb);
    if (rc != 0) {
        conn_close(c);
    }
}


static void
conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    netslots_conn_t  *c = h->data;

    (void) suggested;

    buf->base = c->line + c->len;
    buf->len = sizeof(c->line) - 1 - c->len;
}


static void
conn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    char             *eol;
    size_t            len;
    uv_buf_t          out;
    netslots_conn_t  *c = s->data;

    (void) buf;

    if (n == 0) {
        return;
    }

    if (n < 0) {
        conn_close(c);
        return;
    }

    c->len += (size_t) n;
    c->line[c->len] = '\0';

    eol = strchr(c->line, '\n');
    if (eol == NULL) {
        if (c->len == sizeof(c->line) - 1) {
            conn_close(c);      /* no line that long is asked */
        }
        return;
    }

    *eol = '\0';
    if (eol > c->line && eol[-1] == '\r') {
        eol[-1] = '\0';
    }

    uv_read_stop(s);

    len = netslots_answer(c->ns, c->line, c->answer, sizeof(c->answer));

    out = uv_buf_init(c->answer, (unsigned) len);
    c->answered = 1;

    if (uv_write(&c->wr, s, &out, 1, conn_write_cb) != 0) {
        conn_close(c);
    }
}


static void
conn_write_cb(uv_write_t *req, int status)
{
    netslots_conn_t  *c = req->handle->data;

    (void) status;

    conn_close(c);
}


static void
conn_timer_cb(uv_timer_t *t)
{
    netslots_conn_t  *c = t->data;

    if (!c->answered) {
        conn_close(c);
    }
}


static void
conn_close(netslots_conn_t *c)
{
    drover_netslots_t  *ns = c->ns;

    if (uv_is_closing((uv_handle_t *) &c->tcp)) {
        return;
    }

    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        ns->conns = c->next;
    }

    if (c->next != NULL) {
        c->next->prev = c->prev;
    }

    ns->nconns--;

    uv_close((uv_handle_t *) &c->tcp, conn_closed_cb);
    uv_close((uv_handle_t *) &c->timer, conn_closed_cb);
}


static void
conn_closed_cb(uv_handle_t *h)
{
    netslots_conn_t  *c = h->data;

    if (--c->handles == 0) {
        free(c);
    }
}


/* ready: droverd started, and every pool serves or can start on demand */
static const char *
netslots_not_ready(drover_manager_t *m, char *why, size_t size)
{
    unsigned        k, up;
    const char     *state;
    drover_pool_t  *p;

    if (m->state != MANAGER_SERVING) {
        return m->state == MANAGER_STOPPING ? "droverd is stopping"
                                            : "droverd is starting";
    }

    for (p = m->pools; p != NULL; p = p->next) {
        if (drover_pool_removing(p)) {
            continue;
        }

        state = drover_pool_public_state(p);

        for (up = 0, k = 0; k < p->nslots; k++) {
            up += (p->slots[k]->state == SLOT_RUNNING);
        }

        if (strcmp(state, "failing") == 0 || strcmp(state, "stopped") == 0
            || (up == 0 && !drover_pool_conf(p)->ondemand))
        {
            snprintf(why, size, "pool %s is %s with %u of %u workers up",
                     p->name, state, up, p->nslots);
            return why;
        }
    }

    return NULL;
}


static size_t
netslots_answer(drover_netslots_t *ns, const char *line, char *buf,
    size_t size)
{
    int             n;
    char            why[160];
    const char     *reason;
    drover_pool_t  *p;

    if (strncmp(line, "slots ", 6) == 0) {
        for (p = ns->mgr->pools; p != NULL; p = p->next) {
            if (!drover_pool_removing(p) && strcmp(p->name, line + 6) == 0
                && (p->cur != NULL || p->pending != NULL))
            {
                return drover_slots_render(p, buf, size, 1);
            }
        }

        n = snprintf(buf, size, "drover-netslots 1\nerror no pool \"%.64s\"\n",
                     line + 6);
        return (size_t) n < size ? (size_t) n : size - 1;
    }

    if (strcmp(line, "ready") == 0) {
        reason = netslots_not_ready(ns->mgr, why, sizeof(why));
        n = reason == NULL ? snprintf(buf, size, "ready\n")
                           : snprintf(buf, size, "not-ready %s\n", reason);
        return (size_t) n < size ? (size_t) n : size - 1;
    }

    n = snprintf(buf, size, "drover-netslots 1\nerror unknown request: send "
                 "\"slots POOL\" or \"ready\"\n");
    return (size_t) n < size ? (size_t) n : size - 1;
}
