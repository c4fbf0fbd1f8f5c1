//! Driving a page: scripts with a small prelude, waiting for a condition with a failure
//! message that shows what the page said, and the login widget's steps as a person takes
//! them (real clicks and key presses through WebDriver).

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::harness::Seen;

/// How long a step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(10);

/// Defined before every script: `$` (querySelector), `vis` (rendered and not hidden),
/// `widget` (the `.sg` root), `sgState` (its `data-status` / `data-error`), `pick` (the first
/// selector that matches something), `sgStatus` (the widget's `data-status`).
const PRELUDE: &str = r#"
const $ = (s) => document.querySelector(s);
const vis = (e) => !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
const widget = () => $(".sg");
const sgState = () => { const w = widget(); return w ? { status: w.getAttribute("data-status"), error: w.getAttribute("data-error") } : null; };
const pick = (...sels) => sels.find((s) => $(s)) || sels[0];
const sgStatus = () => { const w = widget(); return w ? w.getAttribute("data-status") : null; };
"#;

/// A selector of the widget's DOM contract (see sdk.js).
pub type Sel = &'static str;

pub const DEMO_NEW: Sel = r#".sg-demo button[data-user="new"]"#;
pub const DEMO_RETURNING: Sel = r#".sg-demo button[data-user="returning"]"#;
pub const SEND: Sel = ".sg-send";
pub const BIND: Sel = ".sg-bind";
pub const PHONE: &str = "input[name=phone]";
pub const CODE: &str = "input[name=code]";

/// A browser tab under test.
#[derive(Clone)]
pub struct Page {
    pub client: Client,
}

impl Page {
    pub fn new(client: Client) -> Page {
        Page { client }
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("navigating to {url}: {e}"));
    }

    /// Runs `script` (a function body: `return` the result) after [`PRELUDE`].
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(&format!("{PRELUDE}\n{script}"), args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The page as a person sees it, for failure messages.
    pub async fn describe(&self) -> String {
        let v = self
            .client
            .execute(
                &format!(
                    "{PRELUDE}\nreturn {{ url: location.href, state: Object.assign({{ seen: sgStatus() }}, sgState()), \
                     text: document.body ? document.body.innerText : '' }};"
                ),
                vec![],
            )
            .await;
        match v {
            Ok(v) => {
                let text = v["text"].as_str().unwrap_or("");
                let text: String = text.chars().take(2000).collect();
                format!(
                    "at {}\nwidget: {}\n--- page text ---\n{text}\n---",
                    v["url"], v["state"]
                )
            }
            Err(e) => format!("(page not readable: {e})"),
        }
    }

    /// Polls `condition` (a JS expression) every 100 ms until it is truthy, for at most
    /// `timeout`; fails saying `what` was awaited and what the page showed.
    pub async fn wait_for(&self, what: &str, condition: &str, timeout: Duration) -> Value {
        let script = format!("{PRELUDE}\nreturn ({condition});");
        let started = Instant::now();
        loop {
            let last_error = match self.client.execute(&script, vec![]).await {
                Ok(v) if truthy(&v) => return v,
                Ok(_) => None,
                // A navigation in progress makes scripts fail for a moment.
                Err(e) => Some(e.to_string()),
            };
            if started.elapsed() > timeout {
                panic!(
                    "waited {timeout:?} for {what} ({condition}){}\n{}",
                    last_error
                        .map(|e| format!("; last script error: {e}"))
                        .unwrap_or_default(),
                    self.describe().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait(&self, what: &str, condition: &str) -> Value {
        self.wait_for(what, condition, STEP).await
    }

    /// Waits until the widget's `data-status` is `status`.
    pub async fn wait_status(&self, status: &str) {
        self.wait_status_for(status, STEP).await;
    }

    pub async fn wait_status_for(&self, status: &str, timeout: Duration) {
        self.wait_for(
            &format!("the widget's data-status {status:?}"),
            &format!("sgStatus() === {status:?}"),
            timeout,
        )
        .await;
    }

    /// Waits until the widget's `data-error` is `error`.
    pub async fn wait_error(&self, error: &str) {
        self.wait(
            &format!("the widget's data-error {error:?}"),
            &format!("widget() && widget().getAttribute('data-error') === {error:?}"),
        )
        .await;
    }

    /// Waits until the tab is at `path` (pathname and query).
    pub async fn wait_path(&self, path: &str) {
        self.wait(
            &format!("the page at {path}"),
            &format!(
                "location.pathname + location.search === {path:?} && document.readyState === 'complete'"
            ),
        )
        .await;
    }

    /// Waits until `css` is visible, then clicks it as a mouse would.
    pub async fn click(&self, css: &str) {
        self.wait(
            &format!("{css} to be visible and enabled"),
            &format!("vis($({css:?})) && !$({css:?}).disabled"),
        )
        .await;
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        el.click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    pub async fn click_sel(&self, sel: Sel) {
        self.click(sel).await;
    }

    /// Waits until `css` is visible, then types `text` into it.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.wait(&format!("{css} to be visible"), &format!("vis($({css:?}))"))
            .await;
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        el.clear()
            .await
            .unwrap_or_else(|e| panic!("clearing {css}: {e}"));
        el.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// The text of the first element matching `css`, or "" without one.
    pub async fn text(&self, css: &str) -> String {
        let v = self
            .js(
                "const e = $(arguments[0]); return e ? e.innerText : '';",
                vec![json!(css)],
            )
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// The JSON the app's echo answered with, as shown for the current page.
    pub async fn seen(&self) -> Seen {
        let v = self
            .js(
                "const pre = $('pre'); return pre ? pre.textContent : document.body.innerText;",
                vec![],
            )
            .await;
        let text = v.as_str().unwrap_or_default();
        match serde_json::from_str(text) {
            Ok(json) => Seen(json),
            Err(_) => panic!("not the app's echo:\n{}", self.describe().await),
        }
    }

    /// Records every `fetch` the page makes from now on, with the `error` and `message` of
    /// failed JSON answers, in `window.sgFetches` (the widget looks `fetch` up per call).
    pub async fn log_fetches(&self) {
        self.js(
            r#"
            if (!window.sgFetches) {
              window.sgFetches = [];
              const orig = window.fetch;
              window.fetch = async function (input, init) {
                const entry = { url: String(input && input.url || input), method: (init && init.method) || "GET" };
                window.sgFetches.push(entry);
                const r = await orig.apply(this, arguments);
                entry.status = r.status;
                if (!r.ok) r.clone().json().then((b) => { entry.error = b.error; entry.message = b.message; }).catch(() => {});
                return r;
              };
            }
            return true;"#,
            vec![],
        )
        .await;
    }

    /// The `message`s of the error answers logged by [`Page::log_fetches`].
    pub async fn server_messages(&self) -> Vec<String> {
        self.strings("return (window.sgFetches || []).map((f) => f.message).filter(Boolean);")
            .await
    }

    /// The strings of the array `script` returns (anything else in it is skipped).
    async fn strings(&self, script: &str) -> Vec<String> {
        let v = self.js(script, vec![]).await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts `<html lang>` is `lang`'s.
    pub async fn assert_html_lang(&self, lang: Lang) {
        let html_lang = self
            .js("return document.documentElement.lang;", vec![])
            .await;
        let want = if lang == Lang::Zh { "zh-CN" } else { "en" };
        assert_eq!(html_lang, json!(want), "<html lang>");
    }

    /// `POST {auth}/qr` requests this page made, counted from the browser's resource timing
    /// (the only fetch of that exact path; polls go to `/qr/{id}`).
    pub async fn qr_starts(&self) -> u64 {
        let v = self
            .js(
                "return performance.getEntriesByType('resource')\
                 .filter((e) => new URL(e.name).pathname === '/.auth/qr').length;",
                vec![],
            )
            .await;
        v.as_u64().unwrap_or(0)
    }

    /// Presses each key of `keys` (characters, or [`fantoccini::key::Key`]s as chars) on
    /// whatever has the focus, as a keyboard does.
    pub async fn press(&self, keys: &str) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut actions = KeyActions::new("keyboard".to_string());
        for value in keys.chars() {
            actions = actions
                .then(KeyAction::Down { value })
                .then(KeyAction::Up { value });
        }
        self.client
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("pressing {keys:?}: {e}"));
    }

    /// Whether the focused element matches `css`.
    pub async fn focused(&self, css: &str) -> bool {
        self.js(
            "return !!document.activeElement && document.activeElement.matches(arguments[0]);",
            vec![json!(css)],
        )
        .await
            == json!(true)
    }

    /// A description of the focused element, for failure messages.
    pub async fn focus_name(&self) -> String {
        let v = self
            .js(
                "const e = document.activeElement; return e ? e.outerHTML.slice(0, 200) : 'nothing';",
                vec![],
            )
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    // === the login widget, step by step ===

    /// Waits for a QR code the widget shows (a loaded image with a source).
    pub async fn wait_qr(&self) -> String {
        let v = self
            .wait(
                "a QR code",
                "vis($('img.sg-qr')) && $('img.sg-qr').complete && $('img.sg-qr').naturalWidth > 0 \
                 && $('img.sg-qr').getAttribute('src')",
            )
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// The simulator's phone scans the code, as the demo button does (`new` or `returning`).
    pub async fn demo_scan(&self, user: &str) {
        let sel = if user == "new" {
            DEMO_NEW
        } else {
            DEMO_RETURNING
        };
        self.click_sel(sel).await;
    }

    /// Types `phone`, presses "send code" and returns the code the demo shows.
    pub async fn send_code(&self, phone: &str) -> String {
        self.type_into(PHONE, phone).await;
        self.click_sel(SEND).await;
        self.demo_code().await
    }

    /// The 6-digit code the demo shows once a code was sent.
    pub async fn demo_code(&self) -> String {
        let v = self
            .wait(
                "the demo code to be shown",
                "vis($('.sg-democode')) && ($('.sg-democode').innerText.match(/\\d{6}/) || [])[0]",
            )
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Types `code` and presses the bind button.
    pub async fn bind(&self, code: &str) {
        self.type_into(CODE, code).await;
        self.click_sel(BIND).await;
    }

    /// The whole login of a new user on the login page this tab shows, ending where the
    /// page sends the browser.
    pub async fn sign_up(&self, phone: &str) {
        self.wait_qr().await;
        self.demo_scan("new").await;
        self.wait("the phone step", &format!("vis($({PHONE:?}))"))
            .await;
        let code = self.send_code(phone).await;
        self.bind(&code).await;
    }

    /// The visible texts of `.sg-status`, `.sg-sub` and `.sg-msg`, non-empty.
    pub async fn widget_texts(&self) -> Vec<String> {
        self.strings(
            "return [...document.querySelectorAll('.sg-status, .sg-sub, .sg-msg')]\
             .filter(vis).map((e) => e.innerText.trim()).filter(Boolean);",
        )
        .await
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// True when `s` has a CJK ideograph.
pub fn has_cjk(s: &str) -> bool {
    s.chars()
        .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c))
}

/// The language a page is checked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn languages(self) -> &'static str {
        match self {
            Lang::Zh => crate::driver::ZH,
            Lang::En => crate::driver::EN,
        }
    }

    /// Asserts that `text` is written in this language: Chinese has ideographs, English none.
    pub fn assert_text(self, text: &str, what: &str) {
        match self {
            Lang::Zh => assert!(has_cjk(text), "{what} is not in Chinese: {text:?}"),
            Lang::En => assert!(!has_cjk(text), "{what} is not in English: {text:?}"),
        }
    }
}
