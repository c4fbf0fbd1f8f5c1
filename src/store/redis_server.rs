//! Test support (public so that `tests/` can use it): a private `redis-server` on a free
//! loopback port in a fresh directory, killed and removed on drop.
//!
//! Tests must not share a Redis with anything else, so each starts its own from `PATH`. When
//! there is no `redis-server`, [`RedisServer::start`] returns `Ok(None)` after a loud message
//! and the test skips, so `cargo test` passes on a machine without Redis; with
//! `SCANGATE_TEST_REQUIRE_REDIS=1` (as CI sets) a missing Redis is an error instead.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Set to `1` to turn a missing `redis-server` into a test failure.
pub const REQUIRE_REDIS_ENV: &str = "SCANGATE_TEST_REQUIRE_REDIS";

const BINARY: &str = "redis-server";
/// How long a starting server has to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts to start on a fresh free port, in case another process takes the port between
/// our probe and the server's bind.
const START_ATTEMPTS: usize = 3;

/// A running `redis-server` owned by a test.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra_args: Vec<String>,
    /// `Some(config file)` for a sentinel, which takes its file first and keeps no data.
    sentinel_config: Option<PathBuf>,
}

impl RedisServer {
    /// Starts a server with AOF on and RDB snapshots off (a restart keeps data), or returns
    /// `Ok(None)` after printing a skip message when `redis-server` is not on `PATH` (an error
    /// instead when `SCANGATE_TEST_REQUIRE_REDIS=1`).
    pub fn start() -> Result<Option<RedisServer>, String> {
        Self::start_with_args(&[])
    }

    /// As [`RedisServer::start`], with `extra` appended to the command line, where it
    /// overrides the defaults (for example `["--appendonly", "no"]`).
    pub fn start_with_args(extra: &[&str]) -> Result<Option<RedisServer>, String> {
        Self::start_inner(extra, None)
    }

    /// Starts a Redis Sentinel (quorum 1) watching the master `master_name` at
    /// `127.0.0.1:<master_port>`, for `redis+sentinel://` tests. `None` as for
    /// [`RedisServer::start`].
    pub fn start_sentinel(
        master_name: &str,
        master_port: u16,
    ) -> Result<Option<RedisServer>, String> {
        let config = format!(
            "sentinel monitor {master_name} 127.0.0.1 {master_port} 1\n\
             sentinel down-after-milliseconds {master_name} 1000\n\
             sentinel failover-timeout {master_name} 2000\n"
        );
        Self::start_inner(&[], Some(config))
    }

    fn start_inner(
        extra: &[&str],
        sentinel_config: Option<String>,
    ) -> Result<Option<RedisServer>, String> {
        if !on_path(BINARY) {
            if std::env::var(REQUIRE_REDIS_ENV).as_deref() == Ok("1") {
                return Err(format!(
                    "{BINARY} is not on PATH and {REQUIRE_REDIS_ENV}=1 requires the Redis tests to run"
                ));
            }
            // Written to stderr directly rather than with `eprintln!`, which the test harness
            // captures and hides for a passing test: a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: {BINARY} is not on PATH, so this Redis test did not run. \
                 Install Redis, or set {REQUIRE_REDIS_ENV}=1 to make this a failure. ***\n"
            );
            return Ok(None);
        }
        let dir = fresh_dir()?;
        let sentinel_config = match sentinel_config {
            Some(text) => {
                let path = dir.join("sentinel.conf");
                std::fs::write(&path, text)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Some(path)
            }
            None => None,
        };
        let mut server = RedisServer {
            child: None,
            port: 0,
            dir,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            sentinel_config,
        };
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            server.port = free_port()?;
            match server.spawn() {
                Ok(()) => return Ok(Some(server)),
                Err(e) => {
                    server.stop();
                    last_error = e;
                }
            }
        }
        Err(last_error)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's working directory (data files and `redis.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kills the server with SIGKILL, as a crash or an outage would.
    pub fn kill(&mut self) {
        self.stop();
    }

    /// Starts the server again on the same port and directory (so with the data its AOF
    /// kept) and waits until it answers `PING`.
    ///
    /// # Panics
    /// If the server does not come back within 10 s: the test cannot go on, and the panic
    /// message carries the end of the server's log.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn() {
            panic!("{e}");
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let dir = self.dir.display().to_string();
        let log = self.dir.join("redis.log").display().to_string();
        let config = self
            .sentinel_config
            .as_ref()
            .map(|p| p.display().to_string());
        let mut args: Vec<&str> = Vec::new();
        if let Some(config) = &config {
            args.extend([config.as_str(), "--sentinel"]);
        }
        args.extend([
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir,
            "--logfile",
            &log,
            "--daemonize",
            "no",
        ]);
        if config.is_none() {
            args.extend(["--save", "", "--appendonly", "yes"]);
        }
        args.extend(self.extra_args.iter().map(String::as_str));
        let child = Command::new(BINARY)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {BINARY}: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if answers_ping(self.port) {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let tail = self.log_tail();
                return Err(format!(
                    "{BINARY} on port {} did not start ({}); log:\n{tail}",
                    self.port,
                    match exited {
                        Some(status) => format!("exited with {status}"),
                        None => "no PONG in time".to_string(),
                    }
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` is SIGKILL on Unix.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let candidate = dir.join(binary);
            candidate.is_file() && is_executable(&candidate)
        })
    })
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    true
}

fn fresh_dir() -> Result<PathBuf, String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "scangate-redis-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    // A server still loading its AOF answers `-LOADING`: not ready yet. One started with
    // `--requirepass` answers `-NOAUTH`: ready.
    stream.read_exact(&mut reply).is_ok() && (&reply == b"+PONG\r\n" || &reply == b"-NOAUTH")
}
