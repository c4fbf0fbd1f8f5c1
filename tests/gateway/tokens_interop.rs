//! The Python example of `examples/verify-token/` (PyJWT) verifies a token from a running
//! gateway, and refuses it for another audience or issuer: what a backend in another language
//! sees is what the contract says.
//!
//! Needs a Python with PyJWT and cryptography (`SCANGATE_TEST_PYTHON`, default `python3`);
//! skipped with one line when there is none, unless `SCANGATE_TEST_REQUIRE_WECHATPY=1` (CI,
//! which installs `tests/interop/requirements.txt`).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::*;
use crate::tokens::{token_gateway, SPA};

fn python() -> Option<String> {
    python_with("jwt, cryptography", "PyJWT and cryptography")
}

fn example(python: &str, args: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/verify-token/verify.py");
    Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_python_example_verifies_a_token_from_the_gateway() {
    let Some(python) = python() else {
        return;
    };
    let (_e, gw) = token_gateway().await;
    let body = json(
        gw.get("/.auth/token?aud=api")
            .header("cookie", gw.cookie(&alice()))
            .header("origin", SPA)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = body["token"].as_str().unwrap().to_string();
    let issuer = gw.app().config.public_url.origin.clone();
    let jwks = gw.url("/.auth/jwks.json");

    // The example runs a blocking HTTP fetch of the JWKS: off the runtime's threads.
    let run = |args: Vec<String>| {
        let python = python.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            example(&python, &args)
        })
    };
    let out = run(vec![
        token.clone(),
        issuer.clone(),
        "api".into(),
        jwks.clone(),
    ])
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let claims: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["sub"], "u_alice");
    assert_eq!(claims["aud"], "api");
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["phone"], "+8613800138000");

    // Another audience, another issuer, a tampered token: refused.
    let mut tampered = token.clone();
    tampered.insert(token.find('.').unwrap() + 3, 'A');
    for (args, why) in [
        (
            vec![token.clone(), issuer.clone(), "other".into(), jwks.clone()],
            "InvalidAudienceError",
        ),
        (
            vec![
                token.clone(),
                "https://evil.test".into(),
                "api".into(),
                jwks.clone(),
            ],
            "InvalidIssuerError",
        ),
        (
            vec![tampered, issuer.clone(), "api".into(), jwks.clone()],
            "refused",
        ),
    ] {
        let out = run(args).await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{why}: {stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
    }
}
