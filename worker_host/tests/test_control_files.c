/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_control_files.c -- the control socket's file: the group and mode
 * asked for, and what is already at its path (a stale socket, a live one, a
 * regular file, a symlink, no directory).  The fake manager and the client:
 * control_fixture.h.
 */

#include "control.h"
#include "control_fixture.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>
#include <uv.h>

/* tap.h's ASSERT_TRUE evaluates its condition twice: ours have effects */
#define CHECK(cond, name)                                                    \
    do {                                                                     \
        int  c_ = (cond);                                                    \
        ASSERT_TRUE(c_, name);                                               \
    } while (0)


/* ---- the socket file ---- */


static void
test_group(void)
{
    int            rc, n;
    gid_t          gid, groups[64];
    char           err[512];
    struct stat    st;
    struct group  *gr;

    /* a group we may give the socket to: any as root, else one of ours */
    gid = (gid_t) -1;

    if (geteuid() == 0) {
        gr = getgrnam("nogroup");
        gid = gr != NULL ? gr->gr_gid : 65534;

    } else {
        n = getgroups(64, groups);
        gid = n > 0 ? groups[n - 1] : getegid();
    }

    rc = control_begin(at("grp.sock"), 0660, gid, err, sizeof(err));
    ASSERT_EQ(rc, 0, "group: listening");
    if (rc != 0) {
        printf("#   %s\n", err);
        return;
    }

    CHECK(lstat(at("grp.sock"), &st) == 0, "group: the file is there");
    ASSERT_EQ(st.st_mode & 07777, 0660, "group: mode 0660 as asked");
    ASSERT_EQ(st.st_gid, gid, "group: the group as asked");

    control_stop();
}


static void
test_existing_files(void)
{
    int                 rc, fd, live;
    char                err[512], buf[64];
    ssize_t             n;
    struct stat         st;
    struct sockaddr_un  sa;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;

    /* stale: a socket file nobody listens on is replaced */
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", at("stale.sock"));
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0,
          "stale: a socket file left behind");
    close(fd);

    rc = control_begin(at("stale.sock"), DROVER_CONTROL_MODE, (gid_t) -1,
                       err, sizeof(err));
    ASSERT_EQ(rc, 0, "stale: replaced, listening");
    {
        client_t      c;
        json_object  *resp;

        CHECK(client_open(&c, at("stale.sock")) == 0, "stale: connected");
        resp = ask(&c, "{\"cmd\":\"version\"}");
        CHECK(is_ok(resp), "stale: served");
        json_object_put(resp);
        client_close(&c);
    }
    control_stop();

    /* live: another process's socket is refused and left alone */
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", at("live.sock"));
    live = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(bind(live, (struct sockaddr *) &sa, sizeof(sa)) == 0
          && listen(live, 4) == 0, "live: someone listens");

    rc = control_begin(at("live.sock"), DROVER_CONTROL_MODE, (gid_t) -1,
                       err, sizeof(err));
    ASSERT_EQ(rc, -EADDRINUSE, "live: refused");
    CHECK(strstr(err, "in use") != NULL, "live: the message says in use");
    CHECK(ctl == NULL, "live: no control");
    CHECK(lstat(at("live.sock"), &st) == 0 && S_ISSOCK(st.st_mode),
          "live: the file is still there");
    close(live);

    /* a regular file */
    fd = open(at("regular"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    n = write(fd, "keep me", 7);
    close(fd);
    CHECK(n == 7, "regular: a file with data");

    rc = control_begin(at("regular"), DROVER_CONTROL_MODE, (gid_t) -1, err,
                       sizeof(err));
    ASSERT_EQ(rc, -EEXIST, "regular: refused");
    CHECK(strstr(err, "a regular file") != NULL,
          "regular: the message says what it is");
    fd = open(at("regular"), O_RDONLY);
    n = read(fd, buf, sizeof(buf));
    close(fd);
    CHECK(n == 7 && memcmp(buf, "keep me", 7) == 0, "regular: untouched");

    /* a symlink, even to a stale socket */
    CHECK(symlink(at("stale-target"), at("link.sock")) == 0,
          "symlink: made");
    rc = control_begin(at("link.sock"), DROVER_CONTROL_MODE, (gid_t) -1, err,
                       sizeof(err));
    ASSERT_EQ(rc, -EEXIST, "symlink: refused");
    CHECK(strstr(err, "a symlink") != NULL, "symlink: said so");
    CHECK(lstat(at("link.sock"), &st) == 0 && S_ISLNK(st.st_mode),
          "symlink: untouched");

    /* a directory that is not there */
    rc = control_begin(at("nodir/ctl.sock"), DROVER_CONTROL_MODE, (gid_t) -1,
                       err, sizeof(err));
    CHECK(rc < 0 && strstr(err, "does its directory exist?") != NULL,
          "no directory: refused with a hint");

    uv_run(&loop, UV_RUN_DEFAULT);
}

int
main(void)
{
    int  rc;

    if (control_fixture_init() != 0) {
        return 1;
    }

    test_group();
    test_existing_files();

    uv_run(&loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&loop);
    ASSERT_EQ(rc, 0, "every handle closed: the loop closes");

    control_fixture_cleanup();

    return tap_done();
}
