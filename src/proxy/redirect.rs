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
        // becomes `//evil`), so none is allowed raw, nor encoded where they could move the
        // host or path. In the query and fragment an encoded one is data for the app
        // (`?q=a%20b`), and stays encoded in the `Location` we write.
        let head_len = rd.find(['?', '#']).unwrap_or(rd.len());
        let decoded = percent_decode_str(&rd[..head_len]).decode_utf8_lossy();
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
        if !is_plain_authority(authority) {
            return None;
        }
        // An empty port (`host:`) means the scheme's default in a URL.
        let authority = authority.strip_suffix(':').unwrap_or(authority);
        let Ok(host) = super::host::RequestHost::parse(authority) else {
            return None;
        };
        self.host_allowed(&host.name).then_some(rd)
    }

    /// True for `public_url`'s host and every host a route names.
    pub fn host_allowed(&self, host: &str) -> bool {
        host == self.public_host
            || self.hosts.iter().any(|p| match p {
                HostPattern::Exact(h) => h == host,
                HostPattern::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
            })
    }
}

/// `host[:port]` with no userinfo, where the host is a DNS name (dot-separated labels of
/// ASCII letters, digits and `-`, one trailing dot allowed) or an IPv6 literal in brackets,
/// and the port is digits. Route hosts and `public_url` always have this shape, so anything
/// else cannot be one of them even when its text ends like an allowed `*.suffix`: a browser
/// would decode `evil.com%2F.example.com` or map Unicode look-alikes to `/` or `#`, and
/// `[docs.example.com]` is no host at all.
fn is_plain_authority(authority: &str) -> bool {
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let Some((v6, after)) = rest.split_once(']') else {
                return false;
            };
            if v6.parse::<std::net::Ipv6Addr>().is_err() {
                return false;
            }
            match after.strip_prefix(':') {
                Some(port) => ("v6", port),
                None if after.is_empty() => ("v6", ""),
                None => return false,
            }
        }
        None => authority.split_once(':').unwrap_or((authority, "")),
    };
    let labels = host.strip_suffix('.').unwrap_or(host);
    !labels.is_empty()
        && labels.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && port.bytes().all(|b| b.is_ascii_digit())
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

/// `{auth_path}/wechat/oauth/start?method=<method>&rd=<rd>`, with `rd` escaped for a query
/// value: sign-in through WeChat's own pages (`official_account` inside WeChat, `website`).
pub fn oauth_start_url(auth_path: &str, method: &str, rd: &str) -> String {
    format!(
        "{auth_path}/wechat/oauth/start?method={method}&rd={}",
        utf8_percent_encode(rd, QUERY_VALUE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gateway is `gw.test`; the routes cover `docs.example.org` and `*.example.com`.
    fn policy() -> RedirectPolicy {
        RedirectPolicy::new(
            "gw.test",
            vec![
                HostPattern::Exact("docs.example.org".into()),
                HostPattern::Suffix(".example.com".into()),
            ],
        )
    }

    const OK: bool = true;
    const NO: bool = false;

    /// `(rd, accepted)`: an accepted `rd` comes back unchanged, a refused one is `None`.
    const CASES: &[(&str, bool)] = &[
        // Same-site paths, with query and fragment.
        ("/", OK),
        ("/dash", OK),
        ("/dash?tab=1&x=%2F", OK),
        ("/a/b?q=1#frag", OK),
        ("/a//b", OK),
        ("/?rd=https://evil.com", OK),
        ("/%E4%BD%A0%E5%A5%BD", OK),
        // Dot segments resolve against our own origin: still same-site.
        ("/./evil.com", OK),
        ("/../evil.com", OK),
        ("/%2e%2e/evil.com", OK),
        // Scheme-relative and backslash tricks: browsers read them as another host.
        ("//evil.com", NO),
        ("///evil.com", NO),
        ("////evil.com", NO),
        ("/\\evil.com", NO),
        ("\\/evil.com", NO),
        ("\\\\evil.com", NO),
        ("/\\/evil.com", NO),
        // ...and percent-encoded.
        ("/%2F%2Fevil.com", NO),
        ("/%2fevil.com", NO),
        ("%2F%2Fevil.com", NO),
        ("/%5Cevil.com", NO),
        ("/%5c%5cevil.com", NO),
        // Other schemes and hosts.
        ("https://evil.com", NO),
        ("http://evil.com/", NO),
        ("https://evil.com:443/", NO),
        ("javascript:alert(1)", NO),
        ("JaVaScRiPt:alert(1)", NO),
        ("javascript://docs.example.org/%0aalert(1)", NO),
        ("data:text/html,<script>alert(1)</script>", NO),
        ("vbscript:msgbox(1)", NO),
        ("ftp://docs.example.org/", NO),
        ("evil.com", NO),
        ("dash", NO),
        ("https:evil.com", NO),
        ("https:/evil.com", NO),
        ("https:///evil.com", NO),
        ("https://", NO),
        // Userinfo, and delimiters that end the authority before the allowed name.
        ("https://app.example.com@evil.com/", NO),
        ("https://app.example.com:443@evil.com", NO),
        ("https://user:pw@app.example.com/", NO),
        ("https://evil.com#@app.example.com", NO),
        ("https://evil.com?@app.example.com", NO),
        ("https://evil.com\\@app.example.com", NO),
        ("https://evil.com\\.example.com", NO),
        // Whitespace and control characters, raw or encoded.
        (" /x", NO),
        ("\t/x", NO),
        ("/\t/evil.com", NO),
        ("/%09/evil.com", NO),
        ("/x\nSet-Cookie: a=b", NO),
        ("/x\r\nSet-Cookie: a=b", NO),
        ("/x%0d%0aSet-Cookie:%20a=b", NO),
        ("/search?q=a%20b&tab=%09", OK),
        ("/search?q=a b", NO),
        ("/x\0", NO),
        ("/x%00", NO),
        ("/x\u{7f}", NO),
        ("/\u{3000}x", NO),
        ("/x\u{85}", NO),
        ("https://docs.example.org/ x", NO),
        // Hosts the routes cover: the gateway's own, exact, `*.suffix`; any case, any port.
        ("https://gw.test/x", OK),
        ("http://gw.test:8080/x?y=1", OK),
        ("https://docs.example.org", OK),
        ("HTTPS://Docs.Example.ORG/", OK),
        ("https://app.example.com/x", OK),
        ("https://a.b.example.com:8443/page#top", OK),
        ("https://app.example.com./x", OK),
        ("https://app.example.com:/x", OK),
        // Hosts they do not cover: dot boundary, the bare suffix, look-alikes.
        ("https://evil-example.com/", NO),
        ("https://evilexample.com/", NO),
        ("https://example.com/", NO),
        ("https://.example.com/", NO),
        ("https://app.example.com.evil.com/", NO),
        ("https://docs.example.org.evil.com/", NO),
        ("https://sub.docs.example.org/", NO),
        ("https://gw.test.evil.com/", NO),
        // Only absolute URLs name a host: scheme-relative is refused even for ours.
        ("//app.example.com/x", NO),
        ("//gw.test/x", NO),
        // Authorities that only look like an allowed host.
        ("https://evil.com%2F.example.com/", NO),
        ("https://evil.com%23.example.com/", NO),
        ("https://evil.com\u{ff0f}.example.com/", NO),
        ("https://a..example.com/", NO),
        ("https://[docs.example.org]/", NO),
        ("https://docs.example.org:ab/", NO),
        ("https://docs.example.org:1:2/", NO),
        ("https://[::1]/", NO),
        // Empty.
        ("", NO),
    ];

    #[test]
    fn redirect_table() {
        let p = policy();
        let mut wrong = Vec::new();
        for &(rd, accepted) in CASES {
            let expected = accepted.then_some(rd);
            if p.check(rd) != expected {
                wrong.push(format!(
                    "{rd:?}: expected {expected:?}, got {:?}",
                    p.check(rd)
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        assert!(CASES.len() >= 30);
    }

    #[test]
    fn overlong_targets_are_refused() {
        let p = policy();
        let long = format!("/{}", "a".repeat(4095));
        assert_eq!(p.check(&long), Some(long.as_str()));
        let longer = format!("/{}", "a".repeat(4096));
        assert_eq!(p.check(&longer), None);
    }

    #[test]
    fn oauth_start_url_escapes_the_target() {
        assert_eq!(
            oauth_start_url("/.auth", "official_account", "/a b?x=1&y=2"),
            "/.auth/wechat/oauth/start?method=official_account&rd=/a%20b%3Fx%3D1%26y%3D2"
        );
    }

    #[test]
    fn login_url_escapes_the_target() {
        assert_eq!(
            login_url("/.auth", "/a b?x=1&y=2"),
            "/.auth/login?rd=/a%20b%3Fx%3D1%26y%3D2"
        );
    }
}
