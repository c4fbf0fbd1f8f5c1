#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind's callgrind: figures that do not move
# with the machine's load, unlike the CPU times of run.sh (which also count the kernel's
# share; callgrind counts user space only).
#
#   benches/load/callgrind.sh
#
# Starts, in a temp dir, an nginx upstream (a 100-byte body, not measured), then in turn,
# each under `valgrind --tool=callgrind`: an nginx reverse proxy (one process,
# `master_process off`, upstream keepalive, as run.sh configures it); scangate (`threads: 1`,
# public route, then the authenticated route with a session cookie); and, when built, the
# reference proxy (`cargo build --release --example bare_pingora`). For each case it warms
# up with wrk, zeroes the counters, runs wrk over CONNS keep-alive connections for
# SECONDS_PER_CASE, dumps, and prints the instructions counted (all threads of the process)
# divided by the requests wrk completed, and the ratio to the nginx proxy's.
#
# Environment: SECONDS_PER_CASE=15, CONNS=4, ACCESS_LOG=on|off (both proxies, as run.sh),
# SCANGATE_BIN, BARE_BIN (as run.sh), KEEP_TMP=1 (keeps the dumps, for callgrind_annotate).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECONDS_PER_CASE=${SECONDS_PER_CASE:-15}
CONNS=${CONNS:-4}
ACCESS_LOG=${ACCESS_LOG:-on}
SCANGATE_BIN=${SCANGATE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/scangate}
BARE_BIN=${BARE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/bare_pingora}

for tool in valgrind callgrind_control wrk nginx curl python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool" >&2; exit 2; }
done
[[ -x $SCANGATE_BIN ]] || { echo "build first: cargo build --release" >&2; exit 2; }
case $ACCESS_LOG in on | off) ;; *) echo "ACCESS_LOG must be on or off" >&2; exit 64 ;; esac

LOG_PREFIX=callgrind
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"
bench_tmp callgrind

read -r UP_PORT NG_PORT SG_PORT ADMIN_PORT BARE_PORT <<<"$(free_ports 5)"
USER_LINE=""
[[ $(id -u) == 0 ]] && USER_LINE="user $(id -un) $(id -gn);"
# nginx_conf <dir> <master_process on|off> <http block body>
nginx_conf() {
    mkdir -p "$1"
    cat >"$1/nginx.conf" <<EOF
$USER_LINE
worker_processes 1;
master_process $2;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 1024; }
http {
  client_body_temp_path $1/cb; proxy_temp_path $1/p; fastcgi_temp_path $1/f;
  uwsgi_temp_path $1/u; scgi_temp_path $1/s;
  keepalive_requests 1000000;
$3
}
EOF
}

nginx_conf "$TMP/up" on "  access_log off;
  server {
    listen 127.0.0.1:$UP_PORT;
    location / { default_type text/plain; return 200 \"$(head -c 100 /dev/zero | tr '\0' x)\"; }
  }"
nginx -p "$TMP/up" -c "$TMP/up/nginx.conf" -e "$TMP/up/error.log" >"$TMP/upstream.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$UP_PORT/" "${PIDS[-1]}"

cat >"$TMP/count.lua" <<'EOF'
done = function(summary) io.write(string.format("REQUESTS %d\n", summary.requests)) end
EOF

# under_callgrind <name> <command...>: starts it, sets CG_PID; dumps go to $TMP/<name>.out.*
under_callgrind() {
    local name=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$TMP/$name.out.%p" "$@" >"$TMP/$name.log" 2>&1 &
    CG_PID=$!
    PIDS+=("$CG_PID")
}

NGINX_IR=""
# measure <case> <name of the process's dumps> <url> [header]
measure() {
    local case=$1 name=$2 url=$3 header=${4:-}
    local -a hdr=()
    [[ -n $header ]] && hdr=(-H "$header")
    wrk -t1 -c"$CONNS" -d3s "${hdr[@]}" "$url" >/dev/null # warm-up: pools, caches, lazy init
    callgrind_control -z "$CG_PID" >/dev/null
    local served ir
    served=$(wrk -t1 -c"$CONNS" -d"${SECONDS_PER_CASE}s" -s "$TMP/count.lua" "${hdr[@]}" "$url" |
        awk '/^REQUESTS/ { print $2 }')
    callgrind_control -d "$CG_PID" >/dev/null
    sleep 1
    ir=$(cat "$TMP/$name.out.$CG_PID".* | awk '/^summary:/ { s += $2 } END { print s + 0 }')
    mkdir -p "$TMP/dumps"
    mv "$TMP/$name.out.$CG_PID".* "$TMP/dumps/$(tr ' /+' '___' <<<"$case").callgrind"
    local per=$((ir / served))
    [[ -z $NGINX_IR ]] && NGINX_IR=$per
    python3 -c 'import sys; per, ref, n = map(int, sys.argv[2:5]); print(f"| {sys.argv[1]} | {per:,} | {per / ref:.2f}× | {n:,} |")' \
        "$case" "$per" "$NGINX_IR" "$served"
}

echo "| case | instructions per request | ÷ nginx proxy | requests counted |"
echo "|---|---:|---:|---:|"

# --- nginx as the proxy -------------------------------------------------------------------
if [[ $ACCESS_LOG == on ]]; then NGINX_ACCESS="access_log $TMP/ng/access.log combined;"; else NGINX_ACCESS="access_log off;"; fi
nginx_conf "$TMP/ng" off "  $NGINX_ACCESS
  upstream app { server 127.0.0.1:$UP_PORT; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$NG_PORT;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
    }
  }"
under_callgrind nginx nginx -p "$TMP/ng" -c "$TMP/ng/nginx.conf" -e "$TMP/ng/error.log"
wait_http "http://127.0.0.1:$NG_PORT/" "$CG_PID" 120
measure "nginx proxy" nginx "http://127.0.0.1:$NG_PORT/x"
kill "$CG_PID"

# --- scangate -----------------------------------------------------------------------------
cat >"$TMP/scangate.yaml" <<EOF
listen: "127.0.0.1:$SG_PORT"
public_url: "http://127.0.0.1:$SG_PORT"
admin_listen: "127.0.0.1:$ADMIN_PORT"
threads: 1
access_log: $([[ $ACCESS_LOG == on ]] && echo true || echo false)
store: {backend: embedded, path: "$TMP/scangate.db"}
session: {secret: "$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"}
wechat: {simulate: true}
login: {phone: off}
routes:
  - {name: pub, path_prefix: "/pub", upstreams: ["127.0.0.1:$UP_PORT"], auth: public}
  - {name: app, path_prefix: "/", upstreams: ["127.0.0.1:$UP_PORT"], auth: login}
EOF
under_callgrind scangate "$SCANGATE_BIN" run --config "$TMP/scangate.yaml"
wait_http "http://127.0.0.1:$SG_PORT/pub" "$CG_PID" 120
COOKIE=$(simulator_login "http://127.0.0.1:$SG_PORT" "$TMP/jar")
measure "scangate public route" scangate "http://127.0.0.1:$SG_PORT/pub/x"
measure "scangate authenticated route" scangate "http://127.0.0.1:$SG_PORT/x" "Cookie: $COOKIE"
kill "$CG_PID"

# --- the reference ------------------------------------------------------------------------
if [[ -x $BARE_BIN ]]; then
    KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
    export BARE_KEY=$KEY
    under_callgrind bare "$BARE_BIN" "127.0.0.1:$BARE_PORT" "127.0.0.1:$UP_PORT"
    wait_http "http://127.0.0.1:$BARE_PORT/" "$CG_PID" 120
    measure "bare pingora + HS256 cookie" bare "http://127.0.0.1:$BARE_PORT/x" \
        "Cookie: bare=$(bare_token "$KEY")"
else
    log "no reference proxy at $BARE_BIN; skipped"
fi
