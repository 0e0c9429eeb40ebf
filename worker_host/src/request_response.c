/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * request_response.c -- the SDK's response functions (drover.h) for the
 * one request a worker runs in the app at a time.
 *
 * The response is laid out in the worker's output buffer as the FCGI_STDOUT
 * record it will be sent as: an 8-byte header slot, then up to
 * DROVER__OUT_RECORD_MAX bytes of content (a multiple of 8, so full records
 * need no padding).  A full record is sent at once; at the end the last
 * record, the empty FCGI_STDOUT that ends the stream and FCGI_END_REQUEST
 * leave in one write, so a small response costs one system call.
 * Invariant: out_len is 0 while the app runs; records are closed and sent
 * together.
 */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fcgi.h"
#include "log.h"
#include "request.h"

#define REQ_STDERR_LOG_MAX   512
#define REQ_DIRECT_RECORDS   16

/* from this size on, a write completes the open record without a copy */
#define REQ_DIRECT_MIN       8192


static int req_stdout_complete(drover_req_t *req, const uint8_t *data,
    size_t n);
static int req_stdout_direct(drover_req_t *req, const uint8_t *data,
    size_t nrecords);
static int req_write(drover_req_t *req, struct iovec *iov, int iovcnt);
static const char *req_reason(int status);


/*
 * Every response byte leaves through here.  The first time, while the app
 * is still in handle() and the body has not all arrived, take the rest of
 * the body in first: nginx stops sending the request body as soon as it
 * has the response header (ngx_http_upstream_send_response), so an app
 * that echoes or answers early would otherwise wait for the body forever.
 */
static int
req_write(drover_req_t *req, struct iovec *iov, int iovcnt)
{
    if (!req->pre_checked) {
        req->pre_checked = 1;

        if (!req->finishing && !req->conn->stdin_eof) {
            drover__request_preread(req);
        }
    }

    if (drover__conn_writev(req->conn, iov, iovcnt) != 0) {
        return -1;
    }

    req->sent_any = 1;
    return 0;
}


void
drover__request_preread(drover_req_t *req)
{
    size_t    cap;
    ssize_t   n;
    uint8_t  *p;
    uint8_t   first[2048];

    req->pre_reading = 1;

    /* most requests have no body left (a GET's empty STDIN): no buffer */

    n = drover_req_read(req, first, sizeof(first));

    if (n <= 0) {
        req->pre_reading = 0;
        return;
    }

    cap = 65536;

    req->pre = malloc(cap);
    if (req->pre == NULL) {
        drover__worker_log(req->worker, DROVER_LOG_ERROR, ENOMEM,
                           "request %s: no memory for its body, closing "
                           "connection", drover_req_uri(req));
        req->conn->broken = 1;
        req->pre_reading = 0;
        return;
    }

    memcpy(req->pre, first, (size_t) n);
    req->pre_len = (size_t) n;

    while (req->pre_len < DROVER__PREREAD_MAX) {
        if (req->pre_len == cap) {
            cap = cap == 0 ? 65536 : cap * 2;
            if (cap > DROVER__PREREAD_MAX) {
                cap = DROVER__PREREAD_MAX;
            }

            p = realloc(req->pre, cap);
            if (p == NULL) {
                break;
            }

            req->pre = p;
        }

        n = drover_req_read(req, req->pre + req->pre_len, cap - req->pre_len);
        if (n <= 0) {
            break;
        }

        req->pre_len += (size_t) n;
    }

    req->pre_reading = 0;

    if (!req->conn->stdin_eof && !req->conn->broken && !req->conn->aborted) {
        drover__worker_log(req->worker, DROVER_LOG_INFO, 0,
                           "request %s answers before reading a body over "
                           "%d bytes: a front end that stops sending the "
                           "body once it has the response (nginx) may "
                           "stall", drover_req_uri(req),
                           DROVER__PREREAD_MAX);
    }
}

/* header slot of the open record at out + out_len, content after it */
void
drover__request_close_record(drover_req_t *req)
{
    unsigned           pad;
    uint8_t           *p;
    drover__worker_t  *w;

    w = req->worker;

    if (w->rec_len == 0) {
        return;
    }

    p = w->out + w->out_len;
    pad = drover_fcgi_padding(w->rec_len);
    memset(p + DROVER_FCGI_HEADER_LEN + w->rec_len, 0, pad);
    drover_fcgi_header_encode(p, DROVER_FCGI_STDOUT, req->id, w->rec_len,
                              pad);

    w->out_len += DROVER_FCGI_HEADER_LEN + w->rec_len + pad;
    w->rec_len = 0;
}


int
drover__request_send(drover_req_t *req)
{
    int                rc;
    struct iovec       iov;
    drover__worker_t  *w;

    w = req->worker;

    drover__request_close_record(req);

    if (w->out_len == 0) {
        return 0;
    }

    iov.iov_base = w->out;
    iov.iov_len = w->out_len;
    w->out_len = 0;

    rc = req_write(req, &iov, 1);

    return rc;
}


int
drover__request_stdout(drover_req_t *req, const uint8_t *data, size_t len)
{
    size_t             n;
    drover__worker_t  *w;

    w = req->worker;

    while (len > 0) {
        /* whole records straight from the app's memory: no copy */
        if (w->rec_len == 0 && len >= DROVER__OUT_RECORD_MAX) {
            n = len / DROVER__OUT_RECORD_MAX;
            if (n > REQ_DIRECT_RECORDS) {
                n = REQ_DIRECT_RECORDS;
            }

            if (req_stdout_direct(req, data, n) != 0) {
                return -1;
            }

            data += n * DROVER__OUT_RECORD_MAX;
            len -= n * DROVER__OUT_RECORD_MAX;
            continue;
        }

        /* a large write behind an open record (the headers): no copy */
        if (w->rec_len > 0 && len >= REQ_DIRECT_MIN) {
            n = DROVER__OUT_RECORD_MAX - w->rec_len;
            if (n > len) {
                n = len;
            }

            if (req_stdout_complete(req, data, n) != 0) {
                return -1;
            }

            data += n;
            len -= n;
            continue;
        }

        n = DROVER__OUT_RECORD_MAX - w->rec_len;
        if (n > len) {
            n = len;
        }

        memcpy(w->out + DROVER_FCGI_HEADER_LEN + w->rec_len, data, n);
        w->rec_len += n;
        data += n;
        len -= n;

        if (w->rec_len == DROVER__OUT_RECORD_MAX
            && drover__request_send(req) != 0)
        {
            return -1;
        }
    }

    return 0;
}


/*
 * The open record, completed with n bytes of the app's memory, goes out
 * with whatever records precede it in w->out: one sendmsg(), no copy.
 */
static int
req_stdout_complete(drover_req_t *req, const uint8_t *data, size_t n)
{
    size_t             len;
    unsigned           pad;
    struct iovec       iov[3];
    drover__worker_t  *w;

    static const uint8_t  zeros[8];

    w = req->worker;
    len = w->rec_len + n;
    pad = drover_fcgi_padding(len);

    drover_fcgi_header_encode(w->out + w->out_len, DROVER_FCGI_STDOUT,
                              req->id, len, pad);

    iov[0].iov_base = w->out;
    iov[0].iov_len = w->out_len + DROVER_FCGI_HEADER_LEN + w->rec_len;
    iov[1].iov_base = (void *) data;
    iov[1].iov_len = n;
    iov[2].iov_base = (void *) zeros;
    iov[2].iov_len = pad;

    w->out_len = 0;
    w->rec_len = 0;

    return req_write(req, iov, 3);
}


static int
req_stdout_direct(drover_req_t *req, const uint8_t *data, size_t nrecords)
{
    size_t        i;
    uint8_t       headers[REQ_DIRECT_RECORDS][DROVER_FCGI_HEADER_LEN];
    struct iovec  iov[2 * REQ_DIRECT_RECORDS];

    for (i = 0; i < nrecords; i++) {
        drover_fcgi_header_encode(headers[i], DROVER_FCGI_STDOUT, req->id,
                                  DROVER__OUT_RECORD_MAX, 0);
        iov[2 * i].iov_base = headers[i];
        iov[2 * i].iov_len = DROVER_FCGI_HEADER_LEN;
        iov[2 * i + 1].iov_base = (void *) (data
                                            + i * DROVER__OUT_RECORD_MAX);
        iov[2 * i + 1].iov_len = DROVER__OUT_RECORD_MAX;
    }

    return req_write(req, iov, (int) (2 * nrecords));
}


/* "Status: 200 OK\r\n", the default Content-Type, the app's, "\r\n" */
int
drover__request_commit_headers(drover_req_t *req)
{
    char              *p;
    char               status[64];
    size_t             n;
    const char        *reason;
    drover__worker_t  *w;

    static const char  ct[] = "Content-Type: text/plain\r\n";

    if (req->headers_sent) {
        return 0;
    }

    req->headers_sent = 1;
    w = req->worker;

    /* "Status: NNN Reason\r\n" by hand: once per request, no printf */
    reason = req_reason(req->status);
    n = strlen(reason);

    p = memcpy(status, "Status: ", 8);
    p += 8;
    *p++ = (char) ('0' + req->status / 100);            /* 200..599 */
    *p++ = (char) ('0' + req->status / 10 % 10);
    *p++ = (char) ('0' + req->status % 10);

    if (n > 0) {
        *p++ = ' ';
        memcpy(p, reason, n);                      /* reasons are short */
        p += n;
    }

    *p++ = '\r';
    *p++ = '\n';

    if (drover__request_stdout(req, (const uint8_t *) status,
                               (size_t) (p - status)) != 0)
    {
        return -1;
    }

    if (!req->content_type_set
        && drover__request_stdout(req, (const uint8_t *) ct,
                                  sizeof(ct) - 1) != 0)
    {
        return -1;
    }

    if (drover__request_stdout(req, (const uint8_t *) w->hdrs,
                               w->hdrs_len) != 0) {
        return -1;
    }

    return drover__request_stdout(req, (const uint8_t *) "\r\n", 2);
}


static const char *
req_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default:  return "";
    }
}


DROVER_API int
drover_resp_status(drover_req_t *req, int status)
{
    /* 1xx are not final responses: a handler cannot send them */
    if (req->headers_sent || status < 200 || status > 599) {
        return -1;
    }

    req->status = status;

    return 0;
}


/* RFC 9110 5.6.2: token = 1*tchar */
static int
req_is_token(const char *s)
{
    if (*s == '\0') {
        return 0;
    }

    for ( ; *s; s++) {
        if (!isalnum((unsigned char) *s)
            && strchr("!#$%&'*+-.^_`|~", *s) == NULL)
        {
            return 0;
        }
    }

    return 1;
}


DROVER_API int
drover_resp_header(drover_req_t *req, const char *name, const char *value)
{
    size_t             nlen, vlen, need, cap;
    char              *p;
    drover__worker_t  *w;

    w = req->worker;

    if (req->headers_sent || !req_is_token(name)
        || strcasecmp(name, "Status") == 0 || strpbrk(value, "\r\n") != NULL)
    {
        return -1;
    }

    nlen = strlen(name);
    vlen = strlen(value);

    if (nlen + vlen > DROVER__RESP_HEADERS_MAX) {
        return -1;
    }

    need = w->hdrs_len + nlen + vlen + 4;
    if (need > DROVER__RESP_HEADERS_MAX) {
        return -1;
    }

    if (need > w->hdrs_cap) {
        cap = w->hdrs_cap ? w->hdrs_cap : 1024;
        while (cap < need) {
            cap *= 2;
        }

        p = realloc(w->hdrs, cap);
        if (p == NULL) {
            return -1;
        }

        w->hdrs = p;
        w->hdrs_cap = cap;
    }

    p = w->hdrs + w->hdrs_len;
    memcpy(p, name, nlen);
    p += nlen;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, vlen);
    p += vlen;
    *p++ = '\r';
    *p++ = '\n';
    w->hdrs_len = need;

    if (strcasecmp(name, "Content-Type") == 0) {
        req->content_type_set = 1;
    }

    return 0;
}


DROVER_API ssize_t
drover_resp_write(drover_req_t *req, const void *data, size_t len)
{
    int  rc;

    rc = drover__request_alive(req);
    if (rc != 0) {
        return rc < 0 ? -1 : (ssize_t) len;
    }

    if (len == 0) {
        return 0;
    }

    if (drover__request_commit_headers(req) != 0
        || drover__request_stdout(req, data, len) != 0)
    {
        return -1;
    }

    return (ssize_t) len;
}


DROVER_API ssize_t
drover_resp_printf(drover_req_t *req, const char *fmt, ...)
{
    int                n, rc;
    char              *tmp;
    size_t             room;
    ssize_t            ret;
    va_list            ap, aq;
    drover__worker_t  *w;

    w = req->worker;

    rc = drover__request_alive(req);
    if (rc < 0 || (rc == 0 && drover__request_commit_headers(req) != 0)) {
        return -1;
    }

    va_start(ap, fmt);

    if (rc > 0) {
        /* aborted: measure only, the bytes go nowhere */
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        return n;
    }

    /* straight into the open record when it fits; the NUL lands in the
     * reserve after the record */
    room = DROVER__OUT_RECORD_MAX - w->rec_len;
    va_copy(aq, ap);
    n = vsnprintf((char *) w->out + DROVER_FCGI_HEADER_LEN + w->rec_len,
                  room + 1, fmt, aq);
    va_end(aq);

    if (n < 0) {
        va_end(ap);
        return -1;
    }

    if ((size_t) n <= room) {
        va_end(ap);
        w->rec_len += (size_t) n;

        if (w->rec_len == DROVER__OUT_RECORD_MAX
            && drover__request_send(req) != 0)
        {
            return -1;
        }

        return n;
    }

    tmp = malloc((size_t) n + 1);
    if (tmp == NULL) {
        va_end(ap);
        return -1;
    }

    vsnprintf(tmp, (size_t) n + 1, fmt, ap);
    va_end(ap);

    ret = drover_resp_write(req, tmp, (size_t) n);
    free(tmp);

    return ret;
}


DROVER_API int
drover_resp_flush(drover_req_t *req)
{
    int  rc;

    rc = drover__request_alive(req);
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    if (drover__request_commit_headers(req) != 0
        || drover__request_send(req) != 0)
    {
        return -1;
    }

    return 0;
}


DROVER_API int
drover_req_stderr(drover_req_t *req, const char *data, size_t len)
{
    int                rc;
    size_t             n, shown;
    char               line[REQ_STDERR_LOG_MAX];
    uint8_t            header[DROVER_FCGI_HEADER_LEN];
    uint8_t            padding[8];
    unsigned           pad;
    struct iovec       iov[3];
    drover__worker_t  *w;

    w = req->worker;

    shown = len;
    while (shown > 0 && (data[shown - 1] == '\n' || data[shown - 1] == '\r')) {
        shown--;
    }

    if (shown > REQ_STDERR_LOG_MAX) {
        shown = REQ_STDERR_LOG_MAX;
    }

    /* one log line: inner line breaks and NULs become spaces */
    for (n = 0; n < shown; n++) {
        line[n] = (data[n] == '\n' || data[n] == '\r' || data[n] == '\0')
                  ? ' ' : data[n];
    }

    drover__worker_log(w, DROVER_LOG_WARN, 0, "app stderr: %.*s",
                       (int) shown, line);

    rc = drover__request_alive(req);
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    /* an empty record would end the stream (5.3): send none */
    if (len == 0) {
        return 0;
    }

    /* what STDOUT holds goes first, so the two streams keep their order */
    if (drover__request_send(req) != 0) {
        return -1;
    }

    memset(padding, 0, sizeof(padding));

    while (len > 0) {
        n = len > DROVER__OUT_RECORD_MAX ? DROVER__OUT_RECORD_MAX : len;
        pad = drover_fcgi_padding(n);
        drover_fcgi_header_encode(header, DROVER_FCGI_STDERR, req->id, n,
                                  pad);

        iov[0].iov_base = header;
        iov[0].iov_len = sizeof(header);
        iov[1].iov_base = (void *) data;
        iov[1].iov_len = n;
        iov[2].iov_base = padding;
        iov[2].iov_len = pad;

        if (req_write(req, iov, 3) != 0) {
            return -1;
        }

        data += n;
        len -= n;
    }

    return 0;
}
