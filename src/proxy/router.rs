//! Route selection: first match in file order by optional host and path prefix.
//!
//! Pure and compiled once at config load. The path given to [`Router::find`] must already be
//! normalised ([`super::path`]), and the host parsed ([`super::host`]).
//!
//! Many upstreams read a path more loosely than we match it: Express, ASP.NET and IIS
//! ignore case, IIS drops trailing dots and spaces of a segment. So `/ADMIN/users` or
//! `/admin./users` would be served as `/admin/users` while matching a looser route than
//! `/admin`. Every path is therefore also matched in its *folded* form (ASCII lower case,
//! trailing `.` and `%20` of each segment removed); when the exact and the folded form
//! choose different routes, the spelling is ambiguous and the request is refused
//! ([`RouteLookup::Ambiguous`]) rather than guessed at. Spellings that fold to the same
//! route as they match (`/Docs/Intro` under `/`) pass unchanged.

use crate::config::{HostPattern, Route};

#[derive(Clone, Debug)]
struct Entry {
    host: Option<HostPattern>,
    prefix: String,
    /// `prefix` folded like a request path ([`fold_path`]).
    folded_prefix: String,
}

/// What the routing table says about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteLookup {
    /// The index of the route, in file order.
    Route(usize),
    /// No route matches this host and path.
    NoRoute,
    /// The path's exact and folded spellings match different routes (or only one of them
    /// matches a route): refused, so that no upstream reads it as the other.
    Ambiguous,
}

/// The compiled routing table.
#[derive(Clone, Debug)]
pub struct Router {
    entries: Vec<Entry>,
    /// Some prefix changes when folded (`/Docs`): then even an already-folded path must be
    /// matched both ways.
    folded_prefixes_differ: bool,
}

impl Router {
    pub fn new(routes: &[Route]) -> Router {
        let entries: Vec<Entry> = routes
            .iter()
            .map(|r| Entry {
                host: r.host.clone(),
                prefix: r.path_prefix.clone(),
                folded_prefix: fold_path(&r.path_prefix).into_owned(),
            })
            .collect();
        let folded_prefixes_differ = entries.iter().any(|e| e.folded_prefix != e.prefix);
        Router {
            entries,
            folded_prefixes_differ,
        }
    }

    /// The first route matching `host` and `path` in file order, unless the path's folded
    /// spelling would choose another.
    pub fn find(&self, host: &str, path: &str) -> RouteLookup {
        let exact = self
            .entries
            .iter()
            .position(|e| host_matches(e.host.as_ref(), host) && prefix_matches(&e.prefix, path));
        let folded = fold_path(path);
        if matches!(folded, std::borrow::Cow::Owned(_)) || self.folded_prefixes_differ {
            let loose = self.entries.iter().position(|e| {
                host_matches(e.host.as_ref(), host) && prefix_matches(&e.folded_prefix, &folded)
            });
            if loose != exact {
                return RouteLookup::Ambiguous;
            }
        }
        exact.map_or(RouteLookup::NoRoute, RouteLookup::Route)
    }
}

/// `path` as a loose upstream reads it: ASCII letters lower-cased, and every segment's
/// trailing dots and encoded spaces (`%20`) removed. Borrowed when nothing changes, which
/// is the common case.
pub fn fold_path(path: &str) -> std::borrow::Cow<'_, str> {
    let needs_fold = path.bytes().any(|b| b.is_ascii_uppercase())
        || path
            .split('/')
            .any(|segment| segment.ends_with('.') || segment.ends_with("%20"));
    if !needs_fold {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let mut s = segment;
        loop {
            if let Some(rest) = s.strip_suffix('.') {
                s = rest;
            } else if let Some(rest) = s.strip_suffix("%20") {
                s = rest;
            } else {
                break;
            }
        }
        out.push_str(&s.to_ascii_lowercase());
    }
    std::borrow::Cow::Owned(out)
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

#[cfg(test)]
mod tests {
    use super::RouteLookup::{Ambiguous, NoRoute};
    use super::*;
    use crate::config::{AuthPolicy, Route, Upstream};

    #[allow(non_snake_case)]
    fn Route(i: usize) -> RouteLookup {
        RouteLookup::Route(i)
    }

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
        assert_eq!(r.find("app.example.com", "/api/users"), Route(0));
        assert_eq!(r.find("app.example.com", "/other"), Route(1));
        assert_eq!(r.find("other.com", "/public/x"), Route(3));
        assert_eq!(r.find("other.com", "/x"), Route(4));
    }

    #[test]
    fn spellings_that_a_loose_upstream_reads_as_another_route_are_ambiguous() {
        let r = table();
        for path in [
            "/PUBLIC/x",
            "/Public",
            "/public./x",
            "/public../x",
            "/public%20/x",
            "/public.%20./x",
            "/STATIC/a.css",
        ] {
            assert_eq!(r.find("other.com", path), Ambiguous, "{path}");
        }
        for path in ["/API/users", "/api./users", "/Api%20"] {
            assert_eq!(r.find("app.example.com", path), Ambiguous, "{path}");
        }
        // Folding that keeps the route is no ambiguity: the route decides the same.
        assert_eq!(r.find("other.com", "/Docs/Intro"), Route(4));
        assert_eq!(r.find("other.com", "/x./y"), Route(4));
        assert_eq!(r.find("app.example.com", "/OTHER"), Route(1));
        let only = Router::new(&[route("admin", None, "/admin")]);
        assert_eq!(only.find("x", "/ADMIN"), Ambiguous);
        assert_eq!(only.find("x", "/admin"), Route(0));
        assert_eq!(only.find("x", "/other"), NoRoute);
        // Upper-case prefixes in the config fold the same way.
        let upper = Router::new(&[route("docs", None, "/Docs"), route("all", None, "/")]);
        assert_eq!(upper.find("x", "/Docs/a"), Route(0));
        assert_eq!(upper.find("x", "/docs/a"), Ambiguous);
    }

    #[test]
    fn fold_path_lowercases_and_drops_trailing_dots_and_spaces() {
        assert_eq!(fold_path("/a/b"), "/a/b");
        assert!(matches!(fold_path("/a/b"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(fold_path("/ADMIN./Users%20"), "/admin/users");
        assert_eq!(fold_path("/a.b/c..d"), "/a.b/c..d");
        assert_eq!(fold_path("/x%20%20./"), "/x/");
    }

    #[test]
    fn wildcard_host_needs_a_label_before_the_suffix() {
        let r = table();
        assert_eq!(r.find("a.b.example.com", "/"), Route(1));
        assert_eq!(r.find("example.com", "/"), Route(4));
        assert_eq!(r.find("badexample.com", "/"), Route(4));
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let r = table();
        assert_eq!(r.find("x", "/public"), Route(3));
        assert_eq!(r.find("x", "/publicity"), Route(4));
        assert_eq!(r.find("x", "/static/a.css"), Route(2));
        assert_eq!(r.find("x", "/static"), Route(4));
        assert_eq!(r.find("app.example.com", "/apix"), Route(1));
    }

    #[test]
    fn no_route_without_a_catch_all() {
        let r = Router::new(&[route("only", None, "/only")]);
        assert_eq!(r.find("x", "/"), NoRoute);
    }
}
