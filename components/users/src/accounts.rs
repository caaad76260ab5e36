//! Changes to accounts, asked of `auth` (the owner of the `users` table)
//! over Spin's local service chaining: `http://auth.spin.internal/internal/…`.

use http::{header, Method, StatusCode};
use serde_json::Value;
use troupe_accounts::UserRecord;
use troupe_edge::Problem;
use troupe_ids::UserId;

const AUTH: &str = "http://auth.spin.internal";

/// `auth`'s answer: the changed record, nothing (204), or its problem,
/// passed on to our client as it is (400, 404, 409, 412).
fn call(method: Method, path: &str, body: Option<&Value>) -> Result<Option<UserRecord>, Problem> {
    let mut request = http::Request::builder().method(method).uri(format!("{AUTH}{path}"));
    let bytes = match body {
        Some(body) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            serde_json::to_vec(body).map_err(Problem::internal)?
        }
        None => Vec::new(),
    };
    let request = request.body(bytes).map_err(Problem::internal)?;
    let response = troupe_spin_adapter::send(request).map_err(|e| Problem::unavailable(format!("auth: {e}")))?;
    let status = response.status();
    if status == StatusCode::NO_CONTENT {
        return Ok(None);
    }
    if status.is_success() {
        return serde_json::from_slice(response.body()).map(Some).map_err(Problem::internal);
    }
    if status.is_client_error() {
        return Err(Problem::relay(response));
    }
    Err(Problem::unavailable(format!("auth answered {status}")))
}

/// Create a user.
pub fn create(body: &Value) -> Result<UserRecord, Problem> {
    call(Method::POST, "/internal/users", Some(body))?.ok_or_else(|| Problem::internal("auth created no user"))
}

/// Change a user, if still at `revision` (0: whatever it is).
pub fn update(id: &UserId, mut changes: serde_json::Map<String, Value>, revision: i64) -> Result<UserRecord, Problem> {
    changes.insert("if_revision".into(), revision.into());
    call(Method::PATCH, &format!("/internal/users/{id}"), Some(&Value::Object(changes)))?
        .ok_or_else(|| Problem::internal("auth returned no user"))
}

/// Delete a user, if still at `revision` (0: whatever it is).
pub fn delete(id: &UserId, revision: i64) -> Result<(), Problem> {
    call(Method::DELETE, &format!("/internal/users/{id}"), Some(&serde_json::json!({"if_revision": revision})))
        .map(drop)
}
