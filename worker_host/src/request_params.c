/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * request_params.c -- the SDK's parameter accessors (drover.h): params,
 * headers, method, uri, path, query and args of the running request.
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

#define REQ_HEADER_NAME_MAX  256


static const char *req_scratch(drover_req_t *req, const char *a, size_t alen,
    const char *b, size_t blen);
static ssize_t req_pct_decode(const char *s, size_t len, char *dst,
    size_t size, int form);
static int req_param_dropped(const char *name, size_t len);
static char *req_scratch_reserve(drover_req_t *req, size_t need);
static const char *req_path_normalize(drover_req_t *req, const char *uri,
    size_t len);


/*
 * httpoxy (CVE-2016-5385): a client's "Proxy:" header arrives as
 * HTTP_PROXY, the name HTTP clients read their proxy from (RFC 3875
 * 4.1.18 maps every header to HTTP_*), so a client could send the app's
 * outgoing requests through its own host.  Stock nginx passes it; PHP
 * drops it, and so do we, whatever its value (empty too).  An app reaches
 * parameters only through drover_req_param (drover_req_header and the
 * accessors call it) and drover_req_param_next, and both skip it: no pass
 * over the parameters per request, one length compare per lookup.
 */
static int
req_param_dropped(const char *name, size_t len)
{
    return len == sizeof("HTTP_PROXY") - 1
           && memcmp(name, "HTTP_PROXY", sizeof("HTTP_PROXY") - 1) == 0;
}


DROVER_API drover_ctx_t *
drover_req_ctx(drover_req_t *req)
{
    return req->worker->args->ctx;
}


DROVER_API const char *
drover_req_param(drover_req_t *req, const char *name)
{
    size_t  i, len;

    len = strlen(name);

    if (req_param_dropped(name, len)) {
        return NULL;
    }

    for (i = 0; i < req->nparams; i++) {
        if (req->params[i].name_len == len
            && memcmp(req->params[i].name, name, len) == 0)
        {
            return req->params[i].value;
        }
    }

    return NULL;
}


DROVER_API int
drover_req_param_next(drover_req_t *req, size_t *iter, const char **name,
    const char **value)
{
    while (*iter < req->nparams
           && req_param_dropped(req->params[*iter].name,
                                req->params[*iter].name_len))
    {
        (*iter)++;
    }

    if (*iter >= req->nparams) {
        return 0;
    }

    *name = req->params[*iter].name;
    *value = req->params[*iter].value;
    (*iter)++;

    return 1;
}


DROVER_API const char *
drover_req_header(drover_req_t *req, const char *name)
{
    char    key[5 + REQ_HEADER_NAME_MAX + 1];
    char   *p;
    size_t  len, i;

    len = strlen(name);
    if (len == 0 || len > REQ_HEADER_NAME_MAX) {
        return NULL;
    }

    /* RFC 3875 4.1.18: HTTP_ + upper case, "-" as "_" */
    memcpy(key, "HTTP_", 5);
    p = key + 5;

    for (i = 0; i < len; i++) {
        p[i] = (name[i] == '-') ? '_' : (char) toupper((unsigned char) name[i]);
    }

    p[len] = '\0';

    /* these two come as their own CGI variables (4.1.2, 4.1.3) */
    if (strcmp(p, "CONTENT_TYPE") == 0 || strcmp(p, "CONTENT_LENGTH") == 0) {
        return drover_req_param(req, p);
    }

    return drover_req_param(req, key);
}


DROVER_API const char *
drover_req_method(drover_req_t *req)
{
    const char  *m;

    m = drover_req_param(req, "REQUEST_METHOD");

    return m != NULL ? m : "GET";
}


DROVER_API const char *
drover_req_uri(drover_req_t *req)
{
    const char  *uri;

    uri = drover_req_param(req, "REQUEST_URI");

    return uri != NULL ? uri : drover_req_path(req);
}


/*
 * The path the front end routed on (drover.h says why to route on it):
 * DOCUMENT_URI (nginx: $document_uri, its decoded and normalised $uri),
 * else SCRIPT_NAME + PATH_INFO (RFC 3875 4.1.13, 4.1.5: both decoded), as
 * the front end sent them.  Only a client that sends neither (a bare
 * FastCGI client) gets its REQUEST_URI path decoded and normalised here
 * the way nginx makes $uri.  Never the raw REQUEST_URI: "/x/../admin" and
 * "/%61dmin" would reach a prefix-routing app as paths the front end's
 * access rules never saw.
 */
DROVER_API const char *
drover_req_path(drover_req_t *req)
{
    size_t       slen, ilen;
    const char  *script, *info, *uri;

    if (req->path != NULL) {
        return req->path;
    }

    req->path = drover_req_param(req, "DOCUMENT_URI");

    if (req->path == NULL || *req->path == '\0') {
        script = drover_req_param(req, "SCRIPT_NAME");
        info = drover_req_param(req, "PATH_INFO");
        slen = (script != NULL) ? strlen(script) : 0;
        ilen = (info != NULL) ? strlen(info) : 0;

        if (slen != 0 && ilen == 0) {
            req->path = script;

        } else if (slen + ilen != 0) {
            req->path = req_scratch(req, script, slen, info, ilen);

        } else if ((uri = drover_req_param(req, "REQUEST_URI")) != NULL) {
            req->path = req_path_normalize(req, uri, strcspn(uri, "?#"));
        }
    }

    if (req->path == NULL || *req->path == '\0') {
        req->path = "/";
    }

    return req->path;
}


DROVER_API const char *
drover_req_query(drover_req_t *req)
{
    const char  *q, *uri;

    if (req->query != NULL) {
        return req->query;
    }

    q = drover_req_param(req, "QUERY_STRING");

    if (q == NULL) {
        uri = drover_req_param(req, "REQUEST_URI");
        q = (uri != NULL) ? strchr(uri, '?') : NULL;
        q = (q != NULL) ? q + 1 : "";
    }

    req->query = q;

    return q;
}


DROVER_API ssize_t
drover_req_arg(drover_req_t *req, const char *name, char *buf, size_t size)
{
    char         key[256];
    size_t       klen;
    ssize_t      n;
    const char  *p, *amp, *eq, *end;

    p = drover_req_query(req);

    for ( ; *p; p = (*amp == '&') ? amp + 1 : amp) {
        amp = strchr(p, '&');
        if (amp == NULL) {
            amp = p + strlen(p);
        }

        eq = memchr(p, '=', (size_t) (amp - p));
        end = (eq != NULL) ? eq : amp;
        klen = (size_t) (end - p);

        n = req_pct_decode(p, klen, key, sizeof(key), 1);
        if (n < 0 || strlen(name) != (size_t) n
            || memcmp(key, name, (size_t) n) != 0)
        {
            continue;
        }

        if (eq == NULL) {
            if (size == 0) {
                return -1;
            }

            buf[0] = '\0';
            return 0;
        }

        return req_pct_decode(eq + 1, (size_t) (amp - eq - 1), buf, size,
                              1);
    }

    return -1;
}


static int
req_hex(int ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }

    ch |= 0x20;

    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }

    return -1;
}


/*
 * "%XY" a byte, a malformed "%" stays itself.  In a form (query) "+" is a
 * space; in a path "+" is itself and "%00" stays as written (decoding it
 * would cut the C string short).
 */
static ssize_t
req_pct_decode(const char *s, size_t len, char *dst, size_t size, int form)
{
    int     hi, lo;
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (n + 1 >= size) {
            return -1;
        }

        if (form && s[i] == '+') {
            dst[n++] = ' ';
            continue;
        }

        if (s[i] == '%' && len - i > 2
            && (hi = req_hex((unsigned char) s[i + 1])) >= 0
            && (lo = req_hex((unsigned char) s[i + 2])) >= 0
            && (form || (hi | lo) != 0))
        {
            dst[n++] = (char) ((hi << 4) | lo);
            i += 2;
            continue;
        }

        dst[n++] = s[i];
    }

    if (size == 0) {
        return -1;
    }

    dst[n] = '\0';

    return (ssize_t) n;
}


/* room for need bytes in the worker's scratch buffer (one user: path) */
static char *
req_scratch_reserve(drover_req_t *req, size_t need)
{
    char              *p;
    drover__worker_t  *w;

    w = req->worker;

    if (need > w->scratch_cap) {
        p = realloc(w->scratch, need);
        if (p == NULL) {
            return NULL;
        }

        w->scratch = p;
        w->scratch_cap = need;
    }

    return w->scratch;
}


/* a + b NUL-terminated in the worker's scratch buffer */
static const char *
req_scratch(drover_req_t *req, const char *a, size_t alen, const char *b,
    size_t blen)
{
    char  *p;

    p = req_scratch_reserve(req, alen + blen + 1);
    if (p == NULL) {
        return NULL;
    }

    if (alen != 0) {
        memcpy(p, a, alen);
    }
    if (blen != 0) {
        memcpy(p + alen, b, blen);
    }
    p[alen + blen] = '\0';

    return p;
}


/*
 * The path of a raw request target, as nginx makes $uri of it
 * (ngx_http_parse_complex_uri): "%XX" decoded first, so "%2e%2e" is ".."
 * and "%2f" is "/"; then "//" merged, "." segments dropped and ".."
 * segments resolved (RFC 3986 5.2.4), never above "/".  A "%00" and a "%"
 * without two hex digits stay as written (nginx refuses both with 400;
 * decoding "%00" would cut the C string short).  Unlike a query, "+" is
 * not a space in a path.  The result never outgrows the input plus a
 * leading "/".
 */
static const char *
req_path_normalize(drover_req_t *req, const char *uri, size_t len)
{
    char     *d, *out;
    size_t    i, n, o, seg;
    ssize_t   dn;

    d = req_scratch_reserve(req, 2 * len + 2);
    if (d == NULL) {
        return NULL;
    }

    /* decoded into the upper half, normalised into the lower */
    out = d;
    d += len + 1;

    dn = req_pct_decode(uri, len, d, len + 1, 0);
    if (dn < 0) {
        return NULL;
    }

    n = (size_t) dn;

    /* invariant: out[0 .. o) ends with "/" before each segment */
    o = 0;
    out[o++] = '/';

    for (i = 0; i < n; ) {
        while (i < n && d[i] == '/') {
            i++;
        }

        seg = i;
        while (i < n && d[i] != '/') {
            i++;
        }

        seg = i - seg;

        if (seg == 0 || (seg == 1 && d[i - 1] == '.')) {
            continue;
        }

        if (seg == 2 && d[i - 2] == '.' && d[i - 1] == '.') {
            if (o > 1) {
                o--;
                while (out[o - 1] != '/') {
                    o--;
                }
            }

            continue;
        }

        memcpy(out + o, d + i - seg, seg);
        o += seg;

        if (i < n) {
            out[o++] = '/';
        }
    }

    out[o] = '\0';

    return out;
}
