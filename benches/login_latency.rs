//! Login wake-up latency: from WeChat's scan push reaching the callback to the browser's
//! waiting long-poll receiving its answer, over real HTTP on loopback.
//!
//! Run: `cargo bench --bench login_latency` (setup (b) needs `redis-server` on PATH; it is
//! skipped without one). Environment: `LOGIN_ATTEMPTS` (default 1000 per setup),
//! `LOGIN_CONCURRENCY` (attempts in flight, default 16), `LOGIN_SETTLE_MS` (how long a poll
//! is given to park before the push, default 150), `LOGIN_BACKGROUND_POLLS` (setup (c),
//! default 5000; 0 skips it; both ends of each connection are in this process, so it is
//! capped by the open-file limit), `BENCH_NO_WAIT=1` (do not wait for other benchmarks to
//! finish first).
//!
//! Setups, each with gateways started in this process (`scangate::server::spawn`, default
//! `threads: 1`) and a standalone WeChat simulator serving the API (access token, QR codes):
//! (a) one gateway on the embedded store (SQLite file in a temp dir, WAL, synchronous=FULL);
//! (a') as (a) with the SQLite file on tmpfs (/dev/shm): a diagnostic of what fsync costs;
//! (b) two gateways on one Redis (`RedisServer` on a free port): the browser starts the
//!     attempt and long-polls instance A, WeChat's push goes to instance B;
//! (c) as (a), while `LOGIN_BACKGROUND_POLLS` other browsers long-poll their own (never
//!     scanned) attempts on the same gateway, each poll sent again as soon as it ends.
//!
//! Also printed: the store operations per attempt, the CPU time of the gateways' pingora
//! worker threads per attempt (`/proc/self/task/*/sched`), and when the slow wake-ups happened.
//!
//! One attempt: `POST /.auth/qr` (which sets the attempt's own binding cookie,
//! `scangate_login_<id>`), `GET /.auth/qr/{id}?since=waiting&wait=25` with that cookie, sent
//! and given `LOGIN_SETTLE_MS` to park, then the push. The push is built and sealed by
//! the bench itself with the simulator's codec (`scangate::wechat_sim::Wire`, safe mode:
//! signature, msg_signature, AES) *before* the clock starts: a `SCAN` event from a returning
//! user (registered with a bound phone, so the scan confirms at once). t0 is taken right
//! before the pre-built request is written to a warm keep-alive connection to the callback;
//! t1 when the long-poll's whole response (`confirmed` + ticket) has been read. The push and
//! the poll are awaited in the same task, so each end is timestamped when it arrives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use scangate::config::env::MapEnv;
use scangate::identity::{AttemptId, BrowserSecret, OpenId, Phone, UnionId};
use scangate::proxy::App;
use scangate::server::RunningServer;
use scangate::store::redis_server::RedisServer;
use scangate::wechat_sim::{event_xml, PushMode, SimConfig, SimHandle, Simulator, Wire};
use support::*;

const APP_ID: &str = "wx00000000000000be";
const APP_SECRET: &str = "bench-app-secret";
const RETURNING_OPENID: &str = "o_bench_returning_user";

fn gateway_yaml(listen: SocketAddr, store: &str, api_base: &str) -> String {
    format!(
        r#"listen: "{listen}"
public_url: "http://{listen}"
shutdown_timeout_seconds: 1
{store}
session:
  secret: "bench-secret-bench-secret-bench-secret!!"
wechat:
  api_base: "{api_base}"
  official_account:
    app_id: "{APP_ID}"
    app_secret: "{APP_SECRET}"
    token: "{TOKEN}"
    encoding_aes_key: "{AES_KEY}"
login:
  limits:
    qr_per_ip_per_minute: 0
    long_polls_per_ip: 0
    long_polls_total: 0
routes:
  - name: app
    upstreams: ["127.0.0.1:9"]
    auth: login
"#
    )
}

async fn start_gateway(
    listen: SocketAddr,
    store: &str,
    api_base: &str,
) -> (RunningServer, prometheus::Registry) {
    let yaml = gateway_yaml(listen, store, api_base);
    let config = scangate::config::from_yaml(&yaml, &MapEnv::new())
        .unwrap_or_else(|e| panic!("bench config invalid:\n{e}\n---\n{yaml}"));
    let registry = prometheus::Registry::new();
    let server = tokio::task::block_in_place(|| {
        scangate::server::spawn(config, registry.clone()).expect("gateway starts")
    });
    wait_listening(listen).await;
    (server, registry)
}

/// Per store operation: (op, calls, seconds spent) from
/// `scangate_store_operation_duration_seconds` of the given registries.
fn store_ops(registries: &[&prometheus::Registry]) -> Vec<(String, u64, f64)> {
    let mut out: Vec<(String, u64, f64)> = Vec::new();
    for registry in registries {
        for family in registry.gather() {
            if family.name() != "scangate_store_operation_duration_seconds" {
                continue;
            }
            for m in family.get_metric() {
                let op = m
                    .get_label()
                    .iter()
                    .find(|l| l.name() == "op")
                    .map(|l| l.value().to_string())
                    .unwrap_or_default();
                let h = m.get_histogram();
                match out.iter_mut().find(|(o, _, _)| *o == op) {
                    Some(e) => {
                        e.1 += h.get_sample_count();
                        e.2 += h.get_sample_sum();
                    }
                    None => out.push((op, h.get_sample_count(), h.get_sample_sum())),
                }
            }
        }
    }
    out
}

fn ops_delta(
    before: &[(String, u64, f64)],
    after: &[(String, u64, f64)],
) -> Vec<(String, u64, f64)> {
    after
        .iter()
        .map(|(op, n, s)| {
            let (n0, s0) = before
                .iter()
                .find(|(o, _, _)| o == op)
                .map_or((0, 0.0), |(_, n, s)| (*n, *s));
            (op.clone(), n - n0, s - s0)
        })
        .filter(|(op, n, _)| *n > 0 && op != "health")
        .collect()
}

/// What one setup's attempts talk to.
struct Target {
    /// Where the browser starts the attempt and long-polls.
    browser: SocketAddr,
    /// Where WeChat pushes.
    push: SocketAddr,
    /// The browser's instance (for the attempt's WeChat ticket, which the phone would read
    /// off the QR code).
    app: Arc<App>,
    wire: Wire,
    original_id: String,
}

struct Sample {
    /// When the push was written, from the start of the run.
    at: Duration,
    /// Push written -> long-poll answer read.
    wake: Duration,
    /// Push written -> callback's answer read.
    callback: Duration,
}

#[derive(Default)]
struct Failures {
    not_confirmed: usize,
    early: usize,
    errors: Vec<String>,
}

async fn register_returning_user(app: &App) {
    let login = app.login.as_ref().unwrap();
    let users = scangate::users::UserDirectory::new(login.store.clone());
    if users
        .find_by_openid(APP_ID, &OpenId::new(RETURNING_OPENID))
        .await
        .unwrap()
        .is_some()
    {
        return;
    }
    users
        .register(
            APP_ID,
            &OpenId::new(RETURNING_OPENID),
            Some(&UnionId::new("un_bench_returning")),
            Some(&Phone::parse("13800138000").unwrap()),
            unix_now(),
        )
        .await
        .unwrap();
}

fn seal_scan(t: &Target, scene: &str, ticket: &str) -> Vec<u8> {
    let now = unix_now();
    let xml = event_xml(
        &t.original_id,
        RETURNING_OPENID,
        now,
        "SCAN",
        Some(scene),
        Some(ticket),
    );
    let mut rng = rand::thread_rng();
    let nonce = rng.gen_range(100_000_000u32..2_000_000_000).to_string();
    let random: [u8; 16] = std::array::from_fn(|_| rng.sample(rand::distributions::Alphanumeric));
    let sealed = t.wire.seal(
        &xml,
        PushMode::Safe,
        now,
        &nonce,
        &random,
        Some(RETURNING_OPENID),
    );
    request(
        "POST",
        &format!("/.auth/wechat/callback?{}", sealed.query),
        &[("Content-Type", "text/xml")],
        sealed.body.as_bytes(),
    )
}

/// One worker: attempts one after another on its own three keep-alive connections (the
/// browser's API calls, the browser's long-poll, WeChat's pushes).
async fn worker(
    t: Arc<Target>,
    next: Arc<AtomicUsize>,
    total: usize,
    warmup: usize,
    settle: Duration,
    run_start: Instant,
) -> (Vec<Sample>, Failures) {
    let mut samples = Vec::new();
    let mut failures = Failures::default();
    let mut api = Conn::connect(t.browser).await.unwrap();
    let mut polls = Conn::connect(t.browser).await.unwrap();
    let mut pushes = Conn::connect(t.push).await.unwrap();
    let start = request(
        "POST",
        "/.auth/qr",
        &[("Content-Type", "application/json")],
        br#"{"rd":"/"}"#,
    );
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total + warmup {
            break;
        }
        let started = api.request(&start).await.unwrap();
        if started.status != 201 {
            failures
                .errors
                .push(format!("POST /qr: {} {}", started.status, started.text()));
            continue;
        }
        // Each attempt has its own binding cookie, set by the answer that started it.
        let Some(attempt) = Attempt::started(&started) else {
            failures.errors.push(format!(
                "POST /qr: no id or no binding cookie for it: {} {}",
                started.head,
                started.text()
            ));
            continue;
        };
        let cookie = attempt.cookie();
        let id = attempt.id.as_str();
        let ticket = t
            .app
            .login
            .as_ref()
            .unwrap()
            .service
            .wechat_ticket(
                &AttemptId::parse(id).unwrap(),
                &BrowserSecret::parse(&attempt.secret).unwrap(),
                unix_now(),
            )
            .await
            .unwrap();
        let push = seal_scan(&t, id, &ticket);

        polls
            .send(&request(
                "GET",
                &format!("/.auth/qr/{id}?since=waiting&wait=25"),
                &[("Cookie", &cookie)],
                b"",
            ))
            .await
            .unwrap();
        tokio::time::sleep(settle).await;

        let t0 = Instant::now();
        let (callback, answer) = tokio::join!(
            async {
                let r = pushes.request(&push).await;
                (r, Instant::now())
            },
            async {
                let r = polls.read_response().await;
                (r, Instant::now())
            }
        );
        let (callback, t_cb) = callback;
        let (answer, t1) = answer;
        let callback = callback.unwrap();
        let answer = answer.unwrap();
        if callback.status != 200 {
            failures
                .errors
                .push(format!("callback: {} {}", callback.status, callback.text()));
            continue;
        }
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        if answer.status != 200 || body["status"] != "confirmed" || body["ticket"].is_null() {
            failures.not_confirmed += 1;
            if failures.errors.len() < 5 {
                failures
                    .errors
                    .push(format!("poll: {} {}", answer.status, answer.text()));
            }
            continue;
        }
        if i < warmup {
            continue;
        }
        if t1 < t0 {
            failures.early += 1;
        }
        samples.push(Sample {
            at: t0.saturating_duration_since(run_start),
            wake: t1.saturating_duration_since(t0),
            callback: t_cb.saturating_duration_since(t0),
        });
    }
    (samples, failures)
}

struct Row {
    name: &'static str,
    /// Store operations during the run (warm-up included): (op, calls, seconds).
    ops: Vec<(String, u64, f64)>,
    runs: usize,
    /// CPU time of the gateways' pingora worker threads during the run.
    worker_cpu_ms: f64,
    /// (push time from the start, wake-up) of the samples above 50 ms.
    slow: Vec<(Duration, Duration)>,
    ok: usize,
    failures: Failures,
    wake: Vec<Duration>,
    callback: Vec<Duration>,
    elapsed: Duration,
    load: String,
}

async fn measure(
    name: &'static str,
    t: Target,
    attempts: usize,
    concurrency: usize,
    registries: &[&prometheus::Registry],
) -> Row {
    let settle = Duration::from_millis(env_usize("LOGIN_SETTLE_MS", 150) as u64);
    let warmup = 2 * concurrency;
    tokio::task::block_in_place(|| wait_quiet(&[]));
    let load = loadavg();
    println!("  {name}: {attempts} attempts, {concurrency} in flight, load average {load}");
    let t = Arc::new(t);
    let next = Arc::new(AtomicUsize::new(0));
    let ops_before = store_ops(registries);
    let cpu_before = cpu_by_thread("self");
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            tokio::spawn(worker(
                t.clone(),
                next.clone(),
                attempts,
                warmup,
                settle,
                started,
            ))
        })
        .collect();
    let mut wake = Vec::new();
    let mut callback = Vec::new();
    let mut failures = Failures::default();
    let mut slow = Vec::new();
    for w in workers {
        let (samples, f) = w.await.unwrap();
        for s in samples {
            if s.wake > Duration::from_millis(50) {
                slow.push((s.at, s.wake));
            }
            wake.push(s.wake);
            callback.push(s.callback);
        }
        failures.not_confirmed += f.not_confirmed;
        failures.early += f.early;
        failures.errors.extend(f.errors);
    }
    let elapsed = started.elapsed();
    let worker_cpu_ms: f64 = cpu_delta(&cpu_before, &cpu_by_thread("self"))
        .iter()
        .filter(|(n, _)| n == "scangate public")
        .map(|(_, ms)| ms)
        .sum();
    wake.sort();
    callback.sort();
    slow.sort();
    Row {
        name,
        ops: ops_delta(&ops_before, &store_ops(registries)),
        runs: attempts + warmup,
        worker_cpu_ms,
        slow,
        ok: wake.len(),
        failures,
        wake,
        callback,
        elapsed,
        load,
    }
}

async fn embedded(
    name: &'static str,
    dir: tempfile::TempDir,
    sim: &SimHandle,
    attempts: usize,
    concurrency: usize,
    background: usize,
) -> Row {
    let [port] = free_ports::<1>();
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let store = format!(
        "store:\n  backend: embedded\n  path: \"{}/scangate.db\"",
        dir.path().display()
    );
    let (gw, registry) = start_gateway(listen, &store, &sim.api_base()).await;
    register_returning_user(&gw.app).await;
    let target = Target {
        browser: listen,
        push: listen,
        app: gw.app.clone(),
        wire: Wire::new(TOKEN, APP_ID, Some(AES_KEY)).unwrap(),
        original_id: sim.original_id().to_string(),
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut holders = Vec::new();
    if background > 0 {
        holders = background_polls(listen, background, &registry, stop.clone()).await;
    }
    let row = measure(name, target, attempts, concurrency, &[&registry]).await;
    stop.store(true, Ordering::Relaxed);
    for h in &holders {
        h.abort();
    }
    if background > 0 {
        println!(
            "  background polls still waiting at the end: {}",
            gauge(&registry, "scangate_longpolls_waiting")
        );
    }
    tokio::task::block_in_place(|| gw.stop());
    row
}

fn gauge(registry: &prometheus::Registry, name: &str) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter().map(|m| m.get_gauge().value()))
        .sum()
}

/// `n` other attempts whose browsers long-poll all the time (each poll sent again as soon
/// as it is answered, with its attempt's own binding cookie), one connection each; returns
/// once all are waiting.
async fn background_polls(
    listen: SocketAddr,
    n: usize,
    registry: &prometheus::Registry,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let creators: Vec<_> = (0..16)
        .map(|_| {
            let next = next.clone();
            tokio::spawn(async move {
                let mut conn = Conn::connect(listen).await.unwrap();
                let req = request(
                    "POST",
                    "/.auth/qr",
                    &[("Content-Type", "application/json")],
                    br#"{"rd":"/"}"#,
                );
                let mut attempts = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let r = conn.request(&req).await.unwrap();
                    assert_eq!(r.status, 201, "{}", r.text());
                    attempts.push(Attempt::started(&r).expect("an id and its binding cookie"));
                }
                attempts
            })
        })
        .collect();
    let mut attempts = Vec::with_capacity(n);
    for c in creators {
        attempts.extend(c.await.unwrap());
    }
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    let holders: Vec<_> = attempts
        .into_iter()
        .map(|attempt| {
            let (stop, gate) = (stop.clone(), gate.clone());
            tokio::spawn(async move {
                let poll = request(
                    "GET",
                    &format!("/.auth/qr/{}?since=waiting&wait=25", attempt.id),
                    &[("Cookie", &attempt.cookie())],
                    b"",
                );
                let mut conn = {
                    let _permit = gate.acquire().await.unwrap();
                    Conn::connect(listen).await.unwrap()
                };
                while !stop.load(Ordering::Relaxed) {
                    if conn.request(&poll).await.is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    loop {
        let waiting = gauge(registry, "scangate_longpolls_waiting");
        if waiting >= n as f64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {waiting} of {n} background polls waiting"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "  {n} background long-polls waiting ({:.1} s to create and park them)",
        started.elapsed().as_secs_f64()
    );
    holders
}

async fn redis_pair(
    sim: &SimHandle,
    redis: &RedisServer,
    attempts: usize,
    concurrency: usize,
) -> Row {
    let [pa, pb] = free_ports::<2>();
    let a_addr: SocketAddr = format!("127.0.0.1:{pa}").parse().unwrap();
    let b_addr: SocketAddr = format!("127.0.0.1:{pb}").parse().unwrap();
    let store = format!(
        "store:\n  backend: redis\n  url: \"{}\"\n  key_prefix: \"bench:\"",
        redis.url()
    );
    let (a, ra) = start_gateway(a_addr, &store, &sim.api_base()).await;
    let (b, rb) = start_gateway(b_addr, &store, &sim.api_base()).await;
    register_returning_user(&a.app).await;
    let target = Target {
        browser: a_addr,
        push: b_addr,
        app: a.app.clone(),
        wire: Wire::new(TOKEN, APP_ID, Some(AES_KEY)).unwrap(),
        original_id: sim.original_id().to_string(),
    };
    let row = measure(
        "(b) two gateways on Redis, poll A, push B",
        target,
        attempts,
        concurrency,
        &[&ra, &rb],
    )
    .await;
    tokio::task::block_in_place(|| {
        a.stop();
        b.stop();
    });
    row
}

fn main() {
    let attempts = env_usize("LOGIN_ATTEMPTS", 1000);
    let concurrency = env_usize("LOGIN_CONCURRENCY", 16);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .unwrap();
    println!("login wake-up latency: {}", machine());
    let rows = rt.block_on(async {
        let sim = Simulator::start(SimConfig {
            app_id: APP_ID.into(),
            app_secret: APP_SECRET.into(),
            token: TOKEN.into(),
            encoding_aes_key: Some(AES_KEY.into()),
            // Unused: the bench pushes itself.
            callback_url: "http://127.0.0.1:9/.auth/wechat/callback".into(),
        })
        .await
        .unwrap();
        let mut rows = vec![
            embedded(
                "(a) one gateway, embedded store (temp dir on disk)",
                tempfile::tempdir().unwrap(),
                &sim,
                attempts,
                concurrency,
                0,
            )
            .await,
        ];
        if std::path::Path::new("/dev/shm").is_dir() {
            rows.push(
                embedded(
                    "(a') the same, store on tmpfs (diagnostic: no fsync cost)",
                    tempfile::tempdir_in("/dev/shm").unwrap(),
                    &sim,
                    attempts,
                    concurrency,
                    0,
                )
                .await,
            );
        }
        let mut background = env_usize("LOGIN_BACKGROUND_POLLS", 5000);
        let fds = raise_fd_limit() as usize;
        if 2 * background + 1000 > fds {
            // Both ends of every connection live in this process.
            background = fds.saturating_sub(1000) / 2;
            println!("  open-file limit {fds}: background polls lowered to {background}");
        }
        if background > 0 {
            rows.push(
                embedded(
                    "(c) as (a), with other long-polls waiting meanwhile",
                    tempfile::tempdir().unwrap(),
                    &sim,
                    attempts,
                    concurrency,
                    background,
                )
                .await,
            );
        }
        match tokio::task::block_in_place(RedisServer::start).expect("redis-server") {
            Some(redis) => rows.push(redis_pair(&sim, &redis, attempts, concurrency).await),
            None => println!("  (b) skipped: no redis-server on PATH"),
        }
        rows
    });
    println!();
    println!("Push -> long-poll answer (the push sealed by the bench with the simulator's codec, safe mode; t0 = just before the request is written):");
    println!();
    println!("| setup | attempts ok | p50 | p90 | p99 | max | callback answered, p50 / p99 | pingora worker CPU per attempt | wall | load avg |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} of {} | {} | {} | {} | {} | {} / {} | {:.0} µs | {:.1} s | {} |",
            r.name,
            r.ok,
            attempts,
            ms(percentile(&r.wake, 50.0)),
            ms(percentile(&r.wake, 90.0)),
            ms(percentile(&r.wake, 99.0)),
            ms(r.wake.last().copied().unwrap_or_default()),
            ms(percentile(&r.callback, 50.0)),
            ms(percentile(&r.callback, 99.0)),
            r.worker_cpu_ms * 1000.0 / r.runs as f64,
            r.elapsed.as_secs_f64(),
            r.load,
        );
    }
    for r in &rows {
        let f = &r.failures;
        if f.not_confirmed > 0 || f.early > 0 || !f.errors.is_empty() {
            println!(
                "{}: {} polls not confirmed, {} answered before the push; first errors: {:?}",
                r.name,
                f.not_confirmed,
                f.early,
                f.errors.iter().take(5).collect::<Vec<_>>()
            );
        }
        println!(
            "{}: store operations per attempt (both instances, warm-up included): {}",
            r.name,
            r.ops
                .iter()
                .map(|(op, n, secs)| format!(
                    "{op} {:.2} (mean {:.2} ms)",
                    *n as f64 / r.runs as f64,
                    secs * 1000.0 / (*n).max(1) as f64
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !r.slow.is_empty() {
            println!(
                "{}: {} wake-ups above 50 ms, pushed at (s from the start) / took: {}",
                r.name,
                r.slow.len(),
                r.slow
                    .iter()
                    .take(20)
                    .map(|(at, d)| format!("{:.2}/{}", at.as_secs_f64(), ms(*d)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let p99 = percentile(&r.wake, 99.0);
        println!(
            "{}: p99 {} the 50 ms target",
            r.name,
            if p99 < Duration::from_millis(50) {
                "meets"
            } else {
                "MISSES"
            }
        );
    }
}
