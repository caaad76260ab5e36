//! Everything a request to `users` can fail with, and the one place where
//! each failure becomes a problem response (RFC 9457).
//!
//! Handlers and the functions under them return [`UsersError`]; the router
//! turns it into a [`Problem`] with [`From`] below. What the shared layers
//! already answered (an invalid body, a store that cannot be opened) passes
//! through as [`UsersError::Problem`].

use http::StatusCode;
use troupe_edge::{FieldError, Problem};
use troupe_store::{DbError, KvError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum UsersError {
    /// No valid access token of a live session (what is wrong with it).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The caller may not do this (why not).
    #[error("{0}")]
    Forbidden(&'static str),
    /// A path parameter or header that is not what it must be.
    #[error("{field}: {message}")]
    InvalidField { field: &'static str, message: &'static str },
    /// The list's query parameters, each with what is wrong with it.
    #[error("{} query parameters are invalid", .0.len())]
    InvalidQuery(Vec<(String, String)>),
    #[error("no such user")]
    NoSuchUser,
    /// `If-Match` (or the revision `auth` checked) names another version.
    #[error("the user has changed since the given ETag")]
    RevisionChanged,
    /// The key's first request failed and its record is being removed.
    #[error("the idempotency key is being released; retry")]
    IdempotencyKeyReleasing,
    /// The key's first request was another one.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// The key's first request has not answered yet.
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyKeyInFlight,
    /// `auth` could not be asked, or failed.
    #[error("auth: {0}")]
    AuthUnavailable(String),
    /// `auth` refused the change (400, 404, 409, 412): its problem goes to
    /// the client as it is.
    #[error("auth refused the change ({})", .0.status())]
    RefusedByAuth(Problem),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    KeyValue(#[from] KvError),
    /// A fault of the server's own. Logged; the client sees a bare 500.
    #[error("{0}")]
    Internal(String),
    /// What the shared layers already answered.
    #[error(transparent)]
    Problem(#[from] Problem),
}

impl UsersError {
    pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<UsersError> for Problem {
    fn from(error: UsersError) -> Self {
        let detail = error.to_string();
        match error {
            UsersError::Unauthenticated(_) => Problem::unauthorized(detail),
            UsersError::Forbidden(_) => Problem::forbidden(detail),
            UsersError::InvalidField { field, message } => Problem::invalid_field(field, message),
            UsersError::InvalidQuery(errors) => {
                Problem::invalid(errors.into_iter().map(|(field, message)| FieldError::new(field, message)).collect())
            }
            UsersError::NoSuchUser => Problem::not_found(detail),
            UsersError::RevisionChanged => Problem::new(StatusCode::PRECONDITION_FAILED).detail(detail),
            UsersError::IdempotencyKeyReleasing | UsersError::IdempotencyKeyInFlight => Problem::conflict(detail),
            UsersError::IdempotencyKeyReused => Problem::new(StatusCode::UNPROCESSABLE_ENTITY).detail(detail),
            UsersError::AuthUnavailable(_) => Problem::unavailable(detail),
            UsersError::RefusedByAuth(problem) | UsersError::Problem(problem) => problem,
            UsersError::Database(e) => Problem::from(e),
            UsersError::KeyValue(e) => Problem::from(e),
            UsersError::Internal(cause) => Problem::internal(cause),
        }
    }
}
