//! Private operations other components ask `auth` to perform on the tables
//! it owns, over Spin's local service chaining
//! (`http://auth.spin.internal/internal/…`). No public route in spin.toml
//! leads here: only components whose `allowed_outbound_hosts` name
//! `http://auth.spin.internal` can call them, and those callers (today:
//! `users`) have already authenticated and authorized their client.
//!
//! * `POST /internal/users {email, name, password, role}` → 201 `{user, revision}`
//! * `PATCH /internal/users/:id {email?, name?, role?, if_revision?}` → 200 `{user, revision}`
//! * `DELETE /internal/users/:id {if_revision?}` → 204; the user's sessions are revoked.
//! * `POST /internal/outbox/deliver` → 200 `{delivered, failed}`: deliver the
//!   mail that is due (`health` asks on every readiness check).
//!
//! `if_revision` makes a change conditional (412 when the user moved on);
//! 0 or absent means unconditional. Callers name the user they act for, the
//! client's address and the request id in headers
//! (`troupe_auth_contract::internal`), which the audit log records.
//!
//! Two rules hold here, for every caller: a role change revokes every
//! session of the user, so that tokens minted under the old role stop
//! working at the next request on `users` and `auth` alike (the revocation
//! check already runs on every request, so the cached read pays nothing
//! more; reading the role per request would cost it a database or cache
//! read); and the last administrator cannot be demoted or deleted (409),
//! decided inside the change's transaction.

use http::StatusCode;
use serde_json::json;
use troupe_accounts::audit::EventType;
use troupe_accounts::{DisplayName, Email, Password};
use troupe_edge::{json_body, json_response, Exchange, Response};
use troupe_ids::{Role, UserId};
use troupe_store::{transaction, Database};

use crate::audit::{self, internal_actor, Event};
use crate::email::start_email_change;
use crate::error::{email_taken, AuthError};
use crate::protect::publish_revocations;
use crate::request::{empty, field, hasher, validated};
use crate::{mail, store, user_cache, Auth};

type Ex<'a> = Exchange<'a, Auth>;

/// `POST /internal/users`: create an account with a password and a role.
pub(crate) fn create_user(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let mut fields = json_body(ex.request, &[])?;
    let email = field(&mut fields, "email", Email::parse);
    let name = field(&mut fields, "name", DisplayName::parse);
    let password = field(&mut fields, "password", Password::parse);
    let role = field(&mut fields, "role", Role::parse);
    fields.finish()?;
    let (email, name, password, role) = (validated(email)?, validated(name)?, validated(password)?, validated(role)?);
    let auth = ex.state;
    let hash = hasher(auth)?.hash(&password);
    let id = UserId::generate();
    let account = store::NewAccount {
        id: &id,
        email: &email,
        name: &name,
        role,
        password_hash: &hash,
        now_ms: troupe_spin_adapter::now_ms(),
    };
    let actor = internal_actor(ex);
    let record = transaction(auth.db()?, |tx| {
        let record = store::insert_account(tx, &account).map_err(email_taken)?;
        let created = Event::new(EventType::AccountCreated, actor.as_ref(), Some(&id)).detail(json!({ "role": role }));
        audit::record_internal(ex, tx, created)?;
        Ok::<_, AuthError>(record)
    })?;
    user_cache::changed(auth, &id);
    Ok(json_response(StatusCode::CREATED, &record)?)
}

/// `PATCH /internal/users/:id`: change any of email, name and role.
///
/// A new address is never set directly: an administrator's change sends a
/// confirmation link to the new address and a notice to the old one, and
/// the address changes when the link is used (`POST /email/confirm`); the
/// other fields change now. Users change their own address with
/// `POST /api/v1/auth/email`, which asks for their password: here it is
/// refused (403). A change of case only is no new address.
pub(crate) fn update_user(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let id = &user_id(ex)?;
    let mut fields = json_body(ex.request, &[])?;
    let email: Option<String> = fields.optional("email");
    let email = fields.check("email", email, |e| Email::parse(&e).map_err(|e| e.0));
    let name: Option<String> = fields.optional("name");
    let name = fields.check("name", name, |n| DisplayName::parse(&n).map_err(|e| e.0));
    let role: Option<String> = fields.optional("role");
    let role = fields.check("role", role, |r| Role::parse(&r).map_err(|e| e.to_string()));
    let if_revision: Option<i64> = fields.optional("if_revision");
    fields.finish()?;

    let auth = ex.state;
    let actor = internal_actor(ex);
    let current = store::user(auth.db()?, id)?.ok_or(AuthError::NoSuchUser)?;
    let (email, new_address) = match email {
        Some(email) if email.key() != current.user.email.to_lowercase() => {
            if actor.as_ref() == Some(id) {
                return Err(AuthError::Forbidden(
                    "change your own address with POST /api/v1/auth/email, which asks for your password \
                     and confirms the new address",
                ));
            }
            (None, Some(email))
        }
        email => (email, None),
    };
    let name = name.as_ref();
    let now = troupe_spin_adapter::now_ms();
    let change =
        store::UserChange { email: email.as_ref(), name, role, if_revision: if_revision.unwrap_or(0), now_ms: now };
    let record = transaction(auth.db()?, |tx| {
        // Count (and on Postgres lock) the administrators before reading
        // the user's role, so that the role read is the one the lock guards.
        let (before, admins) = match role {
            Some(_) => {
                let admins = store::count_admins_for_change(tx)?;
                (store::role_of(tx, id)?, admins)
            }
            None => (None, 0),
        };
        if role == Some(Role::User) && before == Some(Role::Admin) && admins <= 1 {
            return Err(AuthError::LastAdministrator("demoted"));
        }
        let Some(record) = store::update_user(tx, id, &change).map_err(email_taken)? else {
            return Err(missing_or_stale(tx, id)?);
        };
        let event = |event_type| Event::new(event_type, actor.as_ref(), Some(id));
        if let Some(address) = &new_address {
            // Checked again when the change is confirmed.
            if store::account_by_email(tx, &address.key())?.is_some() {
                return Err(AuthError::EmailTaken);
            }
            start_email_change(auth, tx, &record.user, address, now)?;
            let detail = json!({ "from": record.user.email, "to": address.as_str() });
            audit::record_internal(ex, tx, event(EventType::EmailChangeRequested).detail(detail))?;
        }
        let fields: Vec<&str> = [("email", change.email.is_some()), ("name", name.is_some())]
            .into_iter()
            .filter_map(|(field, given)| given.then_some(field))
            .collect();
        if !fields.is_empty() {
            audit::record_internal(ex, tx, event(EventType::AccountUpdated).detail(json!({ "fields": fields })))?;
        }
        if let Some(before) = before.filter(|before| *before != record.user.role) {
            let revoked = store::revoke_user_sessions(tx, id, None, "role changed", now)?;
            let detail = json!({ "from": before, "to": record.user.role, "sessions_revoked": revoked.len() });
            audit::record_internal(ex, tx, event(EventType::RoleChanged).detail(detail))?;
            publish_revocations(auth, tx, &revoked, now)?;
        }
        Ok::<_, AuthError>(record)
    })?;
    user_cache::changed(auth, id);
    if new_address.is_some() {
        mail::deliver_due(auth);
    }
    Ok(json_response(StatusCode::OK, &record)?)
}

/// The user named by the path; not an id: no such user either.
fn user_id(ex: &Ex<'_>) -> Result<UserId, AuthError> {
    UserId::parse(ex.param("id")?).map_err(|_| AuthError::NoSuchUser)
}

/// Tell a missing user (404) from a stale revision (412).
fn missing_or_stale(db: &dyn Database, id: &UserId) -> Result<AuthError, AuthError> {
    Ok(if store::user_exists(db, id)? { AuthError::RevisionChanged } else { AuthError::NoSuchUser })
}

/// `DELETE /internal/users/:id`: delete the user and everything of theirs,
/// revoking their sessions.
pub(crate) fn delete_user(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let id = &user_id(ex)?;
    let if_revision: i64 = if ex.request.body().is_empty() {
        0
    } else {
        let mut fields = json_body(ex.request, &[])?;
        let revision: Option<i64> = fields.optional("if_revision");
        fields.finish()?;
        revision.unwrap_or(0)
    };
    let auth = ex.state;
    let now = troupe_spin_adapter::now_ms();
    transaction(auth.db()?, |tx| {
        let admins = store::count_admins_for_change(tx)?;
        if store::role_of(tx, id)? == Some(Role::Admin) && admins <= 1 {
            return Err(AuthError::LastAdministrator("deleted"));
        }
        // Revoke first: on Postgres, deleting the user cascades to its
        // sessions, and their ids are needed to publish the revocations.
        let sessions = store::revoke_user_sessions(tx, id, None, "user deleted", now)?;
        if !store::delete_user(tx, id, if_revision)? {
            // An error rolls the revocations back too.
            return Err(missing_or_stale(tx, id)?);
        }
        let actor = internal_actor(ex);
        let deleted = Event::new(EventType::AccountDeleted, actor.as_ref(), Some(id))
            .detail(json!({ "sessions_revoked": sessions.len() }));
        audit::record_internal(ex, tx, deleted)?;
        publish_revocations(auth, tx, &sessions, now)
    })?;
    user_cache::changed(auth, id);
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /internal/outbox/deliver` → 200 `{delivered, failed}`: deliver the
/// messages that are due, as any request that writes does after its work.
pub(crate) fn deliver_mail(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let delivery = mail::deliver_due(ex.state);
    Ok(json_response(StatusCode::OK, &delivery)?)
}
