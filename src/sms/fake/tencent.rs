//! A fake Tencent Cloud SMS API: checks each `SendSms` request's TC3-HMAC-SHA256
//! signature as the real API does (from the headers `SignedHeaders` names, as received),
//! then answers as scripted. A request whose signature does not check out gets the real
//! API's `AuthFailure.SignatureFailure`.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::check::{days_since_epoch, hex_of, mac, now_unix};
use super::server::{Answer, HttpRequest};
use super::{Dialect, Received, Script};

/// How far `X-TC-Timestamp` may be from the fake's clock, as the real API allows.
const CLOCK_SKEW_SECONDS: u64 = 300;

/// Tencent Cloud's API 3.0, knowing one key pair.
pub(super) struct Tencent {
    secret_id: String,
    secret_key: String,
}

impl Tencent {
    pub(super) fn new(secret_id: &str, secret_key: &str) -> Self {
        Tencent {
            secret_id: secret_id.to_string(),
            secret_key: secret_key.to_string(),
        }
    }
}

impl Dialect for Tencent {
    fn read(&self, request: &HttpRequest) -> Received {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let text = |key: &str| body[key].as_str().unwrap_or_default().to_string();
        let params = body["TemplateParamSet"]
            .as_array()
            .map(|all| {
                let value = |v: &Value| v.as_str().unwrap_or_default().to_string();
                all.iter()
                    .enumerate()
                    .map(|(i, v)| ((i + 1).to_string(), value(v)))
                    .collect()
            })
            .unwrap_or_default();
        Received {
            phone: body["PhoneNumberSet"][0]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            sign_name: text("SignName"),
            template: text("TemplateId"),
            app: Some(text("SmsSdkAppId")),
            region: request.header("x-tc-region").map(str::to_string),
            params,
            signature: verify(self, request),
        }
    }

    fn bad_signature(&self, why: &str) -> Answer {
        error(200, "AuthFailure.SignatureFailure", why)
    }

    fn answer(&self, script: &Script, received: &Received) -> Answer {
        let number = |code: &str, message: &str| {
            let status = json!({
                "SerialNo": "2028:fake", "PhoneNumber": received.phone, "Fee": 1,
                "SessionContext": "", "Code": code, "Message": message, "IsoCode": "CN"
            });
            let body = json!({"Response": {"SendStatusSet": [status], "RequestId": REQUEST_ID}});
            (200, "application/json", body.to_string().into_bytes())
        };
        match script {
            Script::Refuse { code, message } => number(code, message),
            Script::RejectRequest {
                status,
                code,
                message,
            } => error(*status, code, message),
            _ => number("Ok", "send success"),
        }
    }
}

const REQUEST_ID: &str = "fake-request-1";

fn error(status: u16, code: &str, message: &str) -> Answer {
    let body =
        json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": REQUEST_ID}});
    (status, "application/json", body.to_string().into_bytes())
}

/// Checks the request as Tencent Cloud does; `Err` says what did not check out.
fn verify(state: &Tencent, request: &HttpRequest) -> Result<(), String> {
    if request.method != "POST" || request.target != "/" {
        return Err(format!(
            "{} {} is not POST /",
            request.method, request.target
        ));
    }
    for (name, want) in [("x-tc-action", "SendSms"), ("x-tc-version", "2021-01-11")] {
        if request.header(name) != Some(want) {
            return Err(format!("{name} is not {want}"));
        }
    }
    let auth = request.header("authorization").ok_or("no Authorization")?;
    let rest = auth
        .strip_prefix("TC3-HMAC-SHA256 ")
        .ok_or("Authorization is not TC3-HMAC-SHA256")?;
    let mut fields = BTreeMap::new();
    for part in rest.split(", ") {
        let (key, value) = part.split_once('=').ok_or("Authorization is malformed")?;
        fields.insert(key, value);
    }
    let credential = fields.get("Credential").ok_or("no Credential")?;
    let signed_headers = fields.get("SignedHeaders").ok_or("no SignedHeaders")?;
    let signature = fields.get("Signature").ok_or("no Signature")?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [secret_id, date, service, "tc3_request"] = scope[..] else {
        return Err(format!(
            "Credential {credential:?} is not id/date/service/tc3_request"
        ));
    };
    if secret_id != state.secret_id {
        return Err("unknown SecretId".to_string());
    }
    if service != "sms" {
        return Err(format!("service {service:?} is not sms"));
    }
    let timestamp: u64 = request
        .header("x-tc-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or("no X-TC-Timestamp")?;
    if now_unix().abs_diff(timestamp) > CLOCK_SKEW_SECONDS {
        return Err("X-TC-Timestamp is too far from now".to_string());
    }
    if days_since_epoch(date) != Some(timestamp / 86_400) {
        return Err(format!(
            "the scope's date {date} is not the timestamp's UTC date"
        ));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !(names.contains(&"content-type") && names.contains(&"host")) {
        return Err("content-type and host must be signed".to_string());
    }
    let mut canonical_headers = String::new();
    for name in &names {
        let value = request
            .header(name)
            .ok_or_else(|| format!("signed header {name} is missing"))?;
        canonical_headers.push_str(&format!("{name}:{}\n", value.to_ascii_lowercase()));
    }
    let canonical = format!(
        "POST\n/\n\n{canonical_headers}\n{signed_headers}\n{}",
        hex_of(&Sha256::digest(&request.body))
    );
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{}",
        hex_of(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = format!("TC3{}", state.secret_key).into_bytes();
    for part in [date, service, "tc3_request"] {
        key = mac(&key, part.as_bytes());
    }
    let expected = hex_of(&mac(&key, to_sign.as_bytes()));
    if expected != *signature {
        return Err("the signature does not match".to_string());
    }
    Ok(())
}
