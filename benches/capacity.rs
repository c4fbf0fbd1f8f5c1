//! Capacity: resident memory of a gateway process idle, with 10k waiting long-polls, and with
//! 100k pending login attempts in the embedded store.
//!
//! Needs the release binary first: `cargo build --release`, then
//! `cargo bench --bench capacity`. The gateway is that binary (`SCANGATE_BIN`, default
//! `${CARGO_TARGET_DIR:-target}/release/scangate`) started as a separate process with
//! `run --config <generated>` (`threads: 1`, the embedded store in a temp dir on disk, its
//! log in the temp dir); VmRSS / VmHWM come from `/proc/<pid>/status`. WeChat's API
//! (access token, QR codes) is a standalone simulator in this bench process, so its memory
//! (every QR ticket it issued) is not counted in the gateway's.
//!
//! Phases: idle after start; 10k attempts created (`POST /.auth/qr`, 32 keep-alive
//! connections; each answer sets that attempt's own binding cookie, `scangate_login_<id>`,
//! which the bench keeps with its id); 10k long-polls (`GET /.auth/qr/{id}?since=waiting
//! &wait=30`, each with its attempt's cookie), one connection each, all waiting (the gateway's
//! `scangate_longpolls_waiting` gauge says so); the clients close; attempts created up to
//! 100k; 10k long-polls again on top of the 100k. `login.limits` is lifted
//! (`qr_per_ip_per_minute`, `long_polls_per_ip`, `long_polls_total` all 0) and
//! `qr_expire_seconds: 3600` keeps every attempt pending. Between the two: 10k keep-alive
//! connections each answered once and then left idle by their clients, until the gateway
//! closes them after `client_keepalive_timeout_seconds` (`CAPACITY_KEEPALIVE`, 5 s here), and
//! the RSS once jemalloc has returned the memory (its decay, ~10 s).
//!
//! Environment: `CAPACITY_POLLS` (10000), `CAPACITY_ATTEMPTS` (100000),
//! `CAPACITY_KEEPALIVE` (5, seconds), `SCANGATE_BIN`,
//! `BENCH_NO_WAIT=1`. The client needs `CAPACITY_POLLS` + ~100 file descriptors (the bench
//! raises its soft limit to the hard one with `prlimit`; the gateway inherits it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scangate::wechat_sim::{SimConfig, Simulator};
use support::*;
use tokio::sync::Semaphore;

const APP_ID: &str = "wx00000000000000ca";
const APP_SECRET: &str = "bench-app-secret";

fn binary() -> PathBuf {
    if let Ok(bin) = std::env::var("SCANGATE_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("release").join("scangate")
}

/// VmRSS, VmHWM, RssAnon, RssFile (kB) and Threads of `pid`.
struct Mem {
    rss_kb: u64,
    hwm_kb: u64,
    anon_kb: u64,
    file_kb: u64,
    threads: u64,
}

fn mem(pid: u32) -> Mem {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Mem {
        rss_kb: field("VmRSS:"),
        hwm_kb: field("VmHWM:"),
        anon_kb: field("RssAnon:"),
        file_kb: field("RssFile:"),
        threads: field("Threads:"),
    }
}

fn mb(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

fn raise_fd_limit() {
    let pid = std::process::id().to_string();
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let hard = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .unwrap_or("unlimited")
        .to_string();
    let _ = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={hard}:{hard}")])
        .status();
}

fn fd_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

async fn metric(client: &reqwest::Client, admin: SocketAddr, name: &str) -> f64 {
    let Ok(resp) = client.get(format!("http://{admin}/metrics")).send().await else {
        return -1.0;
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Creates `n` attempts as fast as `connections` keep-alive connections allow; each comes
/// back with its id and its own binding cookie.
async fn create_attempts(
    listen: SocketAddr,
    n: usize,
    connections: usize,
) -> (Vec<Attempt>, Duration, Vec<String>) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let next = next.clone();
            tokio::spawn(async move {
                let req = request(
                    "POST",
                    "/.auth/qr",
                    &[("Content-Type", "application/json")],
                    br#"{"rd":"/"}"#,
                );
                let mut conn = Conn::connect(listen).await.unwrap();
                let mut ids = Vec::new();
                let mut errors = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    match conn.request(&req).await {
                        Ok(r) if r.status == 201 => {
                            ids.push(Attempt::started(&r).expect("an id and its binding cookie"));
                        }
                        Ok(r) => {
                            if errors.len() < 3 {
                                errors.push(format!("{} {}", r.status, r.text()));
                            }
                        }
                        Err(e) => {
                            errors.push(format!("connection: {e}"));
                            conn = Conn::connect(listen).await.unwrap();
                        }
                    }
                }
                (ids, errors)
            })
        })
        .collect();
    let mut ids = Vec::with_capacity(n);
    let mut errors = Vec::new();
    for t in tasks {
        let (i, e) = t.await.unwrap();
        ids.extend(i);
        errors.extend(e);
    }
    (ids, started.elapsed(), errors)
}

/// Opens one connection per attempt and sends its long-poll (with the attempt's own binding
/// cookie); returns the tasks holding them.
async fn open_polls(
    listen: SocketAddr,
    attempts: &[Attempt],
) -> Vec<tokio::task::JoinHandle<Option<u16>>> {
    let gate = Arc::new(Semaphore::new(256));
    let mut tasks = Vec::with_capacity(attempts.len());
    for attempt in attempts {
        let (gate, cookie) = (gate.clone(), attempt.cookie());
        let target = format!("/.auth/qr/{}?since=waiting&wait=30", attempt.id);
        tasks.push(tokio::spawn(async move {
            let mut conn = {
                let _permit = gate.acquire().await.unwrap();
                let mut conn = Conn::connect(listen).await.ok()?;
                conn.send(&request("GET", &target, &[("Cookie", &cookie)], b""))
                    .await
                    .ok()?;
                conn
            };
            conn.read_response().await.ok().map(|r| r.status)
        }));
    }
    tasks
}

/// Opens one connection per attempt, has it answered once (a poll without `wait`, with the
/// attempt's own binding cookie: at once), then keeps it open and idle; returns the tasks
/// holding them once all were answered.
async fn open_idle(
    listen: SocketAddr,
    attempts: &[Attempt],
) -> (Vec<tokio::task::JoinHandle<()>>, usize) {
    let gate = Arc::new(Semaphore::new(256));
    let answered = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(attempts.len());
    for attempt in attempts {
        let (gate, cookie, answered, done) = (
            gate.clone(),
            attempt.cookie(),
            answered.clone(),
            done.clone(),
        );
        let target = format!("/.auth/qr/{}", attempt.id);
        tasks.push(tokio::spawn(async move {
            let conn = {
                let _permit = gate.acquire().await.unwrap();
                let mut conn = Conn::connect(listen).await.ok();
                if let Some(c) = conn.as_mut() {
                    let req = request("GET", &target, &[("Cookie", &cookie)], b"");
                    if matches!(c.request(&req).await, Ok(r) if r.status == 200) {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
                conn
            };
            done.fetch_add(1, Ordering::Relaxed);
            let _hold = conn;
            std::future::pending::<()>().await;
        }));
    }
    while done.load(Ordering::Relaxed) < attempts.len() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (tasks, answered.load(Ordering::Relaxed))
}

/// The sizes of both parts of the embedded store (login state lives in the ephemeral one).
fn store_note(dir: &std::path::Path) -> String {
    let mb = |name: &str| file_size(&dir.join(name)) as f64 / 1e6;
    format!(
        "store files: durable {:.1} MB + WAL {:.1} MB, ephemeral {:.1} MB + WAL {:.1} MB",
        mb("scangate.db"),
        mb("scangate.db-wal"),
        mb("scangate.ephemeral.db"),
        mb("scangate.ephemeral.db-wal")
    )
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Waits until the gauge of waiting polls reaches `want` (or `timeout`); how long it took.
async fn wait_gauge(
    client: &reqwest::Client,
    admin: SocketAddr,
    want: f64,
    timeout: Duration,
) -> (f64, Duration) {
    let started = Instant::now();
    loop {
        let now = metric(client, admin, "scangate_longpolls_waiting").await;
        if (want == 0.0 && now == 0.0) || (want > 0.0 && now >= want) {
            return (now, started.elapsed());
        }
        if started.elapsed() > timeout {
            return (now, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens one waiting long-poll per attempt (once the machine is quiet), waits until the
/// gateway counts them all, and measures it: the phase's row, and the client tasks holding
/// the polls.
async fn park_polls(
    listen: SocketAddr,
    admin: SocketAddr,
    client: &reqwest::Client,
    polled: &[Attempt],
    pid: u32,
    attempts: usize,
) -> (Row, Vec<tokio::task::JoinHandle<Option<u16>>>) {
    tokio::task::block_in_place(|| wait_quiet(&[pid]));
    let load = loadavg();
    let opened = Instant::now();
    let tasks = open_polls(listen, polled).await;
    let want = polled.len() as f64;
    let (waiting, _) = wait_gauge(client, admin, want, Duration::from_secs(25)).await;
    let ramp = opened.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let still = metric(client, admin, "scangate_longpolls_waiting").await;
    println!(
        "  {waiting} polls waiting after {:.1} s",
        ramp.as_secs_f64()
    );
    let row = Row {
        phase: format!("{attempts} attempts + {still} waiting long-polls"),
        mem: mem(pid),
        fds: open_fds(pid),
        note: format!(
            "all parked {:.1} s after the first connect; load average {load}",
            ramp.as_secs_f64()
        ),
    };
    (row, tasks)
}

struct Row {
    phase: String,
    mem: Mem,
    fds: usize,
    note: String,
}

fn main() {
    let polls = env_usize("CAPACITY_POLLS", 10_000);
    let attempts = env_usize("CAPACITY_ATTEMPTS", 100_000).max(polls);
    let keepalive = Duration::from_secs(env_usize("CAPACITY_KEEPALIVE", 5) as u64);
    let bin = binary();
    if !bin.is_file() {
        eprintln!(
            "capacity: no gateway binary at {} — run `cargo build --release` first (or set SCANGATE_BIN)",
            bin.display()
        );
        std::process::exit(2);
    }
    raise_fd_limit();
    let fds = fd_limit();
    if fds < polls as u64 + 200 {
        eprintln!("capacity: the open-file limit is {fds}, below {polls} polls + 200; raise it (ulimit -n) or lower CAPACITY_POLLS");
        std::process::exit(2);
    }
    println!("capacity: {}; gateway {}", machine(), bin.display());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let [port, admin_port] = free_ports::<2>();
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{admin_port}").parse().unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            app_id: APP_ID.into(),
            app_secret: APP_SECRET.into(),
            token: TOKEN.into(),
            encoding_aes_key: Some(AES_KEY.into()),
            callback_url: format!("http://{listen}/.auth/wechat/callback"),
        }))
        .unwrap();
    // More codes than one account's day allows (100,000): lift the simulator's quota.
    sim.set_quota("/cgi-bin/qrcode/create", 10_000_000, 0);
    let db = dir.path().join("scangate.db");
    let config = format!(
        r#"listen: "{listen}"
public_url: "http://{listen}"
admin_listen: "{admin}"
threads: 1
shutdown_timeout_seconds: 1
client_keepalive_timeout_seconds: {keepalive}
store:
  backend: embedded
  path: "{db}"
session:
  secret: "bench-secret-bench-secret-bench-secret!!"
wechat:
  api_base: "{api}"
  official_account:
    app_id: "{APP_ID}"
    app_secret: "{APP_SECRET}"
    token: "{TOKEN}"
    encoding_aes_key: "{AES_KEY}"
    qr_expire_seconds: 3600
login:
  # The simulator's daily quota is WeChat's 100,000; this bench makes more codes than that.
  quota_reserve: 0
  limits:
    qr_per_ip_per_minute: 0
    long_polls_per_ip: 0
    long_polls_total: 0
routes:
  - name: app
    upstreams: ["127.0.0.1:9"]
    auth: login
"#,
        db = db.display(),
        api = sim.api_base(),
        keepalive = keepalive.as_secs(),
    );
    let config_path = dir.path().join("scangate.yaml");
    std::fs::write(&config_path, &config).unwrap();
    let log = std::fs::File::create(dir.path().join("gateway.log")).unwrap();
    let mut child: Child = Command::new(&bin)
        .args(["run", "--config"])
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start the gateway");
    let pid = child.id();
    let client = reqwest::Client::new();
    let mut rows: Vec<Row> = Vec::new();

    rt.block_on(async {
        wait_listening(listen).await;
        wait_listening(admin).await;
        for _ in 0..100 {
            if let Ok(r) = client.get(format!("http://{admin}/readyz")).send().await {
                if r.status() == 200 {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        rows.push(Row {
            phase: "idle after start (ready, no request served)".into(),
            mem: mem(pid),
            fds: open_fds(pid),
            note: String::new(),
        });

        // 10k attempts, each with its own binding cookie, then 10k waiting polls on them.
        tokio::task::block_in_place(|| wait_quiet(&[pid]));
        let load = loadavg();
        let cpu0 = process_cpu_ms(pid);
        let (mut ids, took, errors) = create_attempts(listen, polls, 32).await;
        let cpu1 = process_cpu_ms(pid);
        println!(
            "  created {} attempts in {:.1} s ({:.0}/s, gateway CPU {:.0} µs each), load average {load}; errors {errors:?}",
            ids.len(),
            took.as_secs_f64(),
            ids.len() as f64 / took.as_secs_f64(),
            (cpu1 - cpu0) * 1000.0 / ids.len().max(1) as f64
        );
        rows.push(Row {
            phase: format!("{} attempts", ids.len()),
            mem: mem(pid),
            fds: open_fds(pid),
            note: store_note(dir.path()),
        });

        let poll_ids = &ids[ids.len() - polls..];

        // For comparison: the same number of connections, each answered once and then idle
        // (keep-alive): what a connection costs without a request in flight.
        tokio::task::block_in_place(|| wait_quiet(&[pid]));
        let (idle_tasks, answered) = open_idle(listen, poll_ids).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        rows.push(Row {
            phase: format!("{} attempts + {answered} idle keep-alive connections", ids.len()),
            mem: mem(pid),
            fds: open_fds(pid),
            note: "each answered one request (a poll without wait), then idle".into(),
        });
        // The clients keep them open and say nothing: the gateway closes them after its
        // keep-alive timeout (pingora alone would keep them until shutdown).
        let idle_since = Instant::now();
        while open_fds(pid) >= 200 && idle_since.elapsed() < keepalive * 4 + Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let closed_after = idle_since.elapsed();
        rows.push(Row {
            phase: format!("{} attempts, the idle connections closed by the gateway", ids.len()),
            mem: mem(pid),
            fds: open_fds(pid),
            note: format!(
                "client_keepalive_timeout_seconds: {}; closed {:.1} s after the last answer",
                keepalive.as_secs(),
                closed_after.as_secs_f64() + 1.0
            ),
        });
        tokio::time::sleep(Duration::from_secs(12)).await;
        rows.push(Row {
            phase: format!("{} attempts, 12 s later", ids.len()),
            mem: mem(pid),
            fds: open_fds(pid),
            note: "jemalloc has returned the freed pages (its decay is ~10 s)".into(),
        });
        for t in &idle_tasks {
            t.abort();
        }
        drop(idle_tasks);

        let (row, tasks) = park_polls(listen, admin, &client, poll_ids, pid, ids.len()).await;
        rows.push(row);

        // The clients go away; the gateway notices each closed connection and ends its poll.
        for t in &tasks {
            t.abort();
        }
        let (left, gone) = wait_gauge(&client, admin, 0.0, Duration::from_secs(40)).await;
        println!(
            "  clients closed: the gauge reached {left} after {:.1} s",
            gone.as_secs_f64()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        rows.push(Row {
            phase: format!("{} attempts, the polls ended", ids.len()),
            mem: mem(pid),
            fds: open_fds(pid),
            note: format!("waiting-poll gauge back to 0 {:.1} s after the clients closed", gone.as_secs_f64()),
        });

        // Up to 100k attempts.
        tokio::task::block_in_place(|| wait_quiet(&[pid]));
        let load = loadavg();
        let more = attempts - ids.len();
        let cpu0 = process_cpu_ms(pid);
        let (more_ids, took, errors) = create_attempts(listen, more, 32).await;
        let cpu1 = process_cpu_ms(pid);
        println!(
            "  created {} more attempts in {:.1} s ({:.0}/s, gateway CPU {:.0} µs each), load average {load}; errors {errors:?}",
            more_ids.len(),
            took.as_secs_f64(),
            more_ids.len() as f64 / took.as_secs_f64(),
            (cpu1 - cpu0) * 1000.0 / more_ids.len().max(1) as f64
        );
        let rate = more_ids.len() as f64 / took.as_secs_f64();
        ids.extend(more_ids);
        rows.push(Row {
            phase: format!("{} attempts", ids.len()),
            mem: mem(pid),
            fds: open_fds(pid),
            note: format!("created at {rate:.0}/s; {}", store_note(dir.path())),
        });

        // 10k polls again, on the newest attempts.
        let poll_ids = &ids[ids.len() - polls..];
        let (row, tasks) = park_polls(listen, admin, &client, poll_ids, pid, ids.len()).await;
        rows.push(row);
        for t in &tasks {
            t.abort();
        }
    });

    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();

    println!();
    println!(
        "| phase | VmRSS | RssAnon | RssFile | VmHWM (peak so far) | threads | open fds | note |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.phase,
            mb(r.mem.rss_kb),
            mb(r.mem.anon_kb),
            mb(r.mem.file_kb),
            mb(r.mem.hwm_kb),
            r.mem.threads,
            r.fds,
            r.note
        );
    }
    let idle = rows.first().map_or(0, |r| r.mem.rss_kb);
    let last = rows.last().map_or(0, |r| r.mem.rss_kb);
    println!();
    println!(
        "idle {} (target < 30 MiB: {}); {} attempts + {} polls {} (target < 200 MiB: {})",
        mb(idle),
        if idle < 30 * 1024 { "met" } else { "MISSED" },
        attempts,
        polls,
        mb(last),
        if last < 200 * 1024 { "met" } else { "MISSED" }
    );
    if std::env::var("KEEP_TMP").as_deref() == Ok("1") {
        println!("kept {}", dir.keep().display());
    }
}
