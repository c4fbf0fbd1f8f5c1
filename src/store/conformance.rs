//! The behavioural suite every [`Store`] backend must pass, so that the embedded backend can
//! stand in for Redis everywhere and Redis can replace it without surprises.
//!
//! A backend's tests call [`run`] with a constructor of fresh, empty stores and a hook that
//! moves the backend's clock forward. The SQLite backend advances a
//! [`ManualClock`](super::ManualClock); a real Redis cannot be fast-forwarded, so its hook
//! sleeps. The suite therefore uses second-scale TTLs and fast-forwards only four times.
//!
//! Plain `pub` (not test-only): it needs nothing but tokio, and the Redis backend's tests and
//! `tests/` must reach it. Failures are panics with a message naming the broken rule.
#![allow(
    clippy::unwrap_used,
    reason = "a test suite: a panic is how it reports a broken backend"
)]

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::JoinSet;

use super::{Error, Notification, Store};

/// The TTL of keys that must expire during the suite.
const TTL: Duration = Duration::from_secs(2);
/// One fast-forward step: two steps cross `TTL`, one does not.
const STEP: Duration = Duration::from_millis(1200);
/// A TTL that never runs out during the suite.
const LONG: Duration = Duration::from_secs(3600);
/// Concurrent tasks in each race.
const RACERS: usize = 32;
/// How long a published notification may take to arrive.
const DELIVERY: Duration = Duration::from_secs(5);

/// Runs every case, each on a fresh store from `new_store`. `fast_forward(d)` must make the
/// stores' notion of "now" move forward by at least `d`.
///
/// Run it on a multi-thread runtime (`#[tokio::test(flavor = "multi_thread")]`) so the races
/// are real.
pub async fn run<N, NF, F, FF>(new_store: N, fast_forward: F)
where
    N: Fn() -> NF,
    NF: Future<Output = Arc<dyn Store>>,
    F: Fn(Duration) -> FF,
    FF: Future<Output = ()>,
{
    get_put_and_overwrite(new_store().await).await;
    expiry(new_store().await, &fast_forward).await;
    invalid_ttls_are_refused(new_store().await).await;
    put_if_absent_has_one_winner(new_store().await).await;
    compare_and_swap(new_store().await).await;
    compare_and_swap_races(new_store().await).await;
    compare_and_delete(new_store().await).await;
    take_is_single_use(new_store().await).await;
    delete(new_store().await).await;
    incr(new_store().await).await;
    values_are_arbitrary_bytes(new_store().await).await;
    keys_may_hold_any_character(new_store().await).await;
    notifications_reach_every_subscriber(new_store().await).await;
    ordered_sets(new_store().await).await;
    ordered_set_pages_are_exact_under_change(new_store().await).await;
    health(new_store().await).await;
}

fn v(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

async fn get_put_and_overwrite(store: Arc<dyn Store>) {
    assert_eq!(
        store.get("k").await.unwrap(),
        None,
        "a fresh store is empty"
    );
    store.put("k", b"one", None).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), v("one"));
    store.put("k", b"two", None).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), v("two"), "put overwrites");
    assert!(
        !store.put_if_absent("k", b"three", None).await.unwrap(),
        "key exists"
    );
    assert_eq!(
        store.get("k").await.unwrap(),
        v("two"),
        "a losing put_if_absent changes nothing"
    );
    assert!(
        store.put_if_absent("other", b"x", None).await.unwrap(),
        "key is new"
    );
    assert_eq!(store.get("other").await.unwrap(), v("x"));
}

async fn expiry<F, FF>(store: Arc<dyn Store>, fast_forward: &F)
where
    F: Fn(Duration) -> FF,
    FF: Future<Output = ()>,
{
    let s = &store;
    s.put("plain", b"v", Some(TTL)).await.unwrap();
    s.put("forever", b"v", None).await.unwrap();
    assert!(s.put_if_absent("nx", b"v", Some(TTL)).await.unwrap());
    s.put("ttl-cleared", b"v", Some(TTL)).await.unwrap();
    s.put("ttl-cleared", b"v2", None).await.unwrap();
    s.put("ttl-added", b"v", None).await.unwrap();
    s.put("ttl-added", b"v2", Some(TTL)).await.unwrap();
    s.put("cas-keeps", b"a", Some(TTL)).await.unwrap();
    assert!(s
        .compare_and_swap("cas-keeps", b"a", b"b", None)
        .await
        .unwrap());
    s.put("cas-sets", b"a", Some(TTL)).await.unwrap();
    assert!(s
        .compare_and_swap("cas-sets", b"a", b"b", Some(LONG))
        .await
        .unwrap());
    s.put("cas-persistent", b"a", None).await.unwrap();
    assert!(s
        .compare_and_swap("cas-persistent", b"a", b"b", None)
        .await
        .unwrap());
    assert_eq!(s.incr("counter", TTL).await.unwrap(), 1);
    for key in [
        "for-take",
        "for-delete",
        "for-cas",
        "for-cad",
        "for-nx",
        "for-incr",
    ] {
        s.put(key, b"old", Some(TTL)).await.unwrap();
    }

    fast_forward(STEP).await;
    assert_eq!(
        s.get("plain").await.unwrap(),
        v("v"),
        "a key must not expire before its TTL"
    );
    assert_eq!(s.incr("counter", TTL).await.unwrap(), 2);

    fast_forward(STEP).await;
    assert_eq!(
        s.get("plain").await.unwrap(),
        None,
        "expired key still visible"
    );
    assert_eq!(
        s.get("forever").await.unwrap(),
        v("v"),
        "a key without TTL expired"
    );
    assert_eq!(
        s.get("nx").await.unwrap(),
        None,
        "put_if_absent ignored its TTL"
    );
    assert_eq!(
        s.get("ttl-cleared").await.unwrap(),
        v("v2"),
        "put with None must clear a TTL"
    );
    assert_eq!(
        s.get("ttl-added").await.unwrap(),
        None,
        "put with a TTL must set it"
    );
    assert_eq!(
        s.get("cas-keeps").await.unwrap(),
        None,
        "compare_and_swap(None) must keep the TTL"
    );
    assert_eq!(
        s.get("cas-sets").await.unwrap(),
        v("b"),
        "compare_and_swap(Some) must set the TTL"
    );
    assert_eq!(
        s.get("cas-persistent").await.unwrap(),
        v("b"),
        "compare_and_swap(None) added a TTL"
    );
    assert_eq!(
        s.incr("counter", TTL).await.unwrap(),
        1,
        "incr on an existing counter must not extend its TTL"
    );
    // An expired key behaves exactly like a missing one for every operation.
    assert_eq!(
        s.take("for-take").await.unwrap(),
        None,
        "take returned an expired value"
    );
    assert!(
        !s.delete("for-delete").await.unwrap(),
        "delete reported an expired key"
    );
    assert!(!s
        .compare_and_swap("for-cas", b"old", b"new", None)
        .await
        .unwrap());
    assert_eq!(
        s.get("for-cas").await.unwrap(),
        None,
        "compare_and_swap revived an expired key"
    );
    assert!(!s.compare_and_delete("for-cad", b"old").await.unwrap());
    assert!(
        s.put_if_absent("for-nx", b"new", None).await.unwrap(),
        "expired key blocks put_if_absent"
    );
    assert_eq!(s.get("for-nx").await.unwrap(), v("new"));
    assert_eq!(
        s.incr("for-incr", TTL).await.unwrap(),
        1,
        "incr must restart an expired key"
    );

    // The counter restarted above got a fresh TTL.
    fast_forward(STEP).await;
    assert_eq!(s.get("counter").await.unwrap(), v("1"));
    fast_forward(STEP).await;
    assert_eq!(
        s.get("counter").await.unwrap(),
        None,
        "a restarted counter needs ttl_if_new"
    );
    assert_eq!(
        s.get("for-nx").await.unwrap(),
        v("new"),
        "put_if_absent(None) set a TTL"
    );
}

async fn invalid_ttls_are_refused(store: Arc<dyn Store>) {
    let zero = Some(Duration::ZERO);
    assert!(matches!(
        store.put("k", b"v", zero).await,
        Err(Error::InvalidTtl)
    ));
    assert!(matches!(
        store.put_if_absent("k", b"v", zero).await,
        Err(Error::InvalidTtl)
    ));
    assert!(matches!(
        store.incr("k", Duration::ZERO).await,
        Err(Error::InvalidTtl)
    ));
    assert_eq!(
        store.get("k").await.unwrap(),
        None,
        "a refused write took effect"
    );
    store.put("k", b"v", None).await.unwrap();
    assert!(matches!(
        store.compare_and_swap("k", b"v", b"w", zero).await,
        Err(Error::InvalidTtl)
    ));
    assert_eq!(
        store.get("k").await.unwrap(),
        v("v"),
        "a refused swap took effect"
    );
}

async fn put_if_absent_has_one_winner(store: Arc<dyn Store>) {
    let mut tasks = JoinSet::new();
    for i in 0..RACERS {
        let store = store.clone();
        tasks.spawn(async move {
            let value = format!("racer-{i}");
            let won = store
                .put_if_absent("lock", value.as_bytes(), Some(LONG))
                .await
                .unwrap();
            (won, value)
        });
    }
    let winners: Vec<String> = tasks
        .join_all()
        .await
        .into_iter()
        .filter(|(won, _)| *won)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one put_if_absent must win: {winners:?}"
    );
    assert_eq!(
        store.get("lock").await.unwrap(),
        v(&winners[0]),
        "the winner's value is kept"
    );
}

async fn compare_and_swap(store: Arc<dyn Store>) {
    let s = &store;
    assert!(
        !s.compare_and_swap("missing", b"", b"x", None)
            .await
            .unwrap(),
        "empty != missing"
    );
    assert!(!s
        .compare_and_swap("missing", b"a", b"x", None)
        .await
        .unwrap());
    assert_eq!(
        s.get("missing").await.unwrap(),
        None,
        "compare_and_swap must not create keys"
    );

    s.put("state", b"waiting", None).await.unwrap();
    assert!(!s
        .compare_and_swap("state", b"scanned", b"confirmed", None)
        .await
        .unwrap());
    assert!(
        !s.compare_and_swap("state", b"wait", b"confirmed", None)
            .await
            .unwrap(),
        "prefix"
    );
    assert!(!s
        .compare_and_swap("state", b"waiting!", b"confirmed", None)
        .await
        .unwrap());
    assert_eq!(
        s.get("state").await.unwrap(),
        v("waiting"),
        "a failed swap changed the value"
    );
    assert!(s
        .compare_and_swap("state", b"waiting", b"scanned", None)
        .await
        .unwrap());
    assert_eq!(s.get("state").await.unwrap(), v("scanned"));
    assert!(
        !s.compare_and_swap("state", b"waiting", b"scanned", None)
            .await
            .unwrap(),
        "twice"
    );
    assert!(
        s.compare_and_swap("state", b"scanned", b"scanned", None)
            .await
            .unwrap(),
        "same"
    );
    s.put("empty", b"", None).await.unwrap();
    assert!(s
        .compare_and_swap("empty", b"", b"full", None)
        .await
        .unwrap());
    assert_eq!(s.get("empty").await.unwrap(), v("full"));
}

async fn compare_and_swap_races(store: Arc<dyn Store>) {
    // A transition attempted by many at once is applied once.
    store.put("attempt", b"waiting", Some(LONG)).await.unwrap();
    let mut tasks = JoinSet::new();
    for i in 0..RACERS {
        let store = store.clone();
        tasks.spawn(async move {
            let new = format!("confirmed-by-{i}");
            store
                .compare_and_swap("attempt", b"waiting", new.as_bytes(), None)
                .await
                .unwrap()
        });
    }
    let wins = tasks
        .join_all()
        .await
        .into_iter()
        .filter(|won| *won)
        .count();
    assert_eq!(
        wins, 1,
        "exactly one compare_and_swap of the same state must succeed"
    );

    // Read-modify-write loops lose no update.
    const WRITERS: usize = 8;
    const ROUNDS: usize = 25;
    store.put("sum", b"0", None).await.unwrap();
    let mut tasks = JoinSet::new();
    for _ in 0..WRITERS {
        let store = store.clone();
        tasks.spawn(async move {
            for _ in 0..ROUNDS {
                loop {
                    let old = store.get("sum").await.unwrap().unwrap();
                    let n: usize = String::from_utf8(old.clone()).unwrap().parse().unwrap();
                    let new = (n + 1).to_string();
                    if store
                        .compare_and_swap("sum", &old, new.as_bytes(), None)
                        .await
                        .unwrap()
                    {
                        break;
                    }
                }
            }
        });
    }
    tasks.join_all().await;
    assert_eq!(
        store.get("sum").await.unwrap(),
        v(&(WRITERS * ROUNDS).to_string()),
        "lost update"
    );
}

async fn compare_and_delete(store: Arc<dyn Store>) {
    let s = &store;
    assert!(!s.compare_and_delete("missing", b"").await.unwrap());
    s.put("lock", b"owner-a", Some(LONG)).await.unwrap();
    assert!(
        !s.compare_and_delete("lock", b"owner-b").await.unwrap(),
        "not the owner"
    );
    assert!(
        !s.compare_and_delete("lock", b"owner").await.unwrap(),
        "prefix"
    );
    assert_eq!(
        s.get("lock").await.unwrap(),
        v("owner-a"),
        "a failed delete removed the key"
    );
    assert!(s.compare_and_delete("lock", b"owner-a").await.unwrap());
    assert_eq!(s.get("lock").await.unwrap(), None);
    assert!(
        !s.compare_and_delete("lock", b"owner-a").await.unwrap(),
        "already gone"
    );
}

async fn take_is_single_use(store: Arc<dyn Store>) {
    let s = &store;
    assert_eq!(s.take("missing").await.unwrap(), None);
    s.put("ticket", b"t-1", Some(LONG)).await.unwrap();
    assert_eq!(s.take("ticket").await.unwrap(), v("t-1"));
    assert_eq!(
        s.take("ticket").await.unwrap(),
        None,
        "a taken value is gone"
    );
    assert_eq!(s.get("ticket").await.unwrap(), None);

    s.put("ticket", b"t-2", Some(LONG)).await.unwrap();
    let mut tasks = JoinSet::new();
    for _ in 0..RACERS {
        let store = store.clone();
        tasks.spawn(async move { store.take("ticket").await.unwrap() });
    }
    let got: Vec<Vec<u8>> = tasks.join_all().await.into_iter().flatten().collect();
    assert_eq!(
        got,
        vec![b"t-2".to_vec()],
        "exactly one concurrent take must get the ticket"
    );
}

async fn delete(store: Arc<dyn Store>) {
    let s = &store;
    assert!(
        !s.delete("missing").await.unwrap(),
        "deleting a missing key is not an error"
    );
    s.put("k", b"v", None).await.unwrap();
    s.put("k2", b"v", None).await.unwrap();
    assert!(s.delete("k").await.unwrap());
    assert_eq!(s.get("k").await.unwrap(), None);
    assert!(!s.delete("k").await.unwrap(), "second delete");
    assert_eq!(
        s.get("k2").await.unwrap(),
        v("v"),
        "delete touched another key"
    );
}

async fn incr(store: Arc<dyn Store>) {
    let s = &store;
    assert_eq!(s.incr("tries", LONG).await.unwrap(), 1);
    assert_eq!(s.incr("tries", LONG).await.unwrap(), 2);
    assert_eq!(s.incr("tries", LONG).await.unwrap(), 3);
    assert_eq!(
        s.get("tries").await.unwrap(),
        v("3"),
        "counters read as decimal text"
    );
    s.put("preset", b"41", None).await.unwrap();
    assert_eq!(s.incr("preset", LONG).await.unwrap(), 42);
    s.put("text", b"not a number", None).await.unwrap();
    assert!(matches!(
        s.incr("text", LONG).await,
        Err(Error::NotACounter)
    ));
    assert_eq!(
        s.get("text").await.unwrap(),
        v("not a number"),
        "a failed incr changed the value"
    );

    let mut tasks = JoinSet::new();
    for _ in 0..RACERS {
        let store = store.clone();
        tasks.spawn(async move { store.incr("hits", LONG).await.unwrap() });
    }
    let seen: BTreeSet<u64> = tasks.join_all().await.into_iter().collect();
    let expected: BTreeSet<u64> = (1..=RACERS as u64).collect();
    assert_eq!(
        seen, expected,
        "concurrent incr must hand out each count once"
    );
}

async fn values_are_arbitrary_bytes(store: Arc<dyn Store>) {
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let not_utf8 = vec![0xff, 0xfe, 0x00, 0xc3, 0x28];
    let large: Vec<u8> = (0..1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    for (key, value) in [
        ("empty", &Vec::new()),
        ("all", &all_bytes),
        ("bin", &not_utf8),
        ("large", &large),
    ] {
        store.put(key, value, None).await.unwrap();
        assert_eq!(
            store.get(key).await.unwrap().as_ref(),
            Some(value),
            "value of {key:?} changed"
        );
    }
    assert!(store
        .compare_and_swap("bin", &not_utf8, &all_bytes, None)
        .await
        .unwrap());
    assert_eq!(store.take("bin").await.unwrap(), Some(all_bytes.clone()));
    assert!(
        !store.put_if_absent("empty", b"x", None).await.unwrap(),
        "an empty value is a value"
    );
}

async fn keys_may_hold_any_character(store: Arc<dyn Store>) {
    let long = "k".repeat(1000);
    let keys = [
        "",
        " ",
        "a b",
        "users:phone:+8613800138000",
        "新用户:微信",
        "line\nbreak\r\n",
        "nul\0byte",
        "*",
        "?",
        "[a-z]",
        "%",
        "_",
        "a%",
        "\\",
        "'; DROP TABLE kv; --",
        "emoji 🙂",
        long.as_str(),
    ];
    for (i, key) in keys.iter().enumerate() {
        assert!(
            store
                .put_if_absent(key, i.to_string().as_bytes(), None)
                .await
                .unwrap(),
            "{key:?}"
        );
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            store.get(key).await.unwrap(),
            v(&i.to_string()),
            "key {key:?} aliased another"
        );
    }
    assert!(store.delete("*").await.unwrap());
    assert!(store.delete("%").await.unwrap());
    let nul_index = keys.iter().position(|k| *k == "nul\0byte").unwrap();
    assert_eq!(
        store.take("nul\0byte").await.unwrap(),
        v(&nul_index.to_string())
    );
    assert_eq!(
        store.get("nul").await.unwrap(),
        None,
        "a key was cut at NUL"
    );
    for (i, key) in keys.iter().enumerate() {
        let expected = match *key {
            "*" | "%" | "nul\0byte" => None,
            _ => v(&i.to_string()),
        };
        assert_eq!(
            store.get(key).await.unwrap(),
            expected,
            "key {key:?} after deletes"
        );
    }
}

async fn notifications_reach_every_subscriber(store: Arc<dyn Store>) {
    store.publish("nobody-listens", b"x").await.unwrap();

    let mut first = store.subscribe();
    let mut second = store.subscribe();
    let channel = "login:新*?";
    let payloads: [&[u8]; 3] = [b"scanned", &[0, 255, 1], b""];
    for payload in payloads {
        store.publish(channel, payload).await.unwrap();
    }
    for rx in [&mut first, &mut second] {
        for payload in payloads {
            let got = next_on(rx, channel).await;
            assert_eq!(
                got.payload, payload,
                "notifications arrive whole and in order"
            );
        }
    }
}

/// The next notification on `channel`, skipping others (a shared Redis may carry more).
async fn next_on(rx: &mut broadcast::Receiver<Notification>, channel: &str) -> Notification {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(n) if n.channel == channel => return n,
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => panic!("the notification channel closed"),
            }
        }
    };
    tokio::time::timeout(DELIVERY, wait)
        .await
        .unwrap_or_else(|_| panic!("no notification on {channel:?} within {DELIVERY:?}"))
}

async fn ordered_sets(store: Arc<dyn Store>) {
    let s = &store;
    assert_eq!(s.set_len("set").await.unwrap(), 0, "a fresh set is empty");
    assert!(s.set_page_desc("set", None, 10).await.unwrap().is_empty());
    // Bytewise order: digits before upper before lower case, a prefix before its extensions,
    // multi-byte UTF-8 after ASCII.
    for m in ["b", "a", "B", "0", "ab", "新", "a b", "a\0z"] {
        assert!(s.set_add("set", m).await.unwrap(), "{m:?} is new");
    }
    assert!(
        !s.set_add("set", "a").await.unwrap(),
        "adding twice is a no-op"
    );
    assert_eq!(s.set_len("set").await.unwrap(), 8);
    let all = s.set_page_desc("set", None, 100).await.unwrap();
    assert_eq!(all, ["新", "b", "ab", "a b", "a\0z", "a", "B", "0"]);
    assert_eq!(s.set_page_desc("set", None, 2).await.unwrap(), ["新", "b"]);
    assert_eq!(
        s.set_page_desc("set", Some("b"), 3).await.unwrap(),
        ["ab", "a b", "a\0z"],
        "strictly below the cursor"
    );
    assert_eq!(
        s.set_page_desc("set", Some("a!"), 10).await.unwrap(),
        ["a b", "a\0z", "a", "B", "0"],
        "a cursor need not be a member"
    );
    assert!(s
        .set_page_desc("set", Some("0"), 10)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .set_page_desc("set", Some(""), 10)
        .await
        .unwrap()
        .is_empty());
    assert!(s.set_remove("set", "ab").await.unwrap());
    assert!(!s.set_remove("set", "ab").await.unwrap(), "removed already");
    assert!(!s.set_remove("other", "a").await.unwrap(), "sets are apart");
    assert_eq!(s.set_len("set").await.unwrap(), 7);
    assert_eq!(s.set_len("other").await.unwrap(), 0);
}

async fn ordered_set_pages_are_exact_under_change(store: Arc<dyn Store>) {
    let s = &store;
    for i in 0..25 {
        s.set_add("users", &format!("{i:04}")).await.unwrap();
    }
    // Page through while members come and go: every member present throughout is seen
    // exactly once; a removed one is never seen after its removal.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut round = 0;
    loop {
        let page = s
            .set_page_desc("users", cursor.as_deref(), 4)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        if round == 1 {
            s.set_add("users", "9999").await.unwrap(); // above the cursor: not seen
            s.set_remove("users", "0003").await.unwrap(); // below: never seen
        }
        round += 1;
        cursor = page.last().cloned();
        seen.extend(page);
    }
    let expected: Vec<String> = (0..25)
        .rev()
        .filter(|i| *i != 3)
        .map(|i| format!("{i:04}"))
        .collect();
    assert_eq!(seen, expected);
    // Concurrent adds of one member: one reports it new.
    let mut tasks = JoinSet::new();
    for _ in 0..RACERS {
        let store = store.clone();
        tasks.spawn(async move { store.set_add("race", "m").await.unwrap() });
    }
    let winners = tasks.join_all().await.into_iter().filter(|w| *w).count();
    assert_eq!(winners, 1, "exactly one add of a member is new");
}

async fn health(store: Arc<dyn Store>) {
    store.health().await.unwrap();
}
