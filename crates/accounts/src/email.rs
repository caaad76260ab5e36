//! The mail accounts send, free of any I/O: what each message says, the
//! one-time tokens its links carry, when a failed delivery is retried, and
//! the Standard Webhooks signature every delivery to the email hook bears.
//!
//! Spin components speak HTTP, not SMTP, so mail leaves through a hook: the
//! `auth` component POSTs each message's [`Message::payload`] as JSON to a
//! URL of the operator's choosing, signed as the Standard Webhooks
//! specification says (<https://www.standardwebhooks.com/>), the way Supabase
//! Auth's send-email hook works. The receiver (a relay, a provider's API
//! behind a small function) turns it into an email.

use serde::Serialize;
use standardwebhooks::Webhook;
use troupe_ids::UserId;

use crate::{rfc3339, OpaqueToken};

/// What a one-time email token does. Its stored name is [`Purpose::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Proves the account's current address.
    VerifyEmail,
    /// Sets a new password without the old one.
    ResetPassword,
    /// Moves the account to the address it was sent to.
    ChangeEmail,
}

impl Purpose {
    /// The name stored in `auth_email_tokens.purpose`.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
            Purpose::ChangeEmail => "change_email",
        }
    }

    /// The message that carries a token of this purpose.
    pub fn message(self) -> Kind {
        match self {
            Purpose::VerifyEmail => Kind::VerifyEmail,
            Purpose::ResetPassword => Kind::ResetPassword,
            Purpose::ChangeEmail => Kind::ConfirmEmailChange,
        }
    }
}

/// The kinds of message, each with its own subject and text. The payload's
/// `type` is [`Kind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// To a new account's address: the verification link.
    VerifyEmail,
    /// To an account's address: the password-reset link.
    ResetPassword,
    /// To the address an account is changing to: the confirmation link.
    ConfirmEmailChange,
    /// To the address an account is changing from: a notice, no link.
    EmailChangeRequested,
}

impl Kind {
    /// The payload's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VerifyEmail => "verify_email",
            Kind::ResetPassword => "reset_password",
            Kind::ConfirmEmailChange => "confirm_email_change",
            Kind::EmailChangeRequested => "email_change_requested",
        }
    }

    /// The path of the link's page under `email_link_base_url`.
    fn page(self) -> &'static str {
        match self {
            Kind::VerifyEmail => "verify-email",
            Kind::ResetPassword => "reset-password",
            Kind::ConfirmEmailChange | Kind::EmailChangeRequested => "confirm-email-change",
        }
    }
}

/// Who a message is about.
#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    /// The account.
    pub id: UserId,
    /// Its display name, to greet with.
    pub name: String,
}

/// The one-time link of a message: the token, and when it expires.
pub struct Link<'a> {
    /// The token (its value appears only in the message).
    pub token: &'a OpaqueToken,
    /// Unix milliseconds.
    pub expires_ms: i64,
}

/// A message, as the email hook receives it (the JSON body of the request).
///
/// `link` is `email_link_base_url` + `/<page>#token=<token>`: the token is in
/// the fragment, which browsers never send to a server, so no access log on
/// the way to the page that completes the flow ever holds it. `token` is the
/// same value alone, for receivers that build their own links.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// [`Kind::as_str`].
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The address to send to.
    pub to: String,
    /// The account it concerns.
    pub user: Recipient,
    /// The subject line.
    pub subject: String,
    /// The plain-text body, link included.
    pub text: String,
    /// The one-time link, if the message has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The link's token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// When the link stops working (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl Message {
    /// Compose a message of `kind` to `to` about `user`. `other_address` is
    /// the address the account changes to, in the notice sent to the old one.
    pub fn compose(
        kind: Kind,
        to: &str,
        user: Recipient,
        link: Option<Link<'_>>,
        link_base_url: &str,
        other_address: Option<&str>,
    ) -> Self {
        let url = link.as_ref().map(|link| {
            format!("{}/{}#token={}", link_base_url.trim_end_matches('/'), kind.page(), link.token.expose())
        });
        let expires_at = link.as_ref().map(|link| rfc3339(link.expires_ms));
        let follow = |what: &str| match (&url, &expires_at) {
            (Some(url), Some(expires)) => format!("{what}:\n\n{url}\n\nThe link works once, until {expires}."),
            _ => String::new(),
        };
        let greeting = format!("Hello {},", user.name);
        let (subject, body) = match kind {
            Kind::VerifyEmail => (
                "Confirm your email address",
                format!(
                    "{}\n\nIf you did not create this account, ignore this message.",
                    follow(&format!("Confirm that {to} is your address by opening this link"))
                ),
            ),
            Kind::ResetPassword => (
                "Reset your password",
                format!(
                    "{}\n\nIf you did not ask for this, ignore this message: your password stays as it is.",
                    follow("Someone asked to reset your account's password. Choose a new one here")
                ),
            ),
            Kind::ConfirmEmailChange => (
                "Confirm your new email address",
                format!(
                    "{}\n\nUntil then your account keeps its current address.",
                    follow(&format!("Confirm {to} as your account's new address by opening this link"))
                ),
            ),
            Kind::EmailChangeRequested => (
                "Your account's email address is changing",
                format!(
                    "A change of your account's address to {} was asked for. It takes effect only once it is \
                     confirmed from that address.\n\nIf you did not ask for it, sign in and change your password.",
                    other_address.unwrap_or("another address")
                ),
            ),
        };
        Message {
            kind: kind.as_str(),
            to: to.to_owned(),
            user,
            subject: subject.to_owned(),
            text: format!("{greeting}\n\n{body}\n"),
            link: url,
            token: link.map(|link| link.token.expose().to_owned()),
            expires_at,
        }
    }

    /// The JSON body the hook receives.
    pub fn payload(&self) -> String {
        // A struct of strings always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// How long after its `attempts`-th failed delivery a message is tried
/// again: 5 s, 30 s, 2 min, 10 min, 30 min, then hourly, for as long as it
/// takes (a message is never dropped).
pub fn retry_delay_ms(attempts: i64) -> i64 {
    const SCHEDULE_SECS: [i64; 6] = [5, 30, 120, 600, 1800, 3600];
    let index = usize::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(SCHEDULE_SECS.len() - 1);
    SCHEDULE_SECS[index] * 1000
}

/// A bad `email_hook_secret`.
#[derive(Debug, thiserror::Error)]
#[error("email_hook_secret is not a Standard Webhooks secret (`whsec_` and base64): {0}")]
pub struct SecretError(String);

/// The `webhook-signature` header of one delivery attempt of `payload`,
/// under message id `id`, at `timestamp_secs`, with `secret` (`whsec_`
/// followed by the base64 key, as Standard Webhooks libraries take it).
pub fn signature(secret: &str, id: &str, timestamp_secs: i64, payload: &str) -> Result<String, SecretError> {
    let webhook = Webhook::new(secret).map_err(|e| SecretError(e.to_string()))?;
    webhook.sign(id, timestamp_secs, payload.as_bytes()).map_err(|e| SecretError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> Recipient {
        Recipient { id: UserId::parse("0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a59").expect("id"), name: "Ann".into() }
    }

    #[test]
    fn a_link_carries_its_token_in_the_fragment_and_says_when_it_expires() {
        let token = OpaqueToken::presented("abc");
        let link = Link { token: &token, expires_ms: 1_700_000_000_000 };
        let message =
            Message::compose(Kind::ResetPassword, "ann@example.com", ann(), Some(link), "https://app.example/", None);
        assert_eq!(message.link.as_deref(), Some("https://app.example/reset-password#token=abc"));
        assert_eq!(message.expires_at.as_deref(), Some("2023-11-14T22:13:20.000Z"));
        assert!(message.text.starts_with("Hello Ann,\n\n"), "{}", message.text);
        assert!(message.text.contains("https://app.example/reset-password#token=abc"));
        let payload: serde_json::Value = serde_json::from_str(&message.payload()).expect("json");
        assert_eq!(payload["type"], "reset_password");
        assert_eq!(payload["token"], "abc");
        assert_eq!(payload["user"]["id"], "0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a59");
    }

    #[test]
    fn the_notice_to_the_old_address_has_no_link_and_names_the_new_one() {
        let message = Message::compose(
            Kind::EmailChangeRequested,
            "old@example.com",
            ann(),
            None,
            "https://app.example",
            Some("new@example.com"),
        );
        assert!(message.text.contains("new@example.com"));
        let payload: serde_json::Value = serde_json::from_str(&message.payload()).expect("json");
        assert!(payload.get("link").is_none() && payload.get("token").is_none(), "{payload}");
        assert_eq!(payload["to"], "old@example.com");
        for kind in [Kind::VerifyEmail, Kind::ConfirmEmailChange] {
            let token = OpaqueToken::generate();
            let link = Link { token: &token, expires_ms: 0 };
            let message = Message::compose(kind, "a@b.example", ann(), Some(link), "http://x", None);
            assert!(message.text.contains(token.expose()) && message.text.contains("a@b.example"), "{kind:?}");
        }
    }

    #[test]
    fn retries_back_off_to_hourly_and_never_stop() {
        let delays: Vec<i64> = (1..=8).map(retry_delay_ms).collect();
        assert_eq!(delays, [5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 3_600_000, 3_600_000]);
        assert_eq!(retry_delay_ms(0), 5_000);
        assert_eq!(retry_delay_ms(i64::MAX), 3_600_000);
    }

    #[test]
    fn a_signature_verifies_with_the_same_secret_only() {
        // The test vector of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let payload = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, payload).expect("signed"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(signature("not base64!", "id", 0, payload).is_err());
        assert_eq!(Purpose::ChangeEmail.as_str(), "change_email");
        assert_eq!(Purpose::ChangeEmail.message(), Kind::ConfirmEmailChange);
    }
}
