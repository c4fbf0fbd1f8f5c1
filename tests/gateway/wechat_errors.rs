//! When WeChat refuses a login's call, the person is told something true (busy: try later;
//! not available on this site; no answer), the operator reads WeChat's errcode, errmsg, rid
//! and what to fix in one log line, and the metric counts the errcode.

use scangate::demo::Demo;
use scangate::wechat_sim::{SimApi, SimHandle};
use serde_json::json;

use crate::browser::{Answer, Browser};
use crate::harness::*;

async fn gateway() -> (Echo, Gateway) {
    let e = Echo::start("app").await;
    let gw = Gateway::start(&format!(
        "login:\n  methods: [official_account, mini_program]\n  phone: \"off\"\nroutes:\n  - name: app\n    upstreams: [\"{}\"]\n    auth: login\n",
        e.addr
    ))
    .await;
    (e, gw)
}

fn sim(gw: &Gateway) -> &SimHandle {
    &Demo::of(gw.app()).expect("the demo runs").simulator
}

async fn start(browser: &Browser<'_>, method: &str) -> Answer {
    browser
        .post("/.auth/qr", json!({"method": method, "rd": "/"}))
        .await
}

/// The log lines written since `from` that name `api`, without colours.
fn lines_of(logs: &std::sync::Mutex<Vec<u8>>, from: usize, api: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(&logs.lock().unwrap()[from..]).to_string();
    text.lines()
        .map(without_colours)
        .filter(|l| l.contains(&format!("api=\"{api}\"")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_is_told_as_what_it_is() {
    let logs = crate::mini_program::captured_logs();
    let (_e, gw) = gateway().await;
    let s = sim(&gw);
    let browser = Browser::new(&gw);

    // The Mini Program's 45009 is its per-minute limit, and says so.
    let from = logs.lock().unwrap().len();
    s.fail_next(SimApi::WxaCodeUnlimited, 45009);
    let per_minute = start(&browser, "mini_program").await;
    assert_eq!(per_minute.status, 503);
    assert_eq!(per_minute.body["error"], "wechat_busy");
    let lines = lines_of(&logs, from, "wxacode_unlimited");
    assert!(
        lines.len() == 1 && lines[0].contains("5,000 calls a minute"),
        "{lines:#?}"
    );

    // A page that is not published: nothing helps until the operator acts.
    let from = logs.lock().unwrap().len();
    s.fail_next(SimApi::WxaCodeUnlimited, 41030);
    let unpublished = start(&browser, "mini_program").await;
    assert_eq!(unpublished.status, 503);
    assert_eq!(unpublished.body["error"], "wechat_misconfigured");
    assert_eq!(unpublished.header("retry-after"), None);
    let lines = lines_of(&logs, from, "wxacode_unlimited");
    assert!(
        lines.len() == 1 && lines[0].contains("ERROR") && lines[0].contains("check_path"),
        "{lines:#?}"
    );

    // A token refused again after its one refresh: another program takes the account's tokens.
    let from = logs.lock().unwrap().len();
    s.fail_next(SimApi::QrCodeCreate, 40001);
    s.fail_next(SimApi::QrCodeCreate, 40001);
    let refused = start(&browser, "official_account").await;
    assert_eq!(
        refused.body["error"], "wechat_misconfigured",
        "{}",
        refused.body
    );
    let lines = lines_of(&logs, from, "qrcode_create");
    let finals: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("errcode=40001 "))
        .collect();
    assert!(
        finals.iter().any(|l| l.contains("another program")),
        "{lines:#?}"
    );

    // Any other refusal: WeChat did not help this time.
    s.fail_next(SimApi::QrCodeCreate, 44002);
    let other = start(&browser, "official_account").await;
    assert_eq!(other.status, 502);
    assert_eq!(other.body["error"], "wechat_unavailable");

    // After all that, logins work again.
    assert_eq!(start(&browser, "official_account").await.status, 201);

    // The Official Account's daily quota: the log line says so, and the attempt becomes a
    // Mini Program one (`quota.rs` has the rest). Last: it pauses the Official Account.
    let from = logs.lock().unwrap().len();
    s.fail_next(SimApi::QrCodeCreate, 45009);
    let quota = start(&browser, "official_account").await;
    assert_eq!(quota.status, 201, "{}", quota.body);
    assert_eq!(quota.body["method"], "mini_program");
    let lines = lines_of(&logs, from, "qrcode_create");
    assert_eq!(lines.len(), 1, "one line per failed call: {lines:#?}");
    let line = &lines[0];
    for part in [
        "errcode=45009",
        "reach max api daily quota limit",
        "rid=",
        "midnight Beijing",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
    assert!(
        !line.contains("rid: "),
        "the rid is split off errmsg: {line}"
    );

    let text = gw.metrics().await;
    for line in [
        r#"scangate_wechat_api_requests_total{api="qrcode_create",errcode="45009",outcome="api_error"} 1"#,
        r#"scangate_wechat_api_requests_total{api="wxacode_unlimited",errcode="45009",outcome="api_error"} 1"#,
        r#"scangate_wechat_api_requests_total{api="wxacode_unlimited",errcode="41030",outcome="api_error"} 1"#,
        r#"scangate_wechat_api_requests_total{api="qrcode_create",errcode="40001",outcome="token_invalid"} 2"#,
        r#"scangate_wechat_api_requests_total{api="qrcode_create",errcode="other",outcome="api_error"} 1"#,
        r#"scangate_wechat_api_requests_total{api="qrcode_create",errcode="0",outcome="ok"} 1"#,
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
}
