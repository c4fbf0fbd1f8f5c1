//! TC3-HMAC-SHA256, Tencent Cloud API 3.0's request signature ("签名方法 v3"), for a POST
//! with a JSON body, signing the `content-type` and `host` headers.

use crate::sms::digest::{hex, hmac_sha256, sha256_hex, utc_date};

pub(crate) const ALGORITHM: &str = "TC3-HMAC-SHA256";
const SIGNED_HEADERS: &str = "content-type;host";

/// What is signed of a request.
pub(crate) struct Tc3Request<'a> {
    /// The product (`sms`, `cvm`): the credential scope's service.
    pub service: &'a str,
    /// The `Host` header as sent: `host` or `host:port`.
    pub host: &'a str,
    /// The `Content-Type` header as sent.
    pub content_type: &'a str,
    pub payload: &'a [u8],
    /// `X-TC-Timestamp`; its UTC date is the scope's date.
    pub timestamp: u64,
}

/// Each step of the signature, so that tests can hold each to the published example.
pub(crate) struct Tc3Signature {
    // Read by the tests only, which hold each step to the published example.
    #[cfg_attr(not(test), allow(dead_code))]
    pub hashed_payload: String,
    // Read by the tests only, which hold each step to the published example.
    #[cfg_attr(not(test), allow(dead_code))]
    pub canonical_request: String,
    /// `2019-02-25/cvm/tc3_request`.
    pub credential_scope: String,
    // Read by the tests only, which hold each step to the published example.
    #[cfg_attr(not(test), allow(dead_code))]
    pub string_to_sign: String,
    /// Lowercase hex.
    pub signature: String,
}

pub(crate) fn sign(secret_key: &str, r: &Tc3Request<'_>) -> Tc3Signature {
    let hashed_payload = sha256_hex(r.payload);
    let canonical_request = format!(
        "POST\n/\n\ncontent-type:{}\nhost:{}\n\n{SIGNED_HEADERS}\n{hashed_payload}",
        r.content_type.trim().to_ascii_lowercase(),
        r.host.trim().to_ascii_lowercase(),
    );
    let date = utc_date(r.timestamp);
    let credential_scope = format!("{date}/{}/tc3_request", r.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{credential_scope}\n{}",
        r.timestamp,
        sha256_hex(canonical_request.as_bytes())
    );
    let secret_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let secret_service = hmac_sha256(&secret_date, r.service.as_bytes());
    let secret_signing = hmac_sha256(&secret_service, b"tc3_request");
    let signature = hex(&hmac_sha256(&secret_signing, string_to_sign.as_bytes()));
    Tc3Signature {
        hashed_payload,
        canonical_request,
        credential_scope,
        string_to_sign,
        signature,
    }
}

/// The `Authorization` header of a signed request.
pub(crate) fn authorization(secret_id: &str, signed: &Tc3Signature) -> String {
    format!(
        "{ALGORITHM} Credential={secret_id}/{}, SignedHeaders={SIGNED_HEADERS}, Signature={}",
        signed.credential_scope, signed.signature
    )
}
