/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */

/* mod_drover's FastCGI parameters: the CGI/1.1 set, TLS from mod_ssl, one
 * HTTP_* per request header (no Proxy, no odd names), then DroverParam. */

#include "mod_drover.h"

#include "apr_lib.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_ssl.h"
#include "ap_release.h"

APLOG_USE_MODULE(drover);


/* [A-Za-z0-9-] only: a name with "_" could pose as another header once
 * "-" turns into "_" (X_Foo as X-Foo) */
static int
header_name_ok(const char *name)
{
    const char  *c;

    if (*name == '\0') {
        return 0;
    }

    for (c = name; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-') {
            return 0;
        }
    }

    return 1;
}


/* RFC 3875 4.1.18: "HTTP_" and the name upper-cased, "-" as "_" */
static char *
header_param_name(apr_pool_t *p, const char *name)
{
    apr_size_t   n = strlen(name);
    char        *out = apr_palloc(p, n + 6);
    apr_size_t   i;

    memcpy(out, "HTTP_", 5);

    for (i = 0; i < n; i++) {
        out[5 + i] = name[i] == '-' ? '_' : (char) apr_toupper(name[i]);
    }

    out[5 + n] = '\0';
    return out;
}


static void
add_headers(request_rec *r, apr_table_t *params)
{
    const apr_array_header_t  *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t   *e = (const apr_table_entry_t *) arr->elts;
    const char                *name, *prev, *sep;
    int                        i;

    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key == NULL || e[i].val == NULL
            || !header_name_ok(e[i].key)
            || strcasecmp(e[i].key, "Proxy") == 0            /* httpoxy */
            || strcasecmp(e[i].key, "Content-Type") == 0
            || strcasecmp(e[i].key, "Content-Length") == 0
            || strcasecmp(e[i].key, "Transfer-Encoding") == 0)
        {
            continue;
        }

        name = header_param_name(r->pool, e[i].key);

        /* httpd joined repeated Cookie headers with ", " already; cookie
         * values hold no "," (RFC 6265 4.1.1): "; " is the separator */
        if (strcasecmp(e[i].key, "Cookie") == 0 && strstr(e[i].val, ", ")) {
            char  *v = apr_pstrdup(r->pool, e[i].val), *c;

            for (c = strstr(v, ", "); c != NULL; c = strstr(c + 2, ", ")) {
                c[0] = ';';
            }
            apr_table_setn(params, name, v);
            continue;
        }

        prev = apr_table_get(params, name);

        if (prev == NULL) {
            apr_table_setn(params, name, e[i].val);
            continue;
        }

        /* repeated headers: one parameter, joined as RFC 9110 5.3 says
         * (Cookie: RFC 6265 5.4) */
        sep = strcasecmp(e[i].key, "Cookie") == 0 ? "; " : ", ";
        apr_table_setn(params, name, apr_pstrcat(r->pool, prev, sep, e[i].val,
                                                 NULL));
    }
}


/* HTTPS and SSL_* when mod_ssl (or another TLS module) runs the connection */
static void
add_tls(request_rec *r, apr_table_t *params)
{
    static const char *const  vars[][2] = {
        { "SSL_PROTOCOL",    "SSL_PROTOCOL" },
        { "SSL_CIPHER",      "SSL_CIPHER" },
        { "SSL_SERVER_NAME", "SSL_TLS_SNI" },
    };
    const char                *v;
    apr_size_t                 i;

    if (!ap_ssl_conn_is_ssl(r->connection)) {
        return;
    }

    apr_table_setn(params, "HTTPS", "on");

    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        v = ap_ssl_var_lookup(r->pool, r->server, r->connection, r, vars[i][1]);
        if (v != NULL && *v != '\0') {
            apr_table_setn(params, vars[i][0], v);
        }
    }
}


/*
 * The parameters of r: body_len is the body's real length when it is known
 * (read whole), -1 when it streams (then Content-Length's, if any).
 */
apr_table_t *
drover_params_build(request_rec *r, const drover_dir_conf_t *dc,
                    apr_off_t body_len)
{
    apr_table_t           *params = apr_table_make(r->pool, 48);
    conn_rec              *c = r->connection;
    const char            *v, *err;
    const drover_param_t  *dp;
    int                    i;

    apr_table_setn(params, "GATEWAY_INTERFACE", "CGI/1.1");
    apr_table_setn(params, "SERVER_SOFTWARE", ap_get_server_banner());
    apr_table_setn(params, "SERVER_PROTOCOL", r->protocol);
    apr_table_setn(params, "SERVER_NAME", ap_get_server_name(r));
    apr_table_setn(params, "SERVER_ADDR", c->local_ip);
    apr_table_setn(params, "SERVER_PORT",
                   apr_itoa(r->pool, c->local_addr->port));
    apr_table_setn(params, "REQUEST_METHOD", r->method);
    apr_table_setn(params, "REQUEST_SCHEME", ap_http_scheme(r));
    apr_table_setn(params, "REQUEST_URI", r->unparsed_uri);
    apr_table_setn(params, "DOCUMENT_URI", r->uri);
    apr_table_setn(params, "DOCUMENT_ROOT", ap_document_root(r));

    /* the app is "the script": the whole decoded path, no split */
    apr_table_setn(params, "SCRIPT_NAME", r->uri);
    apr_table_setn(params, "PATH_INFO", "");
    apr_table_setn(params, "QUERY_STRING", r->args ? r->args : "");

    v = apr_table_get(r->headers_in, "Content-Type");
    if (v != NULL && *v != '\0') {
        apr_table_setn(params, "CONTENT_TYPE", v);
    }

    if (body_len >= 0) {
        if (body_len > 0 || apr_table_get(r->headers_in, "Content-Length")) {
            apr_table_setn(params, "CONTENT_LENGTH",
                           apr_off_t_toa(r->pool, body_len));
        }
    } else {
        v = apr_table_get(r->headers_in, "Content-Length");
        if (v != NULL && *v != '\0') {
            apr_table_setn(params, "CONTENT_LENGTH", v);
        }
    }

    apr_table_setn(params, "REMOTE_ADDR", r->useragent_ip);
    apr_table_setn(params, "REMOTE_PORT",
                   apr_itoa(r->pool, r->useragent_addr
                                     ? r->useragent_addr->port
                                     : c->client_addr->port));
    apr_table_setn(params, "REDIRECT_STATUS", "200");

    if (r->log_id != NULL) {
        apr_table_setn(params, "REQUEST_ID", r->log_id);
    }

    add_tls(r, params);
    add_headers(r, params);

    /* DroverParam replaces a default of the same name, or adds */
    if (dc->params != NULL) {
        dp = (const drover_param_t *) dc->params->elts;
        for (i = 0; i < dc->params->nelts; i++) {
            if (dp[i].expr == NULL) {
                apr_table_setn(params, dp[i].name, dp[i].value);
                continue;
            }

            err = NULL;
            v = ap_expr_str_exec(r, dp[i].expr, &err);
            if (err != NULL || v == NULL) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                              "DroverParam %s: cannot evaluate \"%s\": %s; "
                              "the parameter is not sent", dp[i].name,
                              dp[i].value, err ? err : "no value");
                continue;
            }

            apr_table_setn(params, dp[i].name, v);
        }
    }

    return params;
}
