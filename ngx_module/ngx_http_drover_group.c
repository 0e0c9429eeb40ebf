
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


static ngx_http_drover_group_t *ngx_http_drover_group_get(ngx_conf_t *cf,
    ngx_str_t *name);
static char *ngx_http_drover_group_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_drover_group_server(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static void *ngx_http_drover_group_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_drover_group_init_main_conf(ngx_conf_t *cf,
    void *conf);
static ngx_int_t ngx_http_drover_group_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_drover_group_init_process(ngx_cycle_t *cycle);
static void ngx_http_drover_group_exit_process(ngx_cycle_t *cycle);


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
    ngx_http_drover_group_exit_process,    /* exit process */
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

    for (i = 0; i < name->len; i++) {
        if (!(isalnum(name->data[i]) || name->data[i] == '_'
              || name->data[i] == '.' || name->data[i] == '-'))
        {
            break;
        }
    }

    if (name->len == 0 || name->len > NGX_HTTP_DROVER_GROUP_NAME_MAX
        || i < name->len)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "drover group name \"%V\" must have 1 to %d "
                           "of A-Z a-z 0-9 _ . -", name,
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
 * status_listen; the pool is the group's name unless told otherwise).
 * ADDR may be a host name: it is resolved here, once, as nginx's upstream
 * servers are, and each of its addresses becomes a host of the group.
 */

static char *
ngx_http_drover_group_server(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_http_drover_group_t *g = (ngx_http_drover_group_t *) conf;

    u_char                        *p;
    ngx_url_t                      u;
    ngx_str_t                     *value, pool, server;
    ngx_uint_t                     i, named;
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

    /* the status page writes it into JSON as it is */

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] < 0x20 || value[1].data[i] >= 0x7f
            || value[1].data[i] == '"' || value[1].data[i] == '\\')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "drover_group \"%V\": server \"%V\" has a "
                               "quote, a backslash or a byte that is not "
                               "printable ASCII", &g->name, &value[1]);
            return NGX_CONF_ERROR;
        }
    }

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

    if (value[1].len > 5
        && ngx_strncasecmp(value[1].data, (u_char *) "unix:", 5) == 0)
    {
        host = ngx_array_push(&g->hosts);
        if (host == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(host, sizeof(ngx_http_drover_group_host_t));

        host->group = g;
        host->index = g->hosts.nelts - 1;
        host->server = value[1];
        host->pool = pool;
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

    /*
     * An address, or a name resolved now (nothing is resolved at run
     * time: a name whose addresses change needs a reload)
     */

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "drover_group \"%V\": server \"%V\": %s",
                               &g->name, &value[1], u.err);
            return NGX_CONF_ERROR;
        }
    }

    if (u.naddrs == 0 || u.no_port || u.host.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "drover_group \"%V\": server \"%V\" must be "
                           "unix:PATH or a host (an IP address or a name) "
                           "and droverd's status_listen port, as in "
                           "10.0.0.5:9090", &g->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (g->hosts.nelts + u.naddrs > NGX_HTTP_DROVER_GROUP_MAX_HOSTS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "drover_group \"%V\": server \"%V\" has %ui "
                           "addresses, more than the %d servers of a group",
                           &g->name, &value[1], u.naddrs,
                           NGX_HTTP_DROVER_GROUP_MAX_HOSTS);
        return NGX_CONF_ERROR;
    }

    /* a name's hosts are told apart by address: "NAME:PORT (ADDR:PORT)" */

    named = (u.naddrs > 1
             || u.addrs[0].name.len != value[1].len
             || ngx_strncmp(u.addrs[0].name.data, value[1].data,
                            value[1].len) != 0);

    for (i = 0; i < u.naddrs; i++) {
        server = value[1];

        if (named) {
            server.len = value[1].len + sizeof(" ()") - 1
                         + u.addrs[i].name.len;
            server.data = ngx_pnalloc(cf->pool, server.len);
            if (server.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_sprintf(server.data, "%V (%V)", &value[1],
                        &u.addrs[i].name);
        }

        host = ngx_array_push(&g->hosts);
        if (host == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(host, sizeof(ngx_http_drover_group_host_t));

        host->group = g;
        host->index = g->hosts.nelts - 1;
        host->server = server;
        host->pool = pool;
        host->addr = u.addrs[i];
    }

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


/* ---- each nginx worker: the group always dispatched, the probes ---- */

static ngx_int_t
ngx_http_drover_group_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i, k;
    ngx_http_drover_group_t            *g, **gp;
    ngx_http_drover_dispatch_sh_t      *dsh;
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

        if (ngx_http_drover_group_probe_init(g, cycle) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A worker that exits drops the probes it has under way, unapplied (the
 * host is not down because this worker goes), and gives their leases back
 */

static void
ngx_http_drover_group_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i, j;
    ngx_http_drover_group_t            *g, **gp;
    ngx_http_drover_group_host_t       *host;
    ngx_http_drover_group_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_drover_group_module);

    if (gmcf == NULL) {
        return;
    }

    gp = gmcf->groups.elts;

    for (i = 0; i < gmcf->groups.nelts; i++) {
        g = gp[i];

        if (g->sh == NULL || g->addrs == NULL) {
            continue;
        }

        host = g->hosts.elts;

        for (j = 0; j < g->hosts.nelts; j++) {
            if (!host[j].busy) {
                continue;
            }

            if (host[j].deadline.timer_set) {
                ngx_del_timer(&host[j].deadline);
            }

            if (host[j].peer.connection) {
                ngx_close_connection(host[j].peer.connection);
                host[j].peer.connection = NULL;
            }

            host[j].busy = 0;

            ngx_shmtx_lock(&g->shpool->mutex);
            g->sh->host[j].lease = 0;
            ngx_shmtx_unlock(&g->shpool->mutex);
        }
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
