//! `users`: the user resource under `/api/v1/users`.
//!
//! Every request is authenticated through the imported
//! `troupe:auth/verifier` interface (Spin plugs in the implementation named
//! in `[component.users.dependencies]`), then checked against the
//! revocations `auth` publishes. Reads go through the key-value cache;
//! changes are asked of `auth`, which owns the `users` table, over Spin's
//! local service chaining (see [`accounts`]). The component owns the
//! `idempotency_keys` table and the `users:*` key-value keys.

mod accounts;
mod caller;
mod handlers;

use std::cell::OnceCell;

use spin_sdk::http::IncomingRequest;
use spin_sdk::http_component;
use troupe_spin::edge::{Problem, Response};
use troupe_spin::store::Database;
use troupe_spin::{variable, SpinDatabase, SpinKeyValue};

/// Bindings of the verifier interface, generated from `wit/`.
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "troupe:auth/verifier-client@0.1.0",
    });
}

/// The Wasm export. `#[http_component]` generates the `unsafe` ABI glue,
/// which the workspace's `unsafe_code = "deny"` allows here only.
#[allow(unsafe_code)]
mod export {
    use super::*;

    #[http_component]
    async fn handle(request: IncomingRequest) -> Response {
        let state = Users::default();
        troupe_spin::serve("users", &handlers::router(), request, &state).await
    }
}

/// Per-request state: connections opened on first use.
#[derive(Default)]
pub struct Users {
    db: OnceCell<SpinDatabase>,
    kv: OnceCell<SpinKeyValue>,
}

impl Users {
    /// The database (read-only use: `auth` owns the user rows), opened and
    /// migrated on first use.
    pub fn db(&self) -> Result<&dyn Database, Problem> {
        if let Some(db) = self.db.get() {
            return Ok(db);
        }
        let opened = troupe_spin::database()?;
        Ok(self.db.get_or_init(|| opened))
    }

    /// The key-value store `default`.
    pub fn kv(&self) -> Result<&SpinKeyValue, Problem> {
        if let Some(kv) = self.kv.get() {
            return Ok(kv);
        }
        let opened = troupe_spin::key_value("default")?;
        Ok(self.kv.get_or_init(|| opened))
    }
}

/// How long a cached user lives, in milliseconds (`user_cache_ttl_seconds`,
/// one hour by default).
pub fn cache_ttl_ms() -> u64 {
    variable("user_cache_ttl_seconds").and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(3600) * 1000
}
