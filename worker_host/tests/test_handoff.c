/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_handoff.c -- handoff.c without processes: which connections may be
 * handed, the watcher handing a readable one while a request is armed (and
 * none when it is not, or ended first), the busy worker dropping its copy,
 * and the channel refusing anything but one Unix stream socket.
 */

#include "tap.h"
#include "app.h"
#include "handoff.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>


static drover_pool_conf_t    pool;
static drover_ctx_t          ctx;
static drover_worker_args_t  args;
static drover__worker_t      worker;
static int                   chan[2];


/* a connection of the worker and the front end's end of it */
static drover__conn_t *
conn_new(int *peer)
{
    int  sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   sv) != 0)
    {
        return NULL;
    }

    *peer = sv[1];

    return drover__conn_accept(&worker, sv[0], 0);
}


/* wait up to ms for a handed connection on the channel: its fd, or < 0 */
static int
chan_recv(int ms)
{
    int            fd;
    struct pollfd  pfd;

    pfd.fd = chan[1];
    pfd.events = POLLIN;
    pfd.revents = 0;

    if (poll(&pfd, 1, ms) != 1) {
        return -ETIMEDOUT;
    }

    fd = drover__handoff_recv(chan[1]);

    return fd;
}


/* fd and peer are the two ends of one connection */
static int
same_connection(int fd, int peer)
{
    char           c = 0;
    struct pollfd  pfd;

    if (write(fd, "z", 1) != 1) {
        return 0;
    }

    pfd.fd = peer;
    pfd.events = POLLIN;
    pfd.revents = 0;

    return poll(&pfd, 1, 1000) == 1 && read(peer, &c, 1) == 1 && c == 'z';
}


static int
in_list(drover__conn_t *c)
{
    drover__conn_t  *p;

    for (p = worker.conns; p != NULL; p = p->next) {
        if (p == c) {
            return 1;
        }
    }

    return 0;
}


static void
test_candidate(void)
{
    drover__conn_t  c;

    memset(&c, 0, sizeof(c));
    drover_fcgi_parser_init(&c.parser);
    ASSERT_TRUE(drover__handoff_candidate(&c),
                "an idle shared-socket connection may be handed");

    c.slot = 1;
    ASSERT_TRUE(!drover__handoff_candidate(&c),
                "a slot socket's connection is not (the module's)");
    c.slot = 0;

    c.in_len = 8;
    ASSERT_TRUE(!drover__handoff_candidate(&c),
                "nor one with bytes read and not yet parsed");
    c.in_pos = 8;
    ASSERT_TRUE(drover__handoff_candidate(&c),
                "once they are all parsed, it may again");

    c.req_id = 1;
    ASSERT_TRUE(!drover__handoff_candidate(&c), "nor one with a request");
    c.req_id = 0;

    c.drain_id = 1;
    ASSERT_TRUE(!drover__handoff_candidate(&c),
                "nor one with STDIN left to drain");
    c.drain_id = 0;

    c.shut = 1;
    ASSERT_TRUE(!drover__handoff_candidate(&c), "nor one shut for a stop");
    c.shut = 0;

    c.broken = 1;
    ASSERT_TRUE(!drover__handoff_candidate(&c), "nor a broken one");
}


static void
test_handed(void)
{
    int              pa, pb, fd;
    unsigned         n;
    drover__conn_t  *busy, *a, *b;
    struct timespec  ts = { 0, 10 * 1000 * 1000 };

    busy = conn_new(&pb);
    a = conn_new(&pa);
    ASSERT_TRUE(busy != NULL && a != NULL, "two connections");
    n = worker.nconns;

    /* not armed: nothing is handed, the loop will read it */
    ASSERT_EQ(write(pa, "x", 1), 1, "the front end writes on the idle one");
    ASSERT_EQ(chan_recv(50), -ETIMEDOUT, "not armed: nothing handed");

    /* armed and disarmed before DROVER_HANDOFF_DELAY_MS: nothing either */
    drover__handoff_arm(&worker, busy);
    drover__handoff_disarm(&worker);
    ASSERT_EQ(chan_recv(50), -ETIMEDOUT, "a fast request: nothing handed");
    ASSERT_TRUE(in_list(a), "and the connection stays");

    /* armed and long: the readable one goes, unread */
    drover__handoff_arm(&worker, busy);
    fd = chan_recv(1000);
    ASSERT_TRUE(fd >= 0, "a long request: the readable connection handed");
    ASSERT_TRUE(fd >= 0 && same_connection(fd, pa),
                "the descriptor is that connection");
    ASSERT_TRUE(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC),
                "close-on-exec in the adopter");

    nanosleep(&ts, NULL);
    ASSERT_EQ(chan_recv(20), -ETIMEDOUT, "handed once, not twice");

    ASSERT_TRUE(in_list(a), "the busy worker holds it until the request ends");
    drover__handoff_disarm(&worker);
    ASSERT_TRUE(!in_list(a), "then drops it");
    ASSERT_EQ(worker.nconns, n - 1, "one connection fewer");

    /* the adopter's copy still reads the byte the busy worker never read */
    if (fd >= 0) {
        char  c = 0;

        ASSERT_TRUE(read(fd, &c, 1) == 1 && c == 'x',
                    "the adopter reads the request from its first byte");
        close(fd);
    }

    /* the busy connection itself is never handed */
    a = conn_new(&pa);
    ASSERT_EQ(write(pb, "y", 1), 1, "the busy connection becomes readable");
    drover__handoff_arm(&worker, busy);
    ASSERT_EQ(chan_recv(50), -ETIMEDOUT, "its own connection is not handed");
    drover__handoff_disarm(&worker);

    b = conn_new(&fd);
    ASSERT_TRUE(b != NULL, "another connection");
    b->in_len = 1;
    ASSERT_EQ(write(fd, "w", 1), 1, "readable, with a byte already read");
    drover__handoff_arm(&worker, busy);
    ASSERT_EQ(chan_recv(50), -ETIMEDOUT, "a connection partly read stays");
    drover__handoff_disarm(&worker);
    b->in_len = 0;
    drover__conn_close(b);
    close(fd);

    /* a front end that closed: left to the loop, not handed */
    close(pa);
    drover__handoff_arm(&worker, busy);
    ASSERT_EQ(chan_recv(50), -ETIMEDOUT, "a closed connection is not handed");
    drover__handoff_disarm(&worker);
    ASSERT_TRUE(in_list(a), "it stays for the loop to close");

    close(pb);
}


static void
test_recv_refuses(void)
{
    int  p[2];

    ASSERT_EQ(drover__handoff_recv(chan[1]), -EAGAIN, "an empty channel");

    if (pipe(p) != 0) {
        ASSERT_TRUE(0, "pipe");
        return;
    }

    ASSERT_EQ(drover__handoff_send(chan[0], p[0]), 0, "a pipe sent");
    ASSERT_EQ(drover__handoff_recv(chan[1]), -EBADMSG,
              "refused: not a Unix stream socket");
    ASSERT_EQ(send(chan[0], "c", 1, 0), 1, "a message without a descriptor");
    ASSERT_EQ(drover__handoff_recv(chan[1]), -EBADMSG, "refused");

    close(p[0]);
    close(p[1]);
}


int
main(void)
{
    int              rc;
    drover__conn_t  *c;

    pool.name = "t";
    pool.io_timeout_ms = 1000;
    ctx.slot = 0;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   chan) != 0)
    {
        printf("Bail out! socketpair\n");
        return 1;
    }

    args.pool = &pool;
    args.ctx = &ctx;
    args.slot_fd = -1;
    args.shared_fd = -1;
    args.handoff_fds[0] = chan[0];
    args.handoff_fds[1] = chan[1];

    worker.args = &args;
    worker.pool = &pool;
    uv_loop_init(&worker.loop);
    worker.loop.data = &worker;

    rc = drover__handoff_init(&worker);
    ASSERT_EQ(rc, 0, "the watcher starts");
    ASSERT_TRUE(worker.handoff != NULL, "with its state");

    test_candidate();
    test_handed();
    test_recv_refuses();

    /* everything closed, the watcher joined: nothing left for ASan */
    while ((c = worker.conns) != NULL) {
        drover__conn_close(c);
    }

    drover__handoff_listen_close(&worker);
    drover__handoff_fini(&worker);
    ASSERT_TRUE(worker.handoff == NULL, "the watcher joined");
    drover__handoff_fini(&worker);

    uv_run(&worker.loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(&worker.loop), 0, "no handle left open");

    close(chan[0]);
    close(chan[1]);

    return tap_done();
}
