//! Every login code spends one of WeChat's daily `qrcode/create` calls (issue 21): a page
//! nobody looks at asks for none. Hidden is real here: a minimised window makes the page's
//! `document.visibilityState` "hidden" (headless Chromium keeps background tabs "visible").

use std::time::Duration;

use fantoccini::Client;

use crate::driver::{run, Opts, EN};
use crate::page::Page;
use crate::site::Site;

/// `qrcode/create` calls the simulated WeChat served.
fn codes_made(site: &Site) -> u64 {
    scangate::demo::Demo::of(site.gw().app())
        .expect("the demo runs")
        .simulator
        .counters()
        .qrcode_creates
}

async fn hide(c: &Client, page: &Page) {
    c.minimize_window().await.expect("minimise");
    page.wait(
        "the page to be hidden",
        "document.visibilityState === 'hidden'",
    )
    .await;
}

/// Shows the window again; returns the page's clock just before, to tell what came after.
async fn show(c: &Client, page: &Page) -> f64 {
    let before = page.js("return performance.now();", vec![]).await;
    c.maximize_window().await.expect("show the window again");
    page.wait(
        "the page to be shown",
        "document.visibilityState === 'visible'",
    )
    .await;
    before.as_f64().unwrap_or(0.0)
}

/// When the page's `POST /.auth/qr` requests started, on the page's clock.
async fn qr_start_times(page: &Page) -> Vec<f64> {
    let v = page
        .js(
            "return performance.getEntriesByType('resource')\
             .filter((e) => new URL(e.name).pathname === '/.auth/qr').map((e) => e.startTime);",
            vec![],
        )
        .await;
    v.as_array()
        .map(|a| a.iter().filter_map(|t| t.as_f64()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_page_asks_for_its_code_only_once_shown() {
    run(
        "a_hidden_page_asks_for_its_code_only_once_shown",
        Opts::desktop(EN),
        |c| async move {
            let site = Site::start("").await;
            let page = Page::new(c.clone());
            page.goto(&site.url("/.auth/jwks.json")).await;
            hide(&c, &page).await;
            // Opened in a window nobody sees (a background tab, a restored session).
            page.goto(&site.login_url("/home")).await;
            // Mounted: the widget has decided whether to ask for a code (a request it makes
            // now starts before the window is shown again, which the times below tell).
            page.wait("the widget", "!!widget()").await;
            let shown_at = show(&c, &page).await;
            page.wait_qr().await;
            page.wait_status("waiting").await;
            let starts = qr_start_times(&page).await;
            assert_eq!(starts.len(), 1, "one code: {starts:?}");
            assert!(
                starts[0] >= shown_at,
                "the code was asked for while hidden ({} ms < {shown_at} ms)",
                starts[0]
            );
            assert_eq!(codes_made(&site), 1, "WeChat made one code");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_that_expired_in_a_hidden_page_is_renewed_on_click_only() {
    run(
        "a_code_that_expired_in_a_hidden_page_is_renewed_on_click_only",
        Opts::desktop(EN),
        |c| async move {
            let site = Site::with_qr_lifetime(4).await;
            let page = Page::new(c.clone());
            page.goto(&site.login_url("/home")).await;
            page.wait_qr().await;
            hide(&c, &page).await;
            page.wait_status_for("expired", Duration::from_secs(15))
                .await;
            show(&c, &page).await;
            // Back in view: the page offers a new code and waits for the person.
            page.wait(
                "focus on the refresh button",
                "document.activeElement && document.activeElement.classList.contains('sg-again')",
            )
            .await;
            assert_eq!(page.qr_starts().await, 1, "{}", page.describe().await);
            assert_eq!(codes_made(&site), 1);
            page.click(".sg-again").await;
            page.wait_status("waiting").await;
            page.wait_qr().await;
            assert_eq!(page.qr_starts().await, 2);
            assert_eq!(codes_made(&site), 2);
        },
    )
    .await;
}
