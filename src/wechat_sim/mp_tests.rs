//! The simulated Mini Program over real HTTP, byte for byte, and the phone's page against a
//! small recording endpoint.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing;
use axum::Router;
use serde_json::{json, Value};

use super::png::tests::decode_gray8;
use super::*;

const OA_APP_ID: &str = "wx_oa_sim";
const OA_SECRET: &str = "oa-sim-secret";
const MP_APP_ID: &str = "wx_mp_sim";
const MP_SECRET: &str = "mp-sim-secret";

async fn sim() -> SimHandle {
    Simulator::start(SimConfig {
        app_id: OA_APP_ID.into(),
        app_secret: OA_SECRET.into(),
        token: "cbtoken".into(),
        encoding_aes_key: None,
        callback_url: "http://127.0.0.1:9/unused".into(),
    })
    .await
    .unwrap()
}

async fn mp_sim() -> SimHandle {
    let sim = sim().await;
    sim.add_mini_program(MP_APP_ID, MP_SECRET);
    sim
}

/// Status, `Content-Type` and body bytes.
async fn send(request: reqwest::RequestBuilder) -> (u16, String, Vec<u8>) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

async fn post(url: String, body: &str) -> (u16, String, Vec<u8>) {
    send(reqwest::Client::new().post(url).body(body.to_owned())).await
}

async fn get(url: String) -> String {
    let (_, _, body) = send(reqwest::Client::new().get(url)).await;
    String::from_utf8(body).unwrap()
}

async fn stable_token(sim: &SimHandle, app_id: &str, secret: &str) -> String {
    let (_, _, body) = post(
        format!("{}/cgi-bin/stable_token", sim.api_base()),
        &format!(r#"{{"grant_type":"client_credential","appid":"{app_id}","secret":"{secret}"}}"#),
    )
    .await;
    String::from_utf8(body).unwrap()
}

async fn token_of(sim: &SimHandle, app_id: &str, secret: &str) -> String {
    let body = stable_token(sim, app_id, secret).await;
    serde_json::from_str::<Value>(&body).unwrap()["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

/// `{"errcode":N,"errmsg":"<text> rid: <id>"}` with the documented text.
fn assert_wx_error(body: &[u8], errcode: i64) {
    let body = std::str::from_utf8(body).unwrap();
    let prefix = format!(
        r#"{{"errcode":{errcode},"errmsg":"{} rid: "#,
        errmsg(errcode)
    );
    assert!(body.starts_with(&prefix) && body.ends_with("\"}"), "{body}");
}

#[tokio::test]
async fn the_mini_program_has_its_own_tokens() {
    let sim = sim().await;
    assert_wx_error(
        stable_token(&sim, MP_APP_ID, MP_SECRET).await.as_bytes(),
        40013,
    );
    sim.add_mini_program(MP_APP_ID, MP_SECRET);
    assert_wx_error(
        stable_token(&sim, MP_APP_ID, OA_SECRET).await.as_bytes(),
        40125,
    );
    let mp = token_of(&sim, MP_APP_ID, MP_SECRET).await;
    let oa = token_of(&sim, OA_APP_ID, OA_SECRET).await;
    assert_ne!(mp, oa);
    assert_eq!(
        token_of(&sim, MP_APP_ID, MP_SECRET).await,
        mp,
        "normal mode: the same token"
    );
    assert_eq!(token_of(&sim, OA_APP_ID, OA_SECRET).await, oa);
    let base = sim.api_base();
    // Each account's token opens only its own APIs (48001 api unauthorized).
    let (_, _, body) = post(
        format!("{base}/wxa/getwxacodeunlimit?access_token={oa}"),
        r#"{"scene":"s"}"#,
    )
    .await;
    assert_wx_error(&body, 48001);
    let (_, _, body) = post(
        format!("{base}/cgi-bin/qrcode/create?access_token={mp}"),
        r#"{"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"x"}}}"#,
    )
    .await;
    assert_wx_error(&body, 48001);
    // The classic endpoint serves the Mini Program too, without touching its stable token.
    let classic = get(format!(
        "{base}/cgi-bin/token?grant_type=client_credential&appid={MP_APP_ID}&secret={MP_SECRET}"
    ))
    .await;
    assert!(classic.starts_with(r#"{"access_token":""#), "{classic}");
    let (_, content_type, _) = post(
        format!("{base}/wxa/getwxacodeunlimit?access_token={mp}"),
        r#"{"scene":"s"}"#,
    )
    .await;
    assert_eq!(content_type, "image/png");
}

#[tokio::test]
async fn getwxacodeunlimit_answers() {
    let sim = mp_sim().await;
    let token = token_of(&sim, MP_APP_ID, MP_SECRET).await;
    let url = format!(
        "{}/wxa/getwxacodeunlimit?access_token={token}",
        sim.api_base()
    );

    let (status, content_type, image) = post(
        url.clone(),
        r#"{"scene":"a=1&b=2","page":"pages/login/index","check_path":true,"env_version":"release"}"#,
    )
    .await;
    assert_eq!((status, content_type.as_str()), (200, "image/png"));
    let (width, height, pixels) = decode_gray8(&image);
    assert_eq!((width, height), (430, 430), "WeChat's default width");
    assert!(pixels.contains(&0) && pixels.contains(&255));
    assert_eq!(sim.wxacodes()[0].scene, "a=1&b=2");

    for (width, expected) in [("100", 280), ("1280", 1280), ("5000", 1280)] {
        let (_, _, image) = post(url.clone(), &format!(r#"{{"scene":"s","width":{width}}}"#)).await;
        assert_eq!(decode_gray8(&image).0, expected, "width {width} is clamped");
    }

    let errors = [
        (r#"{"scene":""}"#, 40169),
        (r#"{"page":"pages/login/index"}"#, 40169),
        (r#"{"scene":"123456789012345678901234567890123"}"#, 40169),
        ("scene=abc", 40169),
        (r#"{"scene":"a b"}"#, 40129),
        (r#"{"scene":"登录"}"#, 40129),
        (r#"{"scene":"100%"}"#, 40129),
        (r#"{"scene":"s","page":"/pages/login/index"}"#, 41030),
        (r#"{"scene":"s","page":"pages/login/index?a=1"}"#, 41030),
        (r#"{"scene":"s","env_version":"production"}"#, 40097),
    ];
    for (body, errcode) in errors {
        let (status, content_type, answer) = post(url.clone(), body).await;
        assert_eq!(
            (status, content_type.as_str()),
            (200, "application/json; encoding=utf-8"),
            "{body}"
        );
        assert_wx_error(&answer, errcode);
    }

    sim.unpublish_mp_page("pages/draft/index");
    let (_, _, answer) = post(url.clone(), r#"{"scene":"s","page":"pages/draft/index"}"#).await;
    assert_wx_error(&answer, 41030);
    let (_, content_type, _) = post(
        url.clone(),
        r#"{"scene":"s","page":"pages/draft/index","check_path":false,"env_version":"develop"}"#,
    )
    .await;
    assert_eq!(content_type, "image/png");

    let (_, _, answer) = post(
        format!("{}/wxa/getwxacodeunlimit", sim.api_base()),
        r#"{"scene":"s"}"#,
    )
    .await;
    assert_wx_error(&answer, 41001);
    assert_eq!(
        sim.counters().wxacode_calls,
        1 + 3 + errors.len() as u64 + 2 + 1
    );
}

#[tokio::test]
async fn jscode2session_answers() {
    let sim = mp_sim().await;
    let base = sim.api_base();
    let url = |appid: &str, secret: &str, code: &str| {
        format!("{base}/sns/jscode2session?appid={appid}&secret={secret}&js_code={code}&grant_type=authorization_code")
    };
    let alice = SimUser {
        openid: "oAliceOA".into(),
        unionid: Some("uAlice".into()),
        follows: true,
    };
    let code = sim.mp_login_code(&alice);
    assert_eq!(code.len(), 32);
    let body = get(url(MP_APP_ID, MP_SECRET, &code)).await;
    let openid = sim.mp_openid(&alice);
    let prefix = format!(r#"{{"openid":"{openid}","session_key":""#);
    assert!(
        body.starts_with(&prefix) && body.ends_with(r#"","unionid":"uAlice"}"#),
        "{body}"
    );
    let session_key = serde_json::from_str::<Value>(&body).unwrap()["session_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(session_key.len(), 24, "Base64 of 16 bytes");

    assert_wx_error(
        get(url(MP_APP_ID, MP_SECRET, &code)).await.as_bytes(),
        40163,
    );
    assert_wx_error(
        get(url(MP_APP_ID, MP_SECRET, "nope")).await.as_bytes(),
        40029,
    );
    let fresh = sim.mp_login_code(&alice);
    assert_wx_error(get(url(MP_APP_ID, "wrong", &fresh)).await.as_bytes(), 40125);
    assert_wx_error(
        get(url("wx_nobody", MP_SECRET, &fresh)).await.as_bytes(),
        40013,
    );
    // The Official Account's credentials are valid, but the code is not theirs.
    assert_wx_error(
        get(url(OA_APP_ID, OA_SECRET, &fresh)).await.as_bytes(),
        40029,
    );
    assert_wx_error(get(url(MP_APP_ID, MP_SECRET, "")).await.as_bytes(), 41008);
    assert_wx_error(
        get(format!(
            "{base}/sns/jscode2session?appid={MP_APP_ID}&secret={MP_SECRET}&js_code={fresh}"
        ))
        .await
        .as_bytes(),
        40002,
    );
    // Failed attempts did not use the code up.
    assert!(get(url(MP_APP_ID, MP_SECRET, &fresh))
        .await
        .starts_with(r#"{"openid":""#));

    let bob = SimUser {
        openid: "oBob".into(),
        unionid: None,
        follows: false,
    };
    let body = get(url(MP_APP_ID, MP_SECRET, &sim.mp_login_code(&bob))).await;
    assert!(!body.contains("unionid"), "{body}");
    assert!(body.contains(&sim.mp_openid(&bob)), "{body}");

    let stale = sim.mp_login_code(&bob);
    sim.expire_mp_code(&stale);
    assert_wx_error(
        get(url(MP_APP_ID, MP_SECRET, &stale)).await.as_bytes(),
        40029,
    );
    assert_eq!(sim.counters().jscode2session_calls, 11);
}

#[tokio::test]
async fn getuserphonenumber_answers() {
    let sim = mp_sim().await;
    let token = token_of(&sim, MP_APP_ID, MP_SECRET).await;
    let url = format!(
        "{}/wxa/business/getuserphonenumber?access_token={token}",
        sim.api_base()
    );
    let code = sim.mp_phone_code("13800138000");
    assert_eq!(code.len(), 64);
    let (_, content_type, body) = post(url.clone(), &format!(r#"{{"code":"{code}"}}"#)).await;
    assert_eq!(content_type, "application/json; encoding=utf-8");
    let body = String::from_utf8(body).unwrap();
    let prefix = r#"{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86","watermark":{"timestamp":"#;
    assert!(body.starts_with(prefix), "{body}");
    assert!(
        body.ends_with(&format!(r#","appid":"{MP_APP_ID}"}}}}}}"#)),
        "{body}"
    );

    let (_, _, again) = post(url.clone(), &format!(r#"{{"code":"{code}"}}"#)).await;
    assert_wx_error(&again, 40029);
    let (_, _, unknown) = post(url.clone(), r#"{"code":"abc"}"#).await;
    assert_wx_error(&unknown, 40029);
    let stale = sim.mp_phone_code("13800138000");
    sim.expire_mp_code(&stale);
    let (_, _, expired) = post(url.clone(), &format!(r#"{{"code":"{stale}"}}"#)).await;
    assert_wx_error(&expired, 40029);
    let (_, _, missing) = post(url.clone(), "{}").await;
    assert_wx_error(&missing, 41008);
    let (_, _, form) = post(url.clone(), "code=abc").await;
    assert_wx_error(&form, 47001);
    sim.fail_next(SimApi::GetUserPhoneNumber, 45011);
    let (_, _, limited) = post(url, r#"{"code":"abc"}"#).await;
    assert_wx_error(&limited, 45011);
    assert_eq!(sim.counters().phone_number_calls, 7);
}

// --- The page on the phone.

#[derive(Default)]
struct Recorded {
    requests: std::sync::Mutex<Vec<(String, String, Value)>>,
}

/// `POST /.auth/mp/{action}` recording (action, content type, JSON body); `cancel` answers
/// plain text to exercise the non-JSON path.
async fn gateway() -> (String, Arc<Recorded>) {
    async fn handle(
        State(seen): State<Arc<Recorded>>,
        Path(action): Path<String>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> (StatusCode, String) {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        seen.requests
            .lock()
            .unwrap()
            .push((action.clone(), content_type, body));
        match action.as_str() {
            "cancel" => (StatusCode::OK, "cancelled".into()),
            "confirm" => (
                StatusCode::BAD_REQUEST,
                json!({"error":"invalid_code"}).to_string(),
            ),
            _ => (StatusCode::OK, json!({"status":"scanned"}).to_string()),
        }
    }
    let seen = Arc::new(Recorded::default());
    let app = Router::new()
        .route("/.auth/mp/{action}", routing::post(handle))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

#[tokio::test]
async fn the_page_posts_what_the_mini_program_sends() {
    let (base, seen) = gateway().await;
    let page = MpPage::new(&base, "/.auth/");
    assert_eq!(
        page.scanned("sc3ne").await,
        (200, json!({"status":"scanned"}))
    );
    assert_eq!(
        page.confirm("sc3ne", "js", Some("ph")).await,
        (400, json!({"error":"invalid_code"}))
    );
    page.confirm("sc3ne", "js2", None).await;
    assert_eq!(
        page.cancel("sc3ne").await,
        (200, Value::String("cancelled".into()))
    );
    let requests = seen.requests.lock().unwrap().clone();
    let expected = [
        ("scanned", json!({"scene":"sc3ne"})),
        (
            "confirm",
            json!({"scene":"sc3ne","code":"js","phone_code":"ph"}),
        ),
        ("confirm", json!({"scene":"sc3ne","code":"js2"})),
        ("cancel", json!({"scene":"sc3ne"})),
    ];
    assert_eq!(requests.len(), expected.len());
    for ((action, content_type, body), (want_action, want_body)) in requests.iter().zip(expected) {
        assert_eq!(action, want_action);
        assert_eq!(content_type, "application/json");
        assert_eq!(body, &want_body);
    }

    let (status, answer) = MpPage::new("http://127.0.0.1:9", "/.auth")
        .scanned("s")
        .await;
    assert_eq!(status, 0);
    assert!(answer["error"].is_string(), "{answer}");
}

#[test]
fn the_page_and_the_mini_program_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    async fn all(page: MpPage, client: crate::wechat::WechatClient) {
        send(&page.scanned("s"));
        send(&page.confirm("s", "c", None));
        send(&page.cancel("s"));
        send(&client.wxacode_unlimited(&Default::default()));
        send(&client.code_to_session("c"));
        send(&client.phone_number("c", None));
    }
    let _ = all;
}
