//! Running it: metrics and health on the admin listener, TLS with HTTP/2, WebSocket
//! pass-through, the `check` and `run` commands (exit codes, SIGTERM).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

async fn one_route(auth: &str) -> (Echo, Gateway) {
    let e = Echo::start("app").await;
    let gw = Gateway::start(&format!(
        "routes:\n  - name: app\n    upstreams: [\"{}\"]\n    auth: {auth}\n",
        e.addr
    ))
    .await;
    (e, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_listener_serves_metrics_and_health() {
    let (_e, gw) = one_route("login").await;
    gw.get("/x").send().await.unwrap();
    gw.get("/x")
        .header("cookie", gw.cookie(&alice()))
        .send()
        .await
        .unwrap();
    gw.get("/.auth/nope").send().await.unwrap();

    let health = gw
        .client
        .get(format!("{}/healthz", gw.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = gw
        .client
        .get(format!("{}/readyz", gw.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    // The logging phase runs after the response is sent: give it a moment.
    let mut text = String::new();
    for _ in 0..50 {
        text = gw
            .client
            .get(format!("{}/metrics", gw.admin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains(r#"scangate_requests_total{code_class="4xx",route="_auth"} 1"#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for expected in [
        r#"scangate_requests_total{code_class="2xx",route="app"} 1"#,
        r#"scangate_requests_total{code_class="4xx",route="app"} 1"#,
        r#"scangate_requests_total{code_class="4xx",route="_auth"} 1"#,
        r#"scangate_auth_decisions_total{decision="allowed"} 1"#,
        r#"scangate_auth_decisions_total{decision="unauthenticated"} 1"#,
        r#"scangate_request_duration_seconds_count{route="app"} 2"#,
        // The readiness probe's store health check, through the metered store.
        r#"scangate_store_operation_duration_seconds_count{op="health"}"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_pass_after_the_same_check() {
    let (_e, gw) = one_route("login").await;
    let handshake = |cookie: Option<String>| {
        let mut req = String::from(
            "GET /ws HTTP/1.1\r\nHost: gateway.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        );
        if let Some(c) = cookie {
            req.push_str(&format!("Cookie: {c}\r\n"));
        }
        req.push_str("\r\n");
        req
    };

    let mut anon = TcpStream::connect(gw.addr).await.unwrap();
    anon.write_all(handshake(None).as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = anon.read(&mut buf).await.unwrap();
    assert_eq!(parse_raw(&buf[..n]).status, 401);

    let mut ws = TcpStream::connect(gw.addr).await.unwrap();
    ws.write_all(handshake(Some(gw.cookie(&alice()))).as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = ws.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed during the handshake");
        head.extend_from_slice(&buf[..n]);
    }
    assert_eq!(parse_raw(&head).status, 101);
    ws.write_all(b"hello through the gate").await.unwrap();
    let mut echoed = Vec::new();
    while echoed.len() < 22 {
        let n = tokio::time::timeout(Duration::from_secs(5), ws.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        echoed.extend_from_slice(&buf[..n]);
    }
    assert_eq!(&echoed, b"hello through the gate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_speaks_http2_by_alpn() {
    let e = Echo::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_file = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let gw = Gateway::start_with(
        &format!(
            "routes:\n  - name: app\n    upstreams: [\"{}\"]\n    auth: public\n",
            e.addr
        ),
        |c| {
            c.tls = Some(scangate::config::TlsConfig {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
            });
        },
    )
    .await;
    let resp = gw.get("/x").send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let seen = seen(resp).await;
    assert_eq!(seen.header("x-forwarded-proto").as_deref(), Some("https"));
}

fn scangate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scangate"))
}

#[test]
fn check_reports_every_problem_with_its_path_and_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        r#"listen: "nope"
public_url: "https://app.example.com"
session:
  secret: "short"
  surprise: 1
routes:
  - name: app
    upstreams: ["abc"]
    auth: sometimes
"#,
    )
    .unwrap();
    let out = scangate()
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for path in [
        "listen",
        "session.secret",
        "session.surprise",
        "routes[0].upstreams[0]",
        "routes[0].auth",
    ] {
        assert!(
            stderr.contains(&format!("{path}:")),
            "no problem reported at {path}:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("short"),
        "a secret value was printed:\n{stderr}"
    );
}

#[test]
fn check_accepts_the_example_config() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["app.example.com".to_string()]).unwrap();
    let cert_file = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let out = scangate()
        .args(["check", "--config", "conf/scangate.example.yaml"])
        .env("SCANGATE_SESSION_SECRET", SECRET)
        .env("SCANGATE_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/0")
        .env("SCANGATE_TLS_CERT_FILE", &cert_file)
        .env("SCANGATE_TLS_KEY_FILE", &key_file)
        .env("WECHAT_OA_APP_SECRET", "app-secret-value")
        .env("WECHAT_OA_TOKEN", "callbacktoken")
        .env(
            "WECHAT_OA_ENCODING_AES_KEY",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        )
        .env("WECHAT_MP_APP_SECRET", "mp-secret-value")
        .env("WECHAT_WEB_APP_SECRET", "web-secret-value")
        .env("TENCENT_SMS_SECRET_ID", "sms-id")
        .env("TENCENT_SMS_SECRET_KEY", "sms-key")
        .env("ALIYUN_SMS_ACCESS_KEY_ID", "aliyun-id")
        .env("ALIYUN_SMS_ACCESS_KEY_SECRET", "aliyun-secret")
        .env(
            "SCANGATE_ADMIN_API_TOKEN",
            "admin-token-0123456789abcdef-0123456789",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains("ok: "), "{stdout}");
    for secret in [
        SECRET,
        "hunter2",
        "app-secret-value",
        "callbacktoken",
        "sms-key",
        "aliyun-secret",
        "admin-token-0123456789abcdef",
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} printed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_and_sigterm_stops_it_within_seconds() {
    let e = Echo::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let [listen_port, admin_port] = free_ports::<2>();
    let listen = format!("127.0.0.1:{listen_port}").parse().unwrap();
    let admin = format!("127.0.0.1:{admin_port}").parse().unwrap();
    let yaml = config_yaml(
        listen,
        admin,
        dir.path().to_str().unwrap(),
        &format!(
            "routes:\n  - name: app\n    upstreams: [\"{}\"]\n    auth: public\n",
            e.addr
        ),
    );
    let file = dir.path().join("scangate.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut child = scangate()
        .args(["--log-format", "json", "run", "--config"])
        .arg(&file)
        .env("TEST_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(listen).await;
    let resp = reqwest::get(format!("http://{listen}/x")).await.unwrap();
    assert_eq!(resp.status(), 200);

    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("scangate did not exit within 15 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}
