//! How pages look and read: the primary button's contrast in light and dark mode, and the
//! cookie-check page opened directly.

use serde_json::json;

use crate::driver::{cdp, run, Opts, EN};
use crate::page::{has_cjk, Lang, Page};
use crate::site::Site;

/// The WCAG contrast ratio of the first `.sg-btn-primary`'s text against its background
/// (transparent backgrounds composited over their ancestors', then white), as
/// `{ratio, fg, bg}`.
const CONTRAST: &str = r#"
const parse = (c) => { const m = c.match(/[\d.]+/g) || []; return { r: +m[0], g: +m[1], b: +m[2], a: m.length > 3 ? +m[3] : 1 }; };
const over = (top, below) => ({ r: top.r * top.a + below.r * (1 - top.a), g: top.g * top.a + below.g * (1 - top.a), b: top.b * top.a + below.b * (1 - top.a), a: 1 });
const background = (e) => {
  const layers = [];
  for (let n = e; n; n = n.parentElement) {
    const c = parse(getComputedStyle(n).backgroundColor);
    if (c.a > 0) layers.push(c);
    if (c.a >= 1) break;
  }
  return layers.reverse().reduce((below, top) => over(top, below), { r: 255, g: 255, b: 255, a: 1 });
};
const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
const btn = $(".sg-btn-primary");
if (!btn) return null;
const bg = background(btn);
const fg = over(parse(getComputedStyle(btn).color), bg);
const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
return { ratio: (hi + 0.05) / (lo + 0.05), fg: getComputedStyle(btn).color, bg: `rgb(${bg.r}, ${bg.g}, ${bg.b})`, dark: matchMedia("(prefers-color-scheme: dark)").matches };
"#;

async fn primary_contrast(page: &Page, scheme: &str) {
    page.wait("a primary button", "!!$('.sg-btn-primary')")
        .await;
    let c = page.js(CONTRAST, vec![]).await;
    assert_eq!(
        c["dark"],
        json!(scheme == "dark"),
        "the page is not in {scheme} mode"
    );
    let ratio = c["ratio"].as_f64().expect("a ratio");
    assert!(
        ratio >= 4.5,
        "primary button in {scheme} mode: text {} on {} has contrast {ratio:.2}, below 4.5",
        c["fg"],
        c["bg"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_button_has_enough_contrast_in_light_and_dark_mode() {
    run(
        "the_primary_button_has_enough_contrast_in_light_and_dark_mode",
        Opts::desktop(EN),
        |c| async move {
            let site = Site::start("").await;
            let page = Page::new(c.clone());
            page.goto(&site.login_url("/home")).await;
            page.wait_qr().await;
            let mut failures = Vec::new();
            for scheme in ["light", "dark"] {
                cdp(
                    &c,
                    "Emulation.setEmulatedMedia",
                    json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
                )
                .await;
                // Report both schemes, not only the first that fails.
                let checked = tokio::spawn({
                    let page = page.clone();
                    async move { primary_contrast(&page, scheme).await }
                })
                .await;
                if let Err(e) = checked {
                    let text = e
                        .try_into_panic()
                        .ok()
                        .and_then(|p| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "failed".into());
                    failures.push(text);
                }
            }
            assert!(failures.is_empty(), "{}", failures.join("\n"));
        },
    )
    .await;
}

async fn cookie_check_page(page: Page, lang: Lang) {
    let site = Site::start("").await;
    page.goto(&site.url("/.auth/check")).await;
    page.wait(
        "the check page",
        "document.readyState === 'complete' && !!$('h1')",
    )
    .await;
    page.assert_html_lang(lang).await;
    let text = page.text("body").await;
    let title = page.text("h1").await;
    lang.assert_text(&title, "the check page's title");
    if lang == Lang::En {
        assert!(!has_cjk(&text), "Chinese on an English page: {text:?}");
    } else {
        // Every paragraph of a Chinese page is Chinese (names like "Cookie" may stay).
        let paragraphs = page
            .js(
                "return [...document.querySelectorAll('main p, main h1')].map((e) => e.innerText.trim()).filter(Boolean);",
                vec![],
            )
            .await;
        for p in paragraphs.as_array().into_iter().flatten() {
            lang.assert_text(
                p.as_str().unwrap_or_default(),
                "a paragraph of the check page",
            );
        }
    }
    let stray = text
        .split(|c: char| !c.is_ascii_digit())
        .any(|number| number == "200");
    assert!(!stray, "the page shows a stray 200: {text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_check_page_opened_directly_speaks_chinese() {
    run(
        "the_cookie_check_page_opened_directly_speaks_chinese",
        Opts::desktop(Lang::Zh.languages()),
        |c| async move { cookie_check_page(Page::new(c), Lang::Zh).await },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_check_page_opened_directly_speaks_english() {
    run(
        "the_cookie_check_page_opened_directly_speaks_english",
        Opts::desktop(EN),
        |c| async move { cookie_check_page(Page::new(c), Lang::En).await },
    )
    .await;
}

/// The phone step's fields are named by their own labels only, the status is announced, and
/// the page names an inline icon (so the browser asks no protected `/favicon.ico`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_are_named_by_their_labels_and_the_page_asks_for_no_icon() {
    run(
        "fields_are_named_by_their_labels_and_the_page_asks_for_no_icon",
        Opts::desktop(EN),
        |c| async move {
            let site = Site::start("").await;
            let page = Page::new(c);
            page.goto(&site.login_url("/home")).await;
            page.wait_status("waiting").await;
            let facts = page
                .js(
                    "return { icon: ($('link[rel=icon]') || {}).href || null, \
                       live: !!document.querySelector('[aria-live] .sg-status') };",
                    vec![],
                )
                .await;
            assert!(
                facts["icon"]
                    .as_str()
                    .is_some_and(|h| h.starts_with("data:")),
                "{facts}"
            );
            assert_eq!(facts["live"], json!(true), "{facts}");
            page.click_sel(crate::page::DEMO_NEW).await;
            page.wait_status("need_phone").await;
            let names = page
                .js(
                    "const n = (s) => Array.from($(s).labels).map((l) => l.textContent.trim()); \
                     return { phone: n('input[name=phone]'), code: n('input[name=code]'), \
                              focused: document.activeElement && document.activeElement.name };",
                    vec![],
                )
                .await;
            assert_eq!(names["phone"], json!(["Mobile number"]), "{names}");
            assert_eq!(names["code"], json!(["Verification code"]), "{names}");
            // The phone step takes focus to its first field.
            assert_eq!(names["focused"], json!("phone"), "{names}");
        },
    )
    .await;
}
