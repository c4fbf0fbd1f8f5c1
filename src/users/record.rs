//! The stored user record and how user ids are made.

use std::collections::BTreeMap;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::identity::{LoginMethod, OpenId, Phone, UnionId, UserId};

/// One person. Stored as JSON under `users:id:{id}`; field names are the storage format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    /// WeChat app id (Official Account, Mini Program...) → the openid this person has there.
    #[serde(default)]
    pub openids: BTreeMap<String, OpenId>,
    /// Shared by all apps of one WeChat Open Platform account; `None` when WeChat gave none.
    #[serde(default)]
    pub unionid: Option<UnionId>,
    /// E.164. A number an earlier version stored and [`Phone::parse`] now refuses (`+86`
    /// with a trunk `0` or an extra digit) reads as none: the user is asked for a number
    /// again at the next login instead of being locked out by an unreadable record.
    #[serde(default, deserialize_with = "phone_or_none")]
    pub phone: Option<Phone>,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds of the last completed login; `None` = never.
    #[serde(default)]
    pub last_login_at: Option<u64>,
    /// A disabled (blocked) user keeps their record and indexes but must not be logged in.
    #[serde(default)]
    pub disabled: bool,
    /// Why an operator blocked the user, as they said it; absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Every way this user has completed a login, in the order first used; empty for
    /// records written before it was kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<LoginMethod>,
}

impl User {
    /// The openid of this user in `app_id`.
    pub fn openid(&self, app_id: &str) -> Option<&OpenId> {
        self.openids.get(app_id)
    }
}

/// A stored phone, or `None` when it is not one that [`Phone::parse`] accepts today.
fn phone_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Phone>, D::Error> {
    let stored = Option::<String>::deserialize(d)?;
    Ok(stored.and_then(|s| Phone::parse(&s).ok()))
}

/// RFC 4648 base32, lowercase: URL-safe, case-insensitive readers cannot confuse two ids.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A fresh user id: `u_` and 16 base32 characters (80 random bits).
pub(super) fn new_user_id() -> UserId {
    let mut bytes = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut bytes);
    UserId::new(format!("u_{}", base32(&bytes)))
}

fn base32(bytes: &[u8; 10]) -> String {
    let bits = bytes
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    (0..16)
        .rev()
        .map(|i| char::from(BASE32[((bits >> (i * 5)) & 31) as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc_4648() {
        // RFC 4648 §10: BASE32("fooba") = "MZXW6YTB"; two blocks of five bytes.
        assert_eq!(base32(b"foobafooba"), "mzxw6ytbmzxw6ytb");
        assert_eq!(base32(&[0; 10]), "aaaaaaaaaaaaaaaa");
        assert_eq!(base32(&[0xff; 10]), "7777777777777777");
    }

    #[test]
    fn user_ids_are_url_safe_and_distinct() {
        let a = new_user_id();
        let b = new_user_id();
        assert_ne!(a, b);
        let s = a.as_str();
        assert_eq!(s.len(), 18);
        assert!(s.starts_with("u_"));
        assert!(s[2..].bytes().all(|c| BASE32.contains(&c)), "{s}");
    }

    #[test]
    fn the_stored_json_shape_is_stable() {
        let mut openids = BTreeMap::new();
        openids.insert("wx_oa".to_string(), OpenId::new("o_1"));
        let user = User {
            id: UserId::new("u_aaaaaaaaaaaaaaaa"),
            openids,
            unionid: Some(UnionId::new("un_1")),
            phone: Some(Phone::parse("13800138000").unwrap()),
            created_at: 1_700_000_000,
            last_login_at: None,
            disabled: false,
            disabled_reason: None,
            methods: Vec::new(),
        };
        let json = serde_json::to_string(&user).unwrap();
        assert_eq!(
            json,
            r#"{"id":"u_aaaaaaaaaaaaaaaa","openids":{"wx_oa":"o_1"},"unionid":"un_1","phone":"+8613800138000","created_at":1700000000,"last_login_at":null,"disabled":false}"#
        );
        assert_eq!(serde_json::from_str::<User>(&json).unwrap(), user);
        // Fields added later default when reading older records.
        let old = r#"{"id":"u_b","created_at":1}"#;
        let read: User = serde_json::from_str(old).unwrap();
        assert!(read.openids.is_empty() && read.phone.is_none() && !read.disabled);
    }

    #[test]
    fn a_number_stored_before_stricter_parsing_reads_as_none_not_as_a_broken_record() {
        for legacy in ["+86013700009999", "+861370000999900", "+4402079460958"] {
            let json = format!(r#"{{"id":"u_c","phone":"{legacy}","created_at":1}}"#);
            let read: User = serde_json::from_str(&json).unwrap();
            assert_eq!(read.phone, None, "{legacy}");
        }
        let json = r#"{"id":"u_c","phone":"+8613700009999","created_at":1}"#;
        let read: User = serde_json::from_str(json).unwrap();
        assert_eq!(
            read.phone.as_ref().map(Phone::as_str),
            Some("+8613700009999")
        );
        let json = r#"{"id":"u_c","phone":null,"created_at":1}"#;
        assert_eq!(serde_json::from_str::<User>(json).unwrap().phone, None);
    }
}
