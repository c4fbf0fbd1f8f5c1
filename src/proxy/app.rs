//! Everything a request needs, built once from the config: the compiled router, upstream
//! peers, session manager, assertion signer, header rules and metric handles.
//!
//! Building an [`App`] does no I/O (the assertion key is loaded by the caller), so tests
//! and benches can build one from a YAML string.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pingora::upstreams::peer::HttpPeer;

use super::client_ip::TrustedProxies;
use super::headers::{BadHeaderName, HeaderPolicy};
use super::host::RequestHost;
use super::own_request::OwnRequest;
use super::redirect::RedirectPolicy;
use super::respond::{GatewayError, Reply};
use super::router::{RouteLookup, Router};
use crate::config::{Config, Route};
use crate::metrics::{Metrics, RouteMetrics, ROUTE_AUTH, ROUTE_NONE};
use crate::session::{AssertionSigner, SessionManager};

/// Idle upstream connections are kept this long for reuse.
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One route with its runtime parts.
pub struct RouteRuntime {
    pub route: Route,
    peers: Vec<HttpPeer>,
    next: AtomicUsize,
    pub metrics: RouteMetrics,
}

impl RouteRuntime {
    fn new(route: Route, metrics: RouteMetrics) -> Self {
        let peers = route
            .upstreams
            .iter()
            .map(|u| {
                // Addresses were resolved at config load: HttpPeer::new would panic on a
                // name it cannot resolve.
                let mut peer = HttpPeer::new(u.addr, false, String::new());
                peer.options.connection_timeout =
                    Some(Duration::from_secs(route.connect_timeout_seconds));
                peer.options.read_timeout = Some(Duration::from_secs(route.read_timeout_seconds));
                peer.options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);
                peer
            })
            .collect();
        RouteRuntime {
            route,
            peers,
            next: AtomicUsize::new(0),
            metrics,
        }
    }

    /// The next upstream, round robin.
    pub fn next_peer(&self) -> &HttpPeer {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.peers.len().max(1);
        &self.peers[i]
    }

    pub fn upstream_count(&self) -> usize {
        self.peers.len()
    }
}

/// Why an [`App`] could not be built from a validated config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    HeaderName(#[from] BadHeaderName),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// The Official Account callback: codec (signatures, crypto), what to answer a scan, and
/// what becomes of every push that is not a login.
pub struct CallbackParts {
    pub codec: crate::wechat::CallbackCodec,
    /// What the person who scanned a login code is told, by outcome.
    pub scan_replies: crate::config::model::ScanReplies,
    /// The account's own backend, when pushes are forwarded.
    pub forwarder: Option<super::forward::Forwarder>,
    /// Also forward login scans (in the background; our answer does not wait for it).
    pub forward_logins: bool,
    /// How long to wait for the backend's answer.
    pub forward_budget: std::time::Duration,
    /// Auto-replies from the config.
    pub replies: crate::config::Replies,
    /// WeChat's callback addresses, when `verify_source_ip` is on (`callback_source.rs`).
    pub source_ips: Option<Arc<crate::wechat::CallbackIps>>,
}

/// The one seam through which the demo (`scangate demo`, `wechat.simulate: true`; the `demo`
/// cargo feature) plugs into the gateway. The gateway knows nothing else of it: without the
/// feature there is no implementation and [`LoginParts::demo`] is always `None`.
#[async_trait::async_trait]
pub trait DemoHooks: Send + Sync {
    /// Answers one of the demo's own endpoints under `auth_path` (`POST /demo/scan`), or `None`
    /// when `req` is not one of them (the gateway then answers 404). `browser` is the
    /// login-binding secret of the browser that sent `req`, when it sent one. Errors go
    /// through `respond.rs` like every other endpoint's.
    async fn endpoint(
        &self,
        app: &App,
        login: &LoginParts,
        req: &OwnRequest<'_>,
        browser: Option<&str>,
    ) -> Option<Result<Reply, GatewayError>>;

    /// The code just sent to `phone` (as the browser typed it), which the demo shows on the
    /// page (`demo_code`: there is no SMS); `None` when it has none to show.
    fn shown_code(&self, phone: &str) -> Option<String>;

    /// The implementation itself, for the demo's own code and tests (downcast).
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Everything the login endpoints need.
pub struct LoginParts {
    pub service: crate::login::LoginService,
    /// Sign-in through WeChat's own pages (inside WeChat, website); `None` when neither is on.
    pub oauth: Option<crate::login::OAuthLogin>,
    /// The store behind the login flow (also revocations and readiness).
    pub store: std::sync::Arc<dyn crate::store::Store>,
    pub callback: Option<CallbackParts>,
    /// The demo's extra endpoints and shown codes, when it runs (`wechat.simulate: true`).
    pub demo: Option<std::sync::Arc<dyn DemoHooks>>,
    /// Caps on waiting long-polls (`login.limits.long_polls_*`).
    pub polls: crate::login::poll_slots::PollSlots,
}

/// What a config reload replaces: the routes (router, upstream peers, policies) and the
/// redirect rule derived from their hosts. A request takes one snapshot at its start and
/// keeps it to the end, so a reload never changes a request's route halfway.
pub struct Routing {
    pub router: Router,
    pub routes: Vec<RouteRuntime>,
    pub redirects: RedirectPolicy,
}

impl Routing {
    pub fn build(config: &Config, metrics: &Metrics) -> Routing {
        let redirects = RedirectPolicy::new(
            &config.public_url.host,
            config
                .routes
                .iter()
                .filter_map(|r| r.host.clone())
                .collect(),
        );
        let routes = config
            .routes
            .iter()
            .map(|r| RouteRuntime::new(r.clone(), metrics.route(&r.name)))
            .collect();
        Routing {
            router: Router::new(&config.routes),
            routes,
            redirects,
        }
    }

    /// The route for a request to `host` with the normalised path `normal`: the one lookup
    /// that both the inline gate and `/verify` decide by.
    pub fn lookup(&self, host: &str, normal: &str) -> RouteLookup {
        self.router.find(host, &super::path::match_path(normal))
    }

    /// True when `host` is `public_url`'s or one a route names: an origin the gateway's own
    /// pages may be posted from.
    pub fn serves_host(&self, host: &str) -> bool {
        self.redirects.host_allowed(host)
    }
}

pub struct App {
    /// The config the gateway started with. Its `routes` are superseded by [`App::routing`]
    /// after a reload; every other section needs a restart to change.
    pub config: Config,
    /// `None` when the gateway was built without a store (pure proxy tests, benches).
    pub login: Option<LoginParts>,
    routing: ArcSwap<Routing>,
    pub sessions: SessionManager,
    pub assertions: AssertionSigner,
    pub headers: HeaderPolicy,
    /// Peers whose forward-auth headers `/verify` believes (with `trusted_proxies`).
    pub forward_auth_trusted: TrustedProxies,
    /// `public_url`'s host and port: the host of an HTTP/1.0 request that names none.
    pub public_host: RequestHost,
    pub metrics: Metrics,
    pub auth_metrics: RouteMetrics,
    pub none_metrics: RouteMetrics,
    /// `https` when the public listener serves TLS.
    pub scheme: &'static str,
    /// Set once a graceful stop has begun: waiting long-polls answer at once.
    draining: tokio::sync::watch::Sender<bool>,
    /// Requests being handled now (a drain waits for it to reach zero).
    in_flight: Arc<AtomicUsize>,
}

/// Counts one request in flight for as long as it lives.
pub struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl App {
    pub fn build(
        config: Config,
        assertions: AssertionSigner,
        metrics: Metrics,
        login: Option<LoginParts>,
    ) -> Result<App, BuildError> {
        let headers = HeaderPolicy::new(
            &config.identity_headers,
            config.drop_underscore_headers,
            &config.session.cookie_name,
            TrustedProxies::new(config.trusted_proxies.clone()),
        )?;
        metrics.config_loaded(false, true, unix_now());
        let authority = config
            .public_url
            .origin
            .split_once("://")
            .map_or(config.public_url.origin.as_str(), |(_, a)| a);
        let public_host = RequestHost::parse(authority).unwrap_or(RequestHost {
            name: config.public_url.host.clone(),
            port: None,
            ipv6: false,
        });
        Ok(App {
            forward_auth_trusted: TrustedProxies::new(config.forward_auth_trusted.clone()),
            public_host,
            routing: ArcSwap::from_pointee(Routing::build(&config, &metrics)),
            sessions: SessionManager::new(&config.session),
            assertions,
            headers,
            auth_metrics: metrics.route(ROUTE_AUTH),
            none_metrics: metrics.route(ROUTE_NONE),
            metrics,
            scheme: if config.tls.is_some() {
                "https"
            } else {
                "http"
            },
            login,
            config,
            draining: tokio::sync::watch::channel(false).0,
            in_flight: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The routes now (a snapshot: keep it for the whole request).
    pub fn routing(&self) -> Arc<Routing> {
        self.routing.load_full()
    }

    /// `rd` if it is a safe redirect target (see [`RedirectPolicy::check`]).
    pub fn checked_rd(&self, rd: &str) -> Option<String> {
        self.routing.load().redirects.check(rd).map(str::to_string)
    }

    /// Takes the routes of `new` (a config that passed validation). Returns the top-level
    /// sections that differ from the running config in ways only a restart applies.
    pub fn reload(&self, new: &Config) -> Vec<&'static str> {
        self.routing
            .store(Arc::new(Routing::build(new, &self.metrics)));
        self.metrics.config_loaded(true, true, unix_now());
        crate::config::restart_only_changes(&self.config, new)
    }

    /// Counts a request in flight until the guard drops.
    pub fn request_started(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.in_flight.clone())
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// A graceful stop begins: waiting long-polls answer now with what they have.
    pub fn begin_drain(&self) {
        self.draining.send_replace(true);
    }

    /// Resolves once a drain has begun (at once if it has).
    pub async fn drained(&self) {
        let mut rx = self.draining.subscribe();
        // `wait_for` errs only if the sender is gone, which it cannot be while `self` lives.
        let _ = rx.wait_for(|draining| *draining).await;
    }
}

/// Unix seconds now. The one place the proxy reads the wall clock; everything below it
/// takes `now` as a parameter.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl App {
    /// The session carried by the request's cookies: `None` without our cookie,
    /// `Some(Err)` for a cookie that does not verify (expired, tampered, revoked).
    pub fn session_of(
        &self,
        headers: &http::HeaderMap,
        now: u64,
    ) -> Option<Result<crate::session::Verified, crate::session::SessionError>> {
        let name = self.sessions.cookie_name();
        let token = headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| crate::session::find_cookie(v, name))?;
        Some(self.sessions.verify(token, now))
    }
}

/// Where the gateway itself can be reached from this machine: its listen address, with an
/// unspecified IP (`0.0.0.0`) replaced by loopback. The simulator calls back through it.
pub fn loopback(listen: std::net::SocketAddr) -> std::net::SocketAddr {
    if listen.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), listen.port())
    } else {
        listen
    }
}
