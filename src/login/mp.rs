//! The calls of the Mini Program page on the user's phone: the code was scanned, the user
//! confirmed (who they are, and maybe their WeChat-verified number), or declined.
//!
//! The phone holds no browser binding: the scene it read from the code is its capability. So
//! no answer tells whether a scene names an attempt. `scanned` and `cancel` answer every scene
//! alike, live or not (unknown, another method's, expired, already past the phone's part):
//! they only act when there is something to act on. `confirm` first has WeChat check the
//! caller's `wx.login` code, so a made-up code gets the same refusal whatever the scene; only
//! a caller WeChat vouches for learns that its scene is no longer valid
//! ([`LoginError::SceneInvalid`], one answer for every reason). Why a scene was not acted on
//! is said only in the log, and every call counts against its client address's budget first.

use crate::metrics::LoginOutcome;
use std::future;
use std::net::IpAddr;

use crate::identity::{LoginMethod, OpenId, Phone, PhoneError, SceneId, UnionId};
use crate::wechat;
use crate::wechat::client::MpPhone;

use super::error::LoginError;
use super::limits::{self, client_key, Limit, Subject};
use super::service::{Applied, LoginService, MiniProgramDeps, Result};
use super::state::{Attempt, Status};

/// The funnel's method label.
const METHOD: &str = "mini_program";
/// Longest `wx.login` or phone-button code passed on to WeChat (theirs are 32 and 64
/// characters); anything longer is not one.
const MAX_CODE_LEN: usize = 256;

/// What [`LoginService::mp_confirm`] answers the Mini Program page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpConfirmed {
    /// `confirmed` (the computer logs in now) or `need_phone` (the computer asks for a
    /// number and an SMS code, as after an Official Account scan).
    pub status: Status,
}

impl LoginService {
    /// The Mini Program page opened with `scene`: a waiting attempt becomes `scanned` (the
    /// computer shows "confirm on your phone"). Any other scene (scanned already, unknown,
    /// expired, further on, another method's) is left as it is, with the same `Ok`: a dead
    /// code is found out at confirm. From `client_ip`, counted against its budget.
    ///
    /// Errors: [`LoginError::RateLimited`]; [`LoginError::SceneInvalid`] when the Mini
    /// Program is not configured at all.
    pub async fn mp_scanned(&self, scene: &SceneId, client_ip: IpAddr, now: u64) -> Result<()> {
        self.limit_mp_call(client_ip, now).await?;
        self.mini_program("scanned")?;
        const FROM: &[Status] = &[Status::Waiting];
        let Some(attempt) = self.live_attempt(scene, FROM, now, "scanned").await? else {
            return Ok(());
        };
        match self.apply(&attempt.id, now, |a| a.scanned(now)).await? {
            Applied::Done(_) => {
                self.inner
                    .metrics
                    .login_attempt(METHOD, LoginOutcome::Scanned);
                tracing::info!(attempt = %attempt.id, "mini program code scanned");
            }
            // A racing call of the same page (or a confirm) got there first.
            Applied::Refused(_, current) => not_acted_on(&current, now, "scanned"),
        }
        Ok(())
    }

    /// The user confirmed on the phone. `js_code` (from `wx.login`) tells WeChat's openid and
    /// unionid of the user; `phone_code` (from the phone button), when given and a number is
    /// still wanted, their WeChat-verified number, which stands in for an SMS code. Then the
    /// Official Account's rules apply (`settle_scan`): a known user (by openid, else by
    /// unionid, linking this openid) is confirmed, a new one registered or asked for a phone
    /// on the computer. Applies once: a second confirmation finds the scene no longer valid.
    ///
    /// The `wx.login` code is checked with WeChat before the scene is looked at, so whether
    /// the scene is live is told only to a caller WeChat vouches for.
    ///
    /// Errors: [`LoginError::RateLimited`], [`LoginError::MpCodeInvalid`] for a code WeChat
    /// refuses (used, expired, made up), [`LoginError::SceneInvalid`] (after a good code),
    /// [`LoginError::PhoneTaken`] for a verified number bound to another user,
    /// [`LoginError::BadPhone`] for one of a country not accepted (nothing changes: the page
    /// may confirm again without the number),
    /// [`LoginError::Disabled`] (the attempt is cancelled), [`LoginError::Wechat`].
    /// If WeChat cannot tell the number for another reason, the login goes on without it.
    pub async fn mp_confirm(
        &self,
        scene: &SceneId,
        js_code: &str,
        phone_code: Option<&str>,
        client_ip: IpAddr,
        now: u64,
    ) -> Result<MpConfirmed> {
        self.limit_mp_call(client_ip, now).await?;
        let mp = self.mini_program("confirm")?;
        let session = mp
            .api
            .code_to_session(checked_code(js_code)?)
            .await
            .map_err(|e| code_refused(e, None, "jscode2session"))?;
        if session.openid.is_empty() {
            tracing::warn!(api = "jscode2session", "WeChat answered no openid");
            return Err(LoginError::Wechat(wechat::Error::Decode(
                "jscode2session answered no openid".into(),
            )));
        }
        const FROM: &[Status] = &[Status::Waiting, Status::Scanned];
        let Some(attempt) = self.live_attempt(scene, FROM, now, "confirm").await? else {
            return Err(LoginError::SceneInvalid);
        };
        let openid = OpenId::new(session.openid);
        let unionid = session.unionid.filter(|u| !u.is_empty()).map(UnionId::new);
        let (scanner, known) = self
            .identify(&mp.app_id, &openid, future::ready(unionid), now)
            .await?;
        // The number costs money per call: ask only when someone still lacks one.
        let wanted = known.as_ref().is_none_or(|u| u.phone.is_none());
        let verified = match phone_code.filter(|c| !c.is_empty()) {
            Some(code) if wanted => self.verified_phone(mp, &attempt, &openid, code).await?,
            _ => None,
        };
        let (applied, outcome) = self
            .settle_scan(&attempt, scanner, known, verified.as_ref(), now)
            .await?;
        match applied {
            Applied::Done(next) => {
                let metrics = &self.inner.metrics;
                if attempt.status == Status::Waiting {
                    // The page skipped `scanned`: the funnel still counts the scan.
                    metrics.login_attempt(METHOD, LoginOutcome::Scanned);
                }
                metrics.login_attempt(METHOD, outcome);
                tracing::info!(
                    attempt = %next.id,
                    status = %next.status,
                    verified_phone = verified.is_some(),
                    "mini program login confirmed on the phone"
                );
                if next.status == Status::Cancelled {
                    return Err(LoginError::Disabled);
                }
                Ok(MpConfirmed {
                    status: next.status,
                })
            }
            Applied::Refused(_, current) => Err(scene_refused(&current, now, "confirm")),
        }
    }

    /// The user declined on the phone: a non-final attempt becomes `cancelled` (the computer
    /// shows it). Any other scene is left as it is, with the same `Ok`: the login the page
    /// names does not go on either way.
    ///
    /// Errors: [`LoginError::RateLimited`]; [`LoginError::SceneInvalid`] when the Mini
    /// Program is not configured at all.
    pub async fn mp_cancel(&self, scene: &SceneId, client_ip: IpAddr, now: u64) -> Result<()> {
        self.limit_mp_call(client_ip, now).await?;
        self.mini_program("cancel")?;
        const FROM: &[Status] = &[Status::Waiting, Status::Scanned, Status::NeedPhone];
        let Some(attempt) = self.live_attempt(scene, FROM, now, "cancel").await? else {
            return Ok(());
        };
        match self.apply(&attempt.id, now, |a| a.cancel(now)).await? {
            Applied::Done(_) => {
                self.inner
                    .metrics
                    .login_attempt(METHOD, LoginOutcome::Cancelled);
                tracing::info!(attempt = %attempt.id, "mini program login declined on the phone");
            }
            Applied::Refused(_, current) => not_acted_on(&current, now, "cancel"),
        }
        Ok(())
    }

    /// The Mini Program side, or [`LoginError::SceneInvalid`] when it is not configured.
    fn mini_program(&self, call: &'static str) -> Result<&MiniProgramDeps> {
        self.inner.mini_program.as_ref().ok_or_else(|| {
            tracing::info!(call, reason = "not configured", "mini program call refused");
            LoginError::SceneInvalid
        })
    }

    /// The Mini Program attempt `scene` names, if it is in one of the statuses `from` now;
    /// `None` otherwise, whatever the reason (logged, with `call`).
    async fn live_attempt(
        &self,
        scene: &SceneId,
        from: &[Status],
        now: u64,
        call: &'static str,
    ) -> Result<Option<Attempt>> {
        let loaded = match scene.attempt_id() {
            Some(id) => self.load(&id).await?,
            None => None,
        };
        let Some((_, attempt)) = loaded else {
            // The scene is the caller's text: not logged.
            tracing::info!(
                call,
                reason = "unknown scene",
                "mini program call not acted on"
            );
            return Ok(None);
        };
        if attempt.method != LoginMethod::MiniProgram || attempt.scene != *scene {
            tracing::info!(call, attempt = %attempt.id, reason = "not a mini program attempt", "mini program call not acted on");
            return Ok(None);
        }
        if !from.contains(&attempt.status_at(now)) {
            not_acted_on(&attempt, now, call);
            return Ok(None);
        }
        Ok(Some(attempt))
    }

    /// The number behind a phone-button code pressed by `pressed_by`, or `None` when WeChat
    /// cannot tell it now (the
    /// computer then asks for one with an SMS code). A code WeChat refuses is an error: the
    /// page should ask again. So is a number of a country `login.phone_countries` does not
    /// list ([`LoginError::BadPhone`], as for a typed one).
    async fn verified_phone(
        &self,
        mp: &MiniProgramDeps,
        attempt: &Attempt,
        pressed_by: &OpenId,
        code: &str,
    ) -> Result<Option<Phone>> {
        // Naming the user lets WeChat refuse a code pressed by someone else (40029).
        let code = checked_code(code)?;
        let answer = match mp.api.phone_number(code, pressed_by.as_str()).await {
            Ok(answer) => answer,
            Err(e) if is_code_refused(&e) => {
                return Err(code_refused(e, Some(attempt), "getuserphonenumber"))
            }
            Err(e) => {
                // The client logged WeChat's answer; this line says what the login does about it.
                tracing::info!(attempt = %attempt.id, errcode = e.errcode(), "WeChat cannot tell the phone number; going on without it");
                return Ok(None);
            }
        };
        match parse_verified(&answer) {
            Ok(phone) => {
                // The rule of typed numbers: WeChat vouching for a number does not make its
                // country one this deployment takes.
                self.inner
                    .login
                    .phone_countries
                    .admit(&phone)
                    .map_err(|e| {
                        tracing::info!(attempt = %attempt.id, phone = %phone.masked(), "WeChat's phone number is of a country not accepted");
                        LoginError::BadPhone(e)
                    })?;
                Ok(Some(phone))
            }
            Err(e) => {
                tracing::warn!(attempt = %attempt.id, reason = %e, "WeChat's phone number cannot be read; going on without it");
                Ok(None)
            }
        }
    }

    /// Counts one call from `client_ip` against `login.limits.mini_program_per_ip_per_minute`.
    async fn limit_mp_call(&self, client_ip: IpAddr, now: u64) -> Result<()> {
        let inner = &self.inner;
        let limit = Limit::per(
            "mp_ip",
            inner.login.limits.mini_program_per_ip_per_minute,
            limits::MINUTE,
        );
        let client = client_key(client_ip);
        limits::charge(&*inner.store, &[(limit, Subject::Client(&client))], now).await
    }
}

/// Logs why `attempt` was not acted on by a Mini Program call (its status).
fn not_acted_on(attempt: &Attempt, now: u64, call: &'static str) {
    let status = attempt.status_at(now);
    tracing::info!(call, attempt = %attempt.id, %status, "mini program call not acted on");
}

/// Logs why a confirmation found `attempt` no longer valid and gives the one answer for all
/// reasons.
fn scene_refused(attempt: &Attempt, now: u64, call: &'static str) -> LoginError {
    not_acted_on(attempt, now, call);
    LoginError::SceneInvalid
}

/// `jscode2session` / `getuserphonenumber` said the code is invalid (40029) or used (40163).
fn is_code_refused(e: &wechat::Error) -> bool {
    matches!(e.errcode(), Some(40029 | 40163))
}

/// A WeChat error of a code-taking call: the caller's fault when the code was refused, else
/// WeChat's.
fn code_refused(e: wechat::Error, attempt: Option<&Attempt>, api: &'static str) -> LoginError {
    if is_code_refused(&e) {
        let attempt = attempt.map_or("-", |a| a.id.as_str());
        tracing::info!(attempt, api, error = %e, "WeChat refused a Mini Program code");
        LoginError::MpCodeInvalid
    } else {
        LoginError::Wechat(e)
    }
}

/// A code as the page sent it, if it can be one: printable ASCII, not too long.
fn checked_code(code: &str) -> Result<&str> {
    let plausible = !code.is_empty()
        && code.len() <= MAX_CODE_LEN
        && code.bytes().all(|b| b.is_ascii_graphic());
    if plausible {
        Ok(code)
    } else {
        Err(LoginError::MpCodeInvalid)
    }
}

/// WeChat's number: `phoneNumber` as given (with a `+` prefix for foreign numbers, without
/// one for Chinese ones), else country code and `purePhoneNumber` joined.
fn parse_verified(answer: &MpPhone) -> std::result::Result<Phone, PhoneError> {
    Phone::parse(&answer.phone_number).or_else(|first| {
        let country = answer.country_code.trim().trim_start_matches('+');
        if country.is_empty() || answer.pure_phone_number.is_empty() {
            return Err(first);
        }
        Phone::parse(&format!("+{country}{}", answer.pure_phone_number)).map_err(|_| first)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp_phone(number: &str, pure: &str, country: &str) -> MpPhone {
        MpPhone {
            phone_number: number.into(),
            pure_phone_number: pure.into(),
            country_code: country.into(),
        }
    }

    #[test]
    fn codes_must_look_like_codes() {
        assert_eq!(checked_code("0a1B2c3D").unwrap(), "0a1B2c3D");
        for bad in ["", "a b", "a\nb", "码", &"a".repeat(MAX_CODE_LEN + 1)] {
            assert!(
                matches!(checked_code(bad), Err(LoginError::MpCodeInvalid)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn wechat_numbers_are_read_with_or_without_a_prefix() {
        let cn = parse_verified(&mp_phone("13800138000", "13800138000", "86")).unwrap();
        assert_eq!(cn.as_str(), "+8613800138000");
        let plus = parse_verified(&mp_phone("+8613800138000", "13800138000", "86")).unwrap();
        assert_eq!(plus, cn);
        // A foreign number given without its prefix: country code and pure number joined.
        let us = parse_verified(&mp_phone("4155552671", "4155552671", "1")).unwrap();
        assert_eq!(us.as_str(), "+14155552671");
        assert_eq!(
            parse_verified(&mp_phone("", "", "86")),
            Err(PhoneError::Empty)
        );
    }

    #[test]
    fn only_invalid_and_used_codes_are_the_callers_fault() {
        let api = |errcode| wechat::Error::Api {
            errcode,
            errmsg: "x".into(),
        };
        assert!(is_code_refused(&api(40029)));
        assert!(is_code_refused(&api(40163)));
        assert!(!is_code_refused(&api(-1)));
        assert!(!is_code_refused(&api(40013)));
        assert!(!is_code_refused(&wechat::Error::Timeout));
    }
}
