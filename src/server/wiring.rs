//! Building the login side of the gateway from the config: the simulator (with
//! `wechat.simulate`), the store, the user directory, the WeChat client and callback codec,
//! the SMS provider and the login service.

use std::sync::Arc;
use std::time::Duration;

use rand::distributions::{Alphanumeric, DistString};

use super::StartupError;
use crate::config::{Config, MiniProgramConfig, OfficialAccountConfig, Secret};
use crate::identity::{OpenId, Phone, UnionId};
use crate::login::poll_slots::PollSlots;
use crate::login::token_cache::StoreTokenCache;
use crate::login::{LoginDeps, LoginService, MiniProgramDeps, OfficialAccountDeps};
use crate::metrics::Metrics;
use crate::proxy::app::{
    loopback, CallbackParts, LoginParts, SimulatorParts, DEMO_RETURNING_OPENID,
};
use crate::users::UserDirectory;
use crate::wechat::sim::{SimConfig, Simulator};
use crate::wechat::{ApiConfig, ApiObserver, CallbackCodec, CallbackConfig, WechatClient};

/// WeChat API calls answer well inside the callback's 5 s, or not at all.
const WECHAT_API_TIMEOUT: Duration = Duration::from_secs(3);
/// The demo's returning user's phone.
const DEMO_RETURNING_PHONE: &str = "+8619999999999";

/// The Official Account the simulator plays when the config names none.
fn simulated_account() -> OfficialAccountConfig {
    let mut rng = rand::thread_rng();
    OfficialAccountConfig {
        encoding_aes_key: Some(Secret::new(Alphanumeric.sample_string(&mut rng, 43))),
        ..OfficialAccountConfig::new(
            "wx5ca9a7e0000000de",
            Secret::new(Alphanumeric.sample_string(&mut rng, 32)),
            Secret::new(Alphanumeric.sample_string(&mut rng, 32)),
        )
    }
}

/// The Mini Program the simulator plays when the config names none.
fn simulated_mini_program() -> MiniProgramConfig {
    MiniProgramConfig {
        app_id: "wx5ca9a7e00000mp01".to_string(),
        app_secret: Secret::new(Alphanumeric.sample_string(&mut rand::thread_rng(), 32)),
        page: "pages/login/index".to_string(),
        env_version: "release".to_string(),
    }
}

fn observer(metrics: &Metrics) -> ApiObserver {
    let metrics = metrics.clone();
    Arc::new(move |api, outcome| {
        metrics.wechat_api(api.label(), outcome.map_or_else(|e| e.label(), |()| "ok"));
    })
}

pub async fn build_login(
    config: &mut Config,
    metrics: &Metrics,
    registry: &prometheus::Registry,
) -> Result<LoginParts, StartupError> {
    let mut simulator = None;
    if config.wechat.simulate {
        let oa = config
            .wechat
            .official_account
            .get_or_insert_with(simulated_account)
            .clone();
        let callback_url = format!(
            "http://{}{}/wechat/callback",
            loopback(config.listen),
            config.auth_path
        );
        let handle = Simulator::start(SimConfig {
            app_id: oa.app_id.clone(),
            app_secret: oa.app_secret.expose().to_string(),
            token: oa.token.expose().to_string(),
            encoding_aes_key: oa.encoding_aes_key.as_ref().map(|k| k.expose().to_string()),
            callback_url,
        })
        .await
        .map_err(|e| StartupError::Wechat(format!("cannot start the simulator: {e}")))?;
        config.wechat.api_base = handle.api_base().to_string();
        let mp = config
            .wechat
            .mini_program
            .get_or_insert_with(simulated_mini_program);
        handle.add_mini_program(&mp.app_id, mp.app_secret.expose());
        tracing::warn!(api_base = %config.wechat.api_base, "wechat.simulate: using the built-in WeChat simulator");
        simulator = Some(SimulatorParts { handle });
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
            let client = WechatClient::with_token_cache(
                ApiConfig {
                    api_base: config.wechat.api_base.clone(),
                    app_id: oa.app_id.clone(),
                    app_secret: oa.app_secret.expose().to_string(),
                    timeout: WECHAT_API_TIMEOUT,
                },
                Arc::new(StoreTokenCache::new(store.clone())),
            )
            .map_err(|e| StartupError::Wechat(e.to_string()))?
            .with_observer(observer(metrics));
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
                    scan_reply: oa.scan_reply.clone(),
                    forwarder: oa
                        .forward_url
                        .as_deref()
                        .map(crate::proxy::forward::Forwarder::new)
                        .transpose()
                        .map_err(|e| StartupError::Wechat(format!("forward_url: {e}")))?,
                    forward_logins: oa.forward_logins,
                    forward_budget: Duration::from_millis(oa.forward_timeout_ms),
                    replies: oa.replies.clone(),
                }),
            )
        }
        None => (None, None),
    };

    if let (Some(_), Some(oa)) = (&simulator, &config.wechat.official_account) {
        seed_demo_user(&users, &oa.app_id).await;
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
        crate::sms::from_config(&config.login.sms).map_err(|e| StartupError::Sms(e.to_string()))?;
    let service = LoginService::new(LoginDeps {
        store: store.clone(),
        users,
        official_account,
        mini_program,
        sms,
        login: config.login.clone(),
        metrics: metrics.clone(),
        demo: config.wechat.simulate,
    });
    let limits = &config.login.limits;
    Ok(LoginParts {
        service,
        store,
        callback,
        simulator,
        polls: PollSlots::new(limits.long_polls_per_ip, limits.long_polls_total),
    })
}

/// The simulator's "returning user" exists with a bound phone, so the demo can show both
/// first and repeat logins.
async fn seed_demo_user(users: &UserDirectory, app_id: &str) {
    let openid = OpenId::new(DEMO_RETURNING_OPENID);
    match users.find_by_openid(app_id, &openid).await {
        Ok(Some(_)) => return,
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot look up the demo user");
            return;
        }
    }
    let phone = Phone::parse(DEMO_RETURNING_PHONE).ok();
    let unionid = UnionId::new("un_demo_returning");
    let now = crate::proxy::app::unix_now();
    if let Err(e) = users
        .register(app_id, &openid, Some(&unionid), phone.as_ref(), now)
        .await
    {
        tracing::warn!(error = %e, "cannot register the demo user");
    }
}
