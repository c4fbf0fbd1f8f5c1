//! Mini Program scan-code login, end to end: the PC browser shows the Mini Program code, the
//! simulated phone plays our Mini Program page (`/.auth/mp/*`, as `examples/miniprogram`
//! does), and the simulated WeChat answers `jscode2session` and `getuserphonenumber`.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use scangate::demo::Demo;
use scangate::wechat_sim::{MpPage, SimHandle, SimUser};
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::harness::*;

/// Every log line of this test process, to check what never appears in one.
pub(crate) fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(data);
                Ok(data.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || Sink(sink.clone()))
            .try_init();
        buf
    })
    .clone()
}

async fn gateway(phone: &str) -> (Echo, Gateway) {
    let e = Echo::start("app").await;
    let gw = Gateway::start(&format!(
        "login:\n  methods: [mini_program, official_account]\n  phone: {phone}\nroutes:\n  - name: app\n    upstreams: [\"{}\"]\n    auth: login\n",
        e.addr
    ))
    .await;
    (e, gw)
}

fn sim(gw: &Gateway) -> &SimHandle {
    &Demo::of(gw.app()).expect("the demo runs").simulator
}

fn page(gw: &Gateway) -> MpPage {
    MpPage::new(&gw.base, "/.auth")
}

fn person(tag: &str) -> SimUser {
    SimUser {
        openid: format!("o_{tag}_{}", now()),
        unionid: Some(format!("un_{tag}_{}", now())),
        follows: false,
    }
}

async fn start_mp(browser: &Browser<'_>) -> (String, Value) {
    let a = browser
        .post("/.auth/qr", json!({"method": "mini_program", "rd": "/mp"}))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    (a.body["id"].as_str().unwrap().to_string(), a.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_user_authorises_their_phone_in_the_mini_program_without_sms() {
    let logs = captured_logs();
    let (_e, gw) = gateway("required").await;
    let browser = Browser::new(&gw);
    let (id, started) = start_mp(&browser).await;
    assert_eq!(started["method"], "mini_program");
    let png_url = started["qr_image"].as_str().unwrap();
    assert!(png_url.ends_with(".png"));
    let png = gw
        .get(png_url)
        .header("cookie", browser.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));

    let mp = page(&gw);
    let (status, _) = mp.scanned(&id).await;
    assert_eq!(status, 200);
    assert_eq!(
        browser.poll(&id, "waiting", 5).await.body["status"],
        "scanned"
    );

    let user = person("mp_new");
    let code = sim(&gw).mp_login_code(&user);
    // Pressed by this user: WeChat checks the openid the gateway names.
    let phone_code = sim(&gw).mp_phone_code_of(&user, "13912345678");
    let (status, answer) = mp.confirm(&id, &code, Some(&phone_code)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "confirmed");
    assert!(!answer.to_string().contains("session_key"));

    let polled = browser.poll(&id, "scanned", 5).await;
    assert_eq!(polled.body["status"], "confirmed");
    let session = browser
        .exchange(polled.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(session.status, 200);
    assert_eq!(session.body["user"]["phone"], "+8613912345678");
    assert_eq!(session.body["user"]["method"], "mini_program");
    assert!(!session.body.to_string().contains("session_key"));
    let seen = browser.app_sees("/").await;
    assert_eq!(
        seen.header("x-auth-method").as_deref(),
        Some("mini_program")
    );
    assert_eq!(
        seen.header("x-auth-phone").as_deref(),
        Some("+8613912345678")
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
    assert!(!metrics.contains("code_sent"), "no SMS was needed");
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        logs.contains("mini_program"),
        "the capture sees the gateway's log lines"
    );
    assert!(!logs.contains("session_key"), "session_key in a log line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_phone_authorisation_the_pc_binds_by_sms() {
    let (_e, gw) = gateway("required").await;
    let browser = Browser::new(&gw);
    let (id, _) = start_mp(&browser).await;
    let mp = page(&gw);
    mp.scanned(&id).await;
    let code = sim(&gw).mp_login_code(&person("mp_sms"));
    let (status, answer) = mp.confirm(&id, &code, None).await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "need_phone");
    assert_eq!(
        browser.poll(&id, "scanned", 5).await.body["status"],
        "need_phone"
    );
    let sms = browser.send_code(&id, "13712345678").await;
    let bound = browser.bind(&id, "13712345678", &sms).await;
    assert_eq!(bound.status, 200, "{}", bound.body);
    let session = browser
        .exchange(bound.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(session.body["user"]["phone"], "+8613712345678");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_on_the_phone_shows_cancelled_on_the_pc() {
    let (_e, gw) = gateway("required").await;
    let browser = Browser::new(&gw);
    let (id, _) = start_mp(&browser).await;
    let mp = page(&gw);
    mp.scanned(&id).await;
    let (status, _) = mp.cancel(&id).await;
    assert_eq!(status, 200);
    assert_eq!(
        browser.poll(&id, "scanned", 5).await.body["status"],
        "cancelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_person_is_one_user_across_the_official_account_and_the_mini_program() {
    let (_e, gw) = gateway("off").await;
    let person = person("both");
    // First through the Official Account...
    let browser = Browser::new(&gw);
    let a = browser
        .post("/.auth/qr", json!({"method": "official_account"}))
        .await;
    let id = a.body["id"].as_str().unwrap().to_string();
    let ticket = browser.wechat_ticket(&id).await;
    sim(&gw).scan(&ticket, &person).await.unwrap();
    let polled = browser.poll(&id, "waiting", 5).await;
    let first = browser
        .exchange(polled.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(first.status, 200, "{}", first.body);

    // ...then through the Mini Program: another openid, the same unionid.
    let browser = Browser::new(&gw);
    let (id, _) = start_mp(&browser).await;
    let mp = page(&gw);
    mp.scanned(&id).await;
    let (status, answer) = mp
        .confirm(&id, &sim(&gw).mp_login_code(&person), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    let polled = browser.poll(&id, "scanned", 5).await;
    let second = browser
        .exchange(polled.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(second.body["user"]["id"], first.body["user"]["id"]);
    assert_ne!(second.body["user"]["openid"], first.body["user"]["openid"]);
    assert_eq!(
        second.body["user"]["unionid"],
        first.body["user"]["unionid"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_scenes_and_replayed_codes_are_refused_without_telling_which() {
    let (_e, gw) = gateway("off").await;
    let mp = page(&gw);
    // Opening the page on a bad scene is answered as on a live one (and does nothing).
    let (unknown, unknown_body) = mp.scanned("AAAAAAAAAAAAAAAAAAAAAA").await;
    let (junk, junk_body) = mp.scanned("../../etc").await;
    assert_eq!(
        (unknown, &unknown_body),
        (200, &json!({"status": "scanned"}))
    );
    assert_eq!(
        (junk, junk_body),
        (unknown, unknown_body),
        "the same answer for every bad scene"
    );
    // A confirmation WeChat vouches for learns that an unknown scene is no longer valid.
    let (unknown, unknown_body) = mp
        .confirm(
            "AAAAAAAAAAAAAAAAAAAAAA",
            &sim(&gw).mp_login_code(&person("probe")),
            None,
        )
        .await;
    assert_eq!(unknown, 404, "{unknown_body}");
    assert_eq!(unknown_body["error"], "invalid_scene");

    let browser = Browser::new(&gw);
    let (id, _) = start_mp(&browser).await;
    let code = sim(&gw).mp_login_code(&person("replay"));
    let (status, _) = mp.confirm(&id, &code, None).await;
    assert_eq!(status, 200);
    // The same js_code on a fresh attempt: WeChat refuses it, and so do we (4xx, not 5xx).
    let (id2, _) = start_mp(&Browser::new(&gw)).await;
    let (status, body) = mp.confirm(&id2, &code, None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_code");
    // A confirmed attempt cannot be confirmed again: the same answer as an unknown scene.
    let (status, body) = mp
        .confirm(&id, &sim(&gw).mp_login_code(&person("again")), None)
        .await;
    assert_eq!((status, body), (unknown, unknown_body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_panel_plays_the_mini_program_page() {
    let (_e, gw) = gateway("required").await;
    // "returning" as the panel's phone plays it: confirmed at once; the session body.
    let returning = || async {
        let browser = Browser::new(&gw);
        let (id, _) = start_mp(&browser).await;
        assert_eq!(browser.demo_scan(&id, "returning").await.status, 200);
        let polled = browser.poll(&id, "waiting", 5).await;
        assert_eq!(polled.body["status"], "confirmed", "{}", polled.body);
        let session = browser
            .exchange(polled.body["ticket"].as_str().unwrap())
            .await;
        assert_eq!(session.status, 200, "{}", session.body);
        session.body
    };
    // Before anyone logged in, "returning" is the seeded user (known from the Official
    // Account, by unionid).
    assert_eq!(returning().await["user"]["phone"], "+8619999999999");

    let browser = Browser::new(&gw);
    let (id, _) = start_mp(&browser).await;
    let scanned = browser.demo_scan(&id, "new").await;
    assert_eq!(scanned.status, 200, "{}", scanned.body);
    // The new user shared a verified phone in the same tap: no SMS step.
    let polled = browser.poll(&id, "waiting", 5).await;
    assert_eq!(polled.body["status"], "confirmed", "{}", polled.body);
    let new = browser
        .exchange(polled.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(new.status, 200, "{}", new.body);
    // From then on "returning" is the one who just signed up.
    assert_eq!(returning().await["user"]["id"], new.body["user"]["id"]);
}
