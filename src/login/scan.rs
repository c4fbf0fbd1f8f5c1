//! Scan pushes from the Official Account callback: who scanned, and where the attempt goes.
//! The Mini Program's confirmation (`mp.rs`) reuses who-is-it and where-to-go from here.

use crate::metrics::LoginOutcome;
use std::future::Future;
use std::time::Duration;

use crate::config::model::PhonePolicy;
use crate::identity::{LoginMethod, OpenId, Phone, SceneId, UnionId};
use crate::users::User;
use crate::wechat::WechatClient;

use super::keys;
use super::service::{Applied, LoginService, Result};
use super::state::{Attempt, Scanner, Status};
use super::tokens;

/// How long a scan waits for `user/info` (unionid) before going on without it: the callback
/// must answer WeChat within 5 s.
const USER_INFO_BUDGET: Duration = Duration::from_secs(2);

/// A scan push from the Official Account callback (`subscribe` with a scene, or `SCAN`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// `FromUserName`.
    pub openid: OpenId,
    /// The scene, `qrscene_` prefix already removed.
    pub scene: SceneId,
    /// The push's `Ticket`; must equal the attempt's QR ticket.
    pub ticket: Option<String>,
    /// A `subscribe` (the user follows from now on) rather than a `SCAN`.
    pub new_follower: bool,
}

impl Scan {
    /// The scan of a code the gateway made: its scene has the format of our attempt ids (22
    /// URL-safe base64 characters, 128 bits). Every other scene (`promo2024`, `123`, `0`)
    /// belongs to the account's own channel and promotion codes, which are not logins: they
    /// go where the account's other pushes go (forwarded, greeted).
    pub fn is_login(&self) -> bool {
        self.scene.attempt_id().is_some()
    }
}

/// What the person who scanned is told in WeChat (the passive reply), by what the scan did.
/// Each has its own configurable text (`wechat.official_account.scan_replies`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanReply {
    /// Signed in: this scan confirmed the login, or it is the same person scanning the code
    /// they already signed in with.
    Confirmed,
    /// Scanned, and the computer now asks for a phone number (a new user, or one who must
    /// still bind a phone).
    NeedPhone,
    /// The code's time is up, or it is no longer known (its record is gone).
    Expired,
    /// Someone else already scanned this code.
    Used,
    /// This person may not sign in (their account is disabled).
    Blocked,
    /// A push that names a login code of ours but is not its scan (another ticket): nothing
    /// is said.
    Nothing,
}

impl ScanReply {
    /// A short, bounded label for logs and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanReply::Confirmed => "confirmed",
            ScanReply::NeedPhone => "need_phone",
            ScanReply::Expired => "expired",
            ScanReply::Used => "used",
            ScanReply::Blocked => "blocked",
            ScanReply::Nothing => "nothing",
        }
    }
}

/// What a scan push of one of our codes did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanOutcome {
    /// Where the attempt is now (`confirmed`, `need_phone`, `expired`, ...); `None` when the
    /// push names no attempt we have (gone, another ticket, not our scene).
    pub status: Option<Status>,
    /// What the scanner is told.
    pub reply: ScanReply,
}

impl ScanOutcome {
    fn unknown(reply: ScanReply) -> Self {
        ScanOutcome {
            status: None,
            reply,
        }
    }

    /// The outcome of a scan by `openid` of an attempt that is now `attempt`, read at `now`.
    fn of(attempt: &Attempt, openid: &OpenId, now: u64) -> Self {
        let status = attempt.status_at(now);
        let theirs = attempt.openid.as_ref() == Some(openid);
        let reply = match status {
            Status::Confirmed if theirs => ScanReply::Confirmed,
            Status::NeedPhone if theirs => ScanReply::NeedPhone,
            Status::Expired => ScanReply::Expired,
            // The code is taken by someone else. (A cancelled Official Account attempt is a
            // disabled user's: they are told so by the scan that cancelled it.)
            Status::Confirmed | Status::NeedPhone | Status::Cancelled | Status::Scanned => {
                ScanReply::Used
            }
            // Not moved by this scan (a racing one is still being applied): nothing true to
            // say yet beyond "not signed in by this scan".
            Status::Waiting => ScanReply::Nothing,
        };
        ScanOutcome {
            status: Some(status),
            reply,
        }
    }
}

impl LoginService {
    /// Handles a scan push of one of our codes ([`Scan::is_login`]; the caller sends the
    /// account's own scenes elsewhere). A scene we do not know (its attempt is gone) reads as
    /// expired; a push whose ticket is not the attempt's changes nothing and is told nothing.
    /// Otherwise the scanner is looked up by openid, then by unionid (from `user/info`; if
    /// that fails the login goes on without it); a known user is confirmed (unless
    /// `login.phone: required` and they have no phone yet), a new one is registered and
    /// confirmed (`phone: off`) or asked for a phone. A disabled user's attempt is cancelled.
    /// Scans of attempts that already moved on change nothing; the reply says why.
    pub async fn on_scan(&self, scan: Scan, now: u64) -> Result<ScanOutcome> {
        let inner = &self.inner;
        let Some(super::service::OfficialAccountDeps { client, .. }) = &inner.official_account
        else {
            return Ok(ScanOutcome::unknown(ScanReply::Nothing));
        };
        let Some(id) = scan.scene.attempt_id() else {
            return Ok(ScanOutcome::unknown(ScanReply::Nothing));
        };
        let Some((_, attempt)) = self.load(&id).await? else {
            // Made by us (its format says so) and gone since: it expired long enough ago for
            // its record to be dropped.
            return Ok(ScanOutcome::unknown(ScanReply::Expired));
        };
        if attempt.method != LoginMethod::OfficialAccount || attempt.scene != scan.scene {
            return Ok(ScanOutcome::unknown(ScanReply::Nothing));
        }
        let ticket_matches = match (&attempt.wechat_ticket, &scan.ticket) {
            (Some(ours), Some(theirs)) => tokens::ct_eq(ours, theirs),
            _ => false,
        };
        if !ticket_matches {
            tracing::warn!(
                attempt = %attempt.id,
                "scan push names a login scene with another ticket; ignored"
            );
            return Ok(ScanOutcome::unknown(ScanReply::Nothing));
        }
        let status = attempt.status_at(now);
        if !matches!(status, Status::Waiting | Status::Scanned) {
            // A retry, a second scan, or too late: nothing changes.
            let outcome = ScanOutcome::of(&attempt, &scan.openid, now);
            tracing::info!(attempt = %attempt.id, status = %status, reply = outcome.reply.as_str(), "scan of a code that already moved on");
            return Ok(outcome);
        }
        let method = attempt.method.as_str();

        let app_id = client.app_id();
        let unionid = self.unionid_of(client, &scan.openid);
        let (scanner, known) = self.identify(app_id, &scan.openid, unionid, now).await?;
        let (next, outcome) = self
            .settle_scan(&attempt, scanner, known, None, now)
            .await?;
        match next {
            Applied::Done(next) => {
                inner.metrics.login_attempt(method, LoginOutcome::Scanned);
                inner.metrics.login_attempt(method, outcome);
                tracing::info!(attempt = %next.id, status = %next.status, new_follower = scan.new_follower, "login scan");
                if outcome == LoginOutcome::Cancelled {
                    return Ok(ScanOutcome {
                        status: Some(next.status),
                        reply: ScanReply::Blocked,
                    });
                }
                Ok(ScanOutcome::of(&next, &scan.openid, now))
            }
            // A racing scan (a WeChat retry, or a second phone) moved it first.
            Applied::Refused(_, current) => Ok(ScanOutcome::of(&current, &scan.openid, now)),
        }
    }

    /// Where a scanned (or Mini Program confirmed) attempt goes, and the funnel outcome of
    /// that: a disabled user's attempt is cancelled; a known user is confirmed, unless
    /// `login.phone: required` and they have no phone yet (`need_phone`); someone new is
    /// registered and confirmed with `phone: off`, else asked for a phone (skippable with
    /// `optional`). A `verified_phone` (from WeChat, no SMS needed) is bound first: to a known
    /// user without a phone, or to the new user, who is then registered at once whatever the
    /// policy. A number bound to someone else is [`LoginError::PhoneTaken`](super::error::LoginError),
    /// unless that someone signed up by SMS alone: then the WeChat account joins them.
    pub(super) async fn settle_scan(
        &self,
        attempt: &Attempt,
        mut scanner: Scanner,
        known: Option<User>,
        verified_phone: Option<&Phone>,
        now: u64,
    ) -> Result<(Applied, LoginOutcome)> {
        let inner = &self.inner;
        let policy = inner.login.phone;
        let known = match (known, verified_phone) {
            (Some(user), Some(phone)) if !user.disabled && user.phone.is_none() => {
                Some(inner.users.bind_phone(&user.id, phone, now).await?)
            }
            (Some(user), Some(phone)) if user.phone.as_ref().is_some_and(|p| p != phone) => {
                // Changing a bound number is not a login's business: the bound one stays.
                tracing::info!(attempt = %attempt.id, user = %user.id, "WeChat verified another number than the bound one; kept the bound one");
                Some(user)
            }
            (known, _) => known,
        };
        Ok(match known {
            Some(user) if user.disabled => {
                tracing::info!(attempt = %attempt.id, user = %user.id, "disabled user scanned; attempt cancelled");
                (
                    self.apply(&attempt.id, now, |a| a.cancel(now)).await?,
                    LoginOutcome::Cancelled,
                )
            }
            Some(user) if policy == PhonePolicy::Required && user.phone.is_none() => {
                let deadline = now.saturating_add(keys::PHONE_STEP_SECONDS);
                let applied = self
                    .apply(&attempt.id, now, |a| {
                        a.need_phone(scanner.clone(), false, deadline, now)
                    })
                    .await?;
                (applied, LoginOutcome::NeedPhone)
            }
            Some(user) => (
                self.confirm_scan(attempt, scanner, user, now).await?,
                LoginOutcome::Confirmed,
            ),
            None if verified_phone.is_some() || policy == PhonePolicy::Off => {
                let (app_id, openid) = (&scanner.app_id, &scanner.openid);
                let unionid = scanner.unionid.as_ref();
                let user = match verified_phone {
                    // WeChat proved the number: its SMS-only holder is this person.
                    Some(phone) => {
                        inner
                            .users
                            .register_with_proven_phone(app_id, openid, unionid, phone, now)
                            .await?
                    }
                    None => {
                        inner
                            .users
                            .register(app_id, openid, unionid, None, now)
                            .await?
                    }
                };
                if user.disabled {
                    // Joined to a disabled SMS user: the person may not sign in.
                    tracing::info!(attempt = %attempt.id, user = %user.id, "disabled user joined; attempt cancelled");
                    return Ok((
                        self.apply(&attempt.id, now, |a| a.cancel(now)).await?,
                        LoginOutcome::Cancelled,
                    ));
                }
                scanner.user_id = Some(user.id.clone());
                (
                    self.confirm_scan(attempt, scanner, user, now).await?,
                    LoginOutcome::Confirmed,
                )
            }
            None => {
                let skippable = policy == PhonePolicy::Optional;
                let deadline = now.saturating_add(keys::PHONE_STEP_SECONDS);
                let applied = self
                    .apply(&attempt.id, now, |a| {
                        a.need_phone(scanner.clone(), skippable, deadline, now)
                    })
                    .await?;
                (applied, LoginOutcome::NeedPhone)
            }
        })
    }

    /// Confirms after a scan: a ticket for `user`, the transition, the login recorded.
    async fn confirm_scan(
        &self,
        attempt: &Attempt,
        scanner: Scanner,
        user: User,
        now: u64,
    ) -> Result<Applied> {
        let ticket = self
            .issue_ticket(attempt, &user.id, Some(&scanner.openid), now)
            .await?;
        let applied = self
            .apply(&attempt.id, now, |a| {
                a.confirm_scan(scanner.clone(), user.id.clone(), ticket.clone(), now)
            })
            .await;
        self.settle_ticket(&ticket, &user.id, attempt.method, &applied, now)
            .await;
        applied
    }

    /// Who scanned: the user with `openid` of `app_id`, else the user with its unionid
    /// (linked to this openid now: one person, one user), else nobody yet. `unionid` is only
    /// awaited when the openid is new (for the Official Account it costs a `user/info`).
    pub(super) async fn identify(
        &self,
        app_id: &str,
        openid: &OpenId,
        unionid: impl Future<Output = Option<UnionId>>,
        now: u64,
    ) -> Result<(Scanner, Option<User>)> {
        let users = &self.inner.users;
        let mut known = users.find_by_openid(app_id, openid).await?;
        let mut unionid_seen = None;
        if known.is_none() {
            unionid_seen = unionid.await;
            if let Some(unionid) = &unionid_seen {
                if users.find_by_unionid(unionid).await?.is_some() {
                    let user = users
                        .register(app_id, openid, Some(unionid), None, now)
                        .await?;
                    known = Some(user);
                }
            }
        }
        let scanner = Scanner {
            app_id: app_id.to_string(),
            openid: openid.clone(),
            unionid: known
                .as_ref()
                .and_then(|u| u.unionid.clone())
                .or(unionid_seen),
            user_id: known.as_ref().map(|u| u.id.clone()),
        };
        Ok((scanner, known))
    }

    /// The unionid of `openid`, or `None` when WeChat gives none or cannot be asked in time.
    pub(super) async fn unionid_of(
        &self,
        client: &WechatClient,
        openid: &OpenId,
    ) -> Option<UnionId> {
        match tokio::time::timeout(USER_INFO_BUDGET, client.user_info(openid.as_str())).await {
            Ok(Ok(info)) => info.unionid.map(UnionId::new),
            Ok(Err(e)) => {
                // The client logged WeChat's answer; this line says what the login does about it.
                tracing::info!(
                    errcode = e.errcode(),
                    "user/info failed; logging in without a unionid"
                );
                None
            }
            Err(_) => {
                tracing::warn!("user/info too slow; logging in without a unionid");
                None
            }
        }
    }
}
