//! Per-user marks every session check consults: users an operator blocked, and users whose
//! sessions issued up to some moment were all revoked (`scangate users revoke`, erasure).
//!
//! Kept in memory so the per-request check stays a lookup (no store read): with no marks it
//! is one atomic load, otherwise a read lock and one hash lookup per set. `user_persist.rs`
//! fills it from the store at start and keeps it in step with every instance.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use crate::identity::UserId;

/// A user's sessions that logged in at or before `at` are over, until `until` (after which
/// no such session can still be alive: `at` + the longest session lifetime).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserRevocation {
    pub at: u64,
    pub until: u64,
}

/// What a mark says about one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Blocked,
    Revoked,
}

#[derive(Default)]
pub struct UserMarks {
    /// False while both maps are empty: the common case costs one load.
    any: AtomicBool,
    blocked: RwLock<HashSet<Box<str>>>,
    revoked: RwLock<HashMap<Box<str>, UserRevocation>>,
}

impl UserMarks {
    pub fn new() -> Self {
        Self::default()
    }

    /// The mark that refuses a session of `user` that logged in at `auth_time`, if any.
    /// Blocked wins over revoked: the person is told why, not just asked to log in again.
    pub fn check(&self, user: &UserId, auth_time: u64, now: u64) -> Option<Mark> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let blocked = self.blocked.read().unwrap_or_else(PoisonError::into_inner);
        if blocked.contains(user.as_str()) {
            return Some(Mark::Blocked);
        }
        drop(blocked);
        let revoked = self.revoked.read().unwrap_or_else(PoisonError::into_inner);
        match revoked.get(user.as_str()) {
            // Seconds resolution: a login in the very second of the revocation ends too.
            Some(r) if auth_time <= r.at && now < r.until => Some(Mark::Revoked),
            _ => None,
        }
    }

    pub fn is_blocked(&self, user: &UserId) -> bool {
        self.blocked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(user.as_str())
    }

    pub fn set_blocked(&self, user: &UserId, blocked: bool) {
        {
            let mut set = self.blocked.write().unwrap_or_else(PoisonError::into_inner);
            if blocked {
                set.insert(user.as_str().into());
            } else {
                set.remove(user.as_str());
            }
        }
        self.refresh_any();
    }

    /// Replaces the whole blocked set (a reload from the store: unblocks missed meanwhile
    /// must take effect too).
    pub fn replace_blocked(&self, users: impl IntoIterator<Item = UserId>) {
        let fresh: HashSet<Box<str>> = users.into_iter().map(|u| u.as_str().into()).collect();
        *self.blocked.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        self.refresh_any();
    }

    /// Records a revocation of `user`'s sessions; a later one replaces an earlier one.
    pub fn revoke(&self, user: &UserId, revocation: UserRevocation) {
        {
            let mut map = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
            let entry = map.entry(user.as_str().into()).or_insert(revocation);
            if revocation.at >= entry.at {
                *entry = revocation;
            }
        }
        self.refresh_any();
    }

    /// Drops revocations that can no longer match a live session.
    pub fn prune(&self, now: u64) {
        self.revoked
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, r| r.until > now);
        self.refresh_any();
    }

    pub fn blocked_count(&self) -> usize {
        self.blocked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn refresh_any(&self) {
        let any = !self
            .blocked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
            || !self
                .revoked
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty();
        self.any.store(any, Ordering::Release);
    }
}

impl std::fmt::Debug for UserMarks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserMarks")
            .field("blocked", &self.blocked_count())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> UserId {
        UserId::new(s)
    }

    #[test]
    fn no_marks_pass_everyone() {
        let marks = UserMarks::new();
        assert_eq!(marks.check(&u("a"), 10, 20), None);
    }

    #[test]
    fn a_revocation_ends_sessions_logged_in_until_then_only() {
        let marks = UserMarks::new();
        marks.revoke(
            &u("a"),
            UserRevocation {
                at: 100,
                until: 500,
            },
        );
        assert_eq!(marks.check(&u("a"), 99, 200), Some(Mark::Revoked));
        assert_eq!(marks.check(&u("a"), 100, 200), Some(Mark::Revoked));
        assert_eq!(
            marks.check(&u("a"), 101, 200),
            None,
            "a later login is fine"
        );
        assert_eq!(marks.check(&u("b"), 99, 200), None, "other users untouched");
        assert_eq!(marks.check(&u("a"), 99, 500), None, "past its end");
        // An older revocation arriving late does not undo a newer one.
        marks.revoke(&u("a"), UserRevocation { at: 50, until: 450 });
        assert_eq!(marks.check(&u("a"), 90, 200), Some(Mark::Revoked));
        marks.prune(500);
        assert_eq!(marks.check(&u("a"), 90, 200), None);
    }

    #[test]
    fn blocking_refuses_every_session_until_unblocked() {
        let marks = UserMarks::new();
        marks.set_blocked(&u("a"), true);
        assert_eq!(marks.check(&u("a"), 1_000_000, 5), Some(Mark::Blocked));
        assert!(marks.is_blocked(&u("a")));
        marks.set_blocked(&u("a"), false);
        assert_eq!(marks.check(&u("a"), 1, 5), None);
        marks.replace_blocked([u("b"), u("c")]);
        assert_eq!(marks.check(&u("c"), 1, 5), Some(Mark::Blocked));
        assert_eq!(marks.blocked_count(), 2);
        marks.replace_blocked([]);
        assert_eq!(marks.check(&u("c"), 1, 5), None);
    }
}
