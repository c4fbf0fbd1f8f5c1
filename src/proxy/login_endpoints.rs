//! The login endpoints under `auth_path`: the hosted page and widget, QR attempts and their
//! long-poll, phone binding, the ticket-for-session exchange, the Mini Program page's calls,
//! and (through [`super::app::DemoHooks`], when the demo runs) the demo scan. Plain async
//! functions over [`OwnRequest`], dispatched by `endpoints.rs`; every error goes through
//! `respond.rs`.

use std::time::Duration;

use serde::Deserialize;

use super::app::{App, LoginParts};
use super::cookie_check;
use super::own_request::{OwnRequest, UserView};
use super::respond::{GatewayError, Reply};
use crate::identity::{AttemptId, BrowserSecret, LoginMethod, SceneId};
use crate::login::{LoginError, Status};
use crate::pages;

/// Name of the cookie that binds a login attempt to the browser that started it.
pub const BINDING_COOKIE: &str = "scangate_login";
use crate::login::MAX_WAIT;

/// When a long-poll over the caps should come back: soon enough that the page still feels
/// live, late enough that a flood does not turn into a busy loop.
const POLL_RETRY_SECONDS: u64 = 3;

pub(super) fn sdk(req: &OwnRequest<'_>) -> Reply {
    let version = req.query_param("v");
    Reply::text(
        200,
        "application/javascript; charset=utf-8",
        pages::sdk_js(),
    )
    .header(
        "cache-control",
        pages::sdk_cache_control(version.as_deref()),
    )
}

pub(super) fn login_page(app: &App, req: &OwnRequest<'_>) -> Reply {
    let rd = req
        .query_param("rd")
        .and_then(|rd| app.checked_rd(&rd))
        .unwrap_or_else(|| "/".to_string());
    let methods: Vec<&str> = app
        .config
        .login
        .methods
        .iter()
        .map(|m| m.as_str())
        .collect();
    let lang = pages::Lang::from_accept_language(
        req.headers
            .get(http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let view = pages::LoginView {
        auth_path: &app.config.auth_path,
        rd: &rd,
        methods: &methods,
        phone_policy: phone_policy(app),
        demo: app.config.wechat.simulate,
        lang,
    };
    Reply::html(200, pages::render_login(&view))
        .header("content-security-policy", pages::page_csp())
        .header("x-frame-options", "DENY")
        .header("referrer-policy", "no-referrer")
}

/// `GET /check?rd=`: the first stop after a login. With the session cookie: on to `rd`. Without
/// it: a page saying why the cookie did not stick (never back to the login page, which would
/// loop).
pub(super) fn cookie_check(app: &App, req: &OwnRequest<'_>) -> Reply {
    let rd = req
        .query_param("rd")
        .and_then(|rd| app.checked_rd(&rd))
        .unwrap_or_else(|| "/".to_string());
    if app
        .session_of(req.headers, req.now)
        .is_some_and(|s| s.is_ok())
    {
        return Reply::redirect(302, &rd);
    }
    let https = app.scheme == "https"
        || req
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let session = &app.config.session;
    let causes = cookie_check::diagnose(&cookie_check::CookieFacts {
        host: req.host,
        cookie_domain: session.cookie_domain.as_deref(),
        cookie_secure: session.cookie_secure,
        https,
        any_cookie: req.headers.contains_key(http::header::COOKIE),
        cookie_name: &session.cookie_name,
    });
    tracing::warn!(host = %req.host, causes = ?causes, "session cookie did not come back after a login");
    let lang = pages::Lang::from_accept_language(
        req.headers
            .get(http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let message = format!(
        "You are signed in, but your browser did not keep the session cookie, so this site \
         cannot see it. {}",
        causes.join(" ")
    );
    Reply::html(
        200,
        pages::render_error_page(200, "The sign-in cookie did not stick", &message, lang),
    )
    .header("content-security-policy", pages::page_csp())
}

fn phone_policy(app: &App) -> &'static str {
    match app.config.login.phone {
        crate::config::PhonePolicy::Required => "required",
        crate::config::PhonePolicy::Optional => "optional",
        crate::config::PhonePolicy::Off => "off",
    }
}

fn parse_json<'a, T: Deserialize<'a>>(req: &'a OwnRequest<'_>) -> Result<T, GatewayError> {
    serde_json::from_slice(&req.body).map_err(|e| GatewayError::BadRequest {
        code: "bad_json",
        message: format!("The request body is not the expected JSON: {e}"),
    })
}

fn browser_secret<'a>(req: &'a OwnRequest<'_>) -> Option<&'a str> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| crate::session::find_cookie(v, BINDING_COOKIE))
}

/// The browser's binding secret as sent, or the error every binding-protected endpoint gives
/// without one (the same as for an unknown attempt: never tell which). Parsed where the
/// service is called ([`attempt_of`]), so a malformed one is refused at the same point as an
/// unknown attempt, after the request's own checks.
fn require_browser<'a>(req: &'a OwnRequest<'_>) -> Result<&'a str, GatewayError> {
    browser_secret(req).ok_or_else(|| GatewayError::from(LoginError::NotFound))
}

/// Attempt `id` of the browser holding `secret`, as the request spelled them. An id or a
/// secret that is not a token of ours names no attempt of this browser: the error of an
/// unknown attempt (the service would give the same for a well-formed stranger).
fn attempt_of(id: &str, secret: &str) -> Result<(AttemptId, BrowserSecret), GatewayError> {
    match (AttemptId::parse(id), BrowserSecret::parse(secret)) {
        (Ok(id), Ok(secret)) => Ok((id, secret)),
        _ => Err(LoginError::NotFound.into()),
    }
}

#[derive(Deserialize)]
struct StartBody {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    rd: Option<String>,
}

pub(super) async fn start(
    app: &App,
    login: &LoginParts,
    req: &OwnRequest<'_>,
) -> Result<Reply, GatewayError> {
    let body: StartBody = if req.body.is_empty() {
        StartBody {
            method: None,
            rd: None,
        }
    } else {
        parse_json(req)?
    };
    let methods = &app.config.login.methods;
    let method = match body.method.as_deref() {
        None => methods
            .first()
            .copied()
            .unwrap_or(LoginMethod::OfficialAccount),
        Some(m) => LoginMethod::parse(m)
            .filter(|m| methods.contains(m))
            .ok_or_else(|| GatewayError::BadRequest {
                code: "bad_method",
                message: format!("Login method {m:?} is not offered here."),
            })?,
    };
    // The page only ever sends an `rd` it was given after the same check, so a refused one
    // here is a crafted request: refuse it outright rather than log anyone in towards it.
    let rd = match body.rd.as_deref() {
        None | Some("") => "/".to_string(),
        Some(rd) => match app.checked_rd(rd) {
            Some(rd) => rd,
            None => {
                return Err(GatewayError::BadRequest {
                    code: "bad_redirect",
                    message: "rd must be a path on this site (or a host of its routes).".into(),
                })
            }
        },
    };
    // Starting a login ends any session this browser had (session fixation): the old
    // session is revoked and its cookie cleared, whoever logs in next.
    if let Some(user_id) = super::session_endpoints::end_session(app, req).await {
        crate::audit::revoke(&user_id, "login_started", req.client);
    }
    // A cookie that is not a secret of ours is no binding: a new secret replaces it.
    let existing = browser_secret(req).and_then(|s| BrowserSecret::parse(s).ok());
    let started = login
        .service
        .start(method, rd, existing.as_ref(), req.client, req.now)
        .await?;
    let auth = &app.config.auth_path;
    // An Official Account code is drawn by us from its content; a Mini Program code is the
    // image WeChat made.
    let image = match method {
        LoginMethod::OfficialAccount => "svg",
        LoginMethod::MiniProgram => "png",
    };
    let body = serde_json::json!({
        "id": started.id,
        "method": method.as_str(),
        "qr_content": started.qr_content,
        "qr_image": format!("{auth}/qr/{}.{image}", started.id),
        "expires_at": started.expires_at,
        "poll": format!("{auth}/qr/{}", started.id),
    });
    let cookie = binding_cookie(app, &started.browser_secret);
    Ok(Reply::json(201, &body)
        .header("set-cookie", &cookie)
        .header("set-cookie", &app.sessions.clear_cookie()))
}

fn binding_cookie(app: &App, secret: &BrowserSecret) -> String {
    let mut cookie = format!(
        "{BINDING_COOKIE}={}; Path={}; HttpOnly; SameSite=Lax; Max-Age=86400",
        secret.as_str(),
        app.config.auth_path
    );
    if app.config.session.cookie_secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The long-poll's `wait` parameter: seconds, at most [`MAX_WAIT`]; absent or unparsable is 0.
pub(super) fn requested_wait(query: Option<&str>) -> Duration {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "wait")
        .and_then(|(_, w)| w.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_secs)
        .min(MAX_WAIT)
}

pub(super) async fn poll(
    app: &App,
    login: &LoginParts,
    req: &OwnRequest<'_>,
    id: &str,
) -> Result<Reply, GatewayError> {
    let browser = require_browser(req)?;
    let since = req.query_param("since").and_then(|s| Status::parse(&s));
    let wait = requested_wait(req.query);
    // Only a poll that may wait holds a slot; an answer-at-once poll costs no more than any
    // other request.
    let _slot = if wait.is_zero() {
        None
    } else {
        match login.polls.acquire(req.client) {
            Ok(slot) => Some(slot),
            Err(refused) => {
                tracing::warn!(client = %req.client, ?refused, "long-poll refused: too many waiting");
                return Err(GatewayError::RateLimited {
                    retry_after_seconds: POLL_RETRY_SECONDS,
                });
            }
        }
    };
    let (id, browser) = attempt_of(id, browser)?;
    // A graceful stop answers waiting polls at once with what they have, rather than
    // letting the process exit under them; the page simply polls again (another instance).
    let view = tokio::select! {
        view = login.service.poll(&id, &browser, since, wait, req.now) => view,
        () = app.drained() => login.service.poll(&id, &browser, since, Duration::ZERO, req.now).await,
    }?;
    Ok(Reply::json(200, &view))
}

pub(super) async fn qr_image(
    login: &LoginParts,
    req: &OwnRequest<'_>,
    id: &str,
) -> Result<Reply, GatewayError> {
    let (id, browser) = attempt_of(id, require_browser(req)?)?;
    let content = login.service.qr_content(&id, &browser, req.now).await?;
    let svg = pages::qr_svg(&content).map_err(|_| GatewayError::Internal)?;
    Ok(Reply::text(200, "image/svg+xml", svg))
}

pub(super) async fn mini_program_code(
    login: &LoginParts,
    req: &OwnRequest<'_>,
    id: &str,
) -> Result<Reply, GatewayError> {
    let (id, browser) = attempt_of(id, require_browser(req)?)?;
    let image = login.service.qr_image(&id, &browser, req.now).await?;
    Ok(Reply::text(200, image.content_type, image.bytes))
}

// === the Mini Program page's calls (from the user's phone: no binding cookie) ===

/// The scene is whatever the page read from the code: every string is one ([`SceneId`]).
#[derive(Deserialize)]
struct SceneBody {
    scene: SceneId,
}

#[derive(Deserialize)]
struct ConfirmBody {
    scene: SceneId,
    code: String,
    #[serde(default)]
    phone_code: Option<String>,
}

pub(super) async fn mp_scanned(
    login: &LoginParts,
    req: &OwnRequest<'_>,
) -> Result<Reply, GatewayError> {
    let body: SceneBody = parse_json(req)?;
    login
        .service
        .mp_scanned(&body.scene, req.client, req.now)
        .await?;
    Ok(Reply::json(200, &serde_json::json!({"status": "scanned"})))
}

pub(super) async fn mp_confirm(
    login: &LoginParts,
    req: &OwnRequest<'_>,
) -> Result<Reply, GatewayError> {
    let body: ConfirmBody = parse_json(req)?;
    let confirmed = login
        .service
        .mp_confirm(
            &body.scene,
            &body.code,
            body.phone_code.as_deref(),
            req.client,
            req.now,
        )
        .await?;
    Ok(Reply::json(
        200,
        &serde_json::json!({"status": confirmed.status.as_str()}),
    ))
}

pub(super) async fn mp_cancel(
    login: &LoginParts,
    req: &OwnRequest<'_>,
) -> Result<Reply, GatewayError> {
    let body: SceneBody = parse_json(req)?;
    login
        .service
        .mp_cancel(&body.scene, req.client, req.now)
        .await?;
    Ok(Reply::json(
        200,
        &serde_json::json!({"status": "cancelled"}),
    ))
}

#[derive(Deserialize)]
struct CodeBody {
    id: String,
    phone: String,
}

pub(super) async fn send_code(
    login: &LoginParts,
    req: &OwnRequest<'_>,
) -> Result<Reply, GatewayError> {
    let browser = require_browser(req)?;
    let body: CodeBody = parse_json(req)?;
    let (id, browser) = attempt_of(&body.id, browser)?;
    login
        .service
        .send_code(&id, &browser, &body.phone, req.client, req.now)
        .await?;
    let mut json = serde_json::json!({"status": "sent"});
    // The demo shows the code on the page (there is no SMS).
    if let Some(code) = login.demo.as_ref().and_then(|d| d.shown_code(&body.phone)) {
        json["demo_code"] = code.into();
    }
    Ok(Reply::json(202, &json))
}

#[derive(Deserialize)]
struct BindBody {
    id: String,
    phone: String,
    code: String,
}

pub(super) async fn bind(login: &LoginParts, req: &OwnRequest<'_>) -> Result<Reply, GatewayError> {
    let browser = require_browser(req)?;
    let body: BindBody = parse_json(req)?;
    let (id, browser) = attempt_of(&body.id, browser)?;
    let confirmed = login
        .service
        .bind_phone(&id, &browser, &body.phone, &body.code, req.now)
        .await?;
    if let Ok(phone) = crate::identity::Phone::parse(&body.phone) {
        crate::audit::bind(id.as_str(), &phone, req.client);
    }
    Ok(Reply::json(
        200,
        &serde_json::json!({"status": "confirmed", "ticket": confirmed.ticket}),
    ))
}

#[derive(Deserialize)]
struct SkipBody {
    id: String,
}

pub(super) async fn skip(login: &LoginParts, req: &OwnRequest<'_>) -> Result<Reply, GatewayError> {
    let browser = require_browser(req)?;
    let body: SkipBody = parse_json(req)?;
    let (id, browser) = attempt_of(&body.id, browser)?;
    let confirmed = login.service.skip_phone(&id, &browser, req.now).await?;
    Ok(Reply::json(
        200,
        &serde_json::json!({"status": "confirmed", "ticket": confirmed.ticket}),
    ))
}

#[derive(Deserialize)]
struct SessionBody {
    ticket: String,
}

pub(super) async fn exchange(
    app: &App,
    login: &LoginParts,
    req: &OwnRequest<'_>,
) -> Result<Reply, GatewayError> {
    let browser = require_browser(req)?;
    let body: SessionBody = parse_json(req)?;
    // A cookie that is not a secret of ours is the wrong browser for every ticket: the answer
    // the service gives a wrong browser.
    let browser = BrowserSecret::parse(browser).map_err(|_| LoginError::TicketInvalid)?;
    let exchanged = login
        .service
        .exchange(&body.ticket, &browser, req.now)
        .await?;
    // A fresh session id on every login: any session the browser had before is replaced,
    // so a planted cookie cannot ride along (session fixation).
    let (token, _claims) = app.sessions.issue(&exchanged.identity, req.now);
    crate::audit::login(&exchanged.identity, req.client);
    // Through the cookie check: if the cookie does not come back, the user sees why instead
    // of the login page again.
    let body = serde_json::json!({
        "redirect": cookie_check::check_url(&app.config.auth_path, &exchanged.rd),
        "user": UserView::of(&exchanged.identity),
    });
    Ok(Reply::json(200, &body).header("set-cookie", &app.sessions.set_cookie(&token)))
}

/// `POST /demo/scan`: answered by the demo when it runs (`wechat.simulate: true`), else 404.
pub(super) async fn demo_scan(
    app: &App,
    login: &LoginParts,
    req: &OwnRequest<'_>,
) -> Result<Reply, GatewayError> {
    let Some(demo) = &login.demo else {
        return Err(GatewayError::NotFound);
    };
    demo.endpoint(app, login, req, browser_secret(req))
        .await
        .unwrap_or(Err(GatewayError::NotFound))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_capped_and_garbage_is_zero() {
        assert_eq!(requested_wait(Some("wait=99")), MAX_WAIT);
        assert_eq!(requested_wait(Some("wait=7")), Duration::from_secs(7));
        assert_eq!(requested_wait(Some("since=x&wait=soon")), Duration::ZERO);
        assert_eq!(requested_wait(None), Duration::ZERO);
    }

    #[test]
    fn a_malformed_id_or_secret_is_an_unknown_attempt() {
        const GOOD: &str = "AAAAAAAAAAAAAAAAAAAAAA";
        let (id, secret) = attempt_of(GOOD, GOOD).unwrap();
        assert_eq!((id.as_str(), secret.as_str()), (GOOD, GOOD));
        let unknown = GatewayError::from(LoginError::NotFound);
        for (id, secret) in [
            ("../x", GOOD),
            ("", GOOD),
            (GOOD, "not-a-secret"),
            (GOOD, ""),
        ] {
            assert_eq!(
                attempt_of(id, secret).err(),
                Some(unknown.clone()),
                "{id:?} {secret:?}"
            );
        }
    }
}
