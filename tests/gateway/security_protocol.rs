//! The connection-level defences: a deadline for each request's whole head (slowloris),
//! the gateway's JSON in place of pingora's own bare answers, and client faults kept out of
//! the ERROR log.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

/// How long a test waits for something that must happen; never a claim about speed.
const BOUND: Duration = Duration::from_secs(15);

fn public_route(upstream: SocketAddr) -> String {
    format!("routes:\n  - name: app\n    upstreams: [\"{upstream}\"]\n    auth: public\n")
}

/// A gateway with one public route to an echo upstream, heads due within `seconds`.
async fn gateway(seconds: u64) -> (Echo, Gateway) {
    let e = Echo::start("app").await;
    let extra = format!(
        "client_header_timeout_seconds: {seconds}\n{}",
        public_route(e.addr)
    );
    (e, Gateway::start(&extra).await)
}

/// Everything read until the peer closes (or resets) the connection.
async fn read_to_close(read: &mut (impl AsyncReadExt + Unpin)) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match read.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// One response off a keep-alive connection (its body by Content-Length).
async fn read_response(conn: &mut TcpStream) -> Raw {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let raw = parse_raw(&got);
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = raw
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no content-length: {head}"));
            if body.len() >= length {
                return raw;
            }
        }
        let n = tokio::time::timeout(BOUND, conn.read(&mut buf))
            .await
            .expect("no response")
            .unwrap();
        assert!(n > 0, "closed before a whole response: {text}");
        got.extend_from_slice(&buf[..n]);
    }
}

/// Sends `bytes` in `pieces` parts, `gap` apart.
async fn send_slowly(conn: &mut TcpStream, bytes: &[u8], pieces: usize, gap: Duration) {
    for chunk in bytes.chunks(bytes.len().div_ceil(pieces)) {
        conn.write_all(chunk).await.unwrap();
        tokio::time::sleep(gap).await;
    }
}

/// Opens a connection that starts a request and then sends one more byte of its head every
/// 250 ms for as long as the connection takes them. Returns what it received, once the
/// gateway closed the connection, and how long after the first byte that was; `None` if
/// the gateway did not within [`BOUND`].
async fn trickle(addr: SocketAddr) -> Option<(Raw, Duration)> {
    let conn = TcpStream::connect(addr).await.unwrap();
    trickle_on(conn, b"GET /slow HTTP/1.1\r\nHost: gateway.test\r\n").await
}

async fn trickle_on(conn: TcpStream, start: &[u8]) -> Option<(Raw, Duration)> {
    let (mut read, mut write) = conn.into_split();
    let started = Instant::now();
    write.write_all(start).await.unwrap();
    let writer = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if write.write_all(b"x").await.is_err() {
                return;
            }
        }
    });
    let got = tokio::time::timeout(BOUND, read_to_close(&mut read)).await;
    writer.abort();
    got.ok().map(|bytes| (parse_raw(&bytes), started.elapsed()))
}

fn assert_request_timeout(cut: Option<(Raw, Duration)>, limit: Duration) {
    let (raw, after) = cut.expect("the gateway never cut off a client trickling its head");
    assert_eq!(raw.status, 408, "{}", raw.body);
    assert_eq!(raw.json()["error"], "request_timeout");
    assert!(
        after >= limit,
        "cut off after {after:?}, before the {limit:?} allowed"
    );
}

// --- the head deadline ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_head_is_cut_off_at_the_deadline_with_408() {
    let (_e, gw) = gateway(1).await;
    // pingora alone would wait for ever: every byte restarts its 60 s read timeout.
    assert_request_timeout(trickle(gw.addr).await, Duration::from_secs(1));
    // Several at once, each on its own clock.
    let cut = futures_util::future::join_all((0..3).map(|_| trickle(gw.addr))).await;
    for one in cut {
        assert_request_timeout(one, Duration::from_secs(1));
    }
    // The gateway serves on.
    assert_eq!(status(gw.get("/after")).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_head_that_completes_in_time_is_served() {
    let (_e, gw) = gateway(3).await;
    let mut conn = TcpStream::connect(gw.addr).await.unwrap();
    let head = b"GET /slow-but-fine HTTP/1.1\r\nHost: gateway.test\r\nX-Note: one\r\nConnection: close\r\n\r\n";
    // About a second for a three-second deadline.
    send_slowly(&mut conn, head, 5, Duration::from_millis(200)).await;
    let raw = parse_raw(&read_to_close(&mut conn).await);
    assert_eq!(raw.status, 200, "{}", raw.body);
    assert_eq!(raw.json()["target"], "/slow-but-fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_keep_alive_request_gets_a_deadline_of_its_own() {
    let (_e, gw) = gateway(2).await;
    let limit = Duration::from_secs(2);
    let mut conn = TcpStream::connect(gw.addr).await.unwrap();
    conn.write_all(b"GET /1 HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut conn).await.json()["target"], "/1");
    // Idle between requests for longer than the deadline: that wait is not the head's.
    tokio::time::sleep(limit + Duration::from_millis(500)).await;
    // The second head takes about a second: within its own deadline.
    send_slowly(
        &mut conn,
        b"GET /2 HTTP/1.1\r\nHost: gateway.test\r\nX-Note: two\r\n\r\n",
        5,
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(read_response(&mut conn).await.json()["target"], "/2");
    // The third never completes: cut off at its deadline, not the connection's.
    let third = trickle_on(conn, b"GET /3 HTTP/1.1\r\nHost: gateway.test\r\n").await;
    assert_request_timeout(third, limit);
}

/// An idle keep-alive connection is closed after `client_keepalive_timeout_seconds` (pingora
/// alone keeps it until shutdown), and is reused while it waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_its_timeout() {
    let e = Echo::start("app").await;
    let gw = Gateway::start(&format!(
        "client_keepalive_timeout_seconds: 1\n{}",
        public_route(e.addr)
    ))
    .await;
    let mut conn = TcpStream::connect(gw.addr).await.unwrap();
    for target in ["/1", "/2"] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: gateway.test\r\n\r\n");
        conn.write_all(request.as_bytes()).await.unwrap();
        assert_eq!(read_response(&mut conn).await.json()["target"], target);
    }
    // Left idle: closed by the gateway (the read ends), well before a generous bound.
    let idle = Instant::now();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
        .await
        .expect("the idle connection is closed, not kept");
    assert_eq!(read.unwrap_or(0), 0, "nothing but the close");
    assert!(
        idle.elapsed() >= Duration::from_millis(500),
        "kept for its timeout first: {:?}",
        idle.elapsed()
    );

    // HTTP/1.0 without Keep-Alive stays one request per connection.
    let mut old = TcpStream::connect(gw.addr).await.unwrap();
    old.write_all(b"GET /3 HTTP/1.0\r\nHost: gateway.test\r\n\r\n")
        .await
        .unwrap();
    let raw = parse_raw(&read_to_close(&mut old).await);
    assert_eq!(raw.json()["target"], "/3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_slower_than_the_head_deadline_is_not_cut_off_by_it() {
    let (_e, gw) = gateway(1).await;
    let mut conn = TcpStream::connect(gw.addr).await.unwrap();
    conn.write_all(
        b"POST /upload HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 8\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    // Eight bytes over about 2.4 s: more than twice the head's deadline.
    send_slowly(&mut conn, b"abcdefgh", 8, Duration::from_millis(300)).await;
    let raw = parse_raw(&read_to_close(&mut conn).await);
    assert_eq!(raw.status, 200, "{}", raw.body);
    assert_eq!(raw.json()["method"], "POST");
}

// --- pingora's own answers ---

/// Request heads pingora refuses before the gateway sees them (`InvalidHTTPHeader`).
fn malformed_heads() -> Vec<(&'static str, Vec<u8>)> {
    let many_headers: String = (0..300).map(|i| format!("X-H{i}: v\r\n")).collect();
    vec![
        (
            "space in a header name",
            b"GET / HTTP/1.1\r\nHost: gateway.test\r\nBad Header: x\r\n\r\n".to_vec(),
        ),
        (
            "TLS on the plain port (no line end at all)",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8a\x4f".to_vec(),
        ),
        (
            "a bare CR",
            b"GET / HTTP/1.1\rHost: gateway.test\r\n\r\n".to_vec(),
        ),
        (
            "Content-Length not a number",
            b"POST / HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: abc\r\n\r\n".to_vec(),
        ),
        (
            "more than 256 headers",
            format!("GET / HTTP/1.1\r\nHost: gateway.test\r\n{many_headers}\r\n").into_bytes(),
        ),
        (
            "a head over 1 MiB",
            format!(
                "GET / HTTP/1.1\r\nHost: gateway.test\r\nX-Big: {}",
                "a".repeat(1_100_000)
            )
            .into_bytes(),
        ),
    ]
}

/// Sends `bytes` on a fresh connection and reads the answer until the gateway closes.
async fn answer_to(addr: SocketAddr, bytes: &[u8]) -> Raw {
    let conn = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = conn.into_split();
    // Written while reading: the gateway may answer (and close) before it has read all.
    let bytes = bytes.to_vec();
    let writer = tokio::spawn(async move {
        let _ = write.write_all(&bytes).await;
        write
    });
    let got = tokio::time::timeout(BOUND, read_to_close(&mut read))
        .await
        .expect("no answer");
    writer.abort();
    parse_raw(&got)
}

fn assert_ours(raw: &Raw, status: u16, code: &str, case: &str) {
    assert_eq!(raw.status, status, "{case}: {}", raw.body);
    assert_eq!(
        raw.header("content-type"),
        Some("application/json"),
        "{case}"
    );
    assert!(raw.header("server").is_none(), "{case}: {:?}", raw.headers);
    let body: Value = serde_json::from_str(&raw.body)
        .unwrap_or_else(|_| panic!("{case}: not our JSON: {:?}", raw.body));
    assert_eq!(body["error"], code, "{case}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{case}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_pingora_refuses_get_our_json_400_not_its_bare_one() {
    let (_e, gw) = gateway(10).await;
    for (case, bytes) in malformed_heads() {
        let raw = answer_to(gw.addr, &bytes).await;
        assert_ours(&raw, 400, "bad_request", case);
        assert_eq!(raw.header("connection"), Some("close"), "{case}");
    }
    assert_eq!(status(gw.get("/after")).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_gets_our_json_405() {
    let (_e, gw) = gateway(10).await;
    let raw = answer_to(
        gw.addr,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    )
    .await;
    assert_ours(&raw, 405, "method_not_allowed", "CONNECT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_to_requests_that_reached_the_gateway_are_not_touched() {
    // A 400 of the gateway's own (a bad path) and an upstream's answer pass as written,
    // on a keep-alive connection whose first request was a normal one.
    let (_e, gw) = gateway(10).await;
    let mut conn = TcpStream::connect(gw.addr).await.unwrap();
    conn.write_all(b"GET /ok HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        .await
        .unwrap();
    let ok = read_response(&mut conn).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["upstream"], "app");
    conn.write_all(b"GET /a%2Fb HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        .await
        .unwrap();
    let bad = read_response(&mut conn).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"], "bad_path");
}

// --- client faults in the log ---

/// A `scangate run` process logging JSON to a file, pingora's lowered records included.
struct Logged {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Logged {
    async fn start(extra: &str) -> Logged {
        let dir = tempfile::tempdir().unwrap();
        let [listen_port, admin_port] = free_ports::<2>();
        let addr: SocketAddr = format!("127.0.0.1:{listen_port}").parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{admin_port}").parse().unwrap();
        let file = dir.path().join("scangate.yaml");
        std::fs::write(
            &file,
            config_yaml(addr, admin, dir.path().to_str().unwrap(), extra),
        )
        .unwrap();
        let log = dir.path().join("scangate.log");
        let out = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_scangate"))
            .args(["--log-format", "json", "run", "--config"])
            .arg(&file)
            .env("TEST_SECRET", SECRET)
            // DEBUG for pingora's records only: what the bridge lowered shows up.
            .env("RUST_LOG", "info,pingora_proxy=debug,pingora_core=debug")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let started = Instant::now();
        while TcpStream::connect(addr).await.is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("scangate exited at start ({status}):\n{text}");
            }
            assert!(started.elapsed() < BOUND, "scangate never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Logged {
            child,
            addr,
            log,
            _dir: dir,
        }
    }

    /// The log's lines (JSON), once it has stopped growing for a moment.
    async fn lines(&self) -> Vec<Value> {
        let mut last = String::new();
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let text = std::fs::read_to_string(&self.log).unwrap();
            if text == last || started.elapsed() > BOUND {
                return text
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
            }
            last = text;
        }
    }
}

fn level(line: &Value) -> &str {
    line["level"].as_str().unwrap_or("")
}

fn from_pingora(line: &Value) -> bool {
    line["target"]
        .as_str()
        .is_some_and(|t| t.starts_with("pingora"))
}

/// The lines at ERROR, and pingora's at WARN; and pingora's at DEBUG (lowered by the
/// bridge: its own DEBUG records are dropped where they are made).
fn split_levels(lines: &[Value]) -> (Vec<String>, Vec<String>) {
    let loud = lines
        .iter()
        .filter(|l| level(l) == "ERROR" || (level(l) == "WARN" && from_pingora(l)))
        .map(Value::to_string)
        .collect();
    let lowered = lines
        .iter()
        .filter(|l| level(l) == "DEBUG" && from_pingora(l))
        .map(Value::to_string)
        .collect();
    (loud, lowered)
}

/// Starts a request and hangs up (or resets) in the middle of it.
async fn hang_up(addr: SocketAddr, bytes: &[u8], reset: bool) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(bytes).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    if reset {
        // A zero linger makes the close a reset, at once (no blocking on drop).
        #[allow(deprecated)]
        conn.set_linger(Some(Duration::ZERO)).unwrap();
    }
    drop(conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_faults_are_not_logged_as_errors_but_upstream_faults_are() {
    let e = Echo::start("app").await;
    let (_dead_socket, dead) = dead_address();
    let p = Logged::start(&format!(
        r#"client_header_timeout_seconds: 1
routes:
  - name: app
    path_prefix: "/app"
    upstreams: ["{e}"]
    auth: public
  - name: dead
    path_prefix: "/dead"
    upstreams: ["{dead}"]
    auth: public
"#,
        e = e.addr
    ))
    .await;

    // A burst of clients at fault, all at once.
    let addr = p.addr;
    let mut tasks: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    for (_, bytes) in malformed_heads() {
        tasks.push(tokio::spawn(async move {
            let raw = answer_to(addr, &bytes).await;
            assert_eq!(raw.status, 400);
        }));
    }
    for _ in 0..3 {
        tasks.push(tokio::spawn(async move {
            assert_request_timeout(trickle(addr).await, Duration::from_secs(1));
        }));
    }
    for reset in [false, true, false, true] {
        tasks.push(tokio::spawn(hang_up(
            addr,
            b"GET /app/x HTTP/1.1\r\nHost: gatew",
            reset,
        )));
        tasks.push(tokio::spawn(hang_up(
            addr,
            b"POST /app/upload HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 100\r\n\r\nonly part",
            reset,
        )));
        tasks.push(tokio::spawn(hang_up(
            addr,
            b"POST /.auth/qr HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 100\r\n\r\n{\"rd\"",
            reset,
        )));
        tasks.push(tokio::spawn(hang_up(addr, b"", reset)));
    }
    tasks.push(tokio::spawn(async move {
        let raw = answer_to(
            addr,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        )
        .await;
        assert_eq!(raw.status, 405);
    }));
    for task in tasks {
        task.await.unwrap();
    }

    // The control: an upstream that refuses connections is the operator's problem.
    let dead_answer = reqwest::get(format!("http://{addr}/dead/x")).await.unwrap();
    assert_eq!(dead_answer.status(), 502);
    let ok = reqwest::get(format!("http://{addr}/app/after"))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let lines = p.lines().await;
    let (loud, lowered) = split_levels(&lines);
    let (upstream, other): (Vec<&String>, Vec<&String>) =
        loud.iter().partition(|l| l.contains("Upstream"));
    assert!(
        other.is_empty(),
        "client faults logged at ERROR or WARN:\n{}",
        other
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        !upstream.is_empty(),
        "the dead upstream was not logged as an error:\n{loud:?}"
    );
    // The faults did happen, and went to DEBUG rather than nowhere.
    assert!(
        lowered
            .iter()
            .any(|l| l.contains("request head not complete")),
        "no lowered deadline record:\n{lowered:?}"
    );
    assert!(
        lowered.iter().any(|l| l.contains("Downstream")),
        "no lowered downstream record:\n{lowered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_tls_handshakes_are_not_logged_as_errors() {
    let e = Echo::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_file = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let p = Logged::start(&format!(
        "tls:\n  cert_file: \"{}\"\n  key_file: \"{}\"\n{}",
        cert_file.display(),
        key_file.display(),
        public_route(e.addr)
    ))
    .await;
    // Plain HTTP to the TLS port, garbage, and hang-ups in the middle of a handshake.
    for _ in 0..3 {
        answer_to(p.addr, b"GET / HTTP/1.1\r\nHost: gateway.test\r\n\r\n").await;
        answer_to(p.addr, b"\x16\x03\x01\x00\x05hello").await;
        hang_up(p.addr, b"\x16\x03\x01", true).await;
    }
    let lines = p.lines().await;
    let (loud, lowered) = split_levels(&lines);
    assert!(
        loud.is_empty(),
        "logged at ERROR or WARN:\n{}",
        loud.join("\n")
    );
    assert!(
        lowered.iter().any(|l| l.contains("handshake")),
        "no lowered handshake record:\n{lowered:?}"
    );
}
