//! `GET {auth_path}/token?aud=<name>`: a bearer token for a backend beyond the gateway (an
//! API on another domain, a serverless function), signed like the identity assertion and
//! verified with the same `/jwks.json`. Pomerium's `/.pomerium/jwt`, Authing's id token.
//!
//! This endpoint mints credentials, so it is strict where CORS is usually loose: an `Origin`
//! must be one of the audience's `origins` byte for byte (no `*`, no `null`, no prefix or
//! case folding), a page the browser marks as cross-site must name a listed origin, and a
//! refused request gets neither a token nor CORS headers that would let it read the reason.
//! The token travels in the JSON body only: never in a URL (which ends up in logs and
//! `Referer`), never in a log line.

use http::{HeaderMap, Method};
use serde::Serialize;

use super::app::App;
use super::own_request::OwnRequest;
use super::redirect::login_url;
use super::respond::{GatewayError, Reply};
use super::session_endpoints::with_refresh;
use crate::config::TokenAudience;
use crate::session::SessionError;

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE_SECONDS: &str = "600";

#[derive(Serialize)]
struct TokenBody<'a> {
    token: &'a str,
    expires_in: u64,
    token_type: &'static str,
}

pub(super) fn token(app: &App, req: &OwnRequest<'_>) -> Reply {
    let tokens = &app.config.tokens;
    if tokens.audiences.is_empty() {
        return Reply::error(&GatewayError::NotFound, false);
    }
    let audience = match audience(app, req.query) {
        Ok(audience) => audience,
        Err(e) => return vary(Reply::error(&e, false)),
    };
    let origin = match allowed_origin(req.headers, audience) {
        Ok(origin) => origin,
        Err(()) => {
            let e = GatewayError::Refused {
                status: 403,
                code: "origin_not_allowed",
                message: format!(
                    "This page's origin may not fetch tokens for {:?}; list it in its origins.",
                    audience.name
                ),
            };
            return vary(Reply::error(&e, false));
        }
    };
    if req.method == Method::OPTIONS {
        return preflight(origin);
    }
    let verified = match app.session_of(req.headers, req.now) {
        Some(Ok(verified)) => verified,
        Some(Err(SessionError::Blocked)) => {
            let e = GatewayError::Forbidden(super::gate::DenyReason::Blocked);
            return cors(Reply::error(&e, false), origin);
        }
        // Expired, revoked (logout, `users revoke`), or not ours: log in again.
        None | Some(Err(_)) => {
            let e = GatewayError::Unauthenticated {
                login_url: login_url(&app.config.auth_path, "/"),
            };
            return cors(Reply::error(&e, false), origin);
        }
    };
    let (token, exp) = app.assertions.bearer_token(
        &verified.claims,
        &audience.name,
        audience.ttl_seconds,
        req.now,
    );
    crate::audit::token(&verified.identity.user_id, &audience.name, req.client);
    let body = TokenBody {
        token: &token,
        expires_in: exp.saturating_sub(req.now),
        token_type: "Bearer",
    };
    // `no-store` is the default of our answers (respond.rs): no cache keeps the token.
    let reply = with_refresh(app, Reply::json(200, &body), &verified);
    cors(reply, origin)
}

/// The audience `?aud=` names: exactly one non-empty `aud`, a configured audience (a route's
/// name is not one unless it is listed under `tokens.audiences`).
fn audience<'a>(app: &'a App, query: Option<&str>) -> Result<&'a TokenAudience, GatewayError> {
    let mut named = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "aud")
        .map(|(_, v)| v);
    let (Some(name), None) = (named.next(), named.next()) else {
        return Err(bad(
            "bad_audience",
            "Name one audience: ?aud=<name>.".into(),
        ));
    };
    if name.is_empty() {
        return Err(bad(
            "bad_audience",
            "Name one audience: ?aud=<name>.".into(),
        ));
    }
    app.config.tokens.audience(&name).ok_or_else(|| {
        bad(
            "unknown_audience",
            "No token audience has this name (tokens.audiences).".into(),
        )
    })
}

fn bad(code: &'static str, message: String) -> GatewayError {
    GatewayError::BadRequest { code, message }
}

/// `Ok(Some(origin))`: a listed origin, whose page may read the answer; `Ok(None)`: no
/// `Origin` and not marked cross-site (same-origin fetches, servers); `Err`: refused.
fn allowed_origin<'h>(
    headers: &'h HeaderMap,
    audience: &TokenAudience,
) -> Result<Option<&'h str>, ()> {
    let mut all = headers.get_all(http::header::ORIGIN).iter();
    match (all.next(), all.next()) {
        (None, _) => {
            let cross_site = headers
                .get("sec-fetch-site")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
            if cross_site {
                Err(())
            } else {
                Ok(None)
            }
        }
        (Some(origin), None) => {
            let origin = origin.to_str().map_err(|_| ())?;
            if audience.origins.iter().any(|o| o == origin) {
                Ok(Some(origin))
            } else {
                Err(())
            }
        }
        // Browsers send one; two is a forgery.
        (Some(_), Some(_)) => Err(()),
    }
}

/// The answer to a listed origin's preflight: GET with credentials.
fn preflight(origin: Option<&str>) -> Reply {
    let Some(origin) = origin else {
        // Not a preflight (no Origin): nothing to allow.
        return vary(Reply::text(204, "text/plain; charset=utf-8", ""));
    };
    let reply = Reply::text(204, "text/plain; charset=utf-8", "")
        .header("access-control-allow-methods", "GET")
        .header("access-control-allow-headers", "x-requested-with")
        .header("access-control-max-age", PREFLIGHT_MAX_AGE_SECONDS);
    cors(reply, Some(origin))
}

/// Lets the listed `origin` read the answer (with its cookies); never `*`.
fn cors(reply: Reply, origin: Option<&str>) -> Reply {
    let reply = vary(reply);
    match origin {
        Some(origin) => reply
            .header("access-control-allow-origin", origin)
            .header("access-control-allow-credentials", "true"),
        None => reply,
    }
}

/// The answer depends on `Origin`: no shared cache may serve it to another page.
fn vary(reply: Reply) -> Reply {
    reply.header("vary", "Origin")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::test_headers::headers;

    fn api() -> TokenAudience {
        TokenAudience {
            name: "api".into(),
            origins: vec!["https://spa.test".into(), "http://localhost:5173".into()],
            ttl_seconds: 300,
        }
    }

    #[test]
    fn the_widget_words_every_refusal_a_page_can_receive_in_both_languages() {
        for code in [
            "origin_not_allowed",
            "bad_audience",
            "unknown_audience",
            "unauthenticated",
            "blocked",
            "not_found",
        ] {
            let worded = crate::pages::sdk_js()
                .lines()
                .filter(|l| l.trim_start().starts_with(&format!("{code}:")))
                .count();
            assert!(worded >= 2, "{code}: the widget's texts in en and zh");
        }
    }

    #[test]
    fn only_exactly_listed_origins_pass() {
        let a = api();
        for (pairs, want) in [
            (&[][..], Ok(None)),
            (&[("sec-fetch-site", "same-origin")], Ok(None)),
            (&[("sec-fetch-site", "cross-site")], Err(())),
            (
                &[("origin", "https://spa.test")],
                Ok(Some("https://spa.test")),
            ),
            (
                &[("origin", "http://localhost:5173")],
                Ok(Some("http://localhost:5173")),
            ),
            (&[("origin", "https://spa.test/")], Err(())),
            (&[("origin", "http://spa.test")], Err(())),
            (&[("origin", "https://spa.test:443")], Err(())),
            (&[("origin", "https://SPA.test")], Err(())),
            (&[("origin", "https://spa.test.evil.test")], Err(())),
            (&[("origin", "null")], Err(())),
            (
                &[
                    ("origin", "https://spa.test"),
                    ("origin", "https://spa.test"),
                ],
                Err(()),
            ),
        ] {
            assert_eq!(allowed_origin(&headers(pairs), &a), want, "{pairs:?}");
        }
    }
}
