//! `troupe-migrate`: apply Troupe's migrations to a database out of band.
//!
//! The components migrate on their own at first use. Where the application's
//! database role may not change the schema (a managed Postgres), run this with
//! an owner's credentials before deploying:
//!
//! ```text
//! cargo run -p troupe-store-native --bin troupe-migrate -- 'postgres://owner@db:5432/troupe?sslmode=require'
//! cargo run -p troupe-store-native --bin troupe-migrate -- sqlite:.spin/sqlite_db.db
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let url = std::env::args().nth(1).context("usage: troupe-migrate <postgres://…|sqlite:PATH>")?;
    let db = troupe_store_native::open(&url)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let report = troupe_store::migrate(db.as_ref(), i64::try_from(now)?)?;
    match report.applied.as_slice() {
        [] => println!("schema already at version {}", report.to),
        applied => println!("applied {applied:?}; schema now at version {}", report.to),
    }
    Ok(())
}
