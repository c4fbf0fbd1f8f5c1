//! Whole logins, from `start` to `exchange`.

use super::*;
use crate::identity::UnionId;

#[tokio::test]
async fn new_user_scans_binds_a_phone_and_exchanges_the_ticket() {
    let f = fixture().await;
    let started = f.start().await;
    assert!(
        started.qr_content.starts_with("http"),
        "{}",
        started.qr_content
    );
    assert_eq!(f.status(&started).await.status, Status::Waiting);

    let outcome = f.scan(&started, &new_user("o-new")).await;
    assert_eq!(
        outcome,
        ScanOutcome {
            status: Some(Status::NeedPhone),
            reply: ScanReply::NeedPhone,
        }
    );
    let view = f.status(&started).await;
    assert_eq!(view.status, Status::NeedPhone);
    assert!(!view.phone_skippable, "phone: required");
    assert!(view.ticket.is_none());

    let now = unix_now();
    f.login
        .send_code(
            &started.id,
            &started.browser_secret,
            "138 0013 8000",
            TEST_IP,
            now,
        )
        .await
        .unwrap();
    let code = f.last_code();
    let confirmed = f
        .login
        .bind_phone(
            &started.id,
            &started.browser_secret,
            "+8613800138000",
            &code,
            now,
        )
        .await
        .unwrap();

    let view = f.status(&started).await;
    assert_eq!(view.status, Status::Confirmed);
    assert_eq!(view.ticket.as_deref(), Some(confirmed.ticket.as_str()));

    let exchanged = f
        .login
        .exchange(&confirmed.ticket, &started.browser_secret, unix_now())
        .await
        .unwrap();
    let identity = exchanged.identity;
    assert_eq!(exchanged.rd, "/app?x=1");
    assert_eq!(identity.openid, Some(OpenId::new("o-new")));
    assert_eq!(identity.unionid, Some(UnionId::new("union-o-new")));
    assert_eq!(identity.phone, Some(phone("13800138000")));
    assert_eq!(identity.method, LoginMethod::OfficialAccount);
    let user = f.users.get(&identity.user_id).await.unwrap().unwrap();
    assert_eq!(user.openid(APP_ID), Some(&OpenId::new("o-new")));
    assert!(user.last_login_at.is_some());

    for outcome in [
        "started",
        "scanned",
        "need_phone",
        "code_sent",
        "phone_bound",
        "confirmed",
        "exchanged",
    ] {
        assert_eq!(f.funnel(outcome), 1, "{outcome}");
    }
}

#[tokio::test]
async fn a_returning_user_is_confirmed_by_the_scan_alone() {
    let f = fixture().await;
    let first = f.start().await;
    f.scan(&first, &new_user("o-back")).await;
    let ticket = f.bind(&first, "13800138001", unix_now()).await;
    let user_id = f
        .login
        .exchange(&ticket, &first.browser_secret, unix_now())
        .await
        .unwrap()
        .identity
        .user_id;

    // Later, same browser: the user follows by now, so WeChat pushes SCAN.
    let second = f
        .login
        .start(
            LoginMethod::OfficialAccount,
            "/".into(),
            TEST_IP,
            unix_now(),
        )
        .await
        .unwrap();
    assert_ne!(
        second.browser_secret.as_str(),
        first.browser_secret.as_str(),
        "each attempt has a secret of its own"
    );
    let follower = SimUser {
        follows: true,
        ..new_user("o-back")
    };
    let outcome = f.scan(&second, &follower).await;
    assert_eq!(outcome.status, Some(Status::Confirmed));
    let view = f.status(&second).await;
    let identity = f
        .login
        .exchange(
            view.ticket.as_deref().unwrap(),
            &second.browser_secret,
            unix_now(),
        )
        .await
        .unwrap()
        .identity;
    assert_eq!(identity.user_id, user_id);
    assert_eq!(identity.phone, Some(phone("13800138001")));
    assert_eq!(f.codes_sent(), 1, "no second code");
}

#[tokio::test]
async fn with_phone_off_a_new_user_is_registered_and_confirmed_at_once() {
    let f = fixture_with(Options {
        phone: PhonePolicy::Off,
        ..Options::default()
    })
    .await;
    let started = f.start().await;
    let outcome = f.scan(&started, &new_user("o-off")).await;
    assert_eq!(outcome.status, Some(Status::Confirmed));
    let view = f.status(&started).await;
    let identity = f
        .login
        .exchange(
            view.ticket.as_deref().unwrap(),
            &started.browser_secret,
            unix_now(),
        )
        .await
        .unwrap()
        .identity;
    assert_eq!(identity.phone, None);
    assert_eq!(identity.unionid, Some(UnionId::new("union-o-off")));
    assert!(f
        .users
        .find_by_openid(APP_ID, &OpenId::new("o-off"))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn with_phone_optional_the_user_may_skip() {
    let f = fixture_with(Options {
        phone: PhonePolicy::Optional,
        ..Options::default()
    })
    .await;
    let started = f.start().await;
    f.scan(&started, &new_user("o-opt")).await;
    let view = f.status(&started).await;
    assert_eq!(
        (view.status, view.phone_skippable),
        (Status::NeedPhone, true)
    );

    let confirmed = f
        .login
        .skip_phone(&started.id, &started.browser_secret, unix_now())
        .await
        .unwrap();
    let identity = f
        .login
        .exchange(&confirmed.ticket, &started.browser_secret, unix_now())
        .await
        .unwrap()
        .identity;
    assert_eq!(identity.phone, None);
    assert_eq!(identity.openid, Some(OpenId::new("o-opt")));
    // Skipping twice, or binding after skipping, is not possible.
    let again = f
        .login
        .skip_phone(&started.id, &started.browser_secret, unix_now())
        .await;
    assert!(matches!(again, Err(LoginError::WrongState)), "{again:?}");
}

#[tokio::test]
async fn with_phone_optional_binding_still_works() {
    let f = fixture_with(Options {
        phone: PhonePolicy::Optional,
        ..Options::default()
    })
    .await;
    let started = f.start().await;
    f.scan(&started, &new_user("o-opt2")).await;
    let ticket = f.bind(&started, "13800138002", unix_now()).await;
    let identity = f
        .login
        .exchange(&ticket, &started.browser_secret, unix_now())
        .await
        .unwrap()
        .identity;
    assert_eq!(identity.phone, Some(phone("13800138002")));
}

#[tokio::test]
async fn with_phone_required_skipping_is_refused() {
    let f = fixture().await;
    let started = f.start().await;
    f.scan(&started, &new_user("o-req")).await;
    let skipped = f
        .login
        .skip_phone(&started.id, &started.browser_secret, unix_now())
        .await;
    assert!(
        matches!(skipped, Err(LoginError::WrongState)),
        "{skipped:?}"
    );
    assert_eq!(f.status(&started).await.status, Status::NeedPhone);
}

#[tokio::test]
async fn a_user_known_through_another_app_is_the_same_user() {
    let f = fixture().await;
    // Registered through the Mini Program, with the same unionid and a phone.
    let mp_user = f
        .users
        .register(
            "wx_mini_program",
            &OpenId::new("mp-openid"),
            Some(&UnionId::new("union-o-both")),
            Some(&phone("13800138003")),
            unix_now(),
        )
        .await
        .unwrap();
    let started = f.start().await;
    let outcome = f.scan(&started, &new_user("o-both")).await;
    assert_eq!(
        outcome.status,
        Some(Status::Confirmed),
        "known: no phone step"
    );
    let view = f.status(&started).await;
    let identity = f
        .login
        .exchange(
            view.ticket.as_deref().unwrap(),
            &started.browser_secret,
            unix_now(),
        )
        .await
        .unwrap()
        .identity;
    assert_eq!(identity.user_id, mp_user.id);
    assert_eq!(
        identity.openid,
        Some(OpenId::new("o-both")),
        "this app's openid"
    );
    assert_eq!(identity.phone, Some(phone("13800138003")));
    let linked = f
        .users
        .find_by_openid(APP_ID, &OpenId::new("o-both"))
        .await
        .unwrap();
    assert_eq!(linked.map(|u| u.id), Some(mp_user.id));
}

#[tokio::test]
async fn with_phone_required_a_known_user_without_a_phone_binds_one_first() {
    let f = fixture().await;
    let existing = f
        .users
        .register(APP_ID, &OpenId::new("o-nophone"), None, None, unix_now())
        .await
        .unwrap();
    let started = f.start().await;
    let follower = SimUser {
        follows: true,
        ..new_user("o-nophone")
    };
    assert_eq!(
        f.scan(&started, &follower).await.status,
        Some(Status::NeedPhone)
    );
    let ticket = f.bind(&started, "13800138004", unix_now()).await;
    let identity = f
        .login
        .exchange(&ticket, &started.browser_secret, unix_now())
        .await
        .unwrap()
        .identity;
    assert_eq!(
        identity.user_id, existing.id,
        "the same user, now with a phone"
    );
    assert_eq!(identity.phone, Some(phone("13800138004")));
}

#[tokio::test]
async fn a_disabled_user_is_not_logged_in() {
    let f = fixture().await;
    let user = f
        .users
        .register(
            APP_ID,
            &OpenId::new("o-banned"),
            None,
            Some(&phone("13800138005")),
            unix_now(),
        )
        .await
        .unwrap();
    f.users.set_disabled(&user.id, true).await.unwrap();
    let started = f.start().await;
    let follower = SimUser {
        follows: true,
        ..new_user("o-banned")
    };
    assert_eq!(
        f.scan(&started, &follower).await.status,
        Some(Status::Cancelled)
    );
    let view = f.status(&started).await;
    assert_eq!((view.status, view.ticket), (Status::Cancelled, None));
}

#[tokio::test]
async fn the_mini_program_method_is_unavailable_unless_configured() {
    let f = fixture().await;
    let started = f
        .login
        .start(LoginMethod::MiniProgram, "/".into(), TEST_IP, unix_now())
        .await;
    assert!(
        matches!(started, Err(LoginError::MethodUnavailable)),
        "{started:?}"
    );
}

#[tokio::test]
async fn a_wechat_failure_at_start_is_a_wechat_error() {
    let f = fixture().await;
    f.sim
        .fail_next(crate::wechat_sim::SimApi::QrCodeCreate, 48001);
    let started = f
        .login
        .start(
            LoginMethod::OfficialAccount,
            "/".into(),
            TEST_IP,
            unix_now(),
        )
        .await;
    let Err(err) = started else {
        panic!("expected a WeChat error");
    };
    // (A quota's refusals are `quota.rs`'s.)
    assert_eq!(
        err.code(),
        "wechat_misconfigured",
        "48001: a missing permission"
    );
}

#[tokio::test]
async fn the_browser_secret_is_reused_only_when_well_formed_and_never_stored() {
    let f = fixture().await;
    let first = f.start().await;
    // A malformed cookie is no `BrowserSecret`: the caller starts without one.
    assert!(BrowserSecret::parse("not-a-secret").is_err());
    let fresh = f
        .login
        .start(
            LoginMethod::OfficialAccount,
            "/".into(),
            TEST_IP,
            unix_now(),
        )
        .await
        .unwrap();
    assert_ne!(fresh.browser_secret.as_str(), first.browser_secret.as_str());
    assert_eq!(fresh.browser_secret.as_str().len(), 22);
    assert_ne!(fresh.id, first.id);
    let raw = f
        .store
        .get(&keys::attempt(&first.id))
        .await
        .unwrap()
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(
        !raw.contains(first.browser_secret.as_str()),
        "only a hash is stored: {raw}"
    );
    assert!(!format!("{first:?}").contains(first.browser_secret.as_str()));
}

#[tokio::test]
async fn qr_content_and_wechat_ticket_are_for_the_attempts_browser_until_expiry() {
    let f = fixture().await;
    let s = f.start().await;
    let now = unix_now();
    let (id, browser) = (&s.id, &s.browser_secret);
    assert_eq!(
        f.login.qr_content(id, browser, now).await.unwrap(),
        s.qr_content
    );
    assert_eq!(
        f.login.wechat_ticket(id, browser, now).await.unwrap(),
        f.qr_ticket(id).await
    );
    let other = f.start().await.browser_secret;
    let stolen = f.login.qr_content(id, &other, now).await;
    assert!(matches!(stolen, Err(LoginError::NotFound)), "{stolen:?}");
    let stolen = f.login.wechat_ticket(id, &other, now).await;
    assert!(matches!(stolen, Err(LoginError::NotFound)), "{stolen:?}");
    let late = f.login.qr_content(id, browser, s.expires_at).await;
    assert!(matches!(late, Err(LoginError::Expired)), "{late:?}");
}
