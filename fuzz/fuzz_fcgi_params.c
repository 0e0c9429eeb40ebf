/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * fuzz_fcgi_params.c -- droverd's FastCGI name-value pair decoders
 * (worker_host/src/fcgi.c): drover_fcgi_params_decode, which decodes a
 * request's whole PARAMS stream in place, drover_fcgi_pair_decode, and
 * drover_fcgi_get_values_result, which answers an FCGI_GET_VALUES query.
 *
 * Input: the content of a PARAMS stream (or a GET_VALUES query), as is.
 * The oracle: a successful in-place decode yields exactly the pairs that
 * drover_fcgi_pair_decode finds walking an untouched copy, each name and
 * value NUL-terminated inside the buffer; a failed one is -EBADMSG or
 * -E2BIG; a GET_VALUES answer fits its buffer and decodes again.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"


static drover_fcgi_param_t  params[DROVER_FCGI_PARAMS_COUNT_MAX];


static void
fuzz_check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_fcgi_params: contract broken: %s\n", what);
        abort();
    }
}


static void
fuzz_params(const uint8_t *data, size_t size)
{
    int       rc, prc;
    size_t    count, i, off, name_len, value_len;
    uint8_t  *buf;

    /* exact size: ASan sees a read or write past the stream */
    buf = malloc(size != 0 ? size : 1);
    if (buf == NULL) {
        abort();
    }
    memcpy(buf, data, size);

    rc = drover_fcgi_params_decode(buf, size, params,
                                   DROVER_FCGI_PARAMS_COUNT_MAX, &count);

    if (rc != 0) {
        fuzz_check(rc == -EBADMSG || rc == -E2BIG, "error code");
        fuzz_check(count == 0, "a count after an error");
        free(buf);
        return;
    }

    fuzz_check(count <= DROVER_FCGI_PARAMS_COUNT_MAX, "too many pairs");

    off = 0;

    for (i = 0; i < count; i++) {
        prc = drover_fcgi_pair_decode(data, size, &off, &name_len,
                                      &value_len);
        fuzz_check(prc == 1, "pair_decode disagrees on the pair count");

        fuzz_check(params[i].name_len == name_len
                   && params[i].value_len == value_len, "pair lengths");

        fuzz_check((const uint8_t *) params[i].name >= buf
                   && (const uint8_t *) params[i].name + name_len
                      < buf + size
                   && (const uint8_t *) params[i].value >= buf
                   && (const uint8_t *) params[i].value + value_len
                      < buf + size,
                   "a name or value outside the buffer");

        fuzz_check(params[i].name[name_len] == '\0'
                   && params[i].value[value_len] == '\0'
                   && strlen(params[i].name) == name_len
                   && strlen(params[i].value) == value_len,
                   "a name or value not NUL-terminated at its length");

        fuzz_check(memcmp(params[i].name, data + off, name_len) == 0
                   && memcmp(params[i].value, data + off + name_len,
                             value_len) == 0,
                   "a name or value differs from the wire");

        off += name_len + value_len;
    }

    fuzz_check(drover_fcgi_pair_decode(data, size, &off, &name_len,
                                       &value_len) == 0,
               "pairs left after the decoded count");

    free(buf);
}


static void
fuzz_get_values(const uint8_t *data, size_t size)
{
    int       n;
    size_t    off, name_len, value_len, total;
    uint8_t  *out;

    static const drover_fcgi_value_t  values[] = {
        { "FCGI_MAX_CONNS", "1024" },
        { "FCGI_MAX_REQS", "1024" },
        { "FCGI_MPXS_CONNS", "0" },
    };

    /* the worker answers into 512 bytes; ask for an exact-size buffer */
    out = malloc(512);
    if (out == NULL) {
        abort();
    }

    n = drover_fcgi_get_values_result(data, size, values, 3, out, 512);

    if (n < 0) {
        fuzz_check(n == -EBADMSG || n == -ENOBUFS, "get_values error code");
        free(out);
        return;
    }

    fuzz_check(n <= 512 && n <= DROVER_FCGI_MAX_CONTENT,
               "get_values answer longer than its buffer");

    off = 0;
    total = 0;
    while (drover_fcgi_pair_decode(out, (size_t) n, &off, &name_len,
                                   &value_len) == 1)
    {
        off += name_len + value_len;
        total = off;
    }

    fuzz_check(total == (size_t) n, "get_values answer does not decode");

    free(out);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_params(data, size);
    fuzz_get_values(data, size);

    return 0;
}
