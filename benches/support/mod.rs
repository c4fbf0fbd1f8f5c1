//! Shared by the login-latency, callback-throughput and capacity benches (included with
//! `#[path]`, not a bench target of its own): ports, a minimal keep-alive HTTP/1.1 client,
//! percentiles, per-thread CPU time, and the "wait until no other benchmark runs" gate.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener as StdListener};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The callback token and AES key the benches give both the simulator and the gateway.
pub const TOKEN: &str = "benchtoken";
pub const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// A count from the environment (`LOGIN_ATTEMPTS=...`), or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `N` distinct free loopback ports (all held until all are chosen).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<StdListener> = (0..N)
        .map(|_| StdListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

pub async fn wait_listening(addr: SocketAddr) {
    for _ in 0..800 {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {addr}");
}

/// The 1-minute load average, as `/proc/loadavg` says.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn pgrep(args: &[&str]) -> Vec<u32> {
    std::process::Command::new("pgrep")
        .args(args)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Blocks until no other benchmark runs: no `wrk`, and no `scangate ... run --config`
/// process other than `own` (a gateway this bench started itself). Prints what it waits for.
/// `BENCH_NO_WAIT=1` skips the gate.
pub fn wait_quiet(own: &[u32]) {
    if std::env::var("BENCH_NO_WAIT").as_deref() == Ok("1") {
        return;
    }
    let started = Instant::now();
    let mut said = false;
    loop {
        let mut busy: Vec<u32> = pgrep(&["-x", "wrk"]);
        busy.extend(
            pgrep(&["-f", "scangate.*run --config"])
                .into_iter()
                .filter(|p| !own.contains(p)),
        );
        if busy.is_empty() {
            if said {
                println!(
                    "  (quiet after {:.0} s of waiting)",
                    started.elapsed().as_secs_f64()
                );
            }
            return;
        }
        if !said {
            println!("  waiting for other benchmarks to finish (pids {busy:?}) ...");
            said = true;
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

// === minimal HTTP/1.1 client ===

/// One response read off a keep-alive connection.
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
    pub fn headers_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.head.split("\r\n").skip(1).filter_map(move |l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<binary>")
    }
}

/// A keep-alive HTTP/1.1 connection that sends pre-built requests and reads
/// `Content-Length` responses (all scangate's own endpoints send one).
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    pub async fn send(&mut self, request: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(request).await
    }

    pub async fn read_response(&mut self) -> std::io::Result<Resp> {
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status"))?;
        let mut resp = Resp {
            status,
            head,
            body: Vec::new(),
        };
        let len: usize = resp
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("response without Content-Length"))?;
        while self.buf.len() < head_end + 4 + len {
            self.fill().await?;
        }
        resp.body = self.buf[head_end + 4..head_end + 4 + len].to_vec();
        self.buf.drain(..head_end + 4 + len);
        Ok(resp)
    }

    pub async fn request(&mut self, request: &[u8]) -> std::io::Result<Resp> {
        self.send(request).await?;
        self.read_response().await
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// A request as bytes: `method target`, extra header lines, and a body (Content-Length set).
pub fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    if !body.is_empty() || method == "POST" {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// The value of cookie `name` set by a response, if any.
pub fn set_cookie(resp: &Resp, name: &str) -> Option<String> {
    resp.headers_all("set-cookie").find_map(|v| {
        let pair = v.split(';').next()?;
        let (k, val) = pair.split_once('=')?;
        (k.trim() == name && !val.is_empty()).then(|| val.to_string())
    })
}

/// Prefix of a login attempt's browser-binding cookie: one cookie per attempt,
/// `scangate_login_<attempt id>`, set by the `POST /.auth/qr` that started it and needed by
/// every call about that attempt (poll, code image, phone step, session exchange).
pub const BINDING_COOKIE_PREFIX: &str = "scangate_login_";

/// A login attempt as its browser knows it: the id from the `201` body of `POST /.auth/qr`
/// and the secret of the binding cookie set with it.
pub struct Attempt {
    pub id: String,
    pub secret: String,
}

impl Attempt {
    /// The attempt a `201` answer to `POST /.auth/qr` started, with its own binding cookie;
    /// `None` when the body has no id or that attempt's cookie is not set.
    pub fn started(resp: &Resp) -> Option<Attempt> {
        let body: serde_json::Value = serde_json::from_slice(&resp.body).ok()?;
        let id = body["id"].as_str()?.to_string();
        let secret = set_cookie(resp, &format!("{BINDING_COOKIE_PREFIX}{id}"))?;
        Some(Attempt { id, secret })
    }

    /// The `Cookie` header value that binds this attempt: `scangate_login_<id>=<secret>`.
    pub fn cookie(&self) -> String {
        format!("{BINDING_COOKIE_PREFIX}{}={}", self.id, self.secret)
    }
}

// === CPU time per thread (this process) ===

/// CPU time each thread of process `pid` ("self" for this one) has used so far:
/// (thread id, name (`comm`), milliseconds), from `/proc/<pid>/task/*/sched`
/// (`se.sum_exec_runtime`, µs resolution).
pub fn cpu_by_thread(pid: &str) -> Vec<(u32, String, f64)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let dir = task.path();
        let comm = std::fs::read_to_string(dir.join("comm"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let sched = std::fs::read_to_string(dir.join("sched")).unwrap_or_default();
        let ms = sched
            .lines()
            .find(|l| l.starts_with("se.sum_exec_runtime"))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        out.push((tid, comm, ms));
    }
    out
}

/// CPU ms used between two [`cpu_by_thread`] readings, per thread name (threads matched by
/// id; a thread born in between counts from zero, one that ended is left out), largest first.
pub fn cpu_delta(
    before: &[(u32, String, f64)],
    after: &[(u32, String, f64)],
) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for (tid, name, ms) in after {
        let was = before
            .iter()
            .find(|(t, _, _)| t == tid)
            .map_or(0.0, |(_, _, m)| *m);
        let d = ms - was;
        match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, total)) => *total += d,
            None => out.push((name.clone(), d)),
        }
    }
    out.retain(|(_, d)| *d > 0.05);
    out.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
    out
}

/// CPU ms (user + system) a whole process has used, from `/proc/<pid>/stat` (10 ms ticks).
pub fn process_cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // fields[0] is state (field 3); utime is field 14, stime 15.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks * 10.0
}

/// Raises this process's soft open-file limit to its hard limit (with `prlimit`; children
/// inherit it) and returns the soft limit now in force.
pub fn raise_fd_limit() -> u64 {
    let read = |col: usize| -> Option<String> {
        std::fs::read_to_string("/proc/self/limits")
            .ok()?
            .lines()
            .find(|l| l.starts_with("Max open files"))?
            .split_whitespace()
            .nth(col)
            .map(str::to_string)
    };
    if let Some(hard) = read(4) {
        let _ = std::process::Command::new("prlimit")
            .args([
                "--pid",
                &std::process::id().to_string(),
                &format!("--nofile={hard}:{hard}"),
            ])
            .status();
    }
    read(3).and_then(|v| v.parse().ok()).unwrap_or(u64::MAX)
}

pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    format!("{cpus} CPUs, {model}")
}
