//! The login attempt and its state machine, as pure functions: no store, no clock, no I/O.
//!
//! ```text
//!   waiting ──mp page opened──▶ scanned
//!      │ │                        │ │
//!      │ └──────scan/confirm──────┼─┴──▶ confirmed        (known user, or phone: off)
//!      └────────scan/confirm──────┴────▶ need_phone ──bind / skip──▶ confirmed
//!   any non-final ──cancel──▶ cancelled
//!   any non-final, once `now >= expires_at`, reads as expired
//! ```
//!
//! `confirmed`, `cancelled` and `expired` are final: nothing moves an attempt out of them.
//! Every successful transition returns the next record with `version + 1`; the service writes
//! it with compare-and-swap, so of two racing transitions exactly one applies.

use serde::{Deserialize, Serialize};

use crate::identity::{AttemptId, LoginMethod, OpenId, SceneId, UnionId, UserId};

/// Where an attempt is, as the long-poll reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The QR code is shown; nobody has scanned it.
    Waiting,
    /// Mini Program only: the page opened on the phone; the user has not confirmed yet.
    Scanned,
    /// The scanner is a new user (or one without the required phone): bind a phone.
    NeedPhone,
    /// Logged in: the attempt carries a one-time ticket for the browser.
    Confirmed,
    /// The user declined on the phone (Mini Program), or the account may not log in.
    Cancelled,
    /// Too late: start again.
    Expired,
}

impl Status {
    /// The wire name (`need_phone`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Scanned => "scanned",
            Status::NeedPhone => "need_phone",
            Status::Confirmed => "confirmed",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
        }
    }

    /// Parses a wire name (the `since` query parameter).
    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Waiting,
            Status::Scanned,
            Status::NeedPhone,
            Status::Confirmed,
            Status::Cancelled,
            Status::Expired,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }

    /// No transition leaves this status.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Confirmed | Status::Cancelled | Status::Expired
        )
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a transition was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The attempt was not final but its time is up.
    #[error("the login attempt has expired")]
    Expired,
    /// The attempt is final (confirmed, cancelled or expired) and never changes again.
    #[error("the login attempt is already {0}")]
    Final(Status),
    /// The transition does not start from the attempt's status.
    #[error("not allowed while the login attempt is {from}")]
    NotAllowed { from: Status },
}

/// Who scanned: what WeChat told us, and the user if they are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scanner {
    /// The app the openid belongs to (the Official Account's or the Mini Program's app id).
    pub app_id: String,
    pub openid: OpenId,
    pub unionid: Option<UnionId>,
    /// `Some` when the person is already a user.
    pub user_id: Option<UserId>,
}

/// One login attempt, stored as JSON (field names are the storage format).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 128 random bits, URL-safe base64 without padding.
    pub id: AttemptId,
    pub method: LoginMethod,
    /// As stored; read [`Attempt::status_at`] for what the attempt *is* now.
    pub status: Status,
    /// SHA-256 of the browser-binding secret, URL-safe base64: the secret itself is never kept.
    pub browser: String,
    /// Where the browser goes after login (already checked to be a safe path).
    pub rd: String,
    /// What the QR code carries back to us on a scan (WeChat `scene_str`, Mini Program
    /// `scene`): [`SceneId::of`] the id.
    pub scene: SceneId,
    /// The Official Account QR ticket: a scan push must echo it.
    pub wechat_ticket: Option<String>,
    /// The text encoded in the QR image.
    pub qr_content: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds; a non-final attempt reads as expired from this instant on.
    pub expires_at: u64,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub openid: Option<OpenId>,
    #[serde(default)]
    pub unionid: Option<UnionId>,
    /// Set when confirmed, or at `need_phone` for a known user who still needs a phone.
    #[serde(default)]
    pub user_id: Option<UserId>,
    /// At `need_phone`: the user may skip binding (`login.phone: optional`).
    #[serde(default)]
    pub phone_skippable: bool,
    /// The one-time login ticket, set when confirmed.
    #[serde(default)]
    pub ticket: Option<String>,
    /// Incremented by every transition.
    pub version: u64,
}

impl std::fmt::Debug for Attempt {
    // The ticket logs the browser in: never shown. The rest is harmless in a debug line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("user_id", &self.user_id)
            .field("phone_skippable", &self.phone_skippable)
            .field("ticket", &self.ticket.as_ref().map(|_| "***"))
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// What a new attempt is made of.
#[derive(Clone, Debug)]
pub struct NewAttempt {
    pub id: AttemptId,
    pub method: LoginMethod,
    pub browser: String,
    pub rd: String,
    pub scene: SceneId,
    pub wechat_ticket: Option<String>,
    pub qr_content: String,
    pub created_at: u64,
    pub expires_at: u64,
}

impl Attempt {
    /// A fresh attempt, `waiting`, version 1.
    pub fn new(new: NewAttempt) -> Attempt {
        let NewAttempt {
            id,
            method,
            browser,
            rd,
            scene,
            wechat_ticket,
            qr_content,
            created_at,
            expires_at,
        } = new;
        Attempt {
            id,
            method,
            status: Status::Waiting,
            browser,
            rd,
            scene,
            wechat_ticket,
            qr_content,
            created_at,
            expires_at,
            app_id: None,
            openid: None,
            unionid: None,
            user_id: None,
            phone_skippable: false,
            ticket: None,
            version: 1,
        }
    }

    /// The status at `now`: the stored one, except that a non-final attempt past its
    /// `expires_at` is `expired`.
    pub fn status_at(&self, now: u64) -> Status {
        if !self.status.is_final() && now >= self.expires_at {
            Status::Expired
        } else {
            self.status
        }
    }

    /// Mini Program: the page opened on the phone. `waiting` → `scanned`.
    pub fn scanned(&self, now: u64) -> Result<Attempt, TransitionError> {
        self.check(now, &[Status::Waiting])?;
        Ok(self.next(|a| a.status = Status::Scanned))
    }

    /// A scan (Official Account) or a confirmation (Mini Program) by someone who must bind a
    /// phone first. `waiting` | `scanned` → `need_phone`, with a new deadline
    /// `phone_deadline` (typing a number and a code takes longer than a QR code lives).
    pub fn need_phone(
        &self,
        scanner: Scanner,
        skippable: bool,
        phone_deadline: u64,
        now: u64,
    ) -> Result<Attempt, TransitionError> {
        self.check(now, &[Status::Waiting, Status::Scanned])?;
        Ok(self.next(|a| {
            a.status = Status::NeedPhone;
            a.set_scanner(scanner);
            a.phone_skippable = skippable;
            a.expires_at = phone_deadline;
        }))
    }

    /// A scan or confirmation by a user who may log in now. `waiting` | `scanned` →
    /// `confirmed`, holding the user and the one-time `ticket`.
    pub fn confirm_scan(
        &self,
        scanner: Scanner,
        user_id: UserId,
        ticket: String,
        now: u64,
    ) -> Result<Attempt, TransitionError> {
        self.check(now, &[Status::Waiting, Status::Scanned])?;
        Ok(self.next(|a| {
            a.set_scanner(scanner);
            a.confirm(user_id, ticket);
        }))
    }

    /// The phone was bound to `user_id`. `need_phone` → `confirmed`.
    pub fn confirm_phone(
        &self,
        user_id: UserId,
        ticket: String,
        now: u64,
    ) -> Result<Attempt, TransitionError> {
        self.check(now, &[Status::NeedPhone])?;
        Ok(self.next(|a| a.confirm(user_id, ticket)))
    }

    /// The user chose not to bind a phone, which only an attempt with `phone_skippable`
    /// allows. `need_phone` → `confirmed`.
    pub fn skip_phone(
        &self,
        user_id: UserId,
        ticket: String,
        now: u64,
    ) -> Result<Attempt, TransitionError> {
        self.check(now, &[Status::NeedPhone])?;
        if !self.phone_skippable {
            return Err(TransitionError::NotAllowed { from: self.status });
        }
        Ok(self.next(|a| a.confirm(user_id, ticket)))
    }

    /// The user declined, or may not log in. Any non-final status → `cancelled`.
    pub fn cancel(&self, now: u64) -> Result<Attempt, TransitionError> {
        self.check(now, &[Status::Waiting, Status::Scanned, Status::NeedPhone])?;
        Ok(self.next(|a| a.status = Status::Cancelled))
    }

    /// Writes down what [`Attempt::status_at`] already says: a non-final attempt past its
    /// deadline becomes `expired` for good. Refused before the deadline and for final ones.
    pub fn expire(&self, now: u64) -> Result<Attempt, TransitionError> {
        match self.status_at(now) {
            Status::Expired if !self.status.is_final() => {
                Ok(self.next(|a| a.status = Status::Expired))
            }
            status if status.is_final() => Err(TransitionError::Final(status)),
            status => Err(TransitionError::NotAllowed { from: status }),
        }
    }

    /// Refuses final and expired attempts, and statuses not in `from`.
    fn check(&self, now: u64, from: &[Status]) -> Result<(), TransitionError> {
        if self.status.is_final() {
            return Err(TransitionError::Final(self.status));
        }
        if now >= self.expires_at {
            return Err(TransitionError::Expired);
        }
        if !from.contains(&self.status) {
            return Err(TransitionError::NotAllowed { from: self.status });
        }
        Ok(())
    }

    fn next(&self, change: impl FnOnce(&mut Attempt)) -> Attempt {
        let mut next = self.clone();
        change(&mut next);
        next.version = self.version.saturating_add(1);
        next
    }

    fn set_scanner(&mut self, scanner: Scanner) {
        let Scanner {
            app_id,
            openid,
            unionid,
            user_id,
        } = scanner;
        self.app_id = Some(app_id);
        self.openid = Some(openid);
        self.unionid = unionid;
        self.user_id = user_id;
    }

    fn confirm(&mut self, user_id: UserId, ticket: String) {
        self.status = Status::Confirmed;
        self.user_id = Some(user_id);
        self.ticket = Some(ticket);
        self.phone_skippable = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000;
    const EXPIRES: u64 = T0 + 300;

    const ID: &str = "AAAAAAAAAAAAAAAAAAAAAA";

    fn waiting() -> Attempt {
        let id = AttemptId::parse(ID).unwrap();
        Attempt::new(NewAttempt {
            scene: SceneId::of(&id),
            id,
            method: LoginMethod::OfficialAccount,
            browser: "hash".into(),
            rd: "/".into(),
            wechat_ticket: Some("qr-ticket".into()),
            qr_content: "http://weixin.qq.com/q/x".into(),
            created_at: T0,
            expires_at: EXPIRES,
        })
    }

    fn scanner(user: Option<&str>) -> Scanner {
        Scanner {
            app_id: "wx_oa".into(),
            openid: OpenId::new("o-1"),
            unionid: Some(UnionId::new("u-1")),
            user_id: user.map(UserId::new),
        }
    }

    fn uid() -> UserId {
        UserId::new("u_1")
    }

    fn with_status(status: Status) -> Attempt {
        Attempt {
            status,
            ..waiting()
        }
    }

    const ALL: [Status; 6] = [
        Status::Waiting,
        Status::Scanned,
        Status::NeedPhone,
        Status::Confirmed,
        Status::Cancelled,
        Status::Expired,
    ];

    type Transition = Box<dyn Fn(&Attempt, u64) -> Result<Attempt, TransitionError>>;

    /// Every transition, as a function of an attempt and `now`.
    fn transitions() -> Vec<(&'static str, Transition)> {
        vec![
            ("scanned", Box::new(|a, now| a.scanned(now))),
            (
                "need_phone",
                Box::new(|a, now| a.need_phone(scanner(None), false, now + 600, now)),
            ),
            (
                "confirm_scan",
                Box::new(|a, now| a.confirm_scan(scanner(None), uid(), "t".into(), now)),
            ),
            (
                "confirm_phone",
                Box::new(|a, now| a.confirm_phone(uid(), "t".into(), now)),
            ),
            (
                "skip_phone",
                Box::new(|a, now| {
                    let a = Attempt {
                        phone_skippable: true,
                        ..a.clone()
                    };
                    a.skip_phone(uid(), "t".into(), now)
                }),
            ),
            ("cancel", Box::new(|a, now| a.cancel(now))),
        ]
    }

    /// The allowed (transition, from) pairs and the status they lead to.
    fn allowed(name: &str, from: Status) -> Option<Status> {
        use Status::*;
        match (name, from) {
            ("scanned", Waiting) => Some(Scanned),
            ("need_phone", Waiting | Scanned) => Some(NeedPhone),
            ("confirm_scan", Waiting | Scanned) => Some(Confirmed),
            ("confirm_phone" | "skip_phone", NeedPhone) => Some(Confirmed),
            ("cancel", Waiting | Scanned | NeedPhone) => Some(Cancelled),
            _ => None,
        }
    }

    #[test]
    fn the_transition_table_is_exactly_the_documented_one() {
        for (name, transition) in transitions() {
            for from in ALL {
                let result = transition(&with_status(from), T0 + 10);
                match (allowed(name, from), result) {
                    (Some(to), Ok(next)) => {
                        assert_eq!(next.status, to, "{name} from {from}");
                        assert_eq!(next.version, 2, "{name} from {from} bumps the version");
                    }
                    (None, Err(TransitionError::Final(status))) => {
                        assert!(from.is_final(), "{name} from {from}");
                        assert_eq!(status, from);
                    }
                    (None, Err(TransitionError::NotAllowed { from: got })) => {
                        assert!(!from.is_final(), "{name} from {from}");
                        assert_eq!(got, from);
                    }
                    (expected, got) => panic!("{name} from {from}: {expected:?} vs {got:?}"),
                }
            }
        }
    }

    #[test]
    fn every_transition_from_a_non_final_attempt_past_its_deadline_is_expired() {
        for (name, transition) in transitions() {
            for from in [Status::Waiting, Status::Scanned, Status::NeedPhone] {
                let result = transition(&with_status(from), EXPIRES);
                assert_eq!(
                    result.err(),
                    Some(TransitionError::Expired),
                    "{name} from {from}"
                );
            }
        }
    }

    #[test]
    fn final_attempts_never_change_not_even_by_expiry() {
        for from in [Status::Confirmed, Status::Cancelled, Status::Expired] {
            let a = with_status(from);
            assert_eq!(a.status_at(EXPIRES + 10_000), from);
            assert_eq!(
                a.expire(EXPIRES + 1).err(),
                Some(TransitionError::Final(from))
            );
        }
    }

    #[test]
    fn status_at_reads_expired_from_the_deadline_on() {
        let a = waiting();
        assert_eq!(a.status_at(EXPIRES - 1), Status::Waiting);
        assert_eq!(a.status_at(EXPIRES), Status::Expired);
        assert_eq!(a.status, Status::Waiting, "reading changes nothing");
    }

    #[test]
    fn expire_writes_expired_only_after_the_deadline() {
        let a = waiting();
        assert_eq!(
            a.expire(EXPIRES - 1).err(),
            Some(TransitionError::NotAllowed {
                from: Status::Waiting
            })
        );
        let expired = a.expire(EXPIRES).unwrap();
        assert_eq!((expired.status, expired.version), (Status::Expired, 2));
    }

    #[test]
    fn a_scan_records_who_scanned_and_confirm_holds_user_and_ticket() {
        let a = waiting()
            .confirm_scan(scanner(Some("u_1")), uid(), "ticket-1".into(), T0 + 5)
            .unwrap();
        assert_eq!(a.status, Status::Confirmed);
        assert_eq!(a.app_id.as_deref(), Some("wx_oa"));
        assert_eq!(a.openid, Some(OpenId::new("o-1")));
        assert_eq!(a.unionid, Some(UnionId::new("u-1")));
        assert_eq!(a.user_id, Some(uid()));
        assert_eq!(a.ticket.as_deref(), Some("ticket-1"));
        assert_eq!(a.expires_at, EXPIRES, "confirming keeps the deadline");
    }

    #[test]
    fn a_second_scan_of_a_confirmed_attempt_changes_nothing() {
        let confirmed = waiting()
            .confirm_scan(scanner(None), uid(), "ticket-1".into(), T0 + 5)
            .unwrap();
        let again = confirmed.confirm_scan(scanner(None), UserId::new("u_2"), "t2".into(), T0 + 6);
        assert_eq!(again.err(), Some(TransitionError::Final(Status::Confirmed)));
        let phone = confirmed.need_phone(scanner(None), true, T0 + 600, T0 + 6);
        assert_eq!(phone.err(), Some(TransitionError::Final(Status::Confirmed)));
    }

    #[test]
    fn need_phone_moves_the_deadline_and_remembers_skippable() {
        let a = waiting()
            .need_phone(scanner(None), true, T0 + 900, T0 + 250)
            .unwrap();
        assert_eq!(a.status, Status::NeedPhone);
        assert_eq!(a.expires_at, T0 + 900);
        assert!(a.phone_skippable);
        assert_eq!(a.user_id, None);
        // Past the QR deadline but inside the phone one, binding still works.
        let bound = a.confirm_phone(uid(), "t".into(), EXPIRES + 100).unwrap();
        assert_eq!(bound.status, Status::Confirmed);
        assert!(!bound.phone_skippable);
    }

    #[test]
    fn skip_phone_needs_a_skippable_attempt() {
        let required = waiting()
            .need_phone(scanner(None), false, T0 + 900, T0 + 5)
            .unwrap();
        assert_eq!(
            required.skip_phone(uid(), "t".into(), T0 + 6).err(),
            Some(TransitionError::NotAllowed {
                from: Status::NeedPhone
            })
        );
        let optional = waiting()
            .need_phone(scanner(None), true, T0 + 900, T0 + 5)
            .unwrap();
        assert_eq!(
            optional
                .skip_phone(uid(), "t".into(), T0 + 6)
                .unwrap()
                .status,
            Status::Confirmed
        );
    }

    #[test]
    fn status_wire_names_round_trip() {
        for status in ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{}\"", status.as_str())
            );
        }
        assert_eq!(Status::parse("NEED_PHONE"), None);
    }

    #[test]
    fn debug_hides_the_ticket() {
        let a = waiting()
            .confirm_scan(scanner(None), uid(), "secret-ticket".into(), T0 + 5)
            .unwrap();
        let shown = format!("{a:?}");
        assert!(!shown.contains("secret-ticket"), "{shown}");
        assert!(shown.contains("Confirmed"));
    }

    #[test]
    fn the_stored_json_round_trips() {
        let a = waiting()
            .need_phone(scanner(Some("u_9")), false, T0 + 900, T0 + 5)
            .unwrap();
        let json = serde_json::to_vec(&a).unwrap();
        assert_eq!(serde_json::from_slice::<Attempt>(&json).unwrap(), a);
    }

    #[test]
    fn id_and_scene_are_stored_as_plain_strings() {
        let json = serde_json::to_value(waiting()).unwrap();
        assert_eq!(json["id"], ID);
        assert_eq!(json["scene"], ID);
        // A record written before the newtypes reads the same.
        let old = serde_json::json!({
            "id": ID, "method": "official_account", "status": "waiting", "browser": "hash",
            "rd": "/", "scene": ID, "wechat_ticket": "qr-ticket",
            "qr_content": "http://weixin.qq.com/q/x", "created_at": T0, "expires_at": EXPIRES,
            "version": 1
        });
        assert_eq!(serde_json::from_value::<Attempt>(old).unwrap(), waiting());
    }
}
