//! A stand-in verifier that proves `users` depends on the WIT contract only.
//!
//! It accepts exactly `Bearer test:<user id>:<role>:<session id>` and
//! refuses everything else, real JWTs included. The swap test plugs it into
//! `users` in place of the real verifier, without rebuilding `users`.

/// Bindings generated from the repository's `wit/`.
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "troupe:auth/verifier-provider@0.1.0",
    });
}

use bindings::exports::troupe::auth::verifier::Guest;
use bindings::troupe::auth::types::{Claims, Expectations, PublicKey, VerifyError};

struct TestVerifier;

impl Guest for TestVerifier {
    fn verify(
        authorization: Option<String>,
        _keys: Vec<PublicKey>,
        expect: Expectations,
    ) -> Result<Claims, VerifyError> {
        let header = authorization.ok_or(VerifyError::Missing)?;
        let token = header.strip_prefix("Bearer test:").ok_or(VerifyError::InvalidSignature)?;
        let mut parts = token.split(':');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(subject), Some(role), Some(session), None) => Ok(Claims {
                subject: subject.to_owned(),
                role: role.to_owned(),
                session_id: session.to_owned(),
                token_id: "test".to_owned(),
                issued_at: expect.now,
                expires_at: expect.now + 60,
            }),
            _ => Err(VerifyError::Malformed("expected test:<user>:<role>:<session>".to_owned())),
        }
    }
}

/// The Wasm export glue (`unsafe` ABI code, allowed here only).
#[allow(unsafe_code)]
mod export {
    use super::{bindings, TestVerifier};

    bindings::export!(TestVerifier with_types_in bindings);
}
