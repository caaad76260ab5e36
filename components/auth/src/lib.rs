//! `auth`: accounts, password login, sessions and signed tokens.
//!
//! Routes (JSON, under `/api/v1/auth`): `POST /register`, `POST /login`,
//! `POST /refresh`, `POST /logout`, `GET /me`, `POST /password`,
//! `GET /sessions`, `DELETE /sessions/:id`, `GET /events` (the audit log),
//! `POST /verify-email` (and `/resend`), `POST /password-reset` (and
//! `/confirm`), `POST /email` (and `/confirm`), the TOTP second factor
//! (`GET /mfa`, `POST /mfa/totp`, `/confirm`, `/disable`, `POST /login/mfa`,
//! `DELETE /users/:id/mfa`), and `GET /.well-known/jwks.json`.
//!
//! Private routes, reached only through Spin's service chaining, let other
//! components ask for changes to the tables `auth` owns (see [`internal`]).
//!
//! `auth` owns the `users`, `credentials`, `sessions`, `refresh_tokens`,
//! `auth_secrets`, `auth_throttles`, `auth_revocations`, `auth_events`,
//! `auth_email_tokens`, `auth_outbox`, `auth_totp`, `auth_recovery_codes`
//! and `auth_mfa_challenges` tables and the `auth:*` key-value keys. [`routes`] names the handler of
//! each route: [`account`] (register, login, me, password), [`sessions`]
//! (refresh, logout, the session list), [`audit`] (the events, and their
//! recording), [`email`] (verification, password reset, email change, whose
//! mail [`mail`] queues and delivers), [`mfa`] (the second factor), [`keys`] (the key set and JWKS) and
//! [`internal`]; [`request`] and [`tokens`] hold what they share, and
//! [`error`] every way they fail and its problem response. Throttles,
//! revocations and the sweep are in [`protect`]; the SQL is in [`store`];
//! the rules they apply come from the `troupe-accounts` and `troupe-tokens`
//! crates.

mod account;
mod audit;
mod email;
mod error;
mod internal;
mod keys;
mod mail;
mod mfa;
mod protect;
mod request;
mod routes;
mod sessions;
mod settings;
mod store;
mod tokens;
mod user_cache;

use std::cell::OnceCell;

use troupe_edge::Problem;
use troupe_spin_adapter::{SpinKeyValue, Stores};
use troupe_store::Database;

use error::AuthError;
use keys::Keys;
use settings::Settings;

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
        let state = Auth::default();
        troupe_spin_adapter::serve("auth", &routes::router(), request, &state).await
    }
}

/// The component's routes as `(method, pattern)`, private ones included, for
/// the black-box suite's check that the OpenAPI document describes the public ones.
pub fn routes() -> Vec<(http::Method, &'static str)> {
    routes::router().routes()
}

/// Per-request state: settings, and connections opened on first use.
pub struct Auth {
    settings: Settings,
    stores: Stores,
    keys: OnceCell<Keys>,
    published: OnceCell<()>,
}

impl Default for Auth {
    /// The state of one request: nothing read or opened yet.
    fn default() -> Self {
        Self {
            settings: Settings::default(),
            stores: Stores::default(),
            keys: OnceCell::new(),
            published: OnceCell::new(),
        }
    }
}

impl Auth {
    /// The database, opened (and migrated) on first use.
    pub fn db(&self) -> Result<&dyn Database, Problem> {
        self.stores.db()
    }

    /// The key-value store `default`.
    pub fn kv(&self) -> Result<&SpinKeyValue, Problem> {
        self.stores.kv()
    }

    /// The signing key and key set, to verify a token or open a sealed pair.
    pub(crate) fn keys(&self) -> Result<&Keys, AuthError> {
        if let Some(keys) = self.keys.get() {
            return Ok(keys);
        }
        let loaded = keys::load(|| self.db(), troupe_spin_adapter::now_ms())?;
        Ok(self.keys.get_or_init(|| loaded))
    }

    /// The keys, with the public set published for other components (once
    /// per request, and written only when it changed): on every sign-in, and
    /// when the set is asked for (`users` asks when a token names a key its
    /// copy lacks). A refresh signs with [`Auth::keys`] and publishes nothing.
    pub(crate) fn published_keys(&self) -> Result<&Keys, AuthError> {
        let keys = self.keys()?;
        if self.published.get().is_none() {
            keys::publish(self.kv()?, keys.set()?, keys.source);
            self.published.set(()).ok();
        }
        Ok(keys)
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}
