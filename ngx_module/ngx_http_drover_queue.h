
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: the queue of requests that wait for a free slot, in each nginx
 * worker's FIFO, counted in the zone for all nginx workers together.
 */


#ifndef _NGX_HTTP_DROVER_QUEUE_H_INCLUDED_
#define _NGX_HTTP_DROVER_QUEUE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_dispatch.h"


void ngx_http_drover_dispatch_start(ngx_http_request_t *r);
void ngx_http_drover_dispatch_post_wake(
    ngx_http_drover_dispatch_pool_t *pool);
void ngx_http_drover_dispatch_wake(ngx_event_t *ev);

char *ngx_http_drover_queue(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_DROVER_QUEUE_H_INCLUDED_ */
