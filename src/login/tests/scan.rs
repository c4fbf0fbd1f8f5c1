//! Scans that are not what they seem, races, browser binding and tickets.

use tokio::task::JoinSet;

use super::*;
use crate::wechat_sim::SimApi;

fn scan_of(s: &Started, openid: &str, ticket: &str) -> Scan {
    Scan {
        openid: OpenId::new(openid),
        scene: SceneId::of(&s.id),
        ticket: Some(ticket.to_string()),
        new_follower: false,
    }
}

#[tokio::test]
async fn a_foreign_ticket_or_another_scene_changes_nothing_and_is_told_nothing() {
    let f = fixture().await;
    let s = f.start().await;
    let ticket = f.qr_ticket(&s.id).await;
    let not_ours = Scan {
        scene: SceneId::new("promo_2024"),
        ..scan_of(&s, "o-x", &ticket)
    };
    assert!(!not_ours.is_login(), "the account's own scene");
    let foreign_ticket = scan_of(&s, "o-x", "gQH47joAAAAAAAAAASxodHRwOi8v");
    let no_ticket = Scan {
        ticket: None,
        ..scan_of(&s, "o-x", &ticket)
    };
    for scan in [not_ours, foreign_ticket, no_ticket] {
        let outcome = f.login.on_scan(scan, unix_now()).await.unwrap();
        assert_eq!(
            outcome,
            ScanOutcome {
                status: None,
                reply: ScanReply::Nothing,
            }
        );
    }
    assert_eq!(f.status(&s).await.status, Status::Waiting);
    assert_eq!(f.funnel("scanned"), 0);
}

#[tokio::test]
async fn a_scene_of_our_format_that_is_gone_reads_as_expired() {
    let f = fixture().await;
    let s = f.start().await;
    let ticket = f.qr_ticket(&s.id).await;
    let gone = Scan {
        scene: SceneId::new("AAAAAAAAAAAAAAAAAAAAAA"),
        ..scan_of(&s, "o-x", &ticket)
    };
    assert!(gone.is_login(), "our format");
    let outcome = f.login.on_scan(gone, unix_now()).await.unwrap();
    assert_eq!(
        outcome,
        ScanOutcome {
            status: None,
            reply: ScanReply::Expired,
        }
    );
    assert_eq!(f.funnel("scanned"), 0);
}

#[test]
fn only_scenes_of_our_format_are_logins() {
    let scan = |scene: &str| Scan {
        openid: OpenId::new("o"),
        scene: SceneId::new(scene),
        ticket: None,
        new_follower: false,
    };
    let ours = crate::identity::AttemptId::random();
    assert!(scan(ours.as_str()).is_login());
    // The account's own channel and promotion codes: QR_STR_SCENE / QR_LIMIT_STR_SCENE
    // strings, QR_SCENE numbers, the `qrscene_0` of a code made without a scene, and
    // near-misses of our format.
    for theirs in [
        "promo2024",
        "123",
        "0",
        "",
        "AAAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAAA/",
        "AAAAAAAAAAAAAAAAAAAAAB",
        "login_AAAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert!(!scan(theirs).is_login(), "{theirs:?}");
    }
}

#[tokio::test]
async fn the_reply_says_what_the_scan_did() {
    let f = fixture().await;
    f.sim.add_user(&SimUser {
        follows: true,
        ..new_user("o-first")
    });
    let s = f.start().await;
    let ticket = f.qr_ticket(&s.id).await;
    let reply = |openid: &'static str, now: u64| {
        let scan = scan_of(&s, openid, &ticket);
        let login = f.login.clone();
        async move { login.on_scan(scan, now).await.unwrap().reply }
    };
    // A new user: the computer asks for a phone now; the same person again: the same.
    assert_eq!(reply("o-first", unix_now()).await, ScanReply::NeedPhone);
    assert_eq!(reply("o-first", unix_now()).await, ScanReply::NeedPhone);
    // Someone else scanning the same code: it is taken.
    assert_eq!(reply("o-second", unix_now()).await, ScanReply::Used);
    // After the phone step's deadline: expired, whoever scans.
    let late = unix_now() + 3600;
    assert_eq!(reply("o-first", late).await, ScanReply::Expired);
    assert_eq!(reply("o-second", late).await, ScanReply::Expired);
}

#[tokio::test]
async fn a_confirmed_code_tells_its_owner_confirmed_and_others_used() {
    let f = fixture_with(Options {
        phone: PhonePolicy::Off,
        ..Options::default()
    })
    .await;
    let s = f.start().await;
    let ticket = f.qr_ticket(&s.id).await;
    let first = f
        .login
        .on_scan(scan_of(&s, "o-a", &ticket), unix_now())
        .await;
    assert_eq!(first.unwrap().reply, ScanReply::Confirmed);
    let again = f
        .login
        .on_scan(scan_of(&s, "o-a", &ticket), unix_now())
        .await;
    assert_eq!(again.unwrap().reply, ScanReply::Confirmed);
    let other = f
        .login
        .on_scan(scan_of(&s, "o-b", &ticket), unix_now())
        .await;
    assert_eq!(
        other.unwrap(),
        ScanOutcome {
            status: Some(Status::Confirmed),
            reply: ScanReply::Used,
        }
    );
    // Still confirmed after the code's own deadline: it was used, not let expire.
    let late = unix_now() + 3600;
    let later = f.login.on_scan(scan_of(&s, "o-b", &ticket), late).await;
    assert_eq!(later.unwrap().reply, ScanReply::Used);
}

#[tokio::test]
async fn a_disabled_user_is_told_so() {
    let f = fixture_with(Options {
        phone: PhonePolicy::Off,
        ..Options::default()
    })
    .await;
    let user = f
        .users
        .register(APP_ID, &OpenId::new("o-gone"), None, None, unix_now())
        .await
        .unwrap();
    f.users.set_disabled(&user.id, true).await.unwrap();
    let s = f.start().await;
    let ticket = f.qr_ticket(&s.id).await;
    let outcome = f
        .login
        .on_scan(scan_of(&s, "o-gone", &ticket), unix_now())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ScanOutcome {
            status: Some(Status::Cancelled),
            reply: ScanReply::Blocked,
        }
    );
}

#[tokio::test]
async fn concurrent_scans_of_one_attempt_apply_once() {
    let f = fixture_with(Options {
        phone: PhonePolicy::Off,
        ..Options::default()
    })
    .await;
    f.sim.add_user(&SimUser {
        follows: true,
        ..new_user("o-race")
    });
    let s = f.start().await;
    let ticket = f.qr_ticket(&s.id).await;
    let mut scans = JoinSet::new();
    for _ in 0..8 {
        let login = f.login.clone();
        let scan = scan_of(&s, "o-race", &ticket);
        scans.spawn(async move { login.on_scan(scan, unix_now()).await });
    }
    while let Some(outcome) = scans.join_next().await {
        let outcome = outcome.unwrap().unwrap();
        assert_eq!(
            outcome,
            ScanOutcome {
                status: Some(Status::Confirmed),
                reply: ScanReply::Confirmed,
            }
        );
    }
    assert_eq!(f.funnel("confirmed"), 1, "one transition applied");
    let attempt = f.attempt(&s.id).await;
    assert_eq!(attempt.version, 2, "waiting -> confirmed, nothing more");
    // The ticket the browser sees is the one that works; the losers' were withdrawn.
    let view = f.status(&s).await;
    f.login
        .exchange(
            view.ticket.as_deref().unwrap(),
            &s.browser_secret,
            unix_now(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_second_scan_of_a_confirmed_attempt_changes_nothing() {
    let f = fixture_with(Options {
        phone: PhonePolicy::Off,
        ..Options::default()
    })
    .await;
    let s = f.start().await;
    f.scan(&s, &new_user("o-first")).await;
    let before = f.attempt(&s.id).await;
    let intruder = SimUser {
        follows: true,
        ..new_user("o-second")
    };
    assert_eq!(f.scan(&s, &intruder).await.status, Some(Status::Confirmed));
    assert_eq!(f.attempt(&s.id).await, before);
    assert!(f
        .users
        .find_by_openid(APP_ID, &OpenId::new("o-second"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn wechat_retries_of_a_push_are_seen_before() {
    let f = fixture().await;
    assert!(!f.login.seen_before("o1:1700000000:SCAN:abc").await.unwrap());
    assert!(f.login.seen_before("o1:1700000000:SCAN:abc").await.unwrap());
    assert!(!f.login.seen_before("o1:1700000001:SCAN:abc").await.unwrap());
    // A push whose handling failed is forgotten, so WeChat's retry is handled.
    f.login.forget_seen("o1:1700000000:SCAN:abc").await.unwrap();
    assert!(!f.login.seen_before("o1:1700000000:SCAN:abc").await.unwrap());
}

#[tokio::test]
async fn a_user_info_failure_still_logs_in_without_unionid() {
    let f = fixture().await;
    let s = f.start().await;
    // 45009: daily quota reached; not retried.
    f.sim.fail_next(SimApi::UserInfo, 45009);
    assert_eq!(
        f.scan(&s, &new_user("o-quota")).await.status,
        Some(Status::NeedPhone)
    );
    assert_eq!(f.sim.counters().user_info_calls, 1);
    let ticket = f.bind(&s, "13800138040", unix_now()).await;
    let identity = f
        .login
        .exchange(&ticket, &s.browser_secret, unix_now())
        .await
        .unwrap()
        .identity;
    assert_eq!(identity.unionid, None);
    assert_eq!(identity.openid, Some(OpenId::new("o-quota")));
}

#[tokio::test]
async fn another_browser_can_neither_poll_nor_bind_nor_exchange() {
    let f = fixture().await;
    let s = f.start().await;
    let thief = f.start().await.browser_secret;
    let now = unix_now();
    let poll = f.login.poll(&s.id, &thief, None, Duration::ZERO, now).await;
    assert!(matches!(poll, Err(LoginError::NotFound)), "{poll:?}");
    let unknown = f
        .login
        .poll(
            &AttemptId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap(),
            &s.browser_secret,
            None,
            Duration::ZERO,
            now,
        )
        .await;
    assert!(
        matches!(unknown, Err(LoginError::NotFound)),
        "same answer as an unknown id"
    );

    f.scan(&s, &new_user("o-victim")).await;
    let code = f
        .login
        .send_code(&s.id, &thief, "13800138041", TEST_IP, now)
        .await;
    assert!(matches!(code, Err(LoginError::NotFound)), "{code:?}");
    f.login
        .send_code(&s.id, &s.browser_secret, "13800138041", TEST_IP, now)
        .await
        .unwrap();
    let right = f.last_code();
    let bind = f
        .login
        .bind_phone(&s.id, &thief, "13800138041", &right, now)
        .await;
    assert!(matches!(bind, Err(LoginError::NotFound)), "{bind:?}");
    let skip = f.login.skip_phone(&s.id, &thief, now).await;
    assert!(matches!(skip, Err(LoginError::NotFound)), "{skip:?}");

    let ticket = f
        .login
        .bind_phone(&s.id, &s.browser_secret, "13800138041", &right, now)
        .await
        .unwrap()
        .ticket;
    let stolen = f.login.exchange(&ticket, &thief, now).await;
    assert!(
        matches!(stolen, Err(LoginError::TicketInvalid)),
        "{stolen:?}"
    );
    // The thief's try did not use the ticket up.
    f.login
        .exchange(&ticket, &s.browser_secret, now)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_ticket_works_once_and_briefly() {
    let f = fixture_with(Options {
        phone: PhonePolicy::Off,
        ..Options::default()
    })
    .await;
    let s = f.start().await;
    f.scan(&s, &new_user("o-once")).await;
    let ticket = f.status(&s).await.ticket.unwrap();
    let late = f
        .login
        .exchange(
            &ticket,
            &s.browser_secret,
            unix_now() + keys::TICKET_SECONDS,
        )
        .await;
    assert!(matches!(late, Err(LoginError::TicketInvalid)), "{late:?}");
    f.login
        .exchange(&ticket, &s.browser_secret, unix_now())
        .await
        .unwrap();
    let reused = f
        .login
        .exchange(&ticket, &s.browser_secret, unix_now())
        .await;
    assert!(
        matches!(reused, Err(LoginError::TicketInvalid)),
        "{reused:?}"
    );
    for junk in ["", "x", "not a ticket at all, far too long"] {
        let got = f.login.exchange(junk, &s.browser_secret, unix_now()).await;
        assert!(matches!(got, Err(LoginError::TicketInvalid)), "{got:?}");
    }
}

#[tokio::test]
async fn concurrent_exchanges_of_one_ticket_succeed_once() {
    let f = fixture_with(Options {
        phone: PhonePolicy::Off,
        ..Options::default()
    })
    .await;
    let s = f.start().await;
    f.scan(&s, &new_user("o-double")).await;
    let ticket = f.status(&s).await.ticket.unwrap();
    let mut tasks = JoinSet::new();
    for _ in 0..6 {
        let (login, ticket, browser) = (f.login.clone(), ticket.clone(), s.browser_secret.clone());
        tasks.spawn(async move { login.exchange(&ticket, &browser, unix_now()).await.is_ok() });
    }
    let mut ok = 0;
    while let Some(done) = tasks.join_next().await {
        ok += usize::from(done.unwrap());
    }
    assert_eq!(ok, 1);
}
