#!/bin/sh
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# make demo-python: nginx with TLS on https://127.0.0.1:8443 in front of a
# droverd python pool serving a small FastAPI app (2 workers, preload on),
# its SQLite schema migrated by a prestart step before any worker starts,
# with droverd's status page on /drover-status (127.0.0.1 only).  Prints a
# list of things to try.  Ctrl-C stops both, and so does closing the terminal.
#
# The app is written to build/demo-python/app (main.py, migrate.py), as a
# user would keep it in /srv/notes; docs/python.md walks through the same
# setup.  Everything lives in build/demo-python: sockets, database, logs.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
dir="$build/demo-python"
port="${DROVER_DEMO_PORT:-8443}"
python=/usr/bin/python3

if ! "$python" -c 'import fastapi' 2>/dev/null; then
    echo "demo-python: Debian's python3-fastapi is missing (make deps installs it)" >&2
    exit 1
fi

rm -rf "$dir"
mkdir -p "$dir/logs" "$dir/app" "$dir/data"
chmod 0755 "$dir" "$dir/app"

openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/demo.key" -out "$dir/demo.crt" 2>/dev/null

# ---- the app, as its author wrote it ----

cat > "$dir/app/migrate.py" <<'PY'
"""migrate.py DB: bring the notes database's schema up to date (idempotent)"""
import sqlite3
import sys

MIGRATIONS = [
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)",
    "ALTER TABLE notes ADD COLUMN created TEXT NOT NULL DEFAULT (datetime('now'))",
]

db = sqlite3.connect(sys.argv[1])
version = db.execute("PRAGMA user_version").fetchone()[0]
for n, sql in enumerate(MIGRATIONS[version:], start=version + 1):
    db.execute(sql)
    db.execute("PRAGMA user_version = %d" % n)
    print("migration %d applied" % n)
db.commit()
print("schema at version %d" % len(MIGRATIONS))
PY

cat > "$dir/app/main.py" <<'PY'
"""main.py: a notes API in FastAPI, served by droverd (python main:app;)"""
import asyncio
import os
import sqlite3

from fastapi import FastAPI, HTTPException
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

DB = os.environ["NOTES_DB"]
app = FastAPI(title="notes")


class Note(BaseModel):
    text: str = Field(..., min_length=1, max_length=1000)


@app.on_event("startup")
async def startup():
    # one connection per worker, opened after the fork
    app.state.db = sqlite3.connect(DB, check_same_thread=False)


@app.get("/", response_class=PlainTextResponse)
async def hello():
    return "hello from worker %d\n" % os.getpid()


@app.get("/notes")
async def list_notes():
    rows = app.state.db.execute("SELECT id, text, created FROM notes ORDER BY id").fetchall()
    return [{"id": i, "text": t, "created": c} for i, t, c in rows]


@app.post("/notes", status_code=201)
async def add_note(note: Note):
    cur = app.state.db.execute("INSERT INTO notes (text) VALUES (?)", (note.text,))
    app.state.db.commit()
    return {"id": cur.lastrowid, "text": note.text}


@app.get("/notes/{note_id}")
async def get_note(note_id: int):
    row = app.state.db.execute("SELECT id, text FROM notes WHERE id = ?", (note_id,)).fetchone()
    if row is None:
        raise HTTPException(status_code=404, detail="no such note")
    return {"id": row[0], "text": row[1]}


@app.get("/ticks")
async def ticks(n: int = 5):
    async def events():
        for i in range(n):
            yield "data: tick %d from %d\n\n" % (i, os.getpid())
            await asyncio.sleep(0.5)
    # nginx buffers responses; this header lets the events through as made
    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})
PY

# as root, the pool and nginx's workers run as nobody; nginx's workers
# reach the read-only status socket through nobody's group
user_line=""
nginx_user=""
status_group=""
if [ "$(id -u)" -eq 0 ]; then
    group=$(id -gn nobody)
    user_line="    user           nobody;"
    nginx_user="user nobody $group;"
    status_group=" group=$group"
    chown nobody "$dir/data"
fi

cat > "$dir/droverd.conf" <<CONF
log_level notice;
run_dir $dir;
control unix:$dir/droverd.ctl;
status_socket unix:$dir/status.sock mode=0660$status_group;

pool notes {
    python         main:app;
    python_path    $dir/app;
    env            NOTES_DB $dir/data/notes.db;
    prestart       $python $dir/app/migrate.py $dir/data/notes.db;
    listen         unix:$dir/notes.sock mode=0660;
    workers        2;
    preload        on;
    request_timeout 30s;
$user_line
}
CONF

cat > "$dir/nginx.conf" <<CONF
load_module $build/ngx_http_drover_module.so;
$nginx_user
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/nginx-error.log notice;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    fastcgi_temp_path $dir/fastcgi;
    proxy_temp_path $dir/proxy;
    scgi_temp_path $dir/scgi;
    uwsgi_temp_path $dir/uwsgi;

    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate     $dir/demo.crt;
        ssl_certificate_key $dir/demo.key;

        location / {
            drover_pass unix:$dir/notes.sock;
        }

        location = /drover-status {
            allow 127.0.0.1;
            allow ::1;
            deny  all;
            drover_status unix:$dir/status.sock;
        }
    }
}
CONF

"$build/droverd" -t -c "$dir/droverd.conf"

"$build/droverd" -c "$dir/droverd.conf" 2>"$dir/logs/droverd.log" &
droverd_pid=$!
/usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/nginx-error.log" &
nginx_pid=$!

stop() {
    trap - INT TERM HUP EXIT
    kill -TERM "$nginx_pid" "$droverd_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
    wait "$droverd_pid" 2>/dev/null || true
    echo
    echo "demo stopped; logs are in $dir/logs"
    exit 0
}
trap stop INT TERM HUP EXIT

i=0
until curl -ksf -o /dev/null "https://127.0.0.1:$port/"; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$droverd_pid" 2>/dev/null \
            || ! kill -0 "$nginx_pid" 2>/dev/null; then
        echo "demo-python: did not come up; logs:" >&2
        cat "$dir/logs/droverd.log" "$dir/logs/nginx-error.log" >&2
        exit 1
    fi
    sleep 0.1
done

url="https://127.0.0.1:$port"
cat <<MSG

Drover demo: nginx (TLS, drover_pass) -> droverd, pool "notes", a FastAPI
app (build/demo-python/app/main.py) in 2 workers, imported once before
fork; its SQLite schema was migrated by the prestart step first:
    grep -E 'prestart|migration' $dir/logs/droverd.log

  curl -k $url/
  curl -k -H 'Content-Type: application/json' -d '{"text": "buy milk"}' $url/notes
  curl -k $url/notes
  curl -k -H 'Content-Type: application/json' -d '{"text": ""}' $url/notes   (422)
  curl -kN '$url/ticks?n=6'        (server-sent events, streamed)
  The API's own pages: $url/docs (FastAPI's Swagger UI loads its script
  from a CDN) and $url/openapi.json

Things to try, one command each (from any directory):

  The status page: open $url/drover-status in a browser on this
  machine, or: curl -k '$url/drover-status?format=json'

  Workers live (q quits):
    $build/droverctl -s $dir/droverd.ctl top

  Kill a worker under load: wrk shows no "Non-2xx" and no "Socket errors":
    wrk -t1 -c16 -d6s $url/ & sleep 2; kill -9 \$(awk '\$2 == "up" {print \$3; exit}' $dir/notes.sock.slots); wait

  Reload under load (SIGHUP: the prestart step runs again, then a new
  generation replaces the workers one at a time):
    wrk -t1 -c16 -d6s $url/ & sleep 2; kill -HUP $droverd_pid; wait

droverd log: $dir/logs/droverd.log
Press Ctrl-C to stop.
MSG

wait "$droverd_pid" || true
stop
