//! Sign-in through WeChat's own pages: web authorization inside WeChat's browser
//! (`connect/oauth2/authorize`, the Official Account's openid: method `in_wechat`) and the
//! Open Platform website application's QR page on a desktop (`connect/qrconnect`, the
//! website application's openid: method `website`).
//!
//! ```text
//!   start:    state (random, single use, 10 min) bound to this browser's secret and to rd
//!             -> WeChat's page -> callback with code & state
//!   callback: state checked and taken -> code exchanged (sns/oauth2/access_token)
//!             -> who it is (openid of the app, else unionid) -> an attempt of this browser:
//!             confirmed (ticket exchanged at once) | need_phone (the login page's phone step)
//!             | cancelled (disabled user)
//! ```
//!
//! The person is found as a scan finds them ([`LoginService::identify`]): inside WeChat the
//! Official Account's openid is the one its QR scans give; the website application's openid
//! is its own, so the same person is found by unionid. The attempt the callback makes is an
//! ordinary one of this browser (its binding secret is the one `state` was bound to), so the
//! phone step, the ticket and the funnel metric work on it as on a scanned one.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::identity::{AttemptId, BrowserSecret, LoginMethod, OpenId, SceneId, UnionId};
use crate::metrics::LoginOutcome;
use crate::wechat::{OAuthGrant, WechatClient};

use super::error::{LoginError, OAuthRefusal, Result};
use super::keys;
use super::limits::{self, client_key, Limit, Subject};
use super::service::{decode, encode, Applied, LoginService, OfficialAccountDeps};
use super::state::{Attempt, NewAttempt, Status};
use super::ticket::Exchanged;
use super::tokens;

/// How long the unionid lookups after a code may take before the login goes on without one.
const UNIONID_BUDGET: Duration = Duration::from_secs(2);

/// One app whose codes the gateway exchanges.
pub struct OAuthApp {
    /// The app's client: the Official Account's for `in_wechat`, the website application's
    /// for `website` (`app_id()` names the openids WeChat reports).
    pub client: WechatClient,
    /// `snsapi_base` / `snsapi_userinfo` (inside WeChat) or `snsapi_login` (website).
    pub scope: &'static str,
}

/// What the web-authorization side is built from.
pub struct OAuthDeps {
    /// Where WeChat's pages live (`wechat.open_base`), no trailing slash.
    pub open_base: String,
    /// `{public_url}{auth_path}/wechat/oauth/callback`: where WeChat sends the browser back.
    pub redirect_uri: String,
    /// `official_account.oauth: true`: the Official Account, inside WeChat.
    pub in_wechat: Option<OAuthApp>,
    /// `wechat.website` with `website` in `login.methods`.
    pub website: Option<OAuthApp>,
}

/// Sign-in through WeChat's pages, on top of the QR login's service. Cheap to clone.
#[derive(Clone)]
pub struct OAuthLogin {
    service: LoginService,
    deps: Arc<OAuthDeps>,
}

/// A started sign-in: where to send the browser, and the cookie that binds it.
pub struct OAuthStarted {
    /// Names the cookie; WeChat echoes it to the callback.
    pub state: String,
    /// The browser's binding secret (only its hash is stored).
    pub browser_secret: BrowserSecret,
    /// WeChat's authorize or qrconnect page, with every parameter.
    pub authorize_url: String,
    /// Unix seconds.
    pub expires_at: u64,
}

impl std::fmt::Debug for OAuthStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthStarted")
            .field("state", &self.state)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Where a callback lands.
#[derive(Debug)]
pub enum OAuthLanded {
    /// Signed in: the attempt's ticket is exchanged already.
    SignedIn(Exchanged),
    /// A phone must be bound first: the login page's phone step, on `attempt` of this browser.
    NeedPhone { attempt: AttemptId },
}

/// What a callback did: where the browser goes afterwards (`rd` of the state, `/` when the
/// state was not ours) and how it went.
#[derive(Debug)]
pub struct OAuthReturn {
    pub rd: String,
    pub outcome: Result<OAuthLanded>,
}

/// What a `state` stands for (JSON; field names are the storage format).
#[derive(Serialize, Deserialize)]
struct StateRecord {
    method: LoginMethod,
    /// SHA-256 of the browser's binding secret.
    browser: String,
    rd: String,
    expires_at: u64,
}

/// A fresh state: 128 random bits as 32 lowercase hex digits (WeChat takes `[a-zA-Z0-9]`
/// only, so not the URL-safe base64 of the other tokens).
fn random_state() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// True when `state` could be one we issued.
pub fn is_state(state: &str) -> bool {
    state.len() == 32
        && state
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn encode_component(value: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, SET).to_string()
}

impl OAuthLogin {
    pub fn new(service: LoginService, deps: OAuthDeps) -> OAuthLogin {
        OAuthLogin {
            service,
            deps: Arc::new(deps),
        }
    }

    /// Whether `method` (`in_wechat` or `website`) is offered here.
    pub fn offers(&self, method: LoginMethod) -> bool {
        self.app(method).is_some()
    }

    fn app(&self, method: LoginMethod) -> Option<&OAuthApp> {
        match method {
            LoginMethod::InWechat => self.deps.in_wechat.as_ref(),
            LoginMethod::Website => self.deps.website.as_ref(),
            LoginMethod::OfficialAccount | LoginMethod::MiniProgram | LoginMethod::Sms => None,
        }
    }

    /// Starts a sign-in by `method` towards `rd` (already checked by the caller): a state
    /// bound to a fresh browser secret, kept for [`keys::OAUTH_STATE_SECONDS`], and WeChat's
    /// page to send the browser to. Counted against the same per-client budget as QR
    /// attempts (`login.limits.qr_per_ip_per_minute`).
    pub async fn start(
        &self,
        method: LoginMethod,
        rd: String,
        client_ip: std::net::IpAddr,
        now: u64,
    ) -> Result<OAuthStarted> {
        let Some(app) = self.app(method) else {
            return Err(LoginError::MethodUnavailable);
        };
        let inner = &self.service.inner;
        let limit = Limit::per(
            "qr_ip",
            inner.login.limits.qr_per_ip_per_minute,
            limits::MINUTE,
        );
        let client = client_key(client_ip);
        limits::charge(&*inner.store, &[(limit, Subject::Client(&client))], now).await?;
        let state = random_state();
        let browser_secret = BrowserSecret::random();
        let expires_at = now.saturating_add(keys::OAUTH_STATE_SECONDS);
        let record = StateRecord {
            method,
            browser: tokens::browser_hash(&browser_secret),
            rd,
            expires_at,
        };
        let ttl = keys::ttl_until(expires_at, now, keys::ATTEMPT_GRACE);
        inner
            .store
            .put(&keys::oauth_state(&state), &encode(&record)?, Some(ttl))
            .await?;
        inner
            .metrics
            .login_attempt(method.as_str(), LoginOutcome::Started);
        let page = match method {
            LoginMethod::Website => "connect/qrconnect",
            _ => "connect/oauth2/authorize",
        };
        let authorize_url = format!(
            "{base}/{page}?appid={appid}&redirect_uri={redirect}&response_type=code&scope={scope}&state={state}#wechat_redirect",
            base = self.deps.open_base,
            appid = encode_component(app.client.app_id()),
            redirect = encode_component(&self.deps.redirect_uri),
            scope = app.scope,
        );
        Ok(OAuthStarted {
            state,
            browser_secret,
            authorize_url,
            expires_at,
        })
    }

    /// The browser is back from WeChat's page with `state` and (unless the person declined)
    /// `code`; `browser` is the secret of the cookie that names this state, if it sent one.
    /// The state is checked (ours, this browser's, in time) and used up; the code is
    /// exchanged; the person is found or registered; a disabled one is refused. Never panics
    /// on what the browser sends; every refusal is a [`LoginError`] whose code the login page
    /// shows.
    pub async fn callback(
        &self,
        state: &str,
        browser: Option<&BrowserSecret>,
        code: Option<&str>,
        now: u64,
    ) -> OAuthReturn {
        let (record, rd) = match self.take_state(state, browser, now).await {
            Ok(record) => {
                let rd = record.rd.clone();
                (record, rd)
            }
            Err((rd, e)) => {
                return OAuthReturn {
                    rd,
                    outcome: Err(e),
                }
            }
        };
        let outcome = match browser {
            Some(browser) => self.land(&record, browser, code, now).await,
            // `take_state` refuses a state without its browser.
            None => Err(LoginError::OAuth(OAuthRefusal::OtherBrowser)),
        };
        OAuthReturn { rd, outcome }
    }

    /// The state's record, used up; or why not, with the `rd` to go back to.
    async fn take_state(
        &self,
        state: &str,
        browser: Option<&BrowserSecret>,
        now: u64,
    ) -> std::result::Result<StateRecord, (String, LoginError)> {
        let store = &self.service.inner.store;
        let invalid = |rd: &str| {
            (
                rd.to_string(),
                LoginError::OAuth(OAuthRefusal::StateInvalid),
            )
        };
        if !is_state(state) {
            return Err(invalid("/"));
        }
        let key = keys::oauth_state(state);
        let raw = match store.get(&key).await {
            Ok(Some(raw)) => raw,
            Ok(None) => return Err(invalid("/")),
            Err(e) => return Err(("/".into(), e.into())),
        };
        let record: StateRecord = decode(&raw).map_err(|e| ("/".to_string(), e))?;
        let rd = record.rd.clone();
        // Another browser's callback does not use the state up (as with tickets).
        if !browser.is_some_and(|b| tokens::same_browser(&record.browser, b)) {
            return Err((rd, LoginError::OAuth(OAuthRefusal::OtherBrowser)));
        }
        // Single use: of two racing callbacks one takes it.
        match store.take(&key).await {
            Ok(Some(taken)) if taken == raw => {}
            Ok(_) => return Err(invalid(&rd)),
            Err(e) => return Err((rd, e.into())),
        }
        if now >= record.expires_at {
            self.count(record.method, LoginOutcome::Expired);
            return Err((rd, LoginError::OAuth(OAuthRefusal::StateExpired)));
        }
        Ok(record)
    }

    fn count(&self, method: LoginMethod, outcome: LoginOutcome) {
        self.service
            .inner
            .metrics
            .login_attempt(method.as_str(), outcome);
    }

    /// After a good state: the code, who it is, and the attempt.
    async fn land(
        &self,
        record: &StateRecord,
        browser: &BrowserSecret,
        code: Option<&str>,
        now: u64,
    ) -> Result<OAuthLanded> {
        let method = record.method;
        let Some(code) = code.filter(|c| !c.is_empty()) else {
            self.count(method, LoginOutcome::Cancelled);
            return Err(LoginError::OAuth(OAuthRefusal::Declined));
        };
        let app = self.app(method).ok_or(LoginError::MethodUnavailable)?;
        let grant = match app.client.oauth_access_token(code).await {
            Ok(grant) => grant,
            // The client logged WeChat's answer.
            Err(e) if matches!(e.errcode(), Some(40029 | 40163)) => {
                return Err(LoginError::OAuth(OAuthRefusal::CodeRefused))
            }
            Err(crate::wechat::Error::InvalidArgument(_)) => {
                return Err(LoginError::OAuth(OAuthRefusal::CodeRefused))
            }
            Err(e) => return Err(LoginError::Wechat(e)),
        };
        if grant.snapshot_user {
            tracing::info!(
                method = method.as_str(),
                "WeChat answered for a snapshot-mode (virtual) account; not signed in"
            );
            return Err(LoginError::OAuth(OAuthRefusal::Snapshot));
        }
        self.count(method, LoginOutcome::Scanned);
        let attempt = self.new_attempt(record, browser, now).await?;
        let openid = OpenId::new(grant.openid.clone());
        let unionid = self.unionid_of(app, &grant);
        let (scanner, known) = self
            .service
            .identify(app.client.app_id(), &openid, unionid, now)
            .await?;
        let (applied, outcome) = self
            .service
            .settle_scan(&attempt, scanner, known, None, now)
            .await?;
        let next = match applied {
            Applied::Done(next) => next,
            // A fresh attempt nobody else knows of cannot have moved: a store fault.
            Applied::Refused(e, _) => return Err(e.into()),
        };
        self.count(method, outcome);
        tracing::info!(attempt = %next.id, method = method.as_str(), status = %next.status, "web authorization");
        match (next.status, next.ticket) {
            (Status::Confirmed, Some(ticket)) => {
                let exchanged = self.service.exchange(&ticket, browser, now).await?;
                Ok(OAuthLanded::SignedIn(exchanged))
            }
            (Status::NeedPhone, _) => Ok(OAuthLanded::NeedPhone { attempt: next.id }),
            (Status::Cancelled, _) => Err(LoginError::Disabled),
            _ => Err(LoginError::WrongState),
        }
    }

    /// An attempt of this browser (the state's secret binds it), `waiting` until the person
    /// is settled, alive for the phone step.
    async fn new_attempt(
        &self,
        record: &StateRecord,
        browser: &BrowserSecret,
        now: u64,
    ) -> Result<Attempt> {
        let id = AttemptId::random();
        let expires_at = now.saturating_add(keys::PHONE_STEP_SECONDS);
        let attempt = Attempt::new(NewAttempt {
            scene: SceneId::of(&id),
            id: id.clone(),
            method: record.method,
            browser: tokens::browser_hash(browser),
            rd: record.rd.clone(),
            wechat_ticket: None,
            qr_content: String::new(),
            created_at: now,
            expires_at,
        });
        let ttl = keys::ttl_until(expires_at, now, keys::ATTEMPT_GRACE);
        self.service
            .inner
            .store
            .put(&keys::attempt(&id), &encode(&attempt)?, Some(ttl))
            .await?;
        Ok(attempt)
    }

    /// The person's unionid, looked for only when their openid is new: the grant's own
    /// (`snsapi_userinfo`, `snsapi_login`), else `sns/userinfo` for the scopes that allow
    /// it, else (`snsapi_base` inside WeChat) the Official Account's `user/info`. Without an
    /// answer in time the login goes on without one.
    async fn unionid_of(&self, app: &OAuthApp, grant: &OAuthGrant) -> Option<UnionId> {
        if let Some(unionid) = &grant.unionid {
            return Some(UnionId::new(unionid.clone()));
        }
        let lookup = async {
            if grant.scope == "snsapi_base" {
                let oa: &Option<OfficialAccountDeps> = &self.service.inner.official_account;
                let client = &oa.as_ref()?.client;
                return self
                    .service
                    .unionid_of(client, &OpenId::new(grant.openid.clone()))
                    .await;
            }
            match app.client.sns_user_info(grant).await {
                Ok(user) => user.unionid.map(UnionId::new),
                Err(e) => {
                    tracing::info!(
                        errcode = e.errcode(),
                        "sns/userinfo failed; logging in without a unionid"
                    );
                    None
                }
            }
        };
        tokio::time::timeout(UNIONID_BUDGET, lookup)
            .await
            .unwrap_or_else(|_| {
                tracing::warn!("unionid lookup too slow; logging in without a unionid");
                None
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_32_hex_digits_and_distinct() {
        let a = random_state();
        assert!(is_state(&a), "{a}");
        assert_ne!(a, random_state());
        for bad in [
            "",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcdeg",
            "../../../../../../../../../../..",
        ] {
            assert!(!is_state(bad), "{bad:?}");
        }
    }

    #[test]
    fn query_values_keep_only_unreserved_characters() {
        assert_eq!(
            encode_component("https://a.example/.auth/wechat/oauth/callback?x=1 2"),
            "https%3A%2F%2Fa.example%2F.auth%2Fwechat%2Foauth%2Fcallback%3Fx%3D1%202"
        );
        assert_eq!(encode_component("wx-1_a.b~"), "wx-1_a.b~");
    }
}
