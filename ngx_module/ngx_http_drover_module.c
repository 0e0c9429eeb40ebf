
/*
 * ngx_http_drover_module: passes requests to Drover workers (or any
 * FastCGI responder) over FastCGI 1.0, built on ngx_http_upstream.
 *
 * Section numbers refer to the FastCGI Specification 1.0.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_module.h"
#include "ngx_http_drover_queue.h"
#include "ngx_http_drover_pipeline.h"


/* at most this much of an application's FCGI_STDERR is logged per request */
#define NGX_HTTP_DROVER_STDERR_MAX  65536


static ngx_int_t ngx_http_drover_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_drover_eval(ngx_http_request_t *r,
    ngx_http_drover_loc_conf_t *dlcf);

static ngx_int_t ngx_http_drover_create_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_drover_frame_body(ngx_http_request_t *r,
    ngx_chain_t *cl, ngx_chain_t *body);
static off_t ngx_http_drover_body_buf_size(ngx_buf_t *b);
static ngx_uint_t ngx_http_drover_body_records(ngx_chain_t *body);
static ngx_int_t ngx_http_drover_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_drover_body_output_filter(void *data,
    ngx_chain_t *in);
static ngx_chain_t *ngx_http_drover_get_frame(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx);

static ngx_int_t ngx_http_drover_process_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_drover_parse_header_lines(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx);
static ngx_int_t ngx_http_drover_add_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_drover_header_done(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx);
static ngx_int_t ngx_http_drover_check_preread(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx);

static ngx_int_t ngx_http_drover_input_filter_init(void *data);
static ngx_int_t ngx_http_drover_input_filter(ngx_event_pipe_t *p,
    ngx_buf_t *buf);
static void ngx_http_drover_pipe_add(ngx_event_pipe_t *p, ngx_chain_t *cl);
static ngx_int_t ngx_http_drover_non_buffered_filter(void *data,
    ssize_t bytes);
static ngx_int_t ngx_http_drover_end_request(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx, ngx_uint_t trailing);
static ngx_int_t ngx_http_drover_body_limit(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx, ngx_str_t *data);
static void ngx_http_drover_last_byte(ngx_http_drover_ctx_t *ctx,
    ngx_buf_t *b);
static off_t ngx_http_drover_wanted(ngx_http_drover_ctx_t *ctx);
static void ngx_http_drover_log_stderr(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx, ngx_str_t *data);

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


/*
 * The request head is one buffer: FCGI_BEGIN_REQUEST, the FCGI_PARAMS
 * stream and its empty record (5.2), then the header of the first
 * FCGI_STDIN record.  A buffered body follows as its own buffers, framed
 * by small buffers that hold a record's padding and the next header.
 * The first pass computes every value and length, the second only copies.
 */

static ngx_int_t
ngx_http_drover_create_request(ngx_http_request_t *r)
{
    size_t                       len, size;
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl, *body;
    ngx_array_t                 *pairs;
    ngx_keyval_t                *pair;
#if (NGX_DEBUG)
    ngx_uint_t                   i;
#endif
    ngx_http_upstream_t         *u;
    ngx_http_drover_ctx_t       *ctx;
    ngx_http_drover_loc_conf_t  *dlcf;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);
    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_drover_module);

    if (ngx_http_drover_params_eval(r, &dlcf->params, &pairs, &len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * A request the dispatcher may take back (drover_pipeline): droverd
     * reads it whole and runs it only if nginx has not shut the
     * connection's sending side meanwhile (ngx_http_drover_dispatch.c)
     */

    if (ctx->dispatch.limit > 1) {
        pair = ngx_array_push(pairs);
        if (pair == NULL) {
            return NGX_ERROR;
        }

        ngx_str_set(&pair->key, "DROVER_WITHDRAWABLE");
        ngx_str_set(&pair->value, "1");

        len += ngx_http_drover_fcgi_pair_size(pair->key.len,
                                              pair->value.len);
    }

    size = NGX_HTTP_DROVER_FCGI_BEGIN_LEN
           + ngx_http_drover_fcgi_stream_size(len)
           + 2 * NGX_HTTP_DROVER_FCGI_HEADER_LEN;

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_ERROR;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

#if (NGX_DEBUG)
    pair = pairs->elts;

    for (i = 0; i < pairs->nelts; i++) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "drover param: \"%V: %V\"",
                       &pair[i].key, &pair[i].value);
    }
#endif

    b->last = ngx_http_drover_fcgi_write_begin(b->last, ctx->keep_conn);
    b->last = ngx_http_drover_fcgi_write_params(b->last, pairs, len);
    b->last = ngx_http_drover_fcgi_write_header(b->last,
                                                NGX_HTTP_DROVER_FCGI_PARAMS,
                                                0, 0);

    body = u->request_bufs;
    u->request_bufs = cl;

    if (r->request_body_no_buffering) {

        /* the body is framed as it arrives */

        u->output.output_filter = ngx_http_drover_body_output_filter;
        u->output.filter_ctx = r;

        return NGX_OK;
    }

    return ngx_http_drover_frame_body(r, cl, body);
}


/*
 * A buffered body: each record's content is a slice of a body buffer,
 * in memory or in the temporary file, never copied.  "start" of every
 * buffer is its first byte, so that ngx_http_upstream_reinit() can send
 * the request again.
 */

static ngx_int_t
ngx_http_drover_frame_body(ngx_http_request_t *r, ngx_chain_t *cl,
    ngx_chain_t *body)
{
    off_t         file_pos;
    u_char       *frames, *pos;
    size_t        n, padding;
    ngx_buf_t    *b, *frame;
    ngx_uint_t    records, next;

    records = ngx_http_drover_body_records(body);

    frames = NULL;

    if (records) {
        frames = ngx_pnalloc(r->pool,
                             records * 2 * NGX_HTTP_DROVER_FCGI_HEADER_LEN);
        if (frames == NULL) {
            return NGX_ERROR;
        }
    }

    frame = cl->buf;
    padding = 0;

    for ( /* void */ ; body; body = body->next) {

        /*
         * an empty buffer gets no record: it has no frame room counted in
         * ngx_http_drover_body_records(), and an empty FCGI_STDIN record
         * would end the stream early (5.3)
         */

        if (ngx_buf_special(body->buf)
            || ngx_http_drover_body_buf_size(body->buf) == 0)
        {
            continue;
        }

        file_pos = body->buf->file_pos;
        pos = body->buf->pos;

        do {
            b = ngx_alloc_buf(r->pool);
            if (b == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(b, body->buf, sizeof(ngx_buf_t));

            b->last_buf = 0;
            b->last_in_chain = 0;

            if (body->buf->in_file) {
                n = (size_t) ngx_min(body->buf->file_last - file_pos,
                                     NGX_HTTP_DROVER_FCGI_RECORD_MAX);
                b->file_pos = file_pos;
                b->file_last = file_pos + n;
                b->temporary = 0;
                b->memory = 0;
                b->mmap = 0;
                b->start = NULL;
                b->pos = NULL;
                b->last = NULL;
                file_pos += n;
                next = (file_pos == body->buf->file_last);

            } else {
                n = ngx_min((size_t) (body->buf->last - pos),
                            NGX_HTTP_DROVER_FCGI_RECORD_MAX);
                b->start = pos;
                b->pos = pos;
                b->last = pos + n;
                pos += n;
                next = (pos == body->buf->last);
            }

            /* the previous record's padding, this record's header */

            ngx_memzero(frame->last, padding);
            frame->last += padding;

            padding = ngx_http_drover_fcgi_padding(n);
            frame->last = ngx_http_drover_fcgi_write_header(frame->last,
                                                 NGX_HTTP_DROVER_FCGI_STDIN,
                                                 n, padding);

            cl->next = ngx_alloc_chain_link(r->pool);
            if (cl->next == NULL) {
                return NGX_ERROR;
            }

            cl = cl->next;
            cl->buf = b;

            frame = ngx_calloc_buf(r->pool);
            if (frame == NULL) {
                return NGX_ERROR;
            }

            frame->temporary = 1;
            frame->start = frames;
            frame->pos = frames;
            frame->last = frames;
            frame->end = frames + 2 * NGX_HTTP_DROVER_FCGI_HEADER_LEN;

            frames = frame->end;

            cl->next = ngx_alloc_chain_link(r->pool);
            if (cl->next == NULL) {
                return NGX_ERROR;
            }

            cl = cl->next;
            cl->buf = frame;

        } while (!next);
    }

    /* 5.3: the empty record that ends FCGI_STDIN */

    ngx_memzero(frame->last, padding);
    frame->last += padding;

    frame->last = ngx_http_drover_fcgi_write_header(frame->last,
                                                    NGX_HTTP_DROVER_FCGI_STDIN,
                                                    0, 0);
    cl->next = NULL;

    return NGX_OK;
}


/*
 * The bytes of a body buffer as frame_body sends them: from the file when
 * it is in one.  Both passes use this, so the frames counted are the
 * frames written.
 */

static off_t
ngx_http_drover_body_buf_size(ngx_buf_t *b)
{
    return b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
}


static ngx_uint_t
ngx_http_drover_body_records(ngx_chain_t *body)
{
    off_t       size;
    ngx_uint_t  records;

    records = 0;

    for ( /* void */ ; body; body = body->next) {

        if (ngx_buf_special(body->buf)) {
            continue;
        }

        size = ngx_http_drover_body_buf_size(body->buf);

        records += (size + NGX_HTTP_DROVER_FCGI_RECORD_MAX - 1)
                   / NGX_HTTP_DROVER_FCGI_RECORD_MAX;
    }

    return records;
}


static ngx_int_t
ngx_http_drover_reinit_request(ngx_http_request_t *r)
{
    ngx_http_drover_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    if (ctx == NULL) {
        return NGX_OK;
    }

    ngx_memzero(&ctx->parser, sizeof(ngx_http_drover_fcgi_parser_t));

    ctx->text_pos = NULL;
    ctx->text_last = NULL;
    ctx->rest = -1;
    ctx->stderr_logged = 0;
    ctx->last_byte_held = 0;
    ctx->free = NULL;
    ctx->busy = NULL;
    ctx->head_sent = 0;
    ctx->failed = 0;
    ctx->abort_sent = 0;

    r->state = 0;

    return NGX_OK;
}


/*
 * An unbuffered body: the first buffer ever passed is the request head;
 * every other one is sent as FCGI_STDIN records whose content points into
 * it (b->shadow), and is marked consumed once sent, which lets the body
 * reader reuse it.  last_buf adds the empty record that ends the stream.
 */

static ngx_int_t
ngx_http_drover_body_output_filter(void *data, ngx_chain_t *in)
{
    ngx_http_request_t  *r = data;

    u_char                 *pos, *start, *end;
    size_t                  n, size, padding;
    ngx_int_t               rc;
    ngx_buf_t              *b;
    ngx_uint_t              last;
    ngx_chain_t            *out, *cl, **ll;
    ngx_http_drover_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    out = NULL;
    ll = &out;

    if (in && !ctx->head_sent) {
        ctx->head_sent = 1;

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = in->buf;
        *ll = cl;
        ll = &cl->next;

        in = in->next;
    }

    last = 0;

    for ( /* void */ ; in; in = in->next) {

        if (in->buf->last_buf) {
            last = 1;
        }

        if (ngx_buf_special(in->buf)) {
            continue;
        }

        if (!ngx_buf_in_memory(in->buf)) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "drover: unbuffered request body not in memory");
            return NGX_ERROR;
        }

        pos = in->buf->pos;
        size = in->buf->last - pos;

        while (size) {
            n = ngx_min(size, NGX_HTTP_DROVER_FCGI_RECORD_MAX);
            padding = ngx_http_drover_fcgi_padding(n);

            cl = ngx_http_drover_get_frame(r, ctx);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            cl->buf->last = ngx_http_drover_fcgi_write_header(cl->buf->last,
                                                 NGX_HTTP_DROVER_FCGI_STDIN,
                                                 n, padding);
            *ll = cl;
            ll = &cl->next;

            cl = ngx_chain_get_free_buf(r->pool, &ctx->free);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            /* keep the frame space the buffer may carry for a later use */

            b = cl->buf;
            start = b->start;
            end = b->end;

            ngx_memzero(b, sizeof(ngx_buf_t));

            b->start = start;
            b->end = end;
            b->pos = pos;
            b->last = pos + n;
            b->memory = 1;
            b->tag = (ngx_buf_tag_t) &ngx_http_drover_body_output_filter;
            b->shadow = in->buf;
            b->last_shadow = (n == size);

            *ll = cl;
            ll = &cl->next;

            if (padding) {
                cl = ngx_http_drover_get_frame(r, ctx);
                if (cl == NULL) {
                    return NGX_ERROR;
                }

                ngx_memzero(cl->buf->last, padding);
                cl->buf->last += padding;

                *ll = cl;
                ll = &cl->next;
            }

            pos += n;
            size -= n;
        }
    }

    if (last) {

        /* 5.3: the empty record that ends FCGI_STDIN */

        cl = ngx_http_drover_get_frame(r, ctx);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf->last = ngx_http_drover_fcgi_write_header(cl->buf->last,
                                                    NGX_HTTP_DROVER_FCGI_STDIN,
                                                    0, 0);
        *ll = cl;
        ll = &cl->next;
    }

    *ll = NULL;

    rc = ngx_chain_writer(&r->upstream->writer, out);

    ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &out,
                          (ngx_buf_tag_t) &ngx_http_drover_body_output_filter);

    for (cl = ctx->free; cl; cl = cl->next) {
        b = cl->buf;

        if (b->shadow) {
            if (b->last_shadow) {
                b->shadow->pos = b->shadow->last;
            }

            b->shadow = NULL;
        }
    }

    return rc;
}


static ngx_chain_t *
ngx_http_drover_get_frame(ngx_http_request_t *r, ngx_http_drover_ctx_t *ctx)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    cl = ngx_chain_get_free_buf(r->pool, &ctx->free);
    if (cl == NULL) {
        return NULL;
    }

    b = cl->buf;

    if (b->start == NULL) {
        b->start = ngx_palloc(r->pool, NGX_HTTP_DROVER_FCGI_HEADER_LEN);
        if (b->start == NULL) {
            return NULL;
        }

        b->end = b->start + NGX_HTTP_DROVER_FCGI_HEADER_LEN;
    }

    b->pos = b->start;
    b->last = b->start;
    b->temporary = 1;
    b->memory = 0;
    b->shadow = NULL;
    b->last_shadow = 0;
    b->tag = (ngx_buf_tag_t) &ngx_http_drover_body_output_filter;

    return cl;
}


/*
 * The response header arrives in FCGI_STDOUT records, interleaved with
 * FCGI_STDERR ones, split anywhere.  The content of FCGI_STDOUT is moved
 * down over the framing so that the header text is contiguous in
 * u->buffer (see ngx_http_drover_ctx_t); FCGI_STDERR is logged and
 * dropped.  So the header may use all of drover_buffer_size, and no more:
 * past it, upstream answers "too big header".
 */

static ngx_int_t
ngx_http_drover_process_header(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_str_t               data;
    ngx_buf_t              *b;
    ngx_http_upstream_t    *u;
    ngx_http_drover_ctx_t  *ctx;

    u = r->upstream;
    b = &u->buffer;
    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    /* a response byte came: the request is not replayed any more */

    ctx->dispatch.responded = 1;

    if (ctx->text_last == NULL) {
        ctx->text_pos = b->pos;
        ctx->text_last = b->pos;
    }

    for ( ;; ) {

        rc = ngx_http_drover_fcgi_parse(&ctx->parser, &b->pos, b->last,
                                        &data, r->connection->log);

        if (rc == NGX_AGAIN) {

            /* all framing is consumed: only header text is kept */

            b->pos = ctx->text_last;
            b->last = ctx->text_last;

            return NGX_AGAIN;
        }

        if (rc == NGX_ERROR) {

            /* 5.5: refused unread, so another worker may take it */

            if (ctx->parser.end_request
                && ctx->parser.protocol_status
                   == NGX_HTTP_DROVER_FCGI_OVERLOADED)
            {
                ctx->dispatch.overloaded = 1;
            }

            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        if (rc == NGX_DONE) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream ended FastCGI request "
                          "without a response header");
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        if (ctx->parser.type == NGX_HTTP_DROVER_FCGI_STDERR) {
            ngx_http_drover_log_stderr(r, ctx, &data);
            continue;
        }

        if (data.len == 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream closed FastCGI stdout "
                          "before the end of the response header");
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        ctx->text_last = ngx_movemem(ctx->text_last, data.data, data.len);

        rc = ngx_http_drover_parse_header_lines(r, ctx);

        if (rc == NGX_AGAIN) {
            continue;
        }

        if (rc != NGX_OK) {
            return rc;
        }

        /*
         * The header is complete.  What follows it in the text is body:
         * it is given back to the parser and put right before the bytes
         * not parsed yet, so u->buffer.pos starts the body phase.
         */

        ngx_http_drover_fcgi_unread(&ctx->parser,
                                    ctx->text_last - ctx->text_pos);

        b->last = ngx_movemem(ctx->text_last, b->pos, b->last - b->pos);
        b->pos = ctx->text_pos;

        rc = ngx_http_drover_header_done(r, ctx);

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_drover_check_preread(r, ctx);
    }
}


static ngx_int_t
ngx_http_drover_parse_header_lines(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_buf_t  text;

    ngx_memzero(&text, sizeof(ngx_buf_t));

    text.pos = ctx->text_pos;
    text.last = ctx->text_last;

    for ( ;; ) {

        rc = ngx_http_parse_header_line(r, &text, 1);

        ctx->text_pos = text.pos;

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (rc == NGX_HTTP_PARSE_HEADER_DONE) {
            return NGX_OK;
        }

        if (rc == NGX_OK) {

            /*
             * ngx_http_parse_header_line() takes a line without ":" as a
             * name with an empty value, and a name with bytes outside the
             * token set as "invalid_header": neither is passed on
             */

            if (*r->header_name_end != ':' || r->invalid_header) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "upstream sent invalid header line: \"%*s\"",
                              ngx_min(r->header_name_end
                                      - r->header_name_start, 64),
                              r->header_name_start);
                return NGX_HTTP_UPSTREAM_INVALID_HEADER;
            }

            rc = ngx_http_drover_add_header(r);

            if (rc != NGX_OK) {
                return rc;
            }

            continue;
        }

        /* rc == NGX_HTTP_PARSE_INVALID_HEADER */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream sent invalid header: \"%*s\\x%02xd...\"",
                      ngx_min(r->header_end - r->header_name_start, 64),
                      r->header_name_start, *r->header_end);

        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }
}


/* the header text is overwritten later: a header gets its own copy */

static ngx_int_t
ngx_http_drover_add_header(ngx_http_request_t *r)
{
    ngx_table_elt_t                *h;
    ngx_http_upstream_t            *u;
    ngx_http_upstream_header_t     *hh;
    ngx_http_upstream_main_conf_t  *umcf;

    u = r->upstream;
    umcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_module);

    h = ngx_list_push(&u->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key.len = r->header_name_end - r->header_name_start;
    h->value.len = r->header_end - r->header_start;

    h->key.data = ngx_pnalloc(r->pool,
                              h->key.len + 1 + h->value.len + 1 + h->key.len);
    if (h->key.data == NULL) {
        h->hash = 0;
        return NGX_ERROR;
    }

    h->value.data = h->key.data + h->key.len + 1;
    h->lowcase_key = h->value.data + h->value.len + 1;

    ngx_memcpy(h->key.data, r->header_name_start, h->key.len);
    h->key.data[h->key.len] = '\0';
    ngx_memcpy(h->value.data, r->header_start, h->value.len);
    h->value.data[h->value.len] = '\0';

    h->hash = r->header_hash;

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    if (h->key.len == r->lowcase_index) {
        ngx_memcpy(h->lowcase_key, r->lowcase_header, h->key.len);

    } else {
        ngx_strlow(h->lowcase_key, h->key.data, h->key.len);
    }

    hh = ngx_hash_find(&umcf->headers_in_hash, h->hash,
                       h->lowcase_key, h->key.len);

    if (hh && hh->handler(r, h, hh->offset) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "drover header: \"%V: %V\"", &h->key, &h->value);

    return NGX_OK;
}


/* CGI (RFC 3875 6.3.3): "Status: NNN reason"; "Location" alone is a 302 */

static ngx_int_t
ngx_http_drover_header_done(ngx_http_request_t *r, ngx_http_drover_ctx_t *ctx)
{
    ngx_int_t             status;
    ngx_str_t            *line;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    if (u->headers_in.status) {
        line = &u->headers_in.status->value;

        status = (line->len >= 3) ? ngx_atoi(line->data, 3) : NGX_ERROR;

        if (status < NGX_HTTP_OK || status > 599
            || (line->len > 3 && line->data[3] != ' '))
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream sent invalid status \"%*s\"",
                          ngx_min(line->len, 64), line->data);
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        u->headers_in.status_n = status;

        if (line->len > 4) {
            u->headers_in.status_line = *line;
        }

    } else if (u->headers_in.location) {
        u->headers_in.status_n = NGX_HTTP_MOVED_TEMPORARILY;
        ngx_str_set(&u->headers_in.status_line, "302 Moved Temporarily");

    } else {
        u->headers_in.status_n = NGX_HTTP_OK;
        ngx_str_set(&u->headers_in.status_line, "200 OK");
    }

    if (u->headers_in.content_length
        && u->headers_in.content_length_n < 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream sent invalid \"Content-Length\" header: "
                      "\"%*s\"",
                      ngx_min(u->headers_in.content_length->value.len, 64),
                      u->headers_in.content_length->value.data);
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    if (u->state && u->state->status == 0) {
        u->state->status = u->headers_in.status_n;
    }

    ctx->rest = u->headers_in.content_length_n;

    return NGX_OK;
}


/*
 * Once the header is read, the bytes already received after it are
 * checked before anything is sent to the client: a malformed record there,
 * bytes after FCGI_END_REQUEST, or a complete body whose length is not
 * the Content-Length, make a 502 instead of a response cut short later.
 * The parser works on a copy; the body phase parses the same bytes again.
 */

static ngx_int_t
ngx_http_drover_check_preread(ngx_http_request_t *r,
    ngx_http_drover_ctx_t *ctx)
{
    off_t                          body;
    u_char                        *pos, *last;
    ngx_int_t                      rc;
    ngx_str_t                      data;
    ngx_http_upstream_t           *u;
    ngx_http_drover_fcgi_parser_t  parser;

    u = r->upstream;
    parser = ctx->parser;
    pos = u->buffer.pos;
    last = u->buffer.last;
    body = 0;

    for ( ;; ) {

        rc = ngx_http_drover_fcgi_parse(&parser, &pos, last, &data,
                                        r->connection->log);

        if (rc == NGX_AGAIN) {
            return NGX_OK;
        }

        if (rc == NGX_ERROR) {
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        if (rc == NGX_OK) {
            if (parser.type == NGX_HTTP_DROVER_FCGI_STDOUT) {
                body += data.len;
            }

            continue;
        }

        /* rc == NGX_DONE */

        if (pos != last) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream sent data after FastCGI end request");
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        if (ctx->rest >= 0
            && body != ctx->rest
            && r->method != NGX_HTTP_HEAD
            && u->headers_in.status_n != NGX_HTTP_NO_CONTENT
            && u->headers_in.status_n != NGX_HTTP_NOT_MODIFIED)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream sent %O body bytes with "
                          "\"Content-Length: %O\"", body, ctx->rest);
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        return NGX_OK;
    }
}


/*
 * The response ends at FCGI_END_REQUEST and nowhere else: neither
 * p->length nor u->length is ever -1, which tells upstream that a close
 * before it is "upstream prematurely closed connection", never a
 * complete response.
 */

static ngx_int_t
ngx_http_drover_input_filter_init(void *data)
{
    ngx_http_request_t  *r = data;

    ngx_http_upstream_t    *u;
    ngx_http_drover_ctx_t  *ctx;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    u->length = 1;
    u->pipe->length = ngx_http_drover_wanted(ctx);

    return NGX_OK;
}


static ngx_int_t
ngx_http_drover_input_filter(ngx_event_pipe_t *p, ngx_buf_t *buf)
{
    u_char                 *pos;
    ngx_int_t               rc;
    ngx_str_t               data;
    ngx_buf_t              *b, **prev;
    ngx_chain_t            *cl;
    ngx_http_request_t     *r;
    ngx_http_drover_ctx_t  *ctx;

    if (buf->pos == buf->last) {
        return NGX_OK;
    }

    r = p->input_ctx;
    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    if (ctx->parser.end_request || ctx->failed) {

        /*
         * bytes after the end, read in the same pipe cycle: the response
         * is not done after all (p->length stays non-zero, or the pipe
         * would set upstream_done again)
         */

        if (ngx_http_drover_end_request(r, ctx, 1) != NGX_OK) {
            p->upstream_done = 0;
            p->upstream_error = 1;
            p->length = 1;
        }

        return NGX_OK;
    }

    b = NULL;
    prev = &buf->shadow;
    pos = buf->pos;

    for ( ;; ) {

        rc = ngx_http_drover_fcgi_parse(&ctx->parser, &pos, buf->last, &data,
                                        p->log);

        if (rc == NGX_AGAIN) {
            break;
        }

        if (rc == NGX_ERROR) {
            ctx->failed = 1;
            p->upstream_error = 1;
            break;
        }

        if (rc == NGX_DONE) {
            if (ngx_http_drover_end_request(r, ctx, pos != buf->last)
                != NGX_OK)
            {
                p->upstream_error = 1;
                break;
            }

            p->upstream_done = 1;

            if (!ctx->last_byte_held) {
                break;
            }

            cl = ngx_chain_get_free_buf(p->pool, &p->free);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            ngx_memzero(cl->buf, sizeof(ngx_buf_t));

            cl->buf->tag = p->tag;
            ngx_http_drover_last_byte(ctx, cl->buf);

            ngx_http_drover_pipe_add(p, cl);

            break;
        }

        if (ctx->parser.type == NGX_HTTP_DROVER_FCGI_STDERR) {
            ngx_http_drover_log_stderr(r, ctx, &data);
            continue;
        }

        rc = ngx_http_drover_body_limit(r, ctx, &data);

        if (data.len) {
            cl = ngx_chain_get_free_buf(p->pool, &p->free);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            b = cl->buf;

            ngx_memzero(b, sizeof(ngx_buf_t));

            b->pos = data.data;
            b->last = data.data + data.len;
            b->start = buf->start;
            b->end = buf->end;
            b->tag = p->tag;
            b->temporary = 1;
            b->recycled = 1;

            *prev = b;
            prev = &b->shadow;

            ngx_http_drover_pipe_add(p, cl);

            /* STUB */ b->num = buf->num;
        }

        if (rc == NGX_ERROR) {
            p->upstream_error = 1;
            break;
        }
    }

    p->length = p->upstream_done ? 0 : ngx_http_drover_wanted(ctx);

    if (b) {
        b->shadow = buf;
        b->last_shadow = 1;

        return NGX_OK;
    }

    /* no body in this buffer: it can be read into again */

    return ngx_event_pipe_add_free_buf(p, buf);
}


static void
ngx_http_drover_pipe_add(ngx_event_pipe_t *p, ngx_chain_t *cl)
{
    if (p->in) {
        *p->last_in = cl;

    } else {
        p->in = cl;
    }

    p->last_in = &cl->next;
}


static ngx_int_t
ngx_http_drover_non_buffered_filter(void *data, ssize_t bytes)
{
    ngx_http_request_t  *r = data;

    u_char                 *pos;
    ngx_int_t               rc;
    ngx_str_t               chunk;
    ngx_buf_t              *b, *buf;
    ngx_chain_t            *cl, **ll;
    ngx_http_upstream_t    *u;
    ngx_http_drover_ctx_t  *ctx;

    u = r->upstream;
    buf = &u->buffer;
    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_module);

    buf->pos = buf->last;
    buf->last += bytes;

    if (bytes == 0) {
        return NGX_OK;
    }

    if (ctx->parser.end_request || ctx->failed) {

        if (ngx_http_drover_end_request(r, ctx, 1) != NGX_OK) {
            u->length = 1;
            u->error = 1;
        }

        return NGX_OK;
    }

    for (cl = u->out_bufs, ll = &u->out_bufs; cl; cl = cl->next) {
        ll = &cl->next;
    }

    pos = buf->pos;

    for ( ;; ) {

        rc = ngx_http_drover_fcgi_parse(&ctx->parser, &pos, buf->last, &chunk,
                                        r->connection->log);

        if (rc == NGX_AGAIN) {
            break;
        }

        if (rc == NGX_ERROR) {
            ctx->failed = 1;
            u->error = 1;
            break;
        }

        if (rc == NGX_DONE) {
            if (ngx_http_drover_end_request(r, ctx, pos != buf->last)
                != NGX_OK)
            {
                u->error = 1;
                break;
            }

            u->length = 0;

            if (!ctx->last_byte_held) {
                break;
            }

            cl = ngx_chain_get_free_buf(r->pool, &u->free_bufs);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            *ll = cl;
            ll = &cl->next;

            cl->buf->flush = 1;
            cl->buf->tag = u->output.tag;
            ngx_http_drover_last_byte(ctx, cl->buf);

            break;
        }

        if (ctx->parser.type == NGX_HTTP_DROVER_FCGI_STDERR) {
            ngx_http_drover_log_stderr(r, ctx, &chunk);
            continue;
        }

        rc = ngx_http_drover_body_limit(r, ctx, &chunk);

        if (chunk.len) {
            cl = ngx_chain_get_free_buf(r->pool, &u->free_bufs);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            *ll = cl;
            ll = &cl->next;

            b = cl->buf;

            b->flush = 1;
            b->memory = 1;

            b->pos = chunk.data;
            b->last = chunk.data + chunk.len;
            b->tag = u->output.tag;
        }

        if (rc == NGX_ERROR) {
            u->error = 1;
            break;
        }
    }

    return NGX_OK;
}


/*
 * At FCGI_END_REQUEST, or with bytes after it (trailing).  Bytes after
 * the record in the buffer make the response an error: the application
 * wrote more than one response.  Bytes that come later find the
 * connection idle in the keepalive cache, which logs and closes it.  The
 * connection is kept only when FCGI_KEEP_CONN was sent and nothing
 * followed the record.
 */

static ngx_int_t
ngx_http_drover_end_request(ngx_http_request_t *r, ngx_http_drover_ctx_t *ctx,
    ngx_uint_t trailing)
{
    ngx_http_upstream_t  *u;

    u = r->upstream;
    u->keepalive = 0;

    if (ctx->failed) {
        return NGX_OK;
    }

    if (trailing) {
        ctx->failed = 1;

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream sent data after FastCGI end request");
        return NGX_ERROR;
    }

    if (ctx->rest > 0) {
        ctx->failed = 1;

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream ended FastCGI request %O bytes short "
                      "of \"Content-Length\"", ctx->rest);
        return NGX_ERROR;
    }

    u->keepalive = ctx->keep_conn;

    return NGX_OK;
}


/*
 * With a Content-Length, the last byte of the body is held back until
 * FCGI_END_REQUEST: a response the application does not end cleanly
 * (more data, a bad record, a close) never reaches the client complete,
 * however its bytes are split.  NGX_ERROR: more data than the length;
 * data is cut.
 */

static ngx_int_t
ngx_http_drover_body_limit(ngx_http_request_t *r, ngx_http_drover_ctx_t *ctx,
    ngx_str_t *data)
{
    ngx_uint_t  excess;

    if (ctx->rest < 0 || data->len == 0) {
        return NGX_OK;
    }

    if ((off_t) data->len < ctx->rest) {
        ctx->rest -= data->len;
        return NGX_OK;
    }

    excess = ((off_t) data->len > ctx->rest);

    if (ctx->rest > 0) {
        data->len = (size_t) ctx->rest - 1;

        ctx->last_byte = data->data[data->len];
        ctx->last_byte_held = 1;
        ctx->rest = 0;

    } else {
        data->len = 0;
    }

    if (!excess) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "upstream sent more data than specified in "
                  "\"Content-Length\" header");

    ctx->failed = 1;
    r->upstream->keepalive = 0;

    return NGX_ERROR;
}


static void
ngx_http_drover_last_byte(ngx_http_drover_ctx_t *ctx, ngx_buf_t *b)
{
    b->pos = &ctx->last_byte;
    b->last = b->pos + 1;
    b->memory = 1;

    ctx->last_byte_held = 0;
}


/* the bytes the parser needs before it can go on: the pipe's p->length */

static off_t
ngx_http_drover_wanted(ngx_http_drover_ctx_t *ctx)
{
    ngx_http_drover_fcgi_parser_t  *p;

    p = &ctx->parser;

    switch (p->state) {

    case ngx_http_drover_fcgi_st_data:
        if (p->type == NGX_HTTP_DROVER_FCGI_END_REQUEST) {
            return NGX_HTTP_DROVER_FCGI_END_BODY_LEN - p->end_body_read;
        }

        return p->length ? (off_t) p->length : 1;

    case ngx_http_drover_fcgi_st_padding:
        return p->padding ? (off_t) p->padding : 1;

    default:
        return NGX_HTTP_DROVER_FCGI_HEADER_LEN - p->state;
    }
}


static void
ngx_http_drover_log_stderr(ngx_http_request_t *r, ngx_http_drover_ctx_t *ctx,
    ngx_str_t *data)
{
    u_char  *p, *last;
    size_t   n;

    if (ctx->stderr_logged >= NGX_HTTP_DROVER_STDERR_MAX) {
        return;
    }

    p = data->data;
    last = p + data->len;

    while (last > p && (last[-1] == LF || last[-1] == CR)) {
        last--;
    }

    if (last == p) {
        return;
    }

    n = ngx_min((size_t) (last - p),
                NGX_HTTP_DROVER_STDERR_MAX - ctx->stderr_logged);

    ctx->stderr_logged += n;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "FastCGI sent in stderr: \"%*s\"", n, p);

    if (ctx->stderr_logged == NGX_HTTP_DROVER_STDERR_MAX) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "FastCGI stderr over %uz bytes, the rest not logged",
                      (size_t) NGX_HTTP_DROVER_STDERR_MAX);
    }
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

    ngx_conf_merge_value(conf->keepalive, prev->keepalive, 16);

    ngx_conf_merge_msec_value(conf->keepalive_timeout,
                              prev->keepalive_timeout, 60000);

    ngx_conf_merge_uint_value(conf->queue_size, prev->queue_size, 100);

    ngx_conf_merge_msec_value(conf->queue_timeout,
                              prev->queue_timeout, 10000);

    ngx_conf_merge_value(conf->retries, prev->retries, 2);

    ngx_conf_merge_uint_value(conf->pipeline, prev->pipeline, 1);

    ngx_conf_merge_msec_value(conf->pipeline_timeout,
                              prev->pipeline_timeout, 5);

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
     * Dispatch decides on replays itself (see ngx_http_drover_dispatch.c):
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
