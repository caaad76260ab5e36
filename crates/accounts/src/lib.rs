//! Troupe's account rules, free of any runtime.
//!
//! The `auth` component turns wire bodies into these validated types at its
//! edge ([`Email`], [`DisplayName`], [`Password`]) and keeps its
//! handlers to orchestration: hashing ([`PasswordHasher`]), refresh tokens
//! ([`RefreshToken`]), the sealed copy of a session's current token pair
//! ([`Sealer`]), throttle keys and windows ([`throttle`]), and the audit log's
//! event types and queries ([`audit`]), and the mail accounts send
//! ([`email`]), and the TOTP second factor ([`totp`]) are all decided here
//! and tested natively.

pub mod audit;
pub mod email;
mod fields;
mod password;
pub mod refresh;
mod sealed;
pub mod throttle;
mod token;
pub mod totp;
mod user;

pub use throttle::{Counter, MailPolicies, OnSuccess, PasswordPolicies, Policy};

pub use fields::{DisplayName, Email, FieldError};
pub use password::{HashParams, Password, PasswordHasher, Verification};
pub use refresh::RefreshToken;
pub use sealed::Sealer;
pub use token::OpaqueToken;
pub use user::{rfc3339, User, UserRecord};

/// Fill `buf` from the operating system's (or WASI host's) CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The WASI and OS entropy sources do not fail once a process runs; if
    // one ever does, continuing with predictable secrets is not an option.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("the system's random source failed");
    buf
}
