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
  BENCH_PYTHON=1         add the Python rows (j, k, l): FastAPI in droverd, uvicorn, gunicorn
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

import datetime
import http.client
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True      # no __pycache__ in bench/
# bench.py's names, and (BUILD, IS_ROOT, env_num, Service, sh, stop_pids, tcp_ready,
# unix_ready, wait_for, fmt_int) what profiler.py reads through `import bench as B`
from settings import (APACHE_DROVER_CONF, DROVERD_SCHED, PEER_SCHED, APACHE_ROWS, BUILD, CLK_TCK, CONNS, DISPATCH, DROVER_WORKERS, DURATION, HERE, IS_ROOT,
                      PY_APP, PY_WORKERS,
                      KEEP, KILL_EVERY, MAX_RETRIES, MODULE, POST_BYTES, PROFILE, QUICK,
                      QUIET_BELOW, QUIET_WAIT, RETRY_ABOVE, ROUNDS, ROWS, SLOW_MS, THREADS,
                      UPSTREAM_KEEPALIVE, WARMUP, WORKLOADS, env_num, log)
from procs import (all_ticks, children, free_port, machine_cpu, memory, Service, set_subreaper, sh,
                   stop_pids, tcp_ready, ticks, unix_ready, wait_for)
from report import fmt_int, report, short, versions
from services import Services


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


class Bench(Services):

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

    # ----------------------------------------------------------- setup ----

    def setup(self):
        t = self.path
        with open(t("big64k"), "wb") as f:
            f.write(b"".join(b"%015x\n" % i for i in range(64 * 64)))
        with open(t("post.lua"), "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = string.rep("x", %d)\n'
                    'wrk.headers["Content-Type"] = "application/octet-stream"\n' % POST_BYTES)

        backends = {}
        if any(r in ROWS for r in "bcgh"):
            try:
                backends["drover"] = (self.start_droverd("kit", t("kit.sock")), t("kit.sock"))
            except Exception as e:
                for r in "bcgh":
                    self.unavailable[r] = str(e)
        if "d" in ROWS:
            try:
                backends["fcgi"] = self.start_fcgi_peer()
            except Exception as e:
                self.unavailable["d"] = str(e)
        if "e" in ROWS or "i" in ROWS:
            try:
                backends["php"] = self.start_php_fpm()
            except Exception as e:
                self.unavailable["e"] = self.unavailable["i"] = str(e)
        if "f" in ROWS:
            try:
                backends["uv"] = self.start_uvicorn()
            except Exception as e:
                self.unavailable["f"] = str(e)
        # the Python rows: the same FastAPI app, 2 workers each
        for r, key, start in (("j", "pydrover", lambda: (self.start_droverd(
                                   "py", t("py.sock"), conf=self.python_conf("py", t("py.sock"))),
                                   t("py.sock"))),
                              ("k", "uv2", lambda: self.start_uvicorn("uvicorn2", "uv2.sock", PY_WORKERS)),
                              ("l", "gu", lambda: self.start_gunicorn(PY_WORKERS))):
            if r in ROWS:
                try:
                    backends[key] = start()
                except Exception as e:
                    self.unavailable[r] = str(e)
        self.backends = backends

        # the stock nginx: rows a, c, d, e, f (and c's kill row)
        servers, upstreams, ports = "", "", []
        stock_rows = {}
        for r in ROWS:
            if r in "bj" or r in APACHE_ROWS or r in self.unavailable:
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
            elif r in "fkl":
                be = {"f": "uv", "k": "uv2", "l": "gu"}[r]
                upstreams += ("    upstream py_%s {\n        server unix:%s;\n"
                              "        keepalive %d;\n    }\n" % (r, backends[be][1], UPSTREAM_KEEPALIVE))
                body = ("        location / {\n            proxy_pass http://py_%s;\n" % r +
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

        # the nginx with the Drover module: row b, and j
        module_rows = [r for r in "bj" if r in ROWS and r not in self.unavailable]
        if module_rows:
            try:
                self.setup_module_row(module_rows)
            except Exception as e:
                for r in module_rows:
                    self.unavailable[r] = str(e)

        # one Apache for rows g, h, i
        apache_rows = [r for r in ROWS if r in APACHE_ROWS and r not in self.unavailable]
        if apache_rows:
            try:
                self.setup_apache_rows(apache_rows)
            except Exception as e:
                for r in apache_rows:
                    self.unavailable[r] = str(e)

        for r in self.rows:
            self.rows[r]["backend"] = {"a": None, "b": "drover", "c": "drover", "d": "fcgi",
                                       "e": "php", "f": "uv", "g": "drover", "h": "drover",
                                       "i": "php", "j": "pydrover", "k": "uv2", "l": "gu"}[r]
        self.probe_all()

    def setup_module_row(self, rows=("b",)):
        t = self.path
        if not os.path.exists(MODULE):
            raise RuntimeError("%s is not built" % MODULE)
        servers, ports, d = "", [], {}
        if "j" in rows:
            jport = free_port()
            servers += self.server(jport, "        location / {\n            drover_pass unix:%s;\n"
                                          "        }\n" % t("py.sock"))
            ports.append(jport)
        if "b" not in rows:
            front = self.start_nginx("nginx-drover", servers, "", ports, module=True)
            self.rows["j"] = {"port": jport, "front": front}
            return
        port = free_port()
        servers += self.server(port, "        location / {\n            drover_pass unix:%s;\n"
                                     "        }\n" % t("kit.sock"))
        ports.append(port)
        d = {"port": port}
        if DISPATCH:
            kport = free_port()
            servers += self.server(kport, "        location / {\n            drover_pass unix:%s;\n"
                                          "        }\n" % t("kitk.sock"))
            ports.append(kport)
            d["kill_port"] = kport
        d["front"] = self.start_nginx("nginx-drover", servers, "", ports, module=True)
        self.rows["b"] = d
        if "j" in rows:
            self.rows["j"] = {"port": jport, "front": d["front"]}

    def setup_apache_rows(self, rows):
        """(g) mod_drover's DroverPass, its defaults; (h) the stock recipe of
        docs/apache.md with a reusing worker (FCGI_KEEP_CONN, as (c)'s
        keepalive 16); (i) the stock recipe to php-fpm, no reuse (as (e))"""
        t = self.path
        vhosts, ports, d = "", [], {}
        for r in rows:
            port = free_port()
            if r == "g":
                body = ("    <Location />\n%s        DroverPass unix:%s\n    </Location>\n"
                        % ("".join("        %s\n" % l.strip() for l in APACHE_DROVER_CONF.split(";")
                                   if l.strip()), t("kit.sock")))
            elif r == "h":
                vhosts += ('<Proxy "fcgi://drover-h/" enablereuse=on max=%d>\n</Proxy>\n'
                           % UPSTREAM_KEEPALIVE)
                body = ('    <Location />\n        SetHandler "proxy:unix:%s|fcgi://drover-h/"\n'
                        '    </Location>\n' % t("kit.sock"))
            else:
                body = ('    <Location />\n        SetHandler "proxy:unix:%s|fcgi://php-i/"\n'
                        '        ProxyFCGISetEnvIf "true" SCRIPT_FILENAME "%s"\n'
                        '    </Location>\n' % (self.backends["php"][1], t("app.php")))
            vhosts += self.vhost(port, body)
            ports.append(port)
            d[r] = {"port": port}
            if r in "gh" and DISPATCH:
                # the kill run's fresh droverd (kitk), through the same Apache
                kport = free_port()
                if r == "g":
                    kbody = ("    <Location />\n        DroverPass unix:%s\n    </Location>\n"
                             % t("kitk.sock"))
                else:
                    vhosts += ('<Proxy "fcgi://drover-hk/" enablereuse=on max=%d>\n</Proxy>\n'
                               % UPSTREAM_KEEPALIVE)
                    kbody = ('    <Location />\n        SetHandler "proxy:unix:%s|fcgi://drover-hk/"\n'
                             '    </Location>\n' % t("kitk.sock"))
                vhosts += self.vhost(kport, kbody)
                ports.append(kport)
                d[r]["kill_port"] = kport
        front = self.start_apache("apache", vhosts, ports, module="g" in rows)
        for r in rows:
            d[r]["front"] = front
            self.rows[r] = d[r]

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
            for r in ("b", "c", "g", "h"):
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
        for name in ("nginx-stock", "nginx-drover", "apache"):
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
    b.notes.append("droverd's pools (b, c, g, h) ran with cpu_scheduling %s; the peers (d, e) %s"
                   % (DROVERD_SCHED or "batch (its default)",
                      "under `chrt %s` (BENCH_PEER_SCHED)" % PEER_SCHED if PEER_SCHED
                      else "under SCHED_OTHER, as started by default"))
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
        if PY_APP != "fastapi_app:app" and any(r in ROWS for r in "jkl"):
            b.notes.append("the Python rows (j, k, l) ran bench/peers/%s.py (BENCH_PY_APP=%s), "
                           "not the FastAPI app their names say" % (PY_APP.split(":")[0], PY_APP))
        for name in ("nginx-stock", "nginx-drover", "apache"):
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
