//! The pingora edge: the only module (with `server.rs`) that imports pingora.
//!
//! [`Gateway`] implements `ProxyHttp`; each phase is a few lines that delegate to the pure
//! parts beside it: `path` (normalisation), `router`, `gate`, `headers`, `endpoints` and
//! `respond` (the one place that writes the gateway's own responses).

pub mod admin;
pub mod admin_api;
pub mod app;
mod callback;
mod callback_source;
pub mod client_ip;
pub mod cookie_check;
pub mod csrf;
pub mod ctx;
pub mod device;
pub mod endpoint;
pub mod endpoints;
pub mod forward;
pub mod forward_auth;
pub mod framing;
pub mod gate;
pub mod header_deadline;
pub mod headers;
pub mod host;
pub mod in_wechat;
mod keepalive;
pub mod log_bridge;
mod login_endpoints;
mod oauth_endpoints;
pub mod own_request;
pub mod path;
mod pingora_answers;
pub mod redirect;
pub mod resolve;
pub mod respond;
pub mod router;
mod session_endpoints;
mod sms_endpoints;
#[cfg(test)]
mod test_headers;
mod token;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::Method;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType};

use app::unix_now;
pub use app::App;
use ctx::{Handled, RequestCtx, RouteRef};
use endpoint::{Caller, Endpoint};
use gate::Decision;
use own_request::{OwnRequest, MAX_BODY_BYTES};
use respond::{GatewayError, Reply};
use router::RouteLookup;

/// The public-listener service: own endpoints, the gate, and the proxy to the routes'
/// upstreams.
pub struct Gateway {
    app: Arc<App>,
}

impl Gateway {
    pub fn new(app: Arc<App>) -> Self {
        Gateway { app }
    }
}

/// How long an own endpoint waits for the next piece of a request body, and for all of it.
/// Our bodies are a few hundred bytes of JSON: a client that trickles them is holding a
/// worker's connection, not uploading.
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_TOTAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an own endpoint's body was not read.
enum BodyError {
    TooLarge,
    TimedOut,
    Read(Box<Error>),
}

/// Reads a request body of at most `limit` bytes, each piece within [`BODY_IDLE_TIMEOUT`]
/// and the whole within [`BODY_TOTAL_TIMEOUT`].
async fn read_body(session: &mut Session, limit: usize) -> Result<Bytes, BodyError> {
    let deadline = tokio::time::Instant::now() + BODY_TOTAL_TIMEOUT;
    let mut body = BytesMut::new();
    loop {
        let wait =
            BODY_IDLE_TIMEOUT.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        let read = session.as_downstream_mut().read_request_body();
        let chunk = match tokio::time::timeout(wait, read).await {
            Err(_) => return Err(BodyError::TimedOut),
            Ok(Err(e)) => return Err(BodyError::Read(e)),
            Ok(Ok(None)) => return Ok(body.freeze()),
            Ok(Ok(Some(chunk))) => chunk,
        };
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
}

impl Gateway {
    /// Writes a reply of ours and records its status for the logging phase.
    async fn reply(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        reply: Reply,
    ) -> pingora::Result<bool> {
        ctx.own_status = reply.status;
        let head = session.req_header().method == Method::HEAD;
        respond::write(session, reply, head).await?;
        Ok(true)
    }

    async fn own_endpoint(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        sub_path: String,
        navigation: bool,
    ) -> pingora::Result<bool> {
        ctx.handled = Handled::Own;
        let method = session.req_header().method.clone();
        let endpoint = match Endpoint::parse(&method, &sub_path) {
            Ok(endpoint) => endpoint,
            Err(miss) => return self.reply(session, ctx, endpoints::miss(miss)).await,
        };
        {
            let req = session.req_header();
            let routing = self.app.routing();
            let own_host = ctx.host.as_str();
            let from_pages = endpoint.caller() == Caller::Browser;
            if from_pages
                && csrf::is_cross_site(&method, &req.headers, |h| {
                    h == own_host || routing.serves_host(h)
                })
            {
                let err = GatewayError::Refused {
                    status: 403,
                    code: "cross_site",
                    message: "This request came from another site's page and was refused.".into(),
                };
                let reply = Reply::error(&err, navigation);
                return self.reply(session, ctx, reply).await;
            }
        }
        let body = if endpoint.takes_body(&method) {
            match read_body(session, MAX_BODY_BYTES).await {
                Ok(body) => body,
                // A client that hangs up mid-body is the client's fault, not a 500 of ours.
                Err(BodyError::Read(e)) => return Err(e.into_down()),
                Err(BodyError::TooLarge) => {
                    let reply = Reply::error(&GatewayError::PayloadTooLarge, false);
                    return self.reply(session, ctx, reply).await;
                }
                Err(BodyError::TimedOut) => {
                    // The rest of the body may still come: this connection cannot be reused.
                    session.as_downstream_mut().set_keepalive(None);
                    let err = GatewayError::Refused {
                        status: 408,
                        code: "request_timeout",
                        message: "The request body did not arrive in time.".into(),
                    };
                    return self.reply(session, ctx, Reply::error(&err, false)).await;
                }
            }
        } else {
            Bytes::new()
        };
        let (client, peer_addr) = ctx
            .peer
            .map_or((std::net::IpAddr::from([0, 0, 0, 0]), None), |p| {
                (p.client, Some(p.addr))
            });
        let req = session.req_header();
        if !endpoint.may_wait(&method, req.uri.query()) {
            let own = own_request(
                req,
                &sub_path,
                &ctx.host,
                (client, peer_addr),
                navigation,
                body,
            );
            let reply = endpoints::handle(&self.app, endpoint, &own).await;
            return self.reply(session, ctx, reply).await;
        }
        // A long-poll may wait for half a minute: watch the connection meanwhile, so a client
        // that leaves gives its slot and its memory back at once instead of at the deadline.
        // Watching needs the session mutably, so this request works on a copy of its head.
        let head = req.clone();
        let host = ctx.host.clone();
        let own = own_request(
            &head,
            &sub_path,
            &host,
            (client, peer_addr),
            navigation,
            body,
        );
        tokio::select! {
            reply = endpoints::handle(&self.app, endpoint, &own) => self.reply(session, ctx, reply).await,
            () = client_gone(session) => {
                ctx.own_status = CLIENT_CLOSED_REQUEST;
                // Nothing to write to; the connection is not reused (pingora saw it close).
                Ok(true)
            }
        }
    }
}

fn own_request<'a>(
    req: &'a RequestHeader,
    sub_path: &'a str,
    host: &'a str,
    (client, peer): (std::net::IpAddr, Option<std::net::IpAddr>),
    navigation: bool,
    body: Bytes,
) -> OwnRequest<'a> {
    OwnRequest {
        method: &req.method,
        sub_path,
        query: req.uri.query(),
        headers: &req.headers,
        host,
        client,
        peer,
        now: unix_now(),
        navigation,
        body,
    }
}

/// The access log's status for a request whose client left before the answer (nginx's 499).
const CLIENT_CLOSED_REQUEST: u16 = 499;

/// Returns when the client has closed the connection or reset the HTTP/2 stream, and also
/// when it sends bytes after its request (pingora refuses pipelining unless it is enabled):
/// any error of pingora's idle read ends the wait. Otherwise it waits forever, and the
/// request ends as usual.
async fn client_gone(session: &mut Session) {
    if session
        .as_downstream_mut()
        .read_body_or_idle(true)
        .await
        .is_ok()
    {
        std::future::pending::<()>().await;
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        let mut ctx = RequestCtx::new();
        ctx.in_flight = Some(self.app.request_started());
        ctx
    }

    /// Resolves the request, routes it and runs the gate, in phases:
    ///
    /// 1. *resolve* ([`resolve`]): host, framing and path, or a 400; own endpoints leave here;
    /// 2. *route*: the first matching route, or 404 (`no_route`) / 400 (`ambiguous_path`);
    /// 3. *authenticate*: the session cookie, if any, verified in-process;
    /// 4. *decide*: the gate's decision, and for a refusal the one response
    ///    [`respond::decision`] makes of it (302/401/403).
    ///
    /// `Ok(true)`: the gateway answered itself; `Ok(false)`: proxy to the route's upstream,
    /// with `ctx.route` set and `ctx.session` set for a signed-in user.
    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<bool> {
        let app = &*self.app;
        keepalive::bound_idle(session, app.config.client_keepalive_timeout_seconds);
        let req = session.req_header();
        // Only answers of our own need it: computed when one is written, not per request.
        let navigation = || gate::is_browser_navigation(&req.method, &req.headers);
        if let Some(addr) = session.client_addr().and_then(|a| a.as_inet()) {
            ctx.peer = Some(app.headers.peer(addr.ip(), req));
        }

        // 1. resolve
        let target = match resolve::resolve(req, &app.public_host, &app.config.auth_path) {
            Ok(target) => target,
            Err(unresolved) => {
                ctx.handled = Handled::Unrouted;
                let reply = Reply::error(&unresolved.error, navigation());
                if unresolved.close {
                    session.as_downstream_mut().set_keepalive(None);
                }
                return self.reply(session, ctx, reply).await;
            }
        };
        ctx.host = target.host;
        ctx.upstream_host = target.upstream_host;
        ctx.rewritten_target = target.rewritten;
        if let Some(sub_path) = target.own {
            let navigation = navigation();
            // Boxed: an own endpoint's future is several KB (every endpoint's state), and
            // inline it would make every request's future that large, proxied ones included.
            return Box::pin(self.own_endpoint(session, ctx, sub_path, navigation)).await;
        }

        // 2. route
        let routing = app.routing();
        let lookup = routing.lookup(&ctx.host, &target.normal);
        let route = match lookup {
            RouteLookup::Route(index) => RouteRef::new(routing, index),
            RouteLookup::NoRoute | RouteLookup::Ambiguous => None,
        };
        let Some(route) = route else {
            ctx.handled = Handled::Unrouted;
            let err = match lookup {
                RouteLookup::Ambiguous => GatewayError::ambiguous_path(),
                _ => GatewayError::NoRoute,
            };
            let reply = Reply::error(&err, navigation());
            return self.reply(session, ctx, reply).await;
        };
        let name = &route.runtime().route.name;

        // 3. authenticate
        let checked = app.session_of(&req.headers, unix_now());
        if let Some(Err(e)) = &checked {
            tracing::debug!(route = %name, reason = %e, "session cookie refused");
        }

        // 4. decide
        let decision = gate::decide_session(&route.runtime().route, checked.as_ref());
        let verified = checked.and_then(Result::ok);
        // Only a refusal is worded for a browser: a request that passes skips the check.
        let navigation = !matches!(decision, Decision::Public | Decision::Allow) && navigation();
        let refusal = respond::decision(&app.metrics, decision, navigation, navigation, || {
            in_wechat::login_entry(
                &app.config,
                &req.headers,
                &resolve::origin_form(&target.normal, req.uri.query()),
            )
        });
        let Some(reply) = refusal else {
            ctx.handled = Handled::Proxied;
            ctx.session = verified;
            ctx.route = Some(route);
            return Ok(false);
        };
        ctx.handled = Handled::Refused;
        if let (Decision::Deny(reason), Some(v)) = (decision, &verified) {
            tracing::info!(route = %name, user_id = %v.identity.user_id,
                reason = ?reason, "request denied");
        }
        ctx.route = Some(route);
        self.reply(session, ctx, reply).await
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Box<HttpPeer>> {
        let Some(route) = &ctx.route else {
            return Err(Error::explain(ErrorType::InternalError, "no route chosen"));
        };
        let mut peer = route.runtime().next_peer().clone();
        ctx.upstream_start
            .get_or_insert_with(std::time::Instant::now);
        if session.is_upgrade_req() {
            // A WebSocket may stay quiet for longer than any read timeout.
            peer.options.read_timeout = None;
        }
        Ok(Box::new(peer))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        // Try the route's other upstreams once each before giving up.
        ctx.connect_tries += 1;
        if let Some(route) = &ctx.route {
            if ctx.connect_tries < route.runtime().upstream_count() {
                e.set_retry(true);
            }
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        let app = &*self.app;
        if let Some(target) = &ctx.rewritten_target {
            upstream.set_raw_path(target.as_bytes())?;
        }
        if let Some(host) = &ctx.upstream_host {
            upstream.insert_header(http::header::HOST, host.as_str())?;
        }
        app.headers
            .sanitize(upstream, ctx.peer.is_some_and(|p| p.trusted));
        if let Some(peer) = ctx.peer {
            // After the Host above: X-Forwarded-Host is the Host the upstream gets.
            app.headers.forwarded(upstream, peer, app.scheme);
        }
        if let (Some(verified), Some(route)) = (&ctx.session, &ctx.route) {
            let assertion = app.assertions.assertion_header(
                &verified.claims,
                &route.runtime().route.name,
                unix_now(),
            );
            app.headers.inject(upstream, &verified.values, &assertion);
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        ctx.upstream_header_at
            .get_or_insert_with(std::time::Instant::now);
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        // A sliding refresh of the session rides on the upstream's answer.
        if let Some(token) = ctx.session.as_ref().and_then(|v| v.refreshed.as_deref()) {
            response.append_header(
                http::header::SET_COOKIE,
                self.app.sessions.set_cookie(token),
            )?;
        }
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            _ => match e.esource() {
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                ErrorSource::Internal | ErrorSource::Unset => 500,
            },
        };
        if code == 502 || code == 504 {
            ctx.upstream_failed = true;
        }
        if code > 0 && session.response_written().is_none() {
            let err = match code {
                502 | 504 => GatewayError::BadGateway,
                400 => GatewayError::BadRequest {
                    code: "bad_request",
                    message: "The request could not be read.".into(),
                },
                _ => GatewayError::Internal,
            };
            // pingora closes this connection after a failed proxy attempt: say so (pingora
            // writes `Connection` from the session's keep-alive), or a keep-alive client may
            // send its next request into the closing socket.
            session.as_downstream_mut().set_keepalive(None);
            let reply = Reply::error(&err, false);
            ctx.own_status = reply.status;
            if let Err(write_err) = respond::write(session, reply, false).await {
                tracing::debug!(error = %write_err, "could not write error response");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    /// Clients' own faults (hang-ups, resets, unreadable requests) are not the gateway's
    /// errors: logged at DEBUG here instead of pingora's ERROR line.
    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, e: &Error) -> bool {
        let client = log_bridge::is_client_fault(e.esource().as_str(), e.etype().as_str());
        if client {
            tracing::debug!(error = %e, "client fault");
        }
        client
    }

    async fn logging(&self, session: &mut Session, error: Option<&Error>, ctx: &mut RequestCtx) {
        let app = &*self.app;
        let status = session
            .response_written()
            .map_or(ctx.own_status, |r| r.status.as_u16());
        let total = ctx.start.elapsed();
        let route_runtime = ctx.route.as_ref().map(RouteRef::runtime);
        let metrics = match (ctx.handled, route_runtime) {
            (Handled::Own, _) => &app.auth_metrics,
            (_, Some(route)) => &route.metrics,
            _ => &app.none_metrics,
        };
        metrics.observe(status, total.as_secs_f64());
        if ctx.upstream_failed {
            metrics.upstream_error();
        }
        let upstream = match (ctx.upstream_start, ctx.upstream_header_at) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => Duration::ZERO,
        };
        if !app.config.access_log {
            return;
        }
        let req = session.req_header();
        crate::access_log::emit(&crate::access_log::AccessLine {
            method: req.method.as_str(),
            host: &ctx.host,
            path: req.uri.path(),
            route: route_runtime.map_or("-", |r| r.route.name.as_str()),
            status,
            user_id: ctx
                .session
                .as_ref()
                .map_or("-", |v| v.identity.user_id.as_str()),
            client: ctx.peer.map(|p| p.client),
            upstream,
            total,
            error: error.map(|e| e.etype().as_str()),
        });
    }
}

/// How long an idle keep-alive client connection is kept open.
pub const DOWNSTREAM_KEEPALIVE: Duration = Duration::from_secs(60);
