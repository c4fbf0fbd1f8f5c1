#!/usr/bin/env bash
# Load benchmark: scangate vs nginx as a reverse proxy, on loopback.
#
#   benches/load/run.sh [--write]
#
# Starts, in a temp dir (nothing outside it is touched, nothing is installed):
#   - an upstream: nginx returning a small static body (BODY_BYTES, default 100);
#   - nginx as a reverse proxy to it (worker_processes 1, upstream keepalive 64);
#   - scangate (release binary) with `threads: 1`, the built-in WeChat simulator, a public
#     route /pub and a login route /, both to the same upstream;
#   - the forward-auth deployment: nginx with `auth_request` to scangate's /.auth/verify
#     (README's snippet), then proxying to the upstream;
#   - TLS at the edge (TLS=on, the default): nginx with TLS and a second scangate with
#     `tls:`, the same self-signed ECDSA P-256 certificate (openssl);
# logs in through the simulator with curl to get a session cookie, then runs wrk rounds over
# the cases, alternating them (round 1 in order, round 2 reversed, ...), and prints the
# medians across rounds: throughput, p50/p99 latency and the CPU time per request of the
# process under test (utime+stime from /proc/<pid>/stat, before and after each run).
#
# Environment (all optional):
#   ROUNDS=3 DURATION=10 (seconds per case and round) WRK_THREADS=2 WRK_CONNS=64 WARMUP=1
#   BODY_BYTES=100     size of the upstream's response body
#   ACCESS_LOG=on      on: scangate and the nginx proxy each log every request to a file in
#                      the temp dir (their defaults); off: neither does
#   SCANGATE_BIN=...   default ${CARGO_TARGET_DIR:-<repo>/target}/release/scangate
#   BARE_BIN=...       the reference proxy, `cargo build --release --example bare_pingora`
#                      (default ${CARGO_TARGET_DIR:-<repo>/target}/release/examples/bare_pingora):
#                      bare pingora with an HS256 cookie check, the floor scangate is built
#                      on; measured as one more case when the binary exists
#   WRITE=1            same as --write: replace the "## Load: scangate vs nginx" section of
#                      BENCHMARKS.md with the results
#   SCANGATE_REV=...   the revision the binary was built from, for the report (default: the
#                      work tree's HEAD, with any uncommitted changes in src/ named)
#   TLS=on             off: leave out the TLS cases (and the need for openssl)
#   KEEP_TMP=1         keep the temp dir (configs, logs, raw wrk output) for inspection
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The command as given (before the defaults below), for the report.
COMMAND_LINE="$(for v in ROUNDS DURATION WRK_THREADS WRK_CONNS WARMUP BODY_BYTES ACCESS_LOG SCANGATE_BIN; do
    if [[ -n ${!v+x} ]]; then printf '%s=%s ' "$v" "${!v}"; fi
done)benches/load/run.sh${*:+ $*}"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-64}
WARMUP=${WARMUP:-1}
BODY_BYTES=${BODY_BYTES:-100}
ACCESS_LOG=${ACCESS_LOG:-on}
TLS=${TLS:-on}
WRITE=${WRITE:-0}
SCANGATE_BIN=${SCANGATE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/scangate}
BARE_BIN=${BARE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/bare_pingora}

for arg in "$@"; do
    case $arg in
        --write) WRITE=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 64 ;;
    esac
done
case $ACCESS_LOG in on | off) ;; *) echo "ACCESS_LOG must be on or off" >&2; exit 64 ;; esac

missing=()
tools=(wrk nginx curl python3)
if [[ $TLS == on ]]; then tools+=(openssl); fi
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "missing: ${missing[*]}" >&2
    echo "install them first, e.g.: apt-get install -y wrk nginx" >&2
    exit 2
fi
if [[ ! -x $SCANGATE_BIN ]]; then
    echo "no scangate release binary at $SCANGATE_BIN" >&2
    echo "build it first: cargo build --release   (or set SCANGATE_BIN)" >&2
    exit 2
fi

LOG_PREFIX=load
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"
bench_tmp load

# utime+stime in clock ticks of a process and its direct children (nginx workers).
cpu_ticks() {
    local total=0 pid stat rest
    local -a f
    for pid in "$@"; do
        stat=$(<"/proc/$pid/stat")
        rest=${stat##*) }
        read -ra f <<<"$rest"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

# The pids whose CPU is charged to a server: the master and its workers.
family() {
    local children
    children=$(pgrep -P "$1" | tr '\n' ' ' || true)
    echo "$1 $children"
}

read -r UP_PORT NG_PORT SG_PORT ADMIN_PORT BARE_PORT FA_PORT NGT_PORT SGT_PORT SGT_ADMIN_PORT \
    <<<"$(free_ports 9)"
mkdir -p "$TMP/up" "$TMP/proxy" "$TMP/fa" "$TMP/tls"
BODY=$(head -c "$BODY_BYTES" /dev/zero | tr '\0' 'x')
USER_LINE=""
if [[ $(id -u) == 0 ]]; then
    # As root nginx would switch its workers to nobody:nobody, which may not exist.
    USER_LINE="user $(id -un) $(id -gn);"
fi

nginx_common() { # $1 = dir
    cat <<EOF
$USER_LINE
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
EOF
}
nginx_temp_paths() { # $1 = dir
    local t
    for t in client_body proxy fastcgi uwsgi scgi; do
        echo "  ${t}_temp_path $1/${t}_temp;"
    done
}

{
    nginx_common "$TMP/up"
    echo "http {"
    nginx_temp_paths "$TMP/up"
    cat <<EOF
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$UP_PORT;
    location / { default_type text/plain; return 200 "$BODY"; }
  }
}
EOF
} >"$TMP/up/nginx.conf"

# What every proxying nginx here shares: the upstream pool and the proxying directives.
upstream_app() {
    cat <<EOF
  upstream app {
    server 127.0.0.1:$UP_PORT;
    keepalive 64;
    keepalive_requests 1000000;
  }
EOF
}
proxy_to_app() {
    cat <<'EOF'
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
EOF
}

if [[ $ACCESS_LOG == on ]]; then
    NGINX_ACCESS="access_log $TMP/proxy/access.log combined;"
else
    NGINX_ACCESS="access_log off;"
fi
{
    nginx_common "$TMP/proxy"
    echo "http {"
    nginx_temp_paths "$TMP/proxy"
    cat <<EOF
  $NGINX_ACCESS
  keepalive_requests 1000000;
$(upstream_app)
  server {
    listen 127.0.0.1:$NG_PORT;
    location / {
$(proxy_to_app)
    }
  }
}
EOF
} >"$TMP/proxy/nginx.conf"

# The forward-auth deployment, as README's "Forward auth" snippet writes it (the identity
# headers taken from /.auth/verify's answer), with the same upstream settings as above and a
# keep-alive pool to scangate.
{
    nginx_common "$TMP/fa"
    echo "http {"
    nginx_temp_paths "$TMP/fa"
    cat <<EOF
  ${NGINX_ACCESS//proxy\/access.log/fa\/access.log}
  keepalive_requests 1000000;
$(upstream_app)
  upstream scangate {
    server 127.0.0.1:$SG_PORT;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$FA_PORT;
    location = /_scangate {
      internal;
      proxy_pass http://scangate/.auth/verify;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL \$scheme://\$http_host\$request_uri;
    }
    location / {
      auth_request /_scangate;
      auth_request_set \$uid \$upstream_http_x_auth_user_id;
      auth_request_set \$jwt \$upstream_http_x_auth_assertion;
      proxy_set_header X-Auth-User-Id \$uid;
      proxy_set_header X-Auth-Assertion \$jwt;
$(proxy_to_app)
    }
  }
}
EOF
} >"$TMP/fa/nginx.conf"

if [[ $TLS == on ]]; then
    # One certificate for both TLS servers: ECDSA P-256, self-signed (wrk does not verify).
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" >"$TMP/tls/openssl.log" 2>&1
    {
        nginx_common "$TMP/tls"
        echo "http {"
        nginx_temp_paths "$TMP/tls"
        cat <<EOF
  ${NGINX_ACCESS//proxy\/access.log/tls\/access.log}
  keepalive_requests 1000000;
$(upstream_app)
  server {
    listen 127.0.0.1:$NGT_PORT ssl;
    ssl_certificate $TMP/tls/cert.pem;
    ssl_certificate_key $TMP/tls/key.pem;
    location / {
$(proxy_to_app)
    }
  }
}
EOF
    } >"$TMP/tls/nginx.conf"
fi

cat >"$TMP/scangate.yaml" <<EOF
listen: "127.0.0.1:$SG_PORT"
public_url: "http://127.0.0.1:$SG_PORT"
admin_listen: "127.0.0.1:$ADMIN_PORT"
threads: 1
store:
  backend: embedded
  path: "$TMP/scangate.db"
session:
  secret: "\${SCANGATE_BENCH_SESSION_SECRET}"
wechat:
  simulate: true
login:
  phone: off
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
# The TLS instance: the same deployment (public_url, secret: the session cookie is valid on
# both) with a store of its own and `tls:`.
sed -e "s|^listen: .*|listen: \"127.0.0.1:$SGT_PORT\"|" \
    -e "s|^admin_listen: .*|admin_listen: \"127.0.0.1:$SGT_ADMIN_PORT\"|" \
    -e "s|scangate.db|scangate-tls.db|" "$TMP/scangate.yaml" >"$TMP/scangate-tls.yaml"
printf 'tls:\n  cert_file: "%s"\n  key_file: "%s"\n' "$TMP/tls/cert.pem" "$TMP/tls/key.pem" \
    >>"$TMP/scangate-tls.yaml"

SCANGATE_BENCH_SESSION_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
export SCANGATE_BENCH_SESSION_SECRET
if [[ $ACCESS_LOG == on ]]; then
    SG_RUST_LOG=${RUST_LOG:-info}
    ACCESS_NOTE="nginx \`access_log combined\`, scangate its \`access\` log line per request at \`info\`, both defaults; \`ACCESS_LOG=off\` turns both off"
else
    SG_RUST_LOG=${RUST_LOG:-info},access=off
    ACCESS_NOTE="nginx \`access_log off\`, scangate \`RUST_LOG=info,access=off\`"
fi

log "temp dir $TMP; ports: upstream $UP_PORT, nginx proxy $NG_PORT, scangate $SG_PORT"
nginx -p "$TMP/up" -c "$TMP/up/nginx.conf" -e "$TMP/up/error.log" >"$TMP/upstream.log" 2>&1 &
UP_PID=$!
PIDS+=("$UP_PID")
nginx -p "$TMP/proxy" -c "$TMP/proxy/nginx.conf" -e "$TMP/proxy/error.log" >"$TMP/nginx-proxy.log" 2>&1 &
NG_PID=$!
PIDS+=("$NG_PID")
RUST_LOG=$SG_RUST_LOG "$SCANGATE_BIN" run --config "$TMP/scangate.yaml" >"$TMP/scangate.log" 2>&1 &
SG_PID=$!
PIDS+=("$SG_PID")
nginx -p "$TMP/fa" -c "$TMP/fa/nginx.conf" -e "$TMP/fa/error.log" >"$TMP/nginx-fa.log" 2>&1 &
FA_PID=$!
PIDS+=("$FA_PID")
NGT_PID=""
SGT_PID=""
if [[ $TLS == on ]]; then
    nginx -p "$TMP/tls" -c "$TMP/tls/nginx.conf" -e "$TMP/tls/error.log" >"$TMP/nginx-tls.log" 2>&1 &
    NGT_PID=$!
    PIDS+=("$NGT_PID")
    RUST_LOG=$SG_RUST_LOG "$SCANGATE_BIN" run --config "$TMP/scangate-tls.yaml" \
        >"$TMP/scangate-tls.log" 2>&1 &
    SGT_PID=$!
    PIDS+=("$SGT_PID")
fi

BARE_PID=""
if [[ -x $BARE_BIN ]]; then
    BARE_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
    BARE_KEY=$BARE_KEY "$BARE_BIN" "127.0.0.1:$BARE_PORT" "127.0.0.1:$UP_PORT" >"$TMP/bare.log" 2>&1 &
    BARE_PID=$!
    PIDS+=("$BARE_PID")
else
    log "no reference proxy at $BARE_BIN (cargo build --release --example bare_pingora); its case is skipped"
fi

wait_http "http://127.0.0.1:$UP_PORT/" "$UP_PID"
wait_http "http://127.0.0.1:$NG_PORT/" "$NG_PID"
wait_http "http://127.0.0.1:$ADMIN_PORT/readyz" "$SG_PID"
wait_http "http://127.0.0.1:$SG_PORT/pub" "$SG_PID"
wait_http "http://127.0.0.1:$FA_PORT/pub" "$FA_PID"
if [[ $TLS == on ]]; then
    wait_http "https://127.0.0.1:$NGT_PORT/" "$NGT_PID"
    wait_http "http://127.0.0.1:$SGT_ADMIN_PORT/readyz" "$SGT_PID"
fi

# --- a session cookie, through the simulator, as README's walk-through does -----------------
SG="http://127.0.0.1:$SG_PORT"
COOKIE=$(simulator_login "$SG" "$TMP/cookies.txt")
log "signed in through the simulator"

if [[ -n $BARE_PID ]]; then
    wait_http "http://127.0.0.1:$BARE_PORT/" "$BARE_PID"
    BARE_COOKIE="bare=$(bare_token "$BARE_KEY")"
fi

# --- the cases ---------------------------------------------------------------------------
# name | url | expected status | extra headers (separated by ^) | pids whose CPU is measured
CASES=(
    "direct upstream|http://127.0.0.1:$UP_PORT/app|200||up"
    "nginx proxy|http://127.0.0.1:$NG_PORT/app|200||ng"
    "scangate public route|$SG/pub/app|200||sg"
    "scangate authenticated route|$SG/app|200|Cookie: $COOKIE|sg"
    "scangate unauthenticated 302|$SG/app|302|Accept: text/html|sg"
    "scangate /.auth/verify|$SG/.auth/verify|200|Cookie: $COOKIE^X-Original-URL: $SG/app|sg"
    "forward-auth deployment: nginx auth_request + scangate /.auth/verify|http://127.0.0.1:$FA_PORT/app|200|Cookie: $COOKIE|fa"
)
if [[ -n $BARE_PID ]]; then
    CASES+=("bare pingora + HS256 cookie (reference)|http://127.0.0.1:$BARE_PORT/app|200|Cookie: $BARE_COOKIE|bare")
fi
if [[ $TLS == on ]]; then
    SGT="https://127.0.0.1:$SGT_PORT"
    CASES+=(
        "TLS: nginx proxy, keep-alive|https://127.0.0.1:$NGT_PORT/app|200||ngt"
        "TLS: scangate authenticated, keep-alive|$SGT/app|200|Cookie: $COOKIE|sgt"
        "TLS: nginx proxy, new connection per request|https://127.0.0.1:$NGT_PORT/app|200|Connection: close|ngt"
        "TLS: scangate authenticated, new connection per request|$SGT/app|200|Cookie: $COOKIE^Connection: close|sgt"
    )
fi
NGINX_CASE=1

# Every case answers as expected before anything is measured.
for c in "${CASES[@]}"; do
    IFS='|' read -r name url want headers _ <<<"$c"
    args=(-s -k -o /dev/null -w '%{http_code}' "$url")
    IFS='^' read -ra hs <<<"$headers"
    for h in "${hs[@]}"; do args+=(-H "$h"); done
    got=$(curl "${args[@]}")
    if [[ $got != "$want" ]]; then
        log "$name: $url answered $got, expected $want"
        exit 1
    fi
done

cat >"$TMP/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout + e.status))
end
EOF

pids_of() {
    case $1 in
        up) family "$UP_PID" ;;
        ng) family "$NG_PID" ;;
        sg) echo "$SG_PID" ;;
        bare) echo "$BARE_PID" ;;
        # The deployment as a whole: its nginx and the scangate it asks.
        fa) echo "$(family "$FA_PID") $SG_PID" ;;
        ngt) family "$NGT_PID" ;;
        sgt) echo "$SGT_PID" ;;
    esac
}

# run_case <index> <seconds> <round or "warmup">: appends a line to $TMP/results.tsv.
run_case() {
    local i=$1 secs=$2 round=$3 name url want headers who before after out h
    IFS='|' read -r name url want headers who <<<"${CASES[$i]}"
    local -a args=(-t"$WRK_THREADS" -c"$WRK_CONNS" -d"${secs}s" --latency -s "$TMP/report.lua")
    local -a hs
    IFS='^' read -ra hs <<<"$headers"
    for h in "${hs[@]}"; do args+=(-H "$h"); done
    local -a pids
    read -ra pids <<<"$(pids_of "$who")"
    before=$(cpu_ticks "${pids[@]}")
    # In the background and waited for, so that a TERM to this script is handled at once.
    wrk "${args[@]}" "$url" >"$TMP/wrk-last.txt" &
    WRK_PID=$!
    wait "$WRK_PID"
    WRK_PID=""
    after=$(cpu_ticks "${pids[@]}")
    out=$(<"$TMP/wrk-last.txt")
    printf '%s\n' "$out" >>"$TMP/wrk-$i.txt"
    if [[ $round == warmup ]]; then
        return 0
    fi
    local requests duration p50 p99 errors
    read -r requests duration p50 p99 errors <<<"$(grep '^RESULT ' <<<"$out" | cut -d' ' -f2-)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$i" "$requests" "$duration" \
        "$p50" "$p99" "$errors" "$((after - before))" >>"$TMP/results.tsv"
    log "round $round: $name: $requests requests, $errors errors"
}

NCASES=${#CASES[@]}
LOAD_BEFORE=$(cut -d" " -f1 /proc/loadavg)
log "warm-up: ${WARMUP}s per case"
for ((i = 0; i < NCASES; i++)); do
    run_case "$i" "$WARMUP" warmup
done
for ((r = 1; r <= ROUNDS; r++)); do
    for ((k = 0; k < NCASES; k++)); do
        if ((r % 2)); then i=$k; else i=$((NCASES - 1 - k)); fi
        run_case "$i" "$DURATION" "$r"
    done
done
if ! kill -0 "$SG_PID" 2>/dev/null; then
    log "scangate died during the run; its log:"
    tail -n 30 "$TMP/scangate.log" >&2
    exit 1
fi

# --- the table ---------------------------------------------------------------------------
NAMES_FILE="$TMP/names.txt"
for c in "${CASES[@]}"; do
    echo "${c%%|*}"
done >"$NAMES_FILE"
TABLE=$(python3 - "$TMP/results.tsv" "$NAMES_FILE" "$NGINX_CASE" "$(getconf CLK_TCK)" <<'EOF'
import statistics, sys
from collections import defaultdict

results, names_file, nginx, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
names = open(names_file).read().splitlines()
runs = defaultdict(dict)  # round -> case -> (rps, p50 us, p99 us, cpu us/req, errors)
for line in open(results):
    rnd, case, requests, duration, p50, p99, errors, ticks = map(int, line.split("\t"))
    rps = requests / (duration / 1e6)
    cpu = ticks * 1e6 / hz / requests
    runs[rnd][case] = (rps, p50, p99, cpu, errors)

def fmt_lat(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"

med = statistics.median
print("| case | req/s | p50 | p99 | CPU µs/req (min–max) | CPU ÷ nginx proxy | req/s ÷ nginx proxy | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for c, name in enumerate(names):
    per = [runs[r][c] for r in sorted(runs)]
    cpu_ratio = [runs[r][c][3] / runs[r][nginx][3] for r in sorted(runs)]
    rps_ratio = [runs[r][c][0] / runs[r][nginx][0] for r in sorted(runs)]
    cpus = [p[3] for p in per]
    print(f"| {name} | {med(p[0] for p in per):,.0f} | {fmt_lat(med(p[1] for p in per))} "
          f"| {fmt_lat(med(p[2] for p in per))} | {med(cpus):.1f} ({min(cpus):.1f}–{max(cpus):.1f}) "
          f"| {med(cpu_ratio):.2f}× | {med(rps_ratio):.2f}× | {sum(p[4] for p in per)} |")
EOF
)

# The comparisons the targets are stated in: CPU per request of one case over another's, per
# round, then the median (min–max) across rounds.
TARGETS=$(python3 - "$TMP/results.tsv" "$NAMES_FILE" "$(getconf CLK_TCK)" <<'EOF'
import statistics, sys
from collections import defaultdict

results, names_file, hz = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = open(names_file).read().splitlines()
cpu = defaultdict(dict)  # round -> case name -> cpu us/req
for line in open(results):
    rnd, case, requests, duration, p50, p99, errors, ticks = map(int, line.split("\t"))
    cpu[rnd][names[case]] = ticks * 1e6 / hz / requests

AUTH = "scangate authenticated route"
FA = "forward-auth deployment: nginx auth_request + scangate /.auth/verify"
REF = "bare pingora + HS256 cookie (reference)"
PUB = "scangate public route"
comparisons = [
    ("inline (scangate authenticated) ÷ the forward-auth deployment", AUTH, FA, 0.5),
    ("TLS keep-alive: scangate authenticated ÷ nginx proxy", "TLS: scangate authenticated, keep-alive", "TLS: nginx proxy, keep-alive", 2.5),
    ("new TLS connection per request: scangate ÷ nginx", "TLS: scangate authenticated, new connection per request", "TLS: nginx proxy, new connection per request", None),
    ("scangate authenticated ÷ bare pingora (by CPU time; the target is by instructions)", AUTH, REF, None),
    ("scangate public route ÷ bare pingora (by CPU time)", PUB, REF, None),
]
print("| comparison (CPU per request) | median (min–max) | target | |")
print("|---|---:|---:|---|")
for label, a, b, target in comparisons:
    ratios = [cpu[r][a] / cpu[r][b] for r in sorted(cpu) if a in cpu[r] and b in cpu[r]]
    if not ratios:
        continue
    m = statistics.median(ratios)
    verdict = "" if target is None else ("**met**" if m <= target else "**missed**")
    goal = "–" if target is None else f"≤ {target}×"
    print(f"| {label} | {m:.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) | {goal} | {verdict} |")
EOF
)

LOAD_AFTER=$(cut -d" " -f1 /proc/loadavg)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
NGINX_V=$(nginx -v 2>&1 | sed 's/^nginx version: //')
WRK_V=$({ wrk -v 2>&1 || true; } | awk 'NR == 1 { print $2 }')  # wrk -v exits 1
GIT_REV=$(built_revision)
RUSTC_V=$(rustc -V 2>/dev/null || echo "rustc not found")
PINGORA_V=$(awk '/^name = "pingora"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$ROOT/Cargo.lock" 2>/dev/null || true)

BARE_NOTE=""
if [[ -n $BARE_PID ]]; then
    BARE_NOTE=" **bare pingora + HS256 cookie (reference)** is \`examples/bare_pingora.rs\`: pingora
  with a cookie check, one upstream and nothing else (no access log, no routing, no identity
  headers), also \`threads: 1\` and jemalloc; the floor scangate is built on."
fi

SECTION=$(cat <<EOF
## Load: scangate vs nginx

Throughput, latency and **CPU time per request of the proxy process** on loopback: wrk →
proxy → an nginx upstream returning a ${BODY_BYTES}-byte body. nginx proxies with one worker
(\`worker_processes 1\`, upstream keepalive 64, HTTP/1.1, the usual \`X-Forwarded-*\` headers);
scangate runs with \`threads: 1\`, the WeChat simulator and an embedded store. Access logs:
**${ACCESS_LOG}** for both proxies, to a file ($ACCESS_NOTE). wrk \`-t${WRK_THREADS} -c${WRK_CONNS}\`,
${DURATION} s per case, ${ROUNDS} rounds alternating the cases (odd rounds in order, even
rounds reversed); medians across rounds. CPU is utime+stime of the process under test
(nginx: master + worker; "direct upstream": the upstream nginx) divided by the requests wrk
completed; ratios are taken against the nginx proxy of the same round. wrk, the proxy and the
upstream share the machine's cores, so req/s is bounded by the machine rather than by
the proxy alone: compare CPU per request first.

$TABLE

$TARGETS

- Cases: **authenticated route** sends a valid session cookie (obtained through the
  simulator login), **unauthenticated 302** sends \`Accept: text/html\` without a cookie and
  gets the redirect to the login page (no upstream), **/.auth/verify** is forward auth with
  the cookie (no upstream). **The forward-auth deployment** is what people build with
  oauth2-proxy or Authelia: nginx with \`auth_request\` to scangate's \`/.auth/verify\`
  (README's snippet, identity headers copied from its answer, keep-alive to scangate), then
  proxying to the upstream; its CPU is nginx's and scangate's together. **TLS** cases: nginx
  (\`listen ... ssl\`) and a second scangate with \`tls:\`, the same self-signed ECDSA P-256
  certificate, TLS 1.3 as wrk (OpenSSL) negotiates it; "new connection per request" sends
  \`Connection: close\`, so every request pays a full handshake (wrk does not resume
  sessions).${BARE_NOTE}
- Machine: $(nproc) CPUs, $CPU_MODEL, Linux $(uname -r); 1-minute load average
  $LOAD_BEFORE before the rounds and $LOAD_AFTER after them.
- Versions: $NGINX_V, wrk $WRK_V, scangate at $GIT_REV (binary built $(date -u -r "$SCANGATE_BIN" +%Y-%m-%dT%H:%MZ)),
  $RUSTC_V, pingora $PINGORA_V; measured $(date -u +%Y-%m-%d).
- Command: \`$COMMAND_LINE\`
EOF
)

# Prose wrapped at 92 columns; tables as they are.
SECTION=$(python3 -c '
import sys, textwrap
out = []
for block in sys.stdin.read().strip("\n").split("\n\n"):
    if block.startswith(("|", "#")):
        out.append(block)
        continue
    items, current = [], []
    for line in block.split("\n"):
        if line.startswith("- ") and current:
            items.append(" ".join(current))
            current = []
        current.append(line.strip())
    items.append(" ".join(current))
    out.append("\n".join(textwrap.fill(i, 92, subsequent_indent="  " if i.startswith("- ") else "",
        break_on_hyphens=False, break_long_words=False) for i in items))
print("\n\n".join(out))
' <<<"$SECTION")
echo
echo "$SECTION"

if [[ $WRITE == 1 ]]; then
    printf '%s\n' "$SECTION" >"$TMP/section.md"
    replace_section "## Load: scangate vs nginx" "$TMP/section.md"
fi
