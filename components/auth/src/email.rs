//! The flows that go through the account's mailbox: `POST /verify-email`
//! (and `/verify-email/resend`), `POST /password-reset` (and `/confirm`),
//! `POST /email` (and `/email/confirm`).
//!
//! Each sends a one-time link ([`send_link`]): a random token, stored as its
//! SHA-256 with the account, the address it went to and its expiry, which
//! replaces the account's earlier token of the same purpose and is deleted
//! when used. The message is queued in the transaction that issues the token
//! and delivered after commit ([`crate::mail`]).

use std::time::Instant;

use http::StatusCode;
use serde_json::json;
use troupe_accounts::audit::EventType;
use troupe_accounts::email::{Kind, Link, Message, Purpose, Recipient};
use troupe_accounts::throttle::mail_counters;
use troupe_accounts::{Email, OpaqueToken, Password, User};
use troupe_edge::{json_body, json_response, Response};
use troupe_ids::UserId;
use troupe_store::{transaction, Database};

use crate::audit::{self, Event};
use crate::error::{email_taken, AuthError};
use crate::protect::{self, publish_revocations};
use crate::request::{authenticate, bucket, check_password, empty, field, hasher, now_ms, sole_field, validated, Ex};
use crate::store::{self, NewEmailToken};
use crate::{mail, user_cache, Auth};

/// Issue a one-time token of `purpose` for `user`, and queue the message
/// that carries it to `to` (inside the caller's transaction).
pub(crate) fn send_link(
    auth: &Auth,
    tx: &dyn Database,
    purpose: Purpose,
    user: &User,
    to: &str,
    now: i64,
) -> Result<(), AuthError> {
    let settings = auth.settings();
    let ttl_secs = match purpose {
        Purpose::ResetPassword => settings.password_reset_ttl_secs(),
        Purpose::VerifyEmail | Purpose::ChangeEmail => settings.email_link_ttl_secs(),
    };
    let token = OpaqueToken::generate();
    let expires_ms = now + ttl_secs * 1000;
    let digest = token.digest();
    let issued = NewEmailToken { digest: &digest, purpose, user_id: &user.id, email: to, now_ms: now, expires_ms };
    store::insert_email_token(tx, &issued)?;
    let link = Link { token: &token, expires_ms };
    let message =
        Message::compose(purpose.message(), to, recipient(user), Some(link), settings.email_link_base_url(), None);
    Ok(mail::queue(tx, &message, now)?)
}

fn recipient(user: &User) -> Recipient {
    Recipient { id: user.id.clone(), name: user.name.clone() }
}

/// Use the link token with this digest for `purpose` (single use): its
/// account and the address it was sent to.
fn use_link(tx: &dyn Database, digest: &str, purpose: Purpose, now: i64) -> Result<(UserId, Email), AuthError> {
    let used = store::take_email_token(tx, digest, purpose, now)?.ok_or(AuthError::InvalidLink)?;
    let email = Email::parse(&used.email).map_err(|_| AuthError::InvalidLink)?;
    Ok((used.user_id, email))
}

/// After a change `auth` made to account `id` on its own: its cached copies
/// (ours, and `users`', which only `users` may forget) are stale.
fn account_changed(auth: &Auth, id: &UserId) {
    user_cache::changed(auth, id);
    user_cache::tell_users(id);
}

/// `POST /verify-email {token}` → 204: the address the link was sent to is
/// verified, if it is still the account's.
pub(crate) fn verify_email(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let digest = OpaqueToken::presented(&sole_field(ex, "token")?).digest();
    let auth = ex.state;
    let now = now_ms();
    let record = transaction(auth.db()?, |tx| {
        let (user_id, email) = use_link(tx, &digest, Purpose::VerifyEmail, now)?;
        let record = store::mark_email_verified(tx, &user_id, &email.key(), now)?.ok_or(AuthError::InvalidLink)?;
        let verified =
            Event::new(EventType::EmailVerified, None, Some(&user_id)).detail(json!({ "email": record.user.email }));
        audit::record(ex, tx, verified)?;
        Ok::<_, AuthError>(record)
    })?;
    account_changed(auth, &record.user.id);
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /verify-email/resend` → 202: a new verification link to the
/// caller's address (the earlier one stops working); 409 when it is
/// verified already.
pub(crate) fn resend_verification(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let claims = authenticate(ex)?;
    let auth = ex.state;
    let db = auth.db()?;
    let record = store::user(db, &claims.sub)?.ok_or(AuthError::AccountGone)?;
    if record.user.email_verified {
        return Err(AuthError::AlreadyVerified);
    }
    let now = now_ms();
    let counters = mail_counters(&record.user.email.to_lowercase(), &bucket(ex), auth.settings().mail());
    protect::admit(db, &counters, now, "too many messages asked for; try again later")?;
    transaction(db, |tx| send_link(auth, tx, Purpose::VerifyEmail, &record.user, &record.user.email, now))?;
    mail::deliver_due(auth);
    Ok(accepted("A new verification link is on its way."))
}

fn accepted(message: &str) -> Response {
    // A JSON object with one string always serialises.
    json_response(StatusCode::ACCEPTED, &json!({ "message": message })).unwrap_or_else(|_| empty(StatusCode::ACCEPTED))
}

/// `POST /password-reset {email}` → 202, the same answer whether or not an
/// account has the address, after the same time: no sooner than
/// `password_reset_min_answer_ms` (a second) after the request arrived, so
/// that its timing tells as little as its answer (delivering the message
/// takes a round trip to the hook).
/// Counted per address named and per client address.
pub(crate) fn request_password_reset(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let started = Instant::now();
    let mut fields = json_body(ex.request, &[])?;
    let email = field(&mut fields, "email", Email::parse);
    fields.finish()?;
    let email = validated(email)?;

    let auth = ex.state;
    let db = auth.db()?;
    let now = now_ms();
    let counters = mail_counters(&email.key(), &bucket(ex), auth.settings().mail());
    protect::admit(db, &counters, now, "too many password resets asked for; try again later")?;
    let account = store::account_by_email(db, &email.key())?;
    transaction(db, |tx| {
        let Some((record, _)) = &account else {
            let tried =
                Event::new(EventType::PasswordResetRequested, None, None).detail(json!({ "email": email.key() }));
            return Ok(audit::record(ex, tx, tried)?);
        };
        let user = &record.user;
        send_link(auth, tx, Purpose::ResetPassword, user, &user.email, now)?;
        audit::record(ex, tx, Event::new(EventType::PasswordResetRequested, None, Some(&user.id)))?;
        Ok::<_, AuthError>(())
    })?;
    mail::deliver_due(auth);
    protect::sweep(auth, now);
    if let Some(rest) = auth.settings().password_reset_floor().checked_sub(started.elapsed()) {
        std::thread::sleep(rest);
    }
    Ok(accepted("If an account has this address, a link to reset its password is on its way to it."))
}

/// `POST /password-reset/confirm {token, new_password}` → 204: the password
/// is set, the address counts as verified (the link reached it), and every
/// session of the account is revoked.
pub(crate) fn confirm_password_reset(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let mut fields = json_body(ex.request, &[])?;
    let token: Option<String> = fields.required("token");
    let password = field(&mut fields, "new_password", Password::parse);
    fields.finish()?;
    let (token, password) = (validated(token)?, validated(password)?);

    let auth = ex.state;
    let db = auth.db()?;
    let now = now_ms();
    let digest = OpaqueToken::presented(&token).digest();
    // Hash only for a link that works: each hash costs tens of milliseconds.
    if !store::email_token_valid(db, &digest, Purpose::ResetPassword, now)? {
        return Err(AuthError::InvalidLink);
    }
    let hash = hasher(auth)?.hash(&password);
    let user_id = transaction(db, |tx| {
        let (user_id, email) = use_link(tx, &digest, Purpose::ResetPassword, now)?;
        // Sent to an address the account no longer has: it proves nothing.
        store::mark_email_verified(tx, &user_id, &email.key(), now)?.ok_or(AuthError::InvalidLink)?;
        store::set_password_hash(tx, &user_id, &hash, now)?;
        let revoked = store::revoke_user_sessions(tx, &user_id, None, "password reset", now)?;
        let reset = Event::new(EventType::PasswordReset, None, Some(&user_id))
            .detail(json!({ "sessions_revoked": revoked.len() }));
        audit::record(ex, tx, reset)?;
        publish_revocations(auth, tx, &revoked, now)?;
        Ok::<_, AuthError>(user_id)
    })?;
    account_changed(auth, &user_id);
    protect::sweep(auth, now);
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /email {new_email, password}` → 202: a confirmation link goes to
/// the new address and a notice to the current one; the address changes
/// only when the link is used. The password is checked under the sign-in
/// throttles; the messages count against the new address's mail limit.
pub(crate) fn change_email(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let claims = authenticate(ex)?;
    let mut fields = json_body(ex.request, &[])?;
    let new_email = field(&mut fields, "new_email", Email::parse);
    let password: Option<String> = fields.required("password");
    fields.finish()?;
    let (new_email, password) = (validated(new_email)?, validated(password)?);

    let auth = ex.state;
    let db = auth.db()?;
    let (record, stored) = store::account_by_id(db, &claims.sub)?.ok_or(AuthError::AccountGone)?;
    let user = record.user;
    check_password(ex, &user, &password, &stored)?;
    let now = now_ms();
    if new_email.key() == user.email.to_lowercase() {
        return Err(AuthError::SameEmail);
    }
    // Checked again when the change is confirmed.
    if store::account_by_email(db, &new_email.key())?.is_some() {
        return Err(AuthError::EmailTaken);
    }
    let mail = mail_counters(&new_email.key(), &bucket(ex), auth.settings().mail());
    protect::admit(db, &mail, now, "too many messages asked for; try again later")?;
    transaction(db, |tx| {
        start_email_change(auth, tx, &user, &new_email, now)?;
        let requested = Event::own(EventType::EmailChangeRequested, &user.id)
            .detail(json!({ "from": user.email, "to": new_email.as_str() }));
        audit::record(ex, tx, requested)?;
        Ok::<_, AuthError>(())
    })?;
    mail::deliver_due(auth);
    protect::sweep(auth, now);
    Ok(accepted("A confirmation link is on its way to the new address."))
}

/// Start moving `user` to `new_email` (inside the caller's transaction): a
/// confirmation link to the new address, a notice to the current one.
pub(crate) fn start_email_change(
    auth: &Auth,
    tx: &dyn Database,
    user: &User,
    new_email: &Email,
    now: i64,
) -> Result<(), AuthError> {
    send_link(auth, tx, Purpose::ChangeEmail, user, new_email.as_str(), now)?;
    let notice = Message::compose(
        Kind::EmailChangeRequested,
        &user.email,
        recipient(user),
        None,
        auth.settings().email_link_base_url(),
        Some(new_email.as_str()),
    );
    Ok(mail::queue(tx, &notice, now)?)
}

/// `POST /email/confirm {token}` → 200 with the user: the account moves to
/// the address the link was sent to, verified; 409 if another account took
/// that address since.
pub(crate) fn confirm_email_change(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let digest = OpaqueToken::presented(&sole_field(ex, "token")?).digest();
    let auth = ex.state;
    let now = now_ms();
    let record = transaction(auth.db()?, |tx| {
        let (user_id, new_email) = use_link(tx, &digest, Purpose::ChangeEmail, now)?;
        let before = store::user(tx, &user_id)?.ok_or(AuthError::InvalidLink)?;
        let record = store::set_verified_email(tx, &user_id, &new_email, now)
            .map_err(email_taken)?
            .ok_or(AuthError::InvalidLink)?;
        let changed = Event::new(EventType::EmailChanged, None, Some(&user_id))
            .detail(json!({ "from": before.user.email, "to": record.user.email }));
        audit::record(ex, tx, changed)?;
        Ok::<_, AuthError>(record)
    })?;
    account_changed(auth, &record.user.id);
    Ok(json_response(StatusCode::OK, &record.user)?)
}
