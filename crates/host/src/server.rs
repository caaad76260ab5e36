//! The HTTP trigger: accepting connections, Spin's own endpoints, routing,
//! and running one fresh component instance per request.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
};

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use http::{header::HOST, HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::{net::TcpListener, sync::oneshot, task::AbortHandle};
use wasmtime::Store;
use wasmtime_wasi_http::p2::{
    bindings::{http::types::Scheme, ProxyPre},
    body::{HyperIncomingBody, HyperOutgoingBody},
    hyper_request_error, WasiHttpView,
};

use crate::{
    allowed_hosts::{service_chaining_target, AllowedHosts},
    instance::{InstanceParts, InstanceState},
    key_value::{InstanceKeyValue, KeyValueStores},
    log::Logger,
    outbound_http::OutboundHttp,
    postgres::{InstancePostgres, PostgresPools},
    routing::{RouteMatch, Router, WELL_KNOWN_PREFIX},
    sqlite::{InstanceSqlite, SqliteDatabases},
    variables::ComponentVariables,
};

/// A component ready to serve requests.
pub(crate) struct LoadedComponent {
    pub pre: ProxyPre<InstanceState>,
    pub allowed_hosts: Arc<AllowedHosts>,
    pub variables: Arc<ComponentVariables>,
    pub key_value_stores: Arc<[String]>,
    pub sqlite_databases: Arc<[String]>,
}

/// What every request of one application shares.
pub(crate) struct AppShared {
    pub name: String,
    pub version: Option<String>,
    /// Component descriptions, printed next to their routes.
    pub descriptions: HashMap<String, String>,
    pub router: Router,
    /// Components with at least one HTTP trigger (private ones included).
    pub components: HashMap<String, LoadedComponent>,
    pub logger: Logger,
    pub key_value: KeyValueStores,
    pub sqlite: SqliteDatabases,
    pub postgres: PostgresPools,
    /// The address the server is bound to, once it serves.
    pub local_addr: OnceLock<SocketAddr>,
}

impl AppShared {
    pub(crate) fn logger(&self) -> &Logger {
        &self.logger
    }

    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr.get().copied()
    }

    pub(crate) fn has_http_component(&self, id: &str) -> bool {
        self.components.contains_key(id)
    }

    /// Serves connections from `listener` until an accept fails.
    pub(crate) async fn serve(self: Arc<Self>, listener: TcpListener) -> anyhow::Result<()> {
        let _already_set = self.local_addr.set(listener.local_addr()?);
        loop {
            let (stream, client_addr) = listener.accept().await?;
            let app = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let app = app.clone();
                    async move { app.handle(request, client_addr).await }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                // A client that goes away mid-request is not an error of ours.
                let _client_gone = connection.await;
            });
        }
    }

    /// Handles one inbound request, as Spin's `HttpServer::handle`.
    async fn handle(
        self: Arc<Self>,
        mut request: Request<Incoming>,
        client_addr: SocketAddr,
    ) -> anyhow::Result<Response<HyperOutgoingBody>> {
        // A `Host` naming a service-chaining address never comes from outside.
        if request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| service_chaining_target(h).is_some())
        {
            request.headers_mut().remove(HOST);
        }
        let path = request.uri().path().to_owned();
        if let Some(endpoint) = path.strip_prefix(WELL_KNOWN_PREFIX) {
            return Ok(match endpoint {
                "health" => Response::new(full(Bytes::from_static(b"OK"))),
                "info" => self.app_info()?,
                _ => status(StatusCode::NOT_FOUND),
            });
        }
        let Some(route) = self.router.route(&path) else {
            return Ok(status(StatusCode::NOT_FOUND));
        };
        let request = request.map(|body| body.map_err(hyper_request_error).boxed_unsync());
        self.handle_route(request, route, client_addr).await
    }

    /// `/.well-known/spin/info`: the application's name and version.
    fn app_info(&self) -> anyhow::Result<Response<HyperOutgoingBody>> {
        let mut info = serde_json::Map::new();
        info.insert("name".into(), self.name.clone().into());
        if let Some(version) = &self.version {
            info.insert("version".into(), version.clone().into());
        }
        let body = serde_json::to_vec_pretty(&info)?;
        Ok(Response::builder().header(http::header::CONTENT_TYPE, "application/json").body(full(body.into()))?)
    }

    /// Runs the matched component. Component failures become an empty 500,
    /// as in Spin; a request whose authority cannot be determined is an
    /// error (Spin fails such a request before running any component).
    pub(crate) async fn handle_route(
        self: &Arc<Self>,
        mut request: Request<HyperIncomingBody>,
        route: RouteMatch,
        client_addr: SocketAddr,
    ) -> anyhow::Result<Response<HyperOutgoingBody>> {
        set_request_uri(&mut request)?;
        let component_id = route.component_id().to_owned();
        match self.execute(request, &route, client_addr).await {
            Ok(response) => Ok(response),
            Err(error) => {
                self.logger.host(&format!("Error processing request for component `{component_id}`: {error:?}"));
                Ok(status(StatusCode::INTERNAL_SERVER_ERROR))
            }
        }
    }

    /// Spin's `WasiHttpExecutor::execute`: headers, a fresh instance, the
    /// `wasi:http/incoming-handler` call, and the response it sets.
    async fn execute(
        self: &Arc<Self>,
        mut request: Request<HyperIncomingBody>,
        route: &RouteMatch,
        client_addr: SocketAddr,
    ) -> anyhow::Result<Response<HyperOutgoingBody>> {
        let component_id = route.component_id();
        let component =
            self.components.get(component_id).ok_or_else(|| anyhow!("unknown routing destination '{component_id}'"))?;

        prepare_headers(&mut request, route, client_addr)?;

        let state = InstanceState::new(InstanceParts {
            component_id: component_id.to_owned(),
            logger: self.logger.clone(),
            allowed_hosts: component.allowed_hosts.clone(),
            outbound_http: OutboundHttp::new(component_id, component.allowed_hosts.clone(), self.clone()),
            variables: component.variables.clone(),
            key_value: InstanceKeyValue::new(self.key_value.clone(), component.key_value_stores.clone()),
            sqlite: InstanceSqlite::new(self.sqlite.clone(), component.sqlite_databases.clone()),
            postgres: InstancePostgres::new(self.postgres.clone(), component.allowed_hosts.clone()),
        });
        let mut store = Store::new(component.pre.engine(), state);
        store.set_epoch_deadline(crate::engine::EPOCH_DEADLINE);
        // Spin always presents the request with scheme `http`.
        let incoming = store.data_mut().http().new_incoming_request(Scheme::Http, request)?;
        let (response_tx, response_rx) = oneshot::channel();
        let outparam = store.data_mut().http().new_response_outparam(response_tx)?;
        let pre = component.pre.clone();

        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam).await
        });
        let abort = task.abort_handle();

        match response_rx.await {
            Ok(response) => {
                // The guest may keep running (streaming the body) after it
                // set the response; report a later failure in the log.
                let logger = self.logger.clone();
                let id = component_id.to_owned();
                tokio::spawn(async move {
                    match task.await {
                        Err(e) if e.is_cancelled() => {}
                        Err(e) => logger.host(&format!("component `{id}` panicked: {e}")),
                        Ok(Err(e)) => logger.host(&format!("Component `{id}` error after response started: {e:?}")),
                        Ok(Ok(())) => {}
                    }
                });
                let response = response.map_err(|code| anyhow!("guest failed to produce a response: {code:?}"))?;
                Ok(response.map(|body| AbortOnDropBody { body, abort }.boxed_unsync()))
            }
            Err(_) => {
                task.await
                    .context("guest invocation panicked")?
                    .map_err(|e| anyhow!("guest invocation failed: {e:?}"))?;
                bail!("guest failed to produce a response prior to returning")
            }
        }
    }
}

/// Gives the request an absolute URI (`http://<authority><path>`), taking
/// the authority from `Host` or the URI, like Spin's `set_req_uri`.
fn set_request_uri(request: &mut Request<HyperIncomingBody>) -> anyhow::Result<()> {
    let header_authority = request
        .headers()
        .get(HOST)
        .map(|h| -> anyhow::Result<http::uri::Authority> {
            let host = h.to_str().context("'Host' header is not valid UTF-8")?;
            host.parse().context("'Host' header contains an invalid authority")
        })
        .transpose()?;
    let mut parts = request.uri().clone().into_parts();
    let authority = match (header_authority, parts.authority.take()) {
        (None, None) => bail!("no 'Host' header present in request"),
        (Some(a), None) | (None, Some(a)) => a,
        (Some(header), Some(uri)) => {
            if header != uri {
                bail!("authority in 'Host' header does not match authority in URI");
            }
            header
        }
    };
    parts.scheme = Some(http::uri::Scheme::HTTP);
    parts.authority = Some(authority);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    *request.uri_mut() = Uri::from_parts(parts)?;
    Ok(())
}

/// Rebuilds the headers as Spin does: the client's headers (their values
/// must be UTF-8) followed by the `spin-*` headers.
fn prepare_headers(
    request: &mut Request<HyperIncomingBody>,
    route: &RouteMatch,
    client_addr: SocketAddr,
) -> anyhow::Result<()> {
    let mut headers = Vec::new();
    for (name, value) in request.headers() {
        let value =
            std::str::from_utf8(value.as_bytes()).with_context(|| format!("header `{name}` is not valid UTF-8"))?;
        headers.push((name.clone(), HeaderValue::from_str(value)?));
    }
    let host = request.headers().get(HOST).and_then(|h| h.to_str().ok());
    let path_and_query = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let spin_headers = route.spin_headers("http", host, path_and_query, client_addr);
    for (name, value) in spin_headers {
        // Values Spin cannot represent are dropped, as Spin drops them.
        if let (Ok(name), Ok(value)) = (name.parse::<HeaderName>(), HeaderValue::from_str(&value)) {
            headers.push((name, value));
        }
    }
    let map = request.headers_mut();
    map.clear();
    for (name, value) in headers {
        map.append(name, value);
    }
    Ok(())
}

fn full(bytes: Bytes) -> HyperOutgoingBody {
    Full::new(bytes).map_err(|never: Infallible| match never {}).boxed_unsync()
}

fn status(code: StatusCode) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(Empty::new().map_err(|never: Infallible| match never {}).boxed_unsync());
    *response.status_mut() = code;
    response
}

/// A response body that stops the component's task when hyper drops it
/// (for instance because the client went away).
struct AbortOnDropBody {
    body: HyperOutgoingBody,
    abort: AbortHandle,
}

impl Drop for AbortOnDropBody {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

impl Body for AbortOnDropBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
