//! The shipped configs and the invalid fixtures, through the public loader
//! (River's `--validate-configs` loop, as a test):
//! - every `conf/*.yaml` validates, with the variables and files listed below;
//! - every `tests/fixtures/invalid/*.yaml` fails with exactly the issues its leading
//!   `# expect: <path>: <message>` lines name (in any order);
//! - `conf/scangate.example.yaml` mentions every key of the schema.

// A test binary: a failed unwrap is a failed test (clippy's test allowance misses helpers).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use scangate::config::env::MapEnv;
use scangate::config::file::{
    FileConfig, MiniProgramFile, OfficialAccountFile, RouteFile, TlsFile, WebsiteFile, WechatFile,
};
use scangate::config::from_yaml;

/// Every `${VAR}` a file in `conf/` uses, with a value that passes validation.
const VARS: &[(&str, &str)] = &[
    (
        "SCANGATE_SESSION_SECRET",
        "test-session-secret-0123456789abcdef0123",
    ),
    ("SCANGATE_REDIS_URL", "redis://:password@127.0.0.1:6379/0"),
    (
        "SCANGATE_ADMIN_API_TOKEN",
        "admin-api-token-0123456789abcdef-0123",
    ),
    ("WECHAT_OA_APP_SECRET", "oa-app-secret"),
    ("WECHAT_OA_TOKEN", "token123"),
    // The official sample key of wechat-protocol.md.
    (
        "WECHAT_OA_ENCODING_AES_KEY",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    ),
    ("WECHAT_MP_APP_SECRET", "mp-app-secret"),
    ("WECHAT_WEB_APP_SECRET", "web-app-secret"),
    ("TENCENT_SMS_SECRET_ID", "sms-secret-id"),
    ("TENCENT_SMS_SECRET_KEY", "sms-secret-key"),
    ("ALIYUN_SMS_ACCESS_KEY_ID", "sms-access-key-id"),
    ("ALIYUN_SMS_ACCESS_KEY_SECRET", "sms-access-key-secret"),
    ("SCANGATE_TLS_CERT_FILE", "/etc/scangate/tls/fullchain.pem"),
    ("SCANGATE_TLS_KEY_FILE", "/etc/scangate/tls/privkey.pem"),
];

/// Files the configs reference and validation reads (and parses, as start-up does): a
/// self-signed certificate and its key.
fn files() -> Vec<(&'static str, String)> {
    let pair = rcgen::generate_simple_self_signed(vec!["app.example.com".to_string()]).unwrap();
    vec![
        ("/etc/scangate/tls/fullchain.pem", pair.cert.pem()),
        (
            "/etc/scangate/tls/privkey.pem",
            pair.signing_key.serialize_pem(),
        ),
    ]
}

fn env() -> MapEnv {
    let env = VARS
        .iter()
        .fold(MapEnv::new(), |env, (k, v)| env.var(*k, *v));
    files()
        .into_iter()
        .fold(env, |env, (path, content)| env.file(path, content))
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .yaml files in {}", dir.display());
    files
}

/// Names in the `${NAME}` references of the file's string values (`$$` escapes skipped).
fn referenced_vars(text: &str) -> Vec<String> {
    fn walk(value: &yaml_serde::Value, names: &mut Vec<String>) {
        match value {
            yaml_serde::Value::String(s) => {
                let mut rest = s.as_str();
                while let Some(at) = rest.find('$') {
                    rest = &rest[at + 1..];
                    if let Some(after) = rest.strip_prefix('$') {
                        rest = after;
                    } else if let Some(end) = rest.strip_prefix('{').and_then(|r| r.find('}')) {
                        names.push(rest[1..=end].to_string());
                    }
                }
            }
            yaml_serde::Value::Sequence(items) => items.iter().for_each(|v| walk(v, names)),
            yaml_serde::Value::Mapping(map) => map.values().for_each(|v| walk(v, names)),
            _ => {}
        }
    }
    let mut names = Vec::new();
    walk(&yaml_serde::from_str(text).unwrap(), &mut names);
    names
}

#[test]
fn every_conf_file_validates() {
    for path in yaml_files("conf") {
        let text = fs::read_to_string(&path).unwrap();
        for name in referenced_vars(&text) {
            assert!(
                VARS.iter().any(|(k, _)| *k == name),
                "{} uses ${{{name}}}: add it to VARS in tests/config_files.rs",
                path.display()
            );
        }
        if let Err(errors) = from_yaml(&text, &env()) {
            panic!("{} should be valid:\n{errors}", path.display());
        }
    }
}

#[test]
fn every_invalid_fixture_fails_with_exactly_its_expected_issues() {
    for path in yaml_files("tests/fixtures/invalid") {
        let text = fs::read_to_string(&path).unwrap();
        let mut expected: Vec<String> = text
            .lines()
            .map_while(|line| line.strip_prefix("# expect: "))
            .map(str::to_string)
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no `# expect: ` lines",
            path.display()
        );
        let mut got: Vec<String> = match from_yaml(&text, &env()) {
            Ok(_) => panic!("{} should be invalid", path.display()),
            Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
        };
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{}", path.display());
    }
}

/// Key paths in a YAML tree; list elements are merged under `[]`.
fn key_paths(value: &yaml_serde::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        yaml_serde::Value::Mapping(map) => {
            for (key, child) in map {
                let key = key.as_str().unwrap_or("?");
                let path = if prefix.is_empty() {
                    key.to_string()
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                key_paths(child, &path, out);
            }
        }
        yaml_serde::Value::Sequence(items) => {
            for item in items {
                key_paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_example_mentions_every_key() {
    // Every optional section filled in, so that its keys are listed too.
    let full = FileConfig {
        tls: Some(TlsFile::default()),
        wechat: WechatFile {
            official_account: Some(OfficialAccountFile::default()),
            mini_program: Some(MiniProgramFile::default()),
            website: Some(WebsiteFile::default()),
            ..WechatFile::default()
        },
        routes: vec![RouteFile::default()],
        ..FileConfig::default()
    };
    let mut schema = BTreeSet::new();
    key_paths(&yaml_serde::to_value(&full).unwrap(), "", &mut schema);

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/scangate.example.yaml");
    let text = fs::read_to_string(&path).unwrap();
    let mut example = BTreeSet::new();
    key_paths(&yaml_serde::from_str(&text).unwrap(), "", &mut example);

    // `X_file` cannot be set next to `X`; the example's comments name it instead.
    let missing: Vec<&String> = schema
        .difference(&example)
        .filter(|key| {
            let twin = key.strip_suffix("_file");
            !twin.is_some_and(|twin| {
                schema.contains(twin)
                    && text.contains(&format!("{}_file", twin.rsplit('.').next().unwrap_or(twin)))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "conf/scangate.example.yaml lacks {missing:?}"
    );
}
