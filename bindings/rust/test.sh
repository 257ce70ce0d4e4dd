#!/usr/bin/env bash
# Tests of the Rust crates (bindings/rust) against a built libgowt.so:
# cargo test (gowt-sys header check, gowt loopback tests), then the examples:
# the baton client against examples_c/gowt_baton's server, and the echo
# client against the echo server example.
# Usage: bindings/rust/test.sh [BUILD_DIR]   (default build/; needs
# BUILD_DIR/libgowt.so and BUILD_DIR/gowt_baton). Cargo's target directory is
# BUILD_DIR/cargo-target. Without cargo: exit 77 (skip), or failure when
# CI=true.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../../build}" && pwd)
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  if [[ "${CI:-}" == true ]]; then echo "rust: cargo is missing (CI=true)"; exit 1; fi
  echo "rust: SKIP, no cargo"; exit 77
fi
export GOWT_LIB_DIR="$build" CARGO_TARGET_DIR="$build/cargo-target"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cd "$here"
cargo --version
if cargo fmt --version >/dev/null 2>&1; then cargo fmt --all --check; fi
cargo test --locked
cargo build --locked --examples
ex="$CARGO_TARGET_DIR/debug/examples"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
tmp=$(mktemp -d)

# Starts a server in the background; prints its port (from "Listening on port N").
start_server() {
  local log=$1; shift
  "$@" >"$log" 2>"$log.err" &
  pids+=($!)
  for _ in $(seq 100); do
    if port=$(grep -o 'Listening on port [0-9]*' "$log" | awk '{print $4}') && [[ -n "$port" ]]; then
      echo "$port"; return 0
    fi
    sleep 0.1
  done
  echo "rust: server $* did not start" >&2; cat "$log.err" >&2; return 1
}

echo "== rust baton client against gowt_baton"
port=$(start_server "$tmp/baton" "$build/gowt_baton" -p 0 /baton)
for q in "count=1" "count=4" "baton=250&count=8"; do
  out=$(timeout 60 "$ex/baton" -T 30 127.0.0.1 "$port" "/baton?version=0&$q")
  echo "$out" | head -2
  grep -qx 'Final baton state: 6' <<<"$out"
  grep -qx 'Sub-protocol: devious-baton-00' <<<"$out"
  lanes=$(grep -c '^Lane .*last sent: 0x\(00\|ff\)' <<<"$out")
  want=$(sed -n 's/.*count=\([0-9]*\).*/\1/p' <<<"$q")
  [[ "$lanes" == "$want" ]] || { echo "rust: baton $q: $lanes of $want lanes finished"; echo "$out"; exit 1; }
done

echo "== rust echo client against the echo server example"
port=$(start_server "$tmp/echo" "$ex/echo_server" 0 /echo)
timeout 60 "$ex/echo_client" "https://127.0.0.1:$port/echo" 10000000
echo "rust: all passed"
