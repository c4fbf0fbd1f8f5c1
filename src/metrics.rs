//! Prometheus metric families, registered into a registry that is passed in (production uses
//! `prometheus::default_registry()`, which the admin listener serves; tests use their own).
//!
//! Label values come from bounded sets only: route names from the config, fixed decision
//! and code-class names. Never a raw path, a host or an openid.
//!
//! The per-request handles are resolved once per route at build time, so the hot path
//! increments counters without hashing label values.

mod callback_ips;

pub use callback_ips::{CallbackIpMetrics, ListSample};

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Route label for the gateway's own endpoints under `auth_path`.
pub const ROUTE_AUTH: &str = "_auth";
/// Route label for requests that matched no route.
pub const ROUTE_NONE: &str = "_none";

/// What the gate decided for a request (label of `scangate_auth_decisions_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthDecision {
    /// A public route.
    Public,
    /// A protected route, with a session that satisfies it.
    Allowed,
    /// No valid session: 302 to the login page.
    Redirected,
    /// No valid session: 401.
    Unauthenticated,
    /// A session, but the route's policy refuses it: 403.
    Forbidden,
}

impl AuthDecision {
    const ALL: [AuthDecision; 5] = [
        AuthDecision::Public,
        AuthDecision::Allowed,
        AuthDecision::Redirected,
        AuthDecision::Unauthenticated,
        AuthDecision::Forbidden,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthDecision::Public => "public",
            AuthDecision::Allowed => "allowed",
            AuthDecision::Redirected => "redirected",
            AuthDecision::Unauthenticated => "unauthenticated",
            AuthDecision::Forbidden => "forbidden",
        }
    }
}

const CODE_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Counters and histograms of one route, resolved once.
#[derive(Clone)]
pub struct RouteMetrics {
    by_class: [IntCounter; 5],
    duration: Histogram,
    upstream_errors: IntCounter,
}

impl RouteMetrics {
    /// Records one finished request. `status` 0 (no response written) counts as 5xx.
    pub fn observe(&self, status: u16, seconds: f64) {
        let class = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            _ => 4,
        };
        self.by_class[class].inc();
        self.duration.observe(seconds);
    }

    pub fn upstream_error(&self) {
        self.upstream_errors.inc();
    }
}

/// Every metric family of the gateway core.
#[derive(Clone)]
pub struct Metrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    upstream_errors: IntCounterVec,
    decisions: [IntCounter; 5],
    /// Long-polls currently waiting (the login flow sets it).
    pub longpolls_waiting: IntGauge,
    login_attempts: IntCounterVec,
    wechat_api: IntCounterVec,
    wechat_callbacks: IntCounterVec,
    config_reloads: IntCounterVec,
    config_last_reload: IntGauge,
    quota_remaining: IntGaugeVec,
    quota_limit: IntGaugeVec,
    login_failovers: IntCounterVec,
}

impl Metrics {
    /// Creates the families and registers them into `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Metrics> {
        let requests = IntCounterVec::new(
            Opts::new(
                "scangate_requests_total",
                "Requests by route and status class",
            ),
            &["route", "code_class"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "scangate_request_duration_seconds",
                "Time from request header to the end of the response, by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ]),
            &["route"],
        )?;
        let upstream_errors = IntCounterVec::new(
            Opts::new(
                "scangate_upstream_errors_total",
                "Requests that failed to reach or read the upstream, by route",
            ),
            &["route"],
        )?;
        let decisions_vec = IntCounterVec::new(
            Opts::new(
                "scangate_auth_decisions_total",
                "What the gate decided for requests to routes",
            ),
            &["decision"],
        )?;
        let longpolls_waiting = IntGauge::new(
            "scangate_longpolls_waiting",
            "Login long-polls currently waiting for a scan",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(upstream_errors.clone()))?;
        registry.register(Box::new(decisions_vec.clone()))?;
        registry.register(Box::new(longpolls_waiting.clone()))?;
        let login_attempts = IntCounterVec::new(
            Opts::new(
                "scangate_login_attempts_total",
                "Login funnel: attempts by method and what happened to them",
            ),
            &["method", "outcome"],
        )?;
        let wechat_api = IntCounterVec::new(
            Opts::new(
                "scangate_wechat_api_requests_total",
                "Calls to the WeChat API by api, outcome (ok or an error class) and WeChat's errcode (0 when ok, none when WeChat gave no code)",
            ),
            &["api", "outcome", "errcode"],
        )?;
        let wechat_callbacks = IntCounterVec::new(
            Opts::new(
                "scangate_wechat_callbacks_total",
                "Pushes to the callback URL by kind and outcome",
            ),
            &["kind", "outcome"],
        )?;
        registry.register(Box::new(login_attempts.clone()))?;
        registry.register(Box::new(wechat_api.clone()))?;
        registry.register(Box::new(wechat_callbacks.clone()))?;
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "scangate_config_reloads_total",
                "Config reloads (SIGHUP) by outcome: success or failure",
            ),
            &["outcome"],
        )?;
        let config_last_reload = IntGauge::new(
            "scangate_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful config load (the start counts as one)",
        )?;
        registry.register(Box::new(config_reloads.clone()))?;
        registry.register(Box::new(config_last_reload.clone()))?;
        for outcome in ["success", "failure"] {
            config_reloads.with_label_values(&[outcome]);
        }
        let quota_remaining = IntGaugeVec::new(
            Opts::new(
                "scangate_wechat_quota_remaining",
                "Calls left today of the WeChat APIs logins spend (last read, minus the calls made since)",
            ),
            &["api"],
        )?;
        let quota_limit = IntGaugeVec::new(
            Opts::new(
                "scangate_wechat_quota_limit",
                "Daily limit of the WeChat APIs logins spend, as WeChat last said",
            ),
            &["api"],
        )?;
        let login_failovers = IntCounterVec::new(
            Opts::new(
                "scangate_login_failovers_total",
                "Login attempts that could not use the method asked for, by that method (from), what they got instead (to: a method, or none) and why",
            ),
            &["from", "to", "reason"],
        )?;
        registry.register(Box::new(quota_remaining.clone()))?;
        registry.register(Box::new(quota_limit.clone()))?;
        registry.register(Box::new(login_failovers.clone()))?;
        let decisions = AuthDecision::ALL.map(|d| decisions_vec.with_label_values(&[d.as_str()]));
        Ok(Metrics {
            requests,
            duration,
            upstream_errors,
            decisions,
            longpolls_waiting,
            login_attempts,
            wechat_api,
            wechat_callbacks,
            config_reloads,
            config_last_reload,
            quota_remaining,
            quota_limit,
            login_failovers,
        })
    }

    /// What is known of a WeChat API's daily quota: `api` like `qrcode_create`.
    pub fn wechat_quota(&self, api: &'static str, limit: u64, remaining: u64) {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.quota_limit.with_label_values(&[api]).set(gauge(limit));
        self.quota_remaining
            .with_label_values(&[api])
            .set(gauge(remaining));
    }

    /// An attempt of method `from` became one of `to` (a method, or `none`) because of
    /// `reason` (`daily_quota`, `minute_limit`, `reserve`).
    pub fn login_failover(&self, from: &'static str, to: &'static str, reason: &'static str) {
        self.login_failovers
            .with_label_values(&[from, to, reason])
            .inc();
    }

    /// A config load: the start (`reload: false`) or a reload, and whether it took effect.
    pub fn config_loaded(&self, reload: bool, ok: bool, now: u64) {
        if reload {
            let outcome = if ok { "success" } else { "failure" };
            self.config_reloads.with_label_values(&[outcome]).inc();
        }
        if ok {
            self.config_last_reload
                .set(i64::try_from(now).unwrap_or(i64::MAX));
        }
    }

    /// The handles of one route (or of [`ROUTE_AUTH`] / [`ROUTE_NONE`]). Call at build time.
    pub fn route(&self, route: &str) -> RouteMetrics {
        RouteMetrics {
            by_class: CODE_CLASSES.map(|c| self.requests.with_label_values(&[route, c])),
            duration: self.duration.with_label_values(&[route]),
            upstream_errors: self.upstream_errors.with_label_values(&[route]),
        }
    }

    /// One step of the login funnel of `method` (`official_account`, `mini_program`).
    pub fn login_attempt(&self, method: &'static str, outcome: LoginOutcome) {
        self.login_attempts
            .with_label_values(&[method, outcome.as_str()])
            .inc();
    }

    /// One WeChat API call: `api` like `stable_token`, `qrcode_create`; `outcome` `ok` or an
    /// error class label.
    pub fn wechat_api(&self, api: &'static str, outcome: &'static str, errcode: &str) {
        self.wechat_api
            .with_label_values(&[api, outcome, errcode])
            .inc();
    }

    /// One push to the callback: `kind` like `subscribe`, `scan`, `text`, `verify`, `unknown`.
    pub fn wechat_callback(&self, kind: &'static str, outcome: CallbackOutcome) {
        self.wechat_callbacks
            .with_label_values(&[kind, outcome.as_str()])
            .inc();
    }

    pub fn decision(&self, decision: AuthDecision) {
        let i = AuthDecision::ALL
            .iter()
            .position(|d| *d == decision)
            .unwrap_or(0);
        self.decisions[i].inc();
    }
}

/// A step of the login funnel (`scangate_login_attempts_total{outcome}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    Started,
    Scanned,
    NeedPhone,
    CodeSent,
    CodeInvalid,
    PhoneBound,
    Confirmed,
    Exchanged,
    Expired,
    Cancelled,
    /// SMS login: the right code, but no user holds the number (`login.sms_signup: false`).
    NoAccount,
}

impl LoginOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginOutcome::Started => "started",
            LoginOutcome::Scanned => "scanned",
            LoginOutcome::NeedPhone => "need_phone",
            LoginOutcome::CodeSent => "code_sent",
            LoginOutcome::CodeInvalid => "code_invalid",
            LoginOutcome::PhoneBound => "phone_bound",
            LoginOutcome::Confirmed => "confirmed",
            LoginOutcome::Exchanged => "exchanged",
            LoginOutcome::Expired => "expired",
            LoginOutcome::Cancelled => "cancelled",
            LoginOutcome::NoAccount => "no_account",
        }
    }
}

/// What became of a push to the callback (`scangate_wechat_callbacks_total{outcome}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// URL verification answered.
    Ok,
    Duplicate,
    StoreError,
    /// A scan of one of our login codes (whatever it did: see the scan reply).
    Login,
    LoginError,
    Timeout,
    ForwardedReply,
    Forwarded,
    ForwardFailed,
    AutoReply,
    Ignored,
    /// Refused before parsing, with the error's label (`bad_signature`, `too_large`, ...).
    Refused(&'static str),
}

impl CallbackOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackOutcome::Ok => "ok",
            CallbackOutcome::Duplicate => "duplicate",
            CallbackOutcome::StoreError => "store_error",
            CallbackOutcome::Login => "login",
            CallbackOutcome::LoginError => "login_error",
            CallbackOutcome::Timeout => "timeout",
            CallbackOutcome::ForwardedReply => "forwarded_reply",
            CallbackOutcome::Forwarded => "forwarded",
            CallbackOutcome::ForwardFailed => "forward_failed",
            CallbackOutcome::AutoReply => "auto_reply",
            CallbackOutcome::Ignored => "ignored",
            CallbackOutcome::Refused(label) => label,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Encoder;

    fn render(registry: &Registry) -> String {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn families_carry_route_and_class_labels() {
        let registry = Registry::new();
        let metrics = Metrics::register(&registry).unwrap();
        let app = metrics.route("app");
        app.observe(200, 0.01);
        app.observe(502, 0.02);
        app.upstream_error();
        metrics.decision(AuthDecision::Redirected);
        let text = render(&registry);
        assert!(text.contains(r#"scangate_requests_total{code_class="2xx",route="app"} 1"#));
        assert!(text.contains(r#"scangate_requests_total{code_class="5xx",route="app"} 1"#));
        assert!(text.contains(r#"scangate_upstream_errors_total{route="app"} 1"#));
        assert!(text.contains(r#"scangate_auth_decisions_total{decision="redirected"} 1"#));
        assert!(text.contains(r#"scangate_request_duration_seconds_count{route="app"} 2"#));
    }

    #[test]
    fn registering_twice_in_one_registry_fails_but_separate_registries_work() {
        let registry = Registry::new();
        Metrics::register(&registry).unwrap();
        assert!(Metrics::register(&registry).is_err());
        Metrics::register(&Registry::new()).unwrap();
    }
}
