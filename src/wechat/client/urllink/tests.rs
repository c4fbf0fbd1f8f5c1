//! `generate_urllink` against the simulator over real HTTP.

use std::time::Duration;

use super::*;
use crate::wechat::client::{ApiConfig, BusyRetry};
use crate::wechat_sim::{SimApi, SimConfig, SimHandle, Simulator};

const MP_APP_ID: &str = "wx_mp_link";
const MP_SECRET: &str = "mp-link-secret";

async fn sim() -> SimHandle {
    let sim = Simulator::start(SimConfig {
        app_id: "wx_oa_link".into(),
        app_secret: "oa-link-secret".into(),
        token: "cbtoken".into(),
        encoding_aes_key: None,
        callback_url: "http://127.0.0.1:9/unused".into(),
    })
    .await
    .unwrap();
    sim.add_mini_program(MP_APP_ID, MP_SECRET);
    sim
}

fn client(sim: &SimHandle, app_id: &str, secret: &str) -> WechatClient {
    WechatClient::new(ApiConfig {
        api_base: sim.api_base(),
        app_id: app_id.into(),
        app_secret: secret.into(),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
    .with_busy_retry(BusyRetry {
        retries: 1,
        first_delay: Duration::from_millis(5),
    })
}

fn request(query: &str) -> UrlLinkRequest {
    UrlLinkRequest {
        path: "pages/login/index".into(),
        query: query.into(),
        env_version: "trial".into(),
        expire_days: 1,
    }
}

#[tokio::test]
async fn a_link_opens_the_page_with_the_query_for_a_day() {
    let sim = sim().await;
    let link = client(&sim, MP_APP_ID, MP_SECRET)
        .url_link(&request("scene=AbCdEfGhIjKlMnOpQrStUv"))
        .await
        .unwrap();
    let made = sim.url_links();
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].url, link);
    assert!(
        link.starts_with(&format!("{}/wxaurl/", sim.api_base())),
        "{link}"
    );
    assert_eq!(made[0].path, "pages/login/index");
    assert_eq!(made[0].query, "scene=AbCdEfGhIjKlMnOpQrStUv");
    assert_eq!(made[0].env_version, "trial");
    assert_eq!(made[0].expire_days, 1, "expire_type 1, expire_interval 1");
    assert_eq!(sim.counters().urllink_calls, 1);
}

#[tokio::test]
async fn bad_arguments_are_refused_before_wechat_is_asked() {
    let sim = sim().await;
    let c = client(&sim, MP_APP_ID, MP_SECRET);
    for bad in [
        UrlLinkRequest {
            path: "/pages/login/index".into(),
            ..request("scene=x")
        },
        UrlLinkRequest {
            path: "pages/login/index?x=1".into(),
            ..request("scene=x")
        },
        request("scene=a b"),
        request(&"a".repeat(MAX_URL_LINK_QUERY_LEN + 1)),
        UrlLinkRequest {
            env_version: "beta".into(),
            ..request("scene=x")
        },
        UrlLinkRequest {
            expire_days: 0,
            ..request("scene=x")
        },
        UrlLinkRequest {
            expire_days: MAX_URL_LINK_DAYS + 1,
            ..request("scene=x")
        },
    ] {
        let got = c.url_link(&bad).await;
        assert!(
            matches!(got, Err(Error::InvalidArgument(_))),
            "{bad:?}: {got:?}"
        );
    }
    assert_eq!(sim.counters().urllink_calls, 0);
    assert!(is_valid_url_link_query("scene=AbC-_~%2F"));
}

#[tokio::test]
async fn wechats_refusals_are_typed() {
    let sim = sim().await;
    let c = client(&sim, MP_APP_ID, MP_SECRET);
    sim.unpublish_mp_page("pages/login/index");
    let unpublished = c.url_link(&request("scene=x")).await.unwrap_err();
    assert_eq!(unpublished.errcode(), Some(40165));
    assert_eq!(unpublished.impact(), crate::wechat::Impact::Misconfigured);
    sim.fail_next(SimApi::GenerateUrlLink, 48001);
    let unauthorised = c
        .url_link(&UrlLinkRequest {
            path: String::new(),
            ..request("scene=x")
        })
        .await
        .unwrap_err();
    assert_eq!(unauthorised.errcode(), Some(48001));
    assert_eq!(unauthorised.impact(), crate::wechat::Impact::Misconfigured);
    sim.fail_next(SimApi::GenerateUrlLink, 44990);
    let busy = c
        .url_link(&UrlLinkRequest {
            path: String::new(),
            ..request("scene=x")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(busy.impact(), crate::wechat::Impact::Busy { .. }),
        "{busy:?}"
    );
    // The Official Account's token on a Mini Program API: 48001, as WeChat answers.
    let oa = client(&sim, "wx_oa_link", "oa-link-secret");
    let wrong_account = oa.url_link(&request("scene=x")).await.unwrap_err();
    assert_eq!(wrong_account.errcode(), Some(48001));
}
