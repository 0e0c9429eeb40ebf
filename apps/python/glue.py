# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
"""drover_glue -- droverd's Python runtime: runs the pool's ASGI 3.0 or WSGI
(PEP 3333) app, one request at a time, on the request _drover exposes.
Compiled into drover_python.so; runtime.c calls setup() once (in the
preloader with `preload on`), freeze() before the first fork, then in each
worker worker_start(), handle() per request and worker_stop().
"""

import asyncio
import atexit
import gc
import importlib
import inspect
import os
import sys
import traceback
from asyncio.events import _set_running_loop as set_running_loop

import _drover

BODY_PIECE = 65536          # what one receive() or wsgi.input read takes in
WATCH_RETRY = 0.05          # s: a readable connection with the client still there

app = None
interface = None            # "asgi" or "wsgi"
lifespan_mode = "auto"
loop = None
fast_loop = False           # run_fast() may drive the request's first step
lifespan = None
handle = None               # handle_asgi or handle_wsgi


def log(level, text):
    for line in str(text).rstrip("\n").split("\n"):
        _drover.log(level, line)


def log_exception(what):
    log(_drover.LOG_ERROR, what + "\n" + traceback.format_exc())


def load(spec, what):
    """MODULE:ATTR (ATTR may be dotted) -> the object"""
    modname, _, attr = spec.partition(":")
    obj = importlib.import_module(modname)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError('%s "%s": module "%s" has no attribute "%s"'
                                 % (what, spec, modname, attr)) from None
    return obj


def is_asgi(obj):
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(type(obj), "__call__", None)
    return call is not None and inspect.iscoroutinefunction(call)


def setup(conf):
    """python_path, python_preload, the app's import; False once logged"""
    global app, interface, lifespan_mode, handle

    sys.path[0:0] = conf["path"]
    lifespan_mode = conf["lifespan"]

    try:
        if conf["preload"]:
            load(conf["preload"], "python_preload")()
        app = load(conf["app"], "python")
    except BaseException:
        log_exception('cannot load the app "%s" (python_path %s):'
                      % (conf["app"], ":".join(conf["path"]) or "none"))
        return False

    interface = conf["interface"]
    if interface == "auto":
        interface = "asgi" if is_asgi(app) else "wsgi"

    if not callable(app):
        log(_drover.LOG_ERROR, 'the app "%s" is a %s, not a callable'
            % (conf["app"], type(app).__name__))
        return False

    handle = handle_asgi if interface == "asgi" else handle_wsgi
    log(_drover.LOG_INFO, 'python %s: %s app "%s" loaded'
        % (sys.version.split()[0], interface.upper(), conf["app"]))
    return True


def freeze():
    """before the first fork: what the preloader built stays untouched"""
    gc.collect()
    gc.freeze()
    return True


def new_loop():
    """asyncio's own loop: each request is a run_until_complete(), which
    costs uvloop about 20 system calls (a socketpair for its signal wakeup,
    made and closed per run) and asyncio's loop none; the request's I/O goes
    through droverd, not the loop.  DROVER_PYTHON_LOOP=uvloop in the pool's
    environment (`env`) picks uvloop for apps whose own I/O needs it."""
    if os.environ.get("DROVER_PYTHON_LOOP") == "uvloop":
        try:
            import uvloop
            return uvloop.new_event_loop()
        except ImportError:
            log(_drover.LOG_WARN, "DROVER_PYTHON_LOOP=uvloop but uvloop is not "
                "installed: asyncio's loop")
    return asyncio.new_event_loop()


def worker_start():
    """the worker's event loop, lifespan startup"""
    global loop, lifespan, fast_loop

    if interface != "asgi":
        return True

    loop = new_loop()
    asyncio.set_event_loop(loop)
    fast_loop = isinstance(loop, asyncio.BaseEventLoop) \
        and type(getattr(loop, "_ready", None)).__name__ == "deque"
    if fast_loop:
        # async generators first iterated in run_fast()'s step are the
        # loop's to finalize, as run_forever() would have them
        sys.set_asyncgen_hooks(firstiter=loop._asyncgen_firstiter_hook,
                               finalizer=loop._asyncgen_finalizer_hook)

    if lifespan_mode == "off":
        return True

    lifespan = Lifespan()
    return loop.run_until_complete(lifespan.startup())


def worker_stop():
    """lifespan shutdown, then what interpreter exit would run (atexit)"""
    if lifespan is not None and lifespan.running:
        loop.run_until_complete(lifespan.shutdown())
    try:
        atexit._run_exitfuncs()
    except BaseException:
        log_exception("an atexit callback raised")
    sys.stdout.flush()
    sys.stderr.flush()
    return True


# ---- ASGI ----

class Lifespan:
    """the lifespan scope, one per worker; its state goes to each request"""

    def __init__(self):
        self.state = {}
        self.events = asyncio.Queue()
        self.answer = None          # a future for the next startup/shutdown reply
        self.received = False       # the app asked for an event
        self.running = False
        self.task = None

    async def receive(self):
        self.received = True
        return await self.events.get()

    async def send(self, message):
        kind = message["type"]
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(message)
        elif kind not in ("lifespan.startup.complete", "lifespan.shutdown.complete"):
            log(_drover.LOG_WARN, "lifespan: unexpected message %r" % kind)

    async def main(self):
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self.state}
        try:
            await app(scope, self.receive, self.send)
        except BaseException as e:
            if self.answer is not None and not self.answer.done():
                self.answer.set_exception(e)
            elif not isinstance(e, asyncio.CancelledError):
                log_exception("lifespan: the app raised")
        finally:
            self.running = False
            if self.answer is not None and not self.answer.done():
                self.answer.set_result(None)

    async def startup(self):
        self.answer = loop.create_future()
        self.running = True
        self.task = loop.create_task(self.main())
        await self.events.put({"type": "lifespan.startup"})
        try:
            reply = await self.answer
        except BaseException:
            if lifespan_mode == "auto" and not self.received:
                log(_drover.LOG_INFO, "lifespan: not supported by the app (it raised "
                    "before asking for lifespan.startup); serving without it")
                return True
            log_exception("lifespan startup failed: the app raised")
            return False
        if reply is None:
            if lifespan_mode == "on":
                log(_drover.LOG_ERROR, "lifespan startup failed: the app returned "
                    "without lifespan.startup.complete (lifespan on)")
                return False
            return True
        if reply["type"] == "lifespan.startup.failed":
            log(_drover.LOG_ERROR, "lifespan startup failed: %s"
                % (reply.get("message") or "lifespan.startup.failed"))
            return False
        return True

    async def shutdown(self):
        self.answer = loop.create_future()
        await self.events.put({"type": "lifespan.shutdown"})
        try:
            reply = await asyncio.wait_for(self.answer, 30)
        except BaseException:
            log_exception("lifespan shutdown failed")
            return
        if reply is not None and reply["type"] == "lifespan.shutdown.failed":
            log(_drover.LOG_ERROR, "lifespan shutdown failed: %s" % reply.get("message", ""))


DISCONNECT = {"type": "http.disconnect"}


class HTTPCycle:
    """one request: receive() streams the body, send() the response"""

    __slots__ = ("remaining", "body_done", "status", "headers", "started",
                 "complete", "gone", "waiter", "fd", "stepping")

    def __init__(self):
        self.remaining = _drover.content_length()   # -1: not given
        self.body_done = False
        self.status = None
        self.headers = None
        self.started = False        # handed to droverd: no 500 any more
        self.complete = False
        self.gone = False
        self.waiter = None
        self.fd = -1
        self.stepping = False       # run_fast() drives the first step

    async def receive(self):
        if not self.body_done:
            if self.remaining == 0:
                self.body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            try:
                if 0 < self.remaining:
                    data = _drover.read(min(self.remaining, BODY_PIECE), True)
                else:
                    data = _drover.read(BODY_PIECE)
            except OSError:
                self.body_done = True
                self.disconnected()
                return DISCONNECT
            if self.remaining > 0:
                self.remaining -= len(data)
                more = self.remaining > 0 and data != b""
            else:
                more = data != b""
            self.body_done = not more
            return {"type": "http.request", "body": data, "more_body": more}

        # the body is in: wait for the response to end or the client to leave
        if not (self.complete or self.gone):
            self.waiter = loop.create_future()
            self.watch()
            await self.waiter
        return DISCONNECT

    def watch(self):
        if self.waiter is None or self.waiter.done():
            return
        self.fd = _drover.fd()
        loop.add_reader(self.fd, self.readable)

    def readable(self):
        loop.remove_reader(self.fd)
        if _drover.gone():
            self.disconnected()
        else:
            loop.call_later(WATCH_RETRY, self.watch)

    def disconnected(self):
        self.gone = True
        self.wake()

    def wake(self):
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def send(self, message):
        kind = message["type"]
        if kind == "http.response.body":
            if self.status is None:
                raise RuntimeError("ASGI: http.response.body before http.response.start")
            if self.complete:
                raise RuntimeError("ASGI: http.response.body after the response completed")
            if self.gone:
                return
            if not self.started:
                self.started = True
                _drover.start(self.status, self.headers)
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if body and not _drover.write(body, not more):
                self.disconnected()
                return
            if more:
                # an aborted request swallows writes: ask whether it was
                if not _drover.flush() or _drover.gone():
                    self.disconnected()
            else:
                self.complete = True
                self.wake()
                # sent now only if the app goes on (a background task):
                # else it leaves with FCGI_END_REQUEST, in one write
                if not self.stepping:
                    loop.call_soon(self.flush_if_busy, asyncio.current_task())
        elif kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("ASGI: http.response.start sent twice")
            self.status = message["status"]
            self.headers = message.get("headers", ())
        else:
            raise RuntimeError("ASGI: unexpected message %r on an http scope" % kind)

    def flush_if_busy(self, task):
        if task is not None and not task.done():
            _drover.flush()

    async def run(self, scope):
        try:
            await app(scope, self.receive, self.send)
        except BaseException:
            if self.complete or self.gone:
                # Starlette's ServerErrorMiddleware sends its 500, then raises
                log_exception("the app raised (%s %s)" % (scope["method"], scope["path"]))
                return 0
            if self.started:
                log_exception("the app raised after the response started (%s %s): "
                              "request aborted" % (scope["method"], scope["path"]))
                _drover.abort()
                return 0
            log_exception("the app raised (%s %s): 500" % (scope["method"], scope["path"]))
            return -1
        finally:
            if self.fd != -1:
                loop.remove_reader(self.fd)
            self.wake()

        if self.complete or self.gone:
            return 0
        if self.started:
            log(_drover.LOG_ERROR, "the app returned before its response ended "
                "(%s %s): request aborted" % (scope["method"], scope["path"]))
            _drover.abort()
            return 0
        log(_drover.LOG_ERROR, "the app returned without a response (%s %s): 500"
            % (scope["method"], scope["path"]))
        return -1


def refuse_websocket():
    """the FastCGI hop carries no WebSocket: 400, as uvicorn without a
    WebSocket library answers, and a line in the log"""
    log(_drover.LOG_WARN, "WebSocket request for %s refused: droverd's Python "
        "runtime does not run WebSocket scopes yet" % _drover.param("REQUEST_URI"))
    _drover.start(400, [(b"content-type", b"text/plain; charset=utf-8")])
    _drover.write(b"WebSocket is not supported here yet\n")
    return 0


def handle_asgi():
    upgrade = _drover.param("HTTP_UPGRADE")
    if upgrade is not None and upgrade.lower() == "websocket":
        return refuse_websocket()
    cycle = HTTPCycle()
    scope = _drover.scope()
    if lifespan is not None:
        scope["state"] = lifespan.state.copy()
    if fast_loop and not loop._ready and not loop._scheduled \
            and len(loop._selector.get_map()) <= 1:
        return run_fast(cycle, scope)
    return loop.run_until_complete(cycle.run(scope))


def run_fast(cycle, scope):
    """The request's task, its first step run here rather than by
    run_until_complete(): most requests (FastAPI's hello, 64k, post16k)
    finish in that step, never waiting for a future, and then cost no
    run_forever() setup and no epoll_wait().  A task that waits (the app's
    own I/O, a background task) goes on in run_until_complete() as before.
    Taken only with asyncio's own loop, nothing else ready, no timer and
    no file descriptor watched but the loop's own wakeup pipe."""
    task = loop.create_task(cycle.run(scope))
    step = loop._ready.popleft()
    cycle.stepping = True
    set_running_loop(loop)
    try:
        step._run()
    finally:
        set_running_loop(None)
        cycle.stepping = False
    if task.done() and not loop._ready:
        return task.result()
    if cycle.complete and not task.done():
        _drover.flush()
    return loop.run_until_complete(task)


# ---- WSGI ----

class Input:
    """wsgi.input: the body as it streams in, read as a file"""

    def __init__(self):
        self.buf = b""
        self.eof = False

    def fill(self):
        try:
            data = _drover.read(BODY_PIECE)
        except OSError:
            data = b""
        if data:
            self.buf += data
        else:
            self.eof = True

    def read(self, size=-1):
        if size is None or size < 0:
            while not self.eof:
                self.fill()
            data, self.buf = self.buf, b""
            return data
        while len(self.buf) < size and not self.eof:
            self.fill()
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def readline(self, size=-1):
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                end += 1
                break
            if self.eof or (size is not None and 0 <= size <= len(self.buf)):
                end = len(self.buf)
                break
            self.fill()
        if size is not None and 0 <= size < end:
            end = size
        data, self.buf = self.buf[:end], self.buf[end:]
        return data

    def readlines(self, hint=-1):
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class Errors:
    """wsgi.errors: to droverd's log"""

    def write(self, text):
        if text.strip():
            log(_drover.LOG_ERROR, text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass


ERRORS = Errors()


class WSGIResponse:
    __slots__ = ("status", "headers", "sent", "gone")

    def __init__(self):
        self.status = None
        self.headers = None
        self.sent = False
        self.gone = False

    def start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise RuntimeError("WSGI: start_response called twice without exc_info")
        self.status = int(status.split(" ", 1)[0])
        self.headers = headers
        return self.write

    def write(self, data):
        if self.status is None:
            raise RuntimeError("WSGI: write() before start_response()")
        if not self.sent:
            self.sent = True
            _drover.start(self.status, self.headers)
        if data and not self.gone and not _drover.write(data):
            self.gone = True


def handle_wsgi():
    environ = _drover.environ()
    environ["wsgi.version"] = (1, 0)
    environ["wsgi.url_scheme"] = "https" if environ.get("HTTPS", "off") not in ("", "off") \
        else environ.get("REQUEST_SCHEME", "http")
    environ["wsgi.input"] = Input()
    environ["wsgi.errors"] = ERRORS
    environ["wsgi.multithread"] = False
    environ["wsgi.multiprocess"] = True
    environ["wsgi.run_once"] = False
    environ["wsgi.input_terminated"] = True

    resp = WSGIResponse()
    what = "%s %s" % (environ["REQUEST_METHOD"], environ.get("REQUEST_URI", ""))
    result = None
    try:
        result = app(environ, resp.start_response)
        stream = not isinstance(result, (list, tuple))
        for data in result:
            if data:
                resp.write(data)
                # an aborted request swallows writes: ask whether it was
                if stream and not resp.gone and (not _drover.flush() or _drover.gone()):
                    resp.gone = True
                if resp.gone:
                    break
        if not resp.sent:
            resp.write(b"")
    except BaseException:
        if resp.sent:
            log_exception("the app raised after the response started (%s): "
                          "request aborted" % what)
            _drover.abort()
            return 0
        log_exception("the app raised (%s): 500" % what)
        return -1
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            try:
                close()
            except BaseException:
                log_exception("the app's iterable raised in close() (%s)" % what)
    return 0
