//! Which request a forward-auth call (`{auth_path}/verify`) asks about.
//!
//! A proxy in front (nginx `auth_request`, Traefik `ForwardAuth`, Caddy `forward_auth`)
//! names the original request in headers. Traefik and Caddy also copy the *client's*
//! headers into that call, so a header the proxy does not set itself is the client's to
//! choose. The rules, so that no client can make us decide about another request than the
//! one the proxy will serve:
//!
//! 1. Only a peer in `forward_auth.trusted` or `trusted_proxies` is asked about at all
//!    ([`ForwardError::Untrusted`] otherwise).
//! 2. One source per request, by precedence: `X-Original-URL` (nginx, ingress-nginx) when
//!    present, else `X-Forwarded-Host` + `X-Forwarded-Uri` (Traefik, Caddy). Either header
//!    appearing twice is refused.
//! 3. A request that carries both sources must have them agree on host and path-and-query
//!    ([`ForwardError::Conflict`]): the proxy sets the one it uses, so a disagreeing other
//!    one can only be the client's.
//! 4. The host is parsed as strictly as an inline request's `Host`; the path must already be
//!    normal (checked by the caller with [`is_normal`]): the app behind the proxy receives
//!    the raw path, which we cannot rewrite, so a spelling that we would read differently
//!    (`/secret/../public/x`) is refused instead of decided on.

use http::{HeaderMap, Method};

use super::host::{HostError, RequestHost};
use super::path;

/// The request a forward-auth caller asks about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwarded {
    pub method: Method,
    /// `http` or `https`.
    pub scheme: String,
    pub host: RequestHost,
    /// Path and query as the proxy will send them to the app (`/a/b?x=1`).
    pub uri: String,
}

impl Forwarded {
    /// The path, without query or fragment.
    pub fn path(&self) -> &str {
        self.uri.split(['?', '#']).next().unwrap_or("/")
    }

    /// The original URL, for the way back after login.
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host.header_value(), self.uri)
    }
}

/// Why a forward-auth call was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    #[error(
        "this peer may not ask about other requests: add the proxy's address to \
         forward_auth.trusted"
    )]
    Untrusted,
    #[error("name the request with X-Original-URL, or X-Forwarded-Host and X-Forwarded-Uri")]
    Missing,
    #[error("the header {0} appears more than once")]
    Repeated(&'static str),
    #[error("X-Original-URL and X-Forwarded-Host/-Uri name different requests")]
    Conflict,
    #[error("{0} is not an http(s) URL or an absolute path")]
    BadUrl(&'static str),
    #[error("the forwarded host is refused: {0}")]
    BadHost(HostError),
}

impl ForwardError {
    pub fn code(&self) -> &'static str {
        match self {
            ForwardError::Untrusted => "untrusted_forwarder",
            ForwardError::Missing => "missing_forward_headers",
            ForwardError::Repeated(_) | ForwardError::Conflict => "conflicting_forward_headers",
            ForwardError::BadUrl(_) => "bad_forward_url",
            ForwardError::BadHost(_) => "bad_host",
        }
    }

    /// 403 for a caller we do not believe, 400 for a malformed question.
    pub fn status(&self) -> u16 {
        match self {
            ForwardError::Untrusted => 403,
            _ => 400,
        }
    }
}

const ORIGINAL_URL: &str = "x-original-url";
const FORWARDED_HOST: &str = "x-forwarded-host";
const FORWARDED_URI: &str = "x-forwarded-uri";
const FORWARDED_PROTO: &str = "x-forwarded-proto";
const FORWARDED_METHOD: &str = "x-forwarded-method";
const ORIGINAL_METHOD: &str = "x-original-method";

/// The one value of `name`, `None` when absent or empty; two lines are refused.
fn single<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, ForwardError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ForwardError::Repeated(name));
    }
    match first {
        None => Ok(None),
        Some(v) => {
            let v = v.to_str().map_err(|_| ForwardError::BadUrl(name))?;
            Ok(Some(v).filter(|v| !v.is_empty()))
        }
    }
}

/// Reads the forwarded request from a trusted caller's headers. `own_host` is the `Host`
/// of the call itself (used when `X-Original-URL` is a bare path and no
/// `X-Forwarded-Host` is given); `default_scheme` is the listener's.
pub fn forwarded_request(
    headers: &HeaderMap,
    own_host: Option<&str>,
    default_scheme: &str,
) -> Result<Forwarded, ForwardError> {
    let original = single(headers, ORIGINAL_URL)?;
    let fwd_host = single(headers, FORWARDED_HOST)?;
    let fwd_uri = single(headers, FORWARDED_URI)?;
    let fwd_proto = single(headers, FORWARDED_PROTO)?;
    let method = single(headers, FORWARDED_METHOD)?
        .or(single(headers, ORIGINAL_METHOD)?)
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .unwrap_or(Method::GET);
    let proto = fwd_proto
        .map(str::to_ascii_lowercase)
        .filter(|p| p == "http" || p == "https");

    let (scheme, host_text, uri) = match original {
        Some(url) => {
            let (scheme, host, uri) = split_original(url)?;
            let host = match host {
                Some(h) => h,
                None => fwd_host.or(own_host).ok_or(ForwardError::Missing)?,
            };
            let scheme = scheme
                .or(proto)
                .unwrap_or_else(|| default_scheme.to_string());
            (scheme, host, uri.to_string())
        }
        None => {
            let (Some(host), Some(uri)) = (fwd_host, fwd_uri) else {
                return Err(ForwardError::Missing);
            };
            if !uri.starts_with('/') {
                return Err(ForwardError::BadUrl("X-Forwarded-Uri"));
            }
            let scheme = proto.unwrap_or_else(|| default_scheme.to_string());
            (scheme, host, uri.to_string())
        }
    };
    let host = RequestHost::parse(host_text).map_err(ForwardError::BadHost)?;
    if original.is_some() {
        // Both sources present: they must name the same request.
        if let Some(other) = fwd_host {
            let other = RequestHost::parse(other).map_err(ForwardError::BadHost)?;
            if other.name != host.name {
                return Err(ForwardError::Conflict);
            }
        }
        if fwd_uri.is_some_and(|other| other != uri) {
            return Err(ForwardError::Conflict);
        }
    }
    Ok(Forwarded {
        method,
        scheme,
        host,
        uri,
    })
}

/// `X-Original-URL`: `scheme://authority/path?query` or `/path?query`.
fn split_original(url: &str) -> Result<(Option<String>, Option<&str>, &str), ForwardError> {
    if url.starts_with('/') {
        if url.starts_with("//") {
            return Err(ForwardError::BadUrl("X-Original-URL"));
        }
        return Ok((None, None, url));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or(ForwardError::BadUrl("X-Original-URL"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(ForwardError::BadUrl("X-Original-URL"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, uri) = rest.split_at(end);
    if !uri.is_empty() && !uri.starts_with('/') {
        // `http://host?x`: no path at all; not what a proxy writes.
        return Err(ForwardError::BadUrl("X-Original-URL"));
    }
    Ok((
        Some(scheme),
        Some(authority),
        if uri.is_empty() { "/" } else { uri },
    ))
}

/// True when `raw` is already what [`path::normalize`] makes of it, up to the case of hex
/// digits in escapes (`%3f` and `%3F` are the same byte to every server).
pub fn is_normal(raw: &str, normal: &str) -> bool {
    let (a, b) = (raw.as_bytes(), normal.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] == b'%' && b[i] == b'%' {
            let (x, y) = (a.get(i + 1..i + 3), b.get(i + 1..i + 3));
            if !matches!((x, y), (Some(x), Some(y)) if x.eq_ignore_ascii_case(y)) {
                return false;
            }
            i += 3;
            continue;
        }
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Normalises the forwarded path and refuses it unless it was normal already.
pub fn normal_path(fwd: &Forwarded) -> Result<String, path::PathError> {
    let raw = fwd.path();
    let normal = path::normalize(raw)?;
    if is_normal(raw, &normal) {
        Ok(normal.into_owned())
    } else {
        Err(path::PathError::NotNormal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::test_headers::headers;
    use http::HeaderValue;

    fn read(pairs: &[(&'static str, &'static str)]) -> Result<Forwarded, ForwardError> {
        forwarded_request(&headers(pairs), Some("127.0.0.1:8080"), "http")
    }

    #[test]
    fn each_proxy_spelling_is_read() {
        // nginx (the README's snippet)
        let f = read(&[("x-original-url", "https://App.test/a/b?x=1")]).unwrap();
        assert_eq!(
            (f.scheme.as_str(), f.host.name.as_str()),
            ("https", "app.test")
        );
        assert_eq!(f.uri, "/a/b?x=1");
        assert_eq!(f.path(), "/a/b");
        // Traefik / Caddy
        let f = read(&[
            ("x-forwarded-host", "app.test:8443"),
            ("x-forwarded-uri", "/a?x"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-method", "POST"),
        ])
        .unwrap();
        assert_eq!(f.host.header_value(), "app.test:8443");
        assert_eq!((&f.method, f.uri.as_str()), (&Method::POST, "/a?x"));
        assert_eq!(f.url(), "https://app.test:8443/a?x");
        // A bare path in X-Original-URL takes the forwarded host, else the call's own.
        let f = read(&[("x-original-url", "/p"), ("x-forwarded-host", "app.test")]).unwrap();
        assert_eq!(f.host.name, "app.test");
        let f = read(&[("x-original-url", "/p")]).unwrap();
        assert_eq!(f.host.name, "127.0.0.1");
        let f = read(&[("x-original-url", "http://app.test")]).unwrap();
        assert_eq!(f.uri, "/");
    }

    #[test]
    fn a_second_source_that_disagrees_is_refused() {
        for pairs in [
            // Traefik sets X-Forwarded-*; the client added X-Original-URL.
            &[
                ("x-forwarded-host", "app.test"),
                ("x-forwarded-uri", "/admin"),
                ("x-original-url", "/public/x"),
            ][..],
            &[
                ("x-forwarded-host", "app.test"),
                ("x-forwarded-uri", "/admin"),
                ("x-original-url", "http://app.test/public/x"),
            ],
            // nginx sets X-Original-URL; the client added X-Forwarded-Host or -Uri.
            &[
                ("x-original-url", "http://admin.test/x"),
                ("x-forwarded-host", "pub.test"),
            ],
            &[
                ("x-original-url", "http://app.test/admin"),
                ("x-forwarded-uri", "/public"),
            ],
        ] {
            assert_eq!(read(pairs), Err(ForwardError::Conflict), "{pairs:?}");
        }
        // Agreeing sources are fine (port and scheme may differ across proxy layers).
        let f = read(&[
            ("x-original-url", "http://app.test/x?y"),
            ("x-forwarded-host", "APP.test:443"),
            ("x-forwarded-uri", "/x?y"),
        ])
        .unwrap();
        assert_eq!(f.host.name, "app.test");
    }

    #[test]
    fn repeated_missing_and_malformed_headers_are_refused() {
        let mut h = headers(&[("x-forwarded-host", "a.test"), ("x-forwarded-uri", "/")]);
        h.append("x-forwarded-uri", HeaderValue::from_static("/admin"));
        assert_eq!(
            forwarded_request(&h, None, "http"),
            Err(ForwardError::Repeated("x-forwarded-uri"))
        );
        let mut h = headers(&[("x-original-url", "/a")]);
        h.append("x-original-url", HeaderValue::from_static("/b"));
        assert_eq!(
            forwarded_request(&h, None, "http"),
            Err(ForwardError::Repeated("x-original-url"))
        );
        assert_eq!(read(&[]), Err(ForwardError::Missing));
        assert_eq!(
            read(&[("x-forwarded-host", "a.test")]),
            Err(ForwardError::Missing)
        );
        assert_eq!(
            read(&[("x-forwarded-uri", "/a")]),
            Err(ForwardError::Missing)
        );
        for (name, value) in [
            ("x-original-url", "//evil.test/x"),
            ("x-original-url", "ftp://a.test/x"),
            ("x-original-url", "a.test/x"),
            ("x-original-url", "http://a.test?x"),
        ] {
            assert!(
                matches!(read(&[(name, value)]), Err(ForwardError::BadUrl(_))),
                "{value}"
            );
        }
        for url in [
            "http://[pub.test]:1/x",
            "http://user@a.test/x",
            "http://a.test:99999/x",
            "http://a..test/x",
        ] {
            let h = headers(&[("x-original-url", url)]);
            assert!(
                matches!(
                    forwarded_request(&h, None, "http"),
                    Err(ForwardError::BadHost(_))
                ),
                "{url}"
            );
        }
        assert!(matches!(
            read(&[("x-forwarded-host", "a.test"), ("x-forwarded-uri", "admin")]),
            Err(ForwardError::BadUrl(_))
        ));
    }

    #[test]
    fn only_normal_paths_are_decided_on() {
        let f = |uri: &str| Forwarded {
            method: Method::GET,
            scheme: "http".into(),
            host: RequestHost::parse("a.test").unwrap(),
            uri: uri.into(),
        };
        for ok in [
            "/",
            "/a/b",
            "/a%20b",
            "/a%3fb",
            "/a%3Fb?x=../y",
            "/%E4%BD%A0",
            "/a;p=1/b",
        ] {
            assert!(normal_path(&f(ok)).is_ok(), "{ok}");
        }
        for refused in [
            "/secret/../public/x",
            "/public/./x",
            "//public",
            "/a%2e%2e/b",
            "/%61dmin",
            "/a/..",
            "/a/.",
            "/a%2Fb",
            "/a%00",
        ] {
            assert!(normal_path(&f(refused)).is_err(), "{refused}");
        }
    }
}
