//! The development provider: the code goes to the log.

use async_trait::async_trait;

use super::{Sent, SmsError, SmsSender};
use crate::identity::Phone;

/// Writes each code to the log at `info`, with the phone masked. For development and the demo,
/// where nobody has an SMS account: showing the code is its whole purpose, so unlike everywhere
/// else the code is logged. Never configure it in production.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSms;

#[async_trait]
impl SmsSender for LogSms {
    async fn send(&self, phone: &Phone, code: &str) -> Result<Sent, SmsError> {
        tracing::info!(
            phone = %phone.masked(),
            code,
            "SMS verification code (log provider: not sent to any phone)"
        );
        Ok(Sent::default())
    }

    fn describe(&self) -> String {
        "log (the code is written to the log; no SMS is sent)".to_string()
    }
}
