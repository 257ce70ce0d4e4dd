#!/usr/bin/env bash
# API misuse under threads, long form: gowt_misuse for 60 s (or $1 s) on the
# plain library, then gowt_misuse_asan on the -asan library (see
# CMakeLists.txt here for the sanitizer options). CTest runs 15 s of each.
# Usage: tests/misuse/run.sh [seconds] [build dir]
set -euo pipefail
secs=${1:-60}
build=${2:-$(cd "$(dirname "$0")/../.." && pwd)/build}
"$build/tests/misuse/gowt_misuse" "$secs"
if [ -x "$build/tests/misuse/gowt_misuse_asan" ]; then
  LD_LIBRARY_PATH="$build/asan" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$build/tests/misuse/gowt_misuse_asan" "$secs"
fi
