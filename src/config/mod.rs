//! Configuration: the YAML file schema, its validation into runtime types, and what a
//! reload cannot apply.
//!
//! A file goes `text -> shape -> FileConfig -> rules -> Config`:
//!
//! - `file.rs`: the schema, one struct per YAML mapping with its defaults ([`file`]);
//! - `shape.rs`: stages 1 to 3, YAML syntax, shape repair (an unknown key or a wrong type is
//!   reported and cut out, so one never hides another) and `${VAR}` substitution;
//! - `rules/`: stage 4, one file per section (server, store, session, wechat, login,
//!   routes) with its tests beside it; the rules refuse the values start-up would refuse,
//!   so that `scangate check` speaks for `scangate run`;
//! - `model.rs`: the runtime types, with the predicates that belong to them
//!   ([`HostPattern::parse`], [`Upstream::resolve`], [`Keyword::shadows`]) ([`model`]);
//! - `syntax.rs`: lexical predicates several sections share (tokens, host names, paths,
//!   `http(s)://` URLs);
//! - `env.rs`: `${VAR}` values and `*_file` contents, through [`Env`] ([`env`]);
//! - `issues.rs`: [`ConfigIssue`], [`ConfigErrors`] and the collector every stage reports to;
//! - `reload.rs`: [`restart_only_changes`].
//!
//! `load` reports **every** problem at once, each as `yaml.path: message`, and never
//! prints a secret value.

pub mod env;
pub mod file;
mod issues;
pub mod model;
pub(crate) mod redis_url;
mod reload;
mod rules;
mod shape;
mod syntax;
#[cfg(test)]
pub(crate) mod testing;

use std::path::Path;

pub use env::{Env, ProcessEnv};
pub use issues::{ConfigErrors, ConfigIssue};
pub use model::*;
pub use reload::restart_only_changes;

use issues::Issues;

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
/// On failure the error lists every problem found, in a stable order.
pub fn from_yaml(text: &str, env: &dyn Env) -> Result<Config, ConfigErrors> {
    let mut issues = Issues::default();
    let config =
        shape::read(text, env, &mut issues).and_then(|file| rules::config(file, env, &mut issues));
    issues.finish(config)
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
}
