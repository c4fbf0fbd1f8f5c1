//! Lexical predicates shared by several sections: header and cookie tokens, host names,
//! `host:port`, path prefixes and `http(s)://` URLs. Each is a pure function of its text;
//! the rules decide what to call a failure and where to report it.

use std::net::Ipv6Addr;

/// RFC 9110 `tchar` (also RFC 6265's cookie-name, which is a `token`).
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A DNS name (or IPv4 address): dot-separated labels of letters, digits and `-`.
pub(crate) fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `[::1]`: the bracketed form URLs and `Host` headers use.
pub(crate) fn is_ipv6_literal(host: &str) -> bool {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<Ipv6Addr>().is_ok())
}

/// `host:port` or `[v6]:port`; `None` when the shape is wrong.
pub(crate) fn split_host_port(text: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<Ipv6Addr>().ok()?;
        (&text[..v6.len() + 2], after.strip_prefix(':')?)
    } else {
        let (host, port) = text.rsplit_once(':')?;
        if host.contains(':') {
            return None;
        }
        (host, port)
    };
    if host.is_empty() || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok().map(|port| (host, port))
}

/// Shared by `auth_path` and `path_prefix`: what would make a prefix never match, or
/// match differently after the router normalises the request path.
pub(crate) fn check_path_shape(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("{path:?} must start with /"));
    }
    if path.contains(['?', '#']) {
        return Err(format!("{path:?} must not contain ? or #"));
    }
    if path.contains("..") {
        return Err(format!("{path:?} must not contain .."));
    }
    if path.contains("//") {
        return Err(format!("{path:?} must not contain //"));
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(format!(
            "{path:?} must not contain spaces or control characters"
        ));
    }
    Ok(())
}

/// The parts of an `http(s)://` URL the config needs. Deliberately small: we only accept
/// URLs, never fetch them here.
pub(crate) struct HttpUrl<'a> {
    pub https: bool,
    /// Lowercase; IPv6 in brackets.
    pub host: String,
    pub port: Option<u16>,
    /// Everything after the authority: empty, or starting with `/`, `?` or `#`.
    pub rest: &'a str,
}

impl<'a> HttpUrl<'a> {
    /// Messages never repeat the URL: a webhook URL may carry a token.
    pub fn parse(text: &'a str) -> Result<Self, String> {
        let (scheme, after) = text
            .split_once("://")
            .ok_or_else(|| "is not an http:// or https:// URL".to_string())?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err("must start with http:// or https://".to_string()),
        };
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        if authority.contains('@') {
            return Err("must not contain user:password@".to_string());
        }
        let (host, port) = if authority.contains(':') {
            let (host, port) =
                split_host_port(authority).ok_or_else(|| "has a bad host:port".to_string())?;
            (host, Some(port))
        } else {
            (authority, None)
        };
        let host = host.to_ascii_lowercase();
        if !(is_hostname(&host) || is_ipv6_literal(&host)) {
            return Err("has no valid host name".to_string());
        }
        Ok(HttpUrl {
            https,
            host,
            port,
            rest,
        })
    }

    /// `scheme://host[:port]`, leaving out the scheme's default port as browsers do in
    /// the `Origin` header.
    pub fn origin(&self) -> String {
        let (scheme, default_port) = if self.https {
            ("https", 443)
        } else {
            ("http", 80)
        };
        match self.port {
            Some(port) if port != default_port => format!("{scheme}://{}:{port}", self.host),
            _ => format!("{scheme}://{}", self.host),
        }
    }
}
