//! The simulator's memory: issued tokens, QR codes, users, the menu, the Mini Program,
//! injected faults, counters.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::api::random_string;
use super::{SimApi, SimWxaCode};

pub(super) struct Shared {
    pub app_id: String,
    pub app_secret: String,
    pub inner: Mutex<Inner>,
    pub counters: Counters,
}

#[derive(Default)]
pub(super) struct Counters {
    pub token_calls: AtomicU64,
    pub stable_token_calls: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub qrcode_creates: AtomicU64,
    pub user_info_calls: AtomicU64,
    pub pushes: AtomicU64,
    pub wxacode_calls: AtomicU64,
    pub jscode2session_calls: AtomicU64,
    pub phone_number_calls: AtomicU64,
    pub menu_creates: AtomicU64,
    pub menu_gets: AtomicU64,
    pub callback_ip_calls: AtomicU64,
    pub urllink_calls: AtomicU64,
    pub oauth_token_calls: AtomicU64,
    pub sns_userinfo_calls: AtomicU64,
    pub quota_gets: AtomicU64,
}

pub(super) struct Inner {
    pub tokens: HashMap<String, IssuedToken>,
    /// Per appid: each account has its own current classic and stable token.
    pub classic_current: HashMap<String, String>,
    pub stable_current: HashMap<String, String>,
    /// Kept through [`Inner::add_ticket`], which forgets long-expired ones.
    pub tickets: HashMap<String, QrCode>,
    /// The ticket count at which [`Inner::add_ticket`] next sweeps.
    pub next_ticket_sweep: usize,
    pub users: HashMap<String, UserRecord>,
    pub faults: HashMap<SimApi, VecDeque<i64>>,
    pub token_ttl: Duration,
    pub latency: Duration,
    pub mini_program: Option<MiniProgram>,
    /// The `button` array of the last menu `menu/create` accepted, as posted.
    pub menu: Option<serde_json::Value>,
    /// False = the caller's IP is not in the whitelist: credential calls answer 40164.
    pub ip_whitelisted: bool,
    /// What `getcallbackip` lists: the addresses pushes come from.
    pub callback_ips: Vec<String>,
    /// True = `getcallbackip` answers 45009 (an outage of that API).
    pub callback_ips_failing: bool,
    /// The gateway the simulated Mini Program page calls when a URL Link opens it.
    pub page_target: Option<super::urllink::PageTarget>,
    /// Web authorization and the website application (`oauth.rs`).
    pub oauth: super::oauth::OAuthState,
    /// The daily quotas of the APIs logins spend (`quota.rs`).
    pub quotas: super::quota::Quotas,
}

pub(super) struct IssuedToken {
    /// The account the token was issued to: another account's API answers 48001.
    pub app_id: String,
    pub valid_until: Instant,
    /// Invalidated before its natural expiry (rotation, force refresh, revocation): WeChat
    /// then answers 40001 rather than 42001.
    pub revoked: bool,
}

pub(super) struct QrCode {
    pub scene: String,
    /// `None` for permanent codes.
    pub expires_at: Option<Instant>,
}

pub(super) struct UserRecord {
    pub unionid: Option<String>,
    pub subscribed: bool,
    pub subscribe_time: u64,
    pub qr_scene_str: Option<String>,
}

/// How long an expired QR ticket or Mini Program code is still known (and answers
/// "expired" or "used" rather than "unknown"); after that it is forgotten, so a
/// long-running demo does not grow with every login.
pub(super) const EXPIRED_KEPT: Duration = Duration::from_secs(600);
/// Entries below which no sweep happens.
const SWEEP_MIN: usize = 1024;
/// Code images remembered for [`super::SimHandle::wxacodes`]: the latest only.
pub(super) const WXACODES_KEPT: usize = 256;

/// Before an insert into `map`: once it has grown to `*next_sweep`, forgets the entries
/// expired for longer than [`EXPIRED_KEPT`] (`expires_at` `None` = never), and puts the next
/// sweep at twice what is left. So each insert costs amortised O(1), and the map never holds
/// more than twice its live entries (or [`SWEEP_MIN`]).
fn sweep_before_insert<V>(
    map: &mut HashMap<String, V>,
    next_sweep: &mut usize,
    now: Instant,
    expires_at: impl Fn(&V) -> Option<Instant>,
) {
    if map.len() < *next_sweep {
        return;
    }
    map.retain(|_, v| {
        expires_at(v).is_none_or(|at| now.saturating_duration_since(at) < EXPIRED_KEPT)
    });
    *next_sweep = (map.len() * 2).max(SWEEP_MIN);
}

impl Inner {
    /// Records a new QR ticket, forgetting long-expired ones ([`sweep_before_insert`]).
    pub fn add_ticket(&mut self, ticket: String, code: QrCode) {
        self.add_ticket_at(ticket, code, Instant::now());
    }

    fn add_ticket_at(&mut self, ticket: String, code: QrCode, now: Instant) {
        sweep_before_insert(&mut self.tickets, &mut self.next_ticket_sweep, now, |c| {
            c.expires_at
        });
        self.tickets.insert(ticket, code);
    }

    pub fn new() -> Self {
        Inner {
            tokens: HashMap::new(),
            classic_current: HashMap::new(),
            stable_current: HashMap::new(),
            tickets: HashMap::new(),
            next_ticket_sweep: SWEEP_MIN,
            users: HashMap::new(),
            faults: HashMap::new(),
            token_ttl: Duration::from_secs(7200),
            latency: Duration::ZERO,
            mini_program: None,
            page_target: None,
            menu: None,
            ip_whitelisted: true,
            // The simulator pushes from loopback.
            callback_ips: vec!["127.0.0.1".to_string(), "::1".to_string()],
            callback_ips_failing: false,
            quotas: super::quota::Quotas::default(),
            oauth: super::oauth::OAuthState::default(),
        }
    }
}

/// The simulated Mini Program: its credentials and the codes its page was given.
pub(super) struct MiniProgram {
    pub app_id: String,
    pub app_secret: String,
    /// `wx.login` codes by value. Kept through [`MiniProgram::add_login_code`].
    pub login_codes: HashMap<String, IssuedCode<LoginGrant>>,
    next_login_sweep: usize,
    /// `getPhoneNumber` button codes by value. Kept through [`MiniProgram::add_phone_code`].
    pub phone_codes: HashMap<String, IssuedCode<PhoneGrant>>,
    next_phone_sweep: usize,
    /// Pages missing from the published version: 41030 with `check_path`.
    pub unpublished: HashSet<String>,
    /// The latest [`WXACODES_KEPT`] code images served, in order. Kept through
    /// [`MiniProgram::served`].
    pub wxacodes: VecDeque<SimWxaCode>,
    /// URL Links made, by ticket (the last path segment of the link).
    pub url_links: super::urllink::Links,
}

impl MiniProgram {
    pub fn new(app_id: &str, app_secret: &str) -> Self {
        MiniProgram {
            app_id: app_id.to_owned(),
            app_secret: app_secret.to_owned(),
            login_codes: HashMap::new(),
            next_login_sweep: SWEEP_MIN,
            phone_codes: HashMap::new(),
            next_phone_sweep: SWEEP_MIN,
            unpublished: HashSet::new(),
            wxacodes: VecDeque::new(),
            url_links: Default::default(),
        }
    }

    /// Records a `wx.login` code, forgetting long-expired ones ([`sweep_before_insert`]).
    pub fn add_login_code(&mut self, code: String, issued: IssuedCode<LoginGrant>, now: Instant) {
        sweep_before_insert(
            &mut self.login_codes,
            &mut self.next_login_sweep,
            now,
            |c| Some(c.valid_until),
        );
        self.login_codes.insert(code, issued);
    }

    /// Records a phone button code, forgetting long-expired ones ([`sweep_before_insert`]).
    pub fn add_phone_code(&mut self, code: String, issued: IssuedCode<PhoneGrant>, now: Instant) {
        sweep_before_insert(
            &mut self.phone_codes,
            &mut self.next_phone_sweep,
            now,
            |c| Some(c.valid_until),
        );
        self.phone_codes.insert(code, issued);
    }

    /// Remembers a code image served, forgetting the oldest beyond [`WXACODES_KEPT`].
    pub fn served(&mut self, code: SimWxaCode) {
        if self.wxacodes.len() >= WXACODES_KEPT {
            self.wxacodes.pop_front();
        }
        self.wxacodes.push_back(code);
    }
}

/// A single-use code and what it grants.
pub(super) struct IssuedCode<T> {
    pub grant: T,
    pub valid_until: Instant,
    pub used: bool,
}

/// Why a code cannot be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CodeRefusal {
    /// Never issued (to this app), or expired.
    Invalid,
    /// Redeemed before.
    Used,
}

impl<T: Clone> IssuedCode<T> {
    pub fn new(grant: T, ttl: Duration) -> Self {
        IssuedCode {
            grant,
            valid_until: Instant::now() + ttl,
            used: false,
        }
    }

    /// Marks the code used and returns its grant, once.
    pub fn redeem(&mut self) -> Result<T, CodeRefusal> {
        if self.used {
            return Err(CodeRefusal::Used);
        }
        if Instant::now() >= self.valid_until {
            return Err(CodeRefusal::Invalid);
        }
        self.used = true;
        Ok(self.grant.clone())
    }
}

/// What `jscode2session` answers for a `wx.login` code.
#[derive(Clone)]
pub(super) struct LoginGrant {
    pub openid: String,
    pub unionid: Option<String>,
}

/// What `getuserphonenumber` answers for a phone button code.
#[derive(Clone)]
pub(super) struct PhoneGrant {
    /// The Mini Program openid of the person the code was issued to, when known: a request
    /// naming another openid is refused (40029), as WeChat checks the optional `openid`.
    pub openid: Option<String>,
    pub phone_number: String,
    pub pure_phone_number: String,
    pub country_code: String,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic in another handler leaves plain data behind; keep serving it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts the call, applies the configured latency, and pops an injected error.
    pub async fn enter(&self, api: SimApi, counter: &AtomicU64) -> Option<i64> {
        counter.fetch_add(1, Ordering::SeqCst);
        let latency = self.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        self.lock()
            .faults
            .get_mut(&api)
            .and_then(VecDeque::pop_front)
    }

    pub fn issue_token(inner: &mut Inner, counters: &Counters, app_id: &str) -> (String, Duration) {
        counters.tokens_issued.fetch_add(1, Ordering::SeqCst);
        let value = format!("86_{}", random_string(140));
        inner.tokens.insert(
            value.clone(),
            IssuedToken {
                app_id: app_id.to_owned(),
                valid_until: Instant::now() + inner.token_ttl,
                revoked: false,
            },
        );
        (value, inner.token_ttl)
    }

    /// Err(errcode) when the token cannot be used for an Official Account API.
    pub fn check_token(&self, token: Option<&String>) -> Result<(), i64> {
        let app_id = self.token_app(token)?;
        if app_id != self.app_id {
            return Err(48001);
        }
        Ok(())
    }

    /// The Mini Program's appid, or Err(errcode) when the token cannot be used for its APIs.
    pub fn check_mp_token(&self, token: Option<&String>) -> Result<String, i64> {
        let app_id = self.token_app(token)?;
        match &self.lock().mini_program {
            Some(mp) if mp.app_id == app_id => Ok(app_id),
            // Another account's token on a Mini Program API (§2.4).
            _ => Err(48001),
        }
    }

    /// The appid a usable token was issued to.
    fn token_app(&self, token: Option<&String>) -> Result<String, i64> {
        let token = token.filter(|t| !t.is_empty()).ok_or(41001)?;
        let inner = self.lock();
        let issued = inner.tokens.get(token).ok_or(40001)?;
        match (Instant::now() < issued.valid_until, issued.revoked) {
            (true, _) => Ok(issued.app_id.clone()),
            (false, true) => Err(40001),
            (false, false) => Err(42001),
        }
    }

    /// The appid whose credentials these are: the Official Account's, the Mini Program's or
    /// the website application's.
    pub fn check_credentials(
        &self,
        appid: Option<&str>,
        secret: Option<&str>,
    ) -> Result<String, i64> {
        let appid = appid.filter(|s| !s.is_empty()).ok_or(41002)?;
        let secret = secret.filter(|s| !s.is_empty()).ok_or(41004)?;
        // The whitelist is checked before the secret: a right secret from the wrong
        // machine still fails.
        if !self.lock().ip_whitelisted {
            return Err(40164);
        }
        let expected = if appid == self.app_id {
            self.app_secret.clone()
        } else {
            let inner = self.lock();
            match (&inner.mini_program, &inner.oauth.website) {
                (Some(mp), _) if mp.app_id == appid => mp.app_secret.clone(),
                (_, Some(site)) if site.app_id == appid => site.app_secret.clone(),
                _ => return Err(40013),
            }
        };
        if secret != expected {
            return Err(40125);
        }
        Ok(appid.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(expires_at: Option<Instant>) -> QrCode {
        QrCode {
            scene: "s".into(),
            expires_at,
        }
    }

    #[test]
    fn long_expired_tickets_are_forgotten_and_the_rest_kept() {
        let mut inner = Inner::new();
        let start = Instant::now();
        let now = start + EXPIRED_KEPT * 3;
        let add = |inner: &mut Inner, name: &str, expires_at| {
            inner.add_ticket_at(name.into(), code(expires_at), now);
        };
        add(&mut inner, "permanent", None);
        add(
            &mut inner,
            "just-expired",
            Some(now - Duration::from_secs(1)),
        );
        add(&mut inner, "live", Some(now + Duration::from_secs(60)));
        for i in 0..SWEEP_MIN * 3 {
            add(&mut inner, &format!("old-{i}"), Some(start));
        }
        // Swept as it grew: never more than twice what survives a sweep, plus what came after.
        assert!(
            inner.tickets.len() <= SWEEP_MIN * 2,
            "{}",
            inner.tickets.len()
        );
        for kept in ["permanent", "just-expired", "live"] {
            assert!(inner.tickets.contains_key(kept), "{kept}");
        }
        assert!(!inner.tickets.contains_key("old-0"));
    }

    #[test]
    fn a_ticket_a_second_for_hours_keeps_the_map_small() {
        let mut inner = Inner::new();
        let start = Instant::now();
        // Ten hours of five-minute QR codes, one a second: 36,000 logins.
        for i in 0..(10 * 3600) {
            let now = start + Duration::from_secs(i);
            let ticket = code(Some(now + Duration::from_secs(300)));
            inner.add_ticket_at(format!("t-{i}"), ticket, now);
        }
        assert!(
            inner.tickets.len() <= 2 * SWEEP_MIN,
            "{}",
            inner.tickets.len()
        );
        // The live ones are all there.
        let live = (10 * 3600 - 300)..(10 * 3600);
        assert!(live
            .into_iter()
            .all(|i| inner.tickets.contains_key(&format!("t-{i}"))));
    }

    #[test]
    fn long_expired_mini_program_codes_are_forgotten() {
        let mut mp = MiniProgram::new("wxmp", "secret");
        let start = Instant::now();
        let issued = |valid_until| IssuedCode {
            grant: LoginGrant {
                openid: "o".into(),
                unionid: None,
            },
            valid_until,
            used: false,
        };
        // A login's worth of five-minute codes, one every second, for three hours.
        for i in 0..(3 * 3600) {
            let now = start + Duration::from_secs(i);
            let code = issued(now + Duration::from_secs(300));
            mp.add_login_code(format!("js-{i}"), code, now);
            let phone = IssuedCode {
                grant: PhoneGrant {
                    openid: None,
                    phone_number: "13800138000".into(),
                    pure_phone_number: "13800138000".into(),
                    country_code: "86".into(),
                },
                valid_until: now + Duration::from_secs(300),
                used: true,
            };
            mp.add_phone_code(format!("ph-{i}"), phone, now);
        }
        // Live or recently expired: 300 s + EXPIRED_KEPT of codes, and a sweep's slack.
        for (name, len) in [
            ("login", mp.login_codes.len()),
            ("phone", mp.phone_codes.len()),
        ] {
            assert!(len <= 2 * SWEEP_MIN, "{name}: {len}");
        }
        let last = format!("js-{}", 3 * 3600 - 1);
        assert!(mp.login_codes.contains_key(&last));
        assert!(!mp.login_codes.contains_key("js-0"));
    }

    #[test]
    fn only_the_latest_code_images_are_remembered() {
        let mut mp = MiniProgram::new("wxmp", "secret");
        for i in 0..(WXACODES_KEPT + 10) {
            mp.served(SimWxaCode {
                scene: i.to_string(),
                page: String::new(),
                env_version: "release".into(),
                check_path: true,
                width: 430,
            });
        }
        assert_eq!(mp.wxacodes.len(), WXACODES_KEPT);
        assert_eq!(mp.wxacodes[0].scene, "10");
    }
}
