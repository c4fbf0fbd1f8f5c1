//! Tests against real `redis-server` processes started for each test (skipped loudly when
//! there is none on `PATH`, unless `SCANGATE_TEST_REQUIRE_REDIS=1`).

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::redis::aio::MultiplexedConnection;
use tokio::sync::broadcast::error::RecvError;

use super::*;
use crate::store::redis_server::RedisServer;
use crate::store::{conformance, RESYNC_CHANNEL};

/// A server for this test, or `None` to skip it.
fn server() -> Option<RedisServer> {
    RedisServer::start().unwrap()
}

async fn open(url: &str, prefix: &str) -> RedisStore {
    RedisStore::open(url, prefix).await.unwrap()
}

/// A plain connection to look at what the store wrote.
async fn raw(url: &str) -> MultiplexedConnection {
    ::redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn next_on(
    rx: &mut broadcast::Receiver<Notification>,
    channel: &str,
    within: Duration,
) -> Notification {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(n) if n.channel == channel => return n,
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => panic!("the notification channel closed"),
            }
        }
    };
    tokio::time::timeout(within, wait)
        .await
        .unwrap_or_else(|_| panic!("no notification on {channel:?} within {within:?}"))
}

/// Whether anything arrives on `channel` within `within`.
async fn quiet_on(rx: &mut broadcast::Receiver<Notification>, channel: &str, within: Duration) {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(n) if n.channel == channel => return n,
                _ => continue,
            }
        }
    };
    if let Ok(n) = tokio::time::timeout(within, wait).await {
        panic!("unexpected notification {n:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_conformance_suite() {
    let Some(server) = server() else { return };
    let url = server.url();
    let counter = AtomicUsize::new(0);
    // Each case gets a fresh, empty store: a prefix of its own on the one server.
    let new_store = || {
        let prefix = format!("conformance-{}:", counter.fetch_add(1, Ordering::SeqCst));
        let url = url.clone();
        async move { Arc::new(open(&url, &prefix).await) as Arc<dyn Store> }
    };
    conformance::run(new_store, tokio::time::sleep).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_keep_deployments_apart() {
    let Some(server) = server() else { return };
    let a = open(&server.url(), "a:").await;
    let b = open(&server.url(), "b:").await;
    a.put("user:1", b"alice", None).await.unwrap();
    b.put("user:1", b"bob", None).await.unwrap();
    assert_eq!(
        a.get("user:1").await.unwrap().as_deref(),
        Some(&b"alice"[..])
    );
    assert_eq!(b.get("user:1").await.unwrap().as_deref(), Some(&b"bob"[..]));
    assert!(a.delete("user:1").await.unwrap());
    assert_eq!(b.get("user:1").await.unwrap().as_deref(), Some(&b"bob"[..]));
    assert_eq!(a.incr("hits", Duration::from_secs(60)).await.unwrap(), 1);
    assert_eq!(b.incr("hits", Duration::from_secs(60)).await.unwrap(), 1);

    // In Redis, every key carries its prefix, and counters are decimal text.
    let mut redis = raw(&server.url()).await;
    let mut keys: Vec<String> = ::redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut redis)
        .await
        .unwrap();
    keys.sort();
    assert_eq!(keys, ["a:hits", "b:hits", "b:user:1"]);
    let hits: String = ::redis::cmd("GET")
        .arg("a:hits")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(hits, "1");

    let mut on_a = a.subscribe();
    let mut on_b = b.subscribe();
    b.publish("login", b"for-b").await.unwrap();
    assert_eq!(
        next_on(&mut on_b, "login", Duration::from_secs(5))
            .await
            .payload,
        b"for-b"
    );
    a.publish("login", b"for-a").await.unwrap();
    let got = next_on(&mut on_a, "login", Duration::from_secs(5)).await;
    assert_eq!(got.payload, b"for-a", "a saw b's notification");
    quiet_on(&mut on_b, "login", Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_agree_with_the_embedded_backend_on_odd_values() {
    let Some(server) = server() else { return };
    let store = open(&server.url(), "odd:").await;
    let ttl = Duration::from_secs(60);
    store.put("zeros", b"007", None).await.unwrap();
    assert_eq!(store.incr("zeros", ttl).await.unwrap(), 8);
    assert_eq!(
        store.get("zeros").await.unwrap().as_deref(),
        Some(&b"8"[..])
    );
    store.put("zero", b"0", None).await.unwrap();
    assert_eq!(store.incr("zero", ttl).await.unwrap(), 1);
    for refused in [
        &b"9223372036854775807"[..],
        b"99999999999999999999",
        b"-1",
        b"+1",
        b" 1",
        b"1.5",
        b"",
    ] {
        store.put("odd", refused, None).await.unwrap();
        assert!(
            matches!(store.incr("odd", ttl).await, Err(Error::NotACounter)),
            "{refused:?}"
        );
        assert_eq!(store.get("odd").await.unwrap().as_deref(), Some(refused));
    }
    store
        .put("max", b"9223372036854775806", Some(ttl))
        .await
        .unwrap();
    assert_eq!(store.incr("max", ttl).await.unwrap(), i64::MAX as u64);

    // The expiry of a counter is set once, when the increment creates it.
    let mut redis = raw(&server.url()).await;
    let pttl = |key: &'static str| {
        let mut redis = redis.clone();
        async move {
            ::redis::cmd("PTTL")
                .arg(key)
                .query_async::<i64>(&mut redis)
                .await
                .unwrap()
        }
    };
    store.incr("window", ttl).await.unwrap();
    assert!((59_000..=60_000).contains(&pttl("odd:window").await));
    store
        .incr("window", Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(
        pttl("odd:window").await <= 60_000,
        "incr extended the window"
    );
    assert_eq!(
        pttl("odd:zeros").await,
        -1,
        "a counter without TTL gained one"
    );
    let _: () = ::redis::cmd("DEL")
        .arg("odd:window")
        .query_async(&mut redis)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_fast_and_the_store_recovers_by_itself() {
    let Some(mut server) = server() else { return };
    let store = open(&server.url(), "outage:").await;
    let mut rx = store.subscribe();
    store.put("user", b"kept", None).await.unwrap();

    server.kill();
    let mut slowest = Duration::ZERO;
    for round in 0..3 {
        let started = Instant::now();
        let results = [
            store.get("user").await.map(|_| ()),
            store.put("k", b"v", None).await,
            store.incr("n", Duration::from_secs(9)).await.map(|_| ()),
            store.publish("login", b"x").await,
            store.health().await,
        ];
        for result in results {
            assert!(
                matches!(result, Err(Error::Backend(_))),
                "round {round}: {result:?}"
            );
        }
        slowest = slowest.max(started.elapsed() / 5);
    }
    eprintln!("slowest failing operation during the outage: {slowest:?}");
    assert!(
        slowest < Duration::from_millis(1500),
        "an operation took {slowest:?} to fail"
    );

    let restarted = Instant::now();
    server.restart();
    // The resync notice comes once the subscription is back.
    next_on(&mut rx, RESYNC_CHANNEL, Duration::from_secs(5)).await;
    eprintln!(
        "resync notification {:?} after the restart",
        restarted.elapsed()
    );
    // Left idle, the command connection comes back by itself: the first operation succeeds.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        store.get("user").await.unwrap().as_deref(),
        Some(&b"kept"[..]),
        "data written before the outage (AOF) is back"
    );
    store.publish("login", b"after").await.unwrap();
    assert_eq!(
        next_on(&mut rx, "login", Duration::from_secs(5))
            .await
            .payload,
        b"after"
    );

    // A second outage, this time with operations retried until Redis is back.
    server.kill();
    assert!(store.health().await.is_err());
    server.restart();
    let restarted = Instant::now();
    while store.health().await.is_err() {
        assert!(
            restarted.elapsed() < Duration::from_secs(5),
            "not recovered within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "commands recovered {:?} after the restart",
        restarted.elapsed()
    );
    next_on(&mut rx, RESYNC_CHANNEL, Duration::from_secs(5)).await;
    store.put("after", b"yes", None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durability_warnings_name_each_risk() {
    let Some(risky) = RedisServer::start_with_args(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory-policy",
        "allkeys-lru",
    ])
    .unwrap() else {
        return;
    };
    let store = open(&risky.url(), "w:").await;
    let warnings = store.durability_warnings().await;
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings.iter().any(|w| w.contains("allkeys-lru")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("Redis keeps no data on disk: a restart loses every user")),
        "{warnings:?}"
    );

    let Some(safe) = server() else { return };
    let store = open(&safe.url(), "w:").await;
    assert_eq!(store.durability_warnings().await, Vec::<String>::new());

    // RDB snapshots alone and a volatile-* policy are safe too.
    let Some(rdb) = RedisServer::start_with_args(&[
        "--appendonly",
        "no",
        "--save",
        "3600 1",
        "--maxmemory-policy",
        "volatile-lru",
    ])
    .unwrap() else {
        return;
    };
    let store = open(&rdb.url(), "w:").await;
    assert_eq!(store.durability_warnings().await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_config_command_is_a_warning_not_a_failure() {
    let Some(server) = RedisServer::start_with_args(&["--rename-command", "CONFIG", ""]).unwrap()
    else {
        return;
    };
    let store = open(&server.url(), "w:").await;
    let warnings = store.durability_warnings().await;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("cannot check whether Redis may evict or lose users"),
        "{warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_errors_never_show_the_password() {
    let Some(server) = RedisServer::start_with_args(&["--requirepass", "right-pass"]).unwrap()
    else {
        return;
    };
    let port = server.port();
    let secret = "wrong-Pa55word";

    let wrong_password = format!("redis://:{secret}@127.0.0.1:{port}/0");
    let err = RedisStore::open(&wrong_password, "p:").await.unwrap_err();
    let shown = format!("{err} / {err:?}");
    assert!(matches!(err, Error::Open { .. }), "{shown}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains(&format!("127.0.0.1:{port}")), "{shown}");
    eprintln!("wrong password: {err}");

    let started = Instant::now();
    let nobody = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unreachable = format!("redis://user:{secret}@127.0.0.1:{nobody}");
    let err = RedisStore::open(&unreachable, "p:").await.unwrap_err();
    let shown = format!("{err} / {err:?}");
    assert!(matches!(err, Error::Open { .. }), "{shown}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(started.elapsed() < OPEN_TIMEOUT + Duration::from_secs(1));
    eprintln!("unreachable: {err}");

    for bad in [
        format!("redis://:{secret}@127.0.0.1:{port}/x"),
        format!("memcached://:{secret}@127.0.0.1:{port}"),
        format!("redis+sentinel://:{secret}@127.0.0.1:{port}"),
    ] {
        let err = RedisStore::open(&bad, "p:").await.unwrap_err();
        let shown = format!("{err} / {err:?}");
        assert!(matches!(err, Error::Open { .. }), "{shown}");
        assert!(!shown.contains(secret), "{shown}");
    }

    let right = format!("redis://:right-pass@127.0.0.1:{port}/2");
    let store = open(&right, "p:").await;
    store.put("k", b"v", None).await.unwrap();
    assert!(!format!("{store:?}").contains("right-pass"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_stops_its_subscriber() {
    let Some(server) = server() else { return };
    let mut redis = raw(&server.url()).await;
    let subscribers = |mut redis: MultiplexedConnection| async move {
        let list: String = ::redis::cmd("CLIENT")
            .arg("LIST")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut redis)
            .await
            .unwrap();
        list.lines().count()
    };
    let store = open(&server.url(), "d:").await;
    assert_eq!(subscribers(redis.clone()).await, 1);
    drop(store);
    let deadline = Instant::now() + Duration::from_secs(3);
    while subscribers(redis.clone()).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the subscriber outlived its store"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _: () = ::redis::cmd("PING").query_async(&mut redis).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_urls_reach_the_master() {
    let Some(master) = server() else { return };
    let Some(sentinel) = RedisServer::start_sentinel("mymaster", master.port()).unwrap() else {
        return;
    };
    let url = format!(
        "redis+sentinel://127.0.0.1:{},127.0.0.1:{}/mymaster/3",
        sentinel.port(),
        sentinel.port()
    );
    let store = open(&url, "s:").await;
    let mut rx = store.subscribe();
    store.put("k", b"through sentinel", None).await.unwrap();
    assert!(store.put_if_absent("nx", b"1", None).await.unwrap());
    store.publish("login", b"hello").await.unwrap();
    assert_eq!(
        next_on(&mut rx, "login", Duration::from_secs(5))
            .await
            .payload,
        b"hello"
    );
    let mut redis = raw(&format!("{}/3", master.url())).await;
    let value: Vec<u8> = ::redis::cmd("GET")
        .arg("s:k")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(value, b"through sentinel", "written to the master's db 3");
    assert!(store.durability_warnings().await.is_empty());
}

/// Three masters and no replicas, joined with `redis-cli --cluster create`.
fn cluster() -> Option<Vec<RedisServer>> {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(
            RedisServer::start_with_args(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ])
            .unwrap()?,
        );
    }
    let addresses: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port()))
        .collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output();
    match created {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(e) => {
            if std::env::var(crate::store::redis_server::REQUIRE_REDIS_ENV).as_deref() == Ok("1") {
                panic!("redis-cli is needed for the cluster test: {e}");
            }
            // Past the harness's capture, like `RedisServer`'s own skip message.
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: redis-cli is not available ({e}); the cluster test did not run ***\n"
            );
            return None;
        }
    }
    // Wait until every node agrees the cluster is up.
    let deadline = Instant::now() + Duration::from_secs(20);
    for node in &nodes {
        loop {
            let info = Command::new("redis-cli")
                .args(["-p", &node.port().to_string(), "CLUSTER", "INFO"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                break;
            }
            assert!(Instant::now() < deadline, "the cluster did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Some(nodes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_conformance_suite_on_a_cluster() {
    let Some(nodes) = cluster() else { return };
    let url = format!(
        "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
        nodes[0].port(),
        nodes[1].port()
    );
    let counter = AtomicUsize::new(0);
    let new_store = || {
        let prefix = format!("cluster-{}:", counter.fetch_add(1, Ordering::SeqCst));
        let url = url.clone();
        async move { Arc::new(open(&url, &prefix).await) as Arc<dyn Store> }
    };
    conformance::run(new_store, tokio::time::sleep).await;

    let store = open(&url, "c:").await;
    assert_eq!(store.durability_warnings().await, Vec::<String>::new());
    // Keys spread over all three masters.
    for i in 0..30 {
        store.put(&format!("k{i}"), b"v", None).await.unwrap();
    }
    for node in &nodes {
        let mut redis = raw(&node.url()).await;
        let size: i64 = ::redis::cmd("DBSIZE")
            .query_async(&mut redis)
            .await
            .unwrap();
        assert!(size > 0, "a master holds no key");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_is_followed() {
    let Some(mut old_master) = server() else {
        return;
    };
    let replica_of = old_master.port().to_string();
    let Some(replica) =
        RedisServer::start_with_args(&["--replicaof", "127.0.0.1", &replica_of]).unwrap()
    else {
        return;
    };
    let Some(sentinel) = RedisServer::start_sentinel("ha", old_master.port()).unwrap() else {
        return;
    };
    // The sentinel learns about the replica from the master's INFO.
    let mut sentinel_conn = raw(&sentinel.url()).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let replicas: Vec<::redis::Value> = ::redis::cmd("SENTINEL")
            .arg("REPLICAS")
            .arg("ha")
            .query_async(&mut sentinel_conn)
            .await
            .unwrap();
        if !replicas.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sentinel never saw the replica"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let url = format!("redis+sentinel://127.0.0.1:{}/ha", sentinel.port());
    let store = open(&url, "ha:").await;
    let mut rx = store.subscribe();
    store.put("user", b"replicated", None).await.unwrap();
    // The write reaches the replica before the master dies.
    let mut on_replica = raw(&replica.url()).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let copied: Option<Vec<u8>> = ::redis::cmd("GET")
            .arg("ha:user")
            .query_async(&mut on_replica)
            .await
            .unwrap();
        if copied.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the replica never synced");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    old_master.kill();
    let killed = Instant::now();
    loop {
        if store.put("after", b"failover", None).await.is_ok() {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "the store never followed the new master"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "writes resumed {:?} after the master died",
        killed.elapsed()
    );
    assert_eq!(
        store.get("user").await.unwrap().as_deref(),
        Some(&b"replicated"[..])
    );
    // A fresh connection: the promotion disconnected the sentinel's clients of the replica.
    let mut new_master = raw(&replica.url()).await;
    let value: Vec<u8> = ::redis::cmd("GET")
        .arg("ha:after")
        .query_async(&mut new_master)
        .await
        .unwrap();
    assert_eq!(value, b"failover", "written to the promoted replica");
    next_on(&mut rx, RESYNC_CHANNEL, Duration::from_secs(10)).await;
    store.publish("login", b"on the new master").await.unwrap();
    assert_eq!(
        next_on(&mut rx, "login", Duration::from_secs(5))
            .await
            .payload,
        b"on the new master"
    );
}
