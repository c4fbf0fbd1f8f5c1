//! Abuse limits counted in the store, so that every gateway instance sees the same counts.
//!
//! Each limit is a fixed window aligned to multiples of its length in Unix time: one `incr`
//! per request (the key expires with its window), no read-modify-write race, and the answer
//! to a refused caller is exact: "come back when this window ends".

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::error::{LoginError, Result};
use crate::identity::Phone;
use crate::store::Store;

/// One limit: at most `max` events per `window_seconds` for one subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Names the limit in its store key and in logs: `qr_ip`, `sms_phone_h`, ...
    pub name: &'static str,
    pub max: u64,
    pub window_seconds: u64,
}

pub const MINUTE: u64 = 60;
pub const HOUR: u64 = 3600;
pub const DAY: u64 = 86_400;

impl Limit {
    /// `max: None` (the operator wrote 0) means no limit.
    pub fn per(name: &'static str, max: Option<u64>, window_seconds: u64) -> Option<Limit> {
        max.map(|max| Limit {
            name,
            max,
            window_seconds: window_seconds.max(1),
        })
    }

    /// The store key counting `subject` in the window that contains `now`, and the seconds
    /// left in that window (at least 1).
    pub fn window(&self, subject: &str, now: u64) -> (String, u64) {
        let index = now / self.window_seconds;
        let end = index.saturating_add(1).saturating_mul(self.window_seconds);
        // The subject comes last: IPv6 text contains `:`.
        let key = format!("limit:{}:{index}:{subject}", self.name);
        (key, end.saturating_sub(now).max(1))
    }
}

/// Whom a limit counts. Typed, so that a phone number can only reach a log line masked.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    /// A client as [`client_key`] gives it.
    Client(&'a str),
    /// A phone number (the SMS limits per number).
    Phone(&'a Phone),
}

impl Subject<'_> {
    /// The text counted in the store key.
    fn key(&self) -> &str {
        match self {
            Subject::Client(client) => client,
            Subject::Phone(phone) => phone.as_str(),
        }
    }
}

/// For logs: a client as it is, a phone masked as in the audit log (`+86138****8000`).
impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Client(client) => f.write_str(client),
            Subject::Phone(phone) => f.write_str(&phone.masked()),
        }
    }
}

/// Counts one event of `subject` against each limit in turn and refuses at the first one
/// that is exceeded, with the seconds until its window ends. Limits are checked in the order
/// given; an event refused by one limit has still been counted by the earlier ones, which is
/// what an abuser hammering the endpoint deserves.
pub async fn charge(
    store: &dyn Store,
    checks: &[(Option<Limit>, Subject<'_>)],
    now: u64,
) -> Result<()> {
    for (limit, subject) in checks {
        let Some(limit) = limit else { continue };
        let (key, left) = limit.window(subject.key(), now);
        let count = store.incr(&key, Duration::from_secs(left)).await?;
        if count > limit.max {
            if count == limit.max + 1 {
                tracing::warn!(limit = limit.name, subject = %subject, max = limit.max,
                    window_seconds = limit.window_seconds, "rate limit reached; refusing until the window ends");
            }
            return Err(LoginError::RateLimited {
                retry_after_seconds: left,
            });
        }
    }
    Ok(())
}

/// A client as counted by the limits: an IPv4 address, or the /64 of an IPv6 address (one
/// subscriber usually holds a whole /64, and would otherwise get 2^64 budgets).
pub fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{}/64", std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    fn limit(max: u64, window_seconds: u64) -> Option<Limit> {
        Limit::per("t", Some(max), window_seconds)
    }

    #[test]
    fn windows_are_aligned_and_name_their_subject() {
        let l = limit(3, 60).unwrap();
        assert_eq!(l.window("1.2.3.4", 120), ("limit:t:2:1.2.3.4".into(), 60));
        assert_eq!(l.window("1.2.3.4", 179), ("limit:t:2:1.2.3.4".into(), 1));
        assert_eq!(l.window("1.2.3.4", 180), ("limit:t:3:1.2.3.4".into(), 60));
        assert_eq!(Limit::per("t", None, 60), None);
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        assert_eq!(client_key("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
    }

    #[tokio::test]
    async fn the_first_exceeded_limit_refuses_until_its_window_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let per_minute = limit(2, 60);
        let per_hour = Limit::per("h", Some(3), 3600);
        let ip = Subject::Client("ip");
        let checks = [(per_minute, ip), (per_hour, ip)];
        charge(&store, &checks, 600).await.unwrap();
        charge(&store, &checks, 601).await.unwrap();
        match charge(&store, &checks, 630).await {
            Err(LoginError::RateLimited {
                retry_after_seconds,
            }) => assert_eq!(retry_after_seconds, 30),
            other => panic!("expected rate limited, got {other:?}"),
        }
        // Next minute: the minute limit has room again, the hour limit (3) is now spent.
        charge(&store, &checks, 660).await.unwrap();
        match charge(&store, &checks, 661).await {
            Err(LoginError::RateLimited {
                retry_after_seconds,
            }) => assert_eq!(retry_after_seconds, 3600 - 661),
            other => panic!("expected rate limited, got {other:?}"),
        }
        // Another subject is unaffected; an off limit never refuses.
        charge(&store, &[(per_minute, Subject::Client("other"))], 661)
            .await
            .unwrap();
        for _ in 0..10 {
            charge(&store, &[(None, ip)], 661).await.unwrap();
        }
    }

    #[test]
    fn a_phone_subject_counts_the_full_number_and_shows_it_masked() {
        let phone = Phone::parse("13800138000").unwrap();
        let subject = Subject::Phone(&phone);
        assert_eq!(subject.key(), "+8613800138000");
        assert_eq!(subject.to_string(), "+86138****8000");
        assert_eq!(format!("{subject:?}"), "Phone(Phone(+86138****8000))");
        assert_eq!(Subject::Client("10.0.0.1").to_string(), "10.0.0.1");
    }

    #[tokio::test]
    async fn the_rate_limit_warning_never_shows_a_full_phone_number() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let phone = Phone::parse("+86 138 0013 8000").unwrap();
        let checks = [(
            Limit::per("sms_phone_h", Some(1), HOUR),
            Subject::Phone(&phone),
        )];
        let logs = crate::login::test_logs::capture();
        charge(&store, &checks, 7200).await.unwrap();
        let refused = charge(&store, &checks, 7201).await;
        assert!(
            matches!(refused, Err(LoginError::RateLimited { .. })),
            "{refused:?}"
        );
        let text = logs.text();
        // The warning was written (so this test can fail), naming the limit and the masked
        // number, and the number appears nowhere in full.
        assert!(text.contains("rate limit reached"), "{text}");
        assert!(text.contains("sms_phone_h"), "{text}");
        assert!(text.contains("+86138****8000"), "{text}");
        assert!(!text.contains("13800138000"), "{text}");
    }
}
