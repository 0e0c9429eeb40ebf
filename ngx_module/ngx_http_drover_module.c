
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * ngx_http_drover_module: passes requests to Drover workers (or any
 * FastCGI responder) over FastCGI 1.0, built on ngx_http_upstream.
 *
 * This file holds the directives, the configuration, the content handler
 * and the end of a request; the request is built in
 * ngx_http_drover_request.c (params: ngx_http_drover_params.c), the
 * response read in ngx_http_drover_response.c (records:
 * ngx_http_drover_fcgi.c), kept connections in ngx_http_drover_keepalive.c
 * and droverd's slots in ngx_http_drover_dispatch.c and its neighbours.
 *
 * Section numbers refer to the FastCGI Specification 1.0.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_module.h"
#include "ngx_http_drover_queue.h"
#include "ngx_http_drover_request.h"
#include "ngx_http_drover_response.h"
#include "ngx_http_drover_pipeline.h"
#include "ngx_http_drover_group.h"


static ngx_int_t ngx_http_drover_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_drover_eval(ngx_http_request_t *r,
    ngx_http_drover_loc_conf_t *dlcf);

static void ngx_http_drover_abort_request(ngx_http_request_t *r);
static void ngx_http_drover_finalize_request(ngx_http_request_t *r,
    ngx_int_t rc);

static void *ngx_http_drover_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_drover_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_drover_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_drover_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_drover_merge_buffers(ngx_conf_t *cf,
    ngx_http_drover_loc_conf_t *conf, ngx_http_drover_loc_conf_t *prev);
static ngx_int_t ngx_http_drover_postconfiguration(ngx_conf_t *cf);

static char *ngx_http_drover_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_http_drover_commands[] = {

    { ngx_string("drover_pass"),
      NGX_HTTP_LOC_CONF|NGX_HTTP_LIF_CONF|NGX_CONF_TAKE1,
      ngx_http_drover_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("drover_param"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE23,
      ngx_http_upstream_param_set_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, params_source),
      NULL },

    { ngx_string("drover_keepalive"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, keepalive),
      NULL },

    { ngx_string("drover_keepalive_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, keepalive_timeout),
      NULL },

    { ngx_string("drover_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, upstream.connect_timeout),
      NULL },

    { ngx_string("drover_send_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, upstream.send_timeout),
      NULL },

    { ngx_string("drover_read_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, upstream.read_timeout),
      NULL },

    { ngx_string("drover_request_buffering"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, upstream.request_buffering),
      NULL },

    { ngx_string("drover_buffering"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, upstream.buffering),
      NULL },

    { ngx_string("drover_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, upstream.buffer_size),
      NULL },

    { ngx_string("drover_buffers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_conf_set_bufs_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, upstream.bufs),
      NULL },

    { ngx_string("drover_busy_buffers_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, upstream.busy_buffers_size_conf),
      NULL },

    { ngx_string("drover_max_temp_file_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, upstream.max_temp_file_size_conf),
      NULL },

    { ngx_string("drover_temp_file_write_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t,
               upstream.temp_file_write_size_conf),
      NULL },

    { ngx_string("drover_temp_path"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1234,
      ngx_conf_set_path_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, upstream.temp_path),
      NULL },

    { ngx_string("drover_hide_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, upstream.hide_headers),
      NULL },

    { ngx_string("drover_pass_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, upstream.pass_headers),
      NULL },

    { ngx_string("drover_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_drover_main_conf_t, zone_size),
      NULL },

    { ngx_string("drover_queue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_drover_queue,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("drover_retries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_loc_conf_t, retries),
      NULL },

    { ngx_string("drover_pipeline"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_drover_pipeline,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_drover_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_drover_postconfiguration,     /* postconfiguration */

    ngx_http_drover_create_main_conf,      /* create main configuration */
    ngx_http_drover_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_drover_create_loc_conf,       /* create location configuration */
    ngx_http_drover_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_drover_module = {
    NGX_MODULE_V1,
    &ngx_http_drover_module_ctx,           /* module context */
    ngx_http_drover_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* headers that are ours or nginx's to act on, never the client's */

static ngx_str_t  ngx_http_drover_hide_headers[] = {
    ngx_string("Status"),
    ngx_string("X-Accel-Expires"),
    ngx_string("X-Accel-Redirect"),
    ngx_string("X-Accel-Limit-Rate"),
    ngx_string("X-Accel-Buffering"),
    ngx_string("X-Accel-Charset"),
    ngx_null_string
};


/*
 * Temporary files go where fastcgi_pass puts them (same levels): the
 * directory already exists with the right owner on a packaged nginx.
 */

#ifdef NGX_HTTP_FASTCGI_TEMP_PATH
#define NGX_HTTP_DROVER_TEMP_PATH  NGX_HTTP_FASTCGI_TEMP_PATH
#else
#define NGX_HTTP_DROVER_TEMP_PATH  "drover_temp"
#endif

static ngx_path_init_t  ngx_http_drover_temp_path = {
    ngx_string(NGX_HTTP_DROVER_TEMP_PATH), { 1, 2, 0 }
};


static ngx_int_t
ngx_http_drover_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_upstream_t         *u;
    ngx_http_drover_ctx_t       *ctx;
    ngx_http_drover_loc_conf_t  *dlcf;

    /*
     * a NUL in the path would cut it short in any application that
     * treats the parameters as C strings
     */

    if (ngx_strlchr(r->uri.data, r->uri.data + r->uri.len, '\0') != NULL
        || ngx_strlchr(r->unparsed_uri.data,
                       r->unparsed_uri.data + r->unparsed_uri.len, '\0')
           != NULL)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client sent NUL in request URI");
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_http_upstream_create(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_drover_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_drover_module);

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_drover_module);

    if (dlcf->pass_lengths) {
        if (ngx_http_drover_eval(r, dlcf) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /* connections to a literal address can be kept (5.1) */

    ctx->keep_conn = (dlcf->keepalive > 0 && dlcf->upstream.upstream);
    ctx->rest = -1;

    u = r->upstream;

    ngx_str_set(&u->schema, "fastcgi://");
    u->output.tag = (ngx_buf_tag_t) &ngx_http_drover_module;

    u->conf = &dlcf->upstream;

    u->create_request = ngx_http_drover_create_request;
    u->reinit_request = ngx_http_drover_reinit_request;
    u->process_header = ngx_http_drover_process_header;
    u->abort_request = ngx_http_drover_abort_request;
    u->finalize_request = ngx_http_drover_finalize_request;
    r->state = 0;

    u->buffering = dlcf->upstream.buffering;

    u->pipe = ngx_pcalloc(r->pool, sizeof(ngx_event_pipe_t));
    if (u->pipe == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    u->pipe->input_filter = ngx_http_drover_input_filter;
    u->pipe->input_ctx = r;

    u->input_filter_init = ngx_http_drover_input_filter_init;
    u->input_filter = ngx_http_drover_non_buffered_filter;
    u->input_filter_ctx = r;

    /* FastCGI needs no length in advance: chunked bodies stream too */

    if (!dlcf->upstream.request_buffering) {
        r->request_body_no_buffering = 1;
    }

    /* a request waits for a free slot once its body is read */

    rc = ngx_http_read_client_request_body(r, dlcf->dispatch
                                              ? ngx_http_drover_dispatch_start
                                              : ngx_http_upstream_init);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_drover_eval(ngx_http_request_t *r, ngx_http_drover_loc_conf_t *dlcf)
{
    ngx_url_t             url;
    ngx_http_upstream_t  *u;

    ngx_memzero(&url, sizeof(ngx_url_t));

    if (ngx_http_script_run(r, &url.url, dlcf->pass_lengths->elts, 0,
                            dlcf->pass_values->elts)
        == NULL)
    {
        return NGX_ERROR;
    }

    url.no_resolve = 1;

    if (ngx_parse_url(r->pool, &url) != NGX_OK) {
        if (url.err) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "%s in drover_pass \"%V\"", url.err, &url.url);
        }

        return NGX_ERROR;
    }

    u = r->upstream;

    u->resolved = ngx_pcalloc(r->pool, sizeof(ngx_http_upstream_resolved_t));
    if (u->resolved == NULL) {
        return NGX_ERROR;
    }

    if (url.addrs) {
        u->resolved->sockaddr = url.addrs[0].sockaddr;
        u->resolved->socklen = url.addrs[0].socklen;
        u->resolved->name = url.addrs[0].name;
        u->resolved->naddrs = 1;
    }

    u->resolved->host = url.host;
    u->resolved->port = url.port;
    u->resolved->no_port = url.no_port;

    return NGX_OK;
}


static void
ngx_http_drover_abort_request(ngx_http_request_t *r)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "abort http drover request");
}


/*
 * Called by upstream before the connection is freed, for every end: a
 * request that ends before FCGI_END_REQUEST (the client went away, a
 * timeout, HEAD, an error) sends FCGI_ABORT_REQUEST (5.4) so that the
 * application stops working on it.  Only at a record boundary (nothing
 * of the request waits to be sent), only if the socket takes it now:
 * this never blocks, and the connection is closed right after anyway.
 */

static void
ngx_http_drover_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    u_char                  abort[NGX_HTTP_DROVER_FCGI_HEADER_LEN];
    ngx_connection_t       *c;
    ngx_http_upstream_t    *u;
    ngx_http_drover_ctx_t  *ctx;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "finalize http drover request: %i", rc);

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);
    c = u->peer.connection;

    if (ctx == NULL
        || ctx->parser.end_request
        || ctx->failed
        || c == NULL
        || !u->request_sent
        || u->writer.out
        || u->output.in
        || c->read->eof
        || c->read->error
        || c->write->error)
    {
        return;
    }

    ngx_http_drover_fcgi_write_header(abort,
                                      NGX_HTTP_DROVER_FCGI_ABORT_REQUEST,
                                      0, 0);

    if (send(c->fd, abort, sizeof(abort), 0) == (ssize_t) sizeof(abort)) {
        ctx->abort_sent = 1;

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "drover abort request sent");
    }
}


static void *
ngx_http_drover_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_drover_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_drover_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&conf->caches, cf->pool, 4,
                       sizeof(ngx_http_drover_keepalive_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&conf->pools, cf->pool, 4,
                       sizeof(ngx_http_drover_dispatch_pool_t *))
        != NGX_OK)
    {
        return NULL;
    }

    conf->zone_size = NGX_CONF_UNSET_SIZE;

    return conf;
}


static char *
ngx_http_drover_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_drover_main_conf_t *dmcf = conf;

    ngx_conf_init_size_value(dmcf->zone_size, 1024 * 1024);

    if (dmcf->zone_size < 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"drover_zone\" must be at least %uz bytes",
                           8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_drover_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_drover_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_drover_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->upstream.bufs.num = 0;
     *     conf->upstream.ignore_headers = 0;
     *     conf->upstream.next_upstream = 0;
     *     conf->upstream.temp_path = NULL;
     *     conf->upstream.hide_headers_hash = { NULL, 0 };
     *     conf->upstream.store = 0;
     *     conf->upstream.ignore_client_abort = 0;
     *     conf->upstream.intercept_errors = 0;
     *     conf->upstream.local = NULL;
     *     conf->upstream.next_upstream_tries = 0;
     *     conf->upstream.next_upstream_timeout = 0;
     *     conf->upstream.send_lowat = 0;
     *     conf->upstream.limit_rate = 0;
     *     conf->upstream.cyclic_temp_file = 0;
     *
     *     conf->params = { NULL, NULL };
     *     conf->params_source = NULL;
     *     conf->pass_lengths = NULL;
     *     conf->pass_values = NULL;
     *     conf->keepalive_cache = NULL;
     *     conf->dispatch = NULL;
     */

    conf->upstream.buffering = NGX_CONF_UNSET;
    conf->upstream.request_buffering = NGX_CONF_UNSET;

    conf->upstream.connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.send_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.read_timeout = NGX_CONF_UNSET_MSEC;

    conf->upstream.buffer_size = NGX_CONF_UNSET_SIZE;
    conf->upstream.busy_buffers_size_conf = NGX_CONF_UNSET_SIZE;
    conf->upstream.max_temp_file_size_conf = NGX_CONF_UNSET_SIZE;
    conf->upstream.temp_file_write_size_conf = NGX_CONF_UNSET_SIZE;

    conf->upstream.hide_headers = NGX_CONF_UNSET_PTR;
    conf->upstream.pass_headers = NGX_CONF_UNSET_PTR;

    conf->upstream.change_buffering = 1;

    /*
     * the request body goes on after the response header (as grpc_pass
     * does): an application may answer while it still reads the body,
     * and would wait forever for the rest otherwise
     */

    conf->upstream.preserve_output = 1;

    ngx_str_set(&conf->upstream.module, "drover");

    conf->keepalive = NGX_CONF_UNSET;
    conf->keepalive_timeout = NGX_CONF_UNSET_MSEC;

    conf->queue_size = NGX_CONF_UNSET_UINT;
    conf->queue_timeout = NGX_CONF_UNSET_MSEC;
    conf->retries = NGX_CONF_UNSET;
    conf->pipeline = NGX_CONF_UNSET_UINT;
    conf->pipeline_timeout = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_http_drover_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_drover_loc_conf_t *prev = parent;
    ngx_http_drover_loc_conf_t *conf = child;

    ngx_hash_init_t               hash;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_drover_main_conf_t  *dmcf;

    ngx_conf_merge_value(conf->upstream.buffering,
                              prev->upstream.buffering, 1);

    ngx_conf_merge_value(conf->upstream.request_buffering,
                              prev->upstream.request_buffering, 1);

    ngx_conf_merge_msec_value(conf->upstream.connect_timeout,
                              prev->upstream.connect_timeout, 60000);

    ngx_conf_merge_msec_value(conf->upstream.send_timeout,
                              prev->upstream.send_timeout, 60000);

    ngx_conf_merge_msec_value(conf->upstream.read_timeout,
                              prev->upstream.read_timeout, 60000);

    ngx_conf_merge_size_value(conf->upstream.buffer_size,
                              prev->upstream.buffer_size,
                              (size_t) ngx_pagesize);

    ngx_conf_merge_bufs_value(conf->upstream.bufs, prev->upstream.bufs,
                              8, ngx_pagesize);

    if (ngx_http_drover_merge_buffers(cf, conf, prev) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_bitmask_value(conf->upstream.ignore_headers,
                              prev->upstream.ignore_headers,
                              NGX_CONF_BITMASK_SET);

    /*
     * no directive: "error" lets upstream retry a request on a new
     * connection when a cached one turns out to be closed
     */

    ngx_conf_merge_bitmask_value(conf->upstream.next_upstream,
                              prev->upstream.next_upstream,
                              (NGX_CONF_BITMASK_SET
                               |NGX_HTTP_UPSTREAM_FT_ERROR
                               |NGX_HTTP_UPSTREAM_FT_TIMEOUT));

    if (ngx_conf_merge_path_value(cf, &conf->upstream.temp_path,
                              prev->upstream.temp_path,
                              &ngx_http_drover_temp_path)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_value(conf->keepalive, prev->keepalive, 32);

    ngx_conf_merge_msec_value(conf->keepalive_timeout,
                              prev->keepalive_timeout, 60000);

    ngx_conf_merge_uint_value(conf->queue_size, prev->queue_size, 100);

    ngx_conf_merge_msec_value(conf->queue_timeout,
                              prev->queue_timeout, 10000);

    ngx_conf_merge_value(conf->retries, prev->retries, 2);

    ngx_conf_merge_uint_value(conf->pipeline, prev->pipeline, 7);

    ngx_conf_merge_msec_value(conf->pipeline_timeout,
                              prev->pipeline_timeout, 2);

    hash.max_size = 512;
    hash.bucket_size = ngx_align(64, ngx_cacheline_size);
    hash.name = "drover_hide_headers_hash";

    if (ngx_http_upstream_hide_headers_hash(cf, &conf->upstream,
             &prev->upstream, ngx_http_drover_hide_headers, &hash)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* "if" and "limit_except" blocks pass where their location passes */

    if (clcf->noname
        && conf->upstream.upstream == NULL && conf->pass_lengths == NULL)
    {
        conf->upstream.upstream = prev->upstream.upstream;
        conf->pass_lengths = prev->pass_lengths;
        conf->pass_values = prev->pass_values;
        conf->dispatch = prev->dispatch;
    }

    /*
     * Dispatch decides on replays itself (see ngx_http_drover_peer.c):
     * upstream is let through for a refused request (FCGI_OVERLOADED
     * makes an invalid header) and a POST sent already.  Without slots a
     * literal address has one peer and one try, so nothing changes there.
     */

    if (conf->dispatch) {
        conf->upstream.next_upstream |= NGX_HTTP_UPSTREAM_FT_INVALID_HEADER
                                        |NGX_HTTP_UPSTREAM_FT_NON_IDEMPOTENT;
    }

    if (clcf->lmt_excpt && clcf->handler == NULL
        && (conf->upstream.upstream || conf->pass_lengths))
    {
        clcf->handler = ngx_http_drover_handler;
    }

    if (conf->params_source == NULL) {
        conf->params = prev->params;
        conf->params_source = prev->params_source;
    }

    if (conf->params.params == NULL
        && (conf->upstream.upstream || conf->pass_lengths))
    {
        if (ngx_http_drover_params_init(cf, &conf->params,
                                        conf->params_source)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    /* a dispatched pass needs the peer hooks even with no cache */

    if (conf->upstream.upstream && (conf->keepalive > 0 || conf->dispatch)) {
        dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_drover_module);

        conf->keepalive_cache = ngx_http_drover_keepalive_add(cf,
                                                 &dmcf->caches,
                                                 conf->upstream.upstream,
                                                 conf->keepalive);
        if (conf->keepalive_cache == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* the rules of the stock upstream modules for the buffer family */

static char *
ngx_http_drover_merge_buffers(ngx_conf_t *cf, ngx_http_drover_loc_conf_t *conf,
    ngx_http_drover_loc_conf_t *prev)
{
    size_t                     size;
    ngx_http_upstream_conf_t  *u;

    u = &conf->upstream;

    if (u->bufs.num < 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "there must be at least 2 \"drover_buffers\"");
        return NGX_CONF_ERROR;
    }

    size = ngx_max(u->buffer_size, u->bufs.size);

    ngx_conf_merge_size_value(u->busy_buffers_size_conf,
                              prev->upstream.busy_buffers_size_conf,
                              2 * size);

    u->busy_buffers_size = u->busy_buffers_size_conf;

    if (u->busy_buffers_size < size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
             "\"drover_busy_buffers_size\" must be equal to or greater than "
             "the maximum of the value of \"drover_buffer_size\" and "
             "one of the \"drover_buffers\"");
        return NGX_CONF_ERROR;
    }

    if (u->busy_buffers_size > (u->bufs.num - 1) * u->bufs.size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
             "\"drover_busy_buffers_size\" must be less than "
             "the size of all \"drover_buffers\" minus one buffer");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_size_value(u->temp_file_write_size_conf,
                              prev->upstream.temp_file_write_size_conf,
                              2 * size);

    u->temp_file_write_size = u->temp_file_write_size_conf;

    if (u->temp_file_write_size < size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
             "\"drover_temp_file_write_size\" must be equal to or greater "
             "than the maximum of the value of \"drover_buffer_size\" and "
             "one of the \"drover_buffers\"");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_size_value(u->max_temp_file_size_conf,
                              prev->upstream.max_temp_file_size_conf,
                              1024 * 1024 * 1024);

    u->max_temp_file_size = u->max_temp_file_size_conf;

    if (u->max_temp_file_size != 0 && u->max_temp_file_size < size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
             "\"drover_max_temp_file_size\" must be equal to zero to disable "
             "temporary files usage or must be equal to or greater than "
             "the maximum of the value of \"drover_buffer_size\" and "
             "one of the \"drover_buffers\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_drover_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_drover_main_conf_t  *dmcf;

    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_drover_module);

    if (ngx_http_drover_dispatch_init(cf, &dmcf->pools, dmcf->zone_size)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_drover_keepalive_init(cf, &dmcf->caches);
}


static char *
ngx_http_drover_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_drover_loc_conf_t *dlcf = conf;

    ngx_url_t                     u;
    ngx_str_t                    *value, path;
    ngx_uint_t                    n;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_script_compile_t     sc;
    ngx_http_drover_main_conf_t  *dmcf;

    if (dlcf->upstream.upstream || dlcf->pass_lengths) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    clcf->handler = ngx_http_drover_handler;

    if (clcf->name.len && clcf->name.data[clcf->name.len - 1] == '/') {
        clcf->auto_redirect = 1;
    }

    value = cf->args->elts;

    n = ngx_http_script_variables_count(&value[1]);

    if (n) {
        ngx_memzero(&sc, sizeof(ngx_http_script_compile_t));

        sc.cf = cf;
        sc.source = &value[1];
        sc.lengths = &dlcf->pass_lengths;
        sc.values = &dlcf->pass_values;
        sc.variables = n;
        sc.complete_lengths = 1;
        sc.complete_values = 1;

        if (ngx_http_script_compile(&sc) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    /* group:NAME: a drover_group's hosts (ngx_http_drover_group.c) */

    if (value[1].len > 6
        && ngx_strncmp(value[1].data, "group:", 6) == 0)
    {
        path.data = value[1].data + 6;
        path.len = value[1].len - 6;

        return ngx_http_drover_group_pass(cf, &path,
                                          &dlcf->upstream.upstream,
                                          &dlcf->dispatch);
    }

    /* a literal address: an implicit upstream, whose connections are kept */

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.no_resolve = 1;

    dlcf->upstream.upstream = ngx_http_upstream_add(cf, &u, 0);
    if (dlcf->upstream.upstream == NULL) {
        return NGX_CONF_ERROR;
    }

    /* unix:PATH may be droverd's: its slots are looked for at run time */

    if (value[1].len > 5
        && ngx_strncasecmp(value[1].data, (u_char *) "unix:", 5) == 0)
    {
        path.data = value[1].data + 5;
        path.len = value[1].len - 5;

        dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_drover_module);

        dlcf->dispatch = ngx_http_drover_dispatch_add(cf, &dmcf->pools,
                                                      &path);
        if (dlcf->dispatch == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}
