//! Troupe's storage layer, independent of any runtime.
//!
//! * [`Database`] is the one SQL API the components use, whether the rows live
//!   in Spin's built-in SQLite or in Postgres. Statements are written once, with
//!   `$1, $2, …` placeholders, and parameters are always bound, never
//!   interpolated.
//! * [`migrate`] applies the numbered files under `migrations/` exactly once
//!   per database, even when several components race on a fresh one.
//! * [`Cache`] is cache-aside over a [`KeyValue`] store, with the time-to-live
//!   Spin's key-value interface lacks, degrading to the source of truth when
//!   the store fails.
//!
//! The Spin adapters live in the `troupe-spin-adapter` crate; the tests of this crate
//! run the same code against real SQLite (rusqlite) and the real Postgres.

mod cache;
mod db;
mod kv;
pub mod migrations;
mod value;

pub use cache::{Cache, CacheOutcome};
pub use db::{sqlite_placeholders, transaction, Database, DbError, Dialect};
pub use kv::{KeyValue, KvError};
pub use migrations::{ensure_migrated, latest_version, migrate, schema_version, Migration, MigrationReport};
pub use value::{FromValue, Row, Rows, Value};
