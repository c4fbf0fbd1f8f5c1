//! The gateway's own endpoints under `auth_path`: `/me`, `/logout`, `/verify` (forward
//! auth), `/jwks.json`. Plain async functions from an [`OwnRequest`] to a [`Reply`]: no
//! pingora here, so each endpoint is testable without a server.

use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::Serialize;

use super::app::App;
use super::forward_auth;
use super::gate::{self, Decision};
use super::redirect::login_url;
use super::respond::{GatewayError, Reply};
use super::router::RouteLookup;
use crate::identity::Identity;
use crate::metrics::AuthDecision;
use crate::session::Verified;

/// Largest request body any own endpoint reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request to an own endpoint, as the proxy layer hands it over.
pub struct OwnRequest<'a> {
    pub method: &'a Method,
    /// The normalised path below `auth_path`: `/me`, `/verify`, or `` for the prefix itself.
    pub sub_path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// Lower-case host without port.
    pub host: &'a str,
    /// The client, after `X-Forwarded-For` from trusted proxies.
    pub client: IpAddr,
    /// The TCP peer (a proxy, for forward auth).
    pub peer: Option<IpAddr>,
    pub now: u64,
    /// A top-level browser navigation (HTML answers rather than JSON).
    pub navigation: bool,
    pub body: Bytes,
}

impl OwnRequest<'_> {
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.unwrap_or("").as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// Answers a request to an own endpoint.
pub async fn handle(app: &App, req: &OwnRequest<'_>) -> Reply {
    if let Some(reply) = super::login_endpoints::handle(app, req).await {
        return reply;
    }
    let get = req.method == Method::GET || req.method == Method::HEAD;
    match req.sub_path {
        "/me" if get => me(app, req),
        "/logout" if req.method == Method::POST => logout(app, req).await,
        "/verify" if get => verify(app, req),
        "/jwks.json" if get => Reply::text(
            200,
            "application/json",
            Bytes::copy_from_slice(app.assertions.jwks_json().as_bytes()),
        )
        .header("cache-control", "public, max-age=300"),
        "/me" | "/logout" | "/verify" | "/jwks.json" => {
            Reply::error(&GatewayError::MethodNotAllowed, false)
        }
        _ => Reply::error(&GatewayError::NotFound, false),
    }
}

/// The user as `/.auth/me` and the session exchange show it.
#[derive(Serialize)]
pub struct UserView<'a> {
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<&'a str>,
    pub method: &'a str,
}

impl<'a> UserView<'a> {
    pub fn of(identity: &'a Identity) -> Self {
        UserView {
            id: identity.user_id.as_str(),
            openid: identity.openid.as_ref().map(|v| v.as_str()),
            unionid: identity.unionid.as_ref().map(|v| v.as_str()),
            phone: identity.phone.as_ref().map(|v| v.as_str()),
            method: identity.method.as_str(),
        }
    }
}

fn valid_session(app: &App, req: &OwnRequest<'_>) -> Option<Verified> {
    app.session_of(req.headers, req.now).and_then(Result::ok)
}

fn with_refresh(app: &App, reply: Reply, verified: &Verified) -> Reply {
    match &verified.refreshed {
        Some(token) => reply.header("set-cookie", &app.sessions.set_cookie(token)),
        None => reply,
    }
}

fn me(app: &App, req: &OwnRequest<'_>) -> Reply {
    let Some(verified) = valid_session(app, req) else {
        return Reply::error(
            &GatewayError::Unauthenticated {
                login_url: login_url(&app.config.auth_path, "/"),
            },
            false,
        );
    };
    #[derive(Serialize)]
    struct Me<'a> {
        user: UserView<'a>,
        session_expires_at: u64,
    }
    let body = Me {
        user: UserView::of(&verified.identity),
        session_expires_at: verified.claims.exp,
    };
    with_refresh(app, Reply::json(200, &body), &verified)
}

/// Revokes the request's session, if it has a valid one, in memory at once and in the store
/// (so it stays dead across restarts and on every instance); returns whose it was.
pub(super) async fn end_session(
    app: &App,
    req: &OwnRequest<'_>,
) -> Option<crate::identity::UserId> {
    let verified = valid_session(app, req)?;
    let until = app.sessions.revoke(&verified.claims);
    if let Some(login) = &app.login {
        // A store failure is logged, not shown: in this process the session is dead already.
        let stored = crate::session::persist::record(
            login.store.as_ref(),
            &verified.claims.sid,
            until,
            req.now,
        )
        .await;
        if let Err(e) = stored {
            tracing::error!(error = %e, "could not store a revocation");
        }
    }
    Some(verified.identity.user_id.clone())
}

async fn logout(app: &App, req: &OwnRequest<'_>) -> Reply {
    if let Some(user_id) = end_session(app, req).await {
        crate::audit::logout(&user_id, req.client);
    }
    let clear = app.sessions.clear_cookie();
    // A plain HTML form (`<form method=post action=/.auth/logout>`) gets sent on to `rd`;
    // scripts get JSON.
    if req.navigation_form() {
        let rd = req.query_param("rd");
        let target = rd
            .as_deref()
            .and_then(|rd| app.checked_rd(rd))
            .unwrap_or_else(|| "/".to_string());
        return Reply::redirect(303, &target).header("set-cookie", &clear);
    }
    Reply::json(200, &serde_json::json!({"status": "logged_out"})).header("set-cookie", &clear)
}

impl OwnRequest<'_> {
    /// A form post from a page (it accepts HTML and is not a script call).
    fn navigation_form(&self) -> bool {
        !self.headers.contains_key("x-requested-with")
            && self
                .headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
    }
}

/// Forward auth: 200 with identity headers when the forwarded request may pass, 401 (or,
/// with `?redirect=true` and a browser navigation, 302 to the login page) when it needs a
/// session, 403 when the session is refused or no route serves the request. The request is
/// read by [`forward_auth`](super::forward_auth)'s rules and decided exactly as the inline
/// gate would decide it; the assertion's audience is always the route's name.
fn verify(app: &App, req: &OwnRequest<'_>) -> Reply {
    let refuse = |status: u16, code: &'static str, message: String| {
        Reply::error(
            &GatewayError::Refused {
                status,
                code,
                message,
            },
            false,
        )
    };
    let believed = req
        .peer
        .is_some_and(|p| app.forward_auth_trusted.contains(p) || app.headers.trusted().contains(p));
    let fwd = if believed {
        forward_auth::forwarded_request(req.headers, Some(req.host), app.scheme)
    } else {
        Err(forward_auth::ForwardError::Untrusted)
    };
    let fwd = match fwd {
        Ok(fwd) => fwd,
        Err(e) => return refuse(e.status(), e.code(), e.to_string()),
    };
    let normal = match forward_auth::normal_path(&fwd) {
        Ok(p) => p,
        Err(e) => return refuse(400, "bad_path", e.to_string()),
    };
    let routing = app.routing();
    let route = match routing.lookup(&fwd.host.name, &normal) {
        RouteLookup::Route(i) => &routing.routes[i],
        RouteLookup::NoRoute => {
            app.metrics.decision(AuthDecision::Forbidden);
            return refuse(
                403,
                "no_route",
                "No route serves this host and path, so no one may pass.".into(),
            );
        }
        RouteLookup::Ambiguous => return Reply::error(&super::ambiguous_path(), false),
    };
    let session = valid_session(app, req);
    let identity = session.as_ref().map(|v| v.identity.as_ref());
    let decision = gate::decide(&route.route, identity);
    match decision {
        Decision::Public | Decision::Allow => {
            app.metrics.decision(if decision == Decision::Public {
                AuthDecision::Public
            } else {
                AuthDecision::Allowed
            });
            let mut reply = Reply::json(200, &serde_json::json!({"status": "ok"}));
            if let Some(verified) = &session {
                let assertion =
                    app.assertions
                        .assertion(&verified.claims, &route.route.name, req.now);
                for (name, value) in app.headers.identity_pairs(&verified.identity, &assertion) {
                    reply = reply.header_named(name.clone(), value);
                }
                reply = with_refresh(app, reply, verified);
            }
            reply
        }
        Decision::Login => {
            let original = fwd.url();
            let rd = routing.redirects.check(&original).unwrap_or("/");
            let url = format!(
                "{}{}",
                app.config.public_url.origin,
                login_url(&app.config.auth_path, rd)
            );
            let wants_redirect = req.query_param("redirect").as_deref() == Some("true");
            let navigation = (fwd.method == Method::GET || fwd.method == Method::HEAD)
                && gate::is_browser_navigation(&Method::GET, req.headers);
            if wants_redirect && navigation {
                app.metrics.decision(AuthDecision::Redirected);
                return Reply::redirect(302, &url);
            }
            app.metrics.decision(AuthDecision::Unauthenticated);
            Reply::error(&GatewayError::Unauthenticated { login_url: url }, false)
        }
        Decision::Deny(reason) => {
            app.metrics.decision(AuthDecision::Forbidden);
            Reply::error(&GatewayError::Forbidden(reason), false)
        }
    }
}
