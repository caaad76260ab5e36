//! The state of one component instance (one request): WASI, wasi-http and
//! the Spin interfaces, all behind one `Store`.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    p2::{WasiHttpCtxView, WasiHttpView},
    WasiHttpCtx,
};

use crate::{
    allowed_hosts::AllowedHosts,
    bindings::spin,
    key_value::InstanceKeyValue,
    log::{Logger, Stream},
    outbound_http::OutboundHttp,
    postgres::InstancePostgres,
    sqlite::InstanceSqlite,
    variables::ComponentVariables,
};

/// Everything a component instance can reach, held in its `Store`.
pub struct InstanceState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) outbound_http: OutboundHttp,
    pub(crate) variables: Arc<ComponentVariables>,
    pub(crate) key_value: InstanceKeyValue,
    pub(crate) sqlite: InstanceSqlite,
    pub(crate) postgres: InstancePostgres,
}

/// What the per-request state is built from.
pub(crate) struct InstanceParts {
    pub component_id: String,
    pub logger: Logger,
    pub allowed_hosts: Arc<AllowedHosts>,
    pub outbound_http: OutboundHttp,
    pub variables: Arc<ComponentVariables>,
    pub key_value: InstanceKeyValue,
    pub sqlite: InstanceSqlite,
    pub postgres: InstancePostgres,
}

impl InstanceState {
    pub(crate) fn new(parts: InstanceParts) -> Self {
        let mut wasi = WasiCtx::builder();
        // Like Spin without `environment`/`files`: no arguments, an empty
        // environment, no preopened directories. Sockets may only connect
        // to addresses `allowed_outbound_hosts` grants as `tcp://`/`udp://`,
        // and never bind (Spin's rule).
        wasi.stdout(parts.logger.component_stream(&parts.component_id, Stream::Stdout))
            .stderr(parts.logger.component_stream(&parts.component_id, Stream::Stderr));
        let allowed = parts.allowed_hosts.clone();
        wasi.allow_ip_name_lookup(allowed.mentions_scheme("tcp") || allowed.mentions_scheme("udp"));
        wasi.socket_addr_check(move |addr, use_| {
            let allowed = allowed.clone();
            Box::pin(async move {
                use wasmtime_wasi::sockets::SocketAddrUse;
                let scheme = match use_ {
                    SocketAddrUse::TcpConnect => "tcp",
                    SocketAddrUse::UdpConnect | SocketAddrUse::UdpOutgoingDatagram => "udp",
                    SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => return false,
                };
                allowed.allows(scheme, &addr.ip().to_string(), Some(addr.port()))
            })
        });
        Self {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            outbound_http: parts.outbound_http,
            variables: parts.variables,
            key_value: parts.key_value,
            sqlite: parts.sqlite,
            postgres: parts.postgres,
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound_http }
    }
}

/// A linker with every interface this host serves: WASI 0.2, wasi:http and
/// the Spin interfaces of `fermyon:spin@2.0.0` that the bindings cover.
pub(crate) fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    spin::key_value::add_to_linker::<_, HasSelf<InstanceState>>(&mut linker, |s| s)?;
    spin::sqlite::add_to_linker::<_, HasSelf<InstanceState>>(&mut linker, |s| s)?;
    spin::variables::add_to_linker::<_, HasSelf<InstanceState>>(&mut linker, |s| s)?;
    spin::rdbms_types::add_to_linker::<_, HasSelf<InstanceState>>(&mut linker, |s| s)?;
    spin::postgres::add_to_linker::<_, HasSelf<InstanceState>>(&mut linker, |s| s)?;
    Ok(linker)
}
