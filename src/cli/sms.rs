//! `scangate sms test --phone N`: one code, random and good for nothing, through the
//! configured SMS provider, and the provider's answer in plain words: sent, refused (with
//! its code, its message and what it means), or unreachable.
//!
//! Exit codes: 0 sent, 1 refused or unreachable, 64 a number the gateway would not take.

use rand::rngs::OsRng;
use rand::Rng;

use super::{runtime, EXIT_CONFIG, EXIT_OK, EXIT_REFUSED};
use crate::config::Config;
use crate::identity::Phone;
use crate::sms::{self, LimitWindow, RefusalKind, Sent, SmsError};

/// `scangate sms test`.
pub fn test(config: &Config, phone: &str) -> u8 {
    let phone = match Phone::parse(phone) {
        Ok(phone) => phone,
        Err(e) => {
            eprintln!("--phone: the phone number {e}");
            return EXIT_CONFIG;
        }
    };
    if let Err(e) = config.login.phone_countries.admit(&phone) {
        eprintln!("--phone: the phone number {e} (login.phone_countries)");
        return EXIT_CONFIG;
    }
    let sender = match sms::from_config(&config.login) {
        Ok(sender) => sender,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_REFUSED;
        }
    };
    // A code like the real ones, so that the template fills as it will; it signs nobody
    // in, and is not printed (codes never are).
    let code = format!("{:06}", OsRng.gen_range(0..1_000_000u32));
    let outcome = match runtime() {
        Ok(rt) => rt.block_on(sender.send(&phone, &code)),
        Err(e) => {
            eprintln!("{e}");
            return EXIT_REFUSED;
        }
    };
    println!("provider: {}", sender.describe());
    println!("phone:    {}", phone.masked());
    println!("{}", verdict(&outcome));
    if outcome.is_ok() {
        EXIT_OK
    } else {
        EXIT_REFUSED
    }
}

/// The `result:` line, and for a refusal a `meaning:` line.
fn verdict(outcome: &Result<Sent, SmsError>) -> String {
    match outcome {
        Ok(sent) => {
            let request = match &sent.request_id {
                Some(id) => format!(" (request {id})"),
                None => String::new(),
            };
            format!(
                "result:   sent: the provider accepted a test code{request}; it should reach \
                 the phone within a minute"
            )
        }
        Err(SmsError::Refused(r)) => {
            format!(
                "result:   refused: {r}\nmeaning:  {}",
                meaning(r.kind, r.explanation)
            )
        }
        Err(e @ (SmsError::Transport(_) | SmsError::Timeout)) => format!(
            "result:   unreachable: {e}\nmeaning:  check login.sms.endpoint (or url) and this \
             server's outgoing network"
        ),
        Err(e) => format!(
            "result:   failed: {e}\nmeaning:  the provider's answer is not what its API gives; \
             check that login.sms.endpoint (or url) is the provider's address"
        ),
    }
}

fn meaning(kind: RefusalKind, explanation: Option<&'static str>) -> String {
    match (kind, explanation) {
        (_, Some(fix)) => fix.to_string(),
        (RefusalKind::NumberLimited(window), _) => {
            let within = match window {
                LimitWindow::ThirtySeconds => "half a minute",
                LimitWindow::Hour => "an hour",
                LimitWindow::Day => "a day",
                LimitWindow::Unspecified => "its windows (minute, hour, day)",
            };
            format!(
                "the provider's own limit of codes to this number within {within} is reached; \
                 people who hit it are told so (sms_limited). Test with another number, or \
                 raise the limit in the provider's console"
            )
        }
        (RefusalKind::NumberRefused, _) => "the provider cannot send to this number; people \
             who type it are asked for another (bad_phone)"
            .to_string(),
        _ => "a code this gateway has no explanation for: the provider's message above says \
              what went wrong; people are told the code could not be sent (sms_unavailable)"
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sms::Refusal;

    fn refused(code: &str, kind: RefusalKind, explanation: Option<&'static str>) -> String {
        verdict(&Err(SmsError::Refused(Refusal {
            provider: "tencent",
            code: code.into(),
            message: "the provider's words".into(),
            request_id: Some("req-1".into()),
            kind,
            explanation,
        })))
    }

    #[test]
    fn each_outcome_reads_in_plain_words() {
        let sent = verdict(&Ok(Sent {
            request_id: Some("req-0".into()),
        }));
        assert!(
            sent.starts_with("result:   sent") && sent.contains("req-0"),
            "{sent}"
        );

        let limited = refused(
            "LimitExceeded.PhoneNumberDailyLimit",
            RefusalKind::NumberLimited(LimitWindow::Day),
            None,
        );
        assert!(limited.contains("refused: tencent refused the SMS: LimitExceeded.PhoneNumberDailyLimit: the provider's words (request req-1)"), "{limited}");
        assert!(limited.contains("within a day"), "{limited}");

        let setup = refused(
            "AuthFailure.SignatureFailure",
            RefusalKind::Configuration,
            Some("copy the SecretKey again"),
        );
        assert!(
            setup.ends_with("meaning:  copy the SecretKey again"),
            "{setup}"
        );

        let down = verdict(&Err(SmsError::Timeout));
        assert!(down.starts_with("result:   unreachable"), "{down}");
        let odd = verdict(&Err(SmsError::Decode("not JSON".into())));
        assert!(odd.starts_with("result:   failed"), "{odd}");
    }
}
