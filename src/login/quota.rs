//! WeChat's daily quotas of the calls logins spend, and what the login does about them.
//!
//! Every Official Account attempt spends one `qrcode/create`, of which an account has 100,000
//! a day (10,000 for a test account); when they are gone WeChat answers 45009 until midnight
//! Beijing time. Mini Program codes (`getwxacodeunlimit`) are only limited per minute.
//!
//! - **See it coming**: [`LoginService::refresh_quotas`] reads both quotas (`openapi/quota/get`);
//!   one instance asks WeChat for all, through a claim key in the store, and the others read
//!   its answer from the store. Between reads each instance counts the codes it made. The
//!   metrics carry what is known; warnings are logged at 80 % and 95 % used.
//! - **Fail over**: when `qrcode/create` answers 45009 (until midnight Beijing time) or 45011
//!   (until the next minute), or fewer than `login.quota_reserve` calls are left, the Official
//!   Account is *paused*: the pause is kept in the store, so every instance stops asking, and
//!   new Official Account attempts become Mini Program attempts, or, without a Mini Program,
//!   [`LoginError::Paused`] says until when.
//!
//! Deadlines are decided on the `now` given (Unix seconds), never by store TTLs, which only
//! clean up.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::identity::{LoginMethod, SceneId};
use crate::wechat::client::{ApiQuota, QRCODE_CREATE_PATH, WXACODE_UNLIMITED_PATH};
use crate::wechat::Error as WechatError;

use super::error::LoginError;
use super::service::{LoginService, NewCode, Result};

/// How often the quotas are read from WeChat (by one instance for all).
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(600);
/// Beijing time is UTC+8 all year (China has no daylight saving time).
const BEIJING_OFFSET_SECONDS: u64 = 8 * 3600;
const DAY_SECONDS: u64 = 86_400;
/// Shares of the daily limit used at which a warning is logged, in percent.
const WARN_AT: [u8; 2] = [80, 95];

/// The APIs whose calls logins spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaApi {
    /// `qrcode/create`, one per Official Account attempt.
    QrCodeCreate,
    /// `getwxacodeunlimit`, one per Mini Program attempt.
    WxaCodeUnlimited,
}

impl QuotaApi {
    /// The `api` label, as in `scangate_wechat_api_requests_total`.
    pub fn label(self) -> &'static str {
        match self {
            QuotaApi::QrCodeCreate => "qrcode_create",
            QuotaApi::WxaCodeUnlimited => "wxacode_unlimited",
        }
    }

    /// The `cgi_path` getApiQuota knows it by.
    pub fn cgi_path(self) -> &'static str {
        match self {
            QuotaApi::QrCodeCreate => QRCODE_CREATE_PATH,
            QuotaApi::WxaCodeUnlimited => WXACODE_UNLIMITED_PATH,
        }
    }
}

/// Why the Official Account is paused: the `reason` label of the failover metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// 45009: today's `qrcode/create` calls are used up.
    DailyQuota,
    /// 45011: this minute's are.
    MinuteLimit,
    /// Fewer than `login.quota_reserve` calls are left today.
    Reserve,
}

impl PauseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PauseReason::DailyQuota => "daily_quota",
            PauseReason::MinuteLimit => "minute_limit",
            PauseReason::Reserve => "reserve",
        }
    }
}

/// The Official Account makes no codes until `until` (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub reason: PauseReason,
    pub until: u64,
}

/// The next midnight in Beijing (16:00 UTC) after `now`: when WeChat's daily quotas start again.
pub fn next_beijing_midnight(now: u64) -> u64 {
    let beijing = now + BEIJING_OFFSET_SECONDS;
    (beijing / DAY_SECONDS + 1) * DAY_SECONDS - BEIJING_OFFSET_SECONDS
}

/// The start of the next minute after `now`: when WeChat's per-minute limits start again.
pub fn next_minute(now: u64) -> u64 {
    (now / 60 + 1) * 60
}

/// The number of the day in Beijing at `at`: WeChat's quotas count per such day.
fn beijing_day(at: u64) -> u64 {
    (at + BEIJING_OFFSET_SECONDS) / DAY_SECONDS
}

/// `HH:MM` UTC of `at` (for logs and the person's text; the page shows its own local time).
pub fn utc_hh_mm(at: u64) -> String {
    let day = at % DAY_SECONDS;
    format!("{:02}:{:02}", day / 3600, day % 3600 / 60)
}

/// What this instance knows of each quota: the last reading, minus the codes it made since.
#[derive(Default)]
pub(super) struct QuotaBook {
    readings: Mutex<HashMap<QuotaApi, Reading>>,
}

#[derive(Clone, Copy)]
struct Reading {
    limit: u64,
    remain: u64,
    /// The Beijing day it was read on ([`beijing_day`]): another day's says nothing of today.
    day: u64,
    /// The highest of [`WARN_AT`] already warned about (0: none).
    warned: u8,
}

impl QuotaBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<QuotaApi, Reading>> {
        self.readings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a reading made at `read_at`; returns the limit, what is left and a warning
    /// level newly crossed.
    fn record(&self, api: QuotaApi, quota: ApiQuota, read_at: u64) -> (u64, u64, Option<u8>) {
        let mut readings = self.lock();
        let remain = quota
            .remain
            .min(quota.daily_limit.saturating_sub(quota.used));
        let day = beijing_day(read_at);
        let entry = readings.entry(api).or_insert(Reading {
            limit: quota.daily_limit,
            remain,
            day,
            warned: 0,
        });
        // A new day (more left than before) starts the warnings again.
        if remain > entry.remain || day != entry.day {
            entry.warned = 0;
        }
        entry.limit = quota.daily_limit;
        entry.remain = remain;
        entry.day = day;
        let crossed = crossed(entry);
        (entry.limit, entry.remain, crossed)
    }

    /// Counts one call made; `None` when no reading exists yet.
    fn spend(&self, api: QuotaApi) -> Option<(u64, u64, Option<u8>)> {
        let mut readings = self.lock();
        let entry = readings.get_mut(&api)?;
        entry.remain = entry.remain.saturating_sub(1);
        let crossed = crossed(entry);
        Some((entry.limit, entry.remain, crossed))
    }

    /// Marks the quota used up (WeChat said 45009).
    fn exhausted(&self, api: QuotaApi) -> Option<u64> {
        let mut readings = self.lock();
        let entry = readings.get_mut(&api)?;
        entry.remain = 0;
        Some(entry.limit)
    }

    /// `(limit, remain)` as known, if read on the Beijing day of `now`.
    pub(super) fn get(&self, api: QuotaApi, now: u64) -> Option<(u64, u64)> {
        self.lock()
            .get(&api)
            .filter(|r| r.day == beijing_day(now))
            .map(|r| (r.limit, r.remain))
    }
}

/// The warning level `r` has newly reached, which it then remembers.
fn crossed(r: &mut Reading) -> Option<u8> {
    if r.limit == 0 {
        return None;
    }
    let used = r.limit.saturating_sub(r.remain);
    let level = WARN_AT
        .iter()
        .copied()
        .filter(|p| used.saturating_mul(100) >= r.limit.saturating_mul(u64::from(*p)))
        .max()?;
    (level > r.warned).then(|| {
        r.warned = level;
        level
    })
}

/// A reading as shared in the store.
#[derive(Serialize, Deserialize)]
struct SharedReading {
    quota: ApiQuota,
    /// Unix seconds.
    read_at: u64,
}

fn reading_key(app_id: &str, api: QuotaApi) -> String {
    format!("wechat:quota:{app_id}:{}", api.label())
}

fn claim_key(app_id: &str, api: QuotaApi) -> String {
    format!("wechat:quota-claim:{app_id}:{}", api.label())
}

/// The Official Account's pause, shared by every instance.
const PAUSE_KEY: &str = "login:official-account-pause";

impl LoginService {
    /// Reads the quotas of the APIs logins spend (the configured methods' only), updating
    /// the metrics and logging warnings at 80 % and 95 % used. Across instances, one asks
    /// WeChat per [`REFRESH_INTERVAL`]; the others take its answer from the store. A failure
    /// is logged (the client wrote WeChat's answer) and the last reading kept.
    pub async fn refresh_quotas(&self, now: u64) {
        if let Some(oa) = &self.inner.official_account {
            let client = &oa.client;
            self.refresh_quota(QuotaApi::QrCodeCreate, client.app_id(), now, || {
                client.api_quota(QRCODE_CREATE_PATH)
            })
            .await;
        }
        if let Some(mp) = &self.inner.mini_program {
            let api = mp.api.clone();
            self.refresh_quota(QuotaApi::WxaCodeUnlimited, &mp.app_id, now, || async move {
                api.api_quota(WXACODE_UNLIMITED_PATH).await
            })
            .await;
        }
    }

    async fn refresh_quota<F, Fut>(&self, api: QuotaApi, app_id: &str, now: u64, ask: F)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<ApiQuota, WechatError>>,
    {
        let store = &self.inner.store;
        // Slightly shorter than the interval, so the next round's claim is free again.
        let claim_ttl = REFRESH_INTERVAL.saturating_sub(Duration::from_secs(5));
        let claimed = match store
            .put_if_absent(&claim_key(app_id, api), b"1", Some(claim_ttl))
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(api = api.label(), error = %e, "cannot claim the quota read; asking WeChat");
                true
            }
        };
        let (quota, read_at) = if claimed {
            match ask().await {
                Ok(quota) => {
                    let shared = SharedReading {
                        quota,
                        read_at: now,
                    };
                    if let Ok(bytes) = serde_json::to_vec(&shared) {
                        // Kept a day at most: yesterday's reading says nothing of today.
                        let keep = Some(Duration::from_secs(DAY_SECONDS));
                        if let Err(e) = store.put(&reading_key(app_id, api), &bytes, keep).await {
                            tracing::warn!(api = api.label(), error = %e, "cannot share the quota read");
                        }
                    }
                    (quota, now)
                }
                Err(e) => {
                    tracing::warn!(api = api.label(), error = %e, "cannot read the WeChat quota; keeping the last reading");
                    return;
                }
            }
        } else {
            match store.get(&reading_key(app_id, api)).await {
                Ok(Some(bytes)) => match serde_json::from_slice::<SharedReading>(&bytes) {
                    Ok(shared) => (shared.quota, shared.read_at),
                    Err(_) => return,
                },
                _ => return,
            }
        };
        let (limit, remain, crossed) = self.inner.quota.record(api, quota, read_at);
        self.after_count(api, limit, remain, crossed);
    }

    /// Counts one call of `api` made by this instance.
    pub(super) fn spent(&self, api: QuotaApi) {
        if let Some((limit, remain, crossed)) = self.inner.quota.spend(api) {
            self.after_count(api, limit, remain, crossed);
        }
    }

    fn after_count(&self, api: QuotaApi, limit: u64, remain: u64, crossed: Option<u8>) {
        self.inner.metrics.wechat_quota(api.label(), limit, remain);
        if let Some(percent) = crossed {
            tracing::warn!(
                api = api.label(),
                daily_limit = limit,
                remain,
                "{percent}% of today's {} calls are used; they start again at midnight Beijing time (16:00 UTC){}",
                api.label(),
                if api == QuotaApi::QrCodeCreate {
                    ". When they run out, new logins use the Mini Program (if configured) or wait"
                } else {
                    ""
                }
            );
        }
    }

    /// Whether the Official Account makes no codes now, and until when.
    pub(super) async fn official_account_pause(&self, now: u64) -> Result<Option<Pause>> {
        if let Some(raw) = self.inner.store.get(PAUSE_KEY).await? {
            if let Ok(pause) = serde_json::from_slice::<Pause>(&raw) {
                if pause.until > now {
                    return Ok(Some(pause));
                }
            }
        }
        // Yesterday's reading (before the first read after midnight) holds nothing back.
        if let Some((limit, remain)) = self.inner.quota.get(QuotaApi::QrCodeCreate, now) {
            if remain < self.inner.login.quota_reserve.of(limit) {
                return Ok(Some(Pause {
                    reason: PauseReason::Reserve,
                    until: next_beijing_midnight(now),
                }));
            }
        }
        Ok(None)
    }

    /// Pauses the Official Account after WeChat's `errcode`, if it is a quota's; `None` for
    /// any other error.
    async fn pause_after(&self, errcode: Option<i64>, now: u64) -> Option<Pause> {
        let pause = match errcode {
            Some(45009) => {
                if let Some(limit) = self.inner.quota.exhausted(QuotaApi::QrCodeCreate) {
                    self.inner
                        .metrics
                        .wechat_quota(QuotaApi::QrCodeCreate.label(), limit, 0);
                }
                Pause {
                    reason: PauseReason::DailyQuota,
                    until: next_beijing_midnight(now),
                }
            }
            Some(45011) => Pause {
                reason: PauseReason::MinuteLimit,
                until: next_minute(now),
            },
            _ => return None,
        };
        if let Ok(bytes) = serde_json::to_vec(&pause) {
            let ttl = Duration::from_secs(pause.until.saturating_sub(now) + 60);
            if let Err(e) = self.inner.store.put(PAUSE_KEY, &bytes, Some(ttl)).await {
                // This instance still fails over for this attempt; the next asks WeChat again.
                tracing::warn!(error = %e, "cannot share the Official Account's pause");
            }
        }
        Some(pause)
    }

    /// The code of a new Official Account attempt, or, while the Official Account is paused
    /// by a quota, the Mini Program's (when configured), or [`LoginError::Paused`].
    pub(super) async fn official_account_or_failover(
        &self,
        scene: &SceneId,
        now: u64,
    ) -> Result<(LoginMethod, NewCode)> {
        let pause = match self.official_account_pause(now).await? {
            Some(pause) => pause,
            None => match self.official_account_code(scene).await {
                Ok(code) => {
                    self.spent(QuotaApi::QrCodeCreate);
                    return Ok((LoginMethod::OfficialAccount, code));
                }
                Err(LoginError::Wechat(e)) => match self.pause_after(e.errcode(), now).await {
                    Some(pause) => pause,
                    None => return Err(LoginError::Wechat(e)),
                },
                Err(other) => return Err(other),
            },
        };
        let from = LoginMethod::OfficialAccount.as_str();
        let reason = pause.reason.as_str();
        if self.inner.mini_program.is_some() {
            let code = self.mini_program_code(scene).await?;
            self.spent(QuotaApi::WxaCodeUnlimited);
            self.inner
                .metrics
                .login_failover(from, LoginMethod::MiniProgram.as_str(), reason);
            return Ok((LoginMethod::MiniProgram, code));
        }
        self.inner.metrics.login_failover(from, "none", reason);
        Err(LoginError::Paused {
            until: pause.until,
            retry_after_seconds: pause.until.saturating_sub(now).max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midnight_in_beijing_is_four_in_the_afternoon_utc() {
        // 2026-12-05 11:30:00 UTC = 19:30 in Beijing: the quota starts again at 16:00 UTC.
        let now = 1_796_470_200;
        assert_eq!(utc_hh_mm(now), "11:30");
        let midnight = next_beijing_midnight(now);
        assert_eq!(utc_hh_mm(midnight), "16:00");
        assert_eq!(midnight - now, 4 * 3600 + 30 * 60);
        // Just after 16:00 UTC it is a new day in Beijing: the next reset is a day later.
        assert_eq!(next_beijing_midnight(midnight), midnight + DAY_SECONDS);
        assert_eq!(next_beijing_midnight(midnight - 1), midnight);
    }

    #[test]
    fn the_next_minute_starts_on_the_minute() {
        assert_eq!(next_minute(120), 180);
        assert_eq!(next_minute(179), 180);
    }

    #[test]
    fn warnings_come_once_per_level_and_again_on_a_new_day() {
        const READ_AT: u64 = 1_796_472_000;
        let book = QuotaBook::default();
        let q = |used: u64| ApiQuota {
            daily_limit: 100,
            used,
            remain: 100 - used,
        };
        assert_eq!(book.record(QuotaApi::QrCodeCreate, q(10), READ_AT).2, None);
        assert_eq!(book.record(QuotaApi::QrCodeCreate, q(79), READ_AT).2, None);
        assert_eq!(
            book.spend(QuotaApi::QrCodeCreate).map(|s| s.2),
            Some(Some(80))
        );
        assert_eq!(book.spend(QuotaApi::QrCodeCreate).map(|s| s.2), Some(None));
        assert_eq!(
            book.record(QuotaApi::QrCodeCreate, q(96), READ_AT).2,
            Some(95)
        );
        assert_eq!(book.record(QuotaApi::QrCodeCreate, q(97), READ_AT).2, None);
        // Midnight: the count starts over, and so do the warnings.
        assert_eq!(book.record(QuotaApi::QrCodeCreate, q(0), READ_AT).2, None);
        assert_eq!(
            book.record(QuotaApi::QrCodeCreate, q(81), READ_AT).2,
            Some(80)
        );
        assert_eq!(book.spend(QuotaApi::WxaCodeUnlimited), None, "never read");
        // Yesterday's reading says nothing of today.
        assert_eq!(book.get(QuotaApi::QrCodeCreate, READ_AT), Some((100, 19)));
        let tomorrow = next_beijing_midnight(READ_AT);
        assert_eq!(book.get(QuotaApi::QrCodeCreate, tomorrow), None);
    }
}
