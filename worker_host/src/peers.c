/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * peers.c -- who may connect to a pool's sockets (peers.h): the
 * `allow_peers` directive and listen's `acl=` option, the set of uids they
 * resolve to when the pool's block ends, and the worker's SO_PEERCRED check;
 * for `listen tcp:`, the networks (ADDR/BITS) a TCP peer must come from.
 */

#include "peers.h"
#include "conf_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
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


/* ---- networks: allow_peers ADDR/BITS, status_listen allow= ---- */

int
drover_net_parse(const char *s, drover_net_t *net)
{
    char           buf[INET6_ADDRSTRLEN + 8], *slash, *end;
    size_t         len, i, max;
    unsigned long  bits;

    len = strlen(s);
    if (len == 0 || len >= sizeof(buf)) {
        return -EINVAL;
    }

    memcpy(buf, s, len + 1);
    memset(net, 0, sizeof(*net));

    slash = strchr(buf, '/');
    if (slash != NULL) {
        *slash++ = '\0';
    }

    if (inet_pton(AF_INET, buf, net->addr) == 1) {
        net->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, net->addr) == 1) {
        net->family = AF_INET6;
        max = 128;
    } else {
        return -EINVAL;
    }

    bits = max;

    if (slash != NULL) {
        if (*slash < '0' || *slash > '9') {
            return -EINVAL;
        }

        errno = 0;
        bits = strtoul(slash, &end, 10);
        if (errno != 0 || *end != '\0' || bits > max) {
            return -EINVAL;
        }
    }

    net->bits = (unsigned) bits;

    /* host bits cleared: 10.1.2.3/8 is 10.0.0.0/8 */
    for (i = 0; i < max / 8; i++) {
        if (i * 8 >= bits) {
            net->addr[i] = 0;
        } else if (i * 8 + 8 > bits) {
            net->addr[i] &= (unsigned char) (0xff << (8 - (bits - i * 8)));
        }
    }

    return 0;
}


/* an IPv4-mapped IPv6 peer (::ffff:a.b.c.d, a "::" listener) as IPv4 */
static int
peers_sockaddr(const struct sockaddr_storage *ss, int *family,
    const unsigned char **addr)
{
    const struct sockaddr_in   *sin;
    const struct sockaddr_in6  *sin6;

    if (ss->ss_family == AF_INET) {
        sin = (const struct sockaddr_in *) ss;
        *family = AF_INET;
        *addr = (const unsigned char *) &sin->sin_addr;
        return 0;
    }

    if (ss->ss_family == AF_INET6) {
        sin6 = (const struct sockaddr_in6 *) ss;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            *family = AF_INET;
            *addr = sin6->sin6_addr.s6_addr + 12;
        } else {
            *family = AF_INET6;
            *addr = sin6->sin6_addr.s6_addr;
        }
        return 0;
    }

    return -EAFNOSUPPORT;
}


static int
peers_net_match(const drover_net_t *net, int family,
    const unsigned char *addr)
{
    unsigned  full, rest;

    if (net->family != family) {
        return 0;
    }

    full = net->bits / 8;
    rest = net->bits % 8;

    if (memcmp(net->addr, addr, full) != 0) {
        return 0;
    }

    return rest == 0
           || ((addr[full] ^ net->addr[full]) & (0xff << (8 - rest))) == 0;
}


int
drover_net_allowed(const drover_net_t *nets, size_t n,
    const struct sockaddr_storage *ss)
{
    int                   family;
    size_t                i;
    const unsigned char  *addr;

    if (peers_sockaddr(ss, &family, &addr) != 0) {
        return 0;
    }

    /* none given: loopback only (127.0.0.0/8, ::1) */
    if (n == 0) {
        if (family == AF_INET) {
            return addr[0] == 127;
        }

        return IN6_IS_ADDR_LOOPBACK((const struct in6_addr *) addr);
    }

    for (i = 0; i < n; i++) {
        if (peers_net_match(&nets[i], family, addr)) {
            return 1;
        }
    }

    return 0;
}


void
drover_net_name(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    char                       a[INET6_ADDRSTRLEN];
    const struct sockaddr_in  *sin = (const struct sockaddr_in *) ss;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) ss;

    if (ss->ss_family == AF_INET
        && inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a)) != NULL)
    {
        snprintf(buf, size, "%s:%u", a, (unsigned) ntohs(sin->sin_port));

    } else if (ss->ss_family == AF_INET6
               && inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a)) != NULL)
    {
        snprintf(buf, size, "[%s]:%u", a, (unsigned) ntohs(sin6->sin6_port));

    } else {
        snprintf(buf, size, "(unknown address)");
    }
}


/* an allow_peers argument that is a network, not a user: has . : or / */
static int
peers_is_net(const char *s, size_t len)
{
    return memchr(s, '.', len) != NULL || memchr(s, ':', len) != NULL
           || memchr(s, '/', len) != NULL;
}


int
drover__conf_parse_nets(drover__conf_parser_t *p, const char *file,
    unsigned line, const char *list, const char *what, drover_net_t *nets,
    size_t *n)
{
    char         one[INET6_ADDRSTRLEN + 8];
    size_t       len;
    const char  *s, *comma;

    for (s = list; ; s = comma + 1) {
        comma = strchr(s, ',');
        len = comma ? (size_t) (comma - s) : strlen(s);

        if (len == 0 || len >= sizeof(one)) {
            return drover__conf_error(p, file, line, "%s: bad network "
                                      "\"%.*s\": use ADDR or ADDR/BITS, as "
                                      "in 10.0.0.0/8 or fd00::/8", what,
                                      (int) len, s);
        }

        memcpy(one, s, len);
        one[len] = '\0';

        if (*n == DROVER_CONF_MAX_NETS) {
            return drover__conf_error(p, file, line, "%s: more than %d "
                                      "networks: use wider ones", what,
                                      DROVER_CONF_MAX_NETS);
        }

        if (drover_net_parse(one, &nets[*n]) != 0) {
            return drover__conf_error(p, file, line, "%s: bad network "
                                      "\"%s\": use ADDR or ADDR/BITS, as in "
                                      "10.0.0.0/8 or fd00::/8", what, one);
        }

        (*n)++;

        if (comma == NULL) {
            return 0;
        }
    }
}


/*
 * Each argument is a comma list of users (the unix sockets' SO_PEERCRED
 * check) and networks (the TCP listeners' check on accept), told apart by
 * the network's "." ":" or "/".
 */
int
drover__conf_set_allow_peers(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_block_t *b,
    drover__conf_directive_t *d)
{
    int                  i, rc;
    char                 one[256];
    size_t               len;
    const char          *s, *comma;
    drover_pool_conf_t  *pool = b->pool;

    for (i = 0; i < d->nargs; i++) {
        for (s = d->args[i]; ; s = comma + 1) {
            comma = strchr(s, ',');
            len = comma ? (size_t) (comma - s) : strlen(s);

            if (len >= sizeof(one)) {
                len = sizeof(one) - 1;
            }

            memcpy(one, s, len);
            one[len] = '\0';

            if (len != 0 && peers_is_net(one, len)) {
                rc = drover__conf_parse_nets(p, f->name, d->arg_lines[i],
                                             one, "\"allow_peers\"",
                                             pool->allow_nets,
                                             &pool->nallow_nets);
            } else {
                rc = peers_parse_list(p, f->name, d->arg_lines[i], one,
                                      "\"allow_peers\"", pool->allow_peers,
                                      &pool->nallow_peers,
                                      DROVER_CONF_MAX_PEERS);
            }

            if (rc != 0) {
                return rc;
            }

            if (comma == NULL) {
                break;
            }
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
    socklen_t                len;
    struct ucred             cred;
    struct sockaddr_storage  ss;

    /* `listen tcp:`: the peer's address against allow_peers' networks */
    len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *) &ss, &len) == 0
        && (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
    {
        *uid = (uid_t) -1;
        *gid = (gid_t) -1;
        *pid = 0;

        return drover_net_allowed(pool->allow_nets, pool->nallow_nets, &ss)
               ? 0 : -EACCES;
    }

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
