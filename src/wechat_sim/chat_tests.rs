//! The phone's everyday pushes (text, menu click, follow, unfollow) against a small callback
//! that checks every signature with its own SHA-1 (not the crate's signature code) and then
//! opens the push with [`CallbackCodec`], in plain and in safe mode.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use sha1::{Digest, Sha1};

use super::wire::element_text;
use super::*;
use crate::wechat::callback::{CallbackCodec, CallbackConfig, CallbackQuery, Inbound, Mode};
use crate::wechat::client::{ApiConfig, WechatClient};
use crate::wechat::crypto::MsgCrypt;
use crate::wechat::message::PushKind;

const APP_ID: &str = "wx_sim_chat";
const SECRET: &str = "chat-secret";
const TOKEN: &str = "chattoken";
const KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";

/// What the endpoint saw of one push.
#[derive(Debug, Clone)]
struct Seen {
    inbound: Inbound,
    /// The message XML: the body in plain mode, the decrypted `Encrypt` otherwise.
    plaintext: String,
    /// The raw body, as POSTed.
    body: String,
}

struct Endpoint {
    codec: CallbackCodec,
    crypt: Option<MsgCrypt>,
    seen: Mutex<Vec<Seen>>,
}

/// SHA-1 over the sorted, concatenated parts, in lower-case hex: how WeChat's documentation
/// defines both `signature` and `msg_signature`, written out again here.
fn sha1_sorted(parts: &[&str]) -> String {
    let mut parts = parts.to_vec();
    parts.sort_unstable();
    Sha1::digest(parts.concat().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn start_endpoint(key: Option<&str>) -> (String, Arc<Endpoint>) {
    let state = Arc::new(Endpoint {
        codec: CallbackCodec::new(CallbackConfig {
            app_id: APP_ID.into(),
            token: TOKEN.into(),
            encoding_aes_key: key.map(str::to_owned),
        })
        .unwrap(),
        crypt: key.map(|k| MsgCrypt::new(k, APP_ID).unwrap()),
        seen: Mutex::new(Vec::new()),
    });
    async fn push(
        State(s): State<Arc<Endpoint>>,
        RawQuery(q): RawQuery,
        body: axum::body::Bytes,
    ) -> (StatusCode, String) {
        let now = unix_now();
        let query = CallbackQuery::parse(&q.unwrap_or_default()).unwrap();
        let (ts, nonce) = (
            query.timestamp.clone().unwrap(),
            query.nonce.clone().unwrap(),
        );
        // The independent checks: the URL signature always, msg_signature over Encrypt in
        // encrypted modes.
        if query.signature.as_deref() != Some(sha1_sorted(&[TOKEN, &ts, &nonce]).as_str()) {
            return (StatusCode::FORBIDDEN, "independent signature check".into());
        }
        let body_text = String::from_utf8(body.to_vec()).unwrap();
        let plaintext = match &s.crypt {
            None => body_text.clone(),
            Some(crypt) => {
                let encrypt = element_text(&body_text, "Encrypt").unwrap();
                let expected = sha1_sorted(&[TOKEN, &ts, &nonce, &encrypt]);
                if query.msg_signature.as_deref() != Some(expected.as_str()) {
                    return (
                        StatusCode::FORBIDDEN,
                        "independent msg_signature check".into(),
                    );
                }
                crypt.decrypt(&encrypt).unwrap()
            }
        };
        let inbound = match s.codec.open(&query, &body, now) {
            Ok(inbound) => inbound,
            Err(e) => return (StatusCode::BAD_REQUEST, e.label().to_owned()),
        };
        let reply = match &inbound.push.kind {
            PushKind::Text { content } => inbound.push.text_reply(&format!("echo: {content}"), now),
            PushKind::Subscribe { .. } => inbound.push.text_reply("welcome", now),
            PushKind::Other { event, .. } if event.as_deref() == Some("CLICK") => {
                let key = element_text(&plaintext, "EventKey").unwrap_or_default();
                inbound.push.text_reply(&format!("clicked {key}"), now)
            }
            _ => String::new(),
        };
        s.seen.lock().unwrap().push(Seen {
            inbound,
            plaintext,
            body: body_text,
        });
        (
            StatusCode::OK,
            s.codec
                .seal_reply(&reply, now, "24680", b"0123456789abcdef"),
        )
    }
    let app = Router::new()
        .route("/wechat", post(push))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/wechat", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

async fn sim_for(callback_url: String, key: Option<&str>) -> SimHandle {
    Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: SECRET.into(),
        token: TOKEN.into(),
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

/// Follow, write twice, click, unfollow: each push arrives signed (and sealed) for `key`'s
/// mode and the reply comes back as WeChat reads it.
async fn everyday_pushes(key: Option<&str>, mode: Mode) {
    let (url, endpoint) = start_endpoint(key).await;
    let sim = sim_for(url, key).await;
    let user = SimUser {
        openid: "oChatter".into(),
        unionid: Some("uChatter".into()),
        follows: false,
    };

    let outcome = sim.follow(&user).await.unwrap();
    assert_eq!(outcome.status, 200, "{}", outcome.body);
    assert_eq!(outcome.reply.text(), Some("welcome"));
    let info = client(&sim).user_info("oChatter").await.unwrap();
    assert!(info.subscribe);
    assert_eq!(info.subscribe_scene.as_deref(), Some("ADD_SCENE_SEARCH"));
    assert_eq!(info.unionid.as_deref(), Some("uChatter"));

    let first = sim.send_text(&user, "你好 <b> & ]]> bye").await.unwrap();
    assert_eq!(first.reply.text(), Some("echo: 你好 <b> & ]]> bye"));
    let second = sim.send_text(&user, "again").await.unwrap();
    assert_eq!(second.reply.text(), Some("echo: again"));

    let click = sim.click_menu(&user, "V1001_GOOD").await.unwrap();
    assert_eq!(click.reply.text(), Some("clicked V1001_GOOD"));

    let gone = sim.unfollow(&user).await.unwrap();
    assert_eq!((gone.status, &gone.reply), (200, &Reply::Empty));
    assert!(!client(&sim).user_info("oChatter").await.unwrap().subscribe);

    let seen = endpoint.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5);
    assert_eq!(sim.counters().pushes, 5);
    for s in &seen {
        assert_eq!(s.inbound.mode, mode);
        assert_eq!(s.inbound.push.header.from_user, "oChatter");
        assert_eq!(s.inbound.push.header.to_user, sim.original_id());
        if mode == Mode::Safe {
            assert!(
                !s.body.contains("<MsgType>"),
                "safe mode carries only ToUserName and Encrypt: {}",
                s.body
            );
        }
    }

    assert_eq!(
        seen[0].inbound.push.kind,
        PushKind::Subscribe {
            scene: None,
            ticket: None
        }
    );
    assert_eq!(element_text(&seen[0].plaintext, "EventKey"), None);
    assert_eq!(seen[0].inbound.push.header.msg_id, None);

    assert_eq!(
        seen[1].inbound.push.kind,
        PushKind::Text {
            content: "你好 <b> & ]]> bye".into()
        }
    );
    let ids: Vec<String> = seen[1..3]
        .iter()
        .map(|s| s.inbound.push.header.msg_id.clone().unwrap())
        .collect();
    for id in &ids {
        assert!(
            id.len() >= 17 && id.parse::<u64>().is_ok(),
            "a 64-bit MsgId: {id}"
        );
    }
    assert_ne!(ids[0], ids[1]);

    assert_eq!(
        seen[3].inbound.push.kind,
        PushKind::Other {
            msg_type: "event".into(),
            event: Some("CLICK".into())
        }
    );
    assert_eq!(
        element_text(&seen[3].plaintext, "EventKey").as_deref(),
        Some("V1001_GOOD")
    );
    assert_eq!(seen[4].inbound.push.kind, PushKind::Unsubscribe);
}

#[tokio::test]
async fn everyday_pushes_in_plain_mode() {
    everyday_pushes(None, Mode::Plain).await;
}

#[tokio::test]
async fn everyday_pushes_in_safe_mode() {
    everyday_pushes(Some(KEY), Mode::Safe).await;
}

#[tokio::test]
async fn a_wrong_token_fails_the_independent_check() {
    let (url, endpoint) = start_endpoint(None).await;
    let sim = Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: SECRET.into(),
        token: "not-the-token".into(),
        encoding_aes_key: None,
        callback_url: url,
    })
    .await
    .unwrap();
    let user = SimUser {
        openid: "oX".into(),
        unionid: None,
        follows: true,
    };
    let outcome = sim.send_text(&user, "hi").await.unwrap();
    assert_eq!(
        (outcome.status, outcome.body.as_str()),
        (403, "independent signature check")
    );
    assert!(endpoint.seen.lock().unwrap().is_empty());
}

/// The phone's futures run on the gateway's multi-threaded runtime in tests (compile-time).
#[test]
fn chat_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    async fn all(sim: SimHandle, user: SimUser) {
        send(&sim.send_text(&user, "x"));
        send(&sim.click_menu(&user, "k"));
        send(&sim.follow(&user));
        send(&sim.unfollow(&user));
    }
    let _ = all;
}
