/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * hello.c -- the smallest Drover app: answers every request with "hello".
 *
 * Build it into a shared object (`make build/apps/hello.so` does this) and
 * point a pool at it:
 *
 *     cc -std=c11 -fPIC -shared -fvisibility=hidden -Iworker_host/include \
 *         -o build/apps/hello.so apps/hello.c
 *
 *     pool hello {
 *         app     /usr/lib/drover/apps/hello.so;
 *         listen  unix:/run/drover/hello.sock;
 *     }
 *
 * The SDK functions (drover_resp_*) live in droverd itself, so the link
 * leaves them undefined; droverd resolves them when it loads the app.
 */

#include <drover.h>


/*
 * Called for each request, one at a time per worker.  The status (200) and
 * "Content-Type: text/plain" are the defaults; returning 0 ends the response.
 */
static int
hello_handle(drover_req_t *req, void *state)
{
    (void) state;   /* hello keeps no state: it has no init hook */

    if (drover_resp_write(req, "hello\n", 6) != 6) {
        return -1;  /* the front end is gone */
    }

    return 0;
}


/* the one symbol droverd looks for; unset hooks are simply not called */
DROVER_APP(
    .name   = "hello",
    .handle = hello_handle,
);
