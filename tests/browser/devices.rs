//! The login page by device: a phone's browser (a phone's User-Agent, a phone's viewport)
//! gets no QR code but a button that opens the Mini Program in WeChat and the SMS form, and
//! signs in by SMS; a desktop gets SMS login as a tab beside the QR code.

use serde_json::json;

use crate::driver::{cdp, run, Opts, EN, ZH};
use crate::page::{Page, BIND, CODE, PHONE, SEND};
use crate::site::Site;

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

/// Makes the tab a phone: its User-Agent and a mobile viewport.
async fn as_phone(c: &fantoccini::Client) {
    cdp(
        c,
        "Emulation.setUserAgentOverride",
        json!({ "userAgent": IPHONE, "platform": "iPhone" }),
    )
    .await;
    cdp(
        c,
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": true }),
    )
    .await;
}

/// Types `phone`, sends the code, types the code the demo shows, signs in.
async fn sign_in_by_sms(page: &Page, phone: &str) {
    page.type_into(PHONE, phone).await;
    page.click(SEND).await;
    let code = page.demo_code().await;
    page.type_into(CODE, &code).await;
    page.click(BIND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_browser_gets_the_wechat_link_and_the_sms_form_and_signs_in_by_sms() {
    run(
        "a_phone_browser_gets_the_wechat_link_and_the_sms_form_and_signs_in_by_sms",
        Opts::phone(ZH),
        |c| async move {
            as_phone(&c).await;
            let site = Site::start(
                "login:\n  methods: [official_account, mini_program, sms]\n  sms_signup: true\n",
            )
            .await;
            let page = Page::new(c.clone());
            page.goto(&site.login_url("/phone/home")).await;
            page.wait(
                "the widget to know it is on a phone",
                "widget() && widget().getAttribute('data-device') === 'phone'",
            )
            .await;
            page.wait_status("waiting").await;
            let link = page
                .wait(
                    "the Open in WeChat button with its URL Link",
                    "vis($('.sg-open-wechat')) && $('.sg-open-wechat').getAttribute('href')",
                )
                .await;
            assert!(
                link.as_str().unwrap_or_default().contains("/wxaurl/"),
                "{link}"
            );
            assert_eq!(page.text(".sg-open-wechat").await, "在微信中打开");
            let shown = page
                .js(
                    "return { qr: vis($('img.sg-qr')) || vis($('.sg-qr-box')), tabs: vis($('.sg-tabs')), \
                     form: vis($('input[name=phone]')) && vis($('input[name=code]')), \
                     skip: vis($('.sg-skip')), button: $('.sg-bind').innerText };",
                    vec![],
                )
                .await;
            assert_eq!(shown["qr"], false, "no QR code on a phone: {shown}");
            assert_eq!(shown["tabs"], false, "{shown}");
            assert_eq!(shown["form"], true, "the SMS form: {shown}");
            assert_eq!(shown["button"], "登录", "{shown}");

            sign_in_by_sms(&page, "13600136001").await;
            page.wait_path("/phone/home").await;
            let seen = page.seen().await;
            assert_eq!(seen.header("x-auth-method").as_deref(), Some("sms"));
            assert_eq!(
                seen.header("x-auth-phone").as_deref(),
                Some("+8613600136001")
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_offers_sms_as_a_tab_and_says_when_a_number_has_no_account() {
    run(
        "a_desktop_offers_sms_as_a_tab_and_says_when_a_number_has_no_account",
        Opts::desktop(EN),
        |c| async move {
            let site = Site::start("login:\n  methods: [official_account, sms]\n").await;
            let page = Page::new(c.clone());
            page.goto(&site.login_url("/desk")).await;
            page.wait_qr().await;
            let device = page
                .js("return widget().getAttribute('data-device');", vec![])
                .await;
            assert_eq!(device, json!("desktop"));
            page.click(".sg-tab[data-method=sms]").await;
            page.wait_status("sms").await;
            page.wait("the QR code to go", "!vis($('.sg-qr-box'))")
                .await;

            // A number nobody holds: told only after the right code, in the page's words.
            sign_in_by_sms(&page, "13600136002").await;
            page.wait_error("no_account").await;
            let said = page.text(".sg-msg").await;
            assert!(said.contains("No account uses this number"), "{said}");

            // The demo's returning user holds +8619999999999: signs in by SMS.
            page.wait(
                "the send button to be ready again",
                "!$('.sg-send').disabled",
            )
            .await;
            sign_in_by_sms(&page, "19999999999").await;
            page.wait_path("/desk").await;
            let seen = page.seen().await;
            assert_eq!(seen.header("x-auth-method").as_deref(), Some("sms"));
            assert_eq!(
                seen.header("x-auth-phone").as_deref(),
                Some("+8619999999999")
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_keeps_sms_when_wechat_refuses_the_link() {
    run(
        "a_phone_keeps_sms_when_wechat_refuses_the_link",
        Opts::phone(EN),
        |c| async move {
            as_phone(&c).await;
            let site =
                Site::start("login:\n  methods: [mini_program, sms]\n  sms_signup: true\n").await;
            // An individual's Mini Program may not make URL Links.
            scangate::demo::Demo::of(site.gw().app())
                .expect("the demo runs")
                .simulator
                .fail_next(scangate::wechat_sim::SimApi::GenerateUrlLink, 48001);
            let page = Page::new(c.clone());
            page.goto(&site.login_url("/refused")).await;
            page.wait_error("wechat_misconfigured").await;
            let sub = page.text(".sg-sub").await;
            assert!(sub.contains("not available on this site"), "{sub}");
            let shown = page
                .js(
                    "return { link: vis($('.sg-open-wechat')), form: vis($('input[name=phone]')), \
                     again: vis($('.sg-again')) && $('.sg-again').innerText };",
                    vec![],
                )
                .await;
            assert_eq!(shown["link"], false, "{shown}");
            assert_eq!(shown["form"], true, "SMS is still offered: {shown}");
            assert_eq!(shown["again"], "Try again", "{shown}");

            sign_in_by_sms(&page, "13600136003").await;
            page.wait_path("/refused").await;
            let seen = page.seen().await;
            assert_eq!(seen.header("x-auth-method").as_deref(), Some("sms"));
        },
    )
    .await;
}
