# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
"""
bench/report.py -- the results: versions, medians, the markdown tables and the
.json of raw figures, the targets.
"""

import glob
import json
import os
import re
import socket
import statistics
import time

from settings import (APACHE_THREADS, BUILD, CONNS, DISPATCH, DURATION, KILL_EVERY, OUT, POST_BYTES, QUICK, ROOT,
                      ROUNDS, ROW_TITLES, ROWS, SLOW_MS, THREADS, WARMUP, WORKLOADS)
from procs import sh

ALL_ROWS = "".join(ROW_TITLES)


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
                             for f in ("droverd", "apps/kit.so", "ngx_http_drover_module.so", "mod_drover.so")
                             if os.path.exists(os.path.join(BUILD, f)))
         + ": sha256 prefix and build time, since others may rebuild while the bench runs"),
        ("apache2", sh("/usr/sbin/apache2 -v 2>/dev/null | head -1").replace("Server version: ", "")
         + " (Debian %s)" % dpkg("apache2-bin")),
        ("libuv", sh("pkg-config --modversion libuv") + " (Debian libuv1 %s)" % dpkg("libuv1")),
        ("libfcgi / spawn-fcgi", "%s / %s" % (dpkg("libfcgi0ldbl"), dpkg("spawn-fcgi"))),
        ("php-fpm", (sh("%s -v | head -1" % php[-1]) if php else "not installed") +
         ", opcache " + ("loaded" if php and "Zend OPcache" in sh("%s -m" % php[-1]) else "absent")),
        ("python3", sh("/usr/bin/python3 -V")),
        ("python packages", ", ".join("%s %s" % (p, dpkg(p)) for p in
                                      ("python3-fastapi", "python3-starlette", "python3-uvicorn",
                                       "python3-uvloop", "python3-httptools", "gunicorn"))),
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
    for r in ALL_ROWS:
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
    if any(r in ROWS for r in "ghi"):
        L.append("Rows (g)–(i) are Debian's apache2 instead: mpm_event with one child of %d threads "
                 "(as nginx's one worker), KeepAlive on, no access log, plain HTTP on 127.0.0.1.\n"
                 % APACHE_THREADS)
    L.append("## Versions\n")
    L.append("| component | version |\n|---|---|")
    for k, v in b.versions:
        L.append("| %s | %s |" % (k, v))
    L.append("")

    L.append("## Rows\n")
    L.append("| row | stack | status |\n|---|---|---|")
    for r in ALL_ROWS:
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
        for r in ALL_ROWS:
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
        for r in ALL_ROWS:
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
             "nginx-drover": ("nginx with the module: master + worker", "(b), (j)"),
             "apache": ("Apache (mod_drover loaded): master + child", "(g)–(i)"),
             "pydrover": ("droverd python pool: manager + preloader + 2 workers", "(j)"),
             "uv2": ("uvicorn --workers 2: master + 2 workers", "(k)"),
             "gu": ("gunicorn + 2 UvicornWorkers", "(l)")}
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
    for r in ("b", "c", "g", "h"):
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

    L.append("## Targets (issue 7; issue 16 for the Apache rows, issue 17 for the Python ones)\n")
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
    # issue 16: Apache + mod_drover against Apache + mod_proxy_fcgi
    for w in [x[0] for x in WORKLOADS]:
        gw, hw, iw = get("g", w), get("h", w), get("i", w)
        if gw and hw:
            ratio = gw["rps"] / hw["rps"]
            line("(g) >= (h) req/s, %s" % w, ratio >= 1.0, "%.2fx (%s vs %s req/s), p99 %s vs %s" % (
                ratio, fmt_int(gw["rps"]), fmt_int(hw["rps"]), fmt_us(gw["p99"]), fmt_us(hw["p99"])))
        if gw and iw:
            ratio = gw["rps"] / iw["rps"]
            line("(g) > (i) req/s, %s" % w, ratio > 1.0, "%.2fx (%s vs %s req/s), p99 %s vs %s" % (
                ratio, fmt_int(gw["rps"]), fmt_int(iw["rps"]), fmt_us(gw["p99"]), fmt_us(iw["p99"])))
    # issue 17: the FastAPI app in droverd against uvicorn (and gunicorn), 2 workers each
    for w in [x[0] for x in WORKLOADS]:
        jw = get("j", w)
        for r, bar in (("k", 1.2), ("l", None)):
            pw = get(r, w)
            if not (jw and pw):
                continue
            ratio = jw["rps"] / pw["rps"]
            measured = "%.2fx (%s vs %s req/s), p99 %s vs %s" % (
                ratio, fmt_int(jw["rps"]), fmt_int(pw["rps"]), fmt_us(jw["p99"]), fmt_us(pw["p99"]))
            if bar:
                line("(j) >= %.1fx (%s) req/s, %s" % (bar, r, w), ratio >= bar, measured)
            else:
                out.append("| for reference: (j) vs (%s), %s | %s | - |" % (r, w, measured))
    # droverd behind stock fastcgi_pass against the same bars, for reference
    for w, bar in (("hello", 1.5), ("64k", 1.3), ("post16k", 1.3)):
        cw, dw = get("c", w), get("d", w)
        if cw and dw:
            out.append("| for reference: (c) vs (d), %s (bar %.1fx) | %.2fx req/s, p99 %s vs %s | - |" % (
                w, bar, cw["rps"] / dw["rps"], fmt_us(cw["p99"]), fmt_us(dw["p99"])))
    return out
