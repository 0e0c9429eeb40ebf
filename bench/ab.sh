#!/bin/bash
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
#
# bench/ab.sh: interleaved A/B rounds of nginx front-end settings against one
# droverd (kit, 2 workers), with the nginx worker's CPU and context switches
# per request from /proc. For questions the full bench is too coarse for
# (bench/README.md, "The module's cost per request, profiled").
#
#   bench/ab.sh [ROUNDS [SECONDS [hello|post|big|slow [sched]]]]
#
# post: the bench's post16k (a 16 KiB body echoed); big: its 64k (GET
# /big?kb=64, a 64 KiB answer).
#
# slow: hello, with one GET /sleep?ms=300 always in flight beside it (a
# curl loop through the same row, bounded by the run's length), as the
# bench's "slow" dispatch row; the p99 is then the fast requests'.
#
# Rows, one nginx, one port each: b3 "drover_pipeline 3" (AB_B3 replaces
# its arguments, e.g. AB_B3="7 timeout=5ms"), b7 "drover_pipeline 7" (the
# default depth, the default window), boff "drover_pipeline off", c stock
# fastcgi_pass + keepalive 16 to droverd's shared socket. With "sched",
# every round runs the rows twice, the workers flipped between SCHED_OTHER
# and SCHED_BATCH with chrt. AB_PERF=DIR also records the nginx worker with
# perf during each measured run, into DIR/ROW-ROUND.data (perf report -i
# ...); the event is cpu-clock or AB_PERF_EVENT (sched:sched_waking, say).
# Needs a built tree (make), nginx, wrk (and curl for slow); as root the
# pool runs as nobody. Everything lives in a temp dir and is stopped by its
# own pid.

set -eu

ROUNDS=${1:-6}
SECS=${2:-3}
LOAD=${3:-hello}
FLIP=${4:-}

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${DROVER_BUILD:-$TOP/build}
BASE=${AB_PORT:-18181}

[ -x "$BUILD/droverd" ] && [ -f "$BUILD/ngx_http_drover_module.so" ] \
    || { echo "ab.sh: build first (make)" >&2; exit 1; }
command -v wrk > /dev/null || { echo "ab.sh: wrk is not installed" >&2; exit 1; }
case "$LOAD" in
    hello|post|big) ;;
    slow) command -v curl > /dev/null || { echo "ab.sh: slow needs curl" >&2; exit 1; } ;;
    *) echo "ab.sh: the load is hello, post, big or slow, not \"$LOAD\"" >&2; exit 1 ;;
esac
[ -z "$FLIP" ] || [ "$FLIP" = sched ] \
    || { echo "ab.sh: the 4th argument is sched or nothing, not \"$FLIP\"" >&2; exit 1; }
B3=${AB_B3:-3}
case "$B3" in
    *[!0-9a-z=\ ]*) echo "ab.sh: AB_B3 is drover_pipeline's arguments, e.g. \"7 timeout=5ms\"" >&2; exit 1 ;;
esac
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 50 ] && [ "$SECS" -ge 1 ] && [ "$SECS" -le 60 ] \
    || { echo "ab.sh: ROUNDS 1..50, SECONDS 1..60" >&2; exit 1; }

T=$(mktemp -d /tmp/drover-ab-XXXXXX)
chmod 755 "$T"
DPID=
NPID=

stop() {
    [ -n "$NPID" ] && kill -QUIT "$NPID" 2> /dev/null || true
    [ -n "$DPID" ] && kill -TERM "$DPID" 2> /dev/null && wait "$DPID" 2> /dev/null || true
    rm -rf "$T"
}
trap stop EXIT

USER_LINE=
[ "$(id -u)" = 0 ] && USER_LINE="user nobody;"

cat > "$T/droverd.conf" <<EOF
control unix:$T/droverd.ctl;
run_dir $T;
pool kit {
    app     $BUILD/apps/kit.so;
    listen  unix:$T/kit.sock mode=0666;
    $USER_LINE
    workers 2;
}
EOF

cat > "$T/nginx.conf" <<EOF
load_module $BUILD/ngx_http_drover_module.so;
worker_processes 1;
daemon off;
error_log $T/error.log notice;
pid $T/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_buffer_size 64k;
    client_body_temp_path $T/tmp;
    fastcgi_temp_path $T/tmp;
    proxy_temp_path $T/tmp;
    fastcgi_buffer_size 16k;
    fastcgi_buffers 8 16k;
    drover_buffer_size 16k;
    drover_buffers 8 16k;
    upstream shared { server unix:$T/kit.sock; keepalive 16; }
    server {
        listen 127.0.0.1:$BASE;
        location / { drover_pipeline $B3; drover_pass unix:$T/kit.sock; }
    }
    server {
        listen 127.0.0.1:$((BASE + 1));
        location / { drover_pipeline 7; drover_pass unix:$T/kit.sock; }
    }
    server {
        listen 127.0.0.1:$((BASE + 2));
        location / { drover_pipeline off; drover_pass unix:$T/kit.sock; }
    }
    server {
        listen 127.0.0.1:$((BASE + 3));
        location / {
            fastcgi_pass shared;
            fastcgi_keep_conn on;
            include /etc/nginx/fastcgi_params;
        }
    }
}
EOF

cat > "$T/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = string.rep("x", 16384)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF

"$BUILD/droverd" -c "$T/droverd.conf" > "$T/droverd.log" 2>&1 &
DPID=$!
/usr/sbin/nginx -c "$T/nginx.conf" > "$T/nginx.out" 2>&1 &
NPID=$!

for _ in $(seq 1 100); do
    [ -e "$T/kit.sock.slots" ] && [ "$(grep -c ' up ' "$T/kit.sock.slots")" = 2 ] \
        && [ -n "$(pgrep -P "$NPID" || true)" ] && break
    sleep 0.1
done

NW=$(pgrep -P "$NPID" | head -1)
WORKERS=$(awk '/ up /{print $3}' "$T/kit.sock.slots" 2> /dev/null || true)
[ -n "$NW" ] && [ -n "$WORKERS" ] \
    || { echo "ab.sh: nginx or droverd did not start:" >&2; cat "$T"/*.log "$T/nginx.out" >&2; exit 1; }

switches() { awk '/^voluntary_ctxt/{v=$2}/^nonvoluntary_ctxt/{n=$2}END{print v, n}' "/proc/$NW/status"; }
ticks() { awk '{print $14 + $15}' "/proc/$NW/stat"; }
# the droverd workers' ticks; a worker gone since the start (a crash, a
# recycle) counts no more, rather than stopping the script
wticks() {
    local p n t=0
    for p in $WORKERS; do
        n=$(awk '{print $14 + $15}' "/proc/$p/stat" 2> /dev/null || true)
        t=$((t + ${n:-0}))
    done
    echo $t
}
HZ=$(getconf CLK_TCK)

echo "# b3 is \"drover_pipeline $B3\""
echo "# round policy row req/s p99 | nginx worker per 1000 requests: voluntary, involuntary switches | nginx CPU us per request | droverd workers' CPU us per request"

run_row() {
    local round=$1 policy=$2 name=$3 port=$4 args out n v0 n0 c0 w0 v1 n1 c1 w1 p99

    if [ "$LOAD" = post ]; then
        args="-s $T/post.lua http://127.0.0.1:$port/echo"
    elif [ "$LOAD" = big ]; then
        args="http://127.0.0.1:$port/big?kb=64"
    else
        args="http://127.0.0.1:$port/"
    fi

    wrk -t1 -c16 -d1s $args > /dev/null
    read -r v0 n0 < <(switches)
    c0=$(ticks)
    w0=$(wticks)
    local perf=
    if [ -n "${AB_PERF:-}" ]; then
        perf record -q -g -e "${AB_PERF_EVENT:-cpu-clock}" -p "$NW" -o "$AB_PERF/$name-$round.data" \
            -- sleep "$SECS" > /dev/null 2>&1 &
        perf=$!
    fi
    local slow=
    if [ "$LOAD" = slow ]; then
        (end=$((SECONDS + SECS + 1))
         while [ "$SECONDS" -lt "$end" ]; do
             curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$port/sleep?ms=300" || break
         done) &
        slow=$!
    fi
    out=$(wrk -t1 -c16 -d"${SECS}s" --latency $args)
    [ -z "$slow" ] || wait "$slow" || true
    [ -z "$perf" ] || wait "$perf" || true
    read -r v1 n1 < <(switches)
    c1=$(ticks)
    w1=$(wticks)

    n=$(echo "$out" | awk '/requests in/{print $1}')
    p99=$(echo "$out" | awk '/ 99%/{print $2}')
    [ -n "$n" ] && [ "$n" -gt 0 ] || { echo "$round $policy $name: no requests"; return; }

    echo "$round $policy $name $((n / SECS)) $p99 | $(((v1 - v0) * 1000 / n)) $(((n1 - n0) * 1000 / n)) | $(awk -v t=$((c1 - c0)) -v n="$n" -v hz="$HZ" 'BEGIN{printf "%.1f", t * 1e6 / hz / n}') | $(awk -v t=$((w1 - w0)) -v n="$n" -v hz="$HZ" 'BEGIN{printf "%.1f", t * 1e6 / hz / n}')"
}

for r in $(seq 1 "$ROUNDS"); do
    for policy in ${FLIP:+other} batch; do
        if [ -n "$FLIP" ]; then
            for p in $WORKERS; do chrt "$([ $policy = other ] && echo -o || echo -b)" -p 0 "$p"; done
        else
            policy=default
        fi
        run_row "$r" $policy b3 "$BASE"
        run_row "$r" $policy b7 $((BASE + 1))
        run_row "$r" $policy boff $((BASE + 2))
        run_row "$r" $policy c $((BASE + 3))
        [ -z "$FLIP" ] && break
    done
done
