//! The client against the simulator (and a few hand-made servers) over real HTTP.

use std::sync::Mutex;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::wechat::token::MemoryTokenCache;
use crate::wechat_sim::{SimApi, SimConfig, SimHandle, SimUser, Simulator};

const APP_ID: &str = "wx_sim_app_1";
const SECRET: &str = "s3cret-app-secret";

async fn sim() -> SimHandle {
    Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: SECRET.into(),
        token: "cbtoken".into(),
        encoding_aes_key: None,
        callback_url: "http://127.0.0.1:9/unused".into(),
    })
    .await
    .unwrap()
}

fn config(api_base: String) -> ApiConfig {
    ApiConfig {
        api_base,
        app_id: APP_ID.into(),
        app_secret: SECRET.into(),
        timeout: Duration::from_secs(5),
    }
}

fn client(sim: &SimHandle) -> WechatClient {
    WechatClient::new(config(format!("{}/", sim.api_base())))
        .unwrap()
        .with_busy_retry(BusyRetry {
            retries: 3,
            first_delay: Duration::from_millis(5),
        })
}

#[tokio::test]
async fn qr_code_and_user_info_over_http() {
    let sim = sim().await;
    let client = client(&sim);
    let qr = client
        .create_qr_str_scene("login_3q2Xk9", 300)
        .await
        .unwrap();
    assert!(qr.url.starts_with("http://weixin.qq.com/q/"), "{}", qr.url);
    assert_eq!(qr.expire_seconds, 300);
    assert_eq!(sim.scene_of(&qr.ticket).as_deref(), Some("login_3q2Xk9"));
    let image = qr.image_url();
    let encoded = image
        .strip_prefix("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=")
        .unwrap();
    assert!(!encoded.contains(['+', '/', '=']), "{encoded}");
    assert!(
        encoded.contains("%3D"),
        "simulated tickets end in '=' padding: {encoded}"
    );

    sim.add_user(&SimUser {
        openid: "oFollower".into(),
        unionid: Some("uUnion".into()),
        follows: true,
    });
    sim.add_user(&SimUser {
        openid: "oLurker".into(),
        unionid: None,
        follows: false,
    });
    let info = client.user_info("oFollower").await.unwrap();
    assert!(info.subscribe);
    assert_eq!(info.openid, "oFollower");
    assert_eq!(info.unionid.as_deref(), Some("uUnion"));
    let lurker = client.user_info("oLurker").await.unwrap();
    assert!(!lurker.subscribe);
    assert_eq!(lurker.unionid, None);
    let unknown = client.user_info("oNobody").await.unwrap_err();
    assert_eq!(unknown.errcode(), Some(40003));

    // One token served all four calls.
    let counters = sim.counters();
    assert_eq!(counters.stable_token_calls, 1);
    assert_eq!(counters.token_calls, 0);
    assert_eq!(counters.qrcode_creates, 1);
    assert_eq!(counters.user_info_calls, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrent_callers_trigger_one_stable_token_call() {
    let sim = sim().await;
    sim.set_latency(Duration::from_millis(100));
    let client = Arc::new(client(&sim));
    let mut tasks = Vec::new();
    for i in 0..24 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client.create_qr_str_scene(&format!("s{i}"), 120).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(sim.counters().stable_token_calls, 1);
    assert_eq!(sim.counters().qrcode_creates, 24);
}

#[tokio::test]
async fn a_revoked_token_is_refetched_and_the_call_retried_once() {
    let sim = sim().await;
    let client = client(&sim);
    let first = client.access_token().await.unwrap();
    sim.revoke_access_tokens();
    client.create_qr_str_scene("s", 120).await.unwrap();
    assert_ne!(client.access_token().await.unwrap(), first);
    let counters = sim.counters();
    assert_eq!(counters.stable_token_calls, 2);
    assert_eq!(counters.qrcode_creates, 2);
}

#[tokio::test]
async fn token_errors_are_retried_only_once() {
    let sim = sim().await;
    let client = client(&sim);
    for code in [40001, 42001, 40014] {
        sim.fail_next(SimApi::QrCodeCreate, code);
        sim.fail_next(SimApi::QrCodeCreate, code);
        let before = sim.counters();
        let error = client.create_qr_str_scene("s", 120).await.unwrap_err();
        assert_eq!(error.errcode(), Some(code));
        assert!(error.is_token_invalid());
        let after = sim.counters();
        assert_eq!(after.qrcode_creates - before.qrcode_creates, 2, "{code}");
    }
    // Normal mode returns the same, still valid token: no force refresh ever happened.
    assert_eq!(sim.counters().tokens_issued, 1);
}

#[tokio::test]
async fn busy_is_retried_with_backoff_then_given_up() {
    let sim = sim().await;
    let client = client(&sim);
    sim.fail_next(SimApi::UserInfo, -1);
    sim.fail_next(SimApi::UserInfo, -1);
    sim.add_user(&SimUser {
        openid: "o1".into(),
        unionid: None,
        follows: true,
    });
    assert!(client.user_info("o1").await.is_ok());
    assert_eq!(sim.counters().user_info_calls, 3);
    for _ in 0..4 {
        sim.fail_next(SimApi::UserInfo, -1);
    }
    let error = client.user_info("o1").await.unwrap_err();
    assert!(error.is_busy());
    assert_eq!(sim.counters().user_info_calls, 3 + 4);
    // The token fetch is retried too.
    let fresh = self::client(&sim);
    sim.fail_next(SimApi::StableToken, -1);
    assert!(fresh.access_token().await.is_ok());
}

#[tokio::test]
async fn a_wrong_secret_is_a_config_error_and_never_shown() {
    let sim = sim().await;
    let mut cfg = config(sim.api_base());
    cfg.app_secret = "wrong-secret-value".into();
    let client = Arc::new(WechatClient::new(cfg).unwrap());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client.create_qr_str_scene("s", 60).await
        }));
    }
    for task in tasks {
        let error = task.await.unwrap().unwrap_err();
        assert_eq!(error.errcode(), Some(40125));
        assert!(error.is_config_error());
        assert!(!error.to_string().contains("wrong-secret-value"));
    }
    // Concurrent waiters shared the one failed fetch.
    assert!(
        sim.counters().stable_token_calls < 8,
        "{:?}",
        sim.counters()
    );
    assert_eq!(sim.counters().qrcode_creates, 0);

    let mut cfg = config(sim.api_base());
    cfg.app_id = "wx_other".into();
    let error = WechatClient::new(cfg)
        .unwrap()
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(error.errcode(), Some(40013));
}

#[tokio::test]
async fn token_is_refreshed_before_it_expires() {
    let sim = sim().await;
    sim.set_token_ttl(Duration::from_secs(1));
    let client = client(&sim);
    let first = client.access_token().await.unwrap();
    assert_eq!(client.access_token().await.unwrap(), first);
    tokio::time::sleep(Duration::from_millis(850)).await;
    // 80 % of the 1 s lifetime has passed: a new fetch, before WeChat would answer 42001.
    let second = client.access_token().await.unwrap();
    assert_ne!(second, first);
    client.create_qr_str_scene("s", 60).await.unwrap();
    assert_eq!(sim.counters().stable_token_calls, 2);
}

#[tokio::test]
async fn clients_sharing_a_cache_fetch_once() {
    let sim = sim().await;
    let cache: Arc<dyn TokenCache> = Arc::new(MemoryTokenCache::default());
    let a = WechatClient::with_token_cache(config(sim.api_base()), cache.clone()).unwrap();
    let b = WechatClient::with_token_cache(config(sim.api_base()), cache).unwrap();
    a.create_qr_str_scene("a", 60).await.unwrap();
    b.create_qr_str_scene("b", 60).await.unwrap();
    assert_eq!(sim.counters().stable_token_calls, 1);
}

#[tokio::test]
async fn arguments_are_checked_locally() {
    let sim = sim().await;
    let client = client(&sim);
    for (scene, secs) in [
        ("", 60),
        (&"x".repeat(65)[..], 60),
        ("s", 0),
        ("s", MAX_QR_EXPIRE_SECONDS + 1),
    ] {
        assert!(matches!(
            client.create_qr_str_scene(scene, secs).await,
            Err(Error::InvalidArgument(_))
        ));
    }
    assert!(client
        .create_qr_str_scene(&"x".repeat(64), MAX_QR_EXPIRE_SECONDS)
        .await
        .is_ok());
    assert!(matches!(
        client.user_info("").await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn timeouts_are_typed() {
    let sim = sim().await;
    sim.set_latency(Duration::from_millis(500));
    let mut cfg = config(sim.api_base());
    cfg.timeout = Duration::from_millis(100);
    let error = WechatClient::new(cfg)
        .unwrap()
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(error, Error::Timeout);
}

/// A server that issues a token, then answers every other request with `answer` (or drops the
/// connection when `answer` is None).
async fn scripted_server(answer: Option<&'static str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let body = if request.contains("stable_token") {
                    r#"{"access_token":"TOKEN-THAT-MUST-NOT-LEAK","expires_in":7200}"#
                } else if let Some(answer) = answer {
                    answer
                } else {
                    return; // drop the connection
                };
                let status = if body.starts_with("500") {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn transport_errors_never_carry_the_token_or_secret() {
    let base = scripted_server(None).await;
    let client = WechatClient::new(config(base)).unwrap();
    let error = client.create_qr_str_scene("s", 60).await.unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(matches!(error, Error::Http(_)), "{text}");
    assert!(
        !text.contains("TOKEN-THAT-MUST-NOT-LEAK") && !text.contains("access_token"),
        "{text}"
    );
    assert!(!text.contains(SECRET), "{text}");

    let refused = WechatClient::new(config("http://127.0.0.1:9".into())).unwrap();
    let error = refused.access_token().await.unwrap_err();
    assert!(matches!(error, Error::Http(_)));
    assert!(!format!("{error:?}").contains(SECRET));
}

#[tokio::test]
async fn undecodable_answers_are_typed_and_quote_nothing() {
    for (answer, expect_decode) in [
        ("<html>busy</html>", true),
        (r#"{"ticket":12345678,"url":"u"}"#, true),
        ("500", false),
    ] {
        let client = WechatClient::new(config(scripted_server(Some(answer)).await)).unwrap();
        let error = client.create_qr_str_scene("s", 60).await.unwrap_err();
        if expect_decode {
            assert!(
                matches!(&error, Error::Decode(m) if !m.contains("12345678")),
                "{error:?}"
            );
        } else {
            assert_eq!(error, Error::Http("HTTP status 500".into()));
        }
    }
}

#[tokio::test]
async fn the_observer_sees_every_exchange() {
    let sim = sim().await;
    let seen: Arc<Mutex<Vec<(Api, &'static str)>>> = Arc::default();
    let log = seen.clone();
    let client = client(&sim).with_observer(Arc::new(move |api, outcome| {
        log.lock()
            .unwrap()
            .push((api, outcome.err().map_or("ok", Error::label)));
    }));
    sim.fail_next(SimApi::QrCodeCreate, 40001);
    client.create_qr_str_scene("s", 60).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (Api::StableToken, "ok"),
            (Api::QrCodeCreate, "token_invalid"),
            (Api::StableToken, "ok"),
            (Api::QrCodeCreate, "ok"),
        ]
    );
}

#[test]
fn debug_output_hides_the_secret() {
    let cfg = config("http://x".into());
    let shown = format!("{cfg:?} {:?}", WechatClient::new(cfg.clone()).unwrap());
    assert!(!shown.contains(SECRET), "{shown}");
}

#[tokio::test]
async fn an_unreachable_wechat_opens_the_breaker_and_calls_fail_at_once() {
    // A port nobody listens on: every call fails fast with a transport error.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let observed = seen.clone();
    let client = WechatClient::new(config(base))
        .unwrap()
        .with_observer(Arc::new(move |_api, outcome: Result<(), &Error>| {
            observed
                .lock()
                .unwrap()
                .push(outcome.err().map(Error::label));
        }));
    for _ in 0..crate::wechat::breaker::TRIP_AFTER {
        let e = client.user_info("o_1").await.unwrap_err();
        assert!(e.is_transport(), "{e:?}");
    }
    let e = client.user_info("o_1").await.unwrap_err();
    match e {
        Error::Unavailable {
            retry_after_seconds,
        } => assert!(retry_after_seconds >= 1, "{retry_after_seconds}"),
        other => panic!("expected the breaker to refuse, got {other:?}"),
    }
    assert_eq!(
        seen.lock().unwrap().last().copied().flatten(),
        Some("circuit_open")
    );
}
