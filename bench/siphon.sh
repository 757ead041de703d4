#!/usr/bin/env bash
# Start / stop / measure a siphon instance for benchmarks (loopback only), the twin of
# ../shared/bench/kam.sh so both servers are driven the same way.
#   siphon.sh start [PORT] [PLUGIN]   run dist/host/cli/siphon.js in the background, record PID
#                                     (waits up to SIPHON_START_WAIT s, default 30, for the port)
#   siphon.sh stop                    SIGTERM, then SIGKILL after 10 s
#   siphon.sh mem                     RSS/PSS of the process
#   siphon.sh cpu                     CPU seconds used so far
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
STATE="${SIPHON_STATE:-${TMPDIR:-/tmp}/siphon-bench/siphon}"
mkdir -p "$(dirname "$STATE")"
spid() { [ -f "$STATE.pid" ] && cat "$STATE.pid"; }

case "${1:-}" in
start)
	port="${2:-5080}"; plugin="${3:-default}"
	if [ -n "$(spid)" ] && kill -0 "$(spid)" 2>/dev/null; then echo "siphon already running pid $(spid)" >&2; exit 1; fi
	node ${SIPHON_NODE_FLAGS:-} "$ROOT/dist/host/cli/siphon.js" start -c "${SIPHON_CONFIG:-$ROOT/config/siphon.yaml}" \
		--listen "udp:127.0.0.1:$port" --plugin "$plugin" ${SIPHON_EXTRA:-} >"$STATE.log" 2>&1 &
	echo $! >"$STATE.pid"
	for _ in $(seq 1 "$((${SIPHON_START_WAIT:-30} * 10))"); do   # start-up + warm-up: seconds on a loaded machine
		if ss -lun | grep -q "127.0.0.1:$port "; then echo "siphon pid $(spid) port=$port plugin=$plugin"; exit 0; fi
		kill -0 "$(spid)" 2>/dev/null || break
		sleep 0.1
	done
	echo "siphon failed to start; log:" >&2; tail -20 "$STATE.log" >&2; exit 1
	;;
stop)
	p="$(spid)"; [ -z "$p" ] && exit 0
	if kill -0 "$p" 2>/dev/null; then
		kill -TERM "$p"
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$p" 2>/dev/null && kill -KILL "$p"
	fi
	rm -f "$STATE.pid"
	;;
mem)
	p="$(spid)"; [ -z "$p" ] && { echo "not running"; exit 1; }
	r=$(awk '/^VmRSS:/{print $2}' /proc/$p/status); s=$(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup)
	echo "siphon_rss_kb=$r siphon_pss_kb=$s"
	;;
cpu)
	p="$(spid)"; [ -z "$p" ] && { echo 0; exit 1; }
	awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14 + $15) / hz}' /proc/$p/stat
	;;
*) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 2 ;;
esac
