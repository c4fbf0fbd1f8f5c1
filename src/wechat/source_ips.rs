//! WeChat's callback source addresses (`GET /cgi-bin/getcallbackip`), for
//! `verify_source_ip`: a push whose sender is not in the list is not from WeChat.
//!
//! [`CallbackIpList`] reads WeChat's list (IPv4 and IPv6 addresses, CIDR ranges such as
//! `101.226.103.0/25`; anything else is skipped, never fatal) and answers "is this address
//! WeChat's?". [`CallbackIps`] (`source_ips/refresh.rs`) holds the list in use, keeps it
//! fresh through a [`SharedCallbackIps`] so instances share one list and one of them asks
//! WeChat per period, and keeps the last good list when WeChat does not answer.
//!
//! A signature already proves a push came from someone holding the Token; the address check
//! is defence in depth for a leaked Token, and it refuses noise before any parsing.

use std::net::IpAddr;
use std::time::SystemTime;

use ipnet::{IpNet, Ipv4Net};

mod refresh;

pub use refresh::{
    CallbackIps, ListState, MemorySharedIps, RefreshOutcome, RefreshReport, RefreshTiming,
    ReportObserver, SharedCallbackIps, SharedIpsError, StoredIpList,
};

/// The longest entry shown in a log line about a skipped entry: WeChat's list is data from
/// the network, a log line should not carry a megabyte of it.
const SHOWN_ENTRY_CHARS: usize = 64;

/// WeChat's callback addresses as one fetch listed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackIpList {
    nets: Vec<IpNet>,
    fetched_at: SystemTime,
}

/// What [`CallbackIpList::contains`] said about a sender, or that there is no list yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceVerdict {
    /// In WeChat's list.
    Allowed,
    /// Not in WeChat's list: refuse.
    Denied,
    /// No list has arrived yet (WeChat did not answer since the start): let it pass, the
    /// signature check still applies (fail open, see README).
    NoList,
}

impl CallbackIpList {
    /// Reads WeChat's `ip_list`, fetched at `fetched_at`. Entries that are neither an address
    /// nor a CIDR range are returned apart (shortened, for a warning) and otherwise ignored:
    /// one odd entry must not cost the whole list.
    pub fn parse(entries: &[String], fetched_at: SystemTime) -> (CallbackIpList, Vec<String>) {
        let mut nets = Vec::with_capacity(entries.len());
        let mut skipped = Vec::new();
        for entry in entries {
            match parse_entry(entry) {
                Some(net) => nets.push(net),
                None => skipped.push(entry.chars().take(SHOWN_ENTRY_CHARS).collect()),
            }
        }
        (CallbackIpList { nets, fetched_at }, skipped)
    }

    /// True when `ip` is one of the listed addresses or inside a listed range. An
    /// IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// How many addresses and ranges the list has.
    pub fn len(&self) -> usize {
        self.nets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// When this instance or another got the list from WeChat.
    pub fn fetched_at(&self) -> SystemTime {
        self.fetched_at
    }
}

/// One entry: `1.2.3.4`, `1.2.3.0/25`, `2001:db8::1`, `2001:db8::/32`, with spaces around
/// tolerated. A range with host bits set (`1.2.3.4/24`) means its network. IPv4-mapped IPv6
/// entries become IPv4, as client addresses do.
fn parse_entry(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    let net = if entry.contains('/') {
        entry.parse::<IpNet>().ok()?.trunc()
    } else {
        IpNet::from(entry.parse::<IpAddr>().ok()?)
    };
    Some(match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::V4(Ipv4Net::new(v4, v6.prefix_len() - 96).ok()?),
            None => net,
        },
        _ => net,
    })
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are compared as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests;
