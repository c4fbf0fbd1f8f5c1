//! SMS codes: sending one (cooldown, abuse limits, the provider, withdrawn when it fails) and
//! checking one (wrong tries counted with compare-and-swap, the fifth kills it). Shared by
//! the phone step of a WeChat login (`phone.rs`, one code per attempt) and by SMS login
//! (`sms_login.rs`, one code per number).

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::identity::Phone;
use crate::metrics::LoginOutcome;

use super::error::LoginError;
use super::keys;
use super::limits::{self, client_key, Limit, Subject, DAY, HOUR};
use super::service::{decode, encode, LoginService, Result};
use super::tokens;

/// Compare-and-swap rounds on one code record before giving up: each lost round is another
/// try landing first.
const CODE_ROUNDS: usize = 8;

/// Where a code lives: its store key, what its hash is salted with, and how it is named in
/// the funnel and in logs.
pub(super) struct CodeSlot<'a> {
    /// The record's store key (`keys::code`, `keys::sms_code`).
    pub key: String,
    /// Salts the stored hash, so equal codes differ in the store.
    pub salt: &'a str,
    /// The funnel's method label.
    pub method: &'static str,
    /// What log lines name: an attempt id, or `sms_login`.
    pub log_name: &'a str,
}

/// A code as stored (JSON; field names are the storage format).
#[derive(Clone, Serialize, Deserialize)]
struct CodeRecord {
    /// [`tokens::code_hash_salted`] of the code.
    hash: String,
    /// Where it was sent: the code is good for this number only.
    phone: Phone,
    /// Wrong tries so far; [`keys::MAX_CODE_TRIES`] = dead.
    tries: u32,
    /// Unix seconds.
    sent_at: u64,
    /// Unix seconds.
    expires_at: u64,
}

impl LoginService {
    /// Sends a six-digit code to `phone` and keeps its hash in `slot`, replacing the slot's
    /// previous code (and its tries).
    ///
    /// [`LoginError::RateLimited`] within [`keys::RESEND_COOLDOWN_SECONDS`] of the slot's
    /// previous code, or past a `login.limits` budget (per client IP and per number, hourly
    /// and daily; all SMS to one number count together, against SMS bombing). If the provider
    /// fails, the code is withdrawn so that one may be asked for again at once.
    pub(super) async fn issue_code(
        &self,
        slot: &CodeSlot<'_>,
        phone: &Phone,
        client_ip: IpAddr,
        now: u64,
    ) -> Result<()> {
        let inner = &self.inner;
        let previous = inner.store.get(&slot.key).await?;
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
                Subject::Phone(phone),
            ),
            (
                Limit::per("sms_phone_d", limits.sms_per_phone_per_day, DAY),
                Subject::Phone(phone),
            ),
        ];
        if let Err(e) = limits::charge(&*inner.store, &checks, now).await {
            tracing::warn!(attempt = slot.log_name, phone = %phone.masked(), client = %ip, "code refused by a rate limit");
            return Err(e);
        }

        let code = tokens::six_digit_code();
        let code_ttl = inner.login.code_ttl_seconds;
        let record = encode(&CodeRecord {
            hash: tokens::code_hash_salted(slot.salt, &code),
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
                    .compare_and_swap(&slot.key, raw, &record, ttl)
                    .await?
            }
            None => inner.store.put_if_absent(&slot.key, &record, ttl).await?,
        };
        if !written {
            // Another request sent a code for this slot a moment ago.
            return Err(LoginError::RateLimited {
                retry_after_seconds: keys::RESEND_COOLDOWN_SECONDS,
            });
        }
        let sent = match inner.sms.send(phone, &code).await {
            Ok(sent) => sent,
            Err(e) => {
                tracing::warn!(attempt = slot.log_name, phone = %phone.masked(), error = %e, "cannot send a phone code");
                self.withdraw_code(&slot.key, &record).await;
                // A provider's refusal of the number is the person's to act on.
                return Err(LoginError::from(e));
            }
        };
        inner
            .metrics
            .login_attempt(slot.method, LoginOutcome::CodeSent);
        tracing::info!(attempt = slot.log_name, phone = %phone.masked(), request_id = ?sent.request_id, "phone code sent");
        Ok(())
    }

    /// Checks `code` for `phone` against the slot's record, counting wrong tries with
    /// compare-and-swap so parallel guesses cannot share one try. Returns the record's raw
    /// bytes when right (for [`Self::withdraw_code`] once it has done its work).
    ///
    /// A wrong code, or a number other than the one the code went to, is
    /// [`LoginError::InvalidCode`] with the tries left; the fifth wrong try kills the code
    /// ([`LoginError::CodeDead`], as does every later try). A code past its time, or none at
    /// all, is [`LoginError::CodeExpired`].
    pub(super) async fn check_code(
        &self,
        slot: &CodeSlot<'_>,
        phone: &Phone,
        code: &str,
        now: u64,
    ) -> Result<Vec<u8>> {
        let store = &self.inner.store;
        let offered = tokens::code_hash_salted(slot.salt, code);
        for _ in 0..CODE_ROUNDS {
            let Some(raw) = store.get(&slot.key).await? else {
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
                .compare_and_swap(&slot.key, &raw, &encode(&record)?, None)
                .await?
            {
                continue;
            }
            self.inner
                .metrics
                .login_attempt(slot.method, LoginOutcome::CodeInvalid);
            let tries_left = keys::MAX_CODE_TRIES - record.tries;
            return Err(if tries_left == 0 {
                LoginError::CodeDead
            } else {
                LoginError::InvalidCode { tries_left }
            });
        }
        Err(LoginError::Busy)
    }

    /// Deletes the code record `raw` under `key` if it is still the current one. Best
    /// effort: a code left behind expires by itself.
    pub(super) async fn withdraw_code(&self, key: &str, raw: &[u8]) {
        if let Err(e) = self.inner.store.compare_and_delete(key, raw).await {
            tracing::warn!(error = %e, "cannot delete a code; it expires by itself");
        }
    }
}
