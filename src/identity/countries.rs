//! Which countries' phone numbers a deployment takes (`login.phone_countries`): one rule for
//! every number a login binds or texts, whether typed on the page or verified by WeChat.

use std::fmt;

use serde::Serialize;

use super::{country_code_len, Phone, PhoneError};

/// A country calling code (ITU-T E.164) without its `+`: `86`, `1`, `852`. Only a code that
/// [`Phone::parse`] would read as one is accepted, so a listed code can match a number.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CountryCode(String);

/// Why a string is not a country calling code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountryCodeError {
    #[error("is not 1 to 3 digits (write 86, not +86)")]
    NotDigits,
    #[error("is not a country calling code: none starts with 0")]
    LeadingZero,
    /// Calling codes are prefix-free, so a code that begins with a shorter one never matches.
    #[error("is not a country calling code: numbers +{given}… have country code +{actual}")]
    ExtendsAnother { given: String, actual: String },
    #[error("is not a country calling code: the codes that start with {given} have {len} digits")]
    TooShort { given: String, len: usize },
}

impl CountryCode {
    pub fn parse(text: &str) -> Result<CountryCode, CountryCodeError> {
        if !(1..=3).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CountryCodeError::NotDigits);
        }
        if text.starts_with('0') {
            return Err(CountryCodeError::LeadingZero);
        }
        let len = country_code_len(text);
        if len < text.len() {
            return Err(CountryCodeError::ExtendsAnother {
                given: text.to_string(),
                actual: text[..len].to_string(),
            });
        }
        if len > text.len() {
            return Err(CountryCodeError::TooShort {
                given: text.to_string(),
                len,
            });
        }
        Ok(CountryCode(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryCode(+{})", self.0)
    }
}

/// The countries whose numbers are accepted: never empty. Serializes as the list of codes
/// (`["86", "1"]`), as the login page is told them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PhoneCountries(Vec<CountryCode>);

impl PhoneCountries {
    /// `None` for an empty list: a deployment that takes no number at all would have every
    /// new user stuck at the phone step.
    pub fn new(codes: Vec<CountryCode>) -> Option<PhoneCountries> {
        (!codes.is_empty()).then_some(PhoneCountries(codes))
    }

    pub fn codes(&self) -> &[CountryCode] {
        &self.0
    }

    /// The codes as text (`["86", "1"]`), for pages and messages.
    pub fn code_strs(&self) -> Vec<&str> {
        self.0.iter().map(CountryCode::as_str).collect()
    }

    /// `Ok` when `phone`'s country is listed; else [`PhoneError::CountryNotAccepted`], whose
    /// text names the accepted codes.
    pub fn admit(&self, phone: &Phone) -> Result<(), PhoneError> {
        let country = phone.country_code();
        if self.0.iter().any(|c| c.as_str() == country) {
            return Ok(());
        }
        let accepted = self
            .0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        Err(PhoneError::CountryNotAccepted {
            country: country.to_string(),
            accepted,
        })
    }
}

/// Chinese numbers only: what users in our market have, and what the login page asks for.
impl Default for PhoneCountries {
    fn default() -> Self {
        PhoneCountries(vec![CountryCode("86".to_string())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn countries(codes: &[&str]) -> PhoneCountries {
        let codes = codes.iter().map(|c| CountryCode::parse(c).unwrap());
        PhoneCountries::new(codes.collect()).unwrap()
    }

    #[test]
    fn codes_are_the_ones_a_number_can_start_with() {
        for good in ["1", "7", "86", "44", "852", "378"] {
            assert_eq!(CountryCode::parse(good).unwrap().as_str(), good);
        }
        assert_eq!(CountryCode::parse("86").unwrap().to_string(), "+86");
        for bad in ["", "+86", "8a", "1234", " 86"] {
            assert_eq!(
                CountryCode::parse(bad),
                Err(CountryCodeError::NotDigits),
                "{bad:?}"
            );
        }
        assert_eq!(
            CountryCode::parse("086"),
            Err(CountryCodeError::LeadingZero)
        );
        assert_eq!(
            CountryCode::parse("12").unwrap_err().to_string(),
            "is not a country calling code: numbers +12… have country code +1"
        );
        assert_eq!(
            CountryCode::parse("8").unwrap_err().to_string(),
            "is not a country calling code: the codes that start with 8 have 3 digits"
        );
        assert!(matches!(
            CountryCode::parse("21"),
            Err(CountryCodeError::TooShort { len: 3, .. })
        ));
    }

    #[test]
    fn a_number_is_admitted_by_its_country_code_only() {
        let cn = countries(&["86"]);
        assert_eq!(cn, PhoneCountries::default());
        assert_eq!(cn.admit(&Phone::parse("13800138000").unwrap()), Ok(()));
        let us = Phone::parse("+1 415 555 0100").unwrap();
        assert_eq!(
            cn.admit(&us).unwrap_err().to_string(),
            "has country code +1, which is not accepted here (accepted: +86)"
        );
        let both = countries(&["86", "1"]);
        assert_eq!(both.admit(&us), Ok(()));
        // Hong Kong's +852 is not China's +86, though it starts alike.
        let hk = Phone::parse("+852 6123 4567").unwrap();
        assert_eq!(
            both.admit(&hk).unwrap_err().to_string(),
            "has country code +852, which is not accepted here (accepted: +86, +1)"
        );
        assert_eq!(PhoneCountries::new(Vec::new()), None);
    }

    #[test]
    fn the_list_serializes_as_plain_codes() {
        assert_eq!(
            serde_json::to_string(&countries(&["86", "1"])).unwrap(),
            r#"["86","1"]"#
        );
    }
}
