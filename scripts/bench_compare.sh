#!/usr/bin/env bash
# Paired before/after runs of gowt_bench for two commits: each commit's own
# libgowt and its own bench/gowt_bench.c (the benchmark refuses a library of
# another version), built from a detached worktree into
# build/compare/<commit>, then N rounds of "before, after" in turn, so that
# each pair saw the same state of a shared machine. Prints the medians and
# the median of the per-pair ratios.
#
#   scripts/bench_compare.sh [-n N] [-w workloads] BEFORE [AFTER]
#     BEFORE, AFTER  commits (AFTER defaults to HEAD)
#     -n N           rounds (default 5)
#     -w LIST        gowt_bench workloads (default: all throughput and setup)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=5
W=upload,download,streams100,datagrams,setup_seq,setup_conc8,setup_shared
while getopts "n:w:" o; do
	case $o in
	n) N=$OPTARG ;;
	w) W=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[[ $# -ge 1 ]] || { echo "usage: $0 [-n N] [-w workloads] BEFORE [AFTER]" >&2; exit 2; }
before=$(git -C "$ROOT" rev-parse --short "$1")
after=$(git -C "$ROOT" rev-parse --short "${2:-HEAD}")

build() { # commit -> build/compare/<commit>/{libgowt.so.0,gowt_bench}
	local c=$1 d=$ROOT/build/compare/$1 wt
	[[ -x $d/gowt_bench ]] && return 0
	mkdir -p "$d"
	wt=$(mktemp -d)
	git -C "$ROOT" worktree add -q --detach "$wt" "$c"
	(cd "$wt" && go build -buildmode=c-shared -trimpath \
		-ldflags="-s -w -extldflags=-Wl,-soname,libgowt.so.0" -o "$d/libgowt.so.0" ./capi)
	gcc -O2 -o "$d/gowt_bench" "$wt/bench/gowt_bench.c" -I"$wt/include" -L"$d" \
		-l:libgowt.so.0 -lpthread -lm -Wl,-rpath,"$d"
	git -C "$ROOT" worktree remove --force "$wt"
}
build "$before"
build "$after"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for ((i = 1; i <= N; i++)); do
	echo "bench_compare: round $i of $N" >&2
	"$ROOT/build/compare/$before/gowt_bench" -w "$W" >>"$out/before.jsonl" 2>/dev/null
	"$ROOT/build/compare/$after/gowt_bench" -w "$W" >>"$out/after.jsonl" 2>/dev/null
done
python3 - "$out" "$before" "$after" "$N" <<'EOF'
import json, statistics as st, sys
d, before, after, n = sys.argv[1:5]
def load(f):
    r = {}
    for l in open(f):
        if not l.startswith("{"):
            continue
        j = json.loads(l)
        k = j["workload"]
        if k == "datagrams":
            k = "datagrams %s" % ("unpaced" if j.get("rate", 0) == 0 else "%d/s" % j["rate"])
        r.setdefault(k, []).append(j["value"])
    return r
b, a = load(d + "/before.jsonl"), load(d + "/after.jsonl")
print("gowt_bench, %s rounds: %s (before) then %s (after)" % (n, before, after))
print()
print("| workload | before (median) | after (median) | after/before, median of pairs (each pair) |")
print("|---|---:|---:|---:|")
for k in b:
    if k not in a:
        continue
    pr = [y / x for x, y in zip(b[k], a[k]) if x]
    print("| %s | %.1f | %.1f | %s (%s) |" % (k, st.median(b[k]), st.median(a[k]),
          "%.2f" % st.median(pr) if pr else "-", "/".join("%.2f" % x for x in pr)))
EOF
