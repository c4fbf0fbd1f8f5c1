# Shared by the benchmark scripts (sourced, not run): the temp dir and the processes a script
# starts, free ports, waiting for a server, sign-ins.
#
# A script sets LOG_PREFIX, calls `bench_tmp <name>` (which sets TMP and the EXIT trap), and
# appends every pid it starts to PIDS; a wrk it waits for goes in WRK_PID.

PIDS=()
WRK_PID=""

log() { printf '[%s] %s\n' "${LOG_PREFIX:-bench}" "$*" >&2; }

# Makes $TMP and removes it on exit (kept with KEEP_TMP=1), after stopping every process in
# PIDS and WRK_PID.
bench_tmp() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/scangate-$1.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# shellcheck disable=SC2317  # called by the EXIT trap
bench_cleanup() {
    local pid
    for pid in $WRK_PID "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $WRK_PID "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ ${KEEP_TMP:-0} == 1 ]]; then
        echo "kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}

# N free loopback ports, all bound at once so they are distinct.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# wait_http <url> <pid> [seconds=10]: until the URL answers at all; fails if the process died.
wait_http() {
    local url=$1 pid=$2 tenths=$((${3:-10} * 10)) i
    for ((i = 0; i < tenths; i++)); do
        if curl -s -k -o /dev/null --max-time 2 "$url"; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            log "process $pid died while starting; its log:"
            tail -n 30 "$TMP"/*.log >&2 || true
            return 1
        fi
        sleep 0.1
    done
    log "$url did not answer within ${3:-10} s"
    return 1
}

# An HS256 JWT for examples/bare_pingora.rs, signed with key $1, valid for a day.
bare_token() {
    BARE_KEY=$1 python3 -c '
import base64, hashlib, hmac, json, os, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": "bench-user", "exp": int(time.time()) + 86400}).encode())
sig = hmac.new(os.environ["BARE_KEY"].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(f"{head}.{body}.{b64(sig)}")'
}

json_field() { # $1 = field; JSON on stdin
    python3 -c 'import json, sys; v = json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"
}

# simulator_login <gateway base URL> <cookie jar>: signs in a new simulated user as the
# README's walk-through does (the gateway needs `wechat.simulate` and `login.phone: off`) and
# prints the session cookie, `scangate_session=...`. The jar keeps the attempt's own binding
# cookie (`scangate_login_<id>`, one per attempt) for the scan, the polls and the exchange.
simulator_login() {
    local base=$1 jar=$2 qr id poll status ticket="" session
    qr=$(curl -sf -c "$jar" -b "$jar" -X POST "$base/.auth/qr" \
        -H 'Content-Type: application/json' -d '{"rd":"/"}')
    id=$(json_field id <<<"$qr")
    curl -sf -b "$jar" -X POST "$base/.auth/demo/scan" \
        -H 'Content-Type: application/json' -d "{\"id\":\"$id\",\"user\":\"new\"}" >/dev/null
    for _ in 1 2 3 4 5; do
        poll=$(curl -sf -b "$jar" "$base/.auth/qr/$id?wait=5")
        status=$(json_field status <<<"$poll")
        if [[ $status == confirmed ]]; then
            ticket=$(json_field ticket <<<"$poll")
            break
        fi
    done
    if [[ -z $ticket ]]; then
        log "the simulator login did not reach confirmed (last poll: $poll)"
        return 1
    fi
    curl -sf -c "$jar" -b "$jar" -X POST "$base/.auth/session" \
        -H 'Content-Type: application/json' -d "{\"ticket\":\"$ticket\",\"id\":\"$id\"}" >/dev/null
    session=$(awk -F'\t' '$6 == "scangate_session" { print $7 }' "$jar")
    if [[ -z $session ]]; then
        log "no scangate_session cookie after POST /.auth/session"
        return 1
    fi
    echo "scangate_session=$session"
}

# The revision the measured binary was built from, for a report: SCANGATE_REV when set, else
# the work tree's HEAD, naming the folders with uncommitted changes that reach the binary.
built_revision() {
    local rev changed
    rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    changed=$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null |
        awk '{ print $NF }' | sed 's|/.*|/|' | sort -u | tr '\n' ' ' || true)
    if [[ -n $changed ]]; then
        rev="$rev + uncommitted changes in ${changed% }"
    fi
    echo "${SCANGATE_REV:-$rev}"
}

# replace_section <heading> <section file>: puts the section in BENCHMARKS.md in place of the
# one under the same `## ` heading (up to the next one), or at the end when there is none.
replace_section() {
    python3 - "$ROOT/BENCHMARKS.md" "$1" "$2" <<'EOF'
import re, sys
path, heading, section_file = sys.argv[1], sys.argv[2], sys.argv[3]
section = open(section_file, encoding="utf-8").read().rstrip("\n") + "\n"
text = open(path, encoding="utf-8").read()
# Up to the next heading of its level or the level below: the subsections written by hand
# after a generated section stay.
pattern = re.compile(r"^" + re.escape(heading) + r"\n.*?(?=^##+ |\Z)", re.S | re.M)
if pattern.search(text):
    text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip("\n") + "\n"
else:
    text = text.rstrip("\n") + "\n\n" + section
open(path, "w", encoding="utf-8").write(text)
EOF
    log "wrote the section to BENCHMARKS.md"
}
