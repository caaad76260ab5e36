//! What the per-request migration check costs: `ensure_migrated` on a
//! database already at the latest version (one indexed `SELECT MAX`),
//! timed natively on SQLite and on Postgres.
//!
//! ```text
//! cargo run --release -p troupe-store-native --example migration_check [postgres-url]
//! ```
//! Inside a component the same query also crosses the Wasm/host boundary;
//! `scripts/bench` shows the whole cost of a database read there.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use troupe_store::{ensure_migrated, Database};

fn time(label: &str, db: &dyn Database) -> anyhow::Result<()> {
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    ensure_migrated(db, now)?;
    let rounds = 5_000u32;
    let started = Instant::now();
    for _ in 0..rounds {
        ensure_migrated(db, now)?;
    }
    let each: Duration = started.elapsed() / rounds;
    println!(
        "{label:<10} ensure_migrated on an up-to-date schema: {:>7.1} µs per call ({rounds} calls)",
        each.as_secs_f64() * 1e6
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sqlite = troupe_store_native::Sqlite::open(&dir.path().join("check.db"))?;
    time("sqlite", &sqlite)?;
    let url =
        std::env::args().nth(1).unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".to_owned());
    let admin = troupe_store_native::Postgres::connect(&url)?;
    let schema = format!("migration_check_{}", std::process::id());
    admin.execute(&format!("CREATE SCHEMA {schema}"), &[])?;
    let outcome = troupe_store_native::Postgres::connect(&format!("{url}&options=-csearch_path%3D{schema}"))
        .map_err(anyhow::Error::from)
        .and_then(|pg| time("postgres", &pg));
    admin.execute(&format!("DROP SCHEMA {schema} CASCADE"), &[])?;
    outcome
}
