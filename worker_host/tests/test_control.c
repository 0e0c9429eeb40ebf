/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_control.c -- the control socket driven the way droverctl and a
 * hostile local user would drive it: commands, hostile requests, framing,
 * long lines, 64 clients, idle clients, clients that do not read, closing.
 * Its file (group, mode, what is already at the path): test_control_files.c.
 *
 * One process, one loop: clients are non-blocking sockets of the test's
 * own, and every wait turns the loop (UV_RUN_NOWAIT) between polls of the
 * client, so the server side runs exactly as in the manager.  The ops are
 * fakes that count their calls and remember their arguments.  The log
 * (stderr) goes to DIR/log, read back by some checks.  The fake manager and
 * the client: control_fixture.h.
 */

#include "control.h"
#include "control_fixture.h"
#include "tap.h"
#include "version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <uv.h>

/* tap.h's ASSERT_TRUE evaluates its condition twice: ours have effects */
#define CHECK(cond, name)                                                    \
    do {                                                                     \
        int  c_ = (cond);                                                    \
        ASSERT_TRUE(c_, name);                                               \
    } while (0)


/* ---- the checks the tests share ---- */

/* ask and check in one go; the answer is freed */
static void
expect_ok(client_t *c, const char *req, const char *name)
{
    json_object  *resp = ask(c, req);

    CHECK(is_ok(resp), name);
    json_object_put(resp);
}


static void
expect_error(client_t *c, const char *req, const char *needle,
    const char *name)
{
    json_object  *resp = ask(c, req);

    CHECK(is_error(resp, needle), name);
    json_object_put(resp);
}


/* ---- the tests ---- */

static void
test_start_and_mode(void)
{
    int          rc;
    char         err[512];
    struct stat  st;

    rc = control_begin(at("ctl.sock"), DROVER_CONTROL_MODE, (gid_t) -1, err,
                       sizeof(err));
    ASSERT_EQ(rc, 0, "start: listening");
    if (rc != 0) {
        printf("#   %s\n", err);
        return;
    }

    CHECK(lstat(at("ctl.sock"), &st) == 0 && S_ISSOCK(st.st_mode),
          "start: the socket file is there");
    ASSERT_EQ(st.st_mode & 07777, 0600, "start: mode 0600 by default");
    ASSERT_EQ(st.st_uid, geteuid(), "start: owned by our user");
    CHECK(log_has("control socket"), "start: logged");
}


static void
test_commands(void)
{
    client_t      c;
    json_object  *resp, *r, *v, *expect;
    char         *got;

    CHECK(client_open(&c, at("ctl.sock")) == 0, "commands: connected");

    /* version */
    resp = ask(&c, "{\"cmd\":\"version\"}");
    CHECK(is_ok(resp), "version: ok");
    ASSERT_STR_EQ(result_str(resp, "version"), DROVER_VERSION,
                  "version: the version");
    CHECK(json_object_object_get_ex(resp, "result", &r)
          && json_object_object_get_ex(r, "pid", &v)
          && json_object_get_int64(v) == (int64_t) getpid(),
          "version: droverd's pid");
    CHECK(json_object_object_get_ex(r, "protocol", &v)
          && json_object_get_int(v) == DROVER_CONTROL_PROTOCOL,
          "version: the protocol");
    json_object_put(resp);

    /* status, whole and for one pool */
    resp = ask(&c, "{\"cmd\":\"status\"}");
    CHECK(is_ok(resp), "status: ok");
    ASSERT_EQ(fake.status, 1, "status: the op ran once");
    CHECK(fake.pool_null, "status: for all pools");
    r = NULL;
    json_object_object_get_ex(resp, "result", &r);
    expect = json_tokener_parse(fake_status_json);
    CHECK(r != NULL && json_object_equal(r, expect),
          "status: the op's object is the result");
    json_object_put(expect);
    json_object_put(resp);

    resp = ask(&c, "{\"cmd\":\"status\",\"pool\":\"kit\"}");
    CHECK(is_ok(resp) && fake.status == 2 && !fake.pool_null
          && strcmp(fake.pool, "kit") == 0, "status kit: the op got \"kit\"");
    json_object_put(resp);

    /* the answer is one line of plain JSON: no escaped slashes */
    client_puts(&c, "{\"cmd\":\"status\"}\n");
    got = client_line(&c);
    CHECK(got != NULL && strstr(got, "\"/etc/drover/droverd.conf\"") != NULL
          && strncmp(got, "{\"ok\":true,\"result\":{", 21) == 0,
          "status: {\"ok\":true,\"result\":...} on one line");
    free(got);

    /* reload */
    resp = ask(&c, "{\"cmd\":\"reload\"}");
    CHECK(is_ok(resp) && fake.reload == 1, "reload: ok, the op ran");
    CHECK(json_object_object_get_ex(resp, "result", &r)
          && json_object_is_type(r, json_type_object)
          && json_object_object_length(r) == 0, "reload: result {}");
    json_object_put(resp);

    /* reload, stop, start of one pool: the pool ops, not droverd's */
    expect_ok(&c, "{\"cmd\":\"reload\",\"pool\":\"kit\"}", "reload kit: ok");
    CHECK(fake.pool_reload == 1 && fake.reload == 1
          && strcmp(fake.pool, "kit") == 0,
          "reload kit: the pool op got \"kit\", the whole reload did not run");
    expect_ok(&c, "{\"cmd\":\"stop\",\"pool\":\"kit\"}", "stop kit: ok");
    CHECK(fake.pool_stop == 1 && fake.stop == 0
          && strcmp(fake.pool, "kit") == 0,
          "stop kit: the pool op got \"kit\", droverd's stop did not run");
    expect_ok(&c, "{\"cmd\":\"start\",\"pool\":\"kit\"}", "start kit: ok");
    CHECK(fake.pool_start == 1 && strcmp(fake.pool, "kit") == 0,
          "start kit: the op got \"kit\"");
    expect_error(&c, "{\"cmd\":\"start\"}", "needs a \"pool\"",
                 "start without a pool: refused");
    expect_error(&c, "{\"cmd\":\"stop\",\"pool\":\"../x\"}",
                 "\"pool\" must be", "stop with a bad pool name: refused");
    ASSERT_EQ(fake.pool_stop, 1, "stop with a bad name: the op did not run");

    /* restart */
    expect_ok(&c, "{\"cmd\":\"restart\",\"pool\":\"kit\"}", "restart kit: ok");
    CHECK(fake.restart == 1 && strcmp(fake.pool, "kit") == 0,
          "restart kit: the op got \"kit\"");
    expect_error(&c, "{\"cmd\":\"restart\"}", "needs a \"pool\"",
                 "restart without a pool: refused");
    ASSERT_EQ(fake.restart, 1, "restart without a pool: the op did not run");

    /* scale */
    expect_ok(&c, "{\"cmd\":\"scale\",\"pool\":\"kit\",\"workers\":4}",
              "scale kit 4: ok");
    CHECK(fake.scale == 1 && fake.workers == 4
          && strcmp(fake.pool, "kit") == 0, "scale kit 4: the op got it");
    expect_ok(&c, "{\"cmd\":\"scale\",\"pool\":\"a.b_c-9\",\"workers\":1}",
              "scale to 1: ok");
    expect_ok(&c, "{\"cmd\":\"scale\",\"pool\":\"kit\",\"workers\":256}",
              "scale to 256: ok");
    ASSERT_EQ(fake.workers, 256, "scale to 256: the op got 256");

    /* stop */
    expect_ok(&c, "{\"cmd\":\"stop\"}", "stop: ok");
    ASSERT_EQ(fake.stop, 1, "stop: the op ran");

    /* id comes back */
    resp = ask(&c, "{\"id\":[7,\"x\"],\"cmd\":\"version\"}");
    CHECK(json_object_object_get_ex(resp, "id", &v)
          && strcmp(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
                    "[7,\"x\"]") == 0, "id: copied into the answer");
    json_object_put(resp);

    resp = ask(&c, "{\"id\":9,\"cmd\":\"nope\"}");
    CHECK(is_error(resp, "unknown command")
          && json_object_object_get_ex(resp, "id", &v)
          && json_object_get_int(v) == 9, "id: also with an error");
    json_object_put(resp);

    /* the ops' failures */
    fake.fail = 1;
    expect_error(&c, "{\"cmd\":\"restart\",\"pool\":\"nope\"}",
                 "restart: no pool named \"nope\"",
                 "op failure: its message is the error");
    expect_error(&c, "{\"cmd\":\"status\",\"pool\":\"nope\"}",
                 "no pool named \"nope\"", "status failure: its message");
    fake.fail = 0;

    fake.fail_silent = 1;
    expect_error(&c, "{\"cmd\":\"scale\",\"pool\":\"kit\",\"workers\":2}",
                 "scale failed: no such file or directory",
                 "op failure without a message: said from the code");
    expect_error(&c, "{\"cmd\":\"status\"}", "status failed",
                 "status NULL without a message");
    fake.fail_silent = 0;

    client_close(&c);
}


static void
test_hostile(void)
{
    int        i, scale_before;
    char      *deep;
    client_t   c;

    static const struct {
        const char  *req;
        const char  *error;
        const char  *name;
    } cases[] = {
        { "{\"cmd\":", "invalid JSON", "incomplete JSON" },
        { "not json", "invalid JSON", "not JSON" },
        { "{\"cmd\":\"version\"} x", "invalid JSON", "garbage after" },
        { "{\"cmd\":\"version\"}{\"cmd\":\"version\"}", "invalid JSON",
          "two objects on one line" },
        { "{\"cmd\":\"version\",}", "invalid JSON", "trailing comma" },
        { "{\"cmd\":\"\xff\xfe\"}", "invalid JSON", "invalid UTF-8" },
        { "[\"status\"]", "a request is a JSON object", "an array" },
        { "\"status\"", "a request is a JSON object", "a string" },
        { "42", "a request is a JSON object", "a number" },
        { "null", "a request is a JSON object", "null" },
        { "{}", "\"cmd\" is missing", "no cmd" },
        { "{\"cmd\":5}", "not a string", "cmd a number" },
        { "{\"cmd\":null}", "not a string", "cmd null" },
        { "{\"cmd\":\"STATUS\"}", "unknown command \"STATUS\"",
          "unknown command" },
        { "{\"cmd\":\"status\\u0000x\"}", "unknown command",
          "a command with an escaped NUL" },
        { "{\"cmd\":\"status\",\"pool\":5}", "\"pool\" must be a pool name",
          "pool a number" },
        { "{\"cmd\":\"status\",\"pool\":\"\"}", "\"pool\" must be",
          "pool empty" },
        { "{\"cmd\":\"restart\",\"pool\":\"../etc\"}", "\"pool\" must be",
          "pool with a slash" },
        { "{\"cmd\":\"restart\",\"pool\":\"a b\"}", "\"pool\" must be",
          "pool with a space" },
        { "{\"cmd\":\"restart\",\"pool\":\"k\\u0000t\"}", "\"pool\" must be",
          "pool with an escaped NUL" },
        { "{\"cmd\":\"restart\",\"pool\":"
          "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
          "\"pool\" must be", "pool of 65 characters" },
        { "{\"cmd\":\"version\",\"pool\":\"kit\"}", "takes no",
          "version with a pool" },
        { "{\"cmd\":\"scale\",\"pool\":\"kit\"}", "needs \"workers\"",
          "scale without workers" },
        { "{\"cmd\":\"scale\",\"workers\":2}", "needs a \"pool\"",
          "scale without a pool" },
        { "{\"cmd\":\"scale\",\"pool\":\"kit\",\"workers\":\"4\"}",
          "not a string", "workers a string" },
        { "{\"cmd\":\"scale\",\"pool\":\"kit\",\"workers\":4.5}",
          "not a fraction", "workers 4.5" },
        { "{\"cmd\":\"scale\",\"pool\":\"kit\",\"workers\":true}",
          "a whole number", "workers true" },
        { "{\"cmd\":\"scale\",\"pool\":\"kit\",\"workers\":0}",
          "from 1 to 256, got 0", "workers 0" },
        { "{\"cmd\":\"scale\",\"pool\":\"kit\",\"workers\":257}",
          "from 1 to 256, got 257", "workers 257" },
        { "{\"cmd\":\"scale\",\"pool\":\"kit\",\"workers\":-1}",
          "got -1", "workers -1" },
        { "{\"cmd\":\"scale\",\"pool\":\"kit\","
          "\"workers\":99999999999999999999999}", "from 1 to 256",
          "workers past 2^64" },
        { "{\"cmd\":\"scale\",\"pool\":\"kit\","
          "\"workers\":-99999999999999999999999}", "",
          "workers below -2^63" },
    };

    CHECK(client_open(&c, at("ctl.sock")) == 0, "hostile: connected");

    scale_before = fake.scale;

    for (i = 0; i < (int) (sizeof(cases) / sizeof(cases[0])); i++) {
        char  name[128];

        snprintf(name, sizeof(name), "hostile: %s: an error answer",
                 cases[i].name);
        expect_error(&c, cases[i].req, cases[i].error, name);
    }

    ASSERT_EQ(fake.scale, scale_before, "hostile: scale never ran");
    expect_ok(&c, "{\"cmd\":\"version\"}",
              "hostile: the connection still serves");

    /* a NUL byte on the wire */
    client_write(&c, "{\"cmd\":\"ver\0sion\"}\n", 19);
    {
        json_object  *resp = client_answer(&c);

        CHECK(is_error(resp, "NUL byte"), "hostile: a raw NUL byte");
        json_object_put(resp);
    }

    /* a long unknown command is not echoed whole */
    {
        char         *req;
        json_object  *resp, *e;

        req = malloc(10000);
        memcpy(req, "{\"cmd\":\"", 8);
        memset(req + 8, 'z', 9000);
        memcpy(req + 9008, "\"}", 3);

        resp = ask(&c, req);
        CHECK(is_error(resp, "unknown command")
              && json_object_object_get_ex(resp, "error", &e)
              && strlen(json_object_get_string(e)) < 512,
              "hostile: a 9000-byte command name is cut in the error");
        json_object_put(resp);
        free(req);
    }

    /* nesting far past json-c's depth */
    deep = malloc(20002);
    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    deep[20000] = '\0';
    expect_error(&c, deep, "invalid JSON", "hostile: 10000 levels deep");
    free(deep);

    expect_ok(&c, "{\"cmd\":\"version\"}", "hostile: still serving after all");

    client_close(&c);
}


static void
test_framing(void)
{
    int           i, n, names;
    char         *line, *req;
    size_t        len;
    client_t      c;
    json_object  *resp, *v;

    CHECK(client_open(&c, at("ctl.sock")) == 0, "framing: connected");

    /* two requests in one write, answered in order */
    client_puts(&c, "{\"cmd\":\"version\",\"id\":1}\n"
                    "{\"cmd\":\"status\",\"id\":2}\n");
    resp = client_answer(&c);
    CHECK(is_ok(resp) && json_object_object_get_ex(resp, "id", &v)
          && json_object_get_int(v) == 1, "framing: two in one write: first");
    json_object_put(resp);
    resp = client_answer(&c);
    CHECK(is_ok(resp) && json_object_object_get_ex(resp, "id", &v)
          && json_object_get_int(v) == 2, "framing: two in one write: second");
    json_object_put(resp);

    /* one request a byte at a time, the loop turning in between */
    req = "{\"cmd\":\"restart\",\"pool\":\"split\"}\n";
    n = fake.restart;
    for (i = 0; req[i] != '\0'; i++) {
        client_write(&c, req + i, 1);
        spin(1);
    }
    resp = client_answer(&c);
    CHECK(is_ok(resp) && fake.restart == n + 1
          && strcmp(fake.pool, "split") == 0,
          "framing: a request split at every byte");
    json_object_put(resp);

    /* empty lines are no requests; CRLF is fine */
    client_puts(&c, "\n\r\n   \n{\"cmd\":\"version\",\"id\":3}\r\n"
                    "{\"cmd\":\"version\",\"id\":4}\n");
    resp = client_answer(&c);
    CHECK(is_ok(resp) && json_object_object_get_ex(resp, "id", &v)
          && json_object_get_int(v) == 3,
          "framing: empty lines skipped, CRLF accepted");
    json_object_put(resp);
    resp = client_answer(&c);
    json_object_put(resp);

    /* many at once: every one answered, in order */
    {
        char  *batch = malloc(200 * 40);

        len = 0;
        for (i = 0; i < 200; i++) {
            len += (size_t) sprintf(batch + len,
                                    "{\"cmd\":\"version\",\"id\":%d}\n", i);
        }
        client_write(&c, batch, len);
        free(batch);

        names = 0;
        for (i = 0; i < 200; i++) {
            resp = client_answer(&c);
            names += is_ok(resp) && json_object_object_get_ex(resp, "id", &v)
                     && json_object_get_int(v) == i;
            json_object_put(resp);
        }
        ASSERT_EQ(names, 200, "framing: 200 pipelined requests, in order");
    }

    /* a line of exactly DROVER_CONTROL_LINE_MAX bytes is a request */
    len = DROVER_CONTROL_LINE_MAX;
    req = malloc(len + 2);
    memset(req, ' ', len);
    memcpy(req, "{\"cmd\":\"version\",\"pad\":\"", 24);
    memset(req + 24, 'p', len - 24 - 2);
    memcpy(req + len - 2, "\"}", 2);
    req[len] = '\n';
    client_write(&c, req, len + 1);
    resp = client_answer(&c);
    CHECK(is_ok(resp), "framing: a line of exactly 64 KiB is answered");
    json_object_put(resp);
    expect_ok(&c, "{\"cmd\":\"version\"}", "framing: and the next one too");
    free(req);

    client_close(&c);

    /* a last request without its newline, then EOF: answered, closed */
    CHECK(client_open(&c, at("ctl.sock")) == 0, "framing: connected again");
    client_puts(&c, "{\"cmd\":\"version\",\"id\":5}");
    shutdown(c.fd, SHUT_WR);
    line = client_line(&c);
    CHECK(line != NULL && strstr(line, "\"id\":5") != NULL,
          "framing: a last request before EOF is answered");
    free(line);
    CHECK(client_closed(&c, WAIT_MS), "framing: then the connection closes");
    client_close(&c);
}


static void
test_long_lines(void)
{
    char         *req;
    size_t        len;
    client_t      c;
    json_object  *resp;

    /* one byte over, with its newline in the same write */
    CHECK(client_open(&c, at("ctl.sock")) == 0, "long: connected");
    len = DROVER_CONTROL_LINE_MAX + 1;
    req = malloc(len + 1);
    memset(req, ' ', len);
    memcpy(req, "{\"cmd\":\"version\"}", 17);
    req[len] = '\n';
    client_write(&c, req, len + 1);
    resp = client_answer(&c);
    CHECK(is_error(resp, "longer than 65536 bytes"),
          "long: 64 KiB + 1: an error answer");
    json_object_put(resp);
    CHECK(client_closed(&c, WAIT_MS), "long: 64 KiB + 1: then closed");
    free(req);
    client_close(&c);

    /* 1 MiB without any newline: cut off, memory stays bounded */
    CHECK(client_open(&c, at("ctl.sock")) == 0, "long: connected again");
    len = 1 << 20;
    req = malloc(len);
    memset(req, 'a', len);
    (void) client_write(&c, req, len);     /* EPIPE once it is closed */
    resp = client_answer(&c);
    CHECK(is_error(resp, "longer than"), "long: 1 MiB without a newline: "
          "an error answer");
    json_object_put(resp);
    CHECK(client_closed(&c, WAIT_MS), "long: 1 MiB: then closed");
    CHECK(log_has("longer than 65536 bytes, closing"), "long: logged");
    free(req);
    client_close(&c);

    spin(20);
    ASSERT_EQ(drover__control_clients(ctl), 0, "long: no client left");
}


static void
test_max_clients(void)
{
    int           i, refused, served;
    char         *line;
    client_t      c[DROVER_CONTROL_MAX_CLIENTS + 1];
    json_object  *resp;

    for (i = 0; i < DROVER_CONTROL_MAX_CLIENTS; i++) {
        if (client_open(&c[i], at("ctl.sock")) != 0) {
            break;
        }
        spin(1);
    }
    ASSERT_EQ(i, DROVER_CONTROL_MAX_CLIENTS, "clients: 64 connected");
    spin(20);
    ASSERT_EQ(drover__control_clients(ctl), DROVER_CONTROL_MAX_CLIENTS,
              "clients: 64 accepted");

    CHECK(client_open(&c[i], at("ctl.sock")) == 0, "clients: a 65th connects");
    line = client_line(&c[i]);
    refused = line != NULL && strstr(line, "too many") != NULL;
    CHECK(refused, "clients: the 65th is told why");
    free(line);
    CHECK(client_closed(&c[i], WAIT_MS), "clients: and closed");
    client_close(&c[i]);

    served = 0;
    for (i = 0; i < DROVER_CONTROL_MAX_CLIENTS; i++) {
        resp = ask(&c[i], "{\"cmd\":\"version\"}");
        served += is_ok(resp);
        json_object_put(resp);
    }
    ASSERT_EQ(served, DROVER_CONTROL_MAX_CLIENTS,
              "clients: the 64 others all served");

    client_close(&c[0]);
    spin(20);
    CHECK(client_open(&c[0], at("ctl.sock")) == 0, "clients: one leaves, "
          "another connects");
    resp = ask(&c[0], "{\"cmd\":\"version\"}");
    CHECK(is_ok(resp), "clients: and is served");
    json_object_put(resp);

    for (i = 0; i < DROVER_CONTROL_MAX_CLIENTS; i++) {
        client_close(&c[i]);
    }

    spin(50);
    ASSERT_EQ(drover__control_clients(ctl), 0, "clients: all gone");
}


static void
test_idle(void)
{
    client_t      c, busy;
    uint64_t      t0;
    json_object  *resp;

    drover__control_set_idle_ms(ctl, 300);

    CHECK(client_open(&c, at("ctl.sock")) == 0, "idle: connected");
    CHECK(client_open(&busy, at("ctl.sock")) == 0, "idle: another one");
    t0 = now_ms();

    /* the busy one keeps asking, the other says nothing */
    while (now_ms() - t0 < 600) {
        resp = ask(&busy, "{\"cmd\":\"version\"}");
        json_object_put(resp);
        spin(50);
    }

    CHECK(client_closed(&c, 1000), "idle: a silent client is closed");
    resp = ask(&busy, "{\"cmd\":\"version\"}");
    CHECK(is_ok(resp), "idle: a talking client is not");
    json_object_put(resp);

    client_close(&c);
    client_close(&busy);
    drover__control_set_idle_ms(ctl, DROVER_CONTROL_IDLE_MS);
    spin(20);
}


static void
test_output_limit(void)
{
    int        i, rcvbuf;
    char       batch[40 * 20];
    size_t     len;
    client_t   c;

    CHECK(client_open(&c, at("ctl.sock")) == 0, "output: connected");
    rcvbuf = 4096;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    spin(10);

    fake.big = 1;
    len = 0;
    for (i = 0; i < 40; i++) {
        len += (size_t) sprintf(batch + len, "{\"cmd\":\"status\"}\n");
    }
    client_write(&c, batch, len);

    /* never read: 40 x 256 KiB is past 4 MiB */
    for (i = 0; i < 300 && drover__control_clients(ctl) > 0; i++) {
        spin(10);
    }
    fake.big = 0;

    ASSERT_EQ(drover__control_clients(ctl), 0,
              "output: a client that does not read is closed");
    CHECK(fake.status < 40, "output: its other requests were dropped");
    CHECK(log_has("does not read its answers"), "output: logged");
    CHECK(client_closed(&c, WAIT_MS), "output: the client sees EOF");
    client_close(&c);
}


static void
test_close(void)
{
    client_t     c, quiet;
    struct stat  st;

    CHECK(client_open(&c, at("ctl.sock")) == 0, "close: a client");
    CHECK(client_open(&quiet, at("ctl.sock")) == 0, "close: another");
    spin(10);

    /* a request in flight when the control closes */
    client_puts(&c, "{\"cmd\":\"status\"}\n{\"cmd\":\"status\"}\n");
    control_stop();

    CHECK(lstat(at("ctl.sock"), &st) != 0 && errno == ENOENT,
          "close: the socket file is removed");
    CHECK(client_closed(&c, WAIT_MS) && client_closed(&quiet, WAIT_MS),
          "close: clients see EOF");
    client_close(&c);
    client_close(&quiet);

    CHECK(client_open(&c, at("ctl.sock")) == -ENOENT,
          "close: nothing to connect to");
    client_close(&c);
}


static void
test_close_in_op(void)
{
    int          rc;
    char         err[512];
    client_t     c;
    struct stat  st;

    rc = control_begin(at("ctl.sock"), DROVER_CONTROL_MODE, (gid_t) -1, err,
                       sizeof(err));
    ASSERT_EQ(rc, 0, "close in op: listening again on the same path");

    CHECK(client_open(&c, at("ctl.sock")) == 0, "close in op: connected");

    /* stop closes the control from inside the op; more lines follow */
    fake.close_in_stop = 1;
    fake.stop = 0;
    fake.status = 0;
    client_puts(&c, "{\"cmd\":\"stop\"}\n{\"cmd\":\"status\"}\n");
    CHECK(client_closed(&c, WAIT_MS), "close in op: the client sees EOF");
    ASSERT_EQ(fake.stop, 1, "close in op: stop ran");
    ASSERT_EQ(fake.status, 0, "close in op: nothing ran after the close");
    fake.close_in_stop = 0;
    client_close(&c);

    ctl = NULL;
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(lstat(at("ctl.sock"), &st) != 0, "close in op: the file is gone");
}


int
main(void)
{
    int  rc;

    if (control_fixture_init() != 0) {
        return 1;
    }

    test_start_and_mode();

    if (ctl != NULL) {
        test_commands();
        test_hostile();
        test_framing();
        test_long_lines();
        test_max_clients();
        test_idle();
        test_output_limit();
        test_close();
    }

    test_close_in_op();

    uv_run(&loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&loop);
    ASSERT_EQ(rc, 0, "every handle closed: the loop closes");

    control_fixture_cleanup();

    return tap_done();
}
