//! The component entry point: a WASI HTTP request in, the edge layer, a
//! response out.

use futures::StreamExt;
use spin_sdk::http::IncomingRequest;
use troupe_edge::ratelimit::{Limit, Limits};
use troupe_edge::{CorsPolicy, Oversized, Platform, Request, Response, Router, TrustedProxies, BODY_LIMIT};
use troupe_store::KeyValue;

/// Serve `incoming` with `router`, as component `component`.
///
/// The body is read as a stream and reading stops past [`BODY_LIMIT`], so an
/// oversized upload costs the component at most that much memory before the
/// edge answers 413.
pub async fn serve<S, E: Into<troupe_edge::Problem>>(
    component: &str,
    router: &Router<S, E>,
    incoming: IncomingRequest,
    state: &S,
) -> Response {
    let request = match read(incoming).await {
        Ok(request) => request,
        Err(message) => {
            let problem = troupe_edge::Problem::new(http::StatusCode::BAD_REQUEST).detail(message);
            return problem.into_response();
        }
    };
    let id = troupe_edge::request_id(&request, crate::new_id);
    crate::set_request_id(&id);
    troupe_edge::serve(component, router, &request, &id, state, &PLATFORM)
}

/// What the edge asks of Spin.
const PLATFORM: Platform =
    Platform { now_rfc3339, cors: cors_policy, trusted_proxies, https, limits, counters, warn: crate::warn };

/// The rate limits on `/api/` routes: `rate_limit_per_user` (100) and
/// `rate_limit_per_address` (1000) per `rate_limit_window_seconds` (60);
/// 0 turns one off.
fn limits() -> Limits {
    let number = |name: &str, default: i64| {
        crate::variable(name).and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(default).max(0)
    };
    let window = number("rate_limit_window_seconds", 60);
    let limit = |name, default| u32::try_from(number(name, default)).unwrap_or(u32::MAX);
    Limits {
        per_user: Limit::new("user", limit("rate_limit_per_user", 100), window),
        per_address: Limit::new("address", limit("rate_limit_per_address", 1000), window),
    }
}

/// The counters live in the `default` key-value store, which every instance
/// and node of the application shares.
fn counters() -> Option<Box<dyn KeyValue>> {
    crate::kv::default_store().ok().map(|store| Box::new(store) as Box<dyn KeyValue>)
}

/// The `served_over_https` variable: `true` adds `Strict-Transport-Security`.
fn https() -> bool {
    crate::variable("served_over_https").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The `trusted_proxies` variable. A list that does not parse trusts no
/// proxy (the peer address is used as it is) and says so in the log.
fn trusted_proxies() -> TrustedProxies {
    let list = crate::variable("trusted_proxies").unwrap_or_default();
    TrustedProxies::parse(&list).unwrap_or_else(|bad| {
        crate::warn("trusted_proxies", &format!("not an address or CIDR range: {bad}; trusting no proxy"));
        TrustedProxies::default()
    })
}

async fn read(incoming: IncomingRequest) -> Result<Request, String> {
    let method: http::Method = incoming.method().into();
    let uri = incoming.path_with_query().unwrap_or_else(|| "/".to_owned());
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in incoming.headers().entries() {
        builder = builder.header(name, value);
    }
    let mut body = Vec::new();
    let mut oversized = false;
    let mut stream = incoming.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("could not read the request body: {e}"))?;
        if body.len() + chunk.len() > BODY_LIMIT {
            oversized = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    if oversized {
        body.clear();
        builder = builder.extension(Oversized);
    }
    builder.body(body).map_err(|e| format!("malformed request: {e}"))
}

/// The CORS policy from the `cors_allowed_origins`, `cors_allowed_methods`
/// and `cors_allowed_headers` variables; read only for requests that carry
/// an `Origin`, so same-origin and server-to-server calls pay nothing.
fn cors_policy() -> CorsPolicy {
    CorsPolicy::new(
        &crate::variable("cors_allowed_origins").unwrap_or_default(),
        &crate::variable("cors_allowed_methods").unwrap_or_default(),
        &crate::variable("cors_allowed_headers").unwrap_or_default(),
    )
}
