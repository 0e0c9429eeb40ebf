# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
"""t/apps/python/fastapi_app.py -- the FastAPI app of t/python_fastapi.t: served
by a droverd python pool and by uvicorn, and the answers compared.

What a FastAPI user writes: path and query parameters, a Pydantic body (422),
dependencies, StreamingResponse, startup state, a background task, 10 MB up
and down, 204/304/HEAD, sync and async endpoints.  The worker's pid is only
ever in the X-Pid header, so bodies compare equal across servers.
"""
import asyncio
import hashlib
import os
import threading
from typing import List, Optional

from fastapi import BackgroundTasks, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

MB = 1024 * 1024
PIECE = 64 * 1024

app = FastAPI()
bg_done = []          # tags of background tasks that ran to the end, in this process
streams = {}          # stream id -> "running" | "complete" | "left"


@app.on_event("startup")
async def startup():
    app.state.startups = getattr(app.state, "startups", 0) + 1
    app.state.greeting = "set at startup"


@app.on_event("shutdown")
async def shutdown():
    app.state.greeting = "shut down"


@app.middleware("http")
async def add_pid(request: Request, call_next):
    response = await call_next(request)
    response.headers["X-Pid"] = str(os.getpid())
    return response


# ---- parameters ----

@app.get("/")
async def hello():
    return PlainTextResponse("hello\n")


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: Optional[str] = None, limit: int = Query(10, ge=1, le=100),
                    tag: List[str] = Query([])):
    return {"item_id": item_id, "q": q, "limit": limit, "tag": tag}


class Item(BaseModel):
    name: str = Field(..., min_length=1)
    price: float = Field(..., gt=0)
    tags: List[str] = []


@app.post("/items", status_code=201)
async def create_item(item: Item):
    return {"name": item.name, "price": item.price, "tags": item.tags,
            "total": round(item.price * 1.2, 2)}


@app.delete("/items/{item_id}", status_code=204)
async def delete_item(item_id: int):
    return Response(status_code=204)


# ---- dependencies ----

async def common(skip: int = 0, limit: int = 10):
    return {"skip": skip, "limit": limit}


async def token(x_token: str = Header(...)):
    if x_token != "secret":
        raise HTTPException(status_code=401, detail="bad token",
                            headers={"WWW-Authenticate": "Token"})
    return x_token


@app.get("/users")
async def users(params: dict = Depends(common), tok: str = Depends(token)):
    return {"params": params, "token": tok, "users": ["ann", "bob"][params["skip"]:]}


# ---- the request as the app sees it ----

@app.get("/headers")
async def headers(request: Request):
    h = request.headers
    return {"x-one": h.get("x-one"), "x-dup": ", ".join(h.getlist("x-dup")),
            "user-agent": h.get("user-agent"), "cookie": request.cookies,
            "path": request.url.path, "query": str(request.query_params)}


@app.get("/scope")
async def scope(request: Request):
    s = request.scope
    return {"scheme": s.get("scheme"), "method": s["method"], "path": s["path"],
            "raw_path": s.get("raw_path", b"").decode("latin-1"),
            "query_string": s["query_string"].decode("latin-1"),
            "root_path": s.get("root_path"), "http_version": s.get("http_version"),
            "asgi": s.get("asgi"), "has_client": bool(s.get("client"))}


@app.get("/state")
async def state(request: Request):
    return {"startups": request.app.state.startups, "greeting": request.app.state.greeting}


@app.get("/lifespan-state")
async def lifespan_state(request: Request):
    # ASGI lifespan state (scope["state"]): servers that support it copy it
    # into every request's scope; uvicorn 0.17 does not
    return {"state": sorted((request.scope.get("state") or {}).keys())}


@app.get("/cookie")
async def cookie():
    r = JSONResponse({"ok": True}, headers={"Cache-Control": "no-store", "X-Custom": "a b"})
    r.set_cookie("a", "1", path="/")
    r.set_cookie("b", "2", httponly=True)
    return r


@app.get("/redirect")
async def redirect():
    return Response(status_code=307, headers={"Location": "/items/1"})


ETAG = '"v1-abc"'


@app.get("/etag")
async def etag(if_none_match: Optional[str] = Header(None)):
    if if_none_match == ETAG:
        return Response(status_code=304, headers={"ETag": ETAG})
    return PlainTextResponse("versioned\n", headers={"ETag": ETAG})


@app.api_route("/head", methods=["GET", "HEAD"])
async def head():
    return PlainTextResponse("the body HEAD leaves out\n", headers={"X-Head": "yes"})


# ---- sync and async ----

@app.get("/sync/{n}")
def sync_sum(n: int):
    # a plain def: FastAPI runs it in its thread pool
    return {"sum": sum(range(n)), "in_thread": threading.current_thread() is not threading.main_thread()}


@app.get("/async/{n}")
async def async_sum(n: int):
    await asyncio.sleep(0)
    return {"sum": sum(range(n))}


@app.get("/boom")
async def boom():
    raise RuntimeError("boom: an exception before the response started")


# ---- streaming ----

@app.get("/stream")
async def stream(n: int = 5):
    async def lines():
        for i in range(n):
            yield b"line %d\n" % i
            await asyncio.sleep(0)
    return StreamingResponse(lines(), media_type="text/plain")


@app.get("/sse")
async def sse(n: int = 3):
    async def events():
        for i in range(n):
            yield "id: %d\ndata: event %d\n\n" % (i, i)
    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


@app.get("/slowstream")
async def slowstream(id: str, n: int = 200, ms: int = 50):
    """a long stream the test leaves after the first piece: the generator is
    cancelled (or closed) and says so in streams[id]"""
    async def pieces():
        streams[id] = "running"
        try:
            for i in range(n):
                yield b"%06d" % i + b"." * 4090 + b"\n"
                await asyncio.sleep(ms / 1000.0)
            streams[id] = "complete"
        finally:
            if streams[id] == "running":
                streams[id] = "left"
    return StreamingResponse(pieces(), media_type="text/plain")


@app.get("/streams/{id}")
async def stream_state(id: str):
    return {"id": id, "state": streams.get(id, "unknown")}


def pattern(i):
    """piece i of a download: 64 KiB, the same on every server"""
    head = b"piece %08d " % i
    return head + b"x" * (PIECE - len(head) - 1) + b"\n"


@app.get("/download")
async def download(mb: int = 10):
    async def pieces():
        for i in range(mb * MB // PIECE):
            yield pattern(i)
    return StreamingResponse(pieces(), media_type="application/octet-stream",
                             headers={"X-Length": str(mb * MB)})


@app.post("/upload")
async def upload(request: Request):
    h = hashlib.sha256()
    n = 0
    pieces = 0
    async for chunk in request.stream():
        h.update(chunk)
        n += len(chunk)
        pieces += 1 if chunk else 0
    return {"bytes": n, "sha256": h.hexdigest(), "in_pieces": pieces > 1}


# ---- background tasks ----

async def record(tag: str, ms: int):
    await asyncio.sleep(ms / 1000.0)
    bg_done.append(tag)


@app.post("/bg")
async def bg(tag: str, background: BackgroundTasks, ms: int = 300):
    background.add_task(record, tag, ms)
    return {"queued": tag}


@app.get("/bg")
async def bg_log():
    return {"done": bg_done}
