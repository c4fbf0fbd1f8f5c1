//! What can go wrong in the login flow, with a stable code for JSON and a text for users.

use crate::identity::PhoneError;
use crate::sms::{LimitWindow, RefusalKind, SmsError};
use crate::store;
use crate::users::UsersError;
use crate::wechat;

use super::state::{Status, TransitionError};

/// Why a login operation failed.
///
/// `Display` is written for the person at the browser; `code()` is the `error` field of the
/// JSON body. Neither ever contains a code, a ticket or a browser secret; the infrastructure
/// variants keep their cause as `source()` for logs only.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// No such attempt, or it belongs to another browser: deliberately the same answer, so an
    /// attempt id alone reveals nothing.
    #[error("this login attempt was not found; start again")]
    NotFound,
    /// The attempt exists but the browser sent no binding cookie for it: it did not keep the
    /// cookie its start set (cookies blocked for this site).
    #[error(
        "your browser did not keep the sign-in cookie; allow cookies for this site and try again"
    )]
    CookiesBlocked,
    /// The attempt's time is up.
    #[error("this login attempt has expired; start again")]
    Expired,
    /// The step does not fit where the attempt is (binding before a scan, skipping a required
    /// phone, binding twice...).
    #[error("this step is not possible at this point of the login")]
    WrongState,
    /// The phone number cannot be read; the reason says why.
    #[error("the phone number {0}")]
    BadPhone(PhoneError),
    /// The phone number belongs to another user.
    #[error("this phone number is already bound to another WeChat account")]
    PhoneTaken,
    /// The code does not match (or was sent to another number).
    #[error("the code is not correct; {tries_left} tries left")]
    InvalidCode { tries_left: u32 },
    /// Too many wrong codes: this code is dead.
    #[error("too many wrong codes; request a new code")]
    CodeDead,
    /// The code has expired, or none was sent.
    #[error("the code has expired; request a new code")]
    CodeExpired,
    /// A code was sent too recently (or too many to this number).
    #[error("please wait {retry_after_seconds} seconds before requesting another code")]
    RateLimited { retry_after_seconds: u64 },
    /// The ticket is unknown, used, expired or from another browser.
    #[error("this login link is no longer valid; log in again")]
    TicketInvalid,
    /// The login method is not configured.
    #[error("this login method is not available")]
    MethodUnavailable,
    /// A Mini Program page named a scene that is not a login it may act on: unknown, of the
    /// other method, expired, or already past the phone's part. Deliberately one answer, so
    /// scenes cannot be probed.
    #[error("this login code is no longer valid; scan the code on the computer again")]
    SceneInvalid,
    /// WeChat refused a Mini Program `wx.login` code or phone code: used, expired or made up.
    #[error("WeChat did not accept this authorisation; please try again")]
    MpCodeInvalid,
    /// SMS login with a number no user holds, and `login.sms_signup: false`. Said only after
    /// the right code proved the caller holds the number, so numbers cannot be probed.
    #[error("no account uses this phone number; sign in with WeChat first")]
    NoAccount,
    /// The user exists but is disabled.
    #[error("this account is disabled")]
    Disabled,
    /// WeChat's web authorization or website login came back without a sign-in; the
    /// refusal says why.
    #[error("{0}")]
    OAuth(OAuthRefusal),
    /// The Official Account's quota of codes is spent (for the day, or the minute) and there
    /// is no Mini Program to fail over to: logins start again at `until` (Unix seconds).
    #[error("signing in with WeChat is briefly unavailable; it is back at {} UTC", crate::login::quota::utc_hh_mm(*until))]
    Paused {
        until: u64,
        retry_after_seconds: u64,
    },
    /// Too many changes to one attempt at once. Safe to retry.
    #[error("the login is busy; try again")]
    Busy,
    /// A WeChat call failed for good: what the person is told follows its
    /// [`wechat::Impact`] (busy, not available here, or no answer).
    #[error("{}", wechat_text(.0))]
    Wechat(#[source] wechat::Error),
    #[error("the login service is temporarily unavailable; try again")]
    Store(#[source] store::Error),
    /// The SMS provider's own limit of codes to this number is reached (its limit, not
    /// ours: ours is [`LoginError::RateLimited`]).
    #[error("{}", limited_text(*window))]
    SmsLimited { window: LimitWindow },
    /// The SMS provider cannot send to this number (not a mobile number it knows, or one
    /// that has refused SMS). Said with the code of a bad number.
    #[error("the SMS provider cannot send a code to this number; check it, or use another")]
    SmsNumberRefused,
    /// The code could not be sent for any other reason (the provider down, or refusing
    /// because of the account's setup, which its log line explains).
    #[error("the code could not be sent; try again in a moment")]
    Sms(#[source] SmsError),
    #[error("the user directory is temporarily unavailable; try again")]
    Users(#[source] UsersError),
    /// A stored login record is not what this version writes.
    #[error("the login service is temporarily unavailable; try again")]
    Corrupt,
}

impl LoginError {
    /// The snake_case code of the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            LoginError::NotFound => "not_found",
            LoginError::CookiesBlocked => "cookies_blocked",
            LoginError::Expired => "expired",
            LoginError::WrongState => "wrong_state",
            LoginError::BadPhone(_) => "bad_phone",
            LoginError::PhoneTaken => "phone_taken",
            LoginError::InvalidCode { .. } => "invalid_code",
            LoginError::CodeDead => "code_dead",
            LoginError::CodeExpired => "code_expired",
            LoginError::RateLimited { .. } => "rate_limited",
            LoginError::TicketInvalid => "ticket_invalid",
            LoginError::MethodUnavailable => "method_unavailable",
            LoginError::SceneInvalid => "invalid_scene",
            // The same code as a wrong SMS code: either way the code offered is not good.
            LoginError::MpCodeInvalid => "invalid_code",
            LoginError::NoAccount => "no_account",
            LoginError::Disabled => "account_disabled",
            LoginError::OAuth(refusal) => refusal.code(),
            LoginError::Paused { .. } => "login_paused",
            LoginError::Busy => "busy",
            LoginError::Wechat(e) => match e.impact() {
                wechat::Impact::Busy { .. } => "wechat_busy",
                wechat::Impact::Misconfigured => "wechat_misconfigured",
                wechat::Impact::Unavailable => "wechat_unavailable",
            },
            LoginError::Store(_) => "store_unavailable",
            LoginError::SmsLimited { .. } => "sms_limited",
            // The same code as a number we refuse ourselves: either way, use another number.
            LoginError::SmsNumberRefused => "bad_phone",
            LoginError::Sms(_) => "sms_unavailable",
            LoginError::Users(_) => "users_unavailable",
            LoginError::Corrupt => "internal",
        }
    }
}

/// What the person is told when the provider's limit for the number is reached.
fn limited_text(window: LimitWindow) -> &'static str {
    match window {
        LimitWindow::ThirtySeconds => {
            "a code was sent to this number moments ago; wait half a minute before asking again"
        }
        LimitWindow::Hour => {
            "this number has received as many codes as the SMS provider allows in an hour; \
             try again later or use another number"
        }
        LimitWindow::Day => {
            "this number has received as many codes as the SMS provider allows in a day; \
             try again tomorrow or use another number"
        }
        LimitWindow::Unspecified => {
            "this number has received as many codes as the SMS provider allows for now; try \
             again later or use another number"
        }
    }
}

impl From<SmsError> for LoginError {
    /// A provider's refusal of the number becomes what the person can act on; every other
    /// failure is [`LoginError::Sms`].
    fn from(e: SmsError) -> Self {
        match &e {
            SmsError::Refused(r) => match r.kind {
                RefusalKind::NumberLimited(window) => LoginError::SmsLimited { window },
                RefusalKind::NumberRefused => LoginError::SmsNumberRefused,
                RefusalKind::Configuration | RefusalKind::Other => LoginError::Sms(e),
            },
            _ => LoginError::Sms(e),
        }
    }
}

/// Why a return from WeChat's authorize or qrconnect page signs nobody in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OAuthRefusal {
    /// No `code`: the person declined on WeChat's page.
    #[error("you did not allow signing in with WeChat")]
    Declined,
    /// A `state` we never issued, or one already used.
    #[error("this sign-in link is not valid or was already used; start again")]
    StateInvalid,
    /// The `state` outlived its ten minutes.
    #[error("this sign-in took too long; start again")]
    StateExpired,
    /// The `state` is bound to another browser (or this one did not keep its cookie).
    #[error("this sign-in was started in another browser, or this browser did not keep its cookie; start again here")]
    OtherBrowser,
    /// WeChat refused the code: expired, already used, or another app's (40029, 40163).
    #[error("WeChat did not accept this authorisation; start again")]
    CodeRefused,
    /// WeChat showed the page in snapshot mode (快照页): a virtual account, nobody's.
    #[error("WeChat opened the page in preview mode; tap 使用完整服务 (use the full service) and start again")]
    Snapshot,
}

impl OAuthRefusal {
    /// The error code the login page shows the reason by.
    pub fn code(self) -> &'static str {
        match self {
            OAuthRefusal::Declined => "oauth_declined",
            OAuthRefusal::StateInvalid => "oauth_state_invalid",
            OAuthRefusal::StateExpired => "oauth_state_expired",
            OAuthRefusal::OtherBrowser => "oauth_other_browser",
            OAuthRefusal::CodeRefused => "oauth_code_refused",
            OAuthRefusal::Snapshot => "oauth_snapshot",
        }
    }
}

impl From<store::Error> for LoginError {
    fn from(e: store::Error) -> Self {
        LoginError::Store(e)
    }
}

impl From<UsersError> for LoginError {
    fn from(e: UsersError) -> Self {
        match e {
            UsersError::PhoneTaken => LoginError::PhoneTaken,
            UsersError::Store(e) => LoginError::Store(e),
            other => LoginError::Users(other),
        }
    }
}

impl From<TransitionError> for LoginError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Expired | TransitionError::Final(Status::Expired) => {
                LoginError::Expired
            }
            TransitionError::Final(_) | TransitionError::NotAllowed { .. } => {
                LoginError::WrongState
            }
        }
    }
}

/// What the person is told of a WeChat failure: something true they can act on. The
/// operator's details (errcode, rid, what to fix) are in the log line the client wrote.
fn wechat_text(e: &wechat::Error) -> &'static str {
    match e.impact() {
        wechat::Impact::Busy { .. } => "WeChat is busy right now; try again in a few minutes",
        wechat::Impact::Misconfigured => {
            "signing in with WeChat is not available on this site right now"
        }
        wechat::Impact::Unavailable => "WeChat could not be reached; try again in a moment",
    }
}

/// The result of a login step.
pub type Result<T, E = LoginError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_and_texts_name_no_secret() {
        let all = [
            LoginError::NotFound,
            LoginError::CookiesBlocked,
            LoginError::Expired,
            LoginError::WrongState,
            LoginError::BadPhone(PhoneError::NotChineseMobile),
            LoginError::PhoneTaken,
            LoginError::InvalidCode { tries_left: 3 },
            LoginError::CodeDead,
            LoginError::CodeExpired,
            LoginError::RateLimited {
                retry_after_seconds: 42,
            },
            LoginError::TicketInvalid,
            LoginError::MethodUnavailable,
            LoginError::SceneInvalid,
            LoginError::MpCodeInvalid,
            LoginError::NoAccount,
            LoginError::Disabled,
            LoginError::Paused {
                until: 57_600,
                retry_after_seconds: 60,
            },
            LoginError::Busy,
            LoginError::Wechat(wechat::Error::Timeout),
            LoginError::Wechat(wechat::Error::Api {
                errcode: 45009,
                errmsg: String::new(),
            }),
            LoginError::Wechat(wechat::Error::Api {
                errcode: 41030,
                errmsg: String::new(),
            }),
            LoginError::Store(store::Error::InvalidTtl),
            LoginError::SmsLimited {
                window: LimitWindow::Day,
            },
            LoginError::SmsNumberRefused,
            LoginError::Sms(SmsError::Status(500)),
            LoginError::Users(UsersError::Busy),
            LoginError::Corrupt,
        ];
        for e in &all {
            let code = e.code();
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
            let text = e.to_string();
            assert!(!text.is_empty() && !text.contains("Error"), "{text}");
            // The login page words every code a browser receives, in English and Chinese.
            // (The page never sees the others: `invalid_scene` is the Mini Program page's,
            // and store, user-directory and internal failures reach it as `unavailable`.)
            let page_never_sees = [
                "invalid_scene",
                "store_unavailable",
                "users_unavailable",
                "internal",
            ];
            if !page_never_sees.contains(&code) {
                let worded = crate::pages::sdk_js()
                    .lines()
                    .filter(|l| l.trim_start().starts_with(&format!("{code}:")))
                    .count();
                assert!(worded >= 2, "{code}: the login page's texts in en and zh");
            }
        }
        assert_eq!(
            LoginError::BadPhone(PhoneError::NotChineseMobile).to_string(),
            "the phone number is not a Chinese mobile number (11 digits starting with 1)"
        );
        assert_eq!(
            LoginError::InvalidCode { tries_left: 3 }.to_string(),
            "the code is not correct; 3 tries left"
        );
    }

    #[test]
    fn infrastructure_causes_stay_in_source_not_in_the_text() {
        let e = LoginError::Wechat(wechat::Error::Api {
            errcode: 40013,
            errmsg: "invalid appid rid: 1".into(),
        });
        assert!(!e.to_string().contains("40013"));
        let source = std::error::Error::source(&e).unwrap().to_string();
        assert!(source.contains("40013"), "{source}");
    }

    fn refusal(code: &str, kind: RefusalKind) -> SmsError {
        SmsError::Refused(crate::sms::Refusal {
            provider: "tencent",
            code: code.into(),
            message: String::new(),
            request_id: None,
            kind,
            explanation: None,
        })
    }

    #[test]
    fn a_providers_refusal_of_the_number_is_the_persons_and_the_rest_is_unavailable() {
        let day = LoginError::from(refusal(
            "LimitExceeded.PhoneNumberDailyLimit",
            RefusalKind::NumberLimited(LimitWindow::Day),
        ));
        assert_eq!(day.code(), "sms_limited");
        assert!(day.to_string().contains("in a day"), "{day}");
        let bad = LoginError::from(refusal(
            "isv.MOBILE_NUMBER_ILLEGAL",
            RefusalKind::NumberRefused,
        ));
        assert_eq!(bad.code(), "bad_phone");
        for kind in [RefusalKind::Configuration, RefusalKind::Other] {
            let e = LoginError::from(refusal("AuthFailure.SignatureFailure", kind));
            assert_eq!(e.code(), "sms_unavailable");
            // The provider's code stays in the source, for the log, not in the person's text.
            assert!(!e.to_string().contains("AuthFailure"));
        }
        assert_eq!(
            LoginError::from(SmsError::Timeout).code(),
            "sms_unavailable"
        );
    }

    #[test]
    fn users_and_transition_errors_map_to_the_user_facing_ones() {
        assert!(matches!(
            LoginError::from(UsersError::PhoneTaken),
            LoginError::PhoneTaken
        ));
        assert!(matches!(
            LoginError::from(TransitionError::Expired),
            LoginError::Expired
        ));
        assert!(matches!(
            LoginError::from(TransitionError::Final(Status::Expired)),
            LoginError::Expired
        ));
        assert!(matches!(
            LoginError::from(TransitionError::Final(Status::Confirmed)),
            LoginError::WrongState
        ));
    }
}
