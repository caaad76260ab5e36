//! `users`: the user resource under `/api/v1/users`.
//!
//! Every request is authenticated through the imported
//! `troupe:auth/verifier` interface (Spin plugs in the implementation named
//! in `[component.users.dependencies]`), then checked against the
//! revocations `auth` publishes. Reads go through the key-value cache;
//! changes are asked of `auth`, which owns the `users` table, over Spin's
//! local service chaining (see [`accounts`]); `auth` tells it, on the
//! private route `POST /internal/users/:id/changed`, when it changed an
//! account on its own, so that the cached copy is forgotten. The component owns the
//! `idempotency_keys` table and the `users:*` key-value keys; its SQL is in
//! [`store`], and every way a request fails, with its problem response, in
//! [`error`].

mod accounts;
mod caller;
mod error;
mod handlers;
mod store;

use troupe_spin_adapter::variable;

/// Bindings of the verifier interface, generated from `wit/`.
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "troupe:auth/verifier-client@0.1.0",
    });
}

/// The Wasm export. `#[http_component]` generates the `unsafe` ABI glue,
/// which the workspace's `unsafe_code = "deny"` allows here only. Natively
/// (the black-box suite links this crate for [`routes`]) there is nothing
/// to export.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod export {
    use spin_sdk::http::IncomingRequest;
    use spin_sdk::http_component;
    use troupe_edge::Response;

    use super::*;

    #[http_component]
    async fn handle(request: IncomingRequest) -> Response {
        let state = Users::default();
        troupe_spin_adapter::serve("users", &handlers::router(), request, &state).await
    }
}

/// The component's routes as `(method, pattern)`, for the black-box suite's
/// check that the OpenAPI document describes each of them.
pub fn routes() -> Vec<(http::Method, &'static str)> {
    handlers::router().routes()
}

/// Per-request state: the database and key-value store, opened on first
/// use (a cache hit never opens the database).
pub type Users = troupe_spin_adapter::Stores;

/// How long a cached user lives, in milliseconds (`user_cache_ttl_seconds`,
/// one hour by default).
pub fn cache_ttl_ms() -> u64 {
    variable("user_cache_ttl_seconds").and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(3600) * 1000
}
