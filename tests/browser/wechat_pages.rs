//! Signing in through WeChat's own pages, in a real browser: inside WeChat's in-app browser
//! (a MicroMessenger user agent, a phone's viewport) a protected page leads straight to
//! WeChat's authorization page (the simulator's) and back signed in, or to the login page
//! saying why not; on a desktop the website login's tab leads to WeChat's QR page and back.

use serde_json::json;

use crate::driver::{cdp, run, Opts, EN, ZH};
use crate::page::{Lang, Page};
use crate::site::Site;

/// WeChat 8 on an iPhone.
const WECHAT_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN";

/// The simulator's Official Account with web authorization on, and the website method.
const WECHAT_PAGES: &str = "wechat:\n  simulate: true\n  official_account:\n    \
    app_id: wx1234567890abcdef\n    app_secret: s\n    token: tok\n    oauth: true\n\
    login:\n  methods: [official_account, website]\n";

/// WeChat sends the browser back to `public_url`: here, the gateway's loopback address.
fn on_loopback(c: &mut scangate::config::Config) {
    let origin = format!("http://{}", c.listen);
    c.public_url.origin = origin.clone();
    c.public_url.host = "127.0.0.1".into();
    c.session.issuer = origin;
}

async fn inside_wechat(page: &Page) {
    cdp(
        &page.client,
        "Emulation.setUserAgentOverride",
        json!({ "userAgent": WECHAT_UA }),
    )
    .await;
    let ua = page.js("return navigator.userAgent;", vec![]).await;
    assert_eq!(ua, json!(WECHAT_UA));
}

/// Waits for the simulator's authorization page.
async fn assert_authorize_page(page: &Page) {
    page.wait(
        "WeChat's authorization page",
        "location.pathname === '/connect/oauth2/authorize' && document.title === '授权登录'",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_wechat_a_link_signs_in_through_the_authorization_page() {
    run(
        "inside_wechat_a_link_signs_in_through_the_authorization_page",
        Opts::phone(ZH),
        |c| async move {
            let page = Page::new(c);
            inside_wechat(&page).await;
            let site = Site::start_with(WECHAT_PAGES, on_loopback).await;
            // A link shared in a chat: no QR code, WeChat's own page.
            page.goto(&site.url("/deep/link?tab=2")).await;
            assert_authorize_page(&page).await;
            page.click("a[data-user=\"new\"]").await;
            // Someone new: the login page at its phone step, in the page's language.
            page.wait(
                "the login page at the phone step",
                "location.pathname === '/.auth/login' && new URLSearchParams(location.search).has('attempt')",
            )
            .await;
            page.wait_status("need_phone").await;
            Lang::Zh.assert_text(&page.text(".sg-status").await, "the phone step's heading");
            let code = page.send_code("13800138091").await;
            page.bind(&code).await;
            page.wait_path("/deep/link?tab=2").await;
            let seen = page.seen().await;
            assert_eq!(seen.header("x-auth-method").as_deref(), Some("in_wechat"));
            assert_eq!(
                seen.header("x-auth-phone").as_deref(),
                Some("+8613800138091")
            );

            // Signed in, another protected page opens at once; signed out, WeChat's page
            // again, and the returning person goes straight in.
            page.goto(&site.url("/other")).await;
            page.wait_path("/other").await;
            page.client
                .delete_all_cookies()
                .await
                .expect("cookies cleared");
            page.goto(&site.url("/again")).await;
            assert_authorize_page(&page).await;
            page.click("a[data-user=\"returning\"]").await;
            page.wait_path("/again").await;
            let again = page.seen().await;
            assert_eq!(again.header("x-auth-user-id"), seen.header("x-auth-user-id"));
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declining_inside_wechat_shows_why_and_does_not_loop() {
    run(
        "declining_inside_wechat_shows_why_and_does_not_loop",
        Opts::phone(EN),
        |c| async move {
            let page = Page::new(c);
            inside_wechat(&page).await;
            let site = Site::start_with(WECHAT_PAGES, on_loopback).await;
            page.goto(&site.url("/private")).await;
            assert_authorize_page(&page).await;
            page.click("a[data-action=\"deny\"]").await;
            page.wait(
                "the login page with the reason",
                "location.pathname === '/.auth/login' && new URLSearchParams(location.search).get('error') === 'oauth_declined'",
            )
            .await;
            page.wait_error("oauth_declined").await;
            let texts = page.widget_texts().await.join(" | ");
            assert!(
                texts.contains("You did not allow signing in with WeChat."),
                "{texts}"
            );
            // The page rendered and stays there (a redirect back to WeChat would have left
            // no widget to show the reason): WeChat again only when the person asks, and
            // "try again" goes to WeChat's authorization, not to a QR code.
            assert_eq!(
                page.js("return sgStatus();", vec![]).await,
                json!("failed")
            );
            page.click(".sg-again").await;
            assert_authorize_page(&page).await;
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_desktop_the_website_tab_signs_in_through_wechats_qr_page() {
    run(
        "on_a_desktop_the_website_tab_signs_in_through_wechats_qr_page",
        Opts::desktop(EN),
        |c| async move {
            let page = Page::new(c);
            let site = Site::start_with(WECHAT_PAGES, on_loopback).await;
            page.goto(&site.url("/reports")).await;
            page.wait_status("waiting").await;
            page.click(".sg-tab[data-method=\"website\"]").await;
            page.wait_status("website").await;
            page.click(".sg-website-go").await;
            page.wait(
                "WeChat's QR page",
                "location.pathname === '/connect/qrconnect' && document.title === '微信登录'",
            )
            .await;
            // The demo's returning person, known by unionid from the Official Account.
            page.click("a[data-user=\"returning\"]").await;
            page.wait_path("/reports").await;
            let seen = page.seen().await;
            assert_eq!(seen.header("x-auth-method").as_deref(), Some("website"));
            assert_eq!(
                seen.header("x-auth-phone").as_deref(),
                Some(scangate::demo::RETURNING_PHONE)
            );
        },
    )
    .await;
}
