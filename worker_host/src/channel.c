/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * channel.c -- see channel.h.
 */

#include "channel.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


int
drover_chan_send(int fd, const drover_chan_msg_t *msg, const int *fds,
    int nfds)
{
    struct iovec    iov;
    struct msghdr   mh;
    struct cmsghdr *cm;
    union {
        struct cmsghdr  align;
        char            buf[CMSG_SPACE(sizeof(int) * DROVER_CHAN_MAX_FDS)];
    } ctl;

    if (nfds < 0 || nfds > DROVER_CHAN_MAX_FDS) {
        return -EINVAL;
    }

    memset(&mh, 0, sizeof(mh));
    iov.iov_base = (void *) msg;
    iov.iov_len = sizeof(*msg);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;

    if (nfds > 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }

    for ( ;; ) {
        if (sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t) sizeof(*msg)) {
            return 0;
        }

        if (errno != EINTR) {
            return -errno;
        }
    }
}


int
drover_chan_recv(int fd, drover_chan_msg_t *msg, int *fds, int *nfds)
{
    int             i, n, got;
    ssize_t         len;
    struct iovec    iov;
    struct msghdr   mh;
    struct cmsghdr *cm;
    union {
        struct cmsghdr  align;
        char            buf[CMSG_SPACE(sizeof(int) * DROVER_CHAN_MAX_FDS)];
    } ctl;

    memset(&mh, 0, sizeof(mh));
    iov.iov_base = msg;
    iov.iov_len = sizeof(*msg);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof(ctl.buf);

    do {
        len = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    } while (len == -1 && errno == EINTR);

    if (len == -1) {
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? -EAGAIN : -errno;
    }

    if (len == 0) {
        return -EPIPE;
    }

    got = 0;

    for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            continue;
        }

        n = (int) ((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

        for (i = 0; i < n; i++) {
            int  rfd;

            memcpy(&rfd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));

            if (fds != NULL && got < DROVER_CHAN_MAX_FDS) {
                fds[got++] = rfd;
            } else {
                close(rfd);
            }
        }
    }

    if (nfds != NULL) {
        *nfds = got;
    }

    /* a longer datagram is cut to our size and flagged MSG_TRUNC */
    if (len != (ssize_t) sizeof(*msg)
        || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
    {
        for (i = 0; i < got; i++) {
            close(fds[i]);
        }

        return -EPROTO;
    }

    return 0;
}
