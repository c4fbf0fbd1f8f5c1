//! The simulated custom menu API: `POST /cgi-bin/menu/create` checks a menu the way WeChat
//! does (the first problem wins, with its documented code) and keeps it;
//! `GET /cgi-bin/get_current_selfmenu_info` gives it back in WeChat's other shape
//! (`is_menu_open`, `selfmenu_info`, sub-buttons under `sub_button.list`).
//!
//! Checked independently of the client's `Menu::validate`, on the raw JSON, so a test can show
//! that what the client refuses locally WeChat would refuse too. Not modelled: which Mini
//! Programs are linked to the account, and whether `media_id`/`article_id` values exist.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use super::api::{json, wx_error, Params, Shr};
use super::SimApi;
use crate::wechat::client::BUTTON_TYPES;

/// Types whose buttons need a `key`.
const KEY_TYPES: [&str; 7] = [
    "click",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
];

pub(super) async fn menu_create(State(s): Shr, Query(q): Params, body: Bytes) -> Response {
    if let Some(code) = s.enter(SimApi::MenuCreate, &s.counters.menu_creates).await {
        return wx_error(code);
    }
    if let Err(code) = s.check_token(q.get("access_token")) {
        return wx_error(code);
    }
    if has_non_ascii_escape(&body) {
        return wx_error(40033);
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return wx_error(47001);
    };
    let buttons = match check_menu(&request) {
        Ok(buttons) => buttons.clone(),
        Err(code) => return wx_error(code),
    };
    s.lock().menu = Some(buttons);
    json(&serde_json::json!({"errcode": 0, "errmsg": "ok"}))
}

pub(super) async fn current_selfmenu_info(State(s): Shr, Query(q): Params) -> Response {
    if let Some(code) = s.enter(SimApi::MenuGet, &s.counters.menu_gets).await {
        return wx_error(code);
    }
    if let Err(code) = s.check_token(q.get("access_token")) {
        return wx_error(code);
    }
    let menu = s.lock().menu.clone();
    let body = match menu.as_ref().and_then(Value::as_array) {
        Some(buttons) => SelfMenu {
            is_menu_open: 1,
            selfmenu_info: Some(SelfMenuInfo {
                button: buttons.iter().map(self_button).collect(),
            }),
        },
        None => SelfMenu {
            is_menu_open: 0,
            selfmenu_info: None,
        },
    };
    json(&body)
}

/// The `button` array of an acceptable menu, or WeChat's code for its first problem.
fn check_menu(request: &Value) -> Result<&Value, i64> {
    let button = request.get("button").ok_or(40016)?;
    let buttons = button.as_array().ok_or(40016)?;
    if buttons.is_empty() || buttons.len() > 3 {
        return Err(40016);
    }
    for top in buttons {
        match top.get("sub_button").and_then(Value::as_array) {
            Some(subs) if !subs.is_empty() => {
                check_name(top, 16, 40018)?;
                if subs.len() > 5 {
                    return Err(40023);
                }
                for sub in subs {
                    check_leaf(sub, &SUB_CODES)?;
                }
            }
            _ => check_leaf(top, &TOP_CODES)?,
        }
    }
    Ok(button)
}

/// The codes of one menu level: the top level and the sub-buttons have their own.
struct LevelCodes {
    max_name: usize,
    name: i64,
    kind: i64,
    key: i64,
    url: i64,
    url_domain: i64,
}

const TOP_CODES: LevelCodes = LevelCodes {
    max_name: 16,
    name: 40018,
    kind: 40017,
    key: 40019,
    url: 40020,
    url_domain: 40055,
};

const SUB_CODES: LevelCodes = LevelCodes {
    max_name: 60,
    name: 40025,
    kind: 40024,
    key: 40026,
    url: 40027,
    url_domain: 40054,
};

fn check_leaf(button: &Value, codes: &LevelCodes) -> Result<(), i64> {
    check_name(button, codes.max_name, codes.name)?;
    let kind = text(button, "type")
        .filter(|kind| BUTTON_TYPES.contains(kind))
        .ok_or(codes.kind)?;
    if KEY_TYPES.contains(&kind) {
        text(button, "key")
            .filter(|key| (1..=128).contains(&key.len()))
            .ok_or(codes.key)?;
    }
    if matches!(kind, "view" | "miniprogram") {
        let url = text(button, "url")
            .filter(|url| (1..=1024).contains(&url.len()))
            .ok_or(codes.url)?;
        let lower = url.to_ascii_lowercase();
        let host = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .and_then(|rest| rest.split(['/', '?', '#']).next())
            .filter(|host| !host.is_empty());
        if host.is_none() {
            return Err(codes.url_domain);
        }
    }
    if kind == "miniprogram" && text(button, "pagepath").is_none_or(str::is_empty) {
        return Err(40165);
    }
    Ok(())
}

fn check_name(button: &Value, max: usize, code: i64) -> Result<(), i64> {
    text(button, "name")
        .filter(|name| (1..=max).contains(&name.len()))
        .map(|_| ())
        .ok_or(code)
}

fn text<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    value.get(field).and_then(Value::as_str)
}

/// True when a JSON body escapes a non-ASCII character as `\uXXXX`, which WeChat refuses
/// (40033): it wants raw UTF-8 (§1).
fn has_non_ascii_escape(body: &[u8]) -> bool {
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'\\' {
            i += 1;
            continue;
        }
        if body.get(i + 1) == Some(&b'u') {
            let code = body
                .get(i + 2..i + 6)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            if code.is_some_and(|c| c >= 0x80) {
                return true;
            }
        }
        // Skip the escaped character, so `\\u00e9` (a backslash, then text) is not an escape.
        i += 2;
    }
    false
}

#[derive(Serialize)]
struct SelfMenu {
    is_menu_open: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    selfmenu_info: Option<SelfMenuInfo>,
}

#[derive(Serialize)]
struct SelfMenuInfo {
    button: Vec<SelfButton>,
}

/// A button as `get_current_selfmenu_info` shows it.
#[derive(Serialize)]
struct SelfButton {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    appid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pagepath: Option<String>,
    /// A `media_id` button's material.
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    article_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_button: Option<SubButtons>,
}

#[derive(Serialize)]
struct SubButtons {
    list: Vec<SelfButton>,
}

/// A posted (and accepted) button in `get_current_selfmenu_info`'s shape.
fn self_button(button: &Value) -> SelfButton {
    let field = |name: &str| text(button, name).map(str::to_owned);
    let subs = button
        .get("sub_button")
        .and_then(Value::as_array)
        .filter(|subs| !subs.is_empty());
    if let Some(subs) = subs {
        return SelfButton {
            kind: None,
            name: field("name").unwrap_or_default(),
            key: None,
            url: None,
            appid: None,
            pagepath: None,
            value: None,
            article_id: None,
            sub_button: Some(SubButtons {
                list: subs.iter().map(self_button).collect(),
            }),
        };
    }
    let kind = field("type");
    let is = |kinds: &[&str]| kind.as_deref().is_some_and(|k| kinds.contains(&k));
    SelfButton {
        name: field("name").unwrap_or_default(),
        key: field("key").filter(|_| is(&KEY_TYPES)),
        url: field("url").filter(|_| is(&["view", "miniprogram"])),
        appid: field("appid").filter(|_| is(&["miniprogram"])),
        pagepath: field("pagepath").filter(|_| is(&["miniprogram"])),
        value: field("media_id").filter(|_| is(&["media_id", "view_limited"])),
        article_id: field("article_id").filter(|_| is(&["article_id", "article_view_limited"])),
        sub_button: None,
        kind,
    }
}
