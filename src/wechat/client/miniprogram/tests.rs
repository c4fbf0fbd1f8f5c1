//! The Mini Program calls against the simulator (and hand-made servers) over real HTTP.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::wechat::client::{ApiConfig, BusyRetry};
use crate::wechat::token::{MemoryTokenCache, TokenCache};
use crate::wechat_sim::{SimApi, SimConfig, SimHandle, SimUser, SimWxaCode, Simulator};

const OA_APP_ID: &str = "wx_oa_app";
const OA_SECRET: &str = "oa-secret-value";
const MP_APP_ID: &str = "wx_mp_app";
const MP_SECRET: &str = "mp-secret-value";

async fn sim() -> SimHandle {
    let sim = Simulator::start(SimConfig {
        app_id: OA_APP_ID.into(),
        app_secret: OA_SECRET.into(),
        token: "cbtoken".into(),
        encoding_aes_key: None,
        callback_url: "http://127.0.0.1:9/unused".into(),
    })
    .await
    .unwrap();
    sim.add_mini_program(MP_APP_ID, MP_SECRET);
    sim
}

fn config(api_base: String, app_id: &str, app_secret: &str) -> ApiConfig {
    ApiConfig {
        api_base,
        app_id: app_id.into(),
        app_secret: app_secret.into(),
        timeout: Duration::from_secs(5),
    }
}

fn mp_client_at(api_base: String) -> WechatClient {
    WechatClient::new(config(api_base, MP_APP_ID, MP_SECRET))
        .unwrap()
        .with_busy_retry(BusyRetry {
            retries: 3,
            first_delay: Duration::from_millis(5),
        })
}

fn mp_client(sim: &SimHandle) -> WechatClient {
    mp_client_at(sim.api_base())
}

fn user(openid: &str, unionid: Option<&str>) -> SimUser {
    SimUser {
        openid: openid.into(),
        unionid: unionid.map(str::to_owned),
        follows: false,
    }
}

fn request(scene: &str) -> WxaCodeRequest {
    WxaCodeRequest {
        scene: scene.into(),
        page: "pages/login/index".into(),
        ..WxaCodeRequest::default()
    }
}

/// Width and height from a PNG's IHDR, after checking the signature.
fn png_size(image: &[u8]) -> (u32, u32) {
    assert_eq!(&image[..8], &PNG_SIGNATURE, "a PNG");
    assert_eq!(&image[12..16], b"IHDR");
    (
        u32::from_be_bytes(image[16..20].try_into().unwrap()),
        u32::from_be_bytes(image[20..24].try_into().unwrap()),
    )
}

#[tokio::test]
async fn wxacode_is_a_png_of_the_requested_code() {
    let sim = sim().await;
    let client = mp_client(&sim);
    let scene = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6";
    let image = client
        .wxacode_unlimited(&WxaCodeRequest {
            scene: scene.into(),
            page: "pages/login/index".into(),
            env_version: "trial".into(),
            check_path: false,
            width: 280,
        })
        .await
        .unwrap();
    assert_eq!(png_size(&image), (280, 280));
    // An empty page, env_version and width are left out: WeChat's defaults apply.
    let image = client
        .wxacode_unlimited(&WxaCodeRequest {
            scene: "s".into(),
            page: String::new(),
            env_version: String::new(),
            check_path: true,
            width: 0,
        })
        .await
        .unwrap();
    assert_eq!(png_size(&image), (430, 430));
    assert_eq!(
        sim.wxacodes(),
        vec![
            SimWxaCode {
                scene: scene.into(),
                page: "pages/login/index".into(),
                env_version: "trial".into(),
                check_path: false,
                width: 280,
            },
            SimWxaCode {
                scene: "s".into(),
                page: String::new(),
                env_version: "release".into(),
                check_path: true,
                width: 430,
            },
        ]
    );
    let counters = sim.counters();
    assert_eq!(counters.wxacode_calls, 2);
    assert_eq!(counters.stable_token_calls, 1, "one Mini Program token");
}

#[tokio::test]
async fn arguments_are_checked_before_any_request() {
    let sim = sim().await;
    let client = mp_client(&sim);
    let bad_scenes = [
        String::new(),
        "x".repeat(33),
        "登录".into(),
        "a b".into(),
        "a%20b".into(),
        "a\"b".into(),
        "a<b>".into(),
    ];
    for scene in &bad_scenes {
        assert!(!is_valid_wxacode_scene(scene), "{scene}");
        assert!(
            matches!(
                client.wxacode_unlimited(&request(scene)).await,
                Err(Error::InvalidArgument(_))
            ),
            "{scene}"
        );
    }
    let bad_requests = [
        WxaCodeRequest {
            page: "/pages/login/index".into(),
            ..request("s")
        },
        WxaCodeRequest {
            page: "pages/login/index?x=1".into(),
            ..request("s")
        },
        WxaCodeRequest {
            env_version: "production".into(),
            ..request("s")
        },
        WxaCodeRequest {
            width: 279,
            ..request("s")
        },
        WxaCodeRequest {
            width: 1281,
            ..request("s")
        },
    ];
    for req in &bad_requests {
        assert!(
            matches!(
                client.wxacode_unlimited(req).await,
                Err(Error::InvalidArgument(_))
            ),
            "{req:?}"
        );
    }
    for code in ["", "a b", "码", &"x".repeat(129)] {
        assert!(matches!(
            client.code_to_session(code).await,
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            client.phone_number(code, None).await,
            Err(Error::InvalidArgument(_))
        ));
    }
    assert_eq!(sim.counters(), Default::default(), "nothing reached WeChat");

    // Every allowed character, at the maximum length, goes through.
    let edge = "!#$&'()*+,/:;=?@-._~Az09xxxxxxxx";
    assert_eq!(edge.len(), MAX_WXACODE_SCENE_LEN);
    assert!(is_valid_wxacode_scene(edge));
    assert!(client.wxacode_unlimited(&request(edge)).await.is_ok());
    assert_eq!(sim.wxacodes()[0].scene, edge);
}

#[tokio::test]
async fn wxacode_errors_are_typed() {
    let sim = sim().await;
    let client = mp_client(&sim);
    sim.unpublish_mp_page("pages/gone/index");
    let gone = WxaCodeRequest {
        page: "pages/gone/index".into(),
        ..request("s")
    };
    assert_eq!(
        client.wxacode_unlimited(&gone).await.unwrap_err().errcode(),
        Some(41030)
    );
    // Unpublished pages are allowed without check_path.
    let unchecked = WxaCodeRequest {
        check_path: false,
        ..gone
    };
    assert!(client.wxacode_unlimited(&unchecked).await.is_ok());

    for code in [45009, 45011, 40169, 40129] {
        sim.fail_next(SimApi::WxaCodeUnlimited, code);
        let before = sim.counters().wxacode_calls;
        let error = client.wxacode_unlimited(&request("s")).await.unwrap_err();
        assert!(
            matches!(&error, Error::Api { errcode, errmsg } if *errcode == code && errmsg.contains("rid: ")),
            "{error:?}"
        );
        assert_eq!(sim.counters().wxacode_calls - before, 1, "not retried");
    }

    // A refused token is refetched and the call retried once, as for the other APIs.
    sim.revoke_access_tokens();
    let image = client.wxacode_unlimited(&request("s")).await.unwrap();
    png_size(&image);
    assert_eq!(sim.counters().stable_token_calls, 2);
}

#[tokio::test]
async fn code_to_session_is_single_use_and_per_app() {
    let sim = sim().await;
    let client = mp_client(&sim);
    let alice = user("oAliceOfficialAccount", Some("uAlice"));
    let code = sim.mp_login_code(&alice);
    let session = client.code_to_session(&code).await.unwrap();
    assert_eq!(session.openid, sim.mp_openid(&alice));
    assert_ne!(
        session.openid, alice.openid,
        "openids are per app; the unionid joins them"
    );
    assert_eq!(session.unionid.as_deref(), Some("uAlice"));
    // The same person, another login: the same openid.
    let again = client
        .code_to_session(&sim.mp_login_code(&alice))
        .await
        .unwrap();
    assert_eq!(again, session);

    let used = client.code_to_session(&code).await.unwrap_err();
    assert_eq!(used.errcode(), Some(40163));
    let unknown = client.code_to_session("0a3XyZunknown").await.unwrap_err();
    assert_eq!(unknown.errcode(), Some(40029));
    let stale = sim.mp_login_code(&alice);
    sim.expire_mp_code(&stale);
    assert_eq!(
        client.code_to_session(&stale).await.unwrap_err().errcode(),
        Some(40029)
    );
    for error in [&used, &unknown] {
        let text = format!("{error} {error:?}");
        assert!(!text.contains(&code) && !text.contains(MP_SECRET), "{text}");
    }

    let bob = client
        .code_to_session(&sim.mp_login_code(&user("oBob", None)))
        .await
        .unwrap();
    assert_eq!(bob.unionid, None);

    // The Official Account's credentials redeem no Mini Program code.
    let oa = WechatClient::new(config(sim.api_base(), OA_APP_ID, OA_SECRET)).unwrap();
    assert_eq!(
        oa.code_to_session(&sim.mp_login_code(&alice))
            .await
            .unwrap_err()
            .errcode(),
        Some(40029)
    );
    // appid and secret travel in the query: no access token is involved.
    assert_eq!(sim.counters().stable_token_calls, 0);
    assert_eq!(sim.counters().jscode2session_calls, 7);
}

#[tokio::test]
async fn code_to_session_retries_busy_and_reports_config_errors() {
    let sim = sim().await;
    let alice = user("oAlice", None);
    sim.fail_next(SimApi::Jscode2Session, -1);
    assert!(mp_client(&sim)
        .code_to_session(&sim.mp_login_code(&alice))
        .await
        .is_ok());
    assert_eq!(sim.counters().jscode2session_calls, 2);

    let wrong = WechatClient::new(config(sim.api_base(), MP_APP_ID, "wrong-mp-secret")).unwrap();
    let error = wrong
        .code_to_session(&sim.mp_login_code(&alice))
        .await
        .unwrap_err();
    assert_eq!(error.errcode(), Some(40125));
    assert!(error.is_config_error());
    assert!(!format!("{error:?}").contains("wrong-mp-secret"));
}

#[tokio::test]
async fn a_phone_code_named_with_another_users_openid_is_refused() {
    let sim = sim().await;
    let client = mp_client(&sim);
    let pressed_by = user("o-presser", None);
    let code = sim.mp_phone_code_of(&pressed_by, "13800138000");
    let other = sim.mp_openid(&user("o-other", None));
    let refused = client.phone_number(&code, Some(&other)).await.unwrap_err();
    assert_eq!(refused.errcode(), Some(40029));
    let own = sim.mp_openid(&pressed_by);
    let phone = client.phone_number(&code, Some(&own)).await.unwrap();
    assert_eq!(phone.pure_phone_number, "13800138000");
}

#[tokio::test]
async fn phone_number_is_single_use() {
    let sim = sim().await;
    let client = mp_client(&sim);
    let code = sim.mp_phone_code("13800138000");
    assert_eq!(
        client.phone_number(&code, None).await.unwrap(),
        MpPhone {
            phone_number: "13800138000".into(),
            pure_phone_number: "13800138000".into(),
            country_code: "86".into(),
        }
    );
    let used = client.phone_number(&code, None).await.unwrap_err();
    assert_eq!(used.errcode(), Some(40029));
    assert!(!format!("{used} {used:?}").contains(&code));
    assert_eq!(
        client
            .phone_number(&sim.mp_phone_code("+14155550100"), None)
            .await
            .unwrap(),
        MpPhone {
            phone_number: "+14155550100".into(),
            pure_phone_number: "4155550100".into(),
            country_code: "1".into(),
        }
    );
    // Only the Mini Program's own token opens this API.
    let oa = WechatClient::new(config(sim.api_base(), OA_APP_ID, OA_SECRET)).unwrap();
    assert_eq!(
        oa.phone_number(&sim.mp_phone_code("13800138000"), None)
            .await
            .unwrap_err()
            .errcode(),
        Some(48001)
    );
    assert_eq!(sim.counters().phone_number_calls, 4);
}

#[tokio::test]
async fn one_token_cache_serves_the_official_account_and_the_mini_program() {
    let sim = sim().await;
    let cache: Arc<dyn TokenCache> = Arc::new(MemoryTokenCache::default());
    let oa =
        WechatClient::with_token_cache(config(sim.api_base(), OA_APP_ID, OA_SECRET), cache.clone())
            .unwrap();
    let mp =
        WechatClient::with_token_cache(config(sim.api_base(), MP_APP_ID, MP_SECRET), cache.clone())
            .unwrap();
    oa.create_qr_str_scene("login_x", 60).await.unwrap();
    mp.wxacode_unlimited(&request("x")).await.unwrap();
    mp.phone_number(&sim.mp_phone_code("13800138000"), None)
        .await
        .unwrap();
    assert_ne!(
        cache.get(OA_APP_ID).await.unwrap().unwrap().token,
        cache.get(MP_APP_ID).await.unwrap().unwrap().token
    );
    assert_eq!(sim.counters().stable_token_calls, 2, "one token per app id");
}

#[tokio::test]
async fn the_observer_labels_the_mini_program_apis() {
    let sim = sim().await;
    let seen: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let log = seen.clone();
    let client = mp_client(&sim).with_observer(Arc::new(move |api, _| {
        log.lock().unwrap().push(api.label());
    }));
    client.wxacode_unlimited(&request("s")).await.unwrap();
    client
        .code_to_session(&sim.mp_login_code(&user("o", None)))
        .await
        .unwrap();
    client
        .phone_number(&sim.mp_phone_code("13800138000"), None)
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            "stable_token",
            "wxacode_unlimited",
            "jscode2session",
            "getuserphonenumber"
        ]
    );
}

/// The request head and body, read up to its `content-length`.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return text;
            }
        }
    }
    String::from_utf8_lossy(&buf).to_string()
}

/// A server that issues a token and answers every other request with `content_type` and
/// `body`; it records the request heads it saw.
async fn scripted(content_type: &'static str, body: Vec<u8>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (body, log) = (body.clone(), log.clone());
            tokio::spawn(async move {
                let head = read_request(&mut socket).await;
                let (content_type, body) = if head.contains("stable_token") {
                    (
                        "application/json",
                        br#"{"access_token":"TOKEN","expires_in":7200}"#.to_vec(),
                    )
                } else {
                    log.lock().unwrap().push(head);
                    (content_type, body)
                };
                let mut response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                response.extend_from_slice(&body);
                let _ = socket.write_all(&response).await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn images_and_errors_are_told_apart_by_their_bytes() {
    let error_json = br#"{"errcode":40169,"errmsg":"invalid length for scene, or the data is not json string rid: 1"}"#;
    let jpeg = [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, b'J', b'F', b'I', b'F'];
    // Content types seen in the wild for either (pitfall 14).
    for content_type in [
        "text/plain",
        "image/jpeg",
        "application/json; encoding=utf-8",
    ] {
        let (base, _) = scripted(content_type, error_json.to_vec()).await;
        let error = mp_client_at(base)
            .wxacode_unlimited(&request("s"))
            .await
            .unwrap_err();
        assert_eq!(error.errcode(), Some(40169), "{content_type}");

        let (base, _) = scripted(content_type, jpeg.to_vec()).await;
        let image = mp_client_at(base)
            .wxacode_unlimited(&request("s"))
            .await
            .unwrap();
        assert_eq!(image, jpeg, "{content_type}");
    }
    for junk in [&b"<html>502</html>"[..], br#"{"errcode":0}"#, b""] {
        let (base, _) = scripted("text/html", junk.to_vec()).await;
        assert!(matches!(
            mp_client_at(base).wxacode_unlimited(&request("s")).await,
            Err(Error::Decode(_))
        ));
    }
}

#[tokio::test]
async fn the_session_key_is_never_kept() {
    const KEY: &str = "SESSION-KEY-MUST-NOT-LEAK";
    let answer = format!(r#"{{"openid":"oMp","session_key":"{KEY}","unionid":"uX"}}"#);
    let (base, seen) = scripted("text/plain", answer.into_bytes()).await;
    let session = mp_client_at(base)
        .code_to_session("0c3JSCODE")
        .await
        .unwrap();
    assert_eq!(
        session,
        MpSession {
            openid: "oMp".into(),
            unionid: Some("uX".into())
        }
    );
    assert!(!format!("{session:?}").contains(KEY));
    // The request: appid, secret, code and grant type in the query, as documented.
    let head = seen.lock().unwrap()[0].clone();
    assert!(
        head.starts_with(&format!(
            "GET /sns/jscode2session?appid={MP_APP_ID}&secret={MP_SECRET}&js_code=0c3JSCODE&grant_type=authorization_code "
        )),
        "{head}"
    );

    // A malformed answer quotes nothing, the key included.
    let answer = format!(r#"{{"openid":42,"session_key":"{KEY}"}}"#);
    let (base, _) = scripted("text/plain", answer.into_bytes()).await;
    let error = mp_client_at(base)
        .code_to_session("0c3JSCODE")
        .await
        .unwrap_err();
    assert!(matches!(&error, Error::Decode(_)), "{error:?}");
    assert!(!format!("{error} {error:?}").contains(KEY));

    // An errmsg that echoed the code or the secret would be scrubbed.
    let echo =
        format!(r#"{{"errcode":40029,"errmsg":"invalid code 0c3JSCODE for {MP_SECRET}, rid: 9"}}"#);
    let (base, _) = scripted("text/plain", echo.into_bytes()).await;
    let error = mp_client_at(base)
        .code_to_session("0c3JSCODE")
        .await
        .unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(
        !text.contains("0c3JSCODE") && !text.contains(MP_SECRET),
        "{text}"
    );
    assert!(text.contains("rid: 9"), "{text}");
}

fn phone_answer(appid: &str, country_code: &str) -> Vec<u8> {
    format!(
        r#"{{"errcode":0,"errmsg":"ok","phone_info":{{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":{country_code},"watermark":{{"timestamp":1637744274,"appid":"{appid}"}}}}}}"#
    )
    .into_bytes()
}

#[tokio::test]
async fn a_phone_number_watermarked_for_another_app_is_refused() {
    let (base, seen) = scripted("application/json", phone_answer("wx_other", "\"86\"")).await;
    let error = mp_client_at(base)
        .phone_number("c0de", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Decode(m) if m.contains("watermark")),
        "{error:?}"
    );
    let head = seen.lock().unwrap()[0].clone();
    assert!(
        head.starts_with("POST /wxa/business/getuserphonenumber?access_token=TOKEN "),
        "{head}"
    );
    assert!(head.ends_with(r#"{"code":"c0de"}"#), "{head}");

    // The official example's numeric countryCode is read as well.
    let (base, _) = scripted("application/json", phone_answer(MP_APP_ID, "86")).await;
    let phone = mp_client_at(base).phone_number("c0de", None).await.unwrap();
    assert_eq!(phone.country_code, "86");
}

#[test]
fn country_code_is_read_leniently() {
    let read = |cc: &str| {
        serde_json::from_str::<PhoneInfo>(&format!(
            r#"{{"phoneNumber":"+8613800138000","purePhoneNumber":"13800138000","countryCode":{cc},"watermark":{{"appid":"a"}}}}"#
        ))
        .map(|info| info.country_code)
    };
    assert_eq!(read("\"86\"").unwrap(), "86");
    assert_eq!(read("86").unwrap(), "86");
    assert_eq!(read("1").unwrap(), "1");
    assert!(read("true").is_err());
    assert!(read("-1").is_err());
}

#[test]
fn wxacode_body_leaves_out_defaults() {
    let body = WxaCodeBody {
        scene: "s",
        page: None,
        check_path: true,
        env_version: None,
        width: None,
    };
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        r#"{"scene":"s","check_path":true}"#
    );
    let body = WxaCodeBody {
        scene: "s",
        page: Some("pages/login/index"),
        check_path: false,
        env_version: Some("develop"),
        width: Some(280),
    };
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        r#"{"scene":"s","page":"pages/login/index","check_path":false,"env_version":"develop","width":280}"#
    );
}
