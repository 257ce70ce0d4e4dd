#!/usr/bin/env bash
# Runs the same WebTransport workloads through gowt's C API (bench/gowt_bench),
# directly on webtransport-go (cmd/wtbench-go), on wtransport (Rust, quinn;
# bench/wtransport) and, for the throughput workloads and idle_mem, on plain
# quic-go (bench/quicgo), and prints Markdown tables on stdout:
#   workload | gowt | pure Go | wtransport | quic-go | gowt/Go | gowt/wt | target | met?
# and CPU seconds per GB for the throughput workloads.
#
#   scripts/bench.sh [--short] [--runs N] [--style callback|thread]
#
# --runs N runs every program N times (per run: Go, wtransport, quic-go,
# then gowt, so each gowt run follows its peers') and reports medians; the
# ratios are medians of the per-run ratios: the numbers are noisy on a
# small shared box.
# --style picks the shape of the C program (gowt_bench -style): callback
# (default; the hot loops run inside gowt's callbacks) or thread (the main
# thread does every step and is woken by the callbacks; kept to compare).
#
# Environment:
#   GOWT_BUILD            build directory (default: build-bench); configured
#                         here (Release, Ninja) if it does not exist yet
#   GOWT_BENCH_NO_BUILD=1 build nothing; use $GOWT_BUILD/libgowt.so,
#                         $GOWT_BUILD/wtbench-go, $GOWT_BUILD/quicgo,
#                         $GOWT_BUILD/wtbench-wtransport and gowt_bench
#   GOWT_BENCH_EXE        the gowt_bench binary (default: found in $GOWT_BUILD)
#   GOWT_BENCH_KEEP=DIR   keep the raw JSON lines in DIR
#
# The wtransport column needs cargo (Rust >= 1.88, for wtransport 0.7): it
# is built with CARGO_BUILD_JOBS=2 into $GOWT_BUILD/cargo-target. Without
# cargo the column is skipped with a note, except under CI=true, where that
# is a failure.
#
# Every program prints human-readable lines on stderr as it goes.
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
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
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
    if cmake --build "$B" --target help 2>/dev/null | grep -qw bench_quicgo; then
      cmake --build "$B" --target bench_quicgo
    else
      go build -o "$B/quicgo" ./bench/quicgo  # in the root module
    fi
    CARGO=$(command -v cargo || true)
    [[ -z "$CARGO" && -x "$HOME/.cargo/bin/cargo" ]] && CARGO=$HOME/.cargo/bin/cargo
    if [[ -n "$CARGO" ]]; then
      if cmake --build "$B" --target help 2>/dev/null | grep -qw wtbench_wtransport; then
        cmake --build "$B" --target wtbench_wtransport
      else
        CARGO_BUILD_JOBS=2 CARGO_TARGET_DIR="$B/cargo-target" "$CARGO" build --release --locked \
          --manifest-path "$ROOT/bench/wtransport/Cargo.toml"
        cp "$B/cargo-target/release/wtbench-wtransport" "$B/wtbench-wtransport"
      fi
    fi
  } >&2
fi
BENCH=$(find_bench_exe)
GOBENCH=$B/wtbench-go
QGBENCH=$B/quicgo
WTBENCH=$B/wtbench-wtransport
for f in "$BENCH" "$GOBENCH" "$QGBENCH"; do
  [[ -x "$f" ]] || { echo "bench.sh: $f not found (build failed?)" >&2; exit 1; }
done
WT_NOTE=""
if [[ ! -x "$WTBENCH" ]]; then
  if [[ "${CI:-}" == true ]]; then
    echo "bench.sh: $WTBENCH not found: the wtransport column needs cargo (Rust >= 1.88); under CI=true that is a failure" >&2
    exit 1
  fi
  WT_NOTE="wtransport column skipped: $WTBENCH not found (cargo missing? it needs Rust >= 1.88)"
  echo "bench.sh: $WT_NOTE" >&2
fi

# --- Run ----------------------------------------------------------------------
OUT=${GOWT_BENCH_KEEP:-}
if [[ -n "$OUT" ]]; then mkdir -p "$OUT"; else OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT; fi
: >"$OUT/go.jsonl"
: >"$OUT/gowt.jsonl"
: >"$OUT/wt.jsonl"
: >"$OUT/quicgo.jsonl"

# idle_mem runs in a process of its own on every side, so that memory the
# runtime kept from earlier workloads does not hide (or add to) its growth.
MAIN_GO=upload,download,streams100,datagrams,setup_seq,setup_conc8,setup_shared
MAIN_WT=upload,download,streams100,datagrams,setup_seq,setup_conc8  # no setup_shared: one session per connection
MAIN_C=$MAIN_GO,setup_seq_full,events_cb,events_poll
failed=0
run() { # file command...
  local f=$1; shift
  if ! "$@" >>"$f"; then
    echo "bench.sh: FAILED: $*" >&2
    failed=1
  fi
}
# The throughput workloads again with gowt_stream_send_nocopy (the
# caller's buffer queued in place), as workloads NAME_nocopy.
nocopy_run() {
  "$BENCH" "${SHORT[@]}" "${STYLE[@]}" -send nocopy -w upload,download,streams100 |
    sed -E 's/"workload":"([a-z0-9]+)"/"workload":"\1_nocopy"/'
}
for ((i = 1; i <= RUNS; i++)); do
  [[ $RUNS -gt 1 ]] && echo "bench.sh: run $i of $RUNS" >&2
  run "$OUT/go.jsonl" "$GOBENCH" "${SHORT[@]}" -w "$MAIN_GO"
  run "$OUT/go.jsonl" "$GOBENCH" "${SHORT[@]}" -w idle_mem
  if [[ -z "$WT_NOTE" ]]; then
    run "$OUT/wt.jsonl" "$WTBENCH" "${SHORT[@]}" -w "$MAIN_WT"
    run "$OUT/wt.jsonl" "$WTBENCH" "${SHORT[@]}" -w idle_mem
  fi
  run "$OUT/quicgo.jsonl" "$QGBENCH" "${SHORT[@]}" -w upload,download,streams100
  run "$OUT/quicgo.jsonl" "$QGBENCH" "${SHORT[@]}" -w idle_mem
  run "$OUT/gowt.jsonl" "$BENCH" "${SHORT[@]}" "${STYLE[@]}" -w "$MAIN_C"
  run "$OUT/gowt.jsonl" "$BENCH" "${SHORT[@]}" "${STYLE[@]}" -w idle_mem
  run "$OUT/gowt.jsonl" nocopy_run
done

# --- Table --------------------------------------------------------------------
MODE=full
[[ ${#SHORT[@]} -gt 0 ]] && MODE=short
SHAPE=${STYLE[1]:-callback}
python3 - "$OUT" "$MODE" "$RUNS" "$SHAPE" "$WT_NOTE" <<'EOF' || failed=1
import json, os, statistics, sys

out, mode, runs, shape, wt_note = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]

def load(path):
    """workload key -> [(value, cpu_s or None)], one per run, in run order"""
    res = {}
    if not os.path.exists(path):
        return res
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            key = r["workload"]
            if key == "datagrams":
                key = "datagrams %s" % ("unpaced" if r.get("rate", 0) == 0 else "%d/s" % r["rate"])
            res.setdefault(key, []).append((r["value"], r.get("cpu_s")))
    return res

SIDES = ("gowt", "go", "wt", "quicgo")
runs_of = {s: load(os.path.join(out, s + ".jsonl")) for s in SIDES}
DASH = "\u2014"

def values(side, key):
    return [v for v, _ in runs_of[side].get(key, [])]

def med(side, key, scale=1.0):
    v = values(side, key)
    return statistics.median(v) * scale if v else None

def fmt(v, dec):
    return DASH if v is None else "%.*f" % (dec, v)

# A gowt workload compared with a peer's of another name: setup_seq_full
# (gowt without TLS resumption) against the peers' setup_seq (full
# handshakes on both of them).
PEER_KEY = {"setup_seq_full": "setup_seq", "upload_nocopy": "upload",
            "download_nocopy": "download", "streams100_nocopy": "streams100"}

def ratio(key, peer):
    """gowt / peer: the median of the per-run ratios when every run of both
    is there (each gowt run follows its peer's, so the pair saw the same
    state of a shared machine), else the ratio of the medians. Also returns
    the per-run ratios (empty when not paired)."""
    g, o = values("gowt", key), values(peer, PEER_KEY.get(key, key))
    if not g or not o or not all(o):
        return None, []
    if len(g) == len(o) and len(g) >= 2:
        per = [a / b for a, b in zip(g, o)]
        return statistics.median(per), per
    return statistics.median(g) / statistics.median(o), []

# The targets are issue 15's: throughput at least that of pure Go and of
# wtransport, setup at least pure Go's, datagrams at 40000/s delivered at
# least as well as pure Go, idle memory at most 100 KB per session with its
# own connection, CPU per GB at most wtransport's. met(g, o, r_go, r_wt):
# gowt and Go medians, the ratios (r_wt None when wtransport did not run).
rows = []  # (label, key, scale, decimals, has_peers, quicgo, target, met)
for w in ("upload", "download", "streams100"):
    rows.append((w + " (MB/s)", w, 1.0, 1, True, True, ">= 1.0 x Go and x wt",
                 lambda g, o, r, rw: r >= 1.0 and (rw is None or rw >= 1.0)))
for w in ("upload", "download", "streams100"):
    rows.append((w + " nocopy (MB/s)", w + "_nocopy", 1.0, 1, True, True, "info", None))
for rate in ("unpaced", "10000/s", "20000/s", "40000/s"):
    key = "datagrams " + rate
    if rate == "20000/s":
        rows.append((key + " (% delivered)", key, 100.0, 1, True, False, ">= 99 % (absolute)",
                     lambda g, o, r, rw: g >= 99.0))
    elif rate == "40000/s":
        rows.append((key + " (% delivered)", key, 100.0, 1, True, False, ">= Go",
                     lambda g, o, r, rw: g >= o))
    else:
        rows.append((key + " (% delivered)", key, 100.0, 1, True, False, "info", None))
for w in ("setup_seq", "setup_conc8", "setup_shared"):
    rows.append((w + " (sessions/s)", w, 1.0, 1, True, False, ">= 1.0 x Go",
                 lambda g, o, r, rw: r >= 1.0))
rows.append(("setup_seq_full (sessions/s, no resumption)", "setup_seq_full", 1.0, 1, True, False,
             ">= 1.0 x Go", lambda g, o, r, rw: r >= 1.0))
rows.append(("idle_mem (KB/session)", "idle_mem", 1.0, 1, True, True, "<= 100 KB (absolute)",
              lambda g, o, r, rw: g <= 100.0))
for w in ("events_cb", "events_poll"):
    rows.append((w + " (events/s)", w, 1.0, 0, False, False, ">= 5000000/s (absolute)",
                 lambda g, o, r, rw: g >= 5e6))

print("gowt (C API, %s style) vs pure webtransport-go, wtransport (Rust) and plain quic-go, "
      "%s run, %s%s" % (shape, mode,
      "sizes and durations / 10" if mode == "short" else "full sizes",
      ", median of %d runs" % runs if runs > 1 else ""))
print()
if runs > 1:
    print("gowt/Go, gowt/wt: medians of the per-run ratios (each gowt run right after its "
          "peers' runs); value columns: medians.")
    print()
spread = []
print("| workload | gowt | pure Go | wtransport | quic-go | gowt/Go | gowt/wt | target | met? |")
print("|---|---:|---:|---:|---:|---:|---:|---|---|")
for label, key, scale, dec, peers, qg, target, met in rows:
    pk = PEER_KEY.get(key, key)
    g = med("gowt", key, scale)
    o = med("go", pk, scale) if peers else None
    w = med("wt", pk, scale) if peers else None
    q = med("quicgo", pk, scale) if qg else None
    r_go, per_go = ratio(key, "go") if peers else (None, [])
    r_wt, per_wt = ratio(key, "wt") if peers else (None, [])
    if per_go and "x Go" in target:
        spread.append("%s %s" % (key, "/".join("%.2f" % x for x in per_go)))
    if met is None:
        m = DASH
    elif g is None or (peers and o is None):
        m = "n/a"
    else:
        m = "yes" if met(g, o, r_go, r_wt) else "**no**"
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (label, fmt(g, dec), fmt(o, dec),
          fmt(w, dec), fmt(q, dec), fmt(r_go, 2), fmt(r_wt, 2), target, m))
print()
print("Targets (issue 15) are against pure Go (gowt/Go) and, for throughput, wtransport (gowt/wt). wtransport has one session per QUIC connection, "
      "so it has no setup_shared; quic-go (no HTTP/3, no WebTransport) runs the throughput "
      "workloads and idle_mem (idle connections without streams: the floor under every "
      "WebTransport stack on quic-go).")
if wt_note:
    print()
    print(wt_note + ".")
if spread:
    print()
    print("per-run gowt/Go ratios: " + "; ".join(spread) + ".")

# CPU seconds per GB: process CPU time (user + system, client and server in
# one process) of the workload, from its start to its result, over the bytes
# it moved.
div = 10 if mode == "short" else 1
BYTES = {"upload": 200e6 / div, "download": 200e6 / div, "streams100": 100e6 / div}
for k in list(BYTES):
    BYTES[k + "_nocopy"] = BYTES[k]
def cpu_per_gb(side, key):
    c = [cp for _, cp in runs_of[side].get(key, []) if cp is not None]
    return statistics.median(c) / (BYTES[key] / 1e9) if c else None
print()
print("CPU seconds per GB moved (process CPU, user + system, client and server together; "
      "lower is better; median of %d run%s):" % (runs, "s" if runs > 1 else ""))
print()
print("| workload | gowt | pure Go | wtransport | quic-go | gowt/Go | gowt/wt | target | met? |")
print("|---|---:|---:|---:|---:|---:|---:|---|---|")
for key in ("upload", "download", "streams100", "upload_nocopy", "download_nocopy",
            "streams100_nocopy"):
    c = {s: cpu_per_gb(s, key if s == "gowt" else PEER_KEY.get(key, key)) for s in SIDES}
    rg = c["gowt"] / c["go"] if c["gowt"] is not None and c["go"] else None
    rw = c["gowt"] / c["wt"] if c["gowt"] is not None and c["wt"] else None
    m = DASH if "nocopy" in key else "n/a" if rw is None else "yes" if rw <= 1.0 else "**no**"
    print("| %s CPU (s/GB) | %s | %s | %s | %s | %s | %s | %s | %s |" % (key, fmt(c["gowt"], 2), fmt(c["go"], 2),
          fmt(c["wt"], 2), fmt(c["quicgo"], 2), fmt(rg, 2), fmt(rw, 2),
          "info" if "nocopy" in key else "<= wt", m))
if mode == "short":
    print()
    print("(short run: the one handshake and the teardown weigh more in 20 MB than in 200 MB.)")

gowt = {k: med("gowt", k) for k in ("setup_seq", "setup_seq_full", "idle_mem")}
if gowt["setup_seq"] and gowt["setup_seq_full"]:
    print()
    print("TLS resumption (gowt's default since 0.2.0): setup_seq %.1f sessions/s resumed vs "
          "%.1f with full handshakes (%.2fx); pure Go and wtransport do full handshakes."
          % (gowt["setup_seq"], gowt["setup_seq_full"], gowt["setup_seq"] / gowt["setup_seq_full"]))
if gowt["idle_mem"] is not None and med("go", "idle_mem") is not None:
    print()
    print("idle_mem: %s sessions, one connection each, client and server in one process "
          "(the Go side forces a GC before reading RSS; the C API and Rust cannot)."
          % ("100" if mode == "short" else "1000"))
EOF
exit $failed
