//! Message framing we refuse before anything is proxied (RFC 9110 §8.6, RFC 9112 §6.3).
//!
//! pingora reads `Content-Length: 3, 3` (or two identical lines) as 3 but passes the header
//! on as written, and an upstream or a proxy in front of us may read such a list
//! differently: that is where request smuggling starts. A request must say its length
//! once, as one decimal number, and never both as a length and as chunked.

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::HeaderMap;

/// Why a request's framing was refused (400).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("Content-Length must appear once, as one decimal number")]
    ContentLength,
    #[error("a request may not carry both Content-Length and Transfer-Encoding")]
    Both,
}

pub fn check(headers: &HeaderMap) -> Result<(), FramingError> {
    let mut lengths = headers.get_all(CONTENT_LENGTH).iter();
    let first = lengths.next();
    let Some(first) = first else {
        return Ok(());
    };
    if lengths.next().is_some()
        || first.is_empty()
        || first.len() > 19
        || !first.as_bytes().iter().all(u8::is_ascii_digit)
    {
        return Err(FramingError::ContentLength);
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        return Err(FramingError::Both);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::test_headers::headers;

    #[test]
    fn one_length_once() {
        assert_eq!(check(&headers(&[])), Ok(()));
        assert_eq!(check(&headers(&[("content-length", "0")])), Ok(()));
        assert_eq!(check(&headers(&[("content-length", "123")])), Ok(()));
        assert_eq!(check(&headers(&[("transfer-encoding", "chunked")])), Ok(()));
        for bad in [
            &[("content-length", "3, 3")][..],
            &[("content-length", "3,3")],
            &[("content-length", "3"), ("content-length", "3")],
            &[("content-length", "+3")],
            &[("content-length", "3 ")],
            &[("content-length", "0x3")],
            &[("content-length", "")],
            &[("content-length", "99999999999999999999")],
        ] {
            assert_eq!(
                check(&headers(bad)),
                Err(FramingError::ContentLength),
                "{bad:?}"
            );
        }
        assert_eq!(
            check(&headers(&[
                ("content-length", "3"),
                ("transfer-encoding", "chunked")
            ])),
            Err(FramingError::Both)
        );
    }
}
