//! The access token (wechat-protocol.md §2.4): kept in process, refreshed at 80 % of its
//! `expires_in` on the local monotonic clock, one refresh at a time, invalidated only if it is
//! still the token that failed. A [`TokenCache`] lets instances share tokens (Redis later).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use super::error::Error;

/// A WeChat access token. Its `Debug` output never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Arc<str>);

impl AccessToken {
    /// Wraps a token value.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        AccessToken(value.into())
    }

    /// The value, for the one place that needs it: the `access_token` query parameter.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

/// A token as a shared cache keeps it. `refresh_at` is wall-clock time because it crosses
/// processes; it is computed from the local clock at receipt, never from WeChat's timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedToken {
    /// The token.
    pub token: AccessToken,
    /// After this instant the token should be fetched again.
    pub refresh_at: SystemTime,
}

/// A cache failure; it is logged and the token is fetched from WeChat instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token cache: {0}")]
pub struct TokenCacheError(pub String);

/// Storage for access tokens shared between [`super::WechatClient`]s (and, with a Redis
/// implementation, between instances). Keys are appids. Implementations store what they are
/// given; freshness, single flight and retries stay in the client.
#[async_trait::async_trait]
pub trait TokenCache: Send + Sync {
    /// The stored token for `app_id`, if any (fresh or not; the caller checks `refresh_at`).
    async fn get(&self, app_id: &str) -> Result<Option<CachedToken>, TokenCacheError>;
    /// Stores `token` for `app_id`, replacing any previous one.
    async fn put(&self, app_id: &str, token: &CachedToken) -> Result<(), TokenCacheError>;
    /// Removes the token for `app_id` only if it is still `stale`: a token another instance
    /// already replaced must survive (compare-and-invalidate, §2.4 step 4).
    async fn invalidate_if(&self, app_id: &str, stale: &AccessToken)
        -> Result<(), TokenCacheError>;

    /// Tries to become the only refresher of `app_id`'s token for `ttl` (§2.3: two
    /// instances refreshing at once invalidate each other's tokens). `Some(lease)` when this
    /// caller holds the lock, `None` while another instance holds it. The default, for a
    /// cache inside one process, always grants it: the client's single flight already
    /// serialises refreshes there.
    async fn lock_refresh(
        &self,
        _app_id: &str,
        _ttl: Duration,
    ) -> Result<Option<RefreshLease>, TokenCacheError> {
        Ok(Some(RefreshLease::default()))
    }

    /// Gives back a lease from [`TokenCache::lock_refresh`], only if it is still this one.
    async fn unlock_refresh(
        &self,
        _app_id: &str,
        _lease: &RefreshLease,
    ) -> Result<(), TokenCacheError> {
        Ok(())
    }
}

/// Proof of holding the refresh lock of a shared [`TokenCache`]: a random value, so only the
/// holder can release it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefreshLease(pub String);

/// How long one instance may hold the refresh lock; a holder that dies frees it after this.
pub const REFRESH_LOCK_TTL: Duration = Duration::from_secs(10);
/// How often an instance waiting for another's refresh looks for the new token.
const REFRESH_WAIT_STEP: Duration = Duration::from_millis(100);

/// A [`TokenCache`] in process memory: lets several clients in one process share tokens.
#[derive(Debug, Default)]
pub struct MemoryTokenCache {
    tokens: Mutex<HashMap<String, CachedToken>>,
}

#[async_trait::async_trait]
impl TokenCache for MemoryTokenCache {
    async fn get(&self, app_id: &str) -> Result<Option<CachedToken>, TokenCacheError> {
        Ok(self.lock().get(app_id).cloned())
    }

    async fn put(&self, app_id: &str, token: &CachedToken) -> Result<(), TokenCacheError> {
        self.lock().insert(app_id.to_owned(), token.clone());
        Ok(())
    }

    async fn invalidate_if(
        &self,
        app_id: &str,
        stale: &AccessToken,
    ) -> Result<(), TokenCacheError> {
        let mut tokens = self.lock();
        if tokens.get(app_id).is_some_and(|c| &c.token == stale) {
            tokens.remove(app_id);
        }
        Ok(())
    }
}

impl MemoryTokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedToken>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The outcome of trying to lock the shared refresh.
enum SharedRefresh {
    /// Another instance refreshed meanwhile: use its token.
    TokenArrived(AccessToken),
    /// Fetch from WeChat; release the lease (when there is one) afterwards.
    Refresh(Option<RefreshLease>),
}

/// What a fetch from WeChat returned.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub token: AccessToken,
    pub expires_in: u64,
}

struct Local {
    token: AccessToken,
    refresh_at: Instant,
}

/// The in-process token holder. `get` is single flight: while one caller fetches, the others
/// wait and then share its result, token or error.
pub(crate) struct TokenManager {
    app_id: String,
    local: RwLock<Option<Local>>,
    /// Held for the whole of a refresh; its content is the outcome of the last one.
    flight: tokio::sync::Mutex<Option<Error>>,
    refreshes: AtomicU64,
    shared: Option<Arc<dyn TokenCache>>,
}

impl TokenManager {
    pub fn new(app_id: &str, shared: Option<Arc<dyn TokenCache>>) -> Self {
        TokenManager {
            app_id: app_id.to_owned(),
            local: RwLock::new(None),
            flight: tokio::sync::Mutex::new(None),
            refreshes: AtomicU64::new(0),
            shared,
        }
    }

    /// A fresh token: the local copy, else the shared cache's, else `fetch()`'s.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<AccessToken, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, Error>>,
    {
        if let Some(token) = self.fresh_local() {
            return Ok(token);
        }
        let seen = self.refreshes.load(Ordering::SeqCst);
        let mut last_error = self.flight.lock().await;
        if let Some(token) = self.fresh_local() {
            return Ok(token);
        }
        // A refresh finished while we waited and failed: share its error rather than queue
        // one more doomed request per waiter.
        if self.refreshes.load(Ordering::SeqCst) != seen {
            if let Some(error) = last_error.as_ref() {
                return Err(error.clone());
            }
        }
        if let Some(token) = self.fresh_shared().await {
            return Ok(token);
        }
        let lease = match self.lock_shared_refresh().await {
            SharedRefresh::TokenArrived(token) => return Ok(token),
            SharedRefresh::Refresh(lease) => lease,
        };
        let outcome = fetch().await;
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        match outcome {
            Ok(fetched) => {
                *last_error = None;
                // 80 % of the lifetime: a normal-mode stable_token call in the last stretch
                // already returns the successor (§2.2), so refetching early is harmless.
                let fresh_for = Duration::from_secs(fetched.expires_in) * 4 / 5;
                self.store_local(fetched.token.clone(), Instant::now() + fresh_for);
                if let Some(shared) = &self.shared {
                    let cached = CachedToken {
                        token: fetched.token.clone(),
                        refresh_at: SystemTime::now() + fresh_for,
                    };
                    if let Err(e) = shared.put(&self.app_id, &cached).await {
                        tracing::warn!(app_id = %self.app_id, error = %e, "cannot share the access token");
                    }
                }
                self.unlock_shared_refresh(lease).await;
                Ok(fetched.token)
            }
            Err(error) => {
                self.unlock_shared_refresh(lease).await;
                *last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Across instances, exactly one refreshes: take the shared lock, or wait for the
    /// holder's token. A broken cache or a holder that died (its lock expires) lets this
    /// instance fetch by itself rather than fail the login.
    async fn lock_shared_refresh(&self) -> SharedRefresh {
        let Some(shared) = &self.shared else {
            return SharedRefresh::Refresh(None);
        };
        let give_up = Instant::now() + REFRESH_LOCK_TTL + REFRESH_WAIT_STEP;
        loop {
            match shared.lock_refresh(&self.app_id, REFRESH_LOCK_TTL).await {
                Ok(Some(lease)) => {
                    // The previous holder may have just finished: use its token.
                    if let Some(token) = self.fresh_shared().await {
                        self.unlock_shared_refresh(Some(lease)).await;
                        return SharedRefresh::TokenArrived(token);
                    }
                    return SharedRefresh::Refresh(Some(lease));
                }
                Ok(None) if Instant::now() < give_up => {
                    tokio::time::sleep(REFRESH_WAIT_STEP).await;
                    if let Some(token) = self.fresh_shared().await {
                        return SharedRefresh::TokenArrived(token);
                    }
                }
                Ok(None) => return SharedRefresh::Refresh(None),
                Err(e) => {
                    tracing::warn!(app_id = %self.app_id, error = %e, "cannot lock the shared token refresh");
                    return SharedRefresh::Refresh(None);
                }
            }
        }
    }

    async fn unlock_shared_refresh(&self, lease: Option<RefreshLease>) {
        if let (Some(shared), Some(lease)) = (&self.shared, lease) {
            if let Err(e) = shared.unlock_refresh(&self.app_id, &lease).await {
                tracing::warn!(app_id = %self.app_id, error = %e, "cannot release the token refresh lock");
            }
        }
    }

    /// Forgets `stale` if it is still the current token; a newer token stays.
    pub async fn invalidate(&self, stale: &AccessToken) {
        let _flight = self.flight.lock().await;
        {
            let mut local = self.local.write().unwrap_or_else(PoisonError::into_inner);
            if local.as_ref().is_some_and(|l| &l.token == stale) {
                *local = None;
            }
        }
        if let Some(shared) = &self.shared {
            if let Err(e) = shared.invalidate_if(&self.app_id, stale).await {
                tracing::warn!(app_id = %self.app_id, error = %e, "cannot invalidate the shared access token");
            }
        }
    }

    fn fresh_local(&self) -> Option<AccessToken> {
        let local = self.local.read().unwrap_or_else(PoisonError::into_inner);
        local
            .as_ref()
            .filter(|l| Instant::now() < l.refresh_at)
            .map(|l| l.token.clone())
    }

    fn store_local(&self, token: AccessToken, refresh_at: Instant) {
        *self.local.write().unwrap_or_else(PoisonError::into_inner) =
            Some(Local { token, refresh_at });
    }

    async fn fresh_shared(&self) -> Option<AccessToken> {
        let shared = self.shared.as_ref()?;
        let cached = match shared.get(&self.app_id).await {
            Ok(cached) => cached?,
            Err(e) => {
                tracing::warn!(app_id = %self.app_id, error = %e, "cannot read the shared access token");
                return None;
            }
        };
        let left = cached.refresh_at.duration_since(SystemTime::now()).ok()?;
        self.store_local(cached.token.clone(), Instant::now() + left);
        Some(cached.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn fetched(value: &str, expires_in: u64) -> Result<Fetched, Error> {
        Ok(Fetched {
            token: AccessToken::new(value),
            expires_in,
        })
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let manager = Arc::new(TokenManager::new("wx1", None));
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (manager, fetches) = (manager.clone(), fetches.clone());
            tasks.push(tokio::spawn(async move {
                manager
                    .get(|| async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        fetched("T1", 7200)
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), AccessToken::new("T1"));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn waiters_share_a_failed_refresh() {
        let manager = Arc::new(TokenManager::new("wx1", None));
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (manager, fetches) = (manager.clone(), fetches.clone());
            tasks.push(tokio::spawn(async move {
                manager
                    .get(|| async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err(Error::Api {
                            errcode: 40125,
                            errmsg: "invalid appsecret".into(),
                        })
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap_err().errcode(), Some(40125));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // A later caller tries again rather than inheriting an old failure.
        assert!(manager.get(|| async { fetched("T2", 7200) }).await.is_ok());
    }

    #[tokio::test]
    async fn token_is_refetched_after_80_percent_of_its_life() {
        let manager = TokenManager::new("wx1", None);
        assert_eq!(
            manager.get(|| async { fetched("T1", 1) }).await.unwrap(),
            AccessToken::new("T1")
        );
        assert_eq!(
            manager.get(|| async { fetched("X", 1) }).await.unwrap(),
            AccessToken::new("T1")
        );
        tokio::time::sleep(Duration::from_millis(850)).await;
        assert_eq!(
            manager.get(|| async { fetched("T2", 1) }).await.unwrap(),
            AccessToken::new("T2")
        );
    }

    #[tokio::test]
    async fn invalidate_only_if_same() {
        let manager = TokenManager::new("wx1", None);
        let t1 = manager.get(|| async { fetched("T1", 7200) }).await.unwrap();
        manager.invalidate(&AccessToken::new("other")).await;
        assert_eq!(
            manager.get(|| async { fetched("T2", 7200) }).await.unwrap(),
            t1
        );
        manager.invalidate(&t1).await;
        assert_eq!(
            manager.get(|| async { fetched("T2", 7200) }).await.unwrap(),
            AccessToken::new("T2")
        );
    }

    #[tokio::test]
    async fn shared_cache_serves_a_second_manager() {
        let cache: Arc<dyn TokenCache> = Arc::new(MemoryTokenCache::default());
        let a = TokenManager::new("wx1", Some(cache.clone()));
        let b = TokenManager::new("wx1", Some(cache.clone()));
        assert_eq!(
            a.get(|| async { fetched("T1", 7200) }).await.unwrap(),
            AccessToken::new("T1")
        );
        assert_eq!(
            b.get(|| async { fetched("B", 7200) }).await.unwrap(),
            AccessToken::new("T1")
        );
        // b invalidates T1 everywhere; a's local copy survives until it fails on its own.
        b.invalidate(&AccessToken::new("T1")).await;
        assert_eq!(cache.get("wx1").await.unwrap(), None);
        assert_eq!(
            b.get(|| async { fetched("T2", 7200) }).await.unwrap(),
            AccessToken::new("T2")
        );
        // An invalidation of the old token must not remove the new one.
        a.invalidate(&AccessToken::new("T1")).await;
        assert_eq!(
            cache.get("wx1").await.unwrap().unwrap().token,
            AccessToken::new("T2")
        );
        assert_eq!(
            a.get(|| async { fetched("A", 7200) }).await.unwrap(),
            AccessToken::new("T2")
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let shown = format!(
            "{:?}",
            CachedToken {
                token: AccessToken::new("s3cr3t"),
                refresh_at: SystemTime::UNIX_EPOCH
            }
        );
        assert!(!shown.contains("s3cr3t"));
    }
}
