#!/usr/bin/env bash
# Hostile peers, long form: every attack for 20 s (or $1), 5 baton games
# during each. Prints the table of cmd/hostile (setup latency of the games
# beside the undisturbed one, server RSS before / max / after).
# Usage: tests/hostile/run.sh [duration] [build dir]
set -euo pipefail
dur=${1:-20s}
build=${2:-$(cd "$(dirname "$0")/../.." && pwd)/build}
exec "$build/hostile" -baton "$build/gowt_baton" -duration "$dur" -games 5 -settle 2s
