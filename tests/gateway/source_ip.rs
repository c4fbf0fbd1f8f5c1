//! `wechat.official_account.verify_source_ip`: the callback accepts pushes only from the
//! addresses the simulator's `getcallbackip` lists, as the gateway determines the sender
//! (`trusted_proxies`); a failed refresh keeps the last list; switched off, nothing changes.
//!
//! Every request here comes from 127.0.0.1, so "WeChat's list" decides whether loopback (or
//! the address a trusted proxy forwards) is WeChat.

use std::sync::Arc;

use scangate::wechat::source_ips::{ListState, RefreshOutcome};
use scangate::wechat::CallbackIps;
use scangate::wechat_sim::{text_xml, PushMode, SimConfig, SimHandle, Simulator, Wire};

use crate::harness::*;

const APP_ID: &str = "wx000000000000ip01";
const SECRET: &str = "sim-secret";
const TOKEN: &str = "simtoken";

async fn sim(ips: &[&str]) -> SimHandle {
    let sim = Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: SECRET.into(),
        token: TOKEN.into(),
        encoding_aes_key: None,
        // Pushes are made by hand here, with the headers each test needs.
        callback_url: "http://127.0.0.1:9/unused".into(),
    })
    .await
    .unwrap();
    sim.set_callback_ips(ips);
    sim
}

/// A gateway whose Official Account is played by `sim`; `extra` adds keys under
/// `official_account` (indented) and at the top level after it.
async fn gateway(sim: &SimHandle, oa_extra: &str, top_extra: &str) -> (Echo, Gateway) {
    login_gateway(&format!(
        r#"wechat:
  api_base: "{api}"
  official_account:
    app_id: "{APP_ID}"
    app_secret: "{SECRET}"
    token: "{TOKEN}"
{oa_extra}
login:
  phone: "off"
{top_extra}"#,
        api = sim.api_base(),
    ))
    .await
}

fn wire() -> Wire {
    Wire::new(TOKEN, APP_ID, None).unwrap()
}

/// WeChat's URL verification (GET), correctly signed, with `headers`.
async fn verify(gw: &Gateway, headers: &[(&str, &str)]) -> (u16, String) {
    let query = wire().verification_query(now(), "n0nce", "echo-4711");
    let mut req = gw.get(&format!("/.auth/wechat/callback?{query}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A correctly signed text message push (POST), with `headers`.
async fn push(gw: &Gateway, headers: &[(&str, &str)]) -> (u16, String) {
    let xml = text_xml("gh_account", "o_sender", now(), "hello", rand_msg_id());
    let sealed = wire().seal(
        &xml,
        PushMode::Plain,
        now(),
        "n1",
        &[7; 16],
        Some("o_sender"),
    );
    let mut req = gw
        .client
        .post(gw.url(&format!("/.auth/wechat/callback?{}", sealed.query)))
        .body(sealed.body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn rand_msg_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn assert_forbidden_source(answer: &(u16, String)) {
    assert_eq!(answer.0, 403, "{}", answer.1);
    let body: serde_json::Value = serde_json::from_str(&answer.1).unwrap();
    assert_eq!(body["error"], "forbidden_source", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

fn source_ips(gw: &Gateway) -> Arc<CallbackIps> {
    gw.app()
        .login
        .as_ref()
        .and_then(|l| l.callback.as_ref())
        .and_then(|c| c.source_ips.clone())
        .expect("verify_source_ip is on")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_from_wechats_addresses_pass_and_others_get_403() {
    let sim = sim(&["101.226.103.0/25"]).await;
    let (_e, gw) = gateway(&sim, "    verify_source_ip: true", "").await;

    // Loopback is not WeChat: refused before anything is parsed, GET and POST alike.
    assert_forbidden_source(&verify(&gw, &[]).await);
    assert_forbidden_source(&push(&gw, &[]).await);
    // Without trusted_proxies a forwarded address is a claim, not a fact.
    assert_forbidden_source(&verify(&gw, &[("x-forwarded-for", "101.226.103.9")]).await);
    let text = gw.metrics().await;
    for line in [
        r#"scangate_wechat_callbacks_total{kind="verify",outcome="bad_source"} 2"#,
        r#"scangate_wechat_callbacks_total{kind="unknown",outcome="bad_source"} 1"#,
        r#"scangate_wechat_callback_ips_state{state="fresh"} 1"#,
        "scangate_wechat_callback_ips 1",
        r#"scangate_wechat_callback_ips_refreshes_total{outcome="fetched"} 1"#,
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }

    // WeChat now lists loopback: the same pushes pass once the list is refreshed.
    sim.set_callback_ips(&["101.226.103.0/25", "127.0.0.1"]);
    let report = source_ips(&gw).refresh_now().await;
    assert_eq!(report.outcome, RefreshOutcome::Fetched);
    assert_eq!(verify(&gw, &[]).await, (200, "echo-4711".to_string()));
    assert_eq!(push(&gw, &[]).await, (200, "success".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_trusted_proxies_the_forwarded_address_is_the_one_checked() {
    let sim = sim(&["101.226.103.0/25", "2001:db8::/32"]).await;
    let (_e, gw) = gateway(
        &sim,
        "    verify_source_ip: true",
        "trusted_proxies: [\"127.0.0.1/32\"]",
    )
    .await;
    for wechat in ["101.226.103.9", "2001:db8::7", "6.6.6.6, 101.226.103.100"] {
        assert_eq!(
            verify(&gw, &[("x-forwarded-for", wechat)]).await,
            (200, "echo-4711".to_string()),
            "{wechat}"
        );
        assert_eq!(
            push(&gw, &[("x-forwarded-for", wechat)]).await.0,
            200,
            "{wechat}"
        );
    }
    // The rightmost untrusted hop counts: a forged WeChat address in front does not help.
    for other in ["8.8.8.8", "101.226.103.9, 8.8.8.8", "101.226.103.200"] {
        assert_forbidden_source(&verify(&gw, &[("x-forwarded-for", other)]).await);
    }
    // No forwarded address: the proxy itself (loopback) is the sender, and it is not WeChat.
    assert_forbidden_source(&verify(&gw, &[]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_keeps_the_last_list_and_the_metrics_say_so() {
    let sim = sim(&["127.0.0.1"]).await;
    // Behind a trusted proxy on loopback, so that a sender WeChat does not list can be played.
    let (_e, gw) = gateway(
        &sim,
        "    verify_source_ip: true",
        "trusted_proxies: [\"127.0.0.1/32\"]",
    )
    .await;
    let stranger = [("x-forwarded-for", "8.8.8.8")];
    assert_eq!(verify(&gw, &[]).await.0, 200);
    assert_forbidden_source(&verify(&gw, &stranger).await);

    sim.set_callback_ips_failing(true);
    let report = source_ips(&gw).refresh_now().await;
    assert!(
        matches!(&report.outcome, RefreshOutcome::Failed(e) if e.errcode() == Some(45009)),
        "{:?}",
        report.outcome
    );
    assert_eq!(report.state, ListState::Stale);
    // The last list still decides, both ways: no failing open once a list is known.
    assert_eq!(verify(&gw, &[]).await.0, 200);
    assert_eq!(push(&gw, &[]).await.0, 200);
    assert_forbidden_source(&verify(&gw, &stranger).await);
    let text = gw.metrics().await;
    for line in [
        r#"scangate_wechat_callback_ips_state{state="stale"} 1"#,
        r#"scangate_wechat_callback_ips_state{state="fresh"} 0"#,
        "scangate_wechat_callback_ips 1",
        r#"scangate_wechat_callback_ips_refreshes_total{outcome="failed"} 1"#,
        r#"scangate_wechat_callback_ips_refreshes_total{outcome="fetched"} 1"#,
        r#"scangate_wechat_api_requests_total{api="getcallbackip",errcode="45009",outcome="api_error"} 1"#,
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    assert!(
        !text.contains("scangate_wechat_callback_ips_fetched_timestamp_seconds 0"),
        "the kept list has its fetch time:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_wechat_down_at_start_the_gateway_starts_and_fails_open_until_a_list_arrives() {
    let sim = sim(&["101.226.103.0/25"]).await;
    sim.set_callback_ips_failing(true);
    let (_e, gw) = gateway(&sim, "    verify_source_ip: true", "").await;
    // No list: the signature check alone decides.
    assert_eq!(verify(&gw, &[]).await.0, 200);
    let text = gw.metrics().await;
    assert!(
        text.contains(r#"scangate_wechat_callback_ips_state{state="none"} 1"#),
        "{text}"
    );
    assert!(text.contains("scangate_wechat_callback_ips_fetched_timestamp_seconds 0"));

    sim.set_callback_ips_failing(false);
    assert_eq!(source_ips(&gw).refresh_now().await.state, ListState::Fresh);
    assert_forbidden_source(&verify(&gw, &[]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switched_off_every_sender_is_as_before_and_wechat_is_not_asked() {
    let sim = sim(&["101.226.103.0/25"]).await;
    let (_e, gw) = gateway(&sim, "", "").await;
    assert_eq!(verify(&gw, &[]).await, (200, "echo-4711".to_string()));
    assert_eq!(push(&gw, &[]).await, (200, "success".to_string()));
    assert_eq!(sim.counters().callback_ip_calls, 0);
    let text = gw.metrics().await;
    assert!(!text.contains("scangate_wechat_callback_ips"), "{text}");
    assert!(!text.contains("bad_source"), "{text}");
    assert!(gw
        .app()
        .login
        .as_ref()
        .and_then(|l| l.callback.as_ref())
        .is_some_and(|c| c.source_ips.is_none()));
}
