//! Who is calling: the access token, verified by the imported verifier, and
//! the revocations `auth` publishes.

use troupe_auth_contract::keys::{revoked_session, PUBLIC_KEYS as PUBLISHED_KEYS};
use troupe_auth_contract::tokens::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, LEEWAY_SECS};
use troupe_ids::{Role, SessionId, UserId};
use troupe_spin_adapter::variable;
use troupe_store::KeyValue;
use troupe_users::Caller;

use crate::bindings::troupe::auth::types::{Claims, Expectations, PublicKey, VerifyError};
use crate::bindings::troupe::auth::verifier;
use crate::error::UsersError;
use crate::Users;

/// The public keys that verify access tokens, and where they came from.
struct PublicKeys {
    keys: Vec<PublicKey>,
    /// From the set `auth` publishes (not `jwt_public_keys`): it may be
    /// behind the keys `auth` signs with.
    published: bool,
}

/// The public keys: `jwt_public_keys` when configured (no I/O), otherwise
/// the set `auth` publishes in the key-value store.
fn public_keys(users: &Users) -> Result<PublicKeys, UsersError> {
    if let Some(spec) = variable("jwt_public_keys") {
        return Ok(PublicKeys { keys: wit_keys(troupe_tokens::parse_key_specs(&spec))?, published: false });
    }
    let spec = match users.kv()?.get(PUBLISHED_KEYS)? {
        Some(bytes) => String::from_utf8(bytes).map_err(UsersError::internal)?,
        // Nothing published (yet, or the store lost it): every token's key
        // is then unknown here, and asked of `auth`.
        None => String::new(),
    };
    Ok(PublicKeys { keys: wit_keys(troupe_tokens::parse_key_specs(&spec))?, published: true })
}

/// The keys `auth` signs with now, from its JWK Set over service chaining.
/// Asking also has `auth` publish them, so the next request finds them.
fn current_keys() -> Result<Vec<PublicKey>, UsersError> {
    let request = http::Request::get(format!("{}/.well-known/jwks.json", crate::accounts::AUTH))
        .body(Vec::new())
        .map_err(UsersError::internal)?;
    let response = troupe_spin_adapter::send(request).map_err(|e| UsersError::AuthUnavailable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(UsersError::AuthUnavailable(format!("the key set: answered {}", response.status())));
    }
    wit_keys(troupe_tokens::parse_jwks(response.body()))
}

fn wit_keys(keys: Result<Vec<(String, [u8; 32])>, troupe_tokens::KeyError>) -> Result<Vec<PublicKey>, UsersError> {
    let keys = keys.map_err(|e| UsersError::internal(format!("public keys: {e}")))?;
    Ok(keys
        .into_iter()
        .map(|(key_id, key)| PublicKey { key_id, algorithm: "EdDSA".into(), key: key.to_vec() })
        .collect())
}

/// Verify `authorization` with the keys. A token naming a key the published
/// set lacks may be one `auth` signs with since the set was last published
/// (a key rotated in while only refreshes signed): such a token is checked
/// once more against the keys `auth` serves, which also publishes them.
fn verify(users: &Users, authorization: Option<&str>, expect: &Expectations) -> Result<Claims, UsersError> {
    let known = public_keys(users)?;
    let mut verdict = verifier::verify(authorization, &known.keys, expect);
    if matches!(verdict, Err(VerifyError::InvalidSignature)) {
        if let Some(kid) = unknown_key(&known, authorization) {
            match current_keys() {
                Ok(current) => verdict = verifier::verify(authorization, &current, expect),
                Err(e) => troupe_spin_adapter::warn("keys", &format!("a token names key {kid:?}, unknown here; {e}")),
            }
        }
    }
    verdict.map_err(|e| UsersError::Unauthenticated(describe(&e)))
}

/// The key the token names, when it is missing from a published copy (a
/// configured `jwt_public_keys` is taken as complete).
fn unknown_key(known: &PublicKeys, authorization: Option<&str>) -> Option<String> {
    let kid = troupe_tokens::key_id(authorization?)?;
    (known.published && !known.keys.iter().any(|key| key.key_id == kid)).then_some(kid)
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
    let claims = verify(users, authorization, &expect)?;
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
