//! The simulated WeChat API server (axum): `GET /cgi-bin/token`, `POST /cgi-bin/stable_token`,
//! `POST /cgi-bin/qrcode/create`, `GET /cgi-bin/user/info`, `GET /cgi-bin/getcallbackip`, answering with the JSON shapes and
//! error codes of wechat-protocol.md §1–3 and §8, plus the custom menu (`menu_api.rs`) and the
//! Mini Program's APIs (`mp_api.rs`).
//! Errors are HTTP 200 with `errcode`, as WeChat does; the `Content-Type` is WeChat's
//! `application/json; encoding=utf-8`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Serialize;
use serde_json::Value;

use super::state::{QrCode, Shared};
use super::{menu_api, mp_api, oauth_pages, quota, urllink, SimApi};

/// The stable token is rotated this long before it expires; until then normal-mode calls
/// return the same token (§2.2).
const STABLE_ROTATION: Duration = Duration::from_secs(300);
/// A re-issued classic token leaves the previous one usable this long (§2.1).
const CLASSIC_GRACE: Duration = Duration::from_secs(300);
const DEFAULT_QR_EXPIRE_SECONDS: u64 = 60;
const MAX_QR_EXPIRE_SECONDS: u64 = 2_592_000;

pub(super) fn router(shared: std::sync::Arc<Shared>) -> Router {
    Router::new()
        .route("/cgi-bin/token", get(token))
        .route("/cgi-bin/stable_token", post(stable_token))
        .route("/cgi-bin/qrcode/create", post(qrcode_create))
        .route("/cgi-bin/user/info", get(user_info))
        .route("/cgi-bin/getcallbackip", get(callback_ips))
        .route("/cgi-bin/openapi/quota/get", post(quota::quota_get))
        .route("/cgi-bin/menu/create", post(menu_api::menu_create))
        .route(
            "/cgi-bin/get_current_selfmenu_info",
            get(menu_api::current_selfmenu_info),
        )
        .route("/wxa/getwxacodeunlimit", post(mp_api::wxacode_unlimited))
        .route("/sns/jscode2session", get(mp_api::jscode2session))
        .route(
            "/wxa/business/getuserphonenumber",
            post(mp_api::get_user_phone_number),
        )
        .route("/wxa/generate_urllink", post(urllink::generate_urllink))
        .route("/wxaurl/{ticket}", get(urllink::open_link))
        .route("/wxaurl/{ticket}/{action}", post(urllink::act_on_link))
        .merge(oauth_pages::routes())
        .with_state(shared)
}

pub(super) type Shr = State<std::sync::Arc<Shared>>;
pub(super) type Params = Query<HashMap<String, String>>;

#[derive(Serialize)]
struct TokenBody {
    access_token: String,
    expires_in: u64,
}

async fn token(State(s): Shr, Query(q): Params) -> Response {
    if let Some(code) = s.enter(SimApi::Token, &s.counters.token_calls).await {
        return wx_error(code);
    }
    if q.get("grant_type").map(String::as_str) != Some("client_credential") {
        return wx_error(40002);
    }
    let app_id = match s.check_credentials(
        q.get("appid").map(String::as_str),
        q.get("secret").map(String::as_str),
    ) {
        Ok(app_id) => app_id,
        Err(code) => return wx_error(code),
    };
    let mut inner = s.lock();
    // Every call issues a new classic token; the previous one keeps a short grace (§2.1).
    if let Some(previous) = inner.classic_current.remove(&app_id) {
        if let Some(old) = inner.tokens.get_mut(&previous) {
            old.valid_until = old.valid_until.min(Instant::now() + CLASSIC_GRACE);
            old.revoked = true;
        }
    }
    let (value, ttl) = Shared::issue_token(&mut inner, &s.counters, &app_id);
    inner.classic_current.insert(app_id, value.clone());
    json(&TokenBody {
        access_token: value,
        expires_in: ttl.as_secs(),
    })
}

async fn stable_token(State(s): Shr, body: Bytes) -> Response {
    if let Some(code) = s
        .enter(SimApi::StableToken, &s.counters.stable_token_calls)
        .await
    {
        return wx_error(code);
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return wx_error(47001);
    };
    if req.get("grant_type").and_then(Value::as_str) != Some("client_credential") {
        return wx_error(40002);
    }
    let app_id = match s.check_credentials(
        req.get("appid").and_then(Value::as_str),
        req.get("secret").and_then(Value::as_str),
    ) {
        Ok(app_id) => app_id,
        Err(code) => return wx_error(code),
    };
    let force = req
        .get("force_refresh")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut inner = s.lock();
    let now = Instant::now();
    let current = inner
        .stable_current
        .get(&app_id)
        .and_then(|t| {
            inner
                .tokens
                .get(t)
                .map(|issued| (t.clone(), issued.valid_until))
        })
        .filter(|(_, until)| *until > now);
    match current {
        // Normal mode: the same token until five minutes before its expiry (§2.2).
        Some((value, until)) if !force && until - now > STABLE_ROTATION => json(&TokenBody {
            access_token: value,
            expires_in: (until - now).as_secs(),
        }),
        _ => {
            if force {
                if let Some(old) = inner
                    .stable_current
                    .get(&app_id)
                    .cloned()
                    .and_then(|t| inner.tokens.get_mut(&t))
                {
                    old.valid_until = now;
                    old.revoked = true;
                }
            }
            let (value, ttl) = Shared::issue_token(&mut inner, &s.counters, &app_id);
            inner.stable_current.insert(app_id, value.clone());
            json(&TokenBody {
                access_token: value,
                expires_in: ttl.as_secs(),
            })
        }
    }
}

#[derive(Serialize)]
struct QrBody {
    ticket: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_seconds: Option<u64>,
    url: String,
}

async fn qrcode_create(State(s): Shr, Query(q): Params, body: Bytes) -> Response {
    if let Some(code) = s
        .enter(SimApi::QrCodeCreate, &s.counters.qrcode_creates)
        .await
    {
        return wx_error(code);
    }
    if let Err(code) = s.check_token(q.get("access_token")) {
        return wx_error(code);
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return wx_error(47001);
    };
    let action = req.get("action_name").and_then(Value::as_str).unwrap_or("");
    let permanent = action.starts_with("QR_LIMIT_");
    let scene_obj = req.get("action_info").and_then(|a| a.get("scene"));
    let scene = match (action, scene_obj) {
        // Without the `scene` wrapper WeChat does not complain, but every scan reports scene 0
        // (pitfall 10).
        ("QR_SCENE" | "QR_LIMIT_SCENE" | "QR_STR_SCENE" | "QR_LIMIT_STR_SCENE", None) => {
            Some("0".to_owned())
        }
        ("QR_SCENE", Some(sc)) => sc
            .get("scene_id")
            .and_then(Value::as_u64)
            .filter(|id| (1..=u64::from(u32::MAX)).contains(id))
            .map(|id| id.to_string()),
        ("QR_LIMIT_SCENE", Some(sc)) => sc
            .get("scene_id")
            .and_then(Value::as_u64)
            .filter(|id| (1..=100_000).contains(id))
            .map(|id| id.to_string()),
        ("QR_STR_SCENE" | "QR_LIMIT_STR_SCENE", Some(sc)) => sc
            .get("scene_str")
            .and_then(Value::as_str)
            .filter(|s| (1..=64).contains(&s.chars().count()))
            .map(str::to_owned),
        _ => None,
    };
    let Some(scene) = scene else {
        return wx_error(40053);
    };
    let expire_seconds =
        (!permanent).then(|| match req.get("expire_seconds").and_then(Value::as_u64) {
            None | Some(0) => DEFAULT_QR_EXPIRE_SECONDS,
            Some(n) => n.min(MAX_QR_EXPIRE_SECONDS),
        });
    if let Err(code) = s.lock().quotas.spend("/cgi-bin/qrcode/create") {
        return wx_error(code);
    }
    let code = random_string(22);
    let url = format!("http://weixin.qq.com/q/{code}");
    let ticket = make_ticket(&url);
    s.lock().add_ticket(
        ticket.clone(),
        QrCode {
            scene,
            expires_at: expire_seconds.map(|secs| Instant::now() + Duration::from_secs(secs)),
        },
    );
    json(&QrBody {
        ticket,
        expire_seconds,
        url,
    })
}

#[derive(Serialize)]
struct UserBody {
    subscribe: u8,
    openid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscribe_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unionid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remark: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groupid: Option<u64>,
    tagid_list: [u64; 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    subscribe_scene: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qr_scene: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qr_scene_str: Option<String>,
}

async fn user_info(State(s): Shr, Query(q): Params) -> Response {
    if let Some(code) = s.enter(SimApi::UserInfo, &s.counters.user_info_calls).await {
        return wx_error(code);
    }
    if let Err(code) = s.check_token(q.get("access_token")) {
        return wx_error(code);
    }
    let Some(openid) = q.get("openid").filter(|o| !o.is_empty()) else {
        return wx_error(41009);
    };
    let inner = s.lock();
    let Some(user) = inner.users.get(openid) else {
        return wx_error(40003);
    };
    // Since 2021-12-27 no nickname or avatar; unsubscribed users get almost nothing (§8).
    let body = if user.subscribed {
        UserBody {
            subscribe: 1,
            openid: openid.clone(),
            subscribe_time: Some(user.subscribe_time),
            unionid: user.unionid.clone(),
            remark: Some(""),
            groupid: Some(0),
            tagid_list: [],
            subscribe_scene: Some(if user.qr_scene_str.is_some() {
                "ADD_SCENE_QR_CODE"
            } else {
                "ADD_SCENE_SEARCH"
            }),
            qr_scene: Some(0),
            qr_scene_str: Some(user.qr_scene_str.clone().unwrap_or_default()),
        }
    } else {
        UserBody {
            subscribe: 0,
            openid: openid.clone(),
            subscribe_time: None,
            unionid: user.unionid.clone(),
            remark: None,
            groupid: None,
            tagid_list: [],
            subscribe_scene: None,
            qr_scene: None,
            qr_scene_str: None,
        }
    };
    json(&body)
}

/// `GET /cgi-bin/getcallbackip`: the configured list ([`super::SimHandle::set_callback_ips`]),
/// or 45009 while [`super::SimHandle::set_callback_ips_failing`] is on.
async fn callback_ips(State(s): Shr, Query(q): Params) -> Response {
    if let Some(code) = s
        .enter(SimApi::CallbackIp, &s.counters.callback_ip_calls)
        .await
    {
        return wx_error(code);
    }
    if let Err(code) = s.check_token(q.get("access_token")) {
        return wx_error(code);
    }
    let inner = s.lock();
    if inner.callback_ips_failing {
        return wx_error(45009);
    }
    json(&serde_json::json!({ "ip_list": inner.callback_ips }))
}

pub(super) fn json<T: Serialize>(body: &T) -> Response {
    match serde_json::to_string(body) {
        Ok(text) => ([(CONTENT_TYPE, "application/json; encoding=utf-8")], text).into_response(),
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[derive(Serialize)]
struct ErrorBody {
    errcode: i64,
    errmsg: String,
}

/// WeChat's error answer: HTTP 200, `{"errcode":N,"errmsg":"<text> rid: <id>"}` (§1).
pub(super) fn wx_error(errcode: i64) -> Response {
    let mut rng = rand::thread_rng();
    let rid = format!(
        "{:08x}-{:08x}-{:08x}",
        rng.gen::<u32>(),
        rng.gen::<u32>(),
        rng.gen::<u32>()
    );
    json(&ErrorBody {
        errcode,
        errmsg: format!("{} rid: {rid}", errmsg(errcode)),
    })
}

/// The errmsg text WeChat pairs with each code we simulate.
pub fn errmsg(errcode: i64) -> &'static str {
    match errcode {
        -1 => "system error",
        40001 => "invalid credential, access_token is invalid or not latest",
        40002 => "invalid grant_type",
        40003 => "invalid openid",
        40013 => "invalid appid",
        40014 => "invalid access_token",
        40016 => "invalid button size",
        40017 => "invalid button type",
        40018 => "invalid button name size",
        40019 => "invalid button key size",
        40020 => "invalid button url size",
        40023 => "invalid sub button size",
        40024 => "invalid sub button type",
        40025 => "invalid sub button name size",
        40026 => "invalid sub button key size",
        40027 => "invalid sub button url size",
        40029 => "invalid code",
        40033 => "invalid charset. please check your request, if include \\uxxxx will create fail!",
        40053 => "invalid action info",
        40054 => "invalid sub button url domain",
        40055 => "invalid button url domain",
        40097 => "invalid args",
        40125 => "invalid appsecret",
        40129 => "invalid scene",
        40163 => "code been used",
        40164 => "invalid ip, not in whitelist",
        40165 => "invalid weapp pagepath",
        40169 => "invalid length for scene, or the data is not json string",
        40226 => "high risk user",
        41001 => "access_token missing",
        41002 => "appid missing",
        41004 => "appsecret missing",
        41008 => "missing code",
        41009 => "missing openid",
        41030 => "invalid page",
        42001 => "access_token expired",
        45009 => "reach max api daily quota limit",
        45011 => "api minute-quota reach limit",
        47001 => "data format error",
        48001 => "api unauthorized",
        50002 => "user limited",
        _ => "unknown error",
    }
}

pub(super) fn random_string(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Real tickets are standard Base64 of a binary record embedding the QR URL, and contain
/// `+`, `/` and `=` often enough to catch unencoded tickets (pitfall 12).
fn make_ticket(url: &str) -> String {
    use base64::Engine;
    let mut raw = vec![
        0x81, 0x01, 0xf8, 0xee, 0x3a, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x2c,
    ];
    raw.extend_from_slice(url.as_bytes());
    raw.extend_from_slice(&[0x00, 0x02, 0x04]);
    raw.extend((0..5).map(|_| rand::thread_rng().gen::<u8>()));
    base64::engine::general_purpose::STANDARD.encode(raw)
}
