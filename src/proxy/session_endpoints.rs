//! The session's own endpoints: `GET /me`, `POST /logout`, and the helpers other endpoints
//! use to read or end the request's session.

use serde::Serialize;

use super::app::App;
use super::own_request::{OwnRequest, UserView};
use super::redirect::login_url;
use super::respond::{GatewayError, Reply};
use crate::session::Verified;

pub(super) fn valid_session(app: &App, req: &OwnRequest<'_>) -> Option<Verified> {
    app.session_of(req.headers, req.now).and_then(Result::ok)
}

pub(super) fn with_refresh(app: &App, reply: Reply, verified: &Verified) -> Reply {
    match &verified.refreshed {
        Some(token) => reply.header("set-cookie", &app.sessions.set_cookie(token)),
        None => reply,
    }
}

/// `GET /me`: who is signed in, or 401. With `optional=1` (the widget asking whether to show
/// "signed in as"), no session is `200 {"user": null}`: a question, not a refusal, so a page
/// of signed-out visitors logs no failed request.
pub(super) fn me(app: &App, req: &OwnRequest<'_>) -> Reply {
    let Some(verified) = valid_session(app, req) else {
        if req.query_param("optional").as_deref() == Some("1") {
            return Reply::json(200, &serde_json::json!({ "user": null }));
        }
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

/// Revokes the request's session, if it has a valid one; returns whose it was.
pub(super) async fn end_session(
    app: &App,
    req: &OwnRequest<'_>,
) -> Option<crate::identity::UserId> {
    let verified = valid_session(app, req)?;
    revoke(app, &verified, req.now).await;
    Some(verified.identity.user_id.clone())
}

/// Revokes a session in memory at once and in the store (so it stays dead across restarts
/// and on every instance).
pub(super) async fn revoke(app: &App, verified: &Verified, now: u64) {
    let until = app.sessions.revoke(&verified.claims);
    if let Some(login) = &app.login {
        // A store failure is logged, not shown: in this process the session is dead already.
        let stored =
            crate::session::persist::record(login.store.as_ref(), &verified.claims.sid, until, now)
                .await;
        if let Err(e) = stored {
            tracing::error!(error = %e, "could not store a revocation");
        }
    }
}

pub(super) async fn logout(app: &App, req: &OwnRequest<'_>) -> Reply {
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
