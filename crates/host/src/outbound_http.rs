//! `wasi:http/outgoing-handler`: Spin's checks in front of wasmtime-wasi-http.
//!
//! In Spin's order: a request to the application itself (`self.alt`) needs a
//! `http://self`-style grant and goes to the server's own address; any other
//! URL must be allowed by `allowed_outbound_hosts` or fails with
//! `HTTP-request-denied`; the `Host` header is dropped; a request to
//! `http://<component-id>.spin.internal/...` is then handed in process to that
//! component (service chaining, private routes included); everything else is
//! sent over the network by wasmtime-wasi-http's default client.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use wasmtime_wasi_http::p2::{
    bindings::http::types::ErrorCode,
    body::HyperOutgoingBody,
    default_send_request,
    types::{HostFutureIncomingResponse, IncomingResponse, OutgoingRequestConfig},
    HttpError, HttpResult, WasiHttpHooks,
};

use crate::{
    allowed_hosts::{service_chaining_target, AllowedHosts},
    routing::RouteMatch,
    server::AppShared,
};

/// The client address a service-chained request appears to come from.
const CHAINED_CLIENT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// Per-instance outbound HTTP policy and service-chaining dispatcher.
pub struct OutboundHttp {
    component_id: String,
    allowed: Arc<AllowedHosts>,
    app: Arc<AppShared>,
}

impl OutboundHttp {
    pub(crate) fn new(component_id: &str, allowed: Arc<AllowedHosts>, app: Arc<AppShared>) -> Self {
        Self { component_id: component_id.to_owned(), allowed, app }
    }

    fn deny(&self, url: &str) -> HttpError {
        self.app.logger().host(&format!(
            "component `{}` tried to make an HTTP request to {url}, which its allowed_outbound_hosts does not allow",
            self.component_id
        ));
        ErrorCode::HttpRequestDenied.into()
    }
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        mut request: hyper::Request<HyperOutgoingBody>,
        mut config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        let uri = request.uri().clone();
        let host = uri.host().unwrap_or_default();

        if host.is_empty() || host == "self.alt" {
            if !self.allowed.allows_relative(&["http", "https"]) {
                return Err(self.deny(&uri.to_string()));
            }
            let Some(origin) = self.app.local_addr() else {
                return Err(ErrorCode::InternalError(Some("the application is not being served".into())).into());
            };
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            *request.uri_mut() = format!("http://{origin}{path}")
                .parse()
                .map_err(|_| HttpError::from(ErrorCode::HttpRequestUriInvalid))?;
            config.use_tls = false;
        } else {
            let scheme = uri.scheme_str().unwrap_or("https");
            if !self.allowed.allows(scheme, host, uri.port_u16()) {
                return Err(self.deny(&uri.to_string()));
            }
        }

        request.headers_mut().remove(hyper::header::HOST);

        let Some(target) = service_chaining_target(host).map(str::to_owned) else {
            return Ok(default_send_request(request, config));
        };
        if !self.app.has_http_component(&target) {
            // Spin traps the caller here ("unknown routing destination").
            return Err(HttpError::trap(wasmtime::Error::msg(format!("unknown routing destination '{target}'"))));
        }
        let app = self.app.clone();
        let between_bytes_timeout = config.between_bytes_timeout;
        let handle = wasmtime_wasi::runtime::spawn(async move {
            let path = request.uri().path().to_owned();
            let route = RouteMatch::synthetic(&target, &path);
            match app.handle_route(request, route, CHAINED_CLIENT_ADDR).await {
                Ok(resp) => Ok(Ok(IncomingResponse { resp, worker: None, between_bytes_timeout })),
                Err(e) => Err(wasmtime::Error::msg(format!("{e:#}"))),
            }
        });
        Ok(HostFutureIncomingResponse::pending(handle))
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, sync::OnceLock, time::Duration};

    use http_body_util::{BodyExt, Empty};

    use super::*;
    use crate::{
        key_value::KeyValueStores, log::Logger, postgres::PostgresPools, routing::Router, sqlite::SqliteDatabases,
    };

    fn hooks(allowed: &[&str]) -> OutboundHttp {
        let app = AppShared {
            name: "test".into(),
            version: None,
            descriptions: HashMap::new(),
            router: Router::build([]).expect("empty router"),
            components: HashMap::new(),
            logger: Logger::default(),
            key_value: KeyValueStores::new(None, &Default::default()).expect("in-memory store"),
            sqlite: SqliteDatabases::new(None, &Default::default()).expect("temporary database"),
            postgres: PostgresPools::default(),
            local_addr: OnceLock::new(),
        };
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        OutboundHttp::new("caller", Arc::new(AllowedHosts::parse(&allowed).expect("valid hosts")), Arc::new(app))
    }

    fn send(hooks: &mut OutboundHttp, uri: &str) -> HttpResult<HostFutureIncomingResponse> {
        let body = Empty::new().map_err(|never| match never {}).boxed_unsync();
        let request = hyper::Request::builder().uri(uri).body(body).expect("request");
        let config = OutgoingRequestConfig {
            use_tls: false,
            connect_timeout: Duration::from_secs(1),
            first_byte_timeout: Duration::from_secs(1),
            between_bytes_timeout: Duration::from_secs(1),
        };
        hooks.send_request(request, config)
    }

    fn error_code(result: HttpResult<HostFutureIncomingResponse>) -> Option<ErrorCode> {
        match result {
            Ok(_) => panic!("the request was sent"),
            Err(e) => e.downcast().ok(),
        }
    }

    #[test]
    fn request_to_a_host_not_allowed_is_denied() {
        let mut hooks = hooks(&["https://api.example.com"]);
        let code = error_code(send(&mut hooks, "http://other.example.com/x"));
        assert!(matches!(code, Some(ErrorCode::HttpRequestDenied)), "{code:?}");
    }

    #[test]
    fn service_chaining_needs_its_own_grant() {
        let mut hooks = hooks(&["http://api.example.com"]);
        let code = error_code(send(&mut hooks, "http://users.spin.internal/api"));
        assert!(matches!(code, Some(ErrorCode::HttpRequestDenied)), "{code:?}");
    }

    #[test]
    fn service_chaining_to_a_component_without_http_trigger_traps() {
        let mut hooks = hooks(&["http://*.spin.internal"]);
        match send(&mut hooks, "http://ghost.spin.internal/") {
            Ok(_) => panic!("the request was sent"),
            Err(e) => assert!(e.to_string().contains("unknown routing destination 'ghost'"), "{e}"),
        }
    }

    #[test]
    fn self_request_without_a_self_grant_is_denied() {
        let mut hooks = hooks(&["https://api.example.com"]);
        let code = error_code(send(&mut hooks, "http://self.alt/x"));
        assert!(matches!(code, Some(ErrorCode::HttpRequestDenied)), "{code:?}");
    }
}
