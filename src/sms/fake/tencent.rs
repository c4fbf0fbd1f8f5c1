//! A fake Tencent Cloud SMS API: checks each `SendSms` request's TC3-HMAC-SHA256
//! signature as the real API does (from the headers `SignedHeaders` names, as received),
//! then answers as scripted. A request whose signature does not check out gets the real
//! API's `AuthFailure.SignatureFailure`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::check::{days_since_epoch, hex_of, mac, now_unix};
use super::server::{Answer, HttpRequest, Server};
use super::{Received, Script};

/// How far `X-TC-Timestamp` may be from the fake's clock, as the real API allows.
const CLOCK_SKEW_SECONDS: u64 = 300;

struct State {
    secret_id: String,
    secret_key: String,
    script: Mutex<Script>,
    received: Mutex<Vec<Received>>,
}

/// A fake Tencent Cloud SMS API on 127.0.0.1, knowing one key pair.
pub struct FakeTencent {
    server: Server,
    state: Arc<State>,
}

impl FakeTencent {
    /// Starts a fake that accepts requests signed with `secret_id` / `secret_key` and sends.
    pub async fn start(secret_id: &str, secret_key: &str) -> std::io::Result<FakeTencent> {
        let state = Arc::new(State {
            secret_id: secret_id.to_string(),
            secret_key: secret_key.to_string(),
            script: Mutex::new(Script::Accept),
            received: Mutex::new(Vec::new()),
        });
        let handler = state.clone();
        let server = Server::start(Arc::new(move |r: &HttpRequest| handle(&handler, r))).await?;
        Ok(FakeTencent { server, state })
    }

    /// `http://127.0.0.1:<port>`: the `login.sms.endpoint` that reaches this fake.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// How the next requests are answered.
    pub fn answer_with(&self, script: Script) {
        *self
            .state
            .script
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = script;
    }

    /// Every request so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn handle(state: &State, request: &HttpRequest) -> Option<Answer> {
    let body: Value = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(_) => return Some(error(200, "InvalidParameter", "the body is not JSON")),
    };
    let text = |key: &str| body[key].as_str().unwrap_or_default().to_string();
    let phone = body["PhoneNumberSet"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let params: BTreeMap<String, String> = body["TemplateParamSet"]
        .as_array()
        .map(|all| {
            all.iter()
                .enumerate()
                .map(|(i, v)| {
                    (
                        (i + 1).to_string(),
                        v.as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let signature = verify(state, request);
    state
        .received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Received {
            phone: phone.clone(),
            sign_name: text("SignName"),
            template: text("TemplateId"),
            app: Some(text("SmsSdkAppId")),
            region: request.header("x-tc-region").map(str::to_string),
            params,
            signature: signature.clone(),
        });
    if let Err(why) = signature {
        return Some(error(200, "AuthFailure.SignatureFailure", &why));
    }
    let script = state
        .script
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let number = |code: &str, message: &str| {
        let status = json!({
            "SerialNo": "2028:fake", "PhoneNumber": phone, "Fee": 1, "SessionContext": "",
            "Code": code, "Message": message, "IsoCode": "CN"
        });
        let body = json!({"Response": {"SendStatusSet": [status], "RequestId": "fake-request-1"}});
        (200, "application/json", body.to_string().into_bytes())
    };
    match script {
        Script::Accept => Some(number("Ok", "send success")),
        Script::Refuse { code, message } => Some(number(&code, &message)),
        Script::RejectRequest {
            status,
            code,
            message,
        } => Some(error(status, &code, &message)),
        Script::Status(status) => Some((status, "text/plain", b"fake failure".to_vec())),
        Script::Garbage => Some((200, "text/html", b"<html>gateway</html>".to_vec())),
        Script::Hang => None,
    }
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    let body = json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "fake-request-1"}});
    (status, "application/json", body.to_string().into_bytes())
}

/// Checks the request as Tencent Cloud does; `Err` says what did not check out.
fn verify(state: &State, request: &HttpRequest) -> Result<(), String> {
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
