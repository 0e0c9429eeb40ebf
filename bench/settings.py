# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
"""
bench/settings.py -- the bench's settings (paths, BENCH_* from the environment,
the workloads and the rows) and its log line.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.abspath(os.environ.get("DROVER_BUILD", os.path.join(ROOT, "build")))
MODULE = os.path.abspath(os.environ.get("BENCH_MODULE", os.path.join(BUILD, "ngx_http_drover_module.so")))
APACHE_MODULE = os.path.abspath(os.environ.get("BENCH_APACHE_MODULE", os.path.join(BUILD, "mod_drover.so")))
APACHE_MODULES = "/usr/lib/apache2/modules"
APACHE_THREADS = 32
IS_ROOT = os.geteuid() == 0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def env_num(name, default, cast=int):
    v = os.environ.get(name, "")
    return cast(v) if v.strip() else default


QUICK = os.environ.get("BENCH_QUICK", "") == "1"
DURATION = env_num("BENCH_DURATION", 2 if QUICK else 8)
ROUNDS = env_num("BENCH_ROUNDS", 1 if QUICK else 3)
WARMUP = env_num("BENCH_WARMUP", 1)
CONNS = env_num("BENCH_CONNECTIONS", 16)
THREADS = env_num("BENCH_THREADS", 1)
# BENCH_APACHE=1 adds the Apache rows (g, h, i) to the default rows
APACHE = os.environ.get("BENCH_APACHE", "") == "1"
# BENCH_PYTHON=1 adds the Python rows (j, k, l): the FastAPI app in droverd and its peers
PYTHON = os.environ.get("BENCH_PYTHON", "") == "1"
ROWS = [r.strip() for r in os.environ.get("BENCH_ROWS", "a,b,c,d,e,f" + (",g,h,i" if APACHE else "")
                                          + (",j,k,l" if PYTHON else ""))
        .split(",") if r.strip()]
DISPATCH = os.environ.get("BENCH_DISPATCH", "1") != "0"
OUT = os.path.abspath(os.environ.get("BENCH_OUT", os.path.join(HERE, "results")))
KEEP = os.environ.get("BENCH_KEEP", "") == "1"
# extra http-level directives for the module's nginx, e.g. "drover_pipeline 3;"
DROVER_CONF = os.environ.get("BENCH_DROVER_CONF", "").strip()
# extra directives in (g)'s <Location>, ";"-separated, e.g. "DroverPipeline 3"
APACHE_DROVER_CONF = os.environ.get("BENCH_APACHE_DROVER_CONF", "").strip()
# droverd's pools: cpu_scheduling (empty: droverd's default, batch)
DROVERD_SCHED = os.environ.get("BENCH_DROVERD_SCHED", "").strip()
# BENCH_PEER_SCHED=batch: the FastCGI peers (spawn-fcgi's libfcgi, php-fpm) under
# `chrt -b 0`, as droverd's pools run by default, for a like-for-like figure
PEER_SCHED = os.environ.get("BENCH_PEER_SCHED", "").strip()
PROFILE = os.environ.get("BENCH_PROFILE", "0" if QUICK else "1") == "1"

DROVER_WORKERS = 2
FCGI_PROCS = 16
PHP_CHILDREN = 2
UPSTREAM_KEEPALIVE = 16
SLOW_MS = 300
KILL_EVERY = 0.1
QUIET_WAIT = env_num("BENCH_QUIET_WAIT", 30)     # s to wait for other tenants to go quiet
QUIET_BELOW = 10.0                                # % of a core used by other processes
RETRY_ABOVE = 20.0                                # redo a run once when others used more
MAX_RETRIES = env_num("BENCH_MAX_RETRIES", 12)
POST_BYTES = 16384

WORKLOADS = [
    # name, method, path, what a correct answer is (for the probe)
    ("hello", "GET", "/", "6 bytes \"hello\\n\""),
    ("64k", "GET", "/big?kb=64", "65536 bytes"),
    ("post16k", "POST", "/echo", "16 KiB body echoed (nginx (a): read and dropped, \"ok\\n\")"),
]
_only = [w.strip() for w in os.environ.get("BENCH_WORKLOADS", "").split(",") if w.strip()]
if _only:
    WORKLOADS = [w for w in WORKLOADS if w[0] in _only]

ROW_TITLES = {
    "a": "nginx `return 200` (the front's own limit)",
    "b": "Drover: `drover_pass` module -> droverd, 2 workers",
    "c": "stock `fastcgi_pass` + keepalive 16 -> droverd shared socket, 2 workers",
    "d": "stock `fastcgi_pass` + keepalive 16 -> libfcgi C app, 16 procs (spawn-fcgi)",
    "e": "stock `fastcgi_pass` -> php-fpm static 2 (opcache)",
    "f": "`proxy_pass` + keepalive 16 -> uvicorn + FastAPI, 1 worker",
    "g": "Apache: mod_drover `DroverPass` -> droverd, 2 workers",
    "h": "Apache: stock mod_proxy_fcgi + `enablereuse=on` -> droverd shared socket, 2 workers",
    "i": "Apache: stock mod_proxy_fcgi -> php-fpm static 2 (opcache)",
    "j": "Drover: `drover_pass` module -> droverd python pool, FastAPI, 2 workers",
    "k": "`proxy_pass` + keepalive 16 -> uvicorn + FastAPI, 2 workers",
    "l": "`proxy_pass` + keepalive 16 -> gunicorn -k uvicorn.workers.UvicornWorker + FastAPI, 2 workers",
}
APACHE_ROWS = "ghi"
PY_WORKERS = 2
# the Python rows' app, MODULE:ATTR in bench/peers/: fastapi_app:app (the
# rows' own), or raw_asgi:app (no framework: what the server itself costs)
PY_APP = os.environ.get("BENCH_PY_APP", "fastapi_app:app").strip()


def log(msg):
    print("bench: " + msg, flush=True)
