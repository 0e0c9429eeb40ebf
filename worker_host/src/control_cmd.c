/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * control_cmd.c -- the control socket's commands: which exist, what each
 * takes, and what each answers (control.h has the protocol).
 */

#include "control_int.h"
#include "conf.h"
#include "log.h"
#include "render.h"
#include "status_dispatch.h"
#include "status_keys.h"
#include "version.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static int control_pool_name_valid(json_object *v);
static void control_log_request(control_client_t *cl, int level,
    const char *fmt, ...) DROVER_PRINTF(3, 4);
static json_object *control_cmd_status(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);
static json_object *control_cmd_reload(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);
static json_object *control_cmd_restart(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);
static json_object *control_cmd_scale(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);
static json_object *control_cmd_stop(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);
static json_object *control_cmd_start(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);
static json_object *control_cmd_version(control_client_t *cl,
    json_object *req, const char *pool, char *err, size_t errlen);
static json_object *control_done(int rc, const char *what, char *err,
    size_t errlen);


static const control_cmd_t  control_cmds[] = {
    { "status",  CONTROL_POOL_OPTIONAL, control_cmd_status },
    { "reload",  CONTROL_POOL_OPTIONAL, control_cmd_reload },
    { "restart", CONTROL_POOL_REQUIRED, control_cmd_restart },
    { "scale",   CONTROL_POOL_REQUIRED, control_cmd_scale },
    { "start",   CONTROL_POOL_REQUIRED, control_cmd_start },
    { "stop",    CONTROL_POOL_OPTIONAL, control_cmd_stop },
    { "version", CONTROL_POOL_NONE,     control_cmd_version },
};

#define CONTROL_NCMDS  (sizeof(control_cmds) / sizeof(control_cmds[0]))


/* the result of REQ, or NULL with a message in err */
json_object *
drover__control_dispatch(control_client_t *cl, json_object *req, char *err,
    size_t errlen)
{
    size_t                 i;
    json_object           *v;
    const char            *name, *pool;
    const control_cmd_t   *cmd;

    if (!json_object_object_get_ex(req, "cmd", &v)
        || !json_object_is_type(v, json_type_string))
    {
        snprintf(err, errlen, "\"cmd\" is %s; it must be a string: status, "
                 "reload, restart, scale, start, stop or version",
                 json_object_object_get_ex(req, "cmd", NULL)
                 ? "not a string" : "missing");
        return NULL;
    }

    name = json_object_get_string(v);
    cmd = NULL;

    /* "status\u0000x" is no "status" */
    for (i = 0; i < CONTROL_NCMDS; i++) {
        if ((size_t) json_object_get_string_len(v) == strlen(name)
            && strcmp(name, control_cmds[i].name) == 0)
        {
            cmd = &control_cmds[i];
            break;
        }
    }

    if (cmd == NULL) {
        snprintf(err, errlen, "unknown command \"%.64s\"%s; the commands "
                 "are status, reload, restart, scale, start, stop and version",
                 name, strlen(name) > 64 ? "..." : "");
        return NULL;
    }

    if (cl->ctl->readonly && strcmp(cmd->name, "status") != 0
        && strcmp(cmd->name, "version") != 0)
    {
        snprintf(err, errlen, "\"%s\": this is droverd's read-only status "
                 "socket (status and version only); use the control socket",
                 cmd->name);
        return NULL;
    }

    pool = NULL;
    v = json_object_object_get(req, "pool");     /* "pool":null: none */

    if (v != NULL && cmd->pool == CONTROL_POOL_NONE) {
        snprintf(err, errlen, "\"%s\" takes no \"pool\"", cmd->name);
        return NULL;
    }

    if (v == NULL && cmd->pool == CONTROL_POOL_REQUIRED) {
        snprintf(err, errlen, "\"%s\" needs a \"pool\"", cmd->name);
        return NULL;
    }

    if (v != NULL) {
        if (!control_pool_name_valid(v)) {
            snprintf(err, errlen, "\"pool\" must be a pool name: a string "
                     "of 1 to %u characters from A-Z a-z 0-9 _ . -",
                     DROVER_CONF_NAME_MAX);
            return NULL;
        }

        pool = json_object_get_string(v);
    }

    return cmd->handler(cl, req, pool, err, errlen);
}


/* the syntax of conf.c's pool names: [A-Za-z0-9_.-]{1,64} */
static int
control_pool_name_valid(json_object *v)
{
    size_t       len;
    const char  *name;

    if (!json_object_is_type(v, json_type_string)) {
        return 0;
    }

    name = json_object_get_string(v);
    len = (size_t) json_object_get_string_len(v);

    /* an escaped NUL ("k\u0000t") would make it look shorter */
    if (len == 0 || len > DROVER_CONF_NAME_MAX || strlen(name) != len) {
        return 0;
    }

    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789_.-") == len;
}


/* ---- the commands ---- */

/* who asked for what: actions at notice, for the record */
static void
control_log_request(control_client_t *cl, int level, const char *fmt, ...)
{
    char     what[128];
    va_list  ap;

    if (!drover_log_enabled(level)) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);

    drover_log_error(level, 0, "control: \"%s\" from pid %ld, uid %ld", what,
                     cl->peer_pid, cl->peer_uid);
}


/*
 * {"cmd":"status","format":"prometheus"|"html"|"json","raw":true}: the
 * answer is not a JSON line but "CODE CONTENT-TYPE\n" and the document,
 * then the connection closes.  The nginx status page relays it as it is,
 * so nginx never parses JSON.
 */
static json_object *
control_status_raw(control_client_t *cl, json_object *result,
    const char *format, const char *err)
{
    int          rc;
    char        *text;
    size_t       len;
    const char  *s;

    text = NULL;
    len = 0;
    rc = 0;

    if (result == NULL) {
        drover__control_send_raw(cl, strncmp(err, "no pool", 7) == 0
                                     ? "404 text/plain; charset=utf-8\n"
                                     : "500 text/plain; charset=utf-8\n",
                                 err, strlen(err));
        drover__control_client_finish(cl);
        return NULL;
    }

    if (strcmp(format, "prometheus") == 0) {
        rc = drover_render_prometheus(result, &text, &len);
        if (rc == 0) {
            drover__control_send_raw(cl, "200 text/plain; version=0.0.4; "
                                     "charset=utf-8\n", text, len);
        }

    } else if (strcmp(format, "html") == 0) {
        rc = drover_render_html(result, &text, &len);
        if (rc == 0) {
            drover__control_send_raw(cl, "200 text/html; charset=utf-8\n",
                                     text, len);
        }

    } else {
        s = json_object_to_json_string_length(result,
                                              JSON_C_TO_STRING_PRETTY, &len);
        drover__control_send_raw(cl, "200 application/json\n", s, len);
    }

    if (rc != 0) {
        drover__control_send_raw(cl, "500 text/plain; charset=utf-8\n",
                                 "cannot render the status", 24);
    }

    free(text);
    json_object_put(result);
    drover__control_client_finish(cl);

    return NULL;
}


static json_object *
control_cmd_status(control_client_t *cl, json_object *req, const char *pool,
    char *err, size_t errlen)
{
    json_object           *result, *v;
    const char            *format;
    drover_control_ops_t  *ops = &cl->ctl->ops;

    control_log_request(cl, DROVER_LOG_DEBUG, "status%s%s", pool ? " " : "",
                        pool ? pool : "");

    format = "json";

    if (json_object_object_get_ex(req, "format", &v)) {
        format = json_object_is_type(v, json_type_string)
                 ? json_object_get_string(v) : "";

        if (strcmp(format, "json") != 0 && strcmp(format, "prometheus") != 0
            && strcmp(format, "html") != 0)
        {
            snprintf(err, errlen, "\"format\" is one of json, prometheus, "
                     "html");
            return NULL;
        }
    }

    if (ops->status == NULL) {
        snprintf(err, errlen, "\"status\" is not supported");
        return NULL;
    }

    result = ops->status(ops->data, pool, err, errlen);
    if (result == NULL && err[0] == '\0') {
        snprintf(err, errlen, "status failed");
    }

    if (result != NULL) {
        drover_status_merge_dispatch(result,
            json_object_object_get(req, DROVER_SK_QUEUES));
        drover_status_merge_groups(result,
            json_object_object_get(req, "groups"));
    }

    if (json_object_object_get_ex(req, "raw", &v)
        && json_object_get_boolean(v))
    {
        return control_status_raw(cl, result, format, err);
    }

    if (result != NULL && strcmp(format, "json") != 0) {
        char    *text = NULL;
        size_t   len;
        int      rc;

        rc = strcmp(format, "prometheus") == 0
             ? drover_render_prometheus(result, &text, &len)
             : drover_render_html(result, &text, &len);

        json_object_put(result);

        if (rc != 0) {
            snprintf(err, errlen, "cannot render the status");
            return NULL;
        }

        result = json_object_new_string_len(text, (int) len);
        free(text);
    }

    return result;
}


static json_object *
control_cmd_reload(control_client_t *cl, json_object *req, const char *pool,
    char *err, size_t errlen)
{
    drover_control_ops_t  *ops = &cl->ctl->ops;

    (void) req;

    if (pool != NULL) {
        control_log_request(cl, DROVER_LOG_NOTICE, "reload %s", pool);

        if (ops->pool_reload == NULL) {
            snprintf(err, errlen, "\"reload\" of one pool is not supported");
            return NULL;
        }

        return control_done(ops->pool_reload(ops->data, pool, err, errlen),
                            "reload", err, errlen);
    }

    control_log_request(cl, DROVER_LOG_NOTICE, "reload");

    if (ops->reload == NULL) {
        snprintf(err, errlen, "\"reload\" is not supported");
        return NULL;
    }

    return control_done(ops->reload(ops->data, err, errlen), "reload", err,
                        errlen);
}


static json_object *
control_cmd_restart(control_client_t *cl, json_object *req, const char *pool,
    char *err, size_t errlen)
{
    drover_control_ops_t  *ops = &cl->ctl->ops;

    (void) req;

    control_log_request(cl, DROVER_LOG_NOTICE, "restart %s", pool);

    if (ops->restart == NULL) {
        snprintf(err, errlen, "\"restart\" is not supported");
        return NULL;
    }

    return control_done(ops->restart(ops->data, pool, err, errlen),
                        "restart", err, errlen);
}


static json_object *
control_cmd_scale(control_client_t *cl, json_object *req, const char *pool,
    char *err, size_t errlen)
{
    int64_t                n;
    json_object           *v;
    drover_control_ops_t  *ops = &cl->ctl->ops;

    v = json_object_object_get(req, "workers");

    if (v == NULL || !json_object_is_type(v, json_type_int)) {
        snprintf(err, errlen, "\"scale\" needs \"workers\": a whole number "
                 "from 1 to %u%s", DROVER_CONF_MAX_WORKERS,
                 v == NULL ? "" : json_object_is_type(v, json_type_string)
                 ? ", not a string" : json_object_is_type(v, json_type_double)
                 ? ", not a fraction" : "");
        return NULL;
    }

    /* beyond int64, json-c clamps: still out of range */
    n = json_object_get_int64(v);
    if (n < 1 || n > DROVER_CONF_MAX_WORKERS) {
        snprintf(err, errlen, "\"workers\" must be from 1 to %u, got %lld",
                 DROVER_CONF_MAX_WORKERS, (long long) n);
        return NULL;
    }

    control_log_request(cl, DROVER_LOG_NOTICE, "scale %s %u", pool,
                        (unsigned) n);

    if (ops->scale == NULL) {
        snprintf(err, errlen, "\"scale\" is not supported");
        return NULL;
    }

    return control_done(ops->scale(ops->data, pool, (unsigned) n, err,
                                   errlen), "scale", err, errlen);
}


static json_object *
control_cmd_stop(control_client_t *cl, json_object *req, const char *pool,
    char *err, size_t errlen)
{
    drover_control_ops_t  *ops = &cl->ctl->ops;

    (void) req;

    if (pool != NULL) {
        control_log_request(cl, DROVER_LOG_NOTICE, "stop %s", pool);

        if (ops->pool_stop == NULL) {
            snprintf(err, errlen, "\"stop\" of one pool is not supported");
            return NULL;
        }

        return control_done(ops->pool_stop(ops->data, pool, err, errlen),
                            "stop", err, errlen);
    }

    control_log_request(cl, DROVER_LOG_NOTICE, "stop");

    if (ops->stop == NULL) {
        snprintf(err, errlen, "\"stop\" is not supported");
        return NULL;
    }

    return control_done(ops->stop(ops->data, err, errlen), "stop", err,
                        errlen);
}


static json_object *
control_cmd_start(control_client_t *cl, json_object *req, const char *pool,
    char *err, size_t errlen)
{
    drover_control_ops_t  *ops = &cl->ctl->ops;

    (void) req;

    control_log_request(cl, DROVER_LOG_NOTICE, "start %s", pool);

    if (ops->pool_start == NULL) {
        snprintf(err, errlen, "\"start\" is not supported");
        return NULL;
    }

    return control_done(ops->pool_start(ops->data, pool, err, errlen),
                        "start", err, errlen);
}


static json_object *
control_cmd_version(control_client_t *cl, json_object *req, const char *pool,
    char *err, size_t errlen)
{
    json_object  *result;

    (void) req;
    (void) pool;

    control_log_request(cl, DROVER_LOG_DEBUG, "version");

    result = json_object_new_object();
    if (result == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    json_object_object_add(result, DROVER_SK_VERSION,
                           json_object_new_string(DROVER_VERSION));
    json_object_object_add(result, DROVER_SK_PROTOCOL,
                           json_object_new_int(DROVER_CONTROL_PROTOCOL));
    json_object_object_add(result, DROVER_SK_PID,
                           json_object_new_int64((int64_t) getpid()));

    return result;
}


/* an action's outcome: an empty result object, or NULL and err */
static json_object *
control_done(int rc, const char *what, char *err, size_t errlen)
{
    json_object  *result;

    if (rc < 0) {
        if (err[0] == '\0') {
            snprintf(err, errlen, "%s failed: %s", what, uv_strerror(rc));
        }

        return NULL;
    }

    result = json_object_new_object();
    if (result == NULL) {
        snprintf(err, errlen, "%s done, but out of memory for the answer",
                 what);
    }

    return result;
}


