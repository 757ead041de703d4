#!/usr/bin/env bash
# The first second after a start (issue #13): start a fresh server, wait, load it, and look at the
# first second of that load apart from the rest (bench/first-second.py).
#
#   first-second.sh SERVER CASE RATE
#
# SERVER: kamailio | siphon. CASE: options (SIPp OPTIONS keepalives, bench/scenarios/options-keepalive.xml;
# Kamailio kam-options.cfg, siphon config/siphon.yaml + plugins/default) | proxy-stateful (SIPp
# INVITE/BYE calls through the server to a SIPp UAS; kam-proxy-stateful.cfg, bench/siphon-lb.yaml +
# plugins/lb), the configurations of side-by-side.sh. RATE: calls per second.
# Prints SIPp's response times per 250 ms of the first second, and, when tcpdump can capture on lo,
# the time each message spent in the server (kernel timestamps, microseconds): SIPp's clock ticks in
# whole milliseconds (about 4 ms on the bench VM), too coarse to tell 1 ms from 3.
#
# Environment: WAIT (s between the start and the load, default 3), DUR (s of load, default 4),
#   CAPTURE (0: no tcpdump), KAM_PORT (5070), SIPHON_PORT (5080), UAS_PORT (5090), SHARED
#   (../shared/bench), BENCH_OUT (/tmp/siphon-bench: raw files under first-second/).
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SHARED="${SHARED:-$( { cd "$ROOT/../shared/bench" || cd "$ROOT/../../shared/bench"; } 2>/dev/null && pwd)}"
if [ $# -lt 3 ]; then awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 2; fi
server="$1"; case_="$2"; rate="$3"
KAM_PORT="${KAM_PORT:-5070}"; SIPHON_PORT="${SIPHON_PORT:-5080}"; UAS_PORT="${UAS_PORT:-5090}"
RES="${BENCH_OUT:-/tmp/siphon-bench}"
export KAM_STATE="${KAM_STATE:-$RES/kam}" SIPHON_STATE="${SIPHON_STATE:-$RES/siphon}"
out="$RES/first-second/$(date +%Y%m%dT%H%M%S)-$server-$case_-$rate"; mkdir -p "$out"

case "$case_" in
	options) scen="$HERE/scenarios/options-keepalive.xml"; uas=""; kcfg="$SHARED/kamailio/kam-options.cfg"; scfg="$ROOT/config/siphon.yaml"; plugin=default ;;
	proxy-stateful) scen=invite; uas="127.0.0.1:$UAS_PORT"; kcfg="$SHARED/kamailio/kam-proxy-stateful.cfg"; scfg="$HERE/siphon-lb.yaml"; plugin=lb ;;
	*) echo "first-second.sh: CASE is options or proxy-stateful" >&2; exit 2 ;;
esac
case "$server" in
	kamailio) port="$KAM_PORT"; "$SHARED/kam.sh" start "$kcfg" "$port" "${KAM_CHILDREN:-2}" >/dev/null || exit 1 ;;
	siphon) port="$SIPHON_PORT"; (cd "$ROOT" && SIPHON_CONFIG="$scfg" "$HERE/siphon.sh" start "$port" "$plugin" >/dev/null) || exit 1 ;;
	*) echo "first-second.sh: SERVER is kamailio or siphon" >&2; exit 2 ;;
esac
stop_server() { if [ "$server" = kamailio ]; then "$SHARED/kam.sh" stop; else "$HERE/siphon.sh" stop; fi; }
trap stop_server EXIT
sleep "${WAIT:-3}"

cap=""
if [ "${CAPTURE:-1}" != 0 ] && command -v tcpdump >/dev/null; then
	tcpdump -i lo -s 1500 -B 65536 -w "$out/server.pcap" "udp port $port" 2>"$out/tcpdump.err" &
	cap=$!
	for _ in $(seq 1 50); do grep -q listening "$out/tcpdump.err" 2>/dev/null && break; sleep 0.1; done
fi
OUT_DIR="$out" START_UAS="$uas" "$SHARED/run.sh" "127.0.0.1:$port" "$scen" "$rate" "${DUR:-4}" | grep '^RESULT'
if [ -n "$cap" ]; then kill -INT "$cap"; wait "$cap" 2>/dev/null; fi
python3 "$HERE/first-second.py" rtt "$out"
if [ -n "$cap" ]; then
	grep -o '[0-9]* packets dropped by kernel' "$out/tcpdump.err"
	python3 "$HERE/first-second.py" pcap "$out/server.pcap" "$port"
fi
