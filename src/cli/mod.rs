//! The operator's commands besides `run`, `check` and `demo`, each a function of the loaded
//! config that prints its findings and returns the process exit code:
//!
//! - `wechat.rs`: `scangate wechat check | menu push | menu show`;
//! - `sms.rs`: `scangate sms test`.
//!
//! Exit codes: [`EXIT_OK`], [`EXIT_REFUSED`] (the service refused or could not be reached),
//! [`EXIT_CONFIG`] (a config, file or argument problem; EX_USAGE).

pub mod sms;
pub mod wechat;

pub const EXIT_OK: u8 = 0;
pub const EXIT_REFUSED: u8 = 1;
pub const EXIT_CONFIG: u8 = 64;

/// A runtime for one command's calls.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}
