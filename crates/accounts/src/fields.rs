//! Validated account fields: parse, don't validate.

use serde::Serialize;

/// Why a field was refused, in words a client's developer can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldError(pub String);

/// An email address: trimmed, syntactically valid, at most 254 characters.
/// Equality for uniqueness is on [`Email::key`], its lower-cased form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parse `raw`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim();
        if email.is_empty() {
            return Err(FieldError("must not be empty".into()));
        }
        if email.chars().count() > 254 {
            return Err(FieldError("must be at most 254 characters".into()));
        }
        // email_address accepts RFC 5322 forms that no mail system routes
        // ("quoted locals", IP literals, dotless domains); require a plain
        // mailbox with a dotted domain.
        let parsed: email_address::EmailAddress =
            email.parse().map_err(|_| FieldError("must be an email address".into()))?;
        let domain = parsed.domain();
        if email.contains(['"', '[', ' ']) || !domain.contains('.') || domain.ends_with('.') {
            return Err(FieldError("must be an email address".into()));
        }
        Ok(Self(email.to_owned()))
    }

    /// The address as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-cased form that uniqueness and look-ups use.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A display name: trimmed, 1–100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parse `raw`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        match name.chars().count() {
            0 => Err(FieldError("must not be empty".into())),
            101.. => Err(FieldError("must be at most 100 characters".into())),
            _ if name.chars().any(char::is_control) => Err(FieldError("must not contain control characters".into())),
            _ => Ok(Self(name.to_owned())),
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-cased form used for sorting and search.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_keyed_case_insensitively() {
        let email = Email::parse("  Ann.Lee+news@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "Ann.Lee+news@Example.COM");
        assert_eq!(email.key(), "ann.lee+news@example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "   ",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@@example.com",
            "a b@example.com",
            "\"a\"@example.com",
            "ann@[127.0.0.1]",
            "ann@example.com.",
            long.as_str(),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn names_are_one_to_a_hundred_characters_without_controls() {
        assert_eq!(DisplayName::parse("  Zoë  ").expect("valid").as_str(), "Zoë");
        assert_eq!(DisplayName::parse(&"é".repeat(100)).expect("100 chars").as_str().chars().count(), 100);
        for bad in ["", "   ", "a\u{0}b", "line\nbreak"] {
            assert!(DisplayName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
        assert_eq!(DisplayName::parse("Ann").expect("valid").key(), "ann");
    }
}
