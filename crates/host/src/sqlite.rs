//! `fermyon:spin/sqlite@2.0.0` with Spin's connection model.
//!
//! As in Spin, every `open` is its own SQLite connection, opened on the first
//! `execute` and kept for the life of the handle, so `BEGIN` ... `COMMIT`
//! across several `execute` calls on one handle works, and two handles lock
//! each other out the way two processes would (rusqlite's 5 s busy timeout
//! applies). `execute` prepares one statement: text after the first
//! statement is not run, exactly as in Spin.
//!
//! The `default` database is `<state dir>/sqlite_db.db`. Without a state
//! directory it is a file in a private temporary directory that lives as long
//! as the application, so that all handles share it (in Spin each in-memory
//! handle would see its own empty database, which no test could use). A
//! runtime configuration file may name other files, by label, `default`
//! included.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use rusqlite::{types::ValueRef, Connection};
use wasmtime::component::Resource;

use crate::bindings::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::instance::InstanceState;

/// Spin refuses more open connections than this per instance.
const MAX_CONNECTIONS: usize = 256;

/// The application's SQLite databases: each label's file.
#[derive(Debug, Clone)]
pub struct SqliteDatabases {
    paths: Arc<HashMap<String, PathBuf>>,
    /// Keeps the temporary directory of an application without state dir.
    _temporary: Option<Arc<tempfile::TempDir>>,
}

impl SqliteDatabases {
    /// Locates the default database in `state_dir`, or in a fresh temporary
    /// directory when there is none, unless `configured` names its file;
    /// and every database `configured` names.
    pub fn new(state_dir: Option<&Path>, configured: &BTreeMap<String, PathBuf>) -> anyhow::Result<Self> {
        let (default_path, temporary) = match state_dir {
            Some(dir) => (dir.join("sqlite_db.db"), None),
            None => {
                let dir = tempfile::Builder::new().prefix("troupe-host-sqlite-").tempdir()?;
                (dir.path().join("sqlite_db.db"), Some(Arc::new(dir)))
            }
        };
        let mut paths = HashMap::from([("default".to_owned(), default_path)]);
        paths.extend(configured.iter().map(|(label, path)| (label.clone(), path.clone())));
        Ok(Self { paths: Arc::new(paths), _temporary: temporary })
    }

    /// Whether a database has this label.
    pub fn contains(&self, label: &str) -> bool {
        self.paths.contains_key(label)
    }
}

/// Per-instance SQLite state.
#[derive(Debug)]
pub struct InstanceSqlite {
    databases: SqliteDatabases,
    allowed: Arc<[String]>,
    open_connections: usize,
}

impl InstanceSqlite {
    /// `allowed` is the component's `sqlite_databases`.
    pub fn new(databases: SqliteDatabases, allowed: Arc<[String]>) -> Self {
        Self { databases, allowed, open_connections: 0 }
    }
}

/// An open database handle held by a component.
#[derive(Debug)]
pub struct OpenConnection {
    path: PathBuf,
    /// Opened lazily on the first `execute`, like Spin's in-process client.
    connection: Arc<Mutex<Option<Connection>>>,
}

impl sqlite::Host for InstanceState {}

impl sqlite::HostConnection for InstanceState {
    async fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<OpenConnection>, Error>> {
        if !self.sqlite.allowed.contains(&database) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(path) = self.sqlite.databases.paths.get(&database).cloned() else {
            return Ok(Err(Error::NoSuchDatabase));
        };
        if self.sqlite.open_connections >= MAX_CONNECTIONS {
            return Ok(Err(Error::Io("too many connections opened".into())));
        }
        self.sqlite.open_connections += 1;
        let handle = OpenConnection { path, connection: Arc::new(Mutex::new(None)) };
        Ok(Ok(self.table.push(handle)?))
    }

    async fn execute(
        &mut self,
        connection: Resource<OpenConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let Ok(handle) = self.table.get(&connection) else {
            return Ok(Err(Error::InvalidConnection));
        };
        let path = handle.path.clone();
        let slot = handle.connection.clone();
        let outcome = tokio::task::spawn_blocking(move || -> Result<Result<QueryResult, Error>, InvalidText> {
            let mut slot = match slot.lock() {
                Ok(slot) => slot,
                Err(_) => return Ok(Err(Error::Io("connection lock poisoned".into()))),
            };
            let connection = match &mut *slot {
                Some(connection) => connection,
                None => match open_connection(&path) {
                    Ok(connection) => slot.insert(connection),
                    Err(e) => return Ok(Err(Error::Io(e.to_string()))),
                },
            };
            run(connection, &statement, parameters)
        })
        .await?;
        // Spin panics (and the guest traps) on TEXT that is not UTF-8.
        outcome.map_err(|InvalidText(column)| {
            wasmtime::Error::msg(format!("sqlite: column {column:?} holds TEXT that is not valid UTF-8"))
        })
    }

    async fn drop(&mut self, connection: Resource<OpenConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        self.sqlite.open_connections = self.sqlite.open_connections.saturating_sub(1);
        Ok(())
    }
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(parent) = path.parent() {
        // Spin creates the state directory when it builds the connection.
        let _exists_or_reported_below = std::fs::create_dir_all(parent);
    }
    Connection::open(path)
}

/// A cell whose TEXT is not UTF-8 (in that column).
struct InvalidText(String);

fn run(
    connection: &Connection,
    statement: &str,
    parameters: Vec<Value>,
) -> Result<Result<QueryResult, Error>, InvalidText> {
    let io = |e: rusqlite::Error| Error::Io(e.to_string());
    let mut prepared = match connection.prepare_cached(statement) {
        Ok(prepared) => prepared,
        Err(e) => return Ok(Err(io(e))),
    };
    let columns: Vec<String> = prepared.column_names().into_iter().map(str::to_owned).collect();
    let parameters = parameters.into_iter().map(|value| match value {
        Value::Integer(i) => rusqlite::types::Value::Integer(i),
        Value::Real(r) => rusqlite::types::Value::Real(r),
        Value::Text(t) => rusqlite::types::Value::Text(t),
        Value::Blob(b) => rusqlite::types::Value::Blob(b),
        Value::Null => rusqlite::types::Value::Null,
    });
    let mut rows = match prepared.query(rusqlite::params_from_iter(parameters)) {
        Ok(rows) => rows,
        Err(e) => return Ok(Err(io(e))),
    };
    let mut result = Vec::new();
    loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => return Ok(Err(io(e))),
        };
        let mut values = Vec::with_capacity(columns.len());
        for (index, column) in columns.iter().enumerate() {
            let value = match row.get_ref(index) {
                Ok(value) => value,
                Err(e) => return Ok(Err(io(e))),
            };
            values.push(match value {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::Integer(i),
                ValueRef::Real(r) => Value::Real(r),
                ValueRef::Text(t) => {
                    Value::Text(String::from_utf8(t.to_vec()).map_err(|_| InvalidText(column.clone()))?)
                }
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        result.push(RowResult { values });
    }
    Ok(Ok(QueryResult { columns, rows: result }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_with_their_storage_class() {
        let connection = Connection::open_in_memory().expect("db");
        let result = run(
            &connection,
            "SELECT ?1 AS i, ?2 AS r, ?3 AS t, ?4 AS b, ?5 AS n",
            vec![Value::Integer(7), Value::Real(1.5), Value::Text("x".into()), Value::Blob(vec![1, 2]), Value::Null],
        )
        .ok()
        .expect("valid text")
        .expect("query runs");
        assert_eq!(result.columns, ["i", "r", "t", "b", "n"]);
        assert_eq!(
            result.rows[0].values,
            [Value::Integer(7), Value::Real(1.5), Value::Text("x".into()), Value::Blob(vec![1, 2]), Value::Null]
        );
    }

    #[test]
    fn syntax_error_is_an_io_error_with_sqlites_message() {
        let connection = Connection::open_in_memory().expect("db");
        let error = run(&connection, "SELEC 1", vec![]).ok().expect("no text").expect_err("fails");
        assert!(matches!(&error, Error::Io(message) if message.contains("syntax error")), "{error:?}");
    }
}
