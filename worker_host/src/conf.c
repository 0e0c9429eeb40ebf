/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * conf.c -- see conf.h; the grammar is described in docs/droverd.conf.md.
 *
 * A file is read whole (at most CONF_FILE_MAX bytes) and cut into tokens:
 * bare words, quoted strings, ";", "{" and "}".  A directive is a name, its
 * arguments, and ";" or a "{ ... }" block.  Only `pool` takes a block and
 * pools do not nest, so the parser recurses only through `pool` (once) and
 * `include` (at most DROVER_CONF_MAX_INCLUDE_DEPTH deep).
 *
 * Every error is one "FILE:LINE: message" line in the caller's buffer; the
 * first error stops the load.
 *
 * Beside it: conf_directives.c (the directive table and each directive's
 * setter), conf_check.c (the checks at a pool's "}"), conf_dump.c.
 */

#include "conf.h"
#include "conf_int.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static int conf_file_open(drover__conf_parser_t *p, drover__conf_file_t *f,
    const char *path, const char *from, unsigned from_line, unsigned depth);
static int conf_load(const char *path, const char *only,
    drover_conf_t **out, char *err, size_t errlen);
static int conf_include_skipped(drover__conf_parser_t *p, const char *path);
static void conf_file_close(drover__conf_file_t *f);
static int conf_next_token(drover__conf_parser_t *p, drover__conf_file_t *f);
static int conf_read_directive(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d);
static void conf_directive_free(drover__conf_directive_t *d);
static const char *conf_remember(drover__conf_parser_t *p, const char *name);
static void conf_pool_free(drover_pool_conf_t *pool);


int
drover_conf_load(const char *path, drover_conf_t **out, char *err,
    size_t errlen)
{
    return conf_load(path, NULL, out, err, errlen);
}


int
drover_conf_load_pool_file(const char *path, const char *pool_file,
    drover_conf_t **out, char *err, size_t errlen)
{
    return conf_load(path, pool_file, out, err, errlen);
}


static int
conf_load(const char *path, const char *only, drover_conf_t **out,
    char *err, size_t errlen)
{
    int                     rc;
    drover__conf_file_t     f;
    drover__conf_name_t    *name, *next;
    drover__conf_parser_t  *p;

    *out = NULL;
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }

    memset(&f, 0, sizeof(f));

    /* the parser holds a token buffer: keep it off the stack */
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }

    if (only != NULL) {
        p->only = realpath(only, NULL);
        if (p->only == NULL) {
            snprintf(err, errlen, "%s: %s", only, strerror(errno));
            free(p);
            return -ENOENT;
        }

        /* POOLFILE is the main file itself: it alone, and no include */
        (void) conf_include_skipped(p, path);
    }

    p->err = err;
    p->errlen = errlen;
    p->euid = geteuid();
    p->egid = getegid();

    p->conf = calloc(1, sizeof(*p->conf));
    if (p->conf == NULL) {
        rc = -ENOMEM;
        goto cleanup;
    }

    p->conf->log_level = DROVER_LOG_NOTICE;
    p->conf->control_mode = 0600;
    p->conf->control_group = (gid_t) -1;
    p->conf->status_mode = 0660;
    p->conf->status_group = (gid_t) -1;
    p->conf->min_uid = CONF_MIN_UID;
    p->conf->path = strdup(path);
    if (p->conf->path == NULL) {
        rc = -ENOMEM;
        goto cleanup;
    }

    rc = conf_file_open(p, &f, path, NULL, 0, 0);
    if (rc != 0) {
        goto cleanup;
    }

    p->main.file = f.name;
    p->main.line = 1;

    rc = drover__conf_parse_block(p, &f, &p->main, 0);
    if (rc != 0) {
        goto cleanup;
    }

    if (p->only != NULL && !p->only_seen) {
        rc = drover__conf_error(p, f.name, 1,
                                "\"%s\" is not included by this file: "
                                "add an \"include\" that names it", only);
        goto cleanup;
    }

    if (p->conf->npools == 0) {
        rc = drover__conf_error(p, f.name, 1,
                                "no pool defined: add a \"pool NAME { app "
                                "...; listen unix:...; }\" block or include "
                                "a file that has one");
        goto cleanup;
    }

    *out = p->conf;
    p->conf = NULL;

cleanup:

    conf_file_close(&f);
    drover_conf_free(p->conf);

    for (name = p->names; name != NULL; name = next) {
        next = name->next;
        free(name);
    }

    free(p->only);
    free(p);
    return rc;
}


void
drover_conf_free(drover_conf_t *conf)
{
    drover_pool_conf_t  *pool, *next;

    if (conf == NULL) {
        return;
    }

    for (pool = conf->pools; pool != NULL; pool = next) {
        next = pool->next;
        conf_pool_free(pool);
    }

    free(conf->path);
    free(conf->run_dir);
    free(conf->control);
    free(conf->status_socket);
    free(conf->status_tcp_addr);
    free(conf);
}


const char *
drover_conf_run_dir(const drover_conf_t *conf)
{
    const char  *dir;

    if (conf->run_dir != NULL) {
        return conf->run_dir;
    }

    /* RuntimeDirectory= with several entries gives "a:b": not one path */
    dir = getenv("RUNTIME_DIRECTORY");
    if (dir != NULL && dir[0] == '/' && strchr(dir, ':') == NULL) {
        return dir;
    }

    return CONF_RUN_DIR;
}


drover_pool_conf_t *
drover_conf_find_pool(const drover_conf_t *conf, const char *name)
{
    drover_pool_conf_t  *pool;

    for (pool = conf->pools; pool != NULL; pool = pool->next) {
        if (strcmp(pool->name, name) == 0) {
            return pool;
        }
    }

    return NULL;
}


int
drover_conf_slot_path(const drover_pool_conf_t *pool, unsigned slot,
    char *buf, size_t size)
{
    int  n;

    n = snprintf(buf, size, "%s.%u", pool->listen.path, slot);
    if (n < 0) {
        return -EINVAL;
    }

    if ((size_t) n >= size) {
        return -ENAMETOOLONG;
    }

    return 0;
}


int
drover__conf_error(drover__conf_parser_t *p, const char *file, unsigned line,
    const char *fmt, ...)
{
    int      n;
    va_list  ap;

    if (p->err == NULL || p->errlen == 0) {
        return -EINVAL;
    }

    if (line > 0) {
        n = snprintf(p->err, p->errlen, "%s:%u: ", file, line);
    } else {
        n = snprintf(p->err, p->errlen, "%s: ", file);
    }

    if (n < 0 || (size_t) n >= p->errlen) {
        return -EINVAL;
    }

    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - n, fmt, ap);
    va_end(ap);

    /* tokens are quoted as written: a quoted one may hold a newline */
    drover_log_printable(p->err + n);

    return -EINVAL;
}


/*
 * Errors about the file itself point at the `include` that named it, or
 * carry no line for the main file.
 */
static int
conf_file_open(drover__conf_parser_t *p, drover__conf_file_t *f,
    const char *path, const char *from, unsigned from_line, unsigned depth)
{
    int          fd, rc;
    char        *copy, *slash, *nul;
    size_t       size;
    ssize_t      n;
    struct stat  st;

    memset(f, 0, sizeof(f[0]));
    f->line = 1;
    f->last_line = 1;
    f->depth = depth;
    fd = -1;
    copy = NULL;

    f->name = conf_remember(p, path);
    if (f->name == NULL) {
        rc = -ENOMEM;
        goto cleanup;
    }

    if (from == NULL) {
        from = path;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        rc = -errno;
        drover__conf_error(p, from, from_line,
                           "cannot open config file \"%s\": %s", path,
                           strerror(errno));
        goto cleanup;
    }

    if (fstat(fd, &st) == -1) {
        rc = -errno;
        drover__conf_error(p, from, from_line,
                           "cannot stat config file \"%s\": %s", path,
                           strerror(errno));
        goto cleanup;
    }

    if (S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
        drover__conf_error(p, from, from_line, "config file \"%s\" is a "
                           "directory: name a file, or a glob such as "
                           "\"%s/*.conf\"", path, path);
        goto cleanup;
    }

    /* read one byte past the limit to tell "exactly 1 MiB" from "more" */
    f->buf = malloc(CONF_FILE_MAX + 1);
    if (f->buf == NULL) {
        rc = -ENOMEM;
        goto cleanup;
    }

    size = 0;
    while (size < CONF_FILE_MAX + 1) {
        n = read(fd, f->buf + size, CONF_FILE_MAX + 1 - size);
        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            rc = -errno;
            drover__conf_error(p, from, from_line,
                               "cannot read config file \"%s\": %s", path,
                               strerror(errno));
            goto cleanup;
        }
        if (n == 0) {
            break;
        }
        size += (size_t) n;
    }

    if (size > CONF_FILE_MAX) {
        rc = -EFBIG;
        drover__conf_error(p, from, from_line,
                           "config file \"%s\" is larger than 1 MiB: split "
                           "it with \"include\"", path);
        goto cleanup;
    }

    f->len = size;

    nul = memchr(f->buf, '\0', size);
    if (nul != NULL) {
        unsigned  line = 1;
        char     *c;

        for (c = f->buf; c < nul; c++) {
            line += (*c == '\n');
        }

        rc = drover__conf_error(p, f->name, line,
                                "NUL byte in config file: is this a text "
                                "file?");
        goto cleanup;
    }

    /* relative paths inside the file resolve against its own directory */
    copy = strdup(path);
    if (copy == NULL) {
        rc = -ENOMEM;
        goto cleanup;
    }

    slash = strrchr(copy, '/');
    if (slash == NULL) {
        strcpy(copy, ".");
    } else if (slash == copy) {
        copy[1] = '\0';
    } else {
        *slash = '\0';
    }

    f->dir = realpath(copy, NULL);
    if (f->dir == NULL) {
        rc = -errno;
        drover__conf_error(p, from, from_line,
                           "cannot resolve the directory of config file "
                           "\"%s\": %s", path, strerror(errno));
        goto cleanup;
    }

    rc = 0;

cleanup:

    free(copy);

    if (fd != -1) {
        close(fd);
    }

    return rc;
}


static void
conf_file_close(drover__conf_file_t *f)
{
    free(f->buf);
    free(f->dir);
    f->buf = NULL;
    f->dir = NULL;
}


static int
conf_is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
           || c == '\v';
}


/* ends a bare word, and must follow a closing quote */
static int
conf_is_separator(int c)
{
    return conf_is_space(c) || c == ';' || c == '{' || c == '}' || c == '#';
}


static int
conf_token_append(drover__conf_parser_t *p, drover__conf_file_t *f, char c)
{
    drover__conf_token_t  *t = &p->tok;

    if (t->len == CONF_TOKEN_MAX) {
        return drover__conf_error(p, f->name, t->line,
                                  "token longer than %d bytes: shorten it",
                                  CONF_TOKEN_MAX);
    }

    t->text[t->len++] = c;
    return 0;
}


static int
conf_read_quoted(drover__conf_parser_t *p, drover__conf_file_t *f)
{
    int   rc;
    char  quote, c;

    quote = f->buf[f->pos++];
    p->tok.quoted = 1;

    for ( ;; ) {
        if (f->pos == f->len) {
            return drover__conf_error(p, f->name, p->tok.line,
                                      "unterminated string: add the closing "
                                      "%c", quote);
        }

        c = f->buf[f->pos++];

        if (c == quote) {
            break;
        }

        if (c == '\n') {
            f->line++;
        }

        /* only \", \' and \\ are escapes; any other \x stays as is */
        if (c == '\\' && f->pos < f->len
            && (f->buf[f->pos] == quote || f->buf[f->pos] == '\\'))
        {
            c = f->buf[f->pos++];
        }

        rc = conf_token_append(p, f, c);
        if (rc != 0) {
            return rc;
        }
    }

    if (f->pos < f->len && !conf_is_separator(f->buf[f->pos])) {
        return drover__conf_error(p, f->name, f->line,
                                  "unexpected '%c' right after a quoted "
                                  "string: add a space", f->buf[f->pos]);
    }

    return 0;
}


static int
conf_read_bare(drover__conf_parser_t *p, drover__conf_file_t *f)
{
    int   rc;
    char  c;

    while (f->pos < f->len) {
        c = f->buf[f->pos];

        if (conf_is_separator(c)) {
            break;
        }

        if (c == '"' || c == '\'') {
            p->tok.text[p->tok.len] = '\0';
            return drover__conf_error(p, f->name, f->line,
                                      "unexpected quote inside \"%s\": quote "
                                      "the whole value", p->tok.text);
        }

        rc = conf_token_append(p, f, c);
        if (rc != 0) {
            return rc;
        }

        f->pos++;
    }

    return 0;
}


static int
conf_next_token(drover__conf_parser_t *p, drover__conf_file_t *f)
{
    int                    rc;
    char                   c;
    drover__conf_token_t  *t = &p->tok;

    t->len = 0;
    t->quoted = 0;
    t->text[0] = '\0';

    for ( ;; ) {
        if (f->pos == f->len) {
            t->type = CONF_TOK_EOF;
            t->line = f->line;
            return 0;
        }

        c = f->buf[f->pos];

        if (c == '\n') {
            f->line++;
            f->pos++;

        } else if (conf_is_space(c)) {
            f->pos++;

        } else if (c == '#') {
            while (f->pos < f->len && f->buf[f->pos] != '\n') {
                f->pos++;
            }

        } else {
            break;
        }
    }

    t->line = f->line;
    f->last_line = f->line;

    switch (c) {

    case ';':
        t->type = CONF_TOK_SEMICOLON;
        f->pos++;
        return 0;

    case '{':
        t->type = CONF_TOK_OPEN;
        f->pos++;
        return 0;

    case '}':
        t->type = CONF_TOK_CLOSE;
        f->pos++;
        return 0;

    case '"':
    case '\'':
        t->type = CONF_TOK_WORD;
        rc = conf_read_quoted(p, f);
        break;

    default:
        t->type = CONF_TOK_WORD;
        rc = conf_read_bare(p, f);
        break;
    }

    t->text[t->len] = '\0';
    return rc;
}


/*
 * The directives of one block: the whole main file, a pool's "{ ... }"
 * (braced), or an included file (not braced, ends at its end of file).
 */
int
drover__conf_parse_block(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, int braced)
{
    int                       rc, cmd;
    drover__conf_directive_t  d;

    for ( ;; ) {
        rc = conf_next_token(p, f);
        if (rc != 0) {
            return rc;
        }

        switch (p->tok.type) {

        case CONF_TOK_EOF:
            if (braced) {
                return drover__conf_error(p, f->name, f->last_line,
                                          "unexpected end of file: pool "
                                          "\"%s\" opened at line %u has no "
                                          "closing \"}\"", b->pool->name,
                                          b->line);
            }
            return 0;

        case CONF_TOK_CLOSE:
            if (braced) {
                return 0;
            }
            return drover__conf_error(p, f->name, p->tok.line,
                                      "unexpected \"}\": no block is open "
                                      "here");

        case CONF_TOK_SEMICOLON:
            return drover__conf_error(p, f->name, p->tok.line,
                                      "unexpected \";\": a directive name is "
                                      "missing before it");

        case CONF_TOK_OPEN:
            return drover__conf_error(p, f->name, p->tok.line,
                                      "unexpected \"{\": a block needs a "
                                      "name, as in \"pool NAME {\"");

        case CONF_TOK_WORD:
            break;
        }

        cmd = drover__conf_find_command(p->tok.text);
        if (cmd < 0) {
            return drover__conf_error(p, f->name, p->tok.line,
                                      "unknown directive \"%s\"", p->tok.text);
        }

        if (b->pool == NULL && !(drover__conf_commands[cmd].ctx & CONF_MAIN)) {
            return drover__conf_error(p, f->name, p->tok.line,
                                      "\"%s\" is not allowed here: it "
                                      "belongs inside a \"pool NAME { ... "
                                      "}\" block",
                                      drover__conf_commands[cmd].name);
        }

        if (b->pool != NULL && !(drover__conf_commands[cmd].ctx & CONF_POOL)) {
            return drover__conf_error(p, f->name, p->tok.line,
                                      "\"%s\" is not allowed inside pool "
                                      "\"%s\": pools do not nest, close it "
                                      "with \"}\" first",
                                      drover__conf_commands[cmd].name,
                                      b->pool->name);
        }

        memset(&d, 0, sizeof(d));
        d.cmd = cmd;
        d.line = p->tok.line;

        rc = conf_read_directive(p, f, b, &d);
        if (rc == 0) {
            rc = drover__conf_commands[cmd].set(p, f, b, &d);
        }

        conf_directive_free(&d);

        if (rc != 0) {
            return rc;
        }
    }
}


/*
 * Reads the arguments up to ";" or "{" and checks their number.  A word on
 * a new line that names a directive of this block is taken as the start of
 * the next directive: the ";" before it is missing.
 */
static int
conf_read_directive(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    int                            rc, next;
    unsigned                       last_line;
    const drover__conf_command_t  *cmd = &drover__conf_commands[d->cmd];

    last_line = d->line;

    for ( ;; ) {
        rc = conf_next_token(p, f);
        if (rc != 0) {
            return rc;
        }

        if (p->tok.type == CONF_TOK_SEMICOLON) {
            break;
        }

        if (p->tok.type == CONF_TOK_OPEN) {
            d->block = 1;
            break;
        }

        if (p->tok.type == CONF_TOK_CLOSE) {
            return drover__conf_error(p, f->name, last_line,
                                      "missing \";\" after \"%s\" (before "
                                      "the \"}\")", cmd->name);
        }

        if (p->tok.type == CONF_TOK_EOF) {
            return drover__conf_error(p, f->name, last_line,
                                      "unexpected end of file: missing \";\" "
                                      "after \"%s\"", cmd->name);
        }

        if (p->tok.line > last_line && !p->tok.quoted) {
            next = drover__conf_find_command(p->tok.text);
            if (next >= 0 && (drover__conf_commands[next].ctx
                              & (b->pool ? CONF_POOL : CONF_MAIN)))
            {
                return drover__conf_error(p, f->name, last_line,
                                          "missing \";\" after \"%s\" (line "
                                          "%u starts with \"%s\")", cmd->name,
                                          p->tok.line, p->tok.text);
            }
        }

        if (d->nargs < CONF_MAX_ARGS) {
            d->args[d->nargs] = strdup(p->tok.text);
            if (d->args[d->nargs] == NULL) {
                return -ENOMEM;
            }
            d->arg_lines[d->nargs] = p->tok.line;
        }

        d->nargs++;
        last_line = f->line;        /* a quoted word may span lines */
    }

    if ((cmd->flags & CONF_BLOCK) && !d->block) {
        return drover__conf_error(p, f->name, d->line,
                                  "\"%s\" needs a block: %s", cmd->name,
                                  cmd->usage);
    }

    if (!(cmd->flags & CONF_BLOCK) && d->block) {
        return drover__conf_error(p, f->name, d->line,
                                  "\"%s\" does not take a block: end it with "
                                  "\";\" (%s)", cmd->name, cmd->usage);
    }

    if (d->nargs < cmd->min_args || d->nargs > cmd->max_args) {
        return drover__conf_error(p, f->name, d->line,
                                  "wrong number of arguments for \"%s\": got "
                                  "%d, usage: %s", cmd->name, d->nargs,
                                  cmd->usage);
    }

    if (!(cmd->flags & CONF_MULTI)) {
        drover__conf_where_t  *seen = &b->seen[d->cmd];

        if (seen->line != 0) {
            return drover__conf_error(p, f->name, d->line,
                                      "duplicate \"%s\", first set at %s:%u: "
                                      "keep only one", cmd->name, seen->file,
                                      seen->line);
        }

        seen->file = f->name;
        seen->line = d->line;
    }

    return 0;
}


static void
conf_directive_free(drover__conf_directive_t *d)
{
    int  i;

    for (i = 0; i < d->nargs && i < CONF_MAX_ARGS; i++) {
        free(d->args[i]);
    }
}


/* a directory from the config may hold glob characters: match it literally */
static char *
conf_glob_escape(const char *s)
{
    char    *out, *o;

    out = malloc(strlen(s) * 2 + 1);
    if (out == NULL) {
        return NULL;
    }

    for (o = out; *s != '\0'; s++) {
        if (strchr("*?[]\\", *s) != NULL) {
            *o++ = '\\';
        }
        *o++ = *s;
    }

    *o = '\0';
    return out;
}


int
drover__conf_set_include(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    int                   rc, grc, wild;
    char                 *dir, *pattern;
    size_t                i;
    glob_t                g;
    drover__conf_file_t   inc;
    const char           *arg = d->args[0];

    memset(&g, 0, sizeof(g));
    memset(&inc, 0, sizeof(inc));
    dir = NULL;
    pattern = NULL;
    grc = -1;

    if (arg[0] == '\0') {
        return drover__conf_error(p, f->name, d->line,
                                  "\"include\" needs a file name or glob, "
                                  "got \"\"");
    }

    if (f->depth >= DROVER_CONF_MAX_INCLUDE_DEPTH) {
        return drover__conf_error(p, f->name, d->line,
                                  "includes nested more than %d deep at "
                                  "\"%s\": is there an include loop?",
                                  DROVER_CONF_MAX_INCLUDE_DEPTH, arg);
    }

    if (arg[0] == '/') {
        pattern = strdup(arg);
    } else {
        dir = conf_glob_escape(f->dir);
        pattern = (dir != NULL) ? drover__conf_join(dir, arg) : NULL;
    }

    if (pattern == NULL) {
        rc = -ENOMEM;
        goto cleanup;
    }

    wild = (strpbrk(arg, "*?[") != NULL);

    grc = glob(pattern, 0, NULL, &g);

    if (grc == GLOB_NOMATCH) {
        if (wild) {
            rc = 0;      /* an empty conf.d is fine */
        } else {
            rc = drover__conf_error(p, f->name, d->line,
                                    "included file \"%s\" does not exist: "
                                    "fix the path or remove the include", arg);
        }
        goto cleanup;
    }

    if (grc != 0) {
        rc = drover__conf_error(p, f->name, d->line,
                                "cannot expand include \"%s\": %s", arg,
                                grc == GLOB_NOSPACE ? "out of memory" :
                                "read error");
        goto cleanup;
    }

    /* glob() returns the names sorted */
    for (i = 0; i < g.gl_pathc; i++) {
        if (conf_include_skipped(p, g.gl_pathv[i])) {
            continue;
        }

        rc = conf_file_open(p, &inc, g.gl_pathv[i], f->name, d->line,
                            f->depth + 1);
        if (rc == 0) {
            rc = drover__conf_parse_block(p, &inc, b, 0);
        }

        conf_file_close(&inc);

        if (rc != 0) {
            goto cleanup;
        }
    }

    rc = 0;

cleanup:

    if (grc == 0) {
        globfree(&g);
    }

    free(pattern);
    free(dir);
    return rc;
}


/*
 * drover_conf_load_pool_file(): of the included files, only the pool file
 * is read (another pool's broken file does not fail this one's check).
 */
static int
conf_include_skipped(drover__conf_parser_t *p, const char *path)
{
    int    same;
    char  *real;

    if (p->only == NULL) {
        return 0;
    }

    real = realpath(path, NULL);
    same = (real != NULL && strcmp(real, p->only) == 0);
    free(real);

    if (same) {
        p->only_seen = 1;
    }

    return !same;
}


char *
drover__conf_join(const char *dir, const char *path)
{
    char    *out;
    size_t   dlen, plen;

    dlen = strlen(dir);
    plen = strlen(path);

    out = malloc(dlen + plen + 2);
    if (out == NULL) {
        return NULL;
    }

    memcpy(out, dir, dlen);
    if (dlen == 0 || dir[dlen - 1] != '/') {
        out[dlen++] = '/';
    }
    memcpy(out + dlen, path, plen + 1);

    return out;
}


static const char *
conf_remember(drover__conf_parser_t *p, const char *name)
{
    size_t                len;
    drover__conf_name_t  *n;

    len = strlen(name);
    n = malloc(sizeof(*n) + len + 1);
    if (n == NULL) {
        return NULL;
    }

    memcpy(n->name, name, len + 1);
    n->next = p->names;
    p->names = n;

    return n->name;
}


static void
conf_pool_free(drover_pool_conf_t *pool)
{
    size_t  i;

    for (i = 0; i < pool->nparams; i++) {
        free(pool->params[i].name);
        free(pool->params[i].value);
    }

    free(pool->params);

    for (i = 0; i < pool->nprestart; i++) {
        size_t  k;

        for (k = 0; k < pool->prestart[i].argc; k++) {
            free(pool->prestart[i].argv[k]);
        }

        free(pool->prestart[i].argv);
        free(pool->prestart[i].file);
    }

    free(pool->prestart);

    for (i = 0; i < pool->exec_argc; i++) {
        free(pool->exec_argv[i]);
    }

    free(pool->exec_argv);
    free(pool->name);
    free(pool->app);
    free(pool->listen.path);
    free(pool->listen.file);
    free(pool->tcp.addr);
    free(pool->tcp.file);
    free(pool->user);
    free(pool->group);
    free(pool->file);
    drover__conf_pool_free_proc(pool);
    drover__conf_pool_free_python(pool);
    free(pool);
}
