//! Alibaba Cloud SMS: Dysmsapi `SendSms` of version 2017-05-25, signed with the V3 scheme
//! (ACS3-HMAC-SHA256).
//!
//! One POST per code, its parameters in the query string (an RPC call; the body is empty):
//! the number, the approved signature and template, and the template's variable as JSON;
//! `answer.rs` reads what comes back, `codes.rs` says what its error codes mean.

mod answer;
pub(crate) mod codes;
pub(crate) mod sign;
#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;
use rand::RngCore;

use super::digest::{hex, now_unix, sha256_hex, utc_timestamp};
use super::http::{client, host_of, read_answer, transport, PROVIDER_TIMEOUT};
use super::{log_outcome, Sent, SmsError, SmsSender};
use crate::config::model::AliyunSmsConfig;
use crate::identity::Phone;
use sign::{authorization, Acs3Request};

/// `x-acs-action`.
pub const ACTION: &str = "SendSms";
/// `x-acs-version`.
pub const VERSION: &str = "2017-05-25";

/// Sends codes through one Alibaba Cloud account's SMS service.
#[derive(Clone)]
pub struct AliyunSms {
    http: reqwest::Client,
    config: AliyunSmsConfig,
    /// `Host` as sent and signed: `host` or `host:port`.
    host: String,
}

impl std::fmt::Debug for AliyunSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AliyunSms")
            .field("endpoint", &self.config.endpoint)
            .field("template_code", &self.config.template_code)
            .finish_non_exhaustive()
    }
}

impl AliyunSms {
    pub fn new(config: &AliyunSmsConfig) -> Result<Self, SmsError> {
        Self::with_timeout(config, PROVIDER_TIMEOUT)
    }

    /// As [`new`](Self::new), giving up after `timeout` (tests use a short one).
    pub fn with_timeout(config: &AliyunSmsConfig, timeout: Duration) -> Result<Self, SmsError> {
        Ok(AliyunSms {
            http: client(timeout)?,
            host: host_of(&config.endpoint)?,
            config: config.clone(),
        })
    }

    /// SendSms's parameters for `code` to `phone`.
    fn params(&self, phone: &Phone, code: &str) -> Result<Vec<(&'static str, String)>, SmsError> {
        let mut variables = serde_json::Map::new();
        variables.insert(
            self.config.template_param_name.clone(),
            serde_json::Value::String(code.to_string()),
        );
        let template_param =
            serde_json::to_string(&variables).map_err(|e| SmsError::Unavailable(e.to_string()))?;
        Ok(vec![
            ("PhoneNumbers", phone_number(phone)),
            ("SignName", self.config.sign_name.clone()),
            ("TemplateCode", self.config.template_code.clone()),
            ("TemplateParam", template_param),
        ])
    }
}

/// `PhoneNumbers` as SendSms's reference asks: a mainland number as its 11 digits, any
/// other as country code and number without `+` (`85200000000`).
pub(crate) fn phone_number(phone: &Phone) -> String {
    let digits = phone.as_str().trim_start_matches('+');
    match phone.country_code() {
        "86" => digits.get(2..).unwrap_or(digits).to_string(),
        _ => digits.to_string(),
    }
}

/// `x-acs-signature-nonce`: 128 random bits, so that no two requests share one.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

#[async_trait]
impl SmsSender for AliyunSms {
    async fn send(&self, phone: &Phone, code: &str) -> Result<Sent, SmsError> {
        let params = self.params(phone, code)?;
        let headers = [
            ("host", self.host.clone()),
            ("x-acs-action", ACTION.to_string()),
            ("x-acs-version", VERSION.to_string()),
            ("x-acs-date", utc_timestamp(now_unix())),
            ("x-acs-signature-nonce", nonce()),
            ("x-acs-content-sha256", sha256_hex(b"")),
        ];
        let signed = sign::sign(
            self.config.access_key_secret.expose(),
            &Acs3Request {
                method: "POST",
                query: &params,
                headers: &headers,
                payload: b"",
            },
        );
        let url = format!(
            "{}/?{}",
            self.config.endpoint.trim_end_matches('/'),
            signed.canonical_query
        );
        let mut request = self.http.post(url).header(
            reqwest::header::AUTHORIZATION,
            authorization(self.config.access_key_id.expose(), &signed),
        );
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.map_err(transport)?;
        let (status, body) = read_answer(response).await?;
        let outcome = answer::read(status, &body, phone, code);
        log_outcome("aliyun", phone, &outcome);
        outcome
    }

    fn describe(&self) -> String {
        format!(
            "aliyun (template {}, {})",
            self.config.template_code, self.config.endpoint
        )
    }
}
