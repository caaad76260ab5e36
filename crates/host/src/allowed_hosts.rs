//! `allowed_outbound_hosts`: Spin's grammar and matching rules.
//!
//! An entry is `<scheme>://<host>[:<port>]`. The scheme is `*` or one name;
//! the host is `*`, `*.suffix`, `self` (relative URLs only), an IP or CIDR
//! range, or an exact name; the port is `*`, a number, a range `a..b` (end
//! excluded) or, when absent, the scheme's well-known port. Service chaining
//! (`http://<component>.spin.internal`) is just another host here.

use std::net::IpAddr;

/// The domain of service-chaining hosts (`<component-id>.spin.internal`).
pub const SERVICE_CHAINING_DOMAIN: &str = "spin.internal";

/// A component's parsed `allowed_outbound_hosts`.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`, stored as `.example.com`; the apex does not match.
    AnySubdomain(String),
    /// `self` / `self.alt`: the application itself, through relative URLs.
    ToSelf,
    Exact(String),
    Cidr(IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Port(u16),
    /// `a..b`, end excluded.
    Range(u16, u16),
}

/// The well-known port Spin assumes for a scheme with no explicit port.
fn well_known_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "postgres" => 5432,
        "mysql" => 3306,
        "redis" => 6379,
        "mqtt" => 1883,
        "http" => 80,
        "https" => 443,
        _ => return None,
    })
}

impl AllowedHosts {
    /// Parses resolved entries (templates already rendered), with Spin's
    /// error messages.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        if entries.len() == 1 && entries[0] == "insecure:allow-all" {
            return Err("'insecure:allow-all' is not allowed - use '*://*:*' instead if you really want to allow all outbound traffic".into());
        }
        let entries = entries.iter().map(|e| AllowedHost::parse(e)).collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// Whether a URL with this scheme, host and port (or the scheme's
    /// default port) may be reached.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.entries.iter().any(|e| e.allows(scheme, host, port))
    }

    /// Whether relative URLs (requests to the application itself) are
    /// allowed for any of `schemes`.
    pub fn allows_relative(&self, schemes: &[&str]) -> bool {
        self.entries.iter().any(|e| {
            schemes.iter().any(|s| e.scheme.as_deref().is_none_or(|es| es == *s))
                && matches!(e.host, HostPattern::Any | HostPattern::ToSelf)
        })
    }

    /// Whether any entry could allow a scheme at all (used to decide whether
    /// a component gets DNS lookups for wasi:sockets).
    pub fn mentions_scheme(&self, scheme: &str) -> bool {
        self.entries.iter().any(|e| e.scheme.as_deref().is_none_or(|s| s == scheme))
    }
}

impl AllowedHost {
    fn parse(original: &str) -> Result<Self, String> {
        let url = original.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(match url {
                "*" | ":" | "" | "?" => format!("{url:?} is not an allowed outbound host format. Hosts must be in the form <scheme>://<host>[:<port>], with '*' wildcards allowed for each. If you intended to allow all outbound networking, you can use '*://*:*'"),
                _ => format!("{url:?} does not contain a scheme (e.g., 'http://' or '*://')"),
            });
        };
        let (host, rest) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match rest.split_once('/') {
            Some((port, path)) => {
                if !path.is_empty() {
                    return Err(format!("{url:?} has a path but is not allowed to"));
                }
                port
            }
            None => rest,
        };
        let scheme = match scheme {
            "*" => None,
            s if s.starts_with('{') => return Err("scheme lists are not yet supported".into()),
            s if s.chars().any(|c| !c.is_alphabetic()) => {
                return Err(format!("scheme {s:?} contains non alphabetic character"))
            }
            s => Some(s.to_owned()),
        };
        Ok(Self {
            host: HostPattern::parse(host)?,
            port: PortPattern::parse(port, scheme.as_deref().unwrap_or("*"))?,
            scheme,
        })
    }

    fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.scheme.as_deref().is_none_or(|s| s == scheme)
            && self.host.allows(host)
            && self.port.allows(port.or_else(|| well_known_port(scheme)))
    }
}

impl HostPattern {
    fn parse(host: &str) -> Result<Self, String> {
        let host = host.trim();
        if host == "*" {
            return Ok(Self::Any);
        }
        if host == "self" || host == "self.alt" {
            return Ok(Self::ToSelf);
        }
        if host.starts_with('{') {
            return Err("host lists are not yet supported".into());
        }
        if let Some(cidr) = parse_cidr(host) {
            return Ok(cidr);
        }
        if matches!(host.split('/').nth(1), Some(path) if !path.is_empty()) {
            return Err("hosts must not contain paths".into());
        }
        if let Some(domain) = host.strip_prefix("*.") {
            if domain.contains('*') {
                return Err(format!("Invalid allowed host {host}: wildcards are allowed only as prefixes"));
            }
            return Ok(Self::AnySubdomain(format!(".{domain}")));
        }
        if host.contains('*') {
            return Err(format!("Invalid allowed host {host}: wildcards are allowed only as subdomains"));
        }
        Ok(Self::Exact(host.trim_end_matches('/').to_owned()))
    }

    fn allows(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::AnySubdomain(suffix) => host.ends_with(suffix.as_str()),
            Self::Exact(exact) => exact == host,
            Self::ToSelf => false,
            Self::Cidr(network, prefix) => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| in_network(ip, *network, *prefix)),
        }
    }
}

/// An IP address (`10.0.0.1`) or network (`10.0.0.0/8`), truncated to its
/// prefix like `ip_network`'s `from_str_truncate`.
fn parse_cidr(text: &str) -> Option<HostPattern> {
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let addr: IpAddr = addr.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    (prefix <= max).then_some(HostPattern::Cidr(addr, prefix))
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    let (ip, network, bits) = match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => (u128::from(u32::from(ip)), u128::from(u32::from(net)), 32),
        (IpAddr::V6(ip), IpAddr::V6(net)) => (u128::from(ip), u128::from(net), 128),
        _ => return false,
    };
    let shift = bits - u32::from(prefix);
    if shift >= 128 {
        return true;
    }
    (ip >> shift) == (network >> shift)
}

impl PortPattern {
    fn parse(port: &str, scheme: &str) -> Result<Self, String> {
        if port.is_empty() {
            return well_known_port(scheme).map(Self::Port).ok_or_else(|| {
                format!("no port was provided and the scheme {scheme:?} does not have a known default port number")
            });
        }
        if port == "*" {
            return Ok(Self::Any);
        }
        if port.starts_with('{') {
            return Err("port lists are not yet supported".into());
        }
        if let Some((start, end)) = port.split_once("..") {
            let parse = |p: &str| p.parse::<u16>().map_err(|_| format!("port range {port:?} contains non-number"));
            return Ok(Self::Range(parse(start)?, parse(end)?));
        }
        port.parse().map(Self::Port).map_err(|_| format!("port {port:?} is not a number"))
    }

    fn allows(&self, port: Option<u16>) -> bool {
        match (self, port) {
            (Self::Any, _) => true,
            (_, None) => false,
            (Self::Port(p), Some(port)) => *p == port,
            (Self::Range(start, end), Some(port)) => (*start..*end).contains(&port),
        }
    }
}

/// The component id addressed by a service-chaining host
/// (`<id>.spin.internal[:port]`), if `host` is one.
pub fn service_chaining_target(host: &str) -> Option<&str> {
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let (first, rest) = host.split_once('.')?;
    (rest == SERVICE_CHAINING_DOMAIN).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("valid entries")
    }

    #[test]
    fn postgres_entry_without_port_allows_only_5432() {
        let allowed = hosts(&["postgres://db.example.com"]);
        assert!(allowed.allows("postgres", "db.example.com", Some(5432)));
        assert!(allowed.allows("postgres", "db.example.com", None));
        assert!(!allowed.allows("postgres", "db.example.com", Some(5433)));
        assert!(!allowed.allows("postgres", "other.example.com", Some(5432)));
    }

    #[test]
    fn subdomain_wildcard_does_not_match_apex() {
        let allowed = hosts(&["https://*.example.com"]);
        assert!(allowed.allows("https", "api.example.com", None));
        assert!(!allowed.allows("https", "example.com", None));
        assert!(!allowed.allows("http", "api.example.com", None));
    }

    #[test]
    fn port_range_excludes_its_end() {
        let allowed = hosts(&["http://localhost:8000..8002"]);
        assert!(allowed.allows("http", "localhost", Some(8001)));
        assert!(!allowed.allows("http", "localhost", Some(8002)));
    }

    #[test]
    fn cidr_entries_match_ip_hosts() {
        let allowed = hosts(&["*://10.0.0.0/8:*"]);
        assert!(allowed.allows("http", "10.1.2.3", Some(80)));
        assert!(!allowed.allows("http", "11.1.2.3", Some(80)));
    }

    #[test]
    fn service_chaining_wildcard_allows_every_component() {
        let allowed = hosts(&["http://*.spin.internal"]);
        assert!(allowed.allows("http", "users.spin.internal", None));
        assert_eq!(service_chaining_target("users.spin.internal:80"), Some("users"));
        assert_eq!(service_chaining_target("example.com"), None);
    }

    #[test]
    fn self_entry_allows_only_relative_urls() {
        let allowed = hosts(&["http://self"]);
        assert!(allowed.allows_relative(&["http", "https"]));
        assert!(!allowed.allows("http", "self", None));
    }

    #[test]
    fn malformed_entries_are_refused_like_spin() {
        for bad in ["*", "example.com", "http://example.com/path", "http://ex*ample.com", "ftp://example.com"] {
            assert!(AllowedHosts::parse(&[bad.to_string()]).is_err(), "{bad} should be refused");
        }
    }
}
