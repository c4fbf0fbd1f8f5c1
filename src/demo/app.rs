//! The demo app `scangate demo` puts behind the gateway: an unmodified "existing web app"
//! that shows the identity headers it received, so a newcomer sees what their app would.

use std::net::SocketAddr;

use axum::http::{HeaderMap, Uri};
use axum::response::Html;
use axum::Router;
use tokio::net::TcpListener;

/// Serves the demo app on `127.0.0.1:0`; returns its address. Runs until the runtime ends.
pub async fn start() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new().fallback(show);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "demo app stopped");
        }
    });
    Ok(addr)
}

async fn show(headers: HeaderMap, uri: Uri) -> Html<String> {
    let mut identity_rows = String::new();
    let mut other_rows = String::new();
    for (name, value) in &headers {
        let value = value.to_str().unwrap_or("(not text)");
        let row = format!(
            "<tr><th>{}</th><td><code>{}</code></td></tr>",
            crate::pages::escape_html(name.as_str()),
            crate::pages::escape_html(value)
        );
        if name.as_str().starts_with("x-auth-") {
            identity_rows.push_str(&row);
        } else {
            other_rows.push_str(&row);
        }
    }
    let signed_in = !identity_rows.is_empty();
    let intro = if signed_in {
        "You are signed in. These headers were added by scangate; the app trusts them because \
         scangate removes any a client sends."
    } else {
        "This page is public: no identity headers were sent. Open <a href=\"/\">the app</a> \
         to be asked to sign in."
    };
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Demo app</title>
<style>body{{font-family:system-ui,sans-serif;max-width:54rem;margin:2rem auto;padding:0 1rem;color:#222}}
table{{border-collapse:collapse;width:100%;margin:1rem 0}}th,td{{text-align:left;padding:.35rem .5rem;
border-bottom:1px solid #eee;vertical-align:top}}th{{width:14rem;font-weight:600}}
code{{word-break:break-all;font-size:.85rem}}.id th{{color:#0a7d32}}button{{font-size:1rem;padding:.4rem .9rem}}</style>
</head><body><h1>Demo app</h1><p>Path <code>{path}</code>. {intro}</p>
<h2>Identity headers</h2><table class="id">{identity}</table>
<form method="post" action="/.auth/logout"><button>Sign out</button></form>
<h2>Other request headers</h2><table>{other}</table></body></html>"#,
        path = crate::pages::escape_html(&uri.to_string()),
        identity = if signed_in {
            identity_rows
        } else {
            "<tr><td>none</td></tr>".into()
        },
        other = other_rows,
    ))
}
