//! Callback signatures: `signature` over (token, timestamp, nonce) and `msg_signature` over
//! (token, timestamp, nonce, Encrypt), both `lowercase_hex(sha1(concat(sort_bytewise(parts))))`
//! (wechat-protocol.md §4.2, §4.3, §6.5).
//!
//! A successful check yields a [`VerifiedCallback`], the proof the message parser asks for, so
//! an unverified body cannot reach the parser by accident.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// Proof that a callback's signature was checked against our Token. Zero-sized; only this
/// module can make one, and only after a successful constant-time comparison.
#[derive(Debug)]
pub struct VerifiedCallback {
    _private: (),
}

impl VerifiedCallback {
    fn assertion() -> Self {
        VerifiedCallback { _private: () }
    }
}

/// A signature did not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("signature mismatch")]
pub struct SignatureMismatch;

/// The URL signature WeChat puts in the `signature` query parameter. It covers only the Token,
/// the timestamp and the nonce, never the body.
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    sorted_sha1_hex(&mut [token, timestamp, nonce])
}

/// The `msg_signature` of encrypted (compatible and safe mode) callbacks and of our encrypted
/// replies (`MsgSignature`). It covers the ciphertext `encrypt` as well.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    sorted_sha1_hex(&mut [token, timestamp, nonce, encrypt])
}

/// Checks the `signature` query parameter in constant time.
pub fn verify_signature(
    token: &str,
    timestamp: &str,
    nonce: &str,
    given: &str,
) -> Result<VerifiedCallback, SignatureMismatch> {
    compare(&signature(token, timestamp, nonce), given)
}

/// Checks a `msg_signature` (or a reply's `MsgSignature`) in constant time.
pub fn verify_msg_signature(
    token: &str,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
    given: &str,
) -> Result<VerifiedCallback, SignatureMismatch> {
    compare(&msg_signature(token, timestamp, nonce, encrypt), given)
}

fn compare(expected: &str, given: &str) -> Result<VerifiedCallback, SignatureMismatch> {
    // A length difference is not secret (every valid signature has 40 characters), so the
    // early exit `ct_eq` takes on unequal lengths leaks nothing.
    if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        Ok(VerifiedCallback::assertion())
    } else {
        Err(SignatureMismatch)
    }
}

fn sorted_sha1_hex(parts: &mut [&str]) -> String {
    // `str` ordering is byte-wise, which is what WeChat's samples use.
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts.iter() {
        hasher.update(part.as_bytes());
    }
    hex_lower(&hasher.finalize())
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vector D (wechat-protocol.md §6.8): the official "消息推送" worked example,
    // developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html.
    const D_TOKEN: &str = "AAAAA";
    const D3_ENCRYPT: &str = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";

    #[test]
    fn vector_d1_url_verification_signature() {
        assert_eq!(
            signature(D_TOKEN, "1714036504", "1514711492"),
            "f464b24fc39322e44b38aa78f5edd27bd1441696"
        );
    }

    #[test]
    fn vector_d2_plain_push_signature() {
        assert_eq!(
            signature(D_TOKEN, "1714037059", "486452656"),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
    }

    #[test]
    fn vector_d3_safe_mode_signatures() {
        assert_eq!(
            signature(D_TOKEN, "1714112445", "415670741"),
            "6c5c811b55cc85e0e1b54100749188c20beb3f5d"
        );
        assert_eq!(
            msg_signature(D_TOKEN, "1714112445", "415670741", D3_ENCRYPT),
            "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
        );
    }

    #[test]
    fn vector_d4_reply_msg_signature() {
        let encrypt = "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==";
        assert_eq!(
            msg_signature(D_TOKEN, "1713424427", "415670741", encrypt),
            "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
        );
    }

    // Vector C (wechatpy tests/test_crypto.py): C1 and C2 msg_signatures.
    #[test]
    fn vector_c_msg_signatures() {
        let c1 = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";
        assert!(verify_msg_signature(
            "123456",
            "1411443780",
            "437374425",
            c1,
            "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
        )
        .is_ok());
        // C1 with nonce 437374424 must be rejected.
        assert_eq!(
            verify_msg_signature(
                "123456",
                "1411443780",
                "437374424",
                c1,
                "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
            )
            .unwrap_err(),
            SignatureMismatch
        );
    }

    #[test]
    fn vector_b1_derived_msg_signature() {
        let b1 = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==";
        assert_eq!(
            msg_signature("pamtest", "1409304348", "xxxxxx", b1),
            "82c962d39941aa48552f90ef55aa323dc620cc10"
        );
    }

    #[test]
    fn vector_n3_wrong_nonce_is_rejected() {
        let good = "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3";
        assert!(verify_msg_signature(D_TOKEN, "1714112445", "415670741", D3_ENCRYPT, good).is_ok());
        assert!(
            verify_msg_signature(D_TOKEN, "1714112445", "415670742", D3_ENCRYPT, good).is_err()
        );
    }

    #[test]
    fn verify_rejects_wrong_case_length_and_empty() {
        let good = "f464b24fc39322e44b38aa78f5edd27bd1441696";
        assert!(verify_signature(D_TOKEN, "1714036504", "1514711492", good).is_ok());
        for bad in [
            "",
            &good[..39],
            "f464b24fc39322e44b38aa78f5edd27bd14416960",
            "F464B24FC39322E44B38AA78F5EDD27BD1441696",
            "0464b24fc39322e44b38aa78f5edd27bd1441696",
        ] {
            assert!(verify_signature(D_TOKEN, "1714036504", "1514711492", bad).is_err());
        }
        // Token, timestamp and nonce are not interchangeable positions but sorted values, so a
        // request that swaps timestamp and nonce signs the same (documented WeChat behaviour).
        assert!(verify_signature(D_TOKEN, "1514711492", "1714036504", good).is_ok());
    }
}
