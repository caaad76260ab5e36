//! The HTTP edge of every Troupe component.
//!
//! A component's entry point hands each request to [`serve`], which wraps the
//! component's [`Router`] the way tower layers wrap an axum router: it assigns
//! the request id, runs the matching handler, turns every [`Problem`] into an
//! `application/problem+json` answer (RFC 9457), and writes one JSON access-log
//! line, and answers CORS preflights. Handlers see only their own operation.
//!
//! Everything here is plain Rust over the `http` crate's types, so it is
//! tested natively; the Spin-specific glue lives in `troupe-spin-adapter`.

mod body;
pub mod client;
mod cors;
mod problem;
pub mod protect;
pub mod ratelimit;
mod router;
mod serve;

pub use body::{json_body, json_object, json_response, too_large, Fields, Patch, BODY_LIMIT};
pub use client::TrustedProxies;
pub use cors::CorsPolicy;
pub use problem::{FieldError, Problem};
pub use router::{Handler, Params, Router};
pub use serve::{request_id, serve, Exchange, Oversized, Platform, REQUEST_ID};

/// A request as components receive it: the whole body, already read within
/// [`BODY_LIMIT`].
pub type Request = http::Request<Vec<u8>>;

/// A response as components produce it.
pub type Response = http::Response<Vec<u8>>;

/// The current time in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
