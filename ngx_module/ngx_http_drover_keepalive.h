
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: a per-worker cache of idle FastCGI connections, wrapped around
 * the round robin peer of the upstream that drover_pass names.
 */


#ifndef _NGX_HTTP_DROVER_KEEPALIVE_H_INCLUDED_
#define _NGX_HTTP_DROVER_KEEPALIVE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * One per upstream: the cache holds at most max_cached idle connections
 * (the largest "drover_keepalive" of the locations that pass to it), most
 * recently used first, to any of its addresses (with dispatch: to each
 * slot socket).  The queues live in each worker's copy of the
 * configuration, so nothing here is shared between workers.
 */

typedef struct {
    ngx_http_upstream_srv_conf_t  *upstream;
    ngx_uint_t                     max_cached;

    ngx_queue_t                    cache;
    ngx_queue_t                    free;

    unsigned                       enabled:1;
} ngx_http_drover_keepalive_t;


ngx_http_drover_keepalive_t *ngx_http_drover_keepalive_add(ngx_conf_t *cf,
    ngx_array_t *caches, ngx_http_upstream_srv_conf_t *us,
    ngx_uint_t max_cached);
ngx_int_t ngx_http_drover_keepalive_init(ngx_conf_t *cf,
    ngx_array_t *caches);
ngx_int_t ngx_http_drover_keepalive_get(ngx_http_drover_keepalive_t *ka,
    ngx_peer_connection_t *pc, ngx_uint_t check);
void ngx_http_drover_keepalive_purge(ngx_http_drover_keepalive_t *ka,
    struct sockaddr *sockaddr, socklen_t socklen);
void ngx_http_drover_keepalive_free(ngx_http_drover_keepalive_t *ka,
    ngx_http_upstream_t *u, ngx_peer_connection_t *pc, ngx_uint_t state,
    ngx_msec_t timeout);


#endif /* _NGX_HTTP_DROVER_KEEPALIVE_H_INCLUDED_ */
