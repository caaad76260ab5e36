//! The SQL port: one API over SQLite and Postgres.

use crate::{Rows, Value};

/// Which SQL dialect a [`Database`] speaks. Statements are written in the
/// common subset; the few places that differ (migrations, `BEGIN`) ask this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.35 or later (for `RETURNING`).
    Sqlite,
    /// PostgreSQL 12 or later.
    Postgres,
}

impl Dialect {
    /// The folder under `migrations/` holding this dialect's files.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    /// The statement that opens a read-write transaction.
    ///
    /// SQLite's plain `BEGIN` takes the write lock only at the first write,
    /// so two such transactions that both read first deadlock into
    /// `SQLITE_BUSY`; `BEGIN IMMEDIATE` takes it up front and the second
    /// writer waits for the busy timeout instead.
    pub fn begin(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }
}

/// Why a statement failed, classified so that callers can answer precisely
/// (a duplicate email is a 409, a busy database a 503).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DbError {
    /// A unique constraint was violated.
    #[error("unique constraint violated: {0}")]
    Conflict(String),
    /// The database is locked or a transaction had to be aborted; retrying
    /// later may succeed.
    #[error("database busy: {0}")]
    Busy(String),
    /// The database cannot be reached or opened, or access was refused.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The schema is not what this code expects (a migration is missing).
    #[error("schema mismatch: {0}")]
    Schema(String),
    /// Any other failure of a statement.
    #[error("query failed: {0}")]
    Query(String),
    /// A value did not have the expected type.
    #[error("cannot decode: {0}")]
    Decode(String),
}

impl DbError {
    /// Classify a driver's error message. Spin's SQLite and Postgres
    /// interfaces report failures as text, so this is where the two dialects'
    /// wordings (and Postgres SQLSTATE codes, when present) are recognised.
    pub fn from_message(message: impl Into<String>) -> Self {
        let message = message.into();
        let lower = message.to_ascii_lowercase();
        let any = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
        if any(&["unique constraint failed", "duplicate key value", "23505"]) {
            DbError::Conflict(message)
        } else if any(&[
            "database is locked",
            "database table is locked",
            "database is busy",
            "could not serialize access",
            "deadlock detected",
            "40001",
            "40p01",
        ]) {
            DbError::Busy(message)
        } else if any(&["no such table", "no such column", "does not exist", "42p01", "42703"]) {
            DbError::Schema(message)
        } else {
            DbError::Query(message)
        }
    }

    /// Whether retrying the same work later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, DbError::Busy(_) | DbError::Unavailable(_))
    }
}

/// A connection to the application's database.
///
/// Statements use `$1, $2, …` placeholders on both dialects (adapters for
/// SQLite rewrite them with [`sqlite_placeholders`]). Writes that need to
/// know what they touched use `RETURNING`, which both dialects support, so
/// that the port needs no "rows affected" count (Spin's SQLite interface does
/// not report one).
pub trait Database {
    /// The dialect of this connection.
    fn dialect(&self) -> Dialect;

    /// Run a statement that returns no rows.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), DbError>;

    /// Run a statement and return its rows.
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError>;
}

impl<D: Database + ?Sized> Database for &D {
    fn dialect(&self) -> Dialect {
        (**self).dialect()
    }
    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), DbError> {
        (**self).execute(sql, params)
    }
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        (**self).query(sql, params)
    }
}

/// Run `work` inside a read-write transaction: commit when it returns `Ok`,
/// roll back when it returns `Err`.
pub fn transaction<T, E>(db: &dyn Database, work: impl FnOnce(&dyn Database) -> Result<T, E>) -> Result<T, E>
where
    E: From<DbError>,
{
    db.execute(db.dialect().begin(), &[])?;
    match work(db) {
        Ok(value) => {
            db.execute("COMMIT", &[])?;
            Ok(value)
        }
        Err(error) => {
            // The work's error is what the caller must see, whatever the
            // rollback says: should it fail too, the connection is beyond use,
            // and both databases roll back an open transaction when the
            // connection closes, which happens when the request's instance ends.
            match db.execute("ROLLBACK", &[]) {
                Ok(()) | Err(_) => Err(error),
            }
        }
    }
}

/// Rewrite Postgres-style `$N` placeholders as SQLite's `?N`.
///
/// SQLite reads `$1` as a *named* parameter and numbers named parameters by
/// first appearance, so `… $2 … $1` would bind in the wrong order; `?N` is
/// SQLite's explicitly numbered form. Quoted strings and identifiers are left
/// alone.
pub fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) => out.push('?'),
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_sqlite_outside_quotes() {
        assert_eq!(
            sqlite_placeholders("SELECT $2, '$1', \"$3\" FROM t WHERE a = $1 AND b = $10"),
            "SELECT ?2, '$1', \"$3\" FROM t WHERE a = ?1 AND b = ?10"
        );
        assert_eq!(sqlite_placeholders("SELECT '$' || $1"), "SELECT '$' || ?1");
    }

    #[test]
    fn driver_messages_are_classified_for_both_dialects() {
        use DbError::*;
        let cases = [
            ("UNIQUE constraint failed: users.email_key", Conflict(String::new())),
            ("db error: ERROR: duplicate key value violates unique constraint \"x\"", Conflict(String::new())),
            ("database is locked", Busy(String::new())),
            ("ERROR: could not serialize access due to concurrent update", Busy(String::new())),
            ("no such table: users", Schema(String::new())),
            ("ERROR: relation \"users\" does not exist", Schema(String::new())),
            ("near \"SELEC\": syntax error", Query(String::new())),
        ];
        for (message, expected) in cases {
            let got = DbError::from_message(message);
            assert_eq!(std::mem::discriminant(&got), std::mem::discriminant(&expected), "{message} → {got:?}");
        }
        assert!(DbError::Busy("x".into()).is_transient());
        assert!(!DbError::Conflict("x".into()).is_transient());
    }

    #[test]
    fn each_dialect_opens_transactions_its_own_way() {
        assert_eq!(Dialect::Sqlite.begin(), "BEGIN IMMEDIATE");
        assert_eq!(Dialect::Postgres.begin(), "BEGIN");
        assert_eq!(Dialect::Postgres.name(), "postgres");
    }
}
