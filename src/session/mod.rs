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
mod values;

pub use assertion::{AssertionError, AssertionSigner};
pub use claims::{Claims, SESSION_AUDIENCE};
pub use cookie::{find_cookie, strip_cookie};
pub use revocation::RevocationSet;
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
        Ok(())
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
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

    use super::*;
    use crate::config::Secret;
    use crate::identity::{LoginMethod, OpenId, Phone, UnionId, UserId};

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";
    const ISSUER: &str = "https://app.example.com";

    fn config(ttl: u64, idle: Option<u64>) -> SessionConfig {
        SessionConfig {
            secret: Secret::new(SECRET),
            cookie_name: "scangate_session".into(),
            cookie_domain: None,
            cookie_secure: false,
            issuer: ISSUER.into(),
            ttl_seconds: ttl,
            idle_timeout_seconds: idle,
            assertion_key_file: None,
        }
    }

    fn manager(ttl: u64, idle: Option<u64>) -> SessionManager {
        SessionManager::new(&config(ttl, idle))
    }

    fn identity() -> Identity {
        Identity {
            user_id: UserId::new("u-42"),
            openid: Some(OpenId::new("oABC")),
            unionid: Some(UnionId::new("uXYZ")),
            phone: Some(Phone::parse("13800138000").unwrap()),
            method: LoginMethod::MiniProgram,
        }
    }

    fn segments(token: &str) -> Vec<&str> {
        token.split('.').collect()
    }

    /// The token with its payload replaced (signature kept).
    fn with_payload(token: &str, payload: &serde_json::Value) -> String {
        let s = segments(token);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap());
        format!("{}.{body}.{}", s[0], s[2])
    }

    fn payload(token: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segments(token)[1]).unwrap()).unwrap()
    }

    #[test]
    fn round_trip() {
        let m = manager(3600, Some(600));
        let (token, claims) = m.issue(&identity(), 1000);
        assert_eq!(claims.iat, 1000);
        assert_eq!(claims.auth_time, 1000);
        assert_eq!(claims.exp, 1600);
        assert_eq!(claims.sid.len(), 22);
        assert!(claims
            .sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));

        let v = m.verify(&token, 1001).unwrap();
        assert_eq!(*v.claims, claims);
        assert_eq!(*v.identity, identity());
        assert_eq!(v.refreshed, None);
        // Cached path gives the same answer.
        let again = m.verify(&token, 1002).unwrap();
        assert!(Arc::ptr_eq(&v.claims, &again.claims));
        // Another manager with the same secret (another instance) accepts it too.
        assert_eq!(
            *manager(3600, Some(600))
                .verify(&token, 1001)
                .unwrap()
                .claims,
            claims
        );
    }

    #[test]
    fn sids_differ() {
        let m = manager(3600, None);
        let (_, a) = m.issue(&identity(), 0);
        let (_, b) = m.issue(&identity(), 0);
        assert_ne!(a.sid, b.sid);
    }

    #[test]
    fn token_is_a_standard_hs256_jwt() {
        let m = manager(3600, None);
        let (token, claims) = m.issue(&identity(), 1000);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[SESSION_AUDIENCE]);
        let data = jsonwebtoken::decode::<Claims>(
            &token,
            &DecodingKey::from_secret(SECRET.as_bytes()),
            &validation,
        )
        .unwrap();
        assert_eq!(data.claims, claims);
        let p = payload(&token);
        assert_eq!(p["iss"], ISSUER);
        assert_eq!(p["aud"], "scangate:session");
        assert_eq!(p["phone"], "+8613800138000");
        assert_eq!(p["method"], "mini_program");
    }

    fn manager_for(issuer: &str) -> SessionManager {
        let mut cfg = config(3600, None);
        cfg.issuer = issuer.into();
        SessionManager::new(&cfg)
    }

    #[test]
    fn a_token_of_another_deployment_sharing_the_secret_is_refused() {
        let staging = manager_for("https://staging.example.com");
        let (token, _) = staging.issue(&identity(), 1000);
        assert!(staging.verify(&token, 1001).is_ok());
        let production = manager(3600, None);
        assert_eq!(
            production.verify(&token, 1001).unwrap_err(),
            SessionError::Foreign
        );
        // Same host, another scheme or port: another origin, another deployment.
        for other in ["http://app.example.com", "https://app.example.com:8443"] {
            assert_eq!(
                manager_for(other).verify(&token, 1001).unwrap_err(),
                SessionError::Foreign,
                "{other}"
            );
        }
        // Refused every time, not only before a cache could have kept it.
        assert_eq!(
            production.verify(&token, 1002).unwrap_err(),
            SessionError::Foreign
        );
        let (ours, _) = production.issue(&identity(), 1000);
        assert!(production.verify(&ours, 1001).is_ok());
    }

    #[test]
    fn tokens_without_our_iss_and_aud_are_refused_even_when_signed_with_our_secret() {
        let m = manager(3600, None);
        let (token, _) = m.issue(&identity(), 1000);
        let good = payload(&token);
        let key = Hs256::new(SECRET.as_bytes());
        let with = |edit: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
            let mut p = good.clone();
            edit(p.as_object_mut().unwrap());
            key.sign(&p)
        };
        // Re-signing the untouched payload passes: the cases below fail for their change only.
        assert!(m.verify(&with(&|_| {}), 1001).is_ok());
        let cases: [(&str, String, SessionError); 6] = [
            (
                "a session from before iss/aud (ends once on upgrade)",
                with(&|p| {
                    p.remove("iss");
                    p.remove("aud");
                }),
                SessionError::Malformed,
            ),
            (
                "no iss",
                with(&|p| {
                    p.remove("iss");
                }),
                SessionError::Malformed,
            ),
            (
                "no aud",
                with(&|p| {
                    p.remove("aud");
                }),
                SessionError::Malformed,
            ),
            (
                "a route's name as aud (what an assertion carries)",
                with(&|p| {
                    p.insert("aud".into(), "app".into());
                }),
                SessionError::Foreign,
            ),
            (
                "aud as a list",
                with(&|p| {
                    p.insert("aud".into(), serde_json::json!([SESSION_AUDIENCE]));
                }),
                SessionError::Malformed,
            ),
            (
                "another issuer",
                with(&|p| {
                    p.insert("iss".into(), "https://evil.example".into());
                }),
                SessionError::Foreign,
            ),
        ];
        for (what, token, want) in cases {
            assert_eq!(m.verify(&token, 1001).unwrap_err(), want, "{what}");
        }
    }

    #[test]
    fn an_assertion_is_not_a_session_and_a_session_is_not_an_assertion() {
        let m = manager(3600, None);
        let (session, claims) = m.issue(&identity(), 1000);
        let (signer, _) = AssertionSigner::generate(ISSUER);
        let assertion = signer.assertion(&claims, "app", 1001);
        // The assertion offered as a session cookie: ES256 is never tried as HS256.
        assert_eq!(
            m.verify(&assertion, 1001).unwrap_err(),
            SessionError::BadSignature
        );
        // Even if both were signed with one key, the aud would tell them apart (`auth_time`,
        // which only sessions carry, added so that the aud is the one difference left).
        let mut lookalike = payload(&assertion);
        lookalike["auth_time"] = 1000.into();
        let resigned = Hs256::new(SECRET.as_bytes()).sign(&lookalike);
        assert_eq!(
            m.verify(&resigned, 1001).unwrap_err(),
            SessionError::Foreign
        );
        lookalike["aud"] = SESSION_AUDIENCE.into();
        let resigned = Hs256::new(SECRET.as_bytes()).sign(&lookalike);
        assert!(
            m.verify(&resigned, 1001).is_ok(),
            "the aud was the difference"
        );

        // The session token offered to an app as an assertion: refused by the ES256 key of the
        // JWKS, and by the audience check even with the key that did sign it.
        let jwks: serde_json::Value = serde_json::from_str(signer.jwks_json()).unwrap();
        let jwk = &jwks["keys"][0];
        let key =
            DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
                .unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&["app"]);
        validation.validate_exp = false;
        assert!(jsonwebtoken::decode::<serde_json::Value>(&session, &key, &validation).is_err());
        let mut same_key = Validation::new(Algorithm::HS256);
        same_key.validate_exp = false;
        same_key.set_issuer(&[ISSUER]);
        same_key.set_audience(&["app"]);
        let wrong_aud = jsonwebtoken::decode::<serde_json::Value>(
            &session,
            &DecodingKey::from_secret(SECRET.as_bytes()),
            &same_key,
        );
        assert!(
            matches!(
                wrong_aud.as_ref().map_err(|e| e.kind()),
                Err(jsonwebtoken::errors::ErrorKind::InvalidAudience)
            ),
            "{wrong_aud:?}"
        );
    }

    #[test]
    fn optional_claims_are_omitted() {
        let m = manager(3600, None);
        let id = Identity {
            openid: None,
            unionid: None,
            phone: None,
            ..identity()
        };
        let (token, _) = m.issue(&id, 0);
        let p = payload(&token);
        for absent in ["openid", "unionid", "phone"] {
            assert!(p.get(absent).is_none(), "{absent}");
        }
        assert_eq!(*m.verify(&token, 1).unwrap().identity, id);
    }

    #[test]
    fn expired_at_exactly_exp_cold_and_cached() {
        let m = manager(3600, None);
        let (token, claims) = m.issue(&identity(), 1000);
        assert_eq!(claims.exp, 4600);
        assert_eq!(
            manager(3600, None).verify(&token, 4600).unwrap_err(),
            SessionError::Expired
        );
        assert!(m.verify(&token, 4599).is_ok()); // now cached
        assert_eq!(m.verify(&token, 4600).unwrap_err(), SessionError::Expired);
        assert_eq!(m.verify(&token, 99_999).unwrap_err(), SessionError::Expired);
    }

    #[test]
    fn shorter_configured_ttl_applies_to_existing_tokens() {
        let (token, _) = manager(3600, None).issue(&identity(), 1000);
        let strict = manager(60, None);
        assert!(strict.verify(&token, 1059).is_ok());
        assert_eq!(
            strict.verify(&token, 1060).unwrap_err(),
            SessionError::Expired
        );
    }

    #[test]
    fn tampered_payload_is_rejected() {
        let m = manager(3600, None);
        let (token, _) = m.issue(&identity(), 1000);
        let mut p = payload(&token);
        p["sub"] = "admin".into();
        assert_eq!(
            m.verify(&with_payload(&token, &p), 1001).unwrap_err(),
            SessionError::BadSignature
        );
        let mut p = payload(&token);
        p["exp"] = 9_999_999.into();
        assert_eq!(
            m.verify(&with_payload(&token, &p), 1001).unwrap_err(),
            SessionError::BadSignature
        );
    }

    #[test]
    fn tampered_signature_is_rejected() {
        let m = manager(3600, None);
        let (token, _) = m.issue(&identity(), 1000);
        let s = segments(&token);
        let mut sig = URL_SAFE_NO_PAD.decode(s[2]).unwrap();
        sig[0] ^= 1;
        let bad = format!("{}.{}.{}", s[0], s[1], URL_SAFE_NO_PAD.encode(&sig));
        assert_eq!(
            m.verify(&bad, 1001).unwrap_err(),
            SessionError::BadSignature
        );
        let truncated = format!("{}.{}.{}", s[0], s[1], URL_SAFE_NO_PAD.encode(&sig[..31]));
        assert_eq!(
            m.verify(&truncated, 1001).unwrap_err(),
            SessionError::BadSignature
        );
        let unsigned = format!("{}.{}.", s[0], s[1]);
        assert_eq!(
            m.verify(&unsigned, 1001).unwrap_err(),
            SessionError::BadSignature
        );
    }

    #[test]
    fn wrong_key_is_rejected() {
        let (token, _) = manager(3600, None).issue(&identity(), 1000);
        let mut cfg = config(3600, None);
        cfg.secret = Secret::new("another secret of at least 32 bytes!!");
        assert_eq!(
            SessionManager::new(&cfg).verify(&token, 1001).unwrap_err(),
            SessionError::BadSignature
        );
    }

    #[test]
    fn alg_none_is_rejected() {
        let m = manager(3600, None);
        let (token, _) = m.issue(&identity(), 1000);
        let s = segments(&token);
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        for forged in [
            format!("{none}.{}.", s[1]),
            format!("{none}.{}.{}", s[1], s[2]),
        ] {
            assert_eq!(
                m.verify(&forged, 1001).unwrap_err(),
                SessionError::BadSignature
            );
        }
        // Uncached as well as after the genuine token was cached.
        m.verify(&token, 1001).unwrap();
        assert!(m
            .verify(&format!("{none}.{}.{}", s[1], s[2]), 1001)
            .is_err());
    }

    #[test]
    fn other_algorithms_are_rejected_even_with_the_right_key() {
        let m = manager(3600, None);
        let (_, claims) = m.issue(&identity(), 1000);
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        let hs512 = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims, &key).unwrap();
        assert_eq!(
            m.verify(&hs512, 1001).unwrap_err(),
            SessionError::BadSignature
        );
        // The same claims under HS256 by jsonwebtoken are fine: only the algorithm differs.
        let hs256 = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert_eq!(*m.verify(&hs256, 1001).unwrap().claims, claims);
    }

    #[test]
    fn junk_and_oversized_tokens_are_malformed() {
        let m = manager(3600, None);
        for junk in ["", "x", "a.b.c", "a.b", "a.b.c.d", "%%%.%%%.%%%"] {
            assert_eq!(
                m.verify(junk, 0).unwrap_err(),
                SessionError::Malformed,
                "{junk:?}"
            );
        }
        let (token, _) = m.issue(&identity(), 1000);
        let s = segments(&token);
        // Signed correctly but not our claims.
        let other = Hs256::new(SECRET.as_bytes()).sign(&serde_json::json!({"sub": "x"}));
        assert_eq!(m.verify(&other, 1001).unwrap_err(), SessionError::Malformed);
        // Bad base64 in the payload (with a signature that would not match anyway).
        assert_eq!(
            m.verify(&format!("{}.{}!.{}", s[0], s[1], s[2]), 1001)
                .unwrap_err(),
            SessionError::Malformed
        );
        let huge = format!("{}.{}.{}", s[0], "A".repeat(MAX_TOKEN_LEN), s[2]);
        assert_eq!(m.verify(&huge, 1001).unwrap_err(), SessionError::Malformed);
    }

    #[test]
    fn cached_token_then_revoked() {
        let m = manager(3600, None);
        let (token, claims) = m.issue(&identity(), 1000);
        m.verify(&token, 1001).unwrap();
        m.revoke(&claims);
        assert_eq!(m.verify(&token, 1002).unwrap_err(), SessionError::Revoked);
        assert!(m.revocations().contains(&claims.sid, 1002));

        // Uncached path too (a fresh instance told about the revocation).
        let other = manager(3600, None);
        other.revocations().insert(&claims.sid, claims.exp);
        assert_eq!(
            other.verify(&token, 1002).unwrap_err(),
            SessionError::Revoked
        );

        // Other sessions of the same user are unaffected.
        let (second, _) = m.issue(&identity(), 1000);
        assert!(m.verify(&second, 1002).is_ok());
    }

    #[test]
    fn revoking_an_old_token_also_stops_its_refreshed_successor() {
        let m = manager(10_000, Some(600));
        let (old_token, old) = m.issue(&identity(), 0);
        let new_token = m.verify(&old_token, 300).unwrap().refreshed.unwrap();
        m.revoke(&old); // logout presented the older token (exp 600)
        assert_eq!(
            m.verify(&new_token, 700).unwrap_err(),
            SessionError::Revoked
        );
    }

    #[test]
    fn cache_never_accepts_a_modified_token() {
        let m = manager(3600, None);
        let (token, _) = m.issue(&identity(), 1000);
        m.verify(&token, 1001).unwrap();
        let mut p = payload(&token);
        p["phone"] = "+8613900139000".into();
        let forged = with_payload(&token, &p);
        for bad in [
            forged,
            format!("{token}x"),
            format!("x{token}"),
            token[..token.len() - 1].to_string(),
            token.replacen('.', "..", 1),
        ] {
            assert!(m.verify(&bad, 1002).is_err(), "{bad}");
        }
        assert!(m.verify(&token, 1002).is_ok());
    }

    #[test]
    fn sliding_refresh_at_half_the_idle_window_and_not_before() {
        let m = manager(86_400, Some(600));
        let (token, claims) = m.issue(&identity(), 1000);
        for now in [1000, 1001, 1299] {
            assert_eq!(m.verify(&token, now).unwrap().refreshed, None, "{now}");
        }
        let fresh = m.verify(&token, 1300).unwrap().refreshed.unwrap();
        let v = m.verify(&fresh, 1300).unwrap();
        assert_eq!(v.claims.sid, claims.sid);
        assert_eq!(v.claims.auth_time, 1000);
        assert_eq!(v.claims.iat, 1300);
        assert_eq!(v.claims.exp, 1900);
        assert_eq!(*v.identity, identity());
        assert_eq!(v.refreshed, None);
        // The old token still works until its own exp; the new one lives on past it.
        assert_eq!(m.verify(&token, 1600).unwrap_err(), SessionError::Expired);
        assert!(m.verify(&fresh, 1899).is_ok());
        assert_eq!(m.verify(&fresh, 1900).unwrap_err(), SessionError::Expired);
    }

    #[test]
    fn absolute_ttl_caps_refresh() {
        let m = manager(1000, Some(600));
        let (t0, c0) = m.issue(&identity(), 0);
        assert_eq!(c0.exp, 600);
        let t1 = m.verify(&t0, 300).unwrap().refreshed.unwrap();
        assert_eq!(m.verify(&t1, 300).unwrap().claims.exp, 900);
        let t2 = m.verify(&t1, 600).unwrap().refreshed.unwrap();
        let c2 = m.verify(&t2, 600).unwrap().claims;
        assert_eq!((c2.iat, c2.exp, c2.auth_time), (600, 1000, 0));
        // Nothing left to gain: no more refreshes, and the session ends at auth_time + ttl.
        assert_eq!(m.verify(&t2, 900).unwrap().refreshed, None);
        assert_eq!(m.verify(&t2, 1000).unwrap_err(), SessionError::Expired);
    }

    #[test]
    fn without_idle_timeout_there_is_no_refresh() {
        for idle in [None, Some(0)] {
            let m = manager(1000, idle);
            let (token, claims) = m.issue(&identity(), 0);
            assert_eq!(claims.exp, 1000);
            assert_eq!(m.verify(&token, 999).unwrap().refreshed, None);
        }
    }

    #[test]
    fn cookie_attributes() {
        let m = manager(3600, None);
        assert_eq!(m.cookie_name(), "scangate_session");
        assert_eq!(
            m.set_cookie("tok"),
            "scangate_session=tok; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600"
        );
        assert_eq!(
            m.clear_cookie(),
            "scangate_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        );
        let mut cfg = config(3600, None);
        cfg.cookie_secure = true;
        cfg.cookie_domain = Some("example.com".into());
        let m = SessionManager::new(&cfg);
        assert_eq!(
            m.set_cookie("tok"),
            "scangate_session=tok; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600; Secure; Domain=example.com"
        );
        assert_eq!(
            m.clear_cookie(),
            "scangate_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure; Domain=example.com"
        );
    }

    #[test]
    fn issued_cookie_round_trips_through_the_cookie_header() {
        let m = manager(3600, None);
        let (token, _) = m.issue(&identity(), 0);
        let set = m.set_cookie(&token);
        let pair = set.split(';').next().unwrap();
        let header = format!("theme=dark; {pair}; lang=zh");
        assert_eq!(find_cookie(&header, m.cookie_name()), Some(token.as_str()));
        assert_eq!(
            strip_cookie(&header, m.cookie_name()).as_deref(),
            Some("theme=dark; lang=zh")
        );
    }

    #[test]
    fn debug_hides_the_secret_and_tokens() {
        let m = manager(3600, Some(600));
        let debug = format!("{m:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(debug.contains(ISSUER), "{debug}");
        assert!(debug.contains("scangate_session"));

        let (token, _) = m.issue(&identity(), 0);
        let v = m.verify(&token, 300).unwrap();
        let fresh = v.refreshed.clone().unwrap();
        let debug = format!("{v:?}");
        assert!(!debug.contains(segments(&fresh)[2]), "{debug}");
        assert!(debug.contains("refreshed: Some(\"***\")"), "{debug}");
    }

    #[test]
    fn manager_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SessionManager>();
        assert_send_sync::<Verified>();
    }
}
