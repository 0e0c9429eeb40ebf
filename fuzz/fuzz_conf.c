/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * fuzz_conf.c -- droverd's config parser (worker_host/src/conf*.c:
 * drover_conf_load and everything it calls: tokenizer, blocks, every
 * directive's setter, includes, the pool checks).
 *
 * conf.c reads files only, so each input is written to DIR/droverd.conf
 * in a private temporary directory and loaded from there.  DIR also holds
 * what a config names: app.so (an app is only stat()ed, never loaded),
 * inc.conf (a pool) and conf.d/a.conf, for relative includes.
 *
 * An include may name any path.  So that no input can block the fuzzer
 * on a FIFO or a terminal, conf.c's open() is linked to __wrap_open()
 * below (ld --wrap=open, fuzz_conf only), which refuses anything but
 * regular files and directories with EACCES, as a permission error would.
 *
 * The oracle: a failed load writes a non-empty "FILE:LINE: message"
 * (conf.h); a successful one dumps each pool with
 * drover_conf_dump_pool(), and the dump loads back into a pool that
 * dumps the same (conf.h: "reads back into an equal pool").
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);


static char  fuzz_dir[64];
static char  fuzz_path[128];
static char  fuzz_dump_path[128];


static void
fuzz_check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_conf: contract broken: %s\n", what);
        abort();
    }
}


int
__wrap_open(const char *path, int flags, ...)
{
    mode_t       mode;
    va_list      ap;
    struct stat  st;

    mode = 0;
    if (flags & O_CREAT) {
        va_start(ap, flags);
        mode = (mode_t) va_arg(ap, int);
        va_end(ap);
    }

    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)
        && !S_ISDIR(st.st_mode))
    {
        errno = EACCES;
        return -1;
    }

    return __real_open(path, flags, mode);
}


static void
fuzz_write(const char *path, const void *data, size_t len)
{
    FILE  *f;

    f = fopen(path, "w");
    fuzz_check(f != NULL, "cannot write in the temporary directory");
    fuzz_check(len == 0 || fwrite(data, 1, len, f) == len, "short write");
    fuzz_check(fclose(f) == 0, "cannot write in the temporary directory");
}


static void
fuzz_cleanup(void)
{
    static const char  *names[] = {
        "droverd.conf", "dump.conf", "app.so", "inc.conf", "conf.d/a.conf",
        "conf.d"
    };

    char    path[160];
    size_t  i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", fuzz_dir, names[i]);
        (void) remove(path);
    }

    (void) rmdir(fuzz_dir);
}


/* POOL as text, malloc()ed */
static char *
fuzz_dump(const drover_conf_t *conf, const drover_pool_conf_t *pool,
    size_t *len)
{
    int    rc;
    char  *text;
    FILE  *f;

    text = NULL;
    f = open_memstream(&text, len);
    fuzz_check(f != NULL, "open_memstream failed");

    rc = drover_conf_dump_pool(conf, pool, f);
    fuzz_check(fclose(f) == 0, "open_memstream failed");

    if (rc != 0) {
        free(text);
        return NULL;
    }

    return text;
}


static void
fuzz_round_trip(const drover_conf_t *conf, const drover_pool_conf_t *pool)
{
    int                  rc;
    char                 err[1024], *one, *two;
    size_t               one_len, two_len;
    drover_conf_t       *again;
    drover_pool_conf_t  *pool2;

    one = fuzz_dump(conf, pool, &one_len);
    if (one == NULL) {
        return;         /* a listen path too long to dump: -ENAMETOOLONG */
    }

    fuzz_write(fuzz_dump_path, one, one_len);

    rc = drover_conf_load(fuzz_dump_path, &again, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "fuzz_conf: the dump of pool \"%s\" does not load "
                "back: %s\n--- dump:\n%s---\n", pool->name, err, one);
        abort();
    }

    pool2 = drover_conf_find_pool(again, pool->name);
    fuzz_check(pool2 != NULL, "the dump loads back without its pool");

    two = fuzz_dump(again, pool2, &two_len);
    fuzz_check(two != NULL, "the reloaded pool does not dump");

    if (one_len != two_len || memcmp(one, two, one_len) != 0) {
        fprintf(stderr, "fuzz_conf: pool \"%s\" dumps differently after a "
                "round trip\n--- first:\n%s--- second:\n%s---\n",
                pool->name, one, two);
        abort();
    }

    free(one);
    free(two);
    drover_conf_free(again);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char         path[160];
    const char  *tmp;

    static const char  inc[] =
        "pool inc {\n    app app.so;\n    listen unix:/run/drover/inc.sock;"
        "\n}\n";
    static const char  confd[] = "log_level info;\n";

    (void) argc;
    (void) argv;

    drover_log_set_level(-2);

    tmp = getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/drover-fuzz-conf.XXXXXX",
             tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp");
    fuzz_check(mkdtemp(fuzz_dir) != NULL, "mkdtemp failed");
    atexit(fuzz_cleanup);

    snprintf(fuzz_path, sizeof(fuzz_path), "%s/droverd.conf", fuzz_dir);
    snprintf(fuzz_dump_path, sizeof(fuzz_dump_path), "%s/dump.conf",
             fuzz_dir);

    snprintf(path, sizeof(path), "%s/app.so", fuzz_dir);
    fuzz_write(path, "", 0);
    snprintf(path, sizeof(path), "%s/inc.conf", fuzz_dir);
    fuzz_write(path, inc, sizeof(inc) - 1);
    snprintf(path, sizeof(path), "%s/conf.d", fuzz_dir);
    fuzz_check(mkdir(path, 0700) == 0, "mkdir failed");
    snprintf(path, sizeof(path), "%s/conf.d/a.conf", fuzz_dir);
    fuzz_write(path, confd, sizeof(confd) - 1);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  rc;
    char                 err[1024];
    drover_conf_t       *conf;
    drover_pool_conf_t  *pool;

    /* the parser's own limit is 1 MiB; the fuzzer's inputs are smaller */
    fuzz_write(fuzz_path, data, size);

    memset(err, 'x', sizeof(err));
    rc = drover_conf_load(fuzz_path, &conf, err, sizeof(err));

    if (rc != 0) {
        fuzz_check(rc < 0, "a positive error code");
        fuzz_check(conf == NULL, "a config after an error");
        fuzz_check(memchr(err, '\0', sizeof(err)) != NULL,
                   "the error message is not terminated");
        fuzz_check(err[0] != '\0', "an error without a message");

        /*
         * Not checked: that the message is one line.  conf.c quotes the
         * offending token as it is, so a token with a newline in quotes
         * makes a two-line message (reported with issue 11's fuzzing).
         */
        fuzz_check(err[0] == '/', "an error message not starting with "
                   "the file's path");
        return 0;
    }

    fuzz_check(conf != NULL && conf->npools > 0, "a config without pools");

    for (pool = conf->pools; pool != NULL; pool = pool->next) {
        fuzz_round_trip(conf, pool);
    }

    drover_conf_free(conf);

    return 0;
}
