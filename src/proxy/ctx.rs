//! Per-request state shared between the pingora phases of one request.

use std::sync::Arc;
use std::time::Instant;

use super::app::{InFlight, RouteRuntime, Routing};
use super::headers::Peer;
use crate::session::Verified;

/// The route a request was matched to, in the routes as they were when it started (a reload
/// may swap them meanwhile).
#[derive(Clone)]
pub struct RouteRef {
    routing: Arc<Routing>,
    index: usize,
}

impl RouteRef {
    /// `index` must be a route of `routing` (as [`Routing::lookup`] returns).
    pub fn new(routing: Arc<Routing>, index: usize) -> Option<RouteRef> {
        (index < routing.routes.len()).then_some(RouteRef { routing, index })
    }

    pub fn runtime(&self) -> &RouteRuntime {
        &self.routing.routes[self.index]
    }
}

/// What kind of request this turned out to be, for metrics and the access log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Handled {
    /// Not decided yet (the request failed before routing).
    #[default]
    Unknown,
    /// An own endpoint under `auth_path`.
    Own,
    /// Matched a route and was answered by the gateway (302/401/403).
    Refused,
    /// Matched a route and went to the upstream.
    Proxied,
    /// Matched no route, or was refused before routing (bad path).
    Unrouted,
}

pub struct RequestCtx {
    pub start: Instant,
    pub handled: Handled,
    /// The route chosen, once one is.
    pub route: Option<RouteRef>,
    pub peer: Option<Peer>,
    /// The host routes were matched by: lower-case, without port or trailing dot.
    pub host: String,
    /// The `Host` to send upstream, when the client's spelling of it differs from the host
    /// the decision was made on (or the client sent none).
    pub upstream_host: Option<String>,
    /// The normalised path, when it differs from what the client sent: the upstream gets
    /// exactly the path the route was chosen by.
    pub rewritten_target: Option<String>,
    /// The session of a signed-in user on a request that goes upstream (its identity,
    /// claims, header values, and a sliding refresh to send back).
    pub session: Option<Verified>,
    /// Status of a response the gateway wrote itself.
    pub own_status: u16,
    pub upstream_start: Option<Instant>,
    pub upstream_header_at: Option<Instant>,
    pub connect_tries: usize,
    pub upstream_failed: bool,
    /// Counts this request in flight while it lives.
    pub in_flight: Option<InFlight>,
}

impl RequestCtx {
    pub fn new() -> Self {
        RequestCtx {
            start: Instant::now(),
            handled: Handled::Unknown,
            route: None,
            peer: None,
            host: String::new(),
            upstream_host: None,
            rewritten_target: None,
            session: None,
            own_status: 0,
            upstream_start: None,
            upstream_header_at: None,
            connect_tries: 0,
            upstream_failed: false,
            in_flight: None,
        }
    }
}

impl Default for RequestCtx {
    fn default() -> Self {
        Self::new()
    }
}
