//! CORS, per the Fetch standard: preflight answers and response headers for
//! the origins a deployment allows (none by default).

use http::{header, HeaderValue, Method, StatusCode};

use crate::{Request, Response};

/// Which cross-origin callers may use the API, from the `cors_allowed_*`
/// variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: Vec<String>,
    any_origin: bool,
    methods: Vec<String>,
    headers: Vec<String>,
}

/// Headers a cross-origin script may read from responses.
const EXPOSED: &str =
    "ETag, Location, Link, Retry-After, RateLimit, RateLimit-Policy, X-Request-Id, Idempotent-Replayed";

/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: &str = "600";

fn list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

impl CorsPolicy {
    /// A policy from comma-separated lists: origins (`*` for any, which no
    /// credentialed request can use anyway: tokens travel in
    /// `Authorization`, never in cookies), methods and request headers.
    pub fn new(origins: &str, methods: &str, headers: &str) -> Self {
        let origins = list(origins);
        Self {
            any_origin: origins.iter().any(|o| o == "*"),
            origins: origins.into_iter().filter(|o| o != "*").collect(),
            methods: list(methods).into_iter().map(|m| m.to_ascii_uppercase()).collect(),
            headers: list(headers).into_iter().map(|h| h.to_ascii_lowercase()).collect(),
        }
    }

    fn allows_origin(&self, origin: &str) -> bool {
        self.any_origin || self.origins.iter().any(|o| o == origin)
    }

    fn allows_method(&self, method: &str) -> bool {
        // CORS-safelisted methods need no listing.
        matches!(method, "GET" | "HEAD" | "POST") || self.methods.iter().any(|m| m == method)
    }

    fn allows_headers(&self, requested: &str) -> bool {
        list(requested).iter().all(|h| self.headers.contains(&h.to_ascii_lowercase()))
    }
}

fn origin(request: &Request) -> Option<&str> {
    request.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

fn set(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// Answer an `OPTIONS` request for a path whose routes allow `allowed`
/// methods: `204` with `Allow`, plus the CORS preflight headers when the
/// origin, method and headers asked for are all allowed. A disallowed
/// preflight gets no CORS headers, so the browser refuses the real request.
pub fn preflight(request: &Request, allowed: &[Method], policy: impl FnOnce() -> CorsPolicy) -> Response {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let mut methods: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    methods.push("OPTIONS");
    set(&mut response, header::ALLOW, &methods.join(", "));
    let (Some(origin), Some(method)) =
        (origin(request), request.headers().get(header::ACCESS_CONTROL_REQUEST_METHOD).and_then(|v| v.to_str().ok()))
    else {
        return response;
    };
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
    let policy = policy();
    let requested_headers =
        request.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS).and_then(|v| v.to_str().ok()).unwrap_or("");
    let routed = allowed.iter().any(|m| m.as_str() == method);
    if routed
        && policy.allows_origin(origin)
        && policy.allows_method(method)
        && policy.allows_headers(requested_headers)
    {
        set(&mut response, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        set(&mut response, header::ACCESS_CONTROL_ALLOW_METHODS, method);
        if !requested_headers.is_empty() {
            set(&mut response, header::ACCESS_CONTROL_ALLOW_HEADERS, requested_headers);
        }
        set(&mut response, header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
    }
    response
}

/// Add the CORS headers of an actual (non-preflight) response, when the
/// request came from an allowed origin. The policy is read only then.
pub fn decorate(request: &Request, response: &mut Response, policy: impl FnOnce() -> CorsPolicy) {
    let Some(origin) = origin(request) else { return };
    response.headers_mut().append(header::VARY, HeaderValue::from_static("Origin"));
    if policy().allows_origin(origin) {
        set(response, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        set(response, header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CorsPolicy {
        CorsPolicy::new(
            "https://app.example.com, https://admin.example.com",
            "GET, PUT, PATCH, DELETE",
            "Authorization, Content-Type",
        )
    }

    fn options(headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder().method(Method::OPTIONS).uri("/x");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Vec::new()).expect("request")
    }

    #[test]
    fn an_allowed_preflight_gets_the_cors_headers() {
        let request = options(&[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "PATCH"),
            ("access-control-request-headers", "authorization, content-type"),
        ]);
        let response = preflight(&request, &[Method::GET, Method::PATCH], policy);
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let h = response.headers();
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], "PATCH");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_HEADERS], "authorization, content-type");
        assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "600");
        assert_eq!(h[header::ALLOW], "GET, PATCH, OPTIONS");
        assert_eq!(h[header::VARY], "Origin");
    }

    #[test]
    fn disallowed_origins_methods_or_headers_get_no_cors_headers() {
        let cases = [
            [("origin", "https://evil.example.com"), ("access-control-request-method", "GET"), ("x", "")],
            [("origin", "https://app.example.com"), ("access-control-request-method", "POST"), ("x", "")],
            [
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "x-secret"),
            ],
        ];
        for case in cases {
            let response = preflight(&options(&case), &[Method::GET], policy);
            assert!(response.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{case:?}");
        }
        let default = preflight(
            &options(&[("origin", "https://app.example.com"), ("access-control-request-method", "GET")]),
            &[Method::GET],
            CorsPolicy::default,
        );
        assert!(default.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "nothing is allowed by default");
    }

    #[test]
    fn actual_responses_expose_headers_to_allowed_origins_only() {
        let get = |origin: &str| http::Request::builder().header("origin", origin).body(Vec::new()).expect("request");
        let mut allowed = http::Response::new(Vec::new());
        decorate(&get("https://admin.example.com"), &mut allowed, policy);
        assert_eq!(allowed.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://admin.example.com");
        assert!(allowed.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS].to_str().is_ok_and(|v| v.contains("ETag")));
        let mut refused = http::Response::new(Vec::new());
        decorate(&get("https://evil.example.com"), &mut refused, policy);
        assert!(refused.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(refused.headers()[header::VARY], "Origin");
        let mut any = http::Response::new(Vec::new());
        decorate(&get("https://x.example"), &mut any, || CorsPolicy::new("*", "", ""));
        assert_eq!(any.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://x.example");
        let mut plain = http::Response::new(Vec::new());
        decorate(&http::Request::new(Vec::new()), &mut plain, || unreachable!("no Origin, no policy read"));
        assert!(plain.headers().is_empty());
    }
}
