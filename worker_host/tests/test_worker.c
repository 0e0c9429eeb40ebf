/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_worker.c -- a worker (drover_worker_run) end to end: a forked child
 * serves a built-in app on Unix sockets in a temporary directory, and a
 * FastCGI client written with fcgi.h's encoders and parser talks to it,
 * sending and receiving at once (an echo of 1 MiB would deadlock
 * otherwise).  Waits poll with deadlines.  The fixture is in
 * worker_fixture.c; requests refused for what they are, in
 * test_worker_refused.c.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "conf.h"
#include "fcgi.h"
#include "log.h"
#include "tap.h"
#include "worker.h"
#include "worker_fixture.h"


/* ---- the tests ---- */

static void
test_simple_get(void)
{
    int      fd;
    reply_t  r;

    fd = client_connect(slot_path);

    ASSERT_EQ(do_request(fd, 1, 0, "/", &r), 0, "simple GET answered");
    ASSERT_STR_EQ((char *) r.out.data,
                  "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\n",
                  "status, default content type, body");
    ASSERT_TRUE(r.stdout_ended && r.protocol_status == 0
                && r.app_status == 0 && r.end_id == 1,
                "empty STDOUT then END_REQUEST(0, REQUEST_COMPLETE)");
    ASSERT_EQ(r.misaligned, 0, "records padded to 8");
    ASSERT_TRUE(wait_eof(fd, WAIT_MS) >= 0,
                "without KEEP_CONN the worker closes the connection");

    close(fd);
    reply_free(&r);

    fd = client_connect(shared_path);
    ASSERT_EQ(do_request(fd, 7, 1, "/init", &r), 0, "shared socket served");
    ASSERT_STR_EQ(reply_body(&r), "1", "worker_init ran");
    close(fd);
    reply_free(&r);
}


static void
test_keepalive(void)
{
    int      fd, i;
    reply_t  r;
    char     name[32];

    fd = client_connect(slot_path);

    for (i = 1; i <= 3; i++) {
        snprintf(name, sizeof(name), "keepalive request %d", i);
        ASSERT_EQ(do_request(fd, (unsigned) i, 1, "/", &r), 0, name);
        ASSERT_STR_EQ(reply_body(&r), "hello\n", "keepalive body");
        reply_free(&r);
    }

    ASSERT_EQ(wait_eof(fd, 200), -1, "KEEP_CONN connection stays open");

    close(fd);
}


static void
test_params_records(void)
{
    int          fd, i;
    char        *big, *bigp, other[64][32];
    buf_t        b = { 0 };
    reply_t      r;
    const char  *params[80];

    big = malloc(20001);
    memset(big, 'v', 20000);
    big[20000] = '\0';
    memcpy(big, "X_BIG=", 6);

    params[0] = "REQUEST_URI=/param?name=X_BIG";
    params[1] = big;
    for (i = 0; i < 64; i++) {
        snprintf(other[i], sizeof(other[i]), "P_%d=%d", i, i * i);
        params[2 + i] = other[i];
    }
    params[66] = "HTTP_USER_AGENT=test/1.0";
    params[67] = NULL;

    /* 7-byte records: every 4-byte length is split across records */
    add_begin(&b, 1, DROVER_FCGI_RESPONDER, 1);
    add_params(&b, 1, params, 7);
    add_record(&b, DROVER_FCGI_PARAMS, 1, NULL, 0, 0);
    add_record(&b, DROVER_FCGI_STDIN, 1, NULL, 0, 0);

    fd = client_connect(slot_path);
    reply_init(&r, DROVER_FCGI_END_REQUEST, 1);
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "params in 7-byte records answered");
    bigp = big + 6;
    ASSERT_TRUE(strcmp(reply_body(&r), bigp) == 0,
                "a 19994-byte value (4-byte length) split over records");
    reply_free(&r);

    ASSERT_EQ(do_request(fd, 2, 1, "/header?name=User-Agent", &r), 0,
              "header request");
    ASSERT_STR_EQ(reply_body(&r), "test/1.0", "drover_req_header");
    reply_free(&r);

    ASSERT_EQ(do_request(fd, 3, 1, "/header?name=content_length", &r), 0,
              "content-length header request");
    ASSERT_STR_EQ(reply_body(&r), "0", "Content-Length maps to CONTENT_LENGTH");
    reply_free(&r);

    ASSERT_EQ(do_request(fd, 4, 1, "/info?x=1&a=b%20c+d%2", &r), 0,
              "info request");
    ASSERT_STR_EQ(reply_body(&r), "method=GET uri=/info?x=1&a=b%20c+d%2 "
                  "path=/info query=x=1&a=b%20c+d%2 a=[b c d%2] cl=0",
                  "method, uri, path, query, decoded arg");
    reply_free(&r);

    close(fd);
    free(b.data);
    free(big);
}


/* one request with exactly these params on fd; its body in out */
static int
whoami(int fd, unsigned id, const char *const *params, char *out,
    size_t size)
{
    int      rc;
    buf_t    b = { 0 };
    reply_t  r;

    add_begin(&b, id, DROVER_FCGI_RESPONDER, 1);
    add_params(&b, id, params, 65535);
    add_record(&b, DROVER_FCGI_PARAMS, id, NULL, 0, 0);
    add_record(&b, DROVER_FCGI_STDIN, id, NULL, 0, 0);

    reply_init(&r, DROVER_FCGI_END_REQUEST, id);
    rc = exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS);
    snprintf(out, size, "%s", rc == 0 ? reply_body(&r) : "(no answer)");
    reply_free(&r);
    free(b.data);

    return rc;
}


/*
 * httpoxy: HTTP_PROXY from the front end never reaches the app.  Paths:
 * drover_req_path is the path the front end routed on (DOCUMENT_URI, else
 * SCRIPT_NAME + PATH_INFO), else REQUEST_URI's path decoded and
 * normalised like nginx's $uri; drover_req_uri stays the raw target.
 */
static void
test_path_and_proxy(void)
{
    int          fd;
    size_t       i;
    unsigned     id;
    char         got[8192], want[8192], name[256], *longp;
    const char  *params[8];

    static const char  *const proxied[] = {
        "TEST_WHOAMI=1", "REQUEST_URI=/params", "HTTP_PROXY=http://evil:1/",
        "HTTP_X_A=a", "HTTP_PROXY=", "HTTP_PROXYX=kept", "HTTP_PROX=kept",
        NULL
    };

    /* front end's path params: DOCUMENT_URI, SCRIPT_NAME, PATH_INFO */
    static const struct {
        const char  *doc, *script, *info, *uri, *path;
    } routed[] = {
        { "/pid", NULL, NULL, "/x/../p%69d?a=1", "/pid" },
        { "/pid", "/s", "/i", "/x", "/pid" },
        { "", "/s", NULL, "/x", "/s" },
        { NULL, "/app", "/x/y", "/app/x%2Fy", "/app/x/y" },
        { NULL, "/app/x", "", "/app/x", "/app/x" },
        { NULL, "", "/only", "/only", "/only" },
        { NULL, NULL, "/only", "/only?", "/only" },
        /* as sent: the front end decoded and normalised them */
        { "/a%2Fb", NULL, NULL, "/a%252Fb", "/a%2Fb" },
    };

    /* REQUEST_URI alone: decoded and normalised here */
    static const struct {
        const char  *uri, *path;
    } raw[] = {
        { "/x/../pid", "/pid" },
        { "/p%69d", "/pid" },
        { "/%2e%2e/admin", "/admin" },
        { "/a/%2E%2e/b", "/b" },
        { "/.%2e/x", "/x" },
        { "/a%2fb", "/a/b" },
        { "/a%2F..%2Fadmin?q=1", "/admin" },
        { "/x/..%2f..%2fadmin/", "/admin/" },
        { "//a///b//", "/a/b/" },
        { "/a/./b/.", "/a/b/" },
        { "/../../etc/passwd", "/etc/passwd" },
        { "/a/b/..", "/a/" },
        { "/a/..", "/" },
        { "/..", "/" },
        { "/...//x", "/.../x" },
        { "/a/..b/c.", "/a/..b/c." },
        { "/a%00b", "/a%00b" },
        { "/a%zzb%4", "/a%zzb%4" },
        { "/a+b%20c", "/a+b c" },
        { "/%252e%252e/x", "/%2e%2e/x" },
        { "relative/x", "/relative/x" },
        { "/x#frag", "/x" },
        { "?x=1", "/" },
        { "", "/" },
    };

    fd = client_connect(slot_path);
    id = 1;

    /* ---- httpoxy ---- */

    ASSERT_EQ(whoami(fd, id++, proxied, got, sizeof(got)), 0,
              "httpoxy: request answered");
    ASSERT_STR_EQ(got, "path=/params uri=/params proxy=(null) header=(null) "
                  "names=TEST_WHOAMI,REQUEST_URI,HTTP_X_A,HTTP_PROXYX,"
                  "HTTP_PROX",
                  "httpoxy: no HTTP_PROXY by param, header or iteration "
                  "(set or empty, twice); the others kept in order");

    /* ---- the routed path ---- */

    for (i = 0; i < sizeof(routed) / sizeof(routed[0]); i++) {
        size_t  np = 0;
        char    d[128], s[128], pi[128], u[128];

        params[np++] = "TEST_WHOAMI=1";
        snprintf(u, sizeof(u), "REQUEST_URI=%s", routed[i].uri);
        params[np++] = u;
        if (routed[i].doc != NULL) {
            snprintf(d, sizeof(d), "DOCUMENT_URI=%s", routed[i].doc);
            params[np++] = d;
        }
        if (routed[i].script != NULL) {
            snprintf(s, sizeof(s), "SCRIPT_NAME=%s", routed[i].script);
            params[np++] = s;
        }
        if (routed[i].info != NULL) {
            snprintf(pi, sizeof(pi), "PATH_INFO=%s", routed[i].info);
            params[np++] = pi;
        }
        params[np] = NULL;

        whoami(fd, id++, params, got, sizeof(got));
        snprintf(want, sizeof(want), "path=%s uri=%s ", routed[i].path,
                 routed[i].uri);
        snprintf(name, sizeof(name), "DOCUMENT_URI=%s SCRIPT_NAME=%s "
                 "PATH_INFO=%s: path %s, uri raw",
                 routed[i].doc ? routed[i].doc : "-",
                 routed[i].script ? routed[i].script : "-",
                 routed[i].info ? routed[i].info : "-", routed[i].path);
        ASSERT_TRUE(strncmp(got, want, strlen(want)) == 0, name);
        if (strncmp(got, want, strlen(want)) != 0) {
            printf("#   got \"%s\"\n#   want \"%s...\"\n", got, want);
        }
    }

    /* ---- REQUEST_URI only ---- */

    for (i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
        char  u[128];

        snprintf(u, sizeof(u), "REQUEST_URI=%s", raw[i].uri);
        params[0] = "TEST_WHOAMI=1";
        params[1] = u;
        params[2] = NULL;

        whoami(fd, id++, params, got, sizeof(got));
        snprintf(want, sizeof(want), "path=%s uri=%s ", raw[i].path,
                 raw[i].uri);
        snprintf(name, sizeof(name), "REQUEST_URI \"%s\" only: path %s, "
                 "uri raw", raw[i].uri, raw[i].path);
        ASSERT_TRUE(strncmp(got, want, strlen(want)) == 0, name);
        if (strncmp(got, want, strlen(want)) != 0) {
            printf("#   got \"%s\"\n#   want \"%s...\"\n", got, want);
        }
    }

    params[0] = "TEST_WHOAMI=1";
    params[1] = NULL;
    whoami(fd, id++, params, got, sizeof(got));
    ASSERT_STR_EQ(got, "path=/ uri=/ proxy=(null) header=(null) "
                  "names=TEST_WHOAMI", "no path parameter at all: /");

    /* a long target through the scratch buffer, then a short one again */
    longp = malloc(3 * 2000 + 32);
    strcpy(longp, "REQUEST_URI=");
    for (i = 0; i < 2000; i++) {
        memcpy(longp + 12 + 3 * i, i % 2 ? "%2f" : "a/.", 3);
    }
    longp[12 + 3 * 2000] = '\0';
    params[1] = longp;
    params[2] = NULL;
    whoami(fd, id++, params, got, sizeof(got));
    ASSERT_TRUE(strncmp(got, "path=/a/a/a/", 12) == 0
                && strstr(got, " uri=a/.%2f") != NULL,
                "a 6000-byte target: decoded and normalised, raw kept");
    free(longp);

    params[1] = "REQUEST_URI=/p%69d";
    whoami(fd, id++, params, got, sizeof(got));
    ASSERT_TRUE(strncmp(got, "path=/pid uri=/p%69d ", 21) == 0,
                "then a short one: the scratch buffer reused");

    close(fd);
}


static void
test_echo(void)
{
    int            fd, ok;
    size_t         i, off, n, blen;
    uint8_t       *body;
    buf_t          b = { 0 };
    reply_t        r;
    const size_t   rec_sizes[] = { 1, 4093, 65535, 777, 8, 30000 };
    const size_t   writes[] = { 1, 3, 8191, 65541, 13, 100003 };

    blen = 1024 * 1024;
    body = malloc(blen);
    for (i = 0; i < blen; i++) {
        body[i] = (uint8_t) (i * 131 + (i >> 9));
    }

    add_begin(&b, 5, DROVER_FCGI_RESPONDER, 1);
    {
        const char *params[] = { "REQUEST_URI=/echo", "CONTENT_LENGTH=1048576",
                                 NULL };
        add_params(&b, 5, params, 100);
    }
    add_record(&b, DROVER_FCGI_PARAMS, 5, NULL, 0, 0);

    for (off = 0, i = 0; off < blen; off += n, i++) {
        n = rec_sizes[i % 6];
        if (n > blen - off) {
            n = blen - off;
        }
        add_record(&b, DROVER_FCGI_STDIN, 5, body + off, n,
                   (unsigned) (i % 3 == 0 ? 0 : drover_fcgi_padding(n) + 8
                               * (i % 4)));
    }
    add_record(&b, DROVER_FCGI_STDIN, 5, NULL, 0, 0);

    fd = client_connect(shared_path);
    reply_init(&r, DROVER_FCGI_END_REQUEST, 5);
    ASSERT_EQ(exchange(fd, b.data, b.len, writes, 6, &r, WAIT_MS), 0,
              "1 MiB echo answered");

    ok = r.out.len > 0 && blen == r.out.len - (size_t) (reply_body(&r)
                                                 - (char *) r.out.data)
         && memcmp(reply_body(&r), body, blen) == 0;
    ASSERT_TRUE(ok, "1 MiB body echoed intact through drover_req_read");
    ASSERT_EQ(r.misaligned, 0, "echo records padded to 8");
    reply_free(&r);

    ASSERT_EQ(do_request(fd, 6, 1, "/", &r), 0,
              "next request on the connection after 1 MiB");
    reply_free(&r);

    close(fd);
    free(b.data);
    free(body);
}


static void
test_read_all(void)
{
    int      fd;
    buf_t    b = { 0 };
    reply_t  r;

    fd = client_connect(slot_path);

    add_request(&b, 1, 1, "/readall?max=10", (const uint8_t *) "0123456789",
                10);
    reply_init(&r, DROVER_FCGI_END_REQUEST, 1);
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "read_all answered");
    ASSERT_STR_EQ(reply_body(&r), "10:0123456789", "read_all of max bytes");
    reply_free(&r);

    /* 11 bytes, max 10: -1, and the unread rest is dropped */
    b.len = 0;
    add_request(&b, 1, 1, "/readall?max=10", (const uint8_t *) "0123456789A",
                11);
    reply_init(&r, DROVER_FCGI_END_REQUEST, 1);
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "read_all too long answered");
    ASSERT_STR_EQ(reply_body(&r), "-1:", "read_all past max: -1");
    reply_free(&r);

    /* an app that reads nothing: the body is drained before the next one */
    b.len = 0;
    {
        uint8_t  *junk = calloc(1, 200000);

        add_request(&b, 1, 1, "/", junk, 200000);
        free(junk);
    }
    add_request(&b, 1, 1, "/init", NULL, 0);
    reply_init(&r, DROVER_FCGI_END_REQUEST, 1);
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "unread 200 KB body answered");
    ASSERT_STR_EQ(reply_body(&r), "hello\n", "first answer");
    r.done = 0;
    r.out.len = 0;
    ASSERT_EQ(exchange(fd, NULL, 0, NULL, 0, &r, WAIT_MS), 0,
              "pipelined request after an unread body answered");
    ASSERT_STR_EQ(reply_body(&r), "1", "second answer");
    reply_free(&r);

    close(fd);
    free(b.data);
}


/*
 * An app that stops reading in the middle of the body: the rest, inside the
 * STDIN record it stopped in and after it, is drained, and the connection
 * serves its next request.  Bodies end on and off record boundaries; reads
 * stop on and off them; the last cases answer 64 KiB before reading, so the
 * worker first takes in up to 8 MiB of the body (DROVER__PREREAD_MAX).
 */
static void
test_partial_body(pid_t pid)
{
    int           fd, ok;
    char          uri[64], want[32], what[128];
    size_t        i, k, expect, blen;
    const char   *body;
    uint8_t      *data;
    buf_t         b = { 0 };
    reply_t       r;
    const size_t  writes[] = { 65536, 7, 4096, 100003 };

    static const struct {
        size_t  body;
        size_t  chunk;
        long    n;
        long    kb;
    } cases[] = {
        { 70000, 65535, 100, 0 },            /* the POST */
        { 200000, 8192, 100, 0 },
        { 65535, 65535, 100, 0 },            /* body ends on a record */
        { 131070, 65535, 65535, 0 },         /* read ends on a record */
        { 100000, 1000, 4500, 0 },           /* read ends inside one */
        { 100000, 65535, 0, 0 },             /* reads nothing */
        { 100000, 65535, 1, 0 },
        { 70000, 65535, 70000, 0 },          /* reads it all */
        { 9 * 1024 * 1024, 65535, 100, 64 }, /* preread stops at 8 MiB */
        { 9 * 1024 * 1024 + 17, 30000, 0, 64 },
        { 8 * 1024 * 1024 + 1, 65535, 8 * 1024 * 1024 + 1, 64 },
    };

    blen = 9 * 1024 * 1024 + 17;
    data = malloc(blen);
    for (i = 0; i < blen; i++) {
        data[i] = (uint8_t) (i * 7 + 3);
    }

    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        fd = client_connect(k % 2 ? slot_path : shared_path);

        snprintf(uri, sizeof(uri), "/peek?n=%ld&kb=%ld", cases[k].n,
                 cases[k].kb);
        expect = (size_t) cases[k].n < cases[k].body ? (size_t) cases[k].n
                                                     : cases[k].body;
        snprintf(want, sizeof(want), "peeked %zu", expect);
        snprintf(what, sizeof(what), "body %zu in records of %zu, app "
                 "reads %ld after %ld KiB", cases[k].body, cases[k].chunk,
                 cases[k].n, cases[k].kb);

        b.len = 0;
        add_request_in(&b, 3, 1, uri, data, cases[k].body, cases[k].chunk);
        reply_init(&r, DROVER_FCGI_END_REQUEST, 3);
        ASSERT_EQ(exchange(fd, b.data, b.len, writes, 4, &r, WAIT_MS * 4),
                  0, what);

        body = reply_body(&r);
        ok = strlen(body) == (size_t) cases[k].kb * 1024 + strlen(want)
             && strcmp(body + cases[k].kb * 1024, want) == 0;
        ASSERT_TRUE(ok, want);
        ASSERT_EQ(send_rest(fd, b.data, b.len, &r), 0,
                  "the rest of the body is taken in");
        reply_free(&r);

        ASSERT_EQ(do_request(fd, 4, 1, "/", &r), 0,
                  "the connection serves its next request");
        ASSERT_STR_EQ(reply_body(&r), "hello\n", "and answers it");
        reply_free(&r);

        close(fd);
    }

    ASSERT_EQ(wait_exit(pid, 0), -1, "no partial read crashed the worker");

    free(b.data);
    free(data);
}


static void
test_big_response(void)
{
    int          fd, ok;
    size_t       i;
    reply_t      r;
    const char  *body;

    fd = client_connect(slot_path);

    ASSERT_EQ(do_request(fd, 1, 1, "/big?kb=200", &r), 0,
              "200 KiB response answered");

    body = reply_body(&r);
    ok = strlen(body) == 200 * 1024;
    for (i = 0; ok && i < 200 * 1024; i++) {
        ok = body[i] == (char) ('a' + i % 26);
    }

    ASSERT_TRUE(ok, "200 KiB body intact");
    ASSERT_TRUE(r.nstdout >= 4, "several STDOUT records");
    ASSERT_EQ(r.misaligned, 0, "every record padded to 8");
    reply_free(&r);

    ASSERT_EQ(do_request(fd, 2, 1, "/bigone?kb=300", &r), 0,
              "300 KiB in one write answered");
    body = reply_body(&r);
    ok = strlen(body) == 300 * 1024 && body[0] == 'x';
    for (i = 1; ok && i < 300 * 1024; i++) {
        ok = body[i] == (char) ('a' + (i - 1) % 26);
    }
    ASSERT_TRUE(ok, "300 KiB body intact");
    ASSERT_EQ(r.misaligned, 0, "direct records padded to 8");
    reply_free(&r);

    close(fd);
}


static void
test_management(void)
{
    int       fd;
    size_t    off, nl, vl;
    buf_t     b = { 0 }, q = { 0 };
    reply_t   r;
    uint8_t   tmp[64];
    char      got[256];

    fd = client_connect(slot_path);

    buf_add(&q, tmp, drover_fcgi_pair_encode(tmp, sizeof(tmp),
                                             "FCGI_MAX_CONNS", 14, "", 0));
    buf_add(&q, tmp, drover_fcgi_pair_encode(tmp, sizeof(tmp), "FCGI_NOPE",
                                             9, "", 0));
    buf_add(&q, tmp, drover_fcgi_pair_encode(tmp, sizeof(tmp),
                                             "FCGI_MPXS_CONNS", 15, "", 0));
    add_record(&b, DROVER_FCGI_GET_VALUES, 0, q.data, q.len, 3);

    reply_init(&r, DROVER_FCGI_GET_VALUES_RESULT, 0);
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "GET_VALUES answered");

    got[0] = '\0';
    off = 0;
    while (drover_fcgi_pair_decode(r.body.data, r.body.len, &off, &nl, &vl)
           == 1)
    {
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%.*s=%.*s;",
                 (int) nl, (char *) r.body.data + off, (int) vl,
                 (char *) r.body.data + off + nl);
        off += nl + vl;
    }
    ASSERT_STR_EQ(got, "FCGI_MAX_CONNS=1024;FCGI_MPXS_CONNS=0;",
                  "GET_VALUES_RESULT has the names asked for");
    reply_free(&r);

    b.len = 0;
    add_record(&b, 99, 0, "junk", 4, 4);
    reply_init(&r, DROVER_FCGI_UNKNOWN_TYPE, 0);
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "unknown management type answered");
    ASSERT_TRUE(r.mgmt_type == DROVER_FCGI_UNKNOWN_TYPE && r.body.len == 8
                && r.body.data[0] == 99, "UNKNOWN_TYPE names type 99");
    reply_free(&r);

    ASSERT_EQ(do_request(fd, 1, 1, "/", &r), 0,
              "requests still served after management records");
    reply_free(&r);

    close(fd);
    free(b.data);
    free(q.data);
}


static void
test_roles_and_mpx(void)
{
    int          fd;
    buf_t        b = { 0 };
    reply_t      r;
    const char  *params[] = { "REQUEST_URI=/", NULL };

    fd = client_connect(slot_path);

    add_begin(&b, 1, DROVER_FCGI_AUTHORIZER, 1);
    reply_init(&r, DROVER_FCGI_END_REQUEST, 1);
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "AUTHORIZER answered");
    ASSERT_EQ(r.protocol_status, DROVER_FCGI_UNKNOWN_ROLE,
              "AUTHORIZER: FCGI_UNKNOWN_ROLE");
    reply_free(&r);

    /* request 1 busy (params not ended), then request 2 */
    b.len = 0;
    add_begin(&b, 1, DROVER_FCGI_RESPONDER, 1);
    add_params(&b, 1, params, 65535);
    add_begin(&b, 2, DROVER_FCGI_RESPONDER, 1);
    reply_init(&r, DROVER_FCGI_END_REQUEST, 2);
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "second id on a busy connection answered");
    ASSERT_TRUE(r.end_id == 2
                && r.protocol_status == DROVER_FCGI_CANT_MPX_CONN,
                "second id: FCGI_CANT_MPX_CONN");
    reply_free(&r);

    b.len = 0;
    add_record(&b, DROVER_FCGI_PARAMS, 1, NULL, 0, 0);
    add_record(&b, DROVER_FCGI_STDIN, 1, NULL, 0, 0);
    reply_init(&r, DROVER_FCGI_END_REQUEST, 1);
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "first request still completes");
    ASSERT_STR_EQ(reply_body(&r), "hello\n", "first request's body");
    reply_free(&r);

    /* AUTHORIZER without KEEP_CONN: answered, then closed */
    b.len = 0;
    add_begin(&b, 3, DROVER_FCGI_FILTER, 0);
    reply_init(&r, DROVER_FCGI_END_REQUEST, 3);
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "FILTER answered");
    ASSERT_EQ(r.protocol_status, DROVER_FCGI_UNKNOWN_ROLE,
              "FILTER: FCGI_UNKNOWN_ROLE");
    ASSERT_TRUE(wait_eof(fd, WAIT_MS) >= 0, "and closed without KEEP_CONN");
    reply_free(&r);

    close(fd);
    free(b.data);
}


static void
test_abort(void)
{
    int          fd;
    buf_t        b = { 0 };
    reply_t      r;
    const char  *params[] = { "REQUEST_URI=/abort", NULL };

    fd = client_connect(slot_path);

    /* in the app: it reads 3 bytes, then -1 */
    add_begin(&b, 1, DROVER_FCGI_RESPONDER, 1);
    add_params(&b, 1, params, 65535);
    add_record(&b, DROVER_FCGI_PARAMS, 1, NULL, 0, 0);
    add_record(&b, DROVER_FCGI_STDIN, 1, "abc", 3, 5);
    add_record(&b, DROVER_FCGI_ABORT_REQUEST, 1, NULL, 0, 0);
    reply_init(&r, DROVER_FCGI_END_REQUEST, 1);
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "aborted request ends");
    ASSERT_TRUE(r.protocol_status == DROVER_FCGI_REQUEST_COMPLETE
                && r.out.len == 0, "END_REQUEST and no STDOUT");
    reply_free(&r);

    ASSERT_EQ(do_request(fd, 2, 1, "/last", &r), 0, "next request");
    ASSERT_STR_EQ(reply_body(&r), "-1 3",
                  "the app read 3 bytes, then -1 after the abort");
    reply_free(&r);

    /* before the app: END_REQUEST at once */
    b.len = 0;
    add_begin(&b, 3, DROVER_FCGI_RESPONDER, 1);
    add_params(&b, 3, params, 65535);
    add_record(&b, DROVER_FCGI_ABORT_REQUEST, 3, NULL, 0, 0);
    reply_init(&r, DROVER_FCGI_END_REQUEST, 3);
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "request aborted before dispatch ends at once");
    ASSERT_EQ(r.out.len, 0, "no STDOUT");
    reply_free(&r);

    ASSERT_EQ(do_request(fd, 4, 1, "/last", &r), 0, "connection still usable");
    ASSERT_STR_EQ(reply_body(&r), "-1 3", "the app did not run for it");
    reply_free(&r);

    close(fd);
    free(b.data);
}


static void
test_app_features(void)
{
    int      fd;
    reply_t  r;

    fd = client_connect(slot_path);

    ASSERT_EQ(do_request(fd, 1, 1, "/fail", &r), 0, "failing handler");
    ASSERT_STR_EQ((char *) r.out.data,
                  "Status: 500 Internal Server Error\r\n"
                  "Content-Type: text/plain\r\n\r\n"
                  "500 Internal Server Error\n", "handler < 0: 500");
    ASSERT_EQ(r.app_status, 1, "appStatus 1");
    reply_free(&r);

    ASSERT_EQ(do_request(fd, 2, 1, "/stderr", &r), 0, "stderr request");
    ASSERT_STR_EQ(reply_body(&r), "onetwo", "stdout around stderr");
    ASSERT_TRUE(r.err.len == 8 && memcmp(r.err.data, "oops\na\nb", 8) == 0,
                "FCGI_STDERR records");
    ASSERT_EQ(log_count("app stderr: a b"), 1, "stderr logged on one line");
    reply_free(&r);

    ASSERT_EQ(do_request(fd, 3, 1, "/headers", &r), 0, "headers request");
    ASSERT_STR_EQ((char *) r.out.data,
                  "Status: 404 Not Found\r\nContent-Type: text/html\r\n"
                  "X-Ok: fine\r\n\r\nbody -1 -1 0 -1 -1 -1 0 0 -1",
                  "status and header validation");
    reply_free(&r);

    close(fd);
}


static void
test_hostile(void)
{
    int       fd, fd2;
    long      ms;
    buf_t     b = { 0 };
    reply_t   r;

    /* bad version: that connection closes, another one works */
    fd = client_connect(slot_path);
    fd2 = client_connect(slot_path);
    send(fd, "\x02\x01\x00\x01\x00\x08\x00\x00", 8, MSG_NOSIGNAL);
    ASSERT_TRUE(wait_eof(fd, WAIT_MS) >= 0, "bad version: closed");
    close(fd);
    ASSERT_EQ(do_request(fd2, 1, 1, "/", &r), 0,
              "bad version: another connection still served");
    reply_free(&r);

    /* params past 128 KiB, too many, malformed: test_refused */

    /* STDIN before the params ended */
    b.len = 0;
    add_begin(&b, 1, DROVER_FCGI_RESPONDER, 1);
    add_record(&b, DROVER_FCGI_STDIN, 1, "x", 1, 7);
    fd = client_connect(slot_path);
    reply_init(&r, DROVER_FCGI_END_REQUEST, 1);
    exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS);
    ASSERT_TRUE(r.eof && r.got_end == 0, "STDIN before params end: closed");
    reply_free(&r);
    close(fd);

    /* BEGIN_REQUEST with a 16-byte body */
    b.len = 0;
    add_record(&b, DROVER_FCGI_BEGIN_REQUEST, 1, "0123456789abcdef", 16, 0);
    fd = client_connect(slot_path);
    ms = (send(fd, b.data, b.len, MSG_NOSIGNAL) > 0) ? wait_eof(fd, WAIT_MS)
                                                    : -1;
    ASSERT_TRUE(ms >= 0, "16-byte begin_request: closed");
    close(fd);

    /* a stall mid-record */
    fd = client_connect(slot_path);
    send(fd, "\x01\x01\x00", 3, MSG_NOSIGNAL);
    ms = wait_eof(fd, WAIT_MS);
    ASSERT_TRUE(ms >= IO_TIMEOUT_MS - 50 && ms < 5 * IO_TIMEOUT_MS,
                "stall mid-record: closed after io_timeout");
    printf("# closed after %ld ms\n", ms);
    close(fd);

    /* a stall mid-request, in the app's read */
    b.len = 0;
    {
        const char *params[] = { "REQUEST_URI=/echo", NULL };

        add_begin(&b, 1, DROVER_FCGI_RESPONDER, 1);
        add_params(&b, 1, params, 65535);
        add_record(&b, DROVER_FCGI_PARAMS, 1, NULL, 0, 0);
        add_record(&b, DROVER_FCGI_STDIN, 1, "abc", 3, 0);
    }
    fd = client_connect(slot_path);
    send(fd, b.data, b.len, MSG_NOSIGNAL);
    ms = wait_eof(fd, WAIT_MS);
    ASSERT_TRUE(ms >= IO_TIMEOUT_MS - 50 && ms < 5 * IO_TIMEOUT_MS,
                "stall in drover_req_read: closed after io_timeout");
    close(fd);

    /* an idle keepalive connection is not timed out */
    ASSERT_EQ(wait_eof(fd2, 2 * IO_TIMEOUT_MS), -1,
              "idle keepalive connection kept past io_timeout");
    ASSERT_EQ(do_request(fd2, 2, 1, "/", &r), 0, "and still served");
    reply_free(&r);
    close(fd2);

    free(b.data);
}


/* wait until path exists: 0, or -1 after ms */
static int
wait_file(const char *path, long ms)
{
    struct timespec  ts = { 0, 5 * 1000 * 1000 };

    for ( ;; ) {
        if (access(path, F_OK) == 0) {
            return 0;
        }

        if (ms <= 0) {
            return -1;
        }

        nanosleep(&ts, NULL);
        ms -= 5;
    }
}


/* SIGTERM while a request is in the app: it completes, then exit 0 */
static void
test_sigterm(void)
{
    int          sfd, hfd, fd, idle, rc;
    long         ms;
    pid_t        pid;
    char         p1[128], p2[128], marker[160];
    buf_t        b = { 0 };
    reply_t      r;
    const char  *params[] = { "REQUEST_URI=/slow", NULL };

    snprintf(p1, sizeof(p1), "%s/term.0", tmpdir);
    snprintf(p2, sizeof(p2), "%s/term.shared", tmpdir);
    sfd = make_listener(p1);
    hfd = make_listener(p2);
    pid = start_worker(sfd, hfd, getpid(), 1);
    close(sfd);
    close(hfd);

    fd = client_connect(p1);
    idle = client_connect(p2);

    add_begin(&b, 1, DROVER_FCGI_RESPONDER, 1);
    add_params(&b, 1, params, 65535);
    add_record(&b, DROVER_FCGI_PARAMS, 1, NULL, 0, 0);
    add_record(&b, DROVER_FCGI_STDIN, 1, "x", 1, 7);
    ASSERT_EQ(write(fd, b.data, b.len), (ssize_t) b.len,
              "slow request sent, its body held back");
    snprintf(marker, sizeof(marker), "%s/slow.%ld", tmpdir, (long) pid);
    ASSERT_EQ(wait_file(marker, WAIT_MS), 0, "slow request is in the app");
    unlink(marker);
    reply_init(&r, DROVER_FCGI_END_REQUEST, 1);

    kill(pid, SIGTERM);

    /* the idle connection goes once the loop runs: after this request */
    b.len = 0;
    add_record(&b, DROVER_FCGI_STDIN, 1, NULL, 0, 0);
    r.want_text = NULL;
    r.done = 0;
    ASSERT_EQ(exchange(fd, b.data, b.len, NULL, 0, &r, WAIT_MS), 0,
              "request in flight completes after SIGTERM");
    ASSERT_STR_EQ(reply_body(&r), "started\ndone\n", "its whole body");
    ASSERT_TRUE(wait_eof(fd, WAIT_MS) >= 0,
                "its KEEP_CONN connection closed after it");
    ms = wait_eof(idle, WAIT_MS);
    ASSERT_TRUE(ms >= 0, "idle connection closed");

    rc = wait_exit(pid, WAIT_MS);
    ASSERT_EQ(rc, 0, "worker exits 0 after SIGTERM");

    snprintf(marker, sizeof(marker), "%s/fini.%ld", tmpdir, (long) pid);
    ASSERT_TRUE(access(marker, F_OK) == 0, "app fini ran");
    unlink(marker);

    reply_free(&r);
    close(fd);
    close(idle);
    unlink(p1);
    unlink(p2);
    free(b.data);
}


/* the manager goes away: the worker notices within about a second */
static void
test_orphan(void)
{
    int     sfd, hfd, rc, pfd[2];
    pid_t   manager, worker;
    char    p1[128], p2[128];

    snprintf(p1, sizeof(p1), "%s/orphan.0", tmpdir);
    snprintf(p2, sizeof(p2), "%s/orphan.shared", tmpdir);
    sfd = make_listener(p1);
    hfd = make_listener(p2);

    /*
     * Orphans are reparented to us, so we can reap the worker.  No
     * PDEATHSIG here: the getppid() check is what is under test.
     */
    prctl(PR_SET_CHILD_SUBREAPER, 1);

    if (pipe(pfd) != 0) {
        abort();
    }

    fflush(stdout);
    manager = fork();
    if (manager == 0) {
        worker = start_worker(sfd, hfd, getpid(), 0);
        if (write(pfd[1], &worker, sizeof(worker)) != sizeof(worker)) {
            _exit(1);
        }
        _exit(0);
    }

    worker = 0;
    rc = (int) read(pfd[0], &worker, sizeof(worker));
    close(pfd[0]);
    close(pfd[1]);
    ASSERT_TRUE(rc == sizeof(worker) && worker > 0, "worker started");
    ASSERT_EQ(wait_exit(manager, WAIT_MS), 0, "manager gone");

    rc = wait_exit(worker, WAIT_MS);
    ASSERT_TRUE(rc > 0 && rc < 128, "orphaned worker exits non-zero");
    printf("# orphaned worker exit code %d\n", rc);

    close(sfd);
    close(hfd);
    unlink(p1);
    unlink(p2);
}


int
main(void)
{
    int    slot_fd, shared_fd;
    pid_t  pid;
    char   path[128];

    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);

    if (worker_fixture_init() != 0) {
        return 2;
    }

    slot_fd = make_listener(slot_path);
    shared_fd = make_listener(shared_path);

    pid = start_worker(slot_fd, shared_fd, getpid(), 1);

    test_simple_get();
    test_keepalive();
    test_params_records();
    test_path_and_proxy();
    test_echo();
    test_read_all();
    test_partial_body(pid);
    test_big_response();
    test_management();
    test_roles_and_mpx();
    test_abort();
    test_app_features();
    test_hostile();

    ASSERT_EQ(wait_exit(pid, 0), -1, "worker survived all of it");
    kill(pid, SIGTERM);
    ASSERT_EQ(wait_exit(pid, WAIT_MS), 0, "worker stops with 0");
    snprintf(path, sizeof(path), "%s/fini.%ld", tmpdir, (long) pid);
    ASSERT_EQ(unlink(path), 0, "app fini ran");

    close(slot_fd);
    close(shared_fd);

    test_sigterm();
    test_orphan();

    ASSERT_EQ(log_count("bad fastcgi version 2"), 1,
              "one log line for the bad version");
    ASSERT_EQ(log_count("stalled"), 2, "one log line per stall");
    ASSERT_EQ(log_count("[alert]"), 0, "no alert in the log");
    ASSERT_EQ(log_count("AddressSanitizer"), 0, "no ASan report");
    ASSERT_EQ(log_count("runtime error"), 0, "no UBSan report");
    ASSERT_EQ(log_count("LeakSanitizer"), 0, "no leak report");

    if (tap_failed) {
        log_dump();
    }

    worker_fixture_cleanup();

    return tap_done();
}
