//! What every handler needs of a request: the validated fields, the caller's
//! address, the password hasher, and the caller's access token and session.

use http::{header, StatusCode};
use troupe_accounts::throttle::password_counters;
use troupe_accounts::{PasswordHasher, User, Verification};
use troupe_auth_contract::tokens::LEEWAY_SECS;
use troupe_edge::client::address_bucket;
use troupe_edge::{json_body, Exchange, Fields, Response};
use troupe_store::transaction;
use troupe_tokens::{AccessClaims, Expectations};

use crate::error::AuthError;
use crate::protect;
use crate::store::{self, Client};
use crate::Auth;

pub(crate) type Ex<'a> = Exchange<'a, Auth>;

pub(crate) fn now_ms() -> i64 {
    troupe_spin_adapter::now_ms()
}

pub(crate) fn hasher(auth: &Auth) -> Result<PasswordHasher, AuthError> {
    PasswordHasher::new(auth.settings().hash()).map_err(|e| AuthError::internal(format!("argon2 settings: {e}")))
}

/// Read a required text field and validate it with `parse`.
pub(crate) fn field<T, E: std::fmt::Display>(
    fields: &mut Fields,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<T> {
    let raw: Option<String> = fields.required(name);
    fields.check(name, raw, |raw| parse(&raw).map_err(|e| e.to_string()))
}

/// The one required text field `name` of a body that holds nothing else
/// (`{token}`, `{code}`, `{password}`).
pub(crate) fn sole_field(ex: &Ex<'_>, name: &str) -> Result<String, AuthError> {
    let mut fields = json_body(ex.request, &[])?;
    let value: Option<String> = fields.required(name);
    fields.finish()?;
    validated(value)
}

/// `user`'s `password`, checked against their `stored` hash under the
/// sign-in throttles, as a sign-in's is: counted first (429 over a limit),
/// 403 when wrong, the attempt settled when right.
pub(crate) fn check_password(ex: &Ex<'_>, user: &User, password: &str, stored: &str) -> Result<(), AuthError> {
    let auth = ex.state;
    let db = auth.db()?;
    let now = now_ms();
    let counters = password_counters(&user.email.to_lowercase(), &bucket(ex), auth.settings().password());
    protect::admit(db, &counters, now, "too many failed password checks; try again later")?;
    if hasher(auth)?.verify(password, stored) == Verification::Mismatch {
        protect::sweep(auth, now);
        return Err(AuthError::WrongPassword);
    }
    transaction(db, |tx| protect::settle_success(tx, &counters, now))?;
    Ok(())
}

/// `Some` for every field once `finish` succeeded; `None` is a bug.
pub(crate) fn validated<T>(value: Option<T>) -> Result<T, AuthError> {
    value.ok_or_else(|| AuthError::internal("a validated field is missing"))
}

/// Who is calling, from where (the edge's one source of the address).
pub(crate) fn client(ex: &Ex<'_>) -> Client {
    Client {
        user_agent: ex.header(header::USER_AGENT).map(|ua| ua.chars().take(256).collect()),
        address: ex.client_addr().map(|ip| ip.to_string()),
    }
}

/// The unit per-address limits count the caller in (IPv6: its /64).
pub(crate) fn bucket(ex: &Ex<'_>) -> String {
    ex.client_addr().map_or_else(|| "unknown".to_owned(), address_bucket)
}

pub(crate) fn empty(status: StatusCode) -> Response {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = status;
    response
}

/// The caller's access token, verified (signature, issuer, audience, times).
pub(crate) fn verified_claims(ex: &Ex<'_>) -> Result<AccessClaims, AuthError> {
    let auth = ex.state;
    let settings = auth.settings();
    let expect = Expectations {
        issuer: settings.issuer().to_owned(),
        audience: settings.audience().to_owned(),
        now: now_ms() / 1000,
        leeway: LEEWAY_SECS,
    };
    Ok(troupe_tokens::verify(ex.header(header::AUTHORIZATION), auth.keys()?.set()?, &expect)?)
}

/// The caller's verified access token, from an unrevoked, unexpired session,
/// and that session, whose `role` is the account's current one (read with
/// it, not taken from the token).
pub(crate) fn authenticate_session(ex: &Ex<'_>) -> Result<(AccessClaims, store::SessionState), AuthError> {
    let claims = verified_claims(ex)?;
    match store::session(ex.state.db()?, &claims.sid)? {
        Some(session) if session.live(now_ms()) && session.user_id == claims.sub => {
            ex.authenticated(claims.sub.as_str())?;
            Ok((claims, session))
        }
        _ => Err(AuthError::SessionEnded),
    }
}

/// The caller's verified access token, from an unrevoked, unexpired session.
pub(crate) fn authenticate(ex: &Ex<'_>) -> Result<AccessClaims, AuthError> {
    authenticate_session(ex).map(|(claims, _)| claims)
}
