# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
"""t/apps/python/preload_app.py -- the FastAPI app of t/python_preload.t: 200 MB
of data loaded once (the pool's `python_preload preload_app:load`, in the
preloader before fork), half a bytes blob, half Python objects (lists the
garbage collector walks), shared by the workers copy-on-write.

Without the hook, startup loads it in each process (uvicorn), or the import
does with LOAD_AT_IMPORT=1 (gunicorn --preload imports the app before fork).  With
UNFREEZE=1 in the environment each worker calls gc.unfreeze() at startup, to
measure what the gc.freeze() before fork saves.
"""
import gc
import hashlib
import os

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

MB = 1024 * 1024
BLOB_MB = 100
ENTRIES = 500000          # [int, 64 bytes] lists: about 100 MB of objects the gc walks

BLOB = None
TABLE = None
loaded_in = None          # the pid that built the data


def load():
    global BLOB, TABLE, loaded_in
    if BLOB is not None:
        return
    seed = hashlib.sha256(b"drover").digest() * 2          # 64 bytes
    BLOB = seed * (BLOB_MB * MB // len(seed))
    TABLE = [[i + 1000, bytes([i & 0xff]) + seed[1:]] for i in range(ENTRIES)]
    loaded_in = os.getpid()


if os.environ.get("LOAD_AT_IMPORT") == "1":
    load()

app = FastAPI()


@app.on_event("startup")
async def startup():
    load()          # a no-op when the preload hook ran
    if os.environ.get("UNFREEZE") == "1":
        gc.unfreeze()


@app.get("/")
async def hello():
    return PlainTextResponse("hello\n")


@app.get("/info")
async def info():
    return {"pid": os.getpid(), "loaded_in": loaded_in, "blob": len(BLOB), "entries": len(TABLE),
            "frozen": gc.get_freeze_count()}


@app.get("/lookup")
async def lookup(i: int = 0):
    # reads the blob: no write to its pages
    off = (i * 4096) % (len(BLOB) - 64)
    return PlainTextResponse(hashlib.sha256(BLOB[off:off + 64]).hexdigest() + "\n")


@app.get("/collect")
async def collect():
    # a full collection walks every tracked object not frozen
    return {"collected": gc.collect()}
