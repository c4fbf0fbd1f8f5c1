//! The gate: may this request pass? Pure: a route's policy and the request's identity (if
//! any) in, a [`Decision`] out. Turning a decision into a response is `respond.rs`'s job.

use http::{HeaderMap, Method};

use crate::config::{AuthPolicy, Route};
use crate::identity::Identity;
use crate::session::{SessionError, Verified};

/// What the gate decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A public route: pass (with identity headers when a session happens to exist).
    Public,
    /// A protected route and an identity that satisfies it.
    Allow,
    /// A protected route and no valid session: log in first.
    Login,
    /// A session, but the route refuses it. Never sends the user back to the login page,
    /// which would loop.
    Deny(DenyReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyReason {
    /// `auth: phone` and the session has no bound phone.
    PhoneRequired,
    /// The route's `allow_phones` / `allow_users` does not list this user.
    NotAllowed,
    /// An operator blocked this user: refused on every route, public ones included.
    Blocked,
}

/// [`decide`] for the request's session as verified: a blocked user's session is refused on
/// every route (the inline gate and `/verify` alike); any other refused session counts as
/// none.
pub fn decide_session(route: &Route, session: Option<&Result<Verified, SessionError>>) -> Decision {
    match session {
        Some(Err(SessionError::Blocked)) => Decision::Deny(DenyReason::Blocked),
        Some(Ok(v)) => decide(route, Some(&v.identity)),
        Some(Err(_)) | None => decide(route, None),
    }
}

pub fn decide(route: &Route, identity: Option<&Identity>) -> Decision {
    if route.auth == AuthPolicy::Public {
        return Decision::Public;
    }
    let Some(identity) = identity else {
        return Decision::Login;
    };
    if route.auth == AuthPolicy::Phone && identity.phone.is_none() {
        return Decision::Deny(DenyReason::PhoneRequired);
    }
    if !route.allow_users.is_empty() && !route.allow_users.contains(&identity.user_id) {
        return Decision::Deny(DenyReason::NotAllowed);
    }
    if !route.allow_phones.is_empty() {
        let listed = identity
            .phone
            .as_ref()
            .is_some_and(|p| route.allow_phones.contains(p));
        if !listed {
            return Decision::Deny(DenyReason::NotAllowed);
        }
    }
    Decision::Allow
}

/// A top-level browser navigation, which gets a 302 to the login page; anything else (XHR,
/// fetch, API clients, non-GET) gets 401 JSON, because a redirect to an HTML page would only
/// confuse it.
///
/// Navigation = GET or HEAD, `Accept` lists `text/html`, no `X-Requested-With`, and
/// `Sec-Fetch-Mode` (when the browser sends it) is `navigate`.
pub fn is_browser_navigation(method: &Method, headers: &HeaderMap) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    if headers.contains_key("x-requested-with") {
        return false;
    }
    if let Some(mode) = headers.get("sec-fetch-mode") {
        if mode.as_bytes() != b"navigate" {
            return false;
        }
    }
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .any(|v| accepts_html(v.as_bytes()))
}

fn accepts_html(accept: &[u8]) -> bool {
    let Ok(accept) = std::str::from_utf8(accept) else {
        return false;
    };
    accept.split(',').any(|item| {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
        });
        media.eq_ignore_ascii_case("text/html") && !refused
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Upstream;
    use crate::identity::{LoginMethod, Phone, UserId};
    use crate::proxy::test_headers::headers;

    fn route(auth: AuthPolicy) -> Route {
        Route {
            name: "r".into(),
            host: None,
            path_prefix: "/".into(),
            upstreams: vec![Upstream {
                name: "127.0.0.1:1".into(),
                addr: "127.0.0.1:1".parse().unwrap(),
            }],
            auth,
            allow_phones: vec![],
            allow_users: vec![],
            connect_timeout_seconds: 5,
            read_timeout_seconds: 60,
        }
    }

    fn who(phone: Option<&str>) -> Identity {
        Identity {
            user_id: UserId::new("u1"),
            openid: None,
            unionid: None,
            phone: phone.map(|p| Phone::parse(p).unwrap()),
            method: LoginMethod::OfficialAccount,
        }
    }

    #[test]
    fn public_passes_everyone() {
        assert_eq!(decide(&route(AuthPolicy::Public), None), Decision::Public);
        assert_eq!(
            decide(&route(AuthPolicy::Public), Some(&who(None))),
            Decision::Public
        );
    }

    #[test]
    fn login_needs_a_session() {
        assert_eq!(decide(&route(AuthPolicy::Login), None), Decision::Login);
        assert_eq!(
            decide(&route(AuthPolicy::Login), Some(&who(None))),
            Decision::Allow
        );
    }

    #[test]
    fn phone_needs_a_bound_phone_and_denies_rather_than_loops() {
        assert_eq!(decide(&route(AuthPolicy::Phone), None), Decision::Login);
        assert_eq!(
            decide(&route(AuthPolicy::Phone), Some(&who(None))),
            Decision::Deny(DenyReason::PhoneRequired)
        );
        assert_eq!(
            decide(&route(AuthPolicy::Phone), Some(&who(Some("13800138000")))),
            Decision::Allow
        );
    }

    #[test]
    fn allow_lists_refuse_the_unlisted() {
        let mut r = route(AuthPolicy::Login);
        r.allow_phones = vec![Phone::parse("13800138000").unwrap()];
        assert_eq!(decide(&r, Some(&who(Some("13800138000")))), Decision::Allow);
        assert_eq!(
            decide(&r, Some(&who(Some("13900139000")))),
            Decision::Deny(DenyReason::NotAllowed)
        );
        assert_eq!(
            decide(&r, Some(&who(None))),
            Decision::Deny(DenyReason::NotAllowed)
        );
        let mut r = route(AuthPolicy::Login);
        r.allow_users = vec![UserId::new("u2")];
        assert_eq!(
            decide(&r, Some(&who(None))),
            Decision::Deny(DenyReason::NotAllowed)
        );
        r.allow_users.push(UserId::new("u1"));
        assert_eq!(decide(&r, Some(&who(None))), Decision::Allow);
    }

    #[test]
    fn navigation_is_a_get_that_wants_html() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(is_browser_navigation(
            &Method::GET,
            &headers(&[("accept", browser)])
        ));
        assert!(is_browser_navigation(
            &Method::HEAD,
            &headers(&[("accept", browser), ("sec-fetch-mode", "navigate")])
        ));
        assert!(!is_browser_navigation(
            &Method::POST,
            &headers(&[("accept", browser)])
        ));
        assert!(!is_browser_navigation(
            &Method::GET,
            &headers(&[("accept", "application/json")])
        ));
        assert!(!is_browser_navigation(
            &Method::GET,
            &headers(&[("accept", "*/*")])
        ));
        assert!(!is_browser_navigation(&Method::GET, &headers(&[])));
        assert!(!is_browser_navigation(
            &Method::GET,
            &headers(&[("accept", browser), ("x-requested-with", "XMLHttpRequest")])
        ));
        assert!(!is_browser_navigation(
            &Method::GET,
            &headers(&[("accept", browser), ("sec-fetch-mode", "cors")])
        ));
        assert!(!is_browser_navigation(
            &Method::GET,
            &headers(&[("accept", "text/html;q=0, application/json")])
        ));
    }
}
