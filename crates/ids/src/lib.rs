//! The identifiers and the role that Troupe's crates and components pass
//! between them.
//!
//! Each is parsed once, where it enters (a request path, a token's claims, a
//! database row), and typed from there on: a session's id cannot be passed
//! where a user's is meant, and a string that is not an id never reaches a
//! query. The wire and stored forms stay plain strings (`as_str`, serde).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An identifier that is not a UUID in its hyphenated form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a UUID (36 characters, hyphenated)")]
pub struct InvalidId;

/// Ids are UUIDs (version 7 when Troupe makes them) in their hyphenated,
/// 36-character form, kept as given: lookups compare the stored text.
fn parse_uuid(raw: &str) -> Result<String, InvalidId> {
    if raw.len() == 36 && uuid::Uuid::try_parse(raw).is_ok() {
        Ok(raw.to_owned())
    } else {
        Err(InvalidId)
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// A new, time-ordered id (UUIDv7).
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// Parse a hyphenated UUID.
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                parse_uuid(raw).map(Self)
            }

            /// The id as stored and sent.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;

            fn from_str(raw: &str) -> Result<Self, InvalidId> {
                Self::parse(raw)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_id! {
    /// A user's id (the `users` table's primary key, a token's `sub`).
    UserId
}

uuid_id! {
    /// A session's id (the `sessions` table's primary key, a token's `sid`).
    SessionId
}

uuid_id! {
    /// An audit event's id (time-ordered: the audit log's paging key).
    EventId
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An ordinary user: their own account only.
    User,
    /// An administrator: every account.
    Admin,
}

/// A role other than `user` and `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be `user` or `admin`")]
pub struct UnknownRole;

impl Role {
    /// Parse `user` or `admin`.
    pub fn parse(raw: &str) -> Result<Self, UnknownRole> {
        match raw {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownRole),
        }
    }

    /// The stored and serialized form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a59";

    #[test]
    fn ids_are_hyphenated_uuids_kept_as_given() {
        let id = UserId::parse(ID).expect("valid");
        assert_eq!(id.as_str(), ID);
        assert_eq!(id.to_string(), ID);
        assert_eq!(ID.parse::<SessionId>().expect("valid").as_str(), ID);
        let upper = ID.to_uppercase();
        assert_eq!(UserId::parse(&upper).expect("valid").as_str(), upper);
    }

    #[test]
    fn anything_else_is_not_an_id() {
        let simple = ID.replace('-', "");
        let braced = format!("{{{ID}}}");
        for bad in ["", "42", "not-a-uuid", "0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a5", &simple, &braced, "' OR 1=1 --"] {
            assert_eq!(UserId::parse(bad), Err(InvalidId), "{bad}");
        }
        assert_eq!(InvalidId.to_string(), "must be a UUID (36 characters, hyphenated)");
    }

    #[test]
    fn generated_ids_are_version_7_and_ordered_by_time() {
        let first = UserId::generate();
        let second = UserId::generate();
        assert_eq!(uuid::Uuid::parse_str(first.as_str()).expect("uuid").get_version_num(), 7);
        assert!(first < second);
    }

    #[test]
    fn ids_serialize_as_strings_and_refuse_non_ids() {
        let id = SessionId::parse(ID).expect("valid");
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(json, format!("\"{ID}\""));
        assert_eq!(serde_json::from_str::<SessionId>(&json).expect("deserialize"), id);
        assert!(serde_json::from_str::<SessionId>("\"nope\"").is_err());
    }

    #[test]
    fn roles_parse_and_print_their_stored_form() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
        }
        assert_eq!(Role::parse("root"), Err(UnknownRole));
        assert_eq!(UnknownRole.to_string(), "must be `user` or `admin`");
        assert_eq!(serde_json::to_string(&Role::Admin).expect("serialize"), "\"admin\"");
    }
}
