//! Sessions: an identity turned into a cookie and back again, and the identity assertion the
//! upstream receives.
//!
//! - The session cookie is an HS256 JWT (claims in [`Claims`]), HttpOnly, SameSite=Lax,
//!   `Secure` when `public_url` is https. Its `iss` is the `public_url` origin and its `aud`
//!   [`SESSION_AUDIENCE`]: a token minted by another deployment that shares the secret, or
//!   one without them, is refused. Verification is in-process and cached; no store is
//!   touched per request.
//! - Revocation (`/.auth/logout`) adds the session id to an in-process set until the latest
//!   expiry any token of that session can have.
//! - The assertion header is an ES256 JWT minted once per session and route and reused until
//!   close to expiry; its public key is published as JWKS.
//!
//! Time is always passed in (`now`, Unix seconds) so expiry is testable without sleeping.

mod assertion;
mod cache;
mod claims;
mod cookie;
mod jwt;
pub mod persist;
mod revocation;
pub mod user_marks;
pub mod user_persist;
mod values;

pub use assertion::{AssertionError, AssertionSigner};
pub use claims::{Claims, SESSION_AUDIENCE};
pub use cookie::{cookies_with_prefix, find_cookie, strip_cookie};
pub use revocation::RevocationSet;
pub use user_marks::UserMarks;
pub use values::IdentityValues;

use std::sync::Arc;

use rand::RngCore;

use crate::config::SessionConfig;
use crate::identity::Identity;
use cache::{TokenCache, TOKEN_CACHE_CAPACITY};
use jwt::{Hs256, MAX_TOKEN_LEN};

/// Why a session token was not accepted. The gate treats every variant as "not logged in";
/// the variants exist for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("session token is malformed")]
    Malformed,
    #[error("session token signature is invalid")]
    BadSignature,
    #[error("session has expired")]
    Expired,
    #[error("session was revoked")]
    Revoked,
    /// The user was blocked by an operator: refused with 403, not sent to log in again.
    #[error("the user is blocked")]
    Blocked,
    /// Signed with our secret but issued by another deployment (`iss`) or for another use
    /// (`aud`).
    #[error("session token was issued for another deployment or use")]
    Foreign,
}

/// A session that passed verification. Its `Debug` output leaves out the refreshed token.
#[derive(Clone)]
pub struct Verified {
    pub claims: Arc<Claims>,
    pub identity: Arc<Identity>,
    /// The identity as header values, shared with every other request of this token.
    pub values: Arc<IdentityValues>,
    /// Set when the idle window is half used: a fresh token the caller must send back as a
    /// `Set-Cookie` (sliding refresh). `None` on most requests.
    pub refreshed: Option<String>,
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("claims", &self.claims)
            .field("identity", &self.identity)
            .field("refreshed", &self.refreshed.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Issues and verifies session tokens for one gateway configuration.
pub struct SessionManager {
    key: Hs256,
    /// `iss` of the tokens we issue and accept: the `public_url` origin.
    issuer: String,
    cookie_name: String,
    cookie_domain: Option<String>,
    cookie_secure: bool,
    ttl_seconds: u64,
    idle_timeout_seconds: Option<u64>,
    cache: TokenCache,
    revocations: RevocationSet,
    user_marks: UserMarks,
}

impl SessionManager {
    /// An idle timeout of 0 is read as "none", as in the config file.
    pub fn new(cfg: &SessionConfig) -> Self {
        SessionManager {
            key: Hs256::new(cfg.secret.expose().as_bytes()),
            issuer: cfg.issuer.clone(),
            cookie_name: cfg.cookie_name.clone(),
            cookie_domain: cfg.cookie_domain.clone(),
            cookie_secure: cfg.cookie_secure,
            ttl_seconds: cfg.ttl_seconds,
            idle_timeout_seconds: cfg.idle_timeout_seconds.filter(|&s| s > 0),
            cache: TokenCache::new(TOKEN_CACHE_CAPACITY),
            revocations: RevocationSet::new(),
            user_marks: UserMarks::new(),
        }
    }

    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// Mints a session for a freshly logged-in identity: a new random `sid`,
    /// `auth_time = iat = now`, `exp = min(now + ttl, now + idle)`, our `iss` and
    /// [`SESSION_AUDIENCE`].
    pub fn issue(&self, identity: &Identity, now: u64) -> (String, Claims) {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: SESSION_AUDIENCE.to_string(),
            sub: identity.user_id.clone(),
            sid: new_sid(),
            openid: identity.openid.clone(),
            unionid: identity.unionid.clone(),
            phone: identity.phone.clone(),
            method: identity.method,
            iat: now,
            exp: self.expiry(now, now),
            auth_time: now,
        };
        (self.key.sign(&claims), claims)
    }

    /// Verifies a token (signature, `iss` and `aud`, expiry, revocation), using the cache of
    /// recently verified tokens, and decides whether it needs a sliding refresh.
    ///
    /// Expiry is the token's `exp`, further capped by the current `ttl`/idle settings, so
    /// shortening them in the config also shortens sessions already handed out.
    pub fn verify(&self, token: &str, now: u64) -> Result<Verified, SessionError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(SessionError::Malformed);
        }
        if let Some((claims, identity, values)) = self.cache.get(token) {
            self.check(&claims, now)?;
            return Ok(self.verified(claims, identity, values, now));
        }
        let claims: Claims = self.key.verify(token)?;
        // Only tokens that pass this are cached, so the cached path needs no second look.
        if claims.iss != self.issuer || claims.aud != SESSION_AUDIENCE {
            return Err(SessionError::Foreign);
        }
        self.check(&claims, now)?;
        let claims = Arc::new(claims);
        let identity = Arc::new(claims.identity());
        let values = Arc::new(IdentityValues::of(&identity));
        self.cache
            .insert(token, claims.clone(), identity.clone(), values.clone(), now);
        Ok(self.verified(claims, identity, values, now))
    }

    /// Revokes the session: every later `verify` of any token with this `sid` fails.
    /// Returns the time until which the session stays revoked (for [`persist::record`]).
    pub fn revoke(&self, claims: &Claims) -> u64 {
        // Until the latest expiry any refresh of this session could reach, not just this
        // token's: a newer token of the same sid may outlive the one presented at logout.
        let until = claims
            .auth_time
            .saturating_add(self.ttl_seconds)
            .max(claims.exp);
        self.revocations.insert(&claims.sid, until);
        until
    }

    pub fn revocations(&self) -> &RevocationSet {
        &self.revocations
    }

    /// Blocked users and users whose sessions were all revoked (operator actions).
    pub fn user_marks(&self) -> &UserMarks {
        &self.user_marks
    }

    /// How long a session can live at most: a revocation of all of a user's sessions needs
    /// to be kept this long.
    pub fn max_lifetime_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    /// `Set-Cookie` value carrying `token`. `Max-Age` is the session ttl: the token's own
    /// `exp` is what ends the session, the cookie just has to live at least as long.
    pub fn set_cookie(&self, token: &str) -> String {
        cookie::render(
            &self.cookie_name,
            token,
            self.ttl_seconds,
            self.cookie_secure,
            self.cookie_domain.as_deref(),
        )
    }

    /// `Set-Cookie` value that deletes the session cookie.
    pub fn clear_cookie(&self) -> String {
        cookie::render(
            &self.cookie_name,
            "",
            0,
            self.cookie_secure,
            self.cookie_domain.as_deref(),
        )
    }

    /// `min(auth_time + ttl, iat + idle)`.
    fn expiry(&self, auth_time: u64, iat: u64) -> u64 {
        let absolute = auth_time.saturating_add(self.ttl_seconds);
        match self.idle_timeout_seconds {
            Some(idle) => absolute.min(iat.saturating_add(idle)),
            None => absolute,
        }
    }

    fn check(&self, claims: &Claims, now: u64) -> Result<(), SessionError> {
        if now >= claims.exp.min(self.expiry(claims.auth_time, claims.iat)) {
            return Err(SessionError::Expired);
        }
        if self.revocations.contains(&claims.sid, now) {
            return Err(SessionError::Revoked);
        }
        match self.user_marks.check(&claims.sub, claims.auth_time, now) {
            Some(user_marks::Mark::Blocked) => Err(SessionError::Blocked),
            Some(user_marks::Mark::Revoked) => Err(SessionError::Revoked),
            None => Ok(()),
        }
    }

    fn verified(
        &self,
        claims: Arc<Claims>,
        identity: Arc<Identity>,
        values: Arc<IdentityValues>,
        now: u64,
    ) -> Verified {
        let refreshed = self.refresh(&claims, now);
        Verified {
            claims,
            identity,
            values,
            refreshed,
        }
    }

    /// A re-issued token once half the idle window has passed since `iat`, unless the
    /// absolute ttl leaves nothing to gain.
    fn refresh(&self, claims: &Claims, now: u64) -> Option<String> {
        let idle = self.idle_timeout_seconds?;
        if now.saturating_sub(claims.iat) < idle / 2 {
            return None;
        }
        let exp = self.expiry(claims.auth_time, now);
        if exp <= claims.exp {
            return None;
        }
        let renewed = Claims {
            iat: now,
            exp,
            ..claims.clone()
        };
        Some(self.key.sign(&renewed))
    }
}

impl std::fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManager")
            .field("issuer", &self.issuer)
            .field("cookie_name", &self.cookie_name)
            .field("cookie_domain", &self.cookie_domain)
            .field("cookie_secure", &self.cookie_secure)
            .field("ttl_seconds", &self.ttl_seconds)
            .field("idle_timeout_seconds", &self.idle_timeout_seconds)
            .field("revocations", &self.revocations)
            .finish_non_exhaustive()
    }
}

/// 128 random bits, URL-safe base64 (22 characters).
fn new_sid() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    jwt::b64(&bytes)
}

#[cfg(test)]
mod tests;
