//! The account's own routes: `POST /register`, `POST /login`, `GET /me`,
//! `POST /password`.

use http::StatusCode;
use serde::Serialize;
use serde_json::json;
use troupe_accounts::audit::EventType;
use troupe_accounts::email::Purpose;
use troupe_accounts::throttle::{password_counters, registration_counter};
use troupe_accounts::{DisplayName, Email, Password, User, Verification};
use troupe_edge::{json_body, json_response, Response};
use troupe_ids::{Role, UserId};
use troupe_store::{transaction, Database};

use crate::audit::{self, Event};
use crate::email::send_link;
use crate::error::{email_taken, AuthError};
use crate::protect::{self, publish_revocations, revoked};
use crate::request::{authenticate, bucket, client, empty, field, hasher, now_ms, validated, verified_claims, Ex};
use crate::store::{self, NewAccount};
use crate::tokens::{open_session, ready_to_sign, Amr, TokenPair};
use crate::{mail, mfa, user_cache};

/// A sign-in's answer: the user and a token pair.
#[derive(Serialize)]
pub(crate) struct SignedIn<'a> {
    pub(crate) user: &'a User,
    #[serde(flatten)]
    pub(crate) tokens: &'a TokenPair,
}

/// `POST /register {email, password, name}` → 201 with the user and a token
/// pair; a verification link goes to the address.
///
/// Limited per client address (each attempt costs an argon2id hash, and a
/// duplicate email's 409 tells that an account exists). The account named
/// by `bootstrap_admin_email` becomes an administrator only while no
/// administrator exists, decided in the insert's transaction.
pub(crate) fn register(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let mut fields = json_body(ex.request, &[])?;
    let email = field(&mut fields, "email", Email::parse);
    let password = field(&mut fields, "password", Password::parse);
    let name = field(&mut fields, "name", DisplayName::parse);
    fields.finish()?;
    let (email, password, name) = (validated(email)?, validated(password)?, validated(name)?);

    let auth = ex.state;
    let db = auth.db()?;
    let now = now_ms();
    let counter = registration_counter(&bucket(ex), auth.settings().registration());
    protect::admit(db, counter.as_slice(), now, "too many registrations from this address; try again later")?;
    let bootstrap = auth.settings().bootstrap_admin() == Some(email.key().as_str());
    // Hash before the transaction: it takes tens of milliseconds.
    let hash = hasher(auth)?.hash(&password);
    let client = client(ex);
    let id = UserId::generate();
    ready_to_sign(auth, now)?;
    let (user, tokens) = transaction(db, |tx| {
        let role = if bootstrap && !store::admin_exists(tx)? { Role::Admin } else { Role::User };
        let account = NewAccount { id: &id, email: &email, name: &name, role, password_hash: &hash, now_ms: now };
        let user = store::insert_account(tx, &account).map_err(email_taken)?.user;
        let tokens = open_session(auth, tx, &user, &client, Amr::Password, now)?;
        let created = Event::own(EventType::AccountCreated, &user.id).detail(json!({ "role": user.role }));
        audit::record(ex, tx, created)?;
        send_link(auth, tx, Purpose::VerifyEmail, &user, &user.email, now)?;
        Ok::<_, AuthError>((user, tokens))
    })?;
    ex.set_user(user.id.as_str());
    mail::deliver_due(auth);
    protect::sweep(auth, now);
    Ok(json_response(StatusCode::CREATED, &SignedIn { user: &user, tokens: &tokens })?)
}

/// `POST /login {email, password}` → 200 with the user and a token pair.
///
/// The attempt is counted before the password is checked (see
/// [`protect::admit`]): per account and address, per account, per address.
pub(crate) fn login(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let mut fields = json_body(ex.request, &[])?;
    let email: Option<String> = fields.required("email");
    let password: Option<String> = fields.required("password");
    fields.finish()?;
    let (email, password) = (validated(email)?, validated(password)?);

    let auth = ex.state;
    let db = auth.db()?;
    let now = now_ms();
    let email_key = email.trim().to_lowercase();
    let counters = password_counters(&email_key, &bucket(ex), auth.settings().password());
    protect::admit(db, &counters, now, "too many failed sign-in attempts; try again later")?;
    let outcome = sign_in(ex, db, &email_key, &password, &counters, now);
    protect::sweep(auth, now);
    outcome
}

fn sign_in(
    ex: &Ex<'_>,
    db: &dyn Database,
    email_key: &str,
    password: &str,
    counters: &[troupe_accounts::Counter],
    now: i64,
) -> Result<Response, AuthError> {
    let auth = ex.state;
    let hasher = hasher(auth)?;
    // No stored email holds NUL (they are validated), and Postgres text
    // cannot: such an address names no account.
    let account = if email_key.contains('\0') { None } else { store::account_by_email(db, email_key)? };
    let Some((record, stored_hash)) = account else {
        hasher.waste_time(password);
        return refuse(ex, db, None, email_key);
    };
    let Verification::Match { upgrade } = hasher.verify(password, &stored_hash) else {
        return refuse(ex, db, Some(&record.user.id), email_key);
    };
    let client = client(ex);
    let user = record.user;
    if !user.email_verified && auth.settings().require_verified_email() {
        // The right password: the attempt was no failure.
        transaction(db, |tx| protect::settle_success(tx, counters, now))?;
        return Err(AuthError::EmailNotVerified);
    }
    // Everything slow happens before the transaction: a rehash takes tens of
    // milliseconds, and the keys may need key-value round trips.
    // A password set under an older, looser policy keeps its old hash: the
    // hasher only takes what the current policy accepts.
    let rehashed = if upgrade { Password::parse(password).ok().map(|valid| hasher.hash(&valid)) } else { None };
    if store::totp_factor(db, &user.id)?.is_some_and(|factor| factor.confirmed) {
        // The password was right; the code decides (POST /login/mfa).
        let challenge = transaction(db, |tx| {
            protect::settle_success(tx, counters, now)?;
            if let Some(hash) = &rehashed {
                store::set_password_hash(tx, &user.id, hash, now)?;
            }
            mfa::challenge(tx, &user.id, now)
        })?;
        return Ok(json_response(StatusCode::OK, &challenge)?);
    }
    ready_to_sign(auth, now)?;
    let tokens = transaction(db, |tx| {
        protect::settle_success(tx, counters, now)?;
        if let Some(hash) = &rehashed {
            store::set_password_hash(tx, &user.id, hash, now)?;
        }
        audit::record(ex, tx, Event::own(EventType::SignIn, &user.id))?;
        open_session(auth, tx, &user, &client, Amr::Password, now)
    })?;
    ex.set_user(user.id.as_str());
    Ok(json_response(StatusCode::OK, &SignedIn { user: &user, tokens: &tokens })?)
}

/// A refused sign-in: recorded (about the account, if the email names one;
/// otherwise with the email tried), then the same answer either way. An
/// attempt that cannot be recorded is answered 503, not let by unrecorded.
fn refuse(ex: &Ex<'_>, db: &dyn Database, account: Option<&UserId>, email_key: &str) -> Result<Response, AuthError> {
    let mut event = Event::new(EventType::SignInFailed, None, account);
    if account.is_none() {
        // Longer strings are no email address (RFC 5321 allows 254).
        event = event.detail(json!({ "email": email_key.chars().take(254).collect::<String>() }));
    }
    audit::record(ex, db, event)?;
    Err(AuthError::InvalidCredentials)
}

/// `GET /me` → the caller.
///
/// `auth`'s hot path, served as `users` serves its cached read: the token
/// verified, its session checked against the revocations `auth` publishes
/// in the key-value store, and the account read through `auth`'s user
/// cache ([`user_cache`]). No database is opened while both are in the
/// store. An access token never outlives its session's end, so a session
/// that is not revoked is live while the token is.
pub(crate) fn me(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let claims = verified_claims(ex)?;
    let auth = ex.state;
    if revoked(auth, &claims.sid)? {
        return Err(AuthError::SessionEnded);
    }
    ex.authenticated(claims.sub.as_str())?;
    // Deleting an account revokes its sessions: a missing account is a race.
    let record = user_cache::read(auth, &claims.sub)?.ok_or(AuthError::AccountGone)?;
    Ok(json_response(StatusCode::OK, &record.user)?)
}

/// `POST /password {current_password, new_password}` → 204; every other
/// session of the user is revoked. The current password is checked under
/// the sign-in throttles: a wrong one counts as a failed sign-in for the
/// account and the address.
pub(crate) fn change_password(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let claims = authenticate(ex)?;
    let mut fields = json_body(ex.request, &[])?;
    let current: Option<String> = fields.required("current_password");
    let next = field(&mut fields, "new_password", Password::parse);
    fields.finish()?;
    let (current, next) = (validated(current)?, validated(next)?);

    let auth = ex.state;
    let hasher = hasher(auth)?;
    let db = auth.db()?;
    let (record, stored) = store::account_by_id(db, &claims.sub)?.ok_or(AuthError::AccountGone)?;
    let now = now_ms();
    let counters = password_counters(&record.user.email.to_lowercase(), &bucket(ex), auth.settings().password());
    protect::admit(db, &counters, now, "too many failed password checks; try again later")?;
    if hasher.verify(&current, &stored) == Verification::Mismatch {
        audit::record(ex, db, Event::own(EventType::PasswordChangeFailed, &claims.sub))?;
        protect::sweep(auth, now);
        return Err(AuthError::WrongPassword);
    }
    let hash = hasher.hash(&next);
    transaction(db, |tx| {
        protect::settle_success(tx, &counters, now)?;
        store::set_password_hash(tx, &claims.sub, &hash, now)?;
        let revoked = store::revoke_user_sessions(tx, &claims.sub, Some(&claims.sid), "password changed", now)?;
        let changed =
            Event::own(EventType::PasswordChanged, &claims.sub).detail(json!({ "sessions_revoked": revoked.len() }));
        audit::record(ex, tx, changed)?;
        publish_revocations(auth, tx, &revoked, now)
    })?;
    protect::sweep(auth, now);
    Ok(empty(StatusCode::NO_CONTENT))
}
