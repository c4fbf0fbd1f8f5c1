//! Where a login may send the browser back to (`rd`): only a same-site path, or an absolute
//! http(s) URL whose host is the gateway's own or one the routes cover. Anything else is
//! refused (the caller falls back to `/`), because an open redirect after login is a
//! phishing tool.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::config::HostPattern;

/// Characters escaped when `rd` is put into a query string.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Clone, Debug)]
pub struct RedirectPolicy {
    public_host: String,
    hosts: Vec<HostPattern>,
}

impl RedirectPolicy {
    /// `public_host` is `public_url`'s host; `hosts` are the routes' host patterns.
    pub fn new(public_host: &str, hosts: Vec<HostPattern>) -> Self {
        RedirectPolicy {
            public_host: public_host.to_ascii_lowercase(),
            hosts,
        }
    }

    /// `Some(rd)` when it is safe to redirect to, else `None`.
    pub fn check<'a>(&self, rd: &'a str) -> Option<&'a str> {
        if rd.is_empty() || rd.len() > 4096 {
            return None;
        }
        // Whitespace and control characters: browsers strip some of them (`/\t/evil`
        // becomes `//evil`), so none is allowed anywhere, raw or encoded.
        let decoded = percent_decode_str(rd).decode_utf8_lossy();
        for s in [rd, decoded.as_ref()] {
            if s.chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
            {
                return None;
            }
        }
        if rd.starts_with('/') {
            let protocol_relative = rd.starts_with("//") || decoded.starts_with("//");
            return (!protocol_relative).then_some(rd);
        }
        let rest = strip_scheme(rd)?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') || authority.is_empty() {
            return None;
        }
        let host = super::router::host_of(Some(authority), None);
        self.host_allowed(&host).then_some(rd)
    }

    fn host_allowed(&self, host: &str) -> bool {
        host == self.public_host
            || self.hosts.iter().any(|p| match p {
                HostPattern::Exact(h) => h == host,
                HostPattern::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
            })
    }
}

fn strip_scheme(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    (scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")).then_some(rest)
}

/// `{auth_path}/login?rd=<rd>`, with `rd` escaped for a query value.
pub fn login_url(auth_path: &str, rd: &str) -> String {
    format!(
        "{auth_path}/login?rd={}",
        utf8_percent_encode(rd, QUERY_VALUE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RedirectPolicy {
        RedirectPolicy::new(
            "app.example.com",
            vec![
                HostPattern::Exact("docs.example.com".into()),
                HostPattern::Suffix(".corp.example".into()),
            ],
        )
    }

    #[test]
    fn safe_targets_pass() {
        let p = policy();
        for rd in [
            "/",
            "/dash?tab=1&x=%2F",
            "/a/b#frag",
            "https://app.example.com/x",
            "https://docs.example.com",
            "http://wiki.corp.example:8443/page",
            "HTTPS://App.Example.com/",
        ] {
            assert_eq!(p.check(rd), Some(rd), "{rd}");
        }
    }

    #[test]
    fn open_redirects_are_refused() {
        let p = policy();
        for rd in [
            "",
            "//evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "/%2Fevil.com",
            "%2F%2Fevil.com",
            "https://evil.com",
            "https://app.example.com.evil.com/",
            "https://app.example.com@evil.com/",
            "https://user:pw@app.example.com/",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "evil.com",
            "/\t/evil.com",
            "/%09/evil.com",
            " /x",
            "/x\r\nSet-Cookie: a=b",
            "https://corp.example/",
            "ftp://app.example.com/",
            "https:///evil.com",
        ] {
            assert_eq!(p.check(rd), None, "{rd:?}");
        }
    }

    #[test]
    fn login_url_escapes_the_target() {
        assert_eq!(
            login_url("/.auth", "/a b?x=1&y=2"),
            "/.auth/login?rd=/a%20b%3Fx%3D1%26y%3D2"
        );
    }
}
