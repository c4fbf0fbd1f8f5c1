//! scangate: a reverse-proxy authentication gateway with WeChat QR login, on pingora.
//!
//! Dependency direction (checked by review and by the before-stop grep):
//! `main -> server -> proxy -> {session, metrics, config}`; `identity` and `config` are read by
//! all and depend on nothing of ours; only `proxy/` and `server.rs` import pingora.
//!
//! The demo is an optional part, the default-on `demo` cargo feature: `wechat_sim` (the WeChat
//! simulator, built on `wechat`) and `demo` (`scangate demo`, the demo app, and what
//! `wechat.simulate: true` adds to a gateway), which plugs into the login endpoints through
//! one seam, [`proxy::app::DemoHooks`]. Without the feature neither exists, nor does axum.

pub mod access_log;
pub mod audit;
pub mod branding;
pub mod cli;
pub mod cli_users;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod identity;
pub mod log_sink;
pub mod login;
pub mod metrics;
pub mod pages;
pub mod proxy;
pub mod replies;
pub mod server;
pub mod session;
pub mod sms;
pub mod store;
pub mod users;
pub mod utc;
pub mod wechat;
#[cfg(any(test, feature = "demo"))]
pub mod wechat_sim;
