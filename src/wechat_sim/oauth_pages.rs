//! The pages of `open.weixin.qq.com` the browser is sent to, as the simulator plays them:
//!
//! - `GET /connect/oauth2/authorize`: the Official Account's web authorization inside WeChat
//!   (授权登录), with "allow" as a new or a returning person, and "deny", which sends the
//!   browser back without a `code` as WeChat does;
//! - `GET /connect/qrconnect`: the website application's QR page (微信登录), where the
//!   simulated phone scans as a new or a returning person. (WeChat never sends the browser
//!   back when the person declines on the phone, so there is no "deny".)
//!
//! Both check their parameters as WeChat does and show WeChat's error codes on an error page
//! (10003 a `redirect_uri` outside the 网页授权域名, 10005 a scope the app may not ask for,
//! 10016 a website AppID on the Official Account's page, ...). The API behind them is in
//! `oauth.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;

use super::api::{random_string, Params, Shr};
use super::oauth::{self, SNSAPI_BASE, SNSAPI_LOGIN, SNSAPI_USERINFO};
use super::state::Shared;
use crate::pages::{escape_html, qr_svg};

/// Longest `state` WeChat takes (128 bytes of `[a-zA-Z0-9]`).
const MAX_STATE_BYTES: usize = 128;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/connect/oauth2/authorize", get(authorize_page))
        .route("/connect/oauth2/authorize/allow", get(authorize_allow))
        .route("/connect/oauth2/authorize/deny", get(authorize_deny))
        .route("/connect/qrconnect", get(qrconnect_page))
        .route("/connect/qrconnect/scan", get(qrconnect_scan))
        .route("/sns/oauth2/access_token", get(oauth::access_token))
        .route("/sns/userinfo", get(oauth::user_info))
}

/// Which of WeChat's pages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Page {
    /// `connect/oauth2/authorize`: the Official Account, inside WeChat.
    Authorize,
    /// `connect/qrconnect`: the website application.
    QrConnect,
}

/// A request to a page, checked.
struct AuthRequest {
    app_id: String,
    redirect_uri: String,
    scope: &'static str,
    state: String,
}

/// An error WeChat shows instead of the page: its code and text.
struct Refusal(u32, &'static str);

fn param<'a>(q: &'a HashMap<String, String>, name: &str) -> &'a str {
    q.get(name).map_or("", String::as_str)
}

/// The lower-case host of an `http(s)://` URL, without port.
fn host_of(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn read(s: &Shared, page: Page, q: &HashMap<String, String>) -> Result<AuthRequest, Refusal> {
    let app_id = param(q, "appid");
    if app_id.is_empty() {
        return Err(Refusal(10012, "appid不能为空"));
    }
    let (official, website, domain) = {
        let inner = s.lock();
        (
            app_id == s.app_id,
            inner.oauth.is_website(app_id),
            inner.oauth.domain.clone(),
        )
    };
    match page {
        Page::Authorize if website => {
            return Err(Refusal(
                10016,
                "不支持微信开放平台的Appid，请使用公众号Appid",
            ))
        }
        Page::Authorize if !official => return Err(Refusal(40013, "invalid appid")),
        Page::QrConnect if !website => return Err(Refusal(10005, "Scope参数错误或没有Scope权限")),
        _ => {}
    }
    let redirect_uri = param(q, "redirect_uri");
    if redirect_uri.is_empty() {
        return Err(Refusal(10011, "redirect_uri不能为空"));
    }
    let Some(host) = host_of(redirect_uri) else {
        return Err(Refusal(10003, "redirect_uri参数错误"));
    };
    if page == Page::Authorize && domain.is_some_and(|d| d != host) {
        return Err(Refusal(10003, "redirect_uri域名与后台配置不一致"));
    }
    if param(q, "response_type") != "code" {
        return Err(Refusal(10005, "response_type参数错误"));
    }
    let scope = match (page, param(q, "scope")) {
        (_, "") => return Err(Refusal(10010, "scope不能为空")),
        (Page::Authorize, "snsapi_base") => SNSAPI_BASE,
        (Page::Authorize, "snsapi_userinfo") => SNSAPI_USERINFO,
        (Page::QrConnect, "snsapi_login") => SNSAPI_LOGIN,
        (Page::Authorize, _) => return Err(Refusal(10005, "此公众号并没有这些scope的权限")),
        (Page::QrConnect, _) => return Err(Refusal(10005, "Scope参数错误或没有Scope权限")),
    };
    let state = param(q, "state");
    if state.len() > MAX_STATE_BYTES || !state.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Refusal(10013, "state参数错误：a-zA-Z0-9，最多128字节"));
    }
    Ok(AuthRequest {
        app_id: app_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scope,
        state: state.to_owned(),
    })
}

/// `redirect_uri` with `code` (when the person allowed) and `state` added to its query.
fn back_to(req: &AuthRequest, code: Option<&str>) -> String {
    let (uri, fragment) = match req.redirect_uri.split_once('#') {
        Some((uri, fragment)) => (uri, Some(fragment)),
        None => (req.redirect_uri.as_str(), None),
    };
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(code) = code {
        query.append_pair("code", code);
    }
    query.append_pair("state", &req.state);
    let separator = if uri.contains('?') { '&' } else { '?' };
    let mut out = format!("{uri}{separator}{}", query.finish());
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

fn redirect(location: &str) -> Response {
    (StatusCode::FOUND, [(LOCATION, location.to_owned())]).into_response()
}

fn html(body: String) -> Response {
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

const STYLE: &str = "body{font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;\
    margin:0;background:#ededed;color:#111}main{max-width:420px;margin:0 auto;padding:32px 20px;\
    text-align:center}h1{font-size:20px}.app{color:#576b95;word-break:break-all}.sim{color:#888;\
    font-size:13px}a.btn{display:block;margin:12px 0;padding:12px;border-radius:6px;\
    text-decoration:none;font-size:17px}.allow{background:#07c160;color:#fff}.deny{background:#fff;\
    color:#111}img{width:220px;height:220px;background:#fff}";

fn document(title: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head>\n<body><main>\n{main}\n</main></body></html>\n",
        title = escape_html(title),
    )
}

/// WeChat's error page: "Oops! Something went wrong:(" with the code and its text.
fn error_page(Refusal(code, text): Refusal) -> Response {
    html(document(
        "微信",
        &format!(
            "<h1>Oops! Something went wrong:(</h1>\n<p class=\"error\">错误码：{code}</p>\n\
             <p>{}</p>",
            escape_html(text)
        ),
    ))
}

/// The query of a page, for the links its buttons follow (the request's own parameters,
/// checked, plus `user`).
fn link(path: &str, req: &AuthRequest, user: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("appid", &req.app_id)
        .append_pair("redirect_uri", &req.redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", req.scope)
        .append_pair("state", &req.state);
    if let Some(user) = user {
        query.append_pair("user", user);
    }
    escape_html(&format!("{path}?{}", query.finish()))
}

async fn authorize_page(State(s): Shr, Query(q): Params) -> Response {
    let req = match read(&s, Page::Authorize, &q) {
        Ok(req) => req,
        Err(refusal) => return error_page(refusal),
    };
    let asks = if req.scope == SNSAPI_USERINFO {
        "获得你的公开信息（昵称、头像）"
    } else {
        "获得你的身份标识"
    };
    let allow = "/connect/oauth2/authorize/allow";
    html(document(
        "授权登录",
        &format!(
            "<h1>授权登录</h1>\n<p class=\"app\">{app}</p>\n<p>该网页申请{asks}</p>\n\
             <a class=\"btn allow\" data-user=\"new\" href=\"{new}\">允许（新用户）</a>\n\
             <a class=\"btn allow\" data-user=\"returning\" href=\"{returning}\">允许（老用户）</a>\n\
             <a class=\"btn deny\" data-action=\"deny\" href=\"{deny}\">拒绝</a>\n\
             <p class=\"sim\">微信模拟器：选择授权的人。真实微信对 snsapi_base 静默授权，不显示此页。</p>",
            app = escape_html(&req.app_id),
            new = link(allow, &req, Some("new")),
            returning = link(allow, &req, Some("returning")),
            deny = link("/connect/oauth2/authorize/deny", &req, None),
        ),
    ))
}

/// The person allowed: back to `redirect_uri` with a code for them.
async fn authorize_allow(State(s): Shr, Query(q): Params) -> Response {
    let req = match read(&s, Page::Authorize, &q) {
        Ok(req) => req,
        Err(refusal) => return error_page(refusal),
    };
    let user = s.page_user(param(&q, "user"));
    let code = s.grant_code(&req.app_id, &user, req.scope);
    redirect(&back_to(&req, Some(&code)))
}

/// The person declined: back to `redirect_uri` with the state only.
async fn authorize_deny(State(s): Shr, Query(q): Params) -> Response {
    match read(&s, Page::Authorize, &q) {
        Ok(req) => redirect(&back_to(&req, None)),
        Err(refusal) => error_page(refusal),
    }
}

async fn qrconnect_page(State(s): Shr, Query(q): Params) -> Response {
    let req = match read(&s, Page::QrConnect, &q) {
        Ok(req) => req,
        Err(refusal) => return error_page(refusal),
    };
    // What a real page's code carries: a confirmation link for the phone.
    let qr = qr_svg(&format!(
        "https://open.weixin.qq.com/connect/confirm?uuid={}",
        random_string(16)
    ))
    .map(|svg| base64::engine::general_purpose::STANDARD.encode(svg))
    .unwrap_or_default();
    let scan = "/connect/qrconnect/scan";
    html(document(
        "微信登录",
        &format!(
            "<h1>微信登录</h1>\n<img alt=\"二维码\" src=\"data:image/svg+xml;base64,{qr}\">\n\
             <p>请使用微信扫描二维码登录</p>\n<p class=\"app\">{app}</p>\n\
             <a class=\"btn allow\" data-user=\"new\" href=\"{new}\">模拟扫码：新用户</a>\n\
             <a class=\"btn allow\" data-user=\"returning\" href=\"{returning}\">模拟扫码：老用户</a>\n\
             <p class=\"sim\">微信模拟器：选择扫码的人，模拟手机上的“确认登录”。</p>",
            app = escape_html(&req.app_id),
            new = link(scan, &req, Some("new")),
            returning = link(scan, &req, Some("returning")),
        ),
    ))
}

/// The phone scanned and confirmed: back to `redirect_uri` with a code.
async fn qrconnect_scan(State(s): Shr, Query(q): Params) -> Response {
    let req = match read(&s, Page::QrConnect, &q) {
        Ok(req) => req,
        Err(refusal) => return error_page(refusal),
    };
    let user = s.page_user(param(&q, "user"));
    let code = s.grant_code(&req.app_id, &user, req.scope);
    redirect(&back_to(&req, Some(&code)))
}
