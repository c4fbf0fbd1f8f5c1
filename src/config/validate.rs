//! File schema -> runtime config, collecting every problem with its YAML path.
//!
//! The text goes through four stages, each reporting what it finds and carrying on:
//!
//! 1. YAML syntax (one issue with line and column; nothing else can be checked after it).
//! 2. Shape: the document is deserialized into [`FileConfig`] repeatedly; each failure (an
//!    unknown key, a wrong type) is reported at its path and the offending node is removed
//!    (or, inside a list, replaced by an empty placeholder so later indices keep their
//!    numbers), until the rest deserializes. So one bad key never hides another.
//! 3. `${VAR}` substitution in every string value that survived stage 2.
//! 4. Rules: each section is turned into its `model` type, every rule checked.
//!
//! A path that failed in stages 2–3 is "broken": later problems at or below it are dropped,
//! since they would only repeat the first one in other words.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use base64::alphabet;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use ipnet::IpNet;
use yaml_serde::{Mapping, Value};

use super::env::{substitute, Env};
use super::file::{
    AuthFile, FileConfig, IdentityHeadersFile, KeywordFile, KeywordMatchFile, LoginFile,
    MiniProgramFile, OfficialAccountFile, PhonePolicyFile, RawSecret, RepliesFile, RouteFile,
    SessionFile, SmsFile, SmsProvider, StoreBackend, StoreFile, TlsFile, WechatFile,
};
use super::model::{
    AuthPolicy, Config, HostPattern, IdentityHeaders, Keyword, KeywordMatch, Limits, LoginConfig,
    MiniProgramConfig, OfficialAccountConfig, PhonePolicy, PublicUrl, Replies, Route, Secret,
    SessionConfig, SmsConfig, StoreConfig, TlsConfig, Upstream, WechatConfig,
};
use super::{ConfigErrors, ConfigIssue};
use crate::identity::{LoginMethod, Phone, UserId};

/// Parses `text`, resolves `${VAR}` and `*_file` through `env`, and validates every rule.
/// On failure the error lists every problem found, in a stable order.
pub(crate) fn parse_and_validate(text: &str, env: &dyn Env) -> Result<Config, ConfigErrors> {
    let mut root = parse_yaml(text)?;
    let mut issues = Issues::default();
    remove_non_string_keys(&mut root, &mut Vec::new(), &mut issues);
    prune_until_it_deserializes(&mut root, &mut issues);
    substitute_env(&mut root, env, &mut Vec::new(), &mut issues);
    let config = match serde_path_to_error::deserialize::<_, FileConfig>(root) {
        Ok(file) => Validator {
            env,
            issues: &mut issues,
        }
        .config(file),
        // Stage 2 left a tree that deserializes and stage 3 only rewrote strings, so this
        // is a bug; still a config error rather than a panic.
        Err(e) => {
            issues.broken("", format!("internal error: {}", e.inner()));
            None
        }
    };
    match config {
        Some(config) if issues.list.is_empty() => Ok(config),
        _ => Err(issues.into_errors()),
    }
}

// === Issues ===

#[derive(Default)]
struct Issues {
    list: Vec<ConfigIssue>,
    broken_paths: Vec<String>,
}

impl Issues {
    /// A problem that makes the value at `path` unusable: reported, and later problems at or
    /// below `path` are dropped.
    fn broken(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        self.list.push(ConfigIssue {
            path: path.clone(),
            message: message.into(),
        });
        self.broken_paths.push(path);
    }

    /// Marks `path` broken without a message of its own (its cause is already reported).
    fn mark_broken(&mut self, path: impl Into<String>) {
        self.broken_paths.push(path.into());
    }

    /// A rule broken; dropped when `path` is at or below a broken path.
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        if !self.is_broken(&path) {
            self.list.push(ConfigIssue {
                path,
                message: message.into(),
            });
        }
    }

    fn is_broken(&self, path: &str) -> bool {
        self.broken_paths.iter().any(|b| is_at_or_below(path, b))
    }

    fn into_errors(mut self) -> ConfigErrors {
        if self.list.is_empty() {
            // Every `None` from a check comes with an issue; this keeps `ConfigErrors`
            // non-empty even if one does not.
            self.list.push(ConfigIssue {
                path: String::new(),
                message: "internal error: a value was rejected without a reason".to_string(),
            });
        }
        ConfigErrors(self.list)
    }
}

fn is_at_or_below(path: &str, base: &str) -> bool {
    base.is_empty()
        || path == base
        || (path.starts_with(base) && matches!(path.as_bytes().get(base.len()), Some(b'.' | b'[')))
}

// === Stage 1: syntax ===

fn parse_yaml(text: &str) -> Result<Value, ConfigErrors> {
    let syntax = |e: yaml_serde::Error| {
        let text = scrub_syntax_message(&e.to_string());
        let message = match e.location() {
            Some(at) => {
                let suffix = format!(" at line {} column {}", at.line(), at.column());
                format!(
                    "invalid YAML at line {}, column {}: {}",
                    at.line(),
                    at.column(),
                    text.replacen(&suffix, "", 1)
                )
            }
            None => format!("invalid YAML: {text}"),
        };
        ConfigErrors(vec![ConfigIssue {
            path: String::new(),
            message,
        }])
    };
    let mut root: Value = yaml_serde::from_str(text).map_err(syntax)?;
    // `<<: *defaults` lets routes share settings.
    root.apply_merge().map_err(syntax)?;
    Ok(match root {
        // An empty file (or only comments): every key missing, reported as such.
        Value::Null => Value::Mapping(Mapping::new()),
        other => other,
    })
}

/// The parser quotes scalars it cannot read (an integer too large for 64 bits) between
/// backticks; that scalar may be a secret, so it is cut out.
fn scrub_syntax_message(text: &str) -> String {
    if text.contains(" as u128") || text.contains(" as i128") {
        let at = text.find(", expected").unwrap_or(text.len());
        let rest = text[at..]
            .strip_prefix(", expected any YAML value")
            .unwrap_or(&text[at..]);
        return format!("a number too large for an integer (put it in quotes){rest}");
    }
    let mut out = String::with_capacity(text.len());
    let mut parts = text.split('`');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for (i, part) in parts.enumerate() {
        out.push('`');
        out.push_str(if i % 2 == 0 { "…" } else { part });
    }
    out
}

// === Stage 2: shape ===

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn path_string(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// serde would read an integer key as a field *index* (`0: x` setting `listen`), so only
/// string keys go further.
fn remove_non_string_keys(value: &mut Value, at: &mut Vec<Seg>, issues: &mut Issues) {
    match value {
        Value::Mapping(map) => {
            let mut bad = Vec::new();
            for (key, child) in map.iter_mut() {
                match key {
                    Value::String(k) => {
                        at.push(Seg::Key(k.clone()));
                        remove_non_string_keys(child, at, issues);
                        at.pop();
                    }
                    other => bad.push(other.clone()),
                }
            }
            for key in bad {
                let shown = yaml_serde::to_string(&key).unwrap_or_default();
                issues.add(
                    path_string(at),
                    format!("key {} is not a string", shown.trim()),
                );
                map.remove(&key);
            }
        }
        Value::Sequence(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                at.push(Seg::Index(i));
                remove_non_string_keys(child, at, issues);
                at.pop();
            }
        }
        Value::Tagged(tagged) => remove_non_string_keys(&mut tagged.value, at, issues),
        _ => {}
    }
}

/// Bounds the repair loop; a real file has far fewer problems.
const MAX_REPAIRS: usize = 500;

fn prune_until_it_deserializes(root: &mut Value, issues: &mut Issues) {
    // Paths already replaced by the n-th placeholder: a second failure there is the
    // placeholder not fitting, not a new problem.
    let mut placeholders: HashMap<String, usize> = HashMap::new();
    for _ in 0..MAX_REPAIRS {
        let err = match serde_path_to_error::deserialize::<_, FileConfig>(root.clone()) {
            Ok(_) => return,
            Err(e) => e,
        };
        let segs = segments(err.path());
        let path = segs.as_deref().map(path_string).unwrap_or_default();
        let tried = placeholders.get(&path).copied();
        if tried.is_none() {
            let found = segs.as_deref().and_then(|s| lookup(root, s));
            issues.broken(path.clone(), describe(err.inner(), found, segs.as_deref()));
        }
        let repaired = match segs {
            Some(segs) if !segs.is_empty() => repair(root, &segs, tried.unwrap_or(0), issues),
            _ => None,
        };
        match repaired {
            Some(Repair::Placeholder(n)) => {
                placeholders.insert(path, n + 1);
            }
            Some(Repair::Removed) => {}
            None => {
                // The problem is the document itself (already reported): nothing to keep.
                issues.mark_broken("");
                *root = Value::Mapping(Mapping::new());
                return;
            }
        }
    }
    issues.broken("", "too many problems; fix the ones above first");
    *root = Value::Mapping(Mapping::new());
}

fn segments(path: &serde_path_to_error::Path) -> Option<Vec<Seg>> {
    path.iter()
        .map(|seg| match seg {
            serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
            _ => None,
        })
        .collect()
}

fn lookup<'v>(root: &'v Value, segs: &[Seg]) -> Option<&'v Value> {
    segs.iter().try_fold(root, |node, seg| match (node, seg) {
        (Value::Mapping(m), Seg::Key(k)) => m.get(k.as_str()),
        (Value::Sequence(s), Seg::Index(i)) => s.get(*i),
        _ => None,
    })
}

fn lookup_mut<'v>(root: &'v mut Value, segs: &[Seg]) -> Option<&'v mut Value> {
    segs.iter().try_fold(root, |node, seg| match (node, seg) {
        (Value::Mapping(m), Seg::Key(k)) => m.get_mut(k.as_str()),
        (Value::Sequence(s), Seg::Index(i)) => s.get_mut(*i),
        _ => None,
    })
}

enum Repair {
    Removed,
    /// The node was replaced by placeholder number `n`.
    Placeholder(usize),
}

/// Every list element type of the schema is a mapping (routes) or a string.
fn placeholder(n: usize) -> Option<Value> {
    match n {
        0 => Some(Value::Mapping(Mapping::new())),
        1 => Some(Value::String(String::new())),
        _ => None,
    }
}

/// Takes the node at `segs` out of the tree: a mapping entry is removed; a list element is
/// replaced by placeholder `next` so its siblings keep their indices, and when no
/// placeholder fits, the whole list goes (and is marked broken).
fn repair(root: &mut Value, segs: &[Seg], next: usize, issues: &mut Issues) -> Option<Repair> {
    let (last, parent_segs) = segs.split_last()?;
    let parent = lookup_mut(root, parent_segs)?;
    match (parent, last) {
        (Value::Mapping(m), Seg::Key(k)) => m.remove(k.as_str()).map(|_| Repair::Removed),
        (Value::Sequence(items), Seg::Index(i)) => match (items.get_mut(*i), placeholder(next)) {
            (Some(slot), Some(stand_in)) => {
                *slot = stand_in;
                Some(Repair::Placeholder(next))
            }
            _ => {
                issues.mark_broken(path_string(parent_segs));
                repair(root, parent_segs, 0, issues)
            }
        },
        _ => None,
    }
}

/// serde's message, reworded for people editing YAML, and never echoing the value found
/// (it may be a secret typed as a number).
fn describe(err: &yaml_serde::Error, found: Option<&Value>, segs: Option<&[Seg]>) -> String {
    let text = err.to_string();
    if text.starts_with("unknown field ") {
        // The path already names the key.
        return match text.split_once(", expected ") {
            Some((_, expected)) => format!("unknown key, expected {expected}"),
            None => "unknown key".to_string(),
        };
    }
    if segs.is_some_and(|s| s.is_empty()) {
        return "the file must be a mapping of the keys in conf/scangate.example.yaml".to_string();
    }
    let is_type_error = text.starts_with("invalid type: ") || text.starts_with("invalid value: ");
    match (is_type_error, text.rsplit_once(", expected ")) {
        (true, Some((_, expected))) => {
            let expected = match expected {
                "u64" | "u32" | "u16" | "usize" => "a whole number",
                "a sequence" => "a list",
                "a boolean" => "true or false",
                "a Value::Tagged enum" => "a string",
                e if e.starts_with("struct ") => "a mapping",
                e => e,
            };
            let found_kind = found.map(kind_of).unwrap_or("something else");
            let hint = match found {
                Some(Value::Number(_) | Value::Bool(_)) if expected == "a string" => {
                    " (put it in quotes)"
                }
                _ => "",
            };
            format!("expected {expected}, found {found_kind}{hint}")
        }
        _ => text,
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "true/false",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(n) if n.as_i64().is_some_and(|i| i < 0) => "a negative number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

// === Stage 3: ${VAR} ===

fn substitute_env(value: &mut Value, env: &dyn Env, at: &mut Vec<Seg>, issues: &mut Issues) {
    match value {
        Value::String(s) if s.contains('$') => match substitute(s, env) {
            Ok(done) => *s = done,
            Err(errors) => {
                for e in errors {
                    issues.broken(path_string(at), e.to_string());
                }
            }
        },
        Value::Mapping(map) => {
            for (key, child) in map.iter_mut() {
                at.push(Seg::Key(key.as_str().unwrap_or_default().to_string()));
                substitute_env(child, env, at, issues);
                at.pop();
            }
        }
        Value::Sequence(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                at.push(Seg::Index(i));
                substitute_env(child, env, at, issues);
                at.pop();
            }
        }
        _ => {}
    }
}

// === Stage 4: rules ===

/// Each check reports its problems and returns `None` for a value it rejected; `config`
/// builds the runtime config only when every part came back.
struct Validator<'a> {
    env: &'a dyn Env,
    issues: &'a mut Issues,
}

/// Which login methods the file's `wechat` section can serve. Presence is what counts: a
/// section with problems of its own has them reported there, not again under `login`.
#[derive(Clone, Copy)]
struct WechatSections {
    simulate: bool,
    official_account: bool,
    mini_program: bool,
}

impl WechatSections {
    fn of(wechat: &WechatFile) -> Self {
        WechatSections {
            simulate: wechat.simulate,
            official_account: wechat.official_account.is_some(),
            mini_program: wechat.mini_program.is_some(),
        }
    }
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
            trusted_proxies,
            forward_auth,
            tls,
            threads,
            shutdown_timeout_seconds,
            client_header_timeout_seconds,
            drop_underscore_headers,
            access_log,
            store,
            session,
            identity_headers,
            wechat,
            login,
            routes,
        } = file;

        let listen = self.socket_addr("listen", &listen);
        let public_url = self.public_url(public_url.as_deref());
        let auth_path = self.auth_path(&auth_path);
        let admin_listen = match admin_listen {
            None => Some(None),
            Some(addr) => self.socket_addr("admin_listen", &addr).map(Some),
        };
        // One port for both would bind once and hand one socket to two services (pingora
        // shares listeners by address), which then both close it at shutdown.
        if let (Some(public), Some(Some(admin))) = (listen, admin_listen) {
            let overlap = public.ip() == admin.ip()
                || public.ip().is_unspecified()
                || admin.ip().is_unspecified();
            if public.port() == admin.port() && overlap {
                self.issues.add(
                    "admin_listen",
                    format!("{admin} is the public listener's port too; give the admin listener a port of its own"),
                );
            }
        }
        let trusted_proxies = self.networks("trusted_proxies", &trusted_proxies);
        let forward_auth_trusted = self.networks("forward_auth.trusted", &forward_auth.trusted);
        let tls = match tls {
            None => Some(None),
            Some(tls) => self.tls(tls).map(Some),
        };
        let threads = match self.at_least_one("threads", threads).map(usize::try_from) {
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => self.reject("threads", "is too large"),
            None => None,
        };
        let shutdown_timeout_seconds =
            self.at_least_one("shutdown_timeout_seconds", shutdown_timeout_seconds);
        let client_header_timeout_seconds = self.within(
            "client_header_timeout_seconds",
            client_header_timeout_seconds,
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
        let routes = self.routes(routes, auth_path.as_deref());

        Some(Config {
            listen: listen?,
            public_url: public_url?,
            auth_path: auth_path?,
            admin_listen: admin_listen?,
            trusted_proxies: trusted_proxies?,
            forward_auth_trusted: forward_auth_trusted?,
            tls: tls?,
            threads: threads?,
            shutdown_timeout_seconds: shutdown_timeout_seconds?,
            client_header_timeout_seconds: client_header_timeout_seconds?,
            drop_underscore_headers,
            access_log,
            store: store?,
            session: session?,
            identity_headers: identity_headers?,
            wechat: wechat?,
            login: login?,
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

    // --- top level ---

    fn socket_addr(&mut self, path: &str, text: &str) -> Option<SocketAddr> {
        match text.parse() {
            Ok(addr) => Some(addr),
            Err(_) => self.reject(path, format!("{text:?} is not an ip:port address")),
        }
    }

    fn public_url(&mut self, text: Option<&str>) -> Option<PublicUrl> {
        const KEY: &str = "public_url";
        let Some(text) = text else {
            return self.reject(
                KEY,
                "is required: the URL browsers and WeChat use to reach the gateway",
            );
        };
        let url = match HttpUrl::parse(text) {
            Ok(url) => url,
            Err(why) => return self.reject(KEY, why),
        };
        if url.rest.contains(['?', '#']) {
            return self.reject(KEY, "must not have a query or fragment");
        }
        if !url.rest.is_empty() && url.rest != "/" {
            return self.reject(
                KEY,
                "must not have a path: the gateway serves whole hosts (put apps under routes)",
            );
        }
        Some(PublicUrl {
            origin: url.origin(),
            host: url.host,
            https: url.https,
        })
    }

    fn auth_path(&mut self, text: &str) -> Option<String> {
        const KEY: &str = "auth_path";
        if text == "/" {
            return self.reject(KEY, "must not be / (it would hide every app)");
        }
        if let Err(why) = check_path_shape(text) {
            return self.reject(KEY, why);
        }
        if text.ends_with('/') {
            return self.reject(KEY, format!("{text:?} must not end with /"));
        }
        Some(text.to_string())
    }

    /// A list of CIDRs or bare IPs at `key`.
    fn networks(&mut self, key: &str, entries: &[String]) -> Option<Vec<IpNet>> {
        self.each(entries, |v, i, entry| {
            let parsed = entry
                .parse::<IpNet>()
                .map(|net| net.trunc())
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from));
            match parsed {
                Ok(net) => Some(net),
                Err(_) => v.reject(
                    format!("{key}[{i}]"),
                    format!("{entry:?} is not an IP address or CIDR"),
                ),
            }
        })
    }

    fn tls(&mut self, tls: TlsFile) -> Option<TlsConfig> {
        let TlsFile {
            cert_file,
            key_file,
        } = tls;
        let cert_file = self.required_readable_file("tls.cert_file", cert_file);
        let key_file = self.required_readable_file("tls.key_file", key_file);
        Some(TlsConfig {
            cert_file: cert_file?,
            key_file: key_file?,
        })
    }

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

    // --- files and secrets ---

    /// Checks that `file` can be read now, so a typo fails `check` rather than the first
    /// TLS handshake or login.
    fn readable_file(&mut self, path: &str, file: &str) -> Option<PathBuf> {
        if file.is_empty() {
            return self.reject(path, "is empty");
        }
        let file = PathBuf::from(file);
        match self.env.read_file(&file) {
            Ok(_) => Some(file),
            Err(e) => self.reject(
                path,
                format!("cannot read {:?}: {e}", file.display().to_string()),
            ),
        }
    }

    fn required_readable_file(&mut self, path: &str, file: Option<String>) -> Option<PathBuf> {
        match file {
            Some(file) => self.readable_file(path, &file),
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

    fn required_text(&mut self, path: &str, value: Option<String>) -> Option<String> {
        match value {
            Some(v) if v.trim().is_empty() => self.reject(path, "is empty"),
            Some(v) => Some(v),
            None => self.reject(path, "is required"),
        }
    }

    // --- store ---

    fn store(&mut self, store: StoreFile) -> Option<StoreConfig> {
        let StoreFile {
            backend,
            path,
            url,
            url_file,
            key_prefix,
        } = store;
        match backend {
            StoreBackend::Embedded => {
                if path.is_empty() {
                    return self.reject("store.path", "is empty");
                }
                Some(StoreConfig::Embedded {
                    path: PathBuf::from(path),
                })
            }
            StoreBackend::Redis => {
                let url = self.required_secret("store.url", url, url_file)?;
                let lower = url.expose().to_ascii_lowercase();
                let scheme_ok = [
                    "redis://",
                    "rediss://",
                    "redis+sentinel://",
                    "redis+cluster://",
                ]
                .iter()
                .any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len());
                if !scheme_ok {
                    // Never echo the URL: it may carry a password.
                    return self.reject(
                        "store.url",
                        "must be a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL",
                    );
                }
                Some(StoreConfig::Redis { url, key_prefix })
            }
        }
    }

    // --- session ---

    fn session(
        &mut self,
        session: SessionFile,
        public_url: Option<&PublicUrl>,
    ) -> Option<SessionConfig> {
        let SessionFile {
            secret,
            secret_file,
            cookie_name,
            cookie_domain,
            ttl_seconds,
            idle_timeout_seconds,
            assertion_key_file,
        } = session;
        let secret = match self.required_secret("session.secret", secret, secret_file) {
            Some(s) if s.expose().len() < 32 => {
                self.reject("session.secret", "must be at least 32 bytes long")
            }
            other => other,
        };
        let cookie_name = if !cookie_name.is_empty() && cookie_name.bytes().all(is_token_byte) {
            Some(cookie_name)
        } else {
            self.reject(
                "session.cookie_name",
                format!("{cookie_name:?} is not a cookie name (RFC 6265: letters, digits and !#$%&'*+-.^_`|~)"),
            )
        };
        let cookie_domain = match cookie_domain {
            None => Some(None),
            Some(domain) => self.cookie_domain(&domain, public_url).map(Some),
        };
        let ttl_seconds = if ttl_seconds > 0 {
            Some(ttl_seconds)
        } else {
            self.reject("session.ttl_seconds", "must be greater than 0")
        };
        let assertion_key_file = match assertion_key_file {
            None => Some(None),
            Some(file) => self
                .readable_file("session.assertion_key_file", &file)
                .map(Some),
        };
        Some(SessionConfig {
            secret: secret?,
            cookie_name: cookie_name?,
            cookie_domain: cookie_domain?,
            cookie_secure: public_url.is_some_and(|u| u.https),
            // Without a public_url the config is refused anyway (that key says why).
            issuer: public_url?.origin.clone(),
            ttl_seconds: ttl_seconds?,
            idle_timeout_seconds: (idle_timeout_seconds > 0).then_some(idle_timeout_seconds),
            assertion_key_file: assertion_key_file?,
        })
    }

    fn cookie_domain(&mut self, domain: &str, public_url: Option<&PublicUrl>) -> Option<String> {
        const KEY: &str = "session.cookie_domain";
        // Browsers ignore a leading dot; store the canonical form.
        let canonical = domain
            .strip_prefix('.')
            .unwrap_or(domain)
            .to_ascii_lowercase();
        if !is_hostname(&canonical) {
            return self.reject(KEY, format!("{domain:?} is not a domain name"));
        }
        if let Some(url) = public_url {
            let covered = url.host == canonical || url.host.ends_with(&format!(".{canonical}"));
            if !covered {
                return self.reject(
                    KEY,
                    format!(
                        "public_url host {:?} is not {canonical:?} or below it, so browsers would refuse the cookie",
                        url.host
                    ),
                );
            }
        }
        Some(canonical)
    }

    // --- identity headers ---

    fn identity_headers(&mut self, headers: IdentityHeadersFile) -> Option<IdentityHeaders> {
        let IdentityHeadersFile {
            user_id,
            openid,
            unionid,
            phone,
            method,
            assertion,
        } = headers;
        let mut seen: Vec<(String, &'static str)> = Vec::new();
        let mut ok = true;
        for (key, name) in [
            ("user_id", &user_id),
            ("openid", &openid),
            ("unionid", &unionid),
            ("phone", &phone),
            ("method", &method),
            ("assertion", &assertion),
        ] {
            let path = format!("identity_headers.{key}");
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                self.issues
                    .add(path, format!("{name:?} is not a header name"));
                ok = false;
                continue;
            }
            // The proxy strips these in any case and with `_` for `-`, so compare that way.
            let folded = name.to_ascii_lowercase().replace('_', "-");
            if RESERVED_HEADERS.contains(&folded.as_str()) {
                self.issues.add(
                    path,
                    format!("{name:?} is a header the gateway or HTTP itself needs"),
                );
                ok = false;
            } else if let Some((_, other)) = seen.iter().find(|(f, _)| *f == folded) {
                self.issues.add(
                    path,
                    format!("{name:?} is already used by identity_headers.{other}"),
                );
                ok = false;
            } else {
                seen.push((folded, key));
            }
        }
        ok.then_some(IdentityHeaders {
            user_id,
            openid,
            unionid,
            phone,
            method,
            assertion,
        })
    }

    // --- wechat ---

    fn wechat(&mut self, wechat: WechatFile) -> Option<WechatConfig> {
        let WechatFile {
            api_base,
            simulate,
            official_account,
            mini_program,
        } = wechat;
        if simulate && !cfg!(feature = "demo") {
            self.issues.add(
                "wechat.simulate",
                "this scangate was built without the `demo` feature, so it has no simulator \
                 (set it to false, or build with the default features)",
            );
        }
        let api_base = match HttpUrl::parse(&api_base) {
            Ok(url) if url.rest.contains(['?', '#']) => {
                self.reject("wechat.api_base", "must not have a query or fragment")
            }
            Ok(_) => Some(api_base.trim_end_matches('/').to_string()),
            Err(why) => self.reject("wechat.api_base", why),
        };
        let official_account = match official_account {
            None => Some(None),
            Some(oa) => self.official_account(oa).map(Some),
        };
        let mini_program = match mini_program {
            None => Some(None),
            Some(mp) => self.mini_program(mp).map(Some),
        };
        Some(WechatConfig {
            api_base: api_base?,
            simulate,
            official_account: official_account?,
            mini_program: mini_program?,
        })
    }

    fn official_account(&mut self, oa: OfficialAccountFile) -> Option<OfficialAccountConfig> {
        const AT: &str = "wechat.official_account";
        let OfficialAccountFile {
            app_id,
            app_secret,
            app_secret_file,
            token,
            token_file,
            encoding_aes_key,
            encoding_aes_key_file,
            qr_expire_seconds,
            scan_reply,
            forward_url,
            forward_logins,
            forward_timeout_ms,
            replies,
        } = oa;
        let app_id = self.required_text(&format!("{AT}.app_id"), app_id);
        let app_secret =
            self.required_secret(&format!("{AT}.app_secret"), app_secret, app_secret_file);
        let token = match self.required_secret(&format!("{AT}.token"), token, token_file) {
            Some(t) if !is_wechat_token(t.expose()) => {
                self.reject(format!("{AT}.token"), "must be 3 to 32 letters or digits")
            }
            other => other,
        };
        let encoding_aes_key = match self.optional_secret(
            &format!("{AT}.encoding_aes_key"),
            encoding_aes_key,
            encoding_aes_key_file,
        ) {
            Some(Some(key)) if !is_encoding_aes_key(key.expose()) => self.reject(
                format!("{AT}.encoding_aes_key"),
                "must be the 43 characters WeChat generated (base64 of a 32-byte key)",
            ),
            other => other,
        };
        let qr_expire_seconds = self
            .within(
                &format!("{AT}.qr_expire_seconds"),
                qr_expire_seconds,
                60,
                2_592_000,
                "seconds (30 days)",
            )
            // At most 2592000, so it always fits.
            .map(|s| u32::try_from(s).unwrap_or(u32::MAX));
        let forwards = forward_url.is_some();
        let forward_url = match forward_url {
            None => Some(None),
            Some(url) => self.http_url(&format!("{AT}.forward_url"), url).map(Some),
        };
        let forward_logins = if forward_logins && !forwards {
            self.reject(
                format!("{AT}.forward_logins"),
                "has no effect without forward_url",
            )
        } else {
            Some(forward_logins)
        };
        let forward_timeout_ms = self.within(
            &format!("{AT}.forward_timeout_ms"),
            forward_timeout_ms,
            100,
            4500,
            "milliseconds (WeChat waits 5 seconds in all)",
        );
        let replies = self.replies(&format!("{AT}.replies"), replies);
        Some(OfficialAccountConfig {
            app_id: app_id?,
            app_secret: app_secret?,
            token: token?,
            encoding_aes_key: encoding_aes_key?,
            qr_expire_seconds: qr_expire_seconds?,
            scan_reply,
            forward_url: forward_url?,
            forward_logins: forward_logins?,
            forward_timeout_ms: forward_timeout_ms?,
            replies: replies?,
        })
    }

    fn replies(&mut self, at: &str, replies: RepliesFile) -> Option<Replies> {
        let RepliesFile {
            subscribe,
            keywords,
            default,
        } = replies;
        let subscribe = match subscribe {
            None => Some(None),
            Some(text) => self.reply_text(&format!("{at}.subscribe"), text).map(Some),
        };
        let keywords: Vec<Option<Keyword>> = keywords
            .into_iter()
            .enumerate()
            .map(|(i, entry)| self.keyword(&format!("{at}.keywords[{i}]"), entry))
            .collect();
        let keywords = self.unshadowed(at, keywords);
        let default = match default {
            None => Some(None),
            Some(text) => self.reply_text(&format!("{at}.default"), text).map(Some),
        };
        Some(Replies {
            subscribe: subscribe?,
            keywords: keywords?,
            default: default?,
        })
    }

    fn keyword(&mut self, at: &str, entry: KeywordFile) -> Option<Keyword> {
        let KeywordFile {
            matching,
            keyword,
            reply,
        } = entry;
        let matching = match matching {
            Some(KeywordMatchFile::Exact) => Some(KeywordMatch::Exact),
            Some(KeywordMatchFile::Contains) => Some(KeywordMatch::Contains),
            None => self.reject(
                format!("{at}.match"),
                "is required: exact (the whole message) or contains (anywhere in it)",
            ),
        };
        let path = format!("{at}.keyword");
        let keyword = match keyword {
            None => self.reject(path, "is required"),
            Some(k) if k.trim().is_empty() => self.reject(path, "must not be empty"),
            // Messages are trimmed before matching, so such a keyword could never match.
            Some(k) if matching == Some(KeywordMatch::Exact) && k.trim() != k => self.reject(
                path,
                format!("{k:?} must not start or end with spaces: messages are trimmed before an exact match"),
            ),
            Some(k) => Some(k),
        };
        let reply = match reply {
            None => self.reject(format!("{at}.reply"), "is required"),
            Some(text) => self.reply_text(&format!("{at}.reply"), text),
        };
        Some(Keyword {
            matching: matching?,
            keyword: keyword?,
            reply: reply?,
        })
    }

    /// A passive text reply: not blank, and within WeChat's size limit.
    fn reply_text(&mut self, path: &str, text: String) -> Option<String> {
        if text.trim().is_empty() {
            return self.reject(path, "must not be empty");
        }
        if text.len() > MAX_REPLY_BYTES {
            return self.reject(
                path,
                format!(
                    "is {} bytes; WeChat allows at most {MAX_REPLY_BYTES} bytes in a passive text reply (a Chinese character takes 3)",
                    text.len()
                ),
            );
        }
        Some(text)
    }

    /// Refuses a keyword that an earlier one always wins against (first match wins), since
    /// its reply could never be sent. Entries that failed their own checks (`None`) are
    /// skipped here, and make the whole list fail.
    fn unshadowed(&mut self, at: &str, keywords: Vec<Option<Keyword>>) -> Option<Vec<Keyword>> {
        let mut ok = true;
        for (j, later) in keywords.iter().enumerate() {
            let Some(later) = later else { continue };
            let earlier = keywords[..j]
                .iter()
                .enumerate()
                .find_map(|(i, k)| k.as_ref().filter(|k| shadows(k, later)).map(|k| (i, k)));
            if let Some((i, earlier)) = earlier {
                ok = false;
                let how = match earlier.matching {
                    KeywordMatch::Exact => "exact",
                    KeywordMatch::Contains => "contains",
                };
                self.issues.add(
                    format!("{at}.keywords[{j}].keyword"),
                    format!(
                        "{:?} can never match: keywords[{i}] ({how} {:?}) comes first and matches every message it would",
                        later.keyword, earlier.keyword
                    ),
                );
            }
        }
        let all: Option<Vec<Keyword>> = keywords.into_iter().collect();
        all.filter(|_| ok)
    }

    fn mini_program(&mut self, mp: MiniProgramFile) -> Option<MiniProgramConfig> {
        const AT: &str = "wechat.mini_program";
        let MiniProgramFile {
            app_id,
            app_secret,
            app_secret_file,
            page,
            env_version,
        } = mp;
        let app_id = self.required_text(&format!("{AT}.app_id"), app_id);
        let app_secret =
            self.required_secret(&format!("{AT}.app_secret"), app_secret, app_secret_file);
        let page_ok = !page.is_empty()
            && !page.starts_with('/')
            && !page.contains(['?', '#'])
            && !page.contains(char::is_whitespace);
        let page = if page_ok {
            Some(page)
        } else {
            self.reject(
                format!("{AT}.page"),
                format!(
                    "{page:?} is not a page path like pages/login/index (no leading /, no query)"
                ),
            )
        };
        Some(MiniProgramConfig {
            app_id: app_id?,
            app_secret: app_secret?,
            page: page?,
            env_version: env_version.as_str().to_string(),
        })
    }

    fn http_url(&mut self, path: &str, text: String) -> Option<String> {
        match HttpUrl::parse(&text) {
            Ok(_) => Some(text),
            Err(why) => self.reject(path, why),
        }
    }

    // --- login ---

    fn login(&mut self, login: LoginFile, wechat: WechatSections) -> Option<LoginConfig> {
        let LoginFile {
            methods,
            phone,
            code_ttl_seconds,
            sms,
            limits,
        } = login;
        let mut parsed = Vec::with_capacity(methods.len());
        let mut ok = true;
        if methods.is_empty() {
            ok = false;
            self.issues
                .add("login.methods", "must list at least one method");
        }
        for (i, text) in methods.iter().enumerate() {
            let path = format!("login.methods[{i}]");
            let Some(method) = LoginMethod::parse(text) else {
                ok = false;
                self.issues.add(
                    path,
                    format!("{text:?} is not a login method (official_account or mini_program)"),
                );
                continue;
            };
            if parsed.contains(&method) {
                ok = false;
                self.issues.add(path, format!("{method} is listed twice"));
                continue;
            }
            let section = match method {
                LoginMethod::OfficialAccount => wechat.official_account,
                LoginMethod::MiniProgram => wechat.mini_program,
            };
            let section_path = format!("wechat.{method}");
            if !section && !wechat.simulate && !self.issues.is_broken(&section_path) {
                ok = false;
                self.issues.add(
                    path,
                    format!("{method} needs a {section_path} section (or wechat.simulate: true)"),
                );
            }
            parsed.push(method);
        }
        let code_ttl_seconds = self.within(
            "login.code_ttl_seconds",
            code_ttl_seconds,
            60,
            3600,
            "seconds",
        );
        let sms = self.sms(sms);
        let phone = match phone {
            PhonePolicyFile::Required => PhonePolicy::Required,
            PhonePolicyFile::Optional => PhonePolicy::Optional,
            PhonePolicyFile::Off => PhonePolicy::Off,
        };
        Some(LoginConfig {
            methods: ok.then_some(parsed)?,
            phone,
            code_ttl_seconds: code_ttl_seconds?,
            sms: sms?,
            limits: Limits::from(&limits),
        })
    }

    fn sms(&mut self, sms: SmsFile) -> Option<SmsConfig> {
        const AT: &str = "login.sms";
        let SmsFile {
            provider,
            url,
            secret_id,
            secret_id_file,
            secret_key,
            secret_key_file,
            sdk_app_id,
            sign_name,
            template_id,
        } = sms;
        match provider {
            SmsProvider::Log => Some(SmsConfig::Log),
            SmsProvider::Webhook => {
                let url = match url {
                    Some(url) => self.http_url(&format!("{AT}.url"), url),
                    None => self.reject(format!("{AT}.url"), "is required with provider: webhook"),
                };
                Some(SmsConfig::Webhook { url: url? })
            }
            SmsProvider::Tencent => {
                let secret_id =
                    self.required_secret(&format!("{AT}.secret_id"), secret_id, secret_id_file);
                let secret_key =
                    self.required_secret(&format!("{AT}.secret_key"), secret_key, secret_key_file);
                let sdk_app_id = self.required_text(&format!("{AT}.sdk_app_id"), sdk_app_id);
                let sign_name = self.required_text(&format!("{AT}.sign_name"), sign_name);
                let template_id = self.required_text(&format!("{AT}.template_id"), template_id);
                Some(SmsConfig::Tencent {
                    secret_id: secret_id?,
                    secret_key: secret_key?,
                    sdk_app_id: sdk_app_id?,
                    sign_name: sign_name?,
                    template_id: template_id?,
                })
            }
        }
    }

    // --- routes ---

    fn routes(&mut self, routes: Vec<RouteFile>, auth_path: Option<&str>) -> Option<Vec<Route>> {
        if routes.is_empty() {
            return self.reject("routes", "at least one route is required");
        }
        let mut names: HashMap<String, usize> = HashMap::new();
        self.each(routes, |v, i, route| {
            v.route(i, route, auth_path, &mut names)
        })
    }

    fn route(
        &mut self,
        i: usize,
        route: RouteFile,
        auth_path: Option<&str>,
        names: &mut HashMap<String, usize>,
    ) -> Option<Route> {
        let at = format!("routes[{i}]");
        let RouteFile {
            name,
            host,
            path_prefix,
            upstreams,
            auth,
            allow_phones,
            allow_users,
            connect_timeout_seconds,
            read_timeout_seconds,
        } = route;

        let name = match name {
            None => self.reject(format!("{at}.name"), "is required"),
            Some(n) if n.is_empty() || !n.bytes().all(is_route_name_byte) => self.reject(
                format!("{at}.name"),
                format!("{n:?} may only contain letters, digits, '_', '.' and '-'"),
            ),
            Some(n) => match names.get(&n) {
                Some(first) => self.reject(
                    format!("{at}.name"),
                    format!("{n:?} is already the name of routes[{first}]"),
                ),
                None => {
                    names.insert(n.clone(), i);
                    Some(n)
                }
            },
        };
        let host = match host {
            None => Some(None),
            Some(h) => match parse_host_pattern(&h) {
                Ok(pattern) => Some(Some(pattern)),
                Err(why) => self.reject(format!("{at}.host"), why),
            },
        };
        let path_prefix = self.path_prefix(&format!("{at}.path_prefix"), path_prefix, auth_path);
        let upstreams = self.upstreams(&at, &upstreams);
        let auth = match auth {
            AuthFile::Public => AuthPolicy::Public,
            AuthFile::Login => AuthPolicy::Login,
            AuthFile::Phone => AuthPolicy::Phone,
        };
        let allow_phones = self.allow_phones(&at, &allow_phones);
        let allow_users = self.allow_users(&at, &allow_users);
        let mut lists_ok = true;
        if auth == AuthPolicy::Public {
            for (key, used) in [
                (
                    "allow_phones",
                    !allow_phones.as_ref().is_none_or(Vec::is_empty),
                ),
                (
                    "allow_users",
                    !allow_users.as_ref().is_none_or(Vec::is_empty),
                ),
            ] {
                if used {
                    lists_ok = false;
                    self.issues.add(
                        format!("{at}.{key}"),
                        "has no effect with auth: public (use auth: login or phone)",
                    );
                }
            }
        }
        let connect_timeout_seconds = self.at_least_one(
            &format!("{at}.connect_timeout_seconds"),
            connect_timeout_seconds,
        );
        let read_timeout_seconds =
            self.at_least_one(&format!("{at}.read_timeout_seconds"), read_timeout_seconds);
        if !lists_ok {
            return None;
        }
        Some(Route {
            name: name?,
            host: host?,
            path_prefix: path_prefix?,
            upstreams: upstreams?,
            auth,
            allow_phones: allow_phones?,
            allow_users: allow_users?,
            connect_timeout_seconds: connect_timeout_seconds?,
            read_timeout_seconds: read_timeout_seconds?,
        })
    }

    fn path_prefix(
        &mut self,
        path: &str,
        prefix: String,
        auth_path: Option<&str>,
    ) -> Option<String> {
        if let Err(why) = check_path_shape(&prefix) {
            return self.reject(path, why);
        }
        if let Some(reserved) = auth_path {
            let under = prefix == reserved
                || prefix
                    .strip_prefix(reserved)
                    .is_some_and(|rest| rest.starts_with('/'));
            if under {
                return self.reject(
                    path,
                    format!("{prefix:?} is under auth_path {reserved:?}, which the gateway serves itself"),
                );
            }
        }
        Some(prefix)
    }

    fn upstreams(&mut self, at: &str, upstreams: &[String]) -> Option<Vec<Upstream>> {
        if upstreams.is_empty() {
            return self.reject(
                format!("{at}.upstreams"),
                "at least one upstream is required",
            );
        }
        self.each(upstreams, |v, j, name| match resolve_upstream(name) {
            Ok(addr) => Some(Upstream {
                name: name.clone(),
                addr,
            }),
            Err(why) => v.reject(format!("{at}.upstreams[{j}]"), why),
        })
    }

    fn allow_phones(&mut self, at: &str, phones: &[String]) -> Option<Vec<Phone>> {
        self.each(phones, |v, j, text| match Phone::parse(text) {
            Ok(phone) => Some(phone),
            Err(e) => v.reject(format!("{at}.allow_phones[{j}]"), format!("{text:?} {e}")),
        })
    }

    fn allow_users(&mut self, at: &str, users: &[String]) -> Option<Vec<UserId>> {
        self.each(users, |v, j, user| {
            if user.trim().is_empty() {
                v.reject(format!("{at}.allow_users[{j}]"), "is empty")
            } else {
                Some(UserId::new(user.as_str()))
            }
        })
    }
}

// === Helpers: pure checks ===

/// Headers a misconfigured identity header must not overwrite: HTTP framing, credentials
/// the upstream may rely on, and what the gateway sets itself.
const RESERVED_HEADERS: [&str; 15] = [
    "host",
    "cookie",
    "authorization",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "keep-alive",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
];

/// WeChat's limit for the `Content` of a passive text reply (wechat-protocol.md §7).
const MAX_REPLY_BYTES: usize = 2048;

/// Whether every message `later` matches is matched by `earlier` first. Uses the rule of
/// `replies::reply_for` (ASCII case ignored, nothing else folded), which `config` cannot
/// import.
fn shadows(earlier: &Keyword, later: &Keyword) -> bool {
    let (e, l) = (
        earlier.keyword.to_ascii_lowercase(),
        later.keyword.to_ascii_lowercase(),
    );
    match (earlier.matching, later.matching) {
        // Any message containing (or equal to) `later` contains `earlier`.
        (KeywordMatch::Contains, _) => l.contains(&e),
        (KeywordMatch::Exact, KeywordMatch::Exact) => l == e,
        // A longer message can contain `later` without being `earlier`.
        (KeywordMatch::Exact, KeywordMatch::Contains) => false,
    }
}

/// RFC 9110 `tchar` (also RFC 6265's cookie-name, which is a `token`).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_route_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// A DNS name (or IPv4 address): dot-separated labels of letters, digits and `-`.
fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// WeChat's rule for the callback Token.
fn is_wechat_token(token: &str) -> bool {
    (3..=32).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// 43 base64 characters that decode (with `=` appended) to the 32-byte AES key. Real keys
/// usually have non-zero trailing bits, which base64's default engine rejects
/// (wechat-protocol.md, "Rust pitfall #1").
fn is_encoding_aes_key(key: &str) -> bool {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    key.len() == 43
        && LENIENT
            .decode(format!("{key}="))
            .is_ok_and(|bytes| bytes.len() == 32)
}

/// Shared by `auth_path` and `path_prefix`: what would make a prefix never match, or
/// match differently after the router normalises the request path.
fn check_path_shape(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("{path:?} must start with /"));
    }
    if path.contains(['?', '#']) {
        return Err(format!("{path:?} must not contain ? or #"));
    }
    if path.contains("..") {
        return Err(format!("{path:?} must not contain .."));
    }
    if path.contains("//") {
        return Err(format!("{path:?} must not contain //"));
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(format!(
            "{path:?} must not contain spaces or control characters"
        ));
    }
    Ok(())
}

fn parse_host_pattern(text: &str) -> Result<HostPattern, String> {
    let host = text.to_ascii_lowercase();
    if host.is_empty() {
        return Err("is empty (leave the key out to match any host)".to_string());
    }
    if host.contains(':') {
        return Err(format!(
            "{text:?} must not have a port (routes match any port)"
        ));
    }
    let (suffix, name) = match host.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, host.as_str()),
    };
    if name.contains('*') {
        return Err(format!(
            "{text:?}: the only wildcard allowed is a leading *."
        ));
    }
    if !is_hostname(name) {
        return Err(format!("{text:?} is not a host name"));
    }
    Ok(if suffix {
        HostPattern::Suffix(format!(".{name}"))
    } else {
        HostPattern::Exact(name.to_string())
    })
}

/// `[::1]`: the bracketed form URLs and `Host` headers use.
fn is_ipv6_literal(host: &str) -> bool {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<Ipv6Addr>().is_ok())
}

/// `host:port` or `[v6]:port`; `None` when the shape is wrong.
fn split_host_port(text: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<Ipv6Addr>().ok()?;
        (&text[..v6.len() + 2], after.strip_prefix(':')?)
    } else {
        let (host, port) = text.rsplit_once(':')?;
        if host.contains(':') {
            return None;
        }
        (host, port)
    };
    if host.is_empty() || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok().map(|port| (host, port))
}

/// Resolved once, at load: pingora's `HttpPeer::new` panics on a name it cannot resolve.
fn resolve_upstream(name: &str) -> Result<SocketAddr, String> {
    match split_host_port(name) {
        Some((_, port)) if port > 0 => {}
        _ => return Err(format!("{name:?} is not host:port")),
    }
    let addrs: Vec<SocketAddr> = name
        .to_socket_addrs()
        .map_err(|_| format!("cannot resolve {name:?}"))?
        .collect();
    // `localhost` often resolves to ::1 first while dev servers listen on 127.0.0.1 only;
    // IPv4 is the safer guess when a name has both.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("cannot resolve {name:?}"))
}

/// The parts of an `http(s)://` URL the config needs. Deliberately small: we only accept
/// URLs, never fetch them here.
struct HttpUrl<'a> {
    https: bool,
    /// Lowercase; IPv6 in brackets.
    host: String,
    port: Option<u16>,
    /// Everything after the authority: empty, or starting with `/`, `?` or `#`.
    rest: &'a str,
}

impl<'a> HttpUrl<'a> {
    /// Messages never repeat the URL: a webhook URL may carry a token.
    fn parse(text: &'a str) -> Result<Self, String> {
        let (scheme, after) = text
            .split_once("://")
            .ok_or_else(|| "is not an http:// or https:// URL".to_string())?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err("must start with http:// or https://".to_string()),
        };
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        if authority.contains('@') {
            return Err("must not contain user:password@".to_string());
        }
        let (host, port) = if authority.contains(':') {
            let (host, port) =
                split_host_port(authority).ok_or_else(|| "has a bad host:port".to_string())?;
            (host, Some(port))
        } else {
            (authority, None)
        };
        let host = host.to_ascii_lowercase();
        if !(is_hostname(&host) || is_ipv6_literal(&host)) {
            return Err("has no valid host name".to_string());
        }
        Ok(HttpUrl {
            https,
            host,
            port,
            rest,
        })
    }

    /// `scheme://host[:port]`, leaving out the scheme's default port as browsers do in
    /// the `Origin` header.
    fn origin(&self) -> String {
        let (scheme, default_port) = if self.https {
            ("https", 443)
        } else {
            ("http", 80)
        };
        match self.port {
            Some(port) if port != default_port => format!("{scheme}://{}:{port}", self.host),
            _ => format!("{scheme}://{}", self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::path::Path;

    use super::*;
    use crate::config::env::MapEnv;

    /// The smallest valid file; each test changes one thing in it.
    const BASE: &str = r#"
public_url: "https://app.example.com"
session:
  secret: "0123456789abcdef0123456789abcdef"
wechat:
  official_account: { app_id: wx1, app_secret: s3cret, token: tok123 }
routes:
  - { name: app, upstreams: ["127.0.0.1:3000"] }
"#;

    /// Secret values used below; no error message may contain them.
    const SECRETS: [&str; 3] = ["0123456789abcdef", "s3cret", "hunter2"];

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
    fn with(snippet: &str) -> String {
        let mut base: Value = yaml_serde::from_str(BASE).unwrap();
        merge(&mut base, yaml_serde::from_str(snippet).unwrap());
        yaml_serde::to_string(&base).unwrap()
    }

    fn load_with(snippet: &str, env: &MapEnv) -> Result<Config, ConfigErrors> {
        parse_and_validate(&with(snippet), env)
    }

    fn ok(snippet: &str) -> Config {
        load_with(snippet, &MapEnv::new()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn messages(result: Result<Config, ConfigErrors>) -> Vec<String> {
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

    fn errors(snippet: &str) -> Vec<String> {
        messages(load_with(snippet, &MapEnv::new()))
    }

    fn raw_errors(text: &str) -> Vec<String> {
        messages(parse_and_validate(text, &MapEnv::new()))
    }

    // --- stages 1 to 3 ---

    #[test]
    fn the_base_file_is_valid() {
        ok("{}");
    }

    #[test]
    fn a_syntax_error_is_one_issue_with_line_and_column() {
        assert_eq!(
            raw_errors("listen: \"0.0.0.0:80\"\nroutes: [\n"),
            ["invalid YAML at line 3, column 1: did not find expected node content, while parsing a flow node"]
        );
    }

    #[test]
    fn a_number_too_large_to_parse_is_not_echoed() {
        assert_eq!(
            raw_errors("session: {secret: 98765432109876543210987654321098765}\n"),
            ["invalid YAML at line 1, column 19: a number too large for an integer (put it in quotes)"]
        );
    }

    #[test]
    fn an_empty_file_reports_each_required_key() {
        assert_eq!(
            raw_errors("# nothing yet\n"),
            [
                "public_url: is required: the URL browsers and WeChat use to reach the gateway",
                "session.secret: is required (or secret_file)",
                "login.methods[0]: official_account needs a wechat.official_account section (or wechat.simulate: true)",
                "routes: at least one route is required",
            ]
        );
    }

    #[test]
    fn a_document_that_is_not_a_mapping_is_one_issue() {
        assert_eq!(
            raw_errors("- listen\n- routes\n"),
            ["the file must be a mapping of the keys in conf/scangate.example.yaml"]
        );
    }

    #[test]
    fn unknown_keys_are_reported_at_every_level_all_at_once() {
        let got = errors(
            "{colour: red, session: {secrit: x}, routes: [{name: a, upstreams: ['127.0.0.1:1']}, {name: b, upstream: x}]}",
        );
        assert_eq!(got.len(), 4, "{got:#?}");
        assert!(
            got[0].starts_with(
                "session.secrit: unknown key, expected one of `secret`, `secret_file`, "
            ),
            "{got:#?}"
        );
        assert!(
            got[1].starts_with("routes[1].upstream: unknown key, expected one of `name`"),
            "{got:#?}"
        );
        assert!(
            got[2].starts_with("colour: unknown key, expected one of `listen`, `public_url`"),
            "{got:#?}"
        );
        // The route lost its (misspelled) upstreams; that is reported too.
        assert_eq!(
            got[3],
            "routes[1].upstreams: at least one upstream is required"
        );
    }

    #[test]
    fn type_errors_carry_paths_and_never_echo_the_value() {
        assert_eq!(
            errors("{threads: many, session: {secret: 12345678901234567890}}"),
            [
                "session.secret: expected a string, found a number (put it in quotes)",
                "threads: expected a whole number, found a string",
            ]
        );
    }

    #[test]
    fn a_bad_list_element_does_not_shift_the_indices_after_it() {
        assert_eq!(
            errors("routes: [5, {name: b, upstreams: [1, abc]}]"),
            [
                "routes[0]: expected a mapping, found a number",
                "routes[1].upstreams[0]: expected a string, found a number (put it in quotes)",
                "routes[1].upstreams[1]: \"abc\" is not host:port",
            ]
        );
    }

    #[test]
    fn an_unknown_enum_value_names_the_choices() {
        assert_eq!(
            errors("store: {backend: postgres}"),
            ["store.backend: unknown variant `postgres`, expected `embedded` or `redis`"]
        );
    }

    #[test]
    fn non_string_keys_are_refused_not_read_as_field_numbers() {
        assert_eq!(errors("{0: '1.2.3.4:80'}"), ["key 0 is not a string"]);
    }

    #[test]
    fn merge_keys_let_routes_share_settings() {
        let config = ok("{routes: [{name: a, upstreams: ['127.0.0.1:1'], auth: public}, {<<: {auth: public, upstreams: ['127.0.0.1:2']}, name: b}]}");
        assert_eq!(config.routes[1].auth, AuthPolicy::Public);
    }

    #[test]
    fn env_variables_are_substituted_in_any_string() {
        let env = MapEnv::new()
            .var("PORT", "9000")
            .var("SECRET", "x".repeat(40));
        let config = load_with(
            "{listen: '127.0.0.1:${PORT}', session: {secret: '${SECRET}'}}",
            &env,
        )
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.session.secret.expose(), "x".repeat(40));
    }

    #[test]
    fn an_unset_variable_is_an_error_at_its_key_and_hides_follow_ups() {
        // Without the variable the literal `${...}` would also be "too short": not repeated.
        assert_eq!(
            errors("session: {secret: '${SCANGATE_SESSION_SECRET}'}"),
            ["session.secret: environment variable SCANGATE_SESSION_SECRET is not set"]
        );
    }

    #[test]
    fn double_dollar_is_a_literal_dollar() {
        let config = ok("session: {secret: 'abcdefghijabcdefghijabcdefghij$$$$'}");
        assert_eq!(
            config.session.secret.expose(),
            "abcdefghijabcdefghijabcdefghij$$"
        );
    }

    #[test]
    fn a_file_secret_is_read_and_trimmed() {
        let env = MapEnv::new().file("/run/secrets/session", format!("{}\n", "k".repeat(32)));
        let config = load_with(
            "session: {secret: null, secret_file: /run/secrets/session}",
            &env,
        )
        .unwrap();
        assert_eq!(config.session.secret.expose(), "k".repeat(32));
    }

    #[test]
    fn an_unreadable_secret_file_is_an_error_at_the_file_key() {
        assert_eq!(
            errors("session: {secret: null, secret_file: /run/missing}"),
            ["session.secret_file: cannot read \"/run/missing\": no such file"]
        );
    }

    #[test]
    fn a_secret_and_its_file_together_are_an_error() {
        let env = MapEnv::new().file("/s", "y".repeat(32));
        assert_eq!(
            messages(load_with("session: {secret_file: /s}", &env)),
            ["session.secret: set either secret or secret_file, not both"]
        );
    }

    #[test]
    fn every_secret_key_accepts_a_file() {
        let env = MapEnv::new()
            .file("/oa", "s3cret")
            .file("/tok", "tok123\n")
            .file("/aes", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
            .file("/mp", "mpsecret")
            .file("/redis", "redis://db:6379/0")
            .file("/sid", "id")
            .file("/skey", "key");
        let config = load_with(
            r#"
store: {backend: redis, url_file: /redis}
wechat:
  official_account: {app_secret: null, app_secret_file: /oa, token: null, token_file: /tok, encoding_aes_key_file: /aes}
  mini_program: {app_id: wx2, app_secret_file: /mp}
login:
  sms: {provider: tencent, secret_id_file: /sid, secret_key_file: /skey, sdk_app_id: "1400", sign_name: S, template_id: "1"}
"#,
            &env,
        )
        .unwrap();
        let oa = config.wechat.official_account.unwrap();
        assert_eq!(oa.token.expose(), "tok123");
        assert!(oa.encoding_aes_key.is_some());
        assert_eq!(
            config.wechat.mini_program.unwrap().app_secret.expose(),
            "mpsecret"
        );
        assert!(
            matches!(config.store, StoreConfig::Redis { ref url, .. } if url.expose() == "redis://db:6379/0")
        );
        assert!(
            matches!(config.login.sms, SmsConfig::Tencent { ref secret_key, .. } if secret_key.expose() == "key")
        );
    }

    // --- top level ---

    #[test]
    fn defaults_fill_every_optional_key() {
        let c = ok("{}");
        assert_eq!(c.listen, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8080)));
        assert_eq!(c.auth_path, "/.auth");
        assert_eq!(c.admin_listen, None);
        assert!(c.trusted_proxies.is_empty() && c.tls.is_none());
        assert_eq!((c.threads, c.shutdown_timeout_seconds), (1, 5));
        assert!(c.drop_underscore_headers);
        assert_eq!(
            c.store,
            StoreConfig::Embedded {
                path: "data/scangate.db".into()
            }
        );
        assert_eq!(c.session.cookie_name, "scangate_session");
        assert_eq!(
            (c.session.ttl_seconds, c.session.idle_timeout_seconds),
            (604_800, None)
        );
        assert_eq!(
            c.identity_headers.all(),
            [
                "X-Auth-User-Id",
                "X-Auth-Openid",
                "X-Auth-Unionid",
                "X-Auth-Phone",
                "X-Auth-Method",
                "X-Auth-Assertion"
            ]
        );
        assert_eq!(c.wechat.api_base, "https://api.weixin.qq.com");
        assert!(!c.wechat.simulate);
        let oa = c.wechat.official_account.unwrap();
        assert_eq!(
            (oa.qr_expire_seconds, oa.scan_reply.as_str()),
            (300, "登录成功")
        );
        assert_eq!(c.login.methods, [LoginMethod::OfficialAccount]);
        assert_eq!(
            (c.login.phone, c.login.code_ttl_seconds),
            (PhonePolicy::Required, 300)
        );
        assert!(matches!(c.login.sms, SmsConfig::Log));
        let r = &c.routes[0];
        assert_eq!(
            (r.host.as_ref(), r.path_prefix.as_str(), r.auth),
            (None, "/", AuthPolicy::Login)
        );
        assert_eq!((r.connect_timeout_seconds, r.read_timeout_seconds), (5, 60));
    }

    #[test]
    fn listen_must_be_an_ip_and_port() {
        assert_eq!(
            errors("listen: 'localhost:80'"),
            ["listen: \"localhost:80\" is not an ip:port address"]
        );
        assert_eq!(ok("listen: '[::1]:8443'").listen.port(), 8443);
    }

    #[test]
    fn public_url_is_required() {
        let text = BASE.replace("public_url: \"https://app.example.com\"\n", "");
        assert_eq!(
            raw_errors(&text),
            ["public_url: is required: the URL browsers and WeChat use to reach the gateway"]
        );
    }

    #[test]
    fn public_url_must_be_http_or_https() {
        assert_eq!(
            errors("public_url: 'ftp://x.example'"),
            ["public_url: must start with http:// or https://"]
        );
        assert_eq!(
            errors("public_url: 'app.example.com'"),
            ["public_url: is not an http:// or https:// URL"]
        );
    }

    #[test]
    fn public_url_must_not_have_a_path_or_query() {
        assert_eq!(
            errors("public_url: 'https://a.example/app'"),
            ["public_url: must not have a path: the gateway serves whole hosts (put apps under routes)"]
        );
        assert_eq!(
            errors("public_url: 'https://a.example/?x=1'"),
            ["public_url: must not have a query or fragment"]
        );
    }

    #[test]
    fn public_url_becomes_a_lowercase_origin_without_default_port() {
        let u = ok("public_url: 'HTTPS://App.Example.COM:443/'").public_url;
        assert_eq!(
            u,
            PublicUrl {
                origin: "https://app.example.com".into(),
                host: "app.example.com".into(),
                https: true
            }
        );
        let u = ok("public_url: 'http://127.0.0.1:8080'").public_url;
        assert_eq!(
            (u.origin.as_str(), u.host.as_str(), u.https),
            ("http://127.0.0.1:8080", "127.0.0.1", false)
        );
        // The origin is the session token's issuer, however the URL was spelt.
        let c = ok("public_url: 'HTTPS://App.Example.COM:443/'");
        assert_eq!(c.session.issuer, "https://app.example.com");
    }

    #[test]
    fn public_url_host_must_be_valid() {
        assert_eq!(
            errors("public_url: 'https://[nothost]'"),
            ["public_url: has no valid host name"]
        );
        assert_eq!(
            ok("public_url: 'http://[::1]:8080'").public_url.origin,
            "http://[::1]:8080"
        );
        assert_eq!(
            errors("public_url: 'https://'"),
            ["public_url: has no valid host name"]
        );
        assert_eq!(
            errors("public_url: 'https://u:p@a.example'"),
            ["public_url: must not contain user:password@"]
        );
        assert_eq!(
            errors("public_url: 'https://a.example:99999'"),
            ["public_url: has a bad host:port"]
        );
    }

    #[test]
    fn auth_path_shape_is_checked() {
        assert_eq!(
            errors("auth_path: /"),
            ["auth_path: must not be / (it would hide every app)"]
        );
        assert_eq!(
            errors("auth_path: auth"),
            ["auth_path: \"auth\" must start with /"]
        );
        assert_eq!(
            errors("auth_path: /auth/"),
            ["auth_path: \"/auth/\" must not end with /"]
        );
        assert_eq!(
            errors("auth_path: /a?b"),
            ["auth_path: \"/a?b\" must not contain ? or #"]
        );
        assert_eq!(
            errors("auth_path: /a/../b"),
            ["auth_path: \"/a/../b\" must not contain .."]
        );
        assert_eq!(ok("auth_path: /_gate").auth_path, "/_gate");
    }

    #[test]
    fn admin_listen_is_optional_and_must_be_an_address() {
        assert_eq!(
            ok("admin_listen: '127.0.0.1:9100'")
                .admin_listen
                .map(|a| a.port()),
            Some(9100)
        );
        assert_eq!(
            errors("admin_listen: ':9100'"),
            ["admin_listen: \":9100\" is not an ip:port address"]
        );
        // Another address on the same port is fine; the same port on an overlapping one is not.
        assert!(
            ok("{listen: '127.0.0.1:9100', admin_listen: '127.0.0.2:9100'}")
                .admin_listen
                .is_some()
        );
        for (listen, admin) in [
            ("127.0.0.1:9100", "127.0.0.1:9100"),
            ("0.0.0.0:9100", "127.0.0.1:9100"),
            ("127.0.0.1:9100", "0.0.0.0:9100"),
        ] {
            assert_eq!(
                errors(&format!("{{listen: '{listen}', admin_listen: '{admin}'}}")),
                [format!("admin_listen: {admin} is the public listener's port too; give the admin listener a port of its own")],
            );
        }
    }

    #[test]
    fn trusted_proxies_take_cidrs_and_bare_ips() {
        let c = ok("trusted_proxies: ['10.0.0.0/8', '192.168.1.7', '::1', '172.16.5.4/12']");
        let shown: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["10.0.0.0/8", "192.168.1.7/32", "::1/128", "172.16.0.0/12"]
        );
        assert_eq!(
            errors("trusted_proxies: ['10.0.0.0/8', 'lb.internal']"),
            ["trusted_proxies[1]: \"lb.internal\" is not an IP address or CIDR"]
        );
    }

    #[test]
    fn forward_auth_trusts_loopback_unless_told_otherwise() {
        let c = ok("forward_auth: {}");
        let shown: Vec<String> = c
            .forward_auth_trusted
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["127.0.0.0/8", "::1/128"]);
        let c = ok("forward_auth: {trusted: ['172.18.0.0/16']}");
        let shown: Vec<String> = c
            .forward_auth_trusted
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["172.18.0.0/16"]);
        assert_eq!(
            errors("forward_auth: {trusted: ['traefik']}"),
            ["forward_auth.trusted[0]: \"traefik\" is not an IP address or CIDR"]
        );
        assert_eq!(
            errors("forward_auth: {trusted_proxies: []}"),
            ["forward_auth.trusted_proxies: unknown key, expected `trusted`"]
        );
    }

    #[test]
    fn tls_needs_both_files_and_they_must_exist() {
        assert_eq!(
            errors("tls: {cert_file: /c.pem}"),
            [
                "tls.cert_file: cannot read \"/c.pem\": no such file",
                "tls.key_file: is required"
            ]
        );
        let env = MapEnv::new().file("/c.pem", "CERT").file("/k.pem", "KEY");
        let c = load_with("tls: {cert_file: /c.pem, key_file: /k.pem}", &env).unwrap();
        assert_eq!(
            c.tls,
            Some(TlsConfig {
                cert_file: "/c.pem".into(),
                key_file: "/k.pem".into()
            })
        );
    }

    #[test]
    fn threads_and_shutdown_timeout_are_at_least_one() {
        assert_eq!(
            errors("{threads: 0, shutdown_timeout_seconds: 0}"),
            [
                "threads: must be at least 1",
                "shutdown_timeout_seconds: must be at least 1"
            ]
        );
        assert_eq!(ok("threads: 4").threads, 4);
    }

    #[test]
    fn client_header_timeout_is_between_one_second_and_an_hour() {
        assert_eq!(ok("{}").client_header_timeout_seconds, 10);
        assert_eq!(
            ok("client_header_timeout_seconds: 1").client_header_timeout_seconds,
            1
        );
        assert_eq!(
            errors("{client_header_timeout_seconds: 0, threads: 0}"),
            [
                "threads: must be at least 1",
                "client_header_timeout_seconds: must be between 1 and 3600 seconds"
            ]
        );
        assert_eq!(
            errors("client_header_timeout_seconds: 3601"),
            ["client_header_timeout_seconds: must be between 1 and 3600 seconds"]
        );
    }

    #[test]
    fn drop_underscore_headers_can_be_turned_off() {
        assert!(!ok("drop_underscore_headers: false").drop_underscore_headers);
        assert!(ok("{}").access_log);
        assert!(!ok("access_log: false").access_log);
    }

    // --- store ---

    #[test]
    fn embedded_store_takes_its_path() {
        assert_eq!(
            ok("store: {path: /var/lib/sg.db}").store,
            StoreConfig::Embedded {
                path: "/var/lib/sg.db".into()
            }
        );
        assert_eq!(errors("store: {path: ''}"), ["store.path: is empty"]);
    }

    #[test]
    fn redis_store_needs_a_url() {
        assert_eq!(
            errors("store: {backend: redis}"),
            ["store.url: is required (or url_file)"]
        );
        let c = ok("store: {backend: redis, url: 'rediss://:pw@db:6380/1', key_prefix: 'sg:'}");
        assert!(
            matches!(c.store, StoreConfig::Redis { ref key_prefix, .. } if key_prefix == "sg:")
        );
        assert!(
            matches!(ok("store: {backend: redis, url: 'redis+sentinel://s1,s2/mymaster'}").store, StoreConfig::Redis { ref key_prefix, .. } if key_prefix == "scangate:")
        );
    }

    #[test]
    fn redis_url_scheme_is_checked_without_printing_the_url() {
        assert_eq!(
            errors("store: {backend: redis, url: 'http://:hunter2@db'}"),
            ["store.url: must be a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL"]
        );
    }

    // --- session ---

    #[test]
    fn session_secret_is_at_least_32_bytes() {
        assert_eq!(
            errors("session: {secret: hunter2}"),
            ["session.secret: must be at least 32 bytes long"]
        );
    }

    #[test]
    fn cookie_name_is_an_rfc_6265_token() {
        assert_eq!(
            ok("session: {cookie_name: sg_s}").session.cookie_name,
            "sg_s"
        );
        let got = errors("session: {cookie_name: 'my cookie'}");
        assert!(
            got[0].starts_with("session.cookie_name: \"my cookie\" is not a cookie name"),
            "{got:?}"
        );
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn cookie_domain_must_cover_the_public_url_host() {
        assert_eq!(
            ok("session: {cookie_domain: .Example.com}")
                .session
                .cookie_domain
                .as_deref(),
            Some("example.com")
        );
        assert_eq!(
            ok("session: {cookie_domain: app.example.com}")
                .session
                .cookie_domain
                .as_deref(),
            Some("app.example.com")
        );
        assert_eq!(
            errors("session: {cookie_domain: ample.com}"),
            ["session.cookie_domain: public_url host \"app.example.com\" is not \"ample.com\" or below it, so browsers would refuse the cookie"]
        );
        assert_eq!(
            errors("session: {cookie_domain: 'a b'}"),
            ["session.cookie_domain: \"a b\" is not a domain name"]
        );
    }

    #[test]
    fn cookie_secure_follows_the_public_url_scheme() {
        assert!(ok("{}").session.cookie_secure);
        assert!(
            !ok("public_url: 'http://app.example.com'")
                .session
                .cookie_secure
        );
    }

    #[test]
    fn session_ttl_must_be_positive_and_idle_zero_means_none() {
        assert_eq!(
            errors("session: {ttl_seconds: 0}"),
            ["session.ttl_seconds: must be greater than 0"]
        );
        assert_eq!(
            ok("session: {idle_timeout_seconds: 3600}")
                .session
                .idle_timeout_seconds,
            Some(3600)
        );
    }

    #[test]
    fn assertion_key_file_must_exist() {
        assert_eq!(
            errors("session: {assertion_key_file: keys/a.pem}"),
            ["session.assertion_key_file: cannot read \"keys/a.pem\": no such file"]
        );
        let env = MapEnv::new().file("keys/a.pem", "PEM");
        let c = load_with("session: {assertion_key_file: keys/a.pem}", &env).unwrap();
        assert_eq!(
            c.session.assertion_key_file.as_deref(),
            Some(Path::new("keys/a.pem"))
        );
    }

    // --- identity headers ---

    #[test]
    fn identity_headers_must_be_header_names() {
        assert_eq!(
            errors("identity_headers: {phone: 'X Phone'}"),
            ["identity_headers.phone: \"X Phone\" is not a header name"]
        );
        assert_eq!(
            ok("identity_headers: {phone: X-User-Phone}")
                .identity_headers
                .phone,
            "X-User-Phone"
        );
    }

    #[test]
    fn identity_headers_must_differ_even_in_case_and_underscores() {
        assert_eq!(
            errors("identity_headers: {openid: x_auth_user_id}"),
            ["identity_headers.openid: \"x_auth_user_id\" is already used by identity_headers.user_id"]
        );
    }

    #[test]
    fn identity_headers_cannot_take_over_http_headers() {
        assert_eq!(
            errors("identity_headers: {user_id: Cookie, method: transfer-encoding}"),
            [
                "identity_headers.user_id: \"Cookie\" is a header the gateway or HTTP itself needs",
                "identity_headers.method: \"transfer-encoding\" is a header the gateway or HTTP itself needs",
            ]
        );
    }

    // --- wechat ---

    #[test]
    fn api_base_is_http_and_loses_its_trailing_slash() {
        assert_eq!(
            ok("wechat: {api_base: 'http://127.0.0.1:9000/wx/'}")
                .wechat
                .api_base,
            "http://127.0.0.1:9000/wx"
        );
        assert_eq!(
            errors("wechat: {api_base: 'api.weixin.qq.com'}"),
            ["wechat.api_base: is not an http:// or https:// URL"]
        );
    }

    #[test]
    fn official_account_needs_app_id_secret_and_token() {
        assert_eq!(
            errors("wechat: {official_account: {app_id: null, app_secret: null, token: null}}"),
            [
                "wechat.official_account.app_id: is required",
                "wechat.official_account.app_secret: is required (or app_secret_file)",
                "wechat.official_account.token: is required (or token_file)",
            ]
        );
    }

    #[test]
    fn official_account_token_is_3_to_32_letters_or_digits() {
        for bad in ["ab", "tok-123", "t".repeat(33).as_str()] {
            assert_eq!(
                errors(&format!("wechat: {{official_account: {{token: '{bad}'}}}}")),
                ["wechat.official_account.token: must be 3 to 32 letters or digits"],
                "{bad}"
            );
        }
    }

    #[test]
    fn encoding_aes_key_is_43_base64_characters_of_32_bytes() {
        // Keys from wechat-protocol.md: the official sample (zero trailing bits) and the
        // sample with non-zero trailing bits that the strict base64 engine rejects.
        for good in [
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
        ] {
            let c = ok(&format!(
                "wechat: {{official_account: {{encoding_aes_key: {good}}}}}"
            ));
            assert!(c
                .wechat
                .official_account
                .unwrap()
                .encoding_aes_key
                .is_some());
        }
        for bad in [
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF!",
        ] {
            assert_eq!(
                errors(&format!("wechat: {{official_account: {{encoding_aes_key: '{bad}'}}}}")),
                ["wechat.official_account.encoding_aes_key: must be the 43 characters WeChat generated (base64 of a 32-byte key)"],
                "{bad}"
            );
        }
    }

    #[test]
    fn qr_expire_seconds_is_between_a_minute_and_thirty_days() {
        assert_eq!(
            errors("wechat: {official_account: {qr_expire_seconds: 59}}"),
            ["wechat.official_account.qr_expire_seconds: must be between 60 and 2592000 seconds (30 days)"]
        );
        let c = ok("wechat: {official_account: {qr_expire_seconds: 2592000}}");
        assert_eq!(
            c.wechat.official_account.unwrap().qr_expire_seconds,
            2_592_000
        );
    }

    #[test]
    fn forward_url_must_be_http() {
        assert_eq!(
            errors("wechat: {official_account: {forward_url: 'tcp://x'}}"),
            ["wechat.official_account.forward_url: must start with http:// or https://"]
        );
        let c = ok("wechat: {official_account: {forward_url: 'https://cms.example.com/wx?k=1', scan_reply: ''}}");
        let oa = c.wechat.official_account.unwrap();
        assert_eq!(
            (oa.forward_url.as_deref(), oa.scan_reply.as_str()),
            (Some("https://cms.example.com/wx?k=1"), "")
        );
    }

    fn official_account(snippet: &str) -> OfficialAccountConfig {
        ok(&format!("wechat: {{official_account: {snippet}}}"))
            .wechat
            .official_account
            .unwrap()
    }

    fn oa_errors(snippet: &str) -> Vec<String> {
        errors(&format!("wechat: {{official_account: {snippet}}}"))
    }

    #[test]
    fn forwarding_and_replies_default_to_off() {
        let oa = official_account("{}");
        assert_eq!(
            (oa.forward_logins, oa.forward_timeout_ms, &oa.replies),
            (false, 4000, &Replies::default())
        );
    }

    #[test]
    fn the_code_constructor_agrees_with_the_file_defaults() {
        // Destructured so that a new field cannot be left out of the comparison.
        let fields = |oa: OfficialAccountConfig| {
            let OfficialAccountConfig {
                app_id,
                app_secret,
                token,
                encoding_aes_key,
                qr_expire_seconds,
                scan_reply,
                forward_url,
                forward_logins,
                forward_timeout_ms,
                replies,
            } = oa;
            (
                (app_id, app_secret, token, encoding_aes_key),
                (qr_expire_seconds, scan_reply),
                (forward_url, forward_logins, forward_timeout_ms, replies),
            )
        };
        let code = OfficialAccountConfig::new("wx1", Secret::new("s3cret"), Secret::new("tok123"));
        assert_eq!(fields(code), fields(official_account("{}")));
    }

    #[test]
    fn forward_logins_is_read_with_a_forward_url() {
        let oa =
            official_account("{forward_url: 'http://127.0.0.1:7001/wx', forward_logins: true}");
        assert!(oa.forward_logins);
    }

    #[test]
    fn forward_logins_without_forward_url_is_an_error() {
        assert_eq!(
            oa_errors("{forward_logins: true}"),
            ["wechat.official_account.forward_logins: has no effect without forward_url"]
        );
    }

    #[test]
    fn forward_timeout_leaves_room_in_wechats_five_seconds() {
        for bad in [99, 4501] {
            assert_eq!(
                oa_errors(&format!("{{forward_timeout_ms: {bad}}}")),
                ["wechat.official_account.forward_timeout_ms: must be between 100 and 4500 milliseconds (WeChat waits 5 seconds in all)"],
                "{bad}"
            );
        }
        assert_eq!(
            official_account("{forward_timeout_ms: 4500}").forward_timeout_ms,
            4500
        );
    }

    #[test]
    fn replies_are_read_in_file_order() {
        let oa = official_account(
            "{replies: {subscribe: 欢迎, default: 收到, keywords: [{match: exact, keyword: 帮助, reply: h}, {match: contains, keyword: Price, reply: p}]}}",
        );
        assert_eq!(
            oa.replies,
            Replies {
                subscribe: Some("欢迎".into()),
                keywords: vec![
                    Keyword {
                        matching: KeywordMatch::Exact,
                        keyword: "帮助".into(),
                        reply: "h".into()
                    },
                    Keyword {
                        matching: KeywordMatch::Contains,
                        keyword: "Price".into(),
                        reply: "p".into()
                    },
                ],
                default: Some("收到".into()),
            }
        );
    }

    #[test]
    fn every_reply_text_must_not_be_empty() {
        assert_eq!(
            oa_errors("{replies: {subscribe: '', default: '  ', keywords: [{match: exact, keyword: a, reply: x}, {match: exact, keyword: b, reply: ''}]}}"),
            [
                "wechat.official_account.replies.subscribe: must not be empty",
                "wechat.official_account.replies.keywords[1].reply: must not be empty",
                "wechat.official_account.replies.default: must not be empty",
            ]
        );
    }

    #[test]
    fn a_reply_is_at_most_2048_bytes_not_characters() {
        // 683 CJK characters are 2049 bytes in UTF-8.
        let long = "好".repeat(683);
        assert_eq!(
            oa_errors(&format!("{{replies: {{default: {long}}}}}")),
            ["wechat.official_account.replies.default: is 2049 bytes; WeChat allows at most 2048 bytes in a passive text reply (a Chinese character takes 3)"]
        );
        let fits = "a".repeat(2048);
        assert_eq!(
            official_account(&format!("{{replies: {{subscribe: {fits}}}}}"))
                .replies
                .subscribe
                .map(|s| s.len()),
            Some(2048)
        );
    }

    #[test]
    fn a_keyword_entry_needs_match_keyword_and_reply() {
        assert_eq!(
            oa_errors("{replies: {keywords: [{}]}}"),
            [
                "wechat.official_account.replies.keywords[0].match: is required: exact (the whole message) or contains (anywhere in it)",
                "wechat.official_account.replies.keywords[0].keyword: is required",
                "wechat.official_account.replies.keywords[0].reply: is required",
            ]
        );
    }

    #[test]
    fn an_unknown_match_names_the_choices() {
        assert_eq!(
            oa_errors("{replies: {keywords: [{match: regex, keyword: a, reply: b}]}}"),
            ["wechat.official_account.replies.keywords[0].match: unknown variant `regex`, expected `exact` or `contains`"]
        );
    }

    #[test]
    fn a_keyword_must_not_be_empty() {
        assert_eq!(
            oa_errors("{replies: {keywords: [{match: contains, keyword: ' ', reply: b}]}}"),
            ["wechat.official_account.replies.keywords[0].keyword: must not be empty"]
        );
    }

    #[test]
    fn an_exact_keyword_has_no_surrounding_spaces() {
        assert_eq!(
            oa_errors("{replies: {keywords: [{match: exact, keyword: 'help ', reply: b}]}}"),
            ["wechat.official_account.replies.keywords[0].keyword: \"help \" must not start or end with spaces: messages are trimmed before an exact match"]
        );
        // Inside a message a space is a real character to look for.
        let oa = official_account(
            "{replies: {keywords: [{match: contains, keyword: ' vip', reply: b}]}}",
        );
        assert_eq!(oa.replies.keywords[0].keyword, " vip");
    }

    #[test]
    fn a_keyword_an_earlier_rule_always_wins_is_refused() {
        assert_eq!(
            oa_errors("{replies: {keywords: [{match: contains, keyword: Help, reply: a}, {match: exact, keyword: help me, reply: b}, {match: exact, keyword: 帮助, reply: c}, {match: exact, keyword: 帮助, reply: d}]}}"),
            [
                "wechat.official_account.replies.keywords[1].keyword: \"help me\" can never match: keywords[0] (contains \"Help\") comes first and matches every message it would",
                "wechat.official_account.replies.keywords[3].keyword: \"帮助\" can never match: keywords[2] (exact \"帮助\") comes first and matches every message it would",
            ]
        );
    }

    #[test]
    fn an_exact_rule_before_a_contains_rule_leaves_it_reachable() {
        let oa = official_account("{replies: {keywords: [{match: exact, keyword: vip, reply: a}, {match: contains, keyword: vip, reply: b}]}}");
        assert_eq!(oa.replies.keywords.len(), 2);
    }

    #[test]
    fn reply_problems_are_reported_with_every_other_one() {
        // A broken entry does not hide the shadowing between the entries around it.
        assert_eq!(
            oa_errors("{replies: {keywords: [{match: contains, keyword: a, reply: x}, {match: exact, keyword: b}, {match: exact, keyword: A, reply: y}]}}"),
            [
                "wechat.official_account.replies.keywords[1].reply: is required",
                "wechat.official_account.replies.keywords[2].keyword: \"A\" can never match: keywords[0] (contains \"a\") comes first and matches every message it would",
            ]
        );
    }

    #[test]
    fn a_keyword_entry_that_is_not_a_mapping_is_one_issue() {
        assert_eq!(
            oa_errors("{replies: {keywords: [帮助, {match: exact, keyword: a, reply: b}]}}"),
            ["wechat.official_account.replies.keywords[0]: expected a mapping, found a string"]
        );
    }

    #[test]
    fn replies_must_be_a_mapping_with_known_keys() {
        let got = oa_errors("{replies: {greeting: hi}}");
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(
            got[0].starts_with("wechat.official_account.replies.greeting: unknown key, expected one of `subscribe`, `keywords`, `default`"),
            "{got:#?}"
        );
    }

    #[test]
    fn mini_program_needs_app_id_and_secret_and_takes_defaults() {
        assert_eq!(
            errors("wechat: {mini_program: {}}"),
            [
                "wechat.mini_program.app_id: is required",
                "wechat.mini_program.app_secret: is required (or app_secret_file)"
            ]
        );
        let mp = ok("wechat: {mini_program: {app_id: wx2, app_secret: x}}")
            .wechat
            .mini_program
            .unwrap();
        assert_eq!(
            (mp.page.as_str(), mp.env_version.as_str()),
            ("pages/login/index", "release")
        );
        let mp = ok("wechat: {mini_program: {app_id: wx2, app_secret: x, env_version: trial}}")
            .wechat
            .mini_program
            .unwrap();
        assert_eq!(mp.env_version, "trial");
    }

    #[test]
    fn mini_program_page_has_no_leading_slash_or_query() {
        assert_eq!(
            errors("wechat: {mini_program: {app_id: wx2, app_secret: x, page: /pages/a?x=1}}"),
            ["wechat.mini_program.page: \"/pages/a?x=1\" is not a page path like pages/login/index (no leading /, no query)"]
        );
    }

    // --- login ---

    #[test]
    fn login_methods_are_known_non_empty_and_distinct() {
        assert_eq!(
            errors("login: {methods: []}"),
            ["login.methods: must list at least one method"]
        );
        assert_eq!(
            errors("login: {methods: [official_account, qq, official_account]}"),
            [
                "login.methods[1]: \"qq\" is not a login method (official_account or mini_program)",
                "login.methods[2]: official_account is listed twice",
            ]
        );
    }

    #[test]
    fn a_login_method_needs_its_wechat_section() {
        assert_eq!(
            errors("login: {methods: [official_account, mini_program]}"),
            ["login.methods[1]: mini_program needs a wechat.mini_program section (or wechat.simulate: true)"]
        );
    }

    #[test]
    fn the_simulator_stands_in_for_missing_sections() {
        let c = ok("{wechat: {simulate: true, official_account: null}, login: {methods: [mini_program, official_account]}}");
        assert_eq!(
            c.login.methods,
            [LoginMethod::MiniProgram, LoginMethod::OfficialAccount]
        );
        assert!(c.wechat.simulate && c.wechat.official_account.is_none());
    }

    #[test]
    fn phone_policy_takes_its_three_values() {
        assert_eq!(ok("login: {phone: off}").login.phone, PhonePolicy::Off);
        assert_eq!(
            ok("login: {phone: optional}").login.phone,
            PhonePolicy::Optional
        );
    }

    #[test]
    fn code_ttl_is_between_a_minute_and_an_hour() {
        assert_eq!(
            errors("login: {code_ttl_seconds: 3601}"),
            ["login.code_ttl_seconds: must be between 60 and 3600 seconds"]
        );
    }

    #[test]
    fn webhook_sms_needs_an_http_url() {
        assert_eq!(
            errors("login: {sms: {provider: webhook}}"),
            ["login.sms.url: is required with provider: webhook"]
        );
        assert_eq!(
            errors("login: {sms: {provider: webhook, url: 'smtp://x'}}"),
            ["login.sms.url: must start with http:// or https://"]
        );
        assert!(
            matches!(ok("login: {sms: {provider: webhook, url: 'http://127.0.0.1:7000/sms'}}").login.sms, SmsConfig::Webhook { ref url } if url == "http://127.0.0.1:7000/sms")
        );
    }

    #[test]
    fn tencent_sms_needs_all_its_keys() {
        assert_eq!(
            errors("login: {sms: {provider: tencent, sign_name: ''}}"),
            [
                "login.sms.secret_id: is required (or secret_id_file)",
                "login.sms.secret_key: is required (or secret_key_file)",
                "login.sms.sdk_app_id: is required",
                "login.sms.sign_name: is empty",
                "login.sms.template_id: is required",
            ]
        );
    }

    // --- routes ---

    #[test]
    fn at_least_one_route_is_required() {
        assert_eq!(
            errors("routes: []"),
            ["routes: at least one route is required"]
        );
    }

    #[test]
    fn route_names_are_required_plain_and_unique() {
        assert_eq!(
            errors("routes: [{upstreams: ['127.0.0.1:1']}, {name: 'a b', upstreams: ['127.0.0.1:1']}, {name: x, upstreams: ['127.0.0.1:1']}, {name: x, upstreams: ['127.0.0.1:1']}]"),
            [
                "routes[0].name: is required",
                "routes[1].name: \"a b\" may only contain letters, digits, '_', '.' and '-'",
                "routes[3].name: \"x\" is already the name of routes[2]",
            ]
        );
    }

    #[test]
    fn route_hosts_are_exact_or_leading_wildcard_lowercased() {
        let c = ok("routes: [{name: a, host: App.Example.com, upstreams: ['127.0.0.1:1']}, {name: b, host: '*.Example.com', upstreams: ['127.0.0.1:1']}]");
        assert_eq!(
            c.routes[0].host,
            Some(HostPattern::Exact("app.example.com".into()))
        );
        assert_eq!(
            c.routes[1].host,
            Some(HostPattern::Suffix(".example.com".into()))
        );
    }

    #[test]
    fn route_hosts_have_no_port_and_no_inner_wildcard() {
        assert_eq!(
            errors("routes: [{name: a, host: 'a.example.com:8080', upstreams: ['127.0.0.1:1']}, {name: b, host: 'a.*.com', upstreams: ['127.0.0.1:1']}, {name: c, host: 'a b', upstreams: ['127.0.0.1:1']}]"),
            [
                "routes[0].host: \"a.example.com:8080\" must not have a port (routes match any port)",
                "routes[1].host: \"a.*.com\": the only wildcard allowed is a leading *.",
                "routes[2].host: \"a b\" is not a host name",
            ]
        );
    }

    #[test]
    fn path_prefix_shape_is_checked() {
        assert_eq!(
            errors("routes: [{name: a, path_prefix: api, upstreams: ['127.0.0.1:1']}, {name: b, path_prefix: '/a//b', upstreams: ['127.0.0.1:1']}]"),
            ["routes[0].path_prefix: \"api\" must start with /", "routes[1].path_prefix: \"/a//b\" must not contain //"]
        );
    }

    #[test]
    fn path_prefix_must_not_fall_under_auth_path() {
        assert_eq!(
            errors("routes: [{name: a, path_prefix: /.auth/login, upstreams: ['127.0.0.1:1']}]"),
            ["routes[0].path_prefix: \"/.auth/login\" is under auth_path \"/.auth\", which the gateway serves itself"]
        );
        // A sibling that merely starts with the same characters is fine.
        assert_eq!(
            ok("routes: [{name: a, path_prefix: /.authors, upstreams: ['127.0.0.1:1']}]").routes[0]
                .path_prefix,
            "/.authors"
        );
    }

    #[test]
    fn upstreams_are_required_and_resolved_once() {
        assert_eq!(
            errors("routes: [{name: a}]"),
            ["routes[0].upstreams: at least one upstream is required"]
        );
        let c = ok("routes: [{name: a, upstreams: ['localhost:3000', '[::1]:3001']}]");
        assert_eq!(c.routes[0].upstreams[0].name, "localhost:3000");
        assert_eq!(
            c.routes[0].upstreams[0].addr,
            SocketAddr::from((Ipv4Addr::LOCALHOST, 3000))
        );
        assert_eq!(c.routes[0].upstreams[1].addr.port(), 3001);
    }

    #[test]
    fn upstreams_that_are_not_host_port_or_do_not_resolve_are_errors() {
        assert_eq!(
            errors("routes: [{name: a, upstreams: [abc, 'a:0', 'nohost.invalid:80']}]"),
            [
                "routes[0].upstreams[0]: \"abc\" is not host:port",
                "routes[0].upstreams[1]: \"a:0\" is not host:port",
                "routes[0].upstreams[2]: cannot resolve \"nohost.invalid:80\"",
            ]
        );
    }

    #[test]
    fn allow_phones_are_normalised_and_explained_when_wrong() {
        let c = ok("routes: [{name: a, auth: phone, upstreams: ['127.0.0.1:1'], allow_phones: ['138 0013 8000']}]");
        assert_eq!(c.routes[0].allow_phones[0].as_str(), "+8613800138000");
        assert_eq!(
            errors("routes: [{name: a, upstreams: ['127.0.0.1:1'], allow_phones: ['12345']}]"),
            ["routes[0].allow_phones[0]: \"12345\" has 5 digits; E.164 numbers have 8 to 15"]
        );
    }

    #[test]
    fn allow_users_are_non_empty() {
        let c = ok("routes: [{name: a, upstreams: ['127.0.0.1:1'], allow_users: [u1]}]");
        assert_eq!(c.routes[0].allow_users, [UserId::new("u1")]);
        assert_eq!(
            errors("routes: [{name: a, upstreams: ['127.0.0.1:1'], allow_users: [' ']}]"),
            ["routes[0].allow_users[0]: is empty"]
        );
    }

    #[test]
    fn allow_lists_on_a_public_route_are_an_error() {
        assert_eq!(
            errors(
                "routes: [{name: a, auth: public, upstreams: ['127.0.0.1:1'], allow_users: [u1]}]"
            ),
            ["routes[0].allow_users: has no effect with auth: public (use auth: login or phone)"]
        );
    }

    #[test]
    fn route_timeouts_are_at_least_one_second() {
        assert_eq!(
            errors("routes: [{name: a, upstreams: ['127.0.0.1:1'], connect_timeout_seconds: 0, read_timeout_seconds: 0}]"),
            ["routes[0].connect_timeout_seconds: must be at least 1", "routes[0].read_timeout_seconds: must be at least 1"]
        );
    }

    #[test]
    fn problems_in_every_section_are_reported_together() {
        let got = errors("{listen: x, session: {ttl_seconds: 0}, login: {code_ttl_seconds: 1}, routes: [{name: a, upstreams: [abc]}]}");
        assert_eq!(
            got,
            [
                "listen: \"x\" is not an ip:port address",
                "session.ttl_seconds: must be greater than 0",
                "login.code_ttl_seconds: must be between 60 and 3600 seconds",
                "routes[0].upstreams[0]: \"abc\" is not host:port",
            ]
        );
    }

    #[test]
    fn secrets_do_not_show_in_the_config_debug_output() {
        let c = ok("store: {backend: redis, url: 'redis://:hunter2@db'}");
        let shown = format!("{c:?}");
        for secret in SECRETS {
            assert!(!shown.contains(secret), "{secret} in Debug");
        }
    }
}
