//! Whole logins as a person goes through them: from a deep link to the app, back after
//! signing in, the widget on an app page, two tabs, and with the keyboard alone.

use fantoccini::key::Key;
use serde_json::json;

use crate::driver::{run, Opts, EN, ZH};
use crate::harness::Seen;
use crate::page::{Lang, Page, BIND, CODE, DEMO_NEW, PHONE, SEND};
use crate::site::Site;

/// The identity the app received, checked against a user who bound `phone`.
fn assert_identity(seen: &Seen, phone: &str) -> String {
    assert_eq!(
        seen.header("x-auth-phone").as_deref(),
        Some(phone),
        "the app saw: {}",
        seen.0
    );
    assert_eq!(
        seen.header("x-auth-method").as_deref(),
        Some("official_account")
    );
    assert!(seen.header("x-auth-openid").is_some(), "{}", seen.0);
    seen.header("x-auth-user-id")
        .unwrap_or_else(|| panic!("no X-Auth-User-Id: {}", seen.0))
}

/// The login page the gateway sent the browser to, in `lang`.
async fn assert_login_page(page: &Page, lang: Lang) {
    page.wait(
        "the hosted login page",
        "location.pathname === '/.auth/login' && !!$('.sg')",
    )
    .await;
    page.assert_html_lang(lang).await;
    let title = page.text("h1").await;
    lang.assert_text(&title, "the page title");
}

/// From a deep link through the login (a new user binds a phone) to the deep link, with
/// the identity reaching the app.
async fn deep_link_login(page: Page, lang: Lang, phone: &str) -> (Site, String) {
    let site = Site::start("").await;
    page.goto(&site.url("/deep/link?tab=2")).await;
    assert_login_page(&page, lang).await;
    let rd = page
        .js(
            "return new URLSearchParams(location.search).get('rd');",
            vec![],
        )
        .await;
    assert_eq!(rd, json!("/deep/link?tab=2"), "the login page's rd");
    let heading = page.text(".sg-status").await;
    page.wait_status("waiting").await;
    lang.assert_text(&heading, "the status heading");

    page.sign_up(phone).await;
    page.wait_path("/deep/link?tab=2").await;
    let seen = page.seen().await;
    assert_eq!(seen.target(), "/deep/link?tab=2");
    let user = assert_identity(&seen, &format!("+86{phone}"));
    (site, user)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_link_login_on_a_desktop_in_english() {
    run(
        "deep_link_login_on_a_desktop_in_english",
        Opts::desktop(EN),
        |c| async move {
            deep_link_login(Page::new(c), Lang::En, "13800138001").await;
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_link_login_on_a_phone_in_chinese() {
    run(
        "deep_link_login_on_a_phone_in_chinese",
        Opts::phone(ZH),
        |c| async move {
            let page = Page::new(c);
            let width = page.js("return window.innerWidth;", vec![]).await;
            assert!(
                width.as_u64().is_some_and(|w| w <= 400),
                "a phone-sized viewport, got {width}"
            );
            deep_link_login(page, Lang::Zh, "13800138002").await;
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_after_login_keeps_the_session() {
    run(
        "back_after_login_keeps_the_session",
        Opts::desktop(EN),
        |c| async move {
            let page = Page::new(c.clone());
            let (site, user) = deep_link_login(page.clone(), Lang::En, "13800138003").await;
            // Mark this document: after Back, a new one must be shown.
            page.js("window.sgBefore = true; return true;", vec![])
                .await;
            c.back().await.expect("history.back");
            // The login page is in history; a signed-in visitor is sent on to rd.
            page.wait(
                "a page after Back",
                "!window.sgBefore && document.readyState === 'complete'",
            )
            .await;
            page.wait(
                "Back to end at the app (a signed-in visitor skips the login page)",
                "location.pathname === '/deep/link' && !$('.sg')",
            )
            .await;
            let seen = page.seen().await;
            assert_eq!(seen.header("x-auth-user-id").as_deref(), Some(&*user));

            // A new visit to the app: still signed in, no login page.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            page.goto(&site.url("/another/page")).await;
            page.wait_path("/another/page").await;
            let seen = page.seen().await;
            assert_eq!(seen.header("x-auth-user-id").as_deref(), Some(&*user));
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_on_an_app_page_shows_a_signed_in_visitor_and_keeps_the_session() {
    run(
        "the_widget_on_an_app_page_shows_a_signed_in_visitor_and_keeps_the_session",
        Opts::desktop(EN),
        |c| async move {
            let page = Page::new(c.clone());
            let (site, user) = deep_link_login(page.clone(), Lang::En, "13800138004").await;

            page.goto(&site.url("/embed")).await;
            page.wait("the widget", "!!widget()").await;
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            assert_eq!(
                page.qr_starts().await,
                0,
                "the widget started a login for a signed-in visitor (which ends the session)\n{}",
                page.describe().await
            );
            page.wait(
                "the signed-in card",
                "vis($('.sg-signed-in')) && !!$('.sg-signed-in .sg-continue') && !!$('.sg-signed-in .sg-switch')",
            )
            .await;
            page.wait_status("signed_in").await;

            c.refresh().await.expect("reload");
            page.wait("the signed-in card after a reload", "vis($('.sg-signed-in'))")
                .await;
            assert_eq!(page.qr_starts().await, 0, "a signed-in widget started a login");

            page.goto(&site.url("/deep/link")).await;
            page.wait_path("/deep/link").await;
            let seen = page.seen().await;
            assert_eq!(seen.header("x-auth-user-id").as_deref(), Some(&*user));
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_each_complete_their_own_login() {
    run(
        "two_tabs_each_complete_their_own_login",
        Opts::desktop(EN),
        |c| async move {
            let site = Site::start("").await;
            let page = Page::new(c.clone());
            page.goto(&site.login_url("/first")).await;
            let first_qr = page.wait_qr().await;
            page.wait_status("waiting").await;
            page.log_fetches().await;
            let first = c.window().await.expect("window");

            let second = c.new_window(true).await.expect("a new tab").handle;
            c.switch_to_window(second.clone()).await.expect("switch");
            page.goto(&site.login_url("/second")).await;
            let second_qr = page.wait_qr().await;
            page.wait_status("waiting").await;
            page.log_fetches().await;
            assert_ne!(first_qr, second_qr, "each tab has its own code");

            // The second tab signs a new user up...
            page.demo_scan("new").await;
            page.wait_status("need_phone").await;
            let code = page.send_code("13800138005").await;
            page.bind(&code).await;
            page.wait_path("/second").await;
            assert_identity(&page.seen().await, "+8613800138005");

            // ...and the first, still waiting, signs the demo's returning user in: the one
            // who logged in last, the same person.
            c.switch_to_window(first).await.expect("switch back");
            page.wait_status("waiting").await;
            let not_found = page
                .js(
                    "return window.sgFetches.filter((f) => f.status === 404 || f.error === 'not_found');",
                    vec![],
                )
                .await;
            assert_eq!(not_found, json!([]), "the first tab's attempt was lost");
            page.demo_scan("returning").await;
            page.wait_path("/first").await;
            assert_identity(&page.seen().await, "+8613800138005");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_only_login() {
    run("keyboard_only_login", Opts::desktop(EN), |c| async move {
        let site = Site::start("").await;
        let page = Page::new(c);
        page.goto(&site.url("/deep/link")).await;
        page.wait_qr().await;
        let tab: String = Key::Tab.to_string();
        let enter: String = Key::Enter.to_string();

        // Tab to the demo's "new user" button and press Enter.
        let new_user = DEMO_NEW.to_string();
        let mut presses = 0;
        while !page.focused(&new_user).await {
            presses += 1;
            assert!(
                presses <= 15,
                "Tab never reached the demo scan button; focus is on {}",
                page.focus_name().await
            );
            page.press(&tab).await;
        }
        page.press(&enter).await;

        // The phone step takes the focus to the phone field.
        page.wait(
            "the phone step with the phone field focused",
            &format!("vis($({PHONE:?})) && document.activeElement === $({PHONE:?})"),
        )
        .await;
        page.press("13800138006").await;
        page.press(&tab).await;
        let send = SEND.to_string();
        assert!(
            page.focused(&send).await,
            "Tab from the phone field goes to send-code, not {}",
            page.focus_name().await
        );
        page.press(&enter).await;
        let code = page.demo_code().await;
        // Sending takes the focus to the code field.
        page.wait(
            "the code field focused",
            &format!("document.activeElement === $({CODE:?})"),
        )
        .await;
        page.press(&code).await;
        let bind = BIND.to_string();
        let mut presses = 0;
        while !page.focused(&bind).await {
            presses += 1;
            assert!(
                presses <= 3,
                "Tab from the code field never reached the bind button; focus is on {}",
                page.focus_name().await
            );
            page.press(&tab).await;
        }
        page.press(&enter).await;
        page.wait_path("/deep/link").await;
        assert_identity(&page.seen().await, "+8613800138006");
    })
    .await;
}
