#!/bin/sh
# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Run the fuzz targets named as arguments (fuzz/README.md):
#
#   1. replay fuzz/regressions/TARGET/* once each (no fuzzing): every input
#      that once crashed must run clean;
#   2. fuzz for FUZZ_SECONDS from fuzz/corpus/TARGET (read only) and
#      FUZZ_BUILD/corpus/TARGET (where new inputs go).
#
# Exits non-zero at the first target that crashes, leaks, times out or
# breaks its harness's contract; its log and the crashing input's path
# are printed.  Each target prints one summary line: runs, exec/s, cov, ft.
set -u

build=${FUZZ_BUILD:-build/fuzz}
seconds=${FUZZ_SECONDS:-30}
here=$(cd "$(dirname "$0")" && pwd)

case $seconds in
    ''|*[!0-9]*) echo "fuzz: FUZZ_SECONDS must be a whole number, got \"$seconds\"" >&2
                 exit 2 ;;
esac

# ASan's leak checker is on: a leak is a failure, like a crash
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS

mkdir -p "$build/logs" "$build/artifacts"

fail=0

for t in "$@"; do
    bin="$build/$t"
    log="$build/logs/$t.log"
    regr="$here/regressions/$t"

    # 1. regressions: the binary runs each file given once, no fuzzing
    if [ -d "$regr" ] && [ -n "$(ls -A "$regr" 2>/dev/null)" ]; then
        if ! "$bin" -runs=1 "$regr"/* </dev/null >"$log.regressions" 2>&1; then
            echo "fuzz: $t: a regression input crashes again:" >&2
            tail -40 "$log.regressions" >&2
            fail=1
            break
        fi
        echo "fuzz: $t: $(ls "$regr" | wc -l) regression input(s) pass"
    fi

    # 2. fuzzing; stdin is /dev/null so no target can block on it
    mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
    touch "$build/artifacts/$t/.started"
    dict=
    [ -f "$here/dict/$t.dict" ] && dict="-dict=$here/dict/$t.dict"
    # shellcheck disable=SC2086
    if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" \
            $dict "$build/corpus/$t" "$here/corpus/$t" </dev/null >"$log" 2>&1
    then
        echo "fuzz: $t: FAILED; the last lines of $log:" >&2
        tail -60 "$log" >&2
        echo "fuzz: $t: input(s) of this run:" \
            $(find "$build/artifacts/$t" -type f -newer "$build/artifacts/$t/.started") >&2
        echo "fuzz: make each one a regression: fuzz/README.md" >&2
        fail=1
        break
    fi

    # the last status line ("#N DONE cov: ... ft: ... exec/s: ...")
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $t: ${seconds}s, $runs runs; $last"
done

exit $fail
