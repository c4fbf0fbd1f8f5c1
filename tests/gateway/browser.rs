//! A browser for login tests: its own cookie jar (so two browsers are really two), no
//! redirects followed, and the login page's calls as methods.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::harness::Gateway;

pub struct Browser<'g> {
    gw: &'g Gateway,
    cookies: Mutex<BTreeMap<String, String>>,
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl<'g> Browser<'g> {
    pub fn new(gw: &'g Gateway) -> Self {
        Browser {
            gw,
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    /// The same browser talking to another instance (behind a load balancer): a copy of
    /// the cookie jar.
    pub fn at<'h>(&self, other: &'h Gateway) -> Browser<'h> {
        Browser {
            gw: other,
            cookies: Mutex::new(self.cookies.lock().unwrap().clone()),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    /// The binding secret of attempt `id` (cookie `scangate_login_<id>`).
    pub fn binding(&self, id: &str) -> Option<String> {
        self.cookie(&format!("scangate_login_{id}"))
    }

    /// Whether the jar holds any attempt's binding cookie.
    pub fn has_any_binding(&self) -> bool {
        self.cookies
            .lock()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("scangate_login_"))
    }

    fn keep_cookies(&self, resp: &reqwest::Response) {
        let mut jar = self.cookies.lock().unwrap();
        for value in resp.headers().get_all("set-cookie") {
            let value = value.to_str().unwrap();
            let pair = value.split(';').next().unwrap();
            let (name, val) = pair.split_once('=').unwrap();
            if val.is_empty() || value.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_string(), val.to_string());
            }
        }
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&resp);
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.gw.get(path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(self.gw.client.post(self.gw.url(path)).json(&body))
            .await
    }

    /// `POST /.auth/qr`: the attempt id.
    pub async fn start(&self, rd: &str) -> String {
        let a = self.post("/.auth/qr", json!({"rd": rd})).await;
        assert_eq!(a.status, 201, "{}", a.body);
        a.body["id"].as_str().unwrap().to_string()
    }

    pub async fn poll(&self, id: &str, since: &str, wait: u64) -> Answer {
        self.get(&format!("/.auth/qr/{id}?since={since}&wait={wait}"))
            .await
    }

    /// The WeChat ticket of this browser's Official Account attempt `id` (what the code
    /// encodes, so a simulated phone can scan it).
    pub async fn wechat_ticket(&self, id: &str) -> String {
        let secret = self.binding(id).unwrap();
        let secret = scangate::identity::BrowserSecret::parse(&secret).unwrap();
        let id = scangate::identity::AttemptId::parse(id).unwrap();
        let login = self.gw.app().login.as_ref().unwrap();
        login
            .service
            .wechat_ticket(&id, &secret, crate::harness::now())
            .await
            .unwrap()
    }

    /// A GET through the gateway with this browser's cookies, answered by the echo app:
    /// what the app saw.
    pub async fn app_sees(&self, path: &str) -> crate::harness::Seen {
        let resp = self
            .gw
            .get(path)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        crate::harness::seen(resp).await
    }

    /// The simulator's phone scans this attempt's code (`new` or `returning`).
    pub async fn demo_scan(&self, id: &str, user: &str) -> Answer {
        self.post("/.auth/demo/scan", json!({"id": id, "user": user}))
            .await
    }

    /// Sends a code and returns it (the simulator's demo shows it).
    pub async fn send_code(&self, id: &str, phone: &str) -> String {
        let a = self
            .post("/.auth/phone/code", json!({"id": id, "phone": phone}))
            .await;
        assert_eq!(a.status, 202, "{}", a.body);
        a.body["demo_code"].as_str().unwrap().to_string()
    }

    pub async fn bind(&self, id: &str, phone: &str, code: &str) -> Answer {
        self.post(
            "/.auth/phone/bind",
            json!({"id": id, "phone": phone, "code": code}),
        )
        .await
    }

    pub async fn exchange(&self, ticket: &str) -> Answer {
        self.post("/.auth/session", json!({"ticket": ticket})).await
    }

    /// A whole first login of a new user, ending signed in. Returns the `/.auth/session` body.
    pub async fn sign_up(&self, phone: &str) -> Value {
        let id = self.start("/home").await;
        assert_eq!(self.demo_scan(&id, "new").await.status, 200);
        let polled = self.poll(&id, "waiting", 5).await;
        assert_eq!(polled.body["status"], "need_phone", "{}", polled.body);
        let code = self.send_code(&id, phone).await;
        let bound = self.bind(&id, phone, &code).await;
        assert_eq!(bound.status, 200, "{}", bound.body);
        let ticket = bound.body["ticket"].as_str().unwrap().to_string();
        let session = self.exchange(&ticket).await;
        assert_eq!(session.status, 200, "{}", session.body);
        session.body
    }
}
