//! Cross-site requests to the gateway's own browser endpoints.
//!
//! `POST {auth_path}/logout`, `/qr`, `/session`, `/phone/*` act on the browser's cookies.
//! SameSite=Lax keeps our cookies off a cross-site POST, but the answer may still *set* or
//! *clear* cookies (a forced logout, a login started in the victim's browser). So a POST
//! that a browser marks as cross-site (`Sec-Fetch-Site: cross-site`), or whose `Origin` is
//! neither this host nor a host the gateway serves, is refused. Requests without either
//! header are not from a browser page and pass. The WeChat callback and the Mini Program's
//! endpoints are called by WeChat's servers and the Mini Program, not by pages, and are
//! exempt (`Endpoint::caller`).

use http::{HeaderMap, Method};

/// True when a request to an endpoint that pages call must be refused as cross-site (the
/// caller checks that the endpoint is one: see `Endpoint::caller`). `host_allowed` says
/// whether a host name is this request's own or one the gateway serves.
pub fn is_cross_site(
    method: &Method,
    headers: &HeaderMap,
    host_allowed: impl Fn(&str) -> bool,
) -> bool {
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        return false;
    }
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    let mut origins = headers.get_all(http::header::ORIGIN).iter();
    let (Some(origin), None) = (origins.next(), origins.next()) else {
        // No Origin: not a page's request (browsers send it on every POST). Two: forged.
        return headers.get_all(http::header::ORIGIN).iter().count() > 1;
    };
    let Some(host) = origin_host(origin.as_bytes()) else {
        // `Origin: null` (sandboxed frames, file://, redirects across sites) or garbage.
        return true;
    };
    !host_allowed(&host)
}

/// The host name of an `Origin` value (`https://app.example.com:8443` → `app.example.com`).
fn origin_host(origin: &[u8]) -> Option<String> {
    let origin = std::str::from_utf8(origin).ok()?;
    let (scheme, authority) = origin.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    super::host::RequestHost::parse(authority)
        .ok()
        .map(|h| h.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::test_headers::headers;

    fn ours(host: &str) -> bool {
        host == "app.test" || host.ends_with(".app.test")
    }

    #[test]
    fn cross_site_posts_to_browser_endpoints_are_refused() {
        let post = Method::POST;
        for (pairs, refused) in [
            (&[][..], false),
            (&[("origin", "http://app.test")], false),
            (&[("origin", "https://www.app.test:8443")], false),
            (&[("sec-fetch-site", "same-origin")], false),
            (
                &[
                    ("sec-fetch-site", "same-site"),
                    ("origin", "https://x.app.test"),
                ],
                false,
            ),
            (&[("sec-fetch-site", "none")], false),
            (&[("origin", "https://evil.test")], true),
            (&[("origin", "https://app.test.evil.test")], true),
            (&[("origin", "null")], true),
            (&[("origin", "file://")], true),
            (
                &[("origin", "http://app.test"), ("origin", "http://app.test")],
                true,
            ),
            (&[("sec-fetch-site", "cross-site")], true),
            (
                &[
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "http://app.test"),
                ],
                true,
            ),
        ] {
            assert_eq!(
                is_cross_site(&post, &headers(pairs), ours),
                refused,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn reads_are_exempt() {
        let evil = headers(&[
            ("origin", "https://evil.test"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(!is_cross_site(&Method::GET, &evil, ours));
        assert!(!is_cross_site(&Method::HEAD, &evil, ours));
        assert!(is_cross_site(&Method::DELETE, &evil, ours));
    }
}
