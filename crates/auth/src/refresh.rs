//! Refresh tokens: 256 random bits, stored only as their SHA-256.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

/// A refresh token as handed to the client.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

impl RefreshToken {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_base64url_and_stored_as_sha256() {
        let token = RefreshToken::generate();
        assert_eq!(token.expose().len(), 43);
        assert_ne!(token, RefreshToken::generate());
        assert_eq!(RefreshToken::presented(token.expose()).digest(), token.digest());
        assert_eq!(
            RefreshToken::presented("abc").digest(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(format!("{token:?}"), "RefreshToken(<redacted>)");
    }
}
