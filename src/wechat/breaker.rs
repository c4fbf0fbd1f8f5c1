//! A circuit breaker in front of WeChat's API, so that a slow or unreachable WeChat cannot
//! hold the gateway's workers: each call already has a timeout, but while WeChat is down
//! every login would still wait that long. After [`TRIP_AFTER`] consecutive transport
//! failures (no answer, timeout, non-2xx) calls fail at once for [`OPEN_FOR`]; then one call
//! is let through to probe, and its outcome closes or reopens the breaker.
//!
//! Only transport failures count: an `errcode` answer means WeChat is up and talking.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive transport failures that open the breaker.
pub const TRIP_AFTER: u32 = 5;
/// How long an open breaker refuses calls before letting one probe through.
pub const OPEN_FOR: Duration = Duration::from_secs(15);

#[derive(Debug, Default)]
pub struct Breaker {
    state: Mutex<State>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Calls go through; this many transport failures in a row so far.
    #[default]
    Closed,
    Failing(u32),
    /// Calls are refused until the instant.
    Open(Instant),
    /// One probe is out; others are refused until it is back.
    Probing,
}

impl Breaker {
    /// `Ok` to call WeChat now, or `Err(wait)` until the breaker may let one through.
    pub fn admit(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.lock();
        match *state {
            State::Closed | State::Failing(_) => Ok(()),
            State::Open(until) if now >= until => {
                *state = State::Probing;
                Ok(())
            }
            State::Open(until) => Err(until.saturating_duration_since(now)),
            // The probe has at most the client's timeout; a second of patience is enough.
            State::Probing => Err(Duration::from_secs(1)),
        }
    }

    /// The outcome of an admitted call: `reachable` = WeChat answered (whatever it said).
    pub fn record(&self, reachable: bool, now: Instant) {
        let mut state = self.lock();
        let next = match (*state, reachable) {
            (_, true) => State::Closed,
            (State::Closed, false) => State::Failing(1),
            (State::Failing(n), false) if n + 1 >= TRIP_AFTER => State::Open(now + OPEN_FOR),
            (State::Failing(n), false) => State::Failing(n + 1),
            (State::Probing | State::Open(_), false) => State::Open(now + OPEN_FOR),
        };
        if matches!(next, State::Open(_)) && !matches!(*state, State::Open(_)) {
            tracing::warn!(
                open_for_seconds = OPEN_FOR.as_secs(),
                "WeChat API unreachable; failing calls at once for a while"
            );
        }
        if next == State::Closed && !matches!(*state, State::Closed | State::Failing(_)) {
            tracing::info!("WeChat API reachable again");
        }
        *state = next;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a single Copy value: a panic elsewhere cannot leave it half-written.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_probes_then_closes() {
        let b = Breaker::default();
        let t0 = Instant::now();
        for _ in 0..TRIP_AFTER - 1 {
            b.admit(t0).unwrap();
            b.record(false, t0);
        }
        // An answer (even an errcode) resets the count.
        b.record(true, t0);
        for _ in 0..TRIP_AFTER {
            b.admit(t0).unwrap();
            b.record(false, t0);
        }
        assert_eq!(b.admit(t0), Err(OPEN_FOR));
        let later = t0 + OPEN_FOR - Duration::from_secs(1);
        assert_eq!(b.admit(later), Err(Duration::from_secs(1)));

        // After the pause, exactly one probe goes through.
        let after = t0 + OPEN_FOR;
        b.admit(after).unwrap();
        assert!(b.admit(after).is_err());
        // A failed probe reopens at once...
        b.record(false, after);
        assert_eq!(b.admit(after), Err(OPEN_FOR));
        // ...a good one closes.
        let again = after + OPEN_FOR;
        b.admit(again).unwrap();
        b.record(true, again);
        b.admit(again).unwrap();
        b.admit(again).unwrap();
    }
}
