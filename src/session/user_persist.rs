//! Per-user session marks in the store, and the notifications that carry them to every
//! instance within moments.
//!
//! Revocations of all of a user's sessions live in one key (like `persist.rs`'s single
//! sessions: one `get` reloads them all, on any backend), updated by compare-and-swap and
//! pruned of entries that can no longer match a live session. Who is blocked is the user
//! directory's to say (`users::admin::blocked_ids`); this module only carries the change.
//!
//! Each change is published on [`CHANNEL`]; the embedded store's notifications stay in its
//! process, so a gateway also re-reads the marks on a short period (`server/user_marks.rs`)
//! to see a change made by `scangate users` running beside it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::user_marks::{UserMarks, UserRevocation};
use crate::identity::UserId;
use crate::store::{Error as StoreError, Store};

const KEY: &str = "session:user_revocations";
/// Payloads: `revoke <at> <until> <user>`, `block <user>`, `unblock <user>`.
pub const CHANNEL: &str = "session:user_marks";
const ATTEMPTS: usize = 32;

#[derive(Serialize, Deserialize)]
struct Stored {
    at: u64,
    until: u64,
}

fn decode(bytes: Option<&[u8]>) -> BTreeMap<String, Stored> {
    // A corrupt list reads as empty rather than blocking every revocation; marks already
    // in memory stay in force.
    bytes
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default()
}

/// Records that every session of `user` that logged in at or before `at` is over, until
/// `until`, and tells every instance.
pub async fn revoke_user(
    store: &dyn Store,
    user: &UserId,
    at: u64,
    until: u64,
) -> Result<(), StoreError> {
    for _ in 0..ATTEMPTS {
        let current = store.get(KEY).await?;
        let mut list = decode(current.as_deref());
        list.retain(|_, r| r.until > at);
        list.insert(user.as_str().to_string(), Stored { at, until });
        let new = serde_json::to_vec(&list).map_err(|e| StoreError::Backend(Box::new(e)))?;
        let written = match &current {
            None => store.put_if_absent(KEY, &new, None).await?,
            Some(old) => store.compare_and_swap(KEY, old, &new, None).await?,
        };
        if written {
            let payload = format!("revoke {at} {until} {user}");
            return store.publish(CHANNEL, payload.as_bytes()).await;
        }
    }
    Err(StoreError::Backend(
        "the user revocation list kept changing under concurrent writers".into(),
    ))
}

/// Tells every instance that `user` was blocked or unblocked (the directory holds the fact).
pub async fn announce_block(
    store: &dyn Store,
    user: &UserId,
    blocked: bool,
) -> Result<(), StoreError> {
    let verb = if blocked { "block" } else { "unblock" };
    store
        .publish(CHANNEL, format!("{verb} {user}").as_bytes())
        .await
}

/// Loads every stored user revocation still in force into `marks`; returns how many.
pub async fn load_revocations(
    store: &dyn Store,
    marks: &UserMarks,
    now: u64,
) -> Result<usize, StoreError> {
    let list = decode(store.get(KEY).await?.as_deref());
    let mut loaded = 0;
    for (user, r) in list.into_iter().filter(|(_, r)| r.until > now) {
        marks.revoke(
            &UserId::new(user),
            UserRevocation {
                at: r.at,
                until: r.until,
            },
        );
        loaded += 1;
    }
    marks.prune(now);
    Ok(loaded)
}

/// Applies one notification of [`CHANNEL`]; false when the payload is not one.
pub fn apply(marks: &UserMarks, payload: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(payload) else {
        return false;
    };
    let mut parts = text.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("block"), Some(user), None, None) if !user.is_empty() => {
            marks.set_blocked(&UserId::new(user), true);
            true
        }
        (Some("unblock"), Some(user), None, None) if !user.is_empty() => {
            marks.set_blocked(&UserId::new(user), false);
            true
        }
        (Some("revoke"), Some(at), Some(until), Some(user)) if !user.is_empty() => {
            match (at.parse(), until.parse()) {
                (Ok(at), Ok(until)) => {
                    marks.revoke(&UserId::new(user), UserRevocation { at, until });
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::session::user_marks::Mark;
    use crate::store::SqliteStore;

    fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        (dir, store)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn revocations_reach_a_fresh_instance_and_a_subscriber() {
        let (_dir, store) = store();
        let mut rx = store.subscribe();
        let user = UserId::new("u_a");
        revoke_user(store.as_ref(), &user, 1_000, 2_000)
            .await
            .unwrap();

        let loaded = UserMarks::new();
        assert_eq!(
            load_revocations(store.as_ref(), &loaded, 1_500)
                .await
                .unwrap(),
            1
        );
        assert_eq!(loaded.check(&user, 999, 1_500), Some(Mark::Revoked));
        assert_eq!(loaded.check(&user, 1_001, 1_500), None);
        let past = UserMarks::new();
        assert_eq!(
            load_revocations(store.as_ref(), &past, 2_000)
                .await
                .unwrap(),
            0
        );

        let note = rx.recv().await.unwrap();
        assert_eq!(note.channel, CHANNEL);
        let elsewhere = UserMarks::new();
        assert!(apply(&elsewhere, &note.payload));
        assert_eq!(elsewhere.check(&user, 1_000, 1_500), Some(Mark::Revoked));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocks_travel_as_notifications() {
        let (_dir, store) = store();
        let mut rx = store.subscribe();
        let user = UserId::new("u_b");
        announce_block(store.as_ref(), &user, true).await.unwrap();
        announce_block(store.as_ref(), &user, false).await.unwrap();
        let marks = UserMarks::new();
        assert!(apply(&marks, &rx.recv().await.unwrap().payload));
        assert!(marks.is_blocked(&user));
        assert!(apply(&marks, &rx.recv().await.unwrap().payload));
        assert!(!marks.is_blocked(&user));
    }

    #[test]
    fn malformed_payloads_are_ignored() {
        let marks = UserMarks::new();
        for bad in [
            &b"block"[..],
            b"block ",
            b"revoke 1 2",
            b"revoke x 2 u",
            b"block a b",
            b"\xff",
            b"",
        ] {
            assert!(!apply(&marks, bad), "{bad:?}");
        }
        assert_eq!(marks.check(&UserId::new("a"), 0, 0), None);
    }
}
