/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * top.c -- droverctl top: the status view redrawn every second on the
 * terminal's alternate screen, until q or a signal.
 */

#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>


volatile sig_atomic_t         ctl_quit;
static volatile sig_atomic_t  ctl_resized;
static struct termios         ctl_saved_tty;
static int                    ctl_tty_saved;
static int                    ctl_keys;     /* stdin is a terminal to read */
static int                    ctl_screen;   /* the alternate screen is on */


/* ---- top ---- */

static void
ctl_signal_cb(int sig)
{
    if (sig == SIGWINCH) {
        ctl_resized = 1;
    } else {
        ctl_quit = 1;
    }
}


static void
ctl_tty_restore(void)
{
    static const char  leave[] = "\033[?25h\033[?1049l";

    if (ctl_tty_saved) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &ctl_saved_tty);
        ctl_tty_saved = 0;
    }

    if (ctl_screen) {
        fflush(stdout);
        (void) !write(STDOUT_FILENO, leave, sizeof(leave) - 1);
        ctl_screen = 0;
    }
}


static void
ctl_tty_setup(void)
{
    struct termios    raw;
    struct sigaction  sa;

    static const char  enter[] = "\033[?1049h\033[?25l";

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = ctl_signal_cb;      /* no SA_RESTART: poll() returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);

    /* keys one at a time, unechoed; Ctrl-C still raises SIGINT.  With
       VMIN = VTIME = 0 a read() never blocks */
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &ctl_saved_tty) == 0)
    {
        raw = ctl_saved_tty;
        raw.c_lflag &= ~(tcflag_t) (ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;

        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0) {
            ctl_tty_saved = 1;
            ctl_keys = 1;
        }
    }

    atexit(ctl_tty_restore);
    (void) !write(STDOUT_FILENO, enter, sizeof(enter) - 1);
    ctl_screen = 1;
}


/* the frame, each line cut to COLS columns, at the top of the screen */
static void
ctl_top_draw(const char *frame, size_t cols, size_t rows)
{
    size_t       w, row;
    const char  *p;

    fputs("\033[H", stdout);

    for (p = frame, row = 0; *p != '\0' && row + 1 < rows; row++) {
        for (w = 0; *p != '\0' && *p != '\n'; p++) {
            w += ((unsigned char) *p & 0xc0) != 0x80;
            if (w <= cols) {
                fputc(*p, stdout);
            }
        }

        fputs("\033[K\n", stdout);
        if (*p == '\n') {
            p++;
        }
    }

    fputs("\033[J", stdout);
    fflush(stdout);
}


/* 1 when the user asked to quit: q, Q, or a signal */
static int
ctl_top_wait(uint64_t until)
{
    int            rc;
    char           key;
    ssize_t        n;
    uint64_t       now;
    struct pollfd  pfd;

    while (!ctl_quit && !ctl_resized) {
        now = ctl_now_ms();
        if (now >= until) {
            return 0;
        }

        pfd.fd = STDIN_FILENO;
        pfd.events = POLLIN;

        rc = poll(&pfd, ctl_keys ? 1 : 0, (int) (until - now));

        if (rc > 0) {
            n = read(STDIN_FILENO, &key, 1);

            if (n == 1 && (key == 'q' || key == 'Q')) {
                return 1;
            }

            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                ctl_keys = 0;           /* the terminal went away */
            }
        }
    }

    ctl_resized = 0;
    return ctl_quit;
}


int
ctl_top(ctl_conn_t *c, const char *pool)
{
    int              rc, tty;
    char            *frame;
    size_t           size, cols, rows;
    time_t           now;
    uint64_t         next;
    struct tm        tm;
    struct winsize   ws;
    json_object     *req, *status;
    FILE            *f;
    char             clock[16];

    tty = isatty(STDOUT_FILENO);
    req = ctl_make_request("status", pool, 0);

    if (tty) {
        ctl_tty_setup();
    }

    for ( ;; ) {
        next = ctl_now_ms() + CTL_TOP_PERIOD_MS;
        rc = ctl_request(c, req, &status);

        if (!tty) {
            if (rc == CTL_OK) {
                ctl_print_status(status, stdout);
            }
            json_object_put(status);
            break;
        }

        f = open_memstream(&frame, &size);
        if (f == NULL) {
            ctl_oom();
        }

        now = time(NULL);
        localtime_r(&now, &tm);
        strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
        fprintf(f, "droverctl top  %s  %s  (q quits)\n\n", c->path, clock);

        if (rc == CTL_OK) {
            ctl_print_status(status, f);
        } else {
            fprintf(f, "%s\n", c->err);
        }

        json_object_put(status);
        fclose(f);

        cols = 80;
        rows = 24;
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
            cols = ws.ws_col;
            rows = ws.ws_row;
        }

        ctl_top_draw(frame, cols, rows);
        free(frame);

        if (ctl_top_wait(next)) {
            rc = CTL_OK;
            break;
        }
    }

    json_object_put(req);

    if (tty) {
        ctl_tty_restore();
    }

    return rc;
}
