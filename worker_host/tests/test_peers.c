/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_peers.c -- drover_peers_check(): a connection's peer against a
 * pool's resolved set, by uid, by group and (as root, from a child with
 * other ids) by supplementary group; an unresolved pool is not checked;
 * the networks of `allow_peers` for TCP peers.
 */

#include "conf.h"
#include "peers.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>


/* a pool whose set holds one uid (not ours) and gid */
static void
pool_with(drover_pool_conf_t *pool, uid_t uid, gid_t gid)
{
    memset(pool, 0, sizeof(*pool));
    pool->name = "p";
    pool->peer_uids[0] = uid;
    pool->npeer_uids = 1;
    pool->peer_gid = gid;
}


static void
test_socketpair(void)
{
    int                 sv[2], rc;
    pid_t               pid;
    uid_t               uid, other;
    gid_t               gid;
    drover_pool_conf_t  pool;

    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0, "socketpair");

    other = geteuid() + 4242;

    memset(&pool, 0, sizeof(pool));
    ASSERT_EQ(drover_peers_check(&pool, sv[0], &uid, &gid, &pid), 0,
              "a pool the config did not resolve is not checked");

    pool_with(&pool, geteuid(), (gid_t) -1);
    ASSERT_EQ(drover_peers_check(&pool, sv[0], &uid, &gid, &pid), 0,
              "our uid in the set: allowed");
    ASSERT_TRUE(uid == geteuid() && gid == getegid() && pid == getpid(),
                "the peer's uid, gid and pid are reported");

    pool_with(&pool, other, (gid_t) -1);
    ASSERT_EQ(drover_peers_check(&pool, sv[0], &uid, &gid, &pid), -EACCES,
              "another uid, no group: refused with -EACCES");
    ASSERT_TRUE(uid == geteuid() && pid == getpid(),
                "the refused peer is reported");

    pool_with(&pool, other, getegid());
    ASSERT_EQ(drover_peers_check(&pool, sv[0], &uid, &gid, &pid), 0,
              "our gid is the socket's group: allowed");

    pool_with(&pool, other, getegid() + 4242);
    ASSERT_EQ(drover_peers_check(&pool, sv[0], &uid, &gid, &pid), -EACCES,
              "neither uid nor group: refused");

    close(sv[1]);
    pool_with(&pool, other, (gid_t) -1);
    rc = drover_peers_check(&pool, -1, &uid, &gid, &pid);
    ASSERT_TRUE(rc == -EBADF && uid == (uid_t) -1,
                "no socket: the error, and no credentials");
    close(sv[0]);
}


/*
 * As root: a child with uid 61801, gid 61802 and the supplementary group
 * 61803 connects to an abstract socket (no file permission in the way).
 */
static void
test_supplementary(void)
{
    int                 lfd, cfd, status;
    pid_t               child, pid;
    uid_t               uid;
    gid_t               gid, groups[1] = { 61803 };
    socklen_t           len;
    drover_pool_conf_t  pool;
    struct sockaddr_un  sa;

    if (geteuid() != 0) {
        printf("ok %d - # SKIP supplementary groups need root\n", ++tap_n);
        return;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "drover-test-peers-%ld",
             (long) getpid());
    len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1
                       + strlen(sa.sun_path + 1));

    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_TRUE(lfd >= 0 && bind(lfd, (struct sockaddr *) &sa, len) == 0
                && listen(lfd, 4) == 0, "an abstract listening socket");

    child = fork();
    if (child == 0) {
        int  fd;

        if (setgroups(1, groups) != 0 || setgid(61802) != 0
            || setuid(61801) != 0)
        {
            _exit(2);
        }

        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, len) != 0) {
            _exit(3);
        }

        /* keep the connection until the parent is done with it */
        (void) read(fd, &status, 1);
        _exit(0);
    }

    cfd = accept(lfd, NULL, NULL);
    ASSERT_TRUE(cfd >= 0, "the child connected");

    pool_with(&pool, 0, 61803);
    ASSERT_EQ(drover_peers_check(&pool, cfd, &uid, &gid, &pid), 0,
              "the socket's group among the peer's supplementary groups: "
              "allowed (SO_PEERGROUPS)");
    ASSERT_TRUE(uid == 61801 && gid == 61802 && pid == child,
                "the child's ids are reported");

    pool_with(&pool, 0, 61804);
    ASSERT_EQ(drover_peers_check(&pool, cfd, &uid, &gid, &pid), -EACCES,
              "a group the peer is not in: refused");

    close(cfd);
    close(lfd);
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "the child exited cleanly");
}


/* an IPv4 or IPv6 address and port as a sockaddr_storage */
static struct sockaddr_storage
peer_at(const char *addr)
{
    struct sockaddr_storage  ss;
    struct sockaddr_in      *sin = (struct sockaddr_in *) &ss;
    struct sockaddr_in6     *sin6 = (struct sockaddr_in6 *) &ss;

    memset(&ss, 0, sizeof(ss));

    if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
    }

    return ss;
}


/* allow_peers NET: CIDR matching, IPv4-mapped peers, loopback by default */
static void
test_nets(void)
{
    size_t                   n;
    drover_net_t             nets[4];
    struct sockaddr_storage  ss;

    ASSERT_EQ(drover_net_parse("10.1.2.3/8", &nets[0]), 0, "10.1.2.3/8");
    ASSERT_EQ(drover_net_parse("192.168.5.0/23", &nets[1]), 0,
              "192.168.5.0/23");
    ASSERT_EQ(drover_net_parse("fd00::/8", &nets[2]), 0, "fd00::/8");
    ASSERT_EQ(drover_net_parse("172.16.0.9", &nets[3]), 0, "172.16.0.9");
    n = 4;

    ASSERT_EQ(drover_net_parse("10.0.0.0/33", &nets[0]), -EINVAL,
              "/33 refused");
    ASSERT_EQ(drover_net_parse("10.0.0/8", &nets[0]), -EINVAL,
              "a partial address refused");
    ASSERT_EQ(drover_net_parse("10.0.0.0/", &nets[0]), -EINVAL,
              "an empty length refused");
    (void) drover_net_parse("10.1.2.3/8", &nets[0]);

    ss = peer_at("10.200.3.4");
    ASSERT_EQ(drover_net_allowed(nets, n, &ss), 1, "10.200.3.4 in 10/8");
    ss = peer_at("11.0.0.1");
    ASSERT_EQ(drover_net_allowed(nets, n, &ss), 0, "11.0.0.1 is not");
    ss = peer_at("192.168.4.1");
    ASSERT_EQ(drover_net_allowed(nets, n, &ss), 1, "192.168.4.1 in .5.0/23 "
              "(host bits cleared: .4.0/23)");
    ss = peer_at("192.168.6.1");
    ASSERT_EQ(drover_net_allowed(nets, n, &ss), 0, "192.168.6.1 is not");
    ss = peer_at("::ffff:10.9.9.9");
    ASSERT_EQ(drover_net_allowed(nets, n, &ss), 1,
              "an IPv4-mapped peer is matched as IPv4");
    ss = peer_at("fdab::1");
    ASSERT_EQ(drover_net_allowed(nets, n, &ss), 1, "fdab::1 in fd00::/8");
    ss = peer_at("fe80::1");
    ASSERT_EQ(drover_net_allowed(nets, n, &ss), 0, "fe80::1 is not");
    ss = peer_at("172.16.0.9");
    ASSERT_EQ(drover_net_allowed(nets, n, &ss), 1, "an address alone: /32");
    ss = peer_at("172.16.0.8");
    ASSERT_EQ(drover_net_allowed(nets, n, &ss), 0, "its neighbour is not");
    ss = peer_at("127.0.0.1");
    ASSERT_EQ(drover_net_allowed(nets, n, &ss), 0,
              "loopback is not allowed when networks are named");

    ss = peer_at("127.3.0.1");
    ASSERT_EQ(drover_net_allowed(nets, 0, &ss), 1, "none named: 127/8 is");
    ss = peer_at("::1");
    ASSERT_EQ(drover_net_allowed(nets, 0, &ss), 1, "none named: ::1 is");
    ss = peer_at("10.0.0.1");
    ASSERT_EQ(drover_net_allowed(nets, 0, &ss), 0,
              "none named: 10.0.0.1 is not");
}


int
main(void)
{
    test_socketpair();
    test_supplementary();
    test_nets();

    return tap_done();
}
