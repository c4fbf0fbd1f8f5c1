//! The hashing both providers' signatures are made of: SHA-256, HMAC-SHA256, lowercase hex,
//! and the UTC dates they sign.

pub(crate) use crate::utc::{utc_date, utc_timestamp};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `Lowercase(HexEncode(SHA256(data)))`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// `HMAC-SHA256(key, data)`, raw.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Seconds since the Unix epoch now (0 for a clock before 1970).
pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_and_times_of_known_instants() {
        // Tencent's example: 1551113065 is 2019-02-26 00:44:25 in UTC+8, 2019-02-25 in UTC.
        assert_eq!(utc_date(1_551_113_065), "2019-02-25");
        assert_eq!(utc_timestamp(1_551_113_065), "2019-02-25T16:44:25Z");
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        // A leap day and the last second of a century year that is a leap year.
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_timestamp(978_307_199), "2000-12-31T23:59:59Z");
        assert_eq!(utc_timestamp(1_698_315_752), "2023-10-26T10:22:32Z");
    }

    #[test]
    fn digests_of_rfc_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // RFC 4231 test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
