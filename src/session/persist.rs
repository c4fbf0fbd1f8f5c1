//! Revocations kept in the store, so a logout survives a restart of the gateway (and, with a
//! shared store, reaches every instance that loads them).
//!
//! One key holds every revoked session id with the time until which it must stay revoked;
//! updates are compare-and-swap, so concurrent logouts never lose each other, and expired
//! entries are dropped on every write. A list rather than one key per session keeps reloading
//! a single `get`, which needs no key scan on any backend.

use std::collections::BTreeMap;

use super::RevocationSet;
use crate::store::{Error as StoreError, Store};

const KEY: &str = "session:revocations";
/// Published after every revocation, as `"<until> <sid>"`: other instances add it to their
/// in-process set without a store call per request.
pub const CHANNEL: &str = "session:revoked";
/// Where a generated identity-assertion key is kept, so every instance signs alike.
const ASSERTION_KEY: &str = "session:assertion-key";
/// Concurrent logouts retry their compare-and-swap this many times.
const ATTEMPTS: usize = 32;

fn decode(bytes: Option<&[u8]>) -> BTreeMap<String, u64> {
    // A corrupt list is treated as empty rather than blocking every logout; revocations
    // already loaded in memory stay in force.
    bytes
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default()
}

/// Records that `sid` is revoked until `until` (Unix seconds).
pub async fn record(store: &dyn Store, sid: &str, until: u64, now: u64) -> Result<(), StoreError> {
    for _ in 0..ATTEMPTS {
        let current = store.get(KEY).await?;
        let mut list = decode(current.as_deref());
        list.retain(|_, exp| *exp > now);
        list.insert(sid.to_string(), until);
        let new = serde_json::to_vec(&list).map_err(|e| StoreError::Backend(Box::new(e)))?;
        let written = match &current {
            None => store.put_if_absent(KEY, &new, None).await?,
            Some(old) => store.compare_and_swap(KEY, old, &new, None).await?,
        };
        if written {
            store
                .publish(CHANNEL, format!("{until} {sid}").as_bytes())
                .await?;
            return Ok(());
        }
    }
    Err(StoreError::Backend(
        "the revocation list kept changing under concurrent logouts".into(),
    ))
}

/// Loads every stored revocation that is still in force into `set`; returns how many.
pub async fn load(store: &dyn Store, set: &RevocationSet, now: u64) -> Result<usize, StoreError> {
    let list = decode(store.get(KEY).await?.as_deref());
    let mut loaded = 0;
    for (sid, until) in list.iter().filter(|(_, until)| **until > now) {
        set.insert(sid, *until);
        loaded += 1;
    }
    Ok(loaded)
}

/// Applies one notification of [`CHANNEL`] to `set`; false when the payload is not one.
pub fn apply(set: &RevocationSet, payload: &[u8]) -> bool {
    let Some((until, sid)) = std::str::from_utf8(payload)
        .ok()
        .and_then(|p| p.split_once(' '))
    else {
        return false;
    };
    match until.parse::<u64>() {
        Ok(until) if !sid.is_empty() => {
            set.insert(sid, until);
            true
        }
        _ => false,
    }
}

/// The PEM of the identity-assertion key every instance shares: the stored one, or
/// `generate()`'s, stored if no other instance stored one first.
pub async fn shared_assertion_key(
    store: &dyn Store,
    generate: impl FnOnce() -> String,
) -> Result<String, StoreError> {
    if let Some(pem) = store.get(ASSERTION_KEY).await? {
        return String::from_utf8(pem).map_err(|e| StoreError::Backend(Box::new(e)));
    }
    let pem = generate();
    if store
        .put_if_absent(ASSERTION_KEY, pem.as_bytes(), None)
        .await?
    {
        return Ok(pem);
    }
    // Another instance won the race: use its key.
    let pem = store
        .get(ASSERTION_KEY)
        .await?
        .ok_or_else(|| StoreError::Backend("the shared assertion key vanished".into()))?;
    String::from_utf8(pem).map_err(|e| StoreError::Backend(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::SqliteStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn revocations_survive_a_reload_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        record(store.as_ref(), "sid-a", 2_000, 1_000).await.unwrap();
        record(store.as_ref(), "sid-b", 1_500, 1_000).await.unwrap();

        let fresh = RevocationSet::new();
        assert_eq!(load(store.as_ref(), &fresh, 1_000).await.unwrap(), 2);
        assert!(fresh.contains("sid-a", 1_000));
        assert!(fresh.contains("sid-b", 1_000));

        // Past sid-b's end only sid-a is loaded, and the next write drops sid-b for good.
        let later = RevocationSet::new();
        assert_eq!(load(store.as_ref(), &later, 1_600).await.unwrap(), 1);
        record(store.as_ref(), "sid-c", 3_000, 1_600).await.unwrap();
        let raw = store.get(KEY).await.unwrap().unwrap();
        assert!(!String::from_utf8(raw).unwrap().contains("sid-b"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn notifications_carry_the_revocation() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let mut rx = store.subscribe();
        record(store.as_ref(), "sid-n", 5_000, 1_000).await.unwrap();
        let note = rx.recv().await.unwrap();
        assert_eq!(note.channel, CHANNEL);
        let elsewhere = RevocationSet::new();
        assert!(apply(&elsewhere, &note.payload));
        assert!(elsewhere.contains("sid-n", 4_999));
        assert!(!apply(&elsewhere, b"garbage"));
        assert!(!apply(&elsewhere, b"12 "));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_instance_gets_the_same_assertion_key() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let first = shared_assertion_key(store.as_ref(), || "PEM-A".into())
            .await
            .unwrap();
        let second = shared_assertion_key(store.as_ref(), || "PEM-B".into())
            .await
            .unwrap();
        assert_eq!(first, "PEM-A");
        assert_eq!(second, "PEM-A");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_logouts_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    record(store.as_ref(), &format!("sid-{i}"), 9_000, 1_000).await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let set = RevocationSet::new();
        assert_eq!(load(store.as_ref(), &set, 1_000).await.unwrap(), 16);
    }
}
