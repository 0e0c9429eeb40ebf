
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * ngx_http_drover_status_module: "drover_status unix:PATH;" shows what
 * droverd's pools do, as an HTML page, JSON or Prometheus text.
 *
 * droverd renders every format itself; this module only picks the format,
 * asks droverd's control socket for it, and relays the answer.  The
 * exchange, on a connection of its own (docs/protocols.md, "The control
 * socket"):
 *
 *     -> {"cmd":"status","format":"html","pool":"kit","raw":true}\n
 *     <- 200 text/html; charset=utf-8\n
 *     <- the document, up to the close
 *
 * The request also carries what only nginx knows: "queues", each pool's
 * dispatch numbers, and "groups", every drover_group with each of its
 * hosts (left out when there is none), for droverd's page to show.
 *
 * It is built on ngx_http_upstream, so connecting, reading and timeouts
 * never block the worker.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_drover_dispatch.h"
#include "ngx_http_drover_group.h"


/* "CODE CONTENT-TYPE\n" is longer than this only when it is not droverd's */
#define NGX_HTTP_DROVER_STATUS_LINE_MAX  256

/* conf.c's pool names: [A-Za-z0-9_.-]{1,64} */
#define NGX_HTTP_DROVER_STATUS_POOL_MAX  64

#define NGX_HTTP_DROVER_STATUS_JSON        0
#define NGX_HTTP_DROVER_STATUS_PROMETHEUS  1
#define NGX_HTTP_DROVER_STATUS_HTML        2

#define NGX_HTTP_DROVER_STATUS_CMD   "{\"cmd\":\"status\",\"format\":\""
#define NGX_HTTP_DROVER_STATUS_POOL  "\",\"pool\":\""
#define NGX_HTTP_DROVER_STATUS_QUEUES  "\",\"queues\":["
#define NGX_HTTP_DROVER_STATUS_GROUPS  "],\"groups\":"
#define NGX_HTTP_DROVER_STATUS_RAW   ",\"raw\":true}\n"

/* the groups go along while the request stays under droverd's 64 KiB */
#define NGX_HTTP_DROVER_STATUS_GROUPS_MAX  (48 * 1024)

/* one pool's dispatch numbers, at most this long beside its path */
#define NGX_HTTP_DROVER_STATUS_QUEUE_LEN                                     \
    sizeof("{\"listen\":\"\",\"queued\":,\"requests\":,\"waited\":,"         \
           "\"wait_ms\":,\"wait_max_ms\":,\"overflows\":,\"timeouts\":,"      \
           "\"replays\":,\"failures\":,\"pipelined\":,\"moved\":},")         \
    + 12 * NGX_INT64_LEN


typedef struct {
    ngx_http_upstream_conf_t   upstream;
    ngx_msec_t                 timeout;
    ngx_str_t                  control;     /* "unix:PATH", for the log */
} ngx_http_drover_status_loc_conf_t;


typedef struct {
    ngx_str_t                  type;
    ngx_uint_t                 format;
} ngx_http_drover_status_type_t;


typedef struct {
    ngx_str_t                  name;
    ngx_str_t                  lowcase_name;
    ngx_str_t                  value;
} ngx_http_drover_status_header_t;


typedef struct {
    ngx_uint_t                 format;
    ngx_str_t                  pool;        /* empty: every pool */

    /*
     * The status line parser.  The line starts at u->buffer.pos, which
     * stays put until the whole line is there, so "parsed" (the bytes
     * already checked) and "type_len" are offsets into a stable buffer.
     */
    ngx_uint_t                 state;
    size_t                     parsed;
    ngx_uint_t                 status;
    size_t                     type_len;
} ngx_http_drover_status_ctx_t;


static ngx_int_t ngx_http_drover_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_drover_status_query(ngx_http_request_t *r,
    ngx_http_drover_status_ctx_t *ctx);
static ngx_int_t ngx_http_drover_status_valid_pool(ngx_str_t *name);
static ngx_uint_t ngx_http_drover_status_negotiate(ngx_http_request_t *r);
static ngx_uint_t ngx_http_drover_status_accept(ngx_str_t *value,
    ngx_uint_t *best_q);
static ngx_uint_t ngx_http_drover_status_quality(u_char *p, u_char *last);
static ngx_int_t ngx_http_drover_status_type_format(u_char *p, size_t len);

static ngx_int_t ngx_http_drover_status_create_request(ngx_http_request_t *r);
static ngx_uint_t ngx_http_drover_status_plain(ngx_str_t *s);
static ngx_int_t ngx_http_drover_status_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_drover_status_process_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_drover_status_invalid(ngx_http_request_t *r);
static ngx_int_t ngx_http_drover_status_header_done(ngx_http_request_t *r,
    ngx_http_drover_status_ctx_t *ctx, u_char *line);
static ngx_int_t ngx_http_drover_status_add_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *lowcase_name, ngx_str_t *value);
static void ngx_http_drover_status_abort_request(ngx_http_request_t *r);
static void ngx_http_drover_status_finalize_request(ngx_http_request_t *r,
    ngx_int_t rc);

static void *ngx_http_drover_status_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_drover_status_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);

static char *ngx_http_drover_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* by NGX_HTTP_DROVER_STATUS_JSON, _PROMETHEUS, _HTML */
static ngx_str_t  ngx_http_drover_status_formats[] = {
    ngx_string("json"),
    ngx_string("prometheus"),
    ngx_string("html"),
    ngx_null_string
};


/* the media types of Accept that choose a format; any other one does not */
static ngx_http_drover_status_type_t  ngx_http_drover_status_types[] = {
    { ngx_string("application/json"), NGX_HTTP_DROVER_STATUS_JSON },
    { ngx_string("text/plain"), NGX_HTTP_DROVER_STATUS_PROMETHEUS },
    { ngx_string("application/openmetrics-text"),
      NGX_HTTP_DROVER_STATUS_PROMETHEUS },
    { ngx_string("text/html"), NGX_HTTP_DROVER_STATUS_HTML },
    { ngx_string("application/xhtml+xml"), NGX_HTTP_DROVER_STATUS_HTML },
    { ngx_null_string, 0 }
};


/* added to every answer relayed from droverd, next to its Content-Type */
static ngx_http_drover_status_header_t  ngx_http_drover_status_headers[] = {
    { ngx_string("Cache-Control"), ngx_string("cache-control"),
      ngx_string("no-store") },
    { ngx_string("Vary"), ngx_string("vary"), ngx_string("Accept") },
    { ngx_null_string, ngx_null_string, ngx_null_string }
};


static ngx_str_t  ngx_http_drover_status_content_type =
    ngx_string("Content-Type");
static ngx_str_t  ngx_http_drover_status_content_type_lc =
    ngx_string("content-type");


static ngx_str_t  ngx_http_drover_status_hide_headers[] = {
    ngx_null_string
};


static ngx_command_t  ngx_http_drover_status_commands[] = {

    { ngx_string("drover_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_drover_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("drover_status_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_drover_status_loc_conf_t, timeout),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_drover_status_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_drover_status_create_loc_conf,  /* create location configuration */
    ngx_http_drover_status_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_drover_status_module = {
    NGX_MODULE_V1,
    &ngx_http_drover_status_module_ctx,    /* module context */
    ngx_http_drover_status_commands,       /* module directives */
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


static ngx_int_t
ngx_http_drover_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                           rc;
    ngx_table_elt_t                    *h;
    ngx_http_upstream_t                *u;
    ngx_http_drover_status_ctx_t       *ctx;
    ngx_http_drover_status_loc_conf_t  *dslcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {

        /* RFC 9110 15.5.6: a 405 lists the methods that are allowed */

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD");

        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_drover_status_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_drover_status_query(r, ctx);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_upstream_create(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    u = r->upstream;

    ngx_str_set(&u->schema, "drover-status://");
    u->output.tag = (ngx_buf_tag_t) &ngx_http_drover_status_module;

    dslcf = ngx_http_get_module_loc_conf(r, ngx_http_drover_status_module);

    u->conf = &dslcf->upstream;

    u->create_request = ngx_http_drover_status_create_request;
    u->reinit_request = ngx_http_drover_status_reinit_request;
    u->process_header = ngx_http_drover_status_process_header;
    u->abort_request = ngx_http_drover_status_abort_request;
    u->finalize_request = ngx_http_drover_status_finalize_request;

    /* the default non-buffered filter relays the body up to the close */

    ngx_http_set_ctx(r, ctx, ngx_http_drover_status_module);

    r->main->count++;

    ngx_http_upstream_init(r);

    return NGX_DONE;
}


/* ?format= and ?pool=; NGX_HTTP_BAD_REQUEST for a value we cannot send */

static ngx_int_t
ngx_http_drover_status_query(ngx_http_request_t *r,
    ngx_http_drover_status_ctx_t *ctx)
{
    ngx_str_t   value;
    ngx_uint_t  i;

    if (ngx_http_arg(r, (u_char *) "format", 6, &value) == NGX_OK) {

        for (i = 0; ngx_http_drover_status_formats[i].len; i++) {
            if (value.len == ngx_http_drover_status_formats[i].len
                && ngx_strncmp(value.data,
                               ngx_http_drover_status_formats[i].data,
                               value.len)
                   == 0)
            {
                break;
            }
        }

        if (ngx_http_drover_status_formats[i].len == 0) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "drover status: \"format\" is one of json, "
                          "prometheus, html");
            return NGX_HTTP_BAD_REQUEST;
        }

        ctx->format = i;

    } else {
        ctx->format = ngx_http_drover_status_negotiate(r);
    }

    if (ngx_http_arg(r, (u_char *) "pool", 4, &value) == NGX_OK) {

        /*
         * the raw, undecoded value: a valid name never needs escaping,
         * and one that passes this check is safe inside a JSON string
         */

        if (ngx_http_drover_status_valid_pool(&value) != NGX_OK) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "drover status: \"pool\" is not a pool name");
            return NGX_HTTP_BAD_REQUEST;
        }

        ctx->pool = value;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_drover_status_valid_pool(ngx_str_t *name)
{
    u_char  *p, *last;

    if (name->len == 0 || name->len > NGX_HTTP_DROVER_STATUS_POOL_MAX) {
        return NGX_DECLINED;
    }

    last = name->data + name->len;

    for (p = name->data; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9')
              || *p == '_' || *p == '.' || *p == '-'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * The format of the Accept media range with the highest q (RFC 9110
 * 12.5.1); the first one listed wins a tie.  A browser gets HTML, and so
 * does a client that names none of our types, as curl does.
 */

static ngx_uint_t
ngx_http_drover_status_negotiate(ngx_http_request_t *r)
{
    ngx_uint_t        i, format, found, best_q, q;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    format = NGX_HTTP_DROVER_STATUS_HTML;
    best_q = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != sizeof("Accept") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Accept",
                               sizeof("Accept") - 1)
               != 0)
        {
            continue;
        }

        q = best_q;
        found = ngx_http_drover_status_accept(&h[i].value, &q);

        if (q > best_q) {
            best_q = q;
            format = found;
        }
    }

    return format;
}


/* the best media range of one Accept header that beats *best_q */

static ngx_uint_t
ngx_http_drover_status_accept(ngx_str_t *value, ngx_uint_t *best_q)
{
    u_char      *p, *last, *type;
    ngx_int_t    format;
    ngx_uint_t   q, found;

    found = NGX_HTTP_DROVER_STATUS_HTML;

    p = value->data;
    last = p + value->len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        type = p;

        while (p < last && *p != ',' && *p != ';' && *p != ' '
               && *p != '\t')
        {
            p++;
        }

        format = ngx_http_drover_status_type_format(type, p - type);
        q = 1000;

        /* parameters, up to the next range */

        while (p < last && *p != ',') {

            if (*p++ != ';') {
                continue;
            }

            while (p < last && (*p == ' ' || *p == '\t')) {
                p++;
            }

            if (last - p >= 2 && (*p == 'q' || *p == 'Q') && p[1] == '=') {
                q = ngx_http_drover_status_quality(p + 2, last);
            }
        }

        if (format != NGX_DECLINED && q > *best_q) {
            *best_q = q;
            found = format;
        }
    }

    return found;
}


/* a qvalue (RFC 9110 12.4.2) in thousandths; 0 when it is malformed */

static ngx_uint_t
ngx_http_drover_status_quality(u_char *p, u_char *last)
{
    ngx_uint_t  q, n, scale;

    if (p == last || (*p != '0' && *p != '1')) {
        return 0;
    }

    q = (*p++ - '0') * 1000;

    if (p == last || *p != '.') {
        return q;
    }

    p++;

    for (n = 0, scale = 100; n < 3 && p < last; n++, p++, scale /= 10) {
        if (*p < '0' || *p > '9') {
            break;
        }

        q += (*p - '0') * scale;
    }

    return q > 1000 ? 0 : q;
}


static ngx_int_t
ngx_http_drover_status_type_format(u_char *p, size_t len)
{
    ngx_http_drover_status_type_t  *t;

    for (t = ngx_http_drover_status_types; t->type.len; t++) {
        if (len == t->type.len
            && ngx_strncasecmp(p, t->type.data, len) == 0)
        {
            return t->format;
        }
    }

    return NGX_DECLINED;
}


/* the request line: its length first, then one buffer, then the copy */

static ngx_int_t
ngx_http_drover_status_create_request(ngx_http_request_t *r)
{
    size_t                              len, glen;
    ngx_buf_t                          *b;
    u_char                             *groups;
    ngx_str_t                          *format;
    ngx_uint_t                          i, n;
    ngx_array_t                        *pools;
    ngx_chain_t                        *cl;
    ngx_http_drover_status_ctx_t       *ctx;
    ngx_http_drover_dispatch_pool_t   **pool;
    ngx_http_drover_dispatch_stats_t   *st;

    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_status_module);

    format = &ngx_http_drover_status_formats[ctx->format];

    /*
     * The dispatch numbers of every pool this nginx sends requests to go
     * with the request, so droverd's page shows the queue too: taken once
     * here, then measured, then written.
     */
    pools = ngx_http_drover_dispatch_pools((ngx_cycle_t *) ngx_cycle);
    n = pools ? pools->nelts : 0;

    st = ngx_pcalloc(r->pool, (n ? n : 1) * sizeof(*st));
    if (st == NULL) {
        return NGX_ERROR;
    }

    pool = pools ? pools->elts : NULL;

    /*
     * And every drover_group with each of its hosts, written once into a
     * buffer of its own: a group too big for droverd's line is left out
     */

    glen = ngx_http_drover_group_status_len((ngx_cycle_t *) ngx_cycle);

    groups = ngx_pnalloc(r->pool, glen);
    if (groups == NULL) {
        return NGX_ERROR;
    }

    glen = ngx_http_drover_group_status_json(groups, (ngx_cycle_t *) ngx_cycle)
           - groups;

    if (glen > NGX_HTTP_DROVER_STATUS_GROUPS_MAX) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "drover status: the groups take %uz bytes, more than "
                      "droverd takes: not shown", glen);
        glen = 0;
    }

    if (glen <= 2) {
        glen = 0;      /* none: the request is what it was without groups */
    }

    len = sizeof(NGX_HTTP_DROVER_STATUS_CMD) - 1 + format->len
          + sizeof(NGX_HTTP_DROVER_STATUS_QUEUES) - 1
          + sizeof(NGX_HTTP_DROVER_STATUS_GROUPS) - 1 + glen
          + sizeof(NGX_HTTP_DROVER_STATUS_RAW) - 1;

    if (ctx->pool.len) {
        len += sizeof(NGX_HTTP_DROVER_STATUS_POOL) - 1 + ctx->pool.len;
    }

    for (i = 0; i < n; i++) {
        /* a path that would need JSON escapes is left out */
        if (ngx_http_drover_status_plain(&pool[i]->path)) {
            ngx_http_drover_dispatch_stats(pool[i], &st[i]);
            len += NGX_HTTP_DROVER_STATUS_QUEUE_LEN + pool[i]->path.len;
        }
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    b->last = ngx_cpymem(b->last, NGX_HTTP_DROVER_STATUS_CMD,
                         sizeof(NGX_HTTP_DROVER_STATUS_CMD) - 1);
    b->last = ngx_cpymem(b->last, format->data, format->len);

    if (ctx->pool.len) {
        b->last = ngx_cpymem(b->last, NGX_HTTP_DROVER_STATUS_POOL,
                             sizeof(NGX_HTTP_DROVER_STATUS_POOL) - 1);
        b->last = ngx_cpymem(b->last, ctx->pool.data, ctx->pool.len);
    }

    b->last = ngx_cpymem(b->last, NGX_HTTP_DROVER_STATUS_QUEUES,
                         sizeof(NGX_HTTP_DROVER_STATUS_QUEUES) - 1);

    for (i = 0; i < n; i++) {
        if (!ngx_http_drover_status_plain(&pool[i]->path)
            || !st[i].active)
        {
            continue;
        }

        b->last = ngx_sprintf(b->last, "{\"listen\":\"%V\",\"queued\":%ui,"
                              "\"requests\":%uL,\"waited\":%uL,"
                              "\"wait_ms\":%uL,\"wait_max_ms\":%uL,"
                              "\"overflows\":%uL,\"timeouts\":%uL,"
                              "\"replays\":%uL,\"failures\":%uL,"
                              "\"pipelined\":%uL,\"moved\":%uL},",
                              &pool[i]->path, st[i].queued, st[i].requests,
                              st[i].waited, st[i].wait_ms, st[i].wait_max_ms,
                              st[i].overflows, st[i].timeouts, st[i].replays,
                              st[i].failures, st[i].pipelined, st[i].moved);
    }

    if (b->last[-1] == ',') {
        b->last--;
    }

    if (glen) {
        b->last = ngx_cpymem(b->last, NGX_HTTP_DROVER_STATUS_GROUPS,
                             sizeof(NGX_HTTP_DROVER_STATUS_GROUPS) - 1);
        b->last = ngx_cpymem(b->last, groups, glen);

    } else {
        *b->last++ = ']';
    }

    b->last = ngx_cpymem(b->last, NGX_HTTP_DROVER_STATUS_RAW,
                         sizeof(NGX_HTTP_DROVER_STATUS_RAW) - 1);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "drover status request: \"%*s\"",
                   (size_t) (b->last - b->pos - 1), b->pos);

    r->upstream->request_bufs = cl;

    return NGX_OK;
}


/* printable ASCII without '"' and '\\': safe inside a JSON string as is */
static ngx_uint_t
ngx_http_drover_status_plain(ngx_str_t *s)
{
    u_char  *p;

    for (p = s->data; p < s->data + s->len; p++) {
        if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_drover_status_reinit_request(ngx_http_request_t *r)
{
    ngx_http_drover_status_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_status_module);

    if (ctx == NULL) {
        return NGX_OK;
    }

    ctx->state = 0;
    ctx->parsed = 0;
    ctx->status = 0;
    ctx->type_len = 0;

    return NGX_OK;
}


/*
 * "CODE CONTENT-TYPE\n" (or "\r\n"): three digits, one space, a media
 * type of printable ASCII.  Resumable: each call goes on where the last
 * one stopped, so a line split across reads is checked once per byte.
 */

static ngx_int_t
ngx_http_drover_status_process_header(ngx_http_request_t *r)
{
    u_char                        *p, *line;
    ngx_http_upstream_t           *u;
    ngx_http_drover_status_ctx_t  *ctx;
    enum {
        sw_code = 0,
        sw_type,
        sw_almost_done
    } state;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_drover_status_module);

    line = u->buffer.pos;
    state = ctx->state;

    for (p = line + ctx->parsed; p < u->buffer.last; p++) {

        if ((size_t) (p - line) >= NGX_HTTP_DROVER_STATUS_LINE_MAX) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "droverd sent a status line longer than %d bytes",
                          NGX_HTTP_DROVER_STATUS_LINE_MAX);
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        switch (state) {

        case sw_code:

            if (p - line < 3) {
                if (*p < '0' || *p > '9') {
                    return ngx_http_drover_status_invalid(r);
                }

                ctx->status = ctx->status * 10 + (*p - '0');
                break;
            }

            if (*p != ' ' || ctx->status < 200 || ctx->status > 599) {
                return ngx_http_drover_status_invalid(r);
            }

            state = sw_type;
            break;

        case sw_type:

            if (*p == CR || *p == LF) {
                ctx->type_len = p - line - 4;

                if (ctx->type_len == 0) {
                    return ngx_http_drover_status_invalid(r);
                }

                if (*p == LF) {
                    goto done;
                }

                state = sw_almost_done;
                break;
            }

            if (*p < 0x20 || *p > 0x7e || (*p == ' ' && p - line == 4)) {
                return ngx_http_drover_status_invalid(r);
            }

            break;

        case sw_almost_done:

            if (*p != LF) {
                return ngx_http_drover_status_invalid(r);
            }

            goto done;
        }
    }

    ctx->state = state;
    ctx->parsed = p - line;

    return NGX_AGAIN;

done:

    if (ngx_http_drover_status_header_done(r, ctx, line) != NGX_OK) {
        return NGX_ERROR;
    }

    u->buffer.pos = p + 1;

    return NGX_OK;
}


/* the line as far as it is printable, so the log shows what spoke instead */

static ngx_int_t
ngx_http_drover_status_invalid(ngx_http_request_t *r)
{
    u_char               *p, *line, *last;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    line = u->buffer.pos;
    last = ngx_min(u->buffer.last, line + 64);

    for (p = line; p < last && *p >= 0x20 && *p <= 0x7e; p++) {
        /* void */
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "droverd sent an invalid status line: \"%*s\"",
                  (size_t) (p - line), line);

    return NGX_HTTP_UPSTREAM_INVALID_HEADER;
}


/* the line is whole: status, Content-Type, and our own headers */

static ngx_int_t
ngx_http_drover_status_header_done(ngx_http_request_t *r,
    ngx_http_drover_status_ctx_t *ctx, u_char *line)
{
    ngx_str_t                         type;
    ngx_http_upstream_t              *u;
    ngx_http_drover_status_header_t  *h;

    u = r->upstream;

    /* u->buffer is reused for the body: the type gets its own copy */

    type.len = ctx->type_len;
    type.data = ngx_pnalloc(r->pool, type.len + 1);
    if (type.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(type.data, line + 4, type.len);
    type.data[type.len] = '\0';

    u->headers_in.status_n = ctx->status;
    u->state->status = ctx->status;

    if (ngx_http_drover_status_add_header(r,
                                   &ngx_http_drover_status_content_type,
                                   &ngx_http_drover_status_content_type_lc,
                                   &type)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (h = ngx_http_drover_status_headers; h->name.len; h++) {
        if (ngx_http_drover_status_add_header(r, &h->name, &h->lowcase_name,
                                              &h->value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "drover status: %ui \"%V\"", ctx->status, &type);

    return NGX_OK;
}


/* as if droverd had sent it: the upstream's handlers copy it to the client */

static ngx_int_t
ngx_http_drover_status_add_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *lowcase_name, ngx_str_t *value)
{
    ngx_table_elt_t                *h;
    ngx_http_upstream_header_t     *hh;
    ngx_http_upstream_main_conf_t  *umcf;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_module);

    h = ngx_list_push(&r->upstream->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key = *name;
    h->value = *value;
    h->lowcase_key = lowcase_name->data;
    h->hash = ngx_hash_key(lowcase_name->data, lowcase_name->len);

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    hh = ngx_hash_find(&umcf->headers_in_hash, h->hash,
                       h->lowcase_key, h->key.len);

    if (hh && hh->handler(r, h, hh->offset) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_drover_status_abort_request(ngx_http_request_t *r)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "abort drover status request");
    return;
}


/*
 * A 502 before the connection was ever made (u->state->connect_time is
 * set once it is) means there is no droverd behind the socket: nginx's
 * own line says connect() failed; this one says what to do about it.
 */

static void
ngx_http_drover_status_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_upstream_t                *u;
    ngx_http_drover_status_loc_conf_t  *dslcf;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "finalize drover status request: %i", rc);

    u = r->upstream;

    if (rc != NGX_HTTP_BAD_GATEWAY
        || u->state == NULL
        || u->state->connect_time != (ngx_msec_t) -1)
    {
        return;
    }

    dslcf = ngx_http_get_module_loc_conf(r, ngx_http_drover_status_module);

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "droverd is not running at %V: no answer on its control "
                  "socket (start droverd, or check \"control\" in its config)",
                  &dslcf->control);
}


static void *
ngx_http_drover_status_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_drover_status_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_drover_status_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->upstream.upstream = NULL;
     *     conf->upstream.local = NULL;
     *     conf->upstream.bufs.num = 0;
     *     conf->upstream.next_upstream_tries = 0;
     *     conf->upstream.next_upstream_timeout = 0;
     *     conf->upstream.hide_headers_hash = { NULL, 0 };
     *     conf->upstream.temp_path = NULL;
     *     conf->control = { 0, NULL };
     */

    conf->timeout = NGX_CONF_UNSET_MSEC;

    conf->upstream.hide_headers = NGX_CONF_UNSET_PTR;
    conf->upstream.pass_headers = NGX_CONF_UNSET_PTR;

    /* the hardcoded values */
    conf->upstream.buffer_size = ngx_pagesize;
    conf->upstream.next_upstream = NGX_CONF_BITMASK_SET
                                   |NGX_HTTP_UPSTREAM_FT_OFF;
    conf->upstream.cyclic_temp_file = 0;
    conf->upstream.buffering = 0;
    conf->upstream.ignore_client_abort = 0;
    conf->upstream.send_lowat = 0;
    conf->upstream.busy_buffers_size = 0;
    conf->upstream.max_temp_file_size = 0;
    conf->upstream.temp_file_write_size = 0;
    conf->upstream.intercept_errors = 0;
    conf->upstream.pass_request_headers = 0;
    conf->upstream.pass_request_body = 0;
    conf->upstream.force_ranges = 0;

    return conf;
}


static char *
ngx_http_drover_status_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_drover_status_loc_conf_t *prev = parent;
    ngx_http_drover_status_loc_conf_t *conf = child;

    ngx_hash_init_t  hash;

    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 5000);

    /* one deadline for each step of the exchange; each expiry is a 504 */

    conf->upstream.connect_timeout = conf->timeout;
    conf->upstream.send_timeout = conf->timeout;
    conf->upstream.read_timeout = conf->timeout;

    if (conf->upstream.upstream == NULL) {
        conf->upstream.upstream = prev->upstream.upstream;
        conf->control = prev->control;
    }

    hash.max_size = 512;
    hash.bucket_size = ngx_align(64, ngx_cacheline_size);
    hash.name = "drover_status_hide_headers_hash";

    if (ngx_http_upstream_hide_headers_hash(cf, &conf->upstream,
             &prev->upstream, ngx_http_drover_status_hide_headers, &hash)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_drover_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_drover_status_loc_conf_t *dslcf = conf;

    ngx_str_t                 *value;
    ngx_url_t                  u;
    ngx_http_core_loc_conf_t  *clcf;

    if (dslcf->upstream.upstream) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* droverd's control socket is a Unix socket only (docs/protocols.md) */

    if (value[1].len <= sizeof("unix:") - 1
        || ngx_strncmp(value[1].data, "unix:", sizeof("unix:") - 1) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"drover_status\" needs droverd's control "
                           "socket as unix:PATH, got \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.no_resolve = 1;

    dslcf->upstream.upstream = ngx_http_upstream_add(cf, &u, 0);
    if (dslcf->upstream.upstream == NULL) {
        return NGX_CONF_ERROR;
    }

    dslcf->control = value[1];

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    clcf->handler = ngx_http_drover_status_handler;

    return NGX_CONF_OK;
}
