/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * hostile.c -- a tenant's app that attacks droverd, for t/hostile_app.t and
 * t/hostile_scoreboard.t.  Never deploy it.
 *
 * In the preloader (`preload on`), its init talks on the preloader's channel
 * to the root manager (fd 4, see worker_host/src/channel.h) as a hostile app
 * could, chosen by `app_param attack NAME;`:
 *
 *   forged_pid   answer the manager's first FORK with FORKED naming
 *                `app_param victim_pid N;` (a process that is not ours)
 *   self_pid     ... naming droverd itself (the preloader's parent)
 *   pid1         ... naming pid 1
 *   sibling      ... naming another child of droverd running as our user
 *                (another pool's worker or preloader), found in /proc
 *   slot200      FORKED {slot 200, victim_pid} before anyone asked
 *   garbage      seven bytes of garbage
 *   oversized    a 64 KiB datagram that starts like a valid READY
 *   ready_flood  READY a thousand times
 *   fds          READY with a file descriptor attached
 *   unknown      a message of type 99
 *
 * Each then waits (at most a minute) for the manager to act, so what the
 * manager read is the attack, not the READY the preloader sends after init.
 * Without `attack` the app is harmless: it answers "/" with "hostile\n".
 *
 * In a worker, GET /scribble?mode=own|all overwrites scoreboard entries (its
 * own, or every slot's) with implausible numbers, keeping each entry's pid
 * so that a check of the pid alone would pass: the scoreboard is shared
 * memory the tenant can write, found in /proc/self/maps.
 */

#include <drover.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


/* the wire format of worker_host/src/channel.h: keep the two in step */
typedef struct {
    uint32_t  type;
    uint32_t  slot;
    int32_t   pid;
    int32_t   err;
} hostile_chan_msg_t;

enum {
    CHAN_READY = 1,
    CHAN_FORK,
    CHAN_FORKED,
    CHAN_FORK_FAILED
};

#define CHAN_FD  4


/* the layout of worker_host/src/scoreboard.h's entry */
typedef struct {
    uint32_t   seq;
    uint32_t   state;
    int32_t    pid;
    uint32_t   reserved;
    uint64_t   requests;
    uint64_t   busy_us;
    uint64_t   request_start_us;
    char       uri[224];
} hostile_sb_slot_t;


static void
chan_send(uint32_t type, uint32_t slot, int32_t pid)
{
    hostile_chan_msg_t  m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.slot = slot;
    m.pid = pid;

    (void) send(CHAN_FD, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT);
}


/* the manager's first FORK request: its slot, or -1 */
static long
chan_wait_fork(void)
{
    int                 i;
    char                cbuf[CMSG_SPACE(sizeof(int) * 4)];
    ssize_t             n;
    struct iovec        iov;
    struct msghdr       mh;
    struct cmsghdr     *cm;
    hostile_chan_msg_t  m;

    for ( ;; ) {
        memset(&mh, 0, sizeof(mh));
        iov.iov_base = &m;
        iov.iov_len = sizeof(m);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof(cbuf);

        n = recvmsg(CHAN_FD, &mh, MSG_CMSG_CLOEXEC);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n != (ssize_t) sizeof(m)) {
            return -1;
        }

        for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
            for (i = 0; i < (int) ((cm->cmsg_len - CMSG_LEN(0))
                                   / sizeof(int)); i++)
            {
                int  fd;

                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                close(fd);
            }
        }

        if (m.type == CHAN_FORK) {
            return m.slot;
        }
    }
}


/* a process other than us whose parent is droverd and that runs as us */
static long
find_sibling(void)
{
    long            pid, ppid, found = -1;
    char            path[64], buf[1024], *p;
    FILE           *f;
    DIR            *d;
    struct dirent  *de;
    unsigned long   uid;

    d = opendir("/proc");
    if (d == NULL) {
        return -1;
    }

    while (found == -1 && (de = readdir(d)) != NULL) {
        pid = atol(de->d_name);
        if (pid <= 1 || pid == (long) getpid()) {
            continue;
        }

        snprintf(path, sizeof(path), "/proc/%ld/status", pid);
        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }

        ppid = -1;
        uid = (unsigned long) -1;

        while (fgets(buf, sizeof(buf), f) != NULL) {
            if (strncmp(buf, "PPid:", 5) == 0) {
                ppid = atol(buf + 5);
            } else if (strncmp(buf, "Uid:", 4) == 0) {
                uid = strtoul(buf + 4, &p, 10);
            }
        }

        fclose(f);

        if (ppid == (long) getppid() && uid == (unsigned long) getuid()) {
            found = pid;
        }
    }

    closedir(d);
    return found;
}


/* forge the FORKED answer to the manager's first FORK request */
static void
answer_fork(long victim)
{
    long  slot;

    chan_send(CHAN_READY, 0, 0);

    slot = chan_wait_fork();
    if (slot >= 0) {
        chan_send(CHAN_FORKED, (uint32_t) slot, (int32_t) victim);
    }
}


static void
attack(drover_ctx_t *ctx, const char *name)
{
    int                 i, fd;
    long                victim;
    char                cbuf[CMSG_SPACE(sizeof(int))], *big;
    const char         *v;
    struct iovec        iov;
    struct msghdr       mh;
    struct cmsghdr     *cm;
    hostile_chan_msg_t  m;

    v = drover_app_param(ctx, "victim_pid");
    victim = v != NULL ? atol(v) : 0;

    drover_log(ctx, DROVER_LOG_NOTICE, "hostile: attack %s (victim %ld)",
               name, victim);

    if (strcmp(name, "forged_pid") == 0) {
        answer_fork(victim);

    } else if (strcmp(name, "self_pid") == 0) {
        answer_fork((long) getppid());

    } else if (strcmp(name, "pid1") == 0) {
        answer_fork(1);

    } else if (strcmp(name, "sibling") == 0) {
        victim = find_sibling();
        drover_log(ctx, DROVER_LOG_NOTICE, "hostile: sibling pid %ld", victim);
        answer_fork(victim);

    } else if (strcmp(name, "slot200") == 0) {
        chan_send(CHAN_FORKED, 200, (int32_t) victim);

    } else if (strcmp(name, "garbage") == 0) {
        (void) send(CHAN_FD, "garbage", 7, MSG_NOSIGNAL);

    } else if (strcmp(name, "oversized") == 0) {
        big = calloc(1, 65536);
        if (big != NULL) {
            memset(&m, 0, sizeof(m));
            m.type = CHAN_READY;
            memcpy(big, &m, sizeof(m));
            (void) send(CHAN_FD, big, 65536, MSG_NOSIGNAL);
            free(big);
        }

    } else if (strcmp(name, "ready_flood") == 0) {
        for (i = 0; i < 1000; i++) {
            chan_send(CHAN_READY, 0, 0);
        }

    } else if (strcmp(name, "fds") == 0) {
        fd = dup(0);
        memset(&m, 0, sizeof(m));
        m.type = CHAN_READY;
        memset(&mh, 0, sizeof(mh));
        iov.iov_base = &m;
        iov.iov_len = sizeof(m);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof(cbuf);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        (void) sendmsg(CHAN_FD, &mh, MSG_NOSIGNAL);
        close(fd);

    } else if (strcmp(name, "unknown") == 0) {
        chan_send(99, 0, 0);

    } else {
        drover_log(ctx, DROVER_LOG_ERROR, "hostile: unknown attack \"%s\"",
                   name);
        return;
    }

    /* let the manager act on what it read; it kills us */
    for (i = 0; i < 60; i++) {
        sleep(1);
    }
}


static int
hostile_init(drover_ctx_t *ctx, void **state)
{
    const char  *name = drover_app_param(ctx, "attack");

    *state = NULL;

    if (name != NULL) {
        attack(ctx, name);
    }

    return 0;
}


/* the scoreboard mapping, from /proc/self/maps */
static hostile_sb_slot_t *
sb_find(size_t *n)
{
    char                buf[512];
    FILE               *f;
    unsigned long       lo, hi;
    hostile_sb_slot_t  *sb = NULL;

    f = fopen("/proc/self/maps", "r");
    if (f == NULL) {
        return NULL;
    }

    while (fgets(buf, sizeof(buf), f) != NULL) {
        if (strstr(buf, "droverd-scoreboard") != NULL
            && sscanf(buf, "%lx-%lx", &lo, &hi) == 2)
        {
            sb = (hostile_sb_slot_t *) lo;
            *n = (hi - lo) / sizeof(hostile_sb_slot_t);
            break;
        }
    }

    fclose(f);
    return sb;
}


/*
 * Its own entry: an unknown state, counters near 2^64, a request started
 * long before the worker.  A sibling's: "busy" in a request that started
 * just now, so its URI (control bytes, an escape sequence, bytes that are
 * not UTF-8) is shown.  Both keep their pid.
 */
static void
sb_scribble(hostile_sb_slot_t *e, uint64_t salt, int own)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    e->seq += 2;                      /* even: a reader takes it */
    e->state = own ? 77 : 3;
    e->requests = UINT64_MAX - salt;  /* 3e17 req/s and worse */
    e->busy_us = UINT64_MAX / 3 + salt;
    e->request_start_us = own ? 12345
                          : (uint64_t) ts.tv_sec * 1000000
                            + (uint64_t) ts.tv_nsec / 1000;
    memset(e->uri, 0xff, sizeof(e->uri));
    memcpy(e->uri, "/\x01\x1b[31m<script>", 14);
}


static int
hostile_handle(drover_req_t *req, void *state)
{
    int                 all;
    size_t              i, n;
    const char         *path = drover_req_path(req);
    hostile_sb_slot_t  *sb;

    (void) state;

    if (strcmp(path, "/scribble") != 0) {
        return drover_resp_write(req, "hostile\n", 8) == 8 ? 0 : -1;
    }

    all = strstr(drover_req_query(req), "mode=all") != NULL;

    sb = sb_find(&n);
    if (sb == NULL) {
        drover_resp_status(req, 404);
        return drover_resp_write(req, "no scoreboard\n", 14) == 14 ? 0 : -1;
    }

    for (i = 0; i < n; i++) {
        if (sb[i].pid == (int32_t) getpid()) {
            sb_scribble(&sb[i], i, 1);
        } else if (all) {
            sb_scribble(&sb[i], i, 0);
        }
    }

    return drover_resp_printf(req, "scribbled %s of %zu entries\n",
                              all ? "all" : "own", n) > 0 ? 0 : -1;
}


DROVER_APP(
    .name   = "hostile",
    .init   = hostile_init,
    .handle = hostile_handle,
);
