//! SMS login through the real gateway: `POST /.auth/sms/code` answers alike for every number,
//! `POST /.auth/sms/login` gives a ticket exchanged at `/.auth/session`, "no account" only
//! after the right code, sign-up on and off, the shared SMS limits, disabled users, and one
//! user per person when a WeChat login later proves an SMS user's phone.

use base64::Engine;
use scangate::demo::Demo;
use scangate::identity::Phone;
use scangate::users::UserDirectory;
use serde_json::{json, Value};

use crate::browser::{Answer, Browser};
use crate::harness::*;

const SMS: &str = "login:\n  methods: [official_account, sms]\n";
const SMS_SIGNUP: &str = "login:\n  methods: [official_account, sms]\n  sms_signup: true\n";

/// `POST /.auth/sms/code`; the answer.
async fn send(browser: &Browser<'_>, phone: &str) -> Answer {
    browser
        .post("/.auth/sms/code", json!({ "phone": phone }))
        .await
}

/// Sends a code and returns it (the demo shows it in the answer).
async fn code_for(browser: &Browser<'_>, phone: &str) -> String {
    let sent = send(browser, phone).await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    sent.body["demo_code"].as_str().unwrap().to_string()
}

async fn sms_login(browser: &Browser<'_>, phone: &str, code: &str, rd: &str) -> Answer {
    browser
        .post(
            "/.auth/sms/login",
            json!({ "phone": phone, "code": code, "rd": rd }),
        )
        .await
}

fn wrong(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

/// The whole SMS login, ending signed in: the `/session` body.
async fn signed_in_by_sms(browser: &Browser<'_>, phone: &str) -> Value {
    let code = code_for(browser, phone).await;
    let logged_in = sms_login(browser, phone, &code, "/after/sms?x=1").await;
    assert_eq!(logged_in.status, 200, "{}", logged_in.body);
    assert_eq!(logged_in.body["status"], "confirmed");
    let id = logged_in.body["id"].as_str().unwrap();
    assert!(
        browser.binding(id).is_some(),
        "the ticket's binding cookie is set"
    );
    let session = browser
        .post(
            "/.auth/session",
            json!({ "ticket": logged_in.body["ticket"], "id": id }),
        )
        .await;
    assert_eq!(session.status, 200, "{}", session.body);
    session.body
}

async fn metrics(gw: &Gateway) -> String {
    gw.client
        .get(format!("{}/metrics", gw.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn users(gw: &Gateway) -> UserDirectory {
    UserDirectory::new(gw.app().login.as_ref().unwrap().store.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_code_answers_alike_whether_or_not_the_number_has_an_account() {
    let (_e, gw) = login_gateway(SMS).await;
    let browser = Browser::new(&gw);
    // The demo's returning user holds +8619999999999; 13700000001 is nobody's.
    let known = send(&browser, "19999999999").await;
    let unknown = send(&browser, "13700000001").await;
    assert_eq!((known.status, unknown.status), (202, 202));
    let keys = |a: &Answer| {
        let mut k: Vec<String> = a.body.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&known), keys(&unknown));
    assert_eq!(known.body["status"], unknown.body["status"]);
    // Neither sets a cookie: nothing tells a browser-side observer anything either.
    assert!(known.header("set-cookie").is_none() && unknown.header("set-cookie").is_none());
    // A number of a country not accepted is refused before anything is sent.
    let foreign = send(&browser, "+14155552671").await;
    assert_eq!(foreign.status, 400, "{}", foreign.body);
    assert_eq!(foreign.body["error"], "bad_phone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_no_account_is_said_only_after_the_right_code() {
    let (_e, gw) = login_gateway(SMS).await;
    let browser = Browser::new(&gw);
    let code = code_for(&browser, "13700000002").await;
    // A minute between two codes to one number, whoever asks.
    let soon = send(&Browser::new(&gw), "13700000002").await;
    assert_eq!(soon.status, 429, "{}", soon.body);
    assert!(soon.header("retry-after").is_some());
    let guess = sms_login(&browser, "13700000002", wrong(&code), "/").await;
    assert_eq!(guess.status, 400, "{}", guess.body);
    assert_eq!(guess.body["error"], "invalid_code");
    let right = sms_login(&browser, "13700000002", &code, "/").await;
    assert_eq!(right.status, 403, "{}", right.body);
    assert_eq!(right.body["error"], "no_account");
    assert!(!browser.has_any_binding(), "no login, no binding");
    let phone = Phone::parse("13700000002").unwrap();
    assert_eq!(users(&gw).find_by_phone(&phone).await.unwrap(), None);
    // The code was used up by that answer.
    let replay = sms_login(&browser, "13700000002", &code, "/").await;
    assert_eq!(replay.body["error"], "code_expired", "{}", replay.body);
    assert!(metrics(&gw)
        .await
        .contains(r#"scangate_login_attempts_total{method="sms",outcome="no_account"} 1"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_five_wrong_codes_kill_the_code() {
    let (_e, gw) = login_gateway(SMS_SIGNUP).await;
    let browser = Browser::new(&gw);
    let code = code_for(&browser, "13700000003").await;
    for _ in 0..4 {
        let a = sms_login(&browser, "13700000003", wrong(&code), "/").await;
        assert_eq!(a.body["error"], "invalid_code", "{}", a.body);
    }
    let fifth = sms_login(&browser, "13700000003", wrong(&code), "/").await;
    assert_eq!(fifth.body["error"], "code_dead", "{}", fifth.body);
    let right = sms_login(&browser, "13700000003", &code, "/").await;
    assert_eq!(right.body["error"], "code_dead", "{}", right.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_signup_makes_a_user_the_app_sees_as_method_sms() {
    let (_e, gw) = login_gateway(SMS_SIGNUP).await;
    let browser = Browser::new(&gw);
    let session = signed_in_by_sms(&browser, "13700000004").await;
    assert_eq!(
        session["redirect"],
        "/.auth/check?rd=%2Fafter%2Fsms%3Fx%3D1"
    );
    assert_eq!(session["user"]["phone"], "+8613700000004");
    assert_eq!(session["user"]["method"], "sms");
    let seen = browser.app_sees("/after/sms").await;
    assert_eq!(seen.header("x-auth-method").as_deref(), Some("sms"));
    assert_eq!(
        seen.header("x-auth-phone").as_deref(),
        Some("+8613700000004")
    );
    assert_eq!(seen.header("x-auth-openid"), None, "no WeChat account yet");
    // The signed assertion says the same.
    let assertion = seen.header("x-auth-assertion").unwrap();
    let payload = assertion.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["method"], "sms", "{claims}");
    // Signing in again is the same user.
    let again = Browser::new(&gw);
    let second = signed_in_by_sms(&again, "137 0000 0004").await;
    assert_eq!(second["user"]["id"], session["user"]["id"]);
    let text = metrics(&gw).await;
    for line in [
        r#"scangate_login_attempts_total{method="sms",outcome="code_sent"} 2"#,
        r#"scangate_login_attempts_total{method="sms",outcome="confirmed"} 2"#,
        r#"scangate_login_attempts_total{method="sms",outcome="exchanged"} 2"#,
    ] {
        assert!(text.contains(line), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_login_of_a_wechat_user_with_a_bound_phone_is_that_user() {
    let (_e, gw) = login_gateway(SMS).await;
    let wechat = Browser::new(&gw).sign_up("13700000005").await;
    let sms = signed_in_by_sms(&Browser::new(&gw), "13700000005").await;
    assert_eq!(sms["user"]["id"], wechat["user"]["id"]);
    assert_eq!(sms["user"]["method"], "sms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_ticket_works_only_in_the_browser_that_logged_in() {
    let (_e, gw) = login_gateway(SMS_SIGNUP).await;
    let browser = Browser::new(&gw);
    let code = code_for(&browser, "13700000006").await;
    let logged_in = sms_login(&browser, "13700000006", &code, "/").await;
    assert_eq!(logged_in.status, 200, "{}", logged_in.body);
    let thief = Browser::new(&gw);
    let stolen = thief
        .exchange(logged_in.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(stolen.status, 404, "{}", stolen.body);
    assert_eq!(stolen.body["error"], "ticket_invalid");
    // The rightful browser still can (a wrong browser does not use it up).
    let session = browser
        .exchange(logged_in.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(session.status, 200, "{}", session.body);
    // An `rd` off the site is refused outright.
    let code = code_for(&browser, "13700000007").await;
    let away = sms_login(&browser, "13700000007", &code, "https://evil.example/").await;
    assert_eq!(away.status, 400, "{}", away.body);
    assert_eq!(away.body["error"], "bad_redirect");
}

/// A browser whose new attempt waits at the phone step.
async fn at_phone_step(browser: &Browser<'_>) -> String {
    let id = browser.start("/").await;
    assert_eq!(browser.demo_scan(&id, "new").await.status, 200);
    let polled = browser.poll(&id, "waiting", 5).await;
    assert_eq!(polled.body["status"], "need_phone", "{}", polled.body);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_codes_share_the_binding_codes_limits() {
    let limits = "login:\n  methods: [official_account, sms]\n  limits:\n    \
                  sms_per_phone_per_hour: 2\n    sms_per_ip_per_hour: 3\n";
    let (_e, gw) = login_gateway(limits).await;
    // Two phone-binding codes to the number, from two attempts...
    for _ in 0..2 {
        let browser = Browser::new(&gw);
        let id = at_phone_step(&browser).await;
        browser.send_code(&id, "13700000008").await;
    }
    // ...spend its hourly budget for SMS login too.
    let browser = Browser::new(&gw);
    let third = send(&browser, "13700000008").await;
    assert_eq!(third.status, 429, "{}", third.body);
    assert_eq!(third.body["error"], "rate_limited");
    assert!(third.header("retry-after").is_some());
    // And this client's hourly budget (3) is spent: another number is refused too.
    let other = send(&browser, "13700000009").await;
    assert_eq!(other.status, 429, "{}", other.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_a_disabled_user_is_refused_after_the_right_code() {
    let (_e, gw) = login_gateway(SMS_SIGNUP).await;
    let session = signed_in_by_sms(&Browser::new(&gw), "13700000012").await;
    let id = scangate::identity::UserId::new(session["user"]["id"].as_str().unwrap());
    users(&gw).set_disabled(&id, true).await.unwrap();
    let browser = Browser::new(&gw);
    let code = code_for(&browser, "13700000012").await;
    let refused = sms_login(&browser, "13700000012", &code, "/").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.body["error"], "account_disabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_users_phone_proven_in_a_later_wechat_login_is_one_user() {
    let (_e, gw) = login_gateway(SMS_SIGNUP).await;
    let sms = signed_in_by_sms(&Browser::new(&gw), "13700000013").await;
    // The same person scans the Official Account's code for the first time and proves the
    // same number: they are the SMS user, now with their WeChat account.
    let wechat = Browser::new(&gw).sign_up("13700000013").await;
    assert_eq!(wechat["user"]["id"], sms["user"]["id"], "merged");
    assert_eq!(wechat["user"]["method"], "official_account");
    assert!(wechat["user"]["openid"].as_str().is_some());
    // The number's holder has a WeChat account now: another new WeChat user proving it is
    // refused as before.
    let intruder = Browser::new(&gw);
    let id = intruder.start("/").await;
    assert_eq!(intruder.demo_scan(&id, "new").await.status, 200);
    assert_eq!(
        intruder.poll(&id, "waiting", 5).await.body["status"],
        "need_phone"
    );
    let code = intruder.send_code(&id, "13700000013").await;
    let taken = intruder.bind(&id, "13700000013", &code).await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert_eq!(taken.body["error"], "phone_taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_a_failed_provider_withdraws_the_code() {
    let (_dead_socket, dead) = dead_address();
    let config = format!(
        "login:\n  methods: [official_account, sms]\n  sms:\n    provider: webhook\n    \
         url: \"http://{dead}/sms\"\n"
    );
    let (_e, gw) = login_gateway(&config).await;
    let browser = Browser::new(&gw);
    for _ in 0..2 {
        // Not 429 the second time: the unsent code was withdrawn, no cooldown holds.
        let sent = send(&browser, "13700000014").await;
        assert_eq!(sent.status, 502, "{}", sent.body);
        assert_eq!(sent.body["error"], "sms_unavailable");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_posts_from_another_site_are_refused_and_the_method_must_be_configured() {
    let (_e, gw) = login_gateway(SMS).await;
    for path in ["/.auth/sms/code", "/.auth/sms/login"] {
        let r = gw
            .client
            .post(gw.url(path))
            .header("origin", "https://evil.example")
            .json(&json!({ "phone": "13700000015", "code": "123456" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        assert_eq!(json(r).await["error"], "cross_site", "{path}");
    }
    let (_e2, plain) = login_gateway("").await;
    let browser = Browser::new(&plain);
    let off = send(&browser, "13700000015").await;
    assert_eq!(off.status, 400, "{}", off.body);
    assert_eq!(off.body["error"], "method_unavailable");
    // `/qr` does not start an SMS login either.
    let qr = Browser::new(&gw)
        .post("/.auth/qr", json!({ "method": "sms" }))
        .await;
    assert_eq!(qr.status, 400, "{}", qr.body);
    assert_eq!(qr.body["error"], "bad_method");
    assert!(Demo::of(gw.app()).is_some());
}
