
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: the FastCGI request (5.1-5.3): FCGI_BEGIN_REQUEST, the params
 * and the request body framed into FCGI_STDIN records, buffered or not.
 */


#ifndef _NGX_HTTP_DROVER_REQUEST_H_INCLUDED_
#define _NGX_HTTP_DROVER_REQUEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* ngx_http_upstream_t's create_request and reinit_request */

ngx_int_t ngx_http_drover_create_request(ngx_http_request_t *r);
ngx_int_t ngx_http_drover_reinit_request(ngx_http_request_t *r);


#endif /* _NGX_HTTP_DROVER_REQUEST_H_INCLUDED_ */
