//! Tests of the session manager: issue, verify, refresh, revoke, cookies.
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

#[test]
fn user_marks_refuse_cached_and_fresh_tokens_alike() {
    use super::user_marks::UserRevocation;
    let m = manager(3600, None);
    let who = identity();
    let (token, _) = m.issue(&who, 1000);
    assert!(m.verify(&token, 1001).is_ok(), "cached now");
    m.user_marks().set_blocked(&who.user_id, true);
    assert_eq!(m.verify(&token, 1002).unwrap_err(), SessionError::Blocked);
    m.user_marks().set_blocked(&who.user_id, false);
    assert!(m.verify(&token, 1003).is_ok());
    m.user_marks().revoke(
        &who.user_id,
        UserRevocation {
            at: 1004,
            until: 5000,
        },
    );
    assert_eq!(m.verify(&token, 1005).unwrap_err(), SessionError::Revoked);
    let (later, _) = m.issue(&who, 1006);
    assert!(
        m.verify(&later, 1007).is_ok(),
        "a login after the revocation"
    );
}
