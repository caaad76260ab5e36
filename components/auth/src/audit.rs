//! The audit log: security events appended where they happen, and
//! `GET /api/v1/auth/events`, each user's own (administrators: everyone's).
//!
//! An event that records a change is written in that change's transaction,
//! so that the log never misses an acknowledged change nor shows one that
//! was rolled back. A refused sign-in changes nothing and is written alone.
//! Events carry who acted, whose account it concerns, the client's address
//! and the request id, never a secret. The sweep deletes them after
//! `audit_retention_seconds`.

use http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use troupe_accounts::audit::{EventQuery, EventType, Scope};
use troupe_auth_contract::internal;
use troupe_edge::{json_response, Response};
use troupe_ids::{EventId, Role, UserId};
use troupe_store::{Database, DbError};

use crate::error::AuthError;
use crate::request::{authenticate_session, now_ms, Ex};
use crate::store::{self, NewEvent};

/// What happened, to whom, by whom.
pub(crate) struct Event<'a> {
    pub(crate) event_type: EventType,
    /// Who acted; `None` when nobody is signed in (a refused sign-in).
    pub(crate) actor: Option<&'a UserId>,
    /// Whose account it concerns; `None` when no account matches.
    pub(crate) subject: Option<&'a UserId>,
    /// More about it, as a JSON object; never a secret.
    pub(crate) detail: Option<Value>,
}

impl<'a> Event<'a> {
    /// Something `actor` (or nobody) did that concerns `subject`'s account
    /// (or no account).
    pub(crate) fn new(event_type: EventType, actor: Option<&'a UserId>, subject: Option<&'a UserId>) -> Self {
        Self { event_type, actor, subject, detail: None }
    }

    /// Something a user did to their own account.
    pub(crate) fn own(event_type: EventType, user: &'a UserId) -> Self {
        Self::new(event_type, Some(user), Some(user))
    }

    /// With `detail`.
    pub(crate) fn detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// Append `event`, as made by the request `ex` (inside its transaction).
pub(crate) fn record(ex: &Ex<'_>, db: &dyn Database, event: Event<'_>) -> Result<(), DbError> {
    let client = ex.client_addr().map(|ip| ip.to_string());
    append(db, ex.request_id, client.as_deref(), event)
}

/// Append `event`, made on a private route at the request of another
/// component: the client's address is the one that component sends.
pub(crate) fn record_internal(ex: &Ex<'_>, db: &dyn Database, event: Event<'_>) -> Result<(), DbError> {
    append(db, ex.request_id, ex.header(internal::CLIENT_ADDRESS), event)
}

/// The user another component acts for on a private route, if it says.
pub(crate) fn internal_actor(ex: &Ex<'_>) -> Option<UserId> {
    ex.header(internal::ACTOR).and_then(|raw| UserId::parse(raw).ok())
}

fn append(db: &dyn Database, request_id: &str, client_addr: Option<&str>, event: Event<'_>) -> Result<(), DbError> {
    let detail = event.detail.as_ref().map(Value::to_string);
    store::insert_event(
        db,
        &NewEvent {
            id: &EventId::generate(),
            occurred_ms: now_ms(),
            event_type: event.event_type,
            actor: event.actor,
            subject: event.subject,
            client_addr,
            request_id,
            detail: detail.as_deref(),
        },
    )
}

#[derive(Serialize)]
struct EventList {
    data: Vec<store::EventView>,
    meta: Meta,
}

#[derive(Serialize)]
struct Meta {
    limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<EventId>,
}

/// `GET /events?limit&type&user&before` → a page of the audit log, newest
/// first: the caller's own events, or, for administrators, everyone's (or
/// `user`'s).
pub(crate) fn list_events(ex: &Ex<'_>) -> Result<Response, AuthError> {
    // The account's role now, not the one its token was minted with.
    let (claims, session) = authenticate_session(ex)?;
    let query = EventQuery::parse(&ex.query()).map_err(AuthError::InvalidQuery)?;
    let scope = if session.role == Role::Admin { Scope::Everyone } else { Scope::Own(claims.sub) };
    let subject = query.subject(&scope).map_err(AuthError::Forbidden)?;
    let mut data =
        store::events(ex.state.db()?, subject.as_ref(), query.event_type, query.before.as_ref(), query.limit + 1)?;
    let more = data.len() > query.limit as usize;
    data.truncate(query.limit as usize);
    let next_cursor = if more { data.last().map(|event| event.id.clone()) } else { None };
    Ok(json_response(StatusCode::OK, &EventList { data, meta: Meta { limit: query.limit, next_cursor } })?)
}
