#!/usr/bin/env bash
# REGISTER with digest authentication at load, siphon and Kamailio side by side (issue #11):
# SIPp's [authentication] (bench/scenarios/register-auth.xml: REGISTER -> 401 -> REGISTER with
# Authorization -> 200) against Kamailio (auth_db + usrloc, bench/kamailio/kam-register-auth.cfg) and
# siphon (modules auth + auth_db + registrar, bench/siphon-register-auth.yaml), both reading the same
# subscriber rows from one MariaDB database, at the same rate, one fresh server per run.
#
#   bench/register-auth.sh RATE DURATION [SERVER ...]    SERVER: kamailio siphon (default: both)
#
# Set-up: database $DB (dropped and re-created) with kamdbctl's own tables (standard + auth_db SQL of
# kamailio-mysql-modules), $USERS kamctl-style rows u000000..@$DOMAIN (password, ha1, ha1b), and the
# SIPp injection file with the same users. The run itself is ../shared/bench/run.sh (bounded in calls
# and time, loopback only): "sustainable" = < 0.1 % failed or unfinished and >= 95 % of the rate.
# Environment: USERS (1000) DOMAIN (bench.test) DB (siphon_bench_register_auth) KEEP_DB (0)
#   KAM_PORT (5070) SIPHON_PORT (5080) KAM_CHILDREN (2) KAM_REPLAY (0; 1 = Kamailio with nonce_count +
#   one_time_nonce, what siphon does by default) SIPHON_CONFIG (bench/siphon-register-auth.yaml)
#   SIPHON_PLUGIN (bench/plugins/register-auth/build/register-auth.wasm; default = plugins/default)
#   SHARED BENCH_OUT (/tmp/siphon-bench)
# Output: RESULT lines (server=...) on stdout and in $BENCH_OUT/register-auth.log, then a summary.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SHARED="${SHARED:-$( { cd "$ROOT/../shared/bench" || cd "$ROOT/../../shared/bench"; } 2>/dev/null && pwd)}"   # next to the checkout, or to a worktree under wt/
[ -x "$SHARED/run.sh" ] || { echo "register-auth: cannot find the shared bench harness (set SHARED)" >&2; exit 2; }
[ $# -ge 2 ] || { awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 2; }
rate="$1"; dur="$2"; shift 2
case "$rate$dur" in *[!0-9]*) echo "register-auth: RATE and DURATION must be integers" >&2; exit 2 ;; esac
servers=("$@"); [ ${#servers[@]} -eq 0 ] && servers=(kamailio siphon)
USERS="${USERS:-1000}"; DOMAIN="${DOMAIN:-bench.test}"; DB="${DB:-siphon_bench_register_auth}"
KAM_PORT="${KAM_PORT:-5070}"; SIPHON_PORT="${SIPHON_PORT:-5080}"
SQL_DIR="${KAMAILIO_SQL:-/usr/share/kamailio/mysql}"
RES="${BENCH_OUT:-/tmp/siphon-bench}"; mkdir -p "$RES"; LOG="$RES/register-auth.log"
case "$DB" in *[!a-z0-9_]*) echo "register-auth: DB must be [a-z0-9_]" >&2; exit 2 ;; esac
case "$USERS" in *[!0-9]*|0) echo "register-auth: USERS must be a positive integer" >&2; exit 2 ;; esac
[ "$USERS" -le 1000000 ] || { echo "register-auth: at most 1000000 USERS" >&2; exit 2; }
for f in standard auth_db; do
	[ -r "$SQL_DIR/$f-create.sql" ] || { echo "register-auth: $SQL_DIR/$f-create.sql missing (apt-get install kamailio-mysql-modules)" >&2; exit 2; }
done
db() { mariadb -h127.0.0.1 -uroot "$@"; }

# ---- the subscriber rows and the injection file ------------------------------------------------------
users_csv="$RES/register-auth-users.csv"
echo "== database $DB: kamdbctl tables, $USERS subscribers @$DOMAIN"
db -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB" || exit 1
cat "$SQL_DIR/standard-create.sql" "$SQL_DIR/auth_db-create.sql" | db "$DB" || exit 1
# kamctl add: password (STORE_PLAINTEXT_PW=1), ha1 = MD5(user:domain:pw), ha1b = MD5(user@domain:domain:pw)
awk -v n="$USERS" -v d="$DOMAIN" 'BEGIN {
	for (i = 0; i < n; i += 1000) {
		printf "INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES\n"
		for (j = i; j < i + 1000 && j < n; j++) {
			u = sprintf("u%06d", j); p = sprintf("pw-%06d-x", j)
			printf "%s(\047%s\047,\047%s\047,\047%s\047,MD5(\047%s:%s:%s\047),MD5(\047%s@%s:%s:%s\047))\n", (j > i ? "," : ""), u, d, p, u, d, p, u, d, d, p
		}
		print ";"
	}
}' | db "$DB" || exit 1
awk -v n="$USERS" -v d="$DOMAIN" 'BEGIN { print "SEQUENTIAL"; for (j = 0; j < n; j++) printf "u%06d;%s;[authentication username=u%06d password=pw-%06d-x]\n", j, d, j, j }' >"$users_csv"

# ---- the servers -----------------------------------------------------------------------------------
kam_cfg="$RES/kam-register-auth.cfg"
{
	echo "#!KAMAILIO"
	echo "#!define DBURL \"mysql://root@127.0.0.1:3306/$DB\""
	[ "${KAM_REPLAY:-0}" = 1 ] && echo "#!define WITH_REPLAY_PROTECTION"
	grep -v '^#!KAMAILIO' "$HERE/kamailio/kam-register-auth.cfg"
} >"$kam_cfg"
SIPHON_CONFIG="${SIPHON_CONFIG:-$HERE/siphon-register-auth.yaml}"
SIPHON_PLUGIN_SET="${SIPHON_PLUGIN:-}"
SIPHON_PLUGIN="${SIPHON_PLUGIN:-$HERE/plugins/register-auth/build/register-auth.wasm}"
siphon_cfg="$RES/siphon-register-auth.yaml"
case " ${servers[*]} " in *" siphon "*)
	[ -n "${SIPHON_PLUGIN_SET:-}" ] || node "$ROOT/scripts/build-plugins.mjs" --plugins-dir "$HERE/plugins" register-auth >/dev/null ||
		{ echo "register-auth: bench/plugins/register-auth did not build" >&2; exit 1; } ;;
esac
# the config with this run's database; its relative paths made absolute (the copy lives in $RES)
sed -e "s|mysql://root@127.0.0.1:3306/siphon_bench_register_auth|mysql://root@127.0.0.1:3306/$DB|" -e "s|aliases: \[bench.test\]|aliases: [$DOMAIN]|" \
	-e "s|data_dir: \.\./|data_dir: $ROOT/|" -e "s|plugin: plugins/|plugin: $HERE/plugins/|" "$SIPHON_CONFIG" >"$siphon_cfg"
start_server() {
	case "$1" in
	kamailio) "$SHARED/kam.sh" start "$kam_cfg" "$KAM_PORT" "${KAM_CHILDREN:-2}" >/dev/null ;;
	siphon) (cd "$ROOT" && SIPHON_CONFIG="$siphon_cfg" "$HERE/siphon.sh" start "$SIPHON_PORT" "$SIPHON_PLUGIN" >/dev/null) ;;
	esac
}
stop_server() { case "$1" in kamailio) "$SHARED/kam.sh" stop ;; siphon) "$HERE/siphon.sh" stop ;; esac; }
mem_of() { case "$1" in kamailio) "$SHARED/kam.sh" mem ;; siphon) "$HERE/siphon.sh" mem ;; esac; }
cpu_of() { case "$1" in kamailio) "$SHARED/kam.sh" cpu ;; siphon) "$HERE/siphon.sh" cpu ;; esac; }
port_of() { case "$1" in kamailio) echo "$KAM_PORT" ;; siphon) echo "$SIPHON_PORT" ;; esac; }

declare -A summary
for srv in "${servers[@]}"; do
	echo "== $srv: REGISTER with digest, $rate/s for ${dur}s ($USERS users)"
	if ! start_server "$srv"; then
		line="RESULT server=$srv error=start_failed"
	else
		( sleep "$(awk -v d="$dur" 'BEGIN{print d*0.9}')"; mem_of "$srv" >"$RES/.mem.$srv" ) & sampler=$!
		# -default_behaviors all,-bye: an aborted REGISTER "call" (a 503, a timeout) sends no BYE (SIPp's
		# default answers an abort with BYE, which a REGISTER has no dialog for: it only adds a 404 to count)
		line=$(SIPP_EXTRA="-inf $users_csv -default_behaviors all,-bye ${SIPP_EXTRA:-}" OUT_DIR="$RES/runs/${srv}_register-auth_${rate}_${dur}s_$(date +%H%M%S)" \
			"$SHARED/run.sh" "127.0.0.1:$(port_of "$srv")" "$HERE/scenarios/register-auth.xml" "$rate" "$dur" | grep '^RESULT')
		kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
		cpu=$(cpu_of "$srv"); mem=$(cat "$RES/.mem.$srv" 2>/dev/null); rm -f "$RES/.mem.$srv"
		stop_server "$srv"
		line="$line server=$srv case=register-auth users=$USERS server_cpu_s=$cpu $mem"
	fi
	echo "$(date +%FT%T) $line" >>"$LOG"
	echo "  $line" | cut -c1-400
	summary[$srv]="$line"
done
[ "${KEEP_DB:-0}" = 1 ] || db -e "DROP DATABASE IF EXISTS $DB"

echo
echo "== summary register-auth rate=$rate duration=${dur}s users=$USERS ($(date +%FT%T))"
for srv in "${servers[@]}"; do
	l="${summary[$srv]}"
	f() { echo "$l" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2; exit}'; }
	printf '%-8s achieved_cps=%s successful=%s failed=%s unfinished=%s sustainable=%s server_cpu_s=%s\n' \
		"$srv" "$(f achieved_cps)" "$(f successful)" "$(f failed)" "$(f unfinished)" "$(f sustainable)" "$(f server_cpu_s)"
done | tee -a "$LOG"
