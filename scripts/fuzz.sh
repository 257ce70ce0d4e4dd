#!/usr/bin/env bash
# Runs the Go native fuzz targets of core/ (core/*_fuzz_test.go), one after
# the other, and prints a table: executions, time, new corpus entries and
# crashes per target.
#
#   scripts/fuzz.sh --short                  each target for 20 s (CI)
#   scripts/fuzz.sh --long [--execs N]       each target until N executions
#                                            (default 10000000)
# Options:
#   --time D        with --short: the time per target (default 20s)
#   --parallel P    fuzzing workers per target (default: go test's, GOMAXPROCS)
#   --minimize D    -fuzzminimizetime (default 10s; 60s is go's own default,
#                   which makes short runs spend most of their time shrinking
#                   new inputs)
#   NAME...         only these targets (e.g. FuzzCapsules)
#
# The seed corpora are checked in under core/testdata/fuzz/<Target>/; what a
# run discovers goes to go's fuzz cache ($(go env GOCACHE)/fuzz). A crash
# writes its input to core/testdata/fuzz/<Target>/ (check it in with the
# fix, as a regression seed) and makes the script exit 1.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=""
fuzztime=""
shorttime="20s"
execs=10000000
parallel=""
minimize="10s"
targets=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--short) mode=short ;;
	--long) mode=long ;;
	--execs) execs="$2"; shift ;;
	--time) shorttime="$2"; shift ;;
	--parallel) parallel="$2"; shift ;;
	--minimize) minimize="$2"; shift ;;
	-h | --help) sed -n '2,20p' "$0"; exit 0 ;;
	Fuzz*) targets+=("$1") ;;
	*) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case "$mode" in
short) fuzztime="$shorttime" ;;
long) fuzztime="${execs}x" ;;
*) echo "usage: $0 --short | --long [--execs N] [--parallel P] [Target...]" >&2; exit 2 ;;
esac

if [[ ${#targets[@]} -eq 0 ]]; then
	mapfile -t targets < <(go test -list '^Fuzz' ./core/ | grep '^Fuzz')
fi

logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
rows=()
failed=0
for t in "${targets[@]}"; do
	log="$logdir/$t.log"
	args=(-run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize")
	[[ -n "$parallel" ]] && args+=(-parallel "$parallel")
	echo "== $t (-fuzztime $fuzztime)" >&2
	start=$(date +%s.%N)
	# Go's fuzz coordinator gives up on a worker that answers late under heavy
	# load ("context deadline exceeded", no failing input written): that is
	# the engine, not a finding, so such a run is tried again (twice at most).
	for try in 1 2 3; do
		rc=0
		go test "${args[@]}" ./core/ >"$log" 2>&1 || rc=$?
		if [[ $rc -ne 0 ]] && grep -q 'context deadline exceeded' "$log" &&
			! grep -q 'Failing input written' "$log" && [[ $try -lt 3 ]]; then
			echo "   ($t: fuzz engine timeout under load, run $try; trying again)" >&2
			continue
		fi
		break
	done
	end=$(date +%s.%N)
	last=$(grep -E '^fuzz: elapsed: .*execs: [0-9]+' "$log" | tail -1 || true)
	n=$(sed -E 's/.*execs: ([0-9]+).*/\1/' <<<"$last")
	new=$(sed -E 's/.*new interesting: ([0-9]+).*/\1/' <<<"$last")
	total=$(sed -E 's/.*\(total: ([0-9]+)\).*/\1/' <<<"$last")
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
	crashes=0
	if [[ $rc -ne 0 ]]; then
		crashes=1
		failed=1
		echo "---- $t failed:" >&2
		grep -vE '^fuzz: elapsed' "$log" | head -40 >&2
	fi
	rate=$(awk -v n="${n:-0}" -v s="$secs" 'BEGIN { if (s > 0) printf "%d", n / s; else print 0 }')
	rows+=("$(printf '%-30s %12s %9s %9s %8s %8s %8s' "$t" "${n:-?}" "${secs}s" "$rate" "${new:-?}" "${total:-?}" "$crashes")")
done

echo
printf '%-30s %12s %9s %9s %8s %8s %8s\n' target executions time execs/s new corpus crashes
for r in "${rows[@]}"; do echo "$r"; done
exit $failed
