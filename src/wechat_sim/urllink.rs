//! Simulated Mini Program URL Links: `POST /wxa/generate_urllink` answers a link on the
//! simulator's own address, `http://<simulator>/wxaurl/<ticket>` (WeChat's are
//! `https://wxaurl.cn/<ticket>`: a short ticket naming the page and query), so a browser on
//! this machine can open it. Opening it plays what WeChat then does on the phone: our Mini
//! Program page (`examples/miniprogram`) opens with the link's query as its options, tells the
//! gateway it was opened (`/mp/scanned`), and shows its buttons; pressing one sends what the
//! page sends (`/mp/confirm` with a `wx.login` code, and the phone button's code for
//! "confirm with phone number", or `/mp/cancel`), as a person new to the site.
//!
//! The gateway the page calls is set by [`SimHandle::set_mini_program_page`] (the demo sets
//! it); without one the page says so.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::api::{json, random_string, wx_error, Params, Shr};
use super::{MpPage, SimApi, SimHandle, SimUser};

/// Longest `query` WeChat takes.
const MAX_QUERY_LEN: usize = 1024;
/// Longest expiry, in days (since April 2022).
const MAX_DAYS: u64 = 30;
/// Links kept at most; the oldest go first.
const LINKS_KEPT: usize = 1024;

/// One link `generate_urllink` made, as requested (defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUrlLink {
    /// The whole link, as answered.
    pub url: String,
    /// The page it opens; empty = the home page.
    pub path: String,
    /// What the page receives as its options.
    pub query: String,
    pub env_version: String,
    /// `expire_type` 1: days; `expire_type` 0: the seconds until `expire_time`, as days
    /// rounded up.
    pub expire_days: u64,
    expires_at: Instant,
}

/// The links made, by ticket.
#[derive(Default)]
pub(super) struct Links {
    by_ticket: HashMap<String, SimUrlLink>,
    order: Vec<String>,
}

impl Links {
    fn add(&mut self, ticket: String, link: SimUrlLink) {
        if self.order.len() >= LINKS_KEPT {
            let oldest = self.order.remove(0);
            self.by_ticket.remove(&oldest);
        }
        self.order.push(ticket.clone());
        self.by_ticket.insert(ticket, link);
    }
}

/// The gateway our simulated page calls.
#[derive(Clone, Debug)]
pub(super) struct PageTarget {
    gateway_base: String,
    auth_path: String,
}

impl SimHandle {
    /// Where the simulated Mini Program page that a URL Link opens sends its calls:
    /// `{gateway_base}{auth_path}/mp/*`, like `examples/miniprogram` set to that gateway.
    pub fn set_mini_program_page(&self, gateway_base: &str, auth_path: &str) {
        self.shared.lock().page_target = Some(PageTarget {
            gateway_base: gateway_base.to_owned(),
            auth_path: auth_path.to_owned(),
        });
    }

    /// The URL Links made so far, oldest first.
    pub fn url_links(&self) -> Vec<SimUrlLink> {
        let inner = self.shared.lock();
        let Some(mp) = inner.mini_program.as_ref() else {
            return Vec::new();
        };
        let links = &mp.url_links;
        links
            .order
            .iter()
            .filter_map(|t| links.by_ticket.get(t).cloned())
            .collect()
    }

    /// Lets every URL Link made so far expire now: opening one shows WeChat's "expired".
    pub fn expire_url_links(&self) {
        if let Some(mp) = self.shared.lock().mini_program.as_mut() {
            let now = Instant::now();
            for link in mp.url_links.by_ticket.values_mut() {
                link.expires_at = now;
            }
        }
    }
}

#[derive(Serialize)]
struct LinkBody {
    errcode: i64,
    errmsg: &'static str,
    url_link: String,
}

pub(super) async fn generate_urllink(
    State(s): Shr,
    Query(q): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(code) = s
        .enter(SimApi::GenerateUrlLink, &s.counters.urllink_calls)
        .await
    {
        return wx_error(code);
    }
    if let Err(code) = s.check_mp_token(q.get("access_token")) {
        return wx_error(code);
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return wx_error(47001);
    };
    let text = |key: &str| req.get(key).and_then(Value::as_str).unwrap_or("");
    let (path, query, env_version) = (text("path"), text("query"), text("env_version"));
    let env_version = if env_version.is_empty() {
        "release"
    } else {
        env_version
    };
    if !matches!(env_version, "release" | "trial" | "develop") {
        return wx_error(40097);
    }
    let query_ok = query.len() <= MAX_QUERY_LEN
        && query
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$&'()*+,/:;=?@-._~%".contains(&b));
    if !query_ok {
        return wx_error(40212);
    }
    let number = |key: &str| req.get(key).and_then(Value::as_u64);
    let expire_days = match number("expire_type") {
        Some(1) => match number("expire_interval") {
            Some(days) if (1..=MAX_DAYS).contains(&days) => days,
            _ => return wx_error(85402),
        },
        Some(0) => {
            let now = super::unix_now();
            match number("expire_time") {
                Some(at) if at > now + 60 && at <= now + MAX_DAYS * 86_400 => {
                    (at - now).div_ceil(86_400)
                }
                _ => return wx_error(85401),
            }
        }
        _ => return wx_error(40097),
    };
    // The link is on the address the caller reached the simulator at.
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return wx_error(-1);
    };
    let ticket = random_string(12);
    let url = format!("http://{host}/wxaurl/{ticket}");
    {
        let mut inner = s.lock();
        let Some(mp) = inner.mini_program.as_mut() else {
            return wx_error(48001);
        };
        let malformed = path.starts_with('/') || path.contains(['?', '#', ' ']);
        if malformed || mp.unpublished.contains(path) {
            return wx_error(40165);
        }
        let lifetime = Duration::from_secs(expire_days.saturating_mul(86_400));
        mp.url_links.add(
            ticket,
            SimUrlLink {
                url: url.clone(),
                path: path.to_owned(),
                query: query.to_owned(),
                env_version: env_version.to_owned(),
                expire_days,
                expires_at: Instant::now() + lifetime,
            },
        );
    }
    json(&LinkBody {
        errcode: 0,
        errmsg: "ok",
        url_link: url,
    })
}

/// Why a link opens no page.
enum Closed {
    /// Unknown, or past its expiry.
    Expired,
    /// [`SimHandle::set_mini_program_page`] was never called.
    NoGateway,
}

impl Closed {
    fn answer(self) -> Response {
        match self {
            Closed::Expired => page(
                StatusCode::NOT_FOUND,
                "链接已失效 / This link has expired",
                "<p>Get a new one on the sign-in page.</p>",
            ),
            Closed::NoGateway => page(
                StatusCode::SERVICE_UNAVAILABLE,
                "No Mini Program page",
                "<p>The simulator was not told which gateway the page calls.</p>",
            ),
        }
    }
}

/// What opening a link finds: the page's scene (from the link's query) and the gateway.
fn opened(s: &super::state::Shared, ticket: &str) -> Result<(String, PageTarget), Closed> {
    let inner = s.lock();
    let link = inner
        .mini_program
        .as_ref()
        .and_then(|mp| mp.url_links.by_ticket.get(ticket))
        .filter(|link| Instant::now() < link.expires_at)
        .ok_or(Closed::Expired)?;
    // The page reads `scene` from its options, as `examples/miniprogram` does.
    let scene = form_urlencoded::parse(link.query.as_bytes())
        .find(|(k, _)| k == "scene")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let target = inner.page_target.clone().ok_or(Closed::NoGateway)?;
    Ok((scene, target))
}

/// `GET /wxaurl/{ticket}`: WeChat opens the page; its `onLoad` tells the gateway.
pub(super) async fn open_link(State(s): Shr, Path(ticket): Path<String>) -> Response {
    let (scene, target) = match opened(&s, &ticket) {
        Ok(found) => found,
        Err(closed) => return closed.answer(),
    };
    let mp = MpPage::new(&target.gateway_base, &target.auth_path);
    let (status, answer) = mp.scanned(&scene).await;
    if status != 200 {
        return page(
            StatusCode::OK,
            "登录码已失效 / This sign-in is no longer valid",
            &format!("<p>{}</p>", escape(&answer.to_string())),
        );
    }
    let t = escape(&ticket);
    page(
        StatusCode::OK,
        "确认登录 / Confirm sign-in",
        &format!(
            "<p>Simulated WeChat: the Mini Program's sign-in page, opened by a URL Link.</p>\n\
             <form method=\"post\" action=\"/wxaurl/{t}/confirm_phone\"><button class=\"primary\" type=\"submit\">确认并授权手机号 / Confirm with phone number</button></form>\n\
             <form method=\"post\" action=\"/wxaurl/{t}/confirm\"><button type=\"submit\">确认登录 / Confirm</button></form>\n\
             <form method=\"post\" action=\"/wxaurl/{t}/cancel\"><button type=\"submit\">取消 / Cancel</button></form>"
        ),
    )
}

/// `POST /wxaurl/{ticket}/{confirm|confirm_phone|cancel}`: a button of the page, pressed by
/// someone new to the site.
pub(super) async fn act_on_link(
    State(s): Shr,
    Path((ticket, action)): Path<(String, String)>,
) -> Response {
    let (scene, target) = match opened(&s, &ticket) {
        Ok(found) => found,
        Err(closed) => return closed.answer(),
    };
    let mp = MpPage::new(&target.gateway_base, &target.auth_path);
    let (status, answer) = match action.as_str() {
        "cancel" => mp.cancel(&scene).await,
        "confirm" | "confirm_phone" => {
            let user = new_person();
            let js_code = s.mp_login_code(&user);
            let phone_code =
                (action == "confirm_phone").then(|| s.mp_phone_code(&new_number(), Some(&user)));
            mp.confirm(&scene, &js_code, phone_code.as_deref()).await
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let said = match (status, answer["status"].as_str()) {
        (200, Some("confirmed")) => "已登录，请回到浏览器继续 / Signed in: go back to your browser",
        (200, Some("need_phone")) => {
            "请在浏览器中完成手机号验证 / Go back to your browser to verify your phone number"
        }
        (200, Some("cancelled")) => "已取消登录 / Sign-in cancelled",
        _ => "登录失败 / Sign-in failed",
    };
    page(
        StatusCode::OK,
        said,
        &format!(
            "<p class=\"answer\">{}</p>",
            escape(&format!("{status} {answer}"))
        ),
    )
}

/// A WeChat user the site has never seen.
fn new_person() -> SimUser {
    let id = random_string(16);
    SimUser {
        openid: format!("o_link_{id}"),
        unionid: Some(format!("un_link_{id}")),
        follows: false,
    }
}

/// A Chinese mobile number for a new person: 137 and eight random digits.
fn new_number() -> String {
    let n: u32 = rand::Rng::gen_range(&mut rand::thread_rng(), 0..100_000_000);
    format!("137{n:08}")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n{body}\n</body></html>\n",
        title = escape(title)
    );
    (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
