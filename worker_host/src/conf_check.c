/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * conf_check.c -- the checks run when a pool block closes: what a pool must
 * have, sockets no other pool uses, and a user and group droverd may run it as.
 */

#include "conf.h"
#include "conf_int.h"
#include "log.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>


static int conf_socket_of(const drover_pool_conf_t *pool, const char *path);
static int conf_pool_check_sockets(drover__conf_parser_t *p,
    drover_pool_conf_t *pool);
static int conf_pool_check_user(drover__conf_parser_t *p,
    drover__conf_block_t *b);


/*
 * At the pool's "}": the required directives, the defaults that depend on
 * other directives, and the checks that span several of them.
 */
int
drover__conf_pool_finish(drover__conf_parser_t *p, drover__conf_block_t *b)
{
    int                  rc;
    long                 ncpu;
    char                 slot[sizeof(((struct sockaddr_un *) 0)->sun_path)];
    drover_pool_conf_t  *pool = b->pool;

    if (pool->app == NULL && pool->exec_argv == NULL
        && pool->python.app == NULL)
    {
        return drover__conf_error(p, pool->file, pool->line,
                                  "pool \"%s\" has no \"app\": add \"app "
                                  "/path/to/app.so;\" (or \"exec "
                                  "/usr/bin/php-cgi;\", or \"python "
                                  "main:app;\")", pool->name);
    }

    rc = drover__conf_python_finish(p, b);
    if (rc != 0) {
        return rc;
    }

    rc = drover__conf_exec_finish(p, b);
    if (rc != 0) {
        return rc;
    }

    if (pool->listen.path == NULL) {
        return drover__conf_error(p, pool->file, pool->line,
                                  "pool \"%s\" has no \"listen\": add "
                                  "\"listen unix:/run/drover/%s.sock;\"",
                                  pool->name, pool->name);
    }

    if (pool->workers_auto) {
        ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        if (ncpu < 1) {
            ncpu = 1;
        }
        if (ncpu > DROVER_CONF_MAX_WORKERS) {
            ncpu = DROVER_CONF_MAX_WORKERS;
        }
        pool->workers = (unsigned) ncpu;
    }

    /* the longest slot socket name is the last slot's */
    rc = drover_conf_slot_path(pool, pool->workers - 1, slot, sizeof(slot));
    if (rc != 0) {
        return drover__conf_error(p, pool->listen.file, pool->listen.line,
                                  "socket path \"%s\" is too long: with %u "
                                  "workers, slot socket \"%s.%u\" must fit "
                                  "in %zu bytes (including the final NUL): "
                                  "use a shorter path", pool->listen.path,
                                  pool->workers, pool->listen.path,
                                  pool->workers - 1, sizeof(slot));
    }

    rc = conf_pool_check_sockets(p, pool);
    if (rc != 0) {
        return rc;
    }

    rc = conf_pool_check_user(p, b);
    if (rc != 0) {
        return rc;
    }

    rc = drover__conf_pool_check_proc(p, b);
    if (rc != 0) {
        return rc;
    }

    rc = drover__conf_tcp_check(p, pool);
    if (rc != 0) {
        return rc;
    }

    return drover__conf_peers_finish(p, b);
}


/* 1 when path is pool's shared socket or one of its slot sockets */
static int
conf_socket_of(const drover_pool_conf_t *pool, const char *path)
{
    char           *end;
    size_t          len;
    unsigned long   k;

    len = strlen(pool->listen.path);

    if (strncmp(path, pool->listen.path, len) != 0) {
        return 0;
    }

    if (path[len] == '\0') {
        return 1;
    }

    if (path[len] != '.' || path[len + 1] < '0' || path[len + 1] > '9') {
        return 0;
    }

    errno = 0;
    k = strtoul(path + len + 1, &end, 10);

    return errno == 0 && *end == '\0' && k < pool->workers
           && (k == 0 || path[len + 1] != '0');
}


/*
 * Slot sockets are "<listen>.<k>": one pool's socket must not be another
 * pool's slot socket (x.sock with 2 workers owns x.sock.0 and x.sock.1).
 */
static int
conf_pool_check_sockets(drover__conf_parser_t *p, drover_pool_conf_t *pool)
{
    drover_pool_conf_t  *other;

    for (other = p->conf->pools; other != NULL; other = other->next) {
        if (other == pool || other->listen.path == NULL) {
            continue;
        }

        if (conf_socket_of(other, pool->listen.path)
            || conf_socket_of(pool, other->listen.path))
        {
            return drover__conf_error(p, pool->listen.file, pool->listen.line,
                                      "socket \"%s\" of pool \"%s\" clashes "
                                      "with the sockets of pool \"%s\" (%s "
                                      "and its slot sockets %s.0 .. %s.%u, "
                                      "declared at %s:%u): give each pool "
                                      "its own socket path", pool->listen.path,
                                      pool->name, other->name,
                                      other->listen.path, other->listen.path,
                                      other->listen.path, other->workers - 1,
                                      other->listen.file, other->listen.line);
        }
    }

    return 0;
}


/*
 * Group root is root too: gid 0 opens every file that is root's by group
 * (/etc/shadow on some systems, root's 0660 sockets).  php-fpm refuses it
 * as well.  The primary group, then the supplementary groups that
 * drover_proc_drop_privileges() gives the user (initgroups()).
 */
static int
conf_pool_check_group(drover__conf_parser_t *p, drover__conf_block_t *b)
{
    int                    i, n;
    gid_t                  groups[256], *list;
    drover__conf_where_t  *user = &b->seen[CONF_CMD_USER];
    drover__conf_where_t  *group = &b->seen[CONF_CMD_GROUP];
    struct passwd         *pw;
    drover_pool_conf_t    *pool = b->pool;

    if (pool->gid == 0) {
        if (pool->group != NULL) {
            return drover__conf_error(p, group->file, group->line,
                                      "pool \"%s\" would run with group root "
                                      "(\"group %s\"): use an unprivileged "
                                      "group", pool->name, pool->group);
        }

        return drover__conf_error(p, user->file, user->line,
                                  "pool \"%s\" would run with group root "
                                  "(the primary group of user \"%s\"): set "
                                  "\"group\" to an unprivileged group",
                                  pool->name, pool->user);
    }

    /* a uid without a passwd entry gets no supplementary groups at all */
    pw = getpwuid(pool->uid);
    if (pw == NULL) {
        return 0;
    }

    n = (int) (sizeof(groups) / sizeof(groups[0]));
    list = groups;

    if (getgrouplist(pw->pw_name, pool->gid, list, &n) == -1) {
        list = malloc((size_t) n * sizeof(gid_t));
        if (list == NULL) {
            return -ENOMEM;
        }

        if (getgrouplist(pw->pw_name, pool->gid, list, &n) == -1) {
            free(list);
            return drover__conf_error(p, user->file, user->line,
                                      "pool \"%s\": cannot list the groups "
                                      "of user \"%s\": check /etc/group",
                                      pool->name, pw->pw_name);
        }
    }

    for (i = 0; i < n && list[i] != 0; i++) {
        /* void */
    }

    if (list != groups) {
        free(list);
    }

    if (i < n) {
        return drover__conf_error(p, user->file, user->line,
                                  "pool \"%s\" would run with group root: "
                                  "user \"%s\" is a member of group root "
                                  "(gid 0) in the group database; remove it "
                                  "from that group or use another user",
                                  pool->name, pw->pw_name);
    }

    return 0;
}


/*
 * "No pool as root" (DESIGN.md, shared hosting): as root every pool names
 * an unprivileged user, and no group root; not as root, droverd cannot
 * switch to another one.
 */
static int
conf_pool_check_user(drover__conf_parser_t *p, drover__conf_block_t *b)
{
    drover__conf_where_t  *user = &b->seen[CONF_CMD_USER];
    drover__conf_where_t  *group = &b->seen[CONF_CMD_GROUP];
    drover_pool_conf_t    *pool = b->pool;

    if (p->euid == 0) {
        if (pool->user == NULL) {
            return drover__conf_error(p, pool->file, pool->line,
                                      "pool \"%s\" would run as root: set "
                                      "\"user\" to an unprivileged user",
                                      pool->name);
        }

        if (pool->uid == 0) {
            return drover__conf_error(p, user->file, user->line,
                                      "pool \"%s\" would run as root (\"user "
                                      "%s\"): use an unprivileged user",
                                      pool->name, pool->user);
        }

        if (pool->group == NULL) {
            if (b->user_gid == (gid_t) -1) {
                return drover__conf_error(p, user->file, user->line,
                                          "user \"%s\" has no passwd entry, "
                                          "so no primary group: set \"group\"",
                                          pool->user);
            }
            pool->gid = b->user_gid;
        }

        return conf_pool_check_group(p, b);
    }

    if (pool->user != NULL && pool->uid != p->euid) {
        return drover__conf_error(p, user->file, user->line,
                                  "pool \"%s\": droverd is not running as "
                                  "root, so it cannot switch to user \"%s\": "
                                  "remove \"user\" or start droverd as root",
                                  pool->name, pool->user);
    }

    if (pool->group != NULL && pool->gid != p->egid) {
        return drover__conf_error(p, group->file, group->line,
                                  "pool \"%s\": droverd is not running as "
                                  "root, so it cannot switch to group "
                                  "\"%s\": remove \"group\" or start droverd "
                                  "as root", pool->name, pool->group);
    }

    /* our own user, named without a group: there is no group to switch to */
    if (pool->user != NULL && pool->group == NULL) {
        pool->gid = p->egid;
    }

    return 0;
}
