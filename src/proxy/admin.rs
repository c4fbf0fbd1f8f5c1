//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the process answers) and
//! `/readyz` (the process can serve logins: its dependencies answer).

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use prometheus::{Encoder, Registry, TextEncoder};

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
}

impl AdminApp {
    pub fn new(registry: Registry, ready: ReadyCheck) -> Self {
        AdminApp { registry, ready }
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
            _ => (
                404,
                "application/json",
                br#"{"error":"not_found","message":"try /metrics, /healthz or /readyz"}"#.to_vec(),
            ),
        }
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let (status, content_type, body) = self.answer(&path);
        let len = body.len();
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::CONTENT_LENGTH, len)
            .header(http::header::CACHE_CONTROL, "no-store")
            .body(body)
            .unwrap_or_else(|_| Response::new(Vec::new()))
    }
}
