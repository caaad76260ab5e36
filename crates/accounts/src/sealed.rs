//! Sealing a session's current token pair for the refresh grace interval.
//!
//! Refresh tokens are stored as hashes only, yet a client that re-presents
//! the token it just rotated (two tabs refreshing at once) must receive the
//! pair the first refresh minted. That pair is kept beside the session,
//! encrypted with ChaCha20-Poly1305 under a key derived from the signing
//! key, for the grace interval only, and bound to the session id.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

/// Seals and opens data bound to a session.
pub struct Sealer(ChaCha20Poly1305);

impl Sealer {
    /// A sealer whose key is derived from `secret` (the signing key's seed).
    pub fn new(secret: &[u8]) -> Self {
        Self::for_purpose("troupe/sealed-token-pair/v1", secret)
    }

    /// A sealer for another `purpose` (a fixed label), whose key is derived
    /// from `secret` and that label: what one purpose sealed, no other opens.
    pub fn for_purpose(purpose: &str, secret: &[u8]) -> Self {
        let key = Sha256::new().chain_update(purpose.as_bytes()).chain_update(secret).finalize();
        Self(ChaCha20Poly1305::new(Key::from_slice(&key)))
    }

    /// Encrypt `plaintext`, bound to `session_id`.
    pub fn seal(&self, session_id: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce = crate::random_bytes::<NONCE_LEN>();
        let payload = Payload { msg: plaintext, aad: session_id.as_bytes() };
        match self.0.encrypt(Nonce::from_slice(&nonce), payload) {
            Ok(ciphertext) => [nonce.as_slice(), &ciphertext].concat(),
            Err(_) => unreachable!("ChaCha20-Poly1305 encryption does not fail on in-memory input"),
        }
    }

    /// Decrypt what [`Sealer::seal`] made for `session_id`; `None` if it was
    /// tampered with, sealed for another session or under another key.
    pub fn open(&self, session_id: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
        self.0.decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: session_id.as_bytes() }).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_for_its_session_and_key() {
        let sealer = Sealer::new(b"secret");
        let sealed = sealer.seal("s1", b"pair");
        assert_eq!(sealer.open("s1", &sealed).as_deref(), Some(b"pair".as_slice()));
        assert_eq!(sealer.open("s2", &sealed), None);
        assert_eq!(Sealer::new(b"other").open("s1", &sealed), None);
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert_eq!(sealer.open("s1", &tampered), None);
        assert_eq!(sealer.open("s1", &sealed[..5]), None);
        assert!(!sealed.windows(4).any(|w| w == b"pair"));
        // Another purpose under the same secret is another key.
        assert_eq!(Sealer::for_purpose("troupe/totp-secret/v1", b"secret").open("s1", &sealed), None);
    }
}
