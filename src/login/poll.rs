//! The long-poll: answer when the attempt's status differs from what the browser last saw.

use crate::metrics::LoginOutcome;
use std::time::Duration;

use prometheus::IntGauge;
use serde::Serialize;
use tokio::time::Instant;

use crate::identity::{AttemptId, BrowserSecret};

use super::service::{Applied, LoginService, Result};
use super::state::{Attempt, Status};

/// The longest a poll waits, whatever it asks for: below common proxy idle timeouts.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// What a poll answers. Serializes as the long-poll's JSON body:
/// `{"status", "ticket"? (only when confirmed), "expires_at", "phone_skippable"}`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PollView {
    pub status: Status,
    /// The one-time ticket, when `confirmed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Unix seconds; moves when the attempt reaches `need_phone`.
    pub expires_at: u64,
    /// At `need_phone`: the page may offer "skip".
    pub phone_skippable: bool,
}

impl std::fmt::Debug for PollView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollView")
            .field("status", &self.status)
            .field("ticket", &self.ticket.as_ref().map(|_| "***"))
            .field("expires_at", &self.expires_at)
            .field("phone_skippable", &self.phone_skippable)
            .finish()
    }
}

impl PollView {
    fn of(attempt: &Attempt, status: Status) -> PollView {
        PollView {
            status,
            ticket: match status {
                Status::Confirmed => attempt.ticket.clone(),
                _ => None,
            },
            expires_at: attempt.expires_at,
            phone_skippable: status == Status::NeedPhone && attempt.phone_skippable,
        }
    }
}

/// Counts one waiting poll for as long as it lives, including when the request's future is
/// dropped mid-wait because the client went away.
struct Waiting(IntGauge);

impl Waiting {
    fn start(gauge: &IntGauge) -> Waiting {
        gauge.inc();
        Waiting(gauge.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl LoginService {
    /// The status of the browser's attempt `id`. Answers at once when it differs from `since`
    /// (or `since` is `None`, or the status is final); otherwise waits up to `wait` (at most
    /// [`MAX_WAIT`]) for a change, and answers whatever the status is then. A waiting poll
    /// also wakes when the attempt expires. Unknown id or another browser's attempt:
    /// [`LoginError::NotFound`](super::error::LoginError::NotFound). `now` is Unix seconds at the
    /// call; the wait advances it.
    pub async fn poll(
        &self,
        id: &AttemptId,
        browser: &BrowserSecret,
        since: Option<Status>,
        wait: Duration,
        now: u64,
    ) -> Result<PollView> {
        // Registered before the first read: a change between the read and the wait is still
        // remembered by the registration.
        let mut changes = self.inner.watchers.register(&self.inner.store, id);
        let started = Instant::now();
        let deadline = started + wait.min(MAX_WAIT);
        let mut waiting = None;
        loop {
            let now_ms = now
                .saturating_mul(1000)
                .saturating_add(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
            let now_s = now_ms / 1000;
            let (_, attempt) = self.load_for(id, browser).await?;
            let status = attempt.status_at(now_s);
            if status == Status::Expired && attempt.status != Status::Expired {
                self.write_expiry(&attempt, now_s).await;
            }
            if Some(status) != since || status.is_final() || Instant::now() >= deadline {
                return Ok(PollView::of(&attempt, status));
            }
            let until_expiry = Duration::from_millis(
                attempt
                    .expires_at
                    .saturating_mul(1000)
                    .saturating_sub(now_ms),
            );
            let wake_at = deadline.min(Instant::now() + until_expiry);
            waiting.get_or_insert_with(|| Waiting::start(&self.inner.metrics.longpolls_waiting));
            // Whatever woke us (a change, the expiry, the deadline), the loop re-reads.
            let _ = tokio::time::timeout_at(wake_at, changes.changed()).await;
        }
    }

    /// Records an expiry that reading already reports, once, for the funnel metric. Best
    /// effort: losing the race to another writer or the store is harmless.
    async fn write_expiry(&self, attempt: &Attempt, now: u64) {
        match self.apply(&attempt.id, now, |a| a.expire(now)).await {
            Ok(Applied::Done(_)) => self
                .inner
                .metrics
                .login_attempt(attempt.method.as_str(), LoginOutcome::Expired),
            Ok(Applied::Refused(..)) => {}
            Err(e) => tracing::debug!(error = %e, "cannot record an expiry"),
        }
    }
}
