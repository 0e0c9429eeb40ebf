/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * control_fixture.c -- what the control socket's tests share: a fake
 * manager (its ops), a loop to turn, a non-blocking client (control_fixture.h).
 */

#include "control.h"
#include "control_fixture.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <uv.h>

char               dir[PATH_MAX];
uv_loop_t          loop;
drover_control_t  *ctl;

static int         stderr_fd = -1;      /* the test's stderr, kept */


/* ---- the fake manager ---- */

control_fake_t  fake;

const char  fake_status_json[] =
    "{\"droverd\":{\"version\":\"0.2.0\",\"pid\":123,\"uptime_ms\":1000,"
    "\"config\":\"/etc/drover/droverd.conf\"},"
    "\"pools\":[{\"name\":\"kit\",\"generation\":3,\"workers\":2,"
    "\"state\":\"serving\",\"workers_detail\":[{\"slot\":0,\"pid\":456,"
    "\"state\":\"busy\",\"current_uri\":\"/sleep?ms=500\"}]}]}";


static void
fake_pool(const char *pool)
{
    fake.pool_null = pool == NULL;
    snprintf(fake.pool, sizeof(fake.pool), "%s", pool ? pool : "");
}


static int
fake_result(const char *what, char *err, size_t errlen)
{
    if (fake.fail_silent) {
        return -ENOENT;
    }

    if (fake.fail) {
        snprintf(err, errlen, "%s: no pool named \"%s\"", what, fake.pool);
        return -ENOENT;
    }

    return 0;
}


static json_object *
fake_status(void *data, const char *pool, char *err, size_t errlen)
{
    json_object  *o;
    char         *blob;

    (void) data;

    fake.status++;
    fake_pool(pool);

    if (fake.fail) {
        snprintf(err, errlen, "no pool named \"%s\"", pool ? pool : "");
        return NULL;
    }

    if (fake.fail_silent) {
        return NULL;
    }

    if (fake.big) {
        blob = malloc(256 * 1024 + 1);
        memset(blob, 'x', 256 * 1024);
        blob[256 * 1024] = '\0';
        o = json_object_new_object();
        json_object_object_add(o, "blob", json_object_new_string(blob));
        free(blob);
        return o;
    }

    return json_tokener_parse(fake_status_json);
}


static int
fake_reload(void *data, char *err, size_t errlen)
{
    (void) data;
    fake.reload++;
    return fake_result("reload", err, errlen);
}


static int
fake_restart(void *data, const char *pool, char *err, size_t errlen)
{
    (void) data;
    fake.restart++;
    fake_pool(pool);
    return fake_result("restart", err, errlen);
}


static int
fake_scale(void *data, const char *pool, unsigned workers, char *err,
    size_t errlen)
{
    (void) data;
    fake.scale++;
    fake.workers = workers;
    fake_pool(pool);
    return fake_result("scale", err, errlen);
}


static int
fake_stop(void *data, char *err, size_t errlen)
{
    (void) data;
    fake.stop++;

    if (fake.close_in_stop) {
        drover_control_close(ctl);
    }

    return fake_result("stop", err, errlen);
}


static int
fake_pool_op(int *count, const char *what, const char *pool, char *err,
    size_t errlen)
{
    (*count)++;
    fake_pool(pool);
    return fake_result(what, err, errlen);
}


static int
fake_pool_reload(void *data, const char *pool, char *err, size_t errlen)
{
    (void) data;
    return fake_pool_op(&fake.pool_reload, "reload", pool, err, errlen);
}


static int
fake_pool_stop(void *data, const char *pool, char *err, size_t errlen)
{
    (void) data;
    return fake_pool_op(&fake.pool_stop, "stop", pool, err, errlen);
}


static int
fake_pool_start(void *data, const char *pool, char *err, size_t errlen)
{
    (void) data;
    return fake_pool_op(&fake.pool_start, "start", pool, err, errlen);
}


static const drover_control_ops_t  fake_ops = {
    .data = &fake,
    .status = fake_status,
    .reload = fake_reload,
    .restart = fake_restart,
    .scale = fake_scale,
    .stop = fake_stop,
    .pool_reload = fake_pool_reload,
    .pool_stop = fake_pool_stop,
    .pool_start = fake_pool_start,
};


/* ---- helpers ---- */

const char *
at(const char *rel)
{
    static char  bufs[8][PATH_MAX + 64];
    static int   i;

    i = (i + 1) % 8;
    snprintf(bufs[i], sizeof(bufs[i]), "%s/%s", dir, rel);

    return bufs[i];
}


uint64_t
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


/* turn the loop for about MS milliseconds */
void
spin(unsigned ms)
{
    uint64_t  until = now_ms() + ms;

    do {
        uv_run(&loop, UV_RUN_NOWAIT);
        poll(NULL, 0, 1);
    } while (now_ms() < until);
}


/* close the control (if any) and run the loop until its memory is gone */
void
control_stop(void)
{
    drover_control_close(ctl);
    ctl = NULL;
    uv_run(&loop, UV_RUN_DEFAULT);
}


int
control_begin(const char *path, mode_t mode, gid_t gid, char *err,
    size_t errlen)
{
    err[0] = '\0';
    return drover_control_start(&loop, path, mode, gid, &fake_ops, &ctl,
                                err, errlen);
}


int
log_has(const char *needle)
{
    int     found;
    char   *text;
    long    size;
    FILE   *f;

    fflush(stderr);

    f = fopen(at("log"), "r");
    if (f == NULL) {
        return 0;
    }

    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);

    text = calloc(1, (size_t) size + 1);
    found = text != NULL && fread(text, 1, (size_t) size, f) == (size_t) size
            && strstr(text, needle) != NULL;

    free(text);
    fclose(f);
    return found;
}


/* ---- a client ---- */

int
client_open(client_t *c, const char *path)
{
    struct sockaddr_un  sa;

    memset(c, 0, sizeof(*c));

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);

    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd == -1) {
        return -errno;
    }

    /* a Unix connect() completes at once: the server accepts later */
    if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -errno;
    }

    return 0;
}


void
client_close(client_t *c)
{
    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
    }

    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}


/* what has arrived, without waiting; sets eof */
void
client_read(client_t *c)
{
    ssize_t  n;

    for ( ;; ) {
        if (c->cap - c->len < 65536) {
            c->cap = c->cap ? c->cap * 2 : 65536;
            c->buf = realloc(c->buf, c->cap);
        }

        n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
        if (n > 0) {
            c->len += (size_t) n;
            continue;
        }

        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            c->eof = 1;
        }

        return;
    }
}


int
client_write(client_t *c, const void *data, size_t len)
{
    ssize_t      n;
    uint64_t     until = now_ms() + WAIT_MS;
    const char  *p = data;

    while (len > 0) {
        n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t) n;
            continue;
        }

        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return -errno;
        }

        if (now_ms() > until) {
            return -ETIMEDOUT;
        }

        uv_run(&loop, UV_RUN_NOWAIT);
        poll(NULL, 0, 1);
    }

    return 0;
}


int
client_puts(client_t *c, const char *s)
{
    return client_write(c, s, strlen(s));
}


/* the next line (malloc'd, without '\n'), or NULL at EOF or after WAIT_MS */
char *
client_line(client_t *c)
{
    char      *nl, *line;
    size_t     n;
    uint64_t   until = now_ms() + WAIT_MS;

    for ( ;; ) {
        nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;

        if (nl != NULL) {
            n = (size_t) (nl - c->buf);
            line = malloc(n + 1);
            memcpy(line, c->buf, n);
            line[n] = '\0';
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return line;
        }

        if (c->eof || now_ms() > until) {
            return NULL;
        }

        uv_run(&loop, UV_RUN_NOWAIT);
        client_read(c);
        if (c->len == 0 || memchr(c->buf, '\n', c->len) == NULL) {
            poll(NULL, 0, 1);
        }
    }
}


/* 1 when the server closed the connection within MS (lines are kept) */
int
client_closed(client_t *c, unsigned ms)
{
    uint64_t  until = now_ms() + ms;

    while (!c->eof && now_ms() < until) {
        uv_run(&loop, UV_RUN_NOWAIT);
        client_read(c);
        poll(NULL, 0, 1);
    }

    return c->eof;
}


/* the next answer, parsed (NULL: none, or not JSON) */
json_object *
client_answer(client_t *c)
{
    char         *line;
    json_object  *o;

    line = client_line(c);
    if (line == NULL) {
        return NULL;
    }

    o = json_tokener_parse(line);
    free(line);
    return o;
}


json_object *
ask(client_t *c, const char *req)
{
    if (client_puts(c, req) != 0 || client_puts(c, "\n") != 0) {
        return NULL;
    }

    return client_answer(c);
}


int
is_ok(json_object *resp)
{
    json_object  *ok;

    return resp != NULL && json_object_object_get_ex(resp, "ok", &ok)
           && json_object_is_type(ok, json_type_boolean)
           && json_object_get_boolean(ok);
}


/* ok:false with an "error" containing NEEDLE */
int
is_error(json_object *resp, const char *needle)
{
    json_object  *ok, *e;

    if (resp == NULL || !json_object_object_get_ex(resp, "ok", &ok)
        || !json_object_is_type(ok, json_type_boolean)
        || json_object_get_boolean(ok)
        || !json_object_object_get_ex(resp, "error", &e)
        || !json_object_is_type(e, json_type_string))
    {
        return 0;
    }

    if (strstr(json_object_get_string(e), needle) == NULL) {
        printf("#   error \"%s\" lacks \"%s\"\n", json_object_get_string(e),
               needle);
        return 0;
    }

    return 1;
}


const char *
result_str(json_object *resp, const char *key)
{
    json_object  *r, *v;

    if (resp == NULL || !json_object_object_get_ex(resp, "result", &r)
        || !json_object_object_get_ex(r, key, &v))
    {
        return NULL;
    }

    return json_object_get_string(v);
}


/* ---- setting up and cleaning up ---- */

int
control_fixture_init(void)
{
    int  fd;

    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);           /* as the manager does */

    snprintf(dir, sizeof(dir), "%s/drover-control-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL) {
        printf("Bail out! temp dir: %s\n", strerror(errno));
        return -1;
    }

    stderr_fd = dup(STDERR_FILENO);
    fd = open(at("log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd == -1 || stderr_fd == -1 || dup2(fd, STDERR_FILENO) == -1) {
        printf("Bail out! log: %s\n", strerror(errno));
        return -1;
    }
    close(fd);
    drover_log_set_level(DROVER_LOG_DEBUG);

    if (uv_loop_init(&loop) != 0) {
        printf("Bail out! uv_loop_init\n");
        return -1;
    }

    return 0;
}


static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;

    return remove(path);
}


void
control_fixture_cleanup(void)
{
    fflush(stderr);
    dup2(stderr_fd, STDERR_FILENO);
    close(stderr_fd);

    if (getenv("DROVER_TEST_KEEP") == NULL) {
        nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    } else {
        printf("# kept %s\n", dir);
    }
}
