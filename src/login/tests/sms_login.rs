//! SMS login, the one-user rule between it and WeChat logins, and the Mini Program URL Link.

use super::*;
use crate::wechat::client::UrlLinkRequest;

/// A code sent to `number` for SMS login; the code.
async fn sms_code(f: &Fixture, number: &str, now: u64) -> String {
    f.login
        .send_sms_login_code(number, TEST_IP, now)
        .await
        .unwrap();
    assert_eq!(f.last_number(), phone(number));
    f.last_code()
}

/// SMS login with `code` typed for `typed`, and its ticket exchanged by the same browser.
async fn sms_signed_in(f: &Fixture, typed: &str, code: &str, rd: &str, now: u64) -> Exchanged {
    let logged_in = f
        .login
        .sms_login(typed, code, rd.into(), now)
        .await
        .unwrap();
    f.login
        .exchange(&logged_in.ticket, &logged_in.browser_secret, now)
        .await
        .unwrap()
}

fn wrong(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

#[tokio::test]
async fn an_unknown_number_gets_its_code_and_hears_no_account_only_after_the_right_code() {
    let f = fixture().await;
    let now = unix_now();
    let code = sms_code(&f, "13700137000", now).await;
    let guess = f
        .login
        .sms_login("13700137000", wrong(&code), "/".into(), now)
        .await;
    assert!(
        matches!(guess, Err(LoginError::InvalidCode { tries_left: 4 })),
        "a wrong code says nothing of the account: {guess:?}"
    );
    let right = f
        .login
        .sms_login("13700137000", &code, "/".into(), now)
        .await;
    assert!(matches!(right, Err(LoginError::NoAccount)), "{right:?}");
    assert_eq!(
        f.users.find_by_phone(&phone("13700137000")).await.unwrap(),
        None,
        "nobody was created"
    );
    // The code did its work: it is gone.
    let again = f
        .login
        .sms_login("13700137000", &code, "/".into(), now)
        .await;
    assert!(matches!(again, Err(LoginError::CodeExpired)), "{again:?}");
    assert_eq!(f.funnel_of("sms", "code_sent"), 1);
    assert_eq!(f.funnel_of("sms", "code_invalid"), 1);
    assert_eq!(f.funnel_of("sms", "no_account"), 1);
}

#[tokio::test]
async fn with_signup_a_new_number_becomes_a_user_who_logs_in_by_sms() {
    let f = fixture_with(Options {
        sms_signup: true,
        ..Options::default()
    })
    .await;
    let now = unix_now();
    let code = sms_code(&f, "13700137001", now).await;
    let logged_in = f
        .login
        .sms_login("137 0013 7001", &code, "/after".into(), now)
        .await
        .unwrap();
    let exchanged = f
        .login
        .exchange(&logged_in.ticket, &logged_in.browser_secret, now)
        .await
        .unwrap();
    assert_eq!(exchanged.rd, "/after");
    let identity = exchanged.identity;
    assert_eq!(identity.method, LoginMethod::Sms);
    assert_eq!(identity.phone, Some(phone("13700137001")));
    assert_eq!(identity.openid, None);
    let user = f.users.get(&identity.user_id).await.unwrap().unwrap();
    assert!(user.is_phone_only());
    assert!(user.last_login_at.is_some());
    // The ticket is bound to the login's own browser secret, and used once.
    let other = BrowserSecret::random();
    let stolen = f.login.exchange(&logged_in.ticket, &other, now).await;
    assert!(matches!(stolen, Err(LoginError::TicketInvalid)));
    // A second login of the same number is the same user.
    let later = now + keys::RESEND_COOLDOWN_SECONDS;
    let code = sms_code(&f, "13700137001", later).await;
    let second = sms_signed_in(&f, "+8613700137001", &code, "/", later).await;
    assert_eq!(second.identity.user_id, identity.user_id);
    assert_eq!(f.funnel_of("sms", "confirmed"), 2);
    assert_eq!(f.funnel_of("sms", "exchanged"), 2);
}

#[tokio::test]
async fn a_wechat_user_with_a_bound_phone_logs_in_by_sms_as_themselves() {
    let f = fixture().await;
    let started = f.start().await;
    f.scan(&started, &new_user("o-both")).await;
    let now = unix_now();
    let ticket = f.bind(&started, "13700137002", now).await;
    let wechat = f
        .login
        .exchange(&ticket, &started.browser_secret, now)
        .await
        .unwrap();
    let code = sms_code(&f, "13700137002", now).await;
    let sms = f
        .login
        .sms_login("13700137002", &code, "/".into(), now)
        .await
        .unwrap();
    let sms = f
        .login
        .exchange(&sms.ticket, &sms.browser_secret, now)
        .await
        .unwrap();
    assert_eq!(sms.identity.user_id, wechat.identity.user_id);
    assert_eq!(sms.identity.method, LoginMethod::Sms);
}

#[tokio::test]
async fn a_disabled_user_is_refused_after_the_right_code() {
    let f = fixture_with(Options {
        sms_signup: true,
        ..Options::default()
    })
    .await;
    let user = f
        .users
        .register_by_phone(&phone("13700137003"), unix_now())
        .await
        .unwrap();
    f.users.set_disabled(&user.id, true).await.unwrap();
    let now = unix_now();
    let code = sms_code(&f, "13700137003", now).await;
    let refused = f
        .login
        .sms_login("13700137003", &code, "/".into(), now)
        .await;
    assert!(matches!(refused, Err(LoginError::Disabled)), "{refused:?}");
}

#[tokio::test]
async fn the_cooldown_holds_per_number_and_a_failed_send_is_withdrawn() {
    let f = fixture().await;
    let now = unix_now();
    f.fail_sms(true);
    let failed = f
        .login
        .send_sms_login_code("13700137004", TEST_IP, now)
        .await;
    assert!(matches!(failed, Err(LoginError::Sms(_))), "{failed:?}");
    f.fail_sms(false);
    // Withdrawn: no cooldown, a code may be asked for at once.
    sms_code(&f, "13700137004", now).await;
    let soon = f
        .login
        .send_sms_login_code("13700137004", TEST_IP, now + 1)
        .await;
    assert!(
        matches!(
            soon,
            Err(LoginError::RateLimited {
                retry_after_seconds: 59
            })
        ),
        "{soon:?}"
    );
    // Another number is not held back by this one's cooldown.
    sms_code(&f, "13700137005", now + 1).await;
    // Numbers of other countries are refused before anything is charged or sent.
    let sent = f.codes_sent();
    let foreign = f
        .login
        .send_sms_login_code("+14155552671", TEST_IP, now)
        .await;
    assert!(
        matches!(foreign, Err(LoginError::BadPhone(_))),
        "{foreign:?}"
    );
    assert_eq!(f.codes_sent(), sent);
}

#[tokio::test]
async fn a_new_wechat_user_proving_an_sms_users_phone_becomes_that_user() {
    let f = fixture_with(Options {
        sms_signup: true,
        ..Options::default()
    })
    .await;
    let now = unix_now();
    let code = sms_code(&f, "13700137006", now).await;
    let sms = sms_signed_in(&f, "13700137006", &code, "/", now).await;

    // Later, the same person scans the Official Account's code and proves the same phone.
    let started = f.start().await;
    f.scan(&started, &new_user("o-later")).await;
    let ticket = f.bind(&started, "13700137006", now + 1).await;
    let wechat = f
        .login
        .exchange(&ticket, &started.browser_secret, now + 1)
        .await
        .unwrap();
    assert_eq!(wechat.identity.user_id, sms.identity.user_id, "merged");
    assert_eq!(wechat.identity.openid, Some(OpenId::new("o-later")));
    let user = f.users.get(&sms.identity.user_id).await.unwrap().unwrap();
    assert_eq!(user.openid(APP_ID), Some(&OpenId::new("o-later")));

    // Someone else's WeChat proving that number now finds it taken: its holder has WeChat ids.
    let other = f.start().await;
    f.scan(&other, &new_user("o-intruder")).await;
    f.login
        .send_code(
            &other.id,
            &other.browser_secret,
            "13700137006",
            TEST_IP,
            now + 2,
        )
        .await
        .unwrap();
    let code = f.last_code();
    let taken = f
        .login
        .bind_phone(
            &other.id,
            &other.browser_secret,
            "13700137006",
            &code,
            now + 2,
        )
        .await;
    assert!(matches!(taken, Err(LoginError::PhoneTaken)), "{taken:?}");
}

#[tokio::test]
async fn a_mini_program_login_with_wechats_number_joins_the_sms_user() {
    let f = fixture_with(Options {
        sms_signup: true,
        mini_program: true,
        ..Options::default()
    })
    .await;
    let now = unix_now();
    let sms_user = f
        .users
        .register_by_phone(&phone("13700137007"), now)
        .await
        .unwrap();
    let started = f
        .login
        .start(LoginMethod::MiniProgram, "/".into(), TEST_IP, now)
        .await
        .unwrap();
    let scene = SceneId::of(&started.id);
    let js = f.mp.login_code("mp-sms-person", None);
    let phone_code = f.mp.phone_code("13700137007");
    let confirmed = f
        .login
        .mp_confirm(&scene, &js, Some(&phone_code), TEST_IP, now)
        .await
        .unwrap();
    assert_eq!(confirmed.status, Status::Confirmed);
    let ticket = f.status(&started).await.ticket.unwrap();
    let identity = f
        .login
        .exchange(&ticket, &started.browser_secret, now)
        .await
        .unwrap()
        .identity;
    assert_eq!(identity.user_id, sms_user.id);
    assert_eq!(identity.method, LoginMethod::MiniProgram);
}

#[tokio::test]
async fn sms_login_is_refused_when_not_configured_and_qr_cannot_start_it() {
    let f = fixture().await;
    let started = f
        .login
        .start(LoginMethod::Sms, "/".into(), TEST_IP, unix_now())
        .await;
    assert!(matches!(started, Err(LoginError::MethodUnavailable)));
}

#[tokio::test]
async fn a_url_link_opens_the_page_with_the_attempts_scene() {
    let f = fixture_with(Options {
        mini_program: true,
        ..Options::default()
    })
    .await;
    let now = unix_now();
    let started = f
        .login
        .start(LoginMethod::MiniProgram, "/".into(), TEST_IP, now)
        .await
        .unwrap();
    let link = f
        .login
        .mini_program_link(&started.id, &started.browser_secret, now)
        .await
        .unwrap();
    assert_eq!(link, "https://wxaurl.cn/fake1");
    assert_eq!(
        f.mp.link_requests(),
        [UrlLinkRequest {
            path: MP_PAGE.into(),
            query: format!("scene={}", started.id),
            env_version: "trial".into(),
            expire_days: 1,
        }]
    );
    // Another browser, or an Official Account attempt, gets none.
    let other = f
        .login
        .mini_program_link(&started.id, &BrowserSecret::random(), now)
        .await;
    assert!(matches!(other, Err(LoginError::NotFound)), "{other:?}");
    let oa = f.start().await;
    let oa_link = f
        .login
        .mini_program_link(&oa.id, &oa.browser_secret, now)
        .await;
    assert!(matches!(oa_link, Err(LoginError::NotFound)), "{oa_link:?}");
    // WeChat refusing (no URL Link permission) is the operator's to fix.
    f.mp.fail_next_link(48001);
    let refused = f
        .login
        .mini_program_link(&started.id, &started.browser_secret, now)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "wechat_misconfigured");
}

#[tokio::test]
async fn a_mini_program_login_joining_a_disabled_sms_user_is_refused() {
    let f = fixture_with(Options {
        mini_program: true,
        ..Options::default()
    })
    .await;
    let now = unix_now();
    let sms_user = f
        .users
        .register_by_phone(&phone("13700137008"), now)
        .await
        .unwrap();
    f.users.set_disabled(&sms_user.id, true).await.unwrap();
    let started = f
        .login
        .start(LoginMethod::MiniProgram, "/".into(), TEST_IP, now)
        .await
        .unwrap();
    let js = f.mp.login_code("mp-blocked-person", None);
    let phone_code = f.mp.phone_code("13700137008");
    let refused = f
        .login
        .mp_confirm(
            &SceneId::of(&started.id),
            &js,
            Some(&phone_code),
            TEST_IP,
            now,
        )
        .await;
    assert!(matches!(refused, Err(LoginError::Disabled)), "{refused:?}");
    assert_eq!(f.status(&started).await.status, Status::Cancelled);
    assert_eq!(f.status(&started).await.ticket, None);
}

#[tokio::test]
async fn sms_login_logs_name_numbers_masked_and_never_a_code() {
    let f = fixture_with(Options {
        sms_signup: true,
        ..Options::default()
    })
    .await;
    let logs = crate::login::test_logs::capture();
    let now = unix_now();
    // Every line SMS login writes: code sent, refused by the cooldown, a wrong try, a sign-up,
    // a confirmed login, and a number without an account (sign-up off below).
    let code = sms_code(&f, "13700137009", now).await;
    let _ = f
        .login
        .send_sms_login_code("13700137009", TEST_IP, now + 1)
        .await;
    let _ = f
        .login
        .sms_login("13700137009", wrong(&code), "/".into(), now)
        .await;
    f.login
        .sms_login("13700137009", &code, "/".into(), now)
        .await
        .unwrap();
    let off = fixture().await;
    let code2 = sms_code(&off, "13700137010", now).await;
    let _ = off
        .login
        .sms_login("13700137010", &code2, "/".into(), now)
        .await;
    let text = logs.text();
    assert!(text.contains("+86137****7009"), "{text}");
    assert!(text.contains("+86137****7010"), "{text}");
    assert!(text.contains("SMS login confirmed"), "{text}");
    assert!(text.contains("without an account"), "{text}");
    // Each line less its timestamp, whose microseconds are six digits too.
    let bodies: String = text
        .lines()
        .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest))
        .collect::<Vec<_>>()
        .join("\n");
    for secret in ["13700137009", "13700137010", code.as_str(), code2.as_str()] {
        assert!(!bodies.contains(secret), "{secret} in the logs:\n{text}");
    }
}
