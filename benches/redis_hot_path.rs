//! Proves the request path never touches the store: drive authenticated requests through a
//! gateway on Redis and count Redis commands with `INFO commandstats`.
//!
//! Run: `cargo bench --bench redis_hot_path` (needs `redis-server` on PATH; starts its own on a
//! free port). Prints requests, throughput and every Redis command seen during the load. The
//! only commands expected are the readiness probe's PING (one every 5 s), whatever the number
//! of requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scangate::config::env::MapEnv;
use scangate::identity::{Identity, LoginMethod, OpenId, Phone, UserId};
use scangate::store::redis_server::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const REQUESTS: u64 = 20_000;
const CONCURRENCY: usize = 32;

/// A keep-alive upstream answering every request with a tiny 200.
async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut pending = Vec::new();
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if stream.write_all(resp).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn commandstats(url: &str) -> Vec<(String, u64)> {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_connection().unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut con)
        .unwrap();
    info.lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

fn reset_stats(url: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut con)
        .unwrap();
}

fn main() {
    let Some(redis) = RedisServer::start().expect("redis-server") else {
        println!("redis_hot_path: skipped (no redis-server on PATH)");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let app_addr = rt.block_on(upstream());
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let yaml = format!(
        "listen: \"{listen}\"\npublic_url: \"http://{listen}\"\nstore:\n  backend: redis\n  url: \"{}\"\nsession:\n  secret: \"bench-secret-bench-secret-bench-secret!!\"\nwechat:\n  simulate: true\nroutes:\n  - name: app\n    upstreams: [\"{app_addr}\"]\n    auth: login\n",
        redis.url()
    );
    let config = scangate::config::from_yaml(&yaml, &MapEnv::new()).unwrap();
    let server = scangate::server::spawn(config, prometheus::Registry::new()).unwrap();
    let who = Identity {
        user_id: UserId::new("u_bench"),
        openid: Some(OpenId::new("o_bench")),
        unionid: None,
        phone: Some(Phone::parse("13800138000").unwrap()),
        method: LoginMethod::OfficialAccount,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (token, _) = server.app.sessions.issue(&who, now);
    let cookie = format!("scangate_session={token}");
    let url = format!("http://{listen}/dashboard");

    rt.block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(&url).header("cookie", &cookie).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        reset_stats(&redis.url());
        let done = Arc::new(AtomicU64::new(0));
        let ok = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (client, url, cookie, done, ok) =
                    (client.clone(), url.clone(), cookie.clone(), done.clone(), ok.clone());
                tokio::spawn(async move {
                    while done.fetch_add(1, Ordering::Relaxed) < REQUESTS {
                        if let Ok(resp) = client.get(&url).header("cookie", &cookie).send().await {
                            if resp.status() == 200 && resp.bytes().await.is_ok() {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        let elapsed = started.elapsed();
        let stats = commandstats(&redis.url());
        let total: u64 = stats
            .iter()
            .filter(|(name, _)| name != "info" && name != "config|resetstat")
            .map(|(_, calls)| calls)
            .sum();
        println!("authenticated requests: {} ok of {REQUESTS}, {CONCURRENCY} concurrent, {:.1} s, {:.0} req/s",
            ok.load(Ordering::Relaxed), elapsed.as_secs_f64(),
            ok.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64());
        println!("redis commands during the load (INFO commandstats):");
        for (name, calls) in &stats {
            println!("  {name}: {calls}");
        }
        println!("redis commands per request, excluding the benchmark's own INFO/CONFIG: {:.6}", total as f64 / REQUESTS as f64);
    });
    server.stop();
}
