//! Route precedence, host wildcards, path normalisation, no-route and upstream failure.

use crate::harness::*;

async fn three_upstreams() -> (Echo, Echo, Echo, Gateway) {
    let a = Echo::start("api").await;
    let w = Echo::start("wild").await;
    let d = Echo::start("default").await;
    let gw = Gateway::start(&format!(
        r#"routes:
  - name: api
    host: "app.example.com"
    path_prefix: "/api"
    upstreams: ["{a}"]
    auth: public
  - name: wild
    host: "*.example.com"
    upstreams: ["{w}"]
    auth: public
  - name: default
    upstreams: ["{d}"]
    auth: public
"#,
        a = a.addr,
        w = w.addr,
        d = d.addr
    ))
    .await;
    (a, w, d, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_matching_route_in_file_order_wins() {
    let (_a, _w, _d, gw) = three_upstreams().await;
    let via = |host: &'static str, path: &'static str| {
        let req = gw.get(path).header("host", host);
        async move { seen(req.send().await.unwrap()).await.upstream().to_string() }
    };
    assert_eq!(via("app.example.com", "/api/users").await, "api");
    assert_eq!(via("APP.example.com:8080", "/api").await, "api");
    assert_eq!(via("app.example.com", "/apix").await, "wild");
    assert_eq!(via("x.y.example.com", "/api").await, "wild");
    assert_eq!(via("example.com", "/api").await, "default");
    assert_eq!(via("other.org", "/").await, "default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_is_chosen_by_the_normalised_path_which_is_also_sent_upstream() {
    let p = Echo::start("public").await;
    let s = Echo::start("secret").await;
    let gw = Gateway::start(&format!(
        r#"routes:
  - name: public
    path_prefix: "/public"
    upstreams: ["{p}"]
    auth: public
  - name: secret
    upstreams: ["{s}"]
    auth: login
"#,
        p = p.addr,
        s = s.addr
    ))
    .await;
    for sneaky in [
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/public/%2E./admin",
        "/public/..;/admin",
        "//public/../admin",
        "http://gateway.test/public/../admin",
        // Query strings and fragments never make a path public.
        "/admin?/public",
        "/admin?x=/public/",
        "/public%23/../admin",
        "/public;jsessionid=1/../admin",
    ] {
        let resp = raw_get(gw.addr, sneaky, &[]).await;
        assert_eq!(
            resp.status, 401,
            "{sneaky} must land on the protected route"
        );
    }
    // Case never makes a path public: a spelling that a case-insensitive upstream would
    // read as the public route is refused.
    let resp = raw_get(gw.addr, "/PUBLIC/x", &[]).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"], "ambiguous_path");
    // The login page is asked to return to the path the decision was made on.
    let resp = raw_get(gw.addr, "/public/%2e%2e/admin?x=1", &["Accept: text/html"]).await;
    assert_eq!(resp.status, 302);
    assert_eq!(
        resp.header("location"),
        Some("/.auth/login?rd=/admin%3Fx%3D1")
    );
    let resp = raw_get(gw.addr, "/public/./a//b?x=%2F", &[]).await;
    assert_eq!(resp.status, 200);
    let seen = Seen(resp.json());
    assert_eq!(seen.upstream(), "public");
    assert_eq!(seen.target(), "/public/a/b?x=%2F");
    // Absolute-form targets reach the upstream in origin-form.
    let resp = raw_get(gw.addr, "http://gateway.test/public/x?y=1", &[]).await;
    assert_eq!(Seen(resp.json()).target(), "/public/x?y=1");
    for refused in ["/public%2F..%2Fadmin", "/public/..%5Cadmin", "/public/a%00"] {
        let resp = raw_get(gw.addr, refused, &[]).await;
        assert_eq!(resp.status, 400, "{refused}");
        assert_eq!(resp.json()["error"], "bad_path");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_is_a_404_json() {
    let e = Echo::start("only").await;
    let gw = Gateway::start(&format!(
        "routes:\n  - name: only\n    path_prefix: /only\n    upstreams: [\"{}\"]\n    auth: public\n",
        e.addr
    ))
    .await;
    let resp = gw.get("/elsewhere").send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(json(resp).await["error"], "no_route");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_is_a_502_json_and_round_robin_skips_it() {
    let (_reserved, dead) = dead_address();
    let alive = Echo::start("alive").await;
    let gw = Gateway::start(&format!(
        r#"routes:
  - name: down
    path_prefix: /down
    upstreams: ["{dead}"]
    auth: public
  - name: mixed
    upstreams: ["{dead}", "{alive}"]
    auth: public
"#,
        alive = alive.addr
    ))
    .await;
    let resp = gw.get("/down").send().await.unwrap();
    assert_eq!(resp.status(), 502);
    // pingora closes the connection after a failed proxy attempt; the answer must say so.
    assert_eq!(resp.headers()["connection"], "close");
    assert_eq!(json(resp).await["error"], "bad_gateway");
    for _ in 0..4 {
        let resp = gw.get("/x").send().await.unwrap();
        assert_eq!(seen(resp).await.upstream(), "alive");
    }
}
