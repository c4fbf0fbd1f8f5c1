//! The Mini Program URL Link for phone browsers, through the real gateway and the simulated
//! WeChat: `POST /.auth/qr {"method": "mini_program", "link": true}` answers a `url_link`
//! made by `generate_urllink`; opening it opens the simulated Mini Program page with the
//! attempt's scene (as `examples/miniprogram` reads it), which confirms; the phone's browser,
//! polling meanwhile, signs in. WeChat refusing the link is told as the `wechat_*` codes.

use scangate::demo::Demo;
use scangate::wechat_sim::{SimApi, SimHandle};
use serde_json::json;

use crate::browser::{Answer, Browser};
use crate::harness::*;

const BOTH: &str = "login:\n  methods: [official_account, mini_program]\n";

fn sim(gw: &Gateway) -> &SimHandle {
    &Demo::of(gw.app()).expect("the demo runs").simulator
}

async fn start(browser: &Browser<'_>, body: serde_json::Value) -> Answer {
    browser.post("/.auth/qr", body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_link_is_made_only_when_asked_for_a_mini_program_attempt() {
    let (_e, gw) = login_gateway(BOTH).await;
    let browser = Browser::new(&gw);
    let plain = start(&browser, json!({"method": "mini_program"})).await;
    assert_eq!(plain.status, 201, "{}", plain.body);
    assert!(plain.body.get("url_link").is_none(), "{}", plain.body);
    let oa = start(
        &browser,
        json!({"method": "official_account", "link": true}),
    )
    .await;
    assert_eq!(oa.status, 201, "{}", oa.body);
    assert!(oa.body.get("url_link").is_none(), "{}", oa.body);
    assert_eq!(sim(&gw).counters().urllink_calls, 0);

    let linked = start(&browser, json!({"method": "mini_program", "link": true})).await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    let link = linked.body["url_link"].as_str().unwrap();
    let made = sim(&gw).url_links();
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].url, link);
    assert_eq!(made[0].path, "pages/login/index");
    assert_eq!(
        made[0].query,
        format!("scene={}", linked.body["id"].as_str().unwrap())
    );
    assert_eq!(made[0].env_version, "release");
    assert_eq!(made[0].expire_days, 1);

    // Without the Mini Program among the methods there is no such attempt to link.
    let (_e2, oa_only) = login_gateway("").await;
    let refused = start(
        &Browser::new(&oa_only),
        json!({"method": "mini_program", "link": true}),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.body["error"], "bad_method");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_link_opens_the_mini_program_page_and_the_phone_browser_signs_in() {
    let (_e, gw) = login_gateway(BOTH).await;
    let browser = Browser::new(&gw);
    let linked = start(
        &browser,
        json!({"method": "mini_program", "link": true, "rd": "/from/phone"}),
    )
    .await;
    let id = linked.body["id"].as_str().unwrap().to_string();
    let link = linked.body["url_link"].as_str().unwrap().to_string();

    // The person taps the link: WeChat opens our page with the scene; it tells the gateway.
    let phone = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = phone.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("confirm_phone"), "{html}");
    assert_eq!(
        browser.poll(&id, "waiting", 5).await.body["status"],
        "scanned"
    );
    // They confirm with their WeChat number.
    let ticket_path = link.rsplit('/').next().unwrap();
    let confirm = format!("{}/wxaurl/{ticket_path}/confirm_phone", sim(&gw).api_base());
    let confirmed = phone.post(&confirm).send().await.unwrap();
    assert_eq!(confirmed.status(), 200);
    let said = confirmed.text().await.unwrap();
    assert!(said.contains("200"), "{said}");

    // Back in the browser, the poll has the ticket.
    let polled = browser.poll(&id, "scanned", 5).await;
    assert_eq!(polled.body["status"], "confirmed", "{}", polled.body);
    let session = browser
        .exchange(polled.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(session.status, 200, "{}", session.body);
    assert_eq!(session.body["user"]["method"], "mini_program");
    assert!(session.body["user"]["phone"]
        .as_str()
        .unwrap()
        .starts_with("+86137"));
    let seen = browser.app_sees("/from/phone").await;
    assert_eq!(
        seen.header("x-auth-method").as_deref(),
        Some("mini_program")
    );

    // The link is spent with its attempt: the page opens (it answers every scene alike), but
    // a second confirmation finds the login no longer valid.
    assert_eq!(phone.get(&link).send().await.unwrap().status(), 200);
    let again = phone
        .post(&confirm)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains("invalid_scene"), "{again}");
    // An expired link is WeChat's own "expired" page.
    sim(&gw).expire_url_links();
    let expired = phone.get(&link).send().await.unwrap();
    assert_eq!(expired.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_link_refused_by_wechat_is_told_as_the_wechat_codes() {
    let (_e, gw) = login_gateway(BOTH).await;
    let browser = Browser::new(&gw);
    let cases: [(&[i64], u16, &str); 4] = [
        // No URL Link permission (an individual's Mini Program): the operator's to fix.
        (&[48001], 503, "wechat_misconfigured"),
        // The page is not in the published version.
        (&[40165], 503, "wechat_misconfigured"),
        // The daily total is used up.
        (&[45009], 503, "wechat_busy"),
        // Something WeChat does not explain.
        (&[61499], 502, "wechat_unavailable"),
    ];
    for (codes, status, error) in cases {
        for code in codes {
            sim(&gw).fail_next(SimApi::GenerateUrlLink, *code);
        }
        let refused = start(&browser, json!({"method": "mini_program", "link": true})).await;
        assert_eq!(refused.status, status, "{codes:?}: {}", refused.body);
        assert_eq!(refused.body["error"], error, "{codes:?}");
        if error == "wechat_busy" {
            assert!(refused.header("retry-after").is_some());
        }
    }
    let metrics = gw
        .client
        .get(format!("{}/metrics", gw.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"scangate_wechat_api_requests_total{api="generate_urllink",errcode="48001",outcome="api_error"} 1"#,
        r#"scangate_wechat_api_requests_total{api="generate_urllink",errcode="40165",outcome="api_error"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line}");
    }
    // WeChat busy (-1) is retried, and a link made once it answers.
    sim(&gw).fail_next(SimApi::GenerateUrlLink, -1);
    let retried = start(&browser, json!({"method": "mini_program", "link": true})).await;
    assert_eq!(retried.status, 201, "{}", retried.body);
    assert!(retried.body["url_link"].as_str().is_some());
}
