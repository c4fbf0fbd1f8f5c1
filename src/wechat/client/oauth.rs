//! WeChat's web authorization (网页授权, inside WeChat) and the Open Platform website login
//! (网站应用, `qrconnect`) share one server side: the `code` WeChat hands the browser is
//! exchanged with the app's appid and secret at `sns/oauth2/access_token` for the person's
//! openid (and, by scope, unionid), and `sns/userinfo` tells the unionid for the scopes that
//! allow it. The client is the app's own: the Official Account's for web authorization, the
//! website application's for `qrconnect`.
//!
//! The code and the per-person access token are credentials: neither appears in an error, a
//! log line or `Debug` output.

use serde::Deserialize;

use super::miniprogram::{check_code, scrub};
use super::{report, Api, Error, WechatClient};
use crate::wechat::token::AccessToken;

/// What a code was exchanged for (`sns/oauth2/access_token`).
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthGrant {
    /// The person's openid for this app (the Official Account's openid inside WeChat, the
    /// website application's own for `qrconnect`).
    pub openid: String,
    /// Sent for `snsapi_userinfo` and `snsapi_login` when the app is bound to an Open
    /// Platform account.
    pub unionid: Option<String>,
    /// The scope the person granted (`snsapi_base`, `snsapi_userinfo`, `snsapi_login`).
    pub scope: String,
    /// WeChat showed the page in its snapshot mode (快照页): the openid is a virtual one
    /// that belongs to nobody (`is_snapshotuser: 1`).
    pub snapshot_user: bool,
    /// The person's own access token, good for `sns/userinfo` only.
    access_token: AccessToken,
}

impl std::fmt::Debug for OAuthGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthGrant")
            .field("openid", &self.openid)
            .field("unionid", &self.unionid)
            .field("scope", &self.scope)
            .field("snapshot_user", &self.snapshot_user)
            .finish_non_exhaustive()
    }
}

/// What `sns/userinfo` tells that login needs (the profile fields are not read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsUser {
    pub openid: String,
    /// Only when the app is bound to an Open Platform account.
    pub unionid: Option<String>,
}

impl WechatClient {
    /// `GET /sns/oauth2/access_token` with this client's appid and secret: who the `code`
    /// from WeChat's authorize or qrconnect page belongs to. Codes are single use and short
    /// lived: [`Error::Api`] 40029 (invalid, expired, or another app's), 40163 (already used).
    pub async fn oauth_access_token(&self, code: &str) -> Result<OAuthGrant, Error> {
        check_code(code, "code must be 1..=128 visible ASCII characters")?;
        let url = format!("{}/sns/oauth2/access_token", self.base);
        let answer: Result<GrantResponse, Error> = self
            .retry_busy(|| {
                self.exchange(
                    Api::SnsAccessToken,
                    self.http.get(&url).query(&[
                        ("appid", self.app_id.as_str()),
                        ("secret", self.app_secret.as_str()),
                        ("code", code),
                        ("grant_type", "authorization_code"),
                    ]),
                )
            })
            .await
            .map_err(|e| scrub(e, &[code, &self.app_secret]));
        let answer = report::outcome(Api::SnsAccessToken, answer)?;
        if answer.openid.is_empty() || answer.access_token.is_empty() {
            return Err(Error::Decode("empty openid or access_token".into()));
        }
        Ok(OAuthGrant {
            openid: answer.openid,
            unionid: answer.unionid.filter(|u| !u.is_empty()),
            scope: answer.scope,
            snapshot_user: answer.is_snapshotuser == Some(1),
            access_token: AccessToken::new(answer.access_token),
        })
    }

    /// `GET /sns/userinfo` with the person's own token: their unionid. Only for grants of
    /// `snsapi_userinfo` or `snsapi_login`; a `snsapi_base` grant gets 48001.
    pub async fn sns_user_info(&self, grant: &OAuthGrant) -> Result<SnsUser, Error> {
        let url = format!("{}/sns/userinfo", self.base);
        let token = grant.access_token.expose();
        let answer: Result<SnsUserResponse, Error> = self
            .retry_busy(|| {
                self.exchange(
                    Api::SnsUserInfo,
                    self.http.get(&url).query(&[
                        ("access_token", token),
                        ("openid", grant.openid.as_str()),
                        ("lang", "zh_CN"),
                    ]),
                )
            })
            .await
            .map_err(|e| scrub(e, &[token]));
        let answer = report::outcome(Api::SnsUserInfo, answer)?;
        if answer.openid != grant.openid {
            return Err(Error::Decode(
                "sns/userinfo answered for another openid".into(),
            ));
        }
        Ok(SnsUser {
            openid: answer.openid,
            unionid: answer.unionid.filter(|u| !u.is_empty()),
        })
    }
}

/// `refresh_token` and `expires_in` are not fields: nothing here refreshes or keeps the token.
#[derive(Deserialize)]
struct GrantResponse {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    openid: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    unionid: Option<String>,
    #[serde(default)]
    is_snapshotuser: Option<i64>,
}

/// The profile fields (nickname, headimgurl, ...) are not read: login needs none of them.
#[derive(Deserialize)]
struct SnsUserResponse {
    #[serde(default)]
    openid: String,
    #[serde(default)]
    unionid: Option<String>,
}

#[cfg(test)]
mod tests;
