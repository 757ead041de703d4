#!/usr/bin/env bash
# Side-by-side load test of siphon and Kamailio under the same SIPp load, in one run.
#
#   bench/side-by-side.sh CASE [SERVER ...]     CASE: options | proxy-stateful
#                                               SERVER: kamailio siphon (default: both)
#
# For each server: start it fresh for every step, ramp the rate geometrically (x RAMP_FACTOR,
# STEP_DUR-second runs) until a run is not sustainable, bisect, then confirm the best rate for
# CONFIRM_DUR seconds. "Sustainable" is decided by ../shared/bench/run.sh: < 0.1 % failed or
# unfinished calls and achieved rate >= 95 % of the target. Memory is sampled at 90 % of each run.
# Every run is bounded in calls and time (run.sh). Loopback only.
#
# Environment: STEP_DUR (10) CONFIRM_DUR (20) RAMP_FACTOR (1.4) MAX_STEPS (12) BISECT_STEPS (4)
#   START_RATE (per case) KAM_CHILDREN (2) SIPHON_PORT (5080) KAM_PORT (5070) UAS_PORT (5090)
#   SHARED (path of the shared bench folder, default ../shared/bench next to the checkout)
#   SIPHON_CONFIG (proxy-stateful: bench/siphon-lb.yaml, plugins/lb + dispatcher over UAS_PORT)
#   SIPHON_PROXY_PLUGIN (proxy-stateful: lb)
# Output: RESULT lines on stdout and in $BENCH_OUT/side-by-side.log; a summary table at the end.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SHARED="${SHARED:-$(cd "$ROOT/../shared/bench" 2>/dev/null && pwd)}"
[ -x "$SHARED/run.sh" ] || { echo "side-by-side: cannot find the shared bench harness (set SHARED)" >&2; exit 2; }
case_="${1:?usage: side-by-side.sh CASE [SERVER ...]}"; shift
servers=("$@"); [ ${#servers[@]} -eq 0 ] && servers=(kamailio siphon)
STEP_DUR="${STEP_DUR:-10}"; CONFIRM_DUR="${CONFIRM_DUR:-20}"
RAMP_FACTOR="${RAMP_FACTOR:-1.4}"; MAX_STEPS="${MAX_STEPS:-12}"; BISECT_STEPS="${BISECT_STEPS:-4}"
KAM_PORT="${KAM_PORT:-5070}"; SIPHON_PORT="${SIPHON_PORT:-5080}"; UAS_PORT="${UAS_PORT:-5090}"
RES="${BENCH_OUT:-/tmp/siphon-bench}"; mkdir -p "$RES"; LOG="$RES/side-by-side.log"
# a stale Kamailio from an earlier run would hold the port; only when Kamailio is measured
case " ${servers[*]} " in *" kamailio "*) pkill -x kamailio 2>/dev/null || true ;; esac

scenario() { case "$case_" in options) echo "$HERE/scenarios/options-keepalive.xml" ;; proxy-stateful) echo invite ;; esac; }
start_rate() { [ -n "${START_RATE:-}" ] && { echo "$START_RATE"; return; }; case "$case_" in options) echo 4000 ;; *) echo 400 ;; esac; }
kam_cfg() { case "$case_" in options) echo "$SHARED/kamailio/kam-options.cfg" ;; proxy-stateful) echo "$SHARED/kamailio/kam-proxy-stateful.cfg" ;; esac; }
siphon_plugin() { case "$case_" in options) echo default ;; proxy-stateful) echo "${SIPHON_PROXY_PLUGIN:-lb}" ;; esac; }
# proxy-stateful: plugins/lb + modules.dispatcher (bench/siphon-lb.yaml), the twin of kam-proxy-stateful.cfg
siphon_config() { case "$case_" in proxy-stateful) echo "${SIPHON_CONFIG:-$HERE/siphon-lb.yaml}" ;; *) echo "${SIPHON_CONFIG:-$ROOT/config/siphon.yaml}" ;; esac; }

start_server() {
	case "$1" in
	kamailio) "$SHARED/kam.sh" start "$(kam_cfg)" "$KAM_PORT" "${KAM_CHILDREN:-2}" >/dev/null ;;
	siphon) (cd "$ROOT" && SIPHON_CONFIG="$(siphon_config)" "$HERE/siphon.sh" start "$SIPHON_PORT" "$(siphon_plugin)" >/dev/null) ;;
	esac
}
stop_server() { case "$1" in kamailio) "$SHARED/kam.sh" stop ;; siphon) "$HERE/siphon.sh" stop ;; esac; }
mem_of() { case "$1" in kamailio) "$SHARED/kam.sh" mem ;; siphon) "$HERE/siphon.sh" mem ;; esac; }
port_of() { case "$1" in kamailio) echo "$KAM_PORT" ;; siphon) echo "$SIPHON_PORT" ;; esac; }

run_one() {
	local srv="$1" rate="$2" dur="$3" uas="" line sampler mem
	start_server "$srv" || { echo "RESULT server=$srv error=start_failed"; return; }
	case "$case_" in proxy-*) uas="127.0.0.1:$UAS_PORT" ;; esac
	( sleep "$(awk -v d="$dur" 'BEGIN{print d*0.9}')"; mem_of "$srv" >"$RES/.mem.$srv" ) & sampler=$!
	line=$(START_UAS="$uas" OUT_DIR="$RES/runs/${srv}_${case_}_${rate}_${dur}s_$(date +%H%M%S)" \
		"$SHARED/run.sh" "127.0.0.1:$(port_of "$srv")" "$(scenario)" "$rate" "$dur" | grep '^RESULT')
	kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
	mem=$(cat "$RES/.mem.$srv" 2>/dev/null); rm -f "$RES/.mem.$srv"
	stop_server "$srv"
	line="$line server=$srv case=$case_ $mem"
	echo "$(date +%FT%T) $line" >>"$LOG"
	echo "$line"
}
ok() { echo "$1" | grep -q ' sustainable=yes'; }

declare -A best
for srv in "${servers[@]}"; do
	rate=$(start_rate); good=0; bad=0; bestline=""
	echo "== $srv $case_: ramp from $rate x$RAMP_FACTOR (${STEP_DUR}s steps)"
	for ((i = 0; i < MAX_STEPS; i++)); do
		line=$(run_one "$srv" "$rate" "$STEP_DUR"); echo "  $line" | cut -c1-300
		if ok "$line"; then good=$rate; bestline="$line"; rate=$(awk -v r="$rate" -v f="$RAMP_FACTOR" 'BEGIN{printf "%d", r*f}')
		elif [ "$good" -eq 0 ] && [ "$i" -lt 3 ]; then bad=$rate; rate=$((rate / 2))   # the start rate was too high: step down
		else bad=$rate; break; fi
	done
	if [ "$good" -gt 0 ] && [ "$bad" -gt 0 ]; then
		for ((i = 0; i < BISECT_STEPS; i++)); do
			[ $((bad - good)) -le $((good / 20 > 25 ? good / 20 : 25)) ] && break
			rate=$(((good + bad) / 2)); line=$(run_one "$srv" "$rate" "$STEP_DUR"); echo "  $line" | cut -c1-300
			if ok "$line"; then good=$rate; bestline="$line"; else bad=$rate; fi
		done
	fi
	if [ "$good" -gt 0 ]; then
		echo "== $srv $case_: confirm $good for ${CONFIRM_DUR}s"
		for ((i = 0; i < 3; i++)); do
			line=$(run_one "$srv" "$good" "$CONFIRM_DUR"); echo "  $line" | cut -c1-300
			if ok "$line"; then bestline="$line"; break; fi
			good=$((good * 95 / 100))
		done
		ok "$line" || bestline="$line unconfirmed=yes"
	fi
	best[$srv]="max_sustainable=$good first_unsustainable=$bad $bestline"
done
echo
echo "== summary $case_ ($(date +%FT%T), STEP_DUR=$STEP_DUR CONFIRM_DUR=$CONFIRM_DUR)"
for srv in "${servers[@]}"; do echo "$srv ${best[$srv]}"; done | tee -a "$LOG"
