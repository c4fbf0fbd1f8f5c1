//! SMS providers: how a phone-binding code reaches the user's phone.
//!
//! The login flow sees only [`SmsSender`]; [`from_config`] picks the provider named by
//! `login.sms`:
//!
//! | file | provider |
//! |---|---|
//! | `log.rs` | the code goes to the log (development, the demo) |
//! | `webhook.rs` | the operator's own endpoint sends the SMS |
//! | `tencent/` | Tencent Cloud SMS (TC3-HMAC-SHA256 signed `SendSms`) |
//! | `aliyun/` | Alibaba Cloud SMS (ACS3-HMAC-SHA256 signed `SendSms`) |
//! | `fake/` | stand-ins for the two clouds' servers, for tests: they check signatures |
//!
//! `error.rs` says what a failure means; `http.rs` and `digest.rs` hold what the providers
//! share. Providers never put the code in an error (errors reach logs and, as a generic
//! text, users); only [`LogSms`] logs it, because showing it is its whole purpose.

pub mod aliyun;
mod digest;
mod error;
#[cfg(any(test, feature = "test-util"))]
pub mod fake;
mod http;
mod log;
pub mod tencent;
mod webhook;

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::model::{LoginConfig, SmsConfig};
use crate::identity::Phone;

pub use aliyun::AliyunSms;
pub use error::{LimitWindow, Refusal, RefusalKind, SmsError};
pub use http::PROVIDER_TIMEOUT;
pub use log::LogSms;
pub use tencent::TencentSms;
pub use webhook::{WebhookSms, WEBHOOK_TIMEOUT};

/// A code the provider accepted (not yet delivered: the phone may still be off).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id of the request, when it gives one (for its support).
    pub request_id: Option<String>,
}

/// Sends verification codes.
#[async_trait]
pub trait SmsSender: Send + Sync {
    /// Delivers `code` (six digits) to `phone`. `Ok` means the provider accepted it, not
    /// that the phone received it. Implementations must not put `code` in the error.
    async fn send(&self, phone: &Phone, code: &str) -> Result<Sent, SmsError>;

    /// The provider in a few words, for `scangate sms test` (never a secret).
    fn describe(&self) -> String {
        "an SMS provider".to_string()
    }
}

/// The provider `login.sms` names, its templates filled with `login`'s code lifetime. Fails
/// only for a client that cannot be built.
pub fn from_config(login: &LoginConfig) -> Result<Arc<dyn SmsSender>, SmsError> {
    Ok(match &login.sms {
        SmsConfig::Log => Arc::new(LogSms),
        SmsConfig::Webhook { url } => Arc::new(WebhookSms::new(url)?),
        SmsConfig::Tencent(config) => Arc::new(TencentSms::new(config, login.code_ttl_seconds)?),
        SmsConfig::Aliyun(config) => Arc::new(AliyunSms::new(config)?),
    })
}

/// One log line for a provider's answer: the setup errors at `error`, with what to fix
/// (the person only hears that the code could not be sent); the number's own trouble at
/// `info` (the person is told); anything else at `warn`. The phone is masked.
fn log_outcome(provider: &'static str, phone: &Phone, outcome: &Result<Sent, SmsError>) {
    let phone = phone.masked();
    match outcome {
        Ok(sent) => {
            tracing::debug!(provider, %phone, request_id = ?sent.request_id, "SMS provider accepted a code")
        }
        Err(SmsError::Refused(r)) => match r.kind {
            RefusalKind::Configuration => tracing::error!(
                provider, %phone, code = %r.code, message = %r.message, request_id = ?r.request_id,
                fix = r.explanation.unwrap_or_default(),
                "SMS provider refused the code because of the account's setup; no code can be sent until it is fixed"
            ),
            RefusalKind::NumberLimited(_) | RefusalKind::NumberRefused => tracing::info!(
                provider, %phone, code = %r.code, message = %r.message, request_id = ?r.request_id,
                "SMS provider refused this number"
            ),
            RefusalKind::Other => tracing::warn!(
                provider, %phone, code = %r.code, message = %r.message, request_id = ?r.request_id,
                "SMS provider refused a code"
            ),
        },
        Err(e) => tracing::warn!(provider, %phone, error = %e, "SMS provider did not take a code"),
    }
}

#[cfg(test)]
mod tests;
