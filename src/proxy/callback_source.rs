//! `wechat.official_account.verify_source_ip`: a push to the callback from an address that is
//! not WeChat's is refused before anything of it is read. The address is the client as the
//! gateway determines it (`trusted_proxies` and `X-Forwarded-For`, `client_ip.rs`); the list
//! and its refresh are `wechat::source_ips`.

use super::app::{App, CallbackParts};
use super::own_request::OwnRequest;
use super::respond::{GatewayError, Reply};
use crate::metrics::CallbackOutcome;
use crate::wechat::SourceVerdict;

/// The `scangate_wechat_callbacks_total` outcome of a refused sender.
const BAD_SOURCE: &str = "bad_source";

/// `Some(403)` when the switch is on and the sender is not in WeChat's list; `None` lets the
/// push on (switch off, sender listed, or no list yet: see `server/callback_ips.rs`).
pub fn refuse_foreign_sender(
    app: &App,
    callback: &CallbackParts,
    req: &OwnRequest<'_>,
) -> Option<Reply> {
    let ips = callback.source_ips.as_ref()?;
    match ips.check(req.client) {
        SourceVerdict::Allowed => None,
        SourceVerdict::NoList => {
            tracing::debug!(client = %req.client, "callback source not checked: no list of WeChat's addresses yet");
            None
        }
        SourceVerdict::Denied => {
            // Nothing is parsed yet: a verification is told apart by its method only.
            let kind = if req.method == http::Method::GET || req.method == http::Method::HEAD {
                "verify"
            } else {
                "unknown"
            };
            app.metrics
                .wechat_callback(kind, CallbackOutcome::Refused(BAD_SOURCE));
            crate::audit::callback_denied(
                "sender is not one of WeChat's callback addresses",
                req.client,
            );
            Some(Reply::error(
                &GatewayError::Refused {
                    status: 403,
                    code: "forbidden_source",
                    message: "callbacks are accepted only from WeChat's callback addresses".into(),
                },
                false,
            ))
        }
    }
}
