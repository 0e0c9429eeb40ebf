/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * runtime.c -- droverd's Python runtime, drover_python.so: a Drover app
 * (drover.h) that embeds CPython and runs the pool's `python MODULE:ATTR`
 * app through the bundled glue module (glue.py, ASGI 3.0 and WSGI).
 *
 *   init          the interpreter, python_path, the glue, python_preload,
 *                 the app's import: in the preloader with `preload on`
 *   fork hooks    as os.fork() does: gc.freeze() before the first fork,
 *                 PyOS_BeforeFork / AfterFork_Parent / AfterFork_Child
 *   worker_init   the worker's event loop and ASGI lifespan startup
 *   handle        one request through the glue
 *   fini          lifespan shutdown, atexit callbacks (no finalization)
 *
 * Between calls the main thread does not hold the GIL, so the app's own
 * threads run while droverd waits for requests.
 */

#include "runtime.h"
#include "app.h"

#include <dlfcn.h>
#include <string.h>
#include <wchar.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

/* glue.h: glue.py as a NUL-terminated byte array, made by the Makefile */
#include "glue.h"

#ifndef DROVER_PYTHON_EXE
#define DROVER_PYTHON_EXE  "/usr/bin/python3"
#endif


static PyThreadState  *py_main;       /* the main thread, GIL released */
static PyObject       *py_glue;       /* the glue module */
static PyObject       *py_handle;     /* glue.handle: the request entry */
static int             py_frozen;     /* gc.freeze() done */


static void py_log_error(drover_ctx_t *ctx, const char *what);
static int py_start_interpreter(drover_ctx_t *ctx,
    const drover_python_conf_t *py);
static int py_call_glue(drover_ctx_t *ctx, const char *fn, PyObject *arg);


/*
 * libpython is a dependency of this .so, which droverd loads RTLD_LOCAL:
 * its symbols would be invisible to the extension modules the app imports
 * (pydantic_core, uvloop), which expect them global as in python3 itself.
 * Promoted to RTLD_GLOBAL here, before any import.
 */
static int
py_promote_libpython(drover_ctx_t *ctx)
{
    Dl_info  info;

    if (dladdr((void *) &Py_InitializeFromConfig, &info) == 0
        || info.dli_fname == NULL)
    {
        drover_log(ctx, DROVER_LOG_ERROR, "cannot find libpython's path");
        return -1;
    }

    if (dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD) == NULL) {
        drover_log(ctx, DROVER_LOG_ERROR, "cannot make %s global: %s",
                   info.dli_fname, dlerror());
        return -1;
    }

    return 0;
}


static int
py_status_ok(drover_ctx_t *ctx, PyStatus status, const char *what)
{
    if (!PyStatus_Exception(status)) {
        return 1;
    }

    drover_log(ctx, DROVER_LOG_ERROR, "python: %s: %s%s%s", what,
               status.func != NULL ? status.func : "",
               status.func != NULL ? ": " : "",
               status.err_msg != NULL ? status.err_msg : "failed");
    return 0;
}


/*
 * The interpreter as /usr/bin/python3 would be, or as VENV/bin/python3
 * (its pyvenv.cfg then sets sys.prefix and site-packages, as in the venv's
 * own python).  No signal handlers: droverd owns the signals.
 */
static int
py_start_interpreter(drover_ctx_t *ctx, const drover_python_conf_t *py)
{
    char         exe[4096];
    PyConfig     config;
    PyStatus     status;
    PyPreConfig  pre;

    if (py->venv != NULL) {
        snprintf(exe, sizeof(exe), "%s/bin/python3", py->venv);
    } else {
        snprintf(exe, sizeof(exe), "%s", DROVER_PYTHON_EXE);
    }

    /*
     * UTF-8 mode, as python3 itself picks under the C locale of a service
     * (PEP 540), and no locale coercion: PEP 538's would setenv() LC_CTYPE
     * in droverd's environment of the worker.
     */
    PyPreConfig_InitPythonConfig(&pre);
    pre.utf8_mode = 1;
    pre.coerce_c_locale = 0;

#if defined(__SANITIZE_ADDRESS__)
    /*
     * Under ASan (make SAN=1) objects are malloc()ed, not carved from
     * pymalloc's mmap()ed arenas, so LeakSanitizer sees what references
     * what and the interpreter's memory at exit is reachable, not "leaked".
     */
    pre.allocator = PYMEM_ALLOCATOR_MALLOC;
#endif

    status = Py_PreInitialize(&pre);
    if (!py_status_ok(ctx, status, "cannot pre-initialize the interpreter")) {
        return -1;
    }

    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    config.buffered_stdio = 0;

    status = PyConfig_SetBytesString(&config, &config.program_name, exe);
    if (py_status_ok(ctx, status, "program name")) {
        status = PyConfig_SetBytesString(&config, &config.executable, exe);
    }

    if (py_status_ok(ctx, status, "executable")) {
        status = Py_InitializeFromConfig(&config);
    }

    PyConfig_Clear(&config);

    return py_status_ok(ctx, status, "cannot start the interpreter") ? 0 : -1;
}


/* the glue module, from the source compiled into this .so */
static int
py_load_glue(drover_ctx_t *ctx)
{
    PyObject  *code;

    code = Py_CompileString((const char *) drover_glue_py, "drover_glue.py",
                            Py_file_input);
    if (code != NULL) {
        py_glue = PyImport_ExecCodeModule("drover_glue", code);
        Py_DECREF(code);
    }

    if (py_glue == NULL) {
        py_log_error(ctx, "cannot load droverd's glue module");
        return -1;
    }

    return 0;
}


/* the pool's python settings, as the glue's setup() takes them */
static PyObject *
py_conf_dict(const drover_python_conf_t *py)
{
    size_t     i;
    PyObject  *d, *path;

    static const char  *interface[] = { "auto", "asgi", "wsgi" };
    static const char  *lifespan[] = { "auto", "", "", "on", "off" };

    path = PyList_New((Py_ssize_t) py->npath);
    if (path == NULL) {
        return NULL;
    }

    for (i = 0; i < py->npath; i++) {
        PyList_SET_ITEM(path, (Py_ssize_t) i,
                        PyUnicode_DecodeFSDefault(py->path[i]));
    }

    d = Py_BuildValue("{sssNssssszsz}",
                      "app", py->app,
                      "path", path,
                      "interface", interface[py->interface],
                      "lifespan", lifespan[py->lifespan],
                      "root_path", py->root_path != NULL ? py->root_path : "",
                      "preload", py->preload,
                      "venv", py->venv);

    return d;
}


static int
py_init(drover_ctx_t *ctx, void **state)
{
    int                          rc;
    PyObject                    *conf;
    const drover_python_conf_t  *py = &ctx->pool->python;

    (void) state;

#if defined(__SANITIZE_ADDRESS__)
    /*
     * The interpreter keeps objects alive from places LeakSanitizer does
     * not scan (the frozen GC generation, uvloop's handles) and is never
     * finalized: what this thread allocates from here on, inherited by the
     * forked workers, is not reported.  droverd's own C code is tested
     * under ASan with the C apps.
     */
    __lsan_disable();
#endif

    drover_py_set_ctx(ctx, py->root_path);

    if (py_promote_libpython(ctx) != 0) {
        return -1;
    }

    if (PyImport_AppendInittab("_drover", drover_py_module_init) != 0) {
        drover_log(ctx, DROVER_LOG_ERROR, "python: cannot register _drover");
        return -1;
    }

    if (py_start_interpreter(ctx, py) != 0) {
        return -1;
    }

    rc = py_load_glue(ctx);

    if (rc == 0) {
        conf = py_conf_dict(py);
        rc = (conf != NULL) ? py_call_glue(ctx, "setup", conf) : -1;
        Py_XDECREF(conf);
    }

    if (rc == 0) {
        py_handle = PyObject_GetAttrString(py_glue, "handle");
        rc = py_handle != NULL ? 0 : -1;
    }

    py_main = PyEval_SaveThread();

    return rc;
}


static int
py_worker_init(drover_ctx_t *ctx, void *state)
{
    int  rc;

    (void) state;

    PyEval_RestoreThread(py_main);
    drover_py_set_ctx(ctx, ctx->pool->python.root_path);
    rc = py_call_glue(ctx, "worker_start", NULL);
    py_main = PyEval_SaveThread();

    return rc;
}


static int
py_handle_request(drover_req_t *req, void *state)
{
    long       rc;
    PyObject  *ret;

    (void) state;

    PyEval_RestoreThread(py_main);
    drover_py_set_request(req);

    ret = PyObject_CallNoArgs(py_handle);
    if (ret == NULL) {
        /* the glue catches the app's exceptions: this is the glue's own */
        py_log_error(drover_req_ctx(req), "the glue failed a request");
        rc = -1;
    } else {
        rc = PyLong_AsLong(ret);
        Py_DECREF(ret);
    }

    drover_py_set_request(NULL);
    py_main = PyEval_SaveThread();

    return rc == 0 ? 0 : -1;
}


static void
py_fini(drover_ctx_t *ctx, void *state)
{
    (void) state;

    PyEval_RestoreThread(py_main);
    (void) py_call_glue(ctx, "worker_stop", NULL);

    /*
     * Not Py_FinalizeEx(): the process exits next, and a teardown of the
     * interpreter with the app's extension modules and threads loaded is
     * where embedded Pythons crash or hang.  worker_stop ran the atexit
     * callbacks and flushed the standard streams.
     */
    (void) PyEval_SaveThread();
}


/*
 * The fork, as os.fork() does it: the GIL held across it, the at-fork
 * callbacks of os.register_at_fork() run by PyOS_*Fork().  Before the
 * first one gc.freeze() moves everything the preloader built out of the
 * collector's reach, so the workers' collections do not write to (and
 * un-share) the pages of the preloaded objects.
 */
static void
py_before_fork(drover_ctx_t *ctx, void *state)
{
    (void) state;

    PyEval_RestoreThread(py_main);

    if (!py_frozen) {
        py_frozen = 1;
        (void) py_call_glue(ctx, "freeze", NULL);
    }

    PyOS_BeforeFork();
}


static void
py_after_fork_parent(drover_ctx_t *ctx, void *state)
{
    (void) ctx;
    (void) state;

    PyOS_AfterFork_Parent();
    py_main = PyEval_SaveThread();
}


static void
py_after_fork_child(drover_ctx_t *ctx, void *state)
{
    (void) ctx;
    (void) state;

    PyOS_AfterFork_Child();
    py_main = PyEval_SaveThread();
}


/* call glue.FN(arg): it returns True, or False once it logged why */
static int
py_call_glue(drover_ctx_t *ctx, const char *fn, PyObject *arg)
{
    int        ok;
    PyObject  *f, *ret;

    f = PyObject_GetAttrString(py_glue, fn);
    if (f == NULL) {
        py_log_error(ctx, fn);
        return -1;
    }

    ret = (arg != NULL) ? PyObject_CallOneArg(f, arg)
                        : PyObject_CallNoArgs(f);
    Py_DECREF(f);

    if (ret == NULL) {
        py_log_error(ctx, fn);
        return -1;
    }

    ok = PyObject_IsTrue(ret);
    Py_DECREF(ret);

    return ok == 1 ? 0 : -1;
}


/* the pending exception's traceback to droverd's log, one line each */
static void
py_log_error(drover_ctx_t *ctx, const char *what)
{
    PyObject  *type, *exc, *trace, *tb, *mod, *lines, *text;

    drover_log(ctx, DROVER_LOG_ERROR, "python: %s:", what);

    PyErr_Fetch(&type, &exc, &trace);
    if (type == NULL) {
        return;
    }

    PyErr_NormalizeException(&type, &exc, &trace);
    if (trace != NULL && exc != NULL) {
        PyException_SetTraceback(exc, trace);
    }

    Py_XDECREF(type);
    Py_XDECREF(trace);

    if (exc == NULL) {
        return;
    }

    text = NULL;
    mod = PyImport_ImportModule("traceback");
    tb = (mod != NULL) ? PyObject_GetAttrString(mod, "format_exception")
                       : NULL;
    lines = (tb != NULL) ? PyObject_CallOneArg(tb, exc) : NULL;

    if (lines != NULL) {
        PyObject  *empty = PyUnicode_FromString("");

        text = (empty != NULL) ? PyUnicode_Join(empty, lines) : NULL;
        Py_XDECREF(empty);
    }

    if (text != NULL) {
        const char  *s = PyUnicode_AsUTF8(text), *nl;

        while (s != NULL && *s != '\0') {
            nl = strchr(s, '\n');
            drover_log(ctx, DROVER_LOG_ERROR, "%.*s",
                       (int) (nl != NULL ? nl - s : (ptrdiff_t) strlen(s)), s);
            s = (nl != NULL) ? nl + 1 : NULL;
        }
    }

    PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(lines);
    Py_XDECREF(tb);
    Py_XDECREF(mod);
    Py_DECREF(exc);
}


DROVER_APP(
    .name = "python",
    .init = py_init,
    .worker_init = py_worker_init,
    .handle = py_handle_request,
    .fini = py_fini,
    .before_fork = py_before_fork,
    .after_fork_parent = py_after_fork_parent,
    .after_fork_child = py_after_fork_child,
);
