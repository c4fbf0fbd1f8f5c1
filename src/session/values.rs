//! A verified identity as ready-made header values, built once when a token is first verified
//! and shared (by reference count) by every request that forwards it, instead of copying each
//! value into a new header on every request.

use http::HeaderValue;

use crate::identity::Identity;

/// The identity's fields as header values; a field that could not be one (it cannot, for ids
/// WeChat and we issue, but nothing is sent mangled) is `None`.
#[derive(Clone, Debug)]
pub struct IdentityValues {
    pub user_id: Option<HeaderValue>,
    pub openid: Option<HeaderValue>,
    pub unionid: Option<HeaderValue>,
    pub phone: Option<HeaderValue>,
    pub method: HeaderValue,
}

fn value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(text.as_bytes())).ok()
}

impl IdentityValues {
    pub fn of(identity: &Identity) -> IdentityValues {
        IdentityValues {
            user_id: value(identity.user_id.as_str()),
            openid: identity.openid.as_ref().and_then(|v| value(v.as_str())),
            unionid: identity.unionid.as_ref().and_then(|v| value(v.as_str())),
            phone: identity.phone.as_ref().and_then(|v| value(v.as_str())),
            method: HeaderValue::from_static(identity.method.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{LoginMethod, OpenId, Phone, UserId};

    #[test]
    fn fields_become_values_and_bad_ones_are_left_out() {
        let identity = Identity {
            user_id: UserId::new("u_1"),
            openid: Some(OpenId::new("o\nbad")),
            unionid: None,
            phone: Some(Phone::parse("13800138000").unwrap()),
            method: LoginMethod::MiniProgram,
        };
        let v = IdentityValues::of(&identity);
        assert_eq!(v.user_id.unwrap(), "u_1");
        assert!(v.openid.is_none());
        assert!(v.unionid.is_none());
        assert_eq!(v.phone.unwrap(), "+8613800138000");
        assert_eq!(v.method, "mini_program");
    }
}
