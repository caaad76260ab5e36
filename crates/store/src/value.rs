//! Values bound to statements and read back from rows.

use crate::DbError;

/// A value bound to a statement or read from a row.
///
/// Only the types both SQLite and Postgres (through Spin's `postgres@2.0.0`
/// interface) carry faithfully: 64-bit integers, doubles, text and bytes.
/// Schemas use `BIGINT`, `DOUBLE PRECISION`, `TEXT` and `BYTEA`/`BLOB` only;
/// times are Unix milliseconds and booleans are `0`/`1`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A 64-bit signed integer (`BIGINT`, SQLite `INTEGER`).
    Integer(i64),
    /// A double (`DOUBLE PRECISION`, SQLite `REAL`).
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes (`BYTEA`, SQLite `BLOB`).
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Integer(i64::from(v))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Integer(i64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Conversion from a column value to a Rust type.
pub trait FromValue: Sized {
    /// Convert, or describe the mismatch.
    fn from_value(value: &Value) -> Result<Self, String>;
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Integer(v) => Ok(*v),
            // Some aggregates come back as doubles or text on one dialect.
            Value::Real(v) if v.fract() == 0.0 => Ok(*v as i64),
            Value::Text(s) => s.parse().map_err(|_| format!("expected an integer, got text {s:?}")),
            other => Err(format!("expected an integer, got {other:?}")),
        }
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Real(v) => Ok(*v),
            Value::Integer(v) => Ok(*v as f64),
            other => Err(format!("expected a number, got {other:?}")),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, String> {
        i64::from_value(value).map(|v| v != 0)
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            other => Err(format!("expected text, got {other:?}")),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Blob(b) => Ok(b.clone()),
            other => Err(format!("expected bytes, got {other:?}")),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// The rows a query returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

impl Rows {
    /// Rows with the given column names; every row has one value per column.
    pub fn new(columns: Vec<String>, rows: Vec<Vec<Value>>) -> Self {
        Self { columns, rows }
    }

    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// How many rows there are.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row came back.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows, in order.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(move |values| Row { columns: &self.columns, values })
    }

    /// The first row, if any.
    pub fn first(&self) -> Option<Row<'_>> {
        self.iter().next()
    }
}

/// One row of [`Rows`], read by column name.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl Row<'_> {
    /// The value of `column`, converted.
    pub fn get<T: FromValue>(&self, column: &str) -> Result<T, DbError> {
        let index = self
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(column))
            .ok_or_else(|| DbError::Decode(format!("no column `{column}` in the result")))?;
        let value = self.values.get(index).unwrap_or(&Value::Null);
        T::from_value(value).map_err(|e| DbError::Decode(format!("column `{column}`: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Rows {
        Rows::new(
            vec!["id".into(), "n".into(), "blob".into(), "gone".into()],
            vec![vec![Value::from("a"), Value::Integer(3), Value::Blob(vec![1]), Value::Null]],
        )
    }

    #[test]
    fn columns_are_read_by_name_case_insensitively() {
        let rows = rows();
        let row = rows.first().expect("one row");
        assert_eq!(row.get::<String>("ID").expect("id"), "a");
        assert_eq!(row.get::<i64>("n").expect("n"), 3);
        assert_eq!(row.get::<Vec<u8>>("blob").expect("blob"), vec![1]);
        assert_eq!(row.get::<Option<String>>("gone").expect("null"), None);
        assert!(row.get::<bool>("n").expect("bool"));
    }

    #[test]
    fn a_missing_column_or_a_wrong_type_is_a_decode_error() {
        let rows = rows();
        let row = rows.first().expect("one row");
        assert!(matches!(row.get::<i64>("nope"), Err(DbError::Decode(_))));
        assert!(matches!(row.get::<i64>("blob"), Err(DbError::Decode(_))));
        assert!(matches!(row.get::<String>("n"), Err(DbError::Decode(_))));
    }

    #[test]
    fn conversions_into_values_cover_options_and_primitives() {
        assert_eq!(Value::from(None::<i64>), Value::Null);
        assert_eq!(Value::from(Some("x")), Value::Text("x".into()));
        assert_eq!(Value::from(true), Value::Integer(1));
        assert_eq!(Value::from(7u32), Value::Integer(7));
        assert_eq!(Value::from(1.5), Value::Real(1.5));
        assert_eq!(i64::from_value(&Value::Real(4.0)), Ok(4));
        assert_eq!(i64::from_value(&Value::Text("12".into())), Ok(12));
        assert_eq!(f64::from_value(&Value::Integer(2)), Ok(2.0));
    }
}
