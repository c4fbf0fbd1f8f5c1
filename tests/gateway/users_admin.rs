//! Operators manage users (issue 17): `scangate users ...` as a separate process beside
//! running gateways, and the admin API on the admin listener, over both stores. Effects
//! (revoked → 401, blocked → 403 `blocked`, deleted → 401) must reach every instance, in the
//! inline gate and in `/verify` alike, within one second.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scangate::identity::{Identity, LoginMethod, OpenId, Phone, UnionId};
use scangate::store::redis_server::RedisServer;
use scangate::users::UserDirectory;
use serde_json::Value;

use crate::harness::*;

const TOKEN: &str = "admin-api-token-0123456789abcdef-0123456789";
/// How long an operator's change may take to reach every instance (the contract).
const WITHIN: Duration = Duration::from_secs(1);

fn store_of(gw: &Gateway) -> Arc<dyn scangate::store::Store> {
    gw.app().login.as_ref().unwrap().store.clone()
}

/// The WeChat app the gateway is configured with (the simulator's).
fn app_id(gw: &Gateway) -> String {
    scangate::cli_users::app_ids(&gw.app().config)
        .into_iter()
        .next()
        .unwrap()
}

/// A user in the gateway's store, and the identity a session of theirs carries.
async fn person(gw: &Gateway, n: &str, phone: &str) -> Identity {
    let users = UserDirectory::new(store_of(gw));
    let p = Phone::parse(phone).unwrap();
    let openid = OpenId::new(format!("o_{n}"));
    let unionid = UnionId::new(format!("un_{n}"));
    let user = users
        .register(&app_id(gw), &openid, Some(&unionid), Some(&p), now())
        .await
        .unwrap();
    Identity {
        user_id: user.id,
        openid: Some(openid),
        unionid: Some(unionid),
        phone: Some(p),
        method: LoginMethod::OfficialAccount,
    }
}

/// A session of `who` that logged in a few seconds ago (before any revocation made now).
fn session(gw: &Gateway, who: &Identity) -> String {
    gw.cookie_at(who, now() - 5)
}

/// `(status, error code)` of a protected page, and of `/verify` for the same page.
async fn answers(gw: &Gateway, cookie: &str) -> [(u16, String); 2] {
    let page = gw.get("/").header("cookie", cookie).send().await.unwrap();
    let verify = gw
        .get("/.auth/verify")
        .header("cookie", cookie)
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-host", "gateway.test")
        .header("x-forwarded-uri", "/")
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for resp in [page, verify] {
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        out.push((status, body["error"].as_str().unwrap_or("").to_string()));
    }
    [out[0].clone(), out[1].clone()]
}

/// Polls every gateway until both the page and `/verify` answer `status` (and `code` when
/// not empty); fails if that takes longer than [`WITHIN`].
async fn all_answer(gws: &[&Gateway], cookie: &str, status: u16, code: &str) {
    let start = Instant::now();
    loop {
        let mut all = true;
        let mut last = Vec::new();
        for gw in gws {
            let got = answers(gw, cookie).await;
            all &= got
                .iter()
                .all(|(s, c)| *s == status && (code.is_empty() || c == code));
            last.push(got);
        }
        if all {
            return;
        }
        assert!(
            start.elapsed() <= WITHIN,
            "not {status} {code} everywhere within {WITHIN:?}: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A config file for the CLI naming the same store as the gateways.
fn cli_config(dir: &Path, store_yaml: &str, app_id: &str) -> PathBuf {
    let [a, b] = free_ports::<2>();
    let yaml = config_yaml(
        format!("127.0.0.1:{a}").parse().unwrap(),
        format!("127.0.0.1:{b}").parse().unwrap(),
        dir.to_str().unwrap(),
        &format!(
            "{store_yaml}wechat:\n  official_account: {{app_id: {app_id}, app_secret: s, token: tok123}}\nroutes:\n  - {{name: app, upstreams: [\"127.0.0.1:1\"]}}\n"
        ),
    );
    let file = dir.join("cli.yaml");
    std::fs::write(&file, yaml).unwrap();
    file
}

/// Runs `scangate users <args> --config <file>` in its own process.
fn users(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scangate"))
        .arg("users")
        .args(args)
        .arg("--config")
        .arg(config)
        .env("TEST_SECRET", SECRET)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Every CLI command against the store of running gateways, and their effect on them.
async fn cli_commands_take_effect(gws: &[&Gateway], config: &Path) {
    let gw = gws[0];
    let who = person(gw, "cli", "13800138000").await;
    let other = person(gw, "cli_other", "13700137000").await;
    let id = who.user_id.as_str();
    let cookie = session(gw, &who);
    all_answer(gws, &cookie, 200, "").await;

    // Read commands, --json and text.
    let out = users(config, &["show", id, "--json"]);
    assert_eq!(code(&out), 0, "{out:?}");
    let shown = stdout_json(&out);
    assert_eq!(
        shown["user"]["phone"], "+8613800138000",
        "full phone for the operator"
    );
    assert_eq!(shown["user"]["openids"][app_id(gw)], "o_cli");
    assert_eq!(shown["user"]["blocked"], false);
    let out = users(config, &["show", id]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("+8613800138000"));
    for (flag, value) in [
        ("--phone", "13800138000"),
        ("--openid", "o_cli"),
        ("--unionid", "un_cli"),
        ("--id", id),
    ] {
        let out = users(config, &["find", flag, value, "--json"]);
        assert_eq!(code(&out), 0, "{flag}: {out:?}");
        assert_eq!(stdout_json(&out)["users"][0]["id"], id, "{flag}");
    }
    assert_eq!(code(&users(config, &["find", "--id", "u_nobody"])), 1);
    assert_eq!(code(&users(config, &["show", "u_nobody"])), 1);
    assert_eq!(
        code(&users(config, &["find"])),
        64,
        "one selector is required"
    );
    assert_eq!(code(&users(config, &["find", "--phone", "12"])), 64);
    assert_eq!(code(&users(config, &["list", "--limit", "0"])), 64);
    assert_eq!(code(&users(config, &["list", "--after", "%%"])), 64);
    assert_eq!(code(&users(config, &["frobnicate"])), 64);

    let out = users(config, &["list", "--limit", "1", "--json"]);
    assert_eq!(code(&out), 0, "{out:?}");
    let first = stdout_json(&out);
    assert_eq!(first["users"].as_array().unwrap().len(), 1);
    let cursor = first["next"].as_str().unwrap().to_string();
    let out = users(
        config,
        &["list", "--limit", "1", "--after", &cursor, "--json"],
    );
    let second = stdout_json(&out);
    assert_ne!(
        first["users"][0]["id"], second["users"][0]["id"],
        "pages move on"
    );

    // Block: 403 `blocked` everywhere, page and /verify; unblock lifts it.
    let out = users(config, &["block", id, "--reason", "left the company"]);
    assert_eq!(code(&out), 0, "{out:?}");
    all_answer(gws, &cookie, 403, "blocked").await;
    let shown = stdout_json(&users(config, &["show", id, "--json"]));
    assert_eq!(shown["user"]["blocked_reason"], "left the company");
    assert_eq!(code(&users(config, &["unblock", id])), 0);
    all_answer(gws, &cookie, 200, "").await;

    // Phones: another user's number is refused; changing and unbinding work.
    assert_eq!(code(&users(config, &["set-phone", id, "13700137000"])), 1);
    assert_eq!(code(&users(config, &["set-phone", id, "13900139000"])), 0);
    let found = stdout_json(&users(
        config,
        &["find", "--phone", "13900139000", "--json"],
    ));
    assert_eq!(found["users"][0]["id"], id);
    assert_eq!(code(&users(config, &["unbind-phone", id])), 0);
    assert_eq!(code(&users(config, &["find", "--phone", "13900139000"])), 1);

    // Export: one JSON object per user per line, to a private file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.ndjson");
    let out = users(config, &["export", "--out", file.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{out:?}");
    let lines: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().any(|u| u["id"] == id));
    assert!(lines.iter().any(|u| u["id"] == other.user_id.as_str()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }

    // Revoke: 401 everywhere; a later login works.
    assert_eq!(code(&users(config, &["revoke", id])), 0);
    all_answer(gws, &cookie, 401, "").await;
    let later = gw.cookie_at(&who, now() + 2);
    all_answer(gws, &later, 200, "").await;

    // Delete (the other user, whose session was never revoked): refused without a terminal
    // or --yes; then erasure, and their sessions end.
    let gone = other.user_id.as_str();
    let doomed = session(gw, &other);
    all_answer(gws, &doomed, 200, "").await;
    let out = users(config, &["delete", gone]);
    assert_eq!(code(&out), 64, "{out:?}");
    assert_eq!(code(&users(config, &["show", gone])), 0, "nothing deleted");
    assert_eq!(code(&users(config, &["delete", gone, "--yes"])), 0);
    all_answer(gws, &doomed, 401, "").await;
    assert_eq!(code(&users(config, &["show", gone])), 1);
    assert_eq!(
        code(&users(config, &["find", "--openid", "o_cli_other"])),
        1
    );
    assert_eq!(
        code(&users(config, &["find", "--unionid", "un_cli_other"])),
        1
    );
    assert_eq!(code(&users(config, &["find", "--phone", "13700137000"])), 1);
    // The first user is untouched.
    all_answer(gws, &later, 200, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_beside_a_gateway_on_the_embedded_store() {
    let data = tempfile::tempdir().unwrap();
    let app = Echo::start("app").await;
    let gw = Gateway::start_in(data.path(), &format!("routes:\n{}", login_routes(app.addr))).await;
    let store = format!(
        "store:\n  path: \"{}/scangate.db\"\n",
        data.path().to_str().unwrap()
    );
    let config = cli_config(data.path(), &store, &app_id(&gw));
    cli_commands_take_effect(&[&gw], &config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reaches_two_gateways_on_one_redis() {
    let Some(redis) = RedisServer::start().expect("redis-server is required here") else {
        return;
    };
    let app = Echo::start("app").await;
    let store = format!(
        "store:\n  backend: redis\n  url: \"{}\"\n  key_prefix: \"ops:\"\n",
        redis.url()
    );
    let yaml = format!("{store}routes:\n{}", login_routes(app.addr));
    let origin = "http://gateway.test:8080";
    let a = Gateway::start_with(&yaml, deployment(origin)).await;
    let b = Gateway::start_with(&yaml, deployment(origin)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = cli_config(dir.path(), &store, &app_id(&a));
    cli_commands_take_effect(&[&a, &b], &config).await;
}

// === the admin API ===

struct Api<'a> {
    gw: &'a Gateway,
}

impl Api<'_> {
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.gw
            .client
            .request(method, format!("{}/admin/api/v1{path}", self.gw.admin))
            .bearer_auth(TOKEN)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.req(method, path);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

async fn api_endpoints_take_effect(gws: &[&Gateway]) {
    use reqwest::Method as M;
    let gw = gws[0];
    let api = Api { gw };
    let who = person(gw, "api", "13600136000").await;
    let other = person(gw, "api_other", "13500135000").await;
    let id = who.user_id.as_str();
    let cookie = session(gw, &who);
    all_answer(gws, &cookie, 200, "").await;

    // Searches and the listing.
    for query in ["phone=13600136000", "openid=o_api", "unionid=un_api"] {
        let (status, body) = api.call(M::GET, &format!("/users?{query}"), None).await;
        assert_eq!(
            (status, &body["users"][0]["id"]),
            (200, &Value::from(id)),
            "{query}"
        );
    }
    let (status, body) = api.call(M::GET, "/users?phone=13100131000", None).await;
    assert_eq!((status, body["users"].as_array().unwrap().len()), (200, 0));
    let (status, body) = api.call(M::GET, "/users?phone=1", None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_phone")));
    let (status, body) = api.call(M::GET, "/users?limit=1", None).await;
    assert_eq!(status, 200);
    let next = body["next"].as_str().unwrap().to_string();
    let (_, page2) = api
        .call(M::GET, &format!("/users?limit=1&after={next}"), None)
        .await;
    assert_ne!(body["users"][0]["id"], page2["users"][0]["id"]);
    let (status, body) = api.call(M::GET, &format!("/users/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["phone"], "+8613600136000");
    let (status, body) = api.call(M::GET, "/users/u_nobody", None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));

    // Block and unblock.
    let (status, body) = api
        .call(
            M::POST,
            &format!("/users/{id}/block"),
            Some(serde_json::json!({"reason": "fraud"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["blocked_reason"], "fraud");
    all_answer(gws, &cookie, 403, "blocked").await;
    let (status, _) = api
        .call(M::POST, &format!("/users/{id}/unblock"), None)
        .await;
    assert_eq!(status, 200);
    all_answer(gws, &cookie, 200, "").await;

    // Phones.
    let path = format!("/users/{id}/phone");
    let (status, body) = api
        .call(
            M::PUT,
            &path,
            Some(serde_json::json!({"phone": "13500135000"})),
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (409, Some("phone_taken")));
    let (status, body) = api
        .call(
            M::PUT,
            &path,
            Some(serde_json::json!({"phone": "+86 131 0013 1000"})),
        )
        .await;
    assert_eq!(
        (status, &body["user"]["phone"]),
        (200, &Value::from("+8613100131000"))
    );
    let (status, body) = api
        .call(M::PUT, &path, Some(serde_json::json!({"phone": "x"})))
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_phone")));
    let (status, body) = api.call(M::DELETE, &path, None).await;
    assert_eq!((status, &body["user"]["phone"]), (200, &Value::Null));

    // Export: NDJSON, streamed (chunked).
    let resp = api.req(M::GET, "/export").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    assert!(resp.headers().get("content-length").is_none(), "streamed");
    let text = resp.text().await.unwrap();
    let ids: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].clone())
        .collect();
    assert!(ids.contains(&Value::from(id)) && ids.contains(&Value::from(other.user_id.as_str())));

    // Revoke, then delete.
    let (status, _) = api
        .call(M::POST, &format!("/users/{id}/revoke"), None)
        .await;
    assert_eq!(status, 200);
    all_answer(gws, &cookie, 401, "").await;
    let later = gw.cookie_at(&who, now() + 2);
    all_answer(gws, &later, 200, "").await;
    // Delete the other user (never revoked): their session ends; the first one's stays.
    let gone = other.user_id.as_str();
    let doomed = session(gw, &other);
    all_answer(gws, &doomed, 200, "").await;
    let (status, body) = api.call(M::DELETE, &format!("/users/{gone}"), None).await;
    assert_eq!((status, &body["deleted"]), (200, &Value::from(gone)));
    all_answer(gws, &doomed, 401, "").await;
    let (status, _) = api.call(M::GET, &format!("/users/{gone}"), None).await;
    assert_eq!(status, 404);
    let (_, body) = api.call(M::GET, "/users?phone=13500135000", None).await;
    assert_eq!(body["users"].as_array().unwrap().len(), 0);
    all_answer(gws, &later, 200, "").await;

    // The gauge is on /metrics.
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("scangate_users{state=\"total\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("scangate_users{state=\"blocked\"}"),
        "{metrics}"
    );
}

fn api_yaml(extra: &str, upstream: std::net::SocketAddr) -> String {
    format!(
        "{extra}admin:\n  api_token: \"{TOKEN}\"\nroutes:\n{}",
        login_routes(upstream)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_on_the_embedded_store() {
    let app = Echo::start("app").await;
    let gw = Gateway::start(&api_yaml("", app.addr)).await;
    api_endpoints_take_effect(&[&gw]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_reaches_two_gateways_on_one_redis() {
    let Some(redis) = RedisServer::start().expect("redis-server is required here") else {
        return;
    };
    let app = Echo::start("app").await;
    let store = format!(
        "store:\n  backend: redis\n  url: \"{}\"\n  key_prefix: \"api:\"\n",
        redis.url()
    );
    let yaml = api_yaml(&store, app.addr);
    let origin = "http://gateway.test:8080";
    let a = Gateway::start_with(&yaml, deployment(origin)).await;
    let b = Gateway::start_with(&yaml, deployment(origin)).await;
    api_endpoints_take_effect(&[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_invisible_without_a_token_refuses_a_wrong_one_and_is_never_public() {
    let app = Echo::start("app").await;
    let off = Gateway::start(&format!("routes:\n{}", login_routes(app.addr))).await;
    for path in ["/admin/api", "/admin/api/v1/users", "/admin/api/v1/export"] {
        let resp = off
            .client
            .get(format!("{}{path}", off.admin))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }

    let on = Gateway::start(&api_yaml("", app.addr)).await;
    let url = format!("{}/admin/api/v1/users", on.admin);
    for auth in [
        None,
        Some("Bearer wrong".to_string()),
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Basic {TOKEN}")),
    ] {
        let mut req = on.client.get(&url);
        if let Some(auth) = &auth {
            req = req.header("authorization", auth);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{auth:?}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        assert_eq!(json(resp).await["error"], "unauthorized");
    }
    assert_eq!(
        on.client
            .get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The public listener never serves it: the path is just a protected page there.
    let resp = on
        .get("/admin/api/v1/users")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body = json(resp).await;
    assert_eq!(body["error"], "unauthenticated");
    assert!(body.get("users").is_none());
    // Still the admin listener's own paths.
    assert_eq!(
        on.client
            .get(format!("{}/healthz", on.admin))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
