//! `session`: the cookie (secret, name, domain, lifetimes) and the identity assertion's key.

use p256::pkcs8::DecodePrivateKey;
use p256::SecretKey;

use super::Validator;
use crate::config::file::SessionFile;
use crate::config::model::{PublicUrl, SessionConfig};
use crate::config::syntax::{is_hostname, is_token_byte};

#[cfg(test)]
mod tests;

impl Validator<'_> {
    pub(super) fn session(
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
            Some(file) => self.assertion_key_file(&file).map(Some),
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

    /// The file must hold what start-up loads (`AssertionSigner::from_pem`): a P-256 private
    /// key in PEM, PKCS#8 or SEC1. Never echoes the file: it is a secret.
    fn assertion_key_file(&mut self, file: &str) -> Option<std::path::PathBuf> {
        const KEY: &str = "session.assertion_key_file";
        let (path, pem) = self.read_file(KEY, file)?;
        let usable =
            SecretKey::from_pkcs8_pem(&pem).is_ok() || SecretKey::from_sec1_pem(&pem).is_ok();
        if !usable {
            return self.reject(
                KEY,
                "is not a P-256 private key in PEM (BEGIN PRIVATE KEY or BEGIN EC PRIVATE KEY)",
            );
        }
        Some(path)
    }
}
