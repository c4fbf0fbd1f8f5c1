//! The account-level defences, from outside: `/phone/code` is no oracle of registered numbers
//! (limits first, the same 202 for every number, "taken" only after the right code), a phone
//! has one spelling, a session cookie belongs to one deployment and one use, the Mini Program
//! page's calls never tell whether a scene exists, and no log line holds a full number.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use scangate::demo::Demo;
use scangate::wechat_sim::{MpPage, SimHandle, SimUser};
use serde_json::{json, Value};

use crate::browser::{Answer, Browser};
use crate::harness::*;

/// The number the simulator's returning user holds (registered at start).
const TAKEN: &str = "19999999999";

fn sim(gw: &Gateway) -> &SimHandle {
    &Demo::of(gw.app()).expect("the demo runs").simulator
}

/// A fresh attempt of a new user, at `need_phone`, in a browser of its own.
async fn at_need_phone(gw: &Gateway) -> (Browser<'_>, String) {
    let browser = Browser::new(gw);
    let id = browser.start("/").await;
    assert_eq!(browser.demo_scan(&id, "new").await.status, 200);
    let polled = browser.poll(&id, "waiting", 5).await;
    assert_eq!(polled.body["status"], "need_phone", "{}", polled.body);
    (browser, id)
}

async fn ask_code(browser: &Browser<'_>, id: &str, phone: &str) -> Answer {
    browser
        .post("/.auth/phone/code", json!({"id": id, "phone": phone}))
        .await
}

/// An error body is exactly `{"error", "message"}`.
fn assert_error(a: &Answer, status: u16, code: &str, what: &str) {
    assert_eq!(a.status, status, "{what}: {}", a.body);
    assert_eq!(a.body["error"], code, "{what}");
    let keys: Vec<&String> = a.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["error", "message"], "{what}");
    assert!(
        !a.body["message"].as_str().unwrap().is_empty(),
        "{what}: {}",
        a.body
    );
}

/// The answer's body without the demo's code, which differs on every call.
fn without_demo_code(a: &Answer) -> Value {
    let mut body = a.body.clone();
    let demo = body.as_object_mut().unwrap().remove("demo_code");
    assert!(demo.is_some_and(|c| c.as_str().is_some_and(|c| c.len() == 6)));
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_code_answers_a_registered_number_as_any_other() {
    let (_e, gw) = login_gateway("").await;
    // Every spelling of the registered number, and free numbers.
    let cases = [
        ("taken", TAKEN, true),
        ("taken, spaced", "199 9999 9999", true),
        ("taken, +86", "+86 199-9999-9999", true),
        ("taken, 0086", "0086 19999999999", true),
        ("free", "13800138101", false),
        ("free, +86", "+86 138 0013 8102", false),
    ];
    let mut answers = Vec::new();
    for (i, (what, number, taken)) in cases.into_iter().enumerate() {
        let (browser, id) = at_need_phone(&gw).await;
        let sent = ask_code(&browser, &id, number).await;
        assert_eq!(sent.status, 202, "{what}: {}", sent.body);
        assert_eq!(sent.header("retry-after"), None, "{what}");
        answers.push((what, without_demo_code(&sent)));
        let code = sent.body["demo_code"].as_str().unwrap().to_string();
        // A wrong code says nothing about the number either.
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let guessed = browser.bind(&id, number, wrong).await;
        assert_error(&guessed, 400, "invalid_code", what);
        // The right code (the phone is the caller's) is told the truth.
        let bound = browser.bind(&id, number, &code).await;
        if taken {
            assert_error(&bound, 409, "phone_taken", what);
            // The attempt goes on: another number gets its code at once, and binds.
            let another = format!("1380013819{i}");
            let code = browser.send_code(&id, &another).await;
            let other = browser.bind(&id, &another, &code).await;
            assert_eq!(other.status, 200, "{what}: {}", other.body);
        } else {
            assert_eq!(bound.status, 200, "{what}: {}", bound.body);
            assert_eq!(bound.body["status"], "confirmed", "{what}");
        }
    }
    let (_, first) = &answers[0];
    assert_eq!(first, &json!({"status": "sent"}));
    for (what, body) in &answers {
        assert_eq!(body, first, "{what}: the same answer for every number");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_charged_before_anything_depends_on_registration() {
    let (_e, gw) = login_gateway(
        "login:\n  limits:\n    sms_per_ip_per_hour: 2\n    sms_per_phone_per_hour: 1\n",
    )
    .await;
    // Two codes from this client (one to the registered number), then nothing for either
    // kind of number, with the same answer.
    let mut refused = Vec::new();
    for (i, number) in [TAKEN, "13800138111", TAKEN, "13800138112"]
        .into_iter()
        .enumerate()
    {
        let (browser, id) = at_need_phone(&gw).await;
        let a = ask_code(&browser, &id, number).await;
        if i < 2 {
            assert_eq!(a.status, 202, "{number}: {}", a.body);
        } else {
            assert_error(&a, 429, "rate_limited", number);
            let retry: u64 = a.header("retry-after").unwrap().parse().unwrap();
            assert!((1..=3600).contains(&retry), "{retry}");
            refused.push(a.body["error"].clone());
        }
    }
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[0], refused[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_has_one_spelling() {
    // Italy listed too, for its numbers that keep their 0.
    let (_e, gw) = login_gateway("login:\n  phone_countries: [\"86\", \"39\"]").await;
    let (browser, id) = at_need_phone(&gw).await;
    let refused = [
        ("+86 0137 0000 9999", "has a 0 after the country code"),
        ("+86 (0)137-0000-9999", "has a 0 after the country code"),
        ("0086 013700009999", "has a 0 after the country code"),
        ("+86 13700009999 0", "is not a Chinese mobile number"),
        ("+86 1370000999", "is not a Chinese mobile number"),
        ("+86 10 6552 9988", "is not a Chinese mobile number"),
        ("013700009999", "has 12 digits"),
        ("137000099990", "has 12 digits"),
        ("+44 (0)20 7946 0958", "has a 0 after the country code"),
        ("+0 123 456 789", "has no country code"),
    ];
    for (typed, reason) in refused {
        let a = ask_code(&browser, &id, typed).await;
        assert_error(&a, 400, "bad_phone", typed);
        let message = a.body["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("the phone number {reason}")),
            "{typed}: {message}"
        );
    }
    // The accepted spellings of one phone are one number: the code sent to one binds the
    // others (the code binds only the number it went to).
    let code = browser.send_code(&id, "+86 137 0000 9999").await;
    let bound = browser.bind(&id, "0086-137-0000-9999", &code).await;
    assert_eq!(bound.status, 200, "{}", bound.body);
    let session = browser
        .exchange(bound.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(session.body["user"]["phone"], "+8613700009999");
    // Italy keeps its 0.
    let (browser, id) = at_need_phone(&gw).await;
    let code = browser.send_code(&id, "+39 06 6982 1234").await;
    let bound = browser.bind(&id, "+390669821234", &code).await;
    assert_eq!(bound.status, 200, "{}", bound.body);
}

/// An HS256 token over `claims` with the test gateways' shared session secret.
fn forged(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_belongs_to_one_deployment_and_one_use() {
    // Three gateways sharing the session secret: two instances of one deployment, and
    // another deployment.
    let e = Echo::start("app").await;
    let routes = format!("routes:\n{}", login_routes(e.addr));
    let one = "http://gateway.test:7001";
    let a = Gateway::start_with(&routes, deployment(one)).await;
    let b = Gateway::start_with(&routes, deployment(one)).await;
    let other = Gateway::start(&routes).await;
    let cookie = a.cookie(&alice());
    let through =
        |gw: &Gateway, cookie: &str| gw.get("/").header("cookie", cookie.to_string()).send();
    assert_eq!(through(&a, &cookie).await.unwrap().status(), 200);
    assert_eq!(
        through(&b, &cookie).await.unwrap().status(),
        200,
        "another instance of the deployment"
    );
    assert_eq!(
        through(&other, &cookie).await.unwrap().status(),
        401,
        "another deployment with the same secret"
    );
    assert_eq!(
        through(&a, &other.cookie(&alice())).await.unwrap().status(),
        401
    );

    // The assertion the app receives is not a session cookie.
    let seen = seen(through(&a, &cookie).await.unwrap()).await;
    let assertion = seen.header("x-auth-assertion").unwrap();
    let name = a.app().sessions.cookie_name().to_string();
    let t = now();
    let good = json!({
        "iss": one, "aud": "scangate:session", "sub": "u_alice", "sid": "sid-forged-0000000000",
        "method": "official_account", "iat": t, "exp": t + 600, "auth_time": t,
    });
    let without = |keys: &[&str]| {
        let mut claims = good.clone();
        for k in keys {
            claims.as_object_mut().unwrap().remove(*k);
        }
        forged(&claims)
    };
    let with = |key: &str, value: Value| {
        let mut claims = good.clone();
        claims[key] = value;
        forged(&claims)
    };
    let cases = [
        ("the claims signed with the secret", forged(&good), 200),
        ("the assertion as a cookie", assertion.clone(), 401),
        (
            "a session from before iss/aud",
            without(&["iss", "aud"]),
            401,
        ),
        ("no iss", without(&["iss"]), 401),
        ("no aud", without(&["aud"]), 401),
        ("a route's name as aud", with("aud", json!("app")), 401),
        (
            "another deployment's iss",
            with("iss", json!(other.base)),
            401,
        ),
        (
            "the origin with a path",
            with("iss", json!(format!("{one}/"))),
            401,
        ),
    ];
    for (what, token, want) in cases {
        let status = through(&a, &format!("{name}={token}"))
            .await
            .unwrap()
            .status();
        assert_eq!(status, want, "{what}");
    }
}

// === the Mini Program page ===

async fn mp_gateway() -> (Echo, Gateway) {
    let e = Echo::start("app").await;
    let gw = Gateway::start(&format!(
        "login:\n  methods: [mini_program, official_account]\n  phone: \"off\"\n  limits:\n    mini_program_per_ip_per_minute: 1000\nroutes:\n{}",
        login_routes(e.addr)
    ))
    .await;
    (e, gw)
}

/// A new Mini Program attempt in a browser of its own: its scene.
async fn mp_scene(gw: &Gateway) -> String {
    let browser = Browser::new(gw);
    let a = browser
        .post("/.auth/qr", json!({"method": "mini_program"}))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body["id"].as_str().unwrap().to_string()
}

fn someone(tag: &str) -> SimUser {
    SimUser {
        openid: format!("o_acct_{tag}_{}", now()),
        unionid: None,
        follows: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mini_program_page_cannot_tell_whether_a_scene_exists() {
    let (_e, gw) = mp_gateway().await;
    let page = MpPage::new(&gw.base, "/.auth");
    let confirmed = mp_scene(&gw).await;
    let (status, _) = page
        .confirm(&confirmed, &sim(&gw).mp_login_code(&someone("done")), None)
        .await;
    assert_eq!(status, 200);
    let cancelled = mp_scene(&gw).await;
    assert_eq!(page.cancel(&cancelled).await.0, 200);
    let official_browser = Browser::new(&gw);
    let started = official_browser
        .post("/.auth/qr", json!({"method": "official_account"}))
        .await;
    assert_eq!(started.status, 201, "{}", started.body);
    let official = started.body["id"].as_str().unwrap().to_string();
    let made_up = "js0000000000000000000000000000ff";

    // What a live scene gets: each call on a fresh one.
    let live_scanned = page.scanned(&mp_scene(&gw).await).await;
    let live_cancel = page.cancel(&mp_scene(&gw).await).await;
    let live_made_up = page.confirm(&mp_scene(&gw).await, made_up, None).await;
    assert_eq!(live_scanned, (200, json!({"status": "scanned"})));
    assert_eq!(live_cancel, (200, json!({"status": "cancelled"})));
    assert_eq!(live_made_up.0, 400, "{}", live_made_up.1);
    assert_eq!(live_made_up.1["error"], "invalid_code");

    let scenes = [
        ("unknown", "AAAAAAAAAAAAAAAAAAAAAA".to_string()),
        ("not a token", "../../etc/passwd".to_string()),
        ("empty", String::new()),
        ("long", "A".repeat(4000)),
        ("an official account attempt", official.clone()),
        ("confirmed", confirmed),
        ("cancelled", cancelled),
    ];
    for (what, scene) in &scenes {
        assert_eq!(page.scanned(scene).await, live_scanned, "scanned: {what}");
        assert_eq!(page.cancel(scene).await, live_cancel, "cancel: {what}");
        assert_eq!(
            page.confirm(scene, made_up, None).await,
            live_made_up,
            "confirm with a made-up code: {what}"
        );
        // Only a caller WeChat vouches for is told that the scene is not a live login.
        let (status, body) = page
            .confirm(scene, &sim(&gw).mp_login_code(&someone("probe")), None)
            .await;
        assert_eq!(status, 404, "{what}: {body}");
        assert_eq!(body["error"], "invalid_scene", "{what}");
    }
    // The Official Account attempt was not touched by any of it.
    let polled = official_browser.poll(&official, "", 0).await;
    assert_eq!(polled.body["status"], "waiting", "{}", polled.body);
}

// === logs ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_shows_a_full_phone_number() {
    let logs = crate::mini_program::captured_logs();
    let (_e, gw) = login_gateway("login:\n  limits:\n    sms_per_phone_per_hour: 1\n").await;
    // A sign-up, a refused registered number, and a rate-limited number.
    Browser::new(&gw).sign_up("13800138121").await;
    let (browser, id) = at_need_phone(&gw).await;
    let code = browser.send_code(&id, TAKEN).await;
    assert_eq!(browser.bind(&id, TAKEN, &code).await.status, 409);
    let (browser, id) = at_need_phone(&gw).await;
    browser.send_code(&id, "13800138122").await;
    let (browser, id) = at_need_phone(&gw).await;
    let limited = ask_code(&browser, &id, "13800138122").await;
    assert_error(&limited, 429, "rate_limited", "the second code");

    let text = without_colours(&String::from_utf8_lossy(&logs.lock().unwrap()));
    // The lines are there (so this test can fail), with the numbers masked...
    for expected in [
        "+86138****8121",
        "+86199****9999",
        "subject=+86138****8122",
        "code refused by a rate limit",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from the log");
    }
    // ...and no line holds one in full.
    for line in text.lines() {
        for number in ["13800138121", "19999999999", "13800138122"] {
            assert!(!line.contains(number), "{number} in: {line}");
        }
    }
}

/// Junk where an attempt id or a binding cookie belongs answers exactly as an unknown
/// attempt does: nothing tells a malformed value from a well-formed stranger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_ids_and_cookies_answer_as_unknown_attempts() {
    let (_e, gw) = login_gateway("").await;
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    let unknown = "AAAAAAAAAAAAAAAAAAAAAA";
    let reference = browser.get(&format!("/.auth/qr/{unknown}")).await;
    assert_eq!(reference.status, 404, "{}", reference.body);
    for junk in [
        "x",
        "AAAA",
        "not-base64-at-all!!!!!",
        &"A".repeat(200),
        "%41%41",
    ] {
        let a = browser.get(&format!("/.auth/qr/{junk}")).await;
        assert_eq!(
            (a.status, &a.body),
            (reference.status, &reference.body),
            "{junk}"
        );
        let a = browser
            .post(
                "/.auth/phone/code",
                json!({"id": junk, "phone": "13800138000"}),
            )
            .await;
        assert_eq!(
            (a.status, &a.body["error"]),
            (404, &reference.body["error"]),
            "{junk}"
        );
    }
    // The real attempt with a junk binding cookie: the same answer again.
    for cookie in [
        format!("scangate_login_{id}=x"),
        format!("scangate_login_{id}="),
        format!("scangate_login_{id}=AAAAAAAAAAAAAAAAAAAAAA"),
        // Another attempt's cookie is no binding of this one.
        "scangate_login_AAAAAAAAAAAAAAAAAAAAAA=AAAAAAAAAAAAAAAAAAAAAA".to_string(),
    ] {
        let resp = gw
            .get(&format!("/.auth/qr/{id}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{cookie}");
        assert_eq!(
            json(resp).await["error"],
            reference.body["error"],
            "{cookie}"
        );
    }
}
