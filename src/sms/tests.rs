//! The log and webhook providers (the webhook against a real HTTP server on 127.0.0.1), and
//! building each provider from its config. Tencent and Aliyun have their own tests beside
//! them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

use super::*;
use crate::config::model::Secret;

/// What the fake provider received, and what it answers.
#[derive(Clone)]
struct Provider {
    received: Arc<Mutex<Vec<Value>>>,
    status: StatusCode,
    delay: Duration,
}

async fn receive(State(p): State<Provider>, Json(body): Json<Value>) -> StatusCode {
    p.received.lock().unwrap().push(body);
    tokio::time::sleep(p.delay).await;
    p.status
}

/// Serves the fake provider; returns its URL (with a query, as operators' URLs often have)
/// and the received bodies.
async fn serve(status: StatusCode, delay: Duration) -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let state = Provider {
        received: received.clone(),
        status,
        delay,
    };
    let app = Router::new().route("/sms", post(receive)).with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/sms?key=hunter2"), received)
}

fn phone() -> Phone {
    Phone::parse("13800138000").unwrap()
}

#[tokio::test]
async fn webhook_posts_phone_in_e164_and_code_as_json() {
    let (url, received) = serve(StatusCode::NO_CONTENT, Duration::ZERO).await;
    let sms = WebhookSms::new(&url).unwrap();
    sms.send(&phone(), "123456").await.unwrap();
    let bodies = received.lock().unwrap().clone();
    assert_eq!(
        bodies,
        vec![serde_json::json!({"phone": "+8613800138000", "code": "123456"})]
    );
}

#[tokio::test]
async fn webhook_non_2xx_names_the_status_and_not_the_code_or_url() {
    let (url, received) = serve(StatusCode::BAD_GATEWAY, Duration::ZERO).await;
    let sms = WebhookSms::new(&url).unwrap();
    let err = sms.send(&phone(), "654321").await.unwrap_err();
    assert!(matches!(err, SmsError::Status(502)), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("502"), "{text}");
    assert!(
        !text.contains("654321") && !text.contains("hunter2"),
        "{text}"
    );
    assert_eq!(received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn webhook_gives_up_after_its_timeout() {
    let (url, _) = serve(StatusCode::OK, Duration::from_secs(5)).await;
    let sms = WebhookSms::with_timeout(&url, Duration::from_millis(200)).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(3), sms.send(&phone(), "111111"))
        .await
        .expect("the client's own timeout fires first")
        .unwrap_err();
    assert!(matches!(err, SmsError::Timeout), "{err:?}");
}

#[tokio::test]
async fn webhook_unreachable_is_a_transport_error_without_the_url() {
    // Bind then drop: a port nobody listens on.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let sms = WebhookSms::new(&format!("http://{addr}/sms?key=hunter2")).unwrap();
    let err = sms.send(&phone(), "222222").await.unwrap_err();
    assert!(matches!(err, SmsError::Transport(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        !text.contains("hunter2") && !text.contains("222222"),
        "{text}"
    );
    assert!(!format!("{sms:?}").contains("hunter2"));
}

#[tokio::test]
async fn log_provider_accepts_every_code() {
    LogSms.send(&phone(), "333333").await.unwrap();
}

#[test]
fn from_config_builds_every_provider() {
    use crate::config::model::{AliyunSmsConfig, SmsTemplateParam, TencentSmsConfig};
    let login = |sms: SmsConfig| crate::config::model::LoginConfig {
        sms,
        ..crate::config::testing::ok("{}").login
    };
    assert_eq!(
        from_config(&login(SmsConfig::Log)).unwrap().describe(),
        LogSms.describe()
    );
    let webhook = SmsConfig::Webhook {
        url: "http://127.0.0.1:9/sms?key=hunter2".into(),
    };
    let described = from_config(&login(webhook)).unwrap().describe();
    assert!(!described.contains("hunter2"), "{described}");
    let tencent = SmsConfig::Tencent(TencentSmsConfig {
        secret_id: Secret::new("id"),
        secret_key: Secret::new("key"),
        sdk_app_id: "1400000000".into(),
        sign_name: "scangate".into(),
        template_id: "1".into(),
        region: "ap-guangzhou".into(),
        endpoint: "https://sms.tencentcloudapi.com".into(),
        template_params: vec![SmsTemplateParam::Code],
    });
    assert!(from_config(&login(tencent))
        .unwrap()
        .describe()
        .starts_with("tencent"));
    let aliyun = SmsConfig::Aliyun(AliyunSmsConfig {
        access_key_id: Secret::new("id"),
        access_key_secret: Secret::new("secret"),
        sign_name: "scangate".into(),
        template_code: "SMS_1".into(),
        endpoint: "https://dysmsapi.aliyuncs.com".into(),
        template_param_name: "code".into(),
    });
    assert!(from_config(&login(aliyun))
        .unwrap()
        .describe()
        .starts_with("aliyun"));
}
