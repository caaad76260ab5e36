//! Native implementations of [`troupe_store::Database`]: SQLite through
//! rusqlite and Postgres through the `postgres` crate.
//!
//! The components reach their database through Spin; these adapters give
//! the same storage code a real database outside Wasm, for the storage tests
//! and for `troupe-migrate`, which applies the migrations to a managed
//! Postgres out of band.

use std::cell::RefCell;

use troupe_store::{sqlite_placeholders, Database, DbError, Dialect, Rows, Value};

/// A SQLite database file, opened the way Spin opens its default database.
pub struct Sqlite {
    conn: rusqlite::Connection,
}

impl Sqlite {
    /// Open (creating if needed) the database at `path`.
    pub fn open(path: &std::path::Path) -> Result<Self, DbError> {
        let conn = rusqlite::Connection::open(path).map_err(|e| DbError::Unavailable(e.to_string()))?;
        Ok(Self { conn })
    }

    /// A private in-memory database.
    pub fn memory() -> Result<Self, DbError> {
        let conn = rusqlite::Connection::open_in_memory().map_err(|e| DbError::Unavailable(e.to_string()))?;
        Ok(Self { conn })
    }
}

fn to_sql(value: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match value {
        Value::Null => V::Null,
        Value::Integer(v) => V::Integer(*v),
        Value::Real(v) => V::Real(*v),
        Value::Text(v) => V::Text(v.clone()),
        Value::Blob(v) => V::Blob(v.clone()),
    }
}

fn from_sql(value: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef as V;
    match value {
        V::Null => Value::Null,
        V::Integer(v) => Value::Integer(v),
        V::Real(v) => Value::Real(v),
        V::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
        V::Blob(v) => Value::Blob(v.to_vec()),
    }
}

impl Database for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), DbError> {
        self.query(sql, params).map(drop)
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let classify = |e: rusqlite::Error| DbError::from_message(e.to_string());
        let mut statement = self.conn.prepare(&sqlite_placeholders(sql)).map_err(classify)?;
        let columns: Vec<String> = statement.column_names().into_iter().map(str::to_owned).collect();
        let params: Vec<rusqlite::types::Value> = params.iter().map(to_sql).collect();
        let mut rows = statement.query(rusqlite::params_from_iter(params)).map_err(classify)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(classify)? {
            let values = (0..columns.len())
                .map(|i| row.get_ref(i).map(from_sql))
                .collect::<Result<Vec<_>, _>>()
                .map_err(classify)?;
            out.push(values);
        }
        Ok(Rows::new(columns, out))
    }
}

/// A Postgres connection.
pub struct Postgres {
    client: RefCell<postgres::Client>,
}

impl Postgres {
    /// Connect to `url` (`sslmode=disable` is required: this adapter speaks
    /// plain TCP, as the local test server needs).
    pub fn connect(url: &str) -> Result<Self, DbError> {
        let client =
            postgres::Client::connect(url, postgres::NoTls).map_err(|e| DbError::Unavailable(e.to_string()))?;
        Ok(Self { client: RefCell::new(client) })
    }
}

fn pg_error(error: postgres::Error) -> DbError {
    match error.as_db_error() {
        Some(db) => DbError::from_message(format!("{} (SQLSTATE {})", db.message(), db.code().code())),
        None => DbError::from_message(error.to_string()),
    }
}

fn pg_params(params: &[Value]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    params
        .iter()
        .map(|value| -> Box<dyn postgres::types::ToSql + Sync> {
            match value {
                Value::Null => Box::new(None::<String>),
                Value::Integer(v) => Box::new(*v),
                Value::Real(v) => Box::new(*v),
                Value::Text(v) => Box::new(v.clone()),
                Value::Blob(v) => Box::new(v.clone()),
            }
        })
        .collect()
}

fn pg_value(row: &postgres::Row, index: usize) -> Result<Value, DbError> {
    use postgres::types::Type;
    let decode = |e: postgres::Error| DbError::Decode(e.to_string());
    let ty = row.columns()[index].type_().clone();
    Ok(match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(index).map_err(decode)?.map_or(Value::Null, Value::Integer),
        Type::INT4 => {
            row.try_get::<_, Option<i32>>(index).map_err(decode)?.map_or(Value::Null, |v| Value::Integer(v.into()))
        }
        Type::INT2 => {
            row.try_get::<_, Option<i16>>(index).map_err(decode)?.map_or(Value::Null, |v| Value::Integer(v.into()))
        }
        Type::BOOL => {
            row.try_get::<_, Option<bool>>(index).map_err(decode)?.map_or(Value::Null, |v| Value::Integer(v.into()))
        }
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(index).map_err(decode)?.map_or(Value::Null, Value::Real),
        Type::FLOAT4 => {
            row.try_get::<_, Option<f32>>(index).map_err(decode)?.map_or(Value::Null, |v| Value::Real(v.into()))
        }
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(index).map_err(decode)?.map_or(Value::Null, Value::Blob),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            row.try_get::<_, Option<String>>(index).map_err(decode)?.map_or(Value::Null, Value::Text)
        }
        other => return Err(DbError::Decode(format!("unsupported column type {other}"))),
    })
}

impl Database for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), DbError> {
        let params = pg_params(params);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(AsRef::as_ref).collect();
        self.client.borrow_mut().execute(sql, &refs).map(drop).map_err(pg_error)
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let params = pg_params(params);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(AsRef::as_ref).collect();
        let mut client = self.client.borrow_mut();
        let statement = client.prepare(sql).map_err(pg_error)?;
        let columns = statement.columns().iter().map(|c| c.name().to_owned()).collect();
        let rows = client.query(&statement, &refs).map_err(pg_error)?;
        let rows = rows
            .iter()
            .map(|row| (0..row.len()).map(|i| pg_value(row, i)).collect::<Result<Vec<_>, _>>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rows::new(columns, rows))
    }
}

/// Open the database a URL names: `postgres://…` or `sqlite:<path>`.
pub fn open(url: &str) -> Result<Box<dyn Database>, DbError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(Postgres::connect(url)?))
    } else if let Some(path) = url.strip_prefix("sqlite:") {
        Ok(Box::new(Sqlite::open(std::path::Path::new(path))?))
    } else {
        Err(DbError::Unavailable(format!("unsupported database URL {url:?}: use postgres://… or sqlite:<path>")))
    }
}
