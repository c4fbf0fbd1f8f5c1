//! WeChat's quotas at the start of an attempt: a spent `qrcode/create` (45009 for the day,
//! 45011 for the minute, or below `login.quota_reserve`) pauses the Official Account, and its
//! attempts become Mini Program ones, or are refused with the time logins come back.

use super::*;
use crate::login::quota::{next_beijing_midnight, next_minute};
use crate::wechat_sim::SimApi;

async fn start_oa(f: &Fixture, now: u64) -> Result<Started> {
    f.login
        .start(LoginMethod::OfficialAccount, "/".into(), TEST_IP, now)
        .await
}

fn metric(f: &Fixture, line_start: &str) -> Option<String> {
    let mut text = Vec::new();
    prometheus::Encoder::encode(
        &prometheus::TextEncoder::new(),
        &f.registry.gather(),
        &mut text,
    )
    .unwrap();
    String::from_utf8(text)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(line_start).map(str::to_owned))
}

#[tokio::test]
async fn the_daily_quota_fails_over_to_the_mini_program_until_midnight_in_beijing() {
    let f = fixture_with(Options {
        mini_program: true,
        ..Options::default()
    })
    .await;
    let now = unix_now();
    f.sim.fail_next(SimApi::QrCodeCreate, 45009);
    let started = start_oa(&f, now).await.unwrap();
    assert_eq!(started.method, LoginMethod::MiniProgram);
    assert_eq!(
        f.attempt(&started.id).await.method,
        LoginMethod::MiniProgram
    );
    assert_eq!(f.mp.requests().len(), 1, "the Mini Program made the code");
    // Every instance stops asking WeChat until midnight Beijing time.
    let creates = f.sim.counters().qrcode_creates;
    let later = next_beijing_midnight(now) - 1;
    assert_eq!(
        start_oa(&f, later).await.unwrap().method,
        LoginMethod::MiniProgram
    );
    assert_eq!(
        f.sim.counters().qrcode_creates,
        creates,
        "WeChat not asked while paused"
    );
    let next_day = start_oa(&f, next_beijing_midnight(now)).await.unwrap();
    assert_eq!(next_day.method, LoginMethod::OfficialAccount);
    assert_eq!(
        metric(
            &f,
            "scangate_login_failovers_total{from=\"official_account\",reason=\"daily_quota\",to=\"mini_program\"} "
        )
        .as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn the_minute_limit_pauses_for_the_rest_of_the_minute_only() {
    let f = fixture().await;
    // Mid-minute, on the clock the service is given.
    let now = unix_now() / 60 * 60 + 20;
    f.sim.fail_next(SimApi::QrCodeCreate, 45011);
    let Err(LoginError::Paused {
        until,
        retry_after_seconds,
    }) = start_oa(&f, now).await
    else {
        panic!("no Mini Program: the start is refused");
    };
    assert_eq!(until, next_minute(now));
    assert_eq!(retry_after_seconds, 40);
    let creates = f.sim.counters().qrcode_creates;
    let err = start_oa(&f, now + 39).await.unwrap_err();
    assert_eq!(err.code(), "login_paused");
    assert_eq!(
        f.sim.counters().qrcode_creates,
        creates,
        "WeChat not asked while paused"
    );
    // The next minute: Official Account codes again.
    let again = start_oa(&f, next_minute(now)).await.unwrap();
    assert_eq!(again.method, LoginMethod::OfficialAccount);
    assert_eq!(f.sim.counters().qrcode_creates, creates + 1);
    assert_eq!(
        metric(
            &f,
            "scangate_login_failovers_total{from=\"official_account\",reason=\"minute_limit\",to=\"none\"} "
        )
        .as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn below_the_reserve_the_official_account_rests_before_wechat_refuses() {
    let f = fixture_with(Options {
        mini_program: true,
        ..Options::default()
    })
    .await;
    let now = unix_now();
    // 10,000 a day (a test account), 1 % kept back: 100 calls.
    f.sim.set_quota("/cgi-bin/qrcode/create", 10_000, 9_899);
    f.login.refresh_quotas(now).await;
    assert_eq!(
        metric(
            &f,
            "scangate_wechat_quota_remaining{api=\"qrcode_create\"} "
        )
        .as_deref(),
        Some("101")
    );
    assert_eq!(
        start_oa(&f, now).await.unwrap().method,
        LoginMethod::OfficialAccount
    );
    // Counted locally: 100 left, not below the reserve yet.
    assert_eq!(
        metric(
            &f,
            "scangate_wechat_quota_remaining{api=\"qrcode_create\"} "
        )
        .as_deref(),
        Some("100")
    );
    assert_eq!(
        start_oa(&f, now).await.unwrap().method,
        LoginMethod::OfficialAccount
    );
    let creates = f.sim.counters().qrcode_creates;
    assert_eq!(
        start_oa(&f, now).await.unwrap().method,
        LoginMethod::MiniProgram
    );
    assert_eq!(f.sim.counters().qrcode_creates, creates);
    assert_eq!(
        metric(
            &f,
            "scangate_login_failovers_total{from=\"official_account\",reason=\"reserve\",to=\"mini_program\"} "
        )
        .as_deref(),
        Some("1")
    );
}

#[tokio::test]
async fn other_refusals_stay_what_they_are() {
    let f = fixture_with(Options {
        mini_program: true,
        ..Options::default()
    })
    .await;
    f.sim.fail_next(SimApi::QrCodeCreate, 44002);
    let err = start_oa(&f, unix_now()).await.unwrap_err();
    assert_eq!(err.code(), "wechat_unavailable");
    assert!(
        f.mp.requests().is_empty(),
        "no failover for a refusal that is not a quota"
    );
}
