//! Helpers of the config tests: a small valid file, and loading it with one change.

use yaml_serde::Value;

use super::env::MapEnv;
use super::{from_yaml, Config, ConfigErrors};

/// The smallest valid file; each test changes one thing in it.
pub(crate) const BASE: &str = r#"
public_url: "https://app.example.com"
session:
  secret: "0123456789abcdef0123456789abcdef"
wechat:
  official_account: { app_id: wx1, app_secret: s3cret, token: tok123 }
routes:
  - { name: app, upstreams: ["127.0.0.1:3000"] }
"#;

/// Secret values used in the tests; no error message may contain them.
pub(crate) const SECRETS: [&str; 3] = ["0123456789abcdef", "s3cret", "hunter2"];

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(base), Value::Mapping(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

/// BASE with `snippet` merged in (mappings merge, anything else replaces).
pub(crate) fn with(snippet: &str) -> String {
    let mut base: Value = yaml_serde::from_str(BASE).unwrap();
    merge(&mut base, yaml_serde::from_str(snippet).unwrap());
    yaml_serde::to_string(&base).unwrap()
}

pub(crate) fn load_with(snippet: &str, env: &MapEnv) -> Result<Config, ConfigErrors> {
    from_yaml(&with(snippet), env)
}

pub(crate) fn ok(snippet: &str) -> Config {
    load_with(snippet, &MapEnv::new()).unwrap_or_else(|e| panic!("{e}"))
}

/// The issues, one line each; fails when there are none or when one shows a secret.
pub(crate) fn messages(result: Result<Config, ConfigErrors>) -> Vec<String> {
    let errors = match result {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors,
    };
    let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    for line in &lines {
        for secret in SECRETS {
            assert!(!line.contains(secret), "secret in {line:?}");
        }
    }
    lines
}

pub(crate) fn errors(snippet: &str) -> Vec<String> {
    messages(load_with(snippet, &MapEnv::new()))
}

pub(crate) fn raw_errors(text: &str) -> Vec<String> {
    messages(from_yaml(text, &MapEnv::new()))
}
