//! WeChat's daily quota of login codes (issue 21): the gateway reads it (and counts what it
//! spends), and when `qrcode/create` is spent, Official Account logins become Mini Program
//! logins, or, without a Mini Program, a 503 the page words with the time logins come back.

use std::time::{Duration, Instant};

use scangate::demo::Demo;
use scangate::wechat_sim::{MpPage, SimApi, SimConfig, SimHandle, SimUser, Simulator};
use serde_json::json;

use crate::browser::{Answer, Browser};
use crate::harness::*;

const QRCODE_CREATE: &str = "/cgi-bin/qrcode/create";

/// A demo gateway: the simulator plays WeChat, with a Mini Program.
async fn with_mini_program() -> (Echo, Gateway) {
    login_gateway("login:\n  methods: [official_account, mini_program]\n  phone: \"off\"").await
}

fn sim(gw: &Gateway) -> &SimHandle {
    &Demo::of(gw.app()).expect("the demo runs").simulator
}

async fn start_oa(browser: &Browser<'_>) -> Answer {
    browser
        .post(
            "/.auth/qr",
            json!({"method": "official_account", "rd": "/after"}),
        )
        .await
}

/// The value of the metric line starting with `line_start`, once it appears.
async fn metric(gw: &Gateway, line_start: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = gw.metrics().await;
        if let Some(v) = text.lines().find_map(|l| l.strip_prefix(line_start)) {
            return v.trim().to_string();
        }
        assert!(Instant::now() < deadline, "no {line_start} in:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn person(tag: &str) -> SimUser {
    SimUser {
        openid: format!("o_quota_{tag}_{}", now()),
        unionid: Some(format!("un_quota_{tag}_{}", now())),
        follows: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_is_read_once_for_all_and_every_code_is_counted() {
    let (_e, gw) = with_mini_program().await;
    let s = sim(&gw);
    // Read at start through openapi/quota/get: the simulator's documented figures.
    let limit = r#"scangate_wechat_quota_limit{api="qrcode_create"} "#;
    let remaining = r#"scangate_wechat_quota_remaining{api="qrcode_create"} "#;
    assert_eq!(metric(&gw, limit).await, "100000");
    assert_eq!(metric(&gw, remaining).await, "100000");
    assert_eq!(
        metric(
            &gw,
            r#"scangate_wechat_quota_limit{api="wxacode_unlimited"} "#
        )
        .await,
        "7200000"
    );
    let asked = s.counters().quota_gets;
    assert_eq!(asked, 2, "one read per API");

    let browser = Browser::new(&gw);
    let started = start_oa(&browser).await;
    assert_eq!(started.status, 201, "{}", started.body);
    assert_eq!(started.body["method"], "official_account");
    assert_eq!(s.quota_used(QRCODE_CREATE), 1);
    // Counted here between reads, without asking WeChat.
    assert_eq!(metric(&gw, remaining).await, "99999");

    // Another read within the interval is the claimed one's: WeChat is not asked again.
    let login = gw.app().login.as_ref().expect("login is on");
    login.service.refresh_quotas(now()).await;
    assert_eq!(s.counters().quota_gets, asked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_daily_quota_makes_mini_program_attempts_and_the_person_stays_one_user() {
    let (_e, gw) = with_mini_program().await;
    let s = sim(&gw);
    let user = person("both");

    // Yesterday, so to speak: signed in by the Official Account.
    let before = Browser::new(&gw);
    let id = before.start("/after").await;
    let ticket = before.wechat_ticket(&id).await;
    assert_eq!(s.scan(&ticket, &user).await.unwrap().status, 200);
    let polled = before.poll(&id, "waiting", 5).await;
    assert_eq!(polled.body["status"], "confirmed", "{}", polled.body);
    let first = before
        .exchange(polled.body["ticket"].as_str().unwrap())
        .await;
    let user_id = first.body["user"]["id"].clone();
    assert!(user_id.is_string(), "{}", first.body);

    // The day's codes are spent: WeChat answers 45009 by itself.
    s.set_quota(QRCODE_CREATE, 100_000, 100_000);
    let browser = Browser::new(&gw);
    let started = start_oa(&browser).await;
    assert_eq!(started.status, 201, "{}", started.body);
    assert_eq!(started.body["method"], "mini_program");
    assert!(started.body["qr_image"].as_str().unwrap().ends_with(".png"));
    let id = started.body["id"].as_str().unwrap().to_string();

    // The person scans the Mini Program code; WeChat knows them by the same unionid.
    let mp = MpPage::new(&gw.base, "/.auth");
    assert_eq!(mp.scanned(&id).await.0, 200);
    let (status, answer) = mp.confirm(&id, &s.mp_login_code(&user), None).await;
    assert_eq!(status, 200, "{answer}");
    let polled = browser.poll(&id, "waiting", 5).await;
    let polled = if polled.body["status"] == "scanned" {
        browser.poll(&id, "scanned", 5).await
    } else {
        polled
    };
    assert_eq!(polled.body["status"], "confirmed", "{}", polled.body);
    let session = browser
        .exchange(polled.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(session.status, 200, "{}", session.body);
    assert_eq!(session.body["user"]["id"], user_id, "one person, one user");
    assert_eq!(session.body["user"]["method"], "mini_program");

    // The next attempt does not ask WeChat for a code it will refuse.
    let creates = s.counters().qrcode_creates;
    assert_eq!(
        start_oa(&Browser::new(&gw)).await.body["method"],
        "mini_program"
    );
    assert_eq!(s.counters().qrcode_creates, creates);
    assert_eq!(
        metric(
            &gw,
            r#"scangate_login_failovers_total{from="official_account",reason="daily_quota",to="mini_program"} "#
        )
        .await,
        "2"
    );
    assert_eq!(
        metric(
            &gw,
            r#"scangate_wechat_quota_remaining{api="qrcode_create"} "#
        )
        .await,
        "0"
    );
}

/// A gateway whose WeChat is `sim`, with an Official Account and no Mini Program.
async fn without_mini_program(sim: &SimHandle) -> (Echo, Gateway) {
    login_gateway(&format!(
        "wechat:\n  api_base: \"{}\"\n  official_account:\n    app_id: \"wx00000000000000cc\"\n    app_secret: \"sim-secret\"\n    token: \"simtoken\"\nlogin:\n  phone: \"off\"",
        sim.api_base()
    ))
    .await
}

async fn lone_simulator() -> SimHandle {
    Simulator::start(SimConfig {
        app_id: "wx00000000000000cc".into(),
        app_secret: "sim-secret".into(),
        token: "simtoken".into(),
        encoding_aes_key: None,
        callback_url: "http://127.0.0.1:9/".into(),
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_mini_program_a_spent_quota_is_a_503_that_says_until_when() {
    let s = lone_simulator().await;
    let (_e, gw) = without_mini_program(&s).await;
    let browser = Browser::new(&gw);

    s.fail_next(SimApi::QrCodeCreate, 45009);
    let at = now();
    let refused = start_oa(&browser).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.body["error"], "login_paused");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("16:00 UTC"),
        "midnight in Beijing: {}",
        refused.body
    );
    // Retry-After reaches to 16:00 UTC, which the page shows on the person's clock.
    let until_midnight = 86_400 - (at + 8 * 3600) % 86_400;
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(
        retry.abs_diff(until_midnight) <= 2,
        "{retry} vs {until_midnight}"
    );
    assert_eq!(
        metric(
            &gw,
            r#"scangate_login_failovers_total{from="official_account",reason="daily_quota",to="none"} "#
        )
        .await,
        "1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_minute_limit_pauses_until_the_next_minute() {
    let s = lone_simulator().await;
    let (_e, gw) = without_mini_program(&s).await;
    let browser = Browser::new(&gw);
    s.fail_next(SimApi::QrCodeCreate, 45011);
    let at = now();
    let refused = start_oa(&browser).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.body["error"], "login_paused");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    // Up to the next full minute (the rest of it is in the login tests, on a paused clock).
    assert!((1..=60).contains(&retry), "{retry}");
    assert!((at + retry) % 60 <= 1, "{at} + {retry} ends a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn navigations_and_prefetches_get_no_code() {
    let (_e, gw) = with_mini_program().await;
    let s = sim(&gw);
    let browser = Browser::new(&gw);
    let body = json!({"method": "official_account", "rd": "/"}).to_string();
    for (name, value) in [
        ("sec-fetch-mode", "navigate"),
        ("sec-purpose", "prefetch;prerender"),
        ("purpose", "prefetch"),
    ] {
        let refused = browser
            .send(
                gw.client
                    .post(gw.url("/.auth/qr"))
                    .header("content-type", "application/json")
                    .header(name, value)
                    .body(body.clone()),
            )
            .await;
        assert_eq!(refused.status, 400, "{name}: {}", refused.body);
        assert_eq!(refused.body["error"], "not_a_script");
    }
    assert_eq!(s.counters().qrcode_creates, 0, "no code spent");
    // The page's own script (fetch: mode cors) gets its code.
    let ok = browser
        .send(
            gw.client
                .post(gw.url("/.auth/qr"))
                .header("content-type", "application/json")
                .header("sec-fetch-mode", "cors")
                .header("sec-fetch-site", "same-origin")
                .body(body),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(s.counters().qrcode_creates, 1);
}
