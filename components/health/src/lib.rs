//! `health`: liveness (`GET /health`) and readiness (`GET /health/ready`).
//!
//! Liveness does no I/O: it answers as long as the component runs.
//! Readiness checks what requests need: the database answers a query and its
//! schema is at the latest migration, and the key-value store takes a write,
//! a read-back and a delete. Any failing check makes the answer 503, with the
//! same shape, naming it. A ready check also asks `auth`, over service
//! chaining, to deliver the mail that is due (no cron runs on every host, and
//! orchestrators probe readiness every few seconds); how that goes changes
//! nothing in the answer. Build with `spin build`; see the README.

use std::time::Instant;

use http::StatusCode;
use serde::Serialize;
use troupe_auth_contract::keys::SIGNING_KEY_SOURCE;
use troupe_edge::{json_response, Exchange, Problem, Response, Router};
use troupe_store::{latest_version, schema_version, KeyValue};

/// The Wasm export. `#[http_component]` generates the `unsafe` ABI glue,
/// which the workspace's `unsafe_code = "deny"` allows here only. Natively
/// (the black-box suite links this crate for [`routes`]) there is nothing
/// to export.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod export {
    use spin_sdk::http::IncomingRequest;
    use spin_sdk::http_component;

    use super::*;

    #[http_component]
    async fn handle(request: IncomingRequest) -> Response {
        troupe_spin_adapter::serve("health", &router(), request, &()).await
    }
}

/// Every route of the component.
fn router() -> Router<()> {
    Router::new().get("/health", live).get("/health/ready", ready)
}

/// The component's routes as `(method, pattern)`, for the black-box suite's
/// check that the OpenAPI document describes each of them.
pub fn routes() -> Vec<(http::Method, &'static str)> {
    router().routes()
}

#[derive(Serialize)]
struct Liveness {
    status: &'static str,
    service: &'static str,
    version: &'static str,
}

fn live(_: &Exchange<'_, ()>) -> Result<Response, Problem> {
    json_response(StatusCode::OK, &Liveness { status: "ok", service: "troupe", version: env!("CARGO_PKG_VERSION") })
}

#[derive(Serialize)]
struct Check {
    status: &'static str,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    checks: Checks,
    /// Where `auth`'s signing key comes from (`configured`, `development`),
    /// as `auth` publishes it; `unknown` before its first token.
    signing_key: String,
    /// What an operator should fix although the service is ready.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<&'static str>,
}

fn signing_key_source() -> String {
    troupe_spin_adapter::default_store()
        .ok()
        .and_then(|store| store.get(SIGNING_KEY_SOURCE).ok().flatten())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[derive(Serialize)]
struct Checks {
    database: Check,
    key_value: Check,
}

/// Time `probe`; its error, if any, names what failed (never a secret: the
/// messages below are written here, not passed through from drivers).
fn timed(probe: impl FnOnce() -> Result<(), String>) -> Check {
    let started = Instant::now();
    let outcome = probe();
    let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    match outcome {
        Ok(()) => Check { status: "ok", latency_ms, error: None },
        Err(error) => Check { status: "failing", latency_ms, error: Some(error) },
    }
}

fn check_database() -> Result<(), String> {
    // Readiness brings a deployment's schema up to date before any request
    // needs it (requests check it only before their first transaction).
    let db = troupe_spin_adapter::database().and_then(|db| db.migrate().map(|()| db)).map_err(|e| {
        troupe_spin_adapter::warn("readiness", &format!("database: {e}"));
        "the database cannot be opened or migrated".to_owned()
    })?;
    match schema_version(&db) {
        Ok(Some(version)) if version == latest_version() => Ok(()),
        Ok(version) => Err(format!("schema at version {}, expected {}", version.unwrap_or(0), latest_version())),
        Err(e) => {
            troupe_spin_adapter::warn("readiness", &format!("database: {e}"));
            Err("the database does not answer queries".to_owned())
        }
    }
}

fn check_key_value() -> Result<(), String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        troupe_spin_adapter::warn("readiness", &format!("key-value {what}: {e}"));
        format!("the key-value store failed to {what}")
    };
    let store = troupe_spin_adapter::default_store().map_err(|e| fail("open", &e))?;
    let key = format!("health:probe:{}", troupe_spin_adapter::new_id());
    let value = key.as_bytes();
    store.set(&key, value).map_err(|e| fail("write", &e))?;
    let read = store.get(&key).map_err(|e| fail("read", &e))?;
    store.delete(&key).map_err(|e| fail("delete", &e))?;
    match read.as_deref() {
        Some(read) if read == value => Ok(()),
        _ => Err("the key-value store returned another value than written".to_owned()),
    }
}

/// Ask `auth` to deliver the mail that is due (its private route; `auth`
/// owns the outbox). A failure is logged, never answered.
fn deliver_mail() {
    if let Err(e) = troupe_spin_adapter::post_empty("http://auth.spin.internal/internal/outbox/deliver") {
        troupe_spin_adapter::warn("readiness", &format!("auth could not be asked to deliver mail: {e}"));
    }
}

fn ready(_: &Exchange<'_, ()>) -> Result<Response, Problem> {
    let checks = Checks { database: timed(check_database), key_value: timed(check_key_value) };
    let healthy = checks.database.error.is_none() && checks.key_value.error.is_none();
    let (status, word) =
        if healthy { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "unavailable") };
    let signing_key = signing_key_source();
    let warnings = if signing_key == "development" {
        vec!["access tokens are signed with a development key kept in the database: set jwt_signing_key"]
    } else {
        Vec::new()
    };
    if healthy {
        deliver_mail();
    }
    let mut response = json_response(status, &Readiness { status: word, checks, signing_key, warnings })?;
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    Ok(response)
}
