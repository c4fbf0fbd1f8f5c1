//! Reading SendSms's answer: success only on `Code: "OK"`; every other answer is an error
//! that says why.

use serde::Deserialize;

use super::codes;
use crate::identity::Phone;
use crate::sms::error::{scrub, Refusal};
use crate::sms::{Sent, SmsError};

/// SendSms's answer, and the API gateway's error answer, which share these fields.
#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
    #[serde(rename = "RequestId")]
    request_id: Option<String>,
}

/// The outcome of a send to `phone` of `code`, from the HTTP status and body of the answer.
pub(crate) fn read(
    http_status: u16,
    body: &[u8],
    phone: &Phone,
    code: &str,
) -> Result<Sent, SmsError> {
    let ok_status = (200..300).contains(&http_status);
    let answer = match serde_json::from_slice::<Answer>(body) {
        Ok(answer) => answer,
        Err(_) if !ok_status => return Err(SmsError::Status(http_status)),
        Err(e) => {
            let why = scrub(&e.to_string(), phone, code);
            return Err(SmsError::Decode(format!(
                "not an Alibaba Cloud API answer: {why}"
            )));
        }
    };
    match answer.code.as_str() {
        "OK" if ok_status => Ok(Sent {
            request_id: answer.request_id,
        }),
        "OK" => Err(SmsError::Status(http_status)),
        other => Err(SmsError::Refused(Refusal {
            provider: "aliyun",
            kind: codes::kind(other),
            explanation: codes::explain(other),
            code: scrub(other, phone, code),
            message: scrub(&answer.message, phone, code),
            request_id: answer.request_id,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sms::error::{LimitWindow, RefusalKind};

    fn answer(status: u16, body: &str) -> Result<Sent, SmsError> {
        read(
            status,
            body.as_bytes(),
            &Phone::parse("13800138000").unwrap(),
            "123456",
        )
    }

    #[test]
    fn ok_is_sent_with_the_request_id() {
        let sent = answer(200, r#"{"Code":"OK","Message":"OK","BizId":"9006197469364984400","RequestId":"F655A8D5-B967-440B-8683-DAD6FF8DE990"}"#).unwrap();
        assert_eq!(
            sent.request_id.as_deref(),
            Some("F655A8D5-B967-440B-8683-DAD6FF8DE990")
        );
    }

    #[test]
    fn a_business_code_is_a_refusal_with_its_kind() {
        let err = answer(200, r#"{"Code":"isv.BUSINESS_LIMIT_CONTROL","Message":"触发号码天级流控Permits:10","RequestId":"r1"}"#).unwrap_err();
        let SmsError::Refused(r) = err else {
            panic!("{err:?}");
        };
        assert_eq!(r.kind, RefusalKind::NumberLimited(LimitWindow::Unspecified));
        assert_eq!(r.request_id.as_deref(), Some("r1"));
    }

    #[test]
    fn a_gateway_error_under_4xx_is_a_refusal_that_explains_itself() {
        let err = answer(404, r#"{"RequestId":"r2","HostId":"dysmsapi.aliyuncs.com","Code":"InvalidAccessKeyId.NotFound","Message":"Specified access key is not found.","Recommend":"https://api.aliyun.com/troubleshoot"}"#).unwrap_err();
        assert!(matches!(&err, SmsError::Refused(r) if r.kind == RefusalKind::Configuration));
        assert!(err.explanation().is_some());
    }

    #[test]
    fn garbage_is_a_decode_error_and_a_bare_5xx_a_status() {
        assert!(matches!(answer(200, "<xml/>"), Err(SmsError::Decode(_))));
        assert!(matches!(answer(200, "{}"), Err(SmsError::Decode(_))));
        assert!(matches!(answer(503, "busy"), Err(SmsError::Status(503))));
        assert!(matches!(
            answer(500, r#"{"Code":"OK"}"#),
            Err(SmsError::Status(500))
        ));
    }
}
