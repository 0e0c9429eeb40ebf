/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * log.c -- see log.h.
 *
 * The level is the only mutable state; each process (manager, preloader,
 * worker) has its own copy after fork.
 */

#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

static int log_level = DROVER_LOG_NOTICE;

static const char *const log_names[] = {
    "emerg", "alert", "error", "warn", "notice", "info", "debug"
};


void
drover_log_set_level(int level)
{
    log_level = level;
}


int
drover_log_get_level(void)
{
    return log_level;
}


int
drover_log_level_parse(const char *name)
{
    int  i;

    for (i = 0; i < (int) (sizeof(log_names) / sizeof(log_names[0])); i++) {
        if (strcmp(name, log_names[i]) == 0) {
            return i - 1;
        }
    }

    return -2;
}


const char *
drover_log_level_name(int level)
{
    if (level < DROVER_LOG_EMERG || level > DROVER_LOG_DEBUG) {
        return "unknown";
    }

    return log_names[level + 1];
}


/* "2026/11/26 13:21:26 [error] 1234#0: " into line; its length */
static size_t
log_prefix(char *line, size_t size, int level)
{
    int        n;
    size_t     len;
    time_t     now;
    struct tm  tm;

    now = time(NULL);
    localtime_r(&now, &tm);

    len = strftime(line, size, "%Y/%m/%d %H:%M:%S ", &tm);

    n = snprintf(line + len, size - len, "[%s] %ld#0: ",
                 drover_log_level_name(level), (long) getpid());
    len += (n > 0) ? (size_t) n : 0;

    return len < size ? len : size - 1;
}


/* one write: lines from several processes on one stderr stay whole */
static void
log_write(const char *line, size_t len)
{
    while (write(STDERR_FILENO, line, len) == -1 && errno == EINTR) {
        /* retry */
    }
}


void
drover_log_line(int level, const char *msg, size_t len)
{
    int     saved_errno;
    char    line[DROVER_LOG_LINE_MAX * 4];
    size_t  n;

    saved_errno = errno;

    n = log_prefix(line, sizeof(line), level);

    if (len > sizeof(line) - 1 - n) {
        len = sizeof(line) - 1 - n;
    }

    memcpy(line + n, msg, len);
    n += len;
    line[n++] = '\n';

    log_write(line, n);

    errno = saved_errno;
}


void
drover_log_error(int level, int err, const char *fmt, ...)
{
    int        n, saved_errno;
    char       line[DROVER_LOG_LINE_MAX];
    size_t     len;
    va_list    ap;

    if (level > log_level) {
        return;
    }

    saved_errno = errno;

    len = log_prefix(line, sizeof(line), level);

    va_start(ap, fmt);
    n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
    va_end(ap);

    if (n > 0) {
        len += (size_t) n;
    }

    if (len >= sizeof(line) - 1) {
        len = sizeof(line) - 2;     /* truncated: keep room for '\n' */
    }

    if (err != 0) {
        n = snprintf(line + len, sizeof(line) - len, " (%d: %s)",
                     err, err < 0 ? uv_strerror(err) : strerror(err));
        if (n > 0) {
            len += (size_t) n;
        }

        if (len >= sizeof(line) - 1) {
            len = sizeof(line) - 2;
        }
    }

    line[len++] = '\n';

    log_write(line, len);

    errno = saved_errno;
}


void
drover_log_printable(char *s)
{
    for ( /* void */ ; *s != '\0'; s++) {
        if ((unsigned char) *s < 0x20 || *s == 0x7f) {
            *s = '?';
        }
    }
}
