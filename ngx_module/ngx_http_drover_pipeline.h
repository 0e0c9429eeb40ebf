
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: pipelining, a request sent behind another on a busy slot, and
 * taken back when that slot's worker has not read it in time.
 */


#ifndef _NGX_HTTP_DROVER_PIPELINE_H_INCLUDED_
#define _NGX_HTTP_DROVER_PIPELINE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_dispatch.h"


ngx_uint_t ngx_http_drover_dispatch_limit(ngx_http_request_t *r,
    ngx_uint_t pipeline);
ngx_int_t ngx_http_drover_dispatch_withdraw_after(ngx_http_request_t *r,
    ngx_http_drover_dispatch_req_t *d, ngx_str_t *value);
void ngx_http_drover_dispatch_rescue(ngx_event_t *ev);
void ngx_http_drover_dispatch_rescue_stop(ngx_http_drover_dispatch_req_t *d);

char *ngx_http_drover_pipeline(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_DROVER_PIPELINE_H_INCLUDED_ */
