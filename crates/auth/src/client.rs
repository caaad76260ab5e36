//! The client's address, with `X-Forwarded-For` trusted only from proxies.

use std::net::{IpAddr, SocketAddr};

fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<SocketAddr>().map(|s| s.ip()).ok().or_else(|| text.parse().ok())
}

/// The address a request came from.
///
/// `peer` is Spin's `spin-client-addr` (`ip:port`). When the peer is one of
/// the `trusted` proxies, `X-Forwarded-For` is walked from the right (the
/// entry the nearest proxy appended) past further trusted proxies to the
/// first address that is not one; entries a client wrote itself, to the
/// left, are never believed.
pub fn client_address(peer: Option<&str>, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = parse_ip(peer?)?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let Some(chain) = forwarded_for else { return Some(peer) };
    let mut nearest = peer;
    for hop in chain.rsplit(',') {
        match parse_ip(hop) {
            Some(ip) if trusted.contains(&ip) => nearest = ip,
            Some(ip) => return Some(ip),
            // Garbage in the chain: stop at the last address we can vouch for.
            None => return Some(nearest),
        }
    }
    Some(nearest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(client_address(Some("192.0.2.7:5000"), Some("6.6.6.6"), &trusted), Some(ip("192.0.2.7")));
        assert_eq!(client_address(Some("10.0.0.1:5000"), Some("6.6.6.6, 198.51.100.9"), &trusted), Some(ip("198.51.100.9")));
        assert_eq!(client_address(Some("10.0.0.1:5000"), Some("198.51.100.9, 10.0.0.2"), &trusted), Some(ip("198.51.100.9")));
        assert_eq!(client_address(Some("10.0.0.1:5000"), None, &trusted), Some(ip("10.0.0.1")));
        assert_eq!(client_address(Some("10.0.0.1:5000"), Some("nonsense"), &trusted), Some(ip("10.0.0.1")));
        assert_eq!(client_address(Some("[2001:db8::1]:443"), None, &[]), Some(ip("2001:db8::1")));
        assert_eq!(client_address(Some("garbage"), None, &[]), None);
        assert_eq!(client_address(None, Some("1.2.3.4"), &trusted), None);
    }
}
