//! Route selection: first match in file order by optional host and path prefix.
//!
//! Pure and compiled once at config load. The path given to [`Router::find`] must already be
//! normalised ([`super::path`]), and the host lower-cased without port ([`host_of`]).

use crate::config::{HostPattern, Route};

#[derive(Clone, Debug)]
struct Entry {
    host: Option<HostPattern>,
    prefix: String,
}

/// The compiled routing table.
#[derive(Clone, Debug)]
pub struct Router {
    entries: Vec<Entry>,
}

impl Router {
    pub fn new(routes: &[Route]) -> Router {
        Router {
            entries: routes
                .iter()
                .map(|r| Entry {
                    host: r.host.clone(),
                    prefix: r.path_prefix.clone(),
                })
                .collect(),
        }
    }

    /// Index of the first route matching `host` and `path`, in file order.
    pub fn find(&self, host: &str, path: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| host_matches(e.host.as_ref(), host) && prefix_matches(&e.prefix, path))
    }
}

fn host_matches(pattern: Option<&HostPattern>, host: &str) -> bool {
    match pattern {
        None => true,
        Some(HostPattern::Exact(h)) => h == host,
        Some(HostPattern::Suffix(suffix)) => host.len() > suffix.len() && host.ends_with(suffix),
    }
}

/// Whole-segment prefix match: `/api` matches `/api` and `/api/x`, not `/apix`.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix.ends_with('/') {
        return path.starts_with(prefix);
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The host a request is for, lower-cased, without port or trailing dot: from the `Host`
/// header, or the authority of an absolute-form target / HTTP/2 `:authority`.
pub fn host_of(host_header: Option<&str>, uri_authority: Option<&str>) -> String {
    let raw = uri_authority.or(host_header).unwrap_or("");
    let without_port = if let Some(rest) = raw.strip_prefix('[') {
        // [v6]:port
        rest.split(']').next().unwrap_or("")
    } else {
        raw.rsplit_once(':').map_or(raw, |(h, _)| h)
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthPolicy, Upstream};

    fn route(name: &str, host: Option<HostPattern>, prefix: &str) -> Route {
        Route {
            name: name.into(),
            host,
            path_prefix: prefix.into(),
            upstreams: vec![Upstream {
                name: "127.0.0.1:1".into(),
                addr: "127.0.0.1:1".parse().unwrap(),
            }],
            auth: AuthPolicy::Login,
            allow_phones: vec![],
            allow_users: vec![],
            connect_timeout_seconds: 5,
            read_timeout_seconds: 60,
        }
    }

    fn table() -> Router {
        Router::new(&[
            route(
                "api-on-app",
                Some(HostPattern::Exact("app.example.com".into())),
                "/api",
            ),
            route(
                "wild",
                Some(HostPattern::Suffix(".example.com".into())),
                "/",
            ),
            route("static", None, "/static/"),
            route("public", None, "/public"),
            route("default", None, "/"),
        ])
    }

    #[test]
    fn first_match_in_file_order_wins() {
        let r = table();
        assert_eq!(r.find("app.example.com", "/api/users"), Some(0));
        assert_eq!(r.find("app.example.com", "/other"), Some(1));
        assert_eq!(r.find("other.com", "/public/x"), Some(3));
        assert_eq!(r.find("other.com", "/x"), Some(4));
    }

    #[test]
    fn wildcard_host_needs_a_label_before_the_suffix() {
        let r = table();
        assert_eq!(r.find("a.b.example.com", "/"), Some(1));
        assert_eq!(r.find("example.com", "/"), Some(4));
        assert_eq!(r.find("badexample.com", "/"), Some(4));
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let r = table();
        assert_eq!(r.find("x", "/public"), Some(3));
        assert_eq!(r.find("x", "/publicity"), Some(4));
        assert_eq!(r.find("x", "/static/a.css"), Some(2));
        assert_eq!(r.find("x", "/static"), Some(4));
        assert_eq!(r.find("app.example.com", "/apix"), Some(1));
    }

    #[test]
    fn no_route_without_a_catch_all() {
        let r = Router::new(&[route("only", None, "/only")]);
        assert_eq!(r.find("x", "/"), None);
    }

    #[test]
    fn host_is_lowercased_without_port() {
        assert_eq!(
            host_of(Some("App.Example.COM:8080"), None),
            "app.example.com"
        );
        assert_eq!(host_of(Some("example.com."), None), "example.com");
        assert_eq!(host_of(Some("[::1]:8080"), None), "::1");
        assert_eq!(
            host_of(Some("ignored"), Some("h2.example.com")),
            "h2.example.com"
        );
        assert_eq!(host_of(None, None), "");
    }
}
