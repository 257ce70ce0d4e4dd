#!/usr/bin/env bash
# The demo: builds gowt, starts the C baton server on a free loopback port,
# plays a devious-baton game against it with the C baton client, and shows
# the client's result.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target gowt_baton
log=$(mktemp)
build/gowt_baton -p 0 '*' >"$log" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q '^Listening on port' "$log" && break; sleep 0.1; done
port=$(sed -n 's/^Listening on port \([0-9]*\).*/\1/p' "$log")
[[ -n "$port" ]] || { cat "$log"; echo "server did not start"; exit 1; }
echo "== server"; cat "$log"
echo "== client: gowt_baton 127.0.0.1 $port \"/baton?version=0&baton=5&count=4\""
build/gowt_baton 127.0.0.1 "$port" "/baton?version=0&baton=5&count=4"
