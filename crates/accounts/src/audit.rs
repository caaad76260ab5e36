//! The audit log's vocabulary and the rules for reading it: which security
//! events exist, and what a query for them may ask.

use troupe_ids::{EventId, UserId};

/// A security event. Its wire and stored name is [`EventType::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// An account was registered, or created by an administrator.
    AccountCreated,
    /// An account's email or name changed.
    AccountUpdated,
    /// An account's role changed.
    RoleChanged,
    /// An account was deleted.
    AccountDeleted,
    /// A sign-in succeeded (a session opened).
    SignIn,
    /// A sign-in was refused: wrong password, or no such account.
    SignInFailed,
    /// A session was signed out with its own token.
    SignOut,
    /// A session was ended from another one of the user's.
    SessionRevoked,
    /// A replaced refresh token came back: its session was revoked.
    RefreshReused,
    /// A password was changed (every other session revoked).
    PasswordChanged,
    /// A password change was refused: the current password was wrong.
    PasswordChangeFailed,
    /// A password reset link was asked for (about the account, if the
    /// address names one; otherwise with the address tried).
    PasswordResetRequested,
    /// A password was reset with a link (every session revoked).
    PasswordReset,
    /// An address was proven with a verification link.
    EmailVerified,
    /// A change of address was asked for: a link went to the new one.
    EmailChangeRequested,
    /// An account's address changed (confirmed from the new address).
    EmailChanged,
    /// TOTP was turned on (the first code confirmed it).
    MfaEnabled,
    /// TOTP was turned off by the user (with a code or the password).
    MfaDisabled,
    /// An administrator removed a user's second factor.
    MfaReset,
}

impl EventType {
    /// Every type, in the order the API documents them.
    pub const ALL: [EventType; 19] = [
        EventType::AccountCreated,
        EventType::AccountUpdated,
        EventType::RoleChanged,
        EventType::AccountDeleted,
        EventType::SignIn,
        EventType::SignInFailed,
        EventType::SignOut,
        EventType::SessionRevoked,
        EventType::RefreshReused,
        EventType::PasswordChanged,
        EventType::PasswordChangeFailed,
        EventType::PasswordResetRequested,
        EventType::PasswordReset,
        EventType::EmailVerified,
        EventType::EmailChangeRequested,
        EventType::EmailChanged,
        EventType::MfaEnabled,
        EventType::MfaDisabled,
        EventType::MfaReset,
    ];

    /// The name stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::AccountCreated => "account_created",
            EventType::AccountUpdated => "account_updated",
            EventType::RoleChanged => "role_changed",
            EventType::AccountDeleted => "account_deleted",
            EventType::SignIn => "sign_in",
            EventType::SignInFailed => "sign_in_failed",
            EventType::SignOut => "sign_out",
            EventType::SessionRevoked => "session_revoked",
            EventType::RefreshReused => "refresh_reused",
            EventType::PasswordChanged => "password_changed",
            EventType::PasswordChangeFailed => "password_change_failed",
            EventType::PasswordResetRequested => "password_reset_requested",
            EventType::PasswordReset => "password_reset",
            EventType::EmailVerified => "email_verified",
            EventType::EmailChangeRequested => "email_change_requested",
            EventType::EmailChanged => "email_changed",
            EventType::MfaEnabled => "mfa_enabled",
            EventType::MfaDisabled => "mfa_disabled",
            EventType::MfaReset => "mfa_reset",
        }
    }

    /// The type named `raw`, if any.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

/// What a page of the audit log asks for, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// Events per page (1–100, 20 by default), newest first.
    pub limit: u32,
    /// Only events of this type.
    pub event_type: Option<EventType>,
    /// Only events about this account (an administrator's filter; others
    /// may name only themselves).
    pub user: Option<UserId>,
    /// Only events older than this one: the `next_cursor` of the page before.
    pub before: Option<EventId>,
}

/// Whose events a caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every account's, or the one named by `user`.
    Everyone,
    /// The caller's own only.
    Own(UserId),
}

const KNOWN: [&str; 4] = ["limit", "type", "user", "before"];

impl EventQuery {
    /// Parse the query string's pairs, reporting every invalid parameter as
    /// `(name, message)`.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let mut query = EventQuery { limit: 20, event_type: None, user: None, before: None };
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            let mut fail = |message: &str| errors.push((name.clone(), message.to_owned()));
            if !KNOWN.contains(&name.as_str()) {
                fail("is not a known parameter (limit, type, user, before)");
                continue;
            }
            if seen.contains(&name.as_str()) {
                fail("is given more than once");
                continue;
            }
            seen.push(name);
            match name.as_str() {
                "limit" => match value.parse::<u32>() {
                    Ok(limit) if (1..=100).contains(&limit) => query.limit = limit,
                    _ => fail("must be a whole number from 1 to 100"),
                },
                "type" => match EventType::parse(value) {
                    Some(event_type) => query.event_type = Some(event_type),
                    None => fail("is not an event type"),
                },
                "user" => match UserId::parse(value) {
                    Ok(user) => query.user = Some(user),
                    Err(_) => fail("must be a user id (a UUID)"),
                },
                _ => match EventId::parse(value) {
                    Ok(before) => query.before = Some(before),
                    Err(_) => fail("is not a cursor this API returned"),
                },
            }
        }
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(errors)
        }
    }

    /// The account whose events this query reads (`None`: every account's),
    /// or `Err` when the caller asks for someone else's without the right.
    pub fn subject(&self, scope: &Scope) -> Result<Option<UserId>, &'static str> {
        match (scope, &self.user) {
            (Scope::Everyone, user) => Ok(user.clone()),
            (Scope::Own(caller), None) => Ok(Some(caller.clone())),
            (Scope::Own(caller), Some(user)) if user == caller => Ok(Some(caller.clone())),
            (Scope::Own(_), Some(_)) => Err("only administrators may read other users' events"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
        query.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn every_type_is_named_and_parsed_back() {
        for event_type in EventType::ALL {
            assert_eq!(EventType::parse(event_type.as_str()), Some(event_type));
        }
        assert_eq!(EventType::parse("Sign_In"), None);
    }

    #[test]
    fn a_query_defaults_to_the_newest_twenty_of_every_type() {
        let query = EventQuery::parse(&[]).expect("valid");
        assert_eq!(query, EventQuery { limit: 20, event_type: None, user: None, before: None });
    }

    #[test]
    fn a_query_reads_each_parameter() {
        let user = UserId::generate();
        let before = EventId::generate();
        let query = EventQuery::parse(&pairs(&[
            ("limit", "5"),
            ("type", "sign_in_failed"),
            ("user", user.as_str()),
            ("before", before.as_str()),
        ]))
        .expect("valid");
        assert_eq!(query.limit, 5);
        assert_eq!(query.event_type, Some(EventType::SignInFailed));
        assert_eq!(query.user, Some(user));
        assert_eq!(query.before, Some(before));
    }

    #[test]
    fn every_invalid_parameter_is_named() {
        let errors = EventQuery::parse(&pairs(&[
            ("limit", "0"),
            ("type", "login"),
            ("user", "' OR 1=1 --"),
            ("before", "zzz"),
            ("page", "2"),
        ]))
        .expect_err("invalid");
        let names: Vec<&str> = errors.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["limit", "type", "user", "before", "page"]);
        let twice = EventQuery::parse(&pairs(&[("limit", "5"), ("limit", "6")])).expect_err("repeated");
        assert_eq!(twice, [("limit".to_owned(), "is given more than once".to_owned())]);
        assert!(EventQuery::parse(&pairs(&[("limit", "101")])).is_err());
    }

    #[test]
    fn users_read_their_own_events_and_administrators_anyone_s() {
        let (me, other) = (UserId::generate(), UserId::generate());
        let own = Scope::Own(me.clone());
        let mut query = EventQuery::parse(&[]).expect("valid");
        assert_eq!(query.subject(&own), Ok(Some(me.clone())));
        assert_eq!(query.subject(&Scope::Everyone), Ok(None));
        query.user = Some(me.clone());
        assert_eq!(query.subject(&own), Ok(Some(me.clone())));
        query.user = Some(other.clone());
        assert!(query.subject(&own).is_err());
        assert_eq!(query.subject(&Scope::Everyone), Ok(Some(other)));
    }
}
