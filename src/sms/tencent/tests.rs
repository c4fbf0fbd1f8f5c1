//! TC3-HMAC-SHA256 against Tencent Cloud's published example, and the sender against the
//! fake API over real HTTP.

use std::time::Duration;

use super::sign::{authorization, sign, Tc3Request};
use super::*;
use crate::config::model::Secret;
use crate::sms::digest::sha256_hex;
use crate::sms::fake::{FakeProvider, Script};
use crate::sms::{LimitWindow, RefusalKind};

/// The worked example of Tencent Cloud's "签名方法 v3" (TC3-HMAC-SHA256): CVM
/// `DescribeInstances` in ap-guangzhou at timestamp 1551113065, with the sample key pair
/// AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE / Gu5t9xGARNpq86cd98joQYCN3EXAMPLE.
/// https://cloud.tencent.com/document/api/213/30654 and its copy in the CAM docs,
/// https://cloud.tencent.com/document/product/215/36792 ("签名方法 v3"). Every value below
/// is the document's: the payload's hash, the canonical request, its hash, the string to
/// sign, the signature and the Authorization header. (Later editions of the page mask the
/// key as `Gu5t9xGARNpq86cd98joQYCN3*******` and give the signature that literal string
/// yields; the intermediate values are the same.)
#[test]
fn tc3_matches_tencent_clouds_published_example() {
    let payload =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    let signed = sign(
        "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        &Tc3Request {
            service: "cvm",
            host: "cvm.tencentcloudapi.com",
            content_type: "application/json; charset=utf-8",
            payload: payload.as_bytes(),
            timestamp: 1_551_113_065,
        },
    );
    assert_eq!(
        signed.hashed_payload,
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    );
    assert_eq!(
        signed.canonical_request,
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    );
    assert_eq!(
        sha256_hex(signed.canonical_request.as_bytes()),
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    );
    assert_eq!(signed.credential_scope, "2019-02-25/cvm/tc3_request");
    assert_eq!(
        signed.string_to_sign,
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    );
    assert_eq!(
        signed.signature,
        "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    );
    assert_eq!(
        authorization("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", &signed),
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    );
}

const SECRET_ID: &str = "AKIDfake0000000000000000000000000000";
const SECRET_KEY: &str = "fake-secret-key-hunter2";

fn config(endpoint: &str) -> TencentSmsConfig {
    TencentSmsConfig {
        secret_id: Secret::new(SECRET_ID),
        secret_key: Secret::new(SECRET_KEY),
        sdk_app_id: "1400000001".into(),
        sign_name: "示例公司".into(),
        template_id: "2000001".into(),
        region: "ap-guangzhou".into(),
        endpoint: endpoint.to_string(),
        template_params: vec![SmsTemplateParam::Code],
    }
}

fn phone() -> Phone {
    Phone::parse("13800138000").unwrap()
}

async fn fake() -> FakeProvider {
    FakeProvider::tencent(SECRET_ID, SECRET_KEY).await.unwrap()
}

/// Sends `code` through a sender pointed at `fake`; the fake must have checked the
/// signature of every request it got.
async fn send_via(fake: &FakeProvider, code: &str) -> Result<Sent, SmsError> {
    let sms = TencentSms::new(&config(&fake.endpoint()), 300).unwrap();
    let outcome = sms.send(&phone(), code).await;
    for r in fake.received() {
        assert_eq!(r.signature, Ok(()), "the fake refused our signature");
    }
    outcome
}

fn refusal(outcome: Result<Sent, SmsError>) -> crate::sms::Refusal {
    match outcome {
        Err(SmsError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_signed_request_names_the_number_app_signature_template_and_code() {
    let fake = fake().await;
    let sent = send_via(&fake, "482913").await.unwrap();
    assert_eq!(sent.request_id.as_deref(), Some("fake-request-1"));
    let [r] = &fake.received()[..] else {
        panic!("one request expected");
    };
    assert_eq!(r.phone, "+8613800138000");
    assert_eq!(r.app.as_deref(), Some("1400000001"));
    assert_eq!(
        (r.sign_name.as_str(), r.template.as_str()),
        ("示例公司", "2000001")
    );
    assert_eq!(r.region.as_deref(), Some("ap-guangzhou"));
    assert_eq!(r.param("1"), Some("482913"));
    assert_eq!(r.params.len(), 1);
}

#[tokio::test]
async fn template_params_fill_the_code_and_its_minutes_in_order() {
    let fake = fake().await;
    let mut c = config(&fake.endpoint());
    c.template_params = vec![SmsTemplateParam::TtlMinutes, SmsTemplateParam::Code];
    // 150 s is 3 minutes, rounded up: the person is never told it lasts longer than it does.
    TencentSms::new(&c, 150)
        .unwrap()
        .send(&phone(), "111222")
        .await
        .unwrap();
    let r = &fake.received()[0];
    assert_eq!((r.param("1"), r.param("2")), (Some("3"), Some("111222")));
}

#[tokio::test]
async fn a_wrong_secret_key_fails_the_fakes_signature_check() {
    // Shows that the fake really checks: the same request under another key is refused.
    let fake = fake().await;
    let mut c = config(&fake.endpoint());
    c.secret_key = Secret::new("not-the-key");
    let outcome = TencentSms::new(&c, 300)
        .unwrap()
        .send(&phone(), "123456")
        .await;
    let r = refusal(outcome);
    assert_eq!(r.code, "AuthFailure.SignatureFailure");
    assert_eq!(r.kind, RefusalKind::Configuration);
    assert!(r.explanation.is_some_and(|t| t.contains("secret_key")));
    assert!(fake.received()[0].signature.is_err());
}

#[tokio::test]
async fn per_number_refusals_keep_their_meaning() {
    let fake = fake().await;
    for (code, kind) in [
        (
            "LimitExceeded.PhoneNumberDailyLimit",
            RefusalKind::NumberLimited(LimitWindow::Day),
        ),
        (
            "LimitExceeded.PhoneNumberThirtySecondLimit",
            RefusalKind::NumberLimited(LimitWindow::ThirtySeconds),
        ),
        (
            "InvalidParameterValue.IncorrectPhoneNumber",
            RefusalKind::NumberRefused,
        ),
        (
            "FailedOperation.TemplateIncorrectOrUnapproved",
            RefusalKind::Configuration,
        ),
        ("InternalError.SendAndRecvFail", RefusalKind::Other),
    ] {
        fake.answer_with(Script::refuse(code));
        let r = refusal(send_via(&fake, "123456").await);
        assert_eq!((r.code.as_str(), r.kind), (code, kind));
        assert_eq!(r.request_id.as_deref(), Some("fake-request-1"));
    }
}

#[tokio::test]
async fn a_refused_request_is_an_explained_configuration_error_without_secrets() {
    let fake = fake().await;
    fake.answer_with(Script::RejectRequest {
        status: 200,
        code: "AuthFailure.SecretIdNotFound".into(),
        message: "The SecretId is not found".into(),
    });
    let err = send_via(&fake, "654321").await.unwrap_err();
    assert!(matches!(&err, SmsError::Refused(r) if r.kind == RefusalKind::Configuration));
    assert!(err.explanation().is_some_and(|t| t.contains("secret_id")));
    let text = format!("{err} {err:?}");
    for secret in [SECRET_KEY, "654321", "13800138000"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn http_500_and_garbage_are_errors_not_successes() {
    let fake = fake().await;
    fake.answer_with(Script::Status(500));
    assert!(matches!(
        send_via(&fake, "1").await,
        Err(SmsError::Status(500))
    ));
    fake.answer_with(Script::Garbage);
    assert!(matches!(
        send_via(&fake, "1").await,
        Err(SmsError::Decode(_))
    ));
}

#[tokio::test]
async fn a_closed_port_is_a_transport_error_and_silence_a_timeout() {
    // Bound but not listening: connections are refused while `socket` lives.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed = format!("http://{}", socket.local_addr().unwrap());
    let err = TencentSms::new(&config(&closed), 300)
        .unwrap()
        .send(&phone(), "123456")
        .await
        .unwrap_err();
    assert!(matches!(err, SmsError::Transport(_)), "{err:?}");

    let fake = fake().await;
    fake.answer_with(Script::Hang);
    let sms = TencentSms::with_timeout(&config(&fake.endpoint()), 300, Duration::from_millis(200))
        .unwrap();
    let err = sms.send(&phone(), "123456").await.unwrap_err();
    assert!(matches!(err, SmsError::Timeout), "{err:?}");
}

#[test]
fn debug_shows_no_secret() {
    let sms = TencentSms::new(&config("https://sms.tencentcloudapi.com"), 300).unwrap();
    let debug = format!("{sms:?} {}", sms.describe());
    assert!(
        !debug.contains(SECRET_KEY) && !debug.contains(SECRET_ID),
        "{debug}"
    );
    assert!(debug.contains("1400000001"), "{debug}");
}
