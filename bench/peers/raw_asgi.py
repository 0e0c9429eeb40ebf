# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
"""bench/peers/raw_asgi.py -- the bench workloads as a bare ASGI app, no
framework: under BENCH_PY_APP=raw_asgi:app the Python rows measure what each
server costs by itself; fastapi_app.py's cost minus this one is FastAPI's.

  GET  /            "hello\\n"
  GET  /big?kb=N    N KiB of kit's pattern
  POST /echo        the request body back
"""
from urllib.parse import parse_qs

BIG = "".join("%015x\n" % i for i in range(1024 * 64)).encode()
TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/big":
        q = parse_qs(scope["query_string"].decode())
        kb = max(0, min(1024, int(q.get("kb", ["64"])[0])))
        body = BIG[:kb * 1024]
    elif path == "/echo":
        parts, more = [], True
        while more:
            m = await receive()
            parts.append(m.get("body", b""))
            more = m.get("more_body", False)
        body = b"".join(parts)
    else:
        body = b"hello\n"
    await send({"type": "http.response.start", "status": 200,
                "headers": TEXT + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
