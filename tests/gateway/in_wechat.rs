//! WeChat's own browser at a page that needs a login: with `official_account.oauth: true` a
//! navigation goes straight to WeChat's web authorization, in both modes (the inline gate and
//! `/verify` for a proxy in front), while XHR still gets 401, and every other browser still
//! gets the login page. The two modes are compared request by request.

use crate::harness::*;
use crate::oauth::{on_loopback, sections, DESKTOP_UA, HTML, WECHAT_UA, WECOM_UA};

/// Where a refusal sends the browser, from outside, comparable across the two modes.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Pass,
    /// 302 to `entry` (`oauth` or `login`), for the page at `target` (path and query).
    Redirect {
        entry: &'static str,
        target: String,
    },
    /// 401 naming `entry` for `target`.
    Unauthenticated {
        entry: &'static str,
        target: String,
    },
}

/// `entry` and the decoded `rd` (made a path) of a login URL, absolute or not.
fn entry_of(url: &str, origin: &str) -> (&'static str, String) {
    let url = url.strip_prefix(origin).unwrap_or(url);
    let entry = if url.starts_with("/.auth/wechat/oauth/start?method=official_account&rd=") {
        "oauth"
    } else if url.starts_with("/.auth/login?rd=") {
        "login"
    } else {
        panic!("not a login entry: {url}")
    };
    let rd = url.split_once("rd=").unwrap().1;
    let rd = percent_encoding::percent_decode_str(rd)
        .decode_utf8()
        .unwrap()
        .to_string();
    let rd = rd.strip_prefix(origin).unwrap_or(&rd).to_string();
    (entry, rd)
}

fn verdict(r: &Raw, origin: &str) -> Verdict {
    match r.status {
        200 => Verdict::Pass,
        302 => {
            let (entry, target) = entry_of(r.header("location").unwrap(), origin);
            Verdict::Redirect { entry, target }
        }
        401 => {
            let login_url = r.json()["login_url"].as_str().unwrap().to_string();
            let (entry, target) = entry_of(&login_url, origin);
            Verdict::Unauthenticated { entry, target }
        }
        other => panic!("{other}: {}", r.body),
    }
}

/// A request's headers as a browser or a script sends them.
fn headers(ua: Option<&str>, kind: &str, cookie: Option<&str>) -> Vec<String> {
    let mut h = Vec::new();
    if let Some(ua) = ua {
        h.push(format!("User-Agent: {ua}"));
    }
    match kind {
        "navigation" => h.push(format!("Accept: {HTML}")),
        "xhr" => {
            h.push(format!("Accept: {HTML}"));
            h.push("X-Requested-With: XMLHttpRequest".into());
        }
        _ => h.push("Accept: application/json".into()),
    }
    if let Some(cookie) = cookie {
        h.push(format!("Cookie: {cookie}"));
    }
    h
}

async fn inline(gw: &Gateway, target: &str, h: &[String]) -> Raw {
    let refs: Vec<&str> = h.iter().map(String::as_str).collect();
    let mut req = format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
        gw.addr.port()
    );
    for line in refs {
        req.push_str(line);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    raw_request(gw.addr, &req).await
}

/// `/verify` as a proxy in front asks it (the client's headers passed along).
async fn verify(gw: &Gateway, target: &str, h: &[String]) -> Raw {
    let mut h = h.to_vec();
    h.push(format!("X-Original-URL: {}{target}", gw.base));
    inline(gw, "/.auth/verify?redirect=true", &h).await
}

/// Every user agent, kind of request and session, on both modes: the same verdict, and the
/// one expected.
async fn both_modes_agree(oauth: bool) {
    let section = if oauth {
        sections("snsapi_base", "required")
    } else {
        "wechat:\n  simulate: true\n".to_string()
    };
    let app = Echo::start("app").await;
    let gw = Gateway::start_with(
        &format!("{section}routes:\n{}", login_routes(app.addr)),
        on_loopback,
    )
    .await;
    let session = gw.cookie(&alice());
    let origin = gw.base.clone();
    let mut compared = 0;
    for ua in [Some(WECHAT_UA), Some(WECOM_UA), Some(DESKTOP_UA), None] {
        for kind in ["navigation", "xhr", "api"] {
            for cookie in [None, Some(session.as_str())] {
                for target in ["/docs?x=1", "/", "/reports/2024?tab=1&q=x"] {
                    let h = headers(ua, kind, cookie);
                    let i = verdict(&inline(&gw, target, &h).await, &origin);
                    let v = verdict(&verify(&gw, target, &h).await, &origin);
                    assert_eq!(i, v, "{ua:?} {kind} session={} {target}", cookie.is_some());
                    let entry = if oauth && ua == Some(WECHAT_UA) {
                        "oauth"
                    } else {
                        "login"
                    };
                    let target = target.to_string();
                    let expected = match (cookie, kind) {
                        (Some(_), _) => Verdict::Pass,
                        (None, "navigation") => Verdict::Redirect { entry, target },
                        (None, _) => Verdict::Unauthenticated { entry, target },
                    };
                    assert_eq!(i, expected, "{ua:?} {kind}");
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 72);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_and_verify_send_wechats_browser_to_its_authorization_alike() {
    both_modes_agree(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_oauth_every_browser_gets_the_login_page_in_both_modes() {
    both_modes_agree(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_opened_inside_wechat_goes_to_its_authorization() {
    let app = Echo::start("app").await;
    let gw = Gateway::start_with(
        &format!(
            "{}routes:\n{}",
            sections("snsapi_base", "required"),
            login_routes(app.addr)
        ),
        on_loopback,
    )
    .await;
    let open = |ua: &'static str, target: &'static str| {
        let gw = &gw;
        async move { inline(gw, target, &headers(Some(ua), "navigation", None)).await }
    };
    // A link to the login page shared in a chat.
    let r = open(WECHAT_UA, "/.auth/login?rd=%2Fdocs").await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("/.auth/wechat/oauth/start?method=official_account&rd=/docs")
    );
    // Not when it shows a refusal, resumes a phone step, or is asked to switch account; not
    // for WeCom or another browser.
    for (ua, target) in [
        (WECHAT_UA, "/.auth/login?rd=%2Fdocs&error=oauth_declined"),
        (
            WECHAT_UA,
            "/.auth/login?rd=%2Fdocs&attempt=AAAAAAAAAAAAAAAAAAAAAA",
        ),
        (WECHAT_UA, "/.auth/login?rd=%2Fdocs&switch=1"),
        (WECOM_UA, "/.auth/login?rd=%2Fdocs"),
        (DESKTOP_UA, "/.auth/login?rd=%2Fdocs"),
    ] {
        let r = open(ua, target).await;
        assert_eq!(r.status, 200, "{ua} {target}");
    }
    // A signed-in visitor still goes on to rd.
    let h = headers(Some(WECHAT_UA), "navigation", Some(&gw.cookie(&alice())));
    let r = inline(&gw, "/.auth/login?rd=%2Fdocs", &h).await;
    assert_eq!((r.status, r.header("location")), (302, Some("/docs")));
}
