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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_is_json_and_unknown_paths_say_where_to_look() {
        let ready: ReadyCheck = Arc::new(|| ReadyReport {
            problem: Some("store unreachable".into()),
            warnings: vec![],
        });
        let admin = AdminApp::new(Registry::new(), ready);
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
}
