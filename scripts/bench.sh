#!/usr/bin/env bash
# Runs the same WebTransport workloads through gowt's C API (bench/gowt_bench)
# and directly on webtransport-go (cmd/wtbench-go), and prints a Markdown
# table on stdout: workload | gowt | pure Go | ratio | target | met?
#
#   scripts/bench.sh [--short] [--runs N] [--style callback|thread]
#
# --runs N runs both sides N times (alternating) and reports the median of
# each row: the numbers are noisy on a small shared box.
# --style picks the shape of the C program (gowt_bench -style): callback
# (default; the hot loops run inside gowt's callbacks) or thread (the main
# thread does every step and is woken by the callbacks; kept to compare).
#
# Environment:
#   GOWT_BUILD            build directory (default: build-bench); configured
#                         here (Release, Ninja) if it does not exist yet
#   GOWT_BENCH_NO_BUILD=1 build nothing; use $GOWT_BUILD/libgowt.so,
#                         $GOWT_BUILD/wtbench-go and the gowt_bench binary
#   GOWT_BENCH_EXE        the gowt_bench binary (default: found in $GOWT_BUILD)
#   GOWT_BENCH_KEEP=DIR   keep the raw JSON lines in DIR
#
# Both programs print human-readable lines on stderr as they go.
# Exit status: 0 when everything ran, even if targets are missed (the table
# says which); non-zero when a build or a workload failed to run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SHORT=()
RUNS=1
STYLE=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --short|-short) SHORT=(-short) ;;
    --runs) RUNS=${2:-}; shift ;;
    --runs=*) RUNS=${1#--runs=} ;;
    --style) STYLE=(-style "${2:-}"); shift ;;
    --style=*) STYLE=(-style "${1#--style=}") ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --runs needs a positive number" >&2; exit 2; }
if [[ ${#STYLE[@]} -gt 0 && ! "${STYLE[1]}" =~ ^(callback|thread)$ ]]; then
  echo "bench.sh: --style needs callback or thread" >&2; exit 2
fi

B=${GOWT_BUILD:-$ROOT/build-bench}
case "$B" in /*) ;; *) B=$ROOT/$B ;; esac

# --- Build --------------------------------------------------------------------
find_bench_exe() {
  if [[ -n "${GOWT_BENCH_EXE:-}" ]]; then echo "$GOWT_BENCH_EXE"; return; fi
  for f in "$B/bench/gowt_bench" "$B/gowt_bench"; do
    if [[ -x "$f" ]]; then echo "$f"; return; fi
  done
  echo "$B/gowt_bench"
}

if [[ "${GOWT_BENCH_NO_BUILD:-0}" != 1 ]]; then
  {
    if [[ ! -f "$B/CMakeCache.txt" ]]; then
      gen=()
      command -v ninja >/dev/null && gen=(-G Ninja)
      cmake -S "$ROOT" -B "$B" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DGOWT_CGOCHECK2=OFF
    fi
    cmake --build "$B" --target gowt_go
    # bench/CMakeLists.txt, once the top level adds it, builds gowt_bench and
    # wtbench-go itself; until then, build them here.
    if cmake --build "$B" --target help 2>/dev/null | grep -qw gowt_bench; then
      cmake --build "$B" --target gowt_bench
    else
      ${CC:-cc} -O2 -std=c99 -Wall -Wextra -Werror -pedantic -I"$ROOT/include" \
        "$ROOT/bench/gowt_bench.c" -L"$B" -lgowt -lpthread -Wl,-rpath,"$B" \
        -o "$B/gowt_bench"
    fi
    if cmake --build "$B" --target help 2>/dev/null | grep -qw wtbench_go; then
      cmake --build "$B" --target wtbench_go
    else
      go build -C cmd/wtbench-go -o "$B/wtbench-go" .  # a module of its own
    fi
  } >&2
fi
BENCH=$(find_bench_exe)
GOBENCH=$B/wtbench-go
for f in "$BENCH" "$GOBENCH"; do
  [[ -x "$f" ]] || { echo "bench.sh: $f not found (build failed?)" >&2; exit 1; }
done

# --- Run ----------------------------------------------------------------------
OUT=${GOWT_BENCH_KEEP:-}
if [[ -n "$OUT" ]]; then mkdir -p "$OUT"; else OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT; fi
: >"$OUT/go.jsonl"
: >"$OUT/gowt.jsonl"

# idle_mem runs in a process of its own on both sides, so that memory the
# Go runtime kept from earlier workloads does not hide (or add to) its growth.
MAIN_GO=upload,download,streams100,datagrams,setup_seq,setup_conc8,setup_shared
MAIN_C=$MAIN_GO,setup_seq_full,events_cb,events_poll
failed=0
run() { # file command...
  local f=$1; shift
  if ! "$@" >>"$f"; then
    echo "bench.sh: FAILED: $*" >&2
    failed=1
  fi
}
for ((i = 1; i <= RUNS; i++)); do
  [[ $RUNS -gt 1 ]] && echo "bench.sh: run $i of $RUNS" >&2
  run "$OUT/go.jsonl" "$GOBENCH" "${SHORT[@]}" -w "$MAIN_GO"
  run "$OUT/go.jsonl" "$GOBENCH" "${SHORT[@]}" -w idle_mem
  run "$OUT/gowt.jsonl" "$BENCH" "${SHORT[@]}" "${STYLE[@]}" -w "$MAIN_C"
  run "$OUT/gowt.jsonl" "$BENCH" "${SHORT[@]}" "${STYLE[@]}" -w idle_mem
done

# --- Table --------------------------------------------------------------------
MODE=full
[[ ${#SHORT[@]} -gt 0 ]] && MODE=short
SHAPE=${STYLE[1]:-callback}
python3 - "$OUT/gowt.jsonl" "$OUT/go.jsonl" "$MODE" "$RUNS" "$SHAPE" <<'EOF' || failed=1
import json, statistics, sys

def load(path):
    """workload key -> values, one per run, in run order"""
    res = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            key = r["workload"]
            if key == "datagrams":
                key = "datagrams %s" % ("unpaced" if r.get("rate", 0) == 0 else "%d/s" % r["rate"])
            res.setdefault(key, []).append(r["value"])
    return res

gowt_runs, go_runs = load(sys.argv[1]), load(sys.argv[2])
gowt = {k: statistics.median(v) for k, v in gowt_runs.items()}
go = {k: statistics.median(v) for k, v in go_runs.items()}
mode, runs = sys.argv[3], int(sys.argv[4])
shape = sys.argv[5]
DASH = "\u2014"

def fmt(v, dec):
    return DASH if v is None else "%.*f" % (dec, v)

def val(res, key, scale=1.0):
    v = res.get(key)
    return None if v is None else v * scale

# A gowt workload compared with a Go one of another name: setup_seq_full
# (gowt without TLS resumption) against Go's setup_seq (full handshakes).
GO_KEY = {"setup_seq_full": "setup_seq"}

def run_ratios(key):
    """gowt / Go per run: each gowt run follows its Go run, so the pair saw
    the same state of a shared machine; [] unless both have every run."""
    g, o = gowt_runs.get(key, []), go_runs.get(GO_KEY.get(key, key), [])
    if len(g) != len(o) or len(g) < 2 or not all(o):
        return []
    return [a / b for a, b in zip(g, o)]

rows = []  # (label, gowt, go, decimals, ratio_kind, target text, met function)
for w in ("upload", "download", "streams100"):
    rows.append((w + " (MB/s)", w, 1.0, 1, "ratio", ">= 0.95 x Go", lambda g, o, r: r >= 0.95))
for rate in ("unpaced", "10000/s", "20000/s", "40000/s"):
    key = "datagrams " + rate
    if rate == "20000/s":
        rows.append((key + " (% delivered)", key, 100.0, 1, "ratio", ">= 99 % (absolute)",
                     lambda g, o, r: g >= 99.0))
    else:
        rows.append((key + " (% delivered)", key, 100.0, 1, "ratio", "info", None))
for w in ("setup_seq", "setup_conc8", "setup_shared"):
    rows.append((w + " (sessions/s)", w, 1.0, 1, "ratio", ">= 0.9 x Go", lambda g, o, r: r >= 0.9))
rows.append(("setup_seq_full (sessions/s, no resumption)", "setup_seq_full", 1.0, 1, "ratio",
             ">= 0.9 x Go", lambda g, o, r: r >= 0.9))
rows.append(("idle_mem (KB/session)", "idle_mem", 1.0, 1, "ratio", "<= Go + 10 KB",
              lambda g, o, r: g <= o + 10.0))
for w in ("events_cb", "events_poll"):
    rows.append((w + " (events/s)", w, 1.0, 0, None, ">= 5000000/s (absolute)",
                 lambda g, o, r: g >= 5e6))

print("gowt (C API, %s style) vs pure webtransport-go, %s run, %s%s" % (shape, mode,
      "sizes and durations / 10" if mode == "short" else "full sizes",
      ", median of %d runs" % runs if runs > 1 else ""))
if runs > 1:
    print()
    print("ratio: median of the per-run ratios (each gowt run right after its Go run); "
          "gowt and pure Go columns: medians.")
print()
spread = []
print("| workload | gowt | pure Go | ratio | target | met? |")
print("|---|---:|---:|---:|---|---|")
for label, key, scale, dec, kind, target, met in rows:
    g, o = val(gowt, key, scale), val(go, GO_KEY.get(key, key), scale)
    ratio = None
    if kind and g is not None and o:
        per_run = run_ratios(key)
        ratio = statistics.median(per_run) if per_run else g / o
        if per_run and "x Go" in target:
            spread.append("%s %s" % (key, "/".join("%.2f" % x for x in per_run)))
    if met is None:
        m = DASH
    elif g is None or (kind and o is None):
        m = "n/a"
    else:
        m = "yes" if met(g, o, ratio) else "**no**"
    print("| %s | %s | %s | %s | %s | %s |" % (label, fmt(g, dec),
          fmt(o, dec) if kind else DASH, fmt(ratio, 2), target, m))
if spread:
    print()
    print("per-run ratios: " + "; ".join(spread) + ".")
if "setup_seq" in gowt and "setup_seq_full" in gowt:
    print()
    print("TLS resumption (gowt's default since 0.2.0): setup_seq %.1f sessions/s resumed vs "
          "%.1f with full handshakes (%.2fx); the Go side does full handshakes."
          % (gowt["setup_seq"], gowt["setup_seq_full"], gowt["setup_seq"] / gowt["setup_seq_full"]))
if "idle_mem" in gowt and "idle_mem" in go:
    print()
    print("idle_mem: %s sessions, one connection each, client and server in one process "
          "(the Go side forces a GC before reading RSS; the C API cannot)."
          % ("100" if mode == "short" else "1000"))
EOF
exit $failed
