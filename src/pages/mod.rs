//! The gateway's own HTML: the hosted login page, error pages, the embeddable login widget
//! (`{auth_path}/sdk.js`) and QR drawings.
//!
//! The hosted page is only a card around the widget: [`render_login`] puts the options in a
//! `<script type="application/json" id="scangate-config">` element and `sdk.js` mounts itself
//! from it, so the page and third-party embeds run one implementation. Nothing here makes
//! a request or reads config beyond the plain view structs it is given; everything a page needs
//! (CSS, script) comes from the gateway itself, so the page makes no external request.

mod html;
mod lang;
mod oauth;
mod qr;

use std::sync::OnceLock;

use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use html::escape_html;
pub use lang::Lang;
pub use oauth::OAuthView;
pub use qr::{qr_svg, qr_svg_with_logo, QrError};

use html::{fill, json_for_script, Slot};

const LOGIN_HTML: &str = include_str!("login.html");
const ERROR_HTML: &str = include_str!("error.html");
const SDK_JS: &str = include_str!("sdk.js");
/// The widget's own styles; `sdk.js` carries them too, for pages that embed it.
const WIDGET_CSS: &str = include_str!("widget.css");
/// The stylesheet inlined into every page: the widget's, then the page's (whose dark-mode
/// block overrides the widget's colour variables, so it must come second).
const PAGE_CSS: &str = concat!(include_str!("widget.css"), include_str!("style.css"));
/// The pages' icon, inline: a browser asks for `/favicon.ico` when a page names none, and on
/// a protected site that request is refused (a 401 in every login page's console). A `data:`
/// icon asks nothing of anyone; the pages' CSP allows `data:` images.
const ICON: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%23067a3c'/%3E%3Cpath d='M4 8.5l2.5 2.5L12 5.5' stroke='%23fff' stroke-width='2' fill='none'/%3E%3C/svg%3E";
/// Where `sdk.js` expects the gateway to put [`WIDGET_CSS`], as a JS string literal.
const CSS_MARKER: &str = "\"__SCANGATE_CSS__\"";
/// Where `sdk.js` expects `login.site_name`, as a JS string literal (`""`: the page's host).
const SITE_MARKER: &str = "\"__SCANGATE_SITE__\"";

/// Everything the hosted login page shows. The proxy builds it per request.
#[derive(Clone, Copy, Debug)]
pub struct LoginView<'a> {
    /// The configured `auth_path`, e.g. `/.auth` (no trailing slash).
    pub auth_path: &'a str,
    /// Where the visitor goes after signing in; already validated by the caller.
    pub rd: &'a str,
    /// `login.methods` in order: `official_account`, `mini_program`, `website`. More than one
    /// gives tabs.
    pub methods: &'a [&'a str],
    /// `login.phone`: `required`, `optional` (the phone step offers "skip") or `off`.
    pub phone_policy: &'a str,
    /// `scangate demo`: shows the simulate-scan panel and the demo SMS code.
    pub demo: bool,
    pub lang: Lang,
    /// `login.phone_countries`: the calling codes whose numbers may be bound.
    pub phone_countries: &'a [&'a str],
    /// What the visitor is on: `desktop` (QR codes), `phone` (a phone's browser: the Mini
    /// Program's link, SMS), `wechat` (WeChat's in-app browser).
    pub device: &'a str,
    /// Sign-in through WeChat's own pages: a reason to show, an attempt to resume.
    pub oauth: OAuthView<'a>,
    /// The site's name in the heading: `login.site_name`, else the request's host.
    pub site: &'a str,
}

/// The options the widget reads, as `ScanGate.mount` takes them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WidgetOptions<'a> {
    auth_path: &'a str,
    rd: &'a str,
    method: &'a str,
    methods: &'a [&'a str],
    phone_policy: &'a str,
    demo: bool,
    lang: &'static str,
    phone_countries: &'a [&'a str],
    device: &'a str,
    /// The hosted page has its own heading naming the site: the widget shows none.
    heading: bool,
    /// The hosted page is only shown to a visitor without a session (or one switching
    /// account): no need to ask who is signed in.
    check_session: bool,
    #[serde(flatten)]
    oauth: oauth::OAuthOptions<'a>,
}

/// The words the pages themselves say (the widget has its own, in `sdk.js`).
struct PageText {
    title: &'static str,
    /// The heading: `{site}` is the site's name.
    site_title: &'static str,
    noscript: &'static str,
    return_to: &'static str,
    demo: &'static str,
    home: &'static str,
    /// The demo's device switch: its label, and each device's name.
    device: &'static str,
    devices: [(&'static str, &'static str); 3],
}

fn page_text(lang: Lang) -> &'static PageText {
    match lang {
        Lang::Zh => &PageText {
            title: "登录",
            site_title: "登录 {site}",
            noscript: "显示登录二维码需要启用 JavaScript。",
            return_to: "登录后将返回",
            demo: "演示模式",
            home: "返回首页",
            device: "设备",
            devices: [
                ("desktop", "电脑"),
                ("phone", "手机浏览器"),
                ("wechat", "微信内"),
            ],
        },
        Lang::En => &PageText {
            title: "Sign in",
            site_title: "Sign in to {site}",
            noscript: "Please enable JavaScript to show the sign-in QR code.",
            return_to: "You will return to",
            demo: "Demo mode",
            home: "Go to the home page",
            device: "Device",
            devices: [
                ("desktop", "Desktop"),
                ("phone", "Phone browser"),
                ("wechat", "Inside WeChat"),
            ],
        },
    }
}

/// The complete hosted login page (`GET {auth_path}/login`). Every value from `view` is
/// escaped for where it lands. Serve it with `Content-Type: text/html; charset=utf-8`,
/// `Cache-Control: no-store` and, ideally, [`page_csp`].
pub fn render_login(view: &LoginView<'_>) -> String {
    let text = page_text(view.lang);
    let options = WidgetOptions {
        auth_path: view.auth_path,
        rd: view.rd,
        method: view.methods.first().copied().unwrap_or("official_account"),
        methods: view.methods,
        phone_policy: view.phone_policy,
        demo: view.demo,
        lang: view.lang.code(),
        phone_countries: view.phone_countries,
        device: view.device,
        heading: false,
        check_session: false,
        oauth: view.oauth.into(),
    };
    let config = json_for_script(&options);
    let title = if view.site.is_empty() {
        text.title.to_string()
    } else {
        text.site_title.replace("{site}", view.site)
    };
    let sdk_src = format!("{}/sdk.js?v={}", view.auth_path, sdk_version());
    let badge = if view.demo {
        format!(
            "<p class=\"demo-badge\">{}</p>\n{}",
            escape_html(text.demo),
            device_switch(view, text)
        )
    } else {
        String::new()
    };
    fill(
        LOGIN_HTML,
        &[
            ("html_lang", Slot::Text(view.lang.html_lang())),
            ("title", Slot::Text(&title)),
            ("icon", Slot::Text(ICON)),
            ("css", Slot::Raw(PAGE_CSS)),
            ("demo_badge", Slot::Raw(&badge)),
            ("noscript", Slot::Text(text.noscript)),
            ("return_to", Slot::Text(text.return_to)),
            ("rd", Slot::Text(view.rd)),
            ("config", Slot::Raw(&config)),
            ("sdk_src", Slot::Text(&sdk_src)),
        ],
    )
}

/// The demo's device switch: links that reload the page as seen on another device
/// (`?device=`, honoured only in demo mode), the current one marked.
fn device_switch(view: &LoginView<'_>, text: &PageText) -> String {
    let rd: String = form_urlencoded::byte_serialize(view.rd.as_bytes()).collect();
    let links: Vec<String> = text
        .devices
        .iter()
        .map(|(device, name)| {
            let href = format!("{}/login?rd={rd}&device={device}", view.auth_path);
            let current = if *device == view.device {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!(
                "<a href=\"{}\" data-device=\"{device}\"{current}>{}</a>",
                escape_html(&href),
                escape_html(name)
            )
        })
        .collect();
    format!(
        "<p class=\"demo-devices\">{}: {}</p>\n",
        escape_html(text.device),
        links.join(" · ")
    )
}

/// A small page for errors a browser navigates into (bad `rd`, upstream down, ...). `title`
/// and `message` are escaped; the HTTP status is the caller's to set, `status` is only shown.
pub fn render_error_page(status: u16, title: &str, message: &str, lang: Lang) -> String {
    let status_line = format!("<p class=\"status\">{status}</p>\n");
    render_card(
        &status_line,
        title,
        &[message.to_string()],
        ("/", page_text(lang).home),
        lang,
    )
}

/// A page that tells something without an error status: a title, paragraphs and one link
/// (`(href, label)`). Everything is escaped.
pub fn render_notice_page(
    title: &str,
    paragraphs: &[String],
    link: (&str, &str),
    lang: Lang,
) -> String {
    render_card("", title, paragraphs, link, lang)
}

fn render_card(
    status_line: &str,
    title: &str,
    paragraphs: &[String],
    (href, label): (&str, &str),
    lang: Lang,
) -> String {
    let paragraphs: String = paragraphs
        .iter()
        .map(|p| format!("<p class=\"note\">{}</p>\n", escape_html(p)))
        .collect();
    fill(
        ERROR_HTML,
        &[
            ("html_lang", Slot::Text(lang.html_lang())),
            ("title", Slot::Text(title)),
            ("icon", Slot::Text(ICON)),
            ("css", Slot::Raw(PAGE_CSS)),
            ("status_line", Slot::Raw(status_line)),
            ("paragraphs", Slot::Raw(&paragraphs)),
            ("link", Slot::Text(href)),
            ("link_label", Slot::Text(label)),
        ],
    )
}

/// The login widget served at `GET {auth_path}/sdk.js` (`application/javascript; charset=utf-8`):
/// dependency-free ES2017, `ScanGate.mount(element, options)`. On a page without the hosted
/// page's stylesheet it adds its own.
pub fn sdk_js() -> &'static str {
    static JS: OnceLock<String> = OnceLock::new();
    JS.get_or_init(|| sdk_template().replacen(SITE_MARKER, "\"\"", 1))
}

/// [`sdk_js`] naming `site` (`login.site_name`) in the widget's heading; without one, the
/// widget names the page's host.
pub fn sdk_js_for(site: Option<&str>) -> std::borrow::Cow<'static, str> {
    match site {
        None => sdk_js().into(),
        Some(site) => {
            // A JSON string is a valid JS string literal.
            let site = serde_json::to_string(site).unwrap_or_else(|_| String::from("\"\""));
            sdk_template().replacen(SITE_MARKER, &site, 1).into()
        }
    }
}

/// `sdk.js` with its stylesheet in, the site's name still to fill.
fn sdk_template() -> &'static str {
    static JS: OnceLock<String> = OnceLock::new();
    JS.get_or_init(|| {
        // A JSON string is a valid JS string literal.
        let css = serde_json::to_string(WIDGET_CSS).unwrap_or_else(|_| String::from("\"\""));
        SDK_JS.replacen(CSS_MARKER, &css, 1)
    })
}

/// A short fingerprint of [`sdk_js`] (16 hex digits), constant for one build. The login page
/// loads `sdk.js?v=<this>`, so the script can be cached for long: see [`sdk_cache_control`].
pub fn sdk_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let digest = Sha256::digest(sdk_js().as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    })
}

/// The `Cache-Control` value for `sdk.js` requested with query parameter `v`: immutable for a
/// year when `v` is this build's [`sdk_version`], else five minutes (embedders load it without
/// a version and must see a new release soon).
pub fn sdk_cache_control(v: Option<&str>) -> &'static str {
    if v == Some(sdk_version()) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    }
}

/// A `Content-Security-Policy` for the pages of this module: scripts only from the gateway's
/// origin, the one inline stylesheet by hash, requests and images only to the gateway, no
/// framing (a framed login page invites clickjacking).
pub fn page_csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(PAGE_CSS));
        format!(
            "default-src 'none'; script-src 'self'; style-src 'sha256-{hash}'; img-src 'self' data:; \
             connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const METHODS: &[&str] = &["official_account", "mini_program"];

    fn view<'a>(rd: &'a str, lang: Lang) -> LoginView<'a> {
        LoginView {
            auth_path: "/.auth",
            rd,
            methods: METHODS,
            phone_policy: "optional",
            demo: false,
            lang,
            phone_countries: &["86"],
            device: "desktop",
            oauth: OAuthView::default(),
            site: "app.example.com",
        }
    }

    #[test]
    fn the_site_is_named_in_both_languages_and_escaped() {
        let en = render_login(&view("/", Lang::En));
        assert!(en.contains("<h1>Sign in to app.example.com</h1>"), "{en}");
        assert!(en.contains("<title>Sign in to app.example.com</title>"));
        let zh = render_login(&LoginView {
            site: "Acme <商城>",
            ..view("/", Lang::Zh)
        });
        assert!(zh.contains("<h1>登录 Acme &lt;商城&gt;</h1>"), "{zh}");
        // The widget, embedded elsewhere, names the configured site itself.
        let js = sdk_js_for(Some("Acme \"商城\""));
        assert!(js.contains(r#"const SITE = "Acme \"商城\"";"#));
        assert!(sdk_js().contains(r#"const SITE = "";"#));
        assert!(!sdk_js().contains("__SCANGATE_SITE__"));
    }

    /// The text between `open` (exclusive) and the next `close`.
    fn between<'a>(page: &'a str, open: &str, close: &str) -> &'a str {
        let start = page.find(open).unwrap() + open.len();
        let len = page[start..].find(close).unwrap();
        &page[start..start + len]
    }

    fn config_of(page: &str) -> serde_json::Value {
        let json = between(
            page,
            "<script type=\"application/json\" id=\"scangate-config\">",
            "</script>",
        );
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn page_is_complete_and_fills_every_placeholder() {
        for lang in [Lang::Zh, Lang::En] {
            let page = render_login(&view("/docs", lang));
            assert!(page.starts_with("<!doctype html>"));
            assert!(page.trim_end().ends_with("</html>"));
            assert!(!page.contains("{{"), "unfilled placeholder");
            assert!(page.contains("<noscript>"));
            assert!(page.contains("id=\"scangate-login\""));
        }
        let error = render_error_page(404, "Not found", "Nothing here.", Lang::En);
        assert!(!error.contains("{{"));
    }

    #[test]
    fn page_loads_the_widget_from_the_configured_auth_path() {
        let mut v = view("/", Lang::En);
        let page = render_login(&v);
        assert!(page.contains(&format!(
            "<script src=\"/.auth/sdk.js?v={}\" defer>",
            sdk_version()
        )));
        v.auth_path = "/_sso";
        let page = render_login(&v);
        assert!(page.contains("src=\"/_sso/sdk.js?v="));
        assert!(!page.contains("/.auth"), "auth_path must not be hard-coded");
        assert_eq!(config_of(&page)["authPath"], "/_sso");
    }

    #[test]
    fn page_makes_no_external_request() {
        let page = render_login(&LoginView {
            demo: true,
            ..view("/", Lang::Zh)
        });
        // The one link is the inline icon (whose SVG names its namespace, not a request).
        assert!(page.contains(&format!(
            "<link rel=\"icon\" href=\"{}\">",
            escape_html(ICON)
        )));
        let page = page.replace(&escape_html(ICON), "");
        assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("//cdn"));
        assert!(
            page.matches("<link").count() == 1
                && !page.contains("@import")
                && !page.contains("url(")
        );
        assert!(!sdk_js().contains("https://") && !sdk_js().contains("http://"));
    }

    #[test]
    fn hostile_rd_is_escaped_in_text_and_in_the_json_blob() {
        let rd = "/x\"><script>alert(1)</script><!--&";
        let page = render_login(&view(rd, Lang::En));
        assert!(
            !page.contains("<script>alert"),
            "raw markup from rd in the page"
        );
        assert!(page.contains("/x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;!--&amp;"));
        // The only `</script>` sequences are the two closing tags we wrote.
        assert_eq!(page.matches("</script>").count(), 2);
        assert_eq!(
            config_of(&page)["rd"],
            rd,
            "the widget still gets the exact value"
        );
    }

    #[test]
    fn json_blob_carries_the_widget_options() {
        let page = render_login(&LoginView {
            demo: true,
            ..view("/a?b=1&c=2", Lang::Zh)
        });
        let config = config_of(&page);
        assert_eq!(config["authPath"], "/.auth");
        assert_eq!(config["rd"], "/a?b=1&c=2");
        assert_eq!(config["method"], "official_account");
        assert_eq!(
            config["methods"],
            serde_json::json!(["official_account", "mini_program"])
        );
        assert_eq!(config["phonePolicy"], "optional");
        assert_eq!(config["demo"], true);
        assert_eq!(config["lang"], "zh");
    }

    #[test]
    fn oauth_options_reach_the_widget_only_when_set() {
        let config = config_of(&render_login(&view("/", Lang::En)));
        for key in ["notice", "attempt", "retryUrl", "inWechat"] {
            assert!(config.get(key).is_none(), "{key} without a value");
        }
        let page = render_login(&LoginView {
            oauth: OAuthView {
                notice: Some("oauth_declined"),
                attempt: Some("AAAAAAAAAAAAAAAAAAAAAA"),
                retry_url: Some("/.auth/wechat/oauth/start?method=official_account&rd=/"),
                in_wechat: true,
            },
            ..view("/", Lang::Zh)
        });
        let config = config_of(&page);
        assert_eq!(config["notice"], "oauth_declined");
        assert_eq!(config["attempt"], "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(
            config["retryUrl"],
            "/.auth/wechat/oauth/start?method=official_account&rd=/"
        );
        assert_eq!(config["inWechat"], true);
    }

    #[test]
    fn the_widget_has_words_for_every_web_authorization_refusal() {
        use crate::login::OAuthRefusal::*;
        for refusal in [
            Declined,
            StateInvalid,
            StateExpired,
            OtherBrowser,
            CodeRefused,
            Snapshot,
        ] {
            // Once in English, once in Chinese.
            let key = format!("{}: ", refusal.code());
            assert_eq!(sdk_js().matches(&key).count(), 2, "{key}");
        }
    }

    #[test]
    fn first_configured_method_is_the_default_tab() {
        let methods = ["mini_program", "official_account"];
        let page = render_login(&LoginView {
            methods: &methods,
            ..view("/", Lang::En)
        });
        assert_eq!(config_of(&page)["method"], "mini_program");
    }

    #[test]
    fn language_shows_in_page_text() {
        let zh = render_login(&view("/", Lang::Zh));
        assert!(
            zh.contains("<html lang=\"zh-CN\">")
                && zh.contains("<title>登录 app.example.com</title>")
        );
        let en = render_login(&view("/", Lang::En));
        assert!(
            en.contains("<html lang=\"en\">")
                && en.contains("<title>Sign in to app.example.com</title>")
        );
        assert!(en.contains("You will return to <span>/</span>"));
    }

    #[test]
    fn the_device_reaches_the_widget_and_the_demo_can_switch_it() {
        let page = render_login(&LoginView {
            device: "phone",
            ..view("/a?b=1", Lang::En)
        });
        assert_eq!(config_of(&page)["device"], "phone");
        assert!(
            !page.contains("class=\"demo-devices\""),
            "no switch outside the demo"
        );
        let demo = render_login(&LoginView {
            demo: true,
            device: "phone",
            ..view("/a?b=1", Lang::En)
        });
        for device in ["desktop", "phone", "wechat"] {
            let href = format!("/.auth/login?rd=%2Fa%3Fb%3D1&amp;device={device}");
            assert!(demo.contains(&href), "{device}: {demo}");
        }
        assert!(demo.contains("data-device=\"phone\" aria-current=\"page\">Phone browser<"));
    }

    #[test]
    fn demo_badge_only_in_demo_mode() {
        assert!(!render_login(&view("/", Lang::En)).contains("class=\"demo-badge\""));
        assert!(render_login(&LoginView {
            demo: true,
            ..view("/", Lang::En)
        })
        .contains("Demo mode"));
    }

    #[test]
    fn error_page_escapes_its_text() {
        let page = render_error_page(502, "<b>down</b>", "it's \"gone\"", Lang::Zh);
        assert!(page.contains("&lt;b&gt;down&lt;/b&gt;"));
        assert!(page.contains("it&#39;s &quot;gone&quot;"));
        assert!(page.contains(">502<") && page.contains("返回首页"));
    }

    #[test]
    fn sdk_carries_the_widget_css_and_no_marker() {
        let js = sdk_js();
        assert!(!js.contains(CSS_MARKER));
        assert!(js.contains("const CSS = \".sg{"));
        assert!(js.contains("ScanGate"));
    }

    #[test]
    fn sdk_version_is_stable_hex_and_drives_caching() {
        let v = sdk_version();
        assert_eq!(v.len(), 16);
        assert!(v.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(v, sdk_version());
        assert!(sdk_cache_control(Some(v)).contains("immutable"));
        assert_eq!(sdk_cache_control(Some("0000")), "public, max-age=300");
        assert_eq!(sdk_cache_control(None), "public, max-age=300");
    }

    #[test]
    fn csp_hash_matches_the_inline_stylesheet() {
        let page = render_login(&view("/", Lang::En));
        let css = between(&page, "<style id=\"scangate-css\">", "</style>");
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(css));
        assert!(page_csp().contains(&format!("style-src 'sha256-{hash}'")));
        let error = render_error_page(500, "x", "y", Lang::En);
        assert_eq!(
            between(&error, "<style id=\"scangate-css\">", "</style>"),
            css
        );
        // No inline script runs on the page: the JSON blob is data, the widget is a file.
        assert!(!page.contains("<script>"));
    }

    #[test]
    fn embedded_assets_stay_small_and_cannot_break_out() {
        let total = PAGE_CSS.len() + SDK_JS.len() + LOGIN_HTML.len();
        // Both languages' words for every error code are most of the widget (SMS login, the
        // phone browser's link and the sign-in methods through WeChat's pages brought their
        // own, and tokens for other backends theirs); sdk.js is cached for a year (versioned
        // URL), the page itself is a few KB more.
        assert!(total < 52 * 1024, "page assets grew to {total} bytes");
        assert!(
            !PAGE_CSS.contains("</"),
            "CSS must not close its <style> element"
        );
    }
}
