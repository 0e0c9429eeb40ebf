/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_notify.c -- systemd's notify protocol against our own listener: a
 * datagram socket in a temp dir (and an abstract one) plays systemd,
 * with SO_PASSCRED on, as systemd has it, to see whose pid sent each message.
 */

#include "log.h"
#include "notify.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

/*
 * tap.h's ASSERT_TRUE evaluates its condition twice (for the verdict and
 * for the diagnostic); ours have side effects (receive a datagram, reap):
 * evaluate once.
 */
#define CHECK(cond, name)                                                    \
    do {                                                                     \
        int  c_ = (cond);                                                    \
        ASSERT_TRUE(c_, name);                                               \
    } while (0)

static char  dir[PATH_MAX];


/* a datagram socket at PATH (or "@name": abstract), as systemd makes it */
static int
listener(const char *path)
{
    int                 fd, on = 1;
    size_t              len = strlen(path);
    socklen_t           alen;
    struct sockaddr_un  sa;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;

    if (path[0] == '@') {
        memcpy(sa.sun_path + 1, path + 1, len - 1);
        alen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len);
    } else {
        memcpy(sa.sun_path, path, len + 1);
        alen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + 1);
    }

    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd == -1 || bind(fd, (struct sockaddr *) &sa, alen) != 0
        || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0)
    {
        printf("Bail out! listener %s: %s\n", path, strerror(errno));
        exit(1);
    }

    return fd;
}


/*
 * One datagram within timeout_ms into buf (NUL-terminated), its sender's
 * pid into *pid; returns its length, or -1 when none came.
 */
static ssize_t
receive(int fd, char *buf, size_t size, int timeout_ms, pid_t *pid)
{
    char            cbuf[CMSG_SPACE(sizeof(struct ucred))];
    ssize_t         n;
    struct iovec    iov;
    struct msghdr   mh;
    struct pollfd   pfd;
    struct cmsghdr *cm;

    pfd.fd = fd;
    pfd.events = POLLIN;

    if (poll(&pfd, 1, timeout_ms) != 1) {
        return -1;
    }

    iov.iov_base = buf;
    iov.iov_len = size - 1;
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof(cbuf);

    n = recvmsg(fd, &mh, 0);
    if (n < 0) {
        return -1;
    }

    buf[n] = '\0';
    *pid = 0;

    for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET
            && cm->cmsg_type == SCM_CREDENTIALS)
        {
            struct ucred  uc;

            memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
            *pid = uc.pid;
        }
    }

    return n;
}


static void
env_clear(void)
{
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}


/* ---- the watchdog: the loop runs for ms, pings are counted ---- */

static void
stop_cb(uv_timer_t *t)
{
    uv_stop(t->loop);
}


/* runs a loop with notify for ms; returns the WATCHDOG=1 datagrams */
static int
watchdog_pings(int lfd, unsigned ms, int *init_rc, int *others)
{
    int               pings;
    char              buf[256];
    pid_t             pid;
    uv_loop_t         loop;
    uv_timer_t        stop;
    drover_notify_t   n;

    uv_loop_init(&loop);
    *init_rc = drover_notify_init(&n, &loop);

    uv_timer_init(&loop, &stop);
    uv_timer_start(&stop, stop_cb, ms, 0);
    uv_run(&loop, UV_RUN_DEFAULT);

    drover_notify_close(&n);
    uv_close((uv_handle_t *) &stop, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);

    if (uv_loop_close(&loop) != 0) {
        printf("# the loop still has handles\n");
        *init_rc = -1000;
    }

    pings = 0;
    *others = 0;

    while (receive(lfd, buf, sizeof(buf), 0, &pid) >= 0) {
        if (strcmp(buf, "WATCHDOG=1") == 0 && pid == getpid()) {
            pings++;
        } else {
            (*others)++;
        }
    }

    return pings;
}


/* ---- tests ---- */

static void
test_no_socket(void)
{
    int               rc;
    uv_loop_t         loop;
    drover_notify_t   n;

    env_clear();
    setenv("WATCHDOG_USEC", "200000", 1);

    uv_loop_init(&loop);
    rc = drover_notify_init(&n, &loop);

    ASSERT_EQ(rc, 0, "no NOTIFY_SOCKET: init returns 0");
    ASSERT_EQ(n.fd, -1, "no NOTIFY_SOCKET: off");
    ASSERT_EQ(drover_notify_send(&n, "READY=1"), 0,
              "no NOTIFY_SOCKET: send is a no-op returning 0");
    CHECK(getenv("WATCHDOG_USEC") == NULL,
          "no NOTIFY_SOCKET: WATCHDOG_USEC still removed");
    ASSERT_EQ(n.watchdog_init, 0, "no NOTIFY_SOCKET: no watchdog timer");

    drover_notify_close(&n);
    drover_notify_close(&n);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(&loop), 0, "no NOTIFY_SOCKET: nothing left on "
              "the loop");
}


static void
test_path_socket(void)
{
    int               lfd, rc;
    char              path[PATH_MAX + 16], buf[256];
    pid_t             pid;
    uv_loop_t         loop;
    drover_notify_t   n;

    env_clear();
    snprintf(path, sizeof(path), "%s/notify.sock", dir);
    lfd = listener(path);
    setenv("NOTIFY_SOCKET", path, 1);

    uv_loop_init(&loop);
    rc = drover_notify_init(&n, &loop);

    ASSERT_EQ(rc, 0, "path socket: init");
    CHECK(getenv("NOTIFY_SOCKET") == NULL,
          "path socket: NOTIFY_SOCKET removed from the environment");
    CHECK(n.fd >= 0 && (fcntl(n.fd, F_GETFD) & FD_CLOEXEC)
          && (fcntl(n.fd, F_GETFL) & O_NONBLOCK),
          "path socket: the socket is CLOEXEC and non-blocking");

    ASSERT_EQ(drover_notify_send(&n, "READY=1\nSTATUS=serving %d pools", 2),
              0, "path socket: send READY");
    CHECK(receive(lfd, buf, sizeof(buf), 1000, &pid) > 0
          && strcmp(buf, "READY=1\nSTATUS=serving 2 pools") == 0,
          "path socket: READY=1 and STATUS arrive as one datagram");
    ASSERT_EQ(pid, getpid(), "path socket: sent by our own pid "
              "(NotifyAccess=main)");

    drover_notify_send(&n, "RELOADING=1");
    CHECK(receive(lfd, buf, sizeof(buf), 1000, &pid) > 0
          && strcmp(buf, "RELOADING=1") == 0,
          "path socket: RELOADING=1");

    CHECK(receive(lfd, buf, sizeof(buf), 300, &pid) < 0,
          "path socket: no watchdog pings without WATCHDOG_USEC");

    drover_notify_close(&n);
    ASSERT_EQ(drover_notify_send(&n, "STOPPING=1"), 0,
              "path socket: after close, sends are no-ops");

    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(&loop), 0, "path socket: nothing left on the "
              "loop");

    close(lfd);
    unlink(path);
}


static void
test_abstract_socket(void)
{
    int               lfd, rc;
    char              name[64], buf[256];
    pid_t             pid;
    uv_loop_t         loop;
    drover_notify_t   n;

    env_clear();
    snprintf(name, sizeof(name), "@drover-test-notify-%ld", (long) getpid());
    lfd = listener(name);
    setenv("NOTIFY_SOCKET", name, 1);

    uv_loop_init(&loop);
    rc = drover_notify_init(&n, &loop);
    ASSERT_EQ(rc, 0, "abstract socket: init");

    drover_notify_send(&n, "STOPPING=1");
    CHECK(receive(lfd, buf, sizeof(buf), 1000, &pid) > 0
          && strcmp(buf, "STOPPING=1") == 0,
          "abstract socket: STOPPING=1 arrives");

    drover_notify_close(&n);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    close(lfd);
}


static void
test_watchdog(void)
{
    int    lfd, rc, pings, others;
    char   path[PATH_MAX + 16], pid[32];

    snprintf(path, sizeof(path), "%s/watchdog.sock", dir);
    lfd = listener(path);

    /* WATCHDOG_PID ours: a ping every 100 ms */
    env_clear();
    snprintf(pid, sizeof(pid), "%ld", (long) getpid());
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "200000", 1);
    setenv("WATCHDOG_PID", pid, 1);

    pings = watchdog_pings(lfd, 500, &rc, &others);
    ASSERT_EQ(rc, 0, "watchdog: init");
    CHECK(pings >= 3 && pings <= 6,
          "watchdog: WATCHDOG_USEC=200000 pings every 100 ms "
          "(3 to 6 in 500 ms)");
    if (pings < 3 || pings > 6) {
        printf("#   %d pings\n", pings);
    }

    ASSERT_EQ(others, 0, "watchdog: nothing else was sent");
    CHECK(getenv("WATCHDOG_USEC") == NULL
          && getenv("WATCHDOG_PID") == NULL,
          "watchdog: WATCHDOG_* removed from the environment");

    /* no WATCHDOG_PID: ours too */
    env_clear();
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "200000", 1);

    pings = watchdog_pings(lfd, 350, &rc, &others);
    CHECK(rc == 0 && pings >= 2, "watchdog: WATCHDOG_PID unset: pings");

    /* WATCHDOG_PID of another process: not ours */
    env_clear();
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "200000", 1);
    setenv("WATCHDOG_PID", "1", 1);

    pings = watchdog_pings(lfd, 500, &rc, &others);
    CHECK(rc == 0 && pings == 0,
          "watchdog: WATCHDOG_PID of another pid: no pings");

    close(lfd);
    unlink(path);
}


static int
log_has(const char *path, const char *needle)
{
    int      fd;
    char     buf[8192];
    ssize_t  n;

    fd = open(path, O_RDONLY);
    n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0) {
        close(fd);
    }

    if (n < 0) {
        return 0;
    }

    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}


static int
log_count(const char *path, const char *needle)
{
    int      fd, count;
    char     buf[8192], *s;
    ssize_t  n;

    fd = open(path, O_RDONLY);
    n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0) {
        close(fd);
    }

    if (n < 0) {
        return -1;
    }

    buf[n] = '\0';
    count = 0;

    for (s = strstr(buf, needle); s != NULL; s = strstr(s + 1, needle)) {
        count++;
    }

    return count;
}


static void
test_failures(void)
{
    int               rc, err_fd, log_fd, r1, r2;
    char              path[PATH_MAX + 32], logp[PATH_MAX + 16], big[5000];
    uv_loop_t         loop;
    drover_notify_t   n;

    /* the log into a file for a moment */
    snprintf(logp, sizeof(logp), "%s/log", dir);
    log_fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    err_fd = dup(STDERR_FILENO);
    dup2(log_fd, STDERR_FILENO);

    /* not a path, not @abstract */
    env_clear();
    setenv("NOTIFY_SOCKET", "relative/notify", 1);
    uv_loop_init(&loop);
    rc = drover_notify_init(&n, &loop);

    dup2(err_fd, STDERR_FILENO);
    ASSERT_EQ(rc, -EINVAL, "bad NOTIFY_SOCKET: -EINVAL");
    CHECK(getenv("NOTIFY_SOCKET") == NULL, "bad NOTIFY_SOCKET: removed "
          "from the environment all the same");
    ASSERT_EQ(drover_notify_send(&n, "READY=1"), 0,
              "bad NOTIFY_SOCKET: sends are no-ops");
    CHECK(log_has(logp, "NOTIFY_SOCKET \"relative/notify\" is neither"),
          "bad NOTIFY_SOCKET: logged");
    drover_notify_close(&n);

    /* nobody listening: failures are returned, logged once, not fatal */
    dup2(log_fd, STDERR_FILENO);
    snprintf(path, sizeof(path), "%s/nobody-listens.sock", dir);
    setenv("NOTIFY_SOCKET", path, 1);
    rc = drover_notify_init(&n, &loop);
    r1 = drover_notify_send(&n, "READY=1\nSTATUS=x");
    r2 = drover_notify_send(&n, "STATUS=y");
    dup2(err_fd, STDERR_FILENO);

    CHECK(rc == 0 && r1 == -ENOENT && r2 == -ENOENT,
          "nobody listening: sends fail with -ENOENT");
    ASSERT_EQ(log_count(logp, "cannot notify systemd"), 1,
              "nobody listening: logged once");
    CHECK(log_has(logp, "cannot notify systemd (\"READY=1\"); further "
                  "failures are logged at debug level"),
          "nobody listening: the log line has the message's first "
          "line only");

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    dup2(log_fd, STDERR_FILENO);
    r1 = drover_notify_send(&n, "STATUS=%s", big);
    dup2(err_fd, STDERR_FILENO);
    ASSERT_EQ(r1, -EMSGSIZE, "too long a message: -EMSGSIZE");

    drover_notify_close(&n);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(&loop), 0, "failures: nothing left on the loop");

    close(err_fd);
    close(log_fd);
    unlink(logp);
}


static void
walk_close_cb(uv_handle_t *h, void *arg)
{
    (void) arg;

    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}


static void
test_close_after_walk(void)
{
    int               lfd, rc;
    char              path[PATH_MAX + 16];
    uv_loop_t         loop;
    drover_notify_t   n;

    /* the manager's shutdown closes every handle with a uv_walk() */
    snprintf(path, sizeof(path), "%s/walk.sock", dir);
    lfd = listener(path);
    env_clear();
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "1000000", 1);

    uv_loop_init(&loop);
    rc = drover_notify_init(&n, &loop);
    uv_walk(&loop, walk_close_cb, NULL);
    drover_notify_close(&n);
    uv_run(&loop, UV_RUN_DEFAULT);

    CHECK(rc == 0 && uv_loop_close(&loop) == 0,
          "close after a uv_walk() that closed the timer");

    close(lfd);
    unlink(path);
}


int
main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);

    snprintf(dir, sizeof(dir), "%s/drover-notify-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }

    test_no_socket();
    test_path_socket();
    test_abstract_socket();
    test_watchdog();
    test_failures();
    test_close_after_walk();

    rmdir(dir);

    return tap_done();
}
