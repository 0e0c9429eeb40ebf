#!/bin/sh
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Build the Debian packages (debian/) into OUT_DIR with dpkg-buildpackage,
# from a copy of the tree, then lint them: any lintian error or warning fails.
#
#   scripts/build-deb.sh [OUT_DIR]      (make deb: build/deb)
#
# The copy leaves the work tree as it is (no debian/ build files in it) and
# lets dpkg-buildpackage write its results next to the copy, in OUT_DIR.  A
# build is skipped when the copied tree is the one the packages were built
# from (same content hash) and they are all still there.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$top/build/deb}")
cd "$top"

version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
debs="libnginx-mod-http-drover_${version}_$arch.deb droverd_${version}_$arch.deb
      libapache2-mod-drover_${version}_$arch.deb drover-dev_${version}_all.deb"

# the tree as packaged: no build outputs, git files, fuzzing or benchmarks
tree_tar() {
    tar -C "$top" --exclude=./build --exclude=./.git --exclude=./fuzz \
        --exclude=./bench --exclude='*.o' \
        --exclude='*.so' --sort=name --owner=0 --group=0 --numeric-owner \
        "$@" -cf - .
}

# by content: a touched file or a fresh clone is no change
hash=$(tree_tar --mtime=@0 | sha256sum | cut -d' ' -f1)
fresh=yes
for deb in $debs; do
    [ -f "$out/$deb" ] || fresh=no
done
if [ $fresh = yes ] && [ "$(cat "$out/.tree-hash" 2>/dev/null)" = "$hash" ]; then
    echo "deb: $out is up to date (drover $version)"
    exit 0
fi

rm -rf "$out"
src="$out/src/drover-$version"
mkdir -p "$src"
tree_tar | tar -C "$src" -xf -

# a make above us (make test, make SAN=1 ...) must not pass its variables
# down to debian/rules: the packages are built with Debian's flags only
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

echo "deb: dpkg-buildpackage -b -us -uc in $src (log: $out/build.log)"
if ! (cd "$src" && dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1; then
    tail -40 "$out/build.log" >&2
    echo "deb: the build failed; see $out/build.log" >&2
    exit 1
fi

# dpkg-buildpackage writes next to the tree: bring the results up
for f in "$out"/src/*_"$version"_*; do
    mv "$f" "$out/"
done
rm -rf "$out/src"

changes="$out/drover_${version}_$arch.changes"
echo "deb: lintian $changes"
if ! lintian --fail-on error,warning --display-info --pedantic \
        "$changes" >"$out/lintian.txt" 2>&1; then
    cat "$out/lintian.txt" >&2
    echo "deb: lintian reports errors or warnings (above; $out/lintian.txt)" >&2
    exit 1
fi
cat "$out/lintian.txt"

printf '%s\n' "$hash" >"$out/.tree-hash"
ls -l "$out"/*.deb
