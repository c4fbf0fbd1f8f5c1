//! `admin`: the user API on the admin listener, on only when a token is set.

use std::net::SocketAddr;

use super::{Resolved, Validator};
use crate::config::file::AdminFile;
use crate::config::model::AdminConfig;

#[cfg(test)]
mod tests;

/// The shortest API token accepted: a token is the only thing between the network and
/// every user's record, so it must not be guessable.
pub const MIN_TOKEN_CHARS: usize = 32;

impl Validator<'_> {
    /// `admin_listen` is the already validated listener (`Some(None)`: none configured).
    pub(super) fn admin(
        &mut self,
        admin: AdminFile,
        admin_listen: Option<&Option<SocketAddr>>,
    ) -> Option<AdminConfig> {
        let AdminFile {
            api_token,
            api_token_file,
        } = admin;
        let token = match self.secret("admin.api_token", api_token, api_token_file) {
            Resolved::Absent => return Some(AdminConfig { api_token: None }),
            Resolved::Invalid => return None,
            Resolved::Value(token) => token,
        };
        let mut valid = true;
        if token.expose().chars().count() < MIN_TOKEN_CHARS {
            self.issues.add(
                "admin.api_token",
                format!("is shorter than {MIN_TOKEN_CHARS} characters; use a long random token (openssl rand -hex 32)"),
            );
            valid = false;
        }
        if matches!(admin_listen, Some(None)) {
            self.issues.add(
                "admin.api_token",
                "the API is served on admin_listen only, which is not set",
            );
            valid = false;
        }
        valid.then_some(AdminConfig {
            api_token: Some(token),
        })
    }
}
