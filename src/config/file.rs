//! The config file schema: one struct per YAML mapping, 1:1 with ARCHITECTURE.md §3.2.
//!
//! Every struct rejects unknown keys and fills missing keys from its `Default` impl, which
//! is where every default of the file lives. Keys without a default (`public_url`,
//! `session.secret`, ...) are `Option`s: whether they are required is decided by the
//! section rules (`rules/`), so that a missing key is reported with its path like any other
//! problem.
//!
//! A secret key `X` also accepts `X_file`, a path whose trimmed content is the value.
//! Nothing here is checked beyond its YAML type (`shape.rs` reports what does not fit);
//! `rules/` turns these into `model`.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

mod sms;
pub use sms::*;

/// A secret as written in the file (after `${VAR}` substitution). `Debug` and `Serialize`
/// show `***`, so a file struct can be printed without leaking it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RawSecret(pub String);

impl fmt::Debug for RawSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawSecret(***)")
    }
}

impl Serialize for RawSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// The whole file.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Public listener, `ip:port`. Default `0.0.0.0:8080`.
    pub listen: String,
    /// How browsers and WeChat reach the gateway: `http(s)://host[:port]`. Required.
    pub public_url: Option<String>,
    /// Path prefix the gateway serves itself on every host. Default `/.auth`.
    pub auth_path: String,
    /// Listener of `/metrics`, `/healthz`, `/readyz`, `ip:port`. Default: none.
    pub admin_listen: Option<String>,
    /// The admin listener's user API (`/admin/api/v1`). Default: off.
    pub admin: AdminFile,
    /// CIDRs or IPs whose `X-Forwarded-*` headers are believed. Default: none.
    pub trusted_proxies: Vec<String>,
    /// `{auth_path}/verify` for a proxy in front (nginx `auth_request`, Traefik, Caddy).
    pub forward_auth: ForwardAuthFile,
    /// Serve HTTPS on `listen`. Default: plain HTTP.
    pub tls: Option<TlsFile>,
    /// Worker threads of the public service. Default 1.
    pub threads: u64,
    /// Seconds SIGTERM waits for in-flight requests. Default 5.
    pub shutdown_timeout_seconds: u64,
    /// Seconds a client has for a request's head (request line and headers), from its first
    /// byte (nginx `client_header_timeout`). Default 10.
    pub client_header_timeout_seconds: u64,
    /// Seconds an idle keep-alive client connection is kept open waiting for its next request
    /// (nginx `keepalive_timeout`). Default 75.
    pub client_keepalive_timeout_seconds: u64,
    /// Drop client request headers whose name contains `_`. Default true.
    pub drop_underscore_headers: bool,
    /// One `access` log line per request. Default true.
    pub access_log: bool,
    pub store: StoreFile,
    pub session: SessionFile,
    pub identity_headers: IdentityHeadersFile,
    pub wechat: WechatFile,
    pub login: LoginFile,
    /// Bearer tokens for backends beyond the gateway (`{auth_path}/token`). Default: off.
    pub tokens: TokensFile,
    /// First match in file order wins. At least one.
    pub routes: Vec<RouteFile>,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            listen: "0.0.0.0:8080".to_string(),
            public_url: None,
            auth_path: "/.auth".to_string(),
            admin_listen: None,
            admin: AdminFile::default(),
            trusted_proxies: Vec::new(),
            forward_auth: ForwardAuthFile::default(),
            tls: None,
            threads: 1,
            shutdown_timeout_seconds: 5,
            client_header_timeout_seconds: 10,
            client_keepalive_timeout_seconds: 75,
            drop_underscore_headers: true,
            access_log: true,
            store: StoreFile::default(),
            session: SessionFile::default(),
            identity_headers: IdentityHeadersFile::default(),
            wechat: WechatFile::default(),
            login: LoginFile::default(),
            tokens: TokensFile::default(),
            routes: Vec::new(),
        }
    }
}

/// `admin`: the user API on `admin_listen`, on only when a token is set.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminFile {
    /// Bearer token of `/admin/api/v1` (32 characters or more). Secret.
    pub api_token: Option<RawSecret>,
    pub api_token_file: Option<String>,
}

/// `forward_auth`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardAuthFile {
    /// CIDRs or IPs of the proxies that call `/verify`: only their headers naming the
    /// request (`X-Original-URL`, `X-Forwarded-Host/-Uri/-Proto/-Method`) are believed;
    /// `trusted_proxies` are believed too. Default loopback.
    pub trusted: Vec<String>,
}

impl Default for ForwardAuthFile {
    fn default() -> Self {
        ForwardAuthFile {
            trusted: vec!["127.0.0.0/8".to_string(), "::1".to_string()],
        }
    }
}

/// `tls`: both keys are required when the section is present.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsFile {
    /// PEM certificate chain.
    pub cert_file: Option<String>,
    /// PEM private key.
    pub key_file: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    #[default]
    Embedded,
    Redis,
}

/// `store`. Keys of the other backend are ignored.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreFile {
    /// Default `embedded`.
    pub backend: StoreBackend,
    /// embedded: the SQLite file. Default `data/scangate.db`.
    pub path: String,
    /// redis: `redis://`, `rediss://`, `redis+sentinel://` or `redis+cluster://` URL. A
    /// secret (it may hold a password).
    pub url: Option<RawSecret>,
    pub url_file: Option<String>,
    /// redis: prefix of every key. Default `scangate:`.
    pub key_prefix: String,
}

impl Default for StoreFile {
    fn default() -> Self {
        StoreFile {
            backend: StoreBackend::Embedded,
            path: "data/scangate.db".to_string(),
            url: None,
            url_file: None,
            key_prefix: "scangate:".to_string(),
        }
    }
}

/// `session`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionFile {
    /// HMAC key of the session cookie, at least 32 bytes. Required.
    pub secret: Option<RawSecret>,
    pub secret_file: Option<String>,
    /// Default `scangate_session`.
    pub cookie_name: String,
    /// `Domain` attribute; default none (host-only cookie).
    pub cookie_domain: Option<String>,
    /// Absolute session lifetime in seconds. Default 604800 (7 days).
    pub ttl_seconds: u64,
    /// Seconds of inactivity that end a session; 0 = none. Default 0.
    pub idle_timeout_seconds: u64,
    /// ES256 PEM key of the identity assertion; default: generated once and kept.
    pub assertion_key_file: Option<String>,
}

impl Default for SessionFile {
    fn default() -> Self {
        SessionFile {
            secret: None,
            secret_file: None,
            cookie_name: "scangate_session".to_string(),
            cookie_domain: None,
            ttl_seconds: 604_800,
            idle_timeout_seconds: 0,
            assertion_key_file: None,
        }
    }
}

/// `identity_headers`: names of the headers the upstream receives.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityHeadersFile {
    pub user_id: String,
    pub openid: String,
    pub unionid: String,
    pub phone: String,
    pub method: String,
    pub assertion: String,
}

impl Default for IdentityHeadersFile {
    fn default() -> Self {
        IdentityHeadersFile {
            user_id: "X-Auth-User-Id".to_string(),
            openid: "X-Auth-Openid".to_string(),
            unionid: "X-Auth-Unionid".to_string(),
            phone: "X-Auth-Phone".to_string(),
            method: "X-Auth-Method".to_string(),
            assertion: "X-Auth-Assertion".to_string(),
        }
    }
}

/// `wechat`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WechatFile {
    /// Default `https://api.weixin.qq.com`.
    pub api_base: String,
    /// Where WeChat's authorize and qrconnect pages live. Default `https://open.weixin.qq.com`.
    pub open_base: String,
    /// Use the built-in simulator. Default false.
    pub simulate: bool,
    pub official_account: Option<OfficialAccountFile>,
    pub mini_program: Option<MiniProgramFile>,
    /// An Open Platform website application (网站应用), for the `website` method.
    pub website: Option<WebsiteFile>,
}

impl Default for WechatFile {
    fn default() -> Self {
        WechatFile {
            api_base: "https://api.weixin.qq.com".to_string(),
            open_base: "https://open.weixin.qq.com".to_string(),
            simulate: false,
            official_account: None,
            mini_program: None,
            website: None,
        }
    }
}

/// `wechat.official_account.oauth_scope`: what WeChat's web authorization asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum OAuthScopeFile {
    /// The openid only, silently.
    #[default]
    #[serde(rename = "snsapi_base")]
    Base,
    /// The person agrees on a page; WeChat then also tells the unionid.
    #[serde(rename = "snsapi_userinfo")]
    UserInfo,
}

/// `wechat.website`: an Open Platform website application (网站应用).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebsiteFile {
    /// Required.
    pub app_id: Option<String>,
    /// Required.
    pub app_secret: Option<RawSecret>,
    pub app_secret_file: Option<String>,
}

/// `wechat.official_account`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OfficialAccountFile {
    /// Required.
    pub app_id: Option<String>,
    /// Required.
    pub app_secret: Option<RawSecret>,
    pub app_secret_file: Option<String>,
    /// The callback Token. Required.
    pub token: Option<RawSecret>,
    pub token_file: Option<String>,
    /// Set = safe mode. Default: none.
    pub encoding_aes_key: Option<RawSecret>,
    pub encoding_aes_key_file: Option<String>,
    /// Lifetime of a login QR code in seconds. Default 300.
    pub qr_expire_seconds: u64,
    /// The older spelling of `scan_replies.confirmed`. Default: none.
    pub scan_reply: Option<String>,
    /// Passive replies to the person who scanned a login code, by outcome. Default: zh texts.
    pub scan_replies: ScanRepliesFile,
    /// Where pushes that are not logins go. Default: none.
    pub forward_url: Option<String>,
    /// Also forward login scans (we still handle them). Default false.
    pub forward_logins: bool,
    /// Milliseconds to wait for the forward_url backend, 100 to 4500. Default 4000.
    pub forward_timeout_ms: u64,
    /// Our own passive replies. Default: none.
    pub replies: RepliesFile,
    /// Accept callbacks only from WeChat's published addresses (`getcallbackip`). Default false.
    pub verify_source_ip: bool,
    /// WeChat's in-app browser signs in by web authorization (网页授权). Default false.
    pub oauth: bool,
    /// Default `snsapi_base`.
    pub oauth_scope: OAuthScopeFile,
}

impl Default for OfficialAccountFile {
    fn default() -> Self {
        OfficialAccountFile {
            app_id: None,
            app_secret: None,
            app_secret_file: None,
            token: None,
            token_file: None,
            encoding_aes_key: None,
            encoding_aes_key_file: None,
            qr_expire_seconds: 300,
            scan_reply: None,
            scan_replies: ScanRepliesFile::default(),
            forward_url: None,
            forward_logins: false,
            forward_timeout_ms: 4000,
            replies: RepliesFile::default(),
            verify_source_ip: false,
            oauth: false,
            oauth_scope: OAuthScopeFile::Base,
        }
    }
}

/// `wechat.official_account.scan_replies`: what the person who scanned a login code is told
/// in WeChat; "" = no reply. The defaults are in Chinese, the language of WeChat's users.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanRepliesFile {
    /// Signed in. Default `登录成功` (or `scan_reply`).
    pub confirmed: Option<String>,
    /// Scanned; the computer asks for a phone number next.
    pub need_phone: String,
    /// The code expired.
    pub expired: String,
    /// Someone else already used the code.
    pub used: String,
    /// The person's account is disabled.
    pub blocked: String,
}

impl Default for ScanRepliesFile {
    fn default() -> Self {
        ScanRepliesFile {
            confirmed: None,
            need_phone: "扫码成功，请在电脑上绑定手机号以完成登录".to_string(),
            expired: "二维码已过期，请在电脑上刷新后重新扫码".to_string(),
            used: "该二维码已被使用，请在电脑上刷新后重新扫码".to_string(),
            blocked: "该账号已被停用，无法登录".to_string(),
        }
    }
}

/// `wechat.official_account.replies`. A mapping rather than an `Option` so that its keys
/// have defaults like any other section (and the example test sees them).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepliesFile {
    /// Greeting on a plain follow (not a login scan). Default: none.
    pub subscribe: Option<String>,
    /// Tried in order on a text message; the first match wins. Default [].
    pub keywords: Vec<KeywordFile>,
    /// Reply to any other text message. Default: none.
    pub default: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeywordMatchFile {
    Exact,
    Contains,
}

/// One entry of `replies.keywords`; every key is required.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeywordFile {
    /// `exact` or `contains`.
    #[serde(rename = "match")]
    pub matching: Option<KeywordMatchFile>,
    pub keyword: Option<String>,
    pub reply: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvVersion {
    #[default]
    Release,
    Trial,
    Develop,
}

impl EnvVersion {
    /// The value WeChat's `getwxacodeunlimit` expects.
    pub fn as_str(self) -> &'static str {
        match self {
            EnvVersion::Release => "release",
            EnvVersion::Trial => "trial",
            EnvVersion::Develop => "develop",
        }
    }
}

/// `wechat.mini_program`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MiniProgramFile {
    /// Required.
    pub app_id: Option<String>,
    /// Required.
    pub app_secret: Option<RawSecret>,
    pub app_secret_file: Option<String>,
    /// Page the code opens. Default `pages/login/index`.
    pub page: String,
    /// Default `release`.
    pub env_version: EnvVersion,
}

impl Default for MiniProgramFile {
    fn default() -> Self {
        MiniProgramFile {
            app_id: None,
            app_secret: None,
            app_secret_file: None,
            page: "pages/login/index".to_string(),
            env_version: EnvVersion::Release,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhonePolicyFile {
    #[default]
    Required,
    Optional,
    Off,
}

/// `login`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginFile {
    /// `official_account` / `mini_program` / `website` / `sms`, in page order. Default
    /// `[official_account]`.
    pub methods: Vec<String>,
    /// SMS login may create a user for a number nobody holds yet. Default false.
    pub sms_signup: bool,
    /// Phone binding for new users. Default `required`.
    pub phone: PhonePolicyFile,
    /// Country calling codes whose numbers are taken, for binding and SMS (`"86"`, `"1"`).
    /// Default `["86"]`.
    pub phone_countries: Vec<CountryCodeText>,
    /// Lifetime of an SMS code in seconds. Default 300.
    pub code_ttl_seconds: u64,
    /// Official Account codes stop (and Mini Program codes take over) when fewer calls of
    /// `qrcode/create` are left today: `"1%"` of the daily limit, or a number of calls.
    /// Default `"1%"`.
    pub quota_reserve: QuotaReserveFile,
    pub sms: SmsFile,
    pub limits: LimitsFile,
    /// The site's name in the login page's and the widget's heading. Default: the host.
    pub site_name: Option<String>,
    /// A PNG or SVG logo (at most 256 KB) drawn in the middle of the login QR codes.
    /// Default: none.
    pub qr_logo: Option<String>,
}

/// `login.quota_reserve` as written: a share of the daily limit (`"1%"`) or a count (`500`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum QuotaReserveFile {
    Calls(u64),
    Text(String),
}

impl Default for QuotaReserveFile {
    fn default() -> Self {
        QuotaReserveFile::Text("1%".to_string())
    }
}

impl Default for LoginFile {
    fn default() -> Self {
        LoginFile {
            methods: vec!["official_account".to_string()],
            sms_signup: false,
            phone: PhonePolicyFile::Required,
            phone_countries: vec![CountryCodeText("86".to_string())],
            code_ttl_seconds: 300,
            quota_reserve: QuotaReserveFile::default(),
            sms: SmsFile::default(),
            limits: LimitsFile::default(),
            site_name: None,
            qr_logo: None,
        }
    }
}

/// A country calling code as written: `"86"` or `86`. YAML reads an unquoted code as a
/// number, and both spellings mean the same, so both are taken as text here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CountryCodeText(pub String);

impl<'de> Deserialize<'de> for CountryCodeText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = CountryCodeText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a country calling code such as \"86\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CountryCodeText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(CountryCodeText(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(CountryCodeText(v.to_string()))
            }
        }
        d.deserialize_any(Text)
    }
}

/// `login.limits`: abuse limits, counted in the store so they hold across instances (the
/// long-poll caps are per instance: a long-poll holds a connection of this process). 0 turns a
/// limit off.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsFile {
    /// Login attempts (`POST /qr`) per client IP per minute. Default 20.
    pub qr_per_ip_per_minute: u64,
    /// Codes sent to one phone number per hour / per day. Defaults 5 / 10.
    pub sms_per_phone_per_hour: u64,
    pub sms_per_phone_per_day: u64,
    /// Codes requested from one client IP per hour / per day. Defaults 20 / 50.
    pub sms_per_ip_per_hour: u64,
    pub sms_per_ip_per_day: u64,
    /// Mini Program page calls per client IP per minute. Default 30.
    pub mini_program_per_ip_per_minute: u64,
    /// Waiting long-polls per client IP / in total on this instance. Defaults 20 / 10000.
    pub long_polls_per_ip: u64,
    pub long_polls_total: u64,
}

impl Default for LimitsFile {
    fn default() -> Self {
        LimitsFile {
            qr_per_ip_per_minute: 20,
            sms_per_phone_per_hour: 5,
            sms_per_phone_per_day: 10,
            sms_per_ip_per_hour: 20,
            sms_per_ip_per_day: 50,
            mini_program_per_ip_per_minute: 30,
            long_polls_per_ip: 20,
            long_polls_total: 10_000,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthFile {
    Public,
    #[default]
    Login,
    Phone,
}

/// One entry of `routes`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteFile {
    /// Required, unique.
    pub name: Option<String>,
    /// Exact host or `*.suffix`; default: any host.
    pub host: Option<String>,
    /// Default `/`.
    pub path_prefix: String,
    /// `host:port` list; at least one.
    pub upstreams: Vec<String>,
    /// Default `login`.
    pub auth: AuthFile,
    pub allow_phones: Vec<String>,
    pub allow_users: Vec<String>,
    /// Default 5.
    pub connect_timeout_seconds: u64,
    /// Default 60.
    pub read_timeout_seconds: u64,
}

impl Default for RouteFile {
    fn default() -> Self {
        RouteFile {
            name: None,
            host: None,
            path_prefix: "/".to_string(),
            upstreams: Vec::new(),
            auth: AuthFile::Login,
            allow_phones: Vec::new(),
            allow_users: Vec::new(),
            connect_timeout_seconds: 5,
            read_timeout_seconds: 60,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_mapping_takes_every_default() {
        let file: FileConfig = yaml_serde::from_str("{}").unwrap();
        assert_eq!(file.listen, "0.0.0.0:8080");
        assert_eq!(file.auth_path, "/.auth");
        assert_eq!(file.threads, 1);
        assert_eq!(file.shutdown_timeout_seconds, 5);
        assert!(file.drop_underscore_headers);
        assert_eq!(file.store.backend, StoreBackend::Embedded);
        assert_eq!(file.session.ttl_seconds, 604_800);
        assert_eq!(file.login.methods, ["official_account"]);
    }

    #[test]
    fn unknown_keys_are_rejected_at_every_level() {
        for doc in [
            "nope: 1",
            "session: {nope: 1}",
            "routes: [{nope: 1}]",
            "login: {sms: {nope: 1}}",
        ] {
            let err = yaml_serde::from_str::<FileConfig>(doc)
                .unwrap_err()
                .to_string();
            assert!(err.contains("unknown field `nope`"), "{doc}: {err}");
        }
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings_so_phone_off_parses() {
        let file: FileConfig = yaml_serde::from_str("login: {phone: off}").unwrap();
        assert_eq!(file.login.phone, PhonePolicyFile::Off);
    }

    #[test]
    fn raw_secrets_do_not_show_in_debug_or_serialize() {
        let file: FileConfig = yaml_serde::from_str("session: {secret: hunter2hunter2}").unwrap();
        assert!(!format!("{file:?}").contains("hunter2"));
        assert!(!yaml_serde::to_string(&file).unwrap().contains("hunter2"));
    }
}

/// `tokens`: the `{auth_path}/token` endpoint, on only when an audience is listed.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensFile {
    pub audiences: Vec<TokenAudienceFile>,
}

/// One `tokens.audiences[]` entry: who may ask for a token for backend `name`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenAudienceFile {
    /// The token's `aud`, and what `?aud=` names. Required.
    pub name: Option<String>,
    /// Page origins (`https://spa.example.com`) allowed to fetch tokens cross-origin.
    pub origins: Vec<String>,
    /// Lifetime of a token, 60 to 3600. Default 300.
    pub ttl_seconds: u64,
}

impl Default for TokenAudienceFile {
    fn default() -> Self {
        TokenAudienceFile {
            name: None,
            origins: Vec::new(),
            ttl_seconds: 300,
        }
    }
}
