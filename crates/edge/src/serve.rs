//! The layer around every request: request id, dispatch, problems, access log.

use std::cell::RefCell;
use std::time::Instant;

use http::{HeaderName, HeaderValue, Method};
use serde::Serialize;

use crate::{CorsPolicy, Params, Problem, Request, Response, Router};

/// A request extension set by the transport when the body exceeded
/// [`crate::BODY_LIMIT`] and was not read: the edge answers 413.
#[derive(Debug, Clone, Copy)]
pub struct Oversized;

/// The request-id header, echoed on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Everything a handler sees of its request.
pub struct Exchange<'a, S> {
    /// The request, body included.
    pub request: &'a Request,
    /// The route's `:name` values.
    pub params: Params,
    /// The component's per-request state (its adapters, settings).
    pub state: &'a S,
    /// This request's id.
    pub request_id: &'a str,
    user: RefCell<Option<String>>,
}

impl<S> Exchange<'_, S> {
    /// Record who made the request, for the access log.
    pub fn set_user(&self, user_id: &str) {
        *self.user.borrow_mut() = Some(user_id.to_owned());
    }

    /// The value of `:name` in the route (routes name every parameter they
    /// read, so a missing one is a programming error reported as 500).
    pub fn param(&self, name: &str) -> Result<&str, Problem> {
        self.params.get(name).ok_or_else(|| Problem::internal(format!("route has no parameter `{name}`")))
    }

    /// A request header as text, if present and visible ASCII.
    pub fn header(&self, name: impl http::header::AsHeaderName) -> Option<&str> {
        self.request.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The query string's `name=value` pairs, percent-decoded.
    pub fn query(&self) -> Vec<(String, String)> {
        self.request.uri().query().map(decode_query).unwrap_or_default()
    }
}

fn decode_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The caller's request id when it is a sane token (1–128 characters of
/// `A–Z a–z 0–9 . _ : -`), otherwise a fresh one from `generate`.
pub fn request_id(request: &Request, generate: impl FnOnce() -> String) -> String {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        })
        .map_or_else(generate, str::to_owned)
}

#[derive(Serialize)]
struct AccessLog<'a> {
    time: String,
    request_id: &'a str,
    component: &'a str,
    method: &'a str,
    route: &'a str,
    status: u16,
    duration_us: u128,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// Serve one request: resolve the route, run its handler, render problems,
/// tag the response with the request id and log one JSON line to stdout.
///
/// `request_id` is this request's id (see [`request_id`]); `now_rfc3339`
/// stamps the log line.
pub fn serve<S>(
    component: &str,
    router: &Router<S>,
    request: &Request,
    request_id: &str,
    state: &S,
    now_rfc3339: impl FnOnce() -> String,
    cors: impl Fn() -> CorsPolicy,
) -> Response {
    let started = Instant::now();
    let path = request.uri().path();
    let resolved = match request.extensions().get::<Oversized>() {
        Some(Oversized) => Err(crate::too_large()),
        None if request.method() == Method::OPTIONS => match router.allowed(path).as_slice() {
            [] => Err(Problem::not_found("no such resource")),
            allowed => Ok(Err(crate::cors::preflight(request, allowed, &cors))),
        },
        None => router.resolve(request.method(), path).map(Ok),
    };
    let (outcome, route, user) = match resolved {
        Ok(Err(preflight)) => (Ok(preflight), "", None),
        Ok(Ok((handler, route, params))) => {
            let exchange =
                Exchange { request, params, state, request_id, user: RefCell::new(None) };
            let outcome = handler(&exchange);
            (outcome, route, exchange.user.into_inner())
        }
        Err(problem) => (Err(problem), "", None),
    };
    let (mut response, cause) = match outcome {
        Ok(response) => (response, None),
        Err(problem) => {
            let cause = problem.cause().map(str::to_owned);
            (problem.into_response(), cause)
        }
    };
    if request.method() == Method::HEAD {
        response.body_mut().clear();
    }
    if request.method() != Method::OPTIONS {
        crate::cors::decorate(request, &mut response, &cors);
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let line = AccessLog {
        time: now_rfc3339(),
        request_id,
        component,
        method: request.method().as_str(),
        route,
        status: response.status().as_u16(),
        duration_us: started.elapsed().as_micros(),
        user_id: user.as_deref(),
        error: cause.as_deref(),
    };
    if let Ok(json) = serde_json::to_string(&line) {
        println!("{json}");
    }
    response
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;

    fn whoami(exchange: &Exchange<'_, &'static str>) -> Result<Response, Problem> {
        exchange.set_user("u-1");
        let id = exchange.param("id")?;
        let q = exchange.query();
        Ok(http::Response::new(format!("{}:{id}:{q:?}", exchange.state).into_bytes()))
    }

    fn broken(_: &Exchange<'_, &'static str>) -> Result<Response, Problem> {
        Err(Problem::internal("secret detail"))
    }

    fn request(method: &str, uri: &str, id: Option<&str>) -> Request {
        let mut builder = http::Request::builder().method(method).uri(uri);
        if let Some(id) = id {
            builder = builder.header("x-request-id", id);
        }
        builder.body(Vec::new()).expect("request")
    }

    #[test]
    fn a_sane_request_id_is_kept_and_anything_else_replaced() {
        let fresh = || "generated".to_owned();
        assert_eq!(request_id(&request("GET", "/", Some("abc-123_x.y:z")), fresh), "abc-123_x.y:z");
        assert_eq!(request_id(&request("GET", "/", Some("has space")), fresh), "generated");
        assert_eq!(request_id(&request("GET", "/", Some(&"a".repeat(129))), fresh), "generated");
        assert_eq!(request_id(&request("GET", "/", None), fresh), "generated");
    }

    #[test]
    fn handlers_see_params_query_and_state_and_responses_carry_the_request_id() {
        let router = Router::new().get("/things/:id", whoami).get("/broken", broken);
        let response = serve("test", &router, &request("GET", "/things/7?a=1&b=x%20y+z&c", None), "rid", &"state", String::new, CorsPolicy::default);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-request-id"], "rid");
        assert_eq!(
            String::from_utf8(response.into_body()).expect("utf-8"),
            r#"state:7:[("a", "1"), ("b", "x y z"), ("c", "")]"#
        );
        let failed = serve("test", &router, &request("GET", "/broken", None), "rid", &"state", String::new, CorsPolicy::default);
        assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!String::from_utf8_lossy(failed.body()).contains("secret"));
        let missing = serve("test", &router, &request("POST", "/things/7", None), "rid", &"state", String::new, CorsPolicy::default);
        assert_eq!(missing.status(), StatusCode::METHOD_NOT_ALLOWED);
        let head = serve("test", &router, &request("HEAD", "/nothing", None), "rid", &"state", String::new, CorsPolicy::default);
        assert!(head.body().is_empty());
    }

    #[test]
    fn percent_decoding_tolerates_malformed_escapes() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%e2%82%ac"), "€");
    }
}
