/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * droverctl.c -- droverctl: talks to a running droverd through its control
 * socket (control.h has the protocol).
 *
 *   droverctl [-s SOCKET] [--json] COMMAND [ARGS]
 *
 * A plain blocking client: one connection, one JSON line out, one JSON
 * line back, every wait bounded by CTL_TIMEOUT_MS.  What droverd sends is
 * not trusted: any field may be missing, null or of another type, and
 * strings are shown with their control characters replaced, so a request
 * URI cannot drive the terminal.
 *
 * Exit codes: 0 done; 1 droverd answered with an error; 2 usage error;
 * 3 cannot connect; 4 protocol error (a bad answer, or none in time).
 */

#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>


/* ---- the command line ---- */

static void
ctl_usage(FILE *f)
{
    fprintf(f,
        "usage: droverctl [-s SOCKET] [--json] COMMAND [ARGS]\n"
        "\n"
        "commands:\n"
        "  status [POOL]    pools and their workers\n"
        "  top [POOL]       status, redrawn every second (q quits)\n"
        "  reload           reload the configuration (like SIGHUP)\n"
        "  reload POOL      re-read the configuration, apply POOL's only\n"
        "  restart POOL     replace every worker of POOL, one at a time\n"
        "  scale POOL N     run N workers (1 to %d) in POOL\n"
        "  stop             stop droverd gracefully (like SIGTERM)\n"
        "  stop POOL        stop POOL's workers; its sockets stay bound\n"
        "  start POOL       start a stopped POOL again\n"
        "  version          droverd's and droverctl's versions\n"
        "  ready [POOL]     exit 0 when every pool (or POOL) serves, 1 if "
        "not\n"
        "\n"
        "options:\n"
        "  -s, --socket SOCKET  the control socket (default: $"
        CTL_ENV_SOCKET ", else " DROVER_CONTROL_PATH ")\n"
        "  -j, --json           print droverd's answer as JSON\n"
        "  -h, --help           this help\n"
        "\n"
        "exit codes: 0 done, 1 droverd answered with an error, 2 usage "
        "error,\n"
        "3 cannot connect (droverd not running, no permission), 4 bad or "
        "no answer\n", DROVER_CONF_MAX_WORKERS);
}


static int
ctl_bad_usage(const char *fmt, ...) DROVER_PRINTF(1, 2);

static int
ctl_bad_usage(const char *fmt, ...)
{
    va_list  ap;

    fputs("droverctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);

    ctl_usage(stderr);
    return CTL_EUSAGE;
}


/* what an action prints when it was accepted */
static void
ctl_print_done(const char *cmd, const char *pool, long workers)
{
    if (pool != NULL && strcmp(cmd, "reload") == 0) {
        printf("pool %s: reloading it\n", pool);

    } else if (pool != NULL && strcmp(cmd, "stop") == 0) {
        printf("pool %s: stopping it\n", pool);

    } else if (strcmp(cmd, "start") == 0) {
        printf("pool %s: starting it\n", pool);

    } else if (strcmp(cmd, "reload") == 0) {
        printf("droverd: reloading the configuration\n");

    } else if (strcmp(cmd, "restart") == 0) {
        printf("pool %s: restarting its workers\n", pool);

    } else if (strcmp(cmd, "scale") == 0) {
        printf("pool %s: scaling to %ld worker%s\n", pool, workers,
               workers == 1 ? "" : "s");

    } else if (strcmp(cmd, "stop") == 0) {
        printf("droverd: stopping\n");
    }
}


static void
ctl_print_version(json_object *result)
{
    double       pid, proto;
    char        *v;
    const char  *s;

    s = drover_json_string(result, DROVER_SK_VERSION);
    v = ctl_clean(s != NULL ? s : "(unknown)");

    printf("droverd %s", v);
    if (drover_json_number(result, DROVER_SK_PID, &pid)) {
        printf(", pid %.0f", pid);
    }
    if (drover_json_number(result, DROVER_SK_PROTOCOL, &proto)) {
        printf(", control protocol %.0f", proto);
    }
    printf("\ndroverctl %s\n", DROVER_VERSION);

    free(v);
}


/* the syntax of droverd's pool names: [A-Za-z0-9_.-]{1,64} */
static int
ctl_pool_name_ok(const char *name)
{
    size_t  len = strlen(name);

    return len > 0 && len <= DROVER_CONF_NAME_MAX
           && strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                           "0123456789_.-") == len;
}


/* N of `scale POOL N`, or -1 */
static long
ctl_parse_workers(const char *s)
{
    long   n;
    char  *end;

    errno = 0;
    n = strtol(s, &end, 10);

    if (errno != 0 || end == s || *end != '\0' || n < 1
        || n > DROVER_CONF_MAX_WORKERS)
    {
        return -1;
    }

    return n;
}


int
main(int argc, char **argv)
{
    int            opt, json, rc, nargs;
    long           workers;
    const char    *cmd, *pool;
    json_object   *req, *result;
    ctl_conn_t     conn;

    static const struct option  long_opts[] = {
        { "socket", required_argument, NULL, 's' },
        { "json",   no_argument,       NULL, 'j' },
        { "help",   no_argument,       NULL, 'h' },
        { NULL,     0,                 NULL, 0 }
    };

    memset(&conn, 0, sizeof(conn));
    conn.fd = -1;
    conn.path = getenv(CTL_ENV_SOCKET);
    if (conn.path == NULL || conn.path[0] == '\0') {
        conn.path = DROVER_CONTROL_PATH;
    }

    json = 0;

    while ((opt = getopt_long(argc, argv, "s:jh", long_opts, NULL)) != -1) {
        switch (opt) {

        case 's':
            if (optarg[0] == '\0') {
                return ctl_bad_usage("-s needs a socket path");
            }
            conn.path = optarg;
            break;

        case 'j':
            json = 1;
            break;

        case 'h':
            ctl_usage(stdout);
            return CTL_OK;

        default:
            fputc('\n', stderr);
            ctl_usage(stderr);
            return CTL_EUSAGE;
        }
    }

    if (optind >= argc) {
        return ctl_bad_usage("no command given");
    }

    cmd = argv[optind];
    nargs = argc - optind - 1;
    pool = nargs > 0 ? argv[optind + 1] : NULL;
    workers = 0;

    if (strcmp(cmd, "status") == 0 || strcmp(cmd, "top") == 0
        || strcmp(cmd, "ready") == 0)
    {
        if (nargs > 1) {
            return ctl_bad_usage("%s takes at most one pool name", cmd);
        }

    } else if (strcmp(cmd, "restart") == 0 || strcmp(cmd, "start") == 0) {
        if (nargs != 1) {
            return ctl_bad_usage("%s takes a pool name: %s POOL", cmd, cmd);
        }

    } else if (strcmp(cmd, "reload") == 0 || strcmp(cmd, "stop") == 0) {
        if (nargs > 1) {
            return ctl_bad_usage("%s takes at most one pool name: %s "
                                 "[POOL]", cmd, cmd);
        }

    } else if (strcmp(cmd, "scale") == 0) {
        if (nargs != 2) {
            return ctl_bad_usage("scale takes a pool name and a number: "
                                 "scale POOL N");
        }

        workers = ctl_parse_workers(argv[optind + 2]);
        if (workers < 0) {
            return ctl_bad_usage("scale: N must be a number from 1 to %d, "
                                 "got \"%s\"", DROVER_CONF_MAX_WORKERS,
                                 argv[optind + 2]);
        }

    } else if (strcmp(cmd, "version") == 0) {
        if (nargs != 0) {
            return ctl_bad_usage("%s takes no arguments", cmd);
        }

    } else {
        return ctl_bad_usage("unknown command \"%s\"", cmd);
    }

    if (pool != NULL && !ctl_pool_name_ok(pool)) {
        return ctl_bad_usage("\"%s\" is not a pool name: 1 to %d "
                             "characters from A-Z a-z 0-9 _ . -", pool,
                             DROVER_CONF_NAME_MAX);
    }

    signal(SIGPIPE, SIG_IGN);

    if (strcmp(cmd, "top") == 0) {
        if (json) {
            return ctl_bad_usage("top does not print JSON; use "
                                 "status --json");
        }

        rc = ctl_top(&conn, pool);
        goto cleanup;
    }

    if (strcmp(cmd, "ready") == 0) {
        rc = ctl_ready(&conn, pool);
        goto cleanup;
    }

    req = ctl_make_request(cmd, pool, workers);
    rc = ctl_request(&conn, req, &result);
    json_object_put(req);

    if (rc != CTL_OK) {
        goto cleanup;
    }

    if (json) {
        printf("%s\n", json_object_to_json_string_ext(result,
               JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));

    } else if (strcmp(cmd, "status") == 0) {
        ctl_print_status(result, stdout);

    } else if (strcmp(cmd, "version") == 0) {
        ctl_print_version(result);

    } else {
        ctl_print_done(cmd, pool, workers);
    }

    json_object_put(result);

cleanup:

    /* "ready" said why not on stdout already */
    if (rc != CTL_OK && conn.err[0] != '\0') {
        fprintf(stderr, "droverctl: %s\n", conn.err);
    }

    ctl_disconnect(&conn);
    drover_buf_free(&conn.in);

    if (fflush(stdout) != 0 && rc == CTL_OK) {
        fprintf(stderr, "droverctl: cannot write the output: %s\n",
                strerror(errno));
        rc = CTL_EPROTOCOL;
    }

    return rc;
}
