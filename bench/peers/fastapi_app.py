# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
"""bench/peers/fastapi_app.py -- uvicorn + FastAPI peer: the bench workloads.

  GET  /            "hello\n"
  GET  /big?kb=N    N KiB of kit's pattern (line L = L as 15 hex digits + "\n")
  POST /echo        the request body back

Run: python3 -m uvicorn --app-dir bench/peers fastapi_app:app --uds SOCK
         --loop uvloop --http httptools --workers 1 --no-access-log
"""
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

app = FastAPI()
BIG = "".join("%015x\n" % i for i in range(1024 * 64)).encode()  # made once


@app.get("/", response_class=PlainTextResponse)
async def hello():
    return "hello\n"


@app.get("/big")
async def big(kb: int = 64):
    kb = max(0, min(1024, kb))
    return Response(BIG[:kb * 1024], media_type="text/plain")


@app.post("/echo")
async def echo(request: Request):
    return Response(await request.body(), media_type="text/plain")
