/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_conf.c -- the config grammar: a full config, the dump round trip, and
 * every error with its exact FILE:LINE.
 *
 * Each case writes its own file in a fresh mkdtemp() directory, removed at
 * the end.  Runs as root or not: pools name `user nobody` as root (the "no
 * pool as root" rule) and no user otherwise ("@U" in a config text).
 */

#include "conf.h"
#include "log.h"
#include "peers.h"
#include "tap.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static char         dir[PATH_MAX];     /* realpath of the temp dir */
static const char  *user_line;         /* what "@U" stands for */


/* DIR/REL, in one of a few rotating buffers */
static const char *
at(const char *rel)
{
    static char  bufs[4][PATH_MAX + 64];
    static int   i;

    i = (i + 1) % 4;
    if (snprintf(bufs[i], sizeof(bufs[i]), "%s/%s", dir, rel)
        >= (int) sizeof(bufs[i]))
    {
        printf("Bail out! path too long: %s/%s\n", dir, rel);
        exit(1);
    }

    return bufs[i];
}


static void
mkdirs(const char *rel)
{
    char   path[PATH_MAX + 64];
    char  *s;

    snprintf(path, sizeof(path), "%s", at(rel));

    for (s = path + strlen(dir) + 1; *s != '\0'; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(path, 0755);
            *s = '/';
        }
    }
}


/* writes DIR/REL with "@U" replaced by the user line */
static void
put_len(const char *rel, const char *text, size_t len)
{
    FILE        *f;
    const char  *s, *end = text + len;

    mkdirs(rel);

    f = fopen(at(rel), "w");
    if (f == NULL) {
        printf("Bail out! cannot write %s: %s\n", at(rel), strerror(errno));
        exit(1);
    }

    for (s = text; s < end; s++) {
        if (s + 1 < end && s[0] == '@' && s[1] == 'U') {
            fputs(user_line, f);
            s++;
        } else {
            fputc(*s, f);
        }
    }

    fclose(f);
}


static void
put(const char *rel, const char *text)
{
    put_len(rel, text, strlen(text));
}


/*
 * Loads DIR/MAIN and checks it fails with one line starting
 * "DIR/WHERE:LINE: " (or "DIR/WHERE: " for line 0) that contains NEEDLE.
 */
static void
check_error_in(const char *name, const char *main_rel, const char *where,
    unsigned line, const char *needle)
{
    int             rc;
    char            err[2048], want[PATH_MAX + 64];
    drover_conf_t  *conf;

    memset(err, 'x', sizeof(err));
    conf = (drover_conf_t *) &rc;     /* must be reset to NULL */

    rc = drover_conf_load(at(main_rel), &conf, err, sizeof(err));
    TAP_CHECK(rc < 0 && conf == NULL && strchr(err, '\n') == NULL,
              "%s: fails with one line", name);

    if (line > 0) {
        snprintf(want, sizeof(want), "%s:%u: ", at(where), line);
    } else {
        snprintf(want, sizeof(want), "%s: ", at(where));
    }

    TAP_CHECK(strncmp(err, want, strlen(want)) == 0 && strstr(err, needle),
              "%s: %s:%u: ...%s...", name, where, line, needle);

    if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, needle)) {
        printf("#   got: %s\n", err);
    }

    if (rc == 0) {
        drover_conf_free(conf);
    }
}


/* one file, one error */
static void
expect_error(const char *name, const char *text, unsigned line,
    const char *needle)
{
    char  rel[128];

    snprintf(rel, sizeof(rel), "%s.conf", name);
    put(rel, text);
    check_error_in(name, rel, rel, line, needle);
    unlink(at(rel));
}


static drover_conf_t *
load_ok(const char *name, const char *rel)
{
    int             rc;
    char            err[2048];
    drover_conf_t  *conf;

    err[0] = '\0';
    rc = drover_conf_load(at(rel), &conf, err, sizeof(err));
    TAP_CHECK(rc == 0 && conf != NULL, "%s: loads", name);

    if (rc != 0) {
        printf("#   error: %s\n", err);
        return NULL;
    }

    return conf;
}


static unsigned
cpus(void)
{
    long  n = sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1) {
        n = 1;
    }

    return n > DROVER_CONF_MAX_WORKERS ? DROVER_CONF_MAX_WORKERS
                                       : (unsigned) n;
}


static void
test_good(void)
{
    char                 real[PATH_MAX], buf[256];
    drover_conf_t       *conf;
    drover_pool_conf_t  *a, *b;
    struct passwd       *pw;

    put("good/main.conf",
        "# droverd.conf\n"
        "log_level info;   # global\n"
        "include pools/*.conf;\n"
        "include 'empty.d/*.conf';  # a glob matching nothing is fine\n");

    put("good/pools/a.conf",
        "pool alpha {\n"
        "    app ../../app.so;            # relative to this file\n"
        "    app_param db \"/var/lib/a b.db\";\n"
        "    app_param greeting 'say \"hi\"; bye';\n"
        "    listen unix:sock/alpha.sock mode=0640 owner=0 group=0;\n"
        "    workers 3;\n"
        "    preload off;\n"
        "    @U\n"
        "    log_level debug;\n"
        "    io_timeout 1500ms;\n"
        "}\n");

    put("good/pools/b.conf",
        "pool beta\n"
        "{\n"
        "    include beta.d/*.inc;\n"
        "}\n");

    put("good/pools/beta.d/2.inc",
        "@U workers auto; io_timeout 2m;\n"
        "app_param second 2;\n");

    put("good/pools/beta.d/1.inc",
        "app \"../../../app.so\";\n"
        "listen unix:/tmp/beta.sock;\n"
        "app_param first 1;\n");

    conf = load_ok("good", "good/main.conf");
    if (conf == NULL) {
        return;
    }

    ASSERT_STR_EQ(conf->path, at("good/main.conf"), "good: path as given");
    ASSERT_EQ(conf->log_level, DROVER_LOG_INFO, "good: global log_level");
    ASSERT_EQ(conf->npools, 2, "good: two pools");

    a = conf->pools;
    b = a ? a->next : NULL;
    ASSERT_TRUE(a && b && b->next == NULL, "good: pool list");
    if (a == NULL || b == NULL) {
        drover_conf_free(conf);
        return;
    }

    ASSERT_STR_EQ(a->name, "alpha", "good: files included in sorted order");
    ASSERT_STR_EQ(a->file, at("good/pools/a.conf"), "good: pool file");
    ASSERT_EQ(a->line, 1, "good: pool line");
    ASSERT_STR_EQ(a->app, realpath(at("app.so"), real),
                  "good: app resolved against its file's directory");
    ASSERT_EQ(a->nparams, 2, "good: alpha has 2 app_params");
    if (a->nparams == 2) {
        ASSERT_STR_EQ(a->params[0].name, "db", "good: param 0 name");
        ASSERT_STR_EQ(a->params[0].value, "/var/lib/a b.db",
                      "good: double-quoted value");
        ASSERT_STR_EQ(a->params[1].value, "say \"hi\"; bye",
                      "good: single-quoted value with quotes and ;");
    }
    ASSERT_STR_EQ(a->listen.path, at("good/pools/sock/alpha.sock"),
                  "good: relative listen path made absolute");
    ASSERT_EQ(a->listen.mode, 0640, "good: listen mode");
    ASSERT_EQ(a->listen.owner, 0, "good: listen owner");
    ASSERT_EQ(a->listen.group, 0, "good: listen group");
    ASSERT_STR_EQ(a->listen.file, at("good/pools/a.conf"), "good: listen file");
    ASSERT_EQ(a->listen.line, 5, "good: listen line");
    ASSERT_EQ(a->workers, 3, "good: workers 3");
    ASSERT_EQ(a->workers_auto, 0, "good: workers not auto");
    ASSERT_EQ(a->preload, 0, "good: preload off");
    ASSERT_EQ(a->log_level, DROVER_LOG_DEBUG, "good: pool log_level");
    ASSERT_EQ(a->io_timeout_ms, 1500, "good: io_timeout 1500ms");

    if (geteuid() == 0) {
        pw = getpwnam("nobody");
        ASSERT_TRUE(pw && a->uid == pw->pw_uid && a->gid == pw->pw_gid
                    && strcmp(a->user, "nobody") == 0 && a->group == NULL,
                    "good: user nobody, gid its primary group");
    } else {
        ASSERT_TRUE(a->uid == (uid_t) -1 && a->gid == (gid_t) -1
                    && a->user == NULL && a->group == NULL,
                    "good: no user, no switch");
    }

    ASSERT_STR_EQ(b->name, "beta", "good: second pool");
    ASSERT_STR_EQ(b->app, real, "good: app from an include inside a pool");
    ASSERT_STR_EQ(b->listen.path, "/tmp/beta.sock", "good: absolute listen");
    ASSERT_STR_EQ(b->listen.file, at("good/pools/beta.d/1.inc"),
                  "good: listen file is the included one");
    ASSERT_EQ(b->listen.mode, 0660, "good: default mode 0660");
    ASSERT_TRUE(b->listen.owner == (uid_t) -1
                && b->listen.group == (gid_t) -1,
                "good: default owner/group untouched");
    ASSERT_EQ(b->nparams, 2, "good: beta has 2 app_params");
    if (b->nparams == 2) {
        ASSERT_STR_EQ(b->params[0].name, "first",
                      "good: 1.inc before 2.inc");
    }
    ASSERT_EQ(b->workers, cpus(), "good: workers auto = online CPUs");
    ASSERT_EQ(b->workers_auto, 1, "good: workers_auto set");
    ASSERT_EQ(b->preload, 1, "good: preload defaults on");
    ASSERT_EQ(b->log_level, -2, "good: pool log_level defaults to global");
    ASSERT_EQ(b->io_timeout_ms, 120000, "good: io_timeout 2m");

    ASSERT_TRUE(drover_conf_find_pool(conf, "beta") == b
                && drover_conf_find_pool(conf, "gamma") == NULL,
                "good: find_pool");

    ASSERT_EQ(drover_conf_slot_path(b, 12, buf, sizeof(buf)), 0,
              "good: slot path");
    ASSERT_STR_EQ(buf, "/tmp/beta.sock.12", "good: slot path text");
    ASSERT_EQ(drover_conf_slot_path(b, 12, buf, 17), -ENAMETOOLONG,
              "good: slot path too long for the buffer");

    drover_conf_free(conf);
}


/* the defaults of a minimal pool and small value tables */
static void
test_values(void)
{
    static const struct {
        const char  *text;
        unsigned     ms;
    } durations[] = {
        { "30", 30000 }, { "30s", 30000 }, { "250ms", 250 },
        { "2m", 120000 }, { "1h", 3600000 }, { "24h", 86400000 },
        { "86400000ms", 86400000 }, { "1ms", 1 },
    };
    static const char  *bad_durations[] = {
        "0", "0s", "25h", "86400001ms", "1d", "ms", "-1s", "1.5s",
        "99999999999999999999999", "1441m",
    };

    char                 text[512], name[64];
    size_t               i;
    drover_conf_t       *conf;

    put("min.conf", "pool m { app app.so; listen unix:m.sock; @U }");
    conf = load_ok("minimal", "min.conf");
    if (conf != NULL) {
        ASSERT_TRUE(conf->log_level == DROVER_LOG_NOTICE
                    && conf->pools->workers == cpus()
                    && conf->pools->workers_auto == 1
                    && conf->pools->preload == 1
                    && conf->pools->io_timeout_ms == 60000
                    && conf->pools->log_level == -2
                    && conf->pools->listen.mode == 0660
                    && conf->pools->nparams == 0,
                    "minimal: defaults notice, auto, on, 60s, 0660");
        drover_conf_free(conf);
    }
    unlink(at("min.conf"));

    for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        snprintf(text, sizeof(text), "pool d {\n app app.so;\n listen "
                 "unix:d.sock;\n @U\n io_timeout %s;\n}\n",
                 durations[i].text);
        put("dur.conf", text);
        snprintf(name, sizeof(name), "io_timeout %s", durations[i].text);
        conf = load_ok(name, "dur.conf");
        if (conf != NULL) {
            ASSERT_EQ(conf->pools->io_timeout_ms, durations[i].ms, name);
            drover_conf_free(conf);
        }
        unlink(at("dur.conf"));
    }

    for (i = 0; i < sizeof(bad_durations) / sizeof(bad_durations[0]); i++) {
        snprintf(text, sizeof(text), "pool d {\n app app.so;\n listen "
                 "unix:d.sock;\n @U\n io_timeout %s;\n}\n",
                 bad_durations[i]);
        snprintf(name, sizeof(name), "bad_io_timeout_%zu", i);
        expect_error(name, text, 5, "\"io_timeout\" needs a duration");
    }

    /* the slot socket "<path>.<workers-1>" must fit in sun_path[108] */
    {
        char  path[128];

        memset(path, 'a', sizeof(path));
        path[0] = '/';
        path[105] = '\0';           /* 105 + ".9" + NUL = 108: fits */

        snprintf(text, sizeof(text), "pool s {\n app app.so;\n @U\n"
                 " listen unix:%s;\n workers 10;\n}\n", path);
        put("slot.conf", text);
        conf = load_ok("socket path of exactly 108 bytes with its slot",
                       "slot.conf");
        drover_conf_free(conf);
        unlink(at("slot.conf"));

        snprintf(text, sizeof(text), "pool s {\n app app.so;\n @U\n"
                 " listen unix:%s;\n workers 11;\n}\n", path);
        expect_error("slot_too_long", text, 4, "must fit in 108 bytes");

        /* a quoted token holding a newline cannot forge a log line */
        expect_error("forged_line", "\"a\n2026/12/03 04:00:00 [alert] 1#0: "
                     "forged\x1b[0m\";\n", 1,
                     "a?2026/12/03 04:00:00 [alert] 1#0: forged?[0m");
    }

    /* a token of exactly the maximum length is fine */
    {
        char  *big = malloc(5000);

        memset(big, 'v', 4096);
        big[4096] = '\0';
        {
            FILE  *f = fopen(at("tok.conf"), "w");

            fprintf(f, "pool t { app app.so; listen unix:t.sock; %s\n"
                    "app_param big %s; }\n", user_line, big);
            fclose(f);
        }
        conf = load_ok("token of 4096 bytes", "tok.conf");
        if (conf != NULL) {
            ASSERT_EQ(strlen(conf->pools->params[0].value), 4096,
                      "token of 4096 bytes: kept whole");
            drover_conf_free(conf);
        }

        {
            FILE  *f = fopen(at("tok.conf"), "w");

            fprintf(f, "pool t { app app.so; listen unix:t.sock; %s\n"
                    "app_param big \"%sv\"; }\n", user_line, big);
            fclose(f);
        }
        check_error_in("token_too_long", "tok.conf", "tok.conf", 2,
                       "token longer than 4096 bytes");
        unlink(at("tok.conf"));
        free(big);
    }
}


static int
pools_equal(const drover_pool_conf_t *a, const drover_pool_conf_t *b)
{
    size_t  i;

    if (strcmp(a->name, b->name) != 0
        || (a->app == NULL) != (b->app == NULL)
        || (a->app != NULL && strcmp(a->app, b->app) != 0)
        || a->exec_argc != b->exec_argc
        || a->nparams != b->nparams
        || strcmp(a->listen.path, b->listen.path) != 0
        || a->listen.mode != b->listen.mode
        || a->listen.owner != b->listen.owner
        || a->listen.group != b->listen.group
        || a->workers != b->workers || a->preload != b->preload
        || a->uid != b->uid || a->gid != b->gid
        || a->log_level != b->log_level
        || a->io_timeout_ms != b->io_timeout_ms)
    {
        return 0;
    }

    for (i = 0; i < a->exec_argc; i++) {
        if (strcmp(a->exec_argv[i], b->exec_argv[i]) != 0) {
            return 0;
        }
    }

    for (i = 0; i < a->nparams; i++) {
        if (strcmp(a->params[i].name, b->params[i].name) != 0
            || strcmp(a->params[i].value, b->params[i].value) != 0)
        {
            return 0;
        }
    }

    /* the directives of the pool's processes (conf_proc.c) */
    if (a->nenv != b->nenv || a->umask != b->umask
        || a->rlimit_files != b->rlimit_files
        || a->rlimit_core != b->rlimit_core
        || a->rlimit_nproc != b->rlimit_nproc
        || a->no_new_privs != b->no_new_privs
        || a->cpu_scheduling != b->cpu_scheduling
        || (a->working_dir == NULL) != (b->working_dir == NULL)
        || (a->working_dir != NULL
            && strcmp(a->working_dir, b->working_dir) != 0))
    {
        return 0;
    }

    for (i = 0; i < a->nenv; i++) {
        if (strcmp(a->env[i].name, b->env[i].name) != 0
            || (a->env[i].value == NULL) != (b->env[i].value == NULL)
            || (a->env[i].value != NULL
                && strcmp(a->env[i].value, b->env[i].value) != 0))
        {
            return 0;
        }
    }

    return 1;
}


static char *
dump(const drover_conf_t *conf, const drover_pool_conf_t *pool)
{
    char    *text = NULL;
    size_t   len = 0;
    FILE    *f;

    f = open_memstream(&text, &len);
    if (drover_conf_dump_pool(conf, pool, f) != 0) {
        printf("# dump failed\n");
    }
    fclose(f);
    return text;
}


static void
round_trip(const char *name, const char *rel, const char *pool_name)
{
    char                *text1, *text2;
    char                 title[128];
    drover_conf_t       *conf, *back;
    drover_pool_conf_t  *pool, *pool2;

    conf = load_ok(name, rel);
    if (conf == NULL) {
        return;
    }

    pool = drover_conf_find_pool(conf, pool_name);
    text1 = dump(conf, pool);
    put("dump.conf", "");
    {
        FILE  *f = fopen(at("dump.conf"), "w");

        ASSERT_EQ(drover_conf_dump_pool(conf, pool, f), 0, "dump returns 0");
        fclose(f);
    }

    snprintf(title, sizeof(title), "%s: dump loads back", name);
    back = load_ok(title, "dump.conf");
    if (back != NULL) {
        pool2 = back->pools;
        snprintf(title, sizeof(title), "%s: equal pool after the round trip",
                 name);
        ASSERT_TRUE(back->npools == 1 && pools_equal(pool, pool2)
                    && back->log_level == conf->log_level, title);

        text2 = dump(back, pool2);
        snprintf(title, sizeof(title), "%s: dump of the dump is the same",
                 name);
        ASSERT_STR_EQ(text2, text1, title);
        free(text2);
        drover_conf_free(back);
    } else {
        printf("# dump was:\n%s", text1);
    }

    free(text1);
    unlink(at("dump.conf"));
    drover_conf_free(conf);
}


static void
test_dump(void)
{
    char  user[128];

    put("dir with space/my \"app\";.so", "");

    put("rt.conf",
        "log_level warn;\n"
        "pool other { app app.so; listen unix:o.sock; @U }\n"
        "pool rt {\n"
        "    app 'dir with space/my \"app\";.so';\n"
        "    app_param empty \"\";\n"
        "    app_param spaced \"a b\tc\";\n"
        "    app_param quotes 'say \"hi\" and \\'bye\\'';\n"
        "    app_param punct \"x;y{z}#w\";\n"
        "    app_param back 'C:\\\\dir\\\\ and \\n';\n"
        "    app_param multi \"line one\nline two\";\n"
        "    app_param plain value;\n"
        "    listen \"unix:dir with space/s #1.sock\" mode=0600 group=0;\n"
        "    workers 2;\n"
        "    preload off;\n"
        "    @U\n"
        "    io_timeout 90s;\n"
        "    log_level error;\n"
        "}\n");

    round_trip("round trip", "rt.conf", "rt");
    round_trip("round trip of defaults", "rt.conf", "other");

    /* the dump names users by number; a root child must accept that */
    if (geteuid() == 0) {
        snprintf(user, sizeof(user), "pool n { app app.so; listen unix:n.sock;"
                 " user %lu; }\n", (unsigned long) getpwnam("nobody")->pw_uid);
    } else {
        snprintf(user, sizeof(user), "pool n { app app.so; listen unix:n.sock;"
                 " user %lu; group %lu; }\n", (unsigned long) geteuid(),
                 (unsigned long) getegid());
    }
    put("num.conf", user);
    round_trip("numeric user", "num.conf", "n");
    unlink(at("num.conf"));
}


/* the supervision directives: values, defaults, round trip, errors */
static void
test_supervision(void)
{
    drover_conf_t       *conf;
    drover_pool_conf_t  *pool;

    put("sup.conf",
        "run_dir run;\n"
        "memory_budget 3G;\n"
        "pool s {\n"
        "    app app.so;\n"
        "    listen unix:s.sock;\n"
        "    @U\n"
        "    prestart /bin/echo 'migrate now' --db x.db;\n"
        "    prestart /bin/true;\n"
        "    prestart_timeout 2m;\n"
        "    request_timeout 30s;\n"
        "    memory_limit 512M;\n"
        "    memory_limit_hard 1g;\n"
        "    memory_budget 2048K;\n"
        "    max_requests 1000 100;\n"
        "    restart_limit 5 per 30s;\n"
        "    stop_timeout 20s;\n"
        "}\n");

    conf = load_ok("supervision", "sup.conf");
    if (conf != NULL) {
        pool = conf->pools;
        ASSERT_TRUE(conf->run_dir != NULL
                    && strcmp(conf->run_dir + strlen(conf->run_dir) - 4,
                              "/run") == 0
                    && conf->memory_budget == 3ULL << 30,
                    "run_dir relative to the file, global memory_budget");
        ASSERT_TRUE(pool->nprestart == 2 && pool->prestart[0].argc == 4
                    && strcmp(pool->prestart[0].argv[1], "migrate now") == 0
                    && pool->prestart[0].argv[4] == NULL
                    && pool->prestart[0].line == 7
                    && strcmp(pool->prestart[1].argv[0], "/bin/true") == 0,
                    "prestart commands in order with their arguments");
        ASSERT_TRUE(pool->prestart_timeout_ms == 120000
                    && pool->request_timeout_ms == 30000
                    && pool->memory_limit == 512ULL << 20
                    && pool->memory_limit_hard == 1ULL << 30
                    && pool->memory_budget == 2048ULL << 10
                    && pool->max_requests == 1000
                    && pool->max_requests_jitter == 100
                    && pool->restart_limit == 5
                    && pool->restart_period_ms == 30000
                    && pool->stop_timeout_ms == 20000,
                    "supervision values");
        drover_conf_free(conf);
    }

    round_trip("supervision round trip", "sup.conf", "s");
    unlink(at("sup.conf"));

    put("supd.conf", "pool d { app app.so; listen unix:d.sock; @U }");
    conf = load_ok("supervision defaults", "supd.conf");
    if (conf != NULL) {
        pool = conf->pools;
        ASSERT_TRUE(conf->run_dir == NULL && conf->memory_budget == 0
                    && pool->nprestart == 0
                    && pool->prestart_timeout_ms == 300000
                    && pool->request_timeout_ms == 0
                    && pool->memory_limit == 0
                    && pool->memory_limit_hard == 0
                    && pool->max_requests == 0
                    && pool->restart_limit == 10
                    && pool->restart_period_ms == 60000
                    && pool->stop_timeout_ms == 10000,
                    "supervision defaults: off, 5m, 10 per 60s, 10s");
        drover_conf_free(conf);
    }
    unlink(at("supd.conf"));

    expect_error("prestart_relative", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n prestart migrate.sh;\n}\n", 5,
                 "absolute command path");
    expect_error("bad_memory_limit", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n memory_limit lots;\n}\n", 5,
                 "\"memory_limit\" needs \"off\" or a size");
    expect_error("bad_size_suffix", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n memory_limit_hard 5MB;\n}\n", 5,
                 "\"memory_limit_hard\" needs");
    expect_error("bad_restart_limit", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n restart_limit 5 in 10s;\n}\n", 5,
                 "instead of \"per\"");
    expect_error("bad_jitter", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n max_requests 10 10;\n}\n", 5,
                 "jitter must be a number below");
    expect_error("bad_request_timeout", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n request_timeout never;\n}\n", 5,
                 "\"request_timeout\" needs \"off\"");
    expect_error("run_dir_in_pool", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n run_dir /tmp;\n}\n", 5,
                 "run_dir");
}


/* the directives of a pool's processes: env, working_dir, umask, rlimits */
static void
test_proc(void)
{
    char                 text[512];
    drover_conf_t       *conf;
    drover_pool_conf_t  *pool;

    put("wd/.keep", "");
    put("proc.conf",
        "pool p {\n"
        "    app app.so;\n"
        "    listen unix:p.sock;\n"
        "    @U\n"
        "    env PASSED;\n"
        "    env SET \"a b; c\";\n"
        "    env PATH /opt/bin:/usr/bin;\n"
        "    env TMPDIR /var/tmp;\n"
        "    working_dir wd;\n"
        "    umask 0077;\n"
        "    rlimit_files 4096;\n"
        "    rlimit_core unlimited;\n"
        "    rlimit_nproc 100;\n"
        "    no_new_privs off;\n"
        "    cpu_scheduling idle;\n"
        "}\n");

    conf = load_ok("proc", "proc.conf");
    if (conf != NULL) {
        pool = conf->pools;
        ASSERT_TRUE(pool->nenv == 4
                    && strcmp(pool->env[0].name, "PASSED") == 0
                    && pool->env[0].value == NULL
                    && strcmp(pool->env[1].value, "a b; c") == 0
                    && strcmp(pool->env[3].name, "TMPDIR") == 0,
                    "env lines in order, a bare NAME without value");
        ASSERT_TRUE(pool->working_dir != NULL
                    && strcmp(pool->working_dir + strlen(pool->working_dir)
                              - 3, "/wd") == 0
                    && pool->working_dir[0] == '/',
                    "working_dir relative to the file");
        ASSERT_TRUE(pool->umask == 0077 && pool->rlimit_files == 4096
                    && pool->rlimit_core == DROVER_CONF_RLIM_INFINITY
                    && pool->rlimit_nproc == 100 && pool->no_new_privs == 0,
                    "umask, rlimits, no_new_privs");
        ASSERT_TRUE(pool->cpu_scheduling == SCHED_IDLE,
                    "cpu_scheduling idle");
        drover_conf_free(conf);
    }

    round_trip("proc round trip", "proc.conf", "p");
    unlink(at("proc.conf"));

    put("procd.conf", "pool d { app app.so; listen unix:d.sock; @U }");
    conf = load_ok("proc defaults", "procd.conf");
    if (conf != NULL) {
        pool = conf->pools;
        ASSERT_TRUE(pool->nenv == 0 && pool->working_dir == NULL
                    && pool->umask == 0027 && pool->rlimit_files == 0
                    && pool->rlimit_core == 0 && pool->rlimit_nproc == 0
                    && pool->no_new_privs == 1 && conf->min_uid == 1000
                    && pool->cpu_scheduling == SCHED_BATCH,
                    "proc defaults: no env, /, 0027, core 0, no_new_privs, "
                    "min_uid 1000, cpu_scheduling batch");
        drover_conf_free(conf);
    }
    round_trip("proc defaults round trip", "procd.conf", "d");
    unlink(at("procd.conf"));

    put("minuid.conf", "min_uid 0;\npool m { app app.so; listen unix:m.sock; "
        "@U }\n");
    conf = load_ok("min_uid 0", "minuid.conf");
    if (conf != NULL) {
        ASSERT_TRUE(conf->min_uid == 0, "min_uid 0");
        drover_conf_free(conf);
    }
    round_trip("min_uid round trip", "minuid.conf", "m");

    put("sched.conf", "pool s { app app.so; listen unix:s.sock; @U "
        "cpu_scheduling normal; }\n");
    conf = load_ok("cpu_scheduling normal", "sched.conf");
    if (conf != NULL) {
        ASSERT_TRUE(conf->pools->cpu_scheduling == SCHED_OTHER,
                    "cpu_scheduling normal is SCHED_OTHER");
        drover_conf_free(conf);
    }
    round_trip("cpu_scheduling round trip", "sched.conf", "s");
    unlink(at("sched.conf"));
    unlink(at("minuid.conf"));

    expect_error("env_bad_name", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n env A-B;\n}\n", 5, "bad env name");
    expect_error("env_dup", "pool p {\n app app.so;\n listen unix:p.sock;\n"
                 " @U\n env A 1;\n env A 2;\n}\n", 6, "duplicate env \"A\"");
    expect_error("env_tmpdir", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n env TMPDIR tmp;\n}\n", 5,
                 "absolute path");
    expect_error("env_args", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n env A b c;\n}\n", 5, "env");
    expect_error("umask_bad", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n umask 0800;\n}\n", 5,
                 "\"umask\" needs an octal mode");
    expect_error("rlimit_files_zero", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n rlimit_files 0;\n}\n", 5,
                 "\"rlimit_files\" needs a number");
    expect_error("rlimit_core_bad", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n rlimit_core 1MB;\n}\n", 5,
                 "\"rlimit_core\" needs a size");
    expect_error("no_new_privs_bad", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n no_new_privs yes;\n}\n", 5,
                 "\"no_new_privs\" needs \"on\" or \"off\"");
    expect_error("cpu_scheduling_bad", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n cpu_scheduling fifo;\n}\n", 5,
                 "\"cpu_scheduling\" needs \"batch\", \"normal\" or "
                 "\"idle\", got \"fifo\"");
    expect_error("cpu_scheduling_args", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n cpu_scheduling batch idle;\n}\n", 5,
                 "cpu_scheduling");
    expect_error("working_dir_missing", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n working_dir nope;\n}\n", 5,
                 "No such file or directory");
    expect_error("working_dir_file", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n working_dir app.so;\n}\n", 5,
                 "is not a directory");
    expect_error("min_uid_late", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n}\nmin_uid 10;\n", 6,
                 "\"min_uid\" must come before the first pool");
    expect_error("min_uid_in_pool", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n min_uid 10;\n}\n", 5, "min_uid");

    /* as root: a system user is refused unless min_uid allows it */
    if (geteuid() == 0 && getpwnam("daemon") != NULL
        && getpwnam("daemon")->pw_uid < 1000)
    {
        expect_error("min_uid_daemon", "pool p {\n app app.so;\n listen "
                     "unix:p.sock;\n user daemon;\n}\n", 4,
                     "below min_uid 1000");

        snprintf(text, sizeof(text), "min_uid %lu;\npool p { app app.so; "
                 "listen unix:p.sock; user daemon; }\n",
                 (unsigned long) getpwnam("daemon")->pw_uid);
        put("daemon.conf", text);
        conf = load_ok("min_uid lowered for daemon", "daemon.conf");
        drover_conf_free(conf);
        unlink(at("daemon.conf"));
    }
}


static void
test_syntax_errors(void)
{
    expect_error("eof_in_directive",
                 "pool a {\n  app app.so;\n\n  workers 2", 4,
                 "unexpected end of file: missing \";\" after \"workers\"");
    expect_error("eof_at_main", "log_level info", 1,
                 "unexpected end of file");
    expect_error("eof_in_pool",
                 "pool a {\n  app app.so;\n  listen unix:x.sock;\n\n# end\n",
                 3, "pool \"a\" opened at line 1 has no closing \"}\"");
    expect_error("unterminated_string",
                 "\nlog_level \"info;\n\n\n", 2, "unterminated string");
    expect_error("unterminated_single",
                 "pool a {\n app 'app.so;\n}\n", 2, "unterminated string");
    expect_error("unexpected_close", "log_level info;\n\n}\n", 3,
                 "unexpected \"}\"");
    expect_error("unexpected_semicolon", "log_level info;\n ;\n", 2,
                 "unexpected \";\"");
    expect_error("unexpected_open", "\n{\n", 2, "unexpected \"{\"");
    expect_error("missing_semicolon_before_close",
                 "pool a {\n  app app.so;\n  workers 2 }\n", 3,
                 "missing \";\" after \"workers\"");
    expect_error("missing_semicolon_at_eol",
                 "pool a {\n  app app.so;\n  workers 2\n  preload on;\n}\n", 3,
                 "missing \";\" after \"workers\" (line 4 starts with "
                 "\"preload\")");
    expect_error("missing_semicolon_main",
                 "log_level info\npool a {\n}\n", 1,
                 "missing \";\" after \"log_level\"");
    expect_error("quote_in_word", "pool a {\n  app ap\"p.so\";\n}\n", 2,
                 "unexpected quote");
    expect_error("after_quote", "pool a {\n  app \"app.so\"x;\n}\n", 2,
                 "right after a quoted string");
    expect_error("unknown_directive", "log_level info;\nfoo bar;\n", 2,
                 "unknown directive \"foo\"");
    expect_error("unknown_in_pool", "pool a {\n\n  prestartx 1;\n}\n", 3,
                 "unknown directive \"prestartx\"");
    expect_error("pool_dir_at_main", "\nworkers 4;\n", 2,
                 "\"workers\" is not allowed here");
    expect_error("nested_pool", "pool a {\n  pool b {\n  }\n}\n", 2,
                 "\"pool\" is not allowed inside pool \"a\"");
    expect_error("pool_without_block", "\npool a;\n", 2,
                 "\"pool\" needs a block");
    expect_error("block_on_simple", "pool a {\n  workers 2 {\n", 2,
                 "\"workers\" does not take a block");
    expect_error("args_too_few", "pool a {\n  app app.so;\n  app;\n}\n", 3,
                 "wrong number of arguments for \"app\": got 0");
    expect_error("args_too_many", "pool a {\n  workers 1 2 3 4;\n}\n", 2,
                 "wrong number of arguments for \"workers\": got 4");
    expect_error("args_pool", "pool {\n}\n", 1,
                 "wrong number of arguments for \"pool\"");
    expect_error("args_listen", "pool a {\n listen unix:a a b c d e f g h i;"
                 "\n}\n", 2, "wrong number of arguments for \"listen\": got 10");
    expect_error("dup_main_log_level",
                 "log_level info;\n\nlog_level warn;\n", 3, "duplicate "
                 "\"log_level\", first set at ");
}


static void
test_nul(void)
{
    /* expect_error() stops at the NUL: write the file by length */
    put_len("nul.conf", "log_level info;\n\nlog_\0level info;\n", 33);
    check_error_in("nul_byte_by_length", "nul.conf", "nul.conf", 3,
                   "NUL byte");
    unlink(at("nul.conf"));
}


static void
test_directive_errors(void)
{
    char  text[512];

    expect_error("dup_workers",
                 "pool a {\n  workers 2;\n  app app.so;\n  workers 3;\n}\n", 4,
                 "duplicate \"workers\", first set at ");
    /* the first place is named with its own file and line */
    {
        char  want[PATH_MAX + 64];

        snprintf(want, sizeof(want), "first set at %s:2", at("dup_w.conf"));
        expect_error("dup_w", "pool a {\n  workers 2;\n  workers 3;\n}\n", 3,
                     want);
    }
    expect_error("dup_app", "pool a {\n app app.so;\n app app.so;\n}\n", 3,
                 "duplicate \"app\"");
    expect_error("dup_listen",
                 "pool a {\n listen unix:/x;\n listen unix:/y;\n}\n", 3,
                 "\"listen unix:\" is duplicate");

    snprintf(text, sizeof(text), "duplicate pool \"a\", first defined at %s:2",
             at("dup_pool.conf"));
    expect_error("dup_pool",
                 "\npool a { app app.so; listen unix:a.sock; @U }\n"
                 "pool b { app app.so; listen unix:b.sock; @U }\n"
                 "pool a { app app.so; listen unix:c.sock; @U }\n", 4, text);

    expect_error("bad_pool_name", "pool \"a b\" {\n}\n", 1,
                 "bad pool name \"a b\"");
    expect_error("long_pool_name",
                 "\npool aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                 "aaaaaaaaaaa {\n}\n", 2, "bad pool name");
    expect_error("no_pool", "# nothing\nlog_level info;\n", 1,
                 "no pool defined");
    expect_error("no_app", "\n\npool a {\n  listen unix:a.sock;\n  @U\n}\n", 3,
                 "pool \"a\" has no \"app\"");
    expect_error("no_listen", "pool a {\n  app app.so;\n  @U\n}\n", 1,
                 "pool \"a\" has no \"listen\"");

    expect_error("log_level_bad", "\nlog_level loud;\n", 2,
                 "\"log_level\" needs one of emerg, alert");
    expect_error("pool_log_level_bad",
                 "pool a {\n app app.so;\n log_level verbose;\n}\n", 3,
                 "got \"verbose\"");

    expect_error("app_missing", "pool a {\n\n app nothere.so;\n}\n", 3,
                 "No such file or directory");
    expect_error("app_dir", "pool a {\n app .;\n}\n", 2,
                 "is not a regular file");
    expect_error("app_empty", "pool a {\n app \"\";\n}\n", 2,
                 "\"app\" needs the path");
    if (geteuid() != 0) {
        put("unreadable.so", "");
        chmod(at("unreadable.so"), 0);
        expect_error("app_unreadable", "pool a {\n app unreadable.so;\n}\n",
                     2, "is not readable");
        unlink(at("unreadable.so"));
    }

    expect_error("app_param_dup",
                 "pool a {\n app_param x 1;\n app_param y 1;\n app_param x 2;"
                 "\n}\n", 4, "duplicate app_param \"x\"");
    expect_error("app_param_name", "pool a {\n app_param \"a b\" 1;\n}\n", 2,
                 "bad app_param name \"a b\"");
    expect_error("app_param_args", "pool a {\n app_param x;\n}\n", 2,
                 "wrong number of arguments for \"app_param\"");

    expect_error("listen_tcp", "pool a {\n listen 127.0.0.1:9000;\n}\n", 2,
                 "\"listen tcp:ADDR:PORT;\" beside it");
    expect_error("listen_empty", "pool a {\n listen unix:;\n}\n", 2,
                 "needs a socket path");
    expect_error("listen_mode", "pool a {\n listen unix:a mode=0999;\n}\n",
                 2, "octal mode from 0 to 0777, got \"0999\"");
    expect_error("listen_mode_big", "pool a {\n listen unix:a mode=01000;\n}"
                 "\n", 2, "got \"01000\"");
    expect_error("listen_option", "pool a {\n listen unix:a backlog=5;\n}\n",
                 2, "unknown listen option \"backlog=5\"");
    expect_error("listen_option_dup",
                 "pool a {\n listen unix:a mode=0600 mode=0640;\n}\n", 2,
                 "duplicate listen option \"mode\"");
    expect_error("listen_owner", "pool a {\n listen unix:a "
                 "owner=no_such_user_zz;\n}\n", 2, "unknown user "
                 "\"no_such_user_zz\"");
    expect_error("listen_group", "pool a {\n listen unix:a "
                 "group=no_such_group_zz;\n}\n", 2, "unknown group "
                 "\"no_such_group_zz\"");

    snprintf(text, sizeof(text), "already used by pool \"a\" at %s:1",
             at("listen_dup.conf"));
    expect_error("listen_dup",
                 "pool a { app app.so; listen unix:/tmp/same.sock; @U }\n"
                 "pool b {\n app app.so;\n listen unix:/tmp/same.sock;\n}\n",
                 4, text);

    expect_error("workers_word", "pool a {\n workers lots;\n}\n", 2,
                 "\"workers\" needs a number from 1 to 256 or \"auto\", got "
                 "\"lots\"");
    expect_error("workers_zero", "pool a {\n workers 0;\n}\n", 2,
                 "got \"0\"");
    expect_error("workers_big", "pool a {\n workers 257;\n}\n", 2,
                 "got \"257\"");
    expect_error("workers_negative", "pool a {\n workers -1;\n}\n", 2,
                 "got \"-1\"");
    expect_error("workers_overflow",
                 "pool a {\n workers 18446744073709551617;\n}\n", 2,
                 "got \"18446744073709551617\"");
    expect_error("preload_bad", "pool a {\n preload yes;\n}\n", 2,
                 "\"preload\" needs \"on\" or \"off\", got \"yes\"");

    expect_error("user_unknown", "pool a {\n user no_such_user_zz;\n}\n", 2,
                 "unknown user \"no_such_user_zz\"");
    expect_error("group_unknown", "pool a {\n group no_such_group_zz;\n}\n",
                 2, "unknown group \"no_such_group_zz\"");
}


/*
 * A user whose supplementary groups include root, without touching the
 * host: in a mount namespace of our own, /etc/group is a copy in which
 * nobody is a member of group root.
 */
static void
test_supplementary_root(void)
{
    int     ok;
    char    line[1024];
    FILE   *in, *out;

    if (unshare(CLONE_NEWNS) != 0
        || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    {
        printf("ok %d # skip supplementary group root: no mount namespace "
               "(%s)\n", ++tap_n, strerror(errno));
        return;
    }

    in = fopen("/etc/group", "r");
    out = fopen(at("group"), "w");
    ok = (in != NULL && out != NULL);

    while (ok && fgets(line, sizeof(line), in) != NULL) {
        if (strncmp(line, "root:", 5) == 0) {
            line[strcspn(line, "\n")] = '\0';
            fprintf(out, "%s%snobody\n", line,
                    line[strlen(line) - 1] == ':' ? "" : ",");
        } else {
            fputs(line, out);
        }
    }

    if (in != NULL) {
        fclose(in);
    }

    if (out != NULL && fclose(out) != 0) {
        ok = 0;
    }

    if (!ok || mount(at("group"), "/etc/group", NULL, MS_BIND, NULL) != 0) {
        TAP_CHECK(0, "supplementary group root: set up /etc/group (%s)",
                  strerror(errno));
        return;
    }

    expect_error("root_supplementary_group_root",
                 "pool a {\n app app.so;\n listen unix:a.sock;\n\n"
                 " user nobody;\n}\n", 5,
                 "pool \"a\" would run with group root: user \"nobody\" is a "
                 "member of group root (gid 0) in the group database; remove "
                 "it from that group or use another user");

    /* another group named does not help: initgroups() would add root */
    expect_error("root_supplementary_with_group",
                 "pool a {\n app app.so;\n listen unix:a.sock;\n"
                 " group nogroup;\n user nobody;\n}\n", 5,
                 "is a member of group root (gid 0)");

    umount("/etc/group");
}


static void
test_user_rules(void)
{
    char  text[512];

    if (geteuid() == 0) {
        expect_error("root_no_user",
                     "\npool a {\n app app.so;\n listen unix:a.sock;\n}\n", 2,
                     "pool \"a\" would run as root: set \"user\"");
        expect_error("root_user_root",
                     "pool a {\n app app.so;\n listen unix:a.sock;\n"
                     " user root;\n}\n", 4, "would run as root (\"user root\")");
        expect_error("root_user_0",
                     "pool a {\n app app.so;\n user 0;\n listen unix:a.sock;\n"
                     "}\n", 3, "would run as root");
        expect_error("root_numeric_user_without_passwd",
                     "pool a {\n app app.so;\n listen unix:a.sock;\n"
                     " user 3999999999;\n}\n", 4,
                     "has no passwd entry, so no primary group");

        /* group root is root too (php-fpm refuses it as well) */
        expect_error("root_group_root",
                     "pool a {\n app app.so;\n listen unix:a.sock;\n"
                     " user nobody;\n\n group root;\n}\n", 6,
                     "pool \"a\" would run with group root (\"group "
                     "root\"): use an unprivileged group");
        expect_error("root_group_0",
                     "pool a {\n app app.so;\n listen unix:a.sock;\n"
                     " group 0;\n user nobody;\n}\n", 4,
                     "would run with group root (\"group 0\")");
        expect_error("root_numeric_user_group_0",
                     "pool a {\n app app.so;\n listen unix:a.sock;\n"
                     " user 3999999999;\n group 0;\n}\n", 5,
                     "would run with group root");
        test_supplementary_root();

        /* with a group, a uid without a passwd entry is fine */
        put("numeric.conf", "pool a { app app.so; listen unix:a.sock;"
            " user 3999999999; group 3999999998; }\n");
        {
            drover_conf_t  *conf = load_ok("root: numeric ids", "numeric.conf");

            if (conf != NULL) {
                ASSERT_TRUE(conf->pools->uid == 3999999999u
                            && conf->pools->gid == 3999999998u,
                            "root: numeric ids kept");
                drover_conf_free(conf);
            }
        }
        unlink(at("numeric.conf"));
        return;
    }

    expect_error("not_root_user",
                 "pool a {\n app app.so;\n listen unix:a.sock;\n\n"
                 " user root;\n}\n", 5,
                 "droverd is not running as root, so it cannot switch to "
                 "user \"root\"");
    snprintf(text, sizeof(text), "pool a {\n app app.so;\n listen unix:a.sock;"
             "\n group %lu;\n}\n", (unsigned long) getegid() + 1);
    expect_error("not_root_group", text, 4,
                 "cannot switch to group");

    snprintf(text, sizeof(text), "pool a {\n app app.so;\n listen unix:a.sock;"
             "\n user %lu;\n}\n", (unsigned long) geteuid());
    put("self.conf", text);
    {
        drover_conf_t  *conf = load_ok("not root: own user", "self.conf");

        if (conf != NULL) {
            ASSERT_TRUE(conf->pools->uid == geteuid()
                        && conf->pools->gid == getegid(),
                        "not root: own user and group");
            drover_conf_free(conf);
        }
    }
    unlink(at("self.conf"));
}


static void
test_include_errors(void)
{
    char   text[PATH_MAX + 64];
    char  *big;

    expect_error("include_missing", "\ninclude nothere.conf;\n", 2,
                 "included file \"nothere.conf\" does not exist");

    put("loop.conf", "# includes itself\ninclude loop.conf;\n");
    check_error_in("include_loop", "loop.conf", "loop.conf", 2,
                   "includes nested more than 8 deep");
    unlink(at("loop.conf"));

    /* an error in an included file names that file and its line */
    put("inc/bad.conf", "pool x {\n  app ../app.so;\n\n  workers many;\n}\n");
    put("inc_main.conf", "log_level info;\ninclude inc/*.conf;\n");
    check_error_in("error_in_included_file", "inc_main.conf", "inc/bad.conf",
                   4, "got \"many\"");
    unlink(at("inc/bad.conf"));
    unlink(at("inc_main.conf"));

    /* an included file inside a pool may not close it */
    put("inpool/close.inc", "app ../app.so;\n}\n");
    put("inpool.conf", "pool x {\n  include inpool/*.inc;\n}\n");
    check_error_in("close_in_included_file", "inpool.conf",
                   "inpool/close.inc", 2, "unexpected \"}\"");
    unlink(at("inpool/close.inc"));
    unlink(at("inpool.conf"));

    mkdir(at("adir"), 0755);
    expect_error("include_directory", "\n\ninclude adir;\n", 3,
                 "is a directory");
    rmdir(at("adir"));

    /* a file over 1 MiB, reported at the include */
    big = malloc(1024 * 1024 + 2);
    memset(big, '#', 1024 * 1024 + 1);
    big[1024 * 1024 + 1] = '\0';
    put("big.conf", big);
    expect_error("include_too_big", "log_level info;\ninclude big.conf;\n", 2,
                 "is larger than 1 MiB");
    check_error_in("main_too_big", "big.conf", "big.conf", 0,
                   "is larger than 1 MiB");

    /* exactly 1 MiB is fine (and then has no pool) */
    big[1024 * 1024] = '\0';
    put("big.conf", big);
    check_error_in("main_1MiB", "big.conf", "big.conf", 1, "no pool defined");
    unlink(at("big.conf"));
    free(big);

    check_error_in("main_missing", "missing.conf", "missing.conf", 0,
                   "cannot open config file");

    snprintf(text, sizeof(text), "included file \"%s/nope.conf\" does not "
             "exist", dir);
    put("abs.conf", "");
    {
        FILE  *f = fopen(at("abs.conf"), "w");

        fprintf(f, "include \"%s/nope.conf\";\n", dir);
        fclose(f);
    }
    check_error_in("include_absolute_missing", "abs.conf", "abs.conf", 1,
                   text);
    unlink(at("abs.conf"));
}


static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}


/* exec PROGRAM [ARG...] (exec.c): instead of app, no preload, no app_param */
static void
test_exec(void)
{
    char            text[PATH_MAX + 256];
    drover_conf_t  *conf;

    put("exec.conf",
        "pool e {\n  exec /bin/cat -u \"a b\";\n  listen unix:e.sock;\n"
        "  workers 2;\n  max_requests 100;\n  @U\n}\n"
        "pool f {\n  exec /bin/cat;\n  listen unix:f.sock;\n"
        "  preload off;\n  @U\n}\n");
    conf = load_ok("exec", "exec.conf");
    if (conf != NULL) {
        drover_pool_conf_t  *e = drover_conf_find_pool(conf, "e");

        ASSERT_TRUE(e->app == NULL && e->exec_argc == 3
                    && e->exec_argv[3] == NULL
                    && strcmp(e->exec_argv[0], "/bin/cat") == 0
                    && strcmp(e->exec_argv[2], "a b") == 0,
                    "exec: the program and its arguments, as given");
        ASSERT_EQ(e->preload, 0, "exec: no preload");
        drover_conf_free(conf);
    }

    round_trip("exec round trip", "exec.conf", "e");
    round_trip("exec, preload off, round trip", "exec.conf", "f");
    unlink(at("exec.conf"));

    expect_error("exec_relative",
                 "pool a {\n listen unix:a.sock;\n exec php-cgi;\n @U\n}\n",
                 3, "\"exec\" needs an absolute program path");
    expect_error("exec_missing",
                 "pool a {\n exec /nonexistent/php-cgi;\n}\n", 2,
                 "exec program \"/nonexistent/php-cgi\": No such file");
    snprintf(text, sizeof(text), "pool a {\n exec %s;\n}\n", at("app.so"));
    expect_error("exec_not_executable", text, 2, "is not an executable file");
    expect_error("exec_and_app",
                 "pool a {\n app app.so;\n listen unix:a.sock;\n @U\n"
                 " exec /bin/cat;\n}\n", 5,
                 "pool \"a\" has both \"app\" and \"exec\"");
    expect_error("exec_preload",
                 "pool a {\n exec /bin/cat;\n preload on;\n"
                 " listen unix:a.sock;\n @U\n}\n", 3,
                 "\"preload on\" needs an \"app\"");
    expect_error("exec_app_param",
                 "pool a {\n exec /bin/cat;\n app_param x y;\n"
                 " listen unix:a.sock;\n @U\n}\n", 1,
                 "\"app_param\" needs an \"app\"");
}


/* a python pool: python MODULE:ATTR and its directives (python_conf.c) */
static void
test_python(void)
{
    drover_conf_t  *conf;

    mkdir(at("py"), 0755);
    mkdir(at("py/src"), 0755);
    mkdir(at("py/venv"), 0755);

    put("py/py.conf",
        "pool api {\n  python main:app;\n  python_path src;\n"
        "  python_path /tmp;\n  venv venv;\n  interface asgi;\n"
        "  lifespan on;\n  root_path /api;\n  python_preload data.x:load;\n"
        "  listen unix:api.sock;\n  @U\n}\n"
        "pool w {\n  python pkg.wsgi:application.wsgi_app;\n"
        "  listen unix:w.sock;\n  preload off;\n  @U\n}\n");
    conf = load_ok("python", "py/py.conf");
    if (conf != NULL) {
        drover_pool_conf_t  *a = drover_conf_find_pool(conf, "api");
        drover_pool_conf_t  *w = drover_conf_find_pool(conf, "w");

        ASSERT_TRUE(a->app == NULL && a->exec_argv == NULL
                    && strcmp(a->python.app, "main:app") == 0
                    && a->python.npath == 2
                    && strcmp(a->python.path[0], at("py/src")) == 0
                    && strcmp(a->python.path[1], "/tmp") == 0
                    && strcmp(a->python.venv, at("py/venv")) == 0
                    && a->python.interface == DROVER_PY_ASGI
                    && a->python.lifespan == DROVER_PY_ON
                    && strcmp(a->python.root_path, "/api") == 0
                    && strcmp(a->python.preload, "data.x:load") == 0,
                    "python: every directive, paths from the file's dir");
        ASSERT_TRUE(w->python.npath == 0 && w->python.venv == NULL
                    && w->python.interface == DROVER_PY_AUTO
                    && w->python.lifespan == DROVER_PY_AUTO
                    && w->python.root_path == NULL
                    && w->python.preload == NULL && w->preload == 0,
                    "python: the defaults");
        drover_conf_free(conf);
    }

    round_trip("python round trip", "py/py.conf", "api");
    round_trip("python defaults round trip", "py/py.conf", "w");

    expect_error("py_target", "pool a {\n python main;\n}\n", 2,
                 "\"python\" needs MODULE:ATTR");
    expect_error("py_target2", "pool a {\n python 1main:app;\n}\n", 2,
                 "got \"1main:app\"");
    expect_error("py_target3", "pool a {\n python main:;\n}\n", 2,
                 "\"python\" needs MODULE:ATTR");
    expect_error("py_preload", "pool a {\n python m:a;\n"
                 " python_preload m..x:f;\n}\n", 3,
                 "\"python_preload\" needs MODULE:FUNC");
    expect_error("py_path", "pool a {\n python m:a;\n"
                 " python_path /nonexistent/dir;\n}\n", 3,
                 "python_path \"/nonexistent/dir\" (/nonexistent/dir): "
                 "No such file");
    expect_error("py_venv", "pool a {\n python m:a;\n venv app.so;\n}\n", 3,
                 "not a directory");
    expect_error("py_interface", "pool a {\n python m:a;\n"
                 " interface rsgi;\n}\n", 3,
                 "\"interface\" needs \"asgi\", \"wsgi\" or \"auto\", "
                 "got \"rsgi\"");
    expect_error("py_lifespan", "pool a {\n python m:a;\n lifespan yes;\n}\n",
                 3, "\"lifespan\" needs \"auto\", \"on\" or \"off\"");
    expect_error("py_root", "pool a {\n python m:a;\n root_path /api/;\n}\n",
                 3, "\"root_path\" needs \"\" or a path");
    expect_error("py_root2", "pool a {\n python m:a;\n root_path api;\n}\n",
                 3, "got \"api\"");
    expect_error("py_and_app", "pool a {\n app app.so;\n python m:a;\n"
                 " listen unix:a.sock;\n @U\n}\n", 2,
                 "pool \"a\" has both \"python\" and \"app\"");
    expect_error("py_and_exec", "pool a {\n python m:a;\n exec /bin/cat;\n"
                 " listen unix:a.sock;\n @U\n}\n", 3,
                 "has both \"python\" and \"exec\"");
    expect_error("py_venv_alone", "pool a {\n app app.so;\n"
                 " listen unix:a.sock;\n @U\n venv /tmp;\n}\n", 5,
                 "\"venv\" is for a python pool");
    expect_error("py_path_alone", "pool a {\n app app.so;\n"
                 " listen unix:a.sock;\n @U\n python_path /tmp;\n}\n", 1,
                 "\"python_path\" is for a python pool");
    expect_error("py_dup", "pool a {\n python m:a;\n python m:b;\n}\n", 3,
                 "duplicate \"python\"");
    unlink(at("py/py.conf"));
}


/* workers ondemand MAX [idle=T]; process_max N|off (ondemand.c) */
static void
test_ondemand(void)
{
    drover_conf_t  *conf;

    put("od.conf",
        "process_max 12;\n"
        "pool od { app app.so; listen unix:od.sock; @U\n"
        "  workers ondemand 4 idle=2s; }\n"
        "pool dflt { app app.so; listen unix:dflt.sock; @U\n"
        "  workers ondemand 1; preload off; }\n"
        "pool fixed { app app.so; listen unix:fixed.sock; @U workers 2; }\n");
    conf = load_ok("ondemand", "od.conf");
    if (conf != NULL) {
        drover_pool_conf_t  *a = drover_conf_find_pool(conf, "od");
        drover_pool_conf_t  *b = drover_conf_find_pool(conf, "dflt");
        drover_pool_conf_t  *c = drover_conf_find_pool(conf, "fixed");

        ASSERT_EQ(conf->process_max, 12, "process_max 12");
        ASSERT_TRUE(a->ondemand == 1 && a->workers == 4 && a->idle_ms == 2000
                    && a->workers_auto == 0,
                    "workers ondemand 4 idle=2s: on demand, 4, 2000 ms");
        ASSERT_TRUE(b->ondemand == 1 && b->workers == 1
                    && b->idle_ms == 10000, "workers ondemand 1: idle 10s");
        ASSERT_TRUE(c->ondemand == 0, "workers 2: not on demand");
        drover_conf_free(conf);
    }

    round_trip("ondemand round trip", "od.conf", "od");
    round_trip("ondemand default idle round trip", "od.conf", "dflt");
    unlink(at("od.conf"));

    put("odoff.conf", "process_max off;\n"
        "pool a { app app.so; listen unix:a.sock; @U }\n");
    conf = load_ok("process_max off", "odoff.conf");
    if (conf != NULL) {
        ASSERT_EQ(conf->process_max, 0, "process_max off: 0");
        drover_conf_free(conf);
    }
    unlink(at("odoff.conf"));

    expect_error("ondemand_no_max", "pool a {\n app app.so;\n"
                 " workers ondemand;\n}\n", 3,
                 "\"workers ondemand\" needs a maximum number of workers "
                 "from 1 to 256, got \"\"");
    expect_error("ondemand_zero", "pool a {\n app app.so;\n"
                 " workers ondemand 0;\n}\n", 3,
                 "needs a maximum number of workers from 1 to 256, got \"0\"");
    expect_error("ondemand_big", "pool a {\n app app.so;\n"
                 " workers ondemand 257;\n}\n", 3, "got \"257\"");
    expect_error("ondemand_idle_bad", "pool a {\n app app.so;\n"
                 " workers ondemand 2\n idle=5x;\n}\n", 4,
                 "\"workers ondemand\" takes \"idle=TIME\" from 1s to 24h "
                 "such as idle=10s, got \"idle=5x\"");
    expect_error("ondemand_idle_short", "pool a {\n app app.so;\n"
                 " workers ondemand 2 idle=500ms;\n}\n", 3,
                 "got \"idle=500ms\"");
    expect_error("ondemand_idle_word", "pool a {\n app app.so;\n"
                 " workers ondemand 2 10s;\n}\n", 3, "got \"10s\"");
    expect_error("workers_extra", "pool a {\n app app.so;\n"
                 " workers 2 idle=1s;\n}\n", 3,
                 "\"workers\" takes one number, \"auto\" or \"ondemand MAX "
                 "[idle=10s]\", got \"idle=1s\" after \"2\"");
    expect_error("process_max_bad", "\nprocess_max lots;\n", 2,
                 "\"process_max\" needs a number of workers from 1 to "
                 "1000000 or \"off\", got \"lots\"");
    expect_error("process_max_zero", "process_max 0;\n", 1,
                 "got \"0\"");
    expect_error("process_max_in_pool", "pool a {\n process_max 3;\n}\n", 2,
                 "\"process_max\" is not allowed");
}


/* listen acl=, allow_peers: values, the resolved set, round trip, errors */
static void
test_peers(void)
{
    FILE                *f;
    drover_conf_t       *conf, *back;
    drover_pool_conf_t  *pool, *pool2;

    put("peers.conf",
        "pool a {\n"
        "    app app.so;\n"
        "    listen unix:a.sock mode=0660 acl=4001,4002 acl=4003 acl=4001;\n"
        "    @U\n"
        "}\n"
        "pool b {\n"
        "    app app.so;\n"
        "    listen unix:b.sock owner=4010 group=4020 acl=4011;\n"
        "    @U\n"
        "    allow_peers 4030 4031,4032;\n"
        "    allow_peers 4033;\n"
        "}\n");

    conf = load_ok("peers", "peers.conf");
    if (conf != NULL) {
        pool = drover_conf_find_pool(conf, "a");
        ASSERT_TRUE(pool->listen.nacl == 3 && pool->listen.acl[0] == 4001
                    && pool->listen.acl[1] == 4002
                    && pool->listen.acl[2] == 4003,
                    "acl=: comma lists and repeats, duplicates folded");
        ASSERT_TRUE(pool->nallow_peers == 0 && pool->peer_uids[0] == 0
                    && drover_peers_uid_allowed(pool, geteuid())
                    && (geteuid() != 0
                        || drover_peers_uid_allowed(pool, pool->uid)),
                    "default peers: root, droverd's user, the socket's "
                    "owner (the pool's user, as root)");
        ASSERT_TRUE(pool->peer_uids[pool->npeer_uids - 3] == 4001
                    && pool->peer_uids[pool->npeer_uids - 1] == 4003
                    && pool->peer_gid == (geteuid() == 0 ? pool->gid
                                                         : getegid()),
                    "default peers: the acl= users and the socket's group");

        pool = drover_conf_find_pool(conf, "b");
        ASSERT_TRUE(pool->nallow_peers == 4 && pool->allow_peers[0] == 4030
                    && pool->allow_peers[3] == 4033,
                    "allow_peers: several arguments, comma lists, repeats");
        ASSERT_TRUE(pool->peer_gid == (gid_t) -1
                    && drover_peers_uid_allowed(pool, 0)
                    && drover_peers_uid_allowed(pool, geteuid())
                    && drover_peers_uid_allowed(pool, 4032)
                    && !drover_peers_uid_allowed(pool, 4010)
                    && !drover_peers_uid_allowed(pool, 4011),
                    "allow_peers replaces the socket's owner, group and "
                    "acl=, not root and droverd's user");

        /* round trip of pool b: the workers resolve the same set */
        f = fopen(at("peers-dump.conf"), "w");
        ASSERT_EQ(drover_conf_dump_pool(conf, pool, f), 0, "dump b");
        fclose(f);

        back = load_ok("peers dump loads back", "peers-dump.conf");
        if (back != NULL) {
            pool2 = back->pools;
            ASSERT_TRUE(pool2->listen.nacl == 1
                        && pool2->listen.acl[0] == 4011
                        && pool2->nallow_peers == pool->nallow_peers
                        && memcmp(pool2->allow_peers, pool->allow_peers,
                                  sizeof(uid_t) * pool->nallow_peers) == 0
                        && pool2->npeer_uids == pool->npeer_uids
                        && memcmp(pool2->peer_uids, pool->peer_uids,
                                  sizeof(uid_t) * pool->npeer_uids) == 0
                        && pool2->peer_gid == pool->peer_gid,
                        "round trip: acl=, allow_peers and the resolved "
                        "set are equal");
            drover_conf_free(back);
        }
        unlink(at("peers-dump.conf"));
        drover_conf_free(conf);
    }
    unlink(at("peers.conf"));

    expect_error("acl_unknown", "pool p {\n app app.so;\n listen "
                 "unix:p.sock\n  acl=nosuchuser_drvt;\n @U\n}\n", 4,
                 "listen \"acl\": unknown user \"nosuchuser_drvt\"");
    expect_error("acl_empty", "pool p {\n app app.so;\n listen "
                 "unix:p.sock acl=4001,,4002;\n @U\n}\n", 3,
                 "needs user names or uids separated by commas");
    expect_error("allow_peers_unknown", "pool p {\n app app.so;\n listen "
                 "unix:p.sock;\n @U\n allow_peers 4001\n nosuchuser_drvt;\n"
                 "}\n", 6, "\"allow_peers\": unknown user");
    expect_error("allow_peers_main", "allow_peers 4001;\n", 1,
                 "allow_peers");
    expect_error("listen_option", "pool p {\n app app.so;\n listen "
                 "unix:p.sock acls=4001;\n @U\n}\n", 3,
                 "mode=0660, owner=USER, group=GROUP or acl=USER");
}


/* listen tcp:ADDR:PORT, allow_peers NET, status_listen (conf_tcp.c) */
static void
test_tcp(void)
{
    drover_conf_t       *conf;
    drover_pool_conf_t  *a, *b;

    put("tcp.conf",
        "status_listen tcp:10.0.0.5:9090 allow=10.0.0.0/8,fd00::/8;\n"
        "pool a { app app.so; listen unix:a.sock; @U\n"
        "  listen tcp:0.0.0.0:9000; allow_peers 10.1.2.3/8 192.168.7.7;\n"
        "  workers 2; }\n"
        "pool b { app app.so; listen unix:b.sock; @U\n"
        "  listen tcp:[::1]:9100; }\n");
    conf = load_ok("tcp", "tcp.conf");
    if (conf != NULL) {
        a = drover_conf_find_pool(conf, "a");
        b = drover_conf_find_pool(conf, "b");

        ASSERT_TRUE(conf->status_tcp_addr != NULL
                    && strcmp(conf->status_tcp_addr, "10.0.0.5") == 0
                    && conf->status_tcp_port == 9090
                    && conf->nstatus_nets == 2,
                    "status_listen: address, port, two allow= networks");
        ASSERT_TRUE(a->tcp.port == 9000 && strcmp(a->tcp.addr, "0.0.0.0") == 0,
                    "listen tcp:0.0.0.0:9000");
        ASSERT_TRUE(a->nallow_nets == 2 && a->allow_nets[0].bits == 8
                    && a->allow_nets[0].addr[0] == 10
                    && a->allow_nets[0].addr[1] == 0
                    && a->allow_nets[1].bits == 32,
                    "allow_peers 10.1.2.3/8: 10.0.0.0/8 (host bits off); "
                    "an address alone is /32");
        ASSERT_TRUE(a->nallow_peers == 0,
                    "allow_peers networks leave the unix users' default");
        ASSERT_TRUE(b->tcp.port == 9100 && strcmp(b->tcp.addr, "::1") == 0
                    && b->nallow_nets == 0,
                    "listen tcp:[::1]:9100, no networks: loopback only");
        drover_conf_free(conf);
    }

    round_trip("tcp round trip", "tcp.conf", "a");
    round_trip("tcp v6 round trip", "tcp.conf", "b");
    unlink(at("tcp.conf"));

    expect_error("tcp_bad_addr", "pool a {\n app app.so;\n"
                 " listen unix:a.sock;\n listen tcp:localhost:9000;\n @U\n}\n",
                 4, "use tcp:ADDR:PORT with an IP address");
    expect_error("tcp_bad_port", "pool a {\n app app.so;\n"
                 " listen unix:a.sock;\n listen tcp:10.0.0.1:70000;\n @U\n}\n",
                 4, "a port from 1 to 65535");
    expect_error("tcp_v6_brackets", "pool a {\n app app.so;\n"
                 " listen unix:a.sock;\n listen tcp:::1:9000;\n @U\n}\n",
                 4, "tcp:[fd00::5]:9000");
    expect_error("tcp_dup", "pool a {\n app app.so;\n listen unix:a.sock;\n"
                 " listen tcp:10.0.0.1:9000;\n listen tcp:10.0.0.1:9001;\n"
                 " @U\n}\n", 5, "\"listen tcp:\" is duplicate");
    expect_error("unix_dup", "pool a {\n app app.so;\n listen unix:a.sock;\n"
                 " listen unix:b.sock;\n @U\n}\n", 4,
                 "\"listen unix:\" is duplicate");
    expect_error("tcp_option", "pool a {\n app app.so;\n listen unix:a.sock;\n"
                 " listen tcp:10.0.0.1:9000 mode=0660;\n @U\n}\n", 4,
                 "takes no options");
    expect_error("tcp_high_port", "pool a {\n app app.so;\n"
                 " listen unix:a.sock;\n listen tcp:10.0.0.1:65400;\n"
                 " @U\n}\n", 4, "pass 65535");
    expect_error("tcp_exec", "pool a {\n exec /bin/cat;\n"
                 " listen unix:a.sock;\n listen tcp:10.0.0.1:9000;\n"
                 " @U\n}\n", 4, "needs an \"app\" pool");
    expect_error("tcp_ondemand", "pool a {\n app app.so;\n"
                 " listen unix:a.sock;\n listen tcp:10.0.0.1:9000;\n"
                 " workers ondemand 2;\n @U\n}\n", 4,
                 "\"workers ondemand\" yet");
    expect_error("nets_no_tcp", "pool a {\n app app.so;\n"
                 " listen unix:a.sock;\n allow_peers 10.0.0.0/8;\n @U\n}\n",
                 1, "names networks but the pool has no");
    expect_error("bad_net", "pool a {\n app app.so;\n listen unix:a.sock;\n"
                 " listen tcp:10.0.0.1:9000;\n allow_peers 10.0.0.0/33;\n"
                 " @U\n}\n", 5, "bad network \"10.0.0.0/33\"");
    expect_error("status_listen_unix", "status_listen unix:/x.sock;\n"
                 "pool a {\n app app.so;\n listen unix:a.sock;\n @U\n}\n", 1,
                 "use tcp:ADDR:PORT");
    expect_error("status_listen_opt", "status_listen tcp:127.0.0.1:9 "
                 "deny=1.2.3.4;\npool a {\n app app.so;\n listen unix:a.sock;"
                 "\n @U\n}\n", 1, "use allow=NET");
}


int
main(void)
{
    char  tmpl[] = "/tmp/test_conf.XXXXXX";

    if (mkdtemp(tmpl) == NULL || realpath(tmpl, dir) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }

    if (geteuid() == 0) {
        if (getpwnam("nobody") == NULL) {
            printf("Bail out! running as root needs a \"nobody\" user\n");
            return 1;
        }
        user_line = "user nobody;";
    } else {
        user_line = "";
    }

    put("app.so", "");

    test_good();
    test_values();
    test_dump();
    test_supervision();
    test_proc();
    test_syntax_errors();
    test_nul();
    test_directive_errors();
    test_user_rules();
    test_include_errors();
    test_ondemand();
    test_peers();
    test_tcp();
    test_exec();
    test_python();

    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

    return tap_done();
}
