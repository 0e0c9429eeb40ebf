#!/usr/bin/python3
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
#
# bench/ondemand.py: the figures of `workers ondemand` (issue 15).
#   1. the first request to a cold hello pool, end to end: on the shared
#      socket (a FastCGI client in this script) and through nginx with the
#      module; each run waits until the pool is cold again (idle=1s: worker
#      and preloader gone), ONDEMAND_RUNS runs (default 10)
#   2. ONDEMAND_POOLS idle on-demand pools (default 500) in one droverd:
#      processes running, droverd's RSS, its file descriptors, and the
#      reload of one pool (SIGHUP after editing one pool's file, and
#      `droverctl reload POOL` when droverctl has it)
# Usage: python3 bench/ondemand.py [BUILD_DIR]   (after make; as root the
# pools run as nobody).  Everything runs in a temporary directory, processes
# are stopped by their own PIDs, every wait has a deadline.

import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import http.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procs import free_port, tcp_ready  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "build"))
RUNS = int(os.environ.get("ONDEMAND_RUNS", "10"))
NPOOLS = int(os.environ.get("ONDEMAND_POOLS", "500"))
# the pool one reload changes, the pool one request wakes
RELOAD_POOL = "p%03d" % min(42, NPOOLS - 1)
WAKE_POOL = "p%03d" % (NPOOLS // 2)
USER = "    user nobody;\n" if os.geteuid() == 0 else ""


def wait(cond, timeout, step=0.005):
    end = time.monotonic() + timeout
    while True:
        r = cond()
        if r or time.monotonic() > end:
            return r
        time.sleep(step)


def fcgi_get(path, uri="/", timeout=10):
    """One FastCGI GET on a Unix socket: the whole response's stdout."""
    def rec(t, rid, content):
        pad = (8 - len(content) % 8) % 8
        return struct.pack("!BBHHBx", 1, t, rid, len(content), pad) + content + b"\0" * pad

    def pairs(d):
        out = b""
        for k, v in d.items():
            k, v = k.encode(), v.encode()
            out += bytes([len(k)]) + bytes([len(v)]) + k + v
        return out

    params = {"REQUEST_METHOD": "GET", "REQUEST_URI": uri, "SCRIPT_NAME": uri,
              "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1",
              "CONTENT_LENGTH": ""}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(rec(1, 1, struct.pack("!HB5x", 1, 0)) + rec(4, 1, pairs(params))
              + rec(4, 1, b"") + rec(5, 1, b""))
    buf, out = b"", b""
    while True:
        while len(buf) >= 8:
            _, t, _, clen, plen = struct.unpack("!BBHHBx", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            if t == 6:
                out += buf[8:8 + clen]
            if t == 3:
                s.close()
                return out
            buf = buf[8 + clen + plen:]
        data = s.recv(65536)
        if not data:
            s.close()
            return out
        buf += data


def children(pid):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            ppid = int(st[st.rindex(")") + 2:].split()[1])
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


class Droverd:
    def __init__(self, tmp, conf):
        self.tmp, self.conf = tmp, conf
        self.log = os.path.join(tmp, "droverd.log")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([os.path.join(BUILD, "droverd"), "-c", conf],
                                         stdout=out, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def wait_log(self, regex, timeout, since=0):
        return wait(lambda: re.search(regex, self.text()[since:], re.M), timeout, 0.002)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def pool_text(tmp, name, idle="1s"):
    return ("pool %s {\n    app %s/apps/hello.so;\n    listen unix:%s/%s.sock;\n"
            "    workers ondemand 4 idle=%s;\n%s}\n"
            % (name, BUILD, tmp, name, idle, USER))


def cold_start(tmp):
    conf = os.path.join(tmp, "cold.conf")
    with open(conf, "w") as f:
        f.write("log_level info;\nrun_dir %s;\ncontrol unix:%s/ctl.sock;\n" % (tmp, tmp))
        f.write(pool_text(tmp, "hello"))
    d = Droverd(tmp, conf)
    sock = os.path.join(tmp, "hello.sock")
    try:
        if not d.wait_log(r"manager: starting -> serving", 20):
            raise RuntimeError("droverd did not start:\n" + d.text())

        port = start_nginx(tmp, sock)
        shared, module = [], []
        for i in range(RUNS):
            for how, out in (("shared", shared), ("module", module)):
                if not wait(lambda: not children(d.proc.pid), 10, 0.02):
                    raise RuntimeError("the pool did not go cold")
                t0 = time.monotonic()
                if how == "shared":
                    body = fcgi_get(sock)
                else:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    c.request("GET", "/")
                    body = c.getresponse().read()
                    c.close()
                out.append((time.monotonic() - t0) * 1000)
                if b"Hello" not in body and b"hello" not in body:
                    raise RuntimeError("unexpected answer: %r" % body[:200])
        return shared, module
    finally:
        stop_nginx(tmp)
        d.stop()


def start_nginx(tmp, sock):
    global NGINX
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write("load_module %s/ngx_http_drover_module.so;\n%sworker_processes 1;\n"
                "daemon off;\npid %s/nginx.pid;\nerror_log %s/nginx-error.log warn;\n"
                "events { worker_connections 256; }\nhttp {\n    access_log off;\n"
                "    client_body_temp_path %s;\n    drover_temp_path %s/drover_temp;\n"
                "    server {\n        listen 127.0.0.1:%d;\n"
                "        location / { drover_pass unix:%s; }\n    }\n}\n"
                % (BUILD, "user root;\n" if os.geteuid() == 0 else "", tmp, tmp,
                   tmp, tmp, port, sock))
    NGINX = subprocess.Popen(["nginx", "-p", tmp, "-c", conf])
    if not wait(lambda: tcp_ready(port), 10, 0.01):
        raise RuntimeError("nginx did not start")
    return port


NGINX = None


def stop_nginx(tmp):
    if NGINX is not None and NGINX.poll() is None:
        NGINX.send_signal(signal.SIGQUIT)
        try:
            NGINX.wait(10)
        except subprocess.TimeoutExpired:
            NGINX.kill()


def many_pools(tmp):
    os.makedirs(os.path.join(tmp, "conf.d"))
    conf = os.path.join(tmp, "many.conf")
    with open(conf, "w") as f:
        f.write("log_level notice;\nrun_dir %s;\ncontrol unix:%s/ctl.sock;\n"
                "include %s/conf.d/*.conf;\n" % (tmp, tmp, tmp))
    for i in range(NPOOLS):
        with open(os.path.join(tmp, "conf.d", "p%03d.conf" % i), "w") as f:
            f.write(pool_text(tmp, "p%03d" % i, "10s"))

    t0 = time.monotonic()
    d = Droverd(tmp, conf)
    res = {}
    try:
        if not d.wait_log(r"\[notice\].*droverd .* started", 30) \
                or not wait(lambda: os.path.exists(os.path.join(tmp, "p%03d.sock.slots" % (NPOOLS - 1))), 60):
            raise RuntimeError("droverd did not start:\n" + d.text()[-2000:])
        res["start_s"] = time.monotonic() - t0
        time.sleep(1)
        res["processes"] = len(children(d.proc.pid))
        res["rss_kib"] = rss_kib(d.proc.pid)
        res["fds"] = len(os.listdir("/proc/%d/fd" % d.proc.pid))

        # one pool's file changes; SIGHUP reloads everything
        with open(os.path.join(tmp, "conf.d", RELOAD_POOL + ".conf"), "w") as f:
            f.write(pool_text(tmp, RELOAD_POOL, "11s"))
        mark = len(d.text())
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGHUP)
        if not d.wait_log(r"pool %s: generation 2 serves" % RELOAD_POOL, 30, mark):
            raise RuntimeError("no reload:\n" + d.text()[mark:][-2000:])
        res["sighup_ms"] = (time.monotonic() - t0) * 1000
        res["processes_after"] = len(children(d.proc.pid))

        # one pool alone, when droverctl knows "reload POOL"
        ctl = os.path.join(BUILD, "droverctl")
        help_text = subprocess.run([ctl, "--help"], capture_output=True, text=True).stdout
        if "reload POOL" in help_text:
            with open(os.path.join(tmp, "conf.d", RELOAD_POOL + ".conf"), "w") as f:
                f.write(pool_text(tmp, RELOAD_POOL, "12s"))
            times = []
            for _ in range(5):
                t0 = time.monotonic()
                r = subprocess.run([ctl, "-s", os.path.join(tmp, "ctl.sock"), "reload", RELOAD_POOL],
                                   capture_output=True, text=True, timeout=30)
                times.append((time.monotonic() - t0) * 1000)
                if r.returncode != 0:
                    res["ctl_error"] = (r.stdout + r.stderr).strip()
                    break
            res["ctl_reload_ms"] = times

        # the first request to one of them
        t0 = time.monotonic()
        fcgi_get(os.path.join(tmp, WAKE_POOL + ".sock"))
        res["first_request_ms"] = (time.monotonic() - t0) * 1000
        res["rss_kib_after"] = rss_kib(d.proc.pid)
        return res
    finally:
        d.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="drover-ondemand.")
    os.chmod(tmp, 0o755)
    try:
        shared, module = cold_start(tmp)
        print("cold hello pool, first request, %d runs each (ms): median / min / max" % RUNS)
        for name, xs in (("shared socket (FastCGI client)", shared),
                         ("nginx + module (HTTP client)", module)):
            print("  %-32s %6.1f / %6.1f / %6.1f" % (name, statistics.median(xs), min(xs), max(xs)))
        sub = os.path.join(tmp, "many")
        os.makedirs(sub)
        os.chmod(sub, 0o755)
        res = many_pools(sub)
        print("%d idle on-demand pools (workers ondemand 4):" % NPOOLS)
        for k in ("start_s", "processes", "rss_kib", "fds", "sighup_ms", "processes_after",
                  "ctl_reload_ms", "ctl_error", "first_request_ms", "rss_kib_after"):
            if k in res:
                v = res[k]
                if isinstance(v, list):
                    v = "median %.1f (%s)" % (statistics.median(v), ", ".join("%.1f" % x for x in v))
                elif isinstance(v, float):
                    v = "%.1f" % v
                print("  %-18s %s" % (k, v))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
