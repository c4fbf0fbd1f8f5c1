//! The gateway's own endpoints under `auth_path`, as a type: `(method, sub_path)` is parsed
//! once into an [`Endpoint`], which knows whether it may wait (long-poll), whether it reads
//! a body, who calls it (a browser page, WeChat's servers, the Mini Program), and whether it
//! needs the login parts. 404 and 405 come from the same table ([`Miss`]).

use http::Method;

/// Which image of an attempt: the Official Account code we draw, or the Mini Program code
/// WeChat made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    Svg,
    Png,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `GET /login`: the hosted page.
    LoginPage,
    /// `GET /sdk.js`: the widget.
    Sdk,
    /// `GET /check`: the cookie check after a login.
    CookieCheck,
    /// `GET|POST /wechat/callback`: the Official Account's server URL.
    WechatCallback,
    /// `GET /wechat/oauth/start`, `/wechat/oauth/callback`: sign-in through WeChat's own
    /// pages (inside WeChat, website).
    OAuthStart,
    OAuthCallback,
    /// `POST /qr`: start an attempt.
    Start,
    /// `GET /qr/{id}`: the long-poll.
    Poll {
        id: &'a str,
    },
    /// `GET /qr/{id}.svg|.png`.
    QrImage {
        id: &'a str,
        kind: ImageKind,
    },
    /// `POST /phone/code`, `/phone/bind`, `/phone/skip`.
    PhoneCode,
    PhoneBind,
    PhoneSkip,
    /// `POST /sms/code`, `/sms/login`: SMS login.
    SmsCode,
    SmsLogin,
    /// `POST /session`: ticket for session.
    Session,
    /// `POST /demo/scan` (the simulator).
    DemoScan,
    /// `POST /mp/scanned`, `/mp/confirm`, `/mp/cancel`: the Mini Program page's calls.
    MpScanned,
    MpConfirm,
    MpCancel,
    /// `GET|OPTIONS /token?aud=`: a bearer token for another backend (and its CORS
    /// preflight).
    Token,
    /// `GET /me`, `POST /logout`, `GET /verify`, `GET /jwks.json`.
    Me,
    Logout,
    Verify,
    Jwks,
}

/// Why `(method, sub_path)` names no endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    NotFound,
    MethodNotAllowed,
}

/// Who may call an endpoint: what its requests may carry and what checks apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A page in the browser (cookies; cross-site posts refused).
    Browser,
    /// WeChat's servers (signed pushes; no cookies).
    Wechat,
    /// The Mini Program on a phone (no cookies; rate-limited per client).
    MiniProgram,
    /// Anyone: reads, forward-auth proxies, key fetchers.
    Any,
}

/// Which methods an endpoint answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verbs {
    Get,
    Post,
    GetOrPost,
    /// GET (not HEAD: an answer without its body would mint a token for nothing), and
    /// OPTIONS for a cross-origin page's preflight.
    GetOrPreflight,
}

impl Verbs {
    fn allow(self, method: &Method) -> bool {
        let get = method == Method::GET || method == Method::HEAD;
        let post = method == Method::POST;
        match self {
            Verbs::Get => get,
            Verbs::Post => post,
            Verbs::GetOrPost => get || post,
            Verbs::GetOrPreflight => method == Method::GET || method == Method::OPTIONS,
        }
    }
}

/// The fixed paths: (sub_path, methods, endpoint).
const FIXED: &[(&str, Verbs, Endpoint<'static>)] = &[
    ("/login", Verbs::Get, Endpoint::LoginPage),
    ("/sdk.js", Verbs::Get, Endpoint::Sdk),
    ("/check", Verbs::Get, Endpoint::CookieCheck),
    (
        "/wechat/callback",
        Verbs::GetOrPost,
        Endpoint::WechatCallback,
    ),
    ("/wechat/oauth/start", Verbs::Get, Endpoint::OAuthStart),
    (
        "/wechat/oauth/callback",
        Verbs::Get,
        Endpoint::OAuthCallback,
    ),
    ("/qr", Verbs::Post, Endpoint::Start),
    ("/phone/code", Verbs::Post, Endpoint::PhoneCode),
    ("/phone/bind", Verbs::Post, Endpoint::PhoneBind),
    ("/phone/skip", Verbs::Post, Endpoint::PhoneSkip),
    ("/sms/code", Verbs::Post, Endpoint::SmsCode),
    ("/sms/login", Verbs::Post, Endpoint::SmsLogin),
    ("/session", Verbs::Post, Endpoint::Session),
    ("/demo/scan", Verbs::Post, Endpoint::DemoScan),
    ("/mp/scanned", Verbs::Post, Endpoint::MpScanned),
    ("/mp/confirm", Verbs::Post, Endpoint::MpConfirm),
    ("/mp/cancel", Verbs::Post, Endpoint::MpCancel),
    ("/me", Verbs::Get, Endpoint::Me),
    ("/logout", Verbs::Post, Endpoint::Logout),
    ("/verify", Verbs::Get, Endpoint::Verify),
    ("/jwks.json", Verbs::Get, Endpoint::Jwks),
    ("/token", Verbs::GetOrPreflight, Endpoint::Token),
];

impl<'a> Endpoint<'a> {
    /// The endpoint `method` and `sub_path` (the normalised path below `auth_path`) name.
    pub fn parse(method: &Method, sub_path: &'a str) -> Result<Endpoint<'a>, Miss> {
        if let Some((_, verbs, endpoint)) = FIXED.iter().find(|(p, _, _)| *p == sub_path) {
            return if verbs.allow(method) {
                Ok(*endpoint)
            } else {
                Err(Miss::MethodNotAllowed)
            };
        }
        let Some(rest) = sub_path.strip_prefix("/qr/") else {
            return Err(Miss::NotFound);
        };
        if !Verbs::Get.allow(method) {
            return Err(Miss::MethodNotAllowed);
        }
        Ok(if let Some(id) = rest.strip_suffix(".svg") {
            Endpoint::QrImage {
                id,
                kind: ImageKind::Svg,
            }
        } else if let Some(id) = rest.strip_suffix(".png") {
            Endpoint::QrImage {
                id,
                kind: ImageKind::Png,
            }
        } else {
            Endpoint::Poll { id: rest }
        })
    }

    pub fn caller(&self) -> Caller {
        match self {
            Endpoint::WechatCallback => Caller::Wechat,
            Endpoint::MpScanned | Endpoint::MpConfirm | Endpoint::MpCancel => Caller::MiniProgram,
            Endpoint::Start
            | Endpoint::Poll { .. }
            | Endpoint::QrImage { .. }
            | Endpoint::PhoneCode
            | Endpoint::PhoneBind
            | Endpoint::PhoneSkip
            | Endpoint::SmsCode
            | Endpoint::SmsLogin
            | Endpoint::Session
            | Endpoint::DemoScan
            | Endpoint::Logout
            | Endpoint::LoginPage
            | Endpoint::CookieCheck
            | Endpoint::OAuthStart
            | Endpoint::OAuthCallback
            | Endpoint::Me => Caller::Browser,
            // Pages of other origins call `/token`: it checks their origin itself.
            Endpoint::Sdk | Endpoint::Verify | Endpoint::Jwks | Endpoint::Token => Caller::Any,
        }
    }

    /// Whether the request's body is read (only POSTs take one).
    pub fn takes_body(&self, method: &Method) -> bool {
        method == Method::POST
    }

    /// Whether this request may wait (a long-poll with `wait` > 0): the gateway then
    /// watches its connection meanwhile.
    pub fn may_wait(&self, method: &Method, query: Option<&str>) -> bool {
        matches!(self, Endpoint::Poll { id } if !id.is_empty())
            && method == Method::GET
            && !super::login_endpoints::requested_wait(query).is_zero()
    }

    /// Whether the endpoint needs the login parts (store, login service).
    pub fn needs_login(&self) -> bool {
        !matches!(
            self,
            Endpoint::LoginPage
                | Endpoint::Sdk
                | Endpoint::CookieCheck
                | Endpoint::WechatCallback
                | Endpoint::Me
                | Endpoint::Logout
                | Endpoint::Verify
                | Endpoint::Jwks
                | Endpoint::Token
        )
    }

    /// The metric and audit label of the endpoint: its path pattern.
    pub fn label(&self) -> &'static str {
        match self {
            Endpoint::Poll { .. } => "/qr/{id}",
            Endpoint::QrImage { .. } => "/qr/{id}.image",
            other => FIXED
                .iter()
                .find(|(_, _, e)| e == other)
                .map_or("-", |(p, _, _)| p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_parses_from_its_path_and_method() {
        let (get, head, post, put) = (Method::GET, Method::HEAD, Method::POST, Method::PUT);
        for (method, path, want) in [
            (&get, "/login", Ok(Endpoint::LoginPage)),
            (&head, "/login", Ok(Endpoint::LoginPage)),
            (&get, "/sdk.js", Ok(Endpoint::Sdk)),
            (&get, "/check", Ok(Endpoint::CookieCheck)),
            (&get, "/wechat/callback", Ok(Endpoint::WechatCallback)),
            (&post, "/wechat/callback", Ok(Endpoint::WechatCallback)),
            (&get, "/wechat/oauth/start", Ok(Endpoint::OAuthStart)),
            (&head, "/wechat/oauth/callback", Ok(Endpoint::OAuthCallback)),
            (&post, "/wechat/oauth/start", Err(Miss::MethodNotAllowed)),
            (&get, "/wechat/oauth", Err(Miss::NotFound)),
            (&post, "/qr", Ok(Endpoint::Start)),
            (&get, "/qr/abc", Ok(Endpoint::Poll { id: "abc" })),
            (&get, "/qr/", Ok(Endpoint::Poll { id: "" })),
            (
                &get,
                "/qr/abc.svg",
                Ok(Endpoint::QrImage {
                    id: "abc",
                    kind: ImageKind::Svg,
                }),
            ),
            (
                &head,
                "/qr/abc.png",
                Ok(Endpoint::QrImage {
                    id: "abc",
                    kind: ImageKind::Png,
                }),
            ),
            (&post, "/phone/code", Ok(Endpoint::PhoneCode)),
            (&post, "/phone/bind", Ok(Endpoint::PhoneBind)),
            (&post, "/phone/skip", Ok(Endpoint::PhoneSkip)),
            (&post, "/sms/code", Ok(Endpoint::SmsCode)),
            (&post, "/sms/login", Ok(Endpoint::SmsLogin)),
            (&get, "/sms/login", Err(Miss::MethodNotAllowed)),
            (&post, "/session", Ok(Endpoint::Session)),
            (&post, "/demo/scan", Ok(Endpoint::DemoScan)),
            (&post, "/mp/scanned", Ok(Endpoint::MpScanned)),
            (&post, "/mp/confirm", Ok(Endpoint::MpConfirm)),
            (&post, "/mp/cancel", Ok(Endpoint::MpCancel)),
            (&get, "/me", Ok(Endpoint::Me)),
            (&post, "/logout", Ok(Endpoint::Logout)),
            (&get, "/verify", Ok(Endpoint::Verify)),
            (&get, "/jwks.json", Ok(Endpoint::Jwks)),
            (&get, "/token", Ok(Endpoint::Token)),
            (&Method::OPTIONS, "/token", Ok(Endpoint::Token)),
            (&post, "/token", Err(Miss::MethodNotAllowed)),
            (&head, "/token", Err(Miss::MethodNotAllowed)),
            (&Method::OPTIONS, "/me", Err(Miss::MethodNotAllowed)),
            // 405: a known path, another method.
            (&get, "/qr", Err(Miss::MethodNotAllowed)),
            (&post, "/qr/abc", Err(Miss::MethodNotAllowed)),
            (&get, "/logout", Err(Miss::MethodNotAllowed)),
            (&post, "/verify", Err(Miss::MethodNotAllowed)),
            (&put, "/wechat/callback", Err(Miss::MethodNotAllowed)),
            (&get, "/phone/code", Err(Miss::MethodNotAllowed)),
            // 404: no such path.
            (&get, "", Err(Miss::NotFound)),
            (&get, "/", Err(Miss::NotFound)),
            (&get, "/qrx", Err(Miss::NotFound)),
            (&post, "/mp", Err(Miss::NotFound)),
            (&get, "/LOGIN", Err(Miss::NotFound)),
        ] {
            assert_eq!(Endpoint::parse(method, path), want, "{method} {path}");
        }
    }

    #[test]
    fn callers_are_known_for_every_endpoint() {
        let post = Method::POST;
        let caller = |p| Endpoint::parse(&post, p).unwrap().caller();
        assert_eq!(caller("/wechat/callback"), Caller::Wechat);
        assert_eq!(caller("/mp/confirm"), Caller::MiniProgram);
        assert_eq!(caller("/logout"), Caller::Browser);
        assert_eq!(caller("/qr"), Caller::Browser);
        assert_eq!(caller("/sms/code"), Caller::Browser);
        assert_eq!(caller("/sms/login"), Caller::Browser);
        assert_eq!(
            Endpoint::parse(&Method::GET, "/verify").unwrap().caller(),
            Caller::Any
        );
    }

    #[test]
    fn only_a_long_poll_that_asks_to_wait_may_wait() {
        let get = Method::GET;
        let waits = |method: &Method, path: &str, query: Option<&str>| {
            Endpoint::parse(method, path).is_ok_and(|e| e.may_wait(method, query))
        };
        assert!(waits(&get, "/qr/abc", Some("since=waiting&wait=25")));
        assert!(
            waits(&get, "/qr/abc", Some("wait=99")),
            "capped, still waits"
        );
        for (method, path, query) in [
            (&get, "/qr/abc", None),
            (&get, "/qr/abc", Some("wait=0")),
            (&get, "/qr/abc", Some("wait=soon")),
            (&get, "/qr/abc.svg", Some("wait=25")),
            (&get, "/qr/abc.png", Some("wait=25")),
            (&get, "/qr/", Some("wait=25")),
            (&get, "/qr", Some("wait=25")),
            (&get, "/me", Some("wait=25")),
            (&Method::POST, "/qr/abc", Some("wait=25")),
            (&Method::HEAD, "/qr/abc", Some("wait=25")),
        ] {
            assert!(!waits(method, path, query), "{method} {path} {query:?}");
        }
    }

    #[test]
    fn labels_are_path_patterns() {
        let get = Method::GET;
        assert_eq!(Endpoint::parse(&get, "/qr/x").unwrap().label(), "/qr/{id}");
        assert_eq!(Endpoint::parse(&get, "/me").unwrap().label(), "/me");
        assert_eq!(
            Endpoint::parse(&Method::POST, "/phone/code")
                .unwrap()
                .label(),
            "/phone/code"
        );
    }
}
