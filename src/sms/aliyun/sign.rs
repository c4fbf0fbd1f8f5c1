//! ACS3-HMAC-SHA256, Alibaba Cloud's V3 request signature ("V3版本请求体&签名机制"), for an
//! RPC call whose parameters travel in the query string.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::sms::digest::{hex, hmac_sha256, sha256_hex};

pub(crate) const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// RFC 3986: everything but the unreserved characters is percent-encoded (a space is
/// `%20`, never `+`).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) fn encode(text: &str) -> String {
    utf8_percent_encode(text, RFC3986).to_string()
}

/// What is signed of a request.
pub(crate) struct Acs3Request<'a> {
    pub method: &'a str,
    /// Query parameters, unencoded, in any order.
    pub query: &'a [(&'a str, String)],
    /// The headers to sign (`host` and the `x-acs-*` ones), names in any case.
    pub headers: &'a [(&'a str, String)],
    pub payload: &'a [u8],
}

/// Each step of the signature, so that tests can hold each to the published example.
pub(crate) struct Acs3Signature {
    /// Encoded and sorted: also the query string to send.
    pub canonical_query: String,
    // Read by the tests only, which hold each step to the published example.
    #[cfg_attr(not(test), allow(dead_code))]
    pub canonical_request: String,
    /// `host;x-acs-action;...`.
    pub signed_headers: String,
    // Read by the tests only, which hold each step to the published example.
    #[cfg_attr(not(test), allow(dead_code))]
    pub string_to_sign: String,
    /// Lowercase hex.
    pub signature: String,
}

/// The sorted, encoded query string.
pub(crate) fn canonical_query(query: &[(&str, String)]) -> String {
    let mut pairs: Vec<(String, String)> =
        query.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) fn sign(access_key_secret: &str, r: &Acs3Request<'_>) -> Acs3Signature {
    let canonical_query = canonical_query(r.query);
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    headers.sort();
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n/\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{}",
        r.method,
        sha256_hex(r.payload)
    );
    let string_to_sign = format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()));
    let signature = hex(&hmac_sha256(
        access_key_secret.as_bytes(),
        string_to_sign.as_bytes(),
    ));
    Acs3Signature {
        canonical_query,
        canonical_request,
        signed_headers,
        string_to_sign,
        signature,
    }
}

/// The `Authorization` header of a signed request.
pub(crate) fn authorization(access_key_id: &str, signed: &Acs3Signature) -> String {
    format!(
        "{ALGORITHM} Credential={access_key_id},SignedHeaders={},Signature={}",
        signed.signed_headers, signed.signature
    )
}
