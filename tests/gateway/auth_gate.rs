//! The gate: who passes which route, and what everyone else is told.

use scangate::config::SessionConfig;
use scangate::session::SessionManager;

use crate::harness::*;

async fn gateway(extra_session: &str) -> (Echo, Gateway) {
    let e = Echo::start("app").await;
    let gw = Gateway::start(&format!(
        r#"{extra_session}
routes:
  - name: open
    path_prefix: /open
    upstreams: ["{e}"]
    auth: public
  - name: phone-only
    path_prefix: /kyc
    upstreams: ["{e}"]
    auth: phone
  - name: vip
    path_prefix: /vip
    upstreams: ["{e}"]
    auth: login
    allow_phones: ["+8613800138000"]
  - name: app
    upstreams: ["{e}"]
    auth: login
"#,
        e = e.addr
    ))
    .await;
    (e, gw)
}

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_browser_is_redirected_and_scripts_get_401() {
    let (_e, gw) = gateway("").await;
    let resp = gw.get("/open/x").send().await.unwrap();
    assert_eq!(seen(resp).await.upstream(), "app");

    let resp = gw
        .browser_get("/dash/board?tab=2&q=a b")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(
        resp.headers()["location"],
        "/.auth/login?rd=/dash/board%3Ftab%3D2%26q%3Da%2520b"
    );

    for (method, headers) in [
        ("GET", vec![("accept", "application/json")]),
        (
            "GET",
            vec![
                ("accept", BROWSER_ACCEPT),
                ("x-requested-with", "XMLHttpRequest"),
            ],
        ),
        (
            "GET",
            vec![("accept", BROWSER_ACCEPT), ("sec-fetch-mode", "cors")],
        ),
        ("POST", vec![("accept", BROWSER_ACCEPT)]),
        ("GET", vec![]),
    ] {
        let mut req = gw.client.request(method.parse().unwrap(), gw.url("/dash"));
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{method} {headers:?}");
        let body = json(resp).await;
        assert_eq!(body["error"], "unauthenticated");
        assert_eq!(body["login_url"], "/.auth/login?rd=/dash");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_session_passes_and_bad_ones_do_not() {
    let (_e, gw) = gateway("").await;
    let good = gw.cookie(&alice());
    let resp = gw
        .get("/dash")
        .header("cookie", &good)
        .send()
        .await
        .unwrap();
    assert_eq!(
        seen(resp).await.header("x-auth-user-id").as_deref(),
        Some("u_alice")
    );

    let expired = gw.cookie_at(&alice(), now() - 30 * 24 * 3600);
    let (name, token) = good.split_once('=').unwrap();
    let mut tampered_payload = token.to_string();
    let dot = tampered_payload.find('.').unwrap();
    tampered_payload.replace_range(dot + 2..dot + 3, "A");
    let tampered_sig = format!("{}x", &token[..token.len() - 1]);
    let other_key = {
        let mut cfg: SessionConfig = gw.app().config.session.clone();
        cfg.secret =
            scangate::config::Secret::new("another-secret-another-secret-another-secret!!");
        let (t, _) = SessionManager::new(&cfg).issue(&alice(), now());
        format!("{name}={t}")
    };
    for bad in [
        expired,
        format!("{name}={tampered_payload}"),
        format!("{name}={tampered_sig}"),
        other_key,
        format!("{name}=garbage"),
        format!("{name}="),
    ] {
        let resp = gw.get("/dash").header("cookie", &bad).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_session_everywhere_in_the_process() {
    let (_e, gw) = gateway("").await;
    let cookie = gw.cookie(&alice());
    assert_eq!(status(gw.get("/dash").header("cookie", &cookie)).await, 200);
    let resp = gw
        .client
        .post(gw.url("/.auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.starts_with("scangate_session=;"), "{set_cookie}");
    assert!(set_cookie.contains("Max-Age=0"), "{set_cookie}");
    // The old cookie, replayed, no longer works.
    assert_eq!(status(gw.get("/dash").header("cookie", &cookie)).await, 401);
    assert_eq!(
        status(gw.get("/.auth/me").header("cookie", &cookie)).await,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliding_refresh_reissues_after_half_the_idle_window_only() {
    let e = Echo::start("app").await;
    let gw = Gateway::start_with(
        &format!(
            "routes:\n  - name: app\n    upstreams: [\"{}\"]\n    auth: login\n",
            e.addr
        ),
        |c| c.session.idle_timeout_seconds = Some(600),
    )
    .await;
    let fresh = gw.cookie_at(&alice(), now() - 100);
    let resp = gw.get("/x").header("cookie", &fresh).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers().get("set-cookie").is_none(),
        "no refresh before half the window"
    );

    let aging = gw.cookie_at(&alice(), now() - 400);
    let resp = gw.get("/x").header("cookie", &aging).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let refreshed = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(refreshed.starts_with("scangate_session="), "{refreshed}");
    assert!(refreshed.contains("HttpOnly") && refreshed.contains("SameSite=Lax"));
    let new_cookie = refreshed.split(';').next().unwrap().to_string();
    assert_ne!(new_cookie, aging);
    assert_eq!(
        status(gw.get("/x").header("cookie", &new_cookie)).await,
        200
    );

    let idle_too_long = gw.cookie_at(&alice(), now() - 700);
    assert_eq!(
        status(gw.get("/x").header("cookie", &idle_too_long)).await,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_routes_and_allow_lists_answer_403_and_never_loop_to_login() {
    let (_e, gw) = gateway("").await;
    let bob = gw.cookie(&bob_without_phone());
    let resp = gw.get("/kyc").header("cookie", &bob).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(json(resp).await["error"], "phone_required");
    let resp = gw
        .browser_get("/kyc")
        .header("cookie", &bob)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        403,
        "a browser is not sent back to the login page"
    );
    assert!(resp.text().await.unwrap().contains("phone"));

    let alice_cookie = gw.cookie(&alice());
    assert_eq!(
        status(gw.get("/kyc").header("cookie", &alice_cookie)).await,
        200
    );
    assert_eq!(
        status(gw.get("/vip").header("cookie", &alice_cookie)).await,
        200
    );
    let resp = gw.get("/vip").header("cookie", &bob).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(json(resp).await["error"], "forbidden");
}
