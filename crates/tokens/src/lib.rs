//! Troupe's access tokens.
//!
//! Access tokens are JWTs signed with Ed25519 (`EdDSA`, RFC 8037), naming
//! their key with `kid`. One [`SigningKey`] signs; a [`KeySet`] of public
//! keys verifies, so keys rotate by publishing the next public key before it
//! starts signing and keeping the previous one until its tokens expire.
//!
//! [`verify`] is pure: the caller passes the keys and the current time. That
//! is what lets the verifier component run without any host capability.

mod keys;
mod verify;

pub use keys::{parse_jwks, parse_key_specs, KeyError, KeySet, PublicKey, SigningKey};
pub use verify::{key_id, verify, Expectations, VerifyError};

use serde::{Deserialize, Serialize};
use troupe_ids::{Role, SessionId, UserId};

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user id.
    pub sub: UserId,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds.
    pub nbf: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// The token's own id.
    pub jti: String,
    /// The session the token belongs to.
    pub sid: SessionId,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Whether the account's address was verified when the token was
    /// issued. Absent from tokens issued before it existed: not verified.
    #[serde(default)]
    pub email_verified: bool,
    /// How the session was signed in (RFC 8176 method names): `["pwd"]`, or
    /// `["pwd", "otp"]` after a second factor. Absent from older tokens.
    #[serde(default)]
    pub amr: Vec<String>,
}
