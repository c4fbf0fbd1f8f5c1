//! Bearer tokens for backends beyond the gateway (issue 20): `GET /.auth/token?aud=` with a
//! session, CORS for the audience's listed origins only, every refusal an attacker's page
//! would try, and a token that verifies against `/.auth/jwks.json` (here with
//! `jsonwebtoken`; `tokens_interop.rs` with PyJWT and the example in `examples/`).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Method;
use scangate::identity::{Identity, LoginMethod, OpenId, Phone, UnionId};
use scangate::users::UserDirectory;
use serde_json::Value;

use crate::harness::*;

pub const SPA: &str = "https://spa.example.com";
const ADMIN_TOKEN: &str = "admin-api-token-0123456789abcdef-0123456789";

/// A gateway with one audience `api` for the page at [`SPA`] (tokens living 120 s), beside
/// its route `app`.
pub async fn token_gateway() -> (Echo, Gateway) {
    login_gateway(&format!(
        "admin: {{api_token: \"{ADMIN_TOKEN}\"}}\n\
         tokens:\n  audiences:\n    - name: api\n      origins: [\"{SPA}\", \"http://localhost:5173\"]\n      ttl_seconds: 120\n"
    ))
    .await
}

/// `GET /.auth/token?{query}` with `cookie` (when given) and `headers`.
async fn ask(
    gw: &Gateway,
    method: Method,
    query: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = gw
        .client
        .request(method, gw.url(&format!("/.auth/token{query}")));
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// The token's verified claims, checked as a backend would: signature by the key the JWKS
/// names (`kid`), `iss` = the gateway's public URL, `aud`, `exp`.
pub async fn verified_claims(gw: &Gateway, token: &str, aud: &str) -> Value {
    let jwks: Value = json(gw.get("/.auth/jwks.json").send().await.unwrap()).await;
    let head = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(head.alg, Algorithm::ES256);
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == head.kid.as_deref())
        .expect("the token's kid is in the JWKS");
    let key =
        DecodingKey::from_ec_components(key["x"].as_str().unwrap(), key["y"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[aud]);
    validation.set_issuer(&[gw.app().config.public_url.origin.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn a_listed_origin_gets_a_token_that_verifies_with_the_jwks() {
    let (_e, gw) = token_gateway().await;
    let cookie = gw.cookie(&alice());
    let resp = ask(
        &gw,
        Method::GET,
        "?aud=api",
        Some(&cookie),
        &[("origin", SPA), ("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "access-control-allow-origin").as_deref(),
        Some(SPA)
    );
    assert_eq!(
        header(&resp, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert_eq!(header(&resp, "vary").as_deref(), Some("Origin"));
    assert_eq!(header(&resp, "cache-control").as_deref(), Some("no-store"));
    let body = json(resp).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 120);
    let token = body["token"].as_str().unwrap();

    let c = verified_claims(&gw, token, "api").await;
    assert_eq!(c["iss"], gw.app().config.public_url.origin);
    assert_eq!(c["aud"], "api");
    assert_eq!(c["sub"], "u_alice");
    assert_eq!(c["openid"], "o_alice_openid");
    assert_eq!(c["unionid"], "un_alice");
    assert_eq!(c["phone"], "+8613800138000");
    assert_eq!(c["method"], "official_account");
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 120);
    let head = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(head.kid.as_deref(), Some(gw.app().assertions.kid()));

    // Same-origin (no Origin, as browsers send a same-origin GET): a token, no CORS headers.
    let resp = ask(&gw, Method::GET, "?aud=api", Some(&cookie), &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), None);
    // Each request mints a fresh token (a page keeps its own); another origin of the list
    // gets CORS for itself only.
    let resp = ask(
        &gw,
        Method::GET,
        "?aud=api",
        Some(&cookie),
        &[("origin", "http://localhost:5173")],
    )
    .await;
    assert_eq!(
        header(&resp, "access-control-allow-origin").as_deref(),
        Some("http://localhost:5173")
    );
}

#[tokio::test]
async fn a_listed_origin_is_allowed_its_preflight_and_no_other() {
    let (_e, gw) = token_gateway().await;
    let preflight = |origin: &'static str| {
        let gw = &gw;
        async move {
            let headers = [
                ("origin", origin),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "x-requested-with"),
            ];
            ask(gw, Method::OPTIONS, "?aud=api", None, &headers).await
        }
    };
    let resp = preflight(SPA).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(
        header(&resp, "access-control-allow-origin").as_deref(),
        Some(SPA)
    );
    assert_eq!(
        header(&resp, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert_eq!(
        header(&resp, "access-control-allow-methods").as_deref(),
        Some("GET")
    );
    assert_eq!(header(&resp, "vary").as_deref(), Some("Origin"));

    for origin in [
        "https://evil.example.com",
        "null",
        "https://spa.example.com/",
    ] {
        let resp = preflight(origin).await;
        assert_eq!(resp.status(), 403, "{origin}");
        assert_eq!(
            header(&resp, "access-control-allow-origin"),
            None,
            "{origin}"
        );
        assert_eq!(
            header(&resp, "access-control-allow-methods"),
            None,
            "{origin}"
        );
    }
}

/// A request (method, query, headers) and the status and error code it must get.
type Refusal = (
    Method,
    &'static str,
    &'static [(&'static str, &'static str)],
    u16,
    &'static str,
);

/// The spellings an attacker's page (or a careless config) would try: none gets a token,
/// none gets CORS headers that let a foreign page read the answer.
#[tokio::test]
async fn every_refusal_gets_no_token() {
    let (_e, gw) = token_gateway().await;
    let cookie = gw.cookie(&alice());
    let cases: &[Refusal] = &[
        // Origins that are not exactly listed.
        (
            Method::GET,
            "?aud=api",
            &[("origin", "null")],
            403,
            "origin_not_allowed",
        ),
        (
            Method::GET,
            "?aud=api",
            &[("origin", "https://spa.example.com/")],
            403,
            "origin_not_allowed",
        ),
        (
            Method::GET,
            "?aud=api",
            &[("origin", "http://spa.example.com")],
            403,
            "origin_not_allowed",
        ),
        (
            Method::GET,
            "?aud=api",
            &[("origin", "https://spa.example.com:8443")],
            403,
            "origin_not_allowed",
        ),
        (
            Method::GET,
            "?aud=api",
            &[("origin", "https://SPA.example.com")],
            403,
            "origin_not_allowed",
        ),
        (
            Method::GET,
            "?aud=api",
            &[("origin", "https://spa.example.com.evil.test")],
            403,
            "origin_not_allowed",
        ),
        (
            Method::GET,
            "?aud=api",
            &[("origin", "https://evil.test")],
            403,
            "origin_not_allowed",
        ),
        (
            Method::GET,
            "?aud=api",
            &[("sec-fetch-site", "cross-site")],
            403,
            "origin_not_allowed",
        ),
        (
            Method::GET,
            "?aud=api",
            &[("origin", SPA), ("origin", SPA)],
            403,
            "origin_not_allowed",
        ),
        // Audiences: missing, empty, repeated, unknown, a route's name that is no audience.
        (Method::GET, "", &[("origin", SPA)], 400, "bad_audience"),
        (
            Method::GET,
            "?aud=",
            &[("origin", SPA)],
            400,
            "bad_audience",
        ),
        (
            Method::GET,
            "?aud=api&aud=api",
            &[("origin", SPA)],
            400,
            "bad_audience",
        ),
        (
            Method::GET,
            "?aud=api&aud=other",
            &[("origin", SPA)],
            400,
            "bad_audience",
        ),
        (
            Method::GET,
            "?aud=API",
            &[("origin", SPA)],
            400,
            "unknown_audience",
        ),
        (
            Method::GET,
            "?aud=app",
            &[("origin", SPA)],
            400,
            "unknown_audience",
        ),
        // Methods other than GET and the preflight, from any origin.
        (
            Method::POST,
            "?aud=api",
            &[("origin", SPA)],
            405,
            "method_not_allowed",
        ),
        (
            Method::POST,
            "?aud=api",
            &[("origin", "https://evil.test")],
            405,
            "method_not_allowed",
        ),
        (Method::PUT, "?aud=api", &[], 405, "method_not_allowed"),
        (Method::HEAD, "?aud=api", &[], 405, "method_not_allowed"),
    ];
    for (method, query, headers, status, code) in cases {
        let resp = ask(&gw, method.clone(), query, Some(&cookie), headers).await;
        let what = format!("{method} {query} {headers:?}");
        assert_eq!(resp.status(), *status, "{what}");
        if *status == 403 {
            assert_eq!(header(&resp, "access-control-allow-origin"), None, "{what}");
        }
        if *method == Method::HEAD {
            // No body to read; HEAD is refused before any token is made.
            continue;
        }
        let body = json(resp).await;
        assert_eq!(body["error"], *code, "{what}");
        assert!(body.get("token").is_none(), "{what}");
    }

    // No session: 401, readable by the listed page (so it can send the user to log in).
    let resp = ask(&gw, Method::GET, "?aud=api", None, &[("origin", SPA)]).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        header(&resp, "access-control-allow-origin").as_deref(),
        Some(SPA)
    );
    let body = json(resp).await;
    assert_eq!(body["error"], "unauthenticated");
    assert!(body.get("token").is_none());
    // A forged or foreign cookie is no session either.
    let resp = ask(
        &gw,
        Method::GET,
        "?aud=api",
        Some("scangate_session=x.y.z"),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn without_audiences_the_endpoint_is_off() {
    let (_e, gw) = login_gateway("").await;
    let cookie = gw.cookie(&alice());
    for method in [Method::GET, Method::OPTIONS] {
        let resp = ask(&gw, method, "?aud=app", Some(&cookie), &[]).await;
        assert_eq!(resp.status(), 404);
        assert_eq!(json(resp).await["error"], "not_found");
    }
}

/// A user in the gateway's store, and a session of theirs that began a few seconds ago.
async fn person(gw: &Gateway) -> (Identity, String) {
    let store = gw.app().login.as_ref().unwrap().store.clone();
    let app_id = scangate::cli_users::app_ids(&gw.app().config)
        .into_iter()
        .next()
        .unwrap();
    let phone = Phone::parse("13700137000").unwrap();
    let openid = OpenId::new("o_tok");
    let unionid = UnionId::new("un_tok");
    let user = UserDirectory::new(store)
        .register(&app_id, &openid, Some(&unionid), Some(&phone), now())
        .await
        .unwrap();
    let who = Identity {
        user_id: user.id,
        openid: Some(openid),
        unionid: Some(unionid),
        phone: Some(phone),
        method: LoginMethod::OfficialAccount,
    };
    let cookie = gw.cookie_at(&who, now() - 5);
    (who, cookie)
}

async fn admin(gw: &Gateway, path: &str) {
    let resp = gw
        .client
        .post(format!("{}/admin/api/v1{path}", gw.admin))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
}

/// `GET /.auth/token?aud=api` from the listed page with `cookie`: status and body.
async fn token_answer(gw: &Gateway, cookie: &str) -> (u16, Value) {
    let resp = ask(
        gw,
        Method::GET,
        "?aud=api",
        Some(cookie),
        &[("origin", SPA)],
    )
    .await;
    let status = resp.status().as_u16();
    (status, json(resp).await)
}

/// Waits until the token endpoint answers `status` with `code` for `cookie`: an operator's
/// change travels through the store to every instance, this one included (the contract is
/// "within one second", `users_admin.rs`; a loaded machine gets some slack here).
async fn until_answers(gw: &Gateway, cookie: &str, status: u16, code: Option<&str>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (got, body) = token_answer(gw, cookie).await;
        if got == status && body["error"].as_str() == code {
            assert_eq!(body.get("token").is_some(), status == 200, "{body}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {got} {body} instead of {status} {code:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn logout_revocation_and_blocking_stop_new_tokens() {
    let (_e, gw) = token_gateway().await;

    // Logout: that session gets no more tokens, at once (in this process).
    let cookie = gw.cookie(&alice());
    assert_eq!(token_answer(&gw, &cookie).await.0, 200);
    let out = gw
        .client
        .post(gw.url("/.auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    let (status, body) = token_answer(&gw, &cookie).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthenticated"))
    );

    // An operator blocks the user: 403 `blocked`; unblocked, tokens again; revoked: 401.
    let (who, cookie) = person(&gw).await;
    let id = who.user_id.as_str();
    until_answers(&gw, &cookie, 200, None).await;
    admin(&gw, &format!("/users/{id}/block")).await;
    until_answers(&gw, &cookie, 403, Some("blocked")).await;
    admin(&gw, &format!("/users/{id}/unblock")).await;
    until_answers(&gw, &cookie, 200, None).await;
    admin(&gw, &format!("/users/{id}/revoke")).await;
    until_answers(&gw, &cookie, 401, Some("unauthenticated")).await;
}
