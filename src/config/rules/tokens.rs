//! `tokens`: the audiences `{auth_path}/token` mints bearer tokens for, and the page origins
//! allowed to ask for them.

use super::Validator;
use crate::config::file::{TokenAudienceFile, TokensFile};
use crate::config::model::{TokenAudience, TokensConfig};
use crate::config::syntax::HttpUrl;

#[cfg(test)]
mod tests;

/// A token lives at least a minute (shorter, and a page would fetch one per request) and
/// at most an hour (it cannot be revoked once handed out: its lifetime is the window).
const TTL_MIN: u64 = 60;
const TTL_MAX: u64 = 3600;

impl Validator<'_> {
    pub(super) fn tokens(&mut self, tokens: TokensFile) -> Option<TokensConfig> {
        let TokensFile { audiences } = tokens;
        let mut names: Vec<String> = Vec::new();
        let all = self.each(audiences, |v, i, a| {
            let at = format!("tokens.audiences[{i}]");
            let audience = v.audience(&at, a)?;
            if names.contains(&audience.name) {
                return v.reject(
                    format!("{at}.name"),
                    format!("{:?} is listed twice", audience.name),
                );
            }
            names.push(audience.name.clone());
            Some(audience)
        });
        Some(TokensConfig { audiences: all? })
    }

    fn audience(&mut self, at: &str, audience: TokenAudienceFile) -> Option<TokenAudience> {
        let TokenAudienceFile {
            name,
            origins,
            ttl_seconds,
        } = audience;
        let name_at = format!("{at}.name");
        let name = self.required_text(&name_at, name).and_then(|name| {
            // It travels in a query (`?aud=`) and a JWT claim: keep it a plain word.
            let plain = name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
            if plain && name.len() <= 64 {
                Some(name)
            } else {
                self.reject(
                    &name_at,
                    "must be 1 to 64 letters, digits, '-', '_', '.' or ':'",
                )
            }
        });
        let origins = self.each(origins, |v, i, text| {
            v.origin(&format!("{at}.origins[{i}]"), &text)
        });
        let ttl_seconds = self.within(
            &format!("{at}.ttl_seconds"),
            ttl_seconds,
            TTL_MIN,
            TTL_MAX,
            "seconds",
        );
        Some(TokenAudience {
            name: name?,
            origins: origins?,
            ttl_seconds: ttl_seconds?,
        })
    }

    /// An origin as browsers send it (`https://spa.example.com`, `http://localhost:5173`):
    /// scheme and host only, no path, no trailing slash. Kept in the browser's spelling
    /// (lower case, default port left out) so a request's `Origin` is compared byte for byte.
    fn origin(&mut self, at: &str, text: &str) -> Option<String> {
        if text == "*" || text == "null" {
            return self.reject(
                at,
                format!("{text:?} is not allowed: list each page origin exactly"),
            );
        }
        let url = match HttpUrl::parse(text) {
            Ok(url) => url,
            Err(why) => return self.reject(at, why),
        };
        if !url.rest.is_empty() {
            return self.reject(
                at,
                "must be an origin (scheme://host[:port]) without a path or trailing /",
            );
        }
        Some(url.origin())
    }
}
