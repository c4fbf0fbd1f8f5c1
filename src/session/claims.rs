//! The session token's payload.

use serde::{Deserialize, Serialize};

use crate::identity::{Identity, LoginMethod, OpenId, Phone, UnionId, UserId};

/// The `aud` of every session token. Never the name of a route (route names have no `:`), so
/// a session token can never pass for an identity assertion, whose `aud` is a route's name.
pub const SESSION_AUDIENCE: &str = "scangate:session";

/// What a session cookie says about its holder. Times are Unix seconds.
///
/// `sid` names the session (revocation works on it); it survives a sliding refresh, as does
/// `auth_time`, while `iat` and `exp` move on. `iss` and `aud` bind the token to one
/// deployment and one use; a token without them is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The deployment that issued the token: its `public_url` origin.
    pub iss: String,
    /// Always [`SESSION_AUDIENCE`].
    pub aud: String,
    /// Our user id.
    pub sub: UserId,
    /// Random session id: 128 bits, URL-safe base64 without padding.
    pub sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid: Option<OpenId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<UnionId>,
    /// E.164.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    pub method: LoginMethod,
    /// When this token was issued (moves on every refresh).
    pub iat: u64,
    /// First second at which the token is no longer valid.
    pub exp: u64,
    /// When the user logged in (never moves).
    pub auth_time: u64,
}

impl Claims {
    /// The identity the token stands for.
    pub fn identity(&self) -> Identity {
        Identity {
            user_id: self.sub.clone(),
            openid: self.openid.clone(),
            unionid: self.unionid.clone(),
            phone: self.phone.clone(),
            method: self.method,
        }
    }

    /// True when both claim sets describe the same person the same way (times ignored).
    pub(crate) fn same_identity(&self, other: &Claims) -> bool {
        self.sub == other.sub
            && self.openid == other.openid
            && self.unionid == other.unionid
            && self.phone == other.phone
            && self.method == other.method
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(phone: Option<&str>) -> Claims {
        Claims {
            iss: "https://app.example.com".into(),
            aud: SESSION_AUDIENCE.into(),
            sub: UserId::new("u1"),
            sid: "s".into(),
            openid: Some(OpenId::new("o1")),
            unionid: None,
            phone: phone.map(|p| Phone::parse(p).unwrap()),
            method: LoginMethod::OfficialAccount,
            iat: 10,
            exp: 20,
            auth_time: 5,
        }
    }

    #[test]
    fn absent_fields_are_omitted_and_read_back() {
        let c = claims(None);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"iss":"https://app.example.com","aud":"scangate:session","sub":"u1","sid":"s","openid":"o1","method":"official_account","iat":10,"exp":20,"auth_time":5}"#
        );
        assert_eq!(serde_json::from_str::<Claims>(&json).unwrap(), c);
    }

    #[test]
    fn a_token_payload_without_iss_or_aud_is_not_claims() {
        // What versions before iss/aud wrote: it no longer reads, so such sessions end.
        let old = r#"{"sub":"u1","sid":"s","openid":"o1","method":"official_account","iat":10,"exp":20,"auth_time":5}"#;
        assert!(serde_json::from_str::<Claims>(old).is_err());
        let no_aud = r#"{"iss":"https://app.example.com","sub":"u1","sid":"s","method":"official_account","iat":10,"exp":20,"auth_time":5}"#;
        assert!(serde_json::from_str::<Claims>(no_aud).is_err());
        let no_iss = r#"{"aud":"scangate:session","sub":"u1","sid":"s","method":"official_account","iat":10,"exp":20,"auth_time":5}"#;
        assert!(serde_json::from_str::<Claims>(no_iss).is_err());
    }

    #[test]
    fn debug_masks_the_phone() {
        let debug = format!("{:?}", claims(Some("+8613800138000")));
        assert!(debug.contains("+86138****8000"), "{debug}");
        assert!(!debug.contains("13800138000"), "{debug}");
    }

    #[test]
    fn identity_carries_every_field() {
        let c = claims(Some("+8613800138000"));
        let id = c.identity();
        assert_eq!(id.user_id.as_str(), "u1");
        assert_eq!(id.openid.as_ref().map(OpenId::as_str), Some("o1"));
        assert_eq!(id.unionid, None);
        assert_eq!(id.phone.as_ref().map(Phone::as_str), Some("+8613800138000"));
        assert_eq!(id.method, LoginMethod::OfficialAccount);
    }
}
