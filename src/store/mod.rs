//! The one storage trait that login attempts, tickets, codes, users, rate limits and revocations
//! are written over, and its backends.
//!
//! The trait is deliberately small and Redis-shaped: every operation is one Redis command or a
//! short Lua script, so the Redis backend and the embedded SQLite backend can agree exactly, and
//! one behavioural suite ([`conformance`]) holds them to it. Keys are strings whose names belong
//! to the callers; values are opaque bytes. This module knows nothing about users or logins.
//!
//! A leaf module: it depends on `config` (its own section) and nothing else of ours.

mod clock;
#[cfg(any(test, feature = "test-util"))]
pub mod conformance;
mod metered;
mod redis;
#[cfg(any(test, feature = "test-util"))]
pub mod redis_server;
mod split;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::config::model::StoreConfig;

pub use self::redis::{RedisStore, COMMAND_TIMEOUT, OPEN_TIMEOUT};
pub use clock::{Clock, ManualClock, SystemClock};
pub use metered::MeteredStore;
pub use split::{is_ephemeral, SplitStore, EPHEMERAL_PREFIXES};
pub use sqlite::{Durability, SqliteStore};

/// A boxed error from a backend library, kept as the `source` of [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The longest TTL any operation accepts. Longer-lived data takes no TTL at all (`None`).
pub const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Why a store operation failed.
///
/// Neither keys nor values ever appear in these errors: keys carry phone numbers and openids,
/// values carry tickets and codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store could not be opened at startup. `location` names it for the operator (a file
    /// path, or a Redis host) and never carries credentials.
    #[error("cannot open the store at {location}: {source}")]
    Open {
        location: String,
        #[source]
        source: BoxError,
    },
    /// The backend is unreachable or failed the operation (I/O error, disk full, connection
    /// lost, worker stopped). The operation may or may not have taken effect. Callers answer 503.
    #[error("store backend failed: {0}")]
    Backend(#[source] BoxError),
    /// A TTL was zero or longer than [`MAX_TTL`]. A programming error, never user input.
    #[error("invalid TTL: it must be at least 1 ms and at most MAX_TTL")]
    InvalidTtl,
    /// [`Store::incr`] found a value that is not a non-negative decimal integer below 2^63.
    #[error("the key holds a value that is not a counter")]
    NotACounter,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A message published on a channel (see [`Store::publish`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: String,
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for Notification {
    // The payload may be an attempt id or a session id: show its size, not its bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notification")
            .field("channel", &self.channel)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// The channel of the notification a backend with a network between instances sends after it
/// reconnected its subscription (the Redis backend; never the embedded one): notifications
/// published meanwhile were lost, so consumers must re-read whatever state they wait on or
/// cache (long-polls, the revocation set). Its payload is empty. Reserved: do not publish on it.
pub const RESYNC_CHANNEL: &str = "store:resync";

/// How many notifications a slow subscriber may fall behind before it sees
/// [`broadcast::error::RecvError::Lagged`].
pub const NOTIFICATION_BUFFER: usize = 1024;

/// A key-value store with expiry, atomic conditional writes and notifications.
///
/// Contract shared by every backend (checked by [`conformance::run`]):
/// - A key with a TTL is invisible to every operation from the moment it expires; an expired
///   key behaves exactly like a missing one. TTLs have millisecond resolution (sub-millisecond
///   TTLs round up); a zero TTL or one above [`MAX_TTL`] is [`Error::InvalidTtl`].
/// - Every operation is atomic: concurrent callers, in this process or on other instances
///   sharing the backend, never observe or produce a half-applied operation.
/// - Keys may contain any characters (including `:`, `*`, spaces, newlines and NUL); values
///   may be any bytes, including empty.
/// - A future dropped before completion may still have taken effect.
#[async_trait]
pub trait Store: Send + Sync {
    /// The value of `key`, or `None` if it is missing or expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Sets `key` to `value`, replacing any value and TTL it had. `ttl: None` = never expires.
    /// (Redis `SET key value [PX ttl]`.)
    async fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()>;

    /// Sets `key` only if it is missing or expired. `Ok(true)`: this call created it;
    /// `Ok(false)`: it existed and is unchanged. Of many concurrent callers exactly one wins.
    /// (Redis `SET key value NX [PX ttl]`: callback dedupe, unique indexes, locks.)
    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool>;

    /// Replaces the value of `key` with `new` only if its current value is exactly `expected`.
    /// `Ok(false)`: the key is missing, expired or holds something else; nothing changed.
    ///
    /// `ttl: Some(d)` sets a new TTL; **`ttl: None` keeps the key's current expiry** (Redis
    /// `KEEPTTL`), so a state transition never extends or removes the deadline of the thing it
    /// moves. Unlike [`Store::put`], where `None` means "never expires".
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool>;

    /// Deletes `key` only if its current value is exactly `expected`; `Ok(true)` if it did.
    /// (Releasing a lock or a claim without removing someone else's.)
    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool>;

    /// Removes `key` and returns the value it had. Of many concurrent callers at most one gets
    /// `Some`. (Redis `GETDEL`: single-use tickets and codes.)
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Removes `key`. `Ok(true)` if it existed (and had not expired).
    async fn delete(&self, key: &str) -> Result<bool>;

    /// Adds one to the counter at `key` and returns the new count. A missing or expired key
    /// starts at 1 and expires `ttl_if_new` later; incrementing an existing counter never
    /// changes its expiry (a fixed window, not a sliding one). Counters are stored as decimal
    /// text, so `get` reads `b"3"` and a value written by `put` as `b"41"` increments to 42.
    /// Any other value gives [`Error::NotACounter`].
    async fn incr(&self, key: &str, ttl_if_new: Duration) -> Result<u64>;

    /// Sends `payload` to every current subscriber on every instance sharing this store,
    /// including this one. Delivery is best effort (at most once, may be late or lost): use it
    /// to wake waiters, who must then re-read the state they care about. Publishing with no
    /// subscriber is not an error.
    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<()>;

    /// A receiver of every notification published from now on, on any channel. A receiver
    /// more than [`NOTIFICATION_BUFFER`] messages behind gets `Lagged` and skips ahead.
    ///
    /// A backend whose subscription can break (Redis) reconnects it by itself and then sends a
    /// notification on [`RESYNC_CHANNEL`], locally to this instance's receivers: anything
    /// published while it was away is lost, so on it re-read all state you wait on or cache.
    /// The embedded backend never sends it.
    fn subscribe(&self) -> broadcast::Receiver<Notification>;

    /// Adds `member` to the ordered set `set`; `Ok(true)` if it was not there. Sets never
    /// expire and are ordered by the bytes of their members (Redis `ZADD set 0 member`: a
    /// sorted set whose scores are all 0, read by lexicographic range). A set name shares
    /// the key space with [`Store::put`]'s keys on Redis: never use one name for both.
    async fn set_add(&self, set: &str, member: &str) -> Result<bool>;

    /// Removes `member` from `set`; `Ok(true)` if it was there. (Redis `ZREM`.)
    async fn set_remove(&self, set: &str, member: &str) -> Result<bool>;

    /// Up to `limit` members of `set`, greatest first (bytewise), each strictly below `below`
    /// when given: the next page after a page that ended with `below`. Exact under concurrent
    /// adds and removes: a member present throughout is seen exactly once across pages.
    /// (Redis `ZRANGE set (below - BYLEX REV LIMIT 0 limit`.)
    async fn set_page_desc(
        &self,
        set: &str,
        below: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>>;

    /// How many members `set` has. (Redis `ZCARD`.)
    async fn set_len(&self, set: &str) -> Result<u64>;

    /// `Ok(())` if the backend answers a trivial request now (for `/readyz`).
    async fn health(&self) -> Result<()>;

    /// Reasons this backend's configuration could evict or lose keys without a TTL (users),
    /// one sentence each, for a loud warning at startup and `/readyz` detail; empty when none
    /// is known. Never fails: a check that cannot run is reported as a warning. Never
    /// contains credentials.
    async fn durability_warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Opens the backend chosen by the configuration.
///
/// Call it on a runtime that outlives the store (the gateway's side runtime): the Redis
/// backend's connection and subscriber tasks run there.
pub async fn open(cfg: &StoreConfig) -> Result<Arc<dyn Store>> {
    match cfg {
        StoreConfig::Embedded { path } => {
            let path = path.clone();
            // Opening runs SQLite's own file I/O (and possibly WAL recovery): keep it off the
            // async workers.
            let store = tokio::task::spawn_blocking(move || open_embedded(&path))
                .await
                .map_err(|e| Error::Backend(Box::new(e)))??;
            Ok(Arc::new(store))
        }
        StoreConfig::Redis { url, key_prefix } => {
            Ok(Arc::new(RedisStore::open(url.expose(), key_prefix).await?))
        }
    }
}

/// The embedded store: the configured file for what must last, and [`ephemeral_path`] beside
/// it, never fsynced, for login state (see [`SplitStore`]).
pub fn open_embedded(path: &std::path::Path) -> Result<SplitStore> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let durable = SqliteStore::open_with(path, clock.clone(), Durability::Synced)?;
    let ephemeral = SqliteStore::open_with(&ephemeral_path(path), clock, Durability::Unsynced)?;
    Ok(SplitStore::new(Arc::new(durable), Arc::new(ephemeral)))
}

/// Where the embedded store keeps its ephemeral part: `scangate.db` → `scangate.ephemeral.db`
/// in the same directory (so one volume holds both).
pub fn ephemeral_path(path: &std::path::Path) -> std::path::PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(|| "scangate".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}.ephemeral.db"))
}

/// Whole milliseconds of a TTL, rounded up, checked against the contract of [`Store`].
/// Backends use it so that they reject exactly the same TTLs.
pub fn ttl_millis(ttl: Duration) -> Result<u64> {
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(Error::InvalidTtl);
    }
    let millis = ttl.as_nanos().div_ceil(1_000_000);
    // MAX_TTL keeps this far below u64::MAX.
    u64::try_from(millis).map_err(|_| Error::InvalidTtl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_millis_rounds_up_and_rejects_zero_and_huge() {
        assert_eq!(ttl_millis(Duration::from_nanos(1)).unwrap(), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1500)).unwrap(), 2);
        assert_eq!(ttl_millis(Duration::from_secs(3)).unwrap(), 3000);
        assert!(matches!(ttl_millis(Duration::ZERO), Err(Error::InvalidTtl)));
        assert!(matches!(
            ttl_millis(MAX_TTL + Duration::from_millis(1)),
            Err(Error::InvalidTtl)
        ));
        assert!(ttl_millis(MAX_TTL).is_ok());
    }

    #[test]
    fn notification_debug_hides_the_payload() {
        let n = Notification {
            channel: "login".into(),
            payload: b"secret-ticket".to_vec(),
        };
        let shown = format!("{n:?}");
        assert!(shown.contains("login"));
        assert!(!shown.contains("secret-ticket"));
    }
}
