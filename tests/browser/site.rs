//! What the browser visits: a gateway in demo mode (the simulator plays WeChat and shows SMS
//! codes) in front of a small app that echoes the request it got as JSON, and serves at
//! `/embed` a page of its own that embeds the login widget.

use std::net::SocketAddr;

use axum::http::{HeaderMap, Method, Uri};
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::harness::Gateway;

/// The app behind the gateway, on a loopback port; stopped when dropped.
pub struct App {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every request but `/embed`: `{"upstream", "method", "target", "headers": [[name, value]]}`,
/// the shape of the gateway suite's echo (so `harness::Seen` reads it).
async fn echo(method: Method, uri: Uri, headers: HeaderMap) -> Json<Value> {
    let headers: Vec<Value> = headers
        .iter()
        .map(|(k, v)| json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect();
    Json(json!({
        "upstream": "app",
        "method": method.as_str(),
        "target": uri.to_string(),
        "headers": headers,
    }))
}

/// A page of the app (a public route) with the widget mounted the way the README shows, and
/// the user the gateway said it is for (none on a public route).
async fn embed(headers: HeaderMap) -> Html<String> {
    let user = headers
        .get("x-auth-user-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("anonymous");
    Html(format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>App page</title></head>
<body>
<h1>Our app</h1>
<p id="who">{user}</p>
<div id="login"></div>
<script src="/.auth/sdk.js"></script>
<script>
  window.sgStatuses = [];
  window.sgWidget = ScanGate.mount(document.getElementById("login"), {{
    rd: "/embed", demo: true,
    onStatus: (s) => window.sgStatuses.push(s),
  }});
</script>
</body></html>
"#
    ))
}

impl App {
    pub async fn start() -> App {
        let router = Router::new().route("/embed", get(embed)).fallback(echo);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("bound");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        App { addr, task }
    }
}

/// The routes: `/embed` public, everything else behind the login.
pub fn routes(app: SocketAddr) -> String {
    format!(
        "routes:\n  - name: embed\n    path_prefix: /embed\n    upstreams: [\"{app}\"]\n    auth: public\n  \
         - name: app\n    upstreams: [\"{app}\"]\n    auth: login\n"
    )
}

/// An Official Account section for the simulator, so a test can shorten its code lifetime
/// (validation keeps `qr_expire_seconds` at 60 s or more; `tweak` goes under that).
pub const OFFICIAL_ACCOUNT: &str = "wechat:\n  simulate: true\n  official_account:\n    \
    app_id: wx1234567890abcdef\n    app_secret: s\n    token: tok\n    qr_expire_seconds: 60\n";

/// A gateway and its app. A test that fails keeps both running until its screenshot.
pub struct Site {
    gw: Option<Gateway>,
    app: Option<App>,
}

impl Drop for Site {
    fn drop(&mut self) {
        if std::thread::panicking() {
            crate::driver::bury(Box::new((self.gw.take(), self.app.take())));
        }
    }
}

impl Site {
    /// A demo gateway with `extra` top-level YAML (a `login:` section, say).
    pub async fn start(extra: &str) -> Site {
        Self::start_with(extra, |_| {}).await
    }

    pub async fn start_with(extra: &str, tweak: impl Fn(&mut scangate::config::Config)) -> Site {
        let app = App::start().await;
        let gw = Gateway::start_with(&format!("{extra}\n{}", routes(app.addr)), tweak).await;
        Site {
            gw: Some(gw),
            app: Some(app),
        }
    }

    /// A gateway whose QR codes live `seconds`.
    pub async fn with_qr_lifetime(seconds: u32) -> Site {
        Self::start_with(OFFICIAL_ACCOUNT, move |c| {
            if let Some(oa) = c.wechat.official_account.as_mut() {
                oa.qr_expire_seconds = seconds;
            }
        })
        .await
    }

    pub fn gw(&self) -> &Gateway {
        self.gw.as_ref().expect("the gateway runs")
    }

    /// The gateway and the app, for a test that stops the gateway itself.
    pub fn into_parts(mut self) -> (Gateway, App) {
        (
            self.gw.take().expect("the gateway runs"),
            self.app.take().expect("the app runs"),
        )
    }

    pub fn url(&self, path: &str) -> String {
        self.gw().url(path)
    }

    /// The hosted login page for `rd`.
    pub fn login_url(&self, rd: &str) -> String {
        let rd: String = form_urlencoded::byte_serialize(rd.as_bytes()).collect();
        self.url(&format!("/.auth/login?rd={rd}"))
    }
}
