//! Bounded, sharded in-process caches: recently verified session tokens here, and the
//! building block the assertion cache shares.
//!
//! Entries are keyed by a keyed 64-bit hash and carry their full key, which a lookup compares,
//! so a collision (or a tampered token that hashes alike) is a miss, never a wrong hit. Each
//! shard has its own `RwLock`, so concurrent hits only share a lock with 1/16 of the traffic.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

use super::values::IdentityValues;
use super::Claims;
use crate::identity::Identity;

const SHARDS: usize = 16;

/// How many verified tokens the session cache keeps (all shards together).
pub(crate) const TOKEN_CACHE_CAPACITY: usize = 16 * 1024;

/// The map keys are already SipHash outputs; hashing them again would only cost time.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys reach this hasher; this is a correct (if slow) fallback.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard<V> = RwLock<HashMap<u64, V, BuildHasherDefault<PassThrough>>>;

/// A map from a 64-bit hash to a value, split into shards, holding at most about `capacity`
/// entries. The caller stores the full key in `V` and checks it on lookup.
pub(crate) struct ShardedCache<V> {
    shards: Box<[Shard<V>]>,
    per_shard: usize,
}

impl<V> ShardedCache<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        ShardedCache {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, hash: u64) -> &Shard<V> {
        // Middle bits: the low bits pick the bucket and the top bits the tag inside a shard's
        // table, so using either here would leave them less spread out.
        &self.shards[(hash >> 32) as usize % SHARDS]
    }

    /// Looks `hash` up and lets `read` check the entry (the full key) and copy out what it
    /// needs, under the shard's read lock.
    pub(crate) fn get<R>(&self, hash: u64, read: impl FnOnce(&V) -> Option<R>) -> Option<R> {
        let shard = self
            .shard(hash)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        shard.get(&hash).and_then(read)
    }

    /// Inserts `value`, replacing any entry with the same hash. A full shard first drops the
    /// entries `keep` rejects (expired ones); when that frees less than half of it, it is
    /// cleared: cheap, and the cost is one re-verification per evicted entry.
    pub(crate) fn insert(&self, hash: u64, value: V, mut keep: impl FnMut(&V) -> bool) {
        let mut shard = self
            .shard(hash)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(&hash) {
            shard.retain(|_, v| keep(v));
            if shard.len() > self.per_shard / 2 {
                shard.clear();
            }
        }
        shard.insert(hash, value);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

struct TokenEntry {
    token: Box<str>,
    claims: Arc<Claims>,
    identity: Arc<Identity>,
    values: Arc<IdentityValues>,
}

/// What a cached token decoded to.
pub(crate) type Decoded = (Arc<Claims>, Arc<Identity>, Arc<IdentityValues>);

/// Tokens whose signature was checked recently, with what they decoded to. A hit skips the
/// base64, JSON and HMAC work; expiry and revocation are still the caller's to check.
pub(crate) struct TokenCache {
    hasher: RandomState,
    map: ShardedCache<TokenEntry>,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        TokenCache {
            hasher: RandomState::new(),
            map: ShardedCache::new(capacity),
        }
    }

    /// Hashes only the tail of the token: for a genuine token that is the MAC, already
    /// uniformly spread, and a tampered token that shares it is caught by the full comparison.
    fn hash(&self, token: &str) -> u64 {
        let bytes = token.as_bytes();
        self.hasher
            .hash_one(&bytes[bytes.len().saturating_sub(32)..])
    }

    /// The decoded claims of `token` when exactly this token was verified before.
    pub(crate) fn get(&self, token: &str) -> Option<Decoded> {
        self.map.get(self.hash(token), |e| {
            (*e.token == *token).then(|| (e.claims.clone(), e.identity.clone(), e.values.clone()))
        })
    }

    /// Remembers a token that passed verification at `now`.
    pub(crate) fn insert(
        &self,
        token: &str,
        claims: Arc<Claims>,
        identity: Arc<Identity>,
        values: Arc<IdentityValues>,
        now: u64,
    ) {
        let entry = TokenEntry {
            token: token.into(),
            claims,
            identity,
            values,
        };
        self.map
            .insert(self.hash(token), entry, |e| e.claims.exp > now);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{LoginMethod, UserId};

    fn claims(exp: u64) -> Arc<Claims> {
        Arc::new(Claims {
            iss: "https://app.example.com".into(),
            aud: "scangate:session".into(),
            sub: UserId::new("u"),
            sid: "s".into(),
            openid: None,
            unionid: None,
            phone: None,
            method: LoginMethod::MiniProgram,
            iat: 0,
            exp,
            auth_time: 0,
        })
    }

    fn put(cache: &TokenCache, token: &str, exp: u64, now: u64) {
        let c = claims(exp);
        let id = Arc::new(c.identity());
        let values = Arc::new(IdentityValues::of(&id));
        cache.insert(token, c, id, values, now);
    }

    #[test]
    fn only_the_exact_token_hits() {
        let cache = TokenCache::new(64);
        let token = "header.payload.0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
        put(&cache, token, 100, 0);
        assert!(cache.get(token).is_some());
        // Same tail (so same hash), different payload: must miss.
        assert!(cache
            .get("header.pAyload.0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")
            .is_none());
        assert!(cache.get(&token[1..]).is_none());
        assert!(cache.get("").is_none());
        assert!(cache.get("ünïcödé").is_none());
    }

    #[test]
    fn stays_bounded_and_prefers_dropping_expired_entries() {
        let cache = TokenCache::new(SHARDS * 4);
        for i in 0..10_000 {
            put(&cache, &format!("token-{i}"), 100, 0);
        }
        assert!(cache.len() <= SHARDS * 4, "{}", cache.len());

        // Fill with short-lived entries, then add long-lived ones after they expired: the
        // expired ones are dropped first, so the newest long-lived ones survive alongside.
        let cache = TokenCache::new(SHARDS * 8);
        for i in 0..10_000 {
            put(&cache, &format!("old-{i}"), 10, 0);
        }
        for i in 0..SHARDS {
            put(&cache, &format!("new-{i}"), 1000, 50);
        }
        let survivors = (0..SHARDS)
            .filter(|i| cache.get(&format!("new-{i}")).is_some())
            .count();
        assert_eq!(survivors, SHARDS);
    }

    #[test]
    fn is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<TokenCache>();
        let cache = Arc::new(TokenCache::new(1024));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let token = format!("t{t}-{i}");
                        put(&cache, &token, 100, 0);
                        assert!(cache.get(&token).is_some());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}
