//! A fake Alibaba Cloud SMS API: checks each `SendSms` request's ACS3-HMAC-SHA256
//! signature as the real gateway does (the query re-encoded from what was received, the
//! headers `SignedHeaders` names, the body's hash, a fresh nonce), then answers as
//! scripted. A request whose signature does not check out gets the real gateway's
//! `SignatureDoesNotMatch`.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, PoisonError};

use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::check::{hex_of, mac, now_unix, unix_of};
use super::server::{Answer, HttpRequest};
use super::{Dialect, Received, Script};

/// How far `x-acs-date` may be from the fake's clock.
const CLOCK_SKEW_SECONDS: u64 = 900;

/// Headers every V3 request signs.
const REQUIRED_SIGNED: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
];

/// Alibaba Cloud's API gateway, knowing one AccessKey.
pub(super) struct Aliyun {
    access_key_id: String,
    access_key_secret: String,
    /// Every `x-acs-signature-nonce` seen: one used twice is a replay.
    nonces: Mutex<HashSet<String>>,
}

impl Aliyun {
    pub(super) fn new(access_key_id: &str, access_key_secret: &str) -> Self {
        Aliyun {
            access_key_id: access_key_id.to_string(),
            access_key_secret: access_key_secret.to_string(),
            nonces: Mutex::new(HashSet::new()),
        }
    }
}

impl Dialect for Aliyun {
    fn read(&self, request: &HttpRequest) -> Received {
        let params: BTreeMap<String, String> = query_params(&request.target).into_iter().collect();
        let get = |key: &str| params.get(key).cloned().unwrap_or_default();
        let variables = serde_json::from_str::<Value>(&get("TemplateParam"))
            .ok()
            .and_then(|v| v.as_object().cloned())
            .map(|object| {
                let value = |v: &Value| v.as_str().unwrap_or_default().to_string();
                object.iter().map(|(k, v)| (k.clone(), value(v))).collect()
            })
            .unwrap_or_default();
        Received {
            phone: get("PhoneNumbers"),
            sign_name: get("SignName"),
            template: get("TemplateCode"),
            app: None,
            region: None,
            params: variables,
            signature: verify(self, request),
        }
    }

    fn bad_signature(&self, why: &str) -> Answer {
        answer(400, "SignatureDoesNotMatch", why)
    }

    fn answer(&self, script: &Script, _: &Received) -> Answer {
        match script {
            Script::Refuse { code, message } => answer(200, code, message),
            Script::RejectRequest {
                status,
                code,
                message,
            } => answer(*status, code, message),
            _ => answer(200, "OK", "OK"),
        }
    }
}

/// The query string's parameters, decoded (`+` is not a space in V3 queries).
fn query_params(target: &str) -> Vec<(String, String)> {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().to_string();
            (decode(k), decode(v))
        })
        .collect()
}

fn answer(status: u16, code: &str, message: &str) -> Answer {
    let body = json!({
        "Code": code, "Message": message, "BizId": "900619746936498440^0",
        "RequestId": "FAKE-REQUEST-1"
    });
    (status, "application/json", body.to_string().into_bytes())
}

/// RFC 3986 percent-encoding: only `A-Z a-z 0-9 - _ . ~` stay as they are.
fn rfc3986(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Checks the request as Alibaba Cloud's gateway does; `Err` says what did not check out.
fn verify(state: &Aliyun, request: &HttpRequest) -> Result<(), String> {
    let path = request.target.split('?').next().unwrap_or_default();
    if request.method != "POST" || path != "/" {
        return Err(format!("{} {path} is not POST /", request.method));
    }
    for (name, want) in [("x-acs-action", "SendSms"), ("x-acs-version", "2017-05-25")] {
        if request.header(name) != Some(want) {
            return Err(format!("{name} is not {want}"));
        }
    }
    let auth = request.header("authorization").ok_or("no Authorization")?;
    let rest = auth
        .strip_prefix("ACS3-HMAC-SHA256 ")
        .ok_or("Authorization is not ACS3-HMAC-SHA256")?;
    let mut fields = BTreeMap::new();
    for part in rest.split(',') {
        let (key, value) = part.split_once('=').ok_or("Authorization is malformed")?;
        fields.insert(key.trim(), value.trim());
    }
    let (Some(id), Some(signed_headers), Some(signature)) = (
        fields.get("Credential"),
        fields.get("SignedHeaders"),
        fields.get("Signature"),
    ) else {
        return Err("Authorization lacks Credential, SignedHeaders or Signature".to_string());
    };
    if *id != state.access_key_id {
        return Err("unknown AccessKey ID".to_string());
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if let Some(missing) = REQUIRED_SIGNED.iter().find(|n| !names.contains(n)) {
        return Err(format!("{missing} is not signed"));
    }
    let body_hash = hex_of(&Sha256::digest(&request.body));
    if request.header("x-acs-content-sha256") != Some(body_hash.as_str()) {
        return Err("x-acs-content-sha256 is not the body's hash".to_string());
    }
    let date = request
        .header("x-acs-date")
        .and_then(unix_of)
        .ok_or("bad x-acs-date")?;
    if now_unix().abs_diff(date) > CLOCK_SKEW_SECONDS {
        return Err("x-acs-date is too far from now".to_string());
    }
    let nonce = request
        .header("x-acs-signature-nonce")
        .ok_or("no x-acs-signature-nonce")?;
    if !state
        .nonces
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(nonce.to_string())
    {
        return Err("the nonce was used before".to_string());
    }
    let mut query: Vec<String> = query_params(&request.target)
        .iter()
        .map(|(k, v)| format!("{}={}", rfc3986(k), rfc3986(v)))
        .collect();
    query.sort();
    let mut canonical_headers = String::new();
    for name in &names {
        let value = request
            .header(name)
            .ok_or_else(|| format!("signed header {name} is missing"))?;
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let canonical = format!(
        "POST\n/\n{}\n{canonical_headers}\n{signed_headers}\n{body_hash}",
        query.join("&")
    );
    let to_sign = format!(
        "ACS3-HMAC-SHA256\n{}",
        hex_of(&Sha256::digest(canonical.as_bytes()))
    );
    let expected = hex_of(&mac(state.access_key_secret.as_bytes(), to_sign.as_bytes()));
    if expected != *signature {
        return Err("the signature does not match".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_decoded_and_re_encoded_the_rfc_3986_way() {
        let params = query_params(
            "/?TemplateParam=%7B%22code%22%3A%22123%22%7D&SignName=%E7%A4%BA%E4%BE%8B&Empty=",
        );
        assert_eq!(
            params[0],
            ("TemplateParam".into(), r#"{"code":"123"}"#.into())
        );
        assert_eq!(params[1].1, "示例");
        assert_eq!(rfc3986("a b+c~*"), "a%20b%2Bc~%2A");
    }
}
