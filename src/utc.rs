//! Calendar dates of Unix times, in UTC, without a time-zone database: the signing strings
//! of the SMS providers, `scangate users` listings and the access log's timestamps.

/// Year, month, day of the UTC day `unix_seconds` falls in (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`).
pub fn civil(unix_seconds: u64) -> (u64, u64, u64) {
    let z = unix_seconds / 86_400 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// `2019-02-25`: the UTC date of `unix_seconds`.
pub fn utc_date(unix_seconds: u64) -> String {
    let (y, m, d) = civil(unix_seconds);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2023-10-26T10:22:32Z`: ISO 8601 in UTC, to the second.
pub fn utc_timestamp(unix_seconds: u64) -> String {
    let secs = unix_seconds % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        utc_date(unix_seconds),
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_of_known_days() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(951_782_400), (2000, 2, 29));
        assert_eq!(civil(4_102_444_799), (2099, 12, 31));
    }
}
