//! The `auth` component's contract with its readers.
//!
//! `auth` owns its tables and its `auth:*` key-value keys; other components
//! (`users`, `health`) may *read* what is named here, and nothing else, and
//! never write it: they ask `auth` for changes (over a WIT dependency or
//! Spin's service chaining). Keeping the names in one place means a change
//! on either side is a compile error rather than a silent mismatch.

/// Key-value keys `auth` publishes.
pub mod keys {
    /// The public key set that verifies access tokens, in its configuration
    /// form `<kid>:<base64url>,…` (read when `jwt_public_keys` is unset).
    pub const PUBLIC_KEYS: &str = "auth:public-keys";

    /// Prefix of revoked sessions: `auth:revoked-session:<session id>`
    /// exists while an access token of that session could still be valid.
    pub const REVOKED_SESSION: &str = "auth:revoked-session:";

    /// Where the signing key comes from: `configured` or `development`.
    pub const SIGNING_KEY_SOURCE: &str = "auth:signing-key-source";

    /// The key recording that `session_id` was revoked.
    pub fn revoked_session(session_id: &str) -> String {
        format!("{REVOKED_SESSION}{session_id}")
    }
}

/// Access-token defaults, shared by the issuer and every verifier.
pub mod tokens {
    /// `jwt_issuer` when unset.
    pub const DEFAULT_ISSUER: &str = "troupe";
    /// `jwt_audience` when unset.
    pub const DEFAULT_AUDIENCE: &str = "troupe-api";
    /// Clock skew tolerated on `exp` and `nbf`, in seconds; revocation
    /// records outlive a token's lifetime by this much.
    pub const LEEWAY_SECS: u32 = 30;
}

/// What readers may query of `auth`'s tables.
pub mod tables {
    /// Whether a session is revoked, for a reader that cannot reach the
    /// key-value store: one row (missing: the session is gone), one column
    /// `revoked_at` (NULL while the session is live). Parameter `$1`: the
    /// session id.
    pub const SESSION_REVOKED_AT: &str = "SELECT revoked_at FROM sessions WHERE id = $1";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_key_is_the_prefix_and_the_session_id() {
        assert_eq!(keys::revoked_session("s-1"), "auth:revoked-session:s-1");
        assert!(keys::PUBLIC_KEYS.starts_with("auth:") && keys::SIGNING_KEY_SOURCE.starts_with("auth:"));
    }
}
