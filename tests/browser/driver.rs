//! Headless Chromium through chromedriver: finding both, one chromedriver per test on a free
//! port in its own temp dir, the session's options (window size, language, cookies), at most
//! [`MAX_BROWSERS`] at once, and [`run`], which wraps a test body so that a failure leaves a
//! screenshot and names it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::harness::{free_port, wait_listening};

/// Chromium instances alive at once, whatever `--test-threads` says: each takes hundreds of
/// MB and a core while it starts.
const MAX_BROWSERS: usize = 2;
static BROWSERS: Semaphore = Semaphore::const_new(MAX_BROWSERS);

/// A test body runs at most this long; then it fails with a screenshot like any failure.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// What a failing test's servers become while it unwinds: kept until the screenshot is
/// taken, so that it shows the page as it was, not a page whose gateway just went away.
type Grave = Arc<Mutex<Vec<Box<dyn std::any::Any + Send>>>>;

tokio::task_local! {
    static GRAVE: Grave;
}

/// Keeps `thing` alive until the running test's screenshot is taken (outside a test body,
/// drops it at once). For `Drop` impls of servers while `std::thread::panicking()`.
pub fn bury(thing: Box<dyn std::any::Any + Send>) {
    let mut thing = Some(thing);
    let _ = GRAVE.try_with(|grave| {
        if let (Ok(mut grave), Some(thing)) = (grave.lock(), thing.take()) {
            grave.push(thing);
        }
    });
}

/// Holds `T` and, if the test fails while it is held, [`bury`]s it.
pub struct KeepOnFailure<T: Send + 'static>(Option<T>);

impl<T: Send + 'static> KeepOnFailure<T> {
    pub fn new(thing: T) -> Self {
        KeepOnFailure(Some(thing))
    }
}

impl<T: Send + 'static> Drop for KeepOnFailure<T> {
    fn drop(&mut self) {
        if let (true, Some(thing)) = (std::thread::panicking(), self.0.take()) {
            bury(Box::new(thing));
        }
    }
}

/// The binaries the suite drives.
#[derive(Clone, Debug)]
pub struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/bin".into(), "/usr/lib/chromium".into()]);
    let dirs: Vec<PathBuf> = dirs.collect();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Chromium and chromedriver, or `None` with one line saying what is missing (a failure
/// when `SCANGATE_TEST_REQUIRE_BROWSER=1`, as CI sets it).
pub fn tools(test: &str) -> Option<Tools> {
    let chromium = find_binary(&["chromium", "chromium-browser", "google-chrome"]);
    let chromedriver = find_binary(&["chromedriver"]);
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => Some(Tools {
            chromium,
            chromedriver,
        }),
        _ => {
            assert!(
                std::env::var("SCANGATE_TEST_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "chromium and chromedriver are required (SCANGATE_TEST_REQUIRE_BROWSER=1) but \
                 not installed (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "skipping browser test {test}: chromium/chromedriver not installed \
                 (set SCANGATE_TEST_REQUIRE_BROWSER=1 to require)"
            );
            None
        }
    }
}

/// The window and the preferences of one browser session.
#[derive(Clone, Debug)]
pub struct Opts {
    pub width: u32,
    pub height: u32,
    /// `intl.accept_languages`, e.g. `zh-CN,zh`; the first tag is also `--lang`.
    pub languages: &'static str,
    /// Cookies blocked for every site (content setting 2).
    pub block_cookies: bool,
}

impl Opts {
    /// A desktop window, 1280×800.
    pub fn desktop(languages: &'static str) -> Opts {
        Opts {
            width: 1280,
            height: 800,
            languages,
            block_cookies: false,
        }
    }

    /// A phone-sized window, 390×844.
    pub fn phone(languages: &'static str) -> Opts {
        Opts {
            width: 390,
            height: 844,
            ..Opts::desktop(languages)
        }
    }

    pub fn without_cookies(self) -> Opts {
        Opts {
            block_cookies: true,
            ..self
        }
    }
}

pub const EN: &str = "en-US,en";
pub const ZH: &str = "zh-CN,zh";

/// One chromedriver process, killed when dropped; its log and the browser profile live in
/// its temp dir.
struct Driver {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start(tools: &Tools) -> Driver {
        // The port is free when picked, but another test may take it before chromedriver
        // binds it; chromedriver then exits at once (and `wait_listening` may even see the
        // other listener). Such a start is retried on a fresh port.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let child = Command::new(&tools.chromedriver)
                .arg(format!("--port={port}"))
                .arg(format!(
                    "--log-path={}",
                    dir.path().join("chromedriver.log").display()
                ))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts");
            let mut driver = Driver {
                child,
                url: format!("http://127.0.0.1:{port}"),
                dir,
            };
            wait_listening(format!("127.0.0.1:{port}").parse().expect("address")).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            if matches!(driver.child.try_wait(), Ok(None)) {
                return driver;
            }
        }
        panic!("chromedriver exited at start five times (ports taken?)");
    }

    fn log(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    async fn session(&self, tools: &Tools, opts: &Opts) -> Client {
        let lang = opts.languages.split(',').next().unwrap_or("en-US");
        let profile = self.dir.path().join("profile");
        let mut prefs = json!({ "intl.accept_languages": opts.languages });
        if opts.block_cookies {
            prefs["profile.default_content_setting_values.cookies"] = json!(2);
        }
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            format!("--window-size={},{}", opts.width, opts.height),
            format!("--lang={lang}"),
            format!("--user-data-dir={}", profile.display()),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--no-proxy-server".into(),
            "--disable-extensions".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-features=Translate,MediaRouter,OptimizationHints".into(),
            // Two tabs both poll: neither may be throttled as a background tab.
            "--disable-background-timer-throttling".into(),
            "--disable-renderer-backgrounding".into(),
            "--disable-backgrounding-occluded-windows".into(),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": tools.chromium,
                "args": args,
                "prefs": prefs,
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!("an object literal")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut last = None;
        // A loaded machine can be slow to bring Chromium up; try twice.
        for _ in 0..2 {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&self.url)
                .await
            {
                Ok(client) => {
                    // Headless windows take `--window-size` as the viewport; set it again so
                    // the size is what the test asked for either way.
                    let _ = client.set_window_size(opts.width, opts.height).await;
                    return client;
                }
                Err(e) => last = Some(e),
            }
        }
        panic!(
            "no browser session: {last:?}\nchromedriver log:\n{}",
            self.log()
        );
    }
}

/// Where a failing test's screenshot goes: `<target>/browser-screenshots/<test>.png`, the
/// target directory being `CARGO_TARGET_DIR` or the crate's `target/`.
fn screenshot_path(test: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let target = if target.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(target)
    } else {
        target
    };
    target
        .join("browser-screenshots")
        .join(format!("{test}.png"))
}

async fn save_screenshot(client: &Client, test: &str) -> String {
    let path = screenshot_path(test);
    let shot = match client.screenshot().await {
        Ok(png) => png,
        Err(e) => return format!("(no screenshot: {e})"),
    };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&path, shot) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(screenshot not saved to {}: {e})", path.display()),
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "(panic without a message)".to_string()
    }
}

/// Runs `body` with a fresh headless Chromium (its own chromedriver and profile), or skips
/// with one line when Chromium is not installed. If the body panics or runs longer than
/// [`TEST_TIMEOUT`], the page is screenshotted and the test fails naming the file.
pub async fn run<F, Fut>(test: &str, opts: Opts, body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(tools) = tools(test) else {
        return;
    };
    let _permit = BROWSERS.acquire().await.expect("semaphore never closed");
    let driver = Driver::start(&tools).await;
    let client = driver.session(&tools, &opts).await;
    let grave = Grave::default();
    let task = tokio::spawn(GRAVE.scope(grave.clone(), body(client.clone())));
    let abort = task.abort_handle();
    let failure = match tokio::time::timeout(TEST_TIMEOUT, task).await {
        Ok(Ok(())) => None,
        Ok(Err(joined)) => Some(match joined.try_into_panic() {
            Ok(payload) => panic_text(payload),
            Err(e) => format!("the test task ended: {e}"),
        }),
        Err(_) => {
            abort.abort();
            Some(format!("the test ran longer than {TEST_TIMEOUT:?}"))
        }
    };
    let shot = match &failure {
        Some(_) => Some(save_screenshot(&client, test).await),
        None => None,
    };
    let _ = client.close().await;
    drop(driver);
    let buried = std::mem::take(&mut *grave.lock().unwrap_or_else(|e| e.into_inner()));
    drop(buried);
    if let (Some(failure), Some(shot)) = (failure, shot) {
        panic!("{failure}\nscreenshot: {shot}");
    }
}

/// A Chrome DevTools Protocol command through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params }).to_string();
        (http::Method::POST, Some(body))
    }
}

/// Sends a DevTools command to the current tab.
pub async fn cdp(client: &Client, cmd: &'static str, params: Value) -> Value {
    client
        .issue_cmd(Cdp { cmd, params })
        .await
        .unwrap_or_else(|e| panic!("CDP {cmd} failed: {e}"))
}
