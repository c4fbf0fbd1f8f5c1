//! Owning the Official Account's callback: pushes that are not logins reach the account's own
//! backend byte for byte (its own signature check still works), its reply is relayed when it
//! comes in time, a slow or dead backend never breaks login, and auto-replies from the config
//! answer in plain and safe mode.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scangate::demo::Demo;
use scangate::wechat::{CallbackCodec, CallbackConfig};
use scangate::wechat_sim::{event_xml, text_xml, SimHandle};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::browser::Browser;
use crate::harness::*;

pub(crate) const TOKEN: &str = "fwdtoken";
pub(crate) const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub(crate) const APP_ID: &str = "wx00000000000000cc";

/// One push as the account's own backend received it.
#[derive(Clone, Debug)]
pub(crate) struct ReceivedPush {
    pub target: String,
    /// The request head, lower-cased.
    pub head: String,
    pub body: Vec<u8>,
}

impl ReceivedPush {
    /// The value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    }
}

/// What the account's own backend received.
pub(crate) type Received = Arc<Mutex<Vec<ReceivedPush>>>;

/// The account's own backend: records each push, waits `delay`, answers what `reply` holds
/// at that moment.
pub(crate) async fn backend(delay: Duration, reply: Arc<Mutex<Vec<u8>>>) -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received: Received = Arc::default();
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (log, reply) = (log.clone(), reply.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head_end, len) = loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let target = head.split(' ').nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push(ReceivedPush {
                    target,
                    head: head.to_ascii_lowercase(),
                    body: buf[head_end..].to_vec(),
                });
                tokio::time::sleep(delay).await;
                let reply = reply.lock().unwrap().clone();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    reply.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&reply).await;
            });
        }
    });
    (addr, received)
}

/// A gateway owning the account (safe mode unless `aes` is false), with `extra` account keys.
pub(crate) async fn gateway(aes: bool, account_extra: &str) -> (Echo, Gateway) {
    let app = Echo::start("app").await;
    let aes_line = if aes {
        format!("    encoding_aes_key: \"{AES_KEY}\"\n")
    } else {
        String::new()
    };
    let gw = Gateway::start(&format!(
        "wechat:\n  simulate: true\n  official_account:\n    app_id: \"{APP_ID}\"\n    app_secret: \"s\"\n    token: \"{TOKEN}\"\n{aes_line}{account_extra}login:\n  phone: \"off\"\nroutes:\n  - name: app\n    upstreams: [\"{}\"]\n",
        app.addr
    ))
    .await;
    (app, gw)
}

pub(crate) fn sim(gw: &Gateway) -> &SimHandle {
    &Demo::of(gw.app()).expect("the demo runs").simulator
}

fn query_param<'a>(query: &'a str, name: &str) -> &'a str {
    query
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .unwrap_or("")
}

fn sha1_sorted(mut parts: Vec<&str>) -> String {
    parts.sort_unstable();
    Sha1::digest(parts.concat().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_reach_the_backend_byte_for_byte_and_its_reply_is_relayed() {
    // The backend answers with a reply it sealed itself, with the account's Token and key.
    let codec = CallbackCodec::new(CallbackConfig {
        app_id: APP_ID.into(),
        token: TOKEN.into(),
        encoding_aes_key: Some(AES_KEY.into()),
    })
    .unwrap();
    let reply = Arc::new(Mutex::new(Vec::new()));
    let (addr, received) = backend(Duration::ZERO, reply.clone()).await;
    let (_app, gw) = gateway(true, &format!("    forward_url: \"http://{addr}/wx\"\n")).await;
    let s = sim(&gw);
    let xml = text_xml(s.original_id(), "o_fan", now(), "hello backend", 4242);
    let reply_xml =
        scangate::wechat::reply::text_reply("o_fan", s.original_id(), now(), "from the backend");
    *reply.lock().unwrap() = codec
        .seal_reply(&reply_xml, now(), "12345", &[7u8; 16])
        .into_bytes();
    let sealed = s.seal(&xml);
    let outcome = s.post(&sealed).await.unwrap();
    assert_eq!(outcome.status, 200);
    assert_eq!(
        outcome.reply.text(),
        Some("from the backend"),
        "{:?}",
        outcome.reply
    );

    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let ReceivedPush { target, body, .. } = &got[0];
    // Who sent it, for a backend that checks WeChat's addresses.
    assert_eq!(got[0].header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(got[0].header("x-real-ip"), Some("127.0.0.1"));
    assert_eq!(
        got[0].header("user-agent"),
        Some(
            scangate::wechat_sim::PUSH_USER_AGENT
                .to_ascii_lowercase()
                .as_str()
        )
    );
    assert_eq!(
        target,
        &format!("/wx?{}", sealed.query),
        "the query as WeChat sent it"
    );
    assert_eq!(body, sealed.body.as_bytes(), "the body byte for byte");
    // An independent signature check, as the backend would do it.
    let q = target.split_once('?').unwrap().1;
    let (ts, nonce) = (query_param(q, "timestamp"), query_param(q, "nonce"));
    assert_eq!(
        query_param(q, "signature"),
        sha1_sorted(vec![TOKEN, ts, nonce])
    );
    let body = String::from_utf8(body.clone()).unwrap();
    let encrypt = body
        .split("<Encrypt><![CDATA[")
        .nth(1)
        .and_then(|r| r.split("]]>").next())
        .unwrap();
    assert_eq!(
        query_param(q, "msg_signature"),
        sha1_sorted(vec![TOKEN, ts, nonce, encrypt])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_backend_gets_success_sent_to_wechat_in_time() {
    let late = Arc::new(Mutex::new(b"late".to_vec()));
    let (addr, received) = backend(Duration::from_secs(8), late).await;
    let (_app, gw) = gateway(
        true,
        &format!("    forward_url: \"http://{addr}/wx\"\n    forward_timeout_ms: 1500\n"),
    )
    .await;
    let s = sim(&gw);
    let started = Instant::now();
    let outcome = s
        .push_raw(&text_xml(s.original_id(), "o_fan", now(), "anyone?", 7))
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.body, "success");
    assert!(took < Duration::from_secs(5), "WeChat waited {took:?}");
    assert_eq!(
        received.lock().unwrap().len(),
        1,
        "the backend did get the push"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_backend_never_breaks_login() {
    let (_reserved, dead) = dead_address();
    let (_app, gw) = gateway(
        true,
        &format!("    forward_url: \"http://{dead}/wx\"\n    forward_logins: true\n"),
    )
    .await;
    // A login scan (also forwarded, to nowhere) still signs the user in.
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    assert_eq!(browser.demo_scan(&id, "new").await.status, 200);
    let polled = browser.poll(&id, "waiting", 5).await;
    assert_eq!(polled.body["status"], "confirmed", "{}", polled.body);
    // Other pushes are acknowledged.
    let s = sim(&gw);
    let outcome = s
        .push_raw(&text_xml(s.original_id(), "o_fan", now(), "hi", 8))
        .await
        .unwrap();
    assert_eq!((outcome.status, outcome.body.as_str()), (200, "success"));
}

const REPLIES: &str = "    replies:\n      subscribe: \"欢迎关注\"\n      keywords:\n        - {match: exact, keyword: \"Help\", reply: \"exact help\"}\n        - {match: contains, keyword: \"帮助\", reply: \"请访问帮助中心\"}\n      default: \"收到\"\n";

async fn auto_replies_in(aes: bool) {
    let (_app, gw) = gateway(aes, REPLIES).await;
    let s = sim(&gw);
    let text = |content: &str, id: u64| text_xml(s.original_id(), "o_fan", now(), content, id);
    for (content, expected) in [
        ("help", "exact help"),
        ("我需要帮助，谢谢", "请访问帮助中心"),
        ("something else", "收到"),
    ] {
        let outcome = s.push_raw(&text(content, rand_id())).await.unwrap();
        assert_eq!(
            outcome.reply.text(),
            Some(expected),
            "{content}: {:?}",
            outcome.reply
        );
    }
    let follow = event_xml(s.original_id(), "o_new_fan", now(), "subscribe", None, None);
    let outcome = s.push_raw(&follow).await.unwrap();
    assert_eq!(outcome.reply.text(), Some("欢迎关注"));
    let unfollow = event_xml(
        s.original_id(),
        "o_new_fan",
        now(),
        "unsubscribe",
        None,
        None,
    );
    assert_eq!(s.push_raw(&unfollow).await.unwrap().body, "success");
}

pub(crate) fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    now() * 1000 + NEXT.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyword_replies_in_safe_mode() {
    auto_replies_in(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyword_replies_in_plain_mode() {
    auto_replies_in(false).await;
}
