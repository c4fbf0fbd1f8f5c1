//! Caps on waiting long-polls, per client and in total, on this instance.
//!
//! A waiting long-poll holds a connection and a task of this process for up to
//! [`MAX_WAIT`](super::MAX_WAIT), so the caps are counted here rather than in the store: what
//! they protect is this process. A slot is a guard; dropping it (answer written, client gone,
//! task cancelled) gives the slot back, so no path can leak one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::limits::client_key;

/// Counts of waiting long-polls. Cheap to clone; clones share the counts.
#[derive(Clone, Debug)]
pub struct PollSlots {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    per_client: Option<u64>,
    total: Option<u64>,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: u64,
    by_client: HashMap<String, u64>,
}

/// Why no slot was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollRefused {
    /// This client already has `long_polls_per_ip` waiting.
    Client,
    /// The instance has `long_polls_total` waiting.
    Total,
}

/// A held slot; given back on drop.
#[derive(Debug)]
pub struct PollSlot {
    inner: Arc<Inner>,
    client: String,
}

impl PollSlots {
    /// `None` = no cap.
    pub fn new(per_client: Option<u64>, total: Option<u64>) -> PollSlots {
        PollSlots {
            inner: Arc::new(Inner {
                per_client,
                total,
                counts: Mutex::new(Counts::default()),
            }),
        }
    }

    /// Takes a slot for `client`, or says which cap is reached.
    pub fn acquire(&self, client: IpAddr) -> Result<PollSlot, PollRefused> {
        let key = client_key(client);
        let mut counts = self.lock();
        if self.inner.total.is_some_and(|max| counts.total >= max) {
            return Err(PollRefused::Total);
        }
        let mine = counts.by_client.get(&key).copied().unwrap_or(0);
        if self.inner.per_client.is_some_and(|max| mine >= max) {
            return Err(PollRefused::Client);
        }
        counts.total += 1;
        counts.by_client.insert(key.clone(), mine + 1);
        Ok(PollSlot {
            inner: self.inner.clone(),
            client: key,
        })
    }

    /// Long-polls waiting now.
    pub fn waiting(&self) -> u64 {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        lock(&self.inner)
    }
}

// A panic while holding the lock cannot leave the counts half-updated (each update is a
// couple of integer writes), so a poisoned lock is still good to use.
fn lock(inner: &Inner) -> std::sync::MutexGuard<'_, Counts> {
    inner
        .counts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for PollSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_client.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_client_and_total_caps_hold_and_slots_come_back() {
        let slots = PollSlots::new(Some(2), Some(3));
        let a1 = slots.acquire(ip("10.0.0.1")).unwrap();
        let _a2 = slots.acquire(ip("10.0.0.1")).unwrap();
        assert_eq!(
            slots.acquire(ip("10.0.0.1")).unwrap_err(),
            PollRefused::Client
        );
        let _b1 = slots.acquire(ip("10.0.0.2")).unwrap();
        assert_eq!(
            slots.acquire(ip("10.0.0.3")).unwrap_err(),
            PollRefused::Total
        );
        assert_eq!(slots.waiting(), 3);
        drop(a1);
        assert_eq!(slots.waiting(), 2);
        let _a3 = slots.acquire(ip("10.0.0.1")).unwrap();
    }

    #[test]
    fn an_ipv6_subscriber_shares_one_budget() {
        let slots = PollSlots::new(Some(1), None);
        let _one = slots.acquire(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(
            slots.acquire(ip("2001:db8:1:2::ffff")).unwrap_err(),
            PollRefused::Client
        );
        slots.acquire(ip("2001:db8:1:3::1")).unwrap();
    }

    #[test]
    fn no_caps_means_no_refusal() {
        let slots = PollSlots::new(None, None);
        let held: Vec<_> = (0..100)
            .map(|_| slots.acquire(ip("10.0.0.1")).unwrap())
            .collect();
        assert_eq!(slots.waiting(), 100);
        drop(held);
        assert_eq!(slots.waiting(), 0);
    }
}
