#!/usr/bin/env bash
# gowt under loss, delay, reordering and duplication (issue 11).
#
# Usage: tests/netem/run.sh [--build DIR] [--long] [options]
#
# Builds a private link between two network namespaces made for this run
# (gowtnm-PID-a and gowtnm-PID-b; nothing is configured in the caller's
# namespace) and impairs it in both directions, each direction like
#     tc qdisc add dev IF root netem loss 5% delay 40ms 20ms duplicate 1%
# (the jitter reorders packets, as netem's time-sorted queue does; the round
# trip is about 80 ms +- 28 ms). Then it plays, in both roles (gowt server in
# namespace A and client in B, then the reverse):
#   - devious-baton games (examples_c/gowt_baton) with count 1, 16 and 256,
#     a random first baton each (printed, to replay a failure);
#   - a 50 MiB transfer (tests/netem/netem_xfer, one WebTransport stream)
#     verified by SHA-256 on both ends: the server sends it in role A, the
#     client sends it in role B; both ends hash, and both hashes must equal
#     an independent sha256sum of the same byte stream.
# The short form (default) runs each of those once; --long runs many games
# and repeated transfers. Both end with a table: scenario, runs, passed,
# median time, throughput.
#
# Two ways to impair the link (--backend, default auto):
#   kernel  a veth pair with tc netem on each end (needs sch_netem). quic-go
#           runs with QUIC_GO_DISABLE_GSO=true there, because netem handles
#           a GSO batch of up to 64 KiB as one packet, so "5% loss" would
#           drop whole bursts of QUIC packets.
#   user    a TUN device in each namespace and netem_link
#           (tests/netem/netem_link.c), a user-space copy of netem's loss,
#           delay+jitter (uniform, time-sorted), duplication and 1000-packet
#           limit, for kernels built without sch_netem.
# auto takes kernel when `tc qdisc add ... netem` works, else user.
#
# Exit status: 0 all passed, 1 a failure, 77 skipped (CTest SKIP_RETURN_CODE):
# no root, no `ip netns`, no veth/TUN. With CI=true a missing capability is a
# failure (CI runs as root and must run this), never a skip.
#
# Options:
#   --build DIR        build directory (default: <source>/build)
#   --long             the long form (--games 20 --xfer-runs 3 --jobs 4)
#   --games N          baton games per count and role (default 1)
#   --counts LIST      baton counts (default "1 16 256")
#   --xfer-bytes N     transfer size (default 52428800 = 50 MiB)
#   --xfer-runs N      transfers per role (default 1)
#   --jobs N           baton games played at once per role (default 1)
#   --backend B        auto | kernel | user
#   --qlog             also write qlogs of the transfers (the baton games
#                      always do; kept only when a run fails)
#   --keep             keep the work directory even when everything passed
# Environment: NETEM_LOSS (5), NETEM_DELAY (40, ms), NETEM_JITTER (20, ms),
# NETEM_DUP (1), NETEM_LIMIT (1000), NETEM_SEED (user backend),
# GAME_TIMEOUT (90 s), XFER_TIMEOUT (60 s + 1 s per 64 KiB: 860 s for
# 50 MiB): the per-run bounds.
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD="$SRC/build"
LONG=0 GAMES=1 COUNTS="1 16 256" XFER_BYTES=52428800 XFER_RUNS=1 JOBS=1
BACKEND=auto QLOG_XFER=0 KEEP=0
LOSS=${NETEM_LOSS:-5} DELAY=${NETEM_DELAY:-40} JITTER=${NETEM_JITTER:-20}
DUP=${NETEM_DUP:-1} LIMIT=${NETEM_LIMIT:-1000}
GAME_TIMEOUT=${GAME_TIMEOUT:-90} XFER_TIMEOUT=${XFER_TIMEOUT:-}

usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while (($#)); do
  case "$1" in
    --build) BUILD=$2; shift ;;
    --long) LONG=1 ;;
    --games) GAMES=$2; shift ;;
    --counts) COUNTS=$2; shift ;;
    --xfer-bytes) XFER_BYTES=$2; shift ;;
    --xfer-runs) XFER_RUNS=$2; shift ;;
    --jobs) JOBS=$2; shift ;;
    --backend) BACKEND=$2; shift ;;
    --qlog) QLOG_XFER=1 ;;
    --keep) KEEP=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if ((LONG)); then
  # Explicit options given after --long still win: only defaults change.
  [[ $GAMES == 1 ]] && GAMES=20
  [[ $XFER_RUNS == 1 ]] && XFER_RUNS=3
  [[ $JOBS == 1 ]] && JOBS=4
fi
# Measured: about 1 Mbit/s (130 KB/s) at the default impairment, so a
# transfer may take size / 64 KiB/s + 60 s: 50 MiB -> 860 s (it takes ~400).
[[ -n $XFER_TIMEOUT ]] || XFER_TIMEOUT=$((60 + XFER_BYTES / 65536))
case "$BACKEND" in auto|kernel|user) ;; *) echo "run.sh: --backend auto|kernel|user" >&2; exit 2 ;; esac

now() { date +%s.%N; }
diff_t() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
T_START=$(now)
log() { printf '[%7.1fs] %s\n' "$(diff_t "$T_START" "$(now)")" "$*"; }

IS_CI=0
case "${CI:-}" in true|TRUE|True|1|yes) IS_CI=1 ;; esac

# A capability the machine lacks: skip (77), or fail under CI.
cannot() {
  if ((IS_CI)); then
    echo "FAIL netem: $* (CI=true: a missing capability is a failure)"
    exit 1
  fi
  echo "SKIP netem: $*"
  exit 77
}

# --- Preflight ----------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || cannot "needs root for network namespaces (uid $(id -u))"
command -v ip >/dev/null || cannot "no 'ip' command (iproute2)"
command -v timeout >/dev/null || cannot "no 'timeout' command (coreutils)"
command -v sha256sum >/dev/null || cannot "no 'sha256sum' command (coreutils)"
command -v awk >/dev/null || cannot "no 'awk' command"
# Servers get SIGTERM if this script dies, even by SIGKILL (a CTest timeout).
PD=()
if setpriv --help 2>/dev/null | grep -q pdeathsig; then PD=(setpriv --pdeathsig TERM --); fi

BATON="$BUILD/gowt_baton"
XFER="$BUILD/tests/netem/netem_xfer"
LINK="$BUILD/tests/netem/netem_link"
for b in "$BATON" "$XFER" "$LINK"; do
  if [[ ! -x $b ]]; then
    echo "FAIL netem: $b is missing (build first: cmake --build $BUILD)"
    exit 1
  fi
done

MAIN=$$ # $$ is this pid in subshells too
# The background loops stop when this script is gone (a SIGKILL runs no
# trap; servers and netem_link get their parent-death signal, and a client
# already running ends by its own -T bound).
main_alive() { kill -0 "$MAIN" 2>/dev/null; }
NSA="gowtnm-$$-a" NSB="gowtnm-$$-b" NSP="gowtnm-$$-probe"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gowt-netem.XXXXXX")
PIDS=()  # servers and netem_link
BGPIDS=() # subshells: the transfers and the baton games
FAILED=0

# A process and all its descendants, by pid.
tree_of() {
  local c
  for c in $(pgrep -P "$1" 2>/dev/null); do tree_of "$c"; done
  echo "$1"
}

cleanup() {
  local p
  trap - INT TERM
  for p in "${BGPIDS[@]}"; do
    kill -TERM $(tree_of "$p") 2>/dev/null
  done
  for p in "${PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null
  done
  for p in "${PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null
  done
  ip netns del "$NSA" 2>/dev/null
  ip netns del "$NSB" 2>/dev/null
  ip netns del "$NSP" 2>/dev/null
  if ((FAILED)) || ((KEEP)); then
    echo "logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted"; FAILED=1; exit 1' INT TERM

# Namespaces left by an earlier run that was killed (SIGKILL leaves no trap):
# only our own prefix, and only when that run's pid is gone.
for old in $(ip netns list 2>/dev/null | sed -n 's/^\(gowtnm-\([0-9]*\)-[a-z]*\).*/\1 \2/p' | tr ' ' ':'); do
  kill -0 "${old#*:}" 2>/dev/null || ip netns del "${old%%:*}" 2>/dev/null
done

ip netns add "$NSP" 2>"$WORK/probe.err" || cannot "cannot create a network namespace: $(cat "$WORK/probe.err")"
NETEM_OK=0
if ip -n "$NSP" link add pa type veth peer name pb 2>>"$WORK/probe.err"; then
  VETH_OK=1
  if ip netns exec "$NSP" tc qdisc add dev pa root netem loss 5% delay 40ms 20ms duplicate 1% \
       2>>"$WORK/probe.err"; then
    NETEM_OK=1
  fi
else
  VETH_OK=0
fi
TUN_OK=0
if [[ -c /dev/net/tun ]] && ip -n "$NSP" tuntap add dev pt mode tun 2>>"$WORK/probe.err"; then
  TUN_OK=1
fi
ip netns del "$NSP"
WHY_NO_NETEM="tc netem fails: $(grep -m1 -i -E 'qdisc|netem' "$WORK/probe.err" || echo unknown)"
if [[ -r /proc/config.gz ]] && zcat /proc/config.gz 2>/dev/null | grep -q '^# CONFIG_NET_SCH_NETEM is not set'; then
  WHY_NO_NETEM="$WHY_NO_NETEM; the kernel ($(uname -r)) is built without CONFIG_NET_SCH_NETEM"
  zcat /proc/config.gz | grep -q '^CONFIG_MODULES=y' || WHY_NO_NETEM="$WHY_NO_NETEM and without module support"
fi

case "$BACKEND" in
  kernel)
    ((VETH_OK)) || cannot "cannot create a veth pair"
    ((NETEM_OK)) || cannot "$WHY_NO_NETEM" ;;
  user)
    ((TUN_OK)) || cannot "cannot create a TUN device (/dev/net/tun)" ;;
  auto)
    if ((NETEM_OK && VETH_OK)); then
      BACKEND=kernel
    elif ((TUN_OK)); then
      BACKEND=user
      log "note: $WHY_NO_NETEM; using the user-space netem_link on TUN devices"
    else
      cannot "$WHY_NO_NETEM, and no TUN device for netem_link either"
    fi ;;
esac

# --- The link ---------------------------------------------------------------------
# 169.254.77.0/30, link-local, only on the two devices inside our namespaces.
IPA=169.254.77.1 IPB=169.254.77.2
ip netns add "$NSA" || cannot "ip netns add $NSA failed"
ip netns add "$NSB" || cannot "ip netns add $NSB failed"
for ns in "$NSA" "$NSB"; do ip -n "$ns" link set lo up; done
NETEM_ARGS="limit $LIMIT loss ${LOSS}% delay ${DELAY}ms ${JITTER}ms duplicate ${DUP}%"
if [[ $BACKEND == kernel ]]; then
  export QUIC_GO_DISABLE_GSO=true
  ip -n "$NSA" link add nm0 type veth peer name nm0 netns "$NSB" || cannot "veth pair failed"
  ip -n "$NSA" addr add $IPA/30 dev nm0
  ip -n "$NSB" addr add $IPB/30 dev nm0
  for ns in "$NSA" "$NSB"; do
    ip -n "$ns" link set nm0 up
    ip netns exec "$ns" tc qdisc add dev nm0 root netem $NETEM_ARGS || cannot "tc netem on nm0 failed"
  done
  LINK_DESC="veth + tc netem ($NETEM_ARGS) on each end"
else
  for ns in "$NSA" "$NSB"; do ip -n "$ns" tuntap add dev nm0 mode tun || cannot "tuntap add failed"; done
  ip -n "$NSA" addr add $IPA peer $IPB dev nm0
  ip -n "$NSB" addr add $IPB peer $IPA dev nm0
  for ns in "$NSA" "$NSB"; do ip -n "$ns" link set nm0 up; done
  SEED=${NETEM_SEED:-$(( (RANDOM << 15 | RANDOM) + 1 ))}
  "${PD[@]}" "$LINK" --loss "$LOSS" --delay "$DELAY" --jitter "$JITTER" --dup "$DUP" --limit "$LIMIT" \
    --seed "$SEED" --stats "$WORK/link.stats" "$NSA" nm0 "$NSB" nm0 >"$WORK/link.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do grep -q ready "$WORK/link.out" && break; sleep 0.1; done
  grep -q ready "$WORK/link.out" || { echo "FAIL netem: netem_link did not start: $(cat "$WORK/link.out")"; FAILED=1; exit 1; }
  LINK_DESC="TUN + netem_link ($NETEM_ARGS per direction, seed $SEED)"
fi
log "namespaces $NSA ($IPA) and $NSB ($IPB): $LINK_DESC"
log "work directory $WORK"

# --- Servers --------------------------------------------------------------------------
# One baton server and one transfer server per role, each in its namespace.
# start_server NAME NS ARGV...: sets SRV_HASH.
start_server() {
  local name=$1 ns=$2
  shift 2
  ip netns exec "$ns" "${PD[@]}" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q '^Listening on port' "$WORK/$name.out" && break; sleep 0.1; done
  SRV_HASH=$(sed -n 's/^Certificate SHA-256: \([0-9a-f]\{64\}\)$/\1/p' "$WORK/$name.out")
  if ! grep -q '^Listening on port' "$WORK/$name.out" || [[ -z $SRV_HASH ]]; then
    echo "FAIL netem: $name did not start: $(cat "$WORK/$name.out" "$WORK/$name.err")"
    FAILED=1
    exit 1
  fi
}

mkdir -p "$WORK/qlog"
declare -A BHASH XHASH SRVIP
# Role A: servers in namespace A, clients in B. Role B: the reverse.
for role in A B; do
  if [[ $role == A ]]; then ns=$NSA; SRVIP[$role]=$IPA; else ns=$NSB; SRVIP[$role]=$IPB; fi
  mkdir -p "$WORK/qlog/baton_srv_$role"
  start_server "baton_srv_$role" "$ns" "$BATON" -p 4433 -l "$WORK/baton_srv_$role.log" \
    -q "$WORK/qlog/baton_srv_$role" /baton
  BHASH[$role]=$SRV_HASH
  xq=()
  if ((QLOG_XFER)); then mkdir -p "$WORK/qlog/xfer_srv_$role"; xq=(-q "$WORK/qlog/xfer_srv_$role"); fi
  start_server "xfer_srv_$role" "$ns" "$XFER" server -p 4500 "${xq[@]}"
  XHASH[$role]=$SRV_HASH
done
client_ns() { if [[ $1 == A ]]; then echo "$NSB"; else echo "$NSA"; fi; }

# --- Results ----------------------------------------------------------------------------
# results.tsv: scenario, ok (0/1), seconds, Mbit/s (or -)
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; }
show_fail() { # title, files...
  local t=$1 f
  shift
  echo "----- $t"
  for f in "$@"; do
    [[ -s $f ]] || continue
    echo "--- $(basename "$f")"
    tail -n 40 "$f"
  done
}

# --- Baton games ------------------------------------------------------------------------
# baton_game ROLE COUNT I: one game; records its result.
baton_game() {
  local role=$1 count=$2 i=$3 b=$((RANDOM % 255 + 1))
  local name="baton_${role}_${count}_$i" q t0 t1 rc why=""
  local cns
  cns=$(client_ns "$role")
  q="/baton?version=0&baton=$b&count=$count"
  mkdir -p "$WORK/qlog/$name"
  t0=$(now)
  timeout -k 5 $((GAME_TIMEOUT + 15)) ip netns exec "$cns" "$BATON" -T "$GAME_TIMEOUT" \
    -H "${BHASH[$role]}" -q "$WORK/qlog/$name" -l "$WORK/$name.log" "${SRVIP[$role]}" 4433 "$q" \
    >"$WORK/$name.out" 2>"$WORK/$name.err"
  rc=$?
  t1=$(now)
  if ((rc != 0)); then
    why="exit $rc$( ((rc == 124 || rc == 137)) && echo ' (killed by timeout)')"
  elif ! grep -q '^Final baton state: 6$' "$WORK/$name.out"; then
    why="no 'Final baton state: 6'"
  elif [[ $(grep -c '^Lane ' "$WORK/$name.out") != "$count" ]]; then
    why="$(grep -c '^Lane ' "$WORK/$name.out") lane lines, want $count"
  elif grep '^Lane ' "$WORK/$name.out" | grep -v -q "first baton: 0x$(printf %02x $b)"; then
    why="a lane did not start with baton $b"
  fi
  local dt
  dt=$(diff_t "$t0" "$t1")
  if [[ -z $why ]]; then
    echo "PASS $name (baton=$b count=$count, server ns $role, $(printf %.2f "$dt")s)" >"$WORK/$name.verdict"
    record "baton count=$count, server in ns $role" 1 "$dt" -
    rm -rf "$WORK/qlog/$name"
  else
    {
      echo "FAIL $name: $why (query $q, server ns $role, $(printf %.2f "$dt")s; qlogs in $WORK/qlog/$name and $WORK/qlog/baton_srv_$role)"
      show_fail "$name" "$WORK/$name.out" "$WORK/$name.err" "$WORK/$name.log"
    } >"$WORK/$name.verdict"
    record "baton count=$count, server in ns $role" 0 "$dt" -
  fi
}

# --- Transfers --------------------------------------------------------------------------
EXPECT=$("$XFER" gen "$XFER_BYTES" 2>"$WORK/gen.hash" | sha256sum | cut -d' ' -f1)
if [[ $EXPECT != "$(cat "$WORK/gen.hash")" ]]; then
  echo "FAIL netem: netem_xfer's SHA-256 ($(cat "$WORK/gen.hash")) differs from sha256sum ($EXPECT)"
  FAILED=1
  exit 1
fi
log "transfer of $XFER_BYTES bytes: sha256sum of the stream $EXPECT"

# xfer_run ROLE I: role A = the server sends (dir down), role B = the client sends (dir up).
xfer_run() {
  local role=$1 i=$2 dir name cns t0 t1 rc why="" line sline mbps before after
  if [[ $role == A ]]; then dir=down; else dir=up; fi
  name="xfer_${role}_${dir}_$i"
  cns=$(client_ns "$role")
  local xq=()
  if ((QLOG_XFER)); then mkdir -p "$WORK/qlog/$name"; xq=(-q "$WORK/qlog/$name"); fi
  before=$(grep -c '^RESULT ' "$WORK/xfer_srv_$role.out")
  t0=$(now)
  timeout -k 5 $((XFER_TIMEOUT + 15)) ip netns exec "$cns" "$XFER" client -H "${XHASH[$role]}" \
    -T "$XFER_TIMEOUT" "${xq[@]}" "${SRVIP[$role]}" 4500 "$dir" "$XFER_BYTES" \
    >"$WORK/$name.out" 2>"$WORK/$name.err"
  rc=$?
  t1=$(now)
  # The server prints its RESULT line when the session is gone.
  for _ in $(seq 50); do
    after=$(grep -c '^RESULT ' "$WORK/xfer_srv_$role.out")
    ((after > before)) && break
    sleep 0.1
  done
  line=$(grep '^RESULT ' "$WORK/$name.out" | tail -n 1)
  sline=$(grep '^RESULT ' "$WORK/xfer_srv_$role.out" | sed -n "$((before + 1))p")
  if ((rc != 0)); then
    why="client exit $rc$( ((rc == 124 || rc == 137)) && echo ' (killed by timeout)'): ${line:-no RESULT line}"
  elif [[ $line != *" ok=1 sha256=$EXPECT peer_sha256=$EXPECT "* ]]; then
    why="client: $line (want both hashes $EXPECT)"
  elif [[ -z $sline ]]; then
    why="the server printed no RESULT line"
  elif [[ $sline != *" dir=$dir size=$XFER_BYTES "*" ok=1 sha256=$EXPECT peer_sha256=$EXPECT "* ]]; then
    why="server: $sline (want ok=1 and both hashes $EXPECT)"
  fi
  local dt
  dt=$(diff_t "$t0" "$t1")
  mbps=$(sed -n 's/.* mbps=\([0-9.]*\).*/\1/p' <<<"$line")
  local sc="transfer $(awk -v n="$XFER_BYTES" 'BEGIN { printf "%g", n / 1048576 }') MiB $( [[ $dir == down ]] && echo 'server->client' || echo 'client->server'), server in ns $role"
  if [[ -z $why ]]; then
    echo "PASS $name ($(printf %.1f "$dt")s, ${mbps} Mbit/s, sha256 $EXPECT on both ends)" >"$WORK/$name.verdict"
    record "$sc" 1 "$dt" "$mbps"
    rm -rf "$WORK/qlog/$name"
  else
    {
      echo "FAIL $name: $why ($(printf %.1f "$dt")s)"
      show_fail "$name" "$WORK/$name.out" "$WORK/$name.err" "$WORK/xfer_srv_$role.err"
    } >"$WORK/$name.verdict"
    record "$sc" 0 "$dt" "${mbps:-0}"
  fi
}

# The transfers of the two roles run side by side with the baton games: the
# link has no rate limit, so they do not share a bottleneck (each QUIC
# connection has its own congestion window); the CPU is barely used at
# these rates.
log "transfers: $XFER_RUNS per role, $XFER_BYTES bytes, timeout ${XFER_TIMEOUT}s each"
XPIDS=()
for role in A B; do
  ( for ((i = 1; i <= XFER_RUNS; i++)); do main_alive || exit 1; xfer_run "$role" "$i"; head -n 1 "$WORK/xfer_${role}_"*"_$i.verdict"; done ) &
  XPIDS+=($!)
  BGPIDS+=($!)
done

log "baton games: counts $COUNTS, $GAMES per count and role, $JOBS at a time, timeout ${GAME_TIMEOUT}s each"
# In a subshell of their own, so that wait -n only sees the games.
(
for role in A B; do
  for count in $COUNTS; do
    running=0
    for ((i = 1; i <= GAMES; i++)); do
      main_alive || exit 1
      baton_game "$role" "$count" "$i" &
      running=$((running + 1))
      if ((running >= JOBS)); then wait -n 2>/dev/null || true; running=$((running - 1)); fi
    done
    while ((running > 0)); do wait -n 2>/dev/null || true; running=$((running - 1)); done
    # make sure every game of this count has finished before the next
    for ((i = 1; i <= GAMES; i++)); do
      while [[ ! -e $WORK/baton_${role}_${count}_$i.verdict ]]; do main_alive || exit 1; sleep 0.2; done
      ((GAMES <= 3)) && head -n 1 "$WORK/baton_${role}_${count}_$i.verdict"
    done
    n=$(grep -c "^baton count=$count, server in ns $role"$'\t'1 "$RESULTS")
    ((GAMES > 3)) && log "baton count=$count server ns $role: $n/$GAMES passed"
  done
done
) &
BGPIDS+=($!)
wait $!
log "baton games done; waiting for the transfers"
for p in "${XPIDS[@]}"; do wait "$p"; done

# --- Report ---------------------------------------------------------------------------------
for v in "$WORK"/*.verdict; do
  if grep -q '^FAIL' "$v"; then FAILED=1; cat "$v"; fi
done
if [[ $BACKEND == user ]]; then
  kill -TERM "${PIDS[0]}" 2>/dev/null
  for _ in $(seq 20); do [[ -s $WORK/link.stats ]] && break; sleep 0.1; done
  echo "link counters (netem_link):"
  sed 's/^/  /' "$WORK/link.stats" 2>/dev/null
else
  echo "link counters (tc -s qdisc):"
  for ns in "$NSA" "$NSB"; do ip netns exec "$ns" tc -s qdisc show dev nm0 | sed "s/^/  $ns: /"; done
fi

echo
echo "Impairment: $LINK_DESC"
printf '| %-52s | %4s | %6s | %11s | %14s |\n' scenario runs passed "median time" throughput
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" "------" "--------" "-------------" "----------------"
cut -f1 "$RESULTS" | sort -u | while IFS= read -r sc; do
  runs=$(awk -F'\t' -v s="$sc" '$1 == s' "$RESULTS" | wc -l)
  passed=$(awk -F'\t' -v s="$sc" '$1 == s && $2 == 1' "$RESULTS" | wc -l)
  med=$(awk -F'\t' -v s="$sc" '$1 == s {print $3}' "$RESULTS" | sort -g |
        awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) printf "%.2f s", a[(NR+1)/2]; else printf "%.2f s", (a[NR/2]+a[NR/2+1])/2}')
  tp=$(awk -F'\t' -v s="$sc" '$1 == s && $2 == 1 && $4 != "-" {print $4}' "$RESULTS" | sort -g |
       awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) printf "%.2f Mbit/s", a[(NR+1)/2]; else printf "%.2f Mbit/s", (a[NR/2]+a[NR/2+1])/2}')
  printf '| %-52s | %4s | %6s | %11s | %14s |\n' "$sc" "$runs" "$passed" "$med" "$tp"
done
echo
total=$(wc -l <"$RESULTS")
ok=$(awk -F'\t' '$2 == 1' "$RESULTS" | wc -l)
if ((FAILED)) || ((ok != total)); then
  FAILED=1
  log "FAIL netem: $ok of $total runs passed"
  exit 1
fi
log "PASS netem: $total runs passed"
exit 0
