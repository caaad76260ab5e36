//! Changes to accounts, asked of `auth` (the owner of the `users` table)
//! over Spin's local service chaining: `http://auth.spin.internal/internal/…`,
//! on behalf of the client's request (who asks, from where, which request),
//! which `auth`'s audit log records.

use http::{header, Method, StatusCode};
use serde_json::Value;
use troupe_accounts::UserRecord;
use troupe_auth_contract::internal;
use troupe_edge::Problem;
use troupe_ids::UserId;

use crate::error::UsersError;

/// `auth`, over Spin's local service chaining.
pub(crate) const AUTH: &str = "http://auth.spin.internal";

/// The request a change is asked for.
pub(crate) struct OnBehalf<'a> {
    /// The signed-in user who asks.
    pub(crate) actor: &'a UserId,
    /// The client's address, as the edge resolved it.
    pub(crate) client_addr: Option<String>,
    pub(crate) request_id: &'a str,
}

/// `auth`'s answer: the changed record, nothing (204), or its problem,
/// passed on to our client as it is (400, 404, 409, 412).
fn call(
    on_behalf: &OnBehalf<'_>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Option<UserRecord>, UsersError> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("{AUTH}{path}"))
        .header(internal::ACTOR, on_behalf.actor.as_str())
        .header(internal::REQUEST_ID, on_behalf.request_id);
    if let Some(address) = &on_behalf.client_addr {
        request = request.header(internal::CLIENT_ADDRESS, address);
    }
    let bytes = match body {
        Some(body) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            serde_json::to_vec(body).map_err(UsersError::internal)?
        }
        None => Vec::new(),
    };
    let request = request.body(bytes).map_err(UsersError::internal)?;
    let response = troupe_spin_adapter::send(request).map_err(|e| UsersError::AuthUnavailable(e.to_string()))?;
    let status = response.status();
    if status == StatusCode::NO_CONTENT {
        return Ok(None);
    }
    if status.is_success() {
        return serde_json::from_slice(response.body()).map(Some).map_err(UsersError::internal);
    }
    if status.is_client_error() {
        return Err(UsersError::RefusedByAuth(Problem::relay(response)));
    }
    Err(UsersError::AuthUnavailable(format!("answered {status}")))
}

/// Create a user.
pub(crate) fn create(on_behalf: &OnBehalf<'_>, body: &Value) -> Result<UserRecord, UsersError> {
    call(on_behalf, Method::POST, "/internal/users", Some(body))?
        .ok_or_else(|| UsersError::internal("auth created no user"))
}

/// Change a user, if still at `revision` (0: whatever it is).
pub(crate) fn update(
    on_behalf: &OnBehalf<'_>,
    id: &UserId,
    mut changes: serde_json::Map<String, Value>,
    revision: i64,
) -> Result<UserRecord, UsersError> {
    changes.insert("if_revision".into(), revision.into());
    call(on_behalf, Method::PATCH, &format!("/internal/users/{id}"), Some(&Value::Object(changes)))?
        .ok_or_else(|| UsersError::internal("auth returned no user"))
}

/// Delete a user, if still at `revision` (0: whatever it is).
pub(crate) fn delete(on_behalf: &OnBehalf<'_>, id: &UserId, revision: i64) -> Result<(), UsersError> {
    call(
        on_behalf,
        Method::DELETE,
        &format!("/internal/users/{id}"),
        Some(&serde_json::json!({"if_revision": revision})),
    )
    .map(drop)
}
