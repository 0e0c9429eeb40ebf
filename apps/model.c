/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * model.c -- an app whose state is a big chunk of memory built once in init.
 *
 * With `preload on`, init runs in the pool's preloader before any worker is
 * forked; the workers only read the state, so copy-on-write keeps a single
 * copy of it however many workers there are.  t/preload.t measures that.
 *
 * One of two app params says what to load:
 *
 *   app_param data FILE;   FILE holds one "key<TAB>value" per line; the
 *                          value is the rest of the line (a trailing CR is
 *                          dropped).  Empty lines and lines starting with
 *                          '#' are skipped; a line without a TAB or a key
 *                          given twice fails init with FILE:LINE.
 *                          /lookup?key=K answers the value, 404 if unknown.
 *
 *   app_param size N;      N bytes (suffix K, M or G for KiB, MiB, GiB; at
 *                          most 64G) generated as 64-bit little-endian
 *                          words, word i = model_mix(i) (SplitMix64 of i),
 *                          plus a checksum per 64 KiB block (the xor of its
 *                          words).  /lookup?key=K picks word
 *                          fnv1a64(K) mod words and answers it with the
 *                          checksum of its block.
 *
 * Routes: "/" explains the above; "/lookup?key=K"; "/pid" the worker's pid
 * (so tests can find the workers and measure their memory).
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <drover.h>


#define MODEL_MAX_SIZE     (64ULL << 30)
#define MODEL_BLOCK_WORDS  8192                  /* 64 KiB blocks */
#define MODEL_KEY_MAX      1024


typedef struct {
    const char  *key;
    const char  *value;
} model_entry_t;


typedef struct {
    /* data mode */
    char           *text;       /* the file, split in place */
    model_entry_t  *table;      /* open addressing, nslots a power of 2 */
    size_t          nslots;
    size_t          nkeys;

    /* size mode */
    uint64_t       *words;
    size_t          nwords;
    uint64_t       *block_sums;
    size_t          nblocks;
    uint64_t        size;       /* as configured, in bytes */
} model_t;


/* ---- deterministic functions anyone can recompute ---- */

/* SplitMix64 (Steele, Lea, Flood 2014) applied to a counter */
static uint64_t
model_mix(uint64_t i)
{
    uint64_t  z = (i + 1) * 0x9e3779b97f4a7c15ULL;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}


/* 64-bit FNV-1a */
static uint64_t
model_hash(const char *s)
{
    uint64_t  h = 0xcbf29ce484222325ULL;

    while (*s != '\0') {
        h ^= (unsigned char) *s++;
        h *= 0x100000001b3ULL;
    }

    return h;
}


/* ---- app_param size ---- */

/*
 * "256M" -> 268435456.  Digits, then at most one of K, M, G (any case).
 * Returns 0, or -1 with a message in err.
 */
static int
model_parse_size(const char *s, uint64_t *out, char *err, size_t errlen)
{
    const char  *p = s;
    uint64_t     v = 0;
    unsigned     shift = 0;

    if (*p < '0' || *p > '9') {
        goto bad;
    }

    for ( /* void */ ; *p >= '0' && *p <= '9'; p++) {
        if (v > MODEL_MAX_SIZE) {
            goto too_big;       /* stop before v * 10 can overflow */
        }

        v = v * 10 + (uint64_t) (*p - '0');
    }

    switch (*p) {
    case '\0':
        break;
    case 'k': case 'K':
        shift = 10;
        break;
    case 'm': case 'M':
        shift = 20;
        break;
    case 'g': case 'G':
        shift = 30;
        break;
    default:
        goto bad;
    }

    if (shift != 0 && p[1] != '\0') {
        goto bad;
    }

    if (v > (MODEL_MAX_SIZE >> shift)) {
        goto too_big;
    }

    v <<= shift;

    if (v == 0) {
        snprintf(err, errlen, "app_param size must not be 0");
        return -1;
    }

    *out = v;
    return 0;

bad:

    snprintf(err, errlen, "app_param size needs a number with an optional "
             "K, M or G suffix (\"256M\"), got \"%s\"", s);
    return -1;

too_big:

    snprintf(err, errlen, "app_param size \"%s\" is more than the 64G limit",
             s);
    return -1;
}


/*
 * Writes every word (so every page is resident in the preloader before any
 * fork) and the per-block checksums derived from the words in memory.
 */
static int
model_generate(model_t *m, uint64_t size, char *err, size_t errlen)
{
    size_t    i, b, bytes;
    uint64_t  sum;

    m->size = size;
    m->nwords = (size + 7) / 8;
    m->nblocks = (m->nwords + MODEL_BLOCK_WORDS - 1) / MODEL_BLOCK_WORDS;
    bytes = m->nwords * 8;

    m->words = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m->words == MAP_FAILED) {
        m->words = NULL;
        snprintf(err, errlen, "cannot map %" PRIu64 " bytes for app_param "
                 "size: %s", size, strerror(errno));
        return -1;
    }

    m->block_sums = calloc(m->nblocks, sizeof(uint64_t));
    if (m->block_sums == NULL) {
        snprintf(err, errlen, "cannot allocate the block checksums");
        return -1;
    }

    for (i = 0; i < m->nwords; i++) {
        m->words[i] = model_mix(i);
    }

    for (b = 0; b < m->nblocks; b++) {
        sum = 0;

        for (i = b * MODEL_BLOCK_WORDS;
             i < m->nwords && i < (b + 1) * MODEL_BLOCK_WORDS;
             i++)
        {
            sum ^= m->words[i];
        }

        m->block_sums[b] = sum;
    }

    return 0;
}


/* ---- app_param data ---- */

static char *
model_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    int          fd;
    char        *buf = NULL;
    size_t       got = 0;
    ssize_t      n;
    struct stat  st;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "cannot open app_param data \"%s\": %s",
                 path, strerror(errno));
        return NULL;
    }

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "app_param data \"%s\" is not a regular file",
                 path);
        goto failed;
    }

    if ((uint64_t) st.st_size > MODEL_MAX_SIZE) {
        snprintf(err, errlen, "app_param data \"%s\" is more than the 64G "
                 "limit", path);
        goto failed;
    }

    buf = malloc((size_t) st.st_size + 1);
    if (buf == NULL) {
        snprintf(err, errlen, "cannot allocate %lld bytes for \"%s\"",
                 (long long) st.st_size, path);
        goto failed;
    }

    while (got < (size_t) st.st_size) {
        n = read(fd, buf + got, (size_t) st.st_size - got);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n <= 0) {
            snprintf(err, errlen, "cannot read \"%s\": %s", path,
                     n == 0 ? "file shrank" : strerror(errno));
            goto failed;
        }

        got += (size_t) n;
    }

    close(fd);
    buf[got] = '\0';
    *len = got;
    return buf;

failed:

    free(buf);
    close(fd);
    return NULL;
}


/* the slot that holds KEY, or the empty slot where it belongs */
static model_entry_t *
model_slot(const model_t *m, const char *key)
{
    size_t  i = model_hash(key) & (m->nslots - 1);

    while (m->table[i].key != NULL && strcmp(m->table[i].key, key) != 0) {
        i = (i + 1) & (m->nslots - 1);
    }

    return &m->table[i];
}


/* splits the text in place: each "key\tvalue\n" becomes two strings */
static int
model_index(model_t *m, const char *path, size_t len, char *err,
    size_t errlen)
{
    char           *line, *next, *tab, *end;
    unsigned        lineno = 0;
    size_t          nlines = 1, i;
    model_entry_t  *slot;

    for (i = 0; i < len; i++) {
        nlines += m->text[i] == '\n';
    }

    /* at most half full, so probing always ends */
    for (m->nslots = 16; m->nslots < nlines * 2; m->nslots *= 2) {
        /* void */
    }

    m->table = calloc(m->nslots, sizeof(model_entry_t));
    if (m->table == NULL) {
        snprintf(err, errlen, "cannot allocate the table for \"%s\"", path);
        return -1;
    }

    for (line = m->text; line < m->text + len; line = next) {
        lineno++;

        end = memchr(line, '\n', m->text + len - line);
        if (end == NULL) {
            end = m->text + len;
        }

        next = end + 1;
        *end = '\0';

        if (end > line && end[-1] == '\r') {
            end[-1] = '\0';
        }

        if (line[0] == '\0' || line[0] == '#') {
            continue;
        }

        tab = strchr(line, '\t');
        if (tab == NULL || tab == line) {
            snprintf(err, errlen, "%s:%u: expected \"key<TAB>value\"",
                     path, lineno);
            return -1;
        }

        *tab = '\0';

        slot = model_slot(m, line);
        if (slot->key != NULL) {
            snprintf(err, errlen, "%s:%u: key \"%s\" given twice",
                     path, lineno, line);
            return -1;
        }

        slot->key = line;
        slot->value = tab + 1;
        m->nkeys++;
    }

    return 0;
}


static int
model_load_data(model_t *m, const char *path, char *err, size_t errlen)
{
    size_t  len;

    m->text = model_read_file(path, &len, err, errlen);
    if (m->text == NULL) {
        return -1;
    }

    return model_index(m, path, len, err, errlen);
}


/* ---- routes ---- */

static int
model_usage(drover_req_t *req, const model_t *m)
{
    if (m->table != NULL) {
        return drover_resp_printf(req,
            "model: %zu keys loaded from app_param data.\n"
            "GET /lookup?key=K answers the value of K, 404 if unknown.\n",
            m->nkeys) < 0 ? -1 : 0;
    }

    return drover_resp_printf(req,
        "model: %" PRIu64 " bytes generated for app_param size: word i is "
        "SplitMix64(i),\nand each 64 KiB block has the xor of its words.\n"
        "GET /lookup?key=K answers word (FNV-1a64(K) mod %zu) and the "
        "checksum of its block.\n", m->size, m->nwords) < 0 ? -1 : 0;
}


static int
model_lookup(drover_req_t *req, const model_t *m)
{
    char                  key[MODEL_KEY_MAX];
    size_t                w;
    const model_entry_t  *slot;

    if (drover_req_arg(req, "key", key, sizeof(key)) <= 0) {
        drover_resp_status(req, 400);
        return drover_resp_printf(req, "model: /lookup needs \"?key=K\", "
                                  "K of 1..%d bytes\n",
                                  MODEL_KEY_MAX - 1) < 0 ? -1 : 0;
    }

    if (m->table != NULL) {
        slot = model_slot(m, key);

        if (slot->key == NULL) {
            drover_resp_status(req, 404);
            return drover_resp_printf(req, "model: no key \"%s\"\n", key)
                   < 0 ? -1 : 0;
        }

        return drover_resp_printf(req, "%s\n", slot->value) < 0 ? -1 : 0;
    }

    w = model_hash(key) % m->nwords;

    return drover_resp_printf(req, "word %zu = %016" PRIx64 " block %zu = "
                              "%016" PRIx64 "\n", w, m->words[w],
                              w / MODEL_BLOCK_WORDS,
                              m->block_sums[w / MODEL_BLOCK_WORDS])
           < 0 ? -1 : 0;
}


/* ---- app hooks ---- */

/* only after a failed init: a loaded model lives as long as the process */
static void
model_free(model_t *m)
{
    if (m->words != NULL) {
        munmap(m->words, m->nwords * 8);
    }

    free(m->block_sums);
    free(m->table);
    free(m->text);
    free(m);
}


static int
model_init(drover_ctx_t *ctx, void **state)
{
    char         err[512];
    uint64_t     size;
    model_t     *m;
    const char  *data = drover_app_param(ctx, "data");
    const char  *size_param = drover_app_param(ctx, "size");

    if ((data == NULL) == (size_param == NULL)) {
        drover_log(ctx, DROVER_LOG_ERROR, "model: give exactly one of "
                   "\"app_param data FILE;\" or \"app_param size N;\"");
        return -1;
    }

    m = calloc(1, sizeof(model_t));
    if (m == NULL) {
        drover_log(ctx, DROVER_LOG_ERROR, "model: out of memory");
        return -1;
    }

    if (data != NULL) {
        if (model_load_data(m, data, err, sizeof(err)) != 0) {
            goto failed;
        }

        drover_log(ctx, DROVER_LOG_NOTICE, "model: %zu keys from \"%s\"",
                   m->nkeys, data);

    } else {
        if (model_parse_size(size_param, &size, err, sizeof(err)) != 0
            || model_generate(m, size, err, sizeof(err)) != 0)
        {
            goto failed;
        }

        drover_log(ctx, DROVER_LOG_NOTICE, "model: %" PRIu64 " bytes "
                   "generated", size);
    }

    *state = m;
    return 0;

failed:

    drover_log(ctx, DROVER_LOG_ERROR, "model: %s", err);
    model_free(m);
    return -1;
}


static int
model_handle(drover_req_t *req, void *state)
{
    const char  *path = drover_req_path(req);

    if (strcmp(path, "/") == 0) {
        return model_usage(req, state);
    }

    if (strcmp(path, "/lookup") == 0) {
        return model_lookup(req, state);
    }

    if (strcmp(path, "/pid") == 0) {
        return drover_resp_printf(req, "%ld\n", (long) getpid()) < 0 ? -1 : 0;
    }

    drover_resp_status(req, 404);
    return drover_resp_printf(req, "model: no route %s; see /\n", path)
           < 0 ? -1 : 0;
}


DROVER_APP(
    .name   = "model",
    .init   = model_init,
    .handle = model_handle,
);
