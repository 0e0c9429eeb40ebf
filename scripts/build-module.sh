#!/bin/bash
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Build ngx_http_drover_module.so against Debian's nginx-dev sources
# (/usr/share/nginx/src), with the configure flags Debian's nginx was built
# with (conf_flags), so /usr/sbin/nginx accepts it with load_module.
#
#   scripts/build-module.sh BUILD_DIR [NGINX_SRC]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "$1")
src=${2:-/usr/share/nginx/src}
tree="$build/nginx-src"
extra_cflags=${DROVER_NGX_CFLAGS:-}
extra_ldflags=${DROVER_NGX_LDFLAGS:-}

flags=(--with-compat)
if [ -f "$src/conf_flags" ]; then
    # shellcheck disable=SC1091
    . "$src/conf_flags"
    flags=("${NGX_CONF_FLAGS[@]}")
fi

stamp="$tree/.drover-configured"
want="$(printf "%s\n" "${flags[@]}" "$extra_cflags" "$extra_ldflags" "$top"; cat "$top/config"; ls "$top"/ngx_module)"

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    rm -rf "$tree"
    mkdir -p "$tree"
    cp -a "$src/." "$tree/"
    (cd "$tree" && ./configure "${flags[@]}" \
        --with-cc-opt="-g -O2 -Wall -Wextra -Werror $extra_cflags" \
        --with-ld-opt="$extra_ldflags" \
        --add-dynamic-module="$top" >"$build/nginx-configure.log" 2>&1) || {
        echo "build-module: nginx configure failed; see $build/nginx-configure.log" >&2
        tail -20 "$build/nginx-configure.log" >&2
        exit 1
    }
    printf '%s' "$want" >"$stamp"
fi

make -C "$tree" -f objs/Makefile modules >"$build/nginx-make.log" 2>&1 || {
    echo "build-module: building the module failed; see $build/nginx-make.log" >&2
    grep -E 'error|warning' "$build/nginx-make.log" >&2 | head -40 || true
    exit 1
}

# a new file renamed over the old: an nginx that has the old one mapped
# keeps its copy (overwriting it in place crashes that nginx on reload)
cp "$tree/objs/ngx_http_drover_module.so" "$build/.ngx_http_drover_module.so.new"
mv -f "$build/.ngx_http_drover_module.so.new" "$build/ngx_http_drover_module.so"
