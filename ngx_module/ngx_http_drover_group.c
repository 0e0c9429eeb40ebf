
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: a named group of droverd hosts.
 *
 *     drover_group shop {
 *         server 10.0.0.5:9090;              (droverd's status_listen)
 *         server 10.0.0.6:9090 pool=shop;
 *         server unix:/run/drover/shop.sock; (a droverd on this host)
 *     }
 *     location / { drover_pass group:shop; }
 *
 * A group is one dispatch pool (ngx_http_drover_dispatch.c) whose slots
 * are those of every host: host h owns slots h * per .. h * per + per - 1
 * of the zone's table, per = 256 / hosts.  The queue, the replays and the
 * statistics are the pool's, so they cover the whole group.
 *
 * Each host's slots are learned over the network: droverd's status_listen
 * answers "slots POOL" with the .slots contract and each slot's TCP port
 * (docs/fastcgi.md, "The network slots endpoint"); a unix: host's
 * PATH.slots is read as the pool's own would be.  Every host is asked
 * every 250 ms by one nginx worker at a time (a lease in the zone
 * "drover_group"); an answer missing for 500 ms, a refused connection or a
 * request to the host that failed before any response byte marks its
 * slots down at once, so a host that stops answering is out within about
 * a second and its requests are replayed on the others.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_drover_module.h"
#include "ngx_http_drover_slots.h"
#include "ngx_http_drover_queue.h"
#include "ngx_http_drover_group.h"


#define NGX_HTTP_DROVER_GROUP_MAX_HOSTS    32
#define NGX_HTTP_DROVER_GROUP_TICK         50      /* ms: look at leases */
#define NGX_HTTP_DROVER_GROUP_INTERVAL     250     /* ms between probes */
#define NGX_HTTP_DROVER_GROUP_TIMEOUT      500     /* ms for an answer */
#define NGX_HTTP_DROVER_GROUP_ANSWER_MAX   16384
#define NGX_HTTP_DROVER_GROUP_ERR_LEN      96
#define NGX_HTTP_DROVER_GROUP_NAME_MAX     64
#define NGX_HTTP_DROVER_GROUP_ZONE_SIZE    (256 * 1024)

#define NGX_HTTP_DROVER_GROUP_SLOTS        NGX_HTTP_DROVER_DISPATCH_MAX_SLOTS


/* a host as the zone holds it for every nginx worker */

typedef struct {
    ngx_msec_t                        lease;      /* probed since; 0: no */
    ngx_msec_t                        next;       /* probe again from */
    ngx_msec_t                        answered;   /* last answer; 0: never */
    ngx_uint_t                        alive;      /* the last probe answered */
    ngx_uint_t                        generation;
    ngx_uint_t                        state;      /* 1 failing, 2 stopped */
    ngx_uint_t                        nslots;
    ngx_uint_t                        up;
    uint64_t                          probes;
    uint64_t                          failures;
    in_port_t                         port;       /* the shared TCP port */
    in_port_t                         slot_port[NGX_HTTP_DROVER_GROUP_SLOTS];
    size_t                            err_len;
    u_char                            err[NGX_HTTP_DROVER_GROUP_ERR_LEN];
} ngx_http_drover_group_host_sh_t;


typedef struct {
    ngx_queue_t                       queue;
    ngx_uint_t                        nhosts;
    size_t                            name_len;
    u_char                            name[NGX_HTTP_DROVER_GROUP_NAME_MAX];
    ngx_http_drover_group_host_sh_t   host[1];
} ngx_http_drover_group_sh_t;


typedef struct ngx_http_drover_group_s  ngx_http_drover_group_t;

/* a "server" of a group; the probe's state is this nginx worker's */

typedef struct {
    ngx_http_drover_group_t          *group;
    ngx_uint_t                        index;

    ngx_str_t                         server;     /* as written */
    ngx_str_t                         pool;       /* tcp: the pool's name */
    ngx_str_t                         path;       /* unix: the socket */
    ngx_str_t                         slots_path; /* unix: "PATH.slots\0" */
    ngx_addr_t                        addr;       /* tcp: status_listen */
    ngx_uint_t                        unix_host;

    ngx_peer_connection_t             peer;
    ngx_event_t                       deadline;
    u_char                           *buf;
    size_t                            len;
    ngx_uint_t                        sent;
    ngx_uint_t                        busy;
} ngx_http_drover_group_host_t;


struct ngx_http_drover_group_s {
    ngx_str_t                         name;
    ngx_array_t                       hosts;      /* group_host_t */
    ngx_uint_t                        per;        /* slots per host */
    ngx_uint_t                        declared;

    ngx_http_drover_dispatch_pool_t  *pool;       /* drover_pass made it */
    ngx_http_drover_group_sh_t       *sh;
    ngx_slab_pool_t                  *shpool;

    ngx_http_drover_dispatch_addr_t **addrs;      /* by slot, on demand */
    ngx_event_t                       tick;
};


typedef struct {
    ngx_array_t                       groups;     /* group_t * */
    ngx_shm_zone_t                   *zone;
} ngx_http_drover_group_main_conf_t;


/* one answer, parsed */

typedef struct {
    ngx_uint_t                        generation;
    ngx_uint_t                        state;
    ngx_uint_t                        nslots;
    ngx_uint_t                        port;
    ngx_uint_t                        slot_port[NGX_HTTP_DROVER_GROUP_SLOTS];
    ngx_pid_t                         pid[NGX_HTTP_DROVER_GROUP_SLOTS];
    u_char                            up[NGX_HTTP_DROVER_GROUP_SLOTS];
} ngx_http_drover_group_answer_t;


static ngx_http_drover_group_t *ngx_http_drover_group_get(ngx_conf_t *cf,
    ngx_str_t *name);
static char *ngx_http_drover_group_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_drover_group_server(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static char *ngx_http_drover_group_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_drover_group_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_drover_group_init_main_conf(ngx_conf_t *cf,
    void *conf);
static ngx_int_t ngx_http_drover_group_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_drover_group_init_process(ngx_cycle_t *cycle);

static void ngx_http_drover_group_tick(ngx_event_t *ev);
static void ngx_http_drover_group_probe(ngx_http_drover_group_host_t *host,
    ngx_log_t *log);
static void ngx_http_drover_group_probe_file(
    ngx_http_drover_group_host_t *host, ngx_log_t *log);
static void ngx_http_drover_group_write_handler(ngx_event_t *wev);
static void ngx_http_drover_group_read_handler(ngx_event_t *rev);
static void ngx_http_drover_group_timeout(ngx_event_t *ev);
static void ngx_http_drover_group_done(ngx_http_drover_group_host_t *host,
    char *err);
static char *ngx_http_drover_group_parse(u_char *p, u_char *last,
    ngx_http_drover_group_answer_t *a);
static ngx_int_t ngx_http_drover_group_number(u_char **pp, u_char *last,
    ngx_uint_t *n);
static void ngx_http_drover_group_apply(ngx_http_drover_group_host_t *host,
    ngx_http_drover_group_answer_t *a, char *err, ngx_log_t *log);
static ngx_int_t ngx_http_drover_group_status_handler(ngx_http_request_t *r);


static ngx_command_t  ngx_http_drover_group_commands[] = {

    { ngx_string("drover_group"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_drover_group_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("drover_group_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_drover_group_status,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_drover_group_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_drover_group_create_main_conf, /* create main configuration */
    ngx_http_drover_group_init_main_conf,  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_drover_group_module = {
    NGX_MODULE_V1,
    &ngx_http_drover_group_module_ctx,     /* module context */
    ngx_http_drover_group_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_drover_group_init_process,    /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* ---- configuration ---- */

static void *
ngx_http_drover_group_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_drover_group_main_conf_t  *gmcf;

    gmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_drover_group_main_conf_t));
    if (gmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&gmcf->groups, cf->pool, 4,
                       sizeof(ngx_http_drover_group_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return gmcf;
}


/* the group NAME, made on first mention: drover_pass may come first */

static ngx_http_drover_group_t *
ngx_http_drover_group_get(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                          i;
    ngx_http_drover_group_t            *g, **gp;
    ngx_http_drover_group_main_conf_t  *gmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_drover_group_module);

    gp = gmcf->groups.elts;

    for (i = 0; i < gmcf->groups.nelts; i++) {
        if (gp[i]->name.len == name->len
            && ngx_strncmp(gp[i]->name.data, name->data, name->len) == 0)
        {
            return gp[i];
        }
    }

    if (name->len == 0 || name->len > NGX_HTTP_DROVER_GROUP_NAME_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "drover group name \"%V\" must have 1 to %d "
                           "characters", name,
                           NGX_HTTP_DROVER_GROUP_NAME_MAX);
        return NULL;
    }

    g = ngx_pcalloc(cf->pool, sizeof(ngx_http_drover_group_t));
    if (g == NULL) {
        return NULL;
    }

    if (ngx_array_init(&g->hosts, cf->pool, 4,
                       sizeof(ngx_http_drover_group_host_t))
        != NGX_OK)
    {
        return NULL;
    }

    g->name = *name;

    gp = ngx_array_push(&gmcf->groups);
    if (gp == NULL) {
        return NULL;
    }

    *gp = g;

    return g;
}


static char *
ngx_http_drover_group_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                     *rv;
    ngx_str_t                *value;
    ngx_conf_t                save;
    ngx_http_drover_group_t  *g;

    value = cf->args->elts;

    g = ngx_http_drover_group_get(cf, &value[1]);
    if (g == NULL) {
        return NGX_CONF_ERROR;
    }

    if (g->declared) {
        return "is duplicate";
    }

    g->declared = 1;

    save = *cf;
    cf->handler = ngx_http_drover_group_server;
    cf->handler_conf = (char *) g;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (g->hosts.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "drover_group \"%V\" has no \"server\"", &g->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * "server unix:PATH;" or "server ADDR:PORT [pool=NAME];" (droverd's
 * status_listen; the pool is the group's name unless told otherwise)
 */

static char *
ngx_http_drover_group_server(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_http_drover_group_t *g = (ngx_http_drover_group_t *) conf;

    u_char                        *p;
    ngx_url_t                      u;
    ngx_str_t                     *value, pool;
    ngx_uint_t                     i;
    ngx_http_drover_group_host_t  *host;

    value = cf->args->elts;

    if (cf->args->nelts < 2 || cf->args->nelts > 3
        || value[0].len != sizeof("server") - 1
        || ngx_strncmp(value[0].data, "server", sizeof("server") - 1) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "drover_group takes \"server unix:PATH;\" or "
                           "\"server ADDR:PORT [pool=NAME];\", not \"%V\"",
                           &value[0]);
        return NGX_CONF_ERROR;
    }

    if (g->hosts.nelts == NGX_HTTP_DROVER_GROUP_MAX_HOSTS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "drover_group \"%V\" has more than %d servers",
                           &g->name, NGX_HTTP_DROVER_GROUP_MAX_HOSTS);
        return NGX_CONF_ERROR;
    }

    host = ngx_array_push(&g->hosts);
    if (host == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(host, sizeof(ngx_http_drover_group_host_t));

    host->group = g;
    host->index = g->hosts.nelts - 1;
    host->server = value[1];

    pool = g->name;

    if (cf->args->nelts == 3) {
        if (value[2].len <= 5
            || ngx_strncmp(value[2].data, "pool=", 5) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": use pool=NAME",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        pool.data = value[2].data + 5;
        pool.len = value[2].len - 5;
    }

    /* droverd's pool names: [A-Za-z0-9_.-], as in the status page */

    for (i = 0; i < pool.len; i++) {
        if (!(isalnum(pool.data[i]) || pool.data[i] == '_'
              || pool.data[i] == '.' || pool.data[i] == '-'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is not a droverd pool name",
                               &pool);
            return NGX_CONF_ERROR;
        }
    }

    host->pool = pool;

    if (value[1].len > 5
        && ngx_strncasecmp(value[1].data, (u_char *) "unix:", 5) == 0)
    {
        host->unix_host = 1;
        host->path.data = value[1].data + 5;
        host->path.len = value[1].len - 5;

        host->slots_path.len = host->path.len + sizeof(".slots") - 1;
        host->slots_path.data = ngx_pnalloc(cf->pool,
                                            host->slots_path.len + 1);
        if (host->slots_path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        p = ngx_cpymem(host->slots_path.data, host->path.data,
                       host->path.len);
        ngx_memcpy(p, ".slots", sizeof(".slots"));

        if (host->path.len + sizeof(".255")
            > sizeof(((struct sockaddr_un *) 0)->sun_path))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "socket path \"%V\" is too long for its "
                               "slot sockets", &host->path);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    /* an address, never a name: nothing is resolved at run time */

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs != 1
        || u.no_port)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "drover_group \"%V\": server \"%V\" must be "
                           "unix:PATH or an IP address and droverd's "
                           "status_listen port, as in 10.0.0.5:9090",
                           &g->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    host->addr = u.addrs[0];

    return NGX_CONF_OK;
}


/* drover_pass group:NAME: the group's dispatch pool and a stand-in upstream */

char *
ngx_http_drover_group_pass(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_upstream_srv_conf_t **upstream,
    ngx_http_drover_dispatch_pool_t **dispatch)
{
    u_char                       *p;
    ngx_url_t                     u;
    ngx_str_t                     key;
    ngx_http_drover_group_t      *g;
    ngx_http_drover_main_conf_t  *dmcf;

    g = ngx_http_drover_group_get(cf, name);
    if (g == NULL) {
        return NGX_CONF_ERROR;
    }

    if (g->pool == NULL) {
        key.len = sizeof("group:") - 1 + name->len;
        key.data = ngx_pnalloc(cf->pool, key.len);
        if (key.data == NULL) {
            return NGX_CONF_ERROR;
        }

        p = ngx_cpymem(key.data, "group:", sizeof("group:") - 1);
        ngx_memcpy(p, name->data, name->len);

        dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_drover_module);

        g->pool = ngx_http_drover_dispatch_add(cf, &dmcf->pools, &key);
        if (g->pool == NULL) {
            return NGX_CONF_ERROR;
        }

        g->pool->group = g;
    }

    /*
     * upstream wants an upstream; a group's pool is always dispatched
     * (its zone says "active" from the start), so nothing connects here
     */

    ngx_memzero(&u, sizeof(ngx_url_t));

    ngx_str_set(&u.url, "unix:/nonexistent/drover-group");
    u.no_resolve = 1;

    *upstream = ngx_http_upstream_add(cf, &u, 0);
    if (*upstream == NULL) {
        return NGX_CONF_ERROR;
    }

    *dispatch = g->pool;

    return NGX_CONF_OK;
}


static char *
ngx_http_drover_group_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_drover_group_main_conf_t *gmcf = conf;

    ngx_str_t                 name;
    ngx_uint_t                i;
    ngx_http_drover_group_t  *g, **gp;

    gp = gmcf->groups.elts;

    for (i = 0; i < gmcf->groups.nelts; i++) {
        g = gp[i];

        if (!g->declared) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "drover_pass names group \"%V\", which no "
                               "\"drover_group\" declares", &g->name);
            return NGX_CONF_ERROR;
        }

        g->per = NGX_HTTP_DROVER_GROUP_SLOTS / g->hosts.nelts;
    }

    if (gmcf->groups.nelts == 0) {
        return NGX_CONF_OK;
    }

    ngx_str_set(&name, "drover_group");

    gmcf->zone = ngx_shared_memory_add(cf, &name,
                                       NGX_HTTP_DROVER_GROUP_ZONE_SIZE
                                       * gmcf->groups.nelts,
                                       &ngx_http_drover_group_module);
    if (gmcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    gmcf->zone->init = ngx_http_drover_group_init_zone;
    gmcf->zone->data = &gmcf->groups;

    return NGX_CONF_OK;
}


/*
 * A zone kept over a reload keeps each group's hosts (by name and number
 * of servers): what they said stays known until the next answer.
 */

static ngx_int_t
ngx_http_drover_group_init_zone(ngx_shm_zone_t *zone, void *data)
{
    size_t                       size;
    ngx_uint_t                   i, n;
    ngx_queue_t                 *root, *q;
    ngx_array_t                 *groups;
    ngx_slab_pool_t             *shpool;
    ngx_http_drover_group_t     *g, **gp;
    ngx_http_drover_group_sh_t  *sh;

    groups = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (data || zone->shm.exists) {
        root = shpool->data;

    } else {
        root = ngx_slab_alloc(shpool, sizeof(ngx_queue_t));
        if (root == NULL) {
            return NGX_ERROR;
        }

        ngx_queue_init(root);
        shpool->data = root;
    }

    gp = groups->elts;

    for (i = 0; i < groups->nelts; i++) {
        g = gp[i];
        n = g->hosts.nelts;
        g->shpool = shpool;
        g->sh = NULL;

        for (q = ngx_queue_head(root);
             q != ngx_queue_sentinel(root);
             q = ngx_queue_next(q))
        {
            sh = ngx_queue_data(q, ngx_http_drover_group_sh_t, queue);

            if (sh->nhosts == n && sh->name_len == g->name.len
                && ngx_strncmp(sh->name, g->name.data, g->name.len) == 0)
            {
                g->sh = sh;
                break;
            }
        }

        if (g->sh != NULL) {
            continue;
        }

        size = sizeof(ngx_http_drover_group_sh_t)
               + (n - 1) * sizeof(ngx_http_drover_group_host_sh_t);

        sh = ngx_slab_calloc(shpool, size);
        if (sh == NULL) {
            ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                          "the \"drover_group\" zone is too small");
            return NGX_ERROR;
        }

        sh->nhosts = n;
        sh->name_len = g->name.len;
        ngx_memcpy(sh->name, g->name.data, g->name.len);

        ngx_shmtx_lock(&shpool->mutex);
        ngx_queue_insert_tail(root, &sh->queue);
        ngx_shmtx_unlock(&shpool->mutex);

        g->sh = sh;
    }

    return NGX_OK;
}


/* ---- each nginx worker: the probes ---- */

static ngx_int_t
ngx_http_drover_group_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i, k, j;
    ngx_http_drover_group_t            *g, **gp;
    ngx_http_drover_dispatch_sh_t      *dsh;
    ngx_http_drover_group_host_t       *host;
    ngx_http_drover_group_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_drover_group_module);

    if (gmcf == NULL) {
        return NGX_OK;
    }

    gp = gmcf->groups.elts;

    for (i = 0; i < gmcf->groups.nelts; i++) {
        g = gp[i];

        /* a group no drover_pass names has no pool */

        if (g->pool == NULL || g->pool->sh == NULL || g->sh == NULL) {
            continue;
        }

        g->addrs = ngx_pcalloc(cycle->pool, NGX_HTTP_DROVER_GROUP_SLOTS
                               * sizeof(ngx_http_drover_dispatch_addr_t *));
        if (g->addrs == NULL) {
            return NGX_ERROR;
        }

        host = g->hosts.elts;

        for (j = 0; j < g->hosts.nelts; j++) {
            host[j].buf = ngx_palloc(cycle->pool,
                                     NGX_HTTP_DROVER_GROUP_ANSWER_MAX);
            if (host[j].buf == NULL) {
                return NGX_ERROR;
            }

            host[j].deadline.handler = ngx_http_drover_group_timeout;
            host[j].deadline.data = &host[j];
            host[j].deadline.log = cycle->log;
            host[j].deadline.cancelable = 1;
        }

        /*
         * Always dispatched, never plain: until a host answers, its slots
         * are down and requests wait in the queue
         */

        dsh = g->pool->sh;

        ngx_shmtx_lock(&g->pool->shpool->mutex);

        dsh->active = 1;
        dsh->nslots = g->per * g->hosts.nelts;

        for (k = dsh->nslots; k < NGX_HTTP_DROVER_GROUP_SLOTS; k++) {
            dsh->slot[k].up = 0;
        }

        ngx_shmtx_unlock(&g->pool->shpool->mutex);

        g->tick.handler = ngx_http_drover_group_tick;
        g->tick.data = g;
        g->tick.log = cycle->log;
        g->tick.cancelable = 1;

        ngx_http_drover_group_tick(&g->tick);
    }

    return NGX_OK;
}


/* every few ms: probe each host whose turn it is and whose lease is free */

static void
ngx_http_drover_group_tick(ngx_event_t *ev)
{
    ngx_uint_t                        i, take;
    ngx_http_drover_group_t          *g;
    ngx_http_drover_group_host_t     *host;
    ngx_http_drover_group_host_sh_t  *hs;

    g = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    host = g->hosts.elts;

    for (i = 0; i < g->hosts.nelts; i++) {
        if (host[i].busy) {
            continue;
        }

        hs = &g->sh->host[i];

        ngx_shmtx_lock(&g->shpool->mutex);

        /* a lease twice the timeout old is of a worker that went away */

        take = (hs->lease == 0
                || ngx_current_msec - hs->lease
                   > 2 * NGX_HTTP_DROVER_GROUP_TIMEOUT)
               && (ngx_msec_int_t) (ngx_current_msec - hs->next) >= 0;

        if (take) {
            hs->lease = ngx_current_msec ? ngx_current_msec : 1;
        }

        ngx_shmtx_unlock(&g->shpool->mutex);

        if (take) {
            ngx_http_drover_group_probe(&host[i], ev->log);
        }
    }

    ngx_add_timer(ev, NGX_HTTP_DROVER_GROUP_TICK);
}


static void
ngx_http_drover_group_probe(ngx_http_drover_group_host_t *host,
    ngx_log_t *log)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    host->busy = 1;
    host->len = 0;
    host->sent = 0;

    if (host->unix_host) {
        ngx_http_drover_group_probe_file(host, log);
        return;
    }

    ngx_memzero(&host->peer, sizeof(ngx_peer_connection_t));

    host->peer.sockaddr = host->addr.sockaddr;
    host->peer.socklen = host->addr.socklen;
    host->peer.name = &host->addr.name;
    host->peer.get = ngx_event_get_peer;
    host->peer.log = log;
    host->peer.log_error = NGX_ERROR_INFO;

    rc = ngx_event_connect_peer(&host->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        host->peer.connection = NULL;
        ngx_http_drover_group_done(host, "cannot connect");
        return;
    }

    c = host->peer.connection;

    c->data = host;
    c->read->handler = ngx_http_drover_group_read_handler;
    c->write->handler = ngx_http_drover_group_write_handler;
    c->log = log;
    c->read->log = log;
    c->write->log = log;

    ngx_add_timer(&host->deadline, NGX_HTTP_DROVER_GROUP_TIMEOUT);

    if (rc == NGX_OK) {
        ngx_http_drover_group_write_handler(c->write);
    }
}


/* a droverd on this host: PATH.slots, read as the pool's own would be */

static void
ngx_http_drover_group_probe_file(ngx_http_drover_group_host_t *host,
    ngx_log_t *log)
{
    ssize_t   n;
    ngx_fd_t  fd;

    fd = ngx_open_file(host->slots_path.data,
                       NGX_FILE_RDONLY|NGX_FILE_NONBLOCK, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_http_drover_group_done(host, "no .slots file");
        return;
    }

    n = ngx_read_fd(fd, host->buf, NGX_HTTP_DROVER_GROUP_ANSWER_MAX);

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &host->slots_path);
    }

    if (n <= 0 || n == NGX_HTTP_DROVER_GROUP_ANSWER_MAX) {
        ngx_http_drover_group_done(host, "cannot read the .slots file");
        return;
    }

    host->len = n;

    ngx_http_drover_group_done(host, NULL);
}


static void
ngx_http_drover_group_write_handler(ngx_event_t *wev)
{
    int                            err;
    u_char                         line[NGX_HTTP_DROVER_GROUP_NAME_MAX + 16];
    u_char                        *last;
    ssize_t                        n;
    socklen_t                      len;
    ngx_connection_t              *c;
    ngx_http_drover_group_host_t  *host;

    c = wev->data;
    host = c->data;

    if (host->sent) {
        return;
    }

    /* the connect's outcome (a refused one ends here) */

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_http_drover_group_done(host, err == NGX_ECONNREFUSED
                                         ? "connection refused"
                                         : "cannot connect");
        return;
    }

    last = ngx_sprintf(line, "slots %V\n", &host->pool);

    n = c->send(c, line, last - line);

    if (n == NGX_AGAIN) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_drover_group_done(host, "cannot send");
        }

        return;
    }

    if (n != last - line) {
        ngx_http_drover_group_done(host, "cannot send");
        return;
    }

    host->sent = 1;

    if (c->read->ready) {
        ngx_http_drover_group_read_handler(c->read);
        return;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_drover_group_done(host, "cannot read");
    }
}


static void
ngx_http_drover_group_read_handler(ngx_event_t *rev)
{
    ssize_t                        n;
    ngx_connection_t              *c;
    ngx_http_drover_group_host_t  *host;

    c = rev->data;
    host = c->data;

    if (!host->sent) {
        return;
    }

    for ( ;; ) {
        n = c->recv(c, host->buf + host->len,
                    NGX_HTTP_DROVER_GROUP_ANSWER_MAX - host->len);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_drover_group_done(host, "cannot read");
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_drover_group_done(host, "connection reset");
            return;
        }

        if (n == 0) {
            ngx_http_drover_group_done(host, NULL);
            return;
        }

        host->len += n;

        if (host->len == NGX_HTTP_DROVER_GROUP_ANSWER_MAX) {
            ngx_http_drover_group_done(host, "answer too long");
            return;
        }
    }
}


static void
ngx_http_drover_group_timeout(ngx_event_t *ev)
{
    ngx_http_drover_group_done(ev->data, "no answer within 500 ms");
}


/* the probe ends: close, parse, apply, give the lease back */

static void
ngx_http_drover_group_done(ngx_http_drover_group_host_t *host, char *err)
{
    ngx_log_t                       *log;
    ngx_http_drover_group_answer_t   a;

    log = host->deadline.log;

    if (host->deadline.timer_set) {
        ngx_del_timer(&host->deadline);
    }

    if (host->peer.connection) {
        ngx_close_connection(host->peer.connection);
        host->peer.connection = NULL;
    }

    if (err == NULL) {
        err = ngx_http_drover_group_parse(host->buf, host->buf + host->len,
                                          &a);
    }

    ngx_http_drover_group_apply(host, &a, err, log);

    host->busy = 0;
}


/*
 * "drover-netslots 1" (or, from PATH.slots, "drover-slots 1") first; then
 * as PATH.slots (docs/protocols.md), with "port N" and each slot's port
 * after its pid.  Unknown lines are skipped; "error ..." is droverd's no.
 */

static char *
ngx_http_drover_group_parse(u_char *p, u_char *last,
    ngx_http_drover_group_answer_t *a)
{
    u_char      *eol;
    ngx_uint_t   k, n, line, have_slots;

    ngx_memzero(a, sizeof(ngx_http_drover_group_answer_t));

    have_slots = 0;

    for (line = 1; p < last; line++, p = eol + 1) {

        eol = ngx_strlchr(p, last, LF);
        if (eol == NULL) {
            return "no newline at the end of the answer";
        }

        if (line == 1) {
            if (!((size_t) (eol - p) == sizeof("drover-netslots 1") - 1
                  && ngx_strncmp(p, "drover-netslots 1", eol - p) == 0)
                && !((size_t) (eol - p) == sizeof("drover-slots 1") - 1
                     && ngx_strncmp(p, "drover-slots 1", eol - p) == 0))
            {
                return "not \"drover-netslots 1\"";
            }

            continue;
        }

        if (eol - p > 6 && ngx_strncmp(p, "error ", 6) == 0) {
            return "droverd has no such pool";
        }

        if (eol - p > 11 && ngx_strncmp(p, "generation ", 11) == 0) {
            p += 11;

            if (ngx_http_drover_group_number(&p, eol, &a->generation)
                != NGX_OK || p != eol)
            {
                return "bad generation";
            }

            continue;
        }

        if ((size_t) (eol - p) == sizeof("state failing") - 1
            && ngx_strncmp(p, "state failing", eol - p) == 0)
        {
            a->state = 1;
            continue;
        }

        if ((size_t) (eol - p) == sizeof("state stopped") - 1
            && ngx_strncmp(p, "state stopped", eol - p) == 0)
        {
            a->state = 2;
            continue;
        }

        if (eol - p > 5 && ngx_strncmp(p, "port ", 5) == 0) {
            p += 5;

            if (ngx_http_drover_group_number(&p, eol, &a->port) != NGX_OK
                || p != eol || a->port > 65535)
            {
                return "bad port";
            }

            continue;
        }

        if (eol - p > 6 && ngx_strncmp(p, "slots ", 6) == 0) {
            p += 6;

            if (ngx_http_drover_group_number(&p, eol, &a->nslots) != NGX_OK
                || p != eol || a->nslots > NGX_HTTP_DROVER_GROUP_SLOTS)
            {
                return "bad slot count";
            }

            have_slots = 1;
            continue;
        }

        if (*p < '0' || *p > '9') {
            continue;
        }

        if (!have_slots) {
            return "slot before \"slots\"";
        }

        if (ngx_http_drover_group_number(&p, eol, &k) != NGX_OK
            || k >= a->nslots || p == eol || *p++ != ' ')
        {
            return "bad slot number";
        }

        if (eol - p > 3 && ngx_strncmp(p, "up ", 3) == 0) {
            a->up[k] = 1;
            p += 3;

        } else if (eol - p > 5 && ngx_strncmp(p, "down ", 5) == 0) {
            p += 5;

        } else {
            return "slot neither \"up\" nor \"down\"";
        }

        if (ngx_http_drover_group_number(&p, eol, &n) != NGX_OK) {
            return "bad pid";
        }

        a->pid[k] = (ngx_pid_t) n;

        /* the slot's TCP port: in the network answer only */

        if (p < eol) {
            if (*p++ != ' '
                || ngx_http_drover_group_number(&p, eol, &n) != NGX_OK
                || p != eol || n > 65535)
            {
                return "bad slot port";
            }

            a->slot_port[k] = n;
        }
    }

    if (!have_slots) {
        return "no \"slots\" line";
    }

    return NULL;
}


static ngx_int_t
ngx_http_drover_group_number(u_char **pp, u_char *last, ngx_uint_t *n)
{
    u_char  *p;

    *n = 0;

    for (p = *pp; p < last && *p >= '0' && *p <= '9'; p++) {
        if (*n > 99999999) {
            return NGX_ERROR;
        }

        *n = *n * 10 + (*p - '0');
    }

    if (p == *pp) {
        return NGX_ERROR;
    }

    *pp = p;

    return NGX_OK;
}


/*
 * What a probe learned goes into both zones: the host's own record, and
 * its share of the pool's slots.  A host that did not answer has every
 * slot down.  The change of a host's state is logged by the worker that
 * saw it.
 */

static void
ngx_http_drover_group_apply(ngx_http_drover_group_host_t *host,
    ngx_http_drover_group_answer_t *a, char *err, ngx_log_t *log)
{
    size_t                            len;
    ngx_uint_t                        i, j, k, up, was, failing, stopped;
    ngx_uint_t                        nup;
    ngx_http_drover_group_t          *g;
    ngx_http_drover_dispatch_sh_t    *dsh;
    ngx_http_drover_group_host_sh_t  *hs;

    g = host->group;
    hs = &g->sh->host[host->index];

    ngx_shmtx_lock(&g->shpool->mutex);

    was = hs->alive;
    hs->alive = (err == NULL);
    hs->probes++;
    hs->lease = 0;
    hs->next = ngx_current_msec + NGX_HTTP_DROVER_GROUP_INTERVAL;

    if (err == NULL) {
        hs->answered = ngx_current_msec ? ngx_current_msec : 1;
        hs->generation = a->generation;
        hs->state = a->state;
        hs->nslots = a->nslots;
        hs->port = (in_port_t) a->port;
        hs->err_len = 0;

        for (j = 0; j < NGX_HTTP_DROVER_GROUP_SLOTS; j++) {
            hs->slot_port[j] = (in_port_t) a->slot_port[j];
        }

    } else {
        hs->failures++;
        len = ngx_min(ngx_strlen(err), NGX_HTTP_DROVER_GROUP_ERR_LEN);
        ngx_memcpy(hs->err, err, len);
        hs->err_len = len;
    }

    /* the group cannot start only when every host says so */

    failing = 1;
    stopped = 1;

    for (i = 0; i < g->sh->nhosts; i++) {
        if (!g->sh->host[i].alive || g->sh->host[i].state == 0) {
            failing = 0;
        }

        if (!g->sh->host[i].alive || g->sh->host[i].state != 2) {
            stopped = 0;
        }
    }

    ngx_shmtx_unlock(&g->shpool->mutex);

    dsh = g->pool->sh;
    nup = 0;

    ngx_shmtx_lock(&g->pool->shpool->mutex);

    for (j = 0; j < g->per; j++) {
        k = host->index * g->per + j;

        up = (err == NULL && j < a->nslots && a->up[j]
              && (host->unix_host || a->slot_port[j] != 0));

        dsh->slot[k].up = up;
        dsh->slot[k].pid = (err == NULL && j < a->nslots) ? a->pid[j] : 0;
        nup += up;
    }

    dsh->failing = stopped ? 2 : failing;

    if (err == NULL && a->generation > dsh->generation) {
        dsh->generation = a->generation;
    }

    ngx_shmtx_unlock(&g->pool->shpool->mutex);

    ngx_shmtx_lock(&g->shpool->mutex);
    hs->up = nup;
    ngx_shmtx_unlock(&g->shpool->mutex);

    if (was && err) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "drover: group \"%V\": server %V is down (%s), its "
                      "slots are not used", &g->name, &host->server, err);

    } else if (!was && err == NULL) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "drover: group \"%V\": server %V is up, %ui of %ui "
                      "slots", &g->name, &host->server, nup, a->nslots);

        if (a->nslots > g->per) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "drover: group \"%V\": server %V has %ui slots, "
                          "only %ui are used (256 per group)", &g->name,
                          &host->server, a->nslots, g->per);
        }
    }

    if (nup) {
        ngx_http_drover_dispatch_post_wake(g->pool);
    }
}


void
ngx_http_drover_group_suspect(ngx_http_drover_dispatch_pool_t *pool,
    ngx_uint_t k)
{
    ngx_uint_t                j, h;
    ngx_http_drover_group_t  *g;

    g = pool->group;

    if (g == NULL || g->per == 0 || g->sh == NULL) {
        return;
    }

    h = k / g->per;

    if (h >= g->hosts.nelts) {
        return;
    }

    ngx_shmtx_lock(&pool->shpool->mutex);

    for (j = 0; j < g->per; j++) {
        pool->sh->slot[h * g->per + j].up = 0;
    }

    ngx_shmtx_unlock(&pool->shpool->mutex);

    /* asked again at the next tick, by whichever worker comes first */

    ngx_shmtx_lock(&g->shpool->mutex);
    g->sh->host[h].next = ngx_current_msec;
    ngx_shmtx_unlock(&g->shpool->mutex);
}


/* slot k: host k / per, that host's slot k % per */

ngx_http_drover_dispatch_addr_t *
ngx_http_drover_group_addr(ngx_http_drover_dispatch_pool_t *pool,
    ngx_uint_t k)
{
    size_t                            len;
    in_port_t                         port;
    ngx_uint_t                        j, h;
    struct sockaddr_un               *sun;
    ngx_http_drover_group_t          *g;
    ngx_http_drover_group_host_t     *host;
    ngx_http_drover_dispatch_addr_t  *addr;

    g = pool->group;

    if (g->addrs == NULL || g->per == 0) {
        return NULL;
    }

    h = k / g->per;
    j = k % g->per;

    if (h >= g->hosts.nelts) {
        return NULL;
    }

    host = g->hosts.elts;
    host = &host[h];

    addr = g->addrs[k];

    if (addr == NULL) {
        len = NGX_SOCKADDR_STRLEN + host->path.len + sizeof("unix:.255");

        addr = ngx_pcalloc(ngx_cycle->pool,
                           sizeof(ngx_http_drover_dispatch_addr_t) + len);
        if (addr == NULL) {
            return NULL;
        }

        addr->name.data = (u_char *) (addr + 1);
        g->addrs[k] = addr;

        if (host->unix_host) {
            sun = &addr->sockaddr.sockaddr_un;
            sun->sun_family = AF_UNIX;
            (void) ngx_sprintf((u_char *) sun->sun_path, "%V.%ui%Z",
                               &host->path, j);
            addr->socklen = sizeof(struct sockaddr_un);
            addr->name.len = ngx_sprintf(addr->name.data, "unix:%V.%ui",
                                         &host->path, j)
                             - addr->name.data;
            return addr;
        }
    }

    if (host->unix_host) {
        return addr;
    }

    /* the port droverd said last: it may move with droverd's config */

    port = g->sh->host[h].slot_port[j];

    if (port == 0) {
        return NULL;
    }

    if (addr->socklen == 0 || ngx_inet_get_port(&addr->sockaddr.sockaddr)
                              != port)
    {
        ngx_memcpy(&addr->sockaddr, host->addr.sockaddr,
                   host->addr.socklen);
        addr->socklen = host->addr.socklen;
        ngx_inet_set_port(&addr->sockaddr.sockaddr, port);
        addr->name.len = ngx_sock_ntop(&addr->sockaddr.sockaddr,
                                       addr->socklen, addr->name.data,
                                       NGX_SOCKADDR_STRLEN, 1);
    }

    return addr;
}


/* ---- drover_group_status: every group and each of its hosts ---- */

static char *
ngx_http_drover_group_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_drover_group_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_drover_group_status_handler(ngx_http_request_t *r)
{
    size_t                              len;
    ngx_int_t                           rc;
    ngx_buf_t                          *b;
    ngx_uint_t                          i, j;
    ngx_chain_t                         out;
    ngx_http_drover_group_t            *g, **gp;
    ngx_http_drover_group_host_t       *host;
    ngx_http_drover_group_host_sh_t     hs;
    ngx_http_drover_dispatch_stats_t    st;
    ngx_http_drover_group_main_conf_t  *gmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_drover_group_module);
    gp = gmcf->groups.elts;

    len = sizeof("{\"groups\":[]}\n");

    for (i = 0; i < gmcf->groups.nelts; i++) {
        len += 512 + gp[i]->name.len
               + gp[i]->hosts.nelts * (512 + NGX_HTTP_DROVER_GROUP_ERR_LEN);

        host = gp[i]->hosts.elts;

        for (j = 0; j < gp[i]->hosts.nelts; j++) {
            len += host[j].server.len + host[j].pool.len;
        }
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, "{\"groups\":[", sizeof("{\"groups\":[") - 1);

    for (i = 0; i < gmcf->groups.nelts; i++) {
        g = gp[i];

        if (g->pool == NULL || g->sh == NULL) {
            continue;
        }

        ngx_http_drover_dispatch_stats(g->pool, &st);

        b->last = ngx_sprintf(b->last, "%s{\"name\":\"%V\",\"slots\":%ui,"
                              "\"up\":%ui,\"busy\":%ui,\"inflight\":%ui,"
                              "\"queued\":%ui,\"requests\":%uL,"
                              "\"waited\":%uL,\"overflows\":%uL,"
                              "\"timeouts\":%uL,\"replays\":%uL,"
                              "\"failures\":%uL,\"hosts\":[",
                              i ? "," : "", &g->name, st.slots, st.up,
                              st.busy, st.inflight, st.queued, st.requests,
                              st.waited, st.overflows, st.timeouts,
                              st.replays, st.failures);

        host = g->hosts.elts;

        for (j = 0; j < g->hosts.nelts; j++) {

            ngx_shmtx_lock(&g->shpool->mutex);
            hs = g->sh->host[j];
            ngx_shmtx_unlock(&g->shpool->mutex);

            b->last = ngx_sprintf(b->last, "%s{\"server\":\"%V\","
                                  "\"pool\":\"%V\",\"state\":\"%s\","
                                  "\"generation\":%ui,\"slots\":%ui,"
                                  "\"up\":%ui,\"port\":%ui,",
                                  j ? "," : "", &host[j].server,
                                  &host[j].pool,
                                  hs.answered == 0 ? "unknown"
                                  : !hs.alive ? "down"
                                  : hs.state == 1 ? "failing"
                                  : hs.state == 2 ? "stopped" : "up",
                                  hs.generation, hs.nslots, hs.up,
                                  (ngx_uint_t) hs.port);

            if (hs.answered) {
                b->last = ngx_sprintf(b->last, "\"answered_ms_ago\":%M,",
                                      ngx_current_msec - hs.answered);
            } else {
                b->last = ngx_cpymem(b->last, "\"answered_ms_ago\":null,",
                                     sizeof("\"answered_ms_ago\":null,")
                                     - 1);
            }

            b->last = ngx_sprintf(b->last, "\"probes\":%uL,"
                                  "\"probe_failures\":%uL,"
                                  "\"error\":\"%*s\"}",
                                  hs.probes, hs.failures,
                                  hs.alive ? (size_t) 0 : hs.err_len,
                                  hs.err);
        }

        b->last = ngx_cpymem(b->last, "]}", 2);
    }

    b->last = ngx_cpymem(b->last, "]}\n", 3);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
