//! Reading SendSms's answer: success only when the number's `SendStatusSet` entry says
//! `Ok`; every other answer is an error that says why.

use serde::Deserialize;

use super::codes;
use crate::identity::Phone;
use crate::sms::error::{scrub, Refusal};
use crate::sms::{Sent, SmsError};

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Response")]
    response: Response,
}

/// `Response` of API 3.0: `Error` when the request as a whole was refused (credentials,
/// parameters), else one `SendStatusSet` entry per number.
#[derive(Deserialize)]
struct Response {
    #[serde(rename = "Error")]
    error: Option<Status>,
    #[serde(rename = "SendStatusSet", default)]
    send_status_set: Vec<NumberStatus>,
    #[serde(rename = "RequestId")]
    request_id: Option<String>,
}

#[derive(Deserialize)]
struct Status {
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

#[derive(Deserialize)]
struct NumberStatus {
    #[serde(rename = "PhoneNumber", default)]
    phone_number: String,
    #[serde(flatten)]
    status: Status,
}

/// The outcome of a send to `phone` of `code`, from the HTTP status and body of the answer.
pub(crate) fn read(
    http_status: u16,
    body: &[u8],
    phone: &Phone,
    code: &str,
) -> Result<Sent, SmsError> {
    let ok_status = (200..300).contains(&http_status);
    let response = match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) => envelope.response,
        Err(_) if !ok_status => return Err(SmsError::Status(http_status)),
        Err(e) => {
            let why = scrub(&e.to_string(), phone, code);
            return Err(SmsError::Decode(format!(
                "not a Tencent Cloud API answer: {why}"
            )));
        }
    };
    let refused = |status: Status| {
        SmsError::Refused(Refusal {
            provider: "tencent",
            kind: codes::kind(&status.code),
            explanation: codes::explain(&status.code),
            message: scrub(&status.message, phone, code),
            code: scrub(&status.code, phone, code),
            request_id: response.request_id.clone(),
        })
    };
    if let Some(error) = response.error {
        return Err(refused(error));
    }
    let mine = response
        .send_status_set
        .into_iter()
        .find(|entry| entry.phone_number == phone.as_str());
    match mine {
        Some(entry) if entry.status.code == "Ok" && ok_status => Ok(Sent {
            request_id: response.request_id.clone(),
        }),
        Some(entry) if entry.status.code != "Ok" => Err(refused(entry.status)),
        _ if !ok_status => Err(SmsError::Status(http_status)),
        _ => Err(SmsError::Decode(
            "the answer has no SendStatusSet entry for the number".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sms::error::{LimitWindow, RefusalKind};

    fn phone() -> Phone {
        Phone::parse("13800138000").unwrap()
    }

    fn answer(status: u16, body: &str) -> Result<Sent, SmsError> {
        read(status, body.as_bytes(), &phone(), "123456")
    }

    #[test]
    fn ok_for_the_number_is_sent_with_the_request_id() {
        let sent = answer(200, r#"{"Response":{"SendStatusSet":[{"SerialNo":"2028:1","PhoneNumber":"+8613800138000","Fee":1,"SessionContext":"","Code":"Ok","Message":"send success","IsoCode":"CN"}],"RequestId":"a0aabda6-cf91-4f3e-a81f-9198114a2279"}}"#).unwrap();
        assert_eq!(
            sent.request_id.as_deref(),
            Some("a0aabda6-cf91-4f3e-a81f-9198114a2279")
        );
    }

    #[test]
    fn a_per_number_code_is_a_refusal_with_its_kind() {
        let err = answer(200, r#"{"Response":{"SendStatusSet":[{"PhoneNumber":"+8613800138000","Code":"LimitExceeded.PhoneNumberDailyLimit","Message":"the number +8613800138000 exceeds its daily limit"}],"RequestId":"r1"}}"#).unwrap_err();
        let SmsError::Refused(r) = err else {
            panic!("{err:?}");
        };
        assert_eq!(r.kind, RefusalKind::NumberLimited(LimitWindow::Day));
        assert_eq!(r.code, "LimitExceeded.PhoneNumberDailyLimit");
        assert_eq!(r.request_id.as_deref(), Some("r1"));
        assert!(!r.message.contains("13800138000"), "{}", r.message);
    }

    #[test]
    fn a_request_error_is_a_refusal_even_with_a_non_2xx_status() {
        let err = answer(401, r#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"The provided credentials could not be validated."},"RequestId":"r2"}}"#).unwrap_err();
        let SmsError::Refused(r) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(r.kind, RefusalKind::Configuration);
        assert!(err.explanation().is_some());
    }

    #[test]
    fn another_numbers_ok_or_no_entry_is_not_success() {
        let other = r#"{"Response":{"SendStatusSet":[{"PhoneNumber":"+8613900000000","Code":"Ok"}],"RequestId":"r"}}"#;
        assert!(matches!(answer(200, other), Err(SmsError::Decode(_))));
        assert!(matches!(
            answer(200, r#"{"Response":{"RequestId":"r"}}"#),
            Err(SmsError::Decode(_))
        ));
    }

    #[test]
    fn garbage_is_a_decode_error_and_a_bare_5xx_a_status() {
        assert!(matches!(answer(200, "<html>"), Err(SmsError::Decode(_))));
        assert!(matches!(
            answer(200, "{\"Response\": 5}"),
            Err(SmsError::Decode(_))
        ));
        assert!(matches!(answer(500, "oops"), Err(SmsError::Status(500))));
        // An Ok under a 5xx is not believed.
        let ok_but_500 =
            r#"{"Response":{"SendStatusSet":[{"PhoneNumber":"+8613800138000","Code":"Ok"}]}}"#;
        assert!(matches!(
            answer(502, ok_but_500),
            Err(SmsError::Status(502))
        ));
    }
}
