#!/bin/sh
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Install the Debian packages named as arguments that are not installed yet.
# Uses apt-get as root, or through sudo; says what to do otherwise.
set -eu

missing=""
for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null \
            | grep -q 'install ok installed'; then
        missing="$missing $pkg"
    fi
done

[ -z "$missing" ] && exit 0

echo "deps: installing missing Debian packages:$missing"

if [ "$(id -u)" -eq 0 ]; then
    run=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    run="sudo"
else
    echo "deps: these packages are missing:$missing" >&2
    echo "deps: run as root, or install them: apt-get install$missing" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$run apt-get update -qq
# shellcheck disable=SC2086
$run apt-get install -y -qq --no-install-recommends $missing
