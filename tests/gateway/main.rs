//! Black-box tests of the gateway core: one test binary (so one process holds every
//! in-process server), each test on its own ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod branding;
mod browser;
mod harness;

mod auth_gate;
mod deploy;
mod devices;
mod endpoints;
mod hardening;
mod headers;
mod in_wechat;
mod interop;
mod login_flow;
mod mini_program;
mod oauth;
mod operations;
mod owning;
mod process;
mod quota;
mod redis;
mod routing;
mod scenes;
mod security_accounts;
mod security_gate;
mod security_protocol;
mod sms_cli;
mod sms_login;
mod sms_providers;
mod source_ip;
mod tokens;
mod tokens_interop;
mod url_link;
mod users_admin;
mod wechat_cli;
mod wechat_errors;
