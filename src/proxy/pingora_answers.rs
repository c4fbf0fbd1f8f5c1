//! The answers pingora writes by itself on the public listener, before any request reaches
//! the gateway, and the gateway's JSON errors that replace them on the wire.
//!
//! pingora 0.9.1 answers two things itself (`pingora-proxy` `HttpProxy::handle_new_request`):
//! a request head it cannot parse or that fails its checks (`InvalidHTTPHeader`: bad request
//! line, bad header, more than 256 headers or 1 MiB of head, a bad `Content-Length`) with
//! `respond_error(400)`, and `CONNECT` with `respond_error(405)`. Both are an empty body with
//! `Server: Pingora`, and no hook of `ProxyHttp` runs before them. They are the first bytes
//! written on an HTTP/1 connection's session before the request reached the gateway, which
//! the connection wrapper (`header_deadline.rs`) can tell; it writes these bytes instead.

use std::sync::LazyLock;

use bytes::{BufMut, Bytes, BytesMut};

use crate::proxy::respond::{GatewayError, Reply};

/// Our answer in place of pingora's, given the first bytes pingora writes (its status line);
/// `None` for anything but the two answers above, which then go out as pingora wrote them.
pub fn replacement(first_write: &[u8]) -> Option<Bytes> {
    static BAD_REQUEST: LazyLock<Option<Bytes>> = LazyLock::new(|| {
        let err = GatewayError::BadRequest {
            code: "bad_request",
            message: "The request could not be read.".into(),
        };
        wire(&Reply::error(&err, false))
    });
    static METHOD_NOT_ALLOWED: LazyLock<Option<Bytes>> =
        LazyLock::new(|| wire(&Reply::error(&GatewayError::MethodNotAllowed, false)));
    match status_of(first_write)? {
        400 => BAD_REQUEST.clone(),
        405 => METHOD_NOT_ALLOWED.clone(),
        _ => None,
    }
}

/// The answer to a client whose request head did not arrive within `seconds`.
pub fn head_timeout(seconds: u64) -> Bytes {
    let err = GatewayError::Refused {
        status: 408,
        code: "request_timeout",
        message: format!("The request head did not arrive within {seconds} s."),
    };
    wire(&Reply::error(&err, false)).unwrap_or_default()
}

/// The status code of an HTTP/1.x status line at the start of `bytes`.
fn status_of(bytes: &[u8]) -> Option<u16> {
    let rest = bytes.strip_prefix(b"HTTP/1.")?;
    let rest = rest.get(1..)?.strip_prefix(b" ")?;
    let digits = rest.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || rest.get(3) != Some(&b' ') {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// `reply` as an HTTP/1.1 response that closes the connection (the connection is closed after
/// either answer, by pingora or by the deadline).
fn wire(reply: &Reply) -> Option<Bytes> {
    let header = reply.response_header().ok()?;
    let status = header.status;
    let mut out = BytesMut::with_capacity(256 + reply.body.len());
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.put_slice(b"\r\n");
    for (name, value) in header.headers.iter() {
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"connection: close\r\n\r\n");
    out.put_slice(&reply.body);
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The head, and the body as JSON; checks that Content-Length is the body's length.
    fn split(answer: &[u8]) -> (String, serde_json::Value) {
        let text = std::str::from_utf8(answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length = format!("content-length: {}\r\n", body.len());
        assert!(head.contains(&length), "{head}");
        (head.to_string(), serde_json::from_str(body).unwrap())
    }

    #[test]
    fn pingoras_400_and_405_become_our_json_errors() {
        // What pingora 0.9.1's `respond_error` writes first (its header block).
        let pingora_400 = b"HTTP/1.1 400 Bad Request\r\nServer: Pingora\r\nDate: x\r\nContent-Length: 0\r\nCache-Control: private, no-store\r\nConnection: close\r\n\r\n";
        let ours = replacement(pingora_400).unwrap();
        let (head, body) = split(&ours);
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(!head.to_ascii_lowercase().contains("pingora"), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert_eq!(body["error"], "bad_request");

        let (head, body) = split(&replacement(b"HTTP/1.0 405 Method Not Allowed\r\n").unwrap());
        assert!(head.starts_with("HTTP/1.1 405 "), "{head}");
        assert_eq!(body["error"], "method_not_allowed");
    }

    #[test]
    fn anything_else_is_left_alone() {
        for first in [
            &b"HTTP/1.1 200 OK\r\n"[..],
            b"HTTP/1.1 502 Bad Gateway\r\n",
            b"HTTP/1.1 4000 x",
            b"HTTP/1.1 40",
            b"HTTP/2 400",
            b"",
            b"garbage",
        ] {
            assert!(
                replacement(first).is_none(),
                "{:?}",
                String::from_utf8_lossy(first)
            );
        }
    }

    #[test]
    fn a_head_that_took_too_long_gets_408_with_the_limit() {
        let (head, body) = split(&head_timeout(10));
        assert!(
            head.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{head}"
        );
        assert_eq!(body["error"], "request_timeout");
        assert!(body["message"].as_str().unwrap().contains("10 s"));
    }
}
