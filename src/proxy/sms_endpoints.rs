//! SMS login's endpoints: `POST {auth_path}/sms/code {"phone"}` sends a code (202, the same
//! answer for every number), `POST {auth_path}/sms/login {"phone", "code", "rd"?}` answers
//! `{"status": "confirmed", "ticket", "id"}` and sets the binding cookie of attempt `id`, so
//! the ticket is exchanged at `/session` like a QR login's. Browser endpoints: cross-site
//! posts are refused before they get here, as for every other page call.

use serde::Deserialize;

use super::app::{App, LoginParts};
use super::login_endpoints::{binding_cookie, checked_body_rd, code_sent, parse_json};
use super::own_request::OwnRequest;
use super::respond::{GatewayError, Reply};

#[derive(Deserialize)]
struct CodeBody {
    phone: String,
}

pub(super) async fn send_code(
    login: &LoginParts,
    req: &OwnRequest<'_>,
) -> Result<Reply, GatewayError> {
    let body: CodeBody = parse_json(req)?;
    login
        .service
        .send_sms_login_code(&body.phone, req.client, req.now)
        .await?;
    Ok(code_sent(login, &body.phone))
}

#[derive(Deserialize)]
struct LoginBody {
    phone: String,
    code: String,
    #[serde(default)]
    rd: Option<String>,
}

pub(super) async fn login(
    app: &App,
    login: &LoginParts,
    req: &OwnRequest<'_>,
) -> Result<Reply, GatewayError> {
    let body: LoginBody = parse_json(req)?;
    let rd = checked_body_rd(app, body.rd.as_deref())?;
    let logged_in = login
        .service
        .sms_login(&body.phone, &body.code, rd, req.now)
        .await?;
    // As long as the ticket, and the grace in which the attempt can still be read.
    let max_age = logged_in
        .expires_at
        .saturating_sub(req.now)
        .saturating_add(crate::login::keys::ATTEMPT_GRACE.as_secs());
    let cookie = binding_cookie(
        app,
        logged_in.id.as_str(),
        logged_in.browser_secret.as_str(),
        max_age,
    );
    let json = serde_json::json!({
        "status": "confirmed",
        "ticket": logged_in.ticket,
        "id": logged_in.id,
    });
    Ok(Reply::json(200, &json).header("set-cookie", &cookie))
}
