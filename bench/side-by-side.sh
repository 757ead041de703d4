#!/usr/bin/env bash
# Side-by-side load test of siphon and Kamailio under the same SIPp load, in one run.
#
#   bench/side-by-side.sh CASE [SERVER ...]     CASE: options | proxy-stateful | proxy-dialog-acc
#                                               SERVER: kamailio siphon (default: both)
#
# Ramp mode (the default, SWEEP unset): for each server, start it fresh for every step, ramp the
# rate geometrically (x RAMP_FACTOR, STEP_DUR-second runs) until a run is not sustainable, bisect,
# then confirm the best rate for CONFIRM_DUR seconds. "Sustainable" is decided by
# ../shared/bench/run.sh: < 0.1 % failed or unfinished calls and achieved rate >= 95 % of the target.
#
# Sweep mode (SWEEP set, issue #13): offered load at each percentage of SWEEP_REF (Kamailio's max
# sustainable rate; when unset it is found first with the ramp above, Kamailio only). For each
# percentage, each server in turn: a fresh server, one STEP_DUR-second run at that rate, whatever
# its outcome. One CSV row per run in $BENCH_OUT/sweep-CASE-TIME.csv (columns: bench/RESULTS.md,
# "Load sweep"), then bench/plot.mjs draws it into SWEEP_PLOT_DIR (PLOT=0 skips the plot).
#
# proxy-dialog-acc (issue #14): proxy-stateful with dialog + acc loaded in both servers
# (bench/kamailio/kam-proxy-dialog-acc.cfg; bench/siphon-dialog-acc.yaml + bench/plugins/dialog-acc):
# every INVITE a dialog (in memory), acc and missed_calls rows plus one CDR per call into MariaDB
# (databases ${ACC_DB_PREFIX}_kamailio / _siphon, emptied before every run), calls held HOLD_MS. Each
# RESULT line adds dlg_active (dialog:active_dialogs sampled with kamcmd at half the run), acc_rows,
# missed_rows, cdr_rows (counted after the server stopped; siphon first drains its write queue, at most
# ACC_DRAIN_S) and acc_complete: yes when acc_rows >= 2 x successful and cdr_rows >= successful. A run
# that loses records is not sustainable (ACC_STRICT=0 keeps SIPp's verdict alone).
#
# Every run: memory sampled at 90 % of the run; server CPU seconds (utime + stime from /proc, all
# Kamailio processes) read before and after the load. Every run is bounded in calls and time
# (run.sh). Loopback only.
#
# Environment: STEP_DUR (10) CONFIRM_DUR (20) RAMP_FACTOR (1.4) MAX_STEPS (12) BISECT_STEPS (4)
#   START_RATE (per case) KAM_CHILDREN (2) SIPHON_PORT (5080) KAM_PORT (5070) UAS_PORT (5090)
#   SWEEP (percentages, e.g. "25 50 75 90 100 125 150 200") SWEEP_REF (calls/s)
#   SWEEP_PLOT_DIR (bench/plots) PLOT (1)
#   SHARED (path of the shared bench folder, default ../shared/bench next to the checkout)
#   SIPHON_CONFIG (proxy-stateful: bench/siphon-lb.yaml, plugins/lb + dispatcher over UAS_PORT)
#   SIPHON_PROXY_PLUGIN (proxy-stateful: lb; bench/plugins/proxy-stateful/build/proxy-stateful.wasm is
#     kam-proxy-stateful.cfg line for line, without lb's failure_route: the overload runs of RESULTS.md)
#   proxy-dialog-acc: HOLD_MS (1000) ACC_DB_PREFIX (siphon_calls_bench) ACC_DRAIN_S (15) ACC_STRICT (1)
#     KEEP_DB (0: the databases are dropped at the end)
#   KAM_STATE, SIPHON_STATE (PID files; default $BENCH_OUT/kam and $BENCH_OUT/siphon)
#   PIN="SERVER_CPUS:SIPP_CPUS" (e.g. "0:1"): the server (all its processes and threads) runs on
#     SERVER_CPUS and SIPp (UAC and UAS) on SIPP_CPUS (taskset), so the load generator cannot take the
#     server's CPU when the offered load rises past the limit; unset: no pinning
#   A UAS_PORT other than 5090 (proxy-stateful): copies of both dispatcher lists, and of
#   bench/siphon-lb.yaml unless SIPHON_CONFIG is set, under $BENCH_OUT name that port.
# Output: RESULT lines on stdout and in $BENCH_OUT/side-by-side.log; a summary table at the end.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SHARED="${SHARED:-$( { cd "$ROOT/../shared/bench" || cd "$ROOT/../../shared/bench"; } 2>/dev/null && pwd)}"   # next to the checkout, or to a worktree under wt/
[ -x "$SHARED/run.sh" ] || { echo "side-by-side: cannot find the shared bench harness (set SHARED)" >&2; exit 2; }
# the command as given, for the sweep file and its plot: the settings that change what is measured
CMD="bench/side-by-side.sh $*"
for v in SIPHON_PROXY_PLUGIN SIPHON_CONFIG KAM_CHILDREN STEP_DUR SWEEP START_RATE SWEEP_REF HOLD_MS PIN; do
	[ -n "${!v:-}" ] && CMD="$v=\"${!v}\" $CMD"
done
case_="${1:?usage: side-by-side.sh CASE [SERVER ...]}"; shift
servers=("$@"); [ ${#servers[@]} -eq 0 ] && servers=(kamailio siphon)
STEP_DUR="${STEP_DUR:-10}"; CONFIRM_DUR="${CONFIRM_DUR:-20}"
RAMP_FACTOR="${RAMP_FACTOR:-1.4}"; MAX_STEPS="${MAX_STEPS:-12}"; BISECT_STEPS="${BISECT_STEPS:-4}"
KAM_PORT="${KAM_PORT:-5070}"; SIPHON_PORT="${SIPHON_PORT:-5080}"; UAS_PORT="${UAS_PORT:-5090}"
RES="${BENCH_OUT:-/tmp/siphon-bench}"; mkdir -p "$RES"; LOG="$RES/side-by-side.log"
# PID files next to the results, so two runs with different BENCH_OUT never stop each other's servers
export KAM_STATE="${KAM_STATE:-$RES/kam}" SIPHON_STATE="${SIPHON_STATE:-$RES/siphon}"

case "$case_" in options|proxy-stateful|proxy-dialog-acc) ;; *) echo "side-by-side: unknown CASE $case_ (options, proxy-stateful, proxy-dialog-acc)" >&2; exit 2 ;; esac
scenario() { case "$case_" in options) echo "$HERE/scenarios/options-keepalive.xml" ;; proxy-*) echo invite ;; esac; }
start_rate() { [ -n "${START_RATE:-}" ] && { echo "$START_RATE"; return; }; case "$case_" in options) echo 4000 ;; *) echo 400 ;; esac; }
kam_cfg() { case "$case_" in options) echo "$SHARED/kamailio/kam-options.cfg" ;; proxy-stateful) echo "$SHARED/kamailio/kam-proxy-stateful.cfg" ;; proxy-dialog-acc) echo "$RES/kam-proxy-dialog-acc.cfg" ;; esac; }
siphon_plugin() { case "$case_" in options) echo default ;; proxy-stateful) echo "${SIPHON_PROXY_PLUGIN:-lb}" ;; proxy-dialog-acc) echo "${SIPHON_PROXY_PLUGIN:-$HERE/plugins/dialog-acc/build/dialog-acc.wasm}" ;; esac; }
# proxy-stateful: plugins/lb + modules.dispatcher (bench/siphon-lb.yaml), the twin of kam-proxy-stateful.cfg
siphon_config() { case "$case_" in proxy-stateful) echo "${SIPHON_CONFIG:-$HERE/siphon-lb.yaml}" ;; proxy-dialog-acc) echo "$RES/siphon-dialog-acc.yaml" ;; *) echo "${SIPHON_CONFIG:-$ROOT/config/siphon.yaml}" ;; esac; }

# PIN: the server under `taskset -c SERVER_CPUS`, SIPp (run.sh's $SIPP, UAC and UAS) under a wrapper
# that runs it with `taskset -c SIPP_CPUS`
PIN_SERVER=()
if [ -n "${PIN:-}" ]; then
	case "$PIN" in *:*) ;; *) echo "side-by-side: PIN is SERVER_CPUS:SIPP_CPUS, e.g. 0:1" >&2; exit 2 ;; esac
	command -v taskset >/dev/null || { echo "side-by-side: PIN needs taskset (util-linux)" >&2; exit 2; }
	PIN_SERVER=(taskset -c "${PIN%%:*}")
	printf '#!/bin/sh\nexec taskset -c %s %s "$@"\n' "${PIN#*:}" "$(command -v "${SIPP:-sipp}")" >"$RES/sipp-pinned"
	chmod +x "$RES/sipp-pinned"
	export SIPP="$RES/sipp-pinned"
fi
start_server() {
	case "$1" in
	kamailio) "${PIN_SERVER[@]}" "$SHARED/kam.sh" start "$(kam_cfg)" "$KAM_PORT" "${KAM_CHILDREN:-2}" >/dev/null ;;
	siphon) (cd "$ROOT" && SIPHON_CONFIG="$(siphon_config)" "${PIN_SERVER[@]}" "$HERE/siphon.sh" start "$SIPHON_PORT" "$(siphon_plugin)" >/dev/null) ;;
	esac
}
stop_server() { case "$1" in kamailio) "$SHARED/kam.sh" stop ;; siphon) "$HERE/siphon.sh" stop ;; esac; }
cpu_of() { case "$1" in kamailio) "$SHARED/kam.sh" cpu ;; siphon) "$HERE/siphon.sh" cpu ;; esac; }
mem_of() { case "$1" in kamailio) "$SHARED/kam.sh" mem ;; siphon) "$HERE/siphon.sh" mem ;; esac; }
port_of() { case "$1" in kamailio) echo "$KAM_PORT" ;; siphon) echo "$SIPHON_PORT" ;; esac; }
# the dispatcher lists name the UAS at 127.0.0.1:5090; another UAS_PORT gets copies naming it (proxy cases)
if [ "$UAS_PORT" != 5090 ] && [ "$case_" != options ]; then
	sed "s/127\.0\.0\.1:5090/127.0.0.1:$UAS_PORT/" "${KAM_DS_LIST:-$SHARED/kamailio/dispatcher.list}" >"$RES/dispatcher-kam.list"
	sed "s/127\.0\.0\.1:5090/127.0.0.1:$UAS_PORT/" "$HERE/dispatcher-lb.list" >"$RES/dispatcher-lb.list"
	export KAM_DS_LIST="$RES/dispatcher-kam.list"
	if [ -z "${SIPHON_CONFIG:-}" ] && [ "$case_" = proxy-stateful ]; then   # the copy keeps its data under $RES (data_dir is relative to the file)
		sed -e "s|list_file: bench/dispatcher-lb.list|list_file: $RES/dispatcher-lb.list|" -e "s|data_dir: .*|data_dir: bench-data|" \
			"$HERE/siphon-lb.yaml" >"$RES/siphon-lb.yaml"
		SIPHON_CONFIG="$RES/siphon-lb.yaml"
	fi
fi
# proxy-dialog-acc: the two databases, this run's copies of both configs (database, control socket,
# absolute paths), the plugin built
if [ "$case_" = proxy-dialog-acc ]; then
	HOLD_MS="${HOLD_MS:-1000}"; ACC_DB_PREFIX="${ACC_DB_PREFIX:-siphon_calls_bench}"
	case "$ACC_DB_PREFIX$HOLD_MS" in *[!a-z0-9_]*) echo "side-by-side: ACC_DB_PREFIX must be [a-z0-9_], HOLD_MS an integer" >&2; exit 2 ;; esac
	SQL_DIR="${KAMAILIO_SQL:-/usr/share/kamailio/mysql}"
	for f in standard acc; do
		[ -r "$SQL_DIR/$f-create.sql" ] || { echo "side-by-side: $SQL_DIR/$f-create.sql missing (apt-get install kamailio-mysql-modules)" >&2; exit 2; }
	done
	db() { mariadb -h127.0.0.1 -uroot "$@"; }
	KAM_DB="${ACC_DB_PREFIX}_kamailio"; SIPHON_DB="${ACC_DB_PREFIX}_siphon"
	KAM_CTL="$RES/kam_ctl_dialog_acc"; SIPHON_CTL="$RES/siphon_ctl_dialog_acc"
	{
		echo "#!KAMAILIO"
		echo "#!define DBURL \"mysql://root@127.0.0.1:3306/$KAM_DB\""
		echo "#!define CTL_SOCK \"unixs:$KAM_CTL\""
		grep -v '^#!KAMAILIO' "$HERE/kamailio/kam-proxy-dialog-acc.cfg"
	} >"$RES/kam-proxy-dialog-acc.cfg"
	ds_list="$HERE/dispatcher-lb.list"; [ "$UAS_PORT" != 5090 ] && ds_list="$RES/dispatcher-lb.list"
	sed -e "s|mysql://root@127.0.0.1:3306/siphon_calls_bench_siphon|mysql://root@127.0.0.1:3306/$SIPHON_DB|" \
		-e "s|list_file: bench/dispatcher-lb.list|list_file: $ds_list|" -e "s|data_dir: \.\./|data_dir: $ROOT/|" \
		-e "s|ctl: \[\]|ctl: [\"unix:$SIPHON_CTL\"]|" -e "s|plugin: plugins/|plugin: $HERE/plugins/|" \
		"${SIPHON_CONFIG:-$HERE/siphon-dialog-acc.yaml}" >"$RES/siphon-dialog-acc.yaml"
	case " ${servers[*]} " in *" siphon "*)
		[ -n "${SIPHON_PROXY_PLUGIN:-}" ] || node "$ROOT/scripts/build-plugins.mjs" --plugins-dir "$HERE/plugins" dialog-acc >/dev/null ||
			{ echo "side-by-side: bench/plugins/dialog-acc did not build" >&2; exit 1; } ;;
	esac
	# empty tables before every run: Kamailio's from kamdbctl's SQL, siphon's created by its acc module
	reset_db() {
		case "$1" in
		kamailio) db -e "DROP DATABASE IF EXISTS $KAM_DB; CREATE DATABASE $KAM_DB" && cat "$SQL_DIR/standard-create.sql" "$SQL_DIR/acc-create.sql" | db "$KAM_DB" ;;
		siphon) db -e "DROP DATABASE IF EXISTS $SIPHON_DB; CREATE DATABASE $SIPHON_DB" ;;
		esac
	}
	ctl_of() { case "$1" in kamailio) echo "unix:$KAM_CTL" ;; siphon) echo "unix:$SIPHON_CTL" ;; esac; }
	db_of() { case "$1" in kamailio) echo "$KAM_DB" ;; siphon) echo "$SIPHON_DB" ;; esac; }
	# stat SERVER NAME: one statistic over the control socket (kamcmd on both), empty when unreadable
	stat_of() { timeout 5 kamcmd -s "$(ctl_of "$1")" stats.get_statistics "$2" 2>/dev/null | awk -F' = ' 'NF == 2 {print $2; exit}'; }
	rows_of() { db -N -e "SELECT COUNT(*) FROM $(db_of "$1").$2" 2>/dev/null || echo 0; }
	# siphon writes acc rows from a queue off the SIP path (host/modules/acc/queue.ts): let it finish
	acc_drain() {
		local i q
		[ "$1" = siphon ] || return 0
		for ((i = 0; i < ${ACC_DRAIN_S:-15} * 10; i++)); do
			q=$(stat_of siphon acc:db_queue); [ -z "$q" ] || [ "$q" -eq 0 ] && return 0
			sleep 0.1
		done
	}
	# run.sh's achieved rate divides by SIPp's elapsed time, which ends a hold time after the last call
	# started: without_hold LINE judges the calling window (elapsed - HOLD_MS) instead, by run.sh's rule
	# (< 0.1 % failed or unfinished, >= 95 % of the rate); achieved_cps_with_hold keeps run.sh's figure
	without_hold() {
		local l="$1" v
		v=$(awk -v ok="$(field successful "$l")" -v f="$(field failed "$l")" -v u="$(field unfinished "$l")" -v c="$(field calls "$l")" \
			-v e="$(field elapsed_s "$l")" -v h="$HOLD_MS" -v r="$(field rate "$l")" 'BEGIN {
			if (e == "" || c == "") exit; t = e - h / 1000; if (t <= 0) t = e; a = ok / t
			printf "%.1f %s", a, ((f + u) * 1000 < c && a >= 0.95 * r) ? "yes" : "no" }')
		[ -z "$v" ] && { echo "$l"; return; }
		l="${l/ achieved_cps=$(field achieved_cps "$l") / achieved_cps=${v% *} achieved_cps_with_hold=$(field achieved_cps "$l") }"
		echo "${l/ sustainable=$(field sustainable "$l") / sustainable=${v#* } }"
	}
	trap '[ "${KEEP_DB:-0}" = 1 ] || db -e "DROP DATABASE IF EXISTS $KAM_DB; DROP DATABASE IF EXISTS $SIPHON_DB"' EXIT
fi

# a stale server from an earlier run would hold the port: stop it by its recorded PID (never by name,
# other Kamailio instances on the machine are not ours)
for srv in "${servers[@]}"; do stop_server "$srv"; done

# field NAME LINE: the value of NAME=... in a RESULT line (empty when absent)
field() { local kv; for kv in $2; do [ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }; done; }

# run_one SERVER RATE SECONDS: a fresh server, one bounded run.sh run; prints run.sh's RESULT line plus
# server, case, memory at 90 % of the run, the server's CPU seconds during the load (server_cpu_s,
# utime + stime summed over its processes, read just before and after run.sh) and per 1,000
# successful calls (cpu_s_per_1k)
run_one() {
	local srv="$1" rate="$2" dur="$3" uas="" line sampler mem cpu0 cpu1 cpu dlg="" dsampler extra="" acc=""
	[ "$case_" = proxy-dialog-acc ] && { reset_db "$srv" >/dev/null || { echo "RESULT server=$srv case=$case_ rate=$rate duration=$dur error=db_reset_failed"; return; }; }
	start_server "$srv" || { echo "RESULT server=$srv case=$case_ rate=$rate duration=$dur error=start_failed"; return; }
	case "$case_" in proxy-*) uas="127.0.0.1:$UAS_PORT" ;; esac
	if [ "$case_" = proxy-dialog-acc ]; then
		extra="-d $HOLD_MS"   # the call is held: its dialog is up between the ACK and the BYE
		( sleep "$(awk -v d="$dur" 'BEGIN{print d*0.5}')"; stat_of "$srv" active_dialogs >"$RES/.dlg.$srv" ) & dsampler=$!
	fi
	( sleep "$(awk -v d="$dur" 'BEGIN{print d*0.9}')"; mem_of "$srv" >"$RES/.mem.$srv" ) & sampler=$!
	cpu0=$(cpu_of "$srv")
	line=$(START_UAS="$uas" SIPP_EXTRA="$extra ${SIPP_EXTRA:-}" OUT_DIR="$RES/runs/${srv}_${case_}_${rate}_${dur}s_$(date +%H%M%S)" \
		"$SHARED/run.sh" "127.0.0.1:$(port_of "$srv")" "$(scenario)" "$rate" "$dur" | grep '^RESULT')
	[ "$case_" = proxy-dialog-acc ] && { acc_drain "$srv"; line=$(without_hold "$line"); }
	cpu1=$(cpu_of "$srv")
	kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
	if [ -n "${dsampler:-}" ]; then wait "$dsampler" 2>/dev/null; dlg=$(cat "$RES/.dlg.$srv" 2>/dev/null); rm -f "$RES/.dlg.$srv"; fi
	mem=$(cat "$RES/.mem.$srv" 2>/dev/null); rm -f "$RES/.mem.$srv"
	stop_server "$srv"
	if [ "$case_" = proxy-dialog-acc ]; then
		local a m c n; a=$(rows_of "$srv" acc); m=$(rows_of "$srv" missed_calls); c=$(rows_of "$srv" acc_cdrs); n=$(field successful "$line")
		acc="dlg_active=${dlg:-?} acc_rows=$a missed_rows=$m cdr_rows=$c acc_complete=$([ "$a" -ge $((2 * ${n:-0})) ] && [ "$c" -ge "${n:-0}" ] && echo yes || echo no)"
		# records lost: the run did not sustain the load (ACC_STRICT=0: SIPp's verdict alone)
		case "$acc" in *acc_complete=no*) [ "${ACC_STRICT:-1}" = 1 ] && line="${line/ sustainable=yes/ sustainable=no}" ;; esac
	fi
	cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$(field successful "$line")" \
		'BEGIN { if (b < a) { printf "server_cpu_s=lost"; exit }   # the server died in the run: its /proc counters are gone
			printf "server_cpu_s=%.2f", b - a; if (n > 0) printf " cpu_s_per_1k=%.4f", 1000 * (b - a) / n }')
	line="$line server=$srv case=$case_ $cpu $mem${acc:+ $acc}"
	echo "$(date +%FT%T) $line" >>"$LOG"
	echo "$line"
}
ok() { echo "$1" | grep -q ' sustainable=yes'; }

# ramp SERVER: ramp, bisect, confirm; sets good (max sustainable, 0 if none), bad, bestline
ramp() {
	local srv="$1" rate i line
	rate=$(start_rate); good=0; bad=0; bestline=""
	echo "== $srv $case_: ramp from $rate x$RAMP_FACTOR (${STEP_DUR}s steps)"
	for ((i = 0; i < MAX_STEPS; i++)); do
		line=$(run_one "$srv" "$rate" "$STEP_DUR"); echo "  $line" | cut -c1-800
		if ok "$line"; then good=$rate; bestline="$line"; rate=$(awk -v r="$rate" -v f="$RAMP_FACTOR" 'BEGIN{printf "%d", r*f}')
		elif [ "$good" -eq 0 ] && [ "$i" -lt 3 ]; then bad=$rate; rate=$((rate / 2))   # the start rate was too high: step down
		else bad=$rate; break; fi
	done
	if [ "$good" -gt 0 ] && [ "$bad" -gt 0 ]; then
		for ((i = 0; i < BISECT_STEPS; i++)); do
			[ $((bad - good)) -le $((good / 20 > 25 ? good / 20 : 25)) ] && break
			rate=$(((good + bad) / 2)); line=$(run_one "$srv" "$rate" "$STEP_DUR"); echo "  $line" | cut -c1-800
			if ok "$line"; then good=$rate; bestline="$line"; else bad=$rate; fi
		done
	fi
	if [ "$good" -gt 0 ]; then
		echo "== $srv $case_: confirm $good for ${CONFIRM_DUR}s"
		for ((i = 0; i < 3; i++)); do
			line=$(run_one "$srv" "$good" "$CONFIRM_DUR"); echo "  $line" | cut -c1-800
			if ok "$line"; then bestline="$line"; break; fi
			good=$((good * 95 / 100))
		done
		ok "$line" || bestline="$line unconfirmed=yes"
	fi
}

SWEEP_COLUMNS="case,server,pct,offered_cps,duration_s,successful,failed,unfinished,failed_pct,achieved_cps,p50_ms,p99_ms,bye_p50_ms,bye_p99_ms,retrans,server_cpu_s,cpu_s_per_1k,sipp_cpu_pct,sustainable,error,out"
# sweep_row PCT RATE LINE: one CSV row (SWEEP_COLUMNS) from a run_one line; no field holds a comma
sweep_row() {
	local f row="$case_,$(field server "$3"),$1,$2,$STEP_DUR"
	for f in successful failed unfinished failed_pct achieved_cps rtd1_p50_ms rtd1_p99_ms rtd2_p50_ms rtd2_p99_ms \
		retrans server_cpu_s cpu_s_per_1k sipp_cpu_pct sustainable error out; do
		row="$row,$(field "$f" "$3" | tr -d ,)"
	done
	echo "$row"
}

sweep() {
	local ref="${SWEEP_REF:-}" ref_src="SWEEP_REF" csv pct rate srv line
	case "$ref$SWEEP" in *[!0-9\ ]*) echo "side-by-side: SWEEP_REF and SWEEP take integers" >&2; exit 2 ;; esac
	if [ -z "$ref" ]; then
		ramp kamailio; ref=$good; ref_src="Kamailio's max sustainable rate, ramp of this run"
		[ "$ref" -gt 0 ] || { echo "side-by-side: the Kamailio ramp found no sustainable rate; set SWEEP_REF" >&2; exit 1; }
	fi
	csv="$RES/sweep-$case_-$(date +%Y%m%dT%H%M%S).csv"
	{
		echo "# siphon side-by-side load sweep (bench/side-by-side.sh; columns: bench/RESULTS.md, Load sweep)"
		echo "# command: $CMD"
		echo "# settings: STEP_DUR=$STEP_DUR KAM_CHILDREN=${KAM_CHILDREN:-2} siphon config $(siphon_config)"
		echo "# date: $(date -u +%FT%TZ)"
		echo "# ref_cps: $ref ($ref_src)"
		echo "# machine: $(nproc) CPUs, $(uname -sr), siphon $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
		echo "$SWEEP_COLUMNS"
	} >"$csv"
	echo "== sweep $case_: ${SWEEP// /, } % of $ref calls/s, ${STEP_DUR}s runs, servers ${servers[*]} -> $csv"
	for pct in $SWEEP; do
		rate=$(awk -v r="$ref" -v p="$pct" 'BEGIN { x = int(r * p / 100 + 0.5); print x < 1 ? 1 : x }')
		for srv in "${servers[@]}"; do   # interleaved, so drift of the shared machine hits both servers alike
			line=$(run_one "$srv" "$rate" "$STEP_DUR"); echo "  $pct% $line" | cut -c1-800
			sweep_row "$pct" "$rate" "$line" >>"$csv"
		done
	done
	echo
	echo "== sweep summary $case_ ($csv)"
	column -s, -t < <(grep -v '^#' "$csv" | cut -d, -f2-4,9-12,15-17)
	if [ "${PLOT:-1}" = 1 ]; then node "$HERE/plot.mjs" "$csv" --out-dir "${SWEEP_PLOT_DIR:-$HERE/plots}"; fi
}

if [ -n "${SWEEP:-}" ]; then sweep; exit 0; fi

declare -A best
for srv in "${servers[@]}"; do
	ramp "$srv"
	best[$srv]="max_sustainable=$good first_unsustainable=$bad $bestline"
done
echo
echo "== summary $case_ ($(date +%FT%T), STEP_DUR=$STEP_DUR CONFIRM_DUR=$CONFIRM_DUR)"
for srv in "${servers[@]}"; do echo "$srv ${best[$srv]}"; done | tee -a "$LOG"
