//! `wechat.official_account.verify_source_ip`: WeChat's callback addresses shared through the
//! store (bridging the two leaves `wechat`, with its [`SharedCallbackIps`] seam, and `store`),
//! the first fetch at start, the hourly refresh in the background, and its metrics.
//!
//! At start the first fetch gets [`FIRST_FETCH_BUDGET`]; when WeChat does not answer in time
//! the gateway starts anyway and callbacks pass unchecked (fail open, with a warning per
//! failed refresh and `scangate_wechat_callback_ips_state{state="none"}`) until a list arrives:
//! refusing every callback would stop all logins whenever WeChat's API is down at boot.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::metrics::{CallbackIpMetrics, ListSample};
use crate::proxy::App;
use crate::store::Store;
use crate::wechat::source_ips::{
    ListState, RefreshReport, RefreshTiming, SharedCallbackIps, SharedIpsError, StoredIpList,
};
use crate::wechat::{CallbackIps, WechatClient};

/// How long start-up waits for the first list (the API client's own timeout is 3 s).
pub const FIRST_FETCH_BUDGET: Duration = Duration::from_secs(5);

/// A shared list is dropped from the store this long after it was last written: it outlives
/// a long WeChat outage (instances starting meanwhile still get the last list), and it does
/// not linger for ever once the switch is turned off.
const KEEP_LIST: Duration = Duration::from_secs(7 * 24 * 3600);

/// The list in the store: `wechat:callback-ips:{app_id}`, claimed through
/// `wechat:callback-ips-claim:{app_id}`.
pub struct StoreCallbackIps {
    store: Arc<dyn Store>,
}

impl StoreCallbackIps {
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreCallbackIps { store }
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    ip_list: Vec<String>,
    /// Unix milliseconds.
    fetched_at_ms: u64,
}

fn list_key(app_id: &str) -> String {
    format!("wechat:callback-ips:{app_id}")
}

fn claim_key(app_id: &str) -> String {
    format!("wechat:callback-ips-claim:{app_id}")
}

fn failed(e: impl std::fmt::Display) -> SharedIpsError {
    SharedIpsError(e.to_string())
}

#[async_trait]
impl SharedCallbackIps for StoreCallbackIps {
    async fn get(&self, app_id: &str) -> Result<Option<StoredIpList>, SharedIpsError> {
        let Some(bytes) = self.store.get(&list_key(app_id)).await.map_err(failed)? else {
            return Ok(None);
        };
        // Unreadable bytes (another version's format) are as good as none: fetch anew.
        Ok(serde_json::from_slice::<Stored>(&bytes)
            .ok()
            .map(|s| StoredIpList {
                entries: s.ip_list,
                fetched_at: UNIX_EPOCH + Duration::from_millis(s.fetched_at_ms),
            }))
    }

    async fn put(&self, app_id: &str, list: &StoredIpList) -> Result<(), SharedIpsError> {
        let fetched_at_ms = list
            .fetched_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let bytes = serde_json::to_vec(&Stored {
            ip_list: list.entries.clone(),
            fetched_at_ms,
        })
        .map_err(failed)?;
        self.store
            .put(&list_key(app_id), &bytes, Some(KEEP_LIST))
            .await
            .map_err(failed)
    }

    async fn claim_fetch(&self, app_id: &str, ttl: Duration) -> Result<bool, SharedIpsError> {
        self.store
            .put_if_absent(&claim_key(app_id), b"1", Some(ttl))
            .await
            .map_err(failed)
    }
}

/// The metrics' view of a report.
fn sample(report: &RefreshReport) -> ListSample {
    ListSample {
        outcome: report.outcome.counted_label(),
        state: report.state.as_str(),
        entries: report.entries,
        fetched_at: report.fetched_at,
    }
}

/// Builds the list for the Official Account of `client`, registers its metrics into
/// `registry`, and tries the first fetch (bounded by [`FIRST_FETCH_BUDGET`]). Says at start
/// that the switch is on and how many addresses the list has.
pub async fn build(
    client: Arc<WechatClient>,
    store: Arc<dyn Store>,
    registry: &prometheus::Registry,
    timing: RefreshTiming,
) -> prometheus::Result<Arc<CallbackIps>> {
    let metrics = CallbackIpMetrics::register(registry)?;
    let ips = CallbackIps::new(client, Arc::new(StoreCallbackIps::new(store)), timing)
        .with_observer(Arc::new(move |report| metrics.observe(&sample(report))));
    match tokio::time::timeout(FIRST_FETCH_BUDGET, ips.step()).await {
        Ok(report) if report.state != ListState::None => tracing::info!(
            entries = report.entries,
            "wechat.official_account.verify_source_ip is on: callbacks are accepted only from WeChat's callback addresses"
        ),
        _ => tracing::warn!(
            "wechat.official_account.verify_source_ip is on, but WeChat's callback addresses are not known yet: callbacks pass unchecked until the list arrives"
        ),
    }
    Ok(Arc::new(ips))
}

/// Keeps the list of `app`'s callback fresh on `side` until the side runtime stops (at
/// shutdown, with the other background tasks). Nothing when the switch is off.
pub fn start(app: &App, side: &tokio::runtime::Runtime) {
    let Some(ips) = app
        .login
        .as_ref()
        .and_then(|l| l.callback.as_ref())
        .and_then(|c| c.source_ips.clone())
    else {
        return;
    };
    side.spawn(ips.run());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use crate::wechat::{ApiConfig, SourceVerdict};
    use crate::wechat_sim::{SimConfig, Simulator};
    use std::time::SystemTime;

    fn stored(entries: &[&str], fetched_at: SystemTime) -> StoredIpList {
        StoredIpList {
            entries: entries.iter().map(|e| (*e).to_string()).collect(),
            fetched_at,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_store_keeps_the_list_and_grants_one_claim_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let shared = StoreCallbackIps::new(store.clone());
        assert_eq!(shared.get("wx").await.unwrap(), None);
        // Millisecond precision survives the trip.
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        shared
            .put("wx", &stored(&["1.2.3.0/24", "::1"], at))
            .await
            .unwrap();
        assert_eq!(
            shared.get("wx").await.unwrap(),
            Some(stored(&["1.2.3.0/24", "::1"], at))
        );
        assert_eq!(shared.get("other").await.unwrap(), None);

        let ttl = Duration::from_millis(300);
        assert!(shared.claim_fetch("wx", ttl).await.unwrap());
        assert!(!shared.claim_fetch("wx", ttl).await.unwrap());
        assert!(shared.claim_fetch("other", ttl).await.unwrap());
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        assert!(
            shared.claim_fetch("wx", ttl).await.unwrap(),
            "the claim lapses"
        );

        // Bytes of another format read as no list.
        store.put(&list_key("wx"), b"not json", None).await.unwrap();
        assert_eq!(shared.get("wx").await.unwrap(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_on_one_store_share_one_fetch() {
        let sim = Simulator::start(SimConfig {
            app_id: "wx00000000000000ip".into(),
            app_secret: "secret".into(),
            token: "tok".into(),
            encoding_aes_key: None,
            callback_url: "http://127.0.0.1:9/unused".into(),
        })
        .await
        .unwrap();
        sim.set_callback_ips(&["101.226.103.0/25"]);
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let client = || {
            Arc::new(
                WechatClient::with_token_cache(
                    ApiConfig {
                        api_base: sim.api_base(),
                        app_id: "wx00000000000000ip".into(),
                        app_secret: "secret".into(),
                        timeout: Duration::from_secs(3),
                    },
                    Arc::new(crate::login::token_cache::StoreTokenCache::new(
                        store.clone(),
                    )),
                )
                .unwrap(),
            )
        };
        let registry = prometheus::Registry::new();
        let a = build(client(), store.clone(), &registry, RefreshTiming::default())
            .await
            .unwrap();
        // Another instance: its own registry, as another process would have.
        let b = build(
            client(),
            store.clone(),
            &prometheus::Registry::new(),
            RefreshTiming::default(),
        )
        .await
        .unwrap();
        for ips in [&a, &b] {
            assert_eq!(
                ips.check("101.226.103.9".parse().unwrap()),
                SourceVerdict::Allowed
            );
            assert_eq!(ips.check("8.8.8.8".parse().unwrap()), SourceVerdict::Denied);
        }
        assert_eq!(sim.counters().callback_ip_calls, 1, "B read A's list");
        let mut out = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &registry.gather(),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(r#"scangate_wechat_callback_ips_state{state="fresh"} 1"#),
            "{text}"
        );
        assert!(text.contains("scangate_wechat_callback_ips 1"), "{text}");
    }
}
