/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * conf_tcp.c -- the TCP directives: `listen tcp:ADDR:PORT` beside a pool's
 * unix socket, and `status_listen tcp:ADDR:PORT` (netslots.c); their
 * checks and their config text (docs/multi-host.md).
 */

#include "conf.h"
#include "conf_int.h"
#include "socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>


int
drover__conf_listen_tcp(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    int                        rc;
    drover_tcp_listen_conf_t  *t = &b->pool->tcp;
    const char                *arg = d->args[0];

    if (t->port != 0) {
        return drover__conf_error(p, f->name, d->line,
                                  "\"listen tcp:\" is duplicate, first at "
                                  "%s:%u: keep one", t->file, t->line);
    }

    if (d->nargs > 1) {
        return drover__conf_error(p, f->name, d->arg_lines[1],
                                  "\"listen tcp:\" takes no options, got "
                                  "\"%s\": who may connect is "
                                  "\"allow_peers NET;\"", d->args[1]);
    }

    rc = drover_socket_tcp_parse(arg + 4, &t->addr, &t->port);
    if (rc == -ENOMEM) {
        return rc;
    }

    if (rc != 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"listen %s\": use tcp:ADDR:PORT with an "
                                  "IP address and a port from 1 to 65535, "
                                  "as in tcp:10.0.0.5:9000 or "
                                  "tcp:[fd00::5]:9000 (no host names)", arg);
    }

    t->line = d->line;
    t->file = strdup(f->name);

    return t->file == NULL ? -ENOMEM : 0;
}


int
drover__conf_set_status_listen(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d)
{
    int          rc;
    drover_conf_t  *c = p->conf;
    const char     *arg = d->args[0];

    (void) b;

    rc = (strncmp(arg, "tcp:", 4) == 0)
         ? drover_socket_tcp_parse(arg + 4, &c->status_tcp_addr,
                                   &c->status_tcp_port)
         : -EINVAL;

    if (rc == -ENOMEM) {
        return rc;
    }

    if (rc != 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"status_listen %s\": use tcp:ADDR:PORT "
                                  "with an IP address, as in "
                                  "tcp:10.0.0.5:9090", arg);
    }

    if (d->nargs == 2) {
        if (strncmp(d->args[1], "allow=", 6) != 0) {
            return drover__conf_error(p, f->name, d->arg_lines[1],
                                      "unknown status_listen option \"%s\": "
                                      "use allow=NET,...", d->args[1]);
        }

        return drover__conf_parse_nets(p, f->name, d->arg_lines[1],
                                       d->args[1] + 6,
                                       "status_listen \"allow\"",
                                       c->status_nets, &c->nstatus_nets);
    }

    return 0;
}


/* at the pool's "}": what a TCP listener needs of the rest of the pool */
int
drover__conf_tcp_check(drover__conf_parser_t *p, drover_pool_conf_t *pool)
{
    drover_tcp_listen_conf_t  *t = &pool->tcp;

    if (t->port == 0) {
        if (pool->nallow_nets != 0) {
            return drover__conf_error(p, pool->file, pool->line,
                                      "pool \"%s\": \"allow_peers\" names "
                                      "networks but the pool has no "
                                      "\"listen tcp:ADDR:PORT;\"",
                                      pool->name);
        }
        return 0;
    }

    if (pool->exec_argv != NULL) {
        return drover__conf_error(p, t->file, t->line,
                                  "pool \"%s\": \"listen tcp:\" needs an "
                                  "\"app\" pool: an exec pool's program "
                                  "accepts on one socket only", pool->name);
    }

    if (pool->ondemand) {
        return drover__conf_error(p, t->file, t->line,
                                  "pool \"%s\": \"listen tcp:\" cannot be "
                                  "used with \"workers ondemand\" yet: give "
                                  "a number of workers", pool->name);
    }

    /* the shared port, then one per slot, droverctl scale included */
    if (t->port + DROVER_CONF_MAX_WORKERS > 65535) {
        return drover__conf_error(p, t->file, t->line,
                                  "pool \"%s\": \"listen tcp:%s:%u\": the "
                                  "slot ports %u to %u (one per worker, up "
                                  "to %u) pass 65535: use a port below %u",
                                  pool->name, t->addr, t->port, t->port + 1,
                                  t->port + DROVER_CONF_MAX_WORKERS,
                                  DROVER_CONF_MAX_WORKERS,
                                  65535 - DROVER_CONF_MAX_WORKERS + 1);
    }

    return 0;
}


/* "listen tcp:...;" and the networks of "allow_peers" */
void
drover__conf_tcp_dump(const drover_pool_conf_t *pool, FILE *f)
{
    int     v6;
    char    a[INET6_ADDRSTRLEN];
    size_t  i;

    if (pool->tcp.port != 0) {
        v6 = strchr(pool->tcp.addr, ':') != NULL;
        fprintf(f, "    listen tcp:%s%s%s:%u;\n", v6 ? "[" : "",
                pool->tcp.addr, v6 ? "]" : "", pool->tcp.port);
    }

    for (i = 0; i < pool->nallow_nets; i++) {
        if (inet_ntop(pool->allow_nets[i].family, pool->allow_nets[i].addr,
                      a, sizeof(a)) != NULL)
        {
            fprintf(f, "    allow_peers %s/%u;\n", a,
                    pool->allow_nets[i].bits);
        }
    }
}
