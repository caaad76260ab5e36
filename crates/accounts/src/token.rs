//! Opaque tokens: the one-time tokens of email links and sign-in
//! challenges, and the secrets a refresh token carries ([`crate::refresh`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

/// 256 random bits as handed to a client (base64url), stored only as their
/// SHA-256 ([`OpaqueToken::digest`]). Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct OpaqueToken(String);

impl std::fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpaqueToken(<redacted>)")
    }
}

impl OpaqueToken {
    /// A fresh token: 32 random bytes, base64url (43 characters).
    pub fn generate() -> Self {
        Self(B64.encode(crate::random_bytes::<32>()))
    }

    /// A token presented by a client.
    pub fn presented(value: &str) -> Self {
        Self(value.to_owned())
    }

    /// The token's text.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value stored in place of the token: hex SHA-256. A fast hash is
    /// right here: the token has 256 bits of entropy, nothing to brute-force.
    pub fn digest(&self) -> String {
        Sha256::digest(self.0.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
}
