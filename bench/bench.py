#!/usr/bin/python3
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
"""
bench/bench.py -- Drover against its peers, side by side in one run.

Started by bench/run.sh (`make bench`), which installs the Debian packages
first.  Every row is nginx (worker_processes 1, plain HTTP on 127.0.0.1) in
front of one backend; wrk measures three workloads through each, in
interleaved rounds; the table goes to bench/results/<date>-<host>.md (and the
raw figures to a .json next to it).  See bench/README.md.

Environment (all optional):
  BENCH_QUICK=1          2 s runs, 1 round (a check that everything works)
  BENCH_DURATION=8       seconds per wrk run
  BENCH_ROUNDS=3         interleaved rounds
  BENCH_WARMUP=1         seconds of wrk per row and workload before round 1
  BENCH_CONNECTIONS=16   wrk -c
  BENCH_THREADS=1        wrk -t
  BENCH_ROWS=a,b,c,d,e,f which rows
  BENCH_DISPATCH=1       0 skips the dispatch rows (slow request, kill -9)
  BENCH_OUT=bench/results
  BENCH_KEEP=1           keep the temporary directory (configs, logs)
  BENCH_PROFILE=1        then run bench/profiler.py (perf, strace, callgrind)
                         and append its findings to the results (default: 1,
                         0 in quick mode)
  BENCH_QUIET_WAIT=30    at most this many s before each run waiting for other
                         processes on the machine to go quiet (< 10% of a core)
  BENCH_MAX_RETRIES=12   runs measured again because other processes took
                         more than 20% of a core during them
  DROVER_BUILD=build     where droverd, the apps and the module are
  BENCH_MODULE=FILE      the nginx module to load (default: DROVER_BUILD's)
"""

import ctypes
import datetime
import glob
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.abspath(os.environ.get("DROVER_BUILD", os.path.join(ROOT, "build")))
MODULE = os.path.abspath(os.environ.get("BENCH_MODULE", os.path.join(BUILD, "ngx_http_drover_module.so")))
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
ROWS = [r.strip() for r in os.environ.get("BENCH_ROWS", "a,b,c,d,e,f").split(",") if r.strip()]
DISPATCH = os.environ.get("BENCH_DISPATCH", "1") != "0"
OUT = os.path.abspath(os.environ.get("BENCH_OUT", os.path.join(HERE, "results")))
KEEP = os.environ.get("BENCH_KEEP", "") == "1"
# extra http-level directives for the module's nginx, e.g. "drover_pipeline 3;"
DROVER_CONF = os.environ.get("BENCH_DROVER_CONF", "").strip()
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
}


def log(msg):
    print("bench: " + msg, flush=True)


# ---------------------------------------------------------------- /proc ----

def proc_stat(pid):
    """(ppid, state, utime+stime ticks) or None"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return int(rest[1]), rest[0], int(rest[11]) + int(rest[12])


def ppid_map():
    m = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st is not None and st[1] != "Z":
                m[int(d)] = st[0]
    return m


def tree(root):
    """root and its live descendants"""
    m = ppid_map()
    if root not in m:
        return []
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(c for c, pp in m.items() if pp == p)
    return out


def children(pid):
    return [c for c, pp in ppid_map().items() if pp == pid]


def ticks(pids):
    t = {}
    for p in pids:
        st = proc_stat(p)
        if st is not None:
            t[p] = st[2]
    return t


def machine_cpu():
    """(busy, total, steal, irq+softirq) jiffies over all CPUs, from /proc/stat"""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]] + [0] * 8
    idle = v[3] + v[4]
    total = sum(v[:8])
    return total - idle, total, v[7], v[5] + v[6]


def all_ticks():
    """{pid: (comm, utime+stime)} for every process"""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        out[int(d)] = (s[s.index("(") + 1:s.rindex(")")], int(rest[11]) + int(rest[12]))
    return out


def memory(pids):
    """sum over pids of Rss, Pss and USS (Private_*), in KiB"""
    rss = pss = uss = 0
    n = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                d = {}
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2 and parts[0].endswith(":"):
                        d[parts[0][:-1]] = int(parts[1])
        except OSError:
            continue
        n += 1
        rss += d.get("Rss", 0)
        pss += d.get("Pss", 0)
        uss += d.get("Private_Clean", 0) + d.get("Private_Dirty", 0)
    return {"procs": n, "rss_kb": rss, "pss_kb": pss, "uss_kb": uss}


# ------------------------------------------------------------ processes ----

def set_subreaper():
    """orphans of our services (spawn-fcgi's children) become ours to stop"""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)    # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def pid_alive(pid):
    st = proc_stat(pid)
    return st is not None and st[1] != "Z"


def reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop_pids(pids, sig=signal.SIGTERM, timeout=10.0):
    """signal each pid, wait (bounded) for them to go, then SIGKILL"""
    pids = [p for p in pids if pid_alive(p)]
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in pids:
            reap(p)
        if not any(pid_alive(p) for p in pids):
            break
        time.sleep(0.05)
    for p in pids:
        if pid_alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for _ in range(100):
        for p in pids:
            reap(p)
        if not any(pid_alive(p) for p in pids):
            break
        time.sleep(0.02)


class Service:
    """a process we start and stop by its own pid (and its descendants')"""

    def __init__(self, name, argv, logpath, cwd=None, env=None):
        self.name, self.argv, self.logpath = name, argv, logpath
        self.cwd, self.env = cwd, env
        self.proc = None
        self.extra = []        # pids not below ours (spawn-fcgi's children)

    def start(self):
        logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.cwd, env=self.env)
        logf.close()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def pids(self):
        out = []
        if self.proc is not None and self.proc.poll() is None:
            out = tree(self.proc.pid)
        for p in self.extra:
            if pid_alive(p):
                out += [q for q in tree(p) if q not in out]
        return out

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10.0):
        pids = self.pids()
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        stop_pids(pids + self.extra, timeout=5.0)
        self.proc = None

    def log_tail(self, n=5):
        try:
            with open(self.logpath, errors="replace") as f:
                lines = [l.rstrip() for l in f if l.strip()]
            return " | ".join(lines[-n:])
        except OSError:
            return ""


def wait_for(cond, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def unix_ready(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def tcp_ready(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def sh(cmd):
    try:
        r = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        return r.stdout.decode(errors="replace").strip()
    except Exception as e:
        return "(%s)" % e


# ------------------------------------------------------------------ wrk ----

UNIT = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}


def parse_wrk(text):
    r = {"rps": None, "lat": {}, "non2xx": 0, "errors": {"connect": 0, "read": 0,
                                                          "write": 0, "timeout": 0},
         "requests": None, "max_us": None}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        r["rps"] = float(m.group(1))
    for pct, val, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
        r["lat"][pct] = float(val) * UNIT[unit]
    m = re.search(r"^\s+Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s|m)", text, re.M)
    if m:
        r["max_us"] = float(m.group(1)) * UNIT[m.group(2)]
    m = re.search(r"(\d+) requests in", text)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        r["errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    return r


class Bench:

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="drover-bench-")
        os.chmod(self.tmp, 0o755)     # pools and php-fpm children run as nobody
        self.services = []
        self.rows = {}                # row -> dict(port, front, backend, kill_port, ...)
        self.unavailable = {}         # row -> reason
        self.runs = []                # every wrk run
        self.memory = {}
        self.notes = []
        self.kill_drover = None
        self.retries = 0
        self.discarded = []

    # -------------------------------------------------------- services ----

    def path(self, *p):
        return os.path.join(self.tmp, *p)

    def service(self, *a, **kw):
        s = Service(*a, **kw)
        self.services.append(s)
        return s.start()

    def droverd_conf(self, name, sock, extra=""):
        user = "    user nobody;\n" if IS_ROOT else ""
        conf = self.path(name + ".conf")
        with open(conf, "w") as f:
            f.write("log_level info;\nrun_dir %s;\n"
                    "pool %s {\n    app %s;\n    listen unix:%s mode=0666;\n%s"
                    "    workers %d;\n%s}\n"
                    % (self.tmp, name, os.path.join(BUILD, "apps", "kit.so"), sock,
                       user, DROVER_WORKERS, extra))
        return conf

    def start_droverd(self, name, sock, extra=""):
        conf = self.droverd_conf(name, sock, extra)
        logpath = self.path(name + ".log")
        if os.path.exists(logpath):
            os.unlink(logpath)
        svc = self.service(name, [os.path.join(BUILD, "droverd"), "-c", conf], logpath)
        pat = re.compile(r"worker \d+ started, pid (\d+)")

        def ready():
            try:
                with open(logpath, errors="replace") as f:
                    n = len(pat.findall(f.read()))
            except OSError:
                n = 0
            return n >= DROVER_WORKERS and unix_ready(sock)

        if not wait_for(ready, 15) or not svc.alive():
            raise RuntimeError("droverd %s did not start: %s" % (name, svc.log_tail()))
        return svc

    def start_fcgi_peer(self):
        binary = self.path("fcgi_peer")
        out = sh("cc -O2 -Wall -o %s %s -lfcgi" % (binary, os.path.join(HERE, "peers", "fcgi_peer.c")))
        if not os.path.exists(binary):
            raise RuntimeError("cannot build bench/peers/fcgi_peer.c: " + out[-300:])
        sock = self.path("fcgi.sock")
        argv = ["spawn-fcgi", "-F", str(FCGI_PROCS), "-s", sock, "-M", "0666"]
        if IS_ROOT:
            argv += ["-u", "nobody", "-g", "nogroup"]
        argv += ["--", binary]
        if not shutil.which("spawn-fcgi"):
            raise RuntimeError("spawn-fcgi is not installed")
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        text = r.stdout.decode(errors="replace")
        pids = [int(p) for p in re.findall(r"PID:\s*(\d+)", text)]
        svc = Service("spawn-fcgi", argv, self.path("spawn-fcgi.log"))
        svc.extra = pids
        self.services.append(svc)
        if len(pids) != FCGI_PROCS or not wait_for(lambda: unix_ready(sock), 10):
            raise RuntimeError("spawn-fcgi: %s" % text.strip()[-300:])
        svc.proc = None
        return svc, sock

    def start_php_fpm(self):
        cands = sorted(glob.glob("/usr/sbin/php-fpm*"))
        if not cands:
            raise RuntimeError("php-fpm is not installed")
        binary = cands[-1]
        sock = self.path("php.sock")
        shutil.copy(os.path.join(HERE, "peers", "app.php"), self.path("app.php"))
        conf = self.path("php-fpm.conf")
        with open(conf, "w") as f:
            f.write("[global]\npid = %s\nerror_log = %s\ndaemonize = no\n\n"
                    "[bench]\n%slisten = %s\nlisten.mode = 0666\npm = static\n"
                    "pm.max_children = %d\n"
                    % (self.path("php-fpm.pid"), self.path("php-fpm-error.log"),
                       "user = nobody\ngroup = nogroup\n" if IS_ROOT else "",
                       sock, PHP_CHILDREN))
        svc = self.service("php-fpm", [binary, "-F", "-y", conf, "-d", "opcache.enable=1"],
                           self.path("php-fpm.log"))
        if not wait_for(lambda: unix_ready(sock) and len(svc.pids()) >= PHP_CHILDREN + 1, 15):
            raise RuntimeError("php-fpm did not start: %s" % svc.log_tail())
        return svc, sock

    def start_uvicorn(self):
        py = "/usr/bin/python3"
        missing = sh("%s -c 'import fastapi, uvicorn' && echo ok" % py)
        if not missing.endswith("ok"):
            raise RuntimeError("python3-fastapi/python3-uvicorn missing: " + missing[-200:])
        loop = "uvloop" if sh("%s -c 'import uvloop' && echo ok" % py).endswith("ok") else "asyncio"
        httpimpl = "httptools" if sh("%s -c 'import httptools' && echo ok" % py).endswith("ok") else "h11"
        self.uvicorn_impl = (loop, httpimpl)
        sock = self.path("uv.sock")
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        svc = self.service("uvicorn", [py, "-m", "uvicorn", "--app-dir", os.path.join(HERE, "peers"),
                                       "fastapi_app:app", "--uds", sock, "--loop", loop, "--http",
                                       httpimpl, "--workers", "1", "--no-access-log",
                                       "--log-level", "warning"],
                           self.path("uvicorn.log"), env=env)
        if not wait_for(lambda: unix_ready(sock), 20):
            raise RuntimeError("uvicorn did not start: %s" % svc.log_tail())
        return svc, sock

    # ----------------------------------------------------------- nginx ----

    def nginx_conf(self, name, servers, upstreams, module=False):
        t = self.path
        drover = ""
        if module:
            drover = ("    drover_temp_path %s;\n    drover_buffer_size 16k;\n"
                      "    drover_buffers 8 16k;\n" % t(name + "-drover_temp"))
            if DROVER_CONF:
                drover += "    %s\n" % DROVER_CONF
        text = """%s%sworker_processes 1;
daemon off;
master_process on;
pid %s;
error_log %s warn;
events { worker_connections 1024; }
http {
    access_log off;
    default_type text/plain;
    sendfile on;
    tcp_nopush off;           # anchors.md: "on" gave 40 ms p99 stalls on 64 KiB
    tcp_nodelay on;
    client_body_buffer_size 64k;   # 16 KiB bodies stay in memory
    client_max_body_size 10m;
    client_body_temp_path %s;
    proxy_temp_path %s;
    fastcgi_temp_path %s;
    uwsgi_temp_path %s;
    scgi_temp_path %s;
    # 128 KiB of buffers: a 64 KiB response never goes to a temp file
    fastcgi_buffer_size 16k;
    fastcgi_buffers 8 16k;
    proxy_buffer_size 16k;
    proxy_buffers 8 16k;
%s%s%s}
""" % ("load_module %s;\n" % MODULE if module else "",
       "user root;\n" if IS_ROOT else "",
       t(name + ".pid"), t(name + "-error.log"),
       t(name + "-body"), t(name + "-proxy"), t(name + "-fastcgi"), t(name + "-uwsgi"),
       t(name + "-scgi"), drover, upstreams, servers)
        conf = t(name + ".conf")
        with open(conf, "w") as f:
            f.write(text)
        return conf

    def start_nginx(self, name, servers, upstreams, ports, module=False):
        conf = self.nginx_conf(name, servers, upstreams, module)
        out = sh("nginx -t -p %s -c %s 2>&1" % (self.tmp, conf))
        if "test is successful" not in out:
            raise RuntimeError("nginx -t: " + " | ".join(
                l for l in out.splitlines() if "emerg" in l or "alert" in l or "failed" in l)[:400])
        svc = self.service(name, ["nginx", "-p", self.tmp, "-c", conf], self.path(name + ".out"))
        if not wait_for(lambda: all(tcp_ready(p) for p in ports), 10) or not svc.alive():
            raise RuntimeError("nginx %s did not start: %s" % (name, svc.log_tail()))
        return svc

    @staticmethod
    def server(port, body):
        return "    server {\n        listen 127.0.0.1:%d;\n%s    }\n" % (port, body)

    @staticmethod
    def fcgi_loc(upstream, extra=""):
        return ("        location / {\n            include /etc/nginx/fastcgi_params;\n"
                "%s            fastcgi_keep_conn on;\n            fastcgi_pass %s;\n"
                "        }\n" % (extra, upstream))

    # ----------------------------------------------------------- setup ----

    def setup(self):
        t = self.path
        with open(t("big64k"), "wb") as f:
            f.write(b"".join(b"%015x\n" % i for i in range(64 * 64)))
        with open(t("post.lua"), "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = string.rep("x", %d)\n'
                    'wrk.headers["Content-Type"] = "application/octet-stream"\n' % POST_BYTES)

        backends = {}
        if "b" in ROWS or "c" in ROWS:
            try:
                backends["drover"] = (self.start_droverd("kit", t("kit.sock")), t("kit.sock"))
            except Exception as e:
                for r in "bc":
                    self.unavailable[r] = str(e)
        if "d" in ROWS:
            try:
                backends["fcgi"] = self.start_fcgi_peer()
            except Exception as e:
                self.unavailable["d"] = str(e)
        if "e" in ROWS:
            try:
                backends["php"] = self.start_php_fpm()
            except Exception as e:
                self.unavailable["e"] = str(e)
        if "f" in ROWS:
            try:
                backends["uv"] = self.start_uvicorn()
            except Exception as e:
                self.unavailable["f"] = str(e)
        self.backends = backends

        # the stock nginx: rows a, c, d, e, f (and c's kill row)
        servers, upstreams, ports = "", "", []
        stock_rows = {}
        for r in ROWS:
            if r == "b" or r in self.unavailable:
                continue
            port = free_port()
            if r == "a":
                body = ('        location = / { return 200 "hello\\n"; }\n'
                        '        location = /big { alias %s; }\n'
                        '        location = /echo { return 200 "ok\\n"; }\n' % t("big64k"))
            elif r == "c":
                upstreams += ("    upstream drover_c {\n        server unix:%s;\n"
                              "        keepalive %d;\n    }\n" % (t("kit.sock"), UPSTREAM_KEEPALIVE))
                body = self.fcgi_loc("drover_c")
            elif r == "d":
                upstreams += ("    upstream fcgi_d {\n        server unix:%s;\n"
                              "        keepalive %d;\n    }\n" % (backends["fcgi"][1], UPSTREAM_KEEPALIVE))
                body = self.fcgi_loc("fcgi_d")
            elif r == "e":
                # no keepalive: a php-fpm child serves one kept connection until it
                # closes, so 2 children would pin 2 connections (anchors.md, T1x2)
                body = ("        location / {\n            include /etc/nginx/fastcgi_params;\n"
                        "            fastcgi_param SCRIPT_FILENAME %s;\n"
                        "            fastcgi_pass unix:%s;\n        }\n" % (t("app.php"), backends["php"][1]))
            elif r == "f":
                upstreams += ("    upstream uv_f {\n        server unix:%s;\n"
                              "        keepalive %d;\n    }\n" % (backends["uv"][1], UPSTREAM_KEEPALIVE))
                body = ("        location / {\n            proxy_pass http://uv_f;\n"
                        "            proxy_http_version 1.1;\n"
                        "            proxy_set_header Connection \"\";\n"
                        "            proxy_set_header Host $host;\n        }\n")
            servers += self.server(port, body)
            ports.append(port)
            stock_rows[r] = {"port": port}
            if r == "c" and DISPATCH:
                kport = free_port()
                upstreams += ("    upstream drover_ck {\n        server unix:%s;\n"
                              "        keepalive %d;\n    }\n" % (t("kitk.sock"), UPSTREAM_KEEPALIVE))
                servers += self.server(kport, self.fcgi_loc("drover_ck"))
                ports.append(kport)
                stock_rows[r]["kill_port"] = kport
        if stock_rows:
            try:
                nginx = self.start_nginx("nginx-stock", servers, upstreams, ports)
                for r, d in stock_rows.items():
                    d["front"] = nginx
                    self.rows[r] = d
            except Exception as e:
                for r in stock_rows:
                    self.unavailable[r] = str(e)

        # the nginx with the Drover module: row b
        if "b" in ROWS and "b" not in self.unavailable:
            try:
                self.setup_module_row()
            except Exception as e:
                self.unavailable["b"] = str(e)

        for r in self.rows:
            self.rows[r]["backend"] = {"a": None, "b": "drover", "c": "drover", "d": "fcgi",
                                       "e": "php", "f": "uv"}[r]
        self.probe_all()

    def setup_module_row(self):
        t = self.path
        if not os.path.exists(MODULE):
            raise RuntimeError("%s is not built" % MODULE)
        port = free_port()
        servers = self.server(port, "        location / {\n            drover_pass unix:%s;\n"
                                    "        }\n" % t("kit.sock"))
        ports = [port]
        d = {"port": port}
        if DISPATCH:
            kport = free_port()
            servers += self.server(kport, "        location / {\n            drover_pass unix:%s;\n"
                                          "        }\n" % t("kitk.sock"))
            ports.append(kport)
            d["kill_port"] = kport
        d["front"] = self.start_nginx("nginx-drover", servers, "", ports, module=True)
        self.rows["b"] = d

    # ----------------------------------------------------------- probes ----

    def request(self, port, method, path, body=None, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            c.request(method, path, body=body,
                      headers={"Content-Type": "application/octet-stream"} if body else {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def probe_all(self):
        post = b"x" * POST_BYTES
        self.probes = {}
        for r in list(self.rows):
            for name, method, path, _ in WORKLOADS:
                try:
                    status, body = self.request(self.rows[r]["port"], method, path,
                                                post if method == "POST" else None)
                except Exception as e:
                    status, body = None, str(e).encode()
                want = {"hello": b"hello\n", "64k": None, "post16k": post}[name]
                ok = status == 200 and (
                    len(body) == 65536 if name == "64k" else
                    body == want or (r == "a" and name == "post16k" and body == b"ok\n"))
                self.probes[(r, name)] = "%s, %d bytes" % (status, len(body))
                if not ok:
                    reason = "probe %s %s got status %s, %d bytes: %r" % (
                        method, path, status, len(body), body[:120])
                    if name == "hello":
                        self.unavailable[r] = reason
                        del self.rows[r]
                        break
                    self.rows[r].setdefault("bad", {})[name] = reason
        if "b" in self.rows and DISPATCH:
            # the slow route must work through the module too
            try:
                status, body = self.request(self.rows["b"]["port"], "GET", "/sleep?ms=1")
                if status != 200:
                    self.rows["b"]["no_dispatch"] = "probe /sleep?ms=1 got %s" % status
            except Exception as e:
                self.rows["b"]["no_dispatch"] = "probe /sleep?ms=1: %s" % e

    # -------------------------------------------------------------- runs ----

    def component_pids(self, row):
        d = self.rows[row]
        front = children(d["front"].pid)            # nginx workers
        be = d["backend"]
        backend = self.backends[be][0].pids() if be else []
        return front, backend

    def wrk(self, row, workload, duration, port=None, path=None, kind="perf", side=None,
            backend_pids=None):
        d = self.rows[row]
        wname, method, wpath, _ = next(w for w in WORKLOADS if w[0] == workload)
        port = port or d["port"]
        path = path or wpath
        argv = ["wrk", "-t%d" % THREADS, "-c%d" % CONNS, "-d%ds" % duration, "--latency"]
        if method == "POST":
            argv += ["-s", self.path("post.lua")]
        argv.append("http://127.0.0.1:%d%s" % (port, path))
        front, backend = self.component_pids(row)
        if backend_pids is not None:
            backend = backend_pids
        out = open(self.path("wrk.out"), "w+")
        a0 = all_ticks()
        f0, b0, m0 = ticks(front), ticks(backend), machine_cpu()
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        watchdog = threading.Timer(duration + 30, lambda: os.kill(p.pid, signal.SIGKILL))
        watchdog.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            watchdog.cancel()
        p.returncode = status
        wall = time.monotonic() - t0
        f1, b1, m1 = ticks(front), ticks(backend), machine_cpu()
        a1 = all_ticks()
        out.seek(0)
        text = out.read()
        out.close()
        res = parse_wrk(text)

        def pct(t0_, t1_):
            return 100.0 * sum(t1_[q] - t0_.get(q, t1_[q]) for q in t1_) / CLK_TCK / wall

        busy = m1[0] - m0[0]
        total = m1[1] - m0[1]
        ncpu = os.cpu_count() or 1
        res.update({
            "row": row, "workload": workload, "kind": kind, "cmd": " ".join(argv),
            "wall": wall,
            "cpu_front": pct(f0, f1),
            "cpu_backend": pct(b0, b1) if (backend and kind != "kill") else None,
            "cpu_wrk": 100.0 * (ru.ru_utime + ru.ru_stime) / wall,
            "cpu_machine": 100.0 * ncpu * busy / total if total else None,
            "steal": 100.0 * ncpu * (m1[2] - m0[2]) / total if total else None,
            "irq": 100.0 * ncpu * (m1[3] - m0[3]) / total if total else None,
        })
        # processes that are not part of this row (other tenants, this script)
        ours = set(front) | set(backend) | {p.pid}
        others = []
        for q, (comm, t1_) in a1.items():
            if q in ours or q not in a0:
                continue
            dt = t1_ - a0[q][1]
            if dt > 0:
                others.append((100.0 * dt / CLK_TCK / wall, comm, q))
        others.sort(reverse=True)
        res["cpu_other_procs"] = sum(o[0] for o in others)
        res["top_other"] = ["%s[%d] %.0f%%" % (c, q, v) for v, c, q in others[:3] if v >= 1.0]
        if side:
            res.update(side)
        if res["rps"] is None:
            res["error"] = text.strip()[-300:]
        return res

    def quiet(self):
        """wait (bounded) until the machine's other processes are near idle:
        the machine may be shared (other sessions' test suites), and their
        CPU would be measured as ours"""
        ours = {os.getpid()}
        for s in self.services:
            ours.update(s.pids())
        deadline = time.monotonic() + QUIET_WAIT
        while True:
            a0 = all_ticks()
            time.sleep(0.5)
            a1 = all_ticks()
            busy = sum(t - a0[q][1] for q, (_, t) in a1.items() if q in a0 and q not in ours)
            pct = 100.0 * busy / CLK_TCK / 0.5
            if pct < QUIET_BELOW or time.monotonic() > deadline:
                return pct

    def perf_run(self, row, workload, duration, record=True):
        if workload in self.rows[row].get("bad", {}):
            return None
        if not record:
            return self.wrk(row, workload, duration)
        self.quiet()
        res = self.wrk(row, workload, duration)
        if res.get("cpu_other_procs", 0) > RETRY_ABOVE and self.retries < MAX_RETRIES:
            # another tenant took CPU during the run: measure it again, once
            self.retries += 1
            log("      (%s) %s: other processes used %.0f%% of a core (%s); measuring again" % (
                row, workload, res["cpu_other_procs"], ", ".join(res["top_other"])))
            self.discarded.append(res)
            self.quiet()
            res = self.wrk(row, workload, duration)
            res["retried"] = True
        self.runs.append(res)
        return res

    def slow_run(self, row, duration):
        """wrk on / while one /sleep?ms=300 is always in flight on the same front"""
        stop = threading.Event()
        stats = {"slow_done": 0, "slow_bad": 0}
        port = self.rows[row]["port"]

        def loop():
            deadline = time.monotonic() + duration + 10
            c = None
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    if c is None:
                        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    c.request("GET", "/sleep?ms=%d" % SLOW_MS)
                    r = c.getresponse()
                    r.read()
                    stats["slow_done" if r.status == 200 else "slow_bad"] += 1
                except Exception:
                    stats["slow_bad"] += 1
                    if c is not None:
                        c.close()
                    c = None
                    stop.wait(0.05)
            if c is not None:
                c.close()

        self.quiet()
        th = threading.Thread(target=loop, daemon=True)
        th.start()
        time.sleep(0.1)
        res = self.wrk(row, "hello", duration, kind="slow")
        stop.set()
        th.join(SLOW_MS / 1000.0 + 11)
        res.update(stats)
        self.runs.append(res)
        return res

    def kill_run(self, row, duration):
        """wrk on / while a random worker of a fresh droverd gets SIGKILL every 100 ms"""
        t = self.path
        svc = self.start_droverd("kitk", t("kitk.sock"),
                                 "    restart_limit 100000 per 60s;\n    stop_timeout 1s;\n")
        logpath = t("kitk.log")
        pat = re.compile(r"worker \d+ started, pid (\d+)")
        stop = threading.Event()
        stats = {"kills": 0, "no_worker": 0}

        def workers():
            try:
                with open(logpath, errors="replace") as f:
                    known = set(int(p) for p in pat.findall(f.read()))
            except OSError:
                known = set()
            return [p for p in children(svc.pid) if p in known]

        def killer():
            deadline = time.monotonic() + duration + 5
            since = None
            stats["longest_gap_ms"] = 0
            while not stop.is_set() and time.monotonic() < deadline:
                w = workers()
                now = time.monotonic()
                if w:
                    since = None
                    try:
                        os.kill(random.choice(w), signal.SIGKILL)
                        stats["kills"] += 1
                    except ProcessLookupError:
                        pass
                else:
                    stats["no_worker"] += 1
                    since = since or now
                    stats["longest_gap_ms"] = max(stats["longest_gap_ms"], int((now - since) * 1000))
                stop.wait(KILL_EVERY)

        th = threading.Thread(target=killer, daemon=True)
        self.quiet()
        try:
            th.start()
            res = self.wrk(row, "hello", duration, port=self.rows[row]["kill_port"],
                           kind="kill", backend_pids=[])
        finally:
            stop.set()
            th.join(KILL_EVERY + 6)
            with open(logpath, errors="replace") as f:
                text = f.read()
            stats["restarts_logged"] = len(pat.findall(text)) - DROVER_WORKERS
            delays = [int(x) for x in re.findall(r"next start in (\d+) ms", text)]
            stats["max_backoff_ms"] = max(delays) if delays else 0
            svc.stop()
            self.services.remove(svc)
        res.update(stats)
        self.runs.append(res)
        return res

    def run(self):
        rows = [r for r in ROWS if r in self.rows]
        if WARMUP > 0:
            log("warm-up: %d s per row and workload" % WARMUP)
            for w in WORKLOADS:
                for r in rows:
                    self.perf_run(r, w[0], WARMUP, record=False)
        for rnd in range(ROUNDS):
            order = rows[rnd % len(rows):] + rows[:rnd % len(rows)] if rows else []
            for w in WORKLOADS:
                for r in order:
                    res = self.perf_run(r, w[0], DURATION)
                    if res is not None:
                        res["round"] = rnd + 1
                        log("round %d %-7s (%s) %s" % (rnd + 1, w[0], r, short(res)))
            if rnd == ROUNDS - 1:
                self.measure_memory()
            if not DISPATCH:
                continue
            for r in ("b", "c"):
                if r not in self.rows or self.rows[r].get("no_dispatch"):
                    continue
                res = self.slow_run(r, DURATION)
                res["round"] = rnd + 1
                log("round %d slow    (%s) %s, %d slow requests done" % (rnd + 1, r, short(res),
                                                                         res["slow_done"]))
                try:
                    res = self.kill_run(r, DURATION)
                    res["round"] = rnd + 1
                    log("round %d kill    (%s) %s, %d kills" % (rnd + 1, r, short(res), res["kills"]))
                except Exception as e:
                    self.rows[r]["no_kill"] = str(e)
                    log("kill run (%s) not available: %s" % (r, e))

    def measure_memory(self):
        for be, (svc, _) in self.backends.items():
            self.memory[be] = memory(svc.pids())
        for name in ("nginx-stock", "nginx-drover"):
            for s in self.services:
                if s.name == name and s.alive():
                    self.memory[name] = memory(s.pids())

    def stop_all(self):
        for s in reversed(self.services):
            try:
                s.stop()
            except Exception as e:
                log("stopping %s: %s" % (s.name, e))
        self.services = []
        if not KEEP:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            log("kept " + self.tmp)


def short(r):
    if r.get("rps") is None:
        return "failed: " + r.get("error", "")[-120:]
    e = r["errors"]
    errs = sum(e.values())
    return "%.0f req/s, p50 %s, p99 %s%s%s" % (
        r["rps"], fmt_us(r["lat"].get("50")), fmt_us(r["lat"].get("99")),
        ", non-2xx %d" % r["non2xx"] if r["non2xx"] else "",
        ", socket errors %d" % errs if errs else "")


def fmt_us(us):
    if us is None:
        return "-"
    if us < 1000:
        return "%.0f us" % us
    if us < 1e6:
        return "%.2f ms" % (us / 1e3)
    return "%.2f s" % (us / 1e6)


def fmt_int(v):
    return "-" if v is None else "{:,}".format(int(round(v)))


# ----------------------------------------------------------------- report ----

def versions():
    def dpkg(p):
        v = sh("dpkg-query -W -f='${Version}' %s 2>/dev/null" % p)
        return v if v and "no packages" not in v and not v.startswith("(") else "not installed"

    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
    git = sh("cd %s && git rev-parse --short HEAD && git status --porcelain | grep -c . || true" % ROOT).split()
    php = sorted(glob.glob("/usr/sbin/php-fpm*"))
    return [
        ("nginx", sh("nginx -v 2>&1").replace("nginx version: ", "") + " (Debian %s)" % dpkg("nginx")),
        ("droverd", sh("%s -v 2>&1" % os.path.join(BUILD, "droverd")) +
         (" (git %s, %s files changed in the work tree)" % (git[0], git[1]) if len(git) >= 2 else "")),
        ("build", ", ".join("%s %s (%s)" % (f, sh("sha256sum %s | cut -c1-12" % os.path.join(BUILD, f)),
                                            time.strftime("%H:%M:%S UTC", time.gmtime(os.path.getmtime(os.path.join(BUILD, f)))))
                             for f in ("droverd", "apps/kit.so", "ngx_http_drover_module.so")
                             if os.path.exists(os.path.join(BUILD, f)))
         + ": sha256 prefix and build time, since others may rebuild while the bench runs"),
        ("libuv", sh("pkg-config --modversion libuv") + " (Debian libuv1 %s)" % dpkg("libuv1")),
        ("libfcgi / spawn-fcgi", "%s / %s" % (dpkg("libfcgi0ldbl"), dpkg("spawn-fcgi"))),
        ("php-fpm", (sh("%s -v | head -1" % php[-1]) if php else "not installed") +
         ", opcache " + ("loaded" if php and "Zend OPcache" in sh("%s -m" % php[-1]) else "absent")),
        ("python3", sh("/usr/bin/python3 -V")),
        ("python packages", ", ".join("%s %s" % (p, dpkg(p)) for p in
                                      ("python3-fastapi", "python3-starlette", "python3-uvicorn",
                                       "python3-uvloop", "python3-httptools"))),
        ("wrk", dpkg("wrk")),
        ("kernel", sh("uname -sr")),
        ("CPU", "%s, %d cores (online), %s RAM" % (cpu, os.cpu_count() or 0, mem)),
        ("OS", sh(". /etc/os-release && echo $PRETTY_NAME")),
    ]


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def stat_cell(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    if len(vals) == 1:
        return fmt(vals[0])
    return "%s (%s–%s)" % (fmt(statistics.median(vals)), fmt(min(vals)), fmt(max(vals)))


def cpu_per_request(runs_of, workload):
    """Where a request's CPU goes: us per request by component, per run,
    then the median over the rounds.  On a saturated machine req/s is the
    cores divided by the total, so this is what a ratio between rows is
    made of."""
    L = ["CPU per request, in us (CPU % x 10^4 / req/s, per run, median over the rounds). "
         "`machine` is how busy the whole machine was (200% = both cores); the components can add up "
         "to more, as softirq work done in a process's context may be counted in both:\n",
         "| row | nginx | backend | wrk | irq | total | machine |", "|---|---|---|---|---|---|---|"]
    any_row = False
    for r in "abcdef":
        rs = [x for x in runs_of(r, workload) if x.get("rps")]
        if not rs:
            continue
        any_row = True

        def per(key):
            vals = [x[key] * 1e4 / x["rps"] for x in rs if x.get(key) is not None]
            return med(vals) if vals else None

        parts = [per("cpu_front"), per("cpu_backend"), per("cpu_wrk"), per("irq")]
        total = med([sum(x.get(k) or 0 for k in ("cpu_front", "cpu_backend", "cpu_wrk", "irq")) * 1e4 / x["rps"]
                     for x in rs])
        machine = [x["cpu_machine"] for x in rs if x.get("cpu_machine") is not None]
        L.append("| (%s) | %s | %.1f | %s |" % (
            r, " | ".join("%.1f" % v if v is not None else "-" for v in parts), total,
            "%.0f%%" % med(machine) if machine else "-"))
    L.append("")
    return L if any_row else []


def report(b, started, finished):
    host = socket.gethostname().split(".")[0]
    date = started.strftime("%Y-%m-%d")
    base = "%s-%s%s" % (date, host, "-quick" if QUICK else "")
    os.makedirs(OUT, exist_ok=True)
    md = os.path.join(OUT, base + ".md")
    # a second run the same day gets -2, -3, ...: earlier results stay
    n = 2
    while os.path.exists(md):
        md = os.path.join(OUT, "%s-%d.md" % (base, n))
        n += 1
    base = os.path.basename(md)[:-3]
    L = []
    L.append("# Drover bench: %s on %s%s\n" % (date, host, " (quick mode: not for claims)" if QUICK else ""))
    L.append("Run %s – %s UTC by `make bench` (bench/bench.py). Load: `wrk -t%d -c%d -d%ds --latency`, "
             "%d interleaved round(s) (row order rotated each round), %d s warm-up per row and workload; "
             "medians, (min–max) over the rounds. Every front is Debian's nginx with "
             "`worker_processes 1` on 127.0.0.1, plain HTTP, `tcp_nopush off`, `client_body_buffer_size 64k`, "
             "128 KiB of upstream buffers. CPU is %% of one core over the run (utime+stime from /proc: "
             "nginx worker, backend processes, wrk from wait4); `irq` is the machine's irq+softirq time "
             "(loopback TCP is processed there, partly), `other procs` the CPU of every other process "
             "(other tenants of the machine, this script). 100%% = one core; the machine has %d.\n"
             % (started.strftime("%H:%M:%S"), finished.strftime("%H:%M:%S"), THREADS, CONNS,
                DURATION, ROUNDS, WARMUP, os.cpu_count() or 0))
    L.append("## Versions\n")
    L.append("| component | version |\n|---|---|")
    for k, v in b.versions:
        L.append("| %s | %s |" % (k, v))
    L.append("")

    L.append("## Rows\n")
    L.append("| row | stack | status |\n|---|---|---|")
    for r in "abcdef":
        if r not in ROWS:
            continue
        if r in b.rows:
            st = "measured"
            if b.rows[r].get("bad"):
                st += "; " + "; ".join("%s not available: %s" % kv for kv in b.rows[r]["bad"].items())
        else:
            st = "not available: %s" % b.unavailable.get(r, "not run")
        L.append("| (%s) | %s | %s |" % (r, ROW_TITLES[r], st.replace("|", "/")))
    L.append("")

    perf = [x for x in b.runs if x["kind"] == "perf"]

    def runs_of(r, w):
        return [x for x in perf if x["row"] == r and x["workload"] == w and x.get("rps") is not None]

    medians = {}
    for w in WORKLOADS:
        for r in "abcdef":
            rs = runs_of(r, w[0])
            if rs:
                medians[(r, w[0])] = {"rps": med([x["rps"] for x in rs]),
                                      "p50": med([x["lat"].get("50") for x in rs]),
                                      "p99": med([x["lat"].get("99") for x in rs])}

    for w in WORKLOADS:
        L.append("## %s: `%s %s` (%s)\n" % (w[0], w[1], w[2], w[3]))
        L.append("| row | req/s | p50 | p99 | x(a) req/s | x(d) req/s | x(d) p99 | CPU nginx | CPU backend | "
                 "CPU wrk | irq | other procs | errors |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in "abcdef":
            if r not in ROWS:
                continue
            rs = runs_of(r, w[0])
            if not rs:
                why = (b.rows.get(r, {}).get("bad", {}).get(w[0]) or b.unavailable.get(r) or "no run")
                L.append("| (%s) | not available: %s ||||||||||||" % (r, why.replace("|", "/")))
                continue
            m = medians[(r, w[0])]
            a = medians.get(("a", w[0]))
            d = medians.get(("d", w[0]))
            errs = sum(x["non2xx"] + sum(x["errors"].values()) for x in rs)
            L.append("| (%s) | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r,
                stat_cell([x["rps"] for x in rs], fmt_int),
                stat_cell([x["lat"].get("50") for x in rs], fmt_us),
                stat_cell([x["lat"].get("99") for x in rs], fmt_us),
                "%.2f" % (m["rps"] / a["rps"]) if a else "-",
                "%.2f" % (m["rps"] / d["rps"]) if d else "-",
                "%.2f" % (m["p99"] / d["p99"]) if d and m["p99"] and d["p99"] else "-",
                "%.0f%%" % med([x["cpu_front"] for x in rs]),
                "%.0f%%" % med([x["cpu_backend"] for x in rs]) if rs[0]["cpu_backend"] is not None else "-",
                "%.0f%%" % med([x["cpu_wrk"] for x in rs]),
                "%.0f%%" % med([x["irq"] for x in rs]) if rs[0].get("irq") is not None else "-",
                "%.0f%%" % med([x["cpu_other_procs"] for x in rs]),
                errs))
        L.append("")
        L.extend(cpu_per_request(runs_of, w[0]))

    L.append("## Memory per backend (after the last round, summed over its processes)\n")
    L.append("| backend | rows | processes | RSS MiB | PSS MiB | USS MiB |\n|---|---|---|---|---|---|")
    names = {"drover": ("droverd: manager + preloader + 2 workers", "(b), (c)"),
             "fcgi": ("libfcgi app x16", "(d)"), "php": ("php-fpm master + 2 children", "(e)"),
             "uv": ("uvicorn + FastAPI", "(f)"), "nginx-stock": ("nginx (stock): master + worker", "(a), (c)–(f)"),
             "nginx-drover": ("nginx with the module: master + worker", "(b)")}
    for k, (title, rows) in names.items():
        if k in b.memory:
            m = b.memory[k]
            L.append("| %s | %s | %d | %.1f | %.1f | %.1f |" % (title, rows, m["procs"], m["rss_kb"] / 1024,
                                                                m["pss_kb"] / 1024, m["uss_kb"] / 1024))
    L.append("")

    L.append("## Dispatch rows (`GET /`, kit app, through the same front)\n")
    L.append("slow: one `GET /sleep?ms=%d` always in flight (a loop on its own kept-alive connection) while wrk "
             "measures `/`; the p99 is the fast requests'. kill: a fresh droverd (2 workers, "
             "`restart_limit 100000 per 60s` so crash-loop protection stays out of it) gets `kill -9` of a "
             "random worker every %d ms during the run.\n" % (SLOW_MS, int(KILL_EVERY * 1000)))
    L.append("| row | test | req/s | p50 | p99 | max | non-2xx | socket errors (c/r/w/t) | other |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for r in ("b", "c"):
        if not DISPATCH or r not in ROWS:
            continue
        if r not in b.rows:
            L.append("| (%s) | slow, kill | not available: %s |||||||" % (r, b.unavailable.get(r, "").replace("|", "/")))
            continue
        base_rs = runs_of(r, "hello")
        if base_rs:
            L.append("| (%s) | none (the hello row above) | %s | %s | %s | %s | 0 | - | |" % (
                r, stat_cell([x["rps"] for x in base_rs], fmt_int),
                stat_cell([x["lat"].get("50") for x in base_rs], fmt_us),
                stat_cell([x["lat"].get("99") for x in base_rs], fmt_us),
                stat_cell([x["max_us"] for x in base_rs], fmt_us)))
        for kind in ("slow", "kill"):
            rs = [x for x in b.runs if x["row"] == r and x["kind"] == kind]
            if not rs:
                why = b.rows[r].get("no_dispatch") or b.rows[r].get("no_kill") or "not run"
                L.append("| (%s) | %s | not available: %s |||||||" % (r, kind, why.replace("|", "/")))
                continue
            ok = [x for x in rs if x.get("rps") is not None]
            if kind == "slow":
                other = "%s slow requests done (%s failed)" % (
                    "+".join(str(x["slow_done"]) for x in rs), "+".join(str(x["slow_bad"]) for x in rs))
            else:
                other = ("%s kills, %s restarts logged; no worker alive at %s of ~%d ticks, for at most %s ms in a "
                         "row; longest restart delay droverd logged: %s ms" % (
                             "+".join(str(x["kills"]) for x in rs), "+".join(str(x["restarts_logged"]) for x in rs),
                             "+".join(str(x["no_worker"]) for x in rs), int(DURATION / KILL_EVERY),
                             "+".join(str(x.get("longest_gap_ms", "?")) for x in rs),
                             "+".join(str(x.get("max_backoff_ms", "?")) for x in rs)))
            L.append("| (%s) | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r, kind, stat_cell([x["rps"] for x in ok], fmt_int),
                stat_cell([x["lat"].get("50") for x in ok], fmt_us),
                stat_cell([x["lat"].get("99") for x in ok], fmt_us),
                stat_cell([x["max_us"] for x in ok], fmt_us),
                " + ".join(str(x["non2xx"]) for x in rs),
                " + ".join("%d/%d/%d/%d" % tuple(x["errors"][k] for k in ("connect", "read", "write", "timeout"))
                           for x in rs),
                other))
    L.append("")

    L.append("## Targets (issue 7)\n")
    L.append("| target | measured | status |\n|---|---|---|")
    for line in targets(b, medians):
        L.append(line)
    L.append("")

    L.append("## Every run\n")
    L.append("<details><summary>%d wrk runs</summary>\n" % len(b.runs))
    L.append("| round | row | workload | test | req/s | p50 | p99 | max | CPU nginx | CPU backend | CPU wrk | "
             "machine | irq | steal | other procs (top) | non-2xx | socket errors |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for x in b.runs:
        L.append("| %s | (%s) | %s | %s | %s | %s | %s | %s | %.0f%% | %s | %.0f%% | %s | %s | %s | %.0f%% %s | %d | %d |" % (
            "%s%s" % (x.get("round", ""), " (again)" if x.get("retried") else ""),
            x["row"], x["workload"], x["kind"], fmt_int(x.get("rps")),
            fmt_us(x["lat"].get("50")), fmt_us(x["lat"].get("99")), fmt_us(x.get("max_us")),
            x["cpu_front"], "%.0f%%" % x["cpu_backend"] if x["cpu_backend"] is not None else "-",
            x["cpu_wrk"], "%.0f%%" % x["cpu_machine"] if x["cpu_machine"] is not None else "-",
            "%.0f%%" % x["irq"] if x.get("irq") is not None else "-",
            "%.0f%%" % x["steal"] if x["steal"] is not None else "-",
            x.get("cpu_other_procs", 0), ", ".join(x.get("top_other", [])),
            x["non2xx"], sum(x["errors"].values())))
    L.append("\nCommands: " + "; ".join(sorted(set("`%s`" % re.sub(r":\d+/", ":PORT/", re.sub(
        r"-s \S+", "-s post.lua", x["cmd"])) for x in b.runs))))
    L.append("\npost.lua: `wrk.method = \"POST\"; wrk.body = string.rep(\"x\", %d); "
             "wrk.headers[\"Content-Type\"] = \"application/octet-stream\"`" % POST_BYTES)
    L.append("\n</details>\n")

    if b.notes:
        L.append("## Notes\n")
        L.extend("- " + n for n in b.notes)
        L.append("")

    with open(md, "w") as f:
        f.write("\n".join(L))
    with open(os.path.join(OUT, base + ".json"), "w") as f:
        json.dump({"started": started.isoformat(), "finished": finished.isoformat(),
                   "duration": DURATION, "rounds": ROUNDS, "connections": CONNS, "threads": THREADS,
                   "runs": b.runs, "discarded": b.discarded, "memory": b.memory, "unavailable": b.unavailable,
                   "probes": {"%s/%s" % k: v for k, v in b.probes.items()},
                   "versions": b.versions}, f, indent=1, default=str)
    return md


def targets(b, medians):
    out = []

    def get(r, w):
        return medians.get((r, w))

    def line(name, ok, measured):
        status = "n/a" if ok is None else ("**pass**" if ok else "**FAIL**")
        out.append("| %s | %s | %s |" % (name, measured, status))

    bh, dh, ch = get("b", "hello"), get("d", "hello"), get("c", "hello")
    why_b = "(b) not available: %s" % b.unavailable.get("b", "not measured").replace("|", "/")
    if bh and dh:
        ratio = bh["rps"] / dh["rps"]
        line("(b) >= 1.5x (d) req/s, hello", ratio >= 1.5, "%.2fx (%s vs %s req/s)" % (
            ratio, fmt_int(bh["rps"]), fmt_int(dh["rps"])))
        line("(b) p99 <= (d) p99, hello", bh["p99"] <= dh["p99"], "%s vs %s" % (fmt_us(bh["p99"]), fmt_us(dh["p99"])))
    else:
        line("(b) >= 1.5x (d) req/s, hello", None, why_b)
        line("(b) p99 <= (d) p99, hello", None, why_b)
    if bh and ch:
        ratio = bh["rps"] / ch["rps"]
        line("(b) >= 1.1x (c) req/s, hello", ratio >= 1.1, "%.2fx (%s vs %s req/s)" % (
            ratio, fmt_int(bh["rps"]), fmt_int(ch["rps"])))
    else:
        line("(b) >= 1.1x (c) req/s, hello", None, why_b)
    for w in ("64k", "post16k"):
        bw, dw = get("b", w), get("d", w)
        if bw and dw:
            ratio = bw["rps"] / dw["rps"]
            line("(b) >= 1.3x (d) req/s, %s" % w, ratio >= 1.3, "%.2fx (%s vs %s req/s)" % (
                ratio, fmt_int(bw["rps"]), fmt_int(dw["rps"])))
        else:
            line("(b) >= 1.3x (d) req/s, %s" % w, None, why_b)
    # droverd behind stock fastcgi_pass against the same bars, for reference
    for w, bar in (("hello", 1.5), ("64k", 1.3), ("post16k", 1.3)):
        cw, dw = get("c", w), get("d", w)
        if cw and dw:
            out.append("| for reference: (c) vs (d), %s (bar %.1fx) | %.2fx req/s, p99 %s vs %s | - |" % (
                w, bar, cw["rps"] / dw["rps"], fmt_us(cw["p99"]), fmt_us(dw["p99"])))
    return out


def main():
    set_subreaper()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit("bench: %s is not installed (bench/run.sh installs it)" % tool)
    started = datetime.datetime.utcnow()
    b = Bench()

    def on_signal(sig, frame):
        raise KeyboardInterrupt()

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    log("temp dir %s; %d round(s) of %d s, rows %s%s" % (b.tmp, ROUNDS, DURATION, ",".join(ROWS),
                                                         " (quick mode)" if QUICK else ""))
    b.versions = versions()       # before anything starts: what the rows run
    la = open("/proc/loadavg").read().split()[:3]
    b.notes.append("load average at the start: %s" % " ".join(la))
    try:
        b.setup()
        for r in ROWS:
            if r in b.unavailable:
                log("(%s) not available: %s" % (r, b.unavailable[r]))
        for k, v in sorted(b.probes.items()):
            log("probe (%s) %-7s %s" % (k[0], k[1], v))
        b.run()
        la = open("/proc/loadavg").read().split()[:3]
        b.notes.append("load average at the end: %s" % " ".join(la))
        b.notes.append("before each run the script waited (at most %d s) for the machine's other processes "
                       "to use less than %.0f%% of a core; %d run(s) were measured again because other processes "
                       "used more than %.0f%% of a core during them (the first measurements are under "
                       "\"discarded\" in the .json)" % (QUIET_WAIT, QUIET_BELOW, b.retries, RETRY_ABOVE))
        if getattr(b, "uvicorn_impl", None):
            b.notes.append("uvicorn ran with --loop %s --http %s" % b.uvicorn_impl)
        for name in ("nginx-stock", "nginx-drover"):
            errlog = b.path(name + "-error.log")
            if os.path.exists(errlog):
                lines = [l.strip() for l in open(errlog, errors="replace") if l.strip()]
                if lines:
                    b.notes.append("%s error log: %d lines, last: `%s`" % (name, len(lines), lines[-1][:300]))
        b.notes.append("(e) php-fpm is reached without upstream keepalive: a php-fpm child serves a kept "
                       "connection until it closes, so with 2 children keepalive would pin 2 of 16 "
                       "connections (the T1x2 effect in anchors.md). Its /big answers str_repeat() "
                       "16-byte lines and (f) slices kit's pattern from a buffer made once, while kit (b, c) and "
                       "the libfcgi app (d) compute kit's pattern per request with the same C code (about 44 us "
                       "per 64 KiB on this CPU), so (b)-(d) differ in the stack only. (b)-(f) echo the 16 KiB POST body back; (a) reads and drops it and "
                       "answers \"ok\\n\".")
    finally:
        finished = datetime.datetime.utcnow()
        b.stop_all()
    md = report(b, started, finished)
    log("results: %s" % md)
    if PROFILE:
        log("profiling (bench/profiler.py)")
        try:
            subprocess.run(["/usr/bin/python3", os.path.join(HERE, "profiler.py"), md],
                           stdout=subprocess.DEVNULL, timeout=900)
        except Exception as e:
            with open(md, "a") as f:
                f.write("\n## Profile\n\nnot available: %s\n" % e)
    with open(md) as f:
        print(f.read())


if __name__ == "__main__":
    main()
