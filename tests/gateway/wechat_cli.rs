//! `scangate wechat check` and `scangate wechat menu push|show`, run as the binary against
//! the simulator over real HTTP.

use std::path::{Path, PathBuf};
use std::process::Command;

use scangate::wechat_sim::{SimConfig, SimHandle, Simulator};

use crate::harness::*;

const APP_ID: &str = "wx00000000000000dd";

async fn simulator() -> SimHandle {
    Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: "right-secret".into(),
        token: "tok".into(),
        encoding_aes_key: None,
        callback_url: "http://127.0.0.1:9/unused".into(),
    })
    .await
    .unwrap()
}

fn config(dir: &Path, sim: &SimHandle, secret: &str) -> PathBuf {
    let file = dir.join("scangate.yaml");
    std::fs::write(
        &file,
        format!(
            "public_url: \"https://app.example.com\"\nstore:\n  path: \"{}/s.db\"\nsession:\n  secret: \"{SECRET}\"\nwechat:\n  api_base: \"{}\"\n  official_account:\n    app_id: \"{APP_ID}\"\n    app_secret: \"{secret}\"\n    token: \"tok\"\nroutes:\n  - name: app\n    upstreams: [\"127.0.0.1:9\"]\n",
            dir.display(),
            sim.api_base()
        ),
    )
    .unwrap();
    file
}

/// Runs the binary off the test's runtime threads (it blocks while the simulator answers).
async fn scangate(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_scangate"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn args(parts: &[&str], file: &Path) -> Vec<String> {
    let mut v: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
    v.push("--config".into());
    v.push(file.display().to_string());
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_ok_or_what_is_wrong_in_plain_words() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let good = config(dir.path(), &sim, "right-secret");
    let out = scangate(args(&["wechat", "check"], &good)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("result:  ok"), "{stdout}");
    // The quota logins spend, as WeChat counts it.
    sim.set_quota("/cgi-bin/qrcode/create", 10_000, 7_500);
    let out = scangate(args(&["wechat", "check"], &good)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("quota:   qrcode/create: 2500 of 10000 calls left today (7500 used)"),
        "{stdout}"
    );

    let bad = config(dir.path(), &sim, "wrong-secret");
    let out = scangate(args(&["wechat", "check"], &bad)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("40125"), "{stdout}");
    assert!(stdout.contains("meaning:"), "{stdout}");
    assert!(!stdout.contains("wrong-secret"), "the secret was printed");

    sim.set_ip_whitelisted(false);
    let out = scangate(args(&["wechat", "check"], &good)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("40164") && stdout.to_lowercase().contains("whitelist"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn menu_push_validates_locally_then_sets_the_menu_and_show_prints_it() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = config(dir.path(), &sim, "right-secret");
    let menu = dir.path().join("menu.yaml");
    std::fs::write(
        &menu,
        "button:\n  - type: click\n    name: \"今日\"\n    key: TODAY\n  - name: \"更多\"\n    sub_button:\n      - type: view\n        name: \"官网\"\n        url: \"https://app.example.com/\"\n",
    )
    .unwrap();
    let mut push = args(&["wechat", "menu", "push"], &file);
    push.extend(["--menu".to_string(), menu.display().to_string()]);
    let out = scangate(push.clone()).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let served = sim.menu().expect("the simulator has the menu");
    assert!(served.to_string().contains("TODAY"), "{served}");

    let out = scangate(args(&["wechat", "menu", "show"], &file)).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("官网"));

    // Four top-level buttons and a long name: refused locally, every problem with its path.
    std::fs::write(
        &menu,
        "button:\n  - {type: click, name: a, key: A}\n  - {type: click, name: b, key: B}\n  - {type: click, name: c, key: C}\n  - {type: click, name: \"一个非常非常长的菜单名字\", key: D}\n",
    )
    .unwrap();
    let creates = sim.counters().menu_creates;
    let out = scangate(push).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("button"), "{stderr}");
    assert!(stderr.contains("button[3].name"), "{stderr}");
    assert_eq!(
        sim.counters().menu_creates,
        creates,
        "nothing was sent to WeChat"
    );
}

#[test]
fn the_example_menu_is_valid() {
    let menu = scangate::cli::wechat::load_menu(Path::new("examples/menu.yaml")).unwrap();
    assert_eq!(menu.button.len(), 3);
}
