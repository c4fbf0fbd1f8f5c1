//! `GET|POST {auth_path}/wechat/callback`: the Official Account's server URL.
//!
//! GET answers WeChat's URL verification. POST verifies the signature (and `msg_signature`,
//! decryption and appid in safe mode) before any XML is parsed, drops WeChat's retries by
//! their dedupe key, hands scans of our login codes to the login service and answers them
//! with the `scan_replies` text that says what the scan did (sealed in safe mode), and treats
//! every other push — the account's own channel codes included — as the account's: forwarded
//! to its backend, or answered from `replies`. Always well inside WeChat's 5 s.

use std::time::Duration;

use rand::RngCore;

use super::app::{App, CallbackParts, LoginParts};
use super::forward::{self, ForwardedFrom, Forwarder};
use super::own_request::OwnRequest;
use super::respond::Reply;
use crate::config::model::ScanReplies;
use crate::login::{Scan, ScanReply};
use crate::metrics::CallbackOutcome;
use crate::replies::Incoming;
use crate::wechat::{CallbackError, CallbackQuery, Push, PushKind};

/// What the login part of a push may take before WeChat is answered anyway: WeChat gives up
/// after 5 s and retries; answering `success` in time is better than a retry storm.
const LOGIN_BUDGET: Duration = Duration::from_millis(4000);

const SUCCESS: &str = "success";

fn success() -> Reply {
    Reply::text(200, "text/plain; charset=utf-8", SUCCESS)
}

fn refused(app: &App, req: &OwnRequest<'_>, kind: &'static str, e: &CallbackError) -> Reply {
    app.metrics
        .wechat_callback(kind, CallbackOutcome::Refused(e.label()));
    crate::audit::callback_denied(&e.to_string(), req.client);
    let status = match e {
        CallbackError::TooLarge { .. } => 413,
        CallbackError::BadSignature | CallbackError::BadMsgSignature => 403,
        _ => 400,
    };
    let err = super::respond::GatewayError::Refused {
        status,
        code: "bad_callback",
        message: e.to_string(),
    };
    Reply::error(&err, false)
}

pub async fn handle(app: &App, req: &OwnRequest<'_>) -> Reply {
    let Some((login, callback)) = app
        .login
        .as_ref()
        .and_then(|l| l.callback.as_ref().map(|c| (l, c)))
    else {
        return Reply::error(&super::respond::GatewayError::NotFound, false);
    };
    if let Some(refused) = super::callback_source::refuse_foreign_sender(app, callback, req) {
        return refused;
    }
    let query = match CallbackQuery::parse(req.query.unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return refused(app, req, "unknown", &e),
    };
    if req.method == http::Method::GET || req.method == http::Method::HEAD {
        return match callback.codec.verify_url(&query, req.now) {
            Ok(echostr) => {
                app.metrics.wechat_callback("verify", CallbackOutcome::Ok);
                Reply::text(200, "text/plain; charset=utf-8", echostr)
            }
            Err(e) => refused(app, req, "verify", &e),
        };
    }
    let inbound = match callback.codec.open(&query, &req.body, req.now) {
        Ok(inbound) => inbound,
        Err(e) => return refused(app, req, "unknown", &e),
    };
    let push = inbound.push;
    let kind = kind_label(&push.kind);
    match login.service.seen_before(push.dedupe_key()).await {
        Ok(true) => {
            app.metrics
                .wechat_callback(kind, CallbackOutcome::Duplicate);
            return success();
        }
        Ok(false) => {}
        Err(e) => {
            // Without the store nothing can be recorded: make WeChat retry later.
            tracing::error!(error = %e, "callback dedupe failed");
            app.metrics
                .wechat_callback(kind, CallbackOutcome::StoreError);
            return Reply::json(
                503,
                &serde_json::json!({"error": "unavailable", "message": "store unavailable"}),
            );
        }
    }
    // Only codes we made are logins; the account's own parametric codes (`qrscene_promo`,
    // `123`) are its business, like any other push.
    let Some(scan) = scan_of(&push).filter(Scan::is_login) else {
        return not_login(app, callback, req, &push, kind).await;
    };
    if let Some(forwarder) = callback
        .forwarder
        .as_ref()
        .filter(|_| callback.forward_logins)
    {
        // The backend hears about logins too, but our answer never waits for it: a slow
        // or broken backend must not break login.
        forward_in_background(forwarder, req, callback.forward_budget);
    }
    match tokio::time::timeout(LOGIN_BUDGET, login.service.on_scan(scan, req.now)).await {
        Ok(Ok(outcome)) => {
            app.metrics.wechat_callback(kind, CallbackOutcome::Login);
            match scan_reply_text(&callback.scan_replies, outcome.reply) {
                Some(text) => sealed_text(callback, &push, text, req.now),
                None => success(),
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "login scan failed");
            app.metrics
                .wechat_callback(kind, CallbackOutcome::LoginError);
            forget(login, &push).await;
            success()
        }
        Err(_) => {
            tracing::warn!("login scan took longer than WeChat waits; answered success");
            app.metrics.wechat_callback(kind, CallbackOutcome::Timeout);
            forget(login, &push).await;
            success()
        }
    }
}

/// A push that is not a login: the account's own backend answers it when one is configured
/// and answers in time; otherwise the configured auto-reply, or `success`.
async fn not_login(
    app: &App,
    callback: &CallbackParts,
    req: &OwnRequest<'_>,
    push: &Push,
    kind: &'static str,
) -> Reply {
    if let Some(forwarder) = &callback.forwarder {
        match forwarder
            .forward(
                req.query,
                req.body.clone(),
                &ForwardedFrom::of(req),
                callback.forward_budget,
            )
            .await
        {
            Ok(reply) if forward::is_message(&reply) => {
                app.metrics
                    .wechat_callback(kind, CallbackOutcome::ForwardedReply);
                // Already sealed by the backend with the same Token and key: relay as is.
                return Reply::text(200, "text/xml; charset=utf-8", reply);
            }
            Ok(_) => app
                .metrics
                .wechat_callback(kind, CallbackOutcome::Forwarded),
            Err(e) => {
                tracing::warn!(error = %e, kind, "push not forwarded (a late reply is dropped)");
                app.metrics
                    .wechat_callback(kind, CallbackOutcome::ForwardFailed);
            }
        }
    }
    let incoming = match &push.kind {
        PushKind::Text { content } => Incoming::Text(content),
        // A follow through the account's own channel code is a follow like any other.
        PushKind::Subscribe { .. } => Incoming::PlainSubscribe,
        _ => Incoming::Other,
    };
    match crate::replies::reply_for(&callback.replies, incoming) {
        Some(text) => {
            if callback.forwarder.is_none() {
                app.metrics
                    .wechat_callback(kind, CallbackOutcome::AutoReply);
            }
            sealed_text(callback, push, text, req.now)
        }
        None => {
            if callback.forwarder.is_none() {
                app.metrics.wechat_callback(kind, CallbackOutcome::Ignored);
            }
            success()
        }
    }
}

fn forward_in_background(forwarder: &Forwarder, req: &OwnRequest<'_>, budget: Duration) {
    let forwarder = forwarder.clone();
    let query = req.query.map(str::to_string);
    let body = req.body.clone();
    let from = ForwardedFrom::of(req);
    tokio::spawn(async move {
        if let Err(e) = forwarder
            .forward(query.as_deref(), body, &from, budget)
            .await
        {
            tracing::warn!(error = %e, "login scan not forwarded");
        }
    });
}

/// Lets WeChat's retry of a push we could not finish be processed again.
async fn forget(login: &LoginParts, push: &Push) {
    if let Err(e) = login.service.forget_seen(push.dedupe_key()).await {
        tracing::warn!(error = %e, "could not clear a callback dedupe key");
    }
}

fn scan_of(push: &Push) -> Option<Scan> {
    let (scene, ticket, new_follower) = match &push.kind {
        PushKind::Subscribe {
            scene: Some(scene),
            ticket,
        } => (scene, ticket, true),
        PushKind::Scan { scene, ticket } => (scene, ticket, false),
        _ => return None,
    };
    Some(Scan {
        openid: crate::identity::OpenId::new(push.header.from_user.clone()),
        scene: crate::identity::SceneId::new(scene.clone()),
        ticket: ticket.clone(),
        new_follower,
    })
}

fn kind_label(kind: &PushKind) -> &'static str {
    match kind {
        PushKind::Subscribe { scene: Some(_), .. } => "subscribe_scene",
        PushKind::Subscribe { scene: None, .. } => "subscribe",
        PushKind::Scan { .. } => "scan",
        PushKind::Unsubscribe => "unsubscribe",
        PushKind::Text { .. } => "text",
        PushKind::Other { .. } => "other",
    }
}

/// The configured text for what a scan did; `None` for no reply (`success`).
fn scan_reply_text(replies: &ScanReplies, reply: ScanReply) -> Option<&str> {
    let text = match reply {
        ScanReply::Confirmed => &replies.confirmed,
        ScanReply::NeedPhone => &replies.need_phone,
        ScanReply::Expired => &replies.expired,
        ScanReply::Used => &replies.used,
        ScanReply::Blocked => &replies.blocked,
        ScanReply::Nothing => return None,
    };
    Some(text.as_str()).filter(|t| !t.is_empty())
}

/// A passive text reply to `push`, encrypted in safe mode.
fn sealed_text(callback: &CallbackParts, push: &Push, text: &str, now: u64) -> Reply {
    let xml = push.text_reply(text, now);
    let mut random = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut random);
    let nonce = format!("{:010}", rand::thread_rng().next_u32());
    let sealed = callback.codec.seal_reply(&xml, now, &nonce, &random);
    Reply::text(200, "text/xml; charset=utf-8", sealed)
}
