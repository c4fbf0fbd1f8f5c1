//! The login endpoints under `auth_path`: the hosted page and widget, QR attempts and their
//! long-poll, phone binding, the ticket-for-session exchange, the Mini Program page's calls,
//! and (through [`super::app::DemoHooks`], when the demo runs) the demo scan. Plain async
//! functions over [`OwnRequest`], dispatched by `endpoints.rs`; every error goes through
//! `respond.rs`.

use std::time::Duration;

use serde::Deserialize;

use super::app::{App, LoginParts};
use super::cookie_check;
use super::device::Device;
use super::own_request::{OwnRequest, UserView};
use super::respond::{GatewayError, Reply};
use crate::identity::{AttemptId, BrowserSecret, LoginMethod, SceneId};
use crate::login::{LoginError, Status};
use crate::pages;

/// Prefix of the cookies that bind a login attempt to the browser that started it: one cookie
/// per attempt, `scangate_login_<attempt id>`, so two tabs or two widgets that start at the
/// same moment never overwrite each other's binding. Each lives only as long as its attempt.
pub const BINDING_COOKIE_PREFIX: &str = "scangate_login_";
use crate::login::MAX_WAIT;

/// When a long-poll over the caps should come back: soon enough that the page still feels
/// live, late enough that a flood does not turn into a busy loop.
const POLL_RETRY_SECONDS: u64 = 3;

pub(super) fn sdk(app: &App, req: &OwnRequest<'_>) -> Reply {
    let version = req.query_param("v");
    let js = match pages::sdk_js_for(app.config.login.site_name.as_deref()) {
        std::borrow::Cow::Borrowed(js) => bytes::Bytes::from_static(js.as_bytes()),
        std::borrow::Cow::Owned(js) => bytes::Bytes::from(js),
    };
    Reply::text(200, "application/javascript; charset=utf-8", js).header(
        "cache-control",
        pages::sdk_cache_control(version.as_deref()),
    )
}

/// `GET /login?rd=`: the hosted page. A visitor who is signed in already goes on to `rd` at
/// once (pressing Back after a login lands here; it must not start a login, let alone end the
/// session), unless they ask to switch account with `switch=1`. Inside WeChat with web
/// authorization on, the page sends the browser there instead (`oauth_endpoints`), unless it
/// shows why a sign-in failed (`error=`) or takes a phone number (`attempt=`).
pub(super) fn login_page(app: &App, req: &OwnRequest<'_>) -> Reply {
    let rd = checked_rd_or_root(app, req);
    let switch = req.query_param("switch").as_deref() == Some("1");
    if !switch && super::session_endpoints::valid_session(app, req).is_some() {
        return Reply::redirect(302, &rd);
    }
    let oauth = match super::oauth_endpoints::on_login_page(app, req, &rd, switch) {
        Ok(oauth) => oauth,
        Err(to_wechat) => return to_wechat,
    };
    let methods: Vec<&str> = app
        .config
        .login
        .methods
        .iter()
        .map(|m| m.as_str())
        .collect();
    let countries = app.config.login.phone_countries.code_strs();
    let device = device_of(app, req);
    let view = pages::LoginView {
        auth_path: &app.config.auth_path,
        rd: &rd,
        methods: &methods,
        phone_policy: phone_policy(app),
        demo: app.config.wechat.simulate,
        lang: lang_of(req),
        phone_countries: &countries,
        device: device.as_str(),
        oauth: oauth.view(),
        site: app.config.login.site_name.as_deref().unwrap_or(req.host),
    };
    Reply::html(200, pages::render_login(&view))
        .header("content-security-policy", pages::page_csp())
        .header("x-frame-options", "DENY")
        .header("referrer-policy", "no-referrer")
}

/// The device the page is for: from the `User-Agent`, or, in the demo only, from `?device=`
/// (its device switch).
fn device_of(app: &App, req: &OwnRequest<'_>) -> Device {
    let chosen = app
        .config
        .wechat
        .simulate
        .then(|| req.query_param("device"))
        .flatten()
        .and_then(|d| Device::parse(&d));
    chosen.unwrap_or_else(|| {
        Device::of(
            req.headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        )
    })
}

pub(super) fn checked_rd_or_root(app: &App, req: &OwnRequest<'_>) -> String {
    req.query_param("rd")
        .and_then(|rd| app.checked_rd(&rd))
        .unwrap_or_else(|| "/".to_string())
}

fn lang_of(req: &OwnRequest<'_>) -> pages::Lang {
    pages::Lang::from_accept_language(
        req.headers
            .get(http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// `GET /check?rd=`: the first stop after a login. With the session cookie: on to `rd`. Without
/// it: a page saying why the cookie may not have stuck (never back to the login page, which
/// would loop). The page cannot tell a browser that just logged in from one that came here by
/// itself, so it says what it checks and what it found, in the visitor's language.
pub(super) fn cookie_check(app: &App, req: &OwnRequest<'_>) -> Reply {
    let rd = checked_rd_or_root(app, req);
    if super::session_endpoints::valid_session(app, req).is_some() {
        return Reply::redirect(302, &rd);
    }
    let https = is_https(app, req);
    let session = &app.config.session;
    let causes = cookie_check::diagnose(&cookie_check::CookieFacts {
        host: req.host,
        cookie_domain: session.cookie_domain.as_deref(),
        cookie_secure: session.cookie_secure,
        https,
        any_cookie: req.headers.contains_key(http::header::COOKIE),
    });
    // A deployment fault (a domain or Secure flag that cannot work here) is the operator's to
    // fix; a browser that blocks cookies is the visitor's business, and anyone can open this
    // page, so it must not flood the log at warn.
    let operator_fault = causes.iter().any(|c| {
        matches!(
            c,
            cookie_check::Cause::DomainNotCovering { .. } | cookie_check::Cause::SecureOverHttp
        )
    });
    if operator_fault {
        tracing::warn!(host = %req.host, causes = ?causes, "the session cookie cannot work on this host (check session.cookie_domain / cookie_secure)");
    } else {
        tracing::debug!(host = %req.host, causes = ?causes, "no session cookie at the cookie check");
    }
    let lang = lang_of(req);
    let login = super::redirect::login_url(&app.config.auth_path, &rd);
    Reply::html(200, cookie_check::render_page(&causes, &login, lang))
        .header("content-security-policy", pages::page_csp())
}

/// Whether the browser reached us over HTTPS: our own TLS, or a proxy in front saying so.
pub(super) fn is_https(app: &App, req: &OwnRequest<'_>) -> bool {
    app.scheme == "https"
        || req
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

fn phone_policy(app: &App) -> &'static str {
    match app.config.login.phone {
        crate::config::PhonePolicy::Required => "required",
        crate::config::PhonePolicy::Optional => "optional",
        crate::config::PhonePolicy::Off => "off",
    }
}

pub(super) fn parse_json<'a, T: Deserialize<'a>>(
    req: &'a OwnRequest<'_>,
) -> Result<T, GatewayError> {
    serde_json::from_slice(&req.body).map_err(|e| GatewayError::BadRequest {
        code: "bad_json",
        message: format!("The request body is not the expected JSON: {e}"),
    })
}

/// The binding cookie's name for attempt `id`.
fn binding_cookie_name(id: &str) -> String {
    format!("{BINDING_COOKIE_PREFIX}{id}")
}

/// Every binding cookie the request carries, as (attempt id, secret) as sent.
fn binding_cookies<'a>(req: &'a OwnRequest<'_>) -> impl Iterator<Item = (&'a str, &'a str)> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| crate::session::cookies_with_prefix(v, BINDING_COOKIE_PREFIX))
}

/// The id and secret as typed values; a spelling that is not a token of ours names no
/// attempt of this browser: the error of an unknown attempt (the service would give the same
/// for a well-formed stranger).
fn parse_binding(id: &str, secret: &str) -> Result<(AttemptId, BrowserSecret), GatewayError> {
    match (AttemptId::parse(id), BrowserSecret::parse(secret)) {
        (Ok(id), Ok(secret)) => Ok((id, secret)),
        _ => Err(LoginError::NotFound.into()),
    }
}

/// Attempt `id` with the secret of the browser that sent `req`. A cookie that is there but
/// wrong answers as an unknown attempt (never tell which), and so does a browser holding
/// other attempts' cookies but not this one's. No binding cookie at all for an attempt that
/// exists means the browser did not keep the cookie the start set: that is
/// `cookies_blocked`, so the page can say what to do instead of "not found, start again",
/// which would only repeat itself. (It tells someone holding an attempt id, a 128-bit secret
/// of the page, only that the attempt exists.)
async fn attempt_of(
    login: &LoginParts,
    req: &OwnRequest<'_>,
    id: &str,
) -> Result<(AttemptId, BrowserSecret), GatewayError> {
    let mut any_binding = false;
    for (attempt, secret) in binding_cookies(req) {
        if attempt == id {
            return parse_binding(id, secret);
        }
        any_binding = true;
    }
    // A browser that kept other attempts' cookies keeps cookies: this attempt is not its own.
    if any_binding {
        return Err(LoginError::NotFound.into());
    }
    let Ok(attempt) = AttemptId::parse(id) else {
        return Err(LoginError::NotFound.into());
    };
    if login.service.exists(&attempt).await? {
        Err(LoginError::CookiesBlocked.into())
    } else {
        Err(LoginError::NotFound.into())
    }
}

#[derive(Deserialize)]
struct StartBody {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    rd: Option<String>,
    /// Mini Program only: also make a URL Link that opens its page (phone browsers).
    #[serde(default)]
    link: bool,
}

pub(super) async fn start(
    app: &App,
    login: &LoginParts,
    req: &OwnRequest<'_>,
) -> Result<Reply, GatewayError> {
    // Each code spends one of WeChat's daily calls: only a page's script asks for one. A form
    // or link navigation and a speculative prefetch are nobody looking at a code.
    if !asked_by_a_script(req.headers) {
        return Err(GatewayError::Refused {
            status: 400,
            code: "not_a_script",
            message: "Login codes are made for the login page's script, not for a navigation or a prefetch.".into(),
        });
    }
    let body: StartBody = if req.body.is_empty() {
        StartBody {
            method: None,
            rd: None,
            link: false,
        }
    } else {
        parse_json(req)?
    };
    // The methods with a code to show: SMS login starts at `/sms/code`, the website and
    // in-WeChat sign-ins on WeChat's own page (`oauth_endpoints`).
    let methods = &app.config.login.methods;
    let has_code = |m: &LoginMethod| {
        matches!(m, LoginMethod::OfficialAccount | LoginMethod::MiniProgram) && methods.contains(m)
    };
    let method = match body.method.as_deref() {
        None => methods
            .iter()
            .copied()
            .find(has_code)
            .unwrap_or(LoginMethod::OfficialAccount),
        Some(m) => {
            LoginMethod::parse(m)
                .filter(has_code)
                .ok_or_else(|| match LoginMethod::parse(m) {
                    // No code of ours: WeChat's own page (`oauth_endpoints`).
                    Some(method @ (LoginMethod::Website | LoginMethod::InWechat)) => {
                        GatewayError::BadRequest {
                            code: "bad_method",
                            message: format!(
                                "Login method {method} signs in on WeChat's own page: open {}/wechat/oauth/start?method={method}.",
                                app.config.auth_path
                            ),
                        }
                    }
                    _ => GatewayError::BadRequest {
                        code: "bad_method",
                        message: format!("Login method {m:?} is not offered here."),
                    },
                })?
        }
    };
    let rd = checked_body_rd(app, body.rd.as_deref())?;
    // Starting a login never touches the session the browser has: pressing Back to the
    // login page, or a page embedding the widget, must not sign anyone out. The session is
    // replaced when a login completes (`exchange`). Every attempt gets its own secret and
    // cookie, so attempts in two tabs never share (or overwrite) a binding.
    let started = login.service.start(method, rd, req.client, req.now).await?;
    let auth = &app.config.auth_path;
    // An Official Account code is drawn by us from its content; a Mini Program code is the
    // image WeChat made.
    // The method the attempt got: a Mini Program one when the Official Account's quota is
    // spent (the page shows whichever code it is given).
    let method = started.method;
    let image = if method == LoginMethod::MiniProgram {
        "png"
    } else {
        "svg"
    };
    let mut json = serde_json::json!({
        "id": started.id,
        "method": method.as_str(),
        "qr_content": started.qr_content,
        "qr_image": format!("{auth}/qr/{}.{image}", started.id),
        "expires_at": started.expires_at,
        "poll": format!("{auth}/qr/{}", started.id),
    });
    // On a phone there is no code to scan with the phone that shows it: a link opens the
    // Mini Program's page instead, and the browser polls as for a scanned code.
    if body.link && method == LoginMethod::MiniProgram {
        let link = login
            .service
            .mini_program_link(&started.id, &started.browser_secret, req.now)
            .await?;
        json["url_link"] = link.into();
    }
    // The cookie lives as long as the attempt can still be used: the code's life, the phone
    // step after a late scan, and the grace in which a confirmed attempt is exchanged.
    let max_age = started
        .expires_at
        .saturating_sub(req.now)
        .saturating_add(crate::login::keys::PHONE_STEP_SECONDS)
        .saturating_add(crate::login::keys::ATTEMPT_GRACE.as_secs());
    let cookie = binding_cookie(
        app,
        started.id.as_str(),
        started.browser_secret.as_str(),
        max_age,
    );
    Ok(Reply::json(201, &json).header("set-cookie", &cookie))
}

/// Whether `POST {auth_path}/qr` comes from a script (`fetch`), as browsers mark it: not a
/// navigation (`Sec-Fetch-Mode: navigate`) and not a prefetch (`Sec-Purpose`, `Purpose`).
/// Clients that send none of these headers (older browsers, API clients) are believed.
fn asked_by_a_script(headers: &http::HeaderMap) -> bool {
    let is = |name: &str, word: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains(word))
    };
    !is("sec-fetch-mode", "navigate")
        && !is("sec-purpose", "prefetch")
        && !is("purpose", "prefetch")
}

/// The `rd` of a request body: a safe redirect target, `/` when absent. The page only ever
/// sends an `rd` it was given after the same check, so a refused one is a crafted request:
/// refused outright (400 `bad_redirect`) rather than logging anyone in towards it.
pub(super) fn checked_body_rd(app: &App, rd: Option<&str>) -> Result<String, GatewayError> {
    match rd {
        None | Some("") => Ok("/".to_string()),
        Some(rd) => app.checked_rd(rd).ok_or_else(|| GatewayError::BadRequest {
            code: "bad_redirect",
            message: "rd must be a path on this site (or a host of its routes).".into(),
        }),
    }
}

/// The `Set-Cookie` value of attempt `id`'s binding cookie; `max_age` 0 deletes it.
pub(super) fn binding_cookie(app: &App, id: &str, secret: &str, max_age: u64) -> String {
    let mut cookie = format!(
        "{}={secret}; Path={}; HttpOnly; SameSite=Lax; Max-Age={max_age}",
        binding_cookie_name(id),
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
    let (id, browser) = attempt_of(login, req, id).await?;
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
    let (id, browser) = attempt_of(login, req, id).await?;
    let content = login.service.qr_content(&id, &browser, req.now).await?;
    let svg = pages::qr_svg_with_logo(&content, login.service.logo())
        .map_err(|_| GatewayError::Internal)?;
    Ok(Reply::text(200, "image/svg+xml", svg))
}

pub(super) async fn mini_program_code(
    login: &LoginParts,
    req: &OwnRequest<'_>,
    id: &str,
) -> Result<Reply, GatewayError> {
    let (id, browser) = attempt_of(login, req, id).await?;
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
    let body: CodeBody = parse_json(req)?;
    let (id, browser) = attempt_of(login, req, &body.id).await?;
    login
        .service
        .send_code(&id, &browser, &body.phone, req.client, req.now)
        .await?;
    Ok(code_sent(login, &body.phone))
}

/// `202 {"status": "sent"}` for a code sent to `phone` (as typed), with `demo_code` when the
/// demo runs: it shows the code on the page, there being no SMS.
pub(super) fn code_sent(login: &LoginParts, phone: &str) -> Reply {
    let mut json = serde_json::json!({"status": "sent"});
    if let Some(code) = login.demo.as_ref().and_then(|d| d.shown_code(phone)) {
        json["demo_code"] = code.into();
    }
    Reply::json(202, &json)
}

#[derive(Deserialize)]
struct BindBody {
    id: String,
    phone: String,
    code: String,
}

pub(super) async fn bind(login: &LoginParts, req: &OwnRequest<'_>) -> Result<Reply, GatewayError> {
    let body: BindBody = parse_json(req)?;
    let (id, browser) = attempt_of(login, req, &body.id).await?;
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
    let body: SkipBody = parse_json(req)?;
    let (id, browser) = attempt_of(login, req, &body.id).await?;
    let confirmed = login.service.skip_phone(&id, &browser, req.now).await?;
    Ok(Reply::json(
        200,
        &serde_json::json!({"status": "confirmed", "ticket": confirmed.ticket}),
    ))
}

#[derive(Deserialize)]
struct SessionBody {
    ticket: String,
    /// The attempt the ticket is of, naming its binding cookie. Optional: without it, each
    /// binding cookie the browser has is tried (a wrong browser does not use a ticket up).
    #[serde(default)]
    id: Option<String>,
}

/// At most this many binding cookies are tried for a ticket without an attempt id.
const MAX_BINDINGS_TRIED: usize = 16;

pub(super) async fn exchange(
    app: &App,
    login: &LoginParts,
    req: &OwnRequest<'_>,
) -> Result<Reply, GatewayError> {
    let body: SessionBody = parse_json(req)?;
    let candidates: Vec<(&str, &str)> = match body.id.as_deref() {
        Some(id) => binding_cookies(req)
            .filter(|(a, _)| *a == id)
            .take(1)
            .collect(),
        None => binding_cookies(req).take(MAX_BINDINGS_TRIED).collect(),
    };
    if candidates.is_empty() {
        // Why there is none: a known attempt whose cookie the browser dropped
        // (`cookies_blocked`), or nothing of this browser at all.
        return Err(match body.id.as_deref() {
            Some(id) => match attempt_of(login, req, id).await {
                Err(e) => e,
                Ok(_) => LoginError::TicketInvalid.into(),
            },
            // No binding at all (one is cleared once used): the ticket is no good here.
            None => LoginError::TicketInvalid.into(),
        });
    }
    let mut outcome = Err(LoginError::TicketInvalid);
    let mut used = "";
    for (attempt, secret) in candidates {
        // A cookie that is not a secret of ours is the wrong browser for every ticket.
        let Ok(browser) = BrowserSecret::parse(secret) else {
            continue;
        };
        outcome = login
            .service
            .exchange(&body.ticket, &browser, req.now)
            .await;
        used = attempt;
        if !matches!(outcome, Err(LoginError::TicketInvalid)) {
            break;
        }
    }
    let exchanged = outcome?;
    let session_cookie = sign_in(app, req, &exchanged).await;
    // Through the cookie check: if the cookie does not come back, the user sees why instead
    // of the login page again.
    let body = serde_json::json!({
        "redirect": cookie_check::check_url(&app.config.auth_path, &exchanged.rd),
        "user": UserView::of(&exchanged.identity),
    });
    Ok(Reply::json(200, &body)
        .header("set-cookie", &session_cookie)
        .header("set-cookie", &binding_cookie(app, used, "", 0)))
}

/// The session of a completed login, as the `Set-Cookie` value that carries it. A fresh
/// session id on every login. The session the browser had is replaced by this cookie; it is
/// also revoked when it was another person's, so it cannot be brought back (a planted
/// session, or the previous user of a shared computer). The same person's older session
/// stays valid: their other tabs and devices keep working.
pub(super) async fn sign_in(
    app: &App,
    req: &OwnRequest<'_>,
    exchanged: &crate::login::Exchanged,
) -> String {
    let previous = super::session_endpoints::valid_session(app, req);
    let (token, _claims) = app.sessions.issue(&exchanged.identity, req.now);
    if let Some(previous) = previous {
        if previous.identity.user_id != exchanged.identity.user_id {
            super::session_endpoints::revoke(app, &previous, req.now).await;
            crate::audit::revoke(&previous.identity.user_id, "replaced_by_login", req.client);
        }
    }
    crate::audit::login(&exchanged.identity, req.client);
    app.sessions.set_cookie(&token)
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
    // The demo reads the body itself; here only which attempt's binding cookie to hand it.
    #[derive(Deserialize)]
    struct Names {
        id: String,
    }
    let id = serde_json::from_slice::<Names>(&req.body)
        .map(|n| n.id)
        .ok();
    let browser = id.as_deref().and_then(|id| {
        binding_cookies(req)
            .find(|(attempt, _)| *attempt == id)
            .map(|(_, secret)| secret)
    });
    demo.endpoint(app, login, req, browser)
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
        let (id, secret) = parse_binding(GOOD, GOOD).unwrap();
        assert_eq!((id.as_str(), secret.as_str()), (GOOD, GOOD));
        let unknown = GatewayError::from(LoginError::NotFound);
        for (id, secret) in [
            ("../x", GOOD),
            ("", GOOD),
            (GOOD, "not-a-secret"),
            (GOOD, ""),
        ] {
            assert_eq!(
                parse_binding(id, secret).err(),
                Some(unknown.clone()),
                "{id:?} {secret:?}"
            );
        }
    }
}
