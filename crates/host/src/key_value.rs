//! `fermyon:spin/key-value@2.0.0` over Spin's SQLite-file store or Redis.
//!
//! The `default` store lives in `<state dir>/sqlite_key_value.db` with Spin's
//! schema (one `spin_key_value` table keyed by store label and key), so a
//! state directory written by `spin up` reads the same here. Without a state
//! directory the store is in memory. As in Spin's `key-value-spin`, one
//! connection per store, behind a mutex, serves every request, in SQLite's
//! default journal and sync modes, and each call runs on the calling worker
//! thread inside `block_in_place`.
//!
//! A runtime configuration file may back any label, `default` included, by
//! another SQLite file or by Redis. Redis is used as Spin's
//! `key-value-redis` does: one `ConnectionManager` per store with its default
//! settings (it reconnects by itself after an outage), made at the first
//! `open` (a failed connect is retried at the next one), a `PING` after
//! every `open` whose failure is ignored, keys stored as given whatever the
//! label, `KEYS *` for `get-keys`, and every Redis error reported as `other`
//! with its debug text.
//!
//! Those defaults set no timeout: while Redis is away, a call that finds
//! the connection broken starts a reconnection, and the calls after it wait
//! for its six attempts (0.2 s to 6.4 s apart, about 12.6 s in all) before
//! they fail. Components see the same waits under Spin.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex, OnceLock},
};

use redis::AsyncCommands as _;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::OnceCell;
use wasmtime::component::Resource;

use crate::bindings::spin::key_value::{self, Error};
use crate::instance::InstanceState;
use crate::runtime_config::KeyValueStoreConfig;

/// The application's key-value stores, by label.
#[derive(Debug, Clone)]
pub struct KeyValueStores {
    stores: Arc<HashMap<String, Store>>,
}

impl KeyValueStores {
    /// The stores: `default` in `state_dir` (in memory without one) unless
    /// `configured` backs it otherwise, and every label `configured` names.
    /// Nothing connects until a component opens a store, as in Spin.
    pub fn new(
        state_dir: Option<&Path>,
        configured: &std::collections::BTreeMap<String, KeyValueStoreConfig>,
    ) -> anyhow::Result<Self> {
        let mut stores = HashMap::new();
        if !configured.contains_key("default") {
            let path = state_dir.map(|dir| dir.join("sqlite_key_value.db"));
            stores.insert("default".to_owned(), Store::Sqlite(SqliteStore::new(path.as_deref())?));
        }
        for (label, config) in configured {
            let store = match config {
                KeyValueStoreConfig::Spin { path } => Store::Sqlite(SqliteStore::new(path.as_deref())?),
                KeyValueStoreConfig::Redis { url } => Store::Redis(RedisStore::new(url)?),
            };
            stores.insert(label.clone(), store);
        }
        Ok(Self { stores: Arc::new(stores) })
    }

    /// Whether a store has this label.
    pub fn contains(&self, label: &str) -> bool {
        self.stores.contains_key(label)
    }
}

/// One store's backing.
#[derive(Debug, Clone)]
enum Store {
    Sqlite(SqliteStore),
    Redis(RedisStore),
}

/// Spin's SQLite-file store: one connection, made at the first `open`.
#[derive(Debug, Clone)]
struct SqliteStore {
    /// The file; `None` for a store in memory.
    path: Option<Arc<Path>>,
    connection: Arc<OnceLock<Mutex<Connection>>>,
}

impl SqliteStore {
    /// A store in `path` (its directory made now), or in memory.
    fn new(path: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(dir) = path.and_then(Path::parent) {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Self { path: path.map(Arc::from), connection: Arc::default() })
    }

    /// At every `open`, as Spin's `KeyValueSqlite::get`: the connection is
    /// looked up (and made, the first time) inside `block_in_place`, so each
    /// `open` costs what it costs under Spin.
    fn connect(&self) -> Result<(), Error> {
        tokio::task::block_in_place(|| self.connection().map(drop))
    }

    /// The connection, made on first use.
    fn connection(&self) -> Result<&Mutex<Connection>, Error> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection);
        }
        // Two first uses at once may both make one: the first kept wins.
        let made = self.create().map_err(|e| Error::Other(e.to_string()))?;
        Ok(self.connection.get_or_init(|| Mutex::new(made)))
    }

    /// As Spin does (crates/key-value-spin, `KeyValueSqlite::create_connection`):
    /// a plain `Connection::open`, no pragma. SQLite's defaults hold, a
    /// rollback journal with `synchronous=FULL`, so every write is an fsync'd
    /// transaction, serialised behind this one connection's mutex, and
    /// benchmarks here cost what they cost under Spin.
    fn create(&self) -> rusqlite::Result<Connection> {
        let connection = match &self.path {
            Some(path) => Connection::open(path)?,
            None => Connection::open_in_memory()?,
        };
        connection.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )?;
        Ok(connection)
    }

    /// Runs `f` on the connection, on this thread: as in Spin's
    /// `key-value-spin`, `block_in_place` hands this worker's other tasks to
    /// another thread while SQLite blocks it, and the instance goes on here
    /// afterwards (Spin's SQLite databases use the blocking pool instead: see
    /// the `sqlite` module). It needs tokio's multi-threaded runtime, which
    /// the binary and [`crate::testing`] run, as Spin does.
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        tokio::task::block_in_place(|| {
            let connection =
                self.connection()?.lock().map_err(|_| Error::Other("key-value store lock poisoned".into()))?;
            f(&connection).map_err(|e| Error::Other(e.to_string()))
        })
    }

    fn get(&self, label: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.with(|c| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![label, key], |row| row.get::<_, Vec<u8>>(0))
                .optional()
        })
    }

    fn set(&self, label: &str, key: &str, value: &[u8]) -> Result<(), Error> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(store, key) DO UPDATE SET value = ?3",
            )?
            .execute(params![label, key, value])
            .map(drop)
        })
    }

    fn delete(&self, label: &str, key: &str) -> Result<(), Error> {
        self.with(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![label, key])
                .map(drop)
        })
    }

    fn exists(&self, label: &str, key: &str) -> Result<bool, Error> {
        self.with(|c| {
            c.prepare_cached("SELECT EXISTS (SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)")?
                .query_row(params![label, key], |row| row.get::<_, bool>(0))
        })
    }

    fn get_keys(&self, label: &str) -> Result<Vec<String>, Error> {
        self.with(|c| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?
                .query_map(params![label], |row| row.get::<_, String>(0))?
                .collect()
        })
    }
}

/// A Redis server, as Spin's `key-value-redis` uses it.
#[derive(Clone)]
struct RedisStore {
    client: redis::Client,
    connection: Arc<OnceCell<redis::aio::ConnectionManager>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

fn redis_error(error: redis::RedisError) -> Error {
    Error::Other(format!("{error:?}"))
}

impl RedisStore {
    /// Parses the URL; nothing connects until the first `open`.
    fn new(url: &str) -> anyhow::Result<Self> {
        Ok(Self { client: redis::Client::open(url)?, connection: Arc::new(OnceCell::new()) })
    }

    /// The connection, made at the first call that needs it.
    async fn connection(&self) -> Result<redis::aio::ConnectionManager, Error> {
        self.connection.get_or_try_init(|| self.client.get_connection_manager()).await.cloned().map_err(redis_error)
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
    store: Store,
}

impl InstanceState {
    fn open_store(&self, store: &Resource<OpenStore>) -> wasmtime::Result<(String, Store)> {
        let open = self.table.get(store)?;
        Ok((open.label.clone(), open.store.clone()))
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
        let Some(store) = self.key_value.stores.stores.get(&label).cloned() else {
            return Ok(Err(Error::NoSuchStore));
        };
        match &store {
            Store::Sqlite(sqlite) => {
                if let Err(error) = sqlite.connect() {
                    return Ok(Err(error));
                }
            }
            Store::Redis(redis) => match redis.connection().await {
                // As Spin's `after_open`: a failed PING only makes the
                // connection manager reconnect.
                Ok(mut connection) => {
                    let _reconnecting = redis::cmd("PING").query_async::<()>(&mut connection).await;
                }
                Err(error) => return Ok(Err(error)),
            },
        }
        Ok(Ok(self.table.push(OpenStore { label, store })?))
    }

    async fn get(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(match self.open_store(&store)? {
            (label, Store::Sqlite(sqlite)) => sqlite.get(&label, &key),
            (_, Store::Redis(redis)) => match redis.connection().await {
                Ok(mut c) => c.get(key).await.map_err(redis_error),
                Err(e) => Err(e),
            },
        })
    }

    async fn set(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(match self.open_store(&store)? {
            (label, Store::Sqlite(sqlite)) => sqlite.set(&label, &key, &value),
            (_, Store::Redis(redis)) => match redis.connection().await {
                Ok(mut c) => c.set(key, value).await.map_err(redis_error),
                Err(e) => Err(e),
            },
        })
    }

    async fn delete(&mut self, store: Resource<OpenStore>, key: String) -> wasmtime::Result<Result<(), Error>> {
        Ok(match self.open_store(&store)? {
            (label, Store::Sqlite(sqlite)) => sqlite.delete(&label, &key),
            (_, Store::Redis(redis)) => match redis.connection().await {
                Ok(mut c) => c.del(key).await.map_err(redis_error),
                Err(e) => Err(e),
            },
        })
    }

    async fn exists(&mut self, store: Resource<OpenStore>, key: String) -> wasmtime::Result<Result<bool, Error>> {
        Ok(match self.open_store(&store)? {
            (label, Store::Sqlite(sqlite)) => sqlite.exists(&label, &key),
            (_, Store::Redis(redis)) => match redis.connection().await {
                Ok(mut c) => c.exists(key).await.map_err(redis_error),
                Err(e) => Err(e),
            },
        })
    }

    async fn get_keys(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<Result<Vec<String>, Error>> {
        Ok(match self.open_store(&store)? {
            (label, Store::Sqlite(sqlite)) => sqlite.get_keys(&label),
            (_, Store::Redis(redis)) => match redis.connection().await {
                Ok(mut c) => c.keys("*").await.map_err(redis_error),
                Err(e) => Err(e),
            },
        })
    }

    async fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}
