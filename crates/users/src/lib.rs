//! The rules of Troupe's user resource, free of any runtime.
//!
//! * [`ListQuery`] parses `GET /api/v1/users` query strings (every error at
//!   once): a page by offset or after a keyset [`Cursor`]. The SQL of a page
//!   is the `users` component's (its store module): this crate holds rules
//!   and types only, and needs no storage crate.
//! * [`links`] builds the RFC 8288 `Link` header of a page.
//! * [`Access`] decides who may read or change which user.
//! * [`request_fingerprint`] identifies a request body for idempotency keys.

mod access;
mod list;

pub use access::{Access, Caller};
pub use list::{links, Cursor, ListQuery, Page, SortKey};

use sha2::{Digest, Sha256};

/// The fingerprint of a request for idempotency: method, path and the body
/// as JSON (so that key order and whitespace do not matter).
pub fn request_fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .map(|json| json.to_string().into_bytes())
        .unwrap_or_else(|_| body.to_vec());
    let digest = Sha256::new()
        .chain_update(method.as_bytes())
        .chain_update([0])
        .chain_update(path.as_bytes())
        .chain_update([0])
        .chain_update(&canonical)
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_json_formatting_but_not_content() {
        let a = request_fingerprint("POST", "/u", br#"{"a":1,"b":2}"#);
        assert_eq!(a, request_fingerprint("POST", "/u", b"{ \"b\": 2, \"a\": 1 }"));
        assert_ne!(a, request_fingerprint("POST", "/u", br#"{"a":1,"b":3}"#));
        assert_ne!(a, request_fingerprint("PUT", "/u", br#"{"a":1,"b":2}"#));
        assert_eq!(request_fingerprint("POST", "/u", b"not json").len(), 64);
    }
}
