//! Building the login side of the gateway from the config: the demo with its simulator (with
//! `wechat.simulate`, `crate::demo`), the store, the user directory, the WeChat client and
//! callback codec (with WeChat's callback addresses when `verify_source_ip` is on), the SMS
//! provider and the login service (with web authorization, `oauth.rs`).

use std::sync::Arc;
use std::time::Duration;

use super::StartupError;
use crate::config::Config;
use crate::login::poll_slots::PollSlots;
use crate::login::token_cache::StoreTokenCache;
use crate::login::{LoginDeps, LoginService, MiniProgramDeps, OfficialAccountDeps};
use crate::metrics::Metrics;
use crate::proxy::app::{CallbackParts, LoginParts};
use crate::users::UserDirectory;
use crate::wechat::source_ips::RefreshTiming;
use crate::wechat::{ApiConfig, ApiObserver, CallbackCodec, CallbackConfig, WechatClient};

/// WeChat API calls answer well inside the callback's 5 s, or not at all.
const WECHAT_API_TIMEOUT: Duration = Duration::from_secs(3);

pub(super) fn observer(metrics: &Metrics) -> ApiObserver {
    let metrics = metrics.clone();
    Arc::new(move |api, outcome| match outcome {
        Ok(()) => metrics.wechat_api(api.label(), "ok", "0"),
        Err(e) => metrics.wechat_api(api.label(), e.label(), &e.errcode_label()),
    })
}

pub async fn build_login(
    config: &mut Config,
    metrics: &Metrics,
    registry: &prometheus::Registry,
) -> Result<LoginParts, StartupError> {
    // The demo starts first: it points the config at the simulator.
    #[cfg(feature = "demo")]
    let demo = if config.wechat.simulate {
        Some(
            crate::demo::Demo::start(config)
                .await
                .map_err(StartupError::Wechat)?,
        )
    } else {
        None
    };
    // Validation refuses it in such a build; a config made otherwise is refused here.
    #[cfg(not(feature = "demo"))]
    if config.wechat.simulate {
        return Err(StartupError::Wechat(
            "wechat.simulate: this scangate was built without the `demo` feature, so it has no simulator".into(),
        ));
    }

    let store: Arc<dyn crate::store::Store> = Arc::new(crate::store::MeteredStore::new(
        crate::store::open(&config.store).await?,
        registry,
    )?);
    let users = UserDirectory::new(store.clone());

    let (official_account, callback) = match &config.wechat.official_account {
        Some(oa) => {
            // The token lives in the store: with Redis, every instance uses one token and
            // exactly one refreshes it.
            let oa_client = || {
                WechatClient::with_token_cache(
                    ApiConfig {
                        api_base: config.wechat.api_base.clone(),
                        app_id: oa.app_id.clone(),
                        app_secret: oa.app_secret.expose().to_string(),
                        timeout: WECHAT_API_TIMEOUT,
                    },
                    Arc::new(StoreTokenCache::new(store.clone())),
                )
                .map_err(|e| StartupError::Wechat(e.to_string()))
                .map(|c| c.with_observer(observer(metrics)))
            };
            let client = oa_client()?;
            // Its own client, sharing the token through the store like any other instance.
            let source_ips = if oa.verify_source_ip {
                Some(
                    super::callback_ips::build(
                        Arc::new(oa_client()?),
                        store.clone(),
                        registry,
                        RefreshTiming::default(),
                    )
                    .await?,
                )
            } else {
                None
            };
            let codec = CallbackCodec::new(CallbackConfig {
                app_id: oa.app_id.clone(),
                token: oa.token.expose().to_string(),
                encoding_aes_key: oa.encoding_aes_key.as_ref().map(|k| k.expose().to_string()),
            })
            .map_err(|e| StartupError::Wechat(format!("official_account.encoding_aes_key: {e}")))?;
            (
                Some(OfficialAccountDeps {
                    client,
                    qr_expire_seconds: oa.qr_expire_seconds,
                }),
                Some(CallbackParts {
                    codec,
                    scan_replies: oa.scan_replies.clone(),
                    forwarder: oa
                        .forward_url
                        .as_deref()
                        .map(crate::proxy::forward::Forwarder::new)
                        .transpose()
                        .map_err(|e| StartupError::Wechat(format!("forward_url: {e}")))?,
                    forward_logins: oa.forward_logins,
                    forward_budget: Duration::from_millis(oa.forward_timeout_ms),
                    replies: oa.replies.clone(),
                    source_ips,
                }),
            )
        }
        None => (None, None),
    };

    #[cfg(feature = "demo")]
    if let (Some(demo), Some(oa)) = (&demo, &config.wechat.official_account) {
        demo.seed(&users, &oa.app_id).await;
    }

    let mini_program = match &config.wechat.mini_program {
        Some(mp) => {
            let client = WechatClient::with_token_cache(
                ApiConfig {
                    api_base: config.wechat.api_base.clone(),
                    app_id: mp.app_id.clone(),
                    app_secret: mp.app_secret.expose().to_string(),
                    timeout: WECHAT_API_TIMEOUT,
                },
                Arc::new(StoreTokenCache::new(store.clone())),
            )
            .map_err(|e| StartupError::Wechat(e.to_string()))?
            .with_observer(observer(metrics));
            Some(MiniProgramDeps {
                api: Arc::new(client),
                app_id: mp.app_id.clone(),
                page: mp.page.clone(),
                env_version: mp.env_version.clone(),
                // WeChat only checks that the page exists in the published version.
                check_path: mp.env_version == "release",
            })
        }
        None => None,
    };

    let sms =
        crate::sms::from_config(&config.login).map_err(|e| StartupError::Sms(e.to_string()))?;
    // The demo page shows the codes (there is no SMS).
    #[cfg(feature = "demo")]
    let sms = match &demo {
        Some(demo) => demo.showing_codes(sms),
        None => sms,
    };
    let service = LoginService::new(LoginDeps {
        store: store.clone(),
        users,
        official_account,
        mini_program,
        sms,
        login: config.login.clone(),
        metrics: metrics.clone(),
    });
    let oauth = super::oauth::build(config, &service, metrics, WECHAT_API_TIMEOUT)?;
    let limits = &config.login.limits;
    Ok(LoginParts {
        service,
        oauth,
        store,
        callback,
        #[cfg(feature = "demo")]
        demo: demo.map(|d| Arc::new(d) as Arc<dyn crate::proxy::app::DemoHooks>),
        #[cfg(not(feature = "demo"))]
        demo: None,
        polls: PollSlots::new(limits.long_polls_per_ip, limits.long_polls_total),
    })
}
