# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
"""
bench/procs.py -- the processes the bench starts: /proc readings (CPU ticks,
memory), stopping by PID, a Service, bounded waits for sockets, sh().
"""

import ctypes
import os
import signal
import socket
import subprocess
import time





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
