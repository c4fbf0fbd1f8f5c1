//! The simulated web authorization (网页授权, inside WeChat) and website login (网站应用,
//! `qrconnect`): the codes WeChat's pages hand the browser, and the API that exchanges them
//! (`GET /sns/oauth2/access_token`, `GET /sns/userinfo`), with the shapes and error codes of
//! WeChat's documentation. The pages themselves are in `oauth_pages.rs`.
//!
//! One person is one [`SimUser`]: inside WeChat the Official Account's web authorization
//! gives the openid the account's QR scans give (`user.openid`); the website application has
//! openids of its own; the unionid, when the user has one, is the same in every app.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Serialize;
use sha1::{Digest, Sha1};

use super::api::{json, random_string, wx_error, Params, Shr};
use super::state::{CodeRefusal, IssuedCode, Shared};
use super::{SimApi, SimHandle, SimUser};

/// How long a code from the authorize page is accepted (5 minutes, unused).
const AUTHORIZE_CODE_TTL: Duration = Duration::from_secs(300);
/// How long a code from the qrconnect page is accepted (10 minutes).
const QRCONNECT_CODE_TTL: Duration = Duration::from_secs(600);
/// The person's access token (2 hours).
const SNS_TOKEN_TTL: Duration = Duration::from_secs(7200);
/// Codes and tokens kept before old ones are forgotten.
const KEPT: usize = 4096;

/// The scopes WeChat's pages grant.
pub(super) const SNSAPI_BASE: &str = "snsapi_base";
pub(super) const SNSAPI_USERINFO: &str = "snsapi_userinfo";
pub(super) const SNSAPI_LOGIN: &str = "snsapi_login";

/// The simulated Open Platform website application.
pub(super) struct WebsiteApp {
    pub app_id: String,
    pub app_secret: String,
}

/// What a code grants.
#[derive(Clone)]
pub(super) struct CodeGrant {
    pub app_id: String,
    pub openid: String,
    pub unionid: Option<String>,
    pub scope: &'static str,
    /// Granted in WeChat's snapshot mode: a virtual account.
    pub snapshot: bool,
}

/// A person's access token: what `sns/userinfo` may tell with it.
struct TokenGrant {
    openid: String,
    unionid: Option<String>,
    scope: &'static str,
    valid_until: Instant,
}

/// The simulator's memory of web authorization.
#[derive(Default)]
pub(super) struct OAuthState {
    pub website: Option<WebsiteApp>,
    codes: HashMap<String, IssuedCode<CodeGrant>>,
    tokens: HashMap<String, TokenGrant>,
    /// Who "returning" is on the pages: set by the test or the demo, else the last person
    /// who came as new.
    pub returning: Option<SimUser>,
    /// The account's 网页授权域名: a `redirect_uri` on another host is refused (10003).
    /// `None` = any host (the default: tests and the demo run on loopback ports).
    pub domain: Option<String>,
    /// Codes granted from now on are snapshot-mode ones (`is_snapshotuser: 1`).
    pub snapshot: bool,
}

impl OAuthState {
    /// Mints a single-use code for `grant`, forgetting the oldest codes beyond [`KEPT`].
    pub fn issue_code(&mut self, grant: CodeGrant, ttl: Duration) -> String {
        if self.codes.len() >= KEPT {
            let now = Instant::now();
            self.codes.retain(|_, c| c.valid_until > now && !c.used);
        }
        let code = format!("0{}", random_string(31));
        self.codes.insert(code.clone(), IssuedCode::new(grant, ttl));
        code
    }

    /// The app's kind, by app id: the Official Account (`authorize`) or the website
    /// application (`qrconnect`).
    pub fn is_website(&self, app_id: &str) -> bool {
        self.website.as_ref().is_some_and(|w| w.app_id == app_id)
    }
}

/// The openid `user` has in the website application `app_id`: stable, and not the Official
/// Account's (openids are per app).
pub(super) fn website_openid_for(app_id: &str, user: &SimUser) -> String {
    let digest = Sha1::new()
        .chain_update(b"website-openid\0")
        .chain_update(app_id.as_bytes())
        .chain_update(b"\0")
        .chain_update(user.openid.as_bytes())
        .finalize();
    let hex: String = digest.iter().take(13).map(|b| format!("{b:02x}")).collect();
    format!("oW{hex}")
}

/// A person never seen before: a fresh openid, a unionid, not following.
pub(super) fn fresh_user() -> SimUser {
    let id = random_string(16);
    SimUser {
        openid: format!("o_sim_{id}"),
        unionid: Some(format!("un_sim_{id}")),
        follows: false,
    }
}

impl Shared {
    /// A code for `user` in app `app_id` with `scope`, as WeChat's page would redirect with
    /// it. The openid is the app's: the Official Account's own for `authorize`, the website
    /// application's for `qrconnect`.
    pub(super) fn grant_code(&self, app_id: &str, user: &SimUser, scope: &'static str) -> String {
        let mut inner = self.lock();
        let oauth = &mut inner.oauth;
        let website = oauth.is_website(app_id);
        let (openid, unionid) = if oauth.snapshot {
            // A virtual account: its ids belong to nobody.
            let id = random_string(16);
            (
                format!("o_snapshot_{id}"),
                Some(format!("un_snapshot_{id}")),
            )
        } else if website {
            (website_openid_for(app_id, user), user.unionid.clone())
        } else {
            (user.openid.clone(), user.unionid.clone())
        };
        let grant = CodeGrant {
            app_id: app_id.to_owned(),
            openid,
            unionid,
            scope,
            snapshot: oauth.snapshot,
        };
        let ttl = if website {
            QRCONNECT_CODE_TTL
        } else {
            AUTHORIZE_CODE_TTL
        };
        oauth.issue_code(grant, ttl)
    }

    /// The person a page button names: `new` (remembered as the next "returning"), or
    /// `returning` (the one set, else the last new one, else a new one).
    pub(super) fn page_user(&self, which: &str) -> SimUser {
        let mut inner = self.lock();
        if which == "returning" {
            if let Some(user) = &inner.oauth.returning {
                return user.clone();
            }
        }
        let user = fresh_user();
        inner.oauth.returning = Some(user.clone());
        user
    }
}

impl SimHandle {
    /// From now on the simulator is also WeChat for this Open Platform website application:
    /// its `qrconnect` page, and `sns/oauth2/access_token` with its credentials.
    pub fn add_website_app(&self, app_id: &str, app_secret: &str) {
        self.shared.lock().oauth.website = Some(WebsiteApp {
            app_id: app_id.to_owned(),
            app_secret: app_secret.to_owned(),
        });
    }

    /// Who "returning user" is on the authorize and qrconnect pages.
    pub fn set_oauth_returning_user(&self, user: &SimUser) {
        self.shared.lock().oauth.returning = Some(user.clone());
    }

    /// The Official Account's 网页授权域名: `authorize` refuses a `redirect_uri` on any other
    /// host (10003). `None` (the default) accepts any.
    pub fn set_oauth_domain(&self, domain: Option<&str>) {
        self.shared.lock().oauth.domain = domain.map(str::to_ascii_lowercase);
    }

    /// While true, the pages grant snapshot-mode codes (快照页): virtual accounts, marked
    /// `is_snapshotuser: 1` by `sns/oauth2/access_token`.
    pub fn set_oauth_snapshot(&self, snapshot: bool) {
        self.shared.lock().oauth.snapshot = snapshot;
    }

    /// A code as WeChat's page would hand it to the browser after `user` allowed app `app_id`
    /// (the Official Account or the website application) with `scope`. For tests that skip
    /// the page.
    pub fn oauth_code(&self, app_id: &str, user: &SimUser, scope: &'static str) -> String {
        self.shared.grant_code(app_id, user, scope)
    }

    /// The openid `user` has in the website application (not the Official Account's).
    pub fn website_openid(&self, user: &SimUser) -> String {
        let app_id = self
            .shared
            .lock()
            .oauth
            .website
            .as_ref()
            .map(|w| w.app_id.clone())
            .unwrap_or_default();
        website_openid_for(&app_id, user)
    }
}

/// `refresh_token` is sent as WeChat sends it; nothing redeems it here.
#[derive(Serialize)]
struct GrantBody {
    access_token: String,
    expires_in: u64,
    refresh_token: String,
    openid: String,
    scope: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_snapshotuser: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unionid: Option<String>,
}

/// `GET /sns/oauth2/access_token`: a code for the person's openid (and unionid, for
/// `snsapi_userinfo` and `snsapi_login`). 40029 for a code unknown, expired or another app's,
/// 40163 for one used before.
pub(super) async fn access_token(State(s): Shr, Query(q): Params) -> Response {
    if let Some(code) = s
        .enter(SimApi::OAuthAccessToken, &s.counters.oauth_token_calls)
        .await
    {
        return wx_error(code);
    }
    let app_id = match s.check_credentials(
        q.get("appid").map(String::as_str),
        q.get("secret").map(String::as_str),
    ) {
        Ok(app_id) => app_id,
        Err(code) => return wx_error(code),
    };
    if q.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return wx_error(40002);
    }
    let Some(code) = q.get("code").filter(|c| !c.is_empty()) else {
        return wx_error(41008);
    };
    let mut inner = s.lock();
    let oauth = &mut inner.oauth;
    // Another app's code is unknown to this one, and stays usable by its own.
    let issued = oauth
        .codes
        .get_mut(code)
        .filter(|c| c.grant.app_id == app_id);
    let grant = match issued.map(IssuedCode::redeem) {
        Some(Ok(grant)) => grant,
        Some(Err(CodeRefusal::Used)) => return wx_error(40163),
        Some(Err(CodeRefusal::Invalid)) | None => return wx_error(40029),
    };
    let token = format!("sns_{}", random_string(64));
    if oauth.tokens.len() >= KEPT {
        let now = Instant::now();
        oauth.tokens.retain(|_, t| t.valid_until > now);
    }
    oauth.tokens.insert(
        token.clone(),
        TokenGrant {
            openid: grant.openid.clone(),
            unionid: grant.unionid.clone(),
            scope: grant.scope,
            valid_until: Instant::now() + SNS_TOKEN_TTL,
        },
    );
    // The unionid comes with the grant only for the scopes that show the person's profile.
    let unionid = (grant.scope != SNSAPI_BASE)
        .then_some(grant.unionid)
        .flatten();
    json(&GrantBody {
        access_token: token,
        expires_in: SNS_TOKEN_TTL.as_secs(),
        refresh_token: format!("sns_r_{}", random_string(64)),
        openid: grant.openid,
        scope: grant.scope,
        is_snapshotuser: grant.snapshot.then_some(1),
        unionid,
    })
}

#[derive(Serialize)]
struct SnsUserBody {
    openid: String,
    nickname: &'static str,
    sex: u8,
    province: &'static str,
    city: &'static str,
    country: &'static str,
    headimgurl: &'static str,
    privilege: [&'static str; 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    unionid: Option<String>,
}

/// `GET /sns/userinfo`: the profile behind a person's token (the nickname every user has
/// had since 2021, `微信用户`), with the unionid. 48001 for a `snsapi_base` token.
pub(super) async fn user_info(State(s): Shr, Query(q): Params) -> Response {
    if let Some(code) = s
        .enter(SimApi::SnsUserInfo, &s.counters.sns_userinfo_calls)
        .await
    {
        return wx_error(code);
    }
    let Some(token) = q.get("access_token").filter(|t| !t.is_empty()) else {
        return wx_error(41001);
    };
    let inner = s.lock();
    let Some(grant) = inner.oauth.tokens.get(token) else {
        return wx_error(40001);
    };
    if Instant::now() >= grant.valid_until {
        return wx_error(42001);
    }
    if q.get("openid") != Some(&grant.openid) {
        return wx_error(40003);
    }
    if grant.scope == SNSAPI_BASE {
        return wx_error(48001);
    }
    json(&SnsUserBody {
        openid: grant.openid.clone(),
        nickname: "微信用户",
        sex: 0,
        province: "",
        city: "",
        country: "",
        headimgurl: "",
        privilege: [],
        unionid: grant.unionid.clone(),
    })
}

/// Counters of this module's API.
impl SimHandle {
    /// Calls of `sns/oauth2/access_token` and `sns/userinfo` so far, failed ones included.
    pub fn oauth_calls(&self) -> (u64, u64) {
        let c = &self.shared.counters;
        (
            c.oauth_token_calls.load(Ordering::SeqCst),
            c.sns_userinfo_calls.load(Ordering::SeqCst),
        )
    }
}

#[cfg(test)]
mod tests;
