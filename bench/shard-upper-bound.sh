#!/usr/bin/env bash
# Would sharding by Call-ID pay on this machine? The best any sharding can do is N event loops that
# each see 1/N of the calls with no cost for getting the messages to them. This measures exactly that
# upper bound for the stateful proxy case (plugins/lb, bench/siphon-lb.yaml): the same total SIPp
# load (../shared/bench/scenarios/invite.xml) through
#   one    - one siphon process at RATE calls/s
#   two    - two independent siphon processes (ports SIPHON_PORT and SIPHON_PORT+1), RATE/2 each,
#            the same SIPp UAS behind both
# and prints one RESULT line per SIPp run plus the CPU seconds the siphon process(es) used.
# If "two" does not beat "one", no real sharding (which adds the cost of steering every message
# by its Call-ID) can.
#
#   bench/shard-upper-bound.sh RATE [SECONDS]        (loopback only; bounded by run.sh)
# Environment: SIPHON_PORT (5080) UAS_PORT (5090, must match bench/dispatcher-lb.list) SHARED BENCH_OUT
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SHARED="${SHARED:-$(cd "$ROOT/../shared/bench" 2>/dev/null && pwd)}"
[ -x "$SHARED/run.sh" ] || { echo "shard-upper-bound: cannot find the shared bench harness (set SHARED)" >&2; exit 2; }
rate="${1:?usage: shard-upper-bound.sh RATE [SECONDS]}"; dur="${2:-10}"
PORT="${SIPHON_PORT:-5080}"; UAS_PORT="${UAS_PORT:-5090}"
RES="${BENCH_OUT:-/tmp/siphon-bench}"; mkdir -p "$RES"; LOG="$RES/shard-upper-bound.log"
export SIPHON_CONFIG="$HERE/siphon-lb.yaml"

start() { # start NAME PORT
	(cd "$ROOT" && SIPHON_STATE="$RES/shard-$1" "$HERE/siphon.sh" start "$2" lb >/dev/null) || { echo "siphon $1 failed to start" >&2; exit 1; }
}
cpu() { SIPHON_STATE="$RES/shard-$1" "$HERE/siphon.sh" cpu; }
stop() { SIPHON_STATE="$RES/shard-$1" "$HERE/siphon.sh" stop; }
result() { grep '^RESULT' | sed 's/ out=.*//'; }

# one process, the whole rate
start one "$PORT"
c0=$(cpu one)
line=$(START_UAS="127.0.0.1:$UAS_PORT" OUT_DIR="$RES/runs/shard_one_${rate}_$(date +%H%M%S)" "$SHARED/run.sh" "127.0.0.1:$PORT" invite "$rate" "$dur" | result)
c1=$(cpu one); stop one
echo "RESULT layout=one total_rate=$rate siphon_cpu_s=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.1f", b-a}') ${line#RESULT }" | tee -a "$LOG"

# two processes, half the rate each, one SIPp UAS behind both (started here, so it outlives both UACs)
half=$((rate / 2))
start a "$PORT"; start b "$((PORT + 1))"
udir="$RES/runs/shard_two_uas_${rate}_$(date +%H%M%S)"; mkdir -p "$udir"; cp "$SHARED/scenarios/uas.xml" "$udir/"
(cd "$udir" && exec timeout $((dur + 60)) sipp -sf uas.xml -i 127.0.0.1 -p "$UAS_PORT" -timeout $((dur + 50))s -nostdin \
	-max_recv_loops 10000 -max_sched_loops 10000 -buff_size 4194304 >uas.out 2>&1) & uas=$!
for _ in $(seq 1 50); do ss -lun | grep -q ":$UAS_PORT " && break; sleep 0.1; done
a0=$(cpu a); b0=$(cpu b)
OUT_DIR="$RES/runs/shard_two_a_${rate}_$(date +%H%M%S)" "$SHARED/run.sh" "127.0.0.1:$PORT" invite "$half" "$dur" | result >"$RES/.shard_a" &
ua=$!
lb=$(OUT_DIR="$RES/runs/shard_two_b_${rate}_$(date +%H%M%S)" "$SHARED/run.sh" "127.0.0.1:$((PORT + 1))" invite "$half" "$dur" | result)
wait "$ua"
kill -INT "$uas" 2>/dev/null; wait "$uas" 2>/dev/null
la=$(cat "$RES/.shard_a"); rm -f "$RES/.shard_a"
a1=$(cpu a); b1=$(cpu b); stop a; stop b
cpu2=$(awk -v a0="$a0" -v a1="$a1" -v b0="$b0" -v b1="$b1" 'BEGIN{printf "%.1f", (a1-a0)+(b1-b0)}')
echo "RESULT layout=two/a total_rate=$rate siphon_cpu_s=$cpu2 ${la#RESULT }" | tee -a "$LOG"
echo "RESULT layout=two/b total_rate=$rate siphon_cpu_s=$cpu2 ${lb#RESULT }" | tee -a "$LOG"
