//! Vocabulary types shared by every module: who a user is, as newtypes so that an openid can
//! never be passed where a phone number is expected (linkerd style).
//!
//! This module depends on nothing else in the crate; `config` may use it.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

string_newtype!(
    /// Our own user id (stable, opaque; the upstream's primary key for the person).
    UserId
);
string_newtype!(
    /// A WeChat openid: unique per user *per app id*.
    OpenId
);
string_newtype!(
    /// A WeChat unionid: unique per user across the apps of one WeChat Open Platform account.
    UnionId
);

/// How the user proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    OfficialAccount,
    MiniProgram,
}

impl LoginMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMethod::OfficialAccount => "official_account",
            LoginMethod::MiniProgram => "mini_program",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "official_account" => Some(LoginMethod::OfficialAccount),
            "mini_program" => Some(LoginMethod::MiniProgram),
            _ => None,
        }
    }
}

impl fmt::Display for LoginMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A phone number in E.164 form (`+8613800138000`). The only way to build one from outside
/// input is [`Phone::parse`], so every `Phone` in the program is normalised.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Phone(String);

/// Why a string is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("is empty")]
    Empty,
    #[error("has characters other than digits, spaces, dashes, dots, brackets and a leading +")]
    BadCharacter,
    #[error("has {0} digits; E.164 numbers have 8 to 15")]
    BadLength(usize),
    #[error("is not a Chinese mobile number (11 digits starting with 1)")]
    NotChineseMobile,
}

impl Phone {
    /// Normalises a user-typed number to E.164.
    ///
    /// - `+CC...` and `00CC...` are taken as international numbers.
    /// - A number without a prefix is read as a Chinese mobile number (+86): 11 digits
    ///   starting with `1`. This is what users in our market type.
    /// - Spaces, dashes, dots and brackets are ignored.
    pub fn parse(input: &str) -> Result<Phone, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        let (international, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError::BadCharacter),
            }
        }
        let (international, digits) = match digits.strip_prefix("00") {
            Some(d) if !international => (true, d.to_string()),
            _ => (international, digits),
        };
        if international {
            if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
                return Err(PhoneError::BadLength(digits.len()));
            }
            if let Some(national) = digits.strip_prefix("86") {
                if !is_chinese_mobile(national) && national.len() == 11 {
                    return Err(PhoneError::NotChineseMobile);
                }
            }
            return Ok(Phone(format!("+{digits}")));
        }
        if is_chinese_mobile(&digits) {
            Ok(Phone(format!("+86{digits}")))
        } else if digits.len() == 11 {
            Err(PhoneError::NotChineseMobile)
        } else {
            Err(PhoneError::BadLength(digits.len()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with the middle digits hidden, for logs and pages: `+86138****8000`.
    pub fn masked(&self) -> String {
        let s = &self.0;
        if s.len() < 8 {
            return "****".to_string();
        }
        format!("{}****{}", &s[..s.len() - 8], &s[s.len() - 4..])
    }
}

fn is_chinese_mobile(digits: &str) -> bool {
    digits.len() == 11 && digits.starts_with('1') && digits.bytes().all(|b| b.is_ascii_digit())
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl<'de> Deserialize<'de> for Phone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Phone::parse(&s).map_err(|e| serde::de::Error::custom(format!("phone {e}")))
    }
}

/// Who a request is from, once a session has been verified. This is what the gate, the
/// header injector and `/.auth/me` see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user_id: UserId,
    pub openid: Option<OpenId>,
    pub unionid: Option<UnionId>,
    pub phone: Option<Phone>,
    pub method: LoginMethod,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_mobile_without_prefix_reads_as_plus_86() {
        assert_eq!(
            Phone::parse("13800138000").unwrap().as_str(),
            "+8613800138000"
        );
        assert_eq!(
            Phone::parse(" 138-0013-8000 ").unwrap().as_str(),
            "+8613800138000"
        );
    }

    #[test]
    fn international_forms_are_kept() {
        assert_eq!(
            Phone::parse("+86 138 0013 8000").unwrap().as_str(),
            "+8613800138000"
        );
        assert_eq!(
            Phone::parse("008613800138000").unwrap().as_str(),
            "+8613800138000"
        );
        assert_eq!(
            Phone::parse("+1 (415) 555-2671").unwrap().as_str(),
            "+14155552671"
        );
    }

    #[test]
    fn junk_is_refused_with_a_reason() {
        assert_eq!(Phone::parse(""), Err(PhoneError::Empty));
        assert_eq!(Phone::parse("138x0013800"), Err(PhoneError::BadCharacter));
        assert_eq!(Phone::parse("12345"), Err(PhoneError::BadLength(5)));
        assert_eq!(
            Phone::parse("23800138000"),
            Err(PhoneError::NotChineseMobile)
        );
        assert_eq!(
            Phone::parse("+8623800138000"),
            Err(PhoneError::NotChineseMobile)
        );
        assert_eq!(
            Phone::parse("+1234567890123456"),
            Err(PhoneError::BadLength(16))
        );
    }

    #[test]
    fn masked_hides_the_middle() {
        assert_eq!(
            Phone::parse("13800138000").unwrap().masked(),
            "+86138****8000"
        );
        assert_eq!(
            format!("{:?}", Phone::parse("13800138000").unwrap()),
            "Phone(+86138****8000)"
        );
    }
}
