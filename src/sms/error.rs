//! What a send can end in: [`SmsError`], and for a provider that answered "no", the
//! [`Refusal`] with its code, its meaning for the person, and what the operator must fix.

use std::fmt;

use crate::identity::Phone;

/// Why a code could not be sent. Never carries the code; phone numbers appear only masked.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The configured provider cannot be used (a client that cannot be built).
    #[error("SMS provider unavailable: {0}")]
    Unavailable(String),
    /// The provider could not be reached, or the exchange broke off.
    #[error("SMS provider request failed: {0}")]
    Transport(String),
    /// The provider did not answer in time.
    #[error("SMS provider did not answer in time")]
    Timeout,
    /// The provider answered with a non-2xx HTTP status and nothing we could read.
    #[error("SMS provider answered HTTP {0}")]
    Status(u16),
    /// The provider answered with something that is not its API's answer.
    #[error("SMS provider answer not understood: {0}")]
    Decode(String),
    /// The provider answered, and refused to send.
    #[error("{0}")]
    Refused(Refusal),
}

impl SmsError {
    /// What the operator should do about this error, when it is one they can fix.
    pub fn explanation(&self) -> Option<&'static str> {
        match self {
            SmsError::Refused(r) => r.explanation,
            _ => None,
        }
    }
}

/// A provider's "no", as it said it: its error code and message (both scrubbed of the
/// code and the number), its request id for support, and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `tencent` or `aliyun`.
    pub provider: &'static str,
    /// The provider's error code (`LimitExceeded.PhoneNumberDailyLimit`).
    pub code: String,
    /// The provider's message, shortened, without the number or the code sent.
    pub message: String,
    /// The provider's id of the request, which its support asks for.
    pub request_id: Option<String>,
    pub kind: RefusalKind,
    /// What to fix, for refusals caused by the account's setup (see the providers' tables).
    pub explanation: Option<&'static str>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} refused the SMS: {}", self.provider, self.code)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request {id})")?;
        }
        Ok(())
    }
}

/// What a refusal means for the person waiting for the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The provider's own limit of codes to this number is reached (not our
    /// `login.limits`): the person can wait or use another number.
    NumberLimited(LimitWindow),
    /// The provider cannot send to this number (not a mobile number, blacklisted, a region it
    /// does not serve): the person should use another number.
    NumberRefused,
    /// The account's setup is wrong (credentials, signature, template, balance): nothing the
    /// person can do; the operator must fix it.
    Configuration,
    /// Anything else (the provider's own trouble, a code we do not know).
    Other,
}

/// The window of a provider's per-number limit, where the provider says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitWindow {
    ThirtySeconds,
    Hour,
    Day,
    /// The provider does not say (Aliyun's flow control counts minute, hour and day at once).
    Unspecified,
}

/// Longest provider message kept: enough for any real one, bounded for the log.
const MESSAGE_MAX_CHARS: usize = 300;

/// `text` (a provider's message) fit for a log line and an error: the number (in any of the
/// spellings we sent) and the code replaced, control characters dropped, and cut short.
pub(crate) fn scrub(text: &str, phone: &Phone, code: &str) -> String {
    let mut out = text.replace(phone.as_str(), &phone.masked());
    // `Phone` is `+` and digits, so neither `get` can miss; no panic either way.
    let digits = phone.as_str().get(1..).unwrap_or_default();
    out = out.replace(digits, &phone.masked());
    let national = digits.get(phone.country_code().len()..).unwrap_or_default();
    if national.len() >= 6 {
        out = out.replace(national, &phone.masked());
    }
    if !code.is_empty() {
        out = out.replace(code, "******");
    }
    out.chars()
        .filter(|c| !c.is_control())
        .take(MESSAGE_MAX_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_hides_every_spelling_of_the_number_and_the_code() {
        let phone = Phone::parse("13800138000").unwrap();
        let text = scrub(
            "number +8613800138000 (8613800138000, 13800138000) refused code 654321\n",
            &phone,
            "654321",
        );
        assert!(
            !text.contains("13800138000") && !text.contains("654321"),
            "{text}"
        );
        assert!(
            text.contains("+86138****8000") && text.contains("******"),
            "{text}"
        );
        assert!(!text.contains('\n'));
        let long = scrub(&"x".repeat(5000), &phone, "1");
        assert_eq!(long.chars().count(), MESSAGE_MAX_CHARS);
    }

    #[test]
    fn a_refusal_reads_as_provider_code_message_and_request() {
        let r = Refusal {
            provider: "tencent",
            code: "LimitExceeded.PhoneNumberDailyLimit".into(),
            message: "daily limit".into(),
            request_id: Some("a-b-c".into()),
            kind: RefusalKind::NumberLimited(LimitWindow::Day),
            explanation: None,
        };
        assert_eq!(
            SmsError::Refused(r).to_string(),
            "tencent refused the SMS: LimitExceeded.PhoneNumberDailyLimit: daily limit (request a-b-c)"
        );
    }
}
