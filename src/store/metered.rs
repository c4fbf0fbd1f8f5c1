//! A [`Store`] wrapper that measures every operation of the store it wraps:
//! `scangate_store_operation_duration_seconds{op}` and `scangate_store_errors_total{op}`.
//!
//! `op` takes values from a fixed set only (the operation names below), never a key. The
//! per-operation handles are resolved once, so measuring costs no label lookup.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};
use tokio::sync::broadcast;

use super::{Notification, Result, Store};

/// The measured operations, as their `op` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Get,
    Put,
    PutIfAbsent,
    CompareAndSwap,
    CompareAndDelete,
    Take,
    Delete,
    Incr,
    Publish,
    SetAdd,
    SetRemove,
    SetPage,
    SetLen,
    Health,
}

impl Op {
    const ALL: [Op; 14] = [
        Op::Get,
        Op::Put,
        Op::PutIfAbsent,
        Op::CompareAndSwap,
        Op::CompareAndDelete,
        Op::Take,
        Op::Delete,
        Op::Incr,
        Op::Publish,
        Op::SetAdd,
        Op::SetRemove,
        Op::SetPage,
        Op::SetLen,
        Op::Health,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Put => "put",
            Op::PutIfAbsent => "put_if_absent",
            Op::CompareAndSwap => "compare_and_swap",
            Op::CompareAndDelete => "compare_and_delete",
            Op::Take => "take",
            Op::Delete => "delete",
            Op::Incr => "incr",
            Op::Publish => "publish",
            Op::SetAdd => "set_add",
            Op::SetRemove => "set_remove",
            Op::SetPage => "set_page_desc",
            Op::SetLen => "set_len",
            Op::Health => "health",
        }
    }
}

/// Seconds: from a fast local operation to the Redis timeout and beyond.
const BUCKETS: [f64; 13] = [
    0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Wraps any store and records, per operation, its duration (successes and failures alike)
/// and how many calls returned an error (any [`Error`](super::Error)). A future dropped before
/// it finished is not recorded. `subscribe` and `durability_warnings` pass through unmeasured.
pub struct MeteredStore {
    inner: Arc<dyn Store>,
    durations: [Histogram; Op::ALL.len()],
    errors: [IntCounter; Op::ALL.len()],
}

impl MeteredStore {
    /// Wraps `inner`, registering both metric families into `registry`. Fails if the registry
    /// already holds metrics of these names (one `MeteredStore` per registry).
    pub fn new(inner: Arc<dyn Store>, registry: &Registry) -> Result<Self, prometheus::Error> {
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "scangate_store_operation_duration_seconds",
                "Time taken by store operations, by operation, failures included.",
            )
            .buckets(BUCKETS.to_vec()),
            &["op"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "scangate_store_errors_total",
                "Store operations that returned an error, by operation.",
            ),
            &["op"],
        )?;
        registry.register(Box::new(durations.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        Ok(MeteredStore {
            inner,
            durations: Op::ALL.map(|op| durations.with_label_values(&[op.as_str()])),
            errors: Op::ALL.map(|op| errors.with_label_values(&[op.as_str()])),
        })
    }

    async fn measure<T>(&self, op: Op, call: impl Future<Output = Result<T>>) -> Result<T> {
        let start = Instant::now();
        let result = call.await;
        let index = op as usize;
        self.durations[index].observe(seconds(start.elapsed()));
        if result.is_err() {
            self.errors[index].inc();
        }
        result
    }
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[async_trait]
impl Store for MeteredStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.measure(Op::Get, self.inner.get(key)).await
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.measure(Op::Put, self.inner.put(key, value, ttl)).await
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        self.measure(Op::PutIfAbsent, self.inner.put_if_absent(key, value, ttl))
            .await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.measure(
            Op::CompareAndSwap,
            self.inner.compare_and_swap(key, expected, new, ttl),
        )
        .await
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool> {
        self.measure(
            Op::CompareAndDelete,
            self.inner.compare_and_delete(key, expected),
        )
        .await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.measure(Op::Take, self.inner.take(key)).await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.measure(Op::Delete, self.inner.delete(key)).await
    }

    async fn incr(&self, key: &str, ttl_if_new: Duration) -> Result<u64> {
        self.measure(Op::Incr, self.inner.incr(key, ttl_if_new))
            .await
    }

    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<()> {
        self.measure(Op::Publish, self.inner.publish(channel, payload))
            .await
    }

    async fn set_add(&self, set: &str, member: &str) -> Result<bool> {
        self.measure(Op::SetAdd, self.inner.set_add(set, member))
            .await
    }

    async fn set_remove(&self, set: &str, member: &str) -> Result<bool> {
        self.measure(Op::SetRemove, self.inner.set_remove(set, member))
            .await
    }

    async fn set_page_desc(
        &self,
        set: &str,
        below: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.measure(Op::SetPage, self.inner.set_page_desc(set, below, limit))
            .await
    }

    async fn set_len(&self, set: &str) -> Result<u64> {
        self.measure(Op::SetLen, self.inner.set_len(set)).await
    }

    fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.inner.subscribe()
    }

    async fn health(&self) -> Result<()> {
        self.measure(Op::Health, self.inner.health()).await
    }

    async fn durability_warnings(&self) -> Vec<String> {
        self.inner.durability_warnings().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{conformance, Error, ManualClock, SqliteStore};

    fn metered(dir: &tempfile::TempDir, registry: &Registry) -> Arc<MeteredStore> {
        let inner = SqliteStore::open(&dir.path().join("store.db")).unwrap();
        Arc::new(MeteredStore::new(Arc::new(inner), registry).unwrap())
    }

    /// `(sample count of the histogram, error count)` for `op`.
    fn observed(registry: &Registry, op: &str) -> (u64, u64) {
        let mut samples = 0;
        let mut errors = 0;
        for family in registry.gather() {
            for metric in family.get_metric() {
                let labelled = metric
                    .get_label()
                    .iter()
                    .any(|l| l.name() == "op" && l.value() == op);
                if !labelled {
                    continue;
                }
                match family.name() {
                    "scangate_store_operation_duration_seconds" => {
                        samples = metric.get_histogram().get_sample_count();
                    }
                    "scangate_store_errors_total" => {
                        errors = metric.get_counter().value() as u64;
                    }
                    _ => {}
                }
            }
        }
        (samples, errors)
    }

    #[tokio::test]
    async fn counts_operations_and_errors_by_operation() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new();
        let store = metered(&dir, &registry);
        store.put("k", b"v", None).await.unwrap();
        store.put("k", b"w", None).await.unwrap();
        assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"w"[..]));
        assert!(matches!(
            store.incr("k", Duration::from_secs(1)).await,
            Err(Error::NotACounter)
        ));
        assert!(matches!(
            store.put("z", b"v", Some(Duration::ZERO)).await,
            Err(Error::InvalidTtl)
        ));
        store.health().await.unwrap();

        assert_eq!(observed(&registry, "put"), (3, 1));
        assert_eq!(observed(&registry, "get"), (1, 0));
        assert_eq!(observed(&registry, "incr"), (1, 1));
        assert_eq!(observed(&registry, "health"), (1, 0));
        // Every operation's series exists from the start, at zero.
        assert_eq!(observed(&registry, "take"), (0, 0));
        let families = registry.gather();
        let errors = families
            .iter()
            .find(|f| f.name() == "scangate_store_errors_total")
            .unwrap();
        assert_eq!(errors.get_metric().len(), Op::ALL.len());
    }

    #[tokio::test]
    async fn registering_twice_in_one_registry_fails() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new();
        let _first = metered(&dir, &registry);
        let inner = SqliteStore::open(&dir.path().join("other.db")).unwrap();
        assert!(MeteredStore::new(Arc::new(inner), &registry).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_metered_store_still_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let counter = std::sync::atomic::AtomicUsize::new(0);
        let new_store = || {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let path = dir.path().join(format!("store-{n}.db"));
            let clock: Arc<dyn crate::store::Clock> = clock.clone();
            async move {
                let inner = Arc::new(SqliteStore::open_with_clock(&path, clock).unwrap());
                let store = MeteredStore::new(inner, &Registry::new()).unwrap();
                Arc::new(store) as Arc<dyn Store>
            }
        };
        let fast_forward = |by: Duration| {
            clock.advance(by);
            async {}
        };
        conformance::run(new_store, fast_forward).await;
    }
}
