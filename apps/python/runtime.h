/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * runtime.h -- droverd's Python runtime (drover_python.so): what the app
 * hooks (runtime.c) and the _drover extension module (module.c) share.
 */

#ifndef DROVER_PY_RUNTIME_H
#define DROVER_PY_RUNTIME_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "drover.h"

/* the module's init, registered with PyImport_AppendInittab() */
PyObject *drover_py_module_init(void);

/* the request handle() runs, NULL between requests */
void drover_py_set_request(drover_req_t *req);

/* the context for drover_log(), and the pool's root_path ("" if none) */
void drover_py_set_ctx(drover_ctx_t *ctx, const char *root_path);

#endif /* DROVER_PY_RUNTIME_H */
