//! The `run` command as an operator runs it, in its own process: SIGHUP reloads (and refuses
//! a broken file), SIGTERM drains (answering waiting long-polls, exiting as soon as nothing
//! is in flight), and `kill -9` in the middle of writes leaves a sound SQLite file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// A `scangate run` child process with its config file and data directory.
struct Process {
    child: Child,
    listen: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    file: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn yaml(p: &Process, extra: &str) -> String {
    config_yaml(p.listen, p.admin, p.dir.path().to_str().unwrap(), extra)
}

impl Process {
    async fn start(extra: &str) -> Process {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, extra, |y| y).await
    }

    async fn start_in(
        dir: tempfile::TempDir,
        extra: &str,
        edit: impl Fn(String) -> String,
    ) -> Process {
        let [listen_port, admin_port] = free_ports::<2>();
        let listen = format!("127.0.0.1:{listen_port}").parse().unwrap();
        let admin = format!("127.0.0.1:{admin_port}").parse().unwrap();
        let file = dir.path().join("scangate.yaml");
        let mut p = Process {
            child: Command::new("true").spawn().unwrap(),
            listen,
            admin,
            file,
            dir,
        };
        let _ = p.child.wait();
        std::fs::write(&p.file, edit(yaml(&p, extra))).unwrap();
        let log = std::fs::File::create(p.dir.path().join("scangate.log")).unwrap();
        p.child = Command::new(env!("CARGO_BIN_EXE_scangate"))
            .args(["--log-format", "json", "run", "--config"])
            .arg(&p.file)
            .env("TEST_SECRET", SECRET)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        // A process that exits at start (bad config, store) says why.
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(listen).await.is_ok() {
                break;
            }
            if let Some(status) = p.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(p.dir.path().join("scangate.log")).unwrap();
                panic!("scangate exited at start ({status}):\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        wait_listening(listen).await;
        wait_listening(admin).await;
        p
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listen)
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits for the process to exit; its status and how long that took.
    async fn exited(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < limit,
                "scangate did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn metric(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn routes(upstream: std::net::SocketAddr, prefix: &str) -> String {
    format!(
        "routes:\n  - name: app\n    path_prefix: \"{prefix}\"\n    upstreams: [\"{upstream}\"]\n    auth: public\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_routes_and_a_broken_file_leaves_the_old_config_serving() {
    let e = Echo::start("app").await;
    let p = Process::start(&routes(e.addr, "/old")).await;
    let status = |path: &'static str| {
        let url = p.url(path);
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/old/x").await, 200);
    assert_eq!(status("/new/x").await, 404);

    std::fs::write(&p.file, yaml(&p, &routes(e.addr, "/new"))).unwrap();
    p.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while status("/new/x").await != 200 {
        assert!(Instant::now() < deadline, "the new route never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status("/old/x").await, 404);
    let m = p.metrics().await;
    assert_eq!(
        metric(&m, "scangate_config_reloads_total{outcome=\"success\"}"),
        Some(1.0),
        "{m}"
    );
    let stamp = metric(&m, "scangate_config_last_reload_success_timestamp_seconds").unwrap();
    assert!(stamp > 1.7e9, "{stamp}");

    // A broken file: refused, counted, and the routes stay as they were.
    std::fs::write(
        &p.file,
        "routes: [{name: 1, upstreams: nope}]\nlisten: nonsense\n",
    )
    .unwrap();
    p.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = p.metrics().await;
        if metric(&m, "scangate_config_reloads_total{outcome=\"failure\"}") == Some(1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failed reload was not counted: {m}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status("/new/x").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_waiting_long_polls_and_exits_once_drained() {
    let e = Echo::start("app").await;
    let mut p = Process::start_in(tempfile::tempdir().unwrap(), &routes(e.addr, "/"), |y| {
        y.replace(
            "shutdown_timeout_seconds: 1\n",
            "shutdown_timeout_seconds: 10\n",
        )
    })
    .await;
    let client = reqwest::Client::new();
    let started: Value = client
        .post(p.url("/.auth/qr"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = started["id"].as_str().unwrap().to_string();
    // The binding cookie is needed to poll; take it from a second start's answer.
    let resp = client
        .post(p.url("/.auth/qr"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("scangate_login_"))
        .unwrap();
    let second: Value = resp.json().await.unwrap();
    let poll_id = second["id"].as_str().unwrap().to_string();
    assert_ne!(poll_id, id);
    let poll = tokio::spawn({
        let url = p.url(&format!("/.auth/qr/{poll_id}?since=waiting&wait=25"));
        let client = client.clone();
        async move {
            let t = Instant::now();
            let r = client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap(), t.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    p.signal("TERM");
    let (status, body, waited) = poll.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"waiting\""), "{body}");
    assert!(
        waited < Duration::from_secs(5),
        "the poll waited {waited:?}"
    );
    let (exit, took) = p.exited(Duration::from_secs(12)).await;
    assert!(exit.success(), "{exit:?}");
    // Nothing was in flight any more: no need to sit out the 10 s timeout.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // And it no longer accepts.
    assert!(tokio::net::TcpStream::connect(p.listen).await.is_err());
}

fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_writes_leaves_a_sound_store() {
    let e = Echo::start("app").await;
    let extra = format!(
        "login:\n  limits:\n    qr_per_ip_per_minute: 0\n{}",
        routes(e.addr, "/")
    );
    let mut p = Process::start(&extra).await;
    let client = reqwest::Client::new();
    // Writers: every login start writes an attempt (and WeChat's code) to the store.
    let mut writers = Vec::new();
    for _ in 0..4 {
        let client = client.clone();
        let url = p.url("/.auth/qr");
        writers.push(tokio::spawn(async move {
            let mut ok = 0u32;
            while let Ok(r) = client.post(&url).json(&serde_json::json!({})).send().await {
                if r.status() == 201 {
                    ok += 1;
                }
            }
            ok
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    p.signal("KILL");
    let (exit, _) = p.exited(Duration::from_secs(5)).await;
    assert!(!exit.success());
    let mut written = 0;
    for w in writers {
        written += w.await.unwrap();
    }
    assert!(written > 0, "no write happened before the kill");

    // Both parts of the embedded store: users and revocations (fsynced), login state (not).
    let db = p.dir.path().join("scangate.db");
    assert_eq!(integrity(&db), "ok");
    let ephemeral = p.dir.path().join("scangate.ephemeral.db");
    assert_eq!(integrity(&ephemeral), "ok");
    // The same store serves again.
    let dir = std::mem::replace(&mut p.dir, tempfile::tempdir().unwrap());
    drop(p);
    let again = Process::start_in(dir, &extra, |y| y).await;
    let r = client
        .post(again.url("/.auth/qr"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let ready = reqwest::get(format!("http://{}/readyz", again.admin))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

/// The access log is written by a thread of its own, buffered: every line of every request
/// answered must still be in the log when the process exits after SIGTERM, SIGHUP or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_access_line_is_lost_across_sighup_and_sigterm() {
    let e = Echo::start("app").await;
    let mut p = Process::start(&routes(e.addr, "/")).await;
    let client = reqwest::Client::new();
    const EACH: usize = 300;
    let send = |from: usize| {
        let client = client.clone();
        let base = p.url("");
        async move {
            let mut tasks = Vec::new();
            for worker in 0..6 {
                let client = client.clone();
                let base = base.clone();
                tasks.push(tokio::spawn(async move {
                    for n in (from + worker..from + EACH).step_by(6) {
                        let r = client.get(format!("{base}/n/{n}")).send().await.unwrap();
                        assert_eq!(r.status(), 200);
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
    };
    send(0).await;
    p.signal("HUP");
    send(EACH).await;
    p.signal("TERM");
    let (exit, _) = p.exited(Duration::from_secs(10)).await;
    assert!(exit.success(), "{exit:?}");
    let log = std::fs::read_to_string(p.dir.path().join("scangate.log")).unwrap();
    let mut seen = vec![0u32; 2 * EACH];
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            panic!("a log line that is not JSON (torn or interleaved?): {line:?}");
        };
        if v["target"] != "access" {
            continue;
        }
        let path = v["path"].as_str().unwrap();
        if let Some(n) = path.strip_prefix("/n/") {
            seen[n.parse::<usize>().unwrap()] += 1;
        }
    }
    let missing: Vec<usize> = (0..2 * EACH).filter(|&n| seen[n] != 1).collect();
    assert!(
        missing.is_empty(),
        "requests not logged exactly once: {missing:?}"
    );
    // The drain's last line is written a moment before the process exits: it is there too.
    let last = log
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert!(last.contains("scangate stopped"), "last line: {last}");
}
