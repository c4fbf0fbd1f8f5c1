//! `login.phone_countries`: numbers of other countries are refused for codes and binding,
//! before anything is sent or counted; listed ones go through.

use super::*;

const US: &str = "+1 415 555 0100";

async fn at_need_phone(options: Options, openid: &str) -> (Fixture, Started) {
    let f = fixture_with(options).await;
    let started = f.start().await;
    f.scan(&started, &new_user(openid)).await;
    (f, started)
}

fn assert_not_accepted<T: std::fmt::Debug>(result: Result<T>, accepted: &str) {
    match result {
        Err(e @ LoginError::BadPhone(_)) => {
            assert_eq!(e.code(), "bad_phone");
            assert_eq!(
                e.to_string(),
                format!("the phone number has country code +1, which is not accepted here (accepted: {accepted})")
            );
        }
        other => panic!("expected bad_phone, got {other:?}"),
    }
}

#[tokio::test]
async fn a_number_of_an_unlisted_country_gets_no_code_and_costs_no_budget() {
    // One code per client per hour: a refused number must not use it up.
    let limits = crate::config::Limits {
        sms_per_ip_per_hour: Some(1),
        ..crate::config::Limits::default()
    };
    let options = Options {
        limits,
        ..Options::default()
    };
    let (f, s) = at_need_phone(options, "o-abroad").await;
    let now = unix_now();
    for _ in 0..3 {
        let sent = f
            .login
            .send_code(&s.id, &s.browser_secret, US, TEST_IP, now)
            .await;
        assert_not_accepted(sent, "+86");
    }
    assert_eq!(f.codes_sent(), 0);
    assert_eq!(f.funnel("code_sent"), 0);
    // The budget and the cooldown are untouched: a Chinese number gets its code at once.
    f.login
        .send_code(&s.id, &s.browser_secret, "13800138050", TEST_IP, now)
        .await
        .unwrap();
    assert_eq!(f.codes_sent(), 1);
}

#[tokio::test]
async fn binding_refuses_an_unlisted_country_without_costing_a_try() {
    let (f, s) = at_need_phone(Options::default(), "o-abroad-bind").await;
    let now = unix_now();
    f.login
        .send_code(&s.id, &s.browser_secret, "13800138051", TEST_IP, now)
        .await
        .unwrap();
    let code = f.last_code();
    let bound = f
        .login
        .bind_phone(&s.id, &s.browser_secret, US, &code, now)
        .await;
    assert_not_accepted(bound, "+86");
    let record = f.store.get(&keys::code(&s.id)).await.unwrap().unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["tries"], 0);
    // The code still binds the number it went to.
    f.login
        .bind_phone(&s.id, &s.browser_secret, "13800138051", &code, now)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_listed_country_is_texted_and_bound() {
    let options = Options {
        phone_countries: &["86", "1"],
        ..Options::default()
    };
    let (f, s) = at_need_phone(options, "o-abroad-listed").await;
    let ticket = f.bind(&s, US, unix_now()).await;
    assert_eq!(f.last_number(), phone("+14155550100"));
    let session = f
        .login
        .exchange(&ticket, &s.browser_secret, unix_now())
        .await
        .unwrap();
    assert_eq!(session.identity.phone, Some(phone("+14155550100")));
    // Listing +1 does not let in a third country.
    let (f, s) = at_need_phone(options, "o-abroad-hk").await;
    let sent = f
        .login
        .send_code(
            &s.id,
            &s.browser_secret,
            "+852 6123 4567",
            TEST_IP,
            unix_now(),
        )
        .await;
    let Err(e) = sent else {
        panic!("+852 was accepted");
    };
    assert_eq!(
        e.to_string(),
        "the phone number has country code +852, which is not accepted here (accepted: +86, +1)"
    );
}
