/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * buf.h -- one growable byte buffer, for droverd and droverctl: documents
 * being rendered, and input read until a line is complete.
 *
 *     drover_buf_t  b = DROVER_BUF_INIT;
 *
 *     drover_buf_printf(&b, "%d\n", n);        any number of adds
 *     if (b.failed) ...                        then none of them counts
 *     ... b.data, b.len ...
 *     drover_buf_free(&b);
 *
 * The capacity starts at DROVER_BUF_MIN and doubles; an add keeps the data
 * NUL-terminated (the NUL is not counted in len).  After a failed add the
 * buffer takes no more adds: a document is whole or reported as failed.
 */

#ifndef DROVER_BUF_H
#define DROVER_BUF_H

#include <stddef.h>

#include "drover.h"         /* DROVER_PRINTF */

#define DROVER_BUF_MIN  4096

typedef struct {
    char      *data;
    size_t     len;
    size_t     cap;
    unsigned   failed:1;    /* an add ran out of memory */
} drover_buf_t;

#define DROVER_BUF_INIT  { NULL, 0, 0, 0 }

/*
 * Room for n more bytes after len: the capacity doubles (or becomes len + n
 * when that is more) but never passes max (0: no bound), so at the bound
 * the room may be less than n.  0, or -ENOMEM with the buffer unchanged.
 */
int drover_buf_reserve(drover_buf_t *b, size_t n, size_t max);

/* append, keeping a NUL after the data; on failure b->failed is set */
void drover_buf_add(drover_buf_t *b, const void *data, size_t n);
void drover_buf_adds(drover_buf_t *b, const char *s);
void drover_buf_printf(drover_buf_t *b, const char *fmt, ...)
    DROVER_PRINTF(2, 3);

/* drop the first n bytes (a line handled), keeping the rest */
void drover_buf_consume(drover_buf_t *b, size_t n);

/* the memory goes; b is empty and ready for use again */
void drover_buf_free(drover_buf_t *b);

#endif /* DROVER_BUF_H */
