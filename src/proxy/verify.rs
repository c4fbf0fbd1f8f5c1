//! `GET {auth_path}/verify`: forward auth for a proxy in front of the app.

use http::Method;

use super::app::App;
use super::forward_auth;
use super::gate;
use super::in_wechat::login_entry;
use super::own_request::OwnRequest;
use super::respond::{self, GatewayError, Reply};
use super::router::RouteLookup;
use super::session_endpoints::with_refresh;
use crate::metrics::AuthDecision;

/// Forward auth: 200 with identity headers when the forwarded request may pass, 401 (or,
/// with `?redirect=true` and a browser navigation, 302 to the login page) when it needs a
/// session, 403 when the session is refused or no route serves the request. The request is
/// read by [`forward_auth`](super::forward_auth)'s rules and decided exactly as the inline
/// gate would decide it; the assertion's audience is always the route's name.
pub(super) fn verify(app: &App, req: &OwnRequest<'_>) -> Reply {
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
        RouteLookup::Ambiguous => return Reply::error(&GatewayError::ambiguous_path(), false),
    };
    let checked = app.session_of(req.headers, req.now);
    let decision = gate::decide_session(&route.route, checked.as_ref());
    let session = checked.and_then(Result::ok);
    let wants_redirect = req.query_param("redirect").as_deref() == Some("true");
    let navigation = (fwd.method == Method::GET || fwd.method == Method::HEAD)
        && gate::is_browser_navigation(&Method::GET, req.headers);
    let refusal = respond::decision(
        &app.metrics,
        decision,
        wants_redirect && navigation,
        false,
        || {
            let original = fwd.url();
            let rd = routing.redirects.check(&original).unwrap_or("/");
            format!(
                "{}{}",
                app.config.public_url.origin,
                login_entry(&app.config, req.headers, rd)
            )
        },
    );
    if let Some(reply) = refusal {
        return reply;
    }
    let mut reply = Reply::json(200, &serde_json::json!({"status": "ok"}));
    if let Some(verified) = &session {
        let assertion = app
            .assertions
            .assertion(&verified.claims, &route.route.name, req.now);
        for (name, value) in app.headers.identity_pairs(&verified.identity, &assertion) {
            reply = reply.header_named(name.clone(), value);
        }
        reply = with_refresh(app, reply, verified);
    }
    reply
}
