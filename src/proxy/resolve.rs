//! Phase 1 of a request: what it is *for*. The host (parsed strictly), the framing (one
//! length), the path (normalised), and whether it is one of the gateway's own endpoints.
//! Pure over the request head; a request that cannot be resolved is refused before any route
//! or session is looked at.

use pingora::http::RequestHeader;

use super::framing;
use super::host::{self, RequestHost};
use super::path;
use super::respond::GatewayError;

/// A request resolved to a host and a normal path.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// The host routes are chosen by (lower case, no port or trailing dot).
    pub host: String,
    /// The `Host` to send upstream, when the client's spelling differs from the host decided
    /// on (or it sent none).
    pub upstream_host: Option<String>,
    /// The normalised path.
    pub normal: String,
    /// The origin-form target to send upstream, when it differs from what the client sent
    /// (a normalised path, or an absolute-form target).
    pub rewritten: Option<String>,
    /// The path below `auth_path` when the request is for one of the gateway's own endpoints.
    pub own: Option<String>,
}

/// Why a request could not be resolved.
#[derive(Debug, PartialEq, Eq)]
pub struct Unresolved {
    pub error: GatewayError,
    /// The request's framing is in doubt: the connection must not be read on from.
    pub close: bool,
}

fn refuse(code: &'static str, message: impl std::fmt::Display) -> Unresolved {
    Unresolved {
        error: GatewayError::BadRequest {
            code,
            message: message.to_string(),
        },
        close: false,
    }
}

/// The request target to send upstream: origin-form, with the normalised path.
pub fn origin_form(path: &str, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    }
}

/// Resolves `req`. `public_host` is the host of an HTTP/1.0 request without one; `auth_path`
/// is the prefix of the gateway's own endpoints.
pub fn resolve(
    req: &RequestHeader,
    public_host: &RequestHost,
    auth_path: &str,
) -> Result<Target, Unresolved> {
    // The one host the route is chosen by, and the one the upstream is told.
    let host = host::request_host(
        req.headers
            .get_all(http::header::HOST)
            .iter()
            .map(|v| v.as_bytes()),
        req.uri.authority().map(|a| a.as_str()),
        req.version == http::Version::HTTP_10,
        public_host,
    )
    .map_err(|e| refuse("bad_host", e))?;
    if let Err(e) = framing::check(&req.headers) {
        let mut refused = refuse("bad_framing", e);
        refused.close = true;
        return Err(refused);
    }
    if !req.raw_path_is_utf8() {
        return Err(refuse("bad_path", "the request path is not valid UTF-8"));
    }
    let normal = path::normalize(req.uri.path()).map_err(|e| refuse("bad_path", e))?;
    // Absolute-form targets are kept verbatim by pingora; we always send origin-form.
    let absolute_form = !req.raw_path().starts_with(b"/");
    let rewritten =
        (absolute_form || normal != req.uri.path()).then(|| origin_form(&normal, req.uri.query()));
    // Usually the client already spelled it canonically: no string is built then.
    let sent = req.headers.get(http::header::HOST).map(|v| v.as_bytes());
    let upstream_host =
        (!sent.is_some_and(|raw| host.is_spelled(raw))).then(|| host.header_value());
    let own = super::router::prefix_matches(auth_path, &normal)
        .then(|| normal[auth_path.len()..].to_string());
    Ok(Target {
        host: host.name,
        upstream_host,
        normal: normal.into_owned(),
        rewritten,
        own,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw_path: &[u8], headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", raw_path, None).unwrap();
        for (k, v) in headers {
            req.append_header(k.to_string(), *v).unwrap();
        }
        req
    }

    fn public() -> RequestHost {
        RequestHost::parse("gw.test").unwrap()
    }

    #[test]
    fn a_plain_request_changes_nothing() {
        let t = resolve(
            &head(b"/app?x=1", &[("host", "app.test")]),
            &public(),
            "/.auth",
        )
        .unwrap();
        assert_eq!(
            t,
            Target {
                host: "app.test".into(),
                upstream_host: None,
                normal: "/app".into(),
                rewritten: None,
                own: None,
            }
        );
    }

    #[test]
    fn spellings_are_rewritten_and_own_paths_found() {
        let t = resolve(
            &head(b"/a/../.auth/me?x", &[("host", "App.Test.")]),
            &public(),
            "/.auth",
        )
        .unwrap();
        assert_eq!(t.host, "app.test");
        assert_eq!(t.upstream_host.as_deref(), Some("app.test"));
        assert_eq!(t.rewritten.as_deref(), Some("/.auth/me?x"));
        assert_eq!(t.own.as_deref(), Some("/me"));
        let t = resolve(
            &head(b"/.authx", &[("host", "a.test")]),
            &public(),
            "/.auth",
        )
        .unwrap();
        assert_eq!(t.own, None);
    }

    #[test]
    fn unresolvable_requests_are_refused_with_their_reason() {
        let code = |req: RequestHeader| match resolve(&req, &public(), "/.auth") {
            Err(Unresolved {
                error: GatewayError::BadRequest { code, .. },
                close,
            }) => (code, close),
            other => panic!("{other:?}"),
        };
        assert_eq!(code(head(b"/", &[("host", "[x]:1")])), ("bad_host", false));
        assert_eq!(code(head(b"/", &[])), ("bad_host", false));
        assert_eq!(
            code(head(
                b"/",
                &[("host", "a.test"), ("content-length", "3, 3")]
            )),
            ("bad_framing", true)
        );
        assert_eq!(
            code(head(b"/a%2Fb", &[("host", "a.test")])),
            ("bad_path", false)
        );
    }
}
