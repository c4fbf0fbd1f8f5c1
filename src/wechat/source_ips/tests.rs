use std::net::IpAddr;
use std::time::SystemTime;

use super::CallbackIpList;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn list(entries: &[&str]) -> (CallbackIpList, Vec<String>) {
    let entries: Vec<String> = entries.iter().map(|e| (*e).to_string()).collect();
    CallbackIpList::parse(&entries, SystemTime::UNIX_EPOCH)
}

#[test]
fn single_ipv4_addresses_match_exactly() {
    // The shape of WeChat's documented answer.
    let (l, skipped) = list(&["127.0.0.1", "127.0.0.2", "101.226.103.0/25"]);
    assert!(skipped.is_empty());
    assert_eq!(l.len(), 3);
    assert!(l.contains(ip("127.0.0.1")));
    assert!(l.contains(ip("127.0.0.2")));
    assert!(!l.contains(ip("127.0.0.3")));
}

#[test]
fn cidr_ranges_cover_their_addresses_and_nothing_else() {
    let (l, _) = list(&["101.226.103.0/25"]);
    assert!(l.contains(ip("101.226.103.0")));
    assert!(l.contains(ip("101.226.103.127")));
    assert!(!l.contains(ip("101.226.103.128")));
    assert!(!l.contains(ip("101.226.102.255")));
}

#[test]
fn a_range_with_host_bits_means_its_network() {
    let (l, skipped) = list(&["101.226.103.77/25"]);
    assert!(skipped.is_empty());
    assert!(l.contains(ip("101.226.103.1")));
    assert!(!l.contains(ip("101.226.103.200")));
}

#[test]
fn ipv6_addresses_and_ranges_match() {
    let (l, skipped) = list(&["2001:db8::1", "240e:e1:a800::/40"]);
    assert!(skipped.is_empty());
    assert!(l.contains(ip("2001:db8::1")));
    assert!(!l.contains(ip("2001:db8::2")));
    assert!(l.contains(ip("240e:e1:a8ff:1::5")));
    assert!(!l.contains(ip("240e:e1:a900::1")));
    // An IPv4 list says nothing about IPv6 and the other way round.
    assert!(!l.contains(ip("127.0.0.1")));
}

#[test]
fn mapped_ipv6_counts_as_ipv4_on_both_sides() {
    let (l, _) = list(&["203.0.113.0/24"]);
    assert!(l.contains(ip("::ffff:203.0.113.9")));
    let (l, _) = list(&["::ffff:198.51.100.7", "::ffff:192.0.2.0/120"]);
    assert!(l.contains(ip("198.51.100.7")));
    assert!(l.contains(ip("192.0.2.200")));
    assert!(!l.contains(ip("192.0.3.1")));
}

#[test]
fn junk_entries_are_skipped_and_returned_for_a_warning() {
    let long = "x".repeat(500);
    let (l, skipped) = list(&[
        " 127.0.0.1 ",
        "",
        "localhost",
        "1.2.3.4/33",
        "300.1.1.1",
        "1.2.3.4:80",
        &long,
        "10.0.0.0/8",
    ]);
    assert_eq!(l.len(), 2, "the two good entries are kept");
    assert!(l.contains(ip("127.0.0.1")));
    assert!(l.contains(ip("10.200.1.1")));
    assert_eq!(skipped.len(), 6, "{skipped:?}");
    assert!(skipped.contains(&"localhost".to_string()));
    // A huge entry is shortened before anyone logs it.
    assert!(skipped.iter().all(|s| s.chars().count() <= 64));
}

#[test]
fn an_empty_or_all_junk_list_matches_nothing() {
    let (l, skipped) = list(&["nope"]);
    assert!(l.is_empty());
    assert_eq!(skipped, ["nope"]);
    assert!(!l.contains(ip("127.0.0.1")));
}
