//! Keeping WeChat's callback addresses fresh: the list in use, a refresh every
//! [`RefreshTiming::period`] (jittered), shared between instances through a
//! [`SharedCallbackIps`] so that one instance asks WeChat per period and the others read its
//! answer, and the last good list kept when WeChat does not answer.
//!
//! Each [`CallbackIps::step`]:
//! 1. reads the shared list and takes it when it is newer than ours;
//! 2. when the list is younger than the period, waits until it is due (plus jitter);
//! 3. otherwise claims the fetch for [`RefreshTiming::retry`]: the winner asks WeChat and
//!    shares the answer, the others look again after [`RefreshTiming::follow`]. A failed
//!    fetch keeps the claim, so the fleet asks WeChat at most once per `retry` while it fails.
//!
//! A store that cannot be read or claimed is no reason to give up: the instance then asks
//! WeChat by itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use rand::Rng;

use super::{CallbackIpList, SourceVerdict};
use crate::wechat::{Error, WechatClient};

/// The list as instances share it: WeChat's entries verbatim and when they were fetched
/// (wall-clock time, since it crosses processes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIpList {
    pub entries: Vec<String>,
    pub fetched_at: SystemTime,
}

/// A failure of the shared storage; logged, and the instance carries on by itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shared callback address list: {0}")]
pub struct SharedIpsError(pub String);

/// Where instances share the list (the store, with Redis across instances). Keys are appids.
#[async_trait::async_trait]
pub trait SharedCallbackIps: Send + Sync {
    /// The list last shared for `app_id`, if any.
    async fn get(&self, app_id: &str) -> Result<Option<StoredIpList>, SharedIpsError>;
    /// Shares `list`, replacing the previous one.
    async fn put(&self, app_id: &str, list: &StoredIpList) -> Result<(), SharedIpsError>;
    /// `true` when this caller may ask WeChat now: no other caller claimed it within `ttl`.
    /// Of many concurrent callers exactly one gets `true`; the claim lapses by itself.
    async fn claim_fetch(&self, app_id: &str, ttl: Duration) -> Result<bool, SharedIpsError>;
}

/// A [`SharedCallbackIps`] in process memory: for one instance without a store, and tests.
#[derive(Debug, Default)]
pub struct MemorySharedIps {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    list: Option<StoredIpList>,
    claimed_until: Option<Instant>,
}

#[async_trait::async_trait]
impl SharedCallbackIps for MemorySharedIps {
    async fn get(&self, _app_id: &str) -> Result<Option<StoredIpList>, SharedIpsError> {
        Ok(self.lock().list.clone())
    }

    async fn put(&self, _app_id: &str, list: &StoredIpList) -> Result<(), SharedIpsError> {
        self.lock().list = Some(list.clone());
        Ok(())
    }

    async fn claim_fetch(&self, _app_id: &str, ttl: Duration) -> Result<bool, SharedIpsError> {
        let mut inner = self.lock();
        let now = Instant::now();
        if inner.claimed_until.is_some_and(|until| now < until) {
            return Ok(false);
        }
        inner.claimed_until = Some(now + ttl);
        Ok(true)
    }
}

impl MemorySharedIps {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How often the list is refreshed, and how instances pace themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshTiming {
    /// A list older than this is fetched again (by one instance for all).
    pub period: Duration,
    /// Up to this much, at random, is added to the wait for the next period, so instances
    /// started together do not all look at once.
    pub jitter: Duration,
    /// After a failed fetch, the wait before the next try; the failed instance's claim keeps
    /// the others from asking meanwhile.
    pub retry: Duration,
    /// While another instance holds the claim, how often the list is looked for again.
    pub follow: Duration,
}

impl Default for RefreshTiming {
    /// Hourly, jittered by up to 5 minutes; 5 minutes between tries while WeChat fails.
    fn default() -> Self {
        RefreshTiming {
            period: Duration::from_secs(3600),
            jitter: Duration::from_secs(300),
            retry: Duration::from_secs(300),
            follow: Duration::from_secs(5),
        }
    }
}

impl RefreshTiming {
    /// A list older than this has missed its refresh (here or at the instance that holds the
    /// claim): it is reported stale.
    fn stale_after(&self) -> Duration {
        self.period + self.jitter + self.retry
    }

    fn jittered(&self, wait: Duration) -> Duration {
        let jitter_ms = u64::try_from(self.jitter.as_millis()).unwrap_or(u64::MAX);
        wait + Duration::from_millis(rand::thread_rng().gen_range(0..=jitter_ms))
    }
}

/// How the list in use stands (`scangate_wechat_callback_ips_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListState {
    /// No list yet: callbacks pass unchecked (fail open) until one arrives.
    None,
    /// Refreshed on schedule.
    Fresh,
    /// Kept after failed refreshes: still enforced, but WeChat may have moved on.
    Stale,
}

impl ListState {
    pub const ALL: [ListState; 3] = [ListState::None, ListState::Fresh, ListState::Stale];

    pub fn as_str(self) -> &'static str {
        match self {
            ListState::None => "none",
            ListState::Fresh => "fresh",
            ListState::Stale => "stale",
        }
    }
}

/// What one [`CallbackIps::step`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// This instance asked WeChat and got a list (and shared it).
    Fetched,
    /// Another instance's newer list was taken from the shared storage.
    Shared,
    /// The list in use is not due yet.
    Unchanged,
    /// The list is due and another instance is asking WeChat.
    Waiting,
    /// WeChat did not give a usable list; the last one is kept.
    Failed(Error),
}

impl RefreshOutcome {
    /// The `outcome` label of `scangate_wechat_callback_ips_refreshes_total`, for the
    /// outcomes that change or fail to change the list.
    pub fn counted_label(&self) -> Option<&'static str> {
        match self {
            RefreshOutcome::Fetched => Some("fetched"),
            RefreshOutcome::Shared => Some("shared"),
            RefreshOutcome::Failed(_) => Some("failed"),
            RefreshOutcome::Unchanged | RefreshOutcome::Waiting => None,
        }
    }
}

/// Told after every step: what it did and how the list now stands (metrics).
#[derive(Debug, Clone)]
pub struct RefreshReport {
    pub outcome: RefreshOutcome,
    pub state: ListState,
    /// Addresses and ranges in the list in use (0 without one).
    pub entries: usize,
    /// When the list in use was fetched from WeChat.
    pub fetched_at: Option<SystemTime>,
}

pub type ReportObserver = Arc<dyn Fn(&RefreshReport) + Send + Sync>;

/// WeChat's callback addresses for one Official Account: the list in use and its refresh.
pub struct CallbackIps {
    client: Arc<WechatClient>,
    shared: Arc<dyn SharedCallbackIps>,
    timing: RefreshTiming,
    list: ArcSwapOption<CallbackIpList>,
    /// The last fetch this instance tried failed (cleared by any newer list).
    last_fetch_failed: AtomicBool,
    /// The wait the last step asked for before the next: where [`CallbackIps::run`] starts.
    next_wait: Mutex<Duration>,
    observer: Option<ReportObserver>,
}

impl std::fmt::Debug for CallbackIps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackIps")
            .field("app_id", &self.client.app_id())
            .field("entries", &self.list.load().as_ref().map(|l| l.len()))
            .finish_non_exhaustive()
    }
}

impl CallbackIps {
    /// No list yet; call [`CallbackIps::step`] (bounded, at start) and then
    /// [`CallbackIps::run`] in the background.
    pub fn new(
        client: Arc<WechatClient>,
        shared: Arc<dyn SharedCallbackIps>,
        timing: RefreshTiming,
    ) -> Self {
        CallbackIps {
            client,
            shared,
            timing,
            list: ArcSwapOption::empty(),
            last_fetch_failed: AtomicBool::new(false),
            next_wait: Mutex::new(Duration::ZERO),
            observer: None,
        }
    }

    /// Reports every step to `observer` (metrics).
    pub fn with_observer(mut self, observer: ReportObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Whether a push from `ip` may come in: the one question the callback asks.
    pub fn check(&self, ip: std::net::IpAddr) -> SourceVerdict {
        match self.list.load().as_deref() {
            None => SourceVerdict::NoList,
            Some(list) if list.contains(ip) => SourceVerdict::Allowed,
            Some(_) => SourceVerdict::Denied,
        }
    }

    /// The list in use, if any.
    pub fn list(&self) -> Option<Arc<CallbackIpList>> {
        self.list.load_full()
    }

    /// How the list in use stands now.
    pub fn state(&self) -> ListState {
        let Some(list) = self.list.load_full() else {
            return ListState::None;
        };
        let age = SystemTime::now()
            .duration_since(list.fetched_at())
            .unwrap_or_default();
        if self.last_fetch_failed.load(Ordering::SeqCst) || age > self.timing.stale_after() {
            ListState::Stale
        } else {
            ListState::Fresh
        }
    }

    /// Refreshes forever: waits what the last step asked for, steps, and so on. Runs until
    /// its runtime stops (the gateway's side runtime, at shutdown).
    pub async fn run(self: Arc<Self>) {
        loop {
            let wait = *self
                .next_wait
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            tokio::time::sleep(wait).await;
            self.step().await;
        }
    }

    /// One refresh step (see the module comment); reports and logs it.
    pub async fn step(&self) -> RefreshReport {
        let (outcome, wait) = self.decide().await;
        self.finish(outcome, wait)
    }

    /// Asks WeChat now, whatever the schedule and the claim, and shares the answer. For an
    /// operator's "refresh now", and for tests.
    pub async fn refresh_now(&self) -> RefreshReport {
        let (outcome, wait) = self.fetch().await;
        self.finish(outcome, wait)
    }

    async fn decide(&self) -> (RefreshOutcome, Duration) {
        let app_id = self.client.app_id();
        let adopted = match self.shared.get(app_id).await {
            Ok(Some(stored)) => self.adopt_if_newer(&stored),
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(app_id, error = %e, "cannot read the shared WeChat callback addresses");
                false
            }
        };
        let now = SystemTime::now();
        if let Some(list) = self.list.load_full() {
            let age = now.duration_since(list.fetched_at()).unwrap_or_default();
            if age < self.timing.period {
                let outcome = if adopted {
                    RefreshOutcome::Shared
                } else {
                    RefreshOutcome::Unchanged
                };
                return (outcome, self.timing.jittered(self.timing.period - age));
            }
        }
        let claim = self.timing.retry.min(self.timing.period);
        match self.shared.claim_fetch(app_id, claim).await {
            Ok(true) => {}
            Ok(false) => {
                let outcome = if adopted {
                    RefreshOutcome::Shared
                } else {
                    RefreshOutcome::Waiting
                };
                return (outcome, self.timing.follow);
            }
            Err(e) => {
                tracing::warn!(app_id, error = %e, "cannot claim the WeChat callback address refresh; asking WeChat anyway");
            }
        }
        self.fetch().await
    }

    /// Asks WeChat, shares and takes a usable answer.
    async fn fetch(&self) -> (RefreshOutcome, Duration) {
        let entries = match self.client.callback_ips().await {
            Ok(entries) => entries,
            Err(e) => return self.failed(e),
        };
        let fetched_at = SystemTime::now();
        let (list, skipped) = CallbackIpList::parse(&entries, fetched_at);
        if !skipped.is_empty() {
            tracing::warn!(skipped = ?skipped, "getcallbackip listed entries that are neither addresses nor CIDR ranges; ignored");
        }
        if list.is_empty() {
            return self.failed(Error::Decode(
                "getcallbackip listed no usable address".into(),
            ));
        }
        let stored = StoredIpList {
            entries,
            fetched_at,
        };
        if let Err(e) = self.shared.put(self.client.app_id(), &stored).await {
            tracing::warn!(error = %e, "cannot share the WeChat callback addresses");
        }
        self.adopt(list);
        (
            RefreshOutcome::Fetched,
            self.timing.jittered(self.timing.period),
        )
    }

    fn failed(&self, e: Error) -> (RefreshOutcome, Duration) {
        self.last_fetch_failed.store(true, Ordering::SeqCst);
        (RefreshOutcome::Failed(e), self.timing.retry)
    }

    /// Takes `stored` when it is newer than the list in use. Junk entries were reported by
    /// the instance that fetched them.
    fn adopt_if_newer(&self, stored: &StoredIpList) -> bool {
        let newer = self
            .list
            .load()
            .as_ref()
            .is_none_or(|l| stored.fetched_at > l.fetched_at());
        if !newer {
            return false;
        }
        let (list, _) = CallbackIpList::parse(&stored.entries, stored.fetched_at);
        if list.is_empty() {
            return false;
        }
        self.adopt(list);
        true
    }

    fn adopt(&self, list: CallbackIpList) {
        self.list.store(Some(Arc::new(list)));
        self.last_fetch_failed.store(false, Ordering::SeqCst);
    }

    fn finish(&self, outcome: RefreshOutcome, wait: Duration) -> RefreshReport {
        *self
            .next_wait
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = wait;
        let list = self.list.load_full();
        let report = RefreshReport {
            state: self.state(),
            entries: list.as_ref().map_or(0, |l| l.len()),
            fetched_at: list.as_ref().map(|l| l.fetched_at()),
            outcome,
        };
        match &report.outcome {
            RefreshOutcome::Fetched => tracing::info!(
                entries = report.entries,
                "fetched WeChat's callback addresses"
            ),
            RefreshOutcome::Failed(e) => tracing::warn!(
                error = %e,
                state = report.state.as_str(),
                entries = report.entries,
                "cannot refresh WeChat's callback addresses; keeping the last list (none: callbacks pass unchecked)"
            ),
            _ => {}
        }
        if let Some(observer) = &self.observer {
            observer(&report);
        }
        report
    }
}

#[cfg(test)]
mod tests;
