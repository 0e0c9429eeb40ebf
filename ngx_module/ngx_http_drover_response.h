
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: the FastCGI response: the CGI header read out of FCGI_STDOUT,
 * the body filters (buffered or not) up to FCGI_END_REQUEST (5.5), and
 * FCGI_STDERR logged.
 */


#ifndef _NGX_HTTP_DROVER_RESPONSE_H_INCLUDED_
#define _NGX_HTTP_DROVER_RESPONSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* ngx_http_upstream_t's process_header and input filters */

ngx_int_t ngx_http_drover_process_header(ngx_http_request_t *r);
ngx_int_t ngx_http_drover_input_filter_init(void *data);
ngx_int_t ngx_http_drover_input_filter(ngx_event_pipe_t *p, ngx_buf_t *buf);
ngx_int_t ngx_http_drover_non_buffered_filter(void *data, ssize_t bytes);


#endif /* _NGX_HTTP_DROVER_RESPONSE_H_INCLUDED_ */
