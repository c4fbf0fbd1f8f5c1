//! The simulated phone running our Mini Program page (`examples/miniprogram`): the three POSTs
//! the page sends to the gateway after a scan, exactly as the page sends them.

use std::time::Duration;

use serde_json::{json, Value};

/// What `wx.request` sends as the user agent from inside a Mini Program (abridged).
const USER_AGENT: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800322c) \
     NetType/WIFI Language/zh_CN miniProgram";

/// Our Mini Program page on a phone, pointed at a gateway.
#[derive(Debug, Clone)]
pub struct MpPage {
    http: reqwest::Client,
    base: String,
}

impl MpPage {
    /// `gateway_base_url` like `http://127.0.0.1:8080`, `auth_path` like `/.auth`; requests go
    /// to `{gateway_base_url}{auth_path}/mp/...` (trailing slashes ignored).
    pub fn new(gateway_base_url: &str, auth_path: &str) -> Self {
        let http = reqwest::Client::builder()
            // wx.request's default timeout is 60 s; tests want an answer sooner.
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .unwrap_or_default();
        let gateway = gateway_base_url.trim_end_matches('/');
        let base = match auth_path.trim_matches('/') {
            "" => gateway.to_owned(),
            path => format!("{gateway}/{path}"),
        };
        MpPage { http, base }
    }

    /// The page opened with `scene` (`POST .../mp/scanned {"scene"}`).
    pub async fn scanned(&self, scene: &str) -> (u16, Value) {
        self.post("scanned", json!({ "scene": scene })).await
    }

    /// The user tapped "confirm" (`POST .../mp/confirm {"scene","code","phone_code"?}`):
    /// `js_code` from `wx.login`, `phone_code` from the phone-number button when the user
    /// allowed it.
    pub async fn confirm(
        &self,
        scene: &str,
        js_code: &str,
        phone_code: Option<&str>,
    ) -> (u16, Value) {
        let mut body = json!({ "scene": scene, "code": js_code });
        if let (Some(phone_code), Some(fields)) = (phone_code, body.as_object_mut()) {
            fields.insert("phone_code".into(), Value::from(phone_code));
        }
        self.post("confirm", body).await
    }

    /// The user tapped "cancel" (`POST .../mp/cancel {"scene"}`).
    pub async fn cancel(&self, scene: &str) -> (u16, Value) {
        self.post("cancel", json!({ "scene": scene })).await
    }

    /// Status and JSON answer. A body that is not JSON comes back as a JSON string (empty =
    /// null); a request that failed as status 0 and `{"error": <reason>}`.
    async fn post(&self, action: &str, body: Value) -> (u16, Value) {
        let url = format!("{}/mp/{action}", self.base);
        let response = match self.http.post(url).json(&body).send().await {
            Ok(response) => response,
            Err(e) => return (0, json!({ "error": e.without_url().to_string() })),
        };
        let status = response.status().as_u16();
        match response.text().await {
            Ok(text) if text.is_empty() => (status, Value::Null),
            Ok(text) => (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            ),
            Err(e) => (0, json!({ "error": e.without_url().to_string() })),
        }
    }
}
