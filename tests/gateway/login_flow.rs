//! The Official Account QR login, end to end over real HTTP: the browser calls the login
//! endpoints, the simulator's phone scans and pushes signed (and, in safe mode, encrypted)
//! XML to the gateway's callback, exactly as WeChat does.

use std::time::{Duration, Instant};

use scangate::demo::Demo;
use scangate::wechat_sim::{event_xml, SimHandle, SimUser};
use serde_json::json;

use crate::browser::Browser;
use crate::harness::*;

fn sim(gw: &Gateway) -> &SimHandle {
    &Demo::of(gw.app()).expect("the demo runs").simulator
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_user_in_safe_mode_binds_a_phone_and_reaches_the_app_as_themselves() {
    let (_e, gw) = login_gateway("").await;
    let browser = Browser::new(&gw);
    let id = browser.start("/reports?q=1").await;
    assert!(browser.binding(&id).is_some(), "binding cookie set");
    assert_eq!(browser.poll(&id, "", 0).await.body["status"], "waiting");

    let scanned = browser.demo_scan(&id, "new").await;
    assert_eq!(scanned.status, 200, "{}", scanned.body);
    let polled = browser.poll(&id, "waiting", 5).await;
    assert_eq!(polled.body["status"], "need_phone");

    // The simulator's returning user already holds +8619999999999: the code is sent as to
    // any number, and only the right code learns that the number is taken.
    let code = browser.send_code(&id, "19999999999").await;
    let taken = browser.bind(&id, "19999999999", &code).await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert_eq!(taken.body["error"], "phone_taken");
    let code = browser.send_code(&id, "138 0013 8001").await;
    assert_eq!(code.len(), 6);
    let bound = browser.bind(&id, "13800138001", &code).await;
    assert_eq!(bound.status, 200, "{}", bound.body);
    assert_eq!(bound.body["status"], "confirmed");
    let ticket = bound.body["ticket"].as_str().unwrap().to_string();

    let session = browser.exchange(&ticket).await;
    assert_eq!(session.status, 200, "{}", session.body);
    // The browser goes on through the cookie check, which sends it to where it was going.
    let check = session.body["redirect"].as_str().unwrap();
    assert_eq!(check, "/.auth/check?rd=%2Freports%3Fq%3D1");
    let checked = browser.get(check).await;
    assert_eq!(checked.status, 302);
    assert_eq!(checked.header("location"), Some("/reports?q=1"));
    assert_eq!(session.body["user"]["phone"], "+8613800138001");
    assert!(browser.cookie("scangate_session").is_some());

    let seen = browser.app_sees("/reports").await;
    assert_eq!(
        seen.header("x-auth-phone").as_deref(),
        Some("+8613800138001")
    );
    assert_eq!(
        seen.header("x-auth-user-id").as_deref(),
        session.body["user"]["id"].as_str()
    );
    assert!(seen.header("x-auth-openid").unwrap().starts_with("o_sim_"));
    assert_eq!(
        seen.header("x-auth-method").as_deref(),
        Some("official_account")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returning_user_scans_and_is_confirmed_at_once_with_the_scan_reply() {
    let (_e, gw) = login_gateway("").await;
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    let ticket = browser.wechat_ticket(&id).await;
    let demo = Demo::of(gw.app()).expect("the demo runs");
    let outcome = sim(&gw)
        .scan(&ticket, &demo.returning_user())
        .await
        .unwrap();
    assert_eq!(outcome.status, 200);
    // The passive reply reaches the user, decrypted by the simulator as WeChat would.
    assert_eq!(
        outcome.reply.text(),
        Some("登录成功"),
        "{:?}",
        outcome.reply
    );

    let polled = browser.poll(&id, "waiting", 5).await;
    assert_eq!(polled.body["status"], "confirmed");
    let session = browser
        .exchange(polled.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(session.status, 200);
    assert_eq!(session.body["user"]["phone"], "+8619999999999");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_number_is_refused_by_default_and_taken_when_listed() {
    const US: &str = "+1 415 555 0100";
    let (_e, gw) = login_gateway("").await;
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    assert_eq!(browser.demo_scan(&id, "new").await.status, 200);
    assert_eq!(
        browser.poll(&id, "waiting", 5).await.body["status"],
        "need_phone"
    );
    let refused = browser
        .post("/.auth/phone/code", json!({"id": id, "phone": US}))
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.body["error"], "bad_phone");
    assert_eq!(
        refused.body["message"],
        "the phone number has country code +1, which is not accepted here (accepted: +86)"
    );
    // Nothing was sent, so no resend cooldown: a Chinese number gets its code at once.
    assert_eq!(browser.send_code(&id, "13800138060").await.len(), 6);

    let (_e, gw) = login_gateway("login:\n  phone_countries: [\"86\", \"1\"]").await;
    let browser = Browser::new(&gw);
    let body = browser.sign_up(US).await;
    assert_eq!(body["user"]["phone"], "+14155550100");
}

/// The demo panel's "returning user" scans a browser's attempt; returns the `/session` body.
async fn sign_in_as_returning(browser: &Browser<'_>) -> serde_json::Value {
    let id = browser.start("/").await;
    let scanned = browser.demo_scan(&id, "returning").await;
    assert_eq!(scanned.status, 200, "{}", scanned.body);
    let polled = browser.poll(&id, "waiting", 5).await;
    assert_eq!(polled.body["status"], "confirmed", "{}", polled.body);
    let session = browser
        .exchange(polled.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(session.status, 200, "{}", session.body);
    session.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demos_returning_user_is_whoever_logged_in_last() {
    let (_e, gw) = login_gateway("").await;
    // Nobody has logged in through the demo yet: the seeded person.
    let first = sign_in_as_returning(&Browser::new(&gw)).await;
    assert_eq!(first["user"]["phone"], "+8619999999999");

    // Sign up as new, log out, come back as "returning": the same person.
    let browser = Browser::new(&gw);
    let signed_up = browser.sign_up("13800138070").await;
    let out = browser.post("/.auth/logout", json!({})).await;
    assert_eq!(out.status, 200);
    let again = sign_in_as_returning(&browser).await;
    assert_eq!(again["user"]["id"], signed_up["user"]["id"]);
    assert_eq!(again["user"]["phone"], "+8613800138070");

    // A new person who stops at the phone step logs nobody in: still the same one.
    let other = Browser::new(&gw);
    let id = other.start("/").await;
    assert_eq!(other.demo_scan(&id, "new").await.status, 200);
    let again = sign_in_as_returning(&Browser::new(&gw)).await;
    assert_eq!(again["user"]["id"], signed_up["user"]["id"]);

    // Another sign-up is the returning user from then on.
    let newer = Browser::new(&gw).sign_up("13800138071").await;
    let again = sign_in_as_returning(&Browser::new(&gw)).await;
    assert_eq!(again["user"]["id"], newer["user"]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_mode_works_without_an_aes_key() {
    let (_e, gw) = login_gateway(
        "wechat:\n  simulate: true\n  official_account:\n    app_id: wx1234567890abcdef\n    app_secret: plain-secret\n    token: plaintoken",
    )
    .await;
    let gw_cfg = gw.app().config.wechat.official_account.as_ref().unwrap();
    assert!(gw_cfg.encoding_aes_key.is_none());
    let browser = Browser::new(&gw);
    let body = browser.sign_up("13900139000").await;
    assert_eq!(body["user"]["phone"], "+8613900139000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_pushes_are_answered_but_applied_once() {
    let (_e, gw) = login_gateway("").await;
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    let ticket = browser.wechat_ticket(&id).await;
    let xml = event_xml(
        sim(&gw).original_id(),
        "o_dup_user",
        now(),
        "subscribe",
        Some(&format!("qrscene_{id}")),
        Some(&ticket),
    );
    let first = sim(&gw).push_raw(&xml).await.unwrap();
    let second = sim(&gw).push_raw(&xml).await.unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(second.status, 200);
    assert_eq!(
        second.body, "success",
        "a retry is acknowledged, not processed"
    );
    assert_eq!(
        browser.poll(&id, "waiting", 5).await.body["status"],
        "need_phone"
    );
    let metrics = gw
        .client
        .get(format!("{}/metrics", gw.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"scangate_wechat_callbacks_total{kind="subscribe_scene",outcome="duplicate"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_junk_callbacks_are_refused_and_the_gateway_keeps_serving() {
    let (_e, gw) = login_gateway("").await;
    let s = sim(&gw);
    let xml = event_xml(
        s.original_id(),
        "o_x",
        now(),
        "SCAN",
        Some("nope"),
        Some("t"),
    );

    // A valid push with its msg_signature changed.
    let mut sealed = s.seal(&xml);
    sealed.query = sealed.query.replace("msg_signature=", "msg_signature=0");
    let (status, _) = s
        .post_bytes(&sealed.query, sealed.body.into_bytes())
        .await
        .unwrap();
    assert_eq!(status, 403);

    // A valid push with its plain signature changed.
    let mut sealed = s.seal(&xml);
    sealed.query = sealed.query.replace("signature=", "signature=f");
    let (status, _) = s
        .post_bytes(&sealed.query, sealed.body.into_bytes())
        .await
        .unwrap();
    assert!((400..500).contains(&status), "{status}");

    // Junk bodies with a valid-looking query, no query at all, and an oversized body.
    let sealed = s.seal(&xml);
    for (query, body) in [
        (sealed.query.as_str(), b"<xml><Encrypt>not base64".to_vec()),
        (sealed.query.as_str(), b"\x00\x01\x02 binary".to_vec()),
        ("", b"<xml/>".to_vec()),
        (sealed.query.as_str(), vec![b'x'; 300 * 1024]),
    ] {
        let (status, _) = s.post_bytes(query, body).await.unwrap();
        assert!((400..500).contains(&status), "status {status}");
    }

    // URL verification still works, and so does a real login.
    assert!(s.verify_url().await.unwrap());
    let browser = Browser::new(&gw);
    browser.sign_up("13700137000").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_browser_cannot_poll_bind_or_exchange() {
    let (_e, gw) = login_gateway("").await;
    let alice = Browser::new(&gw);
    let mallory = Browser::new(&gw);
    let id = alice.start("/").await;
    // Mallory has a binding cookie of her own, for her own attempt.
    mallory.start("/").await;

    assert_eq!(mallory.poll(&id, "", 0).await.status, 404);
    alice.demo_scan(&id, "new").await;
    assert_eq!(
        alice.poll(&id, "waiting", 5).await.body["status"],
        "need_phone"
    );
    let stolen = mallory
        .post(
            "/.auth/phone/code",
            json!({"id": id, "phone": "13800138002"}),
        )
        .await;
    assert_eq!(stolen.status, 404);
    let code = alice.send_code(&id, "13800138002").await;
    let stolen = mallory.bind(&id, "13800138002", &code).await;
    assert_eq!(stolen.status, 404);
    let bound = alice.bind(&id, "13800138002", &code).await;
    let ticket = bound.body["ticket"].as_str().unwrap().to_string();
    let stolen = mallory.exchange(&ticket).await;
    assert_eq!(stolen.status, 404, "{}", stolen.body);
    assert!(mallory.cookie("scangate_session").is_none());
    // The ticket survived Mallory's attempt and works once for Alice.
    assert_eq!(alice.exchange(&ticket).await.status, 200);
    let again = alice.exchange(&ticket).await;
    assert_eq!(again.status, 404, "a ticket is single-use");
    assert_eq!(again.body["error"], "ticket_invalid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_codes_kill_the_code() {
    let (_e, gw) = login_gateway("").await;
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    browser.demo_scan(&id, "new").await;
    browser.poll(&id, "waiting", 5).await;
    let code = browser.send_code(&id, "13800138002").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for i in 0..5 {
        let a = browser.bind(&id, "13800138002", wrong).await;
        assert_eq!(a.status, 400, "try {i}: {}", a.body);
    }
    let dead = browser.bind(&id, "13800138003", &code).await;
    assert_eq!(dead.status, 400);
    assert_ne!(
        dead.body["error"], "invalid_code",
        "the right code no longer works: {}",
        dead.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_attempts_say_so_and_a_new_one_can_start() {
    let e = Echo::start("app").await;
    let gw = Gateway::start_with(
        &format!(
            "wechat:\n  simulate: true\n  official_account:\n    app_id: wx1234567890abcdef\n    app_secret: s\n    token: tok\n    qr_expire_seconds: 60\nroutes:\n{}",
            login_routes(e.addr)
        ),
        // Validation keeps real configs at >= 60 s; the test shortens it afterwards.
        |c| {
            if let Some(oa) = c.wechat.official_account.as_mut() {
                oa.qr_expire_seconds = 1;
            }
        },
    )
    .await;
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let polled = browser.poll(&id, "waiting", 0).await;
    assert_eq!(polled.body["status"], "expired", "{}", polled.body);
    // A new attempt starts (201, new id). Its status is not asserted: with a one-second
    // lifetime, a slow machine can see it expire before the poll.
    let fresh = browser.start("/").await;
    assert_ne!(fresh, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_poll_returns_within_a_second_of_the_push() {
    let (_e, gw) = login_gateway("").await;
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    let poll = browser.poll(&id, "waiting", 20);
    let scan = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let pushed = Instant::now();
        assert_eq!(browser.demo_scan(&id, "new").await.status, 200);
        pushed
    };
    let (answer, pushed) = tokio::join!(poll, scan);
    let waited = pushed.elapsed();
    assert_eq!(answer.body["status"], "need_phone");
    assert!(
        waited < Duration::from_secs(1),
        "the poll answered {waited:?} after the push"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_the_same_store_keeps_users_and_sessions() {
    let e = Echo::start("app").await;
    let data = tempfile::tempdir().unwrap();
    let routes = format!("routes:\n{}", login_routes(e.addr));
    let (cookie, user_id, openid) = {
        let gw = Gateway::start_in(data.path(), &routes).await;
        let browser = Browser::new(&gw);
        let body = browser.sign_up("13600136000").await;
        (
            format!(
                "scangate_session={}",
                browser.cookie("scangate_session").unwrap()
            ),
            body["user"]["id"].as_str().unwrap().to_string(),
            body["user"]["openid"].as_str().unwrap().to_string(),
        )
    };
    let gw = Gateway::start_in(data.path(), &routes).await;
    // The session cookie from before the restart still works.
    let resp = gw.get("/").header("cookie", &cookie).send().await.unwrap();
    assert_eq!(
        seen(resp).await.header("x-auth-user-id").as_deref(),
        Some(user_id.as_str())
    );
    // The same WeChat user scanning again is known: confirmed without a phone step.
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    let ticket = browser.wechat_ticket(&id).await;
    let user = SimUser {
        openid: openid.clone(),
        unionid: None,
        follows: true,
    };
    sim(&gw).scan(&ticket, &user).await.unwrap();
    let polled = browser.poll(&id, "waiting", 5).await;
    assert_eq!(polled.body["status"], "confirmed", "{}", polled.body);
    let session = browser
        .exchange(polled.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(session.body["user"]["id"], user_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_and_widget_are_served_without_external_assets() {
    let (_e, gw) = login_gateway("").await;
    let resp = gw
        .browser_get("/.auth/login?rd=/dashboard")
        .header("accept-language", "zh-CN,zh;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("content-security-policy"));
    let html = resp.text().await.unwrap();
    assert!(html.contains("/.auth/sdk.js"));
    assert!(html.contains("/dashboard"));
    assert!(!html.contains("https://"), "no external asset");
    // An open redirect in rd is replaced by "/".
    let html = gw
        .browser_get("/.auth/login?rd=https://evil.example/")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("evil.example"));
    let js = gw.get("/.auth/sdk.js").send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.text().await.unwrap().contains("ScanGate"));
    // The QR image is an SVG the gateway draws itself, for the binding browser only.
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    let svg = browser.get(&format!("/.auth/qr/{id}.svg")).await;
    assert_eq!(svg.status, 200);
    assert!(svg.body.as_str().unwrap().contains("<svg"));
    // A browser without the cookie: refused (it kept none at all, so it is told why).
    let other = Browser::new(&gw).get(&format!("/.auth/qr/{id}.svg")).await;
    assert_eq!(
        (other.status, &other.body["error"]),
        (403, &json!("cookies_blocked"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_survives_a_restart() {
    let e = Echo::start("app").await;
    let data = tempfile::tempdir().unwrap();
    let routes = format!("routes:\n{}", login_routes(e.addr));
    let (gone, kept) = {
        let gw = Gateway::start_in(data.path(), &routes).await;
        let leaving = Browser::new(&gw);
        leaving.sign_up("13500135000").await;
        let staying = Browser::new(&gw);
        staying.sign_up("13500135001").await;
        let gone = leaving.cookie_header();
        let out = leaving.post("/.auth/logout", json!({})).await;
        assert_eq!(out.status, 200);
        (gone, staying.cookie_header())
    };
    let gw = Gateway::start_in(data.path(), &routes).await;
    let resp = gw.get("/").header("cookie", &gone).send().await.unwrap();
    assert_eq!(
        resp.status(),
        401,
        "a revoked session stays revoked after a restart"
    );
    let resp = gw.get("/").header("cookie", &kept).send().await.unwrap();
    assert_eq!(resp.status(), 200, "other sessions are untouched");
    let ready = gw
        .client
        .get(format!("{}/readyz", gw.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}
