//! SMS providers: how a phone-binding code reaches the user's phone.
//!
//! The login flow sees only [`SmsSender`]; [`from_config`] picks the provider named by
//! `login.sms`. Providers never put the code in an error (errors reach logs and, as a generic
//! text, users); only [`LogSms`] logs it, because showing it is its whole purpose.

mod log;
mod webhook;

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::model::SmsConfig;
use crate::identity::Phone;

pub use log::LogSms;
pub use webhook::{WebhookSms, WEBHOOK_TIMEOUT};

/// Why a code could not be sent. Never carries the code; phone numbers appear only masked.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The configured provider cannot be used (not built yet, or a bad setting).
    #[error("SMS provider unavailable: {0}")]
    Unavailable(String),
    /// The provider could not be reached, or the exchange broke off.
    #[error("SMS provider request failed: {0}")]
    Transport(String),
    /// The provider did not answer in time.
    #[error("SMS provider did not answer in time")]
    Timeout,
    /// The provider answered with a non-2xx HTTP status.
    #[error("SMS provider answered HTTP {0}")]
    Status(u16),
}

/// Sends verification codes.
#[async_trait]
pub trait SmsSender: Send + Sync {
    /// Delivers `code` (six digits) to `phone`. `Ok(())` means the provider accepted it, not
    /// that the phone received it. Implementations must not put `code` in the error.
    async fn send(&self, phone: &Phone, code: &str) -> Result<(), SmsError>;
}

/// The provider `config` names. Fails for a provider that does not exist yet (Tencent) or a
/// webhook client that cannot be built.
pub fn from_config(config: &SmsConfig) -> Result<Arc<dyn SmsSender>, SmsError> {
    match config {
        SmsConfig::Log => Ok(Arc::new(LogSms)),
        SmsConfig::Webhook { url } => Ok(Arc::new(WebhookSms::new(url)?)),
        SmsConfig::Tencent { .. } => Err(SmsError::Unavailable(
            "the tencent provider is not available yet; use `log` or `webhook`".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests;
