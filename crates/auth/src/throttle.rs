//! Login throttling: fixed windows of failures that expire on their own.
//!
//! A window is stored as JSON under a key of the component's key-value
//! store; Spin's store has no expiry, so a window older than its period
//! simply counts as empty. Increments are read-modify-write (the store has no
//! atomic increment), so racing failures may be undercounted by the number
//! of concurrent attempts, which bounds an attacker to a small multiple of
//! the limit at worst.

use serde::{Deserialize, Serialize};

/// Failures counted in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Failures so far.
    pub failures: u32,
    /// When the window opened, Unix milliseconds.
    pub started_ms: i64,
}

/// A limit: `limit` failures per `period_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The policy's name in `RateLimit` headers.
    pub name: &'static str,
    /// Failures allowed per window.
    pub limit: u32,
    /// The window's length, in milliseconds.
    pub period_ms: i64,
}

/// Whether another attempt may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Yes; `remaining` failures are left in the window.
    Allowed {
        /// Failures left.
        remaining: u32,
    },
    /// No, until the window ends in `retry_after_secs`.
    Blocked {
        /// Seconds until the window ends (at least 1).
        retry_after_secs: i64,
    },
}

impl Policy {
    /// The window in force at `now_ms`, given what was stored.
    pub fn current(&self, stored: Option<Window>, now_ms: i64) -> Window {
        match stored {
            Some(window) if now_ms - window.started_ms < self.period_ms && now_ms >= window.started_ms => window,
            _ => Window { failures: 0, started_ms: now_ms },
        }
    }

    /// May an attempt proceed in `window`?
    pub fn check(&self, window: &Window, now_ms: i64) -> Decision {
        if window.failures >= self.limit {
            Decision::Blocked { retry_after_secs: self.seconds_left(window, now_ms) }
        } else {
            Decision::Allowed { remaining: self.limit - window.failures }
        }
    }

    /// `window` after one more failure.
    pub fn record_failure(&self, window: Window) -> Window {
        Window { failures: window.failures.saturating_add(1), ..window }
    }

    fn seconds_left(&self, window: &Window, now_ms: i64) -> i64 {
        let left_ms = window.started_ms + self.period_ms - now_ms;
        ((left_ms + 999) / 1000).max(1)
    }

    /// The `RateLimit-Policy` header value (draft-ietf-httpapi-ratelimit-headers):
    /// `"name";q=<limit>;w=<seconds>`.
    pub fn policy_header(&self) -> String {
        format!("\"{}\";q={};w={}", self.name, self.limit, self.period_ms / 1000)
    }

    /// The `RateLimit` header value: `"name";r=<remaining>;t=<seconds to reset>`.
    pub fn ratelimit_header(&self, window: &Window, now_ms: i64) -> String {
        let remaining = self.limit.saturating_sub(window.failures);
        format!("\"{}\";r={};t={}", self.name, remaining, self.seconds_left(window, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy { name: "login", limit: 3, period_ms: 60_000 };

    #[test]
    fn failures_accumulate_until_the_limit_blocks() {
        let mut window = POLICY.current(None, 1_000);
        for expected_remaining in [3, 2, 1] {
            assert_eq!(POLICY.check(&window, 1_000), Decision::Allowed { remaining: expected_remaining });
            window = POLICY.record_failure(window);
        }
        assert_eq!(POLICY.check(&window, 31_000), Decision::Blocked { retry_after_secs: 30 });
        assert_eq!(POLICY.ratelimit_header(&window, 31_000), "\"login\";r=0;t=30");
        assert_eq!(POLICY.policy_header(), "\"login\";q=3;w=60");
    }

    #[test]
    fn a_window_expires_on_its_own() {
        let full = Window { failures: 3, started_ms: 0 };
        assert_eq!(POLICY.current(Some(full), 59_999), full);
        assert_eq!(POLICY.current(Some(full), 60_000), Window { failures: 0, started_ms: 60_000 });
        // A window from the future (clock skew between nodes) is reset too.
        assert_eq!(POLICY.current(Some(Window { failures: 3, started_ms: 90_000 }), 1).failures, 0);
        assert_eq!(POLICY.check(&full, 59_999), Decision::Blocked { retry_after_secs: 1 });
    }
}
