//! The refresh against the simulator's `getcallbackip` over real HTTP, instances sharing one
//! [`MemorySharedIps`].

use std::net::IpAddr;
use std::sync::Mutex;

use super::*;
use crate::wechat::token::MemoryTokenCache;
use crate::wechat::{ApiConfig, BusyRetry, TokenCache};
use crate::wechat_sim::{SimConfig, SimHandle, Simulator};

const APP_ID: &str = "wx_sim_ips_1";
const SECRET: &str = "ips-app-secret";

async fn sim() -> SimHandle {
    Simulator::start(SimConfig {
        app_id: APP_ID.into(),
        app_secret: SECRET.into(),
        token: "cbtoken".into(),
        encoding_aes_key: None,
        callback_url: "http://127.0.0.1:9/unused".into(),
    })
    .await
    .unwrap()
}

fn client(sim: &SimHandle, tokens: &Arc<dyn TokenCache>) -> Arc<WechatClient> {
    let config = ApiConfig {
        api_base: sim.api_base(),
        app_id: APP_ID.into(),
        app_secret: SECRET.into(),
        timeout: Duration::from_secs(5),
    };
    Arc::new(
        WechatClient::with_token_cache(config, tokens.clone())
            .unwrap()
            .with_busy_retry(BusyRetry {
                retries: 0,
                first_delay: Duration::ZERO,
            }),
    )
}

/// Short enough for tests, in the same proportions as the default.
fn timing() -> RefreshTiming {
    RefreshTiming {
        period: Duration::from_millis(500),
        jitter: Duration::from_millis(20),
        retry: Duration::from_millis(250),
        follow: Duration::from_millis(10),
    }
}

/// Instances of one deployment: one token cache and one shared list.
struct Fleet {
    tokens: Arc<dyn TokenCache>,
    shared: Arc<dyn SharedCallbackIps>,
}

impl Fleet {
    fn new() -> Fleet {
        Fleet {
            tokens: Arc::new(MemoryTokenCache::default()),
            shared: Arc::new(MemorySharedIps::default()),
        }
    }

    fn instance(&self, sim: &SimHandle, timing: RefreshTiming) -> CallbackIps {
        CallbackIps::new(client(sim, &self.tokens), self.shared.clone(), timing)
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn the_first_step_fetches_the_list_and_enforces_it() {
    let sim = sim().await;
    sim.set_callback_ips(&["101.226.103.0/25", "2001:db8::1"]);
    let ips = Fleet::new().instance(&sim, timing());
    assert_eq!(ips.check(ip("8.8.8.8")), SourceVerdict::NoList);
    let report = ips.step().await;
    assert_eq!(report.outcome, RefreshOutcome::Fetched);
    assert_eq!(report.state, ListState::Fresh);
    assert_eq!(report.entries, 2);
    assert!(report.fetched_at.is_some());
    assert_eq!(ips.check(ip("101.226.103.5")), SourceVerdict::Allowed);
    assert_eq!(ips.check(ip("2001:db8::1")), SourceVerdict::Allowed);
    assert_eq!(ips.check(ip("101.226.103.200")), SourceVerdict::Denied);
    assert_eq!(sim.counters().callback_ip_calls, 1);
}

#[tokio::test]
async fn without_any_list_callbacks_pass_and_the_state_says_none() {
    let sim = sim().await;
    sim.set_callback_ips_failing(true);
    let ips = Fleet::new().instance(&sim, timing());
    let report = ips.step().await;
    assert!(
        matches!(&report.outcome, RefreshOutcome::Failed(e) if e.errcode() == Some(45009)),
        "{:?}",
        report.outcome
    );
    assert_eq!(report.state, ListState::None);
    assert_eq!(ips.check(ip("8.8.8.8")), SourceVerdict::NoList);
    // The next try waits for `retry`, not for the period.
    assert_eq!(*ips.next_wait.lock().unwrap(), timing().retry);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_list_and_reports_it_stale() {
    let sim = sim().await;
    sim.set_callback_ips(&["203.0.113.0/24"]);
    let ips = Fleet::new().instance(&sim, timing());
    let first = ips.step().await;
    assert_eq!(first.outcome, RefreshOutcome::Fetched);

    sim.set_callback_ips_failing(true);
    let failed = ips.refresh_now().await;
    assert!(matches!(failed.outcome, RefreshOutcome::Failed(_)));
    assert_eq!(failed.state, ListState::Stale);
    assert_eq!(failed.entries, 1);
    assert_eq!(failed.fetched_at, first.fetched_at, "the old list is kept");
    assert_eq!(ips.check(ip("203.0.113.9")), SourceVerdict::Allowed);
    assert_eq!(ips.check(ip("198.51.100.1")), SourceVerdict::Denied);

    // WeChat is back with a new list: fresh again.
    sim.set_callback_ips_failing(false);
    sim.set_callback_ips(&["198.51.100.0/24"]);
    let back = ips.refresh_now().await;
    assert_eq!(back.outcome, RefreshOutcome::Fetched);
    assert_eq!(back.state, ListState::Fresh);
    assert_eq!(ips.check(ip("198.51.100.1")), SourceVerdict::Allowed);
    assert_eq!(ips.check(ip("203.0.113.9")), SourceVerdict::Denied);
}

#[tokio::test]
async fn an_answer_without_a_usable_address_is_a_failure_not_an_empty_list() {
    let sim = sim().await;
    sim.set_callback_ips(&["203.0.113.0/24"]);
    let ips = Fleet::new().instance(&sim, timing());
    ips.step().await;
    for answer in [&["not-an-address"][..], &[][..]] {
        sim.set_callback_ips(answer);
        let report = ips.refresh_now().await;
        assert!(
            matches!(&report.outcome, RefreshOutcome::Failed(Error::Decode(_))),
            "{answer:?}: {:?}",
            report.outcome
        );
        // An empty list would refuse every callback; the last good one stays instead.
        assert_eq!(ips.check(ip("203.0.113.9")), SourceVerdict::Allowed);
    }
}

#[tokio::test]
async fn a_fresh_list_is_not_fetched_again_until_the_period_is_over() {
    let sim = sim().await;
    let ips = Fleet::new().instance(&sim, timing());
    assert_eq!(ips.step().await.outcome, RefreshOutcome::Fetched);
    assert_eq!(ips.step().await.outcome, RefreshOutcome::Unchanged);
    let wait = *ips.next_wait.lock().unwrap();
    assert!(
        wait <= timing().period + timing().jitter,
        "waits for the rest of the period: {wait:?}"
    );
    assert_eq!(sim.counters().callback_ip_calls, 1);
    tokio::time::sleep(timing().period).await;
    assert_eq!(ips.step().await.outcome, RefreshOutcome::Fetched);
    assert_eq!(sim.counters().callback_ip_calls, 2);
}

#[tokio::test]
async fn instances_sharing_the_list_ask_wechat_once_per_period() {
    let sim = sim().await;
    sim.set_callback_ips(&["101.226.103.0/25"]);
    let fleet = Fleet::new();
    let (a, b) = (
        fleet.instance(&sim, timing()),
        fleet.instance(&sim, timing()),
    );
    assert_eq!(a.step().await.outcome, RefreshOutcome::Fetched);
    let shared = b.step().await;
    assert_eq!(shared.outcome, RefreshOutcome::Shared);
    assert_eq!(shared.state, ListState::Fresh);
    assert_eq!(b.check(ip("101.226.103.5")), SourceVerdict::Allowed);
    assert_eq!(
        b.list().unwrap().fetched_at(),
        a.list().unwrap().fetched_at()
    );
    assert_eq!(sim.counters().callback_ip_calls, 1);

    // Due again: both step at once, one asks WeChat, the other follows it.
    tokio::time::sleep(timing().period).await;
    sim.set_latency(Duration::from_millis(100));
    let (ra, rb) = tokio::join!(a.step(), b.step());
    let mut outcomes = [ra.outcome, rb.outcome];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        [RefreshOutcome::Fetched, RefreshOutcome::Waiting],
        "exactly one fetched"
    );
    assert_eq!(sim.counters().callback_ip_calls, 2);
}

#[tokio::test]
async fn while_wechat_fails_the_fleet_asks_once_per_retry_and_keeps_its_lists() {
    let sim = sim().await;
    let fleet = Fleet::new();
    let (a, b) = (
        fleet.instance(&sim, timing()),
        fleet.instance(&sim, timing()),
    );
    a.step().await;
    b.step().await;
    tokio::time::sleep(timing().period).await;
    sim.set_callback_ips_failing(true);
    assert!(matches!(a.step().await.outcome, RefreshOutcome::Failed(_)));
    // A's claim holds for `retry`: B does not ask WeChat too.
    assert_eq!(b.step().await.outcome, RefreshOutcome::Waiting);
    assert_eq!(sim.counters().callback_ip_calls, 2);
    for ips in [&a, &b] {
        assert_eq!(ips.check(ip("127.0.0.1")), SourceVerdict::Allowed);
    }
    assert_eq!(a.state(), ListState::Stale);
}

#[tokio::test]
async fn the_observer_hears_every_step() {
    let sim = sim().await;
    /// What the observer heard: the counted outcome and the state, step by step.
    type Heard = Vec<(Option<&'static str>, ListState)>;
    let heard: Arc<Mutex<Heard>> = Arc::default();
    let sink = heard.clone();
    let ips = Fleet::new()
        .instance(&sim, timing())
        .with_observer(Arc::new(move |r: &RefreshReport| {
            sink.lock()
                .unwrap()
                .push((r.outcome.counted_label(), r.state));
        }));
    ips.step().await;
    ips.step().await;
    sim.set_callback_ips_failing(true);
    ips.refresh_now().await;
    assert_eq!(
        *heard.lock().unwrap(),
        [
            (Some("fetched"), ListState::Fresh),
            (None, ListState::Fresh),
            (Some("failed"), ListState::Stale),
        ]
    );
}
