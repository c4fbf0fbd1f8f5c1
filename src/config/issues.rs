//! What a config problem looks like ([`ConfigIssue`], [`ConfigErrors`]) and the collector
//! every stage reports into ([`Issues`]), which drops the follow-ups of a value already
//! reported as unusable.

use std::fmt;

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

/// The problems found so far, in the order found, and the paths whose value is unusable.
#[derive(Default)]
pub(crate) struct Issues {
    list: Vec<ConfigIssue>,
    broken_paths: Vec<String>,
}

impl Issues {
    /// A problem that makes the value at `path` unusable: reported, and later problems at or
    /// below `path` are dropped.
    pub fn broken(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        self.list.push(ConfigIssue {
            path: path.clone(),
            message: message.into(),
        });
        self.broken_paths.push(path);
    }

    /// Marks `path` broken without a message of its own (its cause is already reported).
    pub fn mark_broken(&mut self, path: impl Into<String>) {
        self.broken_paths.push(path.into());
    }

    /// A rule broken; dropped when `path` is at or below a broken path.
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        if !self.is_broken(&path) {
            self.list.push(ConfigIssue {
                path,
                message: message.into(),
            });
        }
    }

    pub fn is_broken(&self, path: &str) -> bool {
        self.broken_paths.iter().any(|b| is_at_or_below(path, b))
    }

    /// `config` when nothing was reported, else every problem.
    pub fn finish<T>(self, config: Option<T>) -> Result<T, ConfigErrors> {
        match config {
            Some(config) if self.list.is_empty() => Ok(config),
            _ => Err(self.into_errors()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_broken_path_hides_the_problems_below_it_only() {
        let mut issues = Issues::default();
        issues.broken("routes[1]", "expected a mapping");
        issues.add("routes[1].name", "is required");
        issues.add("routes[10].name", "is required");
        issues.add("routes", "is checked");
        let shown: Vec<String> = match issues.finish(Some(())) {
            Ok(()) => panic!("expected errors"),
            Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
        };
        assert_eq!(
            shown,
            [
                "routes[1]: expected a mapping",
                "routes[10].name: is required",
                "routes: is checked"
            ]
        );
    }
}
