//! The WeChat server API client (wechat-protocol.md §1–3, §8): `stable_token`,
//! `qrcode/create` and `user/info`, with typed `errcode` errors. The Mini Program calls (§9)
//! are in `client/miniprogram.rs`, web authorization's code exchange in `client/oauth.rs`, the
//! custom menu in `client/menu.rs` and the credential check in `client/check.rs`, all on the
//! same client.
//!
//! Every API call takes a token from the token cache (`token.rs`); on 40001/40014/42001 the
//! token is invalidated if it is still the one that failed, and the call is retried once with a
//! fresh one (never more: pitfall 2). A `-1` (system busy) is retried with exponential backoff.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::breaker::Breaker;
pub use super::error::Error;
use super::error::{json_error, transport};
use super::token::{AccessToken, Fetched, TokenCache, TokenManager};

/// Largest API response read; WeChat's JSON answers are a few hundred bytes.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Longest `scene_str` of a `QR_STR_SCENE` code (§3.1).
pub const MAX_SCENE_LEN: usize = 64;
/// Longest lifetime of a temporary QR code (§3.1): 30 days.
pub const MAX_QR_EXPIRE_SECONDS: u32 = 2_592_000;

/// What the client needs; the caller builds it from its own configuration.
#[derive(Clone)]
pub struct ApiConfig {
    /// `https://api.weixin.qq.com`, or a simulator or sandbox. A trailing `/` is ignored.
    pub api_base: String,
    /// The Official Account's (or Mini Program's) appid.
    pub app_id: String,
    /// Never logged, never in `Debug` or error output.
    pub app_secret: String,
    /// Whole-request timeout, connection included.
    pub timeout: Duration,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("api_base", &self.api_base)
            .field("app_id", &self.app_id)
            .field("app_secret", &"***")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Which API a request went to: a bounded metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// `POST /cgi-bin/stable_token`.
    StableToken,
    /// `POST /cgi-bin/qrcode/create`.
    QrCodeCreate,
    /// `GET /cgi-bin/user/info`.
    UserInfo,
    /// `POST /wxa/getwxacodeunlimit` (Mini Program).
    WxaCodeUnlimited,
    /// `GET /sns/jscode2session` (Mini Program).
    Jscode2Session,
    /// `POST /wxa/generate_urllink` (Mini Program).
    GenerateUrlLink,
    /// `POST /wxa/business/getuserphonenumber` (Mini Program).
    GetUserPhoneNumber,
    /// `POST /cgi-bin/menu/create`.
    MenuCreate,
    /// `GET /cgi-bin/get_current_selfmenu_info`.
    MenuGet,
    /// `GET /cgi-bin/getcallbackip`.
    CallbackIp,
    /// `GET /sns/oauth2/access_token` (web authorization, website login).
    SnsAccessToken,
    /// `GET /sns/userinfo` (web authorization, website login).
    SnsUserInfo,
    /// `POST /cgi-bin/openapi/quota/get` (an API's daily quota).
    QuotaGet,
}

impl Api {
    /// The `api` label value.
    pub fn label(self) -> &'static str {
        match self {
            Api::StableToken => "stable_token",
            Api::QrCodeCreate => "qrcode_create",
            Api::UserInfo => "user_info",
            Api::WxaCodeUnlimited => "wxacode_unlimited",
            Api::Jscode2Session => "jscode2session",
            Api::GenerateUrlLink => "generate_urllink",
            Api::GetUserPhoneNumber => "getuserphonenumber",
            Api::MenuCreate => "menu_create",
            Api::MenuGet => "menu_get",
            Api::CallbackIp => "getcallbackip",
            Api::SnsAccessToken => "sns_oauth2_access_token",
            Api::SnsUserInfo => "sns_userinfo",
            Api::QuotaGet => "quota_get",
        }
    }
}

/// Told about every HTTP exchange with WeChat (one per attempt, retries included).
pub type ApiObserver = Arc<dyn Fn(Api, Result<(), &Error>) + Send + Sync>;

/// Retries of `-1` (system busy): `retries` more attempts, waiting `first_delay`, then twice
/// as long each time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyRetry {
    /// Attempts after the first; 0 = never retry.
    pub retries: u32,
    /// Wait before the first retry.
    pub first_delay: Duration,
}

impl Default for BusyRetry {
    /// Three retries over 1.4 s: inside a login page's patience, unlike WxJava's 1 s·2^n.
    fn default() -> Self {
        BusyRetry {
            retries: 3,
            first_delay: Duration::from_millis(200),
        }
    }
}

/// A temporary parametric QR code (§3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrTicket {
    /// Opaque, standard Base64; WeChat echoes it as `Ticket` in the scan push.
    pub ticket: String,
    /// The content to encode in the QR image (`http://weixin.qq.com/q/...`).
    pub url: String,
    /// Lifetime WeChat granted (the requested one if WeChat omitted it).
    pub expire_seconds: u32,
}

impl QrTicket {
    /// WeChat's image of this code, with the ticket percent-encoded (pitfall 12).
    pub fn image_url(&self) -> String {
        format!(
            "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket={}",
            percent_encoding::utf8_percent_encode(&self.ticket, percent_encoding::NON_ALPHANUMERIC)
        )
    }
}

/// What `user/info` tells about a user (§8). Profile fields are gone since 2021-12-27.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// Follows the Official Account. When false, WeChat returns almost nothing else.
    pub subscribe: bool,
    /// The user's openid for this account.
    pub openid: String,
    /// Only when the account is bound to an Open Platform account.
    pub unionid: Option<String>,
    /// Unix seconds of the (last) follow.
    pub subscribe_time: Option<u64>,
    /// `ADD_SCENE_QR_CODE`, `ADD_SCENE_SEARCH`, ...
    pub subscribe_scene: Option<String>,
    /// The scene of the QR code the user followed through, if any.
    pub qr_scene_str: Option<String>,
}

/// The WeChat API client of one Official Account (or Mini Program: the token logic is shared).
pub struct WechatClient {
    http: reqwest::Client,
    base: String,
    app_id: String,
    app_secret: String,
    tokens: TokenManager,
    busy: BusyRetry,
    observer: Option<ApiObserver>,
    breaker: Breaker,
}

impl std::fmt::Debug for WechatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatClient")
            .field("api_base", &self.base)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl WechatClient {
    /// A client whose tokens live in this process only.
    pub fn new(config: ApiConfig) -> Result<Self, Error> {
        Self::build(config, None)
    }

    /// A client that also shares tokens through `cache` (other clients, other instances).
    pub fn with_token_cache(config: ApiConfig, cache: Arc<dyn TokenCache>) -> Result<Self, Error> {
        Self::build(config, Some(cache))
    }

    fn build(config: ApiConfig, cache: Option<Arc<dyn TokenCache>>) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // WeChat never redirects; following one could carry the token to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(transport)?;
        Ok(WechatClient {
            http,
            base: config.api_base.trim_end_matches('/').to_owned(),
            tokens: TokenManager::new(&config.app_id, cache),
            app_id: config.app_id,
            app_secret: config.app_secret,
            busy: BusyRetry::default(),
            observer: None,
            breaker: Breaker::default(),
        })
    }

    /// Replaces the `-1` retry policy.
    pub fn with_busy_retry(mut self, busy: BusyRetry) -> Self {
        self.busy = busy;
        self
    }

    /// Reports every exchange to `observer` (metrics).
    pub fn with_observer(mut self, observer: ApiObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The appid this client acts for.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// A fresh access token, fetched with `POST /cgi-bin/stable_token` (normal mode) when the
    /// cached one is missing or old. Concurrent callers share one fetch.
    pub async fn access_token(&self) -> Result<AccessToken, Error> {
        self.tokens.get(|| self.fetch_token()).await
    }

    /// `POST /cgi-bin/qrcode/create` with `QR_STR_SCENE`: a temporary code whose scans push
    /// `scene` back. `scene` must be 1..=64 bytes, `expire_seconds` 1..=2 592 000.
    pub async fn create_qr_str_scene(
        &self,
        scene: &str,
        expire_seconds: u32,
    ) -> Result<QrTicket, Error> {
        if scene.is_empty() || scene.len() > MAX_SCENE_LEN {
            return Err(Error::InvalidArgument("scene must be 1..=64 bytes"));
        }
        if !(1..=MAX_QR_EXPIRE_SECONDS).contains(&expire_seconds) {
            return Err(Error::InvalidArgument("expire_seconds must be 1..=2592000"));
        }
        let body = QrCreateRequest {
            expire_seconds,
            action_name: "QR_STR_SCENE",
            action_info: ActionInfo {
                scene: SceneStr { scene_str: scene },
            },
        };
        let url = format!("{}/cgi-bin/qrcode/create", self.base);
        let answer: QrCreateResponse = report::outcome(
            Api::QrCodeCreate,
            self.with_token(Api::QrCodeCreate, |token| {
                self.http
                    .post(&url)
                    .query(&[("access_token", token.expose())])
                    .json(&body)
            })
            .await,
        )?;
        Ok(QrTicket {
            ticket: answer.ticket,
            url: answer.url,
            expire_seconds: answer.expire_seconds.unwrap_or(expire_seconds),
        })
    }

    /// `GET /cgi-bin/user/info`: follow state and unionid of `openid`.
    pub async fn user_info(&self, openid: &str) -> Result<UserInfo, Error> {
        if openid.is_empty() {
            return Err(Error::InvalidArgument("openid must not be empty"));
        }
        let url = format!("{}/cgi-bin/user/info", self.base);
        let answer: UserInfoResponse = report::outcome(
            Api::UserInfo,
            self.with_token(Api::UserInfo, |token| {
                self.http.get(&url).query(&[
                    ("access_token", token.expose()),
                    ("openid", openid),
                    ("lang", "zh_CN"),
                ])
            })
            .await,
        )?;
        Ok(UserInfo {
            subscribe: answer.subscribe == 1,
            openid: answer.openid.unwrap_or_else(|| openid.to_owned()),
            unionid: answer.unionid.filter(|u| !u.is_empty()),
            subscribe_time: answer.subscribe_time,
            subscribe_scene: answer.subscribe_scene.filter(|s| !s.is_empty()),
            qr_scene_str: answer.qr_scene_str.filter(|s| !s.is_empty()),
        })
    }

    /// `GET /cgi-bin/getcallbackip`: the addresses WeChat pushes to the callback from, as
    /// WeChat lists them (IPv4 addresses and CIDR ranges like `101.226.103.0/25`; read them
    /// with [`super::source_ips::CallbackIpList::parse`]).
    pub async fn callback_ips(&self) -> Result<Vec<String>, Error> {
        let url = format!("{}/cgi-bin/getcallbackip", self.base);
        let answer: CallbackIpResponse = self
            .with_token(Api::CallbackIp, |token| {
                self.http
                    .get(&url)
                    .query(&[("access_token", token.expose())])
            })
            .await?;
        Ok(answer.ip_list)
    }

    async fn fetch_token(&self) -> Result<Fetched, Error> {
        let url = format!("{}/cgi-bin/stable_token", self.base);
        let body = StableTokenRequest {
            grant_type: "client_credential",
            appid: &self.app_id,
            secret: &self.app_secret,
            force_refresh: false,
        };
        let answer: TokenResponse = self
            .retry_busy(|| self.exchange(Api::StableToken, self.http.post(&url).json(&body)))
            .await?;
        if answer.access_token.is_empty() {
            return Err(Error::Decode("empty access_token".into()));
        }
        Ok(Fetched {
            token: AccessToken::new(answer.access_token),
            expires_in: answer.expires_in,
        })
    }

    /// Runs a token-bearing request with a JSON answer; see [`WechatClient::with_token_read`].
    async fn with_token<T, B>(&self, api: Api, build: B) -> Result<T, Error>
    where
        T: DeserializeOwned,
        B: Fn(&AccessToken) -> reqwest::RequestBuilder,
    {
        self.with_token_read(api, build, MAX_RESPONSE_BYTES, read_json)
            .await
    }

    /// Runs a token-bearing request; on a refused token, invalidates it (if still current),
    /// and retries exactly once with a fresh one.
    async fn with_token_read<T, B>(
        &self,
        api: Api,
        build: B,
        limit: usize,
        read: ReadBody<T>,
    ) -> Result<T, Error>
    where
        B: Fn(&AccessToken) -> reqwest::RequestBuilder,
    {
        let token = self.access_token().await?;
        match self
            .retry_busy(|| self.exchange_read(api, build(&token), limit, read))
            .await
        {
            Err(e) if e.is_token_invalid() => {
                tracing::info!(
                    api = api.label(),
                    errcode = e.errcode(),
                    "access token refused; refetching once"
                );
                self.tokens.invalidate(&token).await;
                let fresh = self.access_token().await?;
                self.retry_busy(|| self.exchange_read(api, build(&fresh), limit, read))
                    .await
            }
            other => other,
        }
    }

    async fn retry_busy<T, F, Fut>(&self, attempt: F) -> Result<T, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut delay = self.busy.first_delay;
        let mut retries_left = self.busy.retries;
        loop {
            match attempt().await {
                Err(e) if e.is_busy() && retries_left > 0 => {
                    retries_left -= 1;
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                }
                outcome => return outcome,
            }
        }
    }

    /// One HTTP exchange with a JSON answer: see [`WechatClient::exchange_read`].
    async fn exchange<T: DeserializeOwned>(
        &self,
        api: Api,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Error> {
        self.exchange_read(api, request, MAX_RESPONSE_BYTES, read_json)
            .await
    }

    /// One HTTP exchange: send, read a body of at most `limit` bytes, let `read` turn it (and
    /// its `Content-Type`) into a value or an [`Error::Api`]; tell the observer.
    async fn exchange_read<T>(
        &self,
        api: Api,
        request: reqwest::RequestBuilder,
        limit: usize,
        read: ReadBody<T>,
    ) -> Result<T, Error> {
        if let Err(wait) = self.breaker.admit(Instant::now()) {
            let e = Error::Unavailable {
                retry_after_seconds: wait.as_secs().max(1),
            };
            if let Some(observer) = &self.observer {
                observer(api, Err(&e));
            }
            return Err(e);
        }
        let outcome = async {
            let mut response = request.send().await.map_err(transport)?;
            let status = response.status();
            if !status.is_success() {
                return Err(Error::Http(format!("HTTP status {}", status.as_u16())));
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase);
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport)? {
                if body.len() + chunk.len() > limit {
                    return Err(Error::Decode("response too large".into()));
                }
                body.extend_from_slice(&chunk);
            }
            read(content_type.as_deref(), body)
        }
        .await;
        let reachable = !outcome.as_ref().is_err_and(Error::is_transport);
        self.breaker.record(reachable, Instant::now());
        if let Some(observer) = &self.observer {
            observer(api, outcome.as_ref().map(|_| ()));
        }
        outcome
    }
}

/// Turns an answer's `Content-Type` (lower-cased) and body into a value or an error.
type ReadBody<T> = fn(Option<&str>, Vec<u8>) -> Result<T, Error>;

fn read_json<T: DeserializeOwned>(_content_type: Option<&str>, body: Vec<u8>) -> Result<T, Error> {
    decode(&body)
}

/// Errors as HTTP 200 with `{"errcode","errmsg"}`; success without `errcode` or with 0 (§1).
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let envelope: ErrorFields = serde_json::from_slice(body).map_err(json_error)?;
    if envelope.errcode != 0 {
        return Err(Error::Api {
            errcode: envelope.errcode,
            errmsg: envelope.errmsg,
        });
    }
    serde_json::from_slice(body).map_err(json_error)
}

#[derive(Deserialize)]
struct ErrorFields {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

#[derive(Serialize)]
struct StableTokenRequest<'a> {
    grant_type: &'static str,
    appid: &'a str,
    secret: &'a str,
    force_refresh: bool,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Serialize)]
struct QrCreateRequest<'a> {
    expire_seconds: u32,
    action_name: &'static str,
    action_info: ActionInfo<'a>,
}

#[derive(Serialize)]
struct ActionInfo<'a> {
    scene: SceneStr<'a>,
}

#[derive(Serialize)]
struct SceneStr<'a> {
    scene_str: &'a str,
}

#[derive(Deserialize)]
struct QrCreateResponse {
    ticket: String,
    #[serde(default)]
    expire_seconds: Option<u32>,
    url: String,
}

#[derive(Deserialize)]
struct CallbackIpResponse {
    ip_list: Vec<String>,
}

#[derive(Deserialize)]
struct UserInfoResponse {
    subscribe: u8,
    #[serde(default)]
    openid: Option<String>,
    #[serde(default)]
    unionid: Option<String>,
    #[serde(default)]
    subscribe_time: Option<u64>,
    #[serde(default)]
    subscribe_scene: Option<String>,
    #[serde(default)]
    qr_scene_str: Option<String>,
}

mod check;
mod menu;
mod miniprogram;
mod oauth;
mod quota;
mod report;
mod urllink;
pub use check::{CheckOutcome, CheckReport};
pub use menu::{
    Button, Menu, BUTTON_TYPES, MAX_BUTTONS, MAX_BUTTON_NAME_BYTES, MAX_KEY_BYTES, MAX_SUB_BUTTONS,
    MAX_SUB_BUTTON_NAME_BYTES, MAX_URL_BYTES,
};
pub use miniprogram::{
    is_valid_wxacode_scene, MpPhone, MpSession, WxaCodeRequest, MAX_WXACODE_SCENE_LEN,
};
pub use oauth::{OAuthGrant, SnsUser};
pub use quota::{ApiQuota, QRCODE_CREATE_PATH, WXACODE_UNLIMITED_PATH};
pub use urllink::{is_valid_url_link_query, UrlLinkRequest, MAX_URL_LINK_DAYS};

#[cfg(test)]
mod tests;
