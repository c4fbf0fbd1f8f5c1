//! The simulated Mini Program APIs (wechat-protocol.md §9.1–9.3): `POST /wxa/getwxacodeunlimit`
//! (a real PNG, or errcode JSON), `GET /sns/jscode2session`, `POST
//! /wxa/business/getuserphonenumber`, with single-use codes and the documented error codes.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rand::Rng;
use serde::Serialize;
use serde_json::Value;

use super::api::{json, wx_error, Params, Shr};
use super::state::CodeRefusal;
use super::{unix_now, wxacode, SimApi, SimWxaCode};

const MAX_SCENE_CHARS: usize = 32;
const DEFAULT_WIDTH: u64 = 430;
const MIN_WIDTH: u64 = 280;
const MAX_WIDTH: u64 = 1280;

pub(super) async fn wxacode_unlimited(State(s): Shr, Query(q): Params, body: Bytes) -> Response {
    if let Some(code) = s
        .enter(SimApi::WxaCodeUnlimited, &s.counters.wxacode_calls)
        .await
    {
        return wx_error(code);
    }
    if let Err(code) = s.check_mp_token(q.get("access_token")) {
        return wx_error(code);
    }
    // A body that is not JSON (a form, say) is reported like a bad scene (§1, pitfall 15).
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return wx_error(40169);
    };
    let scene = req.get("scene").and_then(Value::as_str).unwrap_or("");
    if scene.is_empty() || scene.chars().count() > MAX_SCENE_CHARS {
        return wx_error(40169);
    }
    if !scene.bytes().all(is_scene_byte) {
        return wx_error(40129);
    }
    let page = req.get("page").and_then(Value::as_str).unwrap_or("");
    let check_path = req
        .get("check_path")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let env_version = req
        .get("env_version")
        .and_then(Value::as_str)
        .unwrap_or("release");
    if !matches!(env_version, "release" | "trial" | "develop") {
        return wx_error(40097);
    }
    let width = req
        .get("width")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_WIDTH)
        .clamp(MIN_WIDTH, MAX_WIDTH) as u32;
    {
        let mut inner = s.lock();
        let Some(mp) = inner.mini_program.as_mut() else {
            return wx_error(48001);
        };
        let malformed = page.starts_with('/') || page.contains(['?', '#', ' ']);
        if malformed || (check_path && mp.unpublished.contains(page)) {
            return wx_error(41030);
        }
        if let Err(code) = inner.quotas.spend("/wxa/getwxacodeunlimit") {
            return wx_error(code);
        }
        let Some(mp) = inner.mini_program.as_mut() else {
            return wx_error(48001);
        };
        mp.served(SimWxaCode {
            scene: scene.to_owned(),
            page: page.to_owned(),
            env_version: env_version.to_owned(),
            check_path,
            width,
        });
    }
    match wxacode::render(scene, width) {
        Some(png) => ([(CONTENT_TYPE, "image/png")], png).into_response(),
        None => wx_error(-1),
    }
}

/// The characters a `scene` may use (§9.1).
fn is_scene_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&'()*+,/:;=?@-._~".contains(&b)
}

/// Field order as in the documentation's example.
#[derive(Serialize)]
struct SessionBody {
    openid: String,
    session_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    unionid: Option<String>,
}

pub(super) async fn jscode2session(State(s): Shr, Query(q): Params) -> Response {
    if let Some(code) = s
        .enter(SimApi::Jscode2Session, &s.counters.jscode2session_calls)
        .await
    {
        return wx_error(code);
    }
    let app_id = match s.check_credentials(
        q.get("appid").map(String::as_str),
        q.get("secret").map(String::as_str),
    ) {
        Ok(app_id) => app_id,
        Err(code) => return wx_error(code),
    };
    if q.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return wx_error(40002);
    }
    let Some(js_code) = q.get("js_code").filter(|c| !c.is_empty()) else {
        return wx_error(41008);
    };
    let grant = {
        let mut inner = s.lock();
        let issued = inner
            .mini_program
            .as_mut()
            // Codes belong to the Mini Program; the Official Account's credentials redeem none.
            .filter(|mp| mp.app_id == app_id)
            .and_then(|mp| mp.login_codes.get_mut(js_code));
        match issued.map(|code| code.redeem()) {
            Some(Ok(grant)) => grant,
            Some(Err(CodeRefusal::Used)) => return wx_error(40163),
            Some(Err(CodeRefusal::Invalid)) | None => return wx_error(40029),
        }
    };
    let key: [u8; 16] = rand::thread_rng().gen();
    json(&SessionBody {
        openid: grant.openid,
        session_key: base64::engine::general_purpose::STANDARD.encode(key),
        unionid: grant.unionid,
    })
}

#[derive(Serialize)]
struct PhoneBody {
    errcode: i64,
    errmsg: &'static str,
    phone_info: PhoneInfo,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhoneInfo {
    phone_number: String,
    pure_phone_number: String,
    country_code: String,
    watermark: Watermark,
}

#[derive(Serialize)]
struct Watermark {
    timestamp: u64,
    appid: String,
}

pub(super) async fn get_user_phone_number(
    State(s): Shr,
    Query(q): Params,
    body: Bytes,
) -> Response {
    if let Some(code) = s
        .enter(SimApi::GetUserPhoneNumber, &s.counters.phone_number_calls)
        .await
    {
        return wx_error(code);
    }
    let app_id = match s.check_mp_token(q.get("access_token")) {
        Ok(app_id) => app_id,
        Err(code) => return wx_error(code),
    };
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return wx_error(47001);
    };
    let Some(code) = req
        .get("code")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    else {
        return wx_error(41008);
    };
    let grant = {
        let mut inner = s.lock();
        let issued = inner
            .mini_program
            .as_mut()
            .and_then(|mp| mp.phone_codes.get_mut(code));
        // With the optional `openid`, WeChat checks the code was pressed by that user.
        let asked_for = req.get("openid").and_then(Value::as_str);
        let pressed_by = issued.as_ref().and_then(|i| i.grant.openid.as_deref());
        if let (Some(asked_for), Some(pressed_by)) = (asked_for, pressed_by) {
            if asked_for != pressed_by {
                return wx_error(40029);
            }
        }
        // The documentation lists only 40029 for this API: unknown, expired and used alike.
        match issued.map(|issued| issued.redeem()) {
            Some(Ok(grant)) => grant,
            _ => return wx_error(40029),
        }
    };
    json(&PhoneBody {
        errcode: 0,
        errmsg: "ok",
        phone_info: PhoneInfo {
            phone_number: grant.phone_number,
            pure_phone_number: grant.pure_phone_number,
            country_code: grant.country_code,
            watermark: Watermark {
                timestamp: unix_now(),
                appid: app_id,
            },
        },
    })
}
