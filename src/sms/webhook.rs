//! The webhook provider: the operator's own endpoint sends the SMS.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::http::{client, transport};
use super::{Sent, SmsError, SmsSender};
use crate::identity::Phone;

/// Whole-request timeout of a webhook call. The user is waiting on the phone form.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// POSTs `{"phone": "+8613800138000", "code": "123456"}` (phone in E.164) to a URL; any 2xx
/// answer means accepted. Redirects are not followed: they would carry the code elsewhere.
#[derive(Clone)]
pub struct WebhookSms {
    http: reqwest::Client,
    url: String,
    timeout: Duration,
}

impl std::fmt::Debug for WebhookSms {
    // The URL may carry the operator's credentials in its query: not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSms")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Body<'a> {
    phone: &'a str,
    code: &'a str,
}

impl WebhookSms {
    /// A client for `url` with [`WEBHOOK_TIMEOUT`].
    pub fn new(url: &str) -> Result<Self, SmsError> {
        Self::with_timeout(url, WEBHOOK_TIMEOUT)
    }

    /// A client for `url` giving up after `timeout` (tests use a short one).
    pub fn with_timeout(url: &str, timeout: Duration) -> Result<Self, SmsError> {
        Ok(WebhookSms {
            http: client(timeout)?,
            url: url.to_string(),
            timeout,
        })
    }
}

#[async_trait]
impl SmsSender for WebhookSms {
    async fn send(&self, phone: &Phone, code: &str) -> Result<Sent, SmsError> {
        let body = Body {
            phone: phone.as_str(),
            code,
        };
        let response = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            tracing::warn!(
                phone = %phone.masked(),
                status = status.as_u16(),
                "SMS webhook refused a code"
            );
            return Err(SmsError::Status(status.as_u16()));
        }
        Ok(Sent::default())
    }

    fn describe(&self) -> String {
        // Not the URL: it may carry the operator's credentials.
        "webhook".to_string()
    }
}
