//! Where the config file's outside world comes from: `${VAR}` values and `*_file` contents.
//!
//! Validation reads the environment only through [`Env`], so tests can use [`MapEnv`] instead
//! of `std::env::set_var` (which is process-global and racy under the test harness).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The environment the config file is resolved against.
pub trait Env {
    /// The value of environment variable `name`; `None` when unset (or not UTF-8).
    fn var(&self, name: &str) -> Option<String>;
    /// The whole content of the file at `path` (relative paths: from the working directory).
    fn read_file(&self, path: &Path) -> io::Result<String>;
    /// The file at `path` as bytes (images); by default [`Env::read_file`]'s text.
    fn read_bytes(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.read_file(path).map(String::into_bytes)
    }
}

/// The real process environment and file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn read_file(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn read_bytes(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

/// An environment held in memory, for tests:
/// `MapEnv::new().var("SCANGATE_SESSION_SECRET", "...").file("/run/secrets/x", "...")`.
/// Its `Debug` lists names only, since values are usually secrets.
#[derive(Clone, Default)]
pub struct MapEnv {
    vars: HashMap<String, String>,
    files: HashMap<PathBuf, String>,
}

impl MapEnv {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets variable `name` to `value`.
    pub fn var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Makes `path` readable with `content`; every other path is "not found".
    pub fn file(mut self, path: impl Into<PathBuf>, content: impl Into<String>) -> Self {
        self.files.insert(path.into(), content.into());
        self
    }
}

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn read_file(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }
}

impl fmt::Debug for MapEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut vars: Vec<&String> = self.vars.keys().collect();
        vars.sort();
        let mut files: Vec<&PathBuf> = self.files.keys().collect();
        files.sort();
        f.debug_struct("MapEnv")
            .field("vars", &vars)
            .field("files", &files)
            .finish()
    }
}

/// Why `${...}` in a string could not be replaced. Never carries the string itself: it may
/// be a secret with a stray `$` in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubstError {
    #[error("environment variable {0} is not set")]
    Unset(String),
    #[error("`${{` has no closing `}}` (write `$$` for a literal `$`)")]
    Unterminated,
    #[error("`${{...}}` must hold a variable name: letters, digits and `_`, not starting with a digit (write `$$` for a literal `$`)")]
    BadName,
}

/// Replaces every `${NAME}` in `input` with the variable's value from `env`; `$$` is a
/// literal `$`, and any other `$` is kept as is. Returns every problem in the string, not
/// only the first.
pub fn substitute(input: &str, env: &dyn Env) -> Result<String, Vec<SubstError>> {
    let mut out = String::with_capacity(input.len());
    let mut errors = Vec::new();
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(end) = inner.find('}') else {
                errors.push(SubstError::Unterminated);
                rest = "";
                break;
            };
            let name = &inner[..end];
            if !is_var_name(name) {
                errors.push(SubstError::BadName);
            } else if let Some(value) = env.var(name) {
                out.push_str(&value);
            } else {
                errors.push(SubstError::Unset(name.to_string()));
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> MapEnv {
        MapEnv::new().var("A", "alpha").var("EMPTY", "")
    }

    #[test]
    fn variables_are_replaced_anywhere_in_the_string() {
        assert_eq!(substitute("x-${A}-${A}", &env()).unwrap(), "x-alpha-alpha");
        assert_eq!(substitute("${EMPTY}", &env()).unwrap(), "");
        assert_eq!(substitute("no dollars", &env()).unwrap(), "no dollars");
    }

    #[test]
    fn double_dollar_is_a_literal_dollar_and_is_not_expanded() {
        assert_eq!(substitute("p$$w", &env()).unwrap(), "p$w");
        assert_eq!(substitute("$${A}", &env()).unwrap(), "${A}");
    }

    #[test]
    fn a_lone_dollar_is_kept() {
        assert_eq!(substitute("a$b$", &env()).unwrap(), "a$b$");
    }

    #[test]
    fn every_unset_variable_is_reported_by_name() {
        assert_eq!(
            substitute("${NOPE}/${A}/${ALSO_NOPE}", &env()),
            Err(vec![
                SubstError::Unset("NOPE".into()),
                SubstError::Unset("ALSO_NOPE".into())
            ])
        );
        assert_eq!(
            SubstError::Unset("SCANGATE_SESSION_SECRET".into()).to_string(),
            "environment variable SCANGATE_SESSION_SECRET is not set"
        );
    }

    #[test]
    fn malformed_references_are_errors_that_do_not_echo_the_text() {
        assert_eq!(
            substitute("${A", &env()),
            Err(vec![SubstError::Unterminated])
        );
        assert_eq!(substitute("${1A}", &env()), Err(vec![SubstError::BadName]));
        assert_eq!(substitute("${}", &env()), Err(vec![SubstError::BadName]));
        let shown = substitute("hunter2${not-a-name}", &env()).unwrap_err()[0].to_string();
        assert!(
            !shown.contains("hunter2") && !shown.contains("not-a-name"),
            "{shown}"
        );
    }

    #[test]
    fn map_env_reads_only_the_files_it_was_given() {
        let env = MapEnv::new().file("/run/s", "v\n");
        assert_eq!(env.read_file(Path::new("/run/s")).unwrap(), "v\n");
        let err = env.read_file(Path::new("/run/other")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn map_env_debug_shows_names_not_values() {
        let shown = format!(
            "{:?}",
            MapEnv::new().var("K", "topsecret").file("/f", "filesecret")
        );
        assert!(shown.contains("\"K\"") && shown.contains("/f"), "{shown}");
        assert!(
            !shown.contains("topsecret") && !shown.contains("filesecret"),
            "{shown}"
        );
    }
}
