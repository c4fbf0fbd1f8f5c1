//! Tencent Cloud SMS: `SendSms` of API version 2021-01-11, signed with TC3-HMAC-SHA256.
//!
//! One request per code: a JSON body naming the number (E.164), the SMS application
//! (`SdkAppId`), the approved signature and template, and the template's parameters;
//! `answer.rs` reads what comes back, `codes.rs` says what its error codes mean.

mod answer;
pub(crate) mod codes;
pub(crate) mod sign;
#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::digest::now_unix;
use super::http::{client, host_of, read_answer, transport, PROVIDER_TIMEOUT};
use super::{log_outcome, Sent, SmsError, SmsSender};
use crate::config::model::{SmsTemplateParam, TencentSmsConfig};
use crate::identity::Phone;
use sign::{authorization, Tc3Request};

/// `X-TC-Action`.
pub const ACTION: &str = "SendSms";
/// `X-TC-Version`.
pub const VERSION: &str = "2021-01-11";
/// The credential scope's service.
pub const SERVICE: &str = "sms";
/// The body's type, signed as sent.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Sends codes through one Tencent Cloud SMS application.
#[derive(Clone)]
pub struct TencentSms {
    http: reqwest::Client,
    config: TencentSmsConfig,
    /// `Host` as sent and signed: `host` or `host:port`.
    host: String,
    /// The endpoint with the path `/`.
    url: String,
    /// `ttl_minutes` of the template parameters.
    ttl_minutes: u64,
}

impl std::fmt::Debug for TencentSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TencentSms")
            .field("endpoint", &self.config.endpoint)
            .field("region", &self.config.region)
            .field("sdk_app_id", &self.config.sdk_app_id)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendSmsBody<'a> {
    phone_number_set: [&'a str; 1],
    sms_sdk_app_id: &'a str,
    sign_name: &'a str,
    template_id: &'a str,
    template_param_set: Vec<String>,
}

impl TencentSms {
    /// A sender for `config`; `code_ttl_seconds` fills the `ttl_minutes` parameter.
    pub fn new(config: &TencentSmsConfig, code_ttl_seconds: u64) -> Result<Self, SmsError> {
        Self::with_timeout(config, code_ttl_seconds, PROVIDER_TIMEOUT)
    }

    /// As [`new`](Self::new), giving up after `timeout` (tests use a short one).
    pub fn with_timeout(
        config: &TencentSmsConfig,
        code_ttl_seconds: u64,
        timeout: Duration,
    ) -> Result<Self, SmsError> {
        let host = host_of(&config.endpoint)?;
        Ok(TencentSms {
            http: client(timeout)?,
            url: format!("{}/", config.endpoint.trim_end_matches('/')),
            host,
            ttl_minutes: code_ttl_seconds.div_ceil(60),
            config: config.clone(),
        })
    }

    /// The request body for `code` to `phone`.
    fn body(&self, phone: &Phone, code: &str) -> Result<Vec<u8>, SmsError> {
        let params = self
            .config
            .template_params
            .iter()
            .map(|p| match p {
                SmsTemplateParam::Code => code.to_string(),
                SmsTemplateParam::TtlMinutes => self.ttl_minutes.to_string(),
            })
            .collect();
        let body = SendSmsBody {
            phone_number_set: [phone.as_str()],
            sms_sdk_app_id: &self.config.sdk_app_id,
            sign_name: &self.config.sign_name,
            template_id: &self.config.template_id,
            template_param_set: params,
        };
        serde_json::to_vec(&body).map_err(|e| SmsError::Unavailable(e.to_string()))
    }
}

#[async_trait]
impl SmsSender for TencentSms {
    async fn send(&self, phone: &Phone, code: &str) -> Result<Sent, SmsError> {
        let payload = self.body(phone, code)?;
        let timestamp = now_unix();
        let signed = sign::sign(
            self.config.secret_key.expose(),
            &Tc3Request {
                service: SERVICE,
                host: &self.host,
                content_type: CONTENT_TYPE,
                payload: &payload,
                timestamp,
            },
        );
        let response = self
            .http
            .post(&self.url)
            .header(
                reqwest::header::AUTHORIZATION,
                authorization(self.config.secret_id.expose(), &signed),
            )
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(reqwest::header::HOST, &self.host)
            .header("X-TC-Action", ACTION)
            .header("X-TC-Version", VERSION)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Region", &self.config.region)
            .body(payload)
            .send()
            .await
            .map_err(transport)?;
        let (status, body) = read_answer(response).await?;
        let outcome = answer::read(status, &body, phone, code);
        log_outcome("tencent", phone, &outcome);
        outcome
    }

    fn describe(&self) -> String {
        format!(
            "tencent (SdkAppId {}, region {}, {})",
            self.config.sdk_app_id, self.config.region, self.config.endpoint
        )
    }
}
