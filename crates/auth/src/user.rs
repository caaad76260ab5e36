//! The user as the API shows it.

use serde::{Deserialize, Serialize};
use troupe_store::{DbError, Row};

use crate::Role;

/// The columns [`User::from_row`] reads, for `SELECT` lists.
pub const USER_COLUMNS: &str = "id, email, name, role, created_at, updated_at, revision";

/// A user: `{id, email, name, role, created_at, updated_at}`, times in
/// RFC 3339 UTC. Never carries credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// UUIDv7.
    pub id: String,
    /// As the user typed it.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A user and its revision, which grows with every change (the ETag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The user.
    pub user: User,
    /// The revision.
    pub revision: i64,
}

impl UserRecord {
    /// Read a row selected with [`USER_COLUMNS`].
    pub fn from_row(row: &Row<'_>) -> Result<Self, DbError> {
        let role: String = row.get("role")?;
        Ok(Self {
            user: User {
                id: row.get("id")?,
                email: row.get("email")?,
                name: row.get("name")?,
                role: Role::parse(&role).map_err(|e| DbError::Decode(format!("role: {e}")))?,
                created_at: rfc3339(row.get("created_at")?),
                updated_at: rfc3339(row.get("updated_at")?),
            },
            revision: row.get("revision")?,
        })
    }

    /// The strong ETag of this revision.
    pub fn etag(&self) -> String {
        format!("\"{}.{}\"", self.user.id.rsplit('-').next().unwrap_or_default(), self.revision)
    }
}

/// Unix milliseconds as RFC 3339 UTC with millisecond precision.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use troupe_store::{Rows, Value};

    use super::*;

    #[test]
    fn a_row_becomes_a_user_with_rfc_3339_times_and_an_etag() {
        let rows = Rows::new(
            USER_COLUMNS.split(", ").map(str::to_owned).collect(),
            vec![vec![
                Value::from("0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a59"),
                Value::from("Ann@Example.com"),
                Value::from("Ann"),
                Value::from("admin"),
                Value::Integer(1_700_000_000_123),
                Value::Integer(1_700_000_000_123),
                Value::Integer(3),
            ]],
        );
        let record = UserRecord::from_row(&rows.first().expect("row")).expect("user");
        assert_eq!(record.user.created_at, "2023-11-14T22:13:20.123Z");
        assert_eq!(record.user.role, Role::Admin);
        assert_eq!(record.etag(), "\"3f1d2c3b4a59.3\"");
        let json = serde_json::to_value(&record.user).expect("json");
        assert_eq!(json.as_object().map(|o| o.len()), Some(6));
    }
}
