//! Why a session cookie did not come back: the diagnosis behind `GET {auth_path}/check`.
//!
//! After a login, the browser is sent to `/check?rd=...` before its destination. If the new
//! session cookie arrives there, it goes on at once; if not, instead of a login loop (gate →
//! login page → scan → gate ...), the user and the operator get a page saying which of the
//! usual causes applies: a `cookie_domain` that does not cover the host, a `Secure` cookie
//! over plain HTTP, or cookies blocked altogether. Pure: facts in, sentences out, in the
//! visitor's language.

use crate::pages::{self, Lang};

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
}

/// A reason the session cookie may not have come back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// `session.cookie_domain` does not cover the host, so the browser refuses the cookie.
    DomainNotCovering { domain: String, host: String },
    /// A `Secure` cookie on a page reached over plain HTTP.
    SecureOverHttp,
    /// The browser sent no cookie at all: blocked for this site.
    NoCookiesAtAll,
    /// Nothing in the configuration explains it: a third-party frame, an extension.
    NotSentBack,
}

/// The likely causes, most specific first; never empty.
pub fn diagnose(f: &CookieFacts<'_>) -> Vec<Cause> {
    let mut causes = Vec::new();
    if let Some(domain) = f.cookie_domain {
        let domain = domain.trim_start_matches('.').to_ascii_lowercase();
        let covered = f.host == domain || f.host.ends_with(&format!(".{domain}"));
        if !covered {
            causes.push(Cause::DomainNotCovering {
                domain,
                host: f.host.to_string(),
            });
        }
    }
    if f.cookie_secure && !f.https {
        causes.push(Cause::SecureOverHttp);
    }
    if !f.any_cookie {
        causes.push(Cause::NoCookiesAtAll);
    }
    if causes.is_empty() {
        causes.push(Cause::NotSentBack);
    }
    causes
}

impl Cause {
    /// The cause for the person at the browser, and for the operator they may forward it to.
    pub fn text(&self, lang: Lang) -> String {
        match (self, lang) {
            (Cause::DomainNotCovering { domain, host }, Lang::En) => format!(
                "The sign-in cookie is set for the domain {domain}, which does not cover this \
                 site ({host}), so the browser refuses it. (For the site's operator: set \
                 session.cookie_domain to a domain that covers {host}, or remove it.)"
            ),
            (Cause::DomainNotCovering { domain, host }, Lang::Zh) => format!(
                "登录 Cookie 的域名是 {domain}，不包含本站（{host}），浏览器因此拒收。\
                 （致网站管理员：请将 session.cookie_domain 设为包含 {host} 的域名，或删除该设置。）"
            ),
            (Cause::SecureOverHttp, Lang::En) => "The sign-in cookie may only travel over HTTPS, \
                 but this page was opened over plain HTTP. Open the site with https://. (For the \
                 site's operator: serve it over HTTPS, or set session.cookie_secure: false for \
                 local testing.)"
                .to_string(),
            (Cause::SecureOverHttp, Lang::Zh) => "登录 Cookie 只能通过 HTTPS 传送，但本页是通过 HTTP \
                 打开的。请使用 https:// 访问本站。（致网站管理员：请启用 HTTPS，或在本地测试时设置 \
                 session.cookie_secure: false。）"
                .to_string(),
            (Cause::NoCookiesAtAll, Lang::En) => "Your browser sent no cookies at all: cookies \
                 are probably blocked for this site (a browser setting, private mode or an \
                 extension). Allow cookies for this site, then sign in again."
                .to_string(),
            (Cause::NoCookiesAtAll, Lang::Zh) => "您的浏览器没有发送任何 Cookie：本站的 Cookie \
                 可能被禁用了（浏览器设置、隐私模式或扩展程序）。请允许本站使用 Cookie，然后重新登录。"
                .to_string(),
            (Cause::NotSentBack, Lang::En) => "Your browser did not send the sign-in cookie \
                 back. If this site is shown inside a frame of another site, the browser may \
                 block it as a third-party cookie: open the site in its own tab."
                .to_string(),
            (Cause::NotSentBack, Lang::Zh) => "您的浏览器没有送回登录 Cookie。如果本站是嵌在其他网站\
                 的框架中打开的，浏览器可能将其作为第三方 Cookie 拦截：请在单独的标签页中打开本站。"
                .to_string(),
        }
    }
}

/// The page of `GET /check` without a session: what it checks, what it found (`causes`), and
/// a way on to the login page (`login_url`), which the visitor follows themselves, so a
/// cookie that never sticks cannot loop.
pub fn render_page(causes: &[Cause], login_url: &str, lang: Lang) -> String {
    let (title, intro, link) = match lang {
        Lang::En => (
            "Sign-in cookie check",
            "This page checks that your browser kept the sign-in cookie. It found none: either \
             you have not signed in yet, or your browser did not keep the cookie.",
            "Sign in",
        ),
        Lang::Zh => (
            "登录 Cookie 检查",
            "本页用于检查浏览器是否保存了登录 Cookie。未找到登录 Cookie：您可能尚未登录，\
             或浏览器没有保存该 Cookie。",
            "登录",
        ),
    };
    let mut paragraphs = vec![intro.to_string()];
    paragraphs.extend(causes.iter().map(|c| c.text(lang)));
    pages::render_notice_page(title, &paragraphs, (login_url, link), lang)
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
        assert_eq!(
            causes,
            [Cause::DomainNotCovering {
                domain: "example.org".into(),
                host: "app.example.com".into()
            }]
        );
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
            assert_eq!(causes, [Cause::NotSentBack], "{ok}");
        }
        // A suffix that is not at a dot boundary does not cover.
        let causes = diagnose(&CookieFacts {
            host: "badexample.com",
            cookie_domain: Some("example.com"),
            ..facts()
        });
        assert!(
            matches!(causes[0], Cause::DomainNotCovering { .. }),
            "{causes:?}"
        );
    }

    #[test]
    fn secure_over_http_and_no_cookies_at_all_are_named() {
        let causes = diagnose(&CookieFacts {
            https: false,
            any_cookie: false,
            ..facts()
        });
        assert_eq!(causes, [Cause::SecureOverHttp, Cause::NoCookiesAtAll]);
        // Over HTTP without Secure, only the missing cookies are a cause.
        let causes = diagnose(&CookieFacts {
            https: false,
            cookie_secure: false,
            any_cookie: false,
            ..facts()
        });
        assert_eq!(causes, [Cause::NoCookiesAtAll]);
    }

    #[test]
    fn every_cause_is_said_in_both_languages() {
        let causes = [
            Cause::DomainNotCovering {
                domain: "example.org".into(),
                host: "app.example.com".into(),
            },
            Cause::SecureOverHttp,
            Cause::NoCookiesAtAll,
            Cause::NotSentBack,
        ];
        let is_cjk = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c);
        for cause in &causes {
            assert!(cause.text(Lang::Zh).chars().any(is_cjk), "{cause:?}");
            assert!(!cause.text(Lang::En).chars().any(is_cjk), "{cause:?}");
        }
        let zh = render_page(&causes, "/.auth/login?rd=%2F", Lang::Zh);
        assert!(zh.contains("登录 Cookie 检查") && zh.contains("href=\"/.auth/login?rd=%2F\""));
        // No stray status number above the title.
        assert!(!zh.contains(">200<"), "{zh}");
        let en = render_page(&causes, "/x", Lang::En);
        assert!(!en.chars().any(is_cjk));
    }
}
