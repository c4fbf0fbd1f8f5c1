//! `store`: the embedded SQLite file or the Redis URL.

use std::path::PathBuf;

use super::Validator;
use crate::config::file::{StoreBackend, StoreFile};
use crate::config::model::StoreConfig;

#[cfg(test)]
mod tests;

impl Validator<'_> {
    pub(super) fn store(&mut self, store: StoreFile) -> Option<StoreConfig> {
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
                // The rest as the store will read it at start (the message never echoes
                // the URL).
                if let Err(e) = crate::config::redis_url::parse(url.expose()) {
                    return self.reject("store.url", e.to_string());
                }
                Some(StoreConfig::Redis { url, key_prefix })
            }
        }
    }
}
