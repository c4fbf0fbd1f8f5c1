//! Every error the login page can show is said in the page's language: the visible status
//! heading and form messages have Chinese text on a Chinese page and none on an English
//! one, and never repeat the server's English `message`.

use std::time::Duration;

use crate::driver::{run, Opts};
use crate::page::{Lang, Page};
use crate::site::Site;

/// The gateway answered `error`, and the page shows it in `lang`, without the server's
/// words, and names it in `data-error`.
async fn assert_said_in(page: &Page, lang: Lang, error: &str) {
    assert_words_in(page, lang, error).await;
    page.wait_error(error).await;
}

/// The gateway answered `error`, and the page shows it in `lang`, without the server's words.
async fn assert_words_in(page: &Page, lang: Lang, error: &str) {
    page.wait(
        &format!("the gateway's {error:?} answer"),
        &format!("window.sgFetches.some((f) => f.error === {error:?})"),
    )
    .await;
    // Let the widget finish drawing what the error changed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let texts = page.widget_texts().await;
    assert!(
        !texts.is_empty(),
        "{error}: nothing shown\n{}",
        page.describe().await
    );
    for text in &texts {
        lang.assert_text(text, &format!("{error}: the widget's text"));
    }
    for message in page.server_messages().await {
        for text in &texts {
            assert!(
                !text.contains(&message),
                "{error}: the page shows the server's message {message:?} in {text:?}"
            );
        }
    }
}

/// The login page with a new user scanned: the phone step, fetches logged.
async fn at_phone_step(page: &Page, site: &Site) {
    page.goto(&site.login_url("/home")).await;
    page.wait_qr().await;
    page.log_fetches().await;
    page.demo_scan("new").await;
    page.wait_status("need_phone").await;
}

/// A 6-digit code that is not `code`.
fn wrong(code: &str, n: u32) -> String {
    code.bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 1 + (n % 9) as u8) % 10))
        .collect()
}

/// How many `/phone/bind` answers the page has had.
async fn binds_answered(page: &Page) -> u64 {
    page.js(
        "return window.sgFetches.filter((f) => f.url.endsWith('/phone/bind') && f.status).length;",
        vec![],
    )
    .await
    .as_u64()
    .unwrap_or(0)
}

async fn wrong_code(page: Page, lang: Lang) {
    let site = Site::start("").await;
    at_phone_step(&page, &site).await;
    let code = page.send_code("13800138010").await;
    page.bind(&wrong(&code, 0)).await;
    assert_said_in(&page, lang, "invalid_code").await;
}

async fn lockout(page: Page, lang: Lang) {
    let site = Site::start("").await;
    at_phone_step(&page, &site).await;
    let code = page.send_code("13800138011").await;
    for n in 0..5u32 {
        page.bind(&wrong(&code, n)).await;
        page.wait(
            &format!("bind answer {}", n + 1),
            &format!(
                "window.sgFetches.filter((f) => f.url.endsWith('/phone/bind') && f.status).length >= {}",
                n + 1
            ),
        )
        .await;
    }
    assert_eq!(binds_answered(&page).await, 5);
    assert_said_in(&page, lang, "code_dead").await;
}

async fn rate_limited(page: Page, lang: Lang) {
    let site = Site::start("login:\n  limits:\n    sms_per_phone_per_hour: 1\n").await;
    at_phone_step(&page, &site).await;
    page.send_code("13800138012").await;
    // A new attempt (the page reloaded) asks for a second code to the same number.
    page.client.refresh().await.expect("reload");
    page.wait_qr().await;
    page.log_fetches().await;
    page.demo_scan("new").await;
    page.wait_status("need_phone").await;
    page.type_into(crate::page::PHONE, "13800138012").await;
    let send = crate::page::SEND.to_string();
    page.click(&send).await;
    assert_words_in(&page, lang, "rate_limited").await;
    // The wait counts down while the visitor looks at it.
    let shown = format!(
        "[...document.querySelectorAll('.sg-msg')].filter(vis).map((e) => e.innerText).join(' ') \
         + ' | ' + (($({send:?}) || {{}}).innerText || '')"
    );
    let before = page.js(&format!("return {shown};"), vec![]).await;
    assert!(
        before
            .as_str()
            .is_some_and(|t| t.chars().any(|c| c.is_ascii_digit())),
        "no seconds shown for the rate limit: {before}"
    );
    page.wait_for(
        "the rate-limit countdown to tick",
        &format!("({shown}) !== {before}"),
        Duration::from_secs(4),
    )
    .await;
    page.wait_error("rate_limited").await;
}

async fn bad_phone(page: Page, lang: Lang) {
    let site = Site::start("").await;
    at_phone_step(&page, &site).await;
    // The page takes it (it looks like a number); the gateway serves +86 only by default.
    page.type_into(crate::page::PHONE, "+1 415 555 0100").await;
    let send = crate::page::SEND.to_string();
    page.click(&send).await;
    assert_said_in(&page, lang, "bad_phone").await;
}

async fn expired(page: Page, lang: Lang) {
    let site = Site::with_qr_lifetime(3).await;
    page.goto(&site.login_url("/home")).await;
    page.log_fetches().await;
    page.wait_status_for("expired", Duration::from_secs(15))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let texts = page.widget_texts().await;
    assert!(!texts.is_empty(), "nothing says the code expired");
    for text in &texts {
        lang.assert_text(text, "expired: the widget's text");
    }
}

async fn not_found(page: Page, lang: Lang) {
    let site = Site::start("").await;
    at_phone_step(&page, &site).await;
    // The browser loses this attempt's binding but keeps another's (so it is not a browser
    // that blocks cookies): the gateway knows no attempt of it by that id.
    let cookies = page.client.get_all_cookies().await.expect("the cookies");
    for c in cookies
        .iter()
        .filter(|c| c.name().starts_with("scangate_login_"))
    {
        page.client
            .delete_cookie(c.name())
            .await
            .expect("delete the binding cookie");
    }
    page.js(
        "document.cookie = 'scangate_login_AAAAAAAAAAAAAAAAAAAAAA=AAAAAAAAAAAAAAAAAAAAAA; path=/.auth'; return null;",
        vec![],
    )
    .await;
    page.type_into(crate::page::PHONE, "13800138013").await;
    let send = crate::page::SEND.to_string();
    page.click(&send).await;
    assert_said_in(&page, lang, "not_found").await;
}

macro_rules! in_both_languages {
    ($($scenario:ident: $zh:ident, $en:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $zh() {
            run(stringify!($zh), Opts::desktop(Lang::Zh.languages()), |c| async move {
                $scenario(Page::new(c), Lang::Zh).await
            })
            .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $en() {
            run(stringify!($en), Opts::desktop(Lang::En.languages()), |c| async move {
                $scenario(Page::new(c), Lang::En).await
            })
            .await;
        }
    )*};
}

in_both_languages! {
    wrong_code: wrong_code_is_said_in_chinese, wrong_code_is_said_in_english;
    lockout: lockout_is_said_in_chinese, lockout_is_said_in_english;
    rate_limited: rate_limit_is_said_in_chinese, rate_limit_is_said_in_english;
    bad_phone: bad_phone_is_said_in_chinese, bad_phone_is_said_in_english;
    expired: expiry_is_said_in_chinese, expiry_is_said_in_english;
    not_found: not_found_is_said_in_chinese, not_found_is_said_in_english;
}
