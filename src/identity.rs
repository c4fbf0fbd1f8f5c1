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
    /// `+` (or `00`) followed by 0: no country code starts with 0.
    #[error("has no country code after the + (none starts with 0)")]
    NoCountryCode,
    /// A national trunk prefix `0` after the country code (`+86 0138…`, `+44 (0)20…`), which
    /// E.164 leaves out.
    #[error("has a 0 after the country code; leave out the national prefix 0")]
    TrunkPrefix,
}

impl Phone {
    /// Normalises a user-typed number to E.164.
    ///
    /// - `+CC...` and `00CC...` are taken as international numbers. After `+86` comes exactly
    ///   a Chinese mobile number (11 digits starting with `1`): no trunk prefix `0`, no extra
    ///   digit, so one phone has one spelling ([`PhoneError::TrunkPrefix`],
    ///   [`PhoneError::NotChineseMobile`]). After any other country code a leading `0` (the
    ///   trunk prefix E.164 leaves out) is refused too, except where national numbers really
    ///   begin with 0 ([`ZERO_KEEPING_CODES`]: Italy's landlines, ...).
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
            if !(8..=15).contains(&digits.len()) {
                return Err(PhoneError::BadLength(digits.len()));
            }
            if digits.starts_with('0') {
                return Err(PhoneError::NoCountryCode);
            }
            let (country, national) = digits.split_at(country_code_len(&digits));
            if national.starts_with('0') && !ZERO_KEEPING_CODES.contains(&country) {
                return Err(PhoneError::TrunkPrefix);
            }
            if country == "86" && !is_chinese_mobile(national) {
                return Err(PhoneError::NotChineseMobile);
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

/// The two-digit country calling codes (ITU-T E.164). Calling codes are prefix-free: `1` and
/// `7` are one digit long, these two digits, and every other code three.
const TWO_DIGIT_CODES: [&str; 44] = [
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
    "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65",
    "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
];

/// Country codes whose national numbers may begin with 0 after the country code (the 0 is
/// part of the number there, not a trunk prefix; as in libphonenumber's metadata): Italy
/// (landlines, `+39 06…`), Côte d'Ivoire (`+225 07…`), Benin (`+229 01…`), Gabon
/// (`+241 06…`), the Republic of the Congo (`+242 06…`) and San Marino (`+378 0549…`).
pub const ZERO_KEEPING_CODES: [&str; 6] = ["39", "225", "229", "241", "242", "378"];

/// How many of `digits` (an international number without its `+`) are the country code.
fn country_code_len(digits: &str) -> usize {
    if digits.starts_with(['1', '7']) {
        1
    } else if digits
        .get(..2)
        .is_some_and(|cc| TWO_DIGIT_CODES.contains(&cc))
    {
        2
    } else {
        3
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
    fn plus_86_is_exactly_a_chinese_mobile_so_one_phone_has_one_spelling() {
        let cases: &[(&str, Result<&str, PhoneError>)] = &[
            ("+86 137 0000 9999", Ok("+8613700009999")),
            ("0086 13700009999", Ok("+8613700009999")),
            // The national trunk prefix after the country code.
            ("+86 0137 0000 9999", Err(PhoneError::TrunkPrefix)),
            ("+86 (0)137 0000 9999", Err(PhoneError::TrunkPrefix)),
            ("0086 013700009999", Err(PhoneError::TrunkPrefix)),
            ("+86 00 13700009999", Err(PhoneError::TrunkPrefix)),
            // Extra or missing digits.
            ("+86 13700009999 0", Err(PhoneError::NotChineseMobile)),
            ("+86 137000099990", Err(PhoneError::NotChineseMobile)),
            ("+86 1370000999", Err(PhoneError::NotChineseMobile)),
            ("+86 137 0000 9999 99", Err(PhoneError::NotChineseMobile)),
            // A landline is not something we can send a code to.
            ("+86 10 6552 9988", Err(PhoneError::NotChineseMobile)),
            // Without a prefix: the 11 digits and nothing else.
            ("013700009999", Err(PhoneError::BadLength(12))),
            ("137000099990", Err(PhoneError::BadLength(12))),
        ];
        for (typed, want) in cases {
            let got = Phone::parse(typed);
            assert_eq!(
                got.as_ref().map(Phone::as_str).map_err(Clone::clone),
                want.clone(),
                "{typed}"
            );
        }
    }

    #[test]
    fn other_countries_refuse_the_trunk_zero_except_where_numbers_keep_it() {
        let cases: &[(&str, Result<&str, PhoneError>)] = &[
            ("+44 20 7946 0958", Ok("+442079460958")),
            ("+44 (0)20 7946 0958", Err(PhoneError::TrunkPrefix)),
            ("+49 030 1234567", Err(PhoneError::TrunkPrefix)),
            ("+1 0415 555 2671", Err(PhoneError::TrunkPrefix)),
            ("+7 0495 123 4567", Err(PhoneError::TrunkPrefix)),
            ("+852 0123 4567", Err(PhoneError::TrunkPrefix)),
            ("+886 0912 345 678", Err(PhoneError::TrunkPrefix)),
            ("+886 912 345 678", Ok("+886912345678")),
            // Italy's landlines begin with 0 after +39; so do numbers of a few others.
            ("+39 06 6982 1234", Ok("+390669821234")),
            ("+39 347 123 4567", Ok("+393471234567")),
            ("+225 07 12 34 56 78", Ok("+2250712345678")),
            ("+229 01 97 12 34 56", Ok("+2290197123456")),
            ("+378 0549 123456", Ok("+3780549123456")),
            // No country code starts with 0.
            ("+0 123 456 789", Err(PhoneError::NoCountryCode)),
            ("00 0123 456 789", Err(PhoneError::NoCountryCode)),
        ];
        for (typed, want) in cases {
            let got = Phone::parse(typed);
            assert_eq!(
                got.as_ref().map(Phone::as_str).map_err(Clone::clone),
                want.clone(),
                "{typed}"
            );
        }
    }

    #[test]
    fn country_codes_have_their_length() {
        for (digits, len) in [
            ("14155552671", 1),
            ("74951234567", 1),
            ("8613800138000", 2),
            ("390669821234", 2),
            ("442079460958", 2),
            ("85212345678", 3),
            ("886912345678", 3),
            ("2250712345678", 3),
            ("35312345678", 3),
        ] {
            assert_eq!(country_code_len(digits), len, "{digits}");
        }
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
