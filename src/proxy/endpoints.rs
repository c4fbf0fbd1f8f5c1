//! The gateway's own endpoints under `auth_path`, dispatched from one typed table
//! ([`Endpoint`]): one `match`, each arm a plain async function from an [`OwnRequest`] to a
//! [`Reply`]. No pingora here, so every endpoint is testable without a server.
//!
//! - `login_endpoints`: the hosted page and widget, attempts, long-polls, phone binding, the
//!   ticket exchange, the Mini Program page's calls, the demo scan;
//! - `sms_endpoints`: SMS login;
//! - `oauth_endpoints`: sign-in through WeChat's own pages (`/wechat/oauth/start`,
//!   `/wechat/oauth/callback`);
//! - `callback`: the Official Account's server URL;
//! - `session_endpoints`: `/me`, `/logout`;
//! - `verify`: forward auth; `/jwks.json` is answered here;
//! - `token`: bearer tokens for other backends (`/token`), with their CORS.

use bytes::Bytes;

use super::app::App;
use super::endpoint::{Endpoint, ImageKind, Miss};
use super::login_endpoints as login;
use super::oauth_endpoints as oauth;
use super::own_request::OwnRequest;
use super::respond::{GatewayError, Reply};
use super::{callback, session_endpoints, sms_endpoints as sms, token, verify};

pub use super::own_request::{UserView, MAX_BODY_BYTES};

/// The answer to `(method, sub_path)` when it names no endpoint.
pub fn miss(miss: Miss) -> Reply {
    let err = match miss {
        Miss::NotFound => GatewayError::NotFound,
        Miss::MethodNotAllowed => GatewayError::MethodNotAllowed,
    };
    Reply::error(&err, false)
}

/// The endpoints that need no login parts (`Endpoint::needs_login` is false).
async fn without_login(app: &App, endpoint: Endpoint<'_>, req: &OwnRequest<'_>) -> Reply {
    match endpoint {
        Endpoint::LoginPage => login::login_page(app, req),
        Endpoint::Sdk => login::sdk(app, req),
        Endpoint::CookieCheck => login::cookie_check(app, req),
        Endpoint::WechatCallback => Box::pin(callback::handle(app, req)).await,
        Endpoint::Me => session_endpoints::me(app, req),
        Endpoint::Logout => session_endpoints::logout(app, req).await,
        Endpoint::Verify => verify::verify(app, req),
        Endpoint::Token => token::token(app, req),
        Endpoint::Jwks => Reply::text(
            200,
            "application/json",
            Bytes::copy_from_slice(app.assertions.jwks_json().as_bytes()),
        )
        .header("cache-control", "public, max-age=300"),
        // The others need the login parts and are answered by `handle`.
        _ => Reply::error(&GatewayError::Internal, false),
    }
}

/// Answers a request to `endpoint`.
pub async fn handle(app: &App, endpoint: Endpoint<'_>, req: &OwnRequest<'_>) -> Reply {
    // The larger endpoints are boxed: a future is as large as its largest branch, and a
    // long-poll holds this one for up to 30 s; with them inline every waiting poll would carry
    // the callback's ~6 KB (BENCHMARKS.md, capacity).
    if !endpoint.needs_login() {
        return without_login(app, endpoint, req).await;
    }
    let Some(parts) = &app.login else {
        return Reply::error(
            &GatewayError::Unavailable {
                message: "Login is not configured on this gateway.".into(),
            },
            false,
        );
    };
    let reply = match endpoint {
        Endpoint::Start => Box::pin(login::start(app, parts, req)).await,
        Endpoint::Poll { id } => login::poll(app, parts, req, id).await,
        Endpoint::QrImage {
            id,
            kind: ImageKind::Svg,
        } => login::qr_image(parts, req, id).await,
        Endpoint::QrImage {
            id,
            kind: ImageKind::Png,
        } => login::mini_program_code(parts, req, id).await,
        Endpoint::PhoneCode => login::send_code(parts, req).await,
        Endpoint::PhoneBind => Box::pin(login::bind(parts, req)).await,
        Endpoint::PhoneSkip => Box::pin(login::skip(parts, req)).await,
        Endpoint::SmsCode => Box::pin(sms::send_code(parts, req)).await,
        Endpoint::SmsLogin => Box::pin(sms::login(app, parts, req)).await,
        Endpoint::Session => login::exchange(app, parts, req).await,
        Endpoint::DemoScan => login::demo_scan(app, parts, req).await,
        Endpoint::MpScanned => login::mp_scanned(parts, req).await,
        Endpoint::MpConfirm => Box::pin(login::mp_confirm(parts, req)).await,
        Endpoint::MpCancel => login::mp_cancel(parts, req).await,
        Endpoint::OAuthStart => Ok(oauth::start(app, parts, req).await),
        Endpoint::OAuthCallback => Ok(Box::pin(oauth::callback(app, parts, req)).await),
        // Endpoints that need no login parts were answered above.
        _ => Err(GatewayError::Internal),
    };
    reply.unwrap_or_else(|e| {
        if matches!(e, GatewayError::RateLimited { .. }) {
            crate::audit::rate_limited(req.sub_path, req.client);
        }
        Reply::error(&e, false)
    })
}

#[cfg(test)]
mod tests;
