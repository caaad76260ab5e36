//! The user as the API shows it.

use serde::{Deserialize, Serialize};

use troupe_ids::{Role, UserId};

/// A user: `{id, email, email_verified, name, role, created_at,
/// updated_at}`, times in RFC 3339 UTC. Never carries credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// UUIDv7.
    pub id: UserId,
    /// As the user typed it.
    pub email: String,
    /// Whether the owner proved they receive mail at `email`. Absent from
    /// records cached before the field existed: not verified.
    #[serde(default)]
    pub email_verified: bool,
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
    /// The strong ETag of this revision.
    pub fn etag(&self) -> String {
        format!("\"{}.{}\"", self.user.id.as_str().rsplit('-').next().unwrap_or_default(), self.revision)
    }
}

/// Unix milliseconds as RFC 3339 UTC with millisecond precision.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339_utc_with_milliseconds_and_the_etag_names_the_revision() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        let user = User {
            id: UserId::parse("0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a59").expect("id"),
            email: "Ann@Example.com".into(),
            email_verified: false,
            name: "Ann".into(),
            role: Role::Admin,
            created_at: rfc3339(0),
            updated_at: rfc3339(0),
        };
        assert_eq!(serde_json::to_value(&user).expect("json").as_object().map(|o| o.len()), Some(7));
        assert_eq!(UserRecord { user, revision: 3 }.etag(), "\"3f1d2c3b4a59.3\"");
    }
}
