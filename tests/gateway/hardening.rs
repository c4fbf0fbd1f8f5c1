//! The attack classes of auth proxies that concern logins: session fixation, open redirects
//! minting sessions, cookies that do not stick (login loops), and floods of logins, codes
//! and long-polls.

use std::time::Duration;

use serde_json::json;

use crate::browser::Browser;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_a_login_keeps_the_session_and_a_signed_in_visitor_skips_the_login_page() {
    let (_e, gw) = login_gateway("").await;
    let browser = Browser::new(&gw);
    browser.sign_up("13800138051").await;
    let session = browser.cookie("scangate_session").unwrap();

    // Back to the login page after signing in: sent on to rd, no login starts.
    let page = browser
        .send(gw.browser_get("/.auth/login?rd=%2Freports%3Fq%3D1"))
        .await;
    assert_eq!(page.status, 302);
    assert_eq!(page.header("location"), Some("/reports?q=1"));
    // Asking to switch account shows the page.
    let switch = browser
        .send(gw.browser_get("/.auth/login?rd=%2F&switch=1"))
        .await;
    assert_eq!(switch.status, 200);
    // A widget starting an attempt (a page embedding it, or the switch) ends nothing.
    browser.start("/").await;
    assert_eq!(browser.cookie("scangate_session"), Some(session));
    assert_eq!(browser.get("/.auth/me").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_login_replaces_the_session_and_revokes_another_persons() {
    let (_e, gw) = login_gateway("").await;
    let browser = Browser::new(&gw);
    let first = browser.sign_up("13800138052").await;
    let first_cookie = browser.cookie_header();

    // The same person again (the demo's returning user is whoever logged in last): a fresh
    // session, and the older one stays valid (their other tabs keep working).
    let id = browser.start("/").await;
    assert_eq!(browser.demo_scan(&id, "returning").await.status, 200);
    let polled = browser.poll(&id, "waiting", 5).await;
    let ticket = polled.body["ticket"]
        .as_str()
        .expect("confirmed")
        .to_string();
    let again = browser.exchange(&ticket).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["user"]["id"], first["user"]["id"]);
    assert_ne!(browser.cookie_header(), first_cookie, "a fresh session id");
    let replayed = gw.get("/.auth/me").header("cookie", &first_cookie);
    assert_eq!(status(replayed).await, 200);

    // Someone else signs in on this browser: the previous person's session is dead, even for
    // whoever kept a copy of its cookie (a planted session, a shared computer).
    let before = browser.cookie_header();
    let second = browser.sign_up("13800138053").await;
    assert_ne!(second["user"]["id"], first["user"]["id"]);
    let replayed = gw.get("/.auth/me").header("cookie", &before);
    assert_eq!(status(replayed).await, 401);
    assert_eq!(browser.get("/.auth/me").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_redirect_starts_no_login() {
    let (_e, gw) = login_gateway("").await;
    let browser = Browser::new(&gw);
    for rd in [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let a = browser.post("/.auth/qr", json!({ "rd": rd })).await;
        assert_eq!(a.status, 400, "{rd}: {}", a.body);
        assert_eq!(a.body["error"], "bad_redirect", "{rd}");
        assert!(!browser.has_any_binding(), "{rd}");
    }
    // The login page itself falls back to "/" for such an rd (it never sends it on).
    let page = browser.get("/.auth/login?rd=//evil.example").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.as_str().unwrap().contains("evil.example"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_check_sends_a_signed_in_browser_on_and_explains_a_cookie_that_did_not_stick() {
    let e = Echo::start("app").await;
    let routes = login_routes(e.addr);
    let gw = Gateway::start_with(&format!("routes:\n{routes}"), |c| {
        c.session.cookie_domain = Some("other.example".into());
        c.session.cookie_secure = true;
    })
    .await;
    let browser = Browser::new(&gw);
    let session = browser.sign_up("13800138052").await;
    let check = session["redirect"].as_str().unwrap().to_string();
    assert_eq!(check, "/.auth/check?rd=%2Fhome");

    // Our test browser keeps every cookie, as a browser would if the domain were right.
    let on = browser.get(&check).await;
    assert_eq!(on.status, 302);
    assert_eq!(on.header("location"), Some("/home"));

    // A real browser would have refused it (wrong domain, Secure over http): it arrives
    // without it and is told why, instead of being sent back to log in again.
    let lost = gw
        .browser_get(&check)
        .header("cookie", "unrelated=1")
        .send()
        .await
        .unwrap();
    assert_eq!(lost.status(), 200);
    let page = lost.text().await.unwrap();
    assert!(page.contains("did not keep the cookie"), "{page}");
    assert!(page.contains("other.example"), "{page}");
    assert!(page.contains("session.cookie_secure"), "{page}");
    // In the visitor's language, and with no stray status number.
    let zh = gw
        .browser_get(&check)
        .header("accept-language", "zh-CN,zh;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        zh.contains("登录 Cookie 检查") && !zh.contains("did not keep"),
        "{zh}"
    );
    assert!(!page.contains("class=\"status\""), "{page}");
    // An evil rd is not followed even with a session.
    let evil = browser.get("/.auth/check?rd=https://evil.example/").await;
    assert_eq!(evil.header("location"), Some("/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_from_one_address_are_rate_limited_with_retry_after() {
    let (_e, gw) = login_gateway("login:\n  limits:\n    qr_per_ip_per_minute: 3\n").await;
    let browser = Browser::new(&gw);
    for _ in 0..3 {
        browser.start("/").await;
    }
    // (The fixed window may roll over between calls; then one more is allowed.)
    let mut limited = browser.post("/.auth/qr", json!({})).await;
    if limited.status == 201 {
        for _ in 0..3 {
            limited = browser.post("/.auth/qr", json!({})).await;
        }
    }
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.body["error"], "rate_limited");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_long_polls_are_capped_per_client() {
    let (_e, gw) = login_gateway("login:\n  limits:\n    long_polls_per_ip: 1\n").await;
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    let waiting = browser.poll(&id, "waiting", 3);
    let second = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        browser.poll(&id, "waiting", 3).await
    };
    let (first, second) = tokio::join!(waiting, second);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(second.status, 429, "{}", second.body);
    assert!(second.header("retry-after").is_some());
    // A poll that does not wait is never refused, and the slot came back.
    assert_eq!(browser.poll(&id, "", 0).await.status, 200);
    assert_eq!(browser.poll(&id, "", 1).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_whose_client_left_gives_its_slot_back_at_once() {
    use tokio::io::AsyncWriteExt;

    let (_e, gw) = login_gateway("login:\n  limits:\n    long_polls_per_ip: 1\n").await;
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    let waiting = || gw.app().metrics.longpolls_waiting.get();
    let until = |want: i64, within: Duration| async move {
        let deadline = std::time::Instant::now() + within;
        while waiting() != want && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        waiting()
    };

    // A client asks to wait 25 s, and hangs up once it is waiting.
    let mut conn = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let request = format!(
        "GET /.auth/qr/{id}?since=waiting&wait=25 HTTP/1.1\r\nHost: localhost\r\nCookie: {}\r\n\r\n",
        browser.cookie_header()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(until(1, Duration::from_secs(10)).await, 1, "the poll waits");
    let left = std::time::Instant::now();
    drop(conn);

    // Noticed at once, not at the poll's deadline 25 s later (generous: a shared machine).
    assert_eq!(until(0, Duration::from_secs(10)).await, 0, "the poll ended");
    assert!(left.elapsed() < Duration::from_secs(10));
    // Its slot came back: the same client may wait again.
    assert_eq!(browser.poll(&id, "waiting", 1).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_bodies_without_a_valid_signature_never_reach_the_parser() {
    let (_e, gw) = login_gateway("").await;
    let url = format!(
        "/.auth/wechat/callback?signature=0000000000000000000000000000000000000000&timestamp={}&nonce=1&openid=o1",
        now()
    );
    for body in [
        "<xml><broken",
        "not xml at all",
        "<xml><ToUserName><![CDATA[x]]></ToUserName></xml>",
    ] {
        let resp = gw
            .client
            .post(gw.url(&url))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        // Refused for its signature (403), not for its XML (400): the XML was never read.
        assert_eq!(resp.status(), 403, "{body}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(json["error"], "bad_callback");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_upstream_times_out_into_a_json_error() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            conns.push(c);
        }
    });
    let gw = Gateway::start(&format!(
        "routes:\n  - name: slow\n    upstreams: [\"{addr}\"]\n    auth: public\n    read_timeout_seconds: 1\n"
    ))
    .await;
    let started = std::time::Instant::now();
    let resp = gw.get("/x").send().await.unwrap();
    assert!(
        matches!(resp.status().as_u16(), 502 | 504),
        "{}",
        resp.status()
    );
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["error"], "bad_gateway");
    // Bounded by the route's read timeout, not by the client's patience.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_to_own_endpoints_are_413() {
    let (_e, gw) = login_gateway("").await;
    let big = "x".repeat(65 * 1024);
    for path in [
        "/.auth/qr",
        "/.auth/session",
        "/.auth/phone/code",
        "/.auth/mp/confirm",
        "/.auth/wechat/callback",
    ] {
        let resp = gw
            .client
            .post(gw.url(path))
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 413, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_attempts_in_one_browser_complete_independently() {
    let (_e, gw) = login_gateway("").await;
    let browser = Browser::new(&gw);
    // Two tabs (or two widgets) of one browser: neither binding replaces the other.
    let first = browser.start("/one").await;
    let second = browser.start("/two").await;
    assert!(browser.binding(&first).is_some() && browser.binding(&second).is_some());
    for id in [&first, &second] {
        assert_eq!(browser.demo_scan(id, "returning").await.status, 200);
    }
    for (id, rd) in [(&second, "/two"), (&first, "/one")] {
        let polled = browser.poll(id, "waiting", 5).await;
        assert_eq!(polled.body["status"], "confirmed", "{}", polled.body);
        let ticket = polled.body["ticket"].as_str().unwrap();
        // With the attempt named, exactly its cookie is used.
        let session = browser
            .post("/.auth/session", json!({"ticket": ticket, "id": id}))
            .await;
        assert_eq!(session.status, 200, "{}", session.body);
        assert!(
            session.body["redirect"]
                .as_str()
                .unwrap()
                .ends_with(&rd.replace('/', "%2F")),
            "{}",
            session.body
        );
        // The used binding is cleared from the browser.
        assert!(browser.binding(id).is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_attempt_without_its_cookie_is_cookies_blocked_and_a_stranger_not_found() {
    let (_e, gw) = login_gateway("").await;
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    // A browser that kept no cookie: the page can say so instead of looping.
    let cookieless = Browser::new(&gw);
    for answer in [
        cookieless.get(&format!("/.auth/qr/{id}?wait=0")).await,
        cookieless.get(&format!("/.auth/qr/{id}.svg")).await,
        cookieless
            .post(
                "/.auth/phone/code",
                json!({"id": id, "phone": "13800138054"}),
            )
            .await,
        cookieless
            .post("/.auth/session", json!({"ticket": "x", "id": id}))
            .await,
    ] {
        assert_eq!(answer.status, 403, "{}", answer.body);
        assert_eq!(answer.body["error"], "cookies_blocked");
    }
    // An attempt that does not exist is not found, cookie or not.
    let unknown = cookieless.get("/.auth/qr/AAAAAAAAAAAAAAAAAAAAAA").await;
    assert_eq!(
        (unknown.status, &unknown.body["error"]),
        (404, &json!("not_found"))
    );
}
