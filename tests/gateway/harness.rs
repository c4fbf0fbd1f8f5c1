//! Test harness: the real gateway (pingora) on loopback ports picked at runtime, echo
//! upstreams that report exactly what they received, and an HTTP client that never follows
//! redirects. Sessions are minted through the library, never through an HTTP backdoor.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scangate::config::env::MapEnv;
use scangate::identity::{Identity, LoginMethod, OpenId, Phone, UnionId, UserId};
use scangate::server::{self, RunningServer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const SECRET: &str = "test-session-secret-0123456789abcdef-0123456789";

pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct free ports: all are held open until all are chosen, so no two are the same
/// (a port released and picked again would give two listeners one address).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<StdListener> = (0..N)
        .map(|_| StdListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().expect("bound").port())
}

/// An address where connections are refused for as long as the returned socket lives: bound
/// but never listening, so no other test can take the port meanwhile.
pub fn dead_address() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits until something accepts connections on `addr` (generously: a loaded CI machine
/// can take seconds to start a process).
pub async fn wait_listening(addr: SocketAddr) {
    for _ in 0..800 {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {addr}");
}

// === echo upstream ===

/// An HTTP/1.1 upstream that answers every request with JSON describing it
/// (`{"upstream", "method", "target", "headers": [[name, value], ...]}`), keeps connections
/// alive, and for `Upgrade: websocket` answers 101 and echoes bytes back.
pub struct Echo {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Echo {
    pub async fn start(name: &'static str) -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_echo(stream, name));
            }
        });
        Echo { addr, task }
    }
}

async fn serve_echo(mut stream: TcpStream, name: &'static str) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect();
        let header = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        if header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
            let resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
            if stream.write_all(resp.as_bytes()).await.is_err() {
                return;
            }
            if !buf.is_empty() && stream.write_all(&buf).await.is_err() {
                return;
            }
            let mut chunk = [0u8; 4096];
            loop {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if stream.write_all(&chunk[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
        let body_len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < body_len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..body_len);
        let body = serde_json::json!({
            "upstream": name,
            "method": method,
            "target": target,
            "headers": headers,
        })
        .to_string();
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
            body.len(),
            body
        );
        if stream.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What an echo upstream reported.
pub struct Seen(pub Value);

impl Seen {
    pub fn upstream(&self) -> &str {
        self.0["upstream"].as_str().unwrap()
    }
    pub fn target(&self) -> &str {
        self.0["target"].as_str().unwrap()
    }
    /// All values of a header, matching the name case-insensitively and with `_` = `-`.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        let fold = |s: &str| s.to_ascii_lowercase().replace('_', "-");
        let want = fold(name);
        self.0["headers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|pair| fold(pair[0].as_str().unwrap()) == want)
            .map(|pair| pair[1].as_str().unwrap().to_string())
            .collect()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        let all = self.header_all(name);
        assert!(all.len() <= 1, "{name} seen {} times: {all:?}", all.len());
        all.into_iter().next()
    }
}

// === gateway ===

/// The `routes:` entries of one `auth: login` route named `app` to `upstream`.
pub fn login_routes(upstream: SocketAddr) -> String {
    format!("  - name: app\n    upstreams: [\"{upstream}\"]\n    auth: login\n")
}

/// A gateway with one `auth: login` route to a fresh echo upstream, and `extra` top-level
/// YAML (login, wechat, ... sections).
pub async fn login_gateway(extra: &str) -> (Echo, Gateway) {
    let e = Echo::start("app").await;
    let routes = login_routes(e.addr);
    let gw = Gateway::start(&format!("{extra}\nroutes:\n{routes}")).await;
    (e, gw)
}

pub struct Gateway {
    pub server: Option<RunningServer>,
    pub base: String,
    pub addr: SocketAddr,
    pub admin: String,
    pub client: reqwest::Client,
    /// Holds the data directory (store, assertion key) for the gateway's lifetime.
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }
}

/// The YAML of a test gateway: `{listen}`, `{admin}`, `{data}` are filled in; `extra` is
/// appended at the top level (routes and any other keys).
pub fn config_yaml(listen: SocketAddr, admin: SocketAddr, data: &str, extra: &str) -> String {
    // `extra` may bring its own wechat section; otherwise the simulator plays WeChat.
    let wechat = if extra.lines().any(|l| l.starts_with("wechat:")) {
        ""
    } else {
        "wechat:\n  simulate: true\n"
    };
    // ...and its own store section (Redis tests).
    let store = if extra.lines().any(|l| l.starts_with("store:")) {
        String::new()
    } else {
        format!("store:\n  path: \"{data}/scangate.db\"\n")
    };
    format!(
        r#"listen: "{listen}"
public_url: "http://gateway.test:{port}"
admin_listen: "{admin}"
shutdown_timeout_seconds: 1
{store}session:
  secret: "${{TEST_SECRET}}"
{wechat}{extra}
"#,
        port = listen.port()
    )
}

/// The `public_url` of a gateway started by [`Gateway::start_in`]: the same across restarts.
pub const RESTARTED: &str = "http://gateway.test";

/// A config tweak making the gateway an instance of the deployment at `origin` (on the host
/// `gateway.test`, over http). Each test gateway is otherwise its own deployment
/// (`http://gateway.test:<port>`); instances and restarts of one deployment share their
/// `public_url`, and only they accept each other's session cookies (`iss`).
pub fn deployment(origin: &str) -> impl Fn(&mut scangate::config::Config) + '_ {
    move |c| {
        c.public_url.origin = origin.to_string();
        c.session.issuer = origin.to_string();
    }
}

pub fn env() -> MapEnv {
    MapEnv::new().var("TEST_SECRET", SECRET)
}

impl Gateway {
    /// Starts a gateway with the given top-level YAML (routes etc.).
    pub async fn start(extra: &str) -> Gateway {
        Self::start_with(extra, |_| {}).await
    }

    /// Starts a gateway whose store lives in `data` (which outlives it: restart tests). Every
    /// start is the same deployment ([`RESTARTED`]), as a restarted gateway is.
    pub async fn start_in(data: &std::path::Path, extra: &str) -> Gateway {
        Self::start_impl(None, data.to_str().unwrap(), extra, deployment(RESTARTED)).await
    }

    /// Starts a gateway on a listen address chosen beforehand (when a simulator must know
    /// its callback URL first), with the config changed by `tweak` after parsing.
    pub async fn start_at_with(
        listen: SocketAddr,
        extra: &str,
        tweak: impl Fn(&mut scangate::config::Config),
    ) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let mut gw =
            Self::start_impl(Some(listen), dir.path().to_str().unwrap(), extra, tweak).await;
        gw._dir = Some(dir);
        gw
    }

    pub async fn start_with(extra: &str, tweak: impl Fn(&mut scangate::config::Config)) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let mut gw = Self::start_impl(None, dir.path().to_str().unwrap(), extra, tweak).await;
        gw._dir = Some(dir);
        gw
    }

    async fn start_impl(
        listen: Option<SocketAddr>,
        data: &str,
        extra: &str,
        tweak: impl Fn(&mut scangate::config::Config),
    ) -> Gateway {
        // Ports are picked before the gateway binds them; a parallel test may take one in
        // between, so a clash is retried with fresh ports.
        let mut attempt = 0;
        let (server, listen, admin, tls) = loop {
            attempt += 1;
            let [listen_port, admin_port] = free_ports::<2>();
            let listen: SocketAddr =
                listen.unwrap_or_else(|| format!("127.0.0.1:{listen_port}").parse().unwrap());
            let admin: SocketAddr = format!("127.0.0.1:{admin_port}").parse().unwrap();
            if admin.port() == listen.port() {
                continue; // the caller's port, released before we chose: choose again
            }
            let yaml = config_yaml(listen, admin, data, extra);
            let mut config = scangate::config::from_yaml(&yaml, &env())
                .unwrap_or_else(|e| panic!("test config invalid:\n{e}\n---\n{yaml}"));
            tweak(&mut config);
            let tls = config.tls.is_some();
            match server::spawn(config, prometheus::Registry::new()) {
                Ok(server) => break (server, listen, admin, tls),
                Err(server::StartupError::Listen { .. }) if attempt < 5 => continue,
                Err(e) => panic!("gateway did not start: {e}"),
            }
        };
        wait_listening(listen).await;
        wait_listening(admin).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let scheme = if tls { "https" } else { "http" };
        Gateway {
            server: Some(server),
            base: format!("{scheme}://127.0.0.1:{}", listen.port()),
            addr: listen,
            admin: format!("http://{admin}"),
            client,
            _dir: None,
        }
    }

    pub fn app(&self) -> &Arc<scangate::proxy::App> {
        &self.server.as_ref().unwrap().app
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A session cookie (`name=token`) for `identity`, issued at `issued_at`.
    pub fn cookie_at(&self, identity: &Identity, issued_at: u64) -> String {
        let (token, _) = self.app().sessions.issue(identity, issued_at);
        format!("{}={}", self.app().sessions.cookie_name(), token)
    }

    pub fn cookie(&self, identity: &Identity) -> String {
        self.cookie_at(identity, now())
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path))
    }

    pub fn browser_get(&self, path: &str) -> reqwest::RequestBuilder {
        self.get(path).header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
    }

    /// The admin listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.admin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// `text` without its ANSI colour sequences (`ESC [ ... m`), as log captures hold it.
pub fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn alice() -> Identity {
    Identity {
        user_id: UserId::new("u_alice"),
        openid: Some(OpenId::new("o_alice_openid")),
        unionid: Some(UnionId::new("un_alice")),
        phone: Some(Phone::parse("13800138000").unwrap()),
        method: LoginMethod::OfficialAccount,
    }
}

pub fn bob_without_phone() -> Identity {
    Identity {
        user_id: UserId::new("u_bob"),
        openid: Some(OpenId::new("o_bob_openid")),
        unionid: None,
        phone: None,
        method: LoginMethod::OfficialAccount,
    }
}

pub async fn seen(resp: reqwest::Response) -> Seen {
    assert_eq!(resp.status(), 200, "expected the upstream's answer");
    Seen(resp.json().await.unwrap())
}

/// Sends the request and returns only the status.
pub async fn status(req: reqwest::RequestBuilder) -> u16 {
    req.send().await.unwrap().status().as_u16()
}

pub async fn json(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

// === raw HTTP/1.1 client (for targets an HTTP library would normalise) ===

/// A response read off the wire.
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

/// Sends `GET <target>` with extra header lines exactly as given, reads one response.
pub async fn raw_get(addr: SocketAddr, target: &str, extra_headers: &[&str]) -> Raw {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n");
    for h in extra_headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    parse_raw(&out)
}

pub fn parse_raw(bytes: &[u8]) -> Raw {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();
    Raw {
        status,
        headers,
        body: body.to_string(),
    }
}

/// Sends `request` (a whole HTTP/1.x request, as written) on a fresh connection and reads
/// the response until the server closes it (send `Connection: close`).
pub async fn raw_request(addr: SocketAddr, request: &str) -> Raw {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "no answer to {request:?}");
    parse_raw(&out)
}

// === nginx (forward auth behind a real nginx) ===

/// An nginx started for one test: its own prefix directory, config, pid and logs in a temp
/// dir, in the foreground, on a port picked at runtime; stopped when dropped.
pub struct Nginx {
    pub addr: SocketAddr,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> Option<std::path::PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()]);
    candidates
        .map(|dir| dir.join("nginx"))
        .find(|path| path.is_file())
}

impl Nginx {
    /// Starts nginx with `server` (the body of one `server { }` block, `{listen}` filled in).
    /// `None`, with one line saying so, when nginx is not installed; CI sets
    /// `SCANGATE_TEST_REQUIRE_NGINX=1`, which makes a missing nginx a failure.
    pub async fn start(test: &str, http: &str, server: &str) -> Option<Nginx> {
        let Some(binary) = nginx_binary() else {
            assert!(
                std::env::var_os("SCANGATE_TEST_REQUIRE_NGINX").is_none(),
                "nginx is required (SCANGATE_TEST_REQUIRE_NGINX is set) but not installed"
            );
            eprintln!("skipped {test}: nginx is not installed (apt-get install nginx)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let p = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\n\
             error_log {p}/error.log warn;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  \
             proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n  \
             uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n{http}\n  \
             server {{\n    listen {addr};\n{server}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = std::process::Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx starts");
        let mut nginx = Nginx {
            addr,
            child,
            _dir: dir,
        };
        for _ in 0..400 {
            if TcpStream::connect(addr).await.is_ok() {
                return Some(nginx);
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = std::fs::read_to_string(nginx._dir.path().join("error.log"))
                    .unwrap_or_default();
                panic!("nginx exited ({status}):\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("nginx does not listen on {addr}");
    }
}

/// The Python of `SCANGATE_TEST_PYTHON` (default `python3`) when it can `import {modules}`;
/// otherwise a one-line skip, or a failure where CI requires it
/// (`SCANGATE_TEST_REQUIRE_WECHATPY=1`, which installs `tests/interop/requirements.txt`).
pub fn python_with(modules: &str, what: &str) -> Option<String> {
    let python = std::env::var("SCANGATE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let found = std::process::Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(python);
    }
    assert!(
        std::env::var_os("SCANGATE_TEST_REQUIRE_WECHATPY").is_none(),
        "{what} is required (SCANGATE_TEST_REQUIRE_WECHATPY is set) but `{python} -c 'import {modules}'` fails"
    );
    eprintln!("skipped: no Python with {what} (set SCANGATE_TEST_PYTHON)");
    None
}
