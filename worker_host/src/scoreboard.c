/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * scoreboard.c -- see scoreboard.h.
 */

#include "scoreboard.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>


int
drover_sb_create(int *fd, drover_sb_t **sb)
{
    int    f, rc;
    void  *p;

    f = memfd_create("droverd-scoreboard", MFD_CLOEXEC);
    if (f == -1) {
        return -errno;
    }

    if (ftruncate(f, sizeof(drover_sb_t)) != 0) {
        rc = -errno;
        close(f);
        return rc;
    }

    p = mmap(NULL, sizeof(drover_sb_t), PROT_READ | PROT_WRITE, MAP_SHARED,
             f, 0);
    if (p == MAP_FAILED) {
        rc = -errno;
        close(f);
        return rc;
    }

    *fd = f;
    *sb = p;
    return 0;
}


int
drover_sb_map(int fd, drover_sb_t **sb)
{
    void  *p;

    p = mmap(NULL, sizeof(drover_sb_t), PROT_READ | PROT_WRITE, MAP_SHARED,
             fd, 0);
    if (p == MAP_FAILED) {
        return -errno;
    }

    *sb = p;
    return 0;
}


void
drover_sb_unmap(drover_sb_t *sb)
{
    if (sb != NULL) {
        munmap(sb, sizeof(drover_sb_t));
    }
}


uint64_t
drover_sb_now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


static void
sb_write_begin(drover_sb_slot_t *e)
{
    __atomic_add_fetch(&e->seq, 1, __ATOMIC_ACQ_REL);
}


static void
sb_write_end(drover_sb_slot_t *e)
{
    __atomic_add_fetch(&e->seq, 1, __ATOMIC_RELEASE);
}


void
drover_sb_reset(drover_sb_slot_t *e)
{
    sb_write_begin(e);
    e->state = DROVER_SB_STARTING;
    e->pid = 0;
    e->requests = 0;
    e->busy_us = 0;
    e->request_start_us = 0;
    e->uri[0] = '\0';
    sb_write_end(e);
}


void
drover_sb_set_state(drover_sb_slot_t *e, uint32_t state)
{
    if (e == NULL) {
        return;
    }

    sb_write_begin(e);
    e->state = state;
    e->pid = (int32_t) getpid();
    sb_write_end(e);
}


void
drover_sb_begin(drover_sb_slot_t *e, const char *uri)
{
    size_t  n;

    if (e == NULL) {
        return;
    }

    n = uri ? strnlen(uri, DROVER_SB_URI_MAX - 1) : 0;

    sb_write_begin(e);
    e->state = DROVER_SB_BUSY;
    e->request_start_us = drover_sb_now_us();
    memcpy(e->uri, uri ? uri : "", n);
    e->uri[n] = '\0';
    sb_write_end(e);
}


void
drover_sb_end(drover_sb_slot_t *e)
{
    if (e == NULL) {
        return;
    }

    sb_write_begin(e);
    e->busy_us += drover_sb_now_us() - e->request_start_us;
    e->requests++;
    e->request_start_us = 0;
    if (e->state == DROVER_SB_BUSY) {
        e->state = DROVER_SB_IDLE;
    }
    sb_write_end(e);
}


int
drover_sb_read(const drover_sb_slot_t *e, drover_sb_slot_t *copy)
{
    int       i;
    uint32_t  s1, s2;

    for (i = 0; i < 100; i++) {
        s1 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1) {
            continue;
        }

        memcpy(copy, (const void *) e, sizeof(*copy));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        s2 = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);

        if (s1 == s2) {
            copy->uri[DROVER_SB_URI_MAX - 1] = '\0';
            if (copy->state > DROVER_SB_STOPPING) {
                copy->state = DROVER_SB_EMPTY;
            }
            return 0;
        }
    }

    return -EAGAIN;
}


/* never back, never past bound: the worker cannot do more than that */
static unsigned
sb_clamp_counter(uint64_t *v, uint64_t prev, uint64_t bound)
{
    uint64_t  want = *v;

    if (want < prev) {
        want = prev;
    }

    if (want > bound) {
        want = bound > prev ? bound : prev;
    }

    if (want == *v) {
        return 0;
    }

    *v = want;
    return 1;
}


unsigned
drover_sb_sanitize(drover_sb_slot_t *copy, const drover_sb_slot_t *prev,
    uint64_t started_us, uint64_t now_us)
{
    int       bad;
    size_t    i;
    uint64_t  life;
    unsigned  fixed = 0;

    life = now_us > started_us ? now_us - started_us : 0;

    if (copy->state > DROVER_SB_STOPPING) {
        copy->state = DROVER_SB_EMPTY;
        fixed++;
    }

    /* one request at a time, none shorter than a microsecond */
    fixed += sb_clamp_counter(&copy->requests, prev->requests, life);
    fixed += sb_clamp_counter(&copy->busy_us, prev->busy_us, life);

    if (copy->request_start_us != 0
        && (copy->request_start_us < started_us
            || copy->request_start_us > now_us))
    {
        copy->request_start_us = 0;
        fixed++;
    }

    if (copy->state == DROVER_SB_BUSY && copy->request_start_us == 0) {
        copy->state = DROVER_SB_IDLE;
    }

    /* printable ASCII only: it lands in JSON, HTML and terminals */
    copy->uri[DROVER_SB_URI_MAX - 1] = '\0';

    bad = 0;

    for (i = 0; copy->uri[i] != '\0'; i++) {
        unsigned char  c = (unsigned char) copy->uri[i];

        if (c < 0x20 || c >= 0x7f) {
            copy->uri[i] = '?';
            bad = 1;
        }
    }

    return fixed + bad;
}
