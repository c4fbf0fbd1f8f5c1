//! The Redis backend: many gateway instances sharing one Redis (standalone, Sentinel or
//! Cluster), through the same [`Store`] contract as the embedded backend.
//!
//! Design choices:
//! - **Every operation is one command or one single-key Lua script** (`SET NX PX`, `GETDEL`,
//!   compare-and-swap, compare-and-delete, increment-with-expiry), so it is atomic on every
//!   deployment, Cluster included (a single-key script runs on the key's own node).
//! - **Every key and channel carries `key_prefix`**, so several deployments share one Redis.
//! - **Bounded waits**: each operation gives up after [`COMMAND_TIMEOUT`] with
//!   [`Error::Backend`], so an outage turns into quick 503s rather than hung requests; the
//!   connections recover by themselves once Redis is back (see `conn.rs`).
//! - **Notifications** travel over Redis pub/sub through one subscriber connection per store
//!   (see `subscriber.rs`), which sends [`RESYNC_CHANNEL`] after each reconnection.
//!
//! Requires Redis 6.2 or later (`GETDEL`, `KEEPTTL`, RESP3).

mod conn;
mod durability;
mod subscriber;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use ::redis::{Cmd, FromRedisValue, RedisResult, Script, Value};
use async_trait::async_trait;
use tokio::sync::broadcast;

use self::conn::{Commands, Handle};
use self::subscriber::Subscriber;
use super::{ttl_millis, BoxError, Error, Notification, Result, Store, NOTIFICATION_BUFFER};
use crate::config::redis_url::{self as url, Topology};

pub use self::conn::COMMAND_TIMEOUT;

/// How long [`RedisStore::open`] may take to connect, authenticate and subscribe.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// `ARGV[1]` expected, `ARGV[2]` new, `ARGV[3]` TTL in ms or empty for `KEEPTTL`.
/// `GET` of a missing key is `false` in Lua, which equals no string: missing never matches.
static COMPARE_AND_SWAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
",
    )
});

/// `ARGV[1]` expected.
static COMPARE_AND_DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
return redis.call('DEL', KEYS[1])
",
    )
});

/// `ARGV[1]` TTL in ms of a new counter. Returns the new count as decimal text, or nil when
/// the value is not a decimal counter below 2^63 - 1. Leading zeros are accepted and dropped,
/// as the embedded backend does (plain `INCR` refuses them); the range is checked before
/// anything is written, so a refused value is left untouched. The count is read back with
/// `GET` because Lua numbers are doubles: `INCR`'s reply loses precision above 2^53.
static INCREMENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
  return '1'
end
if not string.match(current, '^[0-9]+$') then
  return false
end
local digits = string.gsub(current, '^0+', '')
if digits == '' then
  digits = '0'
end
if #digits > 19 or (#digits == 19 and digits >= '9223372036854775807') then
  return false
end
if digits ~= current then
  redis.call('SET', KEYS[1], digits, 'KEEPTTL')
end
redis.call('INCR', KEYS[1])
return redis.call('GET', KEYS[1])
",
    )
});

/// Why an operation failed without an answer from Redis.
#[derive(Debug, thiserror::Error)]
#[error("Redis did not answer within {COMMAND_TIMEOUT:?} (unreachable, or reconnecting)")]
struct NoAnswer;

/// The Redis [`Store`].
///
/// Open it on a runtime that outlives it (the gateway's side runtime): its connections'
/// background tasks run there. Operations may be called from any runtime. Dropping the store
/// stops its subscriber task.
pub struct RedisStore {
    commands: Commands,
    prefix: String,
    location: String,
    notifications: broadcast::Sender<Notification>,
    _subscriber: Subscriber,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("location", &self.location)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the deployment `url` names (`redis://`, `rediss://`,
    /// `redis+sentinel://host:port[,host:port]/<master_name>[/db]` or
    /// `redis+cluster://host:port[,host:port]`), checks it answers, and subscribes to
    /// notifications under `key_prefix`.
    ///
    /// Fails with [`Error::Open`] (whose text never carries the password) when the URL has an
    /// unsupported shape, or Redis cannot be reached, authenticated against or subscribed to
    /// within [`OPEN_TIMEOUT`].
    pub async fn open(url: &str, key_prefix: &str) -> Result<Self> {
        let parsed = url::parse(url).map_err(|e| Error::Open {
            location: "store.url".to_string(),
            source: Box::new(e),
        })?;
        let location = parsed.location();
        let open_error = |source: BoxError| Error::Open {
            location: location.clone(),
            source,
        };
        if matches!(parsed.topology, Topology::Standalone { tls: true, .. }) {
            // rustls needs a process-wide provider; ring is the one this program is built
            // with. An error means one is installed already, which is as good.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let (commands, pubsub) = tokio::time::timeout(OPEN_TIMEOUT, conn::connect(&parsed))
            .await
            .map_err(|_| open_error(format!("no answer within {OPEN_TIMEOUT:?}").into()))?
            .map_err(|e| open_error(Box::new(e)))?;
        let (notifications, _) = broadcast::channel(NOTIFICATION_BUFFER);
        let subscriber = subscriber::start(pubsub, key_prefix, notifications.clone())
            .await
            .map_err(|e| open_error(Box::new(e)))?;
        Ok(RedisStore {
            commands,
            prefix: key_prefix.to_string(),
            location,
            notifications,
            _subscriber: subscriber,
        })
    }

    /// Where the store lives (scheme and hosts), for operators: never credentials.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn key(&self, key: &str) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.prefix.len() + key.len());
        full.extend_from_slice(self.prefix.as_bytes());
        full.extend_from_slice(key.as_bytes());
        full
    }

    /// Runs `op` on a connection handle, bounded by [`COMMAND_TIMEOUT`] in all.
    ///
    /// A refused connection is retried once: nothing was sent, so even a non-idempotent
    /// operation is safe to repeat, and the first call after Redis comes back may meet the
    /// failure of a reconnection attempt made while it was still down.
    async fn run<T, Fut>(&self, op: impl Fn(Handle) -> Fut) -> Result<T>
    where
        Fut: Future<Output = RedisResult<T>>,
    {
        let attempts = async {
            match op(self.commands.handle()).await {
                Err(e) if e.is_connection_refusal() => op(self.commands.handle()).await,
                outcome => outcome,
            }
        };
        match tokio::time::timeout(COMMAND_TIMEOUT, attempts).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                self.commands.failed(Some(&e));
                Err(Error::Backend(Box::new(e)))
            }
            Err(_) => {
                self.commands.failed(None);
                Err(Error::Backend(Box::new(NoAnswer)))
            }
        }
    }

    async fn query<T: FromRedisValue>(&self, cmd: Cmd) -> Result<T> {
        self.run(|mut handle| {
            let cmd = &cmd;
            async move { cmd.query_async(&mut handle).await }
        })
        .await
    }

    async fn script<T: FromRedisValue>(
        &self,
        script: &'static Script,
        key: Vec<u8>,
        args: Vec<Vec<u8>>,
    ) -> Result<T> {
        self.run(|mut handle| {
            let mut invocation = script.key(&key);
            for arg in &args {
                invocation.arg(arg);
            }
            async move { invocation.invoke_async(&mut handle).await }
        })
        .await
    }
}

/// `SET key value [NX] [PX ttl]`.
fn set(key: Vec<u8>, value: &[u8], ttl: Option<Duration>, only_if_absent: bool) -> Result<Cmd> {
    let mut cmd = ::redis::cmd("SET");
    cmd.arg(key).arg(value);
    if only_if_absent {
        cmd.arg("NX");
    }
    if let Some(ttl) = ttl {
        cmd.arg("PX").arg(ttl_millis(ttl)?);
    }
    Ok(cmd)
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let mut cmd = ::redis::cmd("GET");
        cmd.arg(self.key(key));
        self.query(cmd).await
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        // Without PX, SET also clears any TTL the key had: `None` = never expires.
        let cmd = set(self.key(key), value, ttl, false)?;
        self.query::<Value>(cmd).await.map(|_| ())
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        let cmd = set(self.key(key), value, ttl, true)?;
        // `OK` when set, nil when the key exists.
        let reply: Value = self.query(cmd).await?;
        Ok(!matches!(reply, Value::Nil))
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let ttl = match ttl {
            Some(ttl) => ttl_millis(ttl)?.to_string().into_bytes(),
            None => Vec::new(),
        };
        let args = vec![expected.to_vec(), new.to_vec(), ttl];
        let swapped: i64 = self.script(&COMPARE_AND_SWAP, self.key(key), args).await?;
        Ok(swapped == 1)
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool> {
        let args = vec![expected.to_vec()];
        let deleted: i64 = self
            .script(&COMPARE_AND_DELETE, self.key(key), args)
            .await?;
        Ok(deleted == 1)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let mut cmd = ::redis::cmd("GETDEL");
        cmd.arg(self.key(key));
        self.query(cmd).await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let mut cmd = ::redis::cmd("DEL");
        cmd.arg(self.key(key));
        let deleted: i64 = self.query(cmd).await?;
        Ok(deleted == 1)
    }

    async fn incr(&self, key: &str, ttl_if_new: Duration) -> Result<u64> {
        let ttl = ttl_millis(ttl_if_new)?.to_string().into_bytes();
        let count: Option<String> = self.script(&INCREMENT, self.key(key), vec![ttl]).await?;
        count
            .and_then(|c| c.parse::<u64>().ok())
            .ok_or(Error::NotACounter)
    }

    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<()> {
        let mut cmd = ::redis::cmd("PUBLISH");
        cmd.arg(self.key(channel)).arg(payload);
        self.query::<Value>(cmd).await.map(|_| ())
    }

    fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.notifications.subscribe()
    }

    async fn set_add(&self, set: &str, member: &str) -> Result<bool> {
        let mut cmd = ::redis::cmd("ZADD");
        cmd.arg(self.key(set)).arg(0).arg(member.as_bytes());
        let added: i64 = self.query(cmd).await?;
        Ok(added == 1)
    }

    async fn set_remove(&self, set: &str, member: &str) -> Result<bool> {
        let mut cmd = ::redis::cmd("ZREM");
        cmd.arg(self.key(set)).arg(member.as_bytes());
        let removed: i64 = self.query(cmd).await?;
        Ok(removed == 1)
    }

    async fn set_page_desc(
        &self,
        set: &str,
        below: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        // With every score 0, members are ordered by their bytes (memcmp), as in SQLite.
        let max = match below {
            Some(below) => {
                let mut bound = b"(".to_vec();
                bound.extend_from_slice(below.as_bytes());
                bound
            }
            None => b"+".to_vec(),
        };
        let mut cmd = ::redis::cmd("ZRANGE");
        cmd.arg(self.key(set))
            .arg(max)
            .arg("-")
            .arg("BYLEX")
            .arg("REV")
            .arg("LIMIT")
            .arg(0)
            .arg(limit);
        let members: Vec<Vec<u8>> = self.query(cmd).await?;
        members
            .into_iter()
            .map(|m| String::from_utf8(m).map_err(|e| Error::Backend(Box::new(e))))
            .collect()
    }

    async fn set_len(&self, set: &str) -> Result<u64> {
        let mut cmd = ::redis::cmd("ZCARD");
        cmd.arg(self.key(set));
        self.query(cmd).await
    }

    async fn health(&self) -> Result<()> {
        self.query::<Value>(::redis::cmd("PING")).await.map(|_| ())
    }

    async fn durability_warnings(&self) -> Vec<String> {
        durability::warnings(&self.commands).await
    }
}
