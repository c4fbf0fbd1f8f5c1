use std::path::Path;

use p256::pkcs8::{EncodePrivateKey, LineEnding};
use p256::SecretKey;

use crate::config::env::MapEnv;
use crate::config::testing::{errors, load_with, messages, ok};

#[test]
fn session_secret_is_at_least_32_bytes() {
    assert_eq!(
        errors("session: {secret: hunter2}"),
        ["session.secret: must be at least 32 bytes long"]
    );
}

#[test]
fn cookie_name_is_an_rfc_6265_token() {
    assert_eq!(
        ok("session: {cookie_name: sg_s}").session.cookie_name,
        "sg_s"
    );
    let got = errors("session: {cookie_name: 'my cookie'}");
    assert!(
        got[0].starts_with("session.cookie_name: \"my cookie\" is not a cookie name"),
        "{got:?}"
    );
    assert_eq!(got.len(), 1);
}

#[test]
fn cookie_domain_must_cover_the_public_url_host() {
    assert_eq!(
        ok("session: {cookie_domain: .Example.com}")
            .session
            .cookie_domain
            .as_deref(),
        Some("example.com")
    );
    assert_eq!(
        ok("session: {cookie_domain: app.example.com}")
            .session
            .cookie_domain
            .as_deref(),
        Some("app.example.com")
    );
    assert_eq!(
        errors("session: {cookie_domain: ample.com}"),
        ["session.cookie_domain: public_url host \"app.example.com\" is not \"ample.com\" or below it, so browsers would refuse the cookie"]
    );
    assert_eq!(
        errors("session: {cookie_domain: 'a b'}"),
        ["session.cookie_domain: \"a b\" is not a domain name"]
    );
}

#[test]
fn cookie_secure_follows_the_public_url_scheme() {
    assert!(ok("{}").session.cookie_secure);
    assert!(
        !ok("public_url: 'http://app.example.com'")
            .session
            .cookie_secure
    );
}

#[test]
fn session_ttl_must_be_positive_and_idle_zero_means_none() {
    assert_eq!(
        errors("session: {ttl_seconds: 0}"),
        ["session.ttl_seconds: must be greater than 0"]
    );
    assert_eq!(
        ok("session: {idle_timeout_seconds: 3600}")
            .session
            .idle_timeout_seconds,
        Some(3600)
    );
}

#[test]
fn assertion_key_file_must_exist() {
    assert_eq!(
        errors("session: {assertion_key_file: keys/a.pem}"),
        ["session.assertion_key_file: cannot read \"keys/a.pem\": no such file"]
    );
    let env = MapEnv::new().file(
        "keys/a.pem",
        p256_key().to_pkcs8_pem(LineEnding::LF).unwrap().as_str(),
    );
    let c = load_with("session: {assertion_key_file: keys/a.pem}", &env).unwrap();
    assert_eq!(
        c.session.assertion_key_file.as_deref(),
        Some(Path::new("keys/a.pem"))
    );
}

fn p256_key() -> SecretKey {
    SecretKey::random(&mut rand::rngs::OsRng)
}

#[test]
fn assertion_key_file_must_hold_a_p256_key_as_start_up_loads_it() {
    let sec1 = p256_key().to_sec1_pem(LineEnding::LF).unwrap();
    let env = MapEnv::new().file("keys/ec.pem", sec1.as_str());
    assert!(load_with("session: {assertion_key_file: keys/ec.pem}", &env).is_ok());
    let cert = rcgen::generate_simple_self_signed(vec!["a.example".to_string()]).unwrap();
    let env = MapEnv::new()
        .file("keys/a.pem", "PEM")
        .file("keys/cert.pem", cert.cert.pem());
    for file in ["keys/a.pem", "keys/cert.pem"] {
        assert_eq!(
            messages(load_with(&format!("session: {{assertion_key_file: {file}}}"), &env)),
            ["session.assertion_key_file: is not a P-256 private key in PEM (BEGIN PRIVATE KEY or BEGIN EC PRIVATE KEY)"],
            "{file}"
        );
    }
}
