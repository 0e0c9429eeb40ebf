/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */

/* mod_drover: the module record, its directives and their merging, the
 * hooks, and the handler that dispatches a request to droverd's slots
 * with the queue and the replays of docs/dispatch.md. */

#include "mod_drover.h"

#include "apr_strings.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"


#define DROVER_HANDLER  "drover-handler"


/* ---- configuration ---- */

static void *
create_dir_conf(apr_pool_t *p, char *dir)
{
    drover_dir_conf_t  *dc = apr_pcalloc(p, sizeof(*dc));

    (void) dir;

    dc->pool = -1;
    dc->queue_size = -1;
    dc->queue_timeout = -1;
    dc->connect_timeout = -1;
    dc->send_timeout = -1;
    dc->read_timeout = -1;
    dc->retries = -1;
    dc->pipeline = -1;
    dc->pipeline_timeout = -1;

    return dc;
}


#define MERGE(field, unset) \
    dc->field = add->field != (unset) ? add->field : base->field

static void *
merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    drover_dir_conf_t  *base = basev, *add = addv;
    drover_dir_conf_t  *dc = apr_pcalloc(p, sizeof(*dc));

    dc->path = add->path != NULL ? add->path : base->path;
    dc->pool = add->path != NULL ? add->pool : base->pool;

    /* like fastcgi_param: a level with any DroverParam inherits none */
    dc->params = add->params != NULL ? add->params : base->params;

    MERGE(queue_size, -1);
    MERGE(queue_timeout, -1);
    MERGE(connect_timeout, -1);
    MERGE(send_timeout, -1);
    MERGE(read_timeout, -1);
    MERGE(retries, -1);
    MERGE(pipeline, -1);
    MERGE(pipeline_timeout, -1);
    dc->status_path = add->status_path != NULL ? add->status_path
                                               : base->status_path;

    return dc;
}


/* the defaults, where nothing set a field (the server's own level too) */
static const drover_dir_conf_t *
effective_conf(request_rec *r)
{
    drover_dir_conf_t  *dc, *out;

    dc = ap_get_module_config(r->per_dir_config, &drover_module);
    out = apr_pmemdup(r->pool, dc, sizeof(*dc));

    if (out->queue_size < 0) {
        out->queue_size = 100;
    }
    if (out->queue_timeout < 0) {
        out->queue_timeout = apr_time_from_sec(10);
    }
    if (out->connect_timeout < 0) {
        out->connect_timeout = apr_time_from_sec(60);
    }
    if (out->send_timeout < 0) {
        out->send_timeout = apr_time_from_sec(60);
    }
    if (out->read_timeout < 0) {
        out->read_timeout = apr_time_from_sec(60);
    }
    if (out->retries < 0) {
        out->retries = 2;
    }
    /* deeper than nginx's 3: a request waiting in our queue costs its
     * thread a sleep and a wake-up (docs/apache.md#droverpipeline) */
    if (out->pipeline < 0) {
        out->pipeline = 7;
    }
    if (out->pipeline_timeout < 0) {
        out->pipeline_timeout = apr_time_from_msec(5);
    }

    return out;
}


static const char *
set_pass(cmd_parms *cmd, void *conf, const char *arg)
{
    drover_dir_conf_t  *dc = conf;

    if (strncmp(arg, "unix:", 5) != 0 || arg[5] != '/') {
        return apr_psprintf(cmd->pool, "DroverPass needs \"unix:/absolute/"
                            "path\" (droverd's listen socket), got \"%s\"",
                            arg);
    }

    if (strlen(arg + 5) > 100) {
        return apr_psprintf(cmd->pool, "DroverPass: the socket path \"%s\" is "
                            "too long for a Unix socket with its \".N\" slots",
                            arg + 5);
    }

    dc->path = apr_pstrdup(cmd->pool, arg + 5);
    dc->pool = drover_slots_register(cmd->pool, dc->path);
    return NULL;
}


static const char *
set_param(cmd_parms *cmd, void *conf, const char *name, const char *value)
{
    const char         *err = NULL;
    ap_expr_info_t     *expr = NULL;
    drover_dir_conf_t  *dc = conf;
    drover_param_t     *dp;

    if (*name == '\0') {
        return "DroverParam needs a NAME";
    }

    /* as Header's values: %{VAR}, %{HTTP:Header}, %{env:NAME}, ... */
    if (ap_strstr_c(value, "%{") != NULL) {
        expr = ap_expr_parse_cmd(cmd, value, AP_EXPR_FLAG_STRING_RESULT,
                                 &err, NULL);
        if (err != NULL) {
            return apr_psprintf(cmd->pool, "DroverParam %s: cannot parse "
                                "\"%s\": %s", name, value, err);
        }
    }

    if (dc->params == NULL) {
        dc->params = apr_array_make(cmd->pool, 4, sizeof(drover_param_t));
    }

    dp = apr_array_push(dc->params);
    dp->name = apr_pstrdup(cmd->pool, name);
    dp->value = apr_pstrdup(cmd->pool, value);
    dp->expr = expr;
    return NULL;
}


/* "10", "10s", "500ms", "2m" */
static const char *
parse_time(cmd_parms *cmd, const char *arg, apr_interval_time_t *out)
{
    apr_status_t  rv = ap_timeout_parameter_parse(arg, out, "s");

    if (rv != APR_SUCCESS || *out < 0) {
        return apr_psprintf(cmd->pool, "%s: \"%s\" is not a time (like 10s or "
                            "500ms)", cmd->directive->directive, arg);
    }

    return NULL;
}


static const char *
set_queue(cmd_parms *cmd, void *conf, int argc, char *const argv[])
{
    drover_dir_conf_t  *dc = conf;
    const char         *err;
    char               *end;
    long                n;
    int                 i;

    if (argc == 0) {
        return "DroverQueue needs size=N and/or timeout=TIME";
    }

    for (i = 0; i < argc; i++) {
        if (strncmp(argv[i], "size=", 5) == 0) {
            n = strtol(argv[i] + 5, &end, 10);
            if (end == argv[i] + 5 || *end != '\0' || n < 0 || n > 1000000) {
                return apr_psprintf(cmd->pool, "DroverQueue: \"%s\" needs a "
                                    "number from 0 to 1000000", argv[i]);
            }
            dc->queue_size = (int) n;

        } else if (strncmp(argv[i], "timeout=", 8) == 0) {
            err = parse_time(cmd, argv[i] + 8, &dc->queue_timeout);
            if (err != NULL) {
                return err;
            }

        } else {
            return apr_psprintf(cmd->pool, "DroverQueue: unknown \"%s\" (size=N "
                                "or timeout=TIME)", argv[i]);
        }
    }

    return NULL;
}


static const char *
set_timeout(cmd_parms *cmd, void *conf, const char *arg)
{
    char  *base = conf;

    return parse_time(cmd, arg,
                      (apr_interval_time_t *) (base + (apr_size_t) cmd->info));
}


static const char *
set_retries(cmd_parms *cmd, void *conf, const char *arg)
{
    drover_dir_conf_t  *dc = conf;
    char               *end;
    long                n = strtol(arg, &end, 10);

    if (end == arg || *end != '\0' || n < 0 || n > 100) {
        return apr_psprintf(cmd->pool, "DroverRetries needs a number from 0 "
                            "to 100, got \"%s\"", arg);
    }

    dc->retries = (int) n;
    return NULL;
}


/* DroverStatus unix:PATH: droverd's status socket, for drover-status */
static const char *
set_status(cmd_parms *cmd, void *conf, const char *arg)
{
    drover_dir_conf_t  *dc = conf;

    if (strncmp(arg, "unix:", 5) != 0 || arg[5] != '/' || strlen(arg) > 100) {
        return apr_psprintf(cmd->pool, "DroverStatus needs \"unix:/absolute/"
                            "path\" (droverd's status_socket or control), got "
                            "\"%s\"", arg);
    }

    dc->status_path = apr_pstrdup(cmd->pool, arg + 5);
    return NULL;
}


/* DroverPipeline off | N [timeout=TIME] */
static const char *
set_pipeline(cmd_parms *cmd, void *conf, const char *arg, const char *opt)
{
    drover_dir_conf_t  *dc = conf;
    const char         *err;
    char               *end;
    long                n;

    if (strcmp(arg, "off") == 0) {
        n = 0;
    } else {
        n = strtol(arg, &end, 10);
        if (end == arg || *end != '\0' || n < 1 || n >= DROVER_DEPTH) {
            return apr_psprintf(cmd->pool, "DroverPipeline: \"%s\" is "
                                "neither \"off\" nor a number from 1 to %d",
                                arg, DROVER_DEPTH - 1);
        }
    }

    dc->pipeline = (int) n;

    if (opt == NULL) {
        return NULL;
    }

    if (strncmp(opt, "timeout=", 8) != 0) {
        return apr_psprintf(cmd->pool, "DroverPipeline: unknown \"%s\" "
                            "(timeout=TIME)", opt);
    }

    err = parse_time(cmd, opt + 8, &dc->pipeline_timeout);
    if (err != NULL) {
        return err;
    }

    if (dc->pipeline_timeout == 0) {
        return "DroverPipeline: the timeout must be above 0";
    }

    return NULL;
}


static const command_rec drover_cmds[] = {
    AP_INIT_TAKE1("DroverPass", set_pass, NULL, RSRC_CONF | ACCESS_CONF,
                  "unix:PATH: droverd's listen socket (or any FastCGI "
                  "server's)"),
    AP_INIT_TAKE2("DroverParam", set_param, NULL, RSRC_CONF | ACCESS_CONF,
                  "NAME VALUE: a FastCGI parameter, added or replaced; VALUE may hold "
                  "%{...} expressions"),
    AP_INIT_TAKE_ARGV("DroverQueue", set_queue, NULL, RSRC_CONF | ACCESS_CONF,
                      "size=N timeout=TIME: the wait for a free worker"),
    AP_INIT_TAKE1("DroverConnectTimeout", set_timeout,
                  (void *) APR_OFFSETOF(drover_dir_conf_t, connect_timeout),
                  RSRC_CONF | ACCESS_CONF, "TIME to connect to a worker"),
    AP_INIT_TAKE1("DroverSendTimeout", set_timeout,
                  (void *) APR_OFFSETOF(drover_dir_conf_t, send_timeout),
                  RSRC_CONF | ACCESS_CONF, "TIME a send to a worker may wait"),
    AP_INIT_TAKE1("DroverReadTimeout", set_timeout,
                  (void *) APR_OFFSETOF(drover_dir_conf_t, read_timeout),
                  RSRC_CONF | ACCESS_CONF, "TIME between two reads of the "
                  "answer"),
    AP_INIT_TAKE1("DroverRetries", set_retries, NULL, RSRC_CONF | ACCESS_CONF,
                  "N replays of a request lost before any response byte"),
    AP_INIT_TAKE1("DroverStatus", set_status, NULL, RSRC_CONF | ACCESS_CONF,
                  "unix:PATH: droverd's status socket, shown by drover-status"),
    AP_INIT_TAKE12("DroverPipeline", set_pipeline, NULL,
                   RSRC_CONF | ACCESS_CONF, "off | N [timeout=TIME]: a request "
                   "may wait behind N young ones on a busy slot"),
    { NULL }
};


/* ---- the request body ---- */

/* read up to DROVER_BODY_PREFIX of it: a body that ends there is held
 * whole, can be sent again, and gets its real CONTENT_LENGTH */
static int
read_body_prefix(request_rec *r, drover_body_t *body)
{
    int    rc;
    long   n;

    memset(body, 0, sizeof(*body));

    rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK);
    if (rc != OK) {
        return rc;
    }

    if (!ap_should_client_block(r)) {
        body->complete = 1;
        return OK;
    }

    body->prefix = apr_palloc(r->pool, DROVER_BODY_PREFIX);

    while (body->prefix_len < DROVER_BODY_PREFIX) {
        n = ap_get_client_block(r, body->prefix + body->prefix_len,
                                DROVER_BODY_PREFIX - body->prefix_len);
        if (n < 0) {
            return HTTP_BAD_REQUEST;
        }
        if (n == 0) {
            body->complete = 1;
            return OK;
        }
        body->prefix_len += (apr_size_t) n;
    }

    return OK;
}


/* ---- dispatch ---- */

static int
idempotent(request_rec *r)
{
    switch (r->method_number) {
    case M_GET:
    case M_PUT:
    case M_DELETE:
    case M_OPTIONS:
        return 1;
    default:
        return r->header_only;        /* HEAD */
    }
}


static int
unavailable(request_rec *r, const char *retry_after)
{
    apr_table_setn(r->err_headers_out, "Retry-After", retry_after);
    return HTTP_SERVICE_UNAVAILABLE;
}


/* may a request lost this way be sent again (docs/dispatch.md, Replays)? */
static const char *
no_replay_reason(drover_exchange_t *ex, drover_ex_e how, int tries)
{
    if (tries > ex->dc->retries) {
        return "DroverRetries reached";
    }

    /* the body past the prefix was read from the client: it is gone */
    if (ex->body->streamed) {
        return "the request body was streamed and sent in part";
    }

    if (how == DROVER_EX_CONNECT || how == DROVER_EX_OVERLOADED) {
        return NULL;                  /* nothing of it ran */
    }

    if (!idempotent(ex->r) && ex->sent_any) {
        return "the method is not idempotent";
    }

    return NULL;
}


/*
 * BEGIN_REQUEST and the PARAMS of one attempt: FCGI_KEEP_CONN on a slot
 * (not "kind exec": one request per connection there, nor plain mode,
 * where a kept connection would tie a php-fpm child), and
 * DROVER_WITHDRAWABLE=1 for a request that may be pipelined, which droverd
 * then reads whole before it runs it (docs/dispatch.md#pipelining), with
 * DROVER_WITHDRAW_AFTER, the monotonic instant (us) before which it is never
 * taken back: a worker that read it whole before then runs it without a
 * look at the connection (exchange.c's rescue() waits for that instant).
 */
static const char *
make_head(request_rec *r, apr_table_t *params, int keep,
          apr_time_t withdraw_after, apr_size_t *len)
{
    char        *begin, *pbytes, *head;
    apr_size_t   begin_len, params_len;

    if (withdraw_after != 0) {
        params = apr_table_copy(r->pool, params);
        apr_table_setn(params, "DROVER_WITHDRAWABLE", "1");
        apr_table_setn(params, "DROVER_WITHDRAW_AFTER",
                       apr_psprintf(r->pool, "%" APR_TIME_T_FMT,
                                    withdraw_after));
    }

    begin = drover_fcgi_begin(r->pool, keep, &begin_len);
    pbytes = drover_fcgi_params(r->pool, params, &params_len);
    head = apr_palloc(r->pool, begin_len + params_len);
    memcpy(head, begin, begin_len);
    memcpy(head + begin_len, pbytes, params_len);

    *len = begin_len + params_len;
    return head;
}


static int
drover_handler(request_rec *r)
{
    const drover_dir_conf_t  *dc;
    drover_exchange_t         ex;
    drover_body_t             body;
    drover_claim_t            claim;
    drover_pick_e             pick;
    drover_ex_e               how;
    const char               *path, *reason, *where;
    const char               *head_slot = NULL, *head_one = NULL;
    apr_size_t                head_slot_len = 0, head_one_len = 0;
    apr_table_t              *params;
    int                       rc, avoid = -1, tries, limit, keep;
    int                       unread_replays = 0;

    if (r->handler == NULL || strcmp(r->handler, DROVER_HANDLER) != 0) {
        return DECLINED;
    }

    dc = effective_conf(r);
    if (dc->path == NULL) {
        return DECLINED;
    }
    path = dc->path;

    rc = read_body_prefix(r, &body);
    if (rc != OK) {
        return rc;
    }

    params = drover_params_build(r, dc, body.complete
                                        ? (apr_off_t) body.prefix_len : -1);

    /* only a request held whole may wait behind another: it can be taken
     * back and sent elsewhere */
    limit = dc->pipeline > 0 && body.complete ? 1 + dc->pipeline : 1;

    memset(&ex, 0, sizeof(ex));
    ex.r = r;
    ex.dc = dc;
    ex.body = &body;
    ex.limit = limit;

    memset(&claim, 0, sizeof(claim));
    claim.slot = -1;

    for (tries = 1; ; ) {

        pick = drover_slots_acquire(r, dc, avoid, limit, &claim);

        switch (pick) {

        case DROVER_PICK_FULL:
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "drover: every worker "
                          "of \"%s\" is busy and the queue is full (%d), 503",
                          path, dc->queue_size);
            return unavailable(r, "1");

        case DROVER_PICK_TIMEOUT:
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "drover: no worker of "
                          "\"%s\" was free within %" APR_TIME_T_FMT " ms "
                          "(DroverQueue timeout), 503", path,
                          apr_time_as_msec(dc->queue_timeout));
            return unavailable(r, "1");

        case DROVER_PICK_FAILING:
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "drover: the app of "
                          "\"%s\" failed to start (droverd reports the pool "
                          "failing or stopped, no worker is up; droverd's log "
                          "says why), 503", path);
            return unavailable(r, "30");

        case DROVER_PICK_PLAIN:
            claim.slot = -1;
            break;

        case DROVER_PICK_SLOT:
            break;
        }

    send:

        keep = claim.slot >= 0 && !claim.exec;

        if (keep) {
            if (head_slot == NULL) {
                ex.withdraw_after = limit > 1
                                    ? drover_slots_now() + dc->pipeline_timeout
                                    : 0;
                head_slot = make_head(r, params, 1, ex.withdraw_after,
                                      &head_slot_len);
            }
            ex.head = head_slot;
            ex.head_len = head_slot_len;
            ex.sockpath = apr_psprintf(r->pool, "%s.%d", path, claim.slot);
            ex.fd = drover_conns_get(dc->pool, claim.slot);
            ex.claim = &claim;

        } else {
            if (head_one == NULL) {
                head_one = make_head(r, params, 0, 0, &head_one_len);
            }
            ex.head = head_one;
            ex.head_len = head_one_len;
            ex.sockpath = claim.slot >= 0
                          ? apr_psprintf(r->pool, "%s.%d", path, claim.slot)
                          : path;
            ex.fd = -1;
            ex.claim = claim.slot >= 0 ? &claim : NULL;
        }

        ex.keep_conn = keep;
        ex.withdrawable = keep && ex.withdraw_after != 0;
        ex.unread = 0;
        ex.sent_any = 0;
        ex.why = NULL;
        ex.err = APR_SUCCESS;

        how = drover_exchange_run(&ex);

        if (how == DROVER_EX_MOVED) {
            /* taken back unread: the same try, on claim's new slot */
            goto send;
        }

        if (ex.fd >= 0) {
            drover_conns_put(dc->pool, claim.slot, ex.fd);
        }

        where = claim.slot >= 0 ? apr_psprintf(r->pool, "slot %d of \"%s\"",
                                               claim.slot, path)
                                : apr_psprintf(r->pool, "\"%s\"", path);

        if (ex.drain_fd >= 0
            && drover_drain_add(dc, &claim, how != DROVER_EX_CLIENT_GONE,
                                ex.drain_fd, &ex.drain_reader) != 0)
        {
            close(ex.drain_fd);         /* no drain thread: freed now */
            ex.drain_fd = -1;
        }

        if (claim.slot >= 0 && ex.drain_fd < 0) {
            drover_slots_release(dc, &claim,
                                 how != DROVER_EX_DONE
                                 && how != DROVER_EX_CLIENT_GONE);
        }

        switch (how) {

        case DROVER_EX_DONE:
            return OK;

        case DROVER_EX_CLIENT_GONE:
        case DROVER_EX_BROKEN:
            if (how == DROVER_EX_BROKEN) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, ex.err, r, "drover: the "
                              "answer of %s broke off after "
                              "its header went out: %s", where, ex.why);
            }
            return OK;

        case DROVER_EX_MALFORMED:
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "drover: %s sent a "
                          "malformed answer: %s, 502", where, ex.why);
            drover_slots_count(dc, 0, claim.slot >= 0);
            return HTTP_BAD_GATEWAY;

        case DROVER_EX_TIMEOUT:
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "drover: request to "
                          "%s timed out, 504", where);
            drover_slots_count(dc, 0, claim.slot >= 0);
            return HTTP_GATEWAY_TIME_OUT;

        case DROVER_EX_CONNECT:
        case DROVER_EX_LOST:
        case DROVER_EX_OVERLOADED:
        case DROVER_EX_MOVED:
            break;
        }

        /*
         * Lost with bytes of it unread by a worker that went (it waited
         * behind a request that crashed the worker, or the worker was
         * killed): the app never saw it, so no try is used up, or a crash
         * would cost every request pipelined behind it one. Bounded, so a
         * worker killed again and again cannot keep a request forever.
         */
        if (how == DROVER_EX_LOST && ex.unread && claim.slot >= 0
            && unread_replays < DROVER_UNREAD_REPLAYS)
        {
            unread_replays++;
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, ex.err, r, "drover: the "
                          "worker of %s went before it read the request, "
                          "replaying (no try used)", where);
            drover_slots_count(dc, 1, 0);
            avoid = claim.slot;
            continue;
        }

        reason = claim.slot >= 0 ? no_replay_reason(&ex, how, tries)
                                 : "plain mode (no .slots file) does not "
                                   "replay";
        if (reason != NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, ex.err, r, "drover: request "
                          "to %s failed (%s), not replayed: %s, "
                          "502", where, ex.why, reason);
            drover_slots_count(dc, 0, claim.slot >= 0);
            return HTTP_BAD_GATEWAY;
        }

        ap_log_rerror(APLOG_MARK, APLOG_WARNING, ex.err, r, "drover: request "
                      "to %s failed before any response byte "
                      "(%s), replaying", where, ex.why);
        drover_slots_count(dc, 1, 0);
        avoid = claim.slot;
        tries++;
    }
}


/* ---- hooks ---- */

/* DroverPass where this request lands: it is ours */
static int
drover_fixups(request_rec *r)
{
    drover_dir_conf_t  *dc = ap_get_module_config(r->per_dir_config,
                                                  &drover_module);

    if (dc->path == NULL || r->proxyreq != PROXYREQ_NONE) {
        return DECLINED;
    }

    /* a status page under a DroverPass tree stays the status page */
    if (r->handler != NULL && strcmp(r->handler, "drover-status") == 0) {
        return DECLINED;
    }

    r->handler = DROVER_HANDLER;
    return OK;
}


static int
drover_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void) plog;
    (void) ptemp;

    return drover_slots_pre_config(pconf) == APR_SUCCESS
           ? OK : HTTP_INTERNAL_SERVER_ERROR;
}


static int
drover_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                   server_rec *s)
{
    (void) plog;
    (void) ptemp;

    return drover_slots_post_config(pconf, s) == APR_SUCCESS
           ? OK : HTTP_INTERNAL_SERVER_ERROR;
}


static void
drover_child_init(apr_pool_t *p, server_rec *s)
{
    drover_slots_child_init(p, s);
    drover_conns_child_init(p);
    drover_drain_child_init(p, s);
}


static void
drover_register_hooks(apr_pool_t *p)
{
    (void) p;

    ap_hook_pre_config(drover_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(drover_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(drover_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_fixups(drover_fixups, NULL, NULL, APR_HOOK_LAST);
    ap_hook_handler(drover_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(drover_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}


AP_DECLARE_MODULE(drover) = {
    STANDARD20_MODULE_STUFF,
    create_dir_conf,
    merge_dir_conf,
    NULL,
    NULL,
    drover_cmds,
    drover_register_hooks,
    AP_MODULE_FLAG_NONE
};
