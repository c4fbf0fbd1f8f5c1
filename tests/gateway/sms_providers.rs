//! The phone step through the real SMS providers' clients, against fakes of their APIs on
//! 127.0.0.1 that check every request's signature: the code the person types is the one
//! the fake received, and a provider's refusal reaches the page as its own error.

use scangate::sms::fake::{FakeProvider, Received, Script};
use serde_json::json;

use crate::browser::Browser;
use crate::harness::*;

const SECRET_ID: &str = "AKIDgateway0000000000000000000000000";
const SECRET_KEY: &str = "gateway-test-secret-key";
const KEY_ID: &str = "LTAIgateway00000";
const KEY_SECRET: &str = "gateway-test-access-key-secret";

fn tencent_login(endpoint: &str) -> String {
    format!(
        "login:\n  sms:\n    provider: tencent\n    secret_id: \"{SECRET_ID}\"\n    secret_key: \"{SECRET_KEY}\"\n    sdk_app_id: \"1400000001\"\n    sign_name: \"示例公司\"\n    template_id: \"2000001\"\n    endpoint: \"{endpoint}\"\n"
    )
}

fn aliyun_login(endpoint: &str) -> String {
    format!(
        "login:\n  sms:\n    provider: aliyun\n    access_key_id: \"{KEY_ID}\"\n    access_key_secret: \"{KEY_SECRET}\"\n    sign_name: \"示例公司\"\n    template_code: \"SMS_000000001\"\n    endpoint: \"{endpoint}\"\n"
    )
}

/// A browser's attempt of a new user, scanned and at the phone step.
async fn at_phone_step(browser: &Browser<'_>) -> String {
    let id = browser.start("/home").await;
    assert_eq!(browser.demo_scan(&id, "new").await.status, 200);
    let polled = browser.poll(&id, "waiting", 5).await;
    assert_eq!(polled.body["status"], "need_phone", "{}", polled.body);
    id
}

/// Asks for a code to `phone` on attempt `id`; returns the one request the provider got.
async fn ask_code(browser: &Browser<'_>, fake: &FakeProvider, id: &str, phone: &str) -> Received {
    let before = fake.received().len();
    let sent = browser
        .post("/.auth/phone/code", json!({"id": id, "phone": phone}))
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    only_new(fake.received(), before)
}

/// Binds `phone` with `code` and exchanges the ticket; returns the signed-in user's phone.
async fn sign_in(browser: &Browser<'_>, id: &str, phone: &str, code: &str) -> String {
    let bound = browser.bind(id, phone, code).await;
    assert_eq!(bound.status, 200, "{}", bound.body);
    let session = browser
        .exchange(bound.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(session.status, 200, "{}", session.body);
    session.body["user"]["phone"].as_str().unwrap().to_string()
}

/// The one request the fake got since `before`, which must have passed its signature check.
fn only_new(received: Vec<Received>, before: usize) -> Received {
    let new = &received[before..];
    let [r] = new else {
        panic!("expected one request to the provider, got {new:?}");
    };
    assert_eq!(r.signature, Ok(()), "the fake refused the signature");
    r.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_tencent_sends_the_code_that_then_signs_the_person_in() {
    let fake = FakeProvider::tencent(SECRET_ID, SECRET_KEY).await.unwrap();
    let (_e, gw) = login_gateway(&tencent_login(&fake.endpoint())).await;
    let browser = Browser::new(&gw);
    let id = at_phone_step(&browser).await;

    let r = ask_code(&browser, &fake, &id, "138 0013 8071").await;
    assert_eq!(r.phone, "+8613800138071");
    assert_eq!(
        (r.app.as_deref(), r.template.as_str()),
        (Some("1400000001"), "2000001")
    );
    let code = r.param("1").expect("the code fills {1}");
    assert_eq!(code.len(), 6);
    let phone = sign_in(&browser, &id, "13800138071", code).await;
    assert_eq!(phone, "+8613800138071");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_tencents_daily_limit_reaches_the_person_as_sms_limited() {
    let fake = FakeProvider::tencent(SECRET_ID, SECRET_KEY).await.unwrap();
    fake.answer_with(Script::refuse("LimitExceeded.PhoneNumberDailyLimit"));
    let (_e, gw) = login_gateway(&tencent_login(&fake.endpoint())).await;
    let browser = Browser::new(&gw);
    let id = at_phone_step(&browser).await;

    let refused = browser
        .post(
            "/.auth/phone/code",
            json!({"id": id, "phone": "13800138072"}),
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(refused.body["error"], "sms_limited");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("in a day"),
        "{}",
        refused.body
    );
    only_new(fake.received(), 0);

    // The refused code was withdrawn: no cooldown, another number gets its code at once.
    fake.answer_with(Script::Accept);
    let r = ask_code(&browser, &fake, &id, "13800138073").await;
    assert_eq!(r.phone, "+8613800138073");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_a_provider_setup_error_is_sms_unavailable_to_the_person() {
    let fake = FakeProvider::tencent(SECRET_ID, "another-key-than-the-gateways")
        .await
        .unwrap();
    let (_e, gw) = login_gateway(&tencent_login(&fake.endpoint())).await;
    let browser = Browser::new(&gw);
    let id = at_phone_step(&browser).await;
    let refused = browser
        .post(
            "/.auth/phone/code",
            json!({"id": id, "phone": "13800138074"}),
        )
        .await;
    assert_eq!(refused.status, 502, "{}", refused.body);
    assert_eq!(refused.body["error"], "sms_unavailable");
    let text = refused.body.to_string();
    assert!(
        !text.contains("AuthFailure") && !text.contains(SECRET_KEY),
        "{text}"
    );
    assert!(fake.received()[0].signature.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_aliyun_sends_the_code_that_then_signs_the_person_in() {
    let fake = FakeProvider::aliyun(KEY_ID, KEY_SECRET).await.unwrap();
    let (_e, gw) = login_gateway(&aliyun_login(&fake.endpoint())).await;
    let browser = Browser::new(&gw);
    let id = at_phone_step(&browser).await;

    let r = ask_code(&browser, &fake, &id, "+86 138 0013 8075").await;
    assert_eq!(r.phone, "13800138075");
    assert_eq!(r.template, "SMS_000000001");
    let code = r.param("code").expect("the code fills ${code}");
    let phone = sign_in(&browser, &id, "13800138075", code).await;
    assert_eq!(phone, "+8613800138075");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_aliyuns_flow_control_is_sms_limited_and_a_bad_number_bad_phone() {
    let fake = FakeProvider::aliyun(KEY_ID, KEY_SECRET).await.unwrap();
    let (_e, gw) = login_gateway(&aliyun_login(&fake.endpoint())).await;
    let browser = Browser::new(&gw);
    let id = at_phone_step(&browser).await;
    fake.answer_with(Script::refuse("isv.BUSINESS_LIMIT_CONTROL"));
    let limited = browser
        .post(
            "/.auth/phone/code",
            json!({"id": id, "phone": "13800138076"}),
        )
        .await;
    assert_eq!(
        (limited.status, &limited.body["error"]),
        (409, &json!("sms_limited"))
    );
    fake.answer_with(Script::refuse("isv.MOBILE_NUMBER_ILLEGAL"));
    let bad = browser
        .post(
            "/.auth/phone/code",
            json!({"id": id, "phone": "13800138077"}),
        )
        .await;
    assert_eq!((bad.status, &bad.body["error"]), (400, &json!("bad_phone")));
    assert!(fake.received().iter().all(|r| r.signature.is_ok()));
}
