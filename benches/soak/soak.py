#!/usr/bin/env python3
"""Traffic driver of benches/soak/run.sh (python3 standard library only).

    soak.py upstream PORT
        A tiny HTTP/1.1 keep-alive upstream that answers every request with the JSON of the
        X-Auth-* headers it received (so the soak can check identity injection and stripping).

    soak.py drive --port P --pid PID --seconds S --summary OUT.json [--markdown OUT.md] ...
        Mixed traffic against scangate on 127.0.0.1:P for S seconds: complete simulator logins,
        signed-in requests, anonymous requests, forward auth, logouts, and junk (forged
        WeChat callbacks, malformed JSON, oversized bodies, bad paths, unknown endpoints).
        Samples the RSS of PID meanwhile. Exits 1 when anything was unexpected: a status
        outside the set expected for that kind of request (any 5xx included), a connection
        error, a dead gateway, or RSS that keeps growing after warm-up.
"""

import argparse
import collections
import http.client
import itertools
import json
import os
import random
import socket
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AUTH = "/.auth"
COOKIE_NAME = "scangate_session"
# One browser-binding cookie per login attempt: scangate_login_<attempt id>.
BINDING_COOKIE_PREFIX = "scangate_login_"
OVERSIZED = 70 * 1024  # the own endpoints read at most 64 KiB
# Phones bound by the "new_sms" flow: distinct, or a second binding is rightly refused (409).
PHONE_SEQ = itertools.count(random.randrange(10**7))


# === the upstream ============================================================================


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        seen = {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-auth")}
        body = json.dumps({"path": self.path, "auth": seen}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


def upstream(port):
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 256
    ThreadingHTTPServer(("127.0.0.1", port), EchoHandler).serve_forever()


# === bookkeeping =============================================================================


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()  # (kind, status) -> n
        self.unexpected = collections.Counter()  # (kind, status) -> n
        self.examples = []  # first few unexpected answers, with details
        self.conn_errors = collections.Counter()  # (kind, exception) -> n
        self.logins = collections.Counter()  # flow -> completed logins

    def record(self, kind, status, ok, detail=""):
        with self.lock:
            self.counts[(kind, status)] += 1
            if not ok:
                self.unexpected[(kind, status)] += 1
                if len(self.examples) < 25:
                    self.examples.append(f"{kind}: {status} {detail}"[:400])

    def conn_error(self, kind, exc):
        with self.lock:
            name = type(exc).__name__
            self.conn_errors[(kind, name)] += 1
            self.counts[(kind, "conn_error")] += 1
            if len(self.examples) < 25:
                self.examples.append(f"{kind}: connection error {name}: {exc}"[:400])


class Cookies:
    """Session cookies obtained by the login threads, shared with everyone else.

    The pool holds at most `cap` cookies. Once it is full, a new cookie only takes the place
    of one that was logged out, unless `churn`: then it replaces a random one. Churn makes
    every login's session a distinct token in use, which fills the gateway's bounded caches of
    verified tokens and assertions (16 Ki entries each) over a few minutes at the soak's login
    rate: growth by design that would hide a leak from the RSS flatness check."""

    def __init__(self, cap=400, churn=False):
        self.lock = threading.Lock()
        self.items = []
        self.cap = cap
        self.churn = churn

    def add(self, cookie):
        """True when the cookie was kept."""
        with self.lock:
            if len(self.items) < self.cap:
                self.items.append(cookie)
            elif self.churn:
                self.items[random.randrange(self.cap)] = cookie
            else:
                return False
            return True

    def full(self):
        with self.lock:
            return len(self.items) >= self.cap and not self.churn

    def pick(self):
        with self.lock:
            return random.choice(self.items) if self.items else None

    def take(self):
        with self.lock:
            if len(self.items) < 20:  # keep some for the other kinds
                return None
            return self.items.pop(random.randrange(len(self.items)))


class Client:
    """One keep-alive connection, reopened after any error or `Connection: close`."""

    def __init__(self, port, stats):
        self.port = port
        self.stats = stats
        self.conn = None

    def request(self, kind, method, path, expect, headers=None, body=None, check=None):
        """Sends one request; records it under `kind`. Returns (status, headers, body) or None
        on a connection error. `expect` is the set of statuses that are fine; `check`, given
        the answer, returns an error text (or None) for answers whose status is fine."""
        headers = dict(headers or {})
        if isinstance(body, str):
            body = body.encode()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
            if resp.will_close:
                self.close()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            self.stats.conn_error(kind, exc)
            return None
        status = resp.status
        detail = ""
        ok = status in expect
        if ok and check is not None:
            detail = check(resp, data)
            ok = detail is None
        if not ok:
            detail = f"{method} {path}: {detail or data[:200]!r}"
        self.stats.record(kind, status, ok, detail or "")
        return status, resp, data

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def set_cookie_value(resp, name):
    for header, value in resp.getheaders():
        if header.lower() == "set-cookie" and value.startswith(name + "="):
            return value.split(";", 1)[0][len(name) + 1 :]
    return None


def random_ip():
    return "10.%d.%d.%d" % (random.randrange(256), random.randrange(256), random.randrange(1, 255))


def as_json(data):
    try:
        return json.loads(data)
    except ValueError:
        return {}


# === the traffic =============================================================================


def login_flow(c, cookies, stats, flow):
    """One complete simulator login, step by step. flow: returning | new_skip | new_sms."""
    # Each flow is one "browser" behind a trusted proxy with its own client address, so the
    # per-IP login limits see many clients rather than one busy loopback address.
    base = {"X-Forwarded-For": random_ip(), "Content-Type": "application/json"}
    got = c.request("login.qr", "POST", f"{AUTH}/qr", {201}, base, '{"rd":"/app/home"}')
    if not got or got[0] != 201:
        return
    attempt = as_json(got[2]).get("id")
    binding_name = f"{BINDING_COOKIE_PREFIX}{attempt}"
    binding = set_cookie_value(got[1], binding_name) if attempt else None
    if not attempt or not binding:
        stats.record("login.qr", "no id/binding cookie", False)
        return
    h = dict(base, Cookie=f"{binding_name}={binding}")
    user = "returning" if flow == "returning" else "new"
    got = c.request("login.scan", "POST", f"{AUTH}/demo/scan", {200}, h,
                    json.dumps({"id": attempt, "user": user}))
    if not got or got[0] != 200:
        return
    want = "confirmed" if flow == "returning" else "need_phone"
    got = c.request("login.poll", "GET", f"{AUTH}/qr/{attempt}?wait=5&since=waiting", {200}, h,
                    check=lambda r, d: None if as_json(d).get("status") == want
                    else f"status {as_json(d).get('status')!r}, expected {want!r}")
    if not got or got[0] != 200 or as_json(got[2]).get("status") != want:
        return
    ticket = as_json(got[2]).get("ticket")
    if flow == "new_skip":
        got = c.request("login.skip", "POST", f"{AUTH}/phone/skip", {200}, h,
                        json.dumps({"id": attempt}))
        if not got or got[0] != 200:
            return
        ticket = as_json(got[2]).get("ticket")
    elif flow == "new_sms":
        phone = f"137{next(PHONE_SEQ) % 10**8:08d}"
        got = c.request("login.code", "POST", f"{AUTH}/phone/code", {202}, h,
                        json.dumps({"id": attempt, "phone": phone}))
        if not got or got[0] != 202:
            return
        code = as_json(got[2]).get("demo_code")
        got = c.request("login.bind", "POST", f"{AUTH}/phone/bind", {200}, h,
                        json.dumps({"id": attempt, "phone": phone, "code": code}))
        if not got or got[0] != 200:
            return
        ticket = as_json(got[2]).get("ticket")
    got = c.request("login.session", "POST", f"{AUTH}/session", {200}, h,
                    json.dumps({"ticket": ticket, "id": attempt}),
                    check=lambda r, d: None if set_cookie_value(r, COOKIE_NAME)
                    else "no session cookie")
    if not got or got[0] != 200:
        return
    with stats.lock:
        stats.logins[flow] += 1
    if cookies.full():
        return
    cookie = f"{COOKIE_NAME}={set_cookie_value(got[1], COOKIE_NAME)}"
    user_id = as_json(got[2]).get("user", {}).get("id")
    got = c.request("login.me", "GET", f"{AUTH}/me", {200}, {"Cookie": cookie},
                    check=lambda r, d: None if as_json(d).get("user", {}).get("id") == user_id
                    else f"/me says {as_json(d).get('user')}, the session exchange said {user_id}")
    if got and got[0] == 200:
        cookies.add(cookie)


def identity_present(resp, data):
    seen = as_json(data).get("auth", {})
    if not seen.get("x-auth-user-id") or not seen.get("x-auth-assertion"):
        return f"upstream saw no identity: {seen}"
    return None


def identity_absent(resp, data):
    seen = as_json(data).get("auth", {})
    return f"forged identity reached the upstream: {seen}" if seen else None


def redirect_to_login(resp, data):
    loc = resp.getheader("Location") or ""
    return None if loc.startswith(f"{AUTH}/login") else f"Location {loc!r}"


def callback_query(signed_badly):
    ts = int(time.time())
    if not signed_badly:
        return ""
    return f"?signature={'0' * 40}&timestamp={ts}&nonce={random.randrange(10**9)}"


CALLBACK_XML = ("<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o_evil]]>"
                "</FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType>"
                "<Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[login_x]]></EventKey></xml>")

FOUR_XX = set(range(400, 500))


def one_mixed(c, cookies, stats, kind):
    """One request of `kind` (see WEIGHTS)."""
    cookie = cookies.pick()
    if kind in ("authed", "me", "verify", "logout") and cookie is None:
        kind = "public"
    if kind == "public":
        c.request("public", "GET", f"/pub/p{random.randrange(1000)}", {200},
                  {"X-Auth-User-Id": "forged", "x_auth_phone": "+10000000000"},
                  check=identity_absent)
    elif kind == "authed":
        c.request("authed", "GET", f"/app/items/{random.randrange(1000)}?q=1", {200},
                  {"Cookie": f"other=1; {cookie}", "X-Auth-User-Id": "forged"},
                  check=lambda r, d: identity_present(r, d) or (
                      "forged user id passed" if as_json(d).get("auth", {}).get("x-auth-user-id") == "forged" else None))
    elif kind == "me":
        c.request("me", "GET", f"{AUTH}/me", {200}, {"Cookie": cookie})
    elif kind == "verify":
        c.request("verify", "GET", f"{AUTH}/verify", {200},
                  {"Cookie": cookie, "X-Forwarded-Host": "127.0.0.1", "X-Forwarded-Uri": "/app/x"})
    elif kind == "verify_anon":
        c.request("verify_anon", "GET", f"{AUTH}/verify", {401},
                  {"X-Forwarded-Host": "127.0.0.1", "X-Forwarded-Uri": "/app/x"})
    elif kind == "anon_html":
        c.request("anon_html", "GET", f"/app/page?tab={random.randrange(9)}", {302},
                  {"Accept": "text/html,application/xhtml+xml"}, check=redirect_to_login)
    elif kind == "anon_api":
        c.request("anon_api", "GET", "/app/api/data", {401}, {"Accept": "application/json"})
    elif kind == "bad_cookie":
        forged = f"{COOKIE_NAME}=eyJ{''.join(random.choice(string.ascii_letters) for _ in range(60))}.sig"
        c.request("bad_cookie", "GET", "/app/api/data", {401}, {"Cookie": forged})
    elif kind == "logout":
        victim = cookies.take()
        if victim is None:
            return
        c.request("logout", "POST", f"{AUTH}/logout", {200}, {"Cookie": victim})
        c.request("revoked", "GET", "/app/after-logout", {401}, {"Cookie": victim})
    elif kind == "callback_unsigned":
        c.request("callback_unsigned", "POST", f"{AUTH}/wechat/callback", FOUR_XX,
                  {"Content-Type": "text/xml"}, CALLBACK_XML)
    elif kind == "callback_badsig":
        c.request("callback_badsig", "POST", f"{AUTH}/wechat/callback{callback_query(True)}",
                  FOUR_XX, {"Content-Type": "text/xml"}, CALLBACK_XML)
    elif kind == "callback_verify_badsig":
        c.request("callback_verify_badsig", "GET",
                  f"{AUTH}/wechat/callback{callback_query(True)}&echostr=hello", FOUR_XX)
    elif kind == "bad_json_qr":
        c.request("bad_json_qr", "POST", f"{AUTH}/qr", {400},
                  {"Content-Type": "application/json"}, random.choice(['{"rd":', "[1,2", "\x00\xff", '{"method": 7}']))
    elif kind == "bad_json_session":
        c.request("bad_json_session", "POST", f"{AUTH}/session", {400, 404},
                  {"Content-Type": "application/json", "Cookie": f"{BINDING_COOKIE_PREFIX}nope=nope"},
                  random.choice(['{"ticket":', '{"ticket": 1}', "not json", ""]))
    elif kind == "oversized":
        path = random.choice([f"{AUTH}/qr", f"{AUTH}/session", f"{AUTH}/wechat/callback",
                              f"{AUTH}/phone/code"])
        c.request("oversized", "POST", path, {413}, {"Content-Type": "application/json"},
                  b'{"rd":"' + b"a" * OVERSIZED + b'"}')
    elif kind == "bad_path":
        path, expect = random.choice([
            ("/%2e%2e/", {401}),
            ("/app/%2e%2e/%2e%2e/etc/passwd", {401}),
            ("/a%2Fb", {400}),
            ("/pub/..%2f..%2fapp", {400}),
            ("/pub/%2e%2e/app/x", {401}),
            ("//pub///x", {200}),
        ])
        c.request("bad_path", "GET", path, expect)
    elif kind == "unknown_auth":
        method, path = random.choice([
            ("GET", f"{AUTH}/nope"), ("POST", f"{AUTH}/admin"), ("GET", f"{AUTH}/qr/not-an-id"),
            ("GET", f"{AUTH}/"), ("DELETE", f"{AUTH}/session"),
        ])
        c.request("unknown_auth", method, path, {404, 405})
    else:
        raise ValueError(kind)


WEIGHTS = {
    "public": 10, "authed": 25, "me": 4, "verify": 10, "verify_anon": 3, "anon_html": 6,
    "anon_api": 6, "bad_cookie": 3, "logout": 1, "callback_unsigned": 2, "callback_badsig": 2,
    "callback_verify_badsig": 1, "bad_json_qr": 2, "bad_json_session": 2, "oversized": 1,
    "bad_path": 3, "unknown_auth": 2,
}


def worker(port, cookies, stats, deadline, login, login_interval=0.0):
    c = Client(port, stats)
    kinds, weights = zip(*WEIGHTS.items())
    flows = ["returning", "new_skip", "new_sms"]
    i = 0
    next_login = time.monotonic()
    while time.monotonic() < deadline:
        if login:
            # Paced, so a run is the same workload on a fast machine as on a slow one.
            pause = next_login - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            next_login = max(next_login + login_interval, time.monotonic() - 1)
            login_flow(c, cookies, stats, flows[i % len(flows)])
        else:
            one_mixed(c, cookies, stats, random.choices(kinds, weights)[0])
        i += 1
    c.close()


def read_status(pid):
    """(VmRSS in KiB, open fds, utime+stime ticks) of pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return rss, fds, int(fields[11]) + int(fields[12])
    except (OSError, StopIteration):
        return None


def drive(args):
    stats = Stats()
    cookies = Cookies(cap=args.pool, churn=args.churn)
    start = time.monotonic()
    deadline = start + args.seconds
    interval = args.login_threads / args.login_rate if args.login_rate > 0 else 0.0
    threads = [threading.Thread(target=worker,
                                args=(args.port, cookies, stats, deadline, True, interval),
                                daemon=True) for _ in range(args.login_threads)]
    threads += [threading.Thread(target=worker, args=(args.port, cookies, stats, deadline, False),
                                 daemon=True) for _ in range(args.threads)]
    for t in threads:
        t.start()
    samples = []  # (seconds since start, rss KiB, fds, cpu ticks)
    died_at = None
    next_print = start
    while True:
        now = time.monotonic()
        st = read_status(args.pid)
        if st is None:
            died_at = round(now - start, 1)
            break
        samples.append((round(now - start, 1), *st))
        if now >= next_print:
            with stats.lock:
                total = sum(stats.counts.values())
                bad = sum(stats.unexpected.values()) + sum(stats.conn_errors.values())
            print(f"[soak] t={now - start:5.0f}s rss={st[0] / 1024:.1f} MiB fds={st[1]} "
                  f"requests={total} unexpected={bad}", file=sys.stderr, flush=True)
            next_print = now + 30
        if now >= deadline:
            break
        time.sleep(min(args.sample_seconds, max(0.05, deadline - now)))
    for t in threads:
        t.join(timeout=40)
    elapsed = time.monotonic() - start
    final = read_status(args.pid)
    if final is None and died_at is None:
        died_at = round(elapsed, 1)
    return summarise(args, stats, samples, died_at, elapsed)


def summarise(args, stats, samples, died_at, elapsed):
    by_kind = collections.defaultdict(dict)
    for (kind, status), n in sorted(stats.counts.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        by_kind[kind][str(status)] = n
    total = sum(stats.counts.values())
    unexpected = sum(stats.unexpected.values())
    conn_errors = sum(stats.conn_errors.values())
    five_xx = sum(n for (k, s), n in stats.counts.items() if isinstance(s, int) and s >= 500)

    third = args.seconds / 3
    first = [s for s in samples if s[0] <= third]
    last = [s for s in samples if s[0] >= 2 * third]
    baseline = first[-1][1] if first else None  # RSS once warmed up
    end_max = max((s[1] for s in last), default=None)
    limit = baseline * 1.2 + 5 * 1024 if baseline else None
    failures = []
    if died_at is not None:
        failures.append(f"scangate died at t={died_at}s")
    if unexpected:
        failures.append(f"{unexpected} unexpected answers")
    if conn_errors:
        failures.append(f"{conn_errors} connection errors")
    if baseline and end_max and end_max > limit:
        failures.append(f"RSS grew: {end_max / 1024:.1f} MiB in the last third vs "
                        f"{baseline / 1024:.1f} MiB after warm-up (limit {limit / 1024:.1f} MiB)")
    if not samples or len(samples) < 3:
        failures.append("too few RSS samples")
    cpu = (samples[-1][3] - samples[0][3]) / os.sysconf("SC_CLK_TCK") if len(samples) > 1 else 0.0
    return {
        "seconds": args.seconds,
        "pool": args.pool,
        "login_rate": args.login_rate,
        "churn": args.churn,
        "elapsed": round(elapsed, 1),
        "requests": total,
        "requests_per_second": round(total / elapsed, 1) if elapsed else 0,
        "logins": dict(stats.logins),
        "by_kind": by_kind,
        "unexpected": {f"{k} {s}": n for (k, s), n in stats.unexpected.items()},
        "five_xx": five_xx,
        "conn_errors": {f"{k} {e}": n for (k, e), n in stats.conn_errors.items()},
        "examples": stats.examples,
        "rss_samples_kib": [(t, rss) for t, rss, _, _ in samples],
        "fds": {"start": samples[0][2], "end": samples[-1][2],
                "max": max(s[2] for s in samples)} if samples else {},
        "rss_check": {"after_warmup_kib": baseline, "last_third_max_kib": end_max,
                      "limit_kib": round(limit) if limit else None},
        "cpu_seconds": round(cpu, 1),
        "died_at": died_at,
        "failures": failures,
        "ok": not failures,
    }


def describe(s):
    """The human summary (stdout)."""
    out = [f"duration {s['elapsed']} s, {s['requests']} requests ({s['requests_per_second']}/s), "
           f"logins completed: {s['logins']}",
           f"gateway CPU {s['cpu_seconds']} s; open fds start/end/max: "
           f"{s['fds'].get('start')}/{s['fds'].get('end')}/{s['fds'].get('max')}"]
    out.append("requests by kind and status:")
    for kind, statuses in sorted(s["by_kind"].items()):
        out.append(f"  {kind:24} " + ", ".join(f"{st}: {n}" for st, n in statuses.items()))
    rss = s["rss_samples_kib"]
    if rss:
        picks = [rss[0], rss[len(rss) // 3], rss[len(rss) // 2], rss[2 * len(rss) // 3], rss[-1]]
        out.append("RSS: " + ", ".join(f"t={t:.0f}s {kb / 1024:.1f} MiB" for t, kb in picks)
                   + f" ({len(rss)} samples, max {max(kb for _, kb in rss) / 1024:.1f} MiB)")
    if s["unexpected"]:
        out.append(f"unexpected answers: {s['unexpected']}")
    if s["conn_errors"]:
        out.append(f"connection errors: {s['conn_errors']}")
    for e in s["examples"][:10]:
        out.append(f"  e.g. {e}")
    out.append("PASS" if s["ok"] else "FAIL: " + "; ".join(s["failures"]))
    return "\n".join(out)


KIND_DOC = {
    "login.qr": "`POST /.auth/qr` (201)",
    "login.scan": "`POST /.auth/demo/scan`, the simulator's signed callback behind it (200)",
    "login.poll": "`GET /.auth/qr/{id}?wait=5` → confirmed or need_phone (200)",
    "login.skip": "`POST /.auth/phone/skip` (200)",
    "login.code": "`POST /.auth/phone/code` (202)",
    "login.bind": "`POST /.auth/phone/bind` with the demo code (200)",
    "login.session": "`POST /.auth/session` → session cookie (200)",
    "login.me": "`GET /.auth/me` with the new cookie: the same user (200)",
    "public": "`GET /pub/…` with forged `X-Auth-*`: upstream sees none (200)",
    "authed": "`GET /app/…` with a session and a forged user id: upstream sees the real identity (200)",
    "me": "`GET /.auth/me` (200)",
    "verify": "`GET /.auth/verify` with a session (200)",
    "verify_anon": "`GET /.auth/verify` without (401)",
    "anon_html": "`GET /app/…`, `Accept: text/html`, no session → login page (302)",
    "anon_api": "`GET /app/…` as an API client, no session (401)",
    "bad_cookie": "a forged session cookie (401)",
    "logout": "`POST /.auth/logout` (200)",
    "revoked": "the logged-out cookie again (401)",
    "callback_unsigned": "`POST /.auth/wechat/callback` without a signature (4xx)",
    "callback_badsig": "… with a wrong signature (4xx)",
    "callback_verify_badsig": "`GET /.auth/wechat/callback?echostr=` with a wrong signature (4xx)",
    "bad_json_qr": "malformed JSON to `/.auth/qr` (400)",
    "bad_json_session": "malformed JSON to `/.auth/session` (400/404)",
    "oversized": "a 70 KiB body to a login endpoint or the callback (413)",
    "bad_path": "`/%2e%2e/`, `/a%2Fb`, `..%2f`, `//pub///x` (200/400/401 each as expected)",
    "unknown_auth": "unknown `/.auth/*` paths and methods (404/405)",
}


def markdown(s, command, machine):
    rss = s["rss_samples_kib"]
    mib = lambda kb: f"{kb / 1024:.1f}"  # noqa: E731
    lines = [
        "## Soak",
        "",
        f"A bounded soak of the release gateway on loopback: {s['seconds']:g} s of mixed traffic from "
        "Python threads (stdlib `http.client`, keep-alive), against a config with the WeChat "
        "simulator, `login.phone: optional`, a public route and a login route to a small echo "
        "upstream that reports the `X-Auth-*` headers it receives. Two threads log in "
        + (f"at up to {s['login_rate']:g} logins/s in all, paced so that the workload is the same "
           "on any machine " if s["login_rate"] > 0 else "continuously ")
        + "(returning user; new user skipping the phone; new user binding one by SMS "
        "code), each login from its own client address (loopback is a trusted proxy), and the others "
        "use the sessions obtained"
        + (", every new one replacing an old one (`--churn`)" if s["churn"] else
           f" ({s['pool']} at a time: a new session only takes a logged-out one's place, so "
           "the gateway's bounded caches of verified sessions do not grow for the whole run)")
        + ", with anonymous requests, forward auth, logouts and junk in between (below). Every "
        "request has a set of "
        "expected statuses for its kind; any other status (every 5xx included) or connection error "
        "fails the run, as do a dead gateway or RSS in the last third above the RSS after warm-up "
        "(end of the first third) by more than 20 % + 5 MiB. The WeChat simulator runs inside the "
        "gateway process and keeps every simulated user, and every QR ticket until 10 minutes "
        "after it expired (`src/wechat_sim/state.rs`), so RSS rises a little with every login "
        "in this setup; that part is not on a production gateway's path. The store grows with "
        "every attempt and per-client limit counter until they expire.",
        "",
        f"Result: **{'pass' if s['ok'] else 'FAIL: ' + '; '.join(s['failures'])}**. "
        f"{s['requests']:,} requests in {s['elapsed']} s ({s['requests_per_second']:,.0f}/s), "
        f"{s['five_xx']} 5xx, {sum(s['conn_errors'].values())} connection errors; gateway CPU "
        f"{s['cpu_seconds']} s; logins completed: "
        + ", ".join(f"{k} {v}" for k, v in sorted(s["logins"].items())) + ".",
        "",
        "| kind | request | statuses (count) |",
        "|---|---|---|",
    ]
    for kind, statuses in sorted(s["by_kind"].items()):
        lines.append(f"| {kind} | {KIND_DOC.get(kind, '')} | "
                     + ", ".join(f"{st}: {n:,}" for st, n in statuses.items()) + " |")
    if rss:
        n = len(rss)
        picks = [("start", rss[0]), ("after warm-up (⅓)", rss[(n - 1) // 3]),
                 ("middle", rss[n // 2]), ("⅔", rss[2 * (n - 1) // 3]), ("end", rss[-1])]
        lines += ["", "| RSS sample | t | VmRSS MiB |", "|---|---:|---:|"]
        lines += [f"| {name} | {t:.0f} s | {mib(kb)} |" for name, (t, kb) in picks]
        lines.append(f"| max over the run | | {mib(max(kb for _, kb in rss))} |")
        lines += ["", f"{n} samples; open file descriptors start/end/max: "
                  f"{s['fds'].get('start')}/{s['fds'].get('end')}/{s['fds'].get('max')}."]
    if s["unexpected"] or s["conn_errors"]:
        lines += ["", "Unexpected: " + json.dumps({**s["unexpected"], **s["conn_errors"]}, ensure_ascii=False)]
    lines += ["", f"- Machine: {machine}.", f"- Command: `{command}`", ""]
    return reflow("\n".join(lines)).rstrip("\n") + "\n"


def reflow(text, width=92):
    """Wraps prose paragraphs and list items; leaves tables and headings alone."""
    import textwrap
    out = []
    for block in text.split("\n\n"):
        if block.startswith(("|", "#")) or not block.strip():
            out.append(block)
            continue
        items, current = [], []
        for line in block.split("\n"):
            if line.startswith("- ") and current:
                items.append(" ".join(current))
                current = []
            current.append(line.strip())
        items.append(" ".join(current))
        out.append("\n".join(
            textwrap.fill(item, width, subsequent_indent="  " if item.startswith("- ") else "",
                          break_on_hyphens=False, break_long_words=False)
            for item in items))
    return "\n\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("upstream")
    up.add_argument("port", type=int)
    d = sub.add_parser("drive")
    d.add_argument("--port", type=int, required=True)
    d.add_argument("--pid", type=int, required=True)
    d.add_argument("--seconds", type=float, default=180)
    d.add_argument("--threads", type=int, default=6, help="mixed-traffic threads")
    d.add_argument("--login-threads", type=int, default=2)
    d.add_argument("--login-rate", type=float, default=50,
                   help="logins per second at most, over all login threads (0: unpaced)")
    d.add_argument("--sample-seconds", type=float, default=3)
    d.add_argument("--pool", type=int, default=400, help="session cookies in use at once")
    d.add_argument("--churn", action="store_true",
                   help="every new session replaces one in the pool (see Cookies)")
    d.add_argument("--summary", required=True, help="JSON summary written here")
    d.add_argument("--markdown", help="the BENCHMARKS.md section written here")
    d.add_argument("--command", default="benches/soak/run.sh")
    d.add_argument("--machine", default="")
    args = p.parse_args()
    if args.cmd == "upstream":
        upstream(args.port)
        return 0
    summary = drive(args)
    with open(args.summary, "w") as f:
        json.dump(summary, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(markdown(summary, args.command, args.machine))
    print(describe(summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
