//! The WeChat simulator, for tests and `scangate demo`: the API endpoints we call, on
//! `127.0.0.1:<random port>`, and a "phone" that scans QR codes and pushes the resulting events
//! to the gateway's callback exactly as WeChat would (signed, and encrypted in safe mode).
//!
//! Built on [`crate::wechat`] (its codec, signatures and XML), never the reverse: the protocol
//! leaf does not know it exists.
//!
//! ```text
//! let sim = Simulator::start(SimConfig { .. }).await?;
//! // point the client's `api_base` at `sim.api_base()`, create a QR code through it, then:
//! let outcome = sim.scan(&ticket, &SimUser { openid, unionid: None, follows: false }).await?;
//! ```
//!
//! The phone also does what followers do every day ([`SimHandle::send_text`],
//! [`SimHandle::click_menu`], [`SimHandle::follow`], [`SimHandle::unfollow`]), and the API
//! keeps the custom menu (`menu/create`, `get_current_selfmenu_info`). Credential failures
//! happen as they do for real: a wrong appid (40013) or secret (40125), or
//! [`SimHandle::set_ip_whitelisted`]`(false)` (40164); [`SimHandle::fail_next`] injects any code.
//! `getcallbackip` lists the addresses set by [`SimHandle::set_callback_ips`] (loopback by
//! default) and fails while [`SimHandle::set_callback_ips_failing`] is on.
//!
//! With [`SimHandle::add_mini_program`] it is also a Mini Program's WeChat (§9): code images,
//! `jscode2session`, phone numbers, URL Links (`generate_urllink`; opening one shows the
//! simulated Mini Program page, see `urllink.rs`); [`MpPage`] plays our Mini Program page on
//! the phone.
//!
//! It is also `open.weixin.qq.com` (point `wechat.open_base` at [`SimHandle::api_base`]): the
//! Official Account's web authorization page (`/connect/oauth2/authorize`, with "allow as a
//! new / returning user" and "deny") and, after [`SimHandle::add_website_app`], the website
//! application's `qrconnect` page (scan as a new / returning user), with the API behind them
//! (`sns/oauth2/access_token`, `sns/userinfo`). Unlike WeChat, the authorize page is shown
//! for `snsapi_base` too (WeChat redirects at once, silently): the simulator has no phone
//! whose person it could know, so the page asks who it is.
//!
//! ```text
//! sim.add_mini_program("wxmp", "mp-secret");
//! // the gateway shows a code for scene S (wxacode_unlimited through a client for "wxmp"), then:
//! let page = MpPage::new(&gateway_base, "/.auth");
//! page.scanned(S).await;
//! page.confirm(S, &sim.mp_login_code(&user), Some(&sim.mp_phone_code("13800138000"))).await;
//! ```

mod api;
mod chat;
mod menu_api;
mod miniprogram;
mod mp_api;
mod mp_page;
mod oauth;
mod oauth_pages;
mod phone;
mod png;
mod quota;
mod state;
mod urllink;
pub mod wire;
mod wxacode;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use api::errmsg;
pub use miniprogram::SimWxaCode;
pub use mp_page::MpPage;
pub use urllink::SimUrlLink;
pub use wire::{event_xml, text_xml, PushMode, Reply, SealedPush, Wire};

/// The `User-Agent` of WeChat's push servers, which the simulator sends with every push.
pub const PUSH_USER_AGENT: &str = "Mozilla/4.0";

/// What the simulated Official Account is: the same values the gateway is configured with.
#[derive(Clone)]
pub struct SimConfig {
    /// The appid the API accepts and the messages carry.
    pub app_id: String,
    /// The only secret `token` and `stable_token` accept.
    pub app_secret: String,
    /// The callback Token.
    pub token: String,
    /// Set = pushes go out in safe mode (see [`SimHandle::set_push_mode`]).
    pub encoding_aes_key: Option<String>,
    /// Where pushes are POSTed: the gateway's callback URL, with or without a query.
    pub callback_url: String,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("app_id", &self.app_id)
            .field("callback_url", &self.callback_url)
            .field("encrypted", &self.encoding_aes_key.is_some())
            .finish_non_exhaustive()
    }
}

/// A WeChat user holding the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    /// The user's openid for this Official Account.
    pub openid: String,
    /// Set when the account is bound to an Open Platform account.
    pub unionid: Option<String>,
    /// Already follows the account: a scan pushes `SCAN`; otherwise `subscribe`.
    pub follows: bool,
}

/// An API of the simulator, for fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimApi {
    /// `GET /cgi-bin/token`.
    Token,
    /// `POST /cgi-bin/stable_token`.
    StableToken,
    /// `POST /cgi-bin/qrcode/create`.
    QrCodeCreate,
    /// `GET /cgi-bin/user/info`.
    UserInfo,
    /// `POST /wxa/getwxacodeunlimit`.
    WxaCodeUnlimited,
    /// `GET /sns/jscode2session`.
    Jscode2Session,
    /// `POST /wxa/business/getuserphonenumber`.
    GetUserPhoneNumber,
    /// `POST /cgi-bin/menu/create`.
    MenuCreate,
    /// `GET /cgi-bin/get_current_selfmenu_info`.
    MenuGet,
    /// `GET /cgi-bin/getcallbackip`.
    CallbackIp,
    /// `POST /wxa/generate_urllink`.
    GenerateUrlLink,
    /// `GET /sns/oauth2/access_token`.
    OAuthAccessToken,
    /// `GET /sns/userinfo`.
    SnsUserInfo,
    /// `POST /cgi-bin/openapi/quota/get`.
    QuotaGet,
}

/// How often each endpoint was called; `tokens_issued` counts distinct tokens handed out.
/// The token counters count calls for the Official Account and the Mini Program alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimCounters {
    /// Calls of `GET /cgi-bin/token`, failed ones included.
    pub token_calls: u64,
    /// Calls of `POST /cgi-bin/stable_token`, failed ones included.
    pub stable_token_calls: u64,
    /// Distinct access tokens handed out (to either account).
    pub tokens_issued: u64,
    /// Calls of `POST /cgi-bin/qrcode/create`.
    pub qrcode_creates: u64,
    /// Calls of `GET /cgi-bin/user/info`.
    pub user_info_calls: u64,
    /// Pushes POSTed to the callback.
    pub pushes: u64,
    /// Calls of `POST /wxa/getwxacodeunlimit`, failed ones included.
    pub wxacode_calls: u64,
    /// Calls of `GET /sns/jscode2session`, failed ones included.
    pub jscode2session_calls: u64,
    /// Calls of `POST /wxa/business/getuserphonenumber`, failed ones included.
    pub phone_number_calls: u64,
    /// Calls of `POST /cgi-bin/menu/create`, failed ones included.
    pub menu_creates: u64,
    /// Calls of `GET /cgi-bin/get_current_selfmenu_info`, failed ones included.
    pub menu_gets: u64,
    /// Calls of `GET /cgi-bin/getcallbackip`, failed ones included.
    pub callback_ip_calls: u64,
    /// Calls of `POST /wxa/generate_urllink`, failed ones included.
    pub urllink_calls: u64,
    /// Calls of `POST /cgi-bin/openapi/quota/get`, failed ones included.
    pub quota_gets: u64,
}

/// What happened to one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOutcome {
    /// HTTP status the callback answered.
    pub status: u16,
    /// The raw answer body.
    pub body: String,
    /// The answer as WeChat reads it (decrypted and checked in encrypted modes).
    pub reply: Reply,
}

/// A simulator failure. Never carries secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The EncodingAESKey is malformed.
    #[error("simulator configuration: {0}")]
    Config(String),
    /// The listener or the HTTP client could not be set up.
    #[error("cannot start the simulator: {0}")]
    Start(String),
    /// The phone scanned a ticket the simulator never issued.
    #[error("unknown QR ticket")]
    UnknownTicket,
    /// The QR code's `expire_seconds` have passed: WeChat pushes nothing.
    #[error("QR code expired")]
    TicketExpired,
    /// The callback could not be reached or answered too slowly (WeChat waits 5 s).
    #[error("callback request failed: {0}")]
    Callback(String),
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds `127.0.0.1:0` and serves the API until [`SimHandle::shutdown`] (or drop).
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        let wire = Wire::new(
            &config.token,
            &config.app_id,
            config.encoding_aes_key.as_deref(),
        )
        .map_err(|e| SimError::Config(e.to_string()))?;
        let shared = Arc::new(state::Shared {
            app_id: config.app_id.clone(),
            app_secret: config.app_secret.clone(),
            inner: Mutex::new(state::Inner::new()),
            counters: state::Counters::default(),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| SimError::Start(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| SimError::Start(e.to_string()))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = api::router(shared.clone());
        let server = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await;
        });
        let http = reqwest::Client::builder()
            // WeChat gives the callback 5 seconds.
            .timeout(Duration::from_secs(5))
            // What WeChat's push servers send.
            .user_agent(PUSH_USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SimError::Start(e.without_url().to_string()))?;
        let mode = wire.default_mode();
        Ok(SimHandle {
            original_id: original_id(&config.app_id),
            callback_url: config.callback_url,
            shared,
            addr,
            wire,
            http,
            mode: Mutex::new(mode),
            stop: Some(stop),
            server: Some(server),
        })
    }
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    shared: Arc<state::Shared>,
    addr: SocketAddr,
    original_id: String,
    callback_url: String,
    wire: Wire,
    http: reqwest::Client,
    mode: Mutex<PushMode>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .field("callback_url", &self.callback_url)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The base URL to configure as the client's `api_base` (`http://127.0.0.1:<port>`).
    pub fn api_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Official Account's original id (`gh_...`), the `ToUserName` of every push.
    pub fn original_id(&self) -> &str {
        &self.original_id
    }

    /// Counters so far.
    pub fn counters(&self) -> SimCounters {
        let c = &self.shared.counters;
        SimCounters {
            token_calls: c.token_calls.load(Ordering::SeqCst),
            stable_token_calls: c.stable_token_calls.load(Ordering::SeqCst),
            tokens_issued: c.tokens_issued.load(Ordering::SeqCst),
            qrcode_creates: c.qrcode_creates.load(Ordering::SeqCst),
            user_info_calls: c.user_info_calls.load(Ordering::SeqCst),
            pushes: c.pushes.load(Ordering::SeqCst),
            wxacode_calls: c.wxacode_calls.load(Ordering::SeqCst),
            jscode2session_calls: c.jscode2session_calls.load(Ordering::SeqCst),
            phone_number_calls: c.phone_number_calls.load(Ordering::SeqCst),
            menu_creates: c.menu_creates.load(Ordering::SeqCst),
            menu_gets: c.menu_gets.load(Ordering::SeqCst),
            callback_ip_calls: c.callback_ip_calls.load(Ordering::SeqCst),
            urllink_calls: c.urllink_calls.load(Ordering::SeqCst),
            quota_gets: c.quota_gets.load(Ordering::SeqCst),
        }
    }

    /// The next call to `api` answers `{"errcode": errcode, ...}` instead (queued per API).
    pub fn fail_next(&self, api: SimApi, errcode: i64) {
        self.shared
            .lock()
            .faults
            .entry(api)
            .or_default()
            .push_back(errcode);
    }

    /// Sets the daily limit of the API at `cgi_path` (like `/cgi-bin/qrcode/create`) and how
    /// many of today's calls are spent: once `used` reaches `daily_limit` the API answers
    /// 45009, and `openapi/quota/get` reports both.
    pub fn set_quota(&self, cgi_path: &str, daily_limit: u64, used: u64) {
        let mut inner = self.shared.lock();
        inner.quotas.set_limit(cgi_path, daily_limit);
        inner.quotas.set_used(cgi_path, used);
    }

    /// Calls of the API at `cgi_path` served today (as `openapi/quota/get` reports them).
    pub fn quota_used(&self, cgi_path: &str) -> u64 {
        self.shared.lock().quotas.used(cgi_path)
    }

    /// Whether the caller's IP is in the accounts' API IP whitelist (default true). While
    /// false, every call presenting appid and secret (`token`, `stable_token`,
    /// `jscode2session`) answers 40164, whatever the secret, as WeChat does.
    pub fn set_ip_whitelisted(&self, whitelisted: bool) {
        self.shared.lock().ip_whitelisted = whitelisted;
    }

    /// What `getcallbackip` answers from now on: WeChat's push addresses, each an address or
    /// a CIDR range, as WeChat writes them (junk too, for tests). Default `127.0.0.1` and `::1`,
    /// where the simulator pushes from.
    pub fn set_callback_ips(&self, ips: &[&str]) {
        self.shared.lock().callback_ips = ips.iter().map(|ip| (*ip).to_string()).collect();
    }

    /// While true, `getcallbackip` answers 45009 (daily quota reached): an outage of the
    /// address list that lasts until it is switched off again.
    pub fn set_callback_ips_failing(&self, failing: bool) {
        self.shared.lock().callback_ips_failing = failing;
    }

    /// The `button` array of the menu `menu/create` last accepted, as posted; `None` before.
    pub fn menu(&self) -> Option<serde_json::Value> {
        self.shared.lock().menu.clone()
    }

    /// Invalidates every access token issued so far, as a force refresh or a secret reset
    /// elsewhere would: their next use answers 40001.
    pub fn revoke_access_tokens(&self) {
        let mut inner = self.shared.lock();
        let now = Instant::now();
        for issued in inner.tokens.values_mut() {
            issued.valid_until = now;
            issued.revoked = true;
        }
        inner.stable_current.clear();
        inner.classic_current.clear();
    }

    /// Lifetime of tokens issued from now on (default 7200 s).
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.shared.lock().token_ttl = ttl;
    }

    /// Delay before every API answer (default none), to make concurrency observable.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// How pushes are delivered from now on. Encrypted modes need an EncodingAESKey.
    pub fn set_push_mode(&self, mode: PushMode) {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner) = mode;
    }

    /// Makes a user known (for `user/info`) without scanning.
    pub fn add_user(&self, user: &SimUser) {
        let mut inner = self.shared.lock();
        let record = inner
            .users
            .entry(user.openid.clone())
            .or_insert(state::UserRecord {
                unionid: None,
                subscribed: false,
                subscribe_time: 0,
                qr_scene_str: None,
            });
        record.unionid = user.unionid.clone();
        if user.follows && !record.subscribed {
            record.subscribed = true;
            record.subscribe_time = unix_now();
        }
    }

    /// The scene a ticket was created for.
    pub fn scene_of(&self, ticket: &str) -> Option<String> {
        self.shared
            .lock()
            .tickets
            .get(ticket)
            .map(|c| c.scene.clone())
    }

    /// Lets a QR code expire now.
    pub fn expire_qr(&self, ticket: &str) {
        if let Some(code) = self.shared.lock().tickets.get_mut(ticket) {
            code.expires_at = Some(Instant::now());
        }
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    pub(crate) fn push_mode(&self) -> PushMode {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn callback_with(&self, query: &str) -> String {
        let separator = if self.callback_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{separator}{query}", self.callback_url)
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A stable, plausible original id for an appid.
fn original_id(app_id: &str) -> String {
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(app_id.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("gh_{hex}")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod chat_tests;
#[cfg(test)]
mod menu_tests;
#[cfg(test)]
mod mp_tests;
#[cfg(test)]
mod tests;
