//! QR login: attempts, their state machine, scans, long-polls, phone binding and one-time
//! tickets, over the shared [`Store`](crate::store::Store).
//!
//! | file | owns |
//! |---|---|
//! | `state.rs` | [`Status`], [`Attempt`] and its pure transitions |
//! | `keys.rs` | every store key, channel and lifetime |
//! | `tokens.rs` | ids, secrets, codes; hashing and constant-time comparison |
//! | `service.rs` | [`LoginService`]: its parts, start, dedupe; the CAS loop |
//! | `scan.rs` | scan pushes: who scanned, confirm or ask for a phone |
//! | `mp_code.rs` | the Mini Program code: made at start, served as an image |
//! | `mp.rs` | the Mini Program page's calls: scanned, confirm, cancel; their rate limit |
//! | `mp_api.rs` | [`MiniProgramApi`], the seam to WeChat's Mini Program APIs |
//! | `ticket.rs` | one-time tickets: issue, exchange |
//! | `poll.rs` | the long-poll |
//! | `poll_slots.rs` | caps on waiting long-polls, per client and in total |
//! | `watchers.rs` | which poll waits for which attempt; one store subscription wakes them |
//! | `phone.rs` | send code, bind phone, skip |
//! | `codes.rs` | SMS codes: send (cooldown, limits, provider), check (tries), withdraw |
//! | `sms_login.rs` | SMS login: a code to a number, a ticket for its holder |
//! | `mp_link.rs` | the Mini Program URL Link of an attempt, for phone browsers |
//! | `oauth.rs` | [`OAuthLogin`]: web authorization inside WeChat and the website login: state, code, who it is |
//! | `limits.rs` | abuse limits: fixed windows counted in the store |
//! | `quota.rs` | WeChat's daily quotas: read, counted, and the failover when one is spent |
//! | `error.rs` | [`LoginError`] |
//!
//! Depends on `store`, `users`, `wechat`, `sms`, `metrics` and `config` (its own section); it
//! mints no cookies (`session` does) and knows no HTTP (the proxy's endpoints do). Time is
//! passed in as `now`, Unix seconds. Every attempt is bound to the browser that started it:
//! poll, phone steps and exchange need its secret, and a wrong secret is indistinguishable
//! from an unknown attempt. The Mini Program page on the phone has no such secret: the scene
//! it scanned is its capability, and a wrong scene is indistinguishable from any other.

mod codes;
mod error;
pub mod keys;
pub mod limits;
mod mp;
mod mp_api;
mod mp_code;
mod mp_link;
mod oauth;
mod phone;
mod poll;
pub mod poll_slots;
pub mod quota;
mod scan;
mod service;
mod sms_login;
pub mod state;
mod ticket;
pub mod token_cache;
mod tokens;
mod watchers;

pub use error::{LoginError, OAuthRefusal};
pub use mp::MpConfirmed;
pub use mp_api::MiniProgramApi;
pub use mp_code::QrImage;
pub use oauth::{OAuthApp, OAuthDeps, OAuthLanded, OAuthLogin, OAuthReturn, OAuthStarted};
pub use poll::{PollView, MAX_WAIT};
pub use scan::{Scan, ScanOutcome, ScanReply};
pub use service::{LoginDeps, LoginService, MiniProgramDeps, OfficialAccountDeps, Result, Started};
pub use sms_login::SmsLoggedIn;
pub use state::{Attempt, Status, TransitionError};
pub use ticket::{Confirmed, Exchanged};

#[cfg(test)]
pub(crate) mod test_logs;
#[cfg(test)]
mod tests;
