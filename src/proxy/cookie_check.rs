//! Why a session cookie did not come back: the diagnosis behind `GET {auth_path}/check`.
//!
//! After a login, the browser is sent to `/check?rd=...` before its destination. If the new
//! session cookie arrives there, it goes on at once; if not, instead of a login loop (gate →
//! login page → scan → gate ...), the user and the operator get a page saying which of the
//! usual causes applies: a `cookie_domain` that does not cover the host, a `Secure` cookie
//! over plain HTTP, or cookies blocked altogether. Pure: facts in, sentences out.

/// Where a browser goes right after its login: `{auth_path}/check?rd=<rd>`.
pub fn check_url(auth_path: &str, rd: &str) -> String {
    let rd: String = form_urlencoded::byte_serialize(rd.as_bytes()).collect();
    format!("{auth_path}/check?rd={rd}")
}

/// What the check request tells about the cookie's chances.
#[derive(Clone, Copy, Debug)]
pub struct CookieFacts<'a> {
    /// Host of the request, lowercase, no port.
    pub host: &'a str,
    /// `session.cookie_domain`.
    pub cookie_domain: Option<&'a str>,
    /// `session.cookie_secure`.
    pub cookie_secure: bool,
    /// The browser reached us over HTTPS (directly, or as a proxy in front says).
    pub https: bool,
    /// The request carried any `Cookie` header at all.
    pub any_cookie: bool,
    pub cookie_name: &'a str,
}

/// The likely causes, most specific first; never empty.
pub fn diagnose(f: &CookieFacts<'_>) -> Vec<String> {
    let mut causes = Vec::new();
    if let Some(domain) = f.cookie_domain {
        let domain = domain.trim_start_matches('.').to_ascii_lowercase();
        let covered = f.host == domain || f.host.ends_with(&format!(".{domain}"));
        if !covered {
            causes.push(format!(
                "The session cookie is set for the domain {domain}, which does not cover this \
                 site ({host}), so the browser refuses it. Set session.cookie_domain to a domain \
                 that covers {host}, or remove it.",
                host = f.host
            ));
        }
    }
    if f.cookie_secure && !f.https {
        causes.push(
            "The session cookie is marked Secure but this page was reached over plain HTTP, so \
             the browser drops it. Serve the site over HTTPS (behind a proxy, list it in \
             trusted_proxies so its X-Forwarded-Proto is believed), or set \
             session.cookie_secure: false for local testing."
                .to_string(),
        );
    }
    if !f.any_cookie {
        causes.push(
            "The browser sent no cookies at all: cookies may be blocked for this site (a \
             browser setting, private mode or an extension)."
                .to_string(),
        );
    }
    if causes.is_empty() {
        causes.push(format!(
            "The browser did not send the cookie {} back. If this site is shown inside a frame \
             of another site, the browser may block it as a third-party cookie.",
            f.cookie_name
        ));
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> CookieFacts<'static> {
        CookieFacts {
            host: "app.example.com",
            cookie_domain: None,
            cookie_secure: true,
            https: true,
            any_cookie: true,
            cookie_name: "scangate_session",
        }
    }

    #[test]
    fn the_check_url_carries_the_destination_escaped() {
        assert_eq!(
            check_url("/.auth", "/app?x=1&y=2"),
            "/.auth/check?rd=%2Fapp%3Fx%3D1%26y%3D2"
        );
    }

    #[test]
    fn a_domain_that_does_not_cover_the_host_is_named() {
        let causes = diagnose(&CookieFacts {
            cookie_domain: Some(".example.org"),
            ..facts()
        });
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert!(causes[0].contains("example.org") && causes[0].contains("app.example.com"));
        // Covering domains (with or without the leading dot, any case) are not a cause.
        for ok in [
            ".example.com",
            "example.com",
            "EXAMPLE.com",
            "app.example.com",
        ] {
            let causes = diagnose(&CookieFacts {
                cookie_domain: Some(ok),
                ..facts()
            });
            assert!(causes[0].contains("third-party"), "{ok}: {causes:?}");
        }
        // A suffix that is not at a dot boundary does not cover.
        let causes = diagnose(&CookieFacts {
            host: "badexample.com",
            cookie_domain: Some("example.com"),
            ..facts()
        });
        assert!(causes[0].contains("does not cover"), "{causes:?}");
    }

    #[test]
    fn secure_over_http_and_no_cookies_at_all_are_named() {
        let causes = diagnose(&CookieFacts {
            https: false,
            any_cookie: false,
            ..facts()
        });
        assert_eq!(causes.len(), 2, "{causes:?}");
        assert!(causes[0].contains("Secure"));
        assert!(causes[1].contains("no cookies"));
        // Over HTTP without Secure, only the missing cookies are a cause.
        let causes = diagnose(&CookieFacts {
            https: false,
            cookie_secure: false,
            any_cookie: false,
            ..facts()
        });
        assert_eq!(causes.len(), 1, "{causes:?}");
    }
}
