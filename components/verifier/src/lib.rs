//! `verifier`: the auth-owned implementation of `troupe:auth/verifier`.
//!
//! A library component with no HTTP route and no capability: the importer
//! passes the header, the key set and the time, and gets claims or a typed
//! refusal. Spin plugs it into `users` through
//! `[component.users.dependencies]`; any other component exporting the same
//! interface can take its place without rebuilding `users`.

use troupe_tokens::{Expectations, KeySet, PublicKey, VerifyError};

/// Bindings generated from `wit/` (never checked in).
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "troupe:auth/verifier-provider@0.1.0",
    });
}

use bindings::exports::troupe::auth::verifier::Guest;
use bindings::troupe::auth::types::{
    Claims, Expectations as WitExpectations, PublicKey as WitKey, VerifyError as WitError,
};

struct Verifier;

impl Guest for Verifier {
    fn verify(authorization: Option<String>, keys: Vec<WitKey>, expect: WitExpectations) -> Result<Claims, WitError> {
        // A key this implementation cannot use (another algorithm, bad bytes)
        // simply verifies nothing: tokens naming it fail their signature.
        let keys = KeySet::new(
            keys.iter()
                .filter(|k| k.algorithm == "EdDSA")
                .filter_map(|k| PublicKey::from_bytes(&k.key_id, &k.key).ok()),
        );
        let expect =
            Expectations { issuer: expect.issuer, audience: expect.audience, now: expect.now, leeway: expect.leeway };
        match troupe_tokens::verify(authorization.as_deref(), &keys, &expect) {
            Ok(claims) => Ok(Claims {
                subject: claims.sub.to_string(),
                role: claims.role.to_string(),
                session_id: claims.sid.to_string(),
                token_id: claims.jti,
                issued_at: claims.iat,
                expires_at: claims.exp,
            }),
            Err(error) => Err(match error {
                VerifyError::Missing => WitError::Missing,
                VerifyError::Malformed(why) => WitError::Malformed(why),
                VerifyError::Expired => WitError::Expired,
                VerifyError::NotYetValid => WitError::NotYetValid,
                VerifyError::InvalidSignature => WitError::InvalidSignature,
                VerifyError::WrongAudience => WitError::WrongAudience,
            }),
        }
    }
}

/// The Wasm export glue (`unsafe` ABI code, allowed here only).
#[allow(unsafe_code)]
mod export {
    use super::{bindings, Verifier};

    bindings::export!(Verifier with_types_in bindings);
}
