#!/usr/bin/env bash
# Session churn, long form: 100 000 sessions (or $1) against one server
# context, server RSS / heap / goroutines / descriptors sampled every
# 10 000 sessions, slope printed, end state checked against the first
# sample (within 10 %). Takes about 7 minutes on 2 cores.
# Usage: tests/churn/run.sh [sessions] [build dir]
set -euo pipefail
n=${1:-100000}
build=${2:-$(cd "$(dirname "$0")/../.." && pwd)/build}
exec "$build/churn" -sessions "$n" -every 10000
