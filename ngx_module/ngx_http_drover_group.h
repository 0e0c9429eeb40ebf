
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: a named group of droverd hosts ("drover_group NAME { server
 * ...; }", "drover_pass group:NAME"): one dispatch pool over the slots of
 * every host, each host's slots learned over the network.
 */


#ifndef _NGX_HTTP_DROVER_GROUP_H_INCLUDED_
#define _NGX_HTTP_DROVER_GROUP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_dispatch.h"


/* drover_pass group:NAME, for the location conf dlcf */
char *ngx_http_drover_group_pass(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_upstream_srv_conf_t **upstream,
    ngx_http_drover_dispatch_pool_t **dispatch);

/* the address of slot k of a group's pool (ngx_http_drover_peer.c) */
ngx_http_drover_dispatch_addr_t *ngx_http_drover_group_addr(
    ngx_http_drover_dispatch_pool_t *pool, ngx_uint_t k);

/*
 * A request to slot k failed before any response byte: its host's slots
 * go down at once and the host is asked again now (a live droverd holds
 * its sockets, so a refused connection means the host is gone).
 */
void ngx_http_drover_group_suspect(ngx_http_drover_dispatch_pool_t *pool,
    ngx_uint_t k);

/*
 * drover_status's page (ngx_http_drover_status_module.c): every group as
 * the JSON array drover_group_status shows, "[...]", written at p; len
 * bytes are room enough for it.
 */
size_t ngx_http_drover_group_status_len(ngx_cycle_t *cycle);
u_char *ngx_http_drover_group_status_json(u_char *p, ngx_cycle_t *cycle);


/* ---- for ngx_http_drover_group*.c only ---- */


#define NGX_HTTP_DROVER_GROUP_MAX_HOSTS    32
#define NGX_HTTP_DROVER_GROUP_TICK         50      /* ms: look at leases */
#define NGX_HTTP_DROVER_GROUP_INTERVAL     250     /* ms between probes */
#define NGX_HTTP_DROVER_GROUP_TIMEOUT      500     /* ms for an answer */
#define NGX_HTTP_DROVER_GROUP_ANSWER_MAX   16384
#define NGX_HTTP_DROVER_GROUP_ERR_LEN      96
#define NGX_HTTP_DROVER_GROUP_NAME_MAX     64
#define NGX_HTTP_DROVER_GROUP_ZONE_SIZE    (256 * 1024)

#define NGX_HTTP_DROVER_GROUP_SLOTS        NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS


/* a host as the zone holds it for every nginx worker */

typedef struct {
    ngx_msec_t                        lease;      /* probed since; 0: no */
    ngx_msec_t                        next;       /* probe again from */
    ngx_msec_t                        answered;   /* last answer; 0: never */
    ngx_msec_t                        since;      /* state seen; 0: never */
    time_t                            since_time; /* the same, wall clock */
    ngx_uint_t                        alive;      /* the last probe answered */
    ngx_uint_t                        generation;
    ngx_uint_t                        state;      /* 1 failing, 2 stopped */
    ngx_uint_t                        nslots;
    ngx_uint_t                        up;
    uint64_t                          probes;
    uint64_t                          failures;
    in_port_t                         port;       /* the shared TCP port */
    in_port_t                         slot_port[NGX_HTTP_DROVER_GROUP_SLOTS];
    size_t                            err_len;
    u_char                            err[NGX_HTTP_DROVER_GROUP_ERR_LEN];
} ngx_http_drover_group_host_sh_t;


typedef struct {
    ngx_queue_t                       queue;
    ngx_uint_t                        nhosts;
    size_t                            name_len;
    u_char                            name[NGX_HTTP_DROVER_GROUP_NAME_MAX];
    ngx_http_drover_group_host_sh_t   host[1];
} ngx_http_drover_group_sh_t;


typedef struct ngx_http_drover_group_s  ngx_http_drover_group_t;

/* a "server" of a group; the probe's state is this nginx worker's */

typedef struct {
    ngx_http_drover_group_t          *group;
    ngx_uint_t                        index;

    ngx_str_t                         server;     /* as written */
    ngx_str_t                         pool;       /* tcp: the pool's name */
    ngx_str_t                         path;       /* unix: the socket */
    ngx_str_t                         slots_path; /* unix: "PATH.slots\0" */
    ngx_addr_t                        addr;       /* tcp: status_listen */
    ngx_uint_t                        unix_host;

    ngx_peer_connection_t             peer;
    ngx_event_t                       deadline;
    u_char                           *buf;
    size_t                            len;
    ngx_uint_t                        sent;
    ngx_uint_t                        busy;
} ngx_http_drover_group_host_t;


struct ngx_http_drover_group_s {
    ngx_str_t                         name;
    ngx_array_t                       hosts;      /* group_host_t */
    ngx_uint_t                        per;        /* slots per host */
    ngx_uint_t                        declared;

    ngx_http_drover_dispatch_pool_t  *pool;       /* drover_pass made it */
    ngx_http_drover_group_sh_t       *sh;
    ngx_slab_pool_t                  *shpool;

    ngx_http_drover_dispatch_addr_t **addrs;      /* by slot, on demand */
    ngx_event_t                       tick;
};


typedef struct {
    ngx_array_t                       groups;     /* group_t * */
    ngx_shm_zone_t                   *zone;
} ngx_http_drover_group_main_conf_t;


/* one answer, parsed */

typedef struct {
    ngx_uint_t                        generation;
    ngx_uint_t                        state;
    ngx_uint_t                        nslots;
    ngx_uint_t                        port;
    ngx_uint_t                        slot_port[NGX_HTTP_DROVER_GROUP_SLOTS];
    ngx_pid_t                         pid[NGX_HTTP_DROVER_GROUP_SLOTS];
    u_char                            up[NGX_HTTP_DROVER_GROUP_SLOTS];
} ngx_http_drover_group_answer_t;


/* ngx_http_drover_group_status.c: the drover_group_status directive */
char *ngx_http_drover_group_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* ngx_http_drover_group_probe.c */
ngx_int_t ngx_http_drover_group_probe_init(ngx_http_drover_group_t *g,
    ngx_cycle_t *cycle);
void ngx_http_drover_group_tick(ngx_event_t *ev);


extern ngx_module_t  ngx_http_drover_group_module;


#endif /* _NGX_HTTP_DROVER_GROUP_H_INCLUDED_ */
