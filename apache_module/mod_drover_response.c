/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */

/* mod_drover's side of the app's answer: the CGI header block checked and
 * set on the request (Status, Location, headers), then the body streamed
 * to the client through the output filters, a piece at a time. */

#include "mod_drover.h"

#include "apr_lib.h"
#include "apr_strings.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

APLOG_USE_MODULE(drover);


void
drover_response_init(drover_response_t *resp, request_rec *r)
{
    memset(resp, 0, sizeof(*resp));
    resp->r = r;
    resp->declared = -1;
    resp->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
}


/* RFC 9110 5.6.2 token characters */
static int
token_char(unsigned char c)
{
    return apr_isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}


/* the end of the header block (after its empty line), or NULL */
static const char *
head_end(const char *buf, apr_size_t len)
{
    apr_size_t  i;

    for (i = 0; i < len; i++) {
        if (buf[i] != '\n') {
            continue;
        }
        if (i + 1 < len && buf[i + 1] == '\n') {
            return buf + i + 2;
        }
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
            return buf + i + 3;
        }
    }

    return NULL;
}


/* one header line (no CR LF): onto r, or the reason it is malformed */
static const char *
header_line(request_rec *r, char *line, int *status, apr_off_t *declared)
{
    char        *colon, *value, *c;
    apr_off_t    len;
    char        *endp;

    for (c = line; *c != ':' && *c != '\0'; c++) {
        if (!token_char((unsigned char) *c)) {
            return "a header name with a byte outside the token set";
        }
    }

    colon = c;
    if (*colon != ':' || colon == line) {
        return "a header line without \":\"";
    }

    *colon = '\0';
    for (value = colon + 1; *value == ' ' || *value == '\t'; value++) {
        /* skip */
    }

    for (c = value; *c; c++) {
        if (*c == '\r' || *c == '\n') {
            return "a CR or LF inside a header";
        }
    }
    while (c > value && (c[-1] == ' ' || c[-1] == '\t')) {
        *--c = '\0';
    }

    if (strcasecmp(line, "Status") == 0) {
        if (!apr_isdigit(value[0]) || !apr_isdigit(value[1])
            || !apr_isdigit(value[2]) || (value[3] != '\0' && value[3] != ' '))
        {
            return "an invalid Status";
        }
        *status = (value[0] - '0') * 100 + (value[1] - '0') * 10
                  + (value[2] - '0');
        if (*status < 200 || *status > 599) {
            return "an invalid Status";
        }
        if (value[3] == ' ') {
            r->status_line = apr_pstrdup(r->pool, value);
        }
        return NULL;
    }

    if (strcasecmp(line, "Content-Type") == 0) {
        ap_set_content_type(r, apr_pstrdup(r->pool, value));
        return NULL;
    }

    if (strcasecmp(line, "Content-Length") == 0) {
        /* checked, and the body held to it; httpd frames the body itself
         * (chunked), so a body cut short never looks complete */
        if (apr_strtoff(&len, value, &endp, 10) != APR_SUCCESS || *endp != '\0'
            || len < 0 || !apr_isdigit(*value)
            || (*declared >= 0 && *declared != len))
        {
            return "an invalid Content-Length";
        }
        *declared = len;
        return NULL;
    }

    if (strcasecmp(line, "Transfer-Encoding") == 0
        || strcasecmp(line, "Connection") == 0
        || strcasecmp(line, "Keep-Alive") == 0)
    {
        return NULL;        /* hop-by-hop: httpd's own */
    }

    apr_table_add(r->headers_out, apr_pstrdup(r->pool, line),
                  apr_pstrdup(r->pool, value));
    return NULL;
}


/* the whole header block [head, end): parsed onto r */
static const char *
parse_head(request_rec *r, char *head, apr_size_t len, apr_off_t *declared)
{
    char        *line = head, *nl, *last = head + len;
    const char  *why;
    int          status = 0;

    if (memchr(head, '\0', len) != NULL) {
        return "a NUL in the header";
    }

    for (; line < last; line = nl + 1) {
        nl = memchr(line, '\n', (apr_size_t) (last - line));
        if (nl == NULL) {
            break;
        }
        *nl = '\0';
        if (nl > line && nl[-1] == '\r') {
            nl[-1] = '\0';
        }
        if (*line == '\0') {
            break;                     /* the empty line that ends it */
        }

        why = header_line(r, line, &status, declared);
        if (why != NULL) {
            return why;
        }
    }

    /* RFC 3875 6.2.3: a Location without a Status is a client redirect */
    if (status == 0) {
        status = apr_table_get(r->headers_out, "Location") ? HTTP_MOVED_TEMPORARILY
                                                          : HTTP_OK;
    }

    r->status = status;
    if (r->status_line != NULL && atoi(r->status_line) != status) {
        r->status_line = NULL;
    }

    return NULL;
}


/*
 * Body bytes go into the brigade as transient buckets (they point into the
 * exchange's read buffer) and out at the end of that read, in one pass:
 * drover_response_flush(), or with the EOS in drover_response_finish(),
 * which lets httpd set Content-Length on a response read whole at once
 * rather than chunk it.
 */
static apr_status_t
pass_body(drover_response_t *resp, const char *data, apr_size_t len)
{
    request_rec  *r = resp->r;
    apr_bucket   *b;

    if (len == 0 || resp->client_gone) {
        return APR_SUCCESS;
    }

    b = apr_bucket_transient_create(data, len, r->connection->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(resp->bb, b);
    resp->sent = 1;
    resp->body_bytes += (apr_off_t) len;

    return APR_SUCCESS;
}


/* what the last read added, to the client (before the buffer is reused) */
apr_status_t
drover_response_flush(drover_response_t *resp)
{
    request_rec  *r = resp->r;
    apr_status_t  rv;

    if (APR_BRIGADE_EMPTY(resp->bb) || resp->client_gone) {
        apr_brigade_cleanup(resp->bb);
        return resp->client_gone ? APR_ECONNABORTED : APR_SUCCESS;
    }

    rv = ap_pass_brigade(r->output_filters, resp->bb);
    apr_brigade_cleanup(resp->bb);

    if (rv != APR_SUCCESS || r->connection->aborted) {
        resp->client_gone = 1;
        return APR_ECONNABORTED;
    }

    return APR_SUCCESS;
}


/* body bytes, at most the declared Content-Length of them */
static apr_status_t
body_piece(drover_response_t *resp, const char *data, apr_size_t len,
           const char **why)
{
    apr_status_t  rv;
    apr_off_t     room;

    if (resp->declared >= 0) {
        room = resp->declared - resp->body_bytes;
        if ((apr_off_t) len > room) {
            rv = pass_body(resp, data, (apr_size_t) room);
            if (rv != APR_SUCCESS) {
                return rv;
            }
            *why = "a body longer than its Content-Length";
            return APR_EGENERAL;
        }
    }

    return pass_body(resp, data, len);
}


/*
 * STDOUT bytes: gathered until the header block is whole (at most
 * DROVER_HEADER_MAX), which is checked before anything goes out; then the
 * body, passed on as it comes.
 */
apr_status_t
drover_response_stdout(drover_response_t *resp, const char *data,
                       apr_size_t len, const char **why)
{
    const char  *end;
    apr_size_t   body_off;

    *why = NULL;

    if (resp->head_done) {
        return body_piece(resp, data, len, why);
    }

    if (resp->head == NULL) {
        resp->head = apr_palloc(resp->r->pool, DROVER_HEADER_MAX);
    }

    if (len > DROVER_HEADER_MAX - resp->head_len) {
        /* only what can still be header; the rest is body if it ends */
        apr_size_t  room = DROVER_HEADER_MAX - resp->head_len;

        memcpy(resp->head + resp->head_len, data, room);
        end = head_end(resp->head, resp->head_len + room);
        if (end == NULL) {
            *why = "a header block larger than 64 KiB";
            return APR_EGENERAL;
        }
    } else {
        memcpy(resp->head + resp->head_len, data, len);
        end = head_end(resp->head, resp->head_len + len);
        if (end == NULL) {
            resp->head_len += len;
            return APR_SUCCESS;
        }
    }

    body_off = (apr_size_t) (end - resp->head) - resp->head_len;

    *why = parse_head(resp->r, resp->head, (apr_size_t) (end - resp->head),
                      &resp->declared);
    if (*why != NULL) {
        return APR_EGENERAL;
    }

    resp->head_done = 1;
    return body_piece(resp, data + body_off, len - body_off, why);
}


/* END_REQUEST read cleanly: the end of the body */
apr_status_t
drover_response_finish(drover_response_t *resp, const char **why)
{
    request_rec  *r = resp->r;
    apr_status_t  rv;

    *why = NULL;

    if (resp->client_gone) {
        return APR_ECONNABORTED;
    }

    if (resp->declared >= 0 && resp->body_bytes != resp->declared) {
        *why = "a body shorter than its Content-Length";
        return APR_EGENERAL;
    }

    APR_BRIGADE_INSERT_TAIL(resp->bb,
                            apr_bucket_eos_create(r->connection->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, resp->bb);
    apr_brigade_cleanup(resp->bb);
    resp->sent = 1;

    return rv;
}


/*
 * The app's answer broke off after its header went out: never let it look
 * complete. An error bucket makes httpd drop the final chunk, and the
 * connection is closed after it.
 */
void
drover_response_broken(drover_response_t *resp)
{
    request_rec  *r = resp->r;
    conn_rec     *c = r->connection;

    c->keepalive = AP_CONN_CLOSE;
    r->no_cache = 1;

    if (resp->client_gone) {
        return;
    }

    APR_BRIGADE_INSERT_TAIL(resp->bb,
                            ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL,
                                                   r->pool, c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(resp->bb, apr_bucket_eos_create(c->bucket_alloc));
    ap_pass_brigade(r->output_filters, resp->bb);
    apr_brigade_cleanup(resp->bb);
    resp->sent = 1;
}
