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
    pub fn revoked_session(session_id: &troupe_ids::SessionId) -> String {
        format!("{REVOKED_SESSION}{session_id}")
    }
}

/// Headers a component sends with a request to `auth`'s private
/// `/internal/…` routes, naming the request it acts for, so that `auth`'s
/// audit log records the change as the client made it. Only components can
/// reach those routes (service chaining), so `auth` believes them.
pub mod internal {
    /// The id of the user who asked for the change.
    pub const ACTOR: &str = "troupe-actor";
    /// The client's address, as the calling component resolved it.
    pub const CLIENT_ADDRESS: &str = "troupe-client-address";
    /// The client's request id (the edge's `X-Request-Id`).
    pub const REQUEST_ID: &str = "x-request-id";
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

/// The `users` table: `auth` writes it, `users` reads it.
pub mod users {
    use troupe_accounts::{rfc3339, User, UserRecord};
    use troupe_ids::{Role, UserId};
    use troupe_store::{DbError, Row};

    /// The columns [`record`] reads, for `SELECT` lists.
    pub const COLUMNS: &str = "id, email, email_verified_at, name, role, created_at, updated_at, revision";

    /// [`COLUMNS`], each qualified with a table alias (for joins).
    pub fn columns_of(alias: &str) -> String {
        COLUMNS.split(", ").map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ")
    }

    /// The user of a row selected with [`COLUMNS`].
    pub fn record(row: &Row<'_>) -> Result<UserRecord, DbError> {
        let id: String = row.get("id")?;
        let role: String = row.get("role")?;
        Ok(UserRecord {
            user: User {
                id: UserId::parse(&id).map_err(|e| DbError::Decode(format!("id: {e}")))?,
                email: row.get("email")?,
                email_verified: row.get::<Option<i64>>("email_verified_at")?.is_some(),
                name: row.get("name")?,
                role: Role::parse(&role).map_err(|e| DbError::Decode(format!("role: {e}")))?,
                created_at: rfc3339(row.get("created_at")?),
                updated_at: rfc3339(row.get("updated_at")?),
            },
            revision: row.get("revision")?,
        })
    }
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
    fn a_users_row_becomes_a_user_record() {
        use troupe_store::{Rows, Value};
        let rows = Rows::new(
            users::COLUMNS.split(", ").map(str::to_owned).collect(),
            vec![vec![
                Value::from("0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a59"),
                Value::from("Ann@Example.com"),
                Value::Null,
                Value::from("Ann"),
                Value::from("admin"),
                Value::Integer(1_700_000_000_123),
                Value::Integer(1_700_000_000_123),
                Value::Integer(3),
            ]],
        );
        let record = users::record(&rows.first().expect("row")).expect("user");
        assert_eq!(record.user.created_at, "2023-11-14T22:13:20.123Z");
        assert_eq!(record.user.role, troupe_ids::Role::Admin);
        assert_eq!(record.revision, 3);
        assert!(!record.user.email_verified);
        assert_eq!(
            users::columns_of("u"),
            "u.id, u.email, u.email_verified_at, u.name, u.role, u.created_at, u.updated_at, u.revision"
        );
    }

    #[test]
    fn a_revocation_key_is_the_prefix_and_the_session_id() {
        let session = troupe_ids::SessionId::parse("0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a59").expect("id");
        assert_eq!(keys::revoked_session(&session), "auth:revoked-session:0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a59");
        assert!(keys::PUBLIC_KEYS.starts_with("auth:") && keys::SIGNING_KEY_SOURCE.starts_with("auth:"));
    }
}
