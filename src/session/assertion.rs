//! The identity assertion: an ES256 JWT the upstream can verify with our published JWKS,
//! minted once per session and route and reused until close to expiry.

use std::collections::hash_map::RandomState;
use std::fs::{self, OpenOptions};
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use p256::SecretKey;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::cache::ShardedCache;
use super::jwt::{b64, push_segment};
use super::Claims;
use crate::identity::{LoginMethod, OpenId, Phone, UnionId, UserId};

/// Longest lifetime of an assertion.
const LIFETIME_SECONDS: u64 = 300;
/// A cached assertion with less than this left is replaced, so the upstream never receives
/// one that expires while the request is in flight.
const MIN_REMAINING_SECONDS: u64 = 60;
/// Cached assertions (session x route) kept at most.
const CACHE_CAPACITY: usize = 16 * 1024;

/// Why an assertion key could not be loaded or stored. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    #[error("assertion key is not a P-256 private key in PKCS#8 or SEC1 PEM")]
    InvalidKey,
    #[error("assertion key file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Signs identity assertions with one ES256 key for one issuer (the `public_url` origin).
pub struct AssertionSigner {
    key: SigningKey,
    issuer: String,
    kid: String,
    jwks: String,
    /// The encoded JWS header, the same for every assertion.
    header: String,
    hasher: RandomState,
    cache: ShardedCache<Minted>,
}

struct Minted {
    sid: Box<str>,
    audience: Box<str>,
    /// What the token says, so that a changed identity under the same sid is never served a
    /// stale assertion.
    claims: Claims,
    token: Arc<str>,
    /// The same token as a header value sharing one buffer: every request that forwards it
    /// clones a reference instead of copying half a kilobyte.
    header: http::HeaderValue,
    exp: u64,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a UserId,
    sid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    openid: Option<&'a OpenId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unionid: Option<&'a UnionId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a Phone>,
    method: LoginMethod,
    iat: u64,
    exp: u64,
}

impl AssertionSigner {
    /// A signer from a P-256 private key in PEM: PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1
    /// (`BEGIN EC PRIVATE KEY`).
    pub fn from_pem(pem: &str, issuer: &str) -> Result<Self, AssertionError> {
        let secret = SecretKey::from_pkcs8_pem(pem)
            .or_else(|_| SecretKey::from_sec1_pem(pem))
            .map_err(|_| AssertionError::InvalidKey)?;
        Ok(Self::from_secret(&secret, issuer))
    }

    /// A signer with a fresh random key, and that key as PKCS#8 PEM (for keeping).
    pub fn generate(issuer: &str) -> (Self, String) {
        let secret = SecretKey::random(&mut rand::rngs::OsRng);
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a P-256 key always encodes as PKCS#8");
        (Self::from_secret(&secret, issuer), pem.to_string())
    }

    /// The key stored at `path`, or, when there is no file, a new key written there (parent
    /// directories created, mode 0600). Two processes starting together end up with the
    /// same key: the file appears complete or not at all.
    pub fn load_or_generate(path: &Path, issuer: &str) -> Result<Self, AssertionError> {
        let io_err = |source| AssertionError::Io {
            path: path.to_path_buf(),
            source,
        };
        match fs::read_to_string(path) {
            Ok(pem) => return Self::from_pem(&pem, issuer),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        let file_name = path.file_name().ok_or_else(|| {
            io_err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a file path",
            ))
        })?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io_err)?;
        }
        let (signer, pem) = Self::generate(issuer);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(".{:016x}.tmp", rand::rngs::OsRng.next_u64()));
        let tmp = path.with_file_name(tmp_name);
        let written = write_private(&tmp, pem.as_bytes());
        let placed = written.and_then(|()| match fs::hard_link(&tmp, path) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => fs::rename(&tmp, path),
            other => other,
        });
        let _ = fs::remove_file(&tmp);
        match placed {
            Ok(()) => Ok(signer),
            // Someone else won the race: use their key, as every other instance will.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Self::from_pem(&fs::read_to_string(path).map_err(io_err)?, issuer)
            }
            Err(e) => Err(io_err(e)),
        }
    }

    fn from_secret(secret: &SecretKey, issuer: &str) -> Self {
        let key = SigningKey::from(secret);
        let point = secret.public_key().to_encoded_point(false);
        // Uncompressed SEC1: 0x04 || x (32 bytes) || y (32 bytes).
        let sec1 = point.as_bytes();
        let (x, y) = (b64(&sec1[1..33]), b64(&sec1[33..65]));
        let kid = b64(&Sha256::digest(sec1)[..8]);
        let jwks = format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}","kid":"{kid}","use":"sig","alg":"ES256"}}]}}"#
        );
        let header = b64(format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{kid}"}}"#).as_bytes());
        AssertionSigner {
            key,
            issuer: issuer.to_string(),
            kid,
            jwks,
            header,
            hasher: RandomState::new(),
            cache: ShardedCache::new(CACHE_CAPACITY),
        }
    }

    /// Key id: base64url of the first 8 bytes of SHA-256 over the uncompressed public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public key as a JWK Set, the body of `{auth_path}/jwks.json`.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    /// The assertion for `claims` on the route `audience` at `now`: `exp` is
    /// `min(now + 300, claims.exp)`. The same token is returned for the same session and
    /// route until less than 60 s of it remain (or the session's own expiry caps it anyway).
    pub fn assertion(&self, claims: &Claims, audience: &str, now: u64) -> Arc<str> {
        self.minted(claims, audience, now).0
    }

    /// [`Self::assertion`] as a header value (a shared buffer; no copy per request).
    pub fn assertion_header(&self, claims: &Claims, audience: &str, now: u64) -> http::HeaderValue {
        self.minted(claims, audience, now).1
    }

    /// A bearer token for the backend `audience` (`{auth_path}/token`): the assertion's
    /// claims, living `ttl_seconds` (capped by the session's own expiry), never cached (each
    /// is handed to a page, which keeps it). Returns the token and its `exp`.
    pub fn bearer_token(
        &self,
        claims: &Claims,
        audience: &str,
        ttl_seconds: u64,
        now: u64,
    ) -> (String, u64) {
        let exp = now.saturating_add(ttl_seconds).min(claims.exp);
        (self.mint(claims, audience, now, exp), exp)
    }

    fn minted(&self, claims: &Claims, audience: &str, now: u64) -> (Arc<str>, http::HeaderValue) {
        let exp = now.saturating_add(LIFETIME_SECONDS).min(claims.exp);
        let hash = self.hasher.hash_one((claims.sid.as_str(), audience));
        let cached = self.cache.get(hash, |m| {
            let reusable = *m.sid == *claims.sid
                && *m.audience == *audience
                && m.claims.same_identity(claims)
                && m.exp > now
                && (m.exp >= now.saturating_add(MIN_REMAINING_SECONDS) || m.exp >= exp);
            reusable.then(|| (m.token.clone(), m.header.clone()))
        });
        if let Some(found) = cached {
            return found;
        }
        let text = self.mint(claims, audience, now, exp);
        // base64url and dots only: always a valid header value.
        let header =
            http::HeaderValue::from_maybe_shared(bytes::Bytes::from(text.clone().into_bytes()))
                .unwrap_or_else(|_| http::HeaderValue::from_static(""));
        let token: Arc<str> = text.into();
        let minted = Minted {
            sid: claims.sid.as_str().into(),
            audience: audience.into(),
            claims: claims.clone(),
            token: token.clone(),
            header: header.clone(),
            exp,
        };
        self.cache.insert(hash, minted, |m| m.exp > now);
        (token, header)
    }

    fn mint(&self, claims: &Claims, audience: &str, now: u64, exp: u64) -> String {
        let body = AssertionClaims {
            iss: &self.issuer,
            aud: audience,
            sub: &claims.sub,
            sid: &claims.sid,
            openid: claims.openid.as_ref(),
            unionid: claims.unionid.as_ref(),
            phone: claims.phone.as_ref(),
            method: claims.method,
            iat: now,
            exp,
        };
        let mut token = String::with_capacity(512);
        token.push_str(&self.header);
        token.push('.');
        push_segment(&mut token, &body);
        let signature: Signature = self.key.sign(token.as_bytes());
        token.push('.');
        token.push_str(&b64(&signature.to_bytes()));
        token
    }
}

impl std::fmt::Debug for AssertionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionSigner")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Creates `path` (which must not exist) readable by the owner only, with `bytes`, synced.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::{SystemTime, UNIX_EPOCH};

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;
    use p256::EncodedPoint;

    use super::*;

    const ISSUER: &str = "https://app.example.com";

    fn claims(sid: &str, exp: u64) -> Claims {
        Claims {
            iss: ISSUER.into(),
            aud: crate::session::claims::SESSION_AUDIENCE.into(),
            sub: UserId::new("u-1"),
            sid: sid.into(),
            openid: Some(OpenId::new("o-1")),
            unionid: None,
            phone: Some(Phone::parse("+8613800138000").unwrap()),
            method: LoginMethod::OfficialAccount,
            iat: 0,
            exp,
            auth_time: 0,
        }
    }

    fn jwk_components(signer: &AssertionSigner) -> (String, String, serde_json::Value) {
        let jwks: serde_json::Value = serde_json::from_str(signer.jwks_json()).unwrap();
        let key = jwks["keys"][0].clone();
        (
            key["x"].as_str().unwrap().to_string(),
            key["y"].as_str().unwrap().to_string(),
            key,
        )
    }

    fn payload(token: &str) -> serde_json::Value {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn verifies_with_the_published_jwk_through_jsonwebtoken() {
        let (signer, _) = AssertionSigner::generate(ISSUER);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let token = signer.assertion(&claims("sid-1", now + 3600), "app", now);

        let (x, y, jwk) = jwk_components(&signer);
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["alg"], "ES256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], signer.kid());

        let header = jsonwebtoken::decode_header(&*token).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some(signer.kid()));

        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["app"]);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 0;
        let key = DecodingKey::from_ec_components(&x, &y).unwrap();
        let data = jsonwebtoken::decode::<serde_json::Value>(&*token, &key, &validation).unwrap();
        let c = data.claims;
        assert_eq!(c["iss"], ISSUER);
        assert_eq!(c["aud"], "app");
        assert_eq!(c["sub"], "u-1");
        assert_eq!(c["sid"], "sid-1");
        assert_eq!(c["openid"], "o-1");
        assert_eq!(c["phone"], "+8613800138000");
        assert_eq!(c["method"], "official_account");
        assert!(c.get("unionid").is_none());
        assert_eq!(c["iat"], now);
        assert_eq!(c["exp"], now + 300);

        // Another route's audience is refused.
        validation.set_audience(&["other"]);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&*token, &key, &validation).is_err());
    }

    #[test]
    fn verifies_with_p256_from_the_jwk_coordinates() {
        let (signer, _) = AssertionSigner::generate(ISSUER);
        let token = signer.assertion(&claims("s", 10_000), "app", 1000);
        let (x, y, _) = jwk_components(&signer);
        let point = EncodedPoint::from_affine_coordinates(
            URL_SAFE_NO_PAD.decode(x).unwrap().as_slice().into(),
            URL_SAFE_NO_PAD.decode(y).unwrap().as_slice().into(),
            false,
        );
        let key = VerifyingKey::from_encoded_point(&point).unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
        key.verify(input.as_bytes(), &sig).unwrap();
        let mut tampered = input.to_string();
        tampered.push('x');
        assert!(key.verify(tampered.as_bytes(), &sig).is_err());
    }

    #[test]
    fn exp_is_capped_by_the_session() {
        let (signer, _) = AssertionSigner::generate(ISSUER);
        let token = signer.assertion(&claims("s", 1100), "app", 1000);
        assert_eq!(payload(&token)["exp"], 1100);
    }

    #[test]
    fn reused_within_the_window_and_reminted_near_expiry() {
        let (signer, _) = AssertionSigner::generate(ISSUER);
        let c = claims("s", 100_000);
        let first = signer.assertion(&c, "app", 1000);
        assert!(Arc::ptr_eq(&first, &signer.assertion(&c, "app", 1000)));
        // exp = 1300; still >= 60 s left at 1240.
        assert!(Arc::ptr_eq(&first, &signer.assertion(&c, "app", 1240)));
        let second = signer.assertion(&c, "app", 1241);
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(payload(&second)["iat"], 1241);
        assert_eq!(payload(&second)["exp"], 1541);
        // Per route and per session.
        let other_route = signer.assertion(&c, "admin", 1241);
        assert_eq!(payload(&other_route)["aud"], "admin");
        let other_session = signer.assertion(&claims("t", 100_000), "app", 1241);
        assert_eq!(payload(&other_session)["sid"], "t");
        assert!(Arc::ptr_eq(&second, &signer.assertion(&c, "app", 1241)));
    }

    #[test]
    fn session_capped_assertion_is_not_reminted_every_request() {
        let (signer, _) = AssertionSigner::generate(ISSUER);
        let c = claims("s", 1030);
        let first = signer.assertion(&c, "app", 1000);
        assert!(Arc::ptr_eq(&first, &signer.assertion(&c, "app", 1020)));
        // After a sliding refresh the session lasts longer: a new, longer assertion.
        let refreshed = Claims { exp: 5000, ..c };
        let second = signer.assertion(&refreshed, "app", 1020);
        assert_eq!(payload(&second)["exp"], 1320);
    }

    #[test]
    fn changed_identity_under_the_same_sid_is_reminted() {
        let (signer, _) = AssertionSigner::generate(ISSUER);
        let mut c = claims("s", 100_000);
        c.phone = None;
        let before = signer.assertion(&c, "app", 1000);
        c.phone = Some(Phone::parse("13900139000").unwrap());
        let after = signer.assertion(&c, "app", 1000);
        assert_eq!(payload(&before).get("phone"), None);
        assert_eq!(payload(&after)["phone"], "+8613900139000");
    }

    #[test]
    fn pem_round_trips_in_both_encodings_and_keeps_the_kid() {
        let (signer, pkcs8) = AssertionSigner::generate(ISSUER);
        assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = AssertionSigner::from_pem(&pkcs8, ISSUER).unwrap();
        assert_eq!(again.kid(), signer.kid());
        assert_eq!(again.jwks_json(), signer.jwks_json());

        let sec1 = SecretKey::from_pkcs8_pem(&pkcs8)
            .unwrap()
            .to_sec1_pem(LineEnding::LF)
            .unwrap();
        assert!(sec1.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        assert_eq!(
            AssertionSigner::from_pem(&sec1, ISSUER).unwrap().kid(),
            signer.kid()
        );
    }

    #[test]
    fn bad_pem_is_an_error_without_key_material() {
        let (_, pem) = AssertionSigner::generate(ISSUER);
        let mut lines: Vec<&str> = pem.lines().collect();
        lines.remove(lines.len() - 2); // truncate the DER
        let err = AssertionSigner::from_pem(&lines.join("\n"), ISSUER).unwrap_err();
        assert!(matches!(err, AssertionError::InvalidKey));
        assert_eq!(
            err.to_string(),
            "assertion key is not a P-256 private key in PKCS#8 or SEC1 PEM"
        );
        assert!(AssertionSigner::from_pem("", ISSUER).is_err());
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(AssertionSigner::from_pem(cert, ISSUER).is_err());
    }

    #[test]
    fn debug_shows_no_key() {
        let (signer, pem) = AssertionSigner::generate(ISSUER);
        let debug = format!("{signer:?}");
        assert!(debug.contains(signer.kid()));
        let body: String = pem.lines().nth(1).unwrap().chars().take(20).collect();
        assert!(!debug.contains(&body));
    }

    #[test]
    fn load_or_generate_creates_a_private_file_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/nested/assertion.pem");
        let first = AssertionSigner::load_or_generate(&path, ISSUER).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = AssertionSigner::load_or_generate(&path, ISSUER).unwrap();
        assert_eq!(first.kid(), second.kid());
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("assertion.pem")]);
    }

    #[test]
    fn load_or_generate_refuses_a_file_that_is_not_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("assertion.pem");
        fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            AssertionSigner::load_or_generate(&path, ISSUER),
            Err(AssertionError::InvalidKey)
        ));
        // And a path that is a directory is an I/O error naming the path.
        let err = AssertionSigner::load_or_generate(dir.path(), ISSUER).unwrap_err();
        assert!(
            err.to_string().contains(&dir.path().display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<AssertionSigner>();
    }
}
