# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
"""t/apps/python/flask_app.py -- the Flask (WSGI) app of t/python_wsgi.t: served
by a droverd python pool (interface wsgi) and by gunicorn, answers compared.

Routes as a Flask user writes them; plus a bare WSGI iterable whose close()
is recorded (PEP 3333: the server must call it, also when the client left).
The worker's pid is only in the X-Pid header.
"""
import hashlib
import os
import time

from flask import Flask, Response, abort, jsonify, make_response, request, stream_with_context

MB = 1024 * 1024
PIECE = 64 * 1024

app = Flask(__name__)
closed = {}           # stream id -> "running" | "complete" | "closed early"


@app.after_request
def add_pid(response):
    response.headers["X-Pid"] = str(os.getpid())
    return response


@app.get("/")
def hello():
    return Response("hello\n", mimetype="text/plain")


@app.get("/items/<int:item_id>")
def read_item(item_id):
    return jsonify(item_id=item_id, q=request.args.get("q"), tag=request.args.getlist("tag"),
                   limit=request.args.get("limit", 10, type=int))


@app.post("/items")
def create_item():
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not data.get("name") or \
            not isinstance(data.get("price"), (int, float)) or data["price"] <= 0:
        return jsonify(error="name and a positive price are required"), 422
    return jsonify(name=data["name"], price=data["price"], total=round(data["price"] * 1.2, 2)), 201


@app.delete("/items/<int:item_id>")
def delete_item(item_id):
    return "", 204


@app.get("/headers")
def headers():
    h = request.headers
    # a repeated header arrives joined: by ", " (nginx) or "," (gunicorn)
    dup = ", ".join(v.strip() for v in h.get("X-Dup", "").split(","))
    return jsonify({"x-one": h.get("X-One"), "x-dup": dup,
                    "user-agent": h.get("User-Agent"), "cookie": request.cookies,
                    "path": request.path, "query": request.query_string.decode("latin-1")})


@app.get("/environ")
def environ():
    e = request.environ
    return jsonify(scheme=e["wsgi.url_scheme"], method=e["REQUEST_METHOD"],
                   script_name=e.get("SCRIPT_NAME"), path_info=e.get("PATH_INFO"),
                   query=e.get("QUERY_STRING"), version=list(e["wsgi.version"]),
                   multithread=e["wsgi.multithread"], multiprocess=e["wsgi.multiprocess"],
                   run_once=e["wsgi.run_once"], has_errors=hasattr(e["wsgi.errors"], "write"))


@app.get("/cookie")
def cookie():
    r = make_response(jsonify(ok=True))
    r.headers["Cache-Control"] = "no-store"
    r.headers["X-Custom"] = "a b"
    r.set_cookie("a", "1", path="/")
    r.set_cookie("b", "2", httponly=True)
    return r


@app.get("/redirect")
def redirect():
    return "", 307, {"Location": "/items/1"}


@app.get("/etag")
def etag():
    r = make_response("versioned\n")
    r.mimetype = "text/plain"
    r.set_etag("v1-abc")
    return r.make_conditional(request)


@app.get("/head")
def head():
    # Flask answers HEAD for every GET route
    return Response("the body HEAD leaves out\n", mimetype="text/plain", headers={"X-Head": "yes"})


@app.get("/boom")
def boom():
    raise RuntimeError("boom: an exception before the response started")


@app.get("/abort")
def aborted():
    abort(403)


@app.get("/stream")
def stream():
    n = request.args.get("n", 5, type=int)

    def lines():
        for i in range(n):
            yield "line %d\n" % i
    return Response(stream_with_context(lines()), mimetype="text/plain")


@app.get("/slowstream")
def slowstream():
    sid = request.args["id"]
    n = request.args.get("n", 200, type=int)
    ms = request.args.get("ms", 50, type=int)

    def pieces():
        closed[sid] = "running"
        try:
            for i in range(n):
                yield b"%06d" % i + b"." * 4090 + b"\n"
                time.sleep(ms / 1000.0)
            closed[sid] = "complete"
        finally:
            if closed[sid] == "running":
                closed[sid] = "closed early"
    return Response(pieces(), mimetype="text/plain")


@app.get("/streams/<sid>")
def stream_state(sid):
    return jsonify(id=sid, state=closed.get(sid, "unknown"))


def pattern(i):
    head = b"piece %08d " % i
    return head + b"x" * (PIECE - len(head) - 1) + b"\n"


@app.get("/download")
def download():
    mb = request.args.get("mb", 10, type=int)
    return Response((pattern(i) for i in range(mb * MB // PIECE)),
                    mimetype="application/octet-stream", headers={"X-Length": str(mb * MB)})


@app.post("/upload")
def upload():
    h = hashlib.sha256()
    n = 0
    stream = request.stream
    while True:
        chunk = stream.read(PIECE)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    return jsonify(bytes=n, sha256=h.hexdigest())


class Closing:
    """a WSGI iterable that records whether the server closed it"""

    def __init__(self, sid):
        self.sid = sid
        closed[sid] = "running"

    def __iter__(self):
        yield b"one\n"
        yield b"two\n"

    def close(self):
        closed[self.sid] = "closed by the server"


@app.get("/closing/<sid>")
def closing(sid):
    return Response(Closing(sid), mimetype="text/plain")


def write_app(environ, start_response):
    """PEP 3333's write(): bytes written before the iterable's"""
    write = start_response("200 OK", [("Content-Type", "text/plain"), ("X-Pid", str(os.getpid()))])
    write(b"written ")
    return [b"then returned\n"]


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/write":
        return write_app(environ, start_response)
    return app.wsgi_app(environ, start_response)
