//! Sign-in through WeChat's own pages, as browser navigations:
//!
//! - `GET {auth_path}/wechat/oauth/start?method=official_account|website&rd=`: a 302 to
//!   WeChat's authorize page (inside WeChat) or the website application's qrconnect page,
//!   with the state's binding cookie (`scangate_oauth_<state>`, one per sign-in, like the
//!   attempts' binding cookies);
//! - `GET {auth_path}/wechat/oauth/callback?code=&state=`: signed in (the session cookie, then
//!   `/check` and `rd`), or the login page at the phone step of an attempt of this browser,
//!   or the login page saying why not (`error=<code>`, in the page's language).
//!
//! Every answer is a redirect: a refusal never answers with WeChat's page again, and the
//! login page never sends a browser to WeChat while it shows a refusal, so nothing loops.
//! The login page's own part is [`on_login_page`].

use super::app::{App, LoginParts};
use super::in_wechat::{is_wechat_browser, oauth_on};
use super::login_endpoints::{binding_cookie, checked_rd_or_root, is_https, sign_in};
use super::own_request::OwnRequest;
use super::redirect::{login_url, oauth_start_url};
use super::respond::{GatewayError, Reply};
use crate::identity::{AttemptId, BrowserSecret, LoginMethod};
use crate::login::keys;
use crate::login::{OAuthLanded, OAuthLogin};

/// Prefix of the cookies that bind a sign-in's `state` to the browser that started it:
/// `scangate_oauth_<state>`, each living as long as its state.
pub const STATE_COOKIE_PREFIX: &str = "scangate_oauth_";

/// The `method` parameter of `oauth/start` and what it signs in by.
fn method_of(param: Option<&str>) -> Option<(LoginMethod, &'static str)> {
    match param {
        Some("official_account") => Some((LoginMethod::InWechat, "official_account")),
        Some("website") => Some((LoginMethod::Website, "website")),
        _ => None,
    }
}

/// The login page for `rd`, showing why a sign-in did not happen (`error` is a code the page
/// has words for in each language).
fn back_to_login(app: &App, rd: &str, error: &str) -> Reply {
    let to = format!("{}&error={error}", login_url(&app.config.auth_path, rd));
    Reply::redirect(302, &to)
}

/// `Set-Cookie` of the state's binding cookie; `max_age` 0 deletes it.
fn state_cookie(app: &App, state: &str, secret: &str, max_age: u64) -> String {
    let mut cookie = format!(
        "{STATE_COOKIE_PREFIX}{state}={secret}; Path={}; HttpOnly; SameSite=Lax; Max-Age={max_age}",
        app.config.auth_path
    );
    if app.config.session.cookie_secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The secret the request's cookie for `state` carries, as sent.
fn state_secret<'a>(req: &'a OwnRequest<'_>, state: &str) -> Option<&'a str> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| crate::session::cookies_with_prefix(v, STATE_COOKIE_PREFIX))
        .find(|(name, _)| *name == state)
        .map(|(_, secret)| secret)
}

/// `rd` as an absolute URL on the request's own host (it is a path there).
fn absolute_rd(app: &App, req: &OwnRequest<'_>, rd: &str) -> String {
    if !rd.starts_with('/') {
        return rd.to_string();
    }
    let https = is_https(app, req);
    let host = req
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(req.host);
    format!("{}://{host}{rd}", if https { "https" } else { "http" })
}

fn offered(login: &LoginParts, method: LoginMethod) -> Option<&OAuthLogin> {
    login.oauth.as_ref().filter(|oauth| oauth.offers(method))
}

/// `GET /wechat/oauth/start`: to WeChat's page, with a fresh state bound to this browser.
pub(super) async fn start(app: &App, login: &LoginParts, req: &OwnRequest<'_>) -> Reply {
    let rd = checked_rd_or_root(app, req);
    let method_param = req.query_param("method");
    let Some((method, name)) = method_of(method_param.as_deref()) else {
        return back_to_login(app, &rd, "method_unavailable");
    };
    let Some(oauth) = offered(login, method) else {
        return back_to_login(app, &rd, "method_unavailable");
    };
    // WeChat sends the browser back to public_url's host: the state's cookie must live there.
    let public = &app.config.public_url;
    if req.host != public.host {
        let rd = absolute_rd(app, req, &rd);
        let to = format!(
            "{}{}",
            public.origin,
            oauth_start_url(&app.config.auth_path, name, &rd)
        );
        return Reply::redirect(302, &to);
    }
    match oauth.start(method, rd.clone(), req.client, req.now).await {
        Ok(started) => {
            let max_age = started.expires_at.saturating_sub(req.now);
            let cookie = state_cookie(
                app,
                &started.state,
                started.browser_secret.as_str(),
                max_age,
            );
            Reply::redirect(302, &started.authorize_url)
                .header("set-cookie", &cookie)
                .header("referrer-policy", "no-referrer")
        }
        Err(e) => back_to_login(app, &rd, GatewayError::from(e).code()),
    }
}

/// `GET /wechat/oauth/callback`: where WeChat's page sends the browser back.
pub(super) async fn callback(app: &App, login: &LoginParts, req: &OwnRequest<'_>) -> Reply {
    let Some(oauth) = &login.oauth else {
        return back_to_login(app, "/", "method_unavailable");
    };
    let state = req.query_param("state").unwrap_or_default();
    let code = req.query_param("code");
    let sent = state_secret(req, &state);
    // A cookie that is not a secret of ours is no binding at all.
    let browser = sent.and_then(|s| BrowserSecret::parse(s).ok());
    let back = oauth
        .callback(&state, browser.as_ref(), code.as_deref(), req.now)
        .await;
    let auth = &app.config.auth_path;
    let reply = match back.outcome {
        Ok(OAuthLanded::SignedIn(exchanged)) => {
            let session = sign_in(app, req, &exchanged).await;
            // Through the cookie check, as after the login page: a cookie that did not stick
            // is explained there rather than sending the browser round again.
            Reply::redirect(302, &super::cookie_check::check_url(auth, &exchanged.rd))
                .header("set-cookie", &session)
        }
        Ok(OAuthLanded::NeedPhone { attempt }) => match &browser {
            Some(secret) => phone_step(app, &back.rd, &attempt, secret),
            None => back_to_login(app, &back.rd, "internal"),
        },
        Err(e) => back_to_login(app, &back.rd, GatewayError::from(e).code()),
    };
    let reply = reply.header("referrer-policy", "no-referrer");
    match sent {
        // The state is used (or refused) for good: its cookie goes.
        Some(_) => reply.header("set-cookie", &state_cookie(app, &state, "", 0)),
        None => reply,
    }
}

/// The login page at the phone step of `attempt`, which `secret` binds to this browser (the
/// attempt's own binding cookie, as `/qr` sets it).
fn phone_step(app: &App, rd: &str, attempt: &AttemptId, secret: &BrowserSecret) -> Reply {
    let to = format!("{}&attempt={attempt}", login_url(&app.config.auth_path, rd));
    let max_age = keys::PHONE_STEP_SECONDS.saturating_add(keys::ATTEMPT_GRACE.as_secs());
    Reply::redirect(302, &to).header(
        "set-cookie",
        &binding_cookie(app, attempt.as_str(), secret.as_str(), max_age),
    )
}

/// What the login page shows of web authorization for one request.
#[derive(Debug, Default)]
pub(super) struct PageOAuth {
    notice: Option<String>,
    attempt: Option<String>,
    retry_url: Option<String>,
    in_wechat: bool,
}

impl PageOAuth {
    pub(super) fn view(&self) -> crate::pages::OAuthView<'_> {
        crate::pages::OAuthView {
            notice: self.notice.as_deref(),
            attempt: self.attempt.as_deref(),
            retry_url: self.retry_url.as_deref(),
            in_wechat: self.in_wechat,
        }
    }
}

/// The login page's part: opened inside WeChat with web authorization on, it sends the
/// browser to WeChat's authorization at once (`Err`: that redirect, so a link to the login
/// page shared in a chat works), unless it is there to show why a sign-in failed
/// (`error=`), to take a phone number (`attempt=`) or to switch account. Otherwise (`Ok`)
/// what the page shows: the reason, the attempt to resume at its phone step, and where
/// "try again" goes inside WeChat.
pub(super) fn on_login_page(
    app: &App,
    req: &OwnRequest<'_>,
    rd: &str,
    switch: bool,
) -> Result<PageOAuth, Reply> {
    // Only codes the page could have words for; anything else is not shown.
    let notice = req.query_param("error").filter(|code| {
        (1..=40).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    });
    let attempt = req
        .query_param("attempt")
        .filter(|id| AttemptId::parse(id).is_ok());
    let in_wechat = oauth_on(&app.config);
    let to_wechat = in_wechat && is_wechat_browser(req.headers);
    let start = oauth_start_url(&app.config.auth_path, "official_account", rd);
    if to_wechat && notice.is_none() && attempt.is_none() && !switch {
        return Err(Reply::redirect(302, &start));
    }
    Ok(PageOAuth {
        notice,
        attempt,
        retry_url: to_wechat.then_some(start),
        in_wechat,
    })
}
