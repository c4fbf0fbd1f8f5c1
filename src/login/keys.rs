//! Every store key, channel and lifetime of the login flow, in one place.
//!
//! Deadlines the user sees (attempt expiry, code expiry, resend cooldown, ticket lifetime) are
//! decided on the `now` the service is given, from times kept *inside* the records. Store TTLs
//! only clean up: each is the deadline plus a grace, so that "expired" can still be answered
//! (rather than "not found") for a while after the deadline.
//!
//! There is no scene → attempt key: the scene of our codes *is* the attempt id
//! ([`SceneId::of`](crate::identity::SceneId::of)), so the attempt key serves both lookups. There is no ticket → attempt key for the WeChat QR ticket either: a scan
//! names its scene, and the ticket is checked against the attempt's.

use std::time::Duration;

use crate::identity::AttemptId;

/// How long after its deadline an attempt can still be read (to answer `expired`, or to let
/// the browser see `confirmed` and exchange its ticket).
pub const ATTEMPT_GRACE: Duration = Duration::from_secs(600);
/// How long the user has, from the scan, to bind a phone (the QR code's own lifetime is far
/// too short to type a number and wait for an SMS).
pub const PHONE_STEP_SECONDS: u64 = 600;
/// Lifetime of a one-time login ticket.
pub const TICKET_SECONDS: u64 = 60;
/// Minimum time between two codes for one attempt.
pub const RESEND_COOLDOWN_SECONDS: u64 = 60;
/// Wrong codes before a code is dead: the fifth wrong try kills it.
pub const MAX_CODE_TRIES: u32 = 5;
/// How long a code record outlives its expiry, so `code_expired` / `code_dead` can be told.
pub const CODE_GRACE: Duration = Duration::from_secs(600);
/// How long a callback's dedupe key is remembered: WeChat retries three times within 15 s.
pub const DEDUPE_TTL: Duration = Duration::from_secs(60);
/// How long a Mini Program attempt waits to be scanned and confirmed. The code itself never
/// expires (`getwxacodeunlimit` codes are permanent), so the attempt's deadline is the only
/// one; the `wx.login` code the phone sends lives about as long.
pub const MINI_PROGRAM_SECONDS: u64 = 300;

/// How long a web authorization's `state` is good for, from `oauth/start` to the callback:
/// the person may read WeChat's page (or scan the website's code) before deciding.
pub const OAUTH_STATE_SECONDS: u64 = 600;

/// The one channel every attempt change is published on; the payload is the attempt id.
/// One channel (not one per attempt) keeps every backend's subscription a single fixed name.
pub const CHANNEL: &str = "login:attempt";

/// The attempt record (JSON of [`super::state::Attempt`]). `id` is 22 URL-safe characters.
pub fn attempt(id: &AttemptId) -> String {
    format!("login:attempt:{id}")
}

/// The Mini Program code image of an attempt (raw PNG or JPEG bytes). TTL that of the attempt.
pub fn qr_image(id: &AttemptId) -> String {
    format!("login:qr_image:{id}")
}

/// A one-time login ticket (JSON of the ticket record). TTL [`TICKET_SECONDS`].
pub fn ticket(ticket: &str) -> String {
    format!("login:ticket:{ticket}")
}

/// The current phone code of an attempt (JSON: hash, phone, tries, sent/expiry times).
/// TTL `code_ttl_seconds` + [`CODE_GRACE`].
pub fn code(attempt_id: &AttemptId) -> String {
    format!("login:code:{attempt_id}")
}

/// The current SMS login code of a number (the same JSON as [`code`]): one per number, so
/// the resend cooldown holds for the number whoever asks. TTL as [`code`]'s.
pub fn sms_code(phone: &crate::identity::Phone) -> String {
    format!("login:sms_code:{phone}")
}

/// A web authorization's `state` (JSON: method, browser hash, `rd`, deadline). TTL
/// [`OAUTH_STATE_SECONDS`] + [`ATTEMPT_GRACE`], so that a late callback is told "expired".
pub fn oauth_state(state: &str) -> String {
    format!("login:oauth_state:{state}")
}

/// A callback push already handled. The dedupe key comes last: it may contain `:`.
pub fn dedupe(key: &str) -> String {
    format!("login:dedupe:{key}")
}

/// Store TTL of a record whose deadline is `deadline` (Unix seconds), seen at `now`:
/// what is left of the deadline plus `grace`, at least `grace`.
pub fn ttl_until(deadline: u64, now: u64, grace: Duration) -> Duration {
    Duration::from_secs(deadline.saturating_sub(now)).saturating_add(grace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_and_readable() {
        let id = AttemptId::parse("abcdefghijklmnopqrstuA").unwrap();
        assert_eq!(attempt(&id), "login:attempt:abcdefghijklmnopqrstuA");
        assert_eq!(ticket("t1"), "login:ticket:t1");
        assert_eq!(code(&id), "login:code:abcdefghijklmnopqrstuA");
        assert_eq!(dedupe("o1:123:SCAN:x"), "login:dedupe:o1:123:SCAN:x");
        assert_eq!(qr_image(&id), "login:qr_image:abcdefghijklmnopqrstuA");
        let phone = crate::identity::Phone::parse("13800138000").unwrap();
        assert_eq!(sms_code(&phone), "login:sms_code:+8613800138000");
        assert_eq!(oauth_state("0f"), "login:oauth_state:0f");
    }

    #[test]
    fn ttl_until_adds_the_grace_to_what_is_left() {
        let grace = Duration::from_secs(10);
        assert_eq!(ttl_until(100, 40, grace), Duration::from_secs(70));
        assert_eq!(
            ttl_until(100, 200, grace),
            grace,
            "past the deadline: the grace"
        );
    }
}
