//! The embedded backend: one SQLite file, one table `kv (key, value, expires_at)`.
//!
//! Design choices:
//! - **One dedicated thread owns the connection** and runs operations one at a time from a
//!   queue. SQLite admits one writer at a time anyway, so a pool would only add lock waits; a
//!   `spawn_blocking` + mutex design would park one blocking-pool thread per waiting caller
//!   under load, while here waiting callers are just queued closures. The thread is independent
//!   of any tokio runtime, which matters under pingora, where every service runs its own.
//! - **WAL with `synchronous=FULL`**: each commit is fsynced, so a user who was told "bound"
//!   survives a power cut, not only a process crash (which `NORMAL` would already survive).
//!   The cost falls on login, logout and callbacks only; the hot path never touches the store.
//!   A file opened [`Durability::Unsynced`] (the ephemeral part of [`super::SplitStore`])
//!   is `synchronous=OFF`: it survives a crash of the process, not of the machine.
//! - **Group commit**: the thread takes every operation already queued (up to
//!   [`MAX_BATCH`]) into one transaction, so one fsync covers them all, and answers their
//!   callers only after the commit. Alone, an operation costs what it did before (one
//!   transaction, one fsync); under a burst of callbacks or logins, the fsyncs no longer queue
//!   one behind another. Each operation is a single statement or its own savepoint, so one
//!   that fails leaves nothing behind while the others commit.
//! - **Expiry by comparison**: every statement filters `expires_at > now`, so an expired row is
//!   invisible at once; the thread deletes expired rows in small batches every minute.
//! - Keys are stored as BLOBs of their UTF-8 bytes, so any string (even with NUL) is a key and
//!   comparisons are byte-exact.
//! - Notifications stay in this process (a `broadcast` channel): an embedded store has one
//!   gateway instance.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tokio::sync::{broadcast, oneshot};

use super::{
    ttl_millis, BoxError, Clock, Error, Notification, Result, Store, SystemClock,
    NOTIFICATION_BUFFER,
};

/// How often the worker deletes expired rows.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// Rows deleted per statement, so a purge never holds the write lock for long.
const PURGE_BATCH: i64 = 500;
/// Batches per background purge; the rest waits for the next round.
const PURGE_BACKGROUND_BATCHES: usize = 20;
/// How long a statement waits for a lock held by another connection to the same file (an
/// operator's `sqlite3` shell, a backup tool) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// `PRAGMA user_version` of the schema this code writes.
const SCHEMA_VERSION: i64 = 1;

/// Operations taken into one transaction at most; a bound on how long the first of them
/// waits for the commit.
const MAX_BATCH: usize = 64;

/// An operation for the worker. It runs inside the batch's transaction and gives back how to
/// answer its caller once the batch's fate is known.
type Job = Box<dyn FnOnce(&mut Worker) -> Answer + Send>;

/// Sends an operation's result, or the commit's error when the batch did not commit.
type Answer = Box<dyn FnOnce(std::result::Result<(), &CommitFailed>) + Send>;

/// Why a batch's work did not last.
#[derive(Debug, Clone)]
struct CommitFailed(String);

/// Whether a commit waits for the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// fsynced before the caller is answered (`synchronous=FULL`).
    Synced,
    /// Handed to the operating system, never fsynced (`synchronous=OFF`): survives the
    /// process's crash, not a power cut.
    Unsynced,
}

/// The embedded [`Store`]: a SQLite file served by one background thread.
///
/// Dropping the last handle lets the thread finish the queued operations and close the file.
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    notifications: broadcast::Sender<Notification>,
}

impl SqliteStore {
    /// Opens (or creates, with its parent directories) the database at `path`, with expiry on
    /// the system clock. Blocks for file I/O: call it at startup or from `spawn_blocking`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_clock(path, Arc::new(SystemClock))
    }

    /// As [`SqliteStore::open`], with expiry measured on `clock` (tests pass a
    /// [`ManualClock`](super::ManualClock)).
    pub fn open_with_clock(path: &Path, clock: Arc<dyn Clock>) -> Result<Self> {
        Self::open_with(path, clock, Durability::Synced)
    }

    /// As [`SqliteStore::open_with_clock`], with the commits' [`Durability`].
    pub fn open_with(path: &Path, clock: Arc<dyn Clock>, durability: Durability) -> Result<Self> {
        let open_error = |source: BoxError| Error::Open {
            location: path.display().to_string(),
            source,
        };
        let conn = open_connection(path, durability).map_err(open_error)?;
        let (jobs, queue) = mpsc::channel();
        let worker = Worker {
            conn,
            clock,
            commits: 0,
        };
        std::thread::Builder::new()
            .name("scangate-sqlite".to_string())
            .spawn(move || worker.run(queue))
            .map_err(|e| open_error(Box::new(e)))?;
        let (notifications, _) = broadcast::channel(NOTIFICATION_BUFFER);
        Ok(SqliteStore {
            jobs,
            notifications,
        })
    }

    /// Deletes every expired row now and returns how many went. The worker also does this by
    /// itself every minute; expired rows are invisible either way.
    pub async fn purge_expired(&self) -> Result<u64> {
        self.call(|w| w.purge(usize::MAX).map_err(db)).await
    }

    /// Keeps the worker busy until the returned sender is dropped (tests of what waits for
    /// whom).
    #[cfg(test)]
    pub(crate) fn hold_worker_for_test(&self) -> mpsc::SyncSender<()> {
        let (release, wait) = mpsc::sync_channel::<()>(0);
        let job: Job = Box::new(move |_| {
            let _ = wait.recv();
            Box::new(|_| {})
        });
        let _ = self.jobs.send(job);
        release
    }

    /// Runs `op` on the worker thread and waits for its answer.
    async fn call<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut Worker) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |worker| {
            let result = op(worker);
            Box::new(move |committed| {
                let result = match committed {
                    Ok(()) => result,
                    Err(failed) => Err(Error::Backend(failed.0.clone().into())),
                };
                // The caller may have given up (its future dropped); the result is then unwanted.
                let _ = reply.send(result);
            })
        });
        self.jobs.send(job).map_err(|_| worker_stopped())?;
        answer.await.map_err(|_| worker_stopped())?
    }
}

fn worker_stopped() -> Error {
    Error::Backend("the SQLite worker thread has stopped".into())
}

fn db(e: rusqlite::Error) -> Error {
    Error::Backend(Box::new(e))
}

/// `now + ttl` in the table's unit (Unix milliseconds), or `None` for no expiry.
fn deadline(now: i64, ttl_ms: Option<i64>) -> Option<i64> {
    ttl_ms.map(|ms| now.saturating_add(ms))
}

/// The TTL in milliseconds as the table stores them, validated on the caller's side so a bad
/// TTL never reaches the worker.
fn checked_ttl(ttl: Option<Duration>) -> Result<Option<i64>> {
    ttl.map(|t| ttl_millis(t).and_then(|ms| i64::try_from(ms).map_err(|_| Error::InvalidTtl)))
        .transpose()
}

// === opening ===

fn open_connection(
    path: &Path,
    durability: Durability,
) -> std::result::Result<Connection, BoxError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    create_private_file(path)?;
    // No SQLITE_OPEN_URI: a configured path is a path, even if it starts with "file:".
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("the file system refused WAL mode (journal_mode is {mode})").into());
    }
    let synchronous = match durability {
        Durability::Synced => "FULL",
        Durability::Unsynced => "OFF",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    match version {
        0 => conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS kv (
                 key BLOB NOT NULL PRIMARY KEY,
                 value BLOB NOT NULL,
                 expires_at INTEGER
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at)
                 WHERE expires_at IS NOT NULL;
             PRAGMA user_version = {SCHEMA_VERSION};
             COMMIT;"
        ))?,
        SCHEMA_VERSION => {}
        newer => {
            return Err(format!(
                "schema version {newer} was written by a newer scangate (this one knows {SCHEMA_VERSION})"
            )
            .into())
        }
    }
    // The ordered sets came after schema version 1 and are additive: a file written by an
    // older scangate gains the table here, and an older scangate reading a newer file never
    // looks at it, so neither needs a version bump.
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS sets (
             name BLOB NOT NULL,
             member BLOB NOT NULL,
             PRIMARY KEY (name, member)
         ) WITHOUT ROWID;",
    )?;
    Ok(conn)
}

/// The file holds phone numbers: create it readable by its owner only. SQLite gives the
/// `-wal` and `-shm` files the permissions of the database file.
fn create_private_file(path: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

// === the worker ===

struct Worker {
    conn: Connection,
    clock: Arc<dyn Clock>,
    /// Batches committed so far (what the group commit saves is visible in tests).
    commits: u64,
}

impl Worker {
    fn run(mut self, queue: mpsc::Receiver<Job>) {
        let mut next_purge = Instant::now() + PURGE_INTERVAL;
        loop {
            match queue.recv_timeout(next_purge.saturating_duration_since(Instant::now())) {
                Ok(first) => {
                    let mut batch = vec![first];
                    batch.extend(queue.try_iter().take(MAX_BATCH - 1));
                    self.run_batch(batch);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Checked after every job too, so a store that is never idle still purges.
            if Instant::now() >= next_purge {
                if let Err(e) = self.purge(PURGE_BACKGROUND_BATCHES) {
                    tracing::warn!(error = %e, "purging expired store entries failed");
                }
                next_purge = Instant::now() + PURGE_INTERVAL;
            }
        }
    }

    /// Runs `jobs` in one transaction and answers each caller after it committed. Should
    /// SQLite end the transaction early (it rolls back on errors such as a full disk), the
    /// operations run so far are answered with that error and the rest start a new one.
    fn run_batch(&mut self, jobs: Vec<Job>) {
        let mut answers: Vec<Answer> = Vec::with_capacity(jobs.len());
        for job in jobs {
            if self.conn.is_autocommit() {
                if !answers.is_empty() {
                    let failed = CommitFailed("the transaction was rolled back".into());
                    answers.drain(..).for_each(|answer| answer(Err(&failed)));
                }
                if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
                    // Without a transaction (another process holds the lock past the busy
                    // timeout): the operation runs on its own, committing as it goes.
                    tracing::warn!(error = %e, "cannot begin a store transaction");
                    job(self)(Ok(()));
                    continue;
                }
            }
            answers.push(job(self));
        }
        if self.conn.is_autocommit() {
            let failed = CommitFailed("the transaction was rolled back".into());
            answers.into_iter().for_each(|answer| answer(Err(&failed)));
            return;
        }
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => {
                self.commits += 1;
                answers.into_iter().for_each(|answer| answer(Ok(())));
            }
            Err(e) => {
                let failed = CommitFailed(format!("commit failed: {e}"));
                tracing::warn!(error = %e, batch = answers.len(), "store commit failed");
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                answers.into_iter().for_each(|answer| answer(Err(&failed)));
            }
        }
    }

    /// Unix milliseconds on the store's clock.
    fn now(&self) -> i64 {
        i64::try_from(self.clock.now_millis()).unwrap_or(i64::MAX)
    }

    fn purge(&mut self, max_batches: usize) -> rusqlite::Result<u64> {
        let now = self.now();
        let mut stmt = self.conn.prepare_cached(
            "DELETE FROM kv WHERE key IN
                 (SELECT key FROM kv WHERE expires_at <= ?1 LIMIT ?2)",
        )?;
        let mut total = 0u64;
        for _ in 0..max_batches {
            let deleted = stmt.execute(params![now, PURGE_BATCH])?;
            total += deleted as u64;
            if (deleted as i64) < PURGE_BATCH {
                break;
            }
        }
        Ok(total)
    }
}

/// A counter as Redis keeps it: decimal text of a non-negative `i64`.
fn parse_counter(value: &[u8]) -> Option<i64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse::<i64>().ok()
}

// === impl Store ===

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = key.as_bytes().to_vec();
        self.call(move |w| {
            let now = w.now();
            w.conn
                .prepare_cached(
                    "SELECT value FROM kv
                     WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                )
                .and_then(|mut s| s.query_row(params![key, now], |r| r.get(0)).optional())
                .map_err(db)
        })
        .await
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        let ttl = checked_ttl(ttl)?;
        let (key, value) = (key.as_bytes().to_vec(), value.to_vec());
        self.call(move |w| {
            let expires_at = deadline(w.now(), ttl);
            w.conn
                .prepare_cached(
                    "INSERT INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE
                         SET value = excluded.value, expires_at = excluded.expires_at",
                )
                .and_then(|mut s| s.execute(params![key, value, expires_at]))
                .map(|_| ())
                .map_err(db)
        })
        .await
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        let ttl = checked_ttl(ttl)?;
        let (key, value) = (key.as_bytes().to_vec(), value.to_vec());
        self.call(move |w| {
            let now = w.now();
            // An expired row still occupies the primary key until purged: overwrite it as if
            // it were absent.
            w.conn
                .prepare_cached(
                    "INSERT INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE
                         SET value = excluded.value, expires_at = excluded.expires_at
                         WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?4",
                )
                .and_then(|mut s| s.execute(params![key, value, deadline(now, ttl), now]))
                .map(|changed| changed == 1)
                .map_err(db)
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let ttl = checked_ttl(ttl)?;
        let (key, expected, new) = (key.as_bytes().to_vec(), expected.to_vec(), new.to_vec());
        self.call(move |w| {
            let now = w.now();
            // A NULL new deadline keeps the old one (KEEPTTL).
            w.conn
                .prepare_cached(
                    "UPDATE kv SET value = ?3, expires_at = COALESCE(?4, expires_at)
                     WHERE key = ?1 AND value = ?2
                       AND (expires_at IS NULL OR expires_at > ?5)",
                )
                .and_then(|mut s| s.execute(params![key, expected, new, deadline(now, ttl), now]))
                .map(|changed| changed == 1)
                .map_err(db)
        })
        .await
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool> {
        let (key, expected) = (key.as_bytes().to_vec(), expected.to_vec());
        self.call(move |w| {
            let now = w.now();
            w.conn
                .prepare_cached(
                    "DELETE FROM kv
                     WHERE key = ?1 AND value = ?2
                       AND (expires_at IS NULL OR expires_at > ?3)",
                )
                .and_then(|mut s| s.execute(params![key, expected, now]))
                .map(|changed| changed == 1)
                .map_err(db)
        })
        .await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = key.as_bytes().to_vec();
        self.call(move |w| {
            let now = w.now();
            // One statement: the row is gone the moment its value is read. An expired row is
            // deleted too, and reported as missing.
            let row: Option<(Vec<u8>, Option<i64>)> = w
                .conn
                .prepare_cached("DELETE FROM kv WHERE key = ?1 RETURNING value, expires_at")
                .and_then(|mut s| {
                    s.query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(db)?;
            Ok(row.and_then(|(value, expires_at)| live(expires_at, now).then_some(value)))
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let key = key.as_bytes().to_vec();
        self.call(move |w| {
            let now = w.now();
            let row: Option<Option<i64>> = w
                .conn
                .prepare_cached("DELETE FROM kv WHERE key = ?1 RETURNING expires_at")
                .and_then(|mut s| s.query_row(params![key], |r| r.get(0)).optional())
                .map_err(db)?;
            Ok(row.is_some_and(|expires_at| live(expires_at, now)))
        })
        .await
    }

    async fn incr(&self, key: &str, ttl_if_new: Duration) -> Result<u64> {
        let ttl = checked_ttl(Some(ttl_if_new))?;
        let key = key.as_bytes().to_vec();
        self.call(move |w| {
            let now = w.now();
            // Read, check and write as one: a savepoint inside the batch's transaction (which
            // holds the write lock), rolled back when dropped on an error.
            let tx = w.conn.savepoint().map_err(db)?;
            let current: Option<Vec<u8>> = tx
                .prepare_cached(
                    "SELECT value FROM kv
                     WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                )
                .and_then(|mut s| s.query_row(params![key, now], |r| r.get(0)).optional())
                .map_err(db)?;
            let count = match current {
                None => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)",
                    )
                    .and_then(|mut s| s.execute(params![key, b"1".as_slice(), deadline(now, ttl)]))
                    .map_err(db)?;
                    1
                }
                Some(value) => {
                    let count = parse_counter(&value)
                        .and_then(|n| n.checked_add(1))
                        .ok_or(Error::NotACounter)?;
                    tx.prepare_cached("UPDATE kv SET value = ?2 WHERE key = ?1")
                        .and_then(|mut s| s.execute(params![key, count.to_string().as_bytes()]))
                        .map_err(db)?;
                    count
                }
            };
            tx.commit().map_err(db)?;
            u64::try_from(count).map_err(|_| Error::NotACounter)
        })
        .await
    }

    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<()> {
        // `send` fails only when nobody listens, which the contract allows.
        let _ = self.notifications.send(Notification {
            channel: channel.to_string(),
            payload: payload.to_vec(),
        });
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.notifications.subscribe()
    }

    async fn set_add(&self, set: &str, member: &str) -> Result<bool> {
        let (set, member) = (set.as_bytes().to_vec(), member.as_bytes().to_vec());
        self.call(move |w| {
            w.conn
                .prepare_cached("INSERT OR IGNORE INTO sets (name, member) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![set, member]))
                .map(|changed| changed == 1)
                .map_err(db)
        })
        .await
    }

    async fn set_remove(&self, set: &str, member: &str) -> Result<bool> {
        let (set, member) = (set.as_bytes().to_vec(), member.as_bytes().to_vec());
        self.call(move |w| {
            w.conn
                .prepare_cached("DELETE FROM sets WHERE name = ?1 AND member = ?2")
                .and_then(|mut s| s.execute(params![set, member]))
                .map(|changed| changed == 1)
                .map_err(db)
        })
        .await
    }

    async fn set_page_desc(
        &self,
        set: &str,
        below: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        let set = set.as_bytes().to_vec();
        let below = below.map(|b| b.as_bytes().to_vec());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |w| {
            // BLOBs compare with memcmp, as Redis compares members: both backends order alike.
            let mut stmt = w
                .conn
                .prepare_cached(
                    "SELECT member FROM sets
                     WHERE name = ?1 AND (?2 IS NULL OR member < ?2)
                     ORDER BY member DESC LIMIT ?3",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![set, below, limit], |r| r.get::<_, Vec<u8>>(0))
                .map_err(db)?;
            let mut members = Vec::new();
            for row in rows {
                let bytes = row.map_err(db)?;
                members.push(String::from_utf8(bytes).map_err(|e| Error::Backend(Box::new(e)))?);
            }
            Ok(members)
        })
        .await
    }

    async fn set_len(&self, set: &str) -> Result<u64> {
        let set = set.as_bytes().to_vec();
        self.call(move |w| {
            w.conn
                .prepare_cached("SELECT count(*) FROM sets WHERE name = ?1")
                .and_then(|mut s| s.query_row(params![set], |r| r.get::<_, i64>(0)))
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(db)
        })
        .await
    }

    async fn health(&self) -> Result<()> {
        self.call(|w| {
            w.conn
                .query_row("SELECT count(*) FROM (SELECT 1 FROM kv LIMIT 1)", [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|_| ())
                .map_err(db)
        })
        .await
    }
}

fn live(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_none_or(|at| at > now)
}

#[cfg(test)]
mod tests;
