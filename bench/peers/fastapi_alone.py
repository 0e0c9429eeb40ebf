# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
"""bench/peers/fastapi_alone.py -- fastapi_app.py's GET / with no server and
no event loop: each request is the app's coroutine driven by send(None),
with receive() and send() that never wait.  Prints the CPU per request:
the floor under any server's cost for the Python rows' hello.

  python3 bench/peers/fastapi_alone.py [N]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fastapi_app import app  # noqa: E402

SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
         "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/",
         "raw_path": b"/", "query_string": b"", "root_path": "",
         "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1),
         "server": ("127.0.0.1", 80)}
sent = []


async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message):
    sent.append(message)


def one():
    coro = app(dict(SCOPE), receive, send)
    try:
        coro.send(None)
    except StopIteration:
        return
    raise RuntimeError("the app waited for a future: not a plain hello")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    for _ in range(2000):       # FastAPI builds its middleware stack once
        one()
    del sent[:]
    start = time.process_time()
    for _ in range(n):
        one()
    cpu = time.process_time() - start
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"hello\n"
    print("FastAPI hello, the app alone: %.1f us of CPU per request (%d requests)"
          % (cpu / n * 1e6, n))


main()
