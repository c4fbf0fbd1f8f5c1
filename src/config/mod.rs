//! Configuration: the YAML file schema (`file`), its validation into runtime types
//! (`validate` -> `model`), and `${VAR}` / `*_file` secret resolution (`env`).
//!
//! `load` reports **every** problem at once, each as `yaml.path: message`, and never
//! prints a secret value.

pub mod env;
pub mod file;
pub mod model;
mod validate;

use std::fmt;
use std::path::Path;

pub use env::{Env, ProcessEnv};
pub use model::*;

/// One problem found in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    /// YAML path of the offending value: `routes[2].upstreams[0]`, `session.secret`; empty
    /// when the problem is the file itself (unreadable, not YAML).
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a config file; never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigIssue>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads and validates the config file at `path`, taking `${VAR}` from the process
/// environment. Relative paths inside the file are relative to the working directory.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigIssue {
            path: String::new(),
            message: format!("cannot read {}: {e}", path.display()),
        }])
    })?;
    from_yaml(&text, &ProcessEnv)
}

/// Parses and validates YAML text; `env` resolves `${VAR}` and `*_file` keys.
pub fn from_yaml(text: &str, env: &dyn Env) -> Result<Config, ConfigErrors> {
    validate::parse_and_validate(text, env)
}

/// The one-line summary `scangate check` prints for a valid file, e.g.
/// `ok: 3 routes, store embedded (data/scangate.db), listen 0.0.0.0:8080, public_url
/// https://app.example.com, login official_account`. Never shows a secret (the Redis URL
/// may hold a password, so only the backend is named).
pub fn summary(config: &Config) -> String {
    let routes = match config.routes.len() {
        1 => "1 route".to_string(),
        n => format!("{n} routes"),
    };
    let store = match &config.store {
        StoreConfig::Embedded { path } => format!("embedded ({})", path.display()),
        StoreConfig::Redis { .. } => "redis".to_string(),
    };
    let tls = if config.tls.is_some() { " (tls)" } else { "" };
    let admin = match config.admin_listen {
        Some(addr) => format!(", admin {addr}"),
        None => String::new(),
    };
    let methods: Vec<&str> = config.login.methods.iter().map(|m| m.as_str()).collect();
    let simulated = if config.wechat.simulate {
        " (simulated WeChat)"
    } else {
        ""
    };
    format!(
        "ok: {routes}, store {store}, listen {}{tls}{admin}, public_url {}, login {}{simulated}",
        config.listen,
        config.public_url.origin,
        methods.join("+"),
    )
}

#[cfg(test)]
mod tests {
    use super::env::MapEnv;
    use super::*;

    const MINIMAL: &str = r#"
public_url: "https://app.example.com"
session: { secret: "0123456789abcdef0123456789abcdef" }
wechat: { official_account: { app_id: wx1, app_secret: s3cret, token: tok123 } }
routes:
  - { name: app, upstreams: ["127.0.0.1:3000"] }
  - { name: api, path_prefix: /api, upstreams: ["127.0.0.1:3001"] }
  - { name: www, host: www.example.com, upstreams: ["127.0.0.1:3002"] }
"#;

    #[test]
    fn summary_names_routes_store_listener_url_and_methods() {
        let config = from_yaml(MINIMAL, &MapEnv::new()).unwrap();
        assert_eq!(
            summary(&config),
            "ok: 3 routes, store embedded (data/scangate.db), listen 0.0.0.0:8080, \
             public_url https://app.example.com, login official_account"
        );
    }

    #[test]
    fn summary_never_shows_the_redis_url() {
        let text = format!(
            "{MINIMAL}store: {{ backend: redis, url: \"redis://:hunter2@db:6379/0\" }}\n\
             admin_listen: \"127.0.0.1:9100\"\n"
        );
        let config = from_yaml(&text, &MapEnv::new()).unwrap();
        let line = summary(&config);
        assert!(
            line.contains("store redis, listen 0.0.0.0:8080, admin 127.0.0.1:9100"),
            "{line}"
        );
        assert!(!line.contains("hunter2"), "{line}");
    }

    #[test]
    fn issues_display_as_path_colon_message_one_per_line() {
        let errors = ConfigErrors(vec![
            ConfigIssue {
                path: "listen".into(),
                message: "bad".into(),
            },
            ConfigIssue {
                path: String::new(),
                message: "whole file".into(),
            },
        ]);
        assert_eq!(errors.to_string(), "listen: bad\nwhole file");
    }
}
