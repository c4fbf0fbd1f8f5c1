//! Mini Program logins: the code on the computer, the page's calls from the phone (over the
//! fake WeChat), and what the computer's poll sees.

use std::net::{IpAddr, Ipv4Addr};

use tokio::task::JoinSet;

use super::mp_fake::PNG;
use super::*;
use crate::identity::{Identity, UnionId};

const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

async fn mp_fixture(phone: PhonePolicy) -> Fixture {
    fixture_with(Options {
        phone,
        mini_program: true,
        ..Options::default()
    })
    .await
}

impl Fixture {
    /// A new Mini Program attempt from a browser without a binding cookie.
    async fn start_mp(&self) -> Started {
        self.login
            .start(LoginMethod::MiniProgram, "/app".into(), TEST_IP, unix_now())
            .await
            .unwrap()
    }

    /// The scene WeChat was asked to put in the attempt's code: what the phone reads.
    fn scene(&self, started: &Started) -> SceneId {
        let requests = self.mp.requests();
        let request = requests
            .iter()
            .find(|r| r.scene == started.id.as_str())
            .expect("a code was made for the attempt");
        SceneId::new(request.scene.clone())
    }

    /// The page confirms as `openid` (unionid `union-{openid}`), with a phone code for
    /// `number` if given.
    async fn mp_confirm(
        &self,
        started: &Started,
        openid: &str,
        number: Option<&str>,
    ) -> Result<MpConfirmed> {
        let unionid = format!("union-{openid}");
        let js_code = self.mp.login_code(openid, Some(&unionid));
        let phone_code = number.map(|n| self.mp.phone_code(n));
        self.login
            .mp_confirm(
                &self.scene(started),
                &js_code,
                phone_code.as_deref(),
                IP,
                unix_now(),
            )
            .await
    }

    /// Exchanges the ticket the computer's poll sees.
    async fn exchange_polled(&self, started: &Started) -> Identity {
        let view = self.status(started).await;
        assert_eq!(view.status, Status::Confirmed);
        self.login
            .exchange(
                view.ticket.as_deref().unwrap(),
                &started.browser_secret,
                unix_now(),
            )
            .await
            .unwrap()
            .identity
    }
}

fn mp_funnel(f: &Fixture, outcome: &str) -> u64 {
    f.funnel_of("mini_program", outcome)
}

fn assert_scene_invalid<T: std::fmt::Debug>(result: Result<T>, what: &str) {
    match result {
        Err(e @ LoginError::SceneInvalid) => {
            assert_eq!(e.code(), "invalid_scene", "{what}");
            assert_eq!(
                e.to_string(),
                "this login code is no longer valid; scan the code on the computer again",
                "{what}"
            );
        }
        other => panic!("{what}: expected invalid_scene, got {other:?}"),
    }
}

#[tokio::test]
async fn a_new_user_who_shares_the_phone_number_is_confirmed_without_an_sms() {
    let f = mp_fixture(PhonePolicy::Required).await;
    let started = f.start_mp().await;
    assert_eq!(started.qr_content, "", "the browser shows the image");
    assert_eq!(
        f.mp.requests(),
        [mp_fake::CodeRequest {
            scene: started.id.to_string(),
            page: MP_PAGE.into(),
            env_version: "trial".into(),
            check_path: false,
            width: 430,
        }]
    );
    let image = f
        .login
        .qr_image(&started.id, &started.browser_secret, unix_now())
        .await
        .unwrap();
    assert_eq!(
        (image.bytes.as_slice(), image.content_type),
        (PNG, "image/png")
    );
    assert_eq!(f.status(&started).await.status, Status::Waiting);

    let scene = f.scene(&started);
    f.login.mp_scanned(&scene, IP, unix_now()).await.unwrap();
    assert_eq!(f.status(&started).await.status, Status::Scanned);

    let unionid = "union-mp-new";
    let js_code = f.mp.login_code("mp-new", Some(unionid));
    let phone_code = f.mp.phone_code("13800138010");
    let confirmed = f
        .login
        .mp_confirm(&scene, &js_code, Some(&phone_code), IP, unix_now())
        .await
        .unwrap();
    assert_eq!(confirmed.status, Status::Confirmed);
    assert_eq!(
        f.mp.phone_openids(),
        ["mp-new"],
        "WeChat is told whose press the phone code must be"
    );

    let identity = f.exchange_polled(&started).await;
    assert_eq!(identity.method, LoginMethod::MiniProgram);
    assert_eq!(identity.openid, Some(OpenId::new("mp-new")));
    assert_eq!(identity.unionid, Some(UnionId::new(unionid)));
    assert_eq!(identity.phone, Some(phone("13800138010")));
    assert_eq!(f.codes_sent(), 0, "a WeChat-verified number needs no SMS");
    let user = f.users.get(&identity.user_id).await.unwrap().unwrap();
    assert_eq!(user.openid(MP_APP_ID), Some(&OpenId::new("mp-new")));
    assert!(user.last_login_at.is_some());

    // The codes the phone sent are nowhere in the attempt.
    let raw = f.store.get(&keys::attempt(&started.id)).await.unwrap();
    let raw = String::from_utf8(raw.unwrap()).unwrap();
    assert!(
        !raw.contains(&js_code) && !raw.contains(&phone_code),
        "{raw}"
    );

    for outcome in ["started", "scanned", "confirmed", "exchanged"] {
        assert_eq!(mp_funnel(&f, outcome), 1, "{outcome}");
    }
    assert_eq!(f.funnel("started"), 0, "counted under its own method");
}

#[tokio::test]
async fn without_the_phone_number_the_computer_takes_the_sms_way() {
    let f = mp_fixture(PhonePolicy::Required).await;
    let started = f.start_mp().await;
    // The page went straight to confirming: the funnel still counts the scan.
    let confirmed = f.mp_confirm(&started, "mp-sms", None).await.unwrap();
    assert_eq!(confirmed.status, Status::NeedPhone);
    let view = f.status(&started).await;
    assert_eq!(view.status, Status::NeedPhone);
    assert!(!view.phone_skippable);
    assert_eq!(f.mp.phone_calls(), 0);

    f.bind(&started, "13800138011", unix_now()).await;
    assert_eq!(f.codes_sent(), 1);
    let identity = f.exchange_polled(&started).await;
    assert_eq!(identity.method, LoginMethod::MiniProgram);
    assert_eq!(identity.openid, Some(OpenId::new("mp-sms")));
    assert_eq!(identity.phone, Some(phone("13800138011")));
    let user = f.users.get(&identity.user_id).await.unwrap().unwrap();
    assert_eq!(user.openid(MP_APP_ID), Some(&OpenId::new("mp-sms")));
    assert_eq!(user.unionid, Some(UnionId::new("union-mp-sms")));
    for outcome in ["scanned", "need_phone", "phone_bound", "confirmed"] {
        assert_eq!(mp_funnel(&f, outcome), 1, "{outcome}");
    }
}

#[tokio::test]
async fn with_phone_off_a_new_user_is_confirmed_without_a_number() {
    let f = mp_fixture(PhonePolicy::Off).await;
    let started = f.start_mp().await;
    let confirmed = f.mp_confirm(&started, "mp-off", None).await.unwrap();
    assert_eq!(confirmed.status, Status::Confirmed);
    let identity = f.exchange_polled(&started).await;
    assert_eq!(identity.phone, None);
}

#[tokio::test]
async fn when_wechat_cannot_tell_the_number_the_login_goes_on_without_it() {
    let f = mp_fixture(PhonePolicy::Required).await;
    f.mp.fail_phone(Some(-1));
    let started = f.start_mp().await;
    let confirmed = f
        .mp_confirm(&started, "mp-nonumber", Some("13800138012"))
        .await
        .unwrap();
    assert_eq!(confirmed.status, Status::NeedPhone, "the SMS way instead");
    assert_eq!(f.mp.phone_calls(), 1);
}

#[tokio::test]
async fn a_verified_number_of_an_unlisted_country_is_refused_as_a_typed_one() {
    let f = mp_fixture(PhonePolicy::Required).await;
    let started = f.start_mp().await;
    let refused = f
        .mp_confirm(&started, "mp-abroad", Some("+14155550100"))
        .await;
    match refused {
        Err(e @ LoginError::BadPhone(_)) => assert_eq!(
            e.to_string(),
            "the phone number has country code +1, which is not accepted here (accepted: +86)"
        ),
        other => panic!("expected bad_phone, got {other:?}"),
    }
    // Nothing changed: the page may confirm again, without the number.
    assert_eq!(f.status(&started).await.status, Status::Waiting);
    assert!(f
        .users
        .find_by_unionid(&UnionId::new("union-mp-abroad"))
        .await
        .unwrap()
        .is_none());
    let confirmed = f.mp_confirm(&started, "mp-abroad", None).await.unwrap();
    assert_eq!(confirmed.status, Status::NeedPhone);

    // Listed, the same number is bound at once.
    let f = fixture_with(Options {
        mini_program: true,
        phone_countries: &["86", "1"],
        ..Options::default()
    })
    .await;
    let started = f.start_mp().await;
    let confirmed = f
        .mp_confirm(&started, "mp-abroad", Some("+14155550100"))
        .await
        .unwrap();
    assert_eq!(confirmed.status, Status::Confirmed);
    let identity = f.exchange_polled(&started).await;
    assert_eq!(identity.phone, Some(phone("+14155550100")));
}

#[tokio::test]
async fn the_polls_see_scanned_and_cancelled_at_once() {
    let f = mp_fixture(PhonePolicy::Required).await;
    let started = f.start_mp().await;
    let scene = f.scene(&started);
    let wait_for = |since: Status| {
        let login = f.login.clone();
        let (id, browser) = (started.id.clone(), started.browser_secret.clone());
        tokio::spawn(async move {
            login
                .poll(
                    &id,
                    &browser,
                    Some(since),
                    Duration::from_secs(25),
                    unix_now(),
                )
                .await
        })
    };
    let gauge = &f.metrics.longpolls_waiting;
    let waiting_polls = |n| async move {
        while gauge.get() != n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };

    let poll = wait_for(Status::Waiting);
    waiting_polls(1).await;
    f.login.mp_scanned(&scene, IP, unix_now()).await.unwrap();
    // The poll asked for 25 s; the notification must wake it right away.
    let view = tokio::time::timeout(Duration::from_millis(500), poll)
        .await
        .expect("the poll wakes on scanned")
        .unwrap()
        .unwrap();
    assert_eq!(view.status, Status::Scanned);

    // Opening the page again changes nothing.
    f.login.mp_scanned(&scene, IP, unix_now()).await.unwrap();
    assert_eq!(f.attempt(&started.id).await.version, 2);
    assert_eq!(mp_funnel(&f, "scanned"), 1);

    let poll = wait_for(Status::Scanned);
    waiting_polls(1).await;
    f.login.mp_cancel(&scene, IP, unix_now()).await.unwrap();
    let view = tokio::time::timeout(Duration::from_millis(500), poll)
        .await
        .expect("the poll wakes on cancelled")
        .unwrap()
        .unwrap();
    assert_eq!((view.status, view.ticket), (Status::Cancelled, None));
    assert_eq!(mp_funnel(&f, "cancelled"), 1);
}

#[tokio::test]
async fn the_phone_may_cancel_while_the_computer_asks_for_a_number() {
    let f = mp_fixture(PhonePolicy::Required).await;
    let started = f.start_mp().await;
    f.mp_confirm(&started, "mp-regret", None).await.unwrap();
    f.login
        .mp_cancel(&f.scene(&started), IP, unix_now())
        .await
        .unwrap();
    assert_eq!(f.status(&started).await.status, Status::Cancelled);
}

#[tokio::test]
async fn an_expired_attempt_refuses_the_phone_and_its_image() {
    let f = mp_fixture(PhonePolicy::Off).await;
    let started = f.start_mp().await;
    assert_eq!(
        started.expires_at,
        unix_now() + keys::MINI_PROGRAM_SECONDS,
        "within the second"
    );
    let scene = f.scene(&started);
    let late = started.expires_at;
    // Opening or declining an expired code is answered as for a live one, and does nothing;
    // confirming (with a code WeChat vouches for) is told the code is no longer valid.
    f.login.mp_scanned(&scene, IP, late).await.unwrap();
    let js_code = f.mp.login_code("mp-late", None);
    assert_scene_invalid(
        f.login.mp_confirm(&scene, &js_code, None, IP, late).await,
        "confirm",
    );
    f.login.mp_cancel(&scene, IP, late).await.unwrap();
    assert_eq!(mp_funnel(&f, "scanned"), 0);
    assert_eq!(mp_funnel(&f, "cancelled"), 0);
    let image = f
        .login
        .qr_image(&started.id, &started.browser_secret, late)
        .await;
    assert!(matches!(image, Err(LoginError::Expired)), "{image:?}");
    let view = f
        .login
        .poll(
            &started.id,
            &started.browser_secret,
            None,
            Duration::ZERO,
            late,
        )
        .await
        .unwrap();
    assert_eq!(view.status, Status::Expired);
    // The page asks wx.login for a new code on every tap: the next code on time works.
    let on_time = f.start_mp().await;
    let js_code = f.mp.login_code("mp-late", None);
    let confirmed = f
        .login
        .mp_confirm(&f.scene(&on_time), &js_code, None, IP, unix_now())
        .await
        .unwrap();
    assert_eq!(confirmed.status, Status::Confirmed);
}

#[tokio::test]
async fn one_person_through_both_methods_is_one_user() {
    let f = mp_fixture(PhonePolicy::Required).await;
    // First through the Official Account (the simulator gives unionid `union-o-both`).
    let oa = f.start().await;
    f.scan(&oa, &new_user("o-both")).await;
    let ticket = f.bind(&oa, "13800138013", unix_now()).await;
    let first = f
        .login
        .exchange(&ticket, &oa.browser_secret, unix_now())
        .await
        .unwrap()
        .identity;

    // Then through the Mini Program: another app, another openid, the same unionid.
    let mp = f.start_mp().await;
    let js_code = f.mp.login_code("mp-both", Some("union-o-both"));
    let phone_code = f.mp.phone_code("13800138013");
    let confirmed = f
        .login
        .mp_confirm(&f.scene(&mp), &js_code, Some(&phone_code), IP, unix_now())
        .await
        .unwrap();
    assert_eq!(confirmed.status, Status::Confirmed, "known: no phone step");
    assert_eq!(f.mp.phone_calls(), 0, "the user has a number: not asked");
    let second = f.exchange_polled(&mp).await;
    assert_eq!(second.user_id, first.user_id);
    assert_eq!(second.openid, Some(OpenId::new("mp-both")));
    assert_eq!(second.method, LoginMethod::MiniProgram);
    assert_eq!(second.phone, Some(phone("13800138013")));

    let user = f.users.get(&first.user_id).await.unwrap().unwrap();
    assert_eq!(user.openid(APP_ID), Some(&OpenId::new("o-both")));
    assert_eq!(user.openid(MP_APP_ID), Some(&OpenId::new("mp-both")));
    let by_mp = f
        .users
        .find_by_openid(MP_APP_ID, &OpenId::new("mp-both"))
        .await
        .unwrap();
    assert_eq!(by_mp.map(|u| u.id), Some(first.user_id));
    assert_eq!(f.codes_sent(), 1, "only the first login's");
}

#[tokio::test]
async fn a_known_user_without_a_number_gets_the_verified_one() {
    let f = mp_fixture(PhonePolicy::Required).await;
    let existing = f
        .users
        .register(MP_APP_ID, &OpenId::new("mp-known"), None, None, unix_now())
        .await
        .unwrap();
    let started = f.start_mp().await;
    let confirmed = f
        .mp_confirm(&started, "mp-known", Some("+8613800138014"))
        .await
        .unwrap();
    assert_eq!(confirmed.status, Status::Confirmed);
    let identity = f.exchange_polled(&started).await;
    assert_eq!(identity.user_id, existing.id);
    assert_eq!(identity.phone, Some(phone("13800138014")));
}

#[tokio::test]
async fn a_verified_number_of_another_user_is_taken() {
    let f = mp_fixture(PhonePolicy::Required).await;
    f.users
        .register(
            APP_ID,
            &OpenId::new("o-owner"),
            None,
            Some(&phone("13800138015")),
            unix_now(),
        )
        .await
        .unwrap();
    let started = f.start_mp().await;
    let taken = f
        .mp_confirm(&started, "mp-thief", Some("13800138015"))
        .await;
    assert!(matches!(taken, Err(LoginError::PhoneTaken)), "{taken:?}");
    assert_eq!(f.status(&started).await.status, Status::Waiting);
    let nobody = f
        .users
        .find_by_openid(MP_APP_ID, &OpenId::new("mp-thief"))
        .await
        .unwrap();
    assert!(nobody.is_none(), "a refused number creates nobody");
    // Without the number the page can go on, and the computer asks for another.
    let confirmed = f.mp_confirm(&started, "mp-thief", None).await.unwrap();
    assert_eq!(confirmed.status, Status::NeedPhone);
}

#[tokio::test]
async fn a_disabled_user_is_refused_and_the_attempt_cancelled() {
    let f = mp_fixture(PhonePolicy::Off).await;
    let user = f
        .users
        .register(MP_APP_ID, &OpenId::new("mp-banned"), None, None, unix_now())
        .await
        .unwrap();
    f.users.set_disabled(&user.id, true).await.unwrap();
    let started = f.start_mp().await;
    let refused = f.mp_confirm(&started, "mp-banned", None).await;
    assert!(matches!(refused, Err(LoginError::Disabled)), "{refused:?}");
    assert_eq!(f.status(&started).await.status, Status::Cancelled);
}

#[tokio::test]
async fn no_answer_tells_whether_a_scene_names_a_live_login() {
    let f = mp_fixture(PhonePolicy::Off).await;
    let oa = f.start().await;
    let confirmed = f.start_mp().await;
    f.mp_confirm(&confirmed, "mp-done", None).await.unwrap();
    let cancelled = f.start_mp().await;
    f.login
        .mp_cancel(&SceneId::of(&cancelled.id), IP, unix_now())
        .await
        .unwrap();
    assert_eq!(mp_funnel(&f, "cancelled"), 1);
    let scenes = [
        ("unknown", SceneId::new("AAAAAAAAAAAAAAAAAAAAAA")),
        ("not a token", SceneId::new("../../etc/passwd")),
        ("empty", SceneId::new("")),
        ("official account attempt", SceneId::of(&oa.id)),
        ("confirmed", SceneId::of(&confirmed.id)),
        ("cancelled", SceneId::of(&cancelled.id)),
    ];
    let made_up = "js000000000000000000000000000999";
    for (what, scene) in &scenes {
        let now = unix_now();
        // Opening and declining: the answer a live scene gets, and nothing happens.
        f.login.mp_scanned(scene, IP, now).await.unwrap();
        f.login.mp_cancel(scene, IP, now).await.unwrap();
        // Confirming with a code WeChat refuses: the answer a live scene gets too.
        let refused = f.login.mp_confirm(scene, made_up, None, IP, now).await;
        assert!(
            matches!(refused, Err(LoginError::MpCodeInvalid)),
            "{what}: {refused:?}"
        );
        // Only a caller WeChat vouches for learns that the scene is not a live login.
        let js_code = f.mp.login_code("mp-probe", None);
        let confirm = f.login.mp_confirm(scene, &js_code, None, IP, now).await;
        assert_scene_invalid(confirm, what);
    }
    assert_eq!(f.status(&oa).await.status, Status::Waiting, "untouched");
    assert_eq!(f.status(&confirmed).await.status, Status::Confirmed);
    assert_eq!(f.status(&cancelled).await.status, Status::Cancelled);
    assert_eq!(mp_funnel(&f, "scanned"), 1, "only the real confirmation");
    assert_eq!(mp_funnel(&f, "cancelled"), 1, "only the real cancel");
    let nobody = f
        .users
        .find_by_openid(MP_APP_ID, &OpenId::new("mp-probe"))
        .await
        .unwrap();
    assert!(nobody.is_none(), "a refused confirmation registers nobody");

    // A live scene gets the same answers to opening and to a made-up code.
    let live = f.start_mp().await;
    let scene = f.scene(&live);
    let refused = f
        .login
        .mp_confirm(&scene, made_up, None, IP, unix_now())
        .await;
    assert!(
        matches!(refused, Err(LoginError::MpCodeInvalid)),
        "{refused:?}"
    );
    f.login.mp_scanned(&scene, IP, unix_now()).await.unwrap();
    assert_eq!(f.status(&live).await.status, Status::Scanned);
    f.login.mp_cancel(&scene, IP, unix_now()).await.unwrap();
    assert_eq!(f.status(&live).await.status, Status::Cancelled);

    // Without the Mini Program configured, every call is refused alike.
    let bare = fixture().await;
    let s = bare.start().await;
    assert_scene_invalid(
        bare.login
            .mp_scanned(&SceneId::of(&s.id), IP, unix_now())
            .await,
        "bare",
    );
    assert_scene_invalid(
        bare.login
            .mp_cancel(&SceneId::of(&s.id), IP, unix_now())
            .await,
        "bare",
    );
    assert_scene_invalid(
        bare.login
            .mp_confirm(&SceneId::of(&s.id), made_up, None, IP, unix_now())
            .await,
        "bare",
    );
}

#[tokio::test]
async fn a_replayed_or_unknown_code_is_the_callers_error() {
    let f = mp_fixture(PhonePolicy::Off).await;
    let first = f.start_mp().await;
    let js_code = f.mp.login_code("mp-replay", None);
    f.login
        .mp_confirm(&f.scene(&first), &js_code, None, IP, unix_now())
        .await
        .unwrap();

    let second = f.start_mp().await;
    let scene = f.scene(&second);
    for (what, code) in [
        ("replayed", js_code.as_str()),
        ("never issued", "js000000000000000000000000000999"),
        ("not a code", "a b"),
    ] {
        let replayed = f.login.mp_confirm(&scene, code, None, IP, unix_now()).await;
        match replayed {
            Err(e @ LoginError::MpCodeInvalid) => assert_eq!(e.code(), "invalid_code", "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    // A replayed phone code too.
    let phone_code = f.mp.phone_code("13800138016");
    let third = f.start_mp().await;
    let js = f.mp.login_code("mp-phone-1", None);
    f.login
        .mp_confirm(&f.scene(&third), &js, Some(&phone_code), IP, unix_now())
        .await
        .unwrap();
    let js = f.mp.login_code("mp-phone-2", None);
    let replayed = f
        .login
        .mp_confirm(&scene, &js, Some(&phone_code), IP, unix_now())
        .await;
    assert!(
        matches!(replayed, Err(LoginError::MpCodeInvalid)),
        "{replayed:?}"
    );
    // The attempt is untouched: the page can ask the user again.
    assert_eq!(f.status(&second).await.status, Status::Waiting);
    let confirmed = f.mp_confirm(&second, "mp-replay", None).await.unwrap();
    assert_eq!(confirmed.status, Status::Confirmed);
}

#[tokio::test]
async fn the_page_calls_are_rate_limited_per_client_address() {
    let f = mp_fixture(PhonePolicy::Off).await;
    let started = f.start_mp().await;
    let scene = f.scene(&started);
    let now = unix_now();
    let window = crate::login::limits::MINUTE;
    let budget = crate::config::Limits::default()
        .mini_program_per_ip_per_minute
        .unwrap();
    // Every kind of call counts, found scene or not.
    f.login.mp_scanned(&scene, IP, now).await.unwrap();
    for _ in 1..budget {
        let probe = f
            .login
            .mp_cancel(&SceneId::new("AAAAAAAAAAAAAAAAAAAAAA"), IP, now)
            .await;
        assert!(probe.is_ok(), "{probe:?}");
    }
    let limited = f.login.mp_scanned(&scene, IP, now).await;
    match limited {
        Err(LoginError::RateLimited {
            retry_after_seconds,
        }) => assert_eq!(retry_after_seconds, window - now % window),
        other => panic!("{other:?}"),
    }
    let js_code = f.mp.login_code("mp-limited", None);
    let limited = f.login.mp_confirm(&scene, &js_code, None, IP, now).await;
    assert!(
        matches!(limited, Err(LoginError::RateLimited { .. })),
        "{limited:?}"
    );

    // Another address has its own budget...
    let other = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    f.login.mp_scanned(&scene, other, now).await.unwrap();
    // ...and the next window gives this one a new one; the code was not spent.
    let next = now - now % window + window;
    let confirmed = f
        .login
        .mp_confirm(&scene, &js_code, None, IP, next)
        .await
        .unwrap();
    assert_eq!(confirmed.status, Status::Confirmed);
}

#[tokio::test]
async fn confirming_twice_applies_once() {
    let f = mp_fixture(PhonePolicy::Off).await;
    let started = f.start_mp().await;
    let scene = f.scene(&started);
    let mut confirms = JoinSet::new();
    for _ in 0..6 {
        let login = f.login.clone();
        let scene = scene.clone();
        let js_code = f.mp.login_code("mp-twice", Some("union-mp-twice"));
        confirms.spawn(async move {
            login
                .mp_confirm(&scene, &js_code, None, IP, unix_now())
                .await
        });
    }
    let mut applied = 0;
    while let Some(outcome) = confirms.join_next().await {
        match outcome.unwrap() {
            Ok(confirmed) => {
                assert_eq!(confirmed.status, Status::Confirmed);
                applied += 1;
            }
            refused => assert_scene_invalid(refused, "a racing confirmation"),
        }
    }
    assert_eq!(applied, 1);
    assert_eq!(mp_funnel(&f, "confirmed"), 1);
    assert_eq!(
        f.attempt(&started.id).await.version,
        2,
        "waiting -> confirmed"
    );
    // Afterwards, too.
    let again = f.mp_confirm(&started, "mp-twice", None).await;
    assert_scene_invalid(again, "after");
    // The ticket the computer sees is the winner's, and works.
    let identity = f.exchange_polled(&started).await;
    assert_eq!(identity.openid, Some(OpenId::new("mp-twice")));
}

#[tokio::test]
async fn the_image_is_the_attempts_browsers_and_only_for_mini_program_attempts() {
    let f = mp_fixture(PhonePolicy::Off).await;
    let mp = f.start_mp().await;
    let oa = f.start().await;
    let now = unix_now();
    let stolen = f.login.qr_image(&mp.id, &oa.browser_secret, now).await;
    assert!(matches!(stolen, Err(LoginError::NotFound)), "{stolen:?}");
    let no_image = f.login.qr_image(&oa.id, &oa.browser_secret, now).await;
    assert!(
        matches!(no_image, Err(LoginError::NotFound)),
        "{no_image:?}"
    );
    let no_text = f.login.qr_content(&mp.id, &mp.browser_secret, now).await;
    assert!(matches!(no_text, Err(LoginError::NotFound)), "{no_text:?}");
    let no_ticket = f.login.wechat_ticket(&mp.id, &mp.browser_secret, now).await;
    assert!(
        matches!(no_ticket, Err(LoginError::NotFound)),
        "{no_ticket:?}"
    );

    f.mp.draw_codes_as(b"\xff\xd8\xff\xe0\0\x10JFIF fake");
    let jpeg = f.start_mp().await;
    let image = f
        .login
        .qr_image(&jpeg.id, &jpeg.browser_secret, now)
        .await
        .unwrap();
    assert_eq!(image.content_type, "image/jpeg");
}

#[tokio::test]
async fn wechat_failures_at_start_are_wechat_errors() {
    let f = mp_fixture(PhonePolicy::Off).await;
    f.mp.fail_next_code(41030);
    let refused = f
        .login
        .start(LoginMethod::MiniProgram, "/".into(), TEST_IP, unix_now())
        .await;
    assert_eq!(
        refused.unwrap_err().code(),
        "wechat_misconfigured",
        "41030: the page is not published"
    );
    // An error body taken for an image (pitfall 14) is caught too.
    f.mp.draw_codes_as(br#"{"errcode":40169,"errmsg":"invalid scene"}"#);
    let junk = f
        .login
        .start(LoginMethod::MiniProgram, "/".into(), TEST_IP, unix_now())
        .await;
    assert_eq!(junk.unwrap_err().code(), "wechat_unavailable");
    assert_eq!(mp_funnel(&f, "started"), 0);
}
