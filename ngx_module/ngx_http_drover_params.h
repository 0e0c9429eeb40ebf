
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: the CGI/FastCGI parameters sent with each request.
 */


#ifndef _NGX_HTTP_DROVER_PARAMS_H_INCLUDED_
#define _NGX_HTTP_DROVER_PARAMS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct ngx_http_drover_param_s  ngx_http_drover_param_t;

typedef ngx_int_t (*ngx_http_drover_param_get_pt)(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value);


/*
 * get computes the value; what it reads is chosen when the value is
 * compiled: value (no variables in it), index (one variable alone) or
 * complex (anything else), or none (a getter of its own)
 */

struct ngx_http_drover_param_s {
    ngx_str_t                      key;
    ngx_http_drover_param_get_pt   get;
    ngx_str_t                      value;
    ngx_int_t                      index;
    ngx_http_complex_value_t      *complex;
    ngx_uint_t                     skip_empty;
};


typedef struct {
    ngx_array_t                   *params;       /* ngx_http_drover_param_t */
    ngx_array_t                   *headers_set;  /* ngx_str_t, "HTTP_..." */
} ngx_http_drover_params_t;


ngx_int_t ngx_http_drover_params_init(ngx_conf_t *cf,
    ngx_http_drover_params_t *params, ngx_array_t *source);
ngx_int_t ngx_http_drover_params_eval(ngx_http_request_t *r,
    ngx_http_drover_params_t *params, ngx_array_t **pairs, size_t *len);


#endif /* _NGX_HTTP_DROVER_PARAMS_H_INCLUDED_ */
