//! The login service over the store: its parts, starting attempts, callback dedupe, and the
//! compare-and-swap loop every transition goes through. Scans live in `scan.rs`, tickets in
//! `ticket.rs`, the long-poll in `poll.rs`, phone codes in `phone.rs`, the Mini Program's code
//! in `mp_code.rs` and its page's calls in `mp.rs`.

use crate::metrics::LoginOutcome;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::model::LoginConfig;
use crate::identity::{AttemptId, BrowserSecret, LoginMethod, SceneId};
use crate::metrics::Metrics;
use crate::sms::SmsSender;
use crate::store::Store;
use crate::users::UserDirectory;
use crate::wechat::WechatClient;

use super::error::LoginError;
use super::keys;
use super::limits::{self, client_key, Limit, Subject};
use super::mp_api::MiniProgramApi;
use super::quota::{QuotaApi, QuotaBook};
use super::state::{Attempt, NewAttempt, Status, TransitionError};
use super::tokens;
use super::watchers::Watchers;

/// Compare-and-swap rounds on one attempt before giving up; each lost round means another
/// transition applied, so more than a few only happen under a storm.
const TRANSITION_ROUNDS: usize = 8;

pub use super::error::Result;

/// The Official Account side of logins.
pub struct OfficialAccountDeps {
    /// Its API client; `app_id()` names the openids it reports.
    pub client: WechatClient,
    /// Lifetime asked of every login QR code (`qr_expire_seconds`).
    pub qr_expire_seconds: u32,
}

/// What the service is built from; each part comes from its own config section.
pub struct LoginDeps {
    pub store: Arc<dyn Store>,
    pub users: UserDirectory,
    /// `None` = the method is not configured.
    pub official_account: Option<OfficialAccountDeps>,
    /// The Mini Program side. `None` = the method is not configured.
    pub mini_program: Option<MiniProgramDeps>,
    pub sms: Arc<dyn SmsSender>,
    pub login: LoginConfig,
    pub metrics: Metrics,
}

/// The Mini Program method's part of [`LoginDeps`].
pub struct MiniProgramDeps {
    /// The Mini Program's API client (its own app id and access token).
    pub api: Arc<dyn MiniProgramApi>,
    /// The Mini Program's app id: it names the openids `jscode2session` reports.
    pub app_id: String,
    /// The page the code opens, like `pages/login/index` (no leading `/`, no query).
    pub page: String,
    /// `release`, `trial` or `develop`.
    pub env_version: String,
    /// WeChat's `check_path`: the page must exist in the published version.
    pub check_path: bool,
}

/// The QR login flow. Cheap to clone; every clone shares one state.
#[derive(Clone)]
pub struct LoginService {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) store: Arc<dyn Store>,
    pub(super) users: UserDirectory,
    pub(super) official_account: Option<OfficialAccountDeps>,
    pub(super) mini_program: Option<MiniProgramDeps>,
    pub(super) sms: Arc<dyn SmsSender>,
    pub(super) login: LoginConfig,
    /// `login.qr_logo`, decoded once: drawn on every code.
    pub(super) logo: Option<crate::branding::Logo>,
    pub(super) metrics: Metrics,
    /// The waiting long-polls, by attempt.
    pub(super) watchers: Arc<Watchers>,
    /// What is known of WeChat's daily quotas (`quota.rs`).
    pub(super) quota: QuotaBook,
}

/// A new attempt, for `201` of `POST /.auth/qr`.
#[derive(Clone)]
pub struct Started {
    pub id: AttemptId,
    /// How the attempt logs in: the method asked for, or the Mini Program when the Official
    /// Account's quota failed over to it (`quota.rs`).
    pub method: LoginMethod,
    /// The browser-binding secret for the cookie: the browser's own when it sent one, else a
    /// new one. Only its hash is stored.
    pub browser_secret: BrowserSecret,
    /// The text to render as the QR code; empty for the Mini Program, whose code is an image
    /// ([`LoginService::qr_image`]).
    pub qr_content: String,
    /// Unix seconds.
    pub expires_at: u64,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("browser_secret", &self.browser_secret)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The code of a new attempt, as its method made it.
pub(super) struct NewCode {
    /// The Official Account's QR ticket.
    pub(super) wechat_ticket: Option<String>,
    /// See [`Started::qr_content`].
    pub(super) qr_content: String,
    /// Seconds from now to the attempt's deadline.
    pub(super) lifetime: u64,
    /// The Mini Program code's image, stored beside the attempt.
    pub(super) image: Option<Vec<u8>>,
}

/// The outcome of [`LoginService::apply`].
pub(super) enum Applied {
    /// The transition was written; the new record.
    Done(Attempt),
    /// The transition was refused by the attempt as it is now (given back).
    Refused(TransitionError, Attempt),
}

impl LoginService {
    pub fn new(deps: LoginDeps) -> LoginService {
        let LoginDeps {
            store,
            users,
            official_account,
            mini_program,
            sms,
            login,
            metrics,
        } = deps;
        // `check` read the file and its header; a PNG broken further in is told here, and the
        // codes stay unbranded rather than the gateway down.
        let logo = login.qr_logo.as_ref().and_then(|logo| {
            crate::branding::Logo::new(logo)
                .map_err(|e| tracing::error!(path = %logo.path.display(), error = %e, "login.qr_logo cannot be drawn; the login codes carry no logo"))
                .ok()
        });
        LoginService {
            inner: Arc::new(Inner {
                store,
                users,
                official_account,
                mini_program,
                sms,
                login,
                logo,
                metrics,
                watchers: Arc::default(),
                quota: QuotaBook::default(),
            }),
        }
    }

    /// The site's logo for the login codes, when configured.
    pub fn logo(&self) -> Option<&crate::branding::Logo> {
        self.inner.logo.as_ref()
    }

    /// Starts an attempt: a fresh id, a WeChat code whose scene is that id (an Official
    /// Account QR code, or a Mini Program code whose image is kept for
    /// [`LoginService::qr_image`]), the browser binding. `rd` must already be a safe redirect
    /// target (the caller checks it). Every attempt gets a secret of its own, so attempts of
    /// one browser (tabs, widgets) never share or overwrite a binding. `now` is Unix seconds.
    ///
    /// An Official Account attempt becomes a Mini Program one while the Official Account's
    /// quota is spent (`quota.rs`): [`Started::method`] says which it is.
    ///
    /// Errors: [`LoginError::MethodUnavailable`] for a method not configured,
    /// [`LoginError::Wechat`] when WeChat refuses the code, [`LoginError::Paused`] when the
    /// Official Account's quota is spent and there is no Mini Program to fail over to.
    pub async fn start(
        &self,
        method: LoginMethod,
        rd: String,
        client_ip: std::net::IpAddr,
        now: u64,
    ) -> Result<Started> {
        let inner = &self.inner;
        // SMS login has no code to scan: it starts at `send_sms_login_code`.
        if !inner.login.methods.contains(&method) || method == LoginMethod::Sms {
            return Err(LoginError::MethodUnavailable);
        }
        // Before WeChat is asked for a code: each one spends the account's daily API quota.
        let limit = Limit::per(
            "qr_ip",
            inner.login.limits.qr_per_ip_per_minute,
            limits::MINUTE,
        );
        let client = client_key(client_ip);
        limits::charge(&*inner.store, &[(limit, Subject::Client(&client))], now).await?;
        let id = AttemptId::random();
        let scene = SceneId::of(&id);
        let (method, code) = match method {
            LoginMethod::OfficialAccount => self.official_account_or_failover(&scene, now).await?,
            LoginMethod::MiniProgram => {
                let code = self.mini_program_code(&scene).await?;
                self.spent(QuotaApi::WxaCodeUnlimited);
                (method, code)
            }
            LoginMethod::Sms => return Err(LoginError::MethodUnavailable),
            // No code of ours to show: they sign in on WeChat's own page (`oauth.rs`).
            LoginMethod::Website | LoginMethod::InWechat => {
                return Err(LoginError::MethodUnavailable)
            }
        };
        let browser_secret = BrowserSecret::random();
        let expires_at = now.saturating_add(code.lifetime);
        let ttl = Some(keys::ttl_until(expires_at, now, keys::ATTEMPT_GRACE));
        // The image first: whoever can read the attempt can also fetch its image.
        if let Some(image) = &code.image {
            inner.store.put(&keys::qr_image(&id), image, ttl).await?;
        }
        let attempt = Attempt::new(NewAttempt {
            id: id.clone(),
            method,
            browser: tokens::browser_hash(&browser_secret),
            rd,
            scene,
            wechat_ticket: code.wechat_ticket,
            qr_content: code.qr_content.clone(),
            created_at: now,
            expires_at,
        });
        inner
            .store
            .put(&keys::attempt(&id), &encode(&attempt)?, ttl)
            .await?;
        inner
            .metrics
            .login_attempt(method.as_str(), LoginOutcome::Started);
        Ok(Started {
            id,
            method,
            browser_secret,
            qr_content: code.qr_content,
            expires_at,
        })
    }

    /// An Official Account QR code whose scans push `scene` back.
    pub(super) async fn official_account_code(&self, scene: &SceneId) -> Result<NewCode> {
        let Some(OfficialAccountDeps {
            client,
            qr_expire_seconds,
        }) = &self.inner.official_account
        else {
            return Err(LoginError::MethodUnavailable);
        };
        let qr = client
            .create_qr_str_scene(scene.as_str(), *qr_expire_seconds)
            .await
            .map_err(LoginError::Wechat)?;
        // Our deadline never outlives the code WeChat granted.
        let lifetime = (*qr_expire_seconds).min(qr.expire_seconds);
        Ok(NewCode {
            wechat_ticket: Some(qr.ticket),
            qr_content: qr.url,
            lifetime: u64::from(lifetime),
            image: None,
        })
    }

    /// Callback dedupe: `Ok(false)` the first time `dedupe_key` is seen within
    /// [`keys::DEDUPE_TTL`] (handle the push), `Ok(true)` for WeChat's retries (ignore them).
    /// Across instances sharing the store, exactly one sees `false`.
    pub async fn seen_before(&self, dedupe_key: &str) -> Result<bool> {
        let created = self
            .inner
            .store
            .put_if_absent(&keys::dedupe(dedupe_key), b"1", Some(keys::DEDUPE_TTL))
            .await?;
        Ok(!created)
    }

    /// Forgets a dedupe key, so that WeChat's retry of a push whose handling failed is
    /// handled again rather than dropped as a duplicate.
    pub async fn forget_seen(&self, dedupe_key: &str) -> Result<()> {
        self.inner.store.delete(&keys::dedupe(dedupe_key)).await?;
        Ok(())
    }

    /// The text to draw as the QR code of the browser's attempt (for the SVG endpoint).
    /// [`LoginError::Expired`] once the attempt has expired: the code is useless then.
    /// [`LoginError::NotFound`] for a Mini Program attempt: its code is an image.
    pub async fn qr_content(
        &self,
        id: &AttemptId,
        browser: &BrowserSecret,
        now: u64,
    ) -> Result<String> {
        let (_, attempt) = self.load_for(id, browser).await?;
        if attempt.method != LoginMethod::OfficialAccount {
            return Err(LoginError::NotFound);
        }
        if attempt.status_at(now) == Status::Expired {
            return Err(LoginError::Expired);
        }
        Ok(attempt.qr_content)
    }

    /// The WeChat QR ticket of the browser's attempt, for the demo's "simulate scan" (the
    /// simulator's phone scans by ticket). Not secret from this browser: `qr_content` already
    /// carries the same code. [`LoginError::Expired`] once expired; [`LoginError::NotFound`]
    /// for attempts without one (Mini Program).
    pub async fn wechat_ticket(
        &self,
        id: &AttemptId,
        browser: &BrowserSecret,
        now: u64,
    ) -> Result<String> {
        let (_, attempt) = self.load_for(id, browser).await?;
        if attempt.status_at(now) == Status::Expired {
            return Err(LoginError::Expired);
        }
        attempt.wechat_ticket.ok_or(LoginError::NotFound)
    }

    /// How attempt `id` logs in, for this browser only (the demo's simulated phone needs to
    /// know which code it is scanning).
    pub async fn method_of(&self, id: &AttemptId, browser: &BrowserSecret) -> Result<LoginMethod> {
        let (_, attempt) = self.load_for(id, browser).await?;
        Ok(attempt.method)
    }

    // === shared by the service's files ===

    /// The attempt `id` as stored (raw bytes for compare-and-swap), or `None`. (Ids that are
    /// not tokens of ours cannot be [`AttemptId`]s: they never reach the store.)
    pub(super) async fn load(&self, id: &AttemptId) -> Result<Option<(Vec<u8>, Attempt)>> {
        let Some(raw) = self.inner.store.get(&keys::attempt(id)).await? else {
            return Ok(None);
        };
        let attempt = decode(&raw)?;
        Ok(Some((raw, attempt)))
    }

    /// Whether attempt `id` is still known (whoever started it). For telling a browser that
    /// lost its binding cookie from one asking about a stranger's or a forgotten attempt.
    pub async fn exists(&self, id: &AttemptId) -> Result<bool> {
        Ok(self.inner.store.get(&keys::attempt(id)).await?.is_some())
    }

    /// The attempt `id` if it belongs to the browser holding `browser`; otherwise
    /// [`LoginError::NotFound`], whichever of the two was wrong.
    pub(super) async fn load_for(
        &self,
        id: &AttemptId,
        browser: &BrowserSecret,
    ) -> Result<(Vec<u8>, Attempt)> {
        match self.load(id).await? {
            Some((raw, attempt)) if tokens::same_browser(&attempt.browser, browser) => {
                Ok((raw, attempt))
            }
            _ => Err(LoginError::NotFound),
        }
    }

    /// Applies `transition` to the attempt with compare-and-swap, re-reading and re-applying
    /// when another change won the race, and publishes the change. A new deadline moves the
    /// record's TTL with it; otherwise the TTL is kept.
    pub(super) async fn apply(
        &self,
        id: &AttemptId,
        now: u64,
        mut transition: impl FnMut(&Attempt) -> Result<Attempt, TransitionError>,
    ) -> Result<Applied> {
        let store = &self.inner.store;
        let key = keys::attempt(id);
        for _ in 0..TRANSITION_ROUNDS {
            let Some((raw, current)) = self.load(id).await? else {
                return Err(LoginError::NotFound);
            };
            let next = match transition(&current) {
                Ok(next) => next,
                Err(e) => return Ok(Applied::Refused(e, current)),
            };
            let ttl = (next.expires_at != current.expires_at)
                .then(|| keys::ttl_until(next.expires_at, now, keys::ATTEMPT_GRACE));
            if store
                .compare_and_swap(&key, &raw, &encode(&next)?, ttl)
                .await?
            {
                self.notify(id).await;
                return Ok(Applied::Done(next));
            }
        }
        Err(LoginError::Busy)
    }

    /// Wakes every long-poll of attempt `id`, on every instance. Best effort: a lost
    /// notification only delays a poll to its deadline, so a failure is logged, not returned.
    pub(super) async fn notify(&self, id: &AttemptId) {
        if let Err(e) = self
            .inner
            .store
            .publish(keys::CHANNEL, id.as_str().as_bytes())
            .await
        {
            tracing::warn!(error = %e, "cannot publish a login notification; polls wake at their deadline");
        }
    }
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|_| LoginError::Corrupt)
}

pub(super) fn decode<T: for<'de> Deserialize<'de>>(raw: &[u8]) -> Result<T> {
    serde_json::from_slice(raw).map_err(|_| LoginError::Corrupt)
}
