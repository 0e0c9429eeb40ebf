/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * exec.c -- exec mode: the `exec` directive, starting a pool's FastCGI
 * program (php-cgi, a libfcgi program) on its slot's socket, and watching
 * from /proc whether it serves a request (status, request_timeout).
 */

#include "exec.h"
#include "conf_int.h"
#include "env.h"
#include "fcgi.h"
#include "log.h"
#include "proc.h"

#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>


/*
 * The request id of a timeout's answer: the one drover_pass and nginx's
 * fastcgi module send (one request per connection, FastCGI 3.3).
 */
#define EXEC_REQUEST_ID  1


static int exec_child(drover_slot_t *s, pid_t parent, char **envp);
static int exec_syscall(pid_t pid, long *nr, unsigned long *arg0);
static int exec_conn(const drover_slot_t *s, int *fd, unsigned long *ino);
static unsigned long long exec_wchar(pid_t pid);
static void exec_timeout(drover_slot_t *s, int conn_fd);


/* ---- the directive ---- */

int
drover__conf_set_exec(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    int                  i;
    char                *real;
    struct stat          st;
    drover_pool_conf_t  *pool = b->pool;
    const char          *prog = d->args[0];

    if (prog[0] != '/') {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"exec\" needs an absolute program path, "
                                  "got \"%s\": the program runs without a "
                                  "shell and without PATH", prog);
    }

    real = realpath(prog, NULL);
    if (real == NULL || stat(real, &st) == -1) {
        i = errno;
        free(real);
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "exec program \"%s\": %s: install it or "
                                  "fix the path", prog, strerror(i));
    }

    free(real);

    if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "exec program \"%s\" is not an executable "
                                  "file", prog);
    }

    pool->exec_argv = calloc((size_t) d->nargs + 1, sizeof(char *));
    if (pool->exec_argv == NULL) {
        return -ENOMEM;
    }

    /* the directive's strings change owner */
    for (i = 0; i < d->nargs; i++) {
        pool->exec_argv[i] = d->args[i];
        d->args[i] = NULL;
    }

    pool->exec_argc = (size_t) d->nargs;

    return 0;
}


/*
 * At the pool's "}": an exec pool has no .so, so nothing to preload and no
 * app_param to hand over; saying otherwise is a mistake worth an error.
 */
int
drover__conf_exec_finish(drover__conf_parser_t *p, drover__conf_block_t *b)
{
    drover_pool_conf_t    *pool = b->pool;
    drover__conf_where_t  *w;

    if (pool->exec_argv == NULL) {
        return 0;
    }

    if (pool->app != NULL) {
        w = &b->seen[CONF_CMD_EXEC];
        return drover__conf_error(p, w->file, w->line,
                                  "pool \"%s\" has both \"app\" and \"exec\": "
                                  "keep one", pool->name);
    }

    w = &b->seen[CONF_CMD_PRELOAD];
    if (w->line != 0 && pool->preload) {
        return drover__conf_error(p, w->file, w->line,
                                  "\"preload on\" needs an \"app\": an exec "
                                  "pool's program loads itself in each slot; "
                                  "remove \"preload\"");
    }

    if (pool->nparams != 0) {
        return drover__conf_error(p, pool->file, pool->line,
                                  "pool \"%s\": \"app_param\" needs an "
                                  "\"app\": pass an exec pool's settings as "
                                  "\"exec\" arguments or with \"env\"",
                                  pool->name);
    }

    pool->preload = 0;

    return 0;
}


void
drover_exec_notes(const drover_conf_t *conf, FILE *f)
{
    const drover_pool_conf_t  *pc;

    for (pc = conf->pools; pc != NULL; pc = pc->next) {
        if (pc->exec_argv == NULL) {
            continue;
        }

        fprintf(f, "droverd: note: %s:%u: pool \"%s\" runs %s: its shared "
                "socket %s is not bound (the program accepts on its slot "
                "socket %s.K alone); front ends use \"drover_pass unix:%s;\" "
                "or a slot socket\n", pc->file, pc->line, pc->name,
                pc->exec_argv[0], pc->listen.path, pc->listen.path,
                pc->listen.path);
    }
}


/* ---- starting the program ---- */

int
drover_exec_start(drover_slot_t *s, pid_t *pid)
{
    int                  rc;
    char                 max[48];
    char                *extra[3];
    char               **envp;
    pid_t                child, parent;
    unsigned             n, seed;
    drover_pool_conf_t  *pc = s->gen->conf;

    /*
     * One process per slot: php-cgi with PHP_FCGI_CHILDREN forks its own
     * children behind droverd's back.  PHP_FCGI_MAX_REQUESTS is always
     * set: unset, php-cgi recycles itself after 500 requests; 0 is never.
     */
    n = pc->max_requests;
    if (n != 0 && pc->max_requests_jitter != 0) {
        seed = (unsigned) s->index ^ (unsigned) drover_proc_now_ms();
        n += (unsigned) rand_r(&seed) % (pc->max_requests_jitter + 1);
    }

    snprintf(max, sizeof(max), "PHP_FCGI_MAX_REQUESTS=%u", n);
    extra[0] = "PHP_FCGI_CHILDREN";
    extra[1] = max;
    extra[2] = NULL;

    rc = drover_env_build(pc, extra, &envp);
    if (rc != 0) {
        return rc;
    }

    parent = getpid();

    child = drover_proc_fork();
    if (child == -1) {
        rc = -errno;
        drover_env_free(envp);
        return rc;
    }

    if (child == 0) {
        _exit(exec_child(s, parent, envp));
    }

    drover_env_free(envp);
    *pid = child;

    return 0;
}


/* in the child: returns only on failure, with the exit code */
static int
exec_child(drover_slot_t *s, pid_t parent, char **envp)
{
    int                  fd, slot, out, flags;
    char                 err[512];
    const char          *what;
    drover_pool_conf_t  *pc = s->gen->conf;

    what = "die with the manager";
    if (drover_proc_die_with(parent) != 0) {
        goto fail;
    }

    /* both above 2 first, so that the dup2()s below cannot clobber them */
    what = "move its fds";
    slot = fcntl(s->sock.fd, F_DUPFD_CLOEXEC, 3);
    fd = drover_output_fd(s->pool->output);
    out = (fd >= 0) ? fcntl(fd, F_DUPFD_CLOEXEC, 3)
                    : open("/dev/null", O_WRONLY | O_CLOEXEC);

    if (slot == -1 || out < 3
        || dup2(slot, STDIN_FILENO) == -1
        || dup2(out, STDOUT_FILENO) == -1
        || dup2(out, STDERR_FILENO) == -1)
    {
        goto fail;
    }

    /*
     * The FastCGI convention (FastCGI 2.2, "Application startup"): the
     * listening socket on fd 0, in blocking mode, since the program
     * blocks in accept().  The manager never accepts on it itself.
     */
    what = "make its socket blocking";
    flags = fcntl(STDIN_FILENO, F_GETFL);
    if (flags == -1
        || fcntl(STDIN_FILENO, F_SETFL, flags & ~O_NONBLOCK) == -1)
    {
        goto fail;
    }

    what = "close the manager's fds";
    if (drover_proc_close_from(3) != 0) {
        goto fail;
    }

    if (drover_proc_drop_privileges(pc, err, sizeof(err)) != 0) {
        drover_log_error(DROVER_LOG_EMERG, 0, "pool %s: exec slot %u: %s",
                         pc->name, s->index, err);
        return 126;
    }

    /*
     * A change of credentials clears PR_SET_PDEATHSIG (prctl(2)): again,
     * as the pool's user.  execve() keeps it, but for a setuid program,
     * which no_new_privs (on by default) makes an ordinary one.
     */
    what = "die with the manager";
    if (drover_proc_die_with(parent) != 0) {
        goto fail;
    }

    execve(pc->exec_argv[0], pc->exec_argv, envp);

    what = "exec";

fail:

    drover_log_error(DROVER_LOG_EMERG, errno, "pool %s: exec slot %u: cannot "
                     "%s %s", pc->name, s->index, what, pc->exec_argv[0]);
    return 127;
}


int
drover_exec_exit_reason(const drover_slot_t *s, int status)
{
    const drover_pool_conf_t  *pc;

    pc = (s->gen != NULL) ? s->gen->conf : NULL;

    if (pc == NULL || pc->exec_argv == NULL) {
        return -1;
    }

    /* php-cgi after PHP_FCGI_MAX_REQUESTS requests: exit(0) */
    if (pc->max_requests != 0 && WIFEXITED(status)
        && WEXITSTATUS(status) == 0)
    {
        return EXIT_MAX_REQUESTS;
    }

    return -1;
}


/* ---- what the program does now ---- */

/*
 * /proc/PID/syscall: "NR ARG0 ARG1 ... SP PC" while blocked in a system
 * call, "running" or "-1 SP PC" otherwise.  0, or -1 when not in one.
 */
static int
exec_syscall(pid_t pid, long *nr, unsigned long *arg0)
{
    int      fd;
    char     path[64], buf[256];
    ssize_t  n;

    snprintf(path, sizeof(path), "/proc/%ld/syscall", (long) pid);

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return -1;
    }

    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);

    if (n <= 0) {
        return -1;
    }

    buf[n] = '\0';

    if (sscanf(buf, "%ld %lx", nr, arg0) != 2 || *nr < 0) {
        return -1;
    }

    return 0;
}


static int
exec_idle_call(long nr, unsigned long arg0, int conn_fd)
{
#ifdef SYS_accept
    if (nr == SYS_accept && arg0 == 0) {
        return 1;
    }
#endif

    if (nr == SYS_accept4 && arg0 == 0) {
        return 1;
    }

    /* waiting for the front end: a kept-alive connection, or a body */
    return conn_fd >= 0 && arg0 == (unsigned long) conn_fd
           && (nr == SYS_read || nr == SYS_recvfrom || nr == SYS_recvmsg);
}


/*
 * The FastCGI connection the program serves: among its socket fds, the
 * first whose name is the slot's path (an accepted Unix socket carries its
 * listener's address), looked at through a copy taken with pidfd_getfd
 * (Linux 5.6): a few system calls per slot, where /proc/net/unix would
 * list every socket of the host.  0 and *fd, *ino, or -1 (none, or no
 * pidfd_getfd: the slot then counts as idle).
 */
static int
exec_conn(const drover_slot_t *s, int *fd, unsigned long *ino)
{
    int                  k, c, rc, found;
    DIR                 *dir;
    char                 dpath[64], lpath[320], link[64];
    ssize_t              len;
    socklen_t            alen;
    unsigned long        inode;
    struct dirent       *de;
    struct sockaddr_un   sun;

    if (s->pidfd < 0) {
        return -1;
    }

    snprintf(dpath, sizeof(dpath), "/proc/%ld/fd", (long) s->pid);

    dir = opendir(dpath);
    if (dir == NULL) {
        return -1;
    }

    found = 0;

    while (!found && (de = readdir(dir)) != NULL) {
        k = atoi(de->d_name);
        if (k <= 0) {
            continue;       /* ".", "..", and 0: the listening socket */
        }

        snprintf(lpath, sizeof(lpath), "%s/%s", dpath, de->d_name);
        len = readlink(lpath, link, sizeof(link) - 1);
        if (len <= 0) {
            continue;
        }

        link[len] = '\0';

        if (sscanf(link, "socket:[%lu]", &inode) != 1) {
            continue;
        }

        c = pidfd_getfd(s->pidfd, k, 0);
        if (c == -1) {
            continue;
        }

        alen = sizeof(sun);
        memset(&sun, 0, sizeof(sun));
        rc = getsockname(c, (struct sockaddr *) &sun, &alen);
        close(c);

        if (rc == 0 && sun.sun_family == AF_UNIX
            && alen > offsetof(struct sockaddr_un, sun_path)
            && strncmp(sun.sun_path, s->sock.path, sizeof(sun.sun_path)) == 0)
        {
            *fd = k;
            *ino = inode;
            found = 1;
        }
    }

    closedir(dir);

    return found ? 0 : -1;
}


void
drover_exec_sample(drover_slot_t *s)
{
    int                  conn_fd;
    long                 nr;
    unsigned long        arg0, ino;
    drover_pool_conf_t  *pc;
    unsigned long long   now, ran;

    if (s->state != SLOT_RUNNING || s->gen == NULL
        || s->gen->conf->exec_argv == NULL)
    {
        return;
    }

    pc = s->gen->conf;
    s->sb.pid = s->pid;

    if (exec_syscall(s->pid, &nr, &arg0) == 0
        && exec_idle_call(nr, arg0, -1))
    {
        goto idle;
    }

    if (exec_conn(s, &conn_fd, &ino) != 0) {
        goto idle;      /* running, yet with no connection: starting up */
    }

    if (exec_syscall(s->pid, &nr, &arg0) == 0
        && exec_idle_call(nr, arg0, conn_fd))
    {
        goto idle;
    }

    now = drover_sb_now_us();

    /* a new connection is a new request: one per connection, 5.1 */
    if (s->sb.state != DROVER_SB_BUSY || s->exec_conn != ino) {
        /*
         * What it wrote before this request is known only when it was
         * last seen idle: from accept() on, nothing was written but for
         * this request (exec_timeout)
         */
        if (s->sb.state != DROVER_SB_IDLE) {
            s->exec_wchar = ~0ULL;
        }

        s->exec_conn = ino;
        s->sb.state = DROVER_SB_BUSY;
        s->sb.request_start_us = now;
    }

    ran = (now - s->sb.request_start_us) / 1000;

    if (pc->request_timeout_ms != 0 && ran >= pc->request_timeout_ms
        && s->stop_reason == -1)
    {
        drover_log_error(DROVER_LOG_WARN, 0, "pool %s: worker %u (pid %ld) "
                         "has run one request for %llu ms, over "
                         "request_timeout %u ms: killing it", s->pool->name,
                         s->index, (long) s->pid, ran,
                         pc->request_timeout_ms);
        exec_timeout(s, conn_fd);
    }

    return;

idle:

    if (s->sb.state == DROVER_SB_BUSY) {
        now = drover_sb_now_us();
        s->sb.busy_us += now - s->sb.request_start_us;
    }

    s->sb.state = DROVER_SB_IDLE;
    s->sb.request_start_us = 0;
    s->exec_conn = 0;
    s->exec_wchar = exec_wchar(s->pid);
}


/* bytes the program wrote so far, all fds together (/proc/PID/io) */
static unsigned long long
exec_wchar(pid_t pid)
{
    FILE                *f;
    char                 path[64], line[128];
    unsigned long long   n;

    snprintf(path, sizeof(path), "/proc/%ld/io", (long) pid);

    f = fopen(path, "re");
    if (f == NULL) {
        return ~0ULL;
    }

    n = ~0ULL;

    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "wchar: %llu", &n) == 1) {
            break;
        }
    }

    fclose(f);
    return n;
}


/*
 * request_timeout for a program that cannot time itself out.  Killed and
 * left alone, its connection would close before any response byte, and
 * drover_pass replays an idempotent request that did so on another slot,
 * where it hangs again.  So the manager answers as a worker does at its
 * timeout: it takes a copy of the connection (pidfd_getfd, Linux 5.6),
 * kills the program, and once its exit is reaped (none of its writes can
 * follow ours) sends a 504 on it (drover_exec_exited).  Only when the
 * program wrote nothing since it was last seen idle (/proc/PID/io): when it
 * did, or was not seen idle between this request and the one before, the
 * response may have begun, and the connection just closes, as a worker's
 * does at its timeout.  Without pidfd_getfd: the kill alone.
 */
static void
exec_timeout(drover_slot_t *s, int conn_fd)
{
    if (s->pidfd >= 0 && s->exec_wchar != ~0ULL && s->exec_answer_fd == -1
        && exec_wchar(s->pid) == s->exec_wchar)
    {
        s->exec_answer_fd = pidfd_getfd(s->pidfd, conn_fd, 0);
    }

    if (s->exec_answer_fd == -1) {
        drover_log_error(DROVER_LOG_NOTICE, 0, "pool %s: worker %u (pid %ld) "
                         "wrote since it was last seen idle, so its response "
                         "may have begun: its connection closes without a "
                         "504", s->pool->name, s->index, (long) s->pid);
    }

    drover_slot_stop(s, EXIT_TIMEOUT, SIGKILL);
}


void
drover_exec_exited(drover_slot_t *s)
{
    size_t    len, n;
    uint8_t   buf[256], *p;

    static const char  body[] = "Status: 504 Gateway Timeout\r\n"
                                "Content-Type: text/plain\r\n\r\n"
                                "504 Gateway Timeout: the app did not answer "
                                "within request_timeout\n";

    s->exec_conn = 0;

    if (s->exec_answer_fd == -1) {
        return;
    }

    p = buf;
    n = sizeof(body) - 1;

    drover_fcgi_header_encode(p, DROVER_FCGI_STDOUT, EXEC_REQUEST_ID, n,
                              drover_fcgi_padding(n));
    p += DROVER_FCGI_HEADER_LEN;
    memcpy(p, body, n);
    p += n;
    memset(p, 0, drover_fcgi_padding(n));
    p += drover_fcgi_padding(n);

    drover_fcgi_header_encode(p, DROVER_FCGI_STDOUT, EXEC_REQUEST_ID, 0, 0);
    p += DROVER_FCGI_HEADER_LEN;

    drover_fcgi_header_encode(p, DROVER_FCGI_END_REQUEST, EXEC_REQUEST_ID,
                              DROVER_FCGI_BODY_LEN, 0);
    p += DROVER_FCGI_HEADER_LEN;
    drover_fcgi_end_request_encode(p, 0, DROVER_FCGI_REQUEST_COMPLETE);
    p += DROVER_FCGI_BODY_LEN;

    len = (size_t) (p - buf);

    /* never blocks the manager: a front end that reads nothing gets less */
    (void) send(s->exec_answer_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    close(s->exec_answer_fd);
    s->exec_answer_fd = -1;
}
