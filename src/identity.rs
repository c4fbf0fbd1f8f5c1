//! Vocabulary types shared by every module: who a user is, and what names a login attempt
//! (its id, the browser's secret, the scene of its code), as newtypes so that an openid can
//! never be passed where a phone number is expected, nor a secret where an id is (linkerd
//! style).
//!
//! This module depends on nothing else in the crate; `config` may use it.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};

mod countries;
pub use countries::{CountryCode, CountryCodeError, PhoneCountries};

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

string_newtype!(
    /// What a WeChat code carries back to us when it is scanned: the Official Account QR
    /// code's `scene_str` (its `qrscene_` prefix removed), the Mini Program code's `scene`.
    ///
    /// Any text is a scene ([`SceneId::new`] accepts every string, as WeChat and the Mini
    /// Program page send them): the account's other QR codes carry scenes of their own, and
    /// the page sends whatever it read. The codes *we* make carry their attempt's id
    /// ([`SceneId::of`]), so a scene names a login attempt exactly when it is one
    /// ([`SceneId::attempt_id`]).
    SceneId
);

impl SceneId {
    /// The scene of the code made for attempt `id`: the id itself.
    pub fn of(id: &AttemptId) -> SceneId {
        SceneId(id.as_str().to_string())
    }

    /// The attempt this scene names, if it can name one (it is a well-formed attempt id).
    pub fn attempt_id(&self) -> Option<AttemptId> {
        AttemptId::parse(&self.0).ok()
    }
}

/// Length of a 128-bit token (attempt id, browser secret, login ticket) in URL-safe base64
/// without padding.
pub(crate) const TOKEN_LEN: usize = 22;

/// A fresh 128-bit token from the OS CSPRNG, in URL-safe base64 without padding.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// True when `s` could be a token we issued: 22 URL-safe characters decoding to 16 bytes
/// (canonically: the last character carries no bits beyond 128).
pub(crate) fn is_token(s: &str) -> bool {
    s.len() == TOKEN_LEN
        && URL_SAFE_NO_PAD
            .decode(s)
            .is_ok_and(|bytes| bytes.len() == 16)
}

/// Why a string is not an [`AttemptId`] or a [`BrowserSecret`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not 22 URL-safe base64 characters encoding 128 bits")]
pub struct MalformedToken;

/// The text of attempt ids and browser secrets: a token we issued ([`is_token`]).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
struct Token(String);

impl Token {
    fn random() -> Token {
        Token(random_token())
    }

    fn parse(input: &str) -> Result<Token, MalformedToken> {
        is_token(input)
            .then(|| Token(input.to_string()))
            .ok_or(MalformedToken)
    }
}

/// The id of a login attempt: 128 random bits in URL-safe base64 without padding (22
/// characters). It names the attempt in URLs and request bodies, and is the scene of the
/// attempt's WeChat code ([`SceneId::of`]). Not a secret: the browser binding
/// ([`BrowserSecret`]) is what protects an attempt.
///
/// Built from outside input only by [`AttemptId::parse`], so an id that is not one of ours
/// never reaches the store. Stored as its string; reading a stored one checks it the same way.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AttemptId(Token);

impl AttemptId {
    /// A fresh id.
    pub fn random() -> AttemptId {
        AttemptId(Token::random())
    }

    /// An id as a client sent it: exactly a token we could have issued (no trimming, no
    /// other alphabet or length).
    pub fn parse(input: &str) -> Result<AttemptId, MalformedToken> {
        Token::parse(input).map(AttemptId)
    }

    pub fn as_str(&self) -> &str {
        &self.0 .0
    }
}

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AttemptId({:?})", self.as_str())
    }
}

impl<'de> Deserialize<'de> for AttemptId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        AttemptId::parse(&s).map_err(|e| serde::de::Error::custom(format!("attempt id {e}")))
    }
}

/// The secret that binds a login attempt to the browser that started it (the binding
/// cookie): 128 random bits in URL-safe base64 without padding. A credential: `Debug` and
/// `Display` never show it, it has no serde, and only its hash is stored. The one way to read
/// it is [`BrowserSecret::as_str`], for the cookie and the hash.
///
/// Built from outside input only by [`BrowserSecret::parse`]; a cookie that is not a token of
/// ours is no binding (no attempt was ever bound to it).
#[derive(Clone)]
pub struct BrowserSecret(Token);

impl BrowserSecret {
    /// A fresh secret.
    pub fn random() -> BrowserSecret {
        BrowserSecret(Token::random())
    }

    /// A secret as the browser sent it: exactly a token we could have issued.
    pub fn parse(input: &str) -> Result<BrowserSecret, MalformedToken> {
        Token::parse(input).map(BrowserSecret)
    }

    /// The secret itself: only for the cookie that carries it and for hashing it.
    pub fn as_str(&self) -> &str {
        &self.0 .0
    }
}

impl fmt::Display for BrowserSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Debug for BrowserSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BrowserSecret(***)")
    }
}

/// How the user proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    OfficialAccount,
    MiniProgram,
    /// A code sent by SMS to a phone number an account holds (or may sign up with).
    Sms,
    /// The Open Platform website application's QR page (`connect/qrconnect`).
    Website,
    /// WeChat's web authorization (`connect/oauth2/authorize`) inside WeChat's own browser,
    /// by the Official Account: not a page method, on with `official_account.oauth`.
    InWechat,
}

impl LoginMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMethod::OfficialAccount => "official_account",
            LoginMethod::MiniProgram => "mini_program",
            LoginMethod::Sms => "sms",
            LoginMethod::Website => "website",
            LoginMethod::InWechat => "in_wechat",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "official_account" => Some(LoginMethod::OfficialAccount),
            "mini_program" => Some(LoginMethod::MiniProgram),
            "sms" => Some(LoginMethod::Sms),
            "website" => Some(LoginMethod::Website),
            "in_wechat" => Some(LoginMethod::InWechat),
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
    /// A well-formed number of a country `login.phone_countries` does not list.
    #[error("has country code +{country}, which is not accepted here (accepted: {accepted})")]
    CountryNotAccepted { country: String, accepted: String },
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

    /// The country calling code without its `+`: `86` for `+8613800138000`.
    pub fn country_code(&self) -> &str {
        // `parse` built `+` and 8 to 15 digits; `get` all the same, so nothing can panic.
        let digits = self.0.get(1..).unwrap_or_default();
        digits.get(..country_code_len(digits)).unwrap_or(digits)
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
    fn the_country_code_is_read_off_the_number() {
        let code = |s: &str| Phone::parse(s).unwrap().country_code().to_string();
        assert_eq!(code("13800138000"), "86");
        assert_eq!(code("+1 415 555 0100"), "1");
        assert_eq!(code("+44 20 7946 0958"), "44");
        assert_eq!(code("+852 6123 4567"), "852");
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

    const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAA";

    /// Spellings no token of ours has.
    const NOT_TOKENS: [&str; 8] = [
        "",
        "short",
        "AAAAAAAAAAAAAAAAAAAAA+",  // the standard base64 alphabet
        "AAAAAAAAAAAAAAAAAAAAA/",  // the standard base64 alphabet
        "AAAAAAAAAAAAAAAAAAAAAAA", // 23 characters
        "AAAAAAAAAAAAAAAAAAAAB",   // 21 characters
        "AAAAAAAAAAAAAAAAAAAAAB",  // the last character carries bits beyond 128
        " AAAAAAAAAAAAAAAAAAAAA",  // not trimmed
    ];

    #[test]
    fn attempt_ids_are_exactly_our_tokens() {
        let id = AttemptId::parse(TOKEN).unwrap();
        assert_eq!(id.as_str(), TOKEN);
        assert_eq!(id.to_string(), TOKEN);
        assert_eq!(format!("{id:?}"), format!("AttemptId({TOKEN:?})"));
        assert!(AttemptId::parse("abcdefghij-_ABCDEFGHIQ").is_ok());
        for bad in NOT_TOKENS {
            assert_eq!(AttemptId::parse(bad), Err(MalformedToken), "{bad:?}");
        }
        let fresh = AttemptId::random();
        assert_eq!(AttemptId::parse(fresh.as_str()), Ok(fresh.clone()));
        assert_ne!(fresh, AttemptId::random());
    }

    #[test]
    fn attempt_ids_are_stored_as_their_string_and_checked_when_read() {
        let id = AttemptId::parse(TOKEN).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{TOKEN}\""));
        assert_eq!(serde_json::from_str::<AttemptId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<AttemptId>("\"id-1\"").is_err());
    }

    #[test]
    fn browser_secrets_are_exactly_our_tokens_and_never_shown() {
        let secret = BrowserSecret::parse(TOKEN).unwrap();
        assert_eq!(secret.as_str(), TOKEN);
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "BrowserSecret(***)");
        for bad in NOT_TOKENS {
            assert!(BrowserSecret::parse(bad).is_err(), "{bad:?}");
        }
        let fresh = BrowserSecret::random();
        assert!(BrowserSecret::parse(fresh.as_str()).is_ok());
        assert!(!format!("{fresh} {fresh:?}").contains(fresh.as_str()));
    }

    #[test]
    fn login_methods_round_trip_their_wire_names() {
        use LoginMethod::*;
        for method in [OfficialAccount, MiniProgram, Website, InWechat] {
            assert_eq!(LoginMethod::parse(method.as_str()), Some(method));
            // The session and the assertion store the same name.
            assert_eq!(
                serde_json::to_string(&method).unwrap(),
                format!("\"{}\"", method.as_str())
            );
        }
        assert_eq!(Website.as_str(), "website");
        assert_eq!(InWechat.as_str(), "in_wechat");
        assert_eq!(LoginMethod::parse("in-wechat"), None);
        assert_eq!(LoginMethod::parse("Website"), None);
    }

    #[test]
    fn a_scene_is_any_text_and_names_an_attempt_when_it_is_an_id() {
        let id = AttemptId::parse(TOKEN).unwrap();
        let scene = SceneId::of(&id);
        assert_eq!(scene.as_str(), TOKEN);
        assert_eq!(scene.attempt_id(), Some(id));
        for other in NOT_TOKENS {
            let scene = SceneId::new(other);
            assert_eq!(scene.as_str(), other);
            assert_eq!(scene.attempt_id(), None, "{other:?}");
        }
        assert_eq!(
            serde_json::to_string(&scene).unwrap(),
            format!("\"{TOKEN}\"")
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
