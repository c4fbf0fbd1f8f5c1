//! The embedded store: the conformance suite, the file it keeps, and its batching.

use super::*;
use crate::store::{conformance, ManualClock};

/// 2023-11-14T22:13:20Z: any fixed start will do.
const START_MS: u64 = 1_700_000_000_000;

fn raw(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

fn row_count(path: &Path) -> i64 {
    raw(path)
        .query_row("SELECT count(*) FROM kv", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let new_store = || {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = dir.path().join(format!("store-{n}.db"));
        let clock: Arc<dyn Clock> = clock.clone();
        async move { Arc::new(SqliteStore::open_with_clock(&path, clock).unwrap()) as Arc<dyn Store> }
    };
    let fast_forward = |by: Duration| {
        clock.advance(by);
        async {}
    };
    conformance::run(new_store, fast_forward).await;
}

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dirs/scangate.db");
    let clock = Arc::new(ManualClock::new(START_MS));
    {
        let store = SqliteStore::open_with_clock(&path, clock.clone()).unwrap();
        store.put("user:1", b"durable", None).await.unwrap();
        store
            .put("ticket:1", b"short", Some(Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(
            store.incr("tries", Duration::from_secs(60)).await.unwrap(),
            1
        );
    }
    let store = SqliteStore::open_with_clock(&path, clock.clone()).unwrap();
    assert_eq!(
        store.get("user:1").await.unwrap().as_deref(),
        Some(&b"durable"[..])
    );
    assert_eq!(
        store.get("ticket:1").await.unwrap().as_deref(),
        Some(&b"short"[..])
    );
    assert_eq!(
        store.incr("tries", Duration::from_secs(60)).await.unwrap(),
        2
    );
    // The deadline was stored, not just kept in memory.
    clock.advance(Duration::from_secs(61));
    assert_eq!(store.get("ticket:1").await.unwrap(), None);
    assert_eq!(
        store.get("user:1").await.unwrap().as_deref(),
        Some(&b"durable"[..])
    );
}

#[tokio::test]
async fn opens_in_wal_mode_with_a_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scangate.db");
    let store = SqliteStore::open(&path).unwrap();
    store.health().await.unwrap();
    let mode: String = raw(&path)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "group/other may not read the store: {mode:o}"
        );
    }
}

#[tokio::test]
async fn expired_rows_are_purged_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scangate.db");
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = SqliteStore::open_with_clock(&path, clock.clone()).unwrap();
    for i in 0..1200 {
        store
            .put(&format!("short:{i}"), b"x", Some(Duration::from_secs(1)))
            .await
            .unwrap();
    }
    store
        .put("long", b"x", Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    store.put("forever", b"x", None).await.unwrap();
    assert_eq!(store.purge_expired().await.unwrap(), 0);
    clock.advance(Duration::from_secs(2));
    // More than one batch: the purge must loop.
    assert_eq!(store.purge_expired().await.unwrap(), 1200);
    assert_eq!(row_count(&path), 2);
}

#[tokio::test]
async fn a_file_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scangate.db");
    raw(&path).pragma_update(None, "user_version", 7).unwrap();
    let err = SqliteStore::open(&path).err().unwrap();
    assert!(matches!(err, Error::Open { .. }), "{err}");
    assert!(err.to_string().contains("newer scangate"), "{err}");
}

#[tokio::test]
async fn an_unusable_path_is_an_open_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be.
    let err = SqliteStore::open(dir.path()).err().unwrap();
    assert!(matches!(err, Error::Open { .. }), "{err}");
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn open_from_config_gives_a_working_store() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::config::model::StoreConfig::Embedded {
        path: dir.path().join("data/scangate.db"),
    };
    let store = crate::store::open(&cfg).await.unwrap();
    store.put("k", b"v", None).await.unwrap();
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_operations_share_one_commit_and_a_failing_one_undoes_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scangate.db");
    let store = SqliteStore::open(&path).unwrap();
    store.put("text", b"not a number", None).await.unwrap();
    let commits = || store.call(|w| Ok(w.commits));
    let before = commits().await.unwrap();

    // The first call holds the worker; the others are sent once it runs, so they queue.
    let (running, started) = oneshot::channel();
    let hold = store.call(move |_| {
        let _ = running.send(());
        std::thread::sleep(Duration::from_millis(200));
        Ok(())
    });
    let queued = async {
        started.await.unwrap();
        tokio::join!(
            store.put("a", b"1", None),
            store.incr("text", Duration::from_secs(60)),
            store.incr("n", Duration::from_secs(60)),
            store.put_if_absent("b", b"2", None),
        )
    };
    let (held, (put, bad_incr, incr, claimed)) = tokio::join!(hold, queued);
    held.unwrap();
    put.unwrap();
    assert!(matches!(bad_incr, Err(Error::NotACounter)), "{bad_incr:?}");
    assert_eq!(incr.unwrap(), 1);
    assert!(claimed.unwrap());
    // The first count's own transaction, the hold's, then one for the four queued
    // operations (the failed one included).
    assert_eq!(commits().await.unwrap() - before, 3);
    // What was answered as done is in the file, seen by another connection.
    let value = |key: &str| -> Vec<u8> {
        raw(&path)
            .query_row(
                "SELECT value FROM kv WHERE key = ?1",
                [key.as_bytes()],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(value("a"), b"1");
    assert_eq!(value("n"), b"1");
    assert_eq!(value("b"), b"2");
    assert_eq!(value("text"), b"not a number");
}

#[test]
fn counters_parse_like_redis_integers() {
    assert_eq!(parse_counter(b"0"), Some(0));
    assert_eq!(parse_counter(b"41"), Some(41));
    assert_eq!(parse_counter(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(parse_counter(b"9223372036854775808"), None);
    assert_eq!(parse_counter(b""), None);
    assert_eq!(parse_counter(b"+1"), None);
    assert_eq!(parse_counter(b"-1"), None);
    assert_eq!(parse_counter(b"1 "), None);
}
