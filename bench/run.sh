#!/bin/sh
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# bench/run.sh -- `make bench`: install what the bench needs, then run it.
# Packages come from Debian only (scripts/deps.sh: apt-get what is missing).
# A package that cannot be installed only costs its row ("not available").
set -u
cd "$(dirname "$0")/.."

# php-fpm: Debian's php8.x-fpm depends on php8.x-opcache
PKGS="wrk nginx gcc spawn-fcgi libfcgi-dev libfcgi-bin php-fpm
      python3 python3-fastapi python3-uvicorn python3-uvloop python3-httptools gunicorn
      linux-perf valgrind strace"

# shellcheck disable=SC2086
if ! ./scripts/deps.sh $PKGS; then
    echo "bench: installing all at once failed; trying one by one" >&2
    for p in $PKGS; do
        ./scripts/deps.sh "$p" || echo "bench: $p not installed; its row will say so" >&2
    done
fi

exec /usr/bin/python3 bench/bench.py "$@"
