
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: the CGI/FastCGI parameters sent with each request.
 *
 * Every parameter an application expects is set without any
 * "include fastcgi_params": the table below, the HTTP_* parameters made
 * from the request headers (RFC 3875 4.1.18), and under TLS the HTTPS and
 * SSL_* ones.  "drover_param" adds parameters or replaces a default one of
 * the same name; an HTTP_* one replaces the parameter made from the header.
 *
 * Path semantics: the application is the script, so SCRIPT_NAME is the
 * whole decoded path ($uri) and PATH_INFO is empty; no path is split at
 * the location prefix.  An application mounted at a prefix that wants
 * the split sets both with drover_param.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>
#include "ngx_http_drover_fcgi.h"
#include "ngx_http_drover_params.h"


typedef struct {
    ngx_str_t                      key;
    ngx_str_t                      value;
    ngx_http_drover_param_get_pt   get;
    ngx_uint_t                     skip_empty;
} ngx_http_drover_default_param_t;


typedef struct {
    ngx_str_t                      name;
    ngx_http_drover_param_get_pt   get;
} ngx_http_drover_param_field_t;


#if (NGX_HTTP_SSL)
typedef ngx_int_t (*ngx_http_drover_ssl_get_pt)(ngx_connection_t *c,
    ngx_pool_t *pool, ngx_str_t *s);
#endif


static ngx_int_t ngx_http_drover_params_headers(ngx_http_request_t *r,
    ngx_http_drover_params_t *params, ngx_array_t *pairs, size_t *len);
static ngx_int_t ngx_http_drover_header_key(ngx_http_request_t *r,
    ngx_table_elt_t *h, ngx_str_t *key);
static ngx_int_t ngx_http_drover_header_join(ngx_http_request_t *r,
    ngx_keyval_t *pair, ngx_str_t *value);
static ngx_uint_t ngx_http_drover_header_set(ngx_http_drover_params_t *params,
    ngx_str_t *key);
static ngx_int_t ngx_http_drover_source_has(ngx_array_t *source,
    ngx_str_t *key);

static ngx_int_t ngx_http_drover_param_compile(ngx_conf_t *cf,
    ngx_http_drover_param_t *param, ngx_str_t *value);
static ngx_uint_t ngx_http_drover_param_variable_name(ngx_str_t *value,
    ngx_str_t *name);
static ngx_int_t ngx_http_drover_param_fixed(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value);
static ngx_int_t ngx_http_drover_param_variable(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value);
static ngx_int_t ngx_http_drover_param_complex(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value);

static ngx_int_t ngx_http_drover_param_request_method(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value);
static ngx_int_t ngx_http_drover_param_request_uri(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value);
static ngx_int_t ngx_http_drover_param_uri(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value);
static ngx_int_t ngx_http_drover_param_server_protocol(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value);
static void ngx_http_drover_param_field(ngx_str_t *field, ngx_str_t *value);

static ngx_int_t ngx_http_drover_param_request_id(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value);
static u_char *ngx_http_drover_hex(u_char *p, uint64_t n, ngx_uint_t digits);

#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_drover_param_https(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value);
static ngx_int_t ngx_http_drover_param_ssl_protocol(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value);
static ngx_int_t ngx_http_drover_param_ssl_cipher(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value);
static ngx_int_t ngx_http_drover_param_ssl_server_name(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value);
static ngx_int_t ngx_http_drover_param_ssl(ngx_http_request_t *r,
    ngx_http_drover_ssl_get_pt get, ngx_str_t *value);
#endif


/* 3.4: both lengths of a name-value pair are at most 0x7fffffff */
#define NGX_HTTP_DROVER_PARAM_MAX  0x7fffffff


static ngx_http_drover_default_param_t  ngx_http_drover_default_params[] = {

    /* RFC 3875 4.1 */
    { ngx_string("GATEWAY_INTERFACE"), ngx_string("CGI/1.1"), NULL, 0 },

    /*
     * "nginx/$nginx_version": a dynamic module is built for the version
     * of the binary that loads it (ngx_add_module() refuses any other)
     */
    { ngx_string("SERVER_SOFTWARE"), ngx_string(NGINX_VER), NULL, 0 },

    { ngx_string("SERVER_PROTOCOL"), ngx_string("$server_protocol"),
      NULL, 0 },
    { ngx_string("SERVER_NAME"), ngx_string("$server_name"), NULL, 0 },
    { ngx_string("SERVER_ADDR"), ngx_string("$server_addr"), NULL, 0 },
    { ngx_string("SERVER_PORT"), ngx_string("$server_port"), NULL, 0 },
    { ngx_string("REQUEST_METHOD"), ngx_string("$request_method"), NULL, 0 },
    { ngx_string("REQUEST_SCHEME"), ngx_string("$scheme"), NULL, 0 },
    { ngx_string("REQUEST_URI"), ngx_string("$request_uri"), NULL, 0 },
    { ngx_string("DOCUMENT_URI"), ngx_string("$document_uri"), NULL, 0 },
    { ngx_string("DOCUMENT_ROOT"), ngx_string("$document_root"), NULL, 0 },
    { ngx_string("SCRIPT_NAME"), ngx_string("$uri"), NULL, 0 },
    { ngx_string("PATH_INFO"), ngx_string(""), NULL, 0 },
    { ngx_string("QUERY_STRING"), ngx_string("$args"), NULL, 0 },
    { ngx_string("CONTENT_TYPE"), ngx_string("$content_type"), NULL, 1 },
    { ngx_string("CONTENT_LENGTH"), ngx_string("$content_length"), NULL, 1 },
    { ngx_string("REMOTE_ADDR"), ngx_string("$remote_addr"), NULL, 0 },
    { ngx_string("REMOTE_PORT"), ngx_string("$remote_port"), NULL, 0 },
    { ngx_string("REQUEST_ID"), ngx_null_string,
      ngx_http_drover_param_request_id, 0 },

    /* php-cgi refuses to run without it (cgi.force_redirect) */
    { ngx_string("REDIRECT_STATUS"), ngx_string("200"), NULL, 0 },

#if (NGX_HTTP_SSL)
    { ngx_string("HTTPS"), ngx_null_string,
      ngx_http_drover_param_https, 1 },
    { ngx_string("SSL_PROTOCOL"), ngx_null_string,
      ngx_http_drover_param_ssl_protocol, 1 },
    { ngx_string("SSL_CIPHER"), ngx_null_string,
      ngx_http_drover_param_ssl_cipher, 1 },
    { ngx_string("SSL_SERVER_NAME"), ngx_null_string,
      ngx_http_drover_param_ssl_server_name, 1 },
#endif

    { ngx_null_string, ngx_null_string, NULL, 0 }
};


/*
 * Variables that a value made of one of them alone reads straight from the
 * request, as their getters in ngx_http_variables.c do.  None of them can
 * be redefined (they are not NGX_HTTP_VAR_CHANGEABLE), and none can hold
 * a cached value older than its field: $request_method and $uri are not
 * cacheable, and the fields of $request_uri and $server_protocol are set
 * once, with the request line.  Not here: $args ("map" may redefine it),
 * and $remote_addr, whose cached value realip may leave behind.
 */

static ngx_http_drover_param_field_t  ngx_http_drover_param_fields[] = {
    { ngx_string("request_method"), ngx_http_drover_param_request_method },
    { ngx_string("request_uri"), ngx_http_drover_param_request_uri },
    { ngx_string("uri"), ngx_http_drover_param_uri },
    { ngx_string("document_uri"), ngx_http_drover_param_uri },
    { ngx_string("server_protocol"), ngx_http_drover_param_server_protocol },
    { ngx_null_string, NULL }
};


/*
 * Headers never passed as HTTP_*: "Proxy" (httpoxy, CVE-2016-5385: it
 * would become HTTP_PROXY, read as a proxy setting), the two that are
 * CONTENT_TYPE and CONTENT_LENGTH (RFC 3875 4.1.18), and the framing of
 * a body that reaches the application de-chunked.
 */

static ngx_str_t  ngx_http_drover_skip_headers[] = {
    ngx_string("proxy"),
    ngx_string("content-type"),
    ngx_string("content-length"),
    ngx_string("transfer-encoding"),
    ngx_null_string
};


ngx_int_t
ngx_http_drover_params_init(ngx_conf_t *cf, ngx_http_drover_params_t *params,
    ngx_array_t *source)
{
    ngx_uint_t                        i, n;
    ngx_str_t                        *name;
    ngx_http_drover_param_t          *param;
    ngx_http_upstream_param_t        *src;
    ngx_http_drover_default_param_t  *d;

    n = sizeof(ngx_http_drover_default_params)
        / sizeof(ngx_http_drover_default_param_t)
        + (source ? source->nelts : 0);

    params->params = ngx_array_create(cf->pool, n,
                                      sizeof(ngx_http_drover_param_t));
    if (params->params == NULL) {
        return NGX_ERROR;
    }

    params->headers_set = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
    if (params->headers_set == NULL) {
        return NGX_ERROR;
    }

    for (d = ngx_http_drover_default_params; d->key.len; d++) {

        if (ngx_http_drover_source_has(source, &d->key)) {
            continue;
        }

        param = ngx_array_push(params->params);
        if (param == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(param, sizeof(ngx_http_drover_param_t));

        param->key = d->key;
        param->skip_empty = d->skip_empty;

        if (d->get) {
            param->get = d->get;
            continue;
        }

        if (ngx_http_drover_param_compile(cf, param, &d->value) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (source == NULL) {
        return NGX_OK;
    }

    src = source->elts;

    for (i = 0; i < source->nelts; i++) {

        param = ngx_array_push(params->params);
        if (param == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(param, sizeof(ngx_http_drover_param_t));

        param->key = src[i].key;
        param->skip_empty = src[i].skip_empty;

        if (ngx_http_drover_param_compile(cf, param, &src[i].value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (src[i].key.len > sizeof("HTTP_") - 1
            && ngx_strncmp(src[i].key.data, "HTTP_", sizeof("HTTP_") - 1)
               == 0)
        {
            name = ngx_array_push(params->headers_set);
            if (name == NULL) {
                return NGX_ERROR;
            }

            *name = src[i].key;
        }
    }

    return NGX_OK;
}


/*
 * The first pass of building a request: every value is computed here,
 * once, into *pairs (ngx_keyval_t); *len is the content length of the
 * FCGI_PARAMS stream that the second pass writes from *pairs.
 */

ngx_int_t
ngx_http_drover_params_eval(ngx_http_request_t *r,
    ngx_http_drover_params_t *params, ngx_array_t **pairs, size_t *len)
{
    size_t                    size;
    ngx_str_t                 value;
    ngx_uint_t                i, n;
    ngx_keyval_t             *pair;
    ngx_list_part_t          *part;
    ngx_http_drover_param_t  *param;

    n = params->params->nelts;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    *pairs = ngx_array_create(r->pool, n, sizeof(ngx_keyval_t));
    if (*pairs == NULL) {
        return NGX_ERROR;
    }

    /* *pairs has room for every parameter: no ngx_array_push() here */

    size = 0;
    param = params->params->elts;
    pair = (*pairs)->elts;

    for (i = 0; i < params->params->nelts; i++) {

        if (param[i].get(r, &param[i], &value) != NGX_OK) {
            return NGX_ERROR;
        }

        if (value.len == 0 && param[i].skip_empty) {
            continue;
        }

        if (value.len > NGX_HTTP_DROVER_PARAM_MAX) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "drover param \"%V\" is too long", &param[i].key);
            return NGX_ERROR;
        }

        pair->key = param[i].key;
        pair->value = value;

        size += ngx_http_drover_fcgi_pair_size(pair->key.len,
                                               pair->value.len);
        pair++;
    }

    (*pairs)->nelts = pair - (ngx_keyval_t *) (*pairs)->elts;
    *len = size;

    return ngx_http_drover_params_headers(r, params, *pairs, len);
}


/*
 * HTTP_* from the request headers.  A name outside [A-Za-z0-9-] is
 * dropped: with "_" in it, "X_Foo" would become HTTP_X_FOO just as
 * "X-Foo" does and could pass for it.  Repeated headers become one
 * parameter, their values joined (RFC 3875 4.1.18).
 */

static ngx_int_t
ngx_http_drover_params_headers(ngx_http_request_t *r,
    ngx_http_drover_params_t *params, ngx_array_t *pairs, size_t *len)
{
    ngx_int_t         rc;
    ngx_str_t         key;
    ngx_uint_t        i, j, first;
    ngx_keyval_t     *pair;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    first = pairs->nelts;

    for (part = &r->headers_in.headers.part; part; part = part->next) {

        h = part->elts;

        for (i = 0; i < part->nelts; i++) {

            rc = ngx_http_drover_header_key(r, &h[i], &key);

            if (rc == NGX_DECLINED) {
                continue;
            }

            if (rc != NGX_OK) {
                return NGX_ERROR;
            }

            if (ngx_http_drover_header_set(params, &key)) {
                continue;
            }

            pair = pairs->elts;

            for (j = first; j < pairs->nelts; j++) {
                if (pair[j].key.len == key.len
                    && ngx_strncmp(pair[j].key.data, key.data, key.len) == 0)
                {
                    break;
                }
            }

            if (j < pairs->nelts) {
                *len -= ngx_http_drover_fcgi_pair_size(pair[j].key.len,
                                                       pair[j].value.len);

                if (ngx_http_drover_header_join(r, &pair[j], &h[i].value)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

            } else {
                pair = ngx_array_push(pairs);
                if (pair == NULL) {
                    return NGX_ERROR;
                }

                j = pairs->nelts - 1;

                pair->key = key;
                pair->value = h[i].value;
            }

            pair = pairs->elts;

            if (pair[j].value.len > NGX_HTTP_DROVER_PARAM_MAX) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "request header \"%V\" is too long", &key);
                return NGX_ERROR;
            }

            *len += ngx_http_drover_fcgi_pair_size(pair[j].key.len,
                                                   pair[j].value.len);
        }
    }

    return NGX_OK;
}


/* NGX_OK: key is the header's parameter name; NGX_DECLINED: not passed */

static ngx_int_t
ngx_http_drover_header_key(ngx_http_request_t *r, ngx_table_elt_t *h,
    ngx_str_t *key)
{
    u_char      ch, *p;
    ngx_str_t  *skip;
    ngx_uint_t  i;

    if (h->key.len == 0 || h->hash == 0) {
        return NGX_DECLINED;
    }

    for (i = 0; i < h->key.len; i++) {
        ch = h->key.data[i];

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
            || (ch >= '0' && ch <= '9') || ch == '-')
        {
            continue;
        }

        return NGX_DECLINED;
    }

    for (skip = ngx_http_drover_skip_headers; skip->len; skip++) {
        if (skip->len == h->key.len
            && ngx_strncasecmp(skip->data, h->key.data, h->key.len) == 0)
        {
            return NGX_DECLINED;
        }
    }

    key->len = sizeof("HTTP_") - 1 + h->key.len;
    key->data = ngx_pnalloc(r->pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key->data, "HTTP_", sizeof("HTTP_") - 1);

    for (i = 0; i < h->key.len; i++) {
        ch = h->key.data[i];
        *p++ = (ch == '-') ? '_' : ngx_toupper(ch);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_drover_header_join(ngx_http_request_t *r, ngx_keyval_t *pair,
    ngx_str_t *value)
{
    u_char     *p;
    ngx_str_t   sep, old;

    /* RFC 6265 5.4: cookies are joined with "; ", other fields with ", " */

    if (pair->key.len == sizeof("HTTP_COOKIE") - 1
        && ngx_strncmp(pair->key.data, "HTTP_COOKIE", pair->key.len) == 0)
    {
        ngx_str_set(&sep, "; ");

    } else {
        ngx_str_set(&sep, ", ");
    }

    old = pair->value;

    p = ngx_pnalloc(r->pool, old.len + sep.len + value->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    pair->value.len = old.len + sep.len + value->len;
    pair->value.data = p;

    p = ngx_cpymem(p, old.data, old.len);
    p = ngx_cpymem(p, sep.data, sep.len);
    ngx_memcpy(p, value->data, value->len);

    return NGX_OK;
}


static ngx_uint_t
ngx_http_drover_header_set(ngx_http_drover_params_t *params, ngx_str_t *key)
{
    ngx_str_t   *name;
    ngx_uint_t   i;

    name = params->headers_set->elts;

    for (i = 0; i < params->headers_set->nelts; i++) {
        if (name[i].len == key->len
            && ngx_strncmp(name[i].data, key->data, key->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_drover_source_has(ngx_array_t *source, ngx_str_t *key)
{
    ngx_uint_t                  i;
    ngx_http_upstream_param_t  *src;

    if (source == NULL) {
        return 0;
    }

    src = source->elts;

    for (i = 0; i < source->nelts; i++) {
        if (src[i].key.len == key->len
            && ngx_strncmp(src[i].key.data, key->data, key->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * What a value is made of is known once it is compiled: a fixed string,
 * a field of the request, one variable alone, or a complex value.  Each
 * of the first three gives the value without copying it.
 */

static ngx_int_t
ngx_http_drover_param_compile(ngx_conf_t *cf, ngx_http_drover_param_t *param,
    ngx_str_t *value)
{
    ngx_str_t                          name;
    ngx_http_drover_param_field_t     *f;
    ngx_http_compile_complex_value_t   ccv;

    /* as ngx_http_compile_complex_value() tells a value with no variable */

    if (ngx_http_script_variables_count(value) == 0) {
        param->value = *value;
        param->get = ngx_http_drover_param_fixed;
        return NGX_OK;
    }

    if (ngx_http_drover_param_variable_name(value, &name)) {

        for (f = ngx_http_drover_param_fields; f->name.len; f++) {
            if (f->name.len == name.len
                && ngx_strncasecmp(f->name.data, name.data, name.len) == 0)
            {
                param->get = f->get;
                return NGX_OK;
            }
        }

        param->index = ngx_http_get_variable_index(cf, &name);
        if (param->index == NGX_ERROR) {
            return NGX_ERROR;
        }

        param->get = ngx_http_drover_param_variable;
        return NGX_OK;
    }

    param->complex = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (param->complex == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = param->complex;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_ERROR;
    }

    param->get = ngx_http_drover_param_complex;

    return NGX_OK;
}


/*
 * "$name" alone, the name as ngx_http_script_compile() reads one; "${name}"
 * and captures ("$1") are left to the complex value
 */

static ngx_uint_t
ngx_http_drover_param_variable_name(ngx_str_t *value, ngx_str_t *name)
{
    u_char      ch;
    ngx_uint_t  i;

    if (value->len < 2 || value->data[0] != '$') {
        return 0;
    }

    for (i = 1; i < value->len; i++) {
        ch = value->data[i];

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'
            || (i > 1 && ch >= '0' && ch <= '9'))
        {
            continue;
        }

        return 0;
    }

    name->len = value->len - 1;
    name->data = value->data + 1;

    return 1;
}


static ngx_int_t
ngx_http_drover_param_fixed(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value)
{
    *value = param->value;

    return NGX_OK;
}


/*
 * What ngx_http_complex_value() gives for "$name": the variable flushed
 * unless cacheable; not found, or failed, it is empty
 */

static ngx_int_t
ngx_http_drover_param_variable(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value)
{
    ngx_http_variable_value_t  *vv;

    vv = ngx_http_get_flushed_variable(r, param->index);

    if (vv == NULL || vv->not_found) {
        ngx_str_null(value);
        return NGX_OK;
    }

    value->len = vv->len;
    value->data = vv->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_drover_param_complex(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value)
{
    return ngx_http_complex_value(r, param->complex, value);
}


/* $request_method is the main request's */

static ngx_int_t
ngx_http_drover_param_request_method(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value)
{
    ngx_http_drover_param_field(&r->main->method_name, value);

    return NGX_OK;
}


static ngx_int_t
ngx_http_drover_param_request_uri(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value)
{
    ngx_http_drover_param_field(&r->unparsed_uri, value);

    return NGX_OK;
}


static ngx_int_t
ngx_http_drover_param_uri(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value)
{
    ngx_http_drover_param_field(&r->uri, value);

    return NGX_OK;
}


static ngx_int_t
ngx_http_drover_param_server_protocol(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value)
{
    ngx_http_drover_param_field(&r->http_protocol, value);

    return NGX_OK;
}


/* a field never set is a variable not found: empty */

static void
ngx_http_drover_param_field(ngx_str_t *field, ngx_str_t *value)
{
    if (field->data) {
        *value = *field;

    } else {
        ngx_str_null(value);
    }
}


/*
 * REQUEST_ID: 32 hex digits, unique among the requests of this nginx: the
 * time, the connection's number (ngx_connection_counter, shared by every
 * worker) and the request's number on that connection.  nginx's own
 * $request_id asks OpenSSL for random bytes on every request, a fifth of
 * the worker's instructions in bench/'s profile; where the id must match
 * nginx's logs, "drover_param REQUEST_ID $request_id;" brings it back.
 */

static ngx_int_t
ngx_http_drover_param_request_id(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, 32);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value->data = p;
    value->len = 32;

    /* as ngx_sprintf(p, "%08xD%016xL%08xD", ...) writes them */

    p = ngx_http_drover_hex(p, (uint32_t) ngx_time(), 8);
    p = ngx_http_drover_hex(p, (uint64_t) r->connection->number, 16);
    (void) ngx_http_drover_hex(p, (uint32_t) r->connection->requests, 8);

    return NGX_OK;
}


/* the low 4 * digits bits of n in lowercase hex, with leading zeros */

static u_char *
ngx_http_drover_hex(u_char *p, uint64_t n, ngx_uint_t digits)
{
    static u_char  hex[] = "0123456789abcdef";

    u_char  *last;

    last = p + digits;

    while (digits) {
        p[--digits] = hex[n & 0xf];
        n >>= 4;
    }

    return last;
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_drover_param_https(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value)
{
    if (r->connection->ssl) {
        ngx_str_set(value, "on");

    } else {
        ngx_str_null(value);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_drover_param_ssl_protocol(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value)
{
    return ngx_http_drover_param_ssl(r, ngx_ssl_get_protocol, value);
}


static ngx_int_t
ngx_http_drover_param_ssl_cipher(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value)
{
    return ngx_http_drover_param_ssl(r, ngx_ssl_get_cipher_name, value);
}


static ngx_int_t
ngx_http_drover_param_ssl_server_name(ngx_http_request_t *r,
    ngx_http_drover_param_t *param, ngx_str_t *value)
{
    return ngx_http_drover_param_ssl(r, ngx_ssl_get_server_name, value);
}


/*
 * the ngx_ssl_get_*() functions are the $ssl_* variables' getters; some
 * leave a C string with no length, which their callers measure
 */

static ngx_int_t
ngx_http_drover_param_ssl(ngx_http_request_t *r, ngx_http_drover_ssl_get_pt get,
    ngx_str_t *value)
{
    ngx_str_null(value);

    if (r->connection->ssl == NULL) {
        return NGX_OK;
    }

    if (get(r->connection, r->pool, value) != NGX_OK) {
        return NGX_ERROR;
    }

    if (value->len == 0 && value->data) {
        value->len = ngx_strlen(value->data);
    }

    return NGX_OK;
}

#endif
