//! Stages 1 to 3 of reading a config file: from text to a [`FileConfig`] that the section
//! rules (`rules/`) can take, reporting what they find and carrying on.
//!
//! 1. YAML syntax (one issue with line and column; nothing else can be checked after it).
//! 2. Shape: the document is deserialized into [`FileConfig`] repeatedly; each failure (an
//!    unknown key, a wrong type) is reported at its path and the offending node is removed
//!    (or, inside a list, replaced by an empty placeholder so later indices keep their
//!    numbers), until the rest deserializes. So one bad key never hides another.
//! 3. `${VAR}` substitution in every string value that survived stage 2.
//!
//! A path that failed here is "broken" (see [`Issues`]): later problems at or below it are
//! dropped, since they would only repeat the first one in other words.

use std::collections::HashMap;

use yaml_serde::{Mapping, Value};

use super::env::{substitute, Env};
use super::file::FileConfig;
use super::issues::Issues;

/// The file as its schema type, after stages 1 to 3. `None` when nothing can be checked
/// further (a syntax error); every problem found is in `issues`.
pub(crate) fn read(text: &str, env: &dyn Env, issues: &mut Issues) -> Option<FileConfig> {
    let mut root = match parse_yaml(text) {
        Ok(root) => root,
        Err(message) => {
            issues.broken("", message);
            return None;
        }
    };
    remove_non_string_keys(&mut root, &mut Vec::new(), issues);
    prune_until_it_deserializes(&mut root, issues);
    substitute_env(&mut root, env, &mut Vec::new(), issues);
    match serde_path_to_error::deserialize::<_, FileConfig>(root) {
        Ok(file) => Some(file),
        // Stage 2 left a tree that deserializes and stage 3 only rewrote strings, so this
        // is a bug; still a config error rather than a panic.
        Err(e) => {
            issues.broken("", format!("internal error: {}", e.inner()));
            None
        }
    }
}

// === Stage 1: syntax ===

/// The document, or the syntax error's message.
fn parse_yaml(text: &str) -> Result<Value, String> {
    let syntax = |e: yaml_serde::Error| {
        let text = scrub_syntax_message(&e.to_string());
        match e.location() {
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
        }
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

#[cfg(test)]
mod tests;
