//! Who is calling: the access token, verified by the imported verifier, and
//! the revocations `auth` publishes.

use troupe_auth_contract::keys::{revoked_session, PUBLIC_KEYS as PUBLISHED_KEYS};
use troupe_auth_contract::tokens::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, LEEWAY_SECS};
use troupe_ids::{Role, SessionId, UserId};
use troupe_spin_adapter::variable;
use troupe_store::KeyValue;
use troupe_users::Caller;

use crate::bindings::troupe::auth::types::{Expectations, PublicKey, VerifyError};
use crate::bindings::troupe::auth::verifier;
use crate::error::UsersError;
use crate::Users;

/// The public keys: `jwt_public_keys` when configured (no I/O), otherwise
/// the set `auth` publishes in the key-value store.
fn public_keys(users: &Users) -> Result<Vec<PublicKey>, UsersError> {
    let spec = match variable("jwt_public_keys") {
        Some(spec) => spec,
        None => match users.kv()?.get(PUBLISHED_KEYS)? {
            Some(bytes) => String::from_utf8(bytes).map_err(UsersError::internal)?,
            // Nothing published yet: no token can have been issued.
            None => String::new(),
        },
    };
    let keys = troupe_tokens::parse_key_specs(&spec).map_err(|e| UsersError::internal(format!("public keys: {e}")))?;
    Ok(keys
        .into_iter()
        .map(|(key_id, key)| PublicKey { key_id, algorithm: "EdDSA".into(), key: key.to_vec() })
        .collect())
}

fn describe(error: &VerifyError) -> &'static str {
    match error {
        VerifyError::Missing => "an access token is required",
        VerifyError::Expired => "the access token has expired",
        VerifyError::Revoked => "the session has ended",
        VerifyError::Malformed(_)
        | VerifyError::NotYetValid
        | VerifyError::InvalidSignature
        | VerifyError::WrongAudience
        | VerifyError::Other(_) => "the access token is invalid",
    }
}

/// Authenticate the request: a valid access token of a live session.
pub(crate) fn authenticate(users: &Users, authorization: Option<&str>) -> Result<Caller, UsersError> {
    let expect = Expectations {
        issuer: variable("jwt_issuer").unwrap_or_else(|| DEFAULT_ISSUER.into()),
        audience: variable("jwt_audience").unwrap_or_else(|| DEFAULT_AUDIENCE.into()),
        now: troupe_spin_adapter::now_ms() / 1000,
        leeway: LEEWAY_SECS,
    };
    let claims = verifier::verify(authorization, &public_keys(users)?, &expect)
        .map_err(|e| UsersError::Unauthenticated(describe(&e)))?;
    // The verifier is swappable: its claims are parsed like any input.
    let invalid = || UsersError::Unauthenticated("the access token is invalid");
    let (user_id, session_id, role) = (
        UserId::parse(&claims.subject).map_err(|_| invalid())?,
        SessionId::parse(&claims.session_id).map_err(|_| invalid())?,
        Role::parse(&claims.role).map_err(|_| invalid())?,
    );
    if revoked(users, &session_id)? {
        return Err(UsersError::Unauthenticated("the session has ended"));
    }
    Ok(Caller { user_id, role })
}

/// Whether `auth` revoked the session: its key-value record, or, when the
/// store fails, the session row itself (a missing row counts as revoked).
/// With neither readable the request fails (503): nobody is let in unchecked.
fn revoked(users: &Users, session_id: &SessionId) -> Result<bool, UsersError> {
    let key = revoked_session(session_id);
    match users.kv().map_err(UsersError::from).and_then(|kv| Ok(kv.get(&key)?)) {
        Ok(record) => Ok(record.is_some()),
        Err(_) => {
            troupe_spin_adapter::warn(
                "revocation",
                "revocations unavailable in the key-value store; reading the session",
            );
            Ok(crate::store::session_revoked(users.db()?, session_id)?.unwrap_or(true))
        }
    }
}
