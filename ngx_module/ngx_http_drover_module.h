
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: configuration and per-request state shared by the module's files.
 */


#ifndef _NGX_HTTP_DROVER_MODULE_H_INCLUDED_
#define _NGX_HTTP_DROVER_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_fcgi.h"
#include "ngx_http_drover_params.h"
#include "ngx_http_drover_keepalive.h"
#include "ngx_http_drover_dispatch.h"


typedef struct {
    ngx_array_t                    caches;  /* ngx_http_drover_keepalive_t * */
    ngx_array_t                    pools;   /* dispatch_pool_t *, by path */
    size_t                         zone_size;
} ngx_http_drover_main_conf_t;


typedef struct {
    ngx_http_upstream_conf_t       upstream;

    ngx_http_drover_params_t       params;
    ngx_array_t                   *params_source;

    /* drover_pass with variables */
    ngx_array_t                   *pass_lengths;
    ngx_array_t                   *pass_values;

    ngx_int_t                      keepalive;
    ngx_msec_t                     keepalive_timeout;
    ngx_http_drover_keepalive_t   *keepalive_cache;

    /* drover_pass unix:PATH: droverd's slots, when PATH.slots exists */
    ngx_http_drover_dispatch_pool_t  *dispatch;
    ngx_uint_t                     queue_size;
    ngx_msec_t                     queue_timeout;
    ngx_int_t                      retries;
    ngx_uint_t                     pipeline;
    ngx_msec_t                     pipeline_timeout;
} ngx_http_drover_loc_conf_t;


typedef struct {
    ngx_http_drover_fcgi_parser_t  parser;

    /*
     * While the header is read, the content of FCGI_STDOUT records is
     * moved down over the record headers in u->buffer, so that the header
     * text is contiguous from u->buffer.start to text_last; text_pos is
     * where ngx_http_parse_header_line() goes on.  Invariant:
     * text_pos <= text_last <= u->buffer.pos.
     */
    u_char                        *text_pos;
    u_char                        *text_last;

    /* response body bytes still allowed by Content-Length, or -1 */
    off_t                          rest;

    size_t                         stderr_logged;

    /* the last byte of a Content-Length body, sent at FCGI_END_REQUEST */
    u_char                         last_byte;

    /* FCGI_STDIN framing of an unbuffered request body */
    ngx_chain_t                   *free;
    ngx_chain_t                   *busy;

    ngx_http_drover_dispatch_req_t  dispatch;

    unsigned                       keep_conn:1;
    unsigned                       abort_sent:1;
    unsigned                       head_sent:1;
    unsigned                       failed:1;
    unsigned                       last_byte_held:1;
} ngx_http_drover_ctx_t;


extern ngx_module_t  ngx_http_drover_module;


#endif /* _NGX_HTTP_DROVER_MODULE_H_INCLUDED_ */
