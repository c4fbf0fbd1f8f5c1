//! `scangate demo`: everything on one machine, nothing to configure. The gateway on
//! `listen`, the demo app behind it (it shows the identity headers it receives), the built-in
//! WeChat simulator (signed, encrypted callbacks as WeChat sends them), an embedded store in
//! `data_dir`, and the `log` SMS provider whose codes the login page shows.
//!
//! All of the demo lives here, behind the default-on `demo` cargo feature (a build without it
//! has no simulator, no demo endpoints and no axum):
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the `scangate demo` command: its config, secret and start-up |
//! | `app.rs` | the demo app behind the gateway, which shows the identity headers it receives |
//! | `gateway.rs` | [`Demo`]: what `wechat.simulate: true` adds to any gateway (the simulator, the returning user, `POST /demo/scan`, codes shown on the page), plugged in through [`crate::proxy::app::DemoHooks`] |
//! | `returning.rs` | who "returning user" is: the last person to log in through the demo, else the seeded one |
//!
//! The simulator itself is [`crate::wechat_sim`].

mod app;
mod gateway;
mod returning;

pub use gateway::{Demo, RETURNING_OPENID, RETURNING_PHONE};

use std::net::SocketAddr;
use std::path::Path;

use rand::distributions::{Alphanumeric, DistString};

use crate::config::{self, env::MapEnv};
use crate::server;

/// The demo's config: a public area and a protected app, both served by the demo app.
/// Where a browser reaches a demo listening on `listen`: itself, or `localhost` when it
/// listens on all interfaces (in a container, published on the host).
fn public_address(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("localhost:{}", listen.port())
    } else {
        listen.to_string()
    }
}

fn demo_yaml(listen: SocketAddr, admin: SocketAddr, data_dir: &Path, app: SocketAddr) -> String {
    let public = public_address(listen);
    format!(
        r#"listen: "{listen}"
public_url: "http://{public}"
admin_listen: "{admin}"
shutdown_timeout_seconds: 1
store:
  backend: embedded
  path: "{data}/scangate.db"
session:
  secret: "${{DEMO_SESSION_SECRET}}"
  idle_timeout_seconds: 86400
wechat:
  simulate: true
login:
  methods: [official_account, mini_program, website, sms]
  sms_signup: true
  phone: required
  sms:
    provider: log
routes:
  - name: public
    path_prefix: /public
    upstreams: ["{app}"]
    auth: public
  - name: app
    path_prefix: /
    upstreams: ["{app}"]
    auth: login
"#,
        data = data_dir.display()
    )
}

/// The demo's session secret, generated once and kept in `data_dir` so sessions survive a
/// restart of the demo.
fn session_secret(data_dir: &Path) -> Result<String, String> {
    let path = data_dir.join("session-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if existing.trim().len() >= 32 {
            return Ok(existing.trim().to_string());
        }
    }
    let secret = Alphanumeric.sample_string(&mut rand::thread_rng(), 48);
    std::fs::write(&path, &secret).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(secret)
}

/// Runs the demo in the foreground until SIGTERM or SIGINT.
pub fn run(data_dir: &Path, listen: SocketAddr, admin: SocketAddr) -> Result<(), String> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let secret = session_secret(data_dir)?;
    let side = server::side_runtime().map_err(|e| e.to_string())?;
    let app_addr = side
        .block_on(app::start())
        .map_err(|e| format!("cannot start the demo app: {e}"))?;
    let yaml = demo_yaml(listen, admin, data_dir, app_addr);
    let mut config = config::from_yaml(&yaml, &MapEnv::new().var("DEMO_SESSION_SECRET", &secret))
        .map_err(|e| format!("demo config: {e}"))?;
    // WeChat's in-app browser signs in by web authorization (the simulator's authorize page);
    // the account's secrets are made up at every start, as the simulator plays it.
    config.wechat.official_account = Some(config::OfficialAccountConfig {
        oauth: Some(config::OAuthScope::Base),
        ..gateway::simulated_account()
    });
    let registry = prometheus::default_registry().clone();
    let app = server::build_app(config, &registry, &side).map_err(|e| e.to_string())?;
    println!();
    println!("  scangate demo is running");
    let public = public_address(listen);
    println!("  open        http://{public}/          (you will be asked to sign in)");
    println!("  public page http://{public}/public/");
    println!("  metrics     http://{admin}/metrics");
    println!("  data        {}", data_dir.display());
    println!("  On the login page, click \"Simulate scan\"; SMS codes are shown on the page and in this log.");
    println!(
        "  Its device switch shows the page as a phone's browser or WeChat's own browser sees it."
    );
    println!("  \"WeChat web login\" goes through the simulated website QR page; \"Simulate: open inside WeChat\"");
    println!("  (or any page opened with a MicroMessenger user agent) through WeChat's authorization page.");
    println!();
    server::run_app(app, registry, &side, None).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_demo_on_all_interfaces_is_reached_as_localhost() {
        let app: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let admin: SocketAddr = "0.0.0.0:9100".parse().unwrap();
        for (listen, public_url) in [
            ("0.0.0.0:8080", "http://localhost:8080"),
            ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ] {
            let yaml = demo_yaml(listen.parse().unwrap(), admin, Path::new("/tmp/d"), app);
            let env = MapEnv::new().var("DEMO_SESSION_SECRET", "s".repeat(48));
            let config = config::from_yaml(&yaml, &env).unwrap();
            assert_eq!(config.public_url.origin, public_url, "{listen}");
        }
    }
}
