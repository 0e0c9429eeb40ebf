# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
"""
bench/services.py -- how each service is configured and started: droverd, the
peers (peers/: libfcgi app, php-fpm, uvicorn), nginx (a mixin of bench.py's Bench).
"""

import glob
import os
import re
import shutil
import subprocess

from settings import (APACHE_MODULE, APACHE_MODULES, APACHE_THREADS, BUILD, DROVER_CONF,
                      DROVER_WORKERS, DROVERD_SCHED, FCGI_PROCS, HERE, IS_ROOT, MODULE,
                      PEER_SCHED, PHP_CHILDREN, PY_APP, PY_WORKERS)
from procs import Service, sh, tcp_ready, unix_ready, wait_for


def peer_sched():
    """BENCH_PEER_SCHED: the argv prefix that starts a peer under that policy"""
    if not PEER_SCHED:
        return []
    flags = {"batch": "-b", "normal": "-o", "idle": "-i"}
    if PEER_SCHED not in flags:
        raise RuntimeError("BENCH_PEER_SCHED must be batch, normal or idle, got %r" % PEER_SCHED)
    return ["chrt", flags[PEER_SCHED], "0"]


class Services:

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
                    "    workers %d;\n%s%s}\n"
                    % (self.tmp, name, os.path.join(BUILD, "apps", "kit.so"), sock,
                       user, DROVER_WORKERS,
                       "    cpu_scheduling %s;\n" % DROVERD_SCHED if DROVERD_SCHED else "",
                       extra))
        return conf

    def python_conf(self, name, sock):
        """row (j): the FastAPI peer app in a droverd python pool"""
        appdir = self.path("py")
        os.makedirs(appdir, exist_ok=True)
        os.chmod(appdir, 0o755)
        shutil.copy(os.path.join(HERE, "peers", PY_APP.split(":")[0] + ".py"), appdir)
        user = "    user nobody;\n" if IS_ROOT else ""
        conf = self.path(name + ".conf")
        with open(conf, "w") as f:
            f.write("log_level info;\nrun_dir %s;\n"
                    "pool %s {\n    python %s;\n    python_path %s;\n"
                    "    listen unix:%s mode=0666;\n%s    workers %d;\n    preload on;\n}\n"
                    % (self.tmp, name, PY_APP, appdir, sock, user, PY_WORKERS))
        return conf

    def start_droverd(self, name, sock, extra="", conf=None):
        conf = conf or self.droverd_conf(name, sock, extra)
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
        argv = peer_sched() + argv
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
        svc = self.service("php-fpm", peer_sched() + [binary, "-F", "-y", conf, "-d", "opcache.enable=1"],
                           self.path("php-fpm.log"))
        if not wait_for(lambda: unix_ready(sock) and len(svc.pids()) >= PHP_CHILDREN + 1, 15):
            raise RuntimeError("php-fpm did not start: %s" % svc.log_tail())
        return svc, sock

    def python_peer(self):
        py = "/usr/bin/python3"
        missing = sh("%s -c 'import fastapi, uvicorn' && echo ok" % py)
        if not missing.endswith("ok"):
            raise RuntimeError("python3-fastapi/python3-uvicorn missing: " + missing[-200:])
        loop = "uvloop" if sh("%s -c 'import uvloop' && echo ok" % py).endswith("ok") else "asyncio"
        httpimpl = "httptools" if sh("%s -c 'import httptools' && echo ok" % py).endswith("ok") else "h11"
        self.uvicorn_impl = (loop, httpimpl)
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        return py, loop, httpimpl, env

    def start_uvicorn(self, name="uvicorn", sock_name="uv.sock", workers=1):
        py, loop, httpimpl, env = self.python_peer()
        sock = self.path(sock_name)
        svc = self.service(name, [py, "-m", "uvicorn", "--app-dir", os.path.join(HERE, "peers"),
                                  PY_APP, "--uds", sock, "--loop", loop, "--http",
                                  httpimpl, "--workers", str(workers), "--no-access-log",
                                  "--log-level", "warning"],
                           self.path(name + ".log"), env=env)
        if not wait_for(lambda: unix_ready(sock) and len(svc.pids()) >= (workers + 1 if workers > 1 else 1), 20):
            raise RuntimeError("uvicorn did not start: %s" % svc.log_tail())
        return svc, sock

    def start_gunicorn(self, workers):
        """row (l): gunicorn's master with uvicorn's worker class (it picks
        uvloop and httptools when installed)"""
        py, _, _, env = self.python_peer()
        if not sh("%s -c 'import gunicorn, uvicorn.workers' && echo ok" % py).endswith("ok"):
            raise RuntimeError("gunicorn or uvicorn.workers missing (apt-get install gunicorn)")
        sock = self.path("gu.sock")
        svc = self.service("gunicorn", [py, "-m", "gunicorn", "-k", "uvicorn.workers.UvicornWorker",
                                        "-w", str(workers), "-b", "unix:" + sock,
                                        "--chdir", os.path.join(HERE, "peers"),
                                        "--log-level", "warning", PY_APP],
                           self.path("gunicorn.log"), env=env)
        if not wait_for(lambda: unix_ready(sock) and len(svc.pids()) >= workers + 1, 20):
            raise RuntimeError("gunicorn did not start: %s" % svc.log_tail())
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

    # ---------------------------------------------------------- apache ----

    def apache_conf(self, name, vhosts, ports, module=False):
        """Debian's apache2 as nginx is run here: one child (mpm_event,
        APACHE_THREADS threads), no access log, plain HTTP on 127.0.0.1"""
        t, m = self.path, APACHE_MODULES
        os.makedirs(t(name + "-run"), exist_ok=True)
        os.makedirs(t(name + "-htdocs"), exist_ok=True)
        text = ("ServerRoot %s\nPidFile %s\nErrorLog %s\nLogLevel warn\nDefaultRuntimeDir %s\n"
                "Mutex file:%s default\nServerName localhost\nDocumentRoot %s\n%s"
                "LoadModule mpm_event_module %s/mod_mpm_event.so\n"
                "StartServers 1\nServerLimit 1\nThreadsPerChild %d\nThreadLimit %d\n"
                "MaxRequestWorkers %d\nMinSpareThreads 1\nMaxSpareThreads %d\n"
                "LoadModule authz_core_module %s/mod_authz_core.so\n"
                "LoadModule proxy_module %s/mod_proxy.so\n"
                "LoadModule proxy_fcgi_module %s/mod_proxy_fcgi.so\n%s"
                "KeepAlive On\nMaxKeepAliveRequests 0\nTimeout 30\n"
                "<Directory />\n    Require all granted\n</Directory>\n%s%s"
                % (self.tmp, t(name + ".pid"), t(name + "-error.log"), t(name + "-run"),
                   t(name + "-run"), t(name + "-htdocs"),
                   "User nobody\nGroup nogroup\n" if IS_ROOT else "", m,
                   APACHE_THREADS, APACHE_THREADS, APACHE_THREADS, APACHE_THREADS, m, m, m,
                   "LoadModule drover_module %s\n" % APACHE_MODULE if module else "",
                   "".join("Listen 127.0.0.1:%d\n" % p for p in ports), vhosts))
        conf = t(name + ".conf")
        with open(conf, "w") as f:
            f.write(text)
        return conf

    def start_apache(self, name, vhosts, ports, module=False):
        if not os.path.exists("/usr/sbin/apache2"):
            raise RuntimeError("apache2 is not installed")
        if module and not os.path.exists(APACHE_MODULE):
            raise RuntimeError("%s is not built" % APACHE_MODULE)
        conf = self.apache_conf(name, vhosts, ports, module)
        out = sh("/usr/sbin/apache2 -t -d %s -f %s 2>&1" % (self.tmp, conf))
        if "Syntax OK" not in out:
            raise RuntimeError("apache2 -t: " + out.strip()[-400:])
        svc = self.service(name, ["/usr/sbin/apache2", "-d", self.tmp, "-f", conf, "-DFOREGROUND"],
                           self.path(name + ".out"))
        if not wait_for(lambda: all(tcp_ready(p) for p in ports), 10) or not svc.alive():
            raise RuntimeError("apache2 %s did not start: %s" % (name, svc.log_tail()))
        return svc

    @staticmethod
    def vhost(port, body):
        return "<VirtualHost 127.0.0.1:%d>\n%s</VirtualHost>\n" % (port, body)

    @staticmethod
    def server(port, body):
        return "    server {\n        listen 127.0.0.1:%d;\n%s    }\n" % (port, body)

    @staticmethod
    def fcgi_loc(upstream, extra=""):
        return ("        location / {\n            include /etc/nginx/fastcgi_params;\n"
                "%s            fastcgi_keep_conn on;\n            fastcgi_pass %s;\n"
                "        }\n" % (extra, upstream))
