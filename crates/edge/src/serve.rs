//! The layer around every request: request id, dispatch, problems, access log.

use std::cell::{OnceCell, RefCell};
use std::net::IpAddr;
use std::time::Instant;

use http::{HeaderName, HeaderValue, Method};
use serde::Serialize;

use troupe_store::KeyValue;

use crate::client::{address_bucket, client_address, host_header, TrustedProxies};
use crate::ratelimit::{Limit, Limits, RateState, RATE_LIMIT, RATE_LIMIT_POLICY};
use crate::{CorsPolicy, Params, Problem, Request, Response, Router};

/// A request extension set by the transport when the body exceeded
/// [`crate::BODY_LIMIT`] and was not read: the edge answers 413.
#[derive(Debug, Clone, Copy)]
pub struct Oversized;

/// The request-id header, echoed on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the edge asks of the platform, each only when a request needs it
/// (under Spin every answer is a host call).
#[derive(Debug, Clone, Copy)]
pub struct Platform {
    /// The current time as RFC 3339, for the access log.
    pub now_rfc3339: fn() -> String,
    /// The CORS policy; asked only for requests that carry an `Origin`.
    pub cors: fn() -> CorsPolicy,
    /// The proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: fn() -> TrustedProxies,
    /// Whether the app is served over HTTPS (`Strict-Transport-Security`).
    pub https: fn() -> bool,
    /// The rate limits on `/api/` routes.
    pub limits: fn() -> Limits,
    /// The store the rate-limit counters live in, shared by every instance
    /// (`None` when it cannot be opened: limits then fail open).
    pub counters: fn() -> Option<Box<dyn KeyValue>>,
    /// Log a warning: `(event, message)`.
    pub warn: fn(&str, &str),
}

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
    platform: &'a Platform,
    client: OnceCell<Option<IpAddr>>,
    user: RefCell<Option<String>>,
    rate: RefCell<Option<RateState>>,
}

impl<S> Exchange<'_, S> {
    /// Record who made the request, for the access log.
    pub fn set_user(&self, user_id: &str) {
        *self.user.borrow_mut() = Some(user_id.to_owned());
    }

    /// The caller proved to be `user_id`: record it, and count the request
    /// against the per-user rate limit (429 once over it). Handlers call
    /// this right after authentication, before any work of their own.
    pub fn authenticated(&self, user_id: &str) -> Result<(), Problem> {
        self.set_user(user_id);
        if self.rate_limited() {
            self.apply_limit("user", user_id, |limits| limits.per_user)?;
        }
        Ok(())
    }

    fn limit_address(&self) -> Result<(), Problem> {
        if !self.rate_limited() {
            return Ok(());
        }
        let bucket = self.client_addr().map_or_else(|| "unknown".to_owned(), address_bucket);
        self.apply_limit("address", &bucket, |limits| limits.per_address)
    }

    fn rate_limited(&self) -> bool {
        self.request.uri().path().starts_with("/api/") && self.request.method() != Method::OPTIONS
    }

    /// Count this request under `kind`/`id`, if that limit is on.
    fn apply_limit(&self, kind: &str, id: &str, pick: fn(&Limits) -> Option<Limit>) -> Result<(), Problem> {
        let mut rate = self.rate.borrow_mut();
        let state = rate.get_or_insert_with(|| RateState::new((self.platform.limits)()));
        let platform = self.platform;
        state.apply(kind, id, pick, || (platform.counters)(), platform.warn, crate::now_ms())
    }

    /// `RateLimit-Policy` (every limit applied) and `RateLimit` (the one
    /// closest to exhaustion), per draft-ietf-httpapi-ratelimit-headers.
    fn rate_headers(&self, response: &mut Response) {
        // A handler's own, narrower limit (the sign-in throttle) that
        // answered is what the client must heed: its headers stay.
        if response.headers().contains_key(RATE_LIMIT_POLICY) {
            return;
        }
        let rate = self.rate.borrow();
        let Some((policy, state)) = rate.as_ref().and_then(RateState::headers) else { return };
        let headers = response.headers_mut();
        for (name, value) in [(RATE_LIMIT_POLICY, policy), (RATE_LIMIT, state)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }

    /// The value of `:name` in the route (routes name every parameter they
    /// read, so a missing one is a programming error reported as 500).
    pub fn param(&self, name: &str) -> Result<&str, Problem> {
        self.params.get(name).ok_or_else(|| Problem::internal(format!("route has no parameter `{name}`")))
    }

    /// A request header as text, if present and visible ASCII: the first
    /// line of that name, except for the `spin-*` headers the host sets,
    /// whose value is the last line (a client can send its own before it).
    pub fn header(&self, name: impl AsRef<str>) -> Option<&str> {
        let name = name.as_ref();
        if name.len() > 5 && name.get(..5).is_some_and(|prefix| prefix.eq_ignore_ascii_case("spin-")) {
            return host_header(self.request.headers(), name);
        }
        self.request.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The client's address: the host's peer address, or what trusted
    /// proxies say of it (see [`crate::client`]). The one source of the
    /// address for throttles, sessions and logs.
    pub fn client_addr(&self) -> Option<IpAddr> {
        *self.client.get_or_init(|| client_address(self.request.headers(), &(self.platform.trusted_proxies)()))
    }

    /// The query string's `name=value` pairs, decoded as
    /// `application/x-www-form-urlencoded` (`+` is a space, `%XX` a byte,
    /// invalid UTF-8 replaced).
    pub fn query(&self) -> Vec<(String, String)> {
        let query = self.request.uri().query().unwrap_or_default();
        form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }
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
    client_addr: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// Serve one request: resolve the route, run its handler, render problems,
/// tag the response with the request id and log one JSON line to stdout.
///
/// `request_id` is this request's id (see [`request_id`]); `platform`
/// answers what the edge needs to know of the host.
pub fn serve<S, E: Into<Problem>>(
    component: &str,
    router: &Router<S, E>,
    request: &Request,
    request_id: &str,
    state: &S,
    platform: &Platform,
) -> Response {
    let cors = platform.cors;
    let started = Instant::now();
    let path = request.uri().path();
    let resolved = match request.extensions().get::<Oversized>() {
        Some(Oversized) => Err(crate::too_large()),
        None if request.method() == Method::OPTIONS => match router.allowed(path).as_slice() {
            [] => Err(Problem::not_found("no such resource")),
            allowed => Ok(Err(crate::cors::preflight(request, allowed, cors))),
        },
        None => router.resolve(request.method(), path).map(Ok),
    };
    let exchange = |params| Exchange {
        request,
        params,
        state,
        request_id,
        platform,
        client: OnceCell::new(),
        user: RefCell::new(None),
        rate: RefCell::new(None),
    };
    let (outcome, route, exchange) = match resolved {
        Ok(Err(preflight)) => (Ok(preflight), "", exchange(Params::default())),
        Ok(Ok((handler, route, params))) => {
            let exchange = exchange(params);
            // The per-address limit comes first: a refused request runs
            // nothing behind it.
            let outcome = match exchange.limit_address() {
                Ok(()) => handler(&exchange).map_err(Into::into),
                Err(refused) => Err(refused),
            };
            (outcome, route, exchange)
        }
        Err(problem) => {
            // A method or path this component does not serve is still a
            // request under `/api/`: it counts, and is answered with the
            // limit's headers.
            let exchange = exchange(Params::default());
            let outcome = exchange.limit_address().and(Err(problem));
            (outcome, "", exchange)
        }
    };
    let (mut response, cause) = match outcome {
        Ok(response) => (response, None),
        Err(problem) => {
            let cause = problem.cause().map(str::to_owned);
            (problem.into_response(), cause)
        }
    };
    if exchange.rate_limited() {
        exchange.rate_headers(&mut response);
    }
    crate::protect::compress(request, &mut response);
    crate::protect::secure(request, &mut response, (platform.https)());
    if request.method() == Method::HEAD {
        response.body_mut().clear();
    }
    if request.method() != Method::OPTIONS {
        crate::cors::decorate(request, &mut response, cors);
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let user = exchange.user.borrow();
    let line = AccessLog {
        time: (platform.now_rfc3339)(),
        request_id,
        component,
        method: request.method().as_str(),
        route,
        status: response.status().as_u16(),
        duration_us: started.elapsed().as_micros(),
        client_addr: exchange.client_addr(),
        user_id: user.as_deref(),
        error: cause.as_deref(),
    };
    if let Ok(json) = serde_json::to_string(&line) {
        println!("{json}");
    }
    drop(user);
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

    const PLATFORM: Platform = Platform {
        now_rfc3339: String::new,
        cors: CorsPolicy::default,
        trusted_proxies: TrustedProxies::default,
        https: || false,
        limits: Limits::default,
        counters: || None,
        warn: |_, _| {},
    };

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
        let response =
            serve("test", &router, &request("GET", "/things/7?a=1&b=x%20y+z&c", None), "rid", &"state", &PLATFORM);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-request-id"], "rid");
        assert_eq!(
            String::from_utf8(response.into_body()).expect("utf-8"),
            r#"state:7:[("a", "1"), ("b", "x y z"), ("c", "")]"#
        );
        let failed = serve("test", &router, &request("GET", "/broken", None), "rid", &"state", &PLATFORM);
        assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!String::from_utf8_lossy(failed.body()).contains("secret"));
        let missing = serve("test", &router, &request("POST", "/things/7", None), "rid", &"state", &PLATFORM);
        assert_eq!(missing.status(), StatusCode::METHOD_NOT_ALLOWED);
        let head = serve("test", &router, &request("HEAD", "/nothing", None), "rid", &"state", &PLATFORM);
        assert!(head.body().is_empty());
    }

    #[test]
    fn the_query_is_form_urlencoded_and_malformed_escapes_are_kept() {
        let router = Router::new().get("/things/:id", whoami);
        let uri = "/things/7?q=100%25&s=%zz%41&e=%e2%82%ac&p=a+b&flag";
        let answer = serve("test", &router, &request("GET", uri, None), "rid", &"state", &PLATFORM);
        let expected = r#"[("q", "100%"), ("s", "%zzA"), ("e", "€"), ("p", "a b"), ("flag", "")]"#;
        assert_eq!(String::from_utf8_lossy(answer.body()), format!("state:7:{expected}"));
    }
}
