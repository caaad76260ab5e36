//! Changes to accounts, asked of `auth` (the owner of the `users` table)
//! over Spin's local service chaining: `http://auth.spin.internal/internal/…`.

use http::{header, Method, StatusCode};
use serde_json::Value;
use troupe_accounts::UserRecord;
use troupe_edge::Problem;
use troupe_ids::UserId;

use crate::error::UsersError;

const AUTH: &str = "http://auth.spin.internal";

/// `auth`'s answer: the changed record, nothing (204), or its problem,
/// passed on to our client as it is (400, 404, 409, 412).
fn call(method: Method, path: &str, body: Option<&Value>) -> Result<Option<UserRecord>, UsersError> {
    let mut request = http::Request::builder().method(method).uri(format!("{AUTH}{path}"));
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
pub(crate) fn create(body: &Value) -> Result<UserRecord, UsersError> {
    call(Method::POST, "/internal/users", Some(body))?.ok_or_else(|| UsersError::internal("auth created no user"))
}

/// Change a user, if still at `revision` (0: whatever it is).
pub(crate) fn update(
    id: &UserId,
    mut changes: serde_json::Map<String, Value>,
    revision: i64,
) -> Result<UserRecord, UsersError> {
    changes.insert("if_revision".into(), revision.into());
    call(Method::PATCH, &format!("/internal/users/{id}"), Some(&Value::Object(changes)))?
        .ok_or_else(|| UsersError::internal("auth returned no user"))
}

/// Delete a user, if still at `revision` (0: whatever it is).
pub(crate) fn delete(id: &UserId, revision: i64) -> Result<(), UsersError> {
    call(Method::DELETE, &format!("/internal/users/{id}"), Some(&serde_json::json!({"if_revision": revision})))
        .map(drop)
}
