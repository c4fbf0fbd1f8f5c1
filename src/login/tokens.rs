//! Random identifiers and secrets of the login flow, and how they are compared.
//!
//! Attempt ids, browser secrets and tickets are 128 bits from the OS CSPRNG in URL-safe base64
//! without padding (22 characters). Secrets that must be checked later (browser secret, phone
//! code) are kept only as SHA-256 digests and compared in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::identity::BrowserSecret;

// The token format is the identity module's: `AttemptId` and `BrowserSecret` are tokens
// too. Tickets use these directly.
#[cfg(test)]
pub(crate) use crate::identity::TOKEN_LEN;
pub(crate) use crate::identity::{is_token, random_token};

/// What an attempt stores of the browser-binding secret.
pub fn browser_hash(secret: &BrowserSecret) -> String {
    sha256(secret.as_str())
}

/// SHA-256 of `text`, in URL-safe base64 without padding.
fn sha256(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()))
}

/// True when `secret` is the one whose hash is `stored`, compared in constant time.
pub fn same_browser(stored: &str, secret: &BrowserSecret) -> bool {
    ct_eq(stored, &browser_hash(secret))
}

/// A six-digit phone code, uniform over 000000..=999999.
pub fn six_digit_code() -> String {
    format!("{:06}", OsRng.gen_range(0..1_000_000u32))
}

/// What a code record stores of its code. The attempt id salts it, so equal codes of two
/// attempts differ in the store. (Six digits cannot resist an offline search; the digest only
/// keeps codes out of plain sight in the store and its backups.)
#[cfg(test)]
pub fn code_hash(attempt_id: &crate::identity::AttemptId, code: &str) -> String {
    code_hash_salted(attempt_id.as_str(), code)
}

/// What a code record stores of its code, salted with what names its slot (an attempt id,
/// or the number of an SMS login).
pub fn code_hash_salted(salt: &str, code: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(salt.as_bytes());
    digest.update(b":");
    digest.update(code.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.finalize())
}

/// Constant-time string equality (the lengths are not secret).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AttemptId;

    #[test]
    fn tokens_are_22_url_safe_chars_and_distinct() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(is_token(&a), "{a}");
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn is_token_refuses_anything_we_did_not_make() {
        assert!(!is_token(""));
        assert!(!is_token("short"));
        assert!(
            !is_token("AAAAAAAAAAAAAAAAAAAAA+"),
            "standard base64 alphabet"
        );
        assert!(!is_token("AAAAAAAAAAAAAAAAAAAAAAA"), "23 chars");
        // 22 characters whose last one carries bits beyond 128: not canonical.
        assert!(!is_token("AAAAAAAAAAAAAAAAAAAAAB"));
        assert!(is_token("AAAAAAAAAAAAAAAAAAAAAA"));
    }

    #[test]
    fn browser_hash_is_sha256_in_url_safe_base64() {
        // SHA-256("abc") from FIPS 180-2, appendix B.1:
        // ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad
        assert_eq!(sha256("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
        let secret = BrowserSecret::parse("secretsecretsecretsecg").unwrap();
        let other = BrowserSecret::parse("Secretsecretsecretsecg").unwrap();
        assert_eq!(browser_hash(&secret), sha256(secret.as_str()));
        assert!(same_browser(&browser_hash(&secret), &secret));
        assert!(!same_browser(&browser_hash(&secret), &other));
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let code = six_digit_code();
            assert_eq!(code.len(), 6, "{code}");
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        }
    }

    #[test]
    fn code_hash_depends_on_attempt_and_code() {
        let a1 = AttemptId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let a2 = AttemptId::parse("AAAAAAAAAAAAAAAAAAAAAQ").unwrap();
        let h = code_hash(&a1, "123456");
        assert_eq!(h, code_hash(&a1, "123456"));
        assert_ne!(h, code_hash(&a2, "123456"));
        assert_ne!(h, code_hash(&a1, "123457"));
        assert!(!h.contains("123456"));
    }
}
