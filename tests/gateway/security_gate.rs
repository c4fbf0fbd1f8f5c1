//! The gate as an attacker meets it, in both modes: inline (the gateway proxies) and forward
//! auth (`/.auth/verify`, asked by a proxy in front). Hosts, paths, forwarding headers,
//! framing, header look-alikes and cross-site posts, each as a table of spellings, and a
//! property that both modes decide every request alike and that the route decided on is the
//! route whose upstream receives the request.

use std::net::SocketAddr;

use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::harness::*;

/// Four routes as a real site has them, each with its own echo upstream named after it:
/// `pub.test` public; on `app.test`, `/admin` for one phone only, `/public` open, the rest
/// behind a login.
struct Site {
    gw: Gateway,
    _echoes: Vec<Echo>,
    /// A session of alice (phone 13800138000, not on the admin list).
    alice: String,
}

async fn site(extra: &str) -> Site {
    let names = ["pub", "admin", "public", "app"];
    let mut echoes = Vec::new();
    for name in names {
        echoes.push(Echo::start(name).await);
    }
    let gw = Gateway::start(&format!(
        r#"{extra}
routes:
  - name: pub
    host: "pub.test"
    upstreams: ["{p}"]
    auth: public
  - name: admin
    host: "app.test"
    path_prefix: "/admin"
    upstreams: ["{a}"]
    auth: phone
    allow_phones: ["13900139000"]
  - name: public
    host: "app.test"
    path_prefix: "/public"
    upstreams: ["{u}"]
    auth: public
  - name: app
    host: "app.test"
    upstreams: ["{x}"]
    auth: login
"#,
        p = echoes[0].addr,
        a = echoes[1].addr,
        u = echoes[2].addr,
        x = echoes[3].addr,
    ))
    .await;
    let alice = gw.cookie(&alice());
    Site {
        gw,
        _echoes: echoes,
        alice,
    }
}

/// One inline request: `target` and `host` exactly as written.
async fn inline(addr: SocketAddr, host: &str, target: &str, extra: &[&str]) -> Raw {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for h in extra {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    raw_request(addr, &req).await
}

/// One forward-auth question, as nginx's `auth_request` asks it (the README's snippet).
async fn verify(addr: SocketAddr, url: &str, extra: &[&str]) -> Raw {
    let mut headers = vec![format!("X-Original-URL: {url}")];
    headers.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    inline(addr, "127.0.0.1", "/.auth/verify", &refs).await
}

fn assertion_aud(raw: &Raw) -> Option<String> {
    use base64::Engine;
    let jwt = raw.header("x-auth-assertion")?;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["aud"].as_str().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_never_signs_for_a_request_that_no_route_serves() {
    let s = site("").await;
    let cookie = format!("Cookie: {}", s.alice);
    for url in [
        // `admin` is not `app.test`: no route, whatever the session.
        "http://admin/admin/users",
        "http://app.test.evil/x",
        "http://other.test/",
        "http://127.0.0.1/",
    ] {
        let r = verify(s.gw.addr, url, &[&cookie]).await;
        assert_eq!(r.status, 403, "{url}: {}", r.body);
        assert_eq!(r.json()["error"], "no_route", "{url}");
        assert!(r.header("x-auth-assertion").is_none(), "{url}");
        assert!(r.header("x-auth-user-id").is_none(), "{url}");
        let anonymous = verify(s.gw.addr, url, &[]).await;
        assert_eq!(anonymous.status, 403, "{url}");
    }
    // With a route, the audience is that route's name and nothing the client wrote.
    for (url, status, aud) in [
        ("http://app.test/home", 200, Some("app")),
        ("http://APP.test./home", 200, Some("app")),
        ("http://app.test:8443/public/x", 200, Some("public")),
        ("http://pub.test/", 200, Some("pub")),
        ("http://app.test/admin/users", 403, None),
    ] {
        let r = verify(s.gw.addr, url, &[&cookie]).await;
        assert_eq!(r.status, status, "{url}: {}", r.body);
        assert_eq!(assertion_aud(&r).as_deref(), aud, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reads_one_source_of_truth_and_refuses_conflicts() {
    let s = site("").await;
    let cookie = format!("Cookie: {}", s.alice);
    let ask = |headers: Vec<&'static str>| {
        let cookie = cookie.clone();
        let addr = s.gw.addr;
        async move {
            let mut all = headers;
            all.push(Box::leak(cookie.into_boxed_str()));
            inline(addr, "127.0.0.1", "/.auth/verify", &all).await
        }
    };
    for (headers, status, error) in [
        // Traefik/Caddy name the request with X-Forwarded-*; the client adds X-Original-URL.
        (
            vec![
                "X-Forwarded-Host: app.test",
                "X-Forwarded-Uri: /admin/users",
                "X-Original-URL: /public/x",
            ],
            400,
            "conflicting_forward_headers",
        ),
        // nginx names it with X-Original-URL; the client adds X-Forwarded-Uri or -Host.
        (
            vec![
                "X-Original-URL: http://app.test/admin/users",
                "X-Forwarded-Uri: /public/x",
            ],
            400,
            "conflicting_forward_headers",
        ),
        (
            vec![
                "X-Original-URL: http://app.test/admin/users",
                "X-Forwarded-Host: pub.test",
            ],
            400,
            "conflicting_forward_headers",
        ),
        (
            vec![
                "X-Forwarded-Host: app.test",
                "X-Forwarded-Uri: /admin/users",
                "X-Forwarded-Uri: /public/x",
            ],
            400,
            "conflicting_forward_headers",
        ),
        (
            vec!["X-Forwarded-Host: app.test"],
            400,
            "missing_forward_headers",
        ),
        (vec![], 400, "missing_forward_headers"),
        (vec!["X-Original-URL: //pub.test/x"], 400, "bad_forward_url"),
        (
            vec!["X-Original-URL: http://[pub.test]:1/x"],
            400,
            "bad_host",
        ),
        (
            vec!["X-Original-URL: http://user@pub.test/x"],
            400,
            "bad_host",
        ),
        // Agreeing sources and each source alone are fine.
        (
            vec![
                "X-Forwarded-Host: app.test",
                "X-Forwarded-Uri: /public/x",
                "X-Original-URL: http://app.test/public/x",
            ],
            200,
            "",
        ),
        (
            vec![
                "X-Forwarded-Host: app.test",
                "X-Forwarded-Uri: /admin/users",
            ],
            403,
            "forbidden",
        ),
    ] {
        let shown = format!("{headers:?}");
        let r = ask(headers).await;
        assert_eq!(r.status, status, "{shown}: {}", r.body);
        if !error.is_empty() {
            assert_eq!(r.json()["error"], error, "{shown}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_believes_only_its_trusted_proxies() {
    // The test client is on loopback; trust only another network.
    let s = site("forward_auth:\n  trusted: [\"10.0.0.0/8\"]\n").await;
    let cookie = format!("Cookie: {}", s.alice);
    let r = verify(s.gw.addr, "http://app.test/home", &[&cookie]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"], "untrusted_forwarder");
    assert!(r.header("x-auth-assertion").is_none());
    // trusted_proxies are believed too.
    let s = site("trusted_proxies: [\"127.0.0.1\"]\nforward_auth:\n  trusted: []\n").await;
    let cookie = format!("Cookie: {}", s.alice);
    let r = verify(s.gw.addr, "http://app.test/home", &[&cookie]).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Paths that are not in normal form: forward auth cannot rewrite what the app receives,
/// so it refuses them; inline rewrites them and decides on the normal form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_normal_paths_are_refused_by_verify_and_rewritten_inline() {
    let s = site("").await;
    let cookie = format!("Cookie: {}", s.alice);
    for (raw, normal_route) in [
        ("/admin/../public/x", "public"),
        ("/public/../admin/x", "admin"),
        ("/public/./x", "public"),
        ("//public/x", "public"),
        ("/public/%2e%2e/admin", "admin"),
        ("/%70ublic/x", "public"),
        ("/public/x/..", "public"),
    ] {
        let r = verify(s.gw.addr, &format!("http://app.test{raw}"), &[&cookie]).await;
        assert_eq!(r.status, 400, "{raw}: {}", r.body);
        assert_eq!(r.json()["error"], "bad_path", "{raw}");
        let r = inline(s.gw.addr, "app.test", raw, &[&cookie]).await;
        match normal_route {
            "admin" => assert_eq!(r.status, 403, "{raw}"),
            route => assert_eq!(Seen(r.json()).upstream(), route, "{raw}"),
        }
    }
    // Escapes that differ only in hex case are normal.
    let r = verify(s.gw.addr, "http://app.test/public/a%3fb", &[&cookie]).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Spellings of a protected prefix that a case-insensitive or dot-trimming upstream
/// (Express, ASP.NET, IIS) reads as `/admin`: never the looser route, in either mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_and_trailing_dot_spellings_never_reach_a_looser_route() {
    let s = site("").await;
    let cookie = format!("Cookie: {}", s.alice);
    for path in [
        "/ADMIN/users",
        "/Admin/users",
        "/admin./users",
        "/admin%2e/users",
        "/admin%2E/users",
        "/admin%20/users",
        "/admin.%20./users",
        "/AdMiN",
        "/PUBLIC/x",
        "/public./x",
    ] {
        for session in [None, Some(cookie.as_str())] {
            let extra: Vec<&str> = session.into_iter().collect();
            let r = inline(s.gw.addr, "app.test", path, &extra).await;
            assert_eq!(r.status, 400, "inline {path} {session:?}: {}", r.body);
            assert_eq!(r.json()["error"], "ambiguous_path", "{path}");
            // verify: refused too (the %2e spellings as non-normal, the rest as ambiguous).
            let v = verify(s.gw.addr, &format!("http://app.test{path}"), &extra).await;
            assert_eq!(v.status, 400, "verify {path} {session:?}: {}", v.body);
            assert!(v.header("x-auth-assertion").is_none());
        }
    }
    // Spellings that keep their route are untouched: the app's own URLs with capitals work.
    let r = inline(s.gw.addr, "app.test", "/Docs/Intro", &[&cookie]).await;
    let seen = Seen(r.json());
    assert_eq!((seen.upstream(), seen.target()), ("app", "/Docs/Intro"));
    let r = verify(s.gw.addr, "http://app.test/Docs/Intro", &[&cookie]).await;
    assert_eq!(r.status, 200);
}

/// `Host` is parsed strictly and the upstream is told the host the decision was made on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_are_parsed_strictly_and_the_decided_host_goes_upstream() {
    let s = site("").await;
    for host in [
        "[pub.test]:1",
        "[pub.test]",
        "pub.test:",
        "pub.test:99999",
        "pub.test:1:2",
        "pub.test..",
        "user@pub.test",
        "pub.test%00",
        "pub test",
        "1.2.3.4.5",
    ] {
        let r = inline(s.gw.addr, host, "/", &[]).await;
        assert_eq!(r.status, 400, "Host: {host}: {}", r.body);
        // pingora refuses some (userinfo) itself, before we see the request.
        let error = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(
            ["bad_host", "bad_request"].contains(&error.as_str()),
            "{host}: {error}"
        );
    }
    for (host, sent) in [
        ("pub.test", "pub.test"),
        ("PUB.Test", "pub.test"),
        ("pub.test.", "pub.test"),
        ("pub.test.:8080", "pub.test:8080"),
    ] {
        let r = inline(s.gw.addr, host, "/x", &[]).await;
        let seen = Seen(r.json());
        assert_eq!(seen.upstream(), "pub", "{host}");
        assert_eq!(seen.header("host").as_deref(), Some(sent), "{host}");
    }
    // An absolute-form target names the host (RFC 9112 §3.2.2); a Host line that differs
    // is refused (by pingora), and the upstream is told the host that was decided on.
    let r = raw_request(
        s.gw.addr,
        "GET http://pub.test/x HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = raw_request(
        s.gw.addr,
        "GET http://PUB.test./x HTTP/1.1\r\nHost: PUB.test.\r\nConnection: close\r\n\r\n",
    )
    .await;
    let seen = Seen(r.json());
    assert_eq!(seen.upstream(), "pub");
    assert_eq!(seen.header("host").as_deref(), Some("pub.test"));
    assert_eq!(seen.target(), "/x");
    // Two Host lines, or none in HTTP/1.1: 400.
    for req in [
        "GET / HTTP/1.1\r\nHost: pub.test\r\nHost: app.test\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: pub.test\r\nHost: pub.test\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    ] {
        let r = raw_request(s.gw.addr, req).await;
        assert_eq!(r.status, 400, "{req:?}: {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http10_request_without_host_is_for_the_public_url_host() {
    let e = Echo::start("default").await;
    let gw = Gateway::start(&format!(
        "routes:\n  - name: gw\n    host: gateway.test\n    upstreams: [\"{}\"]\n    auth: public\n",
        e.addr
    ))
    .await;
    let r = raw_request(gw.addr, "GET /x HTTP/1.0\r\n\r\n").await;
    let seen = Seen(r.json());
    assert_eq!(seen.upstream(), "default");
    let expected = format!("gateway.test:{}", gw.addr.port());
    assert_eq!(seen.header("host").as_deref(), Some(expected.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_framing_is_refused_before_proxying() {
    let s = site("").await;
    for (what, head) in [
        ("list", "Content-Length: 3, 3\r\n"),
        ("two lines", "Content-Length: 3\r\nContent-Length: 3\r\n"),
        ("signed", "Content-Length: +3\r\n"),
    ] {
        for target in ["/x", "/.auth/logout"] {
            let req = format!(
                "POST {target} HTTP/1.1\r\nHost: pub.test\r\n{head}Connection: close\r\n\r\nabc"
            );
            let r = raw_request(s.gw.addr, &req).await;
            assert_eq!(r.status, 400, "{what} {target}: {}", r.body);
            // pingora's own 400 (an empty body) would do, ours says why.
            if !r.body.is_empty() {
                assert!(r.body.contains("bad_"), "{what}: {}", r.body);
            }
        }
    }
    // Length and chunked together: refused, or (pingora drops the length, as RFC 9112
    // §6.3 allows) passed on as chunked only, never with both.
    let req = "POST /x HTTP/1.1\r\nHost: pub.test\r\nContent-Length: 3\r\n\
               Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let r = raw_request(s.gw.addr, req).await;
    if r.status != 400 {
        let seen = Seen(r.json());
        assert!(seen.header("content-length").is_none(), "{:?}", seen.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_look_alikes_and_rewrite_headers_never_reach_the_app() {
    let s = site("").await;
    let forged = [
        "X.Auth.User.Id: admin",
        "X_Auth.User-Id: admin",
        "XAuthUserId: admin",
        "X-Auth--Phone: +8613900139000",
        "X-Original-URL: /admin/users",
        "X-Rewrite-URL: /admin/users",
        "X-Original-URI: /admin/users",
        "X-Forwarded-Prefix: /admin",
        "X-Forwarded-Port: 443",
        "X-Forwarded-Ssl: on",
        "X-Forwarded-Scheme: https",
        "X-Real-IP: 10.9.9.9",
        "True-Client-IP: 10.9.9.9",
        "Remote-User: admin",
        "X-Forwarded-User: admin",
        "X-Auth-Request-Email: admin@example.com",
        "X-WEBAUTH-USER: admin",
    ];
    for session in [None, Some(format!("Cookie: {}", s.alice))] {
        let mut headers: Vec<&str> = forged.to_vec();
        if let Some(c) = &session {
            headers.push(c);
        }
        let r = inline(s.gw.addr, "app.test", "/public/x", &headers).await;
        let seen = Seen(r.json());
        for line in forged {
            let name = line.split(':').next().unwrap();
            let values = seen.header_all(name);
            let ours = ["X-Auth--Phone"];
            if ours.contains(&name) {
                // Set by us, never the client's value.
                assert!(
                    !values
                        .iter()
                        .any(|v| v.contains("10.9.9.9") || v.contains("139")),
                    "{name}: {values:?}"
                );
            } else {
                assert!(values.is_empty(), "{name} reached the app: {values:?}");
            }
        }
        assert_eq!(seen.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
        let targets: Vec<String> = seen.0["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[0].as_str().unwrap().to_ascii_lowercase())
            .filter(|n| n.replace(['-', '_', '.'], "") == "xauthuserid")
            .collect();
        let expected = usize::from(session.is_some());
        assert_eq!(targets.len(), expected, "{targets:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_posts_cannot_log_anyone_out_or_start_a_login() {
    let s = site("").await;
    let cookie = format!("Cookie: {}", s.alice);
    for (target, body) in [("/.auth/logout", ""), ("/.auth/qr", "{}")] {
        for (origin, refused) in [
            ("Origin: https://evil.test", true),
            ("Origin: null", true),
            ("Sec-Fetch-Site: cross-site", true),
            ("Origin: http://app.test", false),
            ("Origin: http://pub.test:8080", false),
            ("Sec-Fetch-Site: same-origin", false),
        ] {
            let req = format!(
                "POST {target} HTTP/1.1\r\nHost: app.test\r\n{cookie}\r\n{origin}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let r = raw_request(s.gw.addr, &req).await;
            if refused {
                assert_eq!(r.status, 403, "{target} {origin}: {}", r.body);
                assert_eq!(r.json()["error"], "cross_site");
                assert!(r.header("set-cookie").is_none(), "{target} {origin}");
                if target == "/.auth/logout" {
                    let me = inline(s.gw.addr, "app.test", "/.auth/me", &[&cookie]).await;
                    assert_eq!(me.status, 200, "the session ended after {origin}");
                }
            } else {
                assert_ne!(r.status, 403, "{target} {origin}: {}", r.body);
            }
        }
    }
    // The allowed logout above did end it.
    let me = inline(s.gw.addr, "app.test", "/.auth/me", &[&cookie]).await;
    assert_eq!(me.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_on_an_own_endpoint_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = site("").await;
    let mut stream = tokio::net::TcpStream::connect(s.gw.addr).await.unwrap();
    stream
        .write_all(
            b"POST /.auth/qr HTTP/1.1\r\nHost: app.test\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"rd\":",
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(40),
        stream.read_to_end(&mut out),
    )
    .await;
    assert!(read.is_ok(), "the gateway kept waiting for the body");
    let r = parse_raw(&out);
    assert_eq!(r.status, 408, "{}", r.body);
    assert_eq!(r.json()["error"], "request_timeout");
    assert!(started.elapsed() >= std::time::Duration::from_secs(5));
}

/// What a decision looks like from outside, comparable across the two modes.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Passed to (inline) or allowed for (verify) this route.
    Pass(String),
    Login,
    Forbidden,
    NoRoute,
    BadRequest,
}

fn inline_verdict(r: &Raw) -> Verdict {
    match r.status {
        200 => Verdict::Pass(Seen(r.json()).upstream().to_string()),
        302 | 401 => Verdict::Login,
        403 => Verdict::Forbidden,
        404 => Verdict::NoRoute,
        400 => Verdict::BadRequest,
        other => panic!("inline answered {other}: {}", r.body),
    }
}

fn verify_verdict(r: &Raw, route_of_public: &str) -> Verdict {
    match r.status {
        200 => Verdict::Pass(assertion_aud(r).unwrap_or_else(|| route_of_public.to_string())),
        401 => Verdict::Login,
        403 if r.json()["error"] == "no_route" => Verdict::NoRoute,
        403 => Verdict::Forbidden,
        400 => Verdict::BadRequest,
        other => panic!("verify answered {other}: {}", r.body),
    }
}

/// For random hosts and paths made of the pieces attackers use, with and without a
/// session: `/verify` decides as the inline gate does, and a request that passes inline
/// reaches exactly the upstream of the route decided on, with the normalised path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_and_inline_agree_on_random_hosts_and_paths() {
    let s = site("").await;
    let hosts = [
        "app.test",
        "APP.test",
        "app.test.",
        "pub.test",
        "Pub.Test.",
        "other.test",
        "admin",
        "app.test:8443",
        "[::1]",
        "127.0.0.1",
    ];
    let segments = [
        "admin",
        "ADMIN",
        "Admin",
        "admin.",
        "admin%20",
        "admin%2e",
        "public",
        "PUBLIC",
        "public.",
        "%70ublic",
        "x",
        "Docs",
        "..",
        ".",
        "%2e%2e",
        "",
        "a;b",
        "admin;x=1",
        "%41",
        "a%3fb",
        "%E4%BD%A0",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261204);
    let cookie = format!("Cookie: {}", s.alice);
    let mut compared = 0;
    for _ in 0..250 {
        let host = hosts[rng.gen_range(0..hosts.len())];
        let depth = rng.gen_range(1..4);
        let mut path = String::new();
        for _ in 0..depth {
            path.push('/');
            path.push_str(segments[rng.gen_range(0..segments.len())]);
        }
        for session in [None, Some(cookie.as_str())] {
            let extra: Vec<&str> = session.into_iter().collect();
            let i = inline(s.gw.addr, host, &path, &extra).await;
            let v = verify(s.gw.addr, &format!("http://{host}{path}"), &extra).await;
            let inline_v = inline_verdict(&i);
            let verify_v = verify_verdict(&v, "");
            if v.status == 400 && v.json()["error"] == "bad_path" {
                // Not in normal form: forward auth refuses what inline rewrites.
                continue;
            }
            // A public route without a session has no assertion: name it from inline.
            let verify_v = match (verify_v, &inline_v) {
                (Verdict::Pass(aud), Verdict::Pass(route)) if aud.is_empty() => {
                    Verdict::Pass(route.clone())
                }
                (other, _) => other,
            };
            assert_eq!(
                inline_v, verify_v,
                "Host {host}, path {path}, session {session:?}"
            );
            if let Verdict::Pass(route) = &inline_v {
                // The upstream of the decided route got it, at the path decided on.
                let seen = Seen(i.json());
                assert_eq!(seen.upstream(), route);
                assert!(!seen.target().contains("/../") && !seen.target().contains("//"));
            }
            compared += 1;
        }
    }
    // Most draws are comparable (not refused for being non-normal): the property is tested.
    assert!(compared > 200, "only {compared} comparable requests");
}

/// The README's nginx snippet, with a real nginx in front: what a browser and an attacker
/// get through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_behind_a_real_nginx() {
    let s = site("").await;
    let app = Echo::start("behind-nginx").await;
    let gw = s.gw.addr;
    let server = format!(
        r#"    location = /_scangate {{ internal; proxy_pass http://{gw}/.auth/verify;
      proxy_pass_request_body off; proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri; }}
    location / {{ auth_request /_scangate;
      auth_request_set $uid $upstream_http_x_auth_user_id; proxy_set_header X-Auth-User-Id $uid;
      auth_request_set $aud $upstream_http_x_auth_assertion; proxy_set_header X-Auth-Assertion $aud;
      error_page 401 = @login; proxy_pass http://{app}; }}
    location @login {{ return 302 http://gateway.test/.auth/login?rd=$scheme://$http_host$request_uri; }}"#,
        app = app.addr
    );
    let Some(nginx) = Nginx::start("forward_auth_behind_a_real_nginx", "", &server).await else {
        return;
    };
    let via = |host: &'static str, target: &'static str, extra: Vec<String>| {
        let addr = nginx.addr;
        async move {
            let refs: Vec<&str> = extra.iter().map(String::as_str).collect();
            inline(addr, host, target, &refs).await
        }
    };
    let cookie = format!("Cookie: {}", s.alice);

    // No session: the login page, with the way back.
    let r = via("app.test", "/home?x=1", vec![]).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some("http://gateway.test/.auth/login?rd=http://app.test/home?x=1")
    );
    // A session: the app gets the user, with a verifiable assertion for the route.
    let r = via("app.test", "/home", vec![cookie.clone()]).await;
    let seen = Seen(r.json());
    assert_eq!(seen.header("x-auth-user-id").as_deref(), Some("u_alice"));
    // The route refuses alice: so does nginx.
    let r = via("app.test", "/admin/users", vec![cookie.clone()]).await;
    assert_eq!(r.status, 403);
    // Attacks through nginx: none reaches the app.
    for (host, target, extra) in [
        ("app.test", "/admin/users", "X-Original-URL: /public/x"),
        ("app.test", "/admin/users", "X-Forwarded-Uri: /public/x"),
        ("app.test", "/admin/users", "X-Forwarded-Host: pub.test"),
        ("app.test", "/ADMIN/users", ""),
        ("app.test", "/admin./users", ""),
        ("app.test", "/admin%2e/users", ""),
        ("app.test", "/public/../admin/users", ""),
        ("app.test", "/public/%2e%2e/admin/users", ""),
        ("admin", "/admin/users", ""),
        ("[pub.test]:1", "/", ""),
    ] {
        let mut headers = vec![cookie.clone()];
        if !extra.is_empty() {
            headers.push(extra.to_string());
        }
        let r = via(host, target, headers).await;
        assert!(
            r.status >= 400,
            "{host} {target} {extra}: {} {}",
            r.status,
            r.body
        );
        assert!(
            !r.body.contains("behind-nginx"),
            "{host} {target} {extra} reached the app"
        );
    }
}
