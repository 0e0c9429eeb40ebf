/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * main.c -- droverd's command line.
 *
 *   droverd [-c FILE]      run in the foreground (systemd style), log to stderr
 *   droverd -t [-c FILE]   check the configuration, exit 0 or 1
 *   droverd -t [-c FILE] POOLFILE
 *                          check one pool file FILE includes, with FILE's
 *                          own main settings (other included files are
 *                          not read)
 *   droverd -v             print the version
 *
 * droverd also execs itself in internal roles (see preloader.h).
 */

#include "app.h"
#include "conf.h"
#include "exec.h"
#include "log.h"
#include "manager.h"
#include "ondemand.h"
#include "preloader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>


#define DROVER_DEFAULT_CONF   "/etc/drover/droverd.conf"


static void
usage(FILE *f)
{
    fprintf(f,
        "usage: droverd [-t] [-c FILE]\n"
        "       droverd -t [-c FILE] POOLFILE\n"
        "       droverd -v\n"
        "\n"
        "  -c FILE        configuration file (default " DROVER_DEFAULT_CONF ")\n"
        "  -t             check the configuration and the apps, then exit;\n"
        "                 with POOLFILE, only that pool file FILE includes\n"
        "  -v, --version  print the version and exit\n"
        "  -h, --help     this help\n");
}


static int
parse_pid(const char *s, pid_t *pid)
{
    char  *end;
    long   v;

    errno = 0;
    v = strtol(s, &end, 10);

    if (errno != 0 || *end != '\0' || v <= 0) {
        return -EINVAL;
    }

    *pid = (pid_t) v;
    return 0;
}


static int
internal_role(int argc, char **argv)
{
    char           *end;
    pid_t           manager;
    unsigned long   slot;

    if (strcmp(argv[1], "--preloader") == 0 && argc == 4
        && parse_pid(argv[3], &manager) == 0)
    {
        return drover_preloader_main(argv[2], manager);
    }

    if (strcmp(argv[1], "--worker") == 0 && argc == 5
        && parse_pid(argv[4], &manager) == 0)
    {
        errno = 0;
        slot = strtoul(argv[3], &end, 10);

        if (errno == 0 && *end == '\0' && slot < DROVER_CONF_MAX_WORKERS) {
            return drover_worker_main(argv[2], (unsigned) slot, manager);
        }
    }

    fprintf(stderr, "droverd: %s is for droverd's own use\n", argv[1]);
    return 2;
}


/* droverd -t -c FILE POOLFILE: FILE's own settings and POOLFILE's pools */
static int
test_pool_file(const char *path, const char *pool_file)
{
    int                  rc;
    char                 err[2048];
    drover_conf_t       *conf;
    drover_pool_conf_t  *p;

    rc = drover_conf_load_pool_file(path, pool_file, &conf, err,
                                    sizeof(err));

    for (p = (rc == 0) ? conf->pools : NULL; p != NULL; p = p->next) {
        rc = drover_manager_check_pool(p, err, sizeof(err));
        if (rc != 0) {
            break;
        }
    }

    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        fprintf(stderr, "droverd: pool file %s test failed\n", pool_file);
        if (conf != NULL) {
            drover_conf_free(conf);
        }
        return 1;
    }

    drover_exec_notes(conf, stderr);
    printf("droverd: pool file %s test is successful (main settings from "
           "%s)\n", pool_file, path);
    drover_conf_free(conf);
    return 0;
}


int
main(int argc, char **argv)
{
    int             c, test;
    char            err[2048];
    const char     *path;
    drover_conf_t  *conf;

    /* the long options an admin types; the others are droverd's roles */

    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }

    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        argv[1] = "-v";
    }

    if (argc >= 2 && strncmp(argv[1], "--", 2) == 0 && argv[1][2] != '\0') {
        return internal_role(argc, argv);
    }

    path = DROVER_DEFAULT_CONF;
    test = 0;

    while ((c = getopt(argc, argv, "c:tvh")) != -1) {
        switch (c) {

        case 'c':
            path = optarg;
            break;

        case 't':
            test = 1;
            break;

        case 'v':
            printf("droverd " DROVER_VERSION " (Drover ABI %d, libuv %s)\n",
                   DROVER_ABI_VERSION, uv_version_string());
            return 0;

        case 'h':
            usage(stdout);
            return 0;

        default:
            usage(stderr);
            return 2;
        }
    }

    if (test && optind == argc - 1) {
        return test_pool_file(path, argv[optind]);
    }

    if (optind != argc) {
        fprintf(stderr, "droverd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    if (drover_manager_load(path, &conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        fprintf(stderr, "droverd: configuration file %s test failed\n", path);
        return 1;
    }

    if (test) {
        if (drover_ondemand_fds_enough(conf, 0, err, sizeof(err)) != 1) {
            fprintf(stderr, "droverd: warning: %s\n", err);
        }

        drover_exec_notes(conf, stderr);
        printf("droverd: configuration file %s test is successful\n", path);
        drover_conf_free(conf);
        return 0;
    }

    drover_log_set_level(conf->log_level);

    return drover_manager_run(conf, path);
}
