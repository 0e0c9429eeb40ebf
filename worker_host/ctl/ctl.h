/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * ctl.h -- droverctl's parts: the connection to droverd (conn.c), the
 * status view (print.c), cells and tables (table.c), top (top.c) and the
 * command line (droverctl.c).
 */

#ifndef DROVER_CTL_H
#define DROVER_CTL_H

#include "drover.h"          /* DROVER_PRINTF */
#include "control.h"         /* the protocol's constants */
#include "conf.h"            /* DROVER_CONF_MAX_WORKERS */
#include "version.h"
#include "buf.h"
#include "status_json.h"
#include "status_keys.h"

#include <signal.h>          /* sig_atomic_t */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define CTL_OK             0
#define CTL_EANSWER        1        /* droverd said no */
#define CTL_EUSAGE         2
#define CTL_ECONNECT       3
#define CTL_EPROTOCOL      4

#define CTL_TIMEOUT_MS     10000
#define CTL_REPLY_MAX      (256u << 20)     /* a status of 256 big pools fits */
#define CTL_READ_MIN       65536            /* room for each recv() */
#define CTL_TOP_PERIOD_MS  1000
#define CTL_COLS           16
#define CTL_ENV_SOCKET     "DROVER_CONTROL"


typedef struct {
    const char   *path;
    int           fd;
    drover_buf_t  in;                       /* the answer being read */
    char          err[1024];                /* why the last call failed */
} ctl_conn_t;

typedef struct {
    size_t        ncols;
    size_t        nrows;
    size_t        cap;
    char       *(*rows)[CTL_COLS];          /* malloc'd cells */
} ctl_table_t;


extern volatile sig_atomic_t  ctl_quit;     /* a signal asked to quit */

void ctl_oom(void);
char *ctl_fmt(const char *fmt, ...) DROVER_PRINTF(1, 2);
uint64_t ctl_now_ms(void);
char *ctl_clean(const char *s);
char *ctl_cell_int(json_object *obj, const char *key);
char *ctl_cell_str(json_object *obj, const char *key);
char *ctl_human_bytes(double b);
char *ctl_cell_bytes(json_object *obj, const char *key);
char *ctl_human_ms(double ms);
char *ctl_cell_ms(json_object *obj, const char *key);
char *ctl_cell_percent(json_object *obj, const char *key, double scale);
void ctl_table_row(ctl_table_t *t, size_t ncols, char **cells);
void ctl_table_print(ctl_table_t *t, FILE *f, const char *indent);
void ctl_table_free(ctl_table_t *t);
void ctl_print_status(json_object *status, FILE *f);
void ctl_disconnect(ctl_conn_t *c);
int ctl_request(ctl_conn_t *c, json_object *req, json_object **result);
json_object *ctl_make_request(const char *cmd, const char *pool, long workers);
int ctl_top(ctl_conn_t *c, const char *pool);
int ctl_ready(ctl_conn_t *c, const char *pool);

#endif /* DROVER_CTL_H */
