//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the process answers),
//! `/readyz` (the process can serve logins: its dependencies answer) and, when a token is
//! configured, the user API under `/admin/api` (`admin_api.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use prometheus::{Encoder, Registry, TextEncoder};

use super::admin_api::{self, AdminApi};
use super::respond::Reply;

/// What `/readyz` reports: whether the gateway can serve logins, and configuration risks
/// that do not stop it (e.g. a Redis that may evict users). Never contains secrets.
#[derive(Clone, Debug, Default)]
pub struct ReadyReport {
    pub problem: Option<String>,
    pub warnings: Vec<String>,
}

/// Readiness probe; answers at once from the last background check.
pub type ReadyCheck = Arc<dyn Fn() -> ReadyReport + Send + Sync>;

pub struct AdminApp {
    registry: Registry,
    ready: ReadyCheck,
    /// `None` when no API token is configured: `/admin/api` is then 404 like any unknown path.
    api: Option<AdminApi>,
}

impl AdminApp {
    pub fn new(registry: Registry, ready: ReadyCheck, api: Option<AdminApi>) -> Self {
        AdminApp {
            registry,
            ready,
            api,
        }
    }

    /// The response for `path`, without pingora types (testable).
    pub fn answer(&self, path: &str) -> (u16, &'static str, Vec<u8>) {
        match path {
            "/metrics" => {
                let encoder = TextEncoder::new();
                let mut body = Vec::new();
                match encoder.encode(&self.registry.gather(), &mut body) {
                    Ok(()) => (200, "text/plain; version=0.0.4", body),
                    Err(e) => (500, "text/plain", e.to_string().into_bytes()),
                }
            }
            "/healthz" => (200, "application/json", br#"{"status":"ok"}"#.to_vec()),
            "/readyz" => {
                let report = (self.ready)();
                let (status, body) = match report.problem {
                    None => (
                        200,
                        serde_json::json!({"status": "ready", "warnings": report.warnings}),
                    ),
                    Some(reason) => (
                        503,
                        serde_json::json!({
                            "status": "not_ready",
                            "reason": reason,
                            "warnings": report.warnings,
                        }),
                    ),
                };
                (status, "application/json", body.to_string().into_bytes())
            }
            _ => {
                let err = super::respond::GatewayError::Refused {
                    status: 404,
                    code: "not_found",
                    message: "try /metrics, /healthz or /readyz".into(),
                };
                let reply = super::respond::Reply::error(&err, false);
                (reply.status, reply.content_type, reply.body.to_vec())
            }
        }
    }
}

/// Whether `path` is the API's (`/admin/api` or below it).
fn is_api_path(path: &str) -> bool {
    path.strip_prefix(admin_api::PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[async_trait]
impl HttpServerApp for AdminApp {
    async fn process_new_http(
        self: &Arc<Self>,
        mut http: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        match http.read_request().await {
            Ok(true) => {}
            Ok(false) | Err(_) => return None,
        }
        http.set_keepalive(if *shutdown.borrow() { None } else { Some(60) });
        let path = http.req_header().uri.path().to_string();
        let reply = match (&self.api, is_api_path(&path)) {
            (Some(api), true) => api.serve(&mut http).await,
            (None, true) => Some(self.not_found()),
            (_, false) => {
                let (status, content_type, body) = self.answer(&path);
                Some(Reply::text(status, content_type, body))
            }
        };
        if let Some(reply) = reply {
            let written = async {
                let header = reply.response_header()?;
                http.write_response_header(Box::new(header)).await?;
                if !reply.body.is_empty() {
                    http.write_response_body(reply.body.clone(), true).await?;
                }
                Ok::<(), Box<pingora::Error>>(())
            };
            if let Err(e) = written.await {
                tracing::debug!(error = %e, "admin listener: response not written");
                return None;
            }
        }
        let persistent = HttpPersistentSettings::for_session(&http);
        match http.finish().await {
            Ok(stream) => stream.map(|s| ReusedHttpStream::from_reusable_stream(s, persistent)),
            Err(_) => None,
        }
    }
}

impl AdminApp {
    fn not_found(&self) -> Reply {
        let (status, content_type, body) = self.answer("/");
        Reply::text(status, content_type, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_is_json_and_unknown_paths_say_where_to_look() {
        let ready: ReadyCheck = Arc::new(|| ReadyReport {
            problem: Some("store unreachable".into()),
            warnings: vec![],
        });
        let admin = AdminApp::new(Registry::new(), ready, None);
        let (status, kind, body) = admin.answer("/nope");
        assert_eq!((status, kind), (404, "application/json"));
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "not_found");
        assert!(body["message"].as_str().unwrap().contains("/readyz"));
        let (status, _, body) = admin.answer("/readyz");
        assert_eq!(status, 503);
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["reason"], "store unreachable");
        assert_eq!(admin.answer("/healthz").0, 200);
    }

    #[test]
    fn api_paths_are_the_prefix_and_below_only() {
        assert!(is_api_path("/admin/api"));
        assert!(is_api_path("/admin/api/v1/users"));
        assert!(!is_api_path("/admin/apix"));
        assert!(!is_api_path("/metrics"));
    }
}
