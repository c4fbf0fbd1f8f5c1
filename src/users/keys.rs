//! Every store key of the user directory, in one place. None has a TTL: users are durable.
//!
//! Each component is escaped (`%` → `%25`, `:` → `%3A`) so that no two different inputs make
//! the same key, whatever an app id or openid contains.

use std::borrow::Cow;

use crate::identity::{OpenId, Phone, UnionId, UserId};

/// The user record (JSON of [`super::User`]).
pub(super) fn user(id: &UserId) -> String {
    format!("users:id:{}", escape(id.as_str()))
}

/// Index: (app id, openid) → user.
pub(super) fn openid(app_id: &str, openid: &OpenId) -> String {
    format!(
        "users:openid:{}:{}",
        escape(app_id),
        escape(openid.as_str())
    )
}

/// Index: unionid → user.
pub(super) fn unionid(unionid: &UnionId) -> String {
    format!("users:unionid:{}", escape(unionid.as_str()))
}

/// Index: phone (E.164) → user.
pub(super) fn phone(phone: &Phone) -> String {
    format!("users:phone:{}", escape(phone.as_str()))
}

fn escape(component: &str) -> Cow<'_, str> {
    if component.contains(['%', ':']) {
        Cow::Owned(component.replace('%', "%25").replace(':', "%3A"))
    } else {
        Cow::Borrowed(component)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_inside_components_cannot_collide() {
        let a = openid("a:b", &OpenId::new("c"));
        let b = openid("a", &OpenId::new("b:c"));
        assert_ne!(a, b);
        assert_eq!(a, "users:openid:a%3Ab:c");
        assert_eq!(openid("a%3Ab", &OpenId::new("c")), "users:openid:a%253Ab:c");
    }

    #[test]
    fn keys_are_readable() {
        let phone_key = phone(&Phone::parse("13800138000").unwrap());
        assert_eq!(phone_key, "users:phone:+8613800138000");
        assert_eq!(user(&UserId::new("u_abc")), "users:id:u_abc");
        assert_eq!(unionid(&UnionId::new("o6_b")), "users:unionid:o6_b");
    }
}
