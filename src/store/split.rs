//! The embedded store in two parts: what must survive a power cut, and what lives minutes.
//!
//! Users, their indexes and lists, and session revocations are the durable part: each commit
//! is fsynced before the caller hears "done". Login attempts, tickets, codes, callback dedupe
//! records, rate-limit counters and WeChat's cached access token are the ephemeral part:
//! written to a second SQLite file that is never fsynced. Both survive a restart and `kill -9`
//! (the operating system keeps what was written); only a power cut or a kernel crash can lose
//! the ephemeral part's last seconds, and then a login in flight starts over with a new code.
//!
//! Why two files and not one: an fsync of the write-ahead log now and then takes 60–120 ms on
//! a shared virtual disk, and every write in flight waits for it, so one slow fsync stalled
//! every login on the gateway. Logins write only ephemeral keys (a returning user's scan
//! reads its user and writes nothing durable), so they no longer wait for a disk they do not
//! need. Each part has its own worker thread; neither waits for the other.
//!
//! Keys are routed by their prefix, which the callers own ([`EPHEMERAL_PREFIXES`]); anything
//! else is durable, so a new kind of key is safe until someone decides otherwise.
//! Notifications are published and received on the ephemeral part (one process, one channel).
//! Ordered sets (the user list) are durable. Every operation names one key, so routing by key
//! keeps each one atomic.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{Notification, Result, Store};

/// Key prefixes of the ephemeral part: the login flow's records (`login:`), rate-limit
/// counters (`limit:`), WeChat's cached access token, its refresh lock and the callback
/// address list (`wechat:`). All carry a TTL of minutes or hours, and all can be recreated.
pub const EPHEMERAL_PREFIXES: [&str; 3] = ["login:", "limit:", "wechat:"];

/// `true` when `key` belongs to the ephemeral part.
pub fn is_ephemeral(key: &str) -> bool {
    EPHEMERAL_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// A [`Store`] over a durable and an ephemeral backend (see the module documentation).
pub struct SplitStore {
    durable: Arc<dyn Store>,
    ephemeral: Arc<dyn Store>,
}

impl SplitStore {
    pub fn new(durable: Arc<dyn Store>, ephemeral: Arc<dyn Store>) -> Self {
        SplitStore { durable, ephemeral }
    }

    fn part(&self, key: &str) -> &dyn Store {
        if is_ephemeral(key) {
            &*self.ephemeral
        } else {
            &*self.durable
        }
    }
}

#[async_trait]
impl Store for SplitStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.part(key).get(key).await
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.part(key).put(key, value, ttl).await
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        self.part(key).put_if_absent(key, value, ttl).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.part(key)
            .compare_and_swap(key, expected, new, ttl)
            .await
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool> {
        self.part(key).compare_and_delete(key, expected).await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.part(key).take(key).await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.part(key).delete(key).await
    }

    async fn incr(&self, key: &str, ttl_if_new: Duration) -> Result<u64> {
        self.part(key).incr(key, ttl_if_new).await
    }

    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<()> {
        self.ephemeral.publish(channel, payload).await
    }

    fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.ephemeral.subscribe()
    }

    async fn set_add(&self, set: &str, member: &str) -> Result<bool> {
        self.durable.set_add(set, member).await
    }

    async fn set_remove(&self, set: &str, member: &str) -> Result<bool> {
        self.durable.set_remove(set, member).await
    }

    async fn set_page_desc(
        &self,
        set: &str,
        below: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.durable.set_page_desc(set, below, limit).await
    }

    async fn set_len(&self, set: &str) -> Result<u64> {
        self.durable.set_len(set).await
    }

    async fn health(&self) -> Result<()> {
        self.durable.health().await?;
        self.ephemeral.health().await
    }

    async fn durability_warnings(&self) -> Vec<String> {
        self.durable.durability_warnings().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{conformance, Clock, Durability, ManualClock, SqliteStore};

    const START_MS: u64 = 1_700_000_000_000;

    fn open(dir: &std::path::Path, n: usize, clock: &Arc<ManualClock>) -> SplitStore {
        let clock: Arc<dyn Clock> = clock.clone();
        let durable = dir.join(format!("{n}.db"));
        let ephemeral = dir.join(format!("{n}.ephemeral.db"));
        SplitStore::new(
            Arc::new(SqliteStore::open_with(&durable, clock.clone(), Durability::Synced).unwrap()),
            Arc::new(SqliteStore::open_with(&ephemeral, clock, Durability::Unsynced).unwrap()),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_split_store_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(START_MS));
        let counter = std::sync::atomic::AtomicUsize::new(0);
        let new_store = || {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let store = open(dir.path(), n, &clock);
            async move { Arc::new(store) as Arc<dyn Store> }
        };
        let fast_forward = |by: Duration| {
            clock.advance(by);
            async {}
        };
        conformance::run(new_store, fast_forward).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_unsynced_part_alone_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(START_MS));
        let counter = std::sync::atomic::AtomicUsize::new(0);
        let new_store = || {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let path = dir.path().join(format!("e{n}.db"));
            let clock: Arc<dyn Clock> = clock.clone();
            async move {
                Arc::new(SqliteStore::open_with(&path, clock, Durability::Unsynced).unwrap())
                    as Arc<dyn Store>
            }
        };
        let fast_forward = |by: Duration| {
            clock.advance(by);
            async {}
        };
        conformance::run(new_store, fast_forward).await;
    }

    /// Each key is in the file its class says, and both parts are there after reopening.
    #[tokio::test]
    async fn keys_land_in_their_part_and_both_parts_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scangate.db");
        {
            let store = crate::store::open_embedded(&path).unwrap();
            store.put("users:id:u_1", b"user", None).await.unwrap();
            store
                .put("session:revocations", b"r", Some(Duration::from_secs(600)))
                .await
                .unwrap();
            store
                .put(
                    "login:attempt:a1",
                    b"attempt",
                    Some(Duration::from_secs(600)),
                )
                .await
                .unwrap();
            store.set_add("users:by_created", "m1").await.unwrap();
        }
        let keys_in = |file: &std::path::Path| -> Vec<String> {
            let conn = rusqlite::Connection::open(file).unwrap();
            let mut stmt = conn.prepare("SELECT key FROM kv ORDER BY key").unwrap();
            let rows = stmt
                .query_map([], |r| r.get::<_, Vec<u8>>(0))
                .unwrap()
                .map(|k| String::from_utf8(k.unwrap()).unwrap())
                .collect();
            rows
        };
        let ephemeral = crate::store::ephemeral_path(&path);
        assert_eq!(ephemeral, dir.path().join("scangate.ephemeral.db"));
        assert_eq!(keys_in(&path), ["session:revocations", "users:id:u_1"]);
        assert_eq!(keys_in(&ephemeral), ["login:attempt:a1"]);
        let store = crate::store::open_embedded(&path).unwrap();
        assert_eq!(
            store.get("users:id:u_1").await.unwrap().as_deref(),
            Some(&b"user"[..])
        );
        assert_eq!(
            store.get("login:attempt:a1").await.unwrap().as_deref(),
            Some(&b"attempt"[..])
        );
        assert_eq!(store.set_len("users:by_created").await.unwrap(), 1);
    }

    /// A durable write that waits for its fsync does not hold up an ephemeral one: they are
    /// served by two threads. (Shown by the parts' own answers, not by timing: the durable
    /// part is stopped outright.)
    #[tokio::test]
    async fn the_ephemeral_part_answers_while_the_durable_part_cannot() {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(START_MS));
        let durable = Arc::new(
            SqliteStore::open_with(&dir.path().join("d.db"), clock.clone(), Durability::Synced)
                .unwrap(),
        );
        let ephemeral = Arc::new(
            SqliteStore::open_with(&dir.path().join("e.db"), clock, Durability::Unsynced).unwrap(),
        );
        let store = SplitStore::new(durable.clone(), ephemeral);
        let blocked = durable.hold_worker_for_test();
        let durable_write = tokio::spawn({
            let durable = durable.clone();
            async move { durable.put("users:id:u", b"x", None).await }
        });
        // A deadline, not a measurement: without the split this write would wait forever.
        tokio::time::timeout(
            Duration::from_secs(10),
            store.put("login:ticket:t", b"ticket", Some(Duration::from_secs(60))),
        )
        .await
        .expect("the ephemeral part answered")
        .unwrap();
        assert!(!durable_write.is_finished(), "the durable part was held");
        drop(blocked);
        durable_write.await.unwrap().unwrap();
    }

    #[test]
    fn login_state_is_ephemeral_and_users_and_revocations_are_durable() {
        for key in [
            "login:attempt:abc",
            "login:ticket:t",
            "login:dedupe:x:y",
            "limit:qr:0:1.2.3.4",
            "wechat:token:wx123",
        ] {
            assert!(is_ephemeral(key), "{key}");
        }
        for key in [
            "users:id:u_1",
            "users:openid:wx:o",
            "users:by_created",
            "session:revocations",
            "session:user_revocations",
            "session:assertion-key",
            "Login:attempt:abc",
            "",
        ] {
            assert!(!is_ephemeral(key), "{key}");
        }
    }
}
