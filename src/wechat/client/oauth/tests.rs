//! The code exchange against the simulator over real HTTP.

use std::time::Duration;

use super::*;
use crate::wechat::client::ApiConfig;
use crate::wechat_sim::{SimApi, SimConfig, SimHandle, SimUser, Simulator};

const OA_APP_ID: &str = "wx_oa_app";
const OA_SECRET: &str = "oa-secret-value";
const WEB_APP_ID: &str = "wx_web_app";
const WEB_SECRET: &str = "web-secret-value";

async fn sim() -> SimHandle {
    let sim = Simulator::start(SimConfig {
        app_id: OA_APP_ID.into(),
        app_secret: OA_SECRET.into(),
        token: "cbtoken".into(),
        encoding_aes_key: None,
        callback_url: "http://127.0.0.1:9/unused".into(),
    })
    .await
    .unwrap();
    sim.add_website_app(WEB_APP_ID, WEB_SECRET);
    sim
}

fn client(sim: &SimHandle, app_id: &str, app_secret: &str) -> WechatClient {
    WechatClient::new(ApiConfig {
        api_base: sim.api_base(),
        app_id: app_id.into(),
        app_secret: app_secret.into(),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

fn person() -> SimUser {
    SimUser {
        openid: "o_person".into(),
        unionid: Some("un_person".into()),
        follows: false,
    }
}

#[tokio::test]
async fn a_code_becomes_the_apps_openid_and_by_scope_the_unionid() {
    let sim = sim().await;
    let oa = client(&sim, OA_APP_ID, OA_SECRET);
    let code = sim.oauth_code(OA_APP_ID, &person(), "snsapi_base");
    let grant = oa.oauth_access_token(&code).await.unwrap();
    assert_eq!(
        (
            grant.openid.as_str(),
            grant.unionid.as_deref(),
            grant.scope.as_str()
        ),
        ("o_person", None, "snsapi_base")
    );
    assert!(!grant.snapshot_user);
    // A base grant may not read the profile.
    assert_eq!(
        oa.sns_user_info(&grant).await.unwrap_err().errcode(),
        Some(48001)
    );

    let web = client(&sim, WEB_APP_ID, WEB_SECRET);
    let code = sim.oauth_code(WEB_APP_ID, &person(), "snsapi_login");
    let grant = web.oauth_access_token(&code).await.unwrap();
    assert_eq!(grant.openid, sim.website_openid(&person()));
    assert_eq!(grant.unionid.as_deref(), Some("un_person"));
    let user = web.sns_user_info(&grant).await.unwrap();
    assert_eq!(user.unionid.as_deref(), Some("un_person"));
}

#[tokio::test]
async fn refused_codes_are_typed_and_never_echoed() {
    let sim = sim().await;
    let oa = client(&sim, OA_APP_ID, OA_SECRET);
    let code = sim.oauth_code(OA_APP_ID, &person(), "snsapi_userinfo");
    let grant = oa.oauth_access_token(&code).await.unwrap();
    // The person's token is a credential: not in Debug.
    let shown = format!("{grant:?}");
    assert!(
        shown.contains("o_person") && !shown.contains("sns_"),
        "{shown}"
    );
    let used = oa.oauth_access_token(&code).await.unwrap_err();
    assert_eq!(used.errcode(), Some(40163));
    let unknown = oa.oauth_access_token("0made-up-code").await.unwrap_err();
    assert_eq!(unknown.errcode(), Some(40029));
    for e in [&used, &unknown] {
        let text = format!("{e} {e:?}");
        assert!(!text.contains(&code) && !text.contains(OA_SECRET), "{text}");
    }
    // Junk never reaches WeChat.
    for junk in ["", "a b", &"x".repeat(200)] {
        assert!(matches!(
            oa.oauth_access_token(junk).await,
            Err(Error::InvalidArgument(_))
        ));
    }
    let wrong_secret = client(&sim, OA_APP_ID, "not-the-secret");
    assert_eq!(
        wrong_secret
            .oauth_access_token("0any")
            .await
            .unwrap_err()
            .errcode(),
        Some(40125)
    );
}

#[tokio::test]
async fn busy_answers_are_retried_and_snapshot_users_are_marked() {
    let sim = sim().await;
    let oa = client(&sim, OA_APP_ID, OA_SECRET).with_busy_retry(crate::wechat::BusyRetry {
        retries: 2,
        first_delay: Duration::from_millis(5),
    });
    sim.fail_next(SimApi::OAuthAccessToken, -1);
    let code = sim.oauth_code(OA_APP_ID, &person(), "snsapi_base");
    assert_eq!(
        oa.oauth_access_token(&code).await.unwrap().openid,
        "o_person"
    );
    sim.set_oauth_snapshot(true);
    let code = sim.oauth_code(OA_APP_ID, &person(), "snsapi_userinfo");
    let grant = oa.oauth_access_token(&code).await.unwrap();
    assert!(grant.snapshot_user);
    assert_ne!(grant.openid, "o_person");
}
