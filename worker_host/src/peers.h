/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * peers.h -- who may connect to a pool's sockets: `allow_peers` and
 * `listen ... acl=` in the config, the uid set they resolve to, and the
 * SO_PEERCRED check a worker makes once per connection it takes.
 */

#ifndef DROVER_PEERS_H
#define DROVER_PEERS_H

#include <sys/socket.h>
#include <sys/types.h>

#include "conf.h"

/*
 * Check the peer of connection fd against pool->peer_uids and
 * pool->peer_gid (resolved by the config, see drover__conf_peers_finish).
 * One getsockopt(SO_PEERCRED); SO_PEERGROUPS only for a peer allowed by a
 * supplementary group.  0: allowed; -EACCES: not allowed; another negative
 * code: the credentials could not be read (refuse too).  *uid, *gid and
 * *pid say who it was.  A pool the config never resolved (npeer_uids 0,
 * made by hand in unit tests) is not checked.
 */
int drover_peers_check(const drover_pool_conf_t *pool, int fd, uid_t *uid,
    gid_t *gid, pid_t *pid);

/*
 * A TCP peer (`listen tcp:`) is checked by its address instead: allowed
 * when it is in one of pool->allow_nets, or, with none given, on
 * loopback; *uid and *gid are then -1 and *pid 0.
 */

/* "ADDR" or "ADDR/BITS", IPv4 or IPv6, into net; 0 or -EINVAL */
int drover_net_parse(const char *s, drover_net_t *net);

/* 1 when ss is in one of nets (n == 0: on loopback); IPv4-mapped as v4 */
int drover_net_allowed(const drover_net_t *nets, size_t n,
    const struct sockaddr_storage *ss);

/* "10.0.0.5:40112" or "[fd00::5]:40112", for log lines */
void drover_net_name(const struct sockaddr_storage *ss, char *buf,
    size_t size);

/* 1 when uid may connect by uid alone (tests, messages) */
int drover_peers_uid_allowed(const drover_pool_conf_t *pool, uid_t uid);

#endif /* DROVER_PEERS_H */
