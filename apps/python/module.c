/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * module.c -- the _drover extension module: the request handle() runs, as
 * the glue (glue.py) needs it to build an ASGI scope or a WSGI environ, read
 * the body and write the response through drover.h.  Blocking calls
 * release the GIL, so the app's own threads run meanwhile.
 */

#include "runtime.h"

#include <string.h>


static drover_req_t  *py_req;
static drover_ctx_t  *py_ctx;
static const char    *py_root_path = "";


void
drover_py_set_request(drover_req_t *req)
{
    py_req = req;
}


void
drover_py_set_ctx(drover_ctx_t *ctx, const char *root_path)
{
    py_ctx = ctx;
    py_root_path = root_path != NULL ? root_path : "";
}


static drover_req_t *
py_request(void)
{
    if (py_req == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "no request: the _drover request functions work "
                        "only while droverd runs a request in the app");
    }

    return py_req;
}


static const char *
py_param(drover_req_t *req, const char *name, const char *dflt)
{
    const char  *v = drover_req_param(req, name);

    return v != NULL ? v : dflt;
}


/* set key to a new reference, consuming it; -1 with an exception */
static int
py_set(PyObject *d, const char *key, PyObject *v)
{
    int  rc;

    if (v == NULL) {
        return -1;
    }

    rc = PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
    return rc;
}


/*
 * The scope's keys and its constant values, made once per process: a
 * scope is then a dict filled with interned keys (their hashes cached),
 * no str made per key per request.
 */
enum {
    PY_K_TYPE, PY_K_ASGI, PY_K_HTTP_VERSION, PY_K_METHOD, PY_K_SCHEME,
    PY_K_PATH, PY_K_RAW_PATH, PY_K_QUERY_STRING, PY_K_ROOT_PATH,
    PY_K_HEADERS, PY_K_CLIENT, PY_K_SERVER, PY_K_VERSION, PY_K_SPEC_VERSION,
    PY_V_HTTP, PY_V_HTTPS, PY_V_3_0, PY_V_2_3, PY_V_1_0, PY_V_1_1, PY_V_2,
    PY_V_3, PY_V_GET, PY_V_POST, PY_NSTR
};

static const char  *py_str_text[PY_NSTR] = {
    "type", "asgi", "http_version", "method", "scheme", "path", "raw_path",
    "query_string", "root_path", "headers", "client", "server", "version",
    "spec_version", "http", "https", "3.0", "2.3", "1.0", "1.1", "2", "3",
    "GET", "POST"
};

static PyObject  *py_str[PY_NSTR];
static PyObject  *py_root_path_str;


static int
py_strings(void)
{
    int  i;

    if (py_str[0] != NULL) {
        return 0;
    }

    for (i = 0; i < PY_NSTR; i++) {
        py_str[i] = PyUnicode_InternFromString(py_str_text[i]);
        if (py_str[i] == NULL) {
            return -1;
        }
    }

    return 0;
}


/* d[py_str[key]] = v, consuming v (a new reference, NULL: failed) */
static int
py_put(PyObject *d, int key, PyObject *v)
{
    int  rc;

    if (v == NULL) {
        return -1;
    }

    rc = PyDict_SetItem(d, py_str[key], v);
    Py_DECREF(v);
    return rc;
}


/* a cached str, as a new reference */
static PyObject *
py_const(int i)
{
    Py_INCREF(py_str[i]);
    return py_str[i];
}


/* HTTP_ACCEPT_ENCODING -> b"accept-encoding" (ASGI: lowercased names) */
static PyObject *
py_header_name(const char *name)
{
    char    buf[256];
    size_t  i, len;

    len = strlen(name);
    if (len >= sizeof(buf)) {
        len = sizeof(buf) - 1;
    }

    for (i = 0; i < len; i++) {
        char  ch = name[i];

        buf[i] = (ch == '_') ? '-'
                 : (ch >= 'A' && ch <= 'Z') ? (char) (ch - 'A' + 'a') : ch;
    }

    return PyBytes_FromStringAndSize(buf, (Py_ssize_t) len);
}


/* the HTTP_* parameters, and CONTENT_TYPE/CONTENT_LENGTH when not empty */
static const char *
py_header_param(const char *name, const char *value)
{
    if (name[0] == 'H' && strncmp(name, "HTTP_", 5) == 0) {
        return name + 5;
    }

    if (name[0] == 'C' && value[0] != '\0'
        && (strcmp(name, "CONTENT_TYPE") == 0
            || strcmp(name, "CONTENT_LENGTH") == 0))
    {
        return name;
    }

    return NULL;
}


static PyObject *
py_headers(drover_req_t *req)
{
    size_t       iter = 0;
    PyObject    *list, *pair, *k, *v;
    Py_ssize_t   n = 0, i = 0;
    const char  *name, *value, *h;

    while (drover_req_param_next(req, &iter, &name, &value)) {
        n += py_header_param(name, value) != NULL;
    }

    list = PyList_New(n);
    if (list == NULL) {
        return NULL;
    }

    iter = 0;

    while (i < n && drover_req_param_next(req, &iter, &name, &value)) {
        h = py_header_param(name, value);
        if (h == NULL) {
            continue;
        }

        k = py_header_name(h);
        v = k != NULL ? PyBytes_FromString(value) : NULL;
        pair = v != NULL ? PyTuple_New(2) : NULL;

        if (pair == NULL) {
            Py_XDECREF(k);
            Py_XDECREF(v);
            Py_DECREF(list);
            return NULL;
        }

        PyTuple_SET_ITEM(pair, 0, k);
        PyTuple_SET_ITEM(pair, 1, v);
        PyList_SET_ITEM(list, i++, pair);
    }

    return list;
}


/* ("10.0.0.1", 4711), or None */
static PyObject *
py_addr(drover_req_t *req, const char *addr, const char *port)
{
    const char  *a, *p;

    a = drover_req_param(req, addr);
    p = drover_req_param(req, port);

    if (a == NULL || a[0] == '\0') {
        Py_RETURN_NONE;
    }

    return Py_BuildValue("(sl)", a, p != NULL ? strtol(p, NULL, 10) : 0L);
}


/* "HTTP/1.1" -> "1.1", "HTTP/2.0" -> "2" (ASGI's spellings) */
static int
py_http_version(drover_req_t *req)
{
    const char  *proto = py_param(req, "SERVER_PROTOCOL", "HTTP/1.1");

    if (strcmp(proto, "HTTP/1.0") == 0) {
        return PY_V_1_0;
    }

    if (strncmp(proto, "HTTP/2", 6) == 0) {
        return PY_V_2;
    }

    if (strncmp(proto, "HTTP/3", 6) == 0) {
        return PY_V_3;
    }

    return PY_V_1_1;
}


static int
py_scheme(drover_req_t *req)
{
    const char  *s = drover_req_param(req, "REQUEST_SCHEME");
    const char  *https = drover_req_param(req, "HTTPS");

    if (s != NULL && strcmp(s, "https") == 0) {
        return PY_V_HTTPS;
    }

    if (s != NULL && strcmp(s, "http") == 0) {
        return PY_V_HTTP;
    }

    return (https != NULL && https[0] != '\0' && strcmp(https, "off") != 0)
           ? PY_V_HTTPS : PY_V_HTTP;
}


static PyObject *
py_method(const char *m)
{
    if (strcmp(m, "GET") == 0) {
        return py_const(PY_V_GET);
    }

    if (strcmp(m, "POST") == 0) {
        return py_const(PY_V_POST);
    }

    return PyUnicode_FromString(m);
}


/* {"version": "3.0", "spec_version": "2.3"}: the app may change it */
static PyObject *
py_asgi(void)
{
    PyObject  *d;

    d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }

    if (PyDict_SetItem(d, py_str[PY_K_VERSION], py_str[PY_V_3_0]) != 0
        || PyDict_SetItem(d, py_str[PY_K_SPEC_VERSION], py_str[PY_V_2_3]) != 0)
    {
        Py_DECREF(d);
        return NULL;
    }

    return d;
}


/* the ASGI http scope of the request (its state is the glue's to add) */
static PyObject *
py_scope(PyObject *self, PyObject *unused)
{
    size_t         n;
    PyObject      *d;
    const char    *uri, *path, *q;
    drover_req_t  *req;

    (void) self;
    (void) unused;

    req = py_request();
    if (req == NULL) {
        return NULL;
    }

    if (py_strings() != 0) {
        return NULL;
    }

    if (py_root_path_str == NULL
        || strcmp(PyUnicode_AsUTF8(py_root_path_str), py_root_path) != 0)
    {
        Py_CLEAR(py_root_path_str);
        py_root_path_str = PyUnicode_FromString(py_root_path);
        if (py_root_path_str == NULL) {
            return NULL;
        }
    }

    d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }

    uri = drover_req_uri(req);
    q = strchr(uri, '?');
    n = q != NULL ? (size_t) (q - uri) : strlen(uri);
    path = drover_req_path(req);

    Py_INCREF(py_root_path_str);

    if (py_put(d, PY_K_TYPE, py_const(PY_V_HTTP)) != 0
        || py_put(d, PY_K_ASGI, py_asgi()) != 0
        || py_put(d, PY_K_HTTP_VERSION, py_const(py_http_version(req))) != 0
        || py_put(d, PY_K_METHOD, py_method(drover_req_method(req))) != 0
        || py_put(d, PY_K_SCHEME, py_const(py_scheme(req))) != 0
        || py_put(d, PY_K_PATH,
                  PyUnicode_DecodeUTF8(path, (Py_ssize_t) strlen(path),
                                       "replace")) != 0
        || py_put(d, PY_K_RAW_PATH,
                  PyBytes_FromStringAndSize(uri, (Py_ssize_t) n)) != 0
        || py_put(d, PY_K_QUERY_STRING,
                  PyBytes_FromString(drover_req_query(req))) != 0
        || py_put(d, PY_K_ROOT_PATH, py_root_path_str) != 0
        || py_put(d, PY_K_HEADERS, py_headers(req)) != 0
        || py_put(d, PY_K_CLIENT,
                  py_addr(req, "REMOTE_ADDR", "REMOTE_PORT")) != 0
        || py_put(d, PY_K_SERVER,
                  py_addr(req, "SERVER_ADDR", "SERVER_PORT")) != 0)
    {
        Py_DECREF(d);
        return NULL;
    }

    return d;
}


static PyObject *
py_latin1(const char *s)
{
    return PyUnicode_DecodeLatin1(s, (Py_ssize_t) strlen(s), NULL);
}


/*
 * The CGI variables of PEP 3333 as native strings (bytes as latin-1), with
 * SCRIPT_NAME the pool's root_path and PATH_INFO the decoded path under
 * it; the glue adds the wsgi.* keys.
 */
static PyObject *
py_environ(PyObject *self, PyObject *unused)
{
    size_t         iter = 0, rlen;
    PyObject      *d;
    const char    *name, *value, *path;
    drover_req_t  *req;

    static const char  *dflt[][2] = {
        { "QUERY_STRING", "" },
        { "SERVER_NAME", "localhost" },
        { "SERVER_PORT", "80" },
        { "SERVER_PROTOCOL", "HTTP/1.1" },
    };

    (void) self;
    (void) unused;

    req = py_request();
    if (req == NULL) {
        return NULL;
    }

    d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }

    while (drover_req_param_next(req, &iter, &name, &value)) {
        if (py_set(d, name, py_latin1(value)) != 0) {
            goto fail;
        }
    }

    for (iter = 0; iter < sizeof(dflt) / sizeof(dflt[0]); iter++) {
        if (drover_req_param(req, dflt[iter][0]) == NULL
            && py_set(d, dflt[iter][0], py_latin1(dflt[iter][1])) != 0)
        {
            goto fail;
        }
    }

    path = drover_req_path(req);
    rlen = strlen(py_root_path);

    if (rlen > 0 && strncmp(path, py_root_path, rlen) == 0
        && (path[rlen] == '/' || path[rlen] == '\0'))
    {
        path += rlen;
    }

    if (py_set(d, "REQUEST_METHOD", py_latin1(drover_req_method(req))) != 0
        || py_set(d, "SCRIPT_NAME", py_latin1(py_root_path)) != 0
        || py_set(d, "PATH_INFO", py_latin1(path)) != 0)
    {
        goto fail;
    }

    return d;

fail:

    Py_DECREF(d);
    return NULL;
}


/* param(name): a FastCGI parameter as str (latin-1), or None */
static PyObject *
py_param_get(PyObject *self, PyObject *args)
{
    const char    *name, *value;
    drover_req_t  *req;

    (void) self;

    if (!PyArg_ParseTuple(args, "s", &name)) {
        return NULL;
    }

    req = py_request();
    if (req == NULL) {
        return NULL;
    }

    value = drover_req_param(req, name);
    if (value == NULL) {
        Py_RETURN_NONE;
    }

    return py_latin1(value);
}


static PyObject *
py_content_length(PyObject *self, PyObject *unused)
{
    drover_req_t  *req;

    (void) self;
    (void) unused;

    req = py_request();
    if (req == NULL) {
        return NULL;
    }

    return PyLong_FromLongLong((long long) drover_req_content_length(req));
}


/*
 * read(n, fill=False): up to n bytes of the body, b"" at its end; with fill
 * until n are in (the body's length is known to hold them), so a 16 KiB
 * body that came in several FastCGI records is one bytes object, one
 * receive(); OSError when it cannot be read
 */
static PyObject *
py_read(PyObject *self, PyObject *args)
{
    int            fill = 0;
    ssize_t        got, more;
    PyObject      *buf;
    Py_ssize_t     n;
    drover_req_t  *req;

    (void) self;

    if (!PyArg_ParseTuple(args, "n|p", &n, &fill)) {
        return NULL;
    }

    req = py_request();
    if (req == NULL) {
        return NULL;
    }

    if (n <= 0) {
        return PyBytes_FromStringAndSize(NULL, 0);
    }

    buf = PyBytes_FromStringAndSize(NULL, n);
    if (buf == NULL) {
        return NULL;
    }

    Py_BEGIN_ALLOW_THREADS
    got = drover_req_read(req, PyBytes_AS_STRING(buf), (size_t) n);

    while (fill && got > 0 && got < n) {
        more = drover_req_read(req, PyBytes_AS_STRING(buf) + got,
                               (size_t) (n - got));
        if (more <= 0) {
            got = more < 0 ? more : got;
            break;
        }

        got += more;
    }
    Py_END_ALLOW_THREADS

    if (got < 0) {
        Py_DECREF(buf);
        PyErr_SetString(PyExc_OSError, "the request body cannot be read: "
                        "the client or the front end is gone");
        return NULL;
    }

    if (got < n && _PyBytes_Resize(&buf, (Py_ssize_t) got) != 0) {
        return NULL;
    }

    return buf;
}


/* bytes, or str as latin-1 (WSGI's native strings): a borrowed C string */
static const char *
py_header_part(PyObject *o, PyObject **tmp)
{
    const char  *s;
    Py_ssize_t   len;

    *tmp = NULL;

    if (PyUnicode_Check(o)) {
        *tmp = PyUnicode_AsLatin1String(o);
        if (*tmp == NULL) {
            return NULL;
        }
        o = *tmp;
    }

    if (!PyBytes_Check(o)) {
        PyErr_Format(PyExc_TypeError, "response header names and values are "
                     "bytes (ASGI) or str (WSGI), not %.100s",
                     Py_TYPE(o)->tp_name);
        return NULL;
    }

    s = PyBytes_AS_STRING(o);
    len = PyBytes_GET_SIZE(o);

    if ((Py_ssize_t) strlen(s) != len) {
        PyErr_SetString(PyExc_ValueError, "a response header holds a NUL");
        return NULL;
    }

    return s;
}


/* start(status, headers): no default Content-Type, the app sets its own */
static PyObject *
py_start(PyObject *self, PyObject *args)
{
    int            status, rc;
    PyObject      *headers, *seq, *pair, *t1, *t2;
    Py_ssize_t     i;
    const char    *name, *value;
    drover_req_t  *req;

    (void) self;

    if (!PyArg_ParseTuple(args, "iO", &status, &headers)) {
        return NULL;
    }

    req = py_request();
    if (req == NULL) {
        return NULL;
    }

    if (drover_resp_status(req, status) != 0) {
        return PyErr_Format(PyExc_ValueError, "bad response status %d: "
                            "200..599 before the response started", status);
    }

    drover_resp_no_default_type(req);

    seq = PySequence_Fast(headers, "response headers must be a sequence");
    if (seq == NULL) {
        return NULL;
    }

    for (i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        pair = PySequence_Fast_GET_ITEM(seq, i);

        if (!PySequence_Check(pair) || PySequence_Size(pair) != 2) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_TypeError, "a response header is a "
                            "(name, value) pair");
            return NULL;
        }

        pair = PySequence_Tuple(pair);
        if (pair == NULL) {
            Py_DECREF(seq);
            return NULL;
        }

        name = py_header_part(PyTuple_GET_ITEM(pair, 0), &t1);
        value = name != NULL ? py_header_part(PyTuple_GET_ITEM(pair, 1), &t2)
                             : NULL;

        rc = (value != NULL) ? drover_resp_header(req, name, value) : -2;

        if (rc == -1) {
            PyErr_Format(PyExc_ValueError, "bad response header %R: a "
                         "token name and no CR, LF or NUL in the value",
                         PyTuple_GET_ITEM(pair, 0));
        }

        Py_XDECREF(t1);
        if (name != NULL) {
            Py_XDECREF(t2);
        }
        Py_DECREF(pair);

        if (rc != 0) {
            Py_DECREF(seq);
            return NULL;
        }
    }

    Py_DECREF(seq);
    Py_RETURN_NONE;
}


/*
 * A response's last piece up to this long is copied in pieces under
 * request_response.c's REQ_DIRECT_MIN (8 KiB, from which it sends a write
 * straight from the caller's memory): it then stays in the open record and
 * leaves with FCGI_END_REQUEST in one sendmsg(), not two (post16k's echo).
 */
#define PY_LAST_COPY_MAX  32768
#define PY_LAST_PIECE     8000


/*
 * write(data, last=False): True when written (or swallowed by an aborted
 * request), False: gone
 */
static PyObject *
py_write(PyObject *self, PyObject *args)
{
    int            last = 0;
    size_t         off, piece;
    ssize_t        n;
    Py_buffer      data;
    drover_req_t  *req;

    (void) self;

    if (!PyArg_ParseTuple(args, "y*|p", &data, &last)) {
        return NULL;
    }

    req = py_request();
    if (req == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }

    Py_BEGIN_ALLOW_THREADS

    if (last && data.len > PY_LAST_PIECE && data.len <= PY_LAST_COPY_MAX) {
        n = 0;

        for (off = 0; off < (size_t) data.len && n >= 0; off += piece) {
            piece = (size_t) data.len - off;
            if (piece > PY_LAST_PIECE) {
                piece = PY_LAST_PIECE;
            }

            n = drover_resp_write(req, (const char *) data.buf + off, piece);
        }

    } else {
        n = drover_resp_write(req, data.buf, (size_t) data.len);
    }

    Py_END_ALLOW_THREADS

    PyBuffer_Release(&data);

    return PyBool_FromLong(n >= 0);
}


static PyObject *
py_flush(PyObject *self, PyObject *unused)
{
    int            rc;
    drover_req_t  *req;

    (void) self;
    (void) unused;

    req = py_request();
    if (req == NULL) {
        return NULL;
    }

    Py_BEGIN_ALLOW_THREADS
    rc = drover_resp_flush(req);
    Py_END_ALLOW_THREADS

    return PyBool_FromLong(rc == 0);
}


static PyObject *
py_abort(PyObject *self, PyObject *unused)
{
    drover_req_t  *req;

    (void) self;
    (void) unused;

    req = py_request();
    if (req == NULL) {
        return NULL;
    }

    Py_BEGIN_ALLOW_THREADS
    drover_req_abort(req);
    Py_END_ALLOW_THREADS

    Py_RETURN_NONE;
}


static PyObject *
py_gone(PyObject *self, PyObject *unused)
{
    drover_req_t  *req;

    (void) self;
    (void) unused;

    req = py_request();
    if (req == NULL) {
        return NULL;
    }

    return PyBool_FromLong(drover_req_gone(req));
}


static PyObject *
py_fd(PyObject *self, PyObject *unused)
{
    drover_req_t  *req;

    (void) self;
    (void) unused;

    req = py_request();
    if (req == NULL) {
        return NULL;
    }

    return PyLong_FromLong(drover_req_fd(req));
}


/* log(level, text): one line to droverd's log, with the pool and worker */
static PyObject *
py_log(PyObject *self, PyObject *args)
{
    int          level;
    const char  *text;

    (void) self;

    if (!PyArg_ParseTuple(args, "is", &level, &text)) {
        return NULL;
    }

    drover_log(py_ctx, level, "%s", text);

    Py_RETURN_NONE;
}


static PyObject *
py_slot(PyObject *self, PyObject *unused)
{
    (void) self;
    (void) unused;

    return PyLong_FromLong(drover_worker_slot(py_ctx));
}


static PyMethodDef  py_methods[] = {
    { "scope", py_scope, METH_NOARGS, "the request's ASGI http scope" },
    { "environ", py_environ, METH_NOARGS, "the request's CGI variables" },
    { "param", py_param_get, METH_VARARGS, "param(name): str or None" },
    { "content_length", py_content_length, METH_NOARGS,
      "CONTENT_LENGTH, or -1" },
    { "read", py_read, METH_VARARGS,
      "read(n, fill=False): up to n body bytes (with fill: n unless it ends)" },
    { "start", py_start, METH_VARARGS, "start(status, headers)" },
    { "write", py_write, METH_VARARGS,
      "write(data, last=False): False when gone" },
    { "flush", py_flush, METH_NOARGS, "send what was written" },
    { "abort", py_abort, METH_NOARGS, "end the request, response cut" },
    { "gone", py_gone, METH_NOARGS, "True when the client left" },
    { "fd", py_fd, METH_NOARGS, "the connection, to watch for POLLIN" },
    { "log", py_log, METH_VARARGS, "log(level, line) to droverd's log" },
    { "slot", py_slot, METH_NOARGS, "the worker slot, -1 in the preloader" },
    { NULL, NULL, 0, NULL }
};


static struct PyModuleDef  py_module = {
    PyModuleDef_HEAD_INIT, "_drover",
    "droverd's request, for the glue module (drover_glue)", -1, py_methods,
    NULL, NULL, NULL, NULL
};


PyObject *
drover_py_module_init(void)
{
    PyObject  *m;

    m = PyModule_Create(&py_module);
    if (m == NULL) {
        return NULL;
    }

    if (PyModule_AddIntConstant(m, "LOG_ERROR", DROVER_LOG_ERROR) != 0
        || PyModule_AddIntConstant(m, "LOG_WARN", DROVER_LOG_WARN) != 0
        || PyModule_AddIntConstant(m, "LOG_NOTICE", DROVER_LOG_NOTICE) != 0
        || PyModule_AddIntConstant(m, "LOG_INFO", DROVER_LOG_INFO) != 0
        || PyModule_AddIntConstant(m, "LOG_DEBUG", DROVER_LOG_DEBUG) != 0)
    {
        Py_DECREF(m);
        return NULL;
    }

    return m;
}
