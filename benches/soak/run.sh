#!/usr/bin/env bash
# Bounded soak of the release gateway, on loopback.
#
#   benches/soak/run.sh [--write]
#
# Starts, in a temp dir (nothing outside it is touched, nothing is installed): a small echo
# upstream (benches/soak/soak.py upstream) and scangate with a generated config (the WeChat
# simulator, login.phone: optional, a public route /pub and a login route /, loopback as a
# trusted proxy). Then benches/soak/soak.py drives mixed traffic for SOAK_SECONDS:
# complete simulator logins (returning user; new user skipping the phone; new user binding
# one by SMS code), signed-in requests with the cookies obtained, anonymous requests
# (302/401), forward auth, logouts followed by the revoked cookie, and junk (unsigned and
# badly signed WeChat callbacks, malformed JSON, bodies over 64 KiB, bad paths, unknown
# endpoints), while sampling the gateway's RSS. It prints requests by kind and status and
# exits 1 on any unexpected status (any 5xx included), connection error, a dead gateway or
# RSS still growing after warm-up (last third > first third's end + 20 % + 5 MiB).
#
# Environment (all optional):
#   SOAK_SECONDS=180  SOAK_THREADS=6 (mixed traffic)  SOAK_LOGIN_THREADS=2  SAMPLE_SECONDS=3
#   SOAK_LOGIN_RATE=50  logins per second at most (0: as fast as the threads go). Paced so
#                       that a run is the same workload on any machine: every login leaves
#                       ~0.6 KB in the in-process WeChat simulator (its QR tickets until they
#                       expire, its users), which the RSS check would otherwise count
#   SOAK_POOL=400       sessions in use at once; once that many exist, a new login's session
#                       is only used if one was logged out
#   SOAK_CHURN=1        every new session replaces one in use instead: fills the gateway's
#                       bounded caches (16 Ki verified sessions, 16 Ki assertions), which
#                       takes longer than 3 minutes and fails the flatness check meanwhile
#   SCANGATE_THREADS=2  worker threads of the gateway (`threads:`)
#   SCANGATE_BIN=...    default ${CARGO_TARGET_DIR:-<repo>/target}/release/scangate
#   WRITE=1             same as --write: replace the "## Soak" section of BENCHMARKS.md
#   SCANGATE_REV=...    the revision the binary was built from, for the report (default: the
#                       work tree's HEAD, with any uncommitted changes in src/ named)
#   KEEP_TMP=1          keep the temp dir (config, gateway log, summary.json)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The command as given (before the defaults below), for the report.
COMMAND_LINE="$(for v in SOAK_SECONDS SOAK_THREADS SOAK_LOGIN_THREADS SOAK_LOGIN_RATE SAMPLE_SECONDS SOAK_POOL SOAK_CHURN SCANGATE_THREADS SCANGATE_BIN; do
    if [[ -n ${!v+x} ]]; then printf '%s=%s ' "$v" "${!v}"; fi
done)benches/soak/run.sh${*:+ $*}"
HERE="$ROOT/benches/soak"
SOAK_SECONDS=${SOAK_SECONDS:-180}
SOAK_THREADS=${SOAK_THREADS:-6}
SOAK_LOGIN_THREADS=${SOAK_LOGIN_THREADS:-2}
SOAK_LOGIN_RATE=${SOAK_LOGIN_RATE:-50}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-3}
SOAK_POOL=${SOAK_POOL:-400}
SOAK_CHURN=${SOAK_CHURN:-0}
SCANGATE_THREADS=${SCANGATE_THREADS:-2}
WRITE=${WRITE:-0}
SCANGATE_BIN=${SCANGATE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/scangate}

for arg in "$@"; do
    case $arg in
        --write) WRITE=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 64 ;;
    esac
done

for tool in curl python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "missing: $tool (e.g. apt-get install -y curl python3)" >&2
        exit 2
    fi
done
if [[ ! -x $SCANGATE_BIN ]]; then
    echo "no scangate release binary at $SCANGATE_BIN" >&2
    echo "build it first: cargo build --release   (or set SCANGATE_BIN)" >&2
    exit 2
fi

LOG_PREFIX=soak
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"
bench_tmp soak

read -r UP_PORT SG_PORT ADMIN_PORT <<<"$(free_ports 3)"
cat >"$TMP/scangate.yaml" <<EOF
listen: "127.0.0.1:$SG_PORT"
public_url: "http://127.0.0.1:$SG_PORT"
admin_listen: "127.0.0.1:$ADMIN_PORT"
threads: $SCANGATE_THREADS
trusted_proxies: ["127.0.0.1"]
store:
  backend: embedded
  path: "$TMP/scangate.db"
session:
  secret: "\${SCANGATE_SOAK_SESSION_SECRET}"
wechat:
  simulate: true
login:
  phone: optional
  sms:
    provider: log
routes:
  - name: pub
    path_prefix: "/pub"
    upstreams: ["127.0.0.1:$UP_PORT"]
    auth: public
  - name: app
    path_prefix: "/"
    upstreams: ["127.0.0.1:$UP_PORT"]
    auth: login
EOF
SCANGATE_SOAK_SESSION_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
export SCANGATE_SOAK_SESSION_SECRET

log "temp dir $TMP; ports: upstream $UP_PORT, scangate $SG_PORT, admin $ADMIN_PORT"
python3 "$HERE/soak.py" upstream "$UP_PORT" >"$TMP/upstream.log" 2>&1 &
UP_PID=$!
PIDS+=("$UP_PID")
"$SCANGATE_BIN" --log-format json run --config "$TMP/scangate.yaml" >"$TMP/scangate.log" 2>&1 &
SG_PID=$!
PIDS+=("$SG_PID")
wait_http "http://127.0.0.1:$UP_PORT/" "$UP_PID"
wait_http "http://127.0.0.1:$ADMIN_PORT/readyz" "$SG_PID"
wait_http "http://127.0.0.1:$SG_PORT/pub/" "$SG_PID"

REV=$(built_revision)
MACHINE="$(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r); scangate $REV"
MACHINE="$MACHINE (binary built $(date -u -r "$SCANGATE_BIN" +%Y-%m-%dT%H:%MZ)), $(rustc -V 2>/dev/null || echo 'rustc ?'), $(python3 -V), measured $(date -u +%Y-%m-%d)"

log "driving traffic for ${SOAK_SECONDS}s (${SOAK_THREADS} mixed + ${SOAK_LOGIN_THREADS} login threads)"
status=0
churn=()
if [[ $SOAK_CHURN == 1 ]]; then churn=(--churn); fi
# In the background and waited for, so that a TERM to this script is handled at once.
python3 "$HERE/soak.py" drive --port "$SG_PORT" --pid "$SG_PID" --seconds "$SOAK_SECONDS" \
    --threads "$SOAK_THREADS" --login-threads "$SOAK_LOGIN_THREADS" --login-rate "$SOAK_LOGIN_RATE" \
    --sample-seconds "$SAMPLE_SECONDS" --pool "$SOAK_POOL" "${churn[@]}" --summary "$TMP/summary.json" \
    --markdown "$TMP/section.md" --command "$COMMAND_LINE" --machine "$MACHINE" &
DRIVER_PID=$!
PIDS+=("$DRIVER_PID")
wait "$DRIVER_PID" || status=$?

# The gateway's own view: errors it logged, and its metrics at the end.
if kill -0 "$SG_PID" 2>/dev/null; then
    curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" >"$TMP/metrics.txt" || true
    echo "gateway metrics at the end:"
    grep -E '^scangate_(requests_total|upstream_errors_total|login_attempts_total)' "$TMP/metrics.txt" | sed 's/^/  /' || true
else
    log "scangate is not running any more; the end of its log:"
    tail -n 40 "$TMP/scangate.log" >&2
    status=1
fi
STORE_SIZE="$(du -sh "$TMP/scangate.db" | cut -f1) (WAL $(du -sh "$TMP/scangate.db-wal" 2>/dev/null | cut -f1 || echo -))"
errors=$(grep -c -E ' ERROR |"level":"ERROR"|panicked' "$TMP/scangate.log" || true)
LOG_LINE="$(wc -l <"$TMP/scangate.log") lines, $errors at ERROR level or panics"
echo "store file: $STORE_SIZE"
echo "gateway log: $LOG_LINE"
if [[ -s $TMP/section.md ]]; then
    printf -- '- Gateway log: %s; store file at the end: %s.\n' "$LOG_LINE" "$STORE_SIZE" >>"$TMP/section.md"
fi
if ((errors > 0)); then
    grep -m 10 -E ' ERROR |"level":"ERROR"|panicked' "$TMP/scangate.log" | sed 's/^/  /'
    status=1
    if [[ -s $TMP/section.md ]]; then
        printf '\n**The gateway logged %s ERROR lines or panics: the run fails.**\n' "$errors" >>"$TMP/section.md"
    fi
fi

if [[ $WRITE == 1 ]]; then
    if [[ -s $TMP/section.md ]]; then
        replace_section "## Soak" "$TMP/section.md"
    else
        log "no summary to write"
    fi
fi
exit "$status"
