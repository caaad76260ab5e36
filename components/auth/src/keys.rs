//! The signing key and the public key set, and `GET /.well-known/jwks.json`.
//!
//! Production configures `jwt_signing_key` (secret) and, while rotating,
//! `jwt_verification_keys` (the previous public keys). Without configuration
//! `auth` generates a development key once, in its `auth_secrets` table, so
//! that `spin up` works with no set-up. Either way the public key set is
//! published under the key-value key [`PUBLIC_KEYS`], where `users` reads it
//! when it has no `jwt_public_keys` of its own: at every sign-in, and when
//! the JWK Set is asked for. A refresh does not check the copy (a key-value
//! round trip on the hottest write); a copy left behind by a key change is
//! repaired when `users` meets a token naming a key it lacks and asks for
//! the set. A key *removed* from the set leaves the copy at the next
//! sign-in: configure `jwt_public_keys` for `users` to make a removal take
//! effect with the deployment itself.

use std::cell::OnceCell;

use http::{header, StatusCode};
use troupe_auth_contract::keys::{PUBLIC_KEYS, SIGNING_KEY_SOURCE as KEY_SOURCE};
use troupe_edge::{json_response, Problem, Response};
use troupe_spin_adapter::variable;
use troupe_store::{Database, DbError, KeyValue};
use troupe_tokens::{KeySet, SigningKey};

use crate::error::AuthError;
use crate::request::Ex;

/// Key-value key (owned by `auth`): when the development-key warning was
/// last logged (Unix ms).
const DEV_KEY_WARNED: &str = "auth:dev-key-warned-at";

/// How often the development-key warning is repeated while the key signs.
const DEV_KEY_WARNING_INTERVAL_MS: i64 = 3600 * 1000;

/// The keys in force.
pub struct Keys {
    pub signing: SigningKey,
    pub source: Source,
    /// The public keys: the signing key's, then `jwt_verification_keys`.
    /// Made on first use: a refresh only signs, and never needs them.
    set: OnceCell<KeySet>,
}

impl Keys {
    /// The public keys that verify tokens (and are published).
    pub fn set(&self) -> Result<&KeySet, AuthError> {
        if let Some(set) = self.set.get() {
            return Ok(set);
        }
        let previous = KeySet::parse(&variable("jwt_verification_keys").unwrap_or_default())
            .map_err(|e| AuthError::internal(format!("jwt_verification_keys: {e}")))?;
        let set = KeySet::new(std::iter::once(self.signing.public().clone()).chain(previous.keys().iter().cloned()));
        Ok(self.set.get_or_init(|| set))
    }
}

/// Where the signing key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `jwt_signing_key`.
    Configured,
    /// Generated once and stored in `auth_secrets`.
    Development,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Configured => "configured",
            Source::Development => "development",
        }
    }
}

fn stored_secret(db: &dyn Database, name: &str) -> Result<Option<String>, DbError> {
    let rows = db.query("SELECT value FROM auth_secrets WHERE name = $1", &[name.into()])?;
    rows.first().map(|row| row.get::<String>("value")).transpose()
}

/// The development secret `name`, made by `make` the first time it is
/// needed. Concurrent first requests agree: whoever inserted first wins, and
/// every request uses the stored value.
fn dev_secret(db: &dyn Database, name: &str, make: impl FnOnce() -> String, now_ms: i64) -> Result<String, AuthError> {
    if let Some(value) = stored_secret(db, name)? {
        return Ok(value);
    }
    db.execute(
        "INSERT INTO auth_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        &[name.into(), make().into(), now_ms.into()],
    )?;
    stored_secret(db, name)?.ok_or_else(|| AuthError::internal(format!("the development secret {name} vanished")))
}

fn dev_key(db: &dyn Database, now_ms: i64) -> Result<SigningKey, AuthError> {
    let spec = dev_secret(db, "dev-signing-key", || SigningKey::generate("dev-1").to_spec(), now_ms)?;
    SigningKey::parse(&spec).map_err(|e| AuthError::internal(format!("stored development key: {e}")))
}

/// The key TOTP secrets are sealed with: `mfa_encryption_key` (at least 32
/// characters; a base64url of 32 random bytes is right). Without one, in
/// development, a key `auth` generated once and keeps in `auth_secrets`; in
/// production (a configured `jwt_signing_key`) the factor is unavailable
/// until one is set, since a key stored beside the secrets protects nothing.
pub(crate) fn mfa_key(auth: &crate::Auth, now_ms: i64) -> Result<Vec<u8>, AuthError> {
    match variable("mfa_encryption_key") {
        Some(key) if key.len() >= 32 => Ok(key.into_bytes()),
        Some(_) => Err(AuthError::MfaNotConfigured("mfa_encryption_key is shorter than 32 characters")),
        None if auth.settings().development() => {
            let make = || troupe_accounts::OpaqueToken::generate().expose().to_owned();
            Ok(dev_secret(auth.db()?, "dev-mfa-key", make, now_ms)?.into_bytes())
        }
        None => Err(AuthError::MfaNotConfigured("set mfa_encryption_key to use two-factor sign-in")),
    }
}

/// Load the keys (`db` is opened only for the development key). Nothing is
/// written: see [`publish`] and [`remind_development_key`] for what signing
/// paths add.
pub(crate) fn load<'a>(db: impl FnOnce() -> Result<&'a dyn Database, Problem>, now_ms: i64) -> Result<Keys, AuthError> {
    let (signing, source) = match variable("jwt_signing_key") {
        Some(spec) => (
            SigningKey::parse(&spec).map_err(|e| AuthError::internal(format!("jwt_signing_key: {e}")))?,
            Source::Configured,
        ),
        None => (dev_key(db()?, now_ms)?, Source::Development),
    };
    Ok(Keys { signing, source, set: OnceCell::new() })
}

/// Log that the development key signs, on a sign-in (login or register).
///
/// Components are instantiated afresh for every request and Spin tells them
/// nothing of the process they run in, so "once per start" is approximated
/// by the store: the warning is logged on the first sign-in after the key set
/// changed, and again at most once an hour. (Readiness reports it too.)
pub fn remind_development_key(keys: &Keys, kv: &dyn KeyValue, now_ms: i64) {
    if keys.source != Source::Development {
        return;
    }
    let last = kv.get(DEV_KEY_WARNED).ok().flatten().and_then(|b| String::from_utf8(b).ok()?.parse::<i64>().ok());
    if last.is_some_and(|at| now_ms - at < DEV_KEY_WARNING_INTERVAL_MS && at <= now_ms) {
        return;
    }
    troupe_spin_adapter::warn(
        "development-signing-key",
        "jwt_signing_key is not set: access tokens are signed with a development key stored in the database; \
         set jwt_signing_key in production",
    );
    if let Err(e) = kv.set(DEV_KEY_WARNED, now_ms.to_string().as_bytes()) {
        troupe_spin_adapter::warn("development-signing-key", &format!("could not record the warning: {e}"));
    }
}

/// Publish the set (and where the signing key comes from) when it changed,
/// so that `users` knows the key of every token in circulation (see the
/// module's documentation for when). A failure is logged, not fatal: `auth`
/// itself does not need the published copy, and the next sign-in retries.
pub fn publish(kv: &dyn KeyValue, set: &KeySet, source: Source) {
    let spec = set.to_spec();
    match kv.get(PUBLIC_KEYS) {
        Ok(Some(current)) if current == spec.as_bytes() => {}
        Ok(_) => {
            let published =
                kv.set(KEY_SOURCE, source.as_str().as_bytes()).and_then(|()| kv.set(PUBLIC_KEYS, spec.as_bytes()));
            if let Err(e) = published {
                troupe_spin_adapter::warn("keys", &format!("could not publish the public keys: {e}"));
            }
            if source == Source::Development {
                // A new key set: say so at once, whatever the interval.
                if let Err(e) = kv.delete(DEV_KEY_WARNED) {
                    troupe_spin_adapter::warn("keys", &format!("could not reset the development-key warning: {e}"));
                }
            }
        }
        Err(e) => troupe_spin_adapter::warn("keys", &format!("could not read the published public keys: {e}")),
    }
}

/// `GET /.well-known/jwks.json` → the public keys (RFC 7517).
pub(crate) fn jwks(ex: &Ex<'_>) -> Result<Response, AuthError> {
    // `users` asks here when a token names a key its published copy lacks.
    let mut response = json_response(StatusCode::OK, &ex.state.published_keys()?.set()?.to_jwks())?;
    response.headers_mut().insert(header::CACHE_CONTROL, http::HeaderValue::from_static("public, max-age=300"));
    Ok(response)
}
