//! The long-poll: wake-ups, expiry, the waiting gauge, browser binding.

use super::*;

#[tokio::test]
async fn a_waiting_poll_returns_promptly_after_the_scan() {
    let f = fixture_with(Options {
        phone: PhonePolicy::Off,
        ..Options::default()
    })
    .await;
    let s = f.start().await;
    let login = f.login.clone();
    let (id, browser) = (s.id.clone(), s.browser_secret.clone());
    let poll = tokio::spawn(async move {
        login
            .poll(
                &id,
                &browser,
                Some(Status::Waiting),
                Duration::from_secs(25),
                unix_now(),
            )
            .await
    });
    // Let the poll subscribe and start waiting.
    while f.metrics.longpolls_waiting.get() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    f.scan(&s, &new_user("o-fast")).await;
    // The poll asked for 25 s; it must be back long before, right after the transition.
    // (A generous bound: the machine is shared; the wake-up itself is in-process.)
    let view = tokio::time::timeout(Duration::from_millis(500), poll)
        .await
        .expect("the poll wakes on the scan")
        .unwrap()
        .unwrap();
    assert_eq!(view.status, Status::Confirmed);
    assert!(view.ticket.is_some());
    assert_eq!(f.metrics.longpolls_waiting.get(), 0);
}

#[test]
fn the_view_serializes_as_the_long_poll_body() {
    let waiting = PollView {
        status: Status::NeedPhone,
        ticket: None,
        expires_at: 1_700_000_600,
        phone_skippable: true,
    };
    assert_eq!(
        serde_json::to_value(&waiting).unwrap(),
        serde_json::json!({"status": "need_phone", "expires_at": 1_700_000_600u64, "phone_skippable": true})
    );
    let confirmed = PollView {
        status: Status::Confirmed,
        ticket: Some("t".into()),
        expires_at: 1,
        phone_skippable: false,
    };
    assert_eq!(serde_json::to_value(&confirmed).unwrap()["ticket"], "t");
    assert!(!format!("{confirmed:?}").contains("\"t\""));
}

#[tokio::test]
async fn a_poll_answers_at_once_when_the_status_differs_or_is_final() {
    let f = fixture().await;
    let s = f.start().await;
    let quick = Duration::from_secs(2);
    let at_once = |since| {
        let login = f.login.clone();
        let (id, browser) = (s.id.clone(), s.browser_secret.clone());
        async move {
            tokio::time::timeout(
                quick,
                login.poll(&id, &browser, since, Duration::from_secs(25), unix_now()),
            )
            .await
            .expect("answered without waiting")
            .unwrap()
        }
    };
    assert_eq!(at_once(None).await.status, Status::Waiting);
    assert_eq!(at_once(Some(Status::Scanned)).await.status, Status::Waiting);
    let expired = f
        .login
        .poll(
            &s.id,
            &s.browser_secret,
            Some(Status::Expired),
            Duration::from_secs(25),
            unix_now() + u64::from(QR_EXPIRE),
        )
        .await
        .unwrap();
    assert_eq!(
        expired.status,
        Status::Expired,
        "final: no wait even if equal to since"
    );
}

#[tokio::test]
async fn a_poll_with_nothing_happening_returns_at_its_deadline() {
    let f = fixture().await;
    let s = f.start().await;
    let view = tokio::time::timeout(
        Duration::from_secs(3),
        f.login.poll(
            &s.id,
            &s.browser_secret,
            Some(Status::Waiting),
            Duration::from_millis(300),
            unix_now(),
        ),
    )
    .await
    .expect("returns at its own deadline")
    .unwrap();
    assert_eq!(view.status, Status::Waiting);
    assert_eq!(f.metrics.longpolls_waiting.get(), 0);
}

#[tokio::test]
async fn a_waiting_poll_wakes_when_the_attempt_expires() {
    let f = fixture_with(Options {
        qr_expire: 1,
        ..Options::default()
    })
    .await;
    let s = f.start().await;
    let view = tokio::time::timeout(
        Duration::from_secs(4),
        f.login.poll(
            &s.id,
            &s.browser_secret,
            Some(Status::Waiting),
            Duration::from_secs(25),
            s.expires_at - 1,
        ),
    )
    .await
    .expect("wakes at the expiry, not at the 25 s deadline")
    .unwrap();
    assert_eq!(view.status, Status::Expired);
    assert_eq!(f.funnel("expired"), 1);
    // Written down once: reading it again counts nothing more.
    assert_eq!(f.status(&s).await.status, Status::Expired);
    assert_eq!(f.funnel("expired"), 1);
}

#[tokio::test]
async fn a_dropped_poll_leaves_the_waiting_gauge_right() {
    let f = fixture().await;
    let s = f.start().await;
    let login = f.login.clone();
    let (id, browser) = (s.id.clone(), s.browser_secret.clone());
    let poll = tokio::spawn(async move {
        login
            .poll(
                &id,
                &browser,
                Some(Status::Waiting),
                Duration::from_secs(25),
                unix_now(),
            )
            .await
    });
    while f.metrics.longpolls_waiting.get() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(f.metrics.longpolls_waiting.get(), 1);
    // The client went away: the server drops the request's future.
    poll.abort();
    let _ = poll.await;
    assert_eq!(f.metrics.longpolls_waiting.get(), 0);
}

#[tokio::test]
async fn an_expired_attempt_reads_expired_and_refuses_everything() {
    let f = fixture().await;
    let s = f.start().await;
    let late = s.expires_at;
    let view = f
        .login
        .poll(&s.id, &s.browser_secret, None, Duration::ZERO, late)
        .await
        .unwrap();
    assert_eq!(view.status, Status::Expired);
    let scan = Scan {
        openid: OpenId::new("o-late"),
        scene: SceneId::of(&s.id),
        ticket: Some(f.qr_ticket(&s.id).await),
        new_follower: false,
    };
    let outcome = f.login.on_scan(scan, late).await.unwrap();
    assert_eq!(
        outcome,
        ScanOutcome {
            status: Some(Status::Expired),
            reply: ScanReply::Expired,
        }
    );
    let code = f
        .login
        .send_code(&s.id, &s.browser_secret, "13800138030", TEST_IP, late)
        .await;
    assert!(matches!(code, Err(LoginError::Expired)), "{code:?}");
    assert!(f
        .users
        .find_by_openid(APP_ID, &OpenId::new("o-late"))
        .await
        .unwrap()
        .is_none());
}
