//! The simulator over real HTTP: its API answers byte for byte, and its phone against a small
//! callback endpoint built on [`CallbackCodec`] (what the gateway does, minus pingora).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use super::*;
use crate::wechat::callback::{CallbackCodec, CallbackConfig, CallbackQuery, Inbound, Mode};
use crate::wechat::client::{ApiConfig, WechatClient};
use crate::wechat::message::PushKind;

const APP_ID: &str = "wx_sim_app_2";
const SECRET: &str = "sim-secret";
const TOKEN: &str = "callbacktoken";
const KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";

struct Endpoint {
    codec: CallbackCodec,
    seen: Mutex<Vec<Inbound>>,
}

/// A callback endpoint on 127.0.0.1:0 that verifies, records and answers "登录成功".
async fn start_endpoint(token: &str, key: Option<&str>) -> (String, Arc<Endpoint>) {
    let state = Arc::new(Endpoint {
        codec: CallbackCodec::new(CallbackConfig {
            app_id: APP_ID.into(),
            token: token.into(),
            encoding_aes_key: key.map(str::to_owned),
        })
        .unwrap(),
        seen: Mutex::new(Vec::new()),
    });
    async fn verify(State(s): State<Arc<Endpoint>>, RawQuery(q): RawQuery) -> (StatusCode, String) {
        let query = CallbackQuery::parse(&q.unwrap_or_default());
        match query.and_then(|q| s.codec.verify_url(&q, unix_now())) {
            Ok(echostr) => (StatusCode::OK, echostr),
            Err(e) => (StatusCode::BAD_REQUEST, e.label().to_owned()),
        }
    }
    async fn push(
        State(s): State<Arc<Endpoint>>,
        RawQuery(q): RawQuery,
        body: axum::body::Bytes,
    ) -> (StatusCode, String) {
        let now = unix_now();
        let query = CallbackQuery::parse(&q.unwrap_or_default());
        match query.and_then(|q| s.codec.open(&q, &body, now)) {
            Ok(inbound) => {
                let reply = match inbound.push.kind {
                    PushKind::Subscribe { .. } | PushKind::Scan { .. } => {
                        inbound.push.text_reply("登录成功", now)
                    }
                    _ => String::new(),
                };
                s.seen.lock().unwrap().push(inbound);
                (
                    StatusCode::OK,
                    s.codec
                        .seal_reply(&reply, now, "98765", b"abcdefghijklmnop"),
                )
            }
            Err(e) => (StatusCode::BAD_REQUEST, e.label().to_owned()),
        }
    }
    let app = Router::new()
        .route("/cb", get(verify).post(push))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb?route=wechat", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

async fn sim_for(callback_url: String, token: &str, key: Option<&str>) -> SimHandle {
    Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: SECRET.into(),
        token: token.into(),
        encoding_aes_key: key.map(str::to_owned),
        callback_url,
    })
    .await
    .unwrap()
}

fn client(sim: &SimHandle) -> WechatClient {
    WechatClient::new(ApiConfig {
        api_base: sim.api_base(),
        app_id: APP_ID.into(),
        app_secret: SECRET.into(),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

/// Creates a QR code through the real client, as the gateway would.
async fn ticket(sim: &SimHandle, scene: &str) -> String {
    client(sim)
        .create_qr_str_scene(scene, 300)
        .await
        .unwrap()
        .ticket
}

fn new_user() -> SimUser {
    SimUser {
        openid: "oNewUser".into(),
        unionid: Some("uNew".into()),
        follows: false,
    }
}

#[tokio::test]
async fn safe_mode_scan_by_a_new_user_then_by_a_follower() {
    let (url, endpoint) = start_endpoint(TOKEN, Some(KEY)).await;
    let sim = sim_for(url, TOKEN, Some(KEY)).await;
    let ticket = ticket(&sim, "login_abc").await;

    let outcome = sim.scan(&ticket, &new_user()).await.unwrap();
    assert_eq!(outcome.status, 200, "{}", outcome.body);
    assert!(
        outcome.body.contains("<Encrypt>"),
        "the reply travels encrypted"
    );
    assert_eq!(outcome.reply.text(), Some("登录成功"));

    let returning = SimUser {
        follows: true,
        ..new_user()
    };
    let outcome = sim.scan(&ticket, &returning).await.unwrap();
    assert_eq!(outcome.reply.text(), Some("登录成功"));

    let seen = endpoint.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].mode, Mode::Safe);
    assert_eq!(
        seen[0].push.kind,
        PushKind::Subscribe {
            scene: Some("login_abc".into()),
            ticket: Some(ticket.clone())
        }
    );
    assert_eq!(seen[0].push.header.from_user, "oNewUser");
    assert_eq!(seen[0].push.header.to_user, sim.original_id());
    assert_eq!(
        seen[1].push.kind,
        PushKind::Scan {
            scene: "login_abc".into(),
            ticket: Some(ticket.clone())
        }
    );
    assert_eq!(sim.counters().pushes, 2);

    // The follow is visible to user/info, with the unionid and the QR scene.
    let info = client(&sim).user_info("oNewUser").await.unwrap();
    assert!(info.subscribe);
    assert_eq!(info.unionid.as_deref(), Some("uNew"));
    assert_eq!(info.subscribe_scene.as_deref(), Some("ADD_SCENE_QR_CODE"));
    assert_eq!(info.qr_scene_str.as_deref(), Some("login_abc"));
}

#[tokio::test]
async fn shutdown_stops_the_api() {
    let sim = sim_for("http://127.0.0.1:9/".into(), TOKEN, None).await;
    let base = sim.api_base();
    assert!(reqwest::get(format!("{base}/cgi-bin/token")).await.is_ok());
    sim.shutdown().await;
    assert!(reqwest::get(format!("{base}/cgi-bin/token")).await.is_err());
}

#[tokio::test]
async fn compatible_and_plain_modes() {
    let (url, endpoint) = start_endpoint(TOKEN, Some(KEY)).await;
    let sim = sim_for(url, TOKEN, Some(KEY)).await;
    sim.set_push_mode(PushMode::Compatible);
    let ticket = ticket(&sim, "login_c").await;
    assert_eq!(
        sim.scan(&ticket, &new_user()).await.unwrap().reply.text(),
        Some("登录成功")
    );
    assert_eq!(endpoint.seen.lock().unwrap()[0].mode, Mode::Compatible);
    // Safe mode configured at the endpoint: a plain push is refused.
    sim.set_push_mode(PushMode::Plain);
    let refused = sim.scan(&ticket, &new_user()).await.unwrap();
    assert_eq!(
        (refused.status, refused.body.as_str()),
        (400, "mode_mismatch")
    );

    let (url, plain_endpoint) = start_endpoint(TOKEN, None).await;
    let sim = sim_for(url, TOKEN, None).await;
    let ticket = self::ticket(&sim, "login_p").await;
    let outcome = sim.scan(&ticket, &new_user()).await.unwrap();
    assert!(
        outcome.body.starts_with("<xml><ToUserName>"),
        "{}",
        outcome.body
    );
    assert_eq!(outcome.reply.text(), Some("登录成功"));
    assert_eq!(plain_endpoint.seen.lock().unwrap()[0].mode, Mode::Plain);
}

#[tokio::test]
async fn unknown_and_expired_tickets_push_nothing() {
    let (url, endpoint) = start_endpoint(TOKEN, Some(KEY)).await;
    let sim = sim_for(url, TOKEN, Some(KEY)).await;
    assert_eq!(
        sim.scan("nope", &new_user()).await.unwrap_err(),
        SimError::UnknownTicket
    );
    let ticket = ticket(&sim, "login_e").await;
    sim.expire_qr(&ticket);
    assert_eq!(
        sim.scan(&ticket, &new_user()).await.unwrap_err(),
        SimError::TicketExpired
    );
    assert_eq!(sim.counters().pushes, 0);
    assert!(endpoint.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn duplicates_and_junk() {
    let (url, endpoint) = start_endpoint(TOKEN, Some(KEY)).await;
    let sim = sim_for(url, TOKEN, Some(KEY)).await;
    let xml = event_xml(
        sim.original_id(),
        "oDup",
        unix_now(),
        "SCAN",
        Some("login_d"),
        Some("T"),
    );
    sim.push_raw(&xml).await.unwrap();
    sim.push_raw(&xml).await.unwrap();
    {
        let seen = endpoint.seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].push.dedupe_key(), seen[1].push.dedupe_key());
    }
    let text = text_xml(sim.original_id(), "oDup", unix_now(), "hello", 42);
    assert_eq!(sim.push_raw(&text).await.unwrap().reply, Reply::Empty);

    let junk = sim.push_raw("garbage").await.unwrap();
    assert_eq!((junk.status, junk.body.as_str()), (400, "xml"));
    assert!(matches!(junk.reply, Reply::Invalid(_)));

    let mut sealed = sim.seal(&xml);
    sealed.query = sealed.query.replace("msg_signature=", "msg_signature=0");
    assert_eq!(sim.post(&sealed).await.unwrap().body, "bad_msg_signature");
    let (status, body) = sim
        .post_bytes(&sim.seal(&xml).query, vec![b'x'; 70_000])
        .await
        .unwrap();
    assert_eq!((status, body.as_str()), (400, "too_large"));
}

#[tokio::test]
async fn url_verification_like_the_admin_console() {
    let (url, _) = start_endpoint(TOKEN, Some(KEY)).await;
    assert!(sim_for(url.clone(), TOKEN, Some(KEY))
        .await
        .verify_url()
        .await
        .unwrap());
    assert!(!sim_for(url, "othertoken", Some(KEY))
        .await
        .verify_url()
        .await
        .unwrap());
}

// --- The API, byte for byte.

async fn get_text(url: String) -> (String, String) {
    let response = reqwest::get(url).await.unwrap();
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.text().await.unwrap())
}

async fn post_text(url: String, body: &str) -> String {
    reqwest::Client::new()
        .post(url)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `{"errcode":N,"errmsg":"<text> rid: <id>"}` with the documented text.
fn assert_wx_error(body: &str, errcode: i64) {
    let prefix = format!(
        r#"{{"errcode":{errcode},"errmsg":"{} rid: "#,
        errmsg(errcode)
    );
    assert!(body.starts_with(&prefix) && body.ends_with("\"}"), "{body}");
}

#[tokio::test]
async fn token_endpoints() {
    let sim = sim_for("http://127.0.0.1:9/".into(), TOKEN, None).await;
    let base = sim.api_base();
    let (content_type, body) = get_text(format!(
        "{base}/cgi-bin/token?grant_type=client_credential&appid={APP_ID}&secret={SECRET}"
    ))
    .await;
    assert_eq!(content_type, "application/json; encoding=utf-8");
    let classic: Value = serde_json::from_str(&body).unwrap();
    assert!(
        body.starts_with(r#"{"access_token":""#) && body.ends_with(r#"","expires_in":7200}"#),
        "{body}"
    );

    let (_, body) = get_text(format!(
        "{base}/cgi-bin/token?grant_type=client_credential&appid={APP_ID}&secret=wrong"
    ))
    .await;
    assert_wx_error(&body, 40125);
    let (_, body) = get_text(format!(
        "{base}/cgi-bin/token?grant_type=client_credential&appid=wxnope&secret={SECRET}"
    ))
    .await;
    assert_wx_error(&body, 40013);
    let (_, body) = get_text(format!(
        "{base}/cgi-bin/token?grant_type=password&appid={APP_ID}&secret={SECRET}"
    ))
    .await;
    assert_wx_error(&body, 40002);

    let stable_url = format!("{base}/cgi-bin/stable_token");
    let request = format!(
        r#"{{"grant_type":"client_credential","appid":"{APP_ID}","secret":"{SECRET}","force_refresh":false}}"#
    );
    let first: Value =
        serde_json::from_str(&post_text(stable_url.clone(), &request).await).unwrap();
    let again: Value =
        serde_json::from_str(&post_text(stable_url.clone(), &request).await).unwrap();
    assert_eq!(
        first["access_token"], again["access_token"],
        "normal mode returns the same token"
    );
    assert_ne!(
        first["access_token"], classic["access_token"],
        "stable and classic tokens are separate"
    );
    assert_wx_error(
        &post_text(stable_url.clone(), &request.replace(SECRET, "wrong")).await,
        40125,
    );
    assert_wx_error(
        &post_text(stable_url.clone(), "grant_type=client_credential").await,
        47001,
    );

    // Force refresh: a new token; the old one is dead at once.
    let forced: Value =
        serde_json::from_str(&post_text(stable_url, &request.replace("false", "true")).await)
            .unwrap();
    assert_ne!(forced["access_token"], first["access_token"]);
    let qr_body = r#"{"expire_seconds":60,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"x"}}}"#;
    let old = first["access_token"].as_str().unwrap();
    assert_wx_error(
        &post_text(
            format!("{base}/cgi-bin/qrcode/create?access_token={old}"),
            qr_body,
        )
        .await,
        40001,
    );
    // A new classic token does not touch the stable one.
    get_text(format!(
        "{base}/cgi-bin/token?grant_type=client_credential&appid={APP_ID}&secret={SECRET}"
    ))
    .await;
    let fresh = forced["access_token"].as_str().unwrap();
    assert!(post_text(
        format!("{base}/cgi-bin/qrcode/create?access_token={fresh}"),
        qr_body
    )
    .await
    .starts_with(r#"{"ticket":""#));
    assert_eq!(sim.counters().token_calls, 5);
    assert_eq!(sim.counters().stable_token_calls, 5);
}

#[tokio::test]
async fn qrcode_create_answers() {
    let sim = sim_for("http://127.0.0.1:9/".into(), TOKEN, None).await;
    let base = sim.api_base();
    let token: Value = serde_json::from_str(
        &post_text(
            format!("{base}/cgi-bin/stable_token"),
            &format!(
                r#"{{"grant_type":"client_credential","appid":"{APP_ID}","secret":"{SECRET}"}}"#
            ),
        )
        .await,
    )
    .unwrap();
    let url = format!(
        "{base}/cgi-bin/qrcode/create?access_token={}",
        token["access_token"].as_str().unwrap()
    );

    let body = post_text(url.clone(), r#"{"expire_seconds":300,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"login_3q2Xk9"}}}"#).await;
    // Field order as documented: ticket, expire_seconds, url.
    let ticket_end = body
        .find(r#"","expire_seconds":300,"url":"http://weixin.qq.com/q/"#)
        .unwrap_or_else(|| panic!("{body}"));
    let ticket = &body[r#"{"ticket":""#.len()..ticket_end];
    assert_eq!(sim.scene_of(ticket).as_deref(), Some("login_3q2Xk9"));

    let ticket_of = |body: &str| {
        serde_json::from_str::<Value>(body).unwrap()["ticket"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let int = post_text(url.clone(), r#"{"expire_seconds":604800,"action_name":"QR_SCENE","action_info":{"scene":{"scene_id":123}}}"#).await;
    assert_eq!(sim.scene_of(&ticket_of(&int)).as_deref(), Some("123"));
    // No `scene` wrapper: no error, but scene 0 (pitfall 10).
    let unwrapped = post_text(
        url.clone(),
        r#"{"expire_seconds":60,"action_name":"QR_STR_SCENE","action_info":{"scene_str":"x"}}"#,
    )
    .await;
    assert_eq!(sim.scene_of(&ticket_of(&unwrapped)).as_deref(), Some("0"));
    // Default lifetime 60 s; permanent codes have none.
    let default = post_text(
        url.clone(),
        r#"{"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"x"}}}"#,
    )
    .await;
    assert!(default.contains(r#""expire_seconds":60,"#), "{default}");
    let permanent = post_text(
        url.clone(),
        r#"{"action_name":"QR_LIMIT_STR_SCENE","action_info":{"scene":{"scene_str":"x"}}}"#,
    )
    .await;
    assert!(!permanent.contains("expire_seconds"), "{permanent}");

    let long = format!(
        r#"{{"action_name":"QR_STR_SCENE","action_info":{{"scene":{{"scene_str":"{}"}}}}}}"#,
        "x".repeat(65)
    );
    assert_wx_error(&post_text(url.clone(), &long).await, 40053);
    assert_wx_error(
        &post_text(url.clone(), r#"{"action_name":"QR_NOPE"}"#).await,
        40053,
    );
    assert_wx_error(
        &post_text(url.clone(), "action_name=QR_STR_SCENE").await,
        47001,
    );
    assert_wx_error(
        &post_text(format!("{base}/cgi-bin/qrcode/create"), "{}").await,
        41001,
    );
    assert_wx_error(
        &post_text(
            format!("{base}/cgi-bin/qrcode/create?access_token=forged"),
            "{}",
        )
        .await,
        40001,
    );
}

#[tokio::test]
async fn expired_tokens_answer_42001() {
    let sim = sim_for("http://127.0.0.1:9/".into(), TOKEN, None).await;
    sim.set_token_ttl(Duration::from_secs(1));
    let base = sim.api_base();
    let (_, body) = get_text(format!(
        "{base}/cgi-bin/token?grant_type=client_credential&appid={APP_ID}&secret={SECRET}"
    ))
    .await;
    assert!(body.ends_with(r#""expires_in":1}"#), "{body}");
    let token: Value = serde_json::from_str(&body).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, body) = get_text(format!(
        "{base}/cgi-bin/user/info?access_token={}&openid=o",
        token["access_token"].as_str().unwrap()
    ))
    .await;
    assert_wx_error(&body, 42001);
}

#[tokio::test]
async fn user_info_answers() {
    let sim = sim_for("http://127.0.0.1:9/".into(), TOKEN, None).await;
    let base = sim.api_base();
    let (_, body) = get_text(format!(
        "{base}/cgi-bin/token?grant_type=client_credential&appid={APP_ID}&secret={SECRET}"
    ))
    .await;
    let token = serde_json::from_str::<Value>(&body).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.add_user(&SimUser {
        openid: "oA".into(),
        unionid: Some("uA".into()),
        follows: true,
    });
    sim.add_user(&SimUser {
        openid: "oB".into(),
        unionid: None,
        follows: true,
    });
    sim.add_user(&SimUser {
        openid: "oC".into(),
        unionid: None,
        follows: false,
    });
    let info = |openid: &str| {
        get_text(format!(
            "{base}/cgi-bin/user/info?access_token={token}&openid={openid}&lang=zh_CN"
        ))
    };

    let (_, a) = info("oA").await;
    assert!(
        a.starts_with(r#"{"subscribe":1,"openid":"oA","subscribe_time":"#),
        "{a}"
    );
    assert!(a.contains(r#","unionid":"uA","remark":"","groupid":0,"tagid_list":[],"subscribe_scene":"ADD_SCENE_SEARCH","qr_scene":0,"qr_scene_str":""}"#), "{a}");
    let (_, b) = info("oB").await;
    assert!(!b.contains("unionid"), "{b}");
    assert_eq!(
        info("oC").await.1,
        r#"{"subscribe":0,"openid":"oC","tagid_list":[]}"#
    );
    assert_wx_error(&info("oNobody").await.1, 40003);
    assert_wx_error(&info("").await.1, 41009);
}

#[test]
fn debug_output_hides_secrets() {
    let config = SimConfig {
        app_id: APP_ID.into(),
        app_secret: SECRET.into(),
        token: TOKEN.into(),
        encoding_aes_key: Some(KEY.into()),
        callback_url: "http://x/cb".into(),
    };
    let shown = format!("{config:?}");
    assert!(
        !shown.contains(SECRET) && !shown.contains(TOKEN) && !shown.contains(KEY),
        "{shown}"
    );
}

/// The demo and the gateway run these on a multi-threaded runtime (a compile-time check).
#[test]
fn futures_and_handles_are_send() {
    fn send<T: Send>(_: &T) {}
    fn shareable<T: Send + Sync>() {}
    shareable::<SimHandle>();
    shareable::<WechatClient>();
    shareable::<CallbackCodec>();
    async fn all(sim: SimHandle, client: WechatClient, user: SimUser) {
        send(&sim.scan("t", &user));
        send(&sim.push_raw("x"));
        send(&sim.verify_url());
        send(&client.create_qr_str_scene("s", 60));
        send(&client.user_info("o"));
        send(&client.access_token());
        send(&sim.shutdown());
    }
    let _ = all;
}
