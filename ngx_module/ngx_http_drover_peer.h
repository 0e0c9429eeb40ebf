
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: the upstream peer of a dispatched request: its slot's socket,
 * the replay of a request a worker lost, the drain of one given up.
 */


#ifndef _NGX_HTTP_DROVER_PEER_H_INCLUDED_
#define _NGX_HTTP_DROVER_PEER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_dispatch.h"


ngx_int_t ngx_http_drover_dispatch_init_peer(ngx_http_request_t *r,
    ngx_http_drover_keepalive_t *ka, ngx_msec_t keepalive_timeout);


#endif /* _NGX_HTTP_DROVER_PEER_H_INCLUDED_ */
