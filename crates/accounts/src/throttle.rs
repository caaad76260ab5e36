//! Throttles: fixed windows of attempts, counted per key.
//!
//! Every attempt is counted *before* the work it guards (the password check,
//! the registration's hash), with one atomic conditional increment in the
//! database (see the `auth` component's store): an attempt that would take a
//! counter past its limit is refused without being counted, and a burst of
//! parallel attempts cannot all read the same count, because the database
//! serialises the increments. A successful sign-in hands its attempt back
//! ([`Counter::refunded_on_success`]).
//!
//! This module decides the keys, the windows and the headers; it does no I/O.

use sha2::{Digest, Sha256};

/// A limit: `limit` attempts per `period_ms`. A limit of 0 turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The policy's name in `RateLimit` headers.
    pub name: &'static str,
    /// Attempts allowed per window; 0: no limit.
    pub limit: u32,
    /// The window's length, in milliseconds.
    pub period_ms: i64,
}

impl Policy {
    /// Whether this policy limits anything.
    pub fn enabled(&self) -> bool {
        self.limit > 0 && self.period_ms > 0
    }

    /// When a window opened at `now_ms` closes.
    pub fn window_ends(&self, now_ms: i64) -> i64 {
        now_ms.saturating_add(self.period_ms)
    }

    /// Seconds until a window that closes at `window_ends_ms` does (at least 1).
    pub fn retry_after_secs(window_ends_ms: i64, now_ms: i64) -> i64 {
        ((window_ends_ms - now_ms + 999) / 1000).max(1)
    }

    /// The `RateLimit-Policy` header value (draft-ietf-httpapi-ratelimit-headers):
    /// `"name";q=<limit>;w=<seconds>`.
    pub fn policy_header(&self) -> String {
        format!("\"{}\";q={};w={}", self.name, self.limit, self.period_ms / 1000)
    }

    /// The `RateLimit` header value: `"name";r=<remaining>;t=<seconds to reset>`.
    pub fn ratelimit_header(&self, hits: i64, window_ends_ms: i64, now_ms: i64) -> String {
        let remaining = (i64::from(self.limit) - hits).max(0);
        format!("\"{}\";r={};t={}", self.name, remaining, Self::retry_after_secs(window_ends_ms, now_ms))
    }
}

/// One counter an attempt is counted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// Its key in the throttle table (emails appear only hashed).
    pub key: String,
    /// Its limit.
    pub policy: Policy,
    /// What a successful sign-in does to it.
    pub on_success: OnSuccess,
}

/// What a successful sign-in does to a counter it was counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSuccess {
    /// Forget the window: the right password from this address proves the
    /// earlier failures were the user's own typos.
    Clear,
    /// Hand the attempt back: it was not a failure, but the failures of
    /// others (from other addresses, or on other accounts) still count.
    Refund,
    /// Keep it (registrations: every attempt counts).
    Keep,
}

impl Counter {
    /// Whether a success hands this attempt back or clears the window.
    pub fn refunded_on_success(&self) -> bool {
        self.on_success != OnSuccess::Keep
    }
}

/// The limits on password checks (sign-in, and the current password of a
/// password change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicies {
    /// Failures per account from one address.
    pub per_account_and_address: Policy,
    /// Failures per account from every address together.
    pub per_account: Policy,
    /// Failures per address on every account together.
    pub per_address: Policy,
}

fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The counters one password check is counted in: for the account (by its
/// email key) from the client's address bucket, for the account, and for
/// the address bucket. Disabled policies are left out.
pub fn password_counters(email_key: &str, address_bucket: &str, policies: &PasswordPolicies) -> Vec<Counter> {
    [
        (
            format!("pwd:acct-addr:{}", digest(&format!("{email_key}\n{address_bucket}"))),
            policies.per_account_and_address,
            OnSuccess::Clear,
        ),
        (format!("pwd:acct:{}", digest(email_key)), policies.per_account, OnSuccess::Refund),
        (format!("pwd:addr:{address_bucket}"), policies.per_address, OnSuccess::Refund),
    ]
    .into_iter()
    .filter(|(_, policy, _)| policy.enabled())
    .map(|(key, policy, on_success)| Counter { key, policy, on_success })
    .collect()
}

/// The counter of registrations from an address bucket, if limited.
pub fn registration_counter(address_bucket: &str, policy: Policy) -> Option<Counter> {
    policy.enabled().then(|| Counter {
        key: format!("register:addr:{address_bucket}"),
        policy,
        on_success: OnSuccess::Keep,
    })
}

/// The limits on requests that send mail (a password reset, a verification
/// link sent again, an email change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailPolicies {
    /// Requests naming one address, from anywhere.
    pub per_account: Policy,
    /// Requests from one address bucket, naming any address.
    pub per_address: Policy,
}

/// The counters one request that sends mail is counted in: per address it
/// names (`email_key`, whether or not an account has it: a password reset's
/// answer must not tell) and per client address bucket. Every request
/// counts: there is no success to hand one back.
pub fn mail_counters(email_key: &str, address_bucket: &str, policies: &MailPolicies) -> Vec<Counter> {
    [
        (format!("mail:acct:{}", digest(email_key)), policies.per_account),
        (format!("mail:addr:{address_bucket}"), policies.per_address),
    ]
    .into_iter()
    .filter(|(_, policy)| policy.enabled())
    .map(|(key, policy)| Counter { key, policy, on_success: OnSuccess::Keep })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy { name: "login", limit: 3, period_ms: 60_000 };

    fn policies(per_account: u32) -> PasswordPolicies {
        PasswordPolicies {
            per_account_and_address: POLICY,
            per_account: Policy { name: "login-account", limit: per_account, period_ms: 60_000 },
            per_address: Policy { name: "login-address", limit: 50, period_ms: 60_000 },
        }
    }

    #[test]
    fn headers_say_what_is_left_and_when_the_window_ends() {
        assert_eq!(POLICY.policy_header(), "\"login\";q=3;w=60");
        assert_eq!(POLICY.ratelimit_header(3, 61_000, 31_000), "\"login\";r=0;t=30");
        assert_eq!(POLICY.ratelimit_header(1, 61_000, 60_999), "\"login\";r=2;t=1");
        assert_eq!(Policy::retry_after_secs(1_000, 5_000), 1);
        assert_eq!(POLICY.window_ends(1_000), 61_000);
    }

    #[test]
    fn a_password_check_counts_per_account_and_address_per_account_and_per_address() {
        let counters = password_counters("ann@example.com", "192.0.2.1", &policies(20));
        let keys: Vec<&str> = counters.iter().map(|c| c.key.split(':').take(2).last().unwrap_or("")).collect();
        assert_eq!(keys, ["acct-addr", "acct", "addr"]);
        assert_eq!(counters[2].key, "pwd:addr:192.0.2.1");
        // Emails never appear in keys, and each (account, address) has its own.
        assert!(counters.iter().all(|c| !c.key.contains("ann")));
        assert_ne!(password_counters("ann@example.com", "192.0.2.2", &policies(20))[0].key, counters[0].key);
        assert_eq!(password_counters("ann@example.com", "192.0.2.2", &policies(20))[1].key, counters[1].key);
        assert_eq!(
            counters.iter().map(|c| c.on_success).collect::<Vec<_>>(),
            [OnSuccess::Clear, OnSuccess::Refund, OnSuccess::Refund]
        );
    }

    #[test]
    fn a_limit_of_zero_turns_a_counter_off() {
        assert_eq!(password_counters("a@b.c", "192.0.2.1", &policies(0)).len(), 2);
        assert!(registration_counter("192.0.2.1", Policy { name: "register", limit: 0, period_ms: 1 }).is_none());
        let counter =
            registration_counter("2001:db8::/64", Policy { name: "register", limit: 10, period_ms: 1 }).expect("on");
        assert_eq!(counter.key, "register:addr:2001:db8::/64");
        assert!(!counter.refunded_on_success());
    }

    #[test]
    fn mail_counts_per_address_named_and_per_client_address_and_is_never_handed_back() {
        let policies = MailPolicies {
            per_account: Policy { name: "mail-account", limit: 3, period_ms: 1 },
            per_address: Policy { name: "mail-address", limit: 0, period_ms: 1 },
        };
        let counters = mail_counters("ann@example.com", "192.0.2.1", &policies);
        assert_eq!(counters.len(), 1);
        assert!(counters[0].key.starts_with("mail:acct:") && !counters[0].key.contains("ann"));
        assert!(!counters[0].refunded_on_success());
        let both = MailPolicies { per_address: Policy { limit: 10, ..policies.per_address }, ..policies };
        assert_eq!(mail_counters("ann@example.com", "192.0.2.1", &both)[1].key, "mail:addr:192.0.2.1");
    }
}
