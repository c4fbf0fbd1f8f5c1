//! Revoked session ids, each kept until the expiry of the token it revoked (after which the
//! token is dead anyway).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

const SHARDS: usize = 16;
/// The set prunes itself when it has grown past this many entries since the last prune.
const PRUNE_FLOOR: usize = 1024;

/// Revoked sid -> expiry.
type Shard = RwLock<HashMap<Box<str>, u64>>;

/// Session ids that must no longer be accepted, each until its own expiry (Unix seconds).
///
/// `contains` is the per-request check: with no revocations it is one atomic load, otherwise
/// a read lock on one of 16 shards and one hash lookup.
pub struct RevocationSet {
    hasher: RandomState,
    shards: Box<[Shard]>,
    len: AtomicUsize,
    prune_at: AtomicUsize,
}

impl RevocationSet {
    pub fn new() -> Self {
        RevocationSet {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            len: AtomicUsize::new(0),
            prune_at: AtomicUsize::new(PRUNE_FLOOR),
        }
    }

    fn shard(&self, sid: &str) -> &Shard {
        &self.shards[(self.hasher.hash_one(sid) >> 32) as usize % SHARDS]
    }

    /// Revokes `sid` until `exp`. Inserting a sid again keeps the later expiry. When the set
    /// has doubled since its last pruning, entries past their expiry by the system clock are
    /// dropped (so a long-running process does not grow without bound).
    pub fn insert(&self, sid: &str, exp: u64) {
        {
            let mut shard = self
                .shard(sid)
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            match shard.get_mut(sid) {
                Some(old) => *old = (*old).max(exp),
                None => {
                    shard.insert(sid.into(), exp);
                    self.len.fetch_add(1, Ordering::Release);
                }
            }
        }
        if self.len.load(Ordering::Relaxed) >= self.prune_at.load(Ordering::Relaxed) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            self.prune(now);
        }
    }

    /// True when `sid` is revoked and its entry has not expired at `now`.
    pub fn contains(&self, sid: &str, now: u64) -> bool {
        if self.len.load(Ordering::Acquire) == 0 {
            return false;
        }
        let shard = self
            .shard(sid)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        shard.get(sid).is_some_and(|&exp| exp > now)
    }

    /// Drops every entry whose expiry is at or before `now`; returns how many went.
    pub fn prune(&self, now: u64) -> usize {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
            let before = shard.len();
            shard.retain(|_, &mut exp| exp > now);
            removed += before - shard.len();
        }
        let len = self.len.fetch_sub(removed, Ordering::AcqRel) - removed;
        self.prune_at
            .store((len * 2).max(PRUNE_FLOOR), Ordering::Relaxed);
        removed
    }

    /// Number of entries, expired ones not yet pruned included.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for RevocationSet {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for RevocationSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationSet")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_until_expiry() {
        let set = RevocationSet::new();
        assert!(!set.contains("a", 0));
        set.insert("a", 100);
        assert!(set.contains("a", 0));
        assert!(set.contains("a", 99));
        assert!(!set.contains("a", 100));
        assert!(!set.contains("b", 0));
    }

    #[test]
    fn reinserting_keeps_the_later_expiry() {
        let set = RevocationSet::new();
        set.insert("a", 100);
        set.insert("a", 50);
        assert!(set.contains("a", 80));
        set.insert("a", 200);
        assert!(set.contains("a", 150));
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn prune_drops_only_expired_entries() {
        let set = RevocationSet::new();
        set.insert("old", 10);
        set.insert("edge", 20);
        set.insert("new", 30);
        assert_eq!(set.prune(20), 2);
        assert_eq!(set.len(), 1);
        assert!(set.contains("new", 20));
        assert_eq!(set.prune(20), 0);
    }

    #[test]
    fn grows_no_further_than_its_live_entries() {
        let set = RevocationSet::new();
        // Long expired by the system clock: the automatic pruning removes them.
        for i in 0..PRUNE_FLOOR * 3 {
            set.insert(&format!("sid-{i}"), 1);
        }
        assert!(set.len() < PRUNE_FLOOR, "{}", set.len());
    }

    #[test]
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RevocationSet>();
    }
}
