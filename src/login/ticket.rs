//! One-time login tickets: issued when an attempt is confirmed, exchanged once by the browser
//! that started it.

use crate::metrics::LoginOutcome;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::identity::{AttemptId, BrowserSecret, Identity, LoginMethod, OpenId, UserId};

use super::error::LoginError;
use super::keys;
use super::service::{decode, encode, Applied, LoginService, Result};
use super::state::Attempt;
use super::tokens;

/// A confirmed attempt's one-time ticket, for the browser to exchange.
#[derive(Clone, PartialEq, Eq)]
pub struct Confirmed {
    pub ticket: String,
}

impl std::fmt::Debug for Confirmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Confirmed { ticket: *** }")
    }
}

/// A ticket exchanged: who logged in, and where the browser goes now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchanged {
    pub identity: Identity,
    pub rd: String,
}

/// The stored record behind a one-time ticket (JSON; field names are the storage format).
#[derive(Serialize, Deserialize)]
struct TicketRecord {
    attempt: AttemptId,
    user_id: UserId,
    method: LoginMethod,
    openid: Option<OpenId>,
    browser: String,
    rd: String,
    expires_at: u64,
}

impl LoginService {
    /// Exchanges a one-time ticket for the identity that logged in. The ticket must come from
    /// the browser that started the attempt, within [`keys::TICKET_SECONDS`], once: any other
    /// use is [`LoginError::TicketInvalid`] (and a wrong browser does not use it up).
    pub async fn exchange(
        &self,
        ticket: &str,
        browser: &BrowserSecret,
        now: u64,
    ) -> Result<Exchanged> {
        let inner = &self.inner;
        if !tokens::is_token(ticket) {
            return Err(LoginError::TicketInvalid);
        }
        let key = keys::ticket(ticket);
        let Some(raw) = inner.store.get(&key).await? else {
            return Err(LoginError::TicketInvalid);
        };
        let record: TicketRecord = decode(&raw)?;
        if !tokens::same_browser(&record.browser, browser) || now >= record.expires_at {
            return Err(LoginError::TicketInvalid);
        }
        // Single use: of two racing exchanges one takes it.
        if inner.store.take(&key).await?.as_deref() != Some(raw.as_slice()) {
            return Err(LoginError::TicketInvalid);
        }
        let user = inner
            .users
            .get(&record.user_id)
            .await?
            .ok_or(LoginError::TicketInvalid)?;
        if user.disabled {
            return Err(LoginError::Disabled);
        }
        inner
            .metrics
            .login_attempt(record.method.as_str(), LoginOutcome::Exchanged);
        Ok(Exchanged {
            identity: Identity {
                user_id: user.id,
                openid: record.openid,
                unionid: user.unionid,
                phone: user.phone,
                method: record.method,
            },
            rd: record.rd,
        })
    }

    /// Stores a fresh one-time ticket for `attempt`, to be confirmed by the caller. Written
    /// before the transition, so a poll that sees `confirmed` always finds a usable ticket.
    pub(super) async fn issue_ticket(
        &self,
        attempt: &Attempt,
        user_id: &UserId,
        openid: Option<&OpenId>,
        now: u64,
    ) -> Result<String> {
        let ticket = tokens::random_token();
        let record = TicketRecord {
            attempt: attempt.id.clone(),
            user_id: user_id.clone(),
            method: attempt.method,
            openid: openid.cloned(),
            browser: attempt.browser.clone(),
            rd: attempt.rd.clone(),
            expires_at: now.saturating_add(keys::TICKET_SECONDS),
        };
        self.inner
            .store
            .put(
                &keys::ticket(&ticket),
                &encode(&record)?,
                Some(Duration::from_secs(keys::TICKET_SECONDS)),
            )
            .await?;
        Ok(ticket)
    }

    /// After a confirming transition: records the login if it applied, else withdraws the
    /// ticket that lost the race (the winner's ticket is the one the browser will see).
    pub(super) async fn settle_ticket(
        &self,
        ticket: &str,
        user_id: &UserId,
        method: LoginMethod,
        applied: &Result<Applied>,
        now: u64,
    ) {
        let inner = &self.inner;
        if let Ok(Applied::Done(_)) = applied {
            if let Err(e) = inner.users.record_login(user_id, method, now).await {
                // The login itself stands; only `last_login_at` is stale.
                tracing::warn!(user = %user_id, error = %e, "cannot record the login time");
            }
            return;
        }
        if let Err(e) = inner.store.delete(&keys::ticket(ticket)).await {
            tracing::warn!(error = %e, "cannot withdraw an unused ticket; it expires by itself");
        }
    }
}
