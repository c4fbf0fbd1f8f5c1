//! The `scangate wechat ...` commands: operate the Official Account the gateway owns.
//!
//! - `wechat check`: asks WeChat for an access token with the configured app id and secret,
//!   and says in plain words what is wrong (wrong AppID, wrong AppSecret, IP not whitelisted);
//!   then prints what is left today of the quotas logins spend (`qrcode/create`, and the Mini
//!   Program's `getwxacodeunlimit` when configured).
//! - `wechat menu push`: the custom menu from a YAML file (the web console's menu stops
//!   working once the server URL points at scangate), validated locally first.
//! - `wechat menu show`: the menu WeChat currently serves.
//!
//! Each returns the process exit code: 0 ok, 1 WeChat refused or could not be reached,
//! 64 a config or menu file problem.

use std::path::Path;
use std::time::Duration;

use super::{runtime, EXIT_CONFIG, EXIT_OK, EXIT_REFUSED};
use crate::config::Config;
use crate::wechat::client::{ApiQuota, QRCODE_CREATE_PATH, WXACODE_UNLIMITED_PATH};
use crate::wechat::{ApiConfig, Menu, WechatClient};

fn client(config: &Config) -> Result<WechatClient, String> {
    let oa =
        config.wechat.official_account.as_ref().ok_or(
            "wechat.official_account: not configured (these commands operate that account)",
        )?;
    WechatClient::new(ApiConfig {
        api_base: config.wechat.api_base.clone(),
        app_id: oa.app_id.clone(),
        app_secret: oa.app_secret.expose().to_string(),
        timeout: Duration::from_secs(10),
    })
    .map_err(|e| e.to_string())
}

/// `scangate wechat check`: the credentials, then the quotas logins spend.
pub fn check(config: &Config) -> u8 {
    let result = client(config).and_then(|c| {
        let rt = runtime()?;
        let report = rt
            .block_on(c.check())
            .map_err(|e| format!("WeChat could not be reached: {e}"))?;
        let mut quotas = Vec::new();
        if report.is_ok() {
            quotas.push(quota_line(
                "qrcode/create",
                rt.block_on(c.api_quota(QRCODE_CREATE_PATH)),
            ));
            if let Some(mp) = &config.wechat.mini_program {
                let mp_client = WechatClient::new(ApiConfig {
                    api_base: config.wechat.api_base.clone(),
                    app_id: mp.app_id.clone(),
                    app_secret: mp.app_secret.expose().to_string(),
                    timeout: Duration::from_secs(10),
                })
                .map_err(|e| e.to_string())?;
                quotas.push(quota_line(
                    "getwxacodeunlimit (Mini Program)",
                    rt.block_on(mp_client.api_quota(WXACODE_UNLIMITED_PATH)),
                ));
            }
        }
        Ok((report, quotas))
    });
    match result {
        Ok((report, quotas)) => {
            println!("{report}");
            for line in quotas {
                println!("{line}");
            }
            if report.is_ok() {
                EXIT_OK
            } else {
                EXIT_REFUSED
            }
        }
        Err(e) => {
            eprintln!("{e}");
            EXIT_REFUSED
        }
    }
}

/// One line of `wechat check` about an API's quota for today. A quota that cannot be read
/// is said, not fatal: the credentials are what `check` decides on.
fn quota_line(api: &str, quota: Result<ApiQuota, crate::wechat::Error>) -> String {
    match quota {
        Ok(q) => format!(
            "quota:   {api}: {} of {} calls left today ({} used); they start again at midnight Beijing time (16:00 UTC)",
            q.remain, q.daily_limit, q.used
        ),
        Err(e) => format!("quota:   {api}: cannot be read: {e}"),
    }
}

/// Reads and validates a menu file; every problem as `path: message`.
pub fn load_menu(path: &Path) -> Result<Menu, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
    let menu: Menu =
        yaml_serde::from_str(&text).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    menu.validate()?;
    Ok(menu)
}

/// `scangate wechat menu push`.
pub fn menu_push(config: &Config, menu_file: &Path) -> u8 {
    let menu = match load_menu(menu_file) {
        Ok(menu) => menu,
        Err(problems) => {
            eprintln!("{}: {} problem(s)", menu_file.display(), problems.len());
            for p in problems {
                eprintln!("  {p}");
            }
            return EXIT_CONFIG;
        }
    };
    let result = client(config).and_then(|c| {
        runtime()?
            .block_on(c.create_menu(&menu))
            .map_err(|e| match e.explanation() {
                Some(meaning) => format!("WeChat refused the menu: {e}\nmeaning: {meaning}"),
                None => format!("WeChat refused the menu: {e}"),
            })
    });
    match result {
        Ok(()) => {
            println!("menu pushed: {} top-level button(s)", menu.button.len());
            EXIT_OK
        }
        Err(e) => {
            eprintln!("{e}");
            EXIT_REFUSED
        }
    }
}

/// `scangate wechat menu show`.
pub fn menu_show(config: &Config) -> u8 {
    let result = client(config).and_then(|c| {
        runtime()?
            .block_on(c.current_menu())
            .map_err(|e| format!("WeChat refused: {e}"))
    });
    match result {
        Ok(menu) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&menu).unwrap_or_else(|_| menu.to_string())
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("{e}");
            EXIT_REFUSED
        }
    }
}
