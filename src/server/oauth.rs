//! Building the web-authorization side of login from the config: the Official Account's
//! `oauth` (inside WeChat) and the website application (`wechat.website` with `website` in
//! `login.methods`), each with a client of its own app id, and where WeChat sends the browser
//! back (`{public_url}{auth_path}/wechat/oauth/callback`).

use std::time::Duration;

use super::StartupError;
use crate::config::Config;
use crate::identity::LoginMethod;
use crate::login::{LoginService, OAuthApp, OAuthDeps, OAuthLogin};
use crate::metrics::Metrics;
use crate::wechat::{ApiConfig, WechatClient};

/// The scope of the website application's QR login: the only one it has.
const WEBSITE_SCOPE: &str = "snsapi_login";

/// `None` when neither method is configured.
pub fn build(
    config: &Config,
    service: &LoginService,
    metrics: &Metrics,
    timeout: Duration,
) -> Result<Option<OAuthLogin>, StartupError> {
    let wechat = &config.wechat;
    // The code exchange presents the app's own id and secret; no access token is involved.
    let client = |app_id: &str, app_secret: &str| {
        WechatClient::new(ApiConfig {
            api_base: wechat.api_base.clone(),
            app_id: app_id.to_string(),
            app_secret: app_secret.to_string(),
            timeout,
        })
        .map(|c| c.with_observer(super::wiring::observer(metrics)))
        .map_err(|e| StartupError::Wechat(e.to_string()))
    };
    let in_wechat = match &wechat.official_account {
        Some(oa) => match oa.oauth {
            Some(scope) => Some(OAuthApp {
                client: client(&oa.app_id, oa.app_secret.expose())?,
                scope: scope.as_str(),
            }),
            None => None,
        },
        None => None,
    };
    let website = match &wechat.website {
        Some(site) if config.login.methods.contains(&LoginMethod::Website) => Some(OAuthApp {
            client: client(&site.app_id, site.app_secret.expose())?,
            scope: WEBSITE_SCOPE,
        }),
        _ => None,
    };
    if in_wechat.is_none() && website.is_none() {
        return Ok(None);
    }
    Ok(Some(OAuthLogin::new(
        service.clone(),
        OAuthDeps {
            open_base: wechat.open_base.clone(),
            redirect_uri: format!(
                "{}{}/wechat/oauth/callback",
                config.public_url.origin, config.auth_path
            ),
            in_wechat,
            website,
        },
    )))
}
