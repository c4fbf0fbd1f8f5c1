//! Which scans are logins, and what the person who scanned is told.
//!
//! Only codes the gateway made (their scene is one of its attempt ids) are logins. The
//! account's own channel and promotion codes — which it had before scangate took over its
//! callback — are pushes like any other: forwarded to its backend, greeted on a follow. And
//! the passive reply to a login scan says what happened, never "登录成功" when nothing was
//! signed in.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use scangate::demo::Demo;
use scangate::wechat_sim::{event_xml, SimHandle, SimUser};

use crate::browser::Browser;
use crate::harness::*;
use crate::owning::{backend, gateway, rand_id, sim};

const GREETING: &str = "欢迎关注";

/// The account's own parametric codes, as WeChat pushes their scans: (event, EventKey).
const ACCOUNT_SCENES: [(&str, &str); 6] = [
    ("subscribe", "qrscene_promo2024"),
    ("SCAN", "promo2024"),
    ("SCAN", "123"),
    ("subscribe", "qrscene_123"),
    // A code made without its `scene` wrapper (wechat-protocol.md pitfall 10).
    ("subscribe", "qrscene_0"),
    // Near our format, but not it: 21 characters.
    ("SCAN", "AAAAAAAAAAAAAAAAAAAAA"),
];

fn push(s: &SimHandle, openid: &str, event: &str, key: &str) -> String {
    let ticket = format!("gQ{}", rand_id());
    event_xml(
        s.original_id(),
        openid,
        now(),
        event,
        Some(key),
        Some(&ticket),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accounts_own_codes_reach_its_backend_and_follows_are_greeted() {
    let (addr, received) = backend(Duration::ZERO, Arc::new(Mutex::new(Vec::new()))).await;
    let (_app, gw) = gateway(
        true,
        &format!("    forward_url: \"http://{addr}/wx\"\n    replies:\n      subscribe: \"{GREETING}\"\n"),
    )
    .await;
    let s = sim(&gw);
    for (i, (event, key)) in ACCOUNT_SCENES.iter().enumerate() {
        let openid = format!("o_channel_{i}");
        let outcome = s.push_raw(&push(s, &openid, event, key)).await.unwrap();
        assert_eq!(outcome.status, 200, "{event} {key}");
        // The backend answered nothing of its own: a follow gets our greeting, a scan of a
        // follower gets `success`.
        let expected = (*event == "subscribe").then_some(GREETING);
        assert_eq!(
            outcome.reply.text(),
            expected,
            "{event} {key}: {:?}",
            outcome.reply
        );
        let seen = received.lock().unwrap().len();
        assert_eq!(seen, i + 1, "{event} {key} was forwarded");
    }
    // Forwarded verbatim: the backend can decrypt them with the same key.
    let bodies = received.lock().unwrap().clone();
    assert!(bodies
        .iter()
        .all(|push| push.target.starts_with("/wx?") && push.body.starts_with(b"<xml>")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_backend_a_follow_through_the_accounts_code_is_greeted() {
    let (_app, gw) = gateway(
        false,
        &format!("    replies:\n      subscribe: \"{GREETING}\"\n"),
    )
    .await;
    let s = sim(&gw);
    for (event, key) in ACCOUNT_SCENES {
        let outcome = s
            .push_raw(&push(s, "o_promo_fan", event, key))
            .await
            .unwrap();
        let expected = (event == "subscribe").then_some(GREETING);
        assert_eq!(outcome.reply.text(), expected, "{event} {key}");
    }
}

/// A person scanning with WeChat who does not know the gateway yet.
fn newcomer(tag: &str) -> SimUser {
    SimUser {
        openid: format!("o_scenes_{tag}_{}", rand_id()),
        unionid: None,
        follows: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scan_is_told_what_it_did() {
    let (_e, gw) = login_gateway("").await;
    let s = sim(&gw);
    let browser = Browser::new(&gw);

    // A newcomer: the computer asks for their phone next.
    let id = browser.start("/").await;
    let ticket = browser.wechat_ticket(&id).await;
    let first = newcomer("first");
    let reply = s.scan(&ticket, &first).await.unwrap().reply;
    assert_eq!(
        reply.text(),
        Some("扫码成功，请在电脑上绑定手机号以完成登录")
    );
    // Someone else scanning the same code: taken, and nothing changes for the first.
    let reply = s.scan(&ticket, &newcomer("second")).await.unwrap().reply;
    assert_eq!(
        reply.text(),
        Some("该二维码已被使用，请在电脑上刷新后重新扫码")
    );
    assert_eq!(browser.poll(&id, "", 0).await.body["status"], "need_phone");

    // A returning user is signed in; a second person scanning that code is told it is used.
    let id = browser.start("/").await;
    let ticket = browser.wechat_ticket(&id).await;
    let demo = Demo::of(gw.app()).expect("the demo runs");
    let reply = s.scan(&ticket, &demo.returning_user()).await.unwrap().reply;
    assert_eq!(reply.text(), Some("登录成功"));
    let reply = s.scan(&ticket, &newcomer("late")).await.unwrap().reply;
    assert_eq!(
        reply.text(),
        Some("该二维码已被使用，请在电脑上刷新后重新扫码")
    );

    // A code of ours whose attempt is gone (expired and dropped): scan a fresh one.
    let gone = push(s, "o_scenes_gone", "SCAN", "AAAAAAAAAAAAAAAAAAAAAA");
    let reply = s.push_raw(&gone).await.unwrap().reply;
    assert_eq!(reply.text(), Some("二维码已过期，请在电脑上刷新后重新扫码"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_replies_are_configurable_and_empty_means_none() {
    // `login.phone: off` here: a newcomer is signed in at once.
    let (_app, gw) = gateway(
        false,
        "    scan_replies:\n      confirmed: \"Signed in\"\n      used: \"\"\n",
    )
    .await;
    let s = sim(&gw);
    let browser = Browser::new(&gw);
    let id = browser.start("/").await;
    let ticket = browser.wechat_ticket(&id).await;
    let outcome = s.scan(&ticket, &newcomer("custom")).await.unwrap();
    assert_eq!(outcome.reply.text(), Some("Signed in"));
    let outcome = s.scan(&ticket, &newcomer("other")).await.unwrap();
    assert_eq!(outcome.reply.text(), None);
    assert_eq!(outcome.body, "success");
}
