//! What the upstream receives: never a client-sent identity header, always ours; never our
//! session cookie; forwarded headers it can believe.

use crate::harness::*;

async fn gateway() -> (Echo, Gateway) {
    let e = Echo::start("app").await;
    let gw = Gateway::start(&format!(
        r#"trusted_proxies: ["10.0.0.0/8"]
routes:
  - name: open
    path_prefix: /open
    upstreams: ["{e}"]
    auth: public
  - name: app
    upstreams: ["{e}"]
    auth: login
"#,
        e = e.addr
    ))
    .await;
    (e, gw)
}

const SPOOFS: [&str; 9] = [
    "X-Auth-Phone: +10000000000",
    "x-auth-phone: +10000000001",
    "X_Auth_Phone: +10000000002",
    "X-AUTH-PHONE: +10000000003",
    "x_auth-PHONE: +10000000004",
    "X-Auth-User-Id: admin",
    "X-Auth-Openid: o_forged",
    "X-Auth-Assertion: forged.jwt.value",
    "X-Auth-Method: mini_program",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_identity_headers_never_reach_the_upstream() {
    let (_e, gw) = gateway().await;
    // Anonymous, public route: every spelling is stripped and nothing is injected.
    let resp = raw_get(gw.addr, "/open", &SPOOFS).await;
    assert_eq!(resp.status, 200);
    let seen = Seen(resp.json());
    for name in [
        "x-auth-phone",
        "x-auth-user-id",
        "x-auth-openid",
        "x-auth-assertion",
        "x-auth-method",
    ] {
        assert!(
            seen.header_all(name).is_empty(),
            "{name} leaked: {:?}",
            seen.header_all(name)
        );
    }

    // Signed in: the upstream sees exactly one value of each, and it is ours.
    let cookie = format!("Cookie: {}", gw.cookie(&alice()));
    let mut lines = SPOOFS.to_vec();
    lines.push(&cookie);
    let resp = raw_get(gw.addr, "/app", &lines).await;
    assert_eq!(resp.status, 200);
    let seen = Seen(resp.json());
    assert_eq!(
        seen.header("x-auth-phone").as_deref(),
        Some("+8613800138000")
    );
    assert_eq!(seen.header("x-auth-user-id").as_deref(), Some("u_alice"));
    assert_eq!(
        seen.header("x-auth-openid").as_deref(),
        Some("o_alice_openid")
    );
    assert_eq!(seen.header("x-auth-unionid").as_deref(), Some("un_alice"));
    assert_eq!(
        seen.header("x-auth-method").as_deref(),
        Some("official_account")
    );
    let assertion = seen.header("x-auth-assertion").unwrap();
    assert_ne!(assertion, "forged.jwt.value");
    assert_eq!(assertion.split('.').count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn underscore_headers_are_dropped_by_default() {
    let (_e, gw) = gateway().await;
    let resp = raw_get(
        gw.addr,
        "/open",
        &["X_Custom_Thing: 1", "X-Custom-Thing: 2"],
    )
    .await;
    let seen = Seen(resp.json());
    assert_eq!(seen.header_all("x-custom-thing"), vec!["2".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_session_cookie_is_not_forwarded_but_the_apps_cookies_are() {
    let (_e, gw) = gateway().await;
    let ours = gw.cookie(&alice());
    let resp = gw
        .get("/app")
        .header("cookie", format!("theme=dark; {ours}; app_sid=42"))
        .send()
        .await
        .unwrap();
    let first = seen(resp).await;
    assert_eq!(
        first.header("cookie").as_deref(),
        Some("theme=dark; app_sid=42")
    );

    let resp = gw.get("/app").header("cookie", &ours).send().await.unwrap();
    assert!(seen(resp).await.header_all("cookie").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_from_an_untrusted_client_are_replaced() {
    let (_e, gw) = gateway().await;
    let resp = raw_get(
        gw.addr,
        "/open",
        &[
            "X-Forwarded-For: 6.6.6.6",
            "X-Forwarded-Proto: https",
            "X-Forwarded-Host: evil.example",
            "Forwarded: for=6.6.6.6",
        ],
    )
    .await;
    let seen = Seen(resp.json());
    assert_eq!(seen.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(
        seen.header("x-forwarded-host").as_deref(),
        Some("gateway.test")
    );
    assert!(seen.header_all("forwarded").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forwarded_host_keeps_the_port_the_client_gave() {
    let (_e, gw) = gateway().await;
    // A browser at http://127.0.0.1:<port>/: the app's absolute URLs must keep the port.
    let seen = seen(gw.get("/open").send().await.unwrap()).await;
    let host = format!("127.0.0.1:{}", gw.addr.port());
    assert_eq!(seen.header("host").as_deref(), Some(host.as_str()));
    assert_eq!(seen.header("x-forwarded-host"), Some(host));
    // Spelled otherwise, the host is sent canonically, in both headers alike.
    let raw = raw_request(
        gw.addr,
        "GET /open HTTP/1.1\r\nHost: Gateway.TEST.:8443\r\nX-Forwarded-Host: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    let seen = Seen(raw.json());
    assert_eq!(seen.header("host").as_deref(), Some("gateway.test:8443"));
    assert_eq!(seen.header_all("x-forwarded-host"), ["gateway.test:8443"]);
}
