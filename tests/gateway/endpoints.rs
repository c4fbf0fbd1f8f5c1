//! Own endpoints: /.auth/me, /.auth/verify (forward auth), /.auth/jwks.json, unknown paths.

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};

use crate::harness::*;

async fn gateway() -> (Echo, Gateway) {
    let e = Echo::start("app").await;
    let gw = Gateway::start(&format!(
        r#"routes:
  - name: docs
    host: "docs.example.com"
    upstreams: ["{e}"]
    auth: public
  - name: admin
    host: "admin.example.com"
    upstreams: ["{e}"]
    auth: phone
  - name: app
    host: "app.example.com"
    upstreams: ["{e}"]
    auth: login
"#,
        e = e.addr
    ))
    .await;
    (e, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_shows_the_identity_or_401() {
    let (_e, gw) = gateway().await;
    let resp = gw.get("/.auth/me").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = gw
        .get("/.auth/me")
        .header("cookie", gw.cookie(&alice()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = json(resp).await;
    assert_eq!(body["user"]["id"], "u_alice");
    assert_eq!(body["user"]["phone"], "+8613800138000");
    assert_eq!(body["user"]["method"], "official_account");
    assert!(body["session_expires_at"].as_u64().unwrap() > now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_answers_forward_auth_both_ways() {
    let (_e, gw) = gateway().await;
    let ask = |host: &'static str, uri: &'static str| {
        gw.get("/.auth/verify")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", host)
            .header("x-forwarded-uri", uri)
    };
    // Anonymous: 401 with an absolute login URL carrying the original URL.
    let resp = ask("app.example.com", "/reports?id=7")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body = json(resp).await;
    let port = gw.addr.port();
    assert_eq!(
        body["login_url"],
        format!(
            "http://gateway.test:{port}/.auth/login?rd=https%3A//app.example.com/reports%3Fid%3D7"
        )
    );
    // Public route: 200 without identity.
    let resp = ask("docs.example.com", "/").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-auth-user-id").is_none());
    // Signed in: 200 with identity headers for the app to copy.
    let cookie = gw.cookie(&alice());
    let resp = ask("app.example.com", "/")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-auth-user-id"], "u_alice");
    assert_eq!(resp.headers()["x-auth-phone"], "+8613800138000");
    assert!(resp.headers().contains_key("x-auth-assertion"));
    // Signed in without a phone, on a phone route: 403.
    let bob = gw.cookie(&bob_without_phone());
    let resp = ask("admin.example.com", "/")
        .header("cookie", &bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // nginx style: X-Original-URL.
    let resp = gw
        .get("/.auth/verify")
        .header("x-original-url", "https://app.example.com/x")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Traefik/Caddy with ?redirect=true: a browser navigation gets a 302.
    let resp = gw
        .get("/.auth/verify?redirect=true")
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .header("x-forwarded-uri", "/")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert!(resp.headers()["location"]
        .to_str()
        .unwrap()
        .contains("/.auth/login?rd="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assertion_verifies_against_the_published_jwks() {
    let (_e, gw) = gateway().await;
    let resp = gw
        .get("/")
        .header("host", "app.example.com")
        .header("cookie", gw.cookie(&alice()))
        .send()
        .await
        .unwrap();
    let assertion = seen(resp).await.header("x-auth-assertion").unwrap();

    let jwks = json(gw.get("/.auth/jwks.json").send().await.unwrap()).await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["alg"], "ES256");
    let header = decode_header(&assertion).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let decoding =
        DecodingKey::from_ec_components(key["x"].as_str().unwrap(), key["y"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["app"]);
    validation.set_issuer(&[format!("http://gateway.test:{}", gw.addr.port())]);
    let claims = decode::<serde_json::Value>(&assertion, &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], "u_alice");
    assert_eq!(claims["phone"], "+8613800138000");
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert!(
        lifetime <= 300,
        "assertions live at most 5 minutes, got {lifetime}"
    );

    // Another route's audience does not validate as "app".
    validation.set_audience(&["other"]);
    assert!(decode::<serde_json::Value>(&assertion, &decoding, &validation).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_auth_paths_are_404_json_and_wrong_methods_405() {
    let (_e, gw) = gateway().await;
    let resp = gw.get("/.auth/nope").send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(json(resp).await["error"], "not_found");
    let resp = gw.get("/.auth/logout").send().await.unwrap();
    assert_eq!(resp.status(), 405);
    let resp = gw
        .client
        .post(gw.url("/.auth/logout"))
        .body(vec![b'x'; 200_000])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}
