//! The host a request is for, parsed strictly: the one host that routes are chosen by and
//! that the upstream is told (`Host`), so no spelling can be routed as one site and served
//! as another by a virtual-host server behind us.
//!
//! Accepted (RFC 3986 §3.2.2, narrowed to what names a web site): a DNS name of
//! dot-separated labels (ASCII letters, digits, `-`, `_`), at most one trailing dot; an IPv4
//! address; an IPv6 literal in brackets. Then an optional `:port` of 1 to 5 digits, at most
//! 65535. Everything else — `[pub.test]:1`, `a..b`, `user@host`, `%`-escapes, spaces, two
//! colons, an empty port — is refused (400): no answer of ours to it would be safe.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a host was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("the request has no host (HTTP/1.1 requires a Host header)")]
    Missing,
    #[error("the request has more than one Host header")]
    Repeated,
    #[error("the host is not a DNS name, an IPv4 address or a bracketed IPv6 address")]
    Malformed,
    #[error("the host's port is not a number from 0 to 65535")]
    BadPort,
}

/// A parsed host: `name` lower-case, without brackets, port or trailing dot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHost {
    /// What routes match: `app.example.com`, `127.0.0.1`, `::1`.
    pub name: String,
    pub port: Option<u16>,
    pub(super) ipv6: bool,
}

impl RequestHost {
    /// Parses a `Host` header value or an authority (`host[:port]`, no userinfo).
    pub fn parse(raw: &str) -> Result<RequestHost, HostError> {
        if raw.is_empty() {
            return Err(HostError::Missing);
        }
        let (name, port, ipv6) = if let Some(rest) = raw.strip_prefix('[') {
            let (literal, after) = rest.split_once(']').ok_or(HostError::Malformed)?;
            let ip: Ipv6Addr = literal.parse().map_err(|_| HostError::Malformed)?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or(HostError::Malformed)?),
            };
            (ip.to_string(), port, true)
        } else {
            let (host, port) = match raw.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (raw, None),
            };
            (dns_or_ipv4(host)?, port, false)
        };
        let port = port.map(parse_port).transpose()?;
        Ok(RequestHost { name, port, ipv6 })
    }

    /// Whether `raw` is exactly [`Self::header_value`], without building it.
    pub fn is_spelled(&self, raw: &[u8]) -> bool {
        let rest = if self.ipv6 {
            let Some(inner) = raw.strip_prefix(b"[") else {
                return false;
            };
            let Some(end) = inner.iter().position(|&b| b == b']') else {
                return false;
            };
            // IPv6 text has several spellings; only ours (lower case, shortest) is canonical.
            if inner[..end] != *self.name.as_bytes() {
                return false;
            }
            &inner[end + 1..]
        } else {
            match raw.strip_prefix(self.name.as_bytes()) {
                Some(rest) => rest,
                None => return false,
            }
        };
        match (self.port, rest) {
            (None, []) => true,
            (Some(port), [b':', digits @ ..]) => {
                // No leading zeros, no sign: exactly the number as we would write it.
                !digits.is_empty()
                    && (digits[0] != b'0' || digits.len() == 1)
                    && std::str::from_utf8(digits)
                        .ok()
                        .and_then(|d| d.parse::<u16>().ok())
                        == Some(port)
            }
            _ => false,
        }
    }

    /// The `Host` header value that names this host: canonical spelling, port kept.
    pub fn header_value(&self) -> String {
        let mut out = String::with_capacity(self.name.len() + 8);
        if self.ipv6 {
            out.push('[');
            out.push_str(&self.name);
            out.push(']');
        } else {
            out.push_str(&self.name);
        }
        if let Some(port) = self.port {
            let _ = write!(out, ":{port}");
        }
        out
    }
}

/// The host of a request: the authority of an absolute-form target (or HTTP/2's
/// `:authority`), which RFC 9112 §3.2.2 says wins over `Host`; else the one `Host` header;
/// else, for HTTP/1.0 only, `fallback` (the gateway's own `public_url` host). Two `Host`
/// lines, or none in HTTP/1.1, are refused (RFC 9112 §3.2).
pub fn request_host<'a>(
    mut host_lines: impl Iterator<Item = &'a [u8]>,
    authority: Option<&str>,
    http10: bool,
    fallback: &RequestHost,
) -> Result<RequestHost, HostError> {
    let first = host_lines.next();
    if host_lines.next().is_some() {
        return Err(HostError::Repeated);
    }
    if let Some(authority) = authority {
        return RequestHost::parse(authority);
    }
    match first {
        Some(raw) => {
            RequestHost::parse(std::str::from_utf8(raw).map_err(|_| HostError::Malformed)?)
        }
        None if http10 => Ok(fallback.clone()),
        None => Err(HostError::Missing),
    }
}

fn parse_port(p: &str) -> Result<u16, HostError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError::BadPort);
    }
    p.parse().map_err(|_| HostError::BadPort)
}

/// A DNS name or dotted IPv4 address, lower-cased, one trailing dot removed.
fn dns_or_ipv4(host: &str) -> Result<String, HostError> {
    let labels = host.strip_suffix('.').unwrap_or(host);
    if labels.is_empty() || labels.len() > 253 {
        return Err(HostError::Malformed);
    }
    let all_labels_ok = labels.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if !all_labels_ok {
        return Err(HostError::Malformed);
    }
    // All-digit labels must make a real IPv4 address: `1.2.3.4.5` or `999.1.1.1` name no
    // host, and resolvers read `0x7f.1` or `127.1` in ways we do not want to guess.
    let numeric = labels
        .rsplit('.')
        .next()
        .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()));
    if numeric && labels.parse::<Ipv4Addr>().is_err() {
        return Err(HostError::Malformed);
    }
    Ok(labels.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> (String, Option<u16>, String) {
        let h = RequestHost::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
        let value = h.header_value();
        (h.name, h.port, value)
    }

    #[test]
    fn usual_hosts_are_canonicalised() {
        for (raw, name, port, value) in [
            (
                "app.example.com",
                "app.example.com",
                None,
                "app.example.com",
            ),
            (
                "App.Example.COM:8080",
                "app.example.com",
                Some(8080),
                "app.example.com:8080",
            ),
            ("example.com.", "example.com", None, "example.com"),
            (
                "example.com.:443",
                "example.com",
                Some(443),
                "example.com:443",
            ),
            ("localhost", "localhost", None, "localhost"),
            ("127.0.0.1:1", "127.0.0.1", Some(1), "127.0.0.1:1"),
            ("[::1]:8080", "::1", Some(8080), "[::1]:8080"),
            ("[2001:DB8::1]", "2001:db8::1", None, "[2001:db8::1]"),
            (
                "under_score.test",
                "under_score.test",
                None,
                "under_score.test",
            ),
            ("xn--fiqs8s.cn", "xn--fiqs8s.cn", None, "xn--fiqs8s.cn"),
        ] {
            assert_eq!(
                ok(raw),
                (name.to_string(), port, value.to_string()),
                "{raw}"
            );
        }
    }

    #[test]
    fn the_canonical_spelling_is_recognised_without_building_it() {
        for raw in [
            "app.example.com",
            "App.Example.COM:8080",
            "example.com.",
            "example.com:0080",
            "127.0.0.1:1",
            "[::1]:8080",
            "[2001:DB8::1]",
            "[2001:db8:0::1]",
            "a.test:0",
        ] {
            let h = RequestHost::parse(raw).unwrap();
            let canonical = h.header_value();
            assert_eq!(h.is_spelled(raw.as_bytes()), raw == canonical, "{raw}");
            assert!(h.is_spelled(canonical.as_bytes()), "{canonical}");
        }
    }

    #[test]
    fn confusing_spellings_are_refused() {
        for raw in [
            "[pub.test]:1",
            "[pub.test]",
            "[::1",
            "[::1]x",
            "[::1]:",
            "pub.test:",
            "pub.test:1:2",
            "pub.test:99999",
            "pub.test:-1",
            "pub.test:+80",
            "pub.test..",
            "a..b",
            ".pub.test",
            "user@pub.test",
            "pub.test%2e",
            "pub test",
            "pub.test/x",
            "pub.test\\x",
            "pub.test#",
            "pub.test?",
            "::1",
            "1.2.3.4.5",
            "999.1.1.1",
            "127.1",
            "*.example.com",
            "例子.cn",
        ] {
            assert!(RequestHost::parse(raw).is_err(), "{raw} must be refused");
        }
        assert_eq!(RequestHost::parse(""), Err(HostError::Missing));
        assert_eq!(RequestHost::parse("a:b"), Err(HostError::BadPort));
    }

    #[test]
    fn the_request_host_comes_from_one_place() {
        let fallback = RequestHost::parse("gw.test:8080").unwrap();
        let one = |lines: &[&'static str], authority: Option<&str>, http10: bool| {
            request_host(
                lines.iter().map(|l| l.as_bytes()),
                authority,
                http10,
                &fallback,
            )
            .map(|h| h.header_value())
        };
        assert_eq!(one(&["a.test"], None, false), Ok("a.test".into()));
        // The absolute-form authority wins over Host (and is what the upstream is told).
        assert_eq!(
            one(&["admin.test"], Some("pub.test"), false),
            Ok("pub.test".into())
        );
        assert_eq!(
            one(&[], Some("pub.test:81"), false),
            Ok("pub.test:81".into())
        );
        assert_eq!(
            one(&["a.test", "b.test"], None, false),
            Err(HostError::Repeated)
        );
        assert_eq!(
            one(&["a.test", "a.test"], None, false),
            Err(HostError::Repeated)
        );
        assert_eq!(one(&[], None, false), Err(HostError::Missing));
        assert_eq!(one(&[], None, true), Ok("gw.test:8080".into()));
        assert_eq!(one(&[""], None, false), Err(HostError::Missing));
        assert_eq!(
            one(&["[pub.test]:1"], None, false),
            Err(HostError::Malformed)
        );
    }
}
