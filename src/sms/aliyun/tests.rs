//! ACS3-HMAC-SHA256 against Alibaba Cloud's published example, and the sender against the
//! fake API over real HTTP.

use std::time::Duration;

use super::sign::{authorization, canonical_query, sign, Acs3Request};
use super::*;
use crate::config::model::Secret;
use crate::sms::fake::{FakeProvider, Script};
use crate::sms::{LimitWindow, RefusalKind};

/// The fixed-parameter example (固定参数示例) of Alibaba Cloud's "V3版本请求体&签名机制"
/// (https://help.aliyun.com/zh/sdk/product-overview/v3-request-structure-and-signature):
/// ECS `RunInstances` 2014-05-26 by POST to ecs.cn-shanghai.aliyuncs.com with the query
/// `ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai`, an
/// empty body, `x-acs-date: 2023-10-26T10:22:32Z`, nonce 3156853299f313e23d1673dc12e1703d,
/// AccessKey `YourAccessKeyId` / `YourAccessKeySecret`. The document gives the canonical
/// request, the string to sign (whose hash line is 7ea06492...) and the signature
/// 06563a9e...; all are asserted here.
#[test]
fn acs3_matches_alibaba_clouds_published_example() {
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let query = [
        (
            "ImageId",
            "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd".to_string(),
        ),
        ("RegionId", "cn-shanghai".to_string()),
    ];
    let headers = [
        ("host", "ecs.cn-shanghai.aliyuncs.com".to_string()),
        ("x-acs-action", "RunInstances".to_string()),
        ("x-acs-version", "2014-05-26".to_string()),
        ("x-acs-date", "2023-10-26T10:22:32Z".to_string()),
        (
            "x-acs-signature-nonce",
            "3156853299f313e23d1673dc12e1703d".to_string(),
        ),
        ("x-acs-content-sha256", empty.to_string()),
    ];
    let signed = sign(
        "YourAccessKeySecret",
        &Acs3Request {
            method: "POST",
            query: &query,
            headers: &headers,
            payload: b"",
        },
    );
    assert_eq!(
        signed.canonical_request,
        format!(
            "POST\n/\nImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai\n\
             host:ecs.cn-shanghai.aliyuncs.com\nx-acs-action:RunInstances\nx-acs-content-sha256:{empty}\n\
             x-acs-date:2023-10-26T10:22:32Z\nx-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n\
             x-acs-version:2014-05-26\n\n\
             host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n{empty}"
        )
    );
    assert_eq!(
        signed.string_to_sign,
        "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    );
    assert_eq!(
        signed.signature,
        "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    );
    assert_eq!(
        authorization("YourAccessKeyId", &signed),
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    );
}

#[test]
fn the_query_is_sorted_and_rfc_3986_encoded() {
    let query = canonical_query(&[
        ("TemplateParam", r#"{"code":"12 34"}"#.to_string()),
        ("SignName", "示例~公司".to_string()),
        ("PhoneNumbers", "13800138000".to_string()),
    ]);
    assert_eq!(
        query,
        "PhoneNumbers=13800138000&SignName=%E7%A4%BA%E4%BE%8B~%E5%85%AC%E5%8F%B8&TemplateParam=%7B%22code%22%3A%2212%2034%22%7D"
    );
}

#[test]
fn mainland_numbers_go_without_country_code_and_others_with_it() {
    let number = |text: &str| phone_number(&Phone::parse(text).unwrap());
    assert_eq!(number("+86 138 0013 8000"), "13800138000");
    assert_eq!(number("+852 5123 4567"), "85251234567");
    assert_eq!(number("+1 415 555 0100"), "14155550100");
}

const KEY_ID: &str = "LTAIfake00000000";
const KEY_SECRET: &str = "fake-access-key-secret-hunter2";

fn config(endpoint: &str) -> AliyunSmsConfig {
    AliyunSmsConfig {
        access_key_id: Secret::new(KEY_ID),
        access_key_secret: Secret::new(KEY_SECRET),
        sign_name: "示例公司".into(),
        template_code: "SMS_000000001".into(),
        endpoint: endpoint.to_string(),
        template_param_name: "code".into(),
    }
}

fn phone() -> Phone {
    Phone::parse("13800138000").unwrap()
}

async fn fake() -> FakeProvider {
    FakeProvider::aliyun(KEY_ID, KEY_SECRET).await.unwrap()
}

/// Sends `code` through a sender pointed at `fake`; the fake must have checked the
/// signature of every request it got.
async fn send_via(fake: &FakeProvider, code: &str) -> Result<Sent, SmsError> {
    let outcome = AliyunSms::new(&config(&fake.endpoint()))
        .unwrap()
        .send(&phone(), code)
        .await;
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
async fn a_signed_request_names_the_number_signature_template_and_code() {
    let fake = fake().await;
    let sent = send_via(&fake, "482913").await.unwrap();
    assert_eq!(sent.request_id.as_deref(), Some("FAKE-REQUEST-1"));
    let [r] = &fake.received()[..] else {
        panic!("one request expected");
    };
    assert_eq!(r.phone, "13800138000");
    assert_eq!(
        (r.sign_name.as_str(), r.template.as_str()),
        ("示例公司", "SMS_000000001")
    );
    assert_eq!(r.param("code"), Some("482913"));
    assert_eq!(r.params.len(), 1);
}

#[tokio::test]
async fn the_template_variable_is_the_configured_one_and_nonces_differ() {
    let fake = fake().await;
    let mut c = config(&fake.endpoint());
    c.template_param_name = "verify_code".into();
    let sms = AliyunSms::new(&c).unwrap();
    sms.send(&phone(), "111222").await.unwrap();
    // A second send: the fake refuses a nonce it saw before.
    sms.send(&phone(), "333444").await.unwrap();
    let received = fake.received();
    assert_eq!(received[0].param("verify_code"), Some("111222"));
    assert!(received.iter().all(|r| r.signature.is_ok()), "{received:?}");
}

#[tokio::test]
async fn a_wrong_secret_fails_the_fakes_signature_check() {
    let fake = fake().await;
    let mut c = config(&fake.endpoint());
    c.access_key_secret = Secret::new("not-the-secret");
    let r = refusal(AliyunSms::new(&c).unwrap().send(&phone(), "123456").await);
    assert_eq!(r.code, "SignatureDoesNotMatch");
    assert_eq!(r.kind, RefusalKind::Configuration);
    assert!(fake.received()[0].signature.is_err());
}

#[tokio::test]
async fn per_number_refusals_keep_their_meaning() {
    let fake = fake().await;
    for (code, kind) in [
        (
            "isv.BUSINESS_LIMIT_CONTROL",
            RefusalKind::NumberLimited(LimitWindow::Unspecified),
        ),
        (
            "isv.DAY_LIMIT_CONTROL",
            RefusalKind::NumberLimited(LimitWindow::Day),
        ),
        ("isv.MOBILE_NUMBER_ILLEGAL", RefusalKind::NumberRefused),
        ("isv.SMS_TEMPLATE_ILLEGAL", RefusalKind::Configuration),
        ("isp.SYSTEM_ERROR", RefusalKind::Other),
    ] {
        fake.answer_with(Script::refuse(code));
        let r = refusal(send_via(&fake, "123456").await);
        assert_eq!((r.code.as_str(), r.kind), (code, kind));
    }
}

#[tokio::test]
async fn a_gateway_refusal_is_an_explained_configuration_error_without_secrets() {
    let fake = fake().await;
    fake.answer_with(Script::RejectRequest {
        status: 404,
        code: "InvalidAccessKeyId.NotFound".into(),
        message: "Specified access key is not found.".into(),
    });
    let err = send_via(&fake, "654321").await.unwrap_err();
    assert!(err
        .explanation()
        .is_some_and(|t| t.contains("access_key_id")));
    let text = format!("{err} {err:?}");
    for secret in [KEY_SECRET, "654321", "13800138000"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn http_500_garbage_closed_ports_and_silence_are_errors() {
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

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed = format!("http://{}", socket.local_addr().unwrap());
    let err = AliyunSms::new(&config(&closed))
        .unwrap()
        .send(&phone(), "1")
        .await
        .unwrap_err();
    assert!(matches!(err, SmsError::Transport(_)), "{err:?}");

    fake.answer_with(Script::Hang);
    let sms =
        AliyunSms::with_timeout(&config(&fake.endpoint()), Duration::from_millis(200)).unwrap();
    let err = sms.send(&phone(), "1").await.unwrap_err();
    assert!(matches!(err, SmsError::Timeout), "{err:?}");
}
