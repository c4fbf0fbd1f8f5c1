//! Who the client is, when proxies stand in front of us: `X-Forwarded-For` is believed only
//! as far as it was written by peers listed in `trusted_proxies`, read right to left.

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address: `peer` itself unless it is trusted, in which case the
    /// `X-Forwarded-For` chain (all header lines, in order) is walked from the right past
    /// every trusted hop. An unparsable entry stops the walk at the hop that wrote it, so
    /// a forged value can never be chosen over an address a trusted proxy vouched for.
    pub fn client_ip<'a>(&self, peer: IpAddr, xff: impl Iterator<Item = &'a str>) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let entries: Vec<&str> = xff.flat_map(|v| v.split(',')).collect();
        let mut client = peer;
        for entry in entries.iter().rev() {
            let Some(ip) = parse_entry(entry) else {
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are compared as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an IP, possibly with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok().map(canonical);
    }
    let (host, port) = entry.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.1/32".parse().unwrap(),
        ])
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_claims() {
        let t = trusted();
        assert_eq!(
            t.client_ip(ip("203.0.113.9"), ["1.1.1.1"].into_iter()),
            ip("203.0.113.9")
        );
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(ip("127.0.0.1"), ["1.1.1.1"].into_iter()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn chain_is_read_right_to_left_past_trusted_hops() {
        let t = trusted();
        // The client prepended a forged entry; the first untrusted from the right wins.
        let xff = ["6.6.6.6, 198.51.100.7, 10.1.1.1"];
        assert_eq!(
            t.client_ip(ip("10.0.0.2"), xff.into_iter()),
            ip("198.51.100.7")
        );
        // Several header lines form one list.
        let xff = ["6.6.6.6", "198.51.100.7:5555, 10.1.1.1"];
        assert_eq!(
            t.client_ip(ip("10.0.0.2"), xff.into_iter()),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_trusted_hop() {
        let t = trusted();
        assert_eq!(
            t.client_ip(ip("10.0.0.2"), ["junk, 10.1.1.1"].into_iter()),
            ip("10.1.1.1")
        );
        assert_eq!(
            t.client_ip(ip("10.0.0.2"), std::iter::empty()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn mapped_v6_counts_as_v4() {
        let t = trusted();
        assert!(t.contains(ip("::ffff:10.2.3.4")));
        assert_eq!(
            t.client_ip(ip("::ffff:10.0.0.2"), ["[2001:db8::1]:443"].into_iter()),
            ip("2001:db8::1")
        );
    }
}
