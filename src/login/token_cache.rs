//! The WeChat access token shared through the store, so every gateway instance uses one
//! token and exactly one of them refreshes it (wechat-protocol.md §2.3: two refreshes racing
//! invalidate each other). Bridges the two leaves `wechat` (the [`TokenCache`] seam) and
//! `store`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::wechat::{AccessToken, CachedToken, RefreshLease, TokenCache, TokenCacheError};

/// A stored token outlives its refresh time by this much, so an instance that cannot reach
/// WeChat for a moment still has one to use.
const GRACE: Duration = Duration::from_secs(300);

pub struct StoreTokenCache {
    store: Arc<dyn Store>,
}

impl StoreTokenCache {
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreTokenCache { store }
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    token: String,
    /// Unix milliseconds.
    refresh_at_ms: u64,
}

fn token_key(app_id: &str) -> String {
    format!("wechat:token:{app_id}")
}

fn lock_key(app_id: &str) -> String {
    format!("wechat:token-lock:{app_id}")
}

fn failed(e: impl std::fmt::Display) -> TokenCacheError {
    TokenCacheError(e.to_string())
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn decode(bytes: &[u8]) -> Option<Stored> {
    serde_json::from_slice(bytes).ok()
}

#[async_trait]
impl TokenCache for StoreTokenCache {
    async fn get(&self, app_id: &str) -> Result<Option<CachedToken>, TokenCacheError> {
        let bytes = self.store.get(&token_key(app_id)).await.map_err(failed)?;
        Ok(bytes.as_deref().and_then(decode).map(|s| CachedToken {
            token: AccessToken::new(s.token),
            refresh_at: UNIX_EPOCH + Duration::from_millis(s.refresh_at_ms),
        }))
    }

    async fn put(&self, app_id: &str, token: &CachedToken) -> Result<(), TokenCacheError> {
        let stored = Stored {
            token: token.token.expose().to_string(),
            refresh_at_ms: unix_ms(token.refresh_at),
        };
        let bytes = serde_json::to_vec(&stored).map_err(failed)?;
        let ttl = token
            .refresh_at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            + GRACE;
        self.store
            .put(&token_key(app_id), &bytes, Some(ttl))
            .await
            .map_err(failed)
    }

    async fn invalidate_if(
        &self,
        app_id: &str,
        stale: &AccessToken,
    ) -> Result<(), TokenCacheError> {
        let key = token_key(app_id);
        let Some(bytes) = self.store.get(&key).await.map_err(failed)? else {
            return Ok(());
        };
        if decode(&bytes).is_some_and(|s| s.token == stale.expose()) {
            // Only if still those bytes: a successor written meanwhile survives.
            self.store
                .compare_and_delete(&key, &bytes)
                .await
                .map_err(failed)?;
        }
        Ok(())
    }

    async fn lock_refresh(
        &self,
        app_id: &str,
        ttl: Duration,
    ) -> Result<Option<RefreshLease>, TokenCacheError> {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let lease: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let won = self
            .store
            .put_if_absent(&lock_key(app_id), lease.as_bytes(), Some(ttl))
            .await
            .map_err(failed)?;
        Ok(won.then_some(RefreshLease(lease)))
    }

    async fn unlock_refresh(
        &self,
        app_id: &str,
        lease: &RefreshLease,
    ) -> Result<(), TokenCacheError> {
        self.store
            .compare_and_delete(&lock_key(app_id), lease.0.as_bytes())
            .await
            .map(|_| ())
            .map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use crate::wechat::{ApiConfig, WechatClient};
    use crate::wechat_sim::{SimConfig, Simulator};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_on_one_store_fetch_one_token() {
        let sim = Simulator::start(SimConfig {
            app_id: "wx00000000000000aa".into(),
            app_secret: "secret".into(),
            token: "tok".into(),
            encoding_aes_key: None,
            callback_url: "http://127.0.0.1:9/unused".into(),
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let instance = || {
            WechatClient::with_token_cache(
                ApiConfig {
                    api_base: sim.api_base(),
                    app_id: "wx00000000000000aa".into(),
                    app_secret: "secret".into(),
                    timeout: Duration::from_secs(3),
                },
                Arc::new(StoreTokenCache::new(store.clone())),
            )
            .unwrap()
        };
        let (a, b) = (Arc::new(instance()), Arc::new(instance()));
        let mut calls = Vec::new();
        for i in 0..16 {
            let client = if i % 2 == 0 { a.clone() } else { b.clone() };
            calls.push(tokio::spawn(async move { client.access_token().await }));
        }
        let mut tokens = Vec::new();
        for call in calls {
            tokens.push(call.await.unwrap().unwrap());
        }
        assert!(tokens.windows(2).all(|w| w[0] == w[1]), "one token for all");
        assert_eq!(sim.counters().stable_token_calls, 1, "exactly one refresh");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_lock_has_one_holder_and_only_it_releases() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let cache = StoreTokenCache::new(store);
        let ttl = Duration::from_secs(5);
        let lease = cache.lock_refresh("wx", ttl).await.unwrap().unwrap();
        assert!(cache.lock_refresh("wx", ttl).await.unwrap().is_none());
        cache
            .unlock_refresh("wx", &RefreshLease("not-mine".into()))
            .await
            .unwrap();
        assert!(cache.lock_refresh("wx", ttl).await.unwrap().is_none());
        cache.unlock_refresh("wx", &lease).await.unwrap();
        assert!(cache.lock_refresh("wx", ttl).await.unwrap().is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invalidate_keeps_a_successor() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let cache = StoreTokenCache::new(store);
        let later = SystemTime::now() + Duration::from_secs(600);
        let put = |t: &str| CachedToken {
            token: AccessToken::new(t),
            refresh_at: later,
        };
        cache.put("wx", &put("T1")).await.unwrap();
        cache.put("wx", &put("T2")).await.unwrap();
        cache
            .invalidate_if("wx", &AccessToken::new("T1"))
            .await
            .unwrap();
        assert_eq!(
            cache.get("wx").await.unwrap().unwrap().token,
            AccessToken::new("T2")
        );
        cache
            .invalidate_if("wx", &AccessToken::new("T2"))
            .await
            .unwrap();
        assert!(cache.get("wx").await.unwrap().is_none());
    }
}
