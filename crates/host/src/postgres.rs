//! `fermyon:spin/postgres@2.0.0` (with `rdbms-types`) on tokio-postgres,
//! following Spin's implementation of that interface:
//!
//! * the address must be allowed by `allowed_outbound_hosts`
//!   (`postgres://host:port`, default port 5432);
//! * `sslmode=disable` connects in plain text; anything else uses TLS with
//!   certificate verification against the Mozilla roots (rustls), so a server
//!   with a self-signed certificate is refused, as by Spin;
//! * connections come from an application-wide pool per address
//!   (deadpool-postgres, 64 connections, `RecyclingMethod::Clean`), and a
//!   handle keeps one connection until it is dropped, so a transaction can
//!   span several calls on one handle;
//! * values convert as in Spin: unsigned integers are refused, `int8` is
//!   PostgreSQL's one-byte `"char"`, types beyond the basic ones come back as
//!   `unsupported`, and a query with no rows returns no columns.

use std::{
    collections::HashMap,
    error::Error as StdError,
    sync::{Arc, Mutex},
};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::{
    config::{Host, SslMode},
    types::{to_sql_checked, FromSql, IsNull, ToSql, Type},
    NoTls, Row,
};
use wasmtime::component::Resource;

use crate::allowed_hosts::AllowedHosts;
use crate::bindings::spin::{
    postgres,
    rdbms_types::{self, Column, DbDataType, DbValue, Error, ParameterValue, RowSet},
};
use crate::instance::InstanceState;

/// Connections per address, as in Spin.
const POOL_SIZE: usize = 64;

/// The application's connection pools, keyed by the exact address string.
#[derive(Clone, Default)]
pub struct PostgresPools {
    pools: Arc<Mutex<HashMap<String, Pool>>>,
}

impl std::fmt::Debug for PostgresPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresPools").finish_non_exhaustive()
    }
}

impl PostgresPools {
    fn pool(&self, address: &str, config: tokio_postgres::Config) -> Result<Pool, Error> {
        let mut pools = self.pools.lock().map_err(|_| Error::Other("postgres pool lock poisoned".into()))?;
        if let Some(pool) = pools.get(address) {
            return Ok(pool.clone());
        }
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Clean };
        let manager = if config.get_ssl_mode() == SslMode::Disable {
            Manager::from_config(config, NoTls, manager_config)
        } else {
            Manager::from_config(config, tls_connector()?, manager_config)
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| Error::ConnectionFailed(format!("building Postgres connection pool: {e:?}")))?;
        pools.insert(address.to_owned(), pool.clone());
        Ok(pool)
    }
}

/// TLS that verifies the server certificate against the Mozilla root set.
fn tls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, Error> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::ConnectionFailed(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Per-instance Postgres state.
#[derive(Debug)]
pub struct InstancePostgres {
    pools: PostgresPools,
    allowed: Arc<AllowedHosts>,
}

impl InstancePostgres {
    /// `allowed` is the component's resolved `allowed_outbound_hosts`.
    pub fn new(pools: PostgresPools, allowed: Arc<AllowedHosts>) -> Self {
        Self { pools, allowed }
    }
}

/// An open connection held by a component: one pooled client.
pub struct OpenConnection {
    client: Object,
}

impl std::fmt::Debug for OpenConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenConnection").finish_non_exhaustive()
    }
}

/// Checks every host of the address against the allowed hosts, with Spin's
/// error text.
fn check_allowed(config: &tokio_postgres::Config, allowed: &AllowedHosts) -> Result<(), Error> {
    let ports = config.get_ports();
    for (index, host) in config.get_hosts().iter().enumerate() {
        // tokio-postgres takes one port for all hosts or one per host.
        let port = match ports.len() {
            0 => 5432,
            1 => ports[0],
            _ => ports.get(index).copied().unwrap_or(5432),
        };
        match host {
            Host::Tcp(name) => {
                if !allowed.allows("postgres", name, Some(port)) {
                    return Err(Error::ConnectionFailed(format!("address postgres://{name}:{port} is not permitted")));
                }
            }
            #[cfg(unix)]
            Host::Unix(_) => {
                return Err(Error::ConnectionFailed("Unix sockets are not supported on WebAssembly".into()))
            }
        }
    }
    Ok(())
}

impl rdbms_types::Host for InstanceState {}
impl postgres::Host for InstanceState {}

impl postgres::HostConnection for InstanceState {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<OpenConnection>, Error>> {
        let config = match address.parse::<tokio_postgres::Config>() {
            Ok(config) => config,
            Err(e) => return Ok(Err(Error::ConnectionFailed(format!("parsing Postgres connection string: {e:?}")))),
        };
        if let Err(e) = check_allowed(&config, &self.postgres.allowed) {
            return Ok(Err(e));
        }
        let pool = match self.postgres.pools.pool(&address, config) {
            Ok(pool) => pool,
            Err(e) => return Ok(Err(e)),
        };
        match pool.get().await {
            Ok(client) => Ok(Ok(self.table.push(OpenConnection { client })?)),
            Err(e) => Ok(Err(Error::ConnectionFailed(describe(&e)))),
        }
    }

    async fn query(
        &mut self,
        connection: Resource<OpenConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let params = match to_sql_parameters(params) {
            Ok(params) => params,
            Err(e) => return Ok(Err(e)),
        };
        let client = &self.table.get(&connection)?.client;
        let refs = as_refs(&params);
        let rows = match client.query(&statement, &refs).await {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(Error::QueryFailed(format!("{e:?}")))),
        };
        Ok(convert_rows(&rows))
    }

    async fn execute(
        &mut self,
        connection: Resource<OpenConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let params = match to_sql_parameters(params) {
            Ok(params) => params,
            Err(e) => return Ok(Err(e)),
        };
        let client = &self.table.get(&connection)?.client;
        let refs = as_refs(&params);
        Ok(client.execute(&statement, &refs).await.map_err(|e| Error::QueryFailed(format!("{e:?}"))))
    }

    async fn drop(&mut self, connection: Resource<OpenConnection>) -> wasmtime::Result<()> {
        // Dropping the pooled object returns the connection to its pool.
        self.table.delete(connection)?;
        Ok(())
    }
}

/// An error and its causes, in the Debug form Spin reports.
fn describe(error: &dyn StdError) -> String {
    format!("{error:?}")
}

type SqlParameter = Box<dyn ToSql + Send + Sync>;

/// The borrowed form tokio-postgres takes parameters in.
fn as_refs(params: &[SqlParameter]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

fn to_sql_parameters(params: Vec<ParameterValue>) -> Result<Vec<SqlParameter>, Error> {
    params
        .into_iter()
        .map(|value| -> Result<SqlParameter, Error> {
            Ok(match value {
                ParameterValue::Boolean(v) => Box::new(v),
                ParameterValue::Int8(v) => Box::new(v),
                ParameterValue::Int16(v) => Box::new(v),
                ParameterValue::Int32(v) => Box::new(v),
                ParameterValue::Int64(v) => Box::new(v),
                ParameterValue::Floating32(v) => Box::new(v),
                ParameterValue::Floating64(v) => Box::new(v),
                ParameterValue::Str(v) => Box::new(v),
                ParameterValue::Binary(v) => Box::new(v),
                ParameterValue::DbNull => Box::new(PgNull),
                ParameterValue::Uint8(_)
                | ParameterValue::Uint16(_)
                | ParameterValue::Uint32(_)
                | ParameterValue::Uint64(_) => {
                    return Err(Error::ValueConversionFailed("Postgres does not support unsigned integers".into()))
                }
            })
        })
        .collect()
}

/// A NULL parameter that fits a column of any type.
#[derive(Debug)]
struct PgNull;

impl ToSql for PgNull {
    fn to_sql(&self, _: &Type, _: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Any value, read only to tell NULL from not NULL.
struct AnyValue;

impl<'a> FromSql<'a> for AnyValue {
    fn from_sql(_: &Type, _: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Self)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn data_type(pg: &Type) -> DbDataType {
    match *pg {
        Type::BOOL => DbDataType::Boolean,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        _ => DbDataType::Other,
    }
}

fn convert_rows(rows: &[Row]) -> Result<RowSet, Error> {
    // Spin takes the columns from the first row: no rows, no columns.
    let Some(first) = rows.first() else {
        return Ok(RowSet { columns: vec![], rows: vec![] });
    };
    let columns =
        first.columns().iter().map(|c| Column { name: c.name().to_owned(), data_type: data_type(c.type_()) }).collect();
    let rows = rows
        .iter()
        .map(|row| (0..row.len()).map(|index| convert_value(row, index)).collect())
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(|e| Error::QueryFailed(format!("{e:?}")))?;
    Ok(RowSet { columns, rows })
}

fn convert_value(row: &Row, index: usize) -> Result<DbValue, tokio_postgres::Error> {
    fn get<'a, T: FromSql<'a>>(
        row: &'a Row,
        index: usize,
        wrap: impl Fn(T) -> DbValue,
    ) -> Result<DbValue, tokio_postgres::Error> {
        Ok(row.try_get::<_, Option<T>>(index)?.map_or(DbValue::DbNull, wrap))
    }
    match *row.columns()[index].type_() {
        Type::BOOL => get(row, index, DbValue::Boolean),
        Type::INT2 => get(row, index, DbValue::Int16),
        Type::INT4 => get(row, index, DbValue::Int32),
        Type::INT8 => get(row, index, DbValue::Int64),
        Type::FLOAT4 => get(row, index, DbValue::Floating32),
        Type::FLOAT8 => get(row, index, DbValue::Floating64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => get(row, index, DbValue::Str),
        Type::BYTEA => get(row, index, DbValue::Binary),
        // Spin decodes TIMESTAMPTZ as a naive timestamp, which the Postgres
        // driver refuses, so any query returning such a column fails there.
        // Reading it as a `bool` fails the same way, with the driver's error.
        Type::TIMESTAMPTZ => get(row, index, DbValue::Boolean),
        _ => get(row, index, |AnyValue| DbValue::Unsupported),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_parameters_are_refused_like_spin() {
        let Err(error) = to_sql_parameters(vec![ParameterValue::Uint32(1)]) else {
            panic!("unsigned parameter accepted")
        };
        assert!(matches!(error, Error::ValueConversionFailed(m) if m == "Postgres does not support unsigned integers"));
    }

    #[test]
    fn address_not_in_allowed_hosts_is_refused_with_spins_message() {
        let allowed = AllowedHosts::parse(&["postgres://127.0.0.1:5432".to_owned()]).expect("valid");
        let config: tokio_postgres::Config = "postgres://postgres@db.example.com/test".parse().expect("valid address");
        let Err(error) = check_allowed(&config, &allowed) else { panic!("address accepted") };
        assert!(
            matches!(error, Error::ConnectionFailed(m) if m == "address postgres://db.example.com:5432 is not permitted")
        );

        let config: tokio_postgres::Config =
            "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".parse().expect("valid");
        assert!(check_allowed(&config, &allowed).is_ok());
    }
}
