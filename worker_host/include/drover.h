/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * drover.h -- the Drover application SDK.
 *
 * This is the only header a Drover app includes.  An app is a shared object
 * that exports exactly one symbol, `drover_app`, a drover_app_t describing the
 * hooks below; define it with DROVER_APP().  droverd refuses an app whose
 * abi_version differs from the one it was built with.
 *
 * Lifecycle (see DESIGN.md):
 *
 *   init         once per app load: in the pool's preloader before any fork
 *                when `preload on` (so the state it builds is shared
 *                copy-on-write by every worker), else in each worker.
 *   worker_init  in each worker after fork: open per-process resources here
 *                (database connections are never shared across fork).
 *   handle       one request at a time per worker.
 *   fini         in each worker when it stops gracefully.
 *
 * Requests and responses never expose FastCGI.  All strings returned by the
 * request functions stay valid until handle() returns.
 */

#ifndef DROVER_H
#define DROVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Bump on any incompatible change of drover_app_t or of the functions below.
 */
#define DROVER_ABI_VERSION  1

#define DROVER_API  __attribute__((visibility("default")))

#if defined(__GNUC__)
#define DROVER_PRINTF(f, a)  __attribute__((format(printf, f, a)))
#else
#define DROVER_PRINTF(f, a)
#endif


typedef struct drover_ctx_s  drover_ctx_t;   /* the app's pool and process */
typedef struct drover_req_s  drover_req_t;   /* one request and its response */


enum {
    DROVER_LOG_ERROR = 1,
    DROVER_LOG_WARN,
    DROVER_LOG_NOTICE,
    DROVER_LOG_INFO,
    DROVER_LOG_DEBUG
};


typedef struct {
    /* abi_version and struct_size come first and never move */
    uint32_t     abi_version;
    uint32_t     struct_size;
    const char  *name;

    /* return 0 on success; a non-zero return fails the start, logged */
    int        (*init)(drover_ctx_t *ctx, void **state);
    int        (*worker_init)(drover_ctx_t *ctx, void *state);

    /*
     * Return 0 when the response is complete.  A negative return before any
     * body byte was written turns into "500 Internal Server Error".
     */
    int        (*handle)(drover_req_t *req, void *state);

    void       (*fini)(drover_ctx_t *ctx, void *state);

    /*
     * Optional fork hooks, appended later: an app built before them has a
     * smaller struct_size and is never asked for them (DROVER_APP_HAS).
     * With `preload on` the preloader forks each worker; around that fork,
     * as os.fork() does for Python's os.register_at_fork:
     *
     *   before_fork        in the preloader, just before fork()
     *   after_fork_parent  in the preloader, just after it (also when the
     *                      fork failed)
     *   after_fork_child   first thing in the new worker, before
     *                      worker_init; drover_worker_slot() is its slot
     *
     * No other code of droverd's runs in between.  Without preload they are
     * not called (each worker loads the app itself).
     */
    void       (*before_fork)(drover_ctx_t *ctx, void *state);
    void       (*after_fork_parent)(drover_ctx_t *ctx, void *state);
    void       (*after_fork_child)(drover_ctx_t *ctx, void *state);
} drover_app_t;


/* the size of drover_app_t before the fork hooks: the smallest accepted */
#define DROVER_APP_SIZE_V1  (offsetof(drover_app_t, fini)                   \
                             + sizeof(void (*)(drover_ctx_t *, void *)))

/* 1 when APP's struct is new enough to hold FIELD (and FIELD is set) */
#define DROVER_APP_HAS(app, field)                                           \
    ((app)->struct_size >= offsetof(drover_app_t, field)                     \
                           + sizeof((app)->field)                            \
     && (app)->field != NULL)


/*
 * DROVER_APP(.name = "hello", .handle = hello_handle);
 */
#define DROVER_APP(...)                                                      \
    DROVER_API const drover_app_t drover_app = {                            \
        .abi_version = DROVER_ABI_VERSION,                                   \
        .struct_size = sizeof(drover_app_t),                                 \
        __VA_ARGS__                                                          \
    }

#define DROVER_APP_SYMBOL  "drover_app"


/* ---- the app's context: configuration and logging ---- */

/* the value of `app_param NAME VALUE;` in the pool, or NULL */
DROVER_API const char *drover_app_param(drover_ctx_t *ctx, const char *name);

DROVER_API const char *drover_pool_name(drover_ctx_t *ctx);

/* the worker slot (0 .. workers-1), or -1 in the preloader */
DROVER_API int drover_worker_slot(drover_ctx_t *ctx);

/* to droverd's log, prefixed with the pool and pid */
DROVER_API void drover_log(drover_ctx_t *ctx, int level, const char *fmt, ...)
    DROVER_PRINTF(3, 4);


/* ---- the request ---- */

DROVER_API drover_ctx_t *drover_req_ctx(drover_req_t *req);

DROVER_API const char *drover_req_method(drover_req_t *req);   /* "GET" */

/*
 * The request target exactly as the client sent it (REQUEST_URI): not
 * decoded, not normalised, with its query: "/x/../p%69d?a=1".  For logs,
 * redirects back to the same URL and signatures over the raw target; never
 * route or authorise on it (see drover_req_path).  Without REQUEST_URI,
 * the path.
 */
DROVER_API const char *drover_req_uri(drover_req_t *req);

/*
 * The decoded, normalised path the front end routed on: "/pid" for the
 * target above.  Route and check access on this one: it is the path
 * nginx chose the location by, so an app that serves /admin/ only where
 * nginx's rules let a request reach /admin/ sees no other spelling of it.
 * It is DOCUMENT_URI (nginx's $document_uri), else SCRIPT_NAME + PATH_INFO
 * as the front end sent them (RFC 3875: both decoded).  Only when the
 * front end sent none of these, the path of REQUEST_URI is decoded and
 * normalised as nginx does: %XX decoded ("%2e%2e" is "..", "%2f" is "/";
 * "%00" stays as written), "//" merged, "." and ".." resolved, never
 * above "/".  Never empty: "/" at least.
 */
DROVER_API const char *drover_req_path(drover_req_t *req);

DROVER_API const char *drover_req_query(drover_req_t *req);    /* "x=1" or "" */

/*
 * Any CGI/FastCGI parameter by its exact name ("REMOTE_ADDR"), or NULL.
 * HTTP_PROXY is never there, whoever sent it (httpoxy, CVE-2016-5385: a
 * client's "Proxy:" header must not become the app's outgoing proxy), so
 * neither drover_req_header(req, "Proxy") nor drover_req_param_next
 * returns it.
 */
DROVER_API const char *drover_req_param(drover_req_t *req, const char *name);

/*
 * An HTTP request header by name, case-insensitive, "-" and "_" alike:
 * "Content-Type", "user-agent".  NULL when absent.
 */
DROVER_API const char *drover_req_header(drover_req_t *req, const char *name);

/*
 * Iterate over every parameter:
 *     size_t i = 0; const char *n, *v;
 *     while (drover_req_param_next(req, &i, &n, &v)) { ... }
 */
DROVER_API int drover_req_param_next(drover_req_t *req, size_t *iter,
    const char **name, const char **value);

/*
 * The query argument NAME, percent-decoded into buf (NUL-terminated).
 * Returns its length, or -1 when absent or longer than size - 1.
 */
DROVER_API ssize_t drover_req_arg(drover_req_t *req, const char *name,
    char *buf, size_t size);

/* CONTENT_LENGTH, or -1 when not given */
DROVER_API int64_t drover_req_content_length(drover_req_t *req);

/*
 * Read the next piece of the body: returns bytes read (> 0), 0 at the end of
 * the body, or -1 when the body cannot be read (client gone, request aborted,
 * front end stalled).  Blocks only this worker.
 */
DROVER_API ssize_t drover_req_read(drover_req_t *req, void *buf, size_t len);

/*
 * The whole body in one buffer owned by the request (freed after handle()),
 * NUL-terminated for convenience.  Returns its length, or -1 on error or
 * when the body is longer than max.
 */
DROVER_API ssize_t drover_req_read_all(drover_req_t *req, size_t max,
    const char **body);


/* ---- the response ---- */

/* default 200; only before the first body byte; returns 0 or -1 */
DROVER_API int drover_resp_status(drover_req_t *req, int status);

/*
 * Add a header (repeat for several Set-Cookie).  Names must be tokens and
 * values must not hold CR, LF or NUL: -1 otherwise.  Only before the first
 * body byte.  "Content-Type: text/plain" is the default.
 */
DROVER_API int drover_resp_header(drover_req_t *req, const char *name,
    const char *value);

/*
 * Append to the body.  The status and headers are sent with the first
 * piece.  If the request body has not all arrived when the first response
 * byte goes out, up to 8 MiB of it is read in first and kept for
 * drover_req_read(): nginx stops sending a request body once it has the
 * response header, so answering early must not wait on the body.  Data is sent as soon as a record fills, on drover_resp_flush() and
 * when handle() returns.  Returns len, or -1 when the front end is gone.
 */
DROVER_API ssize_t drover_resp_write(drover_req_t *req, const void *data,
    size_t len);

DROVER_API ssize_t drover_resp_printf(drover_req_t *req, const char *fmt, ...)
    DROVER_PRINTF(2, 3);

DROVER_API int drover_resp_flush(drover_req_t *req);

/*
 * No default "Content-Type: text/plain" for this response: only the
 * headers the app adds.  For runtimes whose frameworks set their own (a
 * 204 has none).  Only before the first body byte.
 */
DROVER_API void drover_resp_no_default_type(drover_req_t *req);

/*
 * End the request without ending its response, for a failure after the
 * response started: what was written is sent, then the connection to the
 * front end is closed without FCGI_END_REQUEST, so the front end sees a
 * truncated response (nginx closes the client's connection) instead of a
 * complete one.  handle()'s return value no longer matters.  Logged.
 */
DROVER_API void drover_req_abort(drover_req_t *req);

/*
 * 1 when the front end has given the request up (FCGI_ABORT_REQUEST, or
 * its connection closed: the client left), else 0.  Never blocks.  Until
 * the whole body was read only a closed connection is seen.  An app that
 * waits on something else (a long poll, a stream) watches drover_req_fd()
 * for readability and asks this when it turns readable.
 */
DROVER_API int drover_req_gone(drover_req_t *req);

/* the connection to the front end, to poll for POLLIN only; never read it */
DROVER_API int drover_req_fd(drover_req_t *req);

/* text to the front end's error stream (FCGI_STDERR) and to droverd's log */
DROVER_API int drover_req_stderr(drover_req_t *req, const char *data,
    size_t len);


#ifdef __cplusplus
}
#endif

#endif /* DROVER_H */
