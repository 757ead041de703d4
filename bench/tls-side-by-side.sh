#!/usr/bin/env bash
# SIP over TLS at load, siphon beside Kamailio's tls module (issue #15 must-show: "SIPp over TLS at load
# side by side with Kamailio's tls module: siphon at least Kamailio's rate, 0 failed"). Loopback only.
#
#   bench/tls-side-by-side.sh [SERVER ...]        SERVER: kamailio siphon (default: both)
#
# The load: SIPp OPTIONS keepalives to the server itself (bench/scenarios/options-keepalive.xml, the
# options case of bench/side-by-side.sh) through ../shared/bench/run.sh.
# Debian's SIPp (sip-tester 3.6.1) is built without OpenSSL ("To use a TLS transport you must compile SIPp
# with OpenSSL"), so SIPp speaks TCP (-t t1 / -t tn) to a socat bridge that speaks TLS to the server, the
# same bridge for both servers: TLS_MODE l1 = SIPp t1, one TCP and one TLS connection for all calls; ln =
# SIPp tn, one connection per call, so every call pays a TLS handshake (socat forks one child per
# connection). The bridge costs CPU on the same machine: the rates are comparable, not absolute. Both servers answer every OPTIONS 200 statelessly:
# Kamailio with bench/kamailio/kam-tls-options.cfg (sl_send_reply, tls module, KAM_CHILDREN TCP workers),
# siphon with plugins/default (its route answers an OPTIONS to itself, R-URI without user) on a tls: listener (one process,
# core.workers WORKERS). Certificates (a CA and a server certificate for 127.0.0.1) are made by openssl
# under $BENCH_OUT/tls, the same files for both servers; SIPp presents none (verify_client off on both).
#
# For each server and each rate of RATES (in order), a fresh server and one run of DUR seconds; the rate
# list stops for a server at its first unsustainable run (run.sh: < 0.1 % failed and >= 95 % of the
# rate). Prints run.sh's RESULT lines with server= and the best sustainable rate per server at the end.
#
# Environment: TLS_MODE (l1) RATES ("250 500 1000 2000 3000 4000 6000") DUR (20) KAM_CHILDREN (2)
#   WORKERS (1) TLS_PORT_KAM (5071) TLS_PORT_SIPHON (5081) BRIDGE_PORT (5091) BENCH_OUT (/tmp/siphon-bench)
#   SHARED (../shared/bench next to the checkout)
# Smoke (seconds, proves the script works, measures nothing): RATES=20 DUR=3 bench/tls-side-by-side.sh
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SHARED="${SHARED:-$(cd "$ROOT/../shared/bench" 2>/dev/null && pwd)}"
[ -x "$SHARED/run.sh" ] || { echo "tls-side-by-side: cannot find the shared bench harness (set SHARED)" >&2; exit 2; }
[ -f /usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so ] || echo "tls-side-by-side: Kamailio's tls module is missing (apt-get install kamailio-tls-modules)" >&2
servers=("$@"); [ ${#servers[@]} -eq 0 ] && servers=(kamailio siphon)
TLS_MODE="${TLS_MODE:-l1}"; RATES="${RATES:-250 500 1000 2000 3000 4000 6000}"; DUR="${DUR:-20}"
KAM_PORT="${TLS_PORT_KAM:-5071}"; SIPHON_PORT="${TLS_PORT_SIPHON:-5081}"
RES="${BENCH_OUT:-/tmp/siphon-bench}"; CERTS="$RES/tls"; mkdir -p "$CERTS"; LOG="$RES/tls-side-by-side.log"
export KAM_STATE="${KAM_STATE:-$RES/kam-tls}"
SIPHON_PID="$RES/siphon-tls.pid"

# certificates: a CA and a server certificate for 127.0.0.1 (P-256, two days)
if [ ! -f "$CERTS/server.pem" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$CERTS/ca.key" -out "$CERTS/ca.pem" \
		-days 2 -subj /CN=bench-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$CERTS/server.ext"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$CERTS/server.key" -out "$CERTS/server.csr" -subj /CN=127.0.0.1 2>/dev/null
	openssl x509 -req -in "$CERTS/server.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" -CAcreateserial -out "$CERTS/server.pem" -days 2 -extfile "$CERTS/server.ext" 2>/dev/null
fi
case "$TLS_MODE" in l1) SIPP_T="-t t1" ;; ln) SIPP_T="-t tn -max_socket 4096" ;; *) echo "TLS_MODE: l1 or ln" >&2; exit 2 ;; esac
BRIDGE_PORT="${BRIDGE_PORT:-5091}"; BRIDGE_PID="$RES/tls-bridge.pid"
command -v socat >/dev/null || { echo "tls-side-by-side: needs socat (apt-get install socat)" >&2; exit 2; }
# bridge PORT: TCP on 127.0.0.1:BRIDGE_PORT -> TLS to 127.0.0.1:PORT (server certificate checked against the CA)
start_bridge() {
	socat "TCP-LISTEN:$BRIDGE_PORT,bind=127.0.0.1,reuseaddr,fork,backlog=4096" "OPENSSL:127.0.0.1:$1,cafile=$CERTS/ca.pem,verify=1" 2>>"$RES/tls-bridge.log" &
	echo $! >"$BRIDGE_PID"
	for _ in $(seq 1 50); do tcp_listening "$BRIDGE_PORT" && return 0; sleep 0.1; done
	return 1
}
stop_bridge() { [ -f "$BRIDGE_PID" ] && { kill -TERM "$(cat "$BRIDGE_PID")" 2>/dev/null; rm -f "$BRIDGE_PID"; }; }

# Kamailio: the shared stateless OPTIONS config's route, on a tls: listener (bench/kamailio/kam-tls-options.cfg)
sed "s|TLS_DIR|$CERTS|g" "$HERE/kamailio/tls.cfg" >"$RES/kam-tls.cfg.tls"
# siphon: config/siphon.yaml's defaults with a tls: listener, plugins/default, no auth for the OPTIONS route
cat >"$RES/siphon-tls.yaml" <<EOF
core:
  listen: [tls:127.0.0.1:$SIPHON_PORT]
  ctl: []
  log_level: warn
  warmup: 2000
  workers: ${WORKERS:-1}
  aliases: [127.0.0.1:$BRIDGE_PORT]   # SIPp's R-URI names the bridge: still this node
  data_dir: $RES/siphon-tls-data
  tls:
    certificate: $CERTS/server.pem
    private_key: $CERTS/server.key
    verify_client: off
  tcp: { max_connections: 16384, accept_iplimit: 0 }
routing:
  plugin: default
  config: { auth: "off", nat: "off", log_calls: "off" }
EOF

tcp_listening() { ss -ltn | grep -q "127.0.0.1:$1 "; }
start_server() {
	case "$1" in
	kamailio)
		"$SHARED/kam.sh" stop
		kamailio -f "$HERE/kamailio/kam-tls-options.cfg" -DD -E -m "${KAM_SHM_MB:-2048}" -M "${KAM_PKG_MB:-8}" \
			-A "KAM_PORT=$KAM_PORT" -A "KAM_CHILDREN=${KAM_CHILDREN:-2}" -A "TLS_CFG=\"$RES/kam-tls.cfg.tls\"" >"$KAM_STATE.log" 2>&1 &
		echo $! >"$KAM_STATE.pid"; port=$KAM_PORT ;;
	siphon)
		node "$ROOT/dist/host/cli/siphon.js" start -c "$RES/siphon-tls.yaml" >"$RES/siphon-tls.log" 2>&1 &
		echo $! >"$SIPHON_PID"; port=$SIPHON_PORT ;;
	esac
	for _ in $(seq 1 300); do tcp_listening "$port" && return 0; sleep 0.1; done
	echo "tls-side-by-side: $1 did not listen on $port" >&2; return 1
}
stop_server() {
	case "$1" in
	kamailio) "$SHARED/kam.sh" stop ;;
	siphon)
		[ -f "$SIPHON_PID" ] || return 0
		p=$(cat "$SIPHON_PID"); kill -TERM "$p" 2>/dev/null
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null; rm -f "$SIPHON_PID" ;;
	esac
}
port_of() { case "$1" in kamailio) echo "$KAM_PORT" ;; siphon) echo "$SIPHON_PORT" ;; esac; }

declare -A best
for srv in "${servers[@]}"; do
	best[$srv]=0
	for rate in $RATES; do
		start_server "$srv" || { echo "RESULT server=$srv rate=$rate error=start_failed"; break; }
		start_bridge "$(port_of "$srv")" || { stop_server "$srv"; echo "RESULT server=$srv rate=$rate error=bridge_failed"; break; }
		line=$(SIPP_EXTRA="$SIPP_T" OUT_DIR="$RES/runs/tls_${TLS_MODE}_${srv}_${rate}_$(date +%H%M%S)" \
			"$SHARED/run.sh" "127.0.0.1:$BRIDGE_PORT" "$HERE/scenarios/options-keepalive.xml" "$rate" "$DUR" | grep '^RESULT')
		stop_bridge
		stop_server "$srv"
		line="$line server=$srv transport=tls-$TLS_MODE"
		echo "$(date +%FT%T) $line" >>"$LOG"; echo "$line" | cut -c1-400
		echo "$line" | grep -q ' sustainable=yes' || break
		best[$srv]=$rate
	done
done
echo "== TLS ($TLS_MODE) OPTIONS, best sustainable rate of RATES (0 failed or < 0.1 %, >= 95 % achieved):"
for srv in "${servers[@]}"; do echo "  $srv: ${best[$srv]} calls/s"; done
