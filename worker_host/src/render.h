/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * render.h -- the status object (docs/status.md) as Prometheus text
 * exposition, format 0.0.4 (render_prom.c), and as a self-contained HTML
 * page, auto-refresh, readable on a phone (render_html.c).
 */

#ifndef DROVER_RENDER_H
#define DROVER_RENDER_H

#include <stddef.h>

#include <json-c/json.h>

/* 0 and a malloc'd NUL-terminated *out (caller frees), or a negative code */
int drover_render_prometheus(json_object *status, char **out, size_t *len);
int drover_render_html(json_object *status, char **out, size_t *len);

#endif /* DROVER_RENDER_H */
