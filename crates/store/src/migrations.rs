//! Numbered schema migrations, applied exactly once per database.
//!
//! The SQL lives in `migrations/<dialect>/NNNN_name.sql` at the repository
//! root and is compiled into every component, so a fresh `spin up` needs no
//! separate step: the first request that opens the database brings it up to
//! date. Concurrency is handled by the database, not by the callers:
//!
//! * SQLite: everything runs in one `BEGIN IMMEDIATE` transaction, which
//!   takes the write lock up front; a second component racing on the same
//!   fresh file waits, then finds the work done.
//! * Postgres: everything runs in one transaction holding a transaction-level
//!   advisory lock, so concurrent migrators (components, replicas) queue up
//!   and each re-reads the version once it holds the lock.
//!
//! Each applied version is recorded in `troupe_schema_migrations`.

use crate::{transaction, Database, DbError, Dialect, Value};

/// One migration: the same change written for each dialect.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number; versions are applied in increasing order.
    pub version: i64,
    /// The file name's suffix, recorded beside the version.
    pub name: &'static str,
    /// The SQLite script.
    pub sqlite: &'static str,
    /// The Postgres script.
    pub postgres: &'static str,
}

impl Migration {
    /// The script for `dialect`.
    pub fn script(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../../../migrations/sqlite/", stringify!($version), "_", $name, ".sql")),
            postgres: include_str!(concat!("../../../migrations/postgres/", stringify!($version), "_", $name, ".sql")),
        }
    };
}

/// Every migration, in order. A test checks that this list and the files
/// under `migrations/` agree. The versions keep their leading zeros: the
/// macro turns them into the files' names.
#[allow(clippy::zero_prefixed_literal)]
pub const MIGRATIONS: &[Migration] = &[
    migration!(0001, "accounts"),
    migration!(0002, "idempotency"),
    migration!(0003, "protection"),
    migration!(0004, "current_refresh_token"),
    migration!(0005, "audit_log"),
    migration!(0006, "email"),
    migration!(0007, "mfa"),
    migration!(0008, "refresh_token_family"),
];

/// The version a fully migrated database is at.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS troupe_schema_migrations (\
     version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// An arbitrary, fixed key for Postgres' advisory lock ("troupe" in ASCII).
const PG_MIGRATION_LOCK: i64 = 0x74_72_6f_75_70_65;

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The version before, or `None` for a database never migrated.
    pub from: Option<i64>,
    /// The versions this call applied (empty when another process did).
    pub applied: Vec<i64>,
    /// The version after.
    pub to: i64,
}

/// The database's schema version, or `None` when it was never migrated.
pub fn schema_version(db: &dyn Database) -> Result<Option<i64>, DbError> {
    match db.query("SELECT MAX(version) AS version FROM troupe_schema_migrations", &[]) {
        Ok(rows) => match rows.first() {
            Some(row) => row.get::<Option<i64>>("version"),
            None => Ok(None),
        },
        Err(DbError::Schema(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Bring the database up to [`latest_version`], if it is not already there.
///
/// Cheap when nothing is to be done: one indexed read. `now_ms` is recorded
/// as the time each migration was applied.
pub fn ensure_migrated(db: &dyn Database, now_ms: i64) -> Result<(), DbError> {
    match schema_version(db)? {
        Some(version) if version >= latest_version() => Ok(()),
        _ => migrate(db, now_ms).map(drop),
    }
}

/// Apply every pending migration, in one transaction.
pub fn migrate(db: &dyn Database, now_ms: i64) -> Result<MigrationReport, DbError> {
    apply(db, MIGRATIONS, now_ms)
}

/// [`migrate`] with an explicit list, for tests.
pub fn apply(db: &dyn Database, migrations: &[Migration], now_ms: i64) -> Result<MigrationReport, DbError> {
    let dialect = db.dialect();
    let wal = || -> Result<(), DbError> {
        // Write-ahead logging lets readers proceed during a write; the mode is
        // stored in the database file, so setting it once is enough. A host
        // whose database is remote may refuse it: carry on without it.
        match db.query("PRAGMA journal_mode=WAL", &[]) {
            Ok(_) | Err(DbError::Query(_)) => Ok(()),
            Err(other) => Err(other),
        }
    };
    // SQLite answers busy at once, without waiting, while another
    // connection holds a lock (concurrent first requests all migrate): then
    // the transaction below waits its turn, and the mode is set after it.
    let wal_pending = match dialect {
        Dialect::Sqlite => match wal() {
            Ok(()) => false,
            Err(DbError::Busy(_)) => true,
            Err(other) => return Err(other),
        },
        Dialect::Postgres => false,
    };
    let report = transaction(db, |tx| {
        if dialect == Dialect::Postgres {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[Value::Integer(PG_MIGRATION_LOCK)])?;
        }
        tx.execute(VERSION_TABLE, &[])?;
        let from = schema_version(tx)?;
        let mut applied = Vec::new();
        for migration in migrations.iter().filter(|m| Some(m.version) > from) {
            for statement in statements(migration.script(dialect)) {
                tx.execute(&statement, &[])?;
            }
            tx.execute(
                "INSERT INTO troupe_schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &[migration.version.into(), migration.name.into(), now_ms.into()],
            )?;
            applied.push(migration.version);
        }
        let to = applied.last().copied().or(from).unwrap_or(0);
        Ok(MigrationReport { from, applied, to })
    })?;
    if wal_pending {
        // Still busy means the other connection is still at work, and it
        // sets the mode itself.
        if let Err(e) = wal() {
            if !matches!(e, DbError::Busy(_)) {
                return Err(e);
            }
        }
    }
    Ok(report)
}

/// Split a script into statements at top-level semicolons, dropping `--`
/// comments (Spin's SQLite interface runs one statement per call).
pub fn statements(script: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut chars = script.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            current.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                current.push(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                for skipped in chars.by_ref() {
                    if skipped == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            ';' => {
                let statement = current.trim();
                if !statement.is_empty() {
                    statements.push(statement.to_owned());
                }
                current.clear();
            }
            _ => current.push(c),
        }
    }
    let rest = current.trim();
    if !rest.is_empty() {
        statements.push(rest.to_owned());
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_split_at_top_level_semicolons_without_comments() {
        let script = "-- a comment; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT 'a;b');\n\n\
                      INSERT INTO a VALUES ('it''s'); -- trailing\nSELECT 1";
        assert_eq!(
            statements(script),
            vec![
                "CREATE TABLE a (x TEXT DEFAULT 'a;b')".to_owned(),
                "INSERT INTO a VALUES ('it''s')".to_owned(),
                "SELECT 1".to_owned(),
            ]
        );
    }

    #[test]
    fn versions_increase_and_every_file_under_migrations_is_listed() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let mut files: Vec<String> = std::fs::read_dir(format!("{root}/{}", dialect.name()))
                .expect("migrations folder")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".sql"))
                .collect();
            files.sort();
            let listed: Vec<String> = MIGRATIONS.iter().map(|m| format!("{:04}_{}.sql", m.version, m.name)).collect();
            assert_eq!(files, listed, "migrations/{} and MIGRATIONS differ", dialect.name());
            assert!(MIGRATIONS.iter().all(|m| !statements(m.script(dialect)).is_empty()));
        }
    }
}
