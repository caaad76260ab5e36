//! What every answer gets on its way out: security headers, caching rules
//! and gzip, decided here once for every component.
//!
//! * Every response: `X-Content-Type-Options: nosniff` and
//!   `Referrer-Policy: no-referrer`; with HTTPS on, `Strict-Transport-Security`.
//! * JSON answers: `Content-Security-Policy: default-src 'none';
//!   frame-ancestors 'none'` (a page that set its own policy keeps it).
//! * Answers under `/api/` that say nothing of caching: `Cache-Control:
//!   no-store`: they carry tokens or users' data (RFC 6749 §5.1). Public,
//!   unchanging answers (the JWKS, the docs assets) set their own.
//! * JSON bodies over [`COMPRESS_ABOVE`] bytes are gzipped when the client's
//!   `Accept-Encoding` allows it, with `Vary: Accept-Encoding`. A gzipped
//!   answer is another representation, so its strong ETag differs (RFC 9110
//!   §8.8.3): `"<tag>-gzip"`. [`etag_matches`] treats both spellings as the
//!   same resource version, so `If-None-Match`/`If-Match` behave alike
//!   whichever one a client kept.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, VARY, X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderValue, StatusCode};

use crate::{Request, Response};

/// JSON bodies larger than this are worth compressing.
pub const COMPRESS_ABOVE: usize = 1024;

const JSON_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";
const HSTS: &str = "max-age=31536000; includeSubDomains";
/// The suffix a gzipped representation adds to its entity tag.
const GZIP_ETAG_SUFFIX: &str = "-gzip";

fn is_json(response: &Response) -> bool {
    response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        essence == "application/json" || essence.ends_with("+json")
    })
}

/// Add the security and caching headers to `response`; `https` says the app
/// is served over HTTPS (the `served_over_https` variable).
pub fn secure(request: &Request, response: &mut Response, https: bool) {
    let json = is_json(response);
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if https {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    if json && !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(JSON_POLICY));
    }
    if request.uri().path().starts_with("/api/") && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Whether `Accept-Encoding` allows gzip (RFC 9110 §12.5.3): named with a
/// non-zero weight, or covered by `*` without gzip being refused.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(list) = accept_encoding else { return false };
    let mut star = false;
    for item in list.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.trim()
                .to_ascii_lowercase()
                .strip_prefix("q=")
                .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
        });
        match coding.as_str() {
            "gzip" | "x-gzip" => return !refused,
            "*" => star = !refused,
            _ => {}
        }
    }
    star
}

/// Gzip a large JSON body when the client accepts it.
pub fn compress(request: &Request, response: &mut Response) {
    let gzip = accepts_gzip(request.headers().get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok()));
    if response.status() == StatusCode::NOT_MODIFIED {
        // The 304 names the representation the client holds.
        let held_gzip = request
            .headers()
            .get(http::header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains(&format!("{GZIP_ETAG_SUFFIX}\"")));
        if gzip && held_gzip {
            tag_gzip(response);
        }
        return;
    }
    if !is_json(response)
        || response.body().len() <= COMPRESS_ABOVE
        || response.headers().contains_key(CONTENT_ENCODING)
    {
        return;
    }
    response.headers_mut().append(VARY, HeaderValue::from_static("Accept-Encoding"));
    if !gzip {
        return;
    }
    let mut encoder = GzEncoder::new(Vec::with_capacity(response.body().len() / 4), Compression::fast());
    let Ok(compressed) = encoder.write_all(response.body()).and_then(|()| encoder.finish()) else {
        // Writing to memory does not fail; if it ever did, identity is correct.
        return;
    };
    *response.body_mut() = compressed;
    response.headers_mut().insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    tag_gzip(response);
}

fn tag_gzip(response: &mut Response) {
    let tagged = response.headers().get(ETAG).and_then(|v| v.to_str().ok()).and_then(|etag| {
        let inner = etag.strip_suffix('"')?;
        HeaderValue::from_str(&format!("{inner}{GZIP_ETAG_SUFFIX}\"")).ok()
    });
    if let Some(tagged) = tagged {
        response.headers_mut().insert(ETAG, tagged);
    }
}

/// How a precondition compares entity tags (RFC 9110 §8.8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `If-Match`: weak tags never match.
    Strong,
    /// `If-None-Match`: `W/` is ignored.
    Weak,
}

/// Whether a precondition header's list names `etag` (or is `*`). The gzip
/// variant of a tag names the same version as the identity one.
pub fn etag_matches(list: &str, etag: &str, comparison: Comparison) -> bool {
    list.split(',').map(str::trim).any(|candidate| {
        if candidate == "*" {
            return true;
        }
        let candidate = match candidate.strip_prefix("W/") {
            Some(_) if comparison == Comparison::Strong => return false,
            Some(weak) => weak,
            None => candidate,
        };
        let candidate = candidate
            .strip_suffix(&format!("{GZIP_ETAG_SUFFIX}\""))
            .map_or_else(|| candidate.to_owned(), |inner| format!("{inner}\""));
        candidate == etag
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn request(path: &str, accept: Option<&str>) -> Request {
        let mut builder = http::Request::builder().uri(path);
        if let Some(accept) = accept {
            builder = builder.header(ACCEPT_ENCODING, accept);
        }
        builder.body(Vec::new()).expect("request")
    }

    fn json(body: Vec<u8>, etag: Option<&str>) -> Response {
        let mut builder = http::Response::builder().header(CONTENT_TYPE, "application/json");
        if let Some(etag) = etag {
            builder = builder.header(ETAG, etag);
        }
        builder.body(body).expect("response")
    }

    #[test]
    fn every_answer_gets_the_security_headers_and_api_answers_are_not_stored() {
        let mut response = json(b"{}".to_vec(), None);
        secure(&request("/api/v1/users", None), &mut response, false);
        let headers = response.headers();
        assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[REFERRER_POLICY], "no-referrer");
        assert_eq!(headers[CONTENT_SECURITY_POLICY], JSON_POLICY);
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        assert!(!headers.contains_key(STRICT_TRANSPORT_SECURITY));

        let mut page = http::Response::builder()
            .header(CONTENT_TYPE, "text/html")
            .header(CONTENT_SECURITY_POLICY, "default-src 'self'")
            .header(CACHE_CONTROL, "public, max-age=300")
            .body(Vec::new())
            .expect("page");
        secure(&request("/docs", None), &mut page, true);
        assert_eq!(page.headers()[CONTENT_SECURITY_POLICY], "default-src 'self'");
        assert_eq!(page.headers()[CACHE_CONTROL], "public, max-age=300");
        assert_eq!(page.headers()[STRICT_TRANSPORT_SECURITY], HSTS);
    }

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("*, gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn large_json_is_gzipped_with_its_own_etag_and_vary() {
        let body = serde_json::to_vec(&vec!["some user data"; 200]).expect("json");
        let mut response = json(body.clone(), Some("\"abc.3\""));
        compress(&request("/api/v1/users", Some("gzip, br")), &mut response);
        assert_eq!(response.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(response.headers()[VARY], "Accept-Encoding");
        assert_eq!(response.headers()[ETAG], "\"abc.3-gzip\"");
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(response.body().as_slice()).read_to_end(&mut plain).expect("gunzip");
        assert_eq!(plain, body);

        let mut identity = json(body.clone(), Some("\"abc.3\""));
        compress(&request("/api/v1/users", Some("identity")), &mut identity);
        assert!(!identity.headers().contains_key(CONTENT_ENCODING));
        assert_eq!(identity.headers()[VARY], "Accept-Encoding");
        assert_eq!(identity.body(), &body);

        let mut small = json(b"{\"a\":1}".to_vec(), None);
        compress(&request("/api/v1/users", Some("gzip")), &mut small);
        assert!(!small.headers().contains_key(CONTENT_ENCODING));
    }

    #[test]
    fn either_spelling_of_a_tag_names_the_same_version() {
        assert!(etag_matches("\"abc.3-gzip\"", "\"abc.3\"", Comparison::Strong));
        assert!(etag_matches("\"x\", \"abc.3\"", "\"abc.3\"", Comparison::Strong));
        assert!(etag_matches("*", "\"abc.3\"", Comparison::Strong));
        assert!(!etag_matches("W/\"abc.3\"", "\"abc.3\"", Comparison::Strong));
        assert!(etag_matches("W/\"abc.3\"", "\"abc.3\"", Comparison::Weak));
        assert!(!etag_matches("\"abc.4\"", "\"abc.3\"", Comparison::Weak));
    }

    #[test]
    fn a_304_names_the_representation_the_client_holds() {
        let mut not_modified = http::Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(ETAG, "\"abc.3\"")
            .body(Vec::new())
            .expect("304");
        let mut held = request("/api/v1/users/1", Some("gzip"));
        held.headers_mut().insert(http::header::IF_NONE_MATCH, HeaderValue::from_static("\"abc.3-gzip\""));
        compress(&held, &mut not_modified);
        assert_eq!(not_modified.headers()[ETAG], "\"abc.3-gzip\"");
    }
}
