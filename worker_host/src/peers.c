/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * peers.c -- who may connect to a pool's sockets (peers.h): the
 * `allow_peers` directive and listen's `acl=` option, the set of uids they
 * resolve to when the pool's block ends, and the worker's SO_PEERCRED check.
 */

#include "peers.h"
#include "conf_int.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* USER as a name or a number; 0 or -ENOENT */
static int
peers_resolve_user(const char *s, uid_t *uid)
{
    char           *end;
    unsigned long   n;
    struct passwd  *pw;

    if (*s >= '0' && *s <= '9') {
        errno = 0;
        n = strtoul(s, &end, 10);
        if (errno == 0 && *end == '\0' && n < (unsigned long) (uid_t) -1) {
            *uid = (uid_t) n;
            return 0;
        }
        return -ENOENT;
    }

    pw = getpwnam(s);
    if (pw == NULL) {
        return -ENOENT;
    }

    *uid = pw->pw_uid;
    return 0;
}


static void
peers_add(uid_t *set, size_t *n, uid_t uid)
{
    size_t  i;

    for (i = 0; i < *n; i++) {
        if (set[i] == uid) {
            return;
        }
    }

    set[(*n)++] = uid;
}


/*
 * "a,b,c" (one argument) into set: each user resolved, duplicates folded,
 * at most max.  what names the directive in messages.
 */
static int
peers_parse_list(drover__conf_parser_t *p, const char *file, unsigned line,
    const char *list, const char *what, uid_t *set, size_t *n, size_t max)
{
    int          rc;
    char         user[256];
    uid_t        uid;
    size_t       len;
    const char  *s, *comma;

    for (s = list; ; s = comma + 1) {
        comma = strchr(s, ',');
        len = comma ? (size_t) (comma - s) : strlen(s);

        if (len == 0 || len >= sizeof(user)) {
            return drover__conf_error(p, file, line, "%s needs user names "
                                      "or uids separated by commas, got "
                                      "\"%s\"", what, list);
        }

        memcpy(user, s, len);
        user[len] = '\0';

        rc = peers_resolve_user(user, &uid);
        if (rc != 0) {
            return drover__conf_error(p, file, line, "%s: unknown user "
                                      "\"%s\": create it or use another",
                                      what, user);
        }

        if (*n == max) {
            return drover__conf_error(p, file, line, "%s: more than %zu "
                                      "users: name a group with group= "
                                      "instead", what, max);
        }

        peers_add(set, n, uid);

        if (comma == NULL) {
            return 0;
        }
    }
}


int
drover__conf_set_allow_peers(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d)
{
    int                  i, rc;
    drover_pool_conf_t  *pool = b->pool;

    for (i = 0; i < d->nargs; i++) {
        rc = peers_parse_list(p, f->name, d->arg_lines[i], d->args[i],
                              "\"allow_peers\"", pool->allow_peers,
                              &pool->nallow_peers, DROVER_CONF_MAX_PEERS);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


int
drover__conf_listen_acl(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover_pool_conf_t *pool, const char *users, unsigned line)
{
    return peers_parse_list(p, f->name, line, users, "listen \"acl\"",
                            pool->listen.acl, &pool->listen.nacl,
                            DROVER_CONF_MAX_ACL);
}


/*
 * At the pool's "}", once user and group are final: who may connect.
 * Always root (it can reach the workers anyway) and droverd's own user.
 * With `allow_peers`: those users, nobody else.  Without: whoever the
 * socket's own permissions name -- its owner and group (as
 * drover_listen_owner() sets them) and the acl= users -- so the check
 * changes nothing for a front end that can open the socket, and refuses
 * what reached a worker any other way (a socket mode or directory made too
 * wide, a connection passed on).  The manager and the processes it execs
 * parse with the same euid, so they resolve the same set.
 */
int
drover__conf_peers_finish(drover__conf_parser_t *p, drover__conf_block_t *b)
{
    size_t               i;
    drover_pool_conf_t  *pool = b->pool;

    pool->npeer_uids = 0;
    peers_add(pool->peer_uids, &pool->npeer_uids, 0);
    peers_add(pool->peer_uids, &pool->npeer_uids, p->euid);

    if (pool->nallow_peers != 0) {
        for (i = 0; i < pool->nallow_peers; i++) {
            peers_add(pool->peer_uids, &pool->npeer_uids,
                      pool->allow_peers[i]);
        }

        pool->peer_gid = (gid_t) -1;
        return 0;
    }

    if (pool->listen.owner != (uid_t) -1) {
        peers_add(pool->peer_uids, &pool->npeer_uids, pool->listen.owner);
    } else if (p->euid == 0 && pool->uid != (uid_t) -1) {
        peers_add(pool->peer_uids, &pool->npeer_uids, pool->uid);
    }

    for (i = 0; i < pool->listen.nacl; i++) {
        peers_add(pool->peer_uids, &pool->npeer_uids, pool->listen.acl[i]);
    }

    if (pool->listen.group != (gid_t) -1) {
        pool->peer_gid = pool->listen.group;
    } else if (p->euid == 0) {
        pool->peer_gid = pool->gid;
    } else {
        pool->peer_gid = p->egid;
    }

    return 0;
}


int
drover_peers_uid_allowed(const drover_pool_conf_t *pool, uid_t uid)
{
    size_t  i;

    for (i = 0; i < pool->npeer_uids; i++) {
        if (pool->peer_uids[i] == uid) {
            return 1;
        }
    }

    return 0;
}


/* the peer's supplementary groups, as they were at connect() */
static int
peers_in_group(int fd, gid_t gid)
{
    int        rc;
    gid_t      stack[64], *groups;
    size_t     i, n;
    socklen_t  len;

    groups = stack;
    len = sizeof(stack);

    rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len);
    if (rc != 0 && errno == ERANGE) {
        groups = malloc(len);
        if (groups == NULL) {
            return -ENOMEM;
        }
        rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len);
    }

    if (rc != 0) {
        rc = -errno;
    } else {
        rc = -EACCES;
        n = len / sizeof(gid_t);

        for (i = 0; i < n; i++) {
            if (groups[i] == gid) {
                rc = 0;
                break;
            }
        }
    }

    if (groups != stack) {
        free(groups);
    }

    return rc;
}


int
drover_peers_check(const drover_pool_conf_t *pool, int fd, uid_t *uid,
    gid_t *gid, pid_t *pid)
{
    struct ucred  cred;
    socklen_t     len;

    /* every pool the config resolved has root in its set: this one was
       made by hand (a unit test's, a fuzz target's) */
    if (pool->npeer_uids == 0) {
        return 0;
    }

    len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        *uid = (uid_t) -1;
        *gid = (gid_t) -1;
        *pid = 0;
        return -errno;
    }

    *uid = cred.uid;
    *gid = cred.gid;
    *pid = cred.pid;

    if (drover_peers_uid_allowed(pool, cred.uid)) {
        return 0;
    }

    if (pool->peer_gid == (gid_t) -1) {
        return -EACCES;
    }

    if (cred.gid == pool->peer_gid) {
        return 0;
    }

    return peers_in_group(fd, pool->peer_gid);
}
