//! `fermyon:spin/key-value@2.0.0` over SQLite, as Spin's default store.
//!
//! The `default` store lives in `<state dir>/sqlite_key_value.db` with Spin's
//! schema (one `spin_key_value` table keyed by store label and key), so a
//! state directory written by `spin up` reads the same here. Without a state
//! directory the store is in memory. One connection per application, behind
//! a mutex, serves every request, in SQLite's default journal and sync modes
//! (as Spin's); SQLite calls run on the blocking pool.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use rusqlite::{params, Connection, OptionalExtension};
use wasmtime::component::Resource;

use crate::bindings::spin::key_value::{self, Error};
use crate::instance::InstanceState;

/// The application's key-value stores (only `default` exists).
#[derive(Debug, Clone)]
pub struct KeyValueStores {
    connection: Arc<Mutex<Connection>>,
}

impl KeyValueStores {
    /// Opens (creating it if needed) the default store in `state_dir`, or an
    /// in-memory one when there is no state directory.
    pub fn open(state_dir: Option<&Path>) -> anyhow::Result<Self> {
        let connection = match state_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                Connection::open(dir.join("sqlite_key_value.db"))?
            }
            None => Connection::open_in_memory()?,
        };
        // As Spin does (crates/key-value-spin, `KeyValueSqlite::create_connection`):
        // a plain `Connection::open`, no pragma. SQLite's defaults hold, a
        // rollback journal with `synchronous=FULL`, so every write is an
        // fsync'd transaction, serialised behind this one connection's mutex,
        // and benchmarks here cost what they cost under Spin.
        connection.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )?;
        Ok(Self { connection: Arc::new(Mutex::new(connection)) })
    }

    /// Runs `f` on the connection, off the async executor.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let connection = connection.lock().map_err(|_| Error::Other("key-value store lock poisoned".into()))?;
            f(&connection).map_err(|e| Error::Other(e.to_string()))
        })
        .await
        .map_err(|e| Error::Other(e.to_string()))?
    }
}

/// Per-instance key-value state: which labels the component may open.
#[derive(Debug)]
pub struct InstanceKeyValue {
    stores: KeyValueStores,
    allowed: Arc<[String]>,
}

impl InstanceKeyValue {
    /// `allowed` is the component's `key_value_stores`.
    pub fn new(stores: KeyValueStores, allowed: Arc<[String]>) -> Self {
        Self { stores, allowed }
    }
}

/// An open store handle held by a component.
#[derive(Debug)]
pub struct OpenStore {
    label: String,
}

impl InstanceState {
    fn store_label(&self, store: &Resource<OpenStore>) -> wasmtime::Result<String> {
        Ok(self.table.get(store)?.label.clone())
    }
}

impl key_value::Host for InstanceState {}

impl key_value::HostStore for InstanceState {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<OpenStore>, Error>> {
        // Spin answers access-denied for any label the component was not
        // granted, whether or not such a store exists.
        if !self.key_value.allowed.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        if label != "default" {
            return Ok(Err(Error::NoSuchStore));
        }
        Ok(Ok(self.table.push(OpenStore { label })?))
    }

    async fn get(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let label = self.store_label(&store)?;
        Ok(self
            .key_value
            .stores
            .with(move |c| {
                c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                    .query_row(params![label, key], |row| row.get::<_, Vec<u8>>(0))
                    .optional()
            })
            .await)
    }

    async fn set(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let label = self.store_label(&store)?;
        Ok(self
            .key_value
            .stores
            .with(move |c| {
                c.prepare_cached(
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT(store, key) DO UPDATE SET value = ?3",
                )?
                .execute(params![label, key, value])
                .map(drop)
            })
            .await)
    }

    async fn delete(&mut self, store: Resource<OpenStore>, key: String) -> wasmtime::Result<Result<(), Error>> {
        let label = self.store_label(&store)?;
        Ok(self
            .key_value
            .stores
            .with(move |c| {
                c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                    .execute(params![label, key])
                    .map(drop)
            })
            .await)
    }

    async fn exists(&mut self, store: Resource<OpenStore>, key: String) -> wasmtime::Result<Result<bool, Error>> {
        let label = self.store_label(&store)?;
        Ok(self
            .key_value
            .stores
            .with(move |c| {
                c.prepare_cached("SELECT EXISTS (SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)")?
                    .query_row(params![label, key], |row| row.get::<_, bool>(0))
            })
            .await)
    }

    async fn get_keys(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let label = self.store_label(&store)?;
        Ok(self
            .key_value
            .stores
            .with(move |c| {
                c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?
                    .query_map(params![label], |row| row.get::<_, String>(0))?
                    .collect()
            })
            .await)
    }

    async fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}
