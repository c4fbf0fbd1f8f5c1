//! The `need_phone` step: sending a code, binding the phone, or skipping.

use crate::metrics::LoginOutcome;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::identity::{AttemptId, BrowserSecret, Phone, UserId};
use crate::users::User;

use super::error::LoginError;
use super::keys;
use super::limits::{self, client_key, Limit, Subject, DAY, HOUR};
use super::service::{decode, encode, Applied, LoginService, Result};
use super::state::{Attempt, Status};
use super::ticket::Confirmed;
use super::tokens;

/// Compare-and-swap rounds on one code record before giving up: each lost round is another
/// try of the same browser landing first.
const CODE_ROUNDS: usize = 8;

/// The current code of an attempt (JSON; field names are the storage format).
#[derive(Clone, Serialize, Deserialize)]
struct CodeRecord {
    /// [`tokens::code_hash`] of the code.
    hash: String,
    /// Where it was sent: the code binds only this number.
    phone: Phone,
    /// Wrong tries so far; [`keys::MAX_CODE_TRIES`] = dead.
    tries: u32,
    /// Unix seconds.
    sent_at: u64,
    /// Unix seconds.
    expires_at: u64,
}

impl LoginService {
    /// Sends a six-digit code to `phone` for the browser's `need_phone` attempt.
    ///
    /// Refused with [`LoginError::BadPhone`] for a number that cannot be read or whose country
    /// `login.phone_countries` does not list, [`LoginError::RateLimited`] within
    /// [`keys::RESEND_COOLDOWN_SECONDS`] of the previous code or past a `login.limits` budget
    /// (per client IP and per number, hourly and daily; the number's limits hold across
    /// attempts, against SMS bombing). A new code replaces the previous one (and its tries).
    /// If the provider fails, the code is withdrawn so the user can ask again at once; a
    /// provider's refusal of the number is [`LoginError::SmsLimited`] or
    /// [`LoginError::SmsNumberRefused`], any other failure [`LoginError::Sms`].
    ///
    /// Nothing here depends on whether the number is bound to someone: a number another user
    /// holds gets its code like any other, and the answer is the same. Saying "taken" here
    /// would let anyone list the registered numbers (one call each, no SMS sent); whoever
    /// holds the phone learns it at [`bind_phone`](Self::bind_phone), once the code proves the
    /// phone is theirs. Sending the code anyway (rather than answering alike but sending
    /// nothing) is kinder to the real owner, who is usually on a second WeChat account and is
    /// then told why at once instead of waiting for an SMS that never comes; and it is safer,
    /// as no time spent on the provider tells the two apart. It costs no more SMS than any
    /// other number: the same limits count it.
    pub async fn send_code(
        &self,
        id: &AttemptId,
        browser: &BrowserSecret,
        phone: &str,
        client_ip: IpAddr,
        now: u64,
    ) -> Result<()> {
        let inner = &self.inner;
        let (_, attempt) = self.load_for(id, browser).await?;
        require_need_phone(&attempt, now)?;
        // Before the cooldown and the budgets: a number we would never bind costs nothing.
        let phone = self.accepted_phone(phone)?;

        // The cooldown depends on this browser's attempt only, never on the number.
        let key = keys::code(id);
        let previous = inner.store.get(&key).await?;
        if let Some(raw) = &previous {
            let record: CodeRecord = decode(raw)?;
            let ready_at = record.sent_at.saturating_add(keys::RESEND_COOLDOWN_SECONDS);
            if now < ready_at {
                return Err(LoginError::RateLimited {
                    retry_after_seconds: ready_at - now,
                });
            }
        }
        let limits = &inner.login.limits;
        let ip = client_key(client_ip);
        let checks = [
            (
                Limit::per("sms_ip_h", limits.sms_per_ip_per_hour, HOUR),
                Subject::Client(&ip),
            ),
            (
                Limit::per("sms_ip_d", limits.sms_per_ip_per_day, DAY),
                Subject::Client(&ip),
            ),
            (
                Limit::per("sms_phone_h", limits.sms_per_phone_per_hour, HOUR),
                Subject::Phone(&phone),
            ),
            (
                Limit::per("sms_phone_d", limits.sms_per_phone_per_day, DAY),
                Subject::Phone(&phone),
            ),
        ];
        if let Err(e) = limits::charge(&*inner.store, &checks, now).await {
            tracing::warn!(attempt = %attempt.id, phone = %phone.masked(), client = %ip, "code refused by a rate limit");
            return Err(e);
        }

        let code = tokens::six_digit_code();
        let code_ttl = inner.login.code_ttl_seconds;
        let record = encode(&CodeRecord {
            hash: tokens::code_hash(id, &code),
            phone: phone.clone(),
            tries: 0,
            sent_at: now,
            expires_at: now.saturating_add(code_ttl),
        })?;
        let ttl = Some(Duration::from_secs(code_ttl).saturating_add(keys::CODE_GRACE));
        let written = match &previous {
            Some(raw) => {
                inner
                    .store
                    .compare_and_swap(&key, raw, &record, ttl)
                    .await?
            }
            None => inner.store.put_if_absent(&key, &record, ttl).await?,
        };
        if !written {
            // Another request of this browser sent a code a moment ago.
            return Err(LoginError::RateLimited {
                retry_after_seconds: keys::RESEND_COOLDOWN_SECONDS,
            });
        }
        let sent = match inner.sms.send(&phone, &code).await {
            Ok(sent) => sent,
            Err(e) => {
                tracing::warn!(attempt = %attempt.id, phone = %phone.masked(), error = %e, "cannot send a phone code");
                if let Err(e) = inner.store.compare_and_delete(&key, &record).await {
                    tracing::warn!(error = %e, "cannot withdraw an unsent code");
                }
                return Err(LoginError::from(e));
            }
        };
        inner
            .metrics
            .login_attempt(attempt.method.as_str(), LoginOutcome::CodeSent);
        tracing::info!(attempt = %attempt.id, phone = %phone.masked(), request_id = ?sent.request_id, "phone code sent");
        Ok(())
    }

    /// Checks `code` for `phone` and, if right, binds the phone (registering a new user, or
    /// adding it to the known user who needed one) and confirms the attempt.
    ///
    /// Each wrong code (or a number other than the one the code went to) costs a try:
    /// [`LoginError::InvalidCode`] with the tries left, and the fifth kills the code
    /// ([`LoginError::CodeDead`]; so does every later try). A code past `code_ttl_seconds`, or
    /// none at all, is [`LoginError::CodeExpired`]. A number bound to another user is
    /// [`LoginError::PhoneTaken`], and only here, after the right code proved the caller holds
    /// the phone (the directory refuses it atomically, so a number bound meanwhile is caught
    /// too); the attempt stays at `need_phone`, and the code, which has done its work, is
    /// withdrawn so that a code for another number may be asked for at once. A number that
    /// cannot be read, or of a country not listed (any more), is [`LoginError::BadPhone`] and
    /// costs no try.
    pub async fn bind_phone(
        &self,
        id: &AttemptId,
        browser: &BrowserSecret,
        phone: &str,
        code: &str,
        now: u64,
    ) -> Result<Confirmed> {
        let (_, attempt) = self.load_for(id, browser).await?;
        require_need_phone(&attempt, now)?;
        let phone = self.accepted_phone(phone)?;
        let code_raw = self.check_code(&attempt, &phone, code, now).await?;

        let bound = match &attempt.user_id {
            Some(user_id) => Ok(self.inner.users.bind_phone(user_id, &phone, now).await?),
            None => self.register(&attempt, Some(&phone), now).await,
        };
        let user = match bound {
            Err(LoginError::PhoneTaken) => {
                self.withdraw_code(id, &code_raw).await;
                return Err(LoginError::PhoneTaken);
            }
            other => other?,
        };
        let confirmed = self.confirm_phone_step(&attempt, user, now, false).await?;
        // Used: a second bind with it must not pass (the attempt is confirmed anyway).
        self.withdraw_code(id, &code_raw).await;
        let method = attempt.method.as_str();
        self.inner
            .metrics
            .login_attempt(method, LoginOutcome::PhoneBound);
        tracing::info!(attempt = %attempt.id, phone = %phone.masked(), "phone bound");
        Ok(confirmed)
    }

    /// Logs in without a phone, which only `login.phone: optional` allows
    /// ([`LoginError::WrongState`] otherwise).
    pub async fn skip_phone(
        &self,
        id: &AttemptId,
        browser: &BrowserSecret,
        now: u64,
    ) -> Result<Confirmed> {
        let (_, attempt) = self.load_for(id, browser).await?;
        require_need_phone(&attempt, now)?;
        if !attempt.phone_skippable {
            return Err(LoginError::WrongState);
        }
        let user = match &attempt.user_id {
            Some(user_id) => self
                .inner
                .users
                .get(user_id)
                .await?
                .ok_or(LoginError::Corrupt)?,
            None => self.register(&attempt, None, now).await?,
        };
        self.confirm_phone_step(&attempt, user, now, true).await
    }

    /// `text` as a number this deployment takes: readable, and of a country
    /// `login.phone_countries` lists. Else [`LoginError::BadPhone`] saying why.
    fn accepted_phone(&self, text: &str) -> Result<Phone> {
        let phone = Phone::parse(text).map_err(LoginError::BadPhone)?;
        self.inner
            .login
            .phone_countries
            .admit(&phone)
            .map_err(LoginError::BadPhone)?;
        Ok(phone)
    }

    /// Deletes the code record `raw` of attempt `id` if it is still the current one. Best
    /// effort: a code left behind expires by itself.
    async fn withdraw_code(&self, id: &AttemptId, raw: &[u8]) {
        if let Err(e) = self
            .inner
            .store
            .compare_and_delete(&keys::code(id), raw)
            .await
        {
            tracing::warn!(error = %e, "cannot delete a used code; it expires by itself");
        }
    }

    /// Checks a code against the attempt's record, counting wrong tries with compare-and-swap
    /// so parallel guesses cannot share one try. Returns the record's raw bytes when right.
    async fn check_code(
        &self,
        attempt: &Attempt,
        phone: &Phone,
        code: &str,
        now: u64,
    ) -> Result<Vec<u8>> {
        let store = &self.inner.store;
        let key = keys::code(&attempt.id);
        let offered = tokens::code_hash(&attempt.id, code);
        for _ in 0..CODE_ROUNDS {
            let Some(raw) = store.get(&key).await? else {
                return Err(LoginError::CodeExpired);
            };
            let mut record: CodeRecord = decode(&raw)?;
            if record.tries >= keys::MAX_CODE_TRIES {
                return Err(LoginError::CodeDead);
            }
            if now >= record.expires_at {
                return Err(LoginError::CodeExpired);
            }
            // Both compared in full, so a wrong number and a wrong code look the same.
            let right_code = tokens::ct_eq(&offered, &record.hash);
            let right_phone = record.phone == *phone;
            if right_code && right_phone {
                return Ok(raw);
            }
            record.tries += 1;
            // `None` keeps the record's TTL: a wrong try never extends a code's life.
            if !store
                .compare_and_swap(&key, &raw, &encode(&record)?, None)
                .await?
            {
                continue;
            }
            self.inner
                .metrics
                .login_attempt(attempt.method.as_str(), LoginOutcome::CodeInvalid);
            let tries_left = keys::MAX_CODE_TRIES - record.tries;
            return Err(if tries_left == 0 {
                LoginError::CodeDead
            } else {
                LoginError::InvalidCode { tries_left }
            });
        }
        Err(LoginError::Busy)
    }

    /// Registers the attempt's scanner (a new user, or linked by unionid if one appeared
    /// meanwhile), with `phone` if given.
    async fn register(&self, attempt: &Attempt, phone: Option<&Phone>, now: u64) -> Result<User> {
        let (Some(app_id), Some(openid)) = (&attempt.app_id, &attempt.openid) else {
            // A `need_phone` attempt always names its scanner.
            return Err(LoginError::Corrupt);
        };
        Ok(self
            .inner
            .users
            .register(app_id, openid, attempt.unionid.as_ref(), phone, now)
            .await?)
    }

    /// Confirms a `need_phone` attempt for `user` (bound or skipped). If a racing request
    /// confirmed it first, answers with that request's ticket: both came from this browser.
    async fn confirm_phone_step(
        &self,
        attempt: &Attempt,
        user: User,
        now: u64,
        skip: bool,
    ) -> Result<Confirmed> {
        if user.disabled {
            if let Applied::Done(_) = self.apply(&attempt.id, now, |a| a.cancel(now)).await? {
                let method = attempt.method.as_str();
                self.inner
                    .metrics
                    .login_attempt(method, LoginOutcome::Cancelled);
            }
            return Err(LoginError::Disabled);
        }
        let ticket = self
            .issue_ticket(attempt, &user.id, attempt.openid.as_ref(), now)
            .await?;
        let user_id: UserId = user.id.clone();
        let applied = self
            .apply(&attempt.id, now, |a| {
                if skip {
                    a.skip_phone(user_id.clone(), ticket.clone(), now)
                } else {
                    a.confirm_phone(user_id.clone(), ticket.clone(), now)
                }
            })
            .await;
        self.settle_ticket(&ticket, &user.id, attempt.method, &applied, now)
            .await;
        let method = attempt.method.as_str();
        match applied? {
            Applied::Done(_) => {
                self.inner
                    .metrics
                    .login_attempt(method, LoginOutcome::Confirmed);
                Ok(Confirmed { ticket })
            }
            Applied::Refused(_, current) if current.status == Status::Confirmed => current
                .ticket
                .map(|ticket| Confirmed { ticket })
                .ok_or(LoginError::Corrupt),
            Applied::Refused(e, _) => Err(e.into()),
        }
    }
}

/// The attempt must be at `need_phone` now.
fn require_need_phone(attempt: &Attempt, now: u64) -> Result<()> {
    match attempt.status_at(now) {
        Status::NeedPhone => Ok(()),
        Status::Expired => Err(LoginError::Expired),
        _ => Err(LoginError::WrongState),
    }
}
