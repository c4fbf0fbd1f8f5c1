//! The phone step: codes, tries, expiry, cooldown, numbers taken.

use super::*;

/// A fixture with one attempt at `need_phone`.
async fn at_need_phone(openid: &str) -> (Fixture, Started) {
    let f = fixture().await;
    let started = f.start().await;
    f.scan(&started, &new_user(openid)).await;
    (f, started)
}

#[tokio::test]
async fn five_wrong_codes_kill_the_code() {
    let (f, s) = at_need_phone("o-guess").await;
    let now = unix_now();
    let number = "13800138010";
    f.login
        .send_code(&s.id, &s.browser_secret, number, TEST_IP, now)
        .await
        .unwrap();
    let right = f.last_code();
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for tries_left in [4, 3, 2, 1] {
        let got = f
            .login
            .bind_phone(&s.id, &s.browser_secret, number, wrong, now)
            .await;
        match got {
            Err(LoginError::InvalidCode { tries_left: left }) => assert_eq!(left, tries_left),
            other => panic!("expected invalid_code, got {other:?}"),
        }
    }
    let fifth = f
        .login
        .bind_phone(&s.id, &s.browser_secret, number, wrong, now)
        .await;
    assert!(matches!(fifth, Err(LoginError::CodeDead)), "{fifth:?}");
    let right_too_late = f
        .login
        .bind_phone(&s.id, &s.browser_secret, number, &right, now)
        .await;
    assert!(
        matches!(right_too_late, Err(LoginError::CodeDead)),
        "{right_too_late:?}"
    );
    assert_eq!(f.funnel("code_invalid"), 5);

    // A new code (after the cooldown) works.
    let later = now + keys::RESEND_COOLDOWN_SECONDS;
    let ticket = f.bind(&s, number, later).await;
    assert!(!ticket.is_empty());
}

#[tokio::test]
async fn the_code_binds_only_the_number_it_was_sent_to() {
    let (f, s) = at_need_phone("o-swap").await;
    let now = unix_now();
    f.login
        .send_code(&s.id, &s.browser_secret, "13800138011", TEST_IP, now)
        .await
        .unwrap();
    let code = f.last_code();
    let other = f
        .login
        .bind_phone(&s.id, &s.browser_secret, "13800138012", &code, now)
        .await;
    assert!(
        matches!(other, Err(LoginError::InvalidCode { tries_left: 4 })),
        "{other:?}"
    );
    f.login
        .bind_phone(&s.id, &s.browser_secret, "13800138011", &code, now)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_old_code_is_expired_and_a_missing_one_too() {
    let (f, s) = at_need_phone("o-slow").await;
    let now = unix_now();
    let none = f
        .login
        .bind_phone(&s.id, &s.browser_secret, "13800138013", "123456", now)
        .await;
    assert!(matches!(none, Err(LoginError::CodeExpired)), "{none:?}");

    f.login
        .send_code(&s.id, &s.browser_secret, "13800138013", TEST_IP, now)
        .await
        .unwrap();
    let code = f.last_code();
    let late = f
        .login
        .bind_phone(
            &s.id,
            &s.browser_secret,
            "13800138013",
            &code,
            now + CODE_TTL,
        )
        .await;
    assert!(matches!(late, Err(LoginError::CodeExpired)), "{late:?}");
}

#[tokio::test]
async fn codes_are_stored_hashed() {
    let (f, s) = at_need_phone("o-hash").await;
    f.login
        .send_code(&s.id, &s.browser_secret, "13800138014", TEST_IP, unix_now())
        .await
        .unwrap();
    let raw = f.store.get(&keys::code(&s.id)).await.unwrap().unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(!raw.contains(&f.last_code()), "{raw}");
}

#[tokio::test]
async fn a_second_code_within_a_minute_is_rate_limited() {
    let (f, s) = at_need_phone("o-impatient").await;
    let now = unix_now();
    f.login
        .send_code(&s.id, &s.browser_secret, "13800138015", TEST_IP, now)
        .await
        .unwrap();
    let again = f
        .login
        .send_code(&s.id, &s.browser_secret, "13800138015", TEST_IP, now + 20)
        .await;
    match again {
        Err(LoginError::RateLimited {
            retry_after_seconds,
        }) => assert_eq!(retry_after_seconds, 40),
        other => panic!("expected rate_limited, got {other:?}"),
    }
    assert_eq!(f.codes_sent(), 1);
    let first = f.last_code();
    f.login
        .send_code(&s.id, &s.browser_secret, "13800138015", TEST_IP, now + 60)
        .await
        .unwrap();
    assert_eq!(f.codes_sent(), 2);
    // The new code replaces the old one.
    if first != f.last_code() {
        let old = f
            .login
            .bind_phone(&s.id, &s.browser_secret, "13800138015", &first, now + 61)
            .await;
        assert!(
            matches!(old, Err(LoginError::InvalidCode { .. })),
            "{old:?}"
        );
    }
}

#[tokio::test]
async fn one_number_gets_a_bounded_number_of_codes_per_hour_across_attempts() {
    let f = fixture().await;
    let now = unix_now();
    let mut answers = Vec::new();
    let per_hour = crate::config::Limits::default()
        .sms_per_phone_per_hour
        .unwrap();
    for i in 0..=per_hour {
        let s = f.start().await;
        f.scan(&s, &new_user(&format!("o-bomb-{i}"))).await;
        answers.push(
            f.login
                .send_code(&s.id, &s.browser_secret, "13800138016", TEST_IP, now)
                .await,
        );
    }
    let last = answers.pop().unwrap();
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert!(
        matches!(last, Err(LoginError::RateLimited { .. })),
        "{last:?}"
    );
    assert_eq!(f.codes_sent() as u64, per_hour);
}

#[tokio::test]
async fn one_client_gets_a_bounded_number_of_codes_across_numbers_and_its_qr_codes_too() {
    let limits = crate::config::Limits {
        sms_per_ip_per_hour: Some(2),
        qr_per_ip_per_minute: Some(4),
        ..crate::config::Limits::default()
    };
    let f = fixture_with(Options {
        limits,
        ..Options::default()
    })
    .await;
    let now = unix_now();
    let mut answers = Vec::new();
    for i in 0..3 {
        let s = f.start().await;
        f.scan(&s, &new_user(&format!("o-ip-{i}"))).await;
        answers.push(
            f.login
                .send_code(
                    &s.id,
                    &s.browser_secret,
                    &format!("1380013810{i}"),
                    TEST_IP,
                    now,
                )
                .await,
        );
    }
    assert!(answers[0].is_ok() && answers[1].is_ok(), "{answers:?}");
    assert!(
        matches!(answers[2], Err(LoginError::RateLimited { retry_after_seconds }) if retry_after_seconds <= 3600),
        "{answers:?}"
    );
    assert_eq!(f.codes_sent(), 2);
    // Three attempts started this minute; the fourth is allowed, the fifth is not.
    let _fourth = f.start().await;
    let fifth = f
        .login
        .start(
            crate::identity::LoginMethod::OfficialAccount,
            "/".into(),
            TEST_IP,
            unix_now(),
        )
        .await;
    assert!(
        matches!(fifth, Err(LoginError::RateLimited { .. })),
        "{fifth:?}"
    );
    // Another client is not affected.
    let other = std::net::IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 9));
    f.login
        .start(
            crate::identity::LoginMethod::OfficialAccount,
            "/".into(),
            other,
            unix_now(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failed_sms_can_be_retried_at_once() {
    let (f, s) = at_need_phone("o-smsdown").await;
    let now = unix_now();
    f.fail_sms(true);
    let failed = f
        .login
        .send_code(&s.id, &s.browser_secret, "13800138017", TEST_IP, now)
        .await;
    let Err(err) = failed else {
        panic!("expected an SMS error");
    };
    assert_eq!(err.code(), "sms_unavailable");
    f.fail_sms(false);
    f.login
        .send_code(&s.id, &s.browser_secret, "13800138017", TEST_IP, now + 1)
        .await
        .unwrap();
}

fn provider_refusal(code: &str, kind: RefusalKind) -> Refusal {
    Refusal {
        provider: "tencent",
        code: code.into(),
        message: "refused".into(),
        request_id: None,
        kind,
        explanation: None,
    }
}

#[tokio::test]
async fn the_providers_limit_for_the_number_is_said_and_its_code_withdrawn() {
    let (f, s) = at_need_phone("o-smslimit").await;
    let now = unix_now();
    f.refuse_sms(Some(provider_refusal(
        "LimitExceeded.PhoneNumberDailyLimit",
        RefusalKind::NumberLimited(LimitWindow::Day),
    )));
    let refused = f
        .login
        .send_code(&s.id, &s.browser_secret, "13800138018", TEST_IP, now)
        .await;
    let Err(err) = refused else {
        panic!("expected sms_limited");
    };
    assert_eq!(err.code(), "sms_limited");
    // Nothing was sent, so no code waits for a bind and no cooldown holds: another number
    // can have its code at once.
    f.refuse_sms(None);
    let bad = f
        .login
        .bind_phone(&s.id, &s.browser_secret, "13800138018", "000000", now)
        .await;
    assert!(matches!(bad, Err(LoginError::CodeExpired)), "{bad:?}");
    f.bind(&s, "13800138019", now).await;
}

#[tokio::test]
async fn a_number_the_provider_cannot_reach_is_a_bad_phone() {
    let (f, s) = at_need_phone("o-smsbadnumber").await;
    f.refuse_sms(Some(provider_refusal(
        "InvalidParameterValue.IncorrectPhoneNumber",
        RefusalKind::NumberRefused,
    )));
    let refused = f
        .login
        .send_code(&s.id, &s.browser_secret, "13800138020", TEST_IP, unix_now())
        .await;
    assert!(
        matches!(&refused, Err(e) if e.code() == "bad_phone"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn bad_numbers_are_refused_with_the_reason() {
    let (f, s) = at_need_phone("o-typo").await;
    let bad = f
        .login
        .send_code(&s.id, &s.browser_secret, "2380013800", TEST_IP, unix_now())
        .await;
    let Err(err) = bad else {
        panic!("expected bad_phone");
    };
    assert_eq!(err.code(), "bad_phone");
    assert!(
        err.to_string()
            .starts_with("the phone number has 10 digits"),
        "{err}"
    );
}

/// Registers a user who holds `number`.
async fn taken(f: &Fixture, owner: &str, number: &str) {
    f.users
        .register(
            APP_ID,
            &OpenId::new(owner),
            None,
            Some(&phone(number)),
            unix_now(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_number_bound_to_another_user_gets_its_code_and_is_refused_only_after_it() {
    let (f, s) = at_need_phone("o-second").await;
    taken(&f, "o-first", "13800138018").await;
    let now = unix_now();
    // The same answer as for any number, and the code goes to the phone like any other.
    f.login
        .send_code(&s.id, &s.browser_secret, "13800138018", TEST_IP, now)
        .await
        .unwrap();
    assert_eq!(f.codes_sent(), 1);
    assert_eq!(f.last_number(), phone("13800138018"));
    let code = f.last_code();
    // Without the code, nothing is said about the number either.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let guessed = f
        .login
        .bind_phone(&s.id, &s.browser_secret, "13800138018", wrong, now)
        .await;
    assert!(
        matches!(guessed, Err(LoginError::InvalidCode { tries_left: 4 })),
        "{guessed:?}"
    );
    // With it (the phone is the caller's), the number is said to be taken.
    let Err(err) = f
        .login
        .bind_phone(&s.id, &s.browser_secret, "13800138018", &code, now)
        .await
    else {
        panic!("expected phone_taken");
    };
    assert_eq!(err.code(), "phone_taken");
    assert!(
        err.to_string().contains("already bound to another"),
        "{err}"
    );
    assert_eq!(
        f.status(&s).await.status,
        Status::NeedPhone,
        "another number may be tried"
    );
    let nobody = f
        .users
        .find_by_openid(APP_ID, &OpenId::new("o-second"))
        .await
        .unwrap();
    assert!(nobody.is_none(), "a refused number creates nobody");
    // The code did its work: another number may get a code at once (no resend cooldown),
    // and binds.
    f.bind(&s, "13800138028", now).await;
    assert_eq!(f.codes_sent(), 2);
}

#[tokio::test]
async fn taken_and_free_numbers_are_charged_alike_before_anything_else() {
    // One code per number per hour, two per client: a taken number spends both budgets like
    // a free one, and is refused by them like a free one.
    let limits = crate::config::Limits {
        sms_per_ip_per_hour: Some(2),
        sms_per_phone_per_hour: Some(1),
        ..crate::config::Limits::default()
    };
    let f = fixture_with(Options {
        limits,
        ..Options::default()
    })
    .await;
    taken(&f, "o-owner", "13800138040").await;
    let now = unix_now();
    let mut answers = Vec::new();
    for (i, number) in ["13800138040", "13800138041", "13800138040", "13800138041"]
        .iter()
        .enumerate()
    {
        let s = f.start().await;
        f.scan(&s, &new_user(&format!("o-prober-{i}"))).await;
        let answer = f
            .login
            .send_code(&s.id, &s.browser_secret, number, TEST_IP, now)
            .await;
        answers.push(answer.map_err(|e| e.code()));
    }
    assert_eq!(
        answers,
        [Ok(()), Ok(()), Err("rate_limited"), Err("rate_limited")],
    );
    assert_eq!(f.codes_sent(), 2);
    // From another client, the taken number's own budget still refuses it, as a free one's.
    let other = std::net::IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 40));
    for (i, number) in ["13800138040", "13800138041"].iter().enumerate() {
        let s = f.start().await;
        f.scan(&s, &new_user(&format!("o-elsewhere-{i}"))).await;
        let again = f
            .login
            .send_code(&s.id, &s.browser_secret, number, other, now)
            .await;
        assert!(
            matches!(again, Err(LoginError::RateLimited { .. })),
            "{number}: {again:?}"
        );
    }
}

#[tokio::test]
async fn national_prefixes_and_extra_digits_are_not_new_numbers() {
    let (f, s) = at_need_phone("o-spelling").await;
    taken(&f, "o-holder", "13700009999").await;
    for (typed, reason) in [
        ("+86 0137 0000 9999", "has a 0 after the country code"),
        ("0086 013700009999", "has a 0 after the country code"),
        ("+86 13700009999 0", "is not a Chinese mobile number"),
        ("+86 1370000999 99", "is not a Chinese mobile number"),
        ("013700009999", "has 12 digits"),
    ] {
        let refused = f
            .login
            .send_code(&s.id, &s.browser_secret, typed, TEST_IP, unix_now())
            .await;
        let Err(err) = refused else {
            panic!("{typed}: expected bad_phone, got {refused:?}");
        };
        assert_eq!(err.code(), "bad_phone", "{typed}");
        assert!(
            err.to_string()
                .starts_with(&format!("the phone number {reason}")),
            "{typed}: {err}"
        );
    }
    assert_eq!(f.codes_sent(), 0);
}

#[tokio::test]
async fn no_log_line_holds_a_full_phone_number() {
    let limits = crate::config::Limits {
        sms_per_phone_per_hour: Some(1),
        ..crate::config::Limits::default()
    };
    let f = fixture_with(Options {
        limits,
        ..Options::default()
    })
    .await;
    taken(&f, "o-known", "13800138050").await;
    let logs = crate::login::test_logs::capture();
    let now = unix_now();
    // A code, a wrong try, the refusal of a taken number, the SMS provider failing, and a
    // rate-limited number: every log line the phone step writes.
    let s = f.start().await;
    f.scan(&s, &new_user("o-logged")).await;
    f.login
        .send_code(&s.id, &s.browser_secret, "13800138050", TEST_IP, now)
        .await
        .unwrap();
    let code = f.last_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let _ = f
        .login
        .bind_phone(&s.id, &s.browser_secret, "13800138050", wrong, now)
        .await;
    let _ = f
        .login
        .bind_phone(&s.id, &s.browser_secret, "13800138050", &code, now)
        .await;
    f.fail_sms(true);
    let later = now + keys::RESEND_COOLDOWN_SECONDS;
    let failed = f
        .login
        .send_code(&s.id, &s.browser_secret, "13800138051", TEST_IP, later)
        .await;
    assert!(matches!(failed, Err(LoginError::Sms(_))), "{failed:?}");
    f.fail_sms(false);
    let limited = f
        .login
        .send_code(&s.id, &s.browser_secret, "13800138050", TEST_IP, later)
        .await;
    assert!(
        matches!(limited, Err(LoginError::RateLimited { .. })),
        "{limited:?}"
    );
    f.bind(&s, "13800138052", later + keys::RESEND_COOLDOWN_SECONDS)
        .await;

    let text = logs.text();
    // The lines were written (this test can fail), with the numbers masked...
    for expected in [
        "phone code sent",
        "cannot send a phone code",
        "rate limit reached",
        "code refused by a rate limit",
        "phone bound",
        "+86138****8050",
        "+86138****8051",
        "+86138****8052",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    // ...and never in full, in any spelling.
    for number in ["13800138050", "13800138051", "13800138052", "138001380"] {
        assert!(!text.contains(number), "{number} in:\n{text}");
    }
}

#[tokio::test]
async fn a_number_taken_meanwhile_is_refused_at_bind() {
    let (f, s) = at_need_phone("o-slowpoke").await;
    let now = unix_now();
    f.login
        .send_code(&s.id, &s.browser_secret, "13800138019", TEST_IP, now)
        .await
        .unwrap();
    let code = f.last_code();
    f.users
        .register(
            APP_ID,
            &OpenId::new("o-quick"),
            None,
            Some(&phone("13800138019")),
            now,
        )
        .await
        .unwrap();
    let bound = f
        .login
        .bind_phone(&s.id, &s.browser_secret, "13800138019", &code, now)
        .await;
    assert!(matches!(bound, Err(LoginError::PhoneTaken)), "{bound:?}");
    assert!(
        f.users
            .find_by_openid(APP_ID, &OpenId::new("o-slowpoke"))
            .await
            .unwrap()
            .is_none(),
        "nobody was created"
    );
    assert_eq!(
        f.status(&s).await.status,
        Status::NeedPhone,
        "another number may be tried"
    );
}

#[tokio::test]
async fn phone_steps_need_the_need_phone_state() {
    let f = fixture().await;
    let s = f.start().await;
    let early = f
        .login
        .send_code(&s.id, &s.browser_secret, "13800138020", TEST_IP, unix_now())
        .await;
    assert!(matches!(early, Err(LoginError::WrongState)), "{early:?}");
    f.scan(&s, &new_user("o-twice")).await;
    let ticket = f.bind(&s, "13800138020", unix_now()).await;
    assert!(!ticket.is_empty());
    let twice = f
        .login
        .send_code(
            &s.id,
            &s.browser_secret,
            "13800138020",
            TEST_IP,
            unix_now() + 120,
        )
        .await;
    assert!(matches!(twice, Err(LoginError::WrongState)), "{twice:?}");
}

#[tokio::test]
async fn the_phone_step_outlives_the_qr_code() {
    let (f, s) = at_need_phone("o-typist").await;
    // Past the QR code's lifetime, inside the phone step's.
    let later = unix_now() + u64::from(QR_EXPIRE) + 60;
    assert_eq!(
        f.login
            .poll(&s.id, &s.browser_secret, None, Duration::ZERO, later)
            .await
            .unwrap()
            .status,
        Status::NeedPhone
    );
    f.bind(&s, "13800138021", later).await;
    let too_late = unix_now() + keys::PHONE_STEP_SECONDS + 1;
    let (f, s) = at_need_phone("o-sleeper").await;
    let expired = f
        .login
        .send_code(&s.id, &s.browser_secret, "13800138022", TEST_IP, too_late)
        .await;
    assert!(matches!(expired, Err(LoginError::Expired)), "{expired:?}");
}
