//! [`Database`] over Spin's SQLite and outbound Postgres interfaces.
//!
//! SQLite is the `sqlite` feature: a build without it imports no
//! `fermyon:spin/sqlite` interface at all, for hosts that offer none
//! (Akamai Functions), and needs `database_url` to name a Postgres server.

use std::cell::Cell;

use spin_sdk::pg;
#[cfg(feature = "sqlite")]
use spin_sdk::sqlite;
#[cfg(feature = "sqlite")]
use troupe_store::sqlite_placeholders;
use troupe_store::{ensure_migrated, Database, DbError, Dialect, Rows, Value};

/// A connection to the application's database, as configured for this
/// component.
///
/// Opening costs no statement. The schema is brought up to date by the
/// readiness check ([`SpinDatabase::migrate`]) and before the connection's
/// first transaction (`BEGIN`), whose statements must not fail halfway for
/// want of a table; a statement outside a transaction runs at once, and if
/// it finds the schema behind (a missing table or column: nothing was read
/// or changed), the schema is migrated and the statement run once more. So
/// a request that reads, or writes with one statement (a refresh token's
/// rotation), pays for no migration check. On SQLite the connection's first
/// write is preceded by `PRAGMA synchronous=NORMAL`.
pub struct SpinDatabase {
    connection: Connection,
    /// Whether `PRAGMA synchronous=NORMAL` has run (Postgres has nothing to
    /// tune).
    #[cfg(feature = "sqlite")]
    tuned: Cell<bool>,
    /// Whether this connection has checked the schema (and migrated it).
    checked: Cell<bool>,
}

enum Connection {
    /// Spin's built-in SQLite database `default`.
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::Connection),
    /// A Postgres server, through `fermyon:spin/postgres@2.0.0`.
    Postgres(pg::Connection),
}

/// Open the database named by the `database_url` variable (empty: Spin's
/// SQLite database `default`).
pub fn database() -> Result<SpinDatabase, DbError> {
    let connection = match crate::variable("database_url") {
        None => open_sqlite()?,
        Some(url) => {
            Connection::Postgres(pg::Connection::open(&url).map_err(|e| DbError::Unavailable(pg_message(&e)))?)
        }
    };
    Ok(SpinDatabase {
        connection,
        #[cfg(feature = "sqlite")]
        tuned: Cell::new(false),
        checked: Cell::new(false),
    })
}

#[cfg(feature = "sqlite")]
fn open_sqlite() -> Result<Connection, DbError> {
    sqlite::Connection::open_default().map(Connection::Sqlite).map_err(|e| DbError::Unavailable(format!("{e:?}")))
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite() -> Result<Connection, DbError> {
    Err(DbError::Unavailable(
        "this build has no SQLite (built without the `sqlite` feature): set database_url to a postgres:// URL".into(),
    ))
}

impl SpinDatabase {
    /// Bring the schema up to date now (readiness checks do; requests let
    /// their first transaction, or a statement that finds it behind, do it).
    pub fn migrate(&self) -> Result<(), DbError> {
        self.check_schema()
    }

    /// Check the schema once per connection, migrating it if it is behind.
    /// The migration's own statements (and its `BEGIN`) run as checked.
    fn check_schema(&self) -> Result<(), DbError> {
        if self.checked.replace(true) {
            return Ok(());
        }
        let outcome = ensure_migrated(self, crate::now_ms());
        if outcome.is_err() {
            self.checked.set(false);
        }
        outcome
    }

    /// Before the connection's first write: tune SQLite for WAL commits.
    fn tune(&self) {
        #[cfg(feature = "sqlite")]
        if let Connection::Sqlite(conn) = &self.connection {
            if self.tuned.replace(true) {
                return;
            }
            // Durable at every commit in WAL mode, without an fsync per
            // transaction. A host whose database is remote may refuse it.
            if let Err(refused) = conn.execute("PRAGMA synchronous=NORMAL", &[]) {
                crate::warn(
                    "sqlite",
                    &format!("PRAGMA synchronous=NORMAL refused, continuing without it: {refused:?}"),
                );
            }
        }
    }

    /// Run `sql` as described on [`SpinDatabase`]: `run` does the work.
    fn statement<T>(&self, sql: &str, run: impl Fn() -> Result<T, DbError>) -> Result<T, DbError> {
        if !reads_only(sql) {
            self.tune();
        }
        if begins_transaction(sql) {
            self.check_schema()?;
        }
        match run() {
            // Not yet checked means no transaction is open on this
            // connection: the migration can run, then the statement again.
            Err(DbError::Schema(_)) if !self.checked.get() => {
                self.check_schema()?;
                run()
            }
            other => other,
        }
    }

    fn run(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        match &self.connection {
            #[cfg(feature = "sqlite")]
            Connection::Sqlite(conn) => {
                let params: Vec<_> = params.iter().map(sqlite_value).collect();
                let result = conn.execute(&sqlite_placeholders(sql), &params).map_err(|e| match e {
                    sqlite::Error::Io(message) => DbError::from_message(message),
                    other => DbError::Unavailable(format!("{other:?}")),
                })?;
                let rows =
                    result.rows.into_iter().map(|row| row.values.into_iter().map(from_sqlite).collect()).collect();
                Ok(Rows::new(result.columns, rows))
            }
            Connection::Postgres(conn) => {
                let params: Vec<_> = params.iter().map(pg_param).collect();
                let set = conn.query(sql, &params).map_err(pg_error)?;
                let columns = set.columns.into_iter().map(|c| c.name).collect();
                let rows = set
                    .rows
                    .into_iter()
                    .map(|row| row.into_iter().map(from_pg).collect::<Result<Vec<_>, _>>())
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Rows::new(columns, rows))
            }
        }
    }
}

/// Whether `sql` only reads (`SELECT …`): everything else is a write.
fn reads_only(sql: &str) -> bool {
    starts_with_word(sql, "select")
}

/// Whether `sql` opens a transaction (`BEGIN …`).
fn begins_transaction(sql: &str) -> bool {
    starts_with_word(sql, "begin")
}

fn starts_with_word(sql: &str, word: &str) -> bool {
    sql.trim_start().get(..word.len()).is_some_and(|start| start.eq_ignore_ascii_case(word))
}

fn pg_message(error: &pg::PgError) -> String {
    match error {
        pg::PgError::ConnectionFailed(m)
        | pg::PgError::BadParameter(m)
        | pg::PgError::QueryFailed(m)
        | pg::PgError::ValueConversionFailed(m)
        | pg::PgError::Other(m) => m.clone(),
    }
}

fn pg_error(error: pg::PgError) -> DbError {
    match error {
        pg::PgError::ConnectionFailed(m) => DbError::Unavailable(m),
        other => DbError::from_message(pg_message(&other)),
    }
}

#[cfg(feature = "sqlite")]
fn sqlite_value(value: &Value) -> sqlite::Value {
    match value {
        Value::Null => sqlite::Value::Null,
        Value::Integer(v) => sqlite::Value::Integer(*v),
        Value::Real(v) => sqlite::Value::Real(*v),
        Value::Text(v) => sqlite::Value::Text(v.clone()),
        Value::Blob(v) => sqlite::Value::Blob(v.clone()),
    }
}

#[cfg(feature = "sqlite")]
fn from_sqlite(value: sqlite::Value) -> Value {
    match value {
        sqlite::Value::Null => Value::Null,
        sqlite::Value::Integer(v) => Value::Integer(v),
        sqlite::Value::Real(v) => Value::Real(v),
        sqlite::Value::Text(v) => Value::Text(v),
        sqlite::Value::Blob(v) => Value::Blob(v),
    }
}

fn pg_param(value: &Value) -> pg::ParameterValue {
    match value {
        Value::Null => pg::ParameterValue::DbNull,
        Value::Integer(v) => pg::ParameterValue::Int64(*v),
        Value::Real(v) => pg::ParameterValue::Floating64(*v),
        Value::Text(v) => pg::ParameterValue::Str(v.clone()),
        Value::Blob(v) => pg::ParameterValue::Binary(v.clone()),
    }
}

fn from_pg(value: pg::DbValue) -> Result<Value, DbError> {
    use pg::DbValue as V;
    Ok(match value {
        V::DbNull => Value::Null,
        V::Boolean(v) => Value::Integer(v.into()),
        V::Int8(v) => Value::Integer(v.into()),
        V::Int16(v) => Value::Integer(v.into()),
        V::Int32(v) => Value::Integer(v.into()),
        V::Int64(v) => Value::Integer(v),
        V::Uint8(v) => Value::Integer(v.into()),
        V::Uint16(v) => Value::Integer(v.into()),
        V::Uint32(v) => Value::Integer(v.into()),
        V::Uint64(v) => Value::Integer(i64::try_from(v).map_err(|e| DbError::Decode(e.to_string()))?),
        V::Floating32(v) => Value::Real(v.into()),
        V::Floating64(v) => Value::Real(v),
        V::Str(v) => Value::Text(v),
        V::Binary(v) => Value::Blob(v),
        V::Unsupported => return Err(DbError::Decode("a column type postgres@2.0.0 cannot carry".into())),
    })
}

impl Database for SpinDatabase {
    fn dialect(&self) -> Dialect {
        match self.connection {
            #[cfg(feature = "sqlite")]
            Connection::Sqlite(_) => Dialect::Sqlite,
            Connection::Postgres(_) => Dialect::Postgres,
        }
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), DbError> {
        match &self.connection {
            // Postgres `execute` reads no rows back: a statement whose result
            // column has a type postgres@2.0.0 cannot carry (`SELECT
            // pg_advisory_xact_lock(…)` returns void) must go this way.
            Connection::Postgres(conn) => {
                let params: Vec<_> = params.iter().map(pg_param).collect();
                self.statement(sql, || conn.execute(sql, &params).map(drop).map_err(pg_error))
            }
            #[cfg(feature = "sqlite")]
            Connection::Sqlite(_) => self.query(sql, params).map(drop),
        }
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        self.statement(sql, || self.run(sql, params))
    }
}
