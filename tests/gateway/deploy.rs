//! The deployments in `deploy/`: every scangate config there passes the checks `scangate
//! check` runs, with the `.env.example` (or Secret) shipped beside it, and the Grafana
//! dashboard asks only for metric families a real gateway exports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use scangate::config::env::MapEnv;
use scangate::config::from_yaml;
use serde_json::Value;

use crate::browser::Browser;
use crate::harness::*;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// `KEY=VALUE` lines of an env file (comments and blanks skipped), as Docker and systemd read them.
fn env_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("{}: not KEY=VALUE: {l}", path.display()));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn map_env(vars: &[(String, String)]) -> MapEnv {
    vars.iter()
        .fold(MapEnv::new(), |env, (k, v)| env.var(k.as_str(), v.as_str()))
}

fn assert_checks(what: &str, yaml: &str, vars: &[(String, String)]) {
    if let Err(errors) = from_yaml(yaml, &map_env(vars)) {
        panic!("{what} fails `scangate check`:\n{errors}");
    }
}

/// Every YAML file under `deploy/` that is a scangate config, or a ConfigMap holding one:
/// (file, the config's text).
fn configs_in_deploy() -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut dirs = vec![deploy_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if !matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for doc in text.split("\n---\n") {
                let Ok(value) = yaml_serde::from_str::<yaml_serde::Value>(doc) else {
                    continue;
                };
                if value.get("routes").is_some() && value.get("public_url").is_some() {
                    found.push((path.clone(), doc.to_string()));
                } else if value.get("kind").and_then(|k| k.as_str()) == Some("ConfigMap") {
                    let data = value.get("data").and_then(|d| d.as_mapping());
                    for (_, config) in data.into_iter().flatten() {
                        if let Some(config) = config.as_str() {
                            found.push((path.clone(), config.to_string()));
                        }
                    }
                }
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_config_in_deploy_passes_check_with_the_env_shipped_beside_it() {
    let configs = configs_in_deploy();
    let names: Vec<String> = configs
        .iter()
        .map(|(p, _)| p.strip_prefix(deploy_dir()).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "compose/scangate.yaml",
            "kubernetes/configmap.yaml",
            "systemd/scangate.yaml"
        ],
        "the configs the deployments hold"
    );
    for (path, yaml) in &configs {
        let dir = path.parent().unwrap();
        let vars = env_file(&dir.join(".env.example"));
        assert_checks(&path.display().to_string(), yaml, &vars);
    }
    // Kubernetes reads them from the Secret: its placeholders pass too.
    let secret: yaml_serde::Value = yaml_serde::from_str(
        &std::fs::read_to_string(deploy_dir().join("kubernetes/secret.yaml")).unwrap(),
    )
    .unwrap();
    let vars: Vec<(String, String)> = secret["stringData"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().into(), v.as_str().unwrap().into()))
        .collect();
    assert_checks(
        "kubernetes/configmap.yaml with secret.yaml",
        &configs[1].1,
        &vars,
    );
}

/// The metric families a dashboard expression names (`_bucket`/`_sum`/`_count` of a
/// histogram read as the histogram).
fn families_named(expr: &str, exported: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("scangate_") {
        let start = i + at;
        let end = expr[start..]
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()))
            .map_or(expr.len(), |n| start + n);
        let name = &expr[start..end];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|base| exported.contains(*base)))
            .unwrap_or(name);
        out.push(family.to_string());
        i = end.max(start + 1).min(bytes.len());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_names_only_metric_families_the_gateway_exports() {
    // A gateway that has done everything once: a login, a proxied request, an upstream
    // error, WeChat calls and a callback, store operations.
    let (_app, gw) = login_gateway("").await;
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    let ticket = browser.wechat_ticket(&id).await;
    let sim = &scangate::demo::Demo::of(gw.app()).unwrap().simulator;
    let user = scangate::wechat_sim::SimUser {
        openid: format!("o_dash_{}", now()),
        unionid: None,
        follows: true,
    };
    sim.scan(&ticket, &user).await.unwrap();
    let _ = browser.poll(&id, "waiting", 2).await;
    let _ = gw.get("/").send().await.unwrap();
    let text = gw.metrics().await;
    let exported: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    assert!(exported.contains("scangate_requests_total"), "{text}");

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy_dir().join("grafana/scangate.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");
    let mut named = BTreeSet::new();
    for expr in &exprs {
        for family in families_named(expr, &exported) {
            assert!(
                exported.contains(&family),
                "{family} (in `{expr}`) is not a metric family the gateway exports:\n{exported:#?}"
            );
            named.insert(family);
        }
    }
    // What the issue asks the dashboard to show.
    for family in [
        "scangate_requests_total",
        "scangate_auth_decisions_total",
        "scangate_login_attempts_total",
        "scangate_wechat_api_requests_total",
        "scangate_wechat_callbacks_total",
        "scangate_longpolls_waiting",
        "scangate_store_operation_duration_seconds",
        "scangate_store_errors_total",
        "scangate_config_reloads_total",
    ] {
        assert!(named.contains(family), "the dashboard shows {family}");
    }
}

/// Every `expr` of the dashboard's panels and template queries.
fn collect_exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr" | "definition", Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// The Docker check catches the class of failure it exists for: the Dockerfile before issue
/// 19 listed the benches by hand, and cargo could not read the manifest in its first stage.
#[test]
fn the_docker_check_fails_on_a_dockerfile_that_lost_a_bench() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Ok(python) = which_python() else {
        eprintln!("skipped: python3 not found (the Docker check is a Python script)");
        return;
    };
    let out = std::process::Command::new(python)
        .arg(root.join("scripts/docker-build-check"))
        .arg("--dockerfile")
        .arg(root.join("tests/fixtures/docker/Dockerfile.hand-listed-benches"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("can't find `") && stderr.contains("bench"),
        "cargo's own words: {stderr}"
    );
}

fn which_python() -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())
        .ok_or(())
}
