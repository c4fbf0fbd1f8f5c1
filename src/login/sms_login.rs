//! SMS login (`login.methods: [.., sms]`): a code to a number, the code back, and a one-time
//! ticket that the browser exchanges at `/session` like a QR login's.
//!
//! Numbers cannot be probed: sending a code does the same for every number, with an account
//! or without (the code goes out either way, counted by the same limits), and "no account"
//! is said only after the right code proved the caller holds the number. A number no user
//! holds signs up a new user with that number alone when `login.sms_signup` is on.
//!
//! The login is an attempt like the others, born confirmed: its ticket is bound to a fresh
//! browser secret that the endpoint sets as the attempt's binding cookie, so the exchange,
//! the cookie check and the funnel treat it as any attempt of this browser.

use crate::identity::{AttemptId, BrowserSecret, LoginMethod, Phone, SceneId};
use crate::metrics::LoginOutcome;

use super::codes::CodeSlot;
use super::error::LoginError;
use super::keys;
use super::service::{encode, LoginService, Result};
use super::state::{Attempt, NewAttempt, Status};
use super::tokens;

/// The funnel's method label.
const METHOD: &str = "sms";

/// An SMS login that succeeded: the ticket, and the attempt and secret that bind it to the
/// browser (the endpoint sets them as the binding cookie).
pub struct SmsLoggedIn {
    pub id: AttemptId,
    pub browser_secret: BrowserSecret,
    pub ticket: String,
    /// Unix seconds: the ticket is good until then.
    pub expires_at: u64,
}

impl std::fmt::Debug for SmsLoggedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsLoggedIn")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The code slot of an SMS login to `phone`: one code per number, salted with it.
fn slot_of(phone: &Phone) -> CodeSlot<'_> {
    CodeSlot {
        key: keys::sms_code(phone),
        salt: phone.as_str(),
        method: METHOD,
        log_name: "sms_login",
    }
}

impl LoginService {
    /// Sends an SMS login code to `phone`, whoever holds the number (see the module's doc).
    ///
    /// Errors: [`LoginError::MethodUnavailable`] without `sms` in `login.methods`,
    /// [`LoginError::BadPhone`] for a number that cannot be read or of a country not listed
    /// (before any limit is charged), [`LoginError::RateLimited`] within a minute of the
    /// number's previous code or past a `login.limits` budget (shared with phone binding),
    /// [`LoginError::Sms`] when the provider fails (the code is withdrawn).
    pub async fn send_sms_login_code(
        &self,
        phone: &str,
        client_ip: std::net::IpAddr,
        now: u64,
    ) -> Result<()> {
        self.require_sms()?;
        let phone = self.accepted_phone(phone)?;
        self.issue_code(&slot_of(&phone), &phone, client_ip, now)
            .await
    }

    /// Checks the SMS code for `phone` and logs its holder in: a ticket for `/session`,
    /// leading to `rd` (the caller has checked it is a safe redirect target).
    ///
    /// A wrong code costs a try as in phone binding ([`LoginError::InvalidCode`],
    /// [`LoginError::CodeDead`], [`LoginError::CodeExpired`]). After the right code, which
    /// is then used up: [`LoginError::NoAccount`] for a number nobody holds without
    /// `login.sms_signup`, [`LoginError::Disabled`] for a disabled user.
    pub async fn sms_login(
        &self,
        phone: &str,
        code: &str,
        rd: String,
        now: u64,
    ) -> Result<SmsLoggedIn> {
        self.require_sms()?;
        let phone = self.accepted_phone(phone)?;
        let slot = slot_of(&phone);
        let raw = self.check_code(&slot, &phone, code, now).await?;
        // Used once, whatever comes next.
        self.withdraw_code(&slot.key, &raw).await;

        let inner = &self.inner;
        let metrics = &inner.metrics;
        let user = match inner.users.find_by_phone(&phone).await? {
            Some(user) => user,
            None if inner.login.sms_signup => {
                let user = inner.users.register_by_phone(&phone, now).await?;
                tracing::info!(user = %user.id, phone = %phone.masked(), "signed up by SMS");
                user
            }
            None => {
                metrics.login_attempt(METHOD, LoginOutcome::NoAccount);
                tracing::info!(phone = %phone.masked(), "SMS login of a number without an account");
                return Err(LoginError::NoAccount);
            }
        };
        if user.disabled {
            metrics.login_attempt(METHOD, LoginOutcome::Cancelled);
            tracing::info!(user = %user.id, "SMS login of a disabled user refused");
            return Err(LoginError::Disabled);
        }

        let id = AttemptId::random();
        let browser_secret = BrowserSecret::random();
        let expires_at = now.saturating_add(keys::TICKET_SECONDS);
        let mut attempt = Attempt::new(NewAttempt {
            scene: SceneId::of(&id),
            id: id.clone(),
            method: LoginMethod::Sms,
            browser: tokens::browser_hash(&browser_secret),
            rd,
            wechat_ticket: None,
            qr_content: String::new(),
            created_at: now,
            expires_at,
        });
        let ticket = self.issue_ticket(&attempt, &user.id, None, now).await?;
        // Born confirmed: the code was its whole scan. Stored so that the browser's binding
        // names a known attempt (a lost cookie reads as `cookies_blocked`, not `not_found`).
        attempt.status = Status::Confirmed;
        attempt.user_id = Some(user.id.clone());
        attempt.ticket = Some(ticket.clone());
        let ttl = Some(keys::ttl_until(expires_at, now, keys::ATTEMPT_GRACE));
        inner
            .store
            .put(&keys::attempt(&id), &encode(&attempt)?, ttl)
            .await?;
        if let Err(e) = inner
            .users
            .record_login(&user.id, LoginMethod::Sms, now)
            .await
        {
            // The login itself stands; only `last_login_at` is stale.
            tracing::warn!(user = %user.id, error = %e, "cannot record the login time");
        }
        metrics.login_attempt(METHOD, LoginOutcome::Confirmed);
        tracing::info!(attempt = %id, user = %user.id, phone = %phone.masked(), "SMS login confirmed");
        Ok(SmsLoggedIn {
            id,
            browser_secret,
            ticket,
            expires_at,
        })
    }

    /// [`LoginError::MethodUnavailable`] unless `sms` is in `login.methods`.
    fn require_sms(&self) -> Result<()> {
        if self.inner.login.methods.contains(&LoginMethod::Sms) {
            Ok(())
        } else {
            Err(LoginError::MethodUnavailable)
        }
    }
}
