//! The dispatcher and the endpoints that need no store, driven without a server: an `App`
//! built from YAML, requests built by hand.

use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};

use super::*;
use crate::config::env::MapEnv;
use crate::identity::{Identity, LoginMethod, Phone, UserId};
use crate::metrics::Metrics;
use crate::session::AssertionSigner;

const YAML: &str = r#"
public_url: "http://gw.test"
session:
  secret: "0123456789abcdef0123456789abcdef-dispatcher"
wechat:
  simulate: true
routes:
  - name: admin
    host: app.test
    path_prefix: /admin
    upstreams: ["127.0.0.1:1"]
    auth: phone
    allow_phones: ["13900139000"]
  - name: app
    host: app.test
    upstreams: ["127.0.0.1:1"]
"#;

fn app() -> App {
    let config = crate::config::from_yaml(YAML, &MapEnv::new()).unwrap();
    let metrics = Metrics::register(&prometheus::Registry::new()).unwrap();
    let (assertions, _) = AssertionSigner::generate(&config.public_url.origin);
    App::build(config, assertions, metrics, None).unwrap()
}

fn alice() -> Identity {
    Identity {
        user_id: UserId::new("u_alice"),
        openid: None,
        unionid: None,
        phone: Some(Phone::parse("13800138000").unwrap()),
        method: LoginMethod::OfficialAccount,
    }
}

struct Req {
    method: Method,
    sub_path: &'static str,
    query: Option<&'static str>,
    headers: HeaderMap,
}

impl Req {
    fn new(method: Method, sub_path: &'static str) -> Req {
        Req {
            method,
            sub_path,
            query: None,
            headers: HeaderMap::new(),
        }
    }
    fn header(mut self, name: &'static str, value: &str) -> Req {
        self.headers
            .append(name, HeaderValue::from_str(value).unwrap());
        self
    }
    fn own(&self) -> OwnRequest<'_> {
        OwnRequest {
            method: &self.method,
            sub_path: self.sub_path,
            query: self.query,
            headers: &self.headers,
            host: "gw.test",
            client: IpAddr::from([127, 0, 0, 1]),
            peer: Some(IpAddr::from([127, 0, 0, 1])),
            now: crate::proxy::app::unix_now(),
            navigation: false,
            body: Bytes::new(),
        }
    }
}

async fn answer(app: &App, req: &Req) -> Reply {
    let own = req.own();
    match Endpoint::parse(&req.method, req.sub_path) {
        Ok(endpoint) => handle(app, endpoint, &own).await,
        Err(m) => miss(m),
    }
}

fn json(reply: &Reply) -> serde_json::Value {
    serde_json::from_slice(&reply.body).unwrap()
}

fn header<'r>(reply: &'r Reply, name: &str) -> Vec<&'r str> {
    reply
        .headers
        .iter()
        .filter(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
        .filter_map(|(_, v)| v.to_str().ok())
        .collect()
}

#[tokio::test]
async fn misses_are_404_and_405_from_one_table() {
    let app = app();
    for (method, path, status, code) in [
        (Method::GET, "/nope", 404, "not_found"),
        (Method::POST, "/me", 405, "method_not_allowed"),
        (Method::GET, "/logout", 405, "method_not_allowed"),
        (Method::DELETE, "/qr/x", 405, "method_not_allowed"),
    ] {
        let r = answer(&app, &Req::new(method.clone(), path)).await;
        assert_eq!(r.status, status, "{method} {path}");
        assert_eq!(json(&r)["error"], code, "{method} {path}");
    }
}

#[tokio::test]
async fn login_endpoints_without_a_login_service_are_unavailable() {
    let app = app();
    for (method, path) in [
        (Method::POST, "/qr"),
        (Method::GET, "/qr/abc"),
        (Method::GET, "/qr/abc.svg"),
        (Method::POST, "/phone/code"),
        (Method::POST, "/session"),
        (Method::POST, "/mp/cancel"),
    ] {
        let r = answer(&app, &Req::new(method.clone(), path)).await;
        assert_eq!(r.status, 503, "{method} {path}");
    }
    // The page, the widget and the keys need none.
    for path in ["/login", "/sdk.js", "/jwks.json"] {
        let r = answer(&app, &Req::new(Method::GET, path)).await;
        assert_eq!(r.status, 200, "{path}");
    }
}

#[tokio::test]
async fn me_and_logout_read_and_end_the_session() {
    let app = app();
    let (token, _) = app.sessions.issue(&alice(), crate::proxy::app::unix_now());
    let cookie = format!("{}={token}", app.sessions.cookie_name());
    let r = answer(&app, &Req::new(Method::GET, "/me")).await;
    assert_eq!(r.status, 401);
    assert_eq!(json(&r)["login_url"], "/.auth/login?rd=/");
    let r = answer(
        &app,
        &Req::new(Method::GET, "/me").header("cookie", &cookie),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(json(&r)["user"]["id"], "u_alice");
    let r = answer(
        &app,
        &Req::new(Method::POST, "/logout").header("cookie", &cookie),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        header(&r, "set-cookie")[0].contains("Max-Age=0"),
        "{:?}",
        r.headers
    );
    let r = answer(
        &app,
        &Req::new(Method::GET, "/me").header("cookie", &cookie),
    )
    .await;
    assert_eq!(r.status, 401, "the session was revoked");
}

#[tokio::test]
async fn verify_decides_with_the_shared_refusal_path() {
    let app = app();
    let (token, _) = app.sessions.issue(&alice(), crate::proxy::app::unix_now());
    let cookie = format!("{}={token}", app.sessions.cookie_name());
    let ask = |url: &str, cookie: Option<&str>| {
        let mut req = Req::new(Method::GET, "/verify").header("x-original-url", url);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req
    };
    let r = answer(&app, &ask("http://app.test/x", None)).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        json(&r)["login_url"],
        "http://gw.test/.auth/login?rd=http%3A//app.test/x"
    );
    let r = answer(&app, &ask("http://app.test/x", Some(&cookie))).await;
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "x-auth-user-id"), ["u_alice"]);
    let r = answer(&app, &ask("http://app.test/admin", Some(&cookie))).await;
    assert_eq!(
        (r.status, json(&r)["error"].as_str()),
        (403, Some("forbidden"))
    );
    let r = answer(&app, &ask("http://elsewhere.test/x", Some(&cookie))).await;
    assert_eq!(
        (r.status, json(&r)["error"].as_str()),
        (403, Some("no_route"))
    );
    // ?redirect=true: a browser navigation is sent to the login page.
    let mut req = ask("http://app.test/x", None).header("accept", "text/html");
    req.query = Some("redirect=true");
    let r = answer(&app, &req).await;
    assert_eq!(r.status, 302);
}
