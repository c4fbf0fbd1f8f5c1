//! The development provider: the code goes to the log.

use async_trait::async_trait;

use super::{SmsError, SmsSender};
use crate::identity::Phone;

/// Writes each code to the log at `info`, with the phone masked. For development and the demo,
/// where nobody has an SMS account: showing the code is its whole purpose, so unlike everywhere
/// else the code is logged. Never configure it in production.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSms;

#[async_trait]
impl SmsSender for LogSms {
    async fn send(&self, phone: &Phone, code: &str) -> Result<(), SmsError> {
        tracing::info!(
            phone = %phone.masked(),
            code,
            "SMS verification code (log provider: not sent to any phone)"
        );
        Ok(())
    }
}
