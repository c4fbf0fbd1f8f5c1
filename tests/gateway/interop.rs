//! The callback against an independent WeChat implementation: wechatpy (Python) encrypts
//! WeChat's pushes and decrypts our replies on one side, and is the account's own backend
//! behind `forward_url` on the other (tests/interop/wechatpy_peer.py).
//!
//! Needs a Python with wechatpy (`SCANGATE_TEST_PYTHON`, default `python3`); skipped with one
//! line when there is none, unless `SCANGATE_TEST_REQUIRE_WECHATPY=1` (as in CI, which
//! installs it).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::harness::*;
use crate::owning::{gateway, AES_KEY, APP_ID, TOKEN};

fn python() -> Option<String> {
    python_with("wechatpy", "wechatpy")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/wechatpy_peer.py")
}

/// The wechatpy backend; killed on drop.
struct Backend {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Backend {
    fn start(python: &str, port: u16) -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("received.jsonl");
        let mut child = Command::new(python)
            .arg(script())
            .args(["backend", "--port", &port.to_string(), "--log"])
            .arg(&log)
            .args(["--token", TOKEN, "--aes", AES_KEY, "--appid", APP_ID])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), "ready");
        Backend {
            child,
            log,
            _dir: dir,
        }
    }

    /// What the backend decrypted, one object per forwarded push.
    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// wechatpy as WeChat: each push sealed in safe mode and posted; the replies as it reads them.
fn push(python: &str, gw: &Gateway, pushes: &[Value]) -> Vec<Value> {
    let mut child = Command::new(python)
        .arg(script())
        .args([
            "push",
            "--url",
            &format!("{}/.auth/wechat/callback", gw.base),
        ])
        .args(["--token", TOKEN, "--aes", AES_KEY, "--appid", APP_ID])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for p in pushes {
        writeln!(stdin, "{p}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "wechatpy push failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wechatpy_on_both_sides_agrees_with_the_gateway() {
    let Some(python) = python() else { return };
    let port = free_port();
    let backend = Backend::start(&python, port);
    let (_app, gw) = gateway(
        true,
        &format!("    forward_url: \"http://127.0.0.1:{port}/wx\"\n    replies:\n      subscribe: \"欢迎关注\"\n"),
    )
    .await;
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    let ticket = browser.wechat_ticket(&id).await;

    let pushes = [
        // The account's own channel code, followed through: forwarded, and greeted by us.
        json!({"event": "subscribe", "key": "qrscene_promo2024", "ticket": "gQpromo", "openid": "o_py_1"}),
        // A follower scanning a numeric channel code: forwarded, nothing said.
        json!({"event": "SCAN", "key": "123", "ticket": "gQnumeric", "openid": "o_py_2"}),
        // A message: forwarded, and the backend's own encrypted reply relayed.
        json!({"text": "ping", "openid": "o_py_3"}),
        // Our login code, scanned by someone new (login.phone off here): signed in.
        json!({"event": "SCAN", "key": id, "ticket": ticket, "openid": "o_py_4"}),
        // ...and by someone else after that: used.
        json!({"event": "SCAN", "key": id, "ticket": ticket, "openid": "o_py_5"}),
    ];
    let replies = push(&python, &gw, &pushes);
    let texts: Vec<(u64, &str)> = replies
        .iter()
        .map(|r| (r["status"].as_u64().unwrap(), r["reply"].as_str().unwrap()))
        .collect();
    assert_eq!(
        texts,
        [
            (200, "欢迎关注"),
            (200, "success"),
            (200, "pong"),
            (200, "登录成功"),
            (200, "该二维码已被使用，请在电脑上刷新后重新扫码"),
        ]
    );
    assert_eq!(
        browser.poll(&id, "waiting", 5).await.body["status"],
        "confirmed"
    );

    let received = backend.received();
    assert!(
        received.iter().all(|r| r.get("error").is_none()),
        "wechatpy could not read a forwarded push: {received:?}"
    );
    let seen: Vec<(&str, &str)> = received
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap_or(""),
                r["scene_id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("event", "promo2024"), ("event", "123"), ("text", "")],
        "the account's pushes, and only those, reached its backend"
    );
}
