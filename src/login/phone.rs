//! The `need_phone` step: sending a code, binding the phone, or skipping.

use crate::metrics::LoginOutcome;
use std::net::IpAddr;

use crate::identity::{AttemptId, BrowserSecret, Phone, UserId};
use crate::users::User;

use super::codes::CodeSlot;
use super::error::LoginError;
use super::keys;
use super::service::{Applied, LoginService, Result};
use super::state::{Attempt, Status};
use super::ticket::Confirmed;

/// The code slot of attempt `id`: one code per attempt, salted with its id.
fn slot_of(attempt: &Attempt) -> CodeSlot<'_> {
    CodeSlot {
        key: keys::code(&attempt.id),
        salt: attempt.id.as_str(),
        method: attempt.method.as_str(),
        log_name: attempt.id.as_str(),
    }
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
        let (_, attempt) = self.load_for(id, browser).await?;
        require_need_phone(&attempt, now)?;
        // Before the cooldown and the budgets: a number we would never bind costs nothing.
        let phone = self.accepted_phone(phone)?;

        // The cooldown depends on this browser's attempt only, never on the number.
        self.issue_code(&slot_of(&attempt), &phone, client_ip, now)
            .await
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
        let slot = slot_of(&attempt);
        let code_raw = self.check_code(&slot, &phone, code, now).await?;

        let bound = match &attempt.user_id {
            Some(user_id) => Ok(self.inner.users.bind_phone(user_id, &phone, now).await?),
            None => self.register(&attempt, Some(&phone), now).await,
        };
        let user = match bound {
            Err(LoginError::PhoneTaken) => {
                self.withdraw_code(&slot.key, &code_raw).await;
                return Err(LoginError::PhoneTaken);
            }
            other => other?,
        };
        let confirmed = self.confirm_phone_step(&attempt, user, now, false).await?;
        // Used: a second bind with it must not pass (the attempt is confirmed anyway).
        self.withdraw_code(&slot.key, &code_raw).await;
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
    pub(super) fn accepted_phone(&self, text: &str) -> Result<Phone> {
        let phone = Phone::parse(text).map_err(LoginError::BadPhone)?;
        self.inner
            .login
            .phone_countries
            .admit(&phone)
            .map_err(LoginError::BadPhone)?;
        Ok(phone)
    }

    /// Registers the attempt's scanner (a new user, or linked by unionid if one appeared
    /// meanwhile), with `phone` if given: a phone its code has just proven, so a number
    /// held by a user who signed up by SMS alone is that user, who gets this WeChat account.
    async fn register(&self, attempt: &Attempt, phone: Option<&Phone>, now: u64) -> Result<User> {
        let (Some(app_id), Some(openid)) = (&attempt.app_id, &attempt.openid) else {
            // A `need_phone` attempt always names its scanner.
            return Err(LoginError::Corrupt);
        };
        let users = &self.inner.users;
        let unionid = attempt.unionid.as_ref();
        Ok(match phone {
            Some(phone) => {
                users
                    .register_with_proven_phone(app_id, openid, unionid, phone, now)
                    .await?
            }
            None => users.register(app_id, openid, unionid, None, now).await?,
        })
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
