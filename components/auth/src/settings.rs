//! The component's settings, from Spin variables, each read the first time a
//! request needs it: a variable read is a host call, and a route like
//! `GET /me` needs three of the twenty (issuer, audience, access lifetime).

use std::cell::OnceCell;

use troupe_accounts::{HashParams, MailPolicies, PasswordPolicies, Policy};
use troupe_auth_contract::tokens::{DEFAULT_AUDIENCE, DEFAULT_ISSUER};
use troupe_spin_adapter::variable;

/// 30 days, the default session lifetime and retention.
const THIRTY_DAYS: i64 = 30 * 24 * 3600;
/// 365 days, the audit log's default retention.
const ONE_YEAR: i64 = 365 * 24 * 3600;

/// Everything configurable about `auth` (see `[variables]` in spin.toml).
/// Malformed numbers fall back to their defaults (logged), so a typo
/// cannot take the service down.
#[derive(Default)]
pub struct Settings {
    issuer: OnceCell<String>,
    audience: OnceCell<String>,
    access_ttl_secs: OnceCell<i64>,
    refresh_ttl_secs: OnceCell<i64>,
    refresh_grace_secs: OnceCell<i64>,
    session_max_age_secs: OnceCell<i64>,
    retention_secs: OnceCell<i64>,
    audit_retention_secs: OnceCell<i64>,
    hash: OnceCell<HashParams>,
    password: OnceCell<PasswordPolicies>,
    registration: OnceCell<Policy>,
    bootstrap_admin: OnceCell<Option<String>>,
    mail: OnceCell<MailPolicies>,
    email_hook: OnceCell<Option<EmailHook>>,
    email_link_base_url: OnceCell<String>,
    email_link_ttl_secs: OnceCell<i64>,
    password_reset_ttl_secs: OnceCell<i64>,
    password_reset_floor_ms: OnceCell<u64>,
    require_verified_email: OnceCell<bool>,
    development: OnceCell<bool>,
}

/// Where mail goes: `email_hook_url`, signed with `email_hook_secret`.
#[derive(Clone)]
pub struct EmailHook {
    pub url: String,
    /// `whsec_<base64>`; `None`: not set, and nothing is delivered unsigned.
    pub secret: Option<String>,
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match variable(name) {
        None => default,
        Some(text) => text.trim().parse().unwrap_or_else(|_| {
            troupe_spin_adapter::warn(
                "settings",
                &format!("variable {name}={text:?} is not a number; using the default"),
            );
            default
        }),
    }
}

impl Settings {
    /// `jwt_issuer`.
    pub fn issuer(&self) -> &str {
        self.issuer.get_or_init(|| variable("jwt_issuer").unwrap_or_else(|| DEFAULT_ISSUER.into()))
    }

    /// `jwt_audience`.
    pub fn audience(&self) -> &str {
        self.audience.get_or_init(|| variable("jwt_audience").unwrap_or_else(|| DEFAULT_AUDIENCE.into()))
    }

    /// `access_token_ttl_seconds`.
    pub fn access_ttl_secs(&self) -> i64 {
        *self.access_ttl_secs.get_or_init(|| number("access_token_ttl_seconds", 900))
    }

    /// `refresh_token_ttl_seconds`.
    pub fn refresh_ttl_secs(&self) -> i64 {
        *self.refresh_ttl_secs.get_or_init(|| number("refresh_token_ttl_seconds", 7 * 24 * 3600))
    }

    /// `refresh_grace_seconds`.
    pub fn refresh_grace_secs(&self) -> i64 {
        *self.refresh_grace_secs.get_or_init(|| number("refresh_grace_seconds", 10))
    }

    /// `session_max_age_seconds`: a session's absolute lifetime, which
    /// refreshing never extends.
    pub fn session_max_age_secs(&self) -> i64 {
        *self.session_max_age_secs.get_or_init(|| number("session_max_age_seconds", THIRTY_DAYS))
    }

    /// `session_retention_seconds`: how long ended sessions and retired
    /// refresh tokens are kept.
    pub fn retention_secs(&self) -> i64 {
        *self.retention_secs.get_or_init(|| number("session_retention_seconds", THIRTY_DAYS))
    }

    /// `audit_retention_seconds`: how long audit events are kept.
    pub fn audit_retention_secs(&self) -> i64 {
        *self.audit_retention_secs.get_or_init(|| number("audit_retention_seconds", ONE_YEAR))
    }

    /// The argon2id cost.
    pub fn hash(&self) -> HashParams {
        *self.hash.get_or_init(|| {
            let defaults = HashParams::default();
            HashParams {
                memory_kib: number("argon2_memory_kib", defaults.memory_kib),
                iterations: number("argon2_iterations", defaults.iterations),
                parallelism: number("argon2_parallelism", defaults.parallelism),
            }
        })
    }

    /// The limits on password checks (sign-in, password change).
    pub fn password(&self) -> &PasswordPolicies {
        self.password.get_or_init(|| {
            let period_ms = number("login_failure_window_seconds", 900i64) * 1000;
            let policy = |name, variable, default| Policy { name, limit: number(variable, default), period_ms };
            PasswordPolicies {
                per_account_and_address: policy("login", "login_max_failures", 5),
                per_account: policy("login-account", "login_max_failures_per_account", 20),
                per_address: policy("login-address", "login_max_failures_per_address", 50),
            }
        })
    }

    /// Registrations per client address.
    pub fn registration(&self) -> Policy {
        *self.registration.get_or_init(|| Policy {
            name: "register",
            limit: number("registration_max_per_address", 10),
            period_ms: number("registration_window_seconds", 3600i64) * 1000,
        })
    }

    /// The limits on requests that send mail.
    pub fn mail(&self) -> &MailPolicies {
        self.mail.get_or_init(|| {
            let period_ms = number("email_window_seconds", 3600i64) * 1000;
            let policy = |name, variable, default| Policy { name, limit: number(variable, default), period_ms };
            MailPolicies {
                per_account: policy("mail-account", "email_max_per_account", 5),
                per_address: policy("mail-address", "email_max_per_address", 20),
            }
        })
    }

    /// `email_hook_url` and `email_hook_secret`; `None` when no hook is set.
    pub fn email_hook(&self) -> Option<&EmailHook> {
        self.email_hook
            .get_or_init(|| {
                variable("email_hook_url").map(|url| EmailHook { url, secret: variable("email_hook_secret") })
            })
            .as_ref()
    }

    /// Development mode: no `jwt_signing_key` configured, the condition under
    /// which `auth` signs with a key it generated itself. Every production
    /// deployment sets that key; only in development does a message with no
    /// email hook to go to end up in the log.
    pub fn development(&self) -> bool {
        *self.development.get_or_init(|| variable("jwt_signing_key").is_none())
    }

    /// `email_link_base_url`: where the pages that complete an email's flow
    /// live (the links are `<base>/verify-email#token=…` and the like).
    pub fn email_link_base_url(&self) -> &str {
        self.email_link_base_url
            .get_or_init(|| variable("email_link_base_url").unwrap_or_else(|| "http://localhost:3000".into()))
    }

    /// `email_verification_ttl_seconds`: how long a verification or
    /// email-change link works (a day).
    pub fn email_link_ttl_secs(&self) -> i64 {
        *self.email_link_ttl_secs.get_or_init(|| number("email_verification_ttl_seconds", 24 * 3600))
    }

    /// `password_reset_ttl_seconds`: how long a reset link works (an hour).
    pub fn password_reset_ttl_secs(&self) -> i64 {
        *self.password_reset_ttl_secs.get_or_init(|| number("password_reset_ttl_seconds", 3600))
    }

    /// `password_reset_min_answer_ms`: a password-reset request is answered
    /// no sooner than this after it arrived (a second), whether or not the
    /// address names an account.
    pub fn password_reset_floor(&self) -> std::time::Duration {
        let ms = *self.password_reset_floor_ms.get_or_init(|| number("password_reset_min_answer_ms", 1000));
        std::time::Duration::from_millis(ms)
    }

    /// `require_verified_email`: whether an account must verify its address
    /// before it may sign in (default: no; the token's `email_verified` says).
    pub fn require_verified_email(&self) -> bool {
        *self
            .require_verified_email
            .get_or_init(|| variable("require_verified_email").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")))
    }

    /// `bootstrap_admin_email`, lower-cased.
    pub fn bootstrap_admin(&self) -> Option<&str> {
        self.bootstrap_admin
            .get_or_init(|| variable("bootstrap_admin_email").map(|e| e.trim().to_lowercase()))
            .as_deref()
    }
}
