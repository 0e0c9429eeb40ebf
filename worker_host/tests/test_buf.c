/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_buf.c -- the growable buffer (buf.h) and the status object's
 * getters and byte formatter (status_json.h).
 */

#include "buf.h"
#include "status_json.h"
#include "tap.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>


static void
test_buf_add(void)
{
    size_t        i;
    drover_buf_t  b = DROVER_BUF_INIT;

    drover_buf_add(&b, "abc", 3);
    ASSERT_EQ(b.len, 3, "add: length");
    ASSERT_STR_EQ(b.data, "abc", "add: NUL-terminated");
    ASSERT_EQ(b.cap, DROVER_BUF_MIN, "add: the first capacity");

    drover_buf_printf(&b, "-%d-%s", 42, "x");
    ASSERT_STR_EQ(b.data, "abc-42-x", "printf appends");

    for (i = 0; i < 3000; i++) {
        drover_buf_adds(&b, "0123456789");
    }

    ASSERT_EQ(b.len, 8 + 30000, "many adds: length");
    ASSERT_EQ(b.cap, 32768, "the capacity doubles");
    ASSERT_TRUE(b.data[b.len] == '\0' && b.data[8] == '0'
                && b.data[b.len - 1] == '9', "many adds: content");
    ASSERT_TRUE(!b.failed, "no failure");

    drover_buf_consume(&b, 8);
    ASSERT_EQ(b.len, 30000, "consume: the rest stays");
    ASSERT_TRUE(b.data[0] == '0', "consume: moved to the front");
    drover_buf_consume(&b, 40000);
    ASSERT_EQ(b.len, 0, "consume past the end empties");

    drover_buf_free(&b);
    ASSERT_TRUE(b.data == NULL && b.len == 0 && b.cap == 0, "free");
}


static void
test_buf_printf_long(void)
{
    char          big[10000];
    drover_buf_t  b = DROVER_BUF_INIT;

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    drover_buf_printf(&b, "<%s>", big);
    ASSERT_EQ(b.len, sizeof(big) + 1, "printf longer than the capacity");
    ASSERT_TRUE(b.data[0] == '<' && b.data[b.len - 1] == '>'
                && b.data[b.len] == '\0', "printf: whole");

    drover_buf_free(&b);
}


static void
test_buf_reserve(void)
{
    drover_buf_t  b = DROVER_BUF_INIT;

    ASSERT_EQ(drover_buf_reserve(&b, 100, 0), 0, "reserve");
    ASSERT_EQ(b.cap, DROVER_BUF_MIN, "reserve: at least the minimum");
    ASSERT_EQ(b.len, 0, "reserve adds no data");

    ASSERT_EQ(drover_buf_reserve(&b, 65536, 0), 0, "reserve more");
    ASSERT_EQ(b.cap, 65536, "reserve: what was asked when over double");

    /* a bounded input buffer: 4096, 8192, ... then the bound */
    drover_buf_free(&b);
    ASSERT_EQ(drover_buf_reserve(&b, 4096, 10000), 0, "bounded: first");
    ASSERT_EQ(b.cap, 4096, "bounded: the minimum");
    b.len = 4000;
    ASSERT_EQ(drover_buf_reserve(&b, 4096, 10000), 0, "bounded: grows");
    ASSERT_EQ(b.cap, 8192, "bounded: doubled");
    b.len = 8000;
    ASSERT_EQ(drover_buf_reserve(&b, 4096, 10000), 0, "bounded: at the "
              "bound");
    ASSERT_EQ(b.cap, 10000, "bounded: never past the bound");
    b.len = 9999;
    ASSERT_EQ(drover_buf_reserve(&b, 4096, 10000), 0, "bounded: full");
    ASSERT_EQ(b.cap, 10000, "bounded: stays");

    drover_buf_free(&b);
}


static void
test_json_get(void)
{
    double        d;
    json_object  *o;

    o = json_tokener_parse("{\"n\":null,\"i\":3,\"f\":1.5,\"s\":\"x\","
                           "\"a\":[1,2],\"nan\":NaN,\"o\":{\"k\":1}}");
    ASSERT_TRUE(o != NULL, "fixture parses");

    ASSERT_TRUE(drover_json_get(o, "n") == NULL, "null reads as absent");
    ASSERT_TRUE(drover_json_get(o, "missing") == NULL, "missing: absent");
    ASSERT_TRUE(drover_json_get(NULL, "i") == NULL, "no object: absent");
    ASSERT_TRUE(drover_json_get(drover_json_get(o, "a"), "i") == NULL,
                "an array has no keys");
    ASSERT_TRUE(drover_json_get(drover_json_get(o, "o"), "k") != NULL,
                "nested");

    ASSERT_EQ(drover_json_number(o, "i", &d), 1, "int is a number");
    ASSERT_TRUE(d == 3, "int's value");
    ASSERT_EQ(drover_json_number(o, "f", &d), 1, "double is a number");
    ASSERT_TRUE(d == 1.5, "double's value");
    ASSERT_EQ(drover_json_number(o, "s", &d), 0, "a string is no number");
    ASSERT_EQ(drover_json_number(o, "n", &d), 0, "null is no number");
    ASSERT_EQ(drover_json_number(o, "nan", &d), 1, "NaN is a number...");
    ASSERT_TRUE(d == 0, "... that reads as 0");
    ASSERT_TRUE(drover_json_double(o, "missing") == 0, "double: 0 absent");
    ASSERT_TRUE(drover_json_double(o, "f") == 1.5, "double: the value");

    ASSERT_STR_EQ(drover_json_string(o, "s"), "x", "string");
    ASSERT_TRUE(drover_json_string(o, "i") == NULL, "an int is no string");
    ASSERT_TRUE(drover_json_string(o, "n") == NULL, "null is no string");

    ASSERT_EQ(drover_json_length(drover_json_get(o, "a")), 2, "length");
    ASSERT_EQ(drover_json_length(drover_json_get(o, "s")), 0,
              "length of a non-array");
    ASSERT_EQ(drover_json_length(NULL), 0, "length of nothing");

    json_object_put(o);
}


static void
test_bytes(void)
{
    char  buf[DROVER_BYTES_LEN];

    static const struct {
        double       v;
        int          style;
        const char  *want;
    } cases[] = {
        { 0, DROVER_BYTES_SHORT, "0B" },
        { 1023, DROVER_BYTES_SHORT, "1023B" },
        { 1536, DROVER_BYTES_SHORT, "1.5K" },
        { 12582912, DROVER_BYTES_SHORT, "12M" },
        { 5033164, DROVER_BYTES_SHORT, "4.8M" },
        { 5000000000.0, DROVER_BYTES_SHORT, "4.7G" },
        { 1125899906842624.0 * 2048, DROVER_BYTES_SHORT, "2048P" },
        { 500, DROVER_BYTES_LONG, "0 KiB" },
        { 1536, DROVER_BYTES_LONG, "2 KiB" },
        { 3145728, DROVER_BYTES_LONG, "3.0 MiB" },
        { 2147483648.0, DROVER_BYTES_LONG, "2.0 GiB" },
    };
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        drover_bytes_format(buf, sizeof(buf), cases[i].v, cases[i].style);
        ASSERT_STR_EQ(buf, cases[i].want, cases[i].style == DROVER_BYTES_LONG
                                          ? "bytes, long" : "bytes, short");
    }

    drover_bytes_format(buf, sizeof(buf), 1e300, DROVER_BYTES_SHORT);
    ASSERT_TRUE(strlen(buf) > 250 && buf[strlen(buf) - 1] == 'P',
                "the biggest double fits whole");
}


int
main(void)
{
    test_buf_add();
    test_buf_printf_long();
    test_buf_reserve();
    test_json_get();
    test_bytes();

    return tap_done();
}
