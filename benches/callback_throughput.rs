//! Callback throughput: safe-mode pushes per second on one core.
//!
//! Run: `cargo bench --bench callback_throughput` (the Redis setup needs `redis-server` on
//! PATH; skipped without one). Two parts:
//!
//! 1. In-process ceiling (criterion): what the codec costs per push, without HTTP or the
//!    store: parse the query, check `signature` and `msg_signature`, AES-decrypt, check the
//!    appid, parse the XML; and the same plus sealing an encrypted text reply (what a login
//!    scan answers).
//! 2. End to end: a gateway started in this process with `threads: 1` receives pre-sealed,
//!    distinct (never duplicate) safe-mode `SCAN` pushes for scenes that are not login
//!    attempts, over keep-alive HTTP/1.1 from `CALLBACK_CONNECTIONS` connections (default 32;
//!    the client runs on one thread of this process, named `bench-client`). Every push goes
//!    through verification, decryption, parsing, the dedupe record in the store (one write
//!    per push) and the scan lookup, and is answered `success`. Setups: the embedded store in
//!    a temp dir on disk (the default: SQLite WAL, synchronous=FULL), the embedded store on
//!    tmpfs (/dev/shm: same code, fsync costs nothing; shows what the disk costs), and Redis.
//!    CPU time is read per thread from `/proc/self/task/*/sched` before and after, so the
//!    gateway's threads are counted apart from the client's; Redis's from its `/proc/<pid>/stat`.
//!
//! Environment: `CALLBACK_PUSHES` (pre-sealed pushes per setup, default 30000),
//! `CALLBACK_SECONDS` (time cap per setup, default 10), `CALLBACK_CONNECTIONS` (32),
//! `CALLBACK_PARTS` (`codec,e2e`), `BENCH_NO_WAIT=1`. Criterion arguments pass through, e.g.
//! `cargo bench --bench callback_throughput -- --measurement-time 3`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use scangate::config::env::MapEnv;
use scangate::store::redis_server::RedisServer;
use scangate::wechat::{CallbackCodec, CallbackConfig, CallbackQuery};
use scangate::wechat_sim::{event_xml, PushMode, Wire};
use support::*;

const APP_ID: &str = "wx00000000000000be";
const ORIGINAL_ID: &str = "gh_0123456789ab";

fn wire() -> Wire {
    Wire::new(TOKEN, APP_ID, Some(AES_KEY)).unwrap()
}

/// A safe-mode `SCAN` push for a scene that is no login attempt, sealed as WeChat does.
fn sealed_scan(wire: &Wire, i: usize, now: u64) -> scangate::wechat_sim::SealedPush {
    let openid = format!("o_bench_follower_{:05}", i % 50_000);
    let xml = event_xml(
        ORIGINAL_ID,
        &openid,
        now,
        "SCAN",
        Some(&format!("campaign_{i}")),
        Some("gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2tIVXFLRzdsSXZRT3BfX0FuUUZHAAIEJ1"),
    );
    let nonce = format!("{}", 100_000_000 + i);
    let mut random = [b'a'; 16];
    random[..8].copy_from_slice(&(i as u64).to_le_bytes());
    for b in &mut random[..8] {
        *b = b'A' + (*b % 26);
    }
    wire.seal(&xml, PushMode::Safe, now, &nonce, &random, Some(&openid))
}

// === 1. in-process ceiling ===

fn codec_part(c: &mut Criterion) {
    let codec = CallbackCodec::new(CallbackConfig {
        app_id: APP_ID.into(),
        token: TOKEN.into(),
        encoding_aes_key: Some(AES_KEY.into()),
    })
    .unwrap();
    let now = unix_now();
    let sealed = sealed_scan(&wire(), 1, now);
    let random = [b'r'; 16];
    c.bench_function(
        "callback codec: parse query + open (signatures, AES, XML)",
        |b| {
            b.iter(|| {
                let q = CallbackQuery::parse(black_box(&sealed.query)).unwrap();
                codec
                    .open(&q, black_box(sealed.body.as_bytes()), now)
                    .unwrap()
            })
        },
    );
    c.bench_function(
        "callback codec: parse query + open + seal an encrypted text reply",
        |b| {
            b.iter(|| {
                let q = CallbackQuery::parse(black_box(&sealed.query)).unwrap();
                let inbound = codec
                    .open(&q, black_box(sealed.body.as_bytes()), now)
                    .unwrap();
                let xml = inbound.push.text_reply("登录成功，请回到电脑上继续", now);
                codec.seal_reply(&xml, now, "1234567890", &random)
            })
        },
    );
}

// === 2. end to end ===

fn gateway_yaml(listen: SocketAddr, store: &str) -> String {
    format!(
        r#"listen: "{listen}"
public_url: "http://{listen}"
threads: 1
shutdown_timeout_seconds: 1
{store}
session:
  secret: "bench-secret-bench-secret-bench-secret!!"
wechat:
  api_base: "http://127.0.0.1:9"
  official_account:
    app_id: "{APP_ID}"
    app_secret: "unused"
    token: "{TOKEN}"
    encoding_aes_key: "{AES_KEY}"
routes:
  - name: app
    upstreams: ["127.0.0.1:9"]
    auth: login
"#
    )
}

struct E2e {
    name: String,
    sent: u64,
    ok: u64,
    other: Vec<String>,
    elapsed: Duration,
    gateway_cpu: Vec<(String, f64)>,
    redis_cpu_ms: Option<f64>,
    load: String,
}

fn redis_pid(url: &str) -> Option<u32> {
    let client = redis::Client::open(url).ok()?;
    let mut con = client.get_connection().ok()?;
    let info: String = redis::cmd("INFO").arg("server").query(&mut con).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|v| v.trim().parse().ok())
}

fn run_e2e(name: &str, store: &str, redis: Option<&RedisServer>) -> E2e {
    let pushes = env_usize("CALLBACK_PUSHES", 30_000);
    let seconds = env_usize("CALLBACK_SECONDS", 10) as u64;
    let connections = env_usize("CALLBACK_CONNECTIONS", 32);
    let [port] = free_ports::<1>();
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let yaml = gateway_yaml(listen, store);
    let config = scangate::config::from_yaml(&yaml, &MapEnv::new())
        .unwrap_or_else(|e| panic!("bench config invalid:\n{e}\n---\n{yaml}"));
    let server = scangate::server::spawn(config, prometheus::Registry::new()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(wait_listening(listen));

    // Pre-sealed, all distinct; a warm-up set first (not measured).
    let wire = wire();
    let now = unix_now();
    let warmup = 1000;
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..pushes + warmup)
            .map(|i| {
                let s = sealed_scan(&wire, i, now);
                request(
                    "POST",
                    &format!("/.auth/wechat/callback?{}", s.query),
                    &[("Content-Type", "text/xml")],
                    s.body.as_bytes(),
                )
            })
            .collect(),
    );
    let redis_pid = redis.and_then(|r| redis_pid(&r.url()));

    let drive = |from: usize, to: usize, deadline: Option<Instant>| {
        let requests = requests.clone();
        rt.block_on(async move {
            let next = Arc::new(AtomicUsize::new(from));
            let ok = Arc::new(AtomicU64::new(0));
            let sent = Arc::new(AtomicU64::new(0));
            let tasks: Vec<_> = (0..connections)
                .map(|_| {
                    let (requests, next, ok, sent) =
                        (requests.clone(), next.clone(), ok.clone(), sent.clone());
                    tokio::spawn(async move {
                        let mut other = Vec::new();
                        let mut conn = Conn::connect(listen).await.unwrap();
                        loop {
                            if deadline.is_some_and(|d| Instant::now() >= d) {
                                break;
                            }
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= to {
                                break;
                            }
                            sent.fetch_add(1, Ordering::Relaxed);
                            match conn.request(&requests[i]).await {
                                Ok(r) if r.status == 200 && r.body == b"success" => {
                                    ok.fetch_add(1, Ordering::Relaxed);
                                }
                                Ok(r) => {
                                    if other.len() < 3 {
                                        other.push(format!("{} {}", r.status, r.text()));
                                    }
                                }
                                Err(e) => {
                                    other.push(format!("connection: {e}"));
                                    conn = Conn::connect(listen).await.unwrap();
                                }
                            }
                        }
                        other
                    })
                })
                .collect();
            let mut other = Vec::new();
            for t in tasks {
                other.extend(t.await.unwrap());
            }
            (
                sent.load(Ordering::Relaxed),
                ok.load(Ordering::Relaxed),
                other,
            )
        })
    };

    drive(0, warmup, None);
    wait_quiet(&[]);
    let load = loadavg();
    println!("  {name}: up to {pushes} pushes or {seconds} s, {connections} connections, load average {load}");
    let cpu_before = cpu_by_thread("self");
    let redis_before = redis_pid.map(process_cpu_ms);
    let started = Instant::now();
    let (sent, ok, other) = drive(
        warmup,
        warmup + pushes,
        Some(started + Duration::from_secs(seconds)),
    );
    let elapsed = started.elapsed();
    let cpu_after = cpu_by_thread("self");
    let redis_cpu_ms = redis_pid
        .zip(redis_before)
        .map(|(pid, before)| process_cpu_ms(pid) - before);
    drop(rt);
    server.stop();
    E2e {
        name: name.to_string(),
        sent,
        ok,
        other,
        elapsed,
        gateway_cpu: cpu_delta(&cpu_before, &cpu_after),
        redis_cpu_ms,
        load,
    }
}

fn e2e_part() {
    println!();
    println!("callback throughput, end to end: {}", machine());
    let mut results = Vec::new();
    let disk = tempfile::tempdir().unwrap();
    results.push(run_e2e(
        "embedded store on disk (users fsynced, login state not)",
        &format!(
            "store:\n  backend: embedded\n  path: \"{}/scangate.db\"",
            disk.path().display()
        ),
        None,
    ));
    if std::path::Path::new("/dev/shm").is_dir() {
        let shm = tempfile::tempdir_in("/dev/shm").unwrap();
        results.push(run_e2e(
            "embedded store on tmpfs (/dev/shm, diagnostic)",
            &format!(
                "store:\n  backend: embedded\n  path: \"{}/scangate.db\"",
                shm.path().display()
            ),
            None,
        ));
    }
    match RedisServer::start().expect("redis-server") {
        Some(redis) => results.push(run_e2e(
            "Redis store (local redis-server)",
            &format!(
                "store:\n  backend: redis\n  url: \"{}\"\n  key_prefix: \"bench:\"",
                redis.url()
            ),
            Some(&redis),
        )),
        None => println!("  Redis setup skipped: no redis-server on PATH"),
    }

    println!();
    println!("| store | pushes answered `success` | wall | pushes/s | gateway CPU per push (all its threads) | of which the pingora worker | store thread(s) | redis-server CPU per push | load avg |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        let gateway: Vec<&(String, f64)> = r
            .gateway_cpu
            .iter()
            .filter(|(n, _)| n != "bench-client")
            .collect();
        let total: f64 = gateway.iter().map(|(_, ms)| ms).sum();
        let per = |ms: f64| format!("{:.1} µs", ms * 1000.0 / r.ok.max(1) as f64);
        let store_ms: f64 = gateway
            .iter()
            .filter(|(n, _)| n == "scangate-sqlite" || n == "scangate-side")
            .map(|(_, ms)| ms)
            .sum();
        let worker_ms: f64 = gateway
            .iter()
            .filter(|(n, _)| n != "scangate-sqlite" && n != "scangate-side")
            .map(|(_, ms)| ms)
            .sum();
        println!(
            "| {} | {} of {} | {:.2} s | {:.0} | {} | {} | {} | {} | {} |",
            r.name,
            r.ok,
            r.sent,
            r.elapsed.as_secs_f64(),
            r.ok as f64 / r.elapsed.as_secs_f64(),
            per(total),
            per(worker_ms),
            per(store_ms),
            r.redis_cpu_ms.map_or("-".into(), per),
            r.load
        );
    }
    println!();
    for r in &results {
        println!(
            "{}: CPU ms by thread over the run: {:?}",
            r.name,
            r.gateway_cpu
                .iter()
                .map(|(n, ms)| format!("{n}={ms:.0}"))
                .collect::<Vec<_>>()
        );
        if !r.other.is_empty() {
            println!("{}: unexpected answers: {:?}", r.name, r.other);
        }
    }
}

fn main() {
    let parts = std::env::var("CALLBACK_PARTS").unwrap_or_else(|_| "codec,e2e".into());
    if parts.contains("codec") {
        wait_quiet(&[]);
        println!(
            "callback codec (in process, one thread), load average {}",
            loadavg()
        );
        let mut c = Criterion::default().configure_from_args();
        codec_part(&mut c);
        c.final_summary();
    }
    if parts.contains("e2e") {
        e2e_part();
    }
}
