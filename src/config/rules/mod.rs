//! Stage 4 of reading a config file: each section of the [`FileConfig`] becomes its `model`
//! type, with every rule checked and every problem reported at its YAML path.
//!
//! One file per section, each with its tests beside it (`rules/<section>/tests.rs`):
//!
//! - `server.rs`: the top-level keys (`listen`, `public_url`, `auth_path`, `admin_listen`,
//!   `trusted_proxies`, `forward_auth`, `tls`, `threads`, the timeouts) and
//!   `identity_headers`;
//! - `admin.rs`: `admin` (the user API's token);
//! - `store.rs`: `store`;
//! - `session.rs`: `session`;
//! - `wechat.rs`: `wechat` (the Official Account with its replies, the Mini Program);
//! - `login.rs`: `login` but `login.sms`;
//! - `sms.rs`: `login.sms`, the SMS provider and its keys;
//! - `tokens.rs`: `tokens` (audiences of `{auth_path}/token`);
//! - `routes.rs`: `routes`.
//!
//! This file holds the [`Validator`] and what every section uses: rejecting, checking each
//! item of a list, number ranges, readable files, and secrets with their `_file` twins.
//!
//! The rules refuse the values start-up would refuse (TLS files rustls cannot load, an
//! assertion key that is not P-256, an AES key the callback codec rejects, a header name
//! `http` rejects, an SMS provider without its keys), so that a file `scangate check`
//! accepts gets `scangate run` past its configuration; what only the host can say (a port
//! in use, Redis down, SMS credentials the provider refuses) is left to start-up and to
//! `scangate sms test`. One gap: `store.url` is checked for its scheme only, while the
//! Redis store parses the rest of it at start (`store/redis/url.rs`).

mod admin;
mod login;
mod routes;
mod server;
mod session;
mod sms;
mod store;
mod tokens;
mod wechat;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use super::env::Env;
use super::file::{FileConfig, RawSecret};
use super::issues::Issues;
use super::model::{Config, Secret};
use super::syntax::HttpUrl;
use login::WechatSections;

/// Turns `file` into the runtime config, or reports why not in `issues`.
pub(crate) fn config(file: FileConfig, env: &dyn Env, issues: &mut Issues) -> Option<Config> {
    Validator { env, issues }.config(file)
}

/// Each check reports its problems and returns `None` for a value it rejected; `config`
/// builds the runtime config only when every part came back.
struct Validator<'a> {
    env: &'a dyn Env,
    issues: &'a mut Issues,
}

/// What a secret key (`X` / `X_file`) resolved to.
enum Resolved {
    Absent,
    Value(Secret),
    Invalid,
}

impl Validator<'_> {
    fn config(&mut self, file: FileConfig) -> Option<Config> {
        // Destructured so that a new key cannot be forgotten here.
        let FileConfig {
            listen,
            public_url,
            auth_path,
            admin_listen,
            admin,
            trusted_proxies,
            forward_auth,
            tls,
            threads,
            shutdown_timeout_seconds,
            client_header_timeout_seconds,
            client_keepalive_timeout_seconds,
            drop_underscore_headers,
            access_log,
            store,
            session,
            identity_headers,
            wechat,
            login,
            tokens,
            routes,
        } = file;

        let listen = self.socket_addr("listen", &listen);
        let public_url = self.public_url(public_url.as_deref());
        let auth_path = self.auth_path(&auth_path);
        let admin_listen = self.admin_listen(admin_listen.as_deref(), listen);
        let admin = self.admin(admin, admin_listen.as_ref());
        let trusted_proxies = self.networks("trusted_proxies", &trusted_proxies);
        let forward_auth_trusted = self.networks("forward_auth.trusted", &forward_auth.trusted);
        let tls = match tls {
            None => Some(None),
            Some(tls) => self.tls(tls).map(Some),
        };
        let threads = self.threads(threads);
        let shutdown_timeout_seconds =
            self.at_least_one("shutdown_timeout_seconds", shutdown_timeout_seconds);
        let client_header_timeout_seconds = self.within(
            "client_header_timeout_seconds",
            client_header_timeout_seconds,
            1,
            3600,
            "seconds",
        );
        let client_keepalive_timeout_seconds = self.within(
            "client_keepalive_timeout_seconds",
            client_keepalive_timeout_seconds,
            1,
            3600,
            "seconds",
        );
        let store = self.store(store);
        let session = self.session(session, public_url.as_ref());
        let identity_headers = self.identity_headers(identity_headers);
        let sections = WechatSections::of(&wechat);
        let wechat = self.wechat(wechat);
        let login = self.login(login, sections);
        let tokens = self.tokens(tokens);
        let routes = self.routes(routes, auth_path.as_deref());

        Some(Config {
            listen: listen?,
            public_url: public_url?,
            auth_path: auth_path?,
            admin_listen: admin_listen?,
            admin: admin?,
            trusted_proxies: trusted_proxies?,
            forward_auth_trusted: forward_auth_trusted?,
            tls: tls?,
            threads: threads?,
            shutdown_timeout_seconds: shutdown_timeout_seconds?,
            client_header_timeout_seconds: client_header_timeout_seconds?,
            client_keepalive_timeout_seconds: client_keepalive_timeout_seconds?,
            drop_underscore_headers,
            access_log,
            store: store?,
            session: session?,
            identity_headers: identity_headers?,
            wechat: wechat?,
            login: login?,
            tokens: tokens?,
            routes: routes?,
        })
    }

    fn reject<T>(&mut self, path: impl Into<String>, message: impl Into<String>) -> Option<T> {
        self.issues.add(path, message);
        None
    }

    /// Runs `check` on every item (index, item), so that every problem is reported, and
    /// keeps the results only when all of them passed.
    fn each<I, T>(
        &mut self,
        items: impl IntoIterator<Item = I>,
        mut check: impl FnMut(&mut Self, usize, I) -> Option<T>,
    ) -> Option<Vec<T>> {
        let mut all = Some(Vec::new());
        for (i, item) in items.into_iter().enumerate() {
            let one = check(self, i, item);
            all = all.zip(one).map(|(mut all, one)| {
                all.push(one);
                all
            });
        }
        all
    }

    // --- numbers and text ---

    fn at_least_one(&mut self, path: &str, value: u64) -> Option<u64> {
        if value >= 1 {
            Some(value)
        } else {
            self.reject(path, "must be at least 1")
        }
    }

    fn within(&mut self, path: &str, value: u64, min: u64, max: u64, unit: &str) -> Option<u64> {
        if (min..=max).contains(&value) {
            Some(value)
        } else {
            self.reject(path, format!("must be between {min} and {max} {unit}"))
        }
    }

    fn required_text(&mut self, path: &str, value: Option<String>) -> Option<String> {
        match value {
            Some(v) if v.trim().is_empty() => self.reject(path, "is empty"),
            Some(v) => Some(v),
            None => self.reject(path, "is required"),
        }
    }

    fn http_url(&mut self, path: &str, text: String) -> Option<String> {
        match HttpUrl::parse(&text) {
            Ok(_) => Some(text),
            Err(why) => self.reject(path, why),
        }
    }

    // --- files and secrets ---

    /// Reads `file` now, so a typo fails `check` rather than the first TLS handshake or
    /// login; returns its path and content.
    fn read_file(&mut self, path: &str, file: &str) -> Option<(PathBuf, String)> {
        if file.is_empty() {
            return self.reject(path, "is empty");
        }
        let file = PathBuf::from(file);
        match self.env.read_file(&file) {
            Ok(content) => Some((file, content)),
            Err(e) => self.reject(
                path,
                format!("cannot read {:?}: {e}", file.display().to_string()),
            ),
        }
    }

    fn required_file(&mut self, path: &str, file: Option<String>) -> Option<(PathBuf, String)> {
        match file {
            Some(file) => self.read_file(path, &file),
            None => self.reject(path, "is required"),
        }
    }

    /// Resolves secret key `path` (`session.secret`) from its value or its `_file` twin.
    fn secret(&mut self, path: &str, value: Option<RawSecret>, file: Option<String>) -> Resolved {
        let file_path = format!("{path}_file");
        match (value, file) {
            (Some(_), Some(_)) => {
                let key = path.rsplit('.').next().unwrap_or(path);
                self.issues
                    .add(path, format!("set either {key} or {key}_file, not both"));
                Resolved::Invalid
            }
            (Some(RawSecret(value)), None) => Resolved::Value(Secret::new(value)),
            (None, Some(file)) => {
                let file = PathBuf::from(file);
                match self.env.read_file(&file) {
                    Ok(content) => Resolved::Value(Secret::new(content.trim())),
                    Err(e) => {
                        let shown = file.display().to_string();
                        self.issues
                            .add(file_path, format!("cannot read {shown:?}: {e}"));
                        Resolved::Invalid
                    }
                }
            }
            (None, None) => Resolved::Absent,
        }
    }

    fn required_secret(
        &mut self,
        path: &str,
        value: Option<RawSecret>,
        file: Option<String>,
    ) -> Option<Secret> {
        match self.secret(path, value, file) {
            Resolved::Value(s) if s.expose().is_empty() => self.reject(path, "is empty"),
            Resolved::Value(s) => Some(s),
            Resolved::Absent => {
                let key = path.rsplit('.').next().unwrap_or(path);
                self.reject(path, format!("is required (or {key}_file)"))
            }
            Resolved::Invalid => None,
        }
    }

    fn optional_secret(
        &mut self,
        path: &str,
        value: Option<RawSecret>,
        file: Option<String>,
    ) -> Option<Option<Secret>> {
        match self.secret(path, value, file) {
            Resolved::Value(s) => Some(Some(s)),
            Resolved::Absent => Some(None),
            Resolved::Invalid => None,
        }
    }
}
