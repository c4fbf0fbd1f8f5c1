//! Compact JWS pieces and the HS256 session token.
//!
//! Hand-rolled rather than through `jsonwebtoken` so that verification accepts exactly one
//! header algorithm, never allocates a key per call, and the size limit is checked before any
//! decoding. The MAC comparison is constant-time (`Mac::verify_slice`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::SessionError;

/// Longer tokens are refused before any decoding: ours are a few hundred bytes, and a cookie
/// cannot hold more than about 4 KiB anyway.
pub(crate) const MAX_TOKEN_LEN: usize = 4096;

/// `{"alg":"HS256","typ":"JWT"}`, encoded.
const HS256_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// URL-safe base64 without padding, as JWS wants it.
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends the JSON of `value`, base64url-encoded, to `out`.
pub(crate) fn push_segment<T: Serialize>(out: &mut String, value: &T) {
    // Our claim types are structs of strings and integers, which always serialise.
    let json = serde_json::to_vec(value).expect("claims serialise to JSON");
    URL_SAFE_NO_PAD.encode_string(json, out);
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    /// RFC 7515 §4.1.11: extensions we do not understand make the token invalid.
    crit: Option<IgnoredAny>,
}

/// An HS256 signer/verifier keyed once.
#[derive(Clone)]
pub(crate) struct Hs256 {
    /// Keyed MAC state, cloned per use so the key schedule runs once.
    mac: Hmac<Sha256>,
}

impl Hs256 {
    pub(crate) fn new(key: &[u8]) -> Self {
        Hs256 {
            mac: Hmac::new_from_slice(key).expect("HMAC accepts keys of any length"),
        }
    }

    /// A compact JWS of `claims` with header `{"alg":"HS256","typ":"JWT"}`.
    pub(crate) fn sign<T: Serialize>(&self, claims: &T) -> String {
        let mut token = String::with_capacity(384);
        token.push_str(HS256_HEADER);
        token.push('.');
        push_segment(&mut token, claims);
        let mut mac = self.mac.clone();
        mac.update(token.as_bytes());
        let tag = mac.finalize().into_bytes();
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut token);
        token
    }

    /// Checks the shape, the header (`alg` must be `HS256`, no `crit`) and the MAC, then
    /// decodes the payload. Expiry is the caller's business.
    pub(crate) fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<T, SessionError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(SessionError::Malformed);
        }
        let (signing_input, signature) = token.rsplit_once('.').ok_or(SessionError::Malformed)?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or(SessionError::Malformed)?;
        if payload.contains('.') {
            return Err(SessionError::Malformed);
        }
        let header: Header =
            serde_json::from_slice(&decode(header)?).map_err(|_| SessionError::Malformed)?;
        // `none`, HS512, RS256 with our secret as "public key"...: all refused, never tried.
        if header.alg != "HS256" || header.crit.is_some() {
            return Err(SessionError::BadSignature);
        }
        let signature = decode(signature)?;
        // Decoded (bounded by the size limit) before the MAC so that bad base64 anywhere is
        // `Malformed`; the JSON is only parsed once authenticated.
        let payload = decode(payload)?;
        let mut mac = self.mac.clone();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| SessionError::BadSignature)?;
        serde_json::from_slice(&payload).map_err(|_| SessionError::Malformed)
    }
}

fn decode(segment: &str) -> Result<Vec<u8>, SessionError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| SessionError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7515 Appendix A.1 (JWS using HMAC SHA-256): key, token and payload as printed there.
    const RFC7515_KEY: &str =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    const RFC7515_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.\
        eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.\
        dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn rfc_key() -> Hs256 {
        Hs256::new(&URL_SAFE_NO_PAD.decode(RFC7515_KEY).unwrap())
    }

    #[test]
    fn rfc7515_a1_vector_verifies() {
        let payload: serde_json::Value = rfc_key().verify(RFC7515_TOKEN).unwrap();
        assert_eq!(payload["iss"], "joe");
        assert_eq!(payload["exp"], 1300819380);
        assert_eq!(payload["http://example.com/is_root"], true);
    }

    #[test]
    fn rfc7515_a1_vector_with_one_bit_flipped_fails() {
        let mut bad = RFC7515_TOKEN.to_string();
        let first_sig_char = bad.rfind('.').unwrap() + 1;
        bad.replace_range(first_sig_char..first_sig_char + 1, "e"); // 'd' -> 'e'

        assert_eq!(
            rfc_key().verify::<serde_json::Value>(&bad),
            Err(SessionError::BadSignature)
        );
    }

    #[test]
    fn sign_writes_the_fixed_header_and_round_trips() {
        let key = Hs256::new(b"0123456789abcdef0123456789abcdef");
        let token = key.sign(&serde_json::json!({"a": 1}));
        assert!(token.starts_with(&format!("{}.", b64(br#"{"alg":"HS256","typ":"JWT"}"#))));
        let back: serde_json::Value = key.verify(&token).unwrap();
        assert_eq!(back["a"], 1);
    }

    #[test]
    fn shape_errors_are_malformed() {
        let key = rfc_key();
        for token in ["", "a", "a.b", "a.b.c.d", "..", "!!.!!.!!"] {
            assert_eq!(
                key.verify::<serde_json::Value>(token),
                Err(SessionError::Malformed),
                "{token:?}"
            );
        }
        // Padding and non-canonical base64 are refused too.
        let padded = format!("{RFC7515_TOKEN}=");
        assert_eq!(
            key.verify::<serde_json::Value>(&padded),
            Err(SessionError::Malformed)
        );
    }

    #[test]
    fn crit_header_is_refused() {
        let key = Hs256::new(b"k");
        let header = b64(br#"{"alg":"HS256","crit":["exp"]}"#);
        let input = format!("{header}.{}", b64(b"{}"));
        let mut mac = key.mac.clone();
        mac.update(input.as_bytes());
        let token = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
        assert_eq!(
            key.verify::<serde_json::Value>(&token),
            Err(SessionError::BadSignature)
        );
    }
}
