//! Everything a request to `auth` can fail with, and the one place where
//! each failure becomes a problem response (RFC 9457).
//!
//! Handlers and the functions under them return [`AuthError`]; the router
//! turns it into a [`Problem`] with [`From`] below. What the shared layers
//! already answered (an invalid body, a store that cannot be opened) passes
//! through as [`AuthError::Problem`].

use http::{header, StatusCode};
use troupe_accounts::Policy;
use troupe_edge::ratelimit::{RATE_LIMIT, RATE_LIMIT_POLICY};
use troupe_edge::{FieldError, Problem};
use troupe_store::{DbError, KvError};
use troupe_tokens::VerifyError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    /// No account has this email and password. Unknown emails and wrong
    /// passwords get the same answer, so that it tells no account apart.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// A refresh token that is unknown, replaced, reused, or of an ended
    /// session: all look alike to the client.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// An access token refused by its signature, issuer, audience or times.
    #[error("{0}")]
    InvalidAccessToken(#[from] VerifyError),
    /// A valid access token of a session that has ended.
    #[error("the session has ended")]
    SessionEnded,
    /// A valid access token of an account deleted since.
    #[error("the account no longer exists")]
    AccountGone,
    /// The caller may not do this (why not).
    #[error("{0}")]
    Forbidden(&'static str),
    /// A list's query parameters, each with what is wrong with it.
    #[error("{} query parameters are invalid", .0.len())]
    InvalidQuery(Vec<(String, String)>),
    /// A password change whose current password is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// A one-time email link that is unknown, used, replaced by a newer
    /// one, expired, or sent to an address the account no longer has.
    #[error("the link is invalid or has expired; ask for a new one")]
    InvalidLink,
    /// A new verification link for an address that is verified.
    #[error("the email address is verified already")]
    AlreadyVerified,
    /// A change of address to the address the account has.
    #[error("this is the account's address already")]
    SameEmail,
    /// A sign-in to an account whose address is not verified, while
    /// `require_verified_email` is on.
    #[error("verify your email address before you sign in: follow the link sent to it, or ask for a new one")]
    EmailNotVerified,
    /// `POST /mfa/totp` while TOTP is on.
    #[error("two-factor sign-in is on already; turn it off first to enroll another app")]
    MfaAlreadyOn,
    /// A TOTP step for an account without (that stage of) a factor.
    #[error("no TOTP app is enrolled for this account; POST /api/v1/auth/mfa/totp first")]
    NoMfaEnrollment,
    /// A code that is not the app's current one, or was used already.
    #[error("the code is wrong or was used already")]
    WrongCode,
    /// The second step of a sign-in with a wrong code or recovery code.
    #[error("invalid code")]
    InvalidCode,
    /// An MFA challenge that is unknown, completed or expired.
    #[error("the sign-in challenge is invalid or has expired; sign in again")]
    InvalidChallenge,
    /// Neither or both of `code` and `password`.
    #[error("give either a code or the password")]
    CodeOrPassword,
    /// Neither or both of `code` and `recovery_code`.
    #[error("give either a code or a recovery code")]
    CodeOrRecoveryCode,
    /// TOTP needs `mfa_encryption_key` (why).
    #[error("{0}")]
    MfaNotConfigured(&'static str),
    /// Another account has this email.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The change would leave no administrator (`demoted`, `deleted`).
    #[error("the last administrator cannot be {0}; make another user an administrator first")]
    LastAdministrator(&'static str),
    #[error("no such user")]
    NoSuchUser,
    /// Not an active session of the caller's (others' look the same).
    #[error("no such active session")]
    NoSuchSession,
    /// A conditional change whose revision is not the user's any more.
    #[error("the user has changed since the given ETag")]
    RevisionChanged,
    /// A throttle refused the attempt: its counter is full until the window ends.
    #[error("{detail}")]
    Throttled { detail: &'static str, policy: Policy, hits: i64, window_ends_ms: i64, now_ms: i64 },
    /// A revocation could not be written where `users` looks for it.
    #[error("could not publish a revocation: {0}")]
    RevocationUnpublished(KvError),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    KeyValue(#[from] KvError),
    /// A fault of the server's own: a setting that cannot be used, or an
    /// invariant that did not hold. Logged; the client sees a bare 500.
    #[error("{0}")]
    Internal(String),
    /// What the shared layers already answered.
    #[error(transparent)]
    Problem(#[from] Problem),
}

impl AuthError {
    pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<AuthError> for Problem {
    fn from(error: AuthError) -> Self {
        let detail = error.to_string();
        match error {
            AuthError::InvalidCredentials
            | AuthError::InvalidRefreshToken
            | AuthError::InvalidAccessToken(_)
            | AuthError::SessionEnded
            | AuthError::AccountGone
            | AuthError::InvalidCode
            | AuthError::InvalidChallenge => Problem::unauthorized(detail),
            AuthError::WrongPassword | AuthError::Forbidden(_) | AuthError::EmailNotVerified | AuthError::WrongCode => {
                Problem::forbidden(detail)
            }
            AuthError::InvalidLink => Problem::new(StatusCode::BAD_REQUEST).detail(detail),
            AuthError::SameEmail => Problem::invalid(vec![FieldError::new("new_email", detail)]),
            AuthError::CodeOrPassword | AuthError::CodeOrRecoveryCode => {
                Problem::new(StatusCode::BAD_REQUEST).detail(detail)
            }
            // What the operator must set is no secret: say it.
            AuthError::MfaNotConfigured(_) => Problem::new(StatusCode::SERVICE_UNAVAILABLE).detail(detail),
            AuthError::InvalidQuery(errors) => {
                Problem::invalid(errors.into_iter().map(|(field, message)| FieldError::new(field, message)).collect())
            }
            AuthError::EmailTaken
            | AuthError::LastAdministrator(_)
            | AuthError::AlreadyVerified
            | AuthError::MfaAlreadyOn
            | AuthError::NoMfaEnrollment => Problem::conflict(detail),
            AuthError::NoSuchUser | AuthError::NoSuchSession => Problem::not_found(detail),
            AuthError::RevisionChanged => Problem::new(StatusCode::PRECONDITION_FAILED).detail(detail),
            AuthError::Throttled { policy, hits, window_ends_ms, now_ms, .. } => {
                Problem::new(StatusCode::TOO_MANY_REQUESTS)
                    .detail(detail)
                    .header(header::RETRY_AFTER, Policy::retry_after_secs(window_ends_ms, now_ms).to_string())
                    .header(RATE_LIMIT, policy.ratelimit_header(hits, window_ends_ms, now_ms))
                    .header(RATE_LIMIT_POLICY, policy.policy_header())
            }
            AuthError::RevocationUnpublished(_) => Problem::unavailable(detail),
            AuthError::Database(e) => Problem::from(e),
            AuthError::KeyValue(e) => Problem::from(e),
            AuthError::Internal(cause) => Problem::internal(cause),
            AuthError::Problem(problem) => problem,
        }
    }
}

/// A unique-constraint violation on an account's row: its email is taken.
pub(crate) fn email_taken(error: DbError) -> AuthError {
    match error {
        DbError::Conflict(_) => AuthError::EmailTaken,
        other => AuthError::Database(other),
    }
}
