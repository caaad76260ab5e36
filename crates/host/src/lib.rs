//! troupe-host: a small Spin-compatible host on wasmtime.
//!
//! It runs a Spin application's real `.wasm` components exactly as Spin
//! 3.6/4.x would, for tests and for machines without the Spin CLI: the HTTP
//! trigger with Spin's routing and `spin-*` headers, a fresh instance per
//! request, `fermyon:spin@2.0.0` key-value (SQLite files or Redis), SQLite,
//! variables and Postgres, a runtime configuration file,
//! outbound HTTP with `allowed_outbound_hosts` and service chaining, and
//! component dependencies. Whatever it does not implement is refused when
//! the application loads, naming the field or import, never ignored.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use troupe_host::{App, HostConfig};
//! let app = App::load(HostConfig::new("spin.toml")).await?;
//! app.serve(tokio::net::TcpListener::bind("127.0.0.1:3000").await?).await
//! # }
//! ```
//!
//! The binary wraps this as `troupe-host up`, with `spin up`'s flags.
//!
//! # Known differences from Spin
//!
//! * A dependency that does not inherit configuration yet imports outgoing
//!   HTTP, sockets or `fermyon:spin/*` is refused (Spin plugs its deny-all
//!   adapter in; this host does not reproduce it).
//! * Variables are resolved once at load (overrides, `SPIN_VARIABLE_*`,
//!   `.env`, defaults); Spin resolves them at each `get`.
//! * Without a state directory, the SQLite `default` database is one
//!   temporary file for the whole app (Spin gives each in-memory `open` its
//!   own database).
//! * Postgres TLS verifies against the Mozilla roots (rustls), not the
//!   system's store; pools have no per-address cap.
//! * HTTP/1 only; no request deadline; component output goes to the host's
//!   stdout/stderr and an optional log file, not to `.spin/logs/`.
//! * No resource limiter on stores (Spin installs one, limiting memory only
//!   when configured); the engine is otherwise configured as Spin's (see
//!   `engine`).

mod allowed_hosts;
mod bindings;
mod compose;
mod engine;
mod instance;
mod key_value;
mod log;
pub mod manifest;
mod outbound_http;
mod postgres;
pub mod routing;
pub mod runtime_config;
mod server;
mod sqlite;
pub mod testing;
mod variables;

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, OnceLock},
};

use anyhow::{bail, Context as _};
use tokio::net::TcpListener;
use wasmtime::component::Component as WasmComponent;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::{
    allowed_hosts::AllowedHosts,
    key_value::KeyValueStores,
    log::Logger,
    manifest::Manifest,
    postgres::PostgresPools,
    routing::Router,
    runtime_config::RuntimeConfig,
    server::{AppShared, LoadedComponent},
    sqlite::SqliteDatabases,
    variables::{ComponentVariables, Resolver},
};

pub use crate::engine::cache_dir;

/// How to run an application.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// The `spin.toml` to run.
    pub manifest: PathBuf,
    /// Where the default key-value store and SQLite database live (Spin's
    /// `--state-dir`, usually `.spin`); `None` keeps them in memory (a
    /// temporary file for SQLite) for the life of the application.
    pub state_dir: Option<PathBuf>,
    /// Variable values that take precedence over `SPIN_VARIABLE_*` and the
    /// defaults (`--variable name=value`).
    pub variables: HashMap<String, String>,
    /// A file to which every log line (component output and host errors)
    /// is appended, besides the host's stdout/stderr.
    pub log_file: Option<PathBuf>,
    /// Spin's runtime configuration file (`--runtime-config-file`): more
    /// key-value stores and SQLite databases, or other backings for the
    /// default ones.
    pub runtime_config: Option<PathBuf>,
}

impl HostConfig {
    /// A configuration for `manifest` with in-memory state and no overrides.
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self { manifest: manifest.into(), ..Self::default() }
    }
}

/// One public route of a loaded application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// The route as `spin up` prints it, e.g. `/users (wildcard)`.
    pub route: String,
    /// The component serving it.
    pub component: String,
    /// The component's `description`, if any.
    pub description: Option<String>,
}

/// A loaded application: manifest checked, components compiled and
/// pre-instantiated, stores opened.
pub struct App {
    shared: Arc<AppShared>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("name", &self.shared.name).finish_non_exhaustive()
    }
}

impl App {
    /// Loads the application described by `config`. Fails, naming the
    /// component and the field or import, on anything troupe-host would not
    /// run exactly as Spin does.
    pub async fn load(config: HostConfig) -> anyhow::Result<Self> {
        let manifest = Manifest::from_file(&config.manifest)?;
        let runtime_config = match &config.runtime_config {
            Some(path) => RuntimeConfig::from_file(path)?,
            None => RuntimeConfig::default(),
        };
        let logger = Logger::new(config.log_file.as_deref())?;

        let resolver = Resolver::new(manifest.variables.clone(), config.variables.clone())?;
        resolver.check_required()?;

        let state_dir = config.state_dir.as_deref();
        let key_value = KeyValueStores::new(state_dir, &runtime_config.key_value_stores)
            .context("setting up the key-value stores")?;
        let sqlite = SqliteDatabases::new(state_dir, &runtime_config.sqlite_databases)
            .context("preparing the SQLite databases")?;
        for component in manifest.components.values() {
            check_labels(component, "key_value_stores", &component.key_value_stores, |l| key_value.contains(l))?;
            check_labels(component, "sqlite_databases", &component.sqlite_databases, |l| sqlite.contains(l))?;
        }

        let router = Router::build(manifest.http_triggers.iter().map(|t| (t.component.as_str(), t.route.as_deref())))?;
        for duplicate in router.duplicates() {
            logger.host(&format!(
                "route {} of component `{}` is a duplicate of component `{}`'s and will never be used",
                duplicate.route, duplicate.replaced_id, duplicate.effective_id
            ));
        }
        if router.contains_reserved_route() {
            logger.host(&format!(
                "routes under {WELL_KNOWN_PREFIX} are handled by the Spin runtime and will never be reached",
                WELL_KNOWN_PREFIX = routing::WELL_KNOWN_PREFIX
            ));
        }

        let engine = engine::engine()?;
        let linker = instance::linker(&engine)?;
        let mut components = HashMap::new();
        // Only components some HTTP trigger names are served (and compiled).
        let mut served: Vec<&str> = manifest.http_triggers.iter().map(|t| t.component.as_str()).collect();
        served.sort_unstable();
        served.dedup();
        for id in served {
            let component = &manifest.components[id];
            let loaded = load_component(&engine, &linker, component, &resolver)
                .await
                .with_context(|| format!("component `{id}`"))?;
            components.insert(id.to_owned(), loaded);
        }

        let descriptions =
            manifest.components.values().filter_map(|c| Some((c.id.clone(), c.description.clone()?))).collect();
        let shared = AppShared {
            name: manifest.application.name.clone(),
            descriptions,
            version: manifest.application.version.clone(),
            router,
            components,
            logger,
            key_value,
            sqlite,
            postgres: PostgresPools::default(),
            local_addr: OnceLock::new(),
        };
        Ok(Self { shared: Arc::new(shared) })
    }

    /// The public routes, in manifest order, as `spin up` lists them.
    pub fn routes(&self) -> Vec<RouteInfo> {
        self.shared
            .router
            .routes()
            .map(|(route, id)| RouteInfo {
                route: route.to_string(),
                component: id.to_owned(),
                description: self.shared.descriptions.get(id).cloned(),
            })
            .collect()
    }

    /// Serves the application on `listener` until an accept fails.
    pub async fn serve(self, listener: TcpListener) -> anyhow::Result<()> {
        self.shared.serve(listener).await
    }

    /// The address the application is served on, once [`App::serve`] runs.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared.local_addr()
    }
}

/// The bytes Spin would run for component `id` of `manifest`: its source,
/// componentized if it is a core module, with its `dependencies` composed
/// in. `troupe-host compose` writes them to a file, for hosts that do not
/// compose dependencies themselves (Fermyon Cloud).
pub fn composed_component(manifest: &std::path::Path, id: &str) -> anyhow::Result<Vec<u8>> {
    let manifest = Manifest::from_file(manifest)?;
    let component = manifest.components.get(id).with_context(|| format!("the manifest has no component `{id}`"))?;
    compose::load_component_bytes(component).with_context(|| format!("component `{id}`"))
}

/// Refuses a label no store or database has: Spin knows `default` and the
/// labels of the runtime configuration file.
fn check_labels(
    component: &manifest::Component,
    field: &str,
    labels: &[String],
    exists: impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    match labels.iter().find(|label| !exists(label)) {
        Some(label) => bail!(
            "component `{}`: {field}: no store is labelled `{label}` (\"default\" and the labels of the runtime config file exist)",
            component.id
        ),
        None => Ok(()),
    }
}

/// Compiles (or loads from the cache) and pre-instantiates one component,
/// and resolves its configuration.
async fn load_component(
    engine: &wasmtime::Engine,
    linker: &wasmtime::component::Linker<instance::InstanceState>,
    component: &manifest::Component,
    resolver: &Resolver,
) -> anyhow::Result<LoadedComponent> {
    let allowed_hosts = component
        .allowed_outbound_hosts
        .iter()
        .map(|template| resolver.render(template).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<String>>>()
        .context("resolving allowed_outbound_hosts")?;
    let allowed_hosts =
        AllowedHosts::parse(&allowed_hosts).map_err(anyhow::Error::msg).context("allowed_outbound_hosts")?;
    let variables = ComponentVariables::resolve(&component.id, &component.variables, resolver)?;

    // Reading, componentizing, composing and compiling are CPU-bound.
    let wasm = {
        let component = component.clone();
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<WasmComponent> {
            let bytes = compose::load_component_bytes(&component)?;
            WasmComponent::new(&engine, bytes).map_err(anyhow::Error::from).context("compiling")
        })
        .await??
    };
    let instance_pre = linker
        .instantiate_pre(&wasm)
        .map_err(anyhow::Error::from)
        .context("the component imports something troupe-host does not provide")?;
    let pre = ProxyPre::new(instance_pre)
        .map_err(anyhow::Error::from)
        .context("the component does not export wasi:http/incoming-handler@0.2.x")?;

    Ok(LoadedComponent {
        pre,
        allowed_hosts: Arc::new(allowed_hosts),
        variables: Arc::new(variables),
        key_value_stores: component.key_value_stores.clone().into(),
        sqlite_databases: component.sqlite_databases.clone().into(),
    })
}
