//! Signing keys, public keys and key sets, in configuration and JWK form.
//!
//! Configuration carries keys as text, so that they fit Spin variables:
//! a signing key is `<kid>:<base64url of the 32-byte Ed25519 seed>`, a
//! public key `<kid>:<base64url of the 32-byte public key>`, and a key set a
//! comma-separated list of public keys.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Serialize;

use crate::AccessClaims;

/// Why a key could not be read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not of the form `<kid>:<base64url key>`.
    #[error("a key must be written `<kid>:<base64url key>`")]
    Format,
    /// The key id is empty or has characters other than `A–Z a–z 0–9 - _ .`.
    #[error("a key id must be 1–64 characters of A–Z a–z 0–9 - _ .")]
    KeyId,
    /// The key material is not 32 bytes of base64url, or not a valid point.
    #[error("an Ed25519 key must be 32 bytes of base64url")]
    Material,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    let valid = (1..=64).contains(&kid.len())
        && kid.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    valid.then_some(()).ok_or(KeyError::KeyId)
}

fn split_spec(spec: &str) -> Result<(&str, [u8; 32]), KeyError> {
    let (kid, material) = spec.trim().split_once(':').ok_or(KeyError::Format)?;
    check_kid(kid)?;
    let bytes = B64.decode(material.trim().trim_end_matches('=')).map_err(|_| KeyError::Material)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Material)?;
    Ok((kid, bytes))
}

/// Read a key set's configuration form into `(kid, raw key)` pairs without
/// checking that each key is a valid curve point: for components that only
/// pass keys on to a verifier (which checks them), on their hot path.
pub fn parse_key_specs(spec: &str) -> Result<Vec<(String, [u8; 32])>, KeyError> {
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| split_spec(s).map(|(kid, key)| (kid.to_owned(), key)))
        .collect()
}

/// Read a JWK Set document (as `GET /.well-known/jwks.json` serves it) into
/// `(kid, raw key)` pairs, unchecked as [`parse_key_specs`]'s. Keys other
/// than Ed25519 `OKP` keys with a `kid` are skipped: they verify nothing here.
pub fn parse_jwks(document: &[u8]) -> Result<Vec<(String, [u8; 32])>, KeyError> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
    let set: JwkSet = serde_json::from_slice(document).map_err(|_| KeyError::Format)?;
    let mut keys = Vec::new();
    for jwk in set.keys {
        let (Some(kid), AlgorithmParameters::OctetKeyPair(pair)) = (jwk.common.key_id, jwk.algorithm) else {
            continue;
        };
        if pair.curve != EllipticCurve::Ed25519 {
            continue;
        }
        let bytes = B64.decode(pair.x.trim_end_matches('=')).map_err(|_| KeyError::Material)?;
        keys.push((kid, bytes.try_into().map_err(|_| KeyError::Material)?));
    }
    Ok(keys)
}

/// A public key that verifies tokens whose `kid` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    kid: String,
    bytes: [u8; 32],
}

/// One key of a JWK Set (RFC 7517, RFC 8037 `OKP` keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwk {
    kty: &'static str,
    crv: &'static str,
    x: String,
    kid: String,
    alg: &'static str,
    #[serde(rename = "use")]
    use_: &'static str,
}

impl PublicKey {
    /// A key from its id and raw bytes (as the WIT interface carries it).
    pub fn from_bytes(kid: &str, bytes: &[u8]) -> Result<Self, KeyError> {
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Material)?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Material)?;
        Ok(Self { kid: kid.to_owned(), bytes })
    }

    /// Read `<kid>:<base64url key>`.
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        let (kid, bytes) = split_spec(spec)?;
        Self::from_bytes(kid, &bytes)
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw 32 bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The configuration form, `<kid>:<base64url key>`.
    pub fn to_spec(&self) -> String {
        format!("{}:{}", self.kid, B64.encode(self.bytes))
    }

    /// The JWK form.
    pub fn to_jwk(&self) -> Jwk {
        Jwk { kty: "OKP", crv: "Ed25519", x: B64.encode(self.bytes), kid: self.kid.clone(), alg: "EdDSA", use_: "sig" }
    }
}

/// The public keys that verify tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet(Vec<PublicKey>);

impl KeySet {
    /// A set of `keys`; later duplicates of a `kid` are dropped.
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        let mut set: Vec<PublicKey> = Vec::new();
        for key in keys {
            if !set.iter().any(|k| k.kid == key.kid) {
                set.push(key);
            }
        }
        Self(set)
    }

    /// Read a comma-separated list of `<kid>:<base64url key>`; blank entries
    /// are skipped.
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        spec.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(PublicKey::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self::new)
    }

    /// The key named `kid`.
    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.0.iter().find(|k| k.kid == kid)
    }

    /// The keys, in order.
    pub fn keys(&self) -> &[PublicKey] {
        &self.0
    }

    /// The configuration form.
    pub fn to_spec(&self) -> String {
        self.0.iter().map(PublicKey::to_spec).collect::<Vec<_>>().join(",")
    }

    /// The JWK Set document (`{"keys": [...]}`).
    pub fn to_jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.0.iter().map(PublicKey::to_jwk).collect::<Vec<_>>() })
    }
}

/// The key that signs access tokens.
///
/// Its public half is derived the first time it is asked for: deriving it
/// costs a scalar multiplication, as much as the signature itself, and a
/// request that only signs (a refresh) never needs it.
pub struct SigningKey {
    kid: String,
    seed: [u8; 32],
    public: OnceLock<PublicKey>,
    encoding: jsonwebtoken::EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// The PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410): the DER that
/// jsonwebtoken expects is this followed by the 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

impl SigningKey {
    /// A key from its id and 32-byte seed (every seed is a key; the id must
    /// be 1–64 characters of `A–Z a–z 0–9 - _ .`).
    pub fn from_seed(kid: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let der = [PKCS8_ED25519_PREFIX.as_slice(), seed.as_slice()].concat();
        let encoding = jsonwebtoken::EncodingKey::from_ed_der(&der);
        Ok(Self { kid: kid.to_owned(), seed, public: OnceLock::new(), encoding })
    }

    /// Read `<kid>:<base64url seed>`.
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        let (kid, seed) = split_spec(spec)?;
        Self::from_seed(kid, seed)
    }

    /// A new random key named `kid` (a valid key id, as `dev-1`).
    pub fn generate(kid: &str) -> Self {
        let mut seed = [0u8; 32];
        // The WASI and OS entropy sources do not fail once a process runs;
        // a signing key from a failed source is not an option.
        #[allow(clippy::expect_used)]
        getrandom::fill(&mut seed).expect("the system's random source failed");
        match Self::from_seed(kid, seed) {
            Ok(key) => key,
            Err(e) => unreachable!("every seed makes an Ed25519 key: {e}"),
        }
    }

    /// The configuration form (secret!).
    pub fn to_spec(&self) -> String {
        format!("{}:{}", self.kid, B64.encode(self.seed))
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The 32-byte seed, for deriving other secrets from this one.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The public half, derived on first use.
    pub fn public(&self) -> &PublicKey {
        self.public.get_or_init(|| {
            // Derived from the seed: a valid point, nothing to check.
            let verifying = ed25519_dalek::SigningKey::from_bytes(&self.seed).verifying_key();
            PublicKey { kid: self.kid.clone(), bytes: verifying.to_bytes() }
        })
    }

    /// Sign `claims` as a compact JWS with `alg: EdDSA` and this key's `kid`.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, KeyError> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| KeyError::Signing(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_configuration_form() {
        let key = SigningKey::from_seed("k1", [7; 32]).expect("key");
        let again = SigningKey::parse(&key.to_spec()).expect("parse");
        let fresh = SigningKey::generate("dev-1");
        assert_ne!(fresh.public(), SigningKey::generate("dev-1").public());
        assert_eq!(fresh.kid(), "dev-1");
        assert_eq!(again.public(), key.public());
        let set = KeySet::parse(&format!(" {} ,, ", key.public().to_spec())).expect("set");
        assert_eq!(set.keys(), [key.public().clone()]);
        assert_eq!(KeySet::parse(&set.to_spec()).expect("again"), set);
        let specs = parse_key_specs(&set.to_spec()).expect("specs");
        assert_eq!(specs, vec![("k1".to_owned(), *key.public().bytes())]);
        assert_eq!(parse_key_specs(""), Ok(vec![]));
        assert_eq!(parse_key_specs("k1"), Err(KeyError::Format));
        assert!(format!("{key:?}").contains("k1") && !format!("{key:?}").contains("seed"));
    }

    #[test]
    fn a_jwk_set_reads_back_as_the_keys_it_publishes() {
        let (one, two) =
            (SigningKey::from_seed("k1", [7; 32]).expect("k1"), SigningKey::from_seed("k2", [8; 32]).expect("k2"));
        let set = KeySet::new([one.public().clone(), two.public().clone()]);
        let document = serde_json::to_vec(&set.to_jwks()).expect("json");
        assert_eq!(parse_jwks(&document), parse_key_specs(&set.to_spec()));
        // Keys this crate cannot use are skipped; what is not a JWK Set is refused.
        let foreign = serde_json::json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": B64.encode([1; 32])},
            {"kty": "EC", "crv": "P-256", "kid": "ec", "x": B64.encode([2; 32]), "y": B64.encode([3; 32])},
            {"kty": "OKP", "crv": "Ed25519", "kid": "k3", "x": B64.encode([4; 32])},
        ]});
        let foreign = serde_json::to_vec(&foreign).expect("json");
        assert_eq!(parse_jwks(&foreign), Ok(vec![("k3".to_owned(), [4; 32])]));
        assert_eq!(parse_jwks(b"{\"keys\": 1}"), Err(KeyError::Format));
        let short = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": "AAAA"}]});
        assert_eq!(parse_jwks(&serde_json::to_vec(&short).expect("json")), Err(KeyError::Material));
    }

    #[test]
    fn malformed_keys_are_refused_with_the_reason() {
        assert_eq!(PublicKey::parse("no-colon").err(), Some(KeyError::Format));
        assert_eq!(PublicKey::parse(":AAAA").err(), Some(KeyError::KeyId));
        assert_eq!(PublicKey::parse("bad kid:AAAA").err(), Some(KeyError::KeyId));
        assert_eq!(PublicKey::parse("k:AAAA").err(), Some(KeyError::Material));
        assert_eq!(PublicKey::parse("k:!!!").err(), Some(KeyError::Material));
        assert_eq!(PublicKey::from_bytes("k", &[1; 31]).err(), Some(KeyError::Material));
    }

    #[test]
    fn the_jwks_document_follows_rfc_8037() {
        let key = SigningKey::from_seed("k1", [7; 32]).expect("key");
        let set = KeySet::new([key.public().clone(), key.public().clone()]);
        let jwks = set.to_jwks();
        assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
        let jwk = &jwks["keys"][0];
        assert_eq!(
            (jwk["kty"].as_str(), jwk["crv"].as_str(), jwk["alg"].as_str()),
            (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
        );
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], "k1");
        assert_eq!(B64.decode(jwk["x"].as_str().expect("x")).expect("b64"), key.public().bytes());
        assert!(set.get("k1").is_some() && set.get("k2").is_none());
    }
}
