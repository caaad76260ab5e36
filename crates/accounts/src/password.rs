//! Passwords: the policy a new password must meet, and argon2id hashing.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::FieldError;

/// The most common passwords of 8 to 128 characters, lower-cased, one per
/// line: the 20,000-password list Django ships
/// (`django/contrib/auth/common-passwords.txt.gz`, after Royce Williams'
/// compilation of breach corpora), filtered to the lengths our policy would
/// otherwise accept.
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// A new password that meets the policy: 8–128 characters and not one of
/// the most common passwords (compared case-insensitively).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Parse `raw` (not trimmed: spaces are part of a password).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw.chars().count() {
            0..=7 => return Err(FieldError("must be at least 8 characters".into())),
            129.. => return Err(FieldError("must be at most 128 characters".into())),
            _ => {}
        }
        let lower = raw.to_lowercase();
        if COMMON_PASSWORDS.lines().any(|common| common == lower) {
            return Err(FieldError("is too common; choose another".into()));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashParams {
    /// OWASP's recommendation for argon2id: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Wrong password (or an unreadable hash).
    Mismatch,
    /// Right password; `upgrade` when the hash was made with weaker
    /// parameters than the current ones and should be replaced.
    Match {
        /// Rehash with the current parameters.
        upgrade: bool,
    },
}

/// Hashes and verifies passwords as PHC strings
/// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
pub struct PasswordHasher {
    params: HashParams,
    argon2: Argon2<'static>,
}

impl PasswordHasher {
    /// A hasher with `params`, or the reason they are unusable.
    pub fn new(params: HashParams) -> Result<Self, FieldError> {
        let argon_params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| FieldError(format!("invalid argon2 parameters: {e}")))?;
        Ok(Self { params, argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params) })
    }

    /// Hash `password` with a fresh random salt. It takes a [`Password`],
    /// which the policy bounds to 128 characters: argon2 refuses only inputs
    /// of 4 GiB and more, so hashing one cannot fail.
    pub fn hash(&self, password: &Password) -> String {
        match self.try_hash(password.expose().as_bytes()) {
            Ok(hash) => hash,
            Err(e) => unreachable!("argon2 refused a password of at most 128 characters: {e}"),
        }
    }

    fn try_hash(&self, input: &[u8]) -> Result<String, argon2::password_hash::Error> {
        let salt = SaltString::encode_b64(&crate::random_bytes::<16>())
            .unwrap_or_else(|_| unreachable!("16 bytes always encode as a salt"));
        Ok(self.argon2.hash_password(input, &salt)?.to_string())
    }

    /// Spend the time a verification takes, for a login whose account does
    /// not exist, so that its answer takes as long as a wrong password's.
    /// `presented` is whatever the client sent: it is hashed and forgotten.
    pub fn waste_time(&self, presented: &str) {
        let discarded = self.try_hash(presented.as_bytes());
        std::hint::black_box(discarded).ok();
    }

    /// Check `password` against `stored`.
    pub fn verify(&self, password: &str, stored: &str) -> Verification {
        let Ok(hash) = PasswordHash::new(stored) else { return Verification::Mismatch };
        // Verify with the parameters recorded in the hash itself.
        if Argon2::default().verify_password(password.as_bytes(), &hash).is_err() {
            return Verification::Mismatch;
        }
        Verification::Match { upgrade: self.is_weaker(&hash) }
    }

    fn is_weaker(&self, hash: &PasswordHash<'_>) -> bool {
        let param = |name: &str| hash.params.get_decimal(name).unwrap_or(0);
        hash.algorithm.as_str() != "argon2id"
            || hash.version != Some(0x13)
            || param("m") < self.params.memory_kib
            || param("t") < self.params.iterations
            || param("p") < self.params.parallelism
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap parameters: the tests check behaviour, not cost.
    fn cheap() -> PasswordHasher {
        PasswordHasher::new(HashParams { memory_kib: 64, iterations: 1, parallelism: 1 }).expect("params")
    }

    #[test]
    fn the_policy_bounds_length_and_refuses_common_passwords() {
        assert!(Password::parse("correct horse battery").is_ok());
        assert_eq!(Password::parse("short").err().map(|e| e.0), Some("must be at least 8 characters".into()));
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        for common in ["password", "PASSWORD1", "12345678", "qwertyuiop", "Iloveyou"] {
            assert_eq!(
                Password::parse(common).err().map(|e| e.0),
                Some("is too common; choose another".into()),
                "{common}"
            );
        }
        assert_eq!(format!("{:?}", Password::parse("correct horse battery").expect("ok")), "Password(<redacted>)");
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hasher = cheap();
        let password = Password::parse("correct horse battery").expect("valid");
        let hash = hasher.hash(&password);
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert_eq!(hasher.verify("correct horse battery", &hash), Verification::Match { upgrade: false });
        assert_eq!(hasher.verify("correct horse batterY", &hash), Verification::Mismatch);
        assert_eq!(hasher.verify("anything", "not a phc string"), Verification::Mismatch);
        assert_ne!(hasher.hash(&password), hasher.hash(&password), "salts differ");
    }

    #[test]
    fn a_hash_with_weaker_parameters_asks_for_an_upgrade() {
        let old = cheap().hash(&Password::parse("correct horse battery").expect("valid"));
        let stronger =
            PasswordHasher::new(HashParams { memory_kib: 128, iterations: 1, parallelism: 1 }).expect("params");
        assert_eq!(stronger.verify("correct horse battery", &old), Verification::Match { upgrade: true });
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::new(64, 1, 1, None).expect("params"));
        let salt = SaltString::encode_b64(&[1; 16]).expect("salt");
        let legacy = argon2i.hash_password(b"correct horse battery", &salt).expect("hash").to_string();
        assert_eq!(cheap().verify("correct horse battery", &legacy), Verification::Match { upgrade: true });
    }

    #[test]
    fn owasp_parameters_are_the_default_and_nonsense_is_refused() {
        assert_eq!(HashParams::default(), HashParams { memory_kib: 19_456, iterations: 2, parallelism: 1 });
        assert!(PasswordHasher::new(HashParams { memory_kib: 1, iterations: 0, parallelism: 1 }).is_err());
        cheap().waste_time("whatever");
    }
}
