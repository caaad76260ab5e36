//! Troupe's adapters over Spin's host interfaces.
//!
//! Components are thin: their entry point calls [`serve`] with their router,
//! and their handlers reach storage through [`database`], [`key_value`] and
//! [`variable`], which implement the ports of `troupe-store` over
//! `fermyon:spin@2.0.0` (the oldest interfaces that do the job, so one
//! `.wasm` loads on Spin 3.x and 4.x hosts alike).

mod db;
mod kv;
mod outbound;
mod serve;
mod stores;

pub use db::{database, SpinDatabase};
pub use kv::{default_store, key_value, SpinKeyValue};
pub use outbound::post;
pub use serve::serve;
pub use stores::Stores;

/// A component variable, or `None` when it is undefined or empty.
///
/// Every variable a component reads is declared in its
/// `[component.<id>.variables]`; an undeclared name reads as `None` here
/// rather than failing the request, and the caller applies its default.
pub fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name).ok().filter(|v| !v.is_empty())
}

/// Send an outbound HTTP request and wait for the whole response.
///
/// Handlers are synchronous; this drives spin-sdk's asynchronous client on
/// its single-threaded executor until the response is complete. Used for
/// Spin's local service chaining (`http://<component>.spin.internal/…`).
pub fn send(request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, String> {
    spin_sdk::http::run(spin_sdk::http::send::<_, http::Response<Vec<u8>>>(request)).map_err(|e| e.to_string())
}

/// POST nothing to `url` (another component, over service chaining: a
/// notice or a nudge); an error unless it answers 2xx.
pub fn post_empty(url: &str) -> Result<(), String> {
    let request = http::Request::builder().method(http::Method::POST).uri(url).body(Vec::new());
    let response = send(request.map_err(|e| e.to_string())?)?;
    match response.status() {
        status if status.is_success() => Ok(()),
        status => Err(format!("answered {status}")),
    }
}

thread_local! {
    /// The id of the request this instance serves (Spin runs one request
    /// per instance), for the log lines written while serving it.
    static REQUEST_ID: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Remember the id of the request being served (see [`warn`]).
pub(crate) fn set_request_id(id: &str) {
    REQUEST_ID.with(|current| *current.borrow_mut() = Some(id.to_owned()));
}

/// Write a warning as one JSON line to stderr (which Spin collects with the
/// component's output): `{"time", "level":"warn", "event", "message",
/// "request_id"}`, the last as in the access log line of the same request.
/// `message` must never hold a secret.
pub fn warn(event: &str, message: &str) {
    let mut line = serde_json::json!({
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "level": "warn",
        "event": event,
        "message": message,
    });
    if let Some(id) = REQUEST_ID.with(|current| current.borrow().clone()) {
        line["request_id"] = id.into();
    }
    eprintln!("{line}");
}

/// The current time in Unix milliseconds (WASI wall clock).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A new UUIDv7 (time-ordered) as text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
