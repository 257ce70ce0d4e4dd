#!/usr/bin/env bash
# Runs every test of gowt: Go formatting and vet, Go tests with the race
# detector, then the C library build (normal and cgocheck2) and all CTest
# tests (C API, interop with webtransport-go, baton, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh browser

echo "== gofmt / go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n "$unformatted" ]]; then echo "gofmt needed: $unformatted"; exit 1; fi
go vet ./...

echo "== go test -race"
go test -race -count=1 ./...
# --- nested Go modules (cmd/wtpeer, cmd/wtbench-go: webtransport-go pinned
# to the quic-go it builds with). The root's ./... skips them.
for m in cmd/wtpeer cmd/wtbench-go; do
  (cd "$m" && go vet ./... && go test -race -count=1 ./...)
done
# --- end nested Go modules

# The FIN check counts frames in a qlog, the isolation check throughput:
# run them at full speed too (under the race detector the first allows a
# small rate, the second only logs; see the tests).
echo "== FIN on the last frame and session isolation, normal build"
go test -count=1 -run 'TestFinOnLastDataFrame|TestSessionsIsolatedOnSharedConnection' ./core/

echo "== fuzz targets, short form (scripts/fuzz.sh --long for the long one)"
scripts/fuzz.sh --short

echo "== C build and CTest"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build

# --- Rust crates (bindings/rust), before CTest so that CTest's summary is
# the last line: cargo test against build/libgowt.so, the
# baton client against gowt_baton, the echo examples. Needs cargo (a failure
# under CI=true, a skip otherwise). ---
echo "== Rust crates (bindings/rust)"
rc=0; bindings/rust/test.sh build || rc=$?
if ((rc == 77)); then echo "rust: skipped (no cargo)"; elif ((rc != 0)); then exit "$rc"; fi
# --- end Rust crates ---

ctest --test-dir build --output-on-failure -j2 "$@"

