/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * python_req.c -- the request functions of the SDK that the Python runtime
 * (apps/python/) needed first, for any app: drover_resp_no_default_type(),
 * drover_req_abort(), and drover_req_gone() / drover_req_fd() to see a
 * client leave (drover.h).
 */

#include <errno.h>
#include <sys/socket.h>

#include "log.h"
#include "request.h"


DROVER_API void
drover_resp_no_default_type(drover_req_t *req)
{
    /* request_response.c adds the default only while this is unset */
    req->content_type_set = 1;
}


DROVER_API void
drover_req_abort(drover_req_t *req)
{
    drover__conn_t  *c = req->conn;

    if (c->broken || c->aborted) {
        return;
    }

    /* what was written goes out first: the front end sees a response begun */
    (void) drover_resp_flush(req);

    drover__worker_log(req->worker, DROVER_LOG_ERROR, 0, "request %s "
                       "aborted by the app after its response started",
                       drover_req_uri(req));

    /* req_finish() sends no END_REQUEST on a broken connection: closed */
    c->broken = 1;
}


DROVER_API int
drover_req_gone(drover_req_t *req)
{
    ssize_t          n;
    drover__conn_t  *c = req->conn;

    if (c->broken || c->aborted) {
        return 1;
    }

    /* the body's bytes are the app's to read: only the end is looked at */
    if (!c->stdin_eof) {
        return drover__conn_peer_shut(c);
    }

    /* the body is in: what may come now is FCGI_ABORT_REQUEST (5.4), or EOF */
    while (c->in_len < DROVER__IN_SIZE) {
        n = recv(c->fd, c->in + c->in_len, DROVER__IN_SIZE - c->in_len,
                 MSG_DONTWAIT);

        if (n > 0) {
            c->in_len += (size_t) n;
            continue;
        }

        if (n == 0) {
            return 1;
        }

        if (errno == EINTR) {
            continue;
        }

        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        }

        return 1;
    }

    if (c->in_pos < c->in_len && drover__conn_pump(c, NULL, 0, NULL) != 0) {
        return 1;
    }

    return c->aborted || c->broken;
}


DROVER_API int
drover_req_fd(drover_req_t *req)
{
    return req->conn->fd;
}
