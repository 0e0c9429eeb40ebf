
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


extern ngx_module_t  ngx_http_drover_group_module;


#endif /* _NGX_HTTP_DROVER_GROUP_H_INCLUDED_ */
