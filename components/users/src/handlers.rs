//! One handler per operation on `/api/v1/users`.

use http::{header, HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};
use troupe_accounts::{User, UserRecord};
use troupe_edge::protect::{etag_matches, Comparison};
use troupe_edge::{json_body, json_object, json_response, Exchange, Patch, Response, Router};
use troupe_ids::{Role, UserId};
use troupe_store::{Cache, CacheOutcome, Database};
use troupe_users::{links, request_fingerprint, Access, Caller, Cursor, ListQuery, Page};

use crate::error::UsersError;
use crate::{accounts, cache_ttl_ms, caller, store, Users};

type Ex<'a> = Exchange<'a, Users>;

const BASE: &str = "/api/v1/users";
/// Cached users: `users:user:<id>` → the user and its revision.
const CACHE: &str = "users:user";
/// `users:fence:<id>` → when the user last changed (Unix ms). A read that
/// started before that does not write what it loaded into the cache, so a
/// slow reader cannot put back a version older than a completed write.
const FENCE: &str = "users:fence";
const MERGE_PATCH: &str = "application/merge-patch+json";

/// Every route of the component.
pub(crate) fn router() -> Router<Users, UsersError> {
    Router::new()
        .get(BASE, list_users)
        .post(BASE, create_user)
        .get("/api/v1/users/:id", get_user)
        .put("/api/v1/users/:id", replace_user)
        .patch("/api/v1/users/:id", update_user)
        .delete("/api/v1/users/:id", delete_user)
        .post("/internal/users/:id/changed", user_changed)
}

fn authenticate(ex: &Ex<'_>) -> Result<Caller, UsersError> {
    let caller = caller::authenticate(ex.state, ex.header(header::AUTHORIZATION))?;
    ex.authenticated(caller.user_id.as_str())?;
    Ok(caller)
}

/// The change `caller` asks for in this request, as `auth` records it.
fn on_behalf<'a>(ex: &'a Ex<'_>, caller: &'a Caller) -> accounts::OnBehalf<'a> {
    accounts::OnBehalf {
        actor: &caller.user_id,
        client_addr: ex.client_addr().map(|ip| ip.to_string()),
        request_id: ex.request_id,
    }
}

fn grant(access: Access) -> Result<(), UsersError> {
    match access {
        Access::Granted => Ok(()),
        Access::Denied(why) => Err(UsersError::Forbidden(why)),
    }
}

fn user_id(ex: &Ex<'_>) -> Result<UserId, UsersError> {
    UserId::parse(ex.param("id")?)
        .map_err(|_| UsersError::InvalidField { field: "id", message: "must be a user id (a UUID)" })
}

/// Read a user through the cache. A failing cache degrades to the database;
/// a time-to-live of 0 turns the cache off (no entry would ever be fresh).
fn read_through(users: &Users, id: &UserId) -> Result<Option<UserRecord>, UsersError> {
    let started = u64::try_from(troupe_spin_adapter::now_ms()).unwrap_or_default();
    let ttl = cache_ttl_ms();
    let kv = match users.kv() {
        Ok(kv) if ttl > 0 => kv,
        _ => return Ok(store::user(users.db()?, id)?),
    };
    let cache = Cache::new(kv, CACHE, ttl).with_fence(FENCE);
    let (record, outcome) =
        cache.get_or_load(id.as_str(), started, || store::user(users.db()?, id).map_err(UsersError::from))?;
    if let CacheOutcome::Bypassed(e) = outcome {
        troupe_spin_adapter::warn(
            "user-cache",
            &format!("the cache is unavailable, read user {id} from the database: {e}"),
        );
    }
    Ok(record)
}

/// After a successful change or deletion: fence off slower readers and
/// forget the cached copy.
fn forget(users: &Users, id: &UserId) {
    let now = u64::try_from(troupe_spin_adapter::now_ms()).unwrap_or_default();
    let outcome = users.kv().map_err(|p| p.to_string()).and_then(|kv| {
        Cache::new(kv, CACHE, cache_ttl_ms()).with_fence(FENCE).changed(id.as_str(), now).map_err(|e| e.to_string())
    });
    if let Err(e) = outcome {
        // The change is committed and cannot be undone; the cached copy, if
        // the store still serves one, ages out with its time-to-live.
        troupe_spin_adapter::warn("user-cache", &format!("could not refresh the cached user {id}: {e}"));
    }
}

/// `POST /internal/users/:id/changed` → 204: `auth` changed the account
/// on its own (a verified or changed address, a reset password) and tells
/// us, over service chaining, to forget our cached copy. No public route
/// leads here.
fn user_changed(ex: &Ex<'_>) -> Result<Response, UsersError> {
    forget(ex.state, &user_id(ex)?);
    let mut response = Response::new(Vec::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

fn with_etag(mut response: Response, record: &UserRecord) -> Response {
    if let Ok(etag) = HeaderValue::from_str(&record.etag()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    // `Cache-Control: no-store` comes from the edge, as on every `/api/`
    // answer; clients revalidate with the ETag.
    response
}

fn user_response(status: StatusCode, record: &UserRecord) -> Result<Response, UsersError> {
    Ok(with_etag(json_response(status, &record.user)?, record))
}

/// `GET /api/v1/users/:id` → the user, with an ETag; 304 if unchanged.
fn get_user(ex: &Ex<'_>) -> Result<Response, UsersError> {
    let caller = authenticate(ex)?;
    let id = user_id(ex)?;
    grant(caller.may_access(&id))?;
    let record = read_through(ex.state, &id)?.ok_or(UsersError::NoSuchUser)?;
    if ex.header(header::IF_NONE_MATCH).is_some_and(|v| etag_matches(v, &record.etag(), Comparison::Weak)) {
        let mut response = http::Response::new(Vec::new());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(with_etag(response, &record));
    }
    user_response(StatusCode::OK, &record)
}

#[derive(Serialize)]
struct Meta {
    page: u32,
    limit: u32,
    total: u64,
    total_pages: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct Listing {
    data: Vec<User>,
    meta: Meta,
}

/// `GET /api/v1/users` (administrators) → a page of users.
fn list_users(ex: &Ex<'_>) -> Result<Response, UsersError> {
    let caller = authenticate(ex)?;
    grant(caller.may_manage_users())?;
    let query = ListQuery::parse(&ex.query()).map_err(UsersError::InvalidQuery)?;
    let db = ex.state.db()?;
    let total = store::count_users(db, &query)?;
    let rows = store::page_of_users(db, &query)?;
    let more = rows.len() > query.limit as usize;
    let mut data = Vec::with_capacity(rows.len());
    let mut next_cursor = None;
    for (index, listed) in rows.into_iter().take(query.limit as usize).enumerate() {
        if more && index + 1 == query.limit as usize {
            next_cursor = Some(Cursor { value: listed.sort_value, id: listed.record.user.id.to_string() }.encode());
        }
        data.push(listed.record.user);
    }
    let page = Page { total, next_cursor: next_cursor.clone() };
    let listing = Listing {
        data,
        meta: Meta {
            page: if query.after.is_some() { 0 } else { query.page },
            limit: query.limit,
            total,
            total_pages: total.div_ceil(u64::from(query.limit)),
            next_cursor,
        },
    };
    let mut response = json_response(StatusCode::OK, &listing)?;
    if let Ok(link) = HeaderValue::from_str(&links(BASE, &query, &page)) {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// A valid `Idempotency-Key`: 1–255 visible ASCII characters.
fn idempotency_key(ex: &Ex<'_>) -> Result<Option<String>, UsersError> {
    match ex.request.headers().get("idempotency-key") {
        None => Ok(None),
        Some(value) => match value.to_str() {
            Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
                Ok(Some(key.to_owned()))
            }
            _ => Err(UsersError::InvalidField {
                field: "Idempotency-Key",
                message: "must be 1–255 visible ASCII characters",
            }),
        },
    }
}

const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// A stored answer to a request made with an idempotency key.
enum Remembered {
    /// Nothing stored: this request goes ahead (and is now recorded).
    Proceed,
    /// The first request's answer, to replay.
    Replay(Response),
}

fn claim_key(db: &dyn Database, caller: &UserId, key: &str, fingerprint: &str) -> Result<Remembered, UsersError> {
    let now = troupe_spin_adapter::now_ms();
    store::forget_expired_keys(db, caller, key, now - IDEMPOTENCY_WINDOW_MS)?;
    if store::claim_key(db, caller, key, fingerprint, now)? {
        return Ok(Remembered::Proceed);
    }
    let stored = store::stored_key(db, caller, key)?.ok_or(UsersError::IdempotencyKeyReleasing)?;
    if stored.fingerprint != fingerprint {
        return Err(UsersError::IdempotencyKeyReused);
    }
    let status = u16::try_from(stored.status).ok().and_then(|s| StatusCode::from_u16(s).ok());
    match status {
        Some(status) if status.is_success() => {
            let mut response = http::Response::new(stored.body.unwrap_or_default().into_bytes());
            *response.status_mut() = status;
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Some(location) = stored.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
                headers.insert(header::LOCATION, location);
            }
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(Remembered::Replay(response))
        }
        _ => Err(UsersError::IdempotencyKeyInFlight),
    }
}

/// `POST /api/v1/users` (administrators) `{email, name, password, role}` → 201.
fn create_user(ex: &Ex<'_>) -> Result<Response, UsersError> {
    let caller = authenticate(ex)?;
    grant(caller.may_manage_users())?;
    let body = json_object(ex.request, &[])?;
    let key = idempotency_key(ex)?;
    let db = ex.state.db()?;
    if let Some(key) = &key {
        let fingerprint = request_fingerprint("POST", BASE, ex.request.body());
        if let Remembered::Replay(response) = claim_key(db, &caller.user_id, key, &fingerprint)? {
            return Ok(response);
        }
    }
    let created = accounts::create(&on_behalf(ex, &caller), &Value::Object(body));
    let record = match created {
        Ok(record) => record,
        Err(error) => {
            if let Some(key) = &key {
                // The request failed: free the key so that a corrected retry
                // can use it.
                store::release_key(db, &caller.user_id, key)?;
            }
            return Err(error);
        }
    };
    let location = format!("{BASE}/{}", record.user.id);
    let mut response = user_response(StatusCode::CREATED, &record)?;
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if let Some(key) = &key {
        let body = String::from_utf8_lossy(response.body()).into_owned();
        store::record_created(db, &caller.user_id, key, &location, &body)?;
    }
    forget(ex.state, &record.user.id);
    Ok(response)
}

/// The current version of user `id` for a change: 404 if absent, 412 if the
/// request's `If-Match` names another version. Returns the record and the
/// revision the change must apply to (0 without `If-Match`).
fn current_for_change(ex: &Ex<'_>, id: &UserId) -> Result<(UserRecord, i64), UsersError> {
    let record = store::user(ex.state.db()?, id)?.ok_or(UsersError::NoSuchUser)?;
    match ex.header(header::IF_MATCH) {
        None => Ok((record, 0)),
        Some(value) if etag_matches(value, &record.etag(), Comparison::Strong) => {
            let revision = record.revision;
            Ok((record, revision))
        }
        Some(_) => Err(UsersError::RevisionChanged),
    }
}

fn change(
    ex: &Ex<'_>,
    caller: &Caller,
    id: &UserId,
    changes: Map<String, Value>,
    current: &UserRecord,
    revision: i64,
) -> Result<Response, UsersError> {
    if let Some(role) = changes.get("role").and_then(Value::as_str) {
        if let Ok(role) = Role::parse(role) {
            grant(caller.may_set_role(current.user.role, role))?;
        }
    }
    let record = accounts::update(&on_behalf(ex, caller), id, changes, revision)?;
    forget(ex.state, id);
    user_response(StatusCode::OK, &record)
}

/// `PUT /api/v1/users/:id` `{email, name, role}`: replace the editable
/// representation; every field is required.
fn replace_user(ex: &Ex<'_>) -> Result<Response, UsersError> {
    let caller = authenticate(ex)?;
    let id = user_id(ex)?;
    grant(caller.may_access(&id))?;
    let mut fields = json_body(ex.request, &[])?;
    let email: Option<String> = fields.required("email");
    let name: Option<String> = fields.required("name");
    let role: Option<String> = fields.required("role");
    fields.finish()?;
    let (current, revision) = current_for_change(ex, &id)?;
    let mut changes = Map::new();
    changes.insert("email".into(), email.into());
    changes.insert("name".into(), name.into());
    changes.insert("role".into(), role.into());
    change(ex, &caller, &id, changes, &current, revision)
}

/// `PATCH /api/v1/users/:id` (JSON Merge Patch) `{email?, name?, role?}`.
fn update_user(ex: &Ex<'_>) -> Result<Response, UsersError> {
    let caller = authenticate(ex)?;
    let id = user_id(ex)?;
    grant(caller.may_access(&id))?;
    let mut fields = json_body(ex.request, &[MERGE_PATCH])?;
    let mut changes = Map::new();
    for name in ["email", "name", "role"] {
        match fields.patch::<String>(name) {
            Patch::Absent => {}
            Patch::Null => fields.invalid(name, "cannot be removed"),
            Patch::Set(value) => {
                changes.insert(name.into(), value.into());
            }
        }
    }
    fields.finish()?;
    let (current, revision) = current_for_change(ex, &id)?;
    if changes.is_empty() {
        return user_response(StatusCode::OK, &current);
    }
    change(ex, &caller, &id, changes, &current, revision)
}

/// `DELETE /api/v1/users/:id` → 204; sessions revoked, cached copies gone.
fn delete_user(ex: &Ex<'_>) -> Result<Response, UsersError> {
    let caller = authenticate(ex)?;
    let id = user_id(ex)?;
    grant(caller.may_access(&id))?;
    let (_, revision) = current_for_change(ex, &id)?;
    accounts::delete(&on_behalf(ex, &caller), &id, revision)?;
    forget(ex.state, &id);
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}
