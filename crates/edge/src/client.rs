//! Who is on the other end: the client's address, from what the host says.
//!
//! Spin keeps every header the client sent and appends its own `spin-*`
//! headers after them, so a request can carry a forged `spin-client-addr`
//! *before* the host's: the host's value is always the **last** one (see
//! [`host_header`]). `X-Forwarded-For` is believed only when that peer is a
//! trusted proxy, and then only from the right: each proxy appends the
//! address it received the request from, so the right-most entry that is not
//! a trusted proxy is the nearest address nobody we trust vouched against.
//! Everything to its left was written by the client itself.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// The header through which Spin (and troupe-host) passes the peer's
/// `ip:port`.
pub const SPIN_CLIENT_ADDR: &str = "spin-client-addr";

/// The proxies whose `X-Forwarded-For` is believed: addresses or CIDR
/// ranges, as in the `trusted_proxies` variable (`10.0.0.1, 10.1.0.0/16`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parse a comma-separated list; entries that are neither an address nor
    /// a range are returned as the error, so that a typo is reported rather
    /// than silently trusting nobody (or everybody).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        let mut bad = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match entry.parse::<IpNet>().or_else(|_| entry.parse::<IpAddr>().map(IpNet::from)) {
                Ok(net) => nets.push(net),
                Err(_) => bad.push(entry.to_owned()),
            }
        }
        if bad.is_empty() {
            Ok(Self(nets))
        } else {
            Err(bad.join(", "))
        }
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        let ip = canonical(*ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// The value the host set for a `spin-*` header: the last line of that name.
/// Earlier lines, if any, came from the client and are ignored.
pub fn host_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(name).iter().next_back().and_then(|v| v.to_str().ok())
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let ip = text.parse::<SocketAddr>().map(|s| s.ip()).ok().or_else(|| text.parse().ok())?;
    Some(canonical(ip))
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are the IPv4 client.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The address the request came from: the host's peer address, or, when
/// that peer is a trusted proxy, the right-most `X-Forwarded-For` entry (over
/// every line of that header, in order) that is not a trusted proxy.
/// `None` when the host gave no parsable peer address.
pub fn client_address(headers: &HeaderMap, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = parse_ip(host_header(headers, SPIN_CLIENT_ADDR)?)?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let lines: Vec<&str> = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    let mut nearest = peer;
    for hop in lines.iter().rev().flat_map(|line| line.rsplit(',')) {
        match parse_ip(hop) {
            Some(ip) if trusted.contains(&ip) => nearest = ip,
            Some(ip) => return Some(ip),
            // Garbage in the chain: stop at the last address we can vouch for.
            None => return Some(nearest),
        }
    }
    Some(nearest)
}

/// The unit per-address limits count: an IPv4 address, or the /64 an IPv6
/// address belongs to (one subscriber usually holds a whole /64, so counting
/// single IPv6 addresses would give each client 2^64 budgets).
pub fn address_bucket(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn headers(lines: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(*name, HeaderValue::from_str(value).expect("value"));
        }
        map
    }

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).expect("proxies")
    }

    #[test]
    fn a_forged_spin_client_addr_before_the_hosts_is_ignored() {
        let map = headers(&[(SPIN_CLIENT_ADDR, "198.51.100.7:1"), (SPIN_CLIENT_ADDR, "192.0.2.10:5000")]);
        assert_eq!(client_address(&map, &TrustedProxies::default()), Some(ip("192.0.2.10")));
        assert_eq!(host_header(&map, SPIN_CLIENT_ADDR), Some("192.0.2.10:5000"));
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let proxies = trusted("10.0.0.1, 10.0.0.2");
        let direct = headers(&[("x-forwarded-for", "6.6.6.6"), (SPIN_CLIENT_ADDR, "192.0.2.7:5000")]);
        assert_eq!(client_address(&direct, &proxies), Some(ip("192.0.2.7")));
        let via = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.9"), (SPIN_CLIENT_ADDR, "10.0.0.1:5000")]);
        assert_eq!(client_address(&via, &proxies), Some(ip("198.51.100.9")));
        let two_hops = headers(&[("x-forwarded-for", "198.51.100.9, 10.0.0.2"), (SPIN_CLIENT_ADDR, "10.0.0.1:1")]);
        assert_eq!(client_address(&two_hops, &proxies), Some(ip("198.51.100.9")));
        let no_chain = headers(&[(SPIN_CLIENT_ADDR, "10.0.0.1:5000")]);
        assert_eq!(client_address(&no_chain, &proxies), Some(ip("10.0.0.1")));
        let garbage = headers(&[("x-forwarded-for", "nonsense"), (SPIN_CLIENT_ADDR, "10.0.0.1:5000")]);
        assert_eq!(client_address(&garbage, &proxies), Some(ip("10.0.0.1")));
        assert_eq!(
            client_address(&headers(&[(SPIN_CLIENT_ADDR, "[2001:db8::1]:443")]), &proxies),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(client_address(&headers(&[(SPIN_CLIENT_ADDR, "garbage")]), &proxies), None);
        assert_eq!(client_address(&headers(&[("x-forwarded-for", "1.2.3.4")]), &proxies), None);
    }

    #[test]
    fn every_forwarded_for_line_counts_and_the_last_line_is_the_nearest() {
        let proxies = trusted("10.0.0.0/8");
        let map = headers(&[
            ("x-forwarded-for", "1.1.1.1, 2.2.2.2"),
            ("x-forwarded-for", "3.3.3.3, 10.9.9.9"),
            (SPIN_CLIENT_ADDR, "10.0.0.1:80"),
        ]);
        assert_eq!(client_address(&map, &proxies), Some(ip("3.3.3.3")));
    }

    #[test]
    fn a_forged_trusted_peer_does_not_make_forwarded_for_believed() {
        // The client claims to be the proxy; the host's peer comes last.
        let proxies = trusted("10.0.0.1");
        let map = headers(&[
            (SPIN_CLIENT_ADDR, "10.0.0.1:1"),
            ("x-forwarded-for", "6.6.6.6"),
            (SPIN_CLIENT_ADDR, "192.0.2.55:4000"),
        ]);
        assert_eq!(client_address(&map, &proxies), Some(ip("192.0.2.55")));
    }

    #[test]
    fn ipv6_clients_share_their_slash_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(address_bucket(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(address_bucket(ip("2001:db8:1:2:ffff::9")), "2001:db8:1:2::/64");
        assert_eq!(address_bucket(ip("192.0.2.1")), "192.0.2.1");
        assert_eq!(address_bucket(ip("::ffff:192.0.2.1")), "192.0.2.1");
        assert!(trusted("192.0.2.0/24").contains(&ip("::ffff:192.0.2.1")));
    }

    #[test]
    fn a_malformed_proxy_list_names_what_it_could_not_read() {
        assert_eq!(TrustedProxies::parse("10.0.0.1, nope, 10.0.0.0/33"), Err("nope, 10.0.0.0/33".into()));
        assert_eq!(TrustedProxies::parse(" "), Ok(TrustedProxies::default()));
    }
}
