//! The component's settings, read from Spin variables once per request.

use troupe_auth::{HashParams, PasswordPolicies, Policy};
use troupe_spin::variable;

/// Everything configurable about `auth` (see `[variables]` in spin.toml).
pub struct Settings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    pub refresh_grace_secs: i64,
    /// A session's absolute lifetime: refreshing never extends it.
    pub session_max_age_secs: i64,
    /// How long ended sessions and retired refresh tokens are kept.
    pub retention_secs: i64,
    pub hash: HashParams,
    /// Limits on password checks (sign-in, password change).
    pub password: PasswordPolicies,
    /// Registrations per client address.
    pub registration: Policy,
    pub bootstrap_admin: Option<String>,
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match variable(name) {
        None => default,
        Some(text) => text.trim().parse().unwrap_or_else(|_| {
            troupe_spin::warn("settings", &format!("variable {name}={text:?} is not a number; using the default"));
            default
        }),
    }
}

/// Leeway granted on access-token times, in seconds; revocation records are
/// kept for a token's lifetime plus this.
pub const LEEWAY_SECS: i64 = 30;

/// 30 days, the default session lifetime and retention.
const THIRTY_DAYS: i64 = 30 * 24 * 3600;

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
            session_max_age_secs: number("session_max_age_seconds", THIRTY_DAYS),
            retention_secs: number("session_retention_seconds", THIRTY_DAYS),
            password: PasswordPolicies {
                per_account_and_address: Policy {
                    name: "login",
                    limit: number("login_max_failures", 5),
                    period_ms: window_ms,
                },
                per_account: Policy {
                    name: "login-account",
                    limit: number("login_max_failures_per_account", 20),
                    period_ms: window_ms,
                },
                per_address: Policy {
                    name: "login-address",
                    limit: number("login_max_failures_per_address", 50),
                    period_ms: window_ms,
                },
            },
            registration: Policy {
                name: "register",
                limit: number("registration_max_per_address", 10),
                period_ms: number("registration_window_seconds", 3600i64) * 1000,
            },
            bootstrap_admin: variable("bootstrap_admin_email").map(|e| e.trim().to_lowercase()),
        }
    }
}
