#!/bin/sh
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# make demo: nginx with TLS on https://127.0.0.1:8443 in front of droverd
# serving the model app (2 workers, preload on), with droverd's status page
# on /drover-status (127.0.0.1 only).  Prints a list of things to try, one
# command each.  Ctrl-C stops both, and so does closing the terminal.
#
# nginx loads build/ngx_http_drover_module.so and reaches droverd with
# drover_pass: no fastcgi_params, no upstream block, keepalive by default.
# Everything lives in build/demo: sockets, control socket, logs.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
dir="$build/demo"
port="${DROVER_DEMO_PORT:-8443}"

rm -rf "$dir"
mkdir -p "$dir/logs"
chmod 0755 "$dir"

openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/demo.key" -out "$dir/demo.crt" 2>/dev/null

# as root, the pool and nginx's workers run as nobody; nginx's workers
# reach the read-only status socket through nobody's group
user_line=""
nginx_user=""
status_group=""
if [ "$(id -u)" -eq 0 ]; then
    group=$(id -gn nobody)
    user_line="    user         nobody;"
    nginx_user="user nobody $group;"
    status_group=" group=$group"
fi

cat > "$dir/droverd.conf" <<CONF
log_level notice;
run_dir $dir;
control unix:$dir/droverd.ctl;
status_socket unix:$dir/status.sock mode=0660$status_group;

pool model {
    app          $build/apps/model.so;
    app_param    size 64M;
    listen       unix:$dir/model.sock mode=0660;
    workers      2;
    preload      on;
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
            drover_pass unix:$dir/model.sock;
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
until curl -ks -o /dev/null "https://127.0.0.1:$port/"; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$droverd_pid" 2>/dev/null \
            || ! kill -0 "$nginx_pid" 2>/dev/null; then
        echo "demo: did not come up; logs:" >&2
        cat "$dir/logs/droverd.log" "$dir/logs/nginx-error.log" >&2
        exit 1
    fi
    sleep 0.1
done

url="https://127.0.0.1:$port"
cat <<MSG

Drover demo: nginx (TLS, drover_pass) -> droverd, pool "model",
2 workers, preload on, 64 MiB generated once in init and shared by both.

  curl -k '$url/lookup?key=42'

Things to try, one command each (from any directory):

  The status page: open $url/drover-status in a browser on this
  machine (HTML, refreshed every 2 s), or as JSON / Prometheus text:
    curl -k '$url/drover-status?format=json'
    curl -k '$url/drover-status?format=prometheus'

  Workers live, redrawn every second (q quits):
    $build/droverctl -s $dir/droverd.ctl top

  Kill a worker under load: wrk shows no "Non-2xx" and no "Socket errors"
  line, and the status page shows the slot's new pid, 1 restart and
  "signal: killed by signal 9":
    wrk -t1 -c16 -d6s '$url/lookup?key=42' & sleep 2; kill -9 \$(awk '\$2 == "up" {print \$3; exit}' $dir/model.sock.slots); wait

  Reload under load (SIGHUP: a new generation replaces the workers one at
  a time; wrk again shows no failed request, the status page generation 2):
    wrk -t1 -c16 -d6s '$url/lookup?key=42' & sleep 2; kill -HUP $droverd_pid; wait

droverd log: $dir/logs/droverd.log
Press Ctrl-C to stop.
MSG

wait "$droverd_pid" || true
stop
