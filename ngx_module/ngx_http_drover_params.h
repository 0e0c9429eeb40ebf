
/*
 * Drover: the CGI/FastCGI parameters sent with each request.
 */


#ifndef _NGX_HTTP_DROVER_PARAMS_H_INCLUDED_
#define _NGX_HTTP_DROVER_PARAMS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef ngx_int_t (*ngx_http_drover_param_get_pt)(ngx_http_request_t *r,
    ngx_str_t *value);


/* exactly one of value and get is set */

typedef struct {
    ngx_str_t                      key;
    ngx_http_complex_value_t      *value;
    ngx_http_drover_param_get_pt   get;
    ngx_uint_t                     skip_empty;
} ngx_http_drover_param_t;


typedef struct {
    ngx_array_t                   *params;       /* ngx_http_drover_param_t */
    ngx_array_t                   *headers_set;  /* ngx_str_t, "HTTP_..." */
} ngx_http_drover_params_t;


ngx_int_t ngx_http_drover_params_init(ngx_conf_t *cf,
    ngx_http_drover_params_t *params, ngx_array_t *source);
ngx_int_t ngx_http_drover_params_eval(ngx_http_request_t *r,
    ngx_http_drover_params_t *params, ngx_array_t **pairs, size_t *len);


#endif /* _NGX_HTTP_DROVER_PARAMS_H_INCLUDED_ */
