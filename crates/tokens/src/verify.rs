//! Verification of access tokens, pure: keys and time come from the caller.

use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, Validation};

use crate::{AccessClaims, KeySet};

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    /// The required `iss`.
    pub issuer: String,
    /// The required `aud`.
    pub audience: String,
    /// Now, in Unix seconds.
    pub now: i64,
    /// Tolerated clock skew, in seconds.
    pub leeway: u32,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No `Authorization` header.
    #[error("no access token")]
    Missing,
    /// Not a Bearer JWS of the expected shape, or a forbidden algorithm.
    #[error("malformed access token: {0}")]
    Malformed(String),
    /// Past `exp`.
    #[error("the access token has expired")]
    Expired,
    /// Before `nbf`.
    #[error("the access token is not valid yet")]
    NotYetValid,
    /// Bad signature, or no key with the token's `kid`.
    #[error("the access token's signature is invalid")]
    InvalidSignature,
    /// Another issuer or audience.
    #[error("the access token is for another issuer or audience")]
    WrongAudience,
}

/// The token of an `Authorization: Bearer <token>` header value.
fn bearer(authorization: &str) -> Result<&str, VerifyError> {
    let (scheme, token) = authorization
        .trim()
        .split_once(' ')
        .ok_or_else(|| VerifyError::Malformed("expected `Bearer <token>`".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(VerifyError::Malformed("expected the Bearer scheme".into()));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(VerifyError::Malformed("empty token".into()));
    }
    Ok(token)
}

/// The `kid` the access token in `authorization` names, read without
/// checking anything: for an importer whose key set may be behind, to tell a
/// token signed by a key it has not heard of from a badly signed one.
pub fn key_id(authorization: &str) -> Option<String> {
    jsonwebtoken::decode_header(bearer(authorization).ok()?).ok()?.kid
}

/// Verify the access token in `authorization` (an `Authorization` header
/// value): `alg` must be `EdDSA`, `kid` must name a key of `keys` that
/// verifies the signature, `iss` and `aud` must match, and `now` must lie
/// within `nbf`..`exp` give or take the leeway.
pub fn verify(authorization: Option<&str>, keys: &KeySet, expect: &Expectations) -> Result<AccessClaims, VerifyError> {
    let token = bearer(authorization.ok_or(VerifyError::Missing)?)?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    if header.alg != Algorithm::EdDSA {
        return Err(VerifyError::Malformed(format!("algorithm {:?} is not accepted", header.alg)));
    }
    let kid = header.kid.ok_or_else(|| VerifyError::Malformed("no `kid` in the header".into()))?;
    let key = keys.get(&kid).ok_or(VerifyError::InvalidSignature)?;

    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[&expect.issuer]);
    validation.set_audience(&[&expect.audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    // Time is checked below against the caller's clock, not jsonwebtoken's.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let decoded = jsonwebtoken::decode::<AccessClaims>(token, &DecodingKey::from_ed_der(key.bytes()), &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => VerifyError::InvalidSignature,
            ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => VerifyError::WrongAudience,
            _ => VerifyError::Malformed(e.to_string()),
        })?;
    let claims = decoded.claims;
    let leeway = i64::from(expect.leeway);
    if claims.exp + leeway <= expect.now {
        return Err(VerifyError::Expired);
    }
    if claims.nbf - leeway > expect.now {
        return Err(VerifyError::NotYetValid);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;

    use troupe_ids::{Role, SessionId, UserId};

    use super::*;
    use crate::SigningKey;

    const NOW: i64 = 1_800_000_000;

    fn key(kid: &str, byte: u8) -> SigningKey {
        SigningKey::from_seed(kid, [byte; 32]).expect("key")
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "troupe".into(),
            aud: "troupe-api".into(),
            sub: UserId::parse("0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a59").expect("id"),
            iat: NOW,
            nbf: NOW,
            exp: NOW + 900,
            jti: "t-1".into(),
            sid: SessionId::parse("0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a5a").expect("id"),
            role: Role::User,
            email_verified: true,
            amr: vec!["pwd".into()],
        }
    }

    fn expect() -> Expectations {
        Expectations { issuer: "troupe".into(), audience: "troupe-api".into(), now: NOW + 10, leeway: 30 }
    }

    fn check(token: &str, keys: &KeySet) -> Result<AccessClaims, VerifyError> {
        verify(Some(&format!("Bearer {token}")), keys, &expect())
    }

    fn set(keys: &[&SigningKey]) -> KeySet {
        KeySet::new(keys.iter().map(|k| k.public().clone()))
    }

    /// Re-encode a token's part `index` (0 header, 1 claims) after `edit`.
    fn tamper(token: &str, index: usize, edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut json: serde_json::Value =
            serde_json::from_slice(&B64.decode(&parts[index]).expect("b64")).expect("json");
        edit(&mut json);
        parts[index] = B64.encode(serde_json::to_vec(&json).expect("json"));
        parts.join(".")
    }

    #[test]
    fn a_token_signed_by_a_key_of_the_set_verifies() {
        let signer = key("k1", 1);
        let token = signer.sign(&claims()).expect("sign");
        assert_eq!(check(&token, &set(&[&signer])), Ok(claims()));
        // The scheme is case-insensitive; rotation keeps older keys valid.
        let next = key("k2", 2);
        let rotated = set(&[&next, &signer]);
        assert_eq!(verify(Some(&format!("bearer  {token} ")), &rotated, &expect()), Ok(claims()));
    }

    #[test]
    fn missing_and_non_bearer_credentials_are_refused() {
        let keys = set(&[&key("k1", 1)]);
        assert_eq!(verify(None, &keys, &expect()), Err(VerifyError::Missing));
        for header in ["", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Token abc"] {
            assert!(matches!(verify(Some(header), &keys, &expect()), Err(VerifyError::Malformed(_))), "{header:?}");
        }
        assert!(matches!(check("not.a.jwt", &keys), Err(VerifyError::Malformed(_))));
        assert!(matches!(check("abc", &keys), Err(VerifyError::Malformed(_))));
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_refused_outside_the_leeway() {
        let signer = key("k1", 1);
        let keys = set(&[&signer]);
        let expired = AccessClaims { exp: NOW - 21, ..claims() };
        assert_eq!(check(&signer.sign(&expired).expect("sign"), &keys), Err(VerifyError::Expired));
        let within = AccessClaims { exp: NOW - 19, ..claims() };
        assert!(check(&signer.sign(&within).expect("sign"), &keys).is_ok());
        let early = AccessClaims { nbf: NOW + 41, ..claims() };
        assert_eq!(check(&signer.sign(&early).expect("sign"), &keys), Err(VerifyError::NotYetValid));
    }

    #[test]
    fn another_issuer_or_audience_is_refused() {
        let signer = key("k1", 1);
        let keys = set(&[&signer]);
        for wrong in [AccessClaims { iss: "evil".into(), ..claims() }, AccessClaims { aud: "other".into(), ..claims() }]
        {
            assert_eq!(check(&signer.sign(&wrong).expect("sign"), &keys), Err(VerifyError::WrongAudience));
        }
    }

    #[test]
    fn an_unknown_kid_or_a_foreign_key_fails_the_signature() {
        let signer = key("k1", 1);
        let token = signer.sign(&claims()).expect("sign");
        assert_eq!(check(&token, &set(&[&key("k2", 2)])), Err(VerifyError::InvalidSignature));
        // Same kid, another key: the signature does not verify.
        assert_eq!(check(&token, &set(&[&key("k1", 9)])), Err(VerifyError::InvalidSignature));
        // Which key a token names can be read without verifying it.
        assert_eq!(key_id(&format!("Bearer {token}")).as_deref(), Some("k1"));
        assert_eq!(key_id(&token), None);
        assert_eq!(key_id("Bearer not.a.jws"), None);
    }

    #[test]
    fn tampered_header_payload_or_signature_is_refused() {
        let signer = key("k1", 1);
        let keys = set(&[&signer]);
        let token = signer.sign(&claims()).expect("sign");
        let promoted = tamper(&token, 1, |c| c["role"] = "admin".into());
        assert_eq!(check(&promoted, &keys), Err(VerifyError::InvalidSignature));
        let retyped = tamper(&token, 0, |h| h["typ"] = "XYZ".into());
        assert_eq!(check(&retyped, &keys), Err(VerifyError::InvalidSignature));
        let mut bytes = token.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).expect("ascii");
        assert!(matches!(check(&flipped, &keys), Err(VerifyError::InvalidSignature | VerifyError::Malformed(_))));
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let signer = key("k1", 1);
        let keys = set(&[&signer]);
        let token = signer.sign(&claims()).expect("sign");
        let none = tamper(&token, 0, |h| h["alg"] = "none".into());
        let unsigned = format!("{}.{}.", none.split('.').next().expect("h"), token.split('.').nth(1).expect("c"));
        assert!(matches!(check(&unsigned, &keys), Err(VerifyError::Malformed(_))));
        let hs256 = tamper(&token, 0, |h| h["alg"] = "HS256".into());
        assert!(matches!(check(&hs256, &keys), Err(VerifyError::Malformed(m)) if m.contains("HS256")));
        let no_kid = tamper(&token, 0, |h| {
            h.as_object_mut().expect("object").remove("kid");
        });
        assert!(matches!(check(&no_kid, &keys), Err(VerifyError::Malformed(_))));
    }

    /// `payload` signed by `key("k1", 1)` as it is, whatever its claims.
    fn signed_by_k1(payload: &impl serde::Serialize) -> String {
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        // PKCS#8 of the Ed25519 seed [1; 32].
        let der = [
            [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20].as_slice(),
            &[1u8; 32],
        ]
        .concat();
        jsonwebtoken::encode(&header, payload, &jsonwebtoken::EncodingKey::from_ed_der(&der)).expect("sign")
    }

    #[test]
    fn tokens_missing_required_claims_are_refused() {
        #[derive(serde::Serialize)]
        struct Partial {
            sub: &'static str,
            exp: i64,
        }
        let signer = key("k1", 1);
        let token = signed_by_k1(&Partial { sub: "x", exp: NOW + 60 });
        assert!(matches!(check(&token, &set(&[&signer])), Err(VerifyError::Malformed(_))));
    }

    #[test]
    fn signed_claims_that_are_not_ids_or_a_role_are_refused() {
        let signer = key("k1", 1);
        let valid = serde_json::to_value(claims()).expect("json");
        for (claim, value) in [("sub", "user-1"), ("sid", "' OR 1=1 --"), ("role", "root")] {
            let mut payload = valid.clone();
            payload[claim] = value.into();
            let token = signed_by_k1(&payload);
            assert!(matches!(check(&token, &set(&[&signer])), Err(VerifyError::Malformed(_))), "{claim}");
        }
    }
}
