/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * python_conf.c -- a python pool's directives: `python MODULE:ATTR;`,
 * `python_path`, `venv`, `interface`, `lifespan`, `root_path` and
 * `python_preload` (docs/droverd.conf.md), checked, dumped and freed.
 */

#include "conf.h"
#include "conf_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


static int python_valid_dotted(const char *s, size_t len);
static int python_set_target(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_directive_t *d, char **field);
static int python_set_dir(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_directive_t *d, char **field);
static int python_set_choice(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_directive_t *d, int *field);
static int python_set_root_path(drover__conf_parser_t *p,
    drover__conf_file_t *f, drover__conf_directive_t *d, char **field);


int
drover__conf_set_python(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_block_t *b, drover__conf_directive_t *d)
{
    int                    rc;
    char                  *dir, **path;
    drover_python_conf_t  *py = &b->pool->python;

    switch (d->cmd) {

    case CONF_CMD_PYTHON:
        py->line = d->line;
        return python_set_target(p, f, d, &py->app);

    case CONF_CMD_PYTHON_PRELOAD:
        return python_set_target(p, f, d, &py->preload);

    case CONF_CMD_PYTHON_PATH:
        rc = python_set_dir(p, f, d, &dir);
        if (rc != 0) {
            return rc;
        }

        path = realloc(py->path, (py->npath + 1) * sizeof(char *));
        if (path == NULL) {
            free(dir);
            return -ENOMEM;
        }

        py->path = path;
        py->path[py->npath++] = dir;
        return 0;

    case CONF_CMD_VENV:
        return python_set_dir(p, f, d, &py->venv);

    case CONF_CMD_INTERFACE:
        return python_set_choice(p, f, d, &py->interface);

    case CONF_CMD_LIFESPAN:
        return python_set_choice(p, f, d, &py->lifespan);

    case CONF_CMD_ROOT_PATH:
        return python_set_root_path(p, f, d, &py->root_path);
    }

    return -EINVAL;
}


/* NAME(.NAME)*, each a Python identifier in ASCII */
static int
python_valid_dotted(const char *s, size_t len)
{
    size_t  i;
    int     start = 1;

    if (len == 0) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        char  ch = s[i];

        if (ch == '.') {
            if (start) {
                return 0;
            }

            start = 1;
            continue;
        }

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
              || ch == '_' || (!start && ch >= '0' && ch <= '9')))
        {
            return 0;
        }

        start = 0;
    }

    return !start;
}


/* MODULE:ATTR, as uvicorn and gunicorn take it: "main:app" */
static int
python_set_target(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_directive_t *d, char **field)
{
    const char  *arg = d->args[0], *colon;
    const char  *name = drover__conf_commands[d->cmd].name;

    colon = strchr(arg, ':');

    if (colon == NULL || !python_valid_dotted(arg, (size_t) (colon - arg))
        || !python_valid_dotted(colon + 1, strlen(colon + 1)))
    {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"%s\" needs MODULE:%s (a dotted module "
                                  "name, a colon, an attribute: \"%s\"), got "
                                  "\"%s\"", name,
                                  d->cmd == CONF_CMD_PYTHON ? "ATTR" : "FUNC",
                                  d->cmd == CONF_CMD_PYTHON ? "main:app"
                                                            : "data:load",
                                  arg);
    }

    *field = strdup(arg);

    return (*field == NULL) ? -ENOMEM : 0;
}


/* a directory that exists; relative to the file's directory, as `app` is */
static int
python_set_dir(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_directive_t *d, char **field)
{
    char         *path;
    struct stat   st;
    const char   *why;
    const char   *arg = d->args[0];
    const char   *name = drover__conf_commands[d->cmd].name;

    if (arg[0] == '\0') {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"%s\" needs a directory, got \"\"", name);
    }

    path = (arg[0] == '/') ? strdup(arg) : drover__conf_join(f->dir, arg);
    if (path == NULL) {
        return -ENOMEM;
    }

    why = (stat(path, &st) == -1) ? strerror(errno)
          : !S_ISDIR(st.st_mode) ? "not a directory" : NULL;

    if (why != NULL) {
        drover__conf_error(p, f->name, d->arg_lines[0],
                           "%s \"%s\" (%s): %s: name the directory %s",
                           name, arg, path, why,
                           d->cmd == CONF_CMD_VENV
                           ? "made by \"python3 -m venv\""
                           : "that holds the app's modules");
        free(path);
        return -EINVAL;
    }

    *field = path;
    return 0;
}


static int
python_set_choice(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_directive_t *d, int *field)
{
    size_t       i;
    const char  *arg = d->args[0];

    static const struct { int cmd; const char *name; int value; } choices[] = {
        { CONF_CMD_INTERFACE, "auto", DROVER_PY_AUTO },
        { CONF_CMD_INTERFACE, "asgi", DROVER_PY_ASGI },
        { CONF_CMD_INTERFACE, "wsgi", DROVER_PY_WSGI },
        { CONF_CMD_LIFESPAN, "auto", DROVER_PY_AUTO },
        { CONF_CMD_LIFESPAN, "on", DROVER_PY_ON },
        { CONF_CMD_LIFESPAN, "off", DROVER_PY_OFF },
    };

    for (i = 0; i < sizeof(choices) / sizeof(choices[0]); i++) {
        if (choices[i].cmd == d->cmd && strcmp(choices[i].name, arg) == 0) {
            *field = choices[i].value;
            return 0;
        }
    }

    return drover__conf_error(p, f->name, d->arg_lines[0],
                              "\"%s\" needs %s, got \"%s\"",
                              drover__conf_commands[d->cmd].name,
                              d->cmd == CONF_CMD_INTERFACE
                              ? "\"asgi\", \"wsgi\" or \"auto\""
                              : "\"auto\", \"on\" or \"off\"", arg);
}


/* "" or "/prefix": where the front end mounts the app, no trailing "/" */
static int
python_set_root_path(drover__conf_parser_t *p, drover__conf_file_t *f,
    drover__conf_directive_t *d, char **field)
{
    size_t       len, i;
    const char  *arg = d->args[0];

    len = strlen(arg);

    for (i = 0; i < len; i++) {
        if ((unsigned char) arg[i] <= 0x20 || arg[i] == 0x7f
            || arg[i] == '?' || arg[i] == '#')
        {
            break;
        }
    }

    if (i < len || (len > 0 && (arg[0] != '/' || arg[len - 1] == '/'))) {
        return drover__conf_error(p, f->name, d->arg_lines[0],
                                  "\"root_path\" needs \"\" or a path such "
                                  "as \"/api\" (a leading \"/\", none at the "
                                  "end, no spaces, \"?\" or \"#\"), got "
                                  "\"%s\"", arg);
    }

    *field = strdup(arg);

    return (*field == NULL) ? -ENOMEM : 0;
}


/* at the pool's "}": python excludes app and exec, and the rest need it */
int
drover__conf_python_finish(drover__conf_parser_t *p, drover__conf_block_t *b)
{
    int                  cmd;
    drover_pool_conf_t  *pool = b->pool;

    if (pool->python.app != NULL) {
        cmd = pool->app != NULL ? CONF_CMD_APP
              : pool->exec_argv != NULL ? CONF_CMD_EXEC : -1;

        if (cmd != -1) {
            return drover__conf_error(p, b->seen[cmd].file,
                                      b->seen[cmd].line, "pool \"%s\" has "
                                      "both \"python\" and \"%s\": a pool "
                                      "runs one kind of app, keep one",
                                      pool->name,
                                      drover__conf_commands[cmd].name);
        }

        return 0;
    }

    if (pool->python.npath != 0) {
        /* repeatable, so not in b->seen: the pool's line */
        return drover__conf_error(p, pool->file, pool->line, "\"python_path\" "
                                  "is for a python pool: add \"python "
                                  "MODULE:ATTR;\" to pool \"%s\", or remove "
                                  "it", pool->name);
    }

    for (cmd = CONF_CMD_VENV; cmd <= CONF_CMD_PYTHON_PRELOAD; cmd++) {
        if (b->seen[cmd].line != 0) {
            return drover__conf_error(p, b->seen[cmd].file,
                                      b->seen[cmd].line, "\"%s\" is for a "
                                      "python pool: add \"python "
                                      "MODULE:ATTR;\" to pool \"%s\", or "
                                      "remove it",
                                      drover__conf_commands[cmd].name,
                                      pool->name);
        }
    }

    return 0;
}


void
drover__conf_pool_free_python(drover_pool_conf_t *pool)
{
    size_t                 i;
    drover_python_conf_t  *py = &pool->python;

    for (i = 0; i < py->npath; i++) {
        free(py->path[i]);
    }

    free(py->path);
    free(py->app);
    free(py->venv);
    free(py->root_path);
    free(py->preload);
}


static void
python_dump_line(FILE *f, const char *name, const char *value)
{
    fprintf(f, "    %s ", name);
    drover__conf_dump_value(f, value);
    fputs(";\n", f);
}


/* `python` first: it stands where `app` or `exec` would */
int
drover__conf_dump_python(const drover_pool_conf_t *pool, FILE *f)
{
    size_t                      i;
    const drover_python_conf_t *py = &pool->python;

    static const char  *interface[] = { "auto", "asgi", "wsgi" };
    static const char  *lifespan[] = { "auto", "", "", "on", "off" };

    python_dump_line(f, "python", py->app);

    for (i = 0; i < py->npath; i++) {
        python_dump_line(f, "python_path", py->path[i]);
    }

    if (py->venv != NULL) {
        python_dump_line(f, "venv", py->venv);
    }

    fprintf(f, "    interface %s;\n", interface[py->interface]);
    fprintf(f, "    lifespan %s;\n", lifespan[py->lifespan]);

    if (py->root_path != NULL) {
        python_dump_line(f, "root_path", py->root_path);
    }

    if (py->preload != NULL) {
        python_dump_line(f, "python_preload", py->preload);
    }

    return 0;
}
