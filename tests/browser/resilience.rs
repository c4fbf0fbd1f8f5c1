//! The widget when things go wrong around it: cookies blocked, a code that expired, the
//! gateway restarted under a waiting page.

use std::time::Duration;

use crate::driver::{run, KeepOnFailure, Opts, EN};
use crate::harness::Gateway;
use crate::page::Page;
use crate::site::{routes, Site};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_cookies_are_named_and_do_not_loop() {
    run(
        "blocked_cookies_are_named_and_do_not_loop",
        Opts::desktop(EN).without_cookies(),
        |c| async move {
            let site = Site::start("").await;
            let page = Page::new(c);
            page.goto(&site.login_url("/home")).await;
            page.wait("the widget", "!!widget()").await;
            // No loop: the one attempt stays the only one.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let starts = page.qr_starts().await;
            assert!(
                starts <= 1,
                "{starts} login attempts started with cookies blocked\n{}",
                page.describe().await
            );
            let text = page.text(".sg").await;
            assert!(
                text.to_lowercase().contains("cookie"),
                "the page does not say cookies are the problem: {text:?}"
            );
            page.wait_error("cookies_blocked").await;
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_is_refreshed_with_the_again_button() {
    run(
        "an_expired_code_is_refreshed_with_the_again_button",
        Opts::desktop(EN),
        |c| async move {
            let site = Site::with_qr_lifetime(4).await;
            let page = Page::new(c);
            page.goto(&site.login_url("/home")).await;
            let first = page.wait_qr().await;
            page.wait_status_for("expired", Duration::from_secs(15))
                .await;
            // Focus goes to what can be done now, not to <body> (a keyboard user presses Enter).
            page.wait(
                "focus on the refresh button",
                "document.activeElement && document.activeElement.classList.contains('sg-again')",
            )
            .await;
            page.click(".sg-again").await;
            page.wait_status("waiting").await;
            let fresh = page.wait_qr().await;
            assert_ne!(first, fresh, "the refreshed code is a new one");
            // The status is in the DOM for pages and tests to read.
            page.wait(
                "the widget's data-status attribute to say waiting",
                "widget() && widget().getAttribute('data-status') === 'waiting'",
            )
            .await;
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_restart_mid_poll_gives_a_fresh_code() {
    run(
        "a_gateway_restart_mid_poll_gives_a_fresh_code",
        Opts::desktop(EN),
        |c| async move {
            let (gw, app) = Site::start("").await.into_parts();
            let page = Page::new(c);
            page.goto(&gw.url("/.auth/login?rd=%2Fhome")).await;
            let first = page.wait_qr().await;
            page.wait_status("waiting").await;
            // The page is long-polling now. The gateway goes away and a new one (an empty
            // store: the attempt is unknown there) takes its port.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let listen = gw.addr;
            drop(gw);
            tokio::time::sleep(Duration::from_millis(500)).await;
            let restarted = Gateway::start_at_with(listen, &routes(app.addr), |_| {}).await;
            let _keep = KeepOnFailure::new((restarted, app));
            page.wait_for(
                "a fresh code within 5 s of the new gateway",
                &format!(
                    "sgStatus() === 'waiting' && vis($('img.sg-qr')) && $('img.sg-qr').complete \
                     && $('img.sg-qr').naturalWidth > 0 && $('img.sg-qr').getAttribute('src') !== {first:?}"
                ),
                Duration::from_secs(5),
            )
            .await;
        },
    )
    .await;
}
