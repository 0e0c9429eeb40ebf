#!/usr/bin/python3
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
"""
bench/profiler.py -- where the time goes on both sides of the socket, for the
hello workload (`GET /`, kit's "hello\\n").  Run by bench/bench.py after the
bench (BENCH_PROFILE=1, the default for full runs), or alone:

    /usr/bin/python3 bench/profiler.py [RESULTS.md]

It appends a "Profile" section to RESULTS.md (or prints it).  Steps:
  1. perf stat (software events; hardware counters when the machine has
     them) on the droverd workers, the libfcgi processes and the nginx worker
     during a wrk run through (b), (c) and (d): CPU time, context switches
     and page faults per request;
  2. perf record -e cpu-clock on the same processes: the top symbols, kernel
     included;
  3. strace -c -f on the backend processes, then on the nginx worker, during
     a wrk run: syscalls per request (strace slows the traced side down, so
     rates under strace mean nothing; counts per request do);
  4. valgrind --tool=callgrind on one droverd worker (workers 1, preload on)
     and on one libfcgi process, for exactly N requests sent by a FastCGI
     client in this script on one kept-alive connection: instructions per
     request and the top functions.

Environment: BENCH_PROFILE_DURATION=4 (s per wrk run), BENCH_PROFILE_REQUESTS=20000.
"""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True      # no __pycache__ in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402

DUR = B.env_num("BENCH_PROFILE_DURATION", 4)
NREQ = B.env_num("BENCH_PROFILE_REQUESTS", 20000)
STEPS = os.environ.get("BENCH_PROFILE_STEPS", "stat,strace,record,nginxcg,callgrind").split(",")


# ------------------------------------------------------- FastCGI client ----

def fcgi_record(rtype, rid, content):
    pad = (-len(content)) % 8
    return struct.pack("!BBHHBx", 1, rtype, rid, len(content), pad) + content + b"\0" * pad


def fcgi_pairs(d):
    out = b""
    for k, v in d.items():
        k, v = k.encode(), v.encode()
        for x in (k, v):
            out += bytes([len(x)]) if len(x) < 128 else struct.pack("!I", len(x) | 0x80000000)
        out += k + v
    return out


def fcgi_request(path="/", query=""):
    params = fcgi_pairs({
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": path, "REQUEST_URI": path + ("?" + query if query else ""),
        "DOCUMENT_URI": path, "QUERY_STRING": query, "SERVER_PROTOCOL": "HTTP/1.1",
        "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "nginx/1.22.1", "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000", "SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "80",
        "SERVER_NAME": "localhost", "HTTP_HOST": "127.0.0.1", "HTTP_USER_AGENT": "wrk",
        "CONTENT_TYPE": "", "CONTENT_LENGTH": "",
    })
    return (fcgi_record(1, 1, struct.pack("!HB5x", 1, 1))       # BEGIN, responder, KEEP_CONN
            + fcgi_record(4, 1, params) + fcgi_record(4, 1, b"")
            + fcgi_record(5, 1, b""))


def fcgi_drive(sock_path, n, path="/"):
    """n requests, one after the other, on one kept connection; returns the
    number answered with FCGI_END_REQUEST"""
    req = fcgi_request(path)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(sock_path)
    buf = b""
    done = 0
    try:
        for _ in range(n):
            s.sendall(req)
            while True:
                while len(buf) < 8:
                    chunk = s.recv(65536)
                    if not chunk:
                        return done
                    buf += chunk
                _, rtype, _, clen, plen = struct.unpack("!BBHHBx", buf[:8])
                while len(buf) < 8 + clen + plen:
                    chunk = s.recv(65536)
                    if not chunk:
                        return done
                    buf += chunk
                buf = buf[8 + clen + plen:]
                if rtype == 3:
                    done += 1
                    break
    finally:
        s.close()
    return done


# ----------------------------------------------------------------- tools ----

def wrk_bg(port, dur, path="/"):
    out = open(os.devnull, "w")
    p = subprocess.Popen(["wrk", "-t%d" % B.THREADS, "-c%d" % B.CONNS, "-d%ds" % dur, "--latency",
                          "http://127.0.0.1:%d%s" % (port, path)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out.close()
    return p


def wrk_finish(p):
    try:
        text = p.communicate(timeout=DUR + 60)[0].decode(errors="replace")
    except subprocess.TimeoutExpired:
        p.kill()
        text = p.communicate()[0].decode(errors="replace")
    return B.parse_wrk(text)


def perf_events():
    out = B.sh("perf stat -e instructions,cycles true 2>&1")
    hw = "<not supported>" not in out and "instructions" in out
    ev = ["task-clock", "context-switches", "cpu-migrations", "page-faults"]
    # sched_waking counts in the waker's context: the tasks these processes
    # woke (a sleeping peer costs the waker an IPI); tracepoints work where
    # hardware counters do not, as in most VMs
    out = B.sh("perf stat -e sched:sched_waking true 2>&1")
    if "sched_waking" in out and "<not supported>" not in out and "event syntax error" not in out:
        ev.append("sched:sched_waking")
    return (["instructions", "cycles"] if hw else []) + ev, hw


def perf_stat(pids, port, dur):
    """wrk through port for dur s while perf stat watches pids"""
    events, _ = perf_events()
    outf = "/tmp/drover-bench-perfstat.%d" % os.getpid()
    p = subprocess.Popen(["perf", "stat", "-x,", "-o", outf, "-e", ",".join(events),
                          "-p", ",".join(map(str, pids)), "--", "sleep", str(dur)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    w = wrk_bg(port, dur)
    res = wrk_finish(w)
    p.wait(dur + 30)
    vals = {}
    try:
        for line in open(outf):
            f = line.strip().split(",")
            if len(f) >= 3 and f[0] and not line.startswith("#"):
                try:
                    vals[f[2]] = float(f[0])
                except ValueError:
                    vals[f[2]] = None
        os.unlink(outf)
    except OSError:
        pass
    return vals, res


def perf_record(pids, port, dur, top=14):
    data = "/tmp/drover-bench-perf.%d.data" % os.getpid()
    p = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "1999", "-o", data,
                          "-p", ",".join(map(str, pids)), "--", "sleep", str(dur)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    w = wrk_bg(port, dur)
    wrk_finish(w)
    p.wait(dur + 60)
    rep = B.sh("perf report -i %s --stdio --no-children --sort dso,sym 2>/dev/null "
               "| grep -v '^#' | grep -v '^$' | head -%d" % (data, top))
    try:
        os.unlink(data)
    except OSError:
        pass
    return [re.sub(r"\s+", " ", l).strip() for l in rep.splitlines() if "%" in l]


def strace_count(pids, port, dur):
    """strace -c -f on pids during a wrk run; {syscall: calls}, total, requests"""
    outf = "/tmp/drover-bench-strace.%d" % os.getpid()
    argv = ["strace", "-c", "-f", "-o", outf]
    for q in pids:
        argv += ["-p", str(q)]
    st = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    w = wrk_bg(port, dur)
    res = wrk_finish(w)
    st.send_signal(signal.SIGINT)
    try:
        st.wait(30)
    except subprocess.TimeoutExpired:
        st.kill()
        st.wait()
    calls = {}
    errors = {}
    try:
        for line in open(outf):
            f = line.split()
            if len(f) >= 5 and re.match(r"^[\d.]+$", f[0]) and f[-1] != "total":
                name = f[-1]
                calls[name] = int(f[3])
                if len(f) == 6:
                    errors[name] = int(f[4])
        os.unlink(outf)
    except OSError:
        pass
    return calls, errors, res


def fmt_calls(calls, errors, nreq, top=10):
    items = sorted(calls.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join("%s %.2f%s" % (k, v / nreq, " (%.2f failed)" % (errors[k] / nreq) if errors.get(k) else "")
                     for k, v in items)


# -------------------------------------------------------------- callgrind ----

def callgrind_annotate(path, top=15):
    out = B.sh("callgrind_annotate --inclusive=no %s 2>/dev/null | head -%d" % (path, top + 30))
    total = None
    m = re.search(r"^([\d,]+)\s+\(100.0%\)\s+PROGRAM TOTALS", out, re.M)
    if m:
        total = int(m.group(1).replace(",", ""))
    rows = []
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(\S+)", line)
        if m and "PROGRAM TOTALS" not in line:
            rows.append((int(m.group(1).replace(",", "")), float(m.group(2)), m.group(3)))
    return total, rows[:top]


def callgrind_droverd(tmp, build):
    """droverd with 1 worker whose preloader (and so the forked worker) runs
    under callgrind, collecting only inside uv_run (the worker's loop)"""
    shim = os.path.join(tmp, "execshim.so")
    out = B.sh("cc -O2 -shared -fPIC -o %s %s -ldl" % (shim, os.path.join(B.HERE, "profile", "execshim.c")))
    if not os.path.exists(shim):
        raise RuntimeError("cannot build the exec shim: " + out[-200:])
    wrapper = os.path.join(tmp, "vgexe.sh")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\nif [ "$1" = "--preloader" ]; then\n    unset LD_PRELOAD\n'
                '    exec /usr/bin/valgrind --tool=callgrind --collect-atstart=no --toggle-collect=uv_run '
                '--callgrind-out-file=%s/cg.drover.%%p %s "$@"\nfi\nexec %s "$@"\n'
                % (tmp, os.path.join(build, "droverd"), os.path.join(build, "droverd")))
    os.chmod(wrapper, 0o755)
    # the sockets and run_dir apart from tmp (1777 for callgrind's output):
    # droverd refuses a socket directory anyone may write to
    run = os.path.join(tmp, "run")
    os.makedirs(run, mode=0o755, exist_ok=True)
    os.chmod(run, 0o755)
    sock = os.path.join(run, "cg.sock")
    conf = os.path.join(run, "cg.conf")
    with open(conf, "w") as f:
        f.write("log_level info;\nrun_dir %s;\npool cg {\n    app %s;\n    listen unix:%s mode=0666;\n%s"
                "    workers 1;\n    stop_timeout 30s;\n}\n"
                % (run, os.path.join(build, "apps", "kit.so"), sock, "    user nobody;\n" if B.IS_ROOT else ""))
    env = dict(os.environ, LD_PRELOAD=shim, DROVER_BENCH_EXEC=wrapper)
    logpath = os.path.join(tmp, "cg.log")
    svc = B.Service("droverd-cg", [os.path.join(build, "droverd"), "-c", conf], logpath, env=env).start()
    try:
        if not B.wait_for(lambda: "worker 0 started" in open(logpath, errors="replace").read()
                          and B.unix_ready(sock + ".0"), 60):
            raise RuntimeError("droverd under callgrind did not start: " + svc.log_tail())
        fcgi_drive(sock + ".0", 200)             # warm
        t0 = time.monotonic()
        done = fcgi_drive(sock + ".0", NREQ)
        wall = time.monotonic() - t0
    finally:
        svc.stop(timeout=60)
    files = [f for f in os.listdir(tmp) if f.startswith("cg.drover.")]
    best = None
    for fn in files:
        total, rows = callgrind_annotate(os.path.join(tmp, fn))
        if total and (best is None or total > best[0]):
            best = (total, rows, fn)
    if best is None:
        raise RuntimeError("no callgrind output from the worker")
    return done, wall, best


def callgrind_fcgi(tmp):
    binary = os.path.join(tmp, "fcgi_peer_cg")
    B.sh("cc -O2 -g -o %s %s -lfcgi" % (binary, os.path.join(B.HERE, "peers", "fcgi_peer.c")))
    sock = os.path.join(tmp, "cgf.sock")
    r = subprocess.run(["spawn-fcgi", "-F", "1", "-s", sock, "-M", "0666", "--", "/usr/bin/valgrind",
                        "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=main",
                        "--callgrind-out-file=%s/cg.fcgi.%%p" % tmp, binary],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    pids = [int(p) for p in re.findall(r"PID:\s*(\d+)", r.stdout.decode(errors="replace"))]
    try:
        if not B.wait_for(lambda: B.unix_ready(sock), 30):
            raise RuntimeError("libfcgi app under callgrind did not start")
        time.sleep(2)
        fcgi_drive(sock, 200)
        t0 = time.monotonic()
        done = fcgi_drive(sock, NREQ)
        wall = time.monotonic() - t0
    finally:
        B.stop_pids(pids, timeout=60)
    files = [f for f in os.listdir(tmp) if f.startswith("cg.fcgi.")]
    if not files:
        raise RuntimeError("no callgrind output from the libfcgi app")
    total, rows = callgrind_annotate(os.path.join(tmp, files[0]))
    return done, wall, (total, rows, files[0])


# ------------------------------------------------------------------ main ----

def backend_pids(b, r):
    """the processes that serve requests: droverd's workers (and the idle
    preloader) without the manager; all 16 libfcgi processes"""
    front, backend = b.component_pids(r)
    mgr = b.backends["drover"][0].pid if "drover" in b.backends else None
    return front, [q for q in backend if q != mgr]


def live_steps(b, L, hw):
    rows = [r for r in ("b", "c", "d") if r in b.rows]
    if "stat" in STEPS:
        L.append("\n### perf stat: CPU and scheduling per request\n")
        L.append("| row | side | processes | req/s | CPU us/req | ctx switches/req | migrations/req | "
                 "page faults/req | wakeups caused/req |%s" % (" instructions/req |" if hw else ""))
        L.append("|---|---|---|---|---|---|---|---|---|%s" % ("---|" if hw else ""))
        for r in rows:
            front, be = backend_pids(b, r)
            for side, pids in (("backend", be), ("nginx worker", front)):
                b.quiet()
                vals, res = perf_stat(pids, b.rows[r]["port"], DUR)
                n = res.get("requests") or 0
                if not n or not vals:
                    L.append("| (%s) | %s | %d | - | perf stat failed ||||||" % (r, side, len(pids)))
                    continue

                def per(k, scale=1.0, fmt="%.2f"):
                    v = vals.get(k)
                    return fmt % (v * scale / n) if v is not None else "-"
                L.append("| (%s) | %s | %d | %s | %s | %s | %s | %s | %s |%s" % (
                    r, side, len(pids), B.fmt_int(res["rps"]), per("task-clock", 1000.0, "%.1f"),
                    per("context-switches"), per("cpu-migrations", 1.0, "%.3f"),
                    per("page-faults", 1.0, "%.3f"), per("sched:sched_waking"),
                    (" %s |" % per("instructions", 1.0, "%.0f")) if hw else ""))

    if "strace" in STEPS:
        L.append("\n### strace -c -f: syscalls per request\n")
        L.append("| row | side | syscalls/req | top calls per request |")
        L.append("|---|---|---|---|")
        for r in rows:
            front, be = backend_pids(b, r)
            for side, pids in (("backend", be), ("nginx worker", front)):
                b.quiet()
                calls, errors, res = strace_count(pids, b.rows[r]["port"], DUR)
                n = res.get("requests") or 0
                if not n or not calls:
                    L.append("| (%s) | %s | strace failed | |" % (r, side))
                    continue
                L.append("| (%s) | %s | %.2f | %s |" % (r, side, sum(calls.values()) / n,
                                                       fmt_calls(calls, errors, n)))

    if "nginxcg" in STEPS:
        L.append("\n### callgrind on the nginx side: instructions per request (user space)\n")
        L.append("A second nginx for the row, single process (`master_process off`), under callgrind, "
                 "collecting inside `ngx_process_events_and_timers`; `wrk -t1 -c16 -d3s` through it (a few "
                 "thousand requests at callgrind speed).\n")
        for r in [x for x in ("b", "c") if x in rows]:
            try:
                n, total, top, incl = callgrind_nginx(b, r)
                L.append("**(%s) nginx worker**: %s requests, **%s instructions per request**.\n" % (
                    r, B.fmt_int(n), B.fmt_int(total / max(n, 1))))
                if incl:
                    L.append("| inclusive Ir per request | % | entry point (the module's, and OpenSSL's "
                             "RAND_bytes_ex behind `$request_id`) |\n|---|---|---|")
                    for ir, pct, func in incl:
                        L.append("| %s | %.1f%% | `%s` |" % (B.fmt_int(ir / max(n, 1)), pct, func))
                    L.append("")
                L.append("<details><summary>(%s) top functions by self cost</summary>\n" % r)
                L.append("| Ir per request | self % | function |\n|---|---|---|")
                for ir, pct, func in top:
                    L.append("| %s | %.1f%% | `%s` |" % (B.fmt_int(ir / max(n, 1)), pct, func))
                L.append("\n</details>\n")
            except Exception as e:
                L.append("(%s) nginx under callgrind: not available: %s\n" % (r, e))

    if "record" in STEPS:
        L.append("\n### perf record -e cpu-clock: top symbols (self time, kernel included)\n")
        for r in rows:
            front, be = backend_pids(b, r)
            for side, pids in (("backend", be), ("nginx worker", front)):
                if r == "c" and side == "backend":
                    continue        # the same droverd workers as (b)
                b.quiet()
                top = perf_record(pids, b.rows[r]["port"], DUR)
                L.append("<details><summary>(%s) %s</summary>\n\n```\n%s\n```\n</details>\n" % (
                    r, side, "\n".join(top) if top else "(perf record gave nothing)"))


def callgrind_nginx(b, r, dur=3):
    """a second nginx for row r, single process (master_process off) under
    callgrind, collecting inside ngx_process_events_and_timers; wrk -c16 on
    it; returns (requests, total Ir, top functions)"""
    src = open(b.path("nginx-drover.conf" if r == "b" else "nginx-stock.conf")).read()
    port = B.free_port()
    name = "cg-nginx-" + r
    text = src.replace("master_process on;", "master_process off;")
    text = text.replace(b.path("nginx-drover") if r == "b" else b.path("nginx-stock"), b.path(name))
    # keep only row r's server, on a new port
    servers = re.findall(r"    server \{\n        listen 127\.0\.0\.1:(\d+);\n.*?\n    \}\n", text, re.S)
    keep = str(b.rows[r]["port"])
    for p_ in servers:
        if p_ != keep:
            text = re.sub(r"    server \{\n        listen 127\.0\.0\.1:%s;\n.*?\n    \}\n" % p_, "", text, flags=re.S)
    text = text.replace("listen 127.0.0.1:%s;" % keep, "listen 127.0.0.1:%d;" % port)
    conf = b.path(name + ".conf")
    with open(conf, "w") as f:
        f.write(text)
    out = b.path(name + ".cg")
    svc = B.Service(name, ["valgrind", "--tool=callgrind", "--collect-atstart=no",
                           "--toggle-collect=ngx_process_events_and_timers",
                           "--callgrind-out-file=" + out, "nginx", "-p", b.tmp, "-c", conf],
                    b.path(name + ".log")).start()
    try:
        if not B.wait_for(lambda: B.tcp_ready(port), 60):
            raise RuntimeError("nginx under callgrind did not start: " + svc.log_tail())
        w = wrk_bg(port, dur)
        res = wrk_finish(w)
    finally:
        svc.stop(timeout=60)
    total, rows = callgrind_annotate(out, top=18)
    if not total:
        raise RuntimeError("no callgrind output from nginx")
    # inclusive cost of what the module adds, by entry point
    incl = []
    text = B.sh("callgrind_annotate --inclusive=yes %s 2>/dev/null" % out)
    for line in text.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(\S+)", line)
        if m and re.search(r":(RAND_bytes_ex|ngx_http_drover_\w+)$", m.group(3)):
            fn = m.group(3).rsplit(":", 1)[1]
            if fn not in [x[2] for x in incl]:       # a function may be listed under 2 file names
                incl.append((int(m.group(1).replace(",", "")), float(m.group(2)), fn))
    return res.get("requests") or 0, total, rows, incl[:12]


def callgrind_steps(L):
    L.append("\n### callgrind: instructions per request (user space), %d requests on one kept connection\n"
             % NREQ)
    tmp = tempfile.mkdtemp(prefix="drover-cg-")
    os.chmod(tmp, 0o1777)     # the worker (user nobody) writes its callgrind file here
    for name, fn in (("droverd worker (kit app), collected inside uv_run",
                      lambda: callgrind_droverd(tmp, B.BUILD)),
                     ("libfcgi app (the peer of (d), one process), collected inside main",
                      lambda: callgrind_fcgi(tmp))):
        try:
            done, wall, (total, top, fname) = fn()
            L.append("**%s**: %d requests answered in %.1f s under callgrind, %s instructions per request "
                     "(%s in all).\n" % (name, done, wall, B.fmt_int(total / max(done, 1)), B.fmt_int(total)))
            L.append("| Ir per request | self % | function |\n|---|---|---|")
            for ir, pct, func in top:
                L.append("| %s | %.1f%% | `%s` |" % (B.fmt_int(ir / max(done, 1)), pct, func))
            L.append("")
        except Exception as e:
            L.append("**%s**: not available: %s\n" % (name, e))
    if not B.KEEP:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    B.set_subreaper()
    target = sys.argv[1] if len(sys.argv) > 1 else None
    B.ROWS = ["b", "c", "d"]
    B.DISPATCH = False
    L = ["## Profile: the hello workload (`GET /`), both sides of the socket\n"]
    _, hw = perf_events()
    L.append("bench/profiler.py; wrk `-t%d -c%d -d%ds` per measurement. perf: %s. Per request = counter / "
             "requests wrk completed in the same window.\n"
             % (B.THREADS, B.CONNS, DUR, "hardware counters available" if hw else
                "this machine has no hardware counters (`perf stat -e instructions true` says <not supported>), "
                "so perf stat gives software events only and perf record samples cpu-clock"))
    L.append("Build profiled: %s.\n" % dict(B.versions())["build"])
    if set(STEPS) & {"stat", "strace", "record", "nginxcg"}:
        b = B.Bench()
        try:
            b.setup()
            for r, why in b.unavailable.items():
                L.append("- (%s) not available for profiling: %s" % (r, why))
            live_steps(b, L, hw)
        finally:
            b.stop_all()
    if "callgrind" in STEPS:
        callgrind_steps(L)

    text = "\n".join(L) + "\n"
    if target:
        with open(target, "a") as f:
            f.write("\n" + text)
        B.log("profile appended to %s" % target)
    print(text)


if __name__ == "__main__":
    main()
