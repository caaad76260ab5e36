//! The component's settings, read from Spin variables once per request.

use std::net::IpAddr;

use troupe_auth::{HashParams, Policy};
use troupe_spin::variable;

/// Everything configurable about `auth` (see `[variables]` in spin.toml).
pub struct Settings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    pub refresh_grace_secs: i64,
    pub hash: HashParams,
    pub per_account: Policy,
    pub per_address: Policy,
    pub trusted_proxies: Vec<IpAddr>,
    pub bootstrap_admin: Option<String>,
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match variable(name) {
        None => default,
        Some(text) => text.trim().parse().unwrap_or_else(|_| {
            eprintln!("variable {name}={text:?} is not a number; using the default");
            default
        }),
    }
}

impl Settings {
    /// Read the settings; malformed numbers fall back to their defaults
    /// (logged), so a typo cannot take the service down.
    pub fn load() -> Self {
        let defaults = HashParams::default();
        let window_ms = number("login_failure_window_seconds", 900i64) * 1000;
        Self {
            issuer: variable("jwt_issuer").unwrap_or_else(|| "troupe".into()),
            audience: variable("jwt_audience").unwrap_or_else(|| "troupe-api".into()),
            access_ttl_secs: number("access_token_ttl_seconds", 900),
            refresh_ttl_secs: number("refresh_token_ttl_seconds", 7 * 24 * 3600),
            refresh_grace_secs: number("refresh_grace_seconds", 10),
            hash: HashParams {
                memory_kib: number("argon2_memory_kib", defaults.memory_kib),
                iterations: number("argon2_iterations", defaults.iterations),
                parallelism: number("argon2_parallelism", defaults.parallelism),
            },
            per_account: Policy { name: "login", limit: number("login_max_failures", 5), period_ms: window_ms },
            per_address: Policy {
                name: "login-address",
                limit: number("login_max_failures_per_address", 50),
                period_ms: window_ms,
            },
            trusted_proxies: variable("trusted_proxies")
                .unwrap_or_default()
                .split(',')
                .filter_map(|ip| ip.trim().parse().ok())
                .collect(),
            bootstrap_admin: variable("bootstrap_admin_email").map(|e| e.trim().to_lowercase()),
        }
    }
}
