/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * buf.c -- see buf.h.
 */

#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int
drover_buf_reserve(drover_buf_t *b, size_t n, size_t max)
{
    char    *p;
    size_t   cap;

    if (b->cap - b->len >= n || (max != 0 && b->cap >= max)) {
        return 0;
    }

    cap = b->cap != 0 ? b->cap * 2 : DROVER_BUF_MIN;
    if (cap < b->len + n) {
        cap = b->len + n;
    }

    if (max != 0 && cap > max) {
        cap = max;
    }

    p = realloc(b->data, cap);
    if (p == NULL) {
        return -ENOMEM;
    }

    b->data = p;
    b->cap = cap;
    return 0;
}


void
drover_buf_add(drover_buf_t *b, const void *data, size_t n)
{
    if (b->failed) {
        return;
    }

    if (drover_buf_reserve(b, n + 1, 0) != 0) {
        b->failed = 1;
        return;
    }

    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}


void
drover_buf_adds(drover_buf_t *b, const char *s)
{
    drover_buf_add(b, s, strlen(s));
}


void
drover_buf_printf(drover_buf_t *b, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    if (b->failed) {
        return;
    }

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);

    if (n < 0 || drover_buf_reserve(b, (size_t) n + 1, 0) != 0) {
        b->failed = 1;
        return;
    }

    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);

    b->len += (size_t) n;
}


void
drover_buf_consume(drover_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }

    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}


void
drover_buf_free(drover_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}
