//! The validated runtime configuration: what the rest of the program sees.
//!
//! These types carry no serde and no raw strings from the file that still need checking:
//! the section rules (`rules/`) turn the file schema (`file.rs`) into these, or report
//! every problem. Every duration is in seconds, as the key names say.
//!
//! Every type compares by value (`PartialEq`), secrets included, so that a reload can tell
//! which sections changed; a [`Secret`] is still never printed.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use ipnet::IpNet;

use super::syntax::{is_hostname, split_host_port};
use crate::identity::{LoginMethod, Phone, PhoneCountries, UserId};

/// The whole gateway configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Public listener.
    pub listen: SocketAddr,
    /// How browsers and WeChat reach the gateway.
    pub public_url: PublicUrl,
    /// Reserved path prefix served by the gateway on every host: starts with `/`, no trailing `/`.
    pub auth_path: String,
    /// `/metrics`, `/healthz`, `/readyz`. `None` = no admin listener.
    pub admin_listen: Option<SocketAddr>,
    pub admin: AdminConfig,
    /// Peers whose `X-Forwarded-For` / `-Proto` / `-Host` are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Peers whose forward-auth headers `/verify` believes (besides `trusted_proxies`).
    pub forward_auth_trusted: Vec<IpNet>,
    pub tls: Option<TlsConfig>,
    /// Worker threads of the public service (pingora `threads`).
    pub threads: usize,
    /// How long SIGTERM waits for in-flight requests before exiting.
    pub shutdown_timeout_seconds: u64,
    /// How long a client may take to send a request's head, from its first byte.
    pub client_header_timeout_seconds: u64,
    /// Seconds an idle keep-alive client connection waits for its next request (HTTP/1).
    pub client_keepalive_timeout_seconds: u64,
    /// Drop every client request header whose name contains `_` (nginx's default, and the
    /// reason `X_Auth_Phone` cannot become `X-Auth-Phone` behind a CGI-style app).
    pub drop_underscore_headers: bool,
    /// One `access` log line per request.
    pub access_log: bool,
    pub store: StoreConfig,
    pub session: SessionConfig,
    pub identity_headers: IdentityHeaders,
    pub wechat: WechatConfig,
    pub login: LoginConfig,
    /// Audiences of `{auth_path}/token`; empty = the endpoint is off.
    pub tokens: TokensConfig,
    /// In file order: the first match wins.
    pub routes: Vec<Route>,
}

/// The admin listener's user API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdminConfig {
    /// The bearer token of `/admin/api/v1`; `None` = the API is off (every path 404).
    pub api_token: Option<Secret>,
}

/// A secret string (session secret, app secret, callback token, AES key). Its `Debug` and
/// `Display` never show the value, so a secret cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value, for the one place that needs it (a MAC key, an API call).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `public_url`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    /// `https://app.example.com` or `http://127.0.0.1:8080`: scheme, host and port, no path,
    /// no trailing slash.
    pub origin: String,
    /// Lowercase host without port.
    pub host: String,
    pub https: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreConfig {
    /// One SQLite file.
    Embedded {
        path: PathBuf,
    },
    Redis {
        url: Secret,
        key_prefix: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// HMAC key of the session cookie, at least 32 bytes.
    pub secret: Secret,
    pub cookie_name: String,
    pub cookie_domain: Option<String>,
    /// `Secure` attribute: true when `public_url` is https.
    pub cookie_secure: bool,
    /// `public_url`'s origin: the session token's `iss`. A token of another deployment (or
    /// another `public_url`) is refused even when it shares the secret.
    pub issuer: String,
    /// Absolute lifetime of a session from login.
    pub ttl_seconds: u64,
    /// A session unused for this long ends; `None` = no idle timeout.
    pub idle_timeout_seconds: Option<u64>,
    /// ES256 private key (PEM) for the identity assertion; `None` = generated once and kept.
    pub assertion_key_file: Option<PathBuf>,
}

/// Names of the headers the upstream receives. Every one of them is also stripped from
/// client requests in any spelling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityHeaders {
    pub user_id: String,
    pub openid: String,
    pub unionid: String,
    pub phone: String,
    pub method: String,
    pub assertion: String,
}

impl IdentityHeaders {
    pub fn all(&self) -> [&str; 6] {
        [
            &self.user_id,
            &self.openid,
            &self.unionid,
            &self.phone,
            &self.method,
            &self.assertion,
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WechatConfig {
    /// Base URL of the WeChat API, no trailing slash.
    pub api_base: String,
    /// Base URL of WeChat's authorize and qrconnect pages (`open.weixin.qq.com`), no trailing
    /// slash.
    pub open_base: String,
    /// Use the built-in simulator (demo and development only).
    pub simulate: bool,
    pub official_account: Option<OfficialAccountConfig>,
    pub mini_program: Option<MiniProgramConfig>,
    /// The Open Platform website application of the `website` method.
    pub website: Option<WebsiteConfig>,
}

/// `wechat.website`: an Open Platform website application (网站应用). Its openids are its own
/// (another app id than the Official Account's); the same person is found by unionid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebsiteConfig {
    pub app_id: String,
    pub app_secret: Secret,
}

/// What WeChat's web authorization inside WeChat asks for (`oauth_scope`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthScope {
    /// `snsapi_base`: the openid, silently.
    Base,
    /// `snsapi_userinfo`: the person agrees on a page; the unionid comes with it.
    UserInfo,
}

impl OAuthScope {
    /// The `scope` parameter WeChat expects.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthScope::Base => "snsapi_base",
            OAuthScope::UserInfo => "snsapi_userinfo",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfficialAccountConfig {
    pub app_id: String,
    pub app_secret: Secret,
    /// The callback Token (signature key).
    pub token: Secret,
    /// 43 characters; set = safe (encrypted) mode.
    pub encoding_aes_key: Option<Secret>,
    pub qr_expire_seconds: u32,
    /// Passive replies to the person who scanned a login code, by outcome.
    pub scan_replies: ScanReplies,
    /// Where pushes that are not logins are forwarded.
    pub forward_url: Option<String>,
    /// Login scans are also forwarded (after we handle them). Only meaningful with
    /// `forward_url`.
    pub forward_logins: bool,
    /// How long a forwarded push waits for the account's own backend, 100..=4500 ms: WeChat
    /// gives 5 s in all, so the rest is our margin.
    pub forward_timeout_ms: u64,
    /// Our own passive replies; empty = none.
    pub replies: Replies,
    /// Callbacks are accepted only from WeChat's published callback addresses
    /// (`getcallbackip`, refreshed hourly, shared through the store). The client address is
    /// the one `trusted_proxies` determines.
    pub verify_source_ip: bool,
    /// `Some(scope)` with `oauth: true`: WeChat's in-app browser signs in by web authorization
    /// (网页授权) instead of being shown a QR code it cannot scan.
    pub oauth: Option<OAuthScope>,
}

/// `forward_timeout_ms` when the file does not set it.
pub const DEFAULT_FORWARD_TIMEOUT_MS: u64 = 4000;

impl OfficialAccountConfig {
    /// The account with these credentials and every other key at the file's default: plain
    /// mode, 300 s QR codes, the default scan replies, no forwarding, no replies, no source
    /// address check. For code that builds an account without a file (the simulator); a test
    /// of `rules/wechat.rs` checks that it agrees with the file's defaults.
    pub fn new(app_id: impl Into<String>, app_secret: Secret, token: Secret) -> Self {
        OfficialAccountConfig {
            app_id: app_id.into(),
            app_secret,
            token,
            encoding_aes_key: None,
            qr_expire_seconds: 300,
            scan_replies: ScanReplies::default(),
            forward_url: None,
            forward_logins: false,
            forward_timeout_ms: DEFAULT_FORWARD_TIMEOUT_MS,
            replies: Replies::default(),
            verify_source_ip: false,
            oauth: None,
        }
    }
}

/// `wechat.official_account.scan_replies`: the passive reply to the person who scanned a
/// login code, by what the scan did. Each at most 2048 bytes; empty = no reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanReplies {
    /// Signed in.
    pub confirmed: String,
    /// Scanned; the computer asks for a phone number next.
    pub need_phone: String,
    /// The code expired (or is no longer known).
    pub expired: String,
    /// Someone else already used the code.
    pub used: String,
    /// The person's account is disabled.
    pub blocked: String,
}

impl Default for ScanReplies {
    /// The file's defaults (a test of `rules/wechat.rs` checks that they agree).
    fn default() -> Self {
        let file = crate::config::file::ScanRepliesFile::default();
        ScanReplies {
            confirmed: DEFAULT_SCAN_REPLY_CONFIRMED.to_string(),
            need_phone: file.need_phone,
            expired: file.expired,
            used: file.used,
            blocked: file.blocked,
        }
    }
}

/// `scan_replies.confirmed` when neither it nor `scan_reply` is set.
pub const DEFAULT_SCAN_REPLY_CONFIRMED: &str = "登录成功";

/// `wechat.official_account.replies`: what we answer ourselves. Every reply is non-empty and
/// at most 2048 bytes (WeChat's limit for a passive text reply).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replies {
    /// Greeting on a plain follow (not a login scan).
    pub subscribe: Option<String>,
    /// Tried in order against a text message; the first match wins.
    pub keywords: Vec<Keyword>,
    /// Reply to a text message no keyword matched.
    pub default: Option<String>,
}

/// One keyword rule. Matching trims the message and ignores ASCII case only (CJK and other
/// scripts compare exactly).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyword {
    pub matching: KeywordMatch,
    /// Non-empty; for `Exact`, without leading or trailing whitespace.
    pub keyword: String,
    pub reply: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeywordMatch {
    /// The whole (trimmed) message is the keyword.
    Exact,
    /// The keyword appears anywhere in the (trimmed) message.
    Contains,
}

impl Keyword {
    /// Whether every message `later` matches is matched by `self` first (first match
    /// wins), so that `later`'s reply could never be sent. Uses the rule of
    /// `replies::reply_for` (ASCII case ignored, nothing else folded), which `config`
    /// cannot import.
    pub fn shadows(&self, later: &Keyword) -> bool {
        let (e, l) = (
            self.keyword.to_ascii_lowercase(),
            later.keyword.to_ascii_lowercase(),
        );
        match (self.matching, later.matching) {
            // Any message containing (or equal to) `later` contains `self`.
            (KeywordMatch::Contains, _) => l.contains(&e),
            (KeywordMatch::Exact, KeywordMatch::Exact) => l == e,
            // A longer message can contain `later` without being `self`.
            (KeywordMatch::Exact, KeywordMatch::Contains) => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiniProgramConfig {
    pub app_id: String,
    pub app_secret: Secret,
    pub page: String,
    pub env_version: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhonePolicy {
    Required,
    Optional,
    Off,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginConfig {
    /// Offered on the login page, in this order; never empty.
    pub methods: Vec<LoginMethod>,
    /// SMS login (`sms` in `methods`) creates a user for a number nobody holds yet; false:
    /// only numbers already bound to a user sign in.
    pub sms_signup: bool,
    pub phone: PhonePolicy,
    /// Whose numbers are bound and texted (`login.phone_countries`): the page's, SMS's and
    /// WeChat-verified numbers alike.
    pub phone_countries: PhoneCountries,
    pub code_ttl_seconds: u64,
    /// `login.quota_reserve`: how much of `qrcode/create`'s daily quota is kept back.
    pub quota_reserve: QuotaReserve,
    pub sms: SmsConfig,
    pub limits: Limits,
    /// Shown in the page's and the widget's heading; `None`: the request's host.
    pub site_name: Option<String>,
    /// Drawn in the middle of the login codes, read at start.
    pub qr_logo: Option<QrLogo>,
}

/// The site's logo for the login codes (`login.qr_logo`), as read when the config loaded.
#[derive(Clone, PartialEq, Eq)]
pub struct QrLogo {
    pub path: PathBuf,
    pub format: LogoFormat,
    pub bytes: std::sync::Arc<[u8]>,
}

impl fmt::Debug for QrLogo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QrLogo")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogoFormat {
    Png,
    Svg,
}

/// `tokens`: who may fetch a bearer token for which backend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokensConfig {
    pub audiences: Vec<TokenAudience>,
}

impl TokensConfig {
    pub fn audience(&self, name: &str) -> Option<&TokenAudience> {
        self.audiences.iter().find(|a| a.name == name)
    }
}

/// One audience: its name (the token's `aud`), the page origins allowed to fetch its
/// tokens cross-origin (exact `scheme://host[:port]`, lower-case), and the tokens' lifetime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenAudience {
    pub name: String,
    pub origins: Vec<String>,
    pub ttl_seconds: u64,
}

/// Calls of a daily quota kept back: below it, new Official Account attempts fail over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaReserve {
    /// Hundredths of a percent of the daily limit (`"1%"` is 100).
    BasisPoints(u64),
    /// A number of calls.
    Calls(u64),
}

impl Default for QuotaReserve {
    fn default() -> Self {
        QuotaReserve::BasisPoints(100)
    }
}

impl QuotaReserve {
    /// The calls kept back of a daily limit of `limit`.
    pub fn of(self, limit: u64) -> u64 {
        match self {
            QuotaReserve::BasisPoints(bp) => limit.saturating_mul(bp) / 10_000,
            QuotaReserve::Calls(n) => n,
        }
    }
}

/// Abuse limits (`login.limits`); `None` = off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub qr_per_ip_per_minute: Option<u64>,
    pub sms_per_phone_per_hour: Option<u64>,
    pub sms_per_phone_per_day: Option<u64>,
    pub sms_per_ip_per_hour: Option<u64>,
    pub sms_per_ip_per_day: Option<u64>,
    pub mini_program_per_ip_per_minute: Option<u64>,
    pub long_polls_per_ip: Option<u64>,
    pub long_polls_total: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from(&crate::config::file::LimitsFile::default())
    }
}

impl From<&crate::config::file::LimitsFile> for Limits {
    fn from(f: &crate::config::file::LimitsFile) -> Self {
        let on = |n: u64| (n > 0).then_some(n);
        Limits {
            qr_per_ip_per_minute: on(f.qr_per_ip_per_minute),
            sms_per_phone_per_hour: on(f.sms_per_phone_per_hour),
            sms_per_phone_per_day: on(f.sms_per_phone_per_day),
            sms_per_ip_per_hour: on(f.sms_per_ip_per_hour),
            sms_per_ip_per_day: on(f.sms_per_ip_per_day),
            mini_program_per_ip_per_minute: on(f.mini_program_per_ip_per_minute),
            long_polls_per_ip: on(f.long_polls_per_ip),
            long_polls_total: on(f.long_polls_total),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmsConfig {
    /// Prints the code to the log (and the demo page shows it).
    Log,
    /// POSTs `{"phone": "+86...", "code": "123456"}` to `url`.
    Webhook { url: String },
    /// Tencent Cloud SMS.
    Tencent(TencentSmsConfig),
    /// Alibaba Cloud SMS.
    Aliyun(AliyunSmsConfig),
}

/// `login.sms` with `provider: tencent`. `Debug` shows no secret (see [`Secret`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TencentSmsConfig {
    pub secret_id: Secret,
    pub secret_key: Secret,
    /// Digits (`1400...`).
    pub sdk_app_id: String,
    pub sign_name: String,
    pub template_id: String,
    /// `ap-guangzhou`: lowercase letters, digits and `-`.
    pub region: String,
    /// `scheme://host[:port]`, no path and no trailing slash.
    pub endpoint: String,
    /// Never empty.
    pub template_params: Vec<SmsTemplateParam>,
}

/// What fills one parameter of a Tencent template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsTemplateParam {
    /// The six-digit code.
    Code,
    /// The code's lifetime in whole minutes, rounded up.
    TtlMinutes,
}

/// `login.sms` with `provider: aliyun`. `Debug` shows no secret (see [`Secret`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliyunSmsConfig {
    pub access_key_id: Secret,
    pub access_key_secret: Secret,
    pub sign_name: String,
    pub template_code: String,
    /// `scheme://host[:port]`, no path and no trailing slash.
    pub endpoint: String,
    /// Letters, digits and `_`.
    pub template_param_name: String,
}

/// Who may pass a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthPolicy {
    /// Anyone; identity headers are still stripped (and injected when a session exists).
    Public,
    /// A valid session.
    Login,
    /// A valid session with a bound phone.
    Phone,
}

/// A host pattern of a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// Lowercase host, no port.
    Exact(String),
    /// `*.example.com` is stored as `.example.com`: matches any host ending with it
    /// (`a.example.com`, `a.b.example.com`), not `example.com` itself.
    Suffix(String),
}

impl HostPattern {
    /// A route's `host`: an exact host or `*.suffix`, lowercased, without a port. The error
    /// says why, without the key's path.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let host = text.to_ascii_lowercase();
        if host.is_empty() {
            return Err("is empty (leave the key out to match any host)".to_string());
        }
        if host.contains(':') {
            return Err(format!(
                "{text:?} must not have a port (routes match any port)"
            ));
        }
        let (suffix, name) = match host.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, host.as_str()),
        };
        if name.contains('*') {
            return Err(format!(
                "{text:?}: the only wildcard allowed is a leading *."
            ));
        }
        if !is_hostname(name) {
            return Err(format!("{text:?} is not a host name"));
        }
        Ok(if suffix {
            HostPattern::Suffix(format!(".{name}"))
        } else {
            HostPattern::Exact(name.to_string())
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// As written in the file, for logs and errors.
    pub name: String,
    /// Resolved once at load (pingora's `HttpPeer::new` would panic on a bad name).
    pub addr: SocketAddr,
}

impl Upstream {
    /// `host:port` (or `[v6]:port`), resolved now: pingora's `HttpPeer::new` panics on a
    /// name it cannot resolve. A name with both IPv4 and IPv6 addresses takes IPv4.
    pub fn resolve(name: &str) -> Result<Upstream, String> {
        match split_host_port(name) {
            Some((_, port)) if port > 0 => {}
            _ => return Err(format!("{name:?} is not host:port")),
        }
        let addrs: Vec<SocketAddr> = name
            .to_socket_addrs()
            .map_err(|_| format!("cannot resolve {name:?}"))?
            .collect();
        // `localhost` often resolves to ::1 first while dev servers listen on 127.0.0.1 only;
        // IPv4 is the safer guess when a name has both.
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| format!("cannot resolve {name:?}"))?;
        Ok(Upstream {
            name: name.to_string(),
            addr,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Unique; used as a metrics label and as the assertion's `aud`.
    pub name: String,
    pub host: Option<HostPattern>,
    /// Starts with `/`. Matches whole path segments: `/api` matches `/api` and `/api/x`,
    /// not `/apix`; `/` and prefixes ending in `/` match anything below them.
    pub path_prefix: String,
    /// Never empty.
    pub upstreams: Vec<Upstream>,
    pub auth: AuthPolicy,
    /// Empty = anyone with the right policy.
    pub allow_phones: Vec<Phone>,
    pub allow_users: Vec<UserId>,
    pub connect_timeout_seconds: u64,
    pub read_timeout_seconds: u64,
}
