//! Several gateway instances on one Redis acting as one, and surviving a Redis outage. Each
//! test starts its own `redis-server` on a free port (skipped loudly when there is none,
//! unless `SCANGATE_TEST_REQUIRE_REDIS=1`, as in CI).
//!
//! WeChat is one standalone simulator that both instances call as their API, and whose
//! pushes land on instance B, as a load balancer might send them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use scangate::store::redis_server::RedisServer;
use scangate::wechat_sim::{SimConfig, SimHandle, SimUser, Simulator};
use serde_json::json;

use crate::browser::Browser;
use crate::harness::*;

const APP_ID: &str = "wx00000000000000bb";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// The `public_url` both instances share.
const CLUSTER: &str = "http://gateway.test:8080";

struct Cluster {
    redis: RedisServer,
    sim: SimHandle,
    a: Gateway,
    b: Gateway,
    _app: Echo,
}

fn instance_yaml(redis: &RedisServer, sim: &SimHandle, app: SocketAddr) -> String {
    format!(
        r#"store:
  backend: redis
  url: "{url}"
  key_prefix: "cluster:"
wechat:
  api_base: "{api}"
  official_account:
    app_id: "{APP_ID}"
    app_secret: "sim-secret"
    token: "simtoken"
    encoding_aes_key: "{AES_KEY}"
login:
  phone: "off"
routes:
  - name: app
    upstreams: ["{app}"]
    auth: login
"#,
        url = redis.url(),
        api = sim.api_base(),
    )
}

/// Redis, the simulator (pushing to B), and instances A and B. `None` when there is no
/// redis-server and the tests may be skipped.
async fn cluster() -> Option<Cluster> {
    let redis = RedisServer::start().expect("redis-server is required here")?;
    let app = Echo::start("app").await;
    let b_listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let sim = Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: "sim-secret".into(),
        token: "simtoken".into(),
        encoding_aes_key: Some(AES_KEY.into()),
        callback_url: format!("http://{b_listen}/.auth/wechat/callback"),
    })
    .await
    .unwrap();
    let yaml = instance_yaml(&redis, &sim, app.addr);
    // Two instances of one deployment: one public_url, so each accepts the other's sessions.
    let a = Gateway::start_with(&yaml, deployment(CLUSTER)).await;
    let b = Gateway::start_at_with(b_listen, &yaml, deployment(CLUSTER)).await;
    Some(Cluster {
        redis,
        sim,
        a,
        b,
        _app: app,
    })
}

/// Starts an attempt on the browser's instance and lets the simulator's phone scan it as
/// `user` (the push lands on B).
async fn scan_on(c: &Cluster, browser: &Browser<'_>, user: &SimUser) -> String {
    let id = browser.start("/after").await;
    let ticket = browser.wechat_ticket(&id).await;
    let outcome = c.sim.scan(&ticket, user).await.unwrap();
    assert_eq!(outcome.status, 200, "{}", outcome.body);
    id
}

fn newcomer(n: u32) -> SimUser {
    SimUser {
        openid: format!("o_cluster_{n}_{}", now()),
        unionid: None,
        follows: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_b_wakes_the_poll_on_a_and_the_session_works_everywhere() {
    let Some(c) = cluster().await else { return };
    let on_a = Browser::new(&c.a);
    let id = on_a.start("/after").await;
    let ticket = on_a.wechat_ticket(&id).await;

    // A long-poll held by A; the push lands on B.
    let poll = on_a.poll(&id, "waiting", 20);
    let push = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let pushed = Instant::now();
        let outcome = c.sim.scan(&ticket, &newcomer(1)).await.unwrap();
        assert_eq!(outcome.status, 200, "{}", outcome.body);
        pushed
    };
    let (answer, pushed) = tokio::join!(poll, push);
    let waited = pushed.elapsed();
    assert_eq!(answer.body["status"], "confirmed", "{}", answer.body);
    assert!(
        waited < Duration::from_secs(1),
        "A's poll answered {waited:?} after B got the push"
    );

    // The ticket is exchanged on B, from the same browser.
    let on_b = on_a.at(&c.b);
    let session = on_b.exchange(answer.body["ticket"].as_str().unwrap()).await;
    assert_eq!(session.status, 200, "{}", session.body);
    let cookie = on_b.cookie_header();
    for gw in [&c.a, &c.b] {
        assert_eq!(status(gw.get("/").header("cookie", &cookie)).await, 200);
    }
    // Both instances sign with the same key.
    let jwks_a = json(c.a.get("/.auth/jwks.json").send().await.unwrap()).await;
    let jwks_b = json(c.b.get("/.auth/jwks.json").send().await.unwrap()).await;
    assert_eq!(jwks_a, jwks_b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_a_is_refused_on_b_within_a_second() {
    let Some(c) = cluster().await else { return };
    let browser = Browser::new(&c.a);
    let id = scan_on(&c, &browser, &newcomer(2)).await;
    let polled = browser.poll(&id, "waiting", 5).await;
    browser
        .exchange(polled.body["ticket"].as_str().unwrap())
        .await;
    let cookie = browser.cookie_header();
    assert_eq!(status(c.b.get("/").header("cookie", &cookie)).await, 200);

    let out = browser.post("/.auth/logout", json!({})).await;
    assert_eq!(out.status, 200);
    let logged_out = Instant::now();
    loop {
        if status(c.b.get("/").header("cookie", &cookie)).await == 401 {
            break;
        }
        assert!(
            logged_out.elapsed() < Duration::from_secs(1),
            "B still accepts the session a second after the logout on A"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_instances_share_one_access_token() {
    let Some(c) = cluster().await else { return };
    // Both create QR codes concurrently: each needs the access token.
    let (ba, bb) = (Browser::new(&c.a), Browser::new(&c.b));
    tokio::join!(
        ba.start("/"),
        bb.start("/"),
        ba.start("/"),
        bb.start("/"),
        ba.start("/"),
        bb.start("/"),
        ba.start("/"),
        bb.start("/"),
    );
    assert_eq!(
        c.sim.counters().stable_token_calls,
        1,
        "one token fetch for both instances"
    );
    assert_eq!(c.sim.counters().qrcode_creates, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_keeps_signed_in_traffic_flowing_and_login_recovers_by_itself() {
    let Some(mut c) = cluster().await else { return };
    let regular = newcomer(3);
    let browser = Browser::new(&c.a);
    let id = scan_on(&c, &browser, &regular).await;
    let polled = browser.poll(&id, "waiting", 5).await;
    browser
        .exchange(polled.body["ticket"].as_str().unwrap())
        .await;
    let cookie = browser.cookie_header();

    c.redis.kill();
    // Signed-in requests never touch the store.
    for gw in [&c.a, &c.b] {
        for _ in 0..5 {
            assert_eq!(status(gw.get("/").header("cookie", &cookie)).await, 200);
        }
    }
    // Login answers 503 JSON, quickly.
    let started = Instant::now();
    let refused = Browser::new(&c.a).post("/.auth/qr", json!({})).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    // WeChat's push gets an answer well inside its 5 s.
    let started = Instant::now();
    let user = newcomer(4);
    let xml = scangate::wechat_sim::event_xml(
        c.sim.original_id(),
        &user.openid,
        now(),
        "subscribe",
        Some("qrscene_x"),
        Some("t"),
    );
    let outcome = c.sim.push_raw(&xml).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(outcome.status, 503);
    // /readyz says so.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready =
            c.a.client
                .get(format!("{}/readyz", c.a.admin))
                .send()
                .await
                .unwrap();
        if ready.status() == 503 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never reported the outage"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    c.redis.restart();
    // Without restarting the gateway, logins work again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let again = Browser::new(&c.a).post("/.auth/qr", json!({})).await;
        if again.status == 201 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "login did not recover: {}",
            again.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // What was stored before the outage is still there: the same person is known.
    let browser = Browser::new(&c.b);
    let returning = SimUser {
        follows: true,
        ..regular
    };
    let id = scan_on(&c, &browser, &returning).await;
    let polled = browser.poll(&id, "waiting", 5).await;
    assert_eq!(polled.body["status"], "confirmed");
    let session = browser
        .exchange(polled.body["ticket"].as_str().unwrap())
        .await;
    let first_user = json(
        c.a.get("/.auth/me")
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(session.body["user"]["id"], first_user["user"]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_warns_when_redis_could_lose_users() {
    let Some(redis) =
        RedisServer::start_with_args(&["--appendonly", "no", "--maxmemory-policy", "allkeys-lru"])
            .expect("redis-server is required here")
    else {
        return;
    };
    let app = Echo::start("app").await;
    let gw = Gateway::start(&format!(
        "store:\n  backend: redis\n  url: \"{}\"\nroutes:\n  - name: app\n    upstreams: [\"{}\"]\n",
        redis.url(),
        app.addr
    ))
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ready = json(
            gw.client
                .get(format!("{}/readyz", gw.admin))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let warnings = ready["warnings"].as_array().unwrap();
        if warnings.len() >= 2 {
            let text = serde_json::to_string(warnings).unwrap();
            assert!(text.contains("allkeys-lru"), "{text}");
            assert!(!text.contains(&redis.url()), "no URL in warnings");
            assert_eq!(
                ready["status"], "ready",
                "a risk is a warning, not an outage"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no durability warnings in /readyz: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
