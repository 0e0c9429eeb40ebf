/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * request.c -- the one request a worker runs in the app at a time: run it,
 * finish it, and the SDK's body readers (drover.h).
 */

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi.h"
#include "log.h"
#include "request.h"


static int req_finish(drover_req_t *req, int ret);
static int req_kept(drover_req_t *req);
static int64_t req_param_number(drover_req_t *req, const char *name);


int
drover__request_run(drover__worker_t *w, drover__conn_t *c)
{
    int            rc, ret;
    size_t         n;
    drover_req_t  *req;

    req = &w->req;
    memset(req, 0, sizeof(*req));
    req->worker = w;
    req->conn = c;
    req->id = c->req_id;
    req->status = 200;

    w->out_len = 0;
    w->rec_len = 0;
    w->hdrs_len = 0;

    rc = drover_fcgi_params_decode(c->params, c->params_len, w->params,
                                   DROVER_FCGI_PARAMS_COUNT_MAX, &n);
    if (rc != 0) {
        /* the framing is sound: worker_conn.c answers it, logged there */
        c->refuse = (rc == -E2BIG) ? DROVER__REFUSE_PARAMS_COUNT
                                   : DROVER__REFUSE_MALFORMED;
        return DROVER__REQ_REFUSED;
    }

    req->params = w->params;
    req->nparams = n;
    c->req_phase = DROVER__REQ_RUNNING;

    /*
     * DROVER_WITHDRAWABLE: Drover's module, on a slot socket, may take
     * this request back while it waits in the socket (drover_pipeline), by
     * shutting the connection's sending side, if it sees bytes of it still
     * unread.  So the request is read whole first (its body is at most
     * 64 KiB), then run only if that side is still open: a request whose
     * last byte was read after the shutdown went to another worker.  Read
     * whole before DROVER_WITHDRAW_AFTER, it cannot have been taken back:
     * no look at that side (req_kept).
     */
    if (c->slot && drover_req_param(req, "DROVER_WITHDRAWABLE") != NULL) {
        req->pre_checked = 1;

        if (!c->stdin_eof) {
            drover__request_preread(req);
        }

        if (c->broken) {
            rc = -1;
            goto cleanup;
        }

        if (c->stdin_eof && !req_kept(req) && drover__conn_peer_shut(c)) {
            rc = DROVER__REQ_WITHDRAWN;
            goto cleanup;
        }
    }

    drover__request_timeout_arm(w, req);
    drover_sb_begin(w->args->sb, drover_req_param(req, "REQUEST_URI"));

    ret = w->args->app->handle(req, w->args->app_state);

    drover_sb_end(w->args->sb);
    drover__request_timeout_disarm(w);

    req->finishing = 1;
    rc = req_finish(req, ret);

cleanup:

    free(req->body);
    req->body = NULL;
    free(req->pre);
    req->pre = NULL;

    return rc;
}


/*
 * 1 when the front end cannot have shut the connection yet: the request
 * carries DROVER_WITHDRAW_AFTER, the earliest time (microseconds of
 * CLOCK_MONOTONIC) at which it may take the request back, and that time
 * is still ahead.  It was read whole before this look, so nginx, which
 * shuts only after that time and then sees none of it unread, waits for
 * the answer.  Only on the Unix slot socket: the clock is this host's.
 */
static int
req_kept(drover_req_t *req)
{
    int64_t           at, now;
    struct timespec   ts;

    if (req->conn->tcp) {
        return 0;
    }

    at = req_param_number(req, "DROVER_WITHDRAW_AFTER");
    if (at < 0) {
        return 0;
    }

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        return 0;
    }

    now = (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;

    return now < at;
}


static int
req_finish(drover_req_t *req, int ret)
{
    size_t             len;
    uint8_t           *p;
    drover__conn_t    *c;
    drover__worker_t  *w;

    static const char  body500[] = "500 Internal Server Error\n";

    c = req->conn;
    w = req->worker;

    if (c->broken) {
        return -1;
    }

    if (c->aborted) {
        /* 5.4: an aborted request still ends with END_REQUEST */
        w->out_len = 0;
        w->rec_len = 0;

    } else {
        if (ret < 0 && !req->headers_sent) {
            drover__worker_log(w, DROVER_LOG_ERROR, 0,
                               "app failed request %s (%d), sending 500",
                               drover_req_uri(req), ret);

            w->hdrs_len = 0;
            req->content_type_set = 0;
            req->status = 500;

            if (drover__request_commit_headers(req) != 0
                || drover__request_stdout(req, (const uint8_t *) body500,
                                          sizeof(body500) - 1) != 0)
            {
                return -1;
            }
        }

        if (drover__request_commit_headers(req) != 0) {
            return -1;
        }

        drover__request_close_record(req);

        /* 5.3: an empty record ends the FCGI_STDOUT stream */
        drover_fcgi_header_encode(w->out + w->out_len, DROVER_FCGI_STDOUT,
                                  req->id, 0, 0);
        w->out_len += DROVER_FCGI_HEADER_LEN;
    }

    p = w->out + w->out_len;
    drover_fcgi_header_encode(p, DROVER_FCGI_END_REQUEST, req->id,
                              DROVER_FCGI_BODY_LEN, 0);
    drover_fcgi_end_request_encode(p + DROVER_FCGI_HEADER_LEN,
                                   ret < 0 ? 1 : 0,
                                   DROVER_FCGI_REQUEST_COMPLETE);
    len = DROVER_FCGI_HEADER_LEN + DROVER_FCGI_BODY_LEN;
    w->out_len += len;

    return drover__request_send(req);
}


/* 0 while the response can go out; aborted requests swallow it */
int
drover__request_alive(drover_req_t *req)
{
    if (req->conn->broken) {
        return -1;
    }

    return req->conn->aborted ? 1 : 0;
}


/* ---- the request body ---- */

DROVER_API ssize_t
drover_req_read(drover_req_t *req, void *buf, size_t len)
{
    size_t           n;
    drover__conn_t  *c;

    c = req->conn;

    /* what drover__request_preread() took in comes first */
    if (req->pre_pos < req->pre_len && !req->pre_reading) {
        n = req->pre_len - req->pre_pos;
        if (n > len) {
            n = len;
        }

        memcpy(buf, req->pre + req->pre_pos, n);
        req->pre_pos += n;

        return (ssize_t) n;
    }

    for ( ;; ) {
        if (c->broken || c->aborted) {
            return -1;
        }

        if (c->stdin_eof || len == 0) {
            return 0;
        }

        if (c->in_pos == c->in_len && drover__conn_fill(c) != 0) {
            return -1;
        }

        if (drover__conn_pump(c, buf, len, &n) != 0) {
            return -1;
        }

        if (n > 0) {
            return (ssize_t) n;
        }
    }
}


DROVER_API ssize_t
drover_req_read_all(drover_req_t *req, size_t max, const char **body)
{
    char     *buf, *p;
    size_t    len, cap, limit;
    int64_t   cl;
    ssize_t   n;

    if (req->body != NULL) {
        *body = req->body;
        return (ssize_t) req->body_len;
    }

    *body = NULL;

    if (max > (size_t) SSIZE_MAX - 2) {
        max = (size_t) SSIZE_MAX - 2;
    }

    /* room for one byte past max (to see it is too long) and the NUL */
    limit = max + 2;
    cl = drover_req_content_length(req);

    if (cl >= 0 && (uint64_t) cl <= max) {
        cap = (size_t) cl + 2;
    } else {
        cap = limit < 16384 ? limit : 16384;
    }

    buf = malloc(cap);
    if (buf == NULL) {
        return -1;
    }

    len = 0;

    for ( ;; ) {
        if (len + 1 == cap) {
            if (cap == limit) {
                goto fail;
            }

            cap = (cap > limit / 2) ? limit : cap * 2;
            p = realloc(buf, cap);
            if (p == NULL) {
                goto fail;
            }

            buf = p;
        }

        n = drover_req_read(req, buf + len, cap - 1 - len);
        if (n < 0) {
            goto fail;
        }

        if (n == 0) {
            break;
        }

        len += (size_t) n;

        if (len > max) {
            goto fail;
        }
    }

    buf[len] = '\0';
    req->body = buf;
    req->body_len = len;
    *body = buf;

    return (ssize_t) len;

fail:

    free(buf);
    return -1;
}


DROVER_API int64_t
drover_req_content_length(drover_req_t *req)
{
    return req_param_number(req, "CONTENT_LENGTH");
}


/* a parameter that is a decimal number: -1 when absent, empty or not one */
static int64_t
req_param_number(drover_req_t *req, const char *name)
{
    int64_t      v;
    const char  *s;

    s = drover_req_param(req, name);
    if (s == NULL || *s == '\0') {
        return -1;
    }

    for (v = 0; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10) {
            return -1;
        }

        v = v * 10 + (*s - '0');
    }

    return v;
}
