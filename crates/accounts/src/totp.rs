//! The TOTP second factor (RFC 6238): the secret, the `otpauth://` URI an
//! authenticator app reads, checking a code (which says *which* time step
//! it matched, so that the caller accepts each step once), and the
//! single-use recovery codes. Codes are computed by `totp-rs`.

use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// How many recovery codes an enrollment hands out.
pub const RECOVERY_CODES: usize = 10;

/// The authenticator-app defaults every app understands: SHA-1, 6 digits,
/// 30-second steps, and one step of clock skew either way.
const DIGITS: u8 = 6;
const STEP_SECS: u64 = 30;
const SKEW_STEPS: u16 = 1;

/// A TOTP secret: 160 random bits (RFC 4226's recommendation). Its `Debug`
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; 20]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// A fresh secret.
    pub fn generate() -> Self {
        Self(crate::random_bytes::<20>())
    }

    /// The secret stored (sealed) before; `None` if it is not 20 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The raw bytes, to seal for storage.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret in base32, as people type it into an authenticator app.
    pub fn base32(&self) -> String {
        Secret::from(self.0).to_base32()
    }

    fn totp(&self, issuer: &str, account: &str) -> Totp {
        // The label's issuer may not hold a colon (Key Uri Format).
        let issuer = issuer.replace(':', " ");
        let built = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(SKEW_STEPS)
            .with_step_duration(STEP_SECS)
            .with_secret(self.0)
            .with_issuer(Some(issuer))
            .with_account_name(account.replace(':', " "))
            .build();
        match built {
            Ok(totp) => totp,
            // 160 bits, 6 digits and 30 s steps are what RFC 6238 asks.
            Err(e) => unreachable!("a compliant TOTP was refused: {e}"),
        }
    }

    /// The `otpauth://totp/…` URI (Google Authenticator's Key Uri Format)
    /// for `account` at `issuer`, for a QR code or a link.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        self.totp(issuer, account).to_url().unwrap_or_default()
    }

    /// The time step (Unix seconds / 30) whose code `code` is, within one
    /// step of `now_secs`; `None` if it matches none. The caller accepts a
    /// step only if it is later than the last one accepted, so that a code
    /// is never accepted twice (RFC 6238 §5.2).
    pub fn matching_step(&self, code: &str, now_secs: i64) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = u64::try_from(now_secs).ok()?;
        let step = self.totp("troupe", "").check(&code, now)?;
        i64::try_from(step).ok()
    }
}

/// A new set of recovery codes: [`RECOVERY_CODES`] of them, each 60 random
/// bits as twelve base32 characters in two groups of six (`xxxxxx-xxxxxx`),
/// shown once and stored only as [`recovery_code_digest`].
pub fn recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let text = Secret::from(crate::random_bytes::<8>().to_vec()).to_base32().to_lowercase();
            format!("{}-{}", &text[..6], &text[6..12])
        })
        .collect()
}

/// The stored form of a recovery code: SHA-256 of its characters, case and
/// separators ignored (60 random bits: a fast hash is enough, and a stolen
/// table still needs 2^60 tries per code).
pub fn recovery_code_digest(code: &str) -> String {
    let normalized: String = code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    B64.encode(Sha256::digest(normalized.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 secret ("12345678901234567890").
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").expect("20 bytes")
    }

    #[test]
    fn codes_match_rfc_6238s_test_vectors_and_name_their_step() {
        // At T = 59 s the 8-digit vector is 94287082; its last six digits are the 6-digit code.
        assert_eq!(rfc_secret().matching_step("287082", 59), Some(1));
        // At 1111111109 s: 07081804.
        assert_eq!(rfc_secret().matching_step("081804", 1_111_111_109), Some(37_037_036));
        // One step of skew either way, and no more.
        assert_eq!(rfc_secret().matching_step("081804", 1_111_111_109 + 30), Some(37_037_036));
        assert_eq!(rfc_secret().matching_step("081804", 1_111_111_109 + 60), None);
        assert_eq!(rfc_secret().matching_step(" 081 804 ", 1_111_111_109), Some(37_037_036));
        for wrong in ["", "08180", "0818045", "08180a", "000000"] {
            assert_eq!(rfc_secret().matching_step(wrong, 1_111_111_109), None, "{wrong}");
        }
    }

    #[test]
    fn the_uri_carries_the_base32_secret_the_issuer_and_the_account() {
        let secret = rfc_secret();
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let uri = secret.otpauth_uri("Troupe", "ann@example.com");
        assert!(uri.starts_with("otpauth://totp/Troupe:ann%40example.com?"), "{uri}");
        assert!(uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") && uri.contains("issuer=Troupe"), "{uri}");
        assert_ne!(TotpSecret::generate(), TotpSecret::generate());
        assert_eq!(format!("{secret:?}"), "TotpSecret(<redacted>)");
        assert!(TotpSecret::from_bytes(&[0; 19]).is_none());
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_compare_without_case_or_separators() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(codes.iter().all(|c| c.len() == 13 && c.as_bytes()[6] == b'-'), "{codes:?}");
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        assert_eq!(recovery_code_digest(&codes[0]), recovery_code_digest(&codes[0].to_uppercase().replace('-', " ")));
        assert_ne!(recovery_code_digest(&codes[0]), recovery_code_digest(&codes[1]));
    }
}
