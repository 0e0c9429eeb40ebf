/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * control_fixture.h -- the control socket driven from inside one process: a
 * fake manager whose ops count their calls, the loop, a non-blocking client.
 *
 * Used by test_control.c and test_control_files.c; any test of the control
 * socket can link $(BUILD)/tests/obj/control_fixture.o (see the Makefile).
 * The fixture asserts nothing (tap.h's counter is per file): it returns what
 * it saw, and the test checks it.
 *
 * A test: control_fixture_init(), then control_begin() on at("ctl.sock")
 * with the fake ops behind it; client_open() and ask(), or client_puts() and
 * client_line(); every wait turns the loop.  control_stop() closes the
 * control; log_has() reads the log back; at the end the test runs the loop
 * empty, checks uv_loop_close(), and control_fixture_cleanup().
 */

#ifndef DROVER_CONTROL_FIXTURE_H
#define DROVER_CONTROL_FIXTURE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <uv.h>

#include "control.h"

#define WAIT_MS  3000


/* the test's temp dir, the loop, the control under test (NULL: none) */
extern char               dir[PATH_MAX];
extern uv_loop_t          loop;
extern drover_control_t  *ctl;


/* ---- the fake manager ---- */

typedef struct {
    int        status, reload, restart, scale, stop;
    int        pool_reload, pool_stop, pool_start;
    char       pool[128];               /* the last pool argument */
    int        pool_null;
    unsigned   workers;
    int        fail;                    /* ops answer -ENOENT ... */
    int        fail_silent;             /* ... without a message */
    int        big;                     /* status: 256 KiB */
    int        close_in_stop;           /* stop closes the control */
} control_fake_t;

extern control_fake_t  fake;

/* what the fake status op answers (unless fake.big, fail or fail_silent) */
extern const char  fake_status_json[];


/* ---- helpers ---- */

/* DIR/REL, in one of 8 rotating buffers */
const char *at(const char *rel);
uint64_t now_ms(void);
/* turn the loop for about MS milliseconds */
void spin(unsigned ms);
/* close the control (if any) and run the loop until its memory is gone */
void control_stop(void);
/* drover_control_start() on PATH with the fake ops, into ctl */
int control_begin(const char *path, mode_t mode, gid_t gid, char *err,
    size_t errlen);
/* 1 when DIR/log holds NEEDLE (stderr flushed first) */
int log_has(const char *needle);


/* ---- a client ---- */

typedef struct {
    int      fd;
    char    *buf;
    size_t   len;
    size_t   cap;
    int      eof;
} client_t;

/* a non-blocking connection to PATH: 0, or a negative errno */
int client_open(client_t *c, const char *path);
void client_close(client_t *c);
/* what has arrived, without waiting; sets eof */
void client_read(client_t *c);
/* all of DATA within WAIT_MS, the loop turning: 0, or a negative errno */
int client_write(client_t *c, const void *data, size_t len);
int client_puts(client_t *c, const char *s);
/* the next line (malloc'd, without '\n'), or NULL at EOF or after WAIT_MS */
char *client_line(client_t *c);
/* 1 when the server closed the connection within MS (lines are kept) */
int client_closed(client_t *c, unsigned ms);
/* the next answer, parsed (NULL: none, or not JSON) */
json_object *client_answer(client_t *c);
/* REQ and its newline sent, the answer parsed */
json_object *ask(client_t *c, const char *req);
/* ok:true */
int is_ok(json_object *resp);
/* ok:false with an "error" containing NEEDLE */
int is_error(json_object *resp, const char *needle);
/* result.KEY as a string, or NULL */
const char *result_str(json_object *resp, const char *key);


/* ---- setting up and cleaning up ---- */

/* stdout line-buffered, SIGPIPE ignored, dir made, stderr to DIR/log, the
 * loop initialised: 0, or -1 after a "Bail out!" line */
int control_fixture_init(void);
/* stderr back, dir removed (kept with DROVER_TEST_KEEP set) */
void control_fixture_cleanup(void);

#endif /* DROVER_CONTROL_FIXTURE_H */
